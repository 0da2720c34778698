package io.numaguest.agent.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.http.BasicBuilder;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.Interceptor;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.numaguest.agent.memory.FdKind;
import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.VmRef;
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
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fault of the status.applied writer that needs a request refused at a chosen moment, which the
 * Fabric8 mock server (CRUD mode plus one expectation) can stage. Everything else of the agent's
 * Kubernetes side (policies, the pod check, status.applied, the NRT publisher) is tested against
 * the real API server: e2e AgentKubernetesIT.
 */
@EnableKubernetesMockClient(crud = true)
class KubernetesModeTest {
    private static final String NODE = "node-a";
    private static final String POD_UID = "6f1c2a9e-4b7d-4e21-9a0c-3d5e7f901234";
    private static final VmRef VM1 = new VmRef("vms", "vm1");

    KubernetesClient client;
    KubernetesMockServer server;

    @TempDir
    Path proc;

    private KubernetesClient sourceClient;
    private KubernetesPolicySource policies;

    /**
     * The mock server selects by metadata fields only, not by the status fields the CRD declares
     * selectable: the source's client drops its field selector. Every NGM here is this node's, so
     * that changes nothing these tests look at; selection itself is AgentKubernetesIT's.
     */
    @BeforeEach
    void startSource() {
        sourceClient = new KubernetesClientBuilder()
                .withConfig(client.getConfiguration())
                .withHttpClientBuilderConsumer(http ->
                        http.addOrReplaceInterceptor("no-field-selector", new Interceptor() {
                            @Override
                            public void before(BasicBuilder builder, HttpRequest request, RequestTags tags) {
                                builder.uri(withoutFieldSelector(request.uri()));
                            }
                        }))
                .build();
        policies = new KubernetesPolicySource(sourceClient, NODE);
    }

    @AfterEach
    void stopSource() {
        policies.close();
        sourceClient.close();
    }

    private static URI withoutFieldSelector(URI uri) {
        if (uri.getRawQuery() == null) {
            return uri;
        }
        String query = Arrays.stream(uri.getRawQuery().split("&"))
                .filter(parameter -> !parameter.startsWith("fieldSelector="))
                .collect(Collectors.joining("&"));
        String text = uri.toString();
        return URI.create(text.substring(0, text.indexOf('?')) + (query.isEmpty() ? "" : "?" + query));
    }

    private NumaGuestMemory ngm(String name, String node, Target target, String podUid, GuestNodePlacement... placed) {
        NumaGuestMemory ngm = new NumaGuestMemory();
        ngm.setMetadata(
                new ObjectMetaBuilder().withName(name).withNamespace("vms").build());
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
        status.setNodeName(node);
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

    private PeerCredentials processInPod(int pid, String podUid) throws Exception {
        Path dir = Files.createDirectories(proc.resolve(String.valueOf(pid)));
        Files.writeString(
                dir.resolve("cgroup"),
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUid.replace('-', '_')
                        + ".slice/cri-containerd-" + "ab".repeat(32) + ".scope\n");
        return new PeerCredentials(pid, 107, 107);
    }

    /** A verified Bind {0} of a memfd, as the agent reports an apply. */
    private static RegionOutcome boundOnNode0() {
        return RegionOutcome.builder()
                .kind(FdKind.MEMFD)
                .policy(MemoryPolicy.Bind)
                .hostNodes(List.of(0))
                .mechanism(PolicyMechanism.MBIND)
                .verified(true)
                .pageSizeBytes(4096)
                .pagesByHostNode(new TreeMap<>(Map.of(0, 0L)))
                .build();
    }

    private static Handler capturingInto(List<LogRecord> logged) {
        return new Handler() {
            @Override
            public void publish(LogRecord record) {
                logged.add(record);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
    }

    private void awaitSeen(VmRef vm) {
        await().atMost(Duration.ofSeconds(10)).until(() -> policies.forVm(vm).isPresent());
    }

    @Test
    void aWriteThatGetsNoAnswerIsRetriedNotGivenUp() throws Exception {
        ngm("vm1-memory", NODE, vmi("vm1"), POD_UID, new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"));
        awaitSeen(VM1);
        // The writer's client reaches no server: a closed port refuses the connection, so the request
        // has no HTTP answer (Fabric8's code -1), as while the API server is down.
        int closedPort;
        try (var socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        List<LogRecord> logged = new CopyOnWriteArrayList<>();
        Handler capture = capturingInto(logged);
        Logger writerLog = Logger.getLogger(AppliedStatusWriter.class.getName());
        writerLog.addHandler(capture);
        try (KubernetesClient unreachable = new KubernetesClientBuilder()
                        .withConfig(new ConfigBuilder()
                                .withMasterUrl("https://127.0.0.1:" + closedPort)
                                .withRequestRetryBackoffLimit(0)
                                .build())
                        .build();
                AppliedStatusWriter writer = new AppliedStatusWriter(unreachable, policies, proc)) {
            writer.applied(VM1, processInPod(202, POD_UID), 0, boundOnNode0());
            await().atMost(Duration.ofSeconds(20))
                    .until(() -> logged.stream().anyMatch(r -> r.getMessage().contains("vms/vm1-memory")));
        } finally {
            writerLog.removeHandler(capture);
        }
        assertThat(logged).as("nothing was given up").noneMatch(r -> r.getLevel() == Level.SEVERE);
        assertThat(logged)
                .anyMatch(r -> r.getLevel() == Level.WARNING
                        && r.getMessage().contains("writing status.applied of vms/vm1-memory failed")
                        && r.getMessage().contains("retrying in"));
    }

    @Test
    void aWriteThatFailsWhileANewerOneIsQueuedDoesNotGiveUp() throws Exception {
        ngm(
                "vm1-memory",
                NODE,
                vmi("vm1"),
                POD_UID,
                new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(0), "named"),
                new GuestNodePlacement(1, MemoryPolicy.Bind, List.of(0), "named"));
        awaitSeen(VM1);
        CountDownLatch firstWriteInFlight = new CountDownLatch(1);
        CountDownLatch secondEntryRecorded = new CountDownLatch(1);
        // The first status write is held until the second entry is recorded, then refused (403 is not retried by the
        // client).
        server.expect()
                .patch()
                .withPath(
                        "/apis/numaguest.io/v1alpha1/namespaces/vms/numaguestmemories/vm1-memory/status?fieldManager=numaguest-agent")
                .andReply(403, request -> {
                    firstWriteInFlight.countDown();
                    try {
                        secondEntryRecorded.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"Forbidden\",\"code\":403}";
                })
                .once();
        List<LogRecord> logged = new CopyOnWriteArrayList<>();
        Handler capture = capturingInto(logged);
        Logger writerLog = Logger.getLogger(AppliedStatusWriter.class.getName());
        writerLog.addHandler(capture);
        try (AppliedStatusWriter writer = new AppliedStatusWriter(client, policies, proc)) {
            PeerCredentials vmm = processInPod(201, POD_UID);
            RegionOutcome outcome = boundOnNode0();
            writer.applied(VM1, vmm, 0, outcome);
            assertThat(firstWriteInFlight.await(10, TimeUnit.SECONDS)).isTrue();
            writer.applied(VM1, vmm, 1, outcome);
            secondEntryRecorded.countDown();

            await().atMost(Duration.ofSeconds(10))
                    .untilAsserted(() -> assertThat(client.resources(NumaGuestMemory.class)
                                    .inNamespace("vms")
                                    .withName("vm1-memory")
                                    .get()
                                    .getStatus()
                                    .getApplied())
                            .extracting(GuestNodeApplied::getGuestNode)
                            .containsExactly(0, 1));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> logged.stream().anyMatch(r -> r.getMessage().contains("vms/vm1-memory")));
        } finally {
            writerLog.removeHandler(capture);
        }
        assertThat(logged).as("nothing was given up").noneMatch(r -> r.getLevel() == Level.SEVERE);
        assertThat(logged)
                .anyMatch(r -> r.getLevel() == Level.WARNING
                        && r.getMessage().contains("the write queued since carries these entries too"));
    }
}
