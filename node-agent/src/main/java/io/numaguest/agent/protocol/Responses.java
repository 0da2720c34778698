package io.numaguest.agent.protocol;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.policy.PolicyFlag;
import io.numaguest.agent.topology.HostNode;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.HugePagePool;
import io.numaguest.agent.topology.NodeList;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.error.AgentException;

/** Builds the response messages of protocol v1. */
public final class Responses {
    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private Responses() {
    }

    public static ObjectNode ok(String id) {
        ObjectNode response = JSON.createObjectNode();
        response.put("version", RequestParser.VERSION);
        response.put("id", id);
        response.put("ok", true);
        return response;
    }

    public static ObjectNode error(String id, ErrorCode code, String message, Integer errno) {
        ObjectNode response = ok(id);
        response.put("ok", false);
        response.set("error", errorObject(code, message, errno));
        return response;
    }

    public static ObjectNode errorObject(ErrorCode code, String message, Integer errno) {
        ObjectNode error = JSON.createObjectNode();
        error.put("code", code.name());
        error.put("message", message);
        if (errno != null) {
            error.put("errno", errno);
        }
        return error;
    }

    public static ObjectNode hello(String id, String agentVersion, String node, long pageSize, HostTopology topology,
                                   List<String> mechanisms) {
        ObjectNode response = ok(id);
        response.put("agent", agentVersion);
        response.put("node", node);
        response.put("pageSizeBytes", pageSize);
        ArrayNode nodes = response.putArray("numaNodes");
        for (HostNode hostNode : topology.nodes()) {
            ObjectNode n = nodes.addObject();
            n.put("id", hostNode.id());
            n.put("memTotalBytes", hostNode.memTotalBytes());
            n.put("memFreeBytes", hostNode.memFreeBytes());
            n.put("cpus", NodeList.format(hostNode.cpus()));
            ArrayNode distances = n.putArray("distances");
            hostNode.distances().forEach(distances::add);
            n.put("allowed", topology.allowedMems().contains(hostNode.id()));
            ArrayNode hugepages = n.putArray("hugepages");
            for (HugePagePool pool : hostNode.hugepages()) {
                hugepages.addObject().put("pageSizeBytes", pool.pageSizeBytes()).put("total", pool.total()).put("free", pool.free());
            }
        }
        ArrayNode list = response.putArray("mechanisms");
        mechanisms.forEach(list::add);
        return response;
    }

    /** A region's entry in an apply or query response. */
    public static ObjectNode region(Request.RegionRequest request, Extent range, RegionOutcome outcome, boolean applyResponse) {
        ObjectNode region = regionHeader(request.guestNode(), request.fd(), range.offset(), range.length());
        if (applyResponse) {
            region.put("applied", true);
        }
        region.put("fdKind", outcome.kind().wireName());
        region.put("policy", outcome.policy().name());
        ArrayNode hostNodes = region.putArray("hostNodes");
        outcome.hostNodes().forEach(hostNodes::add);
        if (!outcome.flags().isEmpty()) {
            ArrayNode flags = region.putArray("flags");
            outcome.flags().stream().map(PolicyFlag::name).sorted().forEach(flags::add);
        }
        if (outcome.mechanism() != null) {
            region.put("mechanism", outcome.mechanism().wireName());
            region.put("verified", outcome.verified());
        }
        region.put("pageSizeBytes", outcome.pageSizeBytes());
        if (outcome.pagesByHostNode() != null) {
            ObjectNode pages = region.putObject("pagesByHostNode");
            for (Map.Entry<Integer, Long> entry : outcome.pagesByHostNode().entrySet()) {
                pages.put(String.valueOf(entry.getKey()), entry.getValue());
            }
        }
        if (!outcome.notes().isEmpty()) {
            ArrayNode notes = region.putArray("notes");
            outcome.notes().forEach(notes::add);
        }
        return region;
    }

    /** A region of an apply that failed, or was not attempted after an earlier one failed. */
    public static ObjectNode regionNotApplied(Request.RegionRequest request, Extent range, AgentException failure) {
        ObjectNode region = regionHeader(request.guestNode(), request.fd(), range.offset(), range.length());
        region.put("applied", false);
        if (failure != null) {
            region.set("error", errorObject(failure.code(), failure.getMessage(), failure.errno()));
        }
        return region;
    }

    private static ObjectNode regionHeader(int guestNode, int fd, long offset, Long length) {
        ObjectNode region = JSON.createObjectNode();
        region.put("guestNode", guestNode);
        region.put("fd", fd);
        region.put("offset", offset);
        if (length != null) {
            region.put("length", length);
        }
        return region;
    }

    public static byte[] bytes(ObjectNode response) {
        try {
            return JSON.writeValueAsBytes(response);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a response tree failed to serialise", e);
        }
    }
}
