package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
 * libvirtd is always the system daemon, whose directories are fixed).
 */
class LibvirtDomainIT {
    private static final long MIB = 1024 * 1024;
    private static final Duration DAEMON_START_LIMIT = Duration.ofSeconds(60);
    private static Path base;
    private static Process libvirtd;
    private static boolean asNobody;

    @BeforeAll
    static void startPrivateLibvirtd() throws Exception {
        List<String> missing = Stream.of("libvirtd", "virsh", "qemu-system-x86_64").filter(c -> !onPath(c)).toList();
        String reason = "missing " + missing + " (Debian: libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86;"
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
            Files.createDirectory(base.resolve(dir), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            if (asNobody) {
                UserPrincipalLookupService users = base.getFileSystem().getUserPrincipalLookupService();
                Files.setOwner(base.resolve(dir), users.lookupPrincipalByName("nobody"));
            }
        }
        libvirtd = command("libvirtd").redirectErrorStream(true).redirectOutput(base.resolve("libvirtd.log").toFile()).start();
        Path socket = base.resolve("run/libvirt/libvirt-sock");
        Instant limit = Instant.now().plus(DAEMON_START_LIMIT);
        while (!Files.exists(socket)) {
            assertThat(libvirtd.isAlive()).as("libvirtd exited: %s", log()).isTrue();
            assertThat(Instant.now()).as("libvirtd opened no socket at %s within %s: %s", socket, DAEMON_START_LIMIT, log()).isBefore(limit);
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
                ProcessHandle.of(Long.parseLong(Files.readString(virtlogd).strip())).ifPresent(ProcessHandle::destroy);
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
        var request = new GuestMemoryRequest(List.of(GuestNodeRequest.sized(0, 96 * MIB), GuestNodeRequest.unsized(1)), "BestEffort");
        TransformedDomain transformed = new DomainTransformation(preload).transform(
                DomainTransformationGoldenTest.fixture("libvirt-tcg-idle.xml"), new VmiIdentity("tenant-a", "vm-idle"), Optional.of(request));
        Path domainFile = base.resolve("domain.xml");
        Files.writeString(domainFile, transformed.domainXml());
        Files.setPosixFilePermissions(domainFile, PosixFilePermissions.fromString("rw-r--r--"));

        virsh("define", domainFile.toString());
        String argv = virsh("domxml-to-native", "qemu-argv", "--domain", "ng-idle");
        assertThat(argv)
                .contains("LD_PRELOAD=/usr/lib/numaguest/libnumaguest-preload.so", "NUMAGUEST_SOCKET=/run/numaguest/agent.sock",
                        "NUMAGUEST_VM=tenant-a/vm-idle", "NUMAGUEST_ENFORCEMENT=BestEffort")
                .contains("{\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node0\",\"share\":true,\"size\":" + 96 * MIB + "}")
                .contains("{\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node1\",\"share\":true,\"size\":" + 32 * MIB + "}")
                .contains("-numa node,nodeid=0,cpus=0,memdev=ram-node0", "-numa node,nodeid=1,cpus=1,memdev=ram-node1")
                // The fixture's <numatune> would have become the backends' host-nodes/policy.
                .doesNotContain("host-nodes", "\"policy\"");

        virsh("start", "ng-idle");
        try {
            long qemu = qemuPid("ng-idle");
            assertThat(environment(qemu)).containsEntry("NUMAGUEST_VM", "tenant-a/vm-idle")
                    .containsEntry("NUMAGUEST_SOCKET", "/run/numaguest/agent.sock")
                    .containsEntry("LD_PRELOAD", "/usr/lib/numaguest/libnumaguest-preload.so");
            // QEMU names a backend's memfd after the backend's type, not its id; the sizes tell the nodes apart.
            assertThat(memfdSizes(qemu, "/memfd:memory-backend-memfd")).containsExactlyInAnyOrder(96 * MIB, 32 * MIB);
        } finally {
            virsh("destroy", "ng-idle");
            virsh("undefine", "ng-idle");
        }
    }

    private static long qemuPid(String domain) throws IOException {
        try (Stream<Path> files = Files.walk(base)) {
            Path pidFile = files.filter(p -> p.getFileName().toString().equals(domain + ".pid")).findFirst()
                    .orElseThrow(() -> new AssertionError("libvirt wrote no pid file for " + domain + " under " + base));
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
        Process virsh = command(command.toArray(String[]::new)).redirectErrorStream(true).start();
        String output = new String(virsh.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(virsh.waitFor()).as("%s:%n%s%nlibvirtd: %s", command, output, log()).isZero();
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
