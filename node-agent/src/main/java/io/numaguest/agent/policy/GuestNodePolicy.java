package io.numaguest.agent.policy;

import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.NodeMask;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What guest NUMA node {@code guestNode} of a VM gets: a policy over host nodes. The constructor
 * enforces the shape rules the kernel (and the CRD's validation) impose, so a policy that exists
 * is one the kernel can be asked to apply.
 */
public record GuestNodePolicy(
        int guestNode, MemoryPolicy policy, List<Integer> hostNodes, Set<PolicyFlag> flags, boolean migrate) {
    public static final int MAX_GUEST_NODE = 63;

    public GuestNodePolicy {
        if (guestNode < 0 || guestNode > MAX_GUEST_NODE) {
            throw new IllegalArgumentException("guestNode " + guestNode + " is outside 0.." + MAX_GUEST_NODE);
        }
        if (policy == null) {
            throw new IllegalArgumentException("guest node " + guestNode + " has no policy");
        }
        hostNodes = hostNodes == null ? List.of() : List.copyOf(hostNodes);
        flags = flags == null || flags.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(flags));
        if (new HashSet<>(hostNodes).size() != hostNodes.size()) {
            throw new IllegalArgumentException(
                    "guest node " + guestNode + ": hostNodes " + hostNodes + " repeat a node");
        }
        if (!policy.takesHostNodes()) {
            if (!hostNodes.isEmpty() || !flags.isEmpty()) {
                throw new IllegalArgumentException(
                        "guest node " + guestNode + ": policy " + policy + " takes no hostNodes and no flags");
            }
        } else if (hostNodes.isEmpty()) {
            throw new IllegalArgumentException("guest node " + guestNode + ": policy " + policy + " needs hostNodes");
        } else if (policy == MemoryPolicy.Preferred && hostNodes.size() != 1) {
            throw new IllegalArgumentException("guest node " + guestNode
                    + ": Preferred takes exactly one host node (use PreferredMany for several), got " + hostNodes);
        }
        if (flags.size() > 1) {
            throw new IllegalArgumentException(
                    "guest node " + guestNode + ": StaticNodes and RelativeNodes exclude each other");
        }
        for (int node : hostNodes) {
            if (node < 0 || node >= NodeMask.MAX_NODES) {
                throw new IllegalArgumentException("guest node " + guestNode + ": host node " + node + " is outside 0.."
                        + (NodeMask.MAX_NODES - 1));
            }
        }
    }

    public KernelPolicy toKernel() {
        return new KernelPolicy(
                KernelModes.of(policy),
                flags.stream().map(PolicyFlag::kernelFlag).collect(Collectors.toSet()),
                NodeMask.of(hostNodes));
    }
}
