package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.numaguest.api.topology.NumaZones;
import io.numaguest.api.topology.v1alpha2.AttributeInfo;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.topology.v1alpha2.Zone;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.GuestNodeSpec;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemorySpec;
import io.numaguest.api.v1alpha1.Target;
import io.numaguest.operator.InProcessOperator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The operator's reconciler in this JVM against the real API server, wired as in production
 * (server-side apply for the status, the generated CRD with its CEL rules and status subresource),
 * watching one fresh namespace per test. The agent's status.applied is written by the test, as the
 * agent writes it: only that field, under its own field manager.
 */
class ReconcilerIT {

    private static final KubeApiServer SERVER = KubeApiServer.get();
    private static final KubernetesClient CLIENT = SERVER.adminClient();

    private final String namespace =
            "reconciler-" + UUID.randomUUID().toString().substring(0, 8);
    private final List<NodeResourceTopology> clusterScoped = new ArrayList<>();
    private InProcessOperator operator;

    @BeforeAll
    static void installCrds() {
        SERVER.installCrds();
        OptionalCrds.installNodeResourceTopology(CLIENT);
        // Both stay afterwards: a CRD still terminating would mislead the class that runs next.
        OptionalCrds.installVirtualMachineInstance(CLIENT);
    }

    @AfterEach
    void stopOperatorAndCleanUp() {
        if (operator != null) {
            operator.close();
        }
        // No controller-manager empties a deleted namespace: delete what is in it, keep it.
        CLIENT.resources(NumaGuestMemory.class).inNamespace(namespace).delete();
        CLIENT.pods().inNamespace(namespace).withGracePeriod(0).delete();
        if (CLIENT.supports("kubevirt.io/v1", "VirtualMachineInstance")) {
            CLIENT.genericKubernetesResources(OptionalCrds.VMI)
                    .inNamespace(namespace)
                    .delete();
        }
        clusterScoped.forEach(object -> CLIENT.resource(object).delete());
    }

    private void start(boolean kubeVirt, boolean nodeResourceTopology) {
        CLIENT.namespaces()
                .resource(new NamespaceBuilder()
                        .withNewMetadata()
                        .withName(namespace)
                        .endMetadata()
                        .build())
                .create();
        operator = new InProcessOperator(CLIENT, kubeVirt, nodeResourceTopology, namespace);
    }

    /** Node names are cluster-wide, like the NodeResourceTopology named after each: unique per test. */
    private String node(String name) {
        return namespace + "-" + name;
    }

    @Test
    void placesAVirtualMachineInstanceAndBecomesReadyOnceTheAgentApplied() {
        start(true, true);
        String worker = node("worker-1");
        createNodeResourceTopology(worker, 30, 20);
        String vmiUid = createVmi("vm1", worker);
        Pod launcher = createPod("virt-launcher-vm1-abcde", worker, "Running", launcherLabels(vmiUid));

        CLIENT.resource(ngm(
                        "vm1",
                        Target.virtualMachineInstance("vm1"),
                        guestNode(0, MemoryPolicy.Bind, "4Gi"),
                        guestNode(1, MemoryPolicy.Bind, "4Gi")))
                .create();

        waitUntil(() -> is(fetch("vm1"), "Placed", "True"));
        NumaGuestMemory placed = fetch("vm1");
        assertThat(AgentSelection.names(CLIENT, namespace, NumaGuestMemory.NODE_FIELD, worker))
                .as("what the agent of %s selects", worker)
                .containsExactly("vm1");
        assertThat(placed.getStatus().getNodeName()).isEqualTo(worker);
        assertThat(placed.getStatus().getTargetPod().getUid())
                .isEqualTo(launcher.getMetadata().getUid());
        assertThat(placed.getStatus().getPlacement())
                .extracting(GuestNodePlacement::getHostNodes)
                .containsExactly(List.of(0), List.of(1));
        assertThat(condition(placed, "Ready").orElseThrow().getReason()).isEqualTo("WaitingForVMM");

        agentReports("vm1", launcher, true);

        waitUntil(() -> is(fetch("vm1"), "Ready", "True"));
        NumaGuestMemory ready = fetch("vm1");
        assertThat(ready.getStatus().getApplied())
                .as("the operator's apply keeps the agent's entries")
                .hasSize(2);
        assertThat(ready.getStatus().getObservedGeneration())
                .isEqualTo(ready.getMetadata().getGeneration());
        assertThat(ready.getMetadata().getManagedFields())
                .as("status written by server-side apply, under the operator's own field manager")
                .anySatisfy(fields -> {
                    assertThat(fields.getOperation()).isEqualTo("Apply");
                    assertThat(fields.getSubresource()).isEqualTo("status");
                });
        assertThat(operator.gauge("numaguest_operator_ngms", "ready", "true")).isEqualTo(1);
        String wide = KubeApiServer.expectSuccess(SERVER.kubectl("get", "ngm", "-n", namespace, "-o", "wide"))
                .stdout();
        assertThat(wide.lines().findFirst().orElseThrow().split("\\s+"))
                .as("what an admin sees")
                .containsExactly("NAME", "TARGET", "NODE", "READY", "MECHANISM", "AGE", "PLACEMENT", "REASON");
        assertThat(wide).contains("virt-launcher-vm1-abcde", worker, "True", "mbind", "0:Bind(0) 1:Bind(1)", "Ready");
        assertThat(CLIENT.v1().events().inNamespace(namespace).list().getItems())
                .anySatisfy(event -> {
                    assertThat(event.getReason()).isEqualTo("Placed");
                    assertThat(event.getInvolvedObject().getName()).isEqualTo("vm1");
                });
    }

    @Test
    void theTargetVmiCarriesTheGuestMemoryRequestForTheKubeVirtHookUntilTheNgmGoes() {
        start(true, true);
        String worker = node("worker-1");
        createNodeResourceTopology(worker, 30, 20);
        // No launcher pod yet: the hook reads the request when virt-launcher defines the domain, so it
        // must be on the VMI before that pod exists.
        createVmi("vm1", worker);
        CLIENT.resource(ngm(
                        "vm1",
                        Target.virtualMachineInstance("vm1"),
                        guestNode(0, MemoryPolicy.Bind, "4Gi"),
                        guestNode(1, MemoryPolicy.Bind, null)))
                .create();

        waitUntil(() -> vmiAnnotation("vm1") != null);
        assertThat(vmiAnnotation("vm1"))
                .isEqualTo(
                        "{\"enforcement\":\"Strict\",\"guestNodes\":[{\"guestNode\":0,\"size\":\"4294967296\"},{\"guestNode\":1}]}");

        CLIENT.resources(NumaGuestMemory.class)
                .inNamespace(namespace)
                .withName("vm1")
                .edit(ngm -> {
                    ngm.getSpec().getGuestNodes().get(1).setSize(new io.fabric8.kubernetes.api.model.Quantity("1Gi"));
                    return ngm;
                });
        waitUntil(() -> vmiAnnotation("vm1").contains("{\"guestNode\":1,\"size\":\"1073741824\"}"));

        CLIENT.resources(NumaGuestMemory.class)
                .inNamespace(namespace)
                .withName("vm1")
                .delete();
        waitUntil(() -> vmiAnnotation("vm1") == null);
    }

    private String vmiAnnotation(String name) {
        var annotations = CLIENT.genericKubernetesResources(OptionalCrds.VMI)
                .inNamespace(namespace)
                .withName(name)
                .get()
                .getMetadata()
                .getAnnotations();
        return annotations == null ? null : annotations.get("numaguest.io/guest-memory");
    }

    @Test
    void losingThePodTakesTheVmOutOfReadyAndOffTheNode() {
        start(true, true);
        String worker = node("worker-1");
        createNodeResourceTopology(worker, 30);
        String vmiUid = createVmi("vm1", worker);
        Pod launcher = createPod("virt-launcher-vm1-abcde", worker, "Running", launcherLabels(vmiUid));
        CLIENT.resource(ngm("vm1", Target.virtualMachineInstance("vm1"), guestNode(0, MemoryPolicy.Preferred, null)))
                .create();
        waitUntil(() -> is(fetch("vm1"), "Placed", "True"));
        agentReports("vm1", launcher, true);
        waitUntil(() -> is(fetch("vm1"), "Ready", "True"));

        // A graceful delete: with no kubelet to confirm it, the pod stays, terminating.
        CLIENT.pods()
                .inNamespace(namespace)
                .withName(launcher.getMetadata().getName())
                .delete();

        waitUntil(() -> is(fetch("vm1"), "Scheduled", "False"));
        NumaGuestMemory lost = fetch("vm1");
        assertThat(condition(lost, "Scheduled").orElseThrow().getReason()).isEqualTo(ConditionReason.NoPod.name());
        assertThat(is(lost, "Ready", "False")).isTrue();
        // No node any more, so no agent selects it.
        waitUntil(() -> fetch("vm1").getStatus().getNodeName() == null);
        assertThat(AgentSelection.names(CLIENT, namespace, NumaGuestMemory.NODE_FIELD, worker))
                .isEmpty();
    }

    @Test
    void runsWithoutKubeVirtOrTopologyAndSaysWhatIsMissing() {
        start(false, false);
        String worker = node("worker-2");
        createPod("qemu-vm2", worker, "Running", Map.of("app", "vm2"));
        var selector =
                new LabelSelectorBuilder().withMatchLabels(Map.of("app", "vm2")).build();

        CLIENT.resource(ngm("vm1", Target.virtualMachineInstance("vm1"), guestNode(0, MemoryPolicy.Bind, null)))
                .create();
        CLIENT.resource(ngm("vm2", Target.podSelector(selector), guestNode(0, MemoryPolicy.Bind, "1Gi", 1)))
                .create();
        CLIENT.resource(ngm("vm3", Target.podSelector(selector), guestNode(0, MemoryPolicy.Bind, "1Gi")))
                .create();

        waitUntil(() -> is(fetch("vm1"), "Scheduled", "False"));
        assertThat(condition(fetch("vm1"), "Scheduled").orElseThrow().getReason())
                .isEqualTo(ConditionReason.KubeVirtNotInstalled.name());
        waitUntil(() -> is(fetch("vm2"), "Placed", "True"));
        assertThat(condition(fetch("vm2"), "Placed").orElseThrow().getReason()).isEqualTo("PlacedWithoutTopology");
        waitUntil(() -> is(fetch("vm3"), "Placed", "False"));
        assertThat(condition(fetch("vm3"), "Placed").orElseThrow().getReason())
                .isEqualTo(ConditionReason.TopologyUnavailable.name());
    }

    @Test
    void aPodThatAppearsLaterIsPickedUp() {
        start(false, true);
        String worker = node("worker-3");
        createNodeResourceTopology(worker, 8, 8);
        var selector =
                new LabelSelectorBuilder().withMatchLabels(Map.of("app", "vm4")).build();
        CLIENT.resource(ngm("vm4", Target.podSelector(selector), guestNode(0, MemoryPolicy.Interleave, "2Gi")))
                .create();
        waitUntil(() -> is(fetch("vm4"), "Scheduled", "False"));

        createPod("ch-vm4", worker, "Pending", Map.of("app", "vm4"));

        waitUntil(() -> is(fetch("vm4"), "Placed", "True"));
        assertThat(fetch("vm4").getStatus().getPlacement().getFirst().getHostNodes())
                .containsExactly(0, 1);
    }

    @Test
    void neverPlacesOnAHostNodeTheAgentMayNotUse() {
        start(false, true);
        String worker = node("worker-5");
        var nrt = PublishedTopologies.flat(worker, 64L << 30, 8, 8L << 30, 30L << 30);
        Zone most = nrt.getZones().get(1);
        // The agent's cpuset lacks host node 1, the one with the most free memory.
        nrt.setZones(List.of(
                nrt.getZones().get(0),
                new Zone(
                        most.name(),
                        most.type(),
                        most.parent(),
                        most.costs(),
                        List.of(new AttributeInfo(NumaZones.ALLOWED_ATTRIBUTE, "false")),
                        most.resources())));
        clusterScoped.add(CLIENT.resource(nrt).create());
        createPod("qemu-vm6", worker, "Running", Map.of("app", "vm6"));
        var selector =
                new LabelSelectorBuilder().withMatchLabels(Map.of("app", "vm6")).build();

        CLIENT.resource(ngm("vm6", Target.podSelector(selector), guestNode(0, MemoryPolicy.Bind, "4Gi")))
                .create();
        CLIENT.resource(ngm("vm7", Target.podSelector(selector), guestNode(0, MemoryPolicy.Bind, "4Gi", 1)))
                .create();

        waitUntil(() -> is(fetch("vm6"), "Placed", "True"));
        assertThat(fetch("vm6").getStatus().getPlacement().getFirst().getHostNodes())
                .containsExactly(0);
        waitUntil(() -> is(fetch("vm7"), "Placed", "False"));
        assertThat(condition(fetch("vm7"), "Placed").orElseThrow().getReason())
                .isEqualTo(ConditionReason.HostNodeNotAllowed.name());
    }

    /** Five VMs created at once on a node with room for three: three are placed, two are told why not. */
    @Test
    void vmsCreatedAtTheSameMomentDoNotOvercommitTheirNode() {
        start(false, true);
        String worker = node("worker-6");
        createNodeResourceTopology(worker, 13, 7);
        List<String> names = List.of("vm10", "vm11", "vm12", "vm13", "vm14");
        for (String name : names) {
            createPod("qemu-" + name, worker, "Running", Map.of("app", name));
        }
        for (String name : names) {
            var selector = new LabelSelectorBuilder()
                    .withMatchLabels(Map.of("app", name))
                    .build();
            CLIENT.resource(ngm(name, Target.podSelector(selector), guestNode(0, MemoryPolicy.Bind, "6Gi")))
                    .create();
        }

        waitUntil(() -> names.stream()
                .allMatch(name -> condition(fetch(name), "Placed").isPresent()
                        && !"TargetNotScheduled"
                                .equals(condition(fetch(name), "Placed").get().getReason())));
        List<NumaGuestMemory> all = names.stream().map(this::fetch).toList();
        assertThat(all)
                .filteredOn(ngm -> is(ngm, "Placed", "True"))
                .as("13 GiB + 7 GiB free fit three 6 GiB guest nodes")
                .hasSize(3);
        assertThat(all)
                .filteredOn(ngm -> is(ngm, "Placed", "False"))
                .allSatisfy(
                        ngm -> assertThat(condition(ngm, "Placed").orElseThrow().getReason())
                                .isEqualTo("NotEnoughMemory"));
    }

    // ---------------------------------------------------------------------------------------------

    /** Waits for the condition; on timeout the message shows this test's NGMs as the server has them. */
    private void waitUntil(Callable<Boolean> condition) {
        try {
            await().atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(200))
                    .until(condition);
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(
                    e.getMessage() + "\nNumaGuestMemories in " + namespace + ":\n"
                            + CLIENT.getKubernetesSerialization()
                                    .asYaml(CLIENT.resources(NumaGuestMemory.class)
                                            .inNamespace(namespace)
                                            .list()),
                    e);
        }
    }

    private NumaGuestMemory fetch(String name) {
        return CLIENT.resources(NumaGuestMemory.class)
                .inNamespace(namespace)
                .withName(name)
                .get();
    }

    private static Optional<Condition> condition(NumaGuestMemory ngm, String type) {
        if (ngm == null || ngm.getStatus() == null || ngm.getStatus().getConditions() == null) {
            return Optional.empty();
        }
        return ngm.getStatus().getConditions().stream()
                .filter(c -> c.getType().equals(type))
                .findFirst();
    }

    private static boolean is(NumaGuestMemory ngm, String type, String status) {
        return condition(ngm, type).map(c -> c.getStatus().equals(status)).orElse(false);
    }

    /** A pod as the kubelet would report it: status goes through the status subresource. */
    private Pod createPod(String name, String nodeName, String phase, Map<String, String> labels) {
        Pod created = CLIENT.resource(new PodBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withNamespace(namespace)
                        .withLabels(labels)
                        .endMetadata()
                        .withNewSpec()
                        .withNodeName(nodeName)
                        .addNewContainer()
                        .withName("compute")
                        .withImage("vmm")
                        .endContainer()
                        .endSpec()
                        .build())
                .create();
        created.setStatus(new PodBuilder()
                .withNewStatus()
                .withPhase(phase)
                .endStatus()
                .build()
                .getStatus());
        return CLIENT.resource(created).updateStatus();
    }

    /** A VMI scheduled to a node (status in the object: KubeVirt's CRD has no status subresource); returns its uid. */
    private String createVmi(String name, String nodeName) {
        var vmi = OptionalCrds.vmi(namespace, name);
        vmi.setAdditionalProperty("status", Map.of("nodeName", nodeName));
        return CLIENT.genericKubernetesResources(OptionalCrds.VMI)
                .inNamespace(namespace)
                .resource(vmi)
                .create()
                .getMetadata()
                .getUid();
    }

    private static Map<String, String> launcherLabels(String vmiUid) {
        return Map.of("kubevirt.io", "virt-launcher", InProcessOperator.CREATED_BY_LABEL, vmiUid);
    }

    /** A NodeResourceTopology as the agent publishes it, valid under the chart's CRD schema. */
    private void createNodeResourceTopology(String nodeName, long... freeGiB) {
        long[] freeBytes = Arrays.stream(freeGiB).map(gib -> gib << 30).toArray();
        clusterScoped.add(CLIENT.resource(PublishedTopologies.flat(nodeName, 64L << 30, 8, freeBytes))
                .create());
    }

    private NumaGuestMemory ngm(String name, Target target, GuestNodeSpec... guestNodes) {
        var ngm = new NumaGuestMemory();
        ngm.getMetadata().setName(name);
        ngm.getMetadata().setNamespace(namespace);
        var spec = new NumaGuestMemorySpec();
        spec.setTarget(target);
        spec.setGuestNodes(List.of(guestNodes));
        ngm.setSpec(spec);
        return ngm;
    }

    private static GuestNodeSpec guestNode(int id, MemoryPolicy policy, String size, Integer... hostNodes) {
        var guestNode = new GuestNodeSpec(id, policy);
        if (size != null) {
            guestNode.setSize(new Quantity(size));
        }
        if (hostNodes.length > 0) {
            guestNode.setHostNodes(List.of(hostNodes));
        }
        return guestNode;
    }

    /** Writes status.applied the way the agent does: a JSON patch of that field alone, its own field manager. */
    private void agentReports(String name, Pod pod, boolean verified) {
        NumaGuestMemory current = fetch(name);
        List<GuestNodeApplied> applied = current.getStatus().getPlacement().stream()
                .map(placement -> {
                    var entry = new GuestNodeApplied();
                    entry.setGuestNode(placement.getGuestNode());
                    entry.setPodUid(pod.getMetadata().getUid());
                    entry.setPolicy(placement.getPolicy());
                    entry.setHostNodes(placement.getHostNodes());
                    entry.setFdKind("memfd");
                    entry.setMechanism("mbind");
                    entry.setVerified(verified);
                    entry.setPagesByHostNode(
                            Map.of(placement.getHostNodes().getFirst().toString(), 0L));
                    entry.setTime(java.time.Instant.now().toString());
                    return entry;
                })
                .toList();
        String patch = CLIENT.getKubernetesSerialization()
                .asJson(List.of(Map.of("op", "add", "path", "/status/applied", "value", applied)));
        CLIENT.resources(NumaGuestMemory.class)
                .inNamespace(namespace)
                .withName(name)
                .subresource("status")
                .patch(
                        new io.fabric8.kubernetes.client.dsl.base.PatchContext.Builder()
                                .withPatchType(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON)
                                .withFieldManager("numaguest-agent")
                                .build(),
                        patch);
    }
}
