package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.launcherLabels;
import static io.numaguest.operator.Fixtures.pod;
import static io.numaguest.operator.Fixtures.vmi;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.numaguest.api.v1alpha1.ConditionReason;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TargetResolverTest {

    private static final String VMI_UID = "0b5d3c9e-1111-4c5e-9f00-000000000001";

    @Test
    void vmiResolvesToItsLauncherPod() {
        Pod launcher = pod("virt-launcher-vm1-abcde", "worker-1", "Running", launcherLabels(VMI_UID));

        var resolution =
                TargetResolver.forVirtualMachineInstance("vm1", vmi("vm1", VMI_UID, "worker-1"), List.of(launcher));

        assertThat(resolution).isEqualTo(new TargetResolution.Resolved(launcher));
        assertThat(((TargetResolution.Resolved) resolution).nodeName()).isEqualTo("worker-1");
    }

    @Test
    void aPendingPodBoundToANodeCountsSoThePolicyIsThereBeforeTheVmmStarts() {
        Pod launcher = pod("virt-launcher-vm1-abcde", "worker-1", "Pending", launcherLabels(VMI_UID));

        var resolution = TargetResolver.forVirtualMachineInstance("vm1", vmi("vm1", VMI_UID, null), List.of(launcher));

        assertThat(resolution).isInstanceOf(TargetResolution.Resolved.class);
    }

    @Test
    void duringLiveMigrationThePodOnTheVmisNodeIsTheTarget() {
        Pod source = pod("virt-launcher-vm1-aaaaa", "worker-1", "Running", launcherLabels(VMI_UID));
        Pod destination = pod("virt-launcher-vm1-bbbbb", "worker-2", "Running", launcherLabels(VMI_UID));

        var resolution = TargetResolver.forVirtualMachineInstance(
                "vm1", vmi("vm1", VMI_UID, "worker-1"), List.of(destination, source));

        assertThat(resolution).isEqualTo(new TargetResolution.Resolved(source));
    }

    @Test
    void twoLivePodsAndNoNodeOnTheVmiIsAmbiguous() {
        Pod one = pod("virt-launcher-vm1-aaaaa", "worker-1", "Running", launcherLabels(VMI_UID));
        Pod two = pod("virt-launcher-vm1-bbbbb", "worker-2", "Running", launcherLabels(VMI_UID));

        var resolution = (TargetResolution.Unresolved)
                TargetResolver.forVirtualMachineInstance("vm1", vmi("vm1", VMI_UID, null), List.of(one, two));

        assertThat(resolution.reason()).isEqualTo(ConditionReason.SeveralPods);
        assertThat(resolution.message()).contains("virt-launcher-vm1-aaaaa, virt-launcher-vm1-bbbbb");
    }

    @Test
    void missingVmiIsReported() {
        var resolution = (TargetResolution.Unresolved) TargetResolver.forVirtualMachineInstance("vm1", null, List.of());

        assertThat(resolution.reason()).isEqualTo(ConditionReason.VirtualMachineInstanceNotFound);
        assertThat(resolution.message()).isEqualTo("VirtualMachineInstance vm1 does not exist");
    }

    @Test
    void finishedAndDeletedAndUnscheduledPodsDoNotCount() {
        Pod succeeded = pod("done", "worker-1", "Succeeded", launcherLabels(VMI_UID));
        Pod unscheduled = pod("waiting", null, "Pending", launcherLabels(VMI_UID));
        Pod deleting = pod("going", "worker-1", "Running", launcherLabels(VMI_UID));
        deleting.getMetadata().setDeletionTimestamp("2026-01-01T00:00:00Z");

        var resolution = (TargetResolution.Unresolved) TargetResolver.forVirtualMachineInstance(
                "vm1", vmi("vm1", VMI_UID, null), List.of(succeeded, unscheduled, deleting));

        assertThat(resolution.reason()).isEqualTo(ConditionReason.NoPod);
    }

    @Test
    void podSelectorPicksTheOneMatchingPod() {
        Pod qemu = pod("qemu-vm2", "worker-3", "Running", Map.of("app", "vm2", "vmm", "qemu"));
        Pod other = pod("qemu-vm3", "worker-3", "Running", Map.of("app", "vm3", "vmm", "qemu"));
        var selector =
                new LabelSelectorBuilder().withMatchLabels(Map.of("app", "vm2")).build();

        assertThat(TargetResolver.forPodSelector(selector, List.of(other, qemu)))
                .isEqualTo(new TargetResolution.Resolved(qemu));
    }

    @Test
    void podSelectorMatchingSeveralPodsIsAmbiguous() {
        var selector = new LabelSelectorBuilder()
                .addNewMatchExpression()
                .withKey("vmm")
                .withOperator("In")
                .withValues("qemu", "cloud-hypervisor")
                .endMatchExpression()
                .build();
        var pods = List.of(
                pod("a", "worker-1", "Running", Map.of("vmm", "qemu")),
                pod("b", "worker-1", "Running", Map.of("vmm", "cloud-hypervisor")));

        var resolution = (TargetResolution.Unresolved) TargetResolver.forPodSelector(selector, pods);

        assertThat(resolution.reason()).isEqualTo(ConditionReason.SeveralPods);
        assertThat(resolution.message())
                .isEqualTo("several pods match podSelector vmm In [qemu, cloud-hypervisor]: a, b");
    }

    @Test
    void labelSelectorOperatorsMatchAsTheApiServerDoes() {
        Map<String, String> labels = Map.of("app", "vm", "tier", "gold");

        assertThat(LabelSelectors.matches(
                        new LabelSelectorBuilder()
                                .addNewMatchExpression()
                                .withKey("tier")
                                .withOperator("NotIn")
                                .withValues("silver")
                                .endMatchExpression()
                                .build(),
                        labels))
                .isTrue();
        assertThat(LabelSelectors.matches(
                        new LabelSelectorBuilder()
                                .addNewMatchExpression()
                                .withKey("tier")
                                .withOperator("NotIn")
                                .withValues("gold")
                                .endMatchExpression()
                                .build(),
                        labels))
                .isFalse();
        assertThat(LabelSelectors.matches(
                        new LabelSelectorBuilder()
                                .addNewMatchExpression()
                                .withKey("zone")
                                .withOperator("DoesNotExist")
                                .endMatchExpression()
                                .build(),
                        labels))
                .isTrue();
        assertThat(LabelSelectors.matches(
                        new LabelSelectorBuilder()
                                .addNewMatchExpression()
                                .withKey("app")
                                .withOperator("Exists")
                                .endMatchExpression()
                                .withMatchLabels(Map.of("tier", "bronze"))
                                .build(),
                        labels))
                .isFalse();
    }
}
