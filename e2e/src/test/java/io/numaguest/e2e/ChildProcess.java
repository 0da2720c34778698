package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** A process under test, its stdout and stderr in one log file; and the product's two programs started as such. */
record ChildProcess(String name, Process process, Path logFile) {

    static ChildProcess start(String name, Path dir, List<String> command, Map<String, String> env) throws IOException {
        Path logFile = Files.createTempFile(dir, name + "-", ".log");
        var builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(logFile.toFile());
        builder.environment().putAll(env);
        return new ChildProcess(name, builder.start(), logFile);
    }

    /** The agent's jar in Kubernetes mode as node {@code node}, listening on {@code socket}; returns once it listens. */
    static ChildProcess startAgent(String name, Path dir, Path kubeconfig, String node, Path socket, String... moreArgs)
            throws IOException {
        ChildProcess started = launchAgent(name, dir, kubeconfig, node, socket, moreArgs);
        await(name + " listening")
                .atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(300))
                .failFast(name + " exited", () -> !started.isAlive())
                .until(() -> started.log().contains("listening on"));
        return started;
    }

    /** As {@link #startAgent}, returning at once, for a test of how the agent's start ends. */
    static ChildProcess launchAgent(
            String name, Path dir, Path kubeconfig, String node, Path socket, String... moreArgs) throws IOException {
        List<String> command = new ArrayList<>(List.of(
                java(),
                "-Xmx192m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-jar",
                jar("numaguest.agent.jar", "node-agent/target/numaguest-node-agent.jar"),
                "--kubernetes",
                "--socket",
                socket.toString(),
                "--metrics-port",
                "0"));
        command.addAll(List.of(moreArgs));
        return start(name, dir, command, Map.of("KUBECONFIG", kubeconfig.toString(), "NODE_NAME", node));
    }

    /**
     * The C client (clients/c/build/numaguest-ctl), the test VMM, built by make; the calling test
     * class is skipped, saying why, when it cannot be built.
     */
    static Path testVmm() throws IOException, InterruptedException {
        Path ctl = KubeApiServer.repoDir().resolve("clients/c/build/numaguest-ctl");
        var make = new ProcessBuilder(
                        "make",
                        "-s",
                        "-C",
                        KubeApiServer.repoDir().resolve("clients/c").toString())
                .redirectErrorStream(true)
                .start();
        String makeOutput = new String(make.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        Assumptions.assumeTrue(
                make.waitFor() == 0 && Files.isExecutable(ctl),
                "cannot build the C client (the test VMM) with make -C clients/c: " + makeOutput);
        return ctl;
    }

    /** The operator's jar, without leader election. */
    static ChildProcess startOperator(Path dir, Path kubeconfig) throws IOException {
        return start(
                "operator",
                dir,
                List.of(
                        java(),
                        "-Xmx256m",
                        "-XX:+UseSerialGC",
                        "-XX:TieredStopAtLevel=1",
                        "-jar",
                        jar("numaguest.operator.jar", "operator/target/numaguest-operator.jar"),
                        "--no-leader-election",
                        "--metrics-port",
                        Integer.toString(freePort())),
                Map.of("KUBECONFIG", kubeconfig.toString()));
    }

    static int freePort() throws IOException {
        try (var socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static String jar(String property, String fallback) {
        Path jar = Path.of(System.getProperty(
                property, KubeApiServer.repoDir().resolve(fallback).toString()));
        assertThat(jar).as("built jar").isRegularFile();
        return jar.toString();
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String log() {
        try {
            return Files.readString(logFile, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** SIGKILL, and wait for it: nothing of the process runs after this. */
    void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    void printLog() {
        System.out.println(
                "===== " + name + " (pid " + pid() + (isAlive() ? ", running" : ", exit " + process.exitValue())
                        + ") log " + logFile + " =====\n" + log() + "\n===== end of " + name + " log =====");
    }
}
