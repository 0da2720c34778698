package io.numaguest.agent.policy;

import io.numaguest.agent.nativeaccess.NumaMode;
import io.numaguest.api.v1alpha1.MemoryPolicy;

/** The kernel mode (MPOL_*) behind each policy of the API, and back. */
public final class KernelModes {
    private KernelModes() {}

    public static NumaMode of(MemoryPolicy policy) {
        return switch (policy) {
            case Default -> NumaMode.DEFAULT;
            case Bind -> NumaMode.BIND;
            case Preferred -> NumaMode.PREFERRED;
            case PreferredMany -> NumaMode.PREFERRED_MANY;
            case Interleave -> NumaMode.INTERLEAVE;
            case WeightedInterleave -> NumaMode.WEIGHTED_INTERLEAVE;
            case Local -> NumaMode.LOCAL;
        };
    }

    public static MemoryPolicy policyOf(NumaMode mode) {
        return switch (mode) {
            case DEFAULT -> MemoryPolicy.Default;
            case BIND -> MemoryPolicy.Bind;
            case PREFERRED -> MemoryPolicy.Preferred;
            case PREFERRED_MANY -> MemoryPolicy.PreferredMany;
            case INTERLEAVE -> MemoryPolicy.Interleave;
            case WEIGHTED_INTERLEAVE -> MemoryPolicy.WeightedInterleave;
            case LOCAL -> MemoryPolicy.Local;
        };
    }
}
