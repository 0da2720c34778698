package io.numaguest.agent.policy;

/** A VM by namespace and name, as the cluster (or the policy file) names it. */
public record VmRef(String namespace, String name) {
    public static final String DEFAULT_NAMESPACE = "default";

    public VmRef {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a VM needs a name");
        }
        namespace = namespace == null || namespace.isBlank() ? DEFAULT_NAMESPACE : namespace;
    }

    @Override
    public String toString() {
        return namespace + "/" + name;
    }
}
