package io.numaguest.agent.guest;

import static io.numaguest.agent.guest.GuestVms.BIND_0;
import static io.numaguest.agent.guest.GuestVms.DEFAULT;
import static io.numaguest.agent.guest.GuestVms.INTERLEAVE_0_1;
import static io.numaguest.agent.guest.GuestVms.LOCAL;
import static io.numaguest.agent.guest.GuestVms.WEIGHTED_INTERLEAVE_0_1;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every policy mode on a memfd, on a host with two nodes: the stand-in VMM runs on CPU 0 (node 0),
 * so memory it touches lands on node 1 only because of the policy the agent set. Each case checks
 * the agent's answer, a fresh mapping's read-back in the VMM, where the VMM's pages are
 * (move_pages), and that the agent's own count (query) agrees.
 */
@ExtendWith(GuestAgents.class)
class PolicyModesInGuest {
    private static final String SIZE = "16M";
    private static final long PAGES = 16L * 1024 * 1024 / 4096;
    /** The kernel's MPOL_* numbers, as get_mempolicy reports them. */
    private static final int MPOL_DEFAULT = 0;

    private static final int MPOL_INTERLEAVE = 3;
    private static final int MPOL_LOCAL = 4;
    private static final int MPOL_WEIGHTED_INTERLEAVE = 6;
    private static final Path WEIGHTS = Path.of("/sys/kernel/mm/mempolicy/weighted_interleave");

    private final Path socket;

    PolicyModesInGuest(GuestAgents.Pair agents) {
        socket = agents.privileged().socket();
    }

    private VmmStandin.Run applyThenTouch(GuestVms vm, int cpu) throws Exception {
        VmmStandin.Run run = VmmStandin.runOrFail(
                socket,
                "cpu",
                String.valueOf(cpu),
                "memfd",
                SIZE,
                "apply",
                vm.vm(),
                "touch",
                "census",
                "policy",
                "query",
                vm.vm());
        JsonNode region = run.appliedRegion(0);
        assertThat(run.apply(0).path("ok").asBoolean()).as(run.output()).isTrue();
        assertThat(region.path("policy").asText()).isEqualTo(vm.policy());
        assertThat(region.path("mechanism").asText()).isEqualTo("mbind");
        assertThat(region.path("verified").asBoolean()).as(run.output()).isTrue();
        assertThat(run.pages(0)).isEqualTo(PAGES);
        assertThat(run.step("census").path("absent").asLong()).isZero();
        // The agent counts the pages where the VMM's own census found them.
        JsonNode agentCount =
                run.step("query").path("response").path("regions").path(0).path("pagesByHostNode");
        for (int node = 0; node < 2; node++) {
            assertThat(agentCount.path(String.valueOf(node)).asLong(0))
                    .as("agent's count on node %d: %s", node, run.output())
                    .isEqualTo(run.pagesOn(node, 0));
        }
        return run;
    }

    private static void assertReadBack(VmmStandin.Run run, int mode, Integer... nodes) {
        for (String page : new String[] {"first", "last"}) {
            JsonNode observed = run.step("policy").path(page);
            assertThat(observed.path("mode").asInt())
                    .as("mode at the %s page: %s", page, run.output())
                    .isEqualTo(mode);
            assertThat(nodesOf(observed))
                    .as("nodes at the %s page: %s", page, run.output())
                    .containsExactly(nodes);
        }
    }

    private static Integer[] nodesOf(JsonNode observed) {
        Integer[] nodes = new Integer[observed.path("nodes").size()];
        for (int i = 0; i < nodes.length; i++) {
            nodes[i] = observed.path("nodes").get(i).asInt();
        }
        return nodes;
    }

    @ParameterizedTest
    @CsvSource({"BIND_1, 2", "PREFERRED_1, 1", "PREFERRED_MANY_1, 5"}) // MPOL_BIND, MPOL_PREFERRED, MPOL_PREFERRED_MANY
    void everyPageLandsOnNode1(GuestVms vm, int kernelMode) throws Exception {
        VmmStandin.Run run = applyThenTouch(vm, 0);
        assertReadBack(run, kernelMode, 1);
        assertThat(run.pagesOn(1, 0)).as(run.output()).isEqualTo(PAGES);
    }

    @Test
    void interleaveSpreadsPagesOverBothNodes() throws Exception {
        VmmStandin.Run run = applyThenTouch(INTERLEAVE_0_1, 0);
        assertReadBack(run, MPOL_INTERLEAVE, 0, 1);
        // A shared policy interleaves by offset in the file: the pages alternate between the nodes.
        assertThat(run.pagesOn(0, 0)).as(run.output()).isBetween(PAGES * 45 / 100, PAGES * 55 / 100);
        assertThat(run.pagesOn(1, 0)).as(run.output()).isBetween(PAGES * 45 / 100, PAGES * 55 / 100);
    }

    @Test
    void weightedInterleaveFollowsTheKernelsWeights() throws Exception {
        assumeTrue(
                Files.isWritable(WEIGHTS.resolve("node1")),
                "this kernel offers no weighted interleave weights (" + WEIGHTS + ")");
        Files.writeString(WEIGHTS.resolve("node0"), "1");
        Files.writeString(WEIGHTS.resolve("node1"), "3");
        VmmStandin.Run run = applyThenTouch(WEIGHTED_INTERLEAVE_0_1, 0);
        assertReadBack(run, MPOL_WEIGHTED_INTERLEAVE, 0, 1);
        // Weights 1:3 give node 1 three pages of every four.
        assertThat(run.pagesOn(1, 0)).as(run.output()).isBetween(PAGES * 70 / 100, PAGES * 80 / 100);
        assertThat(run.pagesOn(0, 0)).as(run.output()).isBetween(PAGES * 20 / 100, PAGES * 30 / 100);
    }

    @Test
    void localAllocatesOnTheNodeOfTheTouchingCpu() throws Exception {
        VmmStandin.Run run = applyThenTouch(LOCAL, 1);
        assertReadBack(run, MPOL_LOCAL);
        assertThat(run.pagesOn(1, 0))
                .as("touched from CPU 1 (node 1): %s", run.output())
                .isEqualTo(PAGES);
    }

    @Test
    void defaultReplacesAnEarlierPolicy() throws Exception {
        // Bind {0} first, then Default for the same file: the kernel's default (local) must be back,
        // so pages touched from CPU 1 land on node 1, not on the node of the earlier policy.
        VmmStandin.Run run = VmmStandin.runOrFail(
                socket,
                "cpu",
                "1",
                "memfd",
                SIZE,
                "apply",
                BIND_0.vm(),
                "apply",
                DEFAULT.vm(),
                "touch",
                "census",
                "policy");
        assertThat(run.appliedRegion(0).path("verified").asBoolean())
                .as(run.output())
                .isTrue();
        assertThat(run.appliedRegion(1).path("policy").asText()).isEqualTo("Default");
        assertThat(run.appliedRegion(1).path("verified").asBoolean())
                .as(run.output())
                .isTrue();
        assertReadBack(run, MPOL_DEFAULT);
        assertThat(run.pagesOn(1, 0)).as(run.output()).isEqualTo(PAGES);
    }
}
