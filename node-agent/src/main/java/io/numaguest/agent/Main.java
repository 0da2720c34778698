package io.numaguest.agent;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The agent's command line: parses the flags and hands an {@link Agent} its configuration. */
@Command(
        name = "numaguest-node-agent",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Puts NUMA memory policies on guest-memory file descriptors that VMMs hand over a Unix socket.")
public final class Main implements Callable<Integer> {
    private static final Logger LOG = Logger.getLogger(Main.class.getName());

    /** Exactly one of the two modes. */
    static final class ModeFlags {
        @Option(
                names = "--policy-file",
                required = true,
                description = "Standalone mode: YAML policy file, reloaded when it changes.")
        Path policyFile;

        @Option(
                names = "--kubernetes",
                required = true,
                description =
                        "Kubernetes mode: policies from the NumaGuestMemory objects "
                                + "of this node ($NODE_NAME); status.applied written back; the node's NodeResourceTopology published.")
        boolean kubernetes;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    ModeFlags mode;

    @Option(
            names = "--socket",
            defaultValue = "/run/numaguest/agent.sock",
            description = "Socket path (default: ${DEFAULT-VALUE}).")
    Path socket;

    @Option(
            names = "--policy-reload-interval",
            defaultValue = "PT1S",
            description = "How often the policy file is checked for changes (ISO-8601, default: ${DEFAULT-VALUE}).")
    Duration policyReloadInterval;

    @Option(
            names = "--metrics-port",
            defaultValue = "9400",
            description = "Port for /metrics, /healthz, /readyz; 0 turns it off (default: ${DEFAULT-VALUE}).")
    int metricsPort;

    @Option(
            names = "--metrics-address",
            description = "IP address the metrics port listens on, e.g. 127.0.0.1 "
                    + "(default: every address, as the kubelet's probes and Prometheus reach the pod's IP).")
    String metricsAddress;

    @Option(names = "--log-format", defaultValue = "text", description = "text or json (default: ${DEFAULT-VALUE}).")
    LogFormat logFormat;

    @Option(
            names = "--log-level",
            defaultValue = "INFO",
            description = "java.util.logging level (default: ${DEFAULT-VALUE}).")
    String logLevel;

    @Option(
            names = "--max-connections",
            defaultValue = "64",
            description = "Concurrent VMM connections; more get BUSY (default: ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(
            names = "--max-connections-per-peer",
            defaultValue = "8",
            description =
                    "Concurrent connections from one peer "
                            + "(the processes of one cgroup: a container, a systemd unit); more get BUSY (default: ${DEFAULT-VALUE}).")
    int maxConnectionsPerPeer;

    @Option(
            names = "--idle-timeout",
            defaultValue = "PT60S",
            description = "A connection that sends no request for this long is "
                    + "closed (ISO-8601, default: ${DEFAULT-VALUE}).")
    Duration idleTimeout;

    @Option(names = "--allow-uid", description = "A uid allowed to send requests (repeatable). Root always is.")
    List<Integer> allowUids = new ArrayList<>();

    @Option(
            names = "--allow-gid",
            description = "A gid allowed to send requests (repeatable). The socket's group always is.")
    List<Integer> allowGids = new ArrayList<>();

    @Option(
            names = "--socket-group",
            description = "Group to give the socket file (name or gid), so VMMs of that group can connect.")
    String socketGroup;

    @Option(
            names = "--node-name",
            description = "Name reported by hello (default: $NODE_NAME, else the kernel's hostname).")
    String nodeName;

    @Option(
            names = "--kubelet-pods-dir",
            description =
                    "Kubernetes mode: the kubelet's pods directory as mounted in the agent "
                            + "(e.g. /var/lib/kubelet/pods). When given, the agent opens a socket of its own for every pod this node's "
                            + "NumaGuestMemory objects target, agent.sock in the pod's shared directory (--pod-share-dir), for virt-launcher's QEMU.")
    Path kubeletPodsDir;

    @Option(
            names = "--pod-share-dir",
            split = ",",
            defaultValue = "kubevirt-plugin-sockets/numaguest,hook-sidecar-sockets/numaguest",
            description =
                    "Where a target pod's shared directory is, relative to its emptyDir volumes; the first found is used "
                            + "(default: ${DEFAULT-VALUE}: KubeVirt's Plugin volume with the hook's subPath, the legacy hook sidecars' volume).")
    List<String> podShareDirs;

    @Option(
            names = "--pod-socket-max-connections",
            defaultValue = "4",
            description = "Concurrent connections on one pod's " + "socket; more get BUSY (default: ${DEFAULT-VALUE}).")
    int podSocketMaxConnections;

    @Option(
            names = "--fbind-syscall",
            description = "Syscall number of fbind() on a kernel carrying the unmerged RFC patch. "
                    + "Off unless given: upstream's 463 is setxattrat.")
    Long fbindSyscall;

    public static void main(String[] args) {
        int exitCode = new CommandLine(new Main())
                .setCaseInsensitiveEnumValuesAllowed(true)
                .execute(args);
        // On success the socket's threads keep the JVM running until SIGTERM runs the shutdown hook.
        if (exitCode != 0) {
            System.exit(exitCode);
        }
    }

    @Override
    public Integer call() {
        logFormat.install(Level.parse(logLevel.toUpperCase()));
        AgentConfig.Mode agentMode = mode.kubernetes
                ? new AgentConfig.Mode.Kubernetes(java.util.Optional.ofNullable(kubeletPodsDir)
                        .map(dir -> new AgentConfig.PodSockets(dir, podShareDirs, podSocketMaxConnections)))
                : new AgentConfig.Mode.Standalone(mode.policyFile, policyReloadInterval);
        Agent agent = new Agent(new AgentConfig(
                socket,
                agentMode,
                metricsPort,
                metricsAddress,
                maxConnections,
                maxConnectionsPerPeer,
                idleTimeout,
                allowUids,
                allowGids,
                socketGroup,
                nodeName,
                fbindSyscall == null ? OptionalLong.empty() : OptionalLong.of(fbindSyscall)));
        // Registered before the socket exists, so a SIGTERM at any point from here removes it.
        Runtime.getRuntime().addShutdownHook(new Thread(agent::close, "agent-shutdown"));
        try {
            agent.start();
        } catch (Agent.StartFailure e) {
            LOG.severe("cannot start: " + e.getMessage());
            return e.exitCode();
        }
        return 0;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"numaguest-node-agent " + Agent.version()};
        }
    }
}
