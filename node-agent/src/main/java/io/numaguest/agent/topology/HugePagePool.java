package io.numaguest.agent.topology;

/** Huge pages of one size on one host node. */
public record HugePagePool(long pageSizeBytes, long total, long free) {}
