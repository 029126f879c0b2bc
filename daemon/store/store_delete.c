/*
 * store_delete.c: deleting a sweep and everything of it (see store.h,
 * docs/database.md, "Deleting a sweep").
 *
 * The tables to clear are found in the schema itself: every table with a
 * sweep_id or a run_id column loses the rows of the sweep or of its runs,
 * then the runs and the sweep go, all in one transaction (a crash leaves
 * either all of it or none). So a table a later migration adds is cleared
 * too without a change here. A sweep is deleted only when nothing of it
 * can write any more: it has ended (finished or cancelled), no run of it
 * is queued or running (a cancelled sweep's workers may still be
 * stopping), and none of its Slurm jobs is still followed.
 */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

#define MAX_TABLES 64

/* A table that refers to sweeps or runs. */
typedef struct ref_table {
  char name[64];
  int by_sweep, by_run; /* it has a sweep_id, a run_id column */
} ref_table;

/* One integer from sql with ?1 = id: *out; 0, or LA_EIO. */
static int count_of(la_store *st, const char *sql, int64_t id, int64_t *out) {
  sqlite3_stmt *q = NULL;
  int rc = LA_EIO;
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) == SQLITE_ROW) {
      *out = sqlite3_column_int64(q, 0);
      rc = 0;
    }
  }
  sqlite3_finalize(q);
  return rc;
}

/* The tables (but runs) with a sweep_id or run_id column, by name. */
static int ref_tables(la_store *st, ref_table *t, int *n) {
  sqlite3_stmt *q = NULL;
  int rc;
  *n = 0;
  if (sqlite3_prepare_v2(
          st->db,
          "SELECT m.name, sum(p.name = 'sweep_id'), sum(p.name = 'run_id') "
          "FROM sqlite_master m, pragma_table_info(m.name) p "
          "WHERE m.type = 'table' AND m.name NOT IN ('runs', 'sweeps') "
          "AND m.name NOT LIKE 'sqlite_%' AND p.name IN ('sweep_id', "
          "'run_id') GROUP BY m.name ORDER BY m.name",
          -1, &q, NULL) != SQLITE_OK)
    return LA_EIO;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < MAX_TABLES) {
    const char *name = (const char *)sqlite3_column_text(q, 0);
    if (name == NULL || strlen(name) >= sizeof t->name ||
        strchr(name, '"') != NULL)
      continue; /* none of the schema's; never quoted into SQL */
    snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
    t[*n].by_sweep = sqlite3_column_int(q, 1) > 0;
    t[*n].by_run = sqlite3_column_int(q, 2) > 0;
    (*n)++;
  }
  sqlite3_finalize(q);
  return rc == SQLITE_DONE ? 0 : LA_EIO;
}

/* Runs one DELETE with ?1 = id; the rows it removed go under name in
 * deleted. 0, or LA_EIO. */
static int delete_rows(la_store *st, const char *sql, int64_t id,
                       const char *name, json_t *deleted) {
  sqlite3_stmt *q = NULL;
  int ok = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK;
  if (ok) {
    sqlite3_bind_int64(q, 1, id);
    ok = sqlite3_step(q) == SQLITE_DONE;
  }
  sqlite3_finalize(q);
  if (ok)
    json_object_set_new(deleted, name,
                        json_integer((json_int_t)sqlite3_changes(st->db)));
  return ok ? 0 : LA_EIO;
}

/* Why the sweep may not be deleted now, in err (returning 1), or 0; or
 * LA_ENOTFOUND / LA_EIO. Inside the delete's transaction. */
static int still_busy(la_store *st, int64_t id, la_err *err) {
  char state[16];
  int64_t live = 0, jobs = 0;
  if (la_store_sweep_state(st, id, state, sizeof state) != 0)
    return la_errf(err, LA_ENOTFOUND, "sweep %lld not found", (long long)id);
  if (strcmp(state, "active") == 0) {
    la_errf(err, 1,
            "sweep %lld is active: cancel it first (loralpha cancel %lld), "
            "then delete it",
            (long long)id, (long long)id);
    return 1;
  }
  if (count_of(st,
               "SELECT count(*) FROM runs WHERE sweep_id = ?1 AND state IN "
               "('queued', 'running')",
               id, &live) ||
      count_of(st,
               "SELECT count(*) FROM slurm_jobs WHERE sweep_id = ?1 AND "
               "state <> 'ended'",
               id, &jobs))
    return la_store_fail(st, err, "reading a sweep's runs");
  if (live > 0 || jobs > 0) {
    la_errf(err, 1,
            "sweep %lld still has %lld run(s) whose worker is stopping and "
            "%lld Slurm job(s) not yet ended; delete it once they have "
            "(GET /v1/sweeps/%lld shows its counts)",
            (long long)id, (long long)live, (long long)jobs, (long long)id);
    return 1;
  }
  return 0;
}

/* Records the largest sweep and run ids of the sweep in deleted_ids, so
 * that they are never given again (SQL_NEXT_ID). */
static int keep_ids(la_store *st, int64_t id) {
  static const char *const sql[] = {
      "INSERT INTO deleted_ids (tbl, max_id) VALUES ('sweeps', ?1) ON "
      "CONFLICT (tbl) DO UPDATE SET max_id = max(max_id, excluded.max_id)",
      "INSERT INTO deleted_ids (tbl, max_id) SELECT 'runs', id FROM runs "
      "WHERE sweep_id = ?1 ORDER BY id DESC LIMIT 1 ON CONFLICT (tbl) DO "
      "UPDATE SET max_id = max(max_id, excluded.max_id)"};
  for (int i = 0; i < 2; i++) {
    sqlite3_stmt *q = NULL;
    int ok = sqlite3_prepare_v2(st->db, sql[i], -1, &q, NULL) == SQLITE_OK;
    if (ok) {
      sqlite3_bind_int64(q, 1, id);
      ok = sqlite3_step(q) == SQLITE_DONE;
    }
    sqlite3_finalize(q);
    if (!ok) return LA_EIO;
  }
  return 0;
}

/* Deletes the rows of every table that refers to the sweep or its runs,
 * then its runs, then the sweep itself, keeping their ids from reuse. */
static int delete_all(la_store *st, int64_t id, json_t *deleted) {
  ref_table t[MAX_TABLES];
  char sql[512];
  int n, rc = keep_ids(st, id);
  if (rc == 0) rc = ref_tables(st, t, &n);
  for (int i = 0; rc == 0 && i < n; i++) {
    const ref_table *r = &t[i];
    int w = snprintf(sql, sizeof sql, "DELETE FROM \"%.63s\" WHERE %s%s%s",
                     r->name, r->by_sweep ? "sweep_id = ?1" : "",
                     r->by_sweep && r->by_run ? " OR " : "",
                     r->by_run ? "run_id IN (SELECT id FROM runs WHERE "
                                 "sweep_id = ?1)"
                               : "");
    rc = w > 0 && (size_t)w < sizeof sql
             ? delete_rows(st, sql, id, r->name, deleted)
             : LA_EIO;
  }
  if (rc == 0)
    rc = delete_rows(st, "DELETE FROM runs WHERE sweep_id = ?1", id, "runs",
                     deleted);
  if (rc == 0)
    rc = delete_rows(st, "DELETE FROM sweeps WHERE id = ?1", id, "sweeps",
                     deleted);
  return rc;
}

int la_store_delete_sweep(la_store *st, int64_t sweep_id, json_t **deleted,
                          la_err *err) {
  json_t *d = json_object();
  int rc;
  *deleted = NULL;
  if (d == NULL) return la_errf(err, LA_ENOMEM, "out of memory");
  /* rows still buffered belong in the database before anything goes */
  if ((rc = la_store_flush(st, err)) != 0) goto cleanup;
  if ((rc = la_store_begin(st)) != 0) {
    rc = la_store_fail(st, err, "deleting a sweep");
    goto cleanup;
  }
  if ((rc = still_busy(st, sweep_id, err)) != 0) {
    la_store_rollback(st);
    goto cleanup;
  }
  rc = delete_all(st, sweep_id, d);
  if (rc == 0) la_testpoint("delete"); /* everything deleted, not committed */
  if (rc || la_store_commit(st)) {
    rc = la_store_fail(st, err, "deleting a sweep");
    la_store_rollback(st);
    goto cleanup;
  }
  *deleted = d, d = NULL;
cleanup:
  json_decref(d);
  return rc;
}
