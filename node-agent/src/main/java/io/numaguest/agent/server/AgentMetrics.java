package io.numaguest.agent.server;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The agent's Prometheus metrics. Each counter is registered once, at its first increment (so
 * /metrics shows only the series that happened), and looked up without a builder afterwards:
 * building and registering a meter on every request cost the request path a few microseconds.
 */
public final class AgentMetrics {
    private final MeterRegistry registry;
    /** Request counters by op, then by result. */
    private final Map<String, Map<String, Counter>> requests = new ConcurrentHashMap<>();

    private final Map<String, Counter> regionsApplied = new ConcurrentHashMap<>();
    private final AtomicInteger fdsHeld = new AtomicInteger();
    private final AtomicInteger connections = new AtomicInteger();
    private final Timer applyLatency;

    public AgentMetrics(MeterRegistry registry) {
        this.registry = registry;
        Gauge.builder("numaguest_agent_fds_held", fdsHeld, AtomicInteger::get)
                .description("Descriptors received from VMMs and not yet closed")
                .register(registry);
        Gauge.builder("numaguest_agent_connections", connections, AtomicInteger::get)
                .description("Open client connections")
                .register(registry);
        applyLatency = Timer.builder("numaguest_agent_apply_duration")
                .description("Time to validate, apply, verify and count one apply request")
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1).dividedBy(100))
                .maximumExpectedValue(Duration.ofSeconds(10))
                .register(registry);
    }

    public AtomicInteger fdsHeld() {
        return fdsHeld;
    }

    public AtomicInteger connections() {
        return connections;
    }

    /** @param result "ok" or the error code */
    public void request(String op, String result) {
        Map<String, Counter> byResult = requests.computeIfAbsent(op, o -> new ConcurrentHashMap<>());
        Counter counter = byResult.get(result);
        if (counter == null) { // get first: the builder lambda captures op
            counter = byResult.computeIfAbsent(
                    result,
                    r -> Counter.builder("numaguest_agent_requests")
                            .description("Requests by operation and result")
                            .tag("op", op)
                            .tag("result", r)
                            .register(registry));
        }
        counter.increment();
    }

    /** @param limit "total" (--max-connections) or "peer" (--max-connections-per-peer) */
    public void slotsExhausted(String limit) {
        Counter.builder("numaguest_agent_connection_slots_exhausted")
                .description("Connections refused with BUSY for want of a slot, by limit")
                .tag("limit", limit)
                .register(registry)
                .increment();
    }

    public void idleClosed() {
        Counter.builder("numaguest_agent_connections_idle_closed")
                .description("Connections closed after --idle-timeout without a request")
                .register(registry)
                .increment();
    }

    public void applyLatency(long nanos) {
        applyLatency.record(nanos, TimeUnit.NANOSECONDS);
    }

    public void regionApplied(String mechanism) {
        Counter counter = regionsApplied.get(mechanism);
        if (counter == null) {
            counter = regionsApplied.computeIfAbsent(
                    mechanism,
                    m -> Counter.builder("numaguest_agent_regions_applied")
                            .description("Regions that got their policy, by mechanism")
                            .tag("mechanism", m)
                            .register(registry));
        }
        counter.increment();
    }
}
