package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.List;

/**
 * Every field has one writer, each with its own server-side-apply field manager:
 *
 * <ul>
 *   <li>{@code numaguest-operator}: observedGeneration, nodeName, targetPod, placement,
 *       placementSummary, migration, conditions;
 *   <li>{@code numaguest-agent}: applied (the agent of nodeName) and migrationApplied (the agent
 *       of migration.nodeName). When a migration completes, the target's agent moves its entries
 *       from migrationApplied to applied in one write.
 * </ul>
 *
 * The lists are maps keyed by guestNode (conditions by type), so an apply by one manager merges
 * into the entries it owns and never replaces the other manager's. Null fields are left out of
 * the JSON: an apply that carried {@code applied: null} would claim the agent's field.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@SchemaCustomizer(
        value = ListMapKeys.class,
        input = "placement=guestNode, applied=guestNode, migrationApplied=guestNode, conditions=type")
public class NumaGuestMemoryStatus {

    @JsonPropertyDescription("The spec generation the operator's fields describe.")
    private Long observedGeneration;

    @JsonPropertyDescription("Kubernetes node the target pod runs on.")
    private String nodeName;

    private PodReference targetPod;

    @JsonPropertyDescription("Host nodes chosen per guest node, and why.")
    private List<GuestNodePlacement> placement;

    @JsonPropertyDescription(
            "The placement in one line, for kubectl get -o wide: guestNode:policy(hostNodes) per guest node.")
    private String placementSummary;

    @JsonPropertyDescription("What the node agent applied per guest node.")
    private List<GuestNodeApplied> applied;

    @JsonPropertyDescription(
            "Set while a live migration takes the VM to another node: the target's node, pod and placement.")
    private MigrationTarget migration;

    @JsonPropertyDescription(
            "What the node agent of migration.nodeName applied per guest node for the migration's target pod.")
    private List<GuestNodeApplied> migrationApplied;

    @JsonPropertyDescription(
            "Scheduled, Placed, Applied, Ready and Degraded; MigrationTargetReady while a migration runs.")
    private List<Condition> conditions;

    public Long getObservedGeneration() {
        return observedGeneration;
    }

    public void setObservedGeneration(Long observedGeneration) {
        this.observedGeneration = observedGeneration;
    }

    public String getNodeName() {
        return nodeName;
    }

    public void setNodeName(String nodeName) {
        this.nodeName = nodeName;
    }

    public PodReference getTargetPod() {
        return targetPod;
    }

    public void setTargetPod(PodReference targetPod) {
        this.targetPod = targetPod;
    }

    public List<GuestNodePlacement> getPlacement() {
        return placement;
    }

    public void setPlacement(List<GuestNodePlacement> placement) {
        this.placement = placement;
    }

    public String getPlacementSummary() {
        return placementSummary;
    }

    public void setPlacementSummary(String placementSummary) {
        this.placementSummary = placementSummary;
    }

    public List<GuestNodeApplied> getApplied() {
        return applied;
    }

    public void setApplied(List<GuestNodeApplied> applied) {
        this.applied = applied;
    }

    public MigrationTarget getMigration() {
        return migration;
    }

    public void setMigration(MigrationTarget migration) {
        this.migration = migration;
    }

    public List<GuestNodeApplied> getMigrationApplied() {
        return migrationApplied;
    }

    public void setMigrationApplied(List<GuestNodeApplied> migrationApplied) {
        this.migrationApplied = migrationApplied;
    }

    public List<Condition> getConditions() {
        return conditions;
    }

    public void setConditions(List<Condition> conditions) {
        this.conditions = conditions;
    }
}
