package io.numaguest.agent.topology;

import java.util.List;
import java.util.SortedSet;

/** One host NUMA node as sysfs describes it. {@code distances} is its row of the SLIT matrix. */
public record HostNode(
        int id,
        long memTotalBytes,
        long memFreeBytes,
        SortedSet<Integer> cpus,
        List<Integer> distances,
        List<HugePagePool> hugepages) {
    public HostNode {
        cpus = java.util.Collections.unmodifiableSortedSet(new java.util.TreeSet<>(cpus));
        distances = List.copyOf(distances);
        hugepages = List.copyOf(hugepages);
    }
}
