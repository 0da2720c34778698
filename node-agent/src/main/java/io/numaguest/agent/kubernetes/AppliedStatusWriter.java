package io.numaguest.agent.kubernetes;

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

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.request.ApplyObserver;
import io.numaguest.api.v1alpha1.ApplyError;
import io.numaguest.api.v1alpha1.GuestNodeApplied;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemory;

/**
 * Writes {@code status.applied} of a VM's NumaGuestMemory after each apply: the agent is that
 * field's only writer (field manager {@value #FIELD_MANAGER}); the operator owns the rest of status.
 *
 * <p>Writes happen off the request path, so a slow API server never delays a VMM's answer, and
 * coalesce per object. Each write sets the whole list, every guest node entry of the current target
 * pod (this agent is the list's only writer, so it knows them all); entries of an earlier pod are
 * dropped as stale.
 */
public final class AppliedStatusWriter implements ApplyObserver, AutoCloseable {
    public static final String FIELD_MANAGER = "numaguest-agent";
    private static final Logger LOG = Logger.getLogger(AppliedStatusWriter.class.getName());
    private static final long MAX_RETRY_DELAY_SECONDS = 60;

    private record NgmKey(String namespace, String name) {
    }

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
            NgmKey key = new NgmKey(ngm.getMetadata().getNamespace(), ngm.getMetadata().getName());
            synchronized (entries) {
                entries.computeIfAbsent(key, k -> existing(ngm)).put(entry.getGuestNode(), entry);
            }
            if (pending.add(key)) {
                writer.execute(() -> write(key, 1));
            }
        });
    }

    /** What status.applied holds now (after an agent restart, what the previous run wrote). */
    private static TreeMap<Integer, GuestNodeApplied> existing(NumaGuestMemory ngm) {
        TreeMap<Integer, GuestNodeApplied> current = new TreeMap<>();
        if (ngm.getStatus() != null && ngm.getStatus().getApplied() != null) {
            ngm.getStatus().getApplied().forEach(entry -> current.put(entry.getGuestNode(), entry));
        }
        return current;
    }

    private void write(NgmKey key, int attempt) {
        pending.remove(key);
        List<GuestNodeApplied> applied;
        Optional<NumaGuestMemory> current = policies.all().stream()
                .filter(ngm -> key.equals(new NgmKey(ngm.getMetadata().getNamespace(), ngm.getMetadata().getName())))
                .findFirst();
        if (current.isEmpty() || current.get().getStatus() == null) {
            synchronized (entries) {
                entries.remove(key); // deleted, or moved to another node: nothing to report to, nothing to keep
            }
            return;
        }
        String currentPod = current.get().getStatus().getTargetPod() == null ? null : current.get().getStatus().getTargetPod().getUid();
        synchronized (entries) {
            TreeMap<Integer, GuestNodeApplied> known = entries.get(key);
            if (currentPod != null) {
                known.values().removeIf(entry -> entry.getPodUid() != null && !entry.getPodUid().equals(currentPod));
            }
            applied = new ArrayList<>(known.values());
        }
        // JSON Patch "add" sets status.applied to exactly this list (status exists: the operator's placement is in it).
        String patch = Serialization.asJson(List.of(Map.of("op", "add", "path", "/status/applied", "value", applied)));
        try {
            client.resources(NumaGuestMemory.class).inNamespace(key.namespace()).withName(key.name()).subresource("status")
                    .patch(new PatchContext.Builder().withPatchType(PatchType.JSON).withFieldManager(FIELD_MANAGER).build(), patch);
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404 || e.getCode() == 422) {
                return; // the NGM is gone, or has no status to add to: nothing to report to
            }
            // Transient (API server down or busy, a conflict): retry as long as the NGM exists, so an
            // outage of any length still ends with the evidence written. Anything else is final.
            boolean transientFailure = e.getCode() == 0 || e.getCode() >= 500 || e.getCode() == 409 || e.getCode() == 429;
            if (transientFailure && pending.add(key)) {
                long delaySeconds = Math.min(1L << Math.min(attempt, 6), MAX_RETRY_DELAY_SECONDS);
                LOG.warning(() -> "writing status.applied of " + key.namespace() + "/" + key.name() + " failed (" + e.getMessage()
                        + "), retrying in " + delaySeconds + "s");
                writer.schedule(() -> write(key, attempt + 1), delaySeconds, TimeUnit.SECONDS);
            } else if (pending.contains(key)) {
                // An apply recorded while this write was in flight queued a write of its own, which
                // carries these entries too (and starts its own retries): nothing is given up.
                LOG.warning(() -> "writing status.applied of " + key.namespace() + "/" + key.name() + " failed (" + e.getMessage()
                        + "); the write queued since carries these entries too");
            } else {
                LOG.severe(() -> "writing status.applied of " + key.namespace() + "/" + key.name() + " was refused, not retrying: "
                        + e.getMessage());
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
