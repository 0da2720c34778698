package io.numaguest.agent.request;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.Refusal;
import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.topology.HostTopology;
import java.util.List;

/** What a request came to, before anything is JSON: {@code protocol} turns it into the response. */
public sealed interface Result {
    /** hello's answer: who the agent is, the host's NUMA topology, the mechanisms it can use. */
    record Hello(
            String agentVersion,
            String nodeName,
            long pageSizeBytes,
            HostTopology topology,
            List<PolicyMechanism> mechanisms)
            implements Result {
        public Hello {
            mechanisms = List.copyOf(mechanisms);
        }
    }

    /** Every region applied (or observed), in the order asked. */
    record Ok(List<RegionResult> regions) implements Result {
        public Ok {
            regions = List.copyOf(regions);
        }
    }

    /**
     * Refused, for the reason given. {@code regions} is empty when nothing was applied (the request
     * was invalid, not allowed, or a region failed validation); else it says region by region what happened.
     */
    record Refused(Refusal refusal, List<RegionResult> regions) implements Result {
        public Refused {
            regions = List.copyOf(regions);
        }
    }

    static Refused refused(AgentException failure) {
        return new Refused(failure.refusal(), List.of());
    }

    /** "ok", or the refusal's code: what the request metric counts. */
    default String code() {
        return this instanceof Refused refused ? refused.refusal().code().name() : "ok";
    }
}
