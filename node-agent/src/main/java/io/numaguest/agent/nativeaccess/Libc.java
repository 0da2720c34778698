package io.numaguest.agent.nativeaccess;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Every downcall of the agent, in one place. Each handle captures errno, and {@link #check} turns a
 * failed call into a {@link NativeException}. Layouts and numbers are those of Linux on x86_64; the
 * class refuses to load anywhere else rather than call a syscall number that means something different.
 */
final class Libc {
    // x86_64 syscall numbers: glibc exports no wrapper for the mempolicy calls (libnuma does).
    static final long SYS_MBIND = 237;
    static final long SYS_GET_MEMPOLICY = 239;
    static final long SYS_MOVE_PAGES = 279;
    static final long SYS_PIDFD_SEND_SIGNAL = 424;

    static final int PROT_NONE = 0;
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    static final int MAP_SHARED = 1;
    static final int MADV_POPULATE_READ = 22;
    static final int MADV_POPULATE_WRITE = 23;
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;
    static final int F_GETFL = 3;
    static final int AT_FDCWD = -100;
    static final int AT_SYMLINK_NOFOLLOW = 0x100;
    /** struct group: gr_name, gr_passwd (pointers), then gr_gid. */
    static final long GROUP_GID = 16;

    static final int AF_UNIX = 1;
    static final int SOCK_SEQPACKET = 5;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int SOL_SOCKET = 1;
    static final int SO_PEERCRED = 17;
    /** Linux 6.5+: a pidfd of the process that connected, taken at connect(2). */
    static final int SO_PEERPIDFD = 77;
    static final int SCM_RIGHTS = 1;
    static final int SO_RCVTIMEO = 20;
    static final long TIMEVAL_SIZE = 16;
    static final int SHUT_RD = 0;
    static final int SHUT_WR = 1;
    static final int SHUT_RDWR = 2;
    static final int MSG_CTRUNC = 0x8;
    static final int MSG_TRUNC = 0x20;
    static final int MSG_NOSIGNAL = 0x4000;
    static final int MSG_CMSG_CLOEXEC = 0x40000000;

    /** struct msghdr: name, namelen(+pad), iov, iovlen, control, controllen, flags(+pad). */
    static final long MSGHDR_SIZE = 56;
    static final long MSGHDR_IOV = 16;
    static final long MSGHDR_IOVLEN = 24;
    static final long MSGHDR_CONTROL = 32;
    static final long MSGHDR_CONTROLLEN = 40;
    static final long MSGHDR_FLAGS = 48;
    static final long IOVEC_SIZE = 16;
    static final long CMSG_HEADER = 16;
    static final long SOCKADDR_UN_SIZE = 110;
    static final int SUN_PATH_MAX = 107;
    static final long UCRED_SIZE = 12;
    static final long STAT_SIZE = 144;
    static final long STAT_DEV = 0;
    static final long STAT_INO = 8;
    static final long STAT_MODE = 24;
    static final long STAT_SIZE_FIELD = 48;
    static final long STAT_BLOCKS = 64;
    static final long STATFS_SIZE = 120;
    static final long STATFS_BSIZE = 8;

    static final MethodHandle MMAP;
    static final MethodHandle MUNMAP;
    static final MethodHandle MADVISE;
    static final MethodHandle MEMFD_CREATE;
    static final MethodHandle FTRUNCATE;
    static final MethodHandle FSTAT;
    static final MethodHandle FSTATFS;
    static final MethodHandle LSEEK;
    static final MethodHandle CLOSE;
    static final MethodHandle FCNTL;
    static final MethodHandle SOCKET;
    static final MethodHandle BIND;
    static final MethodHandle LISTEN;
    static final MethodHandle ACCEPT4;
    static final MethodHandle CONNECT;
    static final MethodHandle SENDMSG;
    static final MethodHandle RECVMSG;
    static final MethodHandle GETSOCKOPT;
    static final MethodHandle SETSOCKOPT;
    static final MethodHandle SHUTDOWN;
    static final MethodHandle UMASK;
    static final MethodHandle FCHOWNAT;
    static final MethodHandle GETEUID;
    static final MethodHandle GETGRNAM;
    /** syscall(nr, a1..a6): enough for mbind, get_mempolicy, move_pages and fbind. */
    static final MethodHandle SYSCALL6;

    private static final MemoryLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    static {
        if (!"amd64".equals(System.getProperty("os.arch")) || !System.getProperty("os.name").startsWith("Linux")) {
            throw new UnsupportedOperationException("numaguest's native layer supports Linux on x86_64 only; this is "
                    + System.getProperty("os.name") + " on " + System.getProperty("os.arch"));
        }
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        MMAP = handle(linker, libc, "mmap", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
        MUNMAP = handle(linker, libc, "munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        MADVISE = handle(linker, libc, "madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
        MEMFD_CREATE = handle(linker, libc, "memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        FTRUNCATE = handle(linker, libc, "ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
        FSTAT = handle(linker, libc, "fstat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        FSTATFS = handle(linker, libc, "fstatfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        LSEEK = handle(linker, libc, "lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
        CLOSE = handle(linker, libc, "close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        FCNTL = linker.downcallHandle(libc.find("fcntl").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT),
                Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(2));
        SOCKET = handle(linker, libc, "socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        BIND = handle(linker, libc, "bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        LISTEN = handle(linker, libc, "listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        ACCEPT4 = handle(linker, libc, "accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        CONNECT = handle(linker, libc, "connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        SENDMSG = handle(linker, libc, "sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
        RECVMSG = handle(linker, libc, "recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
        GETSOCKOPT = handle(linker, libc, "getsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        SETSOCKOPT = handle(linker, libc, "setsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        SHUTDOWN = handle(linker, libc, "shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        UMASK = handle(linker, libc, "umask", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        FCHOWNAT = handle(linker, libc, "fchownat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
        GETEUID = handle(linker, libc, "geteuid", FunctionDescriptor.of(JAVA_INT));
        GETGRNAM = handle(linker, libc, "getgrnam", FunctionDescriptor.of(ADDRESS, ADDRESS));
        SYSCALL6 = linker.downcallHandle(libc.find("syscall").orElseThrow(),
                FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
                Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(1));
    }

    private Libc() {
    }

    private static MethodHandle handle(Linker linker, SymbolLookup libc, String name, FunctionDescriptor descriptor) {
        return linker.downcallHandle(libc.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name)),
                descriptor, Linker.Option.captureCallState("errno"));
    }

    /** One downcall made with an errno slot as its first argument; returns the C result widened to long. */
    @FunctionalInterface
    interface Downcall {
        long invoke(MemorySegment errnoSlot) throws Throwable;
    }

    /** Makes the call and throws a {@link NativeException} when it returns -1 (libc and raw syscalls alike). */
    static long call(String name, Arena arena, Downcall downcall) throws NativeException {
        return callTolerating(name, arena, 0, downcall);
    }

    /** Like {@link #call}, restarting the call when a signal interrupted it (EINTR). */
    static long callRestarting(String name, Arena arena, Downcall downcall) throws NativeException {
        long result;
        do {
            result = callTolerating(name, arena, Errno.EINTR, downcall);
        } while (result == -1);
        return result;
    }

    /** Like {@link #call}, but returns -1 instead of throwing when errno is {@code toleratedErrno}. */
    static long callTolerating(String name, Arena arena, int toleratedErrno, Downcall downcall) throws NativeException {
        MemorySegment slot = arena.allocate(CAPTURE_LAYOUT);
        long result;
        try {
            result = downcall.invoke(slot);
        } catch (Throwable t) {
            // invokeExact declares Throwable; a downcall itself throws nothing checked.
            if (t instanceof Error e) {
                throw e;
            }
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
        if (result == -1) {
            int errno = (int) ERRNO.get(slot, 0L);
            if (errno != toleratedErrno || toleratedErrno == 0) {
                throw new NativeException(name, errno);
            }
        }
        return result;
    }
}
