package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
// guestNodes is a map keyed by guestNode, so apply patches merge entries instead of replacing the list.
@SchemaCustomizer(value = ListMapKeys.class, input = "guestNodes=guestNode")
@ValidationRule(
        value = "self.guestNodes.all(g, self.guestNodes.exists_one(h, h.guestNode == g.guestNode))",
        message = "each guestNode may appear only once in guestNodes")
public class NumaGuestMemorySpec {

    @Required
    @JsonPropertyDescription("The VM whose guest memory this places.")
    private Target target;

    @Required
    @Size(min = 1, max = 64)
    @JsonPropertyDescription("Policy per guest NUMA node.")
    private List<GuestNodeSpec> guestNodes = new ArrayList<>();

    @Default("Strict")
    @JsonPropertyDescription(
            "Strict refuses a VMM whose memory cannot carry the policy and reports Degraded; BestEffort applies what it can.")
    private Enforcement enforcement = Enforcement.Strict;

    public Target getTarget() {
        return target;
    }

    public void setTarget(Target target) {
        this.target = target;
    }

    public List<GuestNodeSpec> getGuestNodes() {
        return guestNodes;
    }

    public void setGuestNodes(List<GuestNodeSpec> guestNodes) {
        this.guestNodes = guestNodes;
    }

    public Enforcement getEnforcement() {
        return enforcement;
    }

    public void setEnforcement(Enforcement enforcement) {
        this.enforcement = enforcement;
    }
}
