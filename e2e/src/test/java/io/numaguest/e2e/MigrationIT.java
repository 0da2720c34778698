package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * A KubeVirt live migration through the real kube-apiserver, with the operator and two agents
 * running as the processes they ship as, one per node (node A and node B: two agents on this
 * machine, each with its NODE_NAME and socket). The VMI (stand-in CRD) runs on A in its
 * virt-launcher pod; KubeVirt's part is played by the test: it creates the target pod on B and
 * writes the VMI's status.migrationState as virt-controller and virt-handler do (targetNode,
 * targetPod, then completed with nodeName moved to B). The VMMs are the C client, each started in
 * its pod's cgroup so that its agent's peer check attributes it to that pod: the source's hands its
 * memfds to A's agent before the migration, the target's to B's agent while the VM still runs on A,
 * which is what QEMU on a migration target does as it fills guest RAM.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MigrationIT {

    private static final String NODE_A = "migration-node-a";
    private static final String NODE_B = "migration-node-b";
    private static final String NAMESPACE = "migration-vms";
    private static final String VM = "vm-migrating";
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    /** The chart's release for the agents' ServiceAccount, RBAC and admission policy (name contains the chart's: no suffix). */
    private static final String RELEASE = "numaguest-migration";

    private final KubeApiServer server = KubeApiServer.get();
    private final KubernetesClient admin = server.adminClient();
    private final Path work = createTempDir();
    private Path ctl;
    private final List<ChildProcess> processes = new ArrayList<>();
    private final Map<String, Path> sockets =
            Map.of(NODE_A, work.resolve("agent-a.sock"), NODE_B, work.resolve("agent-b.sock"));
    private final Map<String, ChildProcess> agents = new HashMap<>();
    private PodCgroups cgroups;
    private ChildProcess operator;

    @RegisterExtension
    final TestWatcher printLogsOnFailure = new TestWatcher() {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
            processes.forEach(ChildProcess::printLog);
        }
    };

    @BeforeAll
    void startProduct() throws Exception {
        cgroups = PodCgroups.prepare();
        ctl = ChildProcess.testVmm();

        server.installCrds();
        OptionalCrds.installNodeResourceTopology(admin);
        Helm.install(KubeApiServer.repoDir().resolve("helm/numaguest").toString())
                .withKubeConfig(server.kubeconfig())
                .withName(RELEASE)
                .withNamespace(RELEASE)
                .createNamespace()
                .call();
        OptionalCrds.installVirtualMachineInstance(admin);
        await("discovery serves the VMI and NRT kinds")
                .atMost(Duration.ofSeconds(30))
                .until(() -> admin.supports("kubevirt.io/v1", "VirtualMachineInstance")
                        && admin.supports(NodeResourceTopology.class));
        admin.namespaces()
                .resource(new NamespaceBuilder()
                        .withNewMetadata()
                        .withName(NAMESPACE)
                        .endMetadata()
                        .build())
                .serverSideApply();
        try {
            for (String node : List.of(NODE_A, NODE_B)) {
                admin.nodes()
                        .resource(new NodeBuilder()
                                .withNewMetadata()
                                .withName(node)
                                .endMetadata()
                                .build())
                        .serverSideApply();
                // As in a cluster: the chart's agent identity, its pod's token, so the chart's RBAC and
                // admission policy judge every write of the migration's evidence.
                ChildProcess agent = ChildProcess.startAgent(
                        "agent-" + node, work, server.kubeconfigOfPod(agentPod(node)), node, sockets.get(node));
                processes.add(agent);
                agents.put(node, agent);
            }
            operator = ChildProcess.startOperator(work, server.kubeconfig());
            processes.add(operator);
            for (String node : List.of(NODE_A, NODE_B)) {
                await("the agent publishes NodeResourceTopology " + node)
                        .atMost(TIMEOUT)
                        .pollInterval(Duration.ofMillis(500))
                        .failFast("agent exited", () -> !agents.get(node).isAlive())
                        .until(() -> admin.resources(NodeResourceTopology.class)
                                        .withName(node)
                                        .get()
                                != null);
            }
        } catch (Exception | AssertionError e) {
            processes.forEach(ChildProcess::printLog);
            throw e;
        }
    }

    /** The agent's pod on {@code node}, as the DaemonSet would make it: its ServiceAccount, bound to the node. */
    private Pod agentPod(String node) {
        return admin.pods()
                .inNamespace(RELEASE)
                .resource(new PodBuilder()
                        .withNewMetadata()
                        .withName("agent-" + node)
                        .endMetadata()
                        .withNewSpec()
                        .withServiceAccountName(RELEASE + "-agent")
                        .withNodeName(node)
                        .addNewContainer()
                        .withName("agent")
                        .withImage("numaguest-agent")
                        .endContainer()
                        .endSpec()
                        .build())
                .create();
    }

    @AfterAll
    void stopEverything() throws IOException {
        try {
            admin.pods().inNamespace(RELEASE).withGracePeriod(0).delete();
            Helm.uninstall(RELEASE)
                    .withKubeConfig(server.kubeconfig())
                    .withNamespace(RELEASE)
                    .call();
            admin.resources(NumaGuestMemory.class)
                    .inNamespace(NAMESPACE)
                    .withName(VM)
                    .delete();
            admin.genericKubernetesResources(OptionalCrds.VMI)
                    .inNamespace(NAMESPACE)
                    .withName(VM)
                    .delete();
            admin.pods()
                    .inNamespace(NAMESPACE)
                    .withLabel("kubevirt.io", "virt-launcher")
                    .withGracePeriod(0)
                    .delete();
            for (String node : List.of(NODE_A, NODE_B)) {
                admin.resources(NodeResourceTopology.class).withName(node).delete();
                admin.nodes().withName(node).delete();
            }
        } catch (RuntimeException e) {
            System.err.println("MigrationIT: cleaning up the API objects failed: " + e);
        }
        processes.forEach(ChildProcess::kill);
        if (cgroups != null) {
            cgroups.removeAll();
        }
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted((a, b) -> b.compareTo(a)).forEach(file -> file.toFile().delete());
        }
    }

    @Test
    void theTargetPodIsServedOnItsNodeDuringTheMigrationAndTheNgmEndsReadyWithOnlyTheTargetsEvidence()
            throws Exception {
        long started = System.nanoTime();
        String vmiUid = admin.genericKubernetesResources(OptionalCrds.VMI)
                .inNamespace(NAMESPACE)
                .resource(OptionalCrds.vmi(NAMESPACE, VM))
                .create()
                .getMetadata()
                .getUid();
        Pod source = launcherPod(vmiUid, NODE_A);
        vmiStatus(Map.of(
                "phase",
                "Running",
                "nodeName",
                NODE_A,
                "activePods",
                Map.of(source.getMetadata().getUid(), NODE_A)));
        VmiNgms.createTwoGuestNodes(admin, NAMESPACE, VM);

        // The VM runs on A: A's agent serves the source pod, and the NGM is Ready with its evidence.
        runVmmUntilOk(source, NODE_A);
        NumaGuestMemory onA = await("Ready on node A")
                .atMost(TIMEOUT)
                .pollInterval(Duration.ofMillis(300))
                .failFast("operator exited", () -> !operator.isAlive())
                .until(
                        this::ngm,
                        ngm -> isTrue(ngm, "Ready")
                                && entriesOf(ngm.getStatus().getApplied(), source)
                                                .size()
                                        == 2);
        Condition readyOnA = condition(onA, "Ready").orElseThrow();
        assertEvidence(onA.getStatus().getApplied(), source);

        // KubeVirt starts the migration: the target pod on B, then the VMI's migrationState naming it.
        Pod target = launcherPod(vmiUid, NODE_B);
        String migrationStart = Instant.now().toString();
        Map<String, Object> migrationState = new HashMap<>(Map.of(
                "sourceNode",
                NODE_A,
                "sourcePod",
                source.getMetadata().getName(),
                "targetNode",
                NODE_B,
                "targetPod",
                target.getMetadata().getName(),
                "migrationUid",
                UUID.randomUUID().toString(),
                "startTimestamp",
                migrationStart));
        vmiStatus(Map.of(
                "phase",
                "Running",
                "nodeName",
                NODE_A,
                "migrationState",
                migrationState,
                "activePods",
                Map.of(
                        source.getMetadata().getUid(),
                        NODE_A,
                        target.getMetadata().getUid(),
                        NODE_B)));
        NumaGuestMemory migrating = await("the operator places the migration target on node B")
                .atMost(TIMEOUT)
                .pollInterval(Duration.ofMillis(300))
                .until(
                        this::ngm,
                        ngm -> ngm.getStatus().getMigration() != null
                                && ngm.getStatus().getMigration().getPlacement() != null
                                && target.getMetadata()
                                        .getUid()
                                        .equals(ngm.getStatus()
                                                .getMigration()
                                                .getTargetPod()
                                                .getUid()));
        assertThat(AgentSelection.names(admin, NAMESPACE, NumaGuestMemory.NODE_FIELD, NODE_A))
                .contains(migrating.getMetadata().getName());
        assertThat(AgentSelection.names(admin, NAMESPACE, NumaGuestMemory.MIGRATION_TARGET_NODE_FIELD, NODE_B))
                .contains(migrating.getMetadata().getName());
        assertThat(migrating.getStatus().getMigration().getNodeName()).isEqualTo(NODE_B);
        assertThat(migrating.getStatus().getMigration().getPlacementSummary()).isEqualTo("0:Bind(0) 1:Bind(0)");
        assertThat(migrating.getStatus().getNodeName())
                .as("the VM still runs on A")
                .isEqualTo(NODE_A);

        // A's agent does not serve the target pod: it is B's to serve.
        String refused = runVmm(target, NODE_A);
        assertThat(refused)
                .as("A's agent refuses the target pod")
                .doesNotStartWith("exit 0")
                .contains("FORBIDDEN");

        // The target's VMM hands its memory to B's agent while the VM still runs on A.
        runVmmUntilOk(target, NODE_B);
        NumaGuestMemory both = await("both sides reported")
                .atMost(TIMEOUT)
                .pollInterval(Duration.ofMillis(300))
                .until(
                        this::ngm,
                        ngm -> isTrue(ngm, "MigrationTargetReady")
                                && entriesOf(ngm.getStatus().getMigrationApplied(), target)
                                                .size()
                                        == 2);
        assertEvidence(both.getStatus().getApplied(), source);
        assertEvidence(both.getStatus().getMigrationApplied(), target);
        assertThat(condition(both, "Ready"))
                .as("the source stays Ready throughout")
                .contains(readyOnA);

        // KubeVirt completes the migration: the VMI runs on B; then the source pod finishes.
        migrationState.put("completed", true);
        migrationState.put("endTimestamp", Instant.now().toString());
        vmiStatus(Map.of(
                "phase",
                "Running",
                "nodeName",
                NODE_B,
                "migrationState",
                migrationState,
                "activePods",
                Map.of(target.getMetadata().getUid(), NODE_B)));
        admin.pods()
                .inNamespace(NAMESPACE)
                .withName(source.getMetadata().getName())
                .subresource("status")
                .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"status\":{\"phase\":\"Succeeded\"}}");

        NumaGuestMemory onB = await("Ready on node B with only B's evidence")
                .atMost(TIMEOUT)
                .pollInterval(Duration.ofMillis(300))
                .failFast("operator exited", () -> !operator.isAlive())
                .until(
                        this::ngm,
                        ngm -> NODE_B.equals(ngm.getStatus().getNodeName())
                                && isTrue(ngm, "Ready")
                                && ngm.getStatus().getMigration() == null
                                && ngm.getStatus().getMigrationApplied() == null
                                && ngm.getStatus().getApplied() != null
                                && ngm.getStatus().getApplied().stream()
                                        .allMatch(entry ->
                                                target.getMetadata().getUid().equals(entry.getPodUid())));
        NumaGuestMemoryStatus status = onB.getStatus();
        assertThat(status.getTargetPod().getUid())
                .isEqualTo(target.getMetadata().getUid());
        assertEvidence(status.getApplied(), target);
        assertThat(status.getPlacement())
                .as("the placement B's agent applied")
                .usingRecursiveFieldByFieldElementComparator()
                .containsExactlyElementsOf(both.getStatus().getMigration().getPlacement());
        assertThat(condition(onB, "MigrationTargetReady")).isEmpty();
        assertThat(AgentSelection.names(admin, NAMESPACE, NumaGuestMemory.NODE_FIELD, NODE_B))
                .contains(onB.getMetadata().getName());
        assertThat(AgentSelection.names(admin, NAMESPACE, NumaGuestMemory.MIGRATION_TARGET_NODE_FIELD, NODE_B))
                .doesNotContain(onB.getMetadata().getName());
        assertThat(onB.getStatus().getConditions())
                .filteredOn(c -> !c.getType().equals("Degraded"))
                .allMatch(c -> "True".equals(c.getStatus()));
        assertThat(onB.getMetadata().getManagedFields())
                .as("applied is written by the agents only")
                .filteredOn(fields -> fields.getFieldsV1() != null
                        && fields.getFieldsV1()
                                .getAdditionalProperties()
                                .toString()
                                .contains("f:applied"))
                .allMatch(fields -> "numaguest-agent".equals(fields.getManager()));
        assertThat(condition(onB, "Ready").orElseThrow().getLastTransitionTime())
                .as("Ready never went False across the migration")
                .isEqualTo(readyOnA.getLastTransitionTime());
        for (ChildProcess agent : agents.values()) {
            assertThat(agent.isAlive()).isTrue();
            assertThat(agent.log()).as(agent.name() + " gave nothing up").doesNotContain("SEVERE");
        }
        System.out.printf(
                "MigrationIT: migration from %s to %s took %d ms end to end%n",
                NODE_A, NODE_B, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
    }

    /** A Running virt-launcher pod of the VMI bound to the node. */
    private Pod launcherPod(String vmiUid, String node) {
        String name = "virt-launcher-" + VM + "-" + UUID.randomUUID().toString().substring(0, 5);
        Pod pod = admin.pods()
                .inNamespace(NAMESPACE)
                .resource(new PodBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withNamespace(NAMESPACE)
                        .addToLabels("kubevirt.io/created-by", vmiUid)
                        .addToLabels("kubevirt.io", "virt-launcher")
                        .endMetadata()
                        .withNewSpec()
                        .withNodeName(node)
                        .addNewContainer()
                        .withName("compute")
                        .withImage("quay.io/kubevirt/virt-launcher:v1.5.0")
                        .endContainer()
                        .endSpec()
                        .build())
                .create();
        admin.pods()
                .inNamespace(NAMESPACE)
                .withName(name)
                .subresource("status")
                .patch(
                        PatchContext.of(PatchType.JSON_MERGE),
                        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
        return pod;
    }

    /** The VMI's status as KubeVirt writes it. */
    private void vmiStatus(Map<String, Object> status) {
        OptionalCrds.patchVmiStatus(admin, NAMESPACE, VM, status);
    }

    /** Runs the VMM in the pod's cgroup against the node's agent until it gets ok (BUSY and FORBIDDEN until the agent knows the pod). */
    private void runVmmUntilOk(Pod pod, String node) {
        List<String> answers = new ArrayList<>();
        try {
            await("the VMM of " + pod.getMetadata().getName() + " applies through the agent of " + node)
                    .atMost(TIMEOUT)
                    .pollInterval(Duration.ofMillis(500))
                    .failFast("agent exited", () -> !agents.get(node).isAlive())
                    .until(() -> {
                        String answer = runVmm(pod, node);
                        answers.add(answer);
                        return answer.startsWith("exit 0");
                    });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(
                    "the VMM never got ok; its last answers: "
                            + answers.subList(Math.max(0, answers.size() - 3), answers.size()),
                    e);
        }
        System.out.println("MigrationIT: VMM of " + pod.getMetadata().getName() + " on " + node + " succeeded after "
                + answers.size() + " attempt(s): " + answers.getLast());
    }

    /** One VMM run (two 64 MiB memfds, guest nodes 0 and 1); its pid joins the pod's cgroup before it execs the client. */
    private String runVmm(Pod pod, String node) throws IOException, InterruptedException {
        Path cgroup = cgroups.newProcessCgroup(pod.getMetadata().getUid(), "vmm");
        Process vmm = new ProcessBuilder(
                        "sh",
                        "-c",
                        "echo $$ > \"$1\"/cgroup.procs && exec \"$2\" -s \"$3\" apply -v \"$4\" -m 64M -m 64M",
                        "vmm",
                        cgroup.toString(),
                        ctl.toString(),
                        sockets.get(node).toString(),
                        NAMESPACE + "/" + VM)
                .redirectErrorStream(true)
                .start();
        try {
            if (!vmm.waitFor(15, TimeUnit.SECONDS)) {
                return "timed out";
            }
            return "exit " + vmm.exitValue() + ": "
                    + new String(vmm.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        } finally {
            vmm.destroyForcibly();
            vmm.waitFor();
            cgroups.removeMade();
        }
    }

    private static void assertEvidence(List<GuestNodeApplied> entries, Pod pod) {
        assertThat(entries)
                .as("one entry per guest node, all of pod " + pod.getMetadata().getName())
                .hasSize(2)
                .allMatch(entry -> pod.getMetadata().getUid().equals(entry.getPodUid()));
        assertThat(entries).extracting(GuestNodeApplied::getGuestNode).containsExactlyInAnyOrder(0, 1);
        for (GuestNodeApplied entry : entries) {
            assertThat(entry.getMechanism()).isEqualTo("mbind");
            assertThat(entry.getFdKind()).isEqualTo("memfd");
            assertThat(entry.getVerified()).isTrue();
            assertThat(entry.getHostNodes()).containsExactly(0);
            assertThat(entry.getError()).isNull();
        }
    }

    private static List<GuestNodeApplied> entriesOf(List<GuestNodeApplied> entries, Pod pod) {
        return entries == null
                ? List.of()
                : entries.stream()
                        .filter(entry -> pod.getMetadata().getUid().equals(entry.getPodUid()))
                        .toList();
    }

    private NumaGuestMemory ngm() {
        return admin.resources(NumaGuestMemory.class)
                .inNamespace(NAMESPACE)
                .withName(VM)
                .get();
    }

    private static boolean isTrue(NumaGuestMemory ngm, String type) {
        return condition(ngm, type).map(c -> "True".equals(c.getStatus())).orElse(false);
    }

    private static Optional<Condition> condition(NumaGuestMemory ngm, String type) {
        if (ngm == null || ngm.getStatus() == null || ngm.getStatus().getConditions() == null) {
            return Optional.empty();
        }
        return ngm.getStatus().getConditions().stream()
                .filter(c -> type.equals(c.getType()))
                .findFirst();
    }

    private static Path createTempDir() {
        try {
            return Files.createTempDirectory("numaguest-migration-");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
