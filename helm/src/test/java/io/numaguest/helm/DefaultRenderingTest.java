package io.numaguest.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What `helm template` renders with the chart's defaults: every object an install needs. */
class DefaultRenderingTest {

    private final Manifests manifests = Chart.render();

    @Test
    void rendersEveryExpectedObject() {
        assertThat(manifests.names("Deployment")).containsExactly("numaguest-operator");
        assertThat(manifests.names("DaemonSet")).containsExactly("numaguest-agent");
        assertThat(manifests.names("ServiceAccount"))
                .containsExactlyInAnyOrder("numaguest-operator", "numaguest-agent");
        assertThat(manifests.names("ClusterRole")).containsExactlyInAnyOrder("numaguest-operator", "numaguest-agent");
        assertThat(manifests.names("ClusterRoleBinding"))
                .containsExactlyInAnyOrder("numaguest-operator", "numaguest-agent");
        assertThat(manifests.names("Role")).containsExactly("numaguest-operator-leader-election");
        assertThat(manifests.names("RoleBinding")).containsExactly("numaguest-operator-leader-election");
        assertThat(manifests.names("Service"))
                .containsExactlyInAnyOrder("numaguest-operator-metrics", "numaguest-agent-metrics");
        assertThat(manifests.names("PodDisruptionBudget")).containsExactly("numaguest-operator");
        assertThat(manifests.names("ValidatingAdmissionPolicy")).containsExactly("numaguest-agent-node-restriction");
        assertThat(manifests.names("ValidatingAdmissionPolicyBinding"))
                .containsExactly("numaguest-agent-node-restriction");
        // Offline there is no NRT API, so installCRD=auto renders the CRD.
        assertThat(manifests.names("CustomResourceDefinition"))
                .containsExactly("noderesourcetopologies.topology.node.k8s.io");
        // No Prometheus Operator API offline, so enabled=auto renders no ServiceMonitor.
        assertThat(manifests.ofKind("ServiceMonitor")).isEmpty();
    }

    @Test
    void everyObjectCarriesTheStandardLabels() {
        for (JsonNode object : manifests.objects()) {
            JsonNode labels = object.path("metadata").path("labels");
            String what = object.path("kind").asText() + "/"
                    + object.path("metadata").path("name").asText();
            assertThat(labels.path("app.kubernetes.io/name").asText()).as(what).isEqualTo("numaguest");
            assertThat(labels.path("app.kubernetes.io/instance").asText())
                    .as(what)
                    .isEqualTo(Chart.RELEASE);
            assertThat(labels.path("app.kubernetes.io/version").asText())
                    .as(what)
                    .isEqualTo("0.1.0");
            assertThat(labels.path("app.kubernetes.io/managed-by").asText())
                    .as(what)
                    .isEqualTo("Helm");
            assertThat(labels.path("app.kubernetes.io/part-of").asText())
                    .as(what)
                    .isEqualTo("numaguest");
            assertThat(labels.path("helm.sh/chart").asText()).as(what).isEqualTo("numaguest-0.1.0");
        }
    }

    @Test
    void namespacedObjectsGoToTheReleaseNamespace() {
        List<String> clusterScoped = List.of(
                "ClusterRole",
                "ClusterRoleBinding",
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding",
                "CustomResourceDefinition");
        for (JsonNode object : manifests.objects()) {
            String kind = object.path("kind").asText();
            JsonNode namespace = object.path("metadata").path("namespace");
            if (clusterScoped.contains(kind)) {
                assertThat(namespace.isMissingNode())
                        .as("%s has no namespace", kind)
                        .isTrue();
            } else {
                assertThat(namespace.asText()).as("namespace of %s", kind).isEqualTo(Chart.NAMESPACE);
            }
        }
    }

    @Test
    void servicesSelectTheirOwnPodsByThePodTemplatesLabels() {
        JsonNode operatorPodLabels = manifests
                .single("Deployment")
                .path("spec")
                .path("template")
                .path("metadata")
                .path("labels");
        JsonNode agentPodLabels = manifests
                .single("DaemonSet")
                .path("spec")
                .path("template")
                .path("metadata")
                .path("labels");

        JsonNode operatorSvc =
                manifests.named("Service", "numaguest-operator-metrics").path("spec");
        JsonNode agentSvc =
                manifests.named("Service", "numaguest-agent-metrics").path("spec");
        operatorSvc
                .path("selector")
                .properties()
                .forEach(e -> assertThat(operatorPodLabels.path(e.getKey()).asText())
                        .isEqualTo(e.getValue().asText()));
        agentSvc.path("selector")
                .properties()
                .forEach(e -> assertThat(agentPodLabels.path(e.getKey()).asText())
                        .isEqualTo(e.getValue().asText()));
        // The selectors must tell the two workloads apart.
        assertThat(operatorSvc.path("selector")).isNotEqualTo(agentSvc.path("selector"));
        // Headless for the agents: Prometheus needs every pod, not a load-balanced one.
        assertThat(agentSvc.path("clusterIP").asText()).isEqualTo("None");
        assertThat(operatorSvc.path("ports").get(0).path("port").asInt()).isEqualTo(8080);
        assertThat(agentSvc.path("ports").get(0).path("port").asInt()).isEqualTo(9400);
    }

    @Test
    void imagesDefaultToTheAppVersionAndTakeADigest() {
        assertThat(container(manifests.single("Deployment")).path("image").asText())
                .isEqualTo("ghcr.io/numaguest/operator:0.1.0");
        assertThat(container(manifests.single("DaemonSet")).path("image").asText())
                .isEqualTo("ghcr.io/numaguest/node-agent:0.1.0");

        String digest = "sha256:" + "ab".repeat(32);
        Manifests pinned = Chart.render(Map.of("agent.image.digest", digest));
        assertThat(container(pinned.single("DaemonSet")).path("image").asText())
                .isEqualTo("ghcr.io/numaguest/node-agent@" + digest);
    }

    @Test
    void refusesClustersOlderThanTheAdmissionPolicyNeeds() {
        // ValidatingAdmissionPolicy v1 and the token's node-name claim arrive in 1.30, field
        // selectors on custom resources (by which the agents select their NGMs) in 1.31.
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new com.marcnuri.helm.Helm(Chart.chartDir())
                        .template()
                        .withName(Chart.RELEASE)
                        .withKubeVersion("v1.30.9")
                        .call())
                .hasMessageContaining("kubeVersion");
        assertThat(Manifests.parse(new com.marcnuri.helm.Helm(Chart.chartDir())
                                .template()
                                .withName(Chart.RELEASE)
                                .withKubeVersion("v1.31.0")
                                .call())
                        .ofKind("DaemonSet"))
                .hasSize(1);
    }

    @Test
    void chartShipsTheSameNumaGuestMemoryCrdAsCrdsDirectory() throws java.io.IOException {
        // helm install takes the CRD from the chart's crds/, kubectl users from the repository's crds/:
        // both must install the same API.
        java.nio.file.Path chartCrds = Chart.chartDir().resolve("crds");
        java.nio.file.Path repoCrds = Chart.repoDir().resolve("crds");
        org.junit.jupiter.api.Assumptions.assumeTrue(
                java.nio.file.Files.isDirectory(chartCrds), "the chart has no crds/ yet");
        Map<String, JsonNode> inChart = crdsIn(chartCrds);
        assertThat(inChart).containsKey("numaguestmemories.numaguest.io");
        assertThat(inChart).isEqualTo(crdsIn(repoCrds));
    }

    private static Map<String, JsonNode> crdsIn(java.nio.file.Path dir) throws java.io.IOException {
        Map<String, JsonNode> crds = new java.util.TreeMap<>();
        try (var files = java.nio.file.Files.list(dir)) {
            for (var file :
                    files.filter(f -> f.toString().matches(".*\\.ya?ml$")).toList()) {
                for (JsonNode object : Chart.parseAll(Chart.read(file))) {
                    if (object.path("kind").asText().equals("CustomResourceDefinition")) {
                        crds.put(object.path("metadata").path("name").asText(), object);
                    }
                }
            }
        }
        return crds;
    }

    static JsonNode container(JsonNode workload) {
        JsonNode containers =
                workload.path("spec").path("template").path("spec").path("containers");
        assertThat(containers.size()).as("containers").isEqualTo(1);
        return containers.get(0);
    }
}
