package io.numaguest.agent.nativeaccess;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/**
 * A MAP_SHARED mapping of a file range in the agent's address space. The agent never reads or writes
 * guest memory through it: the mapping exists to name the file range to mbind(), get_mempolicy()
 * and move_pages(), which work on addresses, not on files. Unmapped on {@link #close()}.
 */
public final class Mapping implements AutoCloseable {
    public enum Access {
        /** Enough for mbind and get_mempolicy; also works for a file opened read-only. */
        NONE(Libc.PROT_NONE),
        READ(Libc.PROT_READ),
        READ_WRITE(Libc.PROT_READ | Libc.PROT_WRITE);

        final int prot;

        Access(int prot) {
            this.prot = prot;
        }
    }

    /** move_pages() is asked about this many pages per call, bounding the scratch arrays. */
    private static final int CENSUS_BATCH = 4096;

    private static final KernelPolicy LOCAL = new KernelPolicy(NumaMode.LOCAL, Set.of(), NodeMask.empty());

    private final long address;
    private final long length;
    private boolean unmapped;

    private Mapping(long address, long length) {
        this.address = address;
        this.length = length;
    }

    public static Mapping mapShared(int fd, long offset, long length, Access access) throws NativeException {
        return new Mapping(Libc.mmapShared(fd, offset, length, access.prot), length);
    }

    /** mbind(2) over the whole mapping. On shmem and guest_memfd this sets the file's shared policy. */
    public void bind(KernelPolicy policy, PageMove move) throws NativeException {
        checkRange(0, length);
        if (policy.mode() == NumaMode.DEFAULT) {
            // The kernel skips a VMA whose own policy already equals the new one, without telling the
            // file: MPOL_DEFAULT on a fresh mapping would leave an earlier shared policy in force. Set
            // Local first (what Default does for a task without a policy of its own), then Default.
            Libc.mbind(address, length, LOCAL, PageMove.NONE);
        }
        Libc.mbind(address, length, policy, move);
    }

    /** get_mempolicy(MPOL_F_ADDR): the policy in force at an offset, the shared policy included. */
    public KernelPolicy policyAt(long offset) throws NativeException {
        checkRange(offset, 1);
        return Libc.policyAt(address + offset);
    }

    /** MADV_POPULATE_READ/WRITE (Linux 5.14+): fault the range in without touching it from Java. */
    public void populate(long offset, long populateLength, boolean write) throws NativeException {
        checkRange(offset, populateLength);
        Libc.madvise(address + offset, populateLength, write ? Libc.MADV_POPULATE_WRITE : Libc.MADV_POPULATE_READ);
    }

    /**
     * Asks move_pages(2), without moving anything, which node holds each page of the given extents
     * (offsets within the mapping). Only pages present in this mapping's page tables are seen;
     * the others count as not present.
     */
    public PageCensus census(long pageSize, List<Extent> extents) throws NativeException {
        TreeMap<Integer, Long> byNode = new TreeMap<>();
        long notPresent = 0;
        long totalPages = 0;
        for (Extent extent : extents) {
            totalPages += (extent.length() + pageSize - 1) / pageSize;
        }
        int capacity = (int) Math.clamp(totalPages, 1, CENSUS_BATCH);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pages = arena.allocate(JAVA_LONG, capacity);
            MemorySegment status = arena.allocate(JAVA_INT, capacity);
            for (Extent extent : extents) {
                checkRange(extent.offset(), extent.length());
                long first = address + extent.offset();
                long count = (extent.length() + pageSize - 1) / pageSize;
                for (long done = 0; done < count; done += capacity) {
                    int batch = (int) Math.min(capacity, count - done);
                    for (int i = 0; i < batch; i++) {
                        pages.setAtIndex(JAVA_LONG, i, first + (done + i) * pageSize);
                    }
                    Libc.pageNodes(batch, pages, status);
                    for (int i = 0; i < batch; i++) {
                        int node = status.getAtIndex(JAVA_INT, i);
                        if (node >= 0) {
                            byNode.merge(node, 1L, Long::sum);
                        } else {
                            notPresent++; // -ENOENT: not in this mapping's page tables
                        }
                    }
                }
            }
        }
        return new PageCensus(byNode, notPresent);
    }

    private void checkRange(long offset, long rangeLength) {
        if (unmapped) {
            throw new IllegalStateException("mapping already unmapped");
        }
        if (offset < 0 || rangeLength < 0 || offset + rangeLength > length) {
            throw new IndexOutOfBoundsException(
                    "range " + offset + "+" + rangeLength + " outside mapping of " + length);
        }
    }

    @Override
    public void close() throws NativeException {
        if (unmapped) {
            return;
        }
        unmapped = true;
        Libc.munmap(address, length);
    }
}
