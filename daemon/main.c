/*
 * main.c: the loralpha command. `loralpha serve` runs the sweep daemon;
 * every other command is the client (cli.c, docs/cli.md).
 *
 *   loralpha serve [--config FILE] [--check-config] [options]
 *                  [--executor LIST] [--slurm-* ...]
 *
 * (serve_config.h has the options; docs/daemon.md and docs/slurm.md explain
 * them.)
 */
#include "loralpha/analysis.h"
#include "loralpha/api.h"
#include "loralpha/cli.h"
#include "loralpha/cli_slurm.h"
#include "loralpha/http.h"
#include "loralpha/ingest.h"
#include "loralpha/paths.h"
#include "loralpha/sched.h"
#include "loralpha/serve_config.h"
#include "loralpha/slurm.h"
#include "loralpha/store.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2

/* Everything the running daemon owns. */
typedef struct daemon_ctx {
  uv_loop_t *loop;
  la_serve_config cfg;
  la_auth *auth;
  la_store *store;
  la_sched *sched;
  la_http_server *http;
  la_analyzer *analyzer;
  la_slurm *slurm;
  la_ingest ingest;
  char web_root[PATH_MAX];
  la_api api;
  uv_signal_t sigterm, sigint, sighup;
  int stopping;
} daemon_ctx;

/* ---- running ---- */

static void on_http_closed(void *arg) {
  (void)arg;
}

/* After the scheduler has drained: close what is left and let the loop end. */
static void on_drained(void *arg) {
  daemon_ctx *d = arg;
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
  uv_close((uv_handle_t *)&d->sighup, NULL);
}

/* SIGHUP: read the tokens file again. */
static void on_sighup(uv_signal_t *h, int signum) {
  daemon_ctx *d = h->data;
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

static int write_port_file(const char *path, int port) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return -1;
  fprintf(f, "%d\n", port);
  return fclose(f);
}

/* The scheduler's per-user cap on running runs. */
static int user_cap(const char *user, void *ctx) {
  const la_user_limit *l = la_serve_config_limit(ctx, user);
  return l->max_workers;
}

/* The API's per-user cap on queued runs. */
static long queued_cap(const char *user, void *ctx) {
  const la_user_limit *l = la_serve_config_limit(ctx, user);
  return l->max_queued_runs;
}

/* Identities: the state directory, the daemon's token, the tokens file. */
static int start_auth(daemon_ctx *d, la_err *err) {
  const la_serve_config *c = &d->cfg;
  la_auth_opts ao = {c->state_dir, c->tokens_file[0] ? c->tokens_file : NULL,
                     (const char *const *)c->admins, c->n_admins,
                     c->read_own_only};
  if (la_paths_mkdir(c->state_dir) != 0)
    return la_errf(err, LA_EIO, "state dir %s: %s", c->state_dir,
                   strerror(errno));
  return la_auth_new(&ao, &d->auth, err);
}

/* The Slurm executor, re-attached to the jobs a previous daemon left and
 * joined to the scheduler. */
static int start_slurm(daemon_ctx *d, la_err *err) {
  if (la_slurm_new(d->loop, d->store, &d->cfg.slurm, &d->slurm, err)) return -1;
  la_slurm_attach(d->slurm, d->sched, la_api_on_run_finished, &d->api);
  return 0;
}

/* The HTTP server on the Unix socket and/or TCP; the ingest route of
 * remote workers goes before the API. */
static int start_http(daemon_ctx *d, la_err *err) {
  const la_serve_config *c = &d->cfg;
  la_http_limits lim;
  la_http_limits_default(&lim);
  lim.max_body_bytes = (size_t)c->max_body;
  lim.request_timeout_ms = (unsigned)c->request_timeout_s * 1000u;
  d->ingest.api = &d->api, d->ingest.slurm = d->slurm;
  if (la_http_server_new(d->loop, &lim, la_ingest_route, &d->ingest, &d->http,
                         err))
    return -1;
  d->api.http = d->http;
  if (!c->socket_off &&
      la_http_server_listen_unix(d->http, c->socket, c->socket_mode,
                                 c->socket_gid, err))
    return -1;
  if (!c->tcp_off && la_http_server_listen_tcp(d->http, c->host, c->port, err))
    return -1;
  if (!c->tcp_off)
    la_slurm_listening(d->slurm, c->host, la_http_server_port(d->http));
  if (c->port_file[0] && !c->tcp_off &&
      write_port_file(c->port_file, la_http_server_port(d->http)))
    return la_errf(err, LA_EIO, "cannot write %s", c->port_file), -1;
  return 0;
}

/* Opens the store, requeues runs a previous daemon left running, starts
 * the scheduler and the server. */
static int start(daemon_ctx *d) {
  const la_serve_config *c = &d->cfg;
  la_err err;
  la_sched_opts so = {
      c->worker, c->max_workers, c->threads, c->nice,  c->heartbeat_s * 1000u,
      250,       c->window,      user_cap,   (void *)c};
  int requeued = 0;
  if (start_auth(d, &err) || la_store_open(c->db, &d->store, &err) ||
      la_store_adopt_sweeps(d->store, la_auth_daemon_user(d->auth), &err) ||
      la_store_requeue_running(d->store, &requeued, &err) ||
      la_sched_new(d->loop, d->store, &so, &d->sched, &err) ||
      start_slurm(d, &err))
    return fprintf(stderr, "loralpha serve: %s\n", err.msg), -1;
  if (la_analyzer_new(d->loop, d->store, 1000, &d->analyzer))
    return fprintf(stderr, "loralpha serve: out of memory\n"), -1;
  d->api.store = d->store, d->api.sched = d->sched,
  d->api.analyzer = d->analyzer;
  d->api.loop = d->loop;
  d->api.db_path = c->db;
  d->api.auth = d->auth;
  d->api.slurm = d->slurm;
  d->api.queued_cap = queued_cap, d->api.cap_ctx = (void *)c;
  if (c->web[0] && realpath(c->web, d->web_root) != NULL)
    d->api.web_root = d->web_root;
  la_sched_set_finish_hook(d->sched, la_api_on_run_finished, &d->api);
  d->api.started_at = la_time_unix();
  d->api.max_workers = c->max_workers;
  la_spec_limits_default(&d->api.limits);
  d->api.limits.max_runs = (size_t)c->max_runs;
  d->api.limits.slurm = &c->slurm; /* what a spec may ask of Slurm */
  if (start_http(d, &err))
    return fprintf(stderr, "loralpha serve: %s\n", err.msg), -1;
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
  return 0;
}

/* Frees what start() made. */
static void finish(daemon_ctx *d) {
  la_slurm_free(d->slurm);
  la_sched_free(d->sched);
  la_analyzer_free(d->analyzer);
  la_store_close(d->store);
  la_auth_free(d->auth);
  la_serve_config_free(&d->cfg);
}

static int serve(int argc, char **argv) {
  daemon_ctx d;
  la_err err;
  int rc;
  memset(&d, 0, sizeof d);
  rc = la_serve_config_parse(argc, argv, &d.cfg, &err);
  if (rc == 0 && d.cfg.check_only) rc = la_serve_config_check(&d.cfg, &err);
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
  d.loop = uv_default_loop();
  if (start(&d)) {
    if (d.http) la_http_server_close(d.http, on_http_closed, NULL);
    if (d.slurm) la_slurm_stop(d.slurm, on_http_closed, NULL);
    if (d.sched) la_sched_drain(d.sched, NULL, NULL);
    uv_run(d.loop, UV_RUN_DEFAULT);
    finish(&d);
    return 1;
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

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "serve") == 0)
    return serve(argc - 2, argv + 2);
  if (la_cli_slurm_is(argc, argv)) return la_cli_slurm_main(argc, argv);
  return la_cli_main(argc, argv); /* every other command is a client's */
}
