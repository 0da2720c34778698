package io.numaguest.agent.server;

import static io.numaguest.agent.testing.VmmClient.apply;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.numaguest.agent.memory.RegionEnforcer;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.NumaMode;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.request.ApplyObserver;
import io.numaguest.agent.testing.OpenFds;
import io.numaguest.agent.testing.VmmClient;
import io.numaguest.agent.topology.SysfsTopology;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.nio.channels.Pipe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent's socket server in this JVM, talked to over a real SEQPACKET socket with real memfds. */
class AgentServerTest {
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    private Path socket;
    private AgentServer server;
    private AgentMetrics metrics;
    private final Map<Integer, GuestNodePolicy> vm1 = new ConcurrentHashMap<>();
    private final List<Integer> memfds = new ArrayList<>();
    private PolicySource policies = (vm, guestNode) ->
            vm.equals(new VmRef("default", "vm1")) ? Optional.ofNullable(vm1.get(guestNode)) : Optional.empty();
    private Set<Integer> allowedUids = Set.of(0);
    private Set<Integer> allowedGids = Set.of();
    private java.util.OptionalInt socketGroup = java.util.OptionalInt.empty();

    @BeforeEach
    void policies() {
        vm1.put(0, new GuestNodePolicy(0, MemoryPolicy.Bind, List.of(0), Set.of(), false));
        vm1.put(1, new GuestNodePolicy(1, MemoryPolicy.Interleave, List.of(0), Set.of(), false));
        vm1.put(2, new GuestNodePolicy(2, MemoryPolicy.Preferred, List.of(0), Set.of(), false));
        socket = dir.resolve("agent.sock");
    }

    private void startAgent(int maxConnections) throws Exception {
        startAgent(maxConnections, maxConnections, java.time.Duration.ofMinutes(1));
    }

    private void startAgent(int maxConnections, int perPeer, java.time.Duration idleTimeout) throws Exception {
        startAgent(maxConnections, perPeer, idleTimeout, new SimpleMeterRegistry());
    }

    private void startAgent(
            int maxConnections, int perPeer, java.time.Duration idleTimeout, SimpleMeterRegistry registry)
            throws Exception {
        metrics = new AgentMetrics(registry);
        server = new AgentServer(socket, new ConnectionLimits(maxConnections, perPeer, idleTimeout), metrics);
        server.bind(socketGroup);
        server.start(new RequestHandler(
                new RequestHandler.AgentIdentity("test", "node-a"),
                (vm, guestNode) -> policies.find(vm, guestNode),
                new AllowListAuthorizer(allowedUids, allowedGids),
                new RegionEnforcer(OptionalLong.empty(), true),
                SysfsTopology.host()::read,
                metrics,
                ApplyObserver.NONE));
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        memfds.forEach(KernelFiles::close);
    }

    private int memfd(long size) throws NativeException {
        int fd = KernelFiles.memfdCreate("guest-ram", KernelFiles.MFD_CLOEXEC);
        KernelFiles.ftruncate(fd, size);
        memfds.add(fd);
        return fd;
    }

    private static NumaMode modeAt(int fd, long offset) throws Exception {
        try (Mapping mapping = Mapping.mapShared(fd, offset, 4096, Mapping.Access.NONE)) {
            return mapping.policyAt(0).mode();
        }
    }

    @Test
    void helloDescribesThisHost() throws Exception {
        startAgent(8);
        try (VmmClient vmm = new VmmClient(socket)) {
            JsonNode hello = vmm.request("{\"version\":1,\"id\":\"h\",\"op\":\"hello\"}");
            assertThat(hello.path("ok").asBoolean()).isTrue();
            assertThat(hello.path("node").asText()).isEqualTo("node-a");
            assertThat(hello.path("numaNodes"))
                    .hasSize(SysfsTopology.host().read().nodes().size());
            assertThat(hello.path("numaNodes").get(0).path("memTotalBytes").asLong())
                    .isPositive();
            assertThat(hello.path("mechanisms").toString())
                    .contains("mbind", "hugetlb-prefault")
                    .doesNotContain("fbind");
        }
    }

    @Test
    void socketFileIsGroupWritableOnly() throws Exception {
        startAgent(8);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)))
                .isEqualTo("rw-rw----");
    }

    @Test
    void applyPutsEachGuestNodesPolicyOnItsRegionAndReportsIt() throws Exception {
        startAgent(8);
        int ram = memfd(8 * MIB);
        try (VmmClient vmm = new VmmClient(socket)) {
            JsonNode response = vmm.request(
                    apply(
                            "a",
                            "vm1",
                            "[{\"fd\":0,\"guestNode\":0,\"length\":" + 4 * MIB
                                    + "},{\"fd\":0,\"guestNode\":1,\"offset\":" + 4 * MIB + "}]"),
                    ram);
            assertThat(response.path("ok").asBoolean()).as(response.toString()).isTrue();
            JsonNode first = response.path("regions").get(0);
            assertThat(first.path("mechanism").asText()).isEqualTo("mbind");
            assertThat(first.path("verified").asBoolean()).isTrue();
            assertThat(first.path("fdKind").asText()).isEqualTo("memfd");
            assertThat(first.path("pagesByHostNode").path("0").asLong()).isZero();
            assertThat(response.path("regions").get(1).path("length").asLong()).isEqualTo(4 * MIB);
        }
        assertThat(modeAt(ram, 0)).isEqualTo(NumaMode.BIND);
        assertThat(modeAt(ram, 4 * MIB)).isEqualTo(NumaMode.INTERLEAVE);
    }

    @Test
    void nothingIsAppliedWhenAnyRegionIsInvalid() throws Exception {
        startAgent(8);
        int ram = memfd(8 * MIB);
        try (VmmClient vmm = new VmmClient(socket)) {
            JsonNode response = vmm.request(
                    apply(
                            "v",
                            "vm1",
                            "[{\"fd\":0,\"guestNode\":0,\"length\":" + 4 * MIB
                                    + "},{\"fd\":0,\"guestNode\":7,\"offset\":" + 4 * MIB + "}]"),
                    ram);
            assertThat(response.path("error").path("code").asText()).isEqualTo("NO_POLICY");
            assertThat(response.path("error").path("message").asText()).contains("guest node 7", "default/vm1");
        }
        assertThat(modeAt(ram, 0)).isEqualTo(NumaMode.DEFAULT);
    }

    @Test
    void aFailureWhileApplyingSaysRegionByRegionWhatHappened() throws Exception {
        startAgent(8);
        int ram = memfd(4 * MIB);
        int huge = KernelFiles.memfdCreate("guest-ram-huge", KernelFiles.MFD_CLOEXEC | KernelFiles.MFD_HUGETLB);
        memfds.add(huge);
        // Far more huge pages than any test host reserves: mapping it fails with ENOMEM.
        KernelFiles.ftruncate(huge, 4096 * 2 * MIB);
        try (VmmClient vmm = new VmmClient(socket)) {
            JsonNode response = vmm.request(
                    apply(
                            "p",
                            "vm1",
                            "[{\"fd\":0,\"guestNode\":0,\"length\":" + 2 * MIB + "},"
                                    + "{\"fd\":1,\"guestNode\":1},{\"fd\":0,\"guestNode\":2,\"offset\":" + 2 * MIB
                                    + "}]"),
                    ram,
                    huge);
            assertThat(response.path("ok").asBoolean()).isFalse();
            assertThat(response.path("error").path("code").asText()).isEqualTo("POLICY_REJECTED");
            assertThat(response.path("error").path("errno").asInt()).isEqualTo(12);
            JsonNode regions = response.path("regions");
            assertThat(regions.get(0).path("applied").asBoolean()).isTrue();
            assertThat(regions.get(1).path("applied").asBoolean()).isFalse();
            assertThat(regions.get(1).path("error").path("message").asText()).contains("region 1 (guest node 1)");
            assertThat(regions.get(2).path("applied").asBoolean()).isFalse();
            assertThat(regions.get(2).has("error")).isFalse();
        }
    }

    @Test
    void aHostNodeThatDoesNotExistIsRejectedByName() throws Exception {
        int missing = SysfsTopology.host().read().nodeIds().last() + 1;
        vm1.put(3, new GuestNodePolicy(3, MemoryPolicy.Bind, List.of(missing), Set.of(), false));
        startAgent(8);
        try (VmmClient vmm = new VmmClient(socket)) {
            JsonNode response = vmm.request(apply("r", "vm1", "[{\"fd\":0,\"guestNode\":3}]"), memfd(MIB));
            assertThat(response.path("error").path("code").asText()).isEqualTo("POLICY_REJECTED");
            assertThat(response.path("error").path("message").asText())
                    .contains("host node " + missing + " does not exist");
        }
    }

    @Test
    void everyErrorCodeReachesTheClientAndTheConnectionKeepsServing() throws Exception {
        startAgent(8);
        Pipe pipe = Pipe.open();
        try (VmmClient vmm = new VmmClient(socket);
                Pipe.SourceChannel source = pipe.source();
                Pipe.SinkChannel sink = pipe.sink()) {
            int pipeFd = OpenFds.newestMatching("pipe:");
            assertThat(code(vmm.request("not json"))).isEqualTo("BAD_REQUEST");
            assertThat(vmm.request("not json").path("id").isNull()).isTrue();
            assertThat(code(vmm.request("{\"version\":9,\"id\":\"x\",\"op\":\"hello\"}")))
                    .isEqualTo("UNSUPPORTED_VERSION");
            assertThat(code(vmm.request(apply("b", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), pipeFd)))
                    .isEqualTo("BAD_FD");
            assertThat(code(vmm.request(apply("b", "vm1", "[{\"fd\":1,\"guestNode\":0}]"), memfd(MIB))))
                    .isEqualTo("BAD_FD");
            assertThat(code(vmm.request(apply("n", "vm2", "[{\"fd\":0,\"guestNode\":0}]"), memfd(MIB))))
                    .isEqualTo("NO_POLICY");
            assertThat(code(vmm.request(new byte[70_000]))).isEqualTo("BAD_REQUEST");
            int[] seventeen = new int[17];
            java.util.Arrays.fill(seventeen, memfd(MIB));
            JsonNode tooMany = vmm.request(apply("f", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), seventeen);
            assertThat(tooMany.path("error").path("message").asText()).contains("more than 16");
            JsonNode hello = vmm.request("{\"version\":1,\"id\":\"still-here\",\"op\":\"hello\"}");
            assertThat(hello.path("ok").asBoolean()).isTrue();
            assertThat(hello.path("id").asText()).isEqualTo("still-here");
        }
    }

    @Test
    void aReadOnlyDescriptorMayBeQueriedButNotChanged() throws Exception {
        startAgent(8);
        Path shm = Files.createTempFile(Path.of("/dev/shm"), "numaguest-test", ".ram");
        try (java.io.RandomAccessFile writer = new java.io.RandomAccessFile(shm.toFile(), "rw")) {
            writer.setLength(MIB);
        }
        try (java.io.RandomAccessFile reader = new java.io.RandomAccessFile(shm.toFile(), "r");
                VmmClient vmm = new VmmClient(socket)) {
            int readOnly = OpenFds.fdOf(shm);
            JsonNode refused = vmm.request(apply("ro", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), readOnly);
            assertThat(code(refused)).isEqualTo("BAD_FD");
            assertThat(refused.path("error").path("message").asText()).contains("read-only");
            JsonNode queried = vmm.request(
                    apply("q", "vm1", "[{\"fd\":0,\"guestNode\":0}]").replace("apply", "query"), readOnly);
            assertThat(queried.path("ok").asBoolean()).as(queried.toString()).isTrue();
            assertThat(queried.path("regions").get(0).path("fdKind").asText()).isEqualTo("shmem");
        } finally {
            Files.delete(shm);
        }
    }

    @Test
    void aPeerNotOnTheAllowListIsForbidden() throws Exception {
        allowedUids = Set.of(4242); // the test runs as some other uid, and root is not on this list
        startAgent(8);
        try (VmmClient vmm = new VmmClient(socket)) {
            JsonNode response = vmm.receive(); // turned away as it connects, before any request
            assertThat(response.path("id").isNull()).isTrue();
            assertThat(code(response)).isEqualTo("FORBIDDEN");
            assertThat(response.path("error").path("message").asText())
                    .contains("process " + ProcessHandle.current().pid());
        }
    }

    @Test
    void aConnectionOverTheLimitGetsBusy() throws Exception {
        startAgent(2);
        try (VmmClient first = new VmmClient(socket);
                VmmClient second = new VmmClient(socket)) {
            first.request("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}");
            second.request("{\"version\":1,\"id\":\"2\",\"op\":\"hello\"}");
            try (VmmClient third = new VmmClient(socket)) {
                JsonNode busy = third.receive(); // sent unasked, right before the agent closes the connection
                assertThat(code(busy)).isEqualTo("BUSY");
                assertThat(busy.path("id").isNull()).isTrue();
            }
        }
    }

    @Test
    void aBugInAPolicySourceIsAnInternalErrorNotACrash() throws Exception {
        policies = (vm, guestNode) -> {
            throw new IllegalStateException("policy store exploded");
        };
        startAgent(8);
        try (VmmClient vmm = new VmmClient(socket)) {
            JsonNode response = vmm.request(apply("i", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), memfd(MIB));
            assertThat(code(response)).isEqualTo("INTERNAL");
            assertThat(response.path("error").path("message").asText()).contains("policy store exploded");
            assertThat(vmm.request("{\"version\":1,\"id\":\"h\",\"op\":\"hello\"}")
                            .path("ok")
                            .asBoolean())
                    .isTrue();
        }
        assertThat(metrics.fdsHeld().get()).isZero();
    }

    @Test
    void thousandsOfRequestsLeakNoDescriptor() throws Exception {
        startAgent(8);
        int ram = memfd(64 * MIB);
        try (VmmClient vmm = new VmmClient(socket)) {
            vmm.request(apply("warm", "vm1", "[{\"fd\":0,\"guestNode\":0}]"), ram);
            long before = OpenFds.count();
            for (int i = 0; i < 3000; i++) {
                String request =
                        i % 3 == 0 ? "garbage" : apply("r" + i, "vm1", "[{\"fd\":0,\"guestNode\":" + (i % 2) + "}]");
                vmm.request(request, ram, ram);
            }
            assertThat(OpenFds.count()).isEqualTo(before);
        }
        assertThat(metrics.fdsHeld().get()).isZero();
    }

    @Test
    void manyClientsAtOnceAreAllServed() throws Exception {
        startAgent(64);
        int ram = memfd(256 * MIB);
        ExecutorService clients = Executors.newFixedThreadPool(16);
        try {
            List<Future<List<String>>> done = new ArrayList<>();
            for (int c = 0; c < 16; c++) {
                int client = c;
                done.add(clients.submit(() -> {
                    List<String> wrong = new ArrayList<>();
                    try (VmmClient vmm = new VmmClient(socket)) {
                        for (int i = 0; i < 100; i++) {
                            String id = client + "-" + i;
                            JsonNode response =
                                    vmm.request(apply(id, "vm1", "[{\"fd\":0,\"guestNode\":" + (i % 3) + "}]"), ram);
                            if (!response.path("ok").asBoolean()
                                    || !response.path("id").asText().equals(id)) {
                                wrong.add(id + " -> " + response);
                            }
                        }
                    }
                    return wrong;
                }));
            }
            for (Future<List<String>> client : done) {
                assertThat(client.get()).isEmpty();
            }
        } finally {
            clients.shutdownNow();
        }
    }

    /** A client that sends its request at once after connect, as numaguest-ctl does, never reading first. */
    private static JsonNode requestAtOnce(Path socket) throws Exception {
        try (VmmClient vmm = new VmmClient(socket)) {
            return vmm.request("{\"version\":1,\"id\":\"at-once\",\"op\":\"hello\"}");
        }
    }

    @Test
    void busyReachesAClientThatSendsAtOnce() throws Exception {
        startAgent(1);
        try (VmmClient holder = new VmmClient(socket)) {
            holder.request("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}");
            for (int i = 0; i < 20; i++) {
                JsonNode busy = requestAtOnce(socket);
                assertThat(code(busy)).as("attempt %d", i).isEqualTo("BUSY");
                assertThat(busy.path("error").path("message").asText()).contains("maximum of 1 connections");
            }
        }
    }

    @Test
    void forbiddenReachesAClientThatSendsAtOnce() throws Exception {
        allowedUids = Set.of(4242);
        startAgent(8);
        for (int i = 0; i < 20; i++) {
            assertThat(code(requestAtOnce(socket))).as("attempt %d", i).isEqualTo("FORBIDDEN");
        }
    }

    @Test
    void anIdleConnectionIsClosedAndItsSlotFreed() throws Exception {
        startAgent(1, 1, java.time.Duration.ofMillis(300));
        try (VmmClient idle = new VmmClient(socket)) {
            idle.request("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}");
            // Bounded, so that an agent without an idle timeout fails the test instead of hanging it.
            ExecutorService reader = Executors.newSingleThreadExecutor();
            try {
                Future<?> eof = reader.submit(() -> {
                    idle.receive();
                    return null;
                });
                org.assertj.core.api.Assertions.assertThatThrownBy(
                                () -> eof.get(30, java.util.concurrent.TimeUnit.SECONDS))
                        .hasMessageContaining("closed the connection");
            } finally {
                reader.shutdownNow();
            }
        }
        await().atMost(java.time.Duration.ofSeconds(30))
                .until(() -> metrics.connections().get() == 0);
        assertThat(requestAtOnce(socket).path("ok").asBoolean()).isTrue();
    }

    @Test
    void onePeerCannotTakeEverySlot() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        startAgent(8, 2, java.time.Duration.ofMinutes(1), registry);
        try (VmmClient first = new VmmClient(socket);
                VmmClient second = new VmmClient(socket)) {
            first.request("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}");
            second.request("{\"version\":1,\"id\":\"2\",\"op\":\"hello\"}");
            JsonNode third = requestAtOnce(socket);
            assertThat(code(third)).isEqualTo("BUSY");
            assertThat(third.path("error").path("message").asText()).contains("per peer");
        }
        assertThat(registry.counter("numaguest_agent_connection_slots_exhausted", "limit", "peer")
                        .count())
                .isEqualTo(1.0);
        await().atMost(java.time.Duration.ofSeconds(30))
                .until(() -> metrics.connections().get() == 0);
        assertThat(requestAtOnce(socket).path("ok").asBoolean()).isTrue();
    }

    @Test
    void slotsThatRunOutAreCountedAndLoggedAtMostOnceAMinute() throws Exception {
        List<java.util.logging.LogRecord> warnings = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler collector = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord record) {
                if (record.getLevel() == java.util.logging.Level.WARNING) {
                    warnings.add(record);
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        java.util.logging.Logger log = java.util.logging.Logger.getLogger(AgentServer.class.getName());
        log.addHandler(collector);
        try {
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            startAgent(1, 1, java.time.Duration.ofMinutes(1), registry);
            try (VmmClient holder = new VmmClient(socket)) {
                holder.request("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}");
                for (int i = 0; i < 3; i++) {
                    assertThat(code(requestAtOnce(socket))).isEqualTo("BUSY");
                }
            }
            assertThat(registry.counter("numaguest_agent_connection_slots_exhausted", "limit", "total")
                            .count())
                    .isEqualTo(3.0);
            assertThat(warnings)
                    .singleElement()
                    .satisfies(warning -> assertThat(warning.getMessage())
                            .contains("--max-connections", "numaguest_agent_connection_slots_exhausted_total"));
        } finally {
            log.removeHandler(collector);
        }
    }

    @Test
    void connectionLimitsBelowOneAreRefused() {
        for (int bad : new int[] {0, -1}) {
            org.assertj.core.api.Assertions.assertThatThrownBy(
                            () -> new ConnectionLimits(bad, 8, java.time.Duration.ofMinutes(1)))
                    .hasMessageContaining("--max-connections must be at least 1");
            org.assertj.core.api.Assertions.assertThatThrownBy(
                            () -> new ConnectionLimits(8, bad, java.time.Duration.ofMinutes(1)))
                    .hasMessageContaining("--max-connections-per-peer must be at least 1");
        }
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new ConnectionLimits(8, 8, java.time.Duration.ZERO))
                .hasMessageContaining("--idle-timeout");
    }

    @Test
    void requestsInFlightAtStopAreAnswered() throws Exception {
        java.util.concurrent.CountDownLatch inFlight = new java.util.concurrent.CountDownLatch(3);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        policies = (vm, guestNode) -> {
            inFlight.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return Optional.ofNullable(vm1.get(guestNode));
        };
        startAgent(8);
        int ram = memfd(MIB);
        ExecutorService clients = Executors.newFixedThreadPool(4);
        try {
            List<Future<JsonNode>> answers = new ArrayList<>();
            for (int c = 0; c < 3; c++) {
                String id = "stop-" + c;
                answers.add(clients.submit(() -> {
                    try (VmmClient vmm = new VmmClient(socket)) {
                        return vmm.request(apply(id, "vm1", "[{\"fd\":0,\"guestNode\":0}]"), ram);
                    }
                }));
            }
            inFlight.await();
            Future<?> stopping = clients.submit(() -> {
                server.close();
                return null;
            });
            // Release the requests once the agent no longer accepts: it is stopping, and waits for them.
            await().atMost(java.time.Duration.ofSeconds(30)).until(() -> {
                try (VmmClient late = new VmmClient(socket)) {
                    return false;
                } catch (NativeException refused) {
                    return true;
                }
            });
            release.countDown();
            for (Future<JsonNode> answer : answers) {
                assertThat(answer.get().path("ok").asBoolean())
                        .as(answer.get().toString())
                        .isTrue();
            }
            stopping.get();
            assertThat(socket).doesNotExist();
            server = null;
        } finally {
            release.countDown();
            clients.shutdownNow();
        }
    }

    private static final int ALLOWED_GROUP = 4343;
    private static final int SOCKET_GROUP = 4444;

    /** The forking peer (src/test/resources/forking-peer.py) as uid 4242; returns the process left holding the connection. */
    private Process forkingPeer(String groups, boolean askFirst) throws Exception {
        // uid 4242 must reach the socket: the temporary directory is root's 0700.
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        Path script =
                Path.of(AgentServerTest.class.getResource("/forking-peer.py").toURI());
        Path exchange = Files.createDirectories(dir.resolve("exchange"));
        Files.setPosixFilePermissions(exchange, PosixFilePermissions.fromString("rwxrwxrwx"));
        return new ProcessBuilder(
                        "python3",
                        script.toString(),
                        socket.toString(),
                        "4242",
                        groups,
                        askFirst ? "yes" : "no",
                        exchange.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
    }

    /** Tells the child holding the connection to ask hello now, and returns its answer. */
    private String answerOfTheChild() throws Exception {
        Files.createFile(dir.resolve("exchange/go"));
        Path answer = dir.resolve("exchange/answer");
        await().atMost(java.time.Duration.ofSeconds(60)).until(() -> Files.exists(answer));
        return Files.readString(answer);
    }

    /** Starts a process of uid 4242 in the allowed group with exactly this pid (root may set ns_last_pid). */
    private static Process allowedProcessWithPid(int pid) throws Exception {
        for (int attempt = 0; attempt < 50; attempt++) {
            Files.writeString(Path.of("/proc/sys/kernel/ns_last_pid"), Integer.toString(pid - 1));
            Process process = new ProcessBuilder(
                            "setpriv",
                            "--reuid=4242",
                            "--regid=4242",
                            "--groups=" + ALLOWED_GROUP + "," + SOCKET_GROUP,
                            "sleep",
                            "60")
                    .start();
            if (process.pid() == pid) {
                return process;
            }
            process.destroyForcibly().waitFor(); // another process on the host took the pid first
        }
        throw new IllegalStateException("could not get pid " + pid + " for the impostor");
    }

    @Test
    void aProcessReusingThePeersPidInheritsNothing() throws Exception {
        allowedGids = Set.of(ALLOWED_GROUP);
        socketGroup = java.util.OptionalInt.of(SOCKET_GROUP);
        metrics = new AgentMetrics(new SimpleMeterRegistry());
        server = new AgentServer(socket, new ConnectionLimits(8, 8, java.time.Duration.ofMinutes(1)), metrics);
        server.bind(socketGroup); // connections queue; the agent looks at them once started
        Process peer = forkingPeer(Integer.toString(SOCKET_GROUP), false); // may connect, is not allowed
        java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(peer.getInputStream()));
        int connectedPid = Integer.parseInt(out.readLine().trim());
        peer.waitFor();
        Process impostor = allowedProcessWithPid(connectedPid);
        try {
            server.start(new RequestHandler(
                    new RequestHandler.AgentIdentity("test", "node-a"),
                    policies,
                    new AllowListAuthorizer(allowedUids, allowedGids),
                    new RegionEnforcer(OptionalLong.empty(), true),
                    SysfsTopology.host()::read,
                    metrics,
                    ApplyObserver.NONE));
            // The child still holds the connection; the pid SO_PEERCRED names is now the impostor's.
            assertThat(answerOfTheChild())
                    .doesNotContain("\"ok\":true")
                    .contains("FORBIDDEN")
                    .contains("has exited");
        } finally {
            impostor.destroyForcibly().waitFor();
        }
    }

    @Test
    void aVmmThatForksKeepsWhatItWasGranted() throws Exception {
        allowedGids = Set.of(ALLOWED_GROUP);
        socketGroup = java.util.OptionalInt.of(SOCKET_GROUP);
        startAgent(8);
        Process peer = forkingPeer(ALLOWED_GROUP + "," + SOCKET_GROUP, true); // allowed, asks once, forks, exits
        java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(peer.getInputStream()));
        out.readLine();
        peer.waitFor();
        assertThat(answerOfTheChild()).contains("\"ok\":true");
    }

    @Test
    void twoDescriptorsOfOneFileMayNotOverlap() throws Exception {
        startAgent(8);
        int ram = memfd(8 * MIB);
        Path sameFile = Path.of("/proc/self/fd/" + ram); // opening it again gives a second descriptor of the same inode
        try (java.io.RandomAccessFile second = new java.io.RandomAccessFile(sameFile.toFile(), "rw");
                VmmClient vmm = new VmmClient(socket)) {
            int other = OpenFds.newestMatching("/memfd:guest-ram");
            assertThat(other).isNotEqualTo(ram);
            JsonNode response = vmm.request(
                    apply(
                            "o",
                            "vm1",
                            "[{\"fd\":0,\"guestNode\":0,\"length\":" + 4 * MIB + "},"
                                    + "{\"fd\":1,\"guestNode\":1,\"offset\":" + 2 * MIB + ",\"length\":" + 4 * MIB
                                    + "}]"),
                    ram,
                    other);
            assertThat(code(response)).as(response.toString()).isEqualTo("BAD_REQUEST");
            assertThat(response.path("error").path("message").asText())
                    .contains("overlaps the region of guest node 0", "same file");
            JsonNode adjacent = vmm.request(
                    apply(
                            "a",
                            "vm1",
                            "[{\"fd\":0,\"guestNode\":0,\"length\":" + 4 * MIB + "},"
                                    + "{\"fd\":1,\"guestNode\":1,\"offset\":" + 4 * MIB + "}]"),
                    ram,
                    other);
            assertThat(adjacent.path("ok").asBoolean()).as(adjacent.toString()).isTrue();
        }
        assertThat(modeAt(ram, 0)).isEqualTo(NumaMode.BIND);
        assertThat(modeAt(ram, 4 * MIB)).isEqualTo(NumaMode.INTERLEAVE);
    }

    private static String code(JsonNode response) {
        return response.path("error").path("code").asText();
    }
}
