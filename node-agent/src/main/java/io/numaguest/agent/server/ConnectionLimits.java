package io.numaguest.agent.server;

import java.time.Duration;

/**
 * How many VMM connections the agent holds and for how long: no allowed peer may take every slot
 * (per-peer cap), nor keep one without asking anything (idle timeout).
 *
 * @param maxConnections connections at once; more get BUSY
 * @param maxPerPeer     connections at once from one peer (processes of one cgroup); more get BUSY
 * @param idleTimeout    a connection that sends no request for this long is closed
 */
public record ConnectionLimits(int maxConnections, int maxPerPeer, Duration idleTimeout) {
    public ConnectionLimits {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("--max-connections must be at least 1, not " + maxConnections);
        }
        if (maxPerPeer < 1) {
            throw new IllegalArgumentException("--max-connections-per-peer must be at least 1, not " + maxPerPeer);
        }
        if (idleTimeout.toMillis() < 1) {
            throw new IllegalArgumentException("--idle-timeout must be at least a millisecond, not " + idleTimeout);
        }
    }
}
