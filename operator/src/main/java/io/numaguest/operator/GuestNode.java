package io.numaguest.operator;

import io.numaguest.api.v1alpha1.GuestNodeSpec;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.List;

/**
 * What the spec asks for one guest NUMA node.
 *
 * @param hostNodes the host nodes the user named, or null when the operator chooses
 * @param sizeBytes the guest node's memory size, 0 when the spec does not say
 */
public record GuestNode(int id, MemoryPolicy policy, List<Integer> hostNodes, long sizeBytes) {

    public GuestNode {
        hostNodes = hostNodes == null ? null : List.copyOf(hostNodes);
    }

    public static GuestNode of(GuestNodeSpec spec) {
        long size =
                spec.getSize() == null ? 0 : spec.getSize().getNumericalAmount().longValue();
        return new GuestNode(spec.getGuestNode(), spec.getPolicy(), spec.getHostNodes(), size);
    }

    /** The operator picks host nodes only for policies that take some and that the user left open. */
    boolean chosenByOperator() {
        return policy.takesHostNodes() && hostNodes == null;
    }
}
