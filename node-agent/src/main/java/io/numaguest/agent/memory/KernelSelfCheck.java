package io.numaguest.agent.memory;

import io.numaguest.agent.nativeaccess.Errno;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.NodeMask;
import io.numaguest.agent.nativeaccess.NumaMode;
import io.numaguest.agent.nativeaccess.PageMove;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Runs each system call the agent depends on once, at start, on a one-page memfd: a container's
 * seccomp profile (RuntimeDefault denies move_pages, and mbind without CAP_SYS_NICE) or an old
 * kernel shows in the log when the agent starts, not at the first VM.
 *
 * @param fatal    the agent cannot place memory at all
 * @param degraded it can, but some evidence (page counts) will be missing
 */
public record KernelSelfCheck(List<String> fatal, List<String> degraded) {
    private static final long PAGE = 4096;

    public static KernelSelfCheck run(int node) {
        List<String> fatal = new ArrayList<>();
        List<String> degraded = new ArrayList<>();
        int fd = -1;
        try {
            fd = KernelFiles.memfdCreate("numaguest-self-check", KernelFiles.MFD_CLOEXEC);
            KernelFiles.ftruncate(fd, PAGE);
            try (Mapping mapping = Mapping.mapShared(fd, 0, PAGE, Mapping.Access.READ_WRITE)) {
                KernelPolicy bind = new KernelPolicy(NumaMode.BIND, Set.of(), NodeMask.of(List.of(node)));
                mapping.bind(bind, PageMove.NONE);
                if (!mapping.policyAt(0).equals(bind)) {
                    fatal.add("get_mempolicy does not read back the policy mbind set on a memfd");
                }
                try {
                    mapping.populate(0, PAGE, true);
                    mapping.census(PAGE, List.of(new Extent(0, PAGE)));
                } catch (NativeException e) {
                    degraded.add(e.call() + " failed (" + Errno.describe(e.errno()) + "): page counts will be missing"
                            + (e.errno() == Errno.EPERM
                                    ? "; the container's seccomp profile denies it (see the chart's "
                                            + "agent.seccompProfile)"
                                    : ""));
                }
            }
        } catch (NativeException e) {
            fatal.add(e.call() + " failed (" + Errno.describe(e.errno()) + ")"
                    + (e.errno() == Errno.EPERM
                            ? ": the container's seccomp profile or a missing CAP_SYS_NICE denies it"
                            : ""));
        } finally {
            if (fd >= 0) {
                KernelFiles.close(fd);
            }
        }
        return new KernelSelfCheck(List.copyOf(fatal), List.copyOf(degraded));
    }
}
