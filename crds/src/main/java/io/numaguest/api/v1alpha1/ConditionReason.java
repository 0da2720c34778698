package io.numaguest.api.v1alpha1;

/**
 * Every reason the operator writes on a NumaGuestMemory's conditions (Scheduled, Placed, Applied,
 * Ready, Degraded). docs/operations.md says for each what it means and what to do; a test keeps
 * the two lists equal.
 */
public enum ConditionReason {
    // Scheduled
    PodScheduled,
    NoPod,
    SeveralPods,
    VirtualMachineInstanceNotFound,
    KubeVirtNotInstalled,
    // Placed (and the conditions after it while there is no target or no placement)
    Placed,
    PlacedWithoutTopology,
    TopologyUnavailable,
    UnknownHostNode,
    HostNodeNotAllowed,
    NotEnoughMemory,
    TargetNotScheduled,
    NotPlaced,
    // Applied, Ready, Degraded
    WaitingForVMM,
    Applied,
    Refused,
    PlacementChanged,
    Unverified,
    Ready,
    AsRequested
}
