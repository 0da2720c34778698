package io.numaguest.agent.policy;

import io.numaguest.agent.error.AgentException;
import java.util.Optional;

/** Where the agent learns which policy a VM's guest node gets: the policy file, or the cluster. */
public interface PolicySource {
    /**
     * @return the policy, or empty when there is none (NO_POLICY)
     * @throws AgentException when the source cannot answer yet (BUSY) or the answer is ambiguous
     */
    Optional<GuestNodePolicy> find(VmRef vm, int guestNode) throws AgentException;
}
