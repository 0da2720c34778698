/*
 * libnumaguest-preload.so: loaded into an unmodified QEMU with LD_PRELOAD, it
 * hands each guest-RAM descriptor to the numaguest agent (docs/protocol.md)
 * when QEMU creates it, before any page is allocated. See
 * docs/vmm-integration.md for use and design.
 *
 * Interposed: memfd_create (recognise a memory-backend-memfd), ftruncate (the
 * handover: the file has its size, nothing is mapped yet), mmap (handover of a
 * memory-backend-file QEMU did not resize; pairing point for guest_memfd),
 * ioctl(KVM_CREATE_GUEST_MEMFD) (add GUEST_MEMFD_FLAG_MMAP, hand over the
 * guest_memfd before the ioctl returns) and mbind (QEMU's own mbind on a
 * placed backend's mapping must not replace the agent's policy). A call that
 * cannot concern guest RAM (inactive library, another ioctl, an anonymous or
 * private mmap, a failed ftruncate) goes straight to libc after a test of
 * plain variables: no lock, no allocation, async-signal-safe. Every other
 * ftruncate and shared mmap takes the library's mutex to look its descriptor
 * up (for a file backend not yet placed: readlink of /proc/self/fd/N, stat and
 * realpath of its mem-path).
 */
#define _GNU_SOURCE

#include "numaguest_client.h"
#include "qemu_cmdline.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Only the interposed calls leave the library: its helpers cannot clash with QEMU's. */
#define INTERPOSED __attribute__((visibility("default")))
#define PREFIX "numaguest-preload: "
#define MAX_TRACKED 128
#define MAX_MAPPINGS 128

/* KVM ABI (linux/kvm.h of 6.18+; Debian 12's headers predate guest_memfd). */
#define KVMIO 0xAE
#define KVM_CHECK_EXTENSION _IO(KVMIO, 0x03)
struct kvm_create_guest_memfd {
    uint64_t size;
    uint64_t flags;
    uint64_t reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#define KVM_CAP_GUEST_MEMFD_FLAGS 244
#define GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#define MPOL_DEFAULT 0

/* The name QEMU gives every memory-backend-memfd's memfd (its probes use others). */
#define BACKEND_MEMFD_NAME "memory-backend-memfd"

static int (*real_memfd_create)(const char *, unsigned int);
static int (*real_ftruncate)(int, off_t);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_ioctl)(int, unsigned long, ...);
static long (*real_mbind)(void *, unsigned long, int, const unsigned long *, unsigned long, unsigned);

/* libc's functions, resolved by the constructor. Until then (another
 * library's constructor running first) the system call itself stands in:
 * no dlsym, which could allocate and so re-enter mmap. */
#define NEXT(fn, nr, ...) \
    (real_##fn != NULL ? (long)real_##fn(__VA_ARGS__) : syscall(nr, __VA_ARGS__))

/* Set once by the constructor, cleared in forked children: the only state the
 * fast paths read. */
static volatile int active;

static struct qc_vm vm;
static struct ng_vm_id vm_id;
static int strict = 1;
static int debug;
static const char *socket_path = NG_DEFAULT_SOCKET;
/* How long the library waits for the agent's socket to appear or accept
 * (NUMAGUEST_CONNECT_WAIT, whole seconds): in KubeVirt the agent opens a pod's
 * socket once it sees the pod's shared directory, which may be just after QEMU
 * starts. One budget for the whole start, from the first attempt on. */
#define DEFAULT_CONNECT_WAIT_S 10
#define MAX_CONNECT_WAIT_S 600
static long connect_wait_ms = DEFAULT_CONNECT_WAIT_S * 1000L;
static double connect_deadline_ms;

/* A descriptor of a backend QEMU is creating, and whether it went to the agent. */
struct tracked {
    int fd;
    int backend;   /* index into vm.backends, -1: a backend not on the command line */
    int handed;    /* the agent placed it */
    int given_up;  /* BestEffort: the handover failed and was reported once */
    int refused;   /* Strict: -errno of the failed handover, which later calls on it return
                    * without a second line (QEMU maps a file backend whose ftruncate failed) */
};

/* A mapping of a placed backend, where QEMU's own mbind must not land. */
struct mapping {
    uintptr_t start, end;
    int backend;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked tracked[MAX_TRACKED];
static size_t ntracked;
static struct mapping mappings[MAX_MAPPINGS];
static size_t nmappings;
static size_t memfds_seen;      /* memory-backend-memfd memfds created so far */
static int last_mapped = -1;    /* backend mapped last, not yet given a guest_memfd */
static unsigned request_id;

__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
    /* One line, one write: QEMU's threads and libvirt's log reader see it whole. */
    char line[2048];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, args);
    va_end(args);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
    (void)ignored;
}

#define DEBUG(...) do { if (debug) say(PREFIX "debug: " __VA_ARGS__); } while (0)

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* ng_connect, retried while the socket is missing (ENOENT) or nobody listens
 * on it yet (ECONNREFUSED), until the start's connect budget is spent. */
static int connect_waiting(void)
{
    long backoff_ms = 50;
    if (connect_deadline_ms == 0)
        connect_deadline_ms = now_ms() + (double)connect_wait_ms;
    for (;;) {
        int sock = ng_connect(socket_path);
        double left = connect_deadline_ms - now_ms();
        if (sock >= 0 || (sock != -ENOENT && sock != -ECONNREFUSED) || left <= 0)
            return sock;
        DEBUG("agent socket %s: %s; waiting (NUMAGUEST_CONNECT_WAIT, %.0f ms left)", socket_path,
              strerror(-sock), left);
        sleep_ms(backoff_ms < left ? backoff_ms : (long)left + 1);
        backoff_ms = backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2;
    }
}

/* What a user can do about an agent's error code. */
static const char *advice(const char *code)
{
    if (strcmp(code, "NO_POLICY") == 0)
        return "give this VM and guest node a policy (a NumaGuestMemory, or the agent's policy file)";
    if (strcmp(code, "FORBIDDEN") == 0)
        return "run QEMU as a user the agent allows, or in the pod its NumaGuestMemory targets";
    if (strcmp(code, "BUSY") == 0)
        return "the agent stayed busy for a minute; check its log and the NumaGuestMemory's status";
    if (strcmp(code, "UNSUPPORTED_MEMORY") == 0)
        return "use memory the kernel can place (memfd; guest_memfd needs Linux 6.19+)";
    return "see the agent's log and docs/protocol.md";
}

static const char *enforcement_text(void)
{
    return strict ? "QEMU stops (NUMAGUEST_ENFORCEMENT=Strict)"
                  : "QEMU continues without the agent's policy (NUMAGUEST_ENFORCEMENT=BestEffort)";
}

/*
 * Sends one apply for fd as guest node guest_node, retrying BUSY with backoff
 * (100 ms doubling to 5 s, for a minute) as the protocol asks. Returns 0 when
 * the agent placed it; else prints the one line and returns -errno in Strict,
 * 1 in BestEffort (carry on).
 */
static int hand_over(int fd, const struct qc_backend *b, const char *what)
{
    static char request[1024];
    static char response[NG_RESPONSE_CAP];
    char code[64], message[512];
    long backoff_ms = 100;
    double start = now_ms();
    int err;
    for (;;) {
        snprintf(request, sizeof request,
                 "{\"version\":1,\"id\":\"%u\",\"op\":\"apply\",\"vm\":{\"namespace\":\"%s\",\"name\":\"%s\"},"
                 "\"regions\":[{\"fd\":0,\"guestNode\":%d,\"offset\":0,\"length\":%llu}]}",
                 ++request_id, vm_id.namespace, vm_id.name, b->guest_node, b->size);
        int sock = connect_waiting();
        if (sock < 0) {
            err = sock;
            say(PREFIX "%sVM %s/%s, guest node %d (backend %s): cannot reach the agent at %s: %s "
                "(waited %ld s, NUMAGUEST_CONNECT_WAIT); %s; start the agent or set NUMAGUEST_SOCKET to its socket",
                strict ? "" : "warning: ", vm_id.namespace, vm_id.name, b->guest_node, b->id,
                socket_path, strerror(-sock), connect_wait_ms / 1000, enforcement_text());
            return strict ? err : 1;
        }
        ssize_t len = ng_request(sock, request, &fd, 1, response, sizeof response);
        ng_close(sock);
        if (len < 0) {
            err = (int)len;
            say(PREFIX "%sVM %s/%s, guest node %d (backend %s): no answer from the agent at %s: %s; %s",
                strict ? "" : "warning: ", vm_id.namespace, vm_id.name, b->guest_node, b->id,
                socket_path, strerror((int)-len), enforcement_text());
            return strict ? err : 1;
        }
        if (ng_response_has(response, "ok", "true")) {
            DEBUG("VM %s/%s, guest node %d (backend %s, %s, %llu bytes) placed in %.1f ms: %s",
                  vm_id.namespace, vm_id.name, b->guest_node, b->id, what, b->size,
                  now_ms() - start, response);
            if (ng_response_has(response, "verified", "false"))
                say(PREFIX "warning: VM %s/%s, guest node %d (backend %s): the agent set the policy "
                    "but could not verify it: %s", vm_id.namespace, vm_id.name, b->guest_node,
                    b->id, response);
            return 0;
        }
        ng_response_string(response, "code", code, sizeof code);
        if (strcmp(code, "BUSY") == 0 && now_ms() - start < 60000) {
            DEBUG("VM %s/%s, guest node %d (backend %s): the agent is busy; retrying in %ld ms",
                  vm_id.namespace, vm_id.name, b->guest_node, b->id, backoff_ms);
            sleep_ms(backoff_ms);
            backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
            continue;
        }
        ng_response_string(response, "message", message, sizeof message);
        say(PREFIX "%sVM %s/%s, guest node %d (backend %s): the agent refused: %s: %s; %s; %s",
            strict ? "" : "warning: ", vm_id.namespace, vm_id.name, b->guest_node, b->id,
            code[0] ? code : "(no code)", message, enforcement_text(), advice(code));
        return strict ? -EPERM : 1;
    }
}

static struct tracked *find_tracked(int fd)
{
    for (size_t i = 0; i < ntracked; i++)
        if (tracked[i].fd == fd)
            return &tracked[i];
    return NULL;
}

static struct tracked *track(int fd, int backend)
{
    struct tracked *t = find_tracked(fd);
    if (t == NULL) {
        if (ntracked == MAX_TRACKED)
            return NULL;
        t = &tracked[ntracked++];
    }
    *t = (struct tracked){ .fd = fd, .backend = backend };
    return t;
}

/* Whether name is "qemu_back_mem.<prefix><id>.XXXXXX", mkstemp's six
 * characters exactly: backend "ram"'s pattern must not take "ram.x"'s file. */
static int is_backend_temp_file(const char *name, const char *prefix, const char *id)
{
    char pattern[QC_MAX_ID + 32];
    int len = snprintf(pattern, sizeof pattern, "qemu_back_mem.%s%s.", prefix, id);
    return len > 0 && (size_t)len < sizeof pattern && strncmp(name, pattern, (size_t)len) == 0
        && strlen(name) == (size_t)len + 6;
}

/* Whether fd is the file of memory-backend-file b: QEMU opens mem-path
 * itself, or, for a directory, a file "qemu_back_mem.<name>.XXXXXX" it
 * unlinks, where <name> is the id, or the canonical path "/objects/<id>" with
 * '/' made '_' (x-use-canonical-path-for-ramblock-id, on for machine types
 * up to 3.1). */
static int is_backend_file(int fd, const struct qc_backend *b)
{
    char link[64], path[PATH_MAX], dir[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len <= 0)
        return 0;
    path[len] = '\0';
    const char *deleted = " (deleted)";
    size_t deleted_len = strlen(deleted);
    if ((size_t)len > deleted_len && strcmp(path + len - deleted_len, deleted) == 0)
        path[len - deleted_len] = '\0';
    struct stat st;
    if (stat(b->mem_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (realpath(b->mem_path, dir) == NULL)
            return 0;
        size_t dir_len = strlen(dir);
        if (strncmp(path, dir, dir_len) != 0 || path[dir_len] != '/')
            return 0;
        const char *name = path + dir_len + 1;
        return is_backend_temp_file(name, "", b->id) || is_backend_temp_file(name, "_objects_", b->id);
    }
    return realpath(b->mem_path, dir) != NULL && strcmp(dir, path) == 0;
}

static int backend_placed(int backend)
{
    for (size_t j = 0; j < ntracked; j++)
        if (tracked[j].backend == backend && tracked[j].handed)
            return 1;
    return 0;
}

/* The tracked entry for fd if it is a backend's descriptor: a memfd seen at
 * memfd_create, or a memory-backend-file's file not yet placed. */
static struct tracked *backend_descriptor(int fd)
{
    struct tracked *t = find_tracked(fd);
    if (t != NULL)
        return t;
    for (size_t i = 0; i < vm.nbackends; i++) {
        const struct qc_backend *b = &vm.backends[i];
        if (b->kind != QC_FILE || b->guest_node < 0 || backend_placed((int)i))
            continue; /* placed already: another descriptor of its file is not a new backend */
        if (is_backend_file(fd, b))
            return track(fd, (int)i);
    }
    return NULL;
}

/* Places a tracked backend descriptor once. Returns 0 or -errno (Strict). */
static int place(struct tracked *t, const char *what)
{
    if (t->refused)
        return t->refused;
    if (t->handed || t->given_up)
        return 0;
    if (t->backend < 0) {
        say(PREFIX "%sVM %s/%s: QEMU created memory backend memfd number %zu, which is not on its "
            "command line (added with object-add?): its guest node is unknown; %s",
            strict ? "" : "warning: ", vm_id.namespace, vm_id.name, memfds_seen,
            enforcement_text());
        t->given_up = !strict;
        t->refused = strict ? -EPERM : 0;
        return t->refused;
    }
    int result = hand_over(t->fd, &vm.backends[t->backend], what);
    t->handed = result == 0;
    t->given_up = result > 0;
    t->refused = result < 0 ? result : 0;
    return t->refused;
}

static void forget(int fd)
{
    struct tracked *t = find_tracked(fd);
    if (t != NULL)
        *t = tracked[--ntracked];
}

INTERPOSED int memfd_create(const char *name, unsigned int flags)
{
    int fd = (int)NEXT(memfd_create, SYS_memfd_create, name, flags);
    if (fd < 0 || !active || strcmp(name, BACKEND_MEMFD_NAME) != 0)
        return fd;
    pthread_mutex_lock(&lock);
    /* QEMU creates its backends in command-line order: the k-th such memfd
     * belongs to the k-th memory-backend-memfd. The size check in ftruncate
     * confirms the pairing. */
    int backend = -1;
    size_t k = 0;
    for (size_t i = 0; i < vm.nbackends; i++)
        if (vm.backends[i].kind == QC_MEMFD && k++ == memfds_seen) {
            backend = (int)i;
            break;
        }
    memfds_seen++;
    if (track(fd, backend) == NULL)
        say(PREFIX "warning: more than %d backend descriptors; not tracking fd %d", MAX_TRACKED, fd);
    pthread_mutex_unlock(&lock);
    return fd;
}

static int interposed_ftruncate(int fd, off_t length)
{
    int result = (int)NEXT(ftruncate, SYS_ftruncate, fd, length);
    if (result < 0 || !active)
        return result;
    int saved_errno = errno;
    pthread_mutex_lock(&lock);
    struct tracked *t = backend_descriptor(fd);
    int err = 0;
    if (t != NULL && t->backend >= 0 && (unsigned long long)length != vm.backends[t->backend].size) {
        const struct qc_backend *b = &vm.backends[t->backend];
        say(PREFIX "%sVM %s/%s: QEMU sized a backend descriptor to %lld bytes where backend %s "
            "(guest node %d) has %llu: cannot tell which backend it is; %s",
            strict ? "" : "warning: ", vm_id.namespace, vm_id.name, (long long)length, b->id,
            b->guest_node, b->size, enforcement_text());
        err = strict ? -EPERM : 0;
        forget(fd);
    } else if (t != NULL) {
        err = place(t, "at ftruncate");
    }
    pthread_mutex_unlock(&lock);
    if (err < 0) {
        errno = -err;
        return -1;
    }
    errno = saved_errno;
    return result;
}

INTERPOSED int ftruncate(int fd, off_t length) { return interposed_ftruncate(fd, length); }
INTERPOSED int ftruncate64(int fd, off_t length) { return interposed_ftruncate(fd, length); }

static void *interposed_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
    if (fd < 0 || !active || !(flags & MAP_SHARED))
        return (void *)NEXT(mmap, SYS_mmap, addr, length, prot, flags, fd, offset);
    pthread_mutex_lock(&lock);
    struct tracked *t = backend_descriptor(fd);
    if (t != NULL && t->backend >= 0 && !t->handed) {
        int err = place(t, "at mmap");
        if (err < 0) {
            pthread_mutex_unlock(&lock);
            errno = -err;
            return MAP_FAILED;
        }
    }
    void *mapped = (void *)NEXT(mmap, SYS_mmap, addr, length, prot, flags, fd, offset);
    if (mapped != MAP_FAILED && t != NULL && t->handed) {
        last_mapped = t->backend;
        if (nmappings < MAX_MAPPINGS)
            mappings[nmappings++] = (struct mapping){ (uintptr_t)mapped, (uintptr_t)mapped + length,
                                                      t->backend };
    }
    pthread_mutex_unlock(&lock);
    return mapped;
}

INTERPOSED void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
    return interposed_mmap(addr, length, prot, flags, fd, offset);
}

INTERPOSED void *mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
    return interposed_mmap(addr, length, prot, flags, fd, offset);
}

/* KVM_CREATE_GUEST_MEMFD on a VM fd: the guest_memfd QEMU creates right after
 * a RAM block's host memory; paired with the backend mapped just before. */
static int create_guest_memfd(int vm_fd, struct kvm_create_guest_memfd *request)
{
    pthread_mutex_lock(&lock);
    int backend = last_mapped;
    if (backend >= 0 && vm.backends[backend].size == request->size)
        last_mapped = -1;
    else
        backend = -1;
    if (backend < 0) {
        pthread_mutex_unlock(&lock);
        DEBUG("guest_memfd of %llu bytes follows no memory backend (firmware?): not guest-node "
              "memory, left alone", (unsigned long long)request->size);
        return real_ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, request);
    }
    const struct qc_backend *b = &vm.backends[backend];
    int offered = real_ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);
    struct kvm_create_guest_memfd mine = *request;
    if (offered > 0 && (offered & GUEST_MEMFD_FLAG_MMAP))
        mine.flags |= GUEST_MEMFD_FLAG_MMAP;
    else
        DEBUG("this VM offers no GUEST_MEMFD_FLAG_MMAP (flags %d): the agent will refuse the "
              "guest_memfd of backend %s", offered, b->id);
    int gmem = real_ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &mine);
    if (gmem < 0) {
        pthread_mutex_unlock(&lock);
        return gmem;
    }
    int err = hand_over(gmem, b, "guest_memfd");
    pthread_mutex_unlock(&lock);
    if (err < 0) {
        close(gmem);
        errno = -err;
        return -1;
    }
    return gmem;
}

INTERPOSED int ioctl(int fd, unsigned long request, ...)
{
    va_list args;
    va_start(args, request);
    void *arg = va_arg(args, void *);
    va_end(args);
    if (request != KVM_CREATE_GUEST_MEMFD || !active || arg == NULL)
        return (int)NEXT(ioctl, SYS_ioctl, fd, request, arg);
    return create_guest_memfd(fd, arg);
}

INTERPOSED long mbind(void *addr, unsigned long len, int mode, const unsigned long *nodemask,
           unsigned long maxnode, unsigned flags)
{
    /* MPOL_DEFAULT goes through: QEMU up to 5.0 mbinds every backend with it
     * when it has no host-nodes, and the kernel leaves the shared policy alone
     * where the mapping's own policy is already the default. */
    if (active && mode != MPOL_DEFAULT) {
        pthread_mutex_lock(&lock);
        int backend = -1;
        for (size_t i = 0; i < nmappings; i++)
            if ((uintptr_t)addr >= mappings[i].start && (uintptr_t)addr + len <= mappings[i].end)
                backend = mappings[i].backend;
        pthread_mutex_unlock(&lock);
        if (backend >= 0) {
            /* Only BestEffort gets here with host-nodes: Strict refused at start. */
            say(PREFIX "warning: VM %s/%s, guest node %d: QEMU's own host-nodes/policy of backend %s "
                "ignored; the agent's policy stays", vm_id.namespace, vm_id.name,
                vm.backends[backend].guest_node, vm.backends[backend].id);
            return 0;
        }
    }
    return NEXT(mbind, SYS_mbind, addr, len, mode, nodemask, maxnode, flags);
}

/* Drops this library from LD_PRELOAD: QEMU's children (network scripts,
 * helpers) are not this VM and must not hand anything over. */
static void unpreload_children(void)
{
    Dl_info self;
    const char *preload = getenv("LD_PRELOAD");
    if (preload == NULL || dladdr((void *)unpreload_children, &self) == 0 || self.dli_fname == NULL)
        return;
    const char *self_base = strrchr(self.dli_fname, '/');
    self_base = self_base ? self_base + 1 : self.dli_fname;
    size_t cap = strlen(preload) + 1;
    char *kept = malloc(cap);
    char *copy = strdup(preload);
    if (kept == NULL || copy == NULL) {
        free(kept);
        free(copy);
        return;
    }
    kept[0] = '\0';
    char *save;
    for (char *entry = strtok_r(copy, ": ", &save); entry != NULL; entry = strtok_r(NULL, ": ", &save)) {
        const char *base = strrchr(entry, '/');
        base = base ? base + 1 : entry;
        if (strcmp(entry, self.dli_fname) == 0 || strcmp(base, self_base) == 0)
            continue;
        if (kept[0] != '\0')
            strcat(kept, ":");
        strcat(kept, entry);
    }
    if (kept[0] == '\0')
        unsetenv("LD_PRELOAD");
    else
        setenv("LD_PRELOAD", kept, 1);
    free(kept);
    free(copy);
}

static void child_after_fork(void)
{
    active = 0;
}

/* Reads /proc/self/cmdline into an argv. */
static int read_cmdline(char ***argv_out)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 65536, used = 0;
    char *text = malloc(cap);
    ssize_t n;
    while (text != NULL && (n = read(fd, text + used, cap - used - 1)) > 0) {
        used += (size_t)n;
        if (used + 1 == cap) {
            char *bigger = realloc(text, cap * 2);
            if (bigger == NULL) {
                free(text);
                text = NULL;
                break;
            }
            text = bigger;
            cap *= 2;
        }
    }
    close(fd);
    if (text == NULL)
        return -1;
    text[used] = '\0';
    int argc = 0;
    for (size_t i = 0; i < used; i++)
        if (text[i] == '\0')
            argc++;
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    if (argv == NULL) {
        free(text);
        return -1;
    }
    char *p = text;
    for (int i = 0; i < argc; i++) {
        argv[i] = p;
        p += strlen(p) + 1;
    }
    *argv_out = argv; /* kept for the life of the process, like QEMU's own */
    return argc;
}

/* The VM's name: NUMAGUEST_VM, or QEMU's -name (KubeVirt's "<namespace>_<name>"). */
static int resolve_vm_id(char error[QC_MAX_ERROR])
{
    const char *configured = getenv("NUMAGUEST_VM");
    if (configured != NULL) {
        if (ng_vm_id_parse(configured, &vm_id) < 0) {
            snprintf(error, QC_MAX_ERROR, "NUMAGUEST_VM=%s is not [NAMESPACE/]NAME of lowercase "
                     "letters, digits, '-' and '.'", configured);
            return -1;
        }
        return 0;
    }
    const char *guest = vm.guest_name;
    if (guest[0] == '\0') {
        snprintf(error, QC_MAX_ERROR, "QEMU has no -name and NUMAGUEST_VM is not set: cannot tell "
                 "the agent which VM this is; set NUMAGUEST_VM=[NAMESPACE/]NAME");
        return -1;
    }
    /* Kubernetes names have no '_', so the first one separates KubeVirt's namespace. */
    const char *underscore = strchr(guest, '_');
    int bad = underscore == NULL
        ? ng_vm_id_set(&vm_id, "default", strlen("default"), guest, strlen(guest))
        : ng_vm_id_set(&vm_id, guest, (size_t)(underscore - guest), underscore + 1,
                       strlen(underscore + 1));
    if (bad) {
        snprintf(error, QC_MAX_ERROR, "QEMU's -name %s is neither NAME nor NAMESPACE_NAME of "
                 "lowercase letters, digits, '-' and '.'; set NUMAGUEST_VM=[NAMESPACE/]NAME", guest);
        return -1;
    }
    return 0;
}

/* Whether this process runs a QEMU system emulator binary. */
static int is_qemu(void)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return 0;
    exe[len] = '\0';
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    return strncmp(base, "qemu-system-", strlen("qemu-system-")) == 0 || strcmp(base, "qemu-kvm") == 0;
}

static void *next_symbol(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

__attribute__((constructor))
static void numaguest_preload_init(void)
{
    real_memfd_create = (int (*)(const char *, unsigned int))next_symbol("memfd_create");
    real_ftruncate = (int (*)(int, off_t))next_symbol("ftruncate");
    real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))next_symbol("mmap");
    real_ioctl = (int (*)(int, unsigned long, ...))next_symbol("ioctl");
    real_mbind = (long (*)(void *, unsigned long, int, const unsigned long *, unsigned long,
                           unsigned))next_symbol("mbind");
    debug = getenv("NUMAGUEST_DEBUG") != NULL && strcmp(getenv("NUMAGUEST_DEBUG"), "0") != 0;
    /* Wrappers that exec QEMU (env, timeout, numactl, virt-launcher's
     * helpers) keep the library inert and pass LD_PRELOAD on. */
    if (!is_qemu()) {
        DEBUG("not QEMU: inactive");
        return;
    }
    unpreload_children();

    const char *enforcement = getenv("NUMAGUEST_ENFORCEMENT");
    if (enforcement != NULL && strcmp(enforcement, "Strict") != 0
        && strcmp(enforcement, "BestEffort") != 0) {
        say(PREFIX "NUMAGUEST_ENFORCEMENT=%s: use Strict or BestEffort", enforcement);
        _exit(1);
    }
    strict = enforcement == NULL || strcmp(enforcement, "Strict") == 0;
    if (getenv("NUMAGUEST_SOCKET") != NULL && getenv("NUMAGUEST_SOCKET")[0] != '\0')
        socket_path = getenv("NUMAGUEST_SOCKET");
    const char *connect_wait = getenv("NUMAGUEST_CONNECT_WAIT");
    if (connect_wait != NULL && connect_wait[0] != '\0') {
        char *end;
        errno = 0;
        long seconds = strtol(connect_wait, &end, 10);
        if (errno != 0 || *end != '\0' || seconds < 0 || seconds > MAX_CONNECT_WAIT_S) {
            say(PREFIX "NUMAGUEST_CONNECT_WAIT=%s: give whole seconds from 0 to %d", connect_wait, MAX_CONNECT_WAIT_S);
            _exit(1);
        }
        connect_wait_ms = seconds * 1000;
    }

    char **argv;
    int argc = read_cmdline(&argv);
    char error[QC_MAX_ERROR];
    if (argc < 0) {
        say(PREFIX "%scannot read /proc/self/cmdline: %s; %s", strict ? "" : "warning: ",
            strerror(errno), enforcement_text());
        if (strict)
            _exit(1);
        return;
    }
    int parsed = qc_parse(argc, argv, &vm, error);
    if (!vm.is_vm) {
        /* e.g. qemu-system-x86_64 --version, or libvirt's probe with -machine none */
        DEBUG("%s has no VM options: inactive", argc > 0 ? argv[0] : "?");
        return;
    }
    if (parsed == 0 && resolve_vm_id(error) == 0) {
        for (size_t i = 0; i < vm.nbackends && strict; i++) {
            const struct qc_backend *b = &vm.backends[i];
            if (b->guest_node >= 0 && b->own_policy) {
                say(PREFIX "VM %s/%s, guest node %d: backend %s has host-nodes/policy of its own, "
                    "which would replace the agent's policy when QEMU binds its mapping; remove "
                    "host-nodes and policy from the backend (the agent's policy decides), or set "
                    "NUMAGUEST_ENFORCEMENT=BestEffort to let the agent's policy win; QEMU stops "
                    "(NUMAGUEST_ENFORCEMENT=Strict)", vm_id.namespace, vm_id.name, b->guest_node, b->id);
                _exit(1);
            }
        }
        pthread_atfork(NULL, NULL, child_after_fork);
        active = 1;
        DEBUG("VM %s/%s: %zu memory backends, socket %s, %s", vm_id.namespace, vm_id.name,
              vm.nbackends, socket_path, strict ? "Strict" : "BestEffort");
        return;
    }
    say(PREFIX "%s%s; %s", strict ? "" : "warning: ", error,
        strict ? "QEMU stops (NUMAGUEST_ENFORCEMENT=Strict)"
               : "the library does nothing for this VM (NUMAGUEST_ENFORCEMENT=BestEffort)");
    if (strict)
        _exit(1);
}
