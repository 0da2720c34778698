# numaguest node agent image: ghcr.io/numaguest/node-agent
#
# Build context: the repository root, after `mvn -B -ntp -pl node-agent -am package -DskipTests`
# has produced the shaded jar node-agent/target/numaguest-node-agent.jar. See docker/README.md.
FROM eclipse-temurin:25-jre

# The JVM only needs the JRE; the agent's native calls (mbind, memfd, SCM_RIGHTS) go through the
# FFM API straight into glibc, so no extra packages are installed.
COPY node-agent/target/numaguest-node-agent.jar /opt/numaguest/numaguest-node-agent.jar

# Runs as root (UID 0), on purpose. The Helm chart drops every capability but SYS_NICE, forbids
# privilege escalation and mounts the root filesystem read-only. Root is needed because:
#  - Kubernetes makes added capabilities effective only for UID 0; a non-root user would need
#    ambient capabilities, which Kubernetes cannot grant. The agent needs SYS_NICE because the
#    moby/containerd RuntimeDefault seccomp profile allows mbind, get_mempolicy and set_mempolicy
#    only with CAP_SYS_NICE, and because mbind(MPOL_MF_MOVE_ALL) needs it to move pages the VMM maps
#    too. (RuntimeDefault also refuses move_pages, so the chart runs the agent Unconfined by default:
#    see agent.seccompProfile in values.yaml.)
#  - the agent creates its socket in a root-owned host directory (/run/numaguest) and reads
#    /proc/<pid>/cgroup of VMM processes in other pods to tell which pod a peer belongs to.
USER 0:0

# /metrics, /healthz, /readyz
EXPOSE 9400

# The same command line as the chart's DaemonSet; a small footprint matters on every node (figures
# and the levers weighed: docs/performance.md). SerialGC: one GC thread, no concurrent machinery.
# -Xms8m: the heap starts small and grows only as the live set needs (without it the JVM commits
# the whole -Xmx at once, 35 MiB more RSS); -Xmx64m and the metaspace bound stop it sizing itself
# to the host; 512 KiB stacks; freed malloc memory (the JIT's arenas) returned to the kernel each second.
ENTRYPOINT ["java", "-XX:+UseSerialGC", "-Xms8m", "-Xmx64m", "-XX:MaxMetaspaceSize=48m", "-Xss512k", \
            "-XX:TrimNativeHeapInterval=1000", "--enable-native-access=ALL-UNNAMED", \
            "-jar", "/opt/numaguest/numaguest-node-agent.jar"]
CMD ["--kubernetes", "--socket", "/run/numaguest/agent.sock", "--metrics-port", "9400", "--log-format", "json"]
