package io.numaguest.agent.nativeaccess;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * An AF_UNIX SOCK_SEQPACKET socket, listening or connected, on plain FFM.
 *
 * <p>Why not junixsocket: the agent must see MSG_TRUNC and MSG_CTRUNC on every receive (a message
 * over the limit, or more fds than allowed, must be refused and every fd that did arrive closed),
 * take fds with MSG_CMSG_CLOEXEC, and own each raw fd number so it can be mapped and closed
 * exactly once. These are a few dozen lines of recvmsg() here, whereas a socket library hides them
 * behind its own fd wrappers and extracts a JNI library at run time, which a hardened node
 * (read-only or noexec /tmp) may refuse.
 */
public final class SeqPacketSocket implements AutoCloseable {
    private final int fd;
    /** Buffers for the connection's receive/send calls; shared so another thread may close it. */
    private final Arena arena = Arena.ofShared();
    private MemorySegment receiveBuffer;
    private MemorySegment receiveControl;
    private volatile boolean closed;

    private SeqPacketSocket(int fd) {
        this.fd = fd;
    }

    /**
     * A listening socket bound to {@code path}, which must not exist, its file created with
     * permissions {@code mode} (bind under a umask that leaves exactly those: no chmod through the
     * path afterwards, which would follow a link swapped in meanwhile). The umask is the process's:
     * for the instant of the bind, files other threads create get at most {@code mode} too.
     */
    public static SeqPacketSocket listen(Path path, int backlog, int mode) throws NativeException {
        SeqPacketSocket socket = open();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment address = socketAddress(scratch, path);
            int previous = (int) Libc.call("umask", scratch, slot -> (int) Libc.UMASK.invokeExact(slot, ~mode & 0777));
            try {
                Libc.call("bind(" + path + ")", scratch, slot -> (int) Libc.BIND.invokeExact(slot, socket.fd, address, (int) Libc.SOCKADDR_UN_SIZE));
            } finally {
                Libc.call("umask", scratch, slot -> (int) Libc.UMASK.invokeExact(slot, previous));
            }
            Libc.call("listen", scratch, slot -> (int) Libc.LISTEN.invokeExact(slot, socket.fd, backlog));
            return socket;
        } catch (NativeException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    public static SeqPacketSocket connect(Path path) throws NativeException {
        SeqPacketSocket socket = open();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment address = socketAddress(scratch, path);
            Libc.call("connect(" + path + ")", scratch, slot -> (int) Libc.CONNECT.invokeExact(slot, socket.fd, address, (int) Libc.SOCKADDR_UN_SIZE));
            return socket;
        } catch (NativeException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    private static SeqPacketSocket open() throws NativeException {
        try (Arena scratch = Arena.ofConfined()) {
            int fd = (int) Libc.call("socket(AF_UNIX, SOCK_SEQPACKET)", scratch,
                    slot -> (int) Libc.SOCKET.invokeExact(slot, Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0));
            return new SeqPacketSocket(fd);
        }
    }

    /** The longest path a socket can be bound or connected at (sun_path less its terminating NUL). */
    public static int maxPathBytes() {
        return Libc.SUN_PATH_MAX;
    }

    private static MemorySegment socketAddress(Arena arena, Path path) {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length > Libc.SUN_PATH_MAX) {
            throw new IllegalArgumentException("socket path is " + bytes.length + " bytes, the limit is "
                    + Libc.SUN_PATH_MAX + ": choose a shorter path: " + path);
        }
        MemorySegment address = arena.allocate(Libc.SOCKADDR_UN_SIZE, 8);
        address.set(JAVA_SHORT, 0, (short) Libc.AF_UNIX);
        MemorySegment.copy(bytes, 0, address, JAVA_BYTE, 2, bytes.length);
        return address;
    }

    /** Blocks for the next connection; throws once {@link #shutdown()} was called. */
    public SeqPacketSocket accept() throws NativeException {
        try (Arena scratch = Arena.ofConfined()) {
            int connection = (int) Libc.callRestarting("accept4", scratch, slot -> (int) Libc.ACCEPT4.invokeExact(slot, fd,
                    MemorySegment.NULL, MemorySegment.NULL, Libc.SOCK_CLOEXEC));
            return new SeqPacketSocket(connection);
        }
    }

    public PeerCredentials peerCredentials() throws NativeException {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment ucred = scratch.allocate(Libc.UCRED_SIZE, 4);
            MemorySegment length = scratch.allocateFrom(JAVA_INT, (int) Libc.UCRED_SIZE);
            Libc.call("getsockopt(SO_PEERCRED)", scratch, slot -> (int) Libc.GETSOCKOPT.invokeExact(slot, fd,
                    Libc.SOL_SOCKET, Libc.SO_PEERCRED, ucred, length));
            return new PeerCredentials(ucred.get(JAVA_INT, 0), ucred.get(JAVA_INT, 4), ucred.get(JAVA_INT, 8));
        }
    }

    /**
     * SO_PEERPIDFD: a pidfd of the very process that connected, immune to pid reuse. Empty when the
     * kernel predates it (Linux 6.5); throws when the process is gone (the kernel gives ESRCH or EINVAL).
     */
    public Optional<Pidfd> peerPidfd() throws NativeException {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment pidfd = scratch.allocate(JAVA_INT);
            MemorySegment length = scratch.allocateFrom(JAVA_INT, 4);
            long result = Libc.callTolerating("getsockopt(SO_PEERPIDFD)", scratch, Errno.ENOPROTOOPT, slot ->
                    (int) Libc.GETSOCKOPT.invokeExact(slot, fd, Libc.SOL_SOCKET, Libc.SO_PEERPIDFD, pidfd, length));
            return result == -1 ? Optional.empty() : Optional.of(new Pidfd(pidfd.get(JAVA_INT, 0)));
        }
    }

    /**
     * Makes {@link #receive} give up after {@code timeout} with no message: it then throws a
     * NativeException with errno EAGAIN (SO_RCVTIMEO). Zero waits for ever.
     */
    public void setReceiveTimeout(java.time.Duration timeout) throws NativeException {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment timeval = scratch.allocate(Libc.TIMEVAL_SIZE, 8);
            timeval.set(JAVA_LONG, 0, timeout.toSeconds());
            timeval.set(JAVA_LONG, 8, timeout.toMillisPart() * 1000L);
            Libc.call("setsockopt(SO_RCVTIMEO)", scratch, slot -> (int) Libc.SETSOCKOPT.invokeExact(slot, fd,
                    Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, timeval, (int) Libc.TIMEVAL_SIZE));
        }
    }

    /**
     * Receives one message of up to {@code maxBytes} with up to {@code maxFds} descriptors.
     * Returns null when the peer closed the connection. Not for concurrent use.
     */
    public ReceivedMessage receive(int maxBytes, int maxFds) throws NativeException {
        if (receiveBuffer == null || receiveBuffer.byteSize() != maxBytes) {
            receiveBuffer = arena.allocate(maxBytes, 8);
            receiveControl = arena.allocate(controlSpace(maxFds), 8);
        }
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment iov = scratch.allocate(Libc.IOVEC_SIZE, 8);
            iov.set(JAVA_LONG, 0, receiveBuffer.address());
            iov.set(JAVA_LONG, 8, receiveBuffer.byteSize());
            MemorySegment header = messageHeader(scratch, iov, receiveControl);
            long received = Libc.callRestarting("recvmsg", scratch,
                    slot -> (long) Libc.RECVMSG.invokeExact(slot, fd, header, Libc.MSG_CMSG_CLOEXEC));
            int[] fds = receivedFds(receiveControl, header.get(JAVA_LONG, Libc.MSGHDR_CONTROLLEN));
            int flags = header.get(JAVA_INT, Libc.MSGHDR_FLAGS);
            if (received == 0 && fds.length == 0) {
                return null; // EOF; a zero-length SEQPACKET message is indistinguishable and is treated alike
            }
            byte[] payload = receiveBuffer.asSlice(0, received).toArray(JAVA_BYTE);
            return new ReceivedMessage(payload, fds, (flags & Libc.MSG_TRUNC) != 0, (flags & Libc.MSG_CTRUNC) != 0);
        }
    }

    /** Sends one message, with descriptors attached as SCM_RIGHTS when given. */
    public void send(byte[] payload, int... fds) throws NativeException {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment data = scratch.allocateFrom(JAVA_BYTE, payload);
            MemorySegment iov = scratch.allocate(Libc.IOVEC_SIZE, 8);
            iov.set(JAVA_LONG, 0, data.address());
            iov.set(JAVA_LONG, 8, payload.length);
            MemorySegment control = MemorySegment.NULL;
            if (fds.length > 0) {
                control = scratch.allocate(controlSpace(fds.length), 8);
                control.set(JAVA_LONG, 0, Libc.CMSG_HEADER + 4L * fds.length);
                control.set(JAVA_INT, 8, Libc.SOL_SOCKET);
                control.set(JAVA_INT, 12, Libc.SCM_RIGHTS);
                for (int i = 0; i < fds.length; i++) {
                    control.set(JAVA_INT, Libc.CMSG_HEADER + 4L * i, fds[i]);
                }
            }
            MemorySegment header = messageHeader(scratch, iov, control);
            // MSG_NOSIGNAL: a client that went away must give EPIPE, not a SIGPIPE.
            Libc.callRestarting("sendmsg", scratch, slot -> (long) Libc.SENDMSG.invokeExact(slot, fd, header, Libc.MSG_NOSIGNAL));
        }
    }

    private static MemorySegment messageHeader(Arena arena, MemorySegment iov, MemorySegment control) {
        MemorySegment header = arena.allocate(Libc.MSGHDR_SIZE, 8);
        header.set(JAVA_LONG, Libc.MSGHDR_IOV, iov.address());
        header.set(JAVA_LONG, Libc.MSGHDR_IOVLEN, 1);
        header.set(JAVA_LONG, Libc.MSGHDR_CONTROL, control.address());
        header.set(JAVA_LONG, Libc.MSGHDR_CONTROLLEN, control.byteSize());
        return header;
    }

    /** CMSG_SPACE(n * sizeof(int)). */
    private static long controlSpace(int fdCount) {
        return Libc.CMSG_HEADER + ((4L * fdCount + 7) & ~7L);
    }

    /** Walks the control messages (CMSG_FIRSTHDR/CMSG_NXTHDR) and collects every SCM_RIGHTS fd. */
    private static int[] receivedFds(MemorySegment control, long controlLength) {
        int[] fds = new int[0];
        long offset = 0;
        while (offset + Libc.CMSG_HEADER <= controlLength) {
            long cmsgLength = control.get(JAVA_LONG, offset);
            if (cmsgLength < Libc.CMSG_HEADER || offset + cmsgLength > controlLength) {
                break;
            }
            if (control.get(JAVA_INT, offset + 8) == Libc.SOL_SOCKET && control.get(JAVA_INT, offset + 12) == Libc.SCM_RIGHTS) {
                int count = (int) ((cmsgLength - Libc.CMSG_HEADER) / 4);
                int[] more = control.asSlice(offset + Libc.CMSG_HEADER, 4L * count).toArray(JAVA_INT);
                int[] all = new int[fds.length + count];
                System.arraycopy(fds, 0, all, 0, fds.length);
                System.arraycopy(more, 0, all, fds.length, count);
                fds = all;
            }
            offset += (cmsgLength + 7) & ~7L;
        }
        return fds;
    }

    /**
     * Wakes a thread blocked in accept() or receive() on this socket; they then fail or see EOF.
     * Safe from any thread: synchronized with {@link #close()}, so it never acts on an fd number
     * that was closed and reused meanwhile. Only the socket's owning thread may close it.
     */
    public void shutdown() {
        shutdown(Libc.SHUT_RDWR);
    }

    /**
     * Ends receiving only: a thread blocked in receive() sees EOF, while an answer can still be sent.
     * Same thread-safety as {@link #shutdown()}.
     */
    public void shutdownInput() {
        shutdown(Libc.SHUT_RD);
    }

    /** Ends sending only: the peer reads what was sent, then EOF; what the peer sends can still be read. */
    public void shutdownOutput() {
        shutdown(Libc.SHUT_WR);
    }

    private synchronized void shutdown(int how) {
        if (closed) {
            return;
        }
        try (Arena scratch = Arena.ofConfined()) {
            Libc.call("shutdown", scratch, slot -> (int) Libc.SHUTDOWN.invokeExact(slot, fd, how));
        } catch (NativeException e) {
            // ENOTCONN: nothing to wake.
        }
    }

    public boolean isClosed() {
        return closed;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        KernelFiles.close(fd);
        arena.close();
    }
}
