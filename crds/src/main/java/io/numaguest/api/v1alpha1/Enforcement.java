package io.numaguest.api.v1alpha1;

/** What the agent does when a VMM's memory cannot carry the chosen policy. */
public enum Enforcement {
    /** Refuse the VMM's memory and report the NumaGuestMemory Degraded. */
    Strict,
    /** Apply what can be applied, report the rest, never refuse. */
    BestEffort
}
