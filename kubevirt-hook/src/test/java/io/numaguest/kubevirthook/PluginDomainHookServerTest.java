package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Plugin domain hook server, called over its Unix socket by a real gRPC client that speaks
 * KubeVirt's contract without this module's generated classes: the method name virt-launcher dials
 * and requests encoded by hand from the field numbers of KubeVirt's
 * pkg/hooks/plugins/v1alpha1/api.proto (MutateDomainRequest: domain_type 1, domain 2, vmi 3,
 * sidecar_context 4 with invocation_context 1; MutateDomainResponse: domain 1). A wrong field
 * number or service name in our .proto makes these fail.
 */
class PluginDomainHookServerTest {
    private static final MethodDescriptor<byte[], byte[]> MUTATE_DOMAIN = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName("kubevirt.hooks.plugins.v1alpha1.DomainHookService/MutateDomain")
            .setRequestMarshaller(new RawBytes())
            .setResponseMarshaller(new RawBytes())
            .build();

    @TempDir
    Path dir;

    private final List<String> log = new CopyOnWriteArrayList<>();
    private PluginDomainHookServer server;
    private EventLoopGroup clientEvents;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        Path socket = dir.resolve("domain.sock");
        server = PluginDomainHookServer.start(
                socket, new DomainTransformation(DomainTransformationGoldenTest.PRELOAD), log::add);
        clientEvents = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class)
                .eventLoopGroup(clientEvents)
                .usePlaintext()
                .build();
    }

    @AfterEach
    void stop() throws Exception {
        channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        clientEvents.shutdownGracefully(0, 0, TimeUnit.SECONDS).await();
        server.close();
    }

    @Test
    void aTargetedVmisLibvirtDomainComesBackAsTheReviewedTransformation() throws Exception {
        String domain = DomainTransformationGoldenTest.fixture("kubevirt-1.9-passt.xml");
        String vmi = HookSidecarServerTest.vmiJson(
                "tenant-b",
                "vm-web",
                "{\"enforcement\":\"Strict\",\"guestNodes\":[{\"guestNode\":0,\"size\":\"1536Mi\"},{\"guestNode\":1,\"size\":\"512Mi\"}]}");

        assertThat(mutateDomain("libvirt", domain, vmi, "Boot"))
                .isEqualTo(Files.readString(
                        DomainTransformationGoldenTest.goldenDirectory().resolve("kubevirt-1.9-passt.expected.xml")));
    }

    @Test
    void anUntargetedVmisDomainAndAnotherVmmsDomainComeBackByteForByte() throws Exception {
        String domain = DomainTransformationGoldenTest.fixture("kubevirt-1.8-containerdisk.xml");
        assertThat(mutateDomain("libvirt", domain, HookSidecarServerTest.vmiJson("tenant-a", "vm-db", null), "Boot"))
                .isEqualTo(domain);
        String targeted = HookSidecarServerTest.vmiJson(
                "tenant-a", "vm-db", "{\"guestNodes\":[{\"guestNode\":0},{\"guestNode\":1}]}");
        assertThat(mutateDomain("cloud-hypervisor", "{\"not\":\"xml\"}", targeted, "Boot"))
                .isEqualTo("{\"not\":\"xml\"}");
    }

    @Test
    void theNotesNameTheInvocationContext() throws Exception {
        mutateDomain(
                "libvirt",
                DomainTransformationGoldenTest.fixture("kubevirt-1.8-hugepages-passthrough.xml"),
                HookSidecarServerTest.vmiJson(
                        "tenant-a", "vm-numa", "{\"guestNodes\":[{\"guestNode\":0},{\"guestNode\":1}]}"),
                "MigrationTarget");
        assertThat(log)
                .hasSize(3)
                .allMatch(
                        line -> line.startsWith("tenant-a/vm-numa: numatune ") && line.endsWith(" (MigrationTarget)"));
    }

    @Test
    void aDomainThatCannotCarryTheRequestIsRefusedWithTheReason() {
        String threeNodes = HookSidecarServerTest.vmiJson(
                "tenant-b", "vm-web", "{\"guestNodes\":[{\"guestNode\":0},{\"guestNode\":1},{\"guestNode\":2}]}");
        assertThatThrownBy(() -> mutateDomain(
                        "libvirt",
                        DomainTransformationGoldenTest.fixture("kubevirt-1.9-passt.xml"),
                        threeNodes,
                        "Boot"))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription())
                            .contains("asks for 3 guest nodes but the domain has 2 vCPUs");
                });
    }

    /** One MutateDomain call, encoded and decoded by field number. */
    private String mutateDomain(String domainType, String domain, String vmi, String invocationContext)
            throws IOException {
        ByteArrayOutputStream context = new ByteArrayOutputStream();
        CodedOutputStream contextOut = CodedOutputStream.newInstance(context);
        contextOut.writeString(1, invocationContext);
        contextOut.flush();
        ByteArrayOutputStream request = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(request);
        out.writeString(1, domainType);
        out.writeByteArray(2, domain.getBytes(StandardCharsets.UTF_8));
        out.writeByteArray(3, vmi.getBytes(StandardCharsets.UTF_8));
        out.writeByteArray(4, context.toByteArray());
        out.flush();

        byte[] response =
                ClientCalls.blockingUnaryCall(channel, MUTATE_DOMAIN, CallOptions.DEFAULT, request.toByteArray());
        CodedInputStream in = CodedInputStream.newInstance(response);
        String result = null;
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            assertThat(tag)
                    .as("MutateDomainResponse has only field 1 (bytes domain)")
                    .isEqualTo((1 << 3) | 2);
            result = in.readBytes().toStringUtf8();
        }
        return result;
    }

    /** Messages as the bytes on the wire. */
    private static final class RawBytes implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
