package io.numaguest.kubevirthook;

import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/**
 * A libvirt domain in the shapes virt-launcher writes (with or without hugepages, memfd, guest
 * NUMA cells, numatune, an earlier qemu:commandline) and a NumaGuestMemory request it can carry.
 */
record GeneratedDomain(
        String xml,
        int vcpus,
        long memoryBytes,
        boolean hugepages,
        boolean vmiCells,
        String earlierPreload,
        GuestMemoryRequest request) {
    private static final long MIB = 1024 * 1024;

    static Arbitrary<GeneratedDomain> domains() {
        Arbitrary<Integer> nodes = Arbitraries.integers().between(1, 4);
        return nodes.flatMap(nodeCount -> Combinators.combine(
                        Arbitraries.integers().between(nodeCount, 16), // vCPUs
                        Arbitraries.longs().between(nodeCount * 32L, 8192), // memory in 2 MiB pages
                        Arbitraries.of("b", "KiB", "MiB"), // unit of <memory>
                        Arbitraries.of(Backing.values()),
                        Arbitraries.of(true, false), // the VMI has its own cells
                        Arbitraries.of(Numatune.values()),
                        Arbitraries.of("", "/usr/lib/x86_64-linux-gnu/libother.so"), // an earlier LD_PRELOAD
                        Arbitraries.of(true, false)) // the NGM gives sizes
                .as((vcpus, pages, unit, backing, vmiCells, numatune, earlierPreload, sized) -> build(
                        nodeCount, vcpus, pages * 2 * MIB, unit, backing, vmiCells, numatune, earlierPreload, sized)));
    }

    enum Backing {
        NONE,
        HUGEPAGES_MEMFD,
        MEMFD_SHARED,
        FILE_PRIVATE
    }

    enum Numatune {
        NONE,
        STRICT,
        STRICT_WITH_MEMNODES
    }

    private static GeneratedDomain build(
            int nodeCount,
            int vcpus,
            long memoryBytes,
            String unit,
            Backing backing,
            boolean vmiCells,
            Numatune numatune,
            String earlierPreload,
            boolean sized) {
        long pageBytes = 2 * MIB;
        long[] cells = new long[nodeCount];
        long pages = memoryBytes / pageBytes;
        for (int i = 0; i < nodeCount; i++) {
            cells[i] = (pages / nodeCount + (i < pages % nodeCount ? 1 : 0)) * pageBytes;
        }
        StringBuilder xml = new StringBuilder();
        xml.append("<domain type=\"kvm\" xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\">\n");
        xml.append("  <name>ns_vm</name>\n");
        xml.append("  <memory unit=\"")
                .append(unit)
                .append("\">")
                .append(
                        switch (unit) {
                            case "b" -> memoryBytes;
                            case "KiB" -> memoryBytes / 1024;
                            default -> memoryBytes / MIB;
                        })
                .append("</memory>\n");
        switch (backing) {
            case NONE -> {}
            case HUGEPAGES_MEMFD ->
                xml.append("  <memoryBacking>\n    <hugepages>\n      <page size=\"2048\" unit=\"KiB\"></page>\n"
                        + "    </hugepages>\n    <source type=\"memfd\"></source>\n  </memoryBacking>\n");
            case MEMFD_SHARED ->
                xml.append("  <memoryBacking>\n    <source type=\"memfd\"></source>\n"
                        + "    <access mode=\"shared\"></access>\n  </memoryBacking>\n");
            case FILE_PRIVATE ->
                xml.append("  <memoryBacking>\n    <source type=\"file\"></source>\n"
                        + "    <access mode=\"private\"></access>\n  </memoryBacking>\n");
        }
        xml.append("  <os>\n    <type arch=\"x86_64\" machine=\"q35\">hvm</type>\n  </os>\n");
        xml.append("  <devices>\n    <controller type=\"usb\" index=\"0\" model=\"none\"></controller>\n"
                + "    <memballoon model=\"none\"></memballoon>\n  </devices>\n");
        xml.append("  <features>\n    <acpi></acpi>\n  </features>\n");
        xml.append("  <cpu mode=\"host-model\">\n    <topology sockets=\"1\" cores=\"")
                .append(vcpus)
                .append("\" threads=\"1\"></topology>\n");
        if (vmiCells) {
            xml.append("    <numa>\n");
            int firstCpu = 0;
            for (int i = 0; i < nodeCount; i++) {
                int cpus = vcpus / nodeCount + (i < vcpus % nodeCount ? 1 : 0);
                xml.append("      <cell id=\"")
                        .append(i)
                        .append("\" cpus=\"")
                        .append(firstCpu)
                        .append('-')
                        .append(firstCpu + cpus - 1)
                        .append("\" memory=\"")
                        .append(cells[i] / 1024)
                        .append("\" unit=\"KiB\"")
                        .append(i == 0 ? " memAccess=\"private\"" : "")
                        .append("></cell>\n");
                firstCpu += cpus;
            }
            xml.append("    </numa>\n");
        }
        xml.append("  </cpu>\n");
        if (numatune != Numatune.NONE) {
            xml.append("  <numatune>\n    <memory mode=\"strict\" nodeset=\"0\"></memory>\n");
            if (numatune == Numatune.STRICT_WITH_MEMNODES && vmiCells) {
                for (int i = 0; i < nodeCount; i++) {
                    xml.append("    <memnode cellid=\"")
                            .append(i)
                            .append("\" mode=\"strict\" nodeset=\"0\"></memnode>\n");
                }
            }
            xml.append("  </numatune>\n");
        }
        xml.append("  <vcpu placement=\"static\">").append(vcpus).append("</vcpu>\n");
        if (!earlierPreload.isEmpty()) {
            xml.append("  <qemu:commandline>\n    <qemu:env name=\"LD_PRELOAD\" value=\"")
                    .append(earlierPreload)
                    .append("\"/>\n" + "    <qemu:env name=\"TZ\" value=\"UTC\"/>\n  </qemu:commandline>\n");
        }
        xml.append("</domain>\n");
        List<GuestNodeRequest> guestNodes = new ArrayList<>();
        for (int i = 0; i < nodeCount; i++) {
            // Sized requests leave the last node unsized now and then: it takes the rest.
            boolean giveSize = sized && !(i == nodeCount - 1 && pages % 2 == 0);
            guestNodes.add(giveSize ? GuestNodeRequest.sized(i, cells[i]) : GuestNodeRequest.unsized(i));
        }
        return new GeneratedDomain(
                xml.toString(),
                vcpus,
                memoryBytes,
                backing == Backing.HUGEPAGES_MEMFD,
                vmiCells,
                earlierPreload,
                new GuestMemoryRequest(guestNodes, sized ? "Strict" : "BestEffort"));
    }
}
