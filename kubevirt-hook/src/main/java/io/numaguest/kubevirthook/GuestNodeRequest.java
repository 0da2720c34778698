package io.numaguest.kubevirthook;

import java.util.OptionalLong;

/**
 * One guest NUMA node a NumaGuestMemory asks for: its number and, when the NGM gives one, its
 * size in bytes ({@code spec.guestNodes[].size}).
 */
public record GuestNodeRequest(int guestNode, OptionalLong sizeBytes) {
    public GuestNodeRequest {
        if (guestNode < 0 || guestNode > 63) {
            throw new IllegalArgumentException("guest node " + guestNode + " is outside 0 to 63");
        }
        if (sizeBytes.isPresent() && sizeBytes.getAsLong() <= 0) {
            throw new IllegalArgumentException("guest node " + guestNode + " has size " + sizeBytes.getAsLong()
                    + " bytes; a size must be positive");
        }
    }

    public static GuestNodeRequest unsized(int guestNode) {
        return new GuestNodeRequest(guestNode, OptionalLong.empty());
    }

    public static GuestNodeRequest sized(int guestNode, long sizeBytes) {
        return new GuestNodeRequest(guestNode, OptionalLong.of(sizeBytes));
    }
}
