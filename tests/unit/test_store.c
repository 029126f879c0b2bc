/*
 * test_store.c: the SQLite store on a real file: migrations, sweeps and
 * runs in transactions, scheduling order and limits, metric rows (read back
 * through a second connection, as the sqlite3 CLI would), finishing,
 * retries, requeueing after a crash, cancelling, deleting a sweep, the
 * API's reads, the best_alpha view and the sharpness views.
 */
#include "check.h"
#include "loralpha/store.h"
#include "sched/fairshare.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64], g_db[128];

/* A hand-built spec of n runs: ranks 1..n, alpha = 2 * rank, lr 0.01. */
static la_spec *make_spec(const char *name, int n, int priority,
                          int max_parallel, int max_attempts) {
  la_spec *s = calloc(1, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", name);
  s->priority = priority, s->max_parallel = max_parallel;
  s->max_attempts = max_attempts, s->seed = 7;
  s->normalized = json_pack("{s:s}", "name", name);
  s->n_runs = (size_t)n;
  s->runs = calloc((size_t)n, sizeof *s->runs);
  for (int i = 0; i < n; i++) {
    la_spec_run *r = &s->runs[i];
    r->rank = i + 1, r->alpha = 2.0 * (i + 1), r->lr = 0.01, r->seed_index = 0;
    r->seed = 100 + (uint64_t)i;
    r->config = json_pack("{s:s, s:i, s:f}", "task", "teacher", "rank", i + 1,
                          "alpha", r->alpha);
  }
  return s;
}

static void free_spec(la_spec *s) {
  for (size_t i = 0; i < s->n_runs; i++)
    json_decref(s->runs[i].config);
  free(s->runs);
  json_decref(s->normalized);
  free(s);
}

/* A single integer from a query on a second connection (like sqlite3 CLI). */
static long long query_int(const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *q;
  long long v = -1;
  sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READONLY, NULL);
  if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int64(q, 0);
  else
    fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(db));
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

static double query_real(const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *q;
  double v = NAN;
  sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READONLY, NULL);
  if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_double(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

static la_run_result result(const char *state, double loss) {
  la_run_result r = {state, 10, loss * 1.1, loss, loss * 0.9, 1.5, 8, NULL, 0};
  return r;
}

/* Adds a worker's records for a run, parsed from JSON text. */
static void add(la_store *st, int64_t run, const char *text) {
  la_record rec;
  la_err err;
  int rc = la_record_parse(text, strlen(text), &rec, &err);
  if (rc) fprintf(stderr, "%s: %s\n", text, err.msg);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(la_store_take_record(st, run, &rec), 0);
}

static void check_migrations(void) {
  la_store *st;
  la_err err;
  CHECK_EQ_INT(la_store_open(g_db, &st, &err), 0);
  int v = la_store_schema_version(st);
  CHECK(v >= 2);
  la_store_close(st);
  CHECK_EQ_INT(la_store_open(g_db, &st, &err),
               0); /* reopening applies nothing */
  CHECK_EQ_INT(la_store_schema_version(st), v);
  la_store_close(st);
  CHECK_EQ_INT(query_int("PRAGMA user_version"), v);
  char mode[16] = "";
  sqlite3 *db;
  sqlite3_stmt *q;
  sqlite3_open(g_db, &db);
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL);
  if (sqlite3_step(q) == SQLITE_ROW)
    snprintf(mode, sizeof mode, "%s", sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  sqlite3_close(db);
  CHECK(strcmp(mode, "wal") == 0);
}

extern const char *const la_migrations[];
extern const int la_n_migrations;

/* Migration 006's la_sha256, which a database migrated by hand needs. */
static void fake_sha256(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc, (void)argv;
  sqlite3_result_text(ctx, "0", 1, SQLITE_STATIC);
}

/* A database from before the sharpness flags (the migrations up to the one
 * that adds them) with an old worker's row: the store migrates it, the row
 * keeps its values with unknown (NULL) flags, and the summary keeps it. */
static void check_sharpness_migration(void) {
  char path[128];
  sqlite3 *db = NULL;
  la_store *st = NULL;
  la_err err;
  int v = 0;
  snprintf(path, sizeof path, "%s/old.db", g_dir);
  while (v < la_n_migrations &&
         strstr(la_migrations[v], "ADD COLUMN lora_converged") == NULL)
    v++;
  CHECK(v < la_n_migrations);
  CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_create_function(db, "la_sha256", 1, SQLITE_UTF8, NULL, fake_sha256,
                          NULL, NULL);
  for (int i = 0; i < v; i++)
    CHECK_EQ_INT(sqlite3_exec(db, la_migrations[i], NULL, NULL, NULL),
                 SQLITE_OK);
  char sql[512];
  snprintf(sql, sizeof sql,
           "INSERT INTO sweeps (id, name, spec, seed, n_runs, created_at, "
           "owner) VALUES (1, 'old', '{}', 0, 1, 0, 'alice'); INSERT INTO "
           "runs (id, sweep_id, idx, rank, alpha, lr, seed_index, seed, "
           "config, created_at, state) VALUES (1, 1, 0, 4, 8, 0.001, 0, 0, "
           "'{}', 0, 'done'); INSERT INTO sharpness (run_id, step, lora, "
           "full, ratio, lora_iters, full_iters, rows) VALUES (1, 100, 6.0, "
           "3.0, 2.0, 20, 20, 256); PRAGMA user_version = %d;",
           v);
  CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  CHECK_EQ_INT(la_store_open(path, &st, &err), 0);
  CHECK_EQ_INT(la_store_schema_version(st), la_n_migrations);
  la_store_close(st);
  snprintf(g_db, sizeof g_db, "%s", path); /* query_* read g_db */
  CHECK_EQ_INT(query_int("SELECT COUNT(*) FROM sharpness WHERE lora = 6 AND "
                         "lora_iters = 20 AND lora_converged IS NULL AND "
                         "full_converged IS NULL AND lora_residual IS NULL"),
               1);
  CHECK_CLOSE(query_real("SELECT lora FROM sharpness_by_alpha WHERE "
                         "sweep_id = 1 AND lora_n = 1 AND lora_unconverged "
                         "= 0"),
              6.0, 0);
  snprintf(g_db, sizeof g_db, "%s/t.db", g_dir);
}

/* Priority first, then FIFO; max_parallel per sweep. */
static void check_scheduling_order(la_store *st, int64_t *low, int64_t *high) {
  la_err err;
  la_spec *a = make_spec("low", 3, 0, 0, 2), *b = make_spec("high", 4, 5, 2, 2);
  la_run_ticket t[16];
  CHECK_EQ_INT(la_store_create_sweep(st, a, "alice", low, &err), 0);
  CHECK_EQ_INT(la_store_create_sweep(st, b, "alice", high, &err), 0);
  CHECK_EQ_INT(query_int("SELECT COUNT(*) FROM runs"), 7);
  int n = la_fairshare_next_runs(st, t, 16, NULL, &err);
  CHECK_EQ_INT(n, 5); /* 2 of "high" (max_parallel), then 3 of "low" */
  CHECK_EQ_INT(t[0].sweep_id, *high);
  CHECK_EQ_INT(t[1].sweep_id, *high);
  /* within a sweep the largest rank first (make_spec: rank i + 1) */
  CHECK(t[0].run_id > t[1].run_id);
  CHECK_EQ_INT(t[2].sweep_id, *low);
  CHECK(n == 5 && t[2].run_id > t[3].run_id && t[3].run_id > t[4].run_id);
  CHECK(t[2].config != NULL && strstr(t[2].config, "\"teacher\"") != NULL);
  CHECK_EQ_INT(t[0].max_attempts, 2);
  for (int i = 0; i < n; i++)
    la_run_ticket_clear(&t[i]);
  n = la_fairshare_next_runs(st, t, 1, NULL, &err);
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(la_store_start_run(st, t[0].run_id, &err), 0);
  CHECK(la_store_start_run(st, t[0].run_id, &err) != 0); /* not queued now */
  la_run_ticket_clear(&t[0]);
  free_spec(a), free_spec(b);
}

/* Rows are written in batches, readable from another connection, and a
 * finished run carries its result; the sweep ends when its runs have. */
static void check_rows_and_finish(la_store *st, int64_t sweep) {
  la_err err;
  la_run_ticket t[8];
  char sql[256];
  int n = la_fairshare_next_runs(st, t, 8, NULL, &err);
  int64_t run = -1;
  for (int i = 0; i < n; i++) {
    if (t[i].sweep_id == sweep && run < 0) run = t[i].run_id;
    la_run_ticket_clear(&t[i]);
  }
  CHECK(run > 0);
  CHECK_EQ_INT(la_store_start_run(st, run, &err), 0);
  add(st, run,
      "{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4,"
      "\"sigma_max_w0\":1.5,\"target_norm\":2}]}");
  add(st, run, "{\"type\":\"eval\",\"step\":0,\"loss\":1.0}");
  for (int k = 1; k <= 5; k++) {
    char rec[160];
    snprintf(rec, sizeof rec,
             "{\"type\":\"train\",\"step\":%d,\"loss\":%g,\"lr\":0.01}", k,
             1.0 / k);
    add(st, run, rec);
  }
  add(st, run,
      "{\"type\":\"spectra\",\"step\":5,\"layer\":0,\"sigma_max\":0.5,\"fro\":"
      "0.7,"
      "\"stable_rank\":1.9,\"sv\":[0.5,0.49],\"drift_ratio\":null,\"mech_"
      "ratio\":0.3}");
  add(st, run,
      "{\"type\":\"sharpness\",\"step\":5,\"lora\":3.0,\"full\":1.5,\"ratio\":"
      "2.0}");
  add(st, run,
      "{\"type\":\"done\",\"status\":\"done\",\"steps\":5}"); /* no row */
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM curve WHERE run_id = %lld",
           (long long)run);
  CHECK_EQ_INT(query_int(sql), 0); /* not flushed yet */
  CHECK_EQ_INT(la_store_flush(st, &err), 0);
  CHECK_EQ_INT(query_int(sql), 6);
  la_run_result r = result("done", 0.25);
  add(st, run, "{\"type\":\"eval\",\"step\":5,\"loss\":0.25}");
  CHECK_EQ_INT(la_store_finish_run(st, run, &r, &err),
               0); /* flushes the last row */
  CHECK_EQ_INT(query_int(sql), 7);
  snprintf(
      sql, sizeof sql,
      "SELECT COUNT(*) FROM spectra s JOIN drift d USING (run_id, step, layer) "
      "WHERE run_id = %lld AND d.drift_ratio IS NULL",
      (long long)run);
  CHECK_EQ_INT(query_int(sql), 1);
  snprintf(
      sql, sizeof sql,
      "SELECT final_eval_loss FROM runs WHERE id = %lld AND state = 'done'",
      (long long)run);
  CHECK_CLOSE(query_real(sql), 0.25, 1e-12);
  la_record bad;
  CHECK_EQ_INT(
      la_record_parse("{\"type\":\"train\",\"loss\":1}", 24, &bad, &err),
      LA_EINVAL); /* no step */
  /* the run's rows as stored: 5 train points, a layer, a spectra row */
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM curve WHERE run_id = %lld AND kind = 'train'",
           (long long)run);
  CHECK_EQ_INT(query_int(sql), 5);
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM spectra WHERE run_id = %lld",
           (long long)run);
  CHECK_EQ_INT(query_int(sql), 1);
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM layers WHERE run_id = %lld",
           (long long)run);
  CHECK_EQ_INT(query_int(sql), 1);
  snprintf(sql, sizeof sql,
           "SELECT json_type(config) = 'object' FROM runs WHERE id = %lld",
           (long long)run);
  CHECK_EQ_INT(query_int(sql), 1);
}

/* A retry keeps the run queued with its error; a refunded attempt does not
 * count; a crash leaves runs 'running', which requeue fixes, rows deleted. */
static void check_retry_and_requeue(la_store *st, int64_t sweep) {
  la_err err;
  la_run_ticket t[8];
  char sql[200];
  int n = la_fairshare_next_runs(st, t, 8, NULL, &err), requeued = -1;
  int64_t run = -1;
  for (int i = 0; i < n; i++) {
    if (t[i].sweep_id == sweep && run < 0) run = t[i].run_id;
    la_run_ticket_clear(&t[i]);
  }
  CHECK_EQ_INT(la_store_start_run(st, run, &err), 0);
  la_run_result r = result("queued", NAN);
  r.error = "worker exited with status 1";
  CHECK_EQ_INT(la_store_finish_run(st, run, &r, &err), 0);
  snprintf(sql, sizeof sql,
           "SELECT attempts FROM runs WHERE id = %lld AND state = 'queued' "
           "AND error LIKE 'worker exited%%'",
           (long long)run);
  CHECK_EQ_INT(query_int(sql), 1);
  CHECK_EQ_INT(la_store_start_run(st, run, &err), 0);
  r.refund_attempt = 1, r.error = NULL;
  CHECK_EQ_INT(la_store_finish_run(st, run, &r, &err), 0);
  snprintf(sql, sizeof sql, "SELECT attempts FROM runs WHERE id = %lld",
           (long long)run);
  CHECK_EQ_INT(query_int(sql), 1);
  CHECK_EQ_INT(la_store_start_run(st, run, &err), 0);
  add(st, run, "{\"type\":\"eval\",\"step\":0,\"loss\":1.0}");
  CHECK_EQ_INT(la_store_flush(st, &err), 0);
  CHECK_EQ_INT(la_store_requeue_running(st, &requeued, &err), 0);
  CHECK(requeued >= 1);
  CHECK_EQ_INT(query_int("SELECT COUNT(*) FROM runs WHERE state = 'running'"),
               0);
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM curve WHERE run_id = %lld",
           (long long)run);
  CHECK_EQ_INT(query_int(sql), 0);
}

static void check_cancel_and_views(la_store *st, int64_t low, int64_t high) {
  la_err err;
  char sql[200];
  CHECK_EQ_INT(la_store_cancel_sweep(st, low, &err), 0);
  CHECK_EQ_INT(la_store_cancel_sweep(st, low, &err), 1);
  CHECK_EQ_INT(la_store_cancel_sweep(st, 424242, &err), LA_ENOTFOUND);
  snprintf(
      sql, sizeof sql,
      "SELECT COUNT(*) FROM runs WHERE sweep_id = %lld AND state = 'queued'",
      (long long)low);
  CHECK_EQ_INT(query_int(sql), 0);
  int64_t counts[LA_RUN_N_STATES], total = 0;
  CHECK_EQ_INT(la_store_count_states(st, counts, &err), 0);
  for (int i = 0; i < LA_RUN_N_STATES; i++)
    total += counts[i];
  CHECK_EQ_INT(total, 7);
  /* best_alpha: rank 1, two alphas with two seeds each; one diverged point */
  la_spec *s = make_spec("alphas", 6, 0, 0, 1);
  double alphas[6] = {1, 1, 4, 4, 16, 16},
         losses[6] = {0.5, 0.7, 0.2, 0.4, 0.1, 0.0};
  for (int i = 0; i < 6; i++)
    s->runs[i].rank = 1, s->runs[i].alpha = alphas[i],
    s->runs[i].seed_index = i % 2;
  int64_t id;
  CHECK_EQ_INT(la_store_create_sweep(st, s, "alice", &id, &err), 0);
  la_run_ticket t[16];
  int n = la_fairshare_next_runs(st, t, 16, NULL, &err);
  int64_t first = -1;
  for (int i = 0; i < n; i++)
    if (t[i].sweep_id == id && (first < 0 || t[i].run_id < first))
      first = t[i].run_id;
  for (int i = 0; i < n; i++) {
    if (t[i].sweep_id == id) {
      int k = (int)(t[i].run_id - first);
      la_store_start_run(st, t[i].run_id, &err);
      la_run_result r = result(
          alphas[k % 6] == 16 && k % 2 ? "diverged" : "done", losses[k % 6]);
      la_store_finish_run(st, t[i].run_id, &r, &err);
    }
    la_run_ticket_clear(&t[i]);
  }
  snprintf(sql, sizeof sql,
           "SELECT best_alpha FROM best_alpha WHERE sweep_id = %lld",
           (long long)id);
  CHECK_CLOSE(query_real(sql), 4.0, 1e-12); /* 16 has a diverged seed */
  snprintf(sql, sizeof sql,
           "SELECT mean_loss FROM best_alpha WHERE sweep_id = %lld",
           (long long)id);
  CHECK_CLOSE(query_real(sql), 0.3, 1e-12);
  snprintf(sql, sizeof sql, "SELECT state = 'done' FROM sweeps WHERE id = %lld",
           (long long)id);
  CHECK_EQ_INT(query_int(sql), 1);
  int rc;
  json_t *sw = la_store_get_sweep(st, high, &rc, &err);
  CHECK(sw != NULL && json_is_object(json_object_get(sw, "counts")));
  json_decref(sw);
  json_t *list = la_store_list_sweeps(st, NULL, &err);
  CHECK_EQ_INT(json_array_size(json_object_get(list, "sweeps")), 3);
  json_decref(list);
  free_spec(s);
}

/* Sharpness rows keep each estimate's residual and converged flag (NULL
 * for a record of an older worker); sharpness_converged blanks the
 * unconverged values and sharpness_by_alpha averages only what is left of
 * each finished run's last estimate. */
static void check_sharpness_rows(la_store *st) {
  static const char *const last[3] = {
      "{\"type\":\"sharpness\",\"step\":5,\"lora\":3.0,\"full\":1.5,\"ratio\":"
      "2.0,\"lora_iters\":12,\"lora_residual\":0.002,\"lora_converged\":true,"
      "\"full_iters\":9,\"full_residual\":0.001,\"full_converged\":true}",
      "{\"type\":\"sharpness\",\"step\":5,\"lora\":100.0,\"full\":2.5,"
      "\"ratio\":40.0,\"lora_iters\":50,\"lora_residual\":7.5,"
      "\"lora_converged\":false,\"full_iters\":20,\"full_residual\":0.002,"
      "\"full_converged\":true}",
      "{\"type\":\"sharpness\",\"step\":5,\"lora\":5.0,\"full\":2.0,\"ratio\":"
      "2.5,\"lora_iters\":20,\"full_iters\":20}"}; /* an older worker's */
  la_err err;
  char sql[300];
  la_spec *s = make_spec("sharp", 3, 9, 0, 1);
  int64_t id, first = -1;
  for (int i = 0; i < 3; i++)
    s->runs[i].rank = 2, s->runs[i].alpha = 8, s->runs[i].seed_index = i;
  CHECK_EQ_INT(la_store_create_sweep(st, s, "alice", &id, &err), 0);
  la_run_ticket t[16];
  int n = la_fairshare_next_runs(st, t, 16, NULL, &err);
  for (int i = 0; i < n; i++)
    if (t[i].sweep_id == id && (first < 0 || t[i].run_id < first))
      first = t[i].run_id;
  for (int i = 0; i < n; i++) {
    if (t[i].sweep_id == id) {
      int64_t run = t[i].run_id;
      la_run_result r = result("done", 0.1);
      CHECK_EQ_INT(la_store_start_run(st, run, &err), 0);
      add(st, run, /* an earlier, unconverged one: not the last estimate */
          "{\"type\":\"sharpness\",\"step\":0,\"lora\":-1.0,\"full\":0.5,"
          "\"lora_residual\":3,\"lora_converged\":false,\"full_converged\":"
          "false}");
      add(st, run, last[run - first]);
      CHECK_EQ_INT(la_store_finish_run(st, run, &r, &err), 0);
    }
    la_run_ticket_clear(&t[i]);
  }
  snprintf(sql, sizeof sql,
           "SELECT lora_residual FROM sharpness WHERE run_id = %lld AND "
           "step = 5 AND lora_converged = 0 AND full_converged = 1 AND "
           "lora_iters = 50",
           (long long)first + 1);
  CHECK_CLOSE(query_real(sql), 7.5, 0);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM sharpness WHERE run_id = %lld AND step = 5 "
           "AND lora_converged IS NULL AND full_converged IS NULL AND "
           "lora_residual IS NULL AND full_residual IS NULL",
           (long long)first + 2);
  CHECK_EQ_INT(query_int(sql), 1);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM sharpness_converged WHERE run_id = %lld AND "
           "step = 5 AND lora IS NULL AND ratio IS NULL AND full = 2.5",
           (long long)first + 1);
  CHECK_EQ_INT(query_int(sql), 1);
  snprintf(sql, sizeof sql,
           "SELECT lora FROM sharpness_by_alpha WHERE sweep_id = %lld AND "
           "rank = 2 AND alpha = 8 AND lora_n = 2 AND lora_unconverged = 1",
           (long long)id);
  CHECK_CLOSE(query_real(sql), 4.0, 1e-12); /* (3 + 5) / 2, not 100 */
  snprintf(sql, sizeof sql,
           "SELECT full FROM sharpness_by_alpha WHERE sweep_id = %lld AND "
           "full_n = 3 AND full_unconverged = 0 AND ratio_n = 2",
           (long long)id);
  CHECK_CLOSE(query_real(sql), 2.0, 1e-12);
  free_spec(s);
}

/* A text from a query on a second connection into buf ("" if none). */
static const char *query_text(const char *sql, char *buf, size_t size) {
  sqlite3 *db;
  sqlite3_stmt *q;
  buf[0] = '\0';
  sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READONLY, NULL);
  if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) != NULL)
    snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  sqlite3_close(db);
  return buf;
}

/* Starts run and ends its attempt failed (or retried) with error why. */
static void fail_attempt(la_store *st, int64_t run, const char *state,
                         const char *why) {
  la_err err;
  la_run_result r = result(state, NAN);
  r.error = why;
  CHECK_EQ_INT(la_store_start_run(st, run, &err), 0);
  CHECK_EQ_INT(la_store_finish_run(st, run, &r, &err), 0);
}

/* The sweep's state, error and fail_streak as "state|error|streak". */
static const char *sweep_row(int64_t id, char *buf, size_t size) {
  char sql[160];
  snprintf(sql, sizeof sql,
           "SELECT state || '|' || coalesce(error, '') || '|' || fail_streak "
           "FROM sweeps WHERE id = %lld",
           (long long)id);
  return query_text(sql, buf, size);
}

static void check_text_eq(const char *got, const char *want) {
  if (strcmp(got, want) != 0)
    printf("  expected: %s\n  actual:   %s\n", want, got);
  CHECK(strcmp(got, want) == 0);
}

/* Failed attempts in a row with the same error stop a sweep at the limit
 * (another error or a finished run starts the count again); a sweep with
 * no run done ends failed; a run left running by a dead daemon in a sweep
 * that ended meanwhile is cancelled at restart, not queued. */
static void check_fail_fast(void) {
  la_store *st;
  la_err err;
  int64_t a, b, c, first;
  int requeued;
  char buf[600], sql[300];
  la_spec *s = make_spec("fails", 6, 0, 0, 3);
  CHECK_EQ_INT(la_store_open(g_db, &st, &err), 0);
  la_store_set_fail_limit(st, 3);
  CHECK_EQ_INT(la_store_create_sweep(st, s, "alice", &a, &err), 0);
  first = query_int("SELECT MAX(id) FROM runs") - 5;
  fail_attempt(st, first, "queued", "boom");
  fail_attempt(st, first, "queued", "boom");
  check_text_eq(sweep_row(a, buf, sizeof buf), "active||2");
  fail_attempt(st, first + 1, "queued", "other");
  check_text_eq(sweep_row(a, buf, sizeof buf), "active||1");
  la_run_result ok = result("done", 0.5);
  CHECK_EQ_INT(la_store_start_run(st, first + 2, &err), 0);
  CHECK_EQ_INT(la_store_finish_run(st, first + 2, &ok, &err), 0);
  check_text_eq(sweep_row(a, buf, sizeof buf), "active||0");
  fail_attempt(st, first + 3, "queued", "boom");
  fail_attempt(st, first + 3, "queued", "boom");
  CHECK_EQ_INT(la_store_start_run(st, first + 4, &err), 0); /* running */
  fail_attempt(st, first, "failed", "boom");
  check_text_eq(sweep_row(a, buf, sizeof buf),
                "failed|stopped: 3 attempts in a row failed with the same "
                "error (2 runs hit; max_same_failures is 3): boom|3");
  snprintf(sql, sizeof sql,
           "SELECT group_concat(state, ',') FROM (SELECT state FROM runs "
           "WHERE sweep_id = %lld ORDER BY id)",
           (long long)a);
  check_text_eq(query_text(sql, buf, sizeof buf),
                "failed,cancelled,done,cancelled,running,cancelled");
  CHECK_EQ_INT(la_store_requeue_running(st, &requeued, &err), 0);
  snprintf(sql, sizeof sql,
           "SELECT state || ',' || (finished_at IS NOT NULL) FROM runs WHERE "
           "id = %lld",
           (long long)(first + 4));
  check_text_eq(query_text(sql, buf, sizeof buf), "cancelled,1");
  free_spec(s);
  /* every run failed: the sweep ends failed, saying so */
  s = make_spec("all fail", 2, 0, 0, 1);
  la_store_set_fail_limit(st, 0);
  CHECK_EQ_INT(la_store_create_sweep(st, s, "alice", &b, &err), 0);
  first = query_int("SELECT MAX(id) FROM runs") - 1;
  fail_attempt(st, first, "failed", "first error");
  fail_attempt(st, first + 1, "failed", "last error");
  check_text_eq(sweep_row(b, buf, sizeof buf),
                "failed|no run finished: 2 failed, 0 cancelled; the last "
                "error: last error|1");
  free_spec(s);
  /* one run diverged: done */
  s = make_spec("one diverged", 2, 0, 0, 1);
  CHECK_EQ_INT(la_store_create_sweep(st, s, "alice", &c, &err), 0);
  first = query_int("SELECT MAX(id) FROM runs") - 1;
  fail_attempt(st, first, "failed", "boom");
  la_run_result dv = result("diverged", 9.0);
  CHECK_EQ_INT(la_store_start_run(st, first + 1, &err), 0);
  CHECK_EQ_INT(la_store_finish_run(st, first + 1, &dv, &err), 0);
  check_text_eq(sweep_row(c, buf, sizeof buf), "done||0");
  free_spec(s);
  la_store_close(st);
}

/* Per-user caps for the fair-share test: "bob" may run one at a time. */
static int cap_bob(const char *user, void *ctx) {
  (void)ctx;
  return strcmp(user, "bob") == 0 ? 1 : -1;
}

/* alice was served more recently than bob. */
static uint64_t last_alice(const char *user, void *ctx) {
  (void)ctx;
  return strcmp(user, "alice") == 0 ? 7 : 3;
}

/* Counts tickets per sweep and starts them (committed running). */
static void start_all(la_store *st, la_run_ticket *t, int n, int64_t a, int *na,
                      int *nb) {
  la_err err;
  *na = *nb = 0;
  for (int i = 0; i < n; i++) {
    *na += t[i].sweep_id == a;
    *nb += t[i].sweep_id != a;
    CHECK_EQ_INT(la_store_start_run(st, t[i].run_id, &err), 0);
    la_run_ticket_clear(&t[i]);
  }
}

/* Fair share between users, caps, pause, windows, owners and patches, on
 * a database of their own. */
static void check_fair_share(void) {
  char path[300];
  la_store *st;
  la_err err;
  la_run_ticket t[16];
  int64_t a, b, c, q = -1;
  int na, nb, n, rc;
  /* alice's big sweep has the higher priority; bob's small one must not
   * wait for it */
  la_spec *big = make_spec("big", 12, 9, 0, 2),
          *small = make_spec("small", 3, 0, 0, 2);
  snprintf(path, sizeof path, "%s/fair.db", g_dir);
  CHECK_EQ_INT(la_store_open(path, &st, &err), 0);
  CHECK_EQ_INT(la_store_create_sweep(st, big, "alice", &a, &err), 0);
  CHECK_EQ_INT(la_store_create_sweep(st, small, "bob", &b, &err), 0);
  CHECK_EQ_INT(la_store_user_queued(st, "alice", &q, &err), 0);
  CHECK_EQ_INT(q, 12);
  /* equal running counts: the user served least recently goes first */
  la_pick_opts rr = {-1, NULL, last_alice, NULL, NULL};
  n = la_fairshare_next_runs(st, t, 1, &rr, &err);
  CHECK(n == 1 && t[0].sweep_id == b);
  for (int i = 0; i < n; i++)
    la_run_ticket_clear(&t[i]);
  n = la_fairshare_next_runs(st, t, 4, NULL, &err);
  CHECK_EQ_INT(n, 4);
  CHECK(n == 4 && t[0].sweep_id == a && t[1].sweep_id == b &&
        t[2].sweep_id == a && t[3].sweep_id == b);
  CHECK(n == 4 && strcmp(t[0].owner, "alice") == 0 &&
        strcmp(t[1].owner, "bob") == 0);
  /* never the same run twice; the largest rank first */
  CHECK(n == 4 && t[0].run_id > t[2].run_id);
  start_all(st, t, n, a, &na, &nb);
  CHECK_EQ_INT(na, 2);
  CHECK_EQ_INT(nb, 2);
  /* bob capped at one running: with two running, only alice gets runs */
  la_pick_opts pick = {-1, cap_bob, NULL, NULL, NULL};
  n = la_fairshare_next_runs(st, t, 3, &pick, &err);
  start_all(st, t, n, a, &na, &nb);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_INT(na, 3);
  /* a paused sweep gives nothing */
  CHECK_EQ_INT(la_store_set_paused(st, a, 1, &err), 0);
  n = la_fairshare_next_runs(st, t, 8, NULL, &err);
  start_all(st, t, n, a, &na, &nb);
  CHECK_EQ_INT(n, 1); /* bob's last run */
  CHECK_EQ_INT(nb, 1);
  json_t *sw = la_store_get_sweep(st, a, &rc, &err);
  CHECK(sw != NULL && json_is_true(json_object_get(sw, "paused")));
  CHECK(sw != NULL &&
        strcmp(json_string_value(json_object_get(sw, "owner")), "alice") == 0);
  CHECK(sw != NULL && json_is_null(json_object_get(sw, "window")));
  json_decref(sw);
  CHECK_EQ_INT(la_store_set_paused(st, a, 0, &err), 0);
  /* a window from 22:00 to 07:00: closed at noon, open at 23:30 and 06:59 */
  la_sweep_patch p;
  memset(&p, 0, sizeof p);
  p.has_window = 1;
  p.window = (la_window){1, 22 * 60, 7 * 60, 1};
  p.has_priority = 1, p.priority = -3;
  CHECK_EQ_INT(la_store_patch_sweep(st, a, &p, &err), 0);
  sw = la_store_get_sweep(st, a, &rc, &err);
  json_t *w = sw ? json_object_get(sw, "window") : NULL;
  CHECK(w != NULL &&
        strcmp(json_string_value(json_object_get(w, "start")), "22:00") == 0);
  CHECK(w != NULL && strcmp(json_string_value(json_object_get(w, "outside")),
                            "requeue") == 0);
  CHECK(sw != NULL &&
        json_integer_value(json_object_get(sw, "priority")) == -3);
  json_decref(sw);
  la_pick_opts noon = {12 * 60, NULL, NULL, NULL, NULL},
               night = {23 * 60 + 30, NULL, NULL, NULL, NULL},
               dawn = {6 * 60 + 59, NULL, NULL, NULL, NULL};
  CHECK_EQ_INT(la_fairshare_next_runs(st, t, 1, &noon, &err), 0);
  n = la_fairshare_next_runs(st, t, 1, &night, &err);
  CHECK_EQ_INT(n, 1);
  CHECK(n == 1 && t[0].window.enabled && t[0].window.requeue &&
        t[0].window.start_min == 22 * 60);
  for (int i = 0; i < n; i++)
    la_run_ticket_clear(&t[i]);
  n = la_fairshare_next_runs(st, t, 1, &dawn, &err);
  CHECK_EQ_INT(n, 1);
  for (int i = 0; i < n; i++)
    la_run_ticket_clear(&t[i]);
  /* owners: the list filtered by owner; sweeps from before owners adopted */
  json_t *list = la_store_list_sweeps(st, "bob", &err);
  CHECK_EQ_INT(json_array_size(json_object_get(list, "sweeps")), 1);
  json_decref(list);
  CHECK_EQ_INT(la_store_create_sweep(st, small, NULL, &c, &err), 0);
  char owner[64] = "?";
  CHECK_EQ_INT(la_store_sweep_owner(st, c, owner, sizeof owner), 0);
  CHECK(strcmp(owner, "") == 0);
  CHECK_EQ_INT(la_store_adopt_sweeps(st, "daemon-user", &err), 0);
  CHECK_EQ_INT(la_store_sweep_owner(st, c, owner, sizeof owner), 0);
  CHECK(strcmp(owner, "daemon-user") == 0);
  CHECK_EQ_INT(la_store_sweep_owner(st, 999, owner, sizeof owner),
               LA_ENOTFOUND);
  CHECK_EQ_INT(la_store_set_paused(st, 999, 1, &err), LA_ENOTFOUND);
  CHECK_EQ_INT(la_store_cancel_sweep(st, c, &err), 0);
  CHECK_EQ_INT(la_store_set_paused(st, c, 1, &err), 1); /* not active */
  CHECK_EQ_INT(la_store_patch_sweep(st, c, &p, &err), 1);
  la_store_close(st);
  free_spec(big), free_spec(small);
}

/* Runs sql on the database through a connection of its own. */
static void exec_sql(const char *sql) {
  sqlite3 *db;
  char *msg = NULL;
  sqlite3_open(g_db, &db);
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
  sqlite3_free(msg);
  sqlite3_close(db);
}

/* Rows the database refuses for their data (here a trigger stands for any
 * constraint the validation missed) fail their own run only: the flush
 * commits every other run's rows, later flushes work, and finishing the
 * refused run records it failed with the database's words. Before, the
 * refused rows stayed pending and every later write failed. */
static void check_refused_run(void) {
  la_store *st;
  la_err err;
  la_run_ticket t[64];
  la_spec *sp = make_spec("refused", 3, 100, 0, 1);
  int64_t sweep, run[3];
  char sql[256], why[256];
  CHECK_EQ_INT(la_store_open(g_db, &st, &err), 0);
  CHECK_EQ_INT(la_store_create_sweep(st, sp, "alice", &sweep, &err), 0);
  free_spec(sp);
  int n = la_fairshare_next_runs(st, t, 64, NULL, &err), k = 0;
  for (int i = 0; i < n; i++) {
    if (t[i].sweep_id == sweep && k < 3) run[k++] = t[i].run_id;
    la_run_ticket_clear(&t[i]);
  }
  CHECK_EQ_INT(k, 3);
  if (k < 3) return la_store_close(st);
  for (int i = 0; i < 3; i++)
    CHECK_EQ_INT(la_store_start_run(st, run[i], &err), 0);
  snprintf(sql, sizeof sql,
           "CREATE TRIGGER refuse BEFORE INSERT ON curve WHEN NEW.run_id = "
           "%lld BEGIN SELECT RAISE(ABORT, 'refused for the test'); END",
           (long long)run[1]);
  exec_sql(sql);
  for (int s = 0; s < 3; s++)
    for (int i = 0; i < 3; i++) {
      char rec[96];
      snprintf(rec, sizeof rec, "{\"type\":\"eval\",\"step\":%d,\"loss\":1}",
               s);
      add(st, run[i], rec);
    }
  CHECK_EQ_INT(la_store_flush(st, &err), 0);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM curve WHERE run_id IN (%lld, %lld)",
           (long long)run[0], (long long)run[2]);
  CHECK_EQ_INT(query_int(sql), 6);
  CHECK_EQ_INT(la_store_run_refused(st, run[0], why, sizeof why), 0);
  CHECK_EQ_INT(la_store_run_refused(st, run[1], why, sizeof why), 1);
  CHECK(strstr(why, "refused for the test") != NULL);
  la_store_stats ss;
  la_store_stats_get(st, &ss);
  CHECK_EQ_INT(ss.pending_rows, 0);
  /* later writes, of other runs and the refused one, go on */
  add(st, run[0], "{\"type\":\"eval\",\"step\":9,\"loss\":0.5}");
  add(st, run[1], "{\"type\":\"eval\",\"step\":9,\"loss\":0.5}");
  CHECK_EQ_INT(la_store_flush(st, &err), 0);
  CHECK_EQ_INT(query_int(sql), 7);
  la_run_result ok = result("done", 0.5);
  CHECK_EQ_INT(la_store_finish_run(st, run[0], &ok, &err), 0);
  CHECK_EQ_INT(la_store_finish_run(st, run[1], &ok, &err), 0);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM runs WHERE id = %lld AND state = 'failed' "
           "AND error LIKE '%%database refused its rows%%'",
           (long long)run[1]);
  CHECK_EQ_INT(query_int(sql), 1);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM runs WHERE id = %lld AND state = 'done'",
           (long long)run[0]);
  CHECK_EQ_INT(query_int(sql), 1);
  CHECK_EQ_INT(la_store_run_refused(st, run[1], why, sizeof why), 0);
  exec_sql("DROP TRIGGER refuse");
  la_store_close(st);
}

/* Rows of the sweep or its runs left in any table with a sweep_id or a
 * run_id column (and the sweep's own row). */
static long long rows_left(int64_t sweep, int64_t run0, int64_t run1) {
  static const char *const by_run[] = {"curve",   "layers",    "spectra",
                                       "drift",   "sharpness", "local_workers",
                                       "run_logs"};
  static const char *const by_sweep[] = {"alpha_star", "fits",       "regret",
                                         "analyses",   "slurm_jobs", "runs"};
  char sql[200];
  long long n = 0;
  for (size_t i = 0; i < sizeof by_run / sizeof by_run[0]; i++) {
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM %s WHERE run_id IN (%lld, %lld)", by_run[i],
             (long long)run0, (long long)run1);
    n += query_int(sql);
  }
  for (size_t i = 0; i < sizeof by_sweep / sizeof by_sweep[0]; i++) {
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE sweep_id = %lld",
             by_sweep[i], (long long)sweep);
    n += query_int(sql);
  }
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sweeps WHERE id = %lld",
           (long long)sweep);
  return n + query_int(sql);
}

/* Deleting a sweep: refused while it is active, while a run of it still
 * runs and while a Slurm job of it has not ended; then every row of it
 * goes in one transaction, an analysis that finishes afterwards stores
 * nothing, and its ids are never given again. */
static void check_delete_sweep(void) {
  la_store *st;
  la_err err;
  la_spec *sp = make_spec("delete", 2, 200, 0, 1);
  int64_t sweep, next, run[2] = {-1, -1};
  json_t *deleted = NULL, *empty = json_pack("{s:[]}", "checkpoints");
  la_run_ticket t[64];
  la_run_result cancelled = result("cancelled", 0.5);
  char sql[300];
  CHECK_EQ_INT(la_store_open(g_db, &st, &err), 0);
  CHECK_EQ_INT(la_store_create_sweep(st, sp, "alice", &sweep, &err), 0);
  int n = la_fairshare_next_runs(st, t, 64, NULL, &err), k = 0;
  for (int i = 0; i < n; i++) {
    if (t[i].sweep_id == sweep && k < 2) run[k++] = t[i].run_id;
    la_run_ticket_clear(&t[i]);
  }
  CHECK_EQ_INT(k, 2);
  CHECK_EQ_INT(la_store_delete_sweep(st, sweep, &deleted, &err), 1);
  CHECK(strstr(err.msg, "cancel it first") != NULL);
  CHECK_EQ_INT(la_store_start_run(st, run[0], &err), 0);
  add(st, run[0],
      "{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4,"
      "\"sigma_max_w0\":1.5,\"target_norm\":2}]}");
  add(st, run[0], "{\"type\":\"eval\",\"step\":0,\"loss\":1.0}");
  CHECK_EQ_INT(la_store_cancel_sweep(st, sweep, &err), 0);
  CHECK_EQ_INT(la_store_delete_sweep(st, sweep, &deleted, &err), 1);
  CHECK(strstr(err.msg, "1 run(s) whose worker is stopping") != NULL);
  add(st, run[0], "{\"type\":\"eval\",\"step\":1,\"loss\":0.9}");
  CHECK_EQ_INT(la_store_finish_run(st, run[0], &cancelled, &err), 0);
  CHECK_EQ_INT(la_store_save_analysis(st, sweep, empty, 1, 1.0, &err), 0);
  snprintf(sql, sizeof sql,
           "INSERT INTO slurm_jobs (run_id, sweep_id, attempt, task, "
           "token_sha256, state, script, submitted_at) VALUES (%lld, %lld, 1, "
           "0, '', 'submitted', '', 0)",
           (long long)run[1], (long long)sweep);
  exec_sql(sql);
  CHECK_EQ_INT(la_store_delete_sweep(st, sweep, &deleted, &err), 1);
  CHECK(strstr(err.msg, "1 Slurm job(s) not yet ended") != NULL);
  /* 2 runs, 2 curve rows, a layer, the analysis, the job, the sweep */
  CHECK_EQ_INT(rows_left(sweep, run[0], run[1]), 8);
  exec_sql("UPDATE slurm_jobs SET state = 'ended'");
  CHECK_EQ_INT(la_store_delete_sweep(st, sweep, &deleted, &err), 0);
  CHECK_EQ_INT(json_integer_value(json_object_get(deleted, "sweeps")), 1);
  CHECK_EQ_INT(json_integer_value(json_object_get(deleted, "runs")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(deleted, "curve")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(deleted, "layers")), 1);
  CHECK_EQ_INT(json_integer_value(json_object_get(deleted, "analyses")), 1);
  CHECK_EQ_INT(json_integer_value(json_object_get(deleted, "slurm_jobs")), 1);
  CHECK(json_object_get(deleted, "deleted_ids") == NULL);
  CHECK_EQ_INT(rows_left(sweep, run[0], run[1]), 0);
  json_decref(deleted);
  /* an analysis that ends after the delete stores nothing */
  CHECK_EQ_INT(la_store_save_analysis(st, sweep, empty, 1, 1.0, &err),
               LA_ENOTFOUND);
  CHECK_EQ_INT(rows_left(sweep, run[0], run[1]), 0);
  CHECK_EQ_INT(la_store_delete_sweep(st, sweep, &deleted, &err), LA_ENOTFOUND);
  /* the newest sweep was deleted: the next one still gets a new id */
  CHECK_EQ_INT(la_store_create_sweep(st, sp, "alice", &next, &err), 0);
  CHECK(next > sweep);
  snprintf(sql, sizeof sql,
           "SELECT MIN(id) > %lld FROM runs WHERE sweep_id = "
           "%lld",
           (long long)run[1], (long long)next);
  CHECK_EQ_INT(query_int(sql), 1);
  json_decref(empty);
  free_spec(sp);
  la_store_close(st);
}

/* The mates of a pack: queued runs of the leader's sweep, rank and seed on
 * their first attempt, in id order, at most want; and fair share's room
 * beside a ticket (max_parallel less what runs). */
static void check_pack_mates(void) {
  char path[300];
  la_store *st;
  la_err err;
  la_run_ticket t[8], m[8];
  la_run_result res;
  int64_t sw;
  int n = 0;
  la_spec *s = make_spec("mates", 8, 0, 5, 2);
  for (int i = 0; i < 8; i++) {      /* rank 4 seed 100 at 0, 2, 4 */
    s->runs[i].rank = i < 6 ? 4 : 2; /* rank 2 after: run 0 starts first */
    s->runs[i].seed = i % 2 ? 101 : 100;
  }
  snprintf(path, sizeof path, "%s/mates.db", g_dir);
  CHECK_EQ_INT(la_store_open(path, &st, &err), 0);
  CHECK_EQ_INT(la_store_create_sweep(st, s, "alice", &sw, &err), 0);
  CHECK_EQ_INT(la_fairshare_next_runs(st, t, 1, NULL, &err), 1);
  CHECK_EQ_INT(t[0].room, 4); /* max_parallel 5, this one picked */
  CHECK_EQ_INT(la_store_pack_mates(st, &t[0], 1, m, &n, &err), 0);
  CHECK(n == 1 && m[0].run_id == t[0].run_id + 2); /* want bounds it */
  for (int i = 0; i < n; i++)
    la_run_ticket_clear(&m[i]);
  n = 0;
  CHECK_EQ_INT(la_store_pack_mates(st, &t[0], 8, m, &n, &err), 0);
  CHECK_EQ_INT(n, 2); /* runs 2 and 4: same rank and seed; 6 is rank 2 */
  CHECK(n == 2 && m[0].run_id == t[0].run_id + 2 &&
        m[1].run_id == t[0].run_id + 4 && m[0].sweep_id == sw &&
        m[0].config != NULL && m[0].attempts == 0);
  for (int i = 0; i < n; i++)
    la_run_ticket_clear(&m[i]);
  /* run 2 failed an attempt (queued again, attempts 1): it trains alone;
   * run 4 is running: not queued */
  CHECK_EQ_INT(la_store_start_run(st, t[0].run_id + 2, &err), 0);
  la_run_result_init(&res, "queued");
  res.error = "worker killed by signal 9";
  CHECK_EQ_INT(la_store_finish_run(st, t[0].run_id + 2, &res, &err), 0);
  CHECK_EQ_INT(la_store_start_run(st, t[0].run_id + 4, &err), 0);
  n = 0;
  CHECK_EQ_INT(la_store_pack_mates(st, &t[0], 8, m, &n, &err), 0);
  CHECK_EQ_INT(n, 0);
  la_run_ticket_clear(&t[0]);
  /* room: 1 running of max_parallel 5, one more picked: 3 beside it */
  CHECK_EQ_INT(la_fairshare_next_runs(st, t, 1, NULL, &err), 1);
  CHECK_EQ_INT(t[0].room, 3);
  la_run_ticket_clear(&t[0]);
  la_store_close(st);
  free_spec(s);
}

int main(void) {
  la_store *st;
  la_err err;
  int64_t low, high;
  snprintf(g_dir, sizeof g_dir, "/tmp/la-store-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return 1;
  snprintf(g_db, sizeof g_db, "%s/t.db", g_dir);
  check_migrations();
  CHECK_EQ_INT(la_store_open(g_db, &st, &err), 0);
  check_scheduling_order(st, &low, &high);
  check_rows_and_finish(st, high);
  check_retry_and_requeue(st, high);
  check_cancel_and_views(st, low, high);
  check_sharpness_rows(st);
  la_store_close(st);
  check_refused_run();
  check_delete_sweep();
  check_fair_share();
  check_sharpness_migration();
  check_fail_fast();
  check_pack_mates();
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return check_summary();
}
