package io.numaguest.agent.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.protocol.AgentException;
import io.numaguest.agent.protocol.ErrorCode;

/**
 * Standalone mode: a peer is allowed when its uid, its gid, or one of its supplementary groups
 * (read from /proc/PID/status, since SO_PEERCRED carries only the primary gid) is on the list.
 */
public final class AllowListAuthorizer implements PeerAuthorizer {
    private final Set<Integer> uids;
    private final Set<Integer> gids;
    private final Path proc;

    public AllowListAuthorizer(Set<Integer> uids, Set<Integer> gids, Path proc) {
        this.uids = Set.copyOf(uids);
        this.gids = Set.copyOf(gids);
        this.proc = proc;
    }

    @Override
    public void authorize(PeerCredentials peer, VmRef vm) throws AgentException {
        if (uids.contains(peer.uid()) || gids.contains(peer.gid())) {
            return;
        }
        for (int group : supplementaryGroups(peer.pid())) {
            if (gids.contains(group)) {
                return;
            }
        }
        throw new AgentException(ErrorCode.FORBIDDEN, "process " + peer.pid() + " (uid " + peer.uid() + ", gid "
                + peer.gid() + ") is not allowed: allowed uids " + uids + ", gids " + gids
                + " (agent flags --allow-uid/--allow-gid, or the socket's group)");
    }

    private Set<Integer> supplementaryGroups(int pid) {
        Set<Integer> groups = new HashSet<>();
        try {
            for (String line : Files.readAllLines(proc.resolve(pid + "/status"))) {
                if (line.startsWith("Groups:")) {
                    for (String group : line.substring("Groups:".length()).trim().split("\\s+")) {
                        if (!group.isEmpty()) {
                            groups.add(Integer.parseInt(group));
                        }
                    }
                }
            }
        } catch (IOException | NumberFormatException e) {
            // The peer exited or is in another pid namespace: judge it by uid and primary gid alone.
        }
        return groups;
    }
}
