package io.numaguest.agent.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.FileStat;
import io.numaguest.agent.nativeaccess.FsStat;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.OpenMode;
import io.numaguest.agent.testing.OpenFds;
import java.io.RandomAccessFile;
import java.nio.channels.Pipe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class GuestMemoryFileTest {
    private static final int S_IFREG = 0100000;
    private static final long GIB = 1L << 30;

    // --- pure classification: what this machine (no /dev/kvm) cannot create ---

    @Test
    void guestMemfdOnItsOwnFilesystemKeepsASharedPolicy() throws Exception {
        GuestMemoryFile file = GuestMemoryFile.classify(
                7,
                new FsStat(FsStat.GUEST_MEMFD_MAGIC, 4096),
                new FileStat(1, S_IFREG | 0600, GIB, 0),
                OpenMode.READ_WRITE,
                () -> "/[kvm-gmem]");
        assertThat(file.kind()).isEqualTo(FdKind.GUEST_MEMFD);
        assertThat(file.sharedPolicy()).isTrue();
        assertThat(file.sizeBytes()).isEqualTo(GIB);
    }

    @Test
    void guestMemfdBefore619IsAnAnonymousInodeWithoutSharedPolicy() throws Exception {
        GuestMemoryFile file = GuestMemoryFile.classify(
                7,
                new FsStat(FsStat.ANON_INODE_FS_MAGIC, 4096),
                new FileStat(1, 0600, GIB, 0),
                OpenMode.READ_WRITE,
                () -> "anon_inode:[kvm-gmem]");
        assertThat(file.kind()).isEqualTo(FdKind.GUEST_MEMFD);
        assertThat(file.sharedPolicy()).isFalse();
    }

    @Test
    void legacyGuestMemfdIsRefusedAsUnsupportedMemoryUnlessFbindIsConfigured() throws Exception {
        GuestMemoryFile file = GuestMemoryFile.classify(
                7,
                new FsStat(FsStat.ANON_INODE_FS_MAGIC, 4096),
                new FileStat(1, 0600, GIB, 0),
                OpenMode.READ_WRITE,
                () -> "anon_inode:[kvm-gmem]");
        assertThatThrownBy(() -> new RegionEnforcer(OptionalLong.empty(), false).mechanismFor(file))
                .isInstanceOfSatisfying(AgentException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED_MEMORY);
                    assertThat(e.getMessage()).contains("6.19");
                });
        assertThat(new RegionEnforcer(OptionalLong.of(999), false).mechanismFor(file))
                .isEqualTo(PolicyMechanism.FBIND);
    }

    @Test
    void otherAnonymousInodesAreNotGuestMemory() {
        assertThatThrownBy(() -> GuestMemoryFile.classify(
                        7,
                        new FsStat(FsStat.ANON_INODE_FS_MAGIC, 4096),
                        new FileStat(1, 0600, 0, 0),
                        OpenMode.READ_WRITE,
                        () -> "anon_inode:[eventfd]"))
                .isInstanceOfSatisfying(AgentException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.BAD_FD);
                    assertThat(e.getMessage()).contains("anon_inode:[eventfd]");
                });
    }

    @Test
    void hugetlbfsPageSizeComesFromTheFilesystem() throws Exception {
        GuestMemoryFile file = GuestMemoryFile.classify(
                7,
                new FsStat(FsStat.HUGETLBFS_MAGIC, 2 << 20),
                new FileStat(1, S_IFREG | 0600, GIB, 0),
                OpenMode.READ_WRITE,
                () -> "/memfd:ram (deleted)");
        assertThat(file.kind()).isEqualTo(FdKind.HUGETLBFS);
        assertThat(file.pageSizeBytes()).isEqualTo(2 << 20);
    }

    @Test
    void aRegularFileOnADiskFilesystemIsRefusedNamingTheMagic() {
        long ext4 = 0xef53;
        assertThatThrownBy(() -> GuestMemoryFile.classify(
                        7,
                        new FsStat(ext4, 4096),
                        new FileStat(1, S_IFREG | 0644, 4096, 8),
                        OpenMode.READ_WRITE,
                        () -> "/var/lib/disk.img"))
                .isInstanceOfSatisfying(AgentException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.BAD_FD);
                    assertThat(e.getMessage()).contains("0xef53");
                });
    }

    // --- real descriptors of this machine ---

    @Test
    void aMemfdIsAMemfd() throws Exception {
        int fd = KernelFiles.memfdCreate("classify", KernelFiles.MFD_CLOEXEC);
        try {
            KernelFiles.ftruncate(fd, 1 << 20);
            GuestMemoryFile file = GuestMemoryFile.inspect(fd);
            assertThat(file.kind()).isEqualTo(FdKind.MEMFD);
            assertThat(file.sizeBytes()).isEqualTo(1 << 20);
            assertThat(file.pageSizeBytes()).isEqualTo(4096);
        } finally {
            KernelFiles.close(fd);
        }
    }

    @Test
    void aFileInDevShmIsShmem() throws Exception {
        Path shm = Files.createTempFile(Path.of("/dev/shm"), "numaguest-test", ".ram");
        try (RandomAccessFile raf = new RandomAccessFile(shm.toFile(), "rw")) {
            raf.setLength(1 << 20);
            assertThat(GuestMemoryFile.inspect(OpenFds.fdOf(shm)).kind()).isEqualTo(FdKind.SHMEM);
        } finally {
            Files.delete(shm);
        }
    }

    @Test
    void aFileOnDiskADeviceAndAPipeAreRefused() throws Exception {
        Path disk = Path.of("pom.xml").toAbsolutePath();
        for (Path path : new Path[] {disk, Path.of("/dev/null")}) {
            try (RandomAccessFile raf = new RandomAccessFile(path.toFile(), "r")) {
                assertThatThrownBy(() -> GuestMemoryFile.inspect(OpenFds.fdOf(path)))
                        .isInstanceOfSatisfying(
                                AgentException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.BAD_FD));
            }
        }
        Pipe pipe = Pipe.open();
        try (Pipe.SourceChannel source = pipe.source();
                Pipe.SinkChannel sink = pipe.sink()) {
            assertThatThrownBy(() -> GuestMemoryFile.inspect(OpenFds.newestMatching("pipe:")))
                    .isInstanceOfSatisfying(
                            AgentException.class,
                            e -> assertThat(e.getMessage()).contains("pipe"));
        }
    }

    @Test
    void everyNonFileTypeIsNamedInTheRefusal() {
        int[] types = {0040000, 0020000, 0060000, 0010000, 0140000};
        String[] names = {"directory", "character device", "block device", "pipe", "socket"};
        for (int i = 0; i < types.length; i++) {
            int mode = types[i];
            assertThatThrownBy(() -> GuestMemoryFile.classify(
                            7,
                            new FsStat(FsStat.TMPFS_MAGIC, 4096),
                            new FileStat(1, mode | 0600, 0, 0),
                            OpenMode.READ_WRITE,
                            () -> "/dev/shm/x"))
                    .hasMessageContaining(names[i]);
        }
    }

    @Test
    void descriptorsThatCannotBeMappedAreRefused() {
        for (OpenMode mode : new OpenMode[] {OpenMode.PATH_ONLY, OpenMode.WRITE_ONLY}) {
            assertThatThrownBy(() -> GuestMemoryFile.classify(
                            7,
                            new FsStat(FsStat.TMPFS_MAGIC, 4096),
                            new FileStat(1, S_IFREG | 0600, GIB, 0),
                            mode,
                            () -> "/memfd:ram (deleted)"))
                    .isInstanceOfSatisfying(AgentException.class, e -> {
                        assertThat(e.code()).isEqualTo(ErrorCode.BAD_FD);
                        assertThat(e.getMessage()).contains("read-write");
                    });
        }
    }

    @Test
    void theOpenModeOfARealDescriptorIsSeen() throws Exception {
        Path shm = Files.createTempFile(Path.of("/dev/shm"), "numaguest-test", ".ram");
        try (RandomAccessFile raf = new RandomAccessFile(shm.toFile(), "r")) {
            assertThat(GuestMemoryFile.inspect(OpenFds.fdOf(shm)).openMode()).isEqualTo(OpenMode.READ_ONLY);
        } finally {
            Files.delete(shm);
        }
        int fd = KernelFiles.memfdCreate("mode", KernelFiles.MFD_CLOEXEC);
        try {
            assertThat(GuestMemoryFile.inspect(fd).openMode()).isEqualTo(OpenMode.READ_WRITE);
        } finally {
            KernelFiles.close(fd);
        }
    }
}
