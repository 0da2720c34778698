package io.numaguest.agent.nativeaccess;

/** A descriptor's access mode. O_PATH descriptors name a file but allow neither mmap nor I/O. */
public enum OpenMode {
    READ_ONLY,
    WRITE_ONLY,
    READ_WRITE,
    PATH_ONLY;

    private static final int O_ACCMODE = 03;
    private static final int O_PATH = 010000000;

    static OpenMode of(int flags) {
        if ((flags & O_PATH) != 0) {
            return PATH_ONLY;
        }
        return switch (flags & O_ACCMODE) {
            case 0 -> READ_ONLY;
            case 1 -> WRITE_ONLY;
            default -> READ_WRITE;
        };
    }
}
