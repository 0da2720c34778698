package io.numaguest.agent.memory;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.Errno;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.KernelModes;
import io.numaguest.agent.policy.PolicyFlag;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Collectors;

/**
 * Puts a guest node's policy on a region of guest memory with the mechanism its kind needs
 * ({@link MbindSharedPolicy}, {@link HugetlbPrefault}, {@link Fbind}), and reads back what a region holds.
 */
public final class RegionEnforcer {
    /**
     * Applies to one file are serialised (striped by inode), so that a concurrent apply from another
     * connection cannot slip between this one's mbind and its read-back.
     */
    private static final int LOCK_STRIPES = 64;

    private final MbindSharedPolicy mbind;
    private final HugetlbPrefault hugetlbPrefault;
    private final Optional<Fbind> fbind;
    private final ReentrantLock[] fileLocks = new ReentrantLock[LOCK_STRIPES];

    /**
     * @param fbindSyscall the fbind() syscall number of a patched kernel, or empty (the default: never call it)
     * @param canMoveAll   whether the agent has CAP_SYS_NICE, needed to move pages the VMM maps too
     */
    public RegionEnforcer(OptionalLong fbindSyscall, boolean canMoveAll) {
        this.mbind = new MbindSharedPolicy(canMoveAll);
        this.hugetlbPrefault = new HugetlbPrefault(canMoveAll);
        this.fbind = fbindSyscall.isPresent() ? Optional.of(new Fbind(fbindSyscall.getAsLong())) : Optional.empty();
        for (int i = 0; i < LOCK_STRIPES; i++) {
            fileLocks[i] = new ReentrantLock();
        }
    }

    public List<PolicyMechanism> mechanisms() {
        List<PolicyMechanism> available = new ArrayList<>(List.of(mbind.name(), hugetlbPrefault.name()));
        fbind.ifPresent(configured -> available.add(configured.name()));
        return available;
    }

    /** The range a request names, checked against the file; length null means "to the end". */
    public Extent range(GuestMemoryFile file, long offset, Long length) throws AgentException {
        long page = file.pageSizeBytes();
        long size = file.sizeBytes();
        if (offset % page != 0) {
            throw new AgentException(
                    ErrorCode.BAD_REQUEST,
                    "offset " + offset + " is not a multiple of the "
                            + file.kind().wireName() + " page size " + page);
        }
        long effectiveLength = length == null ? size - offset : length;
        if (effectiveLength <= 0) {
            throw new AgentException(
                    ErrorCode.BAD_REQUEST,
                    "the region is empty: the file is " + size + " bytes and the region starts at " + offset
                            + (size == 0 ? " (size the file with ftruncate first)" : ""));
        }
        if (effectiveLength % page != 0) {
            throw new AgentException(
                    ErrorCode.BAD_REQUEST,
                    "length " + effectiveLength + " is not a multiple of the "
                            + file.kind().wireName() + " page size " + page);
        }
        if (offset + effectiveLength > size || offset + effectiveLength < 0) {
            throw new AgentException(
                    ErrorCode.BAD_REQUEST,
                    "the region " + offset + "+" + effectiveLength + " ends past the end of the file (" + size
                            + " bytes)");
        }
        return new Extent(offset, effectiveLength);
    }

    /** Which mechanism the file needs; refuses memory whose kernel will not keep a policy. */
    public PolicyMechanism mechanismFor(GuestMemoryFile file) throws AgentException {
        return switch (file.kind()) {
            case MEMFD, SHMEM -> mbind.name();
            case HUGETLBFS -> hugetlbPrefault.name();
            case GUEST_MEMFD -> guestMemfdMechanism(file).name();
        };
    }

    private PlacementMechanism guestMemfdMechanism(GuestMemoryFile file) throws AgentException {
        String unsupported;
        if (!file.sharedPolicy()) {
            unsupported =
                    "this kernel's guest_memfd (an anonymous inode, before Linux 6.19) keeps no shared NUMA policy: "
                            + "mbind would set only the agent's own mapping, which guest_memfd allocation ignores; "
                            + "run Linux 6.19 or newer";
        } else {
            try (Mapping probe = Mapping.mapShared(file.fd(), 0, file.pageSizeBytes(), Mapping.Access.NONE)) {
                return mbind;
            } catch (NativeException e) {
                if (e.errno() != Errno.ENODEV) {
                    throw new AgentException(ErrorCode.UNSUPPORTED_MEMORY, "cannot map the guest_memfd", e);
                }
                unsupported = "the guest_memfd was created without GUEST_MEMFD_FLAG_MMAP (mmap gives ENODEV), so no "
                        + "policy can be set on it: the VMM must create it with that flag (KVM_CAP_GUEST_MEMFD_FLAGS)";
            }
        }
        if (fbind.isPresent()) {
            return fbind.get();
        }
        throw new AgentException(ErrorCode.UNSUPPORTED_MEMORY, unsupported);
    }

    /** Applies the policy; {@code mechanism} comes from {@link #mechanismFor} during validation. */
    public RegionOutcome apply(GuestMemoryFile file, Extent range, GuestNodePolicy policy, PolicyMechanism mechanism)
            throws AgentException {
        PlacementMechanism placement = switch (mechanism) {
            case MBIND -> mbind;
            case HUGETLB_PREFAULT -> hugetlbPrefault;
            case FBIND ->
                fbind.orElseThrow(
                        () -> new IllegalStateException("fbind was planned, but no syscall number is configured"));
        };
        ReentrantLock lock = fileLocks[Long.hashCode(file.inode()) & (LOCK_STRIPES - 1)];
        lock.lock();
        try {
            return placement.place(file, range, policy);
        } finally {
            lock.unlock();
        }
    }

    /** What the kernel says about the region now, without changing anything. */
    public RegionOutcome query(GuestMemoryFile file, Extent range) throws AgentException {
        if (file.kind() == FdKind.GUEST_MEMFD && mechanismFor(file) != PolicyMechanism.MBIND) {
            throw new AgentException(
                    ErrorCode.UNSUPPORTED_MEMORY, "this guest_memfd cannot be mapped, so its policy cannot be read");
        }
        PolicyReadBack readBack;
        try {
            readBack = PolicyReadBack.of(file, range);
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.INTERNAL, "get_mempolicy on a fresh mapping failed", e);
        }
        KernelPolicy observed = readBack.firstPage();
        List<String> notes = new ArrayList<>();
        if (!observed.equals(readBack.lastPage())) {
            notes.add("the policy differs within the region: its last page has "
                    + PolicyReadBack.describe(readBack.lastPage()));
        }
        MemoryPolicy policy = KernelModes.policyOf(observed.mode());
        List<Integer> nodes = policy.takesHostNodes() ? observed.nodes().nodes() : List.of();
        Set<PolicyFlag> flags = observed.flags().stream().map(PolicyFlag::of).collect(Collectors.toSet());
        if (file.kind() == FdKind.HUGETLBFS) {
            notes.add("hugetlbfs keeps no shared policy, so a fresh mapping always reads Default; "
                    + "where its huge pages are is not observable without faulting them");
        }
        return RegionOutcome.observed(file, policy, nodes, flags)
                .pagesByHostNode(PageCounter.pagesByHostNode(file, range, nodes, notes))
                .notes(notes)
                .build();
    }
}
