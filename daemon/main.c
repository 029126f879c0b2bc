/*
 * main.c: the loralpha command. `loralpha serve` runs the sweep daemon;
 * every other command is the client (cli.c, docs/cli.md).
 *
 *   loralpha serve [--listen HOST:PORT] [--db FILE] [--max-workers N]
 *                  [--threads-per-worker T] [--worker PATH] [--nice N]
 *                  [--heartbeat SECONDS] [--max-runs N] [--max-body BYTES]
 *                  [--request-timeout SECONDS] [--web DIR] [--port-file FILE]
 *                  [--executor local|slurm] [--slurm-* ...]
 *
 * See docs/daemon.md.
 */
#include "loralpha/analysis.h"
#include "loralpha/api.h"
#include "loralpha/cli.h"
#include "loralpha/cli_slurm.h"
#include "loralpha/http.h"
#include "loralpha/ingest.h"
#include "loralpha/sched.h"
#include "loralpha/slurm.h"
#include "loralpha/store.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2

typedef struct serve_opts {
  char host[256];
  int port;
  const char *db;
  int max_workers, threads, nice;
  unsigned heartbeat_s;
  long max_runs;
  long max_body;
  long request_timeout_s;
  const char *port_file;
  char worker[PATH_MAX];
  char web[PATH_MAX]; /* the dashboard's directory ("" : none) */
  la_slurm_opts slurm;
} serve_opts;

/* Everything the running daemon owns. */
typedef struct daemon_ctx {
  uv_loop_t *loop;
  la_store *store;
  la_sched *sched;
  la_http_server *http;
  la_analyzer *analyzer;
  la_slurm *slurm;
  la_ingest ingest;
  char web_root[PATH_MAX];
  la_api api;
  uv_signal_t sigterm, sigint;
  int stopping;
} daemon_ctx;

static void usage(FILE *f) {
  fputs(
      "usage: loralpha serve [options]\n"
      "  --listen HOST:PORT        address to listen on (127.0.0.1:7787)\n"
      "  --db FILE                 SQLite database (./loralpha.db)\n"
      "  --max-workers N           workers at once (cores / threads)\n"
      "  --threads-per-worker T    BLAS threads per worker (1)\n"
      "  --worker PATH             loralpha-worker (next to loralpha)\n"
      "  --nice N                  added niceness of workers, 0..19 (10)\n"
      "  --heartbeat SECONDS       kill a worker silent this long (600; 0 "
      "off)\n"
      "  --max-runs N              most runs one sweep may have (100000)\n"
      "  --max-body BYTES          largest request body (1048576)\n"
      "  --request-timeout SECONDS a request must arrive within (10)\n"
      "  --web DIR                 the dashboard's files (web/ of the source)\n"
      "  --port-file FILE          write the port listened on to FILE\n",
      f);
  fputs(la_slurm_usage(), f);
  fputs("See docs/daemon.md and docs/slurm.md.\n", f);
}

/* A long in [lo, hi] from argv, or -1 with a message. */
static int parse_long(const char *flag, const char *s, long lo, long hi,
                      long *out) {
  char *end;
  errno = 0;
  *out = strtol(s, &end, 10);
  if (end == s || *end || errno || *out < lo || *out > hi) {
    fprintf(stderr, "loralpha serve: %s: '%s' is not an integer in %ld..%ld\n",
            flag, s, lo, hi);
    return -1;
  }
  return 0;
}

/* HOST:PORT, [IPv6]:PORT. */
static int parse_listen(const char *s, serve_opts *o) {
  const char *colon = strrchr(s, ':');
  const char *h = s;
  size_t hl;
  long port;
  if (colon == NULL) goto bad;
  hl = (size_t)(colon - s);
  if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') h = s + 1, hl -= 2;
  if (hl == 0 || hl >= sizeof o->host) goto bad;
  memcpy(o->host, h, hl);
  o->host[hl] = 0;
  if (parse_long("--listen", colon + 1, 0, 65535, &port)) return -1;
  o->port = (int)port;
  return 0;
bad:
  fprintf(stderr, "loralpha serve: --listen: '%s' is not HOST:PORT\n", s);
  return -1;
}

/* The directory of this executable into dir; 0, or -1 if unknown. */
static int exe_dir(char *dir, size_t size) {
  ssize_t n = readlink("/proc/self/exe", dir, size - 1);
  char *slash;
  if (n <= 0) return -1;
  dir[n] = 0;
  if ((slash = strrchr(dir, '/')) == NULL) return -1;
  *slash = 0;
  return 0;
}

/* The dashboard: web/ beside the directory of this executable (the source
 * tree's web/ for a build directory inside it), if it has an index.html. */
static void default_web(serve_opts *o, const char *dir) {
  char probe[PATH_MAX + 32];
  o->web[0] = 0;
  if (dir == NULL) return;
  snprintf(probe, sizeof probe, "%s/../web/index.html", dir);
  if (access(probe, R_OK) == 0)
    snprintf(o->web, sizeof o->web, "%.*s/../web", PATH_MAX - 16, dir);
}

/* loralpha-worker beside this executable, else from PATH. */
static void default_worker(serve_opts *o, const char *dir) {
  if (dir == NULL)
    snprintf(o->worker, sizeof o->worker, "loralpha-worker");
  else
    snprintf(o->worker, sizeof o->worker, "%.*s/loralpha-worker", PATH_MAX - 20,
             dir);
}

static void set_defaults(serve_opts *o) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  char dir[PATH_MAX];
  int dir_known;
  memset(o, 0, sizeof *o);
  snprintf(o->host, sizeof o->host, "127.0.0.1");
  o->port = 7787;
  o->db = "loralpha.db";
  o->threads = 1;
  o->max_workers = cores > 0 ? (int)cores : 1;
  o->nice = 10;
  o->heartbeat_s = 600;
  o->max_runs = 100000;
  o->max_body = 1 << 20;
  o->request_timeout_s = 10;
  la_slurm_opts_default(&o->slurm);
  dir_known = exe_dir(dir, sizeof dir) == 0;
  default_worker(o, dir_known ? dir : NULL);
  default_web(o, dir_known ? dir : NULL);
}

/* One option with its value; returns 0, or -1 on a bad value. */
static int parse_opt(const char *f, const char *v, serve_opts *o,
                     int *workers_given) {
  long x;
  la_err err;
  int rc = la_slurm_opt(&o->slurm, f, v, &err);
  if (rc <= 0)
    return rc ? fprintf(stderr, "loralpha serve: %s\n", err.msg), -1 : 0;
  if (strcmp(f, "--listen") == 0) return parse_listen(v, o);
  if (strcmp(f, "--db") == 0) return o->db = v, 0;
  if (strcmp(f, "--port-file") == 0) return o->port_file = v, 0;
  if (strcmp(f, "--web") == 0)
    return snprintf(o->web, sizeof o->web, "%s", v), 0;
  if (strcmp(f, "--worker") == 0)
    return snprintf(o->worker, sizeof o->worker, "%s", v), 0;
  if (strcmp(f, "--max-workers") == 0) {
    *workers_given = 1;
    return parse_long(f, v, 1, 1024, &x) ? -1 : (o->max_workers = (int)x, 0);
  }
  if (strcmp(f, "--threads-per-worker") == 0)
    return parse_long(f, v, 1, 256, &x) ? -1 : (o->threads = (int)x, 0);
  if (strcmp(f, "--nice") == 0)
    return parse_long(f, v, 0, 19, &x) ? -1 : (o->nice = (int)x, 0);
  if (strcmp(f, "--heartbeat") == 0)
    return parse_long(f, v, 0, 86400 * 7, &x)
               ? -1
               : (o->heartbeat_s = (unsigned)x, 0);
  if (strcmp(f, "--max-runs") == 0)
    return parse_long(f, v, 1, 10000000, &o->max_runs);
  if (strcmp(f, "--request-timeout") == 0)
    return parse_long(f, v, 1, 3600, &o->request_timeout_s);
  if (strcmp(f, "--max-body") == 0)
    return parse_long(f, v, 1024, 1 << 30, &o->max_body);
  fprintf(stderr, "loralpha serve: %s: unknown option (see --help)\n", f);
  return -1;
}

/* Parses serve's arguments; 1 when --help was printed. */
static int parse_serve(int argc, char **argv, serve_opts *o) {
  int workers_given = 0;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  set_defaults(o);
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return usage(stdout), 1;
    if (i + 1 >= argc) {
      fprintf(stderr, "loralpha serve: %s: needs a value (see --help)\n",
              argv[i]);
      return -1;
    }
    if (parse_opt(argv[i], argv[i + 1], o, &workers_given)) return -1;
    i++;
  }
  if (o->slurm.worker[0] == 0)
    snprintf(o->slurm.worker, sizeof o->slurm.worker, "%s", o->worker);
  if (!workers_given)
    o->max_workers = cores / o->threads > 0 ? (int)(cores / o->threads) : 1;
  if (cores > 0 && (long)o->max_workers * o->threads > cores)
    fprintf(stderr,
            "loralpha serve: warning: %d workers x %d threads exceed the %ld "
            "cores\n",
            o->max_workers, o->threads, cores);
  return 0;
}

/* ---- running
 * -------------------------------------------------------------------- */

static void on_http_closed(void *arg) {
  (void)arg;
}

/* After the scheduler has drained: close what is left and let the loop end. */
static void on_drained(void *arg) {
  daemon_ctx *d = arg;
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
}

/* SIGTERM / SIGINT: stop accepting, stop workers (their runs queued), exit 0.
 */
static void on_signal(uv_signal_t *h, int signum) {
  daemon_ctx *d = h->data;
  if (d->stopping) return;
  d->stopping = 1;
  d->api.draining = 1;
  fprintf(stderr, "loralpha serve: signal %d: draining\n", signum);
  la_http_server_close(d->http, on_http_closed, NULL);
  d->http = NULL;
  la_slurm_stop(d->slurm, on_http_closed, NULL);
  la_sched_drain(d->sched, on_drained, d);
}

/* The Slurm executor, re-attached to the jobs a previous daemon left and
 * joined to the scheduler. */
static int start_slurm(daemon_ctx *d, const serve_opts *o, la_err *err) {
  if (la_slurm_new(d->loop, d->store, &o->slurm, &d->slurm, err)) return -1;
  la_slurm_attach(d->slurm, d->sched, la_api_on_run_finished, &d->api);
  return 0;
}

static int write_port_file(const char *path, int port) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return -1;
  fprintf(f, "%d\n", port);
  return fclose(f);
}

/* Opens the store, requeues runs a previous daemon left running, starts
 * the scheduler and the server. */
static int start(daemon_ctx *d, const serve_opts *o) {
  la_err err;
  la_http_limits lim;
  la_sched_opts so = {o->worker, o->max_workers,         o->threads,
                      o->nice,   o->heartbeat_s * 1000u, 250};
  int requeued = 0;
  if (la_store_open(o->db, &d->store, &err) ||
      la_store_requeue_local(d->store, &requeued, &err) ||
      la_sched_new(d->loop, d->store, &so, &d->sched, &err) ||
      start_slurm(d, o, &err))
    return fprintf(stderr, "loralpha serve: %s\n", err.msg), -1;
  if (la_analyzer_new(d->loop, d->store, 1000, &d->analyzer))
    return fprintf(stderr, "loralpha serve: out of memory\n"), -1;
  d->api.store = d->store, d->api.sched = d->sched,
  d->api.analyzer = d->analyzer;
  d->api.loop = d->loop;
  d->api.db_path = o->db;
  if (o->web[0] && realpath(o->web, d->web_root) != NULL)
    d->api.web_root = d->web_root;
  la_sched_set_finish_hook(d->sched, la_api_on_run_finished, &d->api);
  d->api.started_at = la_time_unix();
  d->api.max_workers = o->max_workers;
  la_spec_limits_default(&d->api.limits);
  d->api.limits.max_runs = (size_t)o->max_runs;
  la_http_limits_default(&lim);
  lim.max_body_bytes = (size_t)o->max_body;
  lim.request_timeout_ms = (unsigned)o->request_timeout_s * 1000u;
  d->ingest.api = &d->api, d->ingest.slurm = d->slurm;
  if (la_http_server_start(d->loop, o->host, o->port, &lim, la_ingest_route,
                           &d->ingest, &d->http, &err))
    return fprintf(stderr, "loralpha serve: %s\n", err.msg), -1;
  d->api.http = d->http;
  la_slurm_listening(d->slurm, o->host, la_http_server_port(d->http));
  if (o->port_file &&
      write_port_file(o->port_file, la_http_server_port(d->http)))
    return fprintf(stderr, "loralpha serve: cannot write %s\n", o->port_file),
           -1;
  fprintf(stderr,
          "loralpha serve: listening on http://%s:%d, database %s (schema %d), "
          "%d workers x %d threads, %d runs requeued\n",
          o->host, la_http_server_port(d->http), o->db,
          la_store_schema_version(d->store), o->max_workers, o->threads,
          requeued);
  return 0;
}

static int serve(int argc, char **argv) {
  serve_opts o;
  daemon_ctx d;
  int rc = parse_serve(argc, argv, &o);
  if (rc) return rc > 0 ? 0 : EXIT_USAGE;
  memset(&d, 0, sizeof d);
  signal(SIGPIPE, SIG_IGN); /* a client or worker gone mid-write is an EPIPE */
  d.loop = uv_default_loop();
  if (start(&d, &o)) {
    if (d.slurm) la_slurm_stop(d.slurm, on_http_closed, NULL);
    if (d.sched)
      la_sched_drain(d.sched, NULL, NULL), uv_run(d.loop, UV_RUN_DEFAULT);
    la_slurm_free(d.slurm);
    la_sched_free(d.sched);
    la_analyzer_free(d.analyzer);
    la_store_close(d.store);
    return 1;
  }
  uv_signal_init(d.loop, &d.sigterm);
  uv_signal_init(d.loop, &d.sigint);
  d.sigterm.data = d.sigint.data = &d;
  uv_signal_start(&d.sigterm, on_signal, SIGTERM);
  uv_signal_start(&d.sigint, on_signal, SIGINT);
  la_sched_kick(d.sched);
  uv_run(d.loop, UV_RUN_DEFAULT); /* ends when drained and analyses are done */
  la_slurm_free(d.slurm);
  la_sched_free(d.sched);
  la_analyzer_free(d.analyzer);
  la_store_close(d.store);
  uv_loop_close(d.loop);
  fprintf(stderr, "loralpha serve: stopped\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "serve") == 0)
    return serve(argc - 2, argv + 2);
  if (la_cli_slurm_is(argc, argv)) return la_cli_slurm_main(argc, argv);
  return la_cli_main(argc, argv); /* every other command is a client's */
}
