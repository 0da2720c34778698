package io.numaguest.agent.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class NodeListTest {
    @Test
    void parsesTheKernelsListFormat() {
        assertThat(NodeList.parse("0-3,8,10-11\n")).containsExactly(0, 1, 2, 3, 8, 10, 11);
        assertThat(NodeList.parse("")).isEmpty();
        assertThat(NodeList.parse("5")).containsExactly(5);
    }

    @Test
    void formatsRunsAsRanges() {
        assertThat(NodeList.format(List.of(11, 0, 1, 2, 3, 8, 10))).isEqualTo("0-3,8,10-11");
        assertThat(NodeList.format(List.of())).isEmpty();
    }

    @Test
    void refusesWhatIsNotAList() {
        assertThatThrownBy(() -> NodeList.parse("3-1")).hasMessageContaining("descending");
        assertThatThrownBy(() -> NodeList.parse("a")).hasMessageContaining("'a'");
    }
}
