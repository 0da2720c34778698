package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodChangesTest {

  private final io.fabric8.kubernetes.api.model.Pod pending = pod("vm1", "worker-1", "Pending", Map.of("app", "vm1"));

  @Test
  void statusUpdatesThatKeepThePodLiveChangeNoTarget() {
    var running = new PodBuilder(pending).editStatus().withPhase("Running").addNewCondition().withType("Ready")
        .withStatus("True").endCondition().endStatus().build();

    assertThat(PodChanges.concernTargets(running, pending)).isFalse();
  }

  @Test
  void labelsNodeAndLivenessDo() {
    assertThat(PodChanges.concernTargets(new PodBuilder(pending).editMetadata().addToLabels("app", "vm2").endMetadata().build(),
        pending)).isTrue();
    assertThat(PodChanges.concernTargets(new PodBuilder(pending).editSpec().withNodeName("worker-2").endSpec().build(),
        pending)).isTrue();
    assertThat(PodChanges.concernTargets(new PodBuilder(pending).editStatus().withPhase("Succeeded").endStatus().build(),
        pending)).isTrue();
    assertThat(PodChanges.concernTargets(new PodBuilder(pending).editMetadata().withDeletionTimestamp("2026-12-02T04:00:00Z")
        .endMetadata().build(), pending)).isTrue();
  }
}
