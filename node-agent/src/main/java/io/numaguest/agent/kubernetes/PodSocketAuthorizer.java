package io.numaguest.agent.kubernetes;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.server.PeerAuthorizer;
import io.numaguest.agent.server.PeerProcess;
import java.util.Optional;

/**
 * The check of a per-pod socket: the peer must be a process of the pod the socket was opened for
 * (its cgroup, read as on the node socket), and then pass the node socket's own check, which lets a
 * pod name only the VM whose NumaGuestMemory targets it. Host processes, root included, are refused
 * here: they have the node socket.
 */
final class PodSocketAuthorizer implements PeerAuthorizer {
    private final String podUid;
    private final PeerAuthorizer podCheck;

    PodSocketAuthorizer(String podUid, PeerAuthorizer podCheck) {
        this.podUid = podUid;
        this.podCheck = podCheck;
    }

    @Override
    public void authorize(PeerProcess peer, VmRef vm) throws AgentException {
        Optional<String> peerPod = peer.cgroup().flatMap(PodCgroup::podUid);
        if (!peerPod.equals(Optional.of(podUid))) {
            throw new AgentException(
                    ErrorCode.FORBIDDEN,
                    "process " + peer.credentials().pid()
                            + peerPod.map(uid -> " (pod " + uid + ")").orElse(" (in no pod)")
                            + " may not use this socket: it serves only the processes of pod " + podUid);
        }
        podCheck.authorize(peer, vm);
    }
}
