package io.numaguest.agent.topology;

import java.util.Collection;
import java.util.SortedSet;
import java.util.TreeSet;

/** The kernel's list format for CPUs and nodes ("0-3,8,10-11"), both ways. */
public final class NodeList {
    private NodeList() {}

    public static SortedSet<Integer> parse(String list) {
        SortedSet<Integer> ids = new TreeSet<>();
        String trimmed = list.trim();
        if (trimmed.isEmpty()) {
            return ids;
        }
        for (String part : trimmed.split(",")) {
            int dash = part.indexOf('-');
            try {
                if (dash < 0) {
                    ids.add(Integer.parseInt(part.trim()));
                } else {
                    int from = Integer.parseInt(part.substring(0, dash).trim());
                    int to = Integer.parseInt(part.substring(dash + 1).trim());
                    if (to < from) {
                        throw new IllegalArgumentException("descending range '" + part + "' in list '" + list + "'");
                    }
                    for (int id = from; id <= to; id++) {
                        ids.add(id);
                    }
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a kernel id list: '" + list + "'", e);
            }
        }
        return ids;
    }

    public static String format(Collection<Integer> ids) {
        StringBuilder out = new StringBuilder();
        Integer start = null;
        Integer previous = null;
        for (int id : new TreeSet<>(ids)) {
            if (previous != null && id == previous + 1) {
                previous = id;
                continue;
            }
            appendRange(out, start, previous);
            start = id;
            previous = id;
        }
        appendRange(out, start, previous);
        return out.toString();
    }

    private static void appendRange(StringBuilder out, Integer start, Integer end) {
        if (start == null) {
            return;
        }
        if (!out.isEmpty()) {
            out.append(',');
        }
        out.append(start);
        if (!end.equals(start)) {
            out.append('-').append(end);
        }
    }
}
