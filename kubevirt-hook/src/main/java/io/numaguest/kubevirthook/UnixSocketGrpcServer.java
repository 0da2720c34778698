package io.numaguest.kubevirthook;

import com.google.protobuf.Message;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A gRPC server on a Unix socket, as KubeVirt dials its hooks. The services are declared in Java
 * ({@link #unary}): the mirror serves no protoc-gen-grpc-java executable.
 */
final class UnixSocketGrpcServer implements AutoCloseable {
    private final Server server;
    private final EventLoopGroup events;

    private UnixSocketGrpcServer(Server server, EventLoopGroup events) {
        this.server = server;
        this.events = events;
    }

    static UnixSocketGrpcServer start(Path socket, ServerServiceDefinition... services) throws IOException {
        EventLoopGroup events = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(events)
                .workerEventLoopGroup(events);
        for (ServerServiceDefinition service : services) {
            builder.addService(service);
        }
        Server server = builder.build();
        try {
            server.start();
        } catch (IOException e) {
            events.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IOException("cannot serve the hook on " + socket + ": " + e.getMessage(), e);
        }
        return new UnixSocketGrpcServer(server, events);
    }

    static <Q extends Message, R extends Message> MethodDescriptor<Q, R> unary(
            String service, String method, Q request, R response) {
        return MethodDescriptor.<Q, R>newBuilder()
                .setType(MethodDescriptor.MethodType.UNARY)
                .setFullMethodName(MethodDescriptor.generateFullMethodName(service, method))
                .setRequestMarshaller(ProtoUtils.marshaller(request))
                .setResponseMarshaller(ProtoUtils.marshaller(response))
                .build();
    }

    void awaitTermination() throws InterruptedException {
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
}
