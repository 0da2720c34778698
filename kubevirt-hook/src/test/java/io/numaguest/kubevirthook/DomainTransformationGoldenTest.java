package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The transformation on domain XML as KubeVirt 1.8 and 1.9 virt-launcher generate it (fixtures in
 * src/test/resources/domains, written after KubeVirt's converter), against the reviewed outputs
 * committed next to them. Set -Dgolden.write=true to rewrite the outputs after a deliberate change,
 * then review the diff.
 */
class DomainTransformationGoldenTest {
    static final PreloadEnvironment PRELOAD =
            new PreloadEnvironment("/var/run/numaguest/lib/libnumaguest-preload.so", "/var/run/numaguest/agent.sock");
    private static final long MIB = 1024 * 1024;

    record GoldenCase(String fixture, VmiIdentity vmi, GuestMemoryRequest request, List<String> notes) {
        String expectedOutput() {
            return fixture.replace(".xml", ".expected.xml");
        }
    }

    static Stream<GoldenCase> goldenCases() {
        return Stream.of(
                // No memoryBacking at all: guest RAM was anonymous; two cells from 4 vCPUs and 4 GiB.
                new GoldenCase(
                        "kubevirt-1.8-containerdisk.xml",
                        new VmiIdentity("tenant-a", "vm-db"),
                        new GuestMemoryRequest(
                                List.of(GuestNodeRequest.unsized(1), GuestNodeRequest.unsized(0)), "Strict"),
                        List.of()),
                // guestMappingPassthrough: hugepages and memfd stay, the VMI's cells stay, numatune goes.
                new GoldenCase(
                        "kubevirt-1.8-hugepages-passthrough.xml",
                        new VmiIdentity("tenant-a", "vm-numa"),
                        new GuestMemoryRequest(
                                List.of(GuestNodeRequest.sized(0, 2048 * MIB), GuestNodeRequest.unsized(1)),
                                "BestEffort"),
                        List.of(
                                "numatune memory mode strict nodeset 0-1 removed: the agent sets guest memory's policy",
                                "numatune memnode of cell 0 mode strict nodeset 0 removed: the agent sets each guest node's policy",
                                "numatune memnode of cell 1 mode strict nodeset 1 removed: the agent sets each guest node's policy")),
                // passt already gives shared memfd; uneven sizes from the NGM.
                new GoldenCase(
                        "kubevirt-1.9-passt.xml",
                        new VmiIdentity("tenant-b", "vm-web"),
                        new GuestMemoryRequest(
                                List.of(GuestNodeRequest.sized(0, 1536 * MIB), GuestNodeRequest.sized(1, 512 * MIB)),
                                "Strict"),
                        List.of()));
    }

    @ParameterizedTest
    @MethodSource("goldenCases")
    void transformsAsReviewed(GoldenCase golden) throws IOException {
        TransformedDomain result = new DomainTransformation(PRELOAD)
                .transform(fixture(golden.fixture()), golden.vmi(), Optional.of(golden.request()));

        Path expected = goldenDirectory().resolve(golden.expectedOutput());
        if (Boolean.getBoolean("golden.write")) {
            Files.writeString(expected, result.domainXml());
        }
        assertThat(result.domainXml()).isEqualTo(Files.readString(expected));
        assertThat(result.notes()).containsExactlyElementsOf(golden.notes());
    }

    static Stream<Arguments> fixtures() {
        return goldenCases().map(golden -> Arguments.of(golden.fixture(), golden.vmi()));
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void untargetedFixtureComesOutByteForByte(String fixture, VmiIdentity vmi) throws IOException {
        String domain = fixture(fixture);
        assertThat(new DomainTransformation(PRELOAD)
                        .transform(domain, vmi, Optional.empty())
                        .domainXml())
                .isEqualTo(domain);
    }

    @Test
    void moreGuestNodesThanVcpusIsRefusedWithTheFix() throws IOException {
        var request = new GuestMemoryRequest(
                List.of(GuestNodeRequest.unsized(0), GuestNodeRequest.unsized(1), GuestNodeRequest.unsized(2)),
                "Strict");
        assertThatThrownBy(() -> new DomainTransformation(PRELOAD)
                        .transform(
                                fixture("kubevirt-1.9-passt.xml"),
                                new VmiIdentity("tenant-b", "vm-web"),
                                Optional.of(request)))
                .isInstanceOf(UnplaceableDomainException.class)
                .hasMessageContaining("asks for 3 guest nodes but the domain has 2 vCPUs")
                .hasMessageContaining("give the VMI at least 3 vCPUs");
    }

    @Test
    void sizesThatDoNotAddUpToTheVmisMemoryAreRefused() throws IOException {
        var request = new GuestMemoryRequest(
                List.of(GuestNodeRequest.sized(0, 1024 * MIB), GuestNodeRequest.sized(1, 512 * MIB)), "Strict");
        assertThatThrownBy(() -> new DomainTransformation(PRELOAD)
                        .transform(
                                fixture("kubevirt-1.9-passt.xml"),
                                new VmiIdentity("tenant-b", "vm-web"),
                                Optional.of(request)))
                .isInstanceOf(UnplaceableDomainException.class)
                .hasMessageContaining("(1610612736 bytes) do not add up to the VMI's guest memory (2147483648 bytes)");
    }

    @Test
    void aVmiWithOtherGuestNodesThanTheNgmIsRefused() throws IOException {
        var threeNodes = new GuestMemoryRequest(
                List.of(GuestNodeRequest.unsized(0), GuestNodeRequest.unsized(1), GuestNodeRequest.unsized(2)),
                "Strict");
        var wrongSize = new GuestMemoryRequest(
                List.of(GuestNodeRequest.sized(0, 1024 * MIB), GuestNodeRequest.unsized(1)), "Strict");
        var transformation = new DomainTransformation(PRELOAD);
        String domain = fixture("kubevirt-1.8-hugepages-passthrough.xml");
        var vmi = new VmiIdentity("tenant-a", "vm-numa");
        assertThatThrownBy(() -> transformation.transform(domain, vmi, Optional.of(threeNodes)))
                .hasMessageContaining("the VMI defines 2 guest NUMA nodes but the NumaGuestMemory names 3");
        assertThatThrownBy(() -> transformation.transform(domain, vmi, Optional.of(wrongSize)))
                .hasMessageContaining(
                        "guest NUMA node 0 has 2147483648 bytes but the NumaGuestMemory asks for 1073741824");
    }

    @Test
    void guestNodesWithAGapAreRefused() {
        assertThatThrownBy(() -> new GuestMemoryRequest(
                        List.of(GuestNodeRequest.unsized(0), GuestNodeRequest.unsized(2)), "Strict"))
                .hasMessageContaining("guest nodes [0, 2] are not 0 to 1");
    }

    @Test
    void aDoctypeIsRefusedAndNotResolved() {
        String withEntity = "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/hostname'>]>"
                + "<domain type='kvm'><name>&x;</name><memory>1048576</memory></domain>";
        var request = new GuestMemoryRequest(List.of(GuestNodeRequest.unsized(0)), "Strict");
        assertThatThrownBy(() -> new DomainTransformation(PRELOAD)
                        .transform(withEntity, new VmiIdentity("a", "b"), Optional.of(request)))
                .isInstanceOf(UnplaceableDomainException.class)
                .hasMessageContaining("not well-formed");
    }

    static String fixture(String name) throws IOException {
        try (InputStream in = DomainTransformationGoldenTest.class.getResourceAsStream("/domains/" + name)) {
            if (in == null) {
                throw new IOException("fixture /domains/" + name + " is missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static Path goldenDirectory() {
        return Path.of("src/test/resources/domains");
    }
}
