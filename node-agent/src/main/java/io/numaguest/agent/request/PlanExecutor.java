package io.numaguest.agent.request;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.memory.RegionEnforcer;
import io.numaguest.agent.memory.RegionOutcome;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Carries out a plan region by region, in order, through the {@link RegionEnforcer}. The first
 * region that fails ends the apply: later ones are not attempted, and the result says region by
 * region what happened. The {@link ApplyObserver} hears of every region applied or refused.
 */
public final class PlanExecutor {
    private static final Logger LOG = Logger.getLogger(PlanExecutor.class.getName());

    private final RegionEnforcer enforcer;
    private final ApplyObserver observer;

    public PlanExecutor(RegionEnforcer enforcer, ApplyObserver observer) {
        this.enforcer = enforcer;
        this.observer = observer;
    }

    public Result apply(ApplyPlan plan, String requestId) {
        return switch (plan) {
            case ApplyPlan.Rejected rejected -> {
                observer.refused(rejected.vm(), rejected.vmm().credentials(), rejected.guestNode(), rejected.failure());
                yield Result.refused(rejected.failure());
            }
            case ApplyPlan.Ready ready -> apply(ready, requestId);
        };
    }

    private Result apply(ApplyPlan.Ready plan, String requestId) {
        List<RegionResult> results = new ArrayList<>(plan.regions().size());
        AgentException failure = null;
        for (PlannedRegion planned : plan.regions()) {
            InspectedRegion region = planned.region();
            if (failure != null) {
                results.add(new RegionResult.NotAttempted(region.request(), region.range()));
                continue;
            }
            try {
                RegionOutcome outcome =
                        enforcer.apply(region.file(), region.range(), planned.policy(), planned.mechanism());
                if (planned.vmmCaveat() != null) {
                    outcome = outcome.unverified(planned.vmmCaveat());
                }
                results.add(new RegionResult.Applied(region.request(), region.range(), outcome));
                observer.applied(
                        plan.vm(), plan.vmm().credentials(), region.request().guestNode(), outcome);
            } catch (AgentException | RuntimeException e) {
                if (e instanceof RuntimeException) {
                    LOG.log(
                            Level.SEVERE,
                            "applying " + region.context() + " of request " + requestId + " failed unexpectedly",
                            e);
                }
                failure = e instanceof AgentException refusal
                        ? refusal.within(region.context())
                        : new AgentException(ErrorCode.INTERNAL, region.context() + ": the agent failed: " + e);
                results.add(new RegionResult.Failed(region.request(), region.range(), failure.refusal()));
                observer.refused(
                        plan.vm(), plan.vmm().credentials(), region.request().guestNode(), failure);
            }
        }
        return failure == null ? new Result.Ok(results) : new Result.Refused(failure.refusal(), results);
    }

    /** What the kernel holds for each region; the first that cannot be read refuses the query. */
    public Result query(List<InspectedRegion> regions) {
        List<RegionResult> results = new ArrayList<>(regions.size());
        for (InspectedRegion region : regions) {
            try {
                results.add(new RegionResult.Observed(
                        region.request(), region.range(), enforcer.query(region.file(), region.range())));
            } catch (AgentException e) {
                return Result.refused(e.within(region.context()));
            }
        }
        return new Result.Ok(results);
    }
}
