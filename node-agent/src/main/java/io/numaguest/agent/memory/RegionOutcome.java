package io.numaguest.agent.memory;

import java.util.List;
import java.util.Set;
import java.util.SortedMap;

import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.agent.policy.PolicyFlag;

/**
 * What the agent did to, or found on, one region. {@code mechanism} is null for a query.
 * {@code pagesByHostNode} is null where no method shows where pages are (guest_memfd, a hugetlbfs query).
 */
public record RegionOutcome(FdKind kind, MemoryPolicy policy, List<Integer> hostNodes, Set<PolicyFlag> flags,
                            PolicyMechanism mechanism, boolean verified, long pageSizeBytes,
                            SortedMap<Integer, Long> pagesByHostNode, List<String> notes) {
    public RegionOutcome {
        hostNodes = List.copyOf(hostNodes);
        flags = Set.copyOf(flags);
        notes = List.copyOf(notes);
    }

    /** The same outcome, no longer verified, for a reason the kernel's read-back cannot see. */
    public RegionOutcome unverified(String why) {
        List<String> more = new java.util.ArrayList<>(notes);
        more.add(why);
        return new RegionOutcome(kind, policy, hostNodes, flags, mechanism, false, pageSizeBytes, pagesByHostNode, more);
    }
}
