package io.numaguest.agent.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The metrics and probe endpoint over real TCP, with clients that misbehave. */
class MetricsServerTest {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    /** Held: a gauge keeps its value only weakly, and a collected one scrapes as NaN. */
    private final AgentMetrics metrics = new AgentMetrics(registry);

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final List<Socket> slowClients = new ArrayList<>();
    private MetricsServer server;

    @BeforeEach
    void start() throws Exception {
        metrics.connections().set(3);
        server = new MetricsServer(InetAddress.getLoopbackAddress(), 0, registry, () -> true);
    }

    @AfterEach
    void stop() throws Exception {
        for (Socket client : slowClients) {
            client.close();
        }
        server.close();
    }

    private HttpResponse<String> get(String path) throws Exception {
        // The timeout is a liveness bound (the old single-threaded endpoint hung for minutes), not a latency assert.
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .timeout(Duration.ofSeconds(20))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private Socket slowClient() throws Exception {
        Socket client = new Socket(InetAddress.getLoopbackAddress(), server.port());
        slowClients.add(client);
        OutputStream out = client.getOutputStream();
        out.write('G'); // and nothing more
        out.flush();
        return client;
    }

    @Test
    void clientsThatSendOneByteAndHoldDoNotBlockTheProbes() throws Exception {
        for (int i = 0; i < 8; i++) {
            slowClient();
        }
        assertThat(get("/healthz").statusCode()).isEqualTo(200);
        assertThat(get("/readyz").statusCode()).isEqualTo(200);
    }

    @Test
    void aClientThatHoldsIsDropped() throws Exception {
        Socket client = slowClient();
        InputStream in = client.getInputStream();
        await().atMost(Duration.ofSeconds(30)).until(() -> in.read() == -1);
    }

    @Test
    void onlyTheExactPathsAnswer() throws Exception {
        assertThat(get("/metrics").body()).contains("numaguest_agent_connections 3.0");
        assertThat(get("/healthz").body()).isEqualTo("ok\n");
        assertThat(get("/metricsXYZ").statusCode()).isEqualTo(404);
        assertThat(get("/healthz/anything").statusCode()).isEqualTo(404);
        assertThat(get("/readyzz").statusCode()).isEqualTo(404);
        assertThat(get("/").statusCode()).isEqualTo(404);
    }

    @Test
    void onlyGetAndHeadAreServed() throws Exception {
        HttpResponse<String> post = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/healthz"))
                        .POST(HttpRequest.BodyPublishers.ofString("x"))
                        .timeout(Duration.ofSeconds(20))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(post.statusCode()).isEqualTo(405);
    }
}
