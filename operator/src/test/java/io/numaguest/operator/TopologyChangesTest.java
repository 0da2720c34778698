package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.guestNode;
import static io.numaguest.operator.Fixtures.ngm;
import static io.numaguest.operator.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.topology.NumaZones;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.Target;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class TopologyChangesTest {

    private static final String NODE = "worker-1";

    private final NumaTopology roomy = Topologies.flat(32, 32);
    private final PlacementStep step = new PlacementStep(node -> List.of(), id -> Optional.empty());

    /** An NGM whose target pod runs on NODE, with the status the operator writes for it on this topology. */
    private NumaGuestMemory onNode(String name, String size, Optional<NumaTopology> topology) {
        var ngm = ngm(name, Target.virtualMachineInstance(name), guestNode(0, MemoryPolicy.Bind, size));
        ngm.getMetadata().setUid(name + "-uid");
        var target = new TargetResolution.Resolved(pod("virt-launcher-" + name, NODE, "Running", Map.of()));
        ngm.setStatus(StatusAssembler.assemble(
                ngm, target, Optional.of(step.decide(ngm, target, topology)), topology.isPresent(), Instant.now()));
        return ngm;
    }

    private static NodeResourceTopology published(NumaTopology topology) {
        NodeResourceTopology nrt = NumaZones.nodeResourceTopology(topology);
        nrt.getMetadata().setName(NODE);
        return nrt;
    }

    private static NumaTopology withFree(NumaTopology topology, long... freeGiB) {
        return new NumaTopology(
                topology.nodeName(),
                topology.nodes().stream()
                        .map(node -> node.withMemFree(freeGiB[node.id()] * Topologies.GIB))
                        .toList());
    }

    @Test
    void freeMemoryRepublishedConcernsNoNgmWhoseNodeIsPlacedAlready() {
        var placed = onNode("vm1", "4Gi", Optional.of(roomy));

        assertThat(TopologyChanges.concernNgms(published(withFree(roomy, 30, 31)), published(roomy), List.of(placed)))
                .isFalse();
        assertThat(TopologyChanges.concernNgms(published(withFree(roomy, 30, 31)), published(roomy), List.of()))
                .isFalse();
    }

    @Test
    void freeMemoryConcernsAnNgmStillWaitingForItsPlacement() {
        var placed = onNode("vm1", "4Gi", Optional.of(roomy));
        var waiting = onNode("vm2", "80Gi", Optional.of(roomy)); // more than the node has free

        assertThat(waiting.getStatus().getConditions())
                .anyMatch(condition ->
                        StatusAssembler.PLACED.equals(condition.getType()) && "False".equals(condition.getStatus()));
        assertThat(TopologyChanges.concernNgms(
                        published(withFree(roomy, 60, 31)), published(roomy), List.of(placed, waiting)))
                .isTrue();
    }

    @Test
    void aPlacementMadeWithoutTopologyIsCheckedOnceOneIsPublished() {
        var blind = onNode("vm1", "4Gi", Optional.empty());

        assertThat(TopologyChanges.concernNgms(published(withFree(roomy, 30, 31)), published(roomy), List.of(blind)))
                .isTrue();
    }

    @Test
    void aChangeOfTheHostNodesThemselvesConcernsEveryNgmThere() {
        var placed = onNode("vm1", "4Gi", Optional.of(roomy));
        List<NumaNode> nodes = roomy.nodes();
        var cpusetShrunk = new NumaTopology(NODE, List.of(nodes.get(0), withAllowed(nodes.get(1), false)));

        assertThat(TopologyChanges.concernNgms(published(cpusetShrunk), published(roomy), List.of(placed)))
                .isTrue();
    }

    private static NumaNode withAllowed(NumaNode node, boolean allowed) {
        return new NumaNode(
                node.id(),
                node.memTotalBytes(),
                node.memFreeBytes(),
                node.cpus(),
                node.distances(),
                node.hugepages(),
                allowed);
    }
}
