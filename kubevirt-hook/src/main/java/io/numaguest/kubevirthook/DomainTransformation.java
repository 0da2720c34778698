package io.numaguest.kubevirthook;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;

/**
 * Turns the libvirt domain XML virt-launcher generates for a VMI into one whose guest RAM the
 * agent can place: one shared memfd per guest NUMA node (libvirt's {@code ram-node<N>} backends,
 * which the preload library hands to the agent), the NUMA cells the NumaGuestMemory's guest nodes
 * need, the preload library and its settings in QEMU's environment, and no {@code <numatune>}
 * memory policy that QEMU would set against the agent's.
 */
public final class DomainTransformation {
    public static final String QEMU_NAMESPACE = "http://libvirt.org/schemas/domain/qemu/1.0";
    private static final long KIB = 1024;
    // Cell sizes the transformation chooses are whole MiB (or whole huge pages), as QEMU rounds
    // a NUMA node's memory to its backend's page size anyway.
    private static final long CELL_GRANULE_BYTES = 1024 * KIB;
    // libvirt's order of <memoryBacking> children, for a domain that reads as libvirt writes it.
    private static final List<String> MEMORY_BACKING_ORDER =
            List.of("hugepages", "nosharepages", "locked", "source", "access", "allocation", "discard");

    private final PreloadEnvironment preload;

    public DomainTransformation(PreloadEnvironment preload) {
        this.preload = preload;
    }

    /**
     * The domain for a VMI: unchanged (the very same string) when no NumaGuestMemory targets it,
     * otherwise transformed for {@code request}.
     *
     * @throws UnplaceableDomainException when the domain cannot carry the request
     */
    public TransformedDomain transform(String domainXml, VmiIdentity vmi, Optional<GuestMemoryRequest> request) {
        if (request.isEmpty()) {
            return new TransformedDomain(domainXml, List.of());
        }
        Document document = parse(domainXml);
        Element domain = document.getDocumentElement();
        if (!"domain".equals(domain.getLocalName()) || domain.getNamespaceURI() != null) {
            throw new UnplaceableDomainException(
                    "the document's root is <" + domain.getTagName() + ">, not a libvirt <domain>");
        }
        List<String> notes = new ArrayList<>();
        long pageBytes = backMemoryWithSharedMemfd(domain, notes);
        shapeNumaCells(domain, request.get().guestNodes(), pageBytes, notes);
        removeNumatuneMemoryPolicy(domain, notes);
        addPreloadEnvironment(domain, vmi, request.get());
        return new TransformedDomain(serialize(document), notes);
    }

    /** Makes guest RAM a shared memfd; returns the page size the cells must be multiples of. */
    private long backMemoryWithSharedMemfd(Element domain, List<String> notes) {
        Element backing = childOrCreate(domain, "memoryBacking");
        Element source = orderedChildOrCreate(backing, "source");
        String sourceType = source.getAttribute("type");
        if (!sourceType.isEmpty() && !sourceType.equals("memfd")) {
            notes.add("memoryBacking source " + sourceType
                    + " replaced by memfd: the agent places memory it gets a descriptor for");
        }
        source.setAttribute("type", "memfd");
        Element access = orderedChildOrCreate(backing, "access");
        if (access.getAttribute("mode").equals("private")) {
            notes.add(
                    "memoryBacking access private replaced by shared: a policy on the memfd's inode applies only to shared pages");
        }
        access.setAttribute("mode", "shared");
        Element hugepages = firstChild(backing, "hugepages");
        if (hugepages == null) {
            return CELL_GRANULE_BYTES;
        }
        Element page = firstChild(hugepages, "page");
        if (page == null || page.getAttribute("size").isEmpty()) {
            // The host's default huge page size: 2 MiB on x86-64, which virt-launcher always spells out.
            return 2 * CELL_GRANULE_BYTES;
        }
        return Math.max(
                CELL_GRANULE_BYTES, bytes(page.getAttribute("size"), page.getAttribute("unit"), "hugepages page size"));
    }

    private void shapeNumaCells(Element domain, List<GuestNodeRequest> guestNodes, long pageBytes, List<String> notes) {
        Element cpu = childOrCreate(domain, "cpu");
        Element numa = firstChild(cpu, "numa");
        List<Element> existing = numa == null ? List.of() : children(numa, "cell");
        if (!existing.isEmpty()) {
            keepExistingCells(existing, guestNodes, notes);
            return;
        }
        if (firstChild(domain, "maxMemory") != null) {
            throw new UnplaceableDomainException("the domain has <maxMemory> (memory hotplug) but no NUMA cells;"
                    + " give the VMI guest NUMA nodes (spec.domain.cpu.numa) or drop memory hotplug");
        }
        int vcpus = vcpuCount(domain);
        if (vcpus < guestNodes.size()) {
            throw new UnplaceableDomainException("the NumaGuestMemory asks for " + guestNodes.size()
                    + " guest nodes but the domain has " + vcpus + " vCPUs; each guest node needs one:"
                    + " give the VMI at least " + guestNodes.size() + " vCPUs");
        }
        long[] cellBytes = cellSizes(domainMemoryBytes(domain), guestNodes, pageBytes);
        if (numa == null) {
            numa = domain.getOwnerDocument().createElement("numa");
            cpu.appendChild(numa);
        }
        int firstCpu = 0;
        for (int cell = 0; cell < guestNodes.size(); cell++) {
            int cpus = vcpus / guestNodes.size() + (cell < vcpus % guestNodes.size() ? 1 : 0);
            Element element = domain.getOwnerDocument().createElement("cell");
            element.setAttribute("id", Integer.toString(cell));
            element.setAttribute(
                    "cpus", cpus == 1 ? Integer.toString(firstCpu) : firstCpu + "-" + (firstCpu + cpus - 1));
            element.setAttribute("memory", Long.toString(cellBytes[cell] / KIB));
            element.setAttribute("unit", "KiB");
            numa.appendChild(element);
            firstCpu += cpus;
        }
    }

    /** A VMI with its own guest NUMA nodes keeps them; the NGM must name the same nodes. */
    private static void keepExistingCells(List<Element> cells, List<GuestNodeRequest> guestNodes, List<String> notes) {
        if (cells.size() != guestNodes.size()) {
            throw new UnplaceableDomainException("the VMI defines " + cells.size() + " guest NUMA nodes but the"
                    + " NumaGuestMemory names " + guestNodes.size() + "; make them agree");
        }
        for (Element cell : cells) {
            String id = cell.getAttribute("id");
            GuestNodeRequest node = guestNodes.stream()
                    .filter(n -> Integer.toString(n.guestNode()).equals(id))
                    .findFirst()
                    .orElseThrow(() -> new UnplaceableDomainException("the VMI's guest NUMA node " + id
                            + " is not among the NumaGuestMemory's guest nodes; make them agree"));
            if (node.sizeBytes().isPresent()) {
                long cellBytes =
                        bytes(cell.getAttribute("memory"), cell.getAttribute("unit"), "cell " + id + " memory");
                if (cellBytes != node.sizeBytes().getAsLong()) {
                    throw new UnplaceableDomainException("the VMI's guest NUMA node " + id + " has " + cellBytes
                            + " bytes but the NumaGuestMemory asks for "
                            + node.sizeBytes().getAsLong() + "; make them agree");
                }
            }
            String memAccess = cell.getAttribute("memAccess");
            if (!memAccess.isEmpty() && !memAccess.equals("shared")) {
                notes.add("cell " + cell.getAttribute("id") + " memAccess " + memAccess
                        + " removed: the cell shares its memfd like the rest");
                cell.removeAttribute("memAccess");
            }
        }
    }

    private static long[] cellSizes(long totalBytes, List<GuestNodeRequest> guestNodes, long pageBytes) {
        long[] sizes = new long[guestNodes.size()];
        long sized = 0;
        int unsized = 0;
        for (GuestNodeRequest node : guestNodes) {
            if (node.sizeBytes().isPresent()) {
                long size = node.sizeBytes().getAsLong();
                if (size % pageBytes != 0 || size % KIB != 0) {
                    throw new UnplaceableDomainException("guest node " + node.guestNode() + " has size " + size
                            + " bytes, not a multiple of the guest's page size " + pageBytes + " bytes");
                }
                sizes[node.guestNode()] = size;
                sized += size;
            } else {
                unsized++;
            }
        }
        long rest = totalBytes - sized;
        String ngmSizes = "the NumaGuestMemory's guest node sizes (" + sized + " bytes)";
        if (unsized == 0 ? rest != 0 : rest < unsized * pageBytes) {
            throw new UnplaceableDomainException(
                    ngmSizes + (unsized == 0 ? " do not add up to" : " leave too little of")
                            + " the VMI's guest memory (" + totalBytes + " bytes)"
                            + (unsized == 0 ? "" : " for its " + unsized + " guest nodes without a size")
                            + "; make spec.guestNodes[].size fit the VMI's memory");
        }
        if (unsized == 0) {
            return sizes;
        }
        // Unsized nodes share the rest in whole pages; the last of them takes what does not divide.
        long pages = rest / pageBytes;
        if (rest % pageBytes != 0) {
            throw new UnplaceableDomainException("the VMI's guest memory (" + totalBytes + " bytes) less " + ngmSizes
                    + " is not a multiple of the guest's page size " + pageBytes + " bytes");
        }
        int seen = 0;
        for (GuestNodeRequest node : guestNodes) {
            if (node.sizeBytes().isEmpty()) {
                seen++;
                long share = pages / unsized + (seen <= pages % unsized ? 1 : 0);
                sizes[node.guestNode()] = share * pageBytes;
            }
        }
        return sizes;
    }

    private static void removeNumatuneMemoryPolicy(Element domain, List<String> notes) {
        Element numatune = firstChild(domain, "numatune");
        if (numatune == null) {
            return;
        }
        for (Element memory : children(numatune, "memory")) {
            notes.add("numatune memory mode " + memory.getAttribute("mode") + describeNodeset(memory)
                    + " removed: the agent sets guest memory's policy");
            numatune.removeChild(memory);
        }
        for (Element memnode : children(numatune, "memnode")) {
            notes.add("numatune memnode of cell " + memnode.getAttribute("cellid") + " mode "
                    + memnode.getAttribute("mode") + describeNodeset(memnode)
                    + " removed: the agent sets each guest node's policy");
            numatune.removeChild(memnode);
        }
        if (children(numatune, null).isEmpty()) {
            domain.removeChild(numatune);
        }
    }

    private static String describeNodeset(Element element) {
        String nodeset = element.getAttribute("nodeset");
        return nodeset.isEmpty() ? "" : " nodeset " + nodeset;
    }

    private void addPreloadEnvironment(Element domain, VmiIdentity vmi, GuestMemoryRequest request) {
        Document document = domain.getOwnerDocument();
        String prefix = domain.lookupPrefix(QEMU_NAMESPACE);
        if (prefix == null) {
            prefix = "qemu";
            domain.setAttributeNS(XMLConstants.XMLNS_ATTRIBUTE_NS_URI, "xmlns:qemu", QEMU_NAMESPACE);
        }
        List<Element> commandlines = qemuChildren(domain, "commandline");
        Element commandline;
        if (commandlines.isEmpty()) {
            commandline = document.createElementNS(QEMU_NAMESPACE, prefix + ":commandline");
            domain.appendChild(commandline);
        } else {
            commandline = commandlines.getFirst();
        }
        // A library the VMI already preloads stays, after ours; ours from an earlier pass is not doubled.
        String existingPreload = removeEnv(commandline, "LD_PRELOAD");
        Stream<String> preloads = Stream.concat(
                Stream.of(preload.libraryPath()),
                existingPreload == null ? Stream.empty() : Arrays.stream(existingPreload.split(":")));
        setEnv(
                commandline,
                prefix,
                "LD_PRELOAD",
                preloads.filter(entry -> !entry.isEmpty()).distinct().collect(Collectors.joining(":")));
        removeEnv(commandline, "NUMAGUEST_SOCKET");
        setEnv(commandline, prefix, "NUMAGUEST_SOCKET", preload.socketPath());
        removeEnv(commandline, "NUMAGUEST_VM");
        setEnv(commandline, prefix, "NUMAGUEST_VM", vmi.vmName());
        removeEnv(commandline, "NUMAGUEST_ENFORCEMENT");
        setEnv(commandline, prefix, "NUMAGUEST_ENFORCEMENT", request.enforcement());
    }

    /** Removes the variable from the commandline; returns its last value, or null when it was not set. */
    private static String removeEnv(Element commandline, String name) {
        String value = null;
        for (Element env : qemuChildren(commandline, "env")) {
            if (name.equals(env.getAttribute("name"))) {
                value = env.getAttribute("value");
                commandline.removeChild(env);
            }
        }
        return value;
    }

    private static void setEnv(Element commandline, String prefix, String name, String value) {
        Element env = commandline.getOwnerDocument().createElementNS(QEMU_NAMESPACE, prefix + ":env");
        env.setAttribute("name", name);
        env.setAttribute("value", value);
        commandline.appendChild(env);
    }

    private static List<Element> qemuChildren(Element parent, String localName) {
        List<Element> result = new ArrayList<>();
        for (Node child = parent.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child instanceof Element e
                    && QEMU_NAMESPACE.equals(e.getNamespaceURI())
                    && localName.equals(e.getLocalName())) {
                result.add(e);
            }
        }
        return result;
    }

    private static int vcpuCount(Element domain) {
        Element vcpu = firstChild(domain, "vcpu");
        if (vcpu == null) {
            return 1;
        }
        try {
            return Integer.parseInt(vcpu.getTextContent().strip());
        } catch (NumberFormatException e) {
            throw new UnplaceableDomainException(
                    "<vcpu> holds " + vcpu.getTextContent().strip() + ", not a vCPU count", e);
        }
    }

    private static long domainMemoryBytes(Element domain) {
        Element memory = firstChild(domain, "memory");
        if (memory == null) {
            throw new UnplaceableDomainException("the domain has no <memory>: cannot size its guest NUMA nodes");
        }
        return bytes(memory.getTextContent().strip(), memory.getAttribute("unit"), "<memory>");
    }

    /** A libvirt scaled integer in bytes (unit absent means KiB, as libvirt reads it). */
    static long bytes(String value, String unit, String what) {
        long number;
        try {
            number = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new UnplaceableDomainException(what + " holds " + value + ", not a whole number", e);
        }
        long scale = switch (unit.isEmpty() ? "kib" : unit.toLowerCase(Locale.ROOT)) {
            case "b", "bytes" -> 1;
            case "kb" -> 1000L;
            case "k", "kib" -> KIB;
            case "mb" -> 1000L * 1000;
            case "m", "mib" -> KIB * KIB;
            case "gb" -> 1000L * 1000 * 1000;
            case "g", "gib" -> KIB * KIB * KIB;
            case "tb" -> 1000L * 1000 * 1000 * 1000;
            case "t", "tib" -> KIB * KIB * KIB * KIB;
            default ->
                throw new UnplaceableDomainException(what + " has unit " + unit + ", which libvirt does not know");
        };
        return Math.multiplyExact(number, scale);
    }

    private static Element childOrCreate(Element parent, String name) {
        Element child = firstChild(parent, name);
        if (child == null) {
            child = parent.getOwnerDocument().createElement(name);
            parent.appendChild(child);
        }
        return child;
    }

    /** A child of {@code <memoryBacking>}, created in libvirt's order when absent. */
    private static Element orderedChildOrCreate(Element backing, String name) {
        Element child = firstChild(backing, name);
        if (child != null) {
            return child;
        }
        child = backing.getOwnerDocument().createElement(name);
        int rank = MEMORY_BACKING_ORDER.indexOf(name);
        for (Element sibling : children(backing, null)) {
            int siblingRank = MEMORY_BACKING_ORDER.indexOf(sibling.getTagName());
            if (siblingRank > rank) {
                backing.insertBefore(child, sibling);
                return child;
            }
        }
        backing.appendChild(child);
        return child;
    }

    private static Element firstChild(Element parent, String name) {
        List<Element> matching = children(parent, name);
        return matching.isEmpty() ? null : matching.getFirst();
    }

    /** Child elements without a namespace, of the given name (any name when null). */
    private static List<Element> children(Element parent, String name) {
        List<Element> result = new ArrayList<>();
        for (Node child = parent.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child instanceof Element e
                    && e.getNamespaceURI() == null
                    && (name == null || name.equals(e.getLocalName()))) {
                result.add(e);
            }
        }
        return result;
    }

    /** Removes whitespace-only text between elements (the old indentation), leaving text content alone. */
    private static void dropIndentation(Element element) {
        boolean hasElementChild = false;
        for (Node child = element.getFirstChild(); child != null; child = child.getNextSibling()) {
            hasElementChild |= child instanceof Element;
        }
        if (!hasElementChild) {
            return;
        }
        for (Node child = element.getFirstChild(); child != null; ) {
            Node next = child.getNextSibling();
            if (child.getNodeType() == Node.TEXT_NODE && child.getNodeValue().isBlank()) {
                element.removeChild(child);
            } else if (child instanceof Element e) {
                dropIndentation(e);
            }
            child = next;
        }
    }

    private static Document parse(String domainXml) {
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setNamespaceAware(true);
            // A domain never has a DTD; refusing one keeps entity tricks out of the hook.
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setXIncludeAware(false);
            factory.setExpandEntityReferences(false);
            DocumentBuilder builder = factory.newDocumentBuilder();
            builder.setErrorHandler(null);
            return builder.parse(new InputSource(new StringReader(domainXml)));
        } catch (SAXException | IOException e) {
            throw new UnplaceableDomainException("the domain XML is not well-formed: " + e.getMessage(), e);
        } catch (ParserConfigurationException e) {
            throw new IllegalStateException("the JDK's XML parser lacks a standard feature", e);
        }
    }

    /** The domain, indented by two spaces as virsh prints it, so a transformed domain reads well in a log. */
    private static String serialize(Document document) {
        dropIndentation(document.getDocumentElement());
        try {
            var transformer = TransformerFactory.newInstance().newTransformer();
            transformer.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            transformer.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
            transformer.setOutputProperty(OutputKeys.INDENT, "yes");
            transformer.setOutputProperty("{http://xml.apache.org/xslt}indent-amount", "2");
            StringWriter out = new StringWriter();
            transformer.transform(new DOMSource(document), new StreamResult(out));
            return out.toString().stripTrailing() + "\n";
        } catch (TransformerException e) {
            throw new IllegalStateException("the JDK could not write a DOM it built", e);
        }
    }
}
