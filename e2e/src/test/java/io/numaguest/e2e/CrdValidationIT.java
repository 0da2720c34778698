package io.numaguest.e2e;

import static io.numaguest.e2e.KubeApiServer.expectSuccess;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The generated CRD as a real API server enforces it: structural schema, defaults and the CEL
 * rules (which the Fabric8 mock server ignores), and the shipped examples against it.
 */
class CrdValidationIT {

    private static final String NAMESPACE = "e2e-crd-validation";
    private static final KubeApiServer SERVER = KubeApiServer.get();

    @BeforeAll
    static void installCrds() {
        SERVER.installCrds();
        SERVER.adminClient()
                .namespaces()
                .resource(new NamespaceBuilder()
                        .withNewMetadata()
                        .withName(NAMESPACE)
                        .endMetadata()
                        .build())
                .serverSideApply();
    }

    /** The server is shared: another test's operator must not find these NGMs and the example's pod. */
    @AfterAll
    static void cleanUp() {
        KubernetesClient admin = SERVER.adminClient();
        admin.genericKubernetesResources("numaguest.io/v1alpha1", "NumaGuestMemory")
                .inNamespace(NAMESPACE)
                .delete();
        admin.pods().inNamespace(NAMESPACE).delete();
    }

    @Test
    void crdsApplyWithKubectl() {
        // Client-side apply as well: that is what the README tells users to run.
        KubeApiServer.KubectlResult result = expectSuccess(SERVER.kubectl("apply", "-f", "crds/"));
        assertThat(result.stdout())
                .contains("customresourcedefinition.apiextensions.k8s.io/numaguestmemories.numaguest.io");
    }

    static Stream<Path> examples() throws IOException {
        try (Stream<Path> files = Files.list(KubeApiServer.repoDir().resolve("examples"))) {
            List<Path> yamls =
                    files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
            assertThat(yamls).isNotEmpty();
            return yamls.stream();
        }
    }

    @ParameterizedTest
    @MethodSource("examples")
    void exampleIsAccepted(Path example) {
        expectSuccess(SERVER.kubectl("apply", "-n", NAMESPACE, "-f", example.toString()));
    }

    static Stream<Arguments> invalidSpecs() {
        return Stream.of(
                Arguments.of(
                        "two targets", """
            target:
              virtualMachineInstance: {name: vm}
              podSelector: {matchLabels: {app: vm}}
            guestNodes: [{guestNode: 0, policy: Default}]
            """, "target must set exactly one of virtualMachineInstance or podSelector"),
                Arguments.of("no target", """
            target: {}
            guestNodes: [{guestNode: 0, policy: Default}]
            """, "target must set exactly one of virtualMachineInstance or podSelector"),
                Arguments.of("duplicate guestNode", """
            target: {podSelector: {matchLabels: {app: vm}}}
            guestNodes:
              - {guestNode: 0, policy: Bind, hostNodes: [0]}
              - {guestNode: 0, policy: Bind, hostNodes: [1]}
            """, "each guestNode may appear only once in guestNodes"),
                Arguments.of("Preferred with two host nodes", """
            target: {podSelector: {matchLabels: {app: vm}}}
            guestNodes: [{guestNode: 0, policy: Preferred, hostNodes: [0, 1]}]
            """, "policy Preferred takes exactly one host node"),
                Arguments.of("hostNodes on Local", """
            target: {podSelector: {matchLabels: {app: vm}}}
            guestNodes: [{guestNode: 0, policy: Local, hostNodes: [0]}]
            """, "policy Default and Local take no hostNodes"),
                Arguments.of(
                        "guestNode 64",
                        """
            target: {podSelector: {matchLabels: {app: vm}}}
            guestNodes: [{guestNode: 64, policy: Default}]
            """,
                        "spec.guestNodes[0].guestNode: Invalid value: 64: spec.guestNodes[0].guestNode in body should be less than or equal to 63"),
                Arguments.of("negative size", """
            target: {podSelector: {matchLabels: {app: vm}}}
            guestNodes: [{guestNode: 0, policy: Default, size: "-1Gi"}]
            """, "size must be a positive quantity such as 4Gi"),
                Arguments.of("zero size", """
            target: {podSelector: {matchLabels: {app: vm}}}
            guestNodes: [{guestNode: 0, policy: Default, size: "0"}]
            """, "size must be a positive quantity such as 4Gi"),
                Arguments.of("size not a quantity", """
            target: {podSelector: {matchLabels: {app: vm}}}
            guestNodes: [{guestNode: 0, policy: Default, size: "lots"}]
            """, "size must be a positive quantity such as 4Gi"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidSpecs")
    void invalidSpecIsRejected(String description, String spec, String message) {
        KubernetesClient client = SERVER.adminClient();
        String name = "invalid-" + description.replace(' ', '-').toLowerCase();
        assertThatThrownBy(() -> client.resource(ngm(name, spec)).create())
                .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
                    assertThat(e.getCode()).as("HTTP status").isEqualTo(422);
                    assertThat(e.getStatus().getReason()).isEqualTo("Invalid");
                    assertThat(e.getMessage()).contains(message);
                });
        assertThat(client.genericKubernetesResources("numaguest.io/v1alpha1", "NumaGuestMemory")
                        .inNamespace(NAMESPACE)
                        .withName(name)
                        .get())
                .isNull();
    }

    @ParameterizedTest(name = "size {0}")
    @MethodSource("validSizes")
    void validSizeIsAccepted(String size) {
        String name = "size-" + size.toLowerCase().replace("\"", "");
        GenericKubernetesResource created =
                SERVER.adminClient().resource(ngm(name, """
        target: {podSelector: {matchLabels: {app: vm}}}
        guestNodes: [{guestNode: 0, policy: Bind, hostNodes: [0], size: %s}]
        """.formatted(size))).create();
        // The schema's default shows the server (not the client) processed the object.
        assertThat(created.get("spec", "enforcement").toString()).isEqualTo("Strict");
    }

    static Stream<String> validSizes() {
        // A quoted quantity and a bare integer (bytes): the field is int-or-string.
        return Stream.of("\"4Gi\"", "1024");
    }

    private static GenericKubernetesResource ngm(String name, String spec) {
        String yaml = """
        apiVersion: numaguest.io/v1alpha1
        kind: NumaGuestMemory
        metadata:
          name: %s
          namespace: %s
        spec:
        %s""".formatted(name, NAMESPACE, spec.indent(2));
        return SERVER.adminClient().getKubernetesSerialization().unmarshal(yaml, GenericKubernetesResource.class);
    }
}
