package io.numaguest.agent.policy;

import io.numaguest.agent.nativeaccess.NumaModeFlag;

/** Mode flags: how the kernel maps the host nodes when the agent's cpuset changes. */
public enum PolicyFlag {
    /** Nodes are physical ids and are not remapped when the cpuset changes. */
    StaticNodes(NumaModeFlag.STATIC_NODES),
    /** Nodes are relative to the cpuset's allowed mems. */
    RelativeNodes(NumaModeFlag.RELATIVE_NODES);

    private final NumaModeFlag kernelFlag;

    PolicyFlag(NumaModeFlag kernelFlag) {
        this.kernelFlag = kernelFlag;
    }

    public NumaModeFlag kernelFlag() {
        return kernelFlag;
    }

    public static PolicyFlag of(NumaModeFlag flag) {
        return flag == NumaModeFlag.STATIC_NODES ? StaticNodes : RelativeNodes;
    }
}
