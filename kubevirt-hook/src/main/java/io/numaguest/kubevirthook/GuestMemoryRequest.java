package io.numaguest.kubevirthook;

import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * What the NumaGuestMemory that targets a VMI asks of its domain: the guest NUMA nodes (numbered
 * 0 to n-1, as libvirt numbers cells) and the NGM's enforcement ({@code Strict} or
 * {@code BestEffort}), which the preload library reads from NUMAGUEST_ENFORCEMENT.
 */
public record GuestMemoryRequest(List<GuestNodeRequest> guestNodes, String enforcement) {
    public GuestMemoryRequest {
        Objects.requireNonNull(enforcement, "enforcement");
        if (!enforcement.equals("Strict") && !enforcement.equals("BestEffort")) {
            throw new IllegalArgumentException("enforcement " + enforcement + " is neither Strict nor BestEffort");
        }
        if (guestNodes.isEmpty()) {
            throw new IllegalArgumentException("a NumaGuestMemory names at least one guest node");
        }
        guestNodes = guestNodes.stream()
                .sorted(Comparator.comparingInt(GuestNodeRequest::guestNode))
                .toList();
        for (int i = 0; i < guestNodes.size(); i++) {
            if (guestNodes.get(i).guestNode() != i) {
                throw new IllegalArgumentException("guest nodes "
                        + guestNodes.stream().map(GuestNodeRequest::guestNode).toList()
                        + " are not 0 to " + (guestNodes.size() - 1) + ": libvirt numbers a domain's NUMA cells from 0"
                        + " without gaps, so the NumaGuestMemory must name each of them");
            }
        }
    }
}
