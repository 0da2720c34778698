package io.numaguest.agent.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.nativeaccess.ReceivedMessage;
import io.numaguest.agent.nativeaccess.SeqPacketSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A VMM's side of the socket, for tests: sends one request with fds, returns the parsed response. */
public final class VmmClient implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final SeqPacketSocket socket;

    public VmmClient(Path socketPath) throws NativeException {
        socket = SeqPacketSocket.connect(socketPath);
    }

    public JsonNode request(String json, int... fds) throws Exception {
        return request(json.getBytes(StandardCharsets.UTF_8), fds);
    }

    public JsonNode request(byte[] payload, int... fds) throws Exception {
        socket.send(payload, fds);
        return receive();
    }

    public JsonNode receive() throws Exception {
        ReceivedMessage response = socket.receive(1 << 20, 0);
        if (response == null) {
            throw new IllegalStateException("the agent closed the connection without answering");
        }
        return JSON.readTree(response.payload());
    }

    public static String apply(String id, String vm, String regions) {
        return "{\"version\":1,\"id\":\"" + id + "\",\"op\":\"apply\",\"vm\":{\"namespace\":\"default\",\"name\":\""
                + vm + "\"},\"regions\":" + regions + "}";
    }

    @Override
    public void close() {
        socket.close();
    }
}
