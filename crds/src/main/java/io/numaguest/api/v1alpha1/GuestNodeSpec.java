package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Quantity;
import java.util.List;

/** The memory policy wanted for one guest NUMA node. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
        value = "!has(self.hostNodes) || self.hostNodes.all(n, self.hostNodes.exists_one(m, m == n))",
        message = "hostNodes must not repeat a host node")
@ValidationRule(
        value = "!has(self.hostNodes) || self.hostNodes.all(n, n >= 0 && n <= 1023)",
        message = "hostNodes are host NUMA node numbers, 0 to 1023")
@ValidationRule(
        value = "!has(self.hostNodes) || !(self.policy in ['Default', 'Local'])",
        message = "policy Default and Local take no hostNodes: the kernel picks the node of the faulting CPU")
@ValidationRule(
        value = "!has(self.hostNodes) || self.policy != 'Preferred' || size(self.hostNodes) == 1",
        message = "policy Preferred takes exactly one host node")
@ValidationRule(
        value =
                "!has(self.size) || (isQuantity(string(self.size)) && quantity(string(self.size)).isGreaterThan(quantity('0')))",
        message = "size must be a positive quantity such as 4Gi")
// size is bounded so the API server can cost the CEL rule that parses it (unbounded: 8x over budget).
@SchemaCustomizer(value = MaxLength.class, input = "size=32")
public class GuestNodeSpec {

    @Required
    @Min(0)
    @Max(63)
    @JsonPropertyDescription("Guest NUMA node number, 0 to 63, as the VMM numbers it.")
    private Integer guestNode;

    @Required
    @JsonPropertyDescription("Memory policy for this guest node's memory.")
    private MemoryPolicy policy;

    // Bounded so the API server can cost the uniqueness rule.
    @Size(min = 1, max = 64)
    @JsonPropertyDescription(
            "Host NUMA nodes for the policy. Omit to let the operator choose from the node's topology.")
    private List<Integer> hostNodes;

    @JsonPropertyDescription(
            "Size of this guest node's memory; the operator uses it to pick host nodes with enough free memory.")
    private Quantity size;

    @JsonPropertyDescription("Move pages already allocated elsewhere onto the policy's host nodes.")
    private Boolean migrate;

    public GuestNodeSpec() {}

    public GuestNodeSpec(int guestNode, MemoryPolicy policy) {
        this.guestNode = guestNode;
        this.policy = policy;
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

    public Quantity getSize() {
        return size;
    }

    public void setSize(Quantity size) {
        this.size = size;
    }

    public Boolean getMigrate() {
        return migrate;
    }

    public void setMigrate(Boolean migrate) {
        this.migrate = migrate;
    }
}
