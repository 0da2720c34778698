package io.numaguest.operator;

import static io.numaguest.operator.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ItemsWithoutManagedFieldsTest {

    @Test
    void storesObjectsWithoutTheirManagedFieldsUnderTheInformersKey() {
        Pod pod = pod("qemu-vm1", "worker-1", "Running", Map.of("app", "vm1"));
        pod.getMetadata()
                .setManagedFields(List.of(new ManagedFieldsEntryBuilder()
                        .withManager("kubelet")
                        .withOperation("Update")
                        .build()));
        var store = new ItemsWithoutManagedFields<Pod>();

        store.put(store.getKey(pod), pod);

        assertThat(store.getKey(pod)).isEqualTo(Fixtures.NAMESPACE + "/qemu-vm1");
        assertThat(store.get(Fixtures.NAMESPACE + "/qemu-vm1").getMetadata().getManagedFields())
                .isNullOrEmpty();
        assertThat(store.get(Fixtures.NAMESPACE + "/qemu-vm1").getMetadata().getLabels())
                .containsEntry("app", "vm1");
    }
}
