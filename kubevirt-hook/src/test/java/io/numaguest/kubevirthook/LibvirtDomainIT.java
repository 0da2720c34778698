package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.ClientCalls;
import io.numaguest.kubevirthook.proto.plugins.MutateDomainRequest;
import io.numaguest.kubevirthook.proto.plugins.SidecarContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The transformation's output in a real libvirt (Debian's libvirtd and QEMU, TCG): libvirt accepts
 * the domain, turns it into one memfd backend per guest node with QEMU's environment set, and a
 * QEMU started from it holds those memfds and that environment.
 *
 * <p>The daemon is a private session libvirtd (qemu:///session) with its own runtime, config and
 * cache directories under a temporary directory, so the test needs neither systemd nor the host's
 * /run/libvirt and cannot touch another libvirt on the machine. As root it runs as nobody (a root
 * libvirtd is always the system daemon, whose directories are fixed). The second test adds the
 * agent (the node-agent jar) and the preload library (clients/c), so the loop from domain XML to
 * placed guest nodes runs as in production, on one NUMA node.
 */
class LibvirtDomainIT {
    private static final long MIB = 1024 * 1024;
    private static final Duration DAEMON_START_LIMIT = Duration.ofSeconds(60);
    private static Path base;
    private static Process libvirtd;
    private static boolean asNobody;

    @BeforeAll
    static void startPrivateLibvirtd() throws Exception {
        List<String> missing = Stream.of("libvirtd", "virsh", "qemu-system-x86_64")
                .filter(c -> !onPath(c))
                .toList();
        String reason = "missing " + missing
                + " (Debian: libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86;"
                + " scripts/test installs them as root)";
        if (System.getenv("LIBVIRT_REQUIRED") != null) {
            assertThat(missing).as(reason).isEmpty();
        }
        assumeTrue(missing.isEmpty(), reason);
        asNobody = (int) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        // Short: QEMU's monitor socket lies four levels under XDG_CONFIG_HOME and a socket path has 108 bytes.
        base = Files.createTempDirectory(Path.of("/tmp"), "ngv");
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
        for (String dir : List.of("home", "run")) {
            Files.createDirectory(
                    base.resolve(dir),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            if (asNobody) {
                UserPrincipalLookupService users = base.getFileSystem().getUserPrincipalLookupService();
                Files.setOwner(base.resolve(dir), users.lookupPrincipalByName("nobody"));
            }
        }
        libvirtd = command("libvirtd")
                .redirectErrorStream(true)
                .redirectOutput(base.resolve("libvirtd.log").toFile())
                .start();
        Path socket = base.resolve("run/libvirt/libvirt-sock");
        Instant limit = Instant.now().plus(DAEMON_START_LIMIT);
        while (!Files.exists(socket)) {
            assertThat(libvirtd.isAlive()).as("libvirtd exited: %s", log()).isTrue();
            assertThat(Instant.now())
                    .as("libvirtd opened no socket at %s within %s: %s", socket, DAEMON_START_LIMIT, log())
                    .isBefore(limit);
            Thread.sleep(100);
        }
    }

    @AfterAll
    static void stopLibvirtd() throws Exception {
        if (libvirtd != null) {
            libvirtd.destroy();
            libvirtd.waitFor();
        }
        if (base != null) {
            // libvirtd spawned a session virtlogd for QEMU's log; it would linger for its idle timeout.
            Path virtlogd = base.resolve("run/libvirt/virtlogd.pid");
            if (Files.exists(virtlogd)) {
                // Waited for: it removes its socket as it exits, under the walk below otherwise.
                ProcessHandle.of(Long.parseLong(Files.readString(virtlogd).strip()))
                        .ifPresent(process -> {
                            process.destroy();
                            process.onExit()
                                    .completeOnTimeout(process, 10, TimeUnit.SECONDS)
                                    .join();
                        });
            }
            try (Stream<Path> files = Files.walk(base)) {
                for (Path path : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(path);
                }
            }
        }
    }

    @Test
    void libvirtStartsQemuWithAMemfdPerGuestNodeAndThePreloadEnvironment() throws Exception {
        var preload = new PreloadEnvironment("/usr/lib/numaguest/libnumaguest-preload.so", "/run/numaguest/agent.sock");
        var request = new GuestMemoryRequest(
                List.of(GuestNodeRequest.sized(0, 96 * MIB), GuestNodeRequest.unsized(1)), "BestEffort");
        TransformedDomain transformed = new DomainTransformation(preload)
                .transform(
                        DomainTransformationGoldenTest.fixture("libvirt-tcg-idle.xml"),
                        new VmiIdentity("tenant-a", "vm-idle"),
                        Optional.of(request));
        Path domainFile = base.resolve("domain.xml");
        Files.writeString(domainFile, transformed.domainXml());
        Files.setPosixFilePermissions(domainFile, PosixFilePermissions.fromString("rw-r--r--"));

        virsh("define", domainFile.toString());
        String argv = virsh("domxml-to-native", "qemu-argv", "--domain", "ng-idle");
        assertThat(argv)
                .contains(
                        "LD_PRELOAD=/usr/lib/numaguest/libnumaguest-preload.so",
                        "NUMAGUEST_SOCKET=/run/numaguest/agent.sock",
                        "NUMAGUEST_VM=tenant-a/vm-idle",
                        "NUMAGUEST_ENFORCEMENT=BestEffort")
                .contains("{\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node0\",\"share\":true,\"size\":"
                        + 96 * MIB + "}")
                .contains("{\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node1\",\"share\":true,\"size\":"
                        + 32 * MIB + "}")
                .contains("-numa node,nodeid=0,cpus=0,memdev=ram-node0", "-numa node,nodeid=1,cpus=1,memdev=ram-node1")
                // The fixture's <numatune> would have become the backends' host-nodes/policy.
                .doesNotContain("host-nodes", "\"policy\"");

        virsh("start", "ng-idle");
        try {
            long qemu = qemuPid("ng-idle");
            assertThat(environment(qemu))
                    .containsEntry("NUMAGUEST_VM", "tenant-a/vm-idle")
                    .containsEntry("NUMAGUEST_SOCKET", "/run/numaguest/agent.sock")
                    .containsEntry("LD_PRELOAD", "/usr/lib/numaguest/libnumaguest-preload.so");
            // QEMU names a backend's memfd after the backend's type, not its id; the sizes tell the nodes apart.
            assertThat(memfdSizes(qemu, "/memfd:memory-backend-memfd")).containsExactlyInAnyOrder(96 * MIB, 32 * MIB);
        } finally {
            virsh("destroy", "ng-idle");
            virsh("undefine", "ng-idle");
        }
    }

    /**
     * The whole loop on one machine: the Plugin domain hook's answer to a VMI with the operator's
     * annotation, a real agent (the node-agent jar, standalone with a policy file, as root) and
     * QEMU started by the unprivileged libvirt with the preload library from the domain's
     * {@code <qemu:env>}. The agent's socket directory and socket get QEMU's
     * group (--socket-group), the only way nobody's QEMU reaches them. The machine has one NUMA
     * node, so the policy kinds tell placed memory from unplaced: guest node 0 Bind, guest node 1
     * Interleave, where QEMU on its own would leave both at the default policy.
     */
    @Test
    void theAgentPlacesEachGuestNodeOfTheDomainLibvirtStarts() throws Exception {
        Path agentJar = builtFile(
                "numaguest.agent.jar",
                "node-agent/target/numaguest-node-agent.jar",
                "nice mvn -B -ntp -pl node-agent -am package -DskipTests");
        Path clientsBuild = builtFile("numaguest.clients.build", "clients/c/build", "make -C clients/c");
        Path library = clientsBuild.resolve("libnumaguest-preload.so");
        Path ctl = clientsBuild.resolve("numaguest-ctl");
        for (Path built : List.of(library, ctl)) {
            requireBuilt(built, "make -C clients/c");
        }
        // QEMU (nobody) loads the library from a directory it can read, as from an installed package.
        Path libraryDir = Files.createDirectory(base.resolve("lib"));
        Files.setPosixFilePermissions(libraryDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path installedLibrary = Files.copy(library, libraryDir.resolve("libnumaguest-preload.so"));
        Files.setPosixFilePermissions(installedLibrary, PosixFilePermissions.fromString("rwxr-xr-x"));

        Path policyFile = base.resolve("policy.yaml");
        Files.writeString(policyFile, """
                vms:
                  - name: vm-placed
                    namespace: tenant-a
                    guestNodes:
                      - {guestNode: 0, policy: Bind, hostNodes: [0]}
                      - {guestNode: 1, policy: Interleave, hostNodes: [0]}
                """);
        Path socket = base.resolve("agent/agent.sock");
        String socketGroup = asNobody
                ? "nogroup"
                : Files.getAttribute(Path.of("/proc/self"), "unix:gid").toString();
        Path agentLog = base.resolve("agent.log");
        Process agent = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-XX:+UseSerialGC",
                        "-Xmx128m",
                        "-jar",
                        agentJar.toString(),
                        "--socket",
                        socket.toString(),
                        "--policy-file",
                        policyFile.toString(),
                        "--socket-group",
                        socketGroup,
                        "--metrics-port",
                        "0",
                        "--node-name",
                        "libvirt-it")
                .redirectErrorStream(true)
                .redirectOutput(agentLog.toFile())
                .start();
        try {
            Instant limit = Instant.now().plus(DAEMON_START_LIMIT);
            while (!Files.exists(socket)) {
                assertThat(agent.isAlive())
                        .as("the agent exited: %s", Files.readString(agentLog))
                        .isTrue();
                assertThat(Instant.now())
                        .as("the agent opened no socket within %s: %s", DAEMON_START_LIMIT, Files.readString(agentLog))
                        .isBefore(limit);
                Thread.sleep(100);
            }
            placeAndVerify(installedLibrary, socket, ctl, agentLog);
        } finally {
            agent.destroy();
            agent.waitFor();
        }
    }

    private void placeAndVerify(Path library, Path socket, Path ctl, Path agentLog) throws Exception {
        Path domainFile = base.resolve("placed.xml");
        Files.writeString(
                domainFile, mutatedByThePluginHook(new PreloadEnvironment(library.toString(), socket.toString())));
        Files.setPosixFilePermissions(domainFile, PosixFilePermissions.fromString("rw-r--r--"));

        virsh("define", domainFile.toString());
        try {
            assertThat(virsh("domxml-to-native", "qemu-argv", "--domain", "ng-placed"))
                    .contains(
                            "LD_PRELOAD=" + library,
                            "NUMAGUEST_SOCKET=" + socket,
                            "NUMAGUEST_VM=tenant-a/vm-placed",
                            "NUMAGUEST_ENFORCEMENT=Strict",
                            "NUMAGUEST_DEBUG=1")
                    .contains(
                            "\"id\":\"ram-node0\",\"share\":true,\"size\":" + 96 * MIB,
                            "\"id\":\"ram-node1\",\"share\":true,\"size\":" + 32 * MIB);
            Instant started = Instant.now();
            // Strict: had the agent refused a guest node or been out of reach, QEMU would have stopped and virsh
            // failed.
            virsh("start", "ng-placed");
            Duration startTime = Duration.between(started, Instant.now());
            try {
                long qemu = qemuPid("ng-placed");
                if (asNobody) {
                    // The agent is root; only the socket's group lets this QEMU in.
                    assertThat(Files.getAttribute(Path.of("/proc/" + qemu), "unix:uid"))
                            .isEqualTo(65534);
                }
                String qemuLog = qemuLog("ng-placed");
                Map<Long, String> policies = memfdPolicies(qemu);
                assertThat(policies)
                        .as("numa_maps policy of QEMU's memfd mappings by size; QEMU's log: %s", qemuLog)
                        .containsEntry(96 * MIB, "bind:0")
                        .containsEntry(32 * MIB, "interleave:0");

                // The library's debug line carries the agent's response to each handover.
                List<String> placed = qemuLog.lines()
                        .filter(line -> line.contains("placed in"))
                        .toList();
                assertThat(placed).as("QEMU's log: %s", qemuLog).hasSize(2);
                assertThat(placed.get(0))
                        .contains("guest node 0 (backend ram-node0", "\"policy\":\"Bind\"", "\"verified\":true");
                assertThat(placed.get(1))
                        .contains("guest node 1 (backend ram-node1", "\"policy\":\"Interleave\"", "\"verified\":true");

                // And the agent, asked now about QEMU's own descriptors, reads the same policies back.
                JsonNode regions =
                        query(ctl, socket, qemu, memfdDescriptors(qemu)).get("regions");
                assertThat(regions)
                        .as("the agent's query; its log: %s", Files.readString(agentLog))
                        .hasSize(2);
                assertThat(regions.get(0).get("policy").asText()).isEqualTo("Bind");
                assertThat(regions.get(1).get("policy").asText()).isEqualTo("Interleave");
                assertThat(regions.get(1).get("hostNodes").toString()).isEqualTo("[0]");
                System.out.printf(
                        "LibvirtDomainIT: virsh start with the agent's handovers %d ms; %s%n",
                        startTime.toMillis(),
                        placed.stream()
                                .map(line -> line.replaceAll(".*(guest node \\d).*(placed in [0-9.]+ ms).*", "$1 $2"))
                                .toList());
            } finally {
                virsh("destroy", "ng-placed");
            }
        } finally {
            virsh("undefine", "ng-placed");
        }
    }

    /**
     * The domain as KubeVirt's Plugin domain hook returns it: the hook server on a Unix socket,
     * called over gRPC with a VMI carrying the operator's annotation.
     */
    private static String mutatedByThePluginHook(PreloadEnvironment preload) throws Exception {
        Path hookSocket = base.resolve("domain.sock");
        String vmi = HookSidecarServerTest.vmiJson(
                "tenant-a",
                "vm-placed",
                "{\"enforcement\":\"Strict\",\"guestNodes\":[{\"guestNode\":0,\"size\":\"96Mi\"},{\"guestNode\":1}]}");
        EventLoopGroup clientEvents = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try (PluginDomainHookServer hook =
                PluginDomainHookServer.start(hookSocket, new DomainTransformation(preload), line -> {})) {
            ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(hookSocket.toString()))
                    .channelType(EpollDomainSocketChannel.class)
                    .eventLoopGroup(clientEvents)
                    .usePlaintext()
                    .build();
            try {
                return ClientCalls.blockingUnaryCall(
                                channel,
                                PluginDomainHookServer.MUTATE_DOMAIN,
                                CallOptions.DEFAULT,
                                MutateDomainRequest.newBuilder()
                                        .setDomainType("libvirt")
                                        .setDomain(ByteString.copyFromUtf8(
                                                DomainTransformationGoldenTest.fixture("libvirt-tcg-placed.xml")))
                                        .setVmi(ByteString.copyFromUtf8(vmi))
                                        .setSidecarContext(
                                                SidecarContext.newBuilder().setInvocationContext("Boot"))
                                        .build())
                        .getDomain()
                        .toStringUtf8();
            } finally {
                channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            }
        } finally {
            clientEvents.shutdownGracefully(0, 0, TimeUnit.SECONDS).await();
        }
    }

    /** The agent's query response for QEMU's descriptors (96 MiB one as guest node 0, 32 MiB one as 1). */
    private static JsonNode query(Path ctl, Path socket, long qemu, Map<Long, Integer> descriptors) throws Exception {
        Process process = new ProcessBuilder(
                        ctl.toString(),
                        "-s",
                        socket.toString(),
                        "query",
                        "-v",
                        "tenant-a/vm-placed",
                        "-p",
                        qemu + ":" + descriptors.get(96 * MIB),
                        "-p",
                        qemu + ":" + descriptors.get(32 * MIB),
                        "-r",
                        "0:0",
                        "-r",
                        "1:1")
                .redirectErrorStream(true)
                .start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor()).as("numaguest-ctl query: %s", output).isZero();
        return new ObjectMapper().readTree(output);
    }

    /** QEMU's memfd guest RAM descriptors by file size. */
    private static Map<Long, Integer> memfdDescriptors(long pid) throws IOException {
        Map<Long, Integer> result = new HashMap<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                if (Files.readSymbolicLink(fd).toString().startsWith("/memfd:memory-backend-memfd")) {
                    result.put(Files.size(fd), Integer.parseInt(fd.getFileName().toString()));
                }
            }
        }
        return result;
    }

    /** The policy numa_maps shows for each of QEMU's memfd guest RAM mappings, by mapping size. */
    private static Map<Long, String> memfdPolicies(long pid) throws IOException {
        Map<String, Long> sizeByStart = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/maps"))) {
            if (line.contains("/memfd:memory-backend-memfd")) {
                String[] range = line.substring(0, line.indexOf(' ')).split("-");
                sizeByStart.put(range[0], Long.parseUnsignedLong(range[1], 16) - Long.parseUnsignedLong(range[0], 16));
            }
        }
        Map<Long, String> result = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/numa_maps"))) {
            String[] fields = line.split(" ");
            Long size = sizeByStart.get(fields[0]);
            if (size != null) {
                result.put(size, fields[1]);
            }
        }
        return result;
    }

    private static String qemuLog(String domain) throws IOException {
        try (Stream<Path> files = Files.walk(base)) {
            Path log = files.filter(p -> p.getFileName().toString().equals(domain + ".log"))
                    .findFirst()
                    .orElseThrow(
                            () -> new AssertionError("libvirt wrote no QEMU log for " + domain + " under " + base));
            return Files.readString(log);
        }
    }

    /** A file the build makes: its path from the system property the pom sets, else relative to the repository. */
    private static Path builtFile(String property, String fromRepository, String build) {
        Path path = Path.of(System.getProperty(property, "../" + fromRepository))
                .toAbsolutePath()
                .normalize();
        requireBuilt(path, build);
        return path;
    }

    private static void requireBuilt(Path path, String build) {
        String reason = path + " is missing: build it first (" + build + ")";
        if (System.getenv("LIBVIRT_REQUIRED") != null) {
            assertThat(path).as(reason).exists();
        }
        assumeTrue(Files.exists(path), reason);
    }

    private static long qemuPid(String domain) throws IOException {
        try (Stream<Path> files = Files.walk(base)) {
            Path pidFile = files.filter(p -> p.getFileName().toString().equals(domain + ".pid"))
                    .findFirst()
                    .orElseThrow(
                            () -> new AssertionError("libvirt wrote no pid file for " + domain + " under " + base));
            return Long.parseLong(Files.readString(pidFile).strip());
        }
    }

    private static Map<String, String> environment(long pid) throws IOException {
        String environ = Files.readString(Path.of("/proc/" + pid + "/environ"), StandardCharsets.UTF_8);
        Map<String, String> result = new HashMap<>();
        for (String entry : environ.split("\0")) {
            int equals = entry.indexOf('=');
            if (equals > 0) {
                result.put(entry.substring(0, equals), entry.substring(equals + 1));
            }
        }
        return result;
    }

    /** The sizes of the process's memfds whose link target starts with {@code name}. */
    private static List<Long> memfdSizes(long pid, String name) throws IOException {
        List<Long> sizes = new ArrayList<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith(name)) {
                        sizes.add(Files.size(fd));
                    }
                } catch (IOException closedMeanwhile) {
                    // QEMU closed this descriptor between the listing and the read.
                }
            }
        }
        return sizes;
    }

    private static String virsh(String... arguments) throws Exception {
        List<String> command = new ArrayList<>(List.of("virsh", "-c", "qemu:///session"));
        command.addAll(List.of(arguments));
        Process virsh = command(command.toArray(String[]::new))
                .redirectErrorStream(true)
                .start();
        String output = new String(virsh.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(virsh.waitFor())
                .as("%s:%n%s%nlibvirtd: %s", command, output, log())
                .isZero();
        return output;
    }

    /** A command in the private libvirt's environment, as nobody when the test runs as root. */
    private static ProcessBuilder command(String... command) {
        List<String> full = new ArrayList<>();
        if (asNobody) {
            full.addAll(List.of("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"));
        }
        full.addAll(List.of(command));
        ProcessBuilder builder = new ProcessBuilder(full).directory(base.toFile());
        Map<String, String> env = builder.environment();
        env.clear();
        env.put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        env.put("HOME", base.resolve("home").toString());
        env.put("XDG_RUNTIME_DIR", base.resolve("run").toString());
        env.put("XDG_CONFIG_HOME", base.resolve("home/c").toString());
        env.put("XDG_CACHE_HOME", base.resolve("home/k").toString());
        return builder;
    }

    private static String log() {
        try {
            return Files.readString(base.resolve("libvirtd.log"));
        } catch (IOException e) {
            return "(no libvirtd log: " + e.getMessage() + ")";
        }
    }

    private static boolean onPath(String command) {
        for (String dir : "/usr/sbin:/usr/bin:/sbin:/bin".split(":")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }
}
