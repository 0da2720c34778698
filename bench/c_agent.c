/*
 * c_agent: the least an agent must do to answer apply_bench, written in C, as
 * the baseline the Java agent's cost is held against (bench/run prints the
 * ratios). Not a product: one policy (Bind to host node 0), no policy source,
 * no peer check, no validation beyond what the bench's requests need.
 *
 *   c_agent SOCKET
 *
 * Listens on SOCKET (SOCK_SEQPACKET), one thread per connection, and answers
 * the protocol subset apply_bench speaks (docs/protocol.md):
 *   hello  -> {"version":1,"id":ID,"ok":true,...}
 *   apply  -> per received descriptor, the kernel work the Java agent does for
 *             a memfd region: fstatfs (what memory is it), fstat (its size),
 *             mmap(MAP_SHARED, PROT_NONE) + mbind(MPOL_BIND, node 0) + munmap,
 *             then a fresh mapping, get_mempolicy(MPOL_F_ADDR) at its first
 *             and last page, munmap; close; a JSON reply with one region
 *             result shaped like the Java agent's.
 * The request is scanned for "id" and "op", not parsed: the baseline carries
 * no JSON library. Exits at SIGTERM/SIGINT, removing SOCKET.
 */
#define _GNU_SOURCE /* struct ucred-free SCM_RIGHTS helpers, syscall */

#include <errno.h>
#include <linux/magic.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* The agent's nodemask: 16 words, maxnode 1025 (see apply_bench.c). */
#define MASK_WORDS 16
#define MAX_NODE_BITS (MASK_WORDS * 64 + 1)
#define BIND_NODE 0
#define PAGE_BYTES 4096
#define MAX_REQUEST 65536
#define MAX_FDS 16
#define MAX_ID 200 /* 64 code points, escaped, with quotes: plenty for the bench's ids */
#define THREAD_STACK (256 * 1024)

static const char *socket_path;

/* Copies the raw JSON value of the first string member "key" (with its quotes)
 * into out; "null" when absent or not a string. */
static void scan_string(const char *json, const char *key, char *out, size_t cap)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *at = strstr(json, pattern);
    snprintf(out, cap, "null");
    if (at == NULL)
        return;
    at += strlen(pattern);
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r')
        at++;
    if (*at++ != ':')
        return;
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r')
        at++;
    if (*at != '"')
        return;
    const char *end = at + 1;
    while (*end != '\0' && *end != '"')
        end += *end == '\\' && end[1] != '\0' ? 2 : 1;
    if (*end != '"' || (size_t)(end - at + 2) > cap)
        return;
    memcpy(out, at, (size_t)(end - at + 1));
    out[end - at + 1] = '\0';
}

/* Puts Bind(BIND_NODE) on the file's inode and reads it back through a fresh
 * mapping. Returns 0, or an errno with *what naming the failed step. */
static int apply_fd(int fd, long long *length, const char **what)
{
    struct statfs fs;
    struct stat st;
    if (fstatfs(fd, &fs) < 0) {
        *what = "fstatfs";
        return errno;
    }
    if (fs.f_type != TMPFS_MAGIC) {
        *what = "not a memfd/shmem file";
        return EINVAL;
    }
    if (fstat(fd, &st) < 0) {
        *what = "fstat";
        return errno;
    }
    if (st.st_size < PAGE_BYTES) {
        *what = "empty file";
        return EINVAL;
    }
    size_t size = (size_t)st.st_size & ~(size_t)(PAGE_BYTES - 1);
    *length = (long long)size;

    void *addr = mmap(NULL, size, PROT_NONE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
        *what = "mmap";
        return errno;
    }
    unsigned long mask[MASK_WORDS] = { 1ul << BIND_NODE };
    int err = 0;
    if (syscall(SYS_mbind, addr, size, MPOL_BIND, mask, MAX_NODE_BITS, 0) < 0) {
        err = errno;
        *what = "mbind";
    }
    munmap(addr, size);
    if (err != 0)
        return err;

    char *fresh = mmap(NULL, size, PROT_NONE, MAP_SHARED, fd, 0);
    if (fresh == MAP_FAILED) {
        *what = "mmap (read-back)";
        return errno;
    }
    char *pages[] = { fresh, fresh + size - PAGE_BYTES };
    for (size_t i = 0; i < 2 && err == 0; i++) {
        int mode = -1;
        unsigned long got[MASK_WORDS] = { 0 };
        if (syscall(SYS_get_mempolicy, &mode, got, MAX_NODE_BITS, pages[i], MPOL_F_ADDR) < 0) {
            err = errno;
            *what = "get_mempolicy";
        } else if (mode != MPOL_BIND || got[0] != 1ul << BIND_NODE) {
            err = EIO;
            *what = "read-back differs";
        }
    }
    munmap(fresh, size);
    return err;
}

static int reply(int sock, const char *text, int len)
{
    if (len < 0 || len >= MAX_REQUEST)
        return -1;
    return send(sock, text, (size_t)len, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static void *serve(void *arg)
{
    int sock = (int)(long)arg;
    char *request = malloc(MAX_REQUEST + 1);
    char *response = malloc(MAX_REQUEST);
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    while (request != NULL && response != NULL) {
        struct iovec iov = { request, MAX_REQUEST };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = control.buf, .msg_controllen = sizeof control.buf };
        ssize_t got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (got <= 0)
            break; /* end of connection (or an error: same outcome) */
        request[got] = '\0';
        int fds[MAX_FDS];
        size_t nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                memcpy(fds + nfds, CMSG_DATA(c), n * sizeof(int));
                nfds += n;
            }

        char id[MAX_ID], op[32];
        scan_string(request, "id", id, sizeof id);
        scan_string(request, "op", op, sizeof op);
        int len;
        if (strcmp(op, "\"hello\"") == 0) {
            len = snprintf(response, MAX_REQUEST,
                           "{\"version\":1,\"id\":%s,\"ok\":true,\"agent\":\"c-baseline\",\"mechanisms\":[\"mbind\"]}", id);
        } else if (strcmp(op, "\"apply\"") == 0 && nfds == 1) {
            long long length = 0;
            const char *what = "";
            int err = apply_fd(fds[0], &length, &what);
            if (err == 0)
                len = snprintf(response, MAX_REQUEST,
                               "{\"version\":1,\"id\":%s,\"ok\":true,\"regions\":[{\"guestNode\":0,\"fd\":0,"
                               "\"offset\":0,\"length\":%lld,\"applied\":true,\"fdKind\":\"memfd\",\"policy\":\"Bind\","
                               "\"hostNodes\":[%d],\"mechanism\":\"mbind\",\"verified\":true,\"pageSizeBytes\":%d}]}",
                               id, length, BIND_NODE, PAGE_BYTES);
            else
                len = snprintf(response, MAX_REQUEST,
                               "{\"version\":1,\"id\":%s,\"ok\":false,\"error\":{\"code\":\"POLICY_REJECTED\","
                               "\"message\":\"%s: %s\",\"errno\":%d}}", id, what, strerror(err), err);
        } else {
            len = snprintf(response, MAX_REQUEST,
                           "{\"version\":1,\"id\":%s,\"ok\":false,\"error\":{\"code\":\"BAD_REQUEST\","
                           "\"message\":\"the C baseline answers hello, and apply with one descriptor\"}}", id);
        }
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        if (reply(sock, response, len) < 0)
            break;
    }
    free(request);
    free(response);
    close(sock);
    return NULL;
}

static void on_signal(int signo)
{
    (void)signo;
    unlink(socket_path);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: c_agent SOCKET\n");
        return EXIT_FAILURE;
    }
    socket_path = argv[1];
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(socket_path) >= sizeof addr.sun_path) {
        fprintf(stderr, "c_agent: %s: path too long for a Unix socket\n", socket_path);
        return EXIT_FAILURE;
    }
    strcpy(addr.sun_path, socket_path);
    int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 128) < 0) {
        fprintf(stderr, "c_agent: %s: %s\n", socket_path, strerror(errno));
        return EXIT_FAILURE;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    for (;;) {
        int sock = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (sock < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "c_agent: accept: %s\n", strerror(errno));
            return EXIT_FAILURE;
        }
        pthread_t thread;
        int err = pthread_create(&thread, &attr, serve, (void *)(long)sock);
        if (err != 0) {
            fprintf(stderr, "c_agent: pthread_create: %s\n", strerror(err));
            close(sock);
        }
    }
}
