package io.numaguest.agent;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What the agent is told to do, as its flags (see {@link Main}) say it.
 *
 * @param metricsAddress where /metrics listens, null for every address; {@code metricsPort} 0 turns it off
 * @param socketGroup    the socket file's group, a name or a gid, or null to keep the agent's own
 * @param nodeName       the name hello reports, or null for $NODE_NAME, else the kernel's hostname
 * @param fbindSyscall   fbind()'s number on a kernel that carries the RFC patch, or empty (never called)
 */
public record AgentConfig(
        Path socket,
        Mode mode,
        int metricsPort,
        String metricsAddress,
        int maxConnections,
        int maxConnectionsPerPeer,
        Duration idleTimeout,
        List<Integer> allowUids,
        List<Integer> allowGids,
        String socketGroup,
        String nodeName,
        OptionalLong fbindSyscall) {
    public AgentConfig {
        allowUids = List.copyOf(allowUids);
        allowGids = List.copyOf(allowGids);
    }

    /**
     * The per-pod sockets (docs/vmm-integration.md, "The library and the socket").
     *
     * @param kubeletPodsDir the kubelet's pods directory as the agent sees it
     * @param shareDirs      where a pod's shared directory may be, relative to its emptyDir volumes, first found wins
     * @param maxConnections connections at once on one pod's socket
     */
    public record PodSockets(Path kubeletPodsDir, List<String> shareDirs, int maxConnections) {
        public PodSockets {
            shareDirs = List.copyOf(shareDirs);
        }
    }

    /** Where policies come from and who may ask for them: the two modes differ only there. */
    public sealed interface Mode {
        /** Policies from a YAML file, checked for changes every {@code reloadInterval}; peers by uid and gid. */
        record Standalone(Path policyFile, Duration reloadInterval) implements Mode {}

        /**
         * Policies from the node's NumaGuestMemory objects; peers by their pod; status.applied and NRT written back.
         *
         * @param podSockets a socket in each target pod's shared directory too, or empty
         */
        record Kubernetes(Optional<PodSockets> podSockets) implements Mode {}
    }
}
