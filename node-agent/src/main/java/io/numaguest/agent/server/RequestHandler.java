package io.numaguest.agent.server;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.error.Refusal;
import io.numaguest.agent.memory.RegionEnforcer;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.ReceivedMessage;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.protocol.InvalidRequestException;
import io.numaguest.agent.protocol.RequestParser;
import io.numaguest.agent.protocol.Responses;
import io.numaguest.agent.request.ApplyObserver;
import io.numaguest.agent.request.ApplyPlanner;
import io.numaguest.agent.request.PlanExecutor;
import io.numaguest.agent.request.RegionResult;
import io.numaguest.agent.request.Request;
import io.numaguest.agent.request.Result;
import io.numaguest.agent.request.Vmm;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.MemsAllowed;
import java.util.List;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Answers one message: parse it, authorize the peer for it, then hello, or plan and execute an
 * apply or a query, and encode the result. Whatever happens, every descriptor the message carried is
 * closed before the answer goes out, and no exception escapes: the worst a request can get is an
 * INTERNAL error.
 */
public final class RequestHandler {
    private static final Logger LOG = Logger.getLogger(RequestHandler.class.getName());
    private static final long BASE_PAGE_SIZE = 4096;

    /** Identity reported by hello. */
    public record AgentIdentity(String version, String nodeName) {}

    /** A connected peer: what was read of its process at connect, and the VMM it is to the request path. */
    public record Peer(PeerProcess process, Vmm vmm) {}

    private final AgentIdentity identity;
    private final PeerAuthorizer authorizer;
    private final RegionEnforcer enforcer;
    private final ApplyPlanner planner;
    private final PlanExecutor executor;
    private final AgentMetrics metrics;

    public RequestHandler(
            AgentIdentity identity,
            PolicySource policies,
            PeerAuthorizer authorizer,
            RegionEnforcer enforcer,
            Supplier<HostTopology> topologyReader,
            AgentMetrics metrics,
            ApplyObserver observer) {
        this.identity = identity;
        this.authorizer = authorizer;
        this.enforcer = enforcer;
        this.planner = new ApplyPlanner(policies, enforcer, topologyReader);
        this.executor = new PlanExecutor(enforcer, observer);
        this.metrics = metrics;
    }

    /** The response for a peer that may make no request at all (id null), or null when it may connect. */
    public byte[] refusal(PeerProcess peer) {
        try {
            authorizer.authorize(peer, null);
            return null;
        } catch (AgentException e) {
            metrics.request("connect", e.code().name());
            return Responses.refusal(new Refusal(e.code(), e.getMessage()));
        }
    }

    public Peer peer(PeerProcess process) {
        return new Peer(process, new Vmm(process.credentials(), process.status().flatMap(MemsAllowed::fromStatus)));
    }

    public byte[] handle(ReceivedMessage message, Peer peer) {
        metrics.fdsHeld().addAndGet(message.fds().length);
        String op = "invalid";
        String id = null;
        Result result;
        try {
            Request request = parse(message);
            op = request.op().name();
            id = request.id();
            authorizer.authorize(peer.process(), request.vm());
            result = switch (request.op()) {
                case hello ->
                    new Result.Hello(
                            identity.version(),
                            identity.nodeName(),
                            BASE_PAGE_SIZE,
                            planner.refreshTopology(),
                            enforcer.mechanisms());
                case apply -> apply(request, message.fds(), peer.vmm());
                case query -> executor.query(planner.planQuery(request, message.fds()));
            };
        } catch (InvalidRequestException e) {
            id = e.requestId();
            result = new Result.Refused(new Refusal(e.code(), e.getMessage()), List.of());
        } catch (AgentException e) {
            result = Result.refused(e);
        } catch (RuntimeException | Error e) {
            LOG.log(
                    Level.SEVERE,
                    "request " + id + " from pid " + peer.vmm().credentials().pid() + " failed unexpectedly",
                    e);
            result = new Result.Refused(new Refusal(ErrorCode.INTERNAL, "the agent failed: " + e), List.of());
        } finally {
            for (int fd : message.fds()) {
                KernelFiles.close(fd);
            }
            metrics.fdsHeld().addAndGet(-message.fds().length);
        }
        count(op, result, peer);
        return Responses.encode(id, result);
    }

    private Result apply(Request request, int[] fds, Vmm vmm) {
        long start = System.nanoTime();
        try {
            return executor.apply(planner.planApply(request, fds, vmm), request.id());
        } finally {
            metrics.applyLatency(System.nanoTime() - start);
        }
    }

    private void count(String op, Result result, Peer peer) {
        metrics.request(op, result.code());
        List<RegionResult> regions = switch (result) {
            case Result.Ok ok -> ok.regions();
            case Result.Refused refused -> {
                LOG.fine(() -> "request from pid " + peer.vmm().credentials().pid() + " refused, "
                        + refused.refusal().code() + ": " + refused.refusal().message());
                yield refused.regions();
            }
            case Result.Hello hello -> List.of();
        };
        for (RegionResult region : regions) {
            if (region instanceof RegionResult.Applied applied) {
                metrics.regionApplied(applied.outcome().mechanism().wireName());
            }
        }
    }

    private static Request parse(ReceivedMessage message) throws InvalidRequestException, AgentException {
        if (message.payloadTruncated()) {
            throw new AgentException(
                    ErrorCode.BAD_REQUEST, "the message is longer than " + RequestParser.MAX_MESSAGE_BYTES + " bytes");
        }
        if (message.fdsTruncated()) {
            throw new AgentException(
                    ErrorCode.BAD_REQUEST,
                    "the message carries more than " + RequestParser.MAX_FDS + " descriptors: send at most "
                            + RequestParser.MAX_FDS + " per request");
        }
        return RequestParser.parse(message.payload(), message.fds().length);
    }
}
