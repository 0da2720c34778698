package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
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
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemorySpec;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.Target;
import io.numaguest.api.v1alpha1.VirtualMachineInstanceRef;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Reconciles a NumaGuestMemory: resolves its target to a pod and node, places its guest nodes on
 * that node's host NUMA nodes, labels it for the node's agent and reports progress in status.
 *
 * <p>Status has two writers. This operator applies observedGeneration, nodeName, targetPod,
 * placement and conditions with field manager {@value #FIELD_MANAGER}; the node agent applies
 * status.applied with its own manager after each apply. The operator reads applied to derive
 * Applied, Ready and Degraded, and never writes it.
 *
 * <p>Events that trigger a reconcile: the NumaGuestMemory (status too, since the agent's applied
 * matters), its pods, its VirtualMachineInstance, its node and that node's NodeResourceTopology.
 * The last two informers and the VMI informer exist only when the cluster serves those APIs.
 */
// Not generation-aware: the agent's status updates do not bump the generation, and Ready follows them.
@ControllerConfiguration(name = "numaguestmemory", fieldManager = NumaGuestMemoryReconciler.FIELD_MANAGER,
    generationAwareEventProcessing = false)
@GradualRetry(maxAttempts = 12, initialInterval = 1000, intervalMultiplier = 2, maxInterval = 60_000)
public class NumaGuestMemoryReconciler implements Reconciler<NumaGuestMemory> {

  static final String FIELD_MANAGER = "numaguest-operator";
  static final GroupVersionKind VMI_GVK = new GroupVersionKind("kubevirt.io", "v1", ClusterCapabilities.VMI_KIND);

  // Indexes over NumaGuestMemories, to map an event on another resource to the ones it concerns.
  private static final String BY_VMI = "vmi";
  private static final String BY_SELECTOR_NAMESPACE = "selectorNamespace";
  private static final String BY_TARGET_POD = "targetPod";
  private static final String BY_NODE = "node";
  // Indexes over pods and VMIs.
  private static final String BY_CREATOR = "createdBy";
  private static final String BY_UID = "uid";

  private final ClusterCapabilities capabilities;
  private final EventRecorder events;
  private IndexerResourceCache<NumaGuestMemory> ngms;
  private InformerEventSource<Pod, NumaGuestMemory> pods;
  private InformerEventSource<GenericKubernetesResource, NumaGuestMemory> vmis;
  private InformerEventSource<GenericKubernetesResource, NumaGuestMemory> topologies;

  NumaGuestMemoryReconciler(ClusterCapabilities capabilities, EventRecorder events) {
    this.capabilities = capabilities;
    this.events = events;
  }

  @Override
  public List<EventSource<?, NumaGuestMemory>> prepareEventSources(EventSourceContext<NumaGuestMemory> context) {
    ngms = context.getPrimaryCache();
    ngms.addIndexers(Map.of(
        BY_VMI, ngm -> vmiName(ngm).map(name -> List.of(key(ngm.getMetadata().getNamespace(), name))).orElse(List.of()),
        BY_SELECTOR_NAMESPACE, ngm -> podSelector(ngm).isPresent() ? List.of(ngm.getMetadata().getNamespace()) : List.of(),
        BY_TARGET_POD, ngm -> status(ngm).map(NumaGuestMemoryStatus::getTargetPod).map(pod -> List.of(pod.getUid())).orElse(List.of()),
        BY_NODE, ngm -> status(ngm).map(NumaGuestMemoryStatus::getNodeName).map(List::of).orElse(List.of())));

    List<EventSource<?, NumaGuestMemory>> sources = new ArrayList<>();
    pods = new InformerEventSource<>(InformerEventSourceConfiguration.from(Pod.class, NumaGuestMemory.class)
        .withNamespacesInheritedFromController()
        .withSecondaryToPrimaryMapper(this::forPod)
        .build(), context);
    pods.addIndexers(Map.of(BY_CREATOR, pod -> Optional.ofNullable(pod.getMetadata().getLabels())
        .map(labels -> labels.get(TargetResolver.CREATED_BY_LABEL)).map(List::of).orElse(List.of())));
    sources.add(pods);
    // Nodes and NodeResourceTopologies are cluster-scoped: without withWatchAllNamespaces() JOSDK
    // would give their informers the controller's namespaces (--watch-namespaces) and they would
    // never see an object.
    sources.add(new InformerEventSource<>(InformerEventSourceConfiguration.from(Node.class, NumaGuestMemory.class)
        .withWatchAllNamespaces()
        .withSecondaryToPrimaryMapper(node -> onNode(node.getMetadata().getName()))
        .build(), context));
    if (capabilities.kubeVirt()) {
      vmis = new InformerEventSource<>(InformerEventSourceConfiguration.from(VMI_GVK, NumaGuestMemory.class)
          .withNamespacesInheritedFromController()
          .withSecondaryToPrimaryMapper(vmi -> ids(ngms.byIndex(BY_VMI, key(vmi.getMetadata().getNamespace(), vmi.getMetadata().getName()))))
          .build(), context);
      vmis.addIndexers(Map.of(BY_UID, vmi -> List.of(vmi.getMetadata().getUid())));
      sources.add(vmis);
    }
    if (capabilities.nodeResourceTopology()) {
      topologies = new InformerEventSource<>(InformerEventSourceConfiguration.from(NodeResourceTopologies.GVK, NumaGuestMemory.class)
          .withWatchAllNamespaces()
          .withSecondaryToPrimaryMapper(nrt -> onNode(nrt.getMetadata().getName()))
          .build(), context);
      sources.add(topologies);
    }
    return sources;
  }

  @Override
  public UpdateControl<NumaGuestMemory> reconcile(NumaGuestMemory ngm, Context<NumaGuestMemory> context) {
    TargetResolution target = resolve(ngm);
    Optional<HostTopology> topology = target instanceof TargetResolution.Resolved resolved
        ? topologyOf(resolved.nodeName()) : Optional.empty();
    NumaGuestMemoryStatus status = StatusAssembler.assemble(ngm, target, topology, Instant.now());

    labelWithNode(ngm, status.getNodeName(), context);
    announceChanges(ngm, status);
    var serialization = context.getClient().getKubernetesSerialization();
    if (sameOperatorFields(ngm.getStatus(), status, serialization)) {
      return UpdateControl.noUpdate();
    }
    return UpdateControl.patchStatus(statusPatch(ngm, status, context));
  }

  private TargetResolution resolve(NumaGuestMemory ngm) {
    String namespace = ngm.getMetadata().getNamespace();
    Target target = ngm.getSpec().getTarget();
    if (target.getVirtualMachineInstance() != null) {
      String name = target.getVirtualMachineInstance().getName();
      if (vmis == null) {
        return TargetResolver.kubeVirtNotInstalled(name);
      }
      GenericKubernetesResource vmi = vmis.get(new ResourceID(name, namespace)).orElse(null);
      List<Pod> launchers = vmi == null ? List.of() : pods.byIndex(BY_CREATOR, vmi.getMetadata().getUid());
      return TargetResolver.forVirtualMachineInstance(name, vmi, launchers);
    }
    return TargetResolver.forPodSelector(target.getPodSelector(), pods.list(namespace).toList());
  }

  private Optional<HostTopology> topologyOf(String nodeName) {
    if (topologies == null) {
      return Optional.empty();
    }
    return topologies.get(new ResourceID(nodeName)).flatMap(NodeResourceTopologies::hostTopology);
  }

  /** The agent of a node watches only NumaGuestMemories with its node's label. */
  private static void labelWithNode(NumaGuestMemory ngm, String nodeName, Context<NumaGuestMemory> context) {
    Map<String, String> labels = Objects.requireNonNullElse(ngm.getMetadata().getLabels(), Map.of());
    if (Objects.equals(labels.get(NumaGuestMemory.NODE_LABEL), nodeName)) {
      return;
    }
    // Patches of this one label only: the operator owns no other part of metadata or spec.
    var resource = context.getClient().resources(NumaGuestMemory.class).inNamespace(ngm.getMetadata().getNamespace())
        .withName(ngm.getMetadata().getName());
    if (nodeName == null) {
      resource.patch(PatchContext.of(PatchType.JSON), "[{\"op\": \"remove\", \"path\": \"/metadata/labels/"
          + NumaGuestMemory.NODE_LABEL.replace("/", "~1") + "\"}]");
    } else {
      String value = context.getClient().getKubernetesSerialization().asJson(nodeName);
      resource.patch(PatchContext.of(PatchType.JSON_MERGE),
          "{\"metadata\": {\"labels\": {\"" + NumaGuestMemory.NODE_LABEL + "\": " + value + "}}}");
    }
  }

  /** An event for each Scheduled or Placed condition whose reason changed: the decisions and the failures. */
  private void announceChanges(NumaGuestMemory ngm, NumaGuestMemoryStatus status) {
    Map<String, String> before = status(ngm).map(NumaGuestMemoryStatus::getConditions).orElse(List.of()).stream()
        .collect(Collectors.toMap(Condition::getType, c -> c.getReason() + "/" + c.getStatus(), (a, b) -> a));
    for (var condition : status.getConditions()) {
      boolean announced = condition.getType().equals(StatusAssembler.SCHEDULED) || condition.getType().equals(StatusAssembler.PLACED);
      if (!announced || Objects.equals(before.get(condition.getType()), condition.getReason() + "/" + condition.getStatus())) {
        continue;
      }
      if ("True".equals(condition.getStatus())) {
        events.normal(ngm, condition.getReason(), condition.getMessage());
      } else if (!"TargetNotScheduled".equals(condition.getReason())) {
        events.warning(ngm, condition.getReason(), condition.getMessage());
      }
    }
  }

  private static boolean sameOperatorFields(NumaGuestMemoryStatus current, NumaGuestMemoryStatus assembled,
      KubernetesSerialization serialization) {
    if (current == null) {
      return false;
    }
    var currentTree = serialization.convertValue(current, Map.class);
    currentTree.remove("applied");
    return currentTree.equals(serialization.convertValue(assembled, Map.class));
  }

  /**
   * With server-side apply (the default) the patch carries only the operator's fields, so the
   * apply neither claims nor clears the agent's. Without it (the mock API server in tests) JOSDK
   * diffs the whole status against the cached one, so the agent's entries ride along unchanged.
   */
  private static NumaGuestMemory statusPatch(NumaGuestMemory ngm, NumaGuestMemoryStatus status, Context<NumaGuestMemory> context) {
    var patch = new NumaGuestMemory();
    patch.setMetadata(new ObjectMetaBuilder().withName(ngm.getMetadata().getName())
        .withNamespace(ngm.getMetadata().getNamespace()).build());
    if (!context.getControllerConfiguration().getConfigurationService().useSSAToPatchPrimaryResource()) {
      status(ngm).map(NumaGuestMemoryStatus::getApplied).ifPresent(status::setApplied);
    }
    patch.setStatus(status);
    return patch;
  }

  private Set<ResourceID> forPod(Pod pod) {
    String namespace = pod.getMetadata().getNamespace();
    List<NumaGuestMemory> concerned = new ArrayList<>(ngms.byIndex(BY_TARGET_POD, pod.getMetadata().getUid()));
    String creator = Optional.ofNullable(pod.getMetadata().getLabels()).map(labels -> labels.get(TargetResolver.CREATED_BY_LABEL)).orElse(null);
    if (creator != null && vmis != null) {
      for (var vmi : vmis.byIndex(BY_UID, creator)) {
        concerned.addAll(ngms.byIndex(BY_VMI, key(namespace, vmi.getMetadata().getName())));
      }
    }
    ngms.byIndex(BY_SELECTOR_NAMESPACE, namespace).stream()
        .filter(ngm -> LabelSelectors.matches(podSelector(ngm).orElseThrow(), pod.getMetadata().getLabels()))
        .forEach(concerned::add);
    return ids(concerned);
  }

  private Set<ResourceID> onNode(String nodeName) {
    return ids(ngms.byIndex(BY_NODE, nodeName));
  }

  private static Set<ResourceID> ids(List<NumaGuestMemory> resources) {
    return resources.stream().map(ResourceID::fromResource).collect(Collectors.toCollection(HashSet::new));
  }

  private static Optional<NumaGuestMemoryStatus> status(NumaGuestMemory ngm) {
    return Optional.ofNullable(ngm.getStatus());
  }

  private static Optional<String> vmiName(NumaGuestMemory ngm) {
    return Optional.ofNullable(ngm.getSpec()).map(NumaGuestMemorySpec::getTarget).map(Target::getVirtualMachineInstance)
        .map(VirtualMachineInstanceRef::getName);
  }

  private static Optional<LabelSelector> podSelector(NumaGuestMemory ngm) {
    return Optional.ofNullable(ngm.getSpec()).map(NumaGuestMemorySpec::getTarget).map(Target::getPodSelector);
  }

  private static String key(String namespace, String name) {
    return namespace + "/" + name;
  }
}
