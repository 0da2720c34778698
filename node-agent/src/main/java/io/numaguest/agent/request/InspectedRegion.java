package io.numaguest.agent.request;

import io.numaguest.agent.memory.GuestMemoryFile;
import io.numaguest.agent.nativeaccess.Extent;

/** A region whose descriptor is guest memory and whose range lies inside it: enough for a query. */
public record InspectedRegion(int index, Request.RegionRequest request, GuestMemoryFile file, Extent range) {
    /** "region 1 (guest node 3)": where a refusal's message starts. */
    public String context() {
        return ApplyPlanner.context(index, request);
    }
}
