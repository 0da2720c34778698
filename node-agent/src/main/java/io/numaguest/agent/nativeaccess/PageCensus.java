package io.numaguest.agent.nativeaccess;

import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;

/** Where the pages of a range sit, as move_pages() reports them. */
public record PageCensus(SortedMap<Integer, Long> pagesByNode, long pagesNotPresent) {
    public PageCensus {
        pagesByNode = Collections.unmodifiableSortedMap(new TreeMap<>(pagesByNode));
    }
}
