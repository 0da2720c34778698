package io.numaguest.agent.nativeaccess;

import java.util.Set;

/** A memory policy as the kernel stores it: mode, mode flags and nodemask. */
public record KernelPolicy(NumaMode mode, Set<NumaModeFlag> flags, NodeMask nodes) {
    public KernelPolicy {
        flags = Set.copyOf(flags);
    }

    int modeWord() {
        return mode.value | NumaModeFlag.encode(flags);
    }
}
