package io.numaguest.agent.nativeaccess;

/** The parts of struct stat the agent needs to tell guest memory from everything else. */
public record FileStat(long device, long inode, int mode, long sizeBytes, long blocks512) {
    private static final int S_IFMT = 0170000;

    /** A stat whose device does not matter (tests of the classification). */
    public FileStat(long inode, int mode, long sizeBytes, long blocks512) {
        this(0, inode, mode, sizeBytes, blocks512);
    }

    public boolean isRegularFile() {
        return (mode & S_IFMT) == 0100000;
    }

    /** Whether a st_mode (as lstat or {@code Files.getAttribute(path, "unix:mode")} gives it) is a socket's. */
    public static boolean isSocket(int mode) {
        return (mode & S_IFMT) == 0140000;
    }

    /** Bytes the file has allocated (st_blocks counts 512-byte units on every filesystem). */
    public long allocatedBytes() {
        return blocks512 * 512;
    }

    public String typeName() {
        return typeName(mode);
    }

    /** "socket", "regular file", ... for a st_mode. */
    public static String typeName(int mode) {
        return switch (mode & S_IFMT) {
            case 0140000 -> "socket";
            case 0120000 -> "symbolic link";
            case 0100000 -> "regular file";
            case 0060000 -> "block device";
            case 0040000 -> "directory";
            case 0020000 -> "character device";
            case 0010000 -> "pipe";
            case 0 -> "anonymous inode";
            default -> "file of mode 0" + Integer.toOctalString(mode);
        };
    }
}
