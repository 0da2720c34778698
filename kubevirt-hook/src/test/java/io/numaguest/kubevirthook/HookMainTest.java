package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where the hook container puts the library and its socket, and how it installs the library. */
class HookMainTest {
    @TempDir
    Path dir;

    @Test
    void thePluginHookServesWhereKubevirtAcceptsPluginSocketsAndTheSidecarWhereVirtLauncherDials() {
        HookMain.Layout plugin = HookMain.Layout.of("plugin");
        // KubeVirt refuses a sidecar socket outside /var/run/kubevirt-plugin/<plugin name>/.
        assertThat(plugin.hookSocket()).hasToString("/var/run/kubevirt-plugin/numaguest/domain.sock");
        assertThat(plugin.library()).hasToString("/var/run/kubevirt-plugin/numaguest/libnumaguest-preload.so");
        HookMain.Layout sidecar = HookMain.Layout.of("sidecar");
        assertThat(sidecar.hookSocket()).hasToString("/var/run/kubevirt-hooks/numaguest.sock");
        assertThat(sidecar.library()).hasToString("/var/run/kubevirt-hooks/numaguest/libnumaguest-preload.so");
        assertThatThrownBy(() -> HookMain.Layout.of("cel")).hasMessageContaining("give plugin or sidecar");
    }

    @Test
    void theLibraryLandsReadableAndWholeAndReplacesAnOlderCopy() throws Exception {
        Path source = Files.writeString(dir.resolve("libnumaguest-preload.so"), "new library");
        Path target = dir.resolve("shared/numaguest/libnumaguest-preload.so");
        Files.createDirectories(target.getParent());
        Files.writeString(target, "old");

        HookMain.installLibrary(source, target);

        assertThat(target).hasContent("new library");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(target)))
                .isEqualTo("r-xr-xr-x");
        try (var files = Files.list(target.getParent())) {
            assertThat(files).containsExactly(target);
        }
        assertThatThrownBy(() -> HookMain.installLibrary(dir.resolve("absent.so"), target))
                .hasMessageContaining("missing from the image");
    }
}
