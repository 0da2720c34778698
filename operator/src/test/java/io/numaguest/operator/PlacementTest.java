package io.numaguest.operator;

import static io.numaguest.api.v1alpha1.MemoryPolicy.Bind;
import static io.numaguest.api.v1alpha1.MemoryPolicy.Default;
import static io.numaguest.api.v1alpha1.MemoryPolicy.Interleave;
import static io.numaguest.api.v1alpha1.MemoryPolicy.Local;
import static io.numaguest.api.v1alpha1.MemoryPolicy.Preferred;
import static io.numaguest.api.v1alpha1.MemoryPolicy.PreferredMany;
import static io.numaguest.operator.Topologies.GIB;
import static io.numaguest.operator.Topologies.flat;
import static io.numaguest.operator.Topologies.sockets;
import static org.assertj.core.api.Assertions.assertThat;

import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.List;
import org.junit.jupiter.api.Test;

class PlacementTest {

    private static GuestNode auto(int id, MemoryPolicy policy, long sizeGiB) {
        return new GuestNode(id, policy, null, sizeGiB * GIB);
    }

    private static GuestNode named(int id, MemoryPolicy policy, long sizeGiB, Integer... hostNodes) {
        return new GuestNode(id, policy, List.of(hostNodes), sizeGiB * GIB);
    }

    private static List<List<Integer>> hostNodes(Placement.Result result) {
        assertThat(result).isInstanceOf(Placement.Placed.class);
        return ((Placement.Placed) result)
                .guestNodes().stream().map(GuestNodePlacement::getHostNodes).toList();
    }

    private static Placement.Unplaceable unplaceable(Placement.Result result) {
        assertThat(result).isInstanceOf(Placement.Unplaceable.class);
        return (Placement.Unplaceable) result;
    }

    @Test
    void oneNodeHostTakesEveryGuestNodeThatFits() {
        var result = Placement.place(List.of(auto(0, Bind, 4), auto(1, Bind, 4)), flat(16));

        assertThat(hostNodes(result)).containsExactly(List.of(0), List.of(0));
    }

    @Test
    void oneNodeHostWithoutEnoughMemoryIsUnplaceable() {
        var result = unplaceable(Placement.place(List.of(auto(0, Bind, 4), auto(1, Bind, 4)), flat(6)));

        assertThat(result.reason()).isEqualTo(ConditionReason.NotEnoughMemory);
        assertThat(result.message()).contains("guest node 1 needs 4.0 GiB").contains("2.0 GiB free");
    }

    @Test
    void twoGuestNodesSpreadOverTwoHostNodes() {
        var result = Placement.place(List.of(auto(0, Bind, 4), auto(1, Bind, 4)), flat(16, 16));

        assertThat(hostNodes(result)).containsExactly(List.of(0), List.of(1));
    }

    @Test
    void firstChoiceIsTheHostNodeWithTheMostFreeMemory() {
        var result = Placement.place(List.of(auto(0, Bind, 4), auto(1, Bind, 4)), flat(8, 30));

        assertThat(hostNodes(result)).containsExactly(List.of(1), List.of(0));
    }

    @Test
    void guestNodesShareAHostNodeWhenOnlyOneFits() {
        var result = (Placement.Placed) Placement.place(List.of(auto(0, Bind, 4), auto(1, Bind, 4)), flat(2, 12));

        assertThat(hostNodes(result)).containsExactly(List.of(1), List.of(1));
        assertThat(result.guestNodes().get(1).getReason()).contains("shared");
    }

    @Test
    void guestNodesListedTogetherStayOnOneSocket() {
        // Node 3 (other socket) has the most free after node 0, but node 1 is on node 0's socket.
        var topology = sockets(2, 2, 40, 20, 10, 30);

        var result = Placement.place(List.of(auto(0, Bind, 4), auto(1, Bind, 4)), topology);

        assertThat(hostNodes(result)).containsExactly(List.of(0), List.of(1));
    }

    @Test
    void eightNodesFourGuestNodesFillTheSocketWithTheMostFreeNodeFirst() {
        var topology = sockets(2, 4, 10, 10, 10, 10, 50, 20, 20, 20);

        var result = Placement.place(
                List.of(auto(0, Bind, 8), auto(1, Bind, 8), auto(2, Bind, 8), auto(3, Bind, 8)), topology);

        assertThat(hostNodes(result)).containsExactly(List.of(4), List.of(5), List.of(6), List.of(7));
    }

    @Test
    void moreGuestNodesThanHostNodesWrapAroundCloseNodes() {
        var topology = sockets(2, 2, 100, 100, 100, 100);
        List<GuestNode> guestNodes =
                List.of(auto(0, Bind, 1), auto(1, Bind, 1), auto(2, Bind, 1), auto(3, Bind, 1), auto(4, Bind, 1));

        var result = hostNodes(Placement.place(guestNodes, topology));

        assertThat(result.subList(0, 4)).extracting(List::getFirst).containsExactlyInAnyOrder(0, 1, 2, 3);
        assertThat(result.get(4)).hasSize(1);
    }

    @Test
    void bindLargerThanAnyHostNodeBindsToACloseGroup() {
        var topology = sockets(2, 2, 10, 6, 8, 9);

        var result = (Placement.Placed) Placement.place(List.of(auto(0, Bind, 15)), topology);

        // Node 0 has the most; node 1 is on its socket; together 16 GiB.
        assertThat(result.guestNodes().getFirst().getHostNodes()).containsExactly(0, 1);
        assertThat(result.guestNodes().getFirst().getReason()).contains("no single host node");
    }

    @Test
    void preferredLargerThanAnyHostNodePrefersTheMostFree() {
        var result = (Placement.Placed) Placement.place(List.of(auto(0, Preferred, 15)), flat(10, 12));

        assertThat(result.guestNodes().getFirst().getHostNodes()).containsExactly(1);
    }

    @Test
    void notEnoughMemoryAnywhereIsUnplaceable() {
        var result = unplaceable(Placement.place(List.of(auto(0, Bind, 100)), sockets(2, 4, 4, 4, 4, 4, 4, 4, 4, 4)));

        assertThat(result.reason()).isEqualTo(ConditionReason.NotEnoughMemory);
        assertThat(result.message()).contains("guest node 0 needs 100.0 GiB").contains("32.0 GiB free");
    }

    @Test
    void interleaveSpreadsOverEveryHostNodeWithMemory() {
        var result = Placement.place(List.of(auto(0, Interleave, 0)), flat(8, 0, 8, 8));

        assertThat(hostNodes(result)).containsExactly(List.of(0, 2, 3));
    }

    @Test
    void hostNodesWithoutMemoryAreNeverChosen() {
        var result = Placement.place(List.of(auto(0, Bind, 0), auto(1, PreferredMany, 0)), flat(0, 5, 0, 3));

        assertThat(hostNodes(result)).containsExactly(List.of(1), List.of(3));
    }

    @Test
    void defaultAndLocalGetNoHostNodes() {
        var result = Placement.place(List.of(auto(0, Default, 4), auto(1, Local, 4)), flat(1));

        assertThat(hostNodes(result)).containsExactly(List.of(), List.of());
    }

    @Test
    void namedHostNodesAreKeptAndReservedBeforeChoosing() {
        // Guest node 1 names host node 1, the one with the most free, so guest node 0 goes elsewhere.
        var result = Placement.place(List.of(auto(0, Bind, 4), named(1, Bind, 4, 1)), flat(10, 20));

        assertThat(hostNodes(result)).containsExactly(List.of(0), List.of(1));
    }

    @Test
    void namedHostNodeThatDoesNotExistIsUnplaceable() {
        var result = unplaceable(Placement.place(List.of(named(0, Bind, 1, 4)), flat(8, 8)));

        assertThat(result.reason()).isEqualTo(ConditionReason.UnknownHostNode);
        assertThat(result.message())
                .isEqualTo("guest node 0: host node 4 does not exist on node worker-1 (host nodes: 0, 1)");
    }

    @Test
    void namedHostNodeWithoutMemoryIsUnplaceable() {
        var result = unplaceable(Placement.place(List.of(named(0, Bind, 0, 1)), flat(8, 0)));

        assertThat(result.message()).contains("host node 1 has no memory");
    }

    @Test
    void namedHostNodesWithTooLittleFreeMemoryAreUnplaceable() {
        var result = unplaceable(Placement.place(List.of(named(0, Bind, 6, 0), named(1, Bind, 6, 0)), flat(10, 10)));

        assertThat(result.message()).isEqualTo("guest node 1 needs 6.0 GiB but host nodes [0] have 4.0 GiB free");
    }

    @Test
    void everyProblemIsReported() {
        var result = unplaceable(Placement.place(List.of(named(0, Bind, 1, 9), auto(1, Bind, 50)), flat(8)));

        assertThat(result.message()).contains("guest node 0").contains("guest node 1");
    }

    /** Host node 1 has the most free memory but is outside the agent's cpuset: never chosen, refused by name. */
    @Test
    void hostNodesTheAgentMayNotUseAreNeverChosen() {
        var topology = Topologies.flat(8, 30, 8);
        var restricted = new NumaTopology(
                topology.nodeName(),
                topology.nodes().stream()
                        .map(node -> node.id() == 1
                                ? new NumaNode(
                                        1,
                                        node.memTotalBytes(),
                                        node.memFreeBytes(),
                                        node.cpus(),
                                        node.distances(),
                                        node.hugepages(),
                                        false)
                                : node)
                        .toList());

        assertThat(hostNodes(Placement.place(List.of(auto(0, Bind, 4), auto(1, Preferred, 4)), restricted)))
                .containsExactly(List.of(0), List.of(2));
        assertThat(hostNodes(Placement.place(List.of(auto(0, Interleave, 4)), restricted)))
                .containsExactly(List.of(0, 2));
        var named = unplaceable(Placement.place(List.of(named(0, Bind, 4, 1)), restricted));
        assertThat(named.reason()).isEqualTo(ConditionReason.HostNodeNotAllowed);
        assertThat(named.message())
                .contains("host node 1 is outside the numaguest agent's cpuset")
                .contains("allowed: 0, 2");
    }

    @Test
    void withoutTopologyNamedHostNodesArePlacedUnchecked() {
        var result = Placement.placeUnchecked(List.of(named(0, Bind, 4, 3), auto(1, Local, 0)), "worker-9");

        assertThat(result.guestNodes())
                .extracting(GuestNodePlacement::getHostNodes)
                .containsExactly(List.of(3), List.of());
        assertThat(result.guestNodes().getFirst().getReason())
                .contains("not checked")
                .contains("worker-9");
    }
}
