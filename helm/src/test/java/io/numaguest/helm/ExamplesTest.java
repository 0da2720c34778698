package io.numaguest.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The NumaGuestMemory examples in examples/ (not examples/standalone/, the agent's policy file):
 * checked against the committed CRD's OpenAPI schema (fields, types, enums, bounds, required), so a
 * renamed field in the API breaks this test rather than a user's first `kubectl apply`. The CEL rules
 * need a real API server (the test-environment issue); the ones that matter most are checked here too.
 */
class ExamplesTest {

    private static final Path EXAMPLES = Chart.repoDir().resolve("examples");

    @Test
    void everyExampleIsAValidNumaGuestMemory() throws IOException {
        JsonNode schema = ngmSchema().orElse(null);
        assumeTrue(schema != null, "no NumaGuestMemory CRD under crds/ yet");
        List<JsonNode> ngms = ngms();
        assertThat(ngms).hasSizeGreaterThanOrEqualTo(3);
        for (JsonNode ngm : ngms) {
            List<String> errors = new ArrayList<>();
            JsonNode withoutMeta = ngm.deepCopy();
            ((com.fasterxml.jackson.databind.node.ObjectNode) withoutMeta)
                    .remove(List.of("apiVersion", "kind", "metadata"));
            validate(withoutMeta, schema, "", errors);
            assertThat(errors).as("schema errors in %s", name(ngm)).isEmpty();
        }
    }

    @Test
    void examplesCoverTheThreeTargetsAndFollowTheApiRules() throws IOException {
        Set<String> kinds = new HashSet<>();
        for (JsonNode ngm : ngms()) {
            JsonNode spec = ngm.path("spec");
            assertThat(ngm.path("apiVersion").asText()).isEqualTo("numaguest.io/v1alpha1");
            // No namespace: the examples go wherever the VM is (kubectl apply -n).
            assertThat(ngm.path("metadata").has("namespace")).as(name(ngm)).isFalse();
            JsonNode target = spec.path("target");
            assertThat(target.size()).as("exactly one target in %s", name(ngm)).isEqualTo(1);
            Set<Long> guestNodes = new HashSet<>();
            for (JsonNode guestNode : spec.path("guestNodes")) {
                assertThat(guestNodes.add(guestNode.path("guestNode").asLong()))
                        .as("unique guestNode")
                        .isTrue();
                String policy = guestNode.path("policy").asText();
                if (guestNode.has("hostNodes")) {
                    assertThat(policy).isNotIn("Default", "Local");
                    if (policy.equals("Preferred")) {
                        assertThat(guestNode.path("hostNodes").size()).isEqualTo(1);
                    }
                    kinds.add("explicit");
                } else {
                    assertThat(guestNode.has("size"))
                            .as("automatic placement needs a size in %s", name(ngm))
                            .isTrue();
                    kinds.add("automatic");
                }
            }
            kinds.add(target.has("virtualMachineInstance") ? "vmi" : "podSelector");
        }
        assertThat(kinds).contains("explicit", "automatic", "vmi", "podSelector");
    }

    @Test
    void twoNodeVmiExampleBindsTwoGuestNodesStrictly() throws IOException {
        JsonNode spec = objects(EXAMPLES.resolve("kubevirt-vmi-two-nodes.yaml"))
                .getFirst()
                .path("spec");
        assertThat(spec.path("target")
                        .path("virtualMachineInstance")
                        .path("name")
                        .asText())
                .isNotEmpty();
        assertThat(spec.path("enforcement").asText()).isEqualTo("Strict");
        assertThat(spec.path("guestNodes").size()).isEqualTo(2);
        Set<String> hostNodes = new HashSet<>();
        for (JsonNode guestNode : spec.path("guestNodes")) {
            assertThat(guestNode.path("policy").asText()).isEqualTo("Bind");
            hostNodes.add(guestNode.path("hostNodes").toString());
        }
        assertThat(hostNodes).as("each guest node on its own host node").hasSize(2);
    }

    @Test
    void twoNodeVmiNeedsNoHugepagesAndCarriesTheNgmsGuestNodesForTheHook() throws Exception {
        List<JsonNode> objects = objects(EXAMPLES.resolve("kubevirt-vmi-two-nodes.yaml"));
        JsonNode ngm = objects.getFirst();
        JsonNode vmi = objects.stream()
                .filter(o -> o.path("kind").asText().equals("VirtualMachineInstance"))
                .findFirst()
                .orElseThrow();
        assertThat(vmi.path("apiVersion").asText()).isEqualTo("kubevirt.io/v1");
        assertThat(vmi.path("metadata").path("name").asText())
                .isEqualTo(ngm.path("spec")
                        .path("target")
                        .path("virtualMachineInstance")
                        .path("name")
                        .asText());
        JsonNode domain = vmi.path("spec").path("domain");
        // Plain KubeVirt: no hugepages, no dedicated CPUs, no NUMA passthrough; the hook adds the cells.
        assertThat(domain.path("memory").has("hugepages")).isFalse();
        assertThat(domain.path("cpu").has("dedicatedCpuPlacement")).isFalse();
        assertThat(domain.path("cpu").has("numa")).isFalse();
        assertThat(domain.path("cpu").path("cores").asInt())
                .isGreaterThanOrEqualTo(ngm.path("spec").path("guestNodes").size());

        // The annotation the hook reads (kubevirt-hook's HookedVmi) names the NGM's guest nodes and sizes.
        JsonNode annotation = Chart.YAML.readTree(vmi.path("metadata")
                .path("annotations")
                .path("numaguest.io/guest-memory")
                .asText());
        assertThat(annotation.path("enforcement").asText())
                .isEqualTo(ngm.path("spec").path("enforcement").asText());
        long total = 0;
        for (int i = 0; i < ngm.path("spec").path("guestNodes").size(); i++) {
            JsonNode guestNode = ngm.path("spec").path("guestNodes").get(i);
            JsonNode requested = annotation.path("guestNodes").get(i);
            assertThat(requested.path("guestNode").asInt())
                    .isEqualTo(guestNode.path("guestNode").asInt());
            assertThat(requested.path("size").asText())
                    .isEqualTo(guestNode.path("size").asText());
            total += gibibytes(guestNode.path("size").asText());
        }
        assertThat(annotation.path("guestNodes").size())
                .isEqualTo(ngm.path("spec").path("guestNodes").size());
        assertThat(gibibytes(domain.path("memory").path("guest").asText()))
                .as("the guest nodes fill the guest memory")
                .isEqualTo(total);
    }

    private static long gibibytes(String quantity) {
        assertThat(quantity).matches("[0-9]+Gi");
        return Long.parseLong(quantity.replace("Gi", ""));
    }

    @Test
    void podExampleSelectorMatchesItsPodWhichMountsTheAgentSocketDir() throws IOException {
        List<JsonNode> objects = objects(EXAMPLES.resolve("pod-qemu.yaml"));
        JsonNode ngm = objects.stream()
                .filter(o -> o.path("kind").asText().equals("NumaGuestMemory"))
                .findFirst()
                .orElseThrow();
        JsonNode pod = objects.stream()
                .filter(o -> o.path("kind").asText().equals("Pod"))
                .findFirst()
                .orElseThrow();
        ngm.path("spec")
                .path("target")
                .path("podSelector")
                .path("matchLabels")
                .properties()
                .forEach(e -> assertThat(pod.path("metadata")
                                .path("labels")
                                .path(e.getKey())
                                .asText())
                        .isEqualTo(e.getValue().asText()));
        String socketDir = Chart.render()
                .single("DaemonSet")
                .path("spec")
                .path("template")
                .path("spec")
                .path("volumes")
                .get(0)
                .path("hostPath")
                .path("path")
                .asText();
        assertThat(pod.path("spec")
                        .path("volumes")
                        .get(0)
                        .path("hostPath")
                        .path("path")
                        .asText())
                .isEqualTo(socketDir);
    }

    // ---- helpers ----

    private static List<JsonNode> ngms() throws IOException {
        List<JsonNode> ngms = new ArrayList<>();
        try (Stream<Path> files = Files.list(EXAMPLES)) {
            for (Path file :
                    files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                objects(file).stream()
                        .filter(o -> o.path("kind").asText().equals("NumaGuestMemory"))
                        .forEach(ngms::add);
            }
        }
        return ngms;
    }

    private static List<JsonNode> objects(Path file) {
        return Chart.parseAll(Chart.read(file));
    }

    private static String name(JsonNode object) {
        return object.path("metadata").path("name").asText();
    }

    /** The openAPIV3Schema of the served version of the committed NumaGuestMemory CRD. */
    private static Optional<JsonNode> ngmSchema() throws IOException {
        for (Path dir :
                List.of(Chart.chartDir().resolve("crds"), Chart.repoDir().resolve("crds"))) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> files = Files.list(dir)) {
                for (Path file :
                        files.filter(f -> f.toString().matches(".*\\.ya?ml$")).toList()) {
                    for (JsonNode crd : objects(file)) {
                        if (crd.path("spec").path("names").path("kind").asText().equals("NumaGuestMemory")) {
                            for (JsonNode version : crd.path("spec").path("versions")) {
                                if (version.path("name").asText().equals("v1alpha1")) {
                                    return Optional.of(version.path("schema").path("openAPIV3Schema"));
                                }
                            }
                        }
                    }
                }
            }
        }
        return Optional.empty();
    }

    /** A structural-schema check: unknown fields (which the API server would prune), types, enums, bounds. */
    static void validate(JsonNode value, JsonNode schema, String path, List<String> errors) {
        if (schema.path("x-kubernetes-int-or-string").asBoolean()) {
            if (!value.isIntegralNumber() && !value.isTextual()) {
                errors.add(path + ": int or string expected");
            }
            return;
        }
        if (schema.path("x-kubernetes-preserve-unknown-fields").asBoolean()) {
            return;
        }
        switch (schema.path("type").asText()) {
            case "object" -> {
                if (!value.isObject()) {
                    errors.add(path + ": object expected");
                    return;
                }
                for (JsonNode required : schema.path("required")) {
                    if (!value.has(required.asText())) {
                        errors.add(path + ": missing required " + required.asText());
                    }
                }
                for (Map.Entry<String, JsonNode> field : value.properties()) {
                    JsonNode fieldSchema = schema.path("properties").get(field.getKey());
                    if (fieldSchema == null
                            && schema.path("additionalProperties").isObject()) {
                        fieldSchema = schema.path("additionalProperties");
                    }
                    if (fieldSchema == null) {
                        errors.add(path + "." + field.getKey() + ": unknown field");
                    } else {
                        validate(field.getValue(), fieldSchema, path + "." + field.getKey(), errors);
                    }
                }
            }
            case "array" -> {
                if (!value.isArray()) {
                    errors.add(path + ": array expected");
                    return;
                }
                if (schema.has("minItems")
                        && value.size() < schema.path("minItems").asInt()) {
                    errors.add(path + ": fewer than minItems");
                }
                if (schema.has("maxItems")
                        && value.size() > schema.path("maxItems").asInt()) {
                    errors.add(path + ": more than maxItems");
                }
                for (int i = 0; i < value.size(); i++) {
                    validate(value.get(i), schema.path("items"), path + "[" + i + "]", errors);
                }
            }
            case "integer" -> {
                if (!value.isIntegralNumber()) {
                    errors.add(path + ": integer expected");
                } else if ((schema.has("minimum")
                                && value.asDouble() < schema.path("minimum").asDouble())
                        || (schema.has("maximum")
                                && value.asDouble() > schema.path("maximum").asDouble())) {
                    errors.add(path + ": out of bounds");
                }
            }
            case "boolean" -> {
                if (!value.isBoolean()) {
                    errors.add(path + ": boolean expected");
                }
            }
            case "string" -> {
                if (!value.isTextual()) {
                    errors.add(path + ": string expected");
                } else if (schema.has("enum")
                        && !Manifests.texts(schema.path("enum")).contains(value.asText())) {
                    errors.add(path + ": " + value.asText() + " not in " + schema.path("enum"));
                }
            }
            default -> {
                /* untyped: nothing to check */
            }
        }
    }
}
