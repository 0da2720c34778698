package io.numaguest.agent.request;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.VmRef;

/** Told what each apply did per guest node; in Kubernetes mode this becomes the NGM's status.applied. */
public interface ApplyObserver {
    ApplyObserver NONE = new ApplyObserver() {
        @Override
        public void applied(VmRef vm, PeerCredentials peer, int guestNode, RegionOutcome outcome) {}

        @Override
        public void refused(VmRef vm, PeerCredentials peer, int guestNode, AgentException failure) {}
    };

    void applied(VmRef vm, PeerCredentials peer, int guestNode, RegionOutcome outcome);

    void refused(VmRef vm, PeerCredentials peer, int guestNode, AgentException failure);
}
