package io.numaguest.agent.protocol;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.numaguest.agent.error.Refusal;
import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.memory.RegionOutcome;
import io.numaguest.agent.policy.PolicyFlag;
import io.numaguest.agent.request.RegionResult;
import io.numaguest.agent.request.Result;
import io.numaguest.agent.topology.HostNode;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.HugePagePool;
import io.numaguest.agent.topology.NodeList;

/** Turns results into the response messages of protocol v1: the only place where a result becomes JSON. */
public final class Responses {
    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private Responses() {
    }

    /** The response to request {@code id} (null when no id could be read) that came to {@code result}. */
    public static byte[] encode(String id, Result result) {
        ObjectNode response = JSON.createObjectNode();
        response.put("version", RequestParser.VERSION);
        response.put("id", id);
        response.put("ok", !(result instanceof Result.Refused));
        switch (result) {
            case Result.Hello hello -> hello(response, hello);
            case Result.Ok ok -> regions(response, ok.regions());
            case Result.Refused refused -> {
                if (!refused.regions().isEmpty()) {
                    regions(response, refused.regions());
                }
                response.set("error", error(refused.refusal()));
            }
        }
        return bytes(response);
    }

    /** A response that refuses before any request was read (at connect, or BUSY). */
    public static byte[] refusal(Refusal refusal) {
        return encode(null, new Result.Refused(refusal, List.of()));
    }

    private static ObjectNode error(Refusal refusal) {
        ObjectNode error = JSON.createObjectNode();
        error.put("code", refusal.code().name());
        error.put("message", refusal.message());
        if (refusal.errno() != null) {
            error.put("errno", refusal.errno());
        }
        return error;
    }

    private static void hello(ObjectNode response, Result.Hello hello) {
        HostTopology topology = hello.topology();
        response.put("agent", hello.agentVersion());
        response.put("node", hello.nodeName());
        response.put("pageSizeBytes", hello.pageSizeBytes());
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
        hello.mechanisms().stream().map(PolicyMechanism::wireName).forEach(list::add);
    }

    private static void regions(ObjectNode response, List<RegionResult> results) {
        ArrayNode regions = response.putArray("regions");
        for (RegionResult result : results) {
            ObjectNode region = regions.addObject();
            region.put("guestNode", result.request().guestNode());
            region.put("fd", result.request().fd());
            region.put("offset", result.range().offset());
            region.put("length", result.range().length());
            switch (result) {
                case RegionResult.Applied applied -> {
                    region.put("applied", true);
                    outcome(region, applied.outcome());
                }
                case RegionResult.Observed observed -> outcome(region, observed.outcome());
                case RegionResult.Failed failed -> {
                    region.put("applied", false);
                    region.set("error", error(failed.refusal()));
                }
                case RegionResult.NotAttempted notAttempted -> region.put("applied", false);
            }
        }
    }

    private static void outcome(ObjectNode region, RegionOutcome outcome) {
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
    }

    private static byte[] bytes(ObjectNode response) {
        try {
            return JSON.writeValueAsBytes(response);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a response tree failed to serialise", e);
        }
    }
}
