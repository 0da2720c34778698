package io.numaguest.helm;

import static io.numaguest.helm.Manifests.texts;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.NullValue;
import dev.cel.common.CelAbstractSyntaxTree;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The ValidatingAdmissionPolicy that confines the agent to its own node. Its CEL is evaluated here
 * with Google's CEL for Java, following the API server's order (resource rules, matchConditions,
 * variables, validations), against the requests an agent would send. The real API server check is
 * the test-environment issue's; this one catches a wrong expression or rule without a cluster.
 */
class AgentAdmissionPolicyTest {

    private static final String AGENT = "system:serviceaccount:numaguest-system:numaguest-agent";
    private static final String NODE_NAME_KEY = "authentication.kubernetes.io/node-name";

    private final Manifests manifests = Chart.render();
    private final JsonNode policy = manifests.single("ValidatingAdmissionPolicy");
    private final JsonNode binding = manifests.single("ValidatingAdmissionPolicyBinding");

    @Test
    void bindingEnforcesThePolicyEverywhere() {
        assertThat(binding.path("spec").path("policyName").asText())
                .isEqualTo(policy.path("metadata").path("name").asText());
        assertThat(texts(binding.path("spec").path("validationActions"))).containsExactly("Deny");
        // No namespace or object selector: NGMs live in every namespace, NRTs are cluster-scoped.
        assertThat(binding.path("spec").has("matchResources")).isFalse();
        assertThat(policy.path("spec").path("failurePolicy").asText()).isEqualTo("Fail");
    }

    @Test
    void agentWritesItsOwnNodesTopology() {
        assertThat(admit(agentOn("node-a"), "CREATE", nrt("node-a"), null)).isEmpty();
        assertThat(admit(agentOn("node-a"), "UPDATE", nrt("node-a"), nrt("node-a")))
                .isEmpty();
    }

    @Test
    void agentCannotWriteAnotherNodesTopology() {
        assertThat(admit(agentOn("node-a"), "CREATE", nrt("node-b"), null))
                .singleElement()
                .asString()
                .contains("node-a")
                .contains("node-b");
        assertThat(admit(agentOn("node-a"), "UPDATE", nrt("node-b"), nrt("node-b")))
                .hasSize(1);
    }

    @Test
    void agentWritesTheStatusOfItsNodesNgmsOnly() {
        assertThat(admit(agentOn("node-a"), "UPDATE", ngmStatus("node-a"), ngmStatus("node-a")))
                .isEmpty();
        assertThat(admit(agentOn("node-a"), "UPDATE", ngmStatus("node-b"), ngmStatus("node-b")))
                .singleElement()
                .asString()
                .contains("status.nodeName or status.migration.nodeName is node-a");
        // An NGM the operator has not placed yet (no status.nodeName) is nobody's.
        assertThat(admit(agentOn("node-a"), "UPDATE", ngmStatus(null), ngmStatus(null)))
                .hasSize(1);
        assertThat(admit(agentOn("node-a"), "UPDATE", withoutStatus(), withoutStatus()))
                .isNotEmpty();
    }

    @Test
    void aMigrationsTargetNodeWritesItsEvidenceToo() {
        Target arriving = ngmStatus("node-b", Map.of("nodeName", "node-a"));
        assertThat(admit(agentOn("node-a"), "UPDATE", arriving, arriving)).isEmpty();
        assertThat(admit(agentOn("node-c"), "UPDATE", arriving, arriving)).hasSize(1);
    }

    @Test
    void theStoredObjectDecidesNotTheNodeAWriteBrings() {
        // Claiming node-b's NGM by writing node-a into it: refused twice, not node-a's, and a move.
        assertThat(admit(agentOn("node-a"), "UPDATE", ngmStatus("node-a"), ngmStatus("node-b")))
                .hasSize(2);
        assertThat(admit(
                        agentOn("node-a"),
                        "UPDATE",
                        ngmStatus("node-b", Map.of("nodeName", "node-a")),
                        ngmStatus("node-b")))
                .hasSize(2);
    }

    @Test
    void eachListOfEvidenceHasOneWriter() {
        List<Map<String, Object>> entries = List.of(Map.of("guestNode", 0));
        Target migrating = ngmStatus("node-a", Map.of("nodeName", "node-b"));
        // Where the VM runs: applied. Where it goes: migrationApplied.
        assertThat(admit(agentOn("node-a"), "UPDATE", with(migrating, "applied", entries), migrating))
                .isEmpty();
        assertThat(admit(agentOn("node-b"), "UPDATE", with(migrating, "migrationApplied", entries), migrating))
                .isEmpty();
        // Not the other's: forging Ready from the target, MigrationTargetReady from the source.
        assertThat(admit(agentOn("node-b"), "UPDATE", with(migrating, "applied", entries), migrating))
                .singleElement()
                .asString()
                .contains("may not write status.applied");
        assertThat(admit(agentOn("node-a"), "UPDATE", with(migrating, "migrationApplied", entries), migrating))
                .singleElement()
                .asString()
                .contains("may not write status.migrationApplied");
        // With no migration under way, the agent where the VM runs drops a leftover list, and only drops it.
        Target leftover = with(ngmStatus("node-a"), "migrationApplied", entries);
        assertThat(admit(agentOn("node-a"), "UPDATE", without(leftover, "migrationApplied"), leftover))
                .isEmpty();
        assertThat(admit(
                        agentOn("node-a"),
                        "UPDATE",
                        with(leftover, "migrationApplied", List.of(Map.of("guestNode", 1))),
                        leftover))
                .hasSize(1);
        // While one is under way, the source cannot drop the target's.
        Target under = with(migrating, "migrationApplied", entries);
        assertThat(admit(agentOn("node-a"), "UPDATE", without(under, "migrationApplied"), under))
                .hasSize(1);
    }

    @Test
    void agentWritesItsEvidenceButNoneOfTheOperatorsFields() {
        Target stored = ngmStatus("node-a");
        assertThat(admit(agentOn("node-a"), "UPDATE", with(stored, "applied", List.of(Map.of("guestNode", 0))), stored))
                .isEmpty();
        Map<String, Object> forged = Map.of(
                "nodeName", "node-b",
                "placement", List.of(Map.of("guestNode", 0, "policy", "Bind", "hostNodes", List.of(1))),
                "placementSummary", "0:Bind(1)",
                "targetPod", Map.of("name", "other", "uid", "u2"),
                "migration", Map.of("nodeName", "node-b"),
                "conditions", List.of(Map.of("type", "Ready", "status", "True")),
                "observedGeneration", 9);
        forged.forEach(
                (field, value) -> assertThat(admit(agentOn("node-a"), "UPDATE", with(stored, field, value), stored))
                        .as(field)
                        .singleElement()
                        .asString()
                        .contains("may write only status.applied and status.migrationApplied"));
        // Taking a field away is a change too.
        assertThat(admit(agentOn("node-a"), "UPDATE", without(stored, "conditions"), stored))
                .hasSize(1);
    }

    @Test
    void tokenWithoutNodeClaimIsRefused() {
        Map<String, Object> user = Map.of("username", AGENT, "extra", Map.of());
        assertThat(admit(user, "CREATE", nrt("node-a"), null))
                .isNotEmpty()
                .anySatisfy(m -> assertThat(m).contains("node-name"));
        assertThat(admit(user, "UPDATE", ngmStatus("node-a"), ngmStatus("node-a")))
                .isNotEmpty();
        // A user with no extra at all: the request carries no extra field, which must not be an error.
        assertThat(admit(Map.of("username", AGENT), "CREATE", nrt("node-a"), null))
                .anySatisfy(m -> assertThat(m).contains("node-name"));
    }

    @Test
    void otherIdentitiesAreNotAffected() {
        Map<String, Object> operator =
                Map.of("username", "system:serviceaccount:numaguest-system:numaguest-operator", "extra", Map.of());
        Map<String, Object> nfd = Map.of(
                "username",
                "system:serviceaccount:node-feature-discovery:nfd-topology-updater",
                "extra",
                Map.of(NODE_NAME_KEY, List.of("node-a")));
        assertThat(admit(operator, "UPDATE", ngmStatus("node-b"), ngmStatus("node-b")))
                .isEmpty();
        assertThat(admit(nfd, "CREATE", nrt("node-b"), null)).isEmpty();
    }

    @Test
    void followsTheAgentServiceAccountName() {
        JsonNode renamed =
                Chart.render("agent.serviceAccount.name", "numa-agent").single("ValidatingAdmissionPolicy");
        assertThat(renamed.path("spec")
                        .path("matchConditions")
                        .get(0)
                        .path("expression")
                        .asText())
                .contains("'system:serviceaccount:numaguest-system:numa-agent'");
    }

    @Test
    void canBeAuditedFirstOrTurnedOff() {
        Manifests audit = Chart.render(Map.of(
                "agent.nodeRestriction.validationActions[0]", "Warn",
                "agent.nodeRestriction.validationActions[1]", "Audit"));
        assertThat(texts(audit.single("ValidatingAdmissionPolicyBinding")
                        .path("spec")
                        .path("validationActions")))
                .containsExactly("Warn", "Audit");
        Manifests off = Chart.render("agent.nodeRestriction.enabled", false);
        assertThat(off.ofKind("ValidatingAdmissionPolicy")).isEmpty();
        assertThat(off.ofKind("ValidatingAdmissionPolicyBinding")).isEmpty();
    }

    // ---- a small model of the API server's policy evaluation ----

    private static Map<String, Object> agentOn(String node) {
        return Map.of("username", AGENT, "extra", Map.of(NODE_NAME_KEY, List.of(node)));
    }

    /** What the request is about: group, resource, subresource and the object. */
    private record Target(String group, String resource, String subResource, Map<String, Object> object) {}

    private static Target nrt(String name) {
        return new Target(
                "topology.node.k8s.io",
                "noderesourcetopologies",
                "",
                Map.of("metadata", Map.of("name", name), "zones", List.of()));
    }

    /** An NGM's status as the operator wrote it, placed on {@code nodeName} (null: not placed). */
    private static Target ngmStatus(String nodeName) {
        return ngmStatus(nodeName, null);
    }

    private static Target ngmStatus(String nodeName, Map<String, Object> migration) {
        Map<String, Object> status = new HashMap<>();
        status.put("observedGeneration", 1);
        status.put("targetPod", Map.of("name", "virt-launcher-vm1", "uid", "u1"));
        status.put("placement", List.of(Map.of("guestNode", 0, "policy", "Bind", "hostNodes", List.of(0))));
        status.put("conditions", List.of(Map.of("type", "Ready", "status", "False", "reason", "NotApplied")));
        if (nodeName != null) {
            status.put("nodeName", nodeName);
        }
        if (migration != null) {
            status.put("migration", migration);
        }
        return new Target(
                "numaguest.io", "numaguestmemories", "status", Map.of("metadata", ngmMetadata(), "status", status));
    }

    private static Target withoutStatus() {
        return new Target("numaguest.io", "numaguestmemories", "status", Map.of("metadata", ngmMetadata()));
    }

    private static Map<String, Object> ngmMetadata() {
        return Map.of("name", "vm1", "namespace", "vms");
    }

    @SuppressWarnings("unchecked")
    private static Target with(Target ngm, String field, Object value) {
        Map<String, Object> status =
                new HashMap<>((Map<String, Object>) ngm.object().get("status"));
        status.put(field, value);
        return new Target(
                ngm.group(), ngm.resource(), ngm.subResource(), Map.of("metadata", ngmMetadata(), "status", status));
    }

    @SuppressWarnings("unchecked")
    private static Target without(Target ngm, String field) {
        Map<String, Object> status =
                new HashMap<>((Map<String, Object>) ngm.object().get("status"));
        status.remove(field);
        return new Target(
                ngm.group(), ngm.resource(), ngm.subResource(), Map.of("metadata", ngmMetadata(), "status", status));
    }

    /** Evaluates the policy for one request; returns the denial messages (empty: admitted). */
    private List<String> admit(Map<String, Object> userInfo, String operation, Target target, Target old) {
        JsonNode spec = policy.path("spec");
        if (!coveredByRules(spec.path("matchConstraints").path("resourceRules"), operation, target)) {
            return List.of();
        }
        Map<String, Object> request = Map.of(
                "userInfo",
                userInfo,
                "operation",
                operation,
                "resource",
                Map.of("group", target.group(), "version", "v1", "resource", target.resource()),
                "subResource",
                target.subResource());
        Map<String, Object> activation = new HashMap<>();
        activation.put("request", request);
        activation.put("object", target.object());
        activation.put("oldObject", old == null ? NullValue.NULL_VALUE : old.object());
        for (JsonNode condition : spec.path("matchConditions")) {
            if (!Boolean.TRUE.equals(eval(condition.path("expression").asText(), activation))) {
                return List.of();
            }
        }
        Map<String, Object> variables = new HashMap<>();
        activation.put("variables", variables);
        for (JsonNode variable : spec.path("variables")) {
            variables.put(
                    variable.path("name").asText(),
                    eval(variable.path("expression").asText(), activation));
        }
        List<String> denials = new ArrayList<>();
        for (JsonNode validation : spec.path("validations")) {
            if (!Boolean.TRUE.equals(eval(validation.path("expression").asText(), activation))) {
                denials.add(
                        validation.has("messageExpression")
                                ? (String) eval(
                                        validation.path("messageExpression").asText(), activation)
                                : validation.path("message").asText());
            }
        }
        return denials;
    }

    /** The policy must see the request at all: a rule for its group, resource(/subresource) and operation. */
    private static boolean coveredByRules(JsonNode rules, String operation, Target target) {
        String resource =
                target.subResource().isEmpty() ? target.resource() : target.resource() + "/" + target.subResource();
        for (JsonNode rule : rules) {
            if (texts(rule.path("apiGroups")).contains(target.group())
                    && texts(rule.path("resources")).contains(resource)
                    && texts(rule.path("operations")).contains(operation)) {
                return true;
            }
        }
        throw new AssertionError("the policy's resource rules do not cover " + operation + " " + resource);
    }

    private static final CelCompiler COMPILER = CelCompilerFactory.standardCelCompilerBuilder()
            .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
            .addVar("request", SimpleType.DYN)
            .addVar("object", SimpleType.DYN)
            .addVar("oldObject", SimpleType.DYN)
            .addVar("variables", SimpleType.DYN)
            .build();
    private static final CelRuntime RUNTIME =
            CelRuntimeFactory.standardCelRuntimeBuilder().build();

    private static Object eval(String expression, Map<String, Object> activation) {
        try {
            CelAbstractSyntaxTree ast = COMPILER.compile(expression).getAst();
            return RUNTIME.createProgram(ast).eval(activation);
        } catch (Exception e) {
            throw new AssertionError("CEL expression failed: " + expression, e);
        }
    }
}
