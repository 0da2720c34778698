package io.numaguest.helm;

import static io.numaguest.helm.AgentDaemonSetTest.byName;
import static io.numaguest.helm.DefaultRenderingTest.container;
import static io.numaguest.helm.Manifests.texts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OperatorDeploymentTest {

    private final Manifests manifests = Chart.render();
    private final JsonNode deployment = manifests.single("Deployment");
    private final JsonNode pod = deployment.path("spec").path("template").path("spec");
    private final JsonNode operator = container(deployment);

    @Test
    void runsTwoReplicasWithLeaderElection() {
        assertThat(deployment.path("spec").path("replicas").asInt()).isEqualTo(2);
        // Leader election is the operator's default; the chart must not switch it off.
        assertThat(texts(operator.path("args"))).noneMatch(a -> a.contains("leader-election"));
        assertThat(byName(operator.path("env"), "POD_NAMESPACE")
                        .path("valueFrom")
                        .path("fieldRef")
                        .path("fieldPath")
                        .asText())
                .isEqualTo("metadata.namespace");
    }

    @Test
    void refusesSeveralReplicasWithoutLeaderElection() {
        assertThatThrownBy(() -> Chart.render("operator.leaderElection.enabled", false))
                .hasMessageContaining("leaderElection");
    }

    @Test
    void oneReplicaWithoutLeaderElectionHasNoDisruptionBudget() {
        Manifests single = Chart.render(Map.of("operator.replicas", 1, "operator.leaderElection.enabled", false));
        assertThat(single.single("Deployment").path("spec").path("replicas").asInt())
                .isEqualTo(1);
        assertThat(texts(container(single.single("Deployment")).path("args"))).contains("--no-leader-election");
        // A PDB with minAvailable 1 over one replica would block every node drain.
        assertThat(single.ofKind("PodDisruptionBudget")).isEmpty();
    }

    @Test
    void disruptionBudgetKeepsOneReplica() {
        JsonNode pdb = manifests.single("PodDisruptionBudget").path("spec");
        assertThat(pdb.path("minAvailable").asInt()).isEqualTo(1);
        JsonNode podLabels =
                deployment.path("spec").path("template").path("metadata").path("labels");
        pdb.path("selector")
                .path("matchLabels")
                .properties()
                .forEach(e -> assertThat(podLabels.path(e.getKey()).asText())
                        .isEqualTo(e.getValue().asText()));
    }

    @Test
    void runsAsNonRootOnAReadOnlyRootFilesystem() {
        assertThat(pod.path("securityContext").path("runAsNonRoot").asBoolean(false))
                .isTrue();
        assertThat(pod.path("securityContext").path("runAsUser").asInt(0)).isNotZero();
        assertThat(pod.path("hostPID").asBoolean(false)).isFalse();
        JsonNode securityContext = operator.path("securityContext");
        assertThat(securityContext.path("readOnlyRootFilesystem").asBoolean(false))
                .isTrue();
        assertThat(securityContext.path("allowPrivilegeEscalation").asBoolean(true))
                .isFalse();
        assertThat(texts(securityContext.path("capabilities").path("drop"))).containsExactly("ALL");
        assertThat(securityContext.path("capabilities").has("add")).isFalse();
        // The JVM still needs a writable /tmp.
        assertThat(byName(operator.path("volumeMounts"), "tmp")
                        .path("mountPath")
                        .asText())
                .isEqualTo("/tmp");
        assertThat(byName(pod.path("volumes"), "tmp").has("emptyDir")).isTrue();
    }

    @Test
    void probesAndMetricsUseThePortGivenToTheOperator() {
        assertThat(texts(operator.path("command")))
                .containsExactly("java", "-jar", "/opt/numaguest/numaguest-operator.jar");
        assertThat(texts(operator.path("args"))).contains("--metrics-port=8080");
        assertThat(byName(operator.path("ports"), "metrics")
                        .path("containerPort")
                        .asInt())
                .isEqualTo(8080);
        assertThat(operator.path("livenessProbe").path("httpGet").path("path").asText())
                .isEqualTo("/healthz");
        assertThat(operator.path("readinessProbe").path("httpGet").path("path").asText())
                .isEqualTo("/readyz");

        JsonNode moved = container(Chart.render("operator.metrics.port", 9090).single("Deployment"));
        assertThat(texts(moved.path("args"))).contains("--metrics-port=9090");
        assertThat(byName(moved.path("ports"), "metrics").path("containerPort").asInt())
                .isEqualTo(9090);
    }

    @Test
    void hasResourcesAndKeepsReplicasApart() {
        assertThat(operator.path("resources").path("requests").has("memory")).isTrue();
        assertThat(operator.path("resources").path("limits").has("memory")).isTrue();
        assertThat(pod.path("affinity")
                        .path("podAntiAffinity")
                        .path("preferredDuringSchedulingIgnoredDuringExecution")
                        .size())
                .isEqualTo(1);
    }

    @Test
    void topologySpreadConstraintsAreOptional() {
        assertThat(pod.has("topologySpreadConstraints")).isFalse();
        JsonNode spread = Chart.render(Map.of(
                        "operator.topologySpreadConstraints[0].maxSkew",
                        1,
                        "operator.topologySpreadConstraints[0].topologyKey",
                        "topology.kubernetes.io/zone",
                        "operator.topologySpreadConstraints[0].whenUnsatisfiable",
                        "ScheduleAnyway",
                        "operator.topologySpreadConstraints[0].labelSelector.matchLabels.app\\.kubernetes\\.io/component",
                        "operator"))
                .single("Deployment")
                .path("spec")
                .path("template")
                .path("spec");
        assertThat(spread.path("topologySpreadConstraints")
                        .get(0)
                        .path("topologyKey")
                        .asText())
                .isEqualTo("topology.kubernetes.io/zone");
    }
}
