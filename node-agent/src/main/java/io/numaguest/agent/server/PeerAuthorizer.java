package io.numaguest.agent.server;

import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.protocol.AgentException;

/**
 * Decides whether a connected process may make a request. Standalone agents check uids and gids;
 * in Kubernetes mode the peer's pid is mapped to its pod, which must be the target of the VM's policy.
 */
public interface PeerAuthorizer {
    /** @param vm the VM the request is about, or null for hello */
    void authorize(PeerCredentials peer, VmRef vm) throws AgentException;
}
