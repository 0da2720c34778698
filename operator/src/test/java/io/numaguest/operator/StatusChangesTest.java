package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.guestNode;
import static io.numaguest.operator.Fixtures.ngm;
import static io.numaguest.operator.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.Target;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class StatusChangesTest {

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private final List<String> posted = new ArrayList<>();
    private final StatusChanges changes = new StatusChanges(SERIALIZATION, new EventRecorder(null) {
        @Override
        void normal(NumaGuestMemory ngm, String reason, String message) {
            posted.add("Normal " + reason);
        }

        @Override
        void warning(NumaGuestMemory ngm, String reason, String message) {
            posted.add("Warning " + reason);
        }
    });
    private final TargetResolution.Resolved target =
            new TargetResolution.Resolved(pod("virt-launcher-vm1", "worker-1", "Running", Map.of()));

    private NumaGuestMemory fresh() {
        return ngm("vm1", Target.virtualMachineInstance("vm1"), guestNode(0, MemoryPolicy.Bind, "4Gi"));
    }

    /** The NumaGuestMemory with the status the operator would write for it now. */
    private NumaGuestMemory written(NumaGuestMemory before, TargetResolution resolution) {
        var after = SERIALIZATION.clone(before);
        Optional<Placement.Result> placement = resolution instanceof TargetResolution.Resolved resolved
                ? Optional.of(new PlacementStep(node -> List.of(), id -> Optional.empty())
                        .decide(after, resolved, Optional.of(Topologies.flat(16, 16))))
                : Optional.empty();
        NumaGuestMemoryStatus status = StatusAssembler.assemble(after, resolution, placement, true, Instant.now());
        Optional.ofNullable(before.getStatus())
                .map(NumaGuestMemoryStatus::getApplied)
                .ifPresent(status::setApplied);
        after.setStatus(status);
        return after;
    }

    @Test
    void theOperatorsOwnStatusWriteNeedsNoReconcileAndAnnouncesThePlacementOnce() {
        var before = fresh();
        var after = written(before, target);

        assertThat(changes.accept(after, before))
                .as("reconcile after the operator's own write")
                .isFalse();
        assertThat(posted).containsExactly("Normal Placed");

        var again = written(after, target);
        assertThat(changes.accept(again, after)).isFalse();
        assertThat(posted)
                .as("a second write of the same decision announces nothing")
                .containsExactly("Normal Placed");
    }

    @Test
    void theAgentsEvidenceAndANewGenerationNeedAReconcile() {
        var placed = written(fresh(), target);
        var applied = SERIALIZATION.clone(placed);
        var entry = new GuestNodeApplied();
        entry.setGuestNode(0);
        entry.setPodUid(target.pod().getMetadata().getUid());
        applied.getStatus().setApplied(List.of(entry));
        assertThat(changes.accept(applied, placed)).isTrue();

        var edited = SERIALIZATION.clone(placed);
        edited.getMetadata().setGeneration(2L);
        assertThat(changes.accept(edited, placed)).isTrue();

        var labelled = SERIALIZATION.clone(placed);
        labelled.getMetadata().setLabels(Map.of("team", "a"));
        assertThat(changes.accept(labelled, placed))
                .as("a label nothing depends on")
                .isFalse();
    }

    @Test
    void aTargetThatGoesAwayIsAWarning() {
        var placed = written(fresh(), target);
        posted.clear();

        var lost = written(placed, new TargetResolution.Unresolved(ConditionReason.NoPod, "no pod of vm1"));

        assertThat(changes.accept(lost, placed)).isFalse();
        assertThat(posted).containsExactly("Warning NoPod");
    }
}
