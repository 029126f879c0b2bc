/*
 * serve.c: `loralpha serve`, the sweep daemon (serve.h): every subsystem
 * is built, wired and freed here.
 *
 *   loralpha serve [--config FILE] [--check-config] [options]
 *                  [--executor LIST] [--slurm-* ...]
 *
 * (serve_config.h has the options; docs/daemon.md and docs/slurm.md explain
 * them.)
 */
#include "loralpha/serve.h"

#include "analysis/analysis.h"
#include "api/api.h"
#include "daemon.h"
#include "loralpha/paths.h"
#include "loralpha/resources.h"
#include "loralpha/store.h"
#include "net/http.h"
#include "sched/proc.h"
#include "sched/sched.h"
#include "serve_config.h"
#include "slurm/slurm.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_DATABASE 3 /* the database is refused: empty, damaged, newer */
/* A leftover worker's time to exit on SIGTERM, then on SIGKILL. */
#define LEFTOVER_TERM_MS 3000
#define LEFTOVER_KILL_MS 2000

/* ---- running ---- */

static void on_http_closed(void *arg) {
  (void)arg;
}

/* After the scheduler has drained: close what is left and let the loop end. */
static void on_drained(void *arg) {
  la_daemon *d = arg;
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
  uv_close((uv_handle_t *)&d->sighup, NULL);
}

/* SIGHUP: read the tokens file again. */
static void on_sighup(uv_signal_t *h, int signum) {
  la_daemon *d = h->data;
  la_err err;
  (void)signum;
  if (la_auth_reload(d->auth, &err))
    fprintf(stderr, "loralpha serve: SIGHUP: %s (the old tokens stay)\n",
            err.msg);
  else
    fprintf(stderr, "loralpha serve: SIGHUP: tokens file read again\n");
}

/* SIGTERM / SIGINT: stop accepting, stop workers (their runs queued), exit 0.
 */
static void on_signal(uv_signal_t *h, int signum) {
  la_daemon *d = h->data;
  if (d->stopping) return;
  d->stopping = 1;
  d->draining = 1;
  fprintf(stderr, "loralpha serve: signal %d: draining\n", signum);
  la_http_server_close(d->http, on_http_closed, NULL);
  d->http = NULL;
  la_slurm_stop(d->slurm, on_http_closed, NULL);
  la_sched_drain(d->sched, on_drained, d);
}

/* The port, for scripts (not a secret: mode 0644); a symlink planted at
 * the path is replaced, never followed. */
static int write_port_file(const char *path, int port) {
  char text[32];
  snprintf(text, sizeof text, "%d\n", port);
  return la_paths_write_file(path, text, 0644);
}

/* STATE/listen: where this daemon listens ("HOST PORT PID"), so that the
 * CLI sends the state directory's token there and nowhere else. */
static int write_listen_file(la_daemon *d, la_err *err) {
  char path[PATH_MAX], text[320];
  if (la_paths_join(path, sizeof path, d->cfg.state_dir, LA_LISTEN_NAME))
    return la_errf(err, LA_EINVAL, "state dir %s: path too long",
                   d->cfg.state_dir);
  if (d->cfg.tcp_off) return unlink(path), 0;
  snprintf(text, sizeof text, "%s %d %ld\n", d->cfg.host,
           la_http_server_port(d->http), (long)getpid());
  if (la_paths_write_file(path, text, 0600) != 0)
    return la_errf(err, LA_EIO, "%s: %s", path, strerror(errno));
  d->listen_written = 1;
  return 0;
}

/* The state directory's mode: the daemon's user's alone (0700), with the
 * search bit (no listing, no reading) for the group or everyone when the
 * socket inside it lets them connect. */
static unsigned state_dir_mode(const la_serve_config *c) {
  char sock[PATH_MAX];
  unsigned m = 0700;
  if (c->socket_off ||
      la_paths_join(sock, sizeof sock, c->state_dir, LA_SOCKET_NAME) ||
      strcmp(sock, c->socket) != 0)
    return m;
  if (c->socket_mode & 0020) m |= 0010;
  if (c->socket_mode & 0002) m |= 0011;
  return m;
}

/* Says in the log that a mode was narrowed (or given the socket's search
 * bit). */
static void log_mode(const char *what, const char *path, unsigned was,
                     unsigned now) {
  fprintf(stderr,
          "loralpha serve: %s %s: mode %04o -> %04o (docs/security.md)\n", what,
          path, was, now);
}

/* The state directory (made, or its mode set) and the database files'
 * modes: nothing in them is for other users (docs/security.md). The
 * database may be a symlink; SQLite's -wal, -shm and -journal may not. */
static int secure_state(const la_serve_config *c, la_err *err) {
  static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
  unsigned mode = state_dir_mode(c), was = 0;
  char path[PATH_MAX + 16];
  int rc = la_paths_private_dir(c->state_dir, mode, &was);
  if (rc < 0)
    return la_errf(err, LA_EIO, "state dir %s: %s%s", c->state_dir,
                   strerror(errno),
                   errno == EPERM ? " (another user owns it)" : "");
  if (rc > 0) log_mode("state dir", c->state_dir, was, mode);
  if ((mode & 0070) && !c->socket_off && c->socket_gid >= 0 &&
      chown(c->state_dir, (uid_t)-1, (gid_t)c->socket_gid) != 0)
    return la_errf(err, LA_EIO, "state dir %s: cannot give it group %s: %s",
                   c->state_dir, c->socket_group, strerror(errno));
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
    snprintf(path, sizeof path, "%s%s", c->db, ext[i]);
    if ((rc = la_paths_private_file(path, i == 0, &was)) < 0)
      return la_errf(err, LA_EIO, "database %s: cannot make it private: %s",
                     path, strerror(errno));
    if (rc > 0) log_mode("database", path, was, was & 0700);
  }
  return 0;
}

/* The scheduler's per-user cap on running runs. */
static int user_cap(const char *user, void *ctx) {
  const la_user_limit *l = la_serve_config_limit(ctx, user);
  return l->max_workers;
}

/* Identities: the state directory, the daemon's token, the tokens file. */
static int start_auth(la_daemon *d, la_err *err) {
  const la_serve_config *c = &d->cfg;
  la_auth_opts ao = {c->state_dir, c->tokens_file[0] ? c->tokens_file : NULL,
                     (const char *const *)c->admins, c->n_admins,
                     c->read_own_only};
  int rc = secure_state(c, err);
  return rc ? rc : la_auth_new(&ao, &d->auth, err);
}

/* The Slurm executor, re-attached to the jobs a previous daemon left and
 * joined to the scheduler. */
static int start_slurm(la_daemon *d, la_err *err) {
  int rc = la_slurm_new(d->loop, d->store, &d->cfg.slurm, &d->slurm, err);
  if (rc) return rc;
  la_slurm_attach(d->slurm, d->sched, la_api_on_run_finished, d);
  la_slurm_set_packs(d->slurm, d->cfg.pack_max, d->cfg.pack_stacked,
                     d->cfg.max_run_memory);
  return 0;
}

/* Raises the soft limit on open files to what the connection budgets
 * need (both budgets, 64 refused connections lingering, 256 for the
 * database, listeners and workers' pipes), so the Unix socket's places
 * never fail for want of descriptors; an error if the hard limit is lower. */
static int raise_fd_limit(const la_serve_config *c, la_err *err) {
  rlim_t need = (rlim_t)(c->max_conns + c->max_unix_conns + 64 + 256);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) return 0;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
    return la_errf(
        err, LA_EINVAL,
        "max_connections: %ld TCP and %ld Unix connections need %llu "
        "open files, but the limit (RLIMIT_NOFILE) is %llu: lower "
        "them, or raise the limit (ulimit -n, LimitNOFILE=)",
        c->max_conns, c->max_unix_conns, (unsigned long long)need,
        (unsigned long long)rl.rlim_max);
  rl.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
    return la_errf(err, LA_EIO, "setrlimit(RLIMIT_NOFILE): %s",
                   strerror(errno));
  return 0;
}

/* The HTTP server on the Unix socket and/or TCP, answering by the API's
 * route table. */
static int start_http(la_daemon *d, la_err *err) {
  const la_serve_config *c = &d->cfg;
  la_http_limits lim;
  int rc;
  la_http_limits_default(&lim);
  lim.max_body_bytes = (size_t)c->max_body;
  lim.request_timeout_ms = (unsigned)c->request_timeout_s * 1000u;
  lim.max_connections = (unsigned)c->max_conns;
  lim.max_unix_connections = (unsigned)c->max_unix_conns;
  lim.max_per_peer = (unsigned)c->max_per_peer;
  lim.max_unauthenticated = (unsigned)c->max_unauth;
  lim.unauth_timeout_ms = (unsigned)c->unauth_timeout_s * 1000u;
  if ((rc = raise_fd_limit(c, err))) return rc;
  if ((rc = la_http_server_new(d->loop, &lim, la_api_handle, d, &d->http, err)))
    return rc;
  if (!c->socket_off &&
      (rc = la_http_server_listen_unix(d->http, c->socket, c->socket_mode,
                                       c->socket_gid, err)))
    return rc;
  if (!c->tcp_off &&
      (rc = la_http_server_listen_tcp(d->http, c->host, c->port, err)))
    return rc;
  if (!c->tcp_off)
    la_slurm_listening(d->slurm, c->host, la_http_server_port(d->http));
  if ((rc = write_listen_file(d, err))) return rc;
  if (c->port_file[0] && !c->tcp_off &&
      write_port_file(c->port_file, la_http_server_port(d->http)))
    return la_errf(err, LA_EIO, "cannot write %s: %s", c->port_file,
                   strerror(errno));
  return 0;
}

/* The growing list of la_store_local_workers' rows. */
typedef struct leftovers {
  la_leftover *w;
  size_t n, cap;
  int oom;
} leftovers;

static void add_leftover(int64_t run_id, int pid, uint64_t start_ticks,
                         const char *boot_id, void *ctx) {
  leftovers *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    la_leftover *w = realloc(l->w, cap * sizeof *w);
    if (w == NULL) {
      l->oom = 1;
      return;
    }
    l->w = w, l->cap = cap;
  }
  l->w[l->n].run_id = run_id;
  l->w[l->n].id.pid = pid;
  l->w[l->n].id.start_ticks = start_ticks;
  snprintf(l->w[l->n].id.boot_id, sizeof l->w[l->n].id.boot_id, "%s", boot_id);
  l->n++;
}

/* Ends the local workers a killed daemon left running (the store has their
 * PIDs and start times), before their runs are requeued. */
static int end_leftovers(la_daemon *d, la_err *err) {
  leftovers l = {NULL, 0, 0, 0};
  int ended;
  if (la_store_local_workers(d->store, add_leftover, &l, err)) {
    free(l.w);
    return LA_EIO;
  }
  if (l.oom) {
    free(l.w);
    return la_errf(err, LA_ENOMEM, "leftover workers: out of memory");
  }
  ended = la_proc_end_leftovers(l.w, l.n, LEFTOVER_TERM_MS, LEFTOVER_KILL_MS,
                                stderr);
  if (ended > 0)
    fprintf(stderr,
            "loralpha serve: stopped %d leftover worker%s of a previous "
            "daemon\n",
            ended, ended == 1 ? "" : "s");
  free(l.w);
  return 0;
}

/* A file of the npm package the dashboard's pages load (web/package.json):
 * without it the plots fail, so its absence is said at start. */
#define WEB_UPLOT "node_modules/uplot/dist/uPlot.iife.min.js"

/* Says on stderr where the dashboard is: its link (the TCP address, a
 * wildcard host given as the loopback one) and its directory; that it has
 * no uPlot (`npm ci` was not run in web/), or that there is none. */
static void log_dashboard(const la_daemon *d) {
  const la_serve_config *c = &d->cfg;
  const char *host = c->host;
  char probe[PATH_MAX + 64];
  if (d->web_root == NULL) {
    fprintf(stderr,
            "loralpha serve: no dashboard: no directory with an index.html "
            "(set --web DIR or \"web\" in the config)\n");
    return;
  }
  if (strcmp(host, "0.0.0.0") == 0) host = "127.0.0.1";
  if (strcmp(host, "::") == 0) host = "::1";
  if (c->tcp_off)
    fprintf(stderr,
            "loralpha serve: dashboard not served: no TCP listener "
            "(--listen none; files in %s)\n",
            d->web_root);
  else
    fprintf(stderr,
            "loralpha serve: dashboard at http://%s%s%s:%d/ (files in %s)\n",
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
            la_http_server_port(d->http), d->web_root);
  snprintf(probe, sizeof probe, "%.*s/%s", PATH_MAX, d->web_root, WEB_UPLOT);
  if (access(probe, R_OK) != 0)
    fprintf(stderr,
            "loralpha serve: warning: the dashboard's plots will fail: %s "
            "is missing (run `npm ci --omit=dev` in web/ of the source, then "
            "build or install again)\n",
            probe);
}

/* Opens the store, ends the workers and requeues the runs a previous daemon
 * left running, starts the scheduler and the server. Returns 0, an LA_E*
 * code after a message, or EXIT_DATABASE when the database is refused. */
static int start(la_daemon *d) {
  const la_serve_config *c = &d->cfg;
  la_err err;
  la_sched_opts so = {c->worker,
                      c->max_workers,
                      c->threads,
                      c->nice,
                      c->heartbeat_s * 1000u,
                      250,
                      c->window,
                      user_cap,
                      (void *)c,
                      !c->worker_process,
                      c->worker_max_runs,
                      c->worker_max_rss_growth,
                      (unsigned)c->worker_idle_s * 1000u,
                      c->pack_max,
                      c->pack_stacked,
                      c->max_run_memory};
  int requeued = 0, rc;
  if ((rc = start_auth(d, &err)) != 0)
    return fprintf(stderr, "loralpha serve: %s\n", err.msg), rc;
  if ((rc = la_store_open(c->db, &d->store, &err)) != 0)
    return fprintf(stderr, "loralpha serve: %s\n", err.msg),
           rc == LA_EINVAL ? EXIT_DATABASE : rc;
  if ((rc = la_store_adopt_sweeps(d->store, la_auth_daemon_user(d->auth),
                                  &err)) ||
      (rc = end_leftovers(d, &err)) ||
      (rc = la_store_requeue_running(d->store, &requeued, &err)) ||
      (rc = la_sched_new(d->loop, d->store, &so, &d->sched, &err)) ||
      (rc = start_slurm(d, &err)))
    return fprintf(stderr, "loralpha serve: %s\n", err.msg), rc;
  la_sched_set_memory_limit(d->sched,
                            c->max_run_memory + la_mem_slack(c->threads));
  la_store_set_fail_limit(d->store, c->max_same_failures);
  if (la_analyzer_new(d->loop, d->store, 1000, &d->analyzer))
    return fprintf(stderr, "loralpha serve: out of memory\n"), LA_ENOMEM;
  if (c->web[0] && realpath(c->web, d->web_path) != NULL)
    d->web_root = d->web_path;
  la_sched_set_finish_hook(d->sched, la_api_on_run_finished, d);
  d->started_at = la_time_unix();
  la_spec_limits_default(&d->limits);
  d->limits.max_runs = (size_t)c->max_runs;
  d->limits.max_run_memory = c->max_run_memory;
  d->limits.max_run_rows = (uint64_t)c->max_run_rows;
  d->limits.max_sweep_rows = (uint64_t)c->max_sweep_rows;
  d->limits.slurm = &c->slurm; /* what a spec may ask of Slurm */
  if ((rc = start_http(d, &err)) != 0)
    return fprintf(stderr, "loralpha serve: %s\n", err.msg), rc;
  fprintf(stderr, "loralpha serve: socket %s, ",
          c->socket_off ? "none" : c->socket);
  if (c->tcp_off)
    fprintf(stderr, "no TCP, ");
  else
    fprintf(stderr, "listening on http://%s:%d (token in %s), ", c->host,
            la_http_server_port(d->http), la_auth_token_path(d->auth));
  fprintf(stderr,
          "database %s (schema %d), %d workers x %d threads on %d cores, "
          "%d runs requeued\n",
          c->db, la_store_schema_version(d->store), c->max_workers, c->threads,
          c->cores, requeued);
  log_dashboard(d);
  return 0;
}

/* Frees what start() made; a clean stop removes STATE/listen. */
static void finish(la_daemon *d) {
  char path[PATH_MAX];
  if (d->listen_written &&
      la_paths_join(path, sizeof path, d->cfg.state_dir, LA_LISTEN_NAME) == 0)
    unlink(path);
  la_slurm_free(d->slurm);
  la_sched_free(d->sched);
  la_analyzer_free(d->analyzer);
  la_store_close(d->store);
  la_auth_free(d->auth);
  la_serve_config_free(&d->cfg);
}

int la_serve_main(int argc, char **argv) {
  la_daemon d;
  la_err err;
  int rc;
  memset(&d, 0, sizeof d);
  rc = la_serve_config_parse(argc, argv, &d.cfg, &err);
  if (rc == 0 && d.cfg.check_only) rc = la_serve_config_check(&d.cfg, &err);
  if (rc == 0 && d.cfg.check_only) rc = raise_fd_limit(&d.cfg, &err);
  if (rc == 1) return la_serve_config_free(&d.cfg), 0;
  if (rc) {
    fprintf(stderr, "loralpha serve: %s\n", err.msg);
    la_serve_config_free(&d.cfg);
    return EXIT_USAGE;
  }
  if (d.cfg.check_only) {
    la_serve_config_print(&d.cfg, stdout);
    fprintf(stderr, "loralpha serve: configuration is valid\n");
    la_serve_config_free(&d.cfg);
    return 0;
  }
  signal(SIGPIPE, SIG_IGN); /* a client or worker gone mid-write is an EPIPE */
  umask(077); /* what the daemon and its jobs create is theirs alone */
  d.loop = uv_default_loop();
  if ((rc = start(&d)) != 0) {
    if (d.http) la_http_server_close(d.http, on_http_closed, NULL);
    if (d.slurm) la_slurm_stop(d.slurm, on_http_closed, NULL);
    if (d.sched) la_sched_drain(d.sched, NULL, NULL);
    uv_run(d.loop, UV_RUN_DEFAULT);
    finish(&d);
    return rc == EXIT_DATABASE ? EXIT_DATABASE : 1;
  }
  uv_signal_init(d.loop, &d.sigterm);
  uv_signal_init(d.loop, &d.sigint);
  uv_signal_init(d.loop, &d.sighup);
  d.sigterm.data = d.sigint.data = d.sighup.data = &d;
  uv_signal_start(&d.sigterm, on_signal, SIGTERM);
  uv_signal_start(&d.sigint, on_signal, SIGINT);
  uv_signal_start(&d.sighup, on_sighup, SIGHUP);
  la_sched_kick(d.sched);
  uv_run(d.loop, UV_RUN_DEFAULT); /* ends when drained and analyses are done */
  finish(&d);
  uv_loop_close(d.loop);
  fprintf(stderr, "loralpha serve: stopped\n");
  return 0;
}
