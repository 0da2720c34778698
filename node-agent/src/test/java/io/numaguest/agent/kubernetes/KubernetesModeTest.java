package io.numaguest.agent.kubernetes;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.numaguest.agent.memory.FdKind;
import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.protocol.AgentException;
import io.numaguest.agent.protocol.ErrorCode;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.GuestNodeSpec;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemorySpec;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.PodReference;
import io.numaguest.api.v1alpha1.Target;
import io.numaguest.api.v1alpha1.VirtualMachineInstanceRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The agent's Kubernetes side on the Fabric8 mock API server (CRUD mode): policies from the NGMs of
 * its node, the pod check, and status.applied. The real API server replaces the mock in issue 4.
 */
@EnableKubernetesMockClient(crud = true)
class KubernetesModeTest {
    private static final String NODE = "node-a";
    private static final String POD_UID = "6f1c2a9e-4b7d-4e21-9a0c-3d5e7f901234";
    private static final String OTHER_POD_UID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    private static final VmRef VM1 = new VmRef("vms", "vm1");

    KubernetesClient client;
    KubernetesMockServer server;
    @TempDir
    Path proc;
    private KubernetesPolicySource policies;

    @BeforeEach
    void startSource() {
        policies = new KubernetesPolicySource(client, NODE);
    }

    @AfterEach
    void stopSource() {
        policies.close();
    }

    private NumaGuestMemory ngm(String name, String node, Target target, String podUid, GuestNodePlacement... placed) {
        NumaGuestMemory ngm = new NumaGuestMemory();
        ngm.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace("vms")
                .withLabels(Map.of(NumaGuestMemory.NODE_LABEL, node)).build());
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
        NumaGuestMemoryStatus status = new NumaGuestMemoryStatus();
        status.setPlacement(List.of(placed));
        if (podUid != null) {
            PodReference pod = new PodReference();
            pod.setName("virt-launcher-" + name);
            pod.setUid(podUid);
            status.setTargetPod(pod);
        }
        ngm.setStatus(status);
        return client.resource(ngm).create();
    }

    private static Target vmi(String name) {
        Target target = new Target();
        VirtualMachineInstanceRef ref = new VirtualMachineInstanceRef();
        ref.setName(name);
        target.setVirtualMachineInstance(ref);
        return target;
    }

    private static Target pods(String app) {
        Target target = new Target();
        target.setPodSelector(new LabelSelectorBuilder().withMatchLabels(Map.of("app", app)).build());
        return target;
    }

    private PeerCredentials processInPod(int pid, String podUid) throws Exception {
        Path dir = Files.createDirectories(proc.resolve(String.valueOf(pid)));
        Files.writeString(dir.resolve("cgroup"), "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                + podUid.replace('-', '_') + ".slice/cri-containerd-" + "ab".repeat(32) + ".scope\n");
        return new PeerCredentials(pid, 107, 107);
    }

    private PeerCredentials hostProcess(int pid) throws Exception {
        Path dir = Files.createDirectories(proc.resolve(String.valueOf(pid)));
        Files.writeString(dir.resolve("cgroup"), "0::/system.slice/libvirtd.service\n");
        return new PeerCredentials(pid, 0, 0);
    }

    private void awaitSeen(VmRef vm) {
        await().atMost(Duration.ofSeconds(10)).until(() -> policies.forVm(vm).isPresent());
    }

    @Test
    void policiesComeFromThePlacementOfThisNodesObjects() throws Exception {
        ngm("vm1-memory", NODE, vmi("vm1"), POD_UID,
                new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"),
                new GuestNodePlacement(1, MemoryPolicy.Interleave, List.of(0, 1), "chosen"));
        ngm("elsewhere", "node-b", vmi("vm2"), OTHER_POD_UID, new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
        ngm("qemu-pod", NODE, pods("qemu"), OTHER_POD_UID, new GuestNodePlacement(0, MemoryPolicy.Local, List.of(), "named"));
        awaitSeen(VM1);
        awaitSeen(new VmRef("vms", "qemu-pod"));

        GuestNodePolicy zero = policies.find(VM1, 0).orElseThrow();
        assertThat(zero.policy()).isEqualTo(MemoryPolicy.Bind);
        assertThat(zero.hostNodes()).containsExactly(0);
        assertThat(zero.migrate()).isFalse();
        GuestNodePolicy one = policies.find(VM1, 1).orElseThrow();
        assertThat(one.hostNodes()).containsExactly(0, 1);
        assertThat(one.migrate()).isTrue();
        assertThat(policies.find(VM1, 2)).isEmpty();
        assertThat(policies.find(new VmRef("vms", "vm2"), 0)).as("another node's VM").isEmpty();
        assertThat(policies.find(new VmRef("other", "vm1"), 0)).as("another namespace").isEmpty();
        assertThat(policies.find(new VmRef("vms", "qemu-pod"), 0).orElseThrow().policy())
                .isEqualTo(MemoryPolicy.Local);
    }

    @Test
    void aGuestNodeNotYetPlacedIsBusyAndOneNotAskedForHasNoPolicy() throws Exception {
        NumaGuestMemory ngm = ngm("vm1-memory", NODE, vmi("vm1"), POD_UID, new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
        GuestNodeSpec unplaced = new GuestNodeSpec();
        unplaced.setGuestNode(1);
        unplaced.setPolicy(MemoryPolicy.Bind);
        ngm.getSpec().getGuestNodes().add(unplaced);
        client.resource(ngm).update();
        await().atMost(Duration.ofSeconds(10)).until(() -> policies.forVm(VM1).map(n -> n.getSpec().getGuestNodes().size() == 2).orElse(false));

        assertThatThrownBy(() -> policies.find(VM1, 1)).isInstanceOfSatisfying(AgentException.class, e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.BUSY);
            assertThat(e.getMessage()).contains("not placed yet");
        });
        assertThat(policies.find(VM1, 2)).isEmpty();
    }

    @Test
    void twoObjectsNamingOneVmAreRefusedAsAmbiguous() throws Exception {
        ngm("vm1-memory", NODE, vmi("vm1"), POD_UID, new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
        ngm("vm1", NODE, pods("qemu"), POD_UID, new GuestNodePlacement(0, MemoryPolicy.Interleave, List.of(0), "named"));
        await().atMost(Duration.ofSeconds(10)).until(() -> policies.all().size() == 2);

        assertThatThrownBy(() -> policies.find(VM1, 0)).isInstanceOfSatisfying(AgentException.class, e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.POLICY_REJECTED);
            assertThat(e.getMessage()).contains("[vm1, vm1-memory]");
        });
    }

    @Test
    void aVmWhosePodIsNotKnownYetIsToldToRetry() throws Exception {
        ngm("vm1-memory", NODE, vmi("vm1"), null, new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
        awaitSeen(VM1);
        assertThatThrownBy(() -> new PodAuthorizer(policies, NODE, proc).authorize(processInPod(300, POD_UID), VM1))
                .isInstanceOfSatisfying(AgentException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.BUSY));
    }

    @Test
    void onlyTheTargetPodMayActForItsVm() throws Exception {
        ngm("vm1-memory", NODE, vmi("vm1"), POD_UID, new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
        awaitSeen(VM1);
        PodAuthorizer authorizer = new PodAuthorizer(policies, NODE, proc);

        authorizer.authorize(processInPod(100, POD_UID), VM1);
        authorizer.authorize(processInPod(101, POD_UID), null);
        authorizer.authorize(hostProcess(102), null);
        assertThatThrownBy(() -> authorizer.authorize(processInPod(103, OTHER_POD_UID), VM1))
                .isInstanceOfSatisfying(AgentException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.FORBIDDEN);
                    assertThat(e.getMessage()).contains(OTHER_POD_UID, "virt-launcher-vm1-memory", POD_UID);
                });
        assertThatThrownBy(() -> authorizer.authorize(hostProcess(104), VM1)).hasMessageContaining("no Kubernetes pod");
        assertThatThrownBy(() -> authorizer.authorize(processInPod(105, POD_UID), new VmRef("vms", "vm9")))
                .hasMessageContaining("no NumaGuestMemory on node node-a names VM vms/vm9");
        assertThatThrownBy(() -> authorizer.authorize(processInPod(106, OTHER_POD_UID), null))
                .hasMessageContaining("not the target pod");
        assertThatThrownBy(() -> authorizer.authorize(new PeerCredentials(999_999, 0, 0), VM1))
                .as("a process that is gone").hasMessageContaining("no Kubernetes pod");
    }

    @Test
    void appliedAndRefusedGuestNodesReachStatusAndEarlierPodsEntriesGo() throws Exception {
        ngm("vm1-memory", NODE, vmi("vm1"), POD_UID,
                new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"),
                new GuestNodePlacement(1, MemoryPolicy.Bind, List.of(0), "named"));
        // What an agent wrote for the VM's previous pod, before a restart.
        NumaGuestMemory current = client.resources(NumaGuestMemory.class).inNamespace("vms").withName("vm1-memory").get();
        GuestNodeApplied stale = new GuestNodeApplied();
        stale.setGuestNode(3);
        stale.setPodUid(OTHER_POD_UID);
        stale.setMechanism("mbind");
        current.getStatus().setApplied(List.of(stale));
        client.resource(current).updateStatus();
        await().atMost(Duration.ofSeconds(10)).until(() -> policies.forVm(VM1)
                .map(ngm -> ngm.getStatus().getApplied() != null).orElse(false));

        try (AppliedStatusWriter writer = new AppliedStatusWriter(client, policies, proc)) {
            PeerCredentials vmm = processInPod(200, POD_UID);
            writer.applied(VM1, vmm, 0, new RegionOutcome(FdKind.MEMFD, MemoryPolicy.Bind, List.of(0),
                    Set.of(), PolicyMechanism.MBIND, true, 4096, new TreeMap<>(Map.of(0, 512L)), List.of()));
            writer.refused(VM1, vmm, 1, new AgentException(ErrorCode.UNSUPPORTED_MEMORY, "guest_memfd without GUEST_MEMFD_FLAG_MMAP"));

            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                List<GuestNodeApplied> applied = client.resources(NumaGuestMemory.class).inNamespace("vms")
                        .withName("vm1-memory").get().getStatus().getApplied();
                assertThat(applied).extracting(GuestNodeApplied::getGuestNode).containsExactly(0, 1);
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
        NumaGuestMemory after = client.resources(NumaGuestMemory.class).inNamespace("vms").withName("vm1-memory").get();
        assertThat(after.getStatus().getTargetPod().getUid()).as("the operator's fields are untouched").isEqualTo(POD_UID);
        assertThat(after.getStatus().getPlacement()).hasSize(2);
    }

    /**
     * Found with the real API server (FullPathIT, an outage while a VMM applied two guest nodes):
     * the second guest node's entry arrived while the write of the first was failing, and the
     * failed write logged SEVERE "giving up" although the queued write went on to deliver both.
     */
    @Test
    void aWriteThatFailsWhileANewerOneIsQueuedDoesNotGiveUp() throws Exception {
        ngm("vm1-memory", NODE, vmi("vm1"), POD_UID,
                new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"),
                new GuestNodePlacement(1, MemoryPolicy.Bind, List.of(0), "named"));
        awaitSeen(VM1);
        CountDownLatch firstWriteInFlight = new CountDownLatch(1);
        CountDownLatch secondEntryRecorded = new CountDownLatch(1);
        // The first status write is held until the second entry is recorded, then refused (403 is not retried by the client).
        server.expect().patch().withPath("/apis/numaguest.io/v1alpha1/namespaces/vms/numaguestmemories/vm1-memory/status?fieldManager=numaguest-agent")
                .andReply(403, request -> {
                    firstWriteInFlight.countDown();
                    try {
                        secondEntryRecorded.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"Forbidden\",\"code\":403}";
                }).once();
        List<LogRecord> logged = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                logged.add(record);
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger writerLog = Logger.getLogger(AppliedStatusWriter.class.getName());
        writerLog.addHandler(capture);
        try (AppliedStatusWriter writer = new AppliedStatusWriter(client, policies, proc)) {
            PeerCredentials vmm = processInPod(201, POD_UID);
            RegionOutcome outcome = new RegionOutcome(FdKind.MEMFD, MemoryPolicy.Bind, List.of(0),
                    Set.of(), PolicyMechanism.MBIND, true, 4096, new TreeMap<>(Map.of(0, 0L)), List.of());
            writer.applied(VM1, vmm, 0, outcome);
            assertThat(firstWriteInFlight.await(10, TimeUnit.SECONDS)).isTrue();
            writer.applied(VM1, vmm, 1, outcome);
            secondEntryRecorded.countDown();

            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(client.resources(NumaGuestMemory.class)
                    .inNamespace("vms").withName("vm1-memory").get().getStatus().getApplied())
                    .extracting(GuestNodeApplied::getGuestNode).containsExactly(0, 1));
            await().atMost(Duration.ofSeconds(10)).until(() -> logged.stream().anyMatch(r -> r.getMessage().contains("vms/vm1-memory")));
        } finally {
            writerLog.removeHandler(capture);
        }
        assertThat(logged).as("nothing was given up").noneMatch(r -> r.getLevel() == Level.SEVERE);
        assertThat(logged).anyMatch(r -> r.getLevel() == Level.WARNING && r.getMessage().contains("the write queued since carries these entries too"));
    }
}
