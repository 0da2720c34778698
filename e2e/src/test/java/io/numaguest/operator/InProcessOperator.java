package io.numaguest.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.javaoperatorsdk.operator.Operator;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Optional;
import java.util.Set;

/**
 * The operator's reconciler in the test JVM, wired as {@link Main} wires it but watching only the
 * given namespaces, so tests sharing one API server never reconcile each other's objects. Lives in the operator's package because its wiring is package-private.
 */
public final class InProcessOperator implements AutoCloseable {

    public static final String CREATED_BY_LABEL = TargetResolver.CREATED_BY_LABEL;

    private final KubernetesClient operatorClient;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final Operator operator;

    /**
     * @param kubeVirt whether the operator believes the cluster serves VirtualMachineInstances
     *     (detected at start in production; the shared test server may or may not have the CRD)
     * @param nodeResourceTopology the same for NodeResourceTopology
     */
    public InProcessOperator(
            KubernetesClient client, boolean kubeVirt, boolean nodeResourceTopology, String namespace) {
        // A client of its own: stopping a JOSDK operator closes its client.
        operatorClient = new KubernetesClientBuilder()
                .withConfig(client.getConfiguration())
                .build();
        operator = new NumaGuestMemoryOperator(
                        operatorClient,
                        registry,
                        new ClusterCapabilities(kubeVirt, nodeResourceTopology),
                        Set.of(namespace),
                        Optional.empty())
                .build();
        operator.start();
    }

    /** The value of the operator's gauge {@code name} with the tag, as /metrics would show it. */
    public double gauge(String name, String tagKey, String tagValue) {
        return registry.get(name).tag(tagKey, tagValue).gauge().value();
    }

    @Override
    public void close() {
        operator.stop();
        operatorClient.close();
    }
}
