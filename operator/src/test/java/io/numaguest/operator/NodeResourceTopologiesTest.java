package io.numaguest.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NodeResourceTopologiesTest {

  @Test
  void readsNumaZonesMemoryAndDistances() {
    var nrt = new KubernetesSerialization().unmarshal("""
        apiVersion: topology.node.k8s.io/v1alpha2
        kind: NodeResourceTopology
        metadata: {name: worker-1}
        topologyPolicies: [None]
        zones:
        - name: node-1
          type: Node
          costs: [{name: node-0, value: 21}, {name: node-1, value: 10}]
          resources:
          - {name: cpu, capacity: "8", allocatable: "8", available: "8"}
          - {name: memory, capacity: 32Gi, allocatable: 32Gi, available: "1073741824"}
        - name: node-0
          type: Node
          costs: [{name: node-0, value: 10}, {name: node-1, value: 21}]
          resources:
          - {name: memory, capacity: 32Gi, allocatable: 32Gi, available: 20Gi}
        - name: socket-0
          type: Socket
        """, GenericKubernetesResource.class);

    var topology = NodeResourceTopologies.hostTopology(nrt).orElseThrow();

    assertThat(topology.nodeName()).isEqualTo("worker-1");
    assertThat(topology.nodes()).containsExactly(
        new HostNode(0, 32L << 30, 20L << 30, Map.of(0, 10, 1, 21)),
        new HostNode(1, 32L << 30, 1L << 30, Map.of(0, 21, 1, 10)));
  }

  @Test
  void anObjectWithoutNumaZonesGivesNoTopology() {
    var nrt = Fixtures.nodeResourceTopology("worker-1");

    assertThat(NodeResourceTopologies.hostTopology(nrt)).isEmpty();
  }
}
