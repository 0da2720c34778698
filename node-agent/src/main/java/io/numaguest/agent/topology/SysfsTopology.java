package io.numaguest.agent.topology;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SortedSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Reads {@link HostTopology} from /sys/devices/system/node and the agent's own /proc/self/status. */
public final class SysfsTopology {
    public static final Path NODE_ROOT = Path.of("/sys/devices/system/node");
    public static final Path SELF_STATUS = Path.of("/proc/self/status");

    private static final Pattern NODE_DIR = Pattern.compile("node(\\d+)");
    private static final Pattern MEMINFO_LINE = Pattern.compile("Node \\d+ (\\w+):\\s+(\\d+) kB");
    private static final Pattern HUGEPAGE_DIR = Pattern.compile("hugepages-(\\d+)kB");

    private final Path nodeRoot;
    private final Path selfStatus;

    public SysfsTopology(Path nodeRoot, Path selfStatus) {
        this.nodeRoot = nodeRoot;
        this.selfStatus = selfStatus;
    }

    public static SysfsTopology host() {
        return new SysfsTopology(NODE_ROOT, SELF_STATUS);
    }

    public HostTopology read() {
        try {
            List<HostNode> nodes = new ArrayList<>();
            for (int id : NodeList.parse(Files.readString(nodeRoot.resolve("online")))) {
                nodes.add(readNode(id, nodeRoot.resolve("node" + id)));
            }
            SortedSet<Integer> memoryNodes = NodeList.parse(Files.readString(nodeRoot.resolve("has_memory")));
            return new HostTopology(
                    nodes, memoryNodes, MemsAllowed.of(selfStatus).orElse(memoryNodes));
        } catch (IOException e) {
            throw new UncheckedIOException(
                    "cannot read the NUMA topology under " + nodeRoot + ": " + e.getMessage(), e);
        }
    }

    private HostNode readNode(int id, Path dir) throws IOException {
        long memTotal = 0;
        long memFree = 0;
        for (String line : Files.readAllLines(dir.resolve("meminfo"))) {
            Matcher m = MEMINFO_LINE.matcher(line.trim());
            if (m.matches()) {
                long bytes = Long.parseLong(m.group(2)) * 1024;
                switch (m.group(1)) {
                    case "MemTotal" -> memTotal = bytes;
                    case "MemFree" -> memFree = bytes;
                    default -> {}
                }
            }
        }
        List<Integer> distances = new ArrayList<>();
        for (String d : Files.readString(dir.resolve("distance")).trim().split("\\s+")) {
            distances.add(Integer.parseInt(d));
        }
        return new HostNode(
                id,
                memTotal,
                memFree,
                NodeList.parse(Files.readString(dir.resolve("cpulist"))),
                distances,
                hugepages(dir.resolve("hugepages")));
    }

    private static List<HugePagePool> hugepages(Path dir) throws IOException {
        List<HugePagePool> pools = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return pools;
        }
        try (Stream<Path> sizes = Files.list(dir)) {
            for (Path size : sizes.sorted().toList()) {
                Matcher m = HUGEPAGE_DIR.matcher(size.getFileName().toString());
                if (m.matches()) {
                    pools.add(new HugePagePool(
                            Long.parseLong(m.group(1)) * 1024,
                            Long.parseLong(Files.readString(size.resolve("nr_hugepages"))
                                    .trim()),
                            Long.parseLong(Files.readString(size.resolve("free_hugepages"))
                                    .trim())));
                }
            }
        }
        // By page size, not by directory name ("hugepages-1048576kB" sorts before "hugepages-2048kB").
        pools.sort(Comparator.comparingLong(HugePagePool::pageSizeBytes));
        return pools;
    }
}
