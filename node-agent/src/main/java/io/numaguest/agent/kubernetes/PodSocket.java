package io.numaguest.agent.kubernetes;

import io.numaguest.agent.nativeaccess.Errno;
import io.numaguest.agent.nativeaccess.FileStat;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.SeqPacketSocket;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * One virt-launcher pod's socket to the agent, {@code agent.sock} in the emptyDir the pod shares
 * between its hook container and {@code compute}, as the kubelet keeps it on the host:
 * {@code <pods dir>/<pod uid>/volumes/kubernetes.io~empty-dir/<share dir>/agent.sock}.
 *
 * <p>The pod writes in that directory (and in the volume above it), so it could put a link where
 * the agent expects a directory, or swap one in at any moment. The agent therefore never uses
 * the path: it walks to the directory one component at a time with O_DIRECTORY|O_NOFOLLOW, holds
 * the directory's descriptor, and binds, checks and unlinks through {@code /proc/self/fd/<fd>/}
 * (the kernel resolves that to the held directory, whatever its names are now). The file's mode
 * is set by the bind itself, never by a chmod through a name. Whatever the pod does to its own
 * directory afterwards can then only break its own VM's socket, never reach a file outside it.
 */
final class PodSocket implements AutoCloseable {
    static final String SOCKET_NAME = "agent.sock";
    /** QEMU runs as its own user (107 in KubeVirt): who reaches this directory may connect; the peer check decides. */
    static final int SOCKET_MODE = 0666;

    private static final int BACKLOG = 16;
    private static final String EMPTY_DIRS = "volumes/kubernetes.io~empty-dir";
    /** Only a UID as kubelet writes it may become a path component: never "..", never a slash. */
    private static final Pattern POD_UID =
            Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    private final String podUid;
    private final Path shownAs;
    private final int directoryFd;
    private final SeqPacketSocket listener;
    private final long device;
    private final long inode;

    private PodSocket(String podUid, Path shownAs, int directoryFd, SeqPacketSocket listener, long device, long inode) {
        this.podUid = podUid;
        this.shownAs = shownAs;
        this.directoryFd = directoryFd;
        this.listener = listener;
        this.device = device;
        this.inode = inode;
    }

    /** What became of a try to bind a pod's socket. */
    sealed interface Outcome {
        /** Bound: serve it. */
        record Bound(PodSocket socket) implements Outcome {}

        /** None of the share directories exists (yet): the hook has not started; try again later. */
        record Absent() implements Outcome {}

        /** The directory is there but unusable (a link, not a directory, bind refused): said why, try again later. */
        record Refused(String why) implements Outcome {}
    }

    /**
     * Binds {@code agent.sock} in the first of {@code shareDirs} (paths relative to the pod's
     * emptyDir volumes, e.g. {@code kubevirt-plugin-sockets/numaguest}) that exists for pod
     * {@code podUid}. A socket file left there by an earlier agent is replaced.
     */
    static Outcome bind(Path podsDir, String podUid, List<String> shareDirs) {
        if (!POD_UID.matcher(podUid).matches()) {
            return new Outcome.Refused("pod UID " + podUid + " is not a UID as kubelet writes it");
        }
        for (String shareDir : shareDirs) {
            Path shownAs = podsDir.resolve(podUid).resolve(EMPTY_DIRS).resolve(shareDir);
            int fd;
            try {
                fd = openDirectory(podsDir, podUid + "/" + EMPTY_DIRS + "/" + shareDir);
            } catch (NativeException e) {
                if (e.errno() == Errno.ENOENT) {
                    continue;
                }
                return new Outcome.Refused("cannot open " + shownAs + " without following links: " + e.getMessage()
                        + (e.errno() == Errno.ELOOP || e.errno() == Errno.ENOTDIR
                                ? " (a component is a link or not a directory:" + " something in the pod replaced it)"
                                : ""));
            }
            try {
                return new Outcome.Bound(bindIn(podUid, shownAs, fd));
            } catch (IOException | RuntimeException e) {
                KernelFiles.close(fd);
                return new Outcome.Refused("cannot bind " + shownAs.resolve(SOCKET_NAME) + ": " + e.getMessage());
            }
        }
        return new Outcome.Absent();
    }

    /** The pods directory itself is the agent's own mount; every component below it is walked without following links. */
    private static int openDirectory(Path podsDir, String relative) throws NativeException {
        List<String> components = new ArrayList<>(List.of(relative.split("/")));
        components.removeIf(String::isEmpty);
        if (components.contains("..") || components.contains(".")) {
            throw new IllegalArgumentException("share directory " + relative + " must not contain . or ..");
        }
        int fd = KernelFiles.openDirectoryNoFollow(-1, podsDir.toAbsolutePath().toString());
        for (String component : components) {
            int next;
            try {
                next = KernelFiles.openDirectoryNoFollow(fd, component);
            } finally {
                KernelFiles.close(fd);
            }
            fd = next;
        }
        return fd;
    }

    private static PodSocket bindIn(String podUid, Path shownAs, int directoryFd) throws IOException {
        Path socket = inHeldDirectory(directoryFd);
        // A name in the pod's own directory: unlink removes a link itself, never its target.
        Files.deleteIfExists(socket);
        SeqPacketSocket listener;
        try {
            listener = SeqPacketSocket.listen(socket, BACKLOG, SOCKET_MODE);
        } catch (NativeException e) {
            throw new IOException(e.getMessage(), e);
        }
        try {
            Map<String, Object> attributes =
                    Files.readAttributes(socket, "unix:mode,dev,ino", LinkOption.NOFOLLOW_LINKS);
            int mode = (Integer) attributes.get("mode");
            if (!FileStat.isSocket(mode) || (mode & 07777) != SOCKET_MODE) {
                throw new IOException("it was replaced right after the bind (now a " + FileStat.typeName(mode) + ")");
            }
            return new PodSocket(
                    podUid, shownAs.resolve(SOCKET_NAME), directoryFd, listener, (Long) attributes.get("dev"), (Long)
                            attributes.get("ino"));
        } catch (IOException | RuntimeException e) {
            listener.close();
            throw e;
        }
    }

    private static Path inHeldDirectory(int directoryFd) {
        return Path.of("/proc/self/fd/" + directoryFd, SOCKET_NAME);
    }

    String podUid() {
        return podUid;
    }

    /** The socket as the host names it, for log lines. */
    Path shownAs() {
        return shownAs;
    }

    SeqPacketSocket listener() {
        return listener;
    }

    /** Whether agent.sock in the held directory is still the socket this bound (the pod may have removed or replaced it). */
    boolean stillInPlace() {
        return sameFile().orElse(false);
    }

    private Optional<Boolean> sameFile() {
        try {
            Map<String, Object> attributes =
                    Files.readAttributes(inHeldDirectory(directoryFd), "unix:dev,ino", LinkOption.NOFOLLOW_LINKS);
            return Optional.of((Long) attributes.get("dev") == device && (Long) attributes.get("ino") == inode);
        } catch (NoSuchFileException gone) {
            return Optional.empty();
        } catch (IOException e) {
            return Optional.of(false);
        }
    }

    /** Closes the listener and removes the socket file if it is still the one bound; the caller stopped serving it. */
    @Override
    public void close() {
        listener.close();
        try {
            if (sameFile().orElse(false)) {
                Files.delete(inHeldDirectory(directoryFd));
            }
        } catch (IOException e) {
            // The pod's directory: whatever is left there is the pod's to clean up, and goes with the pod.
        } finally {
            KernelFiles.close(directoryFd);
        }
    }
}
