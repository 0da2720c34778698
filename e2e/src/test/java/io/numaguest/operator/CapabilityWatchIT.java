package io.numaguest.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.numaguest.e2e.KubeApiServer;
import io.numaguest.e2e.OptionalCrds;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The operator learns of optional APIs that came after it started (here: CRDs it believes absent
 * while the real API server serves them) and asks for its restart, once; capabilities that match
 * the cluster ask for nothing.
 */
class CapabilityWatchIT {

    private static final KubernetesClient CLIENT = KubeApiServer.get().adminClient();

    @BeforeAll
    static void bothOptionalApisServed() {
        KubeApiServer.get().installCrds();
        OptionalCrds.installNodeResourceTopology(CLIENT);
        OptionalCrds.installVirtualMachineInstance(CLIENT);
    }

    @Test
    void aNodeResourceTopologyCrdTheOperatorDidNotStartWithRestartsIt() throws InterruptedException {
        var restarts = new CountDownLatch(1);
        var watch = new CapabilityWatch(CLIENT, new ClusterCapabilities(true, false), restarts::countDown);
        try (watch) {
            assertThat(restarts.await(30, TimeUnit.SECONDS))
                    .as("restart asked for")
                    .isTrue();
        }
    }

    @Test
    void aKubeVirtCrdTheOperatorDidNotStartWithRestartsIt() throws InterruptedException {
        var restarts = new CountDownLatch(1);
        var watch = new CapabilityWatch(CLIENT, new ClusterCapabilities(false, true), restarts::countDown);
        try (watch) {
            assertThat(restarts.await(30, TimeUnit.SECONDS))
                    .as("restart asked for")
                    .isTrue();
        }
    }

    @Test
    void capabilitiesThatMatchTheClusterAskForNothing() throws InterruptedException {
        var restarts = new CountDownLatch(1);
        var mismatch = new CountDownLatch(1);
        // A second watch that does ask proves the CRDs' events were delivered by the time it does.
        var watch = new CapabilityWatch(CLIENT, new ClusterCapabilities(true, true), restarts::countDown);
        var control = new CapabilityWatch(CLIENT, new ClusterCapabilities(false, false), mismatch::countDown);
        try (watch;
                control) {
            assertThat(mismatch.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(restarts.await(2, TimeUnit.SECONDS)).as("no restart").isFalse();
        }
    }
}
