package io.numaguest.agent.nativeaccess;

import java.io.IOException;

/** A system call failed; carries the Linux errno so callers can map it to a protocol error. */
public final class NativeException extends IOException {
    private final String call;
    private final int errno;

    NativeException(String call, int errno) {
        super(call + " failed: " + Errno.describe(errno));
        this.call = call;
        this.errno = errno;
    }

    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }
}
