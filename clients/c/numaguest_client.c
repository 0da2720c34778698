/* numaguest agent socket client, protocol v1: see numaguest_client.h. */
#define _POSIX_C_SOURCE 200809L

#include "numaguest_client.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int ng_connect(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t path_len = strlen(path);
    if (path_len >= sizeof addr.sun_path)
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, path_len + 1);

    /* SEQPACKET keeps message boundaries, so one recv is one whole response.
     * CLOEXEC: the VMM's children must not inherit a channel to the agent. */
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -errno;
    if (connect(sock, (const struct sockaddr *)&addr, sizeof addr) < 0) {
        int err = errno;
        close(sock);
        return -err;
    }
    return sock;
}

ssize_t ng_request(int sock, const char *json, const int *fds, size_t nfds,
                   char *resp, size_t resp_cap)
{
    if (nfds > NG_MAX_FDS || (nfds > 0 && fds == NULL) || resp_cap == 0)
        return -EINVAL;
    size_t json_len = strlen(json);
    if (json_len > NG_MAX_REQUEST_BYTES)
        return -EMSGSIZE;

    /* The union gives the control buffer the alignment struct cmsghdr needs. */
    union {
        char buf[CMSG_SPACE(NG_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec out_iov = { .iov_base = (void *)json, .iov_len = json_len };
    struct msghdr out = { .msg_iov = &out_iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        out.msg_control = control.buf;
        out.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&out);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
    }

    /* MSG_NOSIGNAL: an agent that went away must show up as -EPIPE, not as a
     * SIGPIPE that kills the VMM. A SEQPACKET send is all or nothing, so an
     * EINTR retry cannot duplicate part of a request. */
    ssize_t sent;
    do
        sent = sendmsg(sock, &out, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    int send_error = sent < 0 ? errno : 0;
    if (sent < 0 && send_error != EPIPE && send_error != ECONNRESET)
        return -send_error;

    /* One byte is kept for the NUL. The agent sends no descriptors back, so
     * no control buffer: anything unexpected is dropped by the kernel. */
    struct iovec in_iov = { .iov_base = resp, .iov_len = resp_cap - 1 };
    struct msghdr in = { .msg_iov = &in_iov, .msg_iovlen = 1 };
    ssize_t received;
    /* An agent that turns a connection away (BUSY at its connection limit,
     * FORBIDDEN) answers as it accepts and closes, perhaps before reading the
     * request. The kernel then reports ECONNRESET (or EPIPE to the send) once,
     * ahead of the answer still queued here: read on to get that answer. */
    int tries = 0;
    do
        received = recvmsg(sock, &in, send_error ? MSG_DONTWAIT : 0);
    while (received < 0 && (errno == EINTR || (errno == ECONNRESET && ++tries < 3)));
    if (received < 0)
        return send_error ? -send_error : -errno;
    /* The agent never sends an empty message: 0 bytes is end of stream. */
    if (received == 0)
        return -ECONNRESET;
    /* The rest of an oversized message is discarded by the kernel; the next
     * recv starts with the next response, so the connection stays in step. */
    if (in.msg_flags & MSG_TRUNC)
        return -EMSGSIZE;
    resp[received] = '\0';
    return received;
}

int ng_close(int sock)
{
    /* No retry on EINTR: Linux has released the descriptor by then. */
    return close(sock) < 0 ? -errno : 0;
}

static const char *skip_space(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* The value after the next member named key at or after from, or NULL. */
static const char *member_value(const char *from, const char *key, const char **next)
{
    size_t key_len = strlen(key);
    for (const char *quote = strchr(from, '"'); quote != NULL; quote = strchr(quote + 1, '"')) {
        const char *name = quote + 1;
        if (strncmp(name, key, key_len) != 0 || name[key_len] != '"')
            continue;
        const char *colon = skip_space(name + key_len + 1);
        if (*colon != ':')
            continue;
        *next = name + key_len + 1;
        return skip_space(colon + 1);
    }
    return NULL;
}

int ng_response_has(const char *resp, const char *key, const char *literal)
{
    size_t literal_len = strlen(literal);
    const char *next;
    for (const char *value = member_value(resp, key, &next); value != NULL;
         value = member_value(next, key, &next)) {
        /* "true" must not match "trueish", nor "1" match "10". */
        if (strncmp(value, literal, literal_len) == 0
            && !isalnum((unsigned char)value[literal_len]))
            return 1;
    }
    return 0;
}

int ng_response_string(const char *resp, const char *key, char *out, size_t out_cap)
{
    const char *next;
    const char *value;
    if (out_cap == 0)
        return 0;
    out[0] = '\0';
    for (value = member_value(resp, key, &next); value != NULL && *value != '"';
         value = member_value(next, key, &next))
        ;
    if (value == NULL)
        return 0;
    size_t used = 0;
    for (const char *p = value + 1; *p != '\0' && *p != '"'; p++) {
        /* An escaped character stays escaped: the text is for a log line. */
        if (*p == '\\' && p[1] != '\0' && used + 1 < out_cap)
            out[used++] = *p++;
        if (used + 1 < out_cap)
            out[used++] = *p;
    }
    out[used] = '\0';
    return 1;
}

static int is_name(const char *text, size_t len)
{
    if (len == 0 || len > NG_MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!(text[i] >= 'a' && text[i] <= 'z') && !(text[i] >= '0' && text[i] <= '9')
            && text[i] != '-' && text[i] != '.')
            return 0;
    return 1;
}

int ng_vm_id_set(struct ng_vm_id *vm, const char *namespace, size_t namespace_len,
                 const char *name, size_t name_len)
{
    if (!is_name(namespace, namespace_len) || !is_name(name, name_len))
        return -EINVAL;
    memcpy(vm->namespace, namespace, namespace_len);
    vm->namespace[namespace_len] = '\0';
    memcpy(vm->name, name, name_len);
    vm->name[name_len] = '\0';
    return 0;
}

int ng_vm_id_parse(const char *text, struct ng_vm_id *vm)
{
    const char *slash = strchr(text, '/');
    if (slash == NULL)
        return ng_vm_id_set(vm, "default", strlen("default"), text, strlen(text));
    return ng_vm_id_set(vm, text, (size_t)(slash - text), slash + 1, strlen(slash + 1));
}
