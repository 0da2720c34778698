package io.numaguest.api.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NumaZonesTest {

    private static final long GIB = 1L << 30;
    private static final KubernetesSerialization JSON = new KubernetesSerialization();

    private final NumaTopology twoNodes = new NumaTopology(
            "worker-1",
            List.of(
                    new NumaNode(
                            0,
                            32 * GIB,
                            20 * GIB,
                            8,
                            Map.of(0, 10, 1, 21),
                            List.of(new NumaNode.HugePages(2L << 20, GIB, GIB / 2)),
                            true),
                    new NumaNode(1, 32 * GIB, GIB, 8, Map.of(0, 21, 1, 10), List.of(), false)));

    @Test
    void whatIsWrittenAsJsonReadsBackAsTheSameTopology() {
        String json = JSON.asJson(NumaZones.nodeResourceTopology(twoNodes));

        var read = NumaZones.read(JSON.unmarshal(json, NodeResourceTopology.class));

        assertThat(read).contains(twoNodes);
    }

    @Test
    void theWireFormatIsTheV1alpha2SchemasWithQuantitiesAsStrings() {
        Map<?, ?> tree = JSON.unmarshal(JSON.asJson(NumaZones.nodeResourceTopology(twoNodes)), Map.class);

        assertThat(tree.get("apiVersion")).isEqualTo("topology.node.k8s.io/v1alpha2");
        assertThat(tree.get("kind")).isEqualTo("NodeResourceTopology");
        Map<?, ?> zone = (Map<?, ?>) ((List<?>) tree.get("zones")).get(1);
        assertThat(zone.get("name")).isEqualTo("node-1");
        assertThat(zone.get("type")).isEqualTo("Node");
        assertThat(zone.get("attributes")).isEqualTo(List.of(Map.of("name", "numaguest.io/allowed", "value", "false")));
        assertThat(zone.get("costs"))
                .isEqualTo(List.of(Map.of("name", "node-0", "value", 21), Map.of("name", "node-1", "value", 10)));
        assertThat(List.<Object>copyOf((List<?>) zone.get("resources")))
                .contains(Map.of(
                        "name",
                        "memory",
                        "capacity",
                        Long.toString(32 * GIB),
                        "allocatable",
                        Long.toString(32 * GIB),
                        "available",
                        Long.toString(GIB)));
        assertThat(zone.containsKey("parent")).as("no parent zone").isFalse();
    }

    /** Another publisher's object (Node Feature Discovery's shape): other zone types, no numaguest attribute. */
    @Test
    void readsWhatOtherPublishersWriteAndSkipsWhatItDoesNotKnow() {
        String yaml = """
        apiVersion: topology.node.k8s.io/v1alpha2
        kind: NodeResourceTopology
        metadata:
          name: worker-2
        topologyPolicies: ["SingleNUMANodeContainerLevel"]
        attributes:
          - {name: topologyManagerPolicy, value: single-numa-node}
        zones:
          - name: node-0
            type: Node
            costs: [{name: node-0, value: 10}, {name: node-1, value: 21}]
            resources:
              - {name: memory, capacity: 32Gi, allocatable: 30Gi, available: 20Gi}
              - {name: example.com/nic, capacity: "2", allocatable: "2", available: "1"}
          - name: socket-0
            type: Socket
          - name: gpu-zone
            type: Node
        """;

        var topology =
                NumaZones.read(JSON.unmarshal(yaml, NodeResourceTopology.class)).orElseThrow();

        assertThat(topology.nodeName()).isEqualTo("worker-2");
        assertThat(topology.nodes()).singleElement().satisfies(node -> {
            assertThat(node.id()).isZero();
            assertThat(node.memTotalBytes()).isEqualTo(32 * GIB);
            assertThat(node.memFreeBytes()).isEqualTo(20 * GIB);
            assertThat(node.distanceTo(1)).isEqualTo(21);
            assertThat(node.allowed())
                    .as("no numaguest attribute: nothing says the agent may not")
                    .isTrue();
        });
    }

    @Test
    void anObjectWithoutNumaZonesReadsAsNoTopology() {
        var nrt = new NodeResourceTopology();
        nrt.getMetadata().setName("worker-3");

        assertThat(NumaZones.read(nrt)).isEmpty();
    }
}
