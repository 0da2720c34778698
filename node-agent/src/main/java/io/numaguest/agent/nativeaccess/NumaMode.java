package io.numaguest.agent.nativeaccess;

/** The kernel's memory policy modes (MPOL_*), as mbind() and get_mempolicy() encode them. */
public enum NumaMode {
    DEFAULT(0),
    PREFERRED(1),
    BIND(2),
    INTERLEAVE(3),
    LOCAL(4),
    /** Linux 5.15+. */
    PREFERRED_MANY(5),
    /** Linux 6.9+; weights come from /sys/kernel/mm/mempolicy/weighted_interleave/. */
    WEIGHTED_INTERLEAVE(6);

    final int value;

    NumaMode(int value) {
        this.value = value;
    }

    static NumaMode of(int value) {
        for (NumaMode mode : values()) {
            if (mode.value == value) {
                return mode;
            }
        }
        throw new IllegalArgumentException("kernel reported unknown memory policy mode " + value);
    }
}
