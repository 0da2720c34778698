package io.numaguest.kubevirthook;

/** The domain XML cannot carry what the NumaGuestMemory asks; the message says why and what to change. */
public final class UnplaceableDomainException extends RuntimeException {
    public UnplaceableDomainException(String message) {
        super(message);
    }

    public UnplaceableDomainException(String message, Throwable cause) {
        super(message, cause);
    }
}
