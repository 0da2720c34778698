package io.numaguest.operator;

import java.util.Comparator;
import java.util.List;
import java.util.Map;
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

  /** The same nodes with {@code held} bytes per host node taken out of their free memory. */
  HostTopology less(Map<Integer, Long> held) {
    return new HostTopology(nodeName, nodes.stream()
        .map(node -> new HostNode(node.id(), node.memTotalBytes(),
            Math.max(0, node.memFreeBytes() - held.getOrDefault(node.id(), 0L)), node.distances()))
        .toList());
  }

  String describeIds() {
    return nodes.stream().map(node -> Integer.toString(node.id())).collect(Collectors.joining(", "));
  }
}
