package io.numaguest.agent.memory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Collectors;

import io.numaguest.agent.nativeaccess.Errno;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.NumaMode;
import io.numaguest.agent.nativeaccess.PageCensus;
import io.numaguest.agent.nativeaccess.PageMove;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.agent.policy.PolicyFlag;
import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.policy.KernelModes;

/**
 * Puts a guest node's policy on a region of guest memory with the mechanism its kind needs, reads it
 * back through a fresh mapping, and counts where the region's pages are.
 */
public final class RegionEnforcer {
    /**
     * Applies to one file are serialised (striped by inode), so that a concurrent apply from another
     * connection cannot slip between this one's mbind and its read-back.
     */
    private static final int LOCK_STRIPES = 64;
    /** The most of a VM's memory the agent maps (and so holds resident) at once while counting its pages. */
    static final long CENSUS_WINDOW_BYTES = 32L << 20;

    private final OptionalLong fbindSyscall;
    private final boolean canMoveAll;
    private final ReentrantLock[] fileLocks = new ReentrantLock[LOCK_STRIPES];

    /**
     * @param fbindSyscall the fbind() syscall number of a patched kernel, or empty (the default: never call it)
     * @param canMoveAll   whether the agent has CAP_SYS_NICE, needed to move pages the VMM maps too
     */
    public RegionEnforcer(OptionalLong fbindSyscall, boolean canMoveAll) {
        this.fbindSyscall = fbindSyscall;
        this.canMoveAll = canMoveAll;
        for (int i = 0; i < LOCK_STRIPES; i++) {
            fileLocks[i] = new ReentrantLock();
        }
    }

    public List<PolicyMechanism> mechanisms() {
        List<PolicyMechanism> available = new ArrayList<>(List.of(PolicyMechanism.MBIND, PolicyMechanism.HUGETLB_PREFAULT));
        fbindSyscall.ifPresent(nr -> available.add(PolicyMechanism.FBIND));
        return available;
    }

    /** The range a request names, checked against the file; length null means "to the end". */
    public Extent range(GuestMemoryFile file, long offset, Long length) throws AgentException {
        long page = file.pageSizeBytes();
        long size = file.sizeBytes();
        if (offset % page != 0) {
            throw new AgentException(ErrorCode.BAD_REQUEST, "offset " + offset + " is not a multiple of the "
                    + file.kind().wireName() + " page size " + page);
        }
        long effectiveLength = length == null ? size - offset : length;
        if (effectiveLength <= 0) {
            throw new AgentException(ErrorCode.BAD_REQUEST, "the region is empty: the file is " + size
                    + " bytes and the region starts at " + offset + (size == 0 ? " (size the file with ftruncate first)" : ""));
        }
        if (effectiveLength % page != 0) {
            throw new AgentException(ErrorCode.BAD_REQUEST, "length " + effectiveLength + " is not a multiple of the "
                    + file.kind().wireName() + " page size " + page);
        }
        if (offset + effectiveLength > size || offset + effectiveLength < 0) {
            throw new AgentException(ErrorCode.BAD_REQUEST, "the region " + offset + "+" + effectiveLength
                    + " ends past the end of the file (" + size + " bytes)");
        }
        return new Extent(offset, effectiveLength);
    }

    /** Which mechanism the file needs; refuses memory whose kernel will not keep a policy. */
    public PolicyMechanism mechanismFor(GuestMemoryFile file) throws AgentException {
        return switch (file.kind()) {
            case MEMFD, SHMEM -> PolicyMechanism.MBIND;
            case HUGETLBFS -> PolicyMechanism.HUGETLB_PREFAULT;
            case GUEST_MEMFD -> guestMemfdMechanism(file);
        };
    }

    private PolicyMechanism guestMemfdMechanism(GuestMemoryFile file) throws AgentException {
        String unsupported;
        if (!file.sharedPolicy()) {
            unsupported = "this kernel's guest_memfd (an anonymous inode, before Linux 6.19) keeps no shared NUMA policy: "
                    + "mbind would set only the agent's own mapping, which guest_memfd allocation ignores; "
                    + "run Linux 6.19 or newer";
        } else {
            try (Mapping probe = Mapping.mapShared(file.fd(), 0, file.pageSizeBytes(), Mapping.Access.NONE)) {
                return PolicyMechanism.MBIND;
            } catch (NativeException e) {
                if (e.errno() != Errno.ENODEV) {
                    throw new AgentException(ErrorCode.UNSUPPORTED_MEMORY, "cannot map the guest_memfd", e);
                }
                unsupported = "the guest_memfd was created without GUEST_MEMFD_FLAG_MMAP (mmap gives ENODEV), so no "
                        + "policy can be set on it: the VMM must create it with that flag (KVM_CAP_GUEST_MEMFD_FLAGS)";
            }
        }
        if (fbindSyscall.isPresent()) {
            return PolicyMechanism.FBIND;
        }
        throw new AgentException(ErrorCode.UNSUPPORTED_MEMORY, unsupported);
    }

    /** Applies the policy; {@code mechanism} comes from {@link #mechanismFor} during validation. */
    public RegionOutcome apply(GuestMemoryFile file, Extent range, GuestNodePolicy policy, PolicyMechanism mechanism)
            throws AgentException {
        ReentrantLock lock = fileLocks[Long.hashCode(file.inode()) & (LOCK_STRIPES - 1)];
        lock.lock();
        try {
            return switch (mechanism) {
                case MBIND -> applyByMbind(file, range, policy);
                case HUGETLB_PREFAULT -> applyByPrefault(file, range, policy);
                case FBIND -> applyByFbind(file, policy);
            };
        } finally {
            lock.unlock();
        }
    }

    private RegionOutcome applyByMbind(GuestMemoryFile file, Extent range, GuestNodePolicy policy) throws AgentException {
        KernelPolicy wanted = policy.toKernel();
        List<String> notes = new ArrayList<>();
        PageMove move = PageMove.NONE;
        if (policy.migrate()) {
            if (file.kind() == FdKind.GUEST_MEMFD) {
                notes.add("guest_memfd pages cannot move: the policy governs only memory allocated from now on");
            } else {
                move = canMoveAll ? PageMove.MOVE_ALL : PageMove.MOVE;
                if (!canMoveAll) {
                    notes.add("pages the VMM maps too were not moved: that needs CAP_SYS_NICE (MPOL_MF_MOVE_ALL)");
                }
            }
        }
        List<Extent> resident;
        try {
            resident = move == PageMove.NONE || file.allocatedBytes() == 0 ? List.of()
                    : KernelFiles.dataExtents(file.fd(), range.offset(), range.length());
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.INTERNAL, "finding the region's allocated pages (SEEK_DATA) failed", e);
        }
        try (Mapping mapping = map(file, range, resident.isEmpty() ? Mapping.Access.NONE : Mapping.Access.READ)) {
            // MPOL_MF_MOVE moves only pages present in this mapping's page tables: fault in those the file has.
            for (Extent extent : resident) {
                mapping.populate(extent.offset() - range.offset(), extent.length(), false);
            }
            mapping.bind(wanted, move);
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.POLICY_REJECTED, "mbind(" + policy.policy() + " " + policy.hostNodes()
                    + ") refused", e);
        }
        KernelPolicy[] readBack;
        try {
            readBack = readBack(file, range);
        } catch (NativeException e) {
            // The policy is set (mbind returned 0); only the proof is missing.
            notes.add("the policy could not be read back, so it is not verified: " + e.getMessage());
            return new RegionOutcome(file.kind(), policy.policy(), policy.hostNodes(), policy.flags(), PolicyMechanism.MBIND,
                    false, file.pageSizeBytes(), pagesByHostNode(file, range, policy.hostNodes(), notes), notes);
        }
        for (KernelPolicy observed : readBack) {
            if (!matches(wanted, observed)) {
                ErrorCode code = file.kind() == FdKind.GUEST_MEMFD ? ErrorCode.UNSUPPORTED_MEMORY : ErrorCode.POLICY_REJECTED;
                throw new AgentException(code, "the kernel did not keep the policy: a fresh mapping reads "
                        + describe(observed) + " where " + describe(wanted) + " was set"
                        + (code == ErrorCode.UNSUPPORTED_MEMORY ? "; this kernel's guest_memfd keeps no shared policy" : ""));
            }
        }
        if (file.allocatedBytes() > 0) {
            if (file.kind() == FdKind.GUEST_MEMFD) {
                notes.add("the guest_memfd already had " + file.allocatedBytes() + " bytes allocated; those pages cannot "
                        + "move and keep the placement they were allocated with");
            } else if (move == PageMove.NONE) {
                notes.add("pages allocated before this policy were not moved (migrate: false)");
            }
        }
        return new RegionOutcome(file.kind(), policy.policy(), policy.hostNodes(), policy.flags(), PolicyMechanism.MBIND,
                true, file.pageSizeBytes(), pagesByHostNode(file, range, policy.hostNodes(), notes), notes);
    }

    private RegionOutcome applyByPrefault(GuestMemoryFile file, Extent range, GuestNodePolicy policy) throws AgentException {
        KernelPolicy wanted = policy.toKernel();
        List<String> notes = new ArrayList<>(List.of("hugetlbfs keeps no shared policy: the agent allocated the region's "
                + "huge pages now, in its own mapping, under the policy; they stay in the file"));
        String hugePages = range.length() / file.pageSizeBytes() + " huge pages of " + file.pageSizeBytes() + " bytes";
        Mapping mapping;
        try {
            mapping = map(file, range, Mapping.Access.READ_WRITE);
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.POLICY_REJECTED, "could not reserve " + hugePages + " (mmap; is the huge page "
                    + "pool large enough, see nr_hugepages, and does the agent's hugetlb cgroup allow them?)", e);
        }
        PageCensus census = null;
        try (mapping) {
            try {
                mapping.bind(wanted, PageMove.NONE);
            } catch (NativeException e) {
                throw new AgentException(ErrorCode.POLICY_REJECTED, "mbind(" + policy.policy() + " " + policy.hostNodes()
                        + ") on hugetlbfs refused", e);
            }
            try {
                mapping.populate(0, range.length(), true);
            } catch (NativeException e) {
                throw new AgentException(ErrorCode.POLICY_REJECTED, "could not allocate " + hugePages + " under "
                        + policy.policy() + " " + policy.hostNodes() + " (is the huge page pool of those nodes large enough?)", e);
            }
            if (policy.migrate()) {
                // Pages that existed before were only mapped by the populate above; move them now.
                tryMove(mapping, wanted, notes);
            }
            try {
                census = mapping.census(file.pageSizeBytes(), List.of(new Extent(0, range.length())));
            } catch (NativeException e) {
                notes.add("the huge pages are allocated but could not be counted (move_pages), so they are not verified: "
                        + e.getMessage());
            }
        } catch (NativeException e) {
            notes.add("unmapping the agent's mapping failed: " + e.getMessage());
        }
        if (census == null) {
            return new RegionOutcome(file.kind(), policy.policy(), policy.hostNodes(), policy.flags(),
                    PolicyMechanism.HUGETLB_PREFAULT, false, file.pageSizeBytes(), null, notes);
        }
        Set<Integer> outside = new HashSet<>(census.pagesByNode().keySet());
        if (policy.policy().takesHostNodes()) {
            outside.removeAll(policy.hostNodes());
        } else {
            outside.clear();
        }
        boolean verified = census.pagesNotPresent() == 0 && outside.isEmpty();
        if (!outside.isEmpty()) {
            notes.add("some huge pages were allocated on host nodes " + outside + " outside the policy's nodes");
        }
        return new RegionOutcome(file.kind(), policy.policy(), policy.hostNodes(), policy.flags(),
                PolicyMechanism.HUGETLB_PREFAULT, verified, file.pageSizeBytes(),
                withPolicyNodes(census.pagesByNode(), policy.hostNodes()), notes);
    }

    private RegionOutcome applyByFbind(GuestMemoryFile file, GuestNodePolicy policy) throws AgentException {
        try {
            KernelFiles.fbind(fbindSyscall.orElseThrow(), file.fd(), policy.toKernel());
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.POLICY_REJECTED, "fbind (syscall " + fbindSyscall.getAsLong() + ") refused", e);
        }
        return new RegionOutcome(file.kind(), policy.policy(), policy.hostNodes(), policy.flags(), PolicyMechanism.FBIND,
                false, file.pageSizeBytes(), null,
                List.of("fbind's policy cannot be read back: the kernel accepted it, nothing verified it"));
    }

    /** What the kernel says about the region now, without changing anything. */
    public RegionOutcome query(GuestMemoryFile file, Extent range) throws AgentException {
        if (file.kind() == FdKind.GUEST_MEMFD && mechanismFor(file) != PolicyMechanism.MBIND) {
            throw new AgentException(ErrorCode.UNSUPPORTED_MEMORY, "this guest_memfd cannot be mapped, so its policy cannot be read");
        }
        KernelPolicy[] readBack;
        try {
            readBack = readBack(file, range);
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.INTERNAL, "get_mempolicy on a fresh mapping failed", e);
        }
        KernelPolicy observed = readBack[0];
        List<String> notes = new ArrayList<>();
        if (!observed.equals(readBack[1])) {
            notes.add("the policy differs within the region: its last page has " + describe(readBack[1]));
        }
        MemoryPolicy policy = KernelModes.policyOf(observed.mode());
        List<Integer> nodes = policy.takesHostNodes() ? observed.nodes().nodes() : List.of();
        Set<PolicyFlag> flags = observed.flags().stream().map(PolicyFlag::of).collect(Collectors.toSet());
        if (file.kind() == FdKind.HUGETLBFS) {
            notes.add("hugetlbfs keeps no shared policy, so a fresh mapping always reads Default; "
                    + "where its huge pages are is not observable without faulting them");
        }
        return new RegionOutcome(file.kind(), policy, nodes, flags, null, false, file.pageSizeBytes(),
                pagesByHostNode(file, range, nodes, notes), notes);
    }

    private void tryMove(Mapping mapping, KernelPolicy wanted, List<String> notes) {
        try {
            mapping.bind(wanted, canMoveAll ? PageMove.MOVE_ALL : PageMove.MOVE);
        } catch (NativeException e) {
            notes.add("pages allocated before could not be moved: " + e.getMessage());
        }
    }

    /** The policy at the first and the last page of the range, read through a mapping of its own. */
    private static KernelPolicy[] readBack(GuestMemoryFile file, Extent range) throws NativeException {
        try (Mapping fresh = map(file, range, Mapping.Access.NONE)) {
            return new KernelPolicy[] {fresh.policyAt(0), fresh.policyAt(range.length() - file.pageSizeBytes())};
        }
    }

    /**
     * Resident pages per host node for tmpfs memory (a fresh mapping, faulting in only pages the file
     * already has); every node of the policy appears, with 0 if nothing is there. Null where pages
     * cannot be seen without allocating them (hugetlbfs) or are in no page table (guest_memfd).
     */
    private static SortedMap<Integer, Long> pagesByHostNode(GuestMemoryFile file, Extent range, List<Integer> policyNodes,
                                                            List<String> notes) {
        if (file.kind() != FdKind.MEMFD && file.kind() != FdKind.SHMEM) {
            return null;
        }
        try {
            List<Extent> resident = file.allocatedBytes() == 0 ? List.of() // st_blocks: no pages at all, nothing to look for
                    : KernelFiles.dataExtents(file.fd(), range.offset(), range.length());
            return resident.isEmpty() ? withPolicyNodes(new TreeMap<>(), policyNodes) : census(file, resident, policyNodes);
        } catch (NativeException e) {
            notes.add("the region's pages could not be counted: " + e.getMessage());
            return null;
        }
    }

    /**
     * Counts the resident pages window by window (map, fault in, count, unmap): the pages are the
     * VM's, and faulting them all into one mapping would make the agent's resident set as large as
     * the VM's memory. At most {@link #CENSUS_WINDOW_BYTES} of it is mapped at a time.
     */
    private static SortedMap<Integer, Long> census(GuestMemoryFile file, List<Extent> resident, List<Integer> policyNodes)
            throws NativeException {
        TreeMap<Integer, Long> counted = new TreeMap<>();
        for (Extent extent : resident) {
            for (long start = extent.offset(); start < extent.end(); start += CENSUS_WINDOW_BYTES) {
                long length = Math.min(CENSUS_WINDOW_BYTES, extent.end() - start);
                try (Mapping window = Mapping.mapShared(file.fd(), start, length, Mapping.Access.READ)) {
                    window.populate(0, length, false);
                    window.census(file.pageSizeBytes(), List.of(new Extent(0, length))).pagesByNode()
                            .forEach((node, pages) -> counted.merge(node, pages, Long::sum));
                }
            }
        }
        return withPolicyNodes(counted, policyNodes);
    }

    private static SortedMap<Integer, Long> withPolicyNodes(SortedMap<Integer, Long> counted, List<Integer> policyNodes) {
        TreeMap<Integer, Long> all = new TreeMap<>(counted);
        policyNodes.forEach(node -> all.putIfAbsent(node, 0L));
        return all;
    }

    private static Mapping map(GuestMemoryFile file, Extent range, Mapping.Access access) throws NativeException {
        return Mapping.mapShared(file.fd(), range.offset(), range.length(), access);
    }

    /** Whether a read-back policy is the one set. Older kernels report Local as Preferred with no nodes. */
    static boolean matches(KernelPolicy wanted, KernelPolicy observed) {
        if (wanted.mode() == NumaMode.LOCAL && observed.mode() == NumaMode.PREFERRED && observed.nodes().isEmpty()) {
            return true;
        }
        return wanted.equals(observed);
    }

    private static String describe(KernelPolicy policy) {
        MemoryPolicy named = KernelModes.policyOf(policy.mode());
        String flags = policy.flags().isEmpty() ? "" : " " + policy.flags().stream().map(PolicyFlag::of).map(Enum::name).sorted().toList();
        return named + (named.takesHostNodes() ? " " + policy.nodes() : "") + flags;
    }
}
