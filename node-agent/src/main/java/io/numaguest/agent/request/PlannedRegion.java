package io.numaguest.agent.request;

import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.policy.GuestNodePolicy;

/**
 * A region validated for an apply: everything needed to apply it without another check.
 * {@code vmmCaveat}: why the kernel will honour the policy only in part for this VMM, or null.
 */
public record PlannedRegion(
        InspectedRegion region, GuestNodePolicy policy, PolicyMechanism mechanism, String vmmCaveat) {}
