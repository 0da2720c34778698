package io.numaguest.agent.policy;

import java.util.Optional;

/** Where the agent learns which policy a VM's guest node gets: the policy file, or the cluster. */
public interface PolicySource {
    Optional<GuestNodePolicy> find(VmRef vm, int guestNode);
}
