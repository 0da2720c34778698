package io.numaguest.agent.kubernetes;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.numaguest.agent.topology.HostNode;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.HugePagePool;

/**
 * Publishes this node's NUMA topology as the NodeResourceTopology (topology.node.k8s.io/v1alpha2,
 * cluster-scoped) named after the node, which is where the operator learns the host nodes it
 * places guest memory on. One zone of type {@code Node} per host NUMA node, named
 * {@code node-<id>}, with its SLIT row as {@code costs} and its cpu, memory and huge page
 * resources; the operator's reading side is io.numaguest.operator.NodeResourceTopologies.
 *
 * <p>Another component (Node Feature Discovery's topology-updater) may already publish the same
 * object in the same shape. The agent then leaves it alone rather than fight over it every period:
 * it only writes an object it created, which it marks with {@value #MANAGED_BY_LABEL}={@value #MANAGER}.
 */
public final class NodeTopologyPublisher {
    private static final Logger LOG = Logger.getLogger(NodeTopologyPublisher.class.getName());

    static final String CRD_NAME = "noderesourcetopologies.topology.node.k8s.io";
    static final ResourceDefinitionContext NODE_RESOURCE_TOPOLOGY = new ResourceDefinitionContext.Builder()
            .withGroup("topology.node.k8s.io")
            .withVersion("v1alpha2")
            .withKind("NodeResourceTopology")
            .withPlural("noderesourcetopologies")
            .withNamespaced(false)
            .build();
    static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
    static final String MANAGER = "numaguest-agent";

    private final KubernetesClient client;
    private final String nodeName;
    private final Supplier<HostTopology> topology;

    /** Whether the last publish found the object owned by another component: logged once, not every period. */
    private boolean leftToAnotherPublisher;
    /** Only touched by the scheduled task, whose runs happen one after another. */
    private boolean failing;

    public NodeTopologyPublisher(KubernetesClient client, String nodeName, Supplier<HostTopology> topology) {
        this.client = client;
        this.nodeName = nodeName;
        this.topology = topology;
    }

    /** Whether the cluster serves the NodeResourceTopology version this agent writes. */
    public boolean crdPresent() {
        CustomResourceDefinition crd = client.apiextensions().v1().customResourceDefinitions().withName(CRD_NAME).get();
        return crd != null && crd.getSpec().getVersions().stream()
                .anyMatch(v -> NODE_RESOURCE_TOPOLOGY.getVersion().equals(v.getName()) && Boolean.TRUE.equals(v.getServed()));
    }

    /**
     * Creates the node's NodeResourceTopology, or updates the zones of the one it created earlier.
     * The update carries the resourceVersion it read, so a concurrent writer makes it fail with a
     * conflict instead of being overwritten; the next period reads again.
     *
     * @throws KubernetesClientException when the API server refuses or cannot be reached; whatever
     *         the topology supplier throws when the host topology cannot be read
     */
    public synchronized void publish() {
        List<Map<String, Object>> zones = zones(topology.get());
        GenericKubernetesResource existing = client.genericKubernetesResources(NODE_RESOURCE_TOPOLOGY).withName(nodeName).get();
        if (existing == null) {
            GenericKubernetesResource created = new GenericKubernetesResourceBuilder()
                    .withApiVersion(NODE_RESOURCE_TOPOLOGY.getGroup() + "/" + NODE_RESOURCE_TOPOLOGY.getVersion())
                    .withKind(NODE_RESOURCE_TOPOLOGY.getKind())
                    .withNewMetadata()
                    .withName(nodeName)
                    .addToLabels(MANAGED_BY_LABEL, MANAGER)
                    .withOwnerReferences(ownerNode())
                    .endMetadata()
                    .addToAdditionalProperties("zones", zones)
                    .build();
            client.genericKubernetesResources(NODE_RESOURCE_TOPOLOGY).resource(created).create();
            LOG.info("Created NodeResourceTopology " + nodeName + " with " + zones.size() + " NUMA zones");
        } else if (createdByThisAgent(existing)) {
            // Everything else (labels, annotations, owner) stays as stored: others may have added to it.
            existing.setAdditionalProperty("zones", zones);
            client.genericKubernetesResources(NODE_RESOURCE_TOPOLOGY).resource(existing).update();
        } else {
            if (!leftToAnotherPublisher) {
                LOG.info("NodeResourceTopology " + nodeName + " exists and was not created by this agent (no "
                        + MANAGED_BY_LABEL + "=" + MANAGER + " label): leaving it to the component that publishes it");
            }
            leftToAnotherPublisher = true;
            return;
        }
        leftToAnotherPublisher = false;
    }

    private static boolean createdByThisAgent(GenericKubernetesResource nodeResourceTopology) {
        Map<String, String> labels = nodeResourceTopology.getMetadata().getLabels();
        return labels != null && MANAGER.equals(labels.get(MANAGED_BY_LABEL));
    }

    /**
     * Publishes now and then every {@code period} after the previous publish ended, since MemFree
     * changes. A failed publish is logged (a warning when publishing starts failing, then quietly
     * until it works again) and never ends the schedule.
     */
    public ScheduledFuture<?> start(ScheduledExecutorService executor, Duration period) {
        return executor.scheduleWithFixedDelay(this::publishLoggingFailures, 0, period.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void publishLoggingFailures() {
        try {
            publish();
            if (failing) {
                LOG.info("Publishing NodeResourceTopology " + nodeName + " works again");
            }
            failing = false;
        } catch (RuntimeException e) {
            LOG.log(failing ? Level.FINE : Level.WARNING,
                    "Cannot publish NodeResourceTopology " + nodeName + " (retrying every period): " + e.getMessage(), e);
            failing = true;
        }
    }

    /**
     * The Node as owner, so that deleting the Node garbage-collects its topology. Read at each
     * create rather than remembered: a node that re-registers under the same name has a new UID.
     * Not blockOwnerDeletion, which would need update on nodes/finalizers. Without permission to
     * get nodes the object is published ownerless.
     */
    private List<OwnerReference> ownerNode() {
        Node node;
        try {
            node = client.nodes().withName(nodeName).get();
        } catch (KubernetesClientException e) {
            LOG.warning("Cannot read Node " + nodeName + " (" + e.getMessage() + "): its NodeResourceTopology is"
                    + " created without an owner and will outlive the Node; grant the agent get on nodes");
            return List.of();
        }
        if (node == null) {
            LOG.warning("Node " + nodeName + " does not exist: its NodeResourceTopology is created without an owner");
            return List.of();
        }
        return List.of(new OwnerReferenceBuilder()
                .withApiVersion("v1")
                .withKind("Node")
                .withName(nodeName)
                .withUid(node.getMetadata().getUid())
                .build());
    }

    static List<Map<String, Object>> zones(HostTopology topology) {
        List<HostNode> nodes = topology.nodes();
        List<Map<String, Object>> zones = new ArrayList<>();
        for (HostNode node : nodes) {
            // A node's distance row lists the online nodes in ascending order, as the nodes themselves are.
            List<Map<String, Object>> costs = new ArrayList<>();
            for (int k = 0; k < Math.min(nodes.size(), node.distances().size()); k++) {
                costs.add(Map.of("name", zoneName(nodes.get(k).id()), "value", node.distances().get(k)));
            }
            List<Map<String, Object>> resources = new ArrayList<>();
            // The agent does not see kubelet's exclusive CPU assignments: every CPU of the node counts as available.
            String cpus = Integer.toString(node.cpus().size());
            resources.add(resource("cpu", cpus, cpus));
            resources.add(resource("memory", Long.toString(node.memTotalBytes()), Long.toString(node.memFreeBytes())));
            for (HugePagePool pool : node.hugepages()) {
                resources.add(resource("hugepages-" + binaryQuantity(pool.pageSizeBytes()),
                        Long.toString(pool.total() * pool.pageSizeBytes()), Long.toString(pool.free() * pool.pageSizeBytes())));
            }
            zones.add(Map.of("name", zoneName(node.id()), "type", "Node", "costs", costs, "resources", resources));
        }
        return zones;
    }

    private static String zoneName(int hostNode) {
        return "node-" + hostNode;
    }

    /**
     * Allocatable is the capacity: kubelet's reservations (system-reserved, reserved CPUs) are not
     * per NUMA node and not known to the agent.
     */
    private static Map<String, Object> resource(String name, String capacity, String available) {
        return Map.of("name", name, "capacity", capacity, "allocatable", capacity, "available", available);
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
