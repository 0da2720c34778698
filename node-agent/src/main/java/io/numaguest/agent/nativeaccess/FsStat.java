package io.numaguest.agent.nativeaccess;

/** The parts of struct statfs the agent needs: filesystem magic and its block (page) size. */
public record FsStat(long magic, long blockSize) {
    public static final long TMPFS_MAGIC = 0x01021994L;
    public static final long HUGETLBFS_MAGIC = 0x958458f6L;
    /** guest_memfd's own pseudo filesystem, Linux 6.19+ ("GMEM"). */
    public static final long GUEST_MEMFD_MAGIC = 0x474d454dL;

    public static final long ANON_INODE_FS_MAGIC = 0x09041934L;
}
