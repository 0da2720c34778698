package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.Enforcement;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.MigrationTarget;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.PodReference;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
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
 *   <li>MigrationTargetReady, only while a live migration runs: what Ready says, for the migration's
 *       target pod on its node (status.migration, reported by that node's agent in
 *       status.migrationApplied). When the migration completes, the target pod becomes the target
 *       and keeps its placement; its entries count for Applied and Ready wherever they are, so Ready
 *       holds while the target's agent moves them into status.applied.
 * </ul>
 *
 * Reasons are {@link ConditionReason}s.
 */
final class StatusAssembler {

    static final String SCHEDULED = "Scheduled";
    static final String PLACED = "Placed";
    static final String APPLIED = "Applied";
    static final String READY = "Ready";
    static final String DEGRADED = "Degraded";
    static final String MIGRATION_TARGET_READY = "MigrationTargetReady";

    /** Whether the condition of this type the operator wrote says "True". */
    static boolean isTrue(NumaGuestMemoryStatus status, String type) {
        return condition(status, type).map(c -> "True".equals(c.getStatus())).orElse(false);
    }

    /** The condition of this type the operator wrote, if any. */
    static Optional<Condition> condition(NumaGuestMemoryStatus status, String type) {
        return status == null || status.getConditions() == null
                ? Optional.empty()
                : status.getConditions().stream()
                        .filter(c -> type.equals(c.getType()))
                        .findFirst();
    }

    /**
     * The migration part of a reconcile: where a live migration takes the VM and the placement there.
     *
     * @param placement the decision for the target pod, empty unless the target resolved
     * @param topologyKnown whether the target node's topology was published
     */
    record Migration(MigrationResolution target, Optional<Placement.Result> placement, boolean topologyKnown) {
        static final Migration NONE = new Migration(MigrationResolution.NONE, Optional.empty(), false);
    }

    private StatusAssembler() {}

    /**
     * @param placement the decision of {@link PlacementStep}, empty when the target did not resolve
     * @param topologyKnown whether the node's topology was published (and the placement checked)
     * @param now transition time for conditions whose status changes
     */
    static NumaGuestMemoryStatus assemble(
            NumaGuestMemory ngm,
            TargetResolution target,
            Optional<Placement.Result> placement,
            boolean topologyKnown,
            Instant now) {
        return assemble(ngm, target, placement, topologyKnown, Migration.NONE, now);
    }

    static NumaGuestMemoryStatus assemble(
            NumaGuestMemory ngm,
            TargetResolution target,
            Optional<Placement.Result> placement,
            boolean topologyKnown,
            Migration migration,
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
            conditions.set(PLACED, false, ConditionReason.TargetNotScheduled, waiting);
            conditions.set(APPLIED, false, ConditionReason.TargetNotScheduled, waiting);
            conditions.set(READY, false, ConditionReason.TargetNotScheduled, waiting);
            conditions.set(DEGRADED, false, ConditionReason.TargetNotScheduled, "nothing applied yet");
            assembleMigration(ngm, current, migration, generation, now, status, conditions);
            status.setConditions(conditions.result());
            return status;
        }

        Pod pod = resolved.pod();
        String nodeName = resolved.nodeName();
        status.setNodeName(nodeName);
        status.setTargetPod(
                new PodReference(pod.getMetadata().getName(), pod.getMetadata().getUid()));
        conditions.set(
                SCHEDULED,
                true,
                ConditionReason.PodScheduled,
                "pod " + pod.getMetadata().getName() + " on node " + nodeName);

        switch (placement.orElseThrow()) {
            case Placement.Unplaceable unplaceable -> {
                conditions.set(PLACED, false, unplaceable.reason(), unplaceable.message());
                String notPlaced = "not placed: " + unplaceable.message();
                conditions.set(APPLIED, false, ConditionReason.NotPlaced, notPlaced);
                conditions.set(READY, false, ConditionReason.NotPlaced, notPlaced);
                conditions.set(DEGRADED, false, ConditionReason.NotPlaced, "nothing applied yet");
            }
            case Placement.Placed placed -> {
                status.setPlacement(placed.guestNodes());
                status.setPlacementSummary(summary(placed));
                conditions.set(
                        PLACED,
                        true,
                        topologyKnown ? ConditionReason.Placed : ConditionReason.PlacedWithoutTopology,
                        describe(placed, topologyKnown, nodeName));
                assessApplied(placed, appliedFor(current, pod), ngm.getSpec().getEnforcement(), nodeName, conditions);
            }
        }
        assembleMigration(ngm, current, migration, generation, now, status, conditions);
        status.setConditions(conditions.result());
        return status;
    }

    /** status.migration and MigrationTargetReady; neither while no migration runs. */
    private static void assembleMigration(
            NumaGuestMemory ngm,
            NumaGuestMemoryStatus current,
            Migration migration,
            long generation,
            Instant now,
            NumaGuestMemoryStatus status,
            ConditionWriter conditions) {
        switch (migration.target()) {
            case MigrationResolution.None none -> {}
            case MigrationResolution.Unresolved unresolved ->
                conditions.set(MIGRATION_TARGET_READY, false, unresolved.reason(), unresolved.message());
            case MigrationResolution.Resolved resolved -> {
                Pod pod = resolved.pod();
                var target = new MigrationTarget();
                target.setNodeName(resolved.nodeName());
                target.setTargetPod(new PodReference(
                        pod.getMetadata().getName(), pod.getMetadata().getUid()));
                status.setMigration(target);
                switch (migration.placement().orElseThrow()) {
                    case Placement.Unplaceable unplaceable ->
                        conditions.set(
                                MIGRATION_TARGET_READY,
                                false,
                                unplaceable.reason(),
                                "migration target pod " + pod.getMetadata().getName() + " on node "
                                        + resolved.nodeName() + ": " + unplaceable.message());
                    case Placement.Placed placed -> {
                        target.setPlacement(placed.guestNodes());
                        target.setPlacementSummary(summary(placed));
                        // What Ready would say of the target pod, worked out aside: only its verdict is kept.
                        var aside = new ConditionWriter(List.of(), generation, now);
                        assessApplied(
                                placed,
                                entriesOf(current.getMigrationApplied(), pod),
                                ngm.getSpec().getEnforcement(),
                                resolved.nodeName(),
                                aside);
                        Condition ready = aside.find(READY);
                        conditions.set(
                                MIGRATION_TARGET_READY,
                                "True".equals(ready.getStatus()),
                                ConditionReason.valueOf(ready.getReason()),
                                "migration target pod " + pod.getMetadata().getName() + " on node "
                                        + resolved.nodeName() + " (" + target.getPlacementSummary() + "): "
                                        + ready.getMessage());
                    }
                }
            }
        }
    }

    /** One line for kubectl -o wide: "0:Bind(0) 1:Interleave(0,1) 2:Default". */
    private static String summary(Placement.Placed placed) {
        return placed.guestNodes().stream()
                .map(p -> p.getGuestNode() + ":" + p.getPolicy()
                        + (p.getHostNodes().isEmpty()
                                ? ""
                                : p.getHostNodes().stream()
                                        .map(String::valueOf)
                                        .collect(Collectors.joining(",", "(", ")"))))
                .collect(Collectors.joining(" "));
    }

    private static String describe(Placement.Placed placed, boolean topologyKnown, String nodeName) {
        String choices = placed.guestNodes().stream()
                .map(p -> "guest node " + p.getGuestNode() + " -> "
                        + (p.getHostNodes().isEmpty()
                                ? p.getPolicy().toString()
                                : p.getPolicy() + " " + p.getHostNodes()))
                .collect(Collectors.joining(", "));
        return topologyKnown
                ? choices
                : choices + " (not checked: no NodeResourceTopology is published for node " + nodeName + ")";
    }

    /**
     * The agent's entries for this pod; entries of an earlier pod describe memory that is gone. A
     * migration's target pod that became the target has its entries in migrationApplied until its
     * agent moves them; those in applied come first.
     */
    private static Map<Integer, GuestNodeApplied> appliedFor(NumaGuestMemoryStatus current, Pod pod) {
        Map<Integer, GuestNodeApplied> entries = new HashMap<>(entriesOf(current.getMigrationApplied(), pod));
        entries.putAll(entriesOf(current.getApplied(), pod));
        return entries;
    }

    private static Map<Integer, GuestNodeApplied> entriesOf(List<GuestNodeApplied> applied, Pod pod) {
        if (applied == null) {
            return Map.of();
        }
        return applied.stream()
                .filter(entry ->
                        Objects.equals(entry.getPodUid(), pod.getMetadata().getUid()) && entry.getGuestNode() != null)
                .collect(Collectors.toMap(
                        GuestNodeApplied::getGuestNode, Function.identity(), (first, second) -> first));
    }

    private static void assessApplied(
            Placement.Placed placed,
            Map<Integer, GuestNodeApplied> applied,
            Enforcement enforcement,
            String nodeName,
            ConditionWriter conditions) {
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
                refused.add(guestNode + " (" + entry.getError().getCode() + ": "
                        + entry.getError().getMessage() + ")");
            } else if (entry.getPolicy() != placement.getPolicy()
                    || !new HashSet<>(Objects.requireNonNullElse(entry.getHostNodes(), List.of()))
                            .equals(new HashSet<>(placement.getHostNodes()))) {
                mismatched.add(guestNode + " (applied " + entry.getPolicy() + " " + entry.getHostNodes() + ", placed "
                        + placement.getPolicy() + " " + placement.getHostNodes() + ")");
            } else if (!Boolean.TRUE.equals(entry.getVerified())) {
                unverified.add(guestNode + (entry.getFdKind() == null ? "" : " (" + entry.getFdKind() + ")"));
            }
        }

        if (!refused.isEmpty()) {
            conditions.set(
                    APPLIED,
                    false,
                    ConditionReason.Refused,
                    "the agent refused guest nodes " + String.join(", ", refused));
        } else if (!mismatched.isEmpty()) {
            conditions.set(
                    APPLIED,
                    false,
                    ConditionReason.PlacementChanged,
                    "applied policy differs from the placement for guest nodes " + String.join(", ", mismatched)
                            + "; it takes effect when the VM restarts");
        } else if (!pending.isEmpty()) {
            conditions.set(
                    APPLIED,
                    false,
                    ConditionReason.WaitingForVMM,
                    "waiting for the VMM to hand the memory of guest nodes " + String.join(", ", pending)
                            + " to the agent on node " + nodeName);
        } else {
            conditions.set(APPLIED, true, ConditionReason.Applied, "the agent applied every guest node's policy");
        }

        boolean allApplied = refused.isEmpty() && mismatched.isEmpty() && pending.isEmpty();
        if (allApplied && unverified.isEmpty()) {
            conditions.set(READY, true, ConditionReason.Ready, "every guest node's policy is applied and verified");
        } else if (allApplied) {
            conditions.set(
                    READY,
                    false,
                    ConditionReason.Unverified,
                    "the kernel did not confirm the policy of guest nodes " + String.join(", ", unverified));
        } else {
            conditions.set(
                    READY, false, ConditionReason.valueOf(conditions.reasonOf(APPLIED)), conditions.messageOf(APPLIED));
        }

        if (enforcement == Enforcement.Strict && !refused.isEmpty()) {
            conditions.set(
                    DEGRADED,
                    true,
                    ConditionReason.Refused,
                    "Strict enforcement: the agent refused guest nodes " + String.join(", ", refused));
        } else if (enforcement == Enforcement.Strict && !unverified.isEmpty()) {
            conditions.set(
                    DEGRADED,
                    true,
                    ConditionReason.Unverified,
                    "Strict enforcement: the kernel did not confirm guest nodes " + String.join(", ", unverified));
        } else {
            conditions.set(
                    DEGRADED,
                    false,
                    ConditionReason.AsRequested,
                    enforcement == Enforcement.Strict
                            ? "nothing refused or unverified"
                            : "BestEffort enforcement accepts what the memory can carry");
        }
    }

    /** Sets conditions in a fixed order, keeping lastTransitionTime while a condition's status stays. */
    private static final class ConditionWriter {
        private final Map<String, Condition> previous;
        private final long generation;
        private final String now;
        private final List<Condition> result = new ArrayList<>();

        ConditionWriter(List<Condition> previous, long generation, Instant now) {
            this.previous = previous == null
                    ? Map.of()
                    : previous.stream()
                            .collect(Collectors.toMap(
                                    Condition::getType, Function.identity(), (first, second) -> first));
            this.generation = generation;
            this.now = now.truncatedTo(ChronoUnit.SECONDS).toString();
        }

        void set(String type, boolean status, ConditionReason reason, String message) {
            String statusText = status ? "True" : "False";
            Condition before = previous.get(type);
            String since =
                    before != null && statusText.equals(before.getStatus()) && before.getLastTransitionTime() != null
                            ? before.getLastTransitionTime()
                            : now;
            result.add(new ConditionBuilder()
                    .withType(type)
                    .withStatus(statusText)
                    .withReason(reason.name())
                    .withMessage(message)
                    .withObservedGeneration(generation)
                    .withLastTransitionTime(since)
                    .build());
        }

        String reasonOf(String type) {
            return find(type).getReason();
        }

        String messageOf(String type) {
            return find(type).getMessage();
        }

        Condition find(String type) {
            return result.stream()
                    .filter(condition -> condition.getType().equals(type))
                    .findFirst()
                    .orElseThrow();
        }

        List<Condition> result() {
            return List.copyOf(result);
        }
    }
}
