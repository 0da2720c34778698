package io.numaguest.agent.nativeaccess;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** System calls on file descriptors (inspect, size, create and close them) and on paths that must not follow links. */
public final class KernelFiles {
    public static final int MFD_CLOEXEC = 0x1;
    public static final int MFD_HUGETLB = 0x4;

    private KernelFiles() {
    }

    public static FileStat fstat(int fd) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stat = arena.allocate(Libc.STAT_SIZE, 8);
            Libc.call("fstat", arena, slot -> (int) Libc.FSTAT.invokeExact(slot, fd, stat));
            return new FileStat(stat.get(JAVA_LONG, Libc.STAT_DEV), stat.get(JAVA_LONG, Libc.STAT_INO), stat.get(JAVA_INT, Libc.STAT_MODE),
                    stat.get(JAVA_LONG, Libc.STAT_SIZE_FIELD), stat.get(JAVA_LONG, Libc.STAT_BLOCKS));
        }
    }

    public static FsStat fstatfs(int fd) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment statfs = arena.allocate(Libc.STATFS_SIZE, 8);
            Libc.call("fstatfs", arena, slot -> (int) Libc.FSTATFS.invokeExact(slot, fd, statfs));
            // f_type is a signed long in the struct; magics above 2^31 must not sign-extend.
            return new FsStat(statfs.get(JAVA_LONG, 0) & 0xffffffffL, statfs.get(JAVA_LONG, Libc.STATFS_BSIZE));
        }
    }

    /**
     * The allocated parts of [offset, offset + length), found with SEEK_DATA/SEEK_HOLE, which tmpfs
     * answers from its page cache without touching any page.
     */
    public static List<Extent> dataExtents(int fd, long offset, long length) throws NativeException {
        List<Extent> extents = new ArrayList<>();
        long end = offset + length;
        try (Arena arena = Arena.ofConfined()) {
            long position = offset;
            while (position < end) {
                long from = position;
                long data = Libc.callTolerating("lseek(SEEK_DATA)", arena, Errno.ENXIO,
                        slot -> (long) Libc.LSEEK.invokeExact(slot, fd, from, Libc.SEEK_DATA));
                if (data == -1 || data >= end) {
                    break; // ENXIO: no data after position
                }
                long hole = Libc.call("lseek(SEEK_HOLE)", arena,
                        slot -> (long) Libc.LSEEK.invokeExact(slot, fd, data, Libc.SEEK_HOLE));
                long stop = Math.min(hole, end);
                extents.add(new Extent(data, stop - data));
                position = stop;
            }
        }
        return extents;
    }

    /** How the descriptor was opened (fcntl F_GETFL). */
    public static OpenMode openMode(int fd) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            int flags = (int) Libc.call("fcntl(F_GETFL)", arena, slot -> (int) Libc.FCNTL.invokeExact(slot, fd, Libc.F_GETFL));
            return OpenMode.of(flags);
        }
    }

    /** Closes an fd; returns false when close(2) failed (EBADF would mean a double close: a bug). */
    public static boolean close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            Libc.call("close", arena, slot -> (int) Libc.CLOSE.invokeExact(slot, fd));
            return true;
        } catch (NativeException e) {
            return false;
        }
    }

    /**
     * Changes a file's group without following a symbolic link at {@code path} (fchownat with
     * AT_SYMLINK_NOFOLLOW): a link swapped in for the file gets the group itself, its target never does.
     */
    public static void changeGroupNoFollow(Path path, int gid) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = arena.allocateFrom(path.toString());
            Libc.call("fchownat(" + path + ")", arena, slot -> (int) Libc.FCHOWNAT.invokeExact(slot, Libc.AT_FDCWD, cPath, -1, gid,
                    Libc.AT_SYMLINK_NOFOLLOW));
        }
    }

    /** memfd_create(2): how VMMs make guest RAM; the agent itself uses it only in tests and tools. */
    public static int memfdCreate(String name, int flags) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = arena.allocateFrom(name);
            return (int) Libc.call("memfd_create", arena, slot -> (int) Libc.MEMFD_CREATE.invokeExact(slot, cName, flags));
        }
    }

    public static void ftruncate(int fd, long size) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            Libc.call("ftruncate", arena, slot -> (int) Libc.FTRUNCATE.invokeExact(slot, fd, size));
        }
    }

    /**
     * fbind(fd, mode, nodemask, maxnode, flags), the system call of the November 2024 RFC. It was never
     * merged and its number went to setxattrat, so the number must come from whoever runs a kernel
     * that carries the patch; the caller guarantees it was configured.
     */
    public static void fbind(long syscallNumber, int fd, KernelPolicy policy) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocateFrom(JAVA_LONG, policy.nodes().words());
            long modeWord = policy.modeWord();
            Libc.call("fbind", arena, slot -> (long) Libc.SYSCALL6.invokeExact(slot, syscallNumber,
                    (long) fd, modeWord, mask.address(), NodeMask.MAXNODE_ARG, 0L, 0L));
        }
    }
}
