package io.numaguest.agent.nativeaccess;

import java.util.EnumSet;
import java.util.Set;

/** Mode flags that change how the kernel remaps a policy's nodes when the cpuset changes. */
public enum NumaModeFlag {
    STATIC_NODES(1 << 15),
    RELATIVE_NODES(1 << 14);

    /** MPOL_F_NUMA_BALANCING (1 << 13) is not offered, but get_mempolicy may report it; it is masked off. */
    private static final int ALL_FLAGS = (1 << 15) | (1 << 14) | (1 << 13);

    final int value;

    NumaModeFlag(int value) {
        this.value = value;
    }

    static int encode(Set<NumaModeFlag> flags) {
        int bits = 0;
        for (NumaModeFlag flag : flags) {
            bits |= flag.value;
        }
        return bits;
    }

    static Set<NumaModeFlag> decode(int modeWord) {
        Set<NumaModeFlag> flags = EnumSet.noneOf(NumaModeFlag.class);
        for (NumaModeFlag flag : values()) {
            if ((modeWord & flag.value) != 0) {
                flags.add(flag);
            }
        }
        return flags;
    }

    static int stripFlags(int modeWord) {
        return modeWord & ~ALL_FLAGS;
    }
}
