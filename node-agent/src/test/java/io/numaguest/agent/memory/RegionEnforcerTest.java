package io.numaguest.agent.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.Mapping;
import io.numaguest.agent.nativeaccess.NumaModeFlag;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.KernelModes;
import io.numaguest.agent.policy.PolicyFlag;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The real kernel: policies set by the enforcer are read back here through mappings of the test's own. */
class RegionEnforcerTest {
    private static final long MIB = 1 << 20;
    private static final long SIZE = 16 * MIB;

    private final RegionEnforcer enforcer = new RegionEnforcer(OptionalLong.empty(), true);
    private int fd = -1;

    @BeforeEach
    void createGuestRam() throws Exception {
        fd = KernelFiles.memfdCreate("guest-ram", KernelFiles.MFD_CLOEXEC);
        KernelFiles.ftruncate(fd, SIZE);
    }

    @AfterEach
    void closeGuestRam() {
        KernelFiles.close(fd);
    }

    private static GuestNodePolicy policy(MemoryPolicy policy, boolean migrate) {
        return new GuestNodePolicy(0, policy, policy.takesHostNodes() ? List.of(0) : List.of(), Set.of(), migrate);
    }

    private RegionOutcome apply(GuestNodePolicy policy, long offset, Long length) throws AgentException {
        GuestMemoryFile file = GuestMemoryFile.inspect(fd);
        Extent range = enforcer.range(file, offset, length);
        return enforcer.apply(file, range, policy, enforcer.mechanismFor(file));
    }

    private KernelPolicy policyInAFreshMappingAt(long offset) throws Exception {
        try (Mapping mine = Mapping.mapShared(fd, 0, SIZE, Mapping.Access.READ)) {
            return mine.policyAt(offset);
        }
    }

    @ParameterizedTest
    @EnumSource(MemoryPolicy.class)
    void everyPolicyIsAppliedAndVerifiedOnAMemfd(MemoryPolicy memoryPolicy) throws Exception {
        GuestNodePolicy wanted = policy(memoryPolicy, false);
        RegionOutcome outcome = apply(wanted, 0, null);

        assertThat(outcome.mechanism()).isEqualTo(PolicyMechanism.MBIND);
        assertThat(outcome.verified()).isTrue();
        assertThat(outcome.kind()).isEqualTo(FdKind.MEMFD);
        KernelPolicy readBack = policyInAFreshMappingAt(SIZE - 4096);
        assertThat(KernelModes.policyOf(readBack.mode())).isEqualTo(memoryPolicy);
        assertThat(readBack.nodes().nodes()).containsExactlyElementsOf(wanted.hostNodes());
    }

    @Test
    void bindShowsInNumaMapsOfAnotherMappingAfterTheAgentsIsGone() throws Exception {
        apply(policy(MemoryPolicy.Bind, false), 0, null);
        try (Mapping mine = Mapping.mapShared(fd, 0, SIZE, Mapping.Access.READ)) {
            assertThat(Files.readString(Path.of("/proc/self/numa_maps"))).contains("bind:0 file=/memfd:guest-ram");
        }
    }

    @Test
    void staticNodesFlagIsKeptByTheKernel() throws Exception {
        apply(
                new GuestNodePolicy(0, MemoryPolicy.Interleave, List.of(0), EnumSet.of(PolicyFlag.StaticNodes), false),
                0,
                null);
        assertThat(policyInAFreshMappingAt(0).flags()).containsExactly(NumaModeFlag.STATIC_NODES);
    }

    @Test
    void aRegionGetsItsPolicyAndTheRestOfTheFileKeepsItsOwn() throws Exception {
        apply(policy(MemoryPolicy.Bind, false), 4 * MIB, 4 * MIB);
        assertThat(KernelModes.policyOf(policyInAFreshMappingAt(0).mode())).isEqualTo(MemoryPolicy.Default);
        assertThat(KernelModes.policyOf(policyInAFreshMappingAt(4 * MIB).mode()))
                .isEqualTo(MemoryPolicy.Bind);
        assertThat(KernelModes.policyOf(policyInAFreshMappingAt(8 * MIB).mode()))
                .isEqualTo(MemoryPolicy.Default);
    }

    @Test
    void residentPagesAreCountedPerHostNode() throws Exception {
        try (Mapping vmm = Mapping.mapShared(fd, 0, SIZE, Mapping.Access.READ_WRITE)) {
            vmm.populate(0, 100 * 4096, true);
            RegionOutcome outcome = apply(policy(MemoryPolicy.Bind, false), 0, null);
            assertThat(outcome.pagesByHostNode())
                    .containsExactlyEntriesOf(new java.util.TreeMap<>(java.util.Map.of(0, 100L)));
            assertThat(outcome.notes()).anyMatch(note -> note.contains("not moved"));
        }
    }

    /** One node here: this checks the counting and the notes; MigrationInGuest checks a real move to node 1. */
    @Test
    void migrateMovesPagesTheFileAlreadyHasAndSaysNothingWasLeftBehind() throws Exception {
        try (Mapping vmm = Mapping.mapShared(fd, 0, SIZE, Mapping.Access.READ_WRITE)) {
            vmm.populate(0, 2 * MIB, true);
        }
        RegionOutcome outcome = apply(policy(MemoryPolicy.Bind, true), 0, null);
        assertThat(outcome.verified()).isTrue();
        assertThat(outcome.pagesByHostNode()).containsEntry(0, 512L);
        assertThat(outcome.notes()).noneMatch(note -> note.contains("not moved"));
    }

    @Test
    void withoutCapSysNiceMigrationSaysWhatItCouldNotMove() throws Exception {
        RegionEnforcer unprivileged = new RegionEnforcer(OptionalLong.empty(), false);
        GuestMemoryFile file = GuestMemoryFile.inspect(fd);
        RegionOutcome outcome = unprivileged.apply(
                file, unprivileged.range(file, 0, null), policy(MemoryPolicy.Bind, true), PolicyMechanism.MBIND);
        assertThat(outcome.notes()).anyMatch(note -> note.contains("CAP_SYS_NICE"));
    }

    @Test
    void aNodeTheHostLacksIsRefusedByTheKernelWithEinval() throws Exception {
        int missing = 1
                + new io.numaguest.agent.topology.SysfsTopology(
                                io.numaguest.agent.topology.SysfsTopology.NODE_ROOT,
                                io.numaguest.agent.topology.SysfsTopology.SELF_STATUS)
                        .read()
                        .nodeIds()
                        .last();
        GuestNodePolicy onMissing = new GuestNodePolicy(0, MemoryPolicy.Bind, List.of(missing), Set.of(), false);
        assertThatThrownBy(() -> apply(onMissing, 0, null)).isInstanceOfSatisfying(AgentException.class, e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.POLICY_REJECTED);
            assertThat(e.errno()).isEqualTo(22);
            assertThat(e.getMessage()).contains("[" + missing + "]");
        });
        assertThat(KernelModes.policyOf(policyInAFreshMappingAt(0).mode())).isEqualTo(MemoryPolicy.Default);
    }

    @Test
    void rangesMustBePageAlignedAndInsideTheFile() throws Exception {
        GuestMemoryFile file = GuestMemoryFile.inspect(fd);
        assertThatThrownBy(() -> enforcer.range(file, 100, null)).hasMessageContaining("offset 100");
        assertThatThrownBy(() -> enforcer.range(file, 0, 4097L)).hasMessageContaining("length 4097");
        assertThatThrownBy(() -> enforcer.range(file, 0, SIZE + 4096)).hasMessageContaining("past the end");
        assertThatThrownBy(() -> enforcer.range(file, SIZE, null)).hasMessageContaining("empty");
        assertThat(enforcer.range(file, 4096, null)).isEqualTo(new Extent(4096, SIZE - 4096));
    }

    @Test
    void queryReportsWhatTheKernelHolds() throws Exception {
        apply(new GuestNodePolicy(0, MemoryPolicy.PreferredMany, List.of(0), Set.of(), false), 0, 8 * MIB);
        GuestMemoryFile file = GuestMemoryFile.inspect(fd);
        RegionOutcome observed = enforcer.query(file, new Extent(0, 8 * MIB));
        assertThat(observed.policy()).isEqualTo(MemoryPolicy.PreferredMany);
        assertThat(observed.hostNodes()).containsExactly(0);
        assertThat(observed.mechanism()).isNull();
        RegionOutcome spanning = enforcer.query(file, new Extent(0, SIZE));
        assertThat(spanning.notes()).anyMatch(note -> note.contains("differs within the region"));
    }

    /** One node here: node 0 is also where no policy puts them; HugetlbfsInGuest checks node 1's pool. */
    @Test
    void hugetlbfsIsPrefaultedOnThePolicysNodes() throws Exception {
        long free = Long.parseLong(Files.readString(Path.of("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"))
                .trim());
        Assumptions.assumeTrue(
                free >= 8,
                "skipped: this host has " + free + " free 2 MiB huge pages, the test needs 8 "
                        + "(echo 64 > /proc/sys/vm/nr_hugepages; .ci/run does this)");
        int huge = KernelFiles.memfdCreate("guest-ram-huge", KernelFiles.MFD_CLOEXEC | KernelFiles.MFD_HUGETLB);
        try {
            KernelFiles.ftruncate(huge, 8 * 2 * MIB);
            GuestMemoryFile file = GuestMemoryFile.inspect(huge);
            assertThat(file.kind()).isEqualTo(FdKind.HUGETLBFS);
            assertThatThrownBy(() -> enforcer.range(file, 4096, null)).hasMessageContaining("page size 2097152");
            RegionOutcome outcome = enforcer.apply(
                    file, enforcer.range(file, 0, null), policy(MemoryPolicy.Bind, false), enforcer.mechanismFor(file));
            assertThat(outcome.mechanism()).isEqualTo(PolicyMechanism.HUGETLB_PREFAULT);
            assertThat(outcome.verified()).isTrue();
            assertThat(outcome.pagesByHostNode()).containsEntry(0, 8L);
            assertThat(outcome.notes()).anyMatch(note -> note.contains("no shared policy"));
            assertThat(KernelFiles.fstat(huge).allocatedBytes()).isEqualTo(16 * MIB);
            RegionOutcome queried = enforcer.query(GuestMemoryFile.inspect(huge), new Extent(0, 16 * MIB));
            assertThat(queried.policy()).isEqualTo(MemoryPolicy.Default);
        } finally {
            KernelFiles.close(huge);
        }
    }
}
