/*
 * daemon.h: everything a running `loralpha serve` owns, in one place.
 * serve.c builds it (settings, identities, store, scheduler, Slurm
 * executor, analyzer, HTTP server, in that order), wires the subsystems to
 * one another, and frees it; the API's routes (api/api.c) read it.
 */
#ifndef LORALPHA_DAEMON_H
#define LORALPHA_DAEMON_H

#include "analysis/analysis.h"
#include "loralpha/spec.h"
#include "loralpha/store.h"
#include "net/auth.h"
#include "net/http.h"
#include "sched/sched.h"
#include "serve_config.h"
#include "slurm/slurm.h"

#include <limits.h>
#include <stdint.h>
#include <uv.h>

typedef struct la_daemon {
  uv_loop_t *loop;
  la_serve_config cfg; /* fixed at start (SIGHUP reloads nothing) */
  la_auth *auth;       /* identities and rights */
  la_store *store;     /* the database, on the loop thread */
  la_sched *sched;     /* local workers */
  la_slurm *slurm;     /* the Slurm executor (one that submits nothing when
                          the config names no Slurm) */
  la_analyzer *analyzer;
  la_http_server *http;
  la_spec_limits limits; /* what a sweep spec may ask, from cfg */
  const char *web_root;  /* the dashboard's files (web_path), or NULL */
  char web_path[PATH_MAX];
  double started_at; /* Unix time */
  int draining;      /* stopping: new sweeps are refused with 503 */
  uint64_t sweeps_created;
  uint64_t unauthorized; /* requests answered 401 */
  /* serve.c's own */
  uv_signal_t sigterm, sigint, sighup;
  int stopping;
  int listen_written; /* STATE/listen is this daemon's */
} la_daemon;

#endif
