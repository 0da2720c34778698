package io.numaguest.agent.nativeaccess;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.MemoryLayout.paddingLayout;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.OptionalInt;

/**
 * Every downcall of the agent, as typed methods: Java values in, Java values out, a failed call
 * thrown as a {@link NativeException} with its errno. The handles, the struct layouts and the
 * constants are those of Linux on x86_64; the class refuses to load anywhere else rather than call
 * a syscall number that means something different.
 *
 * <p>Each thread has one errno slot and one scratch area for the structs a call fills or reads, so
 * a call allocates nothing native. A method uses the scratch only between its start and its return
 * and calls no other method that does.
 */
final class Libc {
    // x86_64 syscall numbers: glibc exports no wrapper for the mempolicy calls (libnuma does).
    private static final long SYS_MBIND = 237;
    private static final long SYS_GET_MEMPOLICY = 239;
    private static final long SYS_MOVE_PAGES = 279;
    private static final long SYS_PIDFD_SEND_SIGNAL = 424;

    static final int PROT_NONE = 0;
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    private static final int MAP_SHARED = 1;
    static final int MADV_POPULATE_READ = 22;
    static final int MADV_POPULATE_WRITE = 23;
    private static final int MPOL_F_ADDR = 2;
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int F_GETFL = 3;
    private static final int AT_FDCWD = -100;
    private static final int AT_SYMLINK_NOFOLLOW = 0x100;

    private static final int AF_UNIX = 1;
    private static final int SOCK_SEQPACKET = 5;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_PEERCRED = 17;
    /** Linux 6.5+: a pidfd of the process that connected, taken at connect(2). */
    private static final int SO_PEERPIDFD = 77;

    private static final int SCM_RIGHTS = 1;
    private static final int SO_RCVTIMEO = 20;
    static final int SHUT_RD = 0;
    static final int SHUT_WR = 1;
    static final int SHUT_RDWR = 2;
    static final int MSG_CTRUNC = 0x8;
    static final int MSG_TRUNC = 0x20;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;

    private static final AddressLayout POINTER = ADDRESS;

    private static final StructLayout STAT = structLayout(
            JAVA_LONG.withName("st_dev"),
            JAVA_LONG.withName("st_ino"),
            JAVA_LONG.withName("st_nlink"),
            JAVA_INT.withName("st_mode"),
            JAVA_INT.withName("st_uid"),
            JAVA_INT.withName("st_gid"),
            paddingLayout(4),
            JAVA_LONG.withName("st_rdev"),
            JAVA_LONG.withName("st_size"),
            JAVA_LONG.withName("st_blksize"),
            JAVA_LONG.withName("st_blocks"),
            sequenceLayout(6, JAVA_LONG).withName("st_atim_mtim_ctim"),
            sequenceLayout(3, JAVA_LONG).withName("glibc_reserved"));
    private static final VarHandle ST_DEV = field(STAT, "st_dev");
    private static final VarHandle ST_INO = field(STAT, "st_ino");
    private static final VarHandle ST_MODE = field(STAT, "st_mode");
    private static final VarHandle ST_SIZE = field(STAT, "st_size");
    private static final VarHandle ST_BLOCKS = field(STAT, "st_blocks");

    private static final StructLayout STATFS = structLayout(
            JAVA_LONG.withName("f_type"),
            JAVA_LONG.withName("f_bsize"),
            JAVA_LONG.withName("f_blocks"),
            JAVA_LONG.withName("f_bfree"),
            JAVA_LONG.withName("f_bavail"),
            JAVA_LONG.withName("f_files"),
            JAVA_LONG.withName("f_ffree"),
            sequenceLayout(2, JAVA_INT).withName("f_fsid"),
            JAVA_LONG.withName("f_namelen"),
            JAVA_LONG.withName("f_frsize"),
            JAVA_LONG.withName("f_flags"),
            sequenceLayout(4, JAVA_LONG).withName("f_spare"));
    private static final VarHandle F_TYPE = field(STATFS, "f_type");
    private static final VarHandle F_BSIZE = field(STATFS, "f_bsize");

    /** The nodemask get_mempolicy fills, after the mode word it fills too. */
    private static final StructLayout MEMPOLICY = structLayout(
            JAVA_INT.withName("mode"),
            paddingLayout(4),
            sequenceLayout(NodeMask.WORDS, JAVA_LONG).withName("nodemask"));

    private static final VarHandle MEMPOLICY_MODE = field(MEMPOLICY, "mode");
    private static final long MEMPOLICY_NODEMASK = MEMPOLICY.byteOffset(groupElement("nodemask"));

    private static final StructLayout GROUP = structLayout(
            POINTER.withName("gr_name"),
            POINTER.withName("gr_passwd"),
            JAVA_INT.withName("gr_gid"),
            paddingLayout(4),
            POINTER.withName("gr_mem"));
    private static final VarHandle GR_GID = field(GROUP, "gr_gid");

    private static final StructLayout UCRED =
            structLayout(JAVA_INT.withName("pid"), JAVA_INT.withName("uid"), JAVA_INT.withName("gid"));
    private static final VarHandle UCRED_PID = field(UCRED, "pid");
    private static final VarHandle UCRED_UID = field(UCRED, "uid");
    private static final VarHandle UCRED_GID = field(UCRED, "gid");

    private static final StructLayout TIMEVAL =
            structLayout(JAVA_LONG.withName("tv_sec"), JAVA_LONG.withName("tv_usec"));
    private static final VarHandle TV_SEC = field(TIMEVAL, "tv_sec");
    private static final VarHandle TV_USEC = field(TIMEVAL, "tv_usec");

    /** sun_path less its terminating NUL: the longest path a Unix socket can have. */
    static final int SUN_PATH_MAX = 107;

    private static final StructLayout SOCKADDR_UN = structLayout(
            JAVA_SHORT.withName("sun_family"),
            sequenceLayout(SUN_PATH_MAX + 1, JAVA_BYTE).withName("sun_path"));
    private static final VarHandle SUN_FAMILY = field(SOCKADDR_UN, "sun_family");
    private static final long SUN_PATH = SOCKADDR_UN.byteOffset(groupElement("sun_path"));

    private static final StructLayout IOVEC = structLayout(POINTER.withName("iov_base"), JAVA_LONG.withName("iov_len"));
    private static final VarHandle IOV_BASE = field(IOVEC, "iov_base");
    private static final VarHandle IOV_LEN = field(IOVEC, "iov_len");

    private static final StructLayout MSGHDR = structLayout(
            POINTER.withName("msg_name"),
            JAVA_INT.withName("msg_namelen"),
            paddingLayout(4),
            POINTER.withName("msg_iov"),
            JAVA_LONG.withName("msg_iovlen"),
            POINTER.withName("msg_control"),
            JAVA_LONG.withName("msg_controllen"),
            JAVA_INT.withName("msg_flags"),
            paddingLayout(4));
    private static final VarHandle MSG_NAME = field(MSGHDR, "msg_name");
    private static final VarHandle MSG_NAMELEN = field(MSGHDR, "msg_namelen");
    private static final VarHandle MSG_IOV = field(MSGHDR, "msg_iov");
    private static final VarHandle MSG_IOVLEN = field(MSGHDR, "msg_iovlen");
    private static final VarHandle MSG_CONTROL = field(MSGHDR, "msg_control");
    private static final VarHandle MSG_CONTROLLEN = field(MSGHDR, "msg_controllen");
    private static final VarHandle MSG_FLAGS = field(MSGHDR, "msg_flags");

    /** A control message's header; its data (here: the fds) follows at {@link #CMSG_DATA}. */
    private static final StructLayout CMSGHDR = structLayout(
            JAVA_LONG.withName("cmsg_len"), JAVA_INT.withName("cmsg_level"), JAVA_INT.withName("cmsg_type"));

    private static final VarHandle CMSG_LEN = field(CMSGHDR, "cmsg_len");
    private static final VarHandle CMSG_LEVEL = field(CMSGHDR, "cmsg_level");
    private static final VarHandle CMSG_TYPE = field(CMSGHDR, "cmsg_type");
    private static final long CMSG_DATA = CMSGHDR.byteSize();

    /** The kernel's SCM_MAX_FD: the most descriptors one message can carry. */
    private static final int SEND_FDS_MAX = 253;
    /** Room for the largest struct, or for a msghdr, its iovec and a control message of SEND_FDS_MAX fds. */
    private static final long SCRATCH_BYTES = 1280;
    /** Room for "/proc/self/fd/" and any fd number; readlink's target gets the rest of the scratch. */
    private static final long LINK_PATH_BYTES = 32;

    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MADVISE;
    private static final MethodHandle MEMFD_CREATE;
    private static final MethodHandle FTRUNCATE;
    private static final MethodHandle FSTAT;
    private static final MethodHandle FSTATFS;
    private static final MethodHandle READLINK;
    private static final MethodHandle LSEEK;
    private static final MethodHandle CLOSE;
    private static final MethodHandle FCNTL;
    private static final MethodHandle SOCKET;
    private static final MethodHandle BIND;
    private static final MethodHandle LISTEN;
    private static final MethodHandle ACCEPT4;
    private static final MethodHandle CONNECT;
    private static final MethodHandle SENDMSG;
    private static final MethodHandle RECVMSG;
    private static final MethodHandle GETSOCKOPT;
    private static final MethodHandle SETSOCKOPT;
    private static final MethodHandle SHUTDOWN;
    private static final MethodHandle UMASK;
    private static final MethodHandle FCHOWNAT;
    private static final MethodHandle OPENAT;
    private static final MethodHandle GETEUID;
    private static final MethodHandle GETGRNAM;
    /** syscall(nr, a1..a6): enough for mbind, get_mempolicy, move_pages, pidfd_send_signal and fbind. */
    private static final MethodHandle SYSCALL6;

    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(groupElement("errno"));

    static {
        if (!"amd64".equals(System.getProperty("os.arch"))
                || !System.getProperty("os.name").startsWith("Linux")) {
            throw new UnsupportedOperationException("numaguest's native layer supports Linux on x86_64 only; this is "
                    + System.getProperty("os.name") + " on " + System.getProperty("os.arch"));
        }
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        MMAP = handle(
                linker,
                libc,
                "mmap",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
        MUNMAP = handle(linker, libc, "munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        MADVISE = handle(linker, libc, "madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
        MEMFD_CREATE = handle(linker, libc, "memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        FTRUNCATE = handle(linker, libc, "ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
        FSTAT = handle(linker, libc, "fstat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        FSTATFS = handle(linker, libc, "fstatfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        READLINK = handle(linker, libc, "readlink", FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
        LSEEK = handle(linker, libc, "lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
        CLOSE = handle(linker, libc, "close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        FCNTL = linker.downcallHandle(
                libc.find("fcntl").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT),
                Linker.Option.captureCallState("errno"),
                Linker.Option.firstVariadicArg(2));
        SOCKET = handle(linker, libc, "socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        BIND = handle(linker, libc, "bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        LISTEN = handle(linker, libc, "listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        ACCEPT4 =
                handle(linker, libc, "accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        CONNECT = handle(linker, libc, "connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        SENDMSG = handle(linker, libc, "sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
        RECVMSG = handle(linker, libc, "recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
        GETSOCKOPT = handle(
                linker,
                libc,
                "getsockopt",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        SETSOCKOPT = handle(
                linker,
                libc,
                "setsockopt",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        SHUTDOWN = handle(linker, libc, "shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        UMASK = handle(linker, libc, "umask", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        FCHOWNAT = handle(
                linker,
                libc,
                "fchownat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
        OPENAT = linker.downcallHandle(
                libc.find("openat").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                Linker.Option.captureCallState("errno"),
                Linker.Option.firstVariadicArg(3));
        GETEUID = handle(linker, libc, "geteuid", FunctionDescriptor.of(JAVA_INT));
        GETGRNAM = handle(linker, libc, "getgrnam", FunctionDescriptor.of(ADDRESS, ADDRESS));
        SYSCALL6 = linker.downcallHandle(
                libc.find("syscall").orElseThrow(),
                FunctionDescriptor.of(
                        JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
                Linker.Option.captureCallState("errno"),
                Linker.Option.firstVariadicArg(1));
    }

    /** The calling thread's errno slot and struct scratch; freed with the thread. */
    private record ThreadScratch(MemorySegment errno, MemorySegment structs) {
        static ThreadScratch allocate() {
            Arena arena = Arena.ofAuto();
            return new ThreadScratch(arena.allocate(CAPTURE_LAYOUT), arena.allocate(SCRATCH_BYTES, 8));
        }
    }

    private static final ThreadLocal<ThreadScratch> SCRATCH = ThreadLocal.withInitial(ThreadScratch::allocate);

    private Libc() {}

    private static MethodHandle handle(Linker linker, SymbolLookup libc, String name, FunctionDescriptor descriptor) {
        return linker.downcallHandle(
                libc.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name)),
                descriptor,
                Linker.Option.captureCallState("errno"));
    }

    private static VarHandle field(StructLayout layout, String name) {
        return layout.varHandle(groupElement(name));
    }

    private static MemorySegment errnoSlot() {
        return SCRATCH.get().errno();
    }

    /** The thread's scratch, zeroed over {@code layout}'s size: what a call leaves unset is 0, as C initialisers give. */
    private static MemorySegment scratch(MemoryLayout layout) {
        MemorySegment structs = SCRATCH.get().structs();
        structs.asSlice(0, layout.byteSize()).fill((byte) 0);
        return structs;
    }

    private static int errno(MemorySegment slot) {
        return (int) ERRNO.get(slot, 0L);
    }

    /** invokeExact declares Throwable; a downcall itself throws nothing checked. */
    private static RuntimeException unexpected(Throwable t) {
        if (t instanceof Error e) {
            throw e;
        }
        return t instanceof RuntimeException r ? r : new IllegalStateException(t);
    }

    private static void check(long result, String call, MemorySegment slot) throws NativeException {
        if (result == -1) {
            throw new NativeException(call, errno(slot));
        }
    }

    /** Whether a call failed with EINTR and should simply be made again. */
    private static boolean interrupted(long result, String call, MemorySegment slot) throws NativeException {
        if (result != -1) {
            return false;
        }
        int errno = errno(slot);
        if (errno != Errno.EINTR) {
            throw new NativeException(call, errno);
        }
        return true;
    }

    // --- processes and users

    static int geteuid() {
        try {
            return (int) GETEUID.invokeExact(errnoSlot());
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** getgrnam(3): the gid of a group name, or empty when no such group exists. Not thread-safe: start-up only. */
    static OptionalInt groupId(String name) {
        MemorySegment group;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = arena.allocateFrom(name);
            group = (MemorySegment)
                    GETGRNAM.invokeExact(errnoSlot(), cName); // NULL, never -1, when there is no such group
        } catch (Throwable t) {
            throw unexpected(t);
        }
        return group.equals(MemorySegment.NULL)
                ? OptionalInt.empty()
                : OptionalInt.of((int) GR_GID.get(group.reinterpret(GROUP.byteSize()), 0L));
    }

    /** pidfd_send_signal(pidfd, signal): false when the process has exited (ESRCH). */
    static boolean pidfdSendSignal(int pidfd, int signal) throws NativeException {
        MemorySegment slot = errnoSlot();
        long result;
        try {
            result = (long)
                    SYSCALL6.invokeExact(slot, SYS_PIDFD_SEND_SIGNAL, (long) pidfd, (long) signal, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        if (result == -1 && errno(slot) == Errno.ESRCH) {
            return false;
        }
        check(result, "pidfd_send_signal", slot);
        return true;
    }

    // --- files

    static FileStat fstat(int fd) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment stat = scratch(STAT);
        int result;
        try {
            result = (int) FSTAT.invokeExact(slot, fd, stat);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "fstat", slot);
        return new FileStat(
                (long) ST_DEV.get(stat, 0L),
                (long) ST_INO.get(stat, 0L),
                (int) ST_MODE.get(stat, 0L),
                (long) ST_SIZE.get(stat, 0L),
                (long) ST_BLOCKS.get(stat, 0L));
    }

    static FsStat fstatfs(int fd) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment statfs = scratch(STATFS);
        int result;
        try {
            result = (int) FSTATFS.invokeExact(slot, fd, statfs);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "fstatfs", slot);
        // f_type is a signed long; magics above 2^31 must not sign-extend.
        return new FsStat((long) F_TYPE.get(statfs, 0L) & 0xffffffffL, (long) F_BSIZE.get(statfs, 0L));
    }

    /**
     * readlink(/proc/self/fd/FD): what the descriptor is, as the kernel names it. In the thread's
     * scratch (path at 0, target after it), so inspecting a received fd allocates no Path; a target
     * longer than the scratch (over a kilobyte, a file name no VMM uses) comes back cut.
     */
    static String fdLinkTarget(int fd) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment structs = SCRATCH.get().structs();
        structs.setString(0, "/proc/self/fd/" + fd);
        MemorySegment target = structs.asSlice(LINK_PATH_BYTES);
        long length;
        try {
            length = (long) READLINK.invokeExact(slot, structs, target, target.byteSize());
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(length, "readlink", slot);
        return new String(target.asSlice(0, length).toArray(JAVA_BYTE), StandardCharsets.UTF_8);
    }

    /** lseek(SEEK_DATA): the first allocated byte at or after {@code from}, or -1 when there is none (ENXIO). */
    static long seekData(int fd, long from) throws NativeException {
        MemorySegment slot = errnoSlot();
        long result;
        try {
            result = (long) LSEEK.invokeExact(slot, fd, from, SEEK_DATA);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        if (result == -1 && errno(slot) == Errno.ENXIO) {
            return -1;
        }
        check(result, "lseek(SEEK_DATA)", slot);
        return result;
    }

    /** lseek(SEEK_HOLE): the first byte of the hole at or after {@code from} (the end of the file counts as one). */
    static long seekHole(int fd, long from) throws NativeException {
        MemorySegment slot = errnoSlot();
        long result;
        try {
            result = (long) LSEEK.invokeExact(slot, fd, from, SEEK_HOLE);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "lseek(SEEK_HOLE)", slot);
        return result;
    }

    /** fcntl(F_GETFL): the descriptor's status flags. */
    static int statusFlags(int fd) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try {
            result = (int) FCNTL.invokeExact(slot, fd, F_GETFL);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "fcntl(F_GETFL)", slot);
        return result;
    }

    /** close(2); returns 0, or the errno it failed with. */
    static int close(int fd) {
        MemorySegment slot = errnoSlot();
        int result;
        try {
            result = (int) CLOSE.invokeExact(slot, fd);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        return result == -1 ? errno(slot) : 0;
    }

    /** fchownat(AT_FDCWD, path, -1, gid, AT_SYMLINK_NOFOLLOW): the group of the file itself, never of a link's target. */
    static void changeGroupNoFollow(String path, int gid) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = arena.allocateFrom(path);
            result = (int) FCHOWNAT.invokeExact(slot, AT_FDCWD, cPath, -1, gid, AT_SYMLINK_NOFOLLOW);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "fchownat(" + path + ")", slot);
    }

    /** O_DIRECTORY|O_PATH|O_NOFOLLOW|O_CLOEXEC. */
    private static final int DIRECTORY_PATH_NOFOLLOW = 0200000 | 010000000 | 0400000 | 02000000;

    /** openat(dirFd or AT_FDCWD for -1, name, O_DIRECTORY|O_PATH|O_NOFOLLOW|O_CLOEXEC). */
    static int openDirectoryNoFollow(int dirFd, String name) throws NativeException {
        MemorySegment slot = errnoSlot();
        int at = dirFd == -1 ? AT_FDCWD : dirFd;
        int result;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = arena.allocateFrom(name);
            do {
                result = (int) OPENAT.invokeExact(slot, at, cName, DIRECTORY_PATH_NOFOLLOW, 0);
            } while (interrupted(result, "openat(" + name + ")", slot));
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw unexpected(t);
        }
        return result;
    }

    static int memfdCreate(String name, int flags) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = arena.allocateFrom(name);
            result = (int) MEMFD_CREATE.invokeExact(slot, cName, flags);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "memfd_create", slot);
        return result;
    }

    static void ftruncate(int fd, long size) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try {
            result = (int) FTRUNCATE.invokeExact(slot, fd, size);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "ftruncate", slot);
    }

    /** fbind(fd, mode, nodemask, maxnode, flags) by the number a patched kernel gives it. */
    static void fbind(long syscallNumber, int fd, KernelPolicy policy) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment mask = nodemask(policy.nodes());
        long result;
        try {
            result = (long) SYSCALL6.invokeExact(
                    slot,
                    syscallNumber,
                    (long) fd,
                    (long) policy.modeWord(),
                    mask.address(),
                    NodeMask.MAXNODE_ARG,
                    0L,
                    0L);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "fbind", slot);
    }

    // --- memory

    /** mmap(NULL, length, prot, MAP_SHARED, fd, offset): the mapping's address. */
    static long mmapShared(int fd, long offset, long length, int prot) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(slot, MemorySegment.NULL, length, prot, MAP_SHARED, fd, offset);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(address.address(), "mmap", slot);
        return address.address();
    }

    static void munmap(long address, long length) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try {
            result = (int) MUNMAP.invokeExact(slot, MemorySegment.ofAddress(address), length);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "munmap", slot);
    }

    static void madvise(long address, long length, int advice) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try {
            result = (int) MADVISE.invokeExact(slot, MemorySegment.ofAddress(address), length, advice);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        if (result == -1) {
            throw new NativeException(
                    advice == MADV_POPULATE_WRITE
                            ? "madvise(MADV_POPULATE_WRITE)"
                            : advice == MADV_POPULATE_READ ? "madvise(MADV_POPULATE_READ)" : "madvise",
                    errno(slot));
        }
    }

    /** mbind(2) over [address, address + length). */
    static void mbind(long address, long length, KernelPolicy policy, PageMove move) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment mask = nodemask(policy.nodes());
        long result;
        try {
            result = (long) SYSCALL6.invokeExact(
                    slot,
                    SYS_MBIND,
                    address,
                    length,
                    (long) policy.modeWord(),
                    mask.address(),
                    NodeMask.MAXNODE_ARG,
                    (long) move.flag);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "mbind", slot);
    }

    /** get_mempolicy(MPOL_F_ADDR): the policy in force at an address, a shared policy included. */
    static KernelPolicy policyAt(long address) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment policy = scratch(MEMPOLICY);
        long result;
        try {
            result = (long) SYSCALL6.invokeExact(
                    slot,
                    SYS_GET_MEMPOLICY,
                    policy.address(),
                    policy.address() + MEMPOLICY_NODEMASK,
                    NodeMask.MAXNODE_ARG,
                    address,
                    (long) MPOL_F_ADDR,
                    0L);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "get_mempolicy", slot);
        int modeWord = (int) MEMPOLICY_MODE.get(policy, 0L);
        return new KernelPolicy(
                NumaMode.of(NumaModeFlag.stripFlags(modeWord)),
                NumaModeFlag.decode(modeWord),
                NodeMask.fromWords(policy.asSlice(MEMPOLICY_NODEMASK, NodeMask.WORDS * Long.BYTES)
                        .toArray(JAVA_LONG)));
    }

    /**
     * move_pages(0, count, pages, NULL, status, 0): moves nothing, writes the node of each page in
     * {@code pages} (addresses) to {@code status}, or a negative errno for a page not present.
     */
    static void pageNodes(int count, MemorySegment pages, MemorySegment status) throws NativeException {
        MemorySegment slot = errnoSlot();
        long result;
        try {
            result = (long) SYSCALL6.invokeExact(
                    slot, SYS_MOVE_PAGES, 0L, (long) count, pages.address(), 0L, status.address(), 0L);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "move_pages", slot);
    }

    /** The thread's scratch holding {@code nodes} as the kernel reads a nodemask. */
    private static MemorySegment nodemask(NodeMask nodes) {
        MemorySegment mask = SCRATCH.get().structs();
        nodes.writeTo(mask);
        return mask;
    }

    // --- sockets

    static int seqPacketSocket() throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try {
            result = (int) SOCKET.invokeExact(slot, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "socket(AF_UNIX, SOCK_SEQPACKET)", slot);
        return result;
    }

    /** umask(2): sets the process's file mode mask, returns the one before. Cannot fail. */
    static int umask(int mask) {
        try {
            return (int) UMASK.invokeExact(errnoSlot(), mask);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static void bind(int fd, byte[] path, String pathForErrors) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment address = socketAddress(path);
        int result;
        try {
            result = (int) BIND.invokeExact(slot, fd, address, (int) SOCKADDR_UN.byteSize());
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "bind(" + pathForErrors + ")", slot);
    }

    static void connect(int fd, byte[] path, String pathForErrors) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment address = socketAddress(path);
        int result;
        try {
            result = (int) CONNECT.invokeExact(slot, fd, address, (int) SOCKADDR_UN.byteSize());
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "connect(" + pathForErrors + ")", slot);
    }

    /** The thread's scratch as a sockaddr_un for {@code path}, which fits sun_path (the caller checked). */
    private static MemorySegment socketAddress(byte[] path) {
        MemorySegment address = scratch(SOCKADDR_UN);
        SUN_FAMILY.set(address, 0L, (short) AF_UNIX);
        MemorySegment.copy(path, 0, address, JAVA_BYTE, SUN_PATH, path.length);
        return address;
    }

    static void listen(int fd, int backlog) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try {
            result = (int) LISTEN.invokeExact(slot, fd, backlog);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "listen", slot);
    }

    /** accept4(SOCK_CLOEXEC), made again when a signal interrupts it. */
    static int accept(int fd) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        do {
            try {
                result = (int) ACCEPT4.invokeExact(slot, fd, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
            } catch (Throwable t) {
                throw unexpected(t);
            }
        } while (interrupted(result, "accept4", slot));
        return result;
    }

    static PeerCredentials peerCredentials(int fd) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment option = scratch(UCRED);
        MemorySegment length = option.asSlice(UCRED.byteSize() + 4, JAVA_INT.byteSize());
        length.set(JAVA_INT, 0, (int) UCRED.byteSize());
        int result;
        try {
            result = (int) GETSOCKOPT.invokeExact(slot, fd, SOL_SOCKET, SO_PEERCRED, option, length);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "getsockopt(SO_PEERCRED)", slot);
        return new PeerCredentials(
                (int) UCRED_PID.get(option, 0L), (int) UCRED_UID.get(option, 0L), (int) UCRED_GID.get(option, 0L));
    }

    /** getsockopt(SO_PEERPIDFD): the connecting process's pidfd, or -1 when the kernel predates it (ENOPROTOOPT). */
    static int peerPidfd(int fd) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment option = scratch(JAVA_LONG);
        MemorySegment length = option.asSlice(JAVA_INT.byteSize(), JAVA_INT.byteSize());
        length.set(JAVA_INT, 0, (int) JAVA_INT.byteSize());
        int result;
        try {
            result = (int) GETSOCKOPT.invokeExact(slot, fd, SOL_SOCKET, SO_PEERPIDFD, option, length);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        if (result == -1 && errno(slot) == Errno.ENOPROTOOPT) {
            return -1;
        }
        check(result, "getsockopt(SO_PEERPIDFD)", slot);
        return option.get(JAVA_INT, 0);
    }

    /** setsockopt(SO_RCVTIMEO): a receive gives up with EAGAIN after {@code timeout}; zero waits for ever. */
    static void receiveTimeout(int fd, Duration timeout) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment timeval = scratch(TIMEVAL);
        TV_SEC.set(timeval, 0L, timeout.toSeconds());
        TV_USEC.set(timeval, 0L, timeout.toMillisPart() * 1000L);
        int result;
        try {
            result = (int) SETSOCKOPT.invokeExact(slot, fd, SOL_SOCKET, SO_RCVTIMEO, timeval, (int) TIMEVAL.byteSize());
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "setsockopt(SO_RCVTIMEO)", slot);
    }

    static void shutdown(int fd, int how) throws NativeException {
        MemorySegment slot = errnoSlot();
        int result;
        try {
            result = (int) SHUTDOWN.invokeExact(slot, fd, how);
        } catch (Throwable t) {
            throw unexpected(t);
        }
        check(result, "shutdown", slot);
    }

    /**
     * What recvmsg reported: bytes received, the descriptors that came with them (the caller owns
     * and must close them), and its MSG_* flags.
     */
    record Received(long bytes, int[] fds, int flags) {}

    /**
     * recvmsg(MSG_CMSG_CLOEXEC) of one message into {@code buffer}, its control messages into
     * {@code control}; made again when a signal interrupts it.
     */
    static Received recvmsg(int fd, MemorySegment buffer, MemorySegment control) throws NativeException {
        MemorySegment slot = errnoSlot();
        MemorySegment header = messageHeader(buffer, buffer.byteSize(), control, control.byteSize());
        long result;
        do {
            try {
                result = (long) RECVMSG.invokeExact(slot, fd, header, MSG_CMSG_CLOEXEC);
            } catch (Throwable t) {
                throw unexpected(t);
            }
        } while (interrupted(result, "recvmsg", slot));
        return new Received(
                result, receivedFds(control, (long) MSG_CONTROLLEN.get(header, 0L)), (int) MSG_FLAGS.get(header, 0L));
    }

    /**
     * sendmsg(MSG_NOSIGNAL) of {@code length} bytes of {@code data}, with {@code fds} attached as
     * SCM_RIGHTS; made again when a signal interrupts it. MSG_NOSIGNAL: a client that went away
     * gives EPIPE, not a SIGPIPE.
     */
    static void sendmsg(int fd, MemorySegment data, long length, int[] fds) throws NativeException {
        if (fds.length > SEND_FDS_MAX) {
            throw new IllegalArgumentException(fds.length + " descriptors, at most " + SEND_FDS_MAX + " per message");
        }
        MemorySegment slot = errnoSlot();
        MemorySegment header;
        if (fds.length == 0) {
            header = messageHeader(data, length, MemorySegment.NULL, 0);
        } else {
            MemorySegment control =
                    SCRATCH.get().structs().asSlice(MSGHDR.byteSize() + IOVEC.byteSize(), controlSpace(fds.length));
            control.fill((byte) 0);
            CMSG_LEN.set(control, 0L, CMSG_DATA + (long) Integer.BYTES * fds.length);
            CMSG_LEVEL.set(control, 0L, SOL_SOCKET);
            CMSG_TYPE.set(control, 0L, SCM_RIGHTS);
            MemorySegment.copy(fds, 0, control, JAVA_INT, CMSG_DATA, fds.length);
            header = messageHeader(data, length, control, control.byteSize());
        }
        long result;
        do {
            try {
                result = (long) SENDMSG.invokeExact(slot, fd, header, MSG_NOSIGNAL);
            } catch (Throwable t) {
                throw unexpected(t);
            }
        } while (interrupted(result, "sendmsg", slot));
    }

    /** CMSG_SPACE(n * sizeof(int)): the control space for n descriptors. */
    static long controlSpace(int fdCount) {
        return CMSG_DATA + ((long) Integer.BYTES * fdCount + 7 & ~7L);
    }

    /** The thread's scratch as a msghdr with one iovec over {@code data} (the iovec right after the header). */
    private static MemorySegment messageHeader(
            MemorySegment data, long length, MemorySegment control, long controlLength) {
        MemorySegment structs = SCRATCH.get().structs();
        MemorySegment header = structs.asSlice(0, MSGHDR.byteSize());
        MemorySegment iov = structs.asSlice(MSGHDR.byteSize(), IOVEC.byteSize());
        IOV_BASE.set(iov, 0L, data);
        IOV_LEN.set(iov, 0L, length);
        MSG_NAME.set(header, 0L, MemorySegment.NULL);
        MSG_NAMELEN.set(header, 0L, 0);
        MSG_IOV.set(header, 0L, iov);
        MSG_IOVLEN.set(header, 0L, 1L);
        MSG_CONTROL.set(header, 0L, control);
        MSG_CONTROLLEN.set(header, 0L, controlLength);
        MSG_FLAGS.set(header, 0L, 0);
        return header;
    }

    /** Walks the control messages (CMSG_FIRSTHDR/CMSG_NXTHDR) and collects every SCM_RIGHTS fd. */
    private static int[] receivedFds(MemorySegment control, long controlLength) {
        int[] fds = new int[0];
        long offset = 0;
        while (offset + CMSG_DATA <= controlLength) {
            long cmsgLength = (long) CMSG_LEN.get(control, offset);
            if (cmsgLength < CMSG_DATA || offset + cmsgLength > controlLength) {
                break;
            }
            if ((int) CMSG_LEVEL.get(control, offset) == SOL_SOCKET
                    && (int) CMSG_TYPE.get(control, offset) == SCM_RIGHTS) {
                int count = (int) ((cmsgLength - CMSG_DATA) / Integer.BYTES);
                int[] all = Arrays.copyOf(fds, fds.length + count);
                MemorySegment.copy(control, JAVA_INT, offset + CMSG_DATA, all, fds.length, count);
                fds = all;
            }
            offset += cmsgLength + 7 & ~7L;
        }
        return fds;
    }
}
