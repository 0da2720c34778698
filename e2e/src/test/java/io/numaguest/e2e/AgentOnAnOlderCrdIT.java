package io.numaguest.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent on a cluster whose NumaGuestMemory CRD predates the selectable fields it selects its
 * NGMs by (an upgrade that skipped {@code kubectl apply -f crds/}): without the check at its start
 * its informers would retry their lists forever and it would answer every VMM "retry shortly".
 * On a cluster of its own, since the shared server has this release's CRD.
 */
class AgentOnAnOlderCrdIT {

    @Test
    void stopsAtItsStartAndSaysToApplyTheCrd(@TempDir Path work) throws Exception {
        KubeApiServer own = KubeApiServer.startOwn();
        try {
            KubernetesClient admin = own.adminClient();
            CustomResourceDefinition crd;
            try (InputStream yaml = Files.newInputStream(
                    KubeApiServer.repoDir().resolve("crds/numaguestmemories.numaguest.io-v1.yml"))) {
                crd = admin.apiextensions()
                        .v1()
                        .customResourceDefinitions()
                        .load(yaml)
                        .item();
            }
            crd.getSpec().getVersions().forEach(version -> version.setSelectableFields(List.of()));
            admin.apiextensions().v1().customResourceDefinitions().resource(crd).create();
            KubeApiServer.expectSuccess(own.kubectl(
                    "wait",
                    "--for=condition=Established",
                    "--timeout=60s",
                    "crd/" + crd.getMetadata().getName()));

            ChildProcess agent =
                    ChildProcess.launchAgent("agent", work, own.kubeconfig(), "node-a", work.resolve("agent.sock"));
            assertThat(agent.process().waitFor(60, TimeUnit.SECONDS))
                    .as("the agent stops: %s", agent.log())
                    .isTrue();
            assertThat(agent.process().exitValue()).isEqualTo(2);
            assertThat(agent.log())
                    .contains("cannot select NumaGuestMemory objects by status.nodeName")
                    .contains("kubectl apply --server-side -f crds/")
                    .doesNotContain("listening on");
        } finally {
            own.stop();
        }
    }
}
