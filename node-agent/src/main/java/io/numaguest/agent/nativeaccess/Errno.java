package io.numaguest.agent.nativeaccess;

/** The Linux errno values this agent reacts to, and readable names for all the others it may report. */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int ENXIO = 6;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EBUSY = 16;
    public static final int ENODEV = 19;
    public static final int ENOTDIR = 20;
    public static final int EINVAL = 22;
    public static final int EMFILE = 24;
    public static final int ENOSPC = 28;
    public static final int EPIPE = 32;
    public static final int ENOSYS = 38;
    public static final int ELOOP = 40;
    public static final int ENOTSOCK = 88;
    public static final int ENOPROTOOPT = 92;
    public static final int EOPNOTSUPP = 95;
    public static final int EADDRINUSE = 98;
    public static final int ECONNRESET = 104;
    public static final int ECONNREFUSED = 111;

    private Errno() {}

    /** "EINVAL (22): Invalid argument" style text for logs and error messages. */
    public static String describe(int errno) {
        String name = switch (errno) {
            case EPERM -> "EPERM: operation not permitted";
            case ENOENT -> "ENOENT: no such file or directory";
            case ESRCH -> "ESRCH: no such process";
            case EINTR -> "EINTR: interrupted system call";
            case EIO -> "EIO: input/output error";
            case ENXIO -> "ENXIO: no such device or address";
            case EBADF -> "EBADF: bad file descriptor";
            case ENOTDIR -> "ENOTDIR: not a directory";
            case ELOOP -> "ELOOP: too many levels of symbolic links";
            case EAGAIN -> "EAGAIN: resource temporarily unavailable";
            case ENOMEM -> "ENOMEM: cannot allocate memory";
            case EACCES -> "EACCES: permission denied";
            case EFAULT -> "EFAULT: bad address";
            case EBUSY -> "EBUSY: device or resource busy";
            case ENODEV -> "ENODEV: no such device";
            case EINVAL -> "EINVAL: invalid argument";
            case EMFILE -> "EMFILE: too many open files";
            case ENOSPC -> "ENOSPC: no space left on device";
            case EPIPE -> "EPIPE: broken pipe";
            case ENOSYS -> "ENOSYS: function not implemented";
            case ENOTSOCK -> "ENOTSOCK: not a socket";
            case ENOPROTOOPT -> "ENOPROTOOPT: protocol not available";
            case EOPNOTSUPP -> "EOPNOTSUPP: operation not supported";
            case EADDRINUSE -> "EADDRINUSE: address already in use";
            case ECONNRESET -> "ECONNRESET: connection reset by peer";
            case ECONNREFUSED -> "ECONNREFUSED: connection refused";
            default -> "errno " + errno;
        };
        return name + " (" + errno + ")";
    }
}
