package io.numaguest.operator;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.javaoperatorsdk.operator.RuntimeInfo;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * Serves {@code /metrics} (Prometheus text), {@code /healthz} (the process serves) and
 * {@code /readyz} (the operator started and its informers are healthy; a replica waiting for the
 * leader Lease is ready too, so a rollout does not stall on it).
 */
final class ProbeServer implements AutoCloseable {

    private final HttpServer server;

    ProbeServer(int port, PrometheusMeterRegistry registry, RuntimeInfo runtime) throws IOException {
        server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/metrics", exchange -> {
            exchange.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            exchange.sendResponseHeaders(200, 0);
            try (OutputStream body = exchange.getResponseBody()) {
                registry.scrape(body);
            }
        });
        server.createContext("/healthz", exchange -> respond(exchange, 200, "ok"));
        server.createContext("/readyz", exchange -> {
            if (!runtime.isStarted()) {
                respond(exchange, 503, "operator not started");
            } else if (!runtime.allEventSourcesAreHealthy()) {
                respond(
                        exchange,
                        503,
                        "unhealthy informers: "
                                + runtime.unhealthyEventSources().keySet());
            } else {
                respond(exchange, 200, "ready");
            }
        });
        server.start();
    }

    int port() {
        return server.getAddress().getPort();
    }

    private static void respond(HttpExchange exchange, int code, String text) throws IOException {
        byte[] body = (text + "\n").getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(code, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
