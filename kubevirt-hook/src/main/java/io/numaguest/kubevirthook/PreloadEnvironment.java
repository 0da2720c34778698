package io.numaguest.kubevirthook;

import java.util.Objects;

/**
 * Where QEMU, in its own file system view, finds the preload library and the agent's socket.
 */
public record PreloadEnvironment(String libraryPath, String socketPath) {
    public PreloadEnvironment {
        requireAbsolute("preload library", libraryPath);
        requireAbsolute("agent socket", socketPath);
    }

    private static void requireAbsolute(String what, String path) {
        Objects.requireNonNull(path, what);
        if (!path.startsWith("/") || path.contains(":")) {
            throw new IllegalArgumentException(what + " path " + path + " must be absolute and contain no ':'"
                    + " (LD_PRELOAD separates entries with ':')");
        }
    }
}
