package io.numaguest.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * values.schema.json: a mistake in a values file fails `helm install` with the offending path
 * instead of being ignored (a typo'd `privilegd: true` must not silently install an unprivileged agent,
 * nor a typo'd limit an unbounded one).
 */
class ValuesSchemaTest {

    @Test
    void misspeltKeyIsRejected() {
        assertThatThrownBy(() -> Chart.render("agent.privilegd", true))
                .hasMessageContaining("schema")
                .hasMessageContaining("privilegd");
        assertThatThrownBy(() -> Chart.render("operator.replica", 3)).hasMessageContaining("replica");
        assertThatThrownBy(() -> Chart.render("nodeResourceTopology.install", "always"))
                .hasMessageContaining("install");
    }

    @Test
    void wrongTypesAndValuesAreRejected() {
        assertThatThrownBy(() -> Chart.render("operator.replicas", 0)).hasMessageContaining("replicas");
        assertThatThrownBy(() -> Chart.render("agent.metricsPort", 70000)).hasMessageContaining("metricsPort");
        assertThatThrownBy(() -> Chart.render("nodeResourceTopology.installCRD", "yes"))
                .hasMessageContaining("installCRD");
        assertThatThrownBy(() -> Chart.render("metrics.serviceMonitor.enabled", "true"))
                .hasMessageContaining("serviceMonitor");
        assertThatThrownBy(() -> Chart.render("agent.socketDir", "run/numaguest"))
                .hasMessageContaining("socketDir");
        assertThatThrownBy(() -> Chart.render("agent.image.pullPolicy", "Sometimes"))
                .hasMessageContaining("pullPolicy");
    }

    @Test
    void capabilitiesCannotBeWidenedToEverything() {
        // ALL or SYS_ADMIN would be privileged mode in disguise: that is what agent.privileged is for.
        assertThatThrownBy(() -> Chart.render("agent.extraCapabilities[0]", "ALL"))
                .hasMessageContaining("extraCapabilities");
        assertThatThrownBy(() -> Chart.render("agent.extraCapabilities[0]", "SYS_ADMIN"))
                .hasMessageContaining("extraCapabilities");
        // Privilege and capabilities are set by the chart, not through the free-form securityContext.
        assertThatThrownBy(() -> Chart.render("agent.securityContext.privileged", true))
                .hasMessageContaining("privileged");
    }

    @Test
    void seccompProfileTypeMustBeKnownAndLocalhostNeedsARelativePath() {
        assertThatThrownBy(() -> Chart.render("agent.seccompProfile.type", "Strict"))
                .hasMessageContaining("seccompProfile");
        assertThatThrownBy(() -> Chart.render("agent.seccompProfile.type", "runtime/default"))
                .hasMessageContaining("seccompProfile");
        // Localhost without a profile, with an absolute or escaping path: the kubelet would refuse them.
        assertThatThrownBy(() -> Chart.render("agent.seccompProfile.type", "Localhost"))
                .hasMessageContaining("localhostProfile");
        assertThatThrownBy(() -> Chart.render(Map.of(
                        "agent.seccompProfile.type", "Localhost",
                        "agent.seccompProfile.localhostProfile", "/var/lib/kubelet/seccomp/agent.json")))
                .hasMessageContaining("localhostProfile");
        assertThatThrownBy(() -> Chart.render(Map.of(
                        "agent.seccompProfile.type", "Localhost",
                        "agent.seccompProfile.localhostProfile", "../agent.json")))
                .hasMessageContaining("localhostProfile");
        // The API server accepts localhostProfile only with type Localhost.
        assertThatThrownBy(() -> Chart.render("agent.seccompProfile.localhostProfile", "profiles/agent.json"))
                .hasMessageContaining("localhostProfile");
        assertThatThrownBy(() -> Chart.render("agent.seccompProfile.profile", "x"))
                .hasMessageContaining("profile");
        // agent.seccompProfile is the only place for it.
        assertThatThrownBy(() -> Chart.render("agent.securityContext.seccompProfile.type", "RuntimeDefault"))
                .hasMessageContaining("seccompProfile");
    }

    @Test
    void denyAndWarnCannotBeCombined() {
        // The API server refuses such a binding; the schema says so at install time.
        assertThatThrownBy(() -> Chart.render(Map.of(
                        "agent.nodeRestriction.validationActions[0]", "Deny",
                        "agent.nodeRestriction.validationActions[1]", "Warn")))
                .hasMessageContaining("validationActions");
    }

    @Test
    void validOverridesAreAccepted() {
        Manifests manifests = Chart.render(Map.of(
                "operator.replicas", 3,
                "agent.extraCapabilities[0]", "SYS_PTRACE",
                "agent.updateStrategy.maxUnavailable", "20%",
                "nodeResourceTopology.installCRD", "never",
                "commonLabels.team", "platform"));
        assertThat(manifests.single("Deployment").path("spec").path("replicas").asInt())
                .isEqualTo(3);
        assertThat(manifests
                        .single("DaemonSet")
                        .path("metadata")
                        .path("labels")
                        .path("team")
                        .asText())
                .isEqualTo("platform");
    }
}
