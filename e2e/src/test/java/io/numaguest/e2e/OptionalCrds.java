package io.numaguest.e2e;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The CRDs the product reads when a cluster has them but does not ship itself: the chart's
 * NodeResourceTopology CRD and KubeVirt's VirtualMachineInstance CRD, as KubeVirt's own code
 * generates it when test-env/provision built it ({@value #KUBEVIRT_CRDS_ENV}), else a stand-in.
 * Installed only when absent, since the classes sharing the server (and Helm) may have installed
 * them already.
 */
public final class OptionalCrds {

    public static final String NRT_CRD = NodeResourceTopology.CRD_NAME;
    public static final String VMI_CRD = "virtualmachineinstances.kubevirt.io";
    public static final ResourceDefinitionContext VMI = new ResourceDefinitionContext.Builder()
            .withGroup("kubevirt.io")
            .withVersion("v1")
            .withKind("VirtualMachineInstance")
            .withPlural("virtualmachineinstances")
            .withNamespaced(true)
            .build();

    /** Directory with KubeVirt's CRDs that test-env/provision generates (printed by {@code provision --env}). */
    public static final String KUBEVIRT_CRDS_ENV = "NUMAGUEST_KUBEVIRT_CRDS";

    private OptionalCrds() {}

    /** Installs the chart's NodeResourceTopology CRD unless present; true when this call created it. */
    public static boolean installNodeResourceTopology(KubernetesClient client) {
        return installIfAbsent(client, nodeResourceTopologyCrd(client));
    }

    /** Installs the VMI CRD (KubeVirt's, or the stand-in) unless present; true when this call created it. */
    public static boolean installVirtualMachineInstance(KubernetesClient client) {
        return installIfAbsent(client, virtualMachineInstanceCrd(client));
    }

    /** A VMI as small as KubeVirt's schema allows (spec.domain.devices is required). */
    public static GenericKubernetesResource vmi(String namespace, String name) {
        return new GenericKubernetesResourceBuilder()
                .withApiVersion("kubevirt.io/v1")
                .withKind("VirtualMachineInstance")
                .withNewMetadata()
                .withName(name)
                .withNamespace(namespace)
                .endMetadata()
                .addToAdditionalProperties("spec", Map.of("domain", Map.of("devices", Map.of())))
                .build();
    }

    /**
     * Writes a VMI's status as virt-controller and virt-handler do: KubeVirt's VMI CRD has no status
     * subresource, so status is a merge patch of the object itself (the maps given replace theirs
     * key by key).
     */
    public static void patchVmiStatus(
            KubernetesClient client, String namespace, String name, Map<String, Object> status) {
        client.genericKubernetesResources(VMI)
                .inNamespace(namespace)
                .withName(name)
                .patch(
                        PatchContext.of(PatchType.JSON_MERGE),
                        client.getKubernetesSerialization().asJson(Map.of("status", status)));
    }

    /**
     * Creates the CRD unless one of that name exists, then waits until it is Established. One that
     * is being deleted (still Established until its objects are gone) is waited out and created anew.
     */
    public static boolean installIfAbsent(KubernetesClient client, CustomResourceDefinition crd) {
        var crds = client.apiextensions().v1().customResourceDefinitions();
        var existing = crds.withName(crd.getMetadata().getName()).get();
        if (existing != null && existing.getMetadata().getDeletionTimestamp() != null) {
            crds.withName(crd.getMetadata().getName()).waitUntilCondition(Objects::isNull, 60, TimeUnit.SECONDS);
            existing = null;
        }
        boolean created = false;
        if (existing == null) {
            crds.resource(crd).create();
            created = true;
        }
        awaitEstablished(client, crd.getMetadata().getName());
        return created;
    }

    public static void awaitEstablished(KubernetesClient client, String name) {
        client.apiextensions()
                .v1()
                .customResourceDefinitions()
                .withName(name)
                .waitUntilCondition(
                        current -> current != null
                                && current.getStatus() != null
                                && current.getStatus().getConditions() != null
                                && current.getStatus().getConditions().stream()
                                        .anyMatch(
                                                c -> "Established".equals(c.getType()) && "True".equals(c.getStatus())),
                        60,
                        TimeUnit.SECONDS);
    }

    /**
     * The chart's NodeResourceTopology CRD without its Helm wrapping: the document between the
     * template's render guard and its end, minus the line that includes the chart's labels.
     */
    public static CustomResourceDefinition nodeResourceTopologyCrd(KubernetesClient client) {
        List<String> lines;
        try {
            lines = Files.readAllLines(
                    KubeApiServer.repoDir().resolve("helm/numaguest/templates/noderesourcetopology-crd.yaml"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        int start = lines.indexOf("apiVersion: apiextensions.k8s.io/v1");
        int end = lines.lastIndexOf("{{- end }}");
        if (start < 0 || end <= start) {
            throw new IllegalStateException("the chart's NodeResourceTopology CRD template changed shape");
        }
        String yaml = lines.subList(start, end).stream()
                .filter(line -> !line.contains("{{"))
                .filter(line -> !line.equals("  labels:"))
                .collect(Collectors.joining("\n"));
        return client.getKubernetesSerialization().unmarshal(yaml, CustomResourceDefinition.class);
    }

    /**
     * KubeVirt's VMI CRD from {@value #KUBEVIRT_CRDS_ENV} when set (an unreadable one fails the test),
     * else a stand-in reduced to what the operator reads (metadata, status.nodeName,
     * status.migrationState) and shaped like KubeVirt's where it matters to writers: no status
     * subresource.
     */
    public static CustomResourceDefinition virtualMachineInstanceCrd(KubernetesClient client) {
        String dir = System.getenv(KUBEVIRT_CRDS_ENV);
        if (dir != null && !dir.isEmpty()) {
            try {
                return client.getKubernetesSerialization()
                        .unmarshal(Files.readString(Path.of(dir, VMI_CRD + ".yaml")), CustomResourceDefinition.class);
            } catch (IOException e) {
                throw new UncheckedIOException(
                        KUBEVIRT_CRDS_ENV + "=" + dir + " has no readable " + VMI_CRD + ".yaml;"
                                + " run test-env/provision, or unset it to use the stand-in",
                        e);
            }
        }
        System.out.println(
                "OptionalCrds: " + KUBEVIRT_CRDS_ENV + " is unset (eval \"$(test-env/provision --env)\" sets it):"
                        + " installing the VMI stand-in CRD, not KubeVirt's");
        return client.getKubernetesSerialization().unmarshal("""
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: virtualmachineinstances.kubevirt.io
        spec:
          group: kubevirt.io
          scope: Namespaced
          names:
            kind: VirtualMachineInstance
            listKind: VirtualMachineInstanceList
            plural: virtualmachineinstances
            singular: virtualmachineinstance
            shortNames: [vmi, vmis]
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    spec:
                      type: object
                      x-kubernetes-preserve-unknown-fields: true
                    status:
                      type: object
                      x-kubernetes-preserve-unknown-fields: true
        """, CustomResourceDefinition.class);
    }
}
