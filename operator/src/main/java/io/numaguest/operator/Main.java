package io.numaguest.operator;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.utils.Utils;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "numaguest-operator",
        mixinStandardHelpOptions = true,
        description = "Places the guest NUMA nodes of NumaGuestMemory VMs on host NUMA nodes.")
public final class Main implements Callable<Integer> {

    private static final Logger LOG = LoggerFactory.getLogger(Main.class);
    /** Exit status when a CRD the operator reads came or went: the Deployment starts it afresh. */
    static final int RESTART_EXIT_CODE = 3;

    @Option(
            names = "--metrics-port",
            defaultValue = "8080",
            description = "Port for /metrics, /healthz and /readyz (default: ${DEFAULT-VALUE}).")
    int metricsPort;

    @Option(
            names = "--leader-election",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "Hold the Lease " + NumaGuestMemoryOperator.LEASE_NAME
                    + " before reconciling, so replicas can stand by (default: on).")
    boolean leaderElection;

    @Option(
            names = "--lease-namespace",
            defaultValue = "${env:POD_NAMESPACE}",
            description = "Namespace of the leader Lease (default: $POD_NAMESPACE, else the client's namespace).")
    String leaseNamespace;

    @Option(
            names = "--watch-namespaces",
            split = ",",
            paramLabel = "NAMESPACE",
            description = "Namespaces to watch, comma separated (default: all).")
    Set<String> watchNamespaces = new LinkedHashSet<>();

    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }

    /**
     * The client's configuration as Fabric8 finds it (in-cluster service account, or $KUBECONFIG).
     * When that authenticates by client certificate alone, no token is ever to be had, yet Fabric8's
     * token interceptor, finding none, re-reads and parses the whole kubeconfig before every request
     * from the first minute on (about a tenth of the operator's CPU in a profile at 1,000 NGMs): an
     * empty token provider tells it there is nothing to refresh.
     */
    static Config clientConfig() {
        Config config = Config.autoConfigure(null);
        boolean tokenOrPassword = Utils.isNotNullOrEmpty(config.getOauthToken())
                || Utils.isNotNullOrEmpty(config.getAutoOAuthToken())
                || config.getOauthTokenProvider() != null
                || config.getAuthProvider() != null
                || Utils.isNotNullOrEmpty(config.getUsername());
        boolean clientCertificate = Utils.isNotNullOrEmpty(config.getClientCertFile())
                || Utils.isNotNullOrEmpty(config.getClientCertData());
        if (clientCertificate && !tokenOrPassword) {
            config.setOauthTokenProvider(() -> null);
        }
        return config;
    }

    @Override
    public Integer call() throws Exception {
        var client = new KubernetesClientBuilder().withConfig(clientConfig()).build();
        var registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);

        var capabilities = ClusterCapabilities.detect(client);
        LOG.info(
                "KubeVirt VirtualMachineInstance API: {}; NodeResourceTopology API: {}",
                capabilities.kubeVirt() ? "served" : "absent",
                capabilities.nodeResourceTopology() ? "served" : "absent");
        Optional<LeaderElectionConfiguration> lease = leaderElection
                ? Optional.of(
                        leaseNamespace == null || leaseNamespace.isBlank()
                                ? new LeaderElectionConfiguration(NumaGuestMemoryOperator.LEASE_NAME)
                                : new LeaderElectionConfiguration(NumaGuestMemoryOperator.LEASE_NAME, leaseNamespace))
                : Optional.empty();

        var operator = new NumaGuestMemoryOperator(client, registry, capabilities, watchNamespaces, lease).build();
        // Not from the informer's thread: exiting runs the shutdown hook, which stops the informers.
        Runnable restart = () -> Thread.ofPlatform().name("restart").start(() -> System.exit(RESTART_EXIT_CODE));
        var capabilityWatch = new CapabilityWatch(client, capabilities, restart);
        try (capabilityWatch;
                var probes = new ProbeServer(metricsPort, registry, operator.getRuntimeInfo())) {
            operator.installShutdownHook(Duration.ofSeconds(10));
            operator.start();
            LOG.info("numaguest operator started; probes and metrics on port {}", probes.port());
            new CountDownLatch(1).await(); // until SIGTERM: the shutdown hook stops the operator
        }
        return 0;
    }
}
