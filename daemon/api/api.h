/*
 * api.h: the daemon's HTTP/JSON API (docs/api.md): one table of routes
 * over the daemon's subsystems (daemon.h), the Slurm workers' ingest route
 * included. Errors are {"error": {"code": ..., "message": ...}} with the
 * status that fits: 400 malformed JSON or query, 401 no identity, 403 not
 * the sweep's owner or an admin (or not the run's token), 404 unknown route
 * or id (or a sweep the caller may not read), 405 wrong method, 409
 * conflict, 413 body too large (the server), 415 not JSON, 422 invalid
 * sweep spec, 429 over a user limit, 500 database failure, 503 draining.
 */
#ifndef LORALPHA_API_H
#define LORALPHA_API_H

#include "daemon.h"
#include "net/http.h"

#include <stdint.h>

/* The la_http_handler of the daemon; ctx is its la_daemon. */
void la_api_handle(la_http_request *req, void *ctx);

/* The scheduler's (and the Slurm executor's) finish hook: when a sweep has
 * just finished, analyse it (stored for the API and the sqlite3 CLI). ctx
 * is the la_daemon. */
void la_api_on_run_finished(int64_t sweep_id, void *ctx);

#endif
