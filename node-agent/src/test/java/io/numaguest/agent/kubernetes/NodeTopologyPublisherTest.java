package io.numaguest.agent.kubernetes;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.numaguest.agent.topology.HostNode;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.HugePagePool;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

@EnableKubernetesMockClient(crud = true)
class NodeTopologyPublisherTest {
    private static final String NODE = "worker-1";
    private static final long GIB = 1L << 30;

    KubernetesClient client;

    private final AtomicReference<HostTopology> topology = new AtomicReference<>(twoNodes(10 * GIB));

    @Test
    void publishesOneZonePerHostNodeWithDistancesAsCosts() {
        installCrd("v1alpha2");

        publisher().publish();

        GenericKubernetesResource nrt = read();
        assertThat(nrt.getApiVersion()).isEqualTo("topology.node.k8s.io/v1alpha2");
        assertThat(nrt.getKind()).isEqualTo("NodeResourceTopology");
        assertThat(nrt.getMetadata().getLabels()).containsEntry("app.kubernetes.io/managed-by", "numaguest-agent");
        assertThat(nrt.getAdditionalProperties().get("zones")).isEqualTo(List.of(
                Map.of("name", "node-0", "type", "Node",
                        "costs", List.of(Map.of("name", "node-0", "value", 10), Map.of("name", "node-1", "value", 21)),
                        "resources", List.of(
                                resource("cpu", "4", "4"),
                                resource("memory", Long.toString(16 * GIB), Long.toString(10 * GIB)),
                                resource("hugepages-2Mi", Long.toString(GIB), Long.toString(GIB / 2)),
                                resource("hugepages-1Gi", Long.toString(4 * GIB), Long.toString(3 * GIB)))),
                Map.of("name", "node-1", "type", "Node",
                        "costs", List.of(Map.of("name", "node-0", "value", 21), Map.of("name", "node-1", "value", 10)),
                        "resources", List.of(
                                resource("cpu", "4", "4"),
                                resource("memory", Long.toString(16 * GIB), Long.toString(12 * GIB))))));
    }

    /**
     * The fields io.numaguest.operator.NodeResourceTopologies#hostTopology reads, read the way it
     * reads them: zones[] of type "Node" named node-&lt;id&gt;, the memory resource's capacity and
     * available as quantities in bytes, costs[] values as JSON numbers named after zones.
     */
    @Test
    void publishesWhatTheOperatorReads() {
        installCrd("v1alpha2");

        publisher().publish();

        List<?> zones = (List<?>) read().getAdditionalProperties().get("zones");
        Map<?, ?> zone = (Map<?, ?>) zones.getFirst();
        assertThat(zone.get("type")).isEqualTo("Node");
        assertThat((String) zone.get("name")).matches("node-(\\d+)");
        Map<?, ?> memory = ((List<?>) zone.get("resources")).stream().map(Map.class::cast)
                .filter(r -> "memory".equals(r.get("name"))).findFirst().orElseThrow();
        assertThat(Quantity.getAmountInBytes(new Quantity(memory.get("capacity").toString())).longValue()).isEqualTo(16 * GIB);
        assertThat(Quantity.getAmountInBytes(new Quantity(memory.get("available").toString())).longValue()).isEqualTo(10 * GIB);
        Map<?, ?> cost = (Map<?, ?>) ((List<?>) zone.get("costs")).get(1);
        assertThat(cost.get("name")).isEqualTo("node-1");
        assertThat(cost.get("value")).isInstanceOf(Number.class);
    }

    @Test
    void republishingUpdatesTheSameObject() {
        installCrd("v1alpha2");
        NodeTopologyPublisher publisher = publisher();
        publisher.publish();
        String firstVersion = read().getMetadata().getResourceVersion();

        topology.set(twoNodes(7 * GIB));
        publisher.publish();

        assertThat(client.genericKubernetesResources(NodeTopologyPublisher.NODE_RESOURCE_TOPOLOGY).list().getItems()).hasSize(1);
        GenericKubernetesResource nrt = read();
        assertThat(nrt.getMetadata().getResourceVersion()).isNotEqualTo(firstVersion);
        assertThat(memoryAvailable(nrt, 0)).isEqualTo(Long.toString(7 * GIB));
    }

    @Test
    void theNodeOwnsItsTopologySoTheGarbageCollectorDeletesItWithTheNode() {
        installCrd("v1alpha2");
        String nodeUid = client.nodes().resource(new NodeBuilder().withNewMetadata().withName(NODE).endMetadata().build())
                .create().getMetadata().getUid();

        publisher().publish();

        assertThat(read().getMetadata().getOwnerReferences()).singleElement().satisfies(owner -> {
            assertThat(owner.getApiVersion()).isEqualTo("v1");
            assertThat(owner.getKind()).isEqualTo("Node");
            assertThat(owner.getName()).isEqualTo(NODE);
            assertThat(owner.getUid()).isEqualTo(nodeUid);
            assertThat(owner.getBlockOwnerDeletion()).isNull();
        });
    }

    @Test
    void withoutTheNodeTheTopologyIsPublishedOwnerless() {
        installCrd("v1alpha2");

        publisher().publish();

        assertThat(read().getMetadata().getOwnerReferences()).isEmpty();
    }

    @Test
    void leavesATopologyPublishedByAnotherComponentAlone() {
        installCrd("v1alpha2");
        List<Map<String, Object>> theirZones = List.of(Map.of("name", "node-0", "type", "Node"));
        client.genericKubernetesResources(NodeTopologyPublisher.NODE_RESOURCE_TOPOLOGY).resource(new GenericKubernetesResourceBuilder()
                .withApiVersion("topology.node.k8s.io/v1alpha2").withKind("NodeResourceTopology")
                .withNewMetadata().withName(NODE).endMetadata()
                .addToAdditionalProperties("zones", theirZones)
                .build()).create();

        publisher().publish();

        assertThat(read().getAdditionalProperties().get("zones")).isEqualTo(theirZones);
    }

    @Test
    void theCrdIsPresentOnlyWhenItServesV1alpha2() {
        NodeTopologyPublisher publisher = publisher();
        assertThat(publisher.crdPresent()).as("no CRD").isFalse();

        installCrd("v1alpha1");
        assertThat(publisher.crdPresent()).as("an old CRD serving only v1alpha1").isFalse();

        client.apiextensions().v1().customResourceDefinitions().withName(NodeTopologyPublisher.CRD_NAME).delete();
        installCrd("v1alpha2");
        assertThat(publisher.crdPresent()).isTrue();
    }

    @Test
    void periodicPublishingSurvivesFailures() {
        installCrd("v1alpha2");
        AtomicInteger reads = new AtomicInteger();
        NodeTopologyPublisher publisher = new NodeTopologyPublisher(client, NODE, () -> {
            if (reads.incrementAndGet() == 1) {
                throw new IllegalStateException("sysfs unreadable");
            }
            return topology.get();
        });
        ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor();
        try {
            publisher.start(executor, Duration.ofMillis(50));

            await().atMost(Duration.ofSeconds(10)).until(() -> client.genericKubernetesResources(
                    NodeTopologyPublisher.NODE_RESOURCE_TOPOLOGY).withName(NODE).get() != null);
            topology.set(twoNodes(5 * GIB));
            await().atMost(Duration.ofSeconds(10)).until(() -> memoryAvailable(read(), 0).equals(Long.toString(5 * GIB)));
        } finally {
            executor.shutdownNow();
        }
    }

    private NodeTopologyPublisher publisher() {
        return new NodeTopologyPublisher(client, NODE, topology::get);
    }

    private GenericKubernetesResource read() {
        return client.genericKubernetesResources(NodeTopologyPublisher.NODE_RESOURCE_TOPOLOGY).withName(NODE).get();
    }

    private void installCrd(String version) {
        client.apiextensions().v1().customResourceDefinitions().resource(new CustomResourceDefinitionBuilder()
                .withNewMetadata().withName(NodeTopologyPublisher.CRD_NAME).endMetadata()
                .withNewSpec()
                .withGroup("topology.node.k8s.io")
                .withScope("Cluster")
                .withNewNames()
                .withKind("NodeResourceTopology").withListKind("NodeResourceTopologyList")
                .withPlural("noderesourcetopologies").withSingular("noderesourcetopology")
                .endNames()
                .addNewVersion().withName(version).withServed(true).withStorage(true).endVersion()
                .endSpec()
                .build()).create();
    }

    /** Two host nodes of 16 GiB and 4 CPUs each; node 0 has huge page pools, node 1 none. */
    private static HostTopology twoNodes(long node0MemFree) {
        HostNode node0 = new HostNode(0, 16 * GIB, node0MemFree, new TreeSet<>(List.of(0, 1, 2, 3)), List.of(10, 21),
                List.of(new HugePagePool(2L << 20, 512, 256), new HugePagePool(GIB, 4, 3)));
        HostNode node1 = new HostNode(1, 16 * GIB, 12 * GIB, new TreeSet<>(List.of(4, 5, 6, 7)), List.of(21, 10), List.of());
        return new HostTopology(List.of(node0, node1), new TreeSet<>(List.of(0, 1)), new TreeSet<>(List.of(0, 1)));
    }

    private static Map<String, Object> resource(String name, String capacity, String available) {
        return Map.of("name", name, "capacity", capacity, "allocatable", capacity, "available", available);
    }

    private static String memoryAvailable(GenericKubernetesResource nrt, int zone) {
        Map<?, ?> zoneMap = (Map<?, ?>) ((List<?>) nrt.getAdditionalProperties().get("zones")).get(zone);
        return ((List<?>) zoneMap.get("resources")).stream().map(Map.class::cast)
                .filter(r -> "memory".equals(r.get("name"))).map(r -> (String) r.get("available"))
                .findFirst().orElseThrow();
    }
}
