/* store_rows.c: worker records into metric rows, flushes, and the end of
 * runs and sweeps (see store.h). */
#include "store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Binds a JSON number (or NULL for null / missing / non-finite). */
static void bind_num(sqlite3_stmt *q, int i, const json_t *rec, const char *k) {
  const json_t *v = json_object_get(rec, k);
  if (json_is_number(v) && isfinite(json_number_value(v)))
    sqlite3_bind_double(q, i, json_number_value(v));
  else
    sqlite3_bind_null(q, i);
}

/* Binds a JSON integer (or NULL). */
static void bind_int(sqlite3_stmt *q, int i, const json_t *rec, const char *k) {
  const json_t *v = json_object_get(rec, k);
  if (json_is_integer(v))
    sqlite3_bind_int64(q, i, json_integer_value(v));
  else
    sqlite3_bind_null(q, i);
}

/* The record's "step" and (spectra) "layer": non-negative integers. */
static int rec_index(const json_t *rec, const char *k) {
  const json_t *v = json_object_get(rec, k);
  return json_is_integer(v) && json_integer_value(v) >= 0 ? 0 : LA_EINVAL;
}

static int write_curve(la_store *st, int64_t run, const json_t *rec,
                       const char *kind) {
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_CURVE);
  sqlite3_bind_int64(q, 1, run);
  sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
  bind_int(q, 3, rec, "step");
  bind_num(q, 4, rec, "loss");
  bind_num(q, 5, rec, "lr");
  bind_num(q, 6, rec, "grad_norm_a");
  bind_num(q, 7, rec, "grad_norm_b");
  bind_num(q, 8, rec, "update_norm");
  return la_store_exec(st, ST_INS_CURVE);
}

static int write_layers(la_store *st, int64_t run, const json_t *rec) {
  size_t i;
  json_t *ly;
  json_array_foreach(json_object_get(rec, "layers"), i, ly) {
    sqlite3_stmt *q = la_store_stmt(st, ST_INS_LAYER);
    sqlite3_bind_int64(q, 1, run);
    bind_int(q, 2, ly, "layer");
    bind_int(q, 3, ly, "d_in");
    bind_int(q, 4, ly, "d_out");
    bind_num(q, 5, ly, "sigma_max_w0");
    bind_num(q, 6, ly, "target_norm");
    if (la_store_exec(st, ST_INS_LAYER)) return LA_EIO;
  }
  return 0;
}

static int write_spectra(la_store *st, int64_t run, const json_t *rec) {
  static const char *const dk[] = {"signal",     "drift",      "drift_ratio",
                                   "cos_target", "rel_err",    "tf_signal",
                                   "tf_drift",   "mech_ratio", "a_drift"};
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_SPECTRA);
  char *sv =
      json_dumps(json_object_get(rec, "sv"),
                 JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
  sqlite3_bind_int64(q, 1, run);
  bind_int(q, 2, rec, "step");
  bind_int(q, 3, rec, "layer");
  bind_num(q, 4, rec, "sigma_max");
  bind_num(q, 5, rec, "fro");
  bind_num(q, 6, rec, "stable_rank");
  if (sv != NULL) sqlite3_bind_text(q, 7, sv, -1, free);
  if (la_store_exec(st, ST_INS_SPECTRA)) return LA_EIO;
  q = la_store_stmt(st, ST_INS_DRIFT);
  sqlite3_bind_int64(q, 1, run);
  bind_int(q, 2, rec, "step");
  bind_int(q, 3, rec, "layer");
  for (int i = 0; i < 9; i++)
    bind_num(q, 4 + i, rec, dk[i]);
  return la_store_exec(st, ST_INS_DRIFT);
}

static int write_sharpness(la_store *st, int64_t run, const json_t *rec) {
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_SHARP);
  sqlite3_bind_int64(q, 1, run);
  bind_int(q, 2, rec, "step");
  bind_num(q, 3, rec, "lora");
  bind_num(q, 4, rec, "full");
  bind_num(q, 5, rec, "ratio");
  bind_int(q, 6, rec, "lora_iters");
  bind_int(q, 7, rec, "full_iters");
  bind_int(q, 8, rec, "rows");
  return la_store_exec(st, ST_INS_SHARP);
}

/* One record into its table(s); the type was checked when it was added. */
static int write_record(la_store *st, int64_t run, const json_t *rec) {
  const char *type = json_string_value(json_object_get(rec, "type"));
  if (strcmp(type, "train") == 0) return write_curve(st, run, rec, "train");
  if (strcmp(type, "eval") == 0) return write_curve(st, run, rec, "eval");
  if (strcmp(type, "start") == 0) return write_layers(st, run, rec);
  if (strcmp(type, "spectra") == 0) return write_spectra(st, run, rec);
  return write_sharpness(st, run, rec);
}

int la_store_add_record(la_store *st, int64_t run_id, const json_t *rec) {
  const char *type = json_string_value(json_object_get(rec, "type"));
  int needs_step = 1, needs_layer = 0;
  if (type == NULL) return LA_EINVAL;
  if (strcmp(type, "start") == 0) {
    needs_step = 0;
    if (!json_is_array(json_object_get(rec, "layers"))) return LA_EINVAL;
  } else if (strcmp(type, "spectra") == 0) {
    needs_layer = 1;
  } else if (strcmp(type, "train") && strcmp(type, "eval") &&
             strcmp(type, "sharpness")) {
    return 0; /* done / error / unknown: not metric rows */
  }
  if ((needs_step && rec_index(rec, "step")) ||
      (needs_layer && rec_index(rec, "layer")))
    return LA_EINVAL;
  if (st->n_pending == st->cap_pending) {
    size_t cap = st->cap_pending ? 2 * st->cap_pending : 1024;
    la_pending *p = realloc(st->pending, cap * sizeof *p);
    if (p == NULL) return LA_ENOMEM;
    st->pending = p, st->cap_pending = cap;
  }
  st->pending[st->n_pending].run_id = run_id;
  st->pending[st->n_pending++].rec = json_incref((json_t *)rec);
  return 0;
}

int la_store_write_pending(la_store *st) {
  for (size_t i = 0; i < st->n_pending; i++)
    if (write_record(st, st->pending[i].run_id, st->pending[i].rec))
      return LA_EIO;
  return 0;
}

void la_store_clear_pending(la_store *st) {
  for (size_t i = 0; i < st->n_pending; i++)
    json_decref(st->pending[i].rec);
  st->stats.rows_written += st->n_pending;
  st->n_pending = 0;
}

int la_store_flush(la_store *st, la_err *err) {
  int rc;
  if (st->n_pending == 0) return 0;
  rc = la_store_begin(st);
  if (rc == 0) rc = la_store_write_pending(st);
  if (rc == 0) la_testpoint("flush");
  if (rc == 0) rc = la_store_commit(st);
  if (rc) {
    la_store_fail(st, err, "writing metric rows");
    la_store_rollback(st);
    return LA_EIO; /* the rows stay pending for the next flush */
  }
  la_store_clear_pending(st);
  return 0;
}

/* Binds a double, or NULL when NaN. */
static void bind_real(sqlite3_stmt *q, int i, double x) {
  if (isfinite(x))
    sqlite3_bind_double(q, i, x);
  else
    sqlite3_bind_null(q, i);
}

/* UPDATE runs with the result (inside the caller's transaction). */
static int update_run(la_store *st, int64_t run_id, const la_run_result *r) {
  sqlite3_stmt *q = la_store_stmt(st, ST_FINISH_RUN);
  int finished = strcmp(r->state, "queued") != 0;
  sqlite3_bind_text(q, 1, r->state, -1, SQLITE_STATIC);
  if (finished) sqlite3_bind_double(q, 2, la_store_now());
  if (r->steps_done >= 0) sqlite3_bind_int64(q, 3, r->steps_done);
  bind_real(q, 4, r->final_train_loss);
  bind_real(q, 5, r->final_eval_loss);
  bind_real(q, 6, r->best_eval_loss);
  if (r->best_step >= 0) sqlite3_bind_int64(q, 7, r->best_step);
  bind_real(q, 8, r->wall_s);
  if (r->error) sqlite3_bind_text(q, 9, r->error, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(q, 10, r->refund_attempt ? 1 : 0);
  sqlite3_bind_int64(q, 11, run_id);
  return la_store_exec(st, ST_FINISH_RUN);
}

/* Marks the run's sweep done when nothing of it is queued or running. */
static int maybe_finish_sweep(la_store *st, int64_t run_id) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_OF_RUN);
  int64_t sweep = -1, live = 1;
  sqlite3_bind_int64(q, 1, run_id);
  if (sqlite3_step(q) == SQLITE_ROW) sweep = sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  if (sweep < 0) return LA_EINVAL;
  q = la_store_stmt(st, ST_SWEEP_LIVE);
  sqlite3_bind_int64(q, 1, sweep);
  if (sqlite3_step(q) == SQLITE_ROW) live = sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  if (live > 0) return 0;
  q = la_store_stmt(st, ST_SWEEP_DONE);
  sqlite3_bind_double(q, 1, la_store_now());
  sqlite3_bind_int64(q, 2, sweep);
  return la_store_exec(st, ST_SWEEP_DONE);
}

int la_store_finish_run(la_store *st, int64_t run_id, const la_run_result *res,
                        la_err *err) {
  int rc = la_store_begin(st);
  if (rc == 0) rc = la_store_write_pending(st);
  if (rc == 0) rc = update_run(st, run_id, res);
  if (rc == 0) rc = maybe_finish_sweep(st, run_id);
  if (rc == 0) { /* its worker has exited: nothing to end at a restart */
    sqlite3_bind_int64(la_store_stmt(st, ST_DEL_WORKER), 1, run_id);
    rc = la_store_exec(st, ST_DEL_WORKER);
  }
  if (rc == 0) la_testpoint("finish");
  if (rc == 0) rc = la_store_commit(st);
  if (rc) {
    la_store_fail(st, err, "finishing a run");
    la_store_rollback(st);
    return LA_EIO;
  }
  la_store_clear_pending(st);
  return 0;
}

/* 1 if the sweep is active, 0 if not, -1 if there is none. */
static int sweep_active(la_store *st, int64_t sweep_id) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_EXISTS);
  int active = -1;
  sqlite3_bind_int64(q, 1, sweep_id);
  if (sqlite3_step(q) == SQLITE_ROW)
    active = strcmp((const char *)sqlite3_column_text(q, 0), "active") == 0;
  sqlite3_reset(q);
  return active;
}

/* 0 if the sweep is active, 1 if it is not, LA_EINVAL (err filled) if
 * there is none: the answers of the calls that change a sweep. */
static int need_active(la_store *st, int64_t sweep_id, la_err *err) {
  int active = sweep_active(st, sweep_id);
  if (active < 0)
    return la_errf(err, LA_EINVAL, "sweep %lld not found", (long long)sweep_id);
  return active ? 0 : 1;
}

int la_store_cancel_sweep(la_store *st, int64_t sweep_id, la_err *err) {
  sqlite3_stmt *q;
  int rc = need_active(st, sweep_id, err);
  double now = la_store_now();
  if (rc) return rc;
  rc = la_store_begin(st);
  q = la_store_stmt(st, ST_CANCEL_SWEEP);
  sqlite3_bind_double(q, 1, now);
  sqlite3_bind_int64(q, 2, sweep_id);
  if (rc == 0) rc = la_store_exec(st, ST_CANCEL_SWEEP);
  q = la_store_stmt(st, ST_CANCEL_RUNS);
  sqlite3_bind_double(q, 1, now);
  sqlite3_bind_int64(q, 2, sweep_id);
  if (rc == 0) rc = la_store_exec(st, ST_CANCEL_RUNS);
  if (rc == 0) rc = la_store_commit(st);
  if (rc) {
    la_store_fail(st, err, "cancelling a sweep");
    la_store_rollback(st);
    return LA_EIO;
  }
  return 0;
}

int la_store_set_paused(la_store *st, int64_t sweep_id, int paused,
                        la_err *err) {
  sqlite3_stmt *q;
  int rc = need_active(st, sweep_id, err);
  if (rc) return rc;
  q = la_store_stmt(st, ST_SET_PAUSED);
  sqlite3_bind_int(q, 1, paused != 0);
  sqlite3_bind_int64(q, 2, sweep_id);
  if (la_store_exec(st, ST_SET_PAUSED))
    return la_store_fail(st, err, "pausing a sweep");
  return 0;
}

int la_store_patch_sweep(la_store *st, int64_t sweep_id,
                         const la_sweep_patch *p, la_err *err) {
  sqlite3_stmt *q;
  int rc = need_active(st, sweep_id, err);
  if (rc) return rc;
  q = la_store_stmt(st, ST_PATCH_SWEEP);
  sqlite3_bind_int64(q, 1, sweep_id);
  if (p->has_priority) sqlite3_bind_int(q, 2, p->priority);
  if (p->has_max_parallel) sqlite3_bind_int(q, 3, p->max_parallel);
  sqlite3_bind_int(q, 4, p->has_window);
  if (p->has_window) la_store_bind_window(q, 5, &p->window);
  if (la_store_exec(st, ST_PATCH_SWEEP))
    return la_store_fail(st, err, "changing a sweep");
  return 0;
}

int la_store_sweep_owner(la_store *st, int64_t sweep_id, char *buf,
                         size_t size) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_OWNER);
  int rc = LA_EINVAL;
  sqlite3_bind_int64(q, 1, sweep_id);
  if (sqlite3_step(q) == SQLITE_ROW) {
    snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
    rc = 0;
  }
  sqlite3_reset(q);
  return rc;
}

int la_store_user_queued(la_store *st, const char *owner, int64_t *n,
                         la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_USER_QUEUED);
  int rc;
  sqlite3_bind_text(q, 1, owner, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(q);
  *n = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_reset(q);
  return rc == SQLITE_ROW ? 0 : la_store_fail(st, err, "counting queued runs");
}

int la_store_count_states(la_store *st, int64_t counts[6], la_err *err) {
  static const char *const names[6] = {"queued", "running",  "done",
                                       "failed", "diverged", "cancelled"};
  sqlite3_stmt *q = la_store_stmt(st, ST_COUNT_STATES);
  int rc;
  memset(counts, 0, 6 * sizeof counts[0]);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    const char *s = (const char *)sqlite3_column_text(q, 0);
    for (int i = 0; i < 6; i++)
      if (strcmp(s, names[i]) == 0) counts[i] = sqlite3_column_int64(q, 1);
  }
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? 0 : la_store_fail(st, err, "counting runs");
}

int la_store_sweep_state(la_store *st, int64_t sweep_id, char *buf,
                         size_t size) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_EXISTS);
  int rc = LA_EINVAL;
  sqlite3_bind_int64(q, 1, sweep_id);
  if (sqlite3_step(q) == SQLITE_ROW) {
    snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
    rc = 0;
  }
  sqlite3_reset(q);
  return rc;
}

void la_run_result_init(la_run_result *r, const char *state) {
  memset(r, 0, sizeof *r);
  r->state = state;
  r->steps_done = r->best_step = -1;
  r->final_train_loss = r->final_eval_loss = r->best_eval_loss = NAN;
  r->wall_s = NAN;
}

/* Number field k of o, NaN when absent. */
static double num_or_nan(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

int la_run_result_from_done(la_run_result *r, const json_t *done) {
  const char *status = json_string_value(json_object_get(done, "status"));
  const json_t *best = json_object_get(done, "best_step");
  if (status == NULL || (strcmp(status, "done") && strcmp(status, "diverged")))
    return -1;
  r->state = strcmp(status, "done") == 0 ? "done" : "diverged";
  r->steps_done = json_integer_value(json_object_get(done, "steps"));
  r->best_step = json_is_integer(best) ? json_integer_value(best) : -1;
  r->final_train_loss = num_or_nan(done, "final_train_loss");
  r->final_eval_loss = num_or_nan(done, "final_eval_loss");
  r->best_eval_loss = num_or_nan(done, "best_eval_loss");
  r->wall_s = num_or_nan(done, "wall_s");
  return 0;
}
