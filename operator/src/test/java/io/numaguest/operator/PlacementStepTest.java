package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.guestNode;
import static io.numaguest.operator.Fixtures.ngm;
import static io.numaguest.operator.Fixtures.pod;
import static io.numaguest.operator.Topologies.GIB;
import static org.assertj.core.api.Assertions.assertThat;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.Target;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/** The decision step against a stand-in for the informer cache: what other VMs on the node hold. */
class PlacementStepTest {

    private static final String NODE = "worker-1";

    /** The cache: NumaGuestMemories by id, with whatever status has been written so far. */
    private final Map<ResourceID, NumaGuestMemory> cache = new ConcurrentHashMap<>();

    private final PlacementStep step = new PlacementStep(
            node -> cache.values().stream()
                    .filter(ngm -> ngm.getStatus() != null
                            && node.equals(ngm.getStatus().getNodeName()))
                    .toList(),
            id -> Optional.ofNullable(cache.get(id)));

    private NumaGuestMemory vm(String name, String size) {
        var ngm = ngm(name, Target.virtualMachineInstance(name), guestNode(0, MemoryPolicy.Bind, size));
        ngm.getMetadata().setUid(name + "-uid");
        cache.put(ResourceID.fromResource(ngm), ngm);
        return ngm;
    }

    private static TargetResolution.Resolved podOf(String name) {
        return new TargetResolution.Resolved(pod("virt-launcher-" + name, NODE, "Running", Map.of()));
    }

    /** Stores the status the operator writes for this decision, as the cache will show it. */
    private void written(NumaGuestMemory ngm, TargetResolution.Resolved target, Placement.Result result) {
        NumaGuestMemoryStatus status = StatusAssembler.assemble(ngm, target, Optional.of(result), true, Instant.now());
        Optional.ofNullable(ngm.getStatus())
                .map(NumaGuestMemoryStatus::getApplied)
                .ifPresent(status::setApplied);
        ngm.setStatus(status);
    }

    private static List<Integer> hostNodes(Placement.Result result) {
        assertThat(result).isInstanceOf(Placement.Placed.class);
        return ((Placement.Placed) result).guestNodes().getFirst().getHostNodes();
    }

    @org.junit.jupiter.api.Test
    void memoryAnotherVmWasPlacedOnIsNotFreeForTheNext() {
        var first = vm("vm1", "12Gi");
        var firstPod = podOf("vm1");
        var placed = step.decide(first, firstPod, Optional.of(Topologies.flat(16, 16)));
        assertThat(hostNodes(placed)).containsExactly(0);
        written(first, firstPod, placed);

        var second = vm("vm2", "8Gi");
        // A fresh step: what vm1 holds comes from its status alone.
        var fromStatus = new PlacementStep(node -> List.of(first), id -> Optional.ofNullable(cache.get(id)));
        assertThat(hostNodes(fromStatus.decide(second, podOf("vm2"), Optional.of(Topologies.flat(16, 16)))))
                .as("host node 0 has 16 GiB free but 12 GiB of it are vm1's")
                .containsExactly(1);
    }

    @org.junit.jupiter.api.Test
    void pagesTheAgentAlreadyCountsAreInTheFreeMemoryAndNotHeldTwice() {
        var first = vm("vm1", "12Gi");
        var firstPod = podOf("vm1");
        var placed = step.decide(first, firstPod, Optional.of(Topologies.flat(16, 16)));
        written(first, firstPod, placed);
        var applied = new GuestNodeApplied();
        applied.setGuestNode(0);
        applied.setPodUid(firstPod.pod().getMetadata().getUid());
        applied.setPageSizeBytes(4096L);
        applied.setPagesByHostNode(Map.of("0", 12 * GIB / 4096));
        first.getStatus().setApplied(List.of(applied));

        // The published topology already shows vm1's 12 GiB as used: 4 GiB free on host node 0.
        var second = vm("vm2", "2Gi");
        var fromStatus = new PlacementStep(node -> List.of(first), id -> Optional.ofNullable(cache.get(id)));
        var result = fromStatus.decide(second, podOf("vm2"), Optional.of(Topologies.flat(4, 3)));
        assertThat(hostNodes(result))
                .as("4 GiB free on host node 0, none of it held")
                .containsExactly(0);
    }

    /**
     * Many VMs on one node, placed by parallel reconciles before any of their statuses reaches the
     * cache (some do reach it, at random points): together they never get more than the node has free.
     */
    @Property(tries = 50)
    void vmsPlacedAtTheSameMomentDoNotOvercommitTheNode(
            @ForAll @Size(min = 2, max = 40) List<@IntRange(min = 1, max = 8) Integer> sizesGiB,
            @ForAll @Size(min = 1, max = 4) List<@IntRange(min = 0, max = 32) Integer> freeGiB,
            @ForAll @IntRange(min = 0, max = 100) int percentWritten)
            throws Exception {
        cache.clear();
        long[] free = freeGiB.stream().mapToLong(Integer::longValue).toArray();
        NumaTopology topology = Topologies.flat(free);
        List<NumaGuestMemory> vms = new ArrayList<>();
        for (int i = 0; i < sizesGiB.size(); i++) {
            vms.add(vm("vm" + i, sizesGiB.get(i) + "Gi"));
        }
        Map<String, Placement.Result> results = new ConcurrentHashMap<>();
        ExecutorService reconcilers = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < vms.size(); i++) {
                var ngm = vms.get(i);
                boolean statusReachesTheCache = i * 100 / vms.size() < percentWritten;
                futures.add(reconcilers.submit(() -> {
                    var target = podOf(ngm.getMetadata().getName());
                    var result = step.decide(ngm, target, Optional.of(topology));
                    results.put(ngm.getMetadata().getName(), result);
                    if (statusReachesTheCache) {
                        synchronized (ngm) {
                            written(ngm, target, result);
                        }
                    }
                }));
            }
            for (var future : futures) {
                future.get();
            }
        } finally {
            reconcilers.shutdownNow();
        }

        long placedBytes = 0;
        Map<Integer, Long> reservedPerHostNode = new TreeMap<>();
        for (var ngm : vms) {
            if (results.get(ngm.getMetadata().getName()) instanceof Placement.Placed placed) {
                GuestNodePlacement entry = placed.guestNodes().getFirst();
                assertThat(entry.getHostNodes()).isNotEmpty();
                long size = Objects.requireNonNull(
                                ngm.getSpec().getGuestNodes().getFirst().getSize())
                        .getNumericalAmount()
                        .longValue();
                placedBytes += size;
                // The reservation covers the whole VM, on the host nodes it is bound to, so that the
                // per-host-node check below cannot pass on a reservation that leaves memory out.
                assertThat(placed.reservedBytes().keySet()).isSubsetOf(entry.getHostNodes());
                assertThat(placed.reservedBytes().values().stream()
                                .mapToLong(Long::longValue)
                                .sum())
                        .isEqualTo(size);
                placed.reservedBytes()
                        .forEach((hostNode, bytes) -> reservedPerHostNode.merge(hostNode, bytes, Long::sum));
            }
        }
        long freeBytes = freeGiB.stream().mapToLong(gib -> gib * GIB).sum();
        assertThat(placedBytes)
                .as("bytes bound on node %s with %s GiB free per host node", NODE, freeGiB)
                .isLessThanOrEqualTo(freeBytes);
        reservedPerHostNode.forEach((hostNode, bytes) -> assertThat(bytes)
                .as("bytes reserved on host node %d of node %s with %s GiB free per host node", hostNode, NODE, freeGiB)
                .isLessThanOrEqualTo(free[hostNode] * GIB));
    }
}
