package io.numaguest.agent.nativeaccess;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.OptionalInt;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/** The agent's own user, and group names as the system's group database (NSS) resolves them. */
public final class Credentials {
    private Credentials() {
    }

    public static int effectiveUid() {
        try (Arena arena = Arena.ofConfined()) {
            return (int) Libc.call("geteuid", arena, slot -> (int) Libc.GETEUID.invokeExact(slot));
        } catch (NativeException e) {
            throw new IllegalStateException("geteuid cannot fail", e);
        }
    }

    /** getgrnam(3): the gid of a group name, or empty when no such group exists. Not thread-safe: start-up only. */
    public static OptionalInt groupId(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = arena.allocateFrom(name);
            // getgrnam returns NULL, never -1, so call() throws nothing here.
            long group = Libc.call("getgrnam", arena, slot -> ((MemorySegment) Libc.GETGRNAM.invokeExact(slot, cName)).address());
            if (group == 0) {
                return OptionalInt.empty();
            }
            return OptionalInt.of(MemorySegment.ofAddress(group).reinterpret(Libc.GROUP_GID + 4).get(JAVA_INT, Libc.GROUP_GID));
        } catch (NativeException e) {
            throw new IllegalStateException("getgrnam cannot return -1", e);
        }
    }
}
