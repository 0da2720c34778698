package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.NAMESPACE;
import static io.numaguest.operator.Fixtures.guestNode;
import static io.numaguest.operator.Fixtures.launcherLabels;
import static io.numaguest.operator.Fixtures.ngm;
import static io.numaguest.operator.Fixtures.nodeResourceTopology;
import static io.numaguest.operator.Fixtures.pod;
import static io.numaguest.operator.Fixtures.vmi;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.Target;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient(crud = true)
class NumaGuestMemoryReconcilerTest {

  KubernetesClient client;
  private OperatorFixture fixture;

  @AfterEach
  void tearDown() {
    if (fixture != null) {
      fixture.close();
    }
  }

  private static void waitUntil(Callable<Boolean> condition) {
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(condition);
  }

  private NumaGuestMemory fetch(String name) {
    return client.resources(NumaGuestMemory.class).inNamespace(NAMESPACE).withName(name).get();
  }

  private static Optional<Condition> condition(NumaGuestMemory ngm, String type) {
    if (ngm == null || ngm.getStatus() == null || ngm.getStatus().getConditions() == null) {
      return Optional.empty();
    }
    return ngm.getStatus().getConditions().stream().filter(c -> c.getType().equals(type)).findFirst();
  }

  private static boolean is(NumaGuestMemory ngm, String type, String status) {
    return condition(ngm, type).map(c -> c.getStatus().equals(status)).orElse(false);
  }

  private Pod createPod(Pod pod) {
    Pod created = client.resource(pod).create();
    created.setStatus(pod.getStatus());
    return client.resource(created).updateStatus();
  }

  /** Writes status.applied the way the agent does: only its own field. */
  private void agentReports(String name, Pod pod, boolean verified) {
    NumaGuestMemory current = fetch(name);
    List<GuestNodeApplied> applied = current.getStatus().getPlacement().stream().map((GuestNodePlacement placement) -> {
      var entry = new GuestNodeApplied();
      entry.setGuestNode(placement.getGuestNode());
      entry.setPodUid(pod.getMetadata().getUid());
      entry.setPolicy(placement.getPolicy());
      entry.setHostNodes(placement.getHostNodes());
      entry.setFdKind("memfd");
      entry.setMechanism("mbind");
      entry.setVerified(verified);
      entry.setPagesByHostNode(Map.of(placement.getHostNodes().getFirst().toString(), 0L));
      return entry;
    }).toList();
    client.resources(NumaGuestMemory.class).inNamespace(NAMESPACE).withName(name)
        .editStatus(ngm -> {
          ngm.getStatus().setApplied(applied);
          return ngm;
        });
  }

  @Test
  void placesAVirtualMachineInstanceAndBecomesReadyOnceTheAgentApplied() {
    fixture = new OperatorFixture(client, new ClusterCapabilities(true, true), false);
    client.resource(nodeResourceTopology("worker-1", 30, 20)).create();
    String vmiUid = client.resource(vmi("vm1", "worker-1")).create().getMetadata().getUid();
    Pod launcher = createPod(pod("virt-launcher-vm1-abcde", "worker-1", "Running", launcherLabels(vmiUid)));

    client.resource(ngm("vm1", Target.virtualMachineInstance("vm1"),
        guestNode(0, MemoryPolicy.Bind, "4Gi"), guestNode(1, MemoryPolicy.Bind, "4Gi"))).create();

    waitUntil(() -> is(fetch("vm1"), "Placed", "True"));
    NumaGuestMemory placed = fetch("vm1");
    assertThat(placed.getMetadata().getLabels()).containsEntry(NumaGuestMemory.NODE_LABEL, "worker-1");
    assertThat(placed.getStatus().getNodeName()).isEqualTo("worker-1");
    assertThat(placed.getStatus().getTargetPod().getUid()).isEqualTo(launcher.getMetadata().getUid());
    assertThat(placed.getStatus().getPlacement()).extracting(GuestNodePlacement::getHostNodes)
        .containsExactly(List.of(0), List.of(1));
    assertThat(condition(placed, "Ready").orElseThrow().getReason()).isEqualTo("WaitingForVMM");

    agentReports("vm1", launcher, true);

    waitUntil(() -> is(fetch("vm1"), "Ready", "True"));
    assertThat(fetch("vm1").getStatus().getApplied()).as("the operator keeps the agent's entries").hasSize(2);
    assertThat(client.v1().events().inNamespace(NAMESPACE).list().getItems())
        .anySatisfy(event -> {
          assertThat(event.getReason()).isEqualTo("Placed");
          assertThat(event.getInvolvedObject().getName()).isEqualTo("vm1");
        });
  }

  @Test
  void losingThePodTakesTheVmOutOfReadyAndOffTheNode() {
    fixture = new OperatorFixture(client, new ClusterCapabilities(true, true), false);
    client.resource(nodeResourceTopology("worker-1", 30)).create();
    String vmiUid = client.resource(vmi("vm1", "worker-1")).create().getMetadata().getUid();
    Pod launcher = createPod(pod("virt-launcher-vm1-abcde", "worker-1", "Running", launcherLabels(vmiUid)));
    client.resource(ngm("vm1", Target.virtualMachineInstance("vm1"), guestNode(0, MemoryPolicy.Preferred, null))).create();
    waitUntil(() -> is(fetch("vm1"), "Placed", "True"));
    agentReports("vm1", launcher, true);
    waitUntil(() -> is(fetch("vm1"), "Ready", "True"));

    client.resource(launcher).delete();

    waitUntil(() -> is(fetch("vm1"), "Scheduled", "False"));
    NumaGuestMemory lost = fetch("vm1");
    assertThat(condition(lost, "Scheduled").orElseThrow().getReason()).isEqualTo(TargetResolver.NO_POD);
    assertThat(is(lost, "Ready", "False")).isTrue();
    waitUntil(() -> fetch("vm1").getMetadata().getLabels() == null
        || !fetch("vm1").getMetadata().getLabels().containsKey(NumaGuestMemory.NODE_LABEL));
  }

  @Test
  void runsWithoutKubeVirtOrTopologyAndSaysWhatIsMissing() {
    fixture = new OperatorFixture(client, new ClusterCapabilities(false, false), false);
    createPod(pod("qemu-vm2", "worker-2", "Running", Map.of("app", "vm2")));
    var selector = new LabelSelectorBuilder().withMatchLabels(Map.of("app", "vm2")).build();

    client.resource(ngm("vm1", Target.virtualMachineInstance("vm1"), guestNode(0, MemoryPolicy.Bind, null))).create();
    client.resource(ngm("vm2", Target.podSelector(selector), guestNode(0, MemoryPolicy.Bind, "1Gi", 1))).create();
    client.resource(ngm("vm3", Target.podSelector(selector), guestNode(0, MemoryPolicy.Bind, "1Gi"))).create();

    waitUntil(() -> is(fetch("vm1"), "Scheduled", "False"));
    assertThat(condition(fetch("vm1"), "Scheduled").orElseThrow().getReason()).isEqualTo(TargetResolver.KUBEVIRT_NOT_INSTALLED);
    waitUntil(() -> is(fetch("vm2"), "Placed", "True"));
    assertThat(condition(fetch("vm2"), "Placed").orElseThrow().getReason()).isEqualTo("PlacedWithoutTopology");
    waitUntil(() -> is(fetch("vm3"), "Placed", "False"));
    assertThat(condition(fetch("vm3"), "Placed").orElseThrow().getReason()).isEqualTo(StatusAssembler.TOPOLOGY_UNAVAILABLE);
  }

  @Test
  void aPodThatAppearsLaterIsPickedUp() {
    fixture = new OperatorFixture(client, new ClusterCapabilities(false, true), false);
    client.resource(nodeResourceTopology("worker-3", 8, 8)).create();
    var selector = new LabelSelectorBuilder().withMatchLabels(Map.of("app", "vm4")).build();
    client.resource(ngm("vm4", Target.podSelector(selector), guestNode(0, MemoryPolicy.Interleave, "2Gi"))).create();
    waitUntil(() -> is(fetch("vm4"), "Scheduled", "False"));

    createPod(pod("ch-vm4", "worker-3", "Pending", Map.of("app", "vm4")));

    waitUntil(() -> is(fetch("vm4"), "Placed", "True"));
    assertThat(fetch("vm4").getStatus().getPlacement().getFirst().getHostNodes()).containsExactly(0, 1);
  }
}
