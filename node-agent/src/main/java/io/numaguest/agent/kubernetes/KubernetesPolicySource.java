package io.numaguest.agent.kubernetes;

import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.GuestNodeSpec;
import io.numaguest.api.v1alpha1.MigrationTarget;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.PodReference;
import io.numaguest.api.v1alpha1.Target;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Kubernetes mode's policy source: the NumaGuestMemory objects the operator decided for this node,
 * held by informers that select them by field: those whose VM runs here ({@code status.nodeName})
 * and those whose VM a live migration brings here ({@code status.migration.nodeName}). The host nodes come from the
 * operator's decision for this node, not from the spec: {@code status.placement} where the VM
 * runs, {@code status.migration.placement} on a migration's target node. The agent enforces what
 * was decided and never decides itself.
 *
 * <p>A VMM names its VM as the NGM's target does: the VirtualMachineInstance's name, or for a
 * {@code podSelector} target the NGM's own name; the namespace is the NGM's.
 */
public final class KubernetesPolicySource implements PolicySource, AutoCloseable {
    private final String nodeName;
    private final SharedIndexInformer<NumaGuestMemory> running;
    private final SharedIndexInformer<NumaGuestMemory> arriving;

    /**
     * @throws IllegalStateException when the cluster's NumaGuestMemory CRD cannot select by node
     *         (one older than this agent), since the informers would then retry their lists forever
     */
    public KubernetesPolicySource(KubernetesClient client, String nodeName) {
        this.nodeName = nodeName;
        requireSelectableByNode(client, nodeName);
        running = informer(client, NumaGuestMemory.NODE_FIELD, nodeName);
        arriving = informer(client, NumaGuestMemory.MIGRATION_TARGET_NODE_FIELD, nodeName);
    }

    private static SharedIndexInformer<NumaGuestMemory> informer(
            KubernetesClient client, String field, String nodeName) {
        return client.resources(NumaGuestMemory.class)
                .inAnyNamespace()
                .withField(field, nodeName)
                .runnableInformer(0)
                .itemStore(new ItemsWithoutManagedFields<>())
                .run();
    }

    /** One list of at most one object per field: the API server refuses a field its CRD does not declare selectable. */
    private static void requireSelectableByNode(KubernetesClient client, String nodeName) {
        for (String field : List.of(NumaGuestMemory.NODE_FIELD, NumaGuestMemory.MIGRATION_TARGET_NODE_FIELD)) {
            try {
                client.resources(NumaGuestMemory.class)
                        .inAnyNamespace()
                        .withField(field, nodeName)
                        .list(new ListOptionsBuilder().withLimit(1L).build());
            } catch (KubernetesClientException e) {
                if (e.getCode() != 400) {
                    throw e;
                }
                throw new IllegalStateException(
                        "the API server cannot select NumaGuestMemory objects by " + field + " (" + e.getMessage()
                                + "): the cluster's NumaGuestMemory CRD is older than this agent, or the cluster is"
                                + " older than Kubernetes 1.31 or runs with the CustomResourceFieldSelectors feature"
                                + " gate off; apply this release's CRD (kubectl apply --server-side -f crds/) on"
                                + " Kubernetes >= 1.31 and restart the agent",
                        e);
            }
        }
    }

    public String nodeName() {
        return nodeName;
    }

    /** Whether the first lists from the API server have arrived: until then no request can be judged. */
    public boolean hasSynced() {
        return running.hasSynced() && arriving.hasSynced();
    }

    /** Calls {@code changed} with each NGM of this node as it is added or updated. */
    void onChange(Consumer<NumaGuestMemory> changed) {
        ResourceEventHandler<NumaGuestMemory> handler = new ResourceEventHandler<>() {
            @Override
            public void onAdd(NumaGuestMemory ngm) {
                changed.accept(ngm);
            }

            @Override
            public void onUpdate(NumaGuestMemory old, NumaGuestMemory ngm) {
                changed.accept(ngm);
            }

            @Override
            public void onDelete(NumaGuestMemory ngm, boolean finalStateUnknown) {}
        };
        running.addEventHandler(handler);
        arriving.addEventHandler(handler);
    }

    /**
     * The NGM of a VM on this node. BUSY (retry) until the informers have their first lists; refused
     * when two objects name the same VM, since either could be the one meant.
     */
    public Optional<NumaGuestMemory> forVm(VmRef vm) throws AgentException {
        if (!hasSynced()) {
            throw new AgentException(
                    ErrorCode.BUSY,
                    "the agent is still reading the NumaGuestMemory objects of its node "
                            + "from the API server; retry shortly");
        }
        List<NumaGuestMemory> matching = all().stream()
                .filter(ngm -> vm.namespace().equals(ngm.getMetadata().getNamespace())
                        && vmName(ngm).equals(vm.name()))
                .toList();
        if (matching.size() > 1) {
            throw new AgentException(
                    ErrorCode.POLICY_REJECTED,
                    "NumaGuestMemory objects "
                            + matching.stream()
                                    .map(ngm -> ngm.getMetadata().getName())
                                    .sorted()
                                    .toList() + " in namespace "
                            + vm.namespace() + " all name VM " + vm.name() + ": delete all but one");
        }
        return matching.stream().findFirst();
    }

    /**
     * Every NGM of this node, for the authorizer's "is this pod anyone's target" question. One
     * object per NGM: when the operator ends a migration (status.nodeName becomes the target's node
     * in the write that drops status.migration) both informers may hold it for a moment, and the
     * one selected by status.nodeName is the newer.
     */
    public List<NumaGuestMemory> all() {
        Map<String, NumaGuestMemory> byUid = new LinkedHashMap<>();
        arriving.getStore().list().forEach(ngm -> byUid.put(ngm.getMetadata().getUid(), ngm));
        running.getStore().list().forEach(ngm -> byUid.put(ngm.getMetadata().getUid(), ngm));
        return List.copyOf(byUid.values());
    }

    static String vmName(NumaGuestMemory ngm) {
        Target target = ngm.getSpec() == null ? null : ngm.getSpec().getTarget();
        if (target != null && target.getVirtualMachineInstance() != null) {
            return target.getVirtualMachineInstance().getName();
        }
        return ngm.getMetadata().getName();
    }

    /** Whether the NGM's status names this node as a live migration's target. */
    boolean isMigrationTarget(NumaGuestMemory ngm) {
        return migration(ngm)
                .map(MigrationTarget::getNodeName)
                .filter(nodeName::equals)
                .isPresent();
    }

    /**
     * The pod whose VMM this node's agent serves for the NGM: the migration's target pod on the
     * migration's target node, else the target pod.
     */
    Optional<PodReference> podServedHere(NumaGuestMemory ngm) {
        if (isMigrationTarget(ngm)) {
            return migration(ngm).map(MigrationTarget::getTargetPod);
        }
        return Optional.ofNullable(ngm.getStatus()).map(NumaGuestMemoryStatus::getTargetPod);
    }

    @Override
    public Optional<GuestNodePolicy> find(VmRef vm, int guestNode) throws AgentException {
        Optional<NumaGuestMemory> ngm = forVm(vm);
        return ngm.isEmpty() ? Optional.empty() : policyOf(ngm.get(), guestNode);
    }

    /** Empty when the spec has no such guest node; BUSY while the operator has not placed it for this node yet. */
    Optional<GuestNodePolicy> policyOf(NumaGuestMemory ngm, int guestNode) throws AgentException {
        Optional<GuestNodeSpec> asked = ngm.getSpec().getGuestNodes().stream()
                .filter(g -> g.getGuestNode() != null && g.getGuestNode() == guestNode)
                .findFirst();
        if (asked.isEmpty()) {
            return Optional.empty();
        }
        boolean arrivingHere = isMigrationTarget(ngm);
        List<GuestNodePlacement> placement = arrivingHere
                ? migration(ngm).map(MigrationTarget::getPlacement).orElse(List.of())
                : Optional.ofNullable(ngm.getStatus())
                        .map(NumaGuestMemoryStatus::getPlacement)
                        .orElse(List.of());
        GuestNodePlacement placed = placement.stream()
                .filter(p -> p.getGuestNode() != null && p.getGuestNode() == guestNode && p.getPolicy() != null)
                .findFirst()
                .orElseThrow(() -> new AgentException(
                        ErrorCode.BUSY,
                        "guest node " + guestNode + " of NumaGuestMemory "
                                + ngm.getMetadata().getNamespace() + "/"
                                + ngm.getMetadata().getName() + " is not placed "
                                + (arrivingHere
                                        ? "on migration target node " + nodeName
                                                + " yet (see its MigrationTargetReady condition)"
                                        : "yet (see its Placed condition)")
                                + "; retry shortly"));
        return Optional.of(new GuestNodePolicy(
                guestNode,
                placed.getPolicy(),
                placed.getHostNodes() == null ? List.of() : placed.getHostNodes(),
                null,
                Boolean.TRUE.equals(asked.get().getMigrate())));
    }

    /**
     * The UIDs of the pods whose VMMs this node's agent serves (each NGM's target pod, or on a
     * migration's target node the migration's target pod): the pods that get a socket of their own.
     */
    public Set<String> servedPodUids() {
        Set<String> uids = new HashSet<>();
        for (NumaGuestMemory ngm : all()) {
            podServedHere(ngm).map(PodReference::getUid).ifPresent(uids::add);
        }
        return uids;
    }

    private static Optional<MigrationTarget> migration(NumaGuestMemory ngm) {
        return Optional.ofNullable(ngm.getStatus()).map(NumaGuestMemoryStatus::getMigration);
    }

    /** Runs {@code onChange} (on the informer's thread: keep it short) after every add, update or delete of an NGM of this node. */
    public void onAnyChange(Runnable onChange) {
        ResourceEventHandler<NumaGuestMemory> handler = new ResourceEventHandler<>() {
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
        };
        running.addEventHandler(handler);
        arriving.addEventHandler(handler);
    }

    @Override
    public void close() {
        running.close();
        arriving.close();
    }
}
