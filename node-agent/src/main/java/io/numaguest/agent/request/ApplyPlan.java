package io.numaguest.agent.request;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.policy.VmRef;
import java.util.List;

/** What {@link ApplyPlanner} made of an apply: every region ready, or the first one that is not. */
public sealed interface ApplyPlan {
    VmRef vm();

    Vmm vmm();

    /** Every region validated; nothing applied yet. */
    record Ready(VmRef vm, Vmm vmm, List<PlannedRegion> regions) implements ApplyPlan {
        public Ready {
            regions = List.copyOf(regions);
        }
    }

    /** A region failed validation, so nothing is applied. */
    record Rejected(VmRef vm, Vmm vmm, int guestNode, AgentException failure) implements ApplyPlan {}
}
