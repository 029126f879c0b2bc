/*
 * api.h: the daemon's HTTP/JSON API (docs/api.md): routes over the store
 * and the scheduler. Errors are {"error": {"code": ..., "message": ...}}
 * with the status that fits: 400 malformed JSON or query, 401 no identity,
 * 403 not the sweep's owner or an admin, 404 unknown route or id (or a
 * sweep the caller may not read), 405 wrong method, 409 conflict, 413 body
 * too large (the server), 415 not JSON, 422 invalid sweep spec, 429 over a
 * user limit, 500 database failure.
 */
#ifndef LORALPHA_API_H
#define LORALPHA_API_H

#include "loralpha/analysis.h"
#include "loralpha/auth.h"
#include "loralpha/http.h"
#include "loralpha/sched.h"
#include "loralpha/slurm.h"
#include "loralpha/spec.h"
#include "loralpha/store.h"

#include <stdint.h>

typedef struct la_api {
  la_store *store;       /* borrowed */
  la_sched *sched;       /* borrowed */
  la_http_server *http;  /* borrowed, for its counters */
  la_analyzer *analyzer; /* borrowed */
  uv_loop_t *loop;       /* borrowed */
  const char *db_path;   /* borrowed: for read-only connections off the loop */
  const char *web_root;  /* borrowed: the dashboard's files (NULL: none) */
  la_auth *auth;         /* borrowed: identities and rights */
  la_slurm *slurm;       /* borrowed: the Slurm executor (NULL: none) */
  int slurm_default;     /* 1: sweeps without "executor" go to Slurm */
  /* most queued runs user may have (< 0: no limit), or NULL */
  long (*queued_cap)(const char *user, void *ctx);
  void *cap_ctx;
  la_spec_limits limits;
  double started_at; /* Unix time */
  int max_workers;
  int draining; /* 1: new sweeps are refused with 503 */
  uint64_t sweeps_created;
  uint64_t unauthorized; /* requests answered 401 */
} la_api;

/* A positive decimal id of at most 18 digits (a path segment), or -1 when s
 * is not one (an id, not an error code). */
int64_t la_api_parse_id(const char *s);

/* The la_http_handler of the daemon; ctx is an la_api. */
void la_api_handle(la_http_request *req, void *ctx);

/* The scheduler's finish hook: when a sweep has just finished, analyse it
 * (stored for the API and the sqlite3 CLI). ctx is an la_api. */
void la_api_on_run_finished(int64_t sweep_id, void *ctx);

#endif
