/*
 * run_read.h: GET /v1/runs/{id}, read off the event loop, bounded.
 *
 * la_run_read reads one run on libuv's thread pool through its own
 * read-only SQLite connection (WAL: it never blocks the daemon's writes or
 * its loop), and calls back on the loop thread. What it holds is bounded
 * whatever the run's length:
 *
 * - with points = N (2..LA_CURVE_POINTS_MAX), each curve keeps at most N
 *   points: the first, the last, and the lowest and highest of (N - 2) / 2
 *   equal step buckets in between, found in one ordered pass over the
 *   curve's primary key (no sort, memory for two rows); spectra and
 *   sharpness keep the rows of at most N steps;
 * - without points, one page: the rows with step > after, up to a step
 *   chosen so that no part passes its page size (LA_RUN_PAGE_ROWS curve and
 *   sharpness rows, LA_RUN_PAGE_SPECTRA spectra rows); "next" is that step
 *   for ?after=, or null on the last page.
 */
#ifndef LORALPHA_RUN_READ_H
#define LORALPHA_RUN_READ_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

#define LA_RUN_PAGE_ROWS 10000
#define LA_RUN_PAGE_SPECTRA 2000

/* What to read: points > 0 downsamples; else the page after step `after`
 * (INT64_MIN: from the start). */
typedef struct la_run_query {
  int64_t run_id;
  int points;
  int64_t after;
} la_run_query;

/* json (len bytes): the run object, serialised on the pool (borrowed during
 * the call), and owner: its sweep's owner, to check on the loop; or json
 * NULL with an HTTP status (404: no such run) and a message. */
typedef void (*la_run_read_cb)(const char *json, size_t len, const char *owner,
                               int status, const char *msg, void *arg);

/* Starts the read; cb is called exactly once on the loop thread. */
void la_run_read(uv_loop_t *loop, const char *db_path, const la_run_query *q,
                 la_run_read_cb cb, void *arg);

/* Appends the curve kind ("train" or "eval") of run_id, at most points
 * points chosen as above, to the "step" and "loss" arrays of part; on db, a
 * connection of the calling thread. Returns 0, or LA_EIO when the database
 * failed (its message in sqlite3_errmsg). */
int la_run_read_curve(sqlite3 *db, int64_t run_id, const char *kind, int points,
                      json_t *part);

/* Every run of sweep_id as GET /v1/sweeps/{id}/runs shows them, in id
 * order (for the report, on the thread pool). New array, or NULL when the
 * database failed. */
json_t *la_run_read_sweep_runs(sqlite3 *db, int64_t sweep_id);

#endif
