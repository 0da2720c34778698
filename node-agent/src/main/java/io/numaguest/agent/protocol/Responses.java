package io.numaguest.agent.protocol;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
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
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/**
 * Turns results into the response messages of protocol v1: the only place where a result becomes
 * JSON. Written field by field with Jackson's streaming generator: building a tree first cost every
 * apply a few dozen objects and a second walk.
 */
public final class Responses {
    private static final JsonFactory JSON = JsonFactory.builder().build();
    /** An apply's answer for one region is about 300 bytes. */
    private static final int EXPECTED_BYTES = 512;

    private Responses() {}

    /** The response to request {@code id} (null when no id could be read) that came to {@code result}. */
    public static byte[] encode(String id, Result result) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(EXPECTED_BYTES);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            json.writeNumberField("version", RequestParser.VERSION);
            json.writeStringField("id", id);
            json.writeBooleanField("ok", !(result instanceof Result.Refused));
            switch (result) {
                case Result.Hello hello -> hello(json, hello);
                case Result.Ok ok -> regions(json, ok.regions());
                case Result.Refused refused -> {
                    if (!refused.regions().isEmpty()) {
                        regions(json, refused.regions());
                    }
                    error(json, refused.refusal());
                }
            }
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException("a response failed to serialise into memory", e);
        }
        return out.toByteArray();
    }

    /** A response that refuses before any request was read (at connect, or BUSY). */
    public static byte[] refusal(Refusal refusal) {
        return encode(null, new Result.Refused(refusal, List.of()));
    }

    private static void error(JsonGenerator json, Refusal refusal) throws IOException {
        json.writeObjectFieldStart("error");
        json.writeStringField("code", refusal.code().name());
        json.writeStringField("message", refusal.message());
        if (refusal.errno() != null) {
            json.writeNumberField("errno", refusal.errno());
        }
        json.writeEndObject();
    }

    private static void hello(JsonGenerator json, Result.Hello hello) throws IOException {
        HostTopology topology = hello.topology();
        json.writeStringField("agent", hello.agentVersion());
        json.writeStringField("node", hello.nodeName());
        json.writeNumberField("pageSizeBytes", hello.pageSizeBytes());
        json.writeArrayFieldStart("numaNodes");
        for (HostNode hostNode : topology.nodes()) {
            json.writeStartObject();
            json.writeNumberField("id", hostNode.id());
            json.writeNumberField("memTotalBytes", hostNode.memTotalBytes());
            json.writeNumberField("memFreeBytes", hostNode.memFreeBytes());
            json.writeStringField("cpus", NodeList.format(hostNode.cpus()));
            numbers(json, "distances", hostNode.distances());
            json.writeBooleanField("allowed", topology.allowedMems().contains(hostNode.id()));
            json.writeArrayFieldStart("hugepages");
            for (HugePagePool pool : hostNode.hugepages()) {
                json.writeStartObject();
                json.writeNumberField("pageSizeBytes", pool.pageSizeBytes());
                json.writeNumberField("total", pool.total());
                json.writeNumberField("free", pool.free());
                json.writeEndObject();
            }
            json.writeEndArray();
            json.writeEndObject();
        }
        json.writeEndArray();
        json.writeArrayFieldStart("mechanisms");
        for (PolicyMechanism mechanism : hello.mechanisms()) {
            json.writeString(mechanism.wireName());
        }
        json.writeEndArray();
    }

    private static void regions(JsonGenerator json, List<RegionResult> results) throws IOException {
        json.writeArrayFieldStart("regions");
        for (RegionResult result : results) {
            json.writeStartObject();
            json.writeNumberField("guestNode", result.request().guestNode());
            json.writeNumberField("fd", result.request().fd());
            json.writeNumberField("offset", result.range().offset());
            json.writeNumberField("length", result.range().length());
            switch (result) {
                case RegionResult.Applied applied -> {
                    json.writeBooleanField("applied", true);
                    outcome(json, applied.outcome());
                }
                case RegionResult.Observed observed -> outcome(json, observed.outcome());
                case RegionResult.Failed failed -> {
                    json.writeBooleanField("applied", false);
                    error(json, failed.refusal());
                }
                case RegionResult.NotAttempted notAttempted -> json.writeBooleanField("applied", false);
            }
            json.writeEndObject();
        }
        json.writeEndArray();
    }

    private static void outcome(JsonGenerator json, RegionOutcome outcome) throws IOException {
        json.writeStringField("fdKind", outcome.kind().wireName());
        json.writeStringField("policy", outcome.policy().name());
        numbers(json, "hostNodes", outcome.hostNodes());
        if (!outcome.flags().isEmpty()) {
            json.writeArrayFieldStart("flags");
            for (String flag :
                    outcome.flags().stream().map(PolicyFlag::name).sorted().toList()) {
                json.writeString(flag);
            }
            json.writeEndArray();
        }
        if (outcome.mechanism() != null) {
            json.writeStringField("mechanism", outcome.mechanism().wireName());
            json.writeBooleanField("verified", outcome.verified());
        }
        json.writeNumberField("pageSizeBytes", outcome.pageSizeBytes());
        if (outcome.pagesByHostNode() != null) {
            json.writeObjectFieldStart("pagesByHostNode");
            for (Map.Entry<Integer, Long> entry : outcome.pagesByHostNode().entrySet()) {
                json.writeNumberField(String.valueOf(entry.getKey()), entry.getValue());
            }
            json.writeEndObject();
        }
        if (!outcome.notes().isEmpty()) {
            json.writeArrayFieldStart("notes");
            for (String note : outcome.notes()) {
                json.writeString(note);
            }
            json.writeEndArray();
        }
    }

    private static void numbers(JsonGenerator json, String field, List<Integer> values) throws IOException {
        json.writeArrayFieldStart(field);
        for (int value : values) {
            json.writeNumber(value);
        }
        json.writeEndArray();
    }
}
