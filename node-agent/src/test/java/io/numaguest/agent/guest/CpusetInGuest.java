package io.numaguest.agent.guest;

import static io.numaguest.agent.guest.GuestVms.CPUSET_BIND_0_1;
import static io.numaguest.agent.guest.GuestVms.CPUSET_BIND_1;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A shared policy is evaluated in the task that allocates, and the kernel confines it to that task's
 * cpuset mems: a VMM whose cgroup allows only node 0 cannot have memory on node 1, whatever the
 * agent sets, so the agent must not call such a placement verified.
 */
@ExtendWith(GuestAgents.class)
class CpusetInGuest {
    private static final Path CGROUP = Path.of("/sys/fs/cgroup/vmm-mems-0");
    private static final long PAGES = 16L * 1024 * 1024 / 4096;

    private final Path socket;

    CpusetInGuest(GuestAgents.Pair agents) {
        socket = agents.privileged().socket();
    }

    @BeforeAll
    static void cgroupWithMemsOfNode0() throws Exception {
        Files.createDirectories(CGROUP);
        Files.writeString(CGROUP.resolve("cpuset.cpus"), "0");
        Files.writeString(CGROUP.resolve("cpuset.mems"), "0");
        assertThat(Files.readString(CGROUP.resolve("cpuset.mems.effective")).trim())
                .isEqualTo("0");
    }

    @Test
    void bindToANodeOutsideTheVmmsCpusetIsRefused() throws Exception {
        VmmStandin.Run run =
                VmmStandin.runOrFail(socket, "cgroup", CGROUP.toString(), "memfd", "16M", "apply", CPUSET_BIND_1.vm());
        JsonNode response = run.apply(0);
        assertThat(response.path("ok").asBoolean()).as(run.output()).isFalse();
        assertThat(response.path("error").path("code").asText()).isEqualTo("POLICY_REJECTED");
        assertThat(response.path("error").path("message").asText()).contains("cpuset");
        assertThat(response.toString()).doesNotContain("\"verified\":true");
    }

    @Test
    void bindPartlyOutsideTheCpusetIsAppliedButNotVerified() throws Exception {
        VmmStandin.Run run = VmmStandin.runOrFail(
                socket, "cgroup", CGROUP.toString(), "memfd", "16M", "apply", CPUSET_BIND_0_1.vm(), "touch", "census");
        JsonNode region = run.appliedRegion(0);
        assertThat(region.path("applied").asBoolean()).as(run.output()).isTrue();
        assertThat(region.path("verified").asBoolean()).as(run.output()).isFalse();
        assertThat(region.path("notes").toString()).contains("cpuset");
        // What the kernel did: every page on node 0, the only node the VMM may use.
        assertThat(run.pagesOn(0, 0)).as(run.output()).isEqualTo(PAGES);
    }
}
