package io.numaguest.e2e;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfig;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubeapitest.binary.BinaryManager;
import io.fabric8.kubernetes.api.model.NamedAuthInfoBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.authentication.BoundObjectReference;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.internal.KubeConfigUtils;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One real kube-apiserver + etcd for the whole test JVM (kube-api-test, with the binaries
 * test-env/provision builds). Starting one takes seconds, so every test class shares it: started
 * on first use, stopped by a shutdown hook. Tests therefore use their own namespaces and object
 * names, and never assume an empty cluster.
 */
public final class KubeApiServer {

    /** The extra a kubelet-issued (node-bound) service account token carries; the agent's VAP reads it. */
    public static final String NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";

    private static final Duration KUBECTL_TIMEOUT = Duration.ofSeconds(120);

    private final KubeAPIServer server;
    private final Config adminConfig;
    private final KubernetesClient adminClient;
    private final Path kubeconfig;
    private final Path kubectl;
    private volatile boolean crdsInstalled;

    /** Initialization-on-demand holder: the server starts when a test first asks for it. */
    private static final class Holder {
        static final KubeApiServer INSTANCE = start();
    }

    public static KubeApiServer get() {
        return Holder.INSTANCE;
    }

    /**
     * A server with an etcd of its own, for a test that needs a cluster without what the shared one
     * has (its CRDs); stopped by {@link #stop()}.
     */
    public static KubeApiServer startOwn() {
        return start();
    }

    private KubeApiServer(KubeAPIServer server, Path kubeconfig, Path kubectl) {
        this.server = server;
        this.kubeconfig = kubeconfig;
        this.kubectl = kubectl;
        this.adminConfig = Config.fromKubeconfig(read(kubeconfig));
        this.adminClient = new KubernetesClientBuilder().withConfig(adminConfig).build();
    }

    private static KubeApiServer start() {
        // Offline mode is set in code: kube-api-test 7.5.2 casts KUBE_API_TEST_OFFLINE_MODE from the
        // environment to Boolean and throws. The directory still comes from KUBE_API_TEST_DIR.
        KubeAPIServerConfig config = KubeAPIServerConfigBuilder.anAPIServerConfig()
                .withOfflineMode(true)
                .withApiServerVersion(System.getProperty("numaguest.kube-api-server.version", "1.37.2"))
                .withUpdateKubeConfig(false)
                .build();
        BinaryManager binaries = new BinaryManager(config);
        binaries.initAndDownloadIfRequired();
        KubeAPIServer server = new KubeAPIServer(config);
        server.start();
        // etcd and kube-apiserver are child processes that would outlive the JVM; stop() kills them.
        Runtime.getRuntime().addShutdownHook(new Thread(server::stop, "kube-apiserver-stop"));
        try {
            Path kubeconfig = Files.createTempFile("numaguest-e2e-", ".kubeconfig");
            kubeconfig.toFile().deleteOnExit();
            Files.writeString(kubeconfig, server.getKubeConfigYaml());
            return new KubeApiServer(
                    server, kubeconfig, binaries.binaries().getKubectl().toPath());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Stops kube-apiserver and etcd (the shared server stops with the JVM instead). */
    public void stop() {
        adminClient.close();
        server.stop();
    }

    /** A client with cluster-admin rights (client certificate in system:masters). */
    public KubernetesClient adminClient() {
        return adminClient;
    }

    /** A kubeconfig file for kubectl, Helm and processes under test; admin credentials. */
    public Path kubeconfig() {
        return kubeconfig;
    }

    /** The kubectl built with the server (same minor version). */
    public Path kubectl() {
        return kubectl;
    }

    /** The repository root; relative paths in {@link #kubectl(String...)} resolve against it. */
    public static Path repoDir() {
        return Path.of(System.getProperty("numaguest.repo.dir", ".."))
                .toAbsolutePath()
                .normalize();
    }

    /** What a kubectl run printed. */
    public record KubectlResult(int exitCode, String stdout, String stderr) {
        public boolean succeeded() {
            return exitCode == 0;
        }

        @Override
        public String toString() {
            return "exit " + exitCode + "\nstdout:\n" + stdout + "\nstderr:\n" + stderr;
        }
    }

    /** Runs kubectl as admin against this server, from the repository root, and waits for it. */
    public KubectlResult kubectl(String... args) {
        List<String> command = new ArrayList<>(List.of(kubectl.toString(), "--kubeconfig", kubeconfig.toString()));
        command.addAll(List.of(args));
        try {
            Process process =
                    new ProcessBuilder(command).directory(repoDir().toFile()).start();
            process.getOutputStream().close();
            // Both streams are drained concurrently so a chatty kubectl never blocks on a full pipe.
            CompletableFuture<String> stdout = CompletableFuture.supplyAsync(() -> readAll(process.getInputStream()));
            CompletableFuture<String> stderr = CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
            if (!process.waitFor(KUBECTL_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(
                        "kubectl " + String.join(" ", args) + " did not finish in " + KUBECTL_TIMEOUT);
            }
            return new KubectlResult(process.exitValue(), stdout.join(), stderr.join());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * A client acting as a service account ({@code "namespace/name"}) through impersonation, with
     * the groups the API server gives a service account token.
     */
    public KubernetesClient clientAs(String serviceAccount) {
        return clientAs(serviceAccount, Map.of());
    }

    /**
     * As {@link #clientAs(String)}, as if the token were bound to a pod on {@code nodeName}: the
     * API server then adds the {@value #NODE_NAME_EXTRA} extra, which admission policies read.
     */
    public KubernetesClient clientAsOnNode(String serviceAccount, String nodeName) {
        return clientAs(serviceAccount, Map.of(NODE_NAME_EXTRA, List.of(nodeName)));
    }

    private KubernetesClient clientAs(String serviceAccount, Map<String, List<String>> extras) {
        String[] namespaceAndName = serviceAccount.split("/", -1);
        if (namespaceAndName.length != 2) {
            throw new IllegalArgumentException("expected namespace/name, got " + serviceAccount);
        }
        String namespace = namespaceAndName[0];
        Config config = Config.fromKubeconfig(read(kubeconfig));
        config.setImpersonateUsername("system:serviceaccount:" + namespace + ":" + namespaceAndName[1]);
        config.setImpersonateGroups(
                "system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated");
        // Fabric8 puts the key into the header name verbatim; '/' is not legal there, and the API
        // server URL-decodes Impersonate-Extra-* keys, so the key goes over the wire escaped.
        Map<String, List<String>> escaped = new HashMap<>();
        extras.forEach((key, values) -> escaped.put(key.replace("%", "%25").replace("/", "%2F"), values));
        config.setImpersonateExtras(escaped);
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    /**
     * A kubeconfig for a process running as {@code pod}'s service account: a token from the
     * TokenRequest API bound to the pod, as kubelet projects one into it. For a pod bound to a node
     * the API server puts the node's name into the token and {@value #NODE_NAME_EXTRA} into every
     * request made with it, which the agent's admission policy reads; the token dies with the pod.
     */
    public Path kubeconfigOfPod(Pod pod) throws IOException {
        TokenRequest request = new TokenRequestBuilder()
                .withNewSpec()
                .withExpirationSeconds(3600L)
                .withBoundObjectRef(new BoundObjectReference(
                        "v1",
                        "Pod",
                        pod.getMetadata().getName(),
                        pod.getMetadata().getUid()))
                .endSpec()
                .build();
        String token = adminClient
                .serviceAccounts()
                .inNamespace(pod.getMetadata().getNamespace())
                .withName(pod.getSpec().getServiceAccountName())
                .tokenRequest(request)
                .getStatus()
                .getToken();
        var config = KubeConfigUtils.parseConfigFromString(read(kubeconfig));
        config.setUsers(List.of(new NamedAuthInfoBuilder()
                .withName("pod")
                .withNewUser()
                .withToken(token)
                .endUser()
                .build()));
        config.getContexts().forEach(context -> context.getContext().setUser("pod"));
        Path file = Files.createTempFile("numaguest-e2e-" + pod.getMetadata().getName() + "-", ".kubeconfig");
        file.toFile().deleteOnExit();
        Files.writeString(file, Serialization.asYaml(config));
        return file;
    }

    /** Applies crds/ (server-side, as a cluster admin would) once per JVM and waits until it is served. */
    public synchronized void installCrds() {
        if (crdsInstalled) {
            return;
        }
        // Helm (a chart test) may have created the CRD first from the chart's copy, under its own
        // field manager: the repository's CRD is the one under test, so this apply takes the fields over.
        expectSuccess(kubectl("apply", "--server-side", "--force-conflicts", "-f", "crds/"));
        expectSuccess(
                kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/numaguestmemories.numaguest.io"));
        crdsInstalled = true;
    }

    /** Fails with kubectl's output unless it exited 0. */
    public static KubectlResult expectSuccess(KubectlResult result) {
        if (!result.succeeded()) {
            throw new AssertionError("kubectl failed: " + result);
        }
        return result;
    }

    private static String readAll(InputStream stream) {
        try (stream) {
            return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
