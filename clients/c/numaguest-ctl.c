/*
 * numaguest-ctl: send one hello, apply or query request to the node agent and
 * print its JSON response. An example of the client library and a test peer
 * for the agent; a VMM would pass the descriptors of its guest RAM instead.
 */
#define _GNU_SOURCE /* memfd_create */

#include "numaguest_client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_REGIONS 64 /* protocol limit per apply/query */

enum { EXIT_NOT_OK = 1, EXIT_USAGE = 2 };

struct region {
    unsigned fd_index;
    unsigned guest_node;
    int has_range;
    unsigned long long offset;
    unsigned long long length;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: numaguest-ctl [-s SOCKET] hello\n"
            "       numaguest-ctl [-s SOCKET] apply|query -v [NAMESPACE/]NAME\n"
            "                     {-f FILE | -m SIZE | -p PID:FD}... [-r FD:GUESTNODE[:OFFSET:LENGTH]]...\n"
            "\n"
            "  -s SOCKET  agent socket (default " NG_DEFAULT_SOCKET ")\n"
            "  -v VM      the VM whose policy the agent looks up (namespace default: default)\n"
            "  -f FILE    attach FILE (opened read-write, e.g. /dev/shm/guest-ram)\n"
            "  -m SIZE    attach a new memfd of SIZE bytes (suffix K, M or G); it dies\n"
            "             with this process, so this is for trying the agent out\n"
            "  -p PID:FD  attach a copy of descriptor FD of process PID (pidfd_getfd:\n"
            "             needs ptrace rights over it), e.g. a running QEMU's guest RAM\n"
            "  -r REGION  descriptor FD (0-based, in -f/-m/-p order) for guest node GUESTNODE,\n"
            "             optionally only bytes [OFFSET, OFFSET+LENGTH)\n"
            "             without -r: each descriptor whole, descriptor i for guest node i\n"
            "\n"
            "Prints the agent's response. Exit status: 0 ok, 1 the agent answered\n"
            "\"ok\": false, 2 bad usage or no answer.\n");
}

/* Parses a decimal number with an optional binary K/M/G suffix. */
static int parse_size(const char *text, unsigned long long *size)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || text[0] == '-')
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    }
    if (*end != '\0' || value > (ULLONG_MAX >> shift))
        return -1;
    *size = value << shift;
    return 0;
}

/* Parses one unsigned decimal field of a -r spec, ending at ':' or the end. */
static int parse_field(const char **cursor, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(*cursor, &end, 10);
    if (errno != 0 || end == *cursor || **cursor == '-' || value > max
        || (*end != ':' && *end != '\0'))
        return -1;
    *out = value;
    *cursor = *end == ':' ? end + 1 : end;
    return 0;
}

static int parse_region(const char *text, struct region *region)
{
    const char *cursor = text;
    unsigned long long fd_index, guest_node;
    if (parse_field(&cursor, NG_MAX_FDS - 1, &fd_index) < 0
        || parse_field(&cursor, 63, &guest_node) < 0)
        return -1;
    region->fd_index = (unsigned)fd_index;
    region->guest_node = (unsigned)guest_node;
    region->has_range = *cursor != '\0';
    if (!region->has_range)
        return 0;
    if (parse_field(&cursor, ULLONG_MAX, &region->offset) < 0
        || parse_field(&cursor, ULLONG_MAX, &region->length) < 0 || *cursor != '\0')
        return -1;
    return 0;
}

/* Appends to buf at *used like snprintf; -1 when the request would not fit. */
__attribute__((format(printf, 4, 5)))
static int append(char *buf, size_t cap, size_t *used, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= cap - *used)
        return -1;
    *used += (size_t)n;
    return 0;
}

/* regions == NULL means one whole-file region per descriptor. */
static int build_request(char *buf, size_t cap, const char *op, const struct ng_vm_id *vm,
                         const struct region *regions, size_t nregions)
{
    size_t used = 0;
    if (append(buf, cap, &used, "{\"version\":1,\"id\":\"1\",\"op\":\"%s\"", op) < 0)
        return -1;
    if (strcmp(op, "hello") == 0)
        return append(buf, cap, &used, "}");

    if (append(buf, cap, &used, ",\"vm\":{\"namespace\":\"%s\",\"name\":\"%s\"},\"regions\":[",
               vm->namespace, vm->name) < 0)
        return -1;
    for (size_t i = 0; i < nregions; i++) {
        /* Without -r, descriptor i is guest node i, as with one memory
         * backend per guest NUMA node. */
        unsigned fd_index = regions == NULL ? (unsigned)i : regions[i].fd_index;
        unsigned guest_node = regions == NULL ? (unsigned)i : regions[i].guest_node;
        if (append(buf, cap, &used, "%s{\"fd\":%u,\"guestNode\":%u", i ? "," : "",
                   fd_index, guest_node) < 0)
            return -1;
        if (regions != NULL && regions[i].has_range
            && append(buf, cap, &used, ",\"offset\":%llu,\"length\":%llu",
                      regions[i].offset, regions[i].length) < 0)
            return -1;
        if (append(buf, cap, &used, "}") < 0)
            return -1;
    }
    return append(buf, cap, &used, "]}");
}

/* Duplicates descriptor FD of process PID from a "PID:FD" spec. */
static int take_fd(const char *spec)
{
    char *end;
    errno = 0;
    long pid = strtol(spec, &end, 10);
    if (errno != 0 || end == spec || *end != ':' || pid <= 0) {
        fprintf(stderr, "numaguest-ctl: -p %s: not PID:FD\n", spec);
        return -1;
    }
    const char *fd_text = end + 1;
    long target = strtol(fd_text, &end, 10);
    if (errno != 0 || end == fd_text || *end != '\0' || target < 0 || target > INT_MAX) {
        fprintf(stderr, "numaguest-ctl: -p %s: not PID:FD\n", spec);
        return -1;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pidfd < 0) {
        fprintf(stderr, "numaguest-ctl: pidfd_open %ld: %s\n", pid, strerror(errno));
        return -1;
    }
    int fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)target, 0);
    int err = errno;
    close(pidfd);
    if (fd < 0)
        fprintf(stderr, "numaguest-ctl: pidfd_getfd %ld:%ld: %s\n", pid, target, strerror(err));
    return fd;
}

static int open_memfd(unsigned long long size)
{
    int fd = memfd_create("numaguest-ctl", MFD_CLOEXEC);
    if (fd < 0) {
        perror("numaguest-ctl: memfd_create");
        return -1;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        perror("numaguest-ctl: ftruncate memfd");
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *socket_path = NG_DEFAULT_SOCKET;
    struct ng_vm_id vm;
    int has_vm = 0;
    int fds[NG_MAX_FDS];
    size_t nfds = 0;
    struct region regions[MAX_REGIONS];
    size_t nregions = 0;
    int status = EXIT_USAGE;

    int opt;
    while ((opt = getopt(argc, argv, "hs:v:f:m:p:r:")) != -1) {
        unsigned long long size;
        switch (opt) {
        case 's':
            socket_path = optarg;
            break;
        case 'v':
            if (ng_vm_id_parse(optarg, &vm) < 0) {
                fprintf(stderr, "numaguest-ctl: -v %s: not [NAMESPACE/]NAME of lowercase letters, digits, '-' and '.'\n",
                        optarg);
                goto out;
            }
            has_vm = 1;
            break;
        case 'f':
        case 'm':
        case 'p':
            if (nfds == NG_MAX_FDS) {
                fprintf(stderr, "numaguest-ctl: at most %d descriptors per request\n", NG_MAX_FDS);
                goto out;
            }
            if (opt == 'f') {
                fds[nfds] = open(optarg, O_RDWR | O_CLOEXEC);
                if (fds[nfds] < 0) {
                    fprintf(stderr, "numaguest-ctl: open %s: %s\n", optarg, strerror(errno));
                    goto out;
                }
            } else if (opt == 'p') {
                if ((fds[nfds] = take_fd(optarg)) < 0)
                    goto out;
            } else {
                if (parse_size(optarg, &size) < 0) {
                    fprintf(stderr, "numaguest-ctl: -m %s: not a size\n", optarg);
                    goto out;
                }
                if ((fds[nfds] = open_memfd(size)) < 0)
                    goto out;
            }
            nfds++;
            break;
        case 'r':
            if (nregions == MAX_REGIONS) {
                fprintf(stderr, "numaguest-ctl: at most %d regions per request\n", MAX_REGIONS);
                goto out;
            }
            if (parse_region(optarg, &regions[nregions]) < 0) {
                fprintf(stderr, "numaguest-ctl: -r %s: not FD:GUESTNODE[:OFFSET:LENGTH]\n", optarg);
                goto out;
            }
            nregions++;
            break;
        case 'h':
            usage(stdout);
            status = EXIT_SUCCESS;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        goto out;
    }
    const char *op = argv[optind];
    int is_hello = strcmp(op, "hello") == 0;
    if (!is_hello && strcmp(op, "apply") != 0 && strcmp(op, "query") != 0) {
        fprintf(stderr, "numaguest-ctl: unknown operation '%s'\n", op);
        usage(stderr);
        goto out;
    }
    if (is_hello && (has_vm || nfds || nregions)) {
        fprintf(stderr, "numaguest-ctl: hello takes no -v, -f, -m, -p or -r\n");
        goto out;
    }
    if (!is_hello && (!has_vm || nfds == 0)) {
        fprintf(stderr, "numaguest-ctl: %s needs -v and at least one -f, -m or -p\n", op);
        goto out;
    }

    static char request[NG_MAX_REQUEST_BYTES + 1];
    int explicit_regions = nregions > 0;
    if (build_request(request, sizeof request, op, &vm, explicit_regions ? regions : NULL,
                      explicit_regions ? nregions : nfds) < 0) {
        fprintf(stderr, "numaguest-ctl: the request would exceed %d bytes\n", NG_MAX_REQUEST_BYTES);
        goto out;
    }

    int sock = ng_connect(socket_path);
    if (sock < 0) {
        fprintf(stderr, "numaguest-ctl: connect %s: %s\n", socket_path, strerror(-sock));
        goto out;
    }
    static char response[NG_RESPONSE_CAP];
    ssize_t len = ng_request(sock, request, fds, nfds, response, sizeof response);
    ng_close(sock);
    if (len < 0) {
        fprintf(stderr, "numaguest-ctl: request to %s: %s\n", socket_path, strerror((int)-len));
        goto out;
    }
    printf("%s\n", response);
    status = ng_response_has(response, "ok", "true") ? EXIT_SUCCESS : EXIT_NOT_OK;

out:
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    return status;
}
