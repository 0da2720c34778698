package io.numaguest.agent.kubernetes;

import java.util.List;
import java.util.Optional;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.GuestNodeSpec;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.Target;

/**
 * Kubernetes mode's policy source: the NumaGuestMemory objects the operator labelled for this node,
 * held by an informer. The host nodes come from {@code status.placement}, the operator's decision,
 * not from the spec: the agent enforces what was decided and never decides itself.
 *
 * <p>A VMM names its VM as the NGM's target does: the VirtualMachineInstance's name, or for a
 * {@code podSelector} target the NGM's own name; the namespace is the NGM's.
 */
public final class KubernetesPolicySource implements PolicySource, AutoCloseable {
    private final SharedIndexInformer<NumaGuestMemory> informer;

    public KubernetesPolicySource(KubernetesClient client, String nodeName) {
        informer = client.resources(NumaGuestMemory.class).inAnyNamespace()
                .withLabel(NumaGuestMemory.NODE_LABEL, nodeName).inform();
    }

    /** Whether the first list from the API server has arrived: until then no request can be judged. */
    public boolean hasSynced() {
        return informer.hasSynced();
    }

    public Optional<NumaGuestMemory> forVm(VmRef vm) {
        return informer.getStore().list().stream()
                .filter(ngm -> vm.namespace().equals(ngm.getMetadata().getNamespace()) && vmName(ngm).equals(vm.name()))
                .findFirst();
    }

    /** Every NGM of this node, for the authorizer's "is this pod anyone's target" question. */
    public List<NumaGuestMemory> all() {
        return informer.getStore().list();
    }

    static String vmName(NumaGuestMemory ngm) {
        Target target = ngm.getSpec() == null ? null : ngm.getSpec().getTarget();
        if (target != null && target.getVirtualMachineInstance() != null) {
            return target.getVirtualMachineInstance().getName();
        }
        return ngm.getMetadata().getName();
    }

    @Override
    public Optional<GuestNodePolicy> find(VmRef vm, int guestNode) {
        return forVm(vm).flatMap(ngm -> policyOf(ngm, guestNode));
    }

    static Optional<GuestNodePolicy> policyOf(NumaGuestMemory ngm, int guestNode) {
        if (ngm.getStatus() == null || ngm.getStatus().getPlacement() == null) {
            return Optional.empty();
        }
        Optional<GuestNodePlacement> placed = ngm.getStatus().getPlacement().stream()
                .filter(p -> p.getGuestNode() != null && p.getGuestNode() == guestNode && p.getPolicy() != null)
                .findFirst();
        boolean migrate = ngm.getSpec().getGuestNodes().stream()
                .filter(g -> g.getGuestNode() != null && g.getGuestNode() == guestNode)
                .map(GuestNodeSpec::getMigrate)
                .anyMatch(Boolean.TRUE::equals);
        return placed.map(p -> new GuestNodePolicy(guestNode, p.getPolicy(),
                p.getHostNodes() == null ? List.of() : p.getHostNodes(), null, migrate));
    }

    @Override
    public void close() {
        informer.close();
    }
}
