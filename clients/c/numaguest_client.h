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
 * usable), -ECONNRESET when the agent closed the connection without answering. */
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

#ifdef __cplusplus
}
#endif

#endif
