package io.numaguest.agent;

import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.numaguest.agent.memory.KernelSelfCheck;
import io.numaguest.agent.memory.RegionEnforcer;
import io.numaguest.agent.nativeaccess.Credentials;
import io.numaguest.agent.policy.InvalidPolicyFileException;
import io.numaguest.agent.policy.PolicyFileSource;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.request.ApplyObserver;
import io.numaguest.agent.server.AgentMetrics;
import io.numaguest.agent.server.AgentServer;
import io.numaguest.agent.server.AllowListAuthorizer;
import io.numaguest.agent.server.ConnectionLimits;
import io.numaguest.agent.server.MetricsServer;
import io.numaguest.agent.server.PeerAuthorizer;
import io.numaguest.agent.server.RequestHandler;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.SysfsTopology;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.logging.Logger;

/**
 * The running agent: wires the packages below from its {@link AgentConfig}, listens, and on
 * {@link #close()} drains and removes the socket, then stops what its mode started.
 */
public final class Agent implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Agent.class.getName());
    /** CAP_SYS_NICE's bit in /proc/self/status CapEff: needed for MPOL_MF_MOVE_ALL. */
    private static final int CAP_SYS_NICE = 23;
    /** The kernel's hostname (uname's nodename): no resolver involved, so a hostname DNS cannot resolve cannot delay the start. */
    private static final Path KERNEL_HOSTNAME = Path.of("/proc/sys/kernel/hostname");

    /** The agent cannot start; {@code exitCode} is the process's: 1 the system refused, 2 the configuration is wrong, 3 the kernel cannot do it. */
    public static final class StartFailure extends Exception {
        private final int exitCode;

        StartFailure(int exitCode, String message) {
            super(message);
            this.exitCode = exitCode;
        }

        public int exitCode() {
            return exitCode;
        }
    }

    /**
     * What a mode contributes: where policies come from, who may ask (given the socket's gid), who
     * hears what was applied, whether it is ready, and what to close at the end.
     */
    record ModeWiring(
            String description,
            PolicySource policies,
            IntFunction<PeerAuthorizer> authorizer,
            ApplyObserver observer,
            BooleanSupplier synced,
            List<AutoCloseable> resources,
            MoreSockets moreSockets) {}

    /** Sockets a mode serves beside the node socket, started once that one is served and closed before it. */
    @FunctionalInterface
    interface MoreSockets {
        MoreSockets NONE = (handlers, nodeCheck, metrics) -> () -> {};

        /**
         * @param handlers  a request handler answering with a given check
         * @param nodeCheck the node socket's check
         */
        AutoCloseable start(
                Function<PeerAuthorizer, RequestHandler> handlers, PeerAuthorizer nodeCheck, AgentMetrics metrics)
                throws StartFailure;
    }

    private final AgentConfig config;
    // Set by start(), read by close(), which a shutdown hook may run at any point of the start.
    private volatile AgentServer server;
    private volatile MetricsServer metricsServer;
    private volatile ModeWiring mode;
    private volatile AutoCloseable moreSockets;
    private boolean closed;

    public Agent(AgentConfig config) {
        this.config = config;
    }

    /** The agent version from the jar manifest (set by Maven), "dev" when run from classes. */
    public static String version() {
        String version = Agent.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }

    /**
     * Checks the kernel, sets the mode up and starts listening; returns once the socket is served.
     * Close it, from a shutdown hook registered before, to remove the socket whenever the start got to.
     */
    public void start() throws StartFailure {
        HostTopology topology = SysfsTopology.host().read();
        KernelSelfCheck selfCheck = KernelSelfCheck.run(topology.allowedMems().first());
        selfCheck.degraded().forEach(problem -> LOG.warning("kernel self-check: " + problem));
        if (!selfCheck.fatal().isEmpty()) {
            throw new StartFailure(3, "kernel self-check: " + String.join("; ", selfCheck.fatal()));
        }
        // Without the endpoint nothing reads the meters: a composite registry with no member keeps none,
        // and the Prometheus registry, its client library and the latency histogram's buckets stay unloaded.
        PrometheusMeterRegistry registry =
                config.metricsPort() == 0 ? null : new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        AgentMetrics metrics = new AgentMetrics(registry == null ? new CompositeMeterRegistry() : registry);
        String node;
        try {
            node = nodeName();
        } catch (IOException e) {
            throw new StartFailure(1, "cannot read the kernel's hostname (give --node-name): " + e.getMessage());
        }
        try {
            mode = switch (config.mode()) {
                case AgentConfig.Mode.Standalone standalone -> standalone(standalone);
                case AgentConfig.Mode.Kubernetes kubernetes ->
                    KubernetesMode.wire(node, config.nodeName() != null, kubernetes, config);
            };
        } catch (InvalidPolicyFileException | IOException | IllegalStateException e) {
            throw new StartFailure(2, e.getMessage());
        }
        OptionalInt group = socketGroup();
        RegionEnforcer enforcer = new RegionEnforcer(config.fbindSyscall(), hasCapability(CAP_SYS_NICE));
        ConnectionLimits limits;
        try {
            limits =
                    new ConnectionLimits(config.maxConnections(), config.maxConnectionsPerPeer(), config.idleTimeout());
        } catch (IllegalArgumentException e) {
            throw new StartFailure(2, e.getMessage());
        }
        server = new AgentServer(config.socket(), limits, metrics);
        if (config.metricsPort() != 0) {
            metricsServer = metricsServer(registry);
        }
        int socketGid;
        try {
            socketGid = server.bind(group);
        } catch (IOException e) {
            throw new StartFailure(1, e.getMessage());
        }
        Function<PeerAuthorizer, RequestHandler> handlers = check -> new RequestHandler(
                new RequestHandler.AgentIdentity(version(), node),
                mode.policies(),
                check,
                enforcer,
                SysfsTopology.host()::read,
                metrics,
                mode.observer());
        PeerAuthorizer nodeCheck = mode.authorizer().apply(socketGid);
        server.start(handlers.apply(nodeCheck));
        moreSockets = mode.moreSockets().start(handlers, nodeCheck, metrics);
        LOG.info("numaguest node agent " + version() + " listening on "
                + config.socket().toAbsolutePath() + " (" + mode.description() + ")"
                + (metricsServer == null ? "" : "; metrics on :" + metricsServer.port() + "/metrics"));
    }

    private ModeWiring standalone(AgentConfig.Mode.Standalone standalone)
            throws IOException, InvalidPolicyFileException {
        PolicyFileSource policies = PolicyFileSource.open(standalone.policyFile(), standalone.reloadInterval());
        Set<Integer> uids = new HashSet<>(config.allowUids());
        uids.add(0);
        // The socket's group is allowed by default: who may open the socket file may talk.
        return new ModeWiring(
                "standalone, policy file " + standalone.policyFile(),
                policies,
                socketGid -> {
                    Set<Integer> gids = new HashSet<>(config.allowGids());
                    gids.add(socketGid);
                    return new AllowListAuthorizer(uids, gids);
                },
                ApplyObserver.NONE,
                () -> true,
                List.of(policies),
                MoreSockets.NONE);
    }

    private OptionalInt socketGroup() throws StartFailure {
        String socketGroup = config.socketGroup();
        if (socketGroup == null) {
            return OptionalInt.empty();
        }
        OptionalInt group = socketGroup.matches("\\d+")
                ? OptionalInt.of(Integer.parseInt(socketGroup))
                : Credentials.groupId(socketGroup);
        if (group.isEmpty()) {
            throw new StartFailure(
                    2, "--socket-group " + socketGroup + ": no such group (give a group name or a numeric gid)");
        }
        return group;
    }

    private MetricsServer metricsServer(PrometheusMeterRegistry registry) throws StartFailure {
        String address = config.metricsAddress();
        try {
            return new MetricsServer(
                    address == null ? null : InetAddress.ofLiteral(address),
                    config.metricsPort(),
                    registry,
                    () -> server.isServing() && mode.synced().getAsBoolean());
        } catch (IllegalArgumentException e) {
            throw new StartFailure(
                    2, "--metrics-address " + address + " is not an IP address (give e.g. 127.0.0.1 or ::1)");
        } catch (IOException e) {
            throw new StartFailure(
                    1,
                    "the metrics endpoint cannot listen on " + (address == null ? "port " : address + " port ")
                            + config.metricsPort() + " (--metrics-address, --metrics-port; 0 turns it off): "
                            + e.getMessage());
        }
    }

    private String nodeName() throws IOException {
        if (config.nodeName() != null) {
            return config.nodeName();
        }
        String fromEnv = System.getenv("NODE_NAME");
        return fromEnv != null && !fromEnv.isBlank()
                ? fromEnv
                : Files.readString(KERNEL_HOSTNAME).trim();
    }

    private static boolean hasCapability(int capability) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    return (Long.parseUnsignedLong(
                                            line.substring("CapEff:".length()).trim(), 16)
                                    & (1L << capability))
                            != 0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            LOG.warning("cannot read the agent's capabilities: " + e.getMessage());
        }
        return false;
    }

    /** Stops accepting, drains the requests in flight, removes the socket, then closes the mode's resources and /metrics. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (moreSockets != null) {
            try {
                moreSockets.close();
            } catch (Exception e) {
                LOG.warning("closing the per-pod sockets: " + e.getMessage());
            }
        }
        if (server != null) {
            try {
                server.close();
            } catch (IOException e) {
                LOG.warning("closing the socket: " + e.getMessage());
            }
        }
        if (mode != null) {
            for (AutoCloseable resource : mode.resources()) {
                try {
                    resource.close();
                } catch (Exception e) {
                    LOG.warning("shutting down: " + e.getMessage());
                }
            }
        }
        if (metricsServer != null) {
            metricsServer.close();
        }
    }
}
