package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.Release;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The chart installed, upgraded and uninstalled by Helm (helm-java) against a real API server, so
 * the server (not only Helm's renderer) accepts every object: schemas, CEL admission policies,
 * cluster-scoped names. There is no kubelet: pods never run, so only objects are checked.
 *
 * <p>The steps build on each other (one release's life), hence the ordering.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HelmInstallIT {

    private static final KubeApiServer SERVER = KubeApiServer.get();
    /** Not the chart's default names: RbacIT installs those into the same shared server. */
    private static final String RELEASE = "e2e-helm";

    private static final String NAMESPACE = "e2e-helm";
    private static final Path CHART = KubeApiServer.repoDir().resolve("helm/numaguest");
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @Test
    @Order(1)
    void installCreatesEveryRenderedObject() {
        Release release = Helm.install(CHART.toString())
                .withKubeConfig(SERVER.kubeconfig())
                .withName(RELEASE)
                .withNamespace(NAMESPACE)
                .createNamespace()
                .call();

        assertThat(release.getStatus()).isEqualTo("deployed");
        List<HasMetadata> rendered = rendered();
        assertThat(rendered)
                .extracting(HasMetadata::getKind)
                .contains(
                        "Deployment",
                        "DaemonSet",
                        "ServiceAccount",
                        "ClusterRole",
                        "ClusterRoleBinding",
                        "ValidatingAdmissionPolicy",
                        "ValidatingAdmissionPolicyBinding");
        KubernetesClient client = SERVER.adminClient();
        assertThat(rendered)
                .allSatisfy(object -> assertThat(
                                client.resource(object).inNamespace(NAMESPACE).get())
                        .as(
                                "%s %s on the server",
                                object.getKind(), object.getMetadata().getName())
                        .isNotNull());
        // The chart's crds/ directory is installed by Helm too (not part of the rendered templates).
        assertThat(client.apiextensions()
                        .v1()
                        .customResourceDefinitions()
                        .withName("numaguestmemories.numaguest.io")
                        .get())
                .isNotNull();
    }

    @Test
    @Order(2)
    void upgradeAppliesAChangedValue() {
        Release release = Helm.upgrade(CHART.toString())
                .withKubeConfig(SERVER.kubeconfig())
                .withName(RELEASE)
                .withNamespace(NAMESPACE)
                .set("operator.replicas", 3)
                .call();

        assertThat(release.getRevision()).isEqualTo("2");
        Deployment operator = SERVER.adminClient()
                .apps()
                .deployments()
                .inNamespace(NAMESPACE)
                .withName(deploymentName())
                .get();
        assertThat(operator.getSpec().getReplicas()).isEqualTo(3);
    }

    @Test
    @Order(3)
    void uninstallRemovesTheReleasesObjectsButKeepsCrds() {
        List<HasMetadata> rendered = rendered();

        Helm.uninstall(RELEASE)
                .withKubeConfig(SERVER.kubeconfig())
                .withNamespace(NAMESPACE)
                .call();

        KubernetesClient client = SERVER.adminClient();
        List<HasMetadata> removable = rendered.stream()
                .filter(o -> !(o instanceof CustomResourceDefinition))
                .toList();
        assertThat(removable).isNotEmpty();
        // Helm deletes with background propagation; nothing (no finalizer) should hold an object back.
        await().atMost(TIMEOUT)
                .untilAsserted(() -> assertThat(removable)
                        .allSatisfy(object -> assertThat(client.resource(object)
                                        .inNamespace(NAMESPACE)
                                        .get())
                                .as(
                                        "%s %s after uninstall",
                                        object.getKind(), object.getMetadata().getName())
                                .isNull()));
        // CRDs outlive the release, as Helm does for crds/ and as the NRT CRD's resource-policy asks.
        assertThat(client.apiextensions()
                        .v1()
                        .customResourceDefinitions()
                        .withName("numaguestmemories.numaguest.io")
                        .get())
                .isNotNull();
    }

    /** What `helm template` renders for this release: the objects the install must have created. */
    private static List<HasMetadata> rendered() {
        String manifests = Helm.template(CHART.toString())
                .withName(RELEASE)
                .withNamespace(NAMESPACE)
                .withKubeVersion("v" + System.getProperty("numaguest.kube-api-server.version", "1.37.2"))
                .call();
        return SERVER.adminClient()
                .load(new ByteArrayInputStream(manifests.getBytes(StandardCharsets.UTF_8)))
                .items();
    }

    private static String deploymentName() {
        return rendered().stream()
                .filter(Deployment.class::isInstance)
                .map(o -> o.getMetadata().getName())
                .findFirst()
                .orElseThrow();
    }
}
