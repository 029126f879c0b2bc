/*
 * cli.c: the loralpha command-line client (see cli.h, docs/cli.md).
 *
 *   loralpha [--url URL | --socket PATH] [--json] <command> [options]
 *
 * Every command is one or a few requests to the daemon's HTTP/JSON API
 * (docs/api.md) through one reused libcurl easy handle, over the daemon's
 * Unix socket (the kernel tells it who we are) or over TCP with a bearer
 * token (see set_transport for which one is used); answers are read
 * into a growing buffer and parsed with jansson. Whatever the daemon
 * answers, the client prints what it can: a field that is missing or of
 * the wrong type shows as "-". Text from the daemon is printed with its
 * control characters replaced, so it cannot drive the terminal.
 */
#include "cli.h"

#include "loralpha/command.h"
#include "loralpha/common.h"
#include "loralpha/json_text.h"
#include "loralpha/paths.h"
#include "loralpha/record.h"
#include "loralpha/report.h"
#include "loralpha/rights.h"
#include "loralpha/window.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CLI_VERSION "0.1.0"
#define DEFAULT_URL "http://127.0.0.1:7787"
#define MAX_BODY ((size_t)256 << 20) /* largest answer (and spec) read */
#define HTTP_TIMEOUT_S 30L           /* a whole request */
#define CONNECT_TIMEOUT_S 5L         /* connecting */
#define PAGE_MAX 1000                /* runs per page, the API's maximum */
#define MAX_RANK (1LL << 20)         /* the API's largest rank filter */
#define PLAIN_EVERY_S 5.0            /* progress lines when not a TTY */
#define BAR_MIN 10                   /* the bar's narrowest ... */
#define BAR_MAX 100                  /* ... and widest, between its brackets */
#define BAR_LINE_MAX 511    /* the widest terminal line the bar fills */
#define HEALTH_EVERY_S 10.0 /* wait: how often the daemon's clock is read */
#define TBL_MAX_COLS 16
#define MAX_RULES 8
#define TOKEN_MAX 512 /* longest bearer token accepted, plus its NUL */
#define SOCK_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
#define PRIORITY_MAX 1000     /* the spec's priority range, +-1000 */
#define MAX_PARALLEL_MAX 1024 /* the spec's largest max_parallel */
#define SHOWN -1 /* parse_args printed --help or --version: exit 0 */

/* ---- options and the parsed command line ------------------------------ */

enum {
  O_URL,
  O_JSON,
  O_HELP,
  O_WAIT,
  O_TIMEOUT,
  O_STATE,
  O_RANK,
  O_ALPHA,
  O_LR,
  O_LIMIT,
  O_CSV,
  O_REFRESH,
  O_VERSION,
  O_FORMAT,
  O_OUTPUT,
  O_SOCKET,
  O_TOKEN_FILE,
  O_FINISH,
  O_PRIORITY,
  O_MAX_PARALLEL,
  O_WINDOW,
  O_OUTSIDE,
  O_NO_WINDOW,
  O_COUNT
};

#define BIT(o) (1u << (o))
#define GLOBAL_OPTS                                                            \
  (BIT(O_URL) | BIT(O_JSON) | BIT(O_HELP) | BIT(O_VERSION) | BIT(O_SOCKET) |   \
   BIT(O_TOKEN_FILE))

typedef struct opt_def {
  const char *name;
  int has_value;
} opt_def;

/* Every option, indexed by O_*. */
static const opt_def opt_defs[O_COUNT] = {
    {"--url", 1},      {"--json", 0},         {"--help", 0},
    {"--wait", 0},     {"--timeout", 1},      {"--state", 1},
    {"--rank", 1},     {"--alpha", 1},        {"--lr", 1},
    {"--limit", 1},    {"--csv", 0},          {"--refresh", 0},
    {"--version", 0},  {"--format", 1},       {"--output", 1},
    {"--socket", 1},   {"--token-file", 1},   {"--finish", 0},
    {"--priority", 1}, {"--max-parallel", 1}, {"--window", 1},
    {"--outside", 1},  {"--no-window", 0},
};

/* A growing byte buffer, NUL-terminated when non-empty. */
typedef struct buf {
  char *p;
  size_t len, cap;
  int over; /* more than MAX_BODY was offered */
} buf;

typedef struct cli cli;
typedef int (*cmd_fn)(cli *c);

typedef struct cmd_def {
  const char *name;
  cmd_fn run;
  int nargs;       /* positional arguments: 0 or 1 */
  const char *arg; /* what the argument is, for messages */
  unsigned opts;   /* the options it takes besides the global ones */
} cmd_def;

struct cli {
  const char *cmd;            /* the command word as given */
  const cmd_def *def;         /* its definition */
  const char *val[O_COUNT];   /* option values as given ("" for a flag) */
  const char *arg;            /* the positional argument */
  const char *extra;          /* a second positional argument (an error) */
  char url[1024];             /* the base URL, no trailing '/' (over the
                                 socket: http://localhost) */
  char sock[SOCK_MAX];        /* the Unix socket's path; "" for TCP */
  char where[1100];           /* "socket PATH" or the URL, for messages */
  char no_sock[1100];         /* the default socket, looked for and absent */
  char token[TOKEN_MAX];      /* the bearer token sent over TCP, or "" */
  char token_from[1100];      /* where the token came from, for messages */
  char pin[320];              /* "localhost:PORT:ADDR" when the state dir's
                                 token goes to localhost, else "" */
  struct curl_slist *resolve; /* pin as a list for CURLOPT_RESOLVE */
  int token_local;            /* the token is the state dir's own */
  long long id, rank, limit, priority, max_parallel;
  double timeout, alpha, lr;
  char win_start[6], win_end[6]; /* --window's "HH:MM" ends */
  CURL *curl;
  buf resp;    /* the body of the last answer */
  long status; /* its HTTP status */
  char errbuf[CURL_ERROR_SIZE];
};

/* ---- messages ------------------------------------------------------------ */

/* Copies src into dst with control characters (but newlines and tabs when
 * keep_lines) replaced by '?'; "-" for NULL. Returns dst. */
static const char *clean(char *dst, size_t n, const char *src, int keep_lines) {
  size_t i = 0;
  if (src == NULL) src = "-";
  for (; *src && i + 1 < n; src++, i++) {
    unsigned char ch = (unsigned char)*src;
    int keep = keep_lines && (ch == '\n' || ch == '\t');
    dst[i] = (ch < 0x20 || ch == 0x7f) && !keep ? '?' : (char)ch;
  }
  dst[i] = 0;
  return dst;
}

/* "loralpha: <message>" on stderr. */
static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...) {
  char text[1024], out[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  fprintf(stderr, "loralpha: %s\n", clean(out, sizeof out, text, 0));
}

/* msg() of fmt and ap, returning code. */
static int vfail(int code, const char *fmt, va_list ap) {
  char text[1024];
  vsnprintf(text, sizeof text, fmt, ap);
  msg("%s", text);
  return code;
}

/* msg(), returning LA_CLI_FAILED. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int code = vfail(LA_CLI_FAILED, fmt, ap);
  va_end(ap);
  return code;
}

/* msg(), returning LA_CLI_LOCAL: a local file or the output could not be
 * written. */
static int local_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int local_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int code = vfail(LA_CLI_LOCAL, fmt, ap);
  va_end(ap);
  return code;
}

/* A one-line usage error naming the command, returning LA_CLI_USAGE. */
static int usage_err(const cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_err(const cli *c, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (c->cmd)
    msg("%.64s: %s (see loralpha --help)", c->cmd, text);
  else
    msg("%s (see loralpha --help)", text);
  return LA_CLI_USAGE;
}

static void print_commands(FILE *f);

/* Prints the help text: the commands come from the command table
 * (print_commands), so none can be left out. */
static void print_usage(FILE *f) {
  fputs("usage: loralpha [--url URL | --socket PATH] [--json] <command> "
        "[options]\n",
        f);
  print_commands(f);
  fputs("\n"
        "global options (before or after the command):\n"
        "  --url URL          the daemon over TCP (default: $LORALPHA_URL)\n"
        "  --token-file FILE  the bearer token for TCP (default: "
        "$LORALPHA_TOKEN,\n"
        "                     else the state directory's token file)\n"
        "  --socket PATH      the daemon's Unix socket (default: "
        "$LORALPHA_SOCKET,\n"
        "                     else loralpha.sock in the state directory)\n"
        "  --json             print the daemon's JSON answer (one document)\n"
        "  --help             this help\n"
        "  --version          the client's version (no daemon needed)\n"
        "With none of --url, --socket, --token-file, $LORALPHA_URL and\n"
        "$LORALPHA_SOCKET, the client uses loralpha.sock in the state\n"
        "directory if it exists, else " DEFAULT_URL ".\n"
        "The state directory is $LORALPHA_STATE_DIR, else\n"
        "$XDG_STATE_HOME/loralpha, else ~/.local/state/loralpha.\n"
        "\n"
        "exit codes: 0 ok; 1 the daemon said no, or the sweep ended cancelled\n"
        "or with failed runs; 2 usage error; 3 the daemon cannot be reached;\n"
        "4 wait --timeout expired; 5 a local file or the output could not be\n"
        "written. See docs/cli.md.\n",
        f);
}

/* ---- JSON access that tolerates anything ------------------------------- */

/* Member k of o, or NULL when o is not an object or has no k. */
static json_t *jget(const json_t *o, const char *k) {
  return json_is_object(o) ? json_object_get(o, k) : NULL;
}

/* The string under k, or NULL. */
static const char *jstr(const json_t *o, const char *k) {
  json_t *v = jget(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The string under k, or "-". */
static const char *jstrd(const json_t *o, const char *k) {
  const char *s = jstr(o, k);
  return s ? s : "-";
}

/* The finite number under k in *out; 1 if there is one. */
static int jnum(const json_t *o, const char *k, double *out) {
  json_t *v = jget(o, k);
  if (!json_is_number(v) || !isfinite(json_number_value(v))) return 0;
  *out = json_number_value(v);
  return 1;
}

/* An integer value (a JSON integer, or a real that is integral); 1 if so. */
static int jval_int(const json_t *v, long long *out) {
  double x;
  if (json_is_integer(v)) {
    *out = (long long)json_integer_value(v);
    return 1;
  }
  if (!json_is_real(v)) return 0;
  x = json_real_value(v);
  if (x != floor(x) || fabs(x) > 9e15) return 0;
  *out = (long long)x;
  return 1;
}

/* The integer under k in *out; 1 if there is one. */
static int jint(const json_t *o, const char *k, long long *out) {
  return jval_int(jget(o, k), out);
}

/* 1 if the value under k is JSON true. */
static int jtrue(const json_t *o, const char *k) {
  return json_is_true(jget(o, k));
}

/* The number under k formatted with fmt, or "-". Returns out. */
static const char *fnum(char *out, size_t n, const json_t *o, const char *k,
                        const char *fmt) {
  double x;
  if (jnum(o, k, &x))
    snprintf(out, n, fmt, x);
  else
    snprintf(out, n, "-");
  return out;
}

/* A value for a table cell: an integer, a number with fmt, a string, or
 * "-". Returns out. */
static const char *fval(char *out, size_t n, const json_t *v, const char *fmt) {
  long long i;
  if (json_is_integer(v) && jval_int(v, &i))
    snprintf(out, n, "%lld", i);
  else if (json_is_number(v) && isfinite(json_number_value(v)))
    snprintf(out, n, fmt, json_number_value(v));
  else if (json_is_string(v))
    clean(out, n, json_string_value(v), 0);
  else if (json_is_boolean(v))
    snprintf(out, n, "%s", json_is_true(v) ? "yes" : "no");
  else
    snprintf(out, n, "-");
  return out;
}

/* x with the fewest digits (15..17) that read back exactly. */
static void fmt_exact(char *out, size_t n, double x) {
  la_json_shortest(out, n, x);
}

/* ---- time -------------------------------------------------------------- */

/* Seconds on the monotonic clock. */
static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sleeps s seconds (not at all when s <= 0). */
static void nap(double s) {
  struct timespec ts;
  if (!(s > 0)) return;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* A duration: "45s", "12m05s", "3h12m", "5d03h"; "-" if not finite. */
static const char *fmt_dur(char *out, size_t n, double s) {
  long long x;
  if (!isfinite(s)) return snprintf(out, n, "-"), out;
  x = s < 0 ? 0 : s > 1e12 ? (long long)1e12 : (long long)(s + 0.5);
  if (x < 60)
    snprintf(out, n, "%llds", x);
  else if (x < 3600)
    snprintf(out, n, "%lldm%02llds", x / 60, x % 60);
  else if (x < 86400)
    snprintf(out, n, "%lldh%02lldm", x / 3600, x % 3600 / 60);
  else
    snprintf(out, n, "%lldd%02lldh", x / 86400, x % 86400 / 3600);
  return out;
}

/* Unix seconds as local "YYYY-MM-DD HH:MM:SS", or "-". */
static const char *fmt_when(char *out, size_t n, const json_t *o,
                            const char *k) {
  struct tm tmv;
  time_t s;
  double t;
  snprintf(out, n, "-");
  if (!jnum(o, k, &t) || t < 0 || t > 1e11) return out;
  s = (time_t)t;
  if (localtime_r(&s, &tmv) == NULL ||
      strftime(out, n, "%Y-%m-%d %H:%M:%S", &tmv) == 0)
    snprintf(out, n, "-");
  return out;
}

/* ---- tables -------------------------------------------------------------- */

/* Cells filled row by row; the first row is the header. */
typedef struct table {
  int ncols;
  const char *align; /* one 'l' or 'r' per column */
  char **cell;       /* NULL cells print empty */
  size_t n, cap;
  int oom;
} table;

/* An empty table whose column count is the length of align. */
static void tbl_init(table *t, const char *align) {
  memset(t, 0, sizeof *t);
  t->align = align;
  t->ncols = (int)strlen(align);
  if (t->ncols > TBL_MAX_COLS) t->ncols = TBL_MAX_COLS;
}

/* Appends one cell, printf-style; control characters become '?'. */
static void tbl_add(table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tbl_add(table *t, const char *fmt, ...) {
  char text[256], out[256];
  va_list ap;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    char **p = realloc(t->cell, cap * sizeof *p);
    if (p == NULL) {
      t->oom = 1;
      return;
    }
    t->cell = p, t->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  t->cell[t->n++] = strdup(clean(out, sizeof out, text, 0));
}

/* Adds the header row: one cell per name. */
static void tbl_head(table *t, const char *const *names) {
  for (int i = 0; i < t->ncols; i++)
    tbl_add(t, "%s", names[i]);
}

/* Display width of UTF-8 text: its code points. */
static size_t text_width(const char *s) {
  size_t n = 0;
  for (; s && *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

/* Prints the row starting at cell i, padded to the widths w, without
 * trailing blanks. */
static void tbl_line(const table *t, size_t i, const size_t *w) {
  char line[TBL_MAX_COLS * 600];
  size_t len = 0;
  for (int col = 0; col < t->ncols && i + (size_t)col < t->n; col++) {
    const char *s = t->cell[i + (size_t)col] ? t->cell[i + (size_t)col] : "";
    int pad = (int)(w[col] - text_width(s));
    int n = snprintf(line + len, sizeof line - len, "%s%*s%s%*s",
                     col ? "  " : "", t->align[col] == 'r' ? pad : 0, "", s,
                     t->align[col] == 'r' ? 0 : pad, "");
    if (n < 0 || (size_t)n >= sizeof line - len) break;
    len += (size_t)n;
  }
  while (len > 0 && line[len - 1] == ' ')
    len--;
  line[len] = 0;
  puts(line);
}

/* Prints the table, columns padded to their widest cell, 2 spaces apart. */
static void tbl_print(const table *t) {
  size_t w[TBL_MAX_COLS] = {0};
  int nc = t->ncols;
  if (t->oom) msg("out of memory: the table is incomplete");
  for (size_t i = 0; i < t->n; i++)
    if (text_width(t->cell[i]) > w[i % nc]) w[i % nc] = text_width(t->cell[i]);
  for (size_t i = 0; i < t->n; i += (size_t)nc)
    tbl_line(t, i, w);
}

/* Frees the cells. */
static void tbl_free(table *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->cell[i]);
  free(t->cell);
  memset(t, 0, sizeof *t);
}

/* A cell from the number under k with fmt (an integer as is), or "-". */
static void cell_num(table *t, const json_t *o, const char *k,
                     const char *fmt) {
  char v[64];
  tbl_add(t, "%s", fval(v, sizeof v, jget(o, k), fmt));
}

/* A cell from the string under k, or "-". */
static void cell_str(table *t, const json_t *o, const char *k) {
  const char *s = jstr(o, k);
  tbl_add(t, "%s", s ? s : "-");
}

/* ---- HTTP ------------------------------------------------------------- */

/* Appends n bytes to b, refusing more than MAX_BODY in all; n or 0. */
static size_t buf_put(buf *b, const char *data, size_t n) {
  if (n > MAX_BODY - b->len) {
    b->over = 1;
    return 0;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    char *p;
    while (cap < b->len + n + 1)
      cap *= 2;
    if ((p = realloc(b->p, cap)) == NULL) return 0;
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
  return n;
}

/* curl's write callback: the answer's body into a buf. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg) {
  return buf_put(arg, data, size * nmemb);
}

/* Sets up the reused easy handle for one request. */
static void setup_request(cli *c, const char *url, const char *method,
                          const char *body, size_t blen,
                          struct curl_slist *hdrs) {
  CURL *h = c->curl;
  curl_easy_reset(h); /* keeps the open connection */
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->resp);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "loralpha/" CLI_VERSION);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  if (c->sock[0]) {
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->sock);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  }
  if (c->pin[0] || (c->token[0] && c->token_local)) {
    /* the state dir's token goes straight to its daemon: no proxy, and
     * localhost only to the address the daemon listens on */
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (c->resolve) curl_easy_setopt(h, CURLOPT_RESOLVE, c->resolve);
  }
  if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    if (strcmp(method, "POST") != 0)
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  }
}

/* The daemon cannot be reached: says where it was looked for and what to
 * do, for the socket or for TCP. */
static void unreachable(cli *c) {
  long os_errno = 0;
  curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
  if (c->sock[0] && os_errno == EACCES)
    msg("cannot reach the daemon at %s: permission denied (the socket "
        "belongs to another user? use --url with a token)",
        c->where);
  else if (c->sock[0])
    msg("cannot reach the daemon at %s (is `loralpha serve` running?)",
        c->where);
  else if (c->no_sock[0])
    msg("cannot reach the daemon at %s (is `loralpha serve` running? there "
        "is no socket at %s either; set --socket, --url or LORALPHA_URL)",
        c->where, c->no_sock);
  else
    msg("cannot reach the daemon at %s (is `loralpha serve` running? set "
        "--url or LORALPHA_URL)",
        c->where);
}

/* Why a request failed, printed; returns the exit code. */
static int transport_error(cli *c, CURLcode cc) {
  const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
  curl_off_t connected = 0;
  if (c->resp.over)
    return fail("the daemon's answer is larger than %zu MiB", MAX_BODY >> 20);
  if (cc == CURLE_WRITE_ERROR || cc == CURLE_OUT_OF_MEMORY)
    return fail("out of memory reading the daemon's answer");
  curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connected);
  if (cc == CURLE_OPERATION_TIMEDOUT && connected > 0)
    msg("the daemon at %s did not answer within %ld s", c->where,
        HTTP_TIMEOUT_S);
  else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_OPERATION_TIMEDOUT)
    unreachable(c);
  else
    msg("no answer from the daemon at %s: %s (is %s right?)", c->where, why,
        c->sock[0] ? "--socket" : "--url");
  return LA_CLI_UNREACHABLE;
}

/* The request headers, with the bearer token when there is one; NULL when
 * out of memory. A new list: curl_slist_free_all it. */
static struct curl_slist *make_headers(const cli *c) {
  char auth[TOKEN_MAX + 32];
  const char *lines[] = {"Accept: application/json",
                         "Content-Type: application/json", "Expect:", auth};
  struct curl_slist *hdrs = NULL, *h;
  int n = c->token[0] ? 4 : 3;
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
  for (int i = 0; i < n; i++) {
    if ((h = curl_slist_append(hdrs, lines[i])) == NULL) {
      curl_slist_free_all(hdrs);
      return NULL;
    }
    hdrs = h;
  }
  return hdrs;
}

/* One request to the daemon; fills c->resp and c->status. Returns 0, or an
 * exit code with the message printed. */
static int http(cli *c, const char *method, const char *path, const char *body,
                size_t blen) {
  char url[2048];
  struct curl_slist *hdrs;
  CURLcode cc;
  int rc = 0;
  if ((size_t)snprintf(url, sizeof url, "%s%s", c->url, path) >= sizeof url)
    return fail("the request URL is too long");
  if ((hdrs = make_headers(c)) == NULL) return fail("out of memory");
  c->resp.len = 0, c->resp.over = 0, c->errbuf[0] = 0, c->status = 0;
  if (c->resp.p) c->resp.p[0] = 0;
  setup_request(c, url, method, body, blen, hdrs);
  cc = curl_easy_perform(c->curl);
  if (cc != CURLE_OK)
    rc = transport_error(c, cc);
  else
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
  curl_slist_free_all(hdrs);
  return rc;
}

/* Prints the last answer's body: its JSON with numbers in their shortest
 * exact form (loralpha/json_text.h), or, when it is not JSON, as is (with a
 * final newline). */
static void print_raw(const cli *c) {
  json_t *j = c->resp.len ? json_loadb(c->resp.p, c->resp.len, 0, NULL) : NULL;
  int rc = j ? la_json_print(j, stdout) : LA_EINVAL;
  json_decref(j);
  if (rc != LA_EINVAL) return;
  if (c->resp.len) fwrite(c->resp.p, 1, c->resp.len, stdout);
  if (c->resp.len == 0 || c->resp.p[c->resp.len - 1] != '\n') putchar('\n');
}

/* The default token file's path, or a description when there is no
 * default state directory. Returns out. */
static const char *default_token_path(char *out, size_t n) {
  char dir[1024];
  if (la_paths_state_dir(dir, sizeof dir) ||
      la_paths_join(out, n, dir, LA_TOKEN_NAME))
    snprintf(out, n, "the token file of its state directory");
  return out;
}

/* After a 401: how to be let in, given how this request was made. */
static void auth_hint(const cli *c) {
  char path[1100];
  if (c->sock[0])
    msg("the daemon at %s does not accept your user; ask its admin, or use "
        "--url with --token-file FILE or LORALPHA_TOKEN",
        c->where);
  else if (c->token[0])
    msg("the daemon at %s refused the token from %s: use --token-file FILE "
        "or LORALPHA_TOKEN with a valid token, or its Unix socket (--socket "
        "PATH)",
        c->where, c->token_from);
  else
    msg("the daemon at %s needs a token and none was sent: use --token-file "
        "FILE or LORALPHA_TOKEN (the daemon writes its user's token to the "
        "file token in its state directory, by default %s, which is sent "
        "only to the loopback address that daemon listens on), or its Unix "
        "socket (--socket PATH)",
        c->where, default_token_path(path, sizeof path));
}

/* A 4xx/5xx answer: "loralpha: code: message" (and, with --json, the body
 * on stdout); after a 401, how to authenticate. Returns LA_CLI_FAILED. */
static int server_error(cli *c) {
  json_t *j = json_loadb(c->resp.p ? c->resp.p : "", c->resp.len, 0, NULL);
  json_t *e = jget(j, "error");
  const char *code = jstr(e, "code"), *m = jstr(e, "message");
  char snippet[160];
  if (c->val[O_JSON] && j) print_raw(c);
  if (code || m)
    msg("%s: %s", code ? code : "error", m ? m : "(no message)");
  else
    msg("the daemon answered HTTP %ld: %s", c->status,
        c->resp.len ? clean(snippet, sizeof snippet, c->resp.p, 0)
                    : "(empty body)");
  if (c->status == 401) auth_hint(c);
  json_decref(j);
  return LA_CLI_FAILED;
}

/* A request whose 2xx answer must be a JSON object, returned in *out (a new
 * reference). Returns 0 or an exit code with the message printed. */
static int call(cli *c, const char *method, const char *path, const char *body,
                size_t blen, json_t **out) {
  int rc = http(c, method, path, body, blen);
  *out = NULL;
  if (rc) return rc;
  if (c->status < 200 || c->status > 299) return server_error(c);
  *out = json_loadb(c->resp.p ? c->resp.p : "", c->resp.len, 0, NULL);
  if (json_is_object(*out)) return 0;
  json_decref(*out);
  *out = NULL;
  return fail("unexpected answer from the daemon at %s (HTTP %ld, not a JSON "
              "object)",
              c->where, c->status);
}

/* GET path as a JSON object. */
static int get(cli *c, const char *path, json_t **out) {
  return call(c, "GET", path, NULL, 0, out);
}

/* Appends "&name=value" to a URL of length *len, the value URL-escaped. */
static int add_query(cli *c, char *url, size_t n, const char *name,
                     const char *value) {
  char *esc = curl_easy_escape(c->curl, value, 0);
  size_t len = strlen(url);
  int w;
  if (esc == NULL) return fail("out of memory");
  w = snprintf(url + len, n - len, "%c%s=%s", strchr(url, '?') ? '&' : '?',
               name, esc);
  curl_free(esc);
  if (w < 0 || (size_t)w >= n - len) return fail("the request URL is too long");
  return 0;
}

/* Appends a number parameter, written so that it reads back exactly. */
static int add_query_num(cli *c, char *url, size_t n, const char *name,
                         double x) {
  char v[40];
  fmt_exact(v, sizeof v, x);
  return add_query(c, url, n, name, v);
}

/* ---- sweeps: counts and progress -------------------------------------- */

typedef struct counts {
  long long st[LA_RUN_N_STATES]; /* runs per state */
  long long total;               /* all runs */
  long long finished; /* runs that finished by themselves: done, diverged,
                         failed (not cancelled) */
  double progress;    /* finished / total, in [0, 1] */
} counts;

/* A sweep's counts, total and progress, tolerating missing fields. */
static void read_counts(const json_t *sweep, counts *k) {
  const json_t *cj = jget(sweep, "counts");
  long long v, sum = 0;
  double p;
  for (int i = 0; i < LA_RUN_N_STATES; i++) {
    k->st[i] = jint(cj, la_run_state_names[i], &v) && v >= 0 ? v : 0;
    sum += k->st[i];
  }
  k->total = jint(sweep, "n_runs", &v) && v >= 0 ? v : sum;
  k->finished = k->st[LA_RUN_DONE] + k->st[LA_RUN_DIVERGED] +
                k->st[LA_RUN_FAILED] + k->st[LA_RUN_STOPPED];
  if (jnum(sweep, "progress", &p) && p >= 0 && p <= 1)
    k->progress = p;
  else
    k->progress = k->total > 0 ? (double)k->finished / (double)k->total : 0;
}

/* The state to show: "paused" for an active sweep that is paused, else the
 * daemon's state, or "-". A borrowed string. */
static const char *shown_state(const json_t *s) {
  const char *st = jstr(s, "state");
  if (st && strcmp(st, "active") == 0 && jtrue(s, "paused")) return "paused";
  return st ? st : "-";
}

/* A sweep's window as "22:00-06:00" (with ", outside finish" when long),
 * or NULL when it has none. Returns out or NULL. */
static const char *fmt_window(char *out, size_t n, const json_t *s, int lng) {
  const json_t *w = jget(s, "window");
  if (!json_is_object(w)) return NULL;
  if (lng)
    snprintf(out, n, "%.16s-%.16s, outside %.16s", jstrd(w, "start"),
             jstrd(w, "end"), jstrd(w, "outside"));
  else
    snprintf(out, n, "%.16s-%.16s", jstrd(w, "start"), jstrd(w, "end"));
  return out;
}

/* One row of `list`: id, name, owner, state, progress, done/total, failed,
 * age, window. */
static void sweep_row(table *t, const json_t *s, double now) {
  counts k;
  double created;
  char age[32], win[64];
  read_counts(s, &k);
  cell_num(t, s, "id", "%g");
  cell_str(t, s, "name");
  cell_str(t, s, "owner");
  tbl_add(t, "%s", shown_state(s));
  tbl_add(t, "%.0f%%", floor(k.progress * 100));
  tbl_add(t, "%lld/%lld", k.st[LA_RUN_DONE], k.total);
  tbl_add(t, "%lld", k.st[LA_RUN_FAILED]);
  if (jnum(s, "created_at", &created))
    tbl_add(t, "%s", fmt_dur(age, sizeof age, now - created));
  else
    tbl_add(t, "-");
  if (fmt_window(win, sizeof win, s, 0))
    tbl_add(t, "%s", win);
  else
    tbl_add(t, "-");
}

/* list: the sweeps, newest first. */
static int cmd_list(cli *c) {
  static const char *const head[] = {"ID",     "NAME",     "OWNER",
                                     "STATE",  "PROGRESS", "RUNS",
                                     "FAILED", "AGE",      "WINDOW"};
  json_t *ans = NULL, *s;
  size_t i;
  table t;
  struct timespec now;
  int rc = get(c, "/v1/sweeps", &ans);
  if (rc) return rc;
  if (c->val[O_JSON]) {
    print_raw(c);
  } else if (json_array_size(jget(ans, "sweeps")) == 0) {
    puts("no sweeps");
  } else {
    clock_gettime(CLOCK_REALTIME, &now);
    tbl_init(&t, "rlllrrrrl");
    tbl_head(&t, head);
    json_array_foreach(jget(ans, "sweeps"), i, s) {
      sweep_row(&t, s, (double)now.tv_sec + now.tv_nsec * 1e-9);
    }
    tbl_print(&t);
    tbl_free(&t);
  }
  json_decref(ans);
  return rc;
}

/* Prints "  key          value", the value printf-style and cleaned. */
static void kv(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void kv(const char *key, const char *fmt, ...) {
  char text[1024], out[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  printf("  %-12s %s\n", key, clean(out, sizeof out, text, 0));
}

/* Prints one line on stdout, printf-style and cleaned. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char text[1024], out[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  puts(clean(out, sizeof out, text, 0));
}

/* A JSON value in compact form, cut at n - 1 bytes with "...". */
static const char *compact(char *out, size_t n, const json_t *v) {
  char *s = la_json_text(v);
  snprintf(out, n, "%s", s ? s : "-");
  if (s && strlen(s) >= n && n > 4) memcpy(out + n - 4, "...", 4);
  free(s);
  return out;
}

/* `show`'s task lines for a command task (its settings, then the program
 * and its argument templates); 1 when the task is one, else 0. */
static int show_command(const json_t *spec, const json_t *task,
                        const char *seeds) {
  const json_t *argv = jget(jget(task, "command"), "argv");
  char a[64], b[64], line[1024] = "";
  if (!la_command_is(task)) return 0;
  kv("task", "command, %s steps, batch %s, %s scaling, seeds %s",
     fnum(a, sizeof a, spec, "steps", "%g"),
     fnum(b, sizeof b, spec, "batch", "%g"), jstrd(spec, "scaling"), seeds);
  for (size_t i = 0; i < json_array_size(argv); i++) {
    size_t used = strlen(line);
    snprintf(line + used, sizeof line - used, "%s%s", i ? " " : "",
             json_string_value(json_array_get(argv, i)));
  }
  kv("command", "%s", clean(line, sizeof line, line, 0));
  return 1;
}

/* The spec part of `show`: name, task, training and the grid. */
static void show_spec(const json_t *spec) {
  const json_t *task = jget(spec, "task"), *grid = jget(spec, "grid");
  const json_t *seeds = jget(spec, "seeds");
  char a[64], b[64], s[64], g[3][400];
  long long nseeds;
  if (spec == NULL) return;
  kv("spec name", "%s", jstrd(spec, "name"));
  if (jstr(spec, "description"))
    kv("description", "%s", jstr(spec, "description"));
  if (json_is_array(seeds))
    snprintf(s, sizeof s, "%zu listed", json_array_size(seeds));
  else if (jint(spec, "seeds", &nseeds))
    snprintf(s, sizeof s, "%lld", nseeds);
  else
    snprintf(s, sizeof s, "-");
  if (!show_command(spec, task, s))
    kv("task", "%s, %s steps, batch %s, %s scaling, %s optimizer, seeds %s",
       jstrd(task, "task"), fnum(a, sizeof a, spec, "steps", "%g"),
       fnum(b, sizeof b, spec, "batch", "%g"), jstrd(spec, "scaling"),
       jstrd(jget(spec, "optimizer"), "name"), s);
  kv("grid", "rank %s  alpha %s  lr %s",
     compact(g[0], sizeof g[0], jget(grid, "rank")),
     compact(g[1], sizeof g[1], jget(grid, "alpha")),
     compact(g[2], sizeof g[2], jget(grid, "lr")));
}

/* `show`'s state line: the state, the share of runs that finished by
 * themselves, the cancelled ones; and for a failed sweep, why. */
static void show_state(const json_t *s, const counts *k) {
  char cx[48] = "", why[2048];
  if (k->st[LA_RUN_CANCELLED] > 0)
    snprintf(cx, sizeof cx, ", %lld cancelled", k->st[LA_RUN_CANCELLED]);
  kv("state", "%s, %.0f%% (%lld of %lld runs finished%s)", shown_state(s),
     floor(k->progress * 100), k->finished, k->total, cx);
  if (jstr(s, "error"))
    kv("error", "%s", clean(why, sizeof why, jstr(s, "error"), 1));
}

/* The summary part of `show`: state, progress, times, scheduling. */
static void show_summary(const json_t *s, const counts *k) {
  char a[64], b[64], c[64], d[64], w[32];
  double t0, t1;
  printf("sweep %s: ", fval(a, sizeof a, jget(s, "id"), "%g"));
  printf("%s\n", clean(b, sizeof b, jstr(s, "name"), 0));
  if (jstr(s, "owner")) kv("owner", "%s", jstr(s, "owner"));
  show_state(s, k);
  kv("created", "%s", fmt_when(a, sizeof a, s, "created_at"));
  if (jnum(s, "finished_at", &t1) && jnum(s, "created_at", &t0))
    kv("finished", "%s (took %s)", fmt_when(a, sizeof a, s, "finished_at"),
       fmt_dur(w, sizeof w, t1 - t0));
  kv("scheduling", "priority %s, max_parallel %s, max_attempts %s, seed %s",
     fval(a, sizeof a, jget(s, "priority"), "%g"),
     fval(b, sizeof b, jget(s, "max_parallel"), "%g"),
     fval(c, sizeof c, jget(s, "max_attempts"), "%g"),
     fval(d, sizeof d, jget(s, "seed"), "%.17g"));
  if (fmt_window(a, sizeof a, s, 1)) kv("window", "%s", a);
  show_spec(jget(s, "spec"));
}

/* The runs of a sweep per state, and the total; waiting and stopped (a
 * halving search's) only when there are such runs. */
static void show_counts(const counts *k) {
  static const char *const head[] = {"STATE", "RUNS"};
  table t;
  tbl_init(&t, "lr");
  tbl_head(&t, head);
  for (int i = 0; i < LA_RUN_N_STATES; i++) {
    if ((i == LA_RUN_WAITING || i == LA_RUN_STOPPED) && k->st[i] == 0) continue;
    tbl_add(&t, "%s", la_run_state_names[i]);
    tbl_add(&t, "%lld", k->st[i]);
  }
  tbl_add(&t, "total");
  tbl_add(&t, "%lld", k->total);
  putchar('\n');
  tbl_print(&t);
  tbl_free(&t);
}

/* show ID: a sweep's summary, its spec, and its runs per state. */
static int cmd_show(cli *c) {
  char path[64];
  json_t *s = NULL;
  counts k;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld", c->id);
  if ((rc = get(c, path, &s))) return rc;
  if (c->val[O_JSON]) {
    print_raw(c);
  } else {
    read_counts(s, &k);
    show_summary(s, &k);
    show_counts(&k);
  }
  json_decref(s);
  return rc;
}

/* ---- wait ------------------------------------------------------------- */

typedef struct progress {
  int tty;          /* redraw a bar in place */
  int have0;        /* t0, f0 are set */
  double t0;        /* the first observation */
  long long f0;     /* runs finished then */
  double last_out;  /* when a plain line was last printed */
  int printed;      /* a plain line was printed */
  size_t drawn;     /* width of the bar drawn last */
  int paused;       /* the sweep was paused when last seen */
  char why[128];    /* why no run can start now ("waiting for ..."), or "" */
  json_t *health;   /* the daemon's last /v1/health (owned), or NULL */
  double health_at; /* when it was read (mono), 0: never */
} progress;

/* Seconds left, estimated from the rate at which runs finished since the
 * first observation; -1 while unknown. */
static double eta(progress *p, const counts *k, double t) {
  double done, dt;
  if (!p->have0) {
    p->t0 = t, p->f0 = k->finished, p->have0 = 1;
    return -1; /* seconds: unknown */
  }
  done = (double)(k->finished - p->f0), dt = t - p->t0;
  if (done <= 0 || dt <= 0) return -1; /* seconds: unknown */
  return (double)(k->total - k->finished) * dt / done;
}

/* The terminal's width: stdout's (TIOCGWINSZ), else $COLUMNS, else 80. */
static int term_cols(void) {
  struct winsize ws;
  const char *e = getenv("COLUMNS");
  char *end;
  long n;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  if (e != NULL && (n = strtol(e, &end, 10)) > 0 && *end == 0 && n < 10000)
    return (int)n;
  return 80;
}

/* Is the window w (a sweep's or the daemon's, as the API gives it) closed
 * at the local minute m? Then why says so, naming whose it is. */
static int window_closed(const json_t *w, int m, const char *whose, char *why,
                         size_t n) {
  la_window win;
  la_err err;
  if (!json_is_object(w) || la_window_from_json(w, "window", &win, &err) ||
      la_window_open(&win, m))
    return 0;
  snprintf(why, n, "waiting for the %s window %.8s-%.8s", whose,
           jstrd(w, "start"), jstrd(w, "end"));
  return 1;
}

/* Why the sweep's queued runs cannot start now, in p->why: its window or
 * the daemon's is closed, by the daemon's clock (GET /v1/health: its
 * window and local minute, read every HEALTH_EVERY_S); "" otherwise or
 * when the daemon does not say. */
static void window_wait(cli *c, progress *p, const json_t *s, const counts *k,
                        double t) {
  long long minute;
  int m;
  p->why[0] = 0;
  if (k->st[LA_RUN_QUEUED] == 0) return;
  if (p->health_at == 0 || t - p->health_at >= HEALTH_EVERY_S) {
    json_decref(p->health);
    p->health = NULL, p->health_at = t;
    if (http(c, "GET", "/v1/health", NULL, 0) == 0 && c->status == 200)
      p->health = json_loadb(c->resp.p ? c->resp.p : "", c->resp.len, 0, NULL);
  }
  if (!jint(p->health, "minute", &minute) || minute < 0 || minute >= 1440)
    return;
  m = (int)((minute + (long long)((t - p->health_at) / 60)) % 1440);
  if (!window_closed(jget(s, "window"), m, "sweep's", p->why, sizeof p->why))
    window_closed(jget(p->health, "window"), m, "daemon's", p->why,
                  sizeof p->why);
}

/* "52/72 runs finished, 2 running, 0 failed, ETA 1m05s" (without "runs"
 * when terse); "paused", or why no run can start, instead of the ETA. */
static void progress_text(char *out, size_t n, const counts *k, double eta_s,
                          int terse, const progress *p) {
  char e[32];
  snprintf(out, n, "%lld/%lld %sfinished, %lld running, %lld failed, %s%s",
           k->finished, k->total, terse ? "" : "runs ", k->st[LA_RUN_RUNNING],
           k->st[LA_RUN_FAILED],
           p->paused   ? "paused"
           : p->why[0] ? p->why
                       : "ETA ",
           p->paused || p->why[0] ? ""
           : eta_s < 0            ? "-"
                                  : fmt_dur(e, sizeof e, eta_s));
}

/* The bar's width between its brackets on a line of at most max columns
 * beside text: as wide as fits, BAR_MIN..BAR_MAX; 0 (no bar) when even
 * BAR_MIN leaves the text under 20 columns. */
static int bar_width(int max, size_t text_len) {
  int w = max - 8 - (int)text_len; /* "[", "] ", "100%", " " */
  if (w > BAR_MAX) return BAR_MAX;
  if (w >= BAR_MIN) return w;
  return max - 8 - BAR_MIN >= 20 ? BAR_MIN : 0;
}

/* Redraws the progress bar in place (\r, padded over the last one), as
 * wide as the terminal (term_cols) and cut to fit it. */
static void draw_bar(progress *p, const counts *k, double eta_s) {
  char text[300], line[BAR_LINE_MAX + 1], bar[BAR_MAX + 1];
  int max = term_cols() - 1, fill = 0, w, len;
  if (max > BAR_LINE_MAX) max = BAR_LINE_MAX;
  progress_text(text, sizeof text, k, eta_s, 1, p);
  w = bar_width(max, strlen(text));
  if (k->total > 0)
    fill = (int)((double)w * (double)k->finished / (double)k->total);
  fill = fill < 0 ? 0 : fill > w ? w : fill;
  memset(bar, '#', (size_t)fill);
  memset(bar + fill, '.', (size_t)(w - fill));
  bar[w] = 0;
  len = snprintf(line, sizeof line, "%s%s%s%3.0f%% %s", w ? "[" : "", bar,
                 w ? "] " : "", floor(k->progress * 100), text);
  if (len < 0) return;
  if (len > max) line[max > 0 ? max : 0] = 0, len = max > 0 ? max : 0;
  printf("\r%s", line);
  if ((size_t)len < p->drawn) printf("%*s", (int)(p->drawn - (size_t)len), "");
  p->drawn = (size_t)len;
  fflush(stdout);
}

/* Shows progress: the bar on a TTY, else a line every PLAIN_EVERY_S. */
static void show_progress(cli *c, progress *p, long long id, const json_t *s,
                          const counts *k, double t) {
  char text[300];
  double e = eta(p, k, t);
  if (!p->tty && p->printed && t - p->last_out < PLAIN_EVERY_S) return;
  if (!p->paused) window_wait(c, p, s, k, t);
  if (p->tty) {
    draw_bar(p, k, e);
    return;
  }
  progress_text(text, sizeof text, k, e, 0, p);
  printf("sweep %lld: %.0f%%, %s\n", id, floor(k->progress * 100), text);
  fflush(stdout);
  p->printed = 1, p->last_out = t;
}

/* Has the sweep ended? Its state says so, or else its counts do. */
static int sweep_ended(const json_t *s, const counts *k) {
  const char *st = jstr(s, "state");
  if (st) return strcmp(st, "active") != 0;
  return k->total > 0 &&
         k->st[LA_RUN_QUEUED] + k->st[LA_RUN_RUNNING] + k->st[LA_RUN_WAITING] ==
             0;
}

/* The sweep has ended: a last line, and 0 if it is done without failed
 * runs, else 1. */
static int wait_done(cli *c, progress *p, long long id, const json_t *s,
                     const counts *k) {
  const char *st = jstr(s, "state");
  char name[32];
  int ok = st && strcmp(st, "done") == 0 && k->st[LA_RUN_FAILED] == 0;
  p->why[0] = 0; /* it has ended: nothing waits for a window */
  if (c->val[O_JSON]) {
    print_raw(c);
    return ok ? LA_CLI_OK : LA_CLI_FAILED;
  }
  if (p->tty) draw_bar(p, k, 0), putchar('\n');
  printf("sweep %lld %s: %lld runs: %lld done, %lld diverged, %lld failed, "
         "%lld cancelled",
         id, clean(name, sizeof name, st ? st : "ended", 0), k->total,
         k->st[LA_RUN_DONE], k->st[LA_RUN_DIVERGED], k->st[LA_RUN_FAILED],
         k->st[LA_RUN_CANCELLED]);
  if (k->st[LA_RUN_STOPPED] > 0) /* halving */
    printf(", %lld stopped early", k->st[LA_RUN_STOPPED]);
  putchar('\n');
  return ok ? LA_CLI_OK : LA_CLI_FAILED;
}

/* --timeout expired with the sweep still active. */
static int wait_timeout(cli *c, progress *p, long long id) {
  if (c->val[O_JSON]) print_raw(c);
  if (p->tty) putchar('\n');
  fflush(stdout);
  msg("wait: sweep %lld is still active after %g s", id, c->timeout);
  return LA_CLI_TIMEOUT;
}

/* Polls a sweep until it ends (or --timeout), showing its progress. */
static int wait_sweep(cli *c, long long id) {
  char path[64];
  progress p;
  json_t *s = NULL;
  counts k;
  double start = mono(), t;
  int rc;
  memset(&p, 0, sizeof p);
  p.tty = !c->val[O_JSON] && isatty(STDOUT_FILENO);
  snprintf(path, sizeof path, "/v1/sweeps/%lld", id);
  for (;;) {
    if ((rc = get(c, path, &s))) break;
    read_counts(s, &k);
    p.paused = strcmp(shown_state(s), "paused") == 0;
    t = mono();
    if (sweep_ended(s, &k)) {
      rc = wait_done(c, &p, id, s, &k);
      break;
    }
    if (!c->val[O_JSON]) show_progress(c, &p, id, s, &k, t);
    if (c->timeout > 0 && t - start >= c->timeout) {
      rc = wait_timeout(c, &p, id);
      break;
    }
    json_decref(s);
    s = NULL;
    nap(fmin(p.tty ? 0.25 : 1.0,
             c->timeout > 0 ? start + c->timeout - t : 1.0));
  }
  json_decref(s);
  json_decref(p.health);
  return rc;
}

/* wait ID [--timeout S]. */
static int cmd_wait(cli *c) {
  return wait_sweep(c, c->id);
}

/* ---- submit and cancel ------------------------------------------------ */

/* Reads FILE, or stdin for "-", whole into *out (malloc'd). */
static int read_spec(cli *c, buf *out) {
  int from_stdin = strcmp(c->arg, "-") == 0;
  FILE *f = from_stdin ? stdin : fopen(c->arg, "rb");
  char chunk[65536];
  size_t n;
  int rc = 0;
  if (f == NULL) {
    msg("submit: cannot open %.512s: %s", c->arg, strerror(errno));
    return LA_CLI_USAGE;
  }
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (buf_put(out, chunk, n) != n) {
      rc = fail("submit: %.512s: %s", from_stdin ? "stdin" : c->arg,
                out->over ? "larger than 256 MiB" : "out of memory");
      goto cleanup;
    }
  if (ferror(f)) {
    msg("submit: cannot read %.512s: %s", from_stdin ? "stdin" : c->arg,
        strerror(errno));
    rc = LA_CLI_USAGE;
  }
cleanup:
  if (!from_stdin) fclose(f);
  return rc;
}

/* Makes the relative paths of the spec's task.npy and task.gpt absolute,
 * against the working directory (rights.h): the daemon takes only absolute
 * paths. A spec that is not JSON, or has no relative path, is sent as it is
 * (the daemon says what is wrong with it). */
static int absolute_paths(buf *spec) {
  json_t *root = json_loadb(spec->p, spec->len, JSON_REJECT_DUPLICATES, NULL);
  char cwd[PATH_MAX], *text = NULL;
  int n = 0, rc = 0;
  if (la_rights_files_field(json_object_get(root, "task")) != NULL &&
      getcwd(cwd, sizeof cwd) == NULL)
    rc = fail("submit: cannot find the working directory (needed for the "
              "spec's relative paths): %s",
              strerror(errno));
  else if ((n = la_rights_absolute_paths(root, cwd)) > 0 &&
           (text = la_json_text(root)) == NULL)
    n = LA_ENOMEM;
  json_decref(root);
  if (n < 0) return fail("submit: out of memory");
  if (text != NULL) {
    spec->len = 0;
    if (buf_put(spec, text, strlen(text)) != strlen(text))
      rc = fail("submit: the spec with absolute paths is too large");
    free(text);
  }
  return rc;
}

/* Says that the daemon stored the sweep without the worker's check, and
 * why (the answer's "check", docs/sweeps.md#checked-at-submit). */
static void note_unchecked(const json_t *ans, long long id) {
  const json_t *chk = jget(ans, "check");
  const char *res = jstr(chk, "result");
  char why[512];
  if (res != NULL && strcmp(res, "skipped") == 0)
    msg("sweep %lld: %s", id, clean(why, sizeof why, jstr(chk, "why"), 0));
}

/* "sweep 3 (quick): 24 runs queued", and when the grid is larger (a law
 * search: its larger ranks start from the law) how much larger. */
static void note_queued(const json_t *ans, long long id, long long runs) {
  long long grid;
  char name[160];
  clean(name, sizeof name, jstr(ans, "name"), 0);
  if (jint(ans, "grid_runs", &grid) && grid > runs)
    msg("sweep %lld (%s): %lld runs queued of the grid's %lld (the larger "
        "ranks' runs are stored when the law starts them)",
        id, name, runs, grid);
  else
    msg("sweep %lld (%s): %lld runs queued", id, name, runs);
}

/* submit FILE|- [--wait]: posts the spec and prints the new sweep's id. */
static int cmd_submit(cli *c) {
  buf spec = {0};
  json_t *ans = NULL;
  long long id, runs;
  int rc = read_spec(c, &spec);
  if (rc == 0) rc = absolute_paths(&spec);
  if (rc) goto cleanup;
  if ((rc = call(c, "POST", "/v1/sweeps", spec.p, spec.len, &ans)))
    goto cleanup;
  if (!jint(ans, "id", &id) || id <= 0) {
    rc = fail("the daemon accepted the sweep but answered no id");
    goto cleanup;
  }
  if (!c->val[O_JSON]) printf("%lld\n", id);
  if (c->val[O_JSON] && !c->val[O_WAIT]) print_raw(c);
  fflush(stdout);
  if (!c->val[O_JSON] && isatty(STDERR_FILENO) && jint(ans, "runs", &runs))
    note_queued(ans, id, runs);
  if (!c->val[O_JSON] && isatty(STDERR_FILENO)) note_unchecked(ans, id);
  if (c->val[O_WAIT]) rc = wait_sweep(c, id);
cleanup:
  free(spec.p);
  json_decref(ans);
  return rc;
}

/* cancel ID. */
static int cmd_cancel(cli *c) {
  char path[64];
  json_t *ans = NULL;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld/cancel", c->id);
  if ((rc = call(c, "POST", path, "", 0, &ans))) return rc;
  if (c->val[O_JSON])
    print_raw(c);
  else
    printf("sweep %lld cancelled\n", c->id);
  json_decref(ans);
  return rc;
}

/* delete ID: removes a finished or cancelled sweep and everything of it
 * from the daemon's database (DELETE /v1/sweeps/{id}). */
static int cmd_delete(cli *c) {
  char path[64];
  json_t *ans = NULL, *v;
  const char *tbl;
  long long runs = 0, rows = 0, n;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld", c->id);
  if ((rc = call(c, "DELETE", path, NULL, 0, &ans))) return rc;
  if (c->val[O_JSON]) {
    print_raw(c);
  } else {
    json_object_foreach(jget(ans, "deleted"), tbl, v) {
      if (!jval_int(v, &n) || n < 0 || strcmp(tbl, "sweeps") == 0) continue;
      if (strcmp(tbl, "runs") == 0)
        runs += n;
      else
        rows += n;
    }
    printf("sweep %lld deleted: %lld runs and %lld rows of their data\n", c->id,
           runs, rows);
  }
  json_decref(ans);
  return rc;
}

/* ---- identity and scheduling ------------------------------------------ */

/* whoami: the user the daemon takes us for, and how it knows. */
static int cmd_whoami(cli *c) {
  json_t *w = NULL;
  const char *via, *admin;
  int rc = get(c, "/v1/whoami", &w);
  if (rc) return rc;
  if (c->val[O_JSON]) {
    print_raw(c);
  } else {
    via = jstrd(w, "via");
    admin = jtrue(w, "admin") ? " (admin)" : "";
    if (strcmp(via, "socket") == 0 && c->sock[0])
      say("%.128s%s via socket %s", jstrd(w, "user"), admin, c->sock);
    else
      say("%.128s%s via %.32s at %s", jstrd(w, "user"), admin, via, c->where);
  }
  json_decref(w);
  return rc;
}

/* A law search's prediction against what was found (the answer's "law"):
 * per lr its words, and a row per rank the law started. */
static void print_law(const json_t *law) {
  static const char *const head[] = {"RANK",  "LR",     "PREDICTED", "INTERVAL",
                                     "FOUND", "INSIDE", "MISSED BY"};
  char a[64], b[64], text[1024];
  const json_t *e, *x;
  size_t i, k;
  table t;
  if (json_array_size(law) == 0) return;
  printf("\nlaw: the prediction against what was found\n");
  json_array_foreach(law, i, e) {
    printf("%s\n", clean(text, sizeof text, jstrd(e, "text"), 0));
    if (json_array_size(jget(e, "predictions")) == 0) continue;
    tbl_init(&t, "rrrrrlr");
    tbl_head(&t, head);
    json_array_foreach(jget(e, "predictions"), k, x) {
      cell_num(&t, x, "rank", "%g");
      cell_num(&t, e, "lr", "%g");
      cell_num(&t, x, "predicted", "%.4g");
      tbl_add(&t, "[%s, %s]", fval(a, sizeof a, jget(x, "lo"), "%.4g"),
              fval(b, sizeof b, jget(x, "hi"), "%.4g"));
      if (jtrue(x, "done"))
        cell_num(&t, x, "found", "%.4g");
      else
        tbl_add(&t, "searching");
      cell_num(&t, x, "inside", "%g");
      tbl_add(&t, "%s",
              json_is_number(jget(x, "miss_octaves"))
                  ? fval(a, sizeof a, jget(x, "miss_octaves"), "%.2f oct")
                  : "-");
    }
    tbl_print(&t);
    tbl_free(&t);
  }
}

/* A halving search (the answer's "halving"): per rank its rungs, per
 * (rank, lr) the alpha found, and the decisions in order. */
static void print_halving(const json_t *h) {
  static const char *const found_head[] = {"RANK", "LR",      "ALPHA*",
                                           "LOSS", "AT STEP", "AT END"};
  static const char *const dec_head[] = {"SEQ",   "RANK", "RUNG", "ALPHA", "LR",
                                         "PLACE", "DO",   "KIND", "WHY"};
  const json_t *x, *r;
  size_t i, k;
  table t;
  printf("\nrungs per rank: step (cells that may reach it -> promoted)\n");
  json_array_foreach(jget(h, "plan"), i, x) {
    long long rank = 0, cells = 0, steps = 0, v;
    jint(x, "rank", &rank), jint(x, "cells", &cells), jint(x, "steps", &steps);
    printf("  rank %lld: %lld cells:", rank, cells);
    json_array_foreach(jget(x, "rungs"), k, r) {
      long long step = jint(r, "step", &v) ? v : 0,
                reach = jint(r, "reach", &v) ? v : 0,
                up = jint(r, "promote", &v) ? v : 0;
      printf(" step %lld (%lld -> %lld),", step, reach, up);
    }
    printf(" the end at %lld\n", steps);
  }
  printf("\nfound: the best alpha at the deepest step each lr reached\n");
  tbl_init(&t, "rrrrrl");
  tbl_head(&t, found_head);
  json_array_foreach(jget(h, "found"), i, x) {
    long long n = 0;
    cell_num(&t, x, "rank", "%g");
    cell_num(&t, x, "lr", "%g");
    cell_num(&t, x, "alpha_star", "%.4g");
    cell_num(&t, x, "loss", "%.4g");
    cell_num(&t, x, "step", "%g");
    jint(x, "cells_at_end", &n);
    if (jtrue(x, "at_end"))
      tbl_add(&t, "yes (%lld cell%s)", n, n == 1 ? "" : "s");
    else
      tbl_add(&t, "no");
  }
  tbl_print(&t);
  tbl_free(&t);
  printf("\ndecisions, in order\n");
  tbl_init(&t, "rrrrrrlll");
  tbl_head(&t, dec_head);
  json_array_foreach(jget(h, "decisions"), i, x) {
    char a[32], b[32];
    cell_num(&t, x, "seq", "%g");
    cell_num(&t, x, "rank", "%g");
    cell_num(&t, x, "rung", "%g");
    cell_num(&t, x, "alpha", "%.4g");
    cell_num(&t, x, "lr", "%g");
    tbl_add(&t, "%s/%s", fval(a, sizeof a, jget(x, "place"), "%g"),
            fval(b, sizeof b, jget(x, "reached"), "%g"));
    cell_str(&t, x, "action");
    cell_str(&t, x, "kind");
    cell_str(&t, x, "why");
  }
  tbl_print(&t);
  tbl_free(&t);
}

/* search ID: the sweep's search along alpha: what it spent, where each
 * cell's alpha* is, and its decisions (GET /v1/sweeps/{id}/search). */
static int cmd_search(cli *c) {
  static const char *const cells_head[] = {
      "RANK", "LR", "STATE", "LAST", "BEST", "BRACKET", "ALPHAS", "STEPS"};
  static const char *const dec_head[] = {"SEQ",  "RANK",  "LR",   "DO",
                                         "KIND", "ALPHA", "BEST", "WHY"};
  char path[64], a[64], b[64];
  json_t *o = NULL;
  const json_t *x, *sp;
  size_t i;
  table t;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld/search", c->id);
  if ((rc = get(c, path, &o))) return rc;
  if (c->val[O_JSON]) {
    print_raw(c);
    json_decref(o);
    return 0;
  }
  sp = jget(o, "spent");
  printf("search of sweep %lld: %s; %s runs, %s run-steps, %s CPU-seconds\n",
         c->id, jstrd(jget(o, "search"), "strategy"),
         fval(a, sizeof a, jget(sp, "runs"), "%g"),
         fval(b, sizeof b, jget(sp, "run_steps"), "%g"),
         fval(path, sizeof path, jget(sp, "cpu_s"), "%.1f"));
  if (json_is_object(jget(o, "halving"))) {
    print_halving(jget(o, "halving"));
    json_decref(o);
    return 0;
  }
  if (json_array_size(jget(o, "cells")) == 0) {
    printf("(a grid: every alpha of the grid runs; no decisions)\n");
    json_decref(o);
    return 0;
  }
  printf(
      "\ncells: the best alpha and its neighbours (from the last decision)\n");
  tbl_init(&t, "rrllrlrr");
  tbl_head(&t, cells_head);
  json_array_foreach(jget(o, "cells"), i, x) {
    cell_num(&t, x, "rank", "%g");
    cell_num(&t, x, "lr", "%g");
    long long done = 0;
    tbl_add(&t, "%s", jint(x, "done", &done) && done ? "done" : "searching");
    cell_str(&t, x, "last_kind");
    cell_num(&t, x, "best_alpha", "%.4g");
    tbl_add(&t, "[%s, %s]", fval(a, sizeof a, jget(x, "lo"), "%.4g"),
            fval(b, sizeof b, jget(x, "hi"), "%.4g"));
    cell_num(&t, x, "alphas", "%g");
    cell_num(&t, x, "run_steps", "%g");
  }
  tbl_print(&t);
  tbl_free(&t);
  print_law(jget(o, "law"));
  printf("\ndecisions, in order\n");
  tbl_init(&t, "rrrllrrl");
  tbl_head(&t, dec_head);
  json_array_foreach(jget(o, "decisions"), i, x) {
    cell_num(&t, x, "seq", "%g");
    cell_num(&t, x, "rank", "%g");
    cell_num(&t, x, "lr", "%g");
    cell_str(&t, x, "action");
    cell_str(&t, x, "kind");
    cell_num(&t, x, "alpha", "%.4g");
    cell_num(&t, x, "best", "%.4g");
    cell_str(&t, x, "why");
  }
  tbl_print(&t);
  tbl_free(&t);
  json_decref(o);
  return 0;
}

/* pause ID [--finish]: no run of the sweep starts; running runs go back to
 * the queue, or with --finish run to their end. */
static int cmd_pause(cli *c) {
  const char *body = c->val[O_FINISH] ? "{\"running\":\"finish\"}"
                                      : "{\"running\":\"requeue\"}";
  char path[64];
  json_t *ans = NULL;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld/pause", c->id);
  if ((rc = call(c, "POST", path, body, strlen(body), &ans))) return rc;
  if (c->val[O_JSON])
    print_raw(c);
  else if (jtrue(ans, "was_paused") && c->val[O_FINISH])
    printf("sweep %lld was already paused: nothing changed\n", c->id);
  else if (jtrue(ans, "was_paused"))
    printf("sweep %lld was already paused: running runs go back to the "
           "queue\n",
           c->id);
  else if (c->val[O_FINISH])
    printf("sweep %lld paused: running runs finish, no new run starts\n",
           c->id);
  else
    printf("sweep %lld paused: running runs go back to the queue\n", c->id);
  json_decref(ans);
  return rc;
}

/* resume ID: runs of a paused sweep start again. */
static int cmd_resume(cli *c) {
  char path[64];
  json_t *ans = NULL;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld/resume", c->id);
  if ((rc = call(c, "POST", path, "", 0, &ans))) return rc;
  if (c->val[O_JSON])
    print_raw(c);
  else if (json_is_false(jget(ans, "was_paused")))
    printf("sweep %lld was not paused: nothing to resume\n", c->id);
  else
    printf("sweep %lld resumed\n", c->id);
  json_decref(ans);
  return rc;
}

/* The PATCH body of `set`: the fields given on the command line. A new
 * reference, or NULL when out of memory. */
static json_t *set_body(const cli *c) {
  json_t *b = json_object(), *w = NULL;
  int bad = b == NULL;
  if (!bad && c->val[O_PRIORITY])
    bad |= json_object_set_new(b, "priority", json_integer(c->priority));
  if (!bad && c->val[O_MAX_PARALLEL])
    bad |=
        json_object_set_new(b, "max_parallel", json_integer(c->max_parallel));
  if (!bad && c->val[O_NO_WINDOW])
    bad |= json_object_set_new(b, "window", json_null());
  if (!bad && c->val[O_WINDOW]) {
    w = json_pack("{s:s, s:s, s:s}", "start", c->win_start, "end", c->win_end,
                  "outside", c->val[O_OUTSIDE] ? c->val[O_OUTSIDE] : "finish");
    bad |= json_object_set_new(b, "window", w);
  }
  if (!bad) return b;
  json_decref(b);
  return NULL;
}

/* set ID [--priority N] [--max-parallel N] [--window ... | --no-window]:
 * changes the sweep's scheduling; prints what it is now. */
static int cmd_set(cli *c) {
  char path[64], a[64], b[64], w[96];
  json_t *body = set_body(c), *ans = NULL;
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld", c->id);
  if (text == NULL) {
    rc = fail("out of memory");
    goto cleanup;
  }
  if ((rc = call(c, "PATCH", path, text, strlen(text), &ans))) goto cleanup;
  if (c->val[O_JSON]) {
    print_raw(c);
    goto cleanup;
  }
  say("sweep %lld: priority %s, max_parallel %s, window %s", c->id,
      fval(a, sizeof a, jget(ans, "priority"), "%g"),
      fval(b, sizeof b, jget(ans, "max_parallel"), "%g"),
      fmt_window(w, sizeof w, ans, 1) ? w : "none");
cleanup:
  free(text);
  json_decref(body);
  json_decref(ans);
  return rc;
}

/* ---- runs -----------------------------------------------------------------
 */

/* The path of one page of `runs`: the filters, the page size and after. */
static int runs_path(cli *c, long long after, long long page, char *out,
                     size_t n) {
  char v[32];
  int rc = 0;
  snprintf(out, n, "/v1/sweeps/%lld/runs", c->id);
  snprintf(v, sizeof v, "%lld", page);
  rc = add_query(c, out, n, "limit", v);
  if (!rc && c->val[O_STATE])
    rc = add_query(c, out, n, "state", c->val[O_STATE]);
  if (!rc && c->val[O_RANK]) {
    snprintf(v, sizeof v, "%lld", c->rank);
    rc = add_query(c, out, n, "rank", v);
  }
  if (!rc && c->val[O_ALPHA]) rc = add_query_num(c, out, n, "alpha", c->alpha);
  if (!rc && c->val[O_LR]) rc = add_query_num(c, out, n, "lr", c->lr);
  if (!rc && after > 0) {
    snprintf(v, sizeof v, "%lld", after);
    rc = add_query(c, out, n, "after", v);
  }
  return rc;
}

/* Appends at most max runs of a page to all; returns how many. */
static size_t take_runs(json_t *all, const json_t *runs, size_t max) {
  size_t i, n = 0;
  json_t *r;
  json_array_foreach(runs, i, r) {
    if (n == max) break;
    json_array_append(all, r);
    n++;
  }
  return n;
}

/* Fetches pages into all until --limit or the last page. *next is the id
 * after which more runs remain, or 0. */
static int fetch_runs(cli *c, json_t *all, long long *next) {
  long long want = c->limit > 0 ? c->limit : LLONG_MAX, after = 0, nx;
  char path[512];
  json_t *ans;
  size_t got;
  int rc, more;
  for (;;) {
    long long left = want - (long long)json_array_size(all);
    *next = 0;
    if ((rc = runs_path(c, after, left < PAGE_MAX ? left : PAGE_MAX, path,
                        sizeof path)) ||
        (rc = get(c, path, &ans)))
      return rc;
    got = take_runs(all, jget(ans, "runs"),
                    (size_t)(left < PAGE_MAX ? left : PAGE_MAX));
    more = jint(ans, "next", &nx) && nx > after;
    json_decref(ans);
    if (more) *next = nx;
    if (!more || got == 0 || (long long)json_array_size(all) >= want) return 0;
    after = nx;
  }
}

/* One row of `runs`. */
static void run_row(table *t, const json_t *r) {
  cell_num(t, r, "id", "%g");
  cell_num(t, r, "rank", "%g");
  cell_num(t, r, "alpha", "%g");
  cell_num(t, r, "lr", "%g");
  cell_num(t, r, "seed", "%.17g");
  cell_str(t, r, "state");
  cell_num(t, r, "attempts", "%g");
  cell_num(t, r, "final_eval_loss", "%.4g");
  cell_num(t, r, "best_eval_loss", "%.4g");
  cell_num(t, r, "wall_s", "%.2f");
}

/* The runs as a table. */
static void print_runs(const json_t *all) {
  static const char *const head[] = {
      "ID",    "RANK",     "ALPHA",      "LR",        "SEED",
      "STATE", "ATTEMPTS", "FINAL_EVAL", "BEST_EVAL", "WALL_S"};
  table t;
  size_t i;
  json_t *r;
  if (json_array_size(all) == 0) {
    puts("no runs");
    return;
  }
  tbl_init(&t, "rrrrrlrrrr");
  tbl_head(&t, head);
  json_array_foreach(all, i, r) {
    run_row(&t, r);
  }
  tbl_print(&t);
  tbl_free(&t);
}

/* The columns of `runs --csv`: the API's run fields, sweep_id first. */
static const char *const run_csv_cols[] = {"sweep_id",
                                           "id",
                                           "idx",
                                           "rank",
                                           "alpha",
                                           "lr",
                                           "seed_index",
                                           "seed",
                                           "state",
                                           "attempts",
                                           "steps_done",
                                           "final_train_loss",
                                           "final_eval_loss",
                                           "best_eval_loss",
                                           "best_step",
                                           "wall_s",
                                           "started_at",
                                           "finished_at",
                                           "error"};
#define N_RUN_CSV_COLS (sizeof run_csv_cols / sizeof run_csv_cols[0])

static void csv_val(const json_t *v);

/* A CSV text field (RFC 4180): quoted when it holds a comma, a quote or a
 * line end, quotes doubled; control characters but line ends and tabs
 * become '?'. */
static void csv_text(const char *s) {
  size_t n = strlen(s) + 1;
  char *t = malloc(n);
  if (t == NULL) return;
  clean(t, n, s, 1);
  if (strpbrk(t, ",\"\r\n") == NULL) {
    fputs(t, stdout);
  } else {
    putchar('"');
    for (const char *p = t; *p; p++) {
      if (*p == '"') putchar('"');
      putchar(*p);
    }
    putchar('"');
  }
  free(t);
}

/* The runs as CSV: a header, then one row per run; null or missing fields
 * are empty, numbers read back exactly (loralpha/json_text.h). */
static void print_runs_csv(const cli *c, const json_t *all) {
  size_t i;
  json_t *r;
  for (size_t k = 0; k < N_RUN_CSV_COLS; k++)
    printf("%s%s", k ? "," : "", run_csv_cols[k]);
  putchar('\n');
  json_array_foreach(all, i, r) {
    printf("%lld", c->id);
    for (size_t k = 1; k < N_RUN_CSV_COLS; k++) {
      const json_t *v = jget(r, run_csv_cols[k]);
      putchar(',');
      if (json_is_string(v))
        csv_text(json_string_value(v));
      else
        csv_val(v);
    }
    putchar('\n');
  }
}

/* runs ID [filters] [--limit N]: follows `next` until the limit. */
static int cmd_runs(cli *c) {
  json_t *all = json_array(), *doc = NULL;
  long long next = 0;
  int rc;
  if (all == NULL) return fail("out of memory");
  if ((rc = fetch_runs(c, all, &next))) goto cleanup;
  if (c->val[O_JSON]) {
    doc = json_pack("{s:O, s:o}", "runs", all, "next",
                    next ? json_integer(next) : json_null());
    if (doc == NULL) {
      rc = fail("out of memory");
      goto cleanup;
    }
    la_json_print(doc, stdout);
  } else if (c->val[O_CSV]) {
    print_runs_csv(c, all);
    if (next && c->limit > 0)
      msg("runs: more runs match (raise --limit to see them)");
  } else {
    print_runs(all);
    if (next && c->limit > 0)
      msg("runs: more runs match (raise --limit to see them)");
  }
cleanup:
  json_decref(doc);
  json_decref(all);
  return rc;
}

/* ---- one run ------------------------------------------------------------ */

/* The curve columns, in the order of the tables and the CSV. */
static const char *const curve_cols[] = {
    "step", "loss", "lr", "grad_norm_a", "grad_norm_b", "update_norm"};

/* The summary of a run. */
static void run_summary(const json_t *r) {
  char a[64], b[64], cc[64], d[64], e[64], err[4096];
  printf("run %s", fval(a, sizeof a, jget(r, "id"), "%g"));
  printf(" of sweep %s", fval(a, sizeof a, jget(r, "sweep_id"), "%g"));
  printf(" (index %s)\n", fval(a, sizeof a, jget(r, "idx"), "%g"));
  kv("state", "%s after %s attempt(s)", jstrd(r, "state"),
     fval(a, sizeof a, jget(r, "attempts"), "%g"));
  kv("grid point", "rank %s, alpha %s, lr %s, seed %s (seed index %s)",
     fval(a, sizeof a, jget(r, "rank"), "%g"),
     fval(b, sizeof b, jget(r, "alpha"), "%g"),
     fval(cc, sizeof cc, jget(r, "lr"), "%g"),
     fval(d, sizeof d, jget(r, "seed"), "%.17g"),
     fval(e, sizeof e, jget(r, "seed_index"), "%g"));
  kv("steps done", "%s", fval(a, sizeof a, jget(r, "steps_done"), "%g"));
  kv("final loss", "train %s, eval %s",
     fnum(a, sizeof a, r, "final_train_loss", "%.6g"),
     fnum(b, sizeof b, r, "final_eval_loss", "%.6g"));
  kv("best eval", "%s at step %s",
     fnum(a, sizeof a, r, "best_eval_loss", "%.6g"),
     fval(b, sizeof b, jget(r, "best_step"), "%g"));
  kv("wall", "%s s", fnum(a, sizeof a, r, "wall_s", "%.3f"));
  kv("started", "%s", fmt_when(a, sizeof a, r, "started_at"));
  kv("finished", "%s", fmt_when(a, sizeof a, r, "finished_at"));
  if (jstr(r, "error")) {
    printf("  %-12s ", "error");
    clean(err, sizeof err, jstr(r, "error"), 1);
    for (const char *p = err; *p; p++) /* continuation lines indented */
      if (*p == '\n')
        fputs("\n               ", stdout);
      else
        putchar(*p);
    putchar('\n');
  }
}

/* A titled table of the rows of an array of objects, one column per key. */
static void object_table(const char *title, const json_t *rows,
                         const char *const *keys, const char *const *head,
                         const char *align) {
  table t;
  size_t i;
  json_t *o;
  if (json_array_size(rows) == 0) return;
  printf("\n%s\n", title);
  tbl_init(&t, align);
  tbl_head(&t, head);
  json_array_foreach(rows, i, o) {
    for (int k = 0; k < t.ncols; k++)
      cell_num(&t, o, keys[k], "%.6g");
  }
  tbl_print(&t);
  tbl_free(&t);
}

/* The run's layers and sharpness estimates, when there are some. */
static void run_extras(const json_t *r) {
  static const char *const lk[] = {"layer", "d_in", "d_out", "sigma_max_w0",
                                   "target_norm"};
  static const char *const lh[] = {"LAYER", "D_IN", "D_OUT", "SIGMA_MAX_W0",
                                   "TARGET_NORM"};
  static const char *const sk[] = {
      "step",       "lora",       "full",           "ratio",
      "lora_iters", "full_iters", "lora_converged", "full_converged"};
  static const char *const sh[] = {"STEP",      "LORA",       "FULL",
                                   "RATIO",     "LORA_ITERS", "FULL_ITERS",
                                   "LORA_CONV", "FULL_CONV"};
  object_table("layers", jget(r, "layers"), lk, lh, "rrrrr");
  object_table("sharpness", jget(r, "sharpness"), sk, sh, "rrrrrrrr");
  if (json_array_size(jget(r, "spectra")))
    printf("\nspectra: %zu records (see --json)\n",
           json_array_size(jget(r, "spectra")));
}

/* One curve ("eval" or "train") as a table of its first ncols columns. */
static void curve_table(const json_t *r, const char *kind, int ncols) {
  static const char *const head[] = {
      "STEP", "LOSS", "LR", "GRAD_NORM_A", "GRAD_NORM_B", "UPDATE_NORM"};
  const json_t *part = jget(jget(r, "curve"), kind);
  size_t n = json_array_size(jget(part, "step"));
  char v[64];
  table t;
  printf("\n%s curve (%zu points)\n", kind, n);
  if (n == 0) return;
  tbl_init(&t, ncols == 2 ? "rr" : "rrrrrr");
  tbl_head(&t, head);
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < ncols; k++)
      tbl_add(&t, "%s",
              fval(v, sizeof v, json_array_get(jget(part, curve_cols[k]), i),
                   "%.6g"));
  tbl_print(&t);
  tbl_free(&t);
}

/* A CSV field: an integer, an exact number, or empty. */
static void csv_val(const json_t *v) {
  char s[40];
  long long i;
  if (json_is_integer(v) && jval_int(v, &i)) {
    printf("%lld", i);
  } else if (json_is_number(v) && isfinite(json_number_value(v))) {
    fmt_exact(s, sizeof s, json_number_value(v));
    fputs(s, stdout);
  }
}

/* The CSV rows of one curve; the eval curve leaves the train-only columns
 * empty. */
static void csv_part(const json_t *r, const char *kind) {
  const json_t *part = jget(jget(r, "curve"), kind);
  size_t n = json_array_size(jget(part, "step"));
  for (size_t i = 0; i < n; i++) {
    csv_val(json_array_get(jget(part, "step"), i));
    printf(",%s", kind);
    for (int k = 1; k < 6; k++) {
      putchar(',');
      csv_val(json_array_get(jget(part, curve_cols[k]), i));
    }
    putchar('\n');
  }
}

/* Appends the arrays of page's part to r's (same keys). */
static void extend_part(json_t *r, const json_t *page, const char *kind) {
  const char *key;
  json_t *arr, *mine = jget(jget(r, "curve"), kind);
  json_object_foreach((json_t *)jget(jget(page, "curve"), kind), key, arr)
      json_array_extend(json_object_get(mine, key), arr);
}

/* The whole run: the daemon answers a long curve in pages (after/next). */
static int get_run_pages(cli *c, json_t **out) {
  char path[96];
  json_t *r = NULL, *page = NULL;
  int rc;
  snprintf(path, sizeof path, "/v1/runs/%lld", c->id);
  if ((rc = get(c, path, &r))) return rc;
  while (json_is_integer(json_object_get(r, "next"))) {
    snprintf(path, sizeof path, "/v1/runs/%lld?after=%lld", c->id,
             (long long)json_integer_value(json_object_get(r, "next")));
    if ((rc = get(c, path, &page))) break;
    extend_part(r, page, "train");
    extend_part(r, page, "eval");
    json_array_extend(json_object_get(r, "spectra"), jget(page, "spectra"));
    json_array_extend(json_object_get(r, "sharpness"), jget(page, "sharpness"));
    json_object_set(r, "next", json_object_get(page, "next"));
    json_decref(page);
  }
  *out = r;
  return rc;
}

/* run RUN_ID [--csv]: the summary and curves, or the curves as CSV. */
static int cmd_run(cli *c) {
  json_t *r = NULL;
  int rc;
  if ((rc = get_run_pages(c, &r))) {
    json_decref(r);
    return rc;
  }
  if (c->val[O_JSON]) {
    la_json_print(r, stdout);
  } else if (c->val[O_CSV]) {
    puts("step,kind,loss,lr,grad_norm_a,grad_norm_b,update_norm");
    csv_part(r, "eval");
    csv_part(r, "train");
  } else {
    run_summary(r);
    run_extras(r);
    curve_table(r, "eval", 2);
    curve_table(r, "train", 6);
  }
  json_decref(r);
  return rc;
}

/* ---- analysis and recommend ------------------------------------------- */

/* "[lo, hi]" from two numbers of o, or "-". */
static const char *fint(char *out, size_t n, const json_t *o, const char *lo,
                        const char *hi) {
  double a, b;
  if (jnum(o, lo, &a) && jnum(o, hi, &b))
    snprintf(out, n, "[%.4g, %.4g]", a, b);
  else
    snprintf(out, n, "-");
  return out;
}

/* One row of the fits table. */
static void fit_row(table *t, const json_t *cp, const json_t *f) {
  const char *m = jstr(f, "method");
  char v[64];
  long long used, excl;
  double frac;
  if (jnum(cp, "fraction", &frac))
    tbl_add(t, "%.0f%%", frac * 100);
  else
    tbl_add(t, "-");
  cell_num(t, cp, "step", "%g");
  cell_num(t, f, "lr", "%g");
  tbl_add(t, "%s",
          m == NULL                ? "-"
          : strcmp(m, "free") == 0 ? "c*r^p"
          : strcmp(m, "sqrt") == 0 ? "c*sqrt(r)"
                                   : m);
  cell_num(t, f, "c", "%.4g");
  tbl_add(t, "%s", fint(v, sizeof v, f, "c_lo", "c_hi"));
  cell_num(t, f, "p", "%.3g");
  tbl_add(t, "%s", fint(v, sizeof v, f, "p_lo", "p_hi"));
  cell_num(t, f, "scatter_log2", "%.2f");
  if (jint(f, "n_used", &used) && jint(f, "n_excluded", &excl) && excl > 0)
    tbl_add(t, "%lld (+%lld excl.)", used, excl);
  else
    cell_num(t, f, "n_used", "%g");
  tbl_add(t, "%s",
          jtrue(f, "insufficient") ? "insufficient"
          : jtrue(f, "poor")       ? "poor"
                                   : "ok");
}

/* The law fits of every checkpoint and lr. */
static void fits_table(const json_t *a) {
  static const char *const head[] = {
      "BUDGET", "STEP",       "LR",      "LAW", "C",  "C_INTERVAL",
      "P",      "P_INTERVAL", "SCATTER", "N",   "FIT"};
  table t;
  size_t i, j;
  json_t *cp, *f;
  printf("law fits: log alpha* = log c + p log r, per checkpoint and lr "
         "(SCATTER: RMS residual, octaves)\n");
  tbl_init(&t, "rrrlrlrlrrl");
  tbl_head(&t, head);
  json_array_foreach(jget(a, "checkpoints"), i, cp) {
    json_array_foreach(jget(cp, "fits"), j, f) {
      fit_row(&t, cp, f);
    }
  }
  if (t.n == (size_t)t.ncols)
    puts("  (no fits)");
  else
    tbl_print(&t);
  tbl_free(&t);
}

/* The checkpoint with the largest fraction (the full budget), or NULL. */
static const json_t *final_checkpoint(const json_t *a) {
  const json_t *best = NULL;
  double bf = -1, fr;
  size_t i;
  json_t *cp;
  json_array_foreach(jget(a, "checkpoints"), i, cp) {
    if (!json_is_object(cp)) continue;
    if (!jnum(cp, "fraction", &fr)) fr = 0;
    if (best == NULL || fr >= bf) best = cp, bf = fr;
  }
  return best;
}

/* One row of the alpha*(r) table. */
static void alpha_row(table *t, const json_t *s) {
  char v[64];
  int edge = jtrue(s, "at_edge"), ill = jtrue(s, "ill_determined");
  int flat = jtrue(s, "flat");
  double d;
  cell_num(t, s, "rank", "%g");
  cell_num(t, s, "lr", "%g");
  cell_num(t, s, "alpha", "%.4g");
  if (jnum(s, "lo", &d)) /* the overall interval; older daemons: ci_lo */
    tbl_add(t, "%s", fint(v, sizeof v, s, "lo", "hi"));
  else
    tbl_add(t, "%s", fint(v, sizeof v, s, "ci_lo", "ci_hi"));
  cell_num(t, s, "alpha_grid", "%g");
  cell_num(t, s, "loss", "%.4g");
  cell_num(t, s, "seeds", "%g");
  tbl_add(t, "%s%s%s%s%s", edge ? "at grid edge" : "",
          edge && (ill || flat) ? ", " : "", flat ? "flat" : "",
          flat && ill ? ", " : "", ill ? "ill-determined" : "");
}

/* alpha*(r) at one checkpoint. */
static void alpha_table(const json_t *cp) {
  static const char *const head[] = {"RANK",       "LR",   "ALPHA*", "INTERVAL",
                                     "GRID_ALPHA", "LOSS", "SEEDS",  "NOTE"};
  char v[32];
  table t;
  size_t i;
  json_t *s;
  printf("\nalpha*(r) at step %s\n", fnum(v, sizeof v, cp, "step", "%g"));
  if (json_array_size(jget(cp, "alpha_star")) == 0) {
    puts("  (none)");
    return;
  }
  tbl_init(&t, "rrrlrrrl");
  tbl_head(&t, head);
  json_array_foreach(jget(cp, "alpha_star"), i, s) {
    alpha_row(&t, s);
  }
  tbl_print(&t);
  tbl_free(&t);
}

/* The distinct rule names of a regret array, in order (at most MAX_RULES). */
static int regret_rules(const json_t *arr, const char **rules) {
  int n = 0, k;
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    const char *r = jstr(e, "rule");
    if (r == NULL) continue;
    for (k = 0; k < n && strcmp(rules[k], r) != 0; k++) {
    }
    if (k == n && n < MAX_RULES) rules[n++] = r;
  }
  return n;
}

/* Does entry e belong to the row (rank, lr) of entry row? */
static int same_point(const json_t *e, const json_t *row) {
  long long r1, r2;
  double l1, l2;
  return jint(e, "rank", &r1) && jint(row, "rank", &r2) && r1 == r2 &&
         jnum(e, "lr", &l1) && jnum(row, "lr", &l2) && l1 == l2;
}

/* Is row's (rank, lr) already seen in arr before index i? */
static int seen_before(const json_t *arr, size_t i) {
  const json_t *row = json_array_get(arr, i);
  for (size_t j = 0; j < i; j++)
    if (same_point(json_array_get(arr, j), row)) return 1;
  return 0;
}

/* The regret cells of one row: one per rule, "-" when undefined. */
static void regret_cells(table *t, const json_t *arr, const json_t *row,
                         const char **rules, int nrules) {
  size_t i;
  json_t *e;
  double x;
  for (int k = 0; k < nrules; k++) {
    const char *cell = "-";
    char v[32];
    json_array_foreach(arr, i, e) {
      const char *r = jstr(e, "rule");
      if (r && strcmp(r, rules[k]) == 0 && same_point(e, row) &&
          jnum(e, "regret", &x)) {
        snprintf(v, sizeof v, "%+.1f%%", x * 100);
        cell = v;
        break;
      }
    }
    tbl_add(t, "%s", cell);
  }
}

/* Regret of each heuristic per rank and lr at one checkpoint. */
static void regret_table(const json_t *cp) {
  const json_t *arr = jget(cp, "regret");
  const char *rules[MAX_RULES], *head[MAX_RULES + 2] = {"RANK", "LR"};
  char align[MAX_RULES + 3] = "rr";
  size_t i, n = json_array_size(arr);
  int nr = regret_rules(arr, rules);
  table t;
  printf("\nregret of the heuristics (loss at their alpha / loss at alpha* - "
         "1)\n");
  if (nr == 0) {
    puts("  (none)");
    return;
  }
  for (int k = 0; k < nr; k++)
    head[k + 2] = rules[k], align[k + 2] = 'r';
  align[nr + 2] = 0;
  tbl_init(&t, align);
  tbl_head(&t, head);
  for (i = 0; i < n && i < 4096; i++) {
    const json_t *row = json_array_get(arr, i);
    if (!json_is_object(row) || seen_before(arr, i)) continue;
    cell_num(&t, row, "rank", "%g");
    cell_num(&t, row, "lr", "%g");
    regret_cells(&t, arr, row, rules, nr);
  }
  tbl_print(&t);
  tbl_free(&t);
}

/* A rule's loss_pct as a cell: "+4.1%", or "-" when unknown. */
static void rule_cell(table *t, const json_t *r) {
  double x;
  if (jnum(r, "loss_pct", &x))
    tbl_add(t, "%+.1f%%", x);
  else
    tbl_add(t, "-");
}

/* One row of the answers table: the answer, then one cell per rule. */
static void answer_row(table *t, const json_t *a, const char **rules,
                       int nrules) {
  char v[64];
  const char *src = jstr(a, "source");
  cell_num(t, a, "rank", "%g");
  cell_num(t, a, "lr", "%g");
  cell_num(t, a, "alpha", "%.4g");
  tbl_add(t, "%s", fint(v, sizeof v, a, "alpha_lo", "alpha_hi"));
  cell_num(t, a, "loss", "%.4g");
  tbl_add(t, "%s", src ? src : "-");
  tbl_add(t, "%s%s%s", jtrue(a, "at_edge") ? "at grid edge" : "",
          jtrue(a, "at_edge") && jtrue(a, "ill_determined") ? ", " : "",
          jtrue(a, "ill_determined") ? "ill-determined" : "");
  for (int k = 0; k < nrules; k++) {
    const json_t *r, *hit = NULL;
    size_t i;
    json_array_foreach(jget(a, "rules"), i, r) {
      const char *n = jstr(r, "name");
      if (n && strcmp(n, rules[k]) == 0) hit = r;
    }
    rule_cell(t, hit);
  }
}

/* The distinct rule names of every answer, in order (at most MAX_RULES). */
static int answer_rules(const json_t *answers, const char **rules) {
  int n = 0;
  size_t i;
  json_t *a, *r;
  json_array_foreach(answers, i, a) {
    size_t k;
    json_array_foreach(jget(a, "rules"), k, r) {
      const char *name = jstr(r, "name");
      int j = 0;
      if (name == NULL) continue;
      while (j < n && strcmp(rules[j], name) != 0)
        j++;
      if (j == n && n < MAX_RULES) rules[n++] = name;
    }
  }
  return n;
}

/* The headline and the answer of every tested rank (docs/analysis.md, "The
 * answer"), before the tables they come from. */
static void answers_table(const json_t *an) {
  const json_t *answers = jget(an, "answers");
  const char *rules[MAX_RULES],
      *head[7 + MAX_RULES] = {"RANK", "LR",     "ALPHA", "INTERVAL",
                              "LOSS", "SOURCE", "NOTE"};
  char align[8 + MAX_RULES] = "rrrlrll", text[1024];
  int nr = answer_rules(answers, rules);
  size_t i;
  json_t *a;
  table t;
  if (!json_is_array(answers)) return; /* a daemon from before answers */
  printf("answer: %s\n\n",
         jstr(an, "headline")
             ? clean(text, sizeof text, jstr(an, "headline"), 0)
             : "none (no rank has an alpha* yet)");
  if (json_array_size(answers) == 0) return;
  printf("the answer per tested rank at the full budget, at the lr with the "
         "lowest loss there;\nthe rules' columns: their extra loss against "
         "it (- outside the grid or diverged)\n");
  for (int k = 0; k < nr; k++)
    head[k + 7] = rules[k], align[k + 7] = 'r';
  align[nr + 7] = 0;
  tbl_init(&t, align);
  tbl_head(&t, head);
  json_array_foreach(answers, i, a) {
    if (json_is_object(a)) answer_row(&t, a, rules, nr);
  }
  tbl_print(&t);
  tbl_free(&t);
  putchar('\n');
}

/* One rank's row of the joint optimum table. */
static void joint_row(table *t, const json_t *r) {
  char v[64];
  const json_t *tr = jget(r, "tradeoff");
  int le = jtrue(r, "lr_at_edge"), ae = jtrue(r, "alpha_at_edge");
  cell_num(t, r, "rank", "%g");
  cell_num(t, r, "lr", "%g");
  cell_num(t, r, "alpha", "%.4g");
  tbl_add(t, "%s", fint(v, sizeof v, r, "alpha_lo", "alpha_hi"));
  cell_num(t, r, "loss", "%.4g");
  cell_num(t, tr, "slope", "%.2f");
  tbl_add(t, "%s", fint(v, sizeof v, tr, "slope_lo", "slope_hi"));
  tbl_add(t, "%s", jstr(tr, "verdict") ? jstr(tr, "verdict") : "-");
  tbl_add(t, "%s%s%s", le ? "lr at grid edge" : "", le && ae ? ", " : "",
          ae ? "alpha at grid edge" : "");
}

/* The joint (alpha, lr) optimum per rank and the alpha-lr trade-off of
 * one checkpoint (docs/analysis.md, "The joint optimum"). */
static void joint_table(const json_t *cp) {
  static const char *const head[] = {"RANK",           "BEST_LR", "ALPHA*",
                                     "INTERVAL",       "LOSS",    "SLOPE",
                                     "SLOPE_INTERVAL", "VERDICT", "NOTE"};
  const json_t *jt = jget(cp, "joint");
  char v[32], text[512];
  table t;
  size_t i;
  json_t *r;
  if (!json_is_object(jt)) return; /* a daemon from before the joint */
  printf("\njoint optimum over (alpha, lr) per rank at step %s; slope: of log "
         "alpha* against log lr\n",
         fnum(v, sizeof v, cp, "step", "%g"));
  tbl_init(&t, "rrrlrrlll");
  tbl_head(&t, head);
  json_array_foreach(jget(jt, "ranks"), i, r) {
    if (json_is_object(r)) joint_row(&t, r);
  }
  tbl_print(&t);
  tbl_free(&t);
  printf("alpha-lr trade-off, all ranks: %s\n",
         jstr(jget(jt, "tradeoff"), "text")
             ? clean(text, sizeof text, jstr(jget(jt, "tradeoff"), "text"), 0)
             : "-");
}

/* The distinct steps of the law surface's cells, ascending (at most
 * max). */
static int surface_steps(const json_t *cells, long long *steps, int max) {
  int n = 0;
  size_t i;
  json_t *c;
  long long st;
  json_array_foreach(cells, i, c) {
    int k = 0;
    if (!jint(c, "step", &st)) continue;
    while (k < n && steps[k] < st)
      k++;
    if ((k < n && steps[k] == st) || n == max) continue;
    memmove(steps + k + 1, steps + k, (size_t)(n - k) * sizeof *steps);
    steps[k] = st, n++;
  }
  return n;
}

/* One cell of the law surface's table: "0.55 [0.31, 0.8] ✓" (✓: p's
 * interval holds 0.5, ✗: it does not), "insufficient", or "-" when the
 * sweep has no such cell. */
static void surface_cell(table *t, const json_t *c) {
  char v[64];
  const json_t *ok = jget(c, "sqrt_compatible");
  double p;
  if (c == NULL)
    tbl_add(t, "-");
  else if (!jnum(c, "p", &p))
    tbl_add(t, "insufficient (n %s)",
            fval(v, sizeof v, jget(c, "n_used"), "%g"));
  else
    tbl_add(t, "%.2f %s%s", p, fint(v, sizeof v, c, "p_lo", "p_hi"),
            json_is_true(ok)    ? " ✓"
            : json_is_false(ok) ? " ✗"
                                : "");
}

/* The cell of the law surface at (lr, step), or NULL. */
static const json_t *surface_at(const json_t *cells, double lr, long long st) {
  size_t i;
  json_t *c;
  double l;
  long long s;
  json_array_foreach(cells, i, c) {
    if (jnum(c, "lr", &l) && jint(c, "step", &s) && l == lr && s == st)
      return c;
  }
  return NULL;
}

/* The law across lr and budget (docs/analysis.md): p per lr (rows) and
 * checkpoint step (columns) with its interval and whether it holds 0.5,
 * the trends of c_sqrt and p against lr*steps, and the verdict. */
static void surface_table(const json_t *an) {
  const json_t *ls = jget(an, "law_surface"), *cells = jget(ls, "cells");
  const char *head[TBL_MAX_COLS] = {"LR"};
  char names[TBL_MAX_COLS][32], align[TBL_MAX_COLS + 1] = "r", text[2048];
  long long steps[TBL_MAX_COLS - 1];
  int ns = surface_steps(cells, steps, TBL_MAX_COLS - 1);
  double prev = NAN, lr;
  size_t i;
  json_t *c;
  table t;
  if (!json_is_object(ls)) return; /* a daemon from before the surface */
  printf("\nthe law across lr and budget: p of alpha* = c r^p per lr and "
         "step, its interval,\nand whether it holds 0.5 (✓: the sqrt(r) law "
         "fits; ✗: it does not)\n");
  for (int k = 0; k < ns; k++) {
    snprintf(names[k], sizeof names[k], "STEP %lld", steps[k]);
    head[k + 1] = names[k], align[k + 1] = 'l';
  }
  align[ns + 1] = 0;
  tbl_init(&t, align);
  tbl_head(&t, head);
  json_array_foreach(cells, i, c) {
    if (!jnum(c, "lr", &lr) || lr == prev) continue;
    prev = lr;
    tbl_add(&t, "%g", lr);
    for (int k = 0; k < ns; k++)
      surface_cell(&t, surface_at(cells, lr, steps[k]));
  }
  if (ns > 0) tbl_print(&t);
  tbl_free(&t);
  printf("c_sqrt: %s\n",
         clean(text, sizeof text, jstrd(jget(ls, "c_sqrt_trend"), "text"), 0));
  printf("p: %s\n",
         clean(text, sizeof text, jstrd(jget(ls, "p_trend"), "text"), 0));
  printf("verdict: %s\n", clean(text, sizeof text, jstrd(ls, "verdict"), 0));
}

/* The verdicts on the paper's claims (docs/analysis.md, "The three
 * claims"), one line each. */
static void claims_lines(const json_t *an) {
  static const char *const keys[] = {"sharpness", "drift", "law"};
  static const char *const what[] = {
      "claim 1, LoRA vs full sharpness at alpha*",
      "claim 2, raising alpha vs raising lr at the same loss change",
      "claim 3, the law per lr and budget (table above)"};
  const json_t *cl = jget(an, "claims");
  char text[1024];
  if (!json_is_object(cl)) return; /* a daemon from before the claims */
  printf("\nthe paper's claims on this sweep:\n");
  for (int k = 0; k < 3; k++) {
    const json_t *o = jget(cl, keys[k]);
    printf("  %s: %s: %s\n", what[k],
           jstr(o, "verdict") ? jstr(o, "verdict") : "-",
           clean(text, sizeof text, jstr(o, "text"), 0));
  }
}

/* analysis ID [--refresh]: the answers, then fits, alpha*(r) and regret
 * tables. */
static int cmd_analysis(cli *c) {
  char path[96], a[64], b[64], w[64];
  json_t *an = NULL;
  const json_t *cp;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld/analysis%s", c->id,
           c->val[O_REFRESH] ? "?refresh=1" : "");
  if ((rc = get(c, path, &an))) return rc;
  if (c->val[O_JSON]) {
    print_raw(c);
    goto cleanup;
  }
  printf("analysis of sweep %lld: %s scaling, %s steps, computed %s\n\n", c->id,
         clean(a, sizeof a, jstr(an, "scaling"), 0),
         fval(b, sizeof b, jget(an, "steps"), "%g"),
         fmt_when(w, sizeof w, an, "computed_at"));
  answers_table(an);
  fits_table(an);
  if ((cp = final_checkpoint(an)) != NULL) {
    alpha_table(cp);
    regret_table(cp);
    joint_table(cp);
  }
  surface_table(an);
  claims_lines(an);
  if (json_array_size(jget(an, "drift")))
    printf("\nsignal and drift: %zu rows (see --json)\n",
           json_array_size(jget(an, "drift")));
cleanup:
  json_decref(an);
  return rc;
}

/* The tested ranks as "1, 2, 4, 8" (cut when long). */
static const char *rank_list(char *out, size_t n, const json_t *arr) {
  size_t i, len = 0;
  json_t *v;
  char num[32];
  out[0] = 0;
  json_array_foreach(arr, i, v) {
    fval(num, sizeof num, v, "%g");
    if (len + strlen(num) + 8 >= n) {
      snprintf(out + len, n - len, ", ...");
      break;
    }
    len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", num);
  }
  return out[0] ? out : "-";
}

/* The rules of an answer: each one's alpha and the loss it would add. */
static void print_answer_rules(const json_t *a) {
  char v[64], p[320], note[256];
  const json_t *r;
  size_t i;
  if (json_array_size(jget(a, "rules")) == 0) return;
  printf("  the rules, and the loss each would add against this answer:\n");
  json_array_foreach(jget(a, "rules"), i, r) {
    double x;
    if (jnum(r, "loss_pct", &x))
      snprintf(p, sizeof p, "%+.1f%%", x);
    else
      snprintf(
          p, sizeof p, "unknown (%s)",
          clean(note, sizeof note, jstr(r, "note") ? jstr(r, "note") : "-", 0));
    printf("    %-10s alpha %-8s %s\n",
           clean(note, sizeof note, jstrd(r, "name"), 0),
           fnum(v, sizeof v, r, "alpha", "%.4g"), p);
  }
}

/* The answer's source and why, and the laws' values for comparison. */
static void print_answer_source(const json_t *a) {
  char v[64], w[64], p[64], src[64], why[1024];
  printf("  source: %s: %s\n", clean(src, sizeof src, jstr(a, "source"), 0),
         clean(why, sizeof why, jstr(a, "why"), 0));
  printf("  sqrt(r) law: alpha %s; free fit (c*r^p, p = %s): alpha %s\n",
         fnum(v, sizeof v, a, "alpha_sqrt", "%.4g"),
         fnum(p, sizeof p, a, "p_free", "%.3g"),
         fnum(w, sizeof w, a, "alpha_free", "%.4g"));
}

/* Prints a recommendation; 1 if it holds no alpha. */
static int print_recommend(const json_t *a, long long rank) {
  char iv[64], lr[64], buf_ranks[512], text[1024];
  const char *ranks;
  double alpha;
  if (!jnum(a, "alpha", &alpha))
    return fail("recommend: the daemon's answer holds no alpha");
  if (jstr(a, "text"))
    printf("%s\n", clean(text, sizeof text, jstr(a, "text"), 0));
  printf("  alpha %.4g for rank %lld, interval %s, at lr %s\n", alpha, rank,
         fint(iv, sizeof iv, a, "alpha_lo", "alpha_hi"),
         fnum(lr, sizeof lr, a, "lr", "%g"));
  print_answer_source(a);
  print_answer_rules(a);
  ranks = rank_list(buf_ranks, sizeof buf_ranks, jget(a, "tested_ranks"));
  printf("  tested ranks: %s\n", ranks);
  fflush(stdout);
  if (jtrue(a, "extrapolated"))
    msg("warning: rank %lld lies outside the tested ranks (%s): alpha is "
        "extrapolated from the law",
        rank, ranks);
  if (jtrue(a, "poor_fit"))
    msg("warning: the law's fit is poor (too few ranks for it, R2 below 0.9, "
        "or a wide p interval): use alpha with care");
  if (jtrue(a, "ill_determined"))
    msg("warning: alpha* at rank %lld is ill-determined (the loss is nearly "
        "flat in alpha): any alpha in the interval does about as well",
        rank);
  if (jtrue(a, "at_edge"))
    msg("warning: alpha* at rank %lld is at the grid's edge: the best alpha "
        "may lie beyond the grid",
        rank);
  return LA_CLI_OK;
}

/* recommend ID --rank R [--lr L]. */
static int cmd_recommend(cli *c) {
  char path[256], v[32];
  json_t *a = NULL;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld/recommend", c->id);
  snprintf(v, sizeof v, "%lld", c->rank);
  if ((rc = add_query(c, path, sizeof path, "rank", v))) return rc;
  if (c->val[O_LR] && (rc = add_query_num(c, path, sizeof path, "lr", c->lr)))
    return rc;
  if ((rc = get(c, path, &a))) return rc;
  if (c->val[O_JSON])
    print_raw(c);
  else
    rc = print_recommend(a, c->rank);
  json_decref(a);
  return rc;
}

/* version: the client's version, then the daemon's (GET /v1/health). */
static int cmd_version(cli *c) {
  char a[64], b[64], cc[64], d[32];
  double up;
  json_t *h = NULL;
  int rc;
  if (!c->val[O_JSON]) printf("loralpha %s (client)\n", CLI_VERSION);
  fflush(stdout);
  if ((rc = get(c, "/v1/health", &h))) return rc;
  if (c->val[O_JSON]) {
    print_raw(c);
  } else {
    printf("daemon %s at %s: %s", clean(a, sizeof a, jstr(h, "version"), 0),
           c->where, clean(b, sizeof b, jstr(h, "status"), 0));
    printf(", schema %s", fval(a, sizeof a, jget(h, "schema_version"), "%g"));
    printf(", up %s",
           jnum(h, "uptime_s", &up) ? fmt_dur(d, sizeof d, up) : "-");
    printf(", %s/%s workers busy\n",
           fval(b, sizeof b, jget(h, "workers_busy"), "%g"),
           fval(cc, sizeof cc, jget(h, "max_workers"), "%g"));
  }
  json_decref(h);
  return rc;
}

/* ---- report ------------------------------------------------------------- */

/* The sweep's analysis, or NULL (and 0) when the daemon has none yet. */
/* GET path for an answer that may be missing: *out the parsed body, or
 * NULL on 404 (an older daemon, or nothing yet). 0, or an exit code. */
static int get_optional(cli *c, const char *path, json_t **out) {
  int rc;
  *out = NULL;
  if ((rc = http(c, "GET", path, NULL, 0))) return rc;
  if (c->status == 404) return 0;
  if (c->status < 200 || c->status > 299) return server_error(c);
  *out = json_loadb(c->resp.p ? c->resp.p : "", c->resp.len, 0, NULL);
  return 0;
}

/* The sweep's search along alpha into sw's "search_state" for the report
 * (GET /v1/sweeps/{id}/search); a daemon without the route (404) leaves it
 * out. 0, or an exit code. */
static int fetch_search(cli *c, json_t *sw) {
  char path[96];
  json_t *ss;
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld/search", c->id);
  if ((rc = get_optional(c, path, &ss)) == 0 && ss != NULL)
    json_object_set_new(sw, "search_state", ss);
  return rc;
}

static int fetch_analysis(cli *c, json_t **an) {
  char path[96];
  int rc;
  snprintf(path, sizeof path, "/v1/sweeps/%lld/analysis", c->id);
  if ((rc = get_optional(c, path, an)) == 0 && c->status == 404)
    msg("note: no analysis yet (the report shows what there is)");
  return rc;
}

/* The report's format: --format when given (html, md or markdown, any
 * case), else --output's extension (.md or .markdown in any case:
 * Markdown), else HTML (report.h). */
static int report_format(cli *c, la_report_format *fmt) {
  const char *f = c->val[O_FORMAT];
  *fmt = la_report_format_of_path(c->val[O_OUTPUT]);
  if (f != NULL && la_report_format_named(f, fmt) != 0)
    return usage_err(c, "--format must be html or md");
  return 0;
}

/* Writes the report to --output (or stdout); a file that cannot be
 * written is LA_CLI_LOCAL. */
static int write_report(cli *c, const json_t *sw, const json_t *an,
                        const json_t *runs, la_report_format fmt) {
  FILE *out = c->val[O_OUTPUT] ? fopen(c->val[O_OUTPUT], "w") : stdout;
  la_err err = {{0}};
  int rc;
  if (out == NULL)
    return local_err("report: cannot write %s: %s", c->val[O_OUTPUT],
                     strerror(errno));
  rc = la_report_write(sw, an, runs, fmt, out, &err);
  if (out != stdout && fclose(out) != 0 && rc == 0)
    rc = la_errf(&err, LA_EIO, "%s: %s", c->val[O_OUTPUT], strerror(errno));
  if (rc == LA_EIO)
    return local_err("report: %s", err.msg[0] ? err.msg : "write failed");
  if (rc) return fail("report: %s", err.msg[0] ? err.msg : "write failed");
  if (c->val[O_OUTPUT]) msg("report written to %s", c->val[O_OUTPUT]);
  return LA_CLI_OK;
}

/* report ID [--format html|md] [--output FILE]: the morning report. */
static int cmd_report(cli *c) {
  char path[64];
  json_t *sw = NULL, *an = NULL, *runs = json_array();
  long long next = 0;
  la_report_format fmt;
  int rc = report_format(c, &fmt);
  if (runs == NULL) return fail("out of memory");
  snprintf(path, sizeof path, "/v1/sweeps/%lld", c->id);
  if (rc == 0) rc = get(c, path, &sw);
  if (rc == 0) rc = fetch_search(c, sw);
  if (rc == 0) rc = fetch_analysis(c, &an);
  c->limit = 0;
  if (rc == 0) rc = fetch_runs(c, runs, &next);
  if (rc == 0) rc = write_report(c, sw, an, runs, fmt);
  json_decref(sw);
  json_decref(an);
  json_decref(runs);
  return rc;
}

/* log RUN_ID: a command task's run log (GET /v1/runs/{id}/log) on stdout,
 * as the trainer wrote it (bounded); --json: the route's document. */
static int cmd_log(cli *c) {
  char path[64];
  json_t *r = NULL;
  const char *text;
  int rc;
  snprintf(path, sizeof path, "/v1/runs/%lld/log", c->id);
  if ((rc = get(c, path, &r))) return rc;
  text = json_string_value(json_object_get(r, "log"));
  if (c->val[O_JSON]) {
    la_json_print(r, stdout);
  } else if (text != NULL && text[0]) {
    fputs(text, stdout);
    if (text[strlen(text) - 1] != '\n') putchar('\n');
  }
  json_decref(r);
  return 0;
}

/* ---- the command line ---------------------------------------------------- */

/* The commands, their argument and the options each takes. */
static const cmd_def commands[] = {
    {"submit", cmd_submit, 1, "FILE|-", BIT(O_WAIT) | BIT(O_TIMEOUT)},
    {"list", cmd_list, 0, NULL, 0},
    {"show", cmd_show, 1, "sweep id", 0},
    {"wait", cmd_wait, 1, "sweep id", BIT(O_TIMEOUT)},
    {"cancel", cmd_cancel, 1, "sweep id", 0},
    {"pause", cmd_pause, 1, "sweep id", BIT(O_FINISH)},
    {"resume", cmd_resume, 1, "sweep id", 0},
    {"set", cmd_set, 1, "sweep id",
     BIT(O_PRIORITY) | BIT(O_MAX_PARALLEL) | BIT(O_WINDOW) | BIT(O_OUTSIDE) |
         BIT(O_NO_WINDOW)},
    {"runs", cmd_runs, 1, "sweep id",
     BIT(O_STATE) | BIT(O_RANK) | BIT(O_ALPHA) | BIT(O_LR) | BIT(O_LIMIT) |
         BIT(O_CSV)},
    {"run", cmd_run, 1, "run id", BIT(O_CSV)},
    {"log", cmd_log, 1, "run id", 0},
    {"analysis", cmd_analysis, 1, "sweep id", BIT(O_REFRESH)},
    {"recommend", cmd_recommend, 1, "sweep id", BIT(O_RANK) | BIT(O_LR)},
    {"report", cmd_report, 1, "sweep id", BIT(O_FORMAT) | BIT(O_OUTPUT)},
    {"search", cmd_search, 1, "sweep id", 0},
    {"version", cmd_version, 0, NULL, 0},
    {"whoami", cmd_whoami, 0, NULL, 0},
    {"delete", cmd_delete, 1, "sweep id", 0},
    /* run by main.c before the client (run NULL; arg: their synopsis) */
    {"serve", NULL, 0, "[options]", 0},
    {"export-slurm", NULL, 0, "SPEC|SWEEP --dir DIR [options]", 0},
    {"import", NULL, 0, "DIR [--db FILE]", 0},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* What each command does, for the help; by name. */
static const struct {
  const char *name, *what;
} cmd_help[] = {
    {"submit", "submit a sweep spec; prints the sweep's id"},
    {"list", "the sweeps, newest first"},
    {"show", "one sweep: state, progress, runs per state"},
    {"wait", "follow a sweep until it ends"},
    {"cancel", "cancel a sweep"},
    {"pause", "start no more runs; running runs go back to the queue "
              "(--finish: they finish)"},
    {"resume", "undo pause"},
    {"set", "change a sweep's scheduling"},
    {"runs", "a sweep's runs (all, or the first N; --csv: as CSV)"},
    {"run", "one run: summary, eval and train curves"},
    {"analysis", "law fits, alpha*(r), regret of heuristics"},
    {"recommend", "the alpha to use at rank R"},
    {"report", "the morning report: the law, alpha*(r), heuristics' regret, "
               "drift, failed runs"},
    {"search", "a sweep's search along alpha: spent, alpha* per cell, "
               "decisions"},
    {"version", "client and daemon versions"},
    {"whoami", "who the daemon takes you for"},
    {"delete", "delete a finished or cancelled sweep with its runs and all "
               "their data"},
    {"serve", "run the sweep daemon (loralpha serve --help)"},
    {"export-slurm", "a sweep as standalone sbatch array scripts, without a "
                     "daemon (loralpha export-slurm --help)"},
    {"import", "store an exported sweep's results in a database"},
};

/* What an option's value is, in the help ("VALUE" when not listed). */
static const char *const opt_meta[O_COUNT] = {
    [O_TIMEOUT] = "S",
    [O_STATE] = "S",
    [O_RANK] = "R",
    [O_ALPHA] = "A",
    [O_LR] = "L",
    [O_LIMIT] = "N",
    [O_FORMAT] = "html|md",
    [O_OUTPUT] = "FILE",
    [O_PRIORITY] = "N",
    [O_MAX_PARALLEL] = "N",
    [O_WINDOW] = "HH:MM-HH:MM",
    [O_OUTSIDE] = "finish|requeue",
};

/* Options a command cannot do without (checked by convert_args). */
static const struct {
  cmd_fn run;
  unsigned opts;
} required_opts[] = {{cmd_recommend, BIT(O_RANK)}};

/* The options def requires. */
static unsigned required_of(const cmd_def *def) {
  for (size_t i = 0; i < sizeof required_opts / sizeof required_opts[0]; i++)
    if (required_opts[i].run == def->run) return required_opts[i].opts;
  return 0;
}

/* Appends word to the help line being built in line[n], printing it and
 * starting a new, indented one when the word would pass 79 columns. */
static void help_word(FILE *f, char *line, size_t n, const char *word) {
  size_t len = strlen(line);
  if (len + 1 + strlen(word) > 79 && len > 11) {
    fprintf(f, "%s\n", line);
    snprintf(line, n, "         %s", word);
  } else {
    snprintf(line + len, n - len, " %s", word);
  }
}

/* Prints what, wrapped at 79 columns in a column starting at 27, the
 * first line after line (shorter than 27). */
static void help_what(FILE *f, const char *line, const char *what) {
  int col = 27;
  fprintf(f, "%-27s", line);
  while (*what) {
    size_t w = strcspn(what, " ");
    if (col > 27 && col + 1 + (int)w > 79) fprintf(f, "\n%27s", ""), col = 27;
    if (col > 27) fputc(' ', f), col++;
    fprintf(f, "%.*s", (int)w, what);
    col += (int)w;
    what += w;
    while (*what == ' ')
      what++;
  }
  fputc('\n', f);
}

/* One command's synopsis (its argument and options, from the table) and
 * what it does. */
static void help_command(FILE *f, const cmd_def *def) {
  char line[512], word[96];
  const char *what = NULL;
  unsigned req = required_of(def);
  snprintf(line, sizeof line, "  %s", def->name);
  if (def->arg)
    help_word(f, line, sizeof line,
              strcmp(def->arg, "sweep id") == 0 ? "ID"
              : strcmp(def->arg, "run id") == 0 ? "RUN_ID"
                                                : def->arg);
  for (int o = 0; o < O_COUNT; o++) {
    const char *meta = opt_meta[o] ? opt_meta[o] : "VALUE";
    if (!(def->opts & BIT(o))) continue;
    snprintf(word, sizeof word, "%s%s%s%s%s", req & BIT(o) ? "" : "[",
             opt_defs[o].name, opt_defs[o].has_value ? " " : "",
             opt_defs[o].has_value ? meta : "", req & BIT(o) ? "" : "]");
    help_word(f, line, sizeof line, word);
  }
  for (size_t i = 0; i < sizeof cmd_help / sizeof cmd_help[0]; i++)
    if (strcmp(cmd_help[i].name, def->name) == 0) what = cmd_help[i].what;
  if (what == NULL) {
    fprintf(f, "%s\n", line);
    return;
  }
  if (strlen(line) >= 27) fprintf(f, "%s\n", line), line[0] = 0;
  help_what(f, line, what);
}

/* Every command of the table: the daemon's clients, then the others. */
static void print_commands(FILE *f) {
  fputs("\ncommands (each asks the daemon):\n", f);
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (commands[i].run) help_command(f, &commands[i]);
  fputs("commands that run without a daemon:\n", f);
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (!commands[i].run) help_command(f, &commands[i]);
}

/* Index of the option spelled by the len bytes at arg, or -1. */
static int find_opt(const char *arg, size_t len) {
  for (int i = 0; i < O_COUNT; i++)
    if (strlen(opt_defs[i].name) == len &&
        strncmp(arg, opt_defs[i].name, len) == 0)
      return i;
  return -1; /* an index: none */
}

/* One "--name[=value]" at argv[*i], taking the next word as its value when
 * it needs one. Returns 0 or a usage error. */
static int parse_option(cli *c, int argc, char **argv, int *i) {
  const char *a = argv[*i], *eq = strchr(a, '=');
  size_t len = eq ? (size_t)(eq - a) : strlen(a);
  int o = strcmp(a, "-h") == 0 ? O_HELP : find_opt(a, len);
  if (o < 0)
    return usage_err(c, "%.*s: unknown option", (int)(len > 64 ? 64 : len), a);
  if (!opt_defs[o].has_value) {
    if (eq) return usage_err(c, "%s takes no value", opt_defs[o].name);
    c->val[o] = "";
    return 0;
  }
  if (eq) {
    c->val[o] = eq + 1;
  } else {
    if (*i + 1 >= argc)
      return usage_err(c, "%s needs a value", opt_defs[o].name);
    c->val[o] = argv[++*i];
  }
  return 0;
}

/* Splits argv into options, the command and its argument. */
static int parse_words(cli *c, int argc, char **argv) {
  int only_args = 0, rc;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!only_args && strcmp(a, "--") == 0) {
      only_args = 1;
    } else if (!only_args && a[0] == '-' && a[1] != 0) {
      if ((rc = parse_option(c, argc, argv, &i))) return rc;
    } else if (c->cmd == NULL) {
      c->cmd = a;
    } else if (c->arg == NULL) {
      c->arg = a;
    } else if (c->extra == NULL) {
      c->extra = a;
    }
  }
  return 0;
}

/* Finds the command; checks its argument count and the options given. */
static int check_command(cli *c) {
  size_t n = sizeof commands / sizeof commands[0];
  for (size_t i = 0; i < n && c->def == NULL; i++)
    if (strcmp(commands[i].name, c->cmd) == 0) c->def = &commands[i];
  if (c->def == NULL) return usage_err(c, "unknown command");
  if (c->def->run == NULL)
    return usage_err(c, "must be the first word: loralpha %s %s", c->def->name,
                     c->def->arg);
  if (c->def->nargs == 1 && c->arg == NULL)
    return usage_err(c, "missing %s", c->def->arg);
  if (c->def->nargs == 0 && c->arg)
    return usage_err(c, "unexpected argument '%.64s'", c->arg);
  if (c->extra) return usage_err(c, "unexpected argument '%.64s'", c->extra);
  for (int o = 0; o < O_COUNT; o++)
    if (c->val[o] && !(BIT(o) & (GLOBAL_OPTS | c->def->opts)))
      return usage_err(c, "%s does not apply to this command",
                       opt_defs[o].name);
  return 0;
}

/* An integer: an optional '-' and 1..18 digits. 0, or LA_EINVAL. */
static int to_int(const char *s, long long *out) {
  int neg = s[0] == '-';
  const char *p = s + neg;
  size_t n = strlen(p);
  long long v = 0;
  if (n == 0 || n > 18) return LA_EINVAL;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return LA_EINVAL;
    v = v * 10 + (*p - '0');
  }
  *out = neg ? -v : v;
  return 0;
}

/* A number (perhaps not finite: "inf", "nan", 1e999); 0, or LA_EINVAL. */
static int to_num(const char *s, double *out) {
  char *end;
  if (s[0] == 0 || s[0] == ' ' || s[0] == '\t' || s[0] == '\n')
    return LA_EINVAL;
  errno = 0;
  *out = strtod(s, &end);
  return *end == 0 ? 0 : LA_EINVAL;
}

/* An integer option in [lo, hi], or a usage error. */
static int opt_int(cli *c, int o, long long lo, long long hi, long long *out) {
  const char *name = opt_defs[o].name;
  if (to_int(c->val[o], out)) return usage_err(c, "%s needs an integer", name);
  if (*out < lo || *out > hi)
    return usage_err(c, "%s must be an integer in %lld..%lld", name, lo, hi);
  return 0;
}

/* A number option > 0 (and at most max), or a usage error. */
static int opt_pos(cli *c, int o, double max, double *out) {
  const char *name = opt_defs[o].name;
  if (to_num(c->val[o], out)) return usage_err(c, "%s needs a number", name);
  if (!isfinite(*out)) return usage_err(c, "%s needs a finite number", name);
  if (!(*out > 0) || *out > max)
    return usage_err(c, "%s must be a number in (0, %g]", name, max);
  return 0;
}

/* --state: one of the run states. */
static int opt_state(cli *c) {
  if (la_run_state_from_name(c->val[O_STATE]) >= 0) return 0;
  return usage_err(c, "--state must be one of queued, running, done, failed, "
                      "diverged, cancelled");
}

/* "HH:MM" (00:00..24:00, two digits each) at s into out[6] and its minute
 * of the day (24:00 is 0) into *min; 0, or LA_EINVAL. */
static int parse_hhmm(const char *s, char *out, int *min) {
  int h, m;
  for (int i = 0; i < 5; i++)
    if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9')) return LA_EINVAL;
  h = (s[0] - '0') * 10 + (s[1] - '0');
  m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return LA_EINVAL;
  memcpy(out, s, 5);
  out[5] = 0;
  *min = (h * 60 + m) % 1440;
  return 0;
}

/* --window HH:MM-HH:MM and --outside finish|requeue, and how they combine
 * with --no-window. */
static int opt_window(cli *c) {
  const char *w = c->val[O_WINDOW], *o = c->val[O_OUTSIDE];
  int start, end;
  if (w && c->val[O_NO_WINDOW])
    return usage_err(c, "--window and --no-window exclude each other");
  if (o && !w) return usage_err(c, "--outside needs --window");
  if (o && strcmp(o, "finish") != 0 && strcmp(o, "requeue") != 0)
    return usage_err(c, "--outside must be finish or requeue");
  if (w == NULL) return 0;
  if (strlen(w) != 11 || w[5] != '-' || parse_hhmm(w, c->win_start, &start) ||
      parse_hhmm(w + 6, c->win_end, &end))
    return usage_err(c,
                     "--window must be HH:MM-HH:MM in 24-hour time, e.g. "
                     "22:00-06:00 (got '%.32s')",
                     w);
  if (start == end)
    return usage_err(c, "--window: the start and the end are the same time "
                        "(for no window, use --no-window)");
  return 0;
}

/* The options of `set`: their values, and at least one of them. */
static int set_opts(cli *c) {
  int rc = opt_window(c);
  if (!rc && c->val[O_PRIORITY])
    rc = opt_int(c, O_PRIORITY, -PRIORITY_MAX, PRIORITY_MAX, &c->priority);
  if (!rc && c->val[O_MAX_PARALLEL])
    rc = opt_int(c, O_MAX_PARALLEL, 0, MAX_PARALLEL_MAX, &c->max_parallel);
  if (rc || c->def->run != cmd_set) return rc;
  if (!c->val[O_PRIORITY] && !c->val[O_MAX_PARALLEL] && !c->val[O_WINDOW] &&
      !c->val[O_NO_WINDOW])
    return usage_err(c, "nothing to set: give --priority, --max-parallel, "
                        "--window or --no-window");
  return 0;
}

/* The positional id of commands that take one: a positive integer. */
static int parse_id(cli *c) {
  if (c->def->nargs == 0 || strcmp(c->def->arg, "FILE|-") == 0) return 0;
  if (to_int(c->arg, &c->id) || c->id <= 0)
    return usage_err(c, "%s '%.64s' is not a positive integer", c->def->arg,
                     c->arg);
  return 0;
}

/* Converts the id and the option values; checks their combinations. */
static int convert_args(cli *c) {
  int rc = parse_id(c);
  if (!rc && c->val[O_LIMIT])
    rc = opt_int(c, O_LIMIT, 1, LLONG_MAX / 2, &c->limit);
  if (!rc && c->val[O_RANK]) rc = opt_int(c, O_RANK, 1, MAX_RANK, &c->rank);
  if (!rc && c->val[O_ALPHA]) rc = opt_pos(c, O_ALPHA, 1e300, &c->alpha);
  if (!rc && c->val[O_LR]) rc = opt_pos(c, O_LR, 1e300, &c->lr);
  if (!rc && c->val[O_TIMEOUT]) rc = opt_pos(c, O_TIMEOUT, 1e9, &c->timeout);
  if (!rc && c->val[O_STATE]) rc = opt_state(c);
  if (!rc) rc = set_opts(c);
  if (rc) return rc;
  for (int o = 0; o < O_COUNT; o++)
    if ((required_of(c->def) & BIT(o)) && !c->val[o])
      return usage_err(c, "%s is required", opt_defs[o].name);
  if (c->val[O_TIMEOUT] && c->def->run == cmd_submit && !c->val[O_WAIT])
    return usage_err(c, "--timeout needs --wait");
  if (c->val[O_CSV] && c->val[O_JSON])
    return usage_err(c, "--csv and --json exclude each other");
  return 0;
}

/* Is the variable s set and non-empty? */
static int is_set(const char *s) {
  return s != NULL && s[0] != 0;
}

/* Is s one bearer token: 1..TOKEN_MAX-1 visible ASCII characters? */
static int is_token(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= TOKEN_MAX) return 0;
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f) return 0;
  return 1;
}

/* The first line of the file at path, without its line end and trailing
 * blanks, into out[n]. 0; LA_EIO if it cannot be read (*err: the errno);
 * LA_EINVAL if the line is not one token. */
static int read_token(const char *path, char *out, size_t n, int *err) {
  char line[TOKEN_MAX + 2];
  FILE *f = fopen(path, "r");
  size_t len;
  int rc = 0;
  *err = errno;
  if (f == NULL) return LA_EIO;
  if (fgets(line, sizeof line, f) == NULL) {
    *err = errno;
    rc = ferror(f) ? LA_EIO : LA_EINVAL;
    goto cleanup;
  }
  len = strlen(line);
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                     line[len - 1] == ' ' || line[len - 1] == '\t'))
    line[--len] = 0;
  if (!is_token(line) || len + 1 > n) {
    rc = LA_EINVAL;
    goto cleanup;
  }
  memcpy(out, line, len + 1);
cleanup:
  fclose(f);
  return rc;
}

/* The token in the file at path (named `what` in messages). A file that
 * does not exist or cannot be read is an error when required, and else
 * means no token. Returns 0 or a usage error. */
static int token_from_file(cli *c, const char *path, const char *what,
                           int required) {
  int err = 0;
  int rc = read_token(path, c->token, sizeof c->token, &err);
  if (rc == LA_EIO && !required &&
      (err == ENOENT || err == EACCES || err == ENOTDIR))
    return 0;
  if (rc == LA_EIO)
    return usage_err(c, "%s %.512s: cannot read it: %s", what, path,
                     strerror(err));
  if (rc)
    return usage_err(c,
                     "%s %.512s does not hold a token (one line of "
                     "printable characters without spaces)",
                     what, path);
  snprintf(c->token_from, sizeof c->token_from, "%s %.512s", what, path);
  return 0;
}

/* An IP address literal into *fam and b; 1, or 0 if s is none. */
static int ip_literal(const char *s, int *fam, unsigned char b[16]) {
  if (inet_pton(AF_INET, s, b) == 1) return *fam = AF_INET, 1;
  if (inet_pton(AF_INET6, s, b) == 1) return *fam = AF_INET6, 1;
  return 0;
}

/* Is the address loopback (127/8, ::1) or, with any = 1, the wildcard? */
static int ip_local(int fam, const unsigned char *b, int any) {
  static const unsigned char zero[16];
  if (fam == AF_INET) return b[0] == 127 || (any && memcmp(b, zero, 4) == 0);
  return (memcmp(b, zero, 15) == 0 && b[15] == 1) ||
         (any && memcmp(b, zero, 16) == 0);
}

/* The scheme, host (IPv6 without brackets) and port of c->url; 0, or
 * LA_EINVAL when it is not an http URL. */
static int url_parts(const cli *c, char *host, size_t size, long *port) {
  CURLU *u = curl_url();
  char *scheme = NULL, *h = NULL, *p = NULL;
  size_t n;
  int rc = LA_EINVAL;
  if (u && curl_url_set(u, CURLUPART_URL, c->url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK &&
      strcmp(scheme, "http") == 0 && (n = strlen(h)) > 0 && n < size) {
    if (h[0] == '[' && h[n - 1] == ']')
      snprintf(host, size, "%.*s", (int)(n - 2), h + 1);
    else
      snprintf(host, size, "%s", h);
    *port = strtol(p, NULL, 10);
    rc = 0;
  }
  curl_free(scheme), curl_free(h), curl_free(p);
  curl_url_cleanup(u);
  return rc;
}

/* Is there a TCP socket listening on port, and are all of them (any
 * address, /proc/net/tcp and tcp6) uid's? A port its daemon left may have
 * been taken by another user since. */
static int port_listeners_are(long port, uid_t uid) {
  static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
  char line[512];
  int mine = 0, other = 0;
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    FILE *f = fopen(tables[i], "r");
    if (f == NULL) continue;
    while (fgets(line, sizeof line, f) != NULL) {
      unsigned lport, st;
      unsigned long u;
      if (sscanf(line,
                 " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x "
                 "%*x:%*x %*x %lu",
                 &lport, &st, &u) != 3 ||
          st != 0x0A /* LISTEN */ || lport != (unsigned long)port)
        continue;
      if ((uid_t)u == uid)
        mine = 1;
      else
        other = 1;
    }
    fclose(f);
  }
  return mine && !other;
}

/* Does c->url lead to the daemon of the state directory dir? That daemon
 * wrote dir/listen ("HOST PORT PID"), is still running, listens on a
 * loopback address (or all addresses), the sockets listening on that port
 * are all its user's (the listen file's owner), and the URL names that
 * port and a loopback address it listens on, or localhost, which is then
 * pinned to that address (c->pin). 1 yes, 0 no. */
static int url_is_own_daemon(cli *c, const char *dir) {
  char path[1100], lhost[256], uhost[256], addr[64];
  unsigned char lb[16], ub[16];
  long lport = 0, uport = 0, pid = 0;
  int lfam, ufam, got;
  struct stat st;
  FILE *f;
  if (la_paths_join(path, sizeof path, dir, LA_LISTEN_NAME) ||
      (f = fopen(path, "r")) == NULL)
    return 0;
  got = fstat(fileno(f), &st) == 0
            ? fscanf(f, "%255s %ld %ld", lhost, &lport, &pid)
            : 0;
  fclose(f);
  if (got != 3 || pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM) ||
      lport <= 0 || lport > 65535 || !port_listeners_are(lport, st.st_uid) ||
      !ip_literal(lhost, &lfam, lb) || !ip_local(lfam, lb, 1) ||
      url_parts(c, uhost, sizeof uhost, &uport) || uport != lport)
    return 0;
  if (strcasecmp(uhost, "localhost") == 0) {
    if (!ip_local(lfam, lb, 0)) /* the wildcard: its family's loopback */
      snprintf(lhost, sizeof lhost, "%s",
               lfam == AF_INET ? "127.0.0.1" : "::1");
    snprintf(addr, sizeof addr, lfam == AF_INET ? "%s" : "[%s]", lhost);
    snprintf(c->pin, sizeof c->pin, "localhost:%ld:%s", lport, addr);
    return 1;
  }
  if (!ip_literal(uhost, &ufam, ub) || ufam != lfam || !ip_local(ufam, ub, 0))
    return 0;
  return ip_local(lfam, lb, 0) ? memcmp(lb, ub, lfam == AF_INET ? 4 : 16) == 0
                               : 1;
}

/* The bearer token for TCP: --token-file, else $LORALPHA_TOKEN, else the
 * default state directory's token file if it can be read and the URL is
 * its daemon's (url_is_own_daemon), else none. */
static int set_token(cli *c) {
  const char *env = getenv("LORALPHA_TOKEN");
  char dir[1024], path[1100];
  if (c->val[O_TOKEN_FILE])
    return token_from_file(c, c->val[O_TOKEN_FILE], "--token-file", 1);
  if (is_set(env)) {
    if (!is_token(env))
      return usage_err(c, "LORALPHA_TOKEN is not a token (printable "
                          "characters without spaces)");
    snprintf(c->token, sizeof c->token, "%s", env);
    snprintf(c->token_from, sizeof c->token_from, "LORALPHA_TOKEN");
    return 0;
  }
  if (la_paths_state_dir(dir, sizeof dir) ||
      la_paths_join(path, sizeof path, dir, LA_TOKEN_NAME) ||
      !url_is_own_daemon(c, dir))
    return 0;
  c->token_local = 1;
  return token_from_file(c, path, "the token file", 0);
}

/* TCP to u (from `from`: an http(s) URL with a host, kept without a
 * trailing '/'), with the token of set_token. */
static int use_tcp(cli *c, const char *u, const char *from) {
  const char *host;
  size_t n;
  for (const char *p = u; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
      return usage_err(c, "%s: '%.64s' is not a URL", from, u);
  n = (size_t)snprintf(c->url, sizeof c->url, "%s%s",
                       strstr(u, "://") ? "" : "http://", u);
  if (n >= sizeof c->url) return usage_err(c, "%s: the URL is too long", from);
  if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
    return usage_err(c, "%s: '%.64s' is not an http:// URL", from, u);
  host = strstr(c->url, "://") + 3; /* present: checked or prepended */
  if (*host == 0 || *host == '/' || *host == ':')
    return usage_err(c, "%s: '%.64s' has no host", from, u);
  while (n > 0 && c->url[n - 1] == '/')
    c->url[--n] = 0;
  snprintf(c->where, sizeof c->where, "%s", c->url);
  return set_token(c);
}

/* The Unix socket at path (from `from`); requests go to http://localhost
 * through it, without a token: the daemon asks the kernel who we are. */
static int use_socket(cli *c, const char *path, const char *from) {
  if (path[0] == 0) return usage_err(c, "%s: the path is empty", from);
  if (strlen(path) >= sizeof c->sock)
    return usage_err(c,
                     "%s: '%.64s...' is longer than a socket path may be "
                     "(%zu bytes)",
                     from, path, sizeof c->sock - 1);
  snprintf(c->sock, sizeof c->sock, "%s", path);
  snprintf(c->url, sizeof c->url, "http://localhost");
  snprintf(c->where, sizeof c->where, "socket %s", path);
  return 0;
}

/* The default socket, used if it exists (*found = 1); else c->no_sock
 * names where it was looked for. Returns 0 or a usage error. */
static int default_socket(cli *c, int *found) {
  char dir[1024], path[1100];
  struct stat st;
  *found = 0;
  if (la_paths_state_dir(dir, sizeof dir) ||
      la_paths_join(path, sizeof path, dir, LA_SOCKET_NAME))
    return 0;
  if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    snprintf(c->no_sock, sizeof c->no_sock, "%s", path);
    return 0;
  }
  *found = 1;
  return use_socket(c, path, "the default socket");
}

/* How to reach the daemon. Options before variables: --url (TCP), or
 * --socket; else $LORALPHA_URL (TCP); else, unless --token-file asks for
 * TCP, $LORALPHA_SOCKET or the default socket if it exists; else TCP to
 * DEFAULT_URL. Over TCP the token is --token-file's, else $LORALPHA_TOKEN,
 * else the default token file's if it can be read. */
static int set_transport(cli *c) {
  const char *url = c->val[O_URL], *sock = c->val[O_SOCKET];
  const char *env_url = getenv("LORALPHA_URL");
  const char *env_sock = getenv("LORALPHA_SOCKET");
  int rc, found;
  if (url && sock) return usage_err(c, "--url and --socket exclude each other");
  if (sock && c->val[O_TOKEN_FILE])
    return usage_err(c, "--token-file is for TCP (--url), not for --socket");
  if (url) return use_tcp(c, url, "--url");
  if (sock) return use_socket(c, sock, "--socket");
  if (is_set(env_url)) return use_tcp(c, env_url, "LORALPHA_URL");
  if (!c->val[O_TOKEN_FILE]) {
    if (is_set(env_sock)) return use_socket(c, env_sock, "LORALPHA_SOCKET");
    if ((rc = default_socket(c, &found)) || found) return rc;
  }
  return use_tcp(c, DEFAULT_URL, "url");
}

/* Parses the whole command line; 0, a usage error (an LA_CLI_* exit code),
 * or SHOWN after --help or --version. */
static int parse_args(cli *c, int argc, char **argv) {
  int rc = parse_words(c, argc, argv);
  if (rc) return rc;
  if (c->val[O_HELP] || (c->cmd && strcmp(c->cmd, "help") == 0)) {
    print_usage(stdout);
    return SHOWN;
  }
  if (c->val[O_VERSION]) {
    puts("loralpha " CLI_VERSION);
    return SHOWN;
  }
  if (c->cmd == NULL) return usage_err(c, "missing command");
  if ((rc = check_command(c)) || (rc = convert_args(c))) return rc;
  return set_transport(c);
}

int la_cli_main(int argc, char **argv) {
  cli c;
  int rc;
  memset(&c, 0, sizeof c);
  rc = parse_args(&c, argc, argv);
  if (rc) return rc == SHOWN ? LA_CLI_OK : rc;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return fail("cannot initialise libcurl");
  if ((c.curl = curl_easy_init()) == NULL ||
      (c.pin[0] && (c.resolve = curl_slist_append(NULL, c.pin)) == NULL)) {
    rc = fail("cannot initialise libcurl");
    goto cleanup;
  }
  if (c.sock[0] && !(curl_version_info(CURLVERSION_NOW)->features &
                     CURL_VERSION_UNIX_SOCKETS)) {
    rc = fail("this libcurl cannot use Unix sockets: use --url with a token");
    goto cleanup;
  }
  rc = c.def->run(&c);
  if ((fflush(stdout) != 0 || ferror(stdout)) && rc == LA_CLI_OK)
    rc = local_err("cannot write the output: %s", strerror(errno));
cleanup:
  curl_easy_cleanup(c.curl);
  curl_slist_free_all(c.resolve);
  curl_global_cleanup();
  free(c.resp.p);
  return rc;
}
