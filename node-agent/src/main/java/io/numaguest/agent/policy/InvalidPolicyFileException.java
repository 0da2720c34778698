package io.numaguest.agent.policy;

/** The policy file cannot be used; the message names the place in the file and the problem. */
public final class InvalidPolicyFileException extends Exception {
    public InvalidPolicyFileException(String message) {
        super(message);
    }
}
