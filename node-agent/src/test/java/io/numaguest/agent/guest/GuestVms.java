package io.numaguest.agent.guest;

import java.util.List;
import java.util.stream.Collectors;

/** The VMs of the guest tests, one per case, and their entries in the agents' policy file. */
enum GuestVms {
    BIND_1("Bind", "[1]", false),
    PREFERRED_1("Preferred", "[1]", false),
    PREFERRED_MANY_1("PreferredMany", "[1]", false),
    INTERLEAVE_0_1("Interleave", "[0, 1]", false),
    WEIGHTED_INTERLEAVE_0_1("WeightedInterleave", "[0, 1]", false),
    LOCAL("Local", null, false),
    BIND_0("Bind", "[0]", false),
    DEFAULT("Default", null, false),
    MIGRATE_TO_1("Bind", "[1]", true),
    MIGRATE_TO_1_UNPRIVILEGED("Bind", "[1]", true),
    HUGETLB_BIND_1("Bind", "[1]", false),
    GUEST_MEMFD_BIND_1("Bind", "[1]", false),
    GUEST_MEMFD_PRIVATE_BIND_1("Bind", "[1]", false),
    GUEST_MEMFD_UNMAPPABLE("Bind", "[1]", false),
    CPUSET_BIND_1("Bind", "[1]", false),
    CPUSET_BIND_0_1("Bind", "[0, 1]", false);

    private final String policy;
    private final String hostNodes;
    private final boolean migrate;

    GuestVms(String policy, String hostNodes, boolean migrate) {
        this.policy = policy;
        this.hostNodes = hostNodes;
        this.migrate = migrate;
    }

    /** The VM's name in requests: default/bind-1 and so on. */
    String vm() {
        return name().toLowerCase().replace('_', '-');
    }

    String policy() {
        return policy;
    }

    static String policyFileEntries() {
        return List.of(values()).stream()
                .map(vm -> "  - name: " + vm.vm() + "\n    guestNodes:\n      - guestNode: 0\n"
                        + "        policy: " + vm.policy + "\n"
                        + (vm.hostNodes == null ? "" : "        hostNodes: " + vm.hostNodes + "\n")
                        + "        migrate: " + vm.migrate + "\n")
                .collect(Collectors.joining());
    }
}
