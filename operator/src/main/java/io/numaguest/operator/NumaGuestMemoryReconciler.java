package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.GroupVersionKind;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.IndexerResourceCache;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.topology.NumaZones;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.v1alpha1.MigrationTarget;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemorySpec;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.Target;
import io.numaguest.api.v1alpha1.VirtualMachineInstanceRef;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reconciles a NumaGuestMemory in three steps: observe (the target's pod and node, that node's
 * topology, what other NumaGuestMemories hold there), place (keep the placement made earlier, or
 * choose host nodes: {@link PlacementStep}), assemble the status ({@link StatusAssembler}). The
 * write is what the returned {@link UpdateControl} carries: the status (server-side apply of the
 * operator's fields), and nothing when it did not change. No label: a node's agent selects its
 * NumaGuestMemories by the status's node fields (selectable fields of the CRD). Events are posted by {@link StatusChanges} once a status write is seen.
 *
 * <p>Status has two writers. This operator applies observedGeneration, nodeName, targetPod,
 * placement and conditions with field manager {@value #FIELD_MANAGER}; the node agent applies
 * status.applied with its own manager after each apply. The operator reads applied to derive
 * Applied, Ready and Degraded, and never writes it.
 *
 * <p>Events that trigger a reconcile, each only when it changes something the NumaGuestMemory
 * depends on: the NumaGuestMemory (its spec, deletion, the agent's applied; not the operator's own
 * writes), its pods (labels, node, liveness), its VirtualMachineInstance and its node's
 * NodeResourceTopology. The last two informers exist only when the cluster serves those APIs.
 */
// Not generation-aware: the agent's status updates do not bump the generation, and Ready follows them.
// Every event, deletes included, reaches reconcile: a deleted NGM's VMI annotation goes then, without
// a finalizer that would hold every NGM's deletion up while the operator is away.
@ControllerConfiguration(
        name = "numaguestmemory",
        fieldManager = NumaGuestMemoryReconciler.FIELD_MANAGER,
        generationAwareEventProcessing = false,
        triggerReconcilerOnAllEvents = true)
@GradualRetry(maxAttempts = 12, initialInterval = 1000, intervalMultiplier = 2, maxInterval = 60_000)
public class NumaGuestMemoryReconciler implements Reconciler<NumaGuestMemory> {

    static final String FIELD_MANAGER = "numaguest-operator";
    private static final Logger LOG = LoggerFactory.getLogger(NumaGuestMemoryReconciler.class);
    private static final Duration ANNOTATION_RETRY = Duration.ofSeconds(30);
    static final GroupVersionKind VMI_GVK = new GroupVersionKind("kubevirt.io", "v1", ClusterCapabilities.VMI_KIND);

    // Indexes over NumaGuestMemories, to map an event on another resource to the ones it concerns.
    private static final String BY_VMI = "vmi";
    private static final String BY_SELECTED_LABEL = "selectedLabel";
    private static final String BY_TARGET_POD = "targetPod";
    private static final String BY_NODE = "node";
    // Indexes over pods and VMIs.
    private static final String BY_CREATOR = "createdBy";
    private static final String BY_LABEL = "label";
    private static final String BY_UID = "uid";
    /** Index key of pod-selector NumaGuestMemories whose selector has no matchLabels to index by. */
    private static final String ANY_LABEL = "*";

    private final ClusterCapabilities capabilities;
    private final MeterRegistry registry;
    private PlacementStep placement;
    private IndexerResourceCache<NumaGuestMemory> ngms;
    private InformerEventSource<Pod, NumaGuestMemory> pods;
    private InformerEventSource<GenericKubernetesResource, NumaGuestMemory> vmis;
    private InformerEventSource<NodeResourceTopology, NumaGuestMemory> topologies;

    NumaGuestMemoryReconciler(ClusterCapabilities capabilities, MeterRegistry registry) {
        this.capabilities = capabilities;
        this.registry = registry;
    }

    @Override
    public List<EventSource<?, NumaGuestMemory>> prepareEventSources(EventSourceContext<NumaGuestMemory> context) {
        ngms = context.getPrimaryCache();
        ngms.addIndexers(Map.of(
                BY_VMI,
                        ngm -> vmiName(ngm)
                                .map(name -> List.of(key(ngm.getMetadata().getNamespace(), name)))
                                .orElse(List.of()),
                BY_SELECTED_LABEL, NumaGuestMemoryReconciler::selectedLabelKeys,
                BY_TARGET_POD, ngm -> targetPodUids(ngm),
                BY_NODE, ngm -> nodesHolding(ngm)));
        placement = new PlacementStep(node -> ngms.byIndex(BY_NODE, node), ngms::get);
        for (boolean ready : new boolean[] {true, false}) {
            Gauge.builder(
                            "numaguest_operator_ngms",
                            ngms,
                            cache -> cache.list()
                                    .filter(ngm -> isReady(ngm) == ready)
                                    .count())
                    .description("NumaGuestMemories in the watched namespaces by their Ready condition")
                    .tag("ready", Boolean.toString(ready))
                    .register(registry);
        }

        List<EventSource<?, NumaGuestMemory>> sources = new ArrayList<>();
        pods = new InformerEventSource<>(
                InformerEventSourceConfiguration.from(Pod.class, NumaGuestMemory.class)
                        .withNamespacesInheritedFromController()
                        .withSecondaryToPrimaryMapper(this::forPod)
                        .withOnUpdateFilter(PodChanges::concernTargets)
                        .withItemStore(new ItemsWithoutManagedFields<>(PodChanges::keepTargetFields))
                        .build(),
                context);
        pods.addIndexers(Map.of(
                BY_CREATOR,
                        pod -> Optional.ofNullable(pod.getMetadata().getLabels())
                                .map(labels -> labels.get(TargetResolver.CREATED_BY_LABEL))
                                .map(List::of)
                                .orElse(List.of()),
                BY_LABEL,
                        pod -> labelKeys(
                                pod.getMetadata().getNamespace(),
                                pod.getMetadata().getLabels())));
        sources.add(pods);
        if (capabilities.kubeVirt()) {
            vmis = new InformerEventSource<>(
                    InformerEventSourceConfiguration.from(VMI_GVK, NumaGuestMemory.class)
                            .withNamespacesInheritedFromController()
                            .withSecondaryToPrimaryMapper(vmi -> ids(ngms.byIndex(
                                    BY_VMI,
                                    key(
                                            vmi.getMetadata().getNamespace(),
                                            vmi.getMetadata().getName()))))
                            .withItemStore(new ItemsWithoutManagedFields<>())
                            .build(),
                    context);
            vmis.addIndexers(Map.of(BY_UID, vmi -> List.of(vmi.getMetadata().getUid())));
            sources.add(vmis);
        }
        if (capabilities.nodeResourceTopology()) {
            // Cluster-scoped: without withWatchAllNamespaces() JOSDK would give the informer the
            // controller's namespaces (--watch-namespaces) and it would never see an object.
            topologies = new InformerEventSource<>(
                    InformerEventSourceConfiguration.from(NodeResourceTopology.class, NumaGuestMemory.class)
                            .withWatchAllNamespaces()
                            .withSecondaryToPrimaryMapper(nrt ->
                                    ids(ngms.byIndex(BY_NODE, nrt.getMetadata().getName())))
                            .withOnUpdateFilter((updated, old) -> TopologyChanges.concernNgms(
                                    updated,
                                    old,
                                    ngms.byIndex(BY_NODE, updated.getMetadata().getName())))
                            .withItemStore(new ItemsWithoutManagedFields<>())
                            .build(),
                    context);
            sources.add(topologies);
        }
        return sources;
    }

    @Override
    public UpdateControl<NumaGuestMemory> reconcile(NumaGuestMemory ngm, Context<NumaGuestMemory> context) {
        boolean annotated = annotateVmi(ngm, context);
        if (context.isPrimaryResourceDeleted()) {
            return UpdateControl.noUpdate();
        }
        UpdateControl<NumaGuestMemory> control = reconcileStatus(ngm, context);
        // A refused annotation write (the API server, or RBAC without patch on VMIs) is tried again.
        return annotated ? control : control.rescheduleAfter(ANNOTATION_RETRY);
    }

    /**
     * Gives the target VMI the {@value GuestMemoryAnnotation#NAME} annotation the KubeVirt hook reads
     * when virt-launcher defines the domain, and takes it away when no NumaGuestMemory (or more than
     * one, which the agent would refuse) targets the VMI any more. Written only when the VMI in the
     * cache says otherwise, by merge patch (null removes it). False when the write failed.
     */
    private boolean annotateVmi(NumaGuestMemory ngm, Context<NumaGuestMemory> context) {
        Optional<String> vmiName = vmiName(ngm);
        if (vmiName.isEmpty() || vmis == null) {
            return true;
        }
        String namespace = ngm.getMetadata().getNamespace();
        GenericKubernetesResource vmi =
                vmis.get(new ResourceID(vmiName.get(), namespace)).orElse(null);
        if (vmi == null) {
            return true;
        }
        var serialization = context.getClient().getKubernetesSerialization();
        List<NumaGuestMemory> targeting = ngms.byIndex(BY_VMI, key(namespace, vmiName.get()));
        String wanted = targeting.size() == 1
                ? GuestMemoryAnnotation.of(targeting.getFirst().getSpec(), serialization)
                : null;
        String current = Objects.requireNonNullElse(vmi.getMetadata().getAnnotations(), Map.<String, String>of())
                .get(GuestMemoryAnnotation.NAME);
        if (Objects.equals(wanted, current)) {
            return true;
        }
        Map<String, Object> annotations = new HashMap<>();
        annotations.put(GuestMemoryAnnotation.NAME, wanted);
        try {
            context.getClient()
                    .genericKubernetesResources(ClusterCapabilities.VMI_API_VERSION, ClusterCapabilities.VMI_KIND)
                    .inNamespace(namespace)
                    .withName(vmiName.get())
                    .patch(
                            PatchContext.of(PatchType.JSON_MERGE),
                            serialization.asJson(Map.of("metadata", Map.of("annotations", annotations))));
            return true;
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404) {
                return true; // gone meanwhile: nothing to annotate
            }
            LOG.warn(
                    "cannot {} annotation {} of VirtualMachineInstance {}/{} (the KubeVirt hook reads the guest memory request"
                            + " from it; the operator needs patch on virtualmachineinstances.kubevirt.io): {}",
                    wanted == null ? "remove" : "write",
                    GuestMemoryAnnotation.NAME,
                    namespace,
                    vmiName.get(),
                    e.getMessage());
            return false;
        }
    }

    private UpdateControl<NumaGuestMemory> reconcileStatus(NumaGuestMemory ngm, Context<NumaGuestMemory> context) {
        // Observe.
        TargetResolution target = resolve(ngm);
        MigrationResolution migrationTarget = resolveMigration(ngm);
        Optional<String> nodeName = target instanceof TargetResolution.Resolved resolved
                ? Optional.of(resolved.nodeName())
                : Optional.empty();
        Optional<NumaTopology> topology = nodeName.flatMap(this::topologyOf);
        // Place: the target first, so that a completed migration's target keeps the placement made for it.
        Optional<Placement.Result> placed = target instanceof TargetResolution.Resolved resolved
                ? Optional.of(placement.decide(ngm, resolved, topology))
                : Optional.empty();
        StatusAssembler.Migration migration;
        if (migrationTarget instanceof MigrationResolution.Resolved resolved) {
            Optional<NumaTopology> targetTopology = topologyOf(resolved.nodeName());
            migration = new StatusAssembler.Migration(
                    resolved,
                    Optional.of(placement.decideMigration(ngm, resolved, targetTopology)),
                    targetTopology.isPresent());
        } else {
            placement.migrationEnded(ngm);
            migration = new StatusAssembler.Migration(migrationTarget, Optional.empty(), false);
        }
        // Assemble.
        NumaGuestMemoryStatus status =
                StatusAssembler.assemble(ngm, target, placed, topology.isPresent(), migration, Instant.now());

        if (sameOperatorFields(ngm.getStatus(), status, context.getClient().getKubernetesSerialization())) {
            return UpdateControl.noUpdate();
        }
        return UpdateControl.patchStatus(patchOf(ngm, status));
    }

    private TargetResolution resolve(NumaGuestMemory ngm) {
        String namespace = ngm.getMetadata().getNamespace();
        Target target = ngm.getSpec().getTarget();
        if (target.getVirtualMachineInstance() != null) {
            String name = target.getVirtualMachineInstance().getName();
            if (vmis == null) {
                return TargetResolver.kubeVirtNotInstalled(name);
            }
            GenericKubernetesResource vmi =
                    vmis.get(new ResourceID(name, namespace)).orElse(null);
            List<Pod> launchers = vmi == null
                    ? List.of()
                    : pods.byIndex(BY_CREATOR, vmi.getMetadata().getUid());
            return TargetResolver.forVirtualMachineInstance(name, vmi, launchers);
        }
        return TargetResolver.forPodSelector(target.getPodSelector(), podsCarrying(namespace, target.getPodSelector()));
    }

    /** A live migration of the target VMI; pod-selector targets have none the operator could see. */
    private MigrationResolution resolveMigration(NumaGuestMemory ngm) {
        Optional<String> vmiName = vmiName(ngm);
        if (vmiName.isEmpty() || vmis == null) {
            return MigrationResolution.NONE;
        }
        GenericKubernetesResource vmi = vmis.get(
                        new ResourceID(vmiName.get(), ngm.getMetadata().getNamespace()))
                .orElse(null);
        List<Pod> launchers = vmi == null
                ? List.of()
                : pods.byIndex(BY_CREATOR, vmi.getMetadata().getUid());
        return TargetResolver.migrationTarget(vmi, launchers);
    }

    /**
     * The pods that can match the selector: those with one of its matchLabels (the index), or the
     * whole namespace when it has only expressions.
     */
    private List<Pod> podsCarrying(String namespace, LabelSelector selector) {
        var required = selector.getMatchLabels();
        if (required == null || required.isEmpty()) {
            return pods.list(namespace).toList();
        }
        var first = required.entrySet().stream().min(Map.Entry.comparingByKey()).orElseThrow();
        return pods.byIndex(BY_LABEL, labelKey(namespace, first.getKey(), first.getValue()));
    }

    private Optional<NumaTopology> topologyOf(String nodeName) {
        if (topologies == null) {
            return Optional.empty();
        }
        return topologies.get(new ResourceID(nodeName)).flatMap(NumaZones::read);
    }

    private static String migrationNode(NumaGuestMemoryStatus status) {
        return status == null || status.getMigration() == null
                ? null
                : status.getMigration().getNodeName();
    }

    /** The pods whose events concern the NumaGuestMemory as its target's: the target pod and a migration's target pod. */
    private static List<String> targetPodUids(NumaGuestMemory ngm) {
        List<String> uids = new ArrayList<>(2);
        status(ngm).map(NumaGuestMemoryStatus::getTargetPod).ifPresent(pod -> uids.add(pod.getUid()));
        status(ngm)
                .map(NumaGuestMemoryStatus::getMigration)
                .map(MigrationTarget::getTargetPod)
                .ifPresent(pod -> uids.add(pod.getUid()));
        return uids;
    }

    /** The nodes whose memory the NumaGuestMemory's placements reserve: its target's and a migration target's. */
    private static List<String> nodesHolding(NumaGuestMemory ngm) {
        List<String> nodes = new ArrayList<>(2);
        status(ngm).map(NumaGuestMemoryStatus::getNodeName).ifPresent(nodes::add);
        Optional.ofNullable(migrationNode(ngm.getStatus())).ifPresent(nodes::add);
        return nodes;
    }

    private static boolean sameOperatorFields(
            NumaGuestMemoryStatus current, NumaGuestMemoryStatus assembled, KubernetesSerialization serialization) {
        if (current == null) {
            return false;
        }
        var currentTree = serialization.convertValue(current, Map.class);
        currentTree.remove("applied");
        currentTree.remove("migrationApplied");
        return currentTree.equals(serialization.convertValue(assembled, Map.class));
    }

    /**
     * What the operator applies, and only that: its status fields. The agents' applied and
     * migrationApplied are not in it, so the apply neither claims nor clears them. No labels: each
     * node's agent selects its NGMs by {@code status.nodeName} and {@code status.migration.nodeName}.
     */
    private static NumaGuestMemory patchOf(NumaGuestMemory ngm, NumaGuestMemoryStatus status) {
        var patch = new NumaGuestMemory();
        patch.setMetadata(new ObjectMetaBuilder()
                .withName(ngm.getMetadata().getName())
                .withNamespace(ngm.getMetadata().getNamespace())
                .build());
        patch.setStatus(status);
        return patch;
    }

    private Set<ResourceID> forPod(Pod pod) {
        String namespace = pod.getMetadata().getNamespace();
        List<NumaGuestMemory> concerned =
                new ArrayList<>(ngms.byIndex(BY_TARGET_POD, pod.getMetadata().getUid()));
        Map<String, String> labels =
                Objects.requireNonNullElse(pod.getMetadata().getLabels(), Map.of());
        String creator = labels.get(TargetResolver.CREATED_BY_LABEL);
        if (creator != null && vmis != null) {
            for (var vmi : vmis.byIndex(BY_UID, creator)) {
                concerned.addAll(
                        ngms.byIndex(BY_VMI, key(namespace, vmi.getMetadata().getName())));
            }
        }
        List<String> keys = new ArrayList<>(labelKeys(namespace, labels));
        keys.add(labelKey(namespace, ANY_LABEL, ""));
        keys.stream()
                .flatMap(key -> ngms.byIndex(BY_SELECTED_LABEL, key).stream())
                .filter(ngm -> LabelSelectors.matches(podSelector(ngm).orElseThrow(), labels))
                .forEach(concerned::add);
        return ids(concerned);
    }

    /** Pod-selector NumaGuestMemories by each of their matchLabels, or under {@link #ANY_LABEL}. */
    private static List<String> selectedLabelKeys(NumaGuestMemory ngm) {
        Optional<LabelSelector> selector = podSelector(ngm);
        if (selector.isEmpty()) {
            return List.of();
        }
        var required = selector.get().getMatchLabels();
        String namespace = ngm.getMetadata().getNamespace();
        return required == null || required.isEmpty()
                ? List.of(labelKey(namespace, ANY_LABEL, ""))
                : labelKeys(namespace, required);
    }

    private static List<String> labelKeys(String namespace, Map<String, String> labels) {
        if (labels == null) {
            return List.of();
        }
        return labels.entrySet().stream()
                .map(label -> labelKey(namespace, label.getKey(), label.getValue()))
                .toList();
    }

    private static String labelKey(String namespace, String key, String value) {
        return namespace + "/" + key + "=" + value;
    }

    private static Set<ResourceID> ids(List<NumaGuestMemory> resources) {
        return resources.stream().map(ResourceID::fromResource).collect(Collectors.toCollection(HashSet::new));
    }

    private static boolean isReady(NumaGuestMemory ngm) {
        return StatusAssembler.isTrue(ngm.getStatus(), StatusAssembler.READY);
    }

    private static Optional<NumaGuestMemoryStatus> status(NumaGuestMemory ngm) {
        return Optional.ofNullable(ngm.getStatus());
    }

    private static Optional<String> vmiName(NumaGuestMemory ngm) {
        return Optional.ofNullable(ngm.getSpec())
                .map(NumaGuestMemorySpec::getTarget)
                .map(Target::getVirtualMachineInstance)
                .map(VirtualMachineInstanceRef::getName);
    }

    private static Optional<LabelSelector> podSelector(NumaGuestMemory ngm) {
        return Optional.ofNullable(ngm.getSpec())
                .map(NumaGuestMemorySpec::getTarget)
                .map(Target::getPodSelector);
    }

    private static String key(String namespace, String name) {
        return namespace + "/" + name;
    }
}
