package io.numaguest.agent.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.numaguest.agent.nativeaccess.FileStat;
import io.numaguest.agent.nativeaccess.SeqPacketSocket;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The socket file's life, against an attacker who can write in its directory: real files, links,
 * owners and modes in a temporary directory (the tests run as root, so chown works).
 */
class SocketFileTest {
    private static final int NOGROUP = 65534;

    @TempDir
    Path dir;

    private AgentServer server;

    @AfterEach
    void close() throws IOException {
        if (server != null) {
            server.close();
        }
    }

    private AgentServer bind(Path socket, OptionalInt group) throws IOException {
        server = new AgentServer(
                socket,
                new ConnectionLimits(8, 8, java.time.Duration.ofMinutes(1)),
                new AgentMetrics(new SimpleMeterRegistry()));
        server.bind(group);
        return server;
    }

    private Path privateDirectory(String name) throws IOException {
        return Files.createDirectory(
                dir.resolve(name), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }

    private static String mode(Path path) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
    }

    private static boolean isSocket(Path path) {
        try {
            return FileStat.isSocket((Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS));
        } catch (IOException absent) {
            return false;
        }
    }

    private static int gid(Path path) throws IOException {
        return (Integer) Files.getAttribute(path, "unix:gid", LinkOption.NOFOLLOW_LINKS);
    }

    @Test
    void aLinkSwappedInForTheStagingSocketNeverPassesTheModeOrGroupToItsTarget() throws Exception {
        Path victim = Files.writeString(dir.resolve("victim"), "secret");
        Files.setPosixFilePermissions(victim, PosixFilePermissions.fromString("rw-------"));
        Path run = privateDirectory("run");
        Path socket = run.resolve("agent.sock");
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger swaps = new AtomicInteger();
        // Whoever writes in the directory: each staging socket (a hidden name) that appears is replaced by a link to
        // the victim.
        // A staging name once seen is watched with lstat alone, a link ready, so that the swap lands within
        // microseconds of
        // the bind: that is the window in which an agent that sets mode and group through the path follows the link.
        Thread attacker = new Thread(() -> {
            Path link = dir.resolve("link");
            Set<Path> stagingNames = new HashSet<>();
            while (!stop.get()) {
                try {
                    if (stagingNames.isEmpty()) {
                        try (Stream<Path> entries = Files.list(run)) {
                            entries.filter(p -> p.getFileName().toString().startsWith("."))
                                    .forEach(stagingNames::add);
                        }
                    }
                    if (!Files.exists(link, LinkOption.NOFOLLOW_LINKS)) {
                        Files.createSymbolicLink(link, victim);
                    }
                    for (Path staging : stagingNames) {
                        if (isSocket(staging)) {
                            Files.move(link, staging, StandardCopyOption.ATOMIC_MOVE);
                            swaps.incrementAndGet();
                        }
                    }
                } catch (IOException e) {
                    // The entry went away first: try again.
                }
            }
        });
        attacker.start();
        int bound = 0;
        List<String> wrong = new ArrayList<>();
        try {
            // At least 300 binds, and on until the attacker has hit a few staging sockets (on a
            // loaded machine it may see none in 300 binds: the name lives for microseconds).
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (int i = 0; i < 300 || (swaps.get() < 3 && System.nanoTime() < deadline); i++) {
                try {
                    bind(socket, OptionalInt.of(NOGROUP));
                    bound++;
                    if (!mode(socket).equals("rw-rw----") || gid(socket) != NOGROUP) {
                        wrong.add(mode(socket) + " group " + gid(socket));
                    }
                } catch (IOException refused) {
                    assertThat(refused.getMessage()).contains(run.toString());
                }
                server.close();
                server = null;
                try (Stream<Path> left = Files.list(run)) {
                    for (Path entry : left.toList()) {
                        Files.deleteIfExists(
                                entry); // a link the attacker left at the staging name would refuse the next bind
                    }
                }
            }
        } finally {
            stop.set(true);
            attacker.join();
        }
        assertThat(swaps.get()).as("the attacker swapped some staging socket").isPositive();
        assertThat(mode(victim)).isEqualTo("rw-------");
        assertThat(gid(victim)).isZero();
        assertThat(wrong)
                .as("sockets the agent put in place that are not its own")
                .isEmpty();
        assertThat(bound).as("binds that the attacker missed still succeed").isPositive();
    }

    @Test
    void theSocketGetsItsModeAndGroupAndTheDirectoryIsCreatedPrivate() throws Exception {
        Path socket = dir.resolve("new/agent.sock");
        bind(socket, OptionalInt.of(NOGROUP));
        assertThat(mode(socket)).isEqualTo("rw-rw----");
        assertThat(gid(socket)).isEqualTo(NOGROUP);
        assertThat(mode(socket.getParent())).isEqualTo("rwxr-x---");
        assertThat(gid(socket.getParent())).isEqualTo(NOGROUP);
    }

    @Test
    void aDirectoryOthersCanWriteIsRefusedByName() throws Exception {
        for (String mode : new String[] {"rwxrwxrwx", "rwxrwxrwt", "rwxrwx---"}) {
            Path run = privateDirectory("run-" + mode.replace('-', '_'));
            Files.setPosixFilePermissions(run, PosixFilePermissions.fromString(mode.replace('t', 'x')));
            if (mode.endsWith("t")) {
                new ProcessBuilder("chmod", "+t", run.toString()).start().waitFor();
            }
            assertThatThrownBy(() -> bind(run.resolve("agent.sock"), OptionalInt.empty()))
                    .hasMessageContaining("socket directory " + run)
                    .hasMessageContaining("chmod go-w");
            assertThat(run.resolve("agent.sock")).doesNotExist();
        }
    }

    @Test
    void aDirectoryOwnedBySomeoneElseIsRefusedByName() throws Exception {
        Path run = privateDirectory("theirs");
        Files.setAttribute(run, "unix:uid", 4242);
        assertThatThrownBy(() -> bind(run.resolve("agent.sock"), OptionalInt.empty()))
                .hasMessageContaining("socket directory " + run)
                .hasMessageContaining("owned by uid 4242");
        assertThat(run.resolve("agent.sock")).doesNotExist();
    }

    @Test
    void aFileThatIsNotASocketIsNeverDeleted() throws Exception {
        Path run = privateDirectory("run");
        Path socket = run.resolve("agent.sock");
        Files.writeString(socket, "vms: []\n");
        assertThatThrownBy(() -> bind(socket, OptionalInt.empty()))
                .hasMessageContaining("is a regular file, not a socket");
        assertThat(Files.readString(socket)).isEqualTo("vms: []\n");
        Files.delete(socket);
        Path target = Files.writeString(dir.resolve("target"), "keep");
        Files.createSymbolicLink(socket, target);
        assertThatThrownBy(() -> bind(socket, OptionalInt.empty()))
                .hasMessageContaining("is a symbolic link, not a socket");
        assertThat(Files.isSymbolicLink(socket)).isTrue();
        assertThat(Files.readString(target)).isEqualTo("keep");
    }

    @Test
    void aStaleSocketIsReplacedAndALiveOneIsNot() throws Exception {
        Path run = privateDirectory("run");
        Path socket = run.resolve("agent.sock");
        SeqPacketSocket.listen(socket, 1, 0600).close(); // its file stays behind, nobody listening: stale
        bind(socket, OptionalInt.empty());
        assertThatCode(() -> SeqPacketSocket.connect(socket).close()).doesNotThrowAnyException();
        AgentServer second = new AgentServer(
                socket,
                new ConnectionLimits(8, 8, java.time.Duration.ofMinutes(1)),
                new AgentMetrics(new SimpleMeterRegistry()));
        assertThatThrownBy(() -> second.bind(OptionalInt.empty())).hasMessageContaining("another agent");
    }

    @Test
    void atExitTheAgentRemovesItsOwnSocketAndNotANewerAgentsSocket() throws Exception {
        Path run = privateDirectory("run");
        Path socket = run.resolve("agent.sock");
        bind(socket, OptionalInt.empty()).close();
        assertThat(socket).doesNotExist();

        bind(socket, OptionalInt.empty());
        Path newer = run.resolve("newer.sock");
        try (SeqPacketSocket newerAgent = SeqPacketSocket.listen(newer, 4, 0660)) {
            Files.move(newer, socket, StandardCopyOption.ATOMIC_MOVE); // a newer agent took the path over
            server.close();
            server = null;
            assertThat(Files.exists(socket, LinkOption.NOFOLLOW_LINKS)).isTrue();
            // Still the newer agent's: connect succeeds.
            assertThatCode(() -> SeqPacketSocket.connect(socket).close()).doesNotThrowAnyException();
        }
    }

    @Test
    void everySocketPathThatFitsSunPathCanBeBound() throws Exception {
        Path run = privateDirectory("run");
        int limit = SeqPacketSocket.maxPathBytes();
        String prefix = run.toAbsolutePath() + "/";
        Path longest = Path.of(prefix + "a".repeat(limit - prefix.length() - ".sock".length()) + ".sock");
        assertThat(longest.toString()).hasSize(limit);
        bind(longest, OptionalInt.empty());
        assertThatCode(() -> SeqPacketSocket.connect(longest).close()).doesNotThrowAnyException();
        server.close();
        Path tooLong = Path.of(longest + "x");
        assertThatThrownBy(() -> bind(tooLong, OptionalInt.empty()))
                .hasMessageContaining("--socket " + tooLong)
                .hasMessageContaining("at most " + limit);
    }

    @Test
    void aShortSocketNameStagedPastTheLimitIsExplained() throws Exception {
        Path run = privateDirectory("run");
        String prefix = run.toAbsolutePath() + "/";
        Path socket = Path.of(prefix + "d".repeat(SeqPacketSocket.maxPathBytes() - prefix.length() - 2) + "/s");
        assertThatThrownBy(() -> bind(socket, OptionalInt.empty()))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(
                        "binds it first as ." + ProcessHandle.current().pid())
                .hasMessageContaining("choose a path of at most");
    }
}
