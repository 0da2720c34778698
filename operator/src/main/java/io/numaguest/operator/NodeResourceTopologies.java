package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Quantity;
import io.javaoperatorsdk.operator.processing.GroupVersionKind;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a node's NUMA topology from the NodeResourceTopology object the agent publishes under the
 * node's name: one zone of type {@code Node} per NUMA node, named {@code node-<id>}, with a
 * {@code memory} resource (capacity = MemTotal, available = MemFree) and costs to the other zones
 * (the SLIT distances).
 */
final class NodeResourceTopologies {

  static final GroupVersionKind GVK = new GroupVersionKind("topology.node.k8s.io", "v1alpha2", "NodeResourceTopology");

  private static final Pattern ZONE_NAME = Pattern.compile("node-(\\d+)");

  private NodeResourceTopologies() {}

  /** Empty when the object carries no NUMA zone this operator can read. */
  static Optional<HostTopology> hostTopology(GenericKubernetesResource nrt) {
    List<HostNode> nodes = new ArrayList<>();
    for (Map<?, ?> zone : maps(nrt.getAdditionalProperties().get("zones"))) {
      Optional<Integer> id = nodeId(zone.get("name"));
      if (!"Node".equals(zone.get("type")) || id.isEmpty()) {
        continue;
      }
      long capacity = 0;
      long available = 0;
      for (Map<?, ?> resource : maps(zone.get("resources"))) {
        if ("memory".equals(resource.get("name"))) {
          capacity = bytes(resource.get("capacity"));
          available = bytes(resource.get("available"));
        }
      }
      Map<Integer, Integer> distances = new HashMap<>();
      for (Map<?, ?> cost : maps(zone.get("costs"))) {
        if (cost.get("value") instanceof Number value) {
          nodeId(cost.get("name")).ifPresent(other -> distances.put(other, value.intValue()));
        }
      }
      nodes.add(new HostNode(id.get(), capacity, available, distances));
    }
    return nodes.isEmpty() ? Optional.empty() : Optional.of(new HostTopology(nrt.getMetadata().getName(), nodes));
  }

  private static Optional<Integer> nodeId(Object zoneName) {
    if (zoneName instanceof String name) {
      Matcher matcher = ZONE_NAME.matcher(name);
      if (matcher.matches()) {
        return Optional.of(Integer.parseInt(matcher.group(1)));
      }
    }
    return Optional.empty();
  }

  private static long bytes(Object quantity) {
    return quantity == null ? 0 : Quantity.getAmountInBytes(new Quantity(quantity.toString())).longValue();
  }

  private static List<Map<?, ?>> maps(Object list) {
    if (!(list instanceof List<?> items)) {
      return List.of();
    }
    return items.stream().filter(Map.class::isInstance).<Map<?, ?>>map(Map.class::cast).toList();
  }
}
