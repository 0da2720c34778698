package io.numaguest.agent.error;

/**
 * The error codes of protocol v1 (docs/protocol.md). Every layer refuses with them, so they live
 * below all of them; only {@code protocol} puts them on the wire.
 */
public enum ErrorCode {
    BAD_REQUEST,
    UNSUPPORTED_VERSION,
    BAD_FD,
    UNSUPPORTED_MEMORY,
    NO_POLICY,
    FORBIDDEN,
    POLICY_REJECTED,
    BUSY,
    INTERNAL
}
