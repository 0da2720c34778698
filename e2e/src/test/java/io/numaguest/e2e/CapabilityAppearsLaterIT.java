package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An optional API installed after the operator started, on a cluster of its own (the shared server
 * has every optional CRD from the first class that needed one): the operator process says so and
 * exits with 3 for its Deployment to start it again, and the process started next watches it.
 */
class CapabilityAppearsLaterIT {

    private static final Duration START = Duration.ofSeconds(90);

    @Test
    void aNodeResourceTopologyCrdInstalledAfterTheStartRestartsTheOperatorWhichThenWatchesIt(@TempDir Path work)
            throws Exception {
        KubeApiServer own = KubeApiServer.startOwn();
        ChildProcess first = null;
        ChildProcess second = null;
        try {
            own.installCrds();
            first = ChildProcess.startOperator(work, own.kubeconfig());
            ChildProcess started = first;
            await("the operator starts")
                    .atMost(START)
                    .failFast("operator exited", () -> !started.isAlive())
                    .until(() -> started.log().contains("numaguest operator started"));
            assertThat(first.log()).contains("NodeResourceTopology API: absent");

            OptionalCrds.installNodeResourceTopology(own.adminClient());

            assertThat(first.process().waitFor(60, TimeUnit.SECONDS))
                    .as("the operator exits once the CRD is served: %s", first.log())
                    .isTrue();
            assertThat(first.process().exitValue()).isEqualTo(3);
            assertThat(first.log())
                    .contains(
                            "noderesourcetopologies.topology.node.k8s.io v1alpha2 is now served: the operator restarts to watch it");

            second = ChildProcess.startOperator(work, own.kubeconfig());
            ChildProcess restarted = second;
            await("the operator starts again")
                    .atMost(START)
                    .failFast("operator exited", () -> !restarted.isAlive())
                    .until(() -> restarted.log().contains("numaguest operator started"));
            assertThat(second.log()).contains("NodeResourceTopology API: served");
        } finally {
            for (ChildProcess process : new ChildProcess[] {first, second}) {
                if (process != null) {
                    process.process().destroy();
                    process.process().waitFor(10, TimeUnit.SECONDS);
                }
            }
            own.stop();
        }
    }
}
