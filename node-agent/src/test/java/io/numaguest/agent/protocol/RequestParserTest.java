package io.numaguest.agent.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.policy.VmRef;
import io.numaguest.agent.request.Request;
import io.numaguest.agent.request.Request.RegionRequest;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Example-based checks of {@link RequestParser} against docs/protocol.md. */
class RequestParserTest {

    private static Request parse(String json, int fdCount) throws InvalidRequestException {
        return RequestParser.parse(json.getBytes(StandardCharsets.UTF_8), fdCount);
    }

    private static InvalidRequestException refusal(String json, int fdCount) {
        return refusal(json.getBytes(StandardCharsets.UTF_8), fdCount);
    }

    private static InvalidRequestException refusal(byte[] payload, int fdCount) {
        InvalidRequestException e =
                catchThrowableOfType(InvalidRequestException.class, () -> RequestParser.parse(payload, fdCount));
        assertThat(e)
                .as("the parser should refuse %s", new String(payload, StandardCharsets.UTF_8))
                .isNotNull();
        return e;
    }

    /** An apply request with id "7", vm "vm1" and the given region objects. */
    private static String applyWithRegions(String... regions) {
        return "{\"version\":1,\"id\":\"7\",\"op\":\"apply\",\"vm\":{\"name\":\"vm1\"},\"regions\":["
                + String.join(",", regions) + "]}";
    }

    private static String applyWithRegion(String regionBody) {
        return applyWithRegions("{" + regionBody + "}");
    }

    @Nested
    class WellFormed {

        @Test
        void helloHasIdAndOpAndNoVmOrRegions() throws Exception {
            Request request = parse("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}", 0);

            assertThat(request.id()).isEqualTo("1");
            assertThat(request.op()).isEqualTo(Request.Op.hello);
            assertThat(request.vm()).isNull();
            assertThat(request.regions()).isNull();
        }

        @Test
        void theDocumentedApplyExampleParsesFieldByField() throws Exception {
            Request request = parse("""
                    {"version":1,"id":"2","op":"apply",
                     "vm":{"namespace":"tenant-a","name":"vm1"},
                     "regions":[{"fd":0,"guestNode":0,"offset":4096,"length":1073741824},
                                {"fd":1,"guestNode":1}]}""", 2);

            assertThat(request.id()).isEqualTo("2");
            assertThat(request.op()).isEqualTo(Request.Op.apply);
            assertThat(request.vm()).isEqualTo(new VmRef("tenant-a", "vm1"));
            assertThat(request.regions())
                    .containsExactly(new RegionRequest(0, 0, 4096, 1073741824L), new RegionRequest(1, 1, 0, null));
        }

        @Test
        void omittedNamespaceOffsetAndLengthTakeTheirDefaults() throws Exception {
            Request request = parse(applyWithRegion("\"fd\":0,\"guestNode\":3"), 1);

            assertThat(request.vm().namespace()).isEqualTo("default");
            assertThat(request.vm().name()).isEqualTo("vm1");
            RegionRequest region = request.regions().getFirst();
            assertThat(region.offset()).isZero();
            assertThat(region.length()).isNull();
            assertThat(region.guestNode()).isEqualTo(3);
        }

        @Test
        void queryUsesTheSameAddressingAsApply() throws Exception {
            Request request = parse(
                    "{\"version\":1,\"id\":\"q\",\"op\":\"query\",\"vm\":{\"name\":\"vm2\"},"
                            + "\"regions\":[{\"fd\":2,\"guestNode\":5,\"offset\":8192}]}",
                    3);

            assertThat(request.op()).isEqualTo(Request.Op.query);
            assertThat(request.vm()).isEqualTo(new VmRef(null, "vm2"));
            assertThat(request.regions()).containsExactly(new RegionRequest(2, 5, 8192, null));
        }

        @Test
        void fieldOrderDoesNotMatter() throws Exception {
            Request request = parse(
                    "{\"regions\":[{\"guestNode\":1,\"fd\":0}],\"vm\":{\"name\":\"vm1\"},"
                            + "\"op\":\"apply\",\"id\":\"z\",\"version\":1}",
                    1);

            assertThat(request.id()).isEqualTo("z");
            assertThat(request.regions()).containsExactly(new RegionRequest(0, 1, 0, null));
        }

        @Test
        void severalRegionsMayShareOneDescriptor() throws Exception {
            Request request = parse(
                    applyWithRegions(
                            "{\"fd\":0,\"guestNode\":0,\"offset\":0,\"length\":4096}",
                            "{\"fd\":0,\"guestNode\":1,\"offset\":4096}"),
                    1);

            assertThat(request.regions()).extracting(RegionRequest::fd).containsExactly(0, 0);
        }

        @Test
        void guestNode63IsTheLargestAccepted() throws Exception {
            Request request = parse(applyWithRegion("\"fd\":0,\"guestNode\":63"), 1);

            assertThat(request.regions().getFirst().guestNode()).isEqualTo(63);
        }

        @Test
        void sixtyFourRegionsAreAccepted() throws Exception {
            Request request = parse(applyWithRegions(regions(64)), 1);

            assertThat(request.regions()).hasSize(64);
            assertThat(request.regions().get(63).guestNode()).isEqualTo(63);
        }

        @Test
        void fd15IsAcceptedWhenSixteenDescriptorsCameWithTheMessage() throws Exception {
            Request request = parse(applyWithRegion("\"fd\":15,\"guestNode\":0"), 16);

            assertThat(request.regions().getFirst().fd()).isEqualTo(15);
        }

        @Test
        void lengthOneAndHugeOffsetsAreAccepted() throws Exception {
            Request request =
                    parse(applyWithRegion("\"fd\":0,\"guestNode\":0,\"offset\":9223372036854775807,\"length\":1"), 1);

            assertThat(request.regions().getFirst()).isEqualTo(new RegionRequest(0, 0, Long.MAX_VALUE, 1L));
        }

        @Test
        void anIdOf64CharactersIsEchoed() throws Exception {
            String id = "i".repeat(64);

            assertThat(parse("{\"version\":1,\"id\":\"" + id + "\",\"op\":\"hello\"}", 0)
                            .id())
                    .isEqualTo(id);
        }

        @Test
        void whitespaceAroundTheObjectIsAllowed() throws Exception {
            assertThat(parse(" \n\t{\"version\":1,\"id\":\"w\",\"op\":\"hello\"}\r\n ", 0)
                            .id())
                    .isEqualTo("w");
        }

        @Test
        void unicodeInStringsIsDecoded() throws Exception {
            Request request = parse(
                    "{\"version\":1,\"id\":\"\\u00e9t\u00e9\",\"op\":\"apply\","
                            + "\"vm\":{\"name\":\"\u0432\u043c-\uD83D\uDE00\"},\"regions\":[{\"fd\":0,\"guestNode\":0}]}",
                    1);

            assertThat(request.id()).isEqualTo("\u00e9t\u00e9");
            assertThat(request.vm().name()).isEqualTo("\u0432\u043c-\uD83D\uDE00");
        }
    }

    @Nested
    class RequestId {

        @ParameterizedTest
        @ValueSource(
                strings = {
                    "not json",
                    "[1,2,3]",
                    "\"a string\"",
                    "42",
                    "null",
                    "",
                    "{\"version\":1,\"op\":\"hello\"}",
                    "{\"version\":1,\"id\":7,\"op\":\"hello\"}",
                    "{\"version\":1,\"id\":null,\"op\":\"hello\"}",
                    "{\"version\":1,\"id\":[\"a\"],\"op\":\"hello\"}",
                    "{\"version\":1,\"id\":{\"v\":\"a\"},\"op\":\"hello\"}",
                    "{\"version\":1,\"id\":\"\",\"op\":\"hello\"}",
                })
        void isNullWhenItCannotBeRead(String message) {
            InvalidRequestException e = refusal(message, 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.requestId()).isNull();
        }

        @Test
        void isNullWhen65CharactersLong() {
            InvalidRequestException e =
                    refusal("{\"version\":1,\"id\":\"" + "i".repeat(65) + "\",\"op\":\"hello\"}", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.requestId()).isNull();
            assertThat(e.getMessage()).contains("id");
        }

        @Test
        void isEchoedWhenALaterFieldIsWrong() {
            InvalidRequestException e = refusal("{\"version\":1,\"id\":\"abc-42\",\"op\":\"destroy\"}", 0);

            assertThat(e.requestId()).isEqualTo("abc-42");
            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).contains("op").contains("destroy");
        }

        @Test
        void isEchoedWithAnUnsupportedVersion() {
            InvalidRequestException e = refusal("{\"version\":2,\"id\":\"v2\",\"op\":\"hello\"}", 0);

            assertThat(e.requestId()).isEqualTo("v2");
        }

        @Test
        void isEchoedWithABadFd() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":1,\"guestNode\":0"), 1);

            assertThat(e.requestId()).isEqualTo("7");
        }
    }

    @Nested
    class Version {

        @Test
        void version2IsUnsupported() {
            InvalidRequestException e = refusal("{\"version\":2,\"id\":\"1\",\"op\":\"hello\"}", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED_VERSION);
            assertThat(e.getMessage()).contains("2");
        }

        @Test
        void version0AndAHugeVersionAreUnsupported() {
            assertThat(refusal("{\"version\":0,\"id\":\"1\",\"op\":\"hello\"}", 0)
                            .code())
                    .isEqualTo(ErrorCode.UNSUPPORTED_VERSION);
            assertThat(refusal("{\"version\":4294967297,\"id\":\"1\",\"op\":\"hello\"}", 0)
                            .code())
                    .as("2^32+1 must not wrap around to 1")
                    .isEqualTo(ErrorCode.UNSUPPORTED_VERSION);
        }

        @Test
        void versionAsAStringIsABadRequest() {
            InvalidRequestException e = refusal("{\"version\":\"1\",\"id\":\"1\",\"op\":\"hello\"}", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("version");
        }

        @Test
        void missingVersionIsABadRequest() {
            InvalidRequestException e = refusal("{\"id\":\"1\",\"op\":\"hello\"}", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("version");
            assertThat(e.requestId()).isEqualTo("1");
        }
    }

    @Nested
    class Syntax {

        @Test
        void duplicateKeysAreRefused() {
            InvalidRequestException e = refusal("{\"version\":1,\"id\":\"1\",\"op\":\"hello\",\"op\":\"apply\"}", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).contains("op");
        }

        @Test
        void duplicateKeysInsideARegionAreRefused() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":0,\"fd\":1,\"guestNode\":0"), 2);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).contains("fd");
        }

        @ParameterizedTest
        @ValueSource(strings = {" x", "{}", "[]", " 1", "\"more\"", "}"})
        void trailingGarbageAfterTheObjectIsRefused(String trailer) {
            InvalidRequestException e = refusal("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}" + trailer, 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
        }

        @Test
        void aTrailingNulTerminatorIsRefused() {
            // A C client that sends strlen(buf) + 1 bytes; the contract is "a UTF-8 JSON object", nothing else.
            InvalidRequestException e = refusal("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"}\0", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
        }

        @Test
        void anUnclosedObjectIsRefused() {
            InvalidRequestException e = refusal("{\"version\":1,\"id\":\"1\",\"op\":\"hello\"", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.requestId()).isNull();
        }

        @ParameterizedTest
        @ValueSource(
                strings = {
                    "{\"version\":1,\"id\":\"1\",\"op\":\"hello\",}",
                    "{'version':1,\"id\":\"1\",\"op\":\"hello\"}",
                    "{\"version\":1,/* c */\"id\":\"1\",\"op\":\"hello\"}",
                    "{\"version\":NaN,\"id\":\"1\",\"op\":\"hello\"}",
                    "{version:1,\"id\":\"1\",\"op\":\"hello\"}",
                })
        void nonStandardJsonIsRefused(String message) {
            assertThat(refusal(message, 0).code()).isEqualTo(ErrorCode.BAD_REQUEST);
        }

        @Test
        void a100kDeepArrayIsABadRequestNotAStackOverflow() {
            InvalidRequestException e = refusal("[".repeat(100_000), 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.requestId()).isNull();
        }

        @Test
        void aDeeplyNestedValueInsideAValidRequestIsABadRequest() {
            String deep = "{\"a\":".repeat(50_000) + "1" + "}".repeat(50_000);
            InvalidRequestException e = refusal("{\"version\":1,\"id\":\"1\",\"op\":\"hello\",\"x\":" + deep + "}", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
        }

        @Test
        void truncatedUtf8IsABadRequest() {
            byte[] payload =
                    concat("{\"version\":1,\"id\":\"", new byte[] {(byte) 0xE2, (byte) 0x82}, "\",\"op\":\"hello\"}");

            assertThat(refusal(payload, 0).code()).isEqualTo(ErrorCode.BAD_REQUEST);
        }

        @Test
        void aStrayContinuationByteIsABadRequest() {
            byte[] payload = concat("{\"version\":1,\"id\":\"", new byte[] {(byte) 0x80}, "\",\"op\":\"hello\"}");

            assertThat(refusal(payload, 0).code()).isEqualTo(ErrorCode.BAD_REQUEST);
        }

        @Test
        void byte0xFFIsABadRequest() {
            byte[] payload = concat("{\"version\":1,\"id\":\"", new byte[] {(byte) 0xFF}, "\",\"op\":\"hello\"}");

            assertThat(refusal(payload, 0).code()).isEqualTo(ErrorCode.BAD_REQUEST);
        }

        @ParameterizedTest
        @ValueSource(strings = {"C0AF", "C080", "E080AF", "EDA080", "F4908080", "F5808080", "F08080AF"})
        void invalidUtf8InAStringIsABadRequest(String hex) {
            byte[] payload = concat(
                    "{\"version\":1,\"id\":\"1\",\"op\":\"apply\",\"vm\":{\"name\":\"vm",
                    java.util.HexFormat.of().parseHex(hex),
                    "\"},\"regions\":[{\"fd\":0,\"guestNode\":0}]}");

            InvalidRequestException e = refusal(payload, 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
        }
    }

    @Nested
    class Fields {

        @Test
        void anUnknownTopLevelFieldIsRefusedByName() {
            InvalidRequestException e = refusal("{\"version\":1,\"id\":\"1\",\"op\":\"hello\",\"verbose\":true}", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).contains("'verbose'");
        }

        @Test
        void vmAndRegionsAreUnknownFieldsOfHello() {
            InvalidRequestException e = refusal("{\"version\":1,\"id\":\"1\",\"op\":\"hello\",\"regions\":[]}", 0);

            assertThat(e.getMessage()).contains("'regions'");
        }

        @Test
        void aMisspelledRegionFieldIsRefusedNotDefaulted() {
            InvalidRequestException e = refusal(
                    applyWithRegions("{\"fd\":0,\"guestNode\":0}", "{\"fd\":0,\"guestNode\":1,\"lenght\":4096}"), 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions[1]").contains("'lenght'");
        }

        @Test
        void anUnknownVmFieldIsRefusedByName() {
            InvalidRequestException e = refusal(
                    "{\"version\":1,\"id\":\"1\",\"op\":\"query\",\"vm\":{\"name\":\"a\",\"uid\":\"x\"},"
                            + "\"regions\":[{\"fd\":0,\"guestNode\":0}]}",
                    1);

            assertThat(e.getMessage()).startsWith("vm").contains("'uid'");
        }

        @ParameterizedTest
        @ValueSource(strings = {"", "\"op\":null,", "\"op\":\"HELLO\",", "\"op\":1,", "\"op\":\"delete\","})
        void theOpMustBeOneOfTheThree(String opField) {
            InvalidRequestException e = refusal("{\"version\":1," + opField + "\"id\":\"1\"}", 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("op");
        }

        @ParameterizedTest
        @ValueSource(
                strings = {
                    "",
                    ",\"vm\":null",
                    ",\"vm\":\"vm1\"",
                    ",\"vm\":{}",
                    ",\"vm\":{\"name\":\"\"}",
                    ",\"vm\":{\"name\":\"  \"}",
                    ",\"vm\":{\"name\":5}",
                })
        void applyNeedsAVmWithAName(String vmField) {
            InvalidRequestException e = refusal(
                    "{\"version\":1,\"id\":\"1\",\"op\":\"apply\"" + vmField
                            + ",\"regions\":[{\"fd\":0,\"guestNode\":0}]}",
                    1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("vm");
        }

        @Test
        void aNonStringNamespaceIsRefused() {
            InvalidRequestException e = refusal(
                    "{\"version\":1,\"id\":\"1\",\"op\":\"apply\","
                            + "\"vm\":{\"name\":\"a\",\"namespace\":3},\"regions\":[{\"fd\":0,\"guestNode\":0}]}",
                    1);

            assertThat(e.getMessage()).startsWith("vm.namespace");
        }

        @ParameterizedTest
        @ValueSource(strings = {"", ",\"regions\":[]", ",\"regions\":null", ",\"regions\":{\"fd\":0,\"guestNode\":0}"})
        void applyNeedsAtLeastOneRegion(String regionsField) {
            InvalidRequestException e = refusal(
                    "{\"version\":1,\"id\":\"1\",\"op\":\"apply\",\"vm\":{\"name\":\"a\"}" + regionsField + "}", 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions");
        }

        @Test
        void sixtyFiveRegionsAreRefused() {
            InvalidRequestException e = refusal(applyWithRegions(regions(65)), 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions").contains("65");
        }

        @Test
        void aRegionThatIsNotAnObjectIsNamed() {
            InvalidRequestException e = refusal(applyWithRegions("{\"fd\":0,\"guestNode\":0}", "[0,1]"), 1);

            assertThat(e.getMessage()).startsWith("regions[1]");
        }

        @Test
        void guestNode64IsRefusedNamingTheRegion() {
            InvalidRequestException e =
                    refusal(applyWithRegions("{\"fd\":0,\"guestNode\":0}", "{\"fd\":0,\"guestNode\":64}"), 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions[1].guestNode");
        }

        @ParameterizedTest
        @ValueSource(strings = {"-1", "1.5", "\"1\"", "null", "true", "[1]", "1e0"})
        void aGuestNodeThatIsNotAWholeNumberInRangeIsRefused(String value) {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":0,\"guestNode\":" + value), 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions[0].guestNode");
        }

        @Test
        void aMissingGuestNodeIsRefusedAsRequired() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":0"), 1);

            assertThat(e.getMessage()).startsWith("regions[0].guestNode").contains("required");
        }

        @Test
        void aMissingFdIsRefusedAsRequired() {
            InvalidRequestException e = refusal(applyWithRegion("\"guestNode\":0"), 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions[0].fd").contains("required");
        }

        @Test
        void aNegativeOffsetIsRefused() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":0,\"guestNode\":0,\"offset\":-4096"), 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions[0].offset");
        }

        @Test
        void anOffsetBeyondLongIsRefusedNotWrapped() {
            InvalidRequestException e =
                    refusal(applyWithRegion("\"fd\":0,\"guestNode\":0,\"offset\":9223372036854775808"), 1);

            assertThat(e.getMessage()).startsWith("regions[0].offset");
        }

        @Test
        void lengthZeroIsRefused() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":0,\"guestNode\":0,\"length\":0"), 1);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions[0].length");
        }

        @Test
        void anExplicitNullLengthIsRefusedRatherThanDefaulted() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":0,\"guestNode\":0,\"length\":null"), 1);

            assertThat(e.getMessage()).startsWith("regions[0].length");
        }

        @Test
        void aFractionalLengthIsRefused() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":0,\"guestNode\":0,\"length\":4096.5"), 1);

            assertThat(e.getMessage()).startsWith("regions[0].length");
        }
    }

    @Nested
    class Descriptors {

        @Test
        void anFdIndexEqualToTheDescriptorCountIsBadFd() {
            InvalidRequestException e =
                    refusal(applyWithRegions("{\"fd\":0,\"guestNode\":0}", "{\"fd\":2,\"guestNode\":1}"), 2);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_FD);
            assertThat(e.getMessage()).startsWith("regions[1].fd");
        }

        @Test
        void anyFdIndexIsBadFdWhenNoDescriptorsCame() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":0,\"guestNode\":0"), 0);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_FD);
            assertThat(e.getMessage()).startsWith("regions[0].fd");
        }

        @Test
        void aNegativeFdIndexIsABadRequest() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":-1,\"guestNode\":0"), 4);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions[0].fd");
        }

        @Test
        void fdIndex16IsRefusedNamingTheField() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":16,\"guestNode\":0"), 16);

            assertThat(e.code()).isIn(ErrorCode.BAD_FD, ErrorCode.BAD_REQUEST);
            assertThat(e.getMessage()).startsWith("regions[0].fd");
        }

        @Test
        void fdIndex16IsBadFd() {
            InvalidRequestException e = refusal(applyWithRegion("\"fd\":16,\"guestNode\":0"), 2);

            assertThat(e.code()).isEqualTo(ErrorCode.BAD_FD);
        }

        @Test
        void badFdIsReportedForTheFirstRegionThatHasNoDescriptor() {
            InvalidRequestException e = refusal(
                    applyWithRegions(
                            "{\"fd\":0,\"guestNode\":0}",
                            "{\"fd\":1,\"guestNode\":1}",
                            "{\"fd\":5,\"guestNode\":2}",
                            "{\"fd\":6,\"guestNode\":3}"),
                    2);

            assertThat(e.getMessage()).startsWith("regions[2].fd").contains("5");
        }
    }

    @Test
    void everyValidRegionCountFrom1To64Parses() throws Exception {
        for (int n : List.of(1, 2, 17, 63, 64)) {
            assertThat(parse(applyWithRegions(regions(n)), 1).regions()).hasSize(n);
        }
        assertThatThrownBy(() -> parse(applyWithRegions(regions(65)), 1)).isInstanceOf(InvalidRequestException.class);
    }

    /** {@code n} regions on fd 0, guest nodes 0.. n-1 (mod 64). */
    private static String[] regions(int n) {
        return IntStream.range(0, n)
                .mapToObj(
                        i -> "{\"fd\":0,\"guestNode\":" + (i % 64) + ",\"offset\":" + (i * 4096L) + ",\"length\":4096}")
                .collect(Collectors.toList())
                .toArray(String[]::new);
    }

    private static byte[] concat(String before, byte[] middle, String after) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(before.getBytes(StandardCharsets.UTF_8));
        out.writeBytes(middle);
        out.writeBytes(after.getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }
}
