package io.numaguest.agent.protocol;

/** The error codes of protocol v1 (docs/protocol.md). */
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
