package io.numaguest.agent.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.error.Refusal;
import io.numaguest.agent.memory.FdKind;
import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.policy.PolicyFlag;
import io.numaguest.agent.request.RegionResult;
import io.numaguest.agent.request.Request;
import io.numaguest.agent.request.Result;
import io.numaguest.agent.topology.HostNode;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.HugePagePool;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The bytes of each kind of response. The expected texts are what the tree-based encoder (Jackson's
 * ObjectNode, before the streaming one) wrote for these results: the streaming encoder must not
 * change a byte of what a VMM reads, field order included.
 */
class ResponsesTest {
    private static final Request.RegionRequest FIRST = new Request.RegionRequest(3, 0, 0, null);
    private static final Request.RegionRequest SECOND = new Request.RegionRequest(4, 1, 4096, 8192L);

    private static String encode(String id, Result result) {
        return new String(Responses.encode(id, result), StandardCharsets.UTF_8);
    }

    @Test
    void applyOkWithPagesFlagsAndNotes() {
        RegionOutcome mbind = RegionOutcome.builder()
                .kind(FdKind.MEMFD)
                .policy(MemoryPolicy.Bind)
                .hostNodes(List.of(0, 1))
                .flags(Set.of(PolicyFlag.StaticNodes))
                .mechanism(PolicyMechanism.MBIND)
                .verified(true)
                .pageSizeBytes(4096)
                .pagesByHostNode(new TreeMap<>(java.util.Map.of(0, 12L, 1, 3L)))
                .notes(List.of("a note", "quote \" and \u00e9"))
                .build();
        RegionOutcome prefault = RegionOutcome.builder()
                .kind(FdKind.HUGETLBFS)
                .policy(MemoryPolicy.Interleave)
                .hostNodes(List.of(1))
                .flags(Set.of(PolicyFlag.RelativeNodes, PolicyFlag.StaticNodes))
                .mechanism(PolicyMechanism.HUGETLB_PREFAULT)
                .verified(false)
                .pageSizeBytes(2 << 20)
                .build();
        Result result = new Result.Ok(List.of(
                new RegionResult.Applied(FIRST, new Extent(0, 1L << 30), mbind),
                new RegionResult.Applied(SECOND, new Extent(4096, 8192), prefault)));

        assertThat(encode("r1", result))
                .isEqualTo("{\"version\":1,\"id\":\"r1\",\"ok\":true,\"regions\":["
                        + "{\"guestNode\":0,\"fd\":3,\"offset\":0,\"length\":1073741824,\"applied\":true,\"fdKind\":\"memfd\","
                        + "\"policy\":\"Bind\",\"hostNodes\":[0,1],\"flags\":[\"StaticNodes\"],\"mechanism\":\"mbind\",\"verified\":true,"
                        + "\"pageSizeBytes\":4096,\"pagesByHostNode\":{\"0\":12,\"1\":3},\"notes\":[\"a note\",\"quote \\\" and \u00e9\"]},"
                        + "{\"guestNode\":1,\"fd\":4,\"offset\":4096,\"length\":8192,\"applied\":true,\"fdKind\":\"hugetlbfs\","
                        + "\"policy\":\"Interleave\",\"hostNodes\":[1],\"flags\":[\"RelativeNodes\",\"StaticNodes\"],"
                        + "\"mechanism\":\"hugetlb-prefault\",\"verified\":false,\"pageSizeBytes\":2097152}]}");
    }

    @Test
    void queryObservedHasNoMechanism() {
        RegionOutcome observed = RegionOutcome.builder()
                .kind(FdKind.GUEST_MEMFD)
                .policy(MemoryPolicy.Default)
                .pageSizeBytes(4096)
                .build();
        Result result = new Result.Ok(List.of(new RegionResult.Observed(FIRST, new Extent(0, 65536), observed)));

        assertThat(encode("q", result))
                .isEqualTo("{\"version\":1,\"id\":\"q\",\"ok\":true,\"regions\":["
                        + "{\"guestNode\":0,\"fd\":3,\"offset\":0,\"length\":65536,\"fdKind\":\"guest_memfd\",\"policy\":\"Default\","
                        + "\"hostNodes\":[],\"pageSizeBytes\":4096}]}");
    }

    @Test
    void refusedWithRegionsThatFailedAndWereNotAttempted() {
        RegionOutcome mbind = RegionOutcome.builder()
                .kind(FdKind.SHMEM)
                .policy(MemoryPolicy.Preferred)
                .hostNodes(List.of(0))
                .mechanism(PolicyMechanism.MBIND)
                .verified(true)
                .pageSizeBytes(4096)
                .build();
        Request.RegionRequest third = new Request.RegionRequest(5, 2, 0, null);
        Refusal failure = new Refusal(ErrorCode.POLICY_REJECTED, "mbind failed: Invalid argument", 22);
        Result result = new Result.Refused(
                failure,
                List.of(
                        new RegionResult.Applied(FIRST, new Extent(0, 4096), mbind),
                        new RegionResult.Failed(SECOND, new Extent(4096, 8192), failure),
                        new RegionResult.NotAttempted(third, new Extent(0, 4096))));

        assertThat(encode("r2", result))
                .isEqualTo(
                        "{\"version\":1,\"id\":\"r2\",\"ok\":false,\"regions\":["
                                + "{\"guestNode\":0,\"fd\":3,\"offset\":0,\"length\":4096,\"applied\":true,\"fdKind\":\"shmem\",\"policy\":\"Preferred\","
                                + "\"hostNodes\":[0],\"mechanism\":\"mbind\",\"verified\":true,\"pageSizeBytes\":4096},"
                                + "{\"guestNode\":1,\"fd\":4,\"offset\":4096,\"length\":8192,\"applied\":false,"
                                + "\"error\":{\"code\":\"POLICY_REJECTED\",\"message\":\"mbind failed: Invalid argument\",\"errno\":22}},"
                                + "{\"guestNode\":2,\"fd\":5,\"offset\":0,\"length\":4096,\"applied\":false}],"
                                + "\"error\":{\"code\":\"POLICY_REJECTED\",\"message\":\"mbind failed: Invalid argument\",\"errno\":22}}");
    }

    @Test
    void refusalWithoutIdOrRegions() {
        assertThat(new String(
                        Responses.refusal(new Refusal(ErrorCode.BUSY, "too many connections\n\ttry later")),
                        StandardCharsets.UTF_8))
                .isEqualTo("{\"version\":1,\"id\":null,\"ok\":false,"
                        + "\"error\":{\"code\":\"BUSY\",\"message\":\"too many connections\\n\\ttry later\"}}");
    }

    @Test
    void hello() {
        HostNode node0 = new HostNode(
                0,
                8L << 30,
                3L << 30,
                new TreeSet<>(List.of(0, 1, 2, 5)),
                List.of(10, 21),
                List.of(new HugePagePool(2 << 20, 16, 4), new HugePagePool(1 << 30, 0, 0)));
        HostNode node1 = new HostNode(1, 4L << 30, 1L << 30, new TreeSet<>(), List.of(21, 10), List.of());
        HostTopology topology =
                new HostTopology(List.of(node0, node1), new TreeSet<>(List.of(0, 1)), new TreeSet<>(List.of(0)));
        Result result = new Result.Hello(
                "1.2.3", "node-a", 4096, topology, List.of(PolicyMechanism.MBIND, PolicyMechanism.FBIND));

        assertThat(encode("h", result))
                .isEqualTo("{\"version\":1,\"id\":\"h\",\"ok\":true,\"agent\":\"1.2.3\",\"node\":\"node-a\","
                        + "\"pageSizeBytes\":4096,\"numaNodes\":["
                        + "{\"id\":0,\"memTotalBytes\":8589934592,\"memFreeBytes\":3221225472,\"cpus\":\"0-2,5\",\"distances\":[10,21],"
                        + "\"allowed\":true,\"hugepages\":[{\"pageSizeBytes\":2097152,\"total\":16,\"free\":4},"
                        + "{\"pageSizeBytes\":1073741824,\"total\":0,\"free\":0}]},"
                        + "{\"id\":1,\"memTotalBytes\":4294967296,\"memFreeBytes\":1073741824,\"cpus\":\"\",\"distances\":[21,10],"
                        + "\"allowed\":false,\"hugepages\":[]}],"
                        + "\"mechanisms\":[\"mbind\",\"fbind\"]}");
    }
}
