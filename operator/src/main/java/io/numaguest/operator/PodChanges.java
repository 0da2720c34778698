package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.util.Objects;

/**
 * The pod fields a NumaGuestMemory's target depends on: its metadata (labels for selectors and
 * KubeVirt's created-by, uid, deletion), its node, and its phase ({@link TargetResolver#isLive}).
 * A kubelet's status updates (conditions, container states, IPs) change none of them and trigger
 * nothing, and the pod cache keeps nothing else of spec and status.
 */
final class PodChanges {

    private PodChanges() {}

    /** JOSDK's update filter: new resource first. */
    static boolean concernTargets(Pod updated, Pod old) {
        return !Objects.equals(
                        updated.getMetadata().getLabels(), old.getMetadata().getLabels())
                || !Objects.equals(nodeName(updated), nodeName(old))
                || TargetResolver.isLive(updated) != TargetResolver.isLive(old);
    }

    /**
     * Drops, in place, the spec and status fields no target reads: containers, volumes, container
     * states and the like are most of a pod (a virt-launcher's spec alone is several KiB), and at
     * 10,000 VMs the pod cache would hold all of them.
     */
    static void keepTargetFields(Pod pod) {
        var spec = new PodSpec();
        spec.setNodeName(nodeName(pod));
        pod.setSpec(spec);
        var status = new PodStatus();
        status.setPhase(pod.getStatus() == null ? null : pod.getStatus().getPhase());
        pod.setStatus(status);
    }

    private static String nodeName(Pod pod) {
        return pod.getSpec() == null ? null : pod.getSpec().getNodeName();
    }
}
