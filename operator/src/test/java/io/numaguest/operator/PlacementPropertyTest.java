package io.numaguest.operator;

import static io.numaguest.operator.Topologies.GIB;
import static org.assertj.core.api.Assertions.assertThat;

import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

class PlacementPropertyTest {

    @Provide
    Arbitrary<NumaTopology> topologies() {
        return Arbitraries.of(1, 2, 4, 8)
                .flatMap(count -> Arbitraries.longs()
                        .between(0, 64)
                        .list()
                        .ofSize(count)
                        .map(freeGiB -> {
                            List<NumaNode> nodes = new ArrayList<>();
                            for (int id = 0; id < count; id++) {
                                Map<Integer, Integer> distances = new HashMap<>();
                                for (int other = 0; other < count; other++) {
                                    distances.put(other, id == other ? 10 : 10 + 2 * Math.abs(id - other));
                                }
                                long free = freeGiB.get(id) * GIB;
                                nodes.add(new NumaNode(
                                        id, free == 0 ? 0 : 64 * GIB, free, 8, distances, List.of(), true));
                            }
                            return new NumaTopology("worker", nodes);
                        }));
    }

    @Provide
    Arbitrary<List<GuestNode>> automaticGuestNodes() {
        Arbitrary<MemoryPolicy> policies = Arbitraries.of(
                MemoryPolicy.Bind,
                MemoryPolicy.Preferred,
                MemoryPolicy.PreferredMany,
                MemoryPolicy.Interleave,
                MemoryPolicy.Default);
        Arbitrary<Long> sizes = Arbitraries.longs().between(0, 32).map(gib -> gib * GIB);
        return Combinators.combine(policies, sizes)
                .as((policy, size) -> new Object[] {policy, size})
                .list()
                .ofMinSize(1)
                .ofMaxSize(8)
                .map(specs -> {
                    List<GuestNode> guestNodes = new ArrayList<>();
                    for (int id = 0; id < specs.size(); id++) {
                        guestNodes.add(
                                new GuestNode(id, (MemoryPolicy) specs.get(id)[0], null, (Long) specs.get(id)[1]));
                    }
                    return guestNodes;
                });
    }

    @Property
    void samePlacementWhateverTheOrderTheTopologyListsItsNodes(
            @ForAll("automaticGuestNodes") List<GuestNode> guestNodes,
            @ForAll("topologies") NumaTopology topology,
            @ForAll long seed) {
        List<NumaNode> shuffled = new ArrayList<>(topology.nodes());
        Collections.shuffle(shuffled, new Random(seed));

        var first = Placement.place(guestNodes, topology);
        var second = Placement.place(guestNodes, new NumaTopology(topology.nodeName(), shuffled));

        assertThat(describe(second)).isEqualTo(describe(first));
    }

    @Property
    void neverChoosesAHostNodeWithoutMemory(
            @ForAll("automaticGuestNodes") List<GuestNode> guestNodes, @ForAll("topologies") NumaTopology topology) {
        if (Placement.place(guestNodes, topology) instanceof Placement.Placed placed) {
            for (GuestNodePlacement placement : placed.guestNodes()) {
                for (int id : placement.getHostNodes()) {
                    assertThat(topology.node(id))
                            .hasValueSatisfying(
                                    node -> assertThat(node.hasMemory()).isTrue());
                }
            }
        }
    }

    @Property
    void boundMemoryNeverExceedsWhatIsFree(
            @ForAll("automaticGuestNodes") List<GuestNode> guestNodes, @ForAll("topologies") NumaTopology topology) {
        List<GuestNode> bound = guestNodes.stream()
                .map(guestNode -> new GuestNode(guestNode.id(), MemoryPolicy.Bind, null, guestNode.sizeBytes()))
                .toList();
        if (Placement.place(bound, topology) instanceof Placement.Placed placed) {
            Map<Integer, Long> singleNodeDemand = new HashMap<>();
            for (int i = 0; i < bound.size(); i++) {
                List<Integer> hostNodes = placed.guestNodes().get(i).getHostNodes();
                if (hostNodes.size() == 1) {
                    singleNodeDemand.merge(hostNodes.getFirst(), bound.get(i).sizeBytes(), Long::sum);
                }
            }
            singleNodeDemand.forEach((id, demand) -> assertThat(demand)
                    .isLessThanOrEqualTo(topology.node(id).orElseThrow().memFreeBytes()));
        }
    }

    @Property
    void distinctGuestNodesGetDistinctHostNodesWhenThereAreEnough(
            @ForAll @IntRange(min = 1, max = 8) int guestNodeCount, @ForAll("topologies") NumaTopology topology) {
        long withMemory = topology.nodes().stream().filter(NumaNode::hasMemory).count();
        List<GuestNode> guestNodes = new ArrayList<>();
        for (int id = 0; id < guestNodeCount; id++) {
            guestNodes.add(new GuestNode(id, MemoryPolicy.Bind, null, 0));
        }
        if (guestNodeCount > withMemory) {
            return;
        }

        var placed = (Placement.Placed) Placement.place(guestNodes, topology);

        assertThat(placed.guestNodes())
                .extracting(placement -> placement.getHostNodes().getFirst())
                .doesNotHaveDuplicates();
    }

    private static Object describe(Placement.Result result) {
        return switch (result) {
            case Placement.Placed placed ->
                placed.guestNodes().stream()
                        .map(p -> p.getGuestNode() + ":" + p.getPolicy() + ":" + p.getHostNodes() + ":" + p.getReason())
                        .toList();
            case Placement.Unplaceable unplaceable -> unplaceable;
        };
    }
}
