package io.numaguest.agent.guest;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.ClassNameFilter;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.EngineFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs the *InGuest classes of this package inside the two-node guest (test-env/numa-guest), where
 * Maven does not run, and writes one JSON line per test to the file named by its first argument;
 * the host's NumaGuestIT turns those lines into its own test results. Further arguments name the
 * classes to run (simple names), for running one by hand.
 */
public final class GuestTestRunner {
    private static final ObjectMapper JSON = new ObjectMapper();

    private GuestTestRunner() {}

    public static void main(String[] args) throws IOException {
        Path results = Path.of(args[0]);
        // Named classes (simple names), or every *InGuest class of this package.
        List<? extends DiscoverySelector> selectors = args.length > 1
                ? Arrays.stream(args, 1, args.length)
                        .map(name ->
                                DiscoverySelectors.selectClass(GuestTestRunner.class.getPackageName() + "." + name))
                        .toList()
                : List.of(DiscoverySelectors.selectPackage(GuestTestRunner.class.getPackageName()));
        try (Writer out = Files.newBufferedWriter(results)) {
            LauncherFactory.create()
                    .execute(
                            LauncherDiscoveryRequestBuilder.request()
                                    .selectors(selectors)
                                    .filters(
                                            EngineFilter.includeEngines("junit-jupiter"),
                                            ClassNameFilter.includeClassNamePatterns(".*InGuest"))
                                    .build(),
                            new JsonLines(out));
        }
    }

    private static final class JsonLines implements TestExecutionListener {
        private final Writer out;
        private final Map<String, Long> started = new ConcurrentHashMap<>();

        JsonLines(Writer out) {
            this.out = out;
        }

        @Override
        public void executionStarted(TestIdentifier test) {
            started.put(test.getUniqueId(), System.nanoTime());
        }

        @Override
        public void executionSkipped(TestIdentifier test, String reason) {
            if (test.isTest()) {
                write(test, "SKIPPED", reason, 0);
            }
        }

        @Override
        public void executionFinished(TestIdentifier test, TestExecutionResult result) {
            // A class whose set-up failed fails all of its tests: report it as a test of its own.
            if (!test.isTest() && result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
                return;
            }
            long nanos = System.nanoTime() - started.getOrDefault(test.getUniqueId(), System.nanoTime());
            String message =
                    result.getThrowable().map(GuestTestRunner::stackTrace).orElse("");
            write(test, result.getStatus().name(), message, nanos / 1e9);
        }

        private void write(TestIdentifier test, String status, String message, double seconds) {
            Map<String, Object> line = new LinkedHashMap<>();
            line.put(
                    "name",
                    test.getSource()
                            .filter(MethodSource.class::isInstance)
                            .map(MethodSource.class::cast)
                            // Invocations of a parameterized test are told apart by their display name, "[1] ...".
                            .map(method -> method.getJavaClass().getSimpleName() + "." + method.getMethodName()
                                    + (test.getDisplayName().startsWith("[") ? " " + test.getDisplayName() : ""))
                            .orElse(test.getDisplayName()));
            line.put("status", status);
            line.put("seconds", seconds);
            line.put("message", message);
            System.out.println("numa-guest test " + line.get("name") + ": " + status);
            try {
                synchronized (out) {
                    out.write(JSON.writeValueAsString(line) + "\n");
                    out.flush();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static String stackTrace(Throwable failure) {
        StringWriter trace = new StringWriter();
        failure.printStackTrace(new PrintWriter(trace));
        return trace.toString();
    }
}
