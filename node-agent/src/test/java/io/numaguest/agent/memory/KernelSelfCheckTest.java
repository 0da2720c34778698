package io.numaguest.agent.memory;

import static org.assertj.core.api.Assertions.assertThat;

import io.numaguest.agent.topology.SysfsTopology;
import org.junit.jupiter.api.Test;

class KernelSelfCheckTest {
    @Test
    void passesOnThisKernelForAnAllowedNode() {
        KernelSelfCheck check =
                KernelSelfCheck.run(SysfsTopology.host().read().allowedMems().first());
        assertThat(check.fatal()).isEmpty();
        assertThat(check.degraded()).isEmpty();
    }

    @Test
    void aNodeTheKernelRefusesIsFatalAndNamesTheCall() {
        int missing = SysfsTopology.host().read().nodeIds().last() + 1;
        KernelSelfCheck check = KernelSelfCheck.run(missing);
        assertThat(check.fatal()).singleElement().asString().contains("mbind", "EINVAL");
    }
}
