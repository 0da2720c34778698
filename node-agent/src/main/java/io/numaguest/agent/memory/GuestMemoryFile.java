package io.numaguest.agent.memory;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.FileStat;
import io.numaguest.agent.nativeaccess.FsStat;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.OpenMode;
import java.util.function.Supplier;

/**
 * A received descriptor that is guest memory, with what placing a policy on it depends on.
 * {@code sharedPolicy}: whether the kernel keeps a policy on the file itself; false only for
 * guest_memfd before Linux 6.19, where mbind() sets just the calling mapping's policy.
 */
public record GuestMemoryFile(
        int fd,
        long device,
        long inode,
        FdKind kind,
        boolean sharedPolicy,
        long sizeBytes,
        long pageSizeBytes,
        long allocatedBytes,
        OpenMode openMode) {
    static final String LEGACY_GUEST_MEMFD_LINK = "anon_inode:[kvm-gmem]";
    private static final long BASE_PAGE_SIZE = 4096;

    /** Looks at the descriptor with fstatfs/fstat (and readlink where they cannot tell). */
    public static GuestMemoryFile inspect(int fd) throws AgentException {
        try {
            FsStat fs = KernelFiles.fstatfs(fd);
            FileStat stat = KernelFiles.fstat(fd);
            return classify(fd, fs, stat, KernelFiles.openMode(fd), () -> linkTarget(fd));
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.BAD_FD, "cannot inspect the descriptor", e);
        }
    }

    /** Pure classification, separate from the system calls so every kind can be tested anywhere. */
    static GuestMemoryFile classify(int fd, FsStat fs, FileStat stat, OpenMode mode, Supplier<String> linkTarget)
            throws AgentException {
        GuestMemoryFile file = classifyKind(fd, fs, stat, mode, linkTarget);
        if (mode == OpenMode.PATH_ONLY || mode == OpenMode.WRITE_ONLY) {
            throw new AgentException(
                    ErrorCode.BAD_FD,
                    "descriptor is open " + (mode == OpenMode.PATH_ONLY ? "with O_PATH" : "write-only")
                            + ", so it cannot be mapped: send the guest memory descriptor open read-write");
        }
        return file;
    }

    private static GuestMemoryFile classifyKind(
            int fd, FsStat fs, FileStat stat, OpenMode mode, Supplier<String> linkTarget) throws AgentException {
        long magic = fs.magic();
        if (magic == FsStat.GUEST_MEMFD_MAGIC) {
            return new GuestMemoryFile(
                    fd,
                    stat.device(),
                    stat.inode(),
                    FdKind.GUEST_MEMFD,
                    true,
                    stat.sizeBytes(),
                    BASE_PAGE_SIZE,
                    stat.allocatedBytes(),
                    mode);
        }
        if (magic == FsStat.ANON_INODE_FS_MAGIC) {
            String link = linkTarget.get();
            if (LEGACY_GUEST_MEMFD_LINK.equals(link)) {
                return new GuestMemoryFile(
                        fd,
                        stat.device(),
                        stat.inode(),
                        FdKind.GUEST_MEMFD,
                        false,
                        stat.sizeBytes(),
                        BASE_PAGE_SIZE,
                        stat.allocatedBytes(),
                        mode);
            }
            throw new AgentException(
                    ErrorCode.BAD_FD,
                    "descriptor is " + link + ", not guest memory: "
                            + "send a memfd, a tmpfs or hugetlbfs file, or a KVM guest_memfd");
        }
        if (!stat.isRegularFile()) {
            throw new AgentException(
                    ErrorCode.BAD_FD,
                    "descriptor is a " + stat.typeName()
                            + ", not guest memory: send a memfd, a tmpfs or hugetlbfs file, or a KVM guest_memfd");
        }
        if (magic == FsStat.TMPFS_MAGIC) {
            FdKind kind = linkTarget.get().startsWith("/memfd:") ? FdKind.MEMFD : FdKind.SHMEM;
            return new GuestMemoryFile(
                    fd,
                    stat.device(),
                    stat.inode(),
                    kind,
                    true,
                    stat.sizeBytes(),
                    BASE_PAGE_SIZE,
                    stat.allocatedBytes(),
                    mode);
        }
        if (magic == FsStat.HUGETLBFS_MAGIC) {
            return new GuestMemoryFile(
                    fd,
                    stat.device(),
                    stat.inode(),
                    FdKind.HUGETLBFS,
                    false,
                    stat.sizeBytes(),
                    fs.blockSize(),
                    stat.allocatedBytes(),
                    mode);
        }
        throw new AgentException(
                ErrorCode.BAD_FD,
                "descriptor is a regular file on a filesystem with magic 0x"
                        + Long.toHexString(magic)
                        + ", not guest memory: the kernel keeps NUMA policies only for memfd/tmpfs, "
                        + "hugetlbfs and guest_memfd; back guest RAM with one of those");
    }

    private static String linkTarget(int fd) {
        try {
            return KernelFiles.linkTarget(fd);
        } catch (NativeException e) {
            return "an unnamed descriptor";
        }
    }
}
