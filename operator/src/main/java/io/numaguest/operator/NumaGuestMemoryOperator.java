package io.numaguest.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Optional;
import java.util.Set;

/**
 * Wires the reconciler into a JOSDK operator; shared by {@link Main} and the tests, which differ
 * only in the settings below. The primary resource is written with server-side apply (JOSDK's
 * default), which lets the operator and the agent each own their part of the status.
 *
 * @param watchNamespaces namespaces to watch; empty for all
 * @param leaderElection the Lease to hold before reconciling, when several replicas run
 */
record NumaGuestMemoryOperator(
        KubernetesClient client,
        MeterRegistry registry,
        ClusterCapabilities capabilities,
        Set<String> watchNamespaces,
        Optional<LeaderElectionConfiguration> leaderElection) {

    static final String LEASE_NAME = "numaguest-operator";

    Operator build() {
        var operator = new Operator(overrider -> {
            overrider
                    .withKubernetesClient(client)
                    // Per-resource meters would grow with the number of NumaGuestMemories.
                    .withMetrics(MicrometerMetrics.withoutPerResourceMetrics(registry));
            leaderElection.ifPresent(overrider::withLeaderElectionConfiguration);
        });
        var statusChanges = new StatusChanges(client.getKubernetesSerialization(), new EventRecorder(client));
        operator.register(new NumaGuestMemoryReconciler(capabilities, registry), controller -> {
            controller.withOnUpdateFilter(statusChanges).withItemStore(new ItemsWithoutManagedFields<>());
            if (!watchNamespaces.isEmpty()) {
                controller.settingNamespaces(watchNamespaces);
            }
        });
        return operator;
    }
}
