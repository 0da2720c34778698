package io.numaguest.agent.topology;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.SortedSet;

/**
 * The host nodes a process may allocate memory on: its cpuset's mems, as {@code Mems_allowed_list}
 * in /proc/PID/status shows them. Shared policies are evaluated in the allocating task, so this
 * matters for the VMM as much as for the agent.
 */
public final class MemsAllowed {
    private static final String FIELD = "Mems_allowed_list:";

    private MemsAllowed() {}

    /** From the text of a /proc/PID/status; empty when it has no such line. */
    public static Optional<SortedSet<Integer>> fromStatus(String status) {
        for (String line : status.lines().toList()) {
            if (line.startsWith(FIELD)) {
                return Optional.of(NodeList.parse(line.substring(FIELD.length())));
            }
        }
        return Optional.empty();
    }

    /** Empty when the file cannot be read (process gone, another pid namespace) or has no such line. */
    public static Optional<SortedSet<Integer>> of(Path procPidStatus) {
        try {
            return fromStatus(Files.readString(procPidStatus));
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
