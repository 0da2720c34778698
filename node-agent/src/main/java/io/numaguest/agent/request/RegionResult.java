package io.numaguest.agent.request;

import io.numaguest.agent.error.Refusal;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.Extent;

/** One region of an apply or query result: which region (as asked, and the range it came to) and what became of it. */
public sealed interface RegionResult {
    Request.RegionRequest request();

    Extent range();

    /** The policy is set; {@code outcome} says how and how far it is verified. */
    record Applied(Request.RegionRequest request, Extent range, RegionOutcome outcome) implements RegionResult {}

    /** Applying this region failed; later regions were not attempted. */
    record Failed(Request.RegionRequest request, Extent range, Refusal refusal) implements RegionResult {}

    /** Not attempted, since an earlier region failed. */
    record NotAttempted(Request.RegionRequest request, Extent range) implements RegionResult {}

    /** A query's answer: what the kernel holds for the region. */
    record Observed(Request.RegionRequest request, Extent range, RegionOutcome outcome) implements RegionResult {}
}
