package io.numaguest.operator;

import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.topology.NumaZones;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.MigrationTarget;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import java.util.List;
import java.util.Optional;

/**
 * The NodeResourceTopology updates the NumaGuestMemories on its node depend on. The agent
 * republishes its node's free memory every minute, and a placement, once made, is kept and never
 * reads it again: such an update concerns only NGMs still waiting for a placement on that node (or
 * for one on a migration's target node). A change of the host nodes themselves (which exist, their
 * size, CPUs, distances, huge pages, whether the agent may use them) concerns every NGM there.
 */
final class TopologyChanges {

    private TopologyChanges() {}

    /** JOSDK's update filter, new resource first; {@code onNode}: the NGMs that hold or wait for memory on its node. */
    static boolean concernNgms(NodeResourceTopology updated, NodeResourceTopology old, List<NumaGuestMemory> onNode) {
        String node = updated.getMetadata().getName();
        return !withoutFreeMemory(NumaZones.read(updated)).equals(withoutFreeMemory(NumaZones.read(old)))
                || onNode.stream().anyMatch(ngm -> !placedOn(ngm, node));
    }

    private static Optional<List<NumaNode>> withoutFreeMemory(Optional<NumaTopology> topology) {
        return topology.map(t -> t.nodes().stream().map(n -> n.withMemFree(0)).toList());
    }

    /** Whether every placement the NGM needs on this node is made, and was checked against a topology. */
    private static boolean placedOn(NumaGuestMemory ngm, String node) {
        NumaGuestMemoryStatus status = ngm.getStatus();
        if (status == null) {
            return false;
        }
        if (node.equals(status.getNodeName()) && !placedWithTopology(status)) {
            return false;
        }
        MigrationTarget migration = status.getMigration();
        return migration == null || !node.equals(migration.getNodeName()) || migration.getPlacement() != null;
    }

    private static boolean placedWithTopology(NumaGuestMemoryStatus status) {
        return status.getPlacement() != null
                && !status.getPlacement().isEmpty()
                && StatusAssembler.condition(status, StatusAssembler.PLACED)
                        .filter(placed -> "True".equals(placed.getStatus()))
                        .filter(placed -> ConditionReason.Placed.name().equals(placed.getReason()))
                        .isPresent();
    }
}
