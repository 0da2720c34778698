package io.numaguest.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.BooleanSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.numaguest.agent.kubernetes.AppliedStatusWriter;
import io.numaguest.agent.kubernetes.KubernetesPolicySource;
import io.numaguest.agent.kubernetes.NodeTopologyPublisher;
import io.numaguest.agent.kubernetes.PodAuthorizer;
import io.numaguest.agent.memory.KernelSelfCheck;
import io.numaguest.agent.memory.RegionEnforcer;
import io.numaguest.agent.nativeaccess.Credentials;
import io.numaguest.agent.policy.InvalidPolicyFileException;
import io.numaguest.agent.policy.PolicyFileSource;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.server.AgentMetrics;
import io.numaguest.agent.server.AgentServer;
import io.numaguest.agent.server.AllowListAuthorizer;
import io.numaguest.agent.server.ConnectionLimits;
import io.numaguest.agent.server.ApplyObserver;
import io.numaguest.agent.server.MetricsServer;
import io.numaguest.agent.server.PeerAuthorizer;
import io.numaguest.agent.server.RequestHandler;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.SysfsTopology;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Wires the agent together from its command line; the work happens in the packages below. */
@Command(name = "numaguest-node-agent", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Puts NUMA memory policies on guest-memory file descriptors that VMMs hand over a Unix socket.")
public final class Main implements Callable<Integer> {
    private static final Logger LOG = Logger.getLogger(Main.class.getName());
    /** CAP_SYS_NICE's bit in /proc/self/status CapEff: needed for MPOL_MF_MOVE_ALL. */
    private static final int CAP_SYS_NICE = 23;
    private static final Path PROC = Path.of("/proc");
    /** The kernel's hostname (uname's nodename): no resolver involved, so a hostname DNS cannot resolve cannot delay the start. */
    private static final Path KERNEL_HOSTNAME = Path.of("/proc/sys/kernel/hostname");
    /** MemFree changes as VMs come and go; the operator places with a view at most this old. */
    private static final Duration TOPOLOGY_REFRESH = Duration.ofSeconds(60);

    @Option(names = "--socket", defaultValue = "/run/numaguest/agent.sock", description = "Socket path (default: ${DEFAULT-VALUE}).")
    Path socket;

    @Option(names = "--policy-file", description = "Standalone mode: YAML policy file, reloaded when it changes.")
    Path policyFile;

    @Option(names = "--kubernetes", description = "Kubernetes mode: policies from the NumaGuestMemory objects of this node "
            + "($NODE_NAME); status.applied written back; the node's NodeResourceTopology published.")
    boolean kubernetes;

    @Option(names = "--policy-reload-interval", defaultValue = "PT1S", description = "How often the policy file is checked for changes (ISO-8601, default: ${DEFAULT-VALUE}).")
    Duration policyReloadInterval;

    @Option(names = "--metrics-port", defaultValue = "9400", description = "Port for /metrics, /healthz, /readyz; 0 turns it off (default: ${DEFAULT-VALUE}).")
    int metricsPort;

    @Option(names = "--metrics-address", description = "IP address the metrics port listens on, e.g. 127.0.0.1 "
            + "(default: every address, as the kubelet's probes and Prometheus reach the pod's IP).")
    String metricsAddress;

    @Option(names = "--log-format", defaultValue = "text", description = "text or json (default: ${DEFAULT-VALUE}).")
    LogFormat logFormat;

    @Option(names = "--log-level", defaultValue = "INFO", description = "java.util.logging level (default: ${DEFAULT-VALUE}).")
    String logLevel;

    @Option(names = "--max-connections", defaultValue = "64", description = "Concurrent VMM connections; more get BUSY (default: ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--max-connections-per-peer", defaultValue = "8", description = "Concurrent connections from one peer "
            + "(the processes of one cgroup: a container, a systemd unit); more get BUSY (default: ${DEFAULT-VALUE}).")
    int maxConnectionsPerPeer;

    @Option(names = "--idle-timeout", defaultValue = "PT60S", description = "A connection that sends no request for this long is "
            + "closed (ISO-8601, default: ${DEFAULT-VALUE}).")
    Duration idleTimeout;

    @Option(names = "--allow-uid", description = "A uid allowed to send requests (repeatable). Root always is.")
    List<Integer> allowUids = new ArrayList<>();

    @Option(names = "--allow-gid", description = "A gid allowed to send requests (repeatable). The socket's group always is.")
    List<Integer> allowGids = new ArrayList<>();

    @Option(names = "--socket-group", description = "Group to give the socket file (name or gid), so VMMs of that group can connect.")
    String socketGroup;

    @Option(names = "--node-name", description = "Name reported by hello (default: $NODE_NAME, else the kernel's hostname).")
    String nodeName;

    @Option(names = "--fbind-syscall", description = "Syscall number of fbind() on a kernel carrying the unmerged RFC patch. "
            + "Off unless given: upstream's 463 is setxattrat.")
    Long fbindSyscall;

    public static void main(String[] args) {
        int exitCode = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
        // On success the socket's threads keep the JVM running until SIGTERM runs the shutdown hook.
        if (exitCode != 0) {
            System.exit(exitCode);
        }
    }

    /** Where policies come from, who may ask, and who hears what was applied: the two modes differ only here. */
    private record Mode(String description, PolicySource policies, java.util.function.Function<Integer, PeerAuthorizer> authorizer,
                        ApplyObserver observer, BooleanSupplier synced, List<AutoCloseable> resources) {
    }

    @Override
    public Integer call() throws Exception {
        logFormat.install(Level.parse(logLevel.toUpperCase()));
        if (kubernetes == (policyFile != null)) {
            LOG.severe("cannot start: give either --kubernetes or --policy-file FILE (standalone), not both and not neither");
            return 2;
        }
        HostTopology topology = SysfsTopology.host().read();
        KernelSelfCheck selfCheck = KernelSelfCheck.run(topology.allowedMems().first());
        selfCheck.degraded().forEach(problem -> LOG.warning("kernel self-check: " + problem));
        if (!selfCheck.fatal().isEmpty()) {
            LOG.severe("cannot start: kernel self-check: " + String.join("; ", selfCheck.fatal()));
            return 3;
        }
        // Without the endpoint nothing reads the meters: a composite registry with no member keeps none,
        // and the Prometheus registry, its client library and the latency histogram's buckets stay unloaded.
        PrometheusMeterRegistry prometheus = metricsPort == 0 ? null : new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        AgentMetrics metrics = new AgentMetrics(prometheus == null ? new CompositeMeterRegistry() : prometheus);
        String node = nodeName();
        Mode mode;
        try {
            mode = kubernetes ? kubernetesMode(node) : standaloneMode();
        } catch (InvalidPolicyFileException | IOException | IllegalStateException | KubernetesClientException e) {
            LOG.severe("cannot start: " + e.getMessage());
            return 2;
        }
        OptionalInt group = OptionalInt.empty();
        if (socketGroup != null) {
            group = socketGroup.matches("\\d+") ? OptionalInt.of(Integer.parseInt(socketGroup)) : Credentials.groupId(socketGroup);
            if (group.isEmpty()) {
                LOG.severe("cannot start: --socket-group " + socketGroup + ": no such group (give a group name or a numeric gid)");
                return 2;
            }
        }
        RegionEnforcer enforcer = new RegionEnforcer(
                fbindSyscall == null ? OptionalLong.empty() : OptionalLong.of(fbindSyscall), hasCapability(CAP_SYS_NICE));
        ConnectionLimits limits;
        try {
            limits = new ConnectionLimits(maxConnections, maxConnectionsPerPeer, idleTimeout);
        } catch (IllegalArgumentException e) {
            LOG.severe("cannot start: " + e.getMessage());
            return 2;
        }
        AgentServer server = new AgentServer(socket, limits, metrics);
        MetricsServer metricsServer = null;
        if (metricsPort != 0) {
            try {
                java.net.InetAddress address = metricsAddress == null ? null : java.net.InetAddress.ofLiteral(metricsAddress);
                metricsServer = new MetricsServer(address, metricsPort, prometheus, () -> server.isServing() && mode.synced().getAsBoolean());
            } catch (IllegalArgumentException e) {
                LOG.severe("cannot start: --metrics-address " + metricsAddress + " is not an IP address (give e.g. 127.0.0.1 or ::1)");
                return 2;
            } catch (IOException e) {
                LOG.severe("cannot start: the metrics endpoint cannot listen on " + (metricsAddress == null ? "port " : metricsAddress + " port ")
                        + metricsPort + " (--metrics-address, --metrics-port; 0 turns it off): " + e.getMessage());
                return 1;
            }
        }
        MetricsServer endpoint = metricsServer;
        // Registered before the socket exists, so a SIGTERM at any point from here removes it.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } catch (IOException e) {
                LOG.warning("closing the socket: " + e.getMessage());
            }
            for (AutoCloseable resource : mode.resources()) {
                try {
                    resource.close();
                } catch (Exception e) {
                    LOG.warning("shutting down: " + e.getMessage());
                }
            }
            if (endpoint != null) {
                endpoint.close();
            }
        }, "agent-shutdown"));
        int socketGid;
        try {
            socketGid = server.bind(group);
        } catch (IOException e) {
            LOG.severe("cannot start: " + e.getMessage());
            return 1;
        }
        server.start(new RequestHandler(new RequestHandler.AgentIdentity(Version.agentVersion(), node), mode.policies(),
                mode.authorizer().apply(socketGid), enforcer, SysfsTopology.host()::read, metrics, mode.observer()));
        LOG.info("numaguest node agent " + Version.agentVersion() + " listening on " + socket.toAbsolutePath()
                + " (" + mode.description() + ")" + (metricsServer == null ? "" : "; metrics on :" + metricsServer.port() + "/metrics"));
        return 0;
    }

    private Mode standaloneMode() throws IOException, InvalidPolicyFileException {
        PolicyFileSource policies = PolicyFileSource.open(policyFile, policyReloadInterval);
        Set<Integer> uids = new HashSet<>(allowUids);
        uids.add(0);
        // The socket's group is allowed by default: who may open the socket file may talk.
        return new Mode("standalone, policy file " + policyFile, policies, socketGid -> {
            Set<Integer> gids = new HashSet<>(allowGids);
            gids.add(socketGid);
            return new AllowListAuthorizer(uids, gids);
        }, ApplyObserver.NONE, () -> true, List.of(policies));
    }

    private Mode kubernetesMode(String node) {
        if (System.getenv("NODE_NAME") == null && nodeName == null) {
            throw new IllegalStateException("Kubernetes mode needs the node's name: set NODE_NAME (downward API spec.nodeName)");
        }
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
        return new Mode("Kubernetes, node " + node, policies, socketGid -> new PodAuthorizer(policies, node, PROC),
                statusWriter, policies::hasSynced, List.of(scheduler::shutdownNow, statusWriter, policies, client));
    }

    private String nodeName() throws IOException {
        if (nodeName != null) {
            return nodeName;
        }
        String fromEnv = System.getenv("NODE_NAME");
        return fromEnv != null && !fromEnv.isBlank() ? fromEnv : Files.readString(KERNEL_HOSTNAME).trim();
    }

    private static boolean hasCapability(int capability) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    return (Long.parseUnsignedLong(line.substring("CapEff:".length()).trim(), 16) & (1L << capability)) != 0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            LOG.warning("cannot read the agent's capabilities: " + e.getMessage());
        }
        return false;
    }

    /** The agent version from the jar manifest (set by Maven), "dev" when run from classes. */
    static final class Version implements CommandLine.IVersionProvider {
        static String agentVersion() {
            String version = Main.class.getPackage().getImplementationVersion();
            return version == null ? "dev" : version;
        }

        @Override
        public String[] getVersion() {
            return new String[] {"numaguest-node-agent " + agentVersion()};
        }
    }
}
