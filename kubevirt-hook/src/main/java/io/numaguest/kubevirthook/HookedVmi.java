package io.numaguest.kubevirthook;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The VMI a hook call is about, read from the JSON virt-launcher sends: its identity and, when a
 * NumaGuestMemory targets it, the request the operator put in its {@value #ANNOTATION} annotation,
 * e.g. {@code {"enforcement":"Strict","guestNodes":[{"guestNode":0,"size":"2Gi"},{"guestNode":1}]}}.
 */
public record HookedVmi(VmiIdentity identity, Optional<GuestMemoryRequest> request) {
    public static final String ANNOTATION = "numaguest.io/guest-memory";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern QUANTITY = Pattern.compile("([0-9]+)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?");

    public static HookedVmi fromJson(byte[] vmiJson) {
        JsonNode vmi;
        try {
            vmi = JSON.readTree(vmiJson);
        } catch (IOException e) {
            throw new IllegalArgumentException("the VMI is not JSON: " + e.getMessage(), e);
        }
        JsonNode metadata = vmi == null ? null : vmi.path("metadata");
        if (metadata == null
                || !metadata.path("namespace").isTextual()
                || !metadata.path("name").isTextual()) {
            throw new IllegalArgumentException("the VMI has no metadata.namespace and metadata.name");
        }
        var identity = new VmiIdentity(
                metadata.get("namespace").asText(), metadata.get("name").asText());
        JsonNode annotation = metadata.path("annotations").path(ANNOTATION);
        if (annotation.isMissingNode()) {
            return new HookedVmi(identity, Optional.empty());
        }
        return new HookedVmi(identity, Optional.of(request(identity, annotation.asText())));
    }

    private static GuestMemoryRequest request(VmiIdentity vmi, String annotation) {
        String where = "annotation " + ANNOTATION + " of VMI " + vmi.vmName();
        JsonNode request;
        try {
            request = JSON.readTree(annotation);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(where + " is not JSON: " + e.getOriginalMessage(), e);
        }
        if (request == null || !request.path("guestNodes").isArray()) {
            throw new IllegalArgumentException(where + " has no guestNodes list");
        }
        List<GuestNodeRequest> guestNodes = new ArrayList<>();
        for (JsonNode node : request.get("guestNodes")) {
            if (!node.path("guestNode").canConvertToInt()) {
                throw new IllegalArgumentException(where + ": a guest node has no guestNode number");
            }
            JsonNode size = node.path("size");
            OptionalLong bytes =
                    size.isMissingNode() ? OptionalLong.empty() : OptionalLong.of(bytes(where, size.asText()));
            guestNodes.add(new GuestNodeRequest(node.get("guestNode").asInt(), bytes));
        }
        return new GuestMemoryRequest(guestNodes, request.path("enforcement").asText("Strict"));
    }

    /** A whole-number Kubernetes quantity in bytes (the forms a memory size takes: 4Gi, 512Mi, 1G, 1048576). */
    static long bytes(String where, String quantity) {
        Matcher matcher = QUANTITY.matcher(quantity);
        if (!matcher.matches()) {
            throw new IllegalArgumentException(where + ": size " + quantity + " is not a whole quantity such as 2Gi");
        }
        long scale = switch (matcher.group(2) == null ? "" : matcher.group(2)) {
            case "" -> 1;
            case "k" -> 1000L;
            case "M" -> 1000L * 1000;
            case "G" -> 1000L * 1000 * 1000;
            case "T" -> 1000L * 1000 * 1000 * 1000;
            case "P" -> 1000L * 1000 * 1000 * 1000 * 1000;
            case "Ki" -> 1L << 10;
            case "Mi" -> 1L << 20;
            case "Gi" -> 1L << 30;
            case "Ti" -> 1L << 40;
            default -> 1L << 50;
        };
        try {
            return Math.multiplyExact(Long.parseLong(matcher.group(1)), scale);
        } catch (ArithmeticException | NumberFormatException e) {
            throw new IllegalArgumentException(where + ": size " + quantity + " is too large", e);
        }
    }
}
