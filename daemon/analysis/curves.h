/*
 * curves.h: loss curves for plots, downsampled, read off the event loop.
 *
 * la_downsample keeps at most m points of a curve that still show its
 * shape: the first and the last point, and in between the lowest and the
 * highest point of each of (m - 2) / 2 equal buckets, in step order (so a
 * spike survives where averaging would hide it).
 *
 * la_curves_get answers GET /v1/sweeps/{id}/curves: it reads one page of
 * the matching runs on libuv's thread pool through its own read-only SQLite
 * connection (WAL: it never blocks the daemon's writes), each run's curve
 * downsampled while it is read (run_read.h), and calls back on the loop
 * thread.
 */
#ifndef LORALPHA_CURVES_H
#define LORALPHA_CURVES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define LA_CURVE_POINTS_DEFAULT 200
#define LA_CURVE_POINTS_MAX 2000
#define LA_CURVES_MAX_RUNS 10000
/* most points in one answer of GET /v1/sweeps/{id}/curves: a page holds
 * la_curves_page_runs(points) runs */
#define LA_CURVES_MAX_POINTS 400000

/* Indices (ascending) of the points of y (n values) to keep, at most m
 * (m >= 2); returns how many were written to keep (n when n <= m). */
size_t la_downsample(const double *y, size_t n, size_t m, size_t *keep);

/* What to read: kind "eval" or "train", at most `points` per curve, and
 * optional filters (rank 0 / NaN: any). */
typedef struct la_curve_query {
  char kind[8];
  int points;
  int rank;
  double alpha, lr;
  int64_t after; /* the page: runs with a larger id (0: from the first) */
} la_curve_query;

/* Runs in one page of the curves route: LA_CURVES_MAX_POINTS / points, at
 * most LA_CURVES_MAX_RUNS. */
int la_curves_page_runs(int points);

/* json (len bytes, serialised on the pool; borrowed during the call):
 * {"kind", "points", "runs": [{"id", "rank", "alpha", "lr", "seed_index",
 * "state", "step": [...], "loss": [...]}], "next": the last run id when
 * another page may follow, else null}, or NULL with an HTTP status and a
 * message. */
typedef void (*la_curves_cb)(const char *json, size_t len, int status,
                             const char *msg, void *arg);

/* Starts the read; cb is called exactly once on the loop thread. */
void la_curves_get(uv_loop_t *loop, const char *db_path, int64_t sweep_id,
                   const la_curve_query *q, la_curves_cb cb, void *arg);

#endif
