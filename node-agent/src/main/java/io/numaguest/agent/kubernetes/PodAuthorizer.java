package io.numaguest.agent.kubernetes;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.server.PeerAuthorizer;
import io.numaguest.agent.server.PeerProcess;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.PodReference;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Kubernetes mode: a process may act for a VM only from the pod that the VM's NumaGuestMemory
 * targets. The peer's pid (SO_PEERCRED, valid in the host pid namespace the agent runs in) gives its
 * cgroup (read once, at connect), the cgroup gives its pod UID, and the pod the NGM has this node
 * serve must be that UID: {@code status.targetPod}, or on a live migration's target node
 * {@code status.migration.targetPod}, whose VMM fills guest memory before the VM runs here.
 * hello, which reveals only the host topology, is open to host root and to any targeted pod.
 */
public final class PodAuthorizer implements PeerAuthorizer {
    private final KubernetesPolicySource policies;
    private final String nodeName;
    private final Path proc;

    public PodAuthorizer(KubernetesPolicySource policies, String nodeName, Path proc) {
        this.policies = policies;
        this.nodeName = nodeName;
        this.proc = proc;
    }

    /** Judges the process by its /proc files as they are now, unpinned (for tests and tools). */
    public void authorize(PeerCredentials peer, VmRef vm) throws AgentException {
        authorize(PeerProcess.read(proc, peer), vm);
    }

    @Override
    public void authorize(PeerProcess process, VmRef vm) throws AgentException {
        PeerCredentials peer = process.credentials();
        Optional<String> podUid = process.cgroup().flatMap(PodCgroup::podUid);
        if (vm == null) {
            if (!policies.hasSynced() && podUid.isPresent()) {
                throw new AgentException(
                        ErrorCode.BUSY,
                        "the agent is still reading the NumaGuestMemory objects of its node; retry shortly");
            }
            boolean targeted = podUid.isPresent()
                    && policies.all().stream()
                            .anyMatch(ngm -> podUid.get().equals(targetUid(ngm).orElse(null)));
            if (targeted || (peer.uid() == 0 && podUid.isEmpty())) {
                return;
            }
            throw forbidden(peer, podUid, "it is not the target pod of any NumaGuestMemory on node " + nodeName);
        }
        if (podUid.isEmpty()) {
            throw forbidden(
                    peer,
                    podUid,
                    "it runs in no Kubernetes pod; in Kubernetes mode only a VM's pod may apply its policy");
        }
        NumaGuestMemory ngm = policies.forVm(vm)
                .orElseThrow(
                        () -> forbidden(peer, podUid, "no NumaGuestMemory on node " + nodeName + " names VM " + vm));
        PodReference target = policies.podServedHere(ngm)
                .filter(pod -> pod.getUid() != null)
                .orElseThrow(
                        () -> new AgentException(
                                ErrorCode.BUSY,
                                "NumaGuestMemory for VM " + vm + " has no target pod on node " + nodeName
                                        + " yet (see its Scheduled condition, or MigrationTargetReady during a migration); retry shortly"));
        if (!target.getUid().equals(podUid.get())) {
            throw forbidden(
                    peer,
                    podUid,
                    "NumaGuestMemory " + ngm.getMetadata().getNamespace() + "/"
                            + ngm.getMetadata().getName()
                            + (policies.isMigrationTarget(ngm)
                                    ? " migrates to node " + nodeName + " in pod "
                                    : " targets pod ")
                            + target.getName() + " (" + target.getUid() + ")");
        }
    }

    private Optional<String> targetUid(NumaGuestMemory ngm) {
        return policies.podServedHere(ngm).map(PodReference::getUid);
    }

    private static AgentException forbidden(PeerCredentials peer, Optional<String> podUid, String why) {
        return new AgentException(
                ErrorCode.FORBIDDEN,
                "process " + peer.pid()
                        + podUid.map(uid -> " (pod " + uid + ")").orElse("") + " may not ask this: " + why);
    }
}
