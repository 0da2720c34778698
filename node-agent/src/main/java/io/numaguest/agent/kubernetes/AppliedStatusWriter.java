package io.numaguest.agent.kubernetes;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.request.ApplyObserver;
import io.numaguest.api.v1alpha1.ApplyError;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import io.numaguest.api.v1alpha1.NumaGuestMemoryStatus;
import io.numaguest.api.v1alpha1.PodReference;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Writes the evidence of a VM's NumaGuestMemory after each apply: {@code status.applied} on the node
 * the VM runs on, {@code status.migrationApplied} on a live migration's target node. The agents are
 * those fields' only writers (field manager {@value #FIELD_MANAGER}), each on the node the operator
 * named for it; the operator owns the rest of status.
 *
 * <p>Writes happen off the request path, so a slow API server never delays a VMM's answer, and
 * coalesce per object. Each write sets the whole list, every guest node entry of the pod this node
 * serves (this node's agent is the list's only writer, so it knows them all); entries of an earlier
 * pod are dropped as stale. Each write is a JSON patch that first tests that the status still names
 * this node for that list, so an agent whose cache lags cannot overwrite the other node's evidence.
 *
 * <p>When a migration to this node completes (the operator names this node and the target pod
 * as the target), this agent's next write is its own: its entries go from migrationApplied into
 * applied and migrationApplied goes, in one patch, so the source's evidence is replaced, never
 * mixed in. The same write after a failed migration removes the target's leftover entries.
 */
public final class AppliedStatusWriter implements ApplyObserver, AutoCloseable {
    public static final String FIELD_MANAGER = "numaguest-agent";
    private static final Logger LOG = Logger.getLogger(AppliedStatusWriter.class.getName());
    private static final long MAX_RETRY_DELAY_SECONDS = 60;

    private record NgmKey(String namespace, String name) {}

    private final KubernetesClient client;
    private final KubernetesPolicySource policies;
    private final Path proc;
    private final ScheduledExecutorService writer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread thread = new Thread(r, "status-writer");
        thread.setDaemon(true);
        return thread;
    });
    /** Entries per object as this agent last wrote (or will write) them. */
    private final Map<NgmKey, TreeMap<Integer, GuestNodeApplied>> entries = new HashMap<>();

    private final Set<NgmKey> pending = ConcurrentHashMap.newKeySet();

    public AppliedStatusWriter(KubernetesClient client, KubernetesPolicySource policies, Path proc) {
        this.client = client;
        this.policies = policies;
        this.proc = proc;
        policies.onChange(this::changed);
    }

    /** A migration ended with the VM on this node (or failed and left it here): migrationApplied is this agent's to clear. */
    private void changed(NumaGuestMemory ngm) {
        NumaGuestMemoryStatus status = ngm.getStatus();
        if (status != null
                && status.getMigration() == null
                && status.getMigrationApplied() != null
                && policies.nodeName().equals(status.getNodeName())) {
            NgmKey key = new NgmKey(
                    ngm.getMetadata().getNamespace(), ngm.getMetadata().getName());
            if (pending.add(key)) {
                writer.execute(() -> write(key, 1));
            }
        }
    }

    @Override
    public void applied(VmRef vm, PeerCredentials peer, int guestNode, RegionOutcome outcome) {
        GuestNodeApplied entry = entry(peer, guestNode);
        entry.setFdKind(outcome.kind().wireName());
        entry.setMechanism(outcome.mechanism().wireName());
        entry.setPolicy(outcome.policy());
        entry.setHostNodes(outcome.hostNodes());
        entry.setVerified(outcome.verified());
        entry.setPageSizeBytes(outcome.pageSizeBytes());
        if (outcome.pagesByHostNode() != null) {
            Map<String, Long> pages = new TreeMap<>();
            outcome.pagesByHostNode().forEach((node, count) -> pages.put(String.valueOf(node), count));
            entry.setPagesByHostNode(pages);
        }
        record(vm, entry);
    }

    @Override
    public void refused(VmRef vm, PeerCredentials peer, int guestNode, AgentException failure) {
        GuestNodeApplied entry = entry(peer, guestNode);
        entry.setVerified(false);
        entry.setError(new ApplyError(failure.code().name(), failure.getMessage()));
        record(vm, entry);
    }

    private GuestNodeApplied entry(PeerCredentials peer, int guestNode) {
        GuestNodeApplied entry = new GuestNodeApplied();
        entry.setGuestNode(guestNode);
        entry.setPodUid(PodCgroup.podUidOf(proc, peer.pid()).orElse(null));
        entry.setTime(Instant.now().toString());
        return entry;
    }

    private void record(VmRef vm, GuestNodeApplied entry) {
        Optional<NumaGuestMemory> target;
        try {
            target = policies.forVm(vm);
        } catch (AgentException e) {
            return; // not synced, or ambiguous: the request was refused for that reason already
        }
        target.ifPresent(ngm -> {
            NgmKey key = new NgmKey(
                    ngm.getMetadata().getNamespace(), ngm.getMetadata().getName());
            synchronized (entries) {
                entries.computeIfAbsent(key, k -> existing(ngm, policies.isMigrationTarget(ngm)))
                        .put(entry.getGuestNode(), entry);
            }
            if (pending.add(key)) {
                writer.execute(() -> write(key, 1));
            }
        });
    }

    /**
     * What this node's list holds now (after an agent restart, what the previous run wrote). Where
     * the VM runs, that includes the entries of the target pod still in migrationApplied: a
     * completed migration's evidence, which this agent wrote as its target.
     */
    private static TreeMap<Integer, GuestNodeApplied> existing(NumaGuestMemory ngm, boolean migrationTarget) {
        TreeMap<Integer, GuestNodeApplied> current = new TreeMap<>();
        NumaGuestMemoryStatus status = ngm.getStatus();
        if (status == null) {
            return current;
        }
        if (migrationTarget) {
            Optional.ofNullable(status.getMigrationApplied())
                    .ifPresent(list -> list.forEach(entry -> current.put(entry.getGuestNode(), entry)));
            return current;
        }
        Optional.ofNullable(status.getApplied())
                .ifPresent(list -> list.forEach(entry -> current.put(entry.getGuestNode(), entry)));
        String targetPod =
                status.getTargetPod() == null ? null : status.getTargetPod().getUid();
        Optional.ofNullable(status.getMigrationApplied())
                .ifPresent(list -> list.stream()
                        .filter(entry -> targetPod != null && targetPod.equals(entry.getPodUid()))
                        .forEach(entry -> current.put(entry.getGuestNode(), entry)));
        return current;
    }

    private void write(NgmKey key, int attempt) {
        pending.remove(key);
        Optional<NumaGuestMemory> current = policies.all().stream()
                .filter(ngm -> key.equals(new NgmKey(
                        ngm.getMetadata().getNamespace(), ngm.getMetadata().getName())))
                .findFirst();
        if (current.isEmpty() || current.get().getStatus() == null) {
            synchronized (entries) {
                entries.remove(key); // deleted, or moved to another node: nothing to report to, nothing to keep
            }
            return;
        }
        NumaGuestMemory ngm = current.get();
        NumaGuestMemoryStatus status = ngm.getStatus();
        // The informers select by node: an NGM here is a migration's target on this node, or its
        // status.nodeName is this node.
        boolean migrationTarget = policies.isMigrationTarget(ngm);
        String servedPod = policies.podServedHere(ngm).map(PodReference::getUid).orElse(null);
        List<GuestNodeApplied> applied;
        synchronized (entries) {
            TreeMap<Integer, GuestNodeApplied> known =
                    entries.computeIfAbsent(key, k -> existing(ngm, migrationTarget));
            if (servedPod != null) {
                known.values()
                        .removeIf(entry ->
                                entry.getPodUid() != null && !entry.getPodUid().equals(servedPod));
            }
            applied = new ArrayList<>(known.values());
        }
        List<Map<String, Object>> operations = new ArrayList<>();
        if (migrationTarget) {
            operations.add(Map.of("op", "test", "path", "/status/migration/nodeName", "value", policies.nodeName()));
            operations.add(Map.of("op", "add", "path", "/status/migrationApplied", "value", applied));
        } else {
            operations.add(Map.of("op", "test", "path", "/status/nodeName", "value", policies.nodeName()));
            // "add" sets status.applied to exactly this list (status exists: the operator's placement is in it).
            operations.add(Map.of("op", "add", "path", "/status/applied", "value", applied));
            if (status.getMigration() == null && status.getMigrationApplied() != null) {
                // Only the list this agent's cache shows: a new migration's target may have written since.
                operations.add(Map.of(
                        "op", "test", "path", "/status/migrationApplied", "value", status.getMigrationApplied()));
                operations.add(Map.of("op", "remove", "path", "/status/migrationApplied"));
            }
        }
        String field = migrationTarget ? "status.migrationApplied" : "status.applied";
        try {
            client.resources(NumaGuestMemory.class)
                    .inNamespace(key.namespace())
                    .withName(key.name())
                    .subresource("status")
                    .patch(
                            new PatchContext.Builder()
                                    .withPatchType(PatchType.JSON)
                                    .withFieldManager(FIELD_MANAGER)
                                    .build(),
                            Serialization.asJson(operations));
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404) {
                return; // the NGM is gone: nothing to report to
            }
            // Transient (API server down or busy, a conflict, a test of this node that failed while
            // the cache lags the status): retry as long as the NGM exists, so an outage of any length
            // still ends with the evidence written. Anything else is final. No answer at all
            // (connection refused, reset, timed out) has no HTTP code: Fabric8 gives -1, or 0.
            boolean transientFailure = e.getCode() <= 0
                    || e.getCode() >= 500
                    || e.getCode() == 409
                    || e.getCode() == 429
                    || e.getCode() == 422;
            if (transientFailure && pending.add(key)) {
                long delaySeconds = Math.min(1L << Math.min(attempt, 6), MAX_RETRY_DELAY_SECONDS);
                LOG.warning(() -> "writing " + field + " of " + key.namespace() + "/" + key.name() + " failed ("
                        + e.getMessage() + "), retrying in " + delaySeconds + "s");
                writer.schedule(() -> write(key, attempt + 1), delaySeconds, TimeUnit.SECONDS);
            } else if (pending.contains(key)) {
                // An apply recorded while this write was in flight queued a write of its own, which
                // carries these entries too (and starts its own retries): nothing is given up.
                LOG.warning(() -> "writing " + field + " of " + key.namespace() + "/" + key.name() + " failed ("
                        + e.getMessage() + "); the write queued since carries these entries too");
            } else {
                LOG.severe(() -> "writing " + field + " of " + key.namespace() + "/" + key.name()
                        + " was refused, not retrying: " + e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        writer.shutdown();
        try {
            writer.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
