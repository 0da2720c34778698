package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The transformation's outputs against libvirt's own domain schema, with virt-xml-validate from
 * Debian's libvirt-clients (and xmllint from libxml2-utils), which scripts/test installs as root.
 */
class LibvirtSchemaTest {
    @BeforeAll
    static void needsVirtXmlValidate() {
        assumeTrue(
                onPath("virt-xml-validate") && onPath("xmllint"),
                "virt-xml-validate or xmllint is not installed (Debian: libvirt-clients libxml2-utils; scripts/test installs them as root)");
    }

    static List<String> goldenOutputs() {
        return DomainTransformationGoldenTest.goldenCases()
                .map(DomainTransformationGoldenTest.GoldenCase::expectedOutput)
                .toList();
    }

    @ParameterizedTest
    @MethodSource("goldenOutputs")
    void goldenOutputIsAValidLibvirtDomain(String output) throws Exception {
        assertValid(DomainTransformationGoldenTest.goldenDirectory().resolve(output));
    }

    @ParameterizedTest
    @MethodSource("goldenOutputs")
    void goldenInputIsAValidLibvirtDomainToo(String output) throws Exception {
        // Otherwise a valid output would prove little about the fixture's realism.
        assertValid(DomainTransformationGoldenTest.goldenDirectory().resolve(output.replace(".expected.xml", ".xml")));
    }

    @Test
    void generatedDomainsStayValidLibvirtDomains(@TempDir Path dir) throws Exception {
        List<GeneratedDomain> samples =
                GeneratedDomain.domains().sampleStream().limit(40).toList();
        for (int i = 0; i < samples.size(); i++) {
            Path input = dir.resolve("in-" + i + ".xml");
            Files.writeString(input, samples.get(i).xml());
            assertValid(input);
            Path output = dir.resolve("out-" + i + ".xml");
            Files.writeString(output, DomainTransformationProperties.transform(samples.get(i)));
            assertValid(output);
        }
    }

    private static void assertValid(Path domain) throws IOException, InterruptedException {
        Process validate = new ProcessBuilder("virt-xml-validate", domain.toString(), "domain")
                .redirectErrorStream(true)
                .start();
        String output = new String(validate.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(validate.waitFor())
                .as("virt-xml-validate %s:%n%s%n%s", domain, output, Files.readString(domain))
                .isZero();
    }

    private static boolean onPath(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }
}
