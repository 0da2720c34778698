package io.numaguest.helm;

import static io.numaguest.helm.DefaultRenderingTest.container;
import static io.numaguest.helm.Manifests.texts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;

/** The agent DaemonSet: what a cluster admin checks before letting it onto production nodes. */
class AgentDaemonSetTest {

    private final JsonNode daemonSet = Chart.render().single("DaemonSet");
    private final JsonNode pod = daemonSet.path("spec").path("template").path("spec");
    private final JsonNode agent = container(daemonSet);

    @Test
    void sharesTheHostPidNamespaceToResolvePeersToPods() {
        assertThat(pod.path("hostPID").asBoolean()).isTrue();
        // ...and nothing else of the host's namespaces.
        assertThat(pod.path("hostNetwork").asBoolean(false)).isFalse();
        assertThat(pod.path("hostIPC").asBoolean(false)).isFalse();
    }

    @Test
    void socketLivesInTheHostDirectoryTheVmmPodsMount() {
        assertSocketDir(pod, agent, "/run/numaguest");
    }

    @Test
    void socketDirectoryFollowsTheValue() {
        JsonNode ds = Chart.render("agent.socketDir", "/var/run/vm-numa").single("DaemonSet");
        assertSocketDir(ds.path("spec").path("template").path("spec"), container(ds), "/var/run/vm-numa");
    }

    private static void assertSocketDir(JsonNode pod, JsonNode agent, String dir) {
        JsonNode volume = byName(pod.path("volumes"), "socket-dir");
        assertThat(volume.path("hostPath").path("path").asText()).isEqualTo(dir);
        assertThat(volume.path("hostPath").path("type").asText()).isEqualTo("DirectoryOrCreate");
        JsonNode mount = byName(agent.path("volumeMounts"), "socket-dir");
        assertThat(mount.path("mountPath").asText()).isEqualTo(dir);
        assertThat(mount.path("readOnly").asBoolean(false))
                .as("the agent creates its socket there")
                .isFalse();
        List<String> args = texts(agent.path("args"));
        assertThat(args.get(args.indexOf("--socket") + 1)).isEqualTo(dir + "/agent.sock");
    }

    @Test
    void nodeNameComesFromTheDownwardApi() {
        JsonNode env = byName(agent.path("env"), "NODE_NAME");
        assertThat(env.path("value").isMissingNode()).isTrue();
        assertThat(env.path("valueFrom").path("fieldRef").path("fieldPath").asText())
                .isEqualTo("spec.nodeName");
    }

    @Test
    void runsTheAgentInKubernetesModeWithTheFixedCommandLine() {
        List<String> commandLine = new java.util.ArrayList<>(texts(agent.path("command")));
        commandLine.addAll(texts(agent.path("args")));
        assertThat(commandLine)
                .containsExactly(
                        "java",
                        "-XX:+UseSerialGC",
                        "-Xms8m",
                        "-Xmx64m",
                        "-XX:MaxMetaspaceSize=48m",
                        "-Xss512k",
                        "-XX:TrimNativeHeapInterval=1000",
                        "--enable-native-access=ALL-UNNAMED",
                        "-jar",
                        "/opt/numaguest/numaguest-node-agent.jar",
                        "--kubernetes",
                        "--socket",
                        "/run/numaguest/agent.sock",
                        "--metrics-port",
                        "9400",
                        "--log-format",
                        "json");
        JsonNode port = byName(agent.path("ports"), "metrics");
        assertThat(port.path("containerPort").asInt()).isEqualTo(9400);
        assertThat(agent.path("livenessProbe").path("httpGet").path("path").asText())
                .isEqualTo("/healthz");
        assertThat(agent.path("readinessProbe").path("httpGet").path("path").asText())
                .isEqualTo("/readyz");
        assertThat(agent.path("readinessProbe").path("httpGet").path("port").asText())
                .isEqualTo("metrics");
    }

    @Test
    void theMetricsAddressIsPassedOnlyWhenSet() {
        JsonNode ds = Chart.render("agent.metricsAddress", "10.0.0.1").single("DaemonSet");
        List<String> args = texts(container(ds).path("args"));
        assertThat(args).containsSubsequence("--metrics-address", "10.0.0.1");
        assertThat(texts(agent.path("args"))).doesNotContain("--metrics-address");
    }

    @Test
    void dropsEveryCapabilityButSysNiceAndIsNotPrivileged() {
        JsonNode securityContext = agent.path("securityContext");
        assertThat(texts(securityContext.path("capabilities").path("drop"))).containsExactly("ALL");
        assertThat(texts(securityContext.path("capabilities").path("add"))).containsExactly("SYS_NICE");
        assertThat(securityContext.path("privileged").asBoolean(true)).isFalse();
        assertThat(securityContext.path("allowPrivilegeEscalation").asBoolean(true))
                .isFalse();
        assertThat(securityContext.path("readOnlyRootFilesystem").asBoolean(false))
                .isTrue();
        // Root, because Kubernetes grants added capabilities only to UID 0 (see values.yaml).
        assertThat(pod.path("securityContext").path("runAsUser").asInt(-1)).isZero();
    }

    @Test
    void extraCapabilitiesAreAddedNextToSysNice() {
        JsonNode ds = Chart.render("agent.extraCapabilities[0]", "SYS_PTRACE").single("DaemonSet");
        JsonNode capabilities = container(ds).path("securityContext").path("capabilities");
        assertThat(texts(capabilities.path("add"))).containsExactly("SYS_NICE", "SYS_PTRACE");
        assertThat(texts(capabilities.path("drop"))).containsExactly("ALL");
    }

    @Test
    void socketGroupLetsNonRootVmmsConnectWithoutMoreCapabilities() {
        assertThat(pod.path("securityContext").has("supplementalGroups")).isFalse();
        JsonNode ds = Chart.render("agent.socketGroup", 107).single("DaemonSet");
        List<String> args = texts(container(ds).path("args"));
        assertThat(args.get(args.indexOf("--socket-group") + 1)).isEqualTo("107");
        // The agent joins the group instead of getting CAP_CHOWN.
        assertThat(texts(ds.path("spec")
                        .path("template")
                        .path("spec")
                        .path("securityContext")
                        .path("supplementalGroups")))
                .containsExactly("107");
        assertThat(texts(container(ds)
                        .path("securityContext")
                        .path("capabilities")
                        .path("add")))
                .containsExactly("SYS_NICE");
        assertThatThrownBy(() -> Chart.render("agent.socketGroup", "qemu")).hasMessageContaining("socketGroup");
    }

    @Test
    void seccompDefaultsToUnconfinedBecauseRuntimeDefaultRefusesTheNumaSyscalls() {
        // RuntimeDefault (moby/containerd) never allows move_pages and allows mbind/get_mempolicy only
        // with CAP_SYS_NICE (older containerd: not at all); see agent.seccompProfile in values.yaml.
        JsonNode seccomp = agent.path("securityContext").path("seccompProfile");
        assertThat(seccomp.path("type").asText()).isEqualTo("Unconfined");
        assertThat(seccomp.has("localhostProfile")).isFalse();
        // One place decides: no pod-level profile that the container's would silently override.
        assertThat(pod.path("securityContext").has("seccompProfile")).isFalse();
    }

    @Test
    void localhostSeccompProfileIsRenderedWithItsPath() {
        JsonNode ds = Chart.render(Map.of(
                        "agent.seccompProfile.type", "Localhost",
                        "agent.seccompProfile.localhostProfile", "profiles/numaguest-agent.json"))
                .single("DaemonSet");
        JsonNode seccomp = container(ds).path("securityContext").path("seccompProfile");
        assertThat(seccomp.path("type").asText()).isEqualTo("Localhost");
        assertThat(seccomp.path("localhostProfile").asText()).isEqualTo("profiles/numaguest-agent.json");
        // The rest of the hardening does not depend on the profile.
        assertThat(texts(container(ds)
                        .path("securityContext")
                        .path("capabilities")
                        .path("add")))
                .containsExactly("SYS_NICE");
    }

    @Test
    void runtimeDefaultSeccompCanBeChosen() {
        JsonNode ds =
                Chart.render("agent.seccompProfile.type", "RuntimeDefault").single("DaemonSet");
        JsonNode seccomp = container(ds).path("securityContext").path("seccompProfile");
        assertThat(seccomp.path("type").asText()).isEqualTo("RuntimeDefault");
        assertThat(seccomp.has("localhostProfile")).isFalse();
    }

    @Test
    void hugepagesForHugetlbPrefaultKeepTheAgentBurstable() {
        // Without a hugepages-<size> request kubelet caps the pod's hugetlb cgroup at 0 and the agent
        // cannot prefault; requesting them must not trip the Guaranteed-QoS guard.
        JsonNode ds = Chart.render(Map.of(
                        "agent.resources.requests.hugepages-2Mi", "16Gi",
                        "agent.resources.limits.hugepages-2Mi", "16Gi"))
                .single("DaemonSet");
        JsonNode resources = container(ds).path("resources");
        assertThat(resources.path("limits").path("hugepages-2Mi").asText()).isEqualTo("16Gi");
        assertThat(resources.path("requests").path("hugepages-2Mi").asText()).isEqualTo("16Gi");
        assertThat(resources.path("limits").has("cpu")).isFalse();
        // The default requests none.
        assertThat(agent.path("resources").path("limits").has("hugepages-2Mi")).isFalse();
        assertThat(agent.path("resources").path("requests").has("hugepages-2Mi"))
                .isFalse();
    }

    @Test
    void privilegedOnlyWhenTheValueAsks() {
        JsonNode ds = Chart.render("agent.privileged", true).single("DaemonSet");
        JsonNode securityContext = container(ds).path("securityContext");
        assertThat(securityContext.path("privileged").asBoolean(false)).isTrue();
        // The API server rejects privileged: true together with allowPrivilegeEscalation: false.
        assertThat(securityContext.has("allowPrivilegeEscalation")).isFalse();
        // Privileged containers always run without seccomp: no profile that would suggest otherwise.
        assertThat(securityContext.has("seccompProfile")).isFalse();
    }

    @Test
    void staysBurstableSoItSeesEveryNumaNode() {
        JsonNode resources = agent.path("resources");
        assertThat(resources.path("limits").has("cpu")).as("a CPU limit").isFalse();
        assertThat(resources.path("requests").has("cpu")).isTrue();
        assertThat(resources.path("requests").has("memory")).isTrue();
    }

    @Test
    void refusesAGuaranteedQosConfiguration() {
        // Limits for CPU and memory without requests: requests default to the limits -> Guaranteed.
        assertThatThrownBy(() -> Chart.render(Map.of(
                        "agent.resources.requests", "null",
                        "agent.resources.limits.cpu", "1",
                        "agent.resources.limits.memory", "192Mi")))
                .hasMessageContaining("Guaranteed");
        assertThatThrownBy(() -> Chart.render(Map.of(
                        "agent.resources.requests.cpu", "500m",
                        "agent.resources.requests.memory", "192Mi",
                        "agent.resources.limits.cpu", "500m",
                        "agent.resources.limits.memory", "192Mi")))
                .hasMessageContaining("Guaranteed");
        // A CPU limit above the request keeps the pod Burstable, which is accepted.
        JsonNode ds = Chart.render(Map.of("agent.resources.limits.cpu", "1")).single("DaemonSet");
        assertThat(container(ds).path("resources").path("limits").path("cpu").asText())
                .isEqualTo("1");
    }

    @Test
    void rollsOutAFewNodesAtATime() {
        JsonNode strategy = daemonSet.path("spec").path("updateStrategy");
        assertThat(strategy.path("type").asText()).isEqualTo("RollingUpdate");
        assertThat(strategy.path("rollingUpdate").path("maxUnavailable").asInt())
                .isEqualTo(1);
        JsonNode faster =
                Chart.render("agent.updateStrategy.maxUnavailable", "10%").single("DaemonSet");
        assertThat(faster.path("spec")
                        .path("updateStrategy")
                        .path("rollingUpdate")
                        .path("maxUnavailable")
                        .asText())
                .isEqualTo("10%");
    }

    @Test
    void placementValuesReachThePodSpec() {
        JsonNode ds = Chart.render(Map.of(
                        "agent.nodeSelector.node-role\\.kubernetes\\.io/vm-host", "enabled",
                        "agent.tolerations[0].key", "dedicated",
                        "agent.tolerations[0].operator", "Exists",
                        "agent.tolerations[0].effect", "NoSchedule",
                        "agent.priorityClassName", "system-node-critical"))
                .single("DaemonSet");
        JsonNode spec = ds.path("spec").path("template").path("spec");
        assertThat(spec.path("nodeSelector")
                        .path("node-role.kubernetes.io/vm-host")
                        .asText())
                .isEqualTo("enabled");
        assertThat(spec.path("tolerations").get(0).path("key").asText()).isEqualTo("dedicated");
        assertThat(spec.path("priorityClassName").asText()).isEqualTo("system-node-critical");
    }

    @Test
    void usesTheAgentServiceAccount() {
        assertThat(pod.path("serviceAccountName").asText()).isEqualTo("numaguest-agent");
    }

    @Test
    void withoutKubevirtIntegrationTheAgentSeesNoPodDirectories() {
        assertThat(texts(agent.path("args"))).doesNotContain("--kubelet-pods-dir", "--pod-share-dir");
        assertThat(StreamSupport.stream(pod.path("volumes").spliterator(), false)
                        .map(v -> v.path("name").asText()))
                .containsExactly("socket-dir", "tmp");
        assertThat(texts(agent.path("securityContext").path("capabilities").path("add")))
                .containsExactly("SYS_NICE");
    }

    @Test
    void kubevirtIntegrationMountsTheKubeletsPodsDirectoryForThePerPodSockets() {
        for (String integration : List.of("plugin", "sidecar")) {
            JsonNode ds = Chart.render("kubevirt.integration", integration).single("DaemonSet");
            JsonNode spec = ds.path("spec").path("template").path("spec");
            JsonNode volume = byName(spec.path("volumes"), "kubelet-pods");
            assertThat(volume.path("hostPath").path("path").asText()).isEqualTo("/var/lib/kubelet/pods");
            assertThat(volume.path("hostPath").path("type").asText())
                    .as("never created by the chart")
                    .isEqualTo("Directory");
            JsonNode mount = byName(container(ds).path("volumeMounts"), "kubelet-pods");
            assertThat(mount.path("mountPath").asText())
                    .as("at the kubelet's own path")
                    .isEqualTo("/var/lib/kubelet/pods");
            assertThat(mount.path("mountPropagation").asText()).isEqualTo("HostToContainer");
            assertThat(mount.path("readOnly").asBoolean(false))
                    .as("the agent binds sockets there")
                    .isFalse();
            List<String> args = texts(container(ds).path("args"));
            assertThat(args).containsSubsequence("--kubelet-pods-dir", "/var/lib/kubelet/pods");
            // The directory the hook's NUMAGUEST_SOCKET points into (kubevirt-hook HookMain.Layout), as the kubelet
            // keeps it.
            assertThat(args.get(args.indexOf("--pod-share-dir") + 1))
                    .isEqualTo(
                            integration.equals("plugin")
                                    ? "kubevirt-plugin-sockets/numaguest"
                                    : "hook-sidecar-sockets/numaguest");
            assertThat(texts(container(ds)
                            .path("securityContext")
                            .path("capabilities")
                            .path("add")))
                    .as("the shared directory belongs to QEMU's user")
                    .containsExactly("SYS_NICE", "DAC_OVERRIDE");
        }
    }

    @Test
    void theKubeletRootDirectoryFollowsTheValue() {
        JsonNode ds = Chart.render(
                        Map.of("kubevirt.integration", "plugin", "kubevirt.kubeletRootDir", "/data/kubelet/"))
                .single("DaemonSet");
        assertThat(byName(ds.path("spec").path("template").path("spec").path("volumes"), "kubelet-pods")
                        .path("hostPath")
                        .path("path")
                        .asText())
                .isEqualTo("/data/kubelet/pods");
        assertThat(texts(container(ds).path("args"))).containsSubsequence("--kubelet-pods-dir", "/data/kubelet/pods");
        assertThatThrownBy(() -> Chart.render(
                        Map.of("kubevirt.integration", "plugin", "kubevirt.kubeletRootDir", "var/lib/kubelet")))
                .hasMessageContaining("kubeletRootDir");
    }

    static JsonNode byName(JsonNode array, String name) {
        return StreamSupport.stream(array.spliterator(), false)
                .filter(n -> name.equals(n.path("name").asText()))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no entry named " + name + " in " + array));
    }
}
