package io.numaguest.agent.request;

import io.numaguest.agent.policy.VmRef;
import java.util.List;

/** One parsed, well-formed request. {@code vm} and {@code regions} are null for hello. */
public record Request(String id, Op op, VmRef vm, List<RegionRequest> regions) {
    public enum Op {
        hello,
        apply,
        query
    }

    /** A region of guest memory: descriptor index, guest node, byte range (length null: to the end). */
    public record RegionRequest(int fd, int guestNode, long offset, Long length) {}
}
