package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.guestNode;
import static io.numaguest.operator.Fixtures.ngm;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.numaguest.api.v1alpha1.Enforcement;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import io.numaguest.api.v1alpha1.NumaGuestMemorySpec;
import io.numaguest.api.v1alpha1.Target;
import io.numaguest.kubevirthook.GuestNodeRequest;
import io.numaguest.kubevirthook.HookedVmi;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the operator writes on a VMI is what the KubeVirt hook reads: its own parser (HookedVmi) reads it back. */
class GuestMemoryAnnotationTest {

    private final KubernetesSerialization serialization = new KubernetesSerialization();

    private NumaGuestMemorySpec spec() {
        // Listed out of order, sizes in three notations, one guest node without a size.
        return ngm(
                        "vm1",
                        Target.virtualMachineInstance("vm1"),
                        guestNode(1, MemoryPolicy.Interleave, "1536Mi"),
                        guestNode(2, MemoryPolicy.Local, null),
                        guestNode(0, MemoryPolicy.Bind, "1.5Gi", 0))
                .getSpec();
    }

    private HookedVmi readByTheHook(String annotation) {
        String vmi = serialization.asJson(Map.of(
                "apiVersion",
                "kubevirt.io/v1",
                "kind",
                "VirtualMachineInstance",
                "metadata",
                Map.of(
                        "name",
                        "vm1",
                        "namespace",
                        "vms",
                        "annotations",
                        Map.of(GuestMemoryAnnotation.NAME, annotation))));
        return HookedVmi.fromJson(vmi.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void theHookReadsTheGuestNodesTheirSizesInBytesAndTheEnforcement() {
        String annotation = GuestMemoryAnnotation.of(spec(), serialization);

        assertThat(GuestMemoryAnnotation.NAME).isEqualTo(HookedVmi.ANNOTATION);
        assertThat(annotation)
                .isEqualTo("{\"enforcement\":\"Strict\",\"guestNodes\":[{\"guestNode\":0,\"size\":\"1610612736\"},"
                        + "{\"guestNode\":1,\"size\":\"1610612736\"},{\"guestNode\":2}]}");
        var request = readByTheHook(annotation).request().orElseThrow();
        assertThat(request.enforcement()).isEqualTo("Strict");
        assertThat(request.guestNodes())
                .containsExactly(
                        GuestNodeRequest.sized(0, 1536L << 20),
                        GuestNodeRequest.sized(1, 1536L << 20),
                        GuestNodeRequest.unsized(2));
    }

    @Test
    void bestEffortReachesTheHook() {
        NumaGuestMemorySpec spec = spec();
        spec.setEnforcement(Enforcement.BestEffort);

        assertThat(readByTheHook(GuestMemoryAnnotation.of(spec, serialization))
                        .request()
                        .orElseThrow()
                        .enforcement())
                .isEqualTo("BestEffort");
    }

    @Test
    void theSameSpecGivesTheSameText() {
        assertThat(GuestMemoryAnnotation.of(spec(), serialization))
                .isEqualTo(GuestMemoryAnnotation.of(spec(), serialization));
    }
}
