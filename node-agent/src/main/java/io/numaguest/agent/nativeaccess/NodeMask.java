package io.numaguest.agent.nativeaccess;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;

/**
 * A set of NUMA node ids in the kernel's nodemask encoding: an array of unsigned longs, bit n of the
 * array standing for node n. Sized for {@link #MAX_NODES} nodes, the largest MAX_NUMNODES a
 * distribution kernel is built with (CONFIG_NODES_SHIFT=10).
 */
public final class NodeMask {
    public static final int MAX_NODES = 1024;
    static final int WORDS = MAX_NODES / Long.SIZE;
    /**
     * The maxnode argument: mbind() and get_mempolicy() read maxnode - 1 bits (a historical
     * off-by-one), so one more than the bits the array holds.
     */
    static final long MAXNODE_ARG = MAX_NODES + 1;

    private final long[] words;

    private NodeMask(long[] words) {
        this.words = words;
    }

    public static NodeMask of(Collection<Integer> nodes) {
        long[] words = new long[WORDS];
        for (int node : nodes) {
            if (node < 0 || node >= MAX_NODES) {
                throw new IllegalArgumentException("NUMA node " + node + " is outside 0.." + (MAX_NODES - 1));
            }
            words[node / Long.SIZE] |= 1L << (node % Long.SIZE);
        }
        return new NodeMask(words);
    }

    public static NodeMask empty() {
        return new NodeMask(new long[WORDS]);
    }

    static NodeMask fromWords(long[] words) {
        return new NodeMask(Arrays.copyOf(words, WORDS));
    }

    /** The encoding handed to the kernel: word i holds nodes 64*i .. 64*i+63. */
    long[] words() {
        return words.clone();
    }

    /** Writes {@link #words()} to the start of {@code segment}, as the kernel reads a nodemask. */
    void writeTo(MemorySegment segment) {
        MemorySegment.copy(words, 0, segment, JAVA_LONG, 0, WORDS);
    }

    public List<Integer> nodes() {
        List<Integer> nodes = new ArrayList<>();
        for (int w = 0; w < words.length; w++) {
            long word = words[w];
            while (word != 0) {
                int bit = Long.numberOfTrailingZeros(word);
                nodes.add(w * Long.SIZE + bit);
                word &= word - 1;
            }
        }
        return nodes;
    }

    public boolean isEmpty() {
        for (long word : words) {
            if (word != 0) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NodeMask other && Arrays.equals(words, other.words);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(words);
    }

    @Override
    public String toString() {
        return nodes().toString();
    }
}
