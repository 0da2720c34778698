package io.numaguest.agent.memory;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.PageCensus;
import io.numaguest.agent.nativeaccess.PageMove;
import io.numaguest.agent.policy.GuestNodePolicy;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * hugetlbfs keeps no shared policy, so the agent allocates the region's huge pages itself, now, in a
 * mapping of its own under the policy (mbind, then MADV_POPULATE_WRITE); they stay in the file,
 * where the VMM finds them.
 *
 * <p>Verified: move_pages counts every huge page of the region as present, each on one of the
 * policy's nodes. A census that cannot be made leaves the region unverified, with no page counts.
 */
final class HugetlbPrefault implements PlacementMechanism {
    private final boolean canMoveAll;

    /** @param canMoveAll whether the agent has CAP_SYS_NICE, needed to move pages the VMM maps too */
    HugetlbPrefault(boolean canMoveAll) {
        this.canMoveAll = canMoveAll;
    }

    @Override
    public PolicyMechanism name() {
        return PolicyMechanism.HUGETLB_PREFAULT;
    }

    @Override
    public RegionOutcome place(GuestMemoryFile file, Extent range, GuestNodePolicy policy) throws AgentException {
        KernelPolicy wanted = policy.toKernel();
        List<String> notes =
                new ArrayList<>(List.of("hugetlbfs keeps no shared policy: the agent allocated the region's "
                        + "huge pages now, in its own mapping, under the policy; they stay in the file"));
        String hugePages = range.length() / file.pageSizeBytes() + " huge pages of " + file.pageSizeBytes() + " bytes";
        Mapping mapping;
        try {
            mapping = Mapping.mapShared(file.fd(), range.offset(), range.length(), Mapping.Access.READ_WRITE);
        } catch (NativeException e) {
            throw new AgentException(
                    ErrorCode.POLICY_REJECTED,
                    "could not reserve " + hugePages + " (mmap; is the huge page "
                            + "pool large enough, see nr_hugepages, and does the agent's hugetlb cgroup allow them?)",
                    e);
        }
        PageCensus census = null;
        try (mapping) {
            try {
                mapping.bind(wanted, PageMove.NONE);
            } catch (NativeException e) {
                throw new AgentException(
                        ErrorCode.POLICY_REJECTED,
                        "mbind(" + policy.policy() + " " + policy.hostNodes() + ") on hugetlbfs refused",
                        e);
            }
            try {
                mapping.populate(0, range.length(), true);
            } catch (NativeException e) {
                throw new AgentException(
                        ErrorCode.POLICY_REJECTED,
                        "could not allocate " + hugePages + " under " + policy.policy() + " " + policy.hostNodes()
                                + " (is the huge page pool of those nodes large enough?)",
                        e);
            }
            if (policy.migrate()) {
                // Pages that existed before were only mapped by the populate above; move them now.
                try {
                    mapping.bind(wanted, canMoveAll ? PageMove.MOVE_ALL : PageMove.MOVE);
                } catch (NativeException e) {
                    notes.add("pages allocated before could not be moved: " + e.getMessage());
                }
            }
            try {
                census = mapping.census(file.pageSizeBytes(), List.of(new Extent(0, range.length())));
            } catch (NativeException e) {
                notes.add(
                        "the huge pages are allocated but could not be counted (move_pages), so they are not verified: "
                                + e.getMessage());
            }
        } catch (NativeException e) {
            notes.add("unmapping the agent's mapping failed: " + e.getMessage());
        }
        RegionOutcome.Builder outcome = RegionOutcome.placed(file, policy, name());
        if (census == null) {
            return outcome.verified(false).notes(notes).build();
        }
        Set<Integer> outside = new HashSet<>(census.pagesByNode().keySet());
        if (policy.policy().takesHostNodes()) {
            outside.removeAll(policy.hostNodes());
        } else {
            outside.clear();
        }
        if (!outside.isEmpty()) {
            notes.add("some huge pages were allocated on host nodes " + outside + " outside the policy's nodes");
        }
        return outcome.verified(census.pagesNotPresent() == 0 && outside.isEmpty())
                .pagesByHostNode(PageCounter.withPolicyNodes(census.pagesByNode(), policy.hostNodes()))
                .notes(notes)
                .build();
    }
}
