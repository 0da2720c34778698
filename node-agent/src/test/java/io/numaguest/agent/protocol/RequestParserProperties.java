package io.numaguest.agent.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.request.Request;
import io.numaguest.agent.request.Request.RegionRequest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.RandomDistribution;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * Whatever bytes arrive, {@link RequestParser#parse} either returns a request that keeps the invariants
 * of docs/protocol.md or throws {@link InvalidRequestException}; nothing else (no RuntimeException, no
 * StackOverflowError).
 */
class RequestParserProperties {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final Set<ErrorCode> PARSER_CODES =
            EnumSet.of(ErrorCode.BAD_REQUEST, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.BAD_FD);
    private static final List<String> FIELD_NAMES =
            List.of("version", "id", "op", "vm", "regions", "name", "namespace", "fd", "guestNode", "offset", "length");

    // ---------------------------------------------------------------- the oracle

    /** Parses and checks the outcome; returns the request, or null when the parser refused the payload. */
    private static Request parseChecked(byte[] payload, int fdCount) {
        Request request;
        try {
            request = RequestParser.parse(payload, fdCount);
        } catch (InvalidRequestException e) {
            assertThat(e.code()).as("error code").isIn(PARSER_CODES);
            assertThat(e.getMessage()).as("error message").isNotBlank();
            if (e.requestId() != null) {
                assertThat(e.requestId().length()).as("echoed id length").isBetween(1, RequestParser.MAX_ID_LENGTH);
            }
            return null;
        } catch (Throwable t) {
            throw new AssertionError("the parser threw " + t + " for " + preview(payload), t);
        }
        assertInvariants(request, fdCount);
        return request;
    }

    private static void assertInvariants(Request request, int fdCount) {
        assertThat(request.id()).isNotNull();
        assertThat(request.id().length()).isBetween(1, 64);
        assertThat(request.op()).isNotNull();
        if (request.op() == Request.Op.hello) {
            assertThat(request.vm()).isNull();
            assertThat(request.regions()).isNull();
            return;
        }
        assertThat(request.vm()).isNotNull();
        assertThat(request.vm().name()).isNotBlank();
        assertThat(request.vm().namespace()).isNotBlank();
        assertThat(request.regions()).hasSizeBetween(1, 64);
        for (RegionRequest region : request.regions()) {
            assertThat(region.fd()).isBetween(0, Math.min(fdCount, RequestParser.MAX_FDS) - 1);
            assertThat(region.guestNode()).isBetween(0, 63);
            assertThat(region.offset()).isNotNegative();
            if (region.length() != null) {
                assertThat(region.length()).isPositive();
            }
        }
    }

    private static String preview(byte[] payload) {
        String text = new String(payload, 0, Math.min(payload.length, 300), StandardCharsets.UTF_8);
        return payload.length + " bytes: " + text;
    }

    // ---------------------------------------------------------------- raw bytes

    @Property(tries = 500)
    void arbitraryBytesAreParsedOrRefused(
            @ForAll("payloads") byte[] payload, @ForAll @IntRange(min = 0, max = 16) int fdCount) {
        parseChecked(payload, fdCount);
    }

    @Provide
    Arbitrary<byte[]> payloads() {
        Arbitrary<byte[]> small = Arbitraries.bytes().array(byte[].class).ofMaxSize(200);
        // Large arrays are filled from the try's random source: element-wise generation of 70 kB is slow.
        Arbitrary<byte[]> large = Arbitraries.integers()
                .between(200, 70_000)
                .flatMap(size -> Arbitraries.randomValue(random -> {
                    byte[] bytes = new byte[size];
                    random.nextBytes(bytes);
                    return bytes;
                }));
        Arbitrary<byte[]> jsonAlphabet = Arbitraries.strings()
                .withChars("{}[]\":,-.0123456789eE tfnrulasx\\u")
                .ofMaxLength(2000)
                .map(s -> s.getBytes(StandardCharsets.UTF_8));
        // A real prefix, so the parser reads into the object before the noise starts.
        Arbitrary<byte[]> validPrefix = Arbitraries.bytes()
                .array(byte[].class)
                .ofMaxSize(500)
                .map(tail -> {
                    byte[] head = "{\"version\":1,\"id\":\"p\",\"op\":\"apply\",\"vm\":{\"name\":\""
                            .getBytes(StandardCharsets.UTF_8);
                    byte[] all = Arrays.copyOf(head, head.length + tail.length);
                    System.arraycopy(tail, 0, all, head.length, tail.length);
                    return all;
                });
        return Arbitraries.frequencyOf(
                Tuple.of(4, small), Tuple.of(1, large), Tuple.of(3, jsonAlphabet), Tuple.of(3, validPrefix));
    }

    // ---------------------------------------------------------------- deep nesting

    @Property(tries = 50)
    void deepNestingIsABadRequestNotAStackOverflow(
            @ForAll @IntRange(min = 1_001, max = 100_000) int depth, @ForAll("openers") String opener) {
        String payload = "{\"version\":1,\"id\":\"deep\",\"op\":\"hello\",\"x\":" + opener.repeat(depth);

        Request request = parseChecked(payload.getBytes(StandardCharsets.UTF_8), 0);

        assertThat(request).isNull();
    }

    @Provide
    Arbitrary<String> openers() {
        return Arbitraries.of("[", "{\"a\":", "[{\"b\":");
    }

    @Example
    void hundredThousandOpenBrackets() {
        assertThat(parseChecked("[".repeat(100_000).getBytes(StandardCharsets.UTF_8), 0))
                .isNull();
    }

    // ---------------------------------------------------------------- random JSON trees

    @Property(tries = 500)
    void randomJsonTreesAreParsedOrRefused(
            @ForAll("jsonObjects") JsonNode tree, @ForAll @IntRange(min = 0, max = 16) int fdCount) throws Exception {
        parseChecked(JSON.writeValueAsBytes(tree), fdCount);
    }

    @Provide
    Arbitrary<JsonNode> jsonObjects() {
        // Mostly objects that start like a request, so the parser gets past the id and version checks.
        Arbitrary<JsonNode> requestLike = Combinators.combine(
                        Arbitraries.of("hello", "apply", "query", "bogus"),
                        jsonValue(2).list().ofMaxSize(3),
                        Arbitraries.of("vm", "regions", "extra", "version", "namespace"),
                        object(2))
                .as((op, values, extraKey, extra) -> {
                    ObjectNode root = NODES.objectNode();
                    root.put("version", 1);
                    root.put("id", "r");
                    root.put("op", op);
                    root.set("vm", values.isEmpty() ? extra : values.getFirst());
                    root.set(
                            "regions",
                            values.size() > 1
                                    ? values.get(1)
                                    : NODES.arrayNode().add(extra));
                    if (values.size() > 2) {
                        root.set(extraKey, values.get(2));
                    }
                    return (JsonNode) root;
                });
        return Arbitraries.frequencyOf(Tuple.of(1, jsonValue(3)), Tuple.of(2, object(3)), Tuple.of(3, requestLike));
    }

    private Arbitrary<JsonNode> jsonValue(int depth) {
        if (depth == 0) {
            return leaf();
        }
        return Arbitraries.frequencyOf(
                Tuple.of(3, leaf()), Tuple.of(1, array(depth - 1)), Tuple.of(1, object(depth - 1)));
    }

    private Arbitrary<JsonNode> array(int depth) {
        return jsonValue(depth).list().ofMaxSize(4).map(items -> {
            ArrayNode array = NODES.arrayNode();
            items.forEach(array::add);
            return array;
        });
    }

    private Arbitrary<JsonNode> object(int depth) {
        Arbitrary<String> keys = Arbitraries.oneOf(Arbitraries.of(FIELD_NAMES), text().ofMaxLength(8));
        return Combinators.combine(keys, jsonValue(depth))
                .as(Map::entry)
                .list()
                .ofMaxSize(5)
                .map(entries -> {
                    ObjectNode object = NODES.objectNode();
                    entries.forEach(entry -> object.set(entry.getKey(), entry.getValue()));
                    return object;
                });
    }

    private Arbitrary<JsonNode> leaf() {
        return Arbitraries.frequencyOf(
                Tuple.of(3, Arbitraries.integers().between(-2, 70).map(NODES::numberNode)),
                Tuple.of(1, Arbitraries.longs().map(NODES::numberNode)),
                Tuple.of(
                        1,
                        Arbitraries.bigIntegers()
                                .between(java.math.BigInteger.TWO.pow(63).negate(), java.math.BigInteger.TWO.pow(80))
                                .map(NODES::numberNode)),
                Tuple.of(1, Arbitraries.doubles().map(NODES::numberNode)),
                Tuple.of(2, text().ofMaxLength(70).map(NODES::textNode)),
                Tuple.of(1, Arbitraries.of(true, false).map(NODES::booleanNode)),
                Tuple.of(1, Arbitraries.just(NODES.nullNode())));
    }

    // ---------------------------------------------------------------- valid requests and their mutations

    /** A valid apply or query request as a tree, with the fd count it was made for and what it must parse to. */
    record ValidRequest(ObjectNode tree, int fdCount, Request expected) {}

    @Provide
    Arbitrary<ValidRequest> validRequests() {
        Arbitrary<String> ids = text().ofMinLength(1).ofMaxLength(64);
        Arbitrary<String> names = Arbitraries.strings()
                .alpha()
                .numeric()
                .withChars("-.")
                .ofMinLength(1)
                .ofMaxLength(63);
        Arbitrary<String> namespaces = Arbitraries.strings()
                .alpha()
                .numeric()
                .withChars("-")
                .ofMinLength(1)
                .ofMaxLength(63)
                .injectNull(0.4);
        Arbitrary<Integer> fdCounts = Arbitraries.integers().between(1, 16);
        Arbitrary<List<long[]>> regionDraws = Arbitraries.longs()
                .between(0, Long.MAX_VALUE)
                .array(long[].class)
                .ofSize(5)
                .list()
                .ofMinSize(1)
                .ofMaxSize(64)
                .withSizeDistribution(RandomDistribution.biased());
        return Combinators.combine(
                        ids,
                        Arbitraries.of(Request.Op.apply, Request.Op.query),
                        names,
                        namespaces,
                        fdCounts,
                        regionDraws)
                .as((id, op, name, namespace, fdCount, draws) -> {
                    ObjectNode root = NODES.objectNode();
                    root.put("version", 1);
                    root.put("id", id);
                    root.put("op", op.name());
                    ObjectNode vm = root.putObject("vm");
                    vm.put("name", name);
                    if (namespace != null) {
                        vm.put("namespace", namespace);
                    }
                    ArrayNode regions = root.putArray("regions");
                    List<RegionRequest> expected = new ArrayList<>();
                    for (long[] draw : draws) {
                        int fd = (int) (draw[0] % fdCount);
                        int guestNode = (int) (draw[1] % 64);
                        ObjectNode region = regions.addObject();
                        region.put("fd", fd);
                        region.put("guestNode", guestNode);
                        long offset = 0;
                        if (draw[2] % 2 == 0) {
                            offset = draw[3];
                            region.put("offset", offset);
                        }
                        Long length = null;
                        if (draw[4] % 3 != 0) {
                            length = Math.max(1, draw[4] / 3);
                            region.put("length", length);
                        }
                        expected.add(new RegionRequest(fd, guestNode, offset, length));
                    }
                    return new ValidRequest(
                            root,
                            fdCount,
                            new Request(id, op, new io.numaguest.agent.policy.VmRef(namespace, name), expected));
                });
    }

    @Property(tries = 500)
    void validRequestsParseToExactlyWhatTheySay(@ForAll("validRequests") ValidRequest valid) throws Exception {
        Request parsed = parseChecked(JSON.writeValueAsBytes(valid.tree()), valid.fdCount());

        assertThat(parsed).as("a valid request must not be refused").isEqualTo(valid.expected());
    }

    enum Mutation {
        DROP_FIELD,
        CHANGE_TYPE,
        INSERT_UNICODE,
        ADD_UNKNOWN_FIELD,
        BOUNDARY_NUMBER,
        GROW_REGIONS,
        TRUNCATE_BYTES,
        FLIP_BYTE,
        DUPLICATE_KEY,
        TRAILING_GARBAGE
    }

    /** Numbers at and around the documented limits (fd 0..15, guestNode 0..63, offset >= 0, length >= 1). */
    private static final List<JsonNode> BOUNDARY_NUMBERS = List.of(
            NODES.numberNode(-1),
            NODES.numberNode(0),
            NODES.numberNode(1),
            NODES.numberNode(15),
            NODES.numberNode(16),
            NODES.numberNode(63),
            NODES.numberNode(64),
            NODES.numberNode(65),
            NODES.numberNode(Integer.MAX_VALUE + 1L),
            NODES.numberNode(Long.MIN_VALUE),
            NODES.numberNode(Long.MAX_VALUE),
            NODES.numberNode(java.math.BigInteger.TWO.pow(64)),
            NODES.numberNode(0.5),
            NODES.numberNode(1e300));

    @Property(tries = 500, edgeCases = EdgeCasesMode.NONE)
    void mutatedRequestsAreParsedOrRefused(
            @ForAll("validRequests") ValidRequest valid,
            @ForAll Mutation mutation,
            @ForAll @IntRange(min = 0, max = 1_000_000) int where,
            @ForAll("replacements") JsonNode replacement,
            @ForAll("oddText") String unicode,
            @ForAll @Size(max = 8) byte[] noise)
            throws Exception {
        ObjectNode tree = valid.tree().deepCopy();
        List<Slot> slots = slots(tree);
        Slot slot = slots.get(where % slots.size());
        byte[] payload;
        switch (mutation) {
            case DROP_FIELD -> {
                slot.remove();
                payload = JSON.writeValueAsBytes(tree);
            }
            case CHANGE_TYPE -> {
                slot.replace(replacement);
                payload = JSON.writeValueAsBytes(tree);
            }
            case INSERT_UNICODE -> {
                slot.replace(NODES.textNode(insert(slot.value().asText(), where, unicode)));
                payload = JSON.writeValueAsBytes(tree);
            }
            case ADD_UNKNOWN_FIELD -> {
                ObjectNode target = slot.parent() instanceof ObjectNode o ? o : tree;
                target.put("x" + unicode, 1);
                payload = JSON.writeValueAsBytes(tree);
            }
            case BOUNDARY_NUMBER -> {
                List<Slot> numbers =
                        slots.stream().filter(s -> s.value().isNumber()).toList();
                numbers.get(where % numbers.size())
                        .replace(BOUNDARY_NUMBERS.get(
                                noise.length == 0
                                        ? where % BOUNDARY_NUMBERS.size()
                                        : Math.floorMod(noise[0], BOUNDARY_NUMBERS.size())));
                payload = JSON.writeValueAsBytes(tree);
            }
            case GROW_REGIONS -> {
                ArrayNode regions = (ArrayNode) tree.get("regions");
                int target = RequestParser.MAX_REGIONS - 1 + where % 4; // 63 .. 66
                while (regions.size() < target) {
                    regions.add(regions.get(0).deepCopy());
                }
                payload = JSON.writeValueAsBytes(tree);
            }
            case TRUNCATE_BYTES -> {
                byte[] whole = JSON.writeValueAsBytes(tree);
                payload = Arrays.copyOf(whole, where % whole.length);
            }
            case FLIP_BYTE -> {
                payload = JSON.writeValueAsBytes(tree);
                payload[where % payload.length] ^= (byte) (noise.length == 0 ? 0x80 : noise[0] | 1);
            }
            case DUPLICATE_KEY -> {
                String text = JSON.writeValueAsString(tree);
                String duplicated = text.replaceFirst("\"op\":", "\"op\":\"hello\",\"op\":");
                payload = duplicated.getBytes(StandardCharsets.UTF_8);
            }
            case TRAILING_GARBAGE -> {
                byte[] whole = JSON.writeValueAsBytes(tree);
                byte[] tail = noise.length == 0 ? new byte[] {'{', '}'} : noise;
                payload = Arrays.copyOf(whole, whole.length + tail.length);
                System.arraycopy(tail, 0, payload, whole.length, tail.length);
            }
            default -> throw new IllegalStateException(mutation.name());
        }

        Request parsed = parseChecked(payload, valid.fdCount());

        if (mutation == Mutation.DUPLICATE_KEY
                || mutation == Mutation.ADD_UNKNOWN_FIELD
                || mutation == Mutation.TRUNCATE_BYTES) {
            assertThat(parsed).as("%s must be refused", mutation).isNull();
        }
        if (mutation == Mutation.GROW_REGIONS) {
            int regions = tree.get("regions").size();
            assertThat(parsed == null).as("%d regions refused", regions).isEqualTo(regions > RequestParser.MAX_REGIONS);
        }
        if (mutation == Mutation.DROP_FIELD && slot.required()) {
            assertThat(parsed)
                    .as("dropping required %s must be refused", slot.path())
                    .isNull();
        }
    }

    @Provide
    Arbitrary<JsonNode> replacements() {
        return Arbitraries.oneOf(leaf(), array(1), object(1));
    }

    @Provide
    Arbitrary<String> oddText() {
        return Arbitraries.oneOf(
                Arbitraries.of(
                        "\u0000",
                        "\uD83D\uDE00",
                        "\uDBFF\uDFFF",
                        "\u202E",
                        "\uFEFF",
                        "\uFFFF",
                        "\"",
                        "\\",
                        "\u00e9",
                        "\n",
                        "e\u0301",
                        "\u0130"),
                text().ofMinLength(1).ofMaxLength(4));
    }

    /**
     * Any BMP character that is not half of a surrogate pair (Jackson refuses to write a lone surrogate);
     * pairs come from {@link #oddText()}. Invalid byte sequences come from the byte-level mutations.
     */
    private static net.jqwik.api.arbitraries.StringArbitrary text() {
        return Arbitraries.strings().withCharRange('\u0000', '\uD7FF').withCharRange('\uE000', '\uFFFF');
    }

    private static String insert(String text, int where, String piece) {
        int at = text.isEmpty() ? 0 : where % (text.length() + 1);
        return text.substring(0, at) + piece + text.substring(at);
    }

    /** One value in the tree with what holds it: an object field or an array element. */
    record Slot(JsonNode parent, String field, int index, String path, boolean required) {
        JsonNode value() {
            return field != null ? parent.get(field) : parent.get(index);
        }

        void remove() {
            if (field != null) {
                ((ObjectNode) parent).remove(field);
            } else {
                ((ArrayNode) parent).remove(index);
            }
        }

        void replace(JsonNode value) {
            if (field != null) {
                ((ObjectNode) parent).set(field, value);
            } else {
                ((ArrayNode) parent).set(index, value);
            }
        }
    }

    private static final Set<String> OPTIONAL_FIELDS = Set.of("namespace", "offset", "length");

    private static List<Slot> slots(ObjectNode root) {
        List<Slot> slots = new ArrayList<>();
        collect(root, "", slots);
        return slots;
    }

    private static void collect(JsonNode node, String path, List<Slot> slots) {
        if (node instanceof ObjectNode object) {
            List<String> fields = new ArrayList<>();
            object.fieldNames().forEachRemaining(fields::add);
            for (String field : fields) {
                String at = path.isEmpty() ? field : path + "." + field;
                slots.add(new Slot(object, field, -1, at, !OPTIONAL_FIELDS.contains(field)));
                collect(object.get(field), at, slots);
            }
        } else if (node instanceof ArrayNode array) {
            for (int i = 0; i < array.size(); i++) {
                String at = path + "[" + i + "]";
                // Dropping one of several regions leaves a valid request; dropping the only one does not.
                slots.add(new Slot(array, null, i, at, array.size() == 1));
                collect(array.get(i), at, slots);
            }
        }
    }
}
