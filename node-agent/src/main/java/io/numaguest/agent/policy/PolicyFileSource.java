package io.numaguest.agent.policy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
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
 * <p>The file is polled (modification time, size and inode) rather than watched with inotify:
 * polling also sees editors that replace the file and ConfigMap-style symlink swaps.
 */
public final class PolicyFileSource implements PolicySource, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PolicyFileSource.class.getName());

    private final Path file;
    private final ScheduledExecutorService poller;
    private volatile Map<VmRef, Map<Integer, GuestNodePolicy>> policies;
    private volatile Object lastSeenVersion;

    private PolicyFileSource(Path file, Map<VmRef, Map<Integer, GuestNodePolicy>> policies, Object version, Duration pollInterval) {
        this.file = file;
        this.policies = policies;
        this.lastSeenVersion = version;
        this.poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "policy-file-poller");
            thread.setDaemon(true);
            return thread;
        });
        poller.scheduleWithFixedDelay(this::reloadIfChanged, pollInterval.toMillis(), pollInterval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Loads the file now; a file that cannot be used at start is an error, not an empty policy set. */
    public static PolicyFileSource open(Path file, Duration pollInterval) throws IOException, InvalidPolicyFileException {
        Object version = version(file);
        Map<VmRef, Map<Integer, GuestNodePolicy>> policies = PolicyFile.parse(Files.readString(file));
        LOG.info(() -> "policy file " + file + " loaded: " + describe(policies));
        return new PolicyFileSource(file, policies, version, pollInterval);
    }

    @Override
    public Optional<GuestNodePolicy> find(VmRef vm, int guestNode) {
        return Optional.ofNullable(policies.getOrDefault(vm, Map.of()).get(guestNode));
    }

    void reloadIfChanged() {
        try {
            Object version = version(file);
            if (Objects.equals(version, lastSeenVersion)) {
                return;
            }
            lastSeenVersion = version;
            Map<VmRef, Map<Integer, GuestNodePolicy>> reloaded = PolicyFile.parse(Files.readString(file));
            policies = reloaded;
            LOG.info(() -> "policy file " + file + " reloaded: " + describe(reloaded));
        } catch (InvalidPolicyFileException e) {
            LOG.warning(() -> "policy file " + file + " is invalid, keeping the last good policies: " + e.getMessage());
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "policy file " + file + " cannot be read, keeping the last good policies: " + e, e);
        }
    }

    private static Object version(Path file) throws IOException {
        BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
        return java.util.List.of(attributes.lastModifiedTime(), attributes.size(), String.valueOf(attributes.fileKey()));
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
