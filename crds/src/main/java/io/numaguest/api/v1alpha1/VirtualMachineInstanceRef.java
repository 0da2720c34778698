package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;

public class VirtualMachineInstanceRef {

    @Required
    @JsonPropertyDescription("Name of the KubeVirt VirtualMachineInstance in the NumaGuestMemory's namespace.")
    private String name;

    public VirtualMachineInstanceRef() {}

    public VirtualMachineInstanceRef(String name) {
        this.name = name;
    }

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }
}
