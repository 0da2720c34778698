package io.numaguest.kubevirthook;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import io.numaguest.kubevirthook.proto.info.HookPoint;
import io.numaguest.kubevirthook.proto.info.InfoParams;
import io.numaguest.kubevirthook.proto.info.InfoResult;
import io.numaguest.kubevirthook.proto.v1alpha2.OnDefineDomainParams;
import io.numaguest.kubevirthook.proto.v1alpha2.OnDefineDomainResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * KubeVirt's legacy hook sidecar (1.7/1.8, {@code hooks.kubevirt.io/hookSidecars}): serves
 * {@code kubevirt.hooks.info.Info} and {@code kubevirt.hooks.v1alpha2.Callbacks/OnDefineDomain} on
 * a Unix socket in virt-launcher's hook directory, answering with the transformed domain.
 */
public final class HookSidecarServer implements AutoCloseable {
    public static final String HOOK_NAME = "numaguest";
    static final MethodDescriptor<InfoParams, InfoResult> INFO = unary("kubevirt.hooks.info.Info", "Info",
            InfoParams.getDefaultInstance(), InfoResult.getDefaultInstance());
    static final MethodDescriptor<OnDefineDomainParams, OnDefineDomainResult> ON_DEFINE_DOMAIN = unary(
            "kubevirt.hooks.v1alpha2.Callbacks", "OnDefineDomain",
            OnDefineDomainParams.getDefaultInstance(), OnDefineDomainResult.getDefaultInstance());

    private final Server server;
    private final EventLoopGroup events;

    private HookSidecarServer(Server server, EventLoopGroup events) {
        this.server = server;
        this.events = events;
    }

    /** Serves on {@code socket}; {@code log} gets what each transformation removed or overrode. */
    public static HookSidecarServer start(Path socket, DomainTransformation transformation, Consumer<String> log) throws IOException {
        EventLoopGroup events = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        Server server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(events).workerEventLoopGroup(events)
                .addService(ServerServiceDefinition.builder("kubevirt.hooks.info.Info")
                        .addMethod(INFO, ServerCalls.asyncUnaryCall((request, response) -> {
                            response.onNext(InfoResult.newBuilder().setName(HOOK_NAME)
                                    .addHookPoints(HookPoint.newBuilder().setName("OnDefineDomain").setPriority(0))
                                    .addVersions("v1alpha2").build());
                            response.onCompleted();
                        })).build())
                .addService(ServerServiceDefinition.builder("kubevirt.hooks.v1alpha2.Callbacks")
                        .addMethod(ON_DEFINE_DOMAIN, ServerCalls.asyncUnaryCall((request, response) -> {
                            try {
                                response.onNext(onDefineDomain(request, transformation, log));
                                response.onCompleted();
                            } catch (IllegalArgumentException | UnplaceableDomainException e) {
                                response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                            }
                        })).build())
                .build();
        try {
            server.start();
        } catch (IOException e) {
            events.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IOException("cannot serve the hook on " + socket + ": " + e.getMessage(), e);
        }
        return new HookSidecarServer(server, events);
    }

    private static OnDefineDomainResult onDefineDomain(OnDefineDomainParams request, DomainTransformation transformation,
                                                       Consumer<String> log) {
        HookedVmi vmi = HookedVmi.fromJson(request.getVmi().toByteArray());
        if (vmi.request().isEmpty()) {
            // The very bytes virt-launcher sent: a VMI no NGM targets is not touched.
            return OnDefineDomainResult.newBuilder().setDomainXML(request.getDomainXML()).build();
        }
        TransformedDomain domain = transformation.transform(request.getDomainXML().toString(StandardCharsets.UTF_8),
                vmi.identity(), vmi.request());
        domain.notes().forEach(note -> log.accept(vmi.identity().vmName() + ": " + note));
        return OnDefineDomainResult.newBuilder().setDomainXML(ByteString.copyFromUtf8(domain.domainXml())).build();
    }

    private static <Q extends Message, R extends Message> MethodDescriptor<Q, R> unary(String service, String method, Q request, R response) {
        return MethodDescriptor.<Q, R>newBuilder().setType(MethodDescriptor.MethodType.UNARY)
                .setFullMethodName(MethodDescriptor.generateFullMethodName(service, method))
                .setRequestMarshaller(ProtoUtils.marshaller(request))
                .setResponseMarshaller(ProtoUtils.marshaller(response))
                .build();
    }

    /** Waits until the server stops (on a signal: see {@link #main}). */
    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(10, TimeUnit.SECONDS)) {
                server.shutdownNow().awaitTermination();
            }
            events.shutdownGracefully(0, 0, TimeUnit.SECONDS).await();
        } catch (InterruptedException e) {
            server.shutdownNow();
            events.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@code HOOK_SOCKET LIBRARY AGENT_SOCKET}: the hook's socket (virt-launcher looks in
     * /var/run/kubevirt-hooks/), and where QEMU finds the preload library and the agent's socket.
     */
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: HOOK_SOCKET LIBRARY AGENT_SOCKET, e.g. /var/run/kubevirt-hooks/numaguest.sock"
                    + " /var/run/kubevirt-hooks/numaguest/libnumaguest-preload.so /var/run/kubevirt-hooks/numaguest/agent.sock");
            System.exit(2);
        }
        var transformation = new DomainTransformation(new PreloadEnvironment(args[1], args[2]));
        HookSidecarServer server = start(Path.of(args[0]), transformation, line -> System.err.println("numaguest hook: " + line));
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "hook-shutdown"));
        server.awaitTermination();
    }
}
