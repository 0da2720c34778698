package io.numaguest.agent.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class PodCgroupTest {

    /** Files under src/test/resources/cgroup/ are /proc/PID/cgroup as real nodes show them. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "v2-systemd-burstable,          4e653eee-c2a1-41d4-9272-ca28dd43363a",
        "v2-systemd-guaranteed,         7294b8c0-1d3b-454c-84c6-3b2b2fd55df8",
        "v2-cgroupfs-besteffort,        06e1793a-21c8-478b-9890-f2f87833f80f",
        "v2-private-namespace,          f266ffdb-cc47-474b-884b-4cb87f31efa5",
        "v2-cgroupfs-private-namespace, 3eda6a16-7bbc-44cd-ad3e-cd21c02e762e",
        "v2-systemd-kind-cgroup-root,   64c00cef-fc1f-4082-bb6d-0411d38ce2cc",
        "v1-systemd-docker,             720fea78-5c0c-406c-8d59-77fa8f6018e6",
        "v1-cgroupfs,                   70651f16-3d48-4d54-8ad0-12fd734fe748",
        "crio,                          1271d09d-782d-45ef-a3ad-894d88040731",
    })
    void findsThePodOfAContainerProcess(String sample, String podUid) throws Exception {
        assertThat(PodCgroup.podUid(sample(sample))).contains(podUid);
    }

    @ParameterizedTest
    @ValueSource(strings = {"host-process", "host-process-v1"})
    void aHostProcessIsInNoPod(String sample) throws Exception {
        assertThat(PodCgroup.podUid(sample(sample))).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "",
                "not a cgroup file",
                "0::/",
                "0::/init.scope",
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/podman-pause-1234.scope",
                // A "pod" segment outside kubelet's hierarchy is somebody else's naming.
                "0::/system.slice/pod4e653eee-c2a1-41d4-9272-ca28dd43363a/x",
                // Kubelet's shape, but not a UID.
                "0::/kubepods/burstable/podnot-a-uid/5781c706e45d",
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod4e653eee.slice/cri-containerd-1.scope",
                "0::/kubepods/burstable/pod4E653EEE-C2A1-41D4-9272-CA28DD43363A/5781c706e45d",
            })
    void anythingElseIsInNoPod(String content) {
        assertThat(PodCgroup.podUid(content)).isEmpty();
    }

    @Test
    void hierarchiesNamingDifferentPodsAttributeTheProcessToNone() {
        String content = """
                10:memory:/kubepods/burstable/pod4e653eee-c2a1-41d4-9272-ca28dd43363a/5781c706e45d
                4:cpuset:/kubepods/burstable/pod7294b8c0-1d3b-454c-84c6-3b2b2fd55df8/0c86383330c8
                """;
        assertThat(PodCgroup.podUid(content)).isEmpty();
    }

    @Test
    void readsTheCgroupFileOfAPid(@TempDir Path proc) throws Exception {
        Files.createDirectories(proc.resolve("4242"));
        Files.writeString(proc.resolve("4242/cgroup"), sample("v2-systemd-burstable"));

        assertThat(PodCgroup.podUidOf(proc, 4242)).contains("4e653eee-c2a1-41d4-9272-ca28dd43363a");
        assertThat(PodCgroup.podUidOf(proc, 4243)).as("an exited process").isEmpty();
    }

    @Test
    void readsTheRealProcOfThisJvm() throws IOException {
        String own = Files.readString(Path.of("/proc/self/cgroup"));
        Optional<String> uid = PodCgroup.podUidOf(
                Path.of("/proc"), (int) ProcessHandle.current().pid());
        // The build may itself run in a pod: only a process outside kubelet's hierarchy must be in none.
        if (!own.contains("kubepods")) {
            assertThat(uid).isEmpty();
        }
    }

    private static String sample(String name) throws IOException, URISyntaxException {
        return Files.readString(
                Path.of(PodCgroupTest.class.getResource("/cgroup/" + name).toURI()));
    }
}
