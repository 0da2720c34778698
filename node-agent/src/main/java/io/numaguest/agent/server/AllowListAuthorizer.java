package io.numaguest.agent.server;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.VmRef;
import java.util.HashSet;
import java.util.Set;

/**
 * Standalone mode: a peer is allowed when its uid, its gid, or one of its supplementary groups
 * (from /proc/PID/status as read at connect, since SO_PEERCRED carries only the primary gid) is on the list.
 */
public final class AllowListAuthorizer implements PeerAuthorizer {
    private final Set<Integer> uids;
    private final Set<Integer> gids;

    public AllowListAuthorizer(Set<Integer> uids, Set<Integer> gids) {
        this.uids = Set.copyOf(uids);
        this.gids = Set.copyOf(gids);
    }

    @Override
    public void authorize(PeerProcess process, VmRef vm) throws AgentException {
        PeerCredentials peer = process.credentials();
        if (uids.contains(peer.uid()) || gids.contains(peer.gid())) {
            return;
        }
        for (int group : supplementaryGroups(process.status().orElse(""))) {
            if (gids.contains(group)) {
                return;
            }
        }
        throw new AgentException(
                ErrorCode.FORBIDDEN,
                "process " + peer.pid() + " (uid " + peer.uid() + ", gid "
                        + peer.gid() + ") is not allowed: allowed uids " + uids + ", gids " + gids
                        + " (agent flags --allow-uid/--allow-gid, or the socket's group)");
    }

    private static Set<Integer> supplementaryGroups(String status) {
        Set<Integer> groups = new HashSet<>();
        for (String line : status.lines().toList()) {
            if (line.startsWith("Groups:")) {
                for (String group : line.substring("Groups:".length()).trim().split("\\s+")) {
                    if (!group.isEmpty()) {
                        groups.add(Integer.parseInt(group));
                    }
                }
            }
        }
        return groups;
    }
}
