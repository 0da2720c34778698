package io.numaguest.agent.kubernetes;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.numaguest.agent.topology.HostNode;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.HugePagePool;
import io.numaguest.api.topology.NumaNode;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.topology.NumaZones;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.topology.v1alpha2.Zone;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Publishes this node's NUMA topology as the NodeResourceTopology (topology.node.k8s.io/v1alpha2,
 * cluster-scoped) named after the node, which is where the operator learns the host nodes it
 * places guest memory on, and which of them this agent may use (its cpuset's mems). The format is
 * {@link NumaZones}, which the operator reads back with; this class turns what sysfs says
 * ({@link HostTopology}) into that contract ({@link NumaTopology}).
 *
 * <p>Another component (Node Feature Discovery's topology-updater) may already publish the same
 * object in the same shape. The agent then leaves it alone rather than fight over it every period:
 * it only writes an object it created, which it marks with {@value #MANAGED_BY_LABEL}={@value #MANAGER}.
 */
public final class NodeTopologyPublisher {
    private static final Logger LOG = Logger.getLogger(NodeTopologyPublisher.class.getName());

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
        CustomResourceDefinition crd = client.apiextensions()
                .v1()
                .customResourceDefinitions()
                .withName(NodeResourceTopology.CRD_NAME)
                .get();
        return crd != null
                && crd.getSpec().getVersions().stream()
                        .anyMatch(v ->
                                NodeResourceTopology.VERSION.equals(v.getName()) && Boolean.TRUE.equals(v.getServed()));
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
        NodeResourceTopology published = NumaZones.nodeResourceTopology(contract(nodeName, topology.get()));
        List<Zone> zones = published.getZones();
        var nodeResourceTopologies = client.resources(NodeResourceTopology.class);
        NodeResourceTopology existing =
                nodeResourceTopologies.withName(nodeName).get();
        if (existing == null) {
            published.getMetadata().setLabels(Map.of(MANAGED_BY_LABEL, MANAGER));
            published.getMetadata().setOwnerReferences(ownerNode());
            nodeResourceTopologies.resource(published).create();
            LOG.info("Created NodeResourceTopology " + nodeName + " with " + zones.size() + " NUMA zones");
        } else if (createdByThisAgent(existing)) {
            // Everything else (labels, annotations, owner) stays as stored: others may have added to it.
            existing.setZones(zones);
            nodeResourceTopologies.resource(existing).update();
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

    private static boolean createdByThisAgent(NodeResourceTopology nodeResourceTopology) {
        Map<String, String> labels = nodeResourceTopology.getMetadata().getLabels();
        return labels != null && MANAGER.equals(labels.get(MANAGED_BY_LABEL));
    }

    /**
     * Publishes now and then every {@code period} after the previous publish ended, since MemFree
     * changes. A failed publish is logged (a warning when publishing starts failing, then quietly
     * until it works again) and never ends the schedule.
     */
    public ScheduledFuture<?> start(ScheduledExecutorService executor, Duration period) {
        return executor.scheduleWithFixedDelay(
                this::publishLoggingFailures, 0, period.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void publishLoggingFailures() {
        try {
            publish();
            if (failing) {
                LOG.info("Publishing NodeResourceTopology " + nodeName + " works again");
            }
            failing = false;
        } catch (RuntimeException e) {
            LOG.log(
                    failing ? Level.FINE : Level.WARNING,
                    "Cannot publish NodeResourceTopology " + nodeName + " (retrying every period): " + e.getMessage(),
                    e);
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

    /**
     * What sysfs says, as the contract carries it. A node's distance row lists the online nodes in
     * ascending order, as the nodes themselves are; a host node is allowed when it is in the
     * agent's Mems_allowed, the only nodes the kernel lets it bind memory to.
     */
    static NumaTopology contract(String nodeName, HostTopology host) {
        List<HostNode> nodes = host.nodes();
        List<NumaNode> numaNodes = new ArrayList<>();
        for (HostNode node : nodes) {
            Map<Integer, Integer> distances = new HashMap<>();
            for (int k = 0; k < Math.min(nodes.size(), node.distances().size()); k++) {
                distances.put(nodes.get(k).id(), node.distances().get(k));
            }
            List<NumaNode.HugePages> hugepages = new ArrayList<>();
            for (HugePagePool pool : node.hugepages()) {
                hugepages.add(new NumaNode.HugePages(
                        pool.pageSizeBytes(), pool.total() * pool.pageSizeBytes(), pool.free() * pool.pageSizeBytes()));
            }
            numaNodes.add(new NumaNode(
                    node.id(),
                    node.memTotalBytes(),
                    node.memFreeBytes(),
                    node.cpus().size(),
                    distances,
                    hugepages,
                    host.allowedMems().contains(node.id())));
        }
        return new NumaTopology(nodeName, numaNodes);
    }
}
