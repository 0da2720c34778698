package io.numaguest.agent.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link PolicyFile#parse}: the standalone policy file, and an error message that names the place of each problem. */
class PolicyFileTest {

    private static String problem(String yaml) {
        InvalidPolicyFileException e =
                catchThrowableOfType(InvalidPolicyFileException.class, () -> PolicyFile.parse(yaml));
        assertThat(e).as("the file should be refused:%n%s", yaml).isNotNull();
        return e.getMessage();
    }

    /** A file with VM vm1 whose one guest node entry has the given YAML lines (indented under "- "). */
    private static String oneGuestNode(String... lines) {
        StringBuilder yaml = new StringBuilder("vms:\n  - name: vm1\n    guestNodes:\n");
        for (int i = 0; i < lines.length; i++) {
            yaml.append(i == 0 ? "      - " : "        ").append(lines[i]).append('\n');
        }
        return yaml.toString();
    }

    @Test
    void theStandaloneExampleGivesVm1TwoGuestNodes() throws Exception {
        String example = Files.readString(Path.of("..", "examples", "standalone", "policy.yaml"));

        Map<VmRef, Map<Integer, GuestNodePolicy>> policies = PolicyFile.parse(example);

        assertThat(policies).containsOnlyKeys(new VmRef("default", "vm1"));
        Map<Integer, GuestNodePolicy> vm1 = policies.get(new VmRef("default", "vm1"));
        assertThat(vm1).containsOnlyKeys(0, 1);
        assertThat(vm1.get(0)).isEqualTo(new GuestNodePolicy(0, MemoryPolicy.Bind, List.of(0), Set.of(), false));
        assertThat(vm1.get(1)).isEqualTo(new GuestNodePolicy(1, MemoryPolicy.Preferred, List.of(0), Set.of(), false));
    }

    @Test
    void allFieldsAreRead() throws Exception {
        Map<VmRef, Map<Integer, GuestNodePolicy>> policies = PolicyFile.parse("""
                vms:
                  - name: db
                    namespace: tenant-a
                    guestNodes:
                      - guestNode: 3
                        policy: Interleave
                        hostNodes: [1, 0, 2]
                        flags: [RelativeNodes]
                        migrate: true
                  - name: db
                    namespace: tenant-b
                    guestNodes:
                      - guestNode: 0
                        policy: Local
                """);

        assertThat(policies.get(new VmRef("tenant-a", "db")).get(3))
                .isEqualTo(new GuestNodePolicy(
                        3, MemoryPolicy.Interleave, List.of(1, 0, 2), Set.of(PolicyFlag.RelativeNodes), true));
        assertThat(policies.get(new VmRef("tenant-b", "db")).get(0))
                .isEqualTo(new GuestNodePolicy(0, MemoryPolicy.Local, List.of(), Set.of(), false));
    }

    @Test
    void aVmWithoutNamespaceIsInDefault() throws Exception {
        Map<VmRef, Map<Integer, GuestNodePolicy>> policies =
                PolicyFile.parse(oneGuestNode("guestNode: 0", "policy: Bind", "hostNodes: [1]"));

        assertThat(policies).containsOnlyKeys(new VmRef("default", "vm1"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "\n", "# only a comment\n", "---\n"})
    void anEmptyOrCommentOnlyFileIsBrokenNotEmpty(String yaml) {
        assertThat(problem(yaml)).contains("empty or holds only comments", "write 'vms: []'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"vms:\n", "vms: null\n", "{}\n"})
    void vmsMustBeGiven(String yaml) {
        assertThat(problem(yaml)).startsWith("vms: missing or empty");
    }

    @Test
    void anExplicitEmptyListClearsEveryPolicy() throws Exception {
        assertThat(PolicyFile.parse("vms: []\n")).isEmpty();
    }

    @Test
    void theContentOfAFileThatIsNoPolicyFileIsNotRepeated() {
        String shadow =
                "root:$y$j9T$SecretSaltSecret$HashHashHashHash:20228:0:99999:7:::\n" + "daemon:*:20228:0:99999:7:::\n";
        String message = problem(shadow);
        assertThat(message)
                .doesNotContain("Secret")
                .doesNotContain("Hash")
                .doesNotContain("root")
                .contains("not shown");
        assertThat(problem("vms: [\n  - name: vm1\n    guestNodes: [{guestNode: 0, policy: \"$ecret value\"}]\n]\n"))
                .doesNotContain("ecret");
        assertThat(problem("\tsecret-word: 1\n")).doesNotContain("secret");
    }

    /** Found by PolicyFileFuzzTest: the YAML parser's message names the event it met, with its anchor, tag or value. */
    @ParameterizedTest
    @ValueSource(
            strings = {
                "vms:\n  *%s: 1\n",
                "vms:\n  *%s\n",
                "vms: &%s [\n",
                "vms: !%s\n  - name: vm1\n",
                "vms:\n  - name: vm1\n    guestNodes: &%s {guestNode: 0}\n",
                "{vms: [], *%s: 1}\n",
                "vms:\n  %s: [1]\n  x\n"
            })
    void anAnchorAliasTagOrValueTheParserQuotesIsNotRepeated(String template) {
        String secret = "sEcReTpiece0123456789sEcReTpiece0123456789";
        String message = problem(template.formatted(secret));
        assertThat(message).as(message).doesNotContain("sEcReT");
    }

    /** Found by PolicyFileFuzzTest: a name made of quotes and short pieces passed piece by piece, each short enough to keep. */
    @Test
    void aFieldNameOfQuotesAndShortPiecesIsNotRepeated() {
        String key = "q" + "''ab".repeat(12);
        String message = problem("vms: []\n" + key + ": 1\n" + key + ": 2\n");
        assertThat(message).as(message).doesNotContain("ab''ab");
    }

    @Test
    void aMisspelledPolicyIsNamedWithItsPathAndTheChoices() {
        String message = problem("""
                vms:
                  - name: vm1
                    guestNodes:
                      - guestNode: 0
                        policy: Bind
                        hostNodes: [0]
                      - guestNode: 1
                        policy: Bnd
                        hostNodes: [0]
                """);

        assertThat(message)
                .startsWith("vms[0].guestNodes[1].policy: 'Bnd' is not one of ")
                .contains("Default", "Bind", "Preferred", "PreferredMany", "Interleave", "WeightedInterleave", "Local");
    }

    @Test
    void anErrorInTheSecondVmNamesThatVm() {
        String message = problem("""
                vms:
                  - name: vm1
                    guestNodes: []
                  - name: vm2
                    guestNodes:
                      - guestNode: 0
                        policy: Bind
                        hostNodes: [0]
                        flags: [Static]
                """);

        assertThat(message).startsWith("vms[1].guestNodes[0].flags: 'Static' is not one of StaticNodes, RelativeNodes");
    }

    @Test
    void anUnknownTopLevelFieldIsNamed() {
        assertThat(problem("vms: []\npolicies: []\n")).startsWith("the file: unknown field 'policies'");
    }

    @Test
    void anUnknownVmFieldIsNamed() {
        assertThat(problem("vms:\n  - name: vm1\n    nmespace: x\n    guestNodes: []\n"))
                .startsWith("vms[0]: unknown field 'nmespace'");
    }

    @Test
    void anUnknownGuestNodeFieldIsNamed() {
        assertThat(problem(oneGuestNode("guestNode: 0", "policy: Bind", "hostNode: [0]")))
                .startsWith("vms[0].guestNodes[0]: unknown field 'hostNode'");
    }

    @Test
    void theSameVmTwiceIsRefused() {
        String message = problem("""
                vms:
                  - name: vm1
                    guestNodes: []
                  - name: vm1
                    namespace: default
                    guestNodes: []
                """);

        assertThat(message).startsWith("vms[1]:").contains("default/vm1").contains("twice");
    }

    @Test
    void theSameNameInTwoNamespacesIsTwoVms() throws Exception {
        assertThat(
                        PolicyFile.parse(
                                "vms:\n  - name: vm1\n    guestNodes: []\n  - name: vm1\n    namespace: b\n    guestNodes: []\n"))
                .hasSize(2);
    }

    @Test
    void theSameGuestNodeTwiceIsRefused() {
        String message = problem("""
                vms:
                  - name: vm1
                    guestNodes:
                      - guestNode: 2
                        policy: Bind
                        hostNodes: [0]
                      - guestNode: 2
                        policy: Local
                """);

        assertThat(message)
                .startsWith("vms[0].guestNodes[1]:")
                .contains("guest node 2")
                .contains("twice");
    }

    @Test
    void preferredWithTwoHostNodesIsRefused() {
        String message = problem(oneGuestNode("guestNode: 0", "policy: Preferred", "hostNodes: [0, 1]"));

        assertThat(message)
                .startsWith("vms[0].guestNodes[0]:")
                .contains("Preferred")
                .contains("PreferredMany");
    }

    @Test
    void defaultWithHostNodesIsRefused() {
        String message = problem(oneGuestNode("guestNode: 0", "policy: Default", "hostNodes: [0]"));

        assertThat(message)
                .startsWith("vms[0].guestNodes[0]:")
                .contains("Default")
                .contains("takes no hostNodes");
    }

    @Test
    void localWithAFlagIsRefused() {
        assertThat(problem(oneGuestNode("guestNode: 0", "policy: Local", "flags: [StaticNodes]")))
                .startsWith("vms[0].guestNodes[0]:")
                .contains("Local");
    }

    @Test
    void bindWithoutHostNodesIsRefused() {
        assertThat(problem(oneGuestNode("guestNode: 0", "policy: Bind")))
                .startsWith("vms[0].guestNodes[0]:")
                .contains("needs hostNodes");
    }

    @Test
    void aRepeatedHostNodeIsRefused() {
        assertThat(problem(oneGuestNode("guestNode: 0", "policy: Interleave", "hostNodes: [0, 1, 0]")))
                .startsWith("vms[0].guestNodes[0]:")
                .contains("repeat");
    }

    @Test
    void staticAndRelativeNodesTogetherAreRefused() {
        assertThat(problem(oneGuestNode(
                        "guestNode: 0", "policy: Bind", "hostNodes: [0]", "flags: [StaticNodes, RelativeNodes]")))
                .startsWith("vms[0].guestNodes[0]:")
                .contains("StaticNodes")
                .contains("RelativeNodes");
    }

    @ParameterizedTest
    @ValueSource(strings = {"\"true\"", "1", "maybe", "[true]"})
    void migrateMustBeABoolean(String value) {
        assertThat(problem(oneGuestNode("guestNode: 0", "policy: Bind", "hostNodes: [0]", "migrate: " + value)))
                .startsWith("vms[0].guestNodes[0].migrate: must be true or false");
    }

    @ParameterizedTest
    @ValueSource(strings = {"'0'", "1.5", "x", "[0]", "4294967296"})
    void aHostNodeMustBeANodeNumber(String value) {
        assertThat(problem(oneGuestNode("guestNode: 0", "policy: Bind", "hostNodes: [" + value + "]")))
                .startsWith("vms[0].guestNodes[0].hostNodes:");
    }

    @Test
    void aHostNodeBeyondTheKernelsMaximumIsRefused() {
        assertThat(problem(oneGuestNode("guestNode: 0", "policy: Bind", "hostNodes: [1024]")))
                .startsWith("vms[0].guestNodes[0]:")
                .contains("1024");
    }

    @ParameterizedTest
    @ValueSource(strings = {"-1", "64"})
    void aGuestNodeOutside0To63IsRefused(String value) {
        assertThat(problem(oneGuestNode("guestNode: " + value, "policy: Local")))
                .startsWith("vms[0].guestNodes[0]:")
                .contains(value);
    }

    @Test
    void guestNode63IsAccepted() throws Exception {
        assertThat(PolicyFile.parse(oneGuestNode("guestNode: 63", "policy: Local"))
                        .get(new VmRef(null, "vm1")))
                .containsOnlyKeys(63);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "guestNode: x", "guestNode: '1'", "guestNode: 1.5"})
    void aGuestNodeNumberIsRequired(String line) {
        String yaml = line.isEmpty() ? oneGuestNode("policy: Local") : oneGuestNode(line, "policy: Local");

        assertThat(problem(yaml)).startsWith("vms[0].guestNodes[0].guestNode: required");
    }

    @Test
    void aPolicyIsRequired() {
        assertThat(problem(oneGuestNode("guestNode: 0", "hostNodes: [0]")))
                .startsWith("vms[0].guestNodes[0].policy: required");
    }

    @Test
    void aVmNeedsAName() {
        assertThat(problem("vms:\n  - namespace: a\n    guestNodes: []\n")).startsWith("vms[0].name: required");
    }

    @Test
    void aVmNeedsAGuestNodeList() {
        assertThat(problem("vms:\n  - name: vm1\n")).startsWith("vms[0].guestNodes:");
    }

    @Test
    void vmsMustBeAList() {
        assertThat(problem("vms:\n  name: vm1\n")).startsWith("vms: must be a list");
    }

    @Test
    void theFileMustBeAMapping() {
        assertThat(problem("- name: vm1\n")).startsWith("the file: must be a mapping");
    }

    @Test
    void invalidYamlIsReportedWithItsLine() {
        String message = problem("""
                vms:
                  - name: vm1
                    guestNodes:
                      - guestNode: 0
                        policy: Bind
                        hostNodes: [0
                        migrate: false
                """);

        assertThat(message).startsWith("not valid YAML").endsWith("(line 7)");
    }

    @Test
    void aTabIndentationErrorIsReportedOnItsOwnLine() {
        String message = problem("""
                vms:
                  - name: vm1
                    guestNodes:
                      - guestNode: 0
                        policy: Bind
                \t    hostNodes: [0]
                """);

        assertThat(message).startsWith("not valid YAML").endsWith("(line 6)");
    }

    @Test
    void aKeyGivenTwiceIsRefused() {
        String message = problem(oneGuestNode("guestNode: 0", "policy: Bind", "hostNodes: [0]", "hostNodes: [1]"));

        assertThat(message).contains("hostNodes");
    }

    @Test
    void aSecondYamlDocumentIsNotSilentlyIgnored() {
        String yaml = "vms: []\n---\n" + oneGuestNode("guestNode: 0", "policy: Bind", "hostNodes: [0]");

        problem(yaml);
    }

    @Test
    void tooDeepYamlIsRefusedNotAStackOverflow() {
        assertThat(problem("vms: " + "[".repeat(20_000))).startsWith("not valid YAML");
    }
}
