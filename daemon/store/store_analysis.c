/* store_analysis.c: the analysis' input from, and output to, the store
 * (see store.h). Not on a hot path: statements are prepared per call. */
#include "analysis/claims.h"
#include "analysis/fit.h"
#include "loralpha/json_text.h"
#include "store/store_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Prepares sql; on failure fills err. */
static sqlite3_stmt *prepare(la_store *st, const char *sql, la_err *err) {
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
    la_store_fail(st, err, "preparing an analysis query");
    return NULL;
  }
  return q;
}

int la_store_analysis_state(la_store *st, int64_t sweep_id, int64_t *finished,
                            double *last_finish, char **cached, la_err *err) {
  sqlite3_stmt *q =
      prepare(st,
              "SELECT (SELECT COUNT(*) FROM sweeps WHERE id = ?1), "
              "COUNT(*), MAX(finished_at) FROM runs WHERE "
              "sweep_id = ?1 AND state IN ('done', 'diverged')",
              err);
  int exists = 0;
  *cached = NULL;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep_id);
  if (sqlite3_step(q) == SQLITE_ROW) {
    exists = sqlite3_column_int(q, 0);
    *finished = sqlite3_column_int64(q, 1);
    *last_finish = sqlite3_column_type(q, 2) == SQLITE_NULL
                       ? 0
                       : sqlite3_column_double(q, 2);
  }
  sqlite3_finalize(q);
  if (!exists)
    return la_errf(err, LA_ENOTFOUND, "sweep %lld not found",
                   (long long)sweep_id);
  q = prepare(st,
              "SELECT result FROM analyses WHERE sweep_id = ? AND finished = ? "
              "AND last_finish IS ?",
              err);
  if (q == NULL) return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep_id);
  sqlite3_bind_int64(q, 2, *finished);
  if (*finished > 0) sqlite3_bind_double(q, 3, *last_finish);
  if (sqlite3_step(q) == SQLITE_ROW)
    *cached = strdup((const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  return 0;
}

int la_store_sweep_shape(la_store *st, int64_t sweep_id, int *steps,
                         double *scale_power, char *scaling, size_t size,
                         la_err *err) {
  sqlite3_stmt *q = prepare(st, "SELECT spec FROM sweeps WHERE id = ?", err);
  json_t *spec = NULL;
  const char *sc;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep_id);
  if (sqlite3_step(q) == SQLITE_ROW)
    spec = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
  sqlite3_finalize(q);
  if (spec == NULL)
    return la_errf(err, LA_ENOTFOUND, "sweep %lld not found",
                   (long long)sweep_id);
  *steps = (int)json_integer_value(json_object_get(spec, "steps"));
  sc = json_string_value(json_object_get(spec, "scaling"));
  snprintf(scaling, size, "%s", sc ? sc : "peft");
  *scale_power = strcmp(scaling, "rslora") == 0 ? 0.5 : 1.0;
  json_decref(spec);
  return 0;
}

/* Column i as a finite number into *x; 0, or LA_EINVAL (why filled) when it
 * is NULL, text, a blob or not finite. */
static int finite_col(sqlite3_stmt *q, int i, double *x, const char *what,
                      char *why, size_t size) {
  int t = sqlite3_column_type(q, i);
  if (t == SQLITE_NULL)
    return snprintf(why, size, "%s is unknown", what), LA_EINVAL;
  if (t != SQLITE_FLOAT && t != SQLITE_INTEGER)
    return snprintf(why, size, "%s is not a number", what), LA_EINVAL;
  *x = sqlite3_column_double(q, i);
  if (!isfinite(*x))
    return snprintf(why, size, "%s %g is not finite", what, *x), LA_EINVAL;
  return 0;
}

/* The loss of one row of the points query at a checkpoint into pt; 0 to
 * keep, LA_EINVAL to exclude the run (why filled), 1 to leave it out
 * silently (a diverged run without a loss there). A diverged run is +Inf. */
static int point_loss(sqlite3_stmt *q, int step, int full, la_fit_point *pt,
                      char *why, size_t size) {
  int diverged =
      strcmp((const char *)sqlite3_column_text(q, 4), "diverged") == 0;
  int64_t done =
      sqlite3_column_type(q, 5) == SQLITE_NULL ? 0 : sqlite3_column_int64(q, 5);
  int col = full ? 6 : 7;
  if (sqlite3_column_int(q, 0) <= 0)
    return snprintf(why, size, "rank is not positive"), LA_EINVAL;
  if (finite_col(q, 1, &pt->lr, "lr", why, size) ||
      finite_col(q, 2, &pt->alpha, "alpha", why, size))
    return LA_EINVAL;
  if (!(pt->lr > 0) || !(pt->alpha > 0))
    return snprintf(why, size, "lr or alpha is not positive"), LA_EINVAL;
  if (diverged && (full || done < step)) {
    pt->loss = INFINITY;
    return 0;
  }
  if (diverged && sqlite3_column_type(q, col) == SQLITE_NULL)
    return 1; /* the worker's null: a loss that was not finite */
  if (finite_col(q, col, &pt->loss,
                 full ? "the final eval loss" : "the eval loss", why, size))
    return LA_EINVAL;
  if (pt->loss < 0)
    return snprintf(why, size, "%s %g is negative",
                    full ? "the final eval loss" : "the eval loss", pt->loss),
           LA_EINVAL;
  return 0;
}

/* Appends {"run_id", "step", "reason"} to excluded. */
static void note_excluded(json_t *excluded, int64_t run, int step,
                          const char *why) {
  json_array_append_new(excluded,
                        json_pack("{s:I, s:i, s:s}", "run_id", (json_int_t)run,
                                  "step", step, "reason", why));
}

long la_store_fit_points(la_store *st, int64_t sweep_id, int step, int full,
                         la_fit_point **pts, json_t *excluded, la_err *err) {
  sqlite3_stmt *q = prepare(
      st,
      "SELECT r.rank, r.lr, r.alpha, r.seed_index, r.state, r.steps_done, "
      "r.final_eval_loss, (SELECT c.loss FROM curve c WHERE c.run_id = r.id "
      "AND c.kind = 'eval' AND c.step <= ?2 ORDER BY c.step DESC LIMIT 1), "
      "r.id FROM runs r WHERE r.sweep_id = ?1 AND r.state IN ('done', "
      "'diverged') ORDER BY r.id",
      err);
  size_t n = 0, cap = 256;
  la_fit_point *p = malloc(cap * sizeof *p);
  char why[128];
  if (q == NULL || p == NULL) {
    sqlite3_finalize(q);
    free(p);
    return q ? la_errf(err, LA_ENOMEM, "analysis: out of memory") : LA_EIO;
  }
  sqlite3_bind_int64(q, 1, sweep_id);
  sqlite3_bind_int(q, 2, step);
  while (sqlite3_step(q) == SQLITE_ROW) {
    la_fit_point pt = {sqlite3_column_int(q, 0), 0, 0, sqlite3_column_int(q, 3),
                       0};
    int rc = point_loss(q, step, full, &pt, why, sizeof why);
    if (rc < 0) note_excluded(excluded, sqlite3_column_int64(q, 8), step, why);
    if (rc) continue;
    if (n == cap) {
      la_fit_point *bigger = realloc(p, 2 * cap * sizeof *p);
      if (bigger == NULL) break;
      p = bigger, cap *= 2;
    }
    p[n++] = pt;
  }
  sqlite3_finalize(q);
  *pts = p;
  return (long)n;
}

json_t *la_store_drift_table(la_store *st, int64_t sweep_id, la_err *err) {
  sqlite3_stmt *q = prepare(
      st,
      "SELECT r.rank, r.lr, r.alpha, COUNT(DISTINCT r.id), "
      "AVG(r.final_eval_loss), AVG(d.drift_ratio), AVG(d.signal), "
      "AVG(d.mech_ratio), AVG(d.tf_signal), AVG(d.a_drift) FROM runs r JOIN "
      "drift d ON d.run_id = r.id AND d.step = (SELECT MAX(step) FROM drift "
      "WHERE run_id = r.id) WHERE r.sweep_id = ? AND r.state = 'done' "
      /* runs with a loss the analysis excludes are left out here too */
      "AND typeof(r.final_eval_loss) IN ('real', 'integer') AND "
      "r.final_eval_loss BETWEEN 0 AND 1e308 GROUP BY r.rank, r.lr, r.alpha "
      "ORDER BY r.rank, r.lr, r.alpha",
      err);
  static const char *const keys[] = {
      "rank",        "lr",     "alpha",      "seeds",     "loss",
      "drift_ratio", "signal", "mech_ratio", "tf_signal", "a_drift"};
  json_t *arr;
  if (q == NULL) return NULL;
  arr = json_array();
  sqlite3_bind_int64(q, 1, sweep_id);
  while (sqlite3_step(q) == SQLITE_ROW) {
    json_t *row = json_object();
    for (int i = 0; i < 10; i++) {
      double x = sqlite3_column_double(q, i);
      json_t *v = sqlite3_column_type(q, i) == SQLITE_NULL ? json_null()
                  : (i == 0 || i == 3)
                      ? json_integer(sqlite3_column_int64(q, i))
                  : isfinite(x) ? json_real(x)
                                : json_null();
      json_object_set_new(row, keys[i], v);
    }
    json_array_append_new(arr, row);
  }
  sqlite3_finalize(q);
  return arr;
}

/* Binds obj[key] to parameter i: number, boolean (0/1), string or NULL. */
static void bind_field(sqlite3_stmt *q, int i, const json_t *obj,
                       const char *key) {
  const json_t *v = json_object_get(obj, key);
  if (json_is_integer(v))
    sqlite3_bind_int64(q, i, json_integer_value(v));
  else if (json_is_real(v) && isfinite(json_real_value(v)))
    sqlite3_bind_double(q, i, json_real_value(v));
  else if (json_is_boolean(v))
    sqlite3_bind_int(q, i, json_is_true(v));
  else if (json_is_string(v))
    sqlite3_bind_text(q, i, json_string_value(v), -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(q, i);
}

/* Inserts every object of arr with the columns named in keys (after the
 * sweep, fraction and step bound first as 1, 2, 3), and then `now` when
 * now > 0. */
static int insert_rows(la_store *st, const char *sql, const json_t *arr,
                       const char *const *keys, int nkeys, int64_t sweep,
                       double fraction, int64_t step, double now) {
  sqlite3_stmt *q = NULL;
  size_t i;
  json_t *row;
  int rc = 0;
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) return LA_EIO;
  json_array_foreach(arr, i, row) {
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    sqlite3_bind_int64(q, 1, sweep);
    sqlite3_bind_double(q, 2, fraction);
    sqlite3_bind_int64(q, 3, step);
    for (int k = 0; k < nkeys; k++)
      bind_field(q, 4 + k, row, keys[k]);
    if (now > 0) sqlite3_bind_double(q, 4 + nkeys, now);
    if (sqlite3_step(q) != SQLITE_DONE) {
      rc = LA_EIO;
      break;
    }
  }
  sqlite3_finalize(q);
  return rc;
}

/* The rows of one checkpoint. */
static int save_checkpoint(la_store *st, int64_t sweep, const json_t *ck,
                           double now) {
  static const char *const star[] = {
      "rank",           "lr",      "alpha_grid", "alpha",
      "loss",           "at_edge", "ci_lo",      "ci_hi",
      "ill_determined", "weight",  "seeds",      "flat_lo",
      "flat_hi",        "lo",      "hi",         "flat"};
  static const char *const fit[] = {
      "lr",           "method",       "c",     "c_lo",   "c_hi",       "p",
      "p_lo",         "p_hi",         "r2",    "n_used", "n_excluded", "poor",
      "scatter_log2", "insufficient", "reason"};
  static const char *const reg[] = {"rank", "lr",        "rule",  "alpha",
                                    "loss", "best_loss", "regret"};
  double f = json_number_value(json_object_get(ck, "fraction"));
  int64_t step = json_integer_value(json_object_get(ck, "step"));
  int rc = insert_rows(
      st,
      "INSERT INTO alpha_star (sweep_id, fraction, step, rank, lr, "
      "alpha_grid, alpha, loss, at_edge, ci_lo, ci_hi, ill_determined, "
      "weight, seeds, flat_lo, flat_hi, lo, hi, flat) VALUES "
      "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,coalesce(?, 0))",
      json_object_get(ck, "alpha_star"), star, 16, sweep, f, step, 0);
  if (rc == 0)
    rc = insert_rows(
        st,
        "INSERT INTO fits (sweep_id, fraction, step, lr, method, c, c_lo, "
        "c_hi, p, p_lo, p_hi, r2, n, n_excluded, poor, scatter_log2, "
        "insufficient, reason, computed_at) VALUES "
        "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,coalesce(?, 0),?,?)",
        json_object_get(ck, "fits"), fit, 15, sweep, f, step, now);
  if (rc == 0)
    rc = insert_rows(
        st,
        "INSERT INTO regret (sweep_id, fraction, step, rank, lr, rule, "
        "alpha, loss, best_loss, regret) VALUES (?,?,?,?,?,?,?,?,?,?)",
        json_object_get(ck, "regret"), reg, 7, sweep, f, step, 0);
  return rc;
}

/* Deletes the sweep's previous analysis rows. */
static int delete_analysis(la_store *st, int64_t sweep) {
  static const char *const sql[] = {"DELETE FROM alpha_star WHERE sweep_id = ?",
                                    "DELETE FROM fits WHERE sweep_id = ?",
                                    "DELETE FROM regret WHERE sweep_id = ?",
                                    "DELETE FROM analyses WHERE sweep_id = ?"};
  for (int i = 0; i < 4; i++) {
    sqlite3_stmt *q = NULL;
    int ok = sqlite3_prepare_v2(st->db, sql[i], -1, &q, NULL) == SQLITE_OK;
    if (ok) {
      sqlite3_bind_int64(q, 1, sweep);
      ok = sqlite3_step(q) == SQLITE_DONE;
    }
    sqlite3_finalize(q);
    if (!ok) return LA_EIO;
  }
  return 0;
}

/* The analyses row: the JSON and the state it was computed from. */
static int insert_result(la_store *st, int64_t sweep, const json_t *result,
                         int64_t finished, double last_finish, double now) {
  sqlite3_stmt *q = NULL;
  char *text = la_json_text(result);
  int ok = text != NULL &&
           sqlite3_prepare_v2(
               st->db,
               "INSERT INTO analyses (sweep_id, finished, last_finish, "
               "computed_at, result) VALUES (?, ?, ?, ?, ?)",
               -1, &q, NULL) == SQLITE_OK;
  if (ok) {
    sqlite3_bind_int64(q, 1, sweep);
    sqlite3_bind_int64(q, 2, finished);
    if (finished > 0) sqlite3_bind_double(q, 3, last_finish);
    sqlite3_bind_double(q, 4, now);
    sqlite3_bind_text(q, 5, text, -1, SQLITE_TRANSIENT);
    ok = sqlite3_step(q) == SQLITE_DONE;
  }
  sqlite3_finalize(q);
  free(text);
  return ok ? 0 : LA_EIO;
}

int la_store_save_analysis(la_store *st, int64_t sweep_id, const json_t *result,
                           int64_t finished, double last_finish, la_err *err) {
  double now = la_store_now();
  size_t i;
  json_t *ck;
  char state[16];
  int rc;
  if (la_store_sweep_state(st, sweep_id, state, sizeof state) != 0)
    return la_errf(err, LA_ENOTFOUND,
                   "sweep %lld was deleted: its analysis is not stored",
                   (long long)sweep_id);
  rc = la_store_begin(st);
  if (rc == 0) rc = delete_analysis(st, sweep_id);
  json_array_foreach(json_object_get(result, "checkpoints"), i, ck) {
    if (rc == 0) rc = save_checkpoint(st, sweep_id, ck, now);
  }
  if (rc == 0)
    rc = insert_result(st, sweep_id, result, finished, last_finish, now);
  if (rc == 0) rc = la_store_commit(st);
  if (rc) {
    la_store_fail(st, err, "storing an analysis");
    la_store_rollback(st);
    return LA_EIO;
  }
  return 0;
}

/* A column as a double, NaN when NULL. */
static double col_or_nan(sqlite3_stmt *q, int i) {
  return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN
                                                  : sqlite3_column_double(q, i);
}

long la_store_claim_runs(la_store *st, int64_t sweep_id,
                         struct la_claim_run **out, la_err *err) {
  sqlite3_stmt *q = prepare(
      st,
      "SELECT r.rank, r.lr, r.alpha, r.seed_index, r.final_eval_loss, "
      "c.run_id IS NOT NULL, c.lora, c.full, c.lora_converged IS 0, "
      "c.full_converged IS 0, "
      "(SELECT AVG(d.drift_ratio) FROM drift d WHERE d.run_id = r.id AND "
      "d.step = (SELECT MAX(step) FROM drift WHERE run_id = r.id)), "
      "(SELECT AVG(d.mech_ratio) FROM drift d WHERE d.run_id = r.id AND "
      "d.step = (SELECT MAX(step) FROM drift WHERE run_id = r.id)) "
      "FROM runs r LEFT JOIN sharpness_converged c ON c.run_id = r.id AND "
      "c.step = (SELECT MAX(step) FROM sharpness WHERE run_id = r.id) "
      "WHERE r.sweep_id = ? AND r.state = 'done' AND "
      "typeof(r.final_eval_loss) IN ('real', 'integer') AND "
      "r.final_eval_loss BETWEEN 0 AND 1e308 ORDER BY r.id",
      err);
  la_claim_run *v = NULL;
  size_t n = 0, cap = 0;
  *out = NULL;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep_id);
  while (sqlite3_step(q) == SQLITE_ROW) {
    if (n == cap) {
      la_claim_run *g = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
      if (g == NULL) {
        free(v), sqlite3_finalize(q);
        return la_errf(err, LA_ENOMEM, "claims: out of memory");
      }
      v = g;
    }
    v[n++] = (la_claim_run){.rank = sqlite3_column_int(q, 0),
                            .lr = sqlite3_column_double(q, 1),
                            .alpha = sqlite3_column_double(q, 2),
                            .seed_index = sqlite3_column_int(q, 3),
                            .loss = sqlite3_column_double(q, 4),
                            .has_sharpness = sqlite3_column_int(q, 5),
                            .lora = col_or_nan(q, 6),
                            .full = col_or_nan(q, 7),
                            .lora_unconverged = sqlite3_column_int(q, 8),
                            .full_unconverged = sqlite3_column_int(q, 9),
                            .drift_ratio = col_or_nan(q, 10),
                            .mech_ratio = col_or_nan(q, 11)};
  }
  sqlite3_finalize(q);
  *out = v;
  return (long)n;
}
