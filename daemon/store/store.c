/* store.c: the SQLite store, write side (see store.h); reads are in
 * store_read.c. */
#include "loralpha/json_text.h"
#include "net/auth.h"
#include "store/store_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const char *const la_migrations[];
extern const int la_n_migrations;

/* SQL of every cached statement, indexed by the st_* enum. */
/* Runs left running by a previous daemon that it ran itself: those
 * submitted to Slurm keep running there (slurm.c re-attaches to them). */
#define LOCAL_RUNNING                                                          \
  "state = 'running' AND id NOT IN (SELECT run_id FROM slurm_jobs WHERE "      \
  "state = 'submitted')"

static const char *const k_sql[N_STMT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INS_SWEEP] =
        "INSERT INTO sweeps (id, name, spec, priority, max_parallel, "
        "max_attempts, seed, n_runs, created_at, owner, window_start, "
        "window_end, window_requeue) VALUES (" SQL_NEXT_ID(
            "sweeps") ", "
                      "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_RUN] = "INSERT INTO runs (id, sweep_id, idx, rank, alpha, lr, "
                   "seed_index, seed, config, created_at) "
                   "VALUES (" SQL_NEXT_ID("runs") ", ?, ?, ?, ?, ?, ?, ?, ?, "
                                                  "?)",
    [ST_INS_CURVE] = "INSERT OR REPLACE INTO curve (run_id, kind, step, loss, "
                     "lr, grad_norm_a, grad_norm_b, update_norm) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_LAYER] =
        "INSERT OR REPLACE INTO layers (run_id, layer, d_in, "
        "d_out, sigma_max_w0, target_norm, module) VALUES (?, ?, ?, ?, ?, ?, "
        "?)",
    [ST_INS_SPECTRA] = "INSERT OR REPLACE INTO spectra (run_id, step, layer, "
                       "sigma_max, fro, stable_rank, sv) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_DRIFT] = "INSERT OR REPLACE INTO drift (run_id, step, layer, "
                     "signal, drift, drift_ratio, cos_target, rel_err, "
                     "tf_signal, tf_drift, mech_ratio, a_drift) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_INS_SHARP] = "INSERT OR REPLACE INTO sharpness (run_id, step, lora, "
                     "full, ratio, lora_iters, full_iters, rows, "
                     "lora_residual, lora_converged, full_residual, "
                     "full_converged) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
/* a run's rows from its current stint: all of them, or those past its
 * resume_at (a promoted halving run keeps its earlier stints' rows) */
#define PAST_RESUME                                                            \
  " AND step > (SELECT CASE resume_at WHEN 0 THEN -1 ELSE resume_at END "      \
  "FROM runs WHERE id = ?1)"
    [ST_DEL_CURVE] = "DELETE FROM curve WHERE run_id = ?1" PAST_RESUME,
    [ST_DEL_LAYERS] = "DELETE FROM layers WHERE run_id = ?1 AND (SELECT "
                      "resume_at FROM runs WHERE id = ?1) = 0",
    [ST_DEL_SPECTRA] = "DELETE FROM spectra WHERE run_id = ?1" PAST_RESUME,
    [ST_DEL_DRIFT] = "DELETE FROM drift WHERE run_id = ?1" PAST_RESUME,
    [ST_DEL_SHARP] = "DELETE FROM sharpness WHERE run_id = ?1" PAST_RESUME,
    [ST_START_RUN] = "UPDATE runs SET state = 'running', attempts = attempts + "
                     "1, started_at = ?, finished_at = NULL, error = NULL, "
                     "worker_pid = NULL WHERE id = ? AND state = 'queued'",
    [ST_FINISH_RUN] =
        "UPDATE runs SET state = ?, finished_at = ?, steps_done = ?, "
        "final_train_loss = ?, final_eval_loss = ?, best_eval_loss = ?, "
        "best_step = ?, wall_s = ?, error = ?, attempts = attempts - ? "
        "WHERE id = ?",
    [ST_SWEEP_OF_RUN] = "SELECT sweep_id FROM runs WHERE id = ?",
    [ST_SWEEP_LIVE] = "SELECT COUNT(*) FROM runs WHERE sweep_id = ? AND state "
                      "IN ('queued', 'running', 'waiting')",
    [ST_SWEEP_DONE] = "UPDATE sweeps SET state = 'done', finished_at = ? "
                      "WHERE id = ? AND state = 'active'",
    [ST_SWEEP_ENDS] =
        "SELECT coalesce(SUM(state IN ('done', 'diverged')), 0), "
        "coalesce(SUM(state = 'failed'), 0), coalesce(SUM(state = "
        "'cancelled'), 0), (SELECT error FROM runs WHERE sweep_id = ?1 AND "
        "error IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1) FROM "
        "runs WHERE sweep_id = ?1",
    [ST_SWEEP_FAIL] = "UPDATE sweeps SET state = 'failed', finished_at = ?, "
                      "error = ? WHERE id = ? AND state = 'active'",
    [ST_SWEEP_STREAK] =
        "UPDATE sweeps SET fail_streak = CASE WHEN fail_error IS ?2 THEN "
        "fail_streak + 1 ELSE 1 END, fail_error = ?2 WHERE id = ?1 AND state "
        "= 'active' RETURNING fail_streak",
    [ST_SWEEP_CLEAN] = "UPDATE sweeps SET fail_streak = 0, fail_error = NULL "
                       "WHERE id = ? AND fail_streak > 0",
    [ST_SWEEP_HIT] =
        "SELECT COUNT(*) FROM runs WHERE sweep_id = ? AND error = ?",
    [ST_ACTIVE_SWEEPS] =
        "SELECT s.id, s.max_parallel, s.max_attempts, (SELECT COUNT(*) FROM "
        "runs x WHERE x.sweep_id = s.id AND x.state = 'running'), "
        "coalesce(s.owner, ''), s.window_start, s.window_end, "
        "s.window_requeue FROM sweeps s WHERE s.state = 'active' AND "
        "s.paused = 0 AND (?1 < 0 OR " SQL_IN_WINDOW(
            "?1") ") AND "
                  "EXISTS (SELECT 1 FROM runs q WHERE q.sweep_id = s.id AND "
                  "q.state = "
                  "'queued') ORDER BY s.priority DESC, s.id LIMIT 256",
    [ST_USER_RUNNING] =
        "SELECT coalesce(s.owner, ''), COUNT(*) FROM runs r JOIN sweeps s ON "
        "s.id = r.sweep_id WHERE r.state = 'running' GROUP BY 1",
    [ST_SET_PAUSED] = "UPDATE sweeps SET paused = ? WHERE id = ?",
    [ST_PATCH_SWEEP] =
        "UPDATE sweeps SET priority = coalesce(?2, priority), max_parallel = "
        "coalesce(?3, max_parallel), window_start = CASE WHEN ?4 THEN ?5 ELSE "
        "window_start END, window_end = CASE WHEN ?4 THEN ?6 ELSE window_end "
        "END, window_requeue = CASE WHEN ?4 THEN ?7 ELSE window_requeue END "
        "WHERE id = ?1",
    [ST_SWEEP_OWNER] = "SELECT coalesce(owner, '') FROM sweeps WHERE id = ?",
    [ST_USER_QUEUED] =
        "SELECT COUNT(*) FROM runs r JOIN sweeps s ON s.id = r.sweep_id "
        "WHERE s.owner = ? AND s.state = 'active' AND r.state = 'queued'",
    [ST_ADOPT] = "UPDATE sweeps SET owner = ? WHERE owner IS NULL",
    [ST_NOTE_WORKER] = "INSERT OR REPLACE INTO local_workers (run_id, pid, "
                       "start_ticks, boot_id, started_at) VALUES (?, ?, ?, "
                       "?, ?)",
    [ST_LIST_WORKERS] = "SELECT run_id, pid, start_ticks, boot_id FROM "
                        "local_workers ORDER BY run_id",
    [ST_DEL_WORKER] = "DELETE FROM local_workers WHERE run_id = ?",
    [ST_DEL_WORKERS] = "DELETE FROM local_workers",
    [ST_PROBE] = "INSERT OR REPLACE INTO write_probe (id, at) VALUES (1, ?)",
    /* largest rank first (schema/016_run_order.sql), then id; ?3 is the
     * last run taken in this pick (0: none) */
    [ST_QUEUED_OF_SWEEP] =
        "SELECT id, attempts, config FROM runs WHERE sweep_id = ?1 AND state "
        "= 'queued' AND (?3 = 0 OR rank < (SELECT rank FROM runs WHERE id = "
        "?3) OR (rank = (SELECT rank FROM runs WHERE id = ?3) AND id > ?3)) "
        "ORDER BY rank DESC, id LIMIT ?2",
    /* first attempts of the leader's sweep, rank and seed (a retried run
     * trains alone) */
    [ST_PACK_MATES] = "SELECT r.id, r.attempts, r.config FROM runs r, runs l "
                      "WHERE l.id = ?1 AND r.sweep_id = l.sweep_id AND "
                      "r.state = 'queued' AND r.rank = l.rank AND r.seed = "
                      "l.seed AND r.attempts = 0 AND r.id <> l.id ORDER BY "
                      "r.id LIMIT ?2",
    [ST_RUNNING_IDS] = "SELECT id FROM runs WHERE " LOCAL_RUNNING,
    /* a run of a sweep that ended meanwhile (cancelled, or stopped for
     * failing) is cancelled, never queued again */
    [ST_REQUEUE] =
        "UPDATE runs SET state = CASE WHEN (SELECT s.state FROM sweeps s "
        "WHERE s.id = runs.sweep_id) = 'active' THEN 'queued' ELSE "
        "'cancelled' END, finished_at = CASE WHEN (SELECT s.state FROM "
        "sweeps s WHERE s.id = runs.sweep_id) = 'active' THEN NULL ELSE ?1 "
        "END, attempts = max(attempts - 1, 0) WHERE " LOCAL_RUNNING,
    [ST_CANCEL_SWEEP] = "UPDATE sweeps SET state = 'cancelled', finished_at = "
                        "? WHERE id = ? AND state = 'active'",
    [ST_CANCEL_RUNS] = "UPDATE runs SET state = 'cancelled', finished_at = ? "
                       "WHERE sweep_id = ? AND state IN ('queued', 'waiting')",
    [ST_SWEEP_EXISTS] = "SELECT state FROM sweeps WHERE id = ?",
    [ST_COUNT_STATES] = "SELECT state, COUNT(*) FROM runs GROUP BY state",
    [RD_LIST_SWEEPS] = "SELECT " SWEEP_COLS " FROM sweeps WHERE ?1 IS NULL "
                       "OR owner = ?1 ORDER BY id DESC LIMIT 1024",
    [RD_SWEEP_COUNTS] = "SELECT state, COUNT(*) FROM runs WHERE sweep_id = ? "
                        "GROUP BY state",
    [RD_GET_SWEEP] = "SELECT " SWEEP_COLS " FROM sweeps WHERE id = ?",
    [RD_SWEEP_SPEC] = "SELECT spec FROM sweeps WHERE id = ?",
};

double la_store_now(void) {
  return la_time_unix();
}

/* The name of an SQLite result code that says why a write failed, or
 * NULL. */
static const char *code_name(int code) {
  static const struct {
    int code;
    const char *name;
  } names[] = {
      {SQLITE_FULL, "SQLITE_FULL"},
      {SQLITE_IOERR, "SQLITE_IOERR"},
      {SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE"},
      {SQLITE_IOERR_FSYNC, "SQLITE_IOERR_FSYNC"},
      {SQLITE_IOERR_TRUNCATE, "SQLITE_IOERR_TRUNCATE"},
      {SQLITE_IOERR_SHMSIZE, "SQLITE_IOERR_SHMSIZE"},
      {SQLITE_IOERR_SHMMAP, "SQLITE_IOERR_SHMMAP"},
      {SQLITE_IOERR_SHMOPEN, "SQLITE_IOERR_SHMOPEN"},
      {SQLITE_IOERR_READ, "SQLITE_IOERR_READ"},
      {SQLITE_IOERR_SHORT_READ, "SQLITE_IOERR_SHORT_READ"},
      {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"},
      {SQLITE_READONLY, "SQLITE_READONLY"},
      {SQLITE_BUSY, "SQLITE_BUSY"},
      {SQLITE_CORRUPT, "SQLITE_CORRUPT"},
      {SQLITE_NOTADB, "SQLITE_NOTADB"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].code == code) return names[i].name;
  return NULL;
}

/* SQLite's message, its extended result code and, for an error of the
 * file system, the errno behind it: "database or disk is full
 * (SQLITE_FULL, extended code 13)", "disk I/O error (SQLITE_IOERR_WRITE,
 * extended code 778; errno 28: No space left on device)". */
static void describe(sqlite3 *db, char *buf, size_t size) {
  int ext = sqlite3_extended_errcode(db), primary = ext & 0xff;
  int sys = sqlite3_system_errno(db);
  const char *name = code_name(ext);
  int n = snprintf(buf, size, "%s (%s%sextended code %d", sqlite3_errmsg(db),
                   name ? name : "", name ? ", " : "", ext);
  if (n < 0 || (size_t)n >= size) return;
  if (sys != 0 && (primary == SQLITE_IOERR || primary == SQLITE_FULL ||
                   primary == SQLITE_CANTOPEN))
    n += snprintf(buf + n, size - (size_t)n, "; errno %d: %s", sys,
                  strerror(sys));
  if ((size_t)n < size) snprintf(buf + n, size - (size_t)n, ")");
}

int la_store_fail(la_store *st, la_err *err, const char *what) {
  char cause[320];
  int primary = sqlite3_errcode(st->db), sys = sqlite3_system_errno(st->db);
  st->stats.errors++;
  if (primary == SQLITE_FULL ||
      ((primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) &&
       (sys == ENOSPC || sys == EDQUOT))) {
    st->stats.full_errors++;
    st->disk_full = 1;
  }
  describe(st->db, cause, sizeof cause);
  snprintf(st->last_error, sizeof st->last_error, "database: %s: %s", what,
           cause);
  return la_errf(err, LA_EIO, "%s", st->last_error);
}

const char *la_store_last_error(const la_store *st) {
  return st->last_error;
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

/* la_sha256(text): its SHA-256 as hex (migration 006 hashes run tokens);
 * NULL for NULL. */
static void sql_sha256(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  char hex[LA_SHA256_HEX + 1];
  const unsigned char *t = sqlite3_value_text(argv[0]);
  (void)argc;
  if (t == NULL) return sqlite3_result_null(ctx);
  if (la_auth_sha256_hex(t, (size_t)sqlite3_value_bytes(argv[0]), hex) != 0)
    return sqlite3_result_error(ctx, "SHA-256 failed", -1);
  sqlite3_result_text(ctx, hex, LA_SHA256_HEX, SQLITE_TRANSIENT);
}

/* After migrations: what they replaced (clear run tokens) is overwritten
 * in the file (secure_delete) and no old copy stays in the WAL. */
static int scrub_after_migration(la_store *st) {
  return sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
                      NULL) != SQLITE_OK ||
         sqlite3_exec(st->db, "PRAGMA secure_delete = OFF", NULL, NULL, NULL) !=
             SQLITE_OK;
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
  if (have < la_n_migrations &&
      (sqlite3_create_function_v2(st->db, "la_sha256", 1,
                                  SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                  sql_sha256, NULL, NULL, NULL) != SQLITE_OK ||
       sqlite3_exec(st->db, "PRAGMA secure_delete = ON", NULL, NULL, NULL)))
    return la_store_fail(st, err, "preparing the migrations");
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
  if (have < la_n_migrations && scrub_after_migration(st))
    return la_store_fail(st, err, "checkpointing after the migrations");
  st->version = la_n_migrations;
  return 0;
}

/* WAL, a busy timeout, and the pragmas the daemon wants. */
static int configure(la_store *st, la_err *err) {
  static const char *const pragmas =
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
      "PRAGMA temp_store = MEMORY;";
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

/* Refuses an existing file that is empty (*exists tells whether there is
 * a file): SQLite would silently start a new database in it, hiding that
 * the real one was lost. */
static int check_not_empty(const char *path, int *exists, la_err *err) {
  struct stat sb;
  *exists = 0;
  if (stat(path, &sb) != 0)
    return errno == ENOENT
               ? 0
               : la_errf(err, LA_EIO, "database %s: %s", path, strerror(errno));
  *exists = 1;
  if (S_ISREG(sb.st_mode) && sb.st_size == 0)
    return la_errf(err, LA_EINVAL,
                   "database %s is an empty file (0 bytes), not a database: "
                   "refusing to start on it (restore the database, or move "
                   "the file away to have a new one created)",
                   path);
  return 0;
}

/* Makes a new database at path (WAL mode, no tables yet) without ever
 * leaving an empty file there: it is made under a temporary name beside it
 * (mode 0600) and linked into place. A file that appeared at path
 * meanwhile is kept. */
static int create_db(const char *path, la_err *err) {
  char tmp[PATH_MAX + 16], side[PATH_MAX + 32];
  sqlite3 *db = NULL;
  int fd, rc;
  if (snprintf(tmp, sizeof tmp, "%s.new-XXXXXX", path) >= (int)sizeof tmp)
    return la_errf(err, LA_EINVAL, "database %.300s: path too long", path);
  if ((fd = mkstemp(tmp)) < 0)
    return la_errf(err, LA_EIO, "database %s: cannot create it: %s", path,
                   strerror(errno));
  close(fd);
  rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    la_errf(err, LA_EIO, "database %s: cannot create it: %s", path,
            db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_close(db);
  if (rc == SQLITE_OK && link(tmp, path) != 0 && errno != EEXIST &&
      rename(tmp, path) != 0) /* no hard links on this file system */
    rc = la_errf(err, LA_EIO, "database %s: cannot create it: %s", path,
                 strerror(errno));
  unlink(tmp);
  snprintf(side, sizeof side, "%s-wal", tmp);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", tmp);
  unlink(side);
  return rc == SQLITE_OK ? 0 : LA_EIO;
}

/* PRAGMA quick_check: 0 when the file is sound; LA_EINVAL (err says what
 * it found) when it is damaged or not a database; LA_EIO when it cannot be
 * read. */
static int check_integrity(la_store *st, const char *path, la_err *err) {
  char found[300] = "", cause[320];
  size_t used = 0;
  sqlite3_stmt *q = NULL;
  int rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check(4)", -1, &q, NULL);
  if (rc == SQLITE_OK) rc = SQLITE_ROW;
  while (rc == SQLITE_ROW && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    const char *line = (const char *)sqlite3_column_text(q, 0);
    if (line == NULL || strcmp(line, "ok") == 0 || used >= sizeof found - 1)
      continue;
    used += (size_t)snprintf(found + used, sizeof found - used, "%s%s",
                             used ? "; " : "", line);
  }
  rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
  if (rc != SQLITE_OK) describe(st->db, cause, sizeof cause);
  sqlite3_finalize(q);
  if (rc == SQLITE_OK && used == 0) return 0;
  if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_CORRUPT &&
      (rc & 0xff) != SQLITE_NOTADB)
    return la_errf(err, LA_EIO, "database %s: cannot be checked: %s", path,
                   cause);
  return la_errf(err, LA_EINVAL,
                 "database %s is damaged (PRAGMA quick_check: %s): refusing "
                 "to start on it; restore a backup (the sqlite3 shell's "
                 ".recover may save part of it)",
                 path, used ? found : cause);
}

/* 1 when path-suffix exists. */
static int side_exists(const char *path, const char *suffix) {
  char side[PATH_MAX + 8];
  struct stat sb;
  snprintf(side, sizeof side, "%s%s", path, suffix);
  return stat(side, &sb) == 0;
}

/* Removes the empty -wal and the -shm that opening a refused database made
 * beside it (it had none), so that the refusal leaves the files as they
 * were. */
static void drop_side_files(const char *path) {
  char side[PATH_MAX + 8];
  struct stat sb;
  snprintf(side, sizeof side, "%s-wal", path);
  if (stat(side, &sb) != 0 || sb.st_size != 0) return;
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
}

int la_store_open(const char *path, la_store **out, la_err *err) {
  la_store *st = calloc(1, sizeof *st);
  int rc, exists, had_wal;
  *out = NULL;
  mode_t mask;
  if (st == NULL) return la_errf(err, LA_ENOMEM, "database: out of memory");
  if ((rc = check_not_empty(path, &exists, err)) != 0 ||
      (!exists && (rc = create_db(path, err)) != 0)) {
    free(st);
    return rc;
  }
  had_wal = side_exists(path, "-wal");
  /* a new file is its owner's alone, and so are the -wal and -shm SQLite
   * makes with the file's mode (docs/security.md) */
  mask = umask(077);
  if (sqlite3_open_v2(path, &st->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    umask(mask);
    rc = la_errf(err, LA_EIO, "database %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "cannot open");
    la_store_close(st);
    return rc;
  }
  sqlite3_busy_timeout(st->db, 5000);
  if ((rc = check_integrity(st, path, err)) != 0) { /* leave it as it is */
    umask(mask);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    la_store_close(st);
    if (!had_wal) drop_side_files(path);
    return rc;
  }
  rc = configure(st, err);
  umask(mask);
  if (rc || (rc = migrate(st, err)) || (rc = prepare_all(st, err))) {
    la_store_close(st);
    return rc;
  }
  *out = st;
  return 0;
}

void la_store_close(la_store *st) {
  if (st == NULL) return;
  for (size_t i = 0; i < st->n_pending; i++)
    la_record_clear(&st->pending[i].rec);
  free(st->pending);
  for (int i = 0; i < N_STMT; i++)
    sqlite3_finalize(st->stmt[i]);
  sqlite3_close(st->db);
  free(st);
}

void la_store_set_fail_limit(la_store *st, int n) {
  st->fail_limit = n > 0 ? n : 0;
}

int la_store_schema_version(const la_store *st) {
  return st->version;
}

void la_store_stats_get(const la_store *st, la_store_stats *out) {
  *out = st->stats;
  out->pending_rows = st->n_pending;
}

void la_store_bind_real(sqlite3_stmt *q, int i, double x) {
  if (isfinite(x))
    sqlite3_bind_double(q, i, x);
  else
    sqlite3_bind_null(q, i);
}

/* Deletes the metric rows of a run's current stint: every row, or for a
 * promoted halving run those past its resume_at (inside the caller's
 * transaction). */
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
  sqlite3_bind_double(la_store_stmt(st, ST_REQUEUE), 1, la_store_now());
  if (rc == 0) la_testpoint("requeue");
  if (rc || la_store_exec(st, ST_REQUEUE) ||
      la_store_exec(st, ST_DEL_WORKERS) || la_store_commit(st)) {
    la_store_fail(st, err, "requeueing runs");
    la_store_rollback(st);
    return LA_EIO;
  }
  return 0;
}

int la_store_insert_run(la_store *st, int64_t sweep_id, int64_t idx,
                        const la_spec_run *r, char *config, double now) {
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_RUN);
  if (config == NULL) return LA_ENOMEM;
  sqlite3_bind_int64(q, 1, sweep_id);
  sqlite3_bind_int64(q, 2, idx);
  sqlite3_bind_int(q, 3, r->rank);
  sqlite3_bind_double(q, 4, r->alpha);
  sqlite3_bind_double(q, 5, r->lr);
  sqlite3_bind_int(q, 6, r->seed_index);
  sqlite3_bind_int64(q, 7, (int64_t)r->seed);
  sqlite3_bind_text(q, 8, config, -1, free);
  sqlite3_bind_double(q, 9, now);
  return la_store_exec(st, ST_INS_RUN);
}

/* Inserts one run of a sweep (inside the caller's transaction). */
static int insert_run(la_store *st, int64_t sweep_id, const la_spec *spec,
                      size_t idx, double now) {
  const la_spec_run *r = &spec->runs[idx];
  json_t *config =
      r->config ? json_incref(r->config) : la_spec_run_config(spec, idx);
  char *cfg = config ? la_json_text(config) : NULL;
  json_decref(config);
  return la_store_insert_run(st, sweep_id, (int64_t)idx, r, cfg, now);
}

/* Inserts the sweep row; *id gets its id. */
void la_store_bind_window(sqlite3_stmt *q, int i, const la_window *w) {
  if (w->enabled) {
    sqlite3_bind_int(q, i, w->start_min);
    sqlite3_bind_int(q, i + 1, w->end_min);
  } else {
    sqlite3_bind_null(q, i);
    sqlite3_bind_null(q, i + 1);
  }
  sqlite3_bind_int(q, i + 2, w->enabled && w->requeue);
}

static int insert_sweep(la_store *st, const la_spec *spec, const char *owner,
                        double now, size_t n_runs, int64_t *id) {
  char *text = la_json_text(spec->normalized);
  sqlite3_stmt *q = la_store_stmt(st, ST_INS_SWEEP);
  if (text == NULL) return LA_ENOMEM;
  sqlite3_bind_text(q, 1, spec->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(q, 2, text, -1, free);
  sqlite3_bind_int(q, 3, spec->priority);
  sqlite3_bind_int(q, 4, spec->max_parallel);
  sqlite3_bind_int(q, 5, spec->max_attempts);
  sqlite3_bind_int64(q, 6, (int64_t)spec->seed);
  sqlite3_bind_int64(q, 7, (int64_t)n_runs);
  sqlite3_bind_double(q, 8, now);
  sqlite3_bind_text(q, 9, owner, -1, SQLITE_TRANSIENT);
  la_store_bind_window(q, 10, &spec->window);
  if (la_store_exec(st, ST_INS_SWEEP)) return LA_EIO;
  *id = sqlite3_last_insert_rowid(st->db);
  return 0;
}

/* The largest rank whose runs are stored with the sweep: all of them,
 * except under a law search, whose ranks above its law_ranks smallest
 * start from the law (the spec has more ranks than law_ranks). */
static int stored_rank_max(const la_spec *spec) {
  size_t n;
  int *ranks, top = INT_MAX;
  if (spec->search.kind != LA_SEARCH_LAW) return top;
  if ((ranks = la_spec_ranks(spec, &n)) == NULL) return top;
  if ((size_t)spec->search.law_ranks <= n)
    top = ranks[spec->search.law_ranks - 1];
  free(ranks);
  return top;
}

size_t la_store_submit_runs(const la_spec *spec) {
  int top = stored_rank_max(spec);
  size_t n = 0;
  for (size_t i = 0; i < spec->n_runs; i++)
    n += spec->runs[i].rank <= top;
  return n;
}

int la_store_create_sweep(la_store *st, const la_spec *spec, const char *owner,
                          int64_t *sweep_id, la_err *err) {
  double now = la_store_now();
  int top = stored_rank_max(spec);
  int rc = la_store_begin(st);
  if (rc == 0)
    rc = insert_sweep(st, spec, owner, now, la_store_submit_runs(spec),
                      sweep_id);
  for (size_t i = 0; rc == 0 && i < spec->n_runs; i++)
    if (spec->runs[i].rank <= top) rc = insert_run(st, *sweep_id, spec, i, now);
  if (rc == 0 && spec->search.kind == LA_SEARCH_HALVING)
    rc = la_store_halving_start(st, *sweep_id, &spec->search);
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

/* Appends the tickets of query q's rows (id, attempts, config) to out[*n]. */
static int tickets_of(la_store *st, sqlite3_stmt *q, int64_t sweep_id,
                      int max_attempts, la_run_ticket *out, int *n,
                      la_err *err) {
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    la_run_ticket *t = &out[*n];
    memset(t, 0, sizeof *t);
    t->run_id = sqlite3_column_int64(q, 0);
    t->sweep_id = sweep_id;
    t->attempts = sqlite3_column_int(q, 1);
    t->max_attempts = max_attempts;
    t->config = strdup((const char *)sqlite3_column_text(q, 2));
    if (t->config == NULL) {
      sqlite3_reset(q);
      return la_errf(err, LA_ENOMEM, "database: out of memory");
    }
    (*n)++;
  }
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return la_store_fail(st, err, "choosing runs");
  return 0;
}

int la_store_queued_runs(la_store *st, int64_t sweep_id, int64_t after,
                         int max_attempts, int want, la_run_ticket *out, int *n,
                         la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_QUEUED_OF_SWEEP);
  sqlite3_bind_int64(q, 1, sweep_id);
  sqlite3_bind_int(q, 2, want);
  sqlite3_bind_int64(q, 3, after);
  return tickets_of(st, q, sweep_id, max_attempts, out, n, err);
}

int la_store_pack_mates(la_store *st, const la_run_ticket *leader, int want,
                        la_run_ticket *out, int *n, la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_PACK_MATES);
  sqlite3_bind_int64(q, 1, leader->run_id);
  sqlite3_bind_int(q, 2, want);
  return tickets_of(st, q, leader->sweep_id, leader->max_attempts, out, n, err);
}

/* The share_user of name (added if new), or NULL when the table is full. */
static la_share_user *share_user(la_share_user *users, int *n,
                                 const char *name) {
  for (int i = 0; i < *n; i++)
    if (strcmp(users[i].name, name) == 0) return &users[i];
  if (*n == LA_SHARE_MAX) return NULL;
  snprintf(users[*n].name, sizeof users[*n].name, "%s", name);
  users[*n].running = 0;
  return &users[(*n)++];
}

int la_store_share_load(la_store *st, int minute, la_share_sweep *sweeps,
                        int *n_sweeps, la_share_user *users, int *n_users,
                        la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_USER_RUNNING);
  la_share_user *u;
  int rc;
  *n_sweeps = *n_users = 0;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if ((u = share_user(users, n_users,
                        (const char *)sqlite3_column_text(q, 0))) != NULL)
      u->running = sqlite3_column_int(q, 1);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return la_store_fail(st, err, "choosing runs");
  q = la_store_stmt(st, ST_ACTIVE_SWEEPS);
  sqlite3_bind_int(q, 1, minute);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n_sweeps < LA_SHARE_MAX) {
    la_share_sweep *k = &sweeps[*n_sweeps];
    int par = sqlite3_column_int(q, 1), running = sqlite3_column_int(q, 3);
    if (par > 0 && running >= par) continue;
    u = share_user(users, n_users, (const char *)sqlite3_column_text(q, 4));
    if (u == NULL) continue;
    k->owner = (int)(u - users);
    k->id = sqlite3_column_int64(q, 0);
    k->room = par > 0 ? par - running : INT_MAX;
    k->max_attempts = sqlite3_column_int(q, 2);
    memset(&k->window, 0, sizeof k->window);
    if (sqlite3_column_type(q, 5) != SQLITE_NULL) {
      k->window.enabled = 1;
      k->window.start_min = sqlite3_column_int(q, 5);
      k->window.end_min = sqlite3_column_int(q, 6);
      k->window.requeue = sqlite3_column_int(q, 7);
    }
    (*n_sweeps)++;
  }
  sqlite3_reset(q);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return la_store_fail(st, err, "choosing runs");
  return 0;
}

int la_store_adopt_sweeps(la_store *st, const char *owner, la_err *err) {
  sqlite3_bind_text(la_store_stmt(st, ST_ADOPT), 1, owner, -1,
                    SQLITE_TRANSIENT);
  if (la_store_exec(st, ST_ADOPT))
    return la_store_fail(st, err, "setting owners");
  return 0;
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
  if (rc == 0) la_store_forget_refused(st, run_id);
  if (rc) {
    la_store_rollback(st);
    return rc == LA_EINVAL
               ? la_errf(err, rc, "run %lld is not queued", (long long)run_id)
               : la_store_fail(st, err, "starting a run");
  }
  return 0;
}

int la_store_note_worker(la_store *st, int64_t run_id, int pid,
                         uint64_t start_ticks, const char *boot_id,
                         la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_NOTE_WORKER);
  int rc = la_store_begin(st);
  sqlite3_bind_int64(q, 1, run_id);
  sqlite3_bind_int(q, 2, pid);
  sqlite3_bind_int64(q, 3, (int64_t)start_ticks);
  sqlite3_bind_text(q, 4, boot_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(q, 5, la_store_now());
  if (rc == 0) rc = la_store_exec(st, ST_NOTE_WORKER);
  if (rc == 0) rc = la_store_commit(st);
  if (rc) {
    la_store_fail(st, err, "recording a worker's process");
    la_store_rollback(st);
    return LA_EIO;
  }
  return 0;
}

int la_store_local_workers(la_store *st, la_store_worker_fn each, void *ctx,
                           la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_LIST_WORKERS);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    const char *boot = (const char *)sqlite3_column_text(q, 3);
    each(sqlite3_column_int64(q, 0), sqlite3_column_int(q, 1),
         (uint64_t)sqlite3_column_int64(q, 2), boot ? boot : "", ctx);
  }
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? 0
                           : la_store_fail(st, err, "reading worker processes");
}

int la_store_probe(la_store *st, la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, ST_PROBE);
  int rc = la_store_begin(st);
  sqlite3_bind_double(q, 1, la_store_now());
  if (rc == 0) rc = la_store_exec(st, ST_PROBE);
  if (rc == 0) rc = la_store_commit(st);
  if (rc) {
    la_store_fail(st, err, "probing for space");
    la_store_rollback(st);
    return LA_EIO;
  }
  return 0;
}
