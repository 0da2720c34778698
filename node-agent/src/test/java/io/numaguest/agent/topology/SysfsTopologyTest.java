package io.numaguest.agent.topology;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SysfsTopologyTest {

    @Test
    void readsThisHost() {
        HostTopology host = SysfsTopology.host().read();
        assertThat(host.nodes()).isNotEmpty();
        HostNode first = host.nodes().getFirst();
        assertThat(first.memTotalBytes()).isPositive();
        assertThat(first.distances()).hasSize(host.nodes().size());
        assertThat(first.distances().get(host.nodes().indexOf(first))).isEqualTo(10);
        assertThat(host.allowedMems()).isNotEmpty();
    }

    /** A four-node host with a memoryless node and an agent cpuset narrower than the host. */
    @Test
    void readsAFourNodeHostWithAMemorylessNodeAndANarrowCpuset(@TempDir Path sys) throws Exception {
        Files.writeString(sys.resolve("online"), "0-3\n");
        Files.writeString(sys.resolve("has_memory"), "0-2\n");
        String[] distances = {"10 21 31 31", "21 10 31 31", "31 31 10 21", "31 31 21 10"};
        for (int n = 0; n < 4; n++) {
            Path node = Files.createDirectories(sys.resolve("node" + n));
            Files.writeString(
                    node.resolve("meminfo"),
                    "Node " + n + " MemTotal:       " + (n == 3 ? 0 : 4096) + " kB\n" + "Node " + n
                            + " MemFree:        " + (1024 * n) + " kB\n");
            Files.writeString(node.resolve("distance"), distances[n] + "\n");
            Files.writeString(node.resolve("cpulist"), (n * 4) + "-" + (n * 4 + 3) + "\n");
            Path pool = Files.createDirectories(node.resolve("hugepages/hugepages-2048kB"));
            Files.writeString(pool.resolve("nr_hugepages"), "16\n");
            Files.writeString(pool.resolve("free_hugepages"), (16 - n) + "\n");
            Path giant = Files.createDirectories(node.resolve("hugepages/hugepages-1048576kB"));
            Files.writeString(giant.resolve("nr_hugepages"), "2\n");
            Files.writeString(giant.resolve("free_hugepages"), "1\n");
        }
        Path status = Files.writeString(sys.resolve("status"), "Name:\tjava\nMems_allowed_list:\t0-1\n");

        HostTopology topology = new SysfsTopology(sys, status).read();

        assertThat(topology.nodeIds()).containsExactly(0, 1, 2, 3);
        HostNode two = topology.node(2).orElseThrow();
        assertThat(two.memTotalBytes()).isEqualTo(4096L * 1024);
        assertThat(two.memFreeBytes()).isEqualTo(2048L * 1024);
        assertThat(two.cpus()).containsExactly(8, 9, 10, 11);
        assertThat(two.distances()).containsExactly(31, 31, 10, 21);
        // By page size, although the 1 GiB pool's directory name sorts first.
        assertThat(two.hugepages())
                .containsExactly(new HugePagePool(2 << 20, 16, 14), new HugePagePool(1L << 30, 2, 1));
        assertThat(topology.unusableReason(1)).isEmpty();
        assertThat(topology.unusableReason(2))
                .hasValueSatisfying(reason -> assertThat(reason).contains("allowed mems (0-1)"));
        assertThat(topology.unusableReason(3))
                .hasValueSatisfying(reason -> assertThat(reason).contains("has no memory"));
        assertThat(topology.unusableReason(4))
                .hasValueSatisfying(reason -> assertThat(reason).contains("does not exist"));
    }
}
