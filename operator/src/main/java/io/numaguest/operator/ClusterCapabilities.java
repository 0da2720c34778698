package io.numaguest.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;

/**
 * Optional APIs the operator watches when the cluster serves them. Detected at start; when a CRD
 * of them is installed or removed later, {@link CapabilityWatch} has the operator restart.
 */
record ClusterCapabilities(boolean kubeVirt, boolean nodeResourceTopology) {

    static final String VMI_API_VERSION = "kubevirt.io/v1";
    static final String VMI_KIND = "VirtualMachineInstance";

    static ClusterCapabilities detect(KubernetesClient client) {
        return new ClusterCapabilities(
                client.supports(VMI_API_VERSION, VMI_KIND), client.supports(NodeResourceTopology.class));
    }
}
