package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.numaguest.api.v1alpha1.Enforcement;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.PodReference;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Builds the part of a NumaGuestMemory's status that the operator owns: observedGeneration,
 * nodeName, targetPod, placement and conditions. {@code status.applied} belongs to the node agent;
 * it is read here, to derive Applied, Ready and Degraded, and never written.
 *
 * <p>Conditions:
 *
 * <ul>
 *   <li>Scheduled: the target resolved to exactly one live pod bound to a node.
 *   <li>Placed: every guest node has host nodes, checked against the node's topology.
 *   <li>Applied: the agent applied, for the current pod, every guest node's placed policy.
 *   <li>Ready: all of the above and the kernel confirmed every policy (verified).
 *   <li>Degraded: Strict enforcement and the agent refused or could not verify a guest node.
 * </ul>
 *
 * A placement is kept once made, for as long as the spec generation and the pod stay the same:
 * free memory changes as the VM runs, and a placement that followed it would no longer match what
 * the agent applied.
 */
final class StatusAssembler {

  static final String SCHEDULED = "Scheduled";
  static final String PLACED = "Placed";
  static final String APPLIED = "Applied";
  static final String READY = "Ready";
  static final String DEGRADED = "Degraded";

  static final String TOPOLOGY_UNAVAILABLE = "TopologyUnavailable";

  private StatusAssembler() {}

  /**
   * @param topology the target node's topology, empty when none is published
   * @param now transition time for conditions whose status changes
   */
  static NumaGuestMemoryStatus assemble(NumaGuestMemory ngm, TargetResolution target, Optional<HostTopology> topology,
      Instant now) {
    long generation = Objects.requireNonNullElse(ngm.getMetadata().getGeneration(), 0L);
    var current = Optional.ofNullable(ngm.getStatus()).orElseGet(NumaGuestMemoryStatus::new);
    var conditions = new ConditionWriter(current.getConditions(), generation, now);
    var status = new NumaGuestMemoryStatus();
    status.setObservedGeneration(generation);

    if (!(target instanceof TargetResolution.Resolved resolved)) {
      var unresolved = (TargetResolution.Unresolved) target;
      conditions.set(SCHEDULED, false, unresolved.reason(), unresolved.message());
      String waiting = "waiting for the target: " + unresolved.message();
      conditions.set(PLACED, false, "TargetNotScheduled", waiting);
      conditions.set(APPLIED, false, "TargetNotScheduled", waiting);
      conditions.set(READY, false, "TargetNotScheduled", waiting);
      conditions.set(DEGRADED, false, "TargetNotScheduled", "nothing applied yet");
      status.setConditions(conditions.result());
      return status;
    }

    Pod pod = resolved.pod();
    String nodeName = resolved.nodeName();
    status.setNodeName(nodeName);
    status.setTargetPod(new PodReference(pod.getMetadata().getName(), pod.getMetadata().getUid()));
    conditions.set(SCHEDULED, true, "PodScheduled", "pod " + pod.getMetadata().getName() + " on node " + nodeName);

    Placement.Result placement = keptPlacement(current, generation, pod)
        .orElseGet(() -> place(ngm, nodeName, topology));
    switch (placement) {
      case Placement.Unplaceable unplaceable -> {
        conditions.set(PLACED, false, unplaceable.reason(), unplaceable.message());
        String notPlaced = "not placed: " + unplaceable.message();
        conditions.set(APPLIED, false, "NotPlaced", notPlaced);
        conditions.set(READY, false, "NotPlaced", notPlaced);
        conditions.set(DEGRADED, false, "NotPlaced", "nothing applied yet");
      }
      case Placement.Placed placed -> {
        status.setPlacement(placed.guestNodes());
        conditions.set(PLACED, true, topology.isPresent() ? "Placed" : "PlacedWithoutTopology", describe(placed, topology, nodeName));
        assessApplied(placed, appliedFor(current, pod), ngm.getSpec().getEnforcement(), nodeName, conditions);
      }
    }
    status.setConditions(conditions.result());
    return status;
  }

  private static Optional<Placement.Result> keptPlacement(NumaGuestMemoryStatus current, long generation, Pod pod) {
    boolean samePod = current.getTargetPod() != null && Objects.equals(current.getTargetPod().getUid(), pod.getMetadata().getUid());
    boolean wasPlaced = current.getConditions() != null && current.getConditions().stream()
        .anyMatch(condition -> PLACED.equals(condition.getType()) && "True".equals(condition.getStatus()));
    if (samePod && wasPlaced && Objects.equals(current.getObservedGeneration(), generation) && current.getPlacement() != null) {
      return Optional.of(new Placement.Placed(current.getPlacement()));
    }
    return Optional.empty();
  }

  private static Placement.Result place(NumaGuestMemory ngm, String nodeName, Optional<HostTopology> topology) {
    List<GuestNode> guestNodes = ngm.getSpec().getGuestNodes().stream().map(GuestNode::of).toList();
    if (topology.isPresent()) {
      return Placement.place(guestNodes, topology.get());
    }
    if (guestNodes.stream().anyMatch(GuestNode::chosenByOperator)) {
      return new Placement.Unplaceable(TOPOLOGY_UNAVAILABLE, "no NodeResourceTopology is published for node " + nodeName
          + ", so host nodes cannot be chosen; is the numaguest agent running there?");
    }
    return Placement.placeUnchecked(guestNodes, nodeName);
  }

  private static String describe(Placement.Placed placed, Optional<HostTopology> topology, String nodeName) {
    String choices = placed.guestNodes().stream()
        .map(p -> "guest node " + p.getGuestNode() + " -> " + (p.getHostNodes().isEmpty() ? p.getPolicy().toString()
            : p.getPolicy() + " " + p.getHostNodes()))
        .collect(Collectors.joining(", "));
    return topology.isPresent() ? choices
        : choices + " (not checked: no NodeResourceTopology is published for node " + nodeName + ")";
  }

  /** The agent's entries for this pod; entries of an earlier pod describe memory that is gone. */
  private static Map<Integer, GuestNodeApplied> appliedFor(NumaGuestMemoryStatus current, Pod pod) {
    if (current.getApplied() == null) {
      return Map.of();
    }
    return current.getApplied().stream()
        .filter(applied -> Objects.equals(applied.getPodUid(), pod.getMetadata().getUid()) && applied.getGuestNode() != null)
        .collect(Collectors.toMap(GuestNodeApplied::getGuestNode, Function.identity(), (first, second) -> first));
  }

  private static void assessApplied(Placement.Placed placed, Map<Integer, GuestNodeApplied> applied, Enforcement enforcement,
      String nodeName, ConditionWriter conditions) {
    List<String> pending = new ArrayList<>();
    List<String> refused = new ArrayList<>();
    List<String> mismatched = new ArrayList<>();
    List<String> unverified = new ArrayList<>();
    for (GuestNodePlacement placement : placed.guestNodes()) {
      int guestNode = placement.getGuestNode();
      GuestNodeApplied entry = applied.get(guestNode);
      if (entry == null) {
        pending.add(Integer.toString(guestNode));
      } else if (entry.getError() != null) {
        refused.add(guestNode + " (" + entry.getError().getCode() + ": " + entry.getError().getMessage() + ")");
      } else if (entry.getPolicy() != placement.getPolicy()
          || !new HashSet<>(Objects.requireNonNullElse(entry.getHostNodes(), List.of())).equals(new HashSet<>(placement.getHostNodes()))) {
        mismatched.add(guestNode + " (applied " + entry.getPolicy() + " " + entry.getHostNodes() + ", placed "
            + placement.getPolicy() + " " + placement.getHostNodes() + ")");
      } else if (!Boolean.TRUE.equals(entry.getVerified())) {
        unverified.add(guestNode + (entry.getFdKind() == null ? "" : " (" + entry.getFdKind() + ")"));
      }
    }

    if (!refused.isEmpty()) {
      conditions.set(APPLIED, false, "Refused", "the agent refused guest nodes " + String.join(", ", refused));
    } else if (!mismatched.isEmpty()) {
      conditions.set(APPLIED, false, "PlacementChanged", "applied policy differs from the placement for guest nodes "
          + String.join(", ", mismatched) + "; it takes effect when the VM restarts");
    } else if (!pending.isEmpty()) {
      conditions.set(APPLIED, false, "WaitingForVMM", "waiting for the VMM to hand the memory of guest nodes "
          + String.join(", ", pending) + " to the agent on node " + nodeName);
    } else {
      conditions.set(APPLIED, true, "Applied", "the agent applied every guest node's policy");
    }

    boolean allApplied = refused.isEmpty() && mismatched.isEmpty() && pending.isEmpty();
    if (allApplied && unverified.isEmpty()) {
      conditions.set(READY, true, "Ready", "every guest node's policy is applied and verified");
    } else if (allApplied) {
      conditions.set(READY, false, "Unverified", "the kernel did not confirm the policy of guest nodes " + String.join(", ", unverified));
    } else {
      conditions.set(READY, false, conditions.reasonOf(APPLIED), conditions.messageOf(APPLIED));
    }

    if (enforcement == Enforcement.Strict && !refused.isEmpty()) {
      conditions.set(DEGRADED, true, "Refused", "Strict enforcement: the agent refused guest nodes " + String.join(", ", refused));
    } else if (enforcement == Enforcement.Strict && !unverified.isEmpty()) {
      conditions.set(DEGRADED, true, "Unverified", "Strict enforcement: the kernel did not confirm guest nodes " + String.join(", ", unverified));
    } else {
      conditions.set(DEGRADED, false, "AsRequested", enforcement == Enforcement.Strict
          ? "nothing refused or unverified" : "BestEffort enforcement accepts what the memory can carry");
    }
  }

  /** Sets conditions in a fixed order, keeping lastTransitionTime while a condition's status stays. */
  private static final class ConditionWriter {
    private final Map<String, Condition> previous;
    private final long generation;
    private final String now;
    private final List<Condition> result = new ArrayList<>();

    ConditionWriter(List<Condition> previous, long generation, Instant now) {
      this.previous = previous == null ? Map.of()
          : previous.stream().collect(Collectors.toMap(Condition::getType, Function.identity(), (first, second) -> first));
      this.generation = generation;
      this.now = now.truncatedTo(ChronoUnit.SECONDS).toString();
    }

    void set(String type, boolean status, String reason, String message) {
      String statusText = status ? "True" : "False";
      Condition before = previous.get(type);
      String since = before != null && statusText.equals(before.getStatus()) && before.getLastTransitionTime() != null
          ? before.getLastTransitionTime() : now;
      result.add(new ConditionBuilder().withType(type).withStatus(statusText).withReason(reason).withMessage(message)
          .withObservedGeneration(generation).withLastTransitionTime(since).build());
    }

    String reasonOf(String type) {
      return find(type).getReason();
    }

    String messageOf(String type) {
      return find(type).getMessage();
    }

    private Condition find(String type) {
      return result.stream().filter(condition -> condition.getType().equals(type)).findFirst().orElseThrow();
    }

    List<Condition> result() {
      return List.copyOf(result);
    }
  }
}
