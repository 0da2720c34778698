package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * examples/kubevirt-vmi-two-nodes.yaml: its VMI (4 vCPUs, 4 GiB, no hugepages) gets two guest NUMA
 * nodes from the hook (the test runs in the module directory). Its annotation goes through the hooks' path (HookedVmi, the transformation)
 * on a domain as virt-launcher writes it for such a VMI (the 4-vCPU, 4-GiB containerdisk fixture).
 */
class ExampleVmiTest {
    private static final Pattern ANNOTATION =
            Pattern.compile("^\\s*" + Pattern.quote(HookedVmi.ANNOTATION) + ": '(.*)'$", Pattern.MULTILINE);
    private static final Pattern CELL =
            Pattern.compile("<cell cpus=\"([0-9-]+)\" id=\"(\\d)\" memory=\"(\\d+)\" unit=\"KiB\"/>");

    @Test
    void theExampleVmiGetsTwoGuestNodesOfTwoGibibytesOnSharedMemfd() throws Exception {
        String example = Files.readString(Path.of("..", "examples", "kubevirt-vmi-two-nodes.yaml"));
        Matcher annotation = ANNOTATION.matcher(example);
        assertThat(annotation.find())
                .as("the example's VMI carries %s", HookedVmi.ANNOTATION)
                .isTrue();

        String domain = DomainTransformationGoldenTest.fixture("kubevirt-1.8-containerdisk.xml");
        String result = HookSidecarServer.transformed(
                        ByteString.copyFromUtf8(domain),
                        ByteString.copyFromUtf8(
                                HookSidecarServerTest.vmiJson("tenant-a", "db-vm", annotation.group(1))),
                        new DomainTransformation(DomainTransformationGoldenTest.PRELOAD),
                        line -> {})
                .toStringUtf8();

        List<String> cells = new ArrayList<>();
        for (Matcher cell = CELL.matcher(result); cell.find(); ) {
            cells.add(cell.group(2) + " " + cell.group(1) + " " + cell.group(3));
        }
        assertThat(cells).containsExactly("0 0-1 2097152", "1 2-3 2097152");
        assertThat(result)
                .contains(
                        "<source type=\"memfd\"/>",
                        "<access mode=\"shared\"/>",
                        "<qemu:env name=\"NUMAGUEST_VM\" value=\"tenant-a/db-vm\"/>",
                        "<qemu:env name=\"NUMAGUEST_ENFORCEMENT\" value=\"Strict\"/>");
    }
}
