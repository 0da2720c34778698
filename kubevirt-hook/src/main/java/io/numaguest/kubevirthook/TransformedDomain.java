package io.numaguest.kubevirthook;

import java.util.List;

/**
 * A domain after the transformation, and what the transformation removed or overrode that the
 * VMI's author may have meant (for the hook's log).
 */
public record TransformedDomain(String domainXml, List<String> notes) {
    public TransformedDomain {
        notes = List.copyOf(notes);
    }
}
