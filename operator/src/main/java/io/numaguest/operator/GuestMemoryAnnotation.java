package io.numaguest.operator;

import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.numaguest.api.v1alpha1.GuestNodeSpec;
import io.numaguest.api.v1alpha1.NumaGuestMemorySpec;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The VMI annotation the KubeVirt hook (module kubevirt-hook, {@code HookedVmi}) reads to change
 * the domain of a VMI that a NumaGuestMemory targets: the guest nodes, each guest node's size in
 * bytes when the spec gives one, and the enforcement, e.g.
 * {@code {"enforcement":"Strict","guestNodes":[{"guestNode":0,"size":"2147483648"},{"guestNode":1}]}}.
 * Sizes are whole byte counts, a form of quantity the hook parses whatever suffix the user wrote.
 */
final class GuestMemoryAnnotation {

    static final String NAME = "numaguest.io/guest-memory";

    private GuestMemoryAnnotation() {}

    /** The annotation's value for the spec; the same spec gives the same text, so it compares with what the VMI has. */
    static String of(NumaGuestMemorySpec spec, KubernetesSerialization serialization) {
        List<Map<String, Object>> guestNodes = new ArrayList<>();
        spec.getGuestNodes().stream()
                .sorted(Comparator.comparing(GuestNodeSpec::getGuestNode))
                .forEach(guestNode -> {
                    Map<String, Object> entry = new LinkedHashMap<>();
                    entry.put("guestNode", guestNode.getGuestNode());
                    long size = GuestNode.of(guestNode).sizeBytes();
                    if (size > 0) {
                        entry.put("size", Long.toString(size));
                    }
                    guestNodes.add(entry);
                });
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("enforcement", spec.getEnforcement().name());
        request.put("guestNodes", guestNodes);
        return serialization.asJson(request);
    }
}
