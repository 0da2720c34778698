package io.numaguest.e2e;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.numaguest.api.topology.v1alpha2.NodeResourceTopology;
import io.numaguest.api.v1alpha1.GuestNodePlacement;
import io.numaguest.api.v1alpha1.NumaGuestMemory;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Operator at scale (docs/performance.md, "Operator at scale"): not a test, a main run by
 * bench/operator-scale. One real kube-apiserver + etcd (the {@link KubeApiServer} fixture), 20
 * Nodes with a two-zone NodeResourceTopology each, then two runs in fresh namespaces:
 *
 * <ol>
 *   <li><b>baseline</b>: a bare Fabric8 client creates, per VM, a pod (bound to one of the nodes),
 *       marks it Running (pods/status), creates the NumaGuestMemory (pod-selector target, two guest
 *       nodes, host nodes left to automatic placement) and writes one status patch, the
 *       status.applied an agent would write. The floor this server sets for the same objects.
 *   <li><b>operator</b>: the same creates with the same client and parallelism while the operator
 *       jar runs as a process ({@code -Xmx256m}); a simulated agent (an informer here) writes the
 *       same status.applied, JSON patch {@code add /status/applied} with field manager
 *       numaguest-agent, as soon as the operator has placed an NGM. The clock stops when every
 *       NGM has Ready=True.
 * </ol>
 *
 * The operator watches only its run's namespace and that of its own untimed warm-up (the same
 * pass with 200 VMs, deleted before the clock starts), so its informers list only those objects;
 * the baseline's are deleted at the end. Prints one table; asserts nothing.
 */
public final class OperatorScaleBenchmark {

    private static final int COUNT = Integer.getInteger("bench.count", 1000);
    private static final int NODES = Integer.getInteger("bench.nodes", 20);
    /** Requests in flight from the creating client (and from the simulated agents together). */
    private static final int PARALLEL = Integer.getInteger("bench.parallel", 16);

    private static final int WARMUP = Integer.getInteger("bench.warmup", 200);
    /** false: the operator run alone, to compare with a baseline of the same size measured before. */
    private static final boolean BASELINE = Boolean.parseBoolean(System.getProperty("bench.baseline", "true"));

    private static final String OPERATOR_XMX = System.getProperty("bench.operatorXmx", "256m");
    /** More JVM options for the operator, space separated: a profiler, e.g. -XX:StartFlightRecording=filename=op.jfr. */
    private static final String OPERATOR_JVM_OPTIONS = System.getProperty("bench.operatorJvmOptions", "");

    private static final Duration RUN_TIMEOUT = Duration.ofMinutes(Long.getLong("bench.timeoutMinutes", 15));
    private static final String LABEL = "numaguest-bench/vm";
    private static final String AGENT_MANAGER = "numaguest-agent";
    private static final long GIB = 1L << 30;

    private final KubeApiServer server = KubeApiServer.get();
    private final KubernetesClient admin = server.adminClient();
    private final String tag = UUID.randomUUID().toString().substring(0, 5);
    private final List<String> nodes = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        int status = 0;
        try {
            new OperatorScaleBenchmark().run();
        } catch (Throwable e) {
            e.printStackTrace();
            status = 1;
        }
        System.exit(status); // the fixture's shutdown hook stops kube-apiserver and etcd
    }

    private void run() throws Exception {
        System.out.printf(
                "operator-scale: %d NGMs + pods on %d nodes, %d requests in flight, load average %s%n",
                COUNT, NODES, PARALLEL, loadAverage());
        server.installCrds();
        OptionalCrds.installNodeResourceTopology(admin);
        waitUntil("NRT served", Duration.ofSeconds(60), () -> admin.supports(NodeResourceTopology.class));
        for (int n = 0; n < NODES; n++) {
            String node = "bench-node-%02d".formatted(n);
            nodes.add(node);
            admin.nodes()
                    .resource(new NodeBuilder()
                            .withNewMetadata()
                            .withName(node)
                            .endMetadata()
                            .build())
                    .serverSideApply();
            admin.resource(PublishedTopologies.flat(node, 512 * GIB, 32, 500 * GIB, 500 * GIB))
                    .serverSideApply();
        }

        // Warm-up, untimed: the baseline's own requests on a smaller set, so neither timed run pays for
        // this JVM's JIT, the client's connection pool or the server's first writes of these kinds.
        String warmupNs = "bench-warmup-" + tag;
        baseline(warmupNs, Math.min(COUNT, WARMUP));
        deleteObjects(warmupNs);

        String baselineNs = "bench-baseline-" + tag;
        String operatorNs = "bench-operator-" + tag;
        // The operator watches only its run's namespace, so the baseline's objects may stay until the end.
        Result baseline = BASELINE
                ? baseline(baselineNs, COUNT)
                : new Result(
                        Double.NaN,
                        Double.NaN,
                        Double.NaN,
                        Double.NaN,
                        Double.NaN,
                        Double.NaN,
                        Double.NaN,
                        Double.NaN,
                        Double.NaN,
                        Double.NaN,
                        true);
        Result operator = operatorRun(operatorNs);
        printTable(baseline, operator);
        try {
            if (BASELINE) {
                deleteObjects(baselineNs);
            }
            deleteObjects(operatorNs);
            for (String node : nodes) {
                admin.resources(NodeResourceTopology.class).withName(node).delete();
                admin.nodes().withName(node).delete();
            }
        } catch (RuntimeException e) {
            System.err.println("operator-scale: cleanup failed (the server is stopped anyway): " + e);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The two runs

    private record Result(
            double seconds,
            double createdSeconds,
            double placedSeconds,
            double apiServerCpu,
            double etcdCpu,
            double operatorCpu,
            double heapPeakMiB,
            double heapAfterGcPeakMiB,
            double rssMiB,
            double rssPeakMiB,
            boolean operatorAlive) {}

    private Result baseline(String namespace, int count) throws Exception {
        createNamespace(namespace);
        Map<String, Long> writesBefore = apiRequests();
        Cpu before = Cpu.sample(0);
        long start = System.nanoTime();
        forEachVm(count, i -> {
            String podUid = createPodAndNgm(namespace, i);
            // One status write per NGM: what the agent writes; the NGM has no status yet, so /status is added.
            List<Map<String, Object>> applied = List.of(applied(0, podUid, List.of(0)), applied(1, podUid, List.of(1)));
            admin.resources(NumaGuestMemory.class)
                    .inNamespace(namespace)
                    .withName(vm(i))
                    .subresource("status")
                    .patch(
                            PatchContext.of(PatchType.JSON),
                            json(List.of(Map.of("op", "add", "path", "/status", "value", Map.of("applied", applied)))));
        });
        double seconds = secondsSince(start);
        Cpu cpu = Cpu.sample(0).minus(before);
        System.out.printf(
                "baseline (%s, %d NGMs): %.2f s, apiserver CPU %.1f s, etcd CPU %.1f s%n",
                namespace, count, seconds, cpu.apiServer, cpu.etcd);
        Map<String, Long> writesAfter = apiRequests();
        System.out.println("baseline API writes: " + requestsSince(writesBefore, writesAfter, WRITES));
        System.out.println("baseline API reads: " + requestsSince(writesBefore, writesAfter, READS));
        return new Result(
                seconds,
                seconds,
                Double.NaN,
                cpu.apiServer,
                cpu.etcd,
                Double.NaN,
                Double.NaN,
                Double.NaN,
                Double.NaN,
                Double.NaN,
                true);
    }

    private Result operatorRun(String namespace) throws Exception {
        createNamespace(namespace);
        // The operator's own warm-up, untimed, in a namespace of its own: the timed run then measures
        // an operator whose JIT has compiled its hot paths, as a long-running one has (the baseline's
        // warm-up does the same for this JVM). Without it, half the operator's CPU in the timed run
        // was its JIT compilers.
        String warmupNs = "bench-operator-warmup-" + tag;
        createNamespace(warmupNs);
        Path work = Files.createTempDirectory("numaguest-operator-scale-");
        Path log = work.resolve("operator.log");
        Path gcLog = work.resolve("operator-gc.log");
        int port = freePort();
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + OPERATOR_XMX,
                "-XX:+ExitOnOutOfMemoryError",
                "-Xlog:gc:file=" + gcLog));
        command.addAll(List.of(OPERATOR_JVM_OPTIONS.split(" ")).stream()
                .filter(option -> !option.isBlank())
                .toList());
        command.addAll(List.of(
                "-jar",
                KubeApiServer.repoDir()
                        .resolve("operator/target/numaguest-operator.jar")
                        .toString(),
                "--no-leader-election",
                "--metrics-port",
                Integer.toString(port),
                "--watch-namespaces",
                warmupNs + "," + namespace));
        ProcessBuilder builder =
                new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("KUBECONFIG", server.kubeconfig().toString());
        Process operator = builder.start();
        System.out.println("operator: pid " + operator.pid() + ", log " + log + ", GC log " + gcLog);
        try {
            waitUntil("operator started", Duration.ofSeconds(120), () -> {
                if (!operator.isAlive()) throw new IllegalStateException("operator exited:\n" + Files.readString(log));
                return Files.readString(log).contains("numaguest operator started");
            });
            int warmup = Math.min(COUNT, WARMUP);
            Phase warm = vmsToReady(warmupNs, warmup);
            System.out.printf(
                    "operator warm-up (%s, %d NGMs): all Ready at %.2f s%s%n",
                    warmupNs, warmup, warm.seconds, warm.done ? "" : " (NOT all Ready)");
            deleteObjects(warmupNs);
            Thread.sleep(2000); // let the deletes' events settle before the clock runs

            Map<String, Long> writesBefore = apiRequests();
            Cpu before = Cpu.sample(operator.pid());
            String reconcilesBefore = reconcileCounts(port, warmup);
            Map<String, Double> threadsBefore = threadCpu(operator.pid());
            Phase run = vmsToReady(namespace, COUNT);
            Cpu cpu = Cpu.sample(operator.pid()).minus(before);
            Map<String, Long> writesAfter = apiRequests();
            System.out.println(
                    "operator run API writes (until all Ready): " + requestsSince(writesBefore, writesAfter, WRITES));
            System.out.println(
                    "operator run API reads (until all Ready): " + requestsSince(writesBefore, writesAfter, READS));
            System.out.println(
                    "operator CPU s by thread during the run: " + cpuSince(threadsBefore, threadCpu(operator.pid())));
            System.out.println("operator reconciles: after the warm-up " + reconcilesBefore + "; at the end "
                    + reconcileCounts(port, warmup + COUNT) + " (per NGM of both)");
            double seconds = run.seconds;
            if (!run.done) {
                System.out.printf(
                        "operator: NOT all Ready after %s: %d Ready, %d placed%n", RUN_TIMEOUT, run.ready, run.placed);
                seconds = Double.NaN;
            }
            boolean alive = operator.isAlive();
            String heapInfo = alive ? run("jcmd", Long.toString(operator.pid()), "GC.heap_info") : "(operator exited)";
            double rss = alive ? procStatusMiB(operator.pid(), "VmRSS") : Double.NaN;
            double rssPeak = alive ? procStatusMiB(operator.pid(), "VmHWM") : Double.NaN;
            double beforeGcPeak = gcPeakMiB(gcLog, 1);
            double afterGcPeak = gcPeakMiB(gcLog, 2);
            System.out.printf(
                    "operator: created in %.2f s, all placed at %.2f s, all Ready at %.2f s; apiserver CPU %.1f s, "
                            + "etcd CPU %.1f s, operator CPU %.1f s; heap used peak %.1f MiB (before a collection, GC log), "
                            + "after-GC peak %.1f MiB, RSS %.1f MiB (peak %.1f)%n",
                    run.createdSeconds,
                    run.placedSeconds,
                    seconds,
                    cpu.apiServer,
                    cpu.etcd,
                    cpu.process,
                    beforeGcPeak,
                    afterGcPeak,
                    rss,
                    rssPeak);
            System.out.println("operator GC.heap_info at the end:\n" + heapInfo.strip());
            String operatorLog = Files.readString(log);
            long errors = operatorLog
                    .lines()
                    .filter(line -> line.contains("ERROR") || line.contains("WARN"))
                    .count();
            System.out.println("operator log: " + operatorLog.lines().count() + " lines, " + errors + " WARN/ERROR");
            operatorLog
                    .lines()
                    .filter(line -> line.contains("ERROR") || line.contains("WARN"))
                    .limit(5)
                    .forEach(System.out::println);
            return new Result(
                    seconds,
                    run.createdSeconds,
                    run.placedSeconds,
                    cpu.apiServer,
                    cpu.etcd,
                    cpu.process,
                    beforeGcPeak,
                    afterGcPeak,
                    rss,
                    rssPeak,
                    alive);
        } finally {
            operator.destroy();
            if (!operator.waitFor(15, TimeUnit.SECONDS)) operator.destroyForcibly();
        }
    }

    /** One pass of the operator run: times from the first create; done false when not all were Ready in time. */
    private record Phase(
            double createdSeconds, double placedSeconds, double seconds, boolean done, int placed, int ready) {}

    /**
     * Creates count pods and NGMs in the namespace while a simulated agent (an informer here)
     * writes status.applied as soon as the operator has placed an NGM; returns once every NGM is
     * Ready (or {@link #RUN_TIMEOUT} after the last create).
     */
    private Phase vmsToReady(String namespace, int count) throws Exception {
        Map<String, Long> placedAt = new ConcurrentHashMap<>();
        Map<String, Long> readyAt = new ConcurrentHashMap<>();
        Set<String> appliedSent = ConcurrentHashMap.newKeySet();
        CountDownLatch allReady = new CountDownLatch(1);
        ExecutorService agents = Executors.newFixedThreadPool(PARALLEL);
        ResourceEventHandler<NumaGuestMemory> handler = new ResourceEventHandler<>() {
            @Override
            public void onAdd(NumaGuestMemory ngm) {
                observe(ngm);
            }

            @Override
            public void onUpdate(NumaGuestMemory old, NumaGuestMemory ngm) {
                observe(ngm);
            }

            @Override
            public void onDelete(NumaGuestMemory ngm, boolean unknown) {}

            private void observe(NumaGuestMemory ngm) {
                String name = ngm.getMetadata().getName();
                var status = ngm.getStatus();
                if (status == null) return;
                if (status.getPlacement() != null
                        && status.getTargetPod() != null
                        && placedAt.putIfAbsent(name, System.nanoTime()) == null
                        && appliedSent.add(name)) {
                    List<GuestNodePlacement> placement = List.copyOf(status.getPlacement());
                    String podUid = status.getTargetPod().getUid();
                    agents.submit(() -> writeApplied(namespace, name, podUid, placement));
                }
                boolean ready = status.getConditions() != null
                        && status.getConditions().stream()
                                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
                if (ready && readyAt.putIfAbsent(name, System.nanoTime()) == null && readyAt.size() == count) {
                    allReady.countDown();
                }
            }
        };
        SharedIndexInformer<NumaGuestMemory> informer =
                admin.resources(NumaGuestMemory.class).inNamespace(namespace).inform(handler);
        try {
            long start = System.nanoTime();
            forEachVm(count, i -> createPodAndNgm(namespace, i));
            double created = secondsSince(start);
            boolean done = allReady.await(RUN_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            double seconds = secondsSince(start);
            double placed = placedAt.values().stream().mapToLong(Long::longValue).max().stream()
                    .mapToDouble(t -> (t - start) / 1e9)
                    .findFirst()
                    .orElse(Double.NaN);
            return new Phase(created, placed, seconds, done, placedAt.size(), readyAt.size());
        } finally {
            informer.close();
            agents.shutdownNow();
        }
    }

    /** What the node agent writes after an apply: one entry per guest node, as placed, verified. */
    private void writeApplied(String namespace, String name, String podUid, List<GuestNodePlacement> placement) {
        List<Map<String, Object>> applied = placement.stream()
                .map(p -> applied(
                        p.getGuestNode(),
                        podUid,
                        p.getHostNodes(),
                        p.getPolicy().toString()))
                .toList();
        try {
            admin.resources(NumaGuestMemory.class)
                    .inNamespace(namespace)
                    .withName(name)
                    .subresource("status")
                    .patch(
                            new PatchContext.Builder()
                                    .withPatchType(PatchType.JSON)
                                    .withFieldManager(AGENT_MANAGER)
                                    .build(),
                            json(List.of(Map.of("op", "add", "path", "/status/applied", "value", applied))));
        } catch (RuntimeException e) {
            System.err.println("simulated agent: status.applied of " + name + " failed: " + e);
        }
    }

    private static Map<String, Object> applied(int guestNode, String podUid, List<Integer> hostNodes) {
        return applied(guestNode, podUid, hostNodes, "Bind");
    }

    private static Map<String, Object> applied(int guestNode, String podUid, List<Integer> hostNodes, String policy) {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("guestNode", guestNode);
        entry.put("podUid", podUid);
        entry.put("fdKind", "memfd");
        entry.put("mechanism", "mbind");
        entry.put("policy", policy);
        entry.put("hostNodes", hostNodes);
        entry.put("verified", true);
        entry.put("pageSizeBytes", 4096L);
        entry.put("pagesByHostNode", Map.of(Integer.toString(hostNodes.isEmpty() ? 0 : hostNodes.getFirst()), 262144L));
        entry.put("time", Instant.now().toString());
        return entry;
    }

    /** The launcher pod (bound to a node, marked Running) and the NGM that selects it; returns the pod's uid. */
    private String createPodAndNgm(String namespace, int i) {
        String vm = vm(i);
        String podName = "virt-launcher-" + vm;
        var pod = admin.pods()
                .inNamespace(namespace)
                .resource(new PodBuilder()
                        .withNewMetadata()
                        .withName(podName)
                        .withNamespace(namespace)
                        .addToLabels(LABEL, vm)
                        .endMetadata()
                        .withNewSpec()
                        .withNodeName(nodes.get(i % nodes.size()))
                        .addNewContainer()
                        .withName("compute")
                        .withImage("quay.io/kubevirt/virt-launcher:v1.5.0")
                        .endContainer()
                        .endSpec()
                        .build())
                .create();
        admin.pods()
                .inNamespace(namespace)
                .withName(podName)
                .subresource("status")
                .patch(
                        PatchContext.of(PatchType.JSON_MERGE),
                        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
        String ngmYaml = """
        apiVersion: numaguest.io/v1alpha1
        kind: NumaGuestMemory
        metadata:
          name: %s
          namespace: %s
        spec:
          target:
            podSelector:
              matchLabels:
                %s: %s
          enforcement: Strict
          guestNodes:
            - guestNode: 0
              policy: Bind
              size: 1Gi
            - guestNode: 1
              policy: Bind
              size: 1Gi
        """.formatted(vm, namespace, LABEL, vm);
        admin.resources(NumaGuestMemory.class)
                .inNamespace(namespace)
                .load(new ByteArrayInputStream(ngmYaml.getBytes(StandardCharsets.UTF_8)))
                .create();
        return pod.getMetadata().getUid();
    }

    private interface VmTask {
        void run(int i) throws Exception;
    }

    /** Runs the task for every VM index with {@link #PARALLEL} in flight; fails on the first failure. */
    private static void forEachVm(int count, VmTask task) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(PARALLEL);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int index = i;
                futures.add(pool.submit(() -> {
                    task.run(index);
                    return null;
                }));
            }
            for (Future<?> future : futures) future.get();
        } finally {
            pool.shutdownNow();
        }
    }

    private static String vm(int i) {
        return "vm-%04d".formatted(i);
    }

    private void createNamespace(String namespace) {
        admin.namespaces()
                .resource(new NamespaceBuilder()
                        .withNewMetadata()
                        .withName(namespace)
                        .endMetadata()
                        .build())
                .create();
    }

    /** No controller-manager empties a deleted namespace: the objects go one collection at a time. */
    private void deleteObjects(String namespace) throws InterruptedException {
        // A delete of 1,000 objects can outlast the client's request timeout on a loaded machine: repeat until gone.
        waitUntil("objects of " + namespace + " gone", Duration.ofSeconds(Math.max(300, COUNT / 10)), () -> {
            admin.resources(NumaGuestMemory.class).inNamespace(namespace).delete();
            admin.pods().inNamespace(namespace).withGracePeriod(0).delete();
            return admin.resources(NumaGuestMemory.class)
                            .inNamespace(namespace)
                            .list()
                            .getItems()
                            .isEmpty()
                    && admin.pods().inNamespace(namespace).list().getItems().isEmpty();
        });
        try {
            admin.events().v1().events().inNamespace(namespace).delete();
        } catch (RuntimeException e) {
            // events only cost etcd space
        }
    }

    private static final Set<String> WRITES = Set.of("POST", "PUT", "PATCH", "DELETE", "APPLY");
    private static final Set<String> READS = Set.of("GET", "LIST", "WATCH");

    /** Requests the API server has served, by verb, resource[/subresource] and non-2xx code. */
    private Map<String, Long> apiRequests() {
        Pattern line = Pattern.compile("^apiserver_request_total\\{([^}]*)}\\s+(\\S+)", Pattern.MULTILINE);
        Pattern label = Pattern.compile("(\\w+)=\"([^\"]*)\"");
        Map<String, Long> writes = new java.util.TreeMap<>();
        Matcher m = line.matcher(admin.raw("/metrics"));
        while (m.find()) {
            Map<String, String> labels = new java.util.HashMap<>();
            Matcher l = label.matcher(m.group(1));
            while (l.find()) labels.put(l.group(1), l.group(2));
            String verb = labels.getOrDefault("verb", "");
            if (!WRITES.contains(verb) && !READS.contains(verb)) continue;
            String code = labels.getOrDefault("code", "");
            String key = verb + " " + labels.getOrDefault("resource", "")
                    + (labels.getOrDefault("subresource", "").isEmpty() ? "" : "/" + labels.get("subresource"))
                    + (code.startsWith("2") ? "" : " (" + code + ")");
            writes.merge(key, (long) Double.parseDouble(m.group(2)), Long::sum);
        }
        return writes;
    }

    private static String requestsSince(Map<String, Long> before, Map<String, Long> after, Set<String> verbs) {
        long total = 0;
        StringBuilder text = new StringBuilder();
        for (var entry : after.entrySet()) {
            if (!verbs.contains(entry.getKey().substring(0, entry.getKey().indexOf(' ')))) continue;
            long n = entry.getValue() - before.getOrDefault(entry.getKey(), 0L);
            if (n <= 0) continue;
            total += n;
            text.append(", ").append(entry.getKey()).append(' ').append(n);
        }
        return total + " requests" + text;
    }

    // ---------------------------------------------------------------------------------------------
    // Measurements

    /** CPU seconds (user + system) of kube-apiserver, etcd (this JVM's children) and optionally one process. */
    private record Cpu(double apiServer, double etcd, double process) {
        static Cpu sample(long pid) {
            double apiServer = 0;
            double etcd = 0;
            for (ProcessHandle child : ProcessHandle.current().descendants().toList()) {
                String cmd = child.info().command().orElse("");
                if (cmd.endsWith("/kube-apiserver")) apiServer += cpuSeconds(child.pid());
                else if (cmd.endsWith("/etcd")) etcd += cpuSeconds(child.pid());
            }
            return new Cpu(apiServer, etcd, pid == 0 ? 0 : cpuSeconds(pid));
        }

        Cpu minus(Cpu other) {
            return new Cpu(apiServer - other.apiServer, etcd - other.etcd, process - other.process);
        }
    }

    private static double cpuSeconds(long pid) {
        return cpuSeconds(Path.of("/proc", Long.toString(pid), "stat"));
    }

    private static double cpuSeconds(Path statFile) {
        try {
            String stat = Files.readString(statFile);
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) / 100.0; // utime, stime in USER_HZ
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }

    /**
     * The operator's CPU seconds by kind of thread (JIT compilers, GC, JOSDK's reconcilers, the
     * HTTP client, informers, the rest), from /proc/PID/task: where its CPU goes without a profiler.
     */
    private static Map<String, Double> threadCpu(long pid) {
        Map<String, Double> byKind = new java.util.TreeMap<>();
        try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path task : tasks.toList()) {
                String name = Files.readString(task.resolve("comm")).strip();
                String kind = name.startsWith("C2 Compiler") || name.startsWith("C1 Compiler")
                        ? "JIT"
                        : name.startsWith("GC") || name.startsWith("G1")
                                ? "GC"
                                : name.startsWith("ReconcilerExec")
                                        ? "reconcile"
                                        : name.startsWith("HttpClient")
                                                ? "http"
                                                : name.startsWith("-")
                                                                || name.contains("Informer")
                                                                || name.startsWith("informer")
                                                        ? "informer"
                                                        : name.startsWith("ForkJoinPool") || name.startsWith("event-")
                                                                ? "virtual/fork-join"
                                                                : "other (" + name.replaceAll("[-_ ]?\\d+$", "") + ")";
                double seconds = cpuSeconds(task.resolve("stat"));
                if (!Double.isNaN(seconds)) byKind.merge(kind, seconds, Double::sum);
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("operator-scale: could not read the operator's threads: " + e);
        }
        return byKind;
    }

    private static String cpuSince(Map<String, Double> before, Map<String, Double> after) {
        StringBuilder text = new StringBuilder();
        after.entrySet().stream()
                .map(entry -> Map.entry(entry.getKey(), entry.getValue() - before.getOrDefault(entry.getKey(), 0.0)))
                .filter(entry -> entry.getValue() >= 0.5)
                .sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .forEach(entry -> text.append(String.format(
                        Locale.ROOT, "%s%s %.1f", text.isEmpty() ? "" : ", ", entry.getKey(), entry.getValue())));
        return text.toString();
    }

    /** JOSDK's reconcile counters from the operator's /metrics, and per NGM of the given number. */
    private static String reconcileCounts(int port, int ngms) {
        try {
            String body = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                                    .timeout(Duration.ofSeconds(10))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString())
                    .body();
            Matcher m = Pattern.compile(
                            "^operator_sdk_(reconciliations_(?:started|success|failed|retries)|events_received)_total\\{[^}]*}\\s+(\\S+)",
                            Pattern.MULTILINE)
                    .matcher(body);
            Map<String, Double> counts = new java.util.TreeMap<>();
            while (m.find()) counts.merge(m.group(1), Double.parseDouble(m.group(2)), Double::sum);
            StringBuilder text = new StringBuilder();
            counts.forEach((name, n) -> text.append(String.format(
                    Locale.ROOT, "%s%s %.0f (%.2f per NGM)", text.isEmpty() ? "" : ", ", name, n, n / ngms)));
            return text.toString();
        } catch (IOException | RuntimeException e) {
            return "(" + e + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        }
    }

    private static double procStatusMiB(long pid, String field) throws IOException {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")).stream()
                .filter(line -> line.startsWith(field + ":"))
                .mapToDouble(line -> Long.parseLong(line.replaceAll("\\D", "")) / 1024.0)
                .findFirst()
                .orElse(Double.NaN);
    }

    /**
     * The largest heap occupancy right before (group 1: garbage included, the heap's peak) or right
     * after (group 2: what lives) a young or full collection, from -Xlog:gc lines such as "Pause
     * Young (Normal) (G1 Evacuation Pause) 95M->41M(256M) 3.1ms" (G1's Remark and Cleanup lines do
     * not count). Read from the log, not by scraping /metrics, whose every scrape costs the process
     * measured CPU (run K: 32 s of the operator's 137 s went to 1,111 scrapes at 10,000 NGMs).
     */
    private static double gcPeakMiB(Path gcLog, int group) throws IOException {
        Pattern pause = Pattern.compile("Pause (?:Young|Full).* (\\d+)M->(\\d+)M\\((\\d+)M\\)");
        return Files.readAllLines(gcLog).stream()
                .map(pause::matcher)
                .filter(Matcher::find)
                .mapToDouble(m -> Double.parseDouble(m.group(group)))
                .max()
                .orElse(Double.NaN);
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).strip();
        } catch (IOException e) {
            return "?";
        }
    }

    private void printTable(Result baseline, Result operator) {
        double ratio = operator.seconds / baseline.seconds;
        boolean timeOk = ratio <= 1.5;
        boolean heapOk = operator.operatorAlive && !Double.isNaN(operator.seconds) && operator.heapPeakMiB <= 256;
        System.out.println();
        System.out.printf(
                "%-12s %-12s %-8s %-15s %-18s %-9s %-7s %-7s%n",
                "baseline s", "operator s", "ratio", "heap peak MiB", "heap after GC MiB", "RSS MiB", "time", "heap");
        System.out.printf(
                Locale.ROOT,
                "%-12.2f %-12.2f %-8.2f %-15.1f %-18.1f %-9.1f %-7s %-7s%n",
                baseline.seconds,
                operator.seconds,
                ratio,
                operator.heapPeakMiB,
                operator.heapAfterGcPeakMiB,
                operator.rssPeakMiB,
                timeOk ? "PASS" : "FAIL",
                heapOk ? "PASS" : "FAIL");
        System.out.printf(
                Locale.ROOT,
                "targets: operator s <= 1.5 x baseline s; operator heap <= 256 MiB (run with -Xmx%s). "
                        + "CPU s during the run: baseline apiserver %.1f etcd %.1f; operator run apiserver %.1f etcd %.1f operator %.1f. "
                        + "Load average at the end: %s%n",
                OPERATOR_XMX,
                baseline.apiServerCpu,
                baseline.etcdCpu,
                operator.apiServerCpu,
                operator.etcdCpu,
                operator.operatorCpu,
                loadAverage());
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers

    private String json(Object value) {
        return admin.getKubernetesSerialization().asJson(value);
    }

    private static double secondsSince(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    private interface Check {
        boolean ok() throws Exception;
    }

    private static void waitUntil(String what, Duration timeout, Check check) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                if (check.ok()) return;
            } catch (IllegalStateException e) {
                throw e;
            } catch (Exception e) {
                // not yet
            }
            if (System.nanoTime() > deadline) throw new IllegalStateException("timed out waiting for " + what);
            Thread.sleep(200);
        }
    }

    private static String run(String... command) {
        try {
            Process process =
                    new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            process.waitFor(30, TimeUnit.SECONDS);
            return out;
        } catch (IOException e) {
            return "(" + String.join(" ", command) + ": " + e + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        }
    }

    private static int freePort() throws IOException {
        try (var socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
