package io.numaguest.operator;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/** The NUMA nodes of one Kubernetes node, ordered by id. */
public record HostTopology(String nodeName, List<HostNode> nodes) {

  public HostTopology {
    nodes = nodes.stream().sorted(Comparator.comparingInt(HostNode::id)).toList();
  }

  public Optional<HostNode> node(int id) {
    return nodes.stream().filter(node -> node.id() == id).findFirst();
  }

  String describeIds() {
    return nodes.stream().map(node -> Integer.toString(node.id())).collect(Collectors.joining(", "));
  }
}
