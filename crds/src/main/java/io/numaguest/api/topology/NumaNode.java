package io.numaguest.api.topology;

import java.util.List;
import java.util.Map;

/**
 * One host NUMA node as a node's NodeResourceTopology describes it.
 *
 * @param cpus how many CPUs the node has
 * @param distances SLIT distance to host nodes by id; the kernel's defaults (10 local, 20 remote)
 *     stand in for missing entries
 * @param allowed whether the agent of the node may place memory on it (its cpuset's mems)
 */
public record NumaNode(
        int id,
        long memTotalBytes,
        long memFreeBytes,
        int cpus,
        Map<Integer, Integer> distances,
        List<HugePages> hugepages,
        boolean allowed) {

    static final int LOCAL_DISTANCE = 10;
    static final int REMOTE_DISTANCE = 20;

    /** Huge pages of one size on this node, in bytes. */
    public record HugePages(long pageSizeBytes, long totalBytes, long freeBytes) {}

    public NumaNode {
        distances = Map.copyOf(distances);
        hugepages = List.copyOf(hugepages);
    }

    public boolean hasMemory() {
        return memTotalBytes > 0;
    }

    public int distanceTo(int other) {
        return distances.getOrDefault(other, other == id ? LOCAL_DISTANCE : REMOTE_DISTANCE);
    }

    /** The same node with this much free memory. */
    public NumaNode withMemFree(long bytes) {
        return new NumaNode(id, memTotalBytes, bytes, cpus, distances, hugepages, allowed);
    }
}
