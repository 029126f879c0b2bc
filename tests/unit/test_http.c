/*
 * test_http.c: the HTTP server end to end. The main thread runs a uv loop
 * with the server on 127.0.0.1 (port 0); a client thread talks to it over
 * plain blocking sockets, sending raw bytes and checking raw responses.
 *
 * Routes of the test handler:
 *   /defer?ms=N  answered N ms later from a uv timer (echo);
 *   /hold        kept unanswered (up to two): the first until /release, the
 *                second until after la_http_server_close (dropped);
 *   /release     answers the first held request, then itself;
 *   /stats       the server's counters as JSON;
 *   /q           la_http_query_get results for a fixed set of names;
 *   anything     echo: method, path, query, body, content type and
 *                authorization as JSON.
 * A request with "Authorization: Bearer ok" authenticates its connection
 * (la_http_request_authenticated); others leave it unauthenticated.
 * Limits are small (2 KiB headers, 4 KiB body, 500 ms request timeout,
 * 400 ms idle timeout, 8 connections) so the whole run takes seconds.
 */
#include "check.h"
#include "net/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_TIMEOUT_MS 500
#define IDLE_TIMEOUT_MS 400
#define MAX_CONNECTIONS 8
#define MAX_HEADER 2048
#define MAX_BODY 4096

#define CHECK_RANGE(v, lo, hi)                                                 \
  do {                                                                         \
    double cr_v = (double)(v);                                                 \
    if (!(cr_v >= (lo) && cr_v <= (hi))) {                                     \
      check_failures++;                                                        \
      fprintf(stderr, "%s:%d: %s = %g, expected in [%g, %g]\n", __FILE__,      \
              __LINE__, #v, cr_v, (double)(lo), (double)(hi));                 \
    } else {                                                                   \
      check_passes++;                                                          \
    }                                                                          \
  } while (0)

/* ---- loop side: the handler ------------------------------------------- */

typedef struct test_ctx {
  uv_loop_t *loop;
  la_http_server *srv;
  uv_async_t done; /* the client thread has finished */
  la_http_request *held[2];
  int holds;        /* /hold requests seen */
  int late_answers; /* held requests answered after the close */
  int deferred_live, closed_calls, start_rc;
  la_http_stats final;
} test_ctx;

typedef struct deferred {
  uv_timer_t timer;
  la_http_request *req;
  test_ctx *ctx;
} deferred;

/* Answers req with its own method, path, query, body and headers. */
static void echo(la_http_request *req) {
  json_t *j =
      json_pack("{s:s,s:i,s:s,s:s,s:s%,s:s,s:s}", "method", req->method_name,
                "method_id", (int)req->method, "path", req->path, "query",
                req->query, "body", req->body, req->body_len, "content_type",
                req->content_type, "authorization", req->authorization);
  la_http_respond_json(req, 200, j);
}

/* Frees a deferred answer once its timer is closed. */
static void deferred_closed(uv_handle_t *h) {
  free(h->data);
}

/* A deferred answer is due. */
static void deferred_fire(uv_timer_t *t) {
  deferred *d = t->data;
  echo(d->req);
  d->ctx->deferred_live--;
  uv_close((uv_handle_t *)t, deferred_closed);
}

/* /defer?ms=N: answer from a timer N ms later. */
static void route_defer(la_http_request *req, test_ctx *t) {
  char ms[16];
  deferred *d = calloc(1, sizeof *d);
  long delay = 0;
  if (la_http_query_get(req, "ms", ms, sizeof ms) == 1)
    delay = strtol(ms, NULL, 10);
  d->req = req;
  d->ctx = t;
  uv_timer_init(t->loop, &d->timer);
  d->timer.data = d;
  t->deferred_live++;
  uv_timer_start(&d->timer, deferred_fire, (uint64_t)delay, 0);
}

/* /stats: the server's counters. */
static void route_stats(la_http_request *req, test_ctx *t) {
  la_http_stats st;
  la_http_server_stats(t->srv, &st);
  la_http_respond_json(
      req, 200,
      json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "requests",
                (json_int_t)st.requests, "c2", (json_int_t)st.by_class[2], "c4",
                (json_int_t)st.by_class[4], "c5", (json_int_t)st.by_class[5],
                "connections", (json_int_t)st.connections, "accepted",
                (json_int_t)st.accepted, "rejected", (json_int_t)st.rejected,
                "evicted", (json_int_t)st.evicted, "refused",
                (json_int_t)st.refused_full, "unauthenticated",
                (json_int_t)st.unauthenticated));
}

/* [rc, value or null] of la_http_query_get(name) with a size-byte buffer. */
static json_t *query_result(la_http_request *req, const char *name,
                            size_t size) {
  char buf[64];
  int rc = la_http_query_get(req, name, buf, size);
  return json_pack("[i,o]", rc, rc == 1 ? json_string(buf) : json_null());
}

/* /q: la_http_query_get for a fixed set of names. */
static void route_query(la_http_request *req) {
  static const char *const names[] = {"a", "b",   "c", "d",
                                      "u", "k y", "z", "missing"};
  json_t *j = json_object();
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    json_object_set_new(j, names[i], query_result(req, names[i], 64));
  json_object_set_new(j, "a/3", query_result(req, "a", 3));
  json_object_set_new(j, "a/4", query_result(req, "a", 4));
  la_http_respond_json(req, 200, j);
}

/* The test server's handler. */
static void handler(la_http_request *req, void *arg) {
  test_ctx *t = arg;
  if (strcmp(req->authorization, "Bearer ok") == 0)
    la_http_request_authenticated(req);
  if (strcmp(req->path, "/defer") == 0) {
    route_defer(req, t);
  } else if (strcmp(req->path, "/hold") == 0) {
    t->held[t->holds++ == 0 ? 0 : 1] = req;
  } else if (strcmp(req->path, "/release") == 0) {
    if (t->held[0] != NULL) echo(t->held[0]);
    t->held[0] = NULL;
    la_http_respond(req, 200, "text/plain", "released", 8);
  } else if (strcmp(req->path, "/stats") == 0) {
    route_stats(req, t);
  } else if (strcmp(req->path, "/q") == 0) {
    route_query(req);
  } else if (strcmp(req->path, "/error") == 0) {
    la_http_respond_error(req, 404, "not_found", "no such thing");
  } else {
    echo(req);
  }
}

/* on_closed of la_http_server_close. */
static void server_closed(void *arg) {
  test_ctx *t = arg;
  t->closed_calls++;
}

/* The client thread is done: close the server, then answer the request
 * still held (its connection is gone, so the answer is dropped). */
static void on_done(uv_async_t *a) {
  test_ctx *t = a->data;
  la_http_server_stats(t->srv, &t->final);
  la_http_server_close(t->srv, server_closed, t);
  t->srv = NULL;
  t->late_answers = (t->held[0] != NULL) + (t->held[1] != NULL);
  for (int i = 0; i < 2; i++) {
    if (t->held[i] != NULL)
      la_http_respond(t->held[i], 200, "text/plain", "x", 1);
    t->held[i] = NULL;
  }
  uv_close((uv_handle_t *)a, NULL);
}

/* ---- client side ------------------------------------------------------- */

typedef struct client {
  int fd;
  size_t len;
  char buf[1 << 16];
} client;

typedef struct response {
  int status;
  char head[8192];
  char body[1 << 16];
  size_t body_len;
} response;

/* Milliseconds on a monotonic clock. */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sleeps ms milliseconds. */
static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A connected client (3 s receive timeout), or NULL. */
static client *connect_client(int port) {
  struct sockaddr_in sa;
  struct timeval tv = {3, 0};
  client *cl = calloc(1, sizeof *cl);
  cl->fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(cl->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "connect: %s\n", strerror(errno));
    close(cl->fd);
    free(cl);
    return NULL;
  }
  return cl;
}

/* Closes and frees a client. */
static void client_close(client *cl) {
  if (cl == NULL) return;
  close(cl->fd);
  free(cl);
}

/* Sends n bytes; 0 or -1. */
static int send_bytes(client *cl, const char *s, size_t n) {
  while (n > 0) {
    ssize_t k = send(cl->fd, s, n, MSG_NOSIGNAL);
    if (k <= 0) return -1;
    s += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Sends a string. */
static int send_str(client *cl, const char *s) {
  return send_bytes(cl, s, strlen(s));
}

/* Reads more into the client's buffer: bytes read, 0 at EOF, -1 error. */
static ssize_t fill(client *cl) {
  ssize_t k;
  if (cl->len >= sizeof cl->buf) return -1;
  k = recv(cl->fd, cl->buf + cl->len, sizeof cl->buf - cl->len, 0);
  if (k > 0) cl->len += (size_t)k;
  return k;
}

/* Offset just past "\r\n\r\n" in the buffer, or 0. */
static size_t head_end(const client *cl) {
  for (size_t i = 0; i + 4 <= cl->len; i++)
    if (memcmp(cl->buf + i, "\r\n\r\n", 4) == 0) return i + 4;
  return 0;
}

/* Value of header name in r (trimmed) into out; 1 if present. */
static int header_get(const response *r, const char *name, char *out,
                      size_t size) {
  size_t nl = strlen(name);
  const char *line = strstr(r->head, "\r\n");
  while (line != NULL && line[2] != '\r' && line[2] != '\0') {
    const char *s = line + 2, *e = strstr(s, "\r\n");
    if (e == NULL) return 0;
    if (strncasecmp(s, name, nl) == 0 && s[nl] == ':') {
      size_t vl;
      s += nl + 1;
      while (*s == ' ')
        s++;
      vl = (size_t)(e - s) < size - 1 ? (size_t)(e - s) : size - 1;
      memcpy(out, s, vl);
      out[vl] = '\0';
      return 1;
    }
    line = e;
  }
  return 0;
}

/* Reads one response (no body for a HEAD request); 0 or -1. */
static int read_response(client *cl, response *r, int head) {
  size_t hl, need;
  long clen = 0;
  char v[64];
  memset(r, 0, sizeof *r);
  while ((hl = head_end(cl)) == 0)
    if (fill(cl) <= 0) return -1;
  memcpy(r->head, cl->buf, hl < sizeof r->head ? hl : sizeof r->head - 1);
  if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1) return -1;
  if (header_get(r, "Content-Length", v, sizeof v)) clen = strtol(v, NULL, 10);
  if (head || r->status < 200 || r->status == 204 || r->status == 304) clen = 0;
  if (clen < 0 || (size_t)clen >= sizeof r->body) return -1;
  need = hl + (size_t)clen;
  while (cl->len < need)
    if (fill(cl) <= 0) return -1;
  memcpy(r->body, cl->buf + hl, (size_t)clen);
  r->body_len = (size_t)clen;
  memmove(cl->buf, cl->buf + need, cl->len - need);
  cl->len -= need;
  return 0;
}

/* 1 when the server closes without sending anything more (*ms: how long it
 * took). */
static int wait_eof(client *cl, double *ms) {
  double t0 = now_ms();
  ssize_t k;
  if (cl->len > 0) return 0;
  k = recv(cl->fd, cl->buf, sizeof cl->buf, 0);
  if (ms != NULL) *ms = now_ms() - t0;
  return k == 0;
}

/* One request on a fresh connection, reading one response. */
static int exchange(int port, const char *raw, response *r) {
  client *cl = connect_client(port);
  int rc;
  if (cl == NULL) return -1;
  rc = send_str(cl, raw) == 0 ? read_response(cl, r, 0) : -1;
  client_close(cl);
  return rc;
}

/* The body of r as JSON (NULL if not JSON). */
static json_t *body_json(const response *r) {
  return json_loadb(r->body, r->body_len, 0, NULL);
}

/* String member key of the JSON body of r ("" if absent); copied into out.
 */
static const char *jfield(const response *r, const char *key, char *out,
                          size_t size) {
  json_t *j = body_json(r);
  const char *s = json_string_value(json_object_get(j, key));
  snprintf(out, size, "%s", s ? s : "");
  json_decref(j);
  return out;
}

/* The "code" of a JSON error body. */
static const char *error_code_of(const response *r, char *out, size_t size) {
  json_t *j = body_json(r);
  const char *s =
      json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  snprintf(out, size, "%s", s ? s : "");
  json_decref(j);
  return out;
}

/* Value of header name of r ("" if absent), in a static-free buffer. */
static const char *hdr(const response *r, const char *name, char *out,
                       size_t size) {
  if (!header_get(r, name, out, size)) out[0] = '\0';
  return out;
}

/* ---- cases --------------------------------------------------------------- */

static long wait_quiet(int port);

/* GET: status, JSON echo, standard headers. */
static void test_simple_get(int port) {
  response *r = malloc(sizeof *r);
  char v[128];
  CHECK_EQ_INT(exchange(port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", r), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK(strncmp(r->head, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK_STR(hdr(r, "Content-Type", v, sizeof v), "application/json");
  CHECK_STR(hdr(r, "Connection", v, sizeof v), "keep-alive");
  hdr(r, "Date", v, sizeof v);
  CHECK_EQ_INT(strlen(v), 29);
  CHECK(v[3] == ',' && strcmp(v + 25, " GMT") == 0);
  CHECK_STR(jfield(r, "method", v, sizeof v), "GET");
  CHECK_STR(jfield(r, "path", v, sizeof v), "/hello");
  CHECK_STR(jfield(r, "query", v, sizeof v), "");
  CHECK_STR(jfield(r, "body", v, sizeof v), "");
  free(r);
}

/* POST with a Content-Length body and the kept headers. */
static void test_post_body(int port) {
  response *r = malloc(sizeof *r);
  char v[128];
  CHECK_EQ_INT(exchange(port,
                        "POST /submit HTTP/1.1\r\nHost: t\r\n"
                        "content-type: text/plain\r\n"
                        "Authorization: Bearer abc\r\n"
                        "X-Other: ignored\r\n"
                        "X-A-Header-Name-Longer-Than-Thirty-Two: y\r\n"
                        "Content-Length: 11\r\n\r\n"
                        "hello world",
                        r),
               0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_STR(jfield(r, "method", v, sizeof v), "POST");
  CHECK_STR(jfield(r, "body", v, sizeof v), "hello world");
  CHECK_STR(jfield(r, "content_type", v, sizeof v), "text/plain");
  CHECK_STR(jfield(r, "authorization", v, sizeof v), "Bearer abc");
  free(r);
}

/* Chunked body, sent in pieces. */
static void test_chunked(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  char v[128];
  send_str(cl, "PUT /c HTTP/1.1\r\nHost: t\r\n"
               "Transfer-Encoding: chunked\r\n\r\n5\r\nhel");
  sleep_ms(20);
  send_str(cl, "lo\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_STR(jfield(r, "method", v, sizeof v), "PUT");
  CHECK_STR(jfield(r, "body", v, sizeof v), "hello world");
  client_close(cl);
  free(r);
}

/* Three requests one after the other on one connection. */
static void test_keep_alive(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  char v[128], path[16];
  for (int i = 0; i < 3; i++) {
    char req[128];
    snprintf(req, sizeof req, "GET /k%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
    snprintf(path, sizeof path, "/k%d", i);
    CHECK_EQ_INT(send_str(cl, req), 0);
    CHECK_EQ_INT(read_response(cl, r, 0), 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK_STR(hdr(r, "Connection", v, sizeof v), "keep-alive");
    CHECK_STR(jfield(r, "path", v, sizeof v), path);
  }
  client_close(cl);
  free(r);
}

/* Four requests in one write (a deferred one first, Content-Length and
 * chunked bodies) are answered in order. */
static void test_pipelining(int port) {
  static const char *const paths[] = {"/defer", "/p2", "/p3", "/p4"};
  static const char *const bodies[] = {"", "hello", "abc", ""};
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  char v[128];
  CHECK_EQ_INT(
      send_str(cl, "GET /defer?ms=80 HTTP/1.1\r\nHost: t\r\n\r\n"
                   "POST /p2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                   "POST /p3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\n0\r\n\r\n"
                   "GET /p4?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"),
      0);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ_INT(read_response(cl, r, 0), 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK_STR(jfield(r, "path", v, sizeof v), paths[i]);
    CHECK_STR(jfield(r, "body", v, sizeof v), bodies[i]);
  }
  client_close(cl);
  free(r);
}

/* Method names and our enum for them. */
static void test_methods(int port) {
  static const char *const names[] = {"DELETE", "PATCH", "OPTIONS", "PROPFIND"};
  static const int ids[] = {LA_HTTP_DELETE, LA_HTTP_PATCH, LA_HTTP_OPTIONS,
                            LA_HTTP_OTHER};
  response *r = malloc(sizeof *r);
  char v[128], req[128];
  for (int i = 0; i < 4; i++) {
    json_t *j;
    snprintf(req, sizeof req, "%s /m HTTP/1.1\r\nHost: t\r\n\r\n", names[i]);
    CHECK_EQ_INT(exchange(port, req, r), 0);
    CHECK_STR(jfield(r, "method", v, sizeof v), names[i]);
    j = body_json(r);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "method_id")), ids[i]);
    json_decref(j);
  }
  free(r);
}

/* A client that half-closes after its request still gets the answer (also
 * a deferred one), then EOF. */
static void test_half_close(int port) {
  static const char *const reqs[] = {
      "GET /half HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /defer?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n"};
  response *r = malloc(sizeof *r);
  for (int i = 0; i < 2; i++) {
    client *cl = connect_client(port);
    send_str(cl, reqs[i]);
    shutdown(cl->fd, SHUT_WR);
    CHECK_EQ_INT(read_response(cl, r, 0), 0);
    CHECK_EQ_INT(r->status, 200);
    CHECK(wait_eof(cl, NULL));
    client_close(cl);
  }
  free(r);
}

/* Fifty requests in one write, answered in order. */
static void test_pipeline_burst(int port) {
  enum { N = 50 };
  char *all = malloc(N * 64), path[16], v[128] = "";
  size_t n = 0;
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  for (int i = 0; i < N; i++)
    n += (size_t)snprintf(all + n, N * 64 - n,
                          "GET /n%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
  CHECK_EQ_INT(send_bytes(cl, all, n), 0);
  for (int i = 0; i < N; i++) {
    snprintf(path, sizeof path, "/n%d", i);
    if (read_response(cl, r, 0) != 0 ||
        strcmp(jfield(r, "path", v, sizeof v), path) != 0) {
      CHECK_STR(v, path);
      break;
    }
  }
  CHECK_EQ_INT(cl->len, 0);
  client_close(cl);
  free(all);
  free(r);
}

/* HTTP/1.0 closes unless it asks for keep-alive. */
static void test_http10(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  char v[128];
  send_str(cl, "GET /old HTTP/1.0\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_STR(hdr(r, "Connection", v, sizeof v), "close");
  CHECK(wait_eof(cl, NULL));
  client_close(cl);
  cl = connect_client(port);
  send_str(cl, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_STR(hdr(r, "Connection", v, sizeof v), "keep-alive");
  send_str(cl, "GET /again HTTP/1.0\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_STR(jfield(r, "path", v, sizeof v), "/again");
  CHECK(wait_eof(cl, NULL));
  client_close(cl);
  free(r);
}

/* Connection: close is honoured. */
static void test_connection_close(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  char v[128];
  send_str(cl, "GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_STR(hdr(r, "Connection", v, sizeof v), "close");
  CHECK(wait_eof(cl, NULL));
  client_close(cl);
  free(r);
}

/* HEAD: Content-Length but no body (the next response parses cleanly). */
static void test_head(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  char v[128];
  send_str(cl, "HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 1), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK(strtol(hdr(r, "Content-Length", v, sizeof v), NULL, 10) > 0);
  send_str(cl, "GET /h2 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_STR(jfield(r, "path", v, sizeof v), "/h2");
  client_close(cl);
  free(r);
}

/* The path is percent-decoded, the query kept raw; bad escapes are 400. */
static void test_percent_path(int port) {
  static const char *const bad[] = {"/a%zz", "/a%00b", "/a%2", "/a%"};
  response *r = malloc(sizeof *r);
  char v[128], req[128];
  CHECK_EQ_INT(exchange(port,
                        "GET /p/a%20b/%C3%A9%2f+?x=%20y&z#frag HTTP/1.1\r\n"
                        "Host: t\r\n\r\n",
                        r),
               0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_STR(jfield(r, "path", v, sizeof v), "/p/a b/\xC3\xA9/+");
  CHECK_STR(jfield(r, "query", v, sizeof v), "x=%20y&z");
  CHECK_EQ_INT(exchange(port, "GET http://h:1/abs?q=1 HTTP/1.1\r\n\r\n", r), 0);
  CHECK_STR(jfield(r, "path", v, sizeof v), "/abs");
  CHECK_STR(jfield(r, "query", v, sizeof v), "q=1");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", bad[i]);
    CHECK_EQ_INT(exchange(port, req, r), 0);
    CHECK_EQ_INT(r->status, 400);
    CHECK_STR(error_code_of(r, v, sizeof v), "bad_request");
  }
  free(r);
}

/* Checks one [rc, value] pair of the /q answer. */
static void check_query(json_t *j, const char *key, int rc, const char *val) {
  json_t *e = json_object_get(j, key);
  const char *s = json_string_value(json_array_get(e, 1));
  CHECK_EQ_INT(json_integer_value(json_array_get(e, 0)), rc);
  if (val != NULL)
    CHECK_STR(s, val);
  else
    CHECK(s == NULL);
}

/* la_http_query_get: decoding, absent, malformed, too small. */
static void test_query_get(int port) {
  response *r = malloc(sizeof *r);
  json_t *j;
  CHECK_EQ_INT(exchange(port,
                        "GET /q?a=1%202&b=x+y&c=%zz&d&u=%E2%82%AC&k%20y=v"
                        "&z=%00&a=second HTTP/1.1\r\nHost: t\r\n\r\n",
                        r),
               0);
  CHECK_EQ_INT(r->status, 200);
  j = body_json(r);
  CHECK(j != NULL);
  check_query(j, "a", 1, "1 2");
  check_query(j, "b", 1, "x y");
  check_query(j, "c", LA_EINVAL, NULL);
  check_query(j, "d", 1, "");
  check_query(j, "u", 1, "\xE2\x82\xAC");
  check_query(j, "k y", 1, "v");
  check_query(j, "z", LA_EINVAL, NULL);
  check_query(j, "missing", 0, NULL);
  check_query(j, "a/3", LA_EINVAL, NULL);
  check_query(j, "a/4", 1, "1 2");
  json_decref(j);
  free(r);
}

/* A malformed request line is 400 and closed; others are still served. */
static void test_malformed(int port) {
  response *r = malloc(sizeof *r);
  client *other = connect_client(port), *cl = connect_client(port);
  char v[128];
  send_str(cl, "HELLO WORLD\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 400);
  CHECK_STR(hdr(r, "Connection", v, sizeof v), "close");
  CHECK_STR(hdr(r, "Content-Type", v, sizeof v), "application/json");
  CHECK_STR(error_code_of(r, v, sizeof v), "bad_request");
  CHECK(wait_eof(cl, NULL));
  send_str(other, "GET /still HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_response(other, r, 0), 0);
  CHECK_EQ_INT(r->status, 200);
  client_close(other);
  /* cl never closes: the server's linger deadline closes its side */
  CHECK_EQ_INT(wait_quiet(port), 1);
  client_close(cl);
  CHECK_EQ_INT(exchange(port,
                        "GET /x HTTP/1.1\r\nContent-Type: a\r\n"
                        "content-type: b\r\n\r\n",
                        r),
               0);
  CHECK_EQ_INT(r->status, 400);
  CHECK_EQ_INT(exchange(port,
                        "GET /x HTTP/1.1\r\nContent-Length: 1\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n",
                        r),
               0);
  CHECK_EQ_INT(r->status, 400);
  free(r);
}

/* A body over max_body_bytes is 413 (Content-Length and chunked). */
static void test_body_limit(int port) {
  response *r = malloc(sizeof *r);
  char *big = malloc(MAX_BODY + 1000), v[128];
  client *cl = connect_client(port);
  memset(big, 'b', MAX_BODY + 1000);
  send_str(cl, "POST /big HTTP/1.1\r\nContent-Length: 5096\r\n\r\n");
  send_bytes(cl, big, MAX_BODY + 1000);
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 413);
  CHECK_STR(error_code_of(r, v, sizeof v), "payload_too_large");
  CHECK(wait_eof(cl, NULL));
  client_close(cl);
  cl = connect_client(port);
  send_str(cl, "POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "BB8\r\n");
  send_bytes(cl, big, 3000);
  send_str(cl, "\r\nBB8\r\n");
  send_bytes(cl, big, 3000);
  send_str(cl, "\r\n0\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 413);
  CHECK(wait_eof(cl, NULL));
  client_close(cl);
  free(big);
  free(r);
}

/* An absurd Content-Length is 413 at once, without waiting for a body. */
static void test_huge_content_length(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  char v[128];
  double t0 = now_ms();
  send_str(cl, "POST /huge HTTP/1.1\r\nHost: t\r\n"
               "Content-Length: 99999999999999\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_RANGE(now_ms() - t0, 0, 100);
  CHECK_EQ_INT(r->status, 413);
  CHECK_STR(error_code_of(r, v, sizeof v), "payload_too_large");
  CHECK(wait_eof(cl, NULL));
  client_close(cl);
  free(r);
}

/* Headers over max_header_bytes are 431 (one big one, or many small). */
static void test_header_limit(int port) {
  response *r = malloc(sizeof *r);
  size_t cap = 3 * MAX_HEADER;
  char *req = malloc(cap), v[128];
  size_t n = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nX-Big: ");
  memset(req + n, 'a', MAX_HEADER + 100);
  n += MAX_HEADER + 100;
  snprintf(req + n, cap - n, "\r\n\r\n");
  CHECK_EQ_INT(exchange(port, req, r), 0);
  CHECK_EQ_INT(r->status, 431);
  CHECK(strstr(r->head, "431 Request Header Fields Too Large") != NULL);
  CHECK_STR(error_code_of(r, v, sizeof v), "header_too_large");
  n = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\n");
  for (int i = 0; n + 32 < cap && i < 300; i++)
    n += (size_t)snprintf(req + n, cap - n, "X-H%d: v\r\n", i);
  snprintf(req + n, cap - n, "\r\n");
  CHECK_EQ_INT(exchange(port, req, r), 0);
  CHECK_EQ_INT(r->status, 431);
  free(req);
  free(r);
}

typedef struct loris {
  int port, status;
  double ms;     /* first byte sent to the response */
  double t_resp; /* now_ms() when the response came */
  char code[64];
  int eof;
} loris;

/* A slow-loris client: one header byte every 100 ms until answered. */
static void *loris_main(void *arg) {
  static const char req[] = "GET /slow HTTP/1.1\r\nHost: t\r\nX-Pad: "
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  loris *l = arg;
  response *r = malloc(sizeof *r);
  client *cl = connect_client(l->port);
  double t0 = now_ms();
  struct pollfd pfd = {cl->fd, POLLIN, 0};
  for (size_t i = 0; i < sizeof req - 1; i++) {
    if (send_bytes(cl, req + i, 1) != 0 || poll(&pfd, 1, 100) != 0) break;
  }
  l->ms = now_ms() - t0;
  l->t_resp = now_ms();
  if (read_response(cl, r, 0) == 0) {
    l->status = r->status;
    error_code_of(r, l->code, sizeof l->code);
    l->eof = wait_eof(cl, NULL);
  }
  client_close(cl);
  free(r);
  return NULL;
}

/* The slow client gets 408 at the deadline; a normal client meanwhile is
 * served before it (not held until the slow one is cut off). */
static void test_slow_loris(int port) {
  loris l = {port, 0, 0, 0, "", 0};
  pthread_t th;
  response *r = malloc(sizeof *r);
  double fast_done;
  pthread_create(&th, NULL, loris_main, &l);
  sleep_ms(150);
  CHECK_EQ_INT(exchange(port, "GET /fast HTTP/1.1\r\nHost: t\r\n\r\n", r), 0);
  fast_done = now_ms();
  CHECK_EQ_INT(r->status, 200);
  pthread_join(th, NULL);
  CHECK(fast_done < l.t_resp);
  CHECK_EQ_INT(l.status, 408);
  CHECK_STR(l.code, "request_timeout");
  CHECK_RANGE(l.ms, REQUEST_TIMEOUT_MS - 50, REQUEST_TIMEOUT_MS + 400);
  CHECK(l.eof);
  free(r);
}

/* An idle keep-alive connection is closed silently after the timeout. */
static void test_idle_timeout(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  double ms = 0;
  send_str(cl, "GET /idle HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK(wait_eof(cl, &ms));
  CHECK_RANGE(ms, IDLE_TIMEOUT_MS - 50, IDLE_TIMEOUT_MS + 500);
  client_close(cl);
  free(r);
}

/* Polls /stats until only the asking connection is open; returns that
 * count (1 on success). */
static long wait_quiet(int port) {
  response *r = malloc(sizeof *r);
  long n = -1;
  for (int i = 0; i < 100 && n != 1; i++) {
    if (i > 0) sleep_ms(20);
    if (exchange(port, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", r) == 0) {
      json_t *j = body_json(r);
      n = (long)json_integer_value(json_object_get(j, "connections"));
      json_decref(j);
    }
  }
  free(r);
  return n;
}

/* Past max_connections, all authenticated, a client gets 503 and is
 * closed. */
static void test_max_connections(int port) {
  response *r = malloc(sizeof *r);
  client *cl[MAX_CONNECTIONS], *extra;
  char v[128];
  CHECK_EQ_INT(wait_quiet(port), 1);
  for (int i = 0; i < MAX_CONNECTIONS; i++) {
    cl[i] = connect_client(port);
    send_str(cl[i], "GET /c HTTP/1.1\r\nHost: t\r\n"
                    "Authorization: Bearer ok\r\n\r\n");
    CHECK_EQ_INT(read_response(cl[i], r, 0), 0);
  }
  extra = connect_client(port);
  send_str(extra, "GET /extra HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_response(extra, r, 0), 0);
  CHECK_EQ_INT(r->status, 503);
  CHECK_STR(error_code_of(r, v, sizeof v), "unavailable");
  CHECK_STR(hdr(r, "Connection", v, sizeof v), "close");
  CHECK(wait_eof(extra, NULL));
  client_close(extra);
  for (int i = 0; i < MAX_CONNECTIONS; i++)
    client_close(cl[i]);
  CHECK_EQ_INT(wait_quiet(port), 1);
  CHECK_EQ_INT(exchange(port, "GET /after HTTP/1.1\r\n\r\n", r), 0);
  CHECK_EQ_INT(r->status, 200);
  free(r);
}

/* A response given later from a timer arrives. */
static void test_deferred(int port) {
  response *r = malloc(sizeof *r);
  char v[128];
  double t0 = now_ms();
  CHECK_EQ_INT(
      exchange(port, "GET /defer?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n", r), 0);
  CHECK_RANGE(now_ms() - t0, 140, 1000);
  CHECK_EQ_INT(r->status, 200);
  CHECK_STR(jfield(r, "path", v, sizeof v), "/defer");
  CHECK_STR(jfield(r, "query", v, sizeof v), "ms=150");
  free(r);
}

/* The client leaves before its deferred response: nothing breaks. */
static void test_client_gone_deferred(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  send_str(cl, "GET /defer?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n");
  client_close(cl);
  sleep_ms(200);
  CHECK_EQ_INT(exchange(port, "GET /alive HTTP/1.1\r\n\r\n", r), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_EQ_INT(wait_quiet(port), 1);
  free(r);
}

/* A held request answered after its client has gone; another held until
 * the server closes (answered then, and dropped). */
static void test_hold(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  send_str(cl, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
  sleep_ms(50);
  client_close(cl);
  sleep_ms(50);
  CHECK_EQ_INT(exchange(port, "GET /release HTTP/1.1\r\n\r\n", r), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK(r->body_len == 8 && memcmp(r->body, "released", 8) == 0);
  CHECK_EQ_INT(wait_quiet(port), 1);
  cl = connect_client(port);
  send_str(cl, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
  sleep_ms(50);
  client_close(cl);
  free(r);
}

/* The /stats counters as a JSON object (caller decrefs). */
static json_t *get_stats(client *cl) {
  response *r = malloc(sizeof *r);
  json_t *j = NULL;
  if (send_str(cl, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n") == 0 &&
      read_response(cl, r, 0) == 0)
    j = body_json(r);
  free(r);
  return j;
}

/* Difference of one counter between two /stats answers. */
static long delta(json_t *a, json_t *b, const char *key) {
  return (long)(json_integer_value(json_object_get(b, key)) -
                json_integer_value(json_object_get(a, key)));
}

/* Counters move as requests are answered and rejected. */
static void test_stats(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port), *two;
  json_t *a = get_stats(cl), *b;
  two = connect_client(port);
  send_str(two, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  read_response(two, r, 0);
  read_response(two, r, 0);
  client_close(two);
  exchange(port, "NOPE\r\n\r\n", r);
  exchange(port, "GET /error HTTP/1.1\r\n\r\n", r);
  CHECK_EQ_INT(r->status, 404);
  exchange(port, "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", r);
  b = get_stats(cl);
  CHECK(a != NULL && b != NULL);
  CHECK_EQ_INT(delta(a, b, "requests"), 6);
  CHECK_EQ_INT(delta(a, b, "c2"), 3);
  CHECK_EQ_INT(delta(a, b, "c4"), 3);
  CHECK_EQ_INT(delta(a, b, "c5"), 0);
  CHECK_EQ_INT(delta(a, b, "rejected"), 2);
  CHECK_EQ_INT(delta(a, b, "accepted"), 4);
  json_decref(a);
  json_decref(b);
  client_close(cl);
  free(r);
}

/* The /stats counters asked on cl with the authenticating header. */
static json_t *auth_stats(client *cl) {
  response *r = malloc(sizeof *r);
  json_t *j = NULL;
  if (send_str(cl, "GET /stats HTTP/1.1\r\nAuthorization: Bearer ok\r\n\r\n") ==
          0 &&
      read_response(cl, r, 0) == 0)
    j = body_json(r);
  free(r);
  return j;
}

/* Past max_connections with unauthenticated ones open, the newcomer is
 * served and the oldest unauthenticated connection is closed instead; the
 * authenticated ones are never chosen. */
static void test_evict(int port) {
  response *r = malloc(sizeof *r);
  client *cl[MAX_CONNECTIONS - 1], *extra, *probe = connect_client(port);
  json_t *a = NULL, *b;
  long open = -1;
  for (int i = 0; i < 100 && open != 1; i++) { /* only the probe is open */
    if (i > 0) sleep_ms(20);
    json_decref(a);
    a = auth_stats(probe);
    open = (long)json_integer_value(json_object_get(a, "connections"));
  }
  CHECK_EQ_INT(open, 1);
  for (int i = 0; i < MAX_CONNECTIONS - 1; i++) {
    cl[i] = connect_client(port);
    send_str(cl[i], i == 0
                        ? "GET /c HTTP/1.1\r\nAuthorization: Bearer ok\r\n\r\n"
                        : "GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_EQ_INT(read_response(cl[i], r, 0), 0);
  }
  extra = connect_client(port);
  send_str(extra, "GET /extra HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_response(extra, r, 0), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK(wait_eof(cl[1], NULL)); /* the oldest unauthenticated one */
  send_str(cl[0], "GET /still HTTP/1.1\r\n\r\n");
  CHECK_EQ_INT(read_response(cl[0], r, 0), 0);
  CHECK_EQ_INT(r->status, 200);
  b = auth_stats(probe);
  CHECK(a != NULL && b != NULL);
  CHECK_EQ_INT(delta(a, b, "evicted"), 1);
  CHECK_EQ_INT(delta(a, b, "refused"), 0);
  CHECK_EQ_INT(json_integer_value(json_object_get(b, "unauthenticated")),
               MAX_CONNECTIONS - 2);
  json_decref(a);
  json_decref(b);
  client_close(extra);
  client_close(probe);
  for (int i = 0; i < MAX_CONNECTIONS - 1; i++)
    client_close(cl[i]);
  CHECK_EQ_INT(wait_quiet(port), 1);
  free(r);
}

/* Expect: 100-continue gets the interim answer before the body is sent. */
static void test_expect_continue(int port) {
  response *r = malloc(sizeof *r);
  client *cl = connect_client(port);
  char v[128];
  send_str(cl, "POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
               "Content-Length: 3\r\n\r\n");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 100);
  send_str(cl, "abc");
  CHECK_EQ_INT(read_response(cl, r, 0), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_STR(jfield(r, "body", v, sizeof v), "abc");
  client_close(cl);
  free(r);
}

typedef struct client_args {
  int port;
  test_ctx *ctx;
} client_args;

/* Runs one case, printing its name and whether its checks passed. */
static void run_case(const char *name, void (*fn)(int), int port) {
  int before = check_failures;
  double t0 = now_ms();
  fn(port);
  printf("%-28s %s (%.0f ms)\n", name, check_failures == before ? "ok" : "FAIL",
         now_ms() - t0);
  fflush(stdout);
}

/* The client thread: every case, then tells the loop to close. */
static void *client_main(void *arg) {
  client_args *a = arg;
  int p = a->port;
  run_case("simple GET", test_simple_get, p);
  run_case("POST body", test_post_body, p);
  run_case("chunked body", test_chunked, p);
  run_case("keep-alive", test_keep_alive, p);
  run_case("pipelining", test_pipelining, p);
  run_case("pipeline burst (50)", test_pipeline_burst, p);
  run_case("methods", test_methods, p);
  run_case("half-closed client", test_half_close, p);
  run_case("HTTP/1.0", test_http10, p);
  run_case("Connection: close", test_connection_close, p);
  run_case("HEAD", test_head, p);
  run_case("percent-decoded path", test_percent_path, p);
  run_case("la_http_query_get", test_query_get, p);
  run_case("malformed request", test_malformed, p);
  run_case("body over limit", test_body_limit, p);
  run_case("huge Content-Length", test_huge_content_length, p);
  run_case("headers over limit", test_header_limit, p);
  run_case("Expect: 100-continue", test_expect_continue, p);
  run_case("slow loris", test_slow_loris, p);
  run_case("idle timeout", test_idle_timeout, p);
  run_case("deferred response", test_deferred, p);
  run_case("client gone (deferred)", test_client_gone_deferred, p);
  run_case("max connections", test_max_connections, p);
  run_case("eviction of the unauthenticated", test_evict, p);
  run_case("stats", test_stats, p);
  run_case("held, client gone", test_hold, p);
  uv_async_send(&a->ctx->done);
  return NULL;
}

/* ---- main ---------------------------------------------------------------- */

/* Start errors: bad port, address in use; "localhost" works. */
static void test_start_errors(uv_loop_t *loop, int port, test_ctx *t) {
  la_http_server *s = NULL;
  la_err err = {""};
  CHECK_EQ_INT(la_http_server_start(loop, "127.0.0.1", 70000, NULL, handler, t,
                                    &s, &err),
               LA_EINVAL);
  CHECK_EQ_INT(
      la_http_server_start(loop, "127.0.0.1", port, NULL, handler, t, &s, &err),
      LA_EIO);
  CHECK(strstr(err.msg, "address already in use") != NULL);
  CHECK(s == NULL);
  CHECK_EQ_INT(
      la_http_server_start(loop, "localhost", 0, NULL, handler, t, &s, &err),
      0);
  if (s != NULL) {
    CHECK(la_http_server_port(s) > 0);
    la_http_server_close(s, server_closed, t);
  }
  for (int i = 0; i < 100 && t->closed_calls == 0; i++)
    uv_run(loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(t->closed_calls, 1);
  t->closed_calls = 0;
}

/* Starts the server, runs the client thread's cases against it, closes it
 * and checks everything was released. */
int main(void) {
  uv_loop_t loop;
  test_ctx t;
  la_err err = {""};
  la_http_limits lim = {MAX_HEADER,
                        MAX_BODY,
                        REQUEST_TIMEOUT_MS,
                        IDLE_TIMEOUT_MS,
                        MAX_CONNECTIONS,
                        0,
                        0,
                        0,
                        0};
  client_args args;
  pthread_t th;
  int rc;
  memset(&t, 0, sizeof t);
  uv_loop_init(&loop);
  t.loop = &loop;
  rc = la_http_server_start(&loop, "127.0.0.1", 0, &lim, handler, &t, &t.srv,
                            &err);
  CHECK_EQ_INT(rc, 0);
  if (rc != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return check_summary();
  }
  args.port = la_http_server_port(t.srv);
  args.ctx = &t;
  CHECK(args.port > 0);
  test_start_errors(&loop, args.port, &t);
  uv_async_init(&loop, &t.done, on_done);
  t.done.data = &t;
  pthread_create(&th, NULL, client_main, &args);
  uv_run(&loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK_EQ_INT(t.closed_calls, 1);
  CHECK_EQ_INT(t.deferred_live, 0);
  CHECK_EQ_INT(t.holds, 2);
  CHECK_EQ_INT(t.late_answers, 1);
  CHECK(t.final.accepted > 0 && t.final.rejected > 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  return check_summary();
}
