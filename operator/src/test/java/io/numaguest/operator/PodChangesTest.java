package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodChangesTest {

    private final io.fabric8.kubernetes.api.model.Pod pending = pod("vm1", "worker-1", "Pending", Map.of("app", "vm1"));

    @Test
    void statusUpdatesThatKeepThePodLiveChangeNoTarget() {
        var running = new PodBuilder(pending)
                .editStatus()
                .withPhase("Running")
                .addNewCondition()
                .withType("Ready")
                .withStatus("True")
                .endCondition()
                .endStatus()
                .build();

        assertThat(PodChanges.concernTargets(running, pending)).isFalse();
    }

    @Test
    void labelsNodeAndLivenessDo() {
        assertThat(PodChanges.concernTargets(
                        new PodBuilder(pending)
                                .editMetadata()
                                .addToLabels("app", "vm2")
                                .endMetadata()
                                .build(),
                        pending))
                .isTrue();
        assertThat(PodChanges.concernTargets(
                        new PodBuilder(pending)
                                .editSpec()
                                .withNodeName("worker-2")
                                .endSpec()
                                .build(),
                        pending))
                .isTrue();
        assertThat(PodChanges.concernTargets(
                        new PodBuilder(pending)
                                .editStatus()
                                .withPhase("Succeeded")
                                .endStatus()
                                .build(),
                        pending))
                .isTrue();
        assertThat(PodChanges.concernTargets(
                        new PodBuilder(pending)
                                .editMetadata()
                                .withDeletionTimestamp("2026-12-02T04:00:00Z")
                                .endMetadata()
                                .build(),
                        pending))
                .isTrue();
    }

    @Test
    void aTrimmedPodResolvesAsTheWholeOne() {
        var running = new PodBuilder(pod("vm1", "worker-1", "Running", Map.of("app", "vm1")))
                .editStatus()
                .addNewCondition()
                .withType("Ready")
                .withStatus("True")
                .endCondition()
                .withPodIP("10.0.0.7")
                .endStatus()
                .build();
        var deleted = new PodBuilder(pod("vm2", "worker-1", "Running", Map.of("app", "vm2")))
                .editMetadata()
                .withDeletionTimestamp("2026-12-02T04:00:00Z")
                .endMetadata()
                .build();
        var unbound = pod("vm3", null, "Pending", Map.of("app", "vm3"));
        var succeeded = pod("vm4", "worker-2", "Succeeded", Map.of("app", "vm4"));
        var whole = List.of(running, deleted, unbound, succeeded);
        List<Pod> trimmed = whole.stream()
                .map(pod -> {
                    var copy = new PodBuilder(pod).build();
                    PodChanges.keepTargetFields(copy);
                    return copy;
                })
                .toList();

        for (String app : List.of("vm1", "vm2", "vm3", "vm4")) {
            var selector =
                    new LabelSelectorBuilder().addToMatchLabels("app", app).build();
            assertThat(outcome(TargetResolver.forPodSelector(selector, trimmed)))
                    .as(app)
                    .isEqualTo(outcome(TargetResolver.forPodSelector(selector, whole)));
        }
        assertThat(trimmed.getFirst().getSpec().getContainers()).isEmpty();
        assertThat(trimmed.getFirst().getStatus().getConditions()).isEmpty();
        assertThat(trimmed.getFirst().getStatus().getPodIP()).isNull();
        assertThat(trimmed.getFirst().getMetadata()).isEqualTo(running.getMetadata());
    }

    private static String outcome(TargetResolution resolution) {
        return switch (resolution) {
            case TargetResolution.Resolved resolved ->
                resolved.pod().getMetadata().getUid() + " on " + resolved.nodeName();
            case TargetResolution.Unresolved unresolved -> unresolved.reason() + ": " + unresolved.message();
        };
    }
}
