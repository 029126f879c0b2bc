/* store_slurm.c: the Slurm executor's rows (slurm_db.h, slurm_settings.h). The
 * statements are prepared per call: none of them is on a hot path. */
#include "loralpha/slurm_db.h"
#include "loralpha/slurm_settings.h"
#include "loralpha/window.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sweep condition: the spec's executor, else the daemon's default. */
#define IS_SLURM "coalesce(json_extract(s.spec, '$.executor'), ?1) = 'slurm'"

/* Prepares sql on the store's connection; NULL on failure. */
static sqlite3_stmt *prep(la_store *st, const char *sql) {
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
    sqlite3_finalize(q);
    return NULL;
  }
  return q;
}

/* Steps a statement to its end and finalizes it; 0 or LA_EIO. */
static int run_once(sqlite3_stmt *q) {
  int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
  sqlite3_finalize(q);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : LA_EIO;
}

int la_sdb_slurm_sweeps(la_store *st, int default_slurm, la_sdb_sweep *out,
                        int max) {
  sqlite3_stmt *q = prep(
      st,
      "SELECT s.id, s.max_parallel, s.max_attempts, s.spec FROM sweeps s "
      "WHERE s.state = 'active' AND s.paused = 0 AND " IS_SLURM
      " AND " SQL_IN_WINDOW(
          "?3") " AND EXISTS (SELECT 1 FROM runs r WHERE r.sweep_id = s.id AND "
                "r.state = 'queued') ORDER BY s.priority DESC, s.id LIMIT ?2");
  int n = 0, rc;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_text(q, 1, default_slurm ? "slurm" : "local", -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 2, max);
  sqlite3_bind_int(q, 3, la_minute_now());
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    out[n].id = sqlite3_column_int64(q, 0);
    out[n].max_parallel = sqlite3_column_int(q, 1);
    out[n].max_attempts = sqlite3_column_int(q, 2);
    out[n].spec = strdup((const char *)sqlite3_column_text(q, 3));
    if (out[n++].spec == NULL) break;
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE) {
    for (int i = 0; i < n; i++)
      free(out[i].spec);
    return rc == SQLITE_ROW ? LA_ENOMEM : LA_EIO;
  }
  return n;
}

int la_sdb_queued(la_store *st, int64_t sweep, la_sdb_run *out, int max) {
  sqlite3_stmt *q = prep(st, "SELECT id, attempts, config FROM runs WHERE "
                             "sweep_id = ? AND state = 'queued' ORDER BY id "
                             "LIMIT ?");
  int n = 0, rc;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep);
  sqlite3_bind_int(q, 2, max);
  sqlite3_bind_int(q, 3, la_minute_now());
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    out[n].id = sqlite3_column_int64(q, 0);
    out[n].attempts = sqlite3_column_int(q, 1);
    out[n].config = strdup((const char *)sqlite3_column_text(q, 2));
    if (out[n++].config == NULL) {
      rc = LA_ENOMEM;
      break;
    }
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE) {
    for (int i = 0; i < n; i++)
      free(out[i].config);
    return rc == LA_ENOMEM ? LA_ENOMEM : LA_EIO;
  }
  return n;
}

/* One run of a claim, inside the caller's transaction. */
static int claim_one(la_store *st, sqlite3_stmt *start, sqlite3_stmt *ins,
                     int64_t sweep, const la_sdb_run *r, const char *hash,
                     int task, const char *script, double now) {
  if (la_store_delete_rows(st, r->id)) return LA_EIO;
  sqlite3_reset(start);
  sqlite3_bind_double(start, 1, now);
  sqlite3_bind_int64(start, 2, r->id);
  if (sqlite3_step(start) != SQLITE_DONE) return LA_EIO;
  if (sqlite3_changes(st->db) != 1) return LA_EINVAL;
  sqlite3_reset(ins);
  sqlite3_bind_int64(ins, 1, r->id);
  sqlite3_bind_int64(ins, 2, sweep);
  sqlite3_bind_int(ins, 3, r->attempts + 1);
  sqlite3_bind_int(ins, 4, task);
  sqlite3_bind_text(ins, 5, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text(ins, 6, script, -1, SQLITE_STATIC);
  sqlite3_bind_double(ins, 7, now);
  return sqlite3_step(ins) == SQLITE_DONE ? 0 : LA_EIO;
}

int la_sdb_claim(la_store *st, int64_t sweep, const la_sdb_run *runs,
                 char (*hashes)[LA_SHA256_HEX + 1], int n, const char *script,
                 la_err *err) {
  double now = la_store_now();
  sqlite3_stmt *start = prep(
      st, "UPDATE runs SET state = 'running', attempts = attempts + 1, "
          "started_at = ?, finished_at = NULL, error = NULL, worker_pid = NULL "
          "WHERE id = ? AND state = 'queued'");
  sqlite3_stmt *ins = prep(
      st,
      "INSERT OR REPLACE INTO slurm_jobs (run_id, sweep_id, attempt, "
      "task, token_sha256, script, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  int rc = start && ins ? la_store_begin(st) : LA_EIO;
  for (int i = 0; rc == 0 && i < n; i++)
    rc = claim_one(st, start, ins, sweep, &runs[i], hashes[i], runs[i].task,
                   script, now);
  if (rc == 0) rc = la_store_commit(st);
  sqlite3_finalize(start);
  sqlite3_finalize(ins);
  if (rc) {
    if (rc == LA_EINVAL)
      la_errf(err, rc, "a run of sweep %lld is no longer queued",
              (long long)sweep);
    else
      la_store_fail(st, err, "submitting runs to Slurm");
    la_store_rollback(st);
  }
  return rc;
}

int la_sdb_submitted(la_store *st, const int64_t *runs, int n, int64_t array_id,
                     la_err *err) {
  sqlite3_stmt *q = prep(st, "UPDATE slurm_jobs SET state = 'submitted', "
                             "array_id = ? WHERE run_id = ? AND state = "
                             "'submitting'");
  int rc = q ? la_store_begin(st) : LA_EIO;
  for (int i = 0; rc == 0 && i < n; i++) {
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, array_id);
    sqlite3_bind_int64(q, 2, runs[i]);
    if (sqlite3_step(q) != SQLITE_DONE) rc = LA_EIO;
  }
  if (rc == 0) rc = la_store_commit(st);
  sqlite3_finalize(q);
  if (rc) {
    la_store_fail(st, err, "recording a Slurm array");
    la_store_rollback(st);
  }
  return rc;
}

int la_sdb_end(la_store *st, int64_t run_id, const char *slurm_state) {
  sqlite3_stmt *q =
      prep(st, "UPDATE slurm_jobs SET state = 'ended', token_sha256 = '', "
               "ended_at = ?, "
               "slurm_state = coalesce(?, slurm_state) WHERE run_id = ?");
  if (q == NULL) return LA_EIO;
  sqlite3_bind_double(q, 1, la_store_now());
  if (slurm_state && slurm_state[0])
    sqlite3_bind_text(q, 2, slurm_state, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(q, 3, run_id);
  return run_once(q);
}

int la_sdb_set_state(la_store *st, int64_t run_id, const char *slurm_state) {
  sqlite3_stmt *q = prep(st, "UPDATE slurm_jobs SET slurm_state = ? WHERE "
                             "run_id = ?");
  if (q == NULL) return LA_EIO;
  sqlite3_bind_text(q, 1, slurm_state, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(q, 2, run_id);
  return run_once(q);
}

/* One live row into j. */
static void read_job(sqlite3_stmt *q, la_sjob *j) {
  memset(j, 0, sizeof *j);
  j->run_id = sqlite3_column_int64(q, 0);
  j->sweep_id = sqlite3_column_int64(q, 1);
  j->attempt = sqlite3_column_int(q, 2);
  j->array_id = sqlite3_column_int64(q, 3);
  j->task = sqlite3_column_int(q, 4);
  snprintf(j->token_sha256, sizeof j->token_sha256, "%s",
           sqlite3_column_text(q, 5));
  j->submitted =
      strcmp((const char *)sqlite3_column_text(q, 6), "submitted") == 0;
  if (sqlite3_column_type(q, 7) == SQLITE_TEXT)
    snprintf(j->slurm_state, sizeof j->slurm_state, "%s",
             sqlite3_column_text(q, 7));
  j->max_attempts = sqlite3_column_int(q, 8);
}

int la_sdb_live(la_store *st, la_sjob **out, size_t *n, la_err *err) {
  sqlite3_stmt *q;
  size_t cap = 0;
  int rc;
  *out = NULL, *n = 0;
  if (run_once(prep(st, "UPDATE slurm_jobs SET state = 'ended', "
                        "token_sha256 = '', ended_at = coalesce(ended_at, "
                        "unixepoch()) WHERE state <> 'ended' AND (SELECT "
                        "state FROM runs WHERE id = run_id) IS NOT "
                        "'running'")))
    return la_store_fail(st, err, "reading Slurm jobs");
  q = prep(st, "SELECT j.run_id, j.sweep_id, j.attempt, coalesce(j.array_id, "
               "0), j.task, j.token_sha256, j.state, j.slurm_state, "
               "s.max_attempts FROM slurm_jobs j JOIN sweeps s ON s.id = "
               "j.sweep_id WHERE j.state <> 'ended' ORDER BY j.run_id");
  if (q == NULL) return la_store_fail(st, err, "reading Slurm jobs");
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (*n == cap) {
      la_sjob *p = realloc(*out, (cap = cap ? 2 * cap : 64) * sizeof *p);
      if (p == NULL) break;
      *out = p;
    }
    read_job(q, &(*out)[(*n)++]);
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE) {
    free(*out), *out = NULL, *n = 0;
    return la_errf(err, LA_EIO, "database: reading Slurm jobs failed");
  }
  return 0;
}

int la_sdb_is_slurm(la_store *st, int64_t sweep, int default_slurm) {
  sqlite3_stmt *q = prep(st, "SELECT " IS_SLURM " FROM sweeps s WHERE s.id "
                             "= ?2");
  int rc, yes = 0;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_text(q, 1, default_slurm ? "slurm" : "local", -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, sweep);
  rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) yes = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? yes : LA_EIO;
}

int la_sdb_run_ids(la_store *st, int64_t sweep, int64_t *ids, size_t n) {
  sqlite3_stmt *q = prep(st, "SELECT id FROM runs WHERE sweep_id = ? ORDER "
                             "BY idx");
  size_t k = 0;
  int rc;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW && k < n)
    ids[k++] = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return rc == SQLITE_DONE && k == n ? 0 : LA_EIO;
}

void la_sdb_run_state(la_store *st, int64_t run_id, char *buf, size_t size) {
  sqlite3_stmt *q = prep(st, "SELECT state FROM runs WHERE id = ?");
  buf[0] = 0;
  if (q == NULL) return;
  sqlite3_bind_int64(q, 1, run_id);
  if (sqlite3_step(q) == SQLITE_ROW)
    snprintf(buf, size, "%s", sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
}
