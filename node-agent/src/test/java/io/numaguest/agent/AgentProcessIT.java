package io.numaguest.agent;

import static io.numaguest.agent.testing.VmmClient.apply;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NumaMode;
import io.numaguest.agent.testing.VmmClient;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged agent as its own process, and this JVM as the VMM: the memfd crosses a real socket
 * between two processes, and the policy the agent set is read back here, in the VMM's own mapping.
 */
class AgentProcessIT {
    private static final long MIB = 1 << 20;
    private static final String POLICY = """
            vms:
              - name: vm1
                guestNodes:
                  - guestNode: 0
                    policy: %s
                    hostNodes: [0]
            """;

    @TempDir
    Path dir;

    private Path socket;
    private Path policyFile;
    private Path log;
    private Process agent;
    private int metricsPort;
    private int ram = -1;

    @BeforeEach
    void startAgent() throws Exception {
        socket = dir.resolve("run/agent.sock");
        policyFile = Files.writeString(dir.resolve("policy.yaml"), POLICY.formatted("Bind"));
        log = dir.resolve("agent.log");
        try (ServerSocket probe = new ServerSocket(0)) {
            metricsPort = probe.getLocalPort();
        }
        agent = agentProcess(
                        "--socket",
                        socket.toString(),
                        "--policy-file",
                        policyFile.toString(),
                        "--metrics-port",
                        String.valueOf(metricsPort),
                        "--policy-reload-interval",
                        "PT0.1S",
                        "--log-format",
                        "json")
                .start();
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(socket) || !agent.isAlive());
        assertThat(agent.isAlive()).as("agent exited early: %s", logText()).isTrue();
        ram = KernelFiles.memfdCreate("guest-ram", KernelFiles.MFD_CLOEXEC);
        KernelFiles.ftruncate(ram, 64 * MIB);
    }

    private ProcessBuilder agentProcess(String... args) {
        return new ProcessBuilder(agentCommand(args)).redirectErrorStream(true).redirectOutput(log.toFile());
    }

    private static List<String> agentCommand(String... args) {
        List<String> command = new java.util.ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC",
                "-Xmx64m",
                "-jar",
                System.getProperty("agent.jar")));
        command.addAll(List.of(args));
        return command;
    }

    @AfterEach
    void stopAgent() throws Exception {
        KernelFiles.close(ram);
        if (agent.isAlive()) {
            agent.destroy();
            agent.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private String logText() throws IOException {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    private NumaMode modeInMyMapping() throws Exception {
        try (Mapping mine = Mapping.mapShared(ram, 0, 64 * MIB, Mapping.Access.READ)) {
            return mine.policyAt(32 * MIB).mode();
        }
    }

    @Test
    void thePolicyTheAgentSetGovernsTheVmmsOwnMapping() throws Exception {
        try (VmmClient vmm = new VmmClient(socket)) {
            JsonNode response = vmm.request(apply("1", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), ram);
            assertThat(response.path("ok").asBoolean()).as(response.toString()).isTrue();
            assertThat(response.path("regions").get(0).path("verified").asBoolean())
                    .isTrue();
        }
        assertThat(modeInMyMapping()).isEqualTo(NumaMode.BIND);
        try (Mapping mine = Mapping.mapShared(ram, 0, 64 * MIB, Mapping.Access.READ_WRITE)) {
            // The VMM's first touch allocates under the agent's policy; on this one-node host N0 proves
            // nothing about placement (NumaGuestIT does, on two nodes), bind:0 proves the policy.
            mine.populate(0, 4 * MIB, true);
            assertThat(Files.readString(Path.of("/proc/self/numa_maps")))
                    .containsPattern("bind:0 file=/memfd:guest-ram.* N0=1024");
        }
    }

    @Test
    void anEditedPolicyFileTakesEffectAndABrokenOneDoesNot() throws Exception {
        replacePolicyFile(POLICY.formatted("Interleave"));
        try (VmmClient vmm = new VmmClient(socket)) {
            await().atMost(Duration.ofSeconds(10))
                    .untilAsserted(() -> assertThat(vmm.request(apply("2", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), ram)
                                    .path("regions")
                                    .get(0)
                                    .path("policy")
                                    .asText())
                            .isEqualTo("Interleave"));
            replacePolicyFile(POLICY.formatted("Bnd"));
            await().atMost(Duration.ofSeconds(10)).until(() -> logText().contains("keeping the last good policies"));
            assertThat(vmm.request(apply("3", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), ram)
                            .path("regions")
                            .get(0)
                            .path("policy")
                            .asText())
                    .isEqualTo("Interleave");
        }
        assertThat(modeInMyMapping()).isEqualTo(NumaMode.INTERLEAVE);
    }

    @Test
    void theAgentHoldsNoDescriptorAfterThousandsOfRequests() throws Exception {
        try (VmmClient vmm = new VmmClient(socket)) {
            vmm.request(apply("warm", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), ram);
            long before = agentFds();
            for (int i = 0; i < 2000; i++) {
                vmm.request(
                        i % 4 == 0 ? "{\"broken" : apply("r" + i, "vm1", "[{\"fd\":0,\"guestNode\":0}]"),
                        ram,
                        ram,
                        ram);
            }
            assertThat(agentFds()).isEqualTo(before);
        }
    }

    @Test
    void metricsCountRequestsAndTheProbesAnswer() throws Exception {
        try (VmmClient vmm = new VmmClient(socket)) {
            vmm.request(apply("m1", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), ram);
            vmm.request(apply("m2", "vm1", "[{\"fd\":0,\"guestNode\":5}]"), ram);
        }
        HttpClient http = HttpClient.newHttpClient();
        String metrics = get(http, "/metrics").body();
        assertThat(metrics)
                .contains("numaguest_agent_requests_total{op=\"apply\",result=\"ok\"} 1.0")
                .contains("numaguest_agent_requests_total{op=\"apply\",result=\"NO_POLICY\"} 1.0")
                .contains("numaguest_agent_regions_applied_total{mechanism=\"mbind\"} 1.0")
                .contains("numaguest_agent_fds_held 0.0")
                .contains("numaguest_agent_apply_duration_seconds_bucket");
        assertThat(get(http, "/healthz").statusCode()).isEqualTo(200);
        assertThat(get(http, "/readyz").statusCode()).isEqualTo(200);
    }

    private HttpResponse<String> get(HttpClient http, String path) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void logsAreJsonLinesWithoutNativeAccessWarnings() throws Exception {
        List<String> lines = Files.readAllLines(log);
        assertThat(lines).isNotEmpty();
        ObjectMapper json = new ObjectMapper();
        for (String line : lines) {
            assertThat(json.readTree(line).path("message").asText()).as(line).isNotEmpty();
        }
        assertThat(logText()).contains("listening on").doesNotContain("restricted method");
    }

    @Test
    void sigtermRemovesTheSocket() throws Exception {
        agent.destroy();
        assertThat(agent.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(socket).doesNotExist();
    }

    @Test
    void aBrokenPolicyFileStopsTheStartWithAReason() throws Exception {
        Path broken = Files.writeString(
                dir.resolve("broken.yaml"),
                "vms:\n  - name: vm2\n    guestNodes:\n      - guestNode: 0\n        policy: Bind\n");
        Path otherLog = dir.resolve("other.log");
        Process second = agentProcess(
                        "--socket",
                        dir.resolve("other.sock").toString(),
                        "--policy-file",
                        broken.toString(),
                        "--metrics-port",
                        "0")
                .redirectOutput(otherLog.toFile())
                .start();
        assertThat(second.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(second.exitValue()).isEqualTo(2);
        assertThat(Files.readString(otherLog)).contains("vms[0].guestNodes[0]", "needs hostNodes");
    }

    @Test
    void aHostnameThatDoesNotResolveDoesNotStopTheStart() throws Exception {
        // Its own UTS namespace (root only, as the tests run), with a hostname no resolver knows.
        String hostname = "numaguest-unresolvable-" + ProcessHandle.current().pid();
        Path otherSocket = dir.resolve("uts.sock");
        Path otherLog = dir.resolve("uts.log");
        List<String> command = new java.util.ArrayList<>(
                List.of("unshare", "--uts", "sh", "-c", "hostname \"$0\" && exec \"$@\"", hostname));
        command.addAll(agentCommand(
                "--socket", otherSocket.toString(), "--policy-file", policyFile.toString(), "--metrics-port", "0"));
        ProcessBuilder builder =
                new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(otherLog.toFile());
        builder.environment().remove("NODE_NAME");
        Process second = builder.start();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(otherSocket) || !second.isAlive());
            assertThat(second.isAlive())
                    .as("agent exited: %s", Files.readString(otherLog))
                    .isTrue();
            try (VmmClient vmm = new VmmClient(otherSocket)) {
                assertThat(vmm.request("{\"version\":1,\"id\":\"h\",\"op\":\"hello\"}")
                                .path("node")
                                .asText())
                        .isEqualTo(hostname);
            }
        } finally {
            second.destroy();
            second.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aMetricsPortInUseStopsTheStartWithOneLineNamingPortAndFlag() throws Exception {
        Path otherLog = dir.resolve("port.log");
        try (ServerSocket taken = new ServerSocket(0)) {
            Process second = agentProcess(
                            "--socket",
                            dir.resolve("port.sock").toString(),
                            "--policy-file",
                            policyFile.toString(),
                            "--metrics-port",
                            String.valueOf(taken.getLocalPort()))
                    .redirectOutput(otherLog.toFile())
                    .start();
            assertThat(second.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(second.exitValue()).isEqualTo(1);
        }
        String output = Files.readString(otherLog);
        assertThat(output)
                .contains("cannot start: the metrics endpoint cannot listen on port", "--metrics-port")
                .doesNotContain("\tat ")
                .doesNotContain("Exception in");
    }

    @Test
    void theMetricsEndpointListensOnlyOnTheAddressGiven() throws Exception {
        int port = freePort();
        Path otherLog = dir.resolve("address.log");
        Process second = agentProcess(
                        "--socket",
                        dir.resolve("address.sock").toString(),
                        "--policy-file",
                        policyFile.toString(),
                        "--metrics-port",
                        String.valueOf(port),
                        "--metrics-address",
                        "127.0.0.1")
                .redirectOutput(otherLog.toFile())
                .start();
        try {
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> !listeningAddresses(port).isEmpty() || !second.isAlive());
            assertThat(second.isAlive())
                    .as("agent exited: %s", Files.readString(otherLog))
                    .isTrue();
            // IPv4 loopback, as an IPv4 socket or IPv4-mapped on an IPv6 one; never the wildcard.
            assertThat(listeningAddresses(port)).isSubsetOf("0100007F", "0000000000000000FFFF00000100007F");
            HttpResponse<String> health = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).isEqualTo(200);
        } finally {
            second.destroy();
            second.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aMetricsAddressThatIsNoIpAddressStopsTheStart() throws Exception {
        Path otherLog = dir.resolve("bad-address.log");
        Process second = agentProcess(
                        "--socket",
                        dir.resolve("bad-address.sock").toString(),
                        "--policy-file",
                        policyFile.toString(),
                        "--metrics-port",
                        String.valueOf(freePort()),
                        "--metrics-address",
                        "localhost")
                .redirectOutput(otherLog.toFile())
                .start();
        assertThat(second.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(second.exitValue()).isEqualTo(2);
        assertThat(Files.readString(otherLog))
                .contains("--metrics-address localhost is not an IP address")
                .doesNotContain("\tat ");
    }

    private static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket(0)) {
            return probe.getLocalPort();
        }
    }

    /** The local addresses (hex, as /proc/net/tcp{,6} show them) of the TCP sockets listening on this port. */
    private static List<String> listeningAddresses(int port) throws IOException {
        String portHex = String.format("%04X", port);
        List<String> addresses = new java.util.ArrayList<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            List<String> lines = Files.readAllLines(Path.of(table));
            for (String line : lines.subList(1, lines.size())) { // after the header
                String[] fields = line.trim().split("\\s+");
                String[] local = fields[1].split(":");
                if (local[1].equals(portHex) && fields[3].equals("0A")) { // 0A: LISTEN
                    addresses.add(local[0]);
                }
            }
        }
        return addresses;
    }

    @Test
    void aConnectionLimitBelowOneStopsTheStart() throws Exception {
        Path otherLog = dir.resolve("limit.log");
        Process second = agentProcess(
                        "--socket",
                        dir.resolve("limit.sock").toString(),
                        "--policy-file",
                        policyFile.toString(),
                        "--metrics-port",
                        "0",
                        "--max-connections",
                        "0")
                .redirectOutput(otherLog.toFile())
                .start();
        assertThat(second.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(second.exitValue()).isEqualTo(2);
        assertThat(Files.readString(otherLog)).contains("--max-connections must be at least 1, not 0");
    }

    @Test
    void countingTheResidentPagesOfALargeVmDoesNotGrowTheAgentsFootprint() throws Exception {
        long gib = 1L << 30;
        int big = KernelFiles.memfdCreate("guest-ram-1g", KernelFiles.MFD_CLOEXEC);
        try {
            KernelFiles.ftruncate(big, gib);
            try (Mapping vmm = Mapping.mapShared(big, 0, gib, Mapping.Access.READ_WRITE)) {
                vmm.populate(0, gib, true); // the guest touched all its memory
            }
            try (VmmClient client = new VmmClient(socket)) {
                client.request(apply("warm", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), ram);
                long before = agentHighWaterKib();
                JsonNode response = client.request(apply("big", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), big);
                assertThat(response.path("ok").asBoolean())
                        .as(response.toString())
                        .isTrue();
                long counted = response.path("regions")
                        .get(0)
                        .path("pagesByHostNode")
                        .path("0")
                        .asLong();
                assertThat(counted).as("every touched page counted").isEqualTo(gib / 4096);
                // Bounded by the census window, not by the VM: 1 GiB faulted into one mapping would add 1 GiB.
                assertThat(agentHighWaterKib() - before)
                        .as("VmHWM growth in KiB")
                        .isLessThan(256 * 1024);
            }
        } finally {
            KernelFiles.close(big);
        }
    }

    private long agentHighWaterKib() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(agent.pid()), "status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmHWM in the agent's status");
    }

    private void replacePolicyFile(String content) throws IOException {
        Path next = Files.writeString(dir.resolve("policy.yaml.new"), content);
        Files.move(next, policyFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private long agentFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", String.valueOf(agent.pid()), "fd"))) {
            return fds.count();
        }
    }
}
