package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.List;

/** Where the operator decided one guest node's memory lives. Written by the operator only. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class GuestNodePlacement {

    private Integer guestNode;
    private MemoryPolicy policy;

    @JsonPropertyDescription("Host NUMA nodes the agent must apply; empty for Default and Local.")
    private List<Integer> hostNodes;

    @JsonPropertyDescription("Why these host nodes.")
    private String reason;

    public GuestNodePlacement() {}

    public GuestNodePlacement(int guestNode, MemoryPolicy policy, List<Integer> hostNodes, String reason) {
        this.guestNode = guestNode;
        this.policy = policy;
        this.hostNodes = hostNodes;
        this.reason = reason;
    }

    public Integer getGuestNode() {
        return guestNode;
    }

    public void setGuestNode(Integer guestNode) {
        this.guestNode = guestNode;
    }

    public MemoryPolicy getPolicy() {
        return policy;
    }

    public void setPolicy(MemoryPolicy policy) {
        this.policy = policy;
    }

    public List<Integer> getHostNodes() {
        return hostNodes;
    }

    public void setHostNodes(List<Integer> hostNodes) {
        this.hostNodes = hostNodes;
    }

    public String getReason() {
        return reason;
    }

    public void setReason(String reason) {
        this.reason = reason;
    }
}
