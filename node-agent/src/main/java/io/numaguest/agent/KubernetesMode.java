package io.numaguest.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.numaguest.agent.kubernetes.AppliedStatusWriter;
import io.numaguest.agent.kubernetes.KubernetesPolicySource;
import io.numaguest.agent.kubernetes.NodeTopologyPublisher;
import io.numaguest.agent.kubernetes.PodAuthorizer;
import io.numaguest.agent.kubernetes.PodSockets;
import io.numaguest.agent.server.AgentMetrics;
import io.numaguest.agent.server.ConnectionLimits;
import io.numaguest.agent.server.PeerAuthorizer;
import io.numaguest.agent.server.RequestHandler;
import io.numaguest.agent.topology.SysfsTopology;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Function;
import java.util.logging.Logger;

/** Kubernetes mode's part of the wiring, in a class of its own so that a standalone agent never loads the client. */
final class KubernetesMode {
    private static final Logger LOG = Logger.getLogger(KubernetesMode.class.getName());
    private static final Path PROC = Path.of("/proc");
    /** MemFree changes as VMs come and go; the operator places with a view at most this old. */
    private static final Duration TOPOLOGY_REFRESH = Duration.ofSeconds(60);
    /** How often the per-pod sockets look for a target pod's shared directory, which no API object announces. */
    private static final Duration POD_SOCKET_SCAN = Duration.ofSeconds(1);

    private KubernetesMode() {}

    /**
     * Policies from the informer over this node's NGMs, peers checked against their targets'
     * pods, status.applied written back, the node's NodeResourceTopology published.
     *
     * @param nodeNameGiven whether --node-name named the node; else $NODE_NAME must
     * @throws IllegalStateException when the node has no name or the API server cannot be reached
     */
    static Agent.ModeWiring wire(
            String node, boolean nodeNameGiven, AgentConfig.Mode.Kubernetes mode, AgentConfig config) {
        if (System.getenv("NODE_NAME") == null && !nodeNameGiven) {
            throw new IllegalStateException(
                    "Kubernetes mode needs the node's name: set NODE_NAME (downward API spec.nodeName)");
        }
        try {
            return wireClient(node, mode, config);
        } catch (KubernetesClientException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    private static Agent.ModeWiring wireClient(String node, AgentConfig.Mode.Kubernetes mode, AgentConfig config) {
        KubernetesClient client = new KubernetesClientBuilder().build();
        KubernetesPolicySource policies = new KubernetesPolicySource(client, node);
        AppliedStatusWriter statusWriter = new AppliedStatusWriter(client, policies, PROC);
        ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "topology-publisher");
            thread.setDaemon(true);
            return thread;
        });
        NodeTopologyPublisher publisher = new NodeTopologyPublisher(client, node, SysfsTopology.host()::read);
        boolean publishing;
        try {
            publishing = publisher.crdPresent();
        } catch (KubernetesClientException e) {
            throw new IllegalStateException("cannot reach the Kubernetes API server: " + e.getMessage(), e);
        }
        if (publishing) {
            publisher.start(scheduler, TOPOLOGY_REFRESH);
        } else {
            LOG.warning("NodeResourceTopology CRD (v1alpha2) not installed: node " + node + "'s NUMA topology is not "
                    + "published, so the operator can place only guest nodes whose hostNodes are given");
        }
        return new Agent.ModeWiring(
                "Kubernetes, node " + node,
                policies,
                socketGid -> new PodAuthorizer(policies, node, PROC),
                statusWriter,
                policies::hasSynced,
                List.of(scheduler::shutdownNow, statusWriter, policies, client),
                mode.podSockets()
                        .<Agent.MoreSockets>map(pods -> (handlers, nodeCheck, metrics) ->
                                podSockets(pods, config, policies, handlers, nodeCheck, metrics))
                        .orElse(Agent.MoreSockets.NONE));
    }

    /** The per-pod sockets, looked for on every NGM change and every {@link #POD_SOCKET_SCAN}. */
    private static AutoCloseable podSockets(
            AgentConfig.PodSockets pods,
            AgentConfig config,
            KubernetesPolicySource policies,
            Function<PeerAuthorizer, RequestHandler> handlers,
            PeerAuthorizer nodeCheck,
            AgentMetrics metrics)
            throws Agent.StartFailure {
        ConnectionLimits limits;
        try {
            limits = new ConnectionLimits(
                    pods.maxConnections(),
                    Math.min(pods.maxConnections(), config.maxConnectionsPerPeer()),
                    config.idleTimeout());
        } catch (IllegalArgumentException e) {
            throw new Agent.StartFailure(2, "--pod-socket-max-connections: " + e.getMessage());
        }
        PodSockets sockets = new PodSockets(
                pods.kubeletPodsDir(), pods.shareDirs(), policies::servedPodUids, handlers, nodeCheck, limits, metrics);
        ScheduledExecutorService scanner = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "pod-sockets");
            thread.setDaemon(true);
            return thread;
        });
        policies.onAnyChange(() -> {
            try {
                scanner.execute(sockets::reconcile);
            } catch (RejectedExecutionException stopping) {
                // The agent is stopping: the sockets are closed already.
            }
        });
        sockets.start(scanner, POD_SOCKET_SCAN);
        LOG.info("per-pod sockets: agent.sock in " + pods.shareDirs() + " of each target pod's emptyDir volumes under "
                + pods.kubeletPodsDir());
        return () -> {
            scanner.shutdownNow();
            sockets.close();
        };
    }
}
