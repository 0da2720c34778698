package io.numaguest.api.v1alpha1;

/** The Linux memory policy modes (mbind MPOL_*) a guest NUMA node's memory can get. */
public enum MemoryPolicy {
    Default,
    Bind,
    Preferred,
    PreferredMany,
    Interleave,
    WeightedInterleave,
    Local;

    /** Default and Local name no host nodes: the kernel decides from the faulting CPU. */
    public boolean takesHostNodes() {
        return this != Default && this != Local;
    }
}
