package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.numaguest.api.v1alpha1.GuestNodeSpec;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemorySpec;
import io.numaguest.api.v1alpha1.Target;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** Kubernetes objects as the operator meets them. */
final class Fixtures {

    static final String NAMESPACE = "vms";

    private Fixtures() {}

    static Pod pod(String name, String nodeName, String phase, Map<String, String> labels) {
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(NAMESPACE)
                .withUid(UUID.randomUUID().toString())
                .withLabels(labels)
                .endMetadata()
                .withNewSpec()
                .withNodeName(nodeName)
                .addNewContainer()
                .withName("compute")
                .withImage("vmm")
                .endContainer()
                .endSpec()
                .withNewStatus()
                .withPhase(phase)
                .endStatus()
                .build();
    }

    static GenericKubernetesResource vmi(String name, String nodeName) {
        return vmi(name, UUID.randomUUID().toString(), nodeName);
    }

    static GenericKubernetesResource vmi(String name, String uid, String nodeName) {
        var vmi = new GenericKubernetesResourceBuilder()
                .withApiVersion("kubevirt.io/v1")
                .withKind("VirtualMachineInstance")
                .withNewMetadata()
                .withName(name)
                .withNamespace(NAMESPACE)
                .withUid(uid)
                .endMetadata()
                .build();
        if (nodeName != null) {
            vmi.setAdditionalProperty("status", Map.of("nodeName", nodeName));
        }
        return vmi;
    }

    static Map<String, String> launcherLabels(String vmiUid) {
        return Map.of("kubevirt.io", "virt-launcher", TargetResolver.CREATED_BY_LABEL, vmiUid);
    }

    static NumaGuestMemory ngm(String name, Target target, GuestNodeSpec... guestNodes) {
        var ngm = new NumaGuestMemory();
        ngm.getMetadata().setName(name);
        ngm.getMetadata().setNamespace(NAMESPACE);
        ngm.getMetadata().setGeneration(1L);
        var spec = new NumaGuestMemorySpec();
        spec.setTarget(target);
        spec.setGuestNodes(List.of(guestNodes));
        ngm.setSpec(spec);
        return ngm;
    }

    static GuestNodeSpec guestNode(int id, MemoryPolicy policy, String size, Integer... hostNodes) {
        var guestNode = new GuestNodeSpec(id, policy);
        if (size != null) {
            guestNode.setSize(new Quantity(size));
        }
        if (hostNodes.length > 0) {
            guestNode.setHostNodes(List.of(hostNodes));
        }
        return guestNode;
    }
}
