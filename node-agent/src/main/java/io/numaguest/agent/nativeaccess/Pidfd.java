package io.numaguest.agent.nativeaccess;

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
        return Libc.pidfdSendSignal(fd, 0);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            KernelFiles.close(fd);
        }
    }
}
