package io.numaguest.agent.guest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the C VMM stand-in (node-agent/src/test/c/vmm-standin.c) with a sequence of steps and returns
 * what it reported: the agent's responses and the kernel's own account, seen from the VMM's side.
 */
final class VmmStandin {
    private static final ObjectMapper JSON = new ObjectMapper();

    private VmmStandin() {}

    /** What one run reported, step by step; {@code failed} when a step's system call failed. */
    record Run(List<JsonNode> steps, boolean failed, String output) {
        /** The {@code index}-th step called {@code name} (0-based). */
        JsonNode step(String name, int index) {
            int seen = 0;
            for (JsonNode step : steps) {
                if (step.path("step").asText().equals(name) && seen++ == index) {
                    return step;
                }
            }
            throw new AssertionError("the stand-in reported no step " + name + " #" + index + ": " + output);
        }

        JsonNode step(String name) {
            return step(name, 0);
        }

        /** The agent's response to the {@code index}-th apply. */
        JsonNode apply(int index) {
            return step("apply", index).path("response");
        }

        /** The first region of that response. */
        JsonNode appliedRegion(int index) {
            return apply(index).path("regions").path(0);
        }

        /** Pages of the stand-in's own mapping on {@code node}, from its {@code index}-th census. */
        long pagesOn(int node, int index) {
            return step("census", index)
                    .path("pagesByNode")
                    .path(String.valueOf(node))
                    .asLong(0);
        }

        long pages(int index) {
            return step("census", index).path("pages").asLong();
        }
    }

    static Run run(Path socket, String... steps) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(System.getProperty("vmm.standin"), "-s", socket.toString()));
        command.addAll(List.of(steps));
        Process process = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(2, TimeUnit.MINUTES)) {
            process.destroyForcibly();
            throw new AssertionError("the stand-in did not finish within 2 minutes: " + String.join(" ", command));
        }
        if (process.exitValue() == 2) {
            throw new IllegalArgumentException("bad stand-in steps " + List.of(steps));
        }
        List<JsonNode> reported = new ArrayList<>();
        JSON.readTree(output).path("steps").forEach(reported::add);
        boolean failed = process.exitValue() != 0;
        return new Run(List.copyOf(reported), failed, output);
    }

    /** Like {@link #run}, but any failed step fails the test with the stand-in's report. */
    static Run runOrFail(Path socket, String... steps) throws IOException, InterruptedException {
        Run run = run(socket, steps);
        if (run.failed()) {
            throw new AssertionError("a stand-in step failed: " + run.output());
        }
        return run;
    }
}
