package io.numaguest.kubevirthook;

import com.google.protobuf.ByteString;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCalls;
import io.numaguest.kubevirthook.proto.info.HookPoint;
import io.numaguest.kubevirthook.proto.info.InfoParams;
import io.numaguest.kubevirthook.proto.info.InfoResult;
import io.numaguest.kubevirthook.proto.v1alpha2.OnDefineDomainParams;
import io.numaguest.kubevirthook.proto.v1alpha2.OnDefineDomainResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * KubeVirt's legacy hook sidecar (1.7/1.8, {@code hooks.kubevirt.io/hookSidecars}): serves
 * {@code kubevirt.hooks.info.Info} and {@code kubevirt.hooks.v1alpha2.Callbacks/OnDefineDomain} on
 * a Unix socket in virt-launcher's hook directory, answering with the transformed domain.
 */
public final class HookSidecarServer implements HookServer {
    public static final String HOOK_NAME = "numaguest";
    static final MethodDescriptor<InfoParams, InfoResult> INFO = UnixSocketGrpcServer.unary(
            "kubevirt.hooks.info.Info", "Info", InfoParams.getDefaultInstance(), InfoResult.getDefaultInstance());
    static final MethodDescriptor<OnDefineDomainParams, OnDefineDomainResult> ON_DEFINE_DOMAIN =
            UnixSocketGrpcServer.unary(
                    "kubevirt.hooks.v1alpha2.Callbacks",
                    "OnDefineDomain",
                    OnDefineDomainParams.getDefaultInstance(),
                    OnDefineDomainResult.getDefaultInstance());

    private final UnixSocketGrpcServer server;

    private HookSidecarServer(UnixSocketGrpcServer server) {
        this.server = server;
    }

    /** Serves on {@code socket}; {@code log} gets what each transformation removed or overrode. */
    public static HookSidecarServer start(Path socket, DomainTransformation transformation, Consumer<String> log)
            throws IOException {
        return new HookSidecarServer(UnixSocketGrpcServer.start(
                socket,
                ServerServiceDefinition.builder("kubevirt.hooks.info.Info")
                        .addMethod(INFO, ServerCalls.asyncUnaryCall((request, response) -> {
                            response.onNext(InfoResult.newBuilder()
                                    .setName(HOOK_NAME)
                                    .addHookPoints(HookPoint.newBuilder()
                                            .setName("OnDefineDomain")
                                            .setPriority(0))
                                    .addVersions("v1alpha2")
                                    .build());
                            response.onCompleted();
                        }))
                        .build(),
                ServerServiceDefinition.builder("kubevirt.hooks.v1alpha2.Callbacks")
                        .addMethod(ON_DEFINE_DOMAIN, ServerCalls.asyncUnaryCall((request, response) -> {
                            try {
                                response.onNext(OnDefineDomainResult.newBuilder()
                                        .setDomainXML(transformed(
                                                request.getDomainXML(), request.getVmi(), transformation, log))
                                        .build());
                                response.onCompleted();
                            } catch (IllegalArgumentException | UnplaceableDomainException e) {
                                response.onError(Status.INVALID_ARGUMENT
                                        .withDescription(e.getMessage())
                                        .asRuntimeException());
                            }
                        }))
                        .build()));
    }

    /**
     * The domain for the VMI: the very bytes virt-launcher sent when no NGM targets the VMI,
     * otherwise transformed, with the transformation's notes logged. Shared by both hook servers.
     */
    static ByteString transformed(
            ByteString domainXml, ByteString vmiJson, DomainTransformation transformation, Consumer<String> log) {
        HookedVmi vmi = HookedVmi.fromJson(vmiJson.toByteArray());
        if (vmi.request().isEmpty()) {
            return domainXml;
        }
        TransformedDomain domain =
                transformation.transform(domainXml.toString(StandardCharsets.UTF_8), vmi.identity(), vmi.request());
        domain.notes().forEach(note -> log.accept(vmi.identity().vmName() + ": " + note));
        return ByteString.copyFromUtf8(domain.domainXml());
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
