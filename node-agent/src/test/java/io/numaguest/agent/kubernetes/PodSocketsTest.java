package io.numaguest.agent.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.numaguest.agent.memory.RegionEnforcer;
import io.numaguest.agent.nativeaccess.FileStat;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.request.ApplyObserver;
import io.numaguest.agent.server.AgentMetrics;
import io.numaguest.agent.server.ConnectionLimits;
import io.numaguest.agent.server.RequestHandler;
import io.numaguest.agent.testing.VmmClient;
import io.numaguest.agent.topology.SysfsTopology;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The per-pod sockets on a real kernel: a temporary directory stands in for the kubelet's pods
 * directory, laid out as the kubelet lays out a pod's emptyDir volumes. That a process of the pod
 * is served through its socket is e2e PodSocketIT's (it needs a pod cgroup).
 */
class PodSocketsTest {
    private static final String POD = "6f1c2a9e-4b7d-4e21-9a0c-3d5e7f901234";
    private static final String SHARE = "kubevirt-plugin-sockets/numaguest";

    @TempDir
    Path root;

    private Path pods;
    private final Set<String> targets = ConcurrentHashMap.newKeySet();
    private PodSockets sockets;
    private final java.util.List<Integer> heldFds = new java.util.ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        pods = Files.createDirectory(root.resolve("pods"));
        AgentMetrics metrics = new AgentMetrics(new SimpleMeterRegistry());
        sockets = new PodSockets(
                pods,
                List.of(SHARE, "hook-sidecar-sockets/numaguest"),
                () -> Set.copyOf(targets),
                check -> new RequestHandler(
                        new RequestHandler.AgentIdentity("test", "node-a"),
                        (vm, guestNode) -> java.util.Optional.empty(),
                        check,
                        new RegionEnforcer(OptionalLong.empty(), true),
                        SysfsTopology.host()::read,
                        metrics,
                        ApplyObserver.NONE),
                (peer, vm) -> {},
                new ConnectionLimits(2, 2, Duration.ofMinutes(1)),
                metrics);
    }

    @AfterEach
    void stop() {
        sockets.close();
        heldFds.forEach(KernelFiles::close);
    }

    private Path emptyDirs(String pod) throws Exception {
        return Files.createDirectories(pods.resolve(pod).resolve("volumes/kubernetes.io~empty-dir"));
    }

    /** The host path of a pod socket is longer than sun_path allows, as the kubelet's are: connect through a held directory. */
    private VmmClient connect(Path directory) throws Exception {
        int fd = KernelFiles.openDirectoryNoFollow(-1, directory.toString());
        heldFds.add(fd);
        return new VmmClient(Path.of("/proc/self/fd/" + fd, PodSocket.SOCKET_NAME));
    }

    @Test
    void theSocketOpensOnceTheSharedDirectoryExistsAndGoesWithTheTarget() throws Exception {
        targets.add(POD);
        Path share = emptyDirs(POD).resolve(SHARE);
        sockets.reconcile();
        assertThat(sockets.servedPods())
                .as("no shared directory yet: nothing to bind")
                .isEmpty();

        Files.createDirectories(share);
        sockets.reconcile();
        assertThat(sockets.servedPods()).containsExactly(POD);
        Path socket = share.resolve(PodSocket.SOCKET_NAME);
        int mode = (Integer) Files.getAttribute(socket, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        assertThat(FileStat.isSocket(mode)).isTrue();
        assertThat(mode & 07777).isEqualTo(PodSocket.SOCKET_MODE);

        targets.remove(POD);
        sockets.reconcile();
        assertThat(sockets.servedPods()).isEmpty();
        assertThat(socket).doesNotExist();
    }

    @Test
    void aProcessOutsideThePodIsRefusedAndToldWhichPodTheSocketServes() throws Exception {
        targets.add(POD);
        Path share = Files.createDirectories(emptyDirs(POD).resolve(SHARE));
        sockets.reconcile();
        try (VmmClient host = connect(share)) {
            JsonNode answer = host.request("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}");
            assertThat(answer.path("error").path("code").asText()).isEqualTo("FORBIDDEN");
            assertThat(answer.path("error").path("message").asText())
                    .contains("serves only the processes of pod " + POD);
        }
    }

    @Test
    void theLegacySidecarsDirectoryIsUsedWhenThePluginOneIsAbsent() throws Exception {
        targets.add(POD);
        Path share = Files.createDirectories(emptyDirs(POD).resolve("hook-sidecar-sockets/numaguest"));
        sockets.reconcile();
        assertThat(share.resolve(PodSocket.SOCKET_NAME)).exists();
    }

    @Test
    void aSocketFileLeftByAnEarlierAgentIsReplacedAndOneThePodRemovedIsBoundAgain() throws Exception {
        targets.add(POD);
        Path share = Files.createDirectories(emptyDirs(POD).resolve(SHARE));
        Files.writeString(share.resolve(PodSocket.SOCKET_NAME), "left over");
        sockets.reconcile();
        Path socket = share.resolve(PodSocket.SOCKET_NAME);
        assertThat(FileStat.isSocket((Integer) Files.getAttribute(socket, "unix:mode", LinkOption.NOFOLLOW_LINKS)))
                .isTrue();

        Files.delete(socket);
        sockets.reconcile();
        assertThat(FileStat.isSocket((Integer) Files.getAttribute(socket, "unix:mode", LinkOption.NOFOLLOW_LINKS)))
                .as("bound again after the pod removed it")
                .isTrue();
    }

    @Test
    void aLinkThePodPutsWhereTheDirectoryShouldBeIsNeverFollowed() throws Exception {
        targets.add(POD);
        Path outside = Files.createDirectory(root.resolve("host-directory"));
        Path volume = Files.createDirectories(emptyDirs(POD).resolve("kubevirt-plugin-sockets"));
        Files.createSymbolicLink(volume.resolve("numaguest"), outside);
        sockets.reconcile();
        assertThat(sockets.servedPods()).isEmpty();
        try (var listing = Files.list(outside)) {
            assertThat(listing)
                    .as("nothing bound in the directory the link names")
                    .isEmpty();
        }
        // A link higher up (the volume itself) is not followed either.
        String other = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        targets.add(other);
        Files.createDirectories(outside.resolve("numaguest"));
        Files.createSymbolicLink(emptyDirs(other).resolve("kubevirt-plugin-sockets"), outside);
        sockets.reconcile();
        assertThat(sockets.servedPods()).isEmpty();
        assertThat(outside.resolve("numaguest").resolve(PodSocket.SOCKET_NAME)).doesNotExist();
    }

    @Test
    void aDirectorySwappedForALinkAfterTheBindLeavesTheLinksTargetAlone() throws Exception {
        targets.add(POD);
        Path share = Files.createDirectories(emptyDirs(POD).resolve(SHARE));
        sockets.reconcile();
        assertThat(sockets.servedPods()).containsExactly(POD);

        // The pod moves the directory away and puts a link to a host directory holding a socket of its name in its
        // place.
        Path outside = Files.createDirectory(root.resolve("host-directory"));
        Path hostFile = Files.writeString(outside.resolve(PodSocket.SOCKET_NAME), "a host file");
        Path moved = share.resolveSibling("moved");
        Files.move(share, moved);
        Files.createSymbolicLink(share, outside);
        try (VmmClient host = connect(moved)) {
            JsonNode answer = host.request("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}");
            assertThat(answer.path("error").path("code").asText())
                    .as("still served in the moved directory")
                    .isEqualTo("FORBIDDEN");
        }
        targets.remove(POD);
        sockets.reconcile();
        assertThat(hostFile)
                .as("the agent unlinks in the directory it holds, never through the link")
                .hasContent("a host file");
        assertThat(moved.resolve(PodSocket.SOCKET_NAME)).doesNotExist();
    }

    @Test
    void aPodUidThatIsNotAUidNeverBecomesAPath() throws Exception {
        Files.createDirectories(
                pods.resolve("../escape/volumes/kubernetes.io~empty-dir").resolve(SHARE));
        targets.add("../escape");
        sockets.reconcile();
        assertThat(sockets.servedPods()).isEmpty();
        assertThat(root.resolve("escape/volumes/kubernetes.io~empty-dir")
                        .resolve(SHARE)
                        .resolve(PodSocket.SOCKET_NAME))
                .doesNotExist();
    }
}
