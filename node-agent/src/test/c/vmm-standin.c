/*
 * A VMM stand-in for the tests that run in the two-node guest (test-env/numa-guest): it creates
 * guest memory the way a VMM does (a memfd, a hugetlb memfd, or a KVM guest_memfd of a real VM),
 * hands it to the agent over the socket with the project's C client, touches it, and reports what
 * the kernel says, independently of the agent: the policy a fresh mapping of its own reads back
 * (get_mempolicy) and the node of every page it touched (move_pages), and per-node counters.
 *
 * Usage: vmm-standin -s SOCKET STEP...   steps run in order:
 *   cpu N              pin this process to CPU N (so "local" allocation means node N)
 *   cgroup DIR         move this process into the cgroup v2 directory DIR
 *   memfd SIZE         create a memfd of SIZE bytes (suffix K, M, G)
 *   hugetlb SIZE       create a memfd with MFD_HUGETLB (2 MiB pages)
 *   gmem SIZE FLAGS    create a VM (KVM_CREATE_VM) and a guest_memfd with FLAGS (mmap, shared, 0; "mmap,shared")
 *   apply VM | query VM  send an apply (or query) of the whole memory as guest node 0 of VM
 *   touch              map the memory MAP_SHARED (mapping kept) and write one byte to every page
 *   fallocate          allocate every page through the file (the path a guest fault takes)
 *   census             the node of every page of the kept mapping (move_pages)
 *   policy             a fresh mapping's get_mempolicy at the first and the last page
 *   nodes              every node's meminfo Unevictable and free 2 MiB huge pages
 * Prints one JSON object: {"steps":[...]} with one entry per step; a failed step ends the run
 * with {"step":..., "error":..., "errno":...} as its last entry and exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "numaguest_client.h"

/* Linux 6.8+ KVM and mempolicy ABI (x86_64); the build machine's headers may predate it. */
#define KVMIO 0xAE
#define KVM_CREATE_VM _IO(KVMIO, 0x01)
#define KVM_CHECK_EXTENSION _IO(KVMIO, 0x03)
#define KVM_CAP_GUEST_MEMFD_FLAGS 244
struct kvm_create_guest_memfd_abi {
    uint64_t size;
    uint64_t flags;
    uint64_t reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd_abi)
#define GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#define GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)
#define MPOL_F_ADDR 2
#define MAX_NODES 64
#define HUGE_PAGE (2UL << 20)

static const char *socket_path = NG_DEFAULT_SOCKET;
static int memory = -1;
static int vm = -1;
static size_t size;
static size_t page = 4096;
static char *mapping;
static int first_step = 1;

static void begin(const char *step) {
    printf("%s{\"step\":\"%s\"", first_step ? "{\"steps\":[" : ",", step);
    first_step = 0;
}

static void end(void) { printf("}"); }

static void fail(const char *what, int err) {
    printf(",\"error\":\"%s\"", what);
    if (err) {
        printf(",\"errno\":%d,\"strerror\":\"%s\"", err, strerror(err));
    }
    printf("}]}\n");
    exit(1);
}

static size_t parse_size(const char *text) {
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    switch (*end) {
    case 'G': value <<= 10; /* fall through */
    case 'M': value <<= 10; /* fall through */
    case 'K': value <<= 10; break;
    case '\0': break;
    default: fprintf(stderr, "vmm-standin: bad size %s\n", text); exit(2);
    }
    return (size_t)value;
}

static void request(const char *op, const char *vm_name) {
    char json[512];
    static char response[NG_RESPONSE_CAP];
    static int id;
    const char *slash = strchr(vm_name, '/');
    char namespace[128] = "default";
    const char *name = vm_name;
    if (slash) {
        snprintf(namespace, sizeof namespace, "%.*s", (int)(slash - vm_name), vm_name);
        name = slash + 1;
    }
    snprintf(json, sizeof json, "{\"version\":1,\"id\":\"%d\",\"op\":\"%s\",\"vm\":{\"namespace\":\"%s\",\"name\":\"%s\"},"
             "\"regions\":[{\"fd\":0,\"guestNode\":0}]}", ++id, op, namespace, name);
    int sock = ng_connect(socket_path);
    if (sock < 0) {
        fail("connect", -sock);
    }
    ssize_t n = ng_request(sock, json, &memory, 1, response, sizeof response);
    ng_close(sock);
    if (n < 0) {
        fail("request", (int)-n);
    }
    printf(",\"response\":%s", response);
}

static void create_gmem(const char *flag_words) {
    uint64_t flags = 0;
    if (strstr(flag_words, "mmap")) flags |= GUEST_MEMFD_FLAG_MMAP;
    if (strstr(flag_words, "shared")) flags |= GUEST_MEMFD_FLAG_INIT_SHARED;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) fail("open /dev/kvm", errno);
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) fail("KVM_CREATE_VM", errno);
    close(kvm);
    int offered = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);
    printf(",\"offeredFlags\":%d,\"flags\":%llu", offered, (unsigned long long)flags);
    struct kvm_create_guest_memfd_abi args = {.size = size, .flags = flags};
    memory = ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
    if (memory < 0) fail("KVM_CREATE_GUEST_MEMFD", errno);
}

static void touch(void) {
    if (!mapping) {
        mapping = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memory, 0);
        if (mapping == MAP_FAILED) fail("mmap", errno);
    }
    for (size_t offset = 0; offset < size; offset += page) {
        mapping[offset] = 1;
    }
}

static void census(void) {
    if (!mapping) {
        mapping = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memory, 0);
        if (mapping == MAP_FAILED) fail("mmap", errno);
        /* Fault in the pages (all allocated: census follows touch or fallocate) to see their nodes. */
        if (madvise(mapping, size, 22 /* MADV_POPULATE_READ */) != 0) fail("madvise(MADV_POPULATE_READ)", errno);
    }
    size_t count = size / page;
    void **pages = calloc(count, sizeof *pages);
    int *status = calloc(count, sizeof *status);
    for (size_t i = 0; i < count; i++) pages[i] = mapping + i * page;
    if (syscall(SYS_move_pages, 0, count, pages, NULL, status, 0) != 0) fail("move_pages", errno);
    long by_node[MAX_NODES] = {0};
    long absent = 0;
    for (size_t i = 0; i < count; i++) {
        if (status[i] >= 0 && status[i] < MAX_NODES) by_node[status[i]]++;
        else absent++;
    }
    printf(",\"pages\":%zu,\"absent\":%ld,\"pagesByNode\":{", count, absent);
    int first = 1;
    for (int node = 0; node < MAX_NODES; node++) {
        if (by_node[node]) {
            printf("%s\"%d\":%ld", first ? "" : ",", node, by_node[node]);
            first = 0;
        }
    }
    printf("}");
    free(pages);
    free(status);
}

static void print_policy_at(char *address, const char *key) {
    int mode = -1;
    unsigned long mask[MAX_NODES / 64] = {0};
    if (syscall(SYS_get_mempolicy, &mode, mask, MAX_NODES + 1, address, MPOL_F_ADDR) != 0) fail("get_mempolicy", errno);
    printf(",\"%s\":{\"mode\":%d,\"nodes\":[", key, mode & 0xff);
    int first = 1;
    for (int node = 0; node < MAX_NODES; node++) {
        if (mask[node / 64] & (1UL << (node % 64))) {
            printf("%s%d", first ? "" : ",", node);
            first = 0;
        }
    }
    printf("],\"modeFlags\":%d}", mode & ~0xff);
}

static void policy(void) {
    char *fresh = mmap(NULL, size, PROT_NONE, MAP_SHARED, memory, 0);
    if (fresh == MAP_FAILED) fail("mmap", errno);
    print_policy_at(fresh, "first");
    print_policy_at(fresh + size - page, "last");
    munmap(fresh, size);
}

static long meminfo_value(int node, const char *key) {
    char path[128], line[256];
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
    FILE *file = fopen(path, "r");
    if (!file) return -1;
    long value = -1;
    while (fgets(line, sizeof line, file)) {
        char *found = strstr(line, key);
        if (found && found[strlen(key)] == ':') {
            value = strtol(found + strlen(key) + 1, NULL, 10);
        }
    }
    fclose(file);
    return value;
}

static long free_huge_pages(int node) {
    char path[160];
    snprintf(path, sizeof path, "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages", node);
    FILE *file = fopen(path, "r");
    long value = -1;
    if (file) {
        if (fscanf(file, "%ld", &value) != 1) value = -1;
        fclose(file);
    }
    return value;
}

static void nodes(void) {
    printf(",\"nodes\":{");
    for (int node = 0; node < MAX_NODES; node++) {
        long unevictable = meminfo_value(node, "Unevictable");
        if (unevictable < 0) break;
        printf("%s\"%d\":{\"unevictableKiB\":%ld,\"freeHugePages\":%ld}", node ? "," : "", node, unevictable,
               free_huge_pages(node));
    }
    printf("}");
}

int main(int argc, char **argv) {
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-s") == 0) {
        socket_path = argv[2];
        i = 3;
    }
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    for (; i < argc; i++) {
        const char *step = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
        begin(step);
        if (strcmp(step, "cpu") == 0 && arg) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(atoi(arg), &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0) fail("sched_setaffinity", errno);
            i++;
        } else if (strcmp(step, "cgroup") == 0 && arg) {
            char path[512];
            snprintf(path, sizeof path, "%s/cgroup.procs", arg);
            FILE *procs = fopen(path, "w");
            if (!procs || fprintf(procs, "%d\n", getpid()) < 0 || fclose(procs) != 0) fail("joining the cgroup", errno);
            i++;
        } else if (strcmp(step, "memfd") == 0 && arg) {
            size = parse_size(arg);
            memory = memfd_create("guest-ram", MFD_CLOEXEC);
            if (memory < 0 || ftruncate(memory, (off_t)size) != 0) fail("memfd", errno);
            i++;
        } else if (strcmp(step, "hugetlb") == 0 && arg) {
            size = parse_size(arg);
            page = HUGE_PAGE;
            memory = memfd_create("guest-ram", MFD_CLOEXEC | MFD_HUGETLB | (21 << 26));
            if (memory < 0 || ftruncate(memory, (off_t)size) != 0) fail("memfd(MFD_HUGETLB)", errno);
            i++;
        } else if (strcmp(step, "gmem") == 0 && arg && i + 2 < argc) {
            size = parse_size(arg);
            create_gmem(argv[i + 2]);
            i += 2;
        } else if ((strcmp(step, "apply") == 0 || strcmp(step, "query") == 0) && arg) {
            request(step, arg);
            i++;
        } else if (strcmp(step, "touch") == 0) {
            touch();
        } else if (strcmp(step, "fallocate") == 0) {
            /* guest_memfd allocates only with FALLOC_FL_KEEP_SIZE, which memfd accepts too. */
            if (fallocate(memory, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) != 0) fail("fallocate", errno);
        } else if (strcmp(step, "census") == 0) {
            census();
        } else if (strcmp(step, "policy") == 0) {
            policy();
        } else if (strcmp(step, "nodes") == 0) {
            nodes();
        } else {
            fprintf(stderr, "vmm-standin: unknown step or missing argument: %s\n", step);
            return 2;
        }
        end();
    }
    printf("%s]}\n", first_step ? "{\"steps\":[" : "");
    return 0;
}
