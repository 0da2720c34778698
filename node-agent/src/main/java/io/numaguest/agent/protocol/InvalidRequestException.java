package io.numaguest.agent.protocol;

import io.numaguest.agent.error.ErrorCode;

/** A message that is not a valid request; {@code requestId} is null when no id could be read. */
public final class InvalidRequestException extends Exception {
    private final String requestId;
    private final ErrorCode code;

    InvalidRequestException(String requestId, ErrorCode code, String message) {
        super(message);
        this.requestId = requestId;
        this.code = code;
    }

    public String requestId() {
        return requestId;
    }

    public ErrorCode code() {
        return code;
    }
}
