package io.numaguest.agent.nativeaccess;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/** System calls on file descriptors (inspect, size, create and close them) and on paths that must not follow links. */
public final class KernelFiles {
    private static final Logger LOG = Logger.getLogger(KernelFiles.class.getName());
    public static final int MFD_CLOEXEC = 0x1;
    public static final int MFD_HUGETLB = 0x4;

    private KernelFiles() {}

    /** What /proc/self/fd/FD links to: "/memfd:NAME (deleted)", "anon_inode:[kvm-gmem]", a path. */
    public static String linkTarget(int fd) throws NativeException {
        return Libc.fdLinkTarget(fd);
    }

    public static FileStat fstat(int fd) throws NativeException {
        return Libc.fstat(fd);
    }

    public static FsStat fstatfs(int fd) throws NativeException {
        return Libc.fstatfs(fd);
    }

    /**
     * The allocated parts of [offset, offset + length), found with SEEK_DATA/SEEK_HOLE, which tmpfs
     * answers from its page cache without touching any page.
     */
    public static List<Extent> dataExtents(int fd, long offset, long length) throws NativeException {
        List<Extent> extents = new ArrayList<>();
        long end = offset + length;
        long position = offset;
        while (position < end) {
            long data = Libc.seekData(fd, position);
            if (data == -1 || data >= end) {
                break; // no data after position
            }
            long stop = Math.min(Libc.seekHole(fd, data), end);
            extents.add(new Extent(data, stop - data));
            position = stop;
        }
        return extents;
    }

    /** How the descriptor was opened (fcntl F_GETFL). */
    public static OpenMode openMode(int fd) throws NativeException {
        return OpenMode.of(Libc.statusFlags(fd));
    }

    /**
     * Closes an fd. Linux releases the descriptor even when close(2) reports an error, so the only
     * failure that matters is EBADF: the fd was closed already, a bug that may have closed someone
     * else's descriptor in between. It is logged as such, with the stack that got here.
     */
    public static void close(int fd) {
        int errno = Libc.close(fd);
        if (errno != 0) {
            LOG.log(
                    Level.SEVERE,
                    "close(" + fd + ") failed: " + Errno.describe(errno)
                            + (errno == Errno.EBADF
                                    ? "; a descriptor closed twice is a bug in the agent (report it)"
                                    : ""),
                    new IllegalStateException("closed here"));
        }
    }

    /**
     * Changes a file's group without following a symbolic link at {@code path} (fchownat with
     * AT_SYMLINK_NOFOLLOW): a link swapped in for the file gets the group itself, its target never does.
     */
    public static void changeGroupNoFollow(Path path, int gid) throws NativeException {
        Libc.changeGroupNoFollow(path.toString(), gid);
    }

    /**
     * Opens directory {@code name} in the directory {@code dirFd} (an fd from here, or -1 for
     * {@code name} absolute) as an O_PATH descriptor, refusing a symbolic link (ELOOP) or anything
     * not a directory (ENOTDIR): a walk of such calls reaches the directory the names lead to
     * without ever following a link someone who writes in those directories put there.
     */
    public static int openDirectoryNoFollow(int dirFd, String name) throws NativeException {
        return Libc.openDirectoryNoFollow(dirFd, name);
    }

    /** memfd_create(2): how VMMs make guest RAM; the agent itself uses it only in tests and tools. */
    public static int memfdCreate(String name, int flags) throws NativeException {
        return Libc.memfdCreate(name, flags);
    }

    public static void ftruncate(int fd, long size) throws NativeException {
        Libc.ftruncate(fd, size);
    }

    /**
     * fbind(fd, mode, nodemask, maxnode, flags), the system call of the November 2024 RFC. It was never
     * merged and its number went to setxattrat, so the number must come from whoever runs a kernel
     * that carries the patch; the caller guarantees it was configured.
     */
    public static void fbind(long syscallNumber, int fd, KernelPolicy policy) throws NativeException {
        Libc.fbind(syscallNumber, fd, policy);
    }
}
