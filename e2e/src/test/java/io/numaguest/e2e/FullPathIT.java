package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.topology.v1alpha2.Zone;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * The whole product through a real kube-apiserver: the operator and the node agent run as the
 * processes they ship as (their jars, KUBECONFIG in the environment), a Node, a KubeVirt VMI
 * (stand-in CRD) and its virt-launcher pod are objects in the API, and the "VMM" is the C client,
 * started inside a cgroup whose path names the pod's UID, so the agent's real peer check
 * (SO_PEERCRED, /proc/PID/cgroup) attributes it to that pod. It sends memfds over the real socket;
 * the agent mbinds them on host node 0 (the only NUMA node here) and writes status.applied; the
 * operator turns that into Ready.
 *
 * <p>Then faults: the agent and the operator killed with SIGKILL and started again, and the API
 * server they talk to killed and started again on the same etcd (a second kube-apiserver of our own
 * in front of the shared server's etcd, since kube-api-test's stop() deletes the etcd data and the
 * restarted server gets new ports). During that outage one VMM hands its memory over (the agent
 * applies from its cache and must deliver status.applied once the server is back; the outage lasts
 * until the agent's first status write has failed) and another VM's pod is replaced.
 *
 * <p>Component logs are printed when a test fails, and always when FULLPATH_PRINT_LOGS is set.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FullPathIT {

    /**
     * The node the VM runs on. Not plain "node-a": other classes sharing the server (RbacIT) create
     * a Node and a NodeResourceTopology of that name, and the agent leaves alone a topology it did
     * not create.
     */
    private static final String NODE = "fullpath-node-a";

    private static final String NAMESPACE = "vms";
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
    private static final ResourceDefinitionContext VMI = OptionalCrds.VMI;

    private final KubeApiServer server = KubeApiServer.get();
    private final KubernetesClient admin = server.adminClient();
    private final Path work = createTempDir();
    private final Path socket = work.resolve("agent.sock");
    /** Stands in for the kubelet's /var/lib/kubelet/pods, where the agent opens the per-pod sockets. */
    private final Path kubeletPods = work.resolve("kubelet/pods");

    private Path ctl;
    /** Where the test's pod cgroups go: kubepods/burstable/pod<uid>, cgroupfs layout as kubelet makes it. */
    private PodCgroups cgroups;

    private ChildProcess operator;
    private ChildProcess agent;
    /** A kube-apiserver of our own over the shared server's etcd, for the restart fault; null until started. */
    private ChildProcess ownApiServer;

    private final List<ChildProcess> allProcesses = new ArrayList<>();
    /** CRDs this class installed (absent before); they stay, see deleteWhatThisClassCreated. */
    private final List<String> installedCrds = new ArrayList<>();

    private final List<String> vmNames = new ArrayList<>();

    @RegisterExtension
    final TestWatcher printLogsOnFailure = new TestWatcher() {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
            allProcesses.forEach(ChildProcess::printLog);
        }
    };

    @BeforeAll
    void startProductAgainstTheServer() throws Exception {
        try {
            setUpClusterAndStartProduct();
        } catch (Exception | AssertionError e) {
            allProcesses.forEach(ChildProcess::printLog);
            throw e;
        }
    }

    private void setUpClusterAndStartProduct() throws Exception {
        cgroups = PodCgroups.prepare();
        ctl = ChildProcess.testVmm();

        server.installCrds();
        installCrdIfAbsent(OptionalCrds.nodeResourceTopologyCrd(admin));
        installCrdIfAbsent(OptionalCrds.virtualMachineInstanceCrd(admin));
        // Both components decide at start which optional APIs the cluster serves (discovery).
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
        admin.nodes()
                .resource(new NodeBuilder()
                        .withNewMetadata()
                        .withName(NODE)
                        .endMetadata()
                        .build())
                .serverSideApply();

        Files.createDirectories(kubeletPods);
        agent = startAgent(server.kubeconfig());
        operator = startOperator(server.kubeconfig());
        await("the agent publishes NodeResourceTopology " + NODE)
                .atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(500))
                .failFast("agent exited", () -> !agent.isAlive())
                .until(() -> admin.resources(NodeResourceTopology.class)
                                .withName(NODE)
                                .get()
                        != null);
    }

    @AfterEach
    void removeLeftoverCgroups() {
        // Every VMM process is waited for, so the directories are empty.
        if (cgroups != null) {
            cgroups.removeMade();
        }
    }

    @AfterAll
    void stopEverything() throws IOException {
        try {
            deleteWhatThisClassCreated();
        } catch (RuntimeException e) {
            System.err.println("FullPathIT: cleaning up the API objects failed: " + e);
        }
        if (System.getenv("FULLPATH_PRINT_LOGS") != null) allProcesses.forEach(ChildProcess::printLog);
        allProcesses.forEach(ChildProcess::kill);
        if (cgroups != null) {
            cgroups.removeAll();
        }
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted((a, b) -> b.compareTo(a)).forEach(file -> file.toFile().delete());
        }
    }

    @Test
    @Order(1)
    void vmmMemoryIsBoundAndReportedReadyThenPodAndObjectDeletionLeaveNothing() throws Exception {
        long started = System.nanoTime();
        var nrt = admin.resources(NodeResourceTopology.class).withName(NODE).get();
        assertThat(zoneNames(nrt)).contains("node-0");
        List<String> agentFdsBefore = fdTargets(agent.pid());
        long agentUnixSocketsBefore = unixSocketCount(agent.pid());
        assertThat(agentUnixSocketsBefore).as("the agent's listening socket").isPositive();

        Vm vm = createVm("vm1");
        NumaGuestMemory ngm = awaitReadyAfterVmmApplies(vm);
        assertAppliedOnHostNode0(ngm, vm.podUid());
        assertThat(ngm.getStatus().getTargetPod().getUid()).isEqualTo(vm.podUid());
        assertThat(ngm.getStatus().getNodeName()).isEqualTo(NODE);
        assertThat(fdTargets(agent.pid()))
                .as("the agent closed every memfd it received")
                .noneMatch(FullPathIT::isMemfd);
        assertThat(mappings(agent.pid())).as("the agent unmapped every memfd").noneMatch(FullPathIT::isMemfd);

        // The pod goes away (graceful delete: no kubelet confirms it, it stays terminating): not Ready.
        admin.pods().inNamespace(NAMESPACE).withName(vm.podName()).delete();
        await("NGM leaves Ready when its pod terminates")
                .atMost(READY_TIMEOUT)
                .pollInterval(Duration.ofMillis(300))
                .until(() -> condition(ngm(vm.name()), "Ready")
                        .filter(c -> "False".equals(c.getStatus()))
                        .isPresent());
        NumaGuestMemory afterPodDeletion = ngm(vm.name());
        assertThat(condition(afterPodDeletion, "Scheduled"))
                .get()
                .extracting(Condition::getStatus)
                .isEqualTo("False");
        assertThat(condition(afterPodDeletion, "Ready"))
                .get()
                .extracting(Condition::getReason)
                .isEqualTo("TargetNotScheduled");
        admin.pods()
                .inNamespace(NAMESPACE)
                .withName(vm.podName())
                .withGracePeriod(0)
                .delete();

        // Deleting the NGM leaves nothing: no object (the agent must not recreate it with a status
        // write), no descriptor or mapping of guest memory in the agent.
        admin.resources(NumaGuestMemory.class)
                .inNamespace(NAMESPACE)
                .withName(vm.name())
                .delete();
        await("NGM gone")
                .atMost(Duration.ofSeconds(30))
                .until(() -> admin.resources(NumaGuestMemory.class)
                                .inNamespace(NAMESPACE)
                                .withName(vm.name())
                                .get()
                        == null);
        deleteVmi(vm);
        assertThat(fdTargets(agent.pid()))
                .as("agent descriptors after deleting the NGM")
                .noneMatch(FullPathIT::isMemfd);
        // Its Unix sockets: the listening one, and no connection of an exited VMM left open.
        await("agent closed every VMM connection")
                .atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(200))
                .until(() -> unixSocketCount(agent.pid()) == agentUnixSocketsBefore);
        System.out.printf(
                "FullPathIT: agent fds before %d, after %d (Unix sockets %d); full path took %d ms%n",
                agentFdsBefore.size(),
                fdTargets(agent.pid()).size(),
                agentUnixSocketsBefore,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        assertThat(agent.isAlive()).isTrue();
        assertThat(operator.isAlive()).isTrue();
    }

    @Test
    @Order(2)
    void agentAndOperatorKilledAndRestartedEndReadyWithNothingAppliedTwice() throws Exception {
        long started = System.nanoTime();
        Vm vm = createVm("vm2");
        awaitReadyAfterVmmApplies(vm);

        // The agent dies without cleaning up (stale socket file, no shutdown hook) and comes back;
        // the VMM (a new one: its memfds died with the old one) applies again through the new agent.
        Condition readyBeforeAgentRestart = condition(ngm(vm.name()), "Ready").orElseThrow();
        agent.kill();
        Instant agentKilled = Instant.now();
        agent = startAgent(server.kubeconfig());
        // The policies live on the memfds' inodes, not in the agent: the VM stays Ready meanwhile.
        assertThat(condition(ngm(vm.name()), "Ready")).get().isEqualTo(readyBeforeAgentRestart);
        awaitReadyAfterVmmApplies(vm);
        await("status.applied of " + vm.name() + " written by the restarted agent")
                .atMost(READY_TIMEOUT)
                .pollInterval(Duration.ofMillis(300))
                .until(() -> appliedFor(ngm(vm.name()), vm.podUid()).stream()
                        .allMatch(entry -> Instant.parse(entry.getTime()).isAfter(agentKilled)));
        NumaGuestMemory afterAgentRestart = ngm(vm.name());
        assertAppliedOnHostNode0(afterAgentRestart, vm.podUid());
        assertNoErrorAndReady(afterAgentRestart);

        // The operator dies; meanwhile the spec changes (a smaller guest node 1), so its successor
        // has work to do: it must re-place at the new generation, which still fits host node 0, so
        // the applied policy still matches and Ready never flaps.
        Condition readyBefore = condition(afterAgentRestart, "Ready").orElseThrow();
        operator.kill();
        admin.resources(NumaGuestMemory.class)
                .inNamespace(NAMESPACE)
                .withName(vm.name())
                .edit(ngm -> {
                    ngm.getSpec().getGuestNodes().get(1).setSize(new io.fabric8.kubernetes.api.model.Quantity("32Mi"));
                    return ngm;
                });
        long generation = ngm(vm.name()).getMetadata().getGeneration();
        operator = startOperator(server.kubeconfig());
        await("restarted operator observes generation " + generation)
                .atMost(READY_TIMEOUT)
                .pollInterval(Duration.ofMillis(300))
                .failFast("operator exited", () -> !operator.isAlive())
                .until(() -> Objects.equals(ngm(vm.name()).getStatus().getObservedGeneration(), generation));
        NumaGuestMemory afterOperatorRestart = ngm(vm.name());
        assertNoErrorAndReady(afterOperatorRestart);
        assertAppliedOnHostNode0(afterOperatorRestart, vm.podUid());
        assertThat(condition(afterOperatorRestart, "Ready").orElseThrow().getLastTransitionTime())
                .as("Ready never went False across the operator restart")
                .isEqualTo(readyBefore.getLastTransitionTime());
        System.out.printf(
                "FullPathIT: agent and operator restarts took %d ms%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
    }

    @Test
    @Order(3)
    void apiServerRestartedWhileAVmmStartsAndAPodIsReplacedEndsReady() throws Exception {
        long started = System.nanoTime();
        List<String> apiServerCommand = sharedApiServerCommand();
        Assumptions.assumeTrue(
                apiServerCommand != null,
                "cannot find the shared kube-apiserver's command line among this JVM's child processes");
        int port = ChildProcess.freePort();
        List<String> ownCommand = withSecurePort(apiServerCommand, port);
        Path ownKubeconfig = work.resolve("own-apiserver.kubeconfig");
        Files.writeString(
                ownKubeconfig,
                Files.readString(server.kubeconfig())
                        .replaceAll("server: https://127\\.0\\.0\\.1:\\d+", "server: https://127.0.0.1:" + port));
        assertThat(Files.readString(ownKubeconfig)).contains("127.0.0.1:" + port);
        ownApiServer = startApiServer(ownCommand);
        try (KubernetesClient own = new KubernetesClientBuilder()
                .withConfig(Config.fromKubeconfig(Files.readString(ownKubeconfig)))
                .build()) {
            awaitApiServerReady(own);

            // The agent and the operator move to our API server (a clean stop: they are not under test here).
            agent.kill();
            operator.kill();
            agent = startAgent(ownKubeconfig);
            operator = startOperator(ownKubeconfig);
            Vm vm = createVm("vm3");
            awaitReadyAfterVmmApplies(vm);
            // vm4 is starting: its pod is the NGM's target and the agent knows it (it answers a hello
            // from the pod), but its VMM has not handed the memory over yet.
            Vm starting = createVm("vm4");
            await("NGM vm4 targets its pod and is placed")
                    .atMost(READY_TIMEOUT)
                    .pollInterval(Duration.ofMillis(300))
                    .until(() -> Optional.ofNullable(ngm(starting.name()).getStatus())
                            .filter(status -> status.getTargetPod() != null
                                    && starting.podUid()
                                            .equals(status.getTargetPod().getUid()))
                            .filter(status -> status.getPlacement() != null
                                    && status.getPlacement().size() == 2)
                            .isPresent());
            runVmmUntilOk(starting, "hello");

            // The API server dies.
            ownApiServer.kill();
            long outageStarted = System.nanoTime();
            // vm4's VMM starts meanwhile: the agent applies from what it knows, and must report it once it can.
            runVmmUntilOk(starting, "apply");
            // vm3's pod is replaced (a VM restart), through the shared server: same etcd, so ours
            // sees it when it is back, and the operator and the agent must catch up.
            admin.pods()
                    .inNamespace(NAMESPACE)
                    .withName(vm.podName())
                    .withGracePeriod(0)
                    .delete();
            Vm restarted = createLauncherPod(vm);
            String writeFailed = "writing status.applied of " + NAMESPACE + "/" + starting.name() + " failed";
            await("the agent's write of vm4's status.applied fails")
                    .atMost(Duration.ofSeconds(120))
                    .pollInterval(Duration.ofMillis(500))
                    .failFast("agent exited", () -> !agent.isAlive())
                    .until(() -> agent.log().contains(writeFailed));
            System.out.printf(
                    "FullPathIT: first failed status write after %d ms of outage%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - outageStarted));
            ownApiServer = startApiServer(ownCommand);
            awaitApiServerReady(own);
            System.out.printf(
                    "FullPathIT: API server back after %d ms%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - outageStarted));

            NumaGuestMemory started4 = awaitReady(starting);
            assertNoErrorAndReady(started4);
            assertAppliedOnHostNode0(started4, starting.podUid());

            await("operator retargets the NGM to the new pod")
                    .atMost(READY_TIMEOUT)
                    .pollInterval(Duration.ofMillis(300))
                    .failFast("operator exited", () -> !operator.isAlive())
                    .until(() -> Optional.ofNullable(ngm(vm.name()).getStatus())
                            .map(NumaGuestMemoryStatus::getTargetPod)
                            .map(pod -> restarted.podUid().equals(pod.getUid()))
                            .orElse(false));
            NumaGuestMemory ngm = awaitReadyAfterVmmApplies(restarted);
            assertNoErrorAndReady(ngm);
            assertAppliedOnHostNode0(ngm, restarted.podUid());
            assertThat(agent.log())
                    .as("the agent gave nothing up during the outage")
                    .doesNotContain("SEVERE");
            assertThat(agent.isAlive())
                    .as("agent survived the API server restart")
                    .isTrue();
            assertThat(operator.isAlive())
                    .as("operator survived the API server restart")
                    .isTrue();
        }
        System.out.printf(
                "FullPathIT: API server restart took %d ms%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
    }

    /**
     * virt-launcher's QEMU reaches the agent through the socket the agent opens in its pod's shared
     * directory (as the kubelet keeps it on the host): a VMM in the pod's cgroup is placed through
     * it; a host process and a process of another pod are refused on it; the socket goes with the NGM.
     */
    @Test
    @Order(4)
    void aVmmInThePodsCgroupIsPlacedThroughThePodsOwnSocketAndNoOtherProcessIs() throws Exception {
        Vm vm = createVm("vm5");
        Path share = Files.createDirectories(kubeletPods
                .resolve(vm.podUid())
                .resolve("volumes/kubernetes.io~empty-dir/kubevirt-plugin-sockets/numaguest"));
        Path podSocket = share.resolve("agent.sock");
        await("the agent opens the pod's socket")
                .atMost(READY_TIMEOUT)
                .pollInterval(Duration.ofMillis(200))
                .failFast("agent exited", () -> !agent.isAlive())
                .until(() -> Files.exists(podSocket, java.nio.file.LinkOption.NOFOLLOW_LINKS));
        // The host path is longer than a socket address may be, as the kubelet's are: the clients go through a link.
        Path shortcut =
                Files.createSymbolicLink(work.resolve("vm5-share"), share).resolve("agent.sock");

        String fromHost = runCtl(List.of(ctl.toString(), "-s", shortcut.toString(), "hello"));
        assertThat(fromHost)
                .as("a host process on the pod's socket")
                .doesNotStartWith("exit 0")
                .contains("FORBIDDEN", "serves only the processes of pod " + vm.podUid());
        Path otherPod = cgroups.newProcessCgroup(UUID.randomUUID().toString(), "other");
        String fromOtherPod = runVmm(otherPod, vm, "apply", shortcut);
        assertThat(fromOtherPod)
                .as("another pod's process naming this pod's VM")
                .doesNotStartWith("exit 0")
                .contains("FORBIDDEN", "serves only the processes of pod " + vm.podUid());

        NumaGuestMemory ngm;
        runVmmUntilOk(vm, "apply", shortcut);
        ngm = awaitReady(vm);
        assertAppliedOnHostNode0(ngm, vm.podUid());
        assertNoErrorAndReady(ngm);

        admin.resources(NumaGuestMemory.class)
                .inNamespace(NAMESPACE)
                .withName(vm.name())
                .delete();
        await("the pod's socket goes with the NGM")
                .atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(200))
                .until(() -> !Files.exists(podSocket, java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertThat(agent.log()).contains("listening for pod " + vm.podUid(), "closed the socket of pod " + vm.podUid());
    }

    private static String runCtl(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                return "timed out";
            }
            return "exit " + process.exitValue() + ": "
                    + new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        } finally {
            process.destroyForcibly();
            process.waitFor();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The VM: a VMI, its launcher pod, the NGM, and the VMM process

    private record Vm(String name, String vmiUid, String podName, String podUid) {}

    private Vm createVm(String name) {
        vmNames.add(name);
        GenericKubernetesResource vmi = admin.genericKubernetesResources(VMI)
                .inNamespace(NAMESPACE)
                .resource(OptionalCrds.vmi(NAMESPACE, name))
                .create();
        Vm vm = createLauncherPod(new Vm(name, vmi.getMetadata().getUid(), null, null));
        VmiNgms.createTwoGuestNodes(admin, NAMESPACE, name);
        return vm;
    }

    /** A Running virt-launcher pod bound to the node, and the VMI's status pointing at it. */
    private Vm createLauncherPod(Vm vm) {
        String podName = "virt-launcher-" + vm.name() + "-"
                + UUID.randomUUID().toString().substring(0, 5);
        Pod pod = admin.pods()
                .inNamespace(NAMESPACE)
                .resource(new PodBuilder()
                        .withNewMetadata()
                        .withName(podName)
                        .withNamespace(NAMESPACE)
                        .addToLabels("kubevirt.io/created-by", vm.vmiUid())
                        .addToLabels("kubevirt.io", "virt-launcher")
                        .endMetadata()
                        .withNewSpec()
                        .withNodeName(NODE)
                        .addNewContainer()
                        .withName("compute")
                        .withImage("quay.io/kubevirt/virt-launcher:v1.5.0")
                        .endContainer()
                        .endSpec()
                        .build())
                .create();
        admin.pods()
                .inNamespace(NAMESPACE)
                .withName(podName)
                .subresource("status")
                .patch(
                        PatchContext.of(PatchType.JSON_MERGE),
                        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
        String podUid = pod.getMetadata().getUid();
        OptionalCrds.patchVmiStatus(
                admin,
                NAMESPACE,
                vm.name(),
                Map.of("phase", "Running", "nodeName", NODE, "activePods", Map.of(podUid, NODE)));
        return new Vm(vm.name(), vm.vmiUid(), podName, podUid);
    }

    private void deleteVmi(Vm vm) {
        admin.genericKubernetesResources(VMI)
                .inNamespace(NAMESPACE)
                .withName(vm.name())
                .delete();
    }

    /**
     * Runs the VMM (numaguest-ctl apply of two 64 MiB memfds, guest nodes 0 and 1) in the pod's
     * cgroup until the agent answers ok, then waits for Ready. The agent answers BUSY or FORBIDDEN
     * until it has the operator's placement and target pod, which is what a VMM retries through.
     */
    private NumaGuestMemory awaitReadyAfterVmmApplies(Vm vm) throws IOException {
        runVmmUntilOk(vm, "apply");
        return awaitReady(vm);
    }

    private NumaGuestMemory awaitReady(Vm vm) {
        await("NGM " + vm.name() + " Ready")
                .atMost(READY_TIMEOUT)
                .pollInterval(Duration.ofMillis(300))
                .failFast("operator exited", () -> !operator.isAlive())
                .until(() -> condition(ngm(vm.name()), "Ready")
                                .filter(c -> "True".equals(c.getStatus()))
                                .isPresent()
                        && appliedFor(ngm(vm.name()), vm.podUid()).size() == 2);
        return ngm(vm.name());
    }

    /** Runs the VMM with {@code op} (apply or hello) from a new cgroup of the VM's pod until it gets ok. */
    private void runVmmUntilOk(Vm vm, String op) throws IOException {
        runVmmUntilOk(vm, op, socket);
    }

    /** The same, on the socket {@code through}. */
    private void runVmmUntilOk(Vm vm, String op, Path through) throws IOException {
        Path vmmCgroup = cgroups.newProcessCgroup(vm.podUid(), "vmm");
        List<String> answers = new ArrayList<>();
        try {
            await("the VMM's " + op + " for " + vm.name() + " succeeds")
                    .atMost(READY_TIMEOUT)
                    .pollInterval(Duration.ofMillis(500))
                    .failFast("agent exited", () -> !agent.isAlive())
                    .until(() -> {
                        String answer = runVmm(vmmCgroup, vm, op, through);
                        answers.add(answer);
                        return answer.startsWith("exit 0");
                    });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(
                    "the VMM's " + op + " never got ok; its last answers: "
                            + answers.subList(Math.max(0, answers.size() - 3), answers.size()),
                    e);
        }
        System.out.println("FullPathIT: VMM " + op + " for " + vm.name() + " succeeded after " + answers.size()
                + " attempt(s): " + answers.getLast());
    }

    /** One VMM run; its pid joins the cgroup before it execs the client, so it connects from the pod. */
    private String runVmm(Path cgroup, Vm vm, String op, Path through) throws IOException, InterruptedException {
        String client = op.equals("hello")
                ? "exec \"$2\" -s \"$3\" hello"
                : "exec \"$2\" -s \"$3\" apply -v \"$4\" -m 64M -m 64M";
        Process vmm = new ProcessBuilder(
                        "sh",
                        "-c",
                        "echo $$ > \"$1\"/cgroup.procs && " + client,
                        "vmm",
                        cgroup.toString(),
                        ctl.toString(),
                        through.toString(),
                        NAMESPACE + "/" + vm.name())
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
        }
    }

    private static void assertAppliedOnHostNode0(NumaGuestMemory ngm, String podUid) {
        List<GuestNodeApplied> applied = ngm.getStatus().getApplied();
        assertThat(applied)
                .as("exactly one entry per guest node, all for the current pod")
                .hasSize(2);
        assertThat(applied).extracting(GuestNodeApplied::getGuestNode).containsExactlyInAnyOrder(0, 1);
        for (GuestNodeApplied entry : applied) {
            assertThat(entry.getPodUid()).isEqualTo(podUid);
            assertThat(entry.getMechanism()).isEqualTo("mbind");
            assertThat(entry.getFdKind()).isEqualTo("memfd");
            assertThat(entry.getVerified()).isTrue();
            assertThat(entry.getHostNodes()).containsExactly(0);
            assertThat(entry.getPagesByHostNode()).containsKey("0");
            assertThat(entry.getError()).isNull();
        }
    }

    private static void assertNoErrorAndReady(NumaGuestMemory ngm) {
        assertThat(condition(ngm, "Ready"))
                .get()
                .extracting(Condition::getStatus)
                .isEqualTo("True");
        assertThat(condition(ngm, "Degraded"))
                .get()
                .extracting(Condition::getStatus)
                .isEqualTo("False");
        assertThat(ngm.getStatus().getConditions())
                .as("no condition other than Degraded is False")
                .filteredOn(c -> !c.getType().equals("Degraded"))
                .allMatch(c -> "True".equals(c.getStatus()));
        assertThat(ngm.getStatus().getApplied()).allMatch(entry -> entry.getError() == null);
    }

    private NumaGuestMemory ngm(String name) {
        return admin.resources(NumaGuestMemory.class)
                .inNamespace(NAMESPACE)
                .withName(name)
                .get();
    }

    private static Optional<Condition> condition(NumaGuestMemory ngm, String type) {
        if (ngm == null || ngm.getStatus() == null || ngm.getStatus().getConditions() == null) {
            return Optional.empty();
        }
        return ngm.getStatus().getConditions().stream()
                .filter(c -> type.equals(c.getType()))
                .findFirst();
    }

    private static List<GuestNodeApplied> appliedFor(NumaGuestMemory ngm, String podUid) {
        if (ngm == null || ngm.getStatus() == null || ngm.getStatus().getApplied() == null) {
            return List.of();
        }
        return ngm.getStatus().getApplied().stream()
                .filter(entry -> podUid.equals(entry.getPodUid()))
                .toList();
    }

    private static List<String> zoneNames(NodeResourceTopology nrt) {
        return nrt.getZones().stream().map(Zone::name).toList();
    }

    // ---------------------------------------------------------------------------------------------
    // Processes

    private ChildProcess startAgent(Path kubeconfig) throws IOException {
        ChildProcess started = ChildProcess.startAgent(
                "agent", work, kubeconfig, NODE, socket, "--kubelet-pods-dir", kubeletPods.toString());
        allProcesses.add(started);
        return started;
    }

    private ChildProcess startOperator(Path kubeconfig) throws IOException {
        ChildProcess started = ChildProcess.startOperator(work, kubeconfig);
        allProcesses.add(started);
        return started;
    }

    private ChildProcess startApiServer(List<String> command) throws IOException {
        ChildProcess started = ChildProcess.start("kube-apiserver", work, command, Map.of());
        allProcesses.add(started);
        return started;
    }

    private void awaitApiServerReady(KubernetesClient client) {
        await("our kube-apiserver ready")
                .atMost(Duration.ofSeconds(90))
                .pollInterval(Duration.ofMillis(500))
                .failFast("kube-apiserver exited", () -> !ownApiServer.isAlive())
                .ignoreExceptions()
                .until(() -> "ok".equals(client.raw("/readyz")));
    }

    /** The shared server's kube-apiserver, a child of this JVM (kube-api-test starts it). */
    private static List<String> sharedApiServerCommand() {
        return ProcessHandle.current()
                .descendants()
                .filter(process -> process.info()
                        .command()
                        .map(command -> command.endsWith("/kube-apiserver"))
                        .orElse(false))
                .map(process -> {
                    try {
                        String[] arguments = Files.readString(Path.of("/proc", Long.toString(process.pid()), "cmdline"))
                                .split("\0");
                        return List.of(arguments);
                    } catch (IOException e) {
                        return null;
                    }
                })
                .filter(Objects::nonNull)
                .filter(command -> command.contains("--secure-port")
                        && command.stream().anyMatch(a -> a.startsWith("--etcd-servers") || a.equals("--etcd-servers")))
                .findFirst()
                .orElse(null);
    }

    private static List<String> withSecurePort(List<String> command, int port) {
        List<String> result = new ArrayList<>(command);
        int index = result.indexOf("--secure-port");
        result.set(index + 1, Integer.toString(port));
        return result;
    }

    // ---------------------------------------------------------------------------------------------
    // CRDs and cgroups

    /** The other classes share this server: leave it as we found it (the namespace stays; no controller-manager would empty it). */
    private void deleteWhatThisClassCreated() {
        for (String name : vmNames) {
            admin.resources(NumaGuestMemory.class)
                    .inNamespace(NAMESPACE)
                    .withName(name)
                    .delete();
            admin.genericKubernetesResources(VMI)
                    .inNamespace(NAMESPACE)
                    .withName(name)
                    .delete();
        }
        admin.pods()
                .inNamespace(NAMESPACE)
                .withLabel("kubevirt.io", "virt-launcher")
                .withGracePeriod(0)
                .delete();
        admin.resources(NodeResourceTopology.class).withName(NODE).delete();
        admin.nodes().withName(NODE).delete();
        // The CRDs stay (installedCrds only reports them): a class that runs next finds a CRD still
        // terminating as present, and would lose it a moment later; the chart keeps its CRDs too.
        if (!installedCrds.isEmpty()) {
            System.out.println("FullPathIT: leaving the CRDs it installed in place: " + installedCrds);
        }
    }

    /**
     * Installs a CRD unless the server already has it (another class, or the chart through Helm,
     * may have installed the same one). A class that installed it may also be deleting it as it
     * finishes: then it is waited out and installed afresh, rather than found and lost a moment later.
     */
    private void installCrdIfAbsent(CustomResourceDefinition crd) {
        if (OptionalCrds.installIfAbsent(admin, crd)) {
            installedCrds.add(crd.getMetadata().getName());
        }
    }

    private static List<String> fdTargets(long pid) {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.map(fd -> {
                        try {
                            return Files.readSymbolicLink(fd).toString();
                        } catch (IOException e) {
                            return ""; // closed meanwhile
                        }
                    })
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Descriptors of the process that are Unix domain sockets (their inodes are in /proc/net/unix). */
    private static long unixSocketCount(long pid) throws IOException {
        var unixInodes = Files.readAllLines(Path.of("/proc/net/unix")).stream()
                .skip(1)
                .map(line -> line.trim().split("\\s+"))
                .filter(fields -> fields.length >= 7)
                .map(fields -> "socket:[" + fields[6] + "]")
                .collect(Collectors.toSet());
        return fdTargets(pid).stream().filter(unixInodes::contains).count();
    }

    private static List<String> mappings(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "maps"));
    }

    private static boolean isMemfd(String text) {
        return text.contains("/memfd:");
    }

    private static Path createTempDir() {
        try {
            return Files.createTempDirectory("numaguest-fullpath-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
