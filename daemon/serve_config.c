/* serve_config.c: defaults, config file and flags of `loralpha serve` (see
 * serve_config.h and docs/daemon.md). */
#define _GNU_SOURCE /* sched_getaffinity */
#include "serve_config.h"

#include "loralpha/paths.h"

#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USAGE                                                                  \
  "usage: loralpha serve [options]\n"                                          \
  "  --config FILE             JSON config file (docs/daemon.md)\n"            \
  "  --check-config            validate everything, print the effective\n"     \
  "                            configuration and exit (0 good, 2 bad)\n"       \
  "  --state-dir DIR           socket, token and database (see docs)\n"        \
  "  --socket PATH|none        Unix socket (STATE/loralpha.sock)\n"            \
  "  --socket-mode MODE        its permissions, octal (0660)\n"                \
  "  --listen HOST:PORT|none   TCP address, bearer tokens (127.0.0.1:7787)\n"  \
  "  --tokens-file FILE        'USER TOKEN' lines for TCP clients\n"           \
  "  --db FILE                 SQLite database (STATE/loralpha.db)\n"          \
  "  --cores N                 cores workers may use (the CPU affinity)\n"     \
  "  --max-workers N           workers at once (cores / threads)\n"            \
  "  --threads-per-worker T    BLAS threads per worker (1)\n"                  \
  "  --worker PATH             loralpha-worker (next to loralpha)\n"           \
  "  --nice N                  added niceness of workers, 0..19 (10)\n"        \
  "  --heartbeat SECONDS       kill a worker silent this long (600; 0 off)\n"  \
  "  --max-runs N              most runs one sweep may have (100000)\n"        \
  "  --max-run-memory SIZE     most memory one run may need, e.g. 4G\n"        \
  "                            (RAM / (2 x max workers))\n"                    \
  "  --max-body BYTES          largest request body (1048576)\n"               \
  "  --request-timeout SECONDS a request must arrive within (10)\n"            \
  "  --max-connections N       TCP connections at once (1024)\n"               \
  "  --max-unix-connections N  Unix socket connections at once (512)\n"        \
  "  --max-connections-per-peer N  per address or local user (128)\n"          \
  "  --max-unauthenticated N   TCP connections without credentials (512)\n"    \
  "  --unauthenticated-timeout SECONDS  to present credentials (5)\n"          \
  "  --web DIR                 the dashboard's files (web/ of the source)\n"   \
  "  --port-file FILE          write the TCP port listened on to FILE\n"       \
  "Admins, read access, windows and per-user limits are set in the config\n"   \
  "file. See docs/daemon.md; the Slurm executor's options (docs/slurm.md):\n"

/* What was set explicitly (flags or file), to derive the rest. */
typedef struct given {
  int workers, socket, db;
} given;

/* The connection settings: config key, flag, bounds and field. */
static const struct conn_setting {
  const char *key, *flag;
  long lo, hi;
  size_t off;
} conn_settings[] = {
    {"max_connections", "--max-connections", 1, 1 << 20,
     offsetof(la_serve_config, max_conns)},
    {"max_unix_connections", "--max-unix-connections", 1, 1 << 20,
     offsetof(la_serve_config, max_unix_conns)},
    {"max_connections_per_peer", "--max-connections-per-peer", 1, 1 << 20,
     offsetof(la_serve_config, max_per_peer)},
    {"max_unauthenticated", "--max-unauthenticated", 1, 1 << 20,
     offsetof(la_serve_config, max_unauth)},
    {"unauthenticated_timeout", "--unauthenticated-timeout", 1, 3600,
     offsetof(la_serve_config, unauth_timeout_s)},
};

/* The connection settings' defaults: the HTTP server's. */
static void conn_defaults(la_serve_config *c) {
  la_http_limits l;
  la_http_limits_default(&l);
  c->max_conns = l.max_connections;
  c->max_unix_conns = l.max_unix_connections;
  c->max_per_peer = l.max_per_peer;
  c->max_unauth = l.max_unauthenticated;
  c->unauth_timeout_s = l.unauth_timeout_ms / 1000;
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

/* A size: bytes, or a number with K, M, G or T (powers of 1024), in
 * 16M..2^50. */
static int parse_size(const char *where, const char *s, unsigned long long *out,
                      la_err *err) {
  static const char units[] = "KMGT";
  char *end;
  unsigned long long v;
  const char *u;
  errno = 0;
  v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
  if (v > 0 && *end && end[1] == 0 && (u = strchr(units, *end)) != NULL &&
      v < (1ull << 40))
    v <<= 10 * (u - units + 1), end++;
  if (errno || v == 0 || *end || v < (16ull << 20) || v > (1ull << 50))
    return la_errf(err, LA_EINVAL,
                   "%s: '%.32s' is not a size in 16M..1024T (bytes, or a "
                   "number with K, M, G or T)",
                   where, s);
  *out = v;
  return 0;
}

/* A decimal long in [lo, hi]. */
static int parse_long(const char *where, const char *s, long lo, long hi,
                      long *out, la_err *err) {
  char *end;
  errno = 0;
  *out = strtol(s, &end, 10);
  if (end == s || *end || errno || *out < lo || *out > hi)
    return la_errf(err, LA_EINVAL, "%s: '%.64s' is not an integer in %ld..%ld",
                   where, s, lo, hi);
  return 0;
}

/* HOST:PORT, [IPv6]:PORT, or "none". */
static int parse_listen(const char *where, const char *s, la_serve_config *c,
                        la_err *err) {
  const char *colon = strrchr(s, ':'), *h = s;
  size_t hl;
  long port;
  if (strcmp(s, "none") == 0) return c->tcp_off = 1, 0;
  if (colon == NULL) goto bad;
  hl = (size_t)(colon - s);
  if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') h = s + 1, hl -= 2;
  if (hl == 0 || hl >= sizeof c->host) goto bad;
  if (parse_long(where, colon + 1, 0, 65535, &port, err)) return LA_EINVAL;
  memcpy(c->host, h, hl);
  c->host[hl] = 0;
  c->port = (int)port;
  c->tcp_off = 0;
  return 0;
bad:
  return la_errf(err, LA_EINVAL, "%s: '%.64s' is not HOST:PORT or none", where,
                 s);
}

/* An octal file mode like "0660" (owner must keep read and write). */
static int parse_mode(const char *where, const char *s, unsigned *out,
                      la_err *err) {
  char *end;
  unsigned long v;
  errno = 0;
  v = strtoul(s, &end, 8);
  if (end == s || *end || errno || v > 0777 || (v & 0600) != 0600)
    return la_errf(err, LA_EINVAL,
                   "%s: '%.16s' is not an octal mode 0600..0777 (the owner "
                   "keeps read and write)",
                   where, s);
  *out = (unsigned)v;
  return 0;
}

/* Cores in the daemon's CPU affinity (what it was allowed to use). */
static int affinity_cores(void) {
  cpu_set_t set;
  long n;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* Defaults that need no other setting. */
static void set_defaults(la_serve_config *c) {
  char dir[PATH_MAX], probe[PATH_MAX + 32];
  memset(c, 0, sizeof *c);
  snprintf(c->host, sizeof c->host, "127.0.0.1");
  c->port = 7787;
  c->socket_mode = 0660;
  c->socket_gid = -1;
  c->threads = 1;
  c->nice = 10;
  c->heartbeat_s = 600;
  c->max_runs = 100000;
  c->max_body = 1 << 20;
  c->request_timeout_s = 10;
  conn_defaults(c);
  c->max_run_rows = 1000000;
  c->max_sweep_rows = 250000000;
  c->cores_allowed = c->cores = affinity_cores();
  c->user_default.max_workers = -1;
  c->user_default.max_queued_runs = -1;
  la_slurm_opts_default(&c->slurm);
  if (la_paths_state_dir(c->state_dir, sizeof c->state_dir) != 0)
    c->state_dir[0] = 0; /* derive() asks for --state-dir */
  if (la_paths_exe_dir(dir, sizeof dir) == 0) {
    snprintf(c->worker, sizeof c->worker, "%.*s/loralpha-worker", PATH_MAX - 20,
             dir);
    snprintf(probe, sizeof probe, "%s/../web/index.html", dir);
    if (access(probe, R_OK) == 0)
      snprintf(c->web, sizeof c->web, "%.*s/../web", PATH_MAX - 16, dir);
  } else {
    snprintf(c->worker, sizeof c->worker, "loralpha-worker");
  }
}

/* ---- the config file ---- */

/* An integer member in [lo, hi]. */
static int json_long(const json_t *v, const char *where, long lo, long hi,
                     long *out, la_err *err) {
  if (!json_is_integer(v) || json_integer_value(v) < lo ||
      json_integer_value(v) > hi)
    return la_errf(err, LA_EINVAL, "%s: expected an integer in %ld..%ld", where,
                   lo, hi);
  *out = (long)json_integer_value(v);
  return 0;
}

/* A string member. */
static int json_str(const json_t *v, const char *where, const char **out,
                    la_err *err) {
  if (!json_is_string(v))
    return la_errf(err, LA_EINVAL, "%s: expected a string", where);
  *out = json_string_value(v);
  return 0;
}

/* Reads {"max_workers": N, "max_queued_runs": N} into l. */
static int parse_limit(const json_t *v, const char *where, la_user_limit *l,
                       la_err *err) {
  const char *key;
  json_t *x;
  char w[256];
  long n;
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL,
                   "%s: expected {\"max_workers\": N, \"max_queued_runs\": N}",
                   where);
  json_object_foreach((json_t *)v, key, x) {
    snprintf(w, sizeof w, "%s.%.40s", where, key);
    if (strcmp(key, "max_workers") == 0) {
      if (json_long(x, w, 1, 1024, &n, err)) return LA_EINVAL;
      l->max_workers = (int)n;
    } else if (strcmp(key, "max_queued_runs") == 0) {
      if (json_long(x, w, 1, 100000000, &n, err)) return LA_EINVAL;
      l->max_queued_runs = n;
    } else {
      return la_errf(err, LA_EINVAL,
                     "%s: unknown field (expected max_workers, "
                     "max_queued_runs)",
                     w);
    }
  }
  return 0;
}

/* "user_limits": {"default": {...}, "alice": {...}}. */
static int parse_user_limits(const json_t *v, la_serve_config *c, la_err *err) {
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
    if (parse_limit(x, where, l, err)) return LA_EINVAL;
  }
  return 0;
}

/* "admins": ["alice", ...]. */
static int parse_admins(const json_t *v, la_serve_config *c, la_err *err) {
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

/* A connection setting from the file (v) or a flag (sv): 0, an LA_E
 * code, or 1 when name is none of them. */
static int conn_setting(const char *name, const json_t *v, const char *sv,
                        la_serve_config *c, la_err *err) {
  for (size_t i = 0; i < sizeof conn_settings / sizeof *conn_settings; i++) {
    const struct conn_setting *cs = &conn_settings[i];
    long *dst = (long *)((char *)c + cs->off);
    if (strcmp(name, v != NULL ? cs->key : cs->flag) != 0) continue;
    return v != NULL ? json_long(v, name, cs->lo, cs->hi, dst, err)
                     : parse_long(name, sv, cs->lo, cs->hi, dst, err);
  }
  return 1;
}

/* One key of the config file. */
static int config_key(const char *k, const json_t *v, la_serve_config *c,
                      given *g, la_err *err) {
  const char *s = "";
  long n;
  int rc = conn_setting(k, v, NULL, c, err);
  if (rc <= 0) return rc;
  if (strcmp(k, "listen") == 0)
    return json_str(v, k, &s, err) ? LA_EINVAL : parse_listen(k, s, c, err);
  if (strcmp(k, "socket") == 0) {
    if (json_str(v, k, &s, err)) return LA_EINVAL;
    g->socket = 1;
    c->socket_off = strcmp(s, "none") == 0;
    return set_str(c->socket, sizeof c->socket, s, k, err);
  }
  if (strcmp(k, "socket_mode") == 0)
    return json_str(v, k, &s, err) ? LA_EINVAL
                                   : parse_mode(k, s, &c->socket_mode, err);
  if (strcmp(k, "socket_group") == 0)
    return json_str(v, k, &s, err)
               ? LA_EINVAL
               : set_str(c->socket_group, sizeof c->socket_group, s, k, err);
  if (strcmp(k, "state_dir") == 0)
    return json_str(v, k, &s, err)
               ? LA_EINVAL
               : set_str(c->state_dir, sizeof c->state_dir, s, k, err);
  if (strcmp(k, "db") == 0) {
    g->db = 1;
    return json_str(v, k, &s, err) ? LA_EINVAL
                                   : set_str(c->db, sizeof c->db, s, k, err);
  }
  if (strcmp(k, "tokens_file") == 0)
    return json_str(v, k, &s, err)
               ? LA_EINVAL
               : set_str(c->tokens_file, sizeof c->tokens_file, s, k, err);
  if (strcmp(k, "worker") == 0)
    return json_str(v, k, &s, err)
               ? LA_EINVAL
               : set_str(c->worker, sizeof c->worker, s, k, err);
  if (strcmp(k, "web") == 0)
    return json_str(v, k, &s, err) ? LA_EINVAL
                                   : set_str(c->web, sizeof c->web, s, k, err);
  if (strcmp(k, "admins") == 0) return parse_admins(v, c, err);
  if (strcmp(k, "read_access") == 0) {
    if (json_str(v, k, &s, err)) return LA_EINVAL;
    if (strcmp(s, "all") && strcmp(s, "owner"))
      return la_errf(err, LA_EINVAL,
                     "read_access: expected \"all\" (everyone reads every "
                     "sweep) or \"owner\"");
    c->read_own_only = strcmp(s, "owner") == 0;
    return 0;
  }
  if (strcmp(k, "window") == 0)
    return la_window_from_json(v, "window", &c->window, err);
  if (strcmp(k, "user_limits") == 0) return parse_user_limits(v, c, err);
  if (strcmp(k, "max_workers") == 0) {
    g->workers = 1;
    return json_long(v, k, 1, 1024, &n, err) ? LA_EINVAL
                                             : (c->max_workers = (int)n, 0);
  }
  if (strcmp(k, "threads_per_worker") == 0)
    return json_long(v, k, 1, 256, &n, err) ? LA_EINVAL
                                            : (c->threads = (int)n, 0);
  if (strcmp(k, "cores") == 0)
    return json_long(v, k, 1, 4096, &n, err) ? LA_EINVAL
                                             : (c->cores = (int)n, 0);
  if (strcmp(k, "nice") == 0)
    return json_long(v, k, 0, 19, &n, err) ? LA_EINVAL : (c->nice = (int)n, 0);
  if (strcmp(k, "heartbeat") == 0)
    return json_long(v, k, 0, 86400 * 7, &n, err)
               ? LA_EINVAL
               : (c->heartbeat_s = (unsigned)n, 0);
  if (strcmp(k, "max_runs") == 0)
    return json_long(v, k, 1, 10000000, &c->max_runs, err);
  if (strcmp(k, "max_body") == 0)
    return json_long(v, k, 1024, 1 << 30, &c->max_body, err);
  if (strcmp(k, "max_run_memory") == 0) {
    char num[32];
    if (json_is_integer(v))
      snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    else if (json_str(v, k, &s, err) == 0)
      snprintf(num, sizeof num, "%.31s", s);
    else
      return LA_EINVAL;
    return parse_size(k, num, &c->max_run_memory, err);
  }
  if (strcmp(k, "max_run_rows") == 0)
    return json_long(v, k, 100, 1000000000, &c->max_run_rows, err);
  if (strcmp(k, "max_sweep_rows") == 0)
    return json_long(v, k, 100, 100000000000, &c->max_sweep_rows, err);
  if (strcmp(k, "request_timeout") == 0)
    return json_long(v, k, 1, 3600, &c->request_timeout_s, err);
  /* "executor" and "slurm": the Slurm executor's (slurm.h) */
  if ((n = la_slurm_config_key(&c->slurm, k, v, err)) <= 0) return (int)n;
  return la_errf(err, LA_EINVAL,
                 "%.64s: unknown key (see docs/daemon.md for the config file)",
                 k);
}

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
    if ((rc = config_key(key, v, c, g, &e)) != 0) break;
  }
  json_decref(root);
  if (rc) la_errf(err, rc, "config %s: %s", path, e.msg);
  return rc;
}

int la_serve_config_read_file(const char *path, la_serve_config *c,
                              la_err *err) {
  given g = {0, 0, 0};
  set_defaults(c);
  return load_file(path, c, &g, err);
}

/* ---- flags ---- */

/* One flag with its value. */
static int flag(const char *f, const char *v, la_serve_config *c, given *g,
                la_err *err) {
  long n = conn_setting(f, NULL, v, c, err);
  if (n <= 0) return (int)n;
  if (strcmp(f, "--listen") == 0) return parse_listen(f, v, c, err);
  if (strcmp(f, "--socket") == 0) {
    g->socket = 1;
    c->socket_off = strcmp(v, "none") == 0;
    return set_str(c->socket, sizeof c->socket, v, f, err);
  }
  if (strcmp(f, "--socket-mode") == 0)
    return parse_mode(f, v, &c->socket_mode, err);
  if (strcmp(f, "--state-dir") == 0)
    return set_str(c->state_dir, sizeof c->state_dir, v, f, err);
  if (strcmp(f, "--db") == 0)
    return g->db = 1, set_str(c->db, sizeof c->db, v, f, err);
  if (strcmp(f, "--tokens-file") == 0)
    return set_str(c->tokens_file, sizeof c->tokens_file, v, f, err);
  if (strcmp(f, "--port-file") == 0)
    return set_str(c->port_file, sizeof c->port_file, v, f, err);
  if (strcmp(f, "--web") == 0) return set_str(c->web, sizeof c->web, v, f, err);
  if (strcmp(f, "--worker") == 0)
    return set_str(c->worker, sizeof c->worker, v, f, err);
  if (strcmp(f, "--max-workers") == 0) {
    g->workers = 1;
    return parse_long(f, v, 1, 1024, &n, err) ? LA_EINVAL
                                              : (c->max_workers = (int)n, 0);
  }
  if (strcmp(f, "--threads-per-worker") == 0)
    return parse_long(f, v, 1, 256, &n, err) ? LA_EINVAL
                                             : (c->threads = (int)n, 0);
  if (strcmp(f, "--cores") == 0)
    return parse_long(f, v, 1, 4096, &n, err) ? LA_EINVAL
                                              : (c->cores = (int)n, 0);
  if (strcmp(f, "--nice") == 0)
    return parse_long(f, v, 0, 19, &n, err) ? LA_EINVAL : (c->nice = (int)n, 0);
  if (strcmp(f, "--heartbeat") == 0)
    return parse_long(f, v, 0, 86400 * 7, &n, err)
               ? LA_EINVAL
               : (c->heartbeat_s = (unsigned)n, 0);
  if (strcmp(f, "--max-runs") == 0)
    return parse_long(f, v, 1, 10000000, &c->max_runs, err);
  if (strcmp(f, "--request-timeout") == 0)
    return parse_long(f, v, 1, 3600, &c->request_timeout_s, err);
  if (strcmp(f, "--max-body") == 0)
    return parse_long(f, v, 1024, 1 << 30, &c->max_body, err);
  if (strcmp(f, "--max-run-memory") == 0)
    return parse_size(f, v, &c->max_run_memory, err);
  n = la_slurm_opt(&c->slurm, f, v, err); /* 0 taken, > 0 not its flag */
  if (n <= 0) return (int)n;
  return la_errf(err, LA_EINVAL, "%.64s: unknown option (see --help)", f);
}

/* max_run_memory's default: every worker at its limit together needs at
 * most half of the RAM, the rest being the system's and its users'. */
static unsigned long long default_run_memory(const la_serve_config *c) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  unsigned long long ram =
      pages > 0 && size > 0 ? (unsigned long long)pages * size : 4ull << 30;
  unsigned long long v = ram / (2ull * (unsigned)c->max_workers);
  return v < (16ull << 20) ? 16ull << 20 : v;
}

/* Settings that depend on others, and checks across settings. */
static int derive(la_serve_config *c, const given *g, la_err *err) {
  if (c->slurm.worker[0] == 0)
    snprintf(c->slurm.worker, sizeof c->slurm.worker, "%s", c->worker);
  if (c->state_dir[0] == 0)
    return la_errf(err, LA_EINVAL,
                   "--state-dir: none given, and none of LORALPHA_STATE_DIR, "
                   "XDG_STATE_HOME, HOME is set");
  if (!g->socket &&
      la_paths_join(c->socket, sizeof c->socket, c->state_dir, LA_SOCKET_NAME))
    return la_errf(err, LA_EINVAL, "--state-dir: path too long");
  if (!g->db && la_paths_join(c->db, sizeof c->db, c->state_dir, "loralpha.db"))
    return la_errf(err, LA_EINVAL, "--state-dir: path too long");
  if (c->cores > c->cores_allowed)
    return la_errf(err, LA_EINVAL,
                   "cores: %d, but the daemon may use only %d (its CPU "
                   "affinity)",
                   c->cores, c->cores_allowed);
  if (!g->workers) c->max_workers = c->cores / c->threads;
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
  given g = {0, 0, 0};
  int rc = 0;
  set_defaults(c);
  /* the config file first, so that flags override it */
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(USAGE, stdout);
      fputs(la_slurm_usage(), stdout);
      return 1;
    }
    if (strcmp(argv[i], "--check-config") == 0) {
      c->check_only = 1;
      continue;
    }
    if (i + 1 >= argc)
      return la_errf(err, LA_EINVAL, "%.64s: needs a value (see --help)",
                     argv[i]);
    if (strcmp(argv[i], "--config") == 0) {
      if (c->config_path[0])
        return la_errf(err, LA_EINVAL, "--config: given twice");
      if ((rc = set_str(c->config_path, sizeof c->config_path, argv[i + 1],
                        "--config", err)) ||
          (rc = load_file(argv[i + 1], c, &g, err)))
        return rc;
    }
    i++;
  }
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--check-config") == 0) continue;
    if (strcmp(argv[i], "--config") != 0 &&
        (rc = flag(argv[i], argv[i + 1], c, &g, err)) != 0)
      return rc;
    i++;
  }
  return derive(c, &g, err);
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

void la_serve_config_print(const la_serve_config *c, FILE *f) {
  json_t *o = json_object(), *admins = json_array(), *limits = json_object();
  char listen[300], mode[8];
  if (c->tcp_off)
    snprintf(listen, sizeof listen, "none");
  else if (strchr(c->host, ':') != NULL)
    snprintf(listen, sizeof listen, "[%s]:%d", c->host, c->port);
  else
    snprintf(listen, sizeof listen, "%s:%d", c->host, c->port);
  snprintf(mode, sizeof mode, "%04o", c->socket_mode);
  for (size_t i = 0; i < c->n_admins; i++)
    json_array_append_new(admins, json_string(c->admins[i]));
  for (size_t i = 0; i <= c->n_user_limits; i++) {
    const la_user_limit *l = i ? &c->user_limits[i - 1] : &c->user_default;
    json_t *x = json_object();
    if (l->max_workers > 0)
      json_object_set_new(x, "max_workers", json_integer(l->max_workers));
    if (l->max_queued_runs > 0)
      json_object_set_new(x, "max_queued_runs",
                          json_integer(l->max_queued_runs));
    json_object_set_new(limits, i ? l->user : "default", x);
  }
  json_object_set_new(o, "state_dir", json_string(c->state_dir));
  json_object_set_new(o, "db", json_string(c->db));
  json_object_set_new(o, "listen", json_string(listen));
  json_object_set_new(o, "socket",
                      json_string(c->socket_off ? "none" : c->socket));
  json_object_set_new(o, "socket_mode", json_string(mode));
  json_object_set_new(o, "socket_group", str_or_null(c->socket_group));
  json_object_set_new(o, "tokens_file", str_or_null(c->tokens_file));
  json_object_set_new(o, "admins", admins);
  json_object_set_new(o, "read_access",
                      json_string(c->read_own_only ? "owner" : "all"));
  json_object_set_new(o, "cores", json_integer(c->cores));
  json_object_set_new(o, "max_workers", json_integer(c->max_workers));
  json_object_set_new(o, "threads_per_worker", json_integer(c->threads));
  json_object_set_new(o, "nice", json_integer(c->nice));
  json_object_set_new(o, "heartbeat", json_integer(c->heartbeat_s));
  json_object_set_new(o, "max_runs", json_integer(c->max_runs));
  json_object_set_new(o, "max_body", json_integer(c->max_body));
  json_object_set_new(o, "max_run_memory",
                      json_integer((json_int_t)c->max_run_memory));
  json_object_set_new(o, "max_run_rows", json_integer(c->max_run_rows));
  json_object_set_new(o, "max_sweep_rows", json_integer(c->max_sweep_rows));
  json_object_set_new(o, "request_timeout", json_integer(c->request_timeout_s));
  for (size_t i = 0; i < sizeof conn_settings / sizeof *conn_settings; i++)
    json_object_set_new(
        o, conn_settings[i].key,
        json_integer(*(const long *)((const char *)c + conn_settings[i].off)));
  json_object_set_new(o, "worker", json_string(c->worker));
  json_object_set_new(o, "web", str_or_null(c->web));
  json_object_set_new(o, "window", la_window_to_json(&c->window));
  json_object_set_new(o, "user_limits", limits);
  la_slurm_config_print(&c->slurm, o);
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
