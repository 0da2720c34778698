package io.numaguest.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.parser.CelParserFactory;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * kubevirt.integration: the Plugin, the MutatingAdmissionPolicy that adds the hook container to
 * virt-launcher pods, and the NOTES for each mode. The shapes follow KubeVirt's Plugin API
 * (plugin.kubevirt.io/v1alpha1: spec.domainHooks[].sidecar.socketPath, failureStrategy, timeout,
 * mutatingAdmissionPolicies[].name) and virt-controller's pod (label kubevirt.io=virt-launcher,
 * emptyDir kubevirt-plugin-sockets, the VMI's annotations copied onto the pod). The policy's match
 * conditions are evaluated with CEL for Java, its mutation is parsed; the API server's type check
 * of the mutation against the Pod schema was run by hand (docs/vmm-integration.md, Tests), and
 * KubeVirt's own checks need a cluster with KubeVirt, which the tests do not have.
 */
class KubevirtIntegrationTest {
    private static final String ANNOTATION = "numaguest.io/guest-memory";
    private static final List<String> KUBEVIRT_KINDS =
            List.of("Plugin", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding");

    private final Manifests plugin = Chart.render("kubevirt.integration", "plugin");

    @Test
    void offByDefaultAndForABareYamlOff() {
        assertThat(Chart.render().kinds()).doesNotContainAnyElementsOf(KUBEVIRT_KINDS);
        assertThat(Chart.render("kubevirt.integration", false).kinds()).doesNotContainAnyElementsOf(KUBEVIRT_KINDS);
        assertThat(Chart.render("kubevirt.integration", "sidecar").kinds()).doesNotContainAnyElementsOf(KUBEVIRT_KINDS);
        assertThatThrownBy(() -> Chart.render("kubevirt.integration", "cel")).hasMessageContaining("integration");
        assertThatThrownBy(() -> Chart.render("kubevirt.hook.failureStrategy", "Retry"))
                .hasMessageContaining("failureStrategy");
    }

    @Test
    void thePluginNamesTheHooksSocketUnderItsOwnDirectoryAndTracksThePolicy() {
        JsonNode object = plugin.single("Plugin");
        assertThat(object.path("apiVersion").asText()).isEqualTo("plugin.kubevirt.io/v1alpha1");
        // KubeVirt refuses a sidecar socket outside /var/run/kubevirt-plugin/<plugin name>/; HookMain serves here.
        String name = object.path("metadata").path("name").asText();
        assertThat(name).isEqualTo("numaguest");
        JsonNode hook = object.path("spec").path("domainHooks").get(0);
        assertThat(hook.path("sidecar").path("socketPath").asText())
                .isEqualTo("/var/run/kubevirt-plugin/" + name + "/domain.sock");
        assertThat(hook.path("timeout").asText()).isEqualTo("30s");
        assertThat(object.path("spec").path("failureStrategy").asText()).isEqualTo("Fail");
        assertThat(object.path("spec").path("condition").asText())
                .isEqualTo("\"" + ANNOTATION + "\" in vmi.Annotations");
        String policy = plugin.single("MutatingAdmissionPolicy")
                .path("metadata")
                .path("name")
                .asText();
        assertThat(object.path("spec")
                        .path("mutatingAdmissionPolicies")
                        .get(0)
                        .path("name")
                        .asText())
                .isEqualTo(policy);
        assertThat(plugin.single("MutatingAdmissionPolicyBinding")
                        .path("spec")
                        .path("policyName")
                        .asText())
                .isEqualTo(policy);

        JsonNode ignoring = Chart.render(
                        "kubevirt.integration",
                        "plugin",
                        "kubevirt.hook.failureStrategy",
                        "Ignore",
                        "kubevirt.hook.timeout",
                        "1m")
                .single("Plugin")
                .path("spec");
        assertThat(ignoring.path("failureStrategy").asText()).isEqualTo("Ignore");
        assertThat(ignoring.path("domainHooks").get(0).path("timeout").asText()).isEqualTo("1m");
    }

    @Test
    void theHookJoinsOnlyVirtLauncherPodsOfAnnotatedVmis() {
        JsonNode conditions =
                plugin.single("MutatingAdmissionPolicy").path("spec").path("matchConditions");
        Map<String, Object> volume = Map.of("name", "kubevirt-plugin-sockets", "emptyDir", Map.of());
        Map<String, Object> compute = Map.of("name", "compute");
        Map<String, Object> targeted = pod(
                Map.of("kubevirt.io", "virt-launcher"), Map.of(ANNOTATION, "{}"), List.of(volume), List.of(compute));
        assertThat(matches(conditions, targeted)).isTrue();
        assertThat(matches(
                        conditions,
                        pod(Map.of("kubevirt.io", "virt-launcher"), Map.of(), List.of(volume), List.of(compute))))
                .as("a VMI no NGM targets")
                .isFalse();
        assertThat(matches(
                        conditions,
                        pod(Map.of("app", "db"), Map.of(ANNOTATION, "{}"), List.of(volume), List.of(compute))))
                .as("not a virt-launcher pod")
                .isFalse();
        assertThat(matches(
                        conditions,
                        pod(
                                Map.of("kubevirt.io", "virt-launcher"),
                                Map.of(ANNOTATION, "{}"),
                                List.of(),
                                List.of(compute))))
                .as("KubeVirt's Plugins gate off: no plugin socket volume")
                .isFalse();
        assertThat(matches(
                        conditions,
                        pod(
                                Map.of("kubevirt.io", "virt-launcher"),
                                Map.of(ANNOTATION, "{}"),
                                List.of(volume),
                                List.of(compute, Map.of("name", "numaguest-kubevirt-hook")))))
                .as("the hook already there")
                .isFalse();
    }

    @Test
    void theHookContainerMountsOnlyItsSubPathRunsAsQemuAndIsTheChartsImage() throws Exception {
        JsonNode mutation = plugin.single("MutatingAdmissionPolicy")
                .path("spec")
                .path("mutations")
                .get(0);
        assertThat(mutation.path("patchType").asText()).isEqualTo("JSONPatch");
        String expression = mutation.path("jsonPatch").path("expression").asText();
        // Parsed as the API server would before type-checking it against the Pod schema.
        CelParserFactory.standardCelParserBuilder()
                .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
                .build()
                .parse(expression)
                .getAst();
        assertThat(expression)
                .contains("image: \"ghcr.io/numaguest/kubevirt-hook:" + appVersion() + "\"", "args: [\"plugin\"]")
                // KubeVirt's own policy refuses a sidecar mounting the plugin volume without a subPath.
                .contains(
                        "name: \"kubevirt-plugin-sockets\", mountPath: \"/var/run/kubevirt-plugin/numaguest\", subPath: \"numaguest\"")
                .contains(
                        "runAsUser: 107",
                        "runAsNonRoot: true",
                        "allowPrivilegeEscalation: false",
                        "drop: [\"ALL\"]",
                        "readOnlyRootFilesystem: true")
                .contains("requests: {\"cpu\": \"10m\", \"memory\": \"96Mi\"}", "limits: {\"memory\": \"160Mi\"}");
        String pinned = Chart.render(
                        "kubevirt.integration", "plugin", "kubevirt.hook.image.digest", "sha256:" + "a".repeat(64))
                .single("MutatingAdmissionPolicy")
                .path("spec")
                .path("mutations")
                .get(0)
                .path("jsonPatch")
                .path("expression")
                .asText();
        assertThat(pinned).contains("image: \"ghcr.io/numaguest/kubevirt-hook@sha256:" + "a".repeat(64) + "\"");
    }

    @Test
    void theNotesNameTheFeatureGateAndThePerPodSocket() {
        String pluginNotes = NotesTest.notes(Map.of("kubevirt.integration", "plugin"));
        assertThat(pluginNotes)
                .contains(
                        "feature gate Plugins",
                        "MutatingAdmissionPolicy",
                        "\"featureGates\":[\"Plugins\"]",
                        "socket the agent opens for each virt-launcher pod");
        String sidecarNotes = NotesTest.notes(Map.of("kubevirt.integration", "sidecar"));
        assertThat(sidecarNotes)
                .contains(
                        "feature gate Sidecar",
                        "hooks.kubevirt.io/hookSidecars: '[{\"image\": \"ghcr.io/numaguest/kubevirt-hook:"
                                + appVersion()
                                + "\", \"imagePullPolicy\": \"IfNotPresent\", \"args\": [\"sidecar\"]}]'",
                        "socket the agent opens for each virt-launcher pod");
        assertThat(NotesTest.notes(Map.of()))
                .contains("kubevirt.integration is off")
                .doesNotContain("socket the agent opens for each virt-launcher pod");
    }

    private static String appVersion() {
        return Chart.read(Chart.chartDir().resolve("Chart.yaml"))
                .lines()
                .filter(l -> l.startsWith("appVersion:"))
                .findFirst()
                .orElseThrow()
                .replaceAll("appVersion:\\s*\"?([^\"]*)\"?", "$1")
                .strip();
    }

    private static Map<String, Object> pod(
            Map<String, String> labels,
            Map<String, String> annotations,
            List<Map<String, Object>> volumes,
            List<Map<String, Object>> containers) {
        return Map.of(
                "metadata",
                Map.of("labels", labels, "annotations", annotations),
                "spec",
                Map.of("volumes", volumes, "containers", containers));
    }

    private static final CelCompiler COMPILER = CelCompilerFactory.standardCelCompilerBuilder()
            .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
            .addVar("object", SimpleType.DYN)
            .build();
    private static final CelRuntime RUNTIME =
            CelRuntimeFactory.standardCelRuntimeBuilder().build();

    /** All match conditions true, as the API server requires before it mutates. */
    private static boolean matches(JsonNode conditions, Map<String, Object> pod) {
        assertThat(conditions.size()).isEqualTo(4);
        for (JsonNode condition : conditions) {
            String expression = condition.path("expression").asText();
            try {
                if (!Boolean.TRUE.equals(
                        RUNTIME.createProgram(COMPILER.compile(expression).getAst())
                                .eval(Map.of("object", pod)))) {
                    return false;
                }
            } catch (Exception e) {
                throw new AssertionError("CEL expression failed: " + expression, e);
            }
        }
        return true;
    }
}
