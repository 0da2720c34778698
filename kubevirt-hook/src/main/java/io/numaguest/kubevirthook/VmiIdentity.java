package io.numaguest.kubevirthook;

import java.util.Objects;
import java.util.regex.Pattern;

/** The VirtualMachineInstance a domain belongs to, as the agent knows the VM: {@code <namespace>/<name>}. */
public record VmiIdentity(String namespace, String name) {
    // A Kubernetes DNS-1123 subdomain name: what the preload library accepts in NUMAGUEST_VM.
    private static final Pattern KUBERNETES_NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");

    public VmiIdentity {
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(name, "name");
        if (!KUBERNETES_NAME.matcher(namespace).matches()
                || !KUBERNETES_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("VMI identity " + namespace + "/" + name
                    + " is not a Kubernetes namespace and name (lowercase letters, digits, '-' and '.')");
        }
    }

    /** The value of NUMAGUEST_VM. */
    public String vmName() {
        return namespace + "/" + name;
    }
}
