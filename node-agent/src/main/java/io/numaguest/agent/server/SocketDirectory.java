package io.numaguest.agent.server;

import io.numaguest.agent.nativeaccess.Credentials;
import io.numaguest.agent.nativeaccess.KernelFiles;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.OptionalInt;
import java.util.logging.Logger;

/**
 * The socket's directory must be writable by nobody but the agent's user and root: whoever can
 * write there can replace the socket with their own and serve the VMMs in the agent's place (read
 * their guest RAM, answer "verified"). Owner and mode are those of the directory the path leads to.
 */
final class SocketDirectory {
    private static final Logger LOG = Logger.getLogger(SocketDirectory.class.getName());
    private static final int GROUP_OR_OTHERS_WRITE = 0022;

    private SocketDirectory() {}

    /** Creates the directory 0750 (of the socket's group, if given) when absent; refuses one others may write. */
    static void prepare(Path directory, OptionalInt group) throws IOException {
        Files.createDirectories(directory.getParent());
        try {
            Files.createDirectory(
                    directory, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-x---")));
            if (group.isPresent()) {
                KernelFiles.changeGroupNoFollow(
                        directory, group.getAsInt()); // VMMs of that group must reach the socket
            }
            LOG.info(() -> "created socket directory " + directory);
        } catch (FileAlreadyExistsException exists) {
            // Judged below, whoever made it.
        }
        if (!Files.isDirectory(directory)) {
            throw new IOException("socket directory " + directory + " is not a directory: choose another --socket");
        }
        Map<String, Object> attributes = Files.readAttributes(directory, "unix:uid,mode");
        int owner = (Integer) attributes.get("uid");
        int mode = (Integer) attributes.get("mode") & 07777;
        int agentUid = Credentials.effectiveUid();
        if (owner != agentUid && owner != 0) {
            throw new IOException(
                    "socket directory " + directory + " is owned by uid " + owner + ", neither the agent's user (uid "
                            + agentUid
                            + ") nor root: its owner could replace the agent's socket; remove the directory or choose another --socket");
        }
        if ((mode & GROUP_OR_OTHERS_WRITE) != 0) {
            throw new IOException("socket directory " + directory + " has mode 0" + Integer.toOctalString(mode)
                    + ": users other than "
                    + "its owner may write in it (sticky bit or not, they can put their own socket in the agent's place); "
                    + "chmod go-w it or choose another --socket");
        }
    }
}
