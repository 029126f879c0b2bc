/* curves.c: downsampled loss curves (see curves.h). */
#include "analysis/curves.h"

#include "loralpha/common.h"
#include "loralpha/json_text.h"
#include "store/run_read.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

size_t la_downsample(const double *y, size_t n, size_t m, size_t *keep) {
  size_t k = 0, buckets, inner;
  if (m < 2) m = 2;
  if (n <= m) {
    for (size_t i = 0; i < n; i++)
      keep[i] = i;
    return n;
  }
  buckets = (m - 2) / 2, inner = n - 2;
  keep[k++] = 0;
  for (size_t b = 0; b < buckets; b++) {
    size_t lo = 1 + b * inner / buckets, hi = 1 + (b + 1) * inner / buckets;
    size_t imin = lo, imax = lo;
    for (size_t i = lo; i < hi; i++) {
      if (!isnan(y[imin]) && (isnan(y[i]) || y[i] < y[imin]))
        imin = i; /* a NaN (a diverged point) is kept as the bucket's low */
      if (y[i] > y[imax]) imax = i;
    }
    if (hi <= lo) continue;
    keep[k++] = imin < imax ? imin : imax;
    if (imin != imax) keep[k++] = imin < imax ? imax : imin;
  }
  keep[k++] = n - 1;
  return k;
}

/* ---- GET /v1/sweeps/{id}/curves on the pool ---- */

typedef struct curves_job {
  uv_work_t req;
  char *db_path;
  int64_t sweep_id;
  la_curve_query q;
  char *result; /* the answer, serialised */
  int status;
  char msg[256];
  la_curves_cb cb;
  void *arg;
} curves_job;

/* The runs of a page, with only the filters set (fixed parameter
 * numbers); each run's curve is then read on its own, downsampled. */
static void curves_sql(const la_curve_query *q, char *sql, size_t size) {
  snprintf(sql, size,
           "SELECT id, rank, alpha, lr, seed_index, state FROM runs WHERE "
           "sweep_id = ?1 AND id > ?6%s%s%s ORDER BY id LIMIT %d",
           q->rank > 0 ? " AND rank = ?3" : "",
           isnan(q->alpha) ? "" : " AND abs(alpha - ?4) <= 1e-12 * abs(?4)",
           isnan(q->lr) ? "" : " AND abs(lr - ?5) <= 1e-12 * abs(?5)",
           la_curves_page_runs(q->points));
}

int la_curves_page_runs(int points) {
  int n = LA_CURVES_MAX_POINTS / (points > 2 ? points : 2);
  return n < LA_CURVES_MAX_RUNS ? n : LA_CURVES_MAX_RUNS;
}

/* Column i as a JSON number, or null when it is NULL, not a number or not
 * finite (a value edited into the database by hand). */
static json_t *num_col(sqlite3_stmt *s, int i) {
  int t = sqlite3_column_type(s, i);
  double x = sqlite3_column_double(s, i);
  return (t == SQLITE_FLOAT || t == SQLITE_INTEGER) && isfinite(x)
             ? json_real(x)
             : json_null();
}

/* A new run entry from the current row. */
static json_t *run_entry(sqlite3_stmt *s) {
  const char *state = (const char *)sqlite3_column_text(s, 5);
  return json_pack("{s:I, s:i, s:o, s:o, s:i, s:s, s:[], s:[]}", "id",
                   (json_int_t)sqlite3_column_int64(s, 0), "rank",
                   sqlite3_column_int(s, 1), "alpha", num_col(s, 2), "lr",
                   num_col(s, 3), "seed_index", sqlite3_column_int(s, 4),
                   "state", state ? state : "?", "step", "loss");
}

/* Reads the page's runs into runs, each with its curve downsampled in one
 * ordered pass (never the whole curve in memory); *last is the page's last
 * run id. 0, or LA_EIO when the database failed. */
static int read_curves(sqlite3 *db, curves_job *j, json_t *runs,
                       int64_t *last) {
  sqlite3_stmt *s = NULL;
  char sql[1024];
  int rc = 0;
  curves_sql(&j->q, sql, sizeof sql);
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return LA_EIO;
  sqlite3_bind_int64(s, 1, j->sweep_id);
  if (j->q.rank > 0) sqlite3_bind_int(s, 3, j->q.rank);
  if (!isnan(j->q.alpha)) sqlite3_bind_double(s, 4, j->q.alpha);
  if (!isnan(j->q.lr)) sqlite3_bind_double(s, 5, j->q.lr);
  sqlite3_bind_int64(s, 6, j->q.after);
  while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
    json_t *cur = run_entry(s);
    *last = sqlite3_column_int64(s, 0);
    json_array_append_new(runs, cur);
    rc = la_run_read_curve(db, *last, j->q.kind, j->q.points, cur);
  }
  sqlite3_finalize(s);
  return rc;
}

static void curves_work(uv_work_t *req) {
  curves_job *j = req->data;
  sqlite3 *db = NULL;
  json_t *runs = json_array(), *page;
  int64_t last = 0;
  int rc = LA_EIO;
  if (sqlite3_open_v2(j->db_path, &db, SQLITE_OPEN_READONLY, NULL) ==
          SQLITE_OK &&
      sqlite3_busy_timeout(db, 5000) == SQLITE_OK) {
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot */
    rc = read_curves(db, j, runs, &last);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  }
  if (rc) {
    j->status = 500;
    snprintf(j->msg, sizeof j->msg, "database: %s",
             db ? sqlite3_errmsg(db) : "cannot open");
    json_decref(runs);
    sqlite3_close(db);
    return;
  }
  sqlite3_close(db);
  page = json_pack("{s:s, s:i, s:o, s:o}", "kind", j->q.kind, "points",
                   j->q.points, "runs", runs, "next",
                   json_array_size(runs) ==
                           (size_t)la_curves_page_runs(j->q.points)
                       ? json_integer(last)
                       : json_null());
  j->result = page ? la_json_text(page) : NULL;
  json_decref(page);
}

static void curves_done(uv_work_t *req, int status) {
  curves_job *j = req->data;
  if (status != 0 && j->status == 0)
    j->status = 500, snprintf(j->msg, sizeof j->msg, "cancelled");
  if (j->status == 0 && j->result == NULL)
    j->status = 500, snprintf(j->msg, sizeof j->msg, "out of memory");
  if (j->status)
    j->cb(NULL, 0, j->status, j->msg, j->arg);
  else
    j->cb(j->result, strlen(j->result), 200, NULL, j->arg);
  free(j->result);
  free(j->db_path);
  free(j);
}

void la_curves_get(uv_loop_t *loop, const char *db_path, int64_t sweep_id,
                   const la_curve_query *q, la_curves_cb cb, void *arg) {
  curves_job *j = calloc(1, sizeof *j);
  if (j == NULL || (j->db_path = strdup(db_path)) == NULL) {
    free(j);
    return cb(NULL, 0, 500, "out of memory", arg);
  }
  j->req.data = j, j->sweep_id = sweep_id, j->q = *q, j->cb = cb, j->arg = arg;
  if (uv_queue_work(loop, &j->req, curves_work, curves_done)) {
    free(j->db_path), free(j);
    cb(NULL, 0, 500, "cannot queue work", arg);
  }
}
