package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.LabelSelector;

/** The VM whose guest memory is placed: a KubeVirt VMI, or any VMM pod found by labels. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
        value = "has(self.virtualMachineInstance) != has(self.podSelector)",
        message = "target must set exactly one of virtualMachineInstance or podSelector")
public class Target {

    @JsonPropertyDescription(
            "A KubeVirt VirtualMachineInstance in the same namespace; its virt-launcher pod is the target.")
    private VirtualMachineInstanceRef virtualMachineInstance;

    @JsonPropertyDescription(
            "Selects the VMM pod (Kata, QEMU, Cloud Hypervisor) in the same namespace; exactly one running pod must match.")
    private LabelSelector podSelector;

    public static Target virtualMachineInstance(String name) {
        var target = new Target();
        target.setVirtualMachineInstance(new VirtualMachineInstanceRef(name));
        return target;
    }

    public static Target podSelector(LabelSelector selector) {
        var target = new Target();
        target.setPodSelector(selector);
        return target;
    }

    public VirtualMachineInstanceRef getVirtualMachineInstance() {
        return virtualMachineInstance;
    }

    public void setVirtualMachineInstance(VirtualMachineInstanceRef virtualMachineInstance) {
        this.virtualMachineInstance = virtualMachineInstance;
    }

    public LabelSelector getPodSelector() {
        return podSelector;
    }

    public void setPodSelector(LabelSelector podSelector) {
        this.podSelector = podSelector;
    }
}
