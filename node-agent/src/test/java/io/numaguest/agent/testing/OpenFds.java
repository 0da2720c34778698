package io.numaguest.agent.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Finds the fd number of something the test JVM opened, via /proc/self/fd (the JDK hides it). */
public final class OpenFds {
    private OpenFds() {}

    public static int fdOf(Path path) throws IOException {
        return newestMatching(path.toAbsolutePath().toString());
    }

    public static long count() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    /** The highest fd whose link starts with {@code prefix}: the one opened last. */
    public static int newestMatching(String prefix) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                        try {
                            return Files.readSymbolicLink(fd).toString().startsWith(prefix);
                        } catch (IOException e) {
                            return false;
                        }
                    })
                    .mapToInt(fd -> Integer.parseInt(fd.getFileName().toString()))
                    .max()
                    .orElseThrow(() -> new IOException("no open fd for " + prefix));
        }
    }
}
