package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Pod;
import io.numaguest.api.v1alpha1.ConditionReason;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Finds the one pod whose VMM hands guest memory to the agent. A pod counts from the moment it is
 * bound to a node until it terminates or is deleted, not only once Running: the policy must be in
 * place before the VMM populates guest memory, which happens as it starts.
 */
final class TargetResolver {

    /** KubeVirt labels each virt-launcher pod with the UID of its VirtualMachineInstance. */
    static final String CREATED_BY_LABEL = "kubevirt.io/created-by";

    private TargetResolver() {}

    static TargetResolution kubeVirtNotInstalled(String vmiName) {
        return new TargetResolution.Unresolved(
                ConditionReason.KubeVirtNotInstalled,
                "target is VirtualMachineInstance " + vmiName
                        + " but the cluster does not serve kubevirt.io/v1 VirtualMachineInstance");
    }

    /**
     * @param vmi the VMI, null when it does not exist
     * @param launcherPods pods labelled as created by that VMI
     */
    static TargetResolution forVirtualMachineInstance(
            String vmiName, GenericKubernetesResource vmi, Collection<Pod> launcherPods) {
        if (vmi == null) {
            return new TargetResolution.Unresolved(
                    ConditionReason.VirtualMachineInstanceNotFound,
                    "VirtualMachineInstance " + vmiName + " does not exist");
        }
        List<Pod> live = launcherPods.stream().filter(TargetResolver::isLive).toList();
        // During live migration source and target pods both live; the VMI names the node it runs on.
        String vmiNode = vmiNodeName(vmi);
        List<Pod> candidates = vmiNode == null
                ? live
                : live.stream()
                        .filter(pod -> vmiNode.equals(pod.getSpec().getNodeName()))
                        .toList();
        return exactlyOne(
                candidates, "VirtualMachineInstance " + vmiName + (vmiNode == null ? "" : " on node " + vmiNode));
    }

    /**
     * The pod a live migration takes the VM to, from the VMI's {@code status.migrationState}: its
     * targetNode and targetPod, from the moment KubeVirt names them until the VMI's nodeName is the
     * target's (KubeVirt moves it when the migration completes) or the migration failed. The pod must
     * be live and bound to targetNode.
     */
    static MigrationResolution migrationTarget(GenericKubernetesResource vmi, Collection<Pod> launcherPods) {
        Map<?, ?> state = vmi == null ? null : migrationState(vmi);
        if (state == null || Boolean.TRUE.equals(state.get("failed"))) {
            return MigrationResolution.NONE;
        }
        String targetNode = text(state.get("targetNode"));
        if (targetNode == null || targetNode.equals(vmiNodeName(vmi))) {
            return MigrationResolution.NONE;
        }
        String targetPod = text(state.get("targetPod"));
        String vmiName = vmi.getMetadata().getName();
        if (targetPod == null) {
            return new MigrationResolution.Unresolved(
                    targetNode,
                    ConditionReason.NoPod,
                    "VirtualMachineInstance " + vmiName + " migrates to node " + targetNode
                            + " but names no target pod yet");
        }
        return launcherPods.stream()
                .filter(pod -> targetPod.equals(pod.getMetadata().getName())
                        && isLive(pod)
                        && targetNode.equals(pod.getSpec().getNodeName()))
                .findFirst()
                .<MigrationResolution>map(MigrationResolution.Resolved::new)
                .orElseGet(() -> new MigrationResolution.Unresolved(
                        targetNode,
                        ConditionReason.NoPod,
                        "migration target pod " + targetPod + " of VirtualMachineInstance " + vmiName
                                + " is not scheduled and running on node " + targetNode));
    }

    static TargetResolution forPodSelector(LabelSelector selector, Collection<Pod> podsInNamespace) {
        List<Pod> candidates = podsInNamespace.stream()
                .filter(pod ->
                        LabelSelectors.matches(selector, pod.getMetadata().getLabels()))
                .filter(TargetResolver::isLive)
                .toList();
        return exactlyOne(candidates, "podSelector " + describe(selector));
    }

    private static TargetResolution exactlyOne(List<Pod> candidates, String target) {
        if (candidates.isEmpty()) {
            return new TargetResolution.Unresolved(
                    ConditionReason.NoPod, "no pod of " + target + " is scheduled and running");
        }
        if (candidates.size() > 1) {
            String names = candidates.stream()
                    .map(pod -> pod.getMetadata().getName())
                    .sorted()
                    .collect(Collectors.joining(", "));
            return new TargetResolution.Unresolved(
                    ConditionReason.SeveralPods, "several pods match " + target + ": " + names);
        }
        return new TargetResolution.Resolved(candidates.getFirst());
    }

    static boolean isLive(Pod pod) {
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        return pod.getMetadata().getDeletionTimestamp() == null
                && pod.getSpec() != null
                && pod.getSpec().getNodeName() != null
                && ("Pending".equals(phase) || "Running".equals(phase));
    }

    private static String vmiNodeName(GenericKubernetesResource vmi) {
        Object status = vmi.getAdditionalProperties().get("status");
        return status instanceof Map<?, ?> map ? text(map.get("nodeName")) : null;
    }

    private static Map<?, ?> migrationState(GenericKubernetesResource vmi) {
        Object status = vmi.getAdditionalProperties().get("status");
        return status instanceof Map<?, ?> map && map.get("migrationState") instanceof Map<?, ?> state ? state : null;
    }

    private static String text(Object value) {
        return value instanceof String text && !text.isEmpty() ? text : null;
    }

    private static String describe(LabelSelector selector) {
        String labels = selector.getMatchLabels() == null
                ? ""
                : selector.getMatchLabels().entrySet().stream()
                        .sorted(Map.Entry.comparingByKey())
                        .map(entry -> entry.getKey() + "=" + entry.getValue())
                        .collect(Collectors.joining(","));
        String expressions = selector.getMatchExpressions() == null
                ? ""
                : selector.getMatchExpressions().stream()
                        .map(requirement -> requirement.getKey() + " " + requirement.getOperator()
                                + (requirement.getValues() == null ? "" : " " + requirement.getValues()))
                        .collect(Collectors.joining(","));
        String joined =
                Stream.of(labels, expressions).filter(part -> !part.isEmpty()).collect(Collectors.joining(","));
        return joined.isEmpty() ? "(matches every pod)" : joined;
    }
}
