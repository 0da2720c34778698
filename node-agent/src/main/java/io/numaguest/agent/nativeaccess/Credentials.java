package io.numaguest.agent.nativeaccess;

import java.util.OptionalInt;

/** The agent's own user, and group names as the system's group database (NSS) resolves them. */
public final class Credentials {
    private Credentials() {}

    public static int effectiveUid() {
        return Libc.geteuid();
    }

    /** getgrnam(3): the gid of a group name, or empty when no such group exists. Not thread-safe: start-up only. */
    public static OptionalInt groupId(String name) {
        return Libc.groupId(name);
    }
}
