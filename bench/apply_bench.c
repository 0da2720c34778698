/*
 * apply_bench: round-trip latency and throughput of putting a NUMA policy on a
 * guest-memory memfd, through the node agent or directly in this process.
 *
 *   inproc         mmap(MAP_SHARED) + mbind(MPOL_BIND, node 0) + munmap: the
 *                  kernel work an apply cannot avoid, the physical floor.
 *   inproc-verify  the same, then the agent's read-back: a fresh mapping,
 *                  get_mempolicy(MPOL_F_ADDR) at its first and last page,
 *                  munmap. The floor to hold the agent's "verified": true
 *                  answers against.
 *   agent          one apply request per round trip to the agent socket, the
 *                  memfd attached, checking "ok" and "verified" in each answer.
 *
 * Each client is a thread with its own connection (agent mode) and its own
 * memfd: a client stands for one VMM with its own guest RAM, so clients do not
 * contend on one file's shared-policy tree as VMs on a node do not. A memfd is
 * only ftruncate()d, never touched, so 64 of 1 GiB cost no memory.
 *
 * Every client runs a fixed number of warm-up operations, waits for the
 * others, then times a fixed number of operations one by one. Prints one
 * tab-separated line: mode, clients, requests, p50 us, p99 us, max us, ops/s,
 * and the CPU time per operation of whoever did the work (this process, or the
 * agent given its pid; "-" without one).
 */
#define _GNU_SOURCE /* memfd_create, syscall */

#include "numaguest_client.h"

#include <errno.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Nodemask as the agent passes it: 16 words (1024 nodes, the kernel's largest
 * MAX_NUMNODES); the kernel reads maxnode - 1 bits, hence 1025. */
#define MASK_WORDS 16
#define MAX_NODE_BITS (MASK_WORDS * 64 + 1)
#define BENCH_NODE 0 /* the only node of a one-node machine; the policy file binds to it */
#define PAGE_BYTES 4096 /* memfd pages are base pages */

#define MAX_CLIENTS 256
#define CONNECT_ATTEMPTS 20 /* for an agent still closing an earlier run's connections */

enum mode { MODE_INPROC, MODE_INPROC_VERIFY, MODE_AGENT };

struct bench {
    enum mode mode;
    const char *mode_name;
    const char *socket_path;
    long agent_pid; /* 0: unknown, no CPU figure in agent mode */
    size_t clients;
    size_t requests_per_client;
    size_t warmup_per_client;
    unsigned long long memfd_size;
    pthread_barrier_t start;
};

struct client {
    struct bench *bench;
    pthread_t thread;
    unsigned index;
    int memfd;
    int sock;
    uint64_t *latency_ns; /* requests_per_client entries */
    int failed;
    char response[NG_RESPONSE_CAP];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Maps the whole memfd. PROT_NONE: mbind and get_mempolicy need a VMA, not
 * access, and no page is ever touched. */
static void *map_memfd(const struct client *c)
{
    void *addr = mmap(NULL, c->bench->memfd_size, PROT_NONE, MAP_SHARED, c->memfd, 0);
    if (addr == MAP_FAILED) {
        fprintf(stderr, "apply_bench: client %u: mmap: %s\n", c->index, strerror(errno));
        return NULL;
    }
    return addr;
}

static int unmap_memfd(const struct client *c, void *addr)
{
    if (munmap(addr, c->bench->memfd_size) < 0) {
        fprintf(stderr, "apply_bench: client %u: munmap: %s\n", c->index, strerror(errno));
        return -1;
    }
    return 0;
}

/* Sets MPOL_BIND to BENCH_NODE as a shared policy on the memfd's inode.
 * glibc has no mbind wrapper (libnuma does), hence syscall(). */
static int apply_inproc(const struct client *c)
{
    void *addr = map_memfd(c);
    if (addr == NULL)
        return -1;
    unsigned long mask[MASK_WORDS] = { 1ul << BENCH_NODE };
    int status = 0;
    if (syscall(SYS_mbind, addr, c->bench->memfd_size, MPOL_BIND, mask, MAX_NODE_BITS, 0) < 0) {
        fprintf(stderr, "apply_bench: client %u: mbind: %s\n", c->index, strerror(errno));
        status = -1;
    }
    if (unmap_memfd(c, addr) < 0)
        status = -1;
    return status;
}

/* Reads the policy back through a fresh mapping, which sees only what is
 * stored on the inode, at the first and the last page, as the agent does
 * before it answers "verified". */
static int verify_inproc(const struct client *c)
{
    char *addr = map_memfd(c);
    if (addr == NULL)
        return -1;
    char *pages[] = { addr, addr + c->bench->memfd_size - PAGE_BYTES };
    int status = 0;
    for (size_t i = 0; i < sizeof pages / sizeof pages[0] && status == 0; i++) {
        int policy_mode = -1;
        unsigned long mask[MASK_WORDS] = { 0 };
        if (syscall(SYS_get_mempolicy, &policy_mode, mask, MAX_NODE_BITS, pages[i], MPOL_F_ADDR) < 0) {
            fprintf(stderr, "apply_bench: client %u: get_mempolicy: %s\n", c->index, strerror(errno));
            status = -1;
        } else if (policy_mode != MPOL_BIND || mask[0] != 1ul << BENCH_NODE) {
            fprintf(stderr, "apply_bench: client %u: read back mode %d mask %#lx, expected Bind to node %d\n",
                    c->index, policy_mode, mask[0], BENCH_NODE);
            status = -1;
        }
    }
    if (unmap_memfd(c, addr) < 0)
        status = -1;
    return status;
}

static int apply_via_agent(struct client *c, size_t seq)
{
    char id[32];
    char request[256];
    char *response = c->response;

    snprintf(id, sizeof id, "\"%u-%zu\"", c->index, seq);
    snprintf(request, sizeof request,
             "{\"version\":1,\"id\":%s,\"op\":\"apply\","
             "\"vm\":{\"namespace\":\"default\",\"name\":\"bench\"},"
             "\"regions\":[{\"fd\":0,\"guestNode\":0}]}", id);
    ssize_t len = ng_request(c->sock, request, &c->memfd, 1, response, sizeof c->response);
    if (len < 0) {
        fprintf(stderr, "apply_bench: client %u: request %s: %s\n", c->index, id, strerror((int)-len));
        return -1;
    }
    if (!ng_response_has(response, "id", id) || !ng_response_has(response, "ok", "true")
        || !ng_response_has(response, "verified", "true")) {
        fprintf(stderr, "apply_bench: client %u: request %s: unexpected response: %s\n",
                c->index, id, response);
        return -1;
    }
    return 0;
}

static int run_once(struct client *c, size_t seq)
{
    switch (c->bench->mode) {
    case MODE_INPROC:
        return apply_inproc(c);
    case MODE_INPROC_VERIFY:
        return apply_inproc(c) < 0 ? -1 : verify_inproc(c);
    case MODE_AGENT:
        return apply_via_agent(c, seq);
    }
    return -1;
}

/* Connects and says hello. An agent at its connection limit answers BUSY and
 * closes; it may still be reaping the previous run's 64 connections, so retry
 * with a growing pause, a bounded number of times. */
static int connect_agent(struct client *c)
{
    char *response = c->response;
    for (int attempt = 1; attempt <= CONNECT_ATTEMPTS; attempt++) {
        int sock = ng_connect(c->bench->socket_path);
        if (sock < 0) {
            fprintf(stderr, "apply_bench: client %u: connect %s: %s\n", c->index,
                    c->bench->socket_path, strerror(-sock));
            return -1;
        }
        ssize_t len = ng_request(sock, "{\"version\":1,\"id\":\"hello\",\"op\":\"hello\"}",
                                 NULL, 0, response, sizeof c->response);
        if (len > 0 && ng_response_has(response, "ok", "true")) {
            c->sock = sock;
            return 0;
        }
        ng_close(sock);
        int busy = len > 0 && ng_response_has(response, "code", "\"BUSY\"");
        if (!busy && len != -EPIPE && len != -ECONNRESET) {
            fprintf(stderr, "apply_bench: client %u: hello: %s\n", c->index,
                    len < 0 ? strerror((int)-len) : response);
            return -1;
        }
        struct timespec pause = { 0, attempt * 10 * 1000000L };
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "apply_bench: client %u: agent still busy after %d attempts\n",
            c->index, CONNECT_ATTEMPTS);
    return -1;
}

static int setup_client(struct client *c)
{
    c->memfd = memfd_create("apply-bench", MFD_CLOEXEC);
    if (c->memfd < 0) {
        fprintf(stderr, "apply_bench: client %u: memfd_create: %s\n", c->index, strerror(errno));
        return -1;
    }
    if (ftruncate(c->memfd, (off_t)c->bench->memfd_size) < 0) {
        fprintf(stderr, "apply_bench: client %u: ftruncate: %s\n", c->index, strerror(errno));
        return -1;
    }
    if (c->bench->mode == MODE_AGENT && connect_agent(c) < 0)
        return -1;
    for (size_t i = 0; i < c->bench->warmup_per_client; i++)
        if (run_once(c, i) < 0)
            return -1;
    return 0;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    const struct bench *b = c->bench;
    c->failed = setup_client(c) < 0;
    /* Every client waits here, failed or not, so the barrier cannot hang. */
    pthread_barrier_wait(&c->bench->start);
    for (size_t i = 0; i < b->requests_per_client && !c->failed; i++) {
        uint64_t begin = now_ns();
        c->failed = run_once(c, b->warmup_per_client + i) < 0;
        c->latency_ns[i] = now_ns() - begin;
    }
    return NULL;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n > 0 sorted values: the smallest value that at
 * least per_cent % of the values do not exceed. */
static double percentile_us(const uint64_t *sorted, size_t n, size_t per_cent)
{
    size_t rank = (per_cent * n + 99) / 100;
    return (double)sorted[rank - 1] / 1000.0;
}

/* CPU time (user + system) of the process doing the applies so far, in
 * microseconds: this one in inproc modes, the agent's from /proc/PID/stat
 * (fields 14 and 15, in clock ticks) in agent mode. */
static int applier_cpu_us(const struct bench *b, double *us)
{
    if (b->mode != MODE_AGENT) {
        struct rusage usage;
        if (getrusage(RUSAGE_SELF, &usage) < 0) {
            fprintf(stderr, "apply_bench: getrusage: %s\n", strerror(errno));
            return -1;
        }
        *us = (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6
            + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
        return 0;
    }
    char path[64];
    char stat[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", b->agent_pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        fprintf(stderr, "apply_bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = fread(stat, 1, sizeof stat - 1, file);
    fclose(file);
    stat[len] = '\0';
    /* The command name, field 2, may hold spaces and ')': count from the last ')'. */
    const char *after_name = strrchr(stat, ')');
    unsigned long long user_ticks, system_ticks;
    if (after_name == NULL
        || sscanf(after_name + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                  &user_ticks, &system_ticks) != 2) {
        fprintf(stderr, "apply_bench: %s: unexpected format\n", path);
        return -1;
    }
    *us = (double)(user_ticks + system_ticks) * 1e6 / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: apply_bench inproc|inproc-verify|agent [-s SOCKET] [-p PID] [-c CLIENTS]\n"
            "                   [-n REQUESTS] [-w WARMUP] [-m MIB]\n"
            "  -s SOCKET    agent socket (agent mode; default " NG_DEFAULT_SOCKET ")\n"
            "  -p PID       the agent's pid, to report its CPU time per request (agent mode)\n"
            "  -c CLIENTS   concurrent clients, 1 to %d (default 1)\n"
            "  -n REQUESTS  timed requests in total, split evenly (default 10000)\n"
            "  -w WARMUP    untimed requests per client first (default 1000)\n"
            "  -m MIB       memfd size per client in MiB (default 1024)\n",
            MAX_CLIENTS);
}

static int parse_count(const char *text, size_t min, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value < min || value > max)
        return -1;
    *out = (size_t)value;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b = {
        .socket_path = NG_DEFAULT_SOCKET,
        .clients = 1,
        .warmup_per_client = 1000,
        .memfd_size = 1ull << 30,
    };
    size_t requests = 10000, memfd_mib;
    int opt;
    size_t agent_pid = 0;
    while ((opt = getopt(argc, argv, "hs:p:c:n:w:m:")) != -1) {
        switch (opt) {
        case 's':
            b.socket_path = optarg;
            break;
        case 'p':
            if (parse_count(optarg, 1, INT32_MAX, &agent_pid) < 0)
                goto bad_usage;
            b.agent_pid = (long)agent_pid;
            break;
        case 'c':
            if (parse_count(optarg, 1, MAX_CLIENTS, &b.clients) < 0)
                goto bad_usage;
            break;
        case 'n':
            if (parse_count(optarg, 1, 100000000, &requests) < 0)
                goto bad_usage;
            break;
        case 'w':
            if (parse_count(optarg, 0, 100000000, &b.warmup_per_client) < 0)
                goto bad_usage;
            break;
        case 'm':
            if (parse_count(optarg, 1, 1u << 20, &memfd_mib) < 0)
                goto bad_usage;
            b.memfd_size = (unsigned long long)memfd_mib << 20;
            break;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            goto bad_usage;
        }
    }
    if (optind != argc - 1)
        goto bad_usage;
    b.mode_name = argv[optind];
    if (strcmp(b.mode_name, "inproc") == 0)
        b.mode = MODE_INPROC;
    else if (strcmp(b.mode_name, "inproc-verify") == 0)
        b.mode = MODE_INPROC_VERIFY;
    else if (strcmp(b.mode_name, "agent") == 0)
        b.mode = MODE_AGENT;
    else
        goto bad_usage;
    if (b.agent_pid != 0 && b.mode != MODE_AGENT)
        goto bad_usage;
    if (requests < b.clients) {
        fprintf(stderr, "apply_bench: -n %zu is fewer than one request per client\n", requests);
        return EXIT_FAILURE;
    }
    b.requests_per_client = requests / b.clients;
    size_t total = b.requests_per_client * b.clients;

    struct client *clients = calloc(b.clients, sizeof *clients);
    uint64_t *latency_ns = calloc(total, sizeof *latency_ns);
    if (clients == NULL || latency_ns == NULL) {
        fprintf(stderr, "apply_bench: out of memory for %zu latencies\n", total);
        return EXIT_FAILURE;
    }
    /* Main joins the barrier too, so the clock starts when the last client
     * has finished warming up. */
    int err = pthread_barrier_init(&b.start, NULL, (unsigned)b.clients + 1);
    if (err != 0) {
        fprintf(stderr, "apply_bench: pthread_barrier_init: %s\n", strerror(err));
        return EXIT_FAILURE;
    }
    for (size_t i = 0; i < b.clients; i++) {
        struct client *c = &clients[i];
        c->bench = &b;
        c->index = (unsigned)i;
        c->memfd = -1;
        c->sock = -1;
        c->latency_ns = latency_ns + i * b.requests_per_client;
        if ((err = pthread_create(&c->thread, NULL, client_main, c)) != 0) {
            fprintf(stderr, "apply_bench: pthread_create: %s\n", strerror(err));
            /* The barrier would never fill: nothing to do but leave. */
            return EXIT_FAILURE;
        }
    }
    pthread_barrier_wait(&b.start);
    uint64_t begin = now_ns();
    int has_cpu = b.mode != MODE_AGENT || b.agent_pid != 0;
    double cpu_begin_us = 0, cpu_end_us = 0;
    int failed = has_cpu && applier_cpu_us(&b, &cpu_begin_us) < 0;
    for (size_t i = 0; i < b.clients; i++) {
        pthread_join(clients[i].thread, NULL);
        failed |= clients[i].failed;
        if (clients[i].sock >= 0)
            ng_close(clients[i].sock);
        if (clients[i].memfd >= 0)
            close(clients[i].memfd);
    }
    double seconds = (double)(now_ns() - begin) / 1e9;
    failed |= has_cpu && applier_cpu_us(&b, &cpu_end_us) < 0;
    pthread_barrier_destroy(&b.start);

    if (!failed) {
        qsort(latency_ns, total, sizeof *latency_ns, compare_u64);
        char cpu_per_op[32] = "-";
        if (has_cpu)
            snprintf(cpu_per_op, sizeof cpu_per_op, "%.1f", (cpu_end_us - cpu_begin_us) / (double)total);
        printf("%s\t%zu\t%zu\t%.1f\t%.1f\t%.1f\t%.0f\t%s\n", b.mode_name, b.clients, total,
               percentile_us(latency_ns, total, 50), percentile_us(latency_ns, total, 99),
               (double)latency_ns[total - 1] / 1000.0, (double)total / seconds, cpu_per_op);
    }
    free(latency_ns);
    free(clients);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;

bad_usage:
    usage(stderr);
    return EXIT_FAILURE;
}
