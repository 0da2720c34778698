package io.numaguest.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.List;
import org.junit.jupiter.api.Test;

class StatusSerializationTest {

    private final KubernetesSerialization serialization = new KubernetesSerialization();

    @Test
    void statusLeavesOutTheFieldsItDoesNotCarry() {
        var status = new NumaGuestMemoryStatus();
        status.setObservedGeneration(3L);
        status.setPlacement(List.of(new GuestNodePlacement(0, MemoryPolicy.Bind, List.of(1), "most free memory")));

        String json = serialization.asJson(status);

        // A server-side apply carrying "applied": null would take the agent's field over.
        assertThat(json).doesNotContain("applied", "null");
    }

    @Test
    void readsAManifestAsUsersWriteIt() {
        var ngm = serialization.unmarshal("""
        apiVersion: numaguest.io/v1alpha1
        kind: NumaGuestMemory
        metadata: {name: vm1, namespace: default}
        spec:
          target: {virtualMachineInstance: {name: vm1}}
          guestNodes:
          - {guestNode: 0, policy: Bind, hostNodes: [0], size: 4Gi}
          - {guestNode: 1, policy: Interleave}
        """, NumaGuestMemory.class);

        assertThat(ngm.getSpec().getTarget().getVirtualMachineInstance().getName())
                .isEqualTo("vm1");
        assertThat(ngm.getSpec().getGuestNodes())
                .extracting(GuestNodeSpec::getPolicy)
                .containsExactly(MemoryPolicy.Bind, MemoryPolicy.Interleave);
        assertThat(ngm.getSpec()
                        .getGuestNodes()
                        .getFirst()
                        .getSize()
                        .getNumericalAmount()
                        .longValueExact())
                .isEqualTo(4L << 30);
        assertThat(ngm.getSpec().getEnforcement()).isEqualTo(Enforcement.Strict);
    }
}
