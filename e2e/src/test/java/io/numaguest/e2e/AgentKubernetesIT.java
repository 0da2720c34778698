package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.kubernetes.AppliedStatusWriter;
import io.numaguest.agent.kubernetes.KubernetesPolicySource;
import io.numaguest.agent.kubernetes.NodeTopologyPublisher;
import io.numaguest.agent.kubernetes.PodAuthorizer;
import io.numaguest.agent.memory.FdKind;
import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.SysfsTopology;
import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.topology.NumaZones;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.topology.v1alpha2.Zone;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.GuestNodeSpec;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.MigrationTarget;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemorySpec;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.PodReference;
import io.numaguest.api.v1alpha1.Target;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's Kubernetes side, its classes called directly with an admin client of the real API
 * server: policies from the NGMs of its node (informers selecting by status.nodeName and
 * status.migration.nodeName), the pod check, the
 * status.applied writer (JSON patch of the status subresource), and the NodeResourceTopology
 * publisher against the chart's NRT CRD and its schema. Node names and namespaces are unique per
 * test, since the server is shared.
 */
class AgentKubernetesIT {

    private static final KubeApiServer SERVER = KubeApiServer.get();
    private static final KubernetesClient CLIENT = SERVER.adminClient();

    @BeforeAll
    static void installCrds() {
        SERVER.installCrds();
        OptionalCrds.installNodeResourceTopology(CLIENT);
    }

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    @Nested
    class PoliciesAuthorizationAndStatus {
        private static final String POD_UID = "6f1c2a9e-4b7d-4e21-9a0c-3d5e7f901234";
        private static final String OTHER_POD_UID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

        private final String node = unique("agent-node");
        private final String namespace = unique("agent-vms");
        private final VmRef vm1 = new VmRef(namespace, "vm1");

        @TempDir
        Path proc;

        private KubernetesPolicySource policies;

        @BeforeEach
        void startSource() {
            CLIENT.namespaces()
                    .resource(new NamespaceBuilder()
                            .withNewMetadata()
                            .withName(namespace)
                            .endMetadata()
                            .build())
                    .create();
            policies = new KubernetesPolicySource(CLIENT, node);
        }

        @AfterEach
        void stopSource() {
            policies.close();
            CLIENT.resources(NumaGuestMemory.class).inNamespace(namespace).delete();
        }

        /** An NGM as the operator leaves it: spec from the user, node, target pod and placement through the status subresource. */
        private NumaGuestMemory ngm(
                String name, String onNode, Target target, String podUid, GuestNodePlacement... placed) {
            NumaGuestMemory ngm = new NumaGuestMemory();
            ngm.setMetadata(new ObjectMetaBuilder()
                    .withName(name)
                    .withNamespace(namespace)
                    .build());
            NumaGuestMemorySpec spec = new NumaGuestMemorySpec();
            spec.setTarget(target);
            for (GuestNodePlacement p : placed) {
                GuestNodeSpec guestNode = new GuestNodeSpec();
                guestNode.setGuestNode(p.getGuestNode());
                guestNode.setPolicy(p.getPolicy());
                guestNode.setMigrate(p.getGuestNode() == 1);
                spec.getGuestNodes().add(guestNode);
            }
            ngm.setSpec(spec);
            NumaGuestMemory created = CLIENT.resource(ngm).create();
            assertThat(created.getStatus())
                    .as("the status subresource: create ignores status")
                    .isNull();
            NumaGuestMemoryStatus status = new NumaGuestMemoryStatus();
            status.setNodeName(onNode);
            status.setPlacement(List.of(placed));
            if (podUid != null) {
                PodReference pod = new PodReference();
                pod.setName("virt-launcher-" + name);
                pod.setUid(podUid);
                status.setTargetPod(pod);
            }
            created.setStatus(status);
            return CLIENT.resource(created).updateStatus();
        }

        /** A verified Bind {0} of a memfd with {@code pages} resident on node 0, as the agent reports an apply. */
        private static RegionOutcome boundOnNode0(long pages) {
            return new RegionOutcome(
                    FdKind.MEMFD,
                    MemoryPolicy.Bind,
                    List.of(0),
                    Set.of(),
                    PolicyMechanism.MBIND,
                    true,
                    4096,
                    new TreeMap<>(Map.of(0, pages)),
                    List.of());
        }

        private static Target vmi(String name) {
            return Target.virtualMachineInstance(name);
        }

        private static Target pods(String app) {
            return Target.podSelector(new LabelSelectorBuilder()
                    .withMatchLabels(Map.of("app", app))
                    .build());
        }

        private PeerCredentials processInPod(int pid, String podUid) throws Exception {
            Path dir = Files.createDirectories(proc.resolve(String.valueOf(pid)));
            Files.writeString(
                    dir.resolve("cgroup"),
                    "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUid.replace('-', '_')
                            + ".slice/cri-containerd-" + "ab".repeat(32) + ".scope\n");
            return new PeerCredentials(pid, 107, 107);
        }

        private PeerCredentials hostProcess(int pid) throws Exception {
            Path dir = Files.createDirectories(proc.resolve(String.valueOf(pid)));
            Files.writeString(dir.resolve("cgroup"), "0::/system.slice/libvirtd.service\n");
            return new PeerCredentials(pid, 0, 0);
        }

        private void awaitSeen(VmRef vm) {
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> policies.forVm(vm).isPresent());
        }

        @Test
        void policiesComeFromThePlacementOfThisNodesObjects() throws Exception {
            ngm(
                    "vm1-memory",
                    node,
                    vmi("vm1"),
                    POD_UID,
                    new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"),
                    new GuestNodePlacement(1, MemoryPolicy.Interleave, List.of(0, 1), "chosen"));
            ngm(
                    "elsewhere",
                    node + "-b",
                    vmi("vm2"),
                    OTHER_POD_UID,
                    new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
            ngm(
                    "qemu-pod",
                    node,
                    pods("qemu"),
                    OTHER_POD_UID,
                    new GuestNodePlacement(0, MemoryPolicy.Local, List.of(), "named"));
            awaitSeen(vm1);
            awaitSeen(new VmRef(namespace, "qemu-pod"));

            GuestNodePolicy zero = policies.find(vm1, 0).orElseThrow();
            assertThat(zero.policy()).isEqualTo(MemoryPolicy.Bind);
            assertThat(zero.hostNodes()).containsExactly(0);
            assertThat(zero.migrate()).isFalse();
            GuestNodePolicy one = policies.find(vm1, 1).orElseThrow();
            assertThat(one.hostNodes()).containsExactly(0, 1);
            assertThat(one.migrate()).isTrue();
            assertThat(policies.find(vm1, 2)).isEmpty();
            assertThat(policies.find(new VmRef(namespace, "vm2"), 0))
                    .as("another node's VM")
                    .isEmpty();
            assertThat(policies.find(new VmRef("other", "vm1"), 0))
                    .as("another namespace")
                    .isEmpty();
            assertThat(policies.find(new VmRef(namespace, "qemu-pod"), 0)
                            .orElseThrow()
                            .policy())
                    .isEqualTo(MemoryPolicy.Local);
        }

        @Test
        void aGuestNodeNotYetPlacedIsBusyAndOneNotAskedForHasNoPolicy() throws Exception {
            ngm(
                    "vm1-memory",
                    node,
                    vmi("vm1"),
                    POD_UID,
                    new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
            CLIENT.resources(NumaGuestMemory.class)
                    .inNamespace(namespace)
                    .withName("vm1-memory")
                    .edit(ngm -> {
                        GuestNodeSpec unplaced = new GuestNodeSpec();
                        unplaced.setGuestNode(1);
                        unplaced.setPolicy(MemoryPolicy.Bind);
                        ngm.getSpec().getGuestNodes().add(unplaced);
                        return ngm;
                    });
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> policies.forVm(vm1)
                            .map(n -> n.getSpec().getGuestNodes().size() == 2)
                            .orElse(false));

            assertThatThrownBy(() -> policies.find(vm1, 1)).isInstanceOfSatisfying(AgentException.class, e -> {
                assertThat(e.code()).isEqualTo(ErrorCode.BUSY);
                assertThat(e.getMessage()).contains("not placed yet");
            });
            assertThat(policies.find(vm1, 2)).isEmpty();
        }

        @Test
        void twoObjectsNamingOneVmAreRefusedAsAmbiguous() throws Exception {
            ngm(
                    "vm1-memory",
                    node,
                    vmi("vm1"),
                    POD_UID,
                    new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
            ngm(
                    "vm1",
                    node,
                    pods("qemu"),
                    POD_UID,
                    new GuestNodePlacement(0, MemoryPolicy.Interleave, List.of(0), "named"));
            await().atMost(Duration.ofSeconds(10)).until(() -> policies.all().size() == 2);

            assertThatThrownBy(() -> policies.find(vm1, 0)).isInstanceOfSatisfying(AgentException.class, e -> {
                assertThat(e.code()).isEqualTo(ErrorCode.POLICY_REJECTED);
                assertThat(e.getMessage()).contains("[vm1, vm1-memory]");
            });
        }

        @Test
        void aVmWhosePodIsNotKnownYetIsToldToRetry() throws Exception {
            ngm(
                    "vm1-memory",
                    node,
                    vmi("vm1"),
                    null,
                    new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
            awaitSeen(vm1);
            assertThatThrownBy(() -> new PodAuthorizer(policies, node, proc).authorize(processInPod(300, POD_UID), vm1))
                    .isInstanceOfSatisfying(
                            AgentException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.BUSY));
        }

        @Test
        void onlyTheTargetPodMayActForItsVm() throws Exception {
            ngm(
                    "vm1-memory",
                    node,
                    vmi("vm1"),
                    POD_UID,
                    new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
            awaitSeen(vm1);
            PodAuthorizer authorizer = new PodAuthorizer(policies, node, proc);

            authorizer.authorize(processInPod(100, POD_UID), vm1);
            authorizer.authorize(processInPod(101, POD_UID), null);
            authorizer.authorize(hostProcess(102), null);
            assertThatThrownBy(() -> authorizer.authorize(processInPod(103, OTHER_POD_UID), vm1))
                    .isInstanceOfSatisfying(AgentException.class, e -> {
                        assertThat(e.code()).isEqualTo(ErrorCode.FORBIDDEN);
                        assertThat(e.getMessage()).contains(OTHER_POD_UID, "virt-launcher-vm1-memory", POD_UID);
                    });
            assertThatThrownBy(() -> authorizer.authorize(hostProcess(104), vm1))
                    .hasMessageContaining("no Kubernetes pod");
            assertThatThrownBy(() -> authorizer.authorize(processInPod(105, POD_UID), new VmRef(namespace, "vm9")))
                    .hasMessageContaining("no NumaGuestMemory on node " + node + " names VM " + namespace + "/vm9");
            assertThatThrownBy(() -> authorizer.authorize(processInPod(106, OTHER_POD_UID), null))
                    .hasMessageContaining("not the target pod");
            assertThatThrownBy(() -> authorizer.authorize(new PeerCredentials(999_999, 0, 0), vm1))
                    .as("a process that is gone")
                    .hasMessageContaining("no Kubernetes pod");
        }

        @Test
        void appliedAndRefusedGuestNodesReachStatusAndEarlierPodsEntriesGo() throws Exception {
            NumaGuestMemory current = ngm(
                    "vm1-memory",
                    node,
                    vmi("vm1"),
                    POD_UID,
                    new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"),
                    new GuestNodePlacement(1, MemoryPolicy.Bind, List.of(0), "named"));
            // What an agent wrote for the VM's previous pod, before a restart.
            GuestNodeApplied stale = new GuestNodeApplied();
            stale.setGuestNode(3);
            stale.setPodUid(OTHER_POD_UID);
            stale.setMechanism("mbind");
            current.getStatus().setApplied(List.of(stale));
            CLIENT.resource(current).updateStatus();
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> policies.forVm(vm1)
                            .map(ngm -> ngm.getStatus().getApplied() != null)
                            .orElse(false));

            try (AppliedStatusWriter writer = new AppliedStatusWriter(CLIENT, policies, proc)) {
                PeerCredentials vmm = processInPod(200, POD_UID);
                writer.applied(vm1, vmm, 0, boundOnNode0(512L));
                writer.refused(
                        vm1,
                        vmm,
                        1,
                        new AgentException(ErrorCode.UNSUPPORTED_MEMORY, "guest_memfd without GUEST_MEMFD_FLAG_MMAP"));

                await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                    List<GuestNodeApplied> applied = CLIENT.resources(NumaGuestMemory.class)
                            .inNamespace(namespace)
                            .withName("vm1-memory")
                            .get()
                            .getStatus()
                            .getApplied();
                    assertThat(applied)
                            .extracting(GuestNodeApplied::getGuestNode)
                            .containsExactly(0, 1);
                    GuestNodeApplied zero = applied.get(0);
                    assertThat(zero.getPodUid()).isEqualTo(POD_UID);
                    assertThat(zero.getMechanism()).isEqualTo("mbind");
                    assertThat(zero.getVerified()).isTrue();
                    assertThat(zero.getPagesByHostNode()).containsEntry("0", 512L);
                    assertThat(zero.getTime()).isNotBlank();
                    assertThat(applied.get(1).getError().getCode()).isEqualTo("UNSUPPORTED_MEMORY");
                    assertThat(applied.get(1).getVerified()).isFalse();
                });
            }
            NumaGuestMemory after = CLIENT.resources(NumaGuestMemory.class)
                    .inNamespace(namespace)
                    .withName("vm1-memory")
                    .get();
            assertThat(after.getStatus().getTargetPod().getUid())
                    .as("the operator's fields are untouched")
                    .isEqualTo(POD_UID);
            assertThat(after.getStatus().getPlacement()).hasSize(2);
            assertThat(after.getMetadata().getManagedFields())
                    .as("written under the agent's field manager")
                    .anySatisfy(fields -> {
                        assertThat(fields.getManager()).isEqualTo(AppliedStatusWriter.FIELD_MANAGER);
                        assertThat(fields.getSubresource()).isEqualTo("status");
                    });
        }

        @Test
        void onAMigrationsTargetNodeTheTargetPodIsServedAndItsEvidenceReplacesTheSourcesWhenTheVmArrives()
                throws Exception {
            String source = node + "-source";
            NumaGuestMemory ngm = new NumaGuestMemory();
            ngm.setMetadata(new ObjectMetaBuilder()
                    .withName("vm1-memory")
                    .withNamespace(namespace)
                    .build());
            NumaGuestMemorySpec spec = new NumaGuestMemorySpec();
            spec.setTarget(vmi("vm1"));
            spec.getGuestNodes().add(new GuestNodeSpec(0, MemoryPolicy.Bind));
            ngm.setSpec(spec);
            NumaGuestMemory created = CLIENT.resource(ngm).create();
            // As the operator leaves it while the VM migrates from source to this node.
            NumaGuestMemoryStatus status = new NumaGuestMemoryStatus();
            status.setNodeName(source);
            status.setTargetPod(new PodReference("virt-launcher-vm1-source", OTHER_POD_UID));
            status.setPlacement(List.of(new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(1), "on the source")));
            GuestNodeApplied sourceEntry = new GuestNodeApplied();
            sourceEntry.setGuestNode(0);
            sourceEntry.setPodUid(OTHER_POD_UID);
            sourceEntry.setVerified(true);
            status.setApplied(List.of(sourceEntry));
            MigrationTarget migration = new MigrationTarget();
            migration.setNodeName(node);
            migration.setTargetPod(new PodReference("virt-launcher-vm1-target", POD_UID));
            migration.setPlacement(List.of(new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "on the target")));
            status.setMigration(migration);
            created.setStatus(status);
            CLIENT.resource(created).updateStatus();
            await().atMost(Duration.ofSeconds(10))
                    .until(() ->
                            policies.forVm(vm1).map(n -> n.getStatus() != null).orElse(false));

            assertThat(policies.find(vm1, 0).orElseThrow().hostNodes())
                    .as("the target's placement")
                    .containsExactly(0);
            PodAuthorizer authorizer = new PodAuthorizer(policies, node, proc);
            authorizer.authorize(processInPod(400, POD_UID), vm1);
            authorizer.authorize(processInPod(401, POD_UID), null);
            assertThatThrownBy(() -> authorizer.authorize(processInPod(402, OTHER_POD_UID), vm1))
                    .as("the source pod is the source node's to serve")
                    .hasMessageContaining("migrates to node " + node + " in pod virt-launcher-vm1-target");

            try (AppliedStatusWriter writer = new AppliedStatusWriter(CLIENT, policies, proc)) {
                writer.applied(vm1, processInPod(403, POD_UID), 0, boundOnNode0(256L));
                await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                    NumaGuestMemoryStatus during = CLIENT.resources(NumaGuestMemory.class)
                            .inNamespace(namespace)
                            .withName("vm1-memory")
                            .get()
                            .getStatus();
                    assertThat(during.getMigrationApplied())
                            .extracting(GuestNodeApplied::getPodUid)
                            .containsExactly(POD_UID);
                    assertThat(during.getApplied())
                            .as("the source's evidence is the source agent's")
                            .extracting(GuestNodeApplied::getPodUid)
                            .containsExactly(OTHER_POD_UID);
                });

                // The migration completes: the operator names this node and the target pod in one status write.
                CLIENT.resources(NumaGuestMemory.class)
                        .inNamespace(namespace)
                        .withName("vm1-memory")
                        .editStatus(n -> {
                            n.getStatus().setNodeName(node);
                            n.getStatus()
                                    .setTargetPod(n.getStatus().getMigration().getTargetPod());
                            n.getStatus()
                                    .setPlacement(n.getStatus().getMigration().getPlacement());
                            n.getStatus().setMigration(null);
                            return n;
                        });
                await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                    NumaGuestMemoryStatus after = CLIENT.resources(NumaGuestMemory.class)
                            .inNamespace(namespace)
                            .withName("vm1-memory")
                            .get()
                            .getStatus();
                    assertThat(after.getMigrationApplied()).isNull();
                    assertThat(after.getApplied())
                            .extracting(GuestNodeApplied::getPodUid)
                            .containsExactly(POD_UID);
                    assertThat(after.getApplied().getFirst().getPagesByHostNode())
                            .containsEntry("0", 256L);
                });
            }
        }
    }

    @Nested
    class TopologyPublishing {
        private static final long GIB = 1L << 30;
        private static final String MANAGED_BY = "app.kubernetes.io/managed-by";

        private final String node = unique("topology-node");
        private final AtomicReference<HostTopology> topology = new AtomicReference<>(twoNodes(10 * GIB));

        @AfterEach
        void deleteWhatTheTestCreated() {
            CLIENT.resources(NodeResourceTopology.class).withName(node).delete();
            CLIENT.nodes().withName(node).delete();
        }

        @Test
        void publishesOneZonePerHostNodeWithDistancesAsCosts() {
            publisher().publish();

            GenericKubernetesResource nrt = read();
            assertThat(nrt.getApiVersion()).isEqualTo("topology.node.k8s.io/v1alpha2");
            assertThat(nrt.getKind()).isEqualTo("NodeResourceTopology");
            assertThat(nrt.getMetadata().getLabels()).containsEntry(MANAGED_BY, "numaguest-agent");
            assertThat(nrt.getAdditionalProperties().get("zones"))
                    .as("as stored, after the CRD's schema")
                    .isEqualTo(List.of(
                            Map.of(
                                    "name",
                                    "node-0",
                                    "type",
                                    "Node",
                                    "attributes",
                                    List.of(Map.of("name", "numaguest.io/allowed", "value", "true")),
                                    "costs",
                                    List.of(
                                            Map.of("name", "node-0", "value", 10),
                                            Map.of("name", "node-1", "value", 21)),
                                    "resources",
                                    List.of(
                                            resource("cpu", "4", "4"),
                                            resource("memory", Long.toString(16 * GIB), Long.toString(10 * GIB)),
                                            resource("hugepages-2Mi", Long.toString(GIB), Long.toString(GIB / 2)),
                                            resource("hugepages-1Gi", Long.toString(4 * GIB), Long.toString(3 * GIB)))),
                            Map.of(
                                    "name",
                                    "node-1",
                                    "type",
                                    "Node",
                                    "attributes",
                                    List.of(Map.of("name", "numaguest.io/allowed", "value", "false")),
                                    "costs",
                                    List.of(
                                            Map.of("name", "node-0", "value", 21),
                                            Map.of("name", "node-1", "value", 10)),
                                    "resources",
                                    List.of(
                                            resource("cpu", "4", "4"),
                                            resource("memory", Long.toString(16 * GIB), Long.toString(12 * GIB))))));
        }

        /**
         * The round trip of the contract: the host as the agent reads it, published, stored by the API
         * server, read back through the typed client as the operator's informer reads it, and turned
         * into the topology the operator places on. Host node 1 is outside the agent's cpuset.
         */
        @Test
        void theOperatorReadsBackWhatTheAgentSees() {
            publisher().publish();

            var read = NumaZones.read(CLIENT.resources(NodeResourceTopology.class)
                            .withName(node)
                            .get())
                    .orElseThrow();

            assertThat(read)
                    .isEqualTo(new NumaTopology(
                            node,
                            List.of(
                                    new NumaNode(
                                            0,
                                            16 * GIB,
                                            10 * GIB,
                                            4,
                                            Map.of(0, 10, 1, 21),
                                            List.of(
                                                    new NumaNode.HugePages(2L << 20, GIB, GIB / 2),
                                                    new NumaNode.HugePages(GIB, 4 * GIB, 3 * GIB)),
                                            true),
                                    new NumaNode(1, 16 * GIB, 12 * GIB, 4, Map.of(0, 21, 1, 10), List.of(), false))));
        }

        @Test
        void republishingUpdatesTheSameObject() {
            NodeTopologyPublisher publisher = publisher();
            publisher.publish();
            String firstVersion = read().getMetadata().getResourceVersion();

            topology.set(twoNodes(7 * GIB));
            publisher.publish();

            assertThat(CLIENT.resources(NodeResourceTopology.class)
                            .withField("metadata.name", node)
                            .list()
                            .getItems())
                    .hasSize(1);
            GenericKubernetesResource nrt = read();
            assertThat(nrt.getMetadata().getResourceVersion()).isNotEqualTo(firstVersion);
            assertThat(memoryAvailable(0)).isEqualTo(Long.toString(7 * GIB));
        }

        @Test
        void theNodeOwnsItsTopologySoTheGarbageCollectorDeletesItWithTheNode() {
            String nodeUid = CLIENT.nodes()
                    .resource(new NodeBuilder()
                            .withNewMetadata()
                            .withName(node)
                            .endMetadata()
                            .build())
                    .create()
                    .getMetadata()
                    .getUid();

            publisher().publish();

            assertThat(read().getMetadata().getOwnerReferences())
                    .singleElement()
                    .satisfies(owner -> {
                        assertThat(owner.getApiVersion()).isEqualTo("v1");
                        assertThat(owner.getKind()).isEqualTo("Node");
                        assertThat(owner.getName()).isEqualTo(node);
                        assertThat(owner.getUid()).isEqualTo(nodeUid);
                        assertThat(owner.getBlockOwnerDeletion()).isNull();
                    });
        }

        @Test
        void withoutTheNodeTheTopologyIsPublishedOwnerless() {
            publisher().publish();

            assertThat(read().getMetadata().getOwnerReferences()).isNullOrEmpty();
        }

        @Test
        void leavesATopologyPublishedByAnotherComponentAlone() {
            var theirs = new NodeResourceTopology();
            theirs.getMetadata().setName(node);
            theirs.setZones(List.of(new Zone("node-0", "Node", null, null, null, null)));
            CLIENT.resource(theirs).create();

            publisher().publish();

            assertThat(CLIENT.resources(NodeResourceTopology.class)
                            .withName(node)
                            .get()
                            .getZones())
                    .isEqualTo(theirs.getZones());
        }

        /**
         * The CRD is cluster-wide and shared with the other classes on this server, so it is swapped
         * out and restored (the chart's, v1alpha2 served) before the test ends, whatever happens.
         */
        @Test
        void theCrdIsPresentOnlyWhenItServesV1alpha2() {
            NodeTopologyPublisher publisher = publisher();
            assertThat(publisher.crdPresent()).as("the chart's CRD").isTrue();
            try {
                deleteNrtCrd();
                assertThat(publisher.crdPresent()).as("no CRD").isFalse();

                OptionalCrds.installIfAbsent(
                        CLIENT,
                        new CustomResourceDefinitionBuilder()
                                // A *.k8s.io group: the real API server refuses the CRD without this annotation.
                                .withNewMetadata()
                                .withName(OptionalCrds.NRT_CRD)
                                .addToAnnotations(
                                        "api-approved.kubernetes.io",
                                        "https://github.com/kubernetes/enhancements/pull/1178")
                                .endMetadata()
                                .withNewSpec()
                                .withGroup("topology.node.k8s.io")
                                .withScope("Cluster")
                                .withNewNames()
                                .withKind("NodeResourceTopology")
                                .withListKind("NodeResourceTopologyList")
                                .withPlural("noderesourcetopologies")
                                .withSingular("noderesourcetopology")
                                .endNames()
                                .addNewVersion()
                                .withName("v1alpha1")
                                .withServed(true)
                                .withStorage(true)
                                .withNewSchema()
                                .withNewOpenAPIV3Schema()
                                .withType("object")
                                .withXKubernetesPreserveUnknownFields(true)
                                .endOpenAPIV3Schema()
                                .endSchema()
                                .endVersion()
                                .endSpec()
                                .build());
                assertThat(publisher.crdPresent())
                        .as("an old CRD serving only v1alpha1")
                        .isFalse();
            } finally {
                deleteNrtCrd();
                OptionalCrds.installNodeResourceTopology(CLIENT);
            }
            assertThat(publisher.crdPresent()).isTrue();
        }

        @Test
        void periodicPublishingSurvivesFailures() {
            AtomicInteger reads = new AtomicInteger();
            NodeTopologyPublisher publisher = new NodeTopologyPublisher(CLIENT, node, () -> {
                if (reads.incrementAndGet() == 1) {
                    throw new IllegalStateException("sysfs unreadable");
                }
                return topology.get();
            });
            ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor();
            try {
                publisher.start(executor, Duration.ofMillis(50));

                await().atMost(Duration.ofSeconds(10))
                        .until(() -> CLIENT.resources(NodeResourceTopology.class)
                                        .withName(node)
                                        .get()
                                != null);
                topology.set(twoNodes(5 * GIB));
                await().atMost(Duration.ofSeconds(10))
                        .until(() -> memoryAvailable(0).equals(Long.toString(5 * GIB)));
            } finally {
                executor.shutdownNow();
            }
        }

        private void deleteNrtCrd() {
            var crds = CLIENT.apiextensions().v1().customResourceDefinitions();
            crds.withName(OptionalCrds.NRT_CRD).delete();
            // The API server removes the CRD once its objects are gone (its cleanup finalizer).
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> crds.withName(OptionalCrds.NRT_CRD).get() == null);
        }

        private NodeTopologyPublisher publisher() {
            return new NodeTopologyPublisher(CLIENT, node, topology::get);
        }

        private GenericKubernetesResource read() {
            // As stored, untyped: the wire format itself is under test.
            return CLIENT.genericKubernetesResources(NodeResourceTopology.API_VERSION, NodeResourceTopology.KIND)
                    .withName(node)
                    .get();
        }

        /**
         * Two host nodes of 16 GiB and 4 CPUs each; node 0 has huge page pools, node 1 none; the
         * agent's cpuset has host node 0 only. Read by the agent's own sysfs reader from a tree
         * written as the kernel lays it out, so the round trip sysfs → NRT → operator's view is one chain.
         */
        private static HostTopology twoNodes(long node0MemFree) {
            try {
                Path sys = Files.createTempDirectory("agent-kubernetes-it-sysfs");
                try {
                    Files.writeString(sys.resolve("online"), "0-1\n");
                    Files.writeString(sys.resolve("has_memory"), "0-1\n");
                    long[] free = {node0MemFree, 12 * GIB};
                    String[] cpus = {"0-3", "4-7"};
                    String[] distances = {"10 21", "21 10"};
                    for (int n = 0; n < 2; n++) {
                        Path node = Files.createDirectories(sys.resolve("node" + n));
                        Files.writeString(
                                node.resolve("meminfo"),
                                "Node " + n + " MemTotal:       " + (16 * GIB >> 10) + " kB\n" + "Node " + n
                                        + " MemFree:        " + (free[n] >> 10) + " kB\n" + "Node " + n
                                        + " MemUsed:        " + ((16 * GIB - free[n]) >> 10) + " kB\n");
                        Files.writeString(node.resolve("cpulist"), cpus[n] + "\n");
                        Files.writeString(node.resolve("distance"), distances[n] + "\n");
                    }
                    hugePagePool(sys.resolve("node0"), 2048, 512, 256);
                    hugePagePool(sys.resolve("node0"), 1048576, 4, 3);
                    Path status = Files.writeString(
                            sys.resolve("status"), "Name:\tjava\nMems_allowed:\t00000001\nMems_allowed_list:\t0\n");
                    return new SysfsTopology(sys, status).read();
                } finally {
                    try (var tree = Files.walk(sys)) {
                        for (Path path : tree.sorted(Comparator.reverseOrder()).toList()) {
                            Files.delete(path);
                        }
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static void hugePagePool(Path node, long sizeKib, long total, long free) throws IOException {
            Path pool = Files.createDirectories(node.resolve("hugepages/hugepages-" + sizeKib + "kB"));
            Files.writeString(pool.resolve("nr_hugepages"), total + "\n");
            Files.writeString(pool.resolve("free_hugepages"), free + "\n");
        }

        private static Map<String, Object> resource(String name, String capacity, String available) {
            return Map.of("name", name, "capacity", capacity, "allocatable", capacity, "available", available);
        }

        private String memoryAvailable(int zone) {
            return CLIENT
                    .resources(NodeResourceTopology.class)
                    .withName(node)
                    .get()
                    .getZones()
                    .get(zone)
                    .resources()
                    .stream()
                    .filter(resource -> "memory".equals(resource.name()))
                    .map(resource -> Long.toString(
                            resource.available().getNumericalAmount().longValueExact()))
                    .findFirst()
                    .orElseThrow();
        }
    }
}
