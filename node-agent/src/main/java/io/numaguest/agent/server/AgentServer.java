package io.numaguest.agent.server;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.error.Refusal;
import io.numaguest.agent.nativeaccess.Errno;
import io.numaguest.agent.nativeaccess.FileStat;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.nativeaccess.Pidfd;
import io.numaguest.agent.nativeaccess.ReceivedMessage;
import io.numaguest.agent.nativeaccess.SeqPacketSocket;
import io.numaguest.agent.protocol.RequestParser;
import io.numaguest.agent.protocol.Responses;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The agent's socket: accepts VMM connections and answers their requests, one platform thread per
 * connection. Platform, not virtual, threads: every receive blocks inside a native recvmsg(), which
 * would pin a virtual thread's carrier anyway. The number of connections is bounded; one over the
 * bound gets a BUSY answer and is closed.
 */
public final class AgentServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(AgentServer.class.getName());

    private static final Path PROC = Path.of("/proc");
    private static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(1);
    private static final int DRAIN_MESSAGES = 4;
    /** How long a SIGTERM waits for requests in flight. */
    private static final Duration STOP_DRAIN = Duration.ofSeconds(5);

    private static final long EXHAUSTED_WARNING_INTERVAL_NANOS =
            Duration.ofMinutes(1).toNanos();

    private final Path socketPath;
    private final ConnectionLimits limits;
    private final Map<String, Integer> perPeer = new ConcurrentHashMap<>();
    private final AtomicLong lastExhaustedWarning =
            new AtomicLong(System.nanoTime() - EXHAUSTED_WARNING_INTERVAL_NANOS);
    private final ThreadPoolExecutor refusals =
            new ThreadPoolExecutor(2, 2, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(64), r -> {
                Thread thread = new Thread(r, "agent-refusals");
                thread.setDaemon(true);
                return thread;
            });
    private final AgentMetrics metrics;
    private volatile RequestHandler handler;
    private final Set<SeqPacketSocket> open = ConcurrentHashMap.newKeySet();
    private final AtomicLong connectionCounter = new AtomicLong();
    private static final int SOCKET_MODE = 0660;

    private SeqPacketSocket listener;
    /** (device, inode) of the socket file this agent bound, so that it removes that file and no other. */
    private FileId boundFile;

    private Thread acceptor;
    private volatile boolean stopping;

    public AgentServer(Path socketPath, ConnectionLimits limits, AgentMetrics metrics) {
        this.socketPath = socketPath;
        this.limits = limits;
        this.metrics = metrics;
    }

    /**
     * A server on a socket its caller bound and keeps (its file and directory are the caller's):
     * {@link #close} stops answering and closes the listener but removes no file. For sockets in
     * directories others write in, which the caller binds in its own careful way.
     *
     * @param shownAs the socket as log lines name it
     */
    public static AgentServer onListener(
            SeqPacketSocket listener, Path shownAs, ConnectionLimits limits, AgentMetrics metrics) {
        AgentServer server = new AgentServer(shownAs, limits, metrics);
        server.listener = listener;
        return server;
    }

    /**
     * Binds the socket: mode 0660, in a directory only the agent's user or root can write (created
     * 0750 if absent), replacing a stale socket file but never one another live agent listens on,
     * nor any file that is not a socket. Clients may connect from now on; they are answered once
     * {@link #start} is called.
     *
     * @param group the socket file's gid, or empty to keep the agent's own
     * @return the gid the socket file ended up with
     */
    public int bind(OptionalInt group) throws IOException {
        Path absolute = socketPath.toAbsolutePath();
        Path directory = absolute.getParent();
        // Bound and set up under a staging name, then renamed into place: a client never finds a
        // socket file that is not yet listening or not yet of the right group. Short, so that
        // every socket path that fits sun_path fits staged too, unless the socket's own name is shorter.
        Path staging = directory.resolve("." + ProcessHandle.current().pid());
        checkPathLength(absolute, staging);
        SocketDirectory.prepare(directory, group);
        removeStaleSocket();
        try {
            listener = SeqPacketSocket.listen(staging, 128, SOCKET_MODE);
        } catch (NativeException e) {
            if (e.errno() == Errno.EADDRINUSE) {
                throw new IOException(
                        staging + " exists: the agent binds its socket under that name before moving it to "
                                + socketPath + "; remove it (no live process has pid "
                                + ProcessHandle.current().pid() + " but this agent)");
            }
            throw e;
        }
        try {
            if (group.isPresent()) {
                KernelFiles.changeGroupNoFollow(staging, group.getAsInt());
            }
            FileId staged = checkStagedSocket(staging, group);
            Files.move(staging, socketPath, StandardCopyOption.ATOMIC_MOVE);
            boundFile = fileId(socketPath);
            if (!staged.equals(boundFile)) {
                boundFile = null;
                throw new IOException(
                        socketPath + " is not the socket the agent bound: it was replaced while the agent "
                                + "moved it into place; someone else writes in " + directory);
            }
        } catch (IOException | RuntimeException e) {
            listener.close();
            listener = null;
            Files.deleteIfExists(staging); // unlink: removes a link swapped in, never its target
            throw e;
        }
        return (Integer) Files.getAttribute(socketPath, "unix:gid", LinkOption.NOFOLLOW_LINKS);
    }

    private static void checkPathLength(Path socket, Path staging) throws IOException {
        int limit = SeqPacketSocket.maxPathBytes();
        int socketBytes = socket.toString().getBytes(StandardCharsets.UTF_8).length;
        int stagingBytes = staging.toString().getBytes(StandardCharsets.UTF_8).length;
        if (socketBytes > limit) {
            throw new IOException("--socket " + socket + " is " + socketBytes
                    + " bytes; a Unix socket path can have at most " + limit + ": choose a shorter path");
        }
        if (stagingBytes > limit) {
            throw new IOException(
                    "--socket " + socket + " is " + socketBytes + " bytes, but the agent binds it first as "
                            + staging.getFileName() + " in the same directory, " + stagingBytes
                            + " bytes, over the Unix socket limit of "
                            + limit + ": choose a path of at most " + (limit - (stagingBytes - socketBytes))
                            + " bytes, or a socket file name at least "
                            + staging.getFileName().toString().length() + " characters long");
        }
    }

    /**
     * The staging socket as bind left it: a socket, mode 0660, of the group asked for. Returns its
     * (device, inode) from the same lstat, so that what was checked is what gets moved into place.
     */
    private static FileId checkStagedSocket(Path staging, OptionalInt group) throws IOException {
        Map<String, Object> attributes =
                Files.readAttributes(staging, "unix:mode,gid,dev,ino", LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) attributes.get("mode");
        int gid = (Integer) attributes.get("gid");
        if (!FileStat.isSocket(mode)
                || (mode & 07777) != SOCKET_MODE
                || (group.isPresent() && gid != group.getAsInt())) {
            throw new IOException(
                    staging + " is not the socket the agent bound (it is a " + FileStat.typeName(mode) + " of mode 0"
                            + Integer.toOctalString(mode & 07777) + ", group " + gid
                            + "): it was replaced while the agent set it up; "
                            + "someone else writes in " + staging.getParent());
        }
        return new FileId((Long) attributes.get("dev"), (Long) attributes.get("ino"));
    }

    /** A file's (device, inode): which file a name leads to, links not followed. */
    private record FileId(long device, long inode) {}

    private static FileId fileId(Path path) throws IOException {
        Map<String, Object> attributes = Files.readAttributes(path, "unix:dev,ino", LinkOption.NOFOLLOW_LINKS);
        return new FileId((Long) attributes.get("dev"), (Long) attributes.get("ino"));
    }

    /** Starts answering connections with {@code requestHandler}. */
    public void start(RequestHandler requestHandler) {
        this.handler = requestHandler;
        acceptor = new Thread(this::acceptLoop, "agent-acceptor");
        acceptor.start();
    }

    /** A socket file nobody listens on is removed; anything else at the path stops the start. */
    private void removeStaleSocket() throws IOException {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(socketPath, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException absent) {
            return;
        }
        if (!FileStat.isSocket(mode)) {
            throw new IOException(
                    socketPath + " exists and is a " + FileStat.typeName(mode) + ", not a socket: the agent "
                            + "replaces only a stale socket file; move it away or choose another --socket");
        }
        try (SeqPacketSocket probe = SeqPacketSocket.connect(socketPath)) {
            throw new IOException(
                    "another agent is listening on " + socketPath + ": stop it first or choose another --socket");
        } catch (NativeException e) {
            if (e.errno() != Errno.ECONNREFUSED) {
                throw new IOException("cannot tell whether " + socketPath + " is in use: " + e.getMessage());
            }
            Files.delete(socketPath);
            LOG.info(() -> "removed stale socket file " + socketPath);
        }
    }

    private void acceptLoop() {
        while (!stopping) {
            SeqPacketSocket connection;
            try {
                connection = listener.accept();
            } catch (NativeException e) {
                if (!stopping) {
                    LOG.log(Level.WARNING, "accept failed, continuing: " + e.getMessage());
                    sleepQuietly(); // e.g. EMFILE: let other connections close before retrying
                }
                continue;
            }
            if (open.size() >= limits.maxConnections()) {
                slotsExhausted(
                        "total",
                        "the agent serves its maximum of " + limits.maxConnections()
                                + " connections (--max-connections)");
                refuseOffThread(
                        connection,
                        busy("the agent serves its maximum of " + limits.maxConnections()
                                + " connections; retry with backoff"));
                continue;
            }
            open.add(connection);
            metrics.connections().incrementAndGet();
            try {
                Thread worker = new Thread(
                        null, () -> serve(connection), "agent-conn-" + connectionCounter.incrementAndGet(), 512 * 1024);
                worker.setDaemon(true);
                worker.start();
            } catch (
                    Throwable e) { // OutOfMemoryError "unable to create native thread": refuse this one, keep accepting
                LOG.log(Level.SEVERE, "cannot start a thread for a new connection", e);
                open.remove(connection);
                metrics.connections().decrementAndGet();
                connection.close();
            }
        }
    }

    private static byte[] busy(String why) {
        return Responses.refusal(new Refusal(ErrorCode.BUSY, why));
    }

    /** A log line (at most one a minute) and a metric each time a connection finds no slot. */
    private void slotsExhausted(String limit, String what) {
        metrics.slotsExhausted(limit);
        long now = System.nanoTime();
        long last = lastExhaustedWarning.get();
        if (now - last >= EXHAUSTED_WARNING_INTERVAL_NANOS && lastExhaustedWarning.compareAndSet(last, now)) {
            LOG.warning(
                    "connection refused with BUSY: " + what + "; see numaguest_agent_connection_slots_exhausted_total "
                            + "(this warning at most once a minute)");
        }
    }

    /** The acceptor must not wait for a refused client to read: refusals are answered and drained by a small pool. */
    private void refuseOffThread(SeqPacketSocket connection, byte[] refusal) {
        metrics.request("connect", ErrorCode.BUSY.name());
        try {
            refusals.execute(() -> {
                try (connection) {
                    refuse(connection, refusal);
                }
            });
        } catch (RejectedExecutionException flood) {
            connection.close(); // more refusals pending than the pool queues: this one gets no answer
        }
    }

    /**
     * Answers and then drains before the close: a client that sent its request right after connecting
     * would otherwise see ECONNRESET instead of the answer (the kernel resets a connection closed
     * with unread data). Bounded: {@link #DRAIN_MESSAGES} messages, {@link #DRAIN_TIMEOUT} each.
     */
    private static void refuse(SeqPacketSocket connection, byte[] refusal) {
        try {
            connection.send(refusal);
            connection.shutdownOutput();
            connection.setReceiveTimeout(DRAIN_TIMEOUT);
            for (int i = 0; i < DRAIN_MESSAGES; i++) {
                ReceivedMessage pending = connection.receive(RequestParser.MAX_MESSAGE_BYTES, RequestParser.MAX_FDS);
                if (pending == null) {
                    return;
                }
                for (int fd : pending.fds()) {
                    KernelFiles.close(fd);
                }
            }
        } catch (NativeException e) {
            // Gone, or silent past the timeout: close anyway.
        }
    }

    private void serve(SeqPacketSocket connection) {
        String peerKey = null;
        try (connection) {
            PeerCredentials peer = connection.peerCredentials();
            PeerProcess process;
            try {
                process = identify(connection, peer);
            } catch (AgentException e) {
                metrics.request("connect", e.code().name());
                refuse(connection, Responses.refusal(e.refusal()));
                return;
            }
            // A peer that may not use the agent at all is turned away now, not left holding a connection slot.
            byte[] refusal = handler.refusal(process);
            if (refusal != null) {
                refuse(connection, refusal);
                return;
            }
            peerKey = peerKey(process);
            int fromPeer = perPeer.merge(peerKey, 1, Integer::sum);
            if (fromPeer > limits.maxPerPeer()) {
                slotsExhausted(
                        "peer",
                        "process " + peer.pid() + " and others of its cgroup hold " + limits.maxPerPeer()
                                + " connections (--max-connections-per-peer)");
                metrics.request("connect", ErrorCode.BUSY.name());
                refuse(
                        connection,
                        busy("this peer (its cgroup) already holds the maximum of " + limits.maxPerPeer()
                                + " connections per peer; close one or retry with backoff"));
                return;
            }
            RequestHandler.Peer connected = handler.peer(process);
            connection.setReceiveTimeout(limits.idleTimeout());
            while (!stopping) {
                ReceivedMessage message;
                try {
                    message = connection.receive(RequestParser.MAX_MESSAGE_BYTES, RequestParser.MAX_FDS);
                } catch (NativeException e) {
                    if (e.errno() == Errno.EAGAIN) {
                        metrics.idleClosed();
                        LOG.fine(() -> "closing the connection of pid " + peer.pid() + ": no request for "
                                + limits.idleTimeout());
                        return;
                    }
                    throw e;
                }
                if (message == null) {
                    return;
                }
                connection.send(handler.handle(message, connected));
            }
        } catch (NativeException e) {
            if (!stopping) {
                LOG.fine(() -> "connection ended: " + e.getMessage());
            }
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "connection handler failed", e);
        } finally {
            if (peerKey != null) {
                perPeer.computeIfPresent(peerKey, (key, count) -> count == 1 ? null : count - 1);
            }
            open.remove(connection);
            metrics.connections().decrementAndGet();
        }
    }

    /** The peer's /proc files, read now and, where the kernel gives SO_PEERPIDFD, proved to be the connecting process's. */
    private static PeerProcess identify(SeqPacketSocket connection, PeerCredentials peer) throws AgentException {
        Optional<Pidfd> pidfd;
        try {
            pidfd = connection.peerPidfd();
        } catch (NativeException e) {
            throw PeerProcess.exited(peer);
        }
        try {
            return PeerProcess.identify(PROC, peer, pidfd);
        } finally {
            pidfd.ifPresent(Pidfd::close);
        }
    }

    /**
     * Which peer a connection counts against: the processes of one cgroup (a container, a systemd
     * unit) are one peer, so forking does not multiply its share. The pid when the cgroup is unreadable.
     */
    private static String peerKey(PeerProcess peer) {
        return peer.cgroup()
                .map(String::trim)
                .orElse("pid " + peer.credentials().pid());
    }

    private static void sleepQuietly() {
        sleepQuietly(100);
    }

    private static void sleepQuietly(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ready for /readyz: bound and answering. */
    public boolean isServing() {
        return handler != null && !stopping;
    }

    /** Removes the socket file if it is still the one this agent bound, not a newer agent's. */
    private void removeOwnSocketFile() throws IOException {
        if (boundFile == null) {
            return;
        }
        try {
            // Checked, then unlinked: only a writer in the directory could swap it in between, and the directory has
            // none.
            if (boundFile.equals(fileId(socketPath))) {
                Files.delete(socketPath);
            } else {
                LOG.info(() -> socketPath + " is no longer this agent's socket (another agent's?): left in place");
            }
        } catch (NoSuchFileException gone) {
            // Removed by someone else: nothing to do.
        }
    }

    /**
     * Stops accepting, lets requests in flight finish and answer (at most {@link #STOP_DRAIN}), then
     * closes what is left and removes the socket file.
     */
    @Override
    public void close() throws IOException {
        stopping = true;
        if (listener != null) {
            listener.shutdown();
            if (acceptor != null) {
                try {
                    acceptor.join(5000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            listener.close();
        }
        // A worker waiting for a request sees EOF; one handling a request can still send its answer.
        open.forEach(SeqPacketSocket::shutdownInput);
        long deadline = System.nanoTime() + STOP_DRAIN.toNanos();
        while (!open.isEmpty() && System.nanoTime() < deadline) {
            sleepQuietly(10);
        }
        if (!open.isEmpty()) {
            LOG.warning(open.size() + " request(s) still running after " + STOP_DRAIN
                    + ": their connections are closed unanswered");
        }
        // Wake every worker left; each closes its own connection on the way out.
        open.forEach(SeqPacketSocket::shutdown);
        refusals.shutdownNow();
        if (listener != null) {
            removeOwnSocketFile();
        }
    }
}
