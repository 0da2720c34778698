package io.numaguest.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.InstallCommand;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** NOTES.txt, shown after `helm install`: the hints a first install needs, rendered offline. */
class NotesTest {

    static String notes(Map<String, Object> sets) {
        InstallCommand install = new Helm(Chart.chartDir())
                .install()
                .withName(Chart.RELEASE)
                .withNamespace(Chart.NAMESPACE)
                .withKubeVersion(Chart.KUBE_VERSION)
                .clientOnly()
                .dryRun();
        for (Map.Entry<String, Object> set : sets.entrySet()) {
            install = install.set(set.getKey(), set.getValue());
        }
        // Wrapped lines joined, so phrases are found across line breaks.
        return ChartDocsTest.prose(install.call().getOutput());
    }

    @Test
    void withoutASocketGroupTheNotesPointKubevirtUsersToGid107() {
        String notes = notes(Map.of());
        assertThat(notes).contains("0660 root:root", "EACCES", "--set agent.socketGroup=107");
        // The default profile needs no warning.
        assertThat(notes).doesNotContain("seccomp");
    }

    @Test
    void withASocketGroupTheNotesSayWhoCanConnect() {
        String notes = notes(Map.of("agent.socketGroup", 107));
        assertThat(notes).contains("mode 0660, group 107").doesNotContain("EACCES");
    }

    @Test
    void aFilteringSeccompProfileComesWithAWarning() {
        assertThat(notes(Map.of("agent.seccompProfile.type", "RuntimeDefault")))
                .contains("agent.seccompProfile.type is RuntimeDefault", "refuses move_pages");
        assertThat(notes(Map.of(
                        "agent.seccompProfile.type", "Localhost",
                        "agent.seccompProfile.localhostProfile", "profiles/numaguest-agent.json")))
                .contains("profiles/numaguest-agent.json", "mbind, get_mempolicy and move_pages");
    }

    @Test
    void withKubevirtTheNotesSayHowQemuReachesTheAgent() {
        for (String integration : new String[] {"plugin", "sidecar"}) {
            String notes = ChartDocsTest.prose(notes(Map.of("kubevirt.integration", integration)));
            assertThat(notes)
                    .contains(
                            "agent.sock in the pod's shared directory",
                            "/var/lib/kubelet/pods",
                            "kubevirt.kubeletRootDir",
                            "NUMAGUEST_CONNECT_WAIT")
                    .doesNotContain("Not built yet");
        }
        assertThat(notes(Map.of())).doesNotContain("agent.sock in the pod's shared directory");
    }
}
