package io.numaguest.e2e;

import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.topology.NumaZones;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** NodeResourceTopologies as the agent publishes them (the contract's own writer), for tests that run no agent. */
final class PublishedTopologies {

    private PublishedTopologies() {}

    /**
     * One socket of host nodes, all the agent may use: distance 10 to itself and 21 to the others.
     *
     * @param freeBytes MemFree of each host node, in id order
     */
    static NodeResourceTopology flat(String nodeName, long memTotalBytes, int cpus, long... freeBytes) {
        List<NumaNode> nodes = new ArrayList<>();
        for (int id = 0; id < freeBytes.length; id++) {
            Map<Integer, Integer> distances = new HashMap<>();
            for (int other = 0; other < freeBytes.length; other++) {
                distances.put(other, id == other ? 10 : 21);
            }
            nodes.add(new NumaNode(id, memTotalBytes, freeBytes[id], cpus, distances, List.of(), true));
        }
        return NumaZones.nodeResourceTopology(new NumaTopology(nodeName, nodes));
    }
}
