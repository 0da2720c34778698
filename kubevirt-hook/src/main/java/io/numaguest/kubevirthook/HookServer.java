package io.numaguest.kubevirthook;

/** A running hook server: the Plugin domain hook or the legacy sidecar. */
public interface HookServer extends AutoCloseable {
    /** Waits until the server stops (after {@link #close}, e.g. from the shutdown hook on SIGTERM). */
    void awaitTermination() throws InterruptedException;

    @Override
    void close();
}
