package io.numaguest.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** ServiceMonitors and the NodeResourceTopology CRD: rendered only when asked or when they fit. */
class OptionalObjectsTest {

    private static final String NRT_CRD = "noderesourcetopologies.topology.node.k8s.io";

    @Test
    void serviceMonitorsOnlyWhenEnabled() {
        // auto without the Prometheus Operator's API (offline rendering has none): nothing.
        assertThat(Chart.render().ofKind("ServiceMonitor")).isEmpty();
        assertThat(Chart.render("metrics.serviceMonitor.enabled", "never").ofKind("ServiceMonitor"))
                .isEmpty();

        Manifests monitored = Chart.render(Map.of(
                "metrics.serviceMonitor.enabled", "always",
                "metrics.serviceMonitor.labels.release", "kube-prometheus-stack"));
        assertThat(monitored.names("ServiceMonitor"))
                .containsExactlyInAnyOrder("numaguest-operator", "numaguest-agent");
        for (JsonNode monitor : monitored.ofKind("ServiceMonitor")) {
            assertThat(monitor.path("apiVersion").asText()).isEqualTo("monitoring.coreos.com/v1");
            assertThat(monitor.path("metadata").path("labels").path("release").asText())
                    .isEqualTo("kube-prometheus-stack");
            assertThat(monitor.path("spec")
                            .path("endpoints")
                            .get(0)
                            .path("port")
                            .asText())
                    .isEqualTo("metrics");
            // Each monitor selects exactly the Service of its component.
            String component = monitor.path("metadata")
                    .path("labels")
                    .path("app.kubernetes.io/component")
                    .asText();
            JsonNode service = monitored.named("Service", "numaguest-" + component + "-metrics");
            monitor.path("spec")
                    .path("selector")
                    .path("matchLabels")
                    .properties()
                    .forEach(e -> assertThat(service.path("metadata")
                                    .path("labels")
                                    .path(e.getKey())
                                    .asText())
                            .as(
                                    "%s selects %s",
                                    monitor.path("metadata").path("name").asText(), e.getKey())
                            .isEqualTo(e.getValue().asText()));
        }
    }

    @Test
    void grafanaDashboardForTheSidecarByDefault() throws Exception {
        JsonNode dashboard = Chart.render().named("ConfigMap", "numaguest-dashboard");
        assertThat(dashboard
                        .path("metadata")
                        .path("labels")
                        .path("grafana_dashboard")
                        .asText())
                .isEqualTo("1");
        JsonNode json = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(dashboard.path("data").path("numaguest.json").asText());
        assertThat(json.path("uid").asText()).isEqualTo("numaguest");
        String queries = json.path("panels").findValuesAsText("expr").toString();
        assertThat(queries)
                .contains(
                        "numaguest_operator_ngms",
                        "numaguest_agent_requests_total",
                        "numaguest_agent_apply_duration_seconds_bucket");

        assertThat(Chart.render("grafana.dashboard.enabled", false).names("ConfigMap"))
                .doesNotContain("numaguest-dashboard");
    }

    @Test
    void prometheusRuleOnlyWhenEnabled() {
        assertThat(Chart.render().ofKind("PrometheusRule")).isEmpty();

        JsonNode rule = Chart.render(Map.of(
                        "metrics.prometheusRule.enabled",
                        true,
                        "metrics.prometheusRule.notReadyFor",
                        "30m",
                        "metrics.prometheusRule.labels.release",
                        "kube-prometheus-stack"))
                .named("PrometheusRule", "numaguest");
        assertThat(rule.path("metadata").path("labels").path("release").asText())
                .isEqualTo("kube-prometheus-stack");
        JsonNode rules = rule.path("spec").path("groups").get(0).path("rules");
        assertThat(rules.findValuesAsText("alert"))
                .containsExactly("NumaGuestMemoryNotReady", "NumaGuestAgentApplyFailures");
        assertThat(rules.get(0).path("for").asText()).isEqualTo("30m");
        assertThat(rules.get(0).path("expr").asText()).contains("numaguest_operator_ngms{ready=\"false\"}");
        assertThat(rules.get(1).path("expr").asText())
                .contains("numaguest_agent_requests_total{op=\"apply\", result!=\"ok\"}");
    }

    @Test
    void noServiceMonitorForADisabledService() {
        Manifests manifests =
                Chart.render(Map.of("metrics.serviceMonitor.enabled", "always", "agent.metricsService.enabled", false));
        assertThat(manifests.names("ServiceMonitor")).containsExactly("numaguest-operator");
        assertThat(manifests.names("Service")).containsExactly("numaguest-operator-metrics");
    }

    @Test
    void nodeResourceTopologyCrdIsAFaithfulTopologyNodeK8sIoCrd() {
        JsonNode crd = Chart.render().named("CustomResourceDefinition", NRT_CRD);
        JsonNode spec = crd.path("spec");
        assertThat(spec.path("group").asText()).isEqualTo("topology.node.k8s.io");
        assertThat(spec.path("scope").asText()).isEqualTo("Cluster");
        assertThat(spec.path("names").path("kind").asText()).isEqualTo("NodeResourceTopology");
        assertThat(spec.path("names").path("plural").asText()).isEqualTo("noderesourcetopologies");
        assertThat(crd.path("metadata")
                        .path("annotations")
                        .path("api-approved.kubernetes.io")
                        .asText())
                .isEqualTo("https://github.com/kubernetes/enhancements/pull/1870");

        JsonNode v1alpha2 = null;
        int storageVersions = 0;
        for (JsonNode version : spec.path("versions")) {
            storageVersions += version.path("storage").asBoolean() ? 1 : 0;
            if (version.path("name").asText().equals("v1alpha2")) {
                v1alpha2 = version;
            }
        }
        assertThat(storageVersions).isEqualTo(1);
        assertThat(v1alpha2).isNotNull();
        assertThat(v1alpha2.path("served").asBoolean()).isTrue();
        assertThat(v1alpha2.path("storage").asBoolean()).isTrue();
        JsonNode schema = v1alpha2.path("schema").path("openAPIV3Schema");
        assertThat(Manifests.texts(schema.path("required"))).containsExactly("zones");
        JsonNode zone = schema.path("properties").path("zones").path("items");
        assertThat(Manifests.texts(zone.path("required"))).containsExactly("name", "type");
        JsonNode resource = zone.path("properties").path("resources").path("items");
        assertThat(Manifests.texts(resource.path("required")))
                .containsExactly("allocatable", "available", "capacity", "name");
        assertThat(resource.path("properties")
                        .path("capacity")
                        .path("x-kubernetes-int-or-string")
                        .asBoolean())
                .isTrue();
        JsonNode cost = zone.path("properties").path("costs").path("items");
        assertThat(cost.path("properties").path("value").path("type").asText()).isEqualTo("integer");
        assertThat(schema.path("properties").has("attributes")).isTrue();
    }

    @Test
    void nodeResourceTopologyCrdSurvivesUninstall() {
        JsonNode crd = Chart.render().named("CustomResourceDefinition", NRT_CRD);
        // Deleting it would delete every NRT object, which other tools (scheduler plugins) may use.
        assertThat(crd.path("metadata")
                        .path("annotations")
                        .path("helm.sh/resource-policy")
                        .asText())
                .isEqualTo("keep");
    }

    @Test
    void nodeResourceTopologyCrdFollowsTheValue() {
        assertThat(Chart.render("nodeResourceTopology.installCRD", "always").names("CustomResourceDefinition"))
                .containsExactly(NRT_CRD);
        assertThat(Chart.render("nodeResourceTopology.installCRD", "never").ofKind("CustomResourceDefinition"))
                .isEmpty();
    }
}
