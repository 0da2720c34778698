package io.numaguest.agent.memory;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.PageMove;
import io.numaguest.agent.policy.GuestNodePolicy;
import java.util.ArrayList;
import java.util.List;

/**
 * mbind() on a shared mapping of the agent's, which on shmem (memfd, tmpfs) and guest_memfd
 * (Linux 6.19+) sets a shared policy on the file itself: the VMM's own faults follow it.
 *
 * <p>Verified: a fresh mapping's get_mempolicy at the first and the last page of the region reads
 * back exactly the policy set. A read-back that differs refuses the apply; one that cannot be made
 * leaves the region unverified.
 */
final class MbindSharedPolicy implements PlacementMechanism {
    private final boolean canMoveAll;

    /** @param canMoveAll whether the agent has CAP_SYS_NICE, needed to move pages the VMM maps too */
    MbindSharedPolicy(boolean canMoveAll) {
        this.canMoveAll = canMoveAll;
    }

    @Override
    public PolicyMechanism name() {
        return PolicyMechanism.MBIND;
    }

    @Override
    public RegionOutcome place(GuestMemoryFile file, Extent range, GuestNodePolicy policy) throws AgentException {
        KernelPolicy wanted = policy.toKernel();
        List<String> notes = new ArrayList<>();
        PageMove move = pageMove(file, policy, notes);
        bind(file, range, policy, wanted, move);
        RegionOutcome.Builder outcome = RegionOutcome.placed(file, policy, name());
        PolicyReadBack readBack;
        try {
            readBack = PolicyReadBack.of(file, range);
        } catch (NativeException e) {
            // The policy is set (mbind returned 0); only the proof is missing.
            notes.add("the policy could not be read back, so it is not verified: " + e.getMessage());
            return outcome.verified(false)
                    .pagesByHostNode(PageCounter.pagesByHostNode(file, range, policy.hostNodes(), notes))
                    .notes(notes)
                    .build();
        }
        KernelPolicy observed = readBack.mismatch(wanted);
        if (observed != null) {
            ErrorCode code =
                    file.kind() == FdKind.GUEST_MEMFD ? ErrorCode.UNSUPPORTED_MEMORY : ErrorCode.POLICY_REJECTED;
            throw new AgentException(
                    code,
                    "the kernel did not keep the policy: a fresh mapping reads "
                            + PolicyReadBack.describe(observed) + " where " + PolicyReadBack.describe(wanted)
                            + " was set"
                            + (code == ErrorCode.UNSUPPORTED_MEMORY
                                    ? "; this kernel's guest_memfd keeps no shared policy"
                                    : ""));
        }
        if (file.allocatedBytes() > 0) {
            if (file.kind() == FdKind.GUEST_MEMFD) {
                notes.add(
                        "the guest_memfd already had " + file.allocatedBytes() + " bytes allocated; those pages cannot "
                                + "move and keep the placement they were allocated with");
            } else if (move == PageMove.NONE) {
                notes.add("pages allocated before this policy were not moved (migrate: false)");
            }
        }
        return outcome.verified(true)
                .pagesByHostNode(PageCounter.pagesByHostNode(file, range, policy.hostNodes(), notes))
                .notes(notes)
                .build();
    }

    /** How far migrate: true can go for this file and this agent; what it cannot do goes to {@code notes}. */
    private PageMove pageMove(GuestMemoryFile file, GuestNodePolicy policy, List<String> notes) {
        if (!policy.migrate()) {
            return PageMove.NONE;
        }
        if (file.kind() == FdKind.GUEST_MEMFD) {
            notes.add("guest_memfd pages cannot move: the policy governs only memory allocated from now on");
            return PageMove.NONE;
        }
        if (!canMoveAll) {
            notes.add("pages the VMM maps too were not moved: that needs CAP_SYS_NICE (MPOL_MF_MOVE_ALL)");
        }
        return canMoveAll ? PageMove.MOVE_ALL : PageMove.MOVE;
    }

    private static void bind(
            GuestMemoryFile file, Extent range, GuestNodePolicy policy, KernelPolicy wanted, PageMove move)
            throws AgentException {
        List<Extent> resident;
        try {
            resident = move == PageMove.NONE || file.allocatedBytes() == 0
                    ? List.of()
                    : KernelFiles.dataExtents(file.fd(), range.offset(), range.length());
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.INTERNAL, "finding the region's allocated pages (SEEK_DATA) failed", e);
        }
        try (Mapping mapping = Mapping.mapShared(
                file.fd(),
                range.offset(),
                range.length(),
                resident.isEmpty() ? Mapping.Access.NONE : Mapping.Access.READ)) {
            // MPOL_MF_MOVE moves only pages present in this mapping's page tables: fault in those the file has.
            for (Extent extent : resident) {
                mapping.populate(extent.offset() - range.offset(), extent.length(), false);
            }
            mapping.bind(wanted, move);
        } catch (NativeException e) {
            throw new AgentException(
                    ErrorCode.POLICY_REJECTED, "mbind(" + policy.policy() + " " + policy.hostNodes() + ") refused", e);
        }
    }
}
