package io.numaguest.helm;

import static io.numaguest.helm.DefaultRenderingTest.container;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The images cannot be built here, so this keeps the Dockerfiles and the chart consistent: the jar
 * lands where the chart's command runs it, the base image is the JRE 25, and the users match the
 * chart's security contexts.
 */
class DockerfilesTest {

    private final Manifests manifests = Chart.render();

    @Test
    void agentImageMatchesTheDaemonSet() throws Exception {
        Map<String, String> dockerfile = instructions("node-agent.Dockerfile");
        JsonNode agent = container(manifests.single("DaemonSet"));
        assertThat(dockerfile.get("FROM")).isEqualTo("eclipse-temurin:25-jre");
        assertThat(dockerfile.get("COPY").split("\\s+"))
                .containsExactly(
                        "node-agent/target/numaguest-node-agent.jar", "/opt/numaguest/numaguest-node-agent.jar");
        assertThat(json(dockerfile.get("ENTRYPOINT"))).isEqualTo(Manifests.texts(agent.path("command")));
        assertThat(json(dockerfile.get("CMD"))).isEqualTo(Manifests.texts(agent.path("args")));
        assertThat(dockerfile.get("USER")).isEqualTo("0:0");
    }

    @Test
    void operatorImageMatchesTheDeploymentAndIsNonRoot() throws Exception {
        Map<String, String> dockerfile = instructions("operator.Dockerfile");
        JsonNode deployment = manifests.single("Deployment");
        assertThat(dockerfile.get("FROM")).isEqualTo("eclipse-temurin:25-jre");
        assertThat(dockerfile.get("COPY").split("\\s+"))
                .containsExactly("operator/target/numaguest-operator.jar", "/opt/numaguest/numaguest-operator.jar");
        assertThat(json(dockerfile.get("ENTRYPOINT")))
                .isEqualTo(Manifests.texts(container(deployment).path("command")));
        String runAsUser = deployment
                .path("spec")
                .path("template")
                .path("spec")
                .path("securityContext")
                .path("runAsUser")
                .asText();
        assertThat(dockerfile.get("USER"))
                .isEqualTo(runAsUser + ":" + runAsUser)
                .doesNotStartWith("0:");
    }

    @Test
    void kubevirtHookImageCarriesTheJarAndTheLibraryAndRunsAsQemu() throws Exception {
        Map<String, String> dockerfile = instructions("kubevirt-hook.Dockerfile");
        assertThat(dockerfile.get("FROM")).isEqualTo("eclipse-temurin:25-jre");
        String text = Chart.read(Chart.repoDir().resolve(Path.of("docker", "kubevirt-hook.Dockerfile")));
        // HookMain copies the library from /opt/numaguest/lib into the directory shared with compute.
        assertThat(text)
                .contains(
                        "COPY kubevirt-hook/target/numaguest-kubevirt-hook.jar /opt/numaguest/numaguest-kubevirt-hook.jar",
                        "COPY clients/c/build/libnumaguest-preload.so /opt/numaguest/lib/libnumaguest-preload.so");
        assertThat(json(dockerfile.get("ENTRYPOINT"))).endsWith("-jar", "/opt/numaguest/numaguest-kubevirt-hook.jar");
        assertThat(json(dockerfile.get("CMD"))).containsExactly("plugin");
        // The chart's hook container runs as 107 with runAsNonRoot.
        assertThat(dockerfile.get("USER")).isEqualTo("107:107");
        assertThat(Chart.render("kubevirt.integration", "plugin")
                        .single("MutatingAdmissionPolicy")
                        .path("spec")
                        .path("mutations")
                        .get(0)
                        .path("jsonPatch")
                        .path("expression")
                        .asText())
                .contains("runAsUser: 107", "runAsGroup: 107");
    }

    private static List<String> json(String array) throws Exception {
        List<String> values = new ArrayList<>();
        new ObjectMapper().readTree(array).forEach(v -> values.add(v.asText()));
        return values;
    }

    /** Instruction -> argument (last one wins), with comments dropped and continuations joined. */
    private static Map<String, String> instructions(String file) {
        String text = Chart.read(Chart.repoDir().resolve(Path.of("docker", file)));
        Map<String, String> result = new LinkedHashMap<>();
        StringBuilder current = new StringBuilder();
        for (String line : text.split("\n")) {
            String trimmed = line.strip();
            if (trimmed.startsWith("#") || (trimmed.isEmpty() && current.isEmpty())) {
                continue;
            }
            if (trimmed.endsWith("\\")) {
                current.append(trimmed, 0, trimmed.length() - 1).append(' ');
                continue;
            }
            current.append(trimmed);
            String instruction = current.toString().strip();
            current.setLength(0);
            if (!instruction.isEmpty()) {
                int space = instruction.indexOf(' ');
                result.put(
                        instruction.substring(0, space),
                        instruction.substring(space + 1).strip());
            }
        }
        return result;
    }
}
