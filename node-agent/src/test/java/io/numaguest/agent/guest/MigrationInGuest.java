package io.numaguest.agent.guest;

import static io.numaguest.agent.guest.GuestVms.MIGRATE_TO_1;
import static io.numaguest.agent.guest.GuestVms.MIGRATE_TO_1_UNPRIVILEGED;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * migrate: true on memory a VMM already touched and keeps mapped: pages start on node 0 (the
 * stand-in touches them from CPU 0) and must end on node 1. Moving pages another process maps
 * needs MPOL_MF_MOVE_ALL (CAP_SYS_NICE): an agent without it must say which pages stayed.
 */
@ExtendWith(GuestAgents.class)
class MigrationInGuest {
    private static final long PAGES = 16L * 1024 * 1024 / 4096;

    private final GuestAgents.Pair agents;

    MigrationInGuest(GuestAgents.Pair agents) {
        this.agents = agents;
    }

    @Test
    void pagesTheVmmKeepsMappedMoveToTheNewNode() throws Exception {
        VmmStandin.Run run = VmmStandin.runOrFail(
                agents.privileged().socket(),
                "cpu",
                "0",
                "memfd",
                "16M",
                "touch",
                "census",
                "apply",
                MIGRATE_TO_1.vm(),
                "census");
        assertThat(run.pagesOn(0, 0))
                .as("before: the stand-in's pages start on node 0: %s", run.output())
                .isEqualTo(PAGES);
        JsonNode region = run.appliedRegion(0);
        assertThat(region.path("verified").asBoolean()).as(run.output()).isTrue();
        assertThat(region.path("pagesByHostNode").path("1").asLong())
                .as(run.output())
                .isEqualTo(PAGES);
        assertThat(run.pagesOn(1, 1))
                .as("after, in the VMM's own mapping: %s", run.output())
                .isEqualTo(PAGES);
    }

    @Test
    void anAgentWithoutSysNiceSaysWhichPagesStayed() throws Exception {
        VmmStandin.Run run = VmmStandin.runOrFail(
                agents.withoutSysNice().socket(),
                "cpu",
                "0",
                "memfd",
                "16M",
                "touch",
                "apply",
                MIGRATE_TO_1_UNPRIVILEGED.vm(),
                "census");
        JsonNode region = run.appliedRegion(0);
        assertThat(region.path("applied").asBoolean()).as(run.output()).isTrue();
        assertThat(region.path("notes").toString()).contains("CAP_SYS_NICE");
        // The response's count is the kernel's: the pages the VMM maps stayed on node 0.
        assertThat(run.pagesOn(0, 0)).as(run.output()).isEqualTo(PAGES);
        assertThat(region.path("pagesByHostNode").path("0").asLong())
                .as(run.output())
                .isEqualTo(PAGES);
        assertThat(region.path("pagesByHostNode").path("1").asLong()).isZero();
    }
}
