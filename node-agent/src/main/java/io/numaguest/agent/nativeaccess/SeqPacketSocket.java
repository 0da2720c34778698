package io.numaguest.agent.nativeaccess;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

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
    /** Grown by doubling to the largest message sent; reused for every send. */
    private MemorySegment sendBuffer;

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
        byte[] address = socketPath(path);
        SeqPacketSocket socket = open();
        try {
            int previous = Libc.umask(~mode & 0777);
            try {
                Libc.bind(socket.fd, address, path.toString());
            } finally {
                Libc.umask(previous);
            }
            Libc.listen(socket.fd, backlog);
            return socket;
        } catch (NativeException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    public static SeqPacketSocket connect(Path path) throws NativeException {
        byte[] address = socketPath(path);
        SeqPacketSocket socket = open();
        try {
            Libc.connect(socket.fd, address, path.toString());
            return socket;
        } catch (NativeException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    private static SeqPacketSocket open() throws NativeException {
        return new SeqPacketSocket(Libc.seqPacketSocket());
    }

    /** The longest path a socket can be bound or connected at (sun_path less its terminating NUL). */
    public static int maxPathBytes() {
        return Libc.SUN_PATH_MAX;
    }

    private static byte[] socketPath(Path path) {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length > Libc.SUN_PATH_MAX) {
            throw new IllegalArgumentException("socket path is " + bytes.length + " bytes, the limit is "
                    + Libc.SUN_PATH_MAX + ": choose a shorter path: " + path);
        }
        return bytes;
    }

    /** Blocks for the next connection; throws once {@link #shutdown()} was called. */
    public SeqPacketSocket accept() throws NativeException {
        return new SeqPacketSocket(Libc.accept(fd));
    }

    public PeerCredentials peerCredentials() throws NativeException {
        return Libc.peerCredentials(fd);
    }

    /**
     * SO_PEERPIDFD: a pidfd of the very process that connected, immune to pid reuse. Empty when the
     * kernel predates it (Linux 6.5); throws when the process is gone (the kernel gives ESRCH or EINVAL).
     */
    public Optional<Pidfd> peerPidfd() throws NativeException {
        int pidfd = Libc.peerPidfd(fd);
        return pidfd == -1 ? Optional.empty() : Optional.of(new Pidfd(pidfd));
    }

    /**
     * Makes {@link #receive} give up after {@code timeout} with no message: it then throws a
     * NativeException with errno EAGAIN (SO_RCVTIMEO). Zero waits for ever.
     */
    public void setReceiveTimeout(Duration timeout) throws NativeException {
        Libc.receiveTimeout(fd, timeout);
    }

    /**
     * Receives one message of up to {@code maxBytes} with up to {@code maxFds} descriptors.
     * Returns null when the peer closed the connection. Not for concurrent use.
     */
    public ReceivedMessage receive(int maxBytes, int maxFds) throws NativeException {
        if (receiveBuffer == null || receiveBuffer.byteSize() != maxBytes) {
            receiveBuffer = arena.allocate(maxBytes, 8);
            receiveControl = arena.allocate(Libc.controlSpace(maxFds), 8);
        }
        Libc.Received received = Libc.recvmsg(fd, receiveBuffer, receiveControl);
        if (received.bytes() == 0 && received.fds().length == 0) {
            return null; // EOF; a zero-length SEQPACKET message is indistinguishable and is treated alike
        }
        byte[] payload = receiveBuffer.asSlice(0, received.bytes()).toArray(JAVA_BYTE);
        return new ReceivedMessage(
                payload,
                received.fds(),
                (received.flags() & Libc.MSG_TRUNC) != 0,
                (received.flags() & Libc.MSG_CTRUNC) != 0);
    }

    /** Sends one message, with descriptors attached as SCM_RIGHTS when given. Not for concurrent use. */
    public void send(byte[] payload, int... fds) throws NativeException {
        if (sendBuffer == null || sendBuffer.byteSize() < payload.length) {
            sendBuffer =
                    arena.allocate(Math.max(payload.length, sendBuffer == null ? 4096 : 2 * sendBuffer.byteSize()), 8);
        }
        MemorySegment.copy(payload, 0, sendBuffer, JAVA_BYTE, 0, payload.length);
        Libc.sendmsg(fd, sendBuffer, payload.length, fds);
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
        try {
            Libc.shutdown(fd, how);
        } catch (NativeException e) {
            // ENOTCONN: nothing to wake.
        }
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
