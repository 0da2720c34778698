package io.numaguest.agent.memory;

import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NativeException;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Counts where a region's resident pages are, per host node, without allocating any: st_blocks 0
 * means there is nothing to count; otherwise SEEK_DATA/SEEK_HOLE finds the allocated extents, only
 * those are faulted into a mapping of the agent's (MADV_POPULATE_READ allocates nothing new), and
 * move_pages reports their nodes.
 */
final class PageCounter {
    /** The most of a VM's memory the agent maps (and so holds resident) at once while counting its pages. */
    static final long WINDOW_BYTES = 32L << 20;

    private PageCounter() {}

    /**
     * Resident pages per host node for tmpfs memory; every node of the policy appears, with 0 if
     * nothing is there. Null where pages cannot be seen without allocating them (hugetlbfs) or are
     * in no page table (guest_memfd), and when counting failed (said in {@code notes}).
     */
    static SortedMap<Integer, Long> pagesByHostNode(
            GuestMemoryFile file, Extent range, List<Integer> policyNodes, List<String> notes) {
        if (file.kind() != FdKind.MEMFD && file.kind() != FdKind.SHMEM) {
            return null;
        }
        try {
            List<Extent> resident = file.allocatedBytes() == 0
                    ? List.of() // st_blocks: no pages at all, nothing to look for
                    : KernelFiles.dataExtents(file.fd(), range.offset(), range.length());
            return withPolicyNodes(resident.isEmpty() ? new TreeMap<>() : countInWindows(file, resident), policyNodes);
        } catch (NativeException e) {
            notes.add("the region's pages could not be counted: " + e.getMessage());
            return null;
        }
    }

    /**
     * Window by window (map, fault in, count, unmap): the pages are the VM's, and faulting them all
     * into one mapping would make the agent's resident set as large as the VM's memory. At most
     * {@link #WINDOW_BYTES} of it is mapped at a time.
     */
    private static SortedMap<Integer, Long> countInWindows(GuestMemoryFile file, List<Extent> resident)
            throws NativeException {
        TreeMap<Integer, Long> counted = new TreeMap<>();
        for (Extent extent : resident) {
            for (long start = extent.offset(); start < extent.end(); start += WINDOW_BYTES) {
                long length = Math.min(WINDOW_BYTES, extent.end() - start);
                try (Mapping window = Mapping.mapShared(file.fd(), start, length, Mapping.Access.READ)) {
                    window.populate(0, length, false);
                    window.census(file.pageSizeBytes(), List.of(new Extent(0, length)))
                            .pagesByNode()
                            .forEach((node, pages) -> counted.merge(node, pages, Long::sum));
                }
            }
        }
        return counted;
    }

    /** The counts with every node of the policy present, 0 where none of the pages are. */
    static SortedMap<Integer, Long> withPolicyNodes(SortedMap<Integer, Long> counted, List<Integer> policyNodes) {
        TreeMap<Integer, Long> all = new TreeMap<>(counted);
        policyNodes.forEach(node -> all.putIfAbsent(node, 0L));
        return all;
    }
}
