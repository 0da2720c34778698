package io.numaguest.agent.protocol;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.request.Request;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/** Turns one message's bytes into a {@link Request}, or says precisely what is wrong with them. */
public final class RequestParser {
    public static final int MAX_MESSAGE_BYTES = 65536;
    public static final int MAX_FDS = 16;
    public static final int MAX_REGIONS = 64;
    public static final int MAX_ID_LENGTH = 64;
    public static final int VERSION = 1;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION) // {"fd":0,"fd":1} is ambiguous: refuse it
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS) // one message, one object
            .build();
    private static final Set<String> HELLO_FIELDS = Set.of("version", "id", "op");
    private static final Set<String> MEMORY_FIELDS = Set.of("version", "id", "op", "vm", "regions");
    private static final Set<String> VM_FIELDS = Set.of("namespace", "name");
    private static final Set<String> REGION_FIELDS = Set.of("fd", "guestNode", "offset", "length");

    private RequestParser() {}

    public static Request parse(byte[] payload, int fdCount) throws InvalidRequestException {
        JsonNode root;
        try {
            // Jackson's byte parser lets overlong forms and surrogates through; the protocol says UTF-8.
            StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(payload));
        } catch (CharacterCodingException e) {
            throw new InvalidRequestException(null, ErrorCode.BAD_REQUEST, "the message is not valid UTF-8");
        }
        try {
            root = JSON.readTree(payload);
        } catch (IOException e) {
            throw new InvalidRequestException(
                    null, ErrorCode.BAD_REQUEST, "the message is not JSON: " + firstLine(e.getMessage()));
        }
        if (root == null || !root.isObject()) {
            throw new InvalidRequestException(null, ErrorCode.BAD_REQUEST, "the message must be a JSON object");
        }
        JsonNode idNode = root.path("id");
        String id = idNode.isTextual()
                        && !idNode.asText().isEmpty()
                        && idNode.asText().codePointCount(0, idNode.asText().length()) <= MAX_ID_LENGTH
                ? idNode.asText()
                : null;
        if (id == null) {
            throw new InvalidRequestException(
                    null, ErrorCode.BAD_REQUEST, "id: required, a string of 1 to " + MAX_ID_LENGTH + " characters");
        }
        try {
            return parseObject(root, id, fdCount);
        } catch (FieldError e) {
            throw new InvalidRequestException(id, e.code, e.getMessage());
        }
    }

    private static Request parseObject(JsonNode root, String id, int fdCount) throws FieldError {
        JsonNode version = root.path("version");
        if (!version.isIntegralNumber()) {
            throw new FieldError("version: required, the number " + VERSION);
        }
        if (!version.canConvertToInt() || version.intValue() != VERSION) {
            throw new FieldError(
                    ErrorCode.UNSUPPORTED_VERSION,
                    "version " + version.asText() + " is not supported; this agent speaks version " + VERSION);
        }
        String opText = root.path("op").isTextual() ? root.path("op").asText() : null;
        Request.Op op;
        try {
            op = Request.Op.valueOf(opText == null ? "" : opText);
        } catch (IllegalArgumentException e) {
            throw new FieldError(
                    "op: required, one of hello, apply, query" + (opText == null ? "" : " (got '" + opText + "')"));
        }
        if (op == Request.Op.hello) {
            requireKnownFields(root, "request", HELLO_FIELDS);
            return new Request(id, op, null, null);
        }
        requireKnownFields(root, "request", MEMORY_FIELDS);
        return new Request(id, op, vm(root.path("vm")), regions(root.path("regions"), fdCount));
    }

    private static VmRef vm(JsonNode vm) throws FieldError {
        if (!vm.isObject()) {
            throw new FieldError("vm: required, an object {\"namespace\": ..., \"name\": ...}");
        }
        requireKnownFields(vm, "vm", VM_FIELDS);
        JsonNode name = vm.path("name");
        if (!name.isTextual() || name.asText().isBlank()) {
            throw new FieldError("vm.name: required, a non-empty string");
        }
        JsonNode namespace = vm.path("namespace");
        if (!namespace.isMissingNode() && !namespace.isTextual()) {
            throw new FieldError("vm.namespace: must be a string");
        }
        return new VmRef(namespace.isTextual() ? namespace.asText() : null, name.asText());
    }

    private static List<Request.RegionRequest> regions(JsonNode regions, int fdCount) throws FieldError {
        if (!regions.isArray() || regions.isEmpty()) {
            throw new FieldError("regions: required, a list of 1 to " + MAX_REGIONS + " regions");
        }
        if (regions.size() > MAX_REGIONS) {
            throw new FieldError("regions: " + regions.size() + " regions, at most " + MAX_REGIONS + " per request");
        }
        List<Request.RegionRequest> parsed = new ArrayList<>();
        for (int i = 0; i < regions.size(); i++) {
            String at = "regions[" + i + "]";
            JsonNode region = regions.get(i);
            if (!region.isObject()) {
                throw new FieldError(at + ": must be an object");
            }
            requireKnownFields(region, at, REGION_FIELDS);
            int fd = (int) number(region, "fd", at, 0, Integer.MAX_VALUE, null);
            if (fd >= fdCount) {
                throw new FieldError(
                        ErrorCode.BAD_FD,
                        at + ".fd: index " + fd + ", but the message carries " + fdCount + " descriptor(s)");
            }
            int guestNode = (int) number(region, "guestNode", at, 0, GuestNodePolicy.MAX_GUEST_NODE, null);
            long offset = number(region, "offset", at, 0, Long.MAX_VALUE, 0L);
            Long length = region.has("length") ? number(region, "length", at, 1, Long.MAX_VALUE, null) : null;
            parsed.add(new Request.RegionRequest(fd, guestNode, offset, length));
        }
        return parsed;
    }

    /** A whole number field within [min, max]; {@code fallback} null means required. */
    private static long number(JsonNode parent, String field, String at, long min, long max, Long fallback)
            throws FieldError {
        JsonNode value = parent.path(field);
        if (value.isMissingNode() && fallback != null) {
            return fallback;
        }
        if (!value.isIntegralNumber()
                || !value.canConvertToLong()
                || value.longValue() < min
                || value.longValue() > max) {
            throw new FieldError(
                    at + "." + field + ": " + (value.isMissingNode() ? "required, " : "") + "a whole number from " + min
                            + " to " + max + (value.isMissingNode() ? "" : " (got " + value + ")"));
        }
        return value.longValue();
    }

    private static void requireKnownFields(JsonNode object, String where, Set<String> known) throws FieldError {
        for (Iterator<String> names = object.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!known.contains(name)) {
                throw new FieldError(where + ": unknown field '" + name + "' (known: "
                        + known.stream().sorted().collect(Collectors.joining(", ")) + ")");
            }
        }
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unreadable";
        }
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }

    /** A field problem found after the id was read, so the error can carry it. */
    private static final class FieldError extends Exception {
        final ErrorCode code;

        FieldError(String message) {
            this(ErrorCode.BAD_REQUEST, message);
        }

        FieldError(ErrorCode code, String message) {
            super(message);
            this.code = code;
        }
    }
}
