package io.numaguest.agent.server;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.nativeaccess.Pidfd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What the agent knows of a connected peer, read from /proc once when it connects and kept for the
 * connection: its SO_PEERCRED credentials, its /proc/PID/status and /proc/PID/cgroup. Read once,
 * so that a process that later gets the same pid inherits nothing, and a VMM that forks and lets
 * the connecting process exit keeps what it was granted.
 *
 * <p>With SO_PEERPIDFD (Linux 6.5+) the files are checked to be the connecting process's own: the
 * pidfd must still be alive after they are read, else the pid may already name another process.
 * On older kernels the pid alone is trusted: a peer that exits between connect and the agent's
 * read and whose pid is reused at once is taken for the new process (see docs/design.md, Security).
 *
 * @param pinned whether a pidfd proved the files are the connecting process's
 */
public record PeerProcess(
        PeerCredentials credentials, Optional<String> status, Optional<String> cgroup, boolean pinned) {

    /** Reads the peer's files now, checked against its pidfd when there is one. */
    public static PeerProcess identify(Path proc, PeerCredentials credentials, Optional<Pidfd> pidfd)
            throws AgentException {
        PeerProcess read = read(proc, credentials);
        if (pidfd.isEmpty()) {
            return read;
        }
        try {
            if (!pidfd.get().isAlive()) {
                throw exited(credentials);
            }
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.INTERNAL, "cannot check the peer's pidfd", e);
        }
        return new PeerProcess(credentials, read.status, read.cgroup, true);
    }

    /** Reads the peer's files now, trusting the pid (no pidfd). */
    public static PeerProcess read(Path proc, PeerCredentials credentials) {
        Path dir = proc.resolve(Integer.toString(credentials.pid()));
        return new PeerProcess(
                credentials, readQuietly(dir.resolve("status")), readQuietly(dir.resolve("cgroup")), false);
    }

    static AgentException exited(PeerCredentials credentials) {
        return new AgentException(
                ErrorCode.FORBIDDEN,
                "process " + credentials.pid() + ", which connected, has exited: its pid "
                        + "may name another process now, so the connection cannot be attributed; connect from the process that asks");
    }

    private static Optional<String> readQuietly(Path file) {
        try {
            return Optional.of(Files.readString(file));
        } catch (IOException e) {
            return Optional.empty(); // gone, or in another pid namespace
        }
    }
}
