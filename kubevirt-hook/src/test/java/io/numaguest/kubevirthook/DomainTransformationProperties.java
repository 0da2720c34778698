package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.StringReader;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import javax.xml.parsers.DocumentBuilderFactory;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.InputSource;

class DomainTransformationProperties {
    private static final DomainTransformation TRANSFORMATION =
            new DomainTransformation(DomainTransformationGoldenTest.PRELOAD);
    private static final VmiIdentity VMI = new VmiIdentity("ns", "vm");

    @Provide
    Arbitrary<GeneratedDomain> domains() {
        return GeneratedDomain.domains();
    }

    @Property(tries = 200)
    void aDomainNoNgmTargetsComesOutByteForByte(@ForAll("domains") GeneratedDomain domain) {
        assertThat(TRANSFORMATION.transform(domain.xml(), VMI, Optional.empty()).domainXml())
                .isSameAs(domain.xml());
    }

    @Property(tries = 200)
    void guestRamIsSharedMemfdKeepingHugepages(@ForAll("domains") GeneratedDomain domain) throws Exception {
        Document out = parse(transform(domain));
        Element backing = only(out.getDocumentElement(), "memoryBacking");
        assertThat(only(backing, "source").getAttribute("type")).isEqualTo("memfd");
        assertThat(only(backing, "access").getAttribute("mode")).isEqualTo("shared");
        assertThat(backing.getElementsByTagName("hugepages").getLength()).isEqualTo(domain.hugepages() ? 1 : 0);
        for (Element cell : elements(out.getElementsByTagName("cell"))) {
            assertThat(cell.getAttribute("memAccess")).isIn("", "shared");
        }
    }

    @Property(tries = 200)
    void cellsAreTheNgmsGuestNodesCoveringEveryVcpuAndAllMemory(@ForAll("domains") GeneratedDomain domain)
            throws Exception {
        List<Element> cells = elements(parse(transform(domain)).getElementsByTagName("cell"));
        assertThat(cells).hasSize(domain.request().guestNodes().size());
        BitSet cpus = new BitSet();
        long memory = 0;
        for (int i = 0; i < cells.size(); i++) {
            Element cell = cells.get(i);
            assertThat(cell.getAttribute("id")).isEqualTo(Integer.toString(i));
            BitSet own = cpuList(cell.getAttribute("cpus"));
            assertThat(own.intersects(cpus)).as("cells share a vCPU").isFalse();
            assertThat(own.isEmpty()).as("cell %d has no vCPU", i).isFalse();
            cpus.or(own);
            long cellBytes = DomainTransformation.bytes(cell.getAttribute("memory"), cell.getAttribute("unit"), "cell");
            domain.request()
                    .guestNodes()
                    .get(i)
                    .sizeBytes()
                    .ifPresent(size -> assertThat(cellBytes).isEqualTo(size));
            assertThat(cellBytes % (domain.hugepages() ? 2 * 1024 * 1024 : 1024 * 1024))
                    .isZero();
            memory += cellBytes;
        }
        assertThat(cpus.cardinality()).isEqualTo(domain.vcpus());
        assertThat(cpus.nextSetBit(domain.vcpus())).isEqualTo(-1);
        assertThat(memory).isEqualTo(domain.memoryBytes());
    }

    @Property(tries = 200)
    void noNumatuneMemoryPolicyIsLeft(@ForAll("domains") GeneratedDomain domain) throws Exception {
        Document out = parse(transform(domain));
        List<Element> numatune = elements(out.getElementsByTagName("numatune"));
        for (Element element : numatune) {
            assertThat(element.getElementsByTagName("memory").getLength()).isZero();
            assertThat(element.getElementsByTagName("memnode").getLength()).isZero();
        }
    }

    @Property(tries = 200)
    void qemuGetsThePreloadLibraryTheSocketAndTheVm(@ForAll("domains") GeneratedDomain domain) throws Exception {
        Document out = parse(transform(domain));
        List<Element> commandlines =
                elements(out.getElementsByTagNameNS(DomainTransformation.QEMU_NAMESPACE, "commandline"));
        assertThat(commandlines).hasSize(1);
        List<String> env = new ArrayList<>();
        for (Element e :
                elements(commandlines.getFirst().getElementsByTagNameNS(DomainTransformation.QEMU_NAMESPACE, "env"))) {
            env.add(e.getAttribute("name") + "=" + e.getAttribute("value"));
        }
        String preload = DomainTransformationGoldenTest.PRELOAD.libraryPath()
                + (domain.earlierPreload().isEmpty() ? "" : ":" + domain.earlierPreload());
        assertThat(env)
                .contains(
                        "LD_PRELOAD=" + preload,
                        "NUMAGUEST_SOCKET=" + DomainTransformationGoldenTest.PRELOAD.socketPath(),
                        "NUMAGUEST_VM=ns/vm",
                        "NUMAGUEST_ENFORCEMENT=" + domain.request().enforcement());
        assertThat(env).doesNotHaveDuplicates();
        if (!domain.earlierPreload().isEmpty()) {
            assertThat(env).contains("TZ=UTC");
        }
    }

    @Property(tries = 200)
    void transformingTwiceChangesNothingMore(@ForAll("domains") GeneratedDomain domain) {
        String once = transform(domain);
        assertThat(TRANSFORMATION
                        .transform(once, VMI, Optional.of(domain.request()))
                        .domainXml())
                .isEqualTo(once);
    }

    static String transform(GeneratedDomain domain) {
        return TRANSFORMATION
                .transform(domain.xml(), VMI, Optional.of(domain.request()))
                .domainXml();
    }

    private static BitSet cpuList(String list) {
        BitSet cpus = new BitSet();
        for (String range : list.split(",")) {
            String[] bounds = range.split("-");
            cpus.set(Integer.parseInt(bounds[0]), Integer.parseInt(bounds[bounds.length - 1]) + 1);
        }
        return cpus;
    }

    static Document parse(String xml) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        return factory.newDocumentBuilder().parse(new InputSource(new StringReader(xml)));
    }

    private static Element only(Element parent, String name) {
        NodeList list = parent.getElementsByTagName(name);
        assertThat(list.getLength())
                .as("<%s> elements under <%s>", name, parent.getTagName())
                .isEqualTo(1);
        return (Element) list.item(0);
    }

    private static List<Element> elements(NodeList list) {
        List<Element> result = new ArrayList<>();
        for (int i = 0; i < list.getLength(); i++) {
            result.add((Element) list.item(i));
        }
        return result;
    }
}
