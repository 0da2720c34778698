package io.numaguest.agent.policy;

import io.numaguest.agent.nativeaccess.NumaMode;

/** The policy a guest node's memory gets, by the names the CRD and the policy file use. */
public enum MemoryPolicy {
    Default(NumaMode.DEFAULT),
    Bind(NumaMode.BIND),
    Preferred(NumaMode.PREFERRED),
    PreferredMany(NumaMode.PREFERRED_MANY),
    Interleave(NumaMode.INTERLEAVE),
    WeightedInterleave(NumaMode.WEIGHTED_INTERLEAVE),
    Local(NumaMode.LOCAL);

    private final NumaMode kernelMode;

    MemoryPolicy(NumaMode kernelMode) {
        this.kernelMode = kernelMode;
    }

    public NumaMode kernelMode() {
        return kernelMode;
    }

    public static MemoryPolicy of(NumaMode mode) {
        for (MemoryPolicy policy : values()) {
            if (policy.kernelMode == mode) {
                return policy;
            }
        }
        throw new IllegalArgumentException("no policy for kernel mode " + mode);
    }

    /** Default and Local name no nodes; the kernel refuses a nodemask (or mode flags) with them. */
    public boolean takesHostNodes() {
        return this != Default && this != Local;
    }
}
