package io.numaguest.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;

/**
 * Pod cgroups as a cgroupfs-driver kubelet lays them out (kubepods/burstable/pod&lt;uid&gt;), so
 * that a process started in one is, to the agent's peer check (/proc/PID/cgroup), in that pod.
 * Directories made here are removed again, leaves first.
 */
final class PodCgroups {

    private final Path root;
    private final Deque<Path> made = new ArrayDeque<>();

    private PodCgroups(Path root) {
        this.root = root;
    }

    /**
     * kubepods/burstable under the pids hierarchy (cgroup v1) or the unified one (cgroup v2); skips
     * the test class when this machine does not let us.
     */
    static PodCgroups prepare() {
        Path base = Files.isDirectory(Path.of("/sys/fs/cgroup/pids"))
                ? Path.of("/sys/fs/cgroup/pids")
                : Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers")) ? Path.of("/sys/fs/cgroup") : null;
        Assumptions.assumeTrue(base != null, "no cgroup pids hierarchy (v1) or cgroup2 root at /sys/fs/cgroup");
        Path root = base.resolve("kubepods/burstable");
        try {
            Files.createDirectories(root);
            Path probe = Files.createDirectory(root.resolve("probe-" + UUID.randomUUID()));
            Files.delete(probe);
        } catch (IOException e) {
            Assumptions.abort(
                    "cannot create cgroups under " + base + " (needs root and a writable cgroup filesystem): " + e);
        }
        return new PodCgroups(root);
    }

    /** A new cgroup of the pod, for one process (created with the pod's when absent). */
    Path newProcessCgroup(String podUid, String prefix) throws IOException {
        Path podCgroup = root.resolve("pod" + podUid);
        Path processCgroup =
                podCgroup.resolve(prefix + "-" + UUID.randomUUID().toString().substring(0, 8));
        if (!Files.isDirectory(podCgroup)) {
            Files.createDirectories(
                    podCgroup); // kubepods/burstable too, should a concurrent run have just removed them
            made.push(podCgroup);
        }
        Files.createDirectory(processCgroup);
        made.push(processCgroup);
        return processCgroup;
    }

    /** Removes the cgroups made so far; their processes must have been waited for. */
    void removeMade() {
        while (!made.isEmpty()) {
            Path dir = made.pop();
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                System.err.println("PodCgroups: cannot remove cgroup " + dir + ": " + e);
            }
        }
    }

    /** Removes everything, then kubepods/burstable and kubepods when nobody else uses them. */
    void removeAll() {
        removeMade();
        for (Path dir = root;
                dir.getFileName().toString().startsWith("kube")
                        || dir.getFileName().toString().equals("burstable");
                dir = dir.getParent()) {
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                break; // in use, or not ours
            }
        }
    }
}
