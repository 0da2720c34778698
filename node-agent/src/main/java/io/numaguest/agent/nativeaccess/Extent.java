package io.numaguest.agent.nativeaccess;

/** A byte range [offset, offset + length). */
public record Extent(long offset, long length) {
    public long end() {
        return offset + length;
    }
}
