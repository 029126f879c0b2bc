/* store.c: the SQLite store, write side (see store.h); reads are in
 * store_read.c. */
#include "store_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const char *const la_migrations[];
extern const int la_n_migrations;

/* SQL of every cached statement, indexed by the st_* enum. */
static const char *const k_sql[N_STMT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INS_SWEEP] =
        "INSERT INTO sweeps (name, spec, priority, max_parallel, max_attempts, "
        "seed, n_runs, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_RUN] = "INSERT INTO runs (sweep_id, idx, rank, alpha, lr, "
                   "seed_index, seed, config, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_CURVE] = "INSERT OR REPLACE INTO curve (run_id, kind, step, loss, "
                     "lr, grad_norm_a, grad_norm_b, update_norm) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_LAYER] =
        "INSERT OR REPLACE INTO layers (run_id, layer, d_in, "
        "d_out, sigma_max_w0, target_norm) VALUES (?, ?, ?, ?, ?, ?)",
    [ST_INS_SPECTRA] = "INSERT OR REPLACE INTO spectra (run_id, step, layer, "
                       "sigma_max, fro, stable_rank, sv) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_DRIFT] = "INSERT OR REPLACE INTO drift (run_id, step, layer, "
                     "signal, drift, drift_ratio, cos_target, rel_err, "
                     "tf_signal, tf_drift, mech_ratio, a_drift) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_SHARP] = "INSERT OR REPLACE INTO sharpness (run_id, step, lora, "
                     "full, ratio, lora_iters, full_iters, rows) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_DEL_CURVE] = "DELETE FROM curve WHERE run_id = ?",
    [ST_DEL_LAYERS] = "DELETE FROM layers WHERE run_id = ?",
    [ST_DEL_SPECTRA] = "DELETE FROM spectra WHERE run_id = ?",
    [ST_DEL_DRIFT] = "DELETE FROM drift WHERE run_id = ?",
    [ST_DEL_SHARP] = "DELETE FROM sharpness WHERE run_id = ?",
    [ST_START_RUN] = "UPDATE runs SET state = 'running', attempts = attempts + "
                     "1, started_at = ?, finished_at = NULL, error = NULL "
                     "WHERE id = ? AND state = 'queued'",
    [ST_FINISH_RUN] =
        "UPDATE runs SET state = ?, finished_at = ?, steps_done = ?, "
        "final_train_loss = ?, final_eval_loss = ?, best_eval_loss = ?, "
        "best_step = ?, wall_s = ?, error = ?, attempts = attempts - ? "
        "WHERE id = ?",
    [ST_SWEEP_OF_RUN] = "SELECT sweep_id FROM runs WHERE id = ?",
    [ST_SWEEP_LIVE] = "SELECT COUNT(*) FROM runs WHERE sweep_id = ? AND state "
                      "IN ('queued', 'running')",
    [ST_SWEEP_DONE] = "UPDATE sweeps SET state = 'done', finished_at = ? "
                      "WHERE id = ? AND state = 'active'",
    [ST_ACTIVE_SWEEPS] =
        "SELECT s.id, s.max_parallel, s.max_attempts, (SELECT COUNT(*) FROM "
        "runs x WHERE x.sweep_id = s.id AND x.state = 'running') FROM sweeps s "
        "WHERE s.state = 'active' ORDER BY s.priority DESC, s.id",
    [ST_QUEUED_OF_SWEEP] = "SELECT id, attempts, config FROM runs WHERE "
                           "sweep_id = ? AND state = 'queued' ORDER BY id "
                           "LIMIT ?",
    [ST_RUNNING_IDS] = "SELECT id FROM runs WHERE state = 'running'",
    [ST_REQUEUE] = "UPDATE runs SET state = 'queued', attempts = max(attempts "
                   "- 1, 0) WHERE state = 'running'",
    [ST_CANCEL_SWEEP] = "UPDATE sweeps SET state = 'cancelled', finished_at = "
                        "? WHERE id = ? AND state = 'active'",
    [ST_CANCEL_RUNS] = "UPDATE runs SET state = 'cancelled', finished_at = ? "
                       "WHERE sweep_id = ? AND state = 'queued'",
    [ST_SWEEP_EXISTS] = "SELECT state FROM sweeps WHERE id = ?",
    [ST_COUNT_STATES] = "SELECT state, COUNT(*) FROM runs GROUP BY state",
    [RD_LIST_SWEEPS] = "SELECT id, name, state, priority, max_parallel, "
                       "max_attempts, seed, n_runs, created_at, finished_at "
                       "FROM sweeps ORDER BY id DESC",
    [RD_SWEEP_COUNTS] = "SELECT state, COUNT(*) FROM runs WHERE sweep_id = ? "
                        "GROUP BY state",
    [RD_GET_SWEEP] = "SELECT id, name, state, priority, max_parallel, "
                     "max_attempts, seed, n_runs, created_at, finished_at "
                     "FROM sweeps WHERE id = ?",
    [RD_SWEEP_SPEC] = "SELECT spec FROM sweeps WHERE id = ?",
    [RD_GET_RUN] = "SELECT id, sweep_id, idx, rank, alpha, lr, seed_index, "
                   "seed, state, attempts, created_at, started_at, "
                   "finished_at, steps_done, final_train_loss, "
                   "final_eval_loss, best_eval_loss, best_step, wall_s, error, "
                   "config FROM runs WHERE id = ?",
    [RD_RUN_CURVE] = "SELECT kind, step, loss, lr, grad_norm_a, grad_norm_b, "
                     "update_norm FROM curve WHERE run_id = ? ORDER BY kind, "
                     "step",
    [RD_RUN_LAYERS] = "SELECT layer, d_in, d_out, sigma_max_w0, target_norm "
                      "FROM layers WHERE run_id = ? ORDER BY layer",
    [RD_RUN_SPECTRA] =
        "SELECT s.step, s.layer, s.sigma_max, s.fro, s.stable_rank, s.sv, "
        "d.signal, d.drift, d.drift_ratio, d.cos_target, d.rel_err, "
        "d.tf_signal, d.tf_drift, d.mech_ratio, d.a_drift FROM spectra s "
        "LEFT JOIN drift d ON d.run_id = s.run_id AND d.step = s.step AND "
        "d.layer = s.layer WHERE s.run_id = ? ORDER BY s.step, s.layer",
    [RD_RUN_SHARP] = "SELECT step, lora, full, ratio, lora_iters, full_iters, "
                     "rows FROM sharpness WHERE run_id = ? ORDER BY step",
};

double la_store_now(void) {
  return la_time_unix();
}

int la_store_fail(la_store *st, la_err *err, const char *what) {
  st->stats.errors++;
  if (sqlite3_errcode(st->db) == SQLITE_FULL ||
      sqlite3_system_errno(st->db) == ENOSPC) {
    st->stats.full_errors++;
    st->disk_full = 1;
  }
  return la_errf(err, LA_EIO, "database: %s: %s", what, sqlite3_errmsg(st->db));
}

int la_store_disk_full(const la_store *st) {
  return st->disk_full;
}

sqlite3_stmt *la_store_stmt(la_store *st, int which) {
  sqlite3_stmt *s = st->stmt[which];
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

/* Runs a statement that returns no rows to completion. */
int la_store_exec(la_store *st, int which) {
  int rc = sqlite3_step(st->stmt[which]);
  sqlite3_reset(st->stmt[which]);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : LA_EIO;
}

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int la_store_begin(la_store *st) {
  la_store_stmt(st, ST_BEGIN);
  return la_store_exec(st, ST_BEGIN);
}

int la_store_commit(la_store *st) {
  la_store_stmt(st, ST_COMMIT);
  if (la_store_exec(st, ST_COMMIT)) return LA_EIO;
  st->stats.transactions++;
  st->disk_full = 0;
  return 0;
}

void la_store_rollback(la_store *st) {
  if (sqlite3_get_autocommit(st->db)) return;
  la_store_stmt(st, ST_ROLLBACK);
  la_store_exec(st, ST_ROLLBACK);
}

/* Applies the migrations past the database's user_version. */
static int migrate(la_store *st, la_err *err) {
  sqlite3_stmt *q;
  int have = 0;
  if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL))
    return la_store_fail(st, err, "reading the schema version");
  if (sqlite3_step(q) == SQLITE_ROW) have = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  if (have > la_n_migrations)
    return la_errf(err, LA_EINVAL,
                   "database: schema version %d is newer than this loralpha "
                   "knows (%d)",
                   have, la_n_migrations);
  for (int v = have; v < la_n_migrations; v++) {
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) ||
        sqlite3_exec(st->db, la_migrations[v], NULL, NULL, NULL) ||
        sqlite3_exec(st->db, pragma, NULL, NULL, NULL) ||
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL)) {
      la_store_fail(st, err, "applying a migration");
      sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
      return LA_EIO;
    }
  }
  st->version = la_n_migrations;
  return 0;
}

/* WAL, a busy timeout, and the pragmas the daemon wants. */
static int configure(la_store *st, la_err *err) {
  static const char *const pragmas =
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
      "PRAGMA temp_store = MEMORY;";
  sqlite3_busy_timeout(st->db, 5000);
  if (sqlite3_exec(st->db, pragmas, NULL, NULL, NULL))
    return la_store_fail(st, err, "setting WAL mode");
  return 0;
}

static int prepare_all(la_store *st, la_err *err) {
  for (int i = 0; i < N_STMT; i++)
    if (sqlite3_prepare_v3(st->db, k_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                           &st->stmt[i], NULL))
      return la_store_fail(st, err, "preparing a statement");
  return 0;
}

int la_store_open(const char *path, la_store **out, la_err *err) {
  la_store *st = calloc(1, sizeof *st);
  int rc;
  *out = NULL;
  if (st == NULL) return la_errf(err, LA_ENOMEM, "database: out of memory");
  if (sqlite3_open_v2(path, &st->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    rc = la_errf(err, LA_EIO, "database %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "cannot open");
    la_store_close(st);
    return rc;
  }
  if ((rc = configure(st, err)) || (rc = migrate(st, err)) ||
      (rc = prepare_all(st, err))) {
    la_store_close(st);
    return rc;
  }
  *out = st;
  return 0;
}

void la_store_close(la_store *st) {
  if (st == NULL) return;
  for (size_t i = 0; i < st->n_pending; i++)
    json_decref(st->pending[i].rec);
  free(st->pending);
  for (int i = 0; i < N_STMT; i++)
    sqlite3_finalize(st->stmt[i]);
  sqlite3_close(st->db);
  free(st);
}

int la_store_schema_version(const la_store *st) {
  return st->version;
}

void la_store_stats_get(const la_store *st, la_store_stats *out) {
  *out = st->stats;
  out->pending_rows = st->n_pending;
}

/* Deletes every metric row of a run (inside the caller's transaction). */
int la_store_delete_rows(la_store *st, int64_t run_id) {
  static const int del[] = {ST_DEL_CURVE, ST_DEL_LAYERS, ST_DEL_SPECTRA,
                            ST_DEL_DRIFT, ST_DEL_SHARP};
  for (size_t i = 0; i < sizeof del / sizeof del[0]; i++) {
    sqlite3_bind_int64(la_store_stmt(st, del[i]), 1, run_id);
    if (la_store_exec(st, del[i])) return LA_EIO;
  }
  return 0;
}

int la_store_requeue_running(la_store *st, int *n, la_err *err) {
  sqlite3_stmt *q;
  int rc = la_store_begin(st);
  *n = 0;
  if (rc) return la_store_fail(st, err, "requeueing runs");
  q = la_store_stmt(st, ST_RUNNING_IDS);
  while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(q, 0);
    (*n)++;
    rc = la_store_delete_rows(st, id);
  }
  sqlite3_reset(q);
  la_store_stmt(st, ST_REQUEUE);
  if (rc == 0) la_testpoint("requeue");
  if (rc || la_store_exec(st, ST_REQUEUE) || la_store_commit(st)) {
    la_store_fail(st, err, "requeueing runs");
    la_store_rollback(st);
    return LA_EIO;
  }
  return 0;
}

/* Inserts one run of a sweep (inside the caller's transaction). */
static int insert_run(la_store *st, int64_t sweep_id, const la_spec *spec,
                      size_t idx, double now) {
  const la_spec_run *r = &spec->runs[idx];
  json_t *config =
      r->config ? json_incref(r->config) : la_spec_run_config(spec, idx);
  char *cfg = config
                  ? json_dumps(config, JSON_COMPACT | JSON_REAL_PRECISION(17))
                  : NULL;
  json_decref(config);
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_RUN);
  int rc;
  if (cfg == NULL) return LA_ENOMEM;
  sqlite3_bind_int64(q, 1, sweep_id);
  sqlite3_bind_int64(q, 2, (int64_t)idx);
  sqlite3_bind_int(q, 3, r->rank);
  sqlite3_bind_double(q, 4, r->alpha);
  sqlite3_bind_double(q, 5, r->lr);
  sqlite3_bind_int(q, 6, r->seed_index);
  sqlite3_bind_int64(q, 7, (int64_t)r->seed);
  sqlite3_bind_text(q, 8, cfg, -1, free);
  sqlite3_bind_double(q, 9, now);
  rc = la_store_exec(st, ST_INS_RUN);
  return rc;
}

/* Inserts the sweep row; *id gets its id. */
static int insert_sweep(la_store *st, const la_spec *spec, double now,
                        int64_t *id) {
  char *text =
      json_dumps(spec->normalized, JSON_COMPACT | JSON_REAL_PRECISION(17));
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_SWEEP);
  if (text == NULL) return LA_ENOMEM;
  sqlite3_bind_text(q, 1, spec->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(q, 2, text, -1, free);
  sqlite3_bind_int(q, 3, spec->priority);
  sqlite3_bind_int(q, 4, spec->max_parallel);
  sqlite3_bind_int(q, 5, spec->max_attempts);
  sqlite3_bind_int64(q, 6, (int64_t)spec->seed);
  sqlite3_bind_int64(q, 7, (int64_t)spec->n_runs);
  sqlite3_bind_double(q, 8, now);
  if (la_store_exec(st, ST_INS_SWEEP)) return LA_EIO;
  *id = sqlite3_last_insert_rowid(st->db);
  return 0;
}

int la_store_create_sweep(la_store *st, const la_spec *spec, int64_t *sweep_id,
                          la_err *err) {
  double now = la_store_now();
  int rc = la_store_begin(st);
  if (rc == 0) rc = insert_sweep(st, spec, now, sweep_id);
  for (size_t i = 0; rc == 0 && i < spec->n_runs; i++)
    rc = insert_run(st, *sweep_id, spec, i, now);
  if (rc == 0) la_testpoint("create");
  if (rc == 0) rc = la_store_commit(st);
  if (rc) {
    la_store_fail(st, err, "storing the sweep");
    la_store_rollback(st);
    return LA_EIO;
  }
  return 0;
}

void la_run_ticket_clear(la_run_ticket *t) {
  free(t->config);
  memset(t, 0, sizeof *t);
}

/* Appends up to want queued runs of one sweep to out[*n]. */
static int take_queued(la_store *st, int64_t sweep_id, int max_attempts,
                       int want, la_run_ticket *out, int *n) {
  sqlite3_stmt *q = la_store_stmt(st, ST_QUEUED_OF_SWEEP);
  sqlite3_bind_int64(q, 1, sweep_id);
  sqlite3_bind_int(q, 2, want);
  while (sqlite3_step(q) == SQLITE_ROW) {
    la_run_ticket *t = &out[(*n)++];
    t->run_id = sqlite3_column_int64(q, 0);
    t->sweep_id = sweep_id;
    t->attempts = sqlite3_column_int(q, 1);
    t->max_attempts = max_attempts;
    t->config = strdup((const char *)sqlite3_column_text(q, 2));
    if (t->config == NULL) {
      sqlite3_reset(q);
      return LA_ENOMEM;
    }
  }
  sqlite3_reset(q);
  return 0;
}

int la_store_next_runs(la_store *st, la_run_ticket *out, int max, la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_ACTIVE_SWEEPS);
  int n = 0, rc = 0;
  int64_t ids[64];
  int want[64], attempts[64], k = 0;
  /* collect first: the per-sweep query reuses the connection */
  while (k < 64 && sqlite3_step(q) == SQLITE_ROW) {
    int par = sqlite3_column_int(q, 1), running = sqlite3_column_int(q, 3);
    int room = par > 0 ? par - running : max;
    if (room <= 0) continue;
    ids[k] = sqlite3_column_int64(q, 0);
    attempts[k] = sqlite3_column_int(q, 2);
    want[k++] = room;
  }
  sqlite3_reset(q);
  for (int i = 0; rc == 0 && i < k && n < max; i++)
    rc = take_queued(st, ids[i], attempts[i],
                     want[i] < max - n ? want[i] : max - n, out, &n);
  if (rc) {
    for (int i = 0; i < n; i++)
      la_run_ticket_clear(&out[i]);
    return la_errf(err, rc, "database: out of memory");
  }
  return n;
}

int la_store_start_run(la_store *st, int64_t run_id, la_err *err) {
  sqlite3_stmt *q;
  int rc = la_store_begin(st);
  if (rc == 0) rc = la_store_delete_rows(st, run_id);
  if (rc == 0) {
    q = la_store_stmt(st, ST_START_RUN);
    sqlite3_bind_double(q, 1, la_store_now());
    sqlite3_bind_int64(q, 2, run_id);
    rc = la_store_exec(st, ST_START_RUN);
  }
  if (rc == 0 && sqlite3_changes(st->db) != 1) rc = LA_EINVAL;
  if (rc == 0) rc = la_store_commit(st);
  if (rc) {
    la_store_rollback(st);
    return rc == LA_EINVAL
               ? la_errf(err, rc, "run %lld is not queued", (long long)run_id)
               : la_store_fail(st, err, "starting a run");
  }
  return 0;
}
