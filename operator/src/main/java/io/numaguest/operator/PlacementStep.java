package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.numaguest.api.topology.NumaTopology;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * The decision step of a reconcile: the placement a NumaGuestMemory keeps, or a new one that does
 * not overcommit its node.
 *
 * <p>A placement is kept once made, for as long as the spec generation and the pod stay the same:
 * free memory changes as the VM runs, and a placement that followed it would no longer match what
 * the agent applied.
 *
 * <p>A new placement sees a host node's free memory (the NodeResourceTopology's available) less
 * what other VMs placed on the same node hold there and have not allocated yet: what each placement
 * reserved, less the pages the agent already counts for that VM on that host node (those are in the
 * published free memory, or will be at the next publish). Reconciles run in parallel and the cache
 * shows a status write only some time after it: so the placements this process made are
 * remembered, with what they reserved, for as long as the NumaGuestMemory keeps them. Placements it
 * did not make (another replica's, before a restart) come from the status, each guest node's size
 * split evenly over its host nodes. Decisions are made one at a time.
 */
final class PlacementStep {

  /** A placement made by this process. */
  private record Decision(String nodeName, String podUid, long generation, Placement.Placed placed) {}

  private final Function<String, List<NumaGuestMemory>> onNode;
  private final Function<ResourceID, Optional<NumaGuestMemory>> byId;
  private final Map<ResourceID, Decision> made = new HashMap<>();
  /** The same decisions by node, so a decision looks only at its own node's. */
  private final Map<String, Map<ResourceID, Decision>> madeOnNode = new HashMap<>();

  /**
   * @param onNode the NumaGuestMemories whose cached status names the node
   * @param byId a NumaGuestMemory from the cache
   */
  PlacementStep(Function<String, List<NumaGuestMemory>> onNode, Function<ResourceID, Optional<NumaGuestMemory>> byId) {
    this.onNode = onNode;
    this.byId = byId;
  }

  synchronized Placement.Result decide(NumaGuestMemory ngm, TargetResolution.Resolved target, Optional<NumaTopology> topology) {
    ResourceID id = ResourceID.fromResource(ngm);
    String nodeName = target.nodeName();
    String podUid = target.pod().getMetadata().getUid();
    long generation = generation(ngm);
    Decision earlier = made.get(id);
    if (earlier != null && earlier.nodeName().equals(nodeName) && earlier.podUid().equals(podUid) && earlier.generation() == generation) {
      return earlier.placed();
    }
    Optional<Placement.Placed> kept = keptPlacement(ngm, podUid, generation);
    if (kept.isPresent()) {
      return kept.get();
    }
    List<GuestNode> guestNodes = ngm.getSpec().getGuestNodes().stream().map(GuestNode::of).toList();
    Placement.Result result;
    if (topology.isPresent()) {
      result = Placement.place(guestNodes, less(topology.get(), heldByOthers(id, nodeName)));
    } else if (guestNodes.stream().anyMatch(GuestNode::chosenByOperator)) {
      result = new Placement.Unplaceable(ConditionReason.TopologyUnavailable, "no NodeResourceTopology is published for node "
          + nodeName + ", so host nodes cannot be chosen; is the numaguest agent running there?");
    } else {
      result = Placement.placeUnchecked(guestNodes, nodeName);
    }
    forget(id);
    if (result instanceof Placement.Placed placed) {
      var decision = new Decision(nodeName, podUid, generation, placed);
      made.put(id, decision);
      madeOnNode.computeIfAbsent(nodeName, node -> new HashMap<>()).put(id, decision);
    }
    return result;
  }

  private static Optional<Placement.Placed> keptPlacement(NumaGuestMemory ngm, String podUid, long generation) {
    var current = ngm.getStatus();
    if (current == null || current.getPlacement() == null || current.getTargetPod() == null) {
      return Optional.empty();
    }
    boolean samePod = Objects.equals(current.getTargetPod().getUid(), podUid);
    return samePod && isPlaced(current) && Objects.equals(current.getObservedGeneration(), generation)
        ? Optional.of(new Placement.Placed(current.getPlacement())) : Optional.empty();
  }

  /** Bytes per host node that other VMs placed on this node hold and have not allocated yet. */
  private Map<Integer, Long> heldByOthers(ResourceID self, String nodeName) {
    Map<ResourceID, Decision> here = madeOnNode.getOrDefault(nodeName, Map.of());
    here.entrySet().stream().filter(entry -> !stillHeld(entry.getKey(), entry.getValue())).map(Map.Entry::getKey).toList()
        .forEach(this::forget);
    Map<Integer, Long> held = new HashMap<>();
    madeOnNode.getOrDefault(nodeName, Map.of()).forEach((id, decision) -> {
      if (!id.equals(self)) {
        var allocated = allocatedBytes(byId.apply(id).orElseThrow(), decision.podUid());
        decision.placed().reservedBytes().forEach((hostNode, bytes) ->
            held.merge(hostNode, Math.max(0, bytes - allocated.getOrDefault(hostNode, 0L)), Long::sum));
      }
    });
    for (NumaGuestMemory other : onNode.apply(nodeName)) {
      ResourceID id = ResourceID.fromResource(other);
      var status = other.getStatus();
      if (!id.equals(self) && !made.containsKey(id) && isPlaced(status) && status.getPlacement() != null && status.getTargetPod() != null) {
        holdEvenly(held, other, status.getPlacement(), status.getTargetPod().getUid());
      }
    }
    return held;
  }

  /** The same nodes with {@code held} bytes per host node taken out of their free memory. */
  private static NumaTopology less(NumaTopology topology, Map<Integer, Long> held) {
    return new NumaTopology(topology.nodeName(), topology.nodes().stream()
        .map(node -> node.withMemFree(Math.max(0, node.memFreeBytes() - held.getOrDefault(node.id(), 0L))))
        .toList());
  }

  private void forget(ResourceID id) {
    Decision decision = made.remove(id);
    if (decision != null) {
      var onItsNode = madeOnNode.get(decision.nodeName());
      onItsNode.remove(id);
      if (onItsNode.isEmpty()) {
        madeOnNode.remove(decision.nodeName());
      }
    }
  }

  /** Whether a placement this process made still stands: the NumaGuestMemory exists and its status shows no other. */
  private boolean stillHeld(ResourceID id, Decision decision) {
    Optional<NumaGuestMemory> ngm = byId.apply(id);
    if (ngm.isEmpty() || generation(ngm.get()) != decision.generation()) {
      return false;
    }
    var status = ngm.get().getStatus();
    if (status == null || status.getTargetPod() == null) {
      return true; // not written yet, as far as the cache shows
    }
    return decision.nodeName().equals(status.getNodeName()) && decision.podUid().equals(status.getTargetPod().getUid());
  }

  private static void holdEvenly(Map<Integer, Long> held, NumaGuestMemory other, List<GuestNodePlacement> placement, String podUid) {
    Map<Integer, GuestNode> specs = new HashMap<>();
    other.getSpec().getGuestNodes().forEach(spec -> specs.put(spec.getGuestNode(), GuestNode.of(spec)));
    Map<Integer, Long> reserved = new HashMap<>();
    for (GuestNodePlacement entry : placement) {
      GuestNode spec = specs.get(entry.getGuestNode());
      if (spec != null && !entry.getHostNodes().isEmpty()) {
        long share = spec.sizeBytes() / entry.getHostNodes().size();
        entry.getHostNodes().forEach(hostNode -> reserved.merge(hostNode, share, Long::sum));
      }
    }
    var allocated = allocatedBytes(other, podUid);
    reserved.forEach((hostNode, bytes) -> held.merge(hostNode, Math.max(0, bytes - allocated.getOrDefault(hostNode, 0L)), Long::sum));
  }

  /** Bytes per host node the agent counts as allocated for this pod's guest memory. */
  private static Map<Integer, Long> allocatedBytes(NumaGuestMemory ngm, String podUid) {
    Map<Integer, Long> allocated = new HashMap<>();
    List<GuestNodeApplied> applied = Optional.ofNullable(ngm.getStatus()).map(NumaGuestMemoryStatus::getApplied).orElse(List.of());
    for (GuestNodeApplied entry : applied) {
      if (podUid.equals(entry.getPodUid()) && entry.getPagesByHostNode() != null && entry.getPageSizeBytes() != null) {
        entry.getPagesByHostNode().forEach((hostNode, pages) -> {
          try {
            allocated.merge(Integer.parseInt(hostNode), pages * entry.getPageSizeBytes(), Long::sum);
          } catch (NumberFormatException e) {
            // not a host node id: the agent writes none such, and none counts
          }
        });
      }
    }
    return allocated;
  }

  private static boolean isPlaced(NumaGuestMemoryStatus status) {
    return status != null && status.getConditions() != null && status.getConditions().stream()
        .anyMatch((Condition condition) -> StatusAssembler.PLACED.equals(condition.getType()) && "True".equals(condition.getStatus()));
  }

  private static long generation(NumaGuestMemory ngm) {
    return Objects.requireNonNullElse(ngm.getMetadata().getGeneration(), 0L);
  }
}
