package io.numaguest.agent.error;

/** Why a request, or one region of it, was refused: the protocol code, a sentence for a human, the errno if a system call failed. */
public record Refusal(ErrorCode code, String message, Integer errno) {
    public Refusal(ErrorCode code, String message) {
        this(code, message, null);
    }
}
