package io.numaguest.agent.nativeaccess;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class NodeMaskTest {

    @Test
    void nodeOneIsBitOneOfTheFirstWord() {
        long[] words = NodeMask.of(List.of(1)).words();
        assertThat(words[0]).isEqualTo(0b10L);
        assertThat(words).hasSize(16);
    }

    @Test
    void node63IsTheSignBitOfTheFirstWord() {
        long[] words = NodeMask.of(List.of(63)).words();
        assertThat(words[0]).isEqualTo(Long.MIN_VALUE);
        assertThat(words[1]).isZero();
    }

    @Test
    void node64StartsTheSecondWord() {
        long[] words = NodeMask.of(List.of(0, 64, 130)).words();
        assertThat(words[0]).isEqualTo(1L);
        assertThat(words[1]).isEqualTo(1L);
        assertThat(words[2]).isEqualTo(1L << 2);
    }

    @Test
    void decodesWhatItEncodes() {
        List<Integer> nodes = List.of(0, 1, 63, 64, 65, 127, 128, 1023);
        assertThat(NodeMask.fromWords(NodeMask.of(nodes).words()).nodes()).containsExactlyElementsOf(nodes);
    }

    @Test
    void refusesNodesTheKernelCannotName() {
        assertThatThrownBy(() -> NodeMask.of(List.of(1024))).hasMessageContaining("1024");
        assertThatThrownBy(() -> NodeMask.of(List.of(-1))).hasMessageContaining("-1");
    }

    @Test
    void maxnodeCoversEveryBitOfTheArrayPlusTheKernelsOffByOne() {
        assertThat(NodeMask.MAXNODE_ARG).isEqualTo(NodeMask.WORDS * 64L + 1);
    }
}
