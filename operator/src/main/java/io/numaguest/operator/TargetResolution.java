package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Pod;

/** The pod a NumaGuestMemory's target comes down to, or why there is none. */
public sealed interface TargetResolution {

  record Resolved(Pod pod) implements TargetResolution {
    public String nodeName() {
      return pod.getSpec().getNodeName();
    }
  }

  /** @param reason condition reason (CamelCase), @param message for humans */
  record Unresolved(String reason, String message) implements TargetResolution {}
}
