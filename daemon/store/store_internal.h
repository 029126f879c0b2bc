/*
 * store_internal.h: what store.c, store_rows.c and store_read.c share; not
 * an interface.
 */
#ifndef LORALPHA_STORE_INTERNAL_H
#define LORALPHA_STORE_INTERNAL_H

#include "loralpha/halving.h"
#include "loralpha/record.h"
#include "loralpha/store.h"
#include "testpoint.h"

#include <sqlite3.h>

enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_INS_SWEEP,
  ST_INS_RUN,
  ST_INS_CURVE,
  ST_INS_LAYER,
  ST_INS_SPECTRA,
  ST_INS_DRIFT,
  ST_INS_SHARP,
  ST_DEL_CURVE,
  ST_DEL_LAYERS,
  ST_DEL_SPECTRA,
  ST_DEL_DRIFT,
  ST_DEL_SHARP,
  ST_START_RUN,
  ST_FINISH_RUN,
  ST_SWEEP_OF_RUN,
  ST_SWEEP_LIVE,
  ST_SWEEP_DONE,
  ST_SWEEP_ENDS,
  ST_SWEEP_FAIL,
  ST_SWEEP_STREAK,
  ST_SWEEP_CLEAN,
  ST_SWEEP_HIT,
  ST_ACTIVE_SWEEPS,
  ST_QUEUED_OF_SWEEP,
  ST_PACK_MATES,
  ST_RUNNING_IDS,
  ST_REQUEUE,
  ST_CANCEL_SWEEP,
  ST_CANCEL_RUNS,
  ST_SWEEP_EXISTS,
  ST_COUNT_STATES,
  ST_USER_RUNNING,
  ST_SET_PAUSED,
  ST_PATCH_SWEEP,
  ST_SWEEP_OWNER,
  ST_USER_QUEUED,
  ST_ADOPT,
  ST_NOTE_WORKER,
  ST_LIST_WORKERS,
  ST_DEL_WORKER,
  ST_DEL_WORKERS,
  ST_PROBE,
  RD_LIST_SWEEPS,
  RD_SWEEP_COUNTS,
  RD_GET_SWEEP,
  RD_SWEEP_SPEC,
  N_STMT
};

/* The columns of a sweep as the API shows it (store_read.c turns paused
 * into a boolean and the window_ columns into one window object). */
#define SWEEP_COLS                                                             \
  "id, name, owner, state, paused, priority, max_parallel, max_attempts, "     \
  "seed, n_runs, created_at, finished_at, window_start, window_end, "          \
  "window_requeue, error"

/* Binds a window's three columns (start, end, requeue) to parameters i,
 * i + 1, i + 2 (NULL, NULL, 0 when it is not enabled). */
void la_store_bind_window(sqlite3_stmt *q, int i, const la_window *w);

/* SQL: sweep s may start runs at the local minute of the day in parameter
 * m (no window: always; across midnight when start > end), as
 * la_window_open decides in C. */
#define SQL_IN_WINDOW(m)                                                       \
  "(s.window_start IS NULL OR CASE WHEN s.window_start < s.window_end THEN " m \
  " >= s.window_start AND " m " < s.window_end ELSE " m                        \
  " >= s.window_start OR " m " < s.window_end END)"

/* SQL: the id for a new row of table t ("sweeps" or "runs"): above every
 * id in use and every id a deleted sweep had (schema/008_deleted_ids.sql),
 * so no id is ever given twice. */
#define SQL_NEXT_ID(t)                                                         \
  "max(coalesce((SELECT max(id) FROM " t "), 0), coalesce((SELECT max_id "     \
  "FROM deleted_ids WHERE tbl = '" t "'), 0)) + 1"

/* A worker record waiting for the next flush. */
typedef struct la_pending {
  int64_t run_id;
  la_record rec; /* owned; an extension record once its run was refused */
} la_pending;

/* A run whose rows the database refused (a constraint): its rows were
 * dropped, and it fails when it finishes (see la_store_run_refused). */
typedef struct la_refused {
  int64_t run_id;
  char msg[200];
} la_refused;
#define LA_STORE_MAX_REFUSED 32

/* la_store_write_pending's answer when it refused a run: the caller rolls
 * the transaction back and writes again (without that run's rows). */
#define LA_STORE_RETRY 1

struct la_store {
  sqlite3 *db;
  sqlite3_stmt *stmt[N_STMT];
  int version;
  la_pending *pending;
  size_t n_pending, cap_pending;
  la_store_stats stats;
  int disk_full;                            /* see la_store_disk_full */
  char last_error[512];                     /* see la_store_last_error */
  la_refused refused[LA_STORE_MAX_REFUSED]; /* oldest first */
  size_t n_refused;
  int fail_limit; /* see la_store_set_fail_limit (0: never stop a sweep) */
};

/* Unix time now, in seconds. */
double la_store_now(void);

/* Inserts a queued run of sweep_id at position idx with r's rank, alpha,
 * lr, seed index and seed (r->config unused) and worker config text
 * config (owned: freed; NULL is LA_ENOMEM), created at now, inside the
 * caller's transaction. 0, or LA_EIO / LA_ENOMEM. */
int la_store_insert_run(la_store *st, int64_t sweep_id, int64_t idx,
                        const la_spec_run *r, char *config, double now);

/* After run run_id of sweep ended for good (done, diverged, failed): when
 * the sweep searches along alpha and the run's cell has nothing queued or
 * running left, decides the cell's next step and writes it, with its new
 * runs (store_search.c), in the caller's transaction. 0 or LA_EIO /
 * LA_ENOMEM. */
int la_store_search_after_run(la_store *st, int64_t sweep, int64_t run_id);

/* A new halving sweep's runs (just inserted): each rank's plan
 * (halving.h), each run's first stint stopping at its rank's first rung
 * (runs.stop_at and the config's stop_at), in the caller's transaction
 * (store_halving.c). 0 or LA_EIO. */
int la_store_halving_start(la_store *st, int64_t sweep, const la_search *s);

/* The halving plan of the sweep's rank (halving.h: la_halving_plan_of of
 * its (alpha, lr) cells and its runs' steps). 0 or LA_EIO. */
int la_store_halving_plan(la_store *st, int64_t sweep, int rank,
                          const la_search *s, la_halving_plan *plan);

/* After run run_id of halving sweep s ended a stint (done, diverged,
 * failed): a run done at its stop waits; then its rank's cells are
 * decided (la_halving_decide) and each decision is written and acted on
 * (promoted cells queued to their next stop, stopped ones 'stopped'), in
 * the caller's transaction. 0 or LA_EIO / LA_ENOMEM. */
int la_store_halving_after_run(la_store *st, int64_t sweep, int64_t run_id,
                               const la_search *s);
/* Binds a double, or NULL when it is not finite (unknown). */
void la_store_bind_real(sqlite3_stmt *q, int i, double x);
/* Fills err with "database: <what>: <sqlite message>"; returns LA_EIO. */
int la_store_fail(la_store *st, la_err *err, const char *what);
/* The cached statement, reset and with bindings cleared. */
sqlite3_stmt *la_store_stmt(la_store *st, int which);
/* Steps a statement that returns no rows; 0 or LA_EIO. */
int la_store_exec(la_store *st, int which);
/* Writes every pending row (inside the caller's transaction): 0, LA_EIO,
 * or LA_STORE_RETRY after refusing a run whose rows broke a constraint. */
int la_store_write_pending(la_store *st);
/* Forgets that the rows of run_id were refused (it starts again). */
void la_store_forget_refused(la_store *st, int64_t run_id);
/* Drops the pending rows after a commit that wrote them. */
void la_store_clear_pending(la_store *st);
/* Deletes the metric rows of a run's current stint (all, or past its
 * resume_at), inside the caller's transaction. */
int la_store_delete_rows(la_store *st, int64_t run_id);
int la_store_begin(la_store *st);
int la_store_commit(la_store *st);
void la_store_rollback(la_store *st);

#endif
