package io.numaguest.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.numaguest.agent.guest.GuestTestRunner;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/**
 * Runs the tests of {@code io.numaguest.agent.guest} inside the two-node guest with KVM that
 * test-env/numa-guest boots, where node 1 and guest_memfd are real, and reports each of them here.
 * scripts/test prepares the guest and sets NUMA_GUEST_REQUIRED=1, which turns a missing QEMU or
 * kernel from a skip into a failure.
 */
class NumaGuestIT {
    private static final Path NODE_AGENT =
            Path.of(System.getProperty("basedir", ".")).toAbsolutePath();
    private static final Path REPO = NODE_AGENT.getParent();
    private static final Path WORK = NODE_AGENT.resolve("target/numa-guest");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TestFactory
    Stream<DynamicTest> testsInTheTwoNodeGuest() throws Exception {
        boolean required = "1".equals(System.getenv("NUMA_GUEST_REQUIRED"));
        boolean haveQemu = Stream.of(System.getenv("PATH").split(":"))
                .anyMatch(dir -> Files.isExecutable(Path.of(dir, "qemu-system-x86_64")));
        if (!required) {
            assumeTrue(
                    haveQemu,
                    "qemu-system-x86_64 is not installed (Debian's qemu-system-x86; scripts/test installs it as root)");
        }
        Files.createDirectories(WORK);
        Path standin = WORK.resolve("bin/vmm-standin");
        assertThat(run(
                        List.of(
                                "make",
                                "-s",
                                "-C",
                                NODE_AGENT.resolve("src/test/c").toString(),
                                "BUILD=" + standin.getParent()),
                        WORK.resolve("make.log")))
                .as("make of the VMM stand-in (node-agent/src/test/c)")
                .isZero();
        Path results = WORK.resolve("results.jsonl");
        Files.deleteIfExists(results);
        List<String> command = new ArrayList<>(List.of(
                REPO.resolve("test-env/numa-guest").toString(),
                "run",
                // The whole checkout, read-write: the guest's /tmp and /run are its own, so a clone
                // there would be invisible in the read-only view of the host's root.
                "--timeout",
                "1500",
                "--share",
                REPO.toString(),
                "--",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                // Everything in the guest is emulated: C1 alone compiles less and starts sooner.
                // UseAVX=0: JIT-compiled AVX code crashed once under QEMU 7.2's TCG (StringLatin1.indexOfChar).
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:UseAVX=0",
                "--enable-native-access=ALL-UNNAMED",
                "-Dagent.jar=" + System.getProperty("agent.jar"),
                "-Dvmm.standin=" + standin,
                "-Dguest.work=" + WORK,
                "-cp",
                System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                GuestTestRunner.class.getName(),
                results.toString()));
        long start = System.nanoTime();
        int exit = run(command, WORK.resolve("console.log"));
        System.out.printf(
                "numa-guest: the guest part took %.0f s (exit %d); console in %s%n",
                (System.nanoTime() - start) / 1e9, exit, WORK.resolve("console.log"));
        if (!Files.exists(results) || Files.size(results) == 0) {
            throw new AssertionFailedError("the guest produced no test results (exit " + exit + "):\n"
                    + tail(WORK.resolve("console.log")) + agentLogs());
        }
        List<DynamicTest> tests = new ArrayList<>();
        for (String line : Files.readAllLines(results)) {
            JsonNode result = JSON.readTree(line);
            String name = result.path("name").asText();
            String status = result.path("status").asText();
            String message = result.path("message").asText();
            tests.add(DynamicTest.dynamicTest(name, () -> {
                switch (status) {
                    case "SUCCESSFUL" -> {}
                    case "SKIPPED", "ABORTED" -> throw new TestAbortedException("in the guest: " + message);
                    default -> throw new AssertionFailedError("failed in the guest:\n" + message + agentLogs());
                }
            }));
        }
        assertThat(tests).as("tests reported by the guest").isNotEmpty();
        return tests.stream();
    }

    private static String agentLogs() throws IOException {
        StringBuilder logs = new StringBuilder();
        for (String name : List.of("agent.log", "agent-no-sys-nice.log")) {
            Path log = WORK.resolve(name);
            if (Files.exists(log)) {
                logs.append("\n--- ").append(name).append(" (last lines) ---\n").append(tail(log));
            }
        }
        return logs.toString();
    }

    private static String tail(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    }

    /** Runs a command, copying its output to this test's output and to {@code log}; returns its exit status. */
    private static int run(List<String> command, Path log) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try (BufferedReader output =
                        new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                PrintWriter copy = new PrintWriter(Files.newBufferedWriter(log))) {
            String line;
            while ((line = output.readLine()) != null) {
                System.out.println(line);
                copy.println(line);
            }
        }
        return process.waitFor();
    }
}
