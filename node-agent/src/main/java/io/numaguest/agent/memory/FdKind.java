package io.numaguest.agent.memory;

/** The kinds of guest memory the agent can place, by their protocol names. */
public enum FdKind {
    MEMFD("memfd"),
    /** A file on tmpfs, e.g. /dev/shm or QEMU's memory-backend-file there. */
    SHMEM("shmem"),
    /** A memfd created with MFD_HUGETLB, or a file on a hugetlbfs mount. */
    HUGETLBFS("hugetlbfs"),
    GUEST_MEMFD("guest_memfd");

    private final String wireName;

    FdKind(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }
}
