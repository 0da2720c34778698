package io.numaguest.agent.error;

import io.numaguest.agent.nativeaccess.NativeException;

/** A request the agent refuses, with the protocol code, a sentence for a human, and the errno if any. */
public final class AgentException extends Exception {
    private final ErrorCode code;
    private final Integer errno;

    public AgentException(ErrorCode code, String message) {
        this(code, message, null, null);
    }

    public AgentException(ErrorCode code, String message, NativeException cause) {
        this(code, message + ": " + cause.getMessage(), cause.errno(), cause);
    }

    private AgentException(ErrorCode code, String message, Integer errno, Throwable cause) {
        super(message, cause);
        this.code = code;
        this.errno = errno;
    }

    public ErrorCode code() {
        return code;
    }

    /** The Linux errno when a system call failed, else null. */
    public Integer errno() {
        return errno;
    }

    /** The refusal as a value, for results that carry it. */
    public Refusal refusal() {
        return new Refusal(code, getMessage(), errno);
    }

    /** The same refusal with context (which region, which guest node) put in front of the message. */
    public AgentException within(String context) {
        return new AgentException(code, context + ": " + getMessage(), errno, this);
    }
}
