package io.numaguest.kubevirthook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.function.Consumer;

/**
 * The hook container's entry point: {@code plugin} (KubeVirt 1.9+ Plugin domain hook) or
 * {@code sidecar} (legacy hook sidecar, 1.7/1.8). Either way the container shares a directory with
 * virt-launcher's {@code compute} container; the hook puts the preload library there, so QEMU
 * finds it at the same path, and serves its socket in it.
 */
public final class HookMain {
    /** Where the image keeps the library (docker/kubevirt-hook.Dockerfile). */
    static final Path LIBRARY_IN_IMAGE = Path.of("/opt/numaguest/lib/libnumaguest-preload.so");

    private HookMain() {}

    /** The directory shared with compute and the hook's socket in it, per integration. */
    record Layout(Path sharedDirectory, Path hookSocket) {
        static Layout of(String mode) {
            return switch (mode) {
                // KubeVirt mounts the plugin sockets emptyDir at /var/run/kubevirt-plugin in compute; the
                // hook container gets its subPath numaguest at the same place.
                case "plugin" ->
                    new Layout(
                            Path.of("/var/run/kubevirt-plugin", PluginDomainHookServer.PLUGIN_NAME),
                            Path.of("/var/run/kubevirt-plugin", PluginDomainHookServer.PLUGIN_NAME, "domain.sock"));
                // virt-launcher dials every *.sock in /var/run/kubevirt-hooks, an emptyDir of compute and the sidecars.
                case "sidecar" ->
                    new Layout(
                            Path.of("/var/run/kubevirt-hooks", HookSidecarServer.HOOK_NAME),
                            Path.of("/var/run/kubevirt-hooks", HookSidecarServer.HOOK_NAME + ".sock"));
                default -> throw new IllegalArgumentException("unknown mode " + mode + ": give plugin or sidecar");
            };
        }

        Path library() {
            return sharedDirectory.resolve(LIBRARY_IN_IMAGE.getFileName());
        }

        /** The per-pod agent socket the design puts in the shared directory (docs/vmm-integration.md). */
        Path agentSocket() {
            return sharedDirectory.resolve("agent.sock");
        }
    }

    /** {@code plugin|sidecar [AGENT_SOCKET]}: AGENT_SOCKET as QEMU sees it, default the shared directory's agent.sock. */
    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length > 2 || !(args[0].equals("plugin") || args[0].equals("sidecar"))) {
            System.err.println("usage: plugin|sidecar [AGENT_SOCKET]");
            System.exit(2);
        }
        Layout layout = Layout.of(args[0]);
        Consumer<String> log = line -> System.err.println("numaguest hook: " + line);
        installLibrary(LIBRARY_IN_IMAGE, layout.library());
        String agentSocket = args.length == 2 ? args[1] : layout.agentSocket().toString();
        var transformation =
                new DomainTransformation(new PreloadEnvironment(layout.library().toString(), agentSocket));
        HookServer server = args[0].equals("plugin")
                ? PluginDomainHookServer.start(layout.hookSocket(), transformation, log)
                : HookSidecarServer.start(layout.hookSocket(), transformation, log);
        log.accept("serving on " + layout.hookSocket() + "; QEMU gets the library " + layout.library()
                + " and the agent socket " + agentSocket);
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "hook-shutdown"));
        server.awaitTermination();
    }

    /**
     * Copies the library into the shared directory, readable by QEMU's user; through a temporary
     * name and a rename, so QEMU never loads a half-written file.
     */
    static void installLibrary(Path source, Path target) throws IOException {
        if (!Files.isReadable(source)) {
            throw new IOException("the preload library " + source
                    + " is missing from the image: rebuild it (docker/kubevirt-hook.Dockerfile)");
        }
        Files.createDirectories(target.getParent());
        Path partial = target.resolveSibling("." + target.getFileName() + ".partial");
        Files.copy(source, partial, StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(partial, PosixFilePermissions.fromString("r-xr-xr-x"));
        Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
