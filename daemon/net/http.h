/*
 * http.h: the daemon's HTTP/1.1 server on libuv and http-parser.
 *
 * One server listens on a TCP address, a Unix socket, or both. On the Unix
 * socket the kernel tells who the peer is (SO_PEERCRED); the request
 * carries that uid for the handler to map to a user. Each connection reads
 * requests with http-parser, one at a time (keep-alive, and pipelined requests
 * are answered in order: reading pauses while a request is being answered). A
 * complete request is handed to the handler on the loop thread; the handler
 * answers with la_http_respond*, at once or later (from a timer, a
 * uv_queue_work callback ...), exactly once per request.
 *
 * The server itself answers what never reaches the handler: 400 for a
 * request http-parser rejects, 413 for a body over max_body_bytes, 431 for
 * headers over max_header_bytes, 408 (then closes) for a client that does
 * not send a whole request within request_timeout_ms, 503 when a
 * connection is refused (below). Idle keep-alive connections are closed
 * after idle_timeout_ms. None of these block other connections.
 *
 * Connections and credentials. TCP connections (and adopted ones) and Unix
 * socket connections have separate budgets (max_connections and
 * max_unix_connections): TCP clients never take the Unix socket's places.
 * One peer (a TCP address, an IPv6 /64, or a Unix uid) holds at most
 * max_per_peer connections. A TCP connection is unauthenticated until the
 * handler calls la_http_request_authenticated on one of its requests; the
 * Unix socket's connections are authenticated by the kernel from the start.
 * An unauthenticated connection must be authenticated within
 * unauth_timeout_ms of connecting (whichever of that and the request or
 * idle deadline comes first closes it; 408 if a request is half sent), and
 * at most max_unauthenticated are open. A new connection that would pass
 * the peer's limit, the TCP budget or the unauthenticated cap evicts (closes
 * at once) the oldest unauthenticated connection of that peer, resp. of all
 * peers; only when there is none to evict is it refused (503). So clients
 * without credentials cannot lock out those with them: they can only push
 * each other out. Authenticated connections keep the normal deadlines.
 *
 * Memory: a request and its buffers belong to the server; they stay valid
 * until the handler responds, even if the client has gone (the response is
 * then dropped and the request freed).
 */
#ifndef LORALPHA_HTTP_H
#define LORALPHA_HTTP_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct la_http_server la_http_server;

typedef enum {
  LA_HTTP_GET,
  LA_HTTP_POST,
  LA_HTTP_PUT,
  LA_HTTP_DELETE,
  LA_HTTP_HEAD,
  LA_HTTP_PATCH,
  LA_HTTP_OPTIONS,
  LA_HTTP_OTHER
} la_http_method;

typedef struct la_http_request {
  la_http_method method;
  const char *method_name; /* "GET", ... as sent */
  const char *path;        /* percent-decoded path, without the query */
  const char *query;       /* raw query string after '?', "" if none */
  const char *body;        /* NUL-terminated copy of the body ("" if none) */
  size_t body_len;
  const char *content_type;  /* Content-Type header or "" */
  const char *authorization; /* Authorization header or "" */
  int via_unix;              /* 1: arrived on the Unix socket */
  long peer_uid;             /* the Unix peer's uid (via_unix), else -1 */
  void *internal;            /* the server's; do not touch */
} la_http_request;

/* Called once per complete request, on the loop thread. */
typedef void (*la_http_handler)(la_http_request *req, void *ctx);

typedef struct la_http_limits {
  size_t max_header_bytes;       /* request line + headers; default 16 KiB */
  size_t max_body_bytes;         /* default 1 MiB */
  unsigned request_timeout_ms;   /* whole request must arrive; default 10000 */
  unsigned idle_timeout_ms;      /* keep-alive idle; default 60000 */
  unsigned max_connections;      /* TCP (and adopted); default 1024 */
  unsigned max_unix_connections; /* Unix socket; default 512 */
  unsigned max_per_peer;         /* per TCP address / IPv6 /64 / uid; 128 */
  unsigned max_unauthenticated;  /* TCP without credentials; default 512 */
  unsigned unauth_timeout_ms;    /* to present credentials; default 5000 */
} la_http_limits;

/* Counters for the Prometheus endpoint. */
typedef struct la_http_stats {
  uint64_t requests;    /* requests answered (handler or server) */
  uint64_t by_class[6]; /* by status class: [1] 1xx ... [5] 5xx */
  uint64_t connections; /* open now */
  uint64_t accepted;    /* since start */
  uint64_t rejected; /* answered by the server itself (400/408/413/431/503) */
  uint64_t refused_full;     /* refused: the budget is full of authenticated */
  uint64_t refused_peer;     /* refused: the peer's are all authenticated */
  uint64_t evicted;          /* unauthenticated connections closed for others */
  uint64_t unauth_expired;   /* unauthenticated ones closed at their deadline */
  uint64_t unauthenticated;  /* unauthenticated connections open now */
  uint64_t unix_connections; /* Unix socket connections open now */
} la_http_stats;

/* Fills lim with the defaults above. */
void la_http_limits_default(la_http_limits *lim);

/* A server on loop that listens nowhere yet: add listeners with
 * la_http_server_listen_tcp / _unix. lim may be NULL for the defaults. */
int la_http_server_new(uv_loop_t *loop, const la_http_limits *lim,
                       la_http_handler handler, void *ctx, la_http_server **out,
                       la_err *err);

/* Binds host:port (port 0 picks a free one) and listens. Returns 0 or an
 * LA_E code with err filled ("listen 127.0.0.1:7787: address already in
 * use"). At most one TCP listener per server. */
int la_http_server_listen_tcp(la_http_server *s, const char *host, int port,
                              la_err *err);

/* Listens on a Unix socket at path, created with the given mode (e.g.
 * 0660) and, if gid >= 0, that group. A stale socket left by a dead daemon
 * is replaced; a live one, or a path that is not a socket, is an error. The
 * socket file is removed when the server closes. */
int la_http_server_listen_unix(la_http_server *s, const char *path,
                               unsigned mode, long gid, la_err *err);

/* la_http_server_new and la_http_server_listen_tcp in one call.
 * Binds host:port (port 0 picks a free one) and starts listening on loop.
 * lim may be NULL for the defaults. On success *out is the server. Returns 0
 * or an LA_E code with err filled ("listen 127.0.0.1:7787: address already
 * in use"). */
int la_http_server_start(uv_loop_t *loop, const char *host, int port,
                         const la_http_limits *lim, la_http_handler handler,
                         void *ctx, la_http_server **out, la_err *err);

/* The TCP port actually bound (0 without a TCP listener). */
int la_http_server_port(const la_http_server *s);

void la_http_server_stats(const la_http_server *s, la_http_stats *out);

/* Stops accepting, closes every connection (pending requests' responses are
 * dropped when they come) and frees the server once all handles are closed;
 * then calls on_closed(arg) if given. */
void la_http_server_close(la_http_server *s, void (*on_closed)(void *),
                          void *arg);

/* Serves fd, an already connected stream socket (e.g. one end of a
 * socketpair), like a client the listener accepted: same limits, counters
 * and handler. The server owns fd on success (closed with the connection);
 * on failure fd is the caller's. Returns 0 or an LA_E code with err. */
int la_http_server_adopt(la_http_server *s, uv_os_sock_t fd, la_err *err);

/* Records that req carried valid credentials (a token the handler
 * accepted): its connection is authenticated from now on, with the normal
 * deadlines, and is never evicted. Call it before answering req; harmless
 * on the Unix socket and when called twice. */
void la_http_request_authenticated(la_http_request *req);

/* Answers req with status, a Content-Type and a body of len bytes (copied).
 * Adds Content-Length, Connection (keep-alive unless the client asked to
 * close) and Date headers. req is freed: do not use it afterwards. */
void la_http_respond(la_http_request *req, int status, const char *content_type,
                     const char *body, size_t len);

/* la_http_respond with body serialised compactly as application/json.
 * Steals the reference to body. */
void la_http_respond_json(la_http_request *req, int status, json_t *body);

/* Answers {"error": {"code": code, "message": message}} with status. */
void la_http_respond_error(la_http_request *req, int status, const char *code,
                           const char *message);

/* Value of query parameter name (percent-decoded) into buf; 1 if present,
 * 0 if absent, LA_EINVAL if it does not fit or is malformed. */
int la_http_query_get(const la_http_request *req, const char *name, char *buf,
                      size_t size);

#endif
