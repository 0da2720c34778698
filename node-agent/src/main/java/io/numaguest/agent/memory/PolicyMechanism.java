package io.numaguest.agent.memory;

/** How the agent put a policy on a region; reported to the VMM and in the NGM status. */
public enum PolicyMechanism {
    /** mbind() on a shared mapping: a shared policy on the inode (shmem, guest_memfd 6.19+). */
    MBIND("mbind"),
    /** mbind() then MADV_POPULATE_WRITE in the agent's mapping: hugetlbfs has no shared policy. */
    HUGETLB_PREFAULT("hugetlb-prefault"),
    /** The unmerged fbind() syscall, only where an operator configured its number. */
    FBIND("fbind");

    private final String wireName;

    PolicyMechanism(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }
}
