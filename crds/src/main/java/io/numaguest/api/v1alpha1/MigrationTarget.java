package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import java.util.List;

/**
 * Where a live migration takes the VM: the target's node and pod, read from KubeVirt's
 * {@code status.migrationState}, and the placement on the target's node. Written by the operator
 * only, while the migration runs; the target node's agent reports into {@code status.migrationApplied}.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@SchemaCustomizer(value = ListMapKeys.class, input = "placement=guestNode")
public class MigrationTarget {

    @JsonPropertyDescription("Kubernetes node the migration target pod runs on.")
    private String nodeName;

    @JsonPropertyDescription("The migration's target pod; the agent of nodeName accepts requests from this pod's VMM.")
    private PodReference targetPod;

    @JsonPropertyDescription("Host nodes chosen per guest node on the target's node, and why.")
    private List<GuestNodePlacement> placement;

    @JsonPropertyDescription("The target's placement in one line: guestNode:policy(hostNodes) per guest node.")
    private String placementSummary;

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
}
