/* run_read.c: one run for GET /v1/runs/{id}, off the loop (see
 * run_read.h). */
#include "store/run_read.h"

#include "loralpha/common.h"
#include "loralpha/json_text.h"
#include "testpoint.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 6
#define NO_STEP INT64_MAX

static const char k_run_sql[] =
    "SELECT id, sweep_id, idx, rank, alpha, lr, seed_index, seed, state, "
    "attempts, created_at, started_at, finished_at, steps_done, "
    "final_train_loss, final_eval_loss, best_eval_loss, best_step, wall_s, "
    "error, config, worker_pid FROM runs WHERE id = ?1";
static const char k_owner_sql[] = "SELECT owner FROM sweeps WHERE id = ?1";
static const char k_layers_sql[] =
    "SELECT layer, d_in, d_out, sigma_max_w0, target_norm, module FROM "
    "layers WHERE run_id = ?1 ORDER BY layer LIMIT 256";
/* Rows with step in (?2, ?3], and the step of the ?4-th row after ?2. */
static const char k_curve_sql[] =
    "SELECT step, loss, lr, grad_norm_a, grad_norm_b, update_norm FROM curve "
    "WHERE run_id = ?1 AND kind = ?5 AND step > ?2 AND step <= ?3 "
    "ORDER BY step";
static const char k_curve_nth[] =
    "SELECT step FROM curve WHERE run_id = ?1 AND kind = ?5 AND step > ?2 "
    "ORDER BY step LIMIT 1 OFFSET ?4";
static const char k_spectra_sql[] =
    "SELECT s.step, s.layer, s.sigma_max, s.fro, s.stable_rank, s.sv, "
    "d.signal, d.drift, d.drift_ratio, d.cos_target, d.rel_err, d.tf_signal, "
    "d.tf_drift, d.mech_ratio, d.a_drift FROM spectra s LEFT JOIN drift d ON "
    "d.run_id = s.run_id AND d.step = s.step AND d.layer = s.layer WHERE "
    "s.run_id = ?1 AND s.step > ?2 AND s.step <= ?3 ORDER BY s.step, s.layer";
static const char k_spectra_nth[] =
    "SELECT step FROM spectra WHERE run_id = ?1 AND step > ?2 ORDER BY step, "
    "layer LIMIT 1 OFFSET ?4";
static const char k_sharp_sql[] =
    "SELECT step, lora, full, ratio, lora_iters, full_iters, rows, "
    "lora_residual, lora_converged, full_residual, full_converged FROM "
    "sharpness WHERE run_id = ?1 AND step > ?2 AND step <= ?3 ORDER BY step";
static const char k_sharp_nth[] =
    "SELECT step FROM sharpness WHERE run_id = ?1 AND step > ?2 ORDER BY "
    "step LIMIT 1 OFFSET ?4";

static const char *const k_cols[MAX_COLS] = {
    "step", "loss", "lr", "grad_norm_a", "grad_norm_b", "update_norm"};

typedef struct run_job {
  uv_work_t req;
  char *db_path;
  la_run_query q;
  sqlite3 *db;
  json_t *result;
  char *text; /* result serialised */
  char owner[64];
  int status;
  char msg[256];
  la_run_read_cb cb;
  void *arg;
} run_job;

/* A prepared statement with the run (?1), the step window (?2, ?3], the
 * offset ?4 and the kind ?5 bound where the text uses them. NULL on
 * failure. */
static sqlite3_stmt *prepare(sqlite3 *db, const char *sql, int64_t run,
                             int64_t after, int64_t until, int64_t offset,
                             const char *kind) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return NULL;
  sqlite3_bind_int64(s, 1, run);
  if (sqlite3_bind_parameter_count(s) >= 2) sqlite3_bind_int64(s, 2, after);
  if (sqlite3_bind_parameter_count(s) >= 3) sqlite3_bind_int64(s, 3, until);
  if (sqlite3_bind_parameter_count(s) >= 4) sqlite3_bind_int64(s, 4, offset);
  if (kind) sqlite3_bind_text(s, 5, kind, -1, SQLITE_STATIC);
  return s;
}

/* Is name a flag column (sharpness' *_converged), shown as true / false? */
static int is_flag(const char *name) {
  size_t n = strlen(name);
  return n > 10 && strcmp(name + n - 10, "_converged") == 0;
}

/* Column i of the current row as JSON; sv and config hold JSON text. */
static json_t *column_json(sqlite3_stmt *q, int i) {
  const char *name = sqlite3_column_name(q, i), *text;
  json_t *v;
  switch (sqlite3_column_type(q, i)) {
  case SQLITE_INTEGER:
    if (is_flag(name)) return json_boolean(sqlite3_column_int64(q, i) != 0);
    return json_integer(sqlite3_column_int64(q, i));
  case SQLITE_FLOAT: /* an infinity edited in by hand is no JSON number */
    return isfinite(sqlite3_column_double(q, i))
               ? json_real(sqlite3_column_double(q, i))
               : json_null();
  case SQLITE_NULL: return json_null();
  default: break;
  }
  text = (const char *)sqlite3_column_text(q, i);
  if (strcmp(name, "sv") && strcmp(name, "config")) return json_string(text);
  v = json_loads(text, JSON_DECODE_ANY, NULL);
  return v ? v : json_null();
}

/* The current row as an object keyed by column name. New reference. */
static json_t *row_object(sqlite3_stmt *q) {
  json_t *o = json_object();
  for (int i = 0; i < sqlite3_column_count(q); i++)
    json_object_set_new(o, sqlite3_column_name(q, i), column_json(q, i));
  return o;
}

/* Appends every row of s as an object to arr; rows whose step (column 0)
 * keep() refuses are skipped. Finalizes s. 0, or LA_EIO when the database
 * failed (s NULL included). */
typedef int (*keep_fn)(int64_t step, void *ctx);
static int append_rows(sqlite3_stmt *s, json_t *arr, keep_fn keep, void *ctx) {
  int rc;
  if (s == NULL) return LA_EIO;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    if (keep == NULL || keep(sqlite3_column_int64(s, 0), ctx))
      json_array_append_new(arr, row_object(s));
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? 0 : LA_EIO;
}

/* The single step a query gives, or NO_STEP when it gives none. */
static int64_t one_step(sqlite3_stmt *s) {
  int64_t v = NO_STEP;
  if (s != NULL && sqlite3_step(s) == SQLITE_ROW &&
      sqlite3_column_type(s, 0) == SQLITE_INTEGER)
    v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

/* ---- curves: one part ({"step": [...], "loss": [...], ...}) ---- */

/* A curve row kept for a bucket. */
typedef struct crow {
  int64_t step;
  double v[MAX_COLS];
  int null[MAX_COLS];
} crow;

static void crow_read(sqlite3_stmt *s, int ncols, crow *r) {
  r->step = sqlite3_column_int64(s, 0);
  for (int c = 1; c < ncols; c++) {
    int t = sqlite3_column_type(s, c); /* text or infinities: null */
    r->v[c] = sqlite3_column_double(s, c);
    r->null[c] =
        (t != SQLITE_FLOAT && t != SQLITE_INTEGER) || !isfinite(r->v[c]);
    if (r->null[c]) r->v[c] = 0;
  }
}

static void crow_append(json_t *part, int ncols, const crow *r) {
  json_array_append_new(json_object_get(part, "step"), json_integer(r->step));
  for (int c = 1; c < ncols; c++)
    json_array_append_new(json_object_get(part, k_cols[c]),
                          r->null[c] ? json_null() : json_real(r->v[c]));
}

/* A new part with ncols empty arrays. */
static json_t *new_part(int ncols) {
  json_t *part = json_object();
  for (int c = 0; c < ncols; c++)
    json_object_set_new(part, k_cols[c], json_array());
  return part;
}

/* Appends the rows of the curve with step in (after, until]; 0 or LA_EIO. */
static int curve_rows(sqlite3 *db, int64_t run, const char *kind, int ncols,
                      int64_t after, int64_t until, json_t *part) {
  sqlite3_stmt *s = prepare(db, k_curve_sql, run, after, until, 0, kind);
  crow r;
  int rc;
  if (s == NULL) return LA_EIO;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    crow_read(s, ncols, &r);
    crow_append(part, ncols, &r);
  }
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? 0 : LA_EIO;
}

/* One bucket's lowest and highest loss rows (a NULL loss, a diverged
 * point, is kept as its low), appended in step order. */
typedef struct bucket {
  int64_t id;
  int n;
  crow lo, hi;
} bucket;

static void bucket_flush(bucket *b, json_t *part, int ncols) {
  if (b->n == 0) return;
  if (b->lo.step == b->hi.step) {
    crow_append(part, ncols, &b->lo);
  } else {
    crow_append(part, ncols, b->lo.step < b->hi.step ? &b->lo : &b->hi);
    crow_append(part, ncols, b->lo.step < b->hi.step ? &b->hi : &b->lo);
  }
  b->n = 0;
}

static void bucket_add(bucket *b, const crow *r) {
  if (b->n++ == 0) {
    b->lo = b->hi = *r;
    return;
  }
  if (!b->lo.null[1] && (r->null[1] || r->v[1] < b->lo.v[1])) b->lo = *r;
  if (!r->null[1] && !b->hi.null[1] && r->v[1] > b->hi.v[1]) b->hi = *r;
}

/* The curve of kind with at most points rows, in one ordered pass; 0 or
 * LA_EIO. */
static int curve_downsampled(sqlite3 *db, int64_t run, const char *kind,
                             int ncols, int points, json_t *part) {
  if (points < 2) points = 2;
  int64_t lo = one_step(prepare(db, k_curve_nth, run, INT64_MIN, 0, 0, kind));
  int64_t last =
      one_step(prepare(db, k_curve_nth, run, INT64_MIN, 0, points, kind));
  int64_t hi, span, nb = (points - 2) / 2;
  sqlite3_stmt *s;
  bucket b = {-1, 0, {0}, {0}};
  crow r;
  int rc;
  if (lo == NO_STEP || last == NO_STEP) /* empty, or at most points rows */
    return curve_rows(db, run, kind, ncols, INT64_MIN, NO_STEP, part);
  s = prepare(db,
              "SELECT step FROM curve WHERE run_id = ?1 AND kind = ?5 ORDER "
              "BY step DESC LIMIT 1",
              run, 0, 0, 0, kind);
  hi = one_step(s);
  span = hi - lo - 1;
  if ((s = prepare(db, k_curve_sql, run, lo - 1, hi, 0, kind)) == NULL)
    return LA_EIO;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    crow_read(s, ncols, &r);
    if (r.step == lo || r.step == hi) {
      bucket_flush(&b, part, ncols);
      crow_append(part, ncols, &r);
      continue;
    }
    int64_t id = nb ? (int64_t)((double)(r.step - lo - 1) * nb / span) : -2;
    if (id == -2) continue; /* points 2 or 3: the first and the last */
    if (id != b.id) bucket_flush(&b, part, ncols), b.id = id;
    bucket_add(&b, &r);
  }
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? 0 : LA_EIO;
}

int la_run_read_curve(sqlite3 *db, int64_t run_id, const char *kind, int points,
                      json_t *part) {
  return curve_downsampled(db, run_id, kind, 2, points, part);
}

json_t *la_run_read_sweep_runs(sqlite3 *db, int64_t sweep_id) {
  json_t *runs = json_array();
  sqlite3_stmt *s = prepare(
      db,
      "SELECT id, idx, rank, alpha, lr, seed_index, seed, state, attempts, "
      "started_at, finished_at, steps_done, final_train_loss, "
      "final_eval_loss, best_eval_loss, best_step, wall_s, error FROM runs "
      "WHERE sweep_id = ?1 ORDER BY id",
      sweep_id, 0, 0, 0, NULL);
  if (runs == NULL || append_rows(s, runs, NULL, NULL) != 0) {
    json_decref(runs);
    return NULL;
  }
  return runs;
}

/* ---- spectra and sharpness with points: the rows of <= points steps ---- */

/* Keeps the rows of the first step of each of `points` equal step
 * buckets between lo and hi. */
typedef struct thin {
  int64_t lo, hi, bucket, step;
  int points;
} thin;

static int thin_keep(int64_t step, void *ctx) {
  thin *t = ctx;
  double span = (double)(t->hi - t->lo) + 1;
  int64_t b = (int64_t)((double)(step - t->lo) * t->points / span);
  if (step == t->step) return 1;
  if (b == t->bucket) return 0;
  t->bucket = b, t->step = step;
  return 1;
}

/* The rows of sql over the whole run, thinned to at most points steps; 0 or
 * LA_EIO. */
static int thinned(sqlite3 *db, int64_t run, const char *table, const char *sql,
                   int points, json_t *arr) {
  char q[160];
  thin t = {0, 0, -1, NO_STEP, points};
  snprintf(q, sizeof q, "SELECT min(step), max(step) FROM %s WHERE run_id = ?1",
           table);
  sqlite3_stmt *s = prepare(db, q, run, 0, 0, 0, NULL);
  if (s == NULL) return LA_EIO;
  if (sqlite3_step(s) == SQLITE_ROW &&
      sqlite3_column_type(s, 0) == SQLITE_INTEGER)
    t.lo = sqlite3_column_int64(s, 0), t.hi = sqlite3_column_int64(s, 1);
  sqlite3_finalize(s);
  return append_rows(prepare(db, sql, run, INT64_MIN, NO_STEP, 0, NULL), arr,
                     thin_keep, &t);
}

/* ---- the job ---- */

/* The last step of the page after `after`: the smallest step at which a
 * part reaches its page size (NO_STEP: everything fits). */
static int64_t page_end(sqlite3 *db, int64_t run, int64_t after) {
  int64_t end = NO_STEP, v;
  const char *kinds[] = {"train", "eval"};
  for (int k = 0; k < 2; k++) {
    v = one_step(prepare(db, k_curve_nth, run, after, 0, LA_RUN_PAGE_ROWS - 1,
                         kinds[k]));
    end = v < end ? v : end;
  }
  v = one_step(
      prepare(db, k_spectra_nth, run, after, 0, LA_RUN_PAGE_SPECTRA - 1, NULL));
  end = v < end ? v : end;
  v = one_step(
      prepare(db, k_sharp_nth, run, after, 0, LA_RUN_PAGE_ROWS - 1, NULL));
  return v < end ? v : end;
}

/* Reads the run row and its sweep's owner: 0; 1 with status 404 when there
 * is none; LA_EIO when the database failed. */
static int read_head(run_job *j) {
  sqlite3_stmt *s = prepare(j->db, k_run_sql, j->q.run_id, 0, 0, 0, NULL);
  int64_t sweep = 0;
  if (s == NULL) return LA_EIO;
  if (sqlite3_step(s) == SQLITE_ROW) {
    j->result = row_object(s);
    sweep = sqlite3_column_int64(s, 1);
  }
  sqlite3_finalize(s);
  if (j->result == NULL) {
    j->status = 404;
    snprintf(j->msg, sizeof j->msg, "run %lld not found",
             (long long)j->q.run_id);
    return 1;
  }
  if ((s = prepare(j->db, k_owner_sql, sweep, 0, 0, 0, NULL)) == NULL)
    return LA_EIO;
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
    snprintf(j->owner, sizeof j->owner, "%s", sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  return 0;
}

/* Everything but the head: curves, layers, spectra, sharpness; 0, or
 * LA_EIO when the database failed. */
static int read_body(run_job *j) {
  sqlite3 *db = j->db;
  int64_t run = j->q.run_id, after = j->q.after, end = NO_STEP;
  json_t *train = new_part(6), *eval = new_part(2);
  json_t *layers = json_array(), *spectra = json_array(), *sharp = json_array();
  int rc = 0;
  json_object_set_new(j->result, "curve",
                      json_pack("{s:o, s:o}", "train", train, "eval", eval));
  json_object_set_new(j->result, "layers", layers);
  json_object_set_new(j->result, "spectra", spectra);
  json_object_set_new(j->result, "sharpness", sharp);
  rc |= append_rows(prepare(db, k_layers_sql, run, 0, 0, 0, NULL), layers, NULL,
                    NULL);
  if (j->q.points > 0) {
    rc |= curve_downsampled(db, run, "train", 6, j->q.points, train);
    rc |= curve_downsampled(db, run, "eval", 2, j->q.points, eval);
    rc |= thinned(db, run, "spectra", k_spectra_sql, j->q.points, spectra);
    rc |= thinned(db, run, "sharpness", k_sharp_sql, j->q.points, sharp);
    return rc;
  }
  end = page_end(db, run, after);
  rc |= curve_rows(db, run, "train", 6, after, end, train);
  rc |= curve_rows(db, run, "eval", 2, after, end, eval);
  rc |= append_rows(prepare(db, k_spectra_sql, run, after, end, 0, NULL),
                    spectra, NULL, NULL);
  rc |= append_rows(prepare(db, k_sharp_sql, run, after, end, 0, NULL), sharp,
                    NULL, NULL);
  json_object_set_new(j->result, "next",
                      end == NO_STEP ? json_null() : json_integer(end));
  return rc;
}

static void run_work(uv_work_t *req) {
  run_job *j = req->data;
  int rc;
  la_testpoint("run_read");
  if (sqlite3_open_v2(j->db_path, &j->db, SQLITE_OPEN_READONLY, NULL) !=
          SQLITE_OK ||
      sqlite3_busy_timeout(j->db, 5000)) {
    rc = LA_EIO;
  } else {
    /* one read transaction: every part from the same snapshot */
    sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL);
    if ((rc = read_head(j)) == 0) rc = read_body(j);
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
  }
  if (rc < 0) {
    j->status = 500;
    snprintf(j->msg, sizeof j->msg, "database: %s",
             j->db ? sqlite3_errmsg(j->db) : "cannot open");
    json_decref(j->result);
    j->result = NULL;
  }
  sqlite3_close(j->db);
  j->db = NULL;
  if (j->result) j->text = la_json_text(j->result);
  json_decref(j->result);
  j->result = NULL;
}

static void run_done(uv_work_t *req, int status) {
  run_job *j = req->data;
  if (status != 0 && j->status == 0)
    j->status = 500, snprintf(j->msg, sizeof j->msg, "cancelled");
  if (j->status == 0 && j->text == NULL)
    j->status = 500, snprintf(j->msg, sizeof j->msg, "out of memory");
  if (j->status)
    j->cb(NULL, 0, NULL, j->status, j->msg, j->arg);
  else
    j->cb(j->text, strlen(j->text), j->owner, 200, NULL, j->arg);
  free(j->text);
  free(j->db_path);
  free(j);
}

void la_run_read(uv_loop_t *loop, const char *db_path, const la_run_query *q,
                 la_run_read_cb cb, void *arg) {
  run_job *j = calloc(1, sizeof *j);
  if (j == NULL || (j->db_path = strdup(db_path)) == NULL) {
    free(j);
    return cb(NULL, 0, NULL, 500, "out of memory", arg);
  }
  j->req.data = j, j->q = *q, j->cb = cb, j->arg = arg;
  if (uv_queue_work(loop, &j->req, run_work, run_done)) {
    free(j->db_path), free(j);
    cb(NULL, 0, NULL, 500, "cannot queue work", arg);
  }
}
