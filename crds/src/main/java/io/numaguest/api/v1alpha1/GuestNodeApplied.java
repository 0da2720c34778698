package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.List;
import java.util.Map;

/**
 * What the node agent did with one guest node's memory, as its apply response reported it (see
 * docs/protocol.md). Written by the agent only.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class GuestNodeApplied {

    private Integer guestNode;

    @JsonPropertyDescription("UID of the pod whose VMM handed over the memory; entries of an earlier pod are stale.")
    private String podUid;

    @JsonPropertyDescription("memfd, shmem, hugetlbfs or guest_memfd.")
    private String fdKind;

    @JsonPropertyDescription("mbind, hugetlb-prefault or fbind.")
    private String mechanism;

    private MemoryPolicy policy;
    private List<Integer> hostNodes;

    @JsonPropertyDescription("The policy was read back from the kernel and matched.")
    private Boolean verified;

    private Long pageSizeBytes;

    @JsonPropertyDescription("Resident pages per host node (keys are host node numbers), in pageSizeBytes units.")
    private Map<String, Long> pagesByHostNode;

    @JsonPropertyDescription("When the agent applied the policy (RFC 3339).")
    private String time;

    @JsonPropertyDescription("Set when the agent refused or failed to apply the policy.")
    private ApplyError error;

    public Integer getGuestNode() {
        return guestNode;
    }

    public void setGuestNode(Integer guestNode) {
        this.guestNode = guestNode;
    }

    public String getPodUid() {
        return podUid;
    }

    public void setPodUid(String podUid) {
        this.podUid = podUid;
    }

    public String getFdKind() {
        return fdKind;
    }

    public void setFdKind(String fdKind) {
        this.fdKind = fdKind;
    }

    public String getMechanism() {
        return mechanism;
    }

    public void setMechanism(String mechanism) {
        this.mechanism = mechanism;
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

    public Boolean getVerified() {
        return verified;
    }

    public void setVerified(Boolean verified) {
        this.verified = verified;
    }

    public Long getPageSizeBytes() {
        return pageSizeBytes;
    }

    public void setPageSizeBytes(Long pageSizeBytes) {
        this.pageSizeBytes = pageSizeBytes;
    }

    public Map<String, Long> getPagesByHostNode() {
        return pagesByHostNode;
    }

    public void setPagesByHostNode(Map<String, Long> pagesByHostNode) {
        this.pagesByHostNode = pagesByHostNode;
    }

    public String getTime() {
        return time;
    }

    public void setTime(String time) {
        this.time = time;
    }

    public ApplyError getError() {
        return error;
    }

    public void setError(ApplyError error) {
        this.error = error;
    }
}
