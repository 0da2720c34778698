package io.numaguest.agent.policy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
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

    /** Far above any real policy file (a VM takes a few hundred bytes); bounds what a reload reads and parses. */
    public static final int MAX_FILE_BYTES = 1 << 20;
    /** The same warning is repeated at most this often while the problem lasts. */
    private static final Duration REPEAT_WARNING = Duration.ofMinutes(5);

    private final Path file;
    private final ScheduledExecutorService poller;
    private String lastWarning;
    private long lastWarningNanos;
    private volatile Map<VmRef, Map<Integer, GuestNodePolicy>> policies;
    private volatile String lastSeenContent;

    private PolicyFileSource(
            Path file, Map<VmRef, Map<Integer, GuestNodePolicy>> policies, String content, Duration pollInterval) {
        this.file = file;
        this.policies = policies;
        this.lastSeenContent = content;
        this.poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "policy-file-poller");
            thread.setDaemon(true);
            return thread;
        });
        poller.scheduleWithFixedDelay(
                this::reloadIfChanged, pollInterval.toMillis(), pollInterval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Loads the file now; a file that cannot be used at start is an error, not an empty policy set. */
    public static PolicyFileSource open(Path file, Duration pollInterval)
            throws IOException, InvalidPolicyFileException {
        String content = read(file);
        Map<VmRef, Map<Integer, GuestNodePolicy>> policies = PolicyFile.parse(content);
        LOG.info(() -> "policy file " + file + " loaded: " + describe(policies));
        return new PolicyFileSource(file, policies, content, pollInterval);
    }

    @Override
    public Optional<GuestNodePolicy> find(VmRef vm, int guestNode) {
        return Optional.ofNullable(policies.getOrDefault(vm, Map.of()).get(guestNode));
    }

    /**
     * The file's text: only a regular file (a link to one, as a ConfigMap mounts it, is fine) of at
     * most {@link #MAX_FILE_BYTES}, read with that bound whatever its size claims (a device, a file
     * that grows while read).
     */
    static String read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(Files.exists(file) ? "not a regular file" : "no such file");
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] content = in.readNBytes(MAX_FILE_BYTES + 1);
            if (content.length > MAX_FILE_BYTES) {
                throw new IOException("larger than the limit of " + MAX_FILE_BYTES + " bytes");
            }
            return new String(content, StandardCharsets.UTF_8);
        }
    }

    /** Runs on the poller: whatever goes wrong is logged and the next poll comes, or edits would be ignored for good. */
    void reloadIfChanged() {
        try {
            String content = read(file);
            if (content.equals(lastSeenContent)) {
                return;
            }
            lastSeenContent = content;
            Map<VmRef, Map<Integer, GuestNodePolicy>> reloaded = PolicyFile.parse(content);
            policies = reloaded;
            lastWarning = null;
            LOG.info(() -> "policy file " + file + " reloaded: " + describe(reloaded));
        } catch (InvalidPolicyFileException e) {
            warn("policy file " + file + " is invalid, keeping the last good policies: " + e.getMessage());
        } catch (IOException e) {
            lastSeenContent = null; // read it anew once it can be read
            warn("policy file " + file + " cannot be read, keeping the last good policies: "
                    + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
        } catch (Throwable e) { // a parser bug, StackOverflowError, OutOfMemoryError: the poller must survive
            warn("policy file " + file + " could not be loaded, keeping the last good policies: "
                    + e.getClass().getName());
            LOG.log(Level.FINE, "policy file reload failed", e);
        }
    }

    /** Logs a warning unless it is the one logged last and that was less than {@link #REPEAT_WARNING} ago. */
    private void warn(String warning) {
        long now = System.nanoTime();
        if (warning.equals(lastWarning) && now - lastWarningNanos < REPEAT_WARNING.toNanos()) {
            return;
        }
        lastWarning = warning;
        lastWarningNanos = now;
        LOG.warning(warning + " (repeated at most every " + REPEAT_WARNING.toMinutes() + " minutes while it lasts)");
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
