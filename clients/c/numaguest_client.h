/*
 * Minimal client for the numaguest node agent socket (protocol v1, see
 * docs/protocol.md): one JSON request per SOCK_SEQPACKET message, guest-memory
 * descriptors attached with SCM_RIGHTS, one JSON response per request.
 *
 * The library does no JSON: callers build requests with snprintf and read the
 * response text. Every function returns a negative errno on failure and never
 * prints. Sockets are blocking; use one socket per thread, or serialise
 * requests on it, because responses come back in order on a connection.
 */
#ifndef NUMAGUEST_CLIENT_H
#define NUMAGUEST_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where a root-run agent listens unless started with --socket. */
#define NG_DEFAULT_SOCKET "/run/numaguest/agent.sock"
/* Protocol limits: largest request message and descriptors per request. */
#define NG_MAX_REQUEST_BYTES 65536
#define NG_MAX_FDS 16
/* A response buffer of this size holds any response to a 64-region request. */
#define NG_RESPONSE_CAP 131072

/* Connects to the agent socket at path. Returns the socket (close-on-exec),
 * or -errno; -ENAMETOOLONG if path does not fit in sockaddr_un. */
int ng_connect(const char *path);

/* Sends json (without its NUL) with fds[0..nfds) attached, then waits for the
 * one response message and stores it NUL-terminated in resp. The caller keeps
 * its descriptors; the agent closes its own copies.
 * Returns the response length, or -errno: -EINVAL for nfds > NG_MAX_FDS or
 * resp_cap == 0, -EMSGSIZE for a request over NG_MAX_REQUEST_BYTES or a
 * response that did not fit in resp_cap - 1 bytes (the connection stays
 * usable), -ECONNRESET when the agent closed the connection without answering.
 * An answer the agent sent as it turned the connection away (BUSY, FORBIDDEN,
 * id null) is returned like any response, even when it closed first. */
ssize_t ng_request(int sock, const char *json, const int *fds, size_t nfds,
                   char *resp, size_t resp_cap);

/* Closes a socket from ng_connect. Returns 0 or -errno. */
int ng_close(int sock);

/* Returns 1 when the response text has the member "key": literal (e.g. "ok",
 * "true"), whitespace allowed around the colon, else 0. A text search, not a
 * parser: reliable for the protocol's own keys, whose quoted names cannot
 * appear unescaped inside string values. It finds a key at any depth, so
 * for per-region keys it says only that some region has it. */
int ng_response_has(const char *resp, const char *key, const char *literal);

/* A VM as the agent names it: Kubernetes names (lowercase letters, digits,
 * '-' and '.', at most 253), so they go into JSON text without escaping. */
#define NG_MAX_NAME 253
struct ng_vm_id {
    char namespace[NG_MAX_NAME + 1];
    char name[NG_MAX_NAME + 1];
};

/* Sets vm from a namespace and a name of the given lengths. Returns 0, or
 * -EINVAL when either is empty, too long or has other characters. */
int ng_vm_id_set(struct ng_vm_id *vm, const char *namespace, size_t namespace_len,
                 const char *name, size_t name_len);

/* Parses "[NAMESPACE/]NAME"; the namespace defaults to "default".
 * Returns 0 or -EINVAL. */
int ng_vm_id_parse(const char *text, struct ng_vm_id *vm);

/* Copies the string value of the first member "key" in the response text
 * (as escaped in the JSON, without the quotes) into out, truncated to
 * out_cap - 1 bytes. Returns 1 when found, else 0 (out is then empty). A text
 * search like ng_response_has: the first match at any depth. */
int ng_response_string(const char *resp, const char *key, char *out, size_t out_cap);

#ifdef __cplusplus
}
#endif

#endif
