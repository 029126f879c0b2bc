/*
 * http.c: the daemon's HTTP/1.1 server on libuv and http-parser (see
 * loralpha/http.h for the contract).
 *
 * Each connection owns a stream handle (TCP, or a Unix socket whose peer's
 * uid the kernel reports) and a timer and is in one state:
 *   ST_READ     reading and parsing; c->req is the request being received
 *               (request deadline running) or NULL (idle deadline running);
 *   ST_PENDING  a complete request is with the handler; reading is stopped
 *               and unparsed bytes are held in c->rest (pipelining);
 *   ST_RESUME   answered; a zero timer will parse c->rest (never from inside
 *               la_http_respond, so the handler is not re-entered);
 *   ST_WAIT     answered, but more than WRITE_BACKLOG bytes of answers are
 *               still unsent (a client that pipelines and does not read):
 *               reading and parsing wait until the writes drain, or the
 *               connection closes at the idle deadline;
 *   ST_DRAIN    a final response is queued: the write side is shut down
 *               after it, what the client still sends is discarded, and the
 *               connection closes at EOF or at the linger deadline;
 *   ST_CLOSED   uv_close called; memory is freed in the close callbacks.
 *
 * Admission (on_connection, la_http_server_adopt): a new connection is
 * counted against its listener's budget (tcp_open or unix_open) and its
 * peer's count (struct peer, in a tsearch tree keyed by TCP address, IPv6
 * /64 or Unix uid). A TCP connection starts unauthenticated: it is on the
 * server's and its peer's unauthenticated lists (oldest first), every
 * request, idle or wait deadline armed while it is (arm()) ends no later
 * than c->deadline, its accept time plus unauth_timeout_ms, and its linger
 * (linger_ms) is at most unauth_timeout_ms. la_http_request_authenticated
 * takes it off both lists for good. When a limit is reached the oldest
 * unauthenticated connection of the peer (or of the server) is closed to
 * make room; with none to close the newcomer is refused: answered 503 and
 * closed after a short linger (at most REFUSED_LINGER of those at once, the
 * rest closed without an answer), never counted in a budget. A listener
 * accepts at most ACCEPT_BURST connections between two turns of the loop
 * (on_turn), so reads are never starved by a flood of connections.
 *
 * Parser callbacks only record (they never write or close): a callback that
 * rejects the request sets c->err_status and returns STOP, and feed() answers
 * once http_parser_execute has returned. on_message_complete pauses the
 * parser so the request boundary is exact.
 */
#define _GNU_SOURCE /* struct ucred */
#include "net/http.h"

#include "loralpha/json_text.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <http_parser.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAGIC 0x6c615271u
#define FIELD_MAX 32        /* longest header name we need to recognise */
#define LINE_OVERHEAD 16    /* method, spaces, version and CRLF */
#define HEADER_OVERHEAD 4   /* ": " and CRLF per header */
#define WRITE_BACKLOG 65536 /* unsent answer bytes before parsing waits */
#define REFUSED_LINGER 64   /* refused connections lingering for their 503 */
#define ACCEPT_BURST 32     /* accepts per listener before reads get a turn */
#define PEER_KEY 17         /* a peer's kind byte and up to 16 bytes */
#define STOP -1 /* a parser callback's non-zero: http_parser stops there */

/* A growable, always NUL-terminated byte buffer. */
typedef struct dynbuf {
  char *p;
  size_t len, cap;
} dynbuf;

/* The headers we keep (Expect only to answer 100-continue). */
enum { H_CTYPE, H_AUTH, H_CONN, H_EXPECT, H_COUNT, H_NONE = H_COUNT };

typedef struct http_conn http_conn;
typedef TAILQ_HEAD(conn_list, http_conn) conn_list;

/* One peer: a TCP address (IPv6: its /64) or a Unix uid, with its open
 * connections and, oldest first, the unauthenticated ones among them. */
typedef struct peer {
  unsigned char key[PEER_KEY];
  unsigned conns;
  conn_list unauth;
} peer;

typedef struct http_req {
  la_http_request pub;
  unsigned magic;
  http_conn *conn; /* NULL once the connection has gone */
  dynbuf url, body, hdr[H_COUNT];
  unsigned char has[H_COUNT];
  char field[FIELD_MAX];
  size_t field_len;
  int field_open, target;
  char *path_query; /* "path\0query\0" */
  size_t header_bytes;
  int headers_done, keep_alive, head;
} http_req;

typedef enum {
  ST_READ,
  ST_PENDING,
  ST_RESUME,
  ST_WAIT,
  ST_DRAIN,
  ST_CLOSED
} st_t;

/* A connection's or listener's stream: TCP or a Unix socket. */
typedef union stream_h {
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
} stream_h;

struct http_conn {
  la_http_server *srv;
  stream_h h;
  int via_unix;  /* accepted on the Unix socket */
  long peer_uid; /* its peer's uid (SO_PEERCRED), else -1 */
  uv_timer_t timer;
  uv_shutdown_t shut;
  http_parser parser;
  http_conn *prev, *next;
  st_t state;
  http_req *req;     /* being received */
  http_req *pending; /* with the handler */
  char *rest;        /* unparsed bytes held while pending */
  size_t rest_len;
  int err_status; /* set by a rejecting parser callback */
  const char *err_msg;
  int handles; /* open handles: stream and timer */
  int writes;  /* uv_write requests in flight */
  int processing, reading, serving, eof, shut_done;
  peer *peer;        /* admitted: counted in its peer; else NULL */
  int unauth;        /* on the unauthenticated lists */
  int refused;       /* answered 503, lingering */
  uint64_t deadline; /* loop time by which an unauth one must authenticate */
  TAILQ_ENTRY(http_conn) u_all, u_peer; /* the unauthenticated lists */
};

struct la_http_server {
  uv_loop_t *loop;
  stream_h tcp_listener, unix_listener;
  int has_tcp, has_unix;
  char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  la_http_limits lim;
  la_http_handler handler;
  void *ctx;
  la_http_stats stats;
  http_conn *conns;
  unsigned tcp_open;     /* connections counted against max_connections */
  unsigned unix_open;    /* against max_unix_connections */
  unsigned unauth_open;  /* against max_unauthenticated */
  unsigned refused_open; /* refused ones lingering (REFUSED_LINGER) */
  void *peers;           /* tsearch tree of struct peer */
  conn_list unauth;      /* unauthenticated connections, oldest first */
  uv_check_t turn;       /* after a poll: resets burst, accepts deferred */
  int has_turn;          /* turn initialised (at the first deferral) */
  unsigned burst[2];     /* accepted since the last turn: TCP, Unix */
  int deferred[2];       /* a connection waits in the listener's accept */
  unsigned handles;      /* listeners, turn and live connections */
  int port, closing;
  void (*on_closed)(void *);
  void *closed_arg;
};

/* One queued write: the uv request and the bytes it sends. */
typedef struct write_req {
  uv_write_t w;
  http_conn *conn;
  char data[];
} write_req;

/* What to send: status, headers' values and body. */
typedef struct resp {
  int status;
  const char *ctype;
  const char *body;
  size_t len;
  int keep, head;
} resp;

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t n);
static int on_header_field(http_parser *p, const char *at, size_t n);
static int on_header_value(http_parser *p, const char *at, size_t n);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t n);
static int on_message_complete(http_parser *p);
static void on_timer(uv_timer_t *t);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_write(uv_write_t *w, int status);
static void continue_conn(http_conn *c);
static void close_conn(http_conn *c);
static void reject(http_conn *c, int status, const char *msg);

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- small helpers ---------------------------------------------------- */

/* Grows b to hold at least need bytes (more than it holds), still
 * NUL-terminated (a body reserved by its Content-Length: 0 is ""); 0 or
 * LA_ENOMEM. */
static int buf_reserve(dynbuf *b, size_t need) {
  size_t cap = b->cap ? b->cap : 64;
  char *p;
  if (need <= b->cap) return 0;
  while (cap < need)
    cap *= 2;
  p = realloc(b->p, cap);
  if (p == NULL) return LA_ENOMEM;
  p[b->len] = '\0';
  b->p = p;
  b->cap = cap;
  return 0;
}

/* Appends n bytes to b, keeping it NUL-terminated; 0 or LA_ENOMEM. */
static int buf_append(dynbuf *b, const char *s, size_t n) {
  if (buf_reserve(b, b->len + n + 1) != 0) return LA_ENOMEM;
  if (n > 0) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

/* The buffer's contents as a string ("" when empty). */
static const char *buf_str(const dynbuf *b) {
  return b->p ? b->p : "";
}

/* Value of a hex digit, or -1 when ch is not one (a value, not an error
 * code). */
static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1; /* a value: none */
}

/* Decodes the byte at s[*i] (advancing *i): a %XX escape, '+' as a space
 * when plus is set, else the byte itself. Returns the byte, or -1 (a value,
 * not an error code) for an invalid escape or %00. */
static int decode_next(const char *s, size_t n, size_t *i, int plus) {
  int ch = (unsigned char)s[*i], hi, lo;
  if (ch == '+' && plus) {
    (*i)++;
    return ' ';
  }
  if (ch != '%') {
    (*i)++;
    return ch;
  }
  if (*i + 2 >= n) return -1; /* a byte: none */
  hi = hexval((unsigned char)s[*i + 1]);
  lo = hexval((unsigned char)s[*i + 2]);
  if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return -1; /* a byte: none */
  *i += 3;
  return hi * 16 + lo;
}

/* Percent-decodes s[0..n) into out (size bytes, NUL-terminated). Returns 0,
 * or LA_EINVAL for a malformed escape or when it does not fit. */
static int pct_decode(const char *s, size_t n, int plus, char *out,
                      size_t size) {
  size_t i = 0, o = 0;
  while (i < n) {
    int ch = decode_next(s, n, &i, plus);
    if (ch < 0 || o + 1 >= size) return LA_EINVAL;
    out[o++] = (char)ch;
  }
  if (size == 0) return LA_EINVAL;
  out[o] = '\0';
  return 0;
}

/* 1 when the percent-decoded s[0..n) equals name, 0 otherwise (also when
 * s is malformed). */
static int key_equals(const char *s, size_t n, const char *name) {
  size_t i = 0, k = 0;
  while (i < n) {
    int ch = decode_next(s, n, &i, 1);
    if (ch < 0 || name[k] == '\0' || (unsigned char)name[k] != ch) return 0;
    k++;
  }
  return name[k] == '\0';
}

/* 1 when the comma-separated list v holds the token tok (any case). */
static int has_token(const char *v, const char *tok) {
  size_t tl = strlen(tok);
  while (*v) {
    size_t len;
    while (*v == ' ' || *v == '\t' || *v == ',')
      v++;
    len = strcspn(v, ",");
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
      len--;
    if (len == tl && strncasecmp(v, tok, tl) == 0) return 1;
    v += strcspn(v, ",");
  }
  return 0;
}

/* Our method enum for an http-parser method. */
static la_http_method map_method(unsigned m) {
  switch (m) {
  case HTTP_GET: return LA_HTTP_GET;
  case HTTP_POST: return LA_HTTP_POST;
  case HTTP_PUT: return LA_HTTP_PUT;
  case HTTP_DELETE: return LA_HTTP_DELETE;
  case HTTP_HEAD: return LA_HTTP_HEAD;
  case HTTP_PATCH: return LA_HTTP_PATCH;
  case HTTP_OPTIONS: return LA_HTTP_OPTIONS;
  default: return LA_HTTP_OTHER;
  }
}

/* Frees a request and everything it holds (NULL is fine). */
static void free_req(http_req *r) {
  if (r == NULL) return;
  r->magic = 0;
  free(r->url.p);
  free(r->body.p);
  for (int i = 0; i < H_COUNT; i++)
    free(r->hdr[i].p);
  free(r->path_query);
  free(r);
}

/* ---- deadlines -------------------------------------------------------- */

/* Has c passed its deadline to authenticate? */
static int expired(const http_conn *c) {
  return c->unauth && uv_now(c->srv->loop) >= c->deadline;
}

/* Starts c's one timer for ms, but for an unauthenticated connection to
 * end no later than its deadline to authenticate. */
static void arm(http_conn *c, uint64_t ms) {
  if (c->unauth) {
    uint64_t now = uv_now(c->srv->loop);
    uint64_t left = c->deadline > now ? c->deadline - now : 0;
    if (left < ms) ms = left;
  }
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* How long a connection lingers after its final answer: the request
 * timeout, or less for one without credentials. */
static uint64_t linger_ms(const http_conn *c) {
  const la_http_limits *l = &c->srv->lim;
  if ((c->unauth || c->refused) && l->unauth_timeout_ms < l->request_timeout_ms)
    return l->unauth_timeout_ms;
  return l->request_timeout_ms;
}

/* ---- parser callbacks ------------------------------------------------- */

/* Records why the request is rejected; returns STOP for the parser. */
static int fail(http_conn *c, int status, const char *msg) {
  if (c->err_status == 0) {
    c->err_status = status;
    c->err_msg = msg;
  }
  return STOP;
}

/* Counts n more header bytes; 0, or STOP (431) past max_header_bytes. */
static int count_header(http_conn *c, size_t n) {
  http_req *r = c->req;
  r->header_bytes += n;
  if (r->header_bytes > c->srv->lim.max_header_bytes)
    return fail(c, 431, "request headers too large");
  return 0;
}

/* First byte of a request: a fresh request and the request deadline. */
static int on_message_begin(http_parser *p) {
  http_conn *c = p->data;
  http_req *r = calloc(1, sizeof *r);
  if (r == NULL) return fail(c, 500, "out of memory");
  r->magic = REQ_MAGIC;
  r->conn = c;
  r->pub.internal = r;
  r->header_bytes = LINE_OVERHEAD;
  r->target = H_NONE;
  free_req(c->req);
  c->req = r;
  arm(c, c->srv->lim.request_timeout_ms);
  return 0;
}

/* A piece of the request target. */
static int on_url(http_parser *p, const char *at, size_t n) {
  http_conn *c = p->data;
  if (count_header(c, n) != 0) return STOP;
  if (buf_append(&c->req->url, at, n) != 0)
    return fail(c, 500, "out of memory");
  return 0;
}

/* A piece of a header name; only short names are remembered. Whitespace
 * in a name ("Content-Length :", which http-parser takes for the header)
 * is refused, as RFC 7230 3.2.4 asks. */
static int on_header_field(http_parser *p, const char *at, size_t n) {
  http_conn *c = p->data;
  http_req *r = c->req;
  if (memchr(at, ' ', n) != NULL || memchr(at, '\t', n) != NULL)
    return fail(c, 400, "whitespace in a header name");
  if (!r->field_open) {
    r->field_open = 1;
    r->field_len = 0;
    r->target = H_NONE;
    if (count_header(c, HEADER_OVERHEAD) != 0) return STOP;
  }
  if (count_header(c, n) != 0) return STOP;
  if (r->field_len + n < FIELD_MAX) {
    memcpy(r->field + r->field_len, at, n);
    r->field_len += n;
  } else {
    r->field_len = FIELD_MAX; /* too long to be one we keep */
  }
  return 0;
}

/* Which kept header the finished name r->field is (H_NONE if none). */
static int header_target(const http_req *r) {
  static const char *const names[H_COUNT] = {"content-type", "authorization",
                                             "connection", "expect"};
  if (r->headers_done || r->field_len >= FIELD_MAX) return H_NONE;
  for (int i = 0; i < H_COUNT; i++) {
    if (strlen(names[i]) == r->field_len &&
        strncasecmp(r->field, names[i], r->field_len) == 0)
      return i;
  }
  return H_NONE;
}

/* Starts the value of the header just named: picks where it goes; a
 * repeated single-valued header is rejected, Connection lists are joined. */
static int begin_value(http_conn *c) {
  http_req *r = c->req;
  r->field_open = 0;
  r->target = header_target(r);
  if (r->target == H_NONE) return 0;
  if (r->has[r->target] && r->target != H_CONN)
    return fail(c, 400, "repeated header");
  if (r->has[r->target] && buf_append(&r->hdr[H_CONN], ", ", 2) != 0)
    return fail(c, 500, "out of memory");
  r->has[r->target] = 1;
  if (buf_append(&r->hdr[r->target], "", 0) != 0)
    return fail(c, 500, "out of memory");
  return 0;
}

/* A piece of a header value. */
static int on_header_value(http_parser *p, const char *at, size_t n) {
  http_conn *c = p->data;
  http_req *r = c->req;
  if (r->field_open && begin_value(c) != 0) return STOP;
  if (count_header(c, n) != 0) return STOP;
  if (r->target != H_NONE && buf_append(&r->hdr[r->target], at, n) != 0)
    return fail(c, 500, "out of memory");
  return 0;
}

/* Finds the path and query in the request target (origin, absolute or
 * asterisk form). */
static void target_parts(const char *u, const char **path, size_t *plen,
                         const char **query, size_t *qlen) {
  const char *scheme = strstr(u, "://");
  if (u[0] != '/' && u[0] != '*' && scheme != NULL)
    u = scheme + 3 + strcspn(scheme + 3, "/?#");
  *path = u;
  *plen = strcspn(u, "?#");
  *query = u[*plen] == '?' ? u + *plen + 1 : u + *plen;
  *qlen = u[*plen] == '?' ? strcspn(*query, "#") : 0;
}

/* Splits the target into the percent-decoded path and the raw query. */
static int split_target(http_conn *c) {
  http_req *r = c->req;
  const char *path, *query;
  size_t plen, qlen;
  target_parts(buf_str(&r->url), &path, &plen, &query, &qlen);
  if (plen == 0) {
    path = "/";
    plen = 1;
  }
  r->path_query = malloc(plen + qlen + 2);
  if (r->path_query == NULL) return fail(c, 500, "out of memory");
  if (pct_decode(path, plen, 0, r->path_query, plen + 1) != 0)
    return fail(c, 400, "invalid percent-escape in path");
  r->pub.path = r->path_query;
  r->pub.query = r->path_query + plen + 1;
  memcpy(r->path_query + plen + 1, query, qlen);
  r->path_query[plen + 1 + qlen] = '\0';
  return 0;
}

/* Queues "100 Continue" for a client waiting for it before the body. */
static void send_continue(http_conn *c) {
  static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
  write_req *wr = malloc(sizeof *wr + sizeof line);
  uv_buf_t b;
  if (wr == NULL) return;
  memcpy(wr->data, line, sizeof line - 1);
  wr->conn = c;
  b = uv_buf_init(wr->data, sizeof line - 1);
  if (uv_write(&wr->w, &c->h.stream, &b, 1, on_write) != 0) {
    free(wr);
    return;
  }
  c->writes++;
}

/* End of the headers: method, target, keep-alive, body size limits. */
static int on_headers_complete(http_parser *p) {
  http_conn *c = p->data;
  http_req *r = c->req;
  int has_body = (p->flags & F_CHUNKED) || p->content_length > 0;
  r->headers_done = 1;
  if (count_header(c, 2) != 0 || split_target(c) != 0) return STOP;
  r->pub.method = map_method(p->method);
  r->pub.method_name = http_method_str((enum http_method)p->method);
  r->head = p->method == HTTP_HEAD;
  r->keep_alive = http_should_keep_alive(p) && !p->upgrade &&
                  !has_token(buf_str(&r->hdr[H_CONN]), "close");
  if ((p->flags & F_CONTENTLENGTH) && !(p->flags & F_CHUNKED)) {
    if (p->content_length > c->srv->lim.max_body_bytes)
      return fail(c, 413, "request body too large");
    if (buf_reserve(&r->body, (size_t)p->content_length + 1) != 0)
      return fail(c, 500, "out of memory");
  } else if (!(p->flags & F_CHUNKED)) {
    has_body = 0;
  }
  if (has_body && p->http_minor >= 1 && r->has[H_EXPECT] &&
      strcasecmp(buf_str(&r->hdr[H_EXPECT]), "100-continue") == 0)
    send_continue(c);
  return 0;
}

/* A piece of the (de-chunked) body. */
static int on_body(http_parser *p, const char *at, size_t n) {
  http_conn *c = p->data;
  http_req *r = c->req;
  if (n > c->srv->lim.max_body_bytes - r->body.len)
    return fail(c, 413, "request body too large");
  if (buf_append(&r->body, at, n) != 0) return fail(c, 500, "out of memory");
  return 0;
}

/* The request is complete: publish its strings and pause the parser. */
static int on_message_complete(http_parser *p) {
  http_conn *c = p->data;
  http_req *r = c->req;
  r->pub.body = buf_str(&r->body);
  r->pub.body_len = r->body.len;
  r->pub.content_type = buf_str(&r->hdr[H_CTYPE]);
  r->pub.authorization = buf_str(&r->hdr[H_AUTH]);
  http_parser_pause(p, 1);
  return 0;
}

/* ---- responses -------------------------------------------------------- */

/* The current time as an RFC 7231 IMF-fixdate. */
static void http_date(char *out, size_t size) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm) == NULL) memset(&tm, 0, sizeof tm);
  snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT",
           days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Standard reason phrase for a status code. */
static const char *reason(int status) {
  const char *s = http_status_str((enum http_status)status);
  return strcmp(s, "<unknown>") == 0 ? "Unknown" : s;
}

/* 1 when a response with this status never has a body. */
static int bodiless(int status) {
  return status < 200 || status == 204 || status == 304;
}

/* Status line and headers of rs into dst (cap bytes, may be 0); returns
 * the full length as snprintf does. */
static int format_head(char *dst, size_t cap, const resp *rs,
                       const char *date) {
  char clen[40] = "";
  const char *ct = rs->ctype ? rs->ctype : "";
  if (strpbrk(ct, "\r\n") != NULL) ct = "application/octet-stream";
  if (!bodiless(rs->status))
    snprintf(clen, sizeof clen, "Content-Length: %zu\r\n", rs->len);
  return snprintf(dst, cap,
                  "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%s%s%s"
                  "Connection: %s\r\n\r\n",
                  rs->status, reason(rs->status), date,
                  *ct ? "Content-Type: " : "", ct, *ct ? "\r\n" : "", clen,
                  rs->status == 401
                      ? "WWW-Authenticate: Bearer realm=\"loralpha\"\r\n"
                      : "",
                  rs->keep ? "keep-alive" : "close");
}

/* Frees a finished write; a failed one means the client has gone. */
static void on_write(uv_write_t *w, int status) {
  write_req *wr = (write_req *)w;
  http_conn *c = wr->conn;
  free(wr);
  c->writes--;
  if (status < 0 && status != UV_ECANCELED)
    close_conn(c);
  else if (c->state == ST_WAIT && !c->processing)
    continue_conn(c); /* waits again if still too much is unsent */
}

/* Queues the response rs on c and counts it; 0, or LA_ENOMEM or LA_EIO
 * when it cannot be sent. */
static int queue_response(http_conn *c, const resp *rs) {
  char date[160]; /* room for any int fields, to quiet -Wformat-truncation */
  size_t blen = rs->head || bodiless(rs->status) ? 0 : rs->len;
  int hn;
  write_req *wr;
  uv_buf_t b;
  http_date(date, sizeof date);
  hn = format_head(NULL, 0, rs, date);
  if (hn < 0) return LA_EIO;
  wr = malloc(sizeof *wr + (size_t)hn + 1 + blen);
  if (wr == NULL) return LA_ENOMEM;
  format_head(wr->data, (size_t)hn + 1, rs, date);
  if (blen > 0) memcpy(wr->data + hn, rs->body, blen);
  wr->conn = c;
  b = uv_buf_init(wr->data, (unsigned)((size_t)hn + blen));
  if (uv_write(&wr->w, &c->h.stream, &b, 1, on_write) != 0) {
    free(wr);
    return LA_EIO;
  }
  c->writes++;
  c->srv->stats.requests++;
  if (rs->status / 100 >= 1 && rs->status / 100 <= 5)
    c->srv->stats.by_class[rs->status / 100]++;
  return 0;
}

/* ---- connection lifecycle --------------------------------------------- */

/* Releases one of the server's handles; frees the server after the last
 * one once closing, then calls on_closed. */
static void release_handle(la_http_server *s) {
  void (*cb)(void *) = s->on_closed;
  void *arg = s->closed_arg;
  if (--s->handles > 0 || !s->closing) return;
  free(s);
  if (cb != NULL) cb(arg);
}

/* Close callback of a connection's handles: frees it after the second. */
static void on_conn_handle_closed(uv_handle_t *h) {
  http_conn *c = h->data;
  la_http_server *s = c->srv;
  if (--c->handles > 0) return;
  free(c);
  release_handle(s);
}

/* ---- peers and budgets ------------------------------------------------ */

/* Orders peers by key (for tsearch). */
static int peer_cmp(const void *a, const void *b) {
  return memcmp(((const peer *)a)->key, ((const peer *)b)->key, PEER_KEY);
}

/* The key of c's peer: 'u' and the uid on the Unix socket; '4' and the
 * IPv4 address (also an IPv4-mapped IPv6 one); '6' and the /64 of an IPv6
 * address; '?' for anything else (a socketpair). */
static void peer_key(http_conn *c, unsigned char *key) {
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  memset(key, 0, PEER_KEY);
  key[0] = '?';
  if (c->via_unix) {
    key[0] = 'u';
    memcpy(key + 1, &c->peer_uid, sizeof c->peer_uid);
    return;
  }
  if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET) {
    key[0] = '4';
    memcpy(key + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    key[0] = IN6_IS_ADDR_V4MAPPED(a) ? '4' : '6';
    memcpy(key + 1, key[0] == '4' ? a->s6_addr + 12 : a->s6_addr,
           key[0] == '4' ? 4 : 8);
  }
}

/* The peer with key, or NULL when it has no connection open. */
static peer *peer_find(la_http_server *s, const unsigned char *key) {
  peer probe, **hit;
  memcpy(probe.key, key, PEER_KEY);
  hit = tfind(&probe, &s->peers, peer_cmp);
  return hit != NULL ? *hit : NULL;
}

/* The peer with key, made if new; NULL when out of memory. */
static peer *peer_get(la_http_server *s, const unsigned char *key) {
  peer *p = peer_find(s, key), **hit;
  if (p != NULL) return p;
  if ((p = calloc(1, sizeof *p)) == NULL) return NULL;
  memcpy(p->key, key, PEER_KEY);
  TAILQ_INIT(&p->unauth);
  hit = tsearch(p, &s->peers, peer_cmp);
  if (hit == NULL || *hit != p) {
    free(p);
    return NULL;
  }
  return p;
}

/* Takes c off the unauthenticated lists: it has authenticated, or closes. */
static void unauth_drop(http_conn *c) {
  la_http_server *s = c->srv;
  if (!c->unauth) return;
  TAILQ_REMOVE(&s->unauth, c, u_all);
  TAILQ_REMOVE(&c->peer->unauth, c, u_peer);
  s->unauth_open--;
  c->unauth = 0;
}

/* Uncounts a closing connection from its budget and its peer. */
static void release_budget(http_conn *c) {
  la_http_server *s = c->srv;
  peer *p = c->peer;
  unauth_drop(c);
  if (c->refused) s->refused_open--;
  c->refused = 0;
  if (c->serving) {
    if (c->via_unix)
      s->unix_open--;
    else
      s->tcp_open--;
  }
  c->serving = 0;
  c->peer = NULL;
  if (p != NULL && --p->conns == 0) {
    tdelete(p, &s->peers, peer_cmp);
    free(p);
  }
}

/* Closes c now (idempotent). A request with the handler is detached: its
 * response will be dropped. */
static void close_conn(http_conn *c) {
  la_http_server *s = c->srv;
  if (c->state == ST_CLOSED) return;
  c->state = ST_CLOSED;
  if (c->pending != NULL) c->pending->conn = NULL;
  c->pending = NULL;
  free_req(c->req);
  c->req = NULL;
  free(c->rest);
  c->rest = NULL;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  s->stats.connections--;
  release_budget(c);
  uv_close((uv_handle_t *)&c->h.stream, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

/* Read buffers are allocated per read and freed in on_read. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base != NULL ? suggested : 0;
}

/* Starts reading if not already; closes c if that fails. */
static void start_reading(http_conn *c) {
  if (c->reading || c->eof) return;
  if (uv_read_start(&c->h.stream, on_alloc, on_read) != 0) {
    close_conn(c);
    return;
  }
  c->reading = 1;
}

/* Stops reading if reading. */
static void stop_reading(http_conn *c) {
  if (!c->reading) return;
  uv_read_stop(&c->h.stream);
  c->reading = 0;
}

/* The write side is shut down (after the last response): close if the
 * client has finished too or the shutdown failed. */
static void on_shutdown(uv_shutdown_t *sh, int status) {
  http_conn *c = sh->data;
  c->shut_done = 1;
  if (status < 0 || c->eof) close_conn(c);
}

/* After a final response: half-close once it is written, discard what the
 * client still sends, close at its EOF or at the linger deadline. */
static void finish_conn(http_conn *c) {
  c->state = ST_DRAIN;
  free(c->rest);
  c->rest = NULL;
  c->shut.data = c;
  if (uv_shutdown(&c->shut, &c->h.stream, on_shutdown) != 0) {
    close_conn(c);
    return;
  }
  start_reading(c);
  if (c->state == ST_DRAIN)
    uv_timer_start(&c->timer, on_timer, linger_ms(c), 0);
}

/* After a keep-alive response: parse held bytes from a zero timer, or wait
 * for the next request under the idle deadline. */
static void continue_conn(http_conn *c) {
  c->state = ST_READ;
  if (uv_stream_get_write_queue_size(&c->h.stream) > WRITE_BACKLOG) {
    c->state = ST_WAIT; /* on_write carries on */
    arm(c, c->srv->lim.idle_timeout_ms);
    return;
  }
  if (c->processing) return; /* feed() carries on by itself */
  if (c->rest != NULL) {
    c->state = ST_RESUME;
    uv_timer_start(&c->timer, on_timer, 0, 0);
    return;
  }
  start_reading(c);
  if (c->state == ST_READ) arm(c, c->srv->lim.idle_timeout_ms);
}

/* Sends rs on c, then keeps the connection or closes it gracefully. */
static void answer(http_conn *c, const resp *rs) {
  if (queue_response(c, rs) != 0) {
    close_conn(c);
    return;
  }
  if (rs->keep)
    continue_conn(c);
  else
    finish_conn(c);
}

/* Error code word for a status the server answers itself. */
static const char *error_code(int status) {
  switch (status) {
  case 400: return "bad_request";
  case 408: return "request_timeout";
  case 413: return "payload_too_large";
  case 431: return "header_too_large";
  case 503: return "unavailable";
  default: return "internal_error";
  }
}

/* {"error":{"code":code,"message":msg}} compactly (malloc'd, or NULL). */
static char *error_body(const char *code, const char *msg) {
  json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "",
                        "message", msg ? msg : "");
  char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return s;
}

/* Answers c with a server-generated error and closes the connection. */
static void reject(http_conn *c, int status, const char *msg) {
  char *body = error_body(error_code(status), msg);
  resp rs = {status,
             "application/json",
             body ? body : "",
             body ? strlen(body) : 0,
             0,
             c->req != NULL && c->req->head};
  free_req(c->req);
  c->req = NULL;
  c->srv->stats.rejected++;
  answer(c, &rs);
  free(body);
}

/* Answers what made the parser stop with an error. */
static void parse_error(http_conn *c, enum http_errno e) {
  char msg[160];
  int status = c->err_status;
  if (status != 0) {
    snprintf(msg, sizeof msg, "%s", c->err_msg);
  } else {
    status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
    snprintf(msg, sizeof msg, "malformed request: %s",
             http_errno_description(e));
  }
  c->err_status = 0;
  reject(c, status, msg);
}

/* Hands the complete request to the handler. */
static void dispatch(http_conn *c) {
  http_req *r = c->req;
  assert(r != NULL);
  c->req = NULL;
  c->pending = r;
  c->state = ST_PENDING;
  uv_timer_stop(&c->timer);
  r->pub.via_unix = c->via_unix;
  r->pub.peer_uid = c->peer_uid;
  c->srv->handler(&r->pub, c->srv->ctx);
}

/* After parsing: hold the rest and stop reading while a request is
 * pending, or keep reading (idle deadline between requests). */
static void after_feed(http_conn *c, const char *data, size_t len) {
  if (c->state == ST_PENDING || c->state == ST_WAIT) {
    stop_reading(c);
    if (len == 0) return;
    assert(c->rest == NULL);
    c->rest = malloc(len);
    if (c->rest == NULL) {
      close_conn(c);
      return;
    }
    memcpy(c->rest, data, len);
    c->rest_len = len;
  } else if (c->state == ST_READ) {
    start_reading(c);
    if (c->state == ST_READ && c->req == NULL)
      arm(c, c->srv->lim.idle_timeout_ms);
  }
}

/* Parses data, dispatching each complete request in turn; stops when one
 * is left pending (its answer resumes) or the connection ends. */
static void feed(http_conn *c, const char *data, size_t len) {
  c->processing = 1;
  while (len > 0 && c->state == ST_READ) {
    size_t n = http_parser_execute(&c->parser, &parser_settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    data += n;
    len -= n;
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
      dispatch(c);
    } else if (e != HPE_OK || len > 0) {
      parse_error(c, e);
    }
  }
  c->processing = 0;
  after_feed(c, data, len);
}

/* Parses the bytes held back while a request was pending. */
static void resume(http_conn *c) {
  char *rest = c->rest;
  size_t n = c->rest_len;
  c->rest = NULL;
  c->rest_len = 0;
  c->state = ST_READ;
  feed(c, rest, n);
  free(rest);
}

/* The connection's one deadline: request (408), idle, resume, linger, or
 * the deadline to authenticate (408 if a request is half sent). */
static void on_timer(uv_timer_t *t) {
  http_conn *c = t->data;
  if ((c->state == ST_READ || c->state == ST_WAIT) && expired(c))
    c->srv->stats.unauth_expired++;
  switch (c->state) {
  case ST_READ:
    if (c->req != NULL)
      reject(c, 408, "request not received in time");
    else
      close_conn(c);
    break;
  case ST_RESUME: resume(c); break;
  case ST_WAIT: close_conn(c); break; /* the client does not read */
  case ST_DRAIN: close_conn(c); break;
  default: break;
  }
}

/* EOF or a read error. At EOF a queued response is still delivered. */
static void read_ended(http_conn *c, int err) {
  if (err != UV_EOF) {
    close_conn(c);
    return;
  }
  c->eof = 1;
  stop_reading(c);
  if (c->state == ST_DRAIN) {
    if (c->shut_done) close_conn(c);
  } else if (c->writes > 0) {
    finish_conn(c);
  } else {
    close_conn(c);
  }
}

/* Bytes from the client: parsed, or discarded while draining. */
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  http_conn *c = st->data;
  if (nread > 0 && c->state == ST_READ)
    feed(c, buf->base, (size_t)nread);
  else if (nread < 0 && c->state != ST_CLOSED)
    read_ended(c, (int)nread);
  free(buf->base);
}

/* A new connection object with initialised handles (a TCP or a Unix
 * stream), or NULL. */
static http_conn *new_conn(la_http_server *s, int via_unix) {
  http_conn *c = calloc(1, sizeof *c);
  int rc;
  if (c == NULL) return NULL;
  rc = via_unix ? uv_pipe_init(s->loop, &c->h.pipe, 0)
                : uv_tcp_init(s->loop, &c->h.tcp);
  if (rc != 0) {
    free(c);
    return NULL;
  }
  uv_timer_init(s->loop, &c->timer);
  c->srv = s;
  c->handles = 2;
  c->via_unix = via_unix;
  c->peer_uid = -1;
  c->h.stream.data = c->timer.data = c;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->state = ST_READ;
  c->next = s->conns;
  if (s->conns != NULL) s->conns->prev = c;
  s->conns = c;
  s->handles++;
  s->stats.connections++;
  return c;
}

/* The uid of a Unix-socket peer as the kernel reports it, or -1 when
 * unknown (a uid, not an error code). */
static long peer_uid(http_conn *c) {
  uv_os_fd_t fd;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (uv_fileno((uv_handle_t *)&c->h.stream, &fd) != 0)
    return -1; /* a uid: none */
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return -1; /* a uid: none */
  return (long)cred.uid;
}

/* Refuses c: 503 and a short linger, or a plain close when too many
 * refused ones linger already. */
static void refuse(http_conn *c, const char *msg) {
  la_http_server *s = c->srv;
  if (s->refused_open >= REFUSED_LINGER) {
    close_conn(c);
    return;
  }
  s->refused_open++;
  c->refused = 1;
  reject(c, 503, msg);
}

/* Makes room for a new connection of peer p (NULL: none open) on c's
 * listener by evicting the oldest unauthenticated connection of p, then
 * of the server, where a limit is reached. 1 (true) when c was refused,
 * else 0. */
static int make_room(http_conn *c, peer *p) {
  la_http_server *s = c->srv;
  const la_http_limits *l = &s->lim;
  if (p != NULL && p->conns >= l->max_per_peer) {
    if (TAILQ_EMPTY(&p->unauth)) {
      s->stats.refused_peer++;
      refuse(c, c->via_unix ? "too many connections from this user"
                            : "too many connections from this address");
      return 1;
    }
    s->stats.evicted++;
    close_conn(TAILQ_FIRST(&p->unauth));
  }
  if (c->via_unix ? s->unix_open < l->max_unix_connections
                  : s->tcp_open < l->max_connections &&
                        s->unauth_open < l->max_unauthenticated)
    return 0;
  if (c->via_unix || TAILQ_EMPTY(&s->unauth)) {
    s->stats.refused_full++;
    refuse(c, "too many connections");
    return 1;
  }
  s->stats.evicted++;
  close_conn(TAILQ_FIRST(&s->unauth));
  return 0;
}

/* Counts a new connection in (evicting, or refusing it, at a limit) and
 * starts reading; a TCP one starts unauthenticated. */
static void admit(http_conn *c) {
  la_http_server *s = c->srv;
  unsigned char key[PEER_KEY];
  peer *p;
  peer_key(c, key);
  if (make_room(c, peer_find(s, key)) != 0) return;
  if ((p = peer_get(s, key)) == NULL) {
    close_conn(c);
    return;
  }
  c->peer = p;
  p->conns++;
  c->serving = 1;
  if (c->via_unix) {
    s->unix_open++;
  } else {
    s->tcp_open++;
    s->unauth_open++;
    c->unauth = 1;
    c->deadline = uv_now(s->loop) + s->lim.unauth_timeout_ms;
    TAILQ_INSERT_TAIL(&s->unauth, c, u_all);
    TAILQ_INSERT_TAIL(&p->unauth, c, u_peer);
  }
  start_reading(c);
  if (c->state == ST_READ) arm(c, s->lim.idle_timeout_ms);
}

/* Accepts the connection waiting on listener ls and admits it. */
static void accept_one(la_http_server *s, uv_stream_t *ls, int via_unix) {
  http_conn *c = new_conn(s, via_unix);
  if (c == NULL) return;
  if (uv_accept(ls, &c->h.stream) != 0) {
    close_conn(c);
    return;
  }
  s->stats.accepted++;
  if (via_unix)
    c->peer_uid = peer_uid(c);
  else
    uv_tcp_nodelay(&c->h.tcp, 1);
  admit(c);
}

/* Once per loop turn after a deferral: a new burst of accepts may start,
 * beginning with the connections deferred. */
static void on_turn(uv_check_t *h) {
  la_http_server *s = h->data;
  int any = 0;
  s->burst[0] = s->burst[1] = 0;
  for (int u = 0; u < 2 && !s->closing; u++) {
    if (!s->deferred[u]) continue;
    s->deferred[u] = 0;
    s->burst[u]++;
    any = 1;
    accept_one(s, u ? &s->unix_listener.stream : &s->tcp_listener.stream, u);
  }
  if (!any) uv_check_stop(h);
}

/* A client connects. libuv accepts until the backlog is empty; past
 * ACCEPT_BURST in one turn the connection is left in the listener (libuv
 * stops polling it until uv_accept) and taken after this turn's reads, so
 * a flood of connections cannot keep the daemon from reading requests
 * (and a newcomer's credentials) while it evicts for the flood. */
static void on_connection(uv_stream_t *ls, int status) {
  la_http_server *s = ls->data;
  int u = ls == &s->unix_listener.stream;
  if (status < 0 || s->closing) return;
  if (s->burst[u] >= ACCEPT_BURST) {
    if (!s->has_turn) {
      uv_check_init(s->loop, &s->turn);
      uv_unref((uv_handle_t *)&s->turn);
      s->turn.data = s;
      s->has_turn = 1;
      s->handles++;
    }
    s->deferred[u] = 1;
    uv_check_start(&s->turn, on_turn);
    return;
  }
  s->burst[u]++;
  accept_one(s, ls, u);
}

/* ---- server ----------------------------------------------------------- */

/* Fills lim with the documented defaults. */
void la_http_limits_default(la_http_limits *lim) {
  lim->max_header_bytes = 16 * 1024;
  lim->max_body_bytes = 1024 * 1024;
  lim->request_timeout_ms = 10000;
  lim->idle_timeout_ms = 60000;
  lim->max_connections = 1024;
  lim->max_unix_connections = 512;
  lim->max_per_peer = 128;
  lim->max_unauthenticated = 512;
  lim->unauth_timeout_ms = 5000;
}

/* lim with zero fields replaced by the defaults (lim may be NULL). */
static la_http_limits effective_limits(const la_http_limits *lim) {
  la_http_limits d, out;
  la_http_limits_default(&d);
  if (lim == NULL) return d;
  out = *lim;
  if (out.max_header_bytes == 0) out.max_header_bytes = d.max_header_bytes;
  if (out.max_body_bytes == 0) out.max_body_bytes = d.max_body_bytes;
  if (out.request_timeout_ms == 0)
    out.request_timeout_ms = d.request_timeout_ms;
  if (out.idle_timeout_ms == 0) out.idle_timeout_ms = d.idle_timeout_ms;
  if (out.max_connections == 0) out.max_connections = d.max_connections;
  if (out.max_unix_connections == 0)
    out.max_unix_connections = d.max_unix_connections;
  if (out.max_per_peer == 0) out.max_per_peer = d.max_per_peer;
  if (out.max_unauthenticated == 0)
    out.max_unauthenticated = d.max_unauthenticated;
  if (out.unauth_timeout_ms == 0) out.unauth_timeout_ms = d.unauth_timeout_ms;
  return out;
}

/* Resolves a host name with a synchronous uv_getaddrinfo. */
static int lookup_host(uv_loop_t *loop, const char *host, int port,
                       struct sockaddr_storage *ss) {
  uv_getaddrinfo_t gai;
  struct addrinfo hints;
  char service[16];
  int rc;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(service, sizeof service, "%d", port);
  rc = uv_getaddrinfo(loop, &gai, NULL, host, service, &hints);
  if (rc != 0) return rc;
  if (gai.addrinfo == NULL || gai.addrinfo->ai_addrlen > sizeof *ss) {
    rc = UV_EAI_NONAME;
  } else {
    memcpy(ss, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
  }
  uv_freeaddrinfo(gai.addrinfo);
  return rc;
}

/* host:port as a socket address: an IPv4 or IPv6 literal ("[::1]" too),
 * "localhost" as 127.0.0.1, or a name to resolve. */
static int parse_address(uv_loop_t *loop, const char *host, int port,
                         struct sockaddr_storage *ss) {
  char lit[64];
  size_t n;
  memset(ss, 0, sizeof *ss);
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  n = strlen(host);
  if (n >= 2 && n < sizeof lit && host[0] == '[' && host[n - 1] == ']') {
    memcpy(lit, host + 1, n - 2);
    lit[n - 2] = '\0';
    host = lit;
  }
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return lookup_host(loop, host, port, ss);
}

/* Close callback of a listener. */
static void on_listener_closed(uv_handle_t *h) {
  release_handle(h->data);
}

/* Binds and listens on TCP; records the port actually bound. */
static int bind_listen(la_http_server *s, const struct sockaddr *sa) {
  struct sockaddr_storage bound;
  int len = (int)sizeof bound, rc;
  rc = uv_tcp_bind(&s->tcp_listener.tcp, sa, 0);
  if (rc == 0) rc = uv_listen(&s->tcp_listener.stream, 511, on_connection);
  if (rc == 0)
    rc = uv_tcp_getsockname(&s->tcp_listener.tcp, (struct sockaddr *)&bound,
                            &len);
  if (rc != 0) return rc;
  s->port = bound.ss_family == AF_INET6
                ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return 0;
}

int la_http_server_new(uv_loop_t *loop, const la_http_limits *lim,
                       la_http_handler handler, void *ctx, la_http_server **out,
                       la_err *err) {
  la_http_server *s;
  if (loop == NULL || handler == NULL || out == NULL)
    return la_errf(err, LA_EINVAL, "server: invalid arguments");
  if ((s = calloc(1, sizeof *s)) == NULL)
    return la_errf(err, LA_ENOMEM, "server: out of memory");
  s->loop = loop;
  s->lim = effective_limits(lim);
  TAILQ_INIT(&s->unauth);
  s->handler = handler;
  s->ctx = ctx;
  *out = s;
  return 0;
}

/* Binds host:port and listens; on a bind or listen failure the listener is
 * closed on the loop's next turn (the server stays usable). */
int la_http_server_listen_tcp(la_http_server *s, const char *host, int port,
                              la_err *err) {
  struct sockaddr_storage ss;
  int rc;
  if (host == NULL || port < 0 || port > 65535 || s->has_tcp)
    return la_errf(err, LA_EINVAL, "listen: invalid arguments");
  rc = parse_address(s->loop, host, port, &ss);
  if (rc != 0)
    return la_errf(err, LA_EINVAL, "listen %s:%d: %s", host, port,
                   uv_strerror(rc));
  uv_tcp_init(s->loop, &s->tcp_listener.tcp);
  s->tcp_listener.stream.data = s;
  s->handles++;
  rc = bind_listen(s, (const struct sockaddr *)&ss);
  if (rc != 0) {
    uv_close((uv_handle_t *)&s->tcp_listener.stream, on_listener_closed);
    return la_errf(err, LA_EIO, "listen %s:%d: %s", host, port,
                   uv_strerror(rc));
  }
  s->has_tcp = 1;
  return 0;
}

/* Is a daemon answering on the Unix socket at path? */
static int socket_live(const char *path) {
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), live;
  if (fd < 0) return 0;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return live;
}

/* Makes room for a socket at path: a stale socket is removed; a live one or
 * any other file is an error. */
static int clear_socket_path(const char *path, la_err *err) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT
               ? 0
               : la_errf(err, LA_EIO, "socket %s: %s", path, strerror(errno));
  if (!S_ISSOCK(st.st_mode))
    return la_errf(err, LA_EINVAL,
                   "socket %s: the path exists and is not a socket", path);
  if (socket_live(path))
    return la_errf(err, LA_EIO, "socket %s: another daemon is listening on it",
                   path);
  if (unlink(path) != 0)
    return la_errf(err, LA_EIO, "socket %s: cannot remove the stale socket: %s",
                   path, strerror(errno));
  return 0;
}

int la_http_server_listen_unix(la_http_server *s, const char *path,
                               unsigned mode, long gid, la_err *err) {
  int rc;
  if (path == NULL || s->has_unix || mode > 0777)
    return la_errf(err, LA_EINVAL, "socket: invalid arguments");
  if (strlen(path) == 0 || strlen(path) >= sizeof s->unix_path)
    return la_errf(err, LA_EINVAL,
                   "socket %s: the path is empty or longer than %zu bytes",
                   path, sizeof s->unix_path - 1);
  if ((rc = clear_socket_path(path, err)) != 0) return rc;
  uv_pipe_init(s->loop, &s->unix_listener.pipe, 0);
  s->unix_listener.stream.data = s;
  s->handles++;
  rc = uv_pipe_bind(&s->unix_listener.pipe, path);
  if (rc == 0 && chmod(path, (mode_t)mode) != 0)
    rc = uv_translate_sys_error(errno);
  if (rc == 0 && gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) != 0)
    rc = uv_translate_sys_error(errno);
  if (rc == 0) rc = uv_listen(&s->unix_listener.stream, 511, on_connection);
  if (rc != 0) {
    uv_close((uv_handle_t *)&s->unix_listener.stream, on_listener_closed);
    unlink(path);
    return la_errf(err, LA_EIO, "socket %s: %s", path, uv_strerror(rc));
  }
  memcpy(s->unix_path, path, strlen(path) + 1);
  s->has_unix = 1;
  return 0;
}

int la_http_server_start(uv_loop_t *loop, const char *host, int port,
                         const la_http_limits *lim, la_http_handler handler,
                         void *ctx, la_http_server **out, la_err *err) {
  la_http_server *s;
  int rc = la_http_server_new(loop, lim, handler, ctx, &s, err);
  if (rc != 0) return rc;
  if ((rc = la_http_server_listen_tcp(s, host, port, err)) != 0) {
    la_http_server_close(s, NULL, NULL);
    return rc;
  }
  *out = s;
  return 0;
}

/* The TCP port actually bound (useful with port 0), or 0. */
int la_http_server_port(const la_http_server *s) {
  return s->port;
}

/* A copy of the counters. */
void la_http_server_stats(const la_http_server *s, la_http_stats *out) {
  *out = s->stats;
  out->unauthenticated = s->unauth_open;
  out->unix_connections = s->unix_open;
}

/* Frees a server with no handles left (none ever opened). */
static void free_idle(la_http_server *s) {
  void (*cb)(void *) = s->on_closed;
  void *arg = s->closed_arg;
  free(s);
  if (cb != NULL) cb(arg);
}

/* Stops listening (the socket file removed) and closes every connection;
 * the server is freed (then on_closed called) in the last close callback. */
void la_http_server_close(la_http_server *s, void (*on_closed)(void *),
                          void *arg) {
  assert(!s->closing);
  s->closing = 1;
  s->on_closed = on_closed;
  s->closed_arg = arg;
  if (s->has_tcp)
    uv_close((uv_handle_t *)&s->tcp_listener.stream, on_listener_closed);
  if (s->has_unix) {
    unlink(s->unix_path);
    uv_close((uv_handle_t *)&s->unix_listener.stream, on_listener_closed);
  }
  if (s->has_turn) uv_close((uv_handle_t *)&s->turn, on_listener_closed);
  while (s->conns != NULL)
    close_conn(s->conns);
  if (s->handles == 0) free_idle(s);
}

/* ---- handler API ------------------------------------------------------ */

/* The connection of req presented credentials: it leaves the
 * unauthenticated lists and keeps the normal deadlines. */
void la_http_request_authenticated(la_http_request *req) {
  http_req *r = req->internal;
  assert(r != NULL && r->magic == REQ_MAGIC);
  if (r->conn != NULL) unauth_drop(r->conn);
}

/* Answers req (or drops the answer if its connection has gone) and frees
 * it. Answering twice is a programming error. */
void la_http_respond(la_http_request *req, int status, const char *content_type,
                     const char *body, size_t len) {
  http_req *r = req->internal;
  http_conn *c;
  assert(r != NULL && r->magic == REQ_MAGIC && "request answered twice");
  c = r->conn;
  if (c != NULL) {
    resp rs = {status,
               content_type,
               body ? body : "",
               body ? len : 0,
               r->keep_alive && !c->srv->closing && !expired(c),
               r->head};
    assert(c->pending == r);
    c->pending = NULL;
    if (rs.status < 200 || rs.status > 599) rs.status = 500;
    answer(c, &rs);
  }
  free_req(r);
}

/* Answers req with body as compact JSON; steals the reference. */
void la_http_respond_json(la_http_request *req, int status, json_t *body) {
  char *s = body != NULL ? la_json_text(body) : NULL;
  json_decref(body);
  if (s == NULL) {
    la_http_respond_error(req, 500, "internal_error",
                          "response could not be serialised");
    return;
  }
  la_http_respond(req, status, "application/json", s, strlen(s));
  free(s);
}

/* Answers req with the {"error": {code, message}} shape. */
void la_http_respond_error(la_http_request *req, int status, const char *code,
                           const char *message) {
  char *s = error_body(code, message);
  if (s == NULL) {
    static const char oom[] = "{\"error\":{\"code\":\"internal_error\","
                              "\"message\":\"out of memory\"}}";
    la_http_respond(req, 500, "application/json", oom, sizeof oom - 1);
    return;
  }
  la_http_respond(req, status, "application/json", s, strlen(s));
  free(s);
}

/* First query parameter called name (names are percent-decoded too),
 * percent-decoded with '+' as space, into buf. */
int la_http_query_get(const la_http_request *req, const char *name, char *buf,
                      size_t size) {
  const char *q = req->query ? req->query : "";
  while (*q != '\0') {
    size_t seg = strcspn(q, "&");
    const char *eq = memchr(q, '=', seg);
    size_t klen = eq != NULL ? (size_t)(eq - q) : seg;
    if (key_equals(q, klen, name)) {
      const char *v = eq != NULL ? eq + 1 : q + seg;
      size_t vlen = eq != NULL ? seg - klen - 1 : 0;
      return pct_decode(v, vlen, 1, buf, size) == 0 ? 1 : LA_EINVAL;
    }
    q += seg;
    if (*q == '&') q++;
  }
  return 0;
}

/* ---- connections from elsewhere --------------------------------------- */

/* Serves fd, a connected stream socket (a socketpair's end in tests and
 * the fuzz target), as if the listener had accepted it. */
int la_http_server_adopt(la_http_server *s, uv_os_sock_t fd, la_err *err) {
  http_conn *c;
  int rc;
  if (s->closing || (c = new_conn(s, 0)) == NULL)
    return la_errf(err, LA_ENOMEM, "adopt: server closing or out of memory");
  if ((rc = uv_tcp_open(&c->h.tcp, fd)) != 0) {
    close_conn(c);
    return la_errf(err, LA_EIO, "adopt: %s", uv_strerror(rc));
  }
  s->stats.accepted++;
  admit(c);
  return 0;
}
