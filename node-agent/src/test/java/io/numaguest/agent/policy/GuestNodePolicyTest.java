package io.numaguest.agent.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.numaguest.agent.nativeaccess.KernelPolicy;
import io.numaguest.agent.nativeaccess.NodeMask;
import io.numaguest.agent.nativeaccess.NumaMode;
import io.numaguest.agent.nativeaccess.NumaModeFlag;
import io.numaguest.api.v1alpha1.MemoryPolicy;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** {@link GuestNodePolicy}: the shapes the kernel accepts, and the mbind() arguments each one becomes. */
class GuestNodePolicyTest {

    private static GuestNodePolicy policy(MemoryPolicy policy, List<Integer> hostNodes, Set<PolicyFlag> flags) {
        return new GuestNodePolicy(0, policy, hostNodes, flags, false);
    }

    // ---------------------------------------------------------------- toKernel()

    @Test
    void bindOnNodes0And2IsMpolBindWithThoseTwoBits() {
        KernelPolicy kernel = policy(MemoryPolicy.Bind, List.of(0, 2), Set.of()).toKernel();

        assertThat(kernel.mode()).isEqualTo(NumaMode.BIND);
        assertThat(kernel.nodes().nodes()).containsExactly(0, 2);
        assertThat(kernel.flags()).isEmpty();
    }

    @ParameterizedTest
    @CsvSource({
        "Bind, BIND",
        "Preferred, PREFERRED",
        "PreferredMany, PREFERRED_MANY",
        "Interleave, INTERLEAVE",
        "WeightedInterleave, WEIGHTED_INTERLEAVE",
    })
    void eachNodePolicyMapsToItsKernelMode(MemoryPolicy policy, NumaMode mode) {
        KernelPolicy kernel = policy(policy, List.of(1), Set.of()).toKernel();

        assertThat(kernel.mode()).isEqualTo(mode);
        assertThat(kernel.nodes().nodes()).containsExactly(1);
    }

    @Test
    void weightedInterleaveKeepsAllItsNodes() {
        KernelPolicy kernel = policy(MemoryPolicy.WeightedInterleave, List.of(3, 1, 2), Set.of())
                .toKernel();

        assertThat(kernel.mode()).isEqualTo(NumaMode.WEIGHTED_INTERLEAVE);
        assertThat(kernel.nodes().nodes()).containsExactly(1, 2, 3);
    }

    @Test
    void defaultIsMpolDefaultWithAnEmptyMask() {
        KernelPolicy kernel = policy(MemoryPolicy.Default, List.of(), Set.of()).toKernel();

        assertThat(kernel.mode()).isEqualTo(NumaMode.DEFAULT);
        assertThat(kernel.nodes().isEmpty()).isTrue();
        assertThat(kernel.flags()).isEmpty();
    }

    @Test
    void localIsMpolLocalWithAnEmptyMask() {
        KernelPolicy kernel = policy(MemoryPolicy.Local, null, null).toKernel();

        assertThat(kernel.mode()).isEqualTo(NumaMode.LOCAL);
        assertThat(kernel.nodes()).isEqualTo(NodeMask.empty());
    }

    @Test
    void staticNodesBecomesTheStaticNodesModeFlag() {
        KernelPolicy kernel = policy(MemoryPolicy.Interleave, List.of(0, 1), Set.of(PolicyFlag.StaticNodes))
                .toKernel();

        assertThat(kernel.flags()).containsExactly(NumaModeFlag.STATIC_NODES);
    }

    @Test
    void relativeNodesBecomesTheRelativeNodesModeFlag() {
        KernelPolicy kernel = policy(MemoryPolicy.PreferredMany, List.of(0, 1), Set.of(PolicyFlag.RelativeNodes))
                .toKernel();

        assertThat(kernel.mode()).isEqualTo(NumaMode.PREFERRED_MANY);
        assertThat(kernel.flags()).containsExactly(NumaModeFlag.RELATIVE_NODES);
    }

    @Test
    void highHostNodesLandInTheirOwnWords() {
        KernelPolicy kernel =
                policy(MemoryPolicy.Bind, List.of(63, 64, 1023), Set.of()).toKernel();

        assertThat(kernel.nodes().nodes()).containsExactly(63, 64, 1023);
    }

    @Test
    void everyMemoryPolicyHasADistinctKernelModeThatMapsBack() {
        for (MemoryPolicy policy : MemoryPolicy.values()) {
            assertThat(KernelModes.policyOf(KernelModes.of(policy))).isEqualTo(policy);
        }
        assertThat(EnumSet.allOf(MemoryPolicy.class)).hasSameSizeAs(NumaMode.values());
    }

    // ---------------------------------------------------------------- shape rules

    @Test
    void localTakesNoNodes() {
        assertThatThrownBy(() -> policy(MemoryPolicy.Local, List.of(0), Set.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Local")
                .hasMessageContaining("no hostNodes");
    }

    @ParameterizedTest
    @EnumSource(
            value = MemoryPolicy.class,
            names = {"Default", "Local"})
    void policiesWithoutNodesTakeNoFlags(MemoryPolicy policy) {
        assertThatThrownBy(() -> policy(policy, List.of(), Set.of(PolicyFlag.StaticNodes)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no flags");
    }

    @ParameterizedTest
    @EnumSource(
            value = MemoryPolicy.class,
            names = {"Default", "Local"},
            mode = EnumSource.Mode.EXCLUDE)
    void policiesWithNodesNeedAtLeastOne(MemoryPolicy policy) {
        assertThatThrownBy(() -> policy(policy, List.of(), Set.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("needs hostNodes");
        assertThatThrownBy(() -> policy(policy, null, Set.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("needs hostNodes");
    }

    @Test
    void preferredTakesExactlyOneNode() {
        assertThatThrownBy(() -> policy(MemoryPolicy.Preferred, List.of(0, 1), Set.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("PreferredMany");
        assertThat(policy(MemoryPolicy.Preferred, List.of(1), Set.of()).hostNodes())
                .containsExactly(1);
    }

    @Test
    void preferredManyTakesSeveralNodes() {
        assertThat(policy(MemoryPolicy.PreferredMany, List.of(0, 1, 2), Set.of())
                        .toKernel()
                        .nodes()
                        .nodes())
                .containsExactly(0, 1, 2);
    }

    @Test
    void aRepeatedHostNodeIsRefused() {
        assertThatThrownBy(() -> policy(MemoryPolicy.Interleave, List.of(0, 1, 0), Set.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("repeat");
    }

    @Test
    void staticAndRelativeNodesExcludeEachOther() {
        assertThatThrownBy(() ->
                        policy(MemoryPolicy.Bind, List.of(0), Set.of(PolicyFlag.StaticNodes, PolicyFlag.RelativeNodes)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("exclude");
    }

    @Test
    void hostNodesMustBeKernelNodeIds() {
        assertThatThrownBy(() -> policy(MemoryPolicy.Bind, List.of(-1), Set.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-1");
        assertThatThrownBy(() -> policy(MemoryPolicy.Bind, List.of(1024), Set.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("1024");
    }

    @Test
    void guestNodesRunFrom0To63() {
        assertThat(new GuestNodePolicy(63, MemoryPolicy.Local, List.of(), Set.of(), false).guestNode())
                .isEqualTo(63);
        assertThatThrownBy(() -> new GuestNodePolicy(64, MemoryPolicy.Local, List.of(), Set.of(), false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("64");
        assertThatThrownBy(() -> new GuestNodePolicy(-1, MemoryPolicy.Local, List.of(), Set.of(), false))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aPolicyIsRequired() {
        assertThatThrownBy(() -> new GuestNodePolicy(0, null, List.of(0), Set.of(), false))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theHostNodeListIsCopiedNotShared() {
        List<Integer> nodes = new ArrayList<>(List.of(0, 1));
        GuestNodePolicy policy = policy(MemoryPolicy.Interleave, nodes, Set.of());

        nodes.add(5);

        assertThat(policy.hostNodes()).containsExactly(0, 1);
        assertThat(policy.toKernel().nodes().nodes()).containsExactly(0, 1);
    }

    @Test
    void hostNodeOrderIsKeptAsWritten() {
        assertThat(policy(MemoryPolicy.Interleave, List.of(2, 0, 1), Set.of()).hostNodes())
                .containsExactly(2, 0, 1);
    }

    @Test
    void noFlagsAndNullFlagsAreTheSame() {
        assertThat(policy(MemoryPolicy.Bind, List.of(0), null))
                .isEqualTo(policy(MemoryPolicy.Bind, List.of(0), Set.of()));
    }
}
