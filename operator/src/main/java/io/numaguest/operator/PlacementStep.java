package io.numaguest.operator;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MigrationTarget;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * The decision step of a reconcile: the placement a NumaGuestMemory keeps, or a new one that does
 * not overcommit its node.
 *
 * <p>A placement is kept once made, for as long as the spec generation and the pod stay the same:
 * free memory changes as the VM runs, and a placement that followed it would no longer match what
 * the agent applied.
 *
 * <p>A new placement sees a host node's free memory (the NodeResourceTopology's available) less
 * what other VMs placed on the same node hold there and have not allocated yet: what each placement
 * reserved, less the pages the agent already counts for that VM on that host node (those are in the
 * published free memory, or will be at the next publish). Reconciles run in parallel and the cache
 * shows a status write only some time after it: so the placements this process made are
 * remembered, with what they reserved, for as long as the NumaGuestMemory keeps them. Placements it
 * did not make (another replica's, before a restart) come from the status, each guest node's size
 * split evenly over its host nodes. Decisions are made one at a time.
 */
final class PlacementStep {

    /** A placement made by this process, for the NumaGuestMemory's target pod or its migration target pod. */
    private record Decision(
            String nodeName, String podUid, long generation, Placement.Placed placed, boolean migration) {
        boolean isFor(String node, String pod, long generation) {
            return nodeName.equals(node) && podUid.equals(pod) && this.generation == generation;
        }
    }

    /** A decision's key on its node: a NumaGuestMemory holds memory on its target's node and on its migration target's. */
    private record Held(ResourceID id, boolean migration) {}

    private final Function<String, List<NumaGuestMemory>> onNode;
    private final Function<ResourceID, Optional<NumaGuestMemory>> byId;
    private final Map<ResourceID, Decision> made = new HashMap<>();
    private final Map<ResourceID, Decision> madeForMigration = new HashMap<>();
    /** The same decisions by node, so a decision looks only at its own node's. */
    private final Map<String, Map<Held, Decision>> madeOnNode = new HashMap<>();

    /**
     * @param onNode the NumaGuestMemories whose cached status names the node, as their target's or
     *     their migration target's
     * @param byId a NumaGuestMemory from the cache
     */
    PlacementStep(
            Function<String, List<NumaGuestMemory>> onNode, Function<ResourceID, Optional<NumaGuestMemory>> byId) {
        this.onNode = onNode;
        this.byId = byId;
    }

    /** The placement for the target pod on its node; when a migration completed, the one decided for its target pod. */
    synchronized Placement.Result decide(
            NumaGuestMemory ngm, TargetResolution.Resolved target, Optional<NumaTopology> topology) {
        ResourceID id = ResourceID.fromResource(ngm);
        String podUid = target.pod().getMetadata().getUid();
        long generation = generation(ngm);
        Decision earlier = made.get(id);
        Decision migrated = madeForMigration.get(id);
        if ((earlier == null || !earlier.isFor(target.nodeName(), podUid, generation))
                && migrated != null
                && migrated.isFor(target.nodeName(), podUid, generation)) {
            // A completed migration: its target pod is now the target, with the placement its agent applied.
            forgetMigration(id);
            forget(id);
            remember(id, new Decision(migrated.nodeName(), podUid, generation, migrated.placed(), false));
        }
        return decide(ngm, id, target.nodeName(), podUid, false, keptPlacement(ngm, podUid, generation), topology);
    }

    /**
     * The placement on a live migration's target node, for its target pod: made like any other (kept
     * once made, not overcommitting that node), alongside the one the VM has where it runs now.
     */
    synchronized Placement.Result decideMigration(
            NumaGuestMemory ngm, MigrationResolution.Resolved target, Optional<NumaTopology> topology) {
        ResourceID id = ResourceID.fromResource(ngm);
        String podUid = target.pod().getMetadata().getUid();
        return decide(
                ngm,
                id,
                target.nodeName(),
                podUid,
                true,
                keptMigrationPlacement(ngm, podUid, generation(ngm)),
                topology);
    }

    /**
     * This process's earlier decision for the pod, else the placement the status keeps, else a new
     * one, remembered in place of any earlier decision.
     */
    private Placement.Result decide(
            NumaGuestMemory ngm,
            ResourceID id,
            String nodeName,
            String podUid,
            boolean migration,
            Optional<Placement.Placed> kept,
            Optional<NumaTopology> topology) {
        long generation = generation(ngm);
        Decision earlier = (migration ? madeForMigration : made).get(id);
        if (earlier != null && earlier.isFor(nodeName, podUid, generation)) {
            return earlier.placed();
        }
        if (kept.isPresent()) {
            return kept.get();
        }
        Placement.Result result = place(ngm, id, nodeName, topology);
        if (migration) {
            forgetMigration(id);
        } else {
            forget(id);
        }
        if (result instanceof Placement.Placed placed) {
            remember(id, new Decision(nodeName, podUid, generation, placed, migration));
        }
        return result;
    }

    /** No migration runs for this NumaGuestMemory (any more): what its target node held is free again. */
    synchronized void migrationEnded(NumaGuestMemory ngm) {
        forgetMigration(ResourceID.fromResource(ngm));
    }

    private Placement.Result place(
            NumaGuestMemory ngm, ResourceID id, String nodeName, Optional<NumaTopology> topology) {
        List<GuestNode> guestNodes =
                ngm.getSpec().getGuestNodes().stream().map(GuestNode::of).toList();
        if (topology.isPresent()) {
            return Placement.place(guestNodes, less(topology.get(), heldByOthers(id, nodeName)));
        }
        if (guestNodes.stream().anyMatch(GuestNode::chosenByOperator)) {
            return new Placement.Unplaceable(
                    ConditionReason.TopologyUnavailable,
                    "no NodeResourceTopology is published for node " + nodeName
                            + ", so host nodes cannot be chosen; is the numaguest agent running there?");
        }
        return Placement.placeUnchecked(guestNodes, nodeName);
    }

    private void remember(ResourceID id, Decision decision) {
        (decision.migration() ? madeForMigration : made).put(id, decision);
        madeOnNode
                .computeIfAbsent(decision.nodeName(), node -> new HashMap<>())
                .put(new Held(id, decision.migration()), decision);
    }

    private static Optional<Placement.Placed> keptPlacement(NumaGuestMemory ngm, String podUid, long generation) {
        var current = ngm.getStatus();
        if (current == null || current.getPlacement() == null || current.getTargetPod() == null) {
            return Optional.empty();
        }
        boolean samePod = Objects.equals(current.getTargetPod().getUid(), podUid);
        if (samePod && isPlaced(current) && Objects.equals(current.getObservedGeneration(), generation)) {
            return Optional.of(new Placement.Placed(current.getPlacement()));
        }
        // The pod a migration placed (before this process, or before a restart) became the target.
        return keptMigrationPlacement(ngm, podUid, generation);
    }

    private static Optional<Placement.Placed> keptMigrationPlacement(
            NumaGuestMemory ngm, String podUid, long generation) {
        var current = ngm.getStatus();
        MigrationTarget migration = current == null ? null : current.getMigration();
        if (migration == null || migration.getPlacement() == null || migration.getTargetPod() == null) {
            return Optional.empty();
        }
        return Objects.equals(migration.getTargetPod().getUid(), podUid)
                        && Objects.equals(current.getObservedGeneration(), generation)
                ? Optional.of(new Placement.Placed(migration.getPlacement()))
                : Optional.empty();
    }

    /** Bytes per host node that other VMs placed on this node hold and have not allocated yet. */
    private Map<Integer, Long> heldByOthers(ResourceID self, String nodeName) {
        Map<Held, Decision> here = madeOnNode.getOrDefault(nodeName, Map.of());
        here.entrySet().stream()
                .filter(entry -> !stillHeld(entry.getKey().id(), entry.getValue()))
                .map(Map.Entry::getKey)
                .toList()
                .forEach(held -> {
                    if (held.migration()) {
                        forgetMigration(held.id());
                    } else {
                        forget(held.id());
                    }
                });
        Map<Integer, Long> held = new HashMap<>();
        madeOnNode.getOrDefault(nodeName, Map.of()).forEach((key, decision) -> {
            if (!key.id().equals(self)) {
                NumaGuestMemoryStatus status =
                        byId.apply(key.id()).orElseThrow().getStatus();
                var allocated = allocatedBytes(
                        status == null
                                ? null
                                : decision.migration() ? status.getMigrationApplied() : status.getApplied(),
                        decision.podUid());
                decision.placed()
                        .reservedBytes()
                        .forEach((hostNode, bytes) -> held.merge(
                                hostNode, Math.max(0, bytes - allocated.getOrDefault(hostNode, 0L)), Long::sum));
            }
        });
        for (NumaGuestMemory other : onNode.apply(nodeName)) {
            ResourceID id = ResourceID.fromResource(other);
            var status = other.getStatus();
            if (id.equals(self) || status == null) {
                continue;
            }
            if (nodeName.equals(status.getNodeName())
                    && !made.containsKey(id)
                    && isPlaced(status)
                    && status.getPlacement() != null
                    && status.getTargetPod() != null) {
                holdEvenly(
                        held,
                        other,
                        status.getPlacement(),
                        status.getApplied(),
                        status.getTargetPod().getUid());
            }
            MigrationTarget migration = status.getMigration();
            if (migration != null
                    && nodeName.equals(migration.getNodeName())
                    && !madeForMigration.containsKey(id)
                    && migration.getPlacement() != null
                    && migration.getTargetPod() != null) {
                holdEvenly(
                        held,
                        other,
                        migration.getPlacement(),
                        status.getMigrationApplied(),
                        migration.getTargetPod().getUid());
            }
        }
        return held;
    }

    /** The same nodes with {@code held} bytes per host node taken out of their free memory. */
    private static NumaTopology less(NumaTopology topology, Map<Integer, Long> held) {
        return new NumaTopology(
                topology.nodeName(),
                topology.nodes().stream()
                        .map(node ->
                                node.withMemFree(Math.max(0, node.memFreeBytes() - held.getOrDefault(node.id(), 0L))))
                        .toList());
    }

    private void forget(ResourceID id) {
        unregister(id, made.remove(id));
    }

    private void forgetMigration(ResourceID id) {
        unregister(id, madeForMigration.remove(id));
    }

    private void unregister(ResourceID id, Decision decision) {
        if (decision != null) {
            var onItsNode = madeOnNode.get(decision.nodeName());
            onItsNode.remove(new Held(id, decision.migration()));
            if (onItsNode.isEmpty()) {
                madeOnNode.remove(decision.nodeName());
            }
        }
    }

    /** Whether a placement this process made still stands: the NumaGuestMemory exists and its status shows no other. */
    private boolean stillHeld(ResourceID id, Decision decision) {
        Optional<NumaGuestMemory> ngm = byId.apply(id);
        if (ngm.isEmpty() || generation(ngm.get()) != decision.generation()) {
            return false;
        }
        var status = ngm.get().getStatus();
        if (decision.migration()) {
            // Until the migration ends (migrationEnded), a status without it is one not written yet.
            MigrationTarget migration = status == null ? null : status.getMigration();
            return migration == null
                    || migration.getTargetPod() == null
                    || (decision.nodeName().equals(migration.getNodeName())
                            && decision.podUid().equals(migration.getTargetPod().getUid()));
        }
        if (status == null || status.getTargetPod() == null) {
            return true; // not written yet, as far as the cache shows
        }
        return decision.nodeName().equals(status.getNodeName())
                && decision.podUid().equals(status.getTargetPod().getUid());
    }

    private static void holdEvenly(
            Map<Integer, Long> held,
            NumaGuestMemory other,
            List<GuestNodePlacement> placement,
            List<GuestNodeApplied> applied,
            String podUid) {
        Map<Integer, GuestNode> specs = new HashMap<>();
        other.getSpec().getGuestNodes().forEach(spec -> specs.put(spec.getGuestNode(), GuestNode.of(spec)));
        Map<Integer, Long> reserved = new HashMap<>();
        for (GuestNodePlacement entry : placement) {
            GuestNode spec = specs.get(entry.getGuestNode());
            if (spec != null && !entry.getHostNodes().isEmpty()) {
                long share = spec.sizeBytes() / entry.getHostNodes().size();
                entry.getHostNodes().forEach(hostNode -> reserved.merge(hostNode, share, Long::sum));
            }
        }
        var allocated = allocatedBytes(applied, podUid);
        reserved.forEach((hostNode, bytes) ->
                held.merge(hostNode, Math.max(0, bytes - allocated.getOrDefault(hostNode, 0L)), Long::sum));
    }

    /** Bytes per host node the agent counts as allocated for this pod's guest memory, from its entries. */
    private static Map<Integer, Long> allocatedBytes(List<GuestNodeApplied> applied, String podUid) {
        Map<Integer, Long> allocated = new HashMap<>();
        for (GuestNodeApplied entry : applied == null ? List.<GuestNodeApplied>of() : applied) {
            if (podUid.equals(entry.getPodUid())
                    && entry.getPagesByHostNode() != null
                    && entry.getPageSizeBytes() != null) {
                entry.getPagesByHostNode().forEach((hostNode, pages) -> {
                    try {
                        allocated.merge(Integer.parseInt(hostNode), pages * entry.getPageSizeBytes(), Long::sum);
                    } catch (NumberFormatException e) {
                        // not a host node id: the agent writes none such, and none counts
                    }
                });
            }
        }
        return allocated;
    }

    private static boolean isPlaced(NumaGuestMemoryStatus status) {
        return StatusAssembler.isTrue(status, StatusAssembler.PLACED);
    }

    private static long generation(NumaGuestMemory ngm) {
        return Objects.requireNonNullElse(ngm.getMetadata().getGeneration(), 0L);
    }
}
