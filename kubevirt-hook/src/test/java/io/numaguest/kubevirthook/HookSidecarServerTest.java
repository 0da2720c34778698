package io.numaguest.kubevirthook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.TextNode;
import com.google.protobuf.ByteString;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.ClientCalls;
import io.numaguest.kubevirthook.proto.info.InfoParams;
import io.numaguest.kubevirthook.proto.info.InfoResult;
import io.numaguest.kubevirthook.proto.v1alpha2.OnDefineDomainParams;
import io.numaguest.kubevirthook.proto.v1alpha2.OnDefineDomainResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The legacy hook sidecar's gRPC server, called by a real gRPC client over its Unix socket. */
class HookSidecarServerTest {
    private static final long MIB = 1024 * 1024;

    @TempDir
    Path dir;

    private final List<String> log = new CopyOnWriteArrayList<>();
    private HookSidecarServer server;
    private EventLoopGroup clientEvents;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        Path socket = dir.resolve("numaguest.sock");
        server = HookSidecarServer.start(
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
    void infoSubscribesOnDefineDomainInV1alpha2() {
        InfoResult info = ClientCalls.blockingUnaryCall(
                channel, HookSidecarServer.INFO, CallOptions.DEFAULT, InfoParams.getDefaultInstance());
        assertThat(info.getName()).isEqualTo("numaguest");
        assertThat(info.getHookPointsList()).extracting(p -> p.getName()).containsExactly("OnDefineDomain");
        assertThat(info.getVersionsList()).containsExactly("v1alpha2");
    }

    @Test
    void aTargetedVmisDomainComesBackTransformed() throws Exception {
        String domain = DomainTransformationGoldenTest.fixture("kubevirt-1.9-passt.xml");
        String vmi = vmiJson(
                "tenant-b",
                "vm-web",
                "{\"enforcement\":\"Strict\",\"guestNodes\":[{\"guestNode\":0,\"size\":\"1536Mi\"},{\"guestNode\":1,\"size\":\"512Mi\"}]}");

        OnDefineDomainResult result = onDefineDomain(domain, vmi);

        // The same request as the golden case, so the same reviewed output.
        String expected = new DomainTransformation(DomainTransformationGoldenTest.PRELOAD)
                .transform(
                        domain,
                        new VmiIdentity("tenant-b", "vm-web"),
                        Optional.of(new GuestMemoryRequest(
                                List.of(GuestNodeRequest.sized(0, 1536 * MIB), GuestNodeRequest.sized(1, 512 * MIB)),
                                "Strict")))
                .domainXml();
        assertThat(result.getDomainXML().toStringUtf8())
                .isEqualTo(expected)
                .isEqualTo(Files.readString(
                        DomainTransformationGoldenTest.goldenDirectory().resolve("kubevirt-1.9-passt.expected.xml")));
    }

    @Test
    void theNotesOfATransformationAreLogged() throws Exception {
        onDefineDomain(
                DomainTransformationGoldenTest.fixture("kubevirt-1.8-hugepages-passthrough.xml"),
                vmiJson("tenant-a", "vm-numa", "{\"guestNodes\":[{\"guestNode\":0},{\"guestNode\":1}]}"));
        assertThat(log).hasSize(3).allMatch(line -> line.startsWith("tenant-a/vm-numa: numatune "));
    }

    @Test
    void anUntargetedVmisDomainComesBackByteForByte() throws Exception {
        String domain = DomainTransformationGoldenTest.fixture("kubevirt-1.8-containerdisk.xml");
        assertThat(onDefineDomain(domain, vmiJson("tenant-a", "vm-db", null))
                        .getDomainXML()
                        .toStringUtf8())
                .isEqualTo(domain);
    }

    @Test
    void aDomainThatCannotCarryTheRequestIsRefusedWithTheReasonAndTheServerKeepsServing() throws Exception {
        String domain = DomainTransformationGoldenTest.fixture("kubevirt-1.9-passt.xml");
        String threeNodes = vmiJson(
                "tenant-b", "vm-web", "{\"guestNodes\":[{\"guestNode\":0},{\"guestNode\":1},{\"guestNode\":2}]}");
        assertThatThrownBy(() -> onDefineDomain(domain, threeNodes))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription())
                            .contains("asks for 3 guest nodes but the domain has 2 vCPUs");
                });
        String badSize = vmiJson("tenant-b", "vm-web", "{\"guestNodes\":[{\"guestNode\":0,\"size\":\"1.5Gi\"}]}");
        assertThatThrownBy(() -> onDefineDomain(domain, badSize))
                .hasMessageContaining(
                        "annotation numaguest.io/guest-memory of VMI tenant-b/vm-web: size 1.5Gi is not a whole quantity");
        assertThat(onDefineDomain(domain, vmiJson("tenant-b", "vm-web", null))
                        .getDomainXML()
                        .toStringUtf8())
                .isEqualTo(domain);
    }

    private OnDefineDomainResult onDefineDomain(String domain, String vmi) {
        return ClientCalls.blockingUnaryCall(
                channel,
                HookSidecarServer.ON_DEFINE_DOMAIN,
                CallOptions.DEFAULT,
                OnDefineDomainParams.newBuilder()
                        .setDomainXML(ByteString.copyFromUtf8(domain))
                        .setVmi(ByteString.copyFromUtf8(vmi))
                        .build());
    }

    static String vmiJson(String namespace, String name, String annotation) {
        String annotations =
                annotation == null ? "{}" : "{\"" + HookedVmi.ANNOTATION + "\":" + TextNode.valueOf(annotation) + "}";
        return "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\",\"metadata\":{\"namespace\":\""
                + namespace + "\",\"name\":\"" + name + "\",\"annotations\":" + annotations
                + "},\"spec\":{\"domain\":{}}}";
    }
}
