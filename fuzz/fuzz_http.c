/*
 * fuzz_http.c: libFuzzer target for the daemon's HTTP server
 * (daemon/net/http.c: http-parser callbacks, limits, pipelining, chunked
 * bodies, responses).
 *
 * One server runs on a libuv loop in this process (its listener bound to
 * 127.0.0.1 port 0, never used). Each input is one client connection: a
 * socketpair whose one end the server adopts (la_http_server_adopt). The
 * first input byte picks how the rest is cut into writes (1..256 bytes, or
 * all at once when 0), so requests also arrive split across reads. The
 * loop runs between writes; after the last one the client shuts down its
 * write side and reads until the server closes.
 *
 * A request with any Authorization header authenticates its connection
 * (la_http_request_authenticated), so both kinds of connection are fuzzed.
 * Handler routes: /defer answers from a zero timer (a pipelined request
 * then waits in the server's buffer), /q reads query parameters, anything
 * else echoes method, path and body size. The limits are small (2 KiB of
 * headers, 4 KiB of body) so the 413 and 431 paths are reached quickly.
 *
 * A finding: any sanitizer report, a leak, a response that is not
 * HTTP/1.1, or a connection the server keeps open after the client's EOF
 * (abort after LOOP_TURNS loop turns).
 */
#include "net/http.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOOP_TURNS 100000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A request answered later from a timer. */
typedef struct deferred {
  uv_timer_t timer;
  la_http_request *req;
} deferred;

static uv_loop_t *loop;
static la_http_server *srv;

/* Frees a deferred answer once its timer is closed. */
static void on_deferred_closed(uv_handle_t *h) {
  free(h->data);
}

/* Answers a deferred request. */
static void on_deferred(uv_timer_t *t) {
  deferred *d = t->data;
  la_http_respond(d->req, 200, "text/plain", "late", 4);
  uv_close((uv_handle_t *)&d->timer, on_deferred_closed);
}

/* The test handler (see the routes above). */
static void handler(la_http_request *req, void *ctx) {
  char a[64], b[64], body[256];
  int n;
  (void)ctx;
  if (req->authorization[0] != '\0') la_http_request_authenticated(req);
  if (strcmp(req->path, "/defer") == 0) {
    deferred *d = malloc(sizeof *d);
    if (d == NULL) abort();
    d->req = req;
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_deferred, 0, 0);
    return;
  }
  if (strcmp(req->path, "/q") == 0) {
    int ra = la_http_query_get(req, "a", a, sizeof a);
    int rb = la_http_query_get(req, "b c", b, sizeof b);
    la_http_respond_json(
        req, 200,
        json_pack("{s:i,s:i,s:s}", "a", ra, "b", rb, "v", ra == 1 ? a : ""));
    return;
  }
  if (strcmp(req->path, "/err") == 0) {
    la_http_respond_error(req, 422, "invalid_spec", req->content_type);
    return;
  }
  n = snprintf(body, sizeof body, "%s %.100s %zu %zu", req->method_name,
               req->path, req->body_len, strlen(req->authorization));
  la_http_respond(req, 200, "text/plain", body, (size_t)n);
}

/* The loop and the server, once per process. */
static void setup(void) {
  la_http_limits lim;
  la_err err;
  la_http_limits_default(&lim);
  lim.max_header_bytes = 2048;
  lim.max_body_bytes = 4096;
  lim.request_timeout_ms = 60000;
  lim.idle_timeout_ms = 60000;
  loop = uv_default_loop();
  if (la_http_server_start(loop, "127.0.0.1", 0, &lim, handler, NULL, &srv,
                           &err) != 0) {
    fprintf(stderr, "fuzz_http: %s\n", err.msg);
    abort();
  }
}

/* Reads what the server sent so far into *got (grows); 1 at EOF. */
static int drain(int fd, char **got, size_t *len, size_t *cap) {
  for (;;) {
    ssize_t n;
    if (*cap - *len < 4096) {
      size_t nc = *cap ? *cap * 2 : 8192;
      char *p = realloc(*got, nc);
      if (p == NULL) abort();
      *got = p, *cap = nc;
    }
    n = read(fd, *got + *len, *cap - *len);
    if (n > 0) {
      *len += (size_t)n;
      continue;
    }
    if (n == 0) return 1;
    if (errno == EAGAIN || errno == EINTR) return 0;
    return 1; /* ECONNRESET and the like: the server has gone */
  }
}

/* Writes data[0..size) in pieces of step bytes (0: at once), running the
 * loop in between and reading the answers. */
static void send_all(int fd, const uint8_t *data, size_t size, size_t step,
                     char **got, size_t *len, size_t *cap) {
  size_t off = 0;
  int turns = 0;
  while (off < size && turns++ < LOOP_TURNS) {
    size_t want = step == 0 || size - off < step ? size - off : step;
    ssize_t n = write(fd, data + off, want);
    if (n > 0)
      off += (size_t)n;
    else if (n < 0 && errno != EAGAIN && errno != EINTR)
      return; /* the server closed the connection (e.g. after 431) */
    uv_run(loop, UV_RUN_NOWAIT);
    if (drain(fd, got, len, cap)) return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int sv[2], eof = 0, turns = 0;
  char *got = NULL;
  size_t len = 0, cap = 0, step;
  la_err err;
  if (loop == NULL) setup();
  if (size == 0) return 0;
  step = data[0];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) abort();
  if (la_http_server_adopt(srv, sv[0], &err) != 0) {
    fprintf(stderr, "fuzz_http: %s\n", err.msg);
    abort();
  }
  send_all(sv[1], data + 1, size - 1, step, &got, &len, &cap);
  shutdown(sv[1], SHUT_WR);
  while (!eof && turns++ < LOOP_TURNS) {
    uv_run(loop, UV_RUN_NOWAIT);
    eof = drain(sv[1], &got, &len, &cap);
  }
  uv_run(loop, UV_RUN_NOWAIT); /* close callbacks: free the connection */
  close(sv[1]);
  if (!eof) {
    fprintf(stderr, "fuzz_http: the server kept the connection open\n");
    abort();
  }
  if (len > 0 && (len < 9 || memcmp(got, "HTTP/1.1 ", 9) != 0)) {
    fprintf(stderr, "fuzz_http: the answer is not HTTP/1.1: %.40s\n", got);
    abort();
  }
  free(got);
  return 0;
}
