package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Pod;
import java.util.Objects;

/**
 * Which pod updates can change a NumaGuestMemory's target: its labels (selectors, KubeVirt's
 * created-by), its node, and whether it is live ({@link TargetResolver#isLive}). A kubelet's
 * status updates (conditions, container states, IPs) change none of them and trigger nothing.
 */
final class PodChanges {

  private PodChanges() {}

  /** JOSDK's update filter: new resource first. */
  static boolean concernTargets(Pod updated, Pod old) {
    return !Objects.equals(updated.getMetadata().getLabels(), old.getMetadata().getLabels())
        || !Objects.equals(nodeName(updated), nodeName(old))
        || TargetResolver.isLive(updated) != TargetResolver.isLive(old);
  }

  private static String nodeName(Pod pod) {
    return pod.getSpec() == null ? null : pod.getSpec().getNodeName();
  }
}
