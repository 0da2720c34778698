package io.numaguest.api.topology;

import io.fabric8.kubernetes.api.model.Quantity;
import io.numaguest.api.topology.v1alpha2.AttributeInfo;
import io.numaguest.api.topology.v1alpha2.CostInfo;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.topology.v1alpha2.ResourceInfo;
import io.numaguest.api.topology.v1alpha2.Zone;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How numaguest writes a {@link NumaTopology} into a NodeResourceTopology and reads it back: one
 * zone of type {@value #ZONE_TYPE} per host NUMA node, named {@code node-<id>}, with
 *
 * <ul>
 *   <li>{@code costs}: the SLIT distances to the other zones;
 *   <li>{@code resources}: {@code cpu} (the node's CPU count), {@code memory} (capacity =
 *       allocatable = MemTotal, available = MemFree, bytes), {@code hugepages-<size>} per page size;
 *   <li>{@code attributes}: {@value #ALLOWED_ATTRIBUTE} = {@code true} when the agent may place
 *       memory on the node (it is in its cpuset's mems), {@code false} when it may not. A zone
 *       without the attribute (another publisher's) counts as allowed.
 * </ul>
 *
 * Zones of other types or names, and resources of other names, are ignored when reading.
 */
public final class NumaZones {

    public static final String ZONE_TYPE = "Node";
    public static final String ALLOWED_ATTRIBUTE = "numaguest.io/allowed";
    private static final String HUGEPAGES_PREFIX = "hugepages-";
    private static final Pattern ZONE_NAME = Pattern.compile("node-(\\d+)");

    private NumaZones() {}

    public static String zoneName(int hostNode) {
        return "node-" + hostNode;
    }

    /** The zones of this topology, in node order. */
    public static List<Zone> zones(NumaTopology topology) {
        List<Zone> zones = new ArrayList<>();
        for (NumaNode node : topology.nodes()) {
            List<CostInfo> costs = new TreeMap<>(node.distances())
                    .entrySet().stream()
                            .map(distance -> new CostInfo(zoneName(distance.getKey()), distance.getValue()))
                            .toList();
            List<ResourceInfo> resources = new ArrayList<>();
            // The agent does not see kubelet's exclusive CPU assignments: every CPU of the node counts as available.
            resources.add(resource("cpu", node.cpus(), node.cpus()));
            resources.add(resource("memory", node.memTotalBytes(), node.memFreeBytes()));
            for (NumaNode.HugePages pool : node.hugepages()) {
                resources.add(resource(
                        HUGEPAGES_PREFIX + binaryQuantity(pool.pageSizeBytes()), pool.totalBytes(), pool.freeBytes()));
            }
            zones.add(new Zone(
                    zoneName(node.id()),
                    ZONE_TYPE,
                    null,
                    costs,
                    List.of(new AttributeInfo(ALLOWED_ATTRIBUTE, Boolean.toString(node.allowed()))),
                    resources));
        }
        return zones;
    }

    /** A NodeResourceTopology named after the node, carrying its zones; metadata beyond the name is the caller's. */
    public static NodeResourceTopology nodeResourceTopology(NumaTopology topology) {
        var nrt = new NodeResourceTopology();
        nrt.getMetadata().setName(topology.nodeName());
        nrt.setZones(zones(topology));
        return nrt;
    }

    /** Empty when the object carries no NUMA zone numaguest can read. */
    public static Optional<NumaTopology> read(NodeResourceTopology nrt) {
        List<NumaNode> nodes = new ArrayList<>();
        for (Zone zone : Objects.requireNonNullElse(nrt.getZones(), List.<Zone>of())) {
            Optional<Integer> id = nodeId(zone.name());
            if (!ZONE_TYPE.equals(zone.type()) || id.isEmpty()) {
                continue;
            }
            long capacity = 0;
            long available = 0;
            int cpus = 0;
            List<NumaNode.HugePages> hugepages = new ArrayList<>();
            for (ResourceInfo resource : Objects.requireNonNullElse(zone.resources(), List.<ResourceInfo>of())) {
                String name = Objects.requireNonNullElse(resource.name(), "");
                if (name.equals("memory")) {
                    capacity = bytes(resource.capacity());
                    available = bytes(resource.available());
                } else if (name.equals("cpu")) {
                    cpus = (int) bytes(resource.capacity());
                } else if (name.startsWith(HUGEPAGES_PREFIX)) {
                    hugepages.add(new NumaNode.HugePages(
                            bytes(new Quantity(name.substring(HUGEPAGES_PREFIX.length()))),
                            bytes(resource.capacity()),
                            bytes(resource.available())));
                }
            }
            Map<Integer, Integer> distances = new HashMap<>();
            for (CostInfo cost : Objects.requireNonNullElse(zone.costs(), List.<CostInfo>of())) {
                nodeId(cost.name()).ifPresent(other -> distances.put(other, (int) cost.value()));
            }
            boolean allowed = Objects.requireNonNullElse(zone.attributes(), List.<AttributeInfo>of()).stream()
                    .filter(attribute -> ALLOWED_ATTRIBUTE.equals(attribute.name()))
                    .noneMatch(attribute -> "false".equals(attribute.value()));
            nodes.add(new NumaNode(id.get(), capacity, available, cpus, distances, hugepages, allowed));
        }
        return nodes.isEmpty()
                ? Optional.empty()
                : Optional.of(new NumaTopology(nrt.getMetadata().getName(), nodes));
    }

    private static Optional<Integer> nodeId(String zoneName) {
        if (zoneName != null) {
            Matcher matcher = ZONE_NAME.matcher(zoneName);
            if (matcher.matches()) {
                return Optional.of(Integer.parseInt(matcher.group(1)));
            }
        }
        return Optional.empty();
    }

    private static ResourceInfo resource(String name, long capacity, long available) {
        // Allocatable is the capacity: kubelet's reservations are not per NUMA node and not known to the agent.
        Quantity total = new Quantity(Long.toString(capacity));
        return new ResourceInfo(name, total, total, new Quantity(Long.toString(available)));
    }

    private static long bytes(Quantity quantity) {
        return quantity == null ? 0 : Quantity.getAmountInBytes(quantity).longValue();
    }

    /** A page size the way Kubernetes names huge page resources: 2Mi, 1Gi, 64Ki. */
    private static String binaryQuantity(long bytes) {
        String[] suffixes = {"", "Ki", "Mi", "Gi", "Ti"};
        int scale = 0;
        while (scale < suffixes.length - 1 && bytes % 1024 == 0) {
            bytes /= 1024;
            scale++;
        }
        return bytes + suffixes[scale];
    }
}
