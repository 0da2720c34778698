package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Optional;
import java.util.Set;

/**
 * Everything the reconciler tests need from an API server, in one place so the server can change:
 * today the Fabric8 mock in CRUD mode, which has no server-side apply (so the operator runs with
 * it off); with a real kube-apiserver, pass {@code serverSideApply = true}.
 */
final class OperatorFixture implements AutoCloseable {

  private final KubernetesClient client;
  private final Operator operator;

  OperatorFixture(KubernetesClient client, ClusterCapabilities capabilities, boolean serverSideApply) {
    this.client = client;
    installCrds(client, capabilities);
    operator = new NumaGuestMemoryOperator(client, new SimpleMeterRegistry(), capabilities, Set.of(), serverSideApply,
        Optional.empty()).build();
    operator.start();
  }

  KubernetesClient client() {
    return client;
  }

  /** The NumaGuestMemory CRD as generated, and stand-ins with the fields the operator reads for the others. */
  private static void installCrds(KubernetesClient client, ClusterCapabilities capabilities) {
    try (InputStream generated = OperatorFixture.class.getResourceAsStream("/META-INF/fabric8/numaguestmemories.numaguest.io-v1.yml")) {
      client.resource(client.getKubernetesSerialization().unmarshal(generated, CustomResourceDefinition.class)).create();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (capabilities.kubeVirt()) {
      client.resource(standIn("kubevirt.io", "VirtualMachineInstance", "virtualmachineinstances", "Namespaced")).create();
    }
    if (capabilities.nodeResourceTopology()) {
      client.resource(standIn("topology.node.k8s.io", "NodeResourceTopology", "noderesourcetopologies", "Cluster")).create();
    }
  }

  private static CustomResourceDefinition standIn(String group, String kind, String plural, String scope) {
    String version = group.equals("kubevirt.io") ? "v1" : "v1alpha2";
    return new CustomResourceDefinitionBuilder()
        .withNewMetadata().withName(plural + "." + group).endMetadata()
        .withNewSpec().withGroup(group).withScope(scope)
        .withNewNames().withKind(kind).withPlural(plural).withSingular(kind.toLowerCase()).endNames()
        .addNewVersion().withName(version).withServed(true).withStorage(true)
        .withNewSchema().withNewOpenAPIV3Schema().withType("object").withXKubernetesPreserveUnknownFields(true)
        .endOpenAPIV3Schema().endSchema().endVersion()
        .endSpec().build();
  }

  @Override
  public void close() {
    operator.stop();
  }
}
