package io.numaguest.agent.kubernetes;

import java.util.List;
import java.util.Optional;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
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
                .withLabel(NumaGuestMemory.NODE_LABEL, nodeName).runnableInformer(0)
                .itemStore(new ItemsWithoutManagedFields<>()).run();
    }

    /** Whether the first list from the API server has arrived: until then no request can be judged. */
    public boolean hasSynced() {
        return informer.hasSynced();
    }

    /**
     * The NGM of a VM on this node. BUSY (retry) until the informer has its first list; refused when
     * two objects name the same VM, since either could be the one meant.
     */
    public Optional<NumaGuestMemory> forVm(VmRef vm) throws AgentException {
        if (!informer.hasSynced()) {
            throw new AgentException(ErrorCode.BUSY, "the agent is still reading the NumaGuestMemory objects of its node "
                    + "from the API server; retry shortly");
        }
        List<NumaGuestMemory> matching = informer.getStore().list().stream()
                .filter(ngm -> vm.namespace().equals(ngm.getMetadata().getNamespace()) && vmName(ngm).equals(vm.name()))
                .toList();
        if (matching.size() > 1) {
            throw new AgentException(ErrorCode.POLICY_REJECTED, "NumaGuestMemory objects "
                    + matching.stream().map(ngm -> ngm.getMetadata().getName()).sorted().toList() + " in namespace "
                    + vm.namespace() + " all name VM " + vm.name() + ": delete all but one");
        }
        return matching.stream().findFirst();
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
    public Optional<GuestNodePolicy> find(VmRef vm, int guestNode) throws AgentException {
        Optional<NumaGuestMemory> ngm = forVm(vm);
        return ngm.isEmpty() ? Optional.empty() : policyOf(ngm.get(), guestNode);
    }

    /** Empty when the spec has no such guest node; BUSY while the operator has not placed it yet. */
    static Optional<GuestNodePolicy> policyOf(NumaGuestMemory ngm, int guestNode) throws AgentException {
        Optional<GuestNodeSpec> asked = ngm.getSpec().getGuestNodes().stream()
                .filter(g -> g.getGuestNode() != null && g.getGuestNode() == guestNode)
                .findFirst();
        if (asked.isEmpty()) {
            return Optional.empty();
        }
        List<GuestNodePlacement> placement = ngm.getStatus() == null || ngm.getStatus().getPlacement() == null
                ? List.of() : ngm.getStatus().getPlacement();
        GuestNodePlacement placed = placement.stream()
                .filter(p -> p.getGuestNode() != null && p.getGuestNode() == guestNode && p.getPolicy() != null)
                .findFirst()
                .orElseThrow(() -> new AgentException(ErrorCode.BUSY, "guest node " + guestNode + " of NumaGuestMemory "
                        + ngm.getMetadata().getNamespace() + "/" + ngm.getMetadata().getName()
                        + " is not placed yet (see its Placed condition); retry shortly"));
        return Optional.of(new GuestNodePolicy(guestNode, placed.getPolicy(),
                placed.getHostNodes() == null ? List.of() : placed.getHostNodes(), null, Boolean.TRUE.equals(asked.get().getMigrate())));
    }

    /** Runs {@code onChange} (on the informer's thread: keep it short) after every add, update or delete of an NGM of this node. */
    public void onAnyChange(Runnable onChange) {
        informer.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(NumaGuestMemory ngm) {
                onChange.run();
            }

            @Override
            public void onUpdate(NumaGuestMemory before, NumaGuestMemory after) {
                onChange.run();
            }

            @Override
            public void onDelete(NumaGuestMemory ngm, boolean finalStateUnknown) {
                onChange.run();
            }
        });
    }

    @Override
    public void close() {
        informer.close();
    }
}
