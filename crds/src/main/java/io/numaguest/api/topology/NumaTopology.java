package io.numaguest.api.topology;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The NUMA nodes of one Kubernetes node, ordered by id: what its NodeResourceTopology says, the
 * contract between the agent (which publishes it from sysfs) and the operator (which places on
 * it). The agent's own, fuller view of the host is io.numaguest.agent.topology.HostTopology.
 */
public record NumaTopology(String nodeName, List<NumaNode> nodes) {

    public NumaTopology {
        nodes = nodes.stream().sorted(Comparator.comparingInt(NumaNode::id)).toList();
    }

    public Optional<NumaNode> node(int id) {
        return nodes.stream().filter(node -> node.id() == id).findFirst();
    }

    public String describeIds() {
        return describe(nodes);
    }

    public String describeAllowedIds() {
        return describe(nodes.stream().filter(NumaNode::allowed).toList());
    }

    private static String describe(List<NumaNode> nodes) {
        return nodes.stream().map(node -> Integer.toString(node.id())).collect(Collectors.joining(", "));
    }
}
