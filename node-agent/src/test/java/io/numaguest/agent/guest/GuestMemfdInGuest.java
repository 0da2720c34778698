package io.numaguest.agent.guest;

import static io.numaguest.agent.guest.GuestVms.GUEST_MEMFD_BIND_1;
import static io.numaguest.agent.guest.GuestVms.GUEST_MEMFD_PRIVATE_BIND_1;
import static io.numaguest.agent.guest.GuestVms.GUEST_MEMFD_UNMAPPABLE;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A real KVM guest_memfd (the stand-in creates a VM with KVM_CREATE_VM and the file with
 * KVM_CREATE_GUEST_MEMFD) on a kernel that keeps a shared policy on it (6.19+).
 */
@ExtendWith(GuestAgents.class)
class GuestMemfdInGuest {
    private static final long SIZE = 16L * 1024 * 1024;
    private static final long PAGES = SIZE / 4096;
    private static final int GUEST_MEMFD_FLAG_MMAP = 1;

    private final Path socket;

    GuestMemfdInGuest(GuestAgents.Pair agents) {
        socket = agents.privileged().socket();
    }

    private static void assertPlacedByMbind(VmmStandin.Run run) {
        assertThat(run.step("gmem").path("offeredFlags").asInt() & GUEST_MEMFD_FLAG_MMAP)
                .as("KVM_CAP_GUEST_MEMFD_FLAGS offers GUEST_MEMFD_FLAG_MMAP: %s", run.output())
                .isNotZero();
        JsonNode region = run.appliedRegion(0);
        assertThat(run.apply(0).path("ok").asBoolean()).as(run.output()).isTrue();
        assertThat(region.path("fdKind").asText()).isEqualTo("guest_memfd");
        assertThat(region.path("mechanism").asText()).isEqualTo("mbind");
        assertThat(region.path("verified").asBoolean()).as(run.output()).isTrue();
        // The VMM's own fresh mapping reads the shared policy back.
        assertThat(run.step("policy").path("first").path("mode").asInt())
                .as(run.output())
                .isEqualTo(2);
        assertThat(run.step("policy").path("first").path("nodes").toString()).isEqualTo("[1]");
    }

    @Test
    void sharedGuestMemoryFaultedInLandsOnTheBoundNode() throws Exception {
        VmmStandin.Run run = VmmStandin.runOrFail(
                socket,
                "cpu",
                "0",
                "gmem",
                "16M",
                "mmap,shared",
                "apply",
                GUEST_MEMFD_BIND_1.vm(),
                "policy",
                "touch",
                "census");
        assertPlacedByMbind(run);
        assertThat(run.pagesOn(1, 0)).as(run.output()).isEqualTo(PAGES);
    }

    @Test
    void privateGuestMemoryAllocatedThroughTheFileLandsOnTheBoundNode() throws Exception {
        // Without INIT_SHARED the memory is private: no page table shows it, so count per node in
        // meminfo (guest_memfd folios are unevictable) around an fallocate, the path a guest fault takes.
        VmmStandin.Run run = VmmStandin.runOrFail(
                socket,
                "cpu",
                "0",
                "gmem",
                "16M",
                "mmap",
                "apply",
                GUEST_MEMFD_PRIVATE_BIND_1.vm(),
                "policy",
                "nodes",
                "fallocate",
                "nodes");
        assertPlacedByMbind(run);
        long onNode1 = unevictableGrowthKiB(run, 1);
        long onNode0 = unevictableGrowthKiB(run, 0);
        // Per-node counters are folded in from per-CPU batches, so they may lag by a few pages.
        assertThat(onNode1).as("KiB added on node 1: %s", run.output()).isGreaterThanOrEqualTo(SIZE / 1024 * 9 / 10);
        assertThat(onNode0).as("KiB added on node 0: %s", run.output()).isLessThan(SIZE / 1024 / 4);
    }

    private static long unevictableGrowthKiB(VmmStandin.Run run, int node) {
        return run.step("nodes", 1)
                        .path("nodes")
                        .path(String.valueOf(node))
                        .path("unevictableKiB")
                        .asLong()
                - run.step("nodes", 0)
                        .path("nodes")
                        .path(String.valueOf(node))
                        .path("unevictableKiB")
                        .asLong();
    }

    @Test
    void aGuestMemfdCreatedWithoutMmapIsRefusedWithTheReason() throws Exception {
        VmmStandin.Run run = VmmStandin.runOrFail(socket, "gmem", "16M", "0", "apply", GUEST_MEMFD_UNMAPPABLE.vm());
        JsonNode response = run.apply(0);
        assertThat(response.path("ok").asBoolean()).as(run.output()).isFalse();
        assertThat(response.path("error").path("code").asText()).isEqualTo("UNSUPPORTED_MEMORY");
        assertThat(response.path("error").path("message").asText()).contains("GUEST_MEMFD_FLAG_MMAP");
    }
}
