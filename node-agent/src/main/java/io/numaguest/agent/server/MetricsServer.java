package io.numaguest.agent.server;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.logging.Logger;

/**
 * Serves GET /metrics (Prometheus text format), /healthz and /readyz, exactly those paths, over
 * plain HTTP/1.1, one request per connection. The kubelet's probes come here, so no client can hold
 * it: a few workers, each request read within {@link #REQUEST_DEADLINE_MILLIS} or dropped, and
 * connections beyond what the workers and a short queue take are closed at once.
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(MetricsServer.class.getName());
    private static final int WORKERS = 4;
    private static final int QUEUED_CONNECTIONS = 32;
    /** A probe's request is a few hundred bytes; whoever takes longer than this to send it is dropped. */
    static final int REQUEST_DEADLINE_MILLIS = 2000;

    private static final int MAX_REQUEST_HEAD_BYTES = 8192;

    private final ServerSocket listener;
    private final PrometheusMeterRegistry registry;
    private final BooleanSupplier ready;
    private final ThreadPoolExecutor workers;
    private final Thread acceptor;
    private final AtomicLong workerCounter = new AtomicLong();

    /**
     * @param address where to listen; null for every address
     * @throws java.net.BindException when the port is taken
     */
    public MetricsServer(InetAddress address, int port, PrometheusMeterRegistry registry, BooleanSupplier ready)
            throws IOException {
        this.registry = registry;
        this.ready = ready;
        listener = new ServerSocket();
        try {
            listener.setReuseAddress(true);
            listener.bind(new InetSocketAddress(address, port), 64);
        } catch (IOException e) {
            listener.close();
            throw e;
        }
        workers = new ThreadPoolExecutor(
                WORKERS, WORKERS, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(QUEUED_CONNECTIONS), r -> {
                    Thread thread = new Thread(r, "metrics-http-" + workerCounter.incrementAndGet());
                    thread.setDaemon(true);
                    return thread;
                });
        acceptor = new Thread(this::acceptLoop, "metrics-http-acceptor");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return listener.getLocalPort();
    }

    private void acceptLoop() {
        while (!listener.isClosed()) {
            Socket connection;
            try {
                connection = listener.accept();
            } catch (IOException e) {
                if (!listener.isClosed()) {
                    LOG.warning("metrics endpoint: accept failed, continuing: " + e.getMessage());
                }
                continue;
            }
            try {
                workers.execute(() -> serve(connection));
            } catch (RejectedExecutionException full) {
                closeQuietly(connection); // every worker busy and the queue full: a flood, not a probe
            }
        }
    }

    private void serve(Socket connection) {
        try (connection) {
            connection.setSoTimeout(REQUEST_DEADLINE_MILLIS);
            String requestLine = readRequestHead(
                    connection.getInputStream(), System.nanoTime() + REQUEST_DEADLINE_MILLIS * 1_000_000L);
            if (requestLine == null) {
                return;
            }
            respond(connection.getOutputStream(), requestLine);
        } catch (SocketTimeoutException | SocketException e) {
            // Too slow, or gone: dropped.
        } catch (IOException | RuntimeException e) {
            LOG.fine(() -> "metrics endpoint: request failed: " + e);
        }
    }

    /** The request line, once the whole head (up to the blank line) arrived; null if it did not, in time and size. */
    private static String readRequestHead(InputStream in, long deadlineNanos) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        byte[] buffer = new byte[1024];
        while (head.size() < MAX_REQUEST_HEAD_BYTES && System.nanoTime() < deadlineNanos) {
            int read = in.read(buffer);
            if (read < 0) {
                return null;
            }
            head.write(buffer, 0, read);
            String text = head.toString(StandardCharsets.ISO_8859_1);
            if (text.contains("\r\n\r\n") || text.contains("\n\n")) {
                return text.lines().findFirst().orElse("");
            }
        }
        return null;
    }

    private void respond(OutputStream out, String requestLine) throws IOException {
        String[] parts = requestLine.split(" ");
        if (parts.length != 3 || !parts[2].startsWith("HTTP/1.")) {
            write(out, 400, "Bad Request", "text/plain", "bad request\n", true);
            return;
        }
        boolean head = parts[0].equals("HEAD");
        if (!head && !parts[0].equals("GET")) {
            write(out, 405, "Method Not Allowed", "text/plain", "only GET and HEAD\n", true);
            return;
        }
        String path = parts[1].split("\\?", 2)[0];
        switch (path) {
            case "/metrics" ->
                write(out, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", registry.scrape(), !head);
            case "/healthz" -> write(out, 200, "OK", "text/plain", "ok\n", !head);
            case "/readyz" -> {
                boolean isReady = ready.getAsBoolean();
                write(
                        out,
                        isReady ? 200 : 503,
                        isReady ? "OK" : "Service Unavailable",
                        "text/plain",
                        isReady ? "ready\n" : "not ready\n",
                        !head);
            }
            default ->
                write(
                        out,
                        404,
                        "Not Found",
                        "text/plain",
                        "not found: the agent serves /metrics, /healthz and /readyz\n",
                        !head);
        }
    }

    private static void write(
            OutputStream out, int status, String reason, String contentType, String body, boolean withBody)
            throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: " + contentType + "\r\nContent-Length: "
                + bytes.length + "\r\nConnection: close\r\n\r\n";
        out.write(head.getBytes(StandardCharsets.ISO_8859_1));
        if (withBody) {
            out.write(bytes);
        }
        out.flush();
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // Closing a socket we give up on.
        }
    }

    @Override
    public void close() {
        try {
            listener.close();
        } catch (IOException e) {
            LOG.fine(() -> "closing the metrics endpoint: " + e.getMessage());
        }
        workers.shutdownNow();
    }
}
