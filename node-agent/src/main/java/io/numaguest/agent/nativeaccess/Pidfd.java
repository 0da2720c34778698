package io.numaguest.agent.nativeaccess;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A pidfd: refers to one process for good, so a pid reused by another process cannot be mistaken
 * for it. Closed with {@link #close()}.
 */
public final class Pidfd implements AutoCloseable {
    private final int fd;
    private boolean closed;

    Pidfd(int fd) {
        this.fd = fd;
    }

    /** Whether the process still runs (pidfd_send_signal with signal 0: ESRCH once it has exited). */
    public boolean isAlive() throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            return Libc.callTolerating("pidfd_send_signal", arena, Errno.ESRCH, slot -> (long) Libc.SYSCALL6.invokeExact(slot,
                    Libc.SYS_PIDFD_SEND_SIGNAL, (long) fd, 0L, MemorySegment.NULL.address(), 0L, 0L, 0L)) != -1;
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            KernelFiles.close(fd);
        }
    }
}
