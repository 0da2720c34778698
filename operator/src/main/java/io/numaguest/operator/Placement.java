package io.numaguest.operator;

import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Decides which host NUMA nodes carry each guest NUMA node's memory. A pure function of the spec's
 * guest nodes and the host's topology, so the same inputs always give the same placement.
 *
 * <ul>
 *   <li>Only host nodes the node's agent may use (its cpuset's mems, published in the topology)
 *       are ever chosen: the agent refuses the others.
 *   <li>Host nodes the user named are checked: they exist, have memory, the agent may use them, and
 *       they have enough free for the guest node's size.
 *   <li>Otherwise Bind, Preferred and PreferredMany get one host node where the size fits, a node no
 *       other guest node of this VM uses when there is one (so distinct guest nodes stay distinct
 *       on the host), and the closest by SLIT distance to the host nodes already chosen for this VM
 *       (so guest nodes listed together stay together, e.g. on one socket). Ties go to the most
 *       free memory, then the lowest id. When no single node fits, Bind and PreferredMany take the
 *       smallest group of close nodes that does; Preferred takes the node with the most free memory,
 *       since the kernel falls back to others anyway.
 *   <li>Interleave and WeightedInterleave spread over every usable host node with memory: that is
 *       what they are for.
 * </ul>
 *
 * Named host nodes are reserved first, then the operator's choices are made in spec order, each
 * taking its size out of the free memory the next one sees.
 */
public final class Placement {

    public sealed interface Result permits Placed, Unplaceable {}

    /**
     * @param guestNodes one entry per guest node, in spec order
     * @param reservedBytes what the placement takes from each host node's free memory, as far as it
     *     was checked against a topology (empty otherwise)
     */
    public record Placed(List<GuestNodePlacement> guestNodes, Map<Integer, Long> reservedBytes) implements Result {
        public Placed {
            guestNodes = List.copyOf(guestNodes);
            reservedBytes = Map.copyOf(reservedBytes);
        }

        /** A placement made earlier, whose reservation is not known here. */
        public Placed(List<GuestNodePlacement> guestNodes) {
            this(guestNodes, Map.of());
        }
    }

    /** @param reason the Placed condition's reason */
    public record Unplaceable(ConditionReason reason, String message) implements Result {}

    private Placement() {}

    public static Result place(List<GuestNode> guestNodes, NumaTopology topology) {
        return new Planner(topology).plan(guestNodes);
    }

    /**
     * Without a topology only named host nodes and Default/Local can be placed, and nothing can be
     * checked: the caller decides whether that is acceptable.
     */
    public static Placed placeUnchecked(List<GuestNode> guestNodes, String nodeName) {
        return new Placed(guestNodes.stream()
                .map(guestNode -> guestNode.policy().takesHostNodes()
                        ? new GuestNodePlacement(
                                guestNode.id(),
                                guestNode.policy(),
                                guestNode.hostNodes(),
                                "as requested; not checked: no topology published for node " + nodeName)
                        : withoutHostNodes(guestNode))
                .toList());
    }

    private static GuestNodePlacement withoutHostNodes(GuestNode guestNode) {
        return new GuestNodePlacement(
                guestNode.id(), guestNode.policy(), List.of(), "policy " + guestNode.policy() + " names no host nodes");
    }

    private static final class Planner {
        private final NumaTopology topology;
        private final Map<Integer, Long> free = new HashMap<>();
        // Host nodes this VM's guest nodes already use, in the order they were taken.
        private final Set<Integer> taken = new LinkedHashSet<>();
        private final Map<Integer, Long> reserved = new TreeMap<>();
        private final List<String> problems = new ArrayList<>();
        private ConditionReason firstProblemReason;

        Planner(NumaTopology topology) {
            this.topology = topology;
            topology.nodes().forEach(node -> free.put(node.id(), node.hasMemory() ? node.memFreeBytes() : 0));
        }

        Result plan(List<GuestNode> guestNodes) {
            Map<Integer, GuestNodePlacement> byGuestNode = new TreeMap<>();
            for (GuestNode guestNode : guestNodes) {
                if (!guestNode.policy().takesHostNodes()) {
                    byGuestNode.put(guestNode.id(), withoutHostNodes(guestNode));
                } else if (!guestNode.chosenByOperator()) {
                    checkNamed(guestNode).ifPresent(placement -> byGuestNode.put(guestNode.id(), placement));
                }
            }
            for (GuestNode guestNode : guestNodes) {
                if (guestNode.chosenByOperator()) {
                    choose(guestNode).ifPresent(placement -> byGuestNode.put(guestNode.id(), placement));
                }
            }
            if (!problems.isEmpty()) {
                return new Unplaceable(firstProblemReason, String.join("; ", problems));
            }
            return new Placed(
                    guestNodes.stream()
                            .map(guestNode -> byGuestNode.get(guestNode.id()))
                            .toList(),
                    reserved);
        }

        private Optional<GuestNodePlacement> checkNamed(GuestNode guestNode) {
            int problemsBefore = problems.size();
            for (int id : guestNode.hostNodes()) {
                var node = topology.node(id);
                if (node.isEmpty()) {
                    problem(
                            ConditionReason.UnknownHostNode,
                            "guest node %d: host node %d does not exist on node %s (host nodes: %s)",
                            guestNode.id(),
                            id,
                            topology.nodeName(),
                            topology.describeIds());
                } else if (!node.get().hasMemory()) {
                    problem(
                            ConditionReason.NotEnoughMemory,
                            "guest node %d: host node %d has no memory",
                            guestNode.id(),
                            id);
                } else if (!node.get().allowed()) {
                    problem(
                            ConditionReason.HostNodeNotAllowed,
                            "guest node %d: host node %d is outside the numaguest agent's cpuset on"
                                    + " node %s (allowed: %s); the agent would refuse it",
                            guestNode.id(),
                            id,
                            topology.nodeName(),
                            topology.describeAllowedIds());
                }
            }
            if (problems.size() > problemsBefore) {
                return Optional.empty();
            }
            long available = freeOn(guestNode.hostNodes());
            if (available < guestNode.sizeBytes()) {
                problem(
                        ConditionReason.NotEnoughMemory,
                        "guest node %d needs %s but host nodes %s have %s free",
                        guestNode.id(),
                        bytes(guestNode.sizeBytes()),
                        guestNode.hostNodes(),
                        bytes(available));
                return Optional.empty();
            }
            reserve(guestNode.sizeBytes(), guestNode.hostNodes());
            return Optional.of(new GuestNodePlacement(
                    guestNode.id(),
                    guestNode.policy(),
                    guestNode.hostNodes(),
                    "as requested; " + bytes(available) + " free"));
        }

        private Optional<GuestNodePlacement> choose(GuestNode guestNode) {
            List<NumaNode> withMemory = topology.nodes().stream()
                    .filter(node -> node.hasMemory() && node.allowed())
                    .toList();
            if (withMemory.isEmpty()) {
                problem(
                        ConditionReason.NotEnoughMemory,
                        "guest node %d: no host node of node %s that the agent may use has memory",
                        guestNode.id(),
                        topology.nodeName());
                return Optional.empty();
            }
            if (guestNode.policy() == MemoryPolicy.Interleave
                    || guestNode.policy() == MemoryPolicy.WeightedInterleave) {
                List<Integer> all = withMemory.stream().map(NumaNode::id).toList();
                return reserveOrFail(guestNode, all, "interleaved over every host node with memory the agent may use");
            }
            List<NumaNode> fitting = withMemory.stream()
                    .filter(node -> free.get(node.id()) >= guestNode.sizeBytes())
                    .toList();
            List<NumaNode> unused =
                    fitting.stream().filter(node -> !taken.contains(node.id())).toList();
            if (!unused.isEmpty()) {
                NumaNode best = closest(unused);
                return reserveOrFail(guestNode, List.of(best.id()), whyChosen(best, false));
            }
            if (!fitting.isEmpty()) {
                NumaNode best = closest(fitting);
                return reserveOrFail(guestNode, List.of(best.id()), whyChosen(best, true));
            }
            NumaNode mostFree = withMemory.stream().min(byMostFreeThenId()).orElseThrow();
            if (guestNode.policy() == MemoryPolicy.Preferred) {
                return reserveOrFail(
                        guestNode,
                        List.of(mostFree.id()),
                        "no host node has " + bytes(guestNode.sizeBytes())
                                + " free; preferring the one with the most, the kernel falls back to the others");
            }
            List<Integer> group = closeGroupFitting(mostFree, withMemory, guestNode.sizeBytes());
            return reserveOrFail(
                    guestNode,
                    group,
                    "no single host node has " + bytes(guestNode.sizeBytes())
                            + " free; these close host nodes together have " + bytes(freeOn(group)));
        }

        /** Closest to the host nodes already taken (all equally close when none is), then most free. */
        private NumaNode closest(List<NumaNode> candidates) {
            Comparator<NumaNode> byDistance = Comparator.comparingInt(this::distanceToTaken);
            return candidates.stream()
                    .min(byDistance.thenComparing(byMostFreeThenId()))
                    .orElseThrow();
        }

        private int distanceToTaken(NumaNode node) {
            return taken.stream().mapToInt(node::distanceTo).sum();
        }

        private Comparator<NumaNode> byMostFreeThenId() {
            Comparator<NumaNode> byFree = Comparator.comparingLong(node -> free.get(node.id()));
            return byFree.reversed().thenComparingInt(NumaNode::id);
        }

        private String whyChosen(NumaNode node, boolean shared) {
            String where = taken.isEmpty()
                    ? "most free memory"
                    : "closest to host nodes " + List.copyOf(taken) + " already used by this VM";
            String prefix = shared ? "shared with another guest node, no unused host node fits; " : "";
            return prefix + where + " (" + bytes(free.get(node.id())) + " free)";
        }

        /** Starts from the node with the most free memory and adds its nearest nodes until the size fits. */
        private List<Integer> closeGroupFitting(NumaNode start, List<NumaNode> withMemory, long size) {
            List<NumaNode> byCloseness = withMemory.stream()
                    .sorted(Comparator.<NumaNode>comparingInt(node -> start.distanceTo(node.id()))
                            .thenComparing(byMostFreeThenId()))
                    .toList();
            List<Integer> group = new ArrayList<>();
            for (NumaNode node : byCloseness) {
                group.add(node.id());
                if (freeOn(group) >= size) {
                    break;
                }
            }
            return group.stream().sorted().toList();
        }

        private Optional<GuestNodePlacement> reserveOrFail(
                GuestNode guestNode, List<Integer> hostNodes, String reason) {
            long available = freeOn(hostNodes);
            if (guestNode.policy() != MemoryPolicy.Preferred && available < guestNode.sizeBytes()) {
                problem(
                        ConditionReason.NotEnoughMemory,
                        "guest node %d needs %s but node %s has only %s free on host nodes %s",
                        guestNode.id(),
                        bytes(guestNode.sizeBytes()),
                        topology.nodeName(),
                        bytes(available),
                        hostNodes);
                return Optional.empty();
            }
            reserve(guestNode.sizeBytes(), hostNodes);
            return Optional.of(new GuestNodePlacement(guestNode.id(), guestNode.policy(), hostNodes, reason));
        }

        private long freeOn(List<Integer> hostNodes) {
            return hostNodes.stream().mapToLong(id -> free.getOrDefault(id, 0L)).sum();
        }

        /**
         * Takes the size out of the nodes' free memory: an even share from each, and what a node lacks
         * from those with the most left. Never below zero, so what is reserved is what was free (a
         * Preferred guest node larger than that spills where the kernel puts it).
         */
        private void reserve(long size, List<Integer> hostNodes) {
            long remaining = size;
            long share = size / hostNodes.size();
            for (int id : hostNodes) {
                remaining -= take(id, share);
            }
            Comparator<Integer> byLeft = Comparator.comparingLong(id -> free.getOrDefault(id, 0L));
            List<Integer> byMostLeft =
                    hostNodes.stream().sorted(byLeft.reversed()).toList();
            for (int id : byMostLeft) {
                remaining -= take(id, remaining);
            }
            taken.addAll(hostNodes);
        }

        private long take(int id, long wanted) {
            long taking = Math.min(wanted, free.getOrDefault(id, 0L));
            if (taking > 0) {
                free.merge(id, -taking, Long::sum);
                reserved.merge(id, taking, Long::sum);
            }
            return taking;
        }

        private void problem(ConditionReason reason, String format, Object... args) {
            if (firstProblemReason == null) {
                firstProblemReason = reason;
            }
            problems.add(String.format(Locale.ROOT, format, args));
        }
    }

    static String bytes(long bytes) {
        if (bytes < 1L << 20) {
            return bytes + " B";
        }
        double gib = bytes / (double) (1L << 30);
        return gib >= 1
                ? String.format(Locale.ROOT, "%.1f GiB", gib)
                : String.format(Locale.ROOT, "%.0f MiB", bytes / (double) (1L << 20));
    }
}
