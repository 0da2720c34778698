package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.dsl.MixedOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.topology.NumaZones;
import io.numaguest.api.topology.v1alpha2.AttributeInfo;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.operator.InProcessOperator;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The chart's ServiceAccounts, impersonated against a real API server, can do the work of the
 * operator and the agent and nothing the chart means to forbid: RBAC for what a role can never
 * do, the agent's ValidatingAdmissionPolicy for what depends on the node its token is bound to.
 */
class RbacIT {

    private static final KubeApiServer SERVER = KubeApiServer.get();
    private static final String RELEASE = "numaguest";
    private static final String SYSTEM_NAMESPACE = "numaguest-system";
    private static final String OPERATOR_SA = SYSTEM_NAMESPACE + "/numaguest-operator";
    private static final String AGENT_SA = SYSTEM_NAMESPACE + "/numaguest-agent";
    private static final String VM_NAMESPACE = "e2e-rbac";
    private static final String RECONCILE_NAMESPACE = "e2e-rbac-operator";
    // Node names (rbac-node-*) are this class's own: other tests on the shared server use node-a.
    private static final String NGM_API = "numaguest.io/v1alpha1";
    private static final String NRT_CRD = NodeResourceTopology.CRD_NAME;
    /**
     * RBAC and admission policies reach the API server's authorizer and admission chain through
     * informers, a moment after the objects are stored: allow for that, not for anything slower.
     */
    private static final Duration PROPAGATION = Duration.ofSeconds(20);

    @BeforeAll
    static void installChartAndFixtures() {
        SERVER.installCrds();
        Helm.install(KubeApiServer.repoDir().resolve("helm/numaguest").toString())
                .withKubeConfig(SERVER.kubeconfig())
                .withName(RELEASE)
                .withNamespace(SYSTEM_NAMESPACE)
                .createNamespace()
                .call();
        // The chart renders the NRT CRD unless the cluster already serves it (e.g. left, as Helm
        // keeps CRDs, by another test's release): either way it must be served before NRTs are written.
        KubeApiServer.expectSuccess(
                SERVER.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/" + NRT_CRD));

        KubernetesClient admin = SERVER.adminClient();
        admin.namespaces()
                .resource(new NamespaceBuilder()
                        .withNewMetadata()
                        .withName(VM_NAMESPACE)
                        .endMetadata()
                        .build())
                .serverSideApply();
        for (String node : new String[] {"rbac-node-a", "rbac-node-b"}) {
            admin.nodes()
                    .resource(new NodeBuilder()
                            .withNewMetadata()
                            .withName(node)
                            .endMetadata()
                            .build())
                    .serverSideApply();
            admin.resource(ngm("vm-on-" + node)).serverSideApply();
            // As the operator places it: the node in the status, by which that node's agent selects it.
            patchStatus(admin, "vm-on-" + node, Map.of("nodeName", node));
        }
        // A VM live-migrating from rbac-node-b to rbac-node-a.
        admin.resource(ngm("vm-arriving-on-rbac-node-a")).serverSideApply();
        patchStatus(
                admin,
                "vm-arriving-on-rbac-node-a",
                Map.of("nodeName", "rbac-node-b", "migration", Map.of("nodeName", "rbac-node-a")));
        admin.resource(nrt("rbac-node-b")).serverSideApply();
        admin.pods()
                .inNamespace(VM_NAMESPACE)
                .resource(new PodBuilder()
                        .withNewMetadata()
                        .withName("vm-launcher")
                        .endMetadata()
                        .withNewSpec()
                        .withNodeName("rbac-node-a")
                        .addNewContainer()
                        .withName("vmm")
                        .withImage("vmm")
                        .endContainer()
                        .endSpec()
                        .build())
                .serverSideApply();

        // An admission policy takes effect a moment after it is stored. Until then a write the policy
        // forbids would go through and leave its object behind, so the denial tests wait for a
        // server-side dry run (admitted like a real write, stores nothing) to be refused first.
        expectPolicyDenial(
                () -> AGENT_ON_NODE_A.resource(nrt("policy-probe")).dryRun().create(),
                "may only write the NodeResourceTopology named rbac-node-a, not policy-probe");
    }

    private static final KubernetesClient OPERATOR = SERVER.clientAs(OPERATOR_SA);
    private static final KubernetesClient AGENT_ON_NODE_A = SERVER.clientAsOnNode(AGENT_SA, "rbac-node-a");

    /**
     * Removes what this class created, as the server is shared: another test's operator must not
     * find these NGMs, nodes or topologies. (Deleting the namespace would not do: without a
     * controller manager nothing empties it.)
     */
    @AfterAll
    static void cleanUp() {
        OPERATOR.close();
        AGENT_ON_NODE_A.close();
        Helm.uninstall(RELEASE)
                .withKubeConfig(SERVER.kubeconfig())
                .withNamespace(SYSTEM_NAMESPACE)
                .call();
        KubernetesClient admin = SERVER.adminClient();
        ngms(admin).inNamespace(VM_NAMESPACE).delete();
        // Grace period 0: the pod is bound to a node without a kubelet, which would never confirm it stopped.
        admin.pods().inNamespace(VM_NAMESPACE).withGracePeriod(0).delete();
        admin.resources(NodeResourceTopology.class).withName("rbac-node-a").delete();
        admin.resources(NodeResourceTopology.class).withName("rbac-node-b").delete();
        admin.nodes().withName("rbac-node-a").delete();
        admin.nodes().withName("rbac-node-b").delete();
    }

    @Nested
    class Operator {

        private final KubernetesClient operator = OPERATOR;

        @Test
        void listsAndWatchesNgmsInEveryNamespace() throws InterruptedException {
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(() -> assertThat(
                                    ngms(operator).inAnyNamespace().list().getItems())
                            .extracting(o -> o.getMetadata().getName())
                            .contains("vm-on-rbac-node-a", "vm-on-rbac-node-b"));

            CountDownLatch added = new CountDownLatch(1);
            try (Watch ignored = ngms(operator).inAnyNamespace().watch(new Watcher<>() {
                @Override
                public void eventReceived(Action action, GenericKubernetesResource resource) {
                    if (action == Action.ADDED
                            && resource.getMetadata().getName().equals("vm-on-rbac-node-a")) {
                        added.countDown();
                    }
                }

                @Override
                public void onClose(WatcherException cause) {
                    // A refused watch surfaces as the exception from watch() itself.
                }
            })) {
                assertThat(added.await(PROPAGATION.toSeconds(), TimeUnit.SECONDS))
                        .as("watch delivered the existing NGM")
                        .isTrue();
            }
        }

        /** As the operator writes status: a server-side apply of its fields, with no read before it. */
        @Test
        void appliesNgmStatus() {
            var status = SERVER.adminClient()
                    .getKubernetesSerialization()
                    .unmarshal("""
          apiVersion: %s
          kind: NumaGuestMemory
          metadata: {name: vm-on-rbac-node-b, namespace: %s}
          status: {nodeName: rbac-node-b}
          """.formatted(NGM_API, VM_NAMESPACE), GenericKubernetesResource.class);
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(() -> assertThat(ngms(operator)
                                    .inNamespace(VM_NAMESPACE)
                                    .resource(status)
                                    .subresource("status")
                                    .patch(new PatchContext.Builder()
                                            .withPatchType(PatchType.SERVER_SIDE_APPLY)
                                            .withFieldManager("numaguest-operator")
                                            .withForce(true)
                                            .build())
                                    .<String>get("status", "nodeName"))
                            .isEqualTo("rbac-node-b"));
        }

        /**
         * The reconciler itself, on the operator's rights alone: its informers (NGMs, pods, topologies),
         * its status applies, its Event. In a namespace of its own, so it reconciles nothing
         * the other tests here write.
         */
        @Test
        void runsItsReconcilerOnTheseRights() {
            KubernetesClient admin = SERVER.adminClient();
            admin.namespaces()
                    .resource(new NamespaceBuilder()
                            .withNewMetadata()
                            .withName(RECONCILE_NAMESPACE)
                            .endMetadata()
                            .build())
                    .serverSideApply();
            admin.pods()
                    .inNamespace(RECONCILE_NAMESPACE)
                    .resource(new PodBuilder()
                            .withNewMetadata()
                            .withName("qemu-vm1")
                            .addToLabels("app", "vm1")
                            .endMetadata()
                            .withNewSpec()
                            .withNodeName("rbac-node-b")
                            .addNewContainer()
                            .withName("vmm")
                            .withImage("vmm")
                            .endContainer()
                            .endSpec()
                            .build())
                    .create();
            // rbac-node-b's topology has one zone and no memory: Local needs no host nodes, Bind to 0 is checked.
            var ngm = admin.getKubernetesSerialization()
                    .unmarshal("""
          apiVersion: %s
          kind: NumaGuestMemory
          metadata: {name: vm1, namespace: %s}
          spec:
            target: {podSelector: {matchLabels: {app: vm1}}}
            guestNodes: [{guestNode: 0, policy: Local}]
          """.formatted(NGM_API, RECONCILE_NAMESPACE), GenericKubernetesResource.class);
            admin.resource(ngm).create();
            try (var reconciler = new InProcessOperator(operator, false, true, RECONCILE_NAMESPACE)) {
                await().atMost(PROPAGATION).untilAsserted(() -> {
                    var placed = ngms(admin)
                            .inNamespace(RECONCILE_NAMESPACE)
                            .withName("vm1")
                            .get();
                    assertThat(AgentSelection.names(
                                    admin, RECONCILE_NAMESPACE, NumaGuestMemory.NODE_FIELD, "rbac-node-b"))
                            .containsExactly("vm1");
                    assertThat(placed.<String>get("status", "placementSummary")).isEqualTo("0:Local");
                    assertThat(admin.v1()
                                    .events()
                                    .inNamespace(RECONCILE_NAMESPACE)
                                    .list()
                                    .getItems())
                            .anySatisfy(event -> assertThat(event.getReason()).isEqualTo("Placed"));
                });
            } finally {
                ngms(admin).inNamespace(RECONCILE_NAMESPACE).delete();
                admin.pods().inNamespace(RECONCILE_NAMESPACE).withGracePeriod(0).delete();
            }
        }

        @Test
        void readsNoNodes() {
            expectRbacDenial(() -> operator.nodes().withName("rbac-node-a").get(), "cannot get resource \"nodes\"");
        }

        @Test
        void createsEvents() {
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(() -> assertThat(operator.v1()
                                    .events()
                                    .inNamespace(VM_NAMESPACE)
                                    .resource(new EventBuilder()
                                            .withNewMetadata()
                                            .withGenerateName("vm-on-rbac-node-a.")
                                            .endMetadata()
                                            .withNewInvolvedObject()
                                            .withApiVersion(NGM_API)
                                            .withKind("NumaGuestMemory")
                                            .withNamespace(VM_NAMESPACE)
                                            .withName("vm-on-rbac-node-a")
                                            .endInvolvedObject()
                                            .withReason("Placed")
                                            .withMessage("rbac test")
                                            .withType("Normal")
                                            .build())
                                    .create())
                            .isNotNull());
        }

        @Test
        void createsAndRenewsItsLeaderElectionLease() {
            var leases = operator.leases().inNamespace(SYSTEM_NAMESPACE);
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(() -> assertThat(leases.resource(new LeaseBuilder()
                                            .withNewMetadata()
                                            .withName("e2e-rbac-lease")
                                            .endMetadata()
                                            .withNewSpec()
                                            .withHolderIdentity("replica-1")
                                            .withLeaseDurationSeconds(15)
                                            .endSpec()
                                            .build())
                                    .create())
                            .isNotNull());

            Lease renewal = new LeaseBuilder(leases.withName("e2e-rbac-lease").get())
                    .editSpec()
                    .withHolderIdentity("replica-2")
                    .endSpec()
                    .build();
            Lease renewed = leases.resource(renewal).update();
            assertThat(renewed.getSpec().getHolderIdentity()).isEqualTo("replica-2");
        }

        @Test
        void cannotReadSecrets() {
            expectRbacDenial(
                    () -> operator.secrets().inNamespace(SYSTEM_NAMESPACE).list(),
                    "cannot list resource \"secrets\" in API group \"\" in the namespace \"numaguest-system\"");
        }
    }

    @Nested
    class AgentOnNodeA {

        private final KubernetesClient agent = AGENT_ON_NODE_A;

        @Test
        void listsNgms() {
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(
                            () -> assertThat(ngms(agent).inAnyNamespace().list().getItems())
                                    .isNotEmpty());
        }

        @Test
        void patchesTheStatusOfAnNgmOnItsNode() {
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(() -> assertThat(patchStatus(agent, "vm-on-rbac-node-a", APPLIED)
                                    .<Integer>get("status", "applied", 0, "guestNode"))
                            .isEqualTo(0));
        }

        @Test
        void createsAndUpdatesItsOwnNodeResourceTopology() {
            var nrts = agent.resources(NodeResourceTopology.class);
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(
                            () -> assertThat(nrts.resource(nrt("rbac-node-a")).create())
                                    .isNotNull());

            NodeResourceTopology updated = nrts.resource(
                            withAttribute(nrts.withName("rbac-node-a").get(), "updated"))
                    .update();
            assertThat(updated.getAttributes().getFirst().value()).isEqualTo("updated");
        }

        @Test
        void getsItsNode() {
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(() -> assertThat(
                                    agent.nodes().withName("rbac-node-a").get())
                            .isNotNull());
        }

        @Test
        void cannotChangeAnNgmSpec() {
            GenericKubernetesResource changed = ngms(SERVER.adminClient())
                    .inNamespace(VM_NAMESPACE)
                    .withName("vm-on-rbac-node-a")
                    .get();
            changed.setAdditionalProperty("spec", Map.of("enforcement", "BestEffort"));
            expectRbacDenial(
                    () -> ngms(agent).resource(changed).update(),
                    "cannot update resource \"numaguestmemories\" in API group \"numaguest.io\" in the namespace \"e2e-rbac\"");
        }

        @Test
        void cannotWriteTheStatusOfAnNgmOnAnotherNode() {
            expectPolicyDenial(
                    () -> patchStatus(agent, "vm-on-rbac-node-b", APPLIED),
                    "the numaguest agent of node rbac-node-a may only write the status of NumaGuestMemories whose"
                            + " status.nodeName or status.migration.nodeName is rbac-node-a");
        }

        /** On a migration's target node: its evidence goes to migrationApplied, never into the source's applied. */
        @Test
        void writesOnlyTheMigrationsEvidenceOfAVmArrivingOnItsNode() {
            await().atMost(PROPAGATION)
                    .ignoreExceptions()
                    .untilAsserted(() -> assertThat(patchStatus(
                                            agent,
                                            "vm-arriving-on-rbac-node-a",
                                            Map.of("migrationApplied", APPLIED.get("applied")))
                                    .<Integer>get("status", "migrationApplied", 0, "guestNode"))
                            .isEqualTo(0));
            expectPolicyDenial(
                    () -> patchStatus(agent, "vm-arriving-on-rbac-node-a", APPLIED),
                    "the numaguest agent of node rbac-node-a may not write status.applied: that is the evidence of the"
                            + " agent of status.nodeName");
        }

        /** Moving its own NGM to another node would hand that node's agent a placement this agent wrote. */
        @Test
        void cannotWriteTheOperatorsFieldsOfAnNgmOnItsNode() {
            expectPolicyDenial(
                    () -> patchStatus(agent, "vm-on-rbac-node-a", Map.of("nodeName", "rbac-node-b")),
                    "the numaguest agent of node rbac-node-a may write only status.applied and status.migrationApplied");
            expectPolicyDenial(
                    () -> patchStatus(
                            agent,
                            "vm-on-rbac-node-a",
                            Map.of(
                                    "conditions",
                                    List.of(Map.of(
                                            "type", "Ready",
                                            "status", "True",
                                            "reason", "Ready",
                                            "message", "forged",
                                            "lastTransitionTime", "2026-01-01T00:00:00Z")))),
                    "may write only status.applied and status.migrationApplied");
        }

        @Test
        void cannotCreateAnotherNodesTopology() {
            expectPolicyDenial(
                    () -> agent.resource(nrt("rbac-node-c")).create(),
                    "the numaguest agent of node rbac-node-a may only write the NodeResourceTopology named rbac-node-a, not rbac-node-c");
        }

        @Test
        void cannotUpdateAnotherNodesTopology() {
            var nrts = agent.resources(NodeResourceTopology.class);
            NodeResourceTopology changed = withAttribute(
                    SERVER.adminClient()
                            .resources(NodeResourceTopology.class)
                            .withName("rbac-node-b")
                            .get(),
                    "stolen");
            expectPolicyDenial(
                    () -> nrts.resource(changed).update(),
                    "the numaguest agent of node rbac-node-a may only write the NodeResourceTopology named rbac-node-a, not rbac-node-b");
        }

        @Test
        void cannotReadSecrets() {
            expectRbacDenial(
                    () -> agent.secrets().inNamespace(SYSTEM_NAMESPACE).list(),
                    "cannot list resource \"secrets\" in API group \"\" in the namespace \"numaguest-system\"");
        }
    }

    @Test
    void agentTokenWithoutNodeClaimCannotWriteStatus() {
        KubernetesClient unbound = SERVER.clientAs(AGENT_SA);
        expectPolicyDenial(
                () -> patchStatus(unbound, "vm-on-rbac-node-a", APPLIED),
                "the numaguest agent's token carries no node-name claim");
    }

    /** An RBAC refusal: 403 from the authorizer, naming the agent's or operator's user. */
    private static void expectRbacDenial(ThrowingCallable request, String message) {
        expectDenial(request, "is forbidden: User \"system:serviceaccount:numaguest-system:", message);
    }

    /**
     * A refusal by the agent's ValidatingAdmissionPolicy (reason Forbidden in the policy: 403). The
     * policy starts being enforced a moment after the chart creates it, so this waits for the denial.
     */
    private static void expectPolicyDenial(ThrowingCallable request, String message) {
        expectDenial(request, "ValidatingAdmissionPolicy 'numaguest-agent-node-restriction'", message);
    }

    private static void expectDenial(ThrowingCallable request, String by, String message) {
        await().atMost(PROPAGATION)
                .untilAsserted(() -> assertThatThrownBy(request)
                        .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
                            assertThat(e.getCode())
                                    .as("HTTP status of %s", e.getMessage())
                                    .isEqualTo(403);
                            assertThat(e.getMessage()).contains(by).contains(message);
                        }));
    }

    private static MixedOperation<
                    GenericKubernetesResource, GenericKubernetesResourceList, Resource<GenericKubernetesResource>>
            ngms(KubernetesClient client) {
        return client.genericKubernetesResources(NGM_API, "NumaGuestMemory");
    }

    /** The agent's evidence for guest node 0, as it writes it after an apply. */
    private static final Map<String, Object> APPLIED = Map.of(
            "applied",
            List.of(Map.of(
                    "guestNode", 0, "policy", "Bind", "hostNodes", List.of(0), "verified", true, "podUid", "uid-1")));

    /** A merge patch of the status subresource, as the operator and the agent write status. */
    private static GenericKubernetesResource patchStatus(
            KubernetesClient client, String ngm, Map<String, Object> status) {
        String patch = client.getKubernetesSerialization().asJson(Map.of("status", status));
        return ngms(client)
                .inNamespace(VM_NAMESPACE)
                .withName(ngm)
                .subresource("status")
                .patch(PatchContext.of(PatchType.JSON_MERGE), patch);
    }

    private static NodeResourceTopology withAttribute(NodeResourceTopology nrt, String value) {
        nrt.setAttributes(List.of(new AttributeInfo("e2e", value)));
        return nrt;
    }

    /** An NGM with a Bind of guest node 0; its status names its node once placed (setup). */
    private static GenericKubernetesResource ngm(String name) {
        return SERVER.adminClient()
                .getKubernetesSerialization()
                .unmarshal("""
        apiVersion: %s
        kind: NumaGuestMemory
        metadata:
          name: %s
          namespace: %s
        spec:
          target: {podSelector: {matchLabels: {app: %s}}}
          guestNodes: [{guestNode: 0, policy: Bind, hostNodes: [0]}]
        """.formatted(NGM_API, name, VM_NAMESPACE, name), GenericKubernetesResource.class);
    }

    /** A NodeResourceTopology of one host node, through the typed contract the agent publishes with. */
    private static NodeResourceTopology nrt(String node) {
        return NumaZones.nodeResourceTopology(new NumaTopology(
                node, List.of(new NumaNode(0, 1L << 30, 1L << 30, 1, Map.of(0, 10), List.of(), true))));
    }
}
