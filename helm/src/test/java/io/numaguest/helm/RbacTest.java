package io.numaguest.helm;

import static io.numaguest.helm.Manifests.texts;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Least privilege, checked with a small RBAC evaluator over the rendered rules (the same matching
 * the API server does for apiGroups/resources/verbs; resourceNames are not used by the chart).
 */
class RbacTest {

    private final Manifests manifests = Chart.render();
    private final JsonNode agentRole = manifests.named("ClusterRole", "numaguest-agent");
    private final JsonNode operatorRole = manifests.named("ClusterRole", "numaguest-operator");
    private final JsonNode leaseRole = manifests.single("Role");

    @Test
    void noWildcardsAnywhere() {
        for (String kind : List.of("ClusterRole", "Role")) {
            for (JsonNode role : manifests.ofKind(kind)) {
                for (JsonNode rule : role.path("rules")) {
                    for (String field :
                            List.of("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")) {
                        assertThat(texts(rule.path(field)))
                                .as(
                                        "%s %s %s",
                                        kind, role.path("metadata").path("name").asText(), field)
                                .noneMatch(v -> v.contains("*"));
                    }
                }
            }
        }
    }

    @Test
    void agentReadsNgmsButWritesOnlyTheirStatus() {
        // KubernetesPolicySource's informers list and watch; AppliedStatusWriter sends a JSON patch of
        // status, which Fabric8 sends after a get of the object (e2e RbacIT patches the same way).
        for (String verb : List.of("get", "list", "watch")) {
            assertThat(allows(agentRole, "numaguest.io", "numaguestmemories", verb))
                    .as(verb)
                    .isTrue();
        }
        for (String verb : List.of("create", "update", "patch", "delete", "deletecollection")) {
            assertThat(allows(agentRole, "numaguest.io", "numaguestmemories", verb))
                    .as("spec " + verb)
                    .isFalse();
        }
        assertThat(allows(agentRole, "numaguest.io", "numaguestmemories/status", "patch"))
                .isTrue();
        assertThat(allows(agentRole, "numaguest.io", "numaguestmemories/status", "update"))
                .isFalse();
        assertThat(allows(agentRole, "numaguest.io", "numaguestmemories/finalizers", "update"))
                .isFalse();
        // The agent posts no Events.
        assertThat(allows(agentRole, "", "events", "create")).isFalse();
        assertThat(allows(agentRole, "events.k8s.io", "events", "create")).isFalse();
    }

    @Test
    void agentPublishesTopologyButCannotDeleteIt() {
        // NodeTopologyPublisher: get the CRD by name, get its own NRT, then create or update it.
        for (String verb : List.of("create", "get", "update")) {
            assertThat(allows(agentRole, "topology.node.k8s.io", "noderesourcetopologies", verb))
                    .as(verb)
                    .isTrue();
        }
        for (String verb : List.of("patch", "delete", "list", "watch")) {
            assertThat(allows(agentRole, "topology.node.k8s.io", "noderesourcetopologies", verb))
                    .as(verb)
                    .isFalse();
        }
        assertThat(allows(agentRole, "apiextensions.k8s.io", "customresourcedefinitions", "get"))
                .isTrue();
        for (String verb : List.of("list", "watch", "create")) {
            assertThat(allows(agentRole, "apiextensions.k8s.io", "customresourcedefinitions", verb))
                    .as(verb)
                    .isFalse();
        }
    }

    @Test
    void agentHasNothingElse() {
        // Secrets, pods: nothing the agent does needs them, so a compromised agent cannot use them.
        for (String resource : List.of("secrets", "pods", "configmaps", "serviceaccounts")) {
            for (String verb : List.of("get", "list", "create", "update", "patch", "delete")) {
                assertThat(allows(agentRole, "", resource, verb))
                        .as(resource + " " + verb)
                        .isFalse();
            }
        }
        // Its own Node by name (the owner of its NodeResourceTopology), nothing more.
        assertThat(allows(agentRole, "", "nodes", "get")).isTrue();
        for (String verb : List.of("list", "watch", "create", "update", "patch", "delete")) {
            assertThat(allows(agentRole, "", "nodes", verb)).as("nodes " + verb).isFalse();
        }
        assertThat(allows(agentRole, "", "pods/exec", "create")).isFalse();
        assertThat(allows(agentRole, "authentication.k8s.io", "tokenreviews", "create"))
                .isFalse();
    }

    @Test
    void operatorCanDoItsWork() {
        // patch: the previous release's operator applies node labels, while agents roll out first.
        for (String verb : List.of("list", "watch", "patch")) {
            assertThat(allows(operatorRole, "numaguest.io", "numaguestmemories", verb))
                    .as(verb)
                    .isTrue();
        }
        for (String verb : List.of("create", "update", "delete")) {
            assertThat(allows(operatorRole, "numaguest.io", "numaguestmemories", verb))
                    .as("the user's: " + verb)
                    .isFalse();
        }
        assertThat(allows(operatorRole, "numaguest.io", "numaguestmemories/status", "patch"))
                .isTrue();
        for (String verb : List.of("list", "watch")) {
            assertThat(allows(operatorRole, "", "pods", verb))
                    .as("pods " + verb)
                    .isTrue();
        }
        assertThat(allows(operatorRole, "", "pods", "update")).isFalse();
        assertThat(allows(operatorRole, "", "nodes", "list"))
                .as("the operator reads no Node")
                .isFalse();
        assertThat(allows(operatorRole, "", "events", "create")).isTrue();
        assertThat(allows(operatorRole, "kubevirt.io", "virtualmachineinstances", "watch"))
                .isTrue();
        assertThat(allows(operatorRole, "kubevirt.io", "virtualmachineinstances", "patch"))
                .isTrue();
        assertThat(allows(operatorRole, "kubevirt.io", "virtualmachineinstances", "update"))
                .isFalse();
        assertThat(allows(operatorRole, "topology.node.k8s.io", "noderesourcetopologies", "watch"))
                .isTrue();
        assertThat(allows(operatorRole, "topology.node.k8s.io", "noderesourcetopologies", "update"))
                .isFalse();
        assertThat(allows(operatorRole, "apiextensions.k8s.io", "customresourcedefinitions", "watch"))
                .isTrue();
        assertThat(allows(operatorRole, "", "secrets", "get")).isFalse();
    }

    @Test
    void leasesOnlyInTheOperatorsNamespace() {
        assertThat(allows(operatorRole, "coordination.k8s.io", "leases", "get"))
                .as("cluster-wide")
                .isFalse();
        assertThat(leaseRole.path("metadata").path("namespace").asText()).isEqualTo(Chart.NAMESPACE);
        for (String verb : List.of("get", "create", "update")) {
            assertThat(allows(leaseRole, "coordination.k8s.io", "leases", verb))
                    .as(verb)
                    .isTrue();
        }
        assertThat(allows(leaseRole, "coordination.k8s.io", "leases", "delete")).isFalse();
        assertThat(leaseRole.path("rules").size()).isEqualTo(1);
    }

    @Test
    void bindingsGrantEachRoleToTheServiceAccountItsPodsRunAs() {
        String operatorSa = manifests
                .single("Deployment")
                .path("spec")
                .path("template")
                .path("spec")
                .path("serviceAccountName")
                .asText();
        String agentSa = manifests
                .single("DaemonSet")
                .path("spec")
                .path("template")
                .path("spec")
                .path("serviceAccountName")
                .asText();
        assertThat(manifests.names("ServiceAccount")).contains(operatorSa, agentSa);

        assertBinding(
                manifests.named("ClusterRoleBinding", "numaguest-operator"),
                "ClusterRole",
                "numaguest-operator",
                operatorSa);
        assertBinding(
                manifests.named("ClusterRoleBinding", "numaguest-agent"), "ClusterRole", "numaguest-agent", agentSa);
        assertBinding(
                manifests.single("RoleBinding"),
                "Role",
                leaseRole.path("metadata").path("name").asText(),
                operatorSa);
    }

    @Test
    void existingServiceAccountsAreBoundWhenTheChartCreatesNone() {
        Manifests external = Chart.render(java.util.Map.of(
                "agent.serviceAccount.create", false, "agent.serviceAccount.name", "platform-numa-agent"));
        assertThat(external.names("ServiceAccount")).containsExactly("numaguest-operator");
        assertBinding(
                external.named("ClusterRoleBinding", "numaguest-agent"),
                "ClusterRole",
                "numaguest-agent",
                "platform-numa-agent");
        assertThat(external.single("DaemonSet")
                        .path("spec")
                        .path("template")
                        .path("spec")
                        .path("serviceAccountName")
                        .asText())
                .isEqualTo("platform-numa-agent");
    }

    private static void assertBinding(JsonNode binding, String roleKind, String roleName, String serviceAccount) {
        assertThat(binding.path("roleRef").path("kind").asText()).isEqualTo(roleKind);
        assertThat(binding.path("roleRef").path("name").asText()).isEqualTo(roleName);
        JsonNode subjects = binding.path("subjects");
        assertThat(subjects.size()).isEqualTo(1);
        assertThat(subjects.get(0).path("kind").asText()).isEqualTo("ServiceAccount");
        assertThat(subjects.get(0).path("name").asText()).isEqualTo(serviceAccount);
        assertThat(subjects.get(0).path("namespace").asText()).isEqualTo(Chart.NAMESPACE);
    }

    /** Whether any rule of the role grants verb on group/resource (subresources as "res/sub"). */
    static boolean allows(JsonNode role, String group, String resource, String verb) {
        for (JsonNode rule : role.path("rules")) {
            if (matches(rule.path("apiGroups"), group)
                    && matches(rule.path("resources"), resource)
                    && matches(rule.path("verbs"), verb)) {
                return true;
            }
        }
        return false;
    }

    private static boolean matches(JsonNode values, String wanted) {
        for (JsonNode value : values) {
            if (value.asText().equals(wanted) || value.asText().equals("*")) {
                return true;
            }
        }
        return false;
    }
}
