package io.numaguest.agent.topology;

import java.util.List;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The host's NUMA nodes, which of them have memory, and which this agent may place memory on (its
 * cpuset's Mems_allowed: the kernel silently intersects every mbind nodemask with it).
 */
public record HostTopology(List<HostNode> nodes, SortedSet<Integer> memoryNodes, SortedSet<Integer> allowedMems) {
    public HostTopology {
        nodes = List.copyOf(nodes);
        memoryNodes = java.util.Collections.unmodifiableSortedSet(new TreeSet<>(memoryNodes));
        allowedMems = java.util.Collections.unmodifiableSortedSet(new TreeSet<>(allowedMems));
    }

    public Optional<HostNode> node(int id) {
        return nodes.stream().filter(n -> n.id() == id).findFirst();
    }

    public SortedSet<Integer> nodeIds() {
        TreeSet<Integer> ids = new TreeSet<>();
        nodes.forEach(n -> ids.add(n.id()));
        return ids;
    }

    /** Why memory cannot be placed on host node {@code id}, or empty when it can. */
    public Optional<String> unusableReason(int id) {
        if (node(id).isEmpty()) {
            return Optional.of(
                    "host node " + id + " does not exist on this host (nodes: " + NodeList.format(nodeIds()) + ")");
        }
        if (!memoryNodes.contains(id)) {
            return Optional.of(
                    "host node " + id + " has no memory (nodes with memory: " + NodeList.format(memoryNodes) + ")");
        }
        if (!allowedMems.contains(id)) {
            return Optional.of(
                    "host node " + id + " is outside this agent's allowed mems (" + NodeList.format(allowedMems)
                            + "): give the agent a cpuset that includes every node it places memory on");
        }
        return Optional.empty();
    }
}
