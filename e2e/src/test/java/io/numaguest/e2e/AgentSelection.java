package io.numaguest.e2e;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import java.util.List;

/**
 * The NumaGuestMemories a node's agent sees, asked of the API server the way the agent asks it: by
 * field selector on {@link NumaGuestMemory#NODE_FIELD} or
 * {@link NumaGuestMemory#MIGRATION_TARGET_NODE_FIELD}, which the CRD declares selectable.
 */
final class AgentSelection {
    private AgentSelection() {}

    /** The names of the namespace's NGMs whose {@code field} is {@code node}. */
    static List<String> names(KubernetesClient client, String namespace, String field, String node) {
        return client
                .resources(NumaGuestMemory.class)
                .inNamespace(namespace)
                .withField(field, node)
                .list()
                .getItems()
                .stream()
                .map(ngm -> ngm.getMetadata().getName())
                .sorted()
                .toList();
    }
}
