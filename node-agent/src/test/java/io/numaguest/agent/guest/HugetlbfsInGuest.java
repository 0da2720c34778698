package io.numaguest.agent.guest;

import static io.numaguest.agent.guest.GuestVms.HUGETLB_BIND_1;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * hugetlbfs keeps no shared policy: the agent allocates the huge pages itself, under the policy.
 * With huge pages reserved on both nodes, Bind {1} must take them from node 1's pool.
 */
@ExtendWith(GuestAgents.class)
class HugetlbfsInGuest {
    private static final String POOL = "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages";
    private static final int HUGE_PAGES = 4;

    private final Path socket;

    HugetlbfsInGuest(GuestAgents.Pair agents) {
        socket = agents.privileged().socket();
    }

    @BeforeAll
    static void reserveHugePagesOnBothNodes() throws Exception {
        for (int node = 0; node < 2; node++) {
            Files.writeString(Path.of(POOL.formatted(node)), "8");
            assertThat(Files.readString(Path.of(POOL.formatted(node))).trim())
                    .as("huge pages reserved on node %d", node)
                    .isEqualTo("8");
        }
    }

    @Test
    void hugePagesComeFromNode1sPool() throws Exception {
        VmmStandin.Run run = VmmStandin.runOrFail(
                socket,
                "cpu",
                "0",
                "hugetlb",
                HUGE_PAGES * 2 + "M",
                "nodes",
                "apply",
                HUGETLB_BIND_1.vm(),
                "nodes",
                "touch",
                "census");
        JsonNode region = run.appliedRegion(0);
        assertThat(region.path("fdKind").asText()).isEqualTo("hugetlbfs");
        assertThat(region.path("mechanism").asText()).isEqualTo("hugetlb-prefault");
        assertThat(region.path("verified").asBoolean()).as(run.output()).isTrue();
        assertThat(region.path("pagesByHostNode").path("1").asLong())
                .as(run.output())
                .isEqualTo(HUGE_PAGES);
        // Independently of the agent: node 1's pool shrank by the file's pages, node 0's did not ...
        JsonNode before = run.step("nodes", 0).path("nodes");
        JsonNode after = run.step("nodes", 1).path("nodes");
        assertThat(before.path("1").path("freeHugePages").asLong()
                        - after.path("1").path("freeHugePages").asLong())
                .as(run.output())
                .isEqualTo(HUGE_PAGES);
        assertThat(after.path("0").path("freeHugePages").asLong())
                .isEqualTo(before.path("0").path("freeHugePages").asLong());
        // ... and the VMM, mapping the file afterwards, finds its pages on node 1.
        assertThat(run.pagesOn(1, 0)).as(run.output()).isEqualTo(HUGE_PAGES);
    }
}
