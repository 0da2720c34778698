package io.numaguest.operator;

import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Posts Kubernetes Events on NumaGuestMemories, each from a virtual thread of its own (at most
 * {@value #IN_FLIGHT} at once), since it is called from the informer's event thread, which must
 * not wait for the API server. Best effort: a lost event is logged, never retried.
 */
class EventRecorder {

    private static final Logger LOG = LoggerFactory.getLogger(EventRecorder.class);
    static final String COMPONENT = "numaguest-operator";
    private static final int IN_FLIGHT = 4;

    private final KubernetesClient client;
    private final Semaphore inFlight = new Semaphore(IN_FLIGHT);

    EventRecorder(KubernetesClient client) {
        this.client = client;
    }

    void normal(NumaGuestMemory ngm, String reason, String message) {
        post(ngm, "Normal", reason, message);
    }

    void warning(NumaGuestMemory ngm, String reason, String message) {
        post(ngm, "Warning", reason, message);
    }

    private void post(NumaGuestMemory ngm, String type, String reason, String message) {
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        var metadata = ngm.getMetadata();
        var event = new EventBuilder()
                .withNewMetadata()
                .withGenerateName(metadata.getName() + ".")
                .withNamespace(metadata.getNamespace())
                .endMetadata()
                .withInvolvedObject(new ObjectReferenceBuilder()
                        .withApiVersion(ngm.getApiVersion())
                        .withKind(ngm.getKind())
                        .withNamespace(metadata.getNamespace())
                        .withName(metadata.getName())
                        .withUid(metadata.getUid())
                        .withResourceVersion(metadata.getResourceVersion())
                        .build())
                .withType(type)
                .withReason(reason)
                .withMessage(message)
                .withFirstTimestamp(now)
                .withLastTimestamp(now)
                .withCount(1)
                .withNewSource()
                .withComponent(COMPONENT)
                .endSource()
                .withReportingComponent(COMPONENT)
                .build();
        Thread.ofVirtual().name("event-" + metadata.getName()).start(() -> {
            inFlight.acquireUninterruptibly();
            try {
                client.v1()
                        .events()
                        .inNamespace(metadata.getNamespace())
                        .resource(event)
                        .create();
            } catch (KubernetesClientException e) {
                LOG.warn(
                        "could not post event {} on {}/{}: {}",
                        reason,
                        metadata.getNamespace(),
                        metadata.getName(),
                        e.getMessage());
            } finally {
                inFlight.release();
            }
        });
    }
}
