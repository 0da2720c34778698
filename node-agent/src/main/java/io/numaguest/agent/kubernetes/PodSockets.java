package io.numaguest.agent.kubernetes;

import io.numaguest.agent.server.AgentMetrics;
import io.numaguest.agent.server.AgentServer;
import io.numaguest.agent.server.ConnectionLimits;
import io.numaguest.agent.server.PeerAuthorizer;
import io.numaguest.agent.server.RequestHandler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.logging.Logger;

/**
 * The per-pod sockets (docs/vmm-integration.md, "The library and the socket"): one listening
 * socket in the shared directory of every pod a NumaGuestMemory of this node targets, opened
 * once that directory exists (the hook container made it) and closed when no NGM targets the pod
 * any more or the pod's directory is gone. Driven by the NGM informer's store: {@link #reconcile}
 * runs on every NGM change and every {@code interval}, the latter for the directory's appearance,
 * which no API object announces.
 */
public final class PodSockets implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PodSockets.class.getName());

    private final Path podsDir;
    private final List<String> shareDirs;
    private final Supplier<Set<String>> targetPods;
    private final Function<PeerAuthorizer, RequestHandler> handlers;
    private final PeerAuthorizer podCheck;
    private final ConnectionLimits limits;
    private final AgentMetrics metrics;
    private final Map<String, Served> served = new HashMap<>();
    /** The last refusal said per pod, so that a retry every interval logs it once. */
    private final Map<String, String> refusals = new HashMap<>();

    private boolean closed;

    private record Served(PodSocket socket, AgentServer server) {}

    /**
     * @param podsDir    the kubelet's pods directory as the agent sees it (e.g. /var/lib/kubelet/pods)
     * @param shareDirs  where in a pod's emptyDir volumes the shared directory may be, first found wins
     * @param targetPods the UIDs of the pods this node's NGMs target, now
     * @param handlers   a request handler answering with a given authorizer
     * @param podCheck   the node socket's pod check, which each pod's socket applies after its own
     * @param limits     each pod socket's connection limits
     */
    public PodSockets(
            Path podsDir,
            List<String> shareDirs,
            Supplier<Set<String>> targetPods,
            Function<PeerAuthorizer, RequestHandler> handlers,
            PeerAuthorizer podCheck,
            ConnectionLimits limits,
            AgentMetrics metrics) {
        this.podsDir = podsDir;
        this.shareDirs = List.copyOf(shareDirs);
        this.targetPods = targetPods;
        this.handlers = handlers;
        this.podCheck = podCheck;
        this.limits = limits;
        this.metrics = metrics;
    }

    /** Reconciles now, then every {@code interval} on {@code scheduler}. */
    public void start(ScheduledExecutorService scheduler, Duration interval) {
        scheduler.scheduleWithFixedDelay(this::reconcileQuietly, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void reconcileQuietly() {
        try {
            reconcile();
        } catch (RuntimeException e) {
            LOG.warning("per-pod sockets: " + e); // the next round tries again
        }
    }

    /** Opens the sockets of target pods whose directory now exists, closes those of pods no longer targeted or gone. */
    public synchronized void reconcile() {
        if (closed) {
            return;
        }
        Set<String> wanted = targetPods.get();
        for (String uid : new ArrayList<>(served.keySet())) {
            Served s = served.get(uid);
            if (!wanted.contains(uid)) {
                stop(uid, "no NumaGuestMemory of this node targets the pod any more");
            } else if (!Files.isDirectory(podsDir.resolve(uid), LinkOption.NOFOLLOW_LINKS)) {
                stop(uid, "the pod's directory is gone");
            } else if (!s.socket().stillInPlace()) {
                stop(uid, "its socket file was removed or replaced in the pod; binding it again");
            }
        }
        refusals.keySet().retainAll(wanted);
        for (String uid : wanted) {
            if (!served.containsKey(uid)) {
                open(uid);
            }
        }
    }

    private void open(String uid) {
        switch (PodSocket.bind(podsDir, uid, shareDirs)) {
            case PodSocket.Outcome.Bound bound -> {
                PodSocket socket = bound.socket();
                AgentServer server = AgentServer.onListener(socket.listener(), socket.shownAs(), limits, metrics);
                server.start(handlers.apply(new PodSocketAuthorizer(uid, podCheck)));
                served.put(uid, new Served(socket, server));
                refusals.remove(uid);
                LOG.info(() -> "listening for pod " + uid + " on " + socket.shownAs());
            }
            case PodSocket.Outcome.Absent absent -> {
                // The hook has not made the directory yet (or the pod runs on another node): the next round looks
                // again.
            }
            case PodSocket.Outcome.Refused refused -> {
                if (!refused.why().equals(refusals.put(uid, refused.why()))) {
                    LOG.warning("no socket for pod " + uid + ": " + refused.why() + "; retrying");
                }
            }
        }
    }

    private void stop(String uid, String why) {
        Served s = served.remove(uid);
        try {
            s.server().close();
        } catch (IOException e) {
            LOG.warning("closing the socket of pod " + uid + ": " + e.getMessage());
        }
        s.socket().close();
        LOG.info(() -> "closed the socket of pod " + uid + " (" + s.socket().shownAs() + "): " + why);
    }

    /** The pods served now, for tests and logs. */
    public synchronized Set<String> servedPods() {
        return Set.copyOf(served.keySet());
    }

    @Override
    public synchronized void close() {
        closed = true;
        for (String uid : new ArrayList<>(served.keySet())) {
            stop(uid, "the agent stops");
        }
    }
}
