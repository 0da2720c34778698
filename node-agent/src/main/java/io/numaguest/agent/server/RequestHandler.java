package io.numaguest.agent.server;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedSet;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.numaguest.agent.memory.GuestMemoryFile;
import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.memory.RegionEnforcer;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.OpenMode;
import io.numaguest.agent.nativeaccess.PeerCredentials;
import io.numaguest.agent.nativeaccess.ReceivedMessage;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.protocol.InvalidRequestException;
import io.numaguest.agent.protocol.Request;
import io.numaguest.agent.protocol.RequestParser;
import io.numaguest.agent.protocol.Responses;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.MemsAllowed;
import io.numaguest.agent.topology.NodeList;

/**
 * Answers one message: parse, authorize, validate every region, then apply (or query) them in order.
 * Whatever happens, every descriptor the message carried is closed before the answer goes out,
 * and no exception escapes: the worst a request can get is an INTERNAL error.
 */
public final class RequestHandler {
    private static final Logger LOG = Logger.getLogger(RequestHandler.class.getName());

    /** Identity reported by hello. */
    public record AgentIdentity(String version, String nodeName) {
    }

    private final AgentIdentity identity;
    private final PolicySource policies;
    private final PeerAuthorizer authorizer;
    private final RegionEnforcer enforcer;
    private final Supplier<HostTopology> topologyReader;
    private final AgentMetrics metrics;
    private final ApplyObserver observer;
    private volatile HostTopology topology;

    public RequestHandler(AgentIdentity identity, PolicySource policies, PeerAuthorizer authorizer, RegionEnforcer enforcer,
                          Supplier<HostTopology> topologyReader, AgentMetrics metrics, ApplyObserver observer) {
        this.identity = identity;
        this.policies = policies;
        this.authorizer = authorizer;
        this.enforcer = enforcer;
        this.topologyReader = topologyReader;
        this.metrics = metrics;
        this.observer = observer;
        this.topology = topologyReader.get();
    }

    /** The response for a peer that may make no request at all (id null), or null when it may connect. */
    public byte[] refusal(PeerProcess peer) {
        try {
            authorizer.authorize(peer, null);
            return null;
        } catch (AgentException e) {
            metrics.request("connect", e.code().name());
            return Responses.bytes(Responses.error(null, e.code(), e.getMessage(), null));
        }
    }

    /**
     * A connected VMM: its credentials, and its cpuset's mems read once per connection rather than
     * on every apply (a VMM's cpuset does not change under a running connection in practice).
     */
    public record Peer(PeerProcess process, Optional<SortedSet<Integer>> memsAllowed) {
        public PeerCredentials credentials() {
            return process.credentials();
        }
    }

    public Peer peer(PeerProcess process) {
        return new Peer(process, process.status().flatMap(MemsAllowed::fromStatus));
    }

    public byte[] handle(ReceivedMessage message, Peer connected) {
        PeerCredentials peer = connected.credentials();
        metrics.fdsHeld().addAndGet(message.fds().length);
        String op = "invalid";
        String id = null;
        ObjectNode response;
        try {
            Request request = parse(message);
            op = request.op().name();
            id = request.id();
            authorizer.authorize(connected.process(), request.vm());
            response = switch (request.op()) {
                case hello -> hello(request);
                case apply -> timedApply(request, message.fds(), connected);
                case query -> query(request, message.fds());
            };
        } catch (InvalidRequestException e) {
            id = e.requestId();
            response = Responses.error(id, e.code(), e.getMessage(), null);
        } catch (AgentException e) {
            response = Responses.error(id, e.code(), e.getMessage(), e.errno());
        } catch (RuntimeException | Error e) {
            LOG.log(Level.SEVERE, "request " + id + " from pid " + peer.pid() + " failed unexpectedly", e);
            response = Responses.error(id, ErrorCode.INTERNAL, "the agent failed: " + e, null);
        } finally {
            for (int fd : message.fds()) {
                KernelFiles.close(fd);
            }
            metrics.fdsHeld().addAndGet(-message.fds().length);
        }
        boolean ok = response.path("ok").asBoolean();
        String result = ok ? "ok" : response.path("error").path("code").asText();
        metrics.request(op, result);
        if (!ok) {
            String error = response.path("error").path("message").asText();
            LOG.fine(() -> "request from pid " + peer.pid() + " refused, " + result + ": " + error);
        }
        return Responses.bytes(response);
    }

    private static Request parse(ReceivedMessage message) throws InvalidRequestException, AgentException {
        if (message.payloadTruncated()) {
            throw new AgentException(ErrorCode.BAD_REQUEST, "the message is longer than "
                    + RequestParser.MAX_MESSAGE_BYTES + " bytes");
        }
        if (message.fdsTruncated()) {
            throw new AgentException(ErrorCode.BAD_REQUEST, "the message carries more than " + RequestParser.MAX_FDS
                    + " descriptors: send at most " + RequestParser.MAX_FDS + " per request");
        }
        return RequestParser.parse(message.payload(), message.fds().length);
    }

    private ObjectNode hello(Request request) {
        HostTopology current = topologyReader.get();
        topology = current;
        List<String> mechanisms = enforcer.mechanisms().stream().map(PolicyMechanism::wireName).toList();
        return Responses.hello(request.id(), identity.version(), identity.nodeName(), 4096, current, mechanisms);
    }

    /**
     * A region after validation: everything needed to apply it without another check.
     * {@code vmmCaveat}: why the kernel will honour the policy only in part for this VMM, or null.
     */
    private record PreparedRegion(Request.RegionRequest request, GuestMemoryFile file, Extent range,
                                  GuestNodePolicy policy, PolicyMechanism mechanism, String vmmCaveat) {
    }

    private ObjectNode timedApply(Request request, int[] fds, Peer peer) throws AgentException {
        long start = System.nanoTime();
        try {
            return apply(request, fds, peer);
        } finally {
            metrics.applyLatency(System.nanoTime() - start);
        }
    }

    private ObjectNode apply(Request request, int[] fds, Peer connected) throws AgentException {
        PeerCredentials peer = connected.credentials();
        List<PreparedRegion> prepared;
        try {
            prepared = prepare(request, fds, connected);
        } catch (RegionRefused e) {
            observer.refused(request.vm(), peer, e.guestNode, e.failure);
            throw e.failure;
        }
        ObjectNode response = Responses.ok(request.id());
        ArrayNode results = response.putArray("regions");
        AgentException failure = null;
        for (int i = 0; i < prepared.size(); i++) {
            PreparedRegion region = prepared.get(i);
            if (failure != null) {
                results.add(Responses.regionNotApplied(region.request(), region.range(), null));
                continue;
            }
            String context = "region " + i + " (guest node " + region.request().guestNode() + ")";
            try {
                RegionOutcome outcome = enforcer.apply(region.file(), region.range(), region.policy(), region.mechanism());
                if (region.vmmCaveat() != null) {
                    outcome = outcome.unverified(region.vmmCaveat());
                }
                results.add(Responses.region(region.request(), region.range(), outcome, true));
                metrics.regionApplied(outcome.mechanism().wireName());
                observer.applied(request.vm(), peer, region.request().guestNode(), outcome);
            } catch (AgentException | RuntimeException e) {
                if (e instanceof RuntimeException) {
                    LOG.log(Level.SEVERE, "applying " + context + " of request " + request.id() + " failed unexpectedly", e);
                }
                failure = e instanceof AgentException refusal ? refusal.within(context)
                        : new AgentException(ErrorCode.INTERNAL, context + ": the agent failed: " + e);
                results.add(Responses.regionNotApplied(region.request(), region.range(), failure));
                observer.refused(request.vm(), peer, region.request().guestNode(), failure);
            }
        }
        if (failure != null) {
            response.put("ok", false);
            response.set("error", Responses.errorObject(failure.code(), failure.getMessage(), failure.errno()));
        }
        return response;
    }

    private ObjectNode query(Request request, int[] fds) throws AgentException {
        List<PreparedRegion> prepared;
        try {
            prepared = prepare(request, fds, null);
        } catch (RegionRefused e) {
            throw e.failure;
        }
        ObjectNode response = Responses.ok(request.id());
        ArrayNode results = response.putArray("regions");
        for (int i = 0; i < prepared.size(); i++) {
            PreparedRegion region = prepared.get(i);
            try {
                results.add(Responses.region(region.request(), region.range(), enforcer.query(region.file(), region.range()), false));
            } catch (AgentException e) {
                throw e.within("region " + i + " (guest node " + region.request().guestNode() + ")");
            }
        }
        return response;
    }

    /** A region that failed validation, and which guest node it was for. */
    private static final class RegionRefused extends Exception {
        final int guestNode;
        final AgentException failure;

        RegionRefused(int guestNode, AgentException failure) {
            super(failure.getMessage(), failure, false, false);
            this.guestNode = guestNode;
            this.failure = failure;
        }
    }

    /**
     * Validates every region before anything is applied, so a bad region changes nothing.
     *
     * @param applyingFor the peer of an apply, whose policies are looked up and checked; null for a query
     */
    private List<PreparedRegion> prepare(Request request, int[] fds, Peer applyingFor) throws RegionRefused {
        boolean withPolicy = applyingFor != null;
        Map<Integer, GuestMemoryFile> files = new HashMap<>();
        Map<Integer, PolicyMechanism> mechanisms = new HashMap<>();
        List<PreparedRegion> prepared = new ArrayList<>();
        for (int i = 0; i < request.regions().size(); i++) {
            Request.RegionRequest region = request.regions().get(i);
            String context = "region " + i + " (guest node " + region.guestNode() + ")";
            try {
                GuestMemoryFile file = files.get(region.fd());
                if (file == null) {
                    file = GuestMemoryFile.inspect(fds[region.fd()]);
                    files.put(region.fd(), file);
                }
                Extent range = enforcer.range(file, region.offset(), region.length());
                checkNoOverlap(prepared, region.fd(), file, range);
                GuestNodePolicy policy = null;
                PolicyMechanism mechanism = null;
                String caveat = null;
                if (withPolicy) {
                    if (file.openMode() != OpenMode.READ_WRITE) {
                        throw new AgentException(ErrorCode.BAD_FD, "descriptor is open read-only: the agent sets a file's policy "
                                + "(and moves its pages) only through a descriptor open read-write, as the VMM's own is");
                    }
                    policy = policyFor(request, region);
                    caveat = vmmCaveat(policy, applyingFor);
                    mechanism = mechanisms.get(region.fd());
                    if (mechanism == null) {
                        mechanism = enforcer.mechanismFor(file);
                        mechanisms.put(region.fd(), mechanism);
                    }
                }
                prepared.add(new PreparedRegion(region, file, range, policy, mechanism, caveat));
            } catch (AgentException e) {
                throw new RegionRefused(region.guestNode(), e.within(context));
            }
        }
        return prepared;
    }

    private GuestNodePolicy policyFor(Request request, Request.RegionRequest region) throws AgentException {
        GuestNodePolicy policy = policies.find(request.vm(), region.guestNode()).orElseThrow(() -> new AgentException(
                ErrorCode.NO_POLICY, "no policy for guest node " + region.guestNode() + " of VM " + request.vm()));
        for (int node : policy.hostNodes()) {
            Optional<String> unusable = topology.unusableReason(node);
            if (unusable.isPresent()) {
                topology = topologyReader.get(); // a node may have come online since the last read
                unusable = topology.unusableReason(node);
            }
            if (unusable.isPresent()) {
                throw new AgentException(ErrorCode.POLICY_REJECTED, "policy " + policy.policy() + " " + policy.hostNodes()
                        + " cannot be applied: " + unusable.get());
            }
        }
        return policy;
    }

    /**
     * A shared policy is evaluated in the task that allocates, the VMM, and the kernel confines every
     * allocation to that task's cpuset mems. Host nodes outside them are ignored: all of them, and the
     * policy cannot work at all (refused); some of them, and it works in part (not verified).
     */
    private static String vmmCaveat(GuestNodePolicy policy, Peer vmm) throws AgentException {
        Optional<SortedSet<Integer>> vmmMems = vmm.memsAllowed();
        if (vmmMems.isEmpty() || !policy.policy().takesHostNodes() || vmmMems.get().containsAll(policy.hostNodes())) {
            return null;
        }
        List<Integer> usable = policy.hostNodes().stream().filter(vmmMems.get()::contains).toList();
        String mems = "the VMM (pid " + vmm.credentials().pid() + ") may allocate only on host nodes " + NodeList.format(vmmMems.get())
                + " (its cpuset's mems)";
        if (usable.isEmpty()) {
            throw new AgentException(ErrorCode.POLICY_REJECTED, mems + ", so the kernel would ignore a policy on host nodes "
                    + policy.hostNodes() + ": place this guest node within the VMM's cpuset, or widen it");
        }
        return mems + ": of host nodes " + policy.hostNodes() + " only " + usable + " can be used";
    }

    /** Regions overlap when they share bytes of one file (device and inode), whichever descriptors name it. */
    private static void checkNoOverlap(List<PreparedRegion> earlier, int fdIndex, GuestMemoryFile file, Extent range) throws AgentException {
        for (PreparedRegion other : earlier) {
            boolean sameFile = other.file().device() == file.device() && other.file().inode() == file.inode();
            if (sameFile && other.range().offset() < range.end() && range.offset() < other.range().end()) {
                throw new AgentException(ErrorCode.BAD_REQUEST, "overlaps the region of guest node "
                        + other.request().guestNode() + (other.request().fd() == fdIndex ? " on the same descriptor"
                        : " on descriptor " + other.request().fd() + ", which is the same file (inode " + file.inode() + ")"));
            }
        }
    }
}
