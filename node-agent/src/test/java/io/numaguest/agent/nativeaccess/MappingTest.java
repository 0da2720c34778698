package io.numaguest.agent.nativeaccess;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Real kernel: memfd, mbind, get_mempolicy, move_pages and /proc/self/numa_maps. */
class MappingTest {
    private static final long MIB = 1 << 20;
    private int fd = -1;

    @BeforeEach
    void createMemfd() throws Exception {
        fd = KernelFiles.memfdCreate("mapping-test", KernelFiles.MFD_CLOEXEC);
        KernelFiles.ftruncate(fd, 8 * MIB);
    }

    @AfterEach
    void closeMemfd() {
        KernelFiles.close(fd);
    }

    private static KernelPolicy bindTo(int... nodes) {
        return new KernelPolicy(
                NumaMode.BIND,
                Set.of(),
                NodeMask.of(java.util.Arrays.stream(nodes).boxed().toList()));
    }

    @Test
    void sharedPolicyOutlivesTheMappingThatSetItAndShowsInAFreshOne() throws Exception {
        try (Mapping first = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.NONE)) {
            first.bind(bindTo(0), PageMove.NONE);
        }
        try (Mapping fresh = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.READ)) {
            KernelPolicy readBack = fresh.policyAt(0);
            assertThat(readBack.mode()).isEqualTo(NumaMode.BIND);
            assertThat(readBack.nodes().nodes()).containsExactly(0);
            assertThat(fresh.policyAt(8 * MIB - 4096).mode()).isEqualTo(NumaMode.BIND);
            String numaMaps = Files.readString(Path.of("/proc/self/numa_maps"));
            assertThat(numaMaps).containsPattern("bind:0 file=/memfd:mapping-test");
        }
    }

    @Test
    void defaultRemovesAnEarlierSharedPolicy() throws Exception {
        try (Mapping first = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.NONE)) {
            first.bind(bindTo(0), PageMove.NONE);
        }
        try (Mapping second = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.NONE)) {
            second.bind(new KernelPolicy(NumaMode.DEFAULT, Set.of(), NodeMask.of(List.of())), PageMove.NONE);
        }
        try (Mapping fresh = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.NONE)) {
            assertThat(fresh.policyAt(0).mode()).isEqualTo(NumaMode.DEFAULT);
            assertThat(fresh.policyAt(8 * MIB - 4096).mode()).isEqualTo(NumaMode.DEFAULT);
        }
    }

    @Test
    void policyCoversOnlyTheRangeItWasSetOn() throws Exception {
        try (Mapping half = Mapping.mapShared(fd, 4 * MIB, 4 * MIB, Mapping.Access.NONE)) {
            half.bind(new KernelPolicy(NumaMode.INTERLEAVE, Set.of(), NodeMask.of(List.of(0))), PageMove.NONE);
        }
        try (Mapping whole = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.NONE)) {
            assertThat(whole.policyAt(0).mode()).isEqualTo(NumaMode.DEFAULT);
            assertThat(whole.policyAt(4 * MIB).mode()).isEqualTo(NumaMode.INTERLEAVE);
        }
    }

    @Test
    void aNodeThatDoesNotExistIsRefusedWithEinval() throws Exception {
        int missing = Files.readString(Path.of("/sys/devices/system/node/possible"))
                        .trim()
                        .endsWith("0")
                ? 1
                : 1023;
        try (Mapping mapping = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.NONE)) {
            assertThatThrownBy(() -> mapping.bind(bindTo(missing), PageMove.NONE))
                    .isInstanceOfSatisfying(NativeException.class, e -> {
                        assertThat(e.errno()).isEqualTo(Errno.EINVAL);
                        assertThat(e.call()).isEqualTo("mbind");
                    });
        }
    }

    /** One node here, so this checks counting, not placement (PolicyModesInGuest does, on two nodes). */
    @Test
    void censusSeesPopulatedPagesOnTheirNode() throws Exception {
        try (Mapping mapping = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.READ_WRITE)) {
            mapping.bind(bindTo(0), PageMove.MOVE);
            mapping.populate(0, 2 * MIB, true);
            PageCensus census = mapping.census(4096, List.of(new Extent(0, 8 * MIB)));
            assertThat(census.pagesByNode()).containsEntry(0, 512L);
            assertThat(census.pagesNotPresent()).isEqualTo(1536);
        }
        assertThat(KernelFiles.dataExtents(fd, 0, 8 * MIB)).containsExactly(new Extent(0, 2 * MIB));
        assertThat(KernelFiles.fstat(fd).allocatedBytes()).isEqualTo(2 * MIB);
    }

    @Test
    void moveOfPagesAlreadyOnTheTargetSucceeds() throws Exception {
        try (Mapping writer = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.READ_WRITE)) {
            writer.populate(0, 8 * MIB, true);
        }
        try (Mapping mover = Mapping.mapShared(fd, 0, 8 * MIB, Mapping.Access.READ)) {
            mover.populate(0, 8 * MIB, false);
            mover.bind(bindTo(0), PageMove.MOVE);
            assertThat(mover.census(4096, List.of(new Extent(0, 8 * MIB))).pagesByNode())
                    .containsEntry(0, 2048L);
        }
    }

    @Test
    void classifiesAMemfdAsARegularFileOnTmpfs() throws Exception {
        assertThat(KernelFiles.fstatfs(fd).magic()).isEqualTo(FsStat.TMPFS_MAGIC);
        assertThat(KernelFiles.fstat(fd).isRegularFile()).isTrue();
        assertThat(KernelFiles.fstat(fd).sizeBytes()).isEqualTo(8 * MIB);
    }
}
