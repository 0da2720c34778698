package io.numaguest.kubevirthook;

import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCalls;
import io.numaguest.kubevirthook.proto.plugins.MutateDomainRequest;
import io.numaguest.kubevirthook.proto.plugins.MutateDomainResponse;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * KubeVirt's Plugin domain hook (1.9+, feature gate {@code Plugins}): serves
 * {@code kubevirt.hooks.plugins.v1alpha1.DomainHookService/MutateDomain} on the sidecar socket the
 * Plugin object names ({@code /var/run/kubevirt-plugin/numaguest/domain.sock}), answering with the
 * transformed domain. KubeVirt's failureStrategy decides what a refusal does to the VMI.
 */
public final class PluginDomainHookServer implements HookServer {
    /** The Plugin object's name: KubeVirt accepts sidecar sockets only under /var/run/kubevirt-plugin/&lt;name&gt;/. */
    public static final String PLUGIN_NAME = "numaguest";

    static final String SERVICE = "kubevirt.hooks.plugins.v1alpha1.DomainHookService";
    static final MethodDescriptor<MutateDomainRequest, MutateDomainResponse> MUTATE_DOMAIN = UnixSocketGrpcServer.unary(
            SERVICE,
            "MutateDomain",
            MutateDomainRequest.getDefaultInstance(),
            MutateDomainResponse.getDefaultInstance());
    private static final String LIBVIRT = "libvirt";

    private final UnixSocketGrpcServer server;

    private PluginDomainHookServer(UnixSocketGrpcServer server) {
        this.server = server;
    }

    /** Serves on {@code socket}; {@code log} gets what each transformation removed or overrode. */
    public static PluginDomainHookServer start(Path socket, DomainTransformation transformation, Consumer<String> log)
            throws IOException {
        return new PluginDomainHookServer(UnixSocketGrpcServer.start(
                socket,
                ServerServiceDefinition.builder(SERVICE)
                        .addMethod(MUTATE_DOMAIN, ServerCalls.asyncUnaryCall((request, response) -> {
                            try {
                                response.onNext(mutateDomain(request, transformation, log));
                                response.onCompleted();
                            } catch (IllegalArgumentException | UnplaceableDomainException e) {
                                response.onError(Status.INVALID_ARGUMENT
                                        .withDescription(e.getMessage())
                                        .asRuntimeException());
                            }
                        }))
                        .build()));
    }

    private static MutateDomainResponse mutateDomain(
            MutateDomainRequest request, DomainTransformation transformation, Consumer<String> log) {
        if (!LIBVIRT.equals(request.getDomainType())) {
            // Another VMM's domain: the transformation only knows libvirt's XML, so it passes untouched.
            return MutateDomainResponse.newBuilder()
                    .setDomain(request.getDomain())
                    .build();
        }
        String context = request.getSidecarContext().getInvocationContext();
        Consumer<String> contextLog = context.isEmpty() ? log : line -> log.accept(line + " (" + context + ")");
        return MutateDomainResponse.newBuilder()
                .setDomain(HookSidecarServer.transformed(
                        request.getDomain(), request.getVmi(), transformation, contextLog))
                .build();
    }

    @Override
    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        server.close();
    }
}
