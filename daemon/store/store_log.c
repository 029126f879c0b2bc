/* store_log.c: command task runs' logs (store.h, la_store_put_run_log)
 * and what a sweep's done runs measured (la_store_measured), which tells a
 * trainer of one's own what its records leave out. */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

int la_store_put_run_log(la_store *st, int64_t run_id, int attempt,
                         uint64_t bytes, const char *text, la_err *err) {
  sqlite3_stmt *q = NULL;
  int rc;
  if (sqlite3_prepare_v2(st->db,
                         "INSERT OR REPLACE INTO run_logs (run_id, attempt, "
                         "bytes, log) VALUES (?, ?, ?, ?)",
                         -1, &q, NULL))
    return la_store_fail(st, err, "preparing a run log");
  sqlite3_bind_int64(q, 1, run_id);
  sqlite3_bind_int(q, 2, attempt);
  sqlite3_bind_int64(q, 3, (sqlite3_int64)bytes);
  sqlite3_bind_text(q, 4, text, -1, SQLITE_STATIC);
  rc = sqlite3_step(q) == SQLITE_DONE ? 0 : la_store_fail(st, err, "run log");
  sqlite3_finalize(q);
  return rc;
}

json_t *la_store_get_run_log(la_store *st, int64_t run_id, char *owner,
                             size_t size, int *rc, la_err *err) {
  sqlite3_stmt *q = NULL;
  json_t *o = NULL;
  int step;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT l.attempt, l.bytes, l.log, s.owner FROM "
                         "run_logs l JOIN runs r ON r.id = l.run_id JOIN "
                         "sweeps s ON s.id = r.sweep_id WHERE l.run_id = ?",
                         -1, &q, NULL)) {
    *rc = la_store_fail(st, err, "reading a run log");
    return NULL;
  }
  sqlite3_bind_int64(q, 1, run_id);
  if ((step = sqlite3_step(q)) == SQLITE_ROW) {
    const char *who = (const char *)sqlite3_column_text(q, 3);
    snprintf(owner, size, "%s", who ? who : "");
    o = json_pack("{s:I, s:i, s:I, s:s}", "run_id", (json_int_t)run_id,
                  "attempt", sqlite3_column_int(q, 0), "bytes",
                  (json_int_t)sqlite3_column_int64(q, 1), "log",
                  (const char *)sqlite3_column_text(q, 2));
    *rc = o ? 0 : la_errf(err, LA_ENOMEM, "out of memory");
  } else if (step != SQLITE_DONE) {
    *rc = la_store_fail(st, err, "reading a run log");
  } else { /* the same words whether the run exists or not */
    *rc = la_errf(err, LA_ENOTFOUND,
                  "run %lld: no log (no such run, or not one of the command "
                  "task that has ended)",
                  (long long)run_id);
  }
  sqlite3_finalize(q);
  return o;
}

json_t *la_store_measured(la_store *st, int64_t sweep_id, la_err *err) {
  sqlite3_stmt *q = NULL;
  json_t *o = NULL;
  if (sqlite3_prepare_v2(
          st->db,
          "SELECT COUNT(*), "
          "SUM(EXISTS (SELECT 1 FROM spectra WHERE run_id = r.id)), "
          "SUM(EXISTS (SELECT 1 FROM drift WHERE run_id = r.id AND "
          "tf_signal IS NOT NULL)), "
          "SUM(EXISTS (SELECT 1 FROM drift WHERE run_id = r.id AND "
          "signal IS NOT NULL)), "
          "SUM(EXISTS (SELECT 1 FROM sharpness WHERE run_id = r.id)) "
          "FROM runs r WHERE r.sweep_id = ? AND r.state = 'done'",
          -1, &q, NULL)) {
    la_store_fail(st, err, "reading what runs measured");
    return NULL;
  }
  sqlite3_bind_int64(q, 1, sweep_id);
  if (sqlite3_step(q) == SQLITE_ROW)
    o = json_pack("{s:I, s:I, s:I, s:I, s:I}", "done_runs",
                  (json_int_t)sqlite3_column_int64(q, 0), "spectra",
                  (json_int_t)sqlite3_column_int64(q, 1), "signal_drift",
                  (json_int_t)sqlite3_column_int64(q, 2), "target",
                  (json_int_t)sqlite3_column_int64(q, 3), "sharpness",
                  (json_int_t)sqlite3_column_int64(q, 4));
  else
    la_store_fail(st, err, "reading what runs measured");
  sqlite3_finalize(q);
  return o;
}
