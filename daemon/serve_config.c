/* serve_config.c: defaults, config file and flags of `loralpha serve` (see
 * serve_config.h and docs/daemon.md), read from one table.
 *
 * Each setting is one row of k_settings: its config-file key, its flag, its
 * type, its bounds, its default and the field it fills. The file and the
 * flags go through the same row and the same check (read_value), so each
 * bound is written once and an error names what was given, the flag or the
 * key: "--nice: '20' is not an integer in 0..19", "config F: nice:
 * expected an integer in 0..19, not 20". The defaults are texts read by
 * that check too; --help and the effective configuration (--check-config)
 * are printed from the table. Parts with a structure of their own (admins,
 * window, user_limits, the Slurm executor's keys and flags) keep a reader
 * of their own, called from their row; user_limits reads its numbers
 * through a small table of the same rows.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "serve_config.h"

#include "loralpha/packing.h"
#include "loralpha/paths.h"

#include <assert.h>
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WORKERS 1024 /* the daemon's and one user's */
#define MAX_CONNS (1L << 20)

/* What a setting's value is, and so how it is read, checked and printed. */
typedef enum {
  T_INT,     /* an integer in lo..hi into an int or a long (by size) */
  T_SIZE,    /* bytes, or a number with K, M, G or T, in lo..hi; a file
                may give an integer or a string */
  T_MODE,    /* an octal file mode up to hi with all of lo's bits */
  T_ENUM,    /* one of names; its index into an int */
  T_PATH,    /* a string into a char[size] */
  T_SOCKET,  /* T_PATH, or "none" (socket_off) */
  T_LISTEN,  /* HOST:PORT or "none" (tcp_off); the port in lo..hi */
  T_SECTION, /* config file only: read and printed by its own functions */
  T_SLURM,   /* the Slurm executor's key and flags (slurm_settings.h) */
  T_CONFIG,  /* --config FILE: read before any other flag */
  T_SWITCH,  /* a flag without a value: sets an int to 1 */
} stype;

/* One setting. Its field is at off (size bytes) in la_serve_config, or in
 * la_user_limit for k_limit_settings. */
typedef struct setting {
  const char *key;  /* in the config file; NULL: a flag only */
  const char *flag; /* NULL: the config file only; ending in '-': a prefix */
  const char *arg;  /* the flag's value in --help */
  stype type;
  long long lo, hi; /* T_INT, T_SIZE, T_MODE, T_LISTEN */
  size_t off, size;
  const char *def;  /* the default as a flag would give it; NULL: none, or
                       computed (set_defaults, derive) as note says */
  const char *help; /* --help's line; "" to leave the flag out */
  const char *note; /* --help: a default that def does not give */
  const char *const *names;                                      /* T_ENUM */
  int (*read)(const json_t *v, la_serve_config *c, la_err *err); /* SECTION */
  json_t *(*print)(const la_serve_config *c);                    /* SECTION */
} setting;

/* A value as given: a flag's text, or a config file's JSON value. */
typedef struct src {
  const char *name;   /* the flag, or the key's path in the file */
  const char *text;   /* a flag's value; NULL for the file's */
  const json_t *json; /* the file's value */
} src;

static int read_admins(const json_t *v, la_serve_config *c, la_err *err);
static json_t *print_admins(const la_serve_config *c);
static int read_window(const json_t *v, la_serve_config *c, la_err *err);
static json_t *print_window(const la_serve_config *c);
static int read_user_limits(const json_t *v, la_serve_config *c, la_err *err);
static json_t *print_user_limits(const la_serve_config *c);

static const char *const k_access[] = {"all", "owner", NULL};
static const char *const k_worker_mode[] = {"warm", "process", NULL};
static const char *const k_pack_mode[] = {"exact", "stacked", NULL};

#define AT(f) offsetof(la_serve_config, f), sizeof(((la_serve_config *)0)->f)
#define AT_LIMIT(f) offsetof(la_user_limit, f), sizeof(((la_user_limit *)0)->f)

/* Every setting, in the order of --help and of the effective config. */
static const setting k_settings[] = {
    {NULL, "--config", "FILE", T_CONFIG, 0, 0, AT(config_path), NULL,
     "JSON config file (docs/daemon.md)", NULL, NULL, NULL, NULL},
    {NULL, "--check-config", NULL, T_SWITCH, 0, 0, AT(check_only), NULL,
     "validate everything, print the effective configuration and exit (0 "
     "good, 2 bad)",
     NULL, NULL, NULL, NULL},
    {"state_dir", "--state-dir", "DIR", T_PATH, 0, 0, AT(state_dir), NULL,
     "socket, token and database",
     "$LORALPHA_STATE_DIR, $XDG_STATE_HOME/loralpha or ~/.local/state/loralpha",
     NULL, NULL, NULL},
    {"db", "--db", "FILE", T_PATH, 0, 0, AT(db), NULL, "SQLite database",
     "STATE/loralpha.db", NULL, NULL, NULL},
    {"listen", "--listen", "HOST:PORT|none", T_LISTEN, 0, 65535, AT(host),
     "127.0.0.1:7787", "TCP address, bearer tokens", NULL, NULL, NULL, NULL},
    {"socket", "--socket", "PATH|none", T_SOCKET, 0, 0, AT(socket), NULL,
     "Unix socket", "STATE/loralpha.sock", NULL, NULL, NULL},
    {"socket_mode", "--socket-mode", "MODE", T_MODE, 0600, 0777,
     AT(socket_mode), "0660", "its permissions, octal", NULL, NULL, NULL, NULL},
    {"socket_group", NULL, NULL, T_PATH, 0, 0, AT(socket_group), NULL, NULL,
     NULL, NULL, NULL, NULL},
    {"tokens_file", "--tokens-file", "FILE", T_PATH, 0, 0, AT(tokens_file),
     NULL, "'USER TOKEN' lines for TCP clients", NULL, NULL, NULL, NULL},
    {"admins", NULL, NULL, T_SECTION, 0, 0, 0, 0, NULL, NULL, NULL, NULL,
     read_admins, print_admins},
    {"read_access", NULL, NULL, T_ENUM, 0, 0, AT(read_own_only), "all", NULL,
     NULL, k_access, NULL, NULL},
    {"cores", "--cores", "N", T_INT, 1, 4096, AT(cores), NULL,
     "cores workers may use", "the CPU affinity", NULL, NULL, NULL},
    {"max_workers", "--max-workers", "N", T_INT, 1, MAX_WORKERS,
     AT(max_workers), NULL, "workers at once", "cores / threads", NULL, NULL,
     NULL},
    {"threads_per_worker", "--threads-per-worker", "T", T_INT, 1, 256,
     AT(threads), "1", "BLAS threads per worker", NULL, NULL, NULL, NULL},
    {"nice", "--nice", "N", T_INT, 0, 19, AT(nice), "10",
     "added niceness of workers", NULL, NULL, NULL, NULL},
    {"heartbeat", "--heartbeat", "SECONDS", T_INT, 0, 7 * 86400,
     AT(heartbeat_s), "600", "kill a worker silent this long (0: never)", NULL,
     NULL, NULL, NULL},
    {"worker_mode", "--worker-mode", "warm|process", T_ENUM, 0, 0,
     AT(worker_process), "warm",
     "warm: a worker trains many runs of one owner; process: one per run", NULL,
     k_worker_mode, NULL, NULL},
    {"worker_max_runs", "--worker-max-runs", "N", T_INT, 1, 1000000000,
     AT(worker_max_runs), "1000", "runs a warm worker trains, then exits", NULL,
     NULL, NULL, NULL},
    {"worker_max_rss_growth", "--worker-max-rss-growth", "SIZE", T_SIZE,
     1ll << 20, 1ll << 50, AT(worker_max_rss_growth), "512M",
     "a warm worker whose memory grew more since its first run exits", NULL,
     NULL, NULL, NULL},
    {"worker_idle_timeout", "--worker-idle-timeout", "SECONDS", T_INT, 1, 86400,
     AT(worker_idle_s), "30", "an idle warm worker exits after", NULL, NULL,
     NULL, NULL},
    {"pack_max", "--pack-max", "N", T_INT, 1, LA_PACK_MAX, AT(pack_max), "16",
     "most runs one worker trains at once, as a pack (1: none)", NULL, NULL,
     NULL, NULL},
    {"pack_mode", "--pack-mode", "exact|stacked", T_ENUM, 0, 0,
     AT(pack_stacked), "exact",
     "exact: a pack's records equal its runs trained alone; stacked: faster, "
     "equal up to rounding",
     NULL, k_pack_mode, NULL, NULL},
    {"max_same_failures", "--max-same-failures", "N", T_INT, 0, 1000000,
     AT(max_same_failures), "5",
     "stop a sweep after N failed attempts in a row with the same error (0: "
     "never)",
     NULL, NULL, NULL, NULL},
    {"check_timeout", "--check-timeout", "SECONDS", T_INT, 0, 3600,
     AT(check_timeout_s), "60",
     "time for the worker's --check of a new sweep (0: no check)", NULL, NULL,
     NULL, NULL},
    {"max_runs", "--max-runs", "N", T_INT, 1, 10000000, AT(max_runs), "100000",
     "most runs one sweep may have", NULL, NULL, NULL, NULL},
    {"max_body", "--max-body", "BYTES", T_INT, 1024, 1 << 30, AT(max_body),
     "1048576", "largest request body", NULL, NULL, NULL, NULL},
    {"max_run_memory", "--max-run-memory", "SIZE", T_SIZE, 16ll << 20,
     1ll << 50, AT(max_run_memory), NULL,
     "most memory one run may need, e.g. 4G", "RAM / (2 x max workers)", NULL,
     NULL, NULL},
    {"max_run_rows", NULL, NULL, T_INT, 100, 1000000000, AT(max_run_rows),
     "1000000", NULL, NULL, NULL, NULL, NULL},
    {"max_sweep_rows", NULL, NULL, T_INT, 100, 100000000000, AT(max_sweep_rows),
     "250000000", NULL, NULL, NULL, NULL, NULL},
    {"request_timeout", "--request-timeout", "SECONDS", T_INT, 1, 3600,
     AT(request_timeout_s), "10", "a request must arrive within", NULL, NULL,
     NULL, NULL},
    {"max_connections", "--max-connections", "N", T_INT, 1, MAX_CONNS,
     AT(max_conns), "1024", "TCP connections at once", NULL, NULL, NULL, NULL},
    {"max_unix_connections", "--max-unix-connections", "N", T_INT, 1, MAX_CONNS,
     AT(max_unix_conns), "512", "Unix socket connections at once", NULL, NULL,
     NULL, NULL},
    {"max_connections_per_peer", "--max-connections-per-peer", "N", T_INT, 1,
     MAX_CONNS, AT(max_per_peer), "128", "per address or local user", NULL,
     NULL, NULL, NULL},
    {"max_unauthenticated", "--max-unauthenticated", "N", T_INT, 1, MAX_CONNS,
     AT(max_unauth), "512", "TCP connections without credentials", NULL, NULL,
     NULL, NULL},
    {"unauthenticated_timeout", "--unauthenticated-timeout", "SECONDS", T_INT,
     1, 3600, AT(unauth_timeout_s), "5", "to present credentials", NULL, NULL,
     NULL, NULL},
    {"worker", "--worker", "PATH", T_PATH, 0, 0, AT(worker), NULL,
     "loralpha-worker", "next to loralpha", NULL, NULL, NULL},
    {"web", "--web", "DIR", T_PATH, 0, 0, AT(web), NULL,
     "the dashboard's files", "web/ of the source, or share/loralpha/web", NULL,
     NULL, NULL},
    {NULL, "--port-file", "FILE", T_PATH, 0, 0, AT(port_file), NULL,
     "write the TCP port listened on to FILE", NULL, NULL, NULL, NULL},
    {"window", NULL, NULL, T_SECTION, 0, 0, 0, 0, NULL, NULL, NULL, NULL,
     read_window, print_window},
    {"user_limits", NULL, NULL, T_SECTION, 0, 0, 0, 0, NULL, NULL, NULL, NULL,
     read_user_limits, print_user_limits},
    {"executor", "--executor", NULL, T_SLURM, 0, 0, 0, 0, NULL, NULL, NULL,
     NULL, NULL, NULL},
    {"slurm", "--slurm-", NULL, T_SLURM, 0, 0, 0, 0, NULL, NULL, NULL, NULL,
     NULL, NULL},
};
#define N_SETTINGS (sizeof k_settings / sizeof *k_settings)

/* The numbers of one user_limits entry ("default" or a user's). */
static const setting k_limit_settings[] = {
    {"max_workers", NULL, NULL, T_INT, 1, MAX_WORKERS, AT_LIMIT(max_workers),
     NULL, NULL, NULL, NULL, NULL, NULL},
    {"max_queued_runs", NULL, NULL, T_INT, 1, 100000000,
     AT_LIMIT(max_queued_runs), NULL, NULL, NULL, NULL, NULL, NULL},
};
#define N_LIMIT_SETTINGS (sizeof k_limit_settings / sizeof *k_limit_settings)

/* Which rows of k_settings the file or a flag gave, to derive the rest. */
typedef struct given {
  unsigned char row[N_SETTINGS];
} given;

/* ---- reading one value ---- */

/* A size as text: the largest of T, G, M, K that divides it. */
static void size_text(unsigned long long v, char *buf, size_t size) {
  static const char units[] = "KMGT";
  int u = 0;
  while (u < 4 && v >= 1024 && v % 1024 == 0)
    v /= 1024, u++;
  if (u == 0)
    snprintf(buf, size, "%llu", v);
  else
    snprintf(buf, size, "%llu%c", v, units[u - 1]);
}

/* What a value of s must be, for errors ("an integer in 1..3600"). */
static void expected(const setting *s, char *buf, size_t size) {
  char lo[24], hi[24];
  size_t used = 0;
  switch (s->type) {
  case T_INT:
    snprintf(buf, size, "an integer in %lld..%lld", s->lo, s->hi);
    break;
  case T_SIZE:
    size_text((unsigned long long)s->lo, lo, sizeof lo);
    size_text((unsigned long long)s->hi, hi, sizeof hi);
    snprintf(buf, size,
             "a size in %s..%s (bytes, or a number with K, M, G or T)", lo, hi);
    break;
  case T_MODE:
    snprintf(buf, size,
             "an octal mode %04llo..%04llo (the owner keeps read and write)",
             s->lo, s->hi);
    break;
  case T_ENUM:
    for (int i = 0; s->names[i] != NULL && used < size; i++)
      used += (size_t)snprintf(buf + used, size - used, "%s\"%s\"",
                               i == 0                    ? ""
                               : s->names[i + 1] == NULL ? " or "
                                                         : ", ",
                               s->names[i]);
    break;
  case T_LISTEN:
    snprintf(buf, size, "HOST:PORT (a port in %lld..%lld) or none", s->lo,
             s->hi);
    break;
  default: snprintf(buf, size, "a string"); break;
  }
}

/* The error for a value v that is not what s takes: a flag's value
 * quoted as typed, a file's value as JSON. */
static int refuse(const setting *s, const src *v, la_err *err) {
  char want[160], *shown;
  int rc;
  expected(s, want, sizeof want);
  if (v->text != NULL)
    return la_errf(err, LA_EINVAL, "%s: '%.64s' is not %s", v->name, v->text,
                   want);
  shown = json_dumps(v->json, JSON_ENCODE_ANY | JSON_COMPACT);
  rc = la_errf(err, LA_EINVAL, "%s: expected %s, not %.64s", v->name, want,
               shown != NULL ? shown : "this value");
  free(shown);
  return rc;
}

/* v as text: a flag's, or the file's string (or integer, when integers
 * are allowed: buf holds it). NULL when the file gave another type. */
static const char *text_of(const src *v, int integers, char *buf, size_t size) {
  if (v->text != NULL) return v->text;
  if (json_is_string(v->json)) return json_string_value(v->json);
  if (integers && json_is_integer(v->json)) {
    snprintf(buf, size, "%lld", (long long)json_integer_value(v->json));
    return buf;
  }
  return NULL;
}

/* A decimal integer in lo..hi: 0, or LA_EINVAL. */
static int parse_int(const char *s, long long lo, long long hi,
                     long long *out) {
  char *end;
  errno = 0;
  *out = strtoll(s, &end, 10);
  return end == s || *end || errno || *out < lo || *out > hi ? LA_EINVAL : 0;
}

/* A size: bytes, or a number with K, M, G or T (powers of 1024), in
 * lo..hi: 0, or LA_EINVAL. */
static int parse_size(const char *s, long long lo, long long hi,
                      unsigned long long *out) {
  static const char units[] = "KMGT";
  char *end = (char *)s;
  unsigned long long v;
  const char *u;
  errno = 0;
  v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
  if (v > 0 && *end && end[1] == 0 && (u = strchr(units, *end)) != NULL &&
      v < (1ull << 40))
    v <<= 10 * (u - units + 1), end++;
  if (errno || *end || v < (unsigned long long)lo || v > (unsigned long long)hi)
    return LA_EINVAL;
  *out = v;
  return 0;
}

/* HOST:PORT or [IPv6]:PORT, the port in lo..hi, into c; or "none". 0, or
 * LA_EINVAL. */
static int parse_listen(const char *s, long long lo, long long hi,
                        la_serve_config *c) {
  const char *colon = strrchr(s, ':'), *h = s;
  size_t hl;
  long long port;
  if (strcmp(s, "none") == 0) return c->tcp_off = 1, 0;
  if (colon == NULL) return LA_EINVAL;
  hl = (size_t)(colon - s);
  if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') h = s + 1, hl -= 2;
  if (hl == 0 || hl >= sizeof c->host || parse_int(colon + 1, lo, hi, &port))
    return LA_EINVAL;
  memcpy(c->host, h, hl);
  c->host[hl] = 0;
  c->port = (int)port;
  c->tcp_off = 0;
  return 0;
}

/* An octal mode up to hi with all of lo's bits: 0, or LA_EINVAL. */
static int parse_mode(const char *s, long long lo, long long hi,
                      unsigned *out) {
  char *end;
  unsigned long v;
  errno = 0;
  v = strtoul(s, &end, 8);
  if (end == s || *end || errno || v > (unsigned long)hi ||
      (v & (unsigned long)lo) != (unsigned long)lo)
    return LA_EINVAL;
  *out = (unsigned)v;
  return 0;
}

/* v as an integer in s's bounds: 0, or LA_EINVAL. A file's value must be a JSON
 * integer (not "5", not 5.0). */
static int int_of(const setting *s, const src *v, long long *out) {
  if (v->text != NULL) return parse_int(v->text, s->lo, s->hi, out);
  if (!json_is_integer(v->json)) return LA_EINVAL;
  *out = json_integer_value(v->json);
  return *out < s->lo || *out > s->hi ? LA_EINVAL : 0;
}

/* One of names: its index, or -1. */
static int parse_enum(const char *s, const char *const *names) {
  for (int i = 0; names[i] != NULL; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1; /* an index: none */
}

/* Stores x into an integer field of size bytes (int or long). */
static void store_int(void *dst, size_t size, long long x) {
  if (size == sizeof(int)) {
    int i = (int)x;
    memcpy(dst, &i, sizeof i);
  } else {
    long l = (long)x;
    assert(size == sizeof l);
    memcpy(dst, &l, sizeof l);
  }
}

/* The integer field of size bytes at p. */
static long long load_int(const void *p, size_t size) {
  int i;
  long l;
  if (size == sizeof i) return memcpy(&i, p, sizeof i), i;
  return memcpy(&l, p, sizeof l), l;
}

/* Copies s into a fixed buffer; error naming where if it does not fit. */
static int set_str(char *dst, size_t size, const char *s, const char *where,
                   la_err *err) {
  size_t n = strlen(s);
  if (n >= size)
    return la_errf(err, LA_EINVAL, "%s: longer than %zu bytes", where,
                   size - 1);
  memcpy(dst, s, n + 1);
  return 0;
}

/* The value v of s into its field at base (a la_serve_config, or a
 * la_user_limit for k_limit_settings): the one check of every value, from
 * the file, a flag or a default. */
static int read_value(const setting *s, void *base, const src *v, la_err *err) {
  la_serve_config *c = base;
  char *dst = (char *)base + s->off, buf[32];
  const char *t = text_of(v, s->type == T_SIZE, buf, sizeof buf);
  long long x;
  unsigned long long u;
  int i;
  switch (s->type) {
  case T_INT:
    if (int_of(s, v, &x)) return refuse(s, v, err);
    return store_int(dst, s->size, x), 0;
  case T_SIZE:
    if (t == NULL || parse_size(t, s->lo, s->hi, &u)) return refuse(s, v, err);
    assert(s->size == sizeof u);
    return memcpy(dst, &u, sizeof u), 0;
  case T_MODE:
    return t == NULL || parse_mode(t, s->lo, s->hi, (unsigned *)dst)
               ? refuse(s, v, err)
               : 0;
  case T_ENUM:
    if (t == NULL || (i = parse_enum(t, s->names)) < 0)
      return refuse(s, v, err);
    return store_int(dst, s->size, i), 0;
  case T_LISTEN:
    return t == NULL || parse_listen(t, s->lo, s->hi, c) ? refuse(s, v, err)
                                                         : 0;
  case T_SOCKET:
    if (t != NULL) c->socket_off = strcmp(t, "none") == 0;
    /* fall through */
  case T_PATH:
  case T_CONFIG:
    return t == NULL ? refuse(s, v, err)
                     : set_str(dst, s->size, t, v->name, err);
  case T_SECTION: return s->read(v->json, c, err);
  case T_SLURM:
    if (v->text == NULL)
      return la_slurm_config_key(&c->slurm, s->key, v->json, err);
    i = la_slurm_opt(&c->slurm, v->name, v->text, err); /* > 0: not its flag */
    return i <= 0 ? i
                  : la_errf(err, LA_EINVAL,
                            "%.64s: unknown option (see --help)", v->name);
  case T_SWITCH: return store_int(dst, s->size, 1), 0;
  }
  return LA_EINVAL;
}

/* The row of k_settings for a flag, or NULL. */
static const setting *find_flag(const char *f) {
  for (size_t i = 0; i < N_SETTINGS; i++) {
    const char *sf = k_settings[i].flag;
    size_t n = sf != NULL ? strlen(sf) : 0;
    if (n > 0 &&
        (sf[n - 1] == '-' ? strncmp(f, sf, n) == 0 : strcmp(f, sf) == 0))
      return &k_settings[i];
  }
  return NULL;
}

/* The row for a config-file key in rows[0..n), or NULL. */
static const setting *find_key(const setting *rows, size_t n, const char *k) {
  for (size_t i = 0; i < n; i++)
    if (rows[i].key != NULL && strcmp(rows[i].key, k) == 0) return &rows[i];
  return NULL;
}

/* ---- defaults ---- */

/* Cores in the daemon's CPU affinity (what it was allowed to use). */
static int affinity_cores(void) {
  cpu_set_t set;
  long n;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* The dashboard's files found from the directory dir of the running
 * binary into c->web: web/ of the source tree when the binary is in a build
 * directory beside it, else share/loralpha/web of the prefix it was
 * installed to (cmake --install); left empty when neither has an
 * index.html. An explicit --web or "web" replaces it later. */
static void default_web(la_serve_config *c, const char *dir) {
  static const char *const k_rel[] = {"../web", "../share/loralpha/web"};
  char probe[PATH_MAX + 64];
  for (size_t i = 0; i < sizeof k_rel / sizeof k_rel[0]; i++) {
    snprintf(probe, sizeof probe, "%.*s/%s/index.html", PATH_MAX - 40, dir,
             k_rel[i]);
    if (access(probe, R_OK) == 0) {
      snprintf(c->web, sizeof c->web, "%.*s/%s", PATH_MAX - 40, dir, k_rel[i]);
      return;
    }
  }
}

/* The table's defaults, then those computed from this machine. */
static void set_defaults(la_serve_config *c) {
  char dir[PATH_MAX];
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < N_SETTINGS; i++) {
    const setting *s = &k_settings[i];
    src v = {s->key != NULL ? s->key : s->flag, s->def, NULL};
    int rc = s->def != NULL ? read_value(s, c, &v, NULL) : 0;
    assert(rc == 0); /* the table's defaults are within its bounds */
    (void)rc;
  }
  c->socket_gid = -1;
  c->cores_allowed = c->cores = affinity_cores();
  c->user_default.max_workers = -1;
  c->user_default.max_queued_runs = -1;
  la_slurm_opts_default(&c->slurm);
  if (la_paths_state_dir(c->state_dir, sizeof c->state_dir) != 0)
    c->state_dir[0] = 0; /* derive() asks for --state-dir */
  if (la_paths_exe_dir(dir, sizeof dir) == 0) {
    snprintf(c->worker, sizeof c->worker, "%.*s/loralpha-worker", PATH_MAX - 20,
             dir);
    default_web(c, dir);
  } else {
    snprintf(c->worker, sizeof c->worker, "loralpha-worker");
  }
}

/* ---- the sections with a reader of their own ---- */

/* One user's limits {"max_workers": N, "max_queued_runs": N} into l. */
static int read_limit(const json_t *v, const char *where, la_user_limit *l,
                      la_err *err) {
  const char *key;
  json_t *x;
  char w[256];
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL,
                   "%s: expected {\"max_workers\": N, \"max_queued_runs\": N}",
                   where);
  json_object_foreach((json_t *)v, key, x) {
    const setting *s = find_key(k_limit_settings, N_LIMIT_SETTINGS, key);
    src val = {w, NULL, x};
    snprintf(w, sizeof w, "%s.%.40s", where, key);
    if (s == NULL)
      return la_errf(err, LA_EINVAL,
                     "%s: unknown field (expected max_workers, "
                     "max_queued_runs)",
                     w);
    if (read_value(s, l, &val, err)) return LA_EINVAL;
  }
  return 0;
}

/* "user_limits": {"default": {...}, "alice": {...}}. */
static int read_user_limits(const json_t *v, la_serve_config *c, la_err *err) {
  const char *key;
  json_t *x;
  char where[128];
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL,
                   "user_limits: expected an object of user name -> limits");
  if ((c->user_limits =
           calloc(json_object_size(v) + 1, sizeof *c->user_limits)) == NULL)
    return la_errf(err, LA_ENOMEM, "user_limits: out of memory");
  json_object_foreach((json_t *)v, key, x) {
    la_user_limit *l;
    snprintf(where, sizeof where, "user_limits.%.64s", key);
    if (strcmp(key, "default") == 0) {
      l = &c->user_default;
    } else {
      if (!la_rights_valid_user(key))
        return la_errf(err, LA_EINVAL,
                       "%s: not a user name (1..63 of A-Z a-z 0-9 . _ -)",
                       where);
      l = &c->user_limits[c->n_user_limits++];
      snprintf(l->user, sizeof l->user, "%s", key);
      l->max_workers = -1, l->max_queued_runs = -1;
    }
    if (read_limit(x, where, l, err)) return LA_EINVAL;
  }
  return 0;
}

/* The limits as the file gives them ("default" first). */
static json_t *print_user_limits(const la_serve_config *c) {
  json_t *limits = json_object();
  for (size_t i = 0; i <= c->n_user_limits; i++) {
    const la_user_limit *l = i ? &c->user_limits[i - 1] : &c->user_default;
    json_t *x = json_object();
    for (size_t k = 0; k < N_LIMIT_SETTINGS; k++) {
      const setting *s = &k_limit_settings[k];
      long long n = load_int((const char *)l + s->off, s->size);
      if (n > 0) json_object_set_new(x, s->key, json_integer(n));
    }
    json_object_set_new(limits, i ? l->user : "default", x);
  }
  return limits;
}

/* "admins": ["alice", ...]. */
static int read_admins(const json_t *v, la_serve_config *c, la_err *err) {
  size_t i;
  json_t *x;
  if (!json_is_array(v))
    return la_errf(err, LA_EINVAL, "admins: expected an array of user names");
  if ((c->admins = calloc(json_array_size(v) + 1, sizeof *c->admins)) == NULL)
    return la_errf(err, LA_ENOMEM, "admins: out of memory");
  json_array_foreach(v, i, x) {
    if (!json_is_string(x) || !la_rights_valid_user(json_string_value(x)))
      return la_errf(err, LA_EINVAL,
                     "admins[%zu]: expected a user name (1..63 of A-Z a-z 0-9 "
                     ". _ -)",
                     i);
    if ((c->admins[c->n_admins++] = strdup(json_string_value(x))) == NULL)
      return la_errf(err, LA_ENOMEM, "admins: out of memory");
  }
  return 0;
}

/* The admins as the file gives them. */
static json_t *print_admins(const la_serve_config *c) {
  json_t *a = json_array();
  for (size_t i = 0; i < c->n_admins; i++)
    json_array_append_new(a, json_string(c->admins[i]));
  return a;
}

/* "window": the daemon's start window (window.h). */
static int read_window(const json_t *v, la_serve_config *c, la_err *err) {
  return la_window_from_json(v, "window", &c->window, err);
}

/* The window as the file gives it; null for none. */
static json_t *print_window(const la_serve_config *c) {
  return la_window_to_json(&c->window);
}

/* ---- the config file ---- */

/* Reads the config file into c. */
static int load_file(const char *path, la_serve_config *c, given *g,
                     la_err *err) {
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *v;
  const char *key;
  la_err e;
  int rc = 0;
  if (root == NULL)
    return la_errf(err, LA_EINVAL, "config %s: line %d: %s", path, je.line,
                   je.text);
  if (!json_is_object(root)) {
    json_decref(root);
    return la_errf(err, LA_EINVAL, "config %s: expected a JSON object", path);
  }
  json_object_foreach(root, key, v) {
    const setting *s = find_key(k_settings, N_SETTINGS, key);
    src val = {key, NULL, v};
    if (s == NULL) {
      rc = la_errf(&e, LA_EINVAL,
                   "%.64s: unknown key (see docs/daemon.md for the config "
                   "file)",
                   key);
      break;
    }
    g->row[s - k_settings] = 1;
    if ((rc = read_value(s, c, &val, &e)) != 0) break;
  }
  json_decref(root);
  if (rc) la_errf(err, rc, "config %s: %s", path, e.msg);
  return rc;
}

int la_serve_config_read_file(const char *path, la_serve_config *c,
                              la_err *err) {
  given g;
  memset(&g, 0, sizeof g);
  set_defaults(c);
  return load_file(path, c, &g, err);
}

/* ---- flags ---- */

/* Prints text from column 28 on (two columns after the head, when it is
 * longer), wrapped at 79 columns; col is where the head ended. */
static void print_wrapped(FILE *f, int col, const char *text) {
  const char *p = text;
  int first = 1;
  col += fprintf(f, "%*s", col < 26 ? 28 - col : 2, "");
  while (*p) {
    size_t n = strcspn(p, " ");
    if (!first && col + 1 + (int)n > 79) {
      col = fprintf(f, "\n%28s", "") - 1;
    } else if (!first) {
      col += fprintf(f, " ");
    }
    col += fprintf(f, "%.*s", (int)n, p);
    first = 0;
    p += n;
    p += strspn(p, " ");
  }
  fputc('\n', f);
}

/* --help: each flag of the table with its bounds and default, then the
 * Slurm executor's. */
static void print_usage(FILE *f) {
  char line[512], range[64];
  fputs("usage: loralpha serve [options]\n", f);
  for (size_t i = 0; i < N_SETTINGS; i++) {
    const setting *s = &k_settings[i];
    const char *dflt = s->def != NULL ? s->def : s->note;
    int col;
    if (s->flag == NULL || s->help == NULL || s->type == T_SLURM) continue;
    col = fprintf(f, "  %s%s%s", s->flag, s->arg ? " " : "",
                  s->arg ? s->arg : "");
    range[0] = 0;
    if (s->type == T_INT)
      snprintf(range, sizeof range, "%lld..%lld", s->lo, s->hi);
    if (s->type == T_SIZE) {
      char lo[24], hi[24];
      size_text((unsigned long long)s->lo, lo, sizeof lo);
      size_text((unsigned long long)s->hi, hi, sizeof hi);
      snprintf(range, sizeof range, "%s..%s", lo, hi);
    }
    snprintf(line, sizeof line, "%s%s%s%s%s%s%s", s->help,
             range[0] || dflt ? " (" : "", range, range[0] && dflt ? ", " : "",
             dflt ? "default " : "", dflt ? dflt : "",
             range[0] || dflt ? ")" : "");
    print_wrapped(f, col, line);
  }
  fputs("Admins, read access, windows, per-user limits and the rows a run or "
        "a\nsweep may log are set in the config file. See docs/daemon.md; "
        "the Slurm\nexecutor's options (docs/slurm.md):\n",
        f);
  fputs(la_slurm_usage(), f);
}

/* One flag with its value. */
static int flag(const char *f, const char *v, la_serve_config *c, given *g,
                la_err *err) {
  const setting *s = find_flag(f);
  src val = {f, v, NULL};
  if (s == NULL)
    return la_errf(err, LA_EINVAL, "%.64s: unknown option (see --help)", f);
  g->row[s - k_settings] = 1;
  return read_value(s, c, &val, err);
}

/* Was the row with this key given by the file or a flag? */
static int was_given(const given *g, const char *key) {
  const setting *s = find_key(k_settings, N_SETTINGS, key);
  return s != NULL && g->row[s - k_settings];
}

/* The defaults, the config file (--config), then the other flags over
 * them. 0, 1 after --help, or an LA_E code. */
static int read_layers(int argc, char **argv, la_serve_config *c, given *g,
                       la_err *err) {
  int rc = 0;
  memset(g, 0, sizeof *g);
  set_defaults(c);
  /* the config file first, so that flags override it */
  for (int i = 0; i < argc; i++) {
    const setting *s = find_flag(argv[i]);
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return print_usage(stdout), 1;
    if (s != NULL && s->type == T_SWITCH) continue;
    if (i + 1 >= argc)
      return la_errf(err, LA_EINVAL, "%.64s: needs a value (see --help)",
                     argv[i]);
    if (s != NULL && s->type == T_CONFIG) {
      src val = {argv[i], argv[i + 1], NULL};
      if (c->config_path[0])
        return la_errf(err, LA_EINVAL, "--config: given twice");
      if ((rc = read_value(s, c, &val, err)) ||
          (rc = load_file(argv[i + 1], c, g, err)))
        return rc;
    }
    i++;
  }
  for (int i = 0; i < argc; i++) {
    const setting *s = find_flag(argv[i]);
    if (s != NULL && s->type == T_SWITCH) {
      read_value(s, c, &(src){argv[i], "", NULL}, err);
      continue;
    }
    if ((s == NULL || s->type != T_CONFIG) &&
        (rc = flag(argv[i], argv[i + 1], c, g, err)) != 0)
      return rc;
    i++;
  }
  return 0;
}

int la_serve_config_read(int argc, char **argv, la_serve_config *c,
                         la_err *err) {
  given g;
  return read_layers(argc, argv, c, &g, err);
}

/* max_run_memory's default: every worker at its limit together needs at
 * most half of the RAM, the rest being the system's and its users'; at
 * least the setting's lowest value. */
static unsigned long long default_run_memory(const la_serve_config *c) {
  const setting *s = find_key(k_settings, N_SETTINGS, "max_run_memory");
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  unsigned long long ram =
      pages > 0 && size > 0 ? (unsigned long long)pages * size : 4ull << 30;
  unsigned long long v = ram / (2ull * (unsigned)c->max_workers);
  return v < (unsigned long long)s->lo ? (unsigned long long)s->lo : v;
}

/* Settings that depend on others, and checks across settings. */
static int derive(la_serve_config *c, const given *g, la_err *err) {
  if (c->slurm.worker[0] == 0)
    snprintf(c->slurm.worker, sizeof c->slurm.worker, "%s", c->worker);
  if (c->state_dir[0] == 0)
    return la_errf(err, LA_EINVAL,
                   "--state-dir: none given, and none of LORALPHA_STATE_DIR, "
                   "XDG_STATE_HOME, HOME is set");
  if (!was_given(g, "socket") &&
      la_paths_join(c->socket, sizeof c->socket, c->state_dir, LA_SOCKET_NAME))
    return la_errf(err, LA_EINVAL, "--state-dir: path too long");
  if (!was_given(g, "db") &&
      la_paths_join(c->db, sizeof c->db, c->state_dir, "loralpha.db"))
    return la_errf(err, LA_EINVAL, "--state-dir: path too long");
  if (c->cores > c->cores_allowed)
    return la_errf(err, LA_EINVAL,
                   "cores: %d, but the daemon may use only %d (its CPU "
                   "affinity)",
                   c->cores, c->cores_allowed);
  if (!was_given(g, "max_workers")) c->max_workers = c->cores / c->threads;
  if (c->max_workers < 1)
    return la_errf(err, LA_EINVAL,
                   "threads_per_worker: %d threads do not fit in the %d "
                   "cores allowed",
                   c->threads, c->cores);
  if ((long)c->max_workers * c->threads > c->cores)
    return la_errf(err, LA_EINVAL,
                   "max_workers: %d workers x %d threads exceed the %d cores "
                   "the daemon may use (set cores, max_workers or "
                   "threads_per_worker)",
                   c->max_workers, c->threads, c->cores);
  if (c->tcp_off && c->socket_off)
    return la_errf(err, LA_EINVAL,
                   "listen and socket are both none: nobody could reach the "
                   "daemon");
  if (!c->socket_off && strlen(c->socket) >= 108)
    return la_errf(err, LA_EINVAL,
                   "socket: '%.64s...' is longer than a Unix socket path may "
                   "be (107 bytes)",
                   c->socket);
  if (c->socket_group[0]) {
    struct group gr, *res = NULL;
    char buf[4096];
    if (getgrnam_r(c->socket_group, &gr, buf, sizeof buf, &res) != 0 ||
        res == NULL)
      return la_errf(err, LA_EINVAL, "socket_group: no group called '%.64s'",
                     c->socket_group);
    c->socket_gid = (long)res->gr_gid;
  }
  if (c->max_run_memory == 0) c->max_run_memory = default_run_memory(c);
  if (c->user_default.max_queued_runs < 0)
    c->user_default.max_queued_runs = c->max_runs;
  for (size_t i = 0; i < c->n_user_limits; i++) {
    la_user_limit *l = &c->user_limits[i];
    if (l->max_queued_runs < 0)
      l->max_queued_runs = c->user_default.max_queued_runs;
    if (l->max_workers > c->max_workers)
      return la_errf(err, LA_EINVAL,
                     "user_limits.%s.max_workers: %d is more than the "
                     "daemon's max_workers %d",
                     l->user, l->max_workers, c->max_workers);
  }
  return 0;
}

int la_serve_config_parse(int argc, char **argv, la_serve_config *c,
                          la_err *err) {
  given g;
  int rc = read_layers(argc, argv, c, &g, err);
  return rc != 0 ? rc : derive(c, &g, err);
}

/* Can the directory holding path (or path itself, for a directory that
 * does not exist yet: its nearest existing parent) be written? */
static int writable_dir_of(const char *path, int is_dir) {
  char buf[PATH_MAX];
  char *slash;
  snprintf(buf, sizeof buf, "%s", path);
  if (is_dir && access(buf, F_OK) == 0) return access(buf, W_OK | X_OK) == 0;
  while ((slash = strrchr(buf, '/')) != NULL) {
    if (slash == buf) {
      buf[1] = 0;
    } else {
      *slash = 0;
    }
    if (access(buf, F_OK) == 0) return access(buf, W_OK | X_OK) == 0;
    if (slash == buf) return 0;
  }
  return access(".", W_OK | X_OK) == 0;
}

int la_serve_config_check(const la_serve_config *c, la_err *err) {
  char probe[PATH_MAX + 16];
  size_t n;
  if (access(c->worker, X_OK) != 0 && strchr(c->worker, '/') != NULL)
    return la_errf(err, LA_EINVAL, "worker: %s is not an executable file",
                   c->worker);
  if (c->web[0]) {
    snprintf(probe, sizeof probe, "%s/index.html", c->web);
    if (access(probe, R_OK) != 0)
      return la_errf(err, LA_EINVAL, "web: %s has no readable index.html",
                     c->web);
  }
  if (!writable_dir_of(c->state_dir, 1))
    return la_errf(err, LA_EINVAL, "state_dir: %s cannot be created or written",
                   c->state_dir);
  if (access(c->db, F_OK) == 0 ? access(c->db, R_OK | W_OK) != 0
                               : !writable_dir_of(c->db, 0))
    return la_errf(err, LA_EINVAL, "db: %s cannot be created or written",
                   c->db);
  if (c->tokens_file[0] && la_auth_check_tokens_file(c->tokens_file, &n, err))
    return LA_EINVAL;
  return 0;
}

/* A JSON string or null for "". */
static json_t *str_or_null(const char *s) {
  return s[0] ? json_string(s) : json_null();
}

/* Row s's value in c as the config file gives it (a new reference). */
static json_t *value_json(const setting *s, const la_serve_config *c) {
  const char *p = (const char *)c + s->off;
  char buf[300];
  unsigned long long u;
  unsigned m;
  switch (s->type) {
  case T_INT: return json_integer(load_int(p, s->size));
  case T_SIZE: return memcpy(&u, p, sizeof u), json_integer((json_int_t)u);
  case T_MODE:
    memcpy(&m, p, sizeof m);
    snprintf(buf, sizeof buf, "%04o", m);
    return json_string(buf);
  case T_ENUM: return json_string(s->names[load_int(p, s->size)]);
  case T_LISTEN:
    if (c->tcp_off)
      snprintf(buf, sizeof buf, "none");
    else if (strchr(c->host, ':') != NULL)
      snprintf(buf, sizeof buf, "[%s]:%d", c->host, c->port);
    else
      snprintf(buf, sizeof buf, "%s:%d", c->host, c->port);
    return json_string(buf);
  case T_SOCKET: return json_string(c->socket_off ? "none" : c->socket);
  case T_PATH: return str_or_null(p);
  case T_SECTION: return s->print(c);
  default: return NULL;
  }
}

void la_serve_config_print(const la_serve_config *c, FILE *f) {
  json_t *o = json_object();
  for (size_t i = 0; i < N_SETTINGS; i++) {
    const setting *s = &k_settings[i];
    if (s->key == NULL) continue;
    if (s->type == T_SLURM) { /* one call prints "executor" and "slurm" */
      if (json_object_get(o, "slurm") == NULL)
        la_slurm_config_print(&c->slurm, o);
    } else {
      json_object_set_new(o, s->key, value_json(s, c));
    }
  }
  json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', f);
  json_decref(o);
}

const la_user_limit *la_serve_config_limit(const la_serve_config *c,
                                           const char *user) {
  for (size_t i = 0; i < c->n_user_limits; i++)
    if (strcmp(c->user_limits[i].user, user) == 0) return &c->user_limits[i];
  return &c->user_default;
}

void la_serve_config_free(la_serve_config *c) {
  for (size_t i = 0; i < c->n_admins; i++)
    free(c->admins[i]);
  free(c->admins);
  free(c->user_limits);
  c->admins = NULL, c->user_limits = NULL;
  c->n_admins = c->n_user_limits = 0;
}
