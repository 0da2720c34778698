package io.numaguest.agent.memory;

import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.NumaMode;
import io.numaguest.agent.policy.KernelModes;
import io.numaguest.agent.policy.PolicyFlag;
import io.numaguest.api.v1alpha1.MemoryPolicy;

/** A region's policy as a fresh mapping sees it: the kernel's own answer, not the agent's memory of what it set. */
record PolicyReadBack(KernelPolicy firstPage, KernelPolicy lastPage) {

    /** get_mempolicy at the first and the last page of the range, through a mapping of its own. */
    static PolicyReadBack of(GuestMemoryFile file, Extent range) throws NativeException {
        try (Mapping fresh = Mapping.mapShared(file.fd(), range.offset(), range.length(), Mapping.Access.NONE)) {
            return new PolicyReadBack(fresh.policyAt(0), fresh.policyAt(range.length() - file.pageSizeBytes()));
        }
    }

    /** The first page's policy that is not {@code wanted}, or null when both pages hold it. */
    KernelPolicy mismatch(KernelPolicy wanted) {
        return !matches(wanted, firstPage) ? firstPage : !matches(wanted, lastPage) ? lastPage : null;
    }

    /** Whether a read-back policy is the one set. Older kernels report Local as Preferred with no nodes. */
    static boolean matches(KernelPolicy wanted, KernelPolicy observed) {
        if (wanted.mode() == NumaMode.LOCAL
                && observed.mode() == NumaMode.PREFERRED
                && observed.nodes().isEmpty()) {
            return true;
        }
        return wanted.equals(observed);
    }

    static String describe(KernelPolicy policy) {
        MemoryPolicy named = KernelModes.policyOf(policy.mode());
        String flags = policy.flags().isEmpty()
                ? ""
                : " "
                        + policy.flags().stream()
                                .map(PolicyFlag::of)
                                .map(Enum::name)
                                .sorted()
                                .toList();
        return named + (named.takesHostNodes() ? " " + policy.nodes() : "") + flags;
    }
}
