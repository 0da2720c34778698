package io.numaguest.agent.memory;

import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.PolicyFlag;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SortedMap;

/**
 * What the agent did to, or found on, one region. {@code mechanism} is null for a query.
 * {@code pagesByHostNode} is null where no method shows where pages are (guest_memfd, a hugetlbfs query).
 * Built by name: {@link #placed}, {@link #observed} or {@link #builder()}.
 */
public record RegionOutcome(
        FdKind kind,
        MemoryPolicy policy,
        List<Integer> hostNodes,
        Set<PolicyFlag> flags,
        PolicyMechanism mechanism,
        boolean verified,
        long pageSizeBytes,
        SortedMap<Integer, Long> pagesByHostNode,
        List<String> notes) {
    public RegionOutcome {
        hostNodes = List.copyOf(hostNodes);
        flags = Set.copyOf(flags);
        notes = List.copyOf(notes);
    }

    /** An apply's outcome: the file's kind and page size, the policy as asked, the mechanism that set it. */
    public static Builder placed(GuestMemoryFile file, GuestNodePolicy policy, PolicyMechanism mechanism) {
        return builder()
                .kind(file.kind())
                .pageSizeBytes(file.pageSizeBytes())
                .policy(policy.policy())
                .hostNodes(policy.hostNodes())
                .flags(policy.flags())
                .mechanism(mechanism);
    }

    /** A query's outcome: the file's kind and page size, the policy as the kernel reports it. */
    public static Builder observed(
            GuestMemoryFile file, MemoryPolicy policy, List<Integer> hostNodes, Set<PolicyFlag> flags) {
        return builder()
                .kind(file.kind())
                .pageSizeBytes(file.pageSizeBytes())
                .policy(policy)
                .hostNodes(hostNodes)
                .flags(flags);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The same outcome, no longer verified, for a reason the kernel's read-back cannot see. */
    public RegionOutcome unverified(String why) {
        List<String> more = new ArrayList<>(notes);
        more.add(why);
        return new RegionOutcome(
                kind, policy, hostNodes, flags, mechanism, false, pageSizeBytes, pagesByHostNode, more);
    }

    /** Every field by name; unset ones are empty, false or null. */
    public static final class Builder {
        private FdKind kind;
        private MemoryPolicy policy;
        private List<Integer> hostNodes = List.of();
        private Set<PolicyFlag> flags = Set.of();
        private PolicyMechanism mechanism;
        private boolean verified;
        private long pageSizeBytes;
        private SortedMap<Integer, Long> pagesByHostNode;
        private List<String> notes = List.of();

        private Builder() {}

        public Builder kind(FdKind kind) {
            this.kind = kind;
            return this;
        }

        public Builder policy(MemoryPolicy policy) {
            this.policy = policy;
            return this;
        }

        public Builder hostNodes(List<Integer> hostNodes) {
            this.hostNodes = hostNodes;
            return this;
        }

        public Builder flags(Set<PolicyFlag> flags) {
            this.flags = flags;
            return this;
        }

        public Builder mechanism(PolicyMechanism mechanism) {
            this.mechanism = mechanism;
            return this;
        }

        public Builder verified(boolean verified) {
            this.verified = verified;
            return this;
        }

        public Builder pageSizeBytes(long pageSizeBytes) {
            this.pageSizeBytes = pageSizeBytes;
            return this;
        }

        /** Null: where the pages are cannot be shown. */
        public Builder pagesByHostNode(SortedMap<Integer, Long> pagesByHostNode) {
            this.pagesByHostNode = pagesByHostNode;
            return this;
        }

        public Builder notes(List<String> notes) {
            this.notes = notes;
            return this;
        }

        public RegionOutcome build() {
            return new RegionOutcome(
                    kind, policy, hostNodes, flags, mechanism, verified, pageSizeBytes, pagesByHostNode, notes);
        }
    }
}
