package io.numaguest.agent.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.nativeaccess.ReceivedMessage;
import io.numaguest.agent.nativeaccess.SeqPacketSocket;
import io.numaguest.agent.protocol.ErrorCode;
import io.numaguest.agent.protocol.RequestParser;
import io.numaguest.agent.protocol.Responses;

/**
 * The agent's socket: accepts VMM connections and answers their requests, one platform thread per
 * connection. Platform, not virtual, threads: every receive blocks inside a native recvmsg(), which
 * would pin a virtual thread's carrier anyway. The number of connections is bounded; one over the
 * bound gets a BUSY answer and is closed.
 */
public final class AgentServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(AgentServer.class.getName());

    private final Path socketPath;
    private final int maxConnections;
    private final AgentMetrics metrics;
    private volatile RequestHandler handler;
    private final Set<SeqPacketSocket> open = ConcurrentHashMap.newKeySet();
    private final AtomicLong connectionCounter = new AtomicLong();
    private SeqPacketSocket listener;
    private Thread acceptor;
    private volatile boolean stopping;

    public AgentServer(Path socketPath, int maxConnections, AgentMetrics metrics) {
        this.socketPath = socketPath;
        this.maxConnections = maxConnections;
        this.metrics = metrics;
    }

    /**
     * Binds the socket: mode 0660, in a directory created if needed, replacing a stale socket file
     * but never one another live agent listens on. Clients may connect from now on; they are
     * answered once {@link #start} is called.
     *
     * @param group the socket file's group, or null to keep the agent's own
     * @return the gid the socket file ended up with
     */
    public int bind(GroupPrincipal group) throws IOException {
        Path directory = socketPath.toAbsolutePath().getParent();
        Files.createDirectories(directory);
        removeStaleSocket();
        // Bound and set up under a temporary name, then renamed into place: a client never finds a
        // socket file that is not yet listening or not yet of the right mode and group.
        Path staging = directory.resolve("." + socketPath.getFileName() + "." + ProcessHandle.current().pid());
        Files.deleteIfExists(staging);
        listener = SeqPacketSocket.listen(staging, 128);
        try {
            Files.setPosixFilePermissions(staging, PosixFilePermissions.fromString("rw-rw----"));
            if (group != null) {
                Files.getFileAttributeView(staging, PosixFileAttributeView.class).setGroup(group);
            }
            Files.move(staging, socketPath, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            listener.close();
            listener = null;
            Files.deleteIfExists(staging);
            throw e;
        }
        return (Integer) Files.getAttribute(socketPath, "unix:gid");
    }

    /** Starts answering connections with {@code requestHandler}. */
    public void start(RequestHandler requestHandler) {
        this.handler = requestHandler;
        acceptor = new Thread(this::acceptLoop, "agent-acceptor");
        acceptor.start();
    }

    private void removeStaleSocket() throws IOException {
        if (!Files.exists(socketPath, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (SeqPacketSocket probe = SeqPacketSocket.connect(socketPath)) {
            throw new IOException("another agent is listening on " + socketPath + ": stop it first or choose another --socket");
        } catch (NativeException refused) {
            // ECONNREFUSED (nobody listens) or not a socket at all: the file is stale.
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
            if (open.size() >= maxConnections) {
                refuseBusy(connection);
                continue;
            }
            open.add(connection);
            metrics.connections().incrementAndGet();
            try {
                Thread worker = new Thread(null, () -> serve(connection), "agent-conn-" + connectionCounter.incrementAndGet(), 512 * 1024);
                worker.setDaemon(true);
                worker.start();
            } catch (Throwable e) { // OutOfMemoryError "unable to create native thread": refuse this one, keep accepting
                LOG.log(Level.SEVERE, "cannot start a thread for a new connection", e);
                open.remove(connection);
                metrics.connections().decrementAndGet();
                connection.close();
            }
        }
    }

    private void refuseBusy(SeqPacketSocket connection) {
        try (connection) {
            connection.send(Responses.bytes(Responses.error(null, ErrorCode.BUSY, "the agent serves its maximum of "
                    + maxConnections + " connections; retry with backoff", null)));
        } catch (NativeException e) {
            // The client is gone already.
        }
        metrics.request("connect", ErrorCode.BUSY.name());
    }

    private void serve(SeqPacketSocket connection) {
        try (connection) {
            PeerCredentials peer = connection.peerCredentials();
            // A peer that may not use the agent at all is turned away now, not left holding a connection slot.
            byte[] refusal = handler.refusal(peer);
            if (refusal != null) {
                connection.send(refusal);
                return;
            }
            RequestHandler.Peer connected = handler.peer(peer);
            while (!stopping) {
                ReceivedMessage message = connection.receive(RequestParser.MAX_MESSAGE_BYTES, RequestParser.MAX_FDS);
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
            open.remove(connection);
            metrics.connections().decrementAndGet();
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ready for /readyz: bound and answering. */
    public boolean isServing() {
        return handler != null && !stopping;
    }

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
            Files.deleteIfExists(socketPath);
        }
        // Wake every worker; each closes its own connection on the way out.
        open.forEach(SeqPacketSocket::shutdown);
    }
}
