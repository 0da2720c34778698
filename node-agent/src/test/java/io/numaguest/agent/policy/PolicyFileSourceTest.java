package io.numaguest.agent.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link PolicyFileSource}: reloads the policy file when it changes and keeps the last good policies otherwise. */
class PolicyFileSourceTest {
    private static final Duration POLL = Duration.ofMillis(50);
    private static final VmRef VM1 = new VmRef(null, "vm1");

    @TempDir
    Path dir;

    private Path file;
    /** Held strongly: java.util.logging keeps loggers only weakly. */
    private final Logger sourceLogger = Logger.getLogger(PolicyFileSource.class.getName());

    private final List<LogRecord> warnings = new CopyOnWriteArrayList<>();
    private final Handler warningCollector = new Handler() {
        @Override
        public void publish(LogRecord record) {
            if (record.getLevel().intValue() >= Level.WARNING.intValue()) {
                warnings.add(record);
            }
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeEach
    void setUp() {
        file = dir.resolve("policy.yaml");
        sourceLogger.addHandler(warningCollector);
    }

    @AfterEach
    void tearDown() {
        sourceLogger.removeHandler(warningCollector);
    }

    /** A policy file giving vm1's guest node 0 the policy and host nodes, e.g. ("Bind", "[0]"). */
    private static String vm1Node0(String policy, String hostNodes) {
        return """
                vms:
                  - name: vm1
                    guestNodes:
                      - guestNode: 0
                        policy: %s
                        hostNodes: %s
                """.formatted(policy, hostNodes);
    }

    private static GuestNodePolicy expected(MemoryPolicy policy, Integer... hostNodes) {
        return new GuestNodePolicy(0, policy, List.of(hostNodes), null, false);
    }

    private static Optional<GuestNodePolicy> node0(PolicyFileSource source) {
        return source.find(VM1, 0);
    }

    private void awaitWarningContaining(String text) {
        await().atMost(Duration.ofSeconds(5))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> warnings.stream().anyMatch(r -> r.getMessage().contains(text)));
    }

    @Test
    void findsThePoliciesOfTheFileItOpened() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0, 1]"));

        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 0, 1));
            assertThat(source.find(VM1, 1)).isEmpty();
            assertThat(source.find(new VmRef("other", "vm1"), 0)).isEmpty();
            assertThat(source.find(new VmRef(null, "vm2"), 0)).isEmpty();
        }
    }

    @Test
    void seesARewrittenFile() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));

        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.writeString(file, vm1Node0("Interleave", "[0, 1, 2]"));

            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .untilAsserted(
                            () -> assertThat(node0(source)).contains(expected(MemoryPolicy.Interleave, 0, 1, 2)));
        }
    }

    @Test
    void aBrokenEditKeepsTheLastGoodPoliciesAndTheFixIsUsed() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));

        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.writeString(file, vm1Node0("Bnd", "[1]"));
            awaitWarningContaining("'Bnd' is not one of");

            assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 0));
            // And it stays that way on the following polls.
            await().during(Duration.ofMillis(300))
                    .atMost(Duration.ofSeconds(2))
                    .until(() -> node0(source).equals(Optional.of(expected(MemoryPolicy.Bind, 0))));

            Files.writeString(file, vm1Node0("PreferredMany", "[1, 2]"));

            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .untilAsserted(
                            () -> assertThat(node0(source)).contains(expected(MemoryPolicy.PreferredMany, 1, 2)));
        }
    }

    @Test
    void invalidYamlKeepsTheLastGoodPolicies() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));

        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.writeString(file, "vms:\n  - name: vm1\n    guestNodes: [\n");
            awaitWarningContaining("not valid YAML");

            assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 0));
        }
    }

    @Test
    void aDeletedFileKeepsTheLastGoodPoliciesUntilItComesBack() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));

        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.delete(file);
            awaitWarningContaining("cannot be read");
            assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 0));

            Files.writeString(file, vm1Node0("Bind", "[2]"));

            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .untilAsserted(() -> assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 2)));
        }
    }

    @Test
    void seesAnAtomicReplace() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));

        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Path next = dir.resolve(".policy.yaml.tmp");
            // Same size as the original: only the inode tells the two files apart (and perhaps the mtime).
            Files.writeString(next, vm1Node0("Bind", "[1]"));
            Files.move(next, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .untilAsserted(() -> assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 1)));
        }
    }

    @Test
    void seesASymlinkSwapLikeAConfigMapUpdate() throws Exception {
        Path v1 = Files.createDirectory(dir.resolve("..v1"));
        Path v2 = Files.createDirectory(dir.resolve("..v2"));
        Files.writeString(v1.resolve("policy.yaml"), vm1Node0("Bind", "[0]"));
        Files.writeString(v2.resolve("policy.yaml"), vm1Node0("Bind", "[3]"));
        Files.createSymbolicLink(dir.resolve("..data"), v1.getFileName());
        Files.createSymbolicLink(file, Path.of("..data", "policy.yaml"));

        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 0));

            Path swap = dir.resolve("..data_tmp");
            Files.createSymbolicLink(swap, v2.getFileName());
            Files.move(
                    swap, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .untilAsserted(() -> assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 3)));
        }
    }

    @Test
    void seesASameSizeRewriteWithinOneMtimeTick() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));
        FileTime mtime = Files.getLastModifiedTime(file);

        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.writeString(file, vm1Node0("Bind", "[1]"));
            Files.setLastModifiedTime(file, mtime);

            await().atMost(Duration.ofSeconds(3))
                    .pollInterval(Duration.ofMillis(20))
                    .untilAsserted(() -> assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 1)));
        }
    }

    @Test
    void openingABrokenFileFails() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0, 0]"));

        assertThatThrownBy(() -> PolicyFileSource.open(file, POLL))
                .isInstanceOf(InvalidPolicyFileException.class)
                .hasMessageStartingWith("vms[0].guestNodes[0]:");
    }

    @Test
    void openingInvalidYamlFails() throws Exception {
        Files.writeString(file, "vms: [\n");

        assertThatThrownBy(() -> PolicyFileSource.open(file, POLL))
                .isInstanceOf(InvalidPolicyFileException.class)
                .hasMessageStartingWith("not valid YAML");
    }

    @Test
    void openingAMissingFileFails() {
        assertThatThrownBy(() -> PolicyFileSource.open(dir.resolve("absent.yaml"), POLL))
                .isInstanceOf(IOException.class);
    }

    @Test
    void anEmptyFileCannotStartTheAgent() throws Exception {
        Files.writeString(file, "# nothing yet\n");
        assertThatThrownBy(() -> PolicyFileSource.open(file, POLL))
                .isInstanceOf(InvalidPolicyFileException.class)
                .hasMessageContaining("empty");
    }

    @Test
    void aTruncatedFileKeepsTheLastGoodPolicies() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));
        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.writeString(file, "");
            awaitWarningContaining("empty or holds only comments");
            assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 0));
            Files.writeString(file, "vms: []\n");
            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> node0(source).isEmpty());
        }
    }

    @Test
    void aLinkToADeviceIsRefusedAndTheReloaderKeepsWorking() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));
        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.delete(file);
            Files.createSymbolicLink(file, Path.of("/dev/zero"));
            awaitWarningContaining("not a regular file");
            Files.delete(file);
            Files.writeString(file, vm1Node0("Bind", "[1]"));
            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .untilAsserted(() -> assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 1)));
        }
    }

    @Test
    void aFileOverTheLimitIsNotParsed() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));
        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.writeString(
                    file, "# " + "x".repeat(PolicyFileSource.MAX_FILE_BYTES) + "\n" + vm1Node0("Bind", "[1]"));
            awaitWarningContaining("larger than the limit of " + PolicyFileSource.MAX_FILE_BYTES + " bytes");
            assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 0));
        }
    }

    @Test
    void aLastingProblemIsLoggedOnceWithoutAStackTrace() throws Exception {
        Files.writeString(file, vm1Node0("Bind", "[0]"));
        try (PolicyFileSource source = PolicyFileSource.open(file, POLL)) {
            Files.delete(file);
            Files.createDirectory(file);
            awaitWarningContaining("cannot be read");
            Thread.sleep(20 * POLL.toMillis()); // many more polls meet the same problem
            Files.delete(file);
            Files.writeString(file, vm1Node0("Bind", "[2]"));
            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .untilAsserted(() -> assertThat(node0(source)).contains(expected(MemoryPolicy.Bind, 2)));
        }
        List<LogRecord> unreadable = warnings.stream()
                .filter(r -> r.getMessage().contains("cannot be read"))
                .toList();
        assertThat(unreadable).hasSize(1);
        assertThat(unreadable.get(0).getThrown()).isNull();
    }
}
