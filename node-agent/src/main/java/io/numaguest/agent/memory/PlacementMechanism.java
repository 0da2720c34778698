package io.numaguest.agent.memory;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.policy.GuestNodePolicy;

/**
 * One way of putting a policy on guest memory. Each says in its own documentation what
 * {@link RegionOutcome#verified()} means for it, since the kernel offers each a different proof.
 */
sealed interface PlacementMechanism permits MbindSharedPolicy, HugetlbPrefault, Fbind {
    /** The name it goes by in responses and in the NGM status. */
    PolicyMechanism name();

    /** Puts {@code policy} on {@code range} of {@code file}; the caller serialises calls per file. */
    RegionOutcome place(GuestMemoryFile file, Extent range, GuestNodePolicy policy) throws AgentException;
}
