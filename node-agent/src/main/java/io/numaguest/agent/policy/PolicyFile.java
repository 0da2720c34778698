package io.numaguest.agent.policy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.yaml.snakeyaml.error.MarkedYAMLException;

/**
 * Parses the standalone policy file. Every problem is reported with its path in the file
 * ({@code vms[0].guestNodes[1].policy}) so an operator can fix it without reading code.
 */
public final class PolicyFile {
    private static final ObjectMapper YAML = YAMLMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION) // a key given twice is a mistake, not an override
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS) // a second document would be ignored otherwise
            .build();
    private static final java.util.regex.Pattern NAME_LIKE =
            java.util.regex.Pattern.compile("[A-Za-z][A-Za-z0-9_.-]{0,39}");
    private static final String YAML_EVENT = "<org.yaml.snakeyaml.events.";
    private static final Set<String> FILE_FIELDS = Set.of("vms");
    private static final Set<String> VM_FIELDS = Set.of("name", "namespace", "guestNodes");
    private static final Set<String> GUEST_NODE_FIELDS = Set.of("guestNode", "policy", "hostNodes", "flags", "migrate");

    private PolicyFile() {}

    /** The policies of a file, by VM and guest node. */
    public static Map<VmRef, Map<Integer, GuestNodePolicy>> parse(String yaml) throws InvalidPolicyFileException {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            throw new InvalidPolicyFileException("not valid YAML: " + yamlProblem(e));
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            // Most likely a truncated or half-written edit: never read as "no VM has a policy".
            throw new InvalidPolicyFileException("the file is empty or holds only comments (a truncated edit?); "
                    + "write 'vms: []' to clear every policy");
        }
        requireObject(root, "the file", FILE_FIELDS);
        JsonNode vms = root.path("vms");
        if (vms.isMissingNode() || vms.isNull()) {
            throw new InvalidPolicyFileException(
                    "vms: missing or empty; list the VMs, or write 'vms: []' to clear every policy");
        }
        if (!vms.isArray()) {
            throw new InvalidPolicyFileException("vms: must be a list");
        }
        Map<VmRef, Map<Integer, GuestNodePolicy>> table = new HashMap<>();
        for (int i = 0; i < vms.size(); i++) {
            String path = "vms[" + i + "]";
            JsonNode vm = vms.get(i);
            requireObject(vm, path, VM_FIELDS);
            VmRef ref = new VmRef(optionalText(vm, "namespace", path), requiredText(vm, "name", path));
            if (table.containsKey(ref)) {
                throw new InvalidPolicyFileException(path + ": VM " + ref + " is listed twice");
            }
            table.put(ref, guestNodes(vm.path("guestNodes"), path + ".guestNodes"));
        }
        return table;
    }

    private static Map<Integer, GuestNodePolicy> guestNodes(JsonNode list, String path)
            throws InvalidPolicyFileException {
        if (!list.isArray()) {
            throw new InvalidPolicyFileException(path + ": must be a list of guest nodes");
        }
        Map<Integer, GuestNodePolicy> byGuestNode = new HashMap<>();
        for (int i = 0; i < list.size(); i++) {
            String at = path + "[" + i + "]";
            JsonNode entry = list.get(i);
            requireObject(entry, at, GUEST_NODE_FIELDS);
            int guestNode = requiredInt(entry, "guestNode", at);
            MemoryPolicy policy = enumValue(MemoryPolicy.class, requiredText(entry, "policy", at), at + ".policy");
            List<Integer> hostNodes = new ArrayList<>();
            for (JsonNode node : list(entry, "hostNodes", at)) {
                if (!node.canConvertToExactIntegral() || !node.canConvertToInt()) {
                    throw new InvalidPolicyFileException(
                            at + ".hostNodes: " + quoted(node.asText()) + " is not a node number");
                }
                hostNodes.add(node.intValue());
            }
            Set<PolicyFlag> flags = EnumSet.noneOf(PolicyFlag.class);
            for (JsonNode flag : list(entry, "flags", at)) {
                flags.add(enumValue(PolicyFlag.class, flag.asText(), at + ".flags"));
            }
            JsonNode migrate = entry.path("migrate");
            if (!migrate.isMissingNode() && !migrate.isBoolean()) {
                throw new InvalidPolicyFileException(at + ".migrate: must be true or false");
            }
            GuestNodePolicy parsed;
            try {
                parsed = new GuestNodePolicy(guestNode, policy, hostNodes, flags, migrate.asBoolean(false));
            } catch (IllegalArgumentException e) {
                throw new InvalidPolicyFileException(at + ": " + e.getMessage());
            }
            if (byGuestNode.put(guestNode, parsed) != null) {
                throw new InvalidPolicyFileException(at + ": guest node " + guestNode + " is listed twice");
            }
        }
        return byGuestNode;
    }

    /**
     * A word from the file, quoted when it looks like a name someone mistyped; anything else is not
     * repeated: the path may point at a file that is not a policy file at all (/etc/shadow), whose
     * content must not reach the log.
     */
    static String quoted(String text) {
        return NAME_LIKE.matcher(text).matches()
                ? "'" + text + "'"
                : "(a value of " + text.length() + " characters, not shown)";
    }

    /**
     * One line: the kind of YAML problem and the line it is on (Jackson's own location can be a line
     * early), without the text around it.
     */
    private static String yamlProblem(JsonProcessingException e) {
        if (e.getCause() instanceof MarkedYAMLException marked && marked.getProblemMark() != null) {
            return withoutFileText(String.valueOf(marked.getProblem())) + " (line "
                    + (marked.getProblemMark().getLine() + 1) + ")";
        }
        return withoutFileText(e.getOriginalMessage().lines().findFirst().orElse("unreadable"))
                + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")");
    }

    /**
     * A parser's message with the file's text left out: what it quotes, from its first quote to its
     * last (one piece, since the quoted text may hold quotes itself), is kept only when a short token
     * or a name; the event Jackson names by its toString becomes its kind.
     */
    private static String withoutFileText(String parserMessage) {
        String message = parserMessage;
        // Jackson names the YAML event it met by its toString, which carries the file's anchor, tag or value: keep the
        // kind only.
        int event = message.indexOf(YAML_EVENT);
        if (event >= 0) {
            String kind = message.substring(event + YAML_EVENT.length()).replaceFirst("(?s)^([A-Za-z]*).*", "$1");
            message = message.substring(0, event) + "<" + kind + ">";
        }
        // Jackson quotes unrecognized tokens with their text after "token": cut whatever follows it.
        int token = message.indexOf("Unrecognized token");
        if (token >= 0) {
            message = message.substring(0, token) + "unrecognized token";
        }
        int first = message.indexOf('\'');
        int last = message.lastIndexOf('\'');
        if (first >= 0 && last > first) {
            String piece = message.substring(first + 1, last);
            message = message.substring(0, first)
                    + (piece.length() <= 2 ? "'" + piece + "'" : quoted(piece))
                    + message.substring(last + 1);
        }
        return message;
    }

    private static void requireObject(JsonNode node, String path, Set<String> fields)
            throws InvalidPolicyFileException {
        if (!node.isObject()) {
            throw new InvalidPolicyFileException(path + ": must be a mapping");
        }
        for (Iterator<String> names = node.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!fields.contains(name)) {
                throw new InvalidPolicyFileException(path + ": unknown field " + quoted(name) + " (known: "
                        + fields.stream().sorted().collect(Collectors.joining(", ")) + ")");
            }
        }
    }

    private static String requiredText(JsonNode node, String field, String path) throws InvalidPolicyFileException {
        JsonNode value = node.path(field);
        if (!value.isTextual() || value.asText().isBlank()) {
            throw new InvalidPolicyFileException(path + "." + field + ": required, a non-empty string");
        }
        return value.asText();
    }

    private static String optionalText(JsonNode node, String field, String path) throws InvalidPolicyFileException {
        JsonNode value = node.path(field);
        if (value.isMissingNode() || value.isNull()) {
            return null;
        }
        if (!value.isTextual()) {
            throw new InvalidPolicyFileException(path + "." + field + ": must be a string");
        }
        return value.asText();
    }

    private static int requiredInt(JsonNode node, String field, String path) throws InvalidPolicyFileException {
        JsonNode value = node.path(field);
        if (!value.canConvertToExactIntegral() || !value.canConvertToInt()) {
            throw new InvalidPolicyFileException(path + "." + field + ": required, a whole number");
        }
        return value.intValue();
    }

    private static Iterable<JsonNode> list(JsonNode node, String field, String path) throws InvalidPolicyFileException {
        JsonNode value = node.path(field);
        if (value.isMissingNode() || value.isNull()) {
            return List.of();
        }
        if (!value.isArray()) {
            throw new InvalidPolicyFileException(path + "." + field + ": must be a list");
        }
        return value;
    }

    private static <E extends Enum<E>> E enumValue(Class<E> type, String text, String path)
            throws InvalidPolicyFileException {
        try {
            return Enum.valueOf(type, text);
        } catch (IllegalArgumentException e) {
            throw new InvalidPolicyFileException(path + ": " + quoted(text) + " is not one of "
                    + Arrays.stream(type.getEnumConstants()).map(Enum::name).collect(Collectors.joining(", ")));
        }
    }
}
