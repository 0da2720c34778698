package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.guestNode;
import static io.numaguest.operator.Fixtures.ngm;
import static io.numaguest.operator.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Pod;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.v1alpha1.ApplyError;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.Enforcement;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.Target;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class StatusAssemblerTest {

    private static final Instant T0 = Instant.parse("2026-11-25T10:00:00Z");
    private static final Instant T1 = Instant.parse("2026-11-25T10:05:00Z");

    private final NumaTopology twoNodes = Topologies.flat(16, 16);
    private Pod pod;
    private NumaGuestMemory ngm;

    @BeforeEach
    void setUp() {
        pod = pod("virt-launcher-vm1-abcde", "worker-1", "Running", Map.of());
        ngm = ngm(
                "vm1",
                Target.virtualMachineInstance("vm1"),
                guestNode(0, MemoryPolicy.Bind, "4Gi"),
                guestNode(1, MemoryPolicy.Bind, "4Gi"));
    }

    private NumaGuestMemoryStatus assemble(Instant now) {
        return assemble(Optional.of(twoNodes), now);
    }

    /** Observe, place (a fresh step: only the stored status carries earlier decisions), assemble. */
    private NumaGuestMemoryStatus assemble(Optional<NumaTopology> topology, Instant now) {
        var target = new TargetResolution.Resolved(pod);
        var placed = new PlacementStep(node -> List.of(), id -> Optional.of(ngm)).decide(ngm, target, topology);
        return StatusAssembler.assemble(ngm, target, Optional.of(placed), topology.isPresent(), now);
    }

    /** Stores the status as the API server would, with the agent's entries next to the operator's. */
    private void store(NumaGuestMemoryStatus operatorStatus, GuestNodeApplied... applied) {
        operatorStatus.setApplied(List.of(applied));
        ngm.setStatus(operatorStatus);
    }

    private GuestNodeApplied applied(GuestNodePlacement placement, boolean verified) {
        var entry = new GuestNodeApplied();
        entry.setGuestNode(placement.getGuestNode());
        entry.setPodUid(pod.getMetadata().getUid());
        entry.setPolicy(placement.getPolicy());
        entry.setHostNodes(placement.getHostNodes());
        entry.setMechanism("mbind");
        entry.setFdKind("memfd");
        entry.setVerified(verified);
        return entry;
    }

    private static Condition condition(NumaGuestMemoryStatus status, String type) {
        return status.getConditions().stream()
                .filter(c -> c.getType().equals(type))
                .findFirst()
                .orElseThrow();
    }

    private static String summary(NumaGuestMemoryStatus status) {
        return status.getConditions().stream()
                .map(c -> c.getType() + "=" + c.getStatus() + "/" + c.getReason())
                .reduce((a, b) -> a + " " + b)
                .orElse("");
    }

    @Test
    void placedButNotYetAppliedWaitsForTheVmm() {
        var status = assemble(T0);

        assertThat(status.getNodeName()).isEqualTo("worker-1");
        assertThat(status.getTargetPod().getUid()).isEqualTo(pod.getMetadata().getUid());
        assertThat(status.getObservedGeneration()).isEqualTo(1L);
        assertThat(status.getPlacement())
                .extracting(GuestNodePlacement::getHostNodes)
                .containsExactly(List.of(0), List.of(1));
        assertThat(status.getPlacementSummary()).isEqualTo("0:Bind(0) 1:Bind(1)");
        assertThat(status.getApplied()).as("the agent's field").isNull();
        assertThat(summary(status))
                .isEqualTo(
                        "Scheduled=True/PodScheduled Placed=True/Placed Applied=False/WaitingForVMM Ready=False/WaitingForVMM Degraded=False/AsRequested");
        assertThat(condition(status, "Applied").getMessage())
                .contains("guest nodes 0, 1")
                .contains("worker-1");
        assertThat(status.getConditions())
                .allSatisfy(c -> assertThat(c.getObservedGeneration()).isEqualTo(1L));
    }

    @Test
    void readyWhenEveryGuestNodeIsAppliedAndVerifiedAsPlaced() {
        var placed = assemble(T0);
        store(
                placed,
                applied(placed.getPlacement().get(0), true),
                applied(placed.getPlacement().get(1), true));

        var status = assemble(T1);

        assertThat(summary(status))
                .isEqualTo(
                        "Scheduled=True/PodScheduled Placed=True/Placed Applied=True/Applied Ready=True/Ready Degraded=False/AsRequested");
        assertThat(condition(status, "Ready").getLastTransitionTime()).isEqualTo(T1.toString());
        assertThat(condition(status, "Scheduled").getLastTransitionTime())
                .as("unchanged since T0")
                .isEqualTo(T0.toString());
    }

    @Test
    void placementIsKeptWhileGenerationAndPodStayEvenIfFreeMemoryMoves() {
        var placed = assemble(T0);
        store(placed);

        var status = assemble(Optional.of(Topologies.flat(2, 30)), T1);

        assertThat(status.getPlacement())
                .extracting(GuestNodePlacement::getHostNodes)
                .containsExactly(List.of(0), List.of(1));
    }

    @Test
    void aNewGenerationIsPlacedAgain() {
        store(assemble(T0));
        ngm.getMetadata().setGeneration(2L);

        var status = assemble(Optional.of(Topologies.flat(2, 30)), T1);

        assertThat(status.getPlacement())
                .extracting(GuestNodePlacement::getHostNodes)
                .containsExactly(List.of(1), List.of(1));
    }

    @Test
    void entriesOfAnEarlierPodDoNotCount() {
        var placed = assemble(T0);
        var stale = applied(placed.getPlacement().get(0), true);
        stale.setPodUid("uid-of-the-pod-before-the-restart");
        store(placed, stale, applied(placed.getPlacement().get(1), true));

        var status = assemble(T1);

        assertThat(condition(status, "Ready").getStatus()).isEqualTo("False");
        assertThat(condition(status, "Applied").getMessage()).contains("guest nodes 0 ");
    }

    @Test
    void unverifiedUnderStrictIsDegradedAndNotReady() {
        var placed = assemble(T0);
        store(
                placed,
                applied(placed.getPlacement().get(0), true),
                applied(placed.getPlacement().get(1), false));

        var status = assemble(T1);

        assertThat(summary(status)).endsWith("Applied=True/Applied Ready=False/Unverified Degraded=True/Unverified");
    }

    @Test
    void unverifiedUnderBestEffortIsNotReadyButNotDegraded() {
        ngm.getSpec().setEnforcement(Enforcement.BestEffort);
        var placed = assemble(T0);
        store(
                placed,
                applied(placed.getPlacement().get(0), true),
                applied(placed.getPlacement().get(1), false));

        var status = assemble(T1);

        assertThat(summary(status)).endsWith("Ready=False/Unverified Degraded=False/AsRequested");
    }

    @Test
    void refusedUnderStrictIsDegraded() {
        var placed = assemble(T0);
        var refused = applied(placed.getPlacement().get(1), false);
        refused.setError(new ApplyError("UNSUPPORTED_MEMORY", "guest_memfd without GUEST_MEMFD_FLAG_MMAP"));
        store(placed, applied(placed.getPlacement().get(0), true), refused);

        var status = assemble(T1);

        assertThat(summary(status)).endsWith("Applied=False/Refused Ready=False/Refused Degraded=True/Refused");
        assertThat(condition(status, "Degraded").getMessage()).contains("UNSUPPORTED_MEMORY");
    }

    @Test
    void appliedPolicyThatDiffersFromThePlacementIsNotReady() {
        var placed = assemble(T0);
        var other = applied(placed.getPlacement().get(1), true);
        other.setHostNodes(List.of(0));
        store(placed, applied(placed.getPlacement().get(0), true), other);

        var status = assemble(T1);

        assertThat(summary(status)).contains("Applied=False/PlacementChanged Ready=False/PlacementChanged");
    }

    @Test
    void withoutTopologyOnlyNamedHostNodesArePlaced() {
        var status = assemble(Optional.empty(), T0);

        assertThat(condition(status, "Placed").getReason()).isEqualTo("TopologyUnavailable");
        assertThat(status.getPlacement()).isNull();

        ngm.getSpec()
                .setGuestNodes(
                        List.of(guestNode(0, MemoryPolicy.Bind, "4Gi", 1), guestNode(1, MemoryPolicy.Local, null)));
        var named = assemble(Optional.empty(), T0);

        assertThat(condition(named, "Placed").getReason()).isEqualTo("PlacedWithoutTopology");
        assertThat(condition(named, "Placed").getMessage()).contains("not checked");
    }

    @Test
    void anUnresolvedTargetLeavesNodeAndPlacementEmpty() {
        var status = StatusAssembler.assemble(
                ngm,
                new TargetResolution.Unresolved(ConditionReason.NoPod, "no pod of vm1"),
                Optional.empty(),
                true,
                T0);

        assertThat(status.getNodeName()).isNull();
        assertThat(status.getPlacement()).isNull();
        assertThat(condition(status, "Scheduled").getReason()).isEqualTo("NoPod");
        assertThat(condition(status, "Ready").getMessage()).contains("no pod of vm1");
    }

    @Test
    void unplaceableSpecSaysWhy() {
        ngm.getSpec().setGuestNodes(List.of(guestNode(0, MemoryPolicy.Bind, "100Gi")));

        var status = assemble(T0);

        assertThat(condition(status, "Placed").getReason()).isEqualTo("NotEnoughMemory");
        assertThat(condition(status, "Ready").getReason()).isEqualTo("NotPlaced");
    }
}
