package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the CRDs of the optional APIs (KubeVirt's VirtualMachineInstance, NodeResourceTopology)
 * and calls {@code onChange} once when the cluster's answer differs from the capabilities the
 * operator started with: a CRD installed (and Established) or removed later. The operator's
 * informers are fixed at start, so {@link Main} restarts the process then, which the Deployment
 * turns into a fresh start with the new capabilities.
 */
final class CapabilityWatch implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(CapabilityWatch.class);
    static final String VMI_CRD = "virtualmachineinstances.kubevirt.io";

    /** The CRD of each optional API, and the version of it the operator reads. */
    private static final Map<String, String> VERSIONS =
            Map.of(VMI_CRD, "v1", NodeResourceTopology.CRD_NAME, NodeResourceTopology.VERSION);

    private final ClusterCapabilities started;
    private final Runnable onChange;
    private final SharedIndexInformer<CustomResourceDefinition> informer;
    private boolean changed;

    CapabilityWatch(KubernetesClient client, ClusterCapabilities started, Runnable onChange) {
        this.started = started;
        this.onChange = onChange;
        this.informer = client.apiextensions().v1().customResourceDefinitions().inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(CustomResourceDefinition crd) {
                seen(crd.getMetadata().getName(), served(crd));
            }

            @Override
            public void onUpdate(CustomResourceDefinition old, CustomResourceDefinition crd) {
                seen(crd.getMetadata().getName(), served(crd));
            }

            @Override
            public void onDelete(CustomResourceDefinition crd, boolean finalStateUnknown) {
                seen(crd.getMetadata().getName(), false);
            }
        });
    }

    private synchronized void seen(String crdName, boolean served) {
        String version = VERSIONS.get(crdName);
        if (version == null || changed) {
            return;
        }
        boolean before = crdName.equals(VMI_CRD) ? started.kubeVirt() : started.nodeResourceTopology();
        if (served != before) {
            changed = true;
            LOG.info(
                    "{} {} is {} served: the operator restarts to {} it",
                    crdName,
                    version,
                    served ? "now" : "no longer",
                    served ? "watch" : "stop watching");
            onChange.run();
        }
    }

    /** Established and serving the version the operator reads. */
    static boolean served(CustomResourceDefinition crd) {
        String version = VERSIONS.get(crd.getMetadata().getName());
        boolean established = crd.getStatus() != null
                && crd.getStatus().getConditions() != null
                && crd.getStatus().getConditions().stream()
                        .anyMatch(c -> "Established".equals(c.getType()) && "True".equals(c.getStatus()));
        return established
                && crd.getMetadata().getDeletionTimestamp() == null
                && crd.getSpec().getVersions().stream()
                        .anyMatch(v -> v.getName().equals(version) && Boolean.TRUE.equals(v.getServed()));
    }

    @Override
    public void close() {
        informer.close();
    }
}
