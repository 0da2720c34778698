package io.numaguest.agent.policy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The standalone policy source: a YAML file, reloaded when it changes. A broken edit is logged and
 * the last good policies stay in force, so a typo never strips running VMs of their placement.
 *
 * <p>The file is polled and its content compared, rather than watched with inotify: polling also
 * sees editors that replace the file, ConfigMap-style symlink swaps, and rewrites that keep the
 * size and modification time (cp -p). A policy file is small; reading it each second is cheap.
 */
public final class PolicyFileSource implements PolicySource, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PolicyFileSource.class.getName());

    private final Path file;
    private final ScheduledExecutorService poller;
    private volatile Map<VmRef, Map<Integer, GuestNodePolicy>> policies;
    private volatile String lastSeenContent;

    private PolicyFileSource(Path file, Map<VmRef, Map<Integer, GuestNodePolicy>> policies, String content, Duration pollInterval) {
        this.file = file;
        this.policies = policies;
        this.lastSeenContent = content;
        this.poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "policy-file-poller");
            thread.setDaemon(true);
            return thread;
        });
        poller.scheduleWithFixedDelay(this::reloadIfChanged, pollInterval.toMillis(), pollInterval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Loads the file now; a file that cannot be used at start is an error, not an empty policy set. */
    public static PolicyFileSource open(Path file, Duration pollInterval) throws IOException, InvalidPolicyFileException {
        String content = Files.readString(file);
        Map<VmRef, Map<Integer, GuestNodePolicy>> policies = PolicyFile.parse(content);
        LOG.info(() -> "policy file " + file + " loaded: " + describe(policies));
        return new PolicyFileSource(file, policies, content, pollInterval);
    }

    @Override
    public Optional<GuestNodePolicy> find(VmRef vm, int guestNode) {
        return Optional.ofNullable(policies.getOrDefault(vm, Map.of()).get(guestNode));
    }

    void reloadIfChanged() {
        try {
            String content = Files.readString(file);
            if (content.equals(lastSeenContent)) {
                return;
            }
            lastSeenContent = content;
            Map<VmRef, Map<Integer, GuestNodePolicy>> reloaded = PolicyFile.parse(content);
            policies = reloaded;
            LOG.info(() -> "policy file " + file + " reloaded: " + describe(reloaded));
        } catch (InvalidPolicyFileException e) {
            LOG.warning(() -> "policy file " + file + " is invalid, keeping the last good policies: " + e.getMessage());
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "policy file " + file + " cannot be read, keeping the last good policies: " + e, e);
        }
    }

    private static String describe(Map<VmRef, Map<Integer, GuestNodePolicy>> policies) {
        int guestNodes = policies.values().stream().mapToInt(Map::size).sum();
        return policies.size() + " VM(s), " + guestNodes + " guest node policies";
    }

    @Override
    public void close() {
        poller.shutdownNow();
    }
}
