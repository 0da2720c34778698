package io.numaguest.operator;

import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Host topologies shaped like real machines, for tests. */
final class Topologies {

    static final long GIB = 1L << 30;

    private Topologies() {}

    /**
     * Sockets of NUMA nodes: distance 10 to itself, 12 within a socket, 32 across sockets (as on
     * sub-NUMA-clustered two-socket servers).
     */
    static NumaTopology sockets(int sockets, int nodesPerSocket, long... freeGiB) {
        int count = sockets * nodesPerSocket;
        if (freeGiB.length != count) {
            throw new IllegalArgumentException("need the free memory of " + count + " nodes");
        }
        List<NumaNode> nodes = new ArrayList<>();
        for (int id = 0; id < count; id++) {
            Map<Integer, Integer> distances = new HashMap<>();
            for (int other = 0; other < count; other++) {
                boolean sameSocket = id / nodesPerSocket == other / nodesPerSocket;
                distances.put(other, id == other ? 10 : sameSocket ? 12 : 32);
            }
            long free = freeGiB[id] * GIB;
            nodes.add(new NumaNode(id, free == 0 ? 0 : 64 * GIB, free, 8, distances, List.of(), true));
        }
        return new NumaTopology("worker-1", nodes);
    }

    /** One socket, every node equally far from the others. */
    static NumaTopology flat(long... freeGiB) {
        return sockets(1, freeGiB.length, freeGiB);
    }
}
