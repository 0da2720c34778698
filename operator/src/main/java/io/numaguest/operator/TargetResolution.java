package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.numaguest.api.v1alpha1.ConditionReason;

/** The pod a NumaGuestMemory's target comes down to, or why there is none. */
public sealed interface TargetResolution {

    record Resolved(Pod pod) implements TargetResolution {
        public String nodeName() {
            return pod.getSpec().getNodeName();
        }
    }

    /** @param reason the Scheduled condition's reason, @param message for humans */
    record Unresolved(ConditionReason reason, String message) implements TargetResolution {}
}
