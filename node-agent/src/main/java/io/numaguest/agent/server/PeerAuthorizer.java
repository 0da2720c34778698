package io.numaguest.agent.server;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.policy.VmRef;

/**
 * Decides whether a connected process may make a request. Standalone agents check uids and gids;
 * in Kubernetes mode the peer's pid is mapped to its pod, which must be the target of the VM's policy.
 */
public interface PeerAuthorizer {
    /**
     * @param peer what was read of the peer when it connected
     * @param vm   the VM the request is about, or null for hello (and for the check at connect)
     */
    void authorize(PeerProcess peer, VmRef vm) throws AgentException;
}
