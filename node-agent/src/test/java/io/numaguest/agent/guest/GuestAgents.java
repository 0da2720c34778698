package io.numaguest.agent.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * The packaged agent as a process of its own, once per guest boot and shared by every test class
 * (the JVM takes tens of seconds to start under emulation): one with the capabilities root has, and
 * one without CAP_SYS_NICE, which moves only pages no other process maps. Both read one policy file
 * that holds the VMs of every test; each test uses VMs of its own.
 */
public final class GuestAgents implements ParameterResolver {
    /** An agent running in the guest: its socket and its log. */
    public record Agent(Path socket, Path log, Process process) {
        String logText() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "(no log: " + e.getMessage() + ")";
            }
        }
    }

    /** The two agents, started together; closed when the whole run ends. */
    public record Pair(Agent privileged, Agent withoutSysNice) implements AutoCloseable {
        @Override
        public void close() throws InterruptedException {
            for (Agent agent : List.of(privileged, withoutSysNice)) {
                agent.process().destroy();
                agent.process().waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == Pair.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        return context.getRoot()
                .getStore(ExtensionContext.Namespace.GLOBAL)
                .computeIfAbsent(Pair.class, key -> start(), Pair.class);
    }

    private static Pair start() {
        try {
            // Sockets cannot live on the 9p share; the logs go there, for the host to show.
            Path run = Files.createDirectories(Path.of("/run/numaguest-guest-tests"));
            Path logs = Files.createDirectories(Path.of(System.getProperty("guest.work")));
            Path policy = Files.writeString(run.resolve("policy.yaml"), "vms:\n" + GuestVms.policyFileEntries());
            Agent privileged = launch(run, logs, "agent", policy, List.of());
            // setpriv drops CAP_SYS_NICE from the bounding set, so root's exec of the JVM lacks it.
            Agent unprivileged =
                    launch(run, logs, "agent-no-sys-nice", policy, List.of("setpriv", "--bounding-set", "-sys_nice"));
            for (Agent agent : List.of(privileged, unprivileged)) {
                long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
                while (!Files.exists(agent.socket()) && agent.process().isAlive() && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                }
                if (!Files.exists(agent.socket())) {
                    throw new IllegalStateException("the agent did not start listening: " + agent.logText());
                }
            }
            return new Pair(privileged, unprivileged);
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the agents", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Agent launch(Path run, Path logs, String name, Path policy, List<String> wrapper)
            throws IOException {
        Path socket = run.resolve(name + ".sock");
        Path log = logs.resolve(name + ".log");
        List<String> command = new ArrayList<>(wrapper);
        command.addAll(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:UseAVX=0",
                "-Xmx64m",
                "-jar",
                System.getProperty("agent.jar"),
                "--socket",
                socket.toString(),
                "--policy-file",
                policy.toString(),
                "--metrics-port",
                "0",
                "--node-name",
                "numa-guest",
                "--log-level",
                "FINE"));
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        return new Agent(socket, log, process);
    }
}
