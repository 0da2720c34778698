package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.javaoperatorsdk.operator.processing.event.source.filter.OnUpdateFilter;
import io.numaguest.api.v1alpha1.ConditionReason;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Sees every update of a NumaGuestMemory the controller's informer receives (JOSDK's update
 * filter of the primary resource) and does two things with it:
 *
 * <ul>
 *   <li>Says whether it needs a reconcile: a new spec generation, a deletion, a change of the
 *       agents' status.applied or status.migrationApplied, or a status emptied by someone else. The operator's own writes
 *       (its status fields) need none: they are what the reconcile that wrote them
 *       computed.
 *   <li>Announces the decisions and failures the update shows, as Events: a Normal one when the
 *       operator placed the VM, Warnings when Scheduled or Placed turn False, the agent refuses or
 *       Strict enforcement degrades. Each once, when the status write that records it is seen:
 *       a reconcile that fails before its write, or is retried, announces nothing.
 * </ul>
 */
final class StatusChanges implements OnUpdateFilter<NumaGuestMemory> {

    private final KubernetesSerialization serialization;
    private final EventRecorder events;

    StatusChanges(KubernetesSerialization serialization, EventRecorder events) {
        this.serialization = serialization;
        this.events = events;
    }

    @Override
    public boolean accept(NumaGuestMemory updated, NumaGuestMemory old) {
        announce(old, updated);
        return !Objects.equals(
                        updated.getMetadata().getGeneration(), old.getMetadata().getGeneration())
                || !Objects.equals(
                        updated.getMetadata().getDeletionTimestamp(),
                        old.getMetadata().getDeletionTimestamp())
                || (updated.getStatus() == null && old.getStatus() != null)
                || !sameTree(applied(updated), applied(old))
                || !sameTree(migrationApplied(updated), migrationApplied(old));
    }

    private void announce(NumaGuestMemory old, NumaGuestMemory updated) {
        Map<String, Condition> before = conditions(old).stream()
                .collect(Collectors.toMap(Condition::getType, Function.identity(), (first, second) -> first));
        for (Condition condition : conditions(updated)) {
            Condition previous = before.get(condition.getType());
            if (previous != null
                    && Objects.equals(previous.getStatus(), condition.getStatus())
                    && Objects.equals(previous.getReason(), condition.getReason())) {
                continue;
            }
            boolean isTrue = "True".equals(condition.getStatus());
            String type = condition.getType();
            boolean failure = switch (type) {
                case StatusAssembler.SCHEDULED -> !isTrue;
                case StatusAssembler.PLACED ->
                    !isTrue && !ConditionReason.TargetNotScheduled.name().equals(condition.getReason());
                case StatusAssembler.APPLIED ->
                    !isTrue && ConditionReason.Refused.name().equals(condition.getReason());
                case StatusAssembler.DEGRADED -> isTrue;
                case StatusAssembler.MIGRATION_TARGET_READY ->
                    !isTrue && ConditionReason.Refused.name().equals(condition.getReason());
                default -> false;
            };
            if (failure) {
                events.warning(updated, condition.getReason(), condition.getMessage());
            } else if (StatusAssembler.PLACED.equals(type) && isTrue) {
                events.normal(updated, condition.getReason(), condition.getMessage());
            }
        }
    }

    private static List<Condition> conditions(NumaGuestMemory ngm) {
        return Optional.ofNullable(ngm.getStatus())
                .map(NumaGuestMemoryStatus::getConditions)
                .orElse(List.of());
    }

    private static Object applied(NumaGuestMemory ngm) {
        return Optional.ofNullable(ngm.getStatus())
                .map(NumaGuestMemoryStatus::getApplied)
                .orElse(null);
    }

    private static Object migrationApplied(NumaGuestMemory ngm) {
        return Optional.ofNullable(ngm.getStatus())
                .map(NumaGuestMemoryStatus::getMigrationApplied)
                .orElse(null);
    }

    private boolean sameTree(Object a, Object b) {
        return Objects.equals(
                a == null ? null : serialization.convertValue(a, Object.class),
                b == null ? null : serialization.convertValue(b, Object.class));
    }
}
