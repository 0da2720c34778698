package io.numaguest.agent.kubernetes;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Kubernetes pod a process belongs to, read from its /proc/PID/cgroup: kubelet puts every pod
 * in a cgroup named after the pod's UID, under either cgroup driver and either cgroup version.
 *
 * <p>This is the peer identity of a VMM on the agent's socket, so it fails closed: anything that is
 * not unmistakably a pod cgroup (a host process, garbage, lines naming different pods) yields empty.
 */
public final class PodCgroup {

    /**
     * systemd driver: {@code kubepods-pod<uid>.slice} (Guaranteed) or
     * {@code kubepods-burstable-pod<uid>.slice} / {@code kubepods-besteffort-pod<uid>.slice}, where
     * systemd spells the UID's dashes as underscores. A slice name repeats its parents' names, so
     * kubelet's --cgroup-root shows up as a prefix (kind: {@code kubelet-kubepods-…-pod<uid>.slice}).
     */
    private static final Pattern SYSTEMD_POD_SLICE =
            Pattern.compile("(?:.+-)?kubepods(?:-burstable|-besteffort)?-pod(.+)\\.slice");

    /** cgroupfs driver: {@code /kubepods/pod<uid>}, {@code /kubepods/burstable/pod<uid>}, {@code …/besteffort/pod<uid>}. */
    private static final Pattern CGROUPFS_POD_DIR = Pattern.compile("pod(.+)");

    /**
     * The directories a cgroupfs pod directory sits in. ".." stands in for any of them: the kernel
     * prints a path relative to the reader's cgroup namespace, so an agent in a private namespace
     * sees another pod as {@code /../../../burstable/pod<uid>/…} or {@code /../../../pod<uid>/…}.
     */
    private static final Set<String> CGROUPFS_POD_PARENTS = Set.of("kubepods", "burstable", "besteffort", "..");

    /** Kubernetes pod UIDs are RFC 4122 UUIDs as kubelet writes them: lower-case 8-4-4-4-12 hex. */
    private static final Pattern POD_UID =
            Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    private PodCgroup() {}

    /** The pod UID of process {@code pid}, or empty when it is in no pod or has exited (its proc entry is gone). */
    public static Optional<String> podUidOf(Path proc, int pid) {
        try {
            return podUid(Files.readString(proc.resolve(Integer.toString(pid)).resolve("cgroup")));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * The pod UID in the text of a /proc/PID/cgroup file: one {@code hierarchy-ID:controllers:path}
     * line for cgroup v2 ({@code 0::/…}), one per hierarchy for v1, where some hierarchies (e.g.
     * rdma, misc) may still show {@code /}. Lines that name no pod are ignored; lines that name
     * different pods make the answer empty, since such a process cannot be attributed to one pod.
     */
    public static Optional<String> podUid(String procPidCgroupContent) {
        Set<String> uids = new HashSet<>();
        for (String line : procPidCgroupContent.split("\n")) {
            String[] fields = line.split(":", 3);
            if (fields.length == 3) {
                podUidInPath(fields[2].strip()).ifPresent(uids::add);
            }
        }
        return uids.size() == 1 ? Optional.of(uids.iterator().next()) : Optional.empty();
    }

    private static Optional<String> podUidInPath(String path) {
        List<String> segments = List.of(path.split("/"));
        for (int i = 0; i < segments.size(); i++) {
            Matcher slice = SYSTEMD_POD_SLICE.matcher(segments.get(i));
            if (slice.matches()) {
                return validUid(slice.group(1).replace('_', '-'));
            }
            Matcher dir = CGROUPFS_POD_DIR.matcher(segments.get(i));
            if (dir.matches() && i > 0 && CGROUPFS_POD_PARENTS.contains(segments.get(i - 1))) {
                return validUid(dir.group(1));
            }
        }
        return Optional.empty();
    }

    private static Optional<String> validUid(String candidate) {
        return POD_UID.matcher(candidate).matches() ? Optional.of(candidate) : Optional.empty();
    }
}
