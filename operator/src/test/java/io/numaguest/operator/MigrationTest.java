package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.guestNode;
import static io.numaguest.operator.Fixtures.launcherLabels;
import static io.numaguest.operator.Fixtures.ngm;
import static io.numaguest.operator.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.Target;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A KubeVirt live migration from node-a to node-b as the operator sees it: the VMI's
 * status.migrationState names the target node and pod, the operator places the target pod on its
 * node next to the source's placement, reports both, and when the VMI's nodeName moves the target
 * pod is the target with the placement its agent applied.
 */
class MigrationTest {

    private static final String VMI_UID = "0b5d3c9e-2222-4c5e-9f00-000000000002";
    private static final String SOURCE_NODE = "node-a";
    private static final String TARGET_NODE = "node-b";
    private static final Instant T0 = Instant.parse("2026-12-01T10:00:00Z");

    private final Map<ResourceID, NumaGuestMemory> cache = new ConcurrentHashMap<>();
    private final Map<String, NumaTopology> topologies = new HashMap<>();
    /** The step as the reconciler wires it: NGMs on a node by their target's or their migration target's node. */
    private final PlacementStep step = new PlacementStep(
            node -> cache.values().stream()
                    .filter(ngm -> ngm.getStatus() != null
                            && (node.equals(ngm.getStatus().getNodeName())
                                    || (ngm.getStatus().getMigration() != null
                                            && node.equals(ngm.getStatus()
                                                    .getMigration()
                                                    .getNodeName()))))
                    .toList(),
            id -> Optional.ofNullable(cache.get(id)));

    private Pod source;
    private Pod target;
    private NumaGuestMemory ngm;

    @BeforeEach
    void setUp() {
        source = pod("virt-launcher-vm1-aaaaa", SOURCE_NODE, "Running", launcherLabels(VMI_UID));
        target = pod("virt-launcher-vm1-bbbbb", TARGET_NODE, "Pending", launcherLabels(VMI_UID));
        ngm = ngm(
                "vm1",
                Target.virtualMachineInstance("vm1"),
                guestNode(0, MemoryPolicy.Bind, "4Gi"),
                guestNode(1, MemoryPolicy.Bind, "4Gi"));
        ngm.getMetadata().setUid("vm1-ngm-uid");
        cache.put(ResourceID.fromResource(ngm), ngm);
        topologies.put(SOURCE_NODE, Topologies.flat(16, 16));
        // On node-b host node 0 is nearly full: the target's placement must come from node-b's own topology.
        topologies.put(TARGET_NODE, Topologies.flat(2, 30, 30));
    }

    private static GenericKubernetesResource vmi(String nodeName, Map<String, Object> migrationState) {
        var vmi = Fixtures.vmi("vm1", VMI_UID, null);
        Map<String, Object> status = new HashMap<>();
        status.put("nodeName", nodeName);
        if (migrationState != null) {
            status.put("migrationState", migrationState);
        }
        vmi.setAdditionalProperty("status", status);
        return vmi;
    }

    private static Map<String, Object> migrating(String targetPod) {
        Map<String, Object> state = new HashMap<>(Map.of(
                "sourceNode",
                SOURCE_NODE,
                "sourcePod",
                "virt-launcher-vm1-aaaaa",
                "targetNode",
                TARGET_NODE,
                "migrationUid",
                "mig-1"));
        if (targetPod != null) {
            state.put("targetPod", targetPod);
        }
        return state;
    }

    /** One reconcile as NumaGuestMemoryReconciler does it, the result stored as the cache will show it. */
    private NumaGuestMemoryStatus reconcile(GenericKubernetesResource vmi, Instant now) {
        List<Pod> launchers = List.of(source, target);
        TargetResolution resolution = TargetResolver.forVirtualMachineInstance("vm1", vmi, launchers);
        MigrationResolution migrationTarget = TargetResolver.migrationTarget(vmi, launchers);
        Optional<Placement.Result> placed = Optional.empty();
        Optional<NumaTopology> topology = Optional.empty();
        if (resolution instanceof TargetResolution.Resolved resolved) {
            topology = Optional.ofNullable(topologies.get(resolved.nodeName()));
            placed = Optional.of(step.decide(ngm, resolved, topology));
        }
        StatusAssembler.Migration migration;
        if (migrationTarget instanceof MigrationResolution.Resolved resolved) {
            Optional<NumaTopology> targetTopology = Optional.ofNullable(topologies.get(resolved.nodeName()));
            migration = new StatusAssembler.Migration(
                    resolved,
                    Optional.of(step.decideMigration(ngm, resolved, targetTopology)),
                    targetTopology.isPresent());
        } else {
            step.migrationEnded(ngm);
            migration = new StatusAssembler.Migration(migrationTarget, Optional.empty(), false);
        }
        NumaGuestMemoryStatus status =
                StatusAssembler.assemble(ngm, resolution, placed, topology.isPresent(), migration, now);
        Optional.ofNullable(ngm.getStatus()).ifPresent(stored -> {
            status.setApplied(stored.getApplied());
            status.setMigrationApplied(stored.getMigrationApplied());
        });
        ngm.setStatus(status);
        return status;
    }

    private static List<GuestNodeApplied> appliedAsPlaced(List<GuestNodePlacement> placement, Pod pod) {
        List<GuestNodeApplied> entries = new ArrayList<>();
        for (GuestNodePlacement placed : placement) {
            var entry = new GuestNodeApplied();
            entry.setGuestNode(placed.getGuestNode());
            entry.setPodUid(pod.getMetadata().getUid());
            entry.setPolicy(placed.getPolicy());
            entry.setHostNodes(placed.getHostNodes());
            entry.setVerified(true);
            entries.add(entry);
        }
        return entries;
    }

    private static Optional<Condition> condition(NumaGuestMemoryStatus status, String type) {
        return status.getConditions().stream()
                .filter(c -> c.getType().equals(type))
                .findFirst();
    }

    private static String state(NumaGuestMemoryStatus status, String type) {
        return condition(status, type)
                .map(c -> c.getStatus() + "/" + c.getReason())
                .orElse("absent");
    }

    /** The source runs on node-a, Ready, with the agent's evidence. */
    private void runningReadyOnTheSource() {
        var before = reconcile(vmi(SOURCE_NODE, null), T0);
        before.setApplied(appliedAsPlaced(before.getPlacement(), source));
        assertThat(state(reconcile(vmi(SOURCE_NODE, null), T0), "Ready")).isEqualTo("True/Ready");
    }

    @Test
    void noMigrationStateMeansNoMigration() {
        assertThat(TargetResolver.migrationTarget(vmi(SOURCE_NODE, null), List.of(source, target)))
                .isEqualTo(MigrationResolution.NONE);
        var status = reconcile(vmi(SOURCE_NODE, null), T0);
        assertThat(status.getMigration()).isNull();
        assertThat(condition(status, StatusAssembler.MIGRATION_TARGET_READY)).isEmpty();
    }

    @Test
    void theTargetPodIsPlacedOnItsNodeAndReportedBesideTheSource() {
        runningReadyOnTheSource();

        var during = reconcile(vmi(SOURCE_NODE, migrating("virt-launcher-vm1-bbbbb")), T0);

        assertThat(during.getNodeName()).as("the VM still runs on the source").isEqualTo(SOURCE_NODE);
        assertThat(during.getTargetPod().getUid())
                .isEqualTo(source.getMetadata().getUid());
        assertThat(during.getPlacementSummary()).isEqualTo("0:Bind(0) 1:Bind(1)");
        assertThat(state(during, "Ready")).as("the source stays Ready").isEqualTo("True/Ready");
        assertThat(during.getMigration().getNodeName()).isEqualTo(TARGET_NODE);
        assertThat(during.getMigration().getTargetPod().getUid())
                .isEqualTo(target.getMetadata().getUid());
        assertThat(during.getMigration().getPlacementSummary())
                .as("from node-b's topology: host node 0 has 2 GiB free")
                .isEqualTo("0:Bind(1) 1:Bind(2)");
        assertThat(state(during, StatusAssembler.MIGRATION_TARGET_READY)).isEqualTo("False/WaitingForVMM");
        assertThat(condition(during, StatusAssembler.MIGRATION_TARGET_READY)
                        .orElseThrow()
                        .getMessage())
                .contains("virt-launcher-vm1-bbbbb")
                .contains(TARGET_NODE);
    }

    @Test
    void theTargetsEvidenceMakesItReadyAndAfterCompletionOnlyTheTargetCounts() {
        runningReadyOnTheSource();
        var during = reconcile(vmi(SOURCE_NODE, migrating("virt-launcher-vm1-bbbbb")), T0);
        List<GuestNodePlacement> targetPlacement = during.getMigration().getPlacement();
        during.setMigrationApplied(appliedAsPlaced(targetPlacement, target));

        var targetApplied = reconcile(vmi(SOURCE_NODE, migrating("virt-launcher-vm1-bbbbb")), T0);
        assertThat(state(targetApplied, StatusAssembler.MIGRATION_TARGET_READY)).isEqualTo("True/Ready");
        assertThat(targetApplied.getMigration().getPlacement()).as("kept").isEqualTo(targetPlacement);

        // KubeVirt completes the migration: the VMI runs on node-b, the source pod finishes. Free
        // memory on node-b moved meanwhile, yet the target keeps the placement its agent applied.
        source.getStatus().setPhase("Succeeded");
        topologies.put(TARGET_NODE, Topologies.flat(30, 2, 2));
        Map<String, Object> completed = migrating("virt-launcher-vm1-bbbbb");
        completed.put("completed", true);
        var after = reconcile(vmi(TARGET_NODE, completed), T0);

        assertThat(after.getNodeName()).isEqualTo(TARGET_NODE);
        assertThat(after.getTargetPod().getUid()).isEqualTo(target.getMetadata().getUid());
        assertThat(after.getPlacement()).isEqualTo(targetPlacement);
        assertThat(after.getMigration()).isNull();
        assertThat(condition(after, StatusAssembler.MIGRATION_TARGET_READY)).isEmpty();
        assertThat(state(after, "Ready"))
                .as("the target's entries count while its agent moves them into applied")
                .isEqualTo("True/Ready");

        // The target's agent moves its entries: the source's are gone with that write.
        after.setApplied(after.getMigrationApplied());
        after.setMigrationApplied(null);
        var moved = reconcile(vmi(TARGET_NODE, completed), T0);
        assertThat(state(moved, "Ready")).isEqualTo("True/Ready");
        assertThat(moved.getPlacement()).isEqualTo(targetPlacement);
    }

    @Test
    void theSourcesEvidenceDoesNotMakeTheTargetReady() {
        runningReadyOnTheSource();
        Map<String, Object> completed = migrating("virt-launcher-vm1-bbbbb");
        completed.put("completed", true);
        source.getStatus().setPhase("Succeeded");

        var after = reconcile(vmi(TARGET_NODE, completed), T0);

        assertThat(after.getTargetPod().getUid()).isEqualTo(target.getMetadata().getUid());
        assertThat(state(after, "Ready")).isEqualTo("False/WaitingForVMM");
    }

    @Test
    void aTargetPodNotYetNamedOrNotOnTheTargetNodeIsWaitedFor() {
        runningReadyOnTheSource();

        var unnamed = reconcile(vmi(SOURCE_NODE, migrating(null)), T0);
        assertThat(unnamed.getMigration()).isNull();
        assertThat(state(unnamed, StatusAssembler.MIGRATION_TARGET_READY)).isEqualTo("False/NoPod");

        target.getSpec().setNodeName(null);
        var unscheduled = reconcile(vmi(SOURCE_NODE, migrating("virt-launcher-vm1-bbbbb")), T0);
        assertThat(unscheduled.getMigration()).isNull();
        assertThat(condition(unscheduled, StatusAssembler.MIGRATION_TARGET_READY)
                        .orElseThrow()
                        .getMessage())
                .contains("virt-launcher-vm1-bbbbb")
                .contains("not scheduled and running on node node-b");
        assertThat(state(unscheduled, "Ready")).isEqualTo("True/Ready");
    }

    @Test
    void aFailedMigrationLeavesTheSourceAsItWasAndFreesTheTargetsReservation() {
        runningReadyOnTheSource();
        reconcile(vmi(SOURCE_NODE, migrating("virt-launcher-vm1-bbbbb")), T0);
        var other = ngm("vm2", Target.virtualMachineInstance("vm2"), guestNode(0, MemoryPolicy.Bind, "28Gi", 1));
        other.getMetadata().setUid("vm2-ngm-uid");
        cache.put(ResourceID.fromResource(other), other);
        Pod otherPod = pod("virt-launcher-vm2-ccccc", TARGET_NODE, "Running", Map.of());
        assertThat(step.decide(
                        other, new TargetResolution.Resolved(otherPod), Optional.of(topologies.get(TARGET_NODE))))
                .as("node-b's host node 1 keeps 4 GiB for vm1's migration target: 26 GiB free")
                .isInstanceOf(Placement.Unplaceable.class);

        Map<String, Object> failed = migrating("virt-launcher-vm1-bbbbb");
        failed.put("failed", true);
        var after = reconcile(vmi(SOURCE_NODE, failed), T0);

        assertThat(after.getMigration()).isNull();
        assertThat(condition(after, StatusAssembler.MIGRATION_TARGET_READY)).isEmpty();
        assertThat(state(after, "Ready")).isEqualTo("True/Ready");
        assertThat(step.decide(
                        other, new TargetResolution.Resolved(otherPod), Optional.of(topologies.get(TARGET_NODE))))
                .as("the failed migration's reservation is gone")
                .isInstanceOf(Placement.Placed.class);
    }

    @Test
    void aTargetThatCannotBePlacedSaysWhyAndNamesNoPlacement() {
        runningReadyOnTheSource();
        topologies.put(TARGET_NODE, Topologies.flat(1, 1));

        var during = reconcile(vmi(SOURCE_NODE, migrating("virt-launcher-vm1-bbbbb")), T0);

        assertThat(during.getMigration().getTargetPod().getUid())
                .as("the target's agent learns the pod")
                .isEqualTo(target.getMetadata().getUid());
        assertThat(during.getMigration().getPlacement()).isNull();
        assertThat(state(during, StatusAssembler.MIGRATION_TARGET_READY))
                .isEqualTo("False/" + ConditionReason.NotEnoughMemory);
    }
}
