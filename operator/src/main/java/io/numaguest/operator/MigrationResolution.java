package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.numaguest.api.v1alpha1.ConditionReason;

/**
 * Whether a live migration takes the VM to another node (KubeVirt's VMI
 * {@code status.migrationState}), and if so the target pod the agent of that node must accept.
 */
public sealed interface MigrationResolution {

    /** No migration runs: none was started, it failed, or it completed and the VMI runs on the target. */
    record None() implements MigrationResolution {}

    /** A migration runs, but its target pod is not one the agent can accept yet. */
    record Unresolved(String targetNode, ConditionReason reason, String message) implements MigrationResolution {}

    record Resolved(Pod pod) implements MigrationResolution {
        public String nodeName() {
            return pod.getSpec().getNodeName();
        }
    }

    MigrationResolution NONE = new None();
}
