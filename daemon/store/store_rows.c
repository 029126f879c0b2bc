/* store_rows.c: worker records into metric rows, flushes, and the end of
 * runs and sweeps (see store.h). */
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Binds an integer, or NULL when negative (absent). */
static void bind_count(sqlite3_stmt *q, int i, int64_t x) {
  if (x >= 0)
    sqlite3_bind_int64(q, i, x);
  else
    sqlite3_bind_null(q, i);
}

/* Steps a cached insert to completion: SQLITE_DONE or the error code (a
 * constraint tells a run's bad data from a database that cannot write). */
static int insert(la_store *st, int which) {
  int rc = sqlite3_step(st->stmt[which]);
  sqlite3_reset(st->stmt[which]);
  return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static int write_curve(la_store *st, int64_t run, const la_record *r) {
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_CURVE);
  sqlite3_bind_int64(q, 1, run);
  sqlite3_bind_text(q, 2, r->type == LA_REC_TRAIN ? "train" : "eval", -1,
                    SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, r->step);
  la_store_bind_real(q, 4, r->u.train.loss);
  if (r->type == LA_REC_TRAIN) {
    la_store_bind_real(q, 5, r->u.train.lr);
    la_store_bind_real(q, 6, r->u.train.grad_norm_a);
    la_store_bind_real(q, 7, r->u.train.grad_norm_b);
    la_store_bind_real(q, 8, r->u.train.update_norm);
  }
  return insert(st, ST_INS_CURVE);
}

static int write_layers(la_store *st, int64_t run, const la_record *r) {
  for (size_t i = 0; i < r->u.start.n_layers; i++) {
    const la_rec_layer *ly = &r->u.start.layers[i];
    sqlite3_stmt *q = la_store_stmt(st, ST_INS_LAYER);
    int rc;
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_int64(q, 2, ly->layer);
    sqlite3_bind_int64(q, 3, ly->d_in);
    sqlite3_bind_int64(q, 4, ly->d_out);
    la_store_bind_real(q, 5, ly->sigma_max_w0);
    la_store_bind_real(q, 6, ly->target_norm);
    if (ly->module != NULL)
      sqlite3_bind_text(q, 7, ly->module, -1, SQLITE_TRANSIENT);
    else
      sqlite3_bind_null(q, 7);
    if ((rc = insert(st, ST_INS_LAYER)) != SQLITE_DONE) return rc;
  }
  return SQLITE_DONE;
}

/* The singular values as a JSON array (%.10g, null for unknown), new
 * string or NULL. */
static char *sv_text(const la_record *r) {
  size_t n = r->u.spectra.n_sv, cap = 2 + n * 18, len = 1;
  char *s = malloc(cap);
  if (s == NULL) return NULL;
  s[0] = '[';
  for (size_t i = 0; i < n; i++) {
    double x = r->u.spectra.sv[i];
    len +=
        isfinite(x)
            ? (size_t)snprintf(s + len, cap - len, "%s%.10g", i ? "," : "", x)
            : (size_t)snprintf(s + len, cap - len, "%snull", i ? "," : "");
  }
  snprintf(s + len, cap - len, "]");
  return s;
}

static int write_spectra(la_store *st, int64_t run, const la_record *r) {
  const double dv[9] = {r->u.spectra.signal,      r->u.spectra.drift,
                        r->u.spectra.drift_ratio, r->u.spectra.cos_target,
                        r->u.spectra.rel_err,     r->u.spectra.tf_signal,
                        r->u.spectra.tf_drift,    r->u.spectra.mech_ratio,
                        r->u.spectra.a_drift};
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_SPECTRA);
  char *sv = sv_text(r);
  int rc;
  sqlite3_bind_int64(q, 1, run);
  sqlite3_bind_int64(q, 2, r->step);
  sqlite3_bind_int64(q, 3, r->u.spectra.layer);
  la_store_bind_real(q, 4, r->u.spectra.sigma_max);
  la_store_bind_real(q, 5, r->u.spectra.fro);
  la_store_bind_real(q, 6, r->u.spectra.stable_rank);
  if (sv == NULL) return SQLITE_NOMEM;
  sqlite3_bind_text(q, 7, sv, -1, free);
  if ((rc = insert(st, ST_INS_SPECTRA)) != SQLITE_DONE) return rc;
  q = la_store_stmt(st, ST_INS_DRIFT);
  sqlite3_bind_int64(q, 1, run);
  sqlite3_bind_int64(q, 2, r->step);
  sqlite3_bind_int64(q, 3, r->u.spectra.layer);
  for (int i = 0; i < 9; i++)
    la_store_bind_real(q, 4 + i, dv[i]);
  return insert(st, ST_INS_DRIFT);
}

static int write_sharpness(la_store *st, int64_t run, const la_record *r) {
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_SHARP);
  sqlite3_bind_int64(q, 1, run);
  sqlite3_bind_int64(q, 2, r->step);
  la_store_bind_real(q, 3, r->u.sharp.lora);
  la_store_bind_real(q, 4, r->u.sharp.full);
  la_store_bind_real(q, 5, r->u.sharp.ratio);
  bind_count(q, 6, r->u.sharp.lora_iters);
  bind_count(q, 7, r->u.sharp.full_iters);
  bind_count(q, 8, r->u.sharp.rows);
  la_store_bind_real(q, 9, r->u.sharp.lora_residual);
  bind_count(q, 10, r->u.sharp.lora_converged);
  la_store_bind_real(q, 11, r->u.sharp.full_residual);
  bind_count(q, 12, r->u.sharp.full_converged);
  return insert(st, ST_INS_SHARP);
}

/* One record into its table(s): SQLITE_DONE or the error code. */
static int write_record(la_store *st, int64_t run, const la_record *r) {
  switch (r->type) {
  case LA_REC_TRAIN:
  case LA_REC_EVAL: return write_curve(st, run, r);
  case LA_REC_START: return write_layers(st, run, r);
  case LA_REC_SPECTRA: return write_spectra(st, run, r);
  case LA_REC_SHARPNESS: return write_sharpness(st, run, r);
  default: return SQLITE_DONE; /* a refused run's dropped row */
  }
}

int la_store_take_record(la_store *st, int64_t run_id, la_record *rec) {
  if (rec->type != LA_REC_START && rec->type != LA_REC_TRAIN &&
      rec->type != LA_REC_EVAL && rec->type != LA_REC_SPECTRA &&
      rec->type != LA_REC_SHARPNESS) {
    la_record_clear(rec); /* done / error / extension: not metric rows */
    return 0;
  }
  if (st->n_pending == st->cap_pending) {
    size_t cap = st->cap_pending ? 2 * st->cap_pending : 1024;
    la_pending *p = realloc(st->pending, cap * sizeof *p);
    if (p == NULL) {
      la_record_clear(rec);
      return LA_ENOMEM;
    }
    st->pending = p, st->cap_pending = cap;
  }
  st->pending[st->n_pending].run_id = run_id;
  la_record_move(&st->pending[st->n_pending++].rec, rec);
  return 0;
}

/* The refused entry of run_id, or NULL. */
static la_refused *find_refused(const la_store *st, int64_t run_id) {
  for (size_t i = 0; i < st->n_refused; i++)
    if (st->refused[i].run_id == run_id) return (la_refused *)&st->refused[i];
  return NULL;
}

int la_store_run_refused(const la_store *st, int64_t run_id, char *msg,
                         size_t size) {
  const la_refused *r = find_refused(st, run_id);
  if (r != NULL && msg != NULL) snprintf(msg, size, "%s", r->msg);
  return r != NULL;
}

void la_store_forget_refused(la_store *st, int64_t run_id) {
  la_refused *r = find_refused(st, run_id);
  if (r == NULL) return;
  memmove(r, r + 1,
          (size_t)(st->refused + st->n_refused - (r + 1)) * sizeof *r);
  st->n_refused--;
}

/* Notes run_id as refused (the oldest note goes when the list is full) and
 * drops its pending rows. */
static void refuse_run(la_store *st, int64_t run_id, const char *why) {
  la_refused *r = find_refused(st, run_id);
  if (r == NULL) {
    if (st->n_refused == LA_STORE_MAX_REFUSED)
      la_store_forget_refused(st, st->refused[0].run_id);
    r = &st->refused[st->n_refused++];
    r->run_id = run_id;
  }
  snprintf(r->msg, sizeof r->msg, "the database refused its rows: %s", why);
  for (size_t i = 0; i < st->n_pending; i++)
    if (st->pending[i].run_id == run_id) la_record_clear(&st->pending[i].rec);
  st->stats.errors++;
}

/* Is rc about the row's data (its run is at fault), not the database? */
static int data_error(int rc) {
  rc &= 0xff;
  return rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH ||
         rc == SQLITE_TOOBIG || rc == SQLITE_RANGE;
}

int la_store_write_pending(la_store *st) {
  for (size_t i = 0; i < st->n_pending; i++) {
    int rc = write_record(st, st->pending[i].run_id, &st->pending[i].rec);
    if (rc == SQLITE_DONE) continue;
    if (!data_error(rc)) return LA_EIO;
    refuse_run(st, st->pending[i].run_id, sqlite3_errmsg(st->db));
    return LA_STORE_RETRY;
  }
  return 0;
}

void la_store_clear_pending(la_store *st) {
  for (size_t i = 0; i < st->n_pending; i++) {
    st->stats.rows_written += st->pending[i].rec.type != LA_REC_EXTENSION;
    la_record_clear(&st->pending[i].rec);
  }
  st->n_pending = 0;
}

/* BEGIN, the pending rows, more (if not NULL), COMMIT: the write of every
 * buffered row, again without a run whose rows the database refused. */
static int write_all(la_store *st, int (*more)(la_store *, void *), void *arg) {
  for (;;) {
    int rc = la_store_begin(st);
    if (rc == 0) rc = la_store_write_pending(st);
    if (rc == LA_STORE_RETRY) {
      la_store_rollback(st);
      continue; /* each retry drops one run's rows: this ends */
    }
    if (rc == 0 && more != NULL) rc = more(st, arg);
    if (rc == 0) la_testpoint(more ? "finish" : "flush");
    if (rc == 0) rc = la_store_commit(st);
    return rc ? LA_EIO : 0;
  }
}

int la_store_flush(la_store *st, la_err *err) {
  if (st->n_pending == 0) return 0;
  if (write_all(st, NULL, NULL)) {
    la_store_fail(st, err, "writing metric rows");
    la_store_rollback(st);
    return LA_EIO; /* the rows stay pending for the next flush */
  }
  la_store_clear_pending(st);
  return 0;
}

/* UPDATE runs with the result (inside the caller's transaction). */
static int update_run(la_store *st, int64_t run_id, const la_run_result *r) {
  sqlite3_stmt *q = la_store_stmt(st, ST_FINISH_RUN);
  int finished = strcmp(r->state, "queued") != 0;
  sqlite3_bind_text(q, 1, r->state, -1, SQLITE_STATIC);
  if (finished) sqlite3_bind_double(q, 2, la_store_now());
  if (r->steps_done >= 0) sqlite3_bind_int64(q, 3, r->steps_done);
  la_store_bind_real(q, 4, r->final_train_loss);
  la_store_bind_real(q, 5, r->final_eval_loss);
  la_store_bind_real(q, 6, r->best_eval_loss);
  if (r->best_step >= 0) sqlite3_bind_int64(q, 7, r->best_step);
  la_store_bind_real(q, 8, r->wall_s);
  if (r->error) sqlite3_bind_text(q, 9, r->error, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(q, 10, r->refund_attempt ? 1 : 0);
  sqlite3_bind_int64(q, 11, run_id);
  return la_store_exec(st, ST_FINISH_RUN);
}

/* The sweep of run_id, or -1 when there is no such run. */
static int64_t sweep_of_run(la_store *st, int64_t run_id) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_OF_RUN);
  int64_t sweep = -1;
  sqlite3_bind_int64(q, 1, run_id);
  if (sqlite3_step(q) == SQLITE_ROW) sweep = sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  return sweep;
}

/* Ends an active sweep as 'failed' with why, and cancels its queued runs
 * (inside the caller's transaction). */
static int fail_sweep(la_store *st, int64_t sweep, const char *why) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_FAIL);
  double now = la_store_now();
  sqlite3_bind_double(q, 1, now);
  sqlite3_bind_text(q, 2, why, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(q, 3, sweep);
  if (la_store_exec(st, ST_SWEEP_FAIL)) return LA_EIO;
  q = la_store_stmt(st, ST_CANCEL_RUNS);
  sqlite3_bind_double(q, 1, now);
  sqlite3_bind_int64(q, 2, sweep);
  return la_store_exec(st, ST_CANCEL_RUNS);
}

/* Ends the sweep when nothing of it is queued or running: 'done' when a
 * run finished (done or diverged), else 'failed' saying so. */
static int maybe_finish_sweep(la_store *st, int64_t sweep) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_LIVE);
  int64_t live = 1, ok = 0, failed = 0, cancelled = 0;
  char why[1024];
  const char *last;
  sqlite3_bind_int64(q, 1, sweep);
  if (sqlite3_step(q) == SQLITE_ROW) live = sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  if (live > 0) return 0;
  q = la_store_stmt(st, ST_SWEEP_ENDS);
  sqlite3_bind_int64(q, 1, sweep);
  if (sqlite3_step(q) != SQLITE_ROW) return sqlite3_reset(q), LA_EIO;
  ok = sqlite3_column_int64(q, 0);
  failed = sqlite3_column_int64(q, 1);
  cancelled = sqlite3_column_int64(q, 2);
  last = (const char *)sqlite3_column_text(q, 3);
  snprintf(why, sizeof why,
           "no run finished: %lld failed, %lld cancelled%s%.900s",
           (long long)failed, (long long)cancelled,
           last ? "; the last error: " : "", last ? last : "");
  sqlite3_reset(q);
  if (ok == 0) return fail_sweep(st, sweep, why);
  q = la_store_stmt(st, ST_SWEEP_DONE);
  sqlite3_bind_double(q, 1, la_store_now());
  sqlite3_bind_int64(q, 2, sweep);
  return la_store_exec(st, ST_SWEEP_DONE);
}

/* Counts a failed attempt with error text why against its active sweep:
 * one more in a row when the last failed attempt had the same text, else
 * the first. *streak gets the count (0 when the sweep is not active). */
static int count_failure(la_store *st, int64_t sweep, const char *why,
                         int *streak) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_STREAK);
  int rc;
  sqlite3_bind_int64(q, 1, sweep);
  sqlite3_bind_text(q, 2, why, -1, SQLITE_TRANSIENT);
  *streak = 0;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    *streak = sqlite3_column_int(q, 0);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? 0 : LA_EIO;
}

/* Stops the sweep whose runs failed streak times in a row with the same
 * error why: 'failed', saying so, and its queued runs cancelled. */
static int stop_sweep(la_store *st, int64_t sweep, const char *why,
                      int streak) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_HIT);
  int64_t runs = 0;
  char *text;
  size_t n = strlen(why) + 256;
  int rc;
  sqlite3_bind_int64(q, 1, sweep);
  sqlite3_bind_text(q, 2, why, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(q) == SQLITE_ROW) runs = sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  if ((text = malloc(n)) == NULL) return LA_ENOMEM;
  snprintf(text, n,
           "stopped: %d attempts in a row failed with the same error (%lld "
           "run%s hit; max_same_failures is %d): %s",
           streak, (long long)runs, runs == 1 ? "" : "s", st->fail_limit, why);
  rc = fail_sweep(st, sweep, text);
  free(text);
  return rc;
}

/* The sweep's side of a run's end: a failed attempt counts towards
 * stopping the sweep (*stopped 1 when it did), a finished run breaks the
 * count, a searching sweep decides its run's cell's next step
 * (store_search.c), and a sweep with nothing left queued or running ends. */
static int end_in_sweep(la_store *st, int64_t run_id, const la_run_result *r,
                        int *stopped) {
  int64_t sweep = sweep_of_run(st, run_id);
  int failed =
          r->error != NULL && !r->refund_attempt &&
          (strcmp(r->state, "failed") == 0 || strcmp(r->state, "queued") == 0),
      streak = 0, rc = 0;
  *stopped = 0;
  if (sweep < 0) return LA_ENOTFOUND;
  if (failed) {
    rc = count_failure(st, sweep, r->error, &streak);
    if (rc == 0 && st->fail_limit > 0 && streak >= st->fail_limit) {
      rc = stop_sweep(st, sweep, r->error, streak);
      *stopped = rc == 0;
    }
  } else if (strcmp(r->state, "done") == 0 ||
             strcmp(r->state, "diverged") == 0) {
    sqlite3_bind_int64(la_store_stmt(st, ST_SWEEP_CLEAN), 1, sweep);
    rc = la_store_exec(st, ST_SWEEP_CLEAN);
  }
  if (rc == 0 && !*stopped && strcmp(r->state, "queued") != 0 &&
      strcmp(r->state, "cancelled") != 0)
    rc = la_store_search_after_run(st, sweep, run_id);
  return rc ? rc : maybe_finish_sweep(st, sweep);
}

/* The run's end for write_all: its row, then the sweep's. */
typedef struct finish_arg {
  int64_t run_id;
  const la_run_result *res;
  la_run_result failed; /* res when the run's rows were refused */
  char why[200];
  int stopped; /* the sweep was stopped (end_in_sweep) */
} finish_arg;

static int finish_rows(la_store *st, void *arg) {
  finish_arg *f = arg;
  const la_run_result *res = f->res;
  int rc;
  /* a run that ends well but whose rows the database refused failed */
  if (strcmp(res->state, "done") == 0 || strcmp(res->state, "diverged") == 0)
    if (la_store_run_refused(st, f->run_id, f->why, sizeof f->why)) {
      f->failed = *res;
      f->failed.state = "failed";
      f->failed.error = f->why;
      res = &f->failed;
    }
  rc = update_run(st, f->run_id, res);
  if (rc == 0) rc = end_in_sweep(st, f->run_id, res, &f->stopped);
  if (rc == 0) { /* its worker has exited: nothing to end at a restart */
    sqlite3_bind_int64(la_store_stmt(st, ST_DEL_WORKER), 1, f->run_id);
    rc = la_store_exec(st, ST_DEL_WORKER);
  }
  return rc;
}

int la_store_finish_run(la_store *st, int64_t run_id, const la_run_result *res,
                        la_err *err) {
  finish_arg f = {.run_id = run_id, .res = res};
  if (write_all(st, finish_rows, &f)) {
    la_store_fail(st, err, "finishing a run");
    la_store_rollback(st);
    return LA_EIO;
  }
  la_store_clear_pending(st);
  if (strcmp(res->state, "queued") != 0) la_store_forget_refused(st, run_id);
  if (f.stopped) la_testpoint("stop");
  return 0;
}

/* 1 if the sweep is active, 0 if not, LA_ENOTFOUND if there is none. */
static int sweep_active(la_store *st, int64_t sweep_id) {
  sqlite3_stmt *q = la_store_stmt(st, ST_SWEEP_EXISTS);
  int active = LA_ENOTFOUND;
  sqlite3_bind_int64(q, 1, sweep_id);
  if (sqlite3_step(q) == SQLITE_ROW)
    active = strcmp((const char *)sqlite3_column_text(q, 0), "active") == 0;
  sqlite3_reset(q);
  return active;
}

/* 0 if the sweep is active, 1 if it is not, LA_ENOTFOUND (err filled) if
 * there is none: the answers of the calls that change a sweep. */
static int need_active(la_store *st, int64_t sweep_id, la_err *err) {
  int active = sweep_active(st, sweep_id);
  if (active < 0)
    return la_errf(err, LA_ENOTFOUND, "sweep %lld not found",
                   (long long)sweep_id);
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

/* The one text column that statement stmt (bound to a sweep id) reads
 * into buf: 0, or LA_ENOTFOUND when the sweep has no row. */
static int sweep_text(la_store *st, int stmt, int64_t sweep_id, char *buf,
                      size_t size) {
  sqlite3_stmt *q = la_store_stmt(st, stmt);
  int rc = LA_ENOTFOUND;
  sqlite3_bind_int64(q, 1, sweep_id);
  if (sqlite3_step(q) == SQLITE_ROW) {
    snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
    rc = 0;
  }
  sqlite3_reset(q);
  return rc;
}

int la_store_sweep_owner(la_store *st, int64_t sweep_id, char *buf,
                         size_t size) {
  return sweep_text(st, ST_SWEEP_OWNER, sweep_id, buf, size);
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

int la_store_count_states(la_store *st, int64_t counts[LA_RUN_N_STATES],
                          la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_COUNT_STATES);
  int rc;
  memset(counts, 0, LA_RUN_N_STATES * sizeof counts[0]);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    int i = la_run_state_from_name((const char *)sqlite3_column_text(q, 0));
    if (i >= 0) counts[i] = sqlite3_column_int64(q, 1);
  }
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? 0 : la_store_fail(st, err, "counting runs");
}

int la_store_sweep_state(la_store *st, int64_t sweep_id, char *buf,
                         size_t size) {
  return sweep_text(st, ST_SWEEP_EXISTS, sweep_id, buf, size);
}

void la_run_result_init(la_run_result *r, const char *state) {
  memset(r, 0, sizeof *r);
  r->state = state;
  r->steps_done = r->best_step = -1;
  r->final_train_loss = r->final_eval_loss = r->best_eval_loss = NAN;
  r->wall_s = NAN;
}

int la_run_result_from_done(la_run_result *r, const la_record *done) {
  if (done == NULL || done->type != LA_REC_DONE) return LA_EINVAL;
  r->state = done->u.done.status ? "diverged" : "done";
  r->steps_done = done->u.done.steps;
  r->best_step = done->u.done.best_step;
  r->final_train_loss = done->u.done.final_train_loss;
  r->final_eval_loss = done->u.done.final_eval_loss;
  r->best_eval_loss = done->u.done.best_eval_loss;
  r->wall_s = done->u.done.wall_s;
  return 0;
}
