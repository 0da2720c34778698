package io.numaguest.e2e;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;

/** The NumaGuestMemory the VMM tests place: a VMI's two guest nodes of 64 MiB, bound, Strict. */
final class VmiNgms {

    private VmiNgms() {}

    /** Named after the VMI it targets; guest node 0 on host node 0, guest node 1 where the operator decides. */
    static NumaGuestMemory createTwoGuestNodes(KubernetesClient client, String namespace, String vmi) {
        String yaml = """
        apiVersion: numaguest.io/v1alpha1
        kind: NumaGuestMemory
        metadata:
          name: %s
          namespace: %s
        spec:
          target:
            virtualMachineInstance:
              name: %s
          enforcement: Strict
          guestNodes:
            - guestNode: 0
              policy: Bind
              hostNodes: [0]
              size: 64Mi
            - guestNode: 1
              policy: Bind
              size: 64Mi
        """.formatted(vmi, namespace, vmi);
        return client.resources(NumaGuestMemory.class)
                .inNamespace(namespace)
                .load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)))
                .create();
    }
}
