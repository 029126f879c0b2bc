/*
 * store.h: the daemon's SQLite database (the migrations in schema/,
 * docs/database.md).
 *
 * One file, WAL mode, so the sqlite3 CLI and other readers never block the
 * daemon and see committed data while it writes. Migrations in schema/ are
 * embedded in the binary and applied at open (PRAGMA user_version counts
 * them). Every state change of a sweep or run is committed before the
 * caller acts on it. Metric rows from workers are buffered and written in
 * batched transactions by la_store_flush (the daemon calls it at least
 * every 250 ms); finishing a run flushes its rows in the same transaction
 * that marks it finished, so a finished run always has its whole curve.
 *
 * All functions run on the loop thread; none keeps a transaction open
 * across calls.
 */
#ifndef LORALPHA_STORE_H
#define LORALPHA_STORE_H

#include "loralpha/common.h"
#include "loralpha/record.h"
#include "loralpha/spec.h"
#include "loralpha/window.h"

#include <jansson.h>
#include <stdint.h>

typedef struct la_store la_store;

/* How a run ended, from its done record (or the lack of one). */
typedef struct la_run_result {
  const char *state;  /* "done", "diverged", "failed", "cancelled", "queued" */
  int64_t steps_done; /* -1: unknown */
  double final_train_loss, final_eval_loss, best_eval_loss,
      wall_s;         /* NaN: unknown */
  int64_t best_step;  /* -1: unknown */
  const char *error;  /* failed: why (NULL otherwise) */
  int refund_attempt; /* 1: this attempt does not count (the daemon stopped it)
                       */
} la_run_result;

/* r as a result that knows nothing yet: state as given, counts -1, figures
 * NaN, no error, the attempt counted. */
void la_run_result_init(la_run_result *r, const char *state);

/* Fills r from a checked done record (record.h): the state ("done" or
 * "diverged"), steps, best step and final figures (unknown: NaN). 0, or
 * LA_EINVAL (r unchanged) for a record of another type. */
int la_run_result_from_done(la_run_result *r, const la_record *done);

/* A run the scheduler may start. */
typedef struct la_run_ticket {
  int64_t run_id, sweep_id;
  int attempts; /* attempts so far (before this one) */
  int max_attempts;
  char *config;     /* owned (free): the worker config JSON */
  char owner[64];   /* the sweep's owner */
  la_window window; /* the sweep's start window */
  int room;         /* more runs of its sweep that may start beside it now (the
                       sweep's max_parallel and its owner's cap; INT_MAX: no limit;
                       set by la_fairshare_next_runs) */
} la_run_ticket;

#define LA_SHARE_MAX 256 /* sweeps and users fair share considers at once */

/* A sweep that may start runs now (la_store_share_load). */
typedef struct la_share_sweep {
  int64_t id;
  int room; /* runs it may still start (INT_MAX: no max_parallel) */
  int max_attempts;
  int owner; /* its owner: an index into the users of the same load */
  la_window window;
} la_share_sweep;

/* An owner's running runs (la_store_share_load). */
typedef struct la_share_user {
  char name[64];
  int running;
} la_share_user;

/* Changes to a sweep (PATCH): only the has_ fields apply. */
typedef struct la_sweep_patch {
  int has_priority, priority;
  int has_max_parallel, max_parallel;
  int has_window;
  la_window window;
} la_sweep_patch;

typedef struct la_store_stats {
  uint64_t rows_written; /* metric rows committed since open */
  uint64_t transactions; /* write transactions committed since open */
  uint64_t pending_rows; /* buffered, not yet committed */
  uint64_t errors;       /* database operations that failed since open */
  uint64_t full_errors;  /* of which for want of space (disk or page limit) */
} la_store_stats;

/* Opens the database at path, sets WAL mode and a busy timeout, and applies
 * pending migrations. A missing file is created (under a temporary name,
 * linked into place: never an empty file at path). An existing file must be
 * a sound database: an empty (0-byte) file, a file that is not a database
 * and one that PRAGMA quick_check finds damaged are refused with LA_EINVAL
 * and left unchanged (so is a schema newer than this build's). Returns 0 or
 * an LA_E code with err filled. */
int la_store_open(const char *path, la_store **out, la_err *err);
void la_store_close(la_store *st);

/* A sweep stops ('failed') after n failed attempts in a row with the same
 * error text (la_store_finish_run); 0 (the default) never stops one. */
void la_store_set_fail_limit(la_store *st, int n);

/* Schema version after migrations (number of migrations applied). */
int la_store_schema_version(const la_store *st);

/* Runs found 'running' (a daemon that died) become 'queued' again (or
 * 'cancelled' when their sweep is no longer active: cancelled or stopped
 * meanwhile) and their partial metric rows are deleted, in one transaction;
 * runs submitted to
 * Slurm stay running (the Slurm executor re-attaches to them). The records
 * of local worker processes are deleted in the same transaction: end those
 * processes first (la_store_local_workers). *n gets how many were
 * requeued. */
int la_store_requeue_running(la_store *st, int *n, la_err *err);

/* Stores a sweep owned by owner and its runs (queued) in one
 * transaction: all of them, or under a law search those of its law ranks
 * (la_store_submit_runs); *sweep_id is the new id. */
int la_store_create_sweep(la_store *st, const la_spec *spec, const char *owner,
                          int64_t *sweep_id, la_err *err);

/* How many of spec's runs la_store_create_sweep stores: spec->n_runs, but
 * under a law search only the runs of its law_ranks smallest ranks (the
 * larger ranks' runs are stored when the law starts them). */
size_t la_store_submit_runs(const la_spec *spec);

/* Sweeps without an owner (made before owners existed) become owner's. */
int la_store_adopt_sweeps(la_store *st, const char *owner, la_err *err);

/* Fair share's view of the queue (daemon/sched/fairshare.h makes the
 * choice): the active sweeps that are not paused, are inside their window
 * at minute (local minute of the day; -1: ignore windows), have queued runs
 * and room under max_parallel, by priority then id (at most LA_SHARE_MAX);
 * and the running runs of every owner. Returns 0 or LA_EIO. */
int la_store_share_load(la_store *st, int minute, la_share_sweep *sweeps,
                        int *n_sweeps, la_share_user *users, int *n_users,
                        la_err *err);

/* Appends up to want queued runs of sweep_id that come after run after (0:
 * from the first) in start order, largest rank first and then id, to
 * out[*n] as tickets (owner and window left empty). Returns 0,
 * LA_ENOMEM or LA_EIO (the tickets appended so far stay in out). */
int la_store_queued_runs(la_store *st, int64_t sweep_id, int64_t after,
                         int max_attempts, int want, la_run_ticket *out, int *n,
                         la_err *err);

/* Appends up to want runs that may join leader's pack to out[*n] as
 * tickets (owner and window left empty): queued runs of its sweep with its
 * rank and seed, on their first attempt (a retried run trains alone), in id
 * order; whether their configs pack is the caller's check
 * (loralpha/packing.h). Returns 0, LA_ENOMEM or LA_EIO. */
int la_store_pack_mates(la_store *st, const la_run_ticket *leader, int want,
                        la_run_ticket *out, int *n, la_err *err);
void la_run_ticket_clear(la_run_ticket *t);

/* queued -> running: attempts + 1, started_at, and the run's previous metric
 * rows deleted; committed before returning. */
int la_store_start_run(la_store *st, int64_t run_id, la_err *err);

/* Buffers one checked worker record (la_record_parse) for run_id: start,
 * train, eval, spectra and sharpness become rows, other types are dropped.
 * Takes rec's contents (rec is left cleared). Returns 0 or LA_ENOMEM.
 *
 * Rows the database still refuses for their data (a constraint) fail only
 * their run: the flush rolls back, drops that run's rows, notes the run
 * (la_store_run_refused) and writes the others again; finishing that run
 * then records it failed with the database's message. */
int la_store_take_record(la_store *st, int64_t run_id, la_record *rec);

/* 1 when the database refused rows of run_id since the run last started
 * (msg gets why), else 0. */
int la_store_run_refused(const la_store *st, int64_t run_id, char *msg,
                         size_t size);

/* Commits every buffered row in one transaction. */
int la_store_flush(la_store *st, la_err *err);

/* Flushes, then sets the run's final state and figures in the same
 * transaction; when the state is 'queued' (a retry) the run's rows are kept
 * until it starts again. In the same transaction: a failed attempt (an
 * error, the attempt counted) counts towards its active sweep's failures in
 * a row with the same error text, and a run done or diverged sets that
 * count back to 0; at la_store_set_fail_limit's n the sweep is stopped:
 * 'failed', its "error" saying why, its queued runs cancelled (the caller
 * then stops its running ones: la_store_sweep_state says 'failed'). If no
 * run of an active sweep is queued or running any more, it ends: 'done'
 * when a run is done or diverged, else 'failed' with an error saying so. */
int la_store_finish_run(la_store *st, int64_t run_id, const la_run_result *res,
                        la_err *err);

/* Marks the sweep cancelled and its queued runs cancelled (one transaction).
 * Returns 0, LA_ENOTFOUND if there is no such sweep, or 1 if it was already
 * finished or cancelled. */
int la_store_cancel_sweep(la_store *st, int64_t sweep_id, la_err *err);

/* Deletes a sweep that has ended, with its runs and every row of every
 * table that refers to it or to its runs (found by their sweep_id and
 * run_id columns), in one transaction, after flushing buffered rows.
 * *deleted gets {"TABLE": rows deleted, ...} (new reference). Returns 0,
 * LA_ENOTFOUND, 1 (err says why) while the sweep is active, a run of it is
 * queued or running, or a Slurm job of it has not ended; or LA_EIO. */
int la_store_delete_sweep(la_store *st, int64_t sweep_id, json_t **deleted,
                          la_err *err);

/* Sets a sweep's paused flag. Returns 0, LA_ENOTFOUND if there is no such
 * sweep, or 1 if it is not active. */
int la_store_set_paused(la_store *st, int64_t sweep_id, int paused,
                        la_err *err);

/* Applies p to an active sweep: 0, LA_ENOTFOUND (no such sweep), 1 (not
 * active). */
int la_store_patch_sweep(la_store *st, int64_t sweep_id,
                         const la_sweep_patch *p, la_err *err);

/* The owner of a sweep into buf: 0, or LA_ENOTFOUND if there is no such
 * sweep. */
int la_store_sweep_owner(la_store *st, int64_t sweep_id, char *buf,
                         size_t size);

/* Queued runs of owner's sweeps into *n. */
int la_store_user_queued(la_store *st, const char *owner, int64_t *n,
                         la_err *err);

/* The sweep's state ("active", "done", "failed", "cancelled") into buf; 0,
 * or LA_ENOTFOUND if there is no such sweep. */
int la_store_sweep_state(la_store *st, int64_t sweep_id, char *buf,
                         size_t size);

/* Counts of runs per state over all sweeps, indexed by la_run_state. */
int la_store_count_states(la_store *st, int64_t counts[LA_RUN_N_STATES],
                          la_err *err);

void la_store_stats_get(const la_store *st, la_store_stats *out);

/* Records the process of run_id's local worker (its PID, start time and
 * boot: proc.h) in its own transaction, so that a daemon started after this
 * one was killed can end it (la_store_local_workers). The row goes when the
 * run ends (la_store_finish_run) or is requeued at start. */
int la_store_note_worker(la_store *st, int64_t run_id, int pid,
                         uint64_t start_ticks, const char *boot_id,
                         la_err *err);

/* Calls each for every recorded local worker process, in run order. */
typedef void (*la_store_worker_fn)(int64_t run_id, int pid,
                                   uint64_t start_ticks, const char *boot_id,
                                   void *ctx);
int la_store_local_workers(la_store *st, la_store_worker_fn each, void *ctx,
                           la_err *err);

/* A small write (one row, one transaction) that ends the disk_full state
 * when it commits; the daemon makes it while the disk is full and nothing
 * else waits to be written. 0, or LA_EIO with err filled. */
int la_store_probe(la_store *st, la_err *err);

/* The last failure as la_store_fail worded it ("database: <what>: <SQLite's
 * message> (<code name>, extended code N[; errno E: <text>])"), or "".
 * Borrowed; valid until the next failure. */
const char *la_store_last_error(const la_store *st);

/* 1 from a write that failed for want of space (SQLITE_FULL: the disk or
 * max_page_count; or ENOSPC under another error) until a later commit
 * succeeds; 0 otherwise. Reads keep working while it is 1. */
int la_store_disk_full(const la_store *st);

/* ---- reads for the API: each returns a new JSON value, or NULL with err
 * filled (LA_ENOTFOUND, "not found" in err->msg, when the id does not
 * exist). */

/* The 1024 newest sweeps (of owner only, if not NULL), newest first, with
 * counts per state and progress. */
json_t *la_store_list_sweeps(la_store *st, const char *owner, la_err *err);
/* One sweep with its counts and progress (not its spec: see
 * la_store_sweep_spec). NULL + rc LA_EINVAL if none. */
json_t *la_store_get_sweep(la_store *st, int64_t id, int *rc, la_err *err);

/* The sweep's stored spec as JSON text (new string, free), or NULL. */
char *la_store_sweep_spec(la_store *st, int64_t id);

/* Filters for la_store_list_runs; unset fields are NULL / NaN / 0. */
typedef struct la_run_filter {
  const char *state; /* NULL: any */
  int rank;          /* 0: any */
  double alpha, lr;  /* NaN: any (matched to 1e-12 relative) */
  int64_t limit;     /* 1..1000 */
  int64_t after;     /* return runs with id > after (pagination cursor) */
} la_run_filter;

/* A page of a sweep's runs: {"runs": [...], "next": id or null}. */
json_t *la_store_list_runs(la_store *st, int64_t sweep_id,
                           const la_run_filter *f, int *rc, la_err *err);

/* ---- the analysis' input and output (store_analysis.c) ---- */

/* Finished (done or diverged) runs of a sweep and the latest finish time;
 * *cached gets the stored analysis JSON text if it was computed from the
 * same finished runs (new string, free), else NULL. Returns 0, LA_EINVAL if
 * the sweep does not exist, or LA_EIO. */
int la_store_analysis_state(la_store *st, int64_t sweep_id, int64_t *finished,
                            double *last_finish, char **cached, la_err *err);

/* From the stored spec: steps, and the LoRA scale's power of r (1 for
 * peft's alpha / r, 0.5 for rslora's alpha / sqrt r). */
int la_store_sweep_shape(la_store *st, int64_t sweep_id, int *steps,
                         double *scale_power, char *scaling, size_t size,
                         la_err *err);

/* A finished run's eval loss at a checkpoint, as fit points (+Inf for a run
 * that diverged before the checkpoint). full: the final eval loss. *pts is
 * new (free). A run whose loss (or rank, lr, alpha) is unknown, not a
 * number, not finite or negative (an old database, a hand edit) is left out
 * and noted in excluded (borrowed array) as {"run_id", "step", "reason"}.
 * Returns the count, or a negative LA_E code. */
struct la_fit_point;
long la_store_fit_points(la_store *st, int64_t sweep_id, int step, int full,
                         struct la_fit_point **pts, json_t *excluded,
                         la_err *err);

/* Signal and drift at the last logged step, means over seeds and layers, per
 * (rank, lr, alpha) of done runs with a valid final eval loss (non-finite
 * means are null). New JSON array. */
json_t *la_store_drift_table(la_store *st, int64_t sweep_id, la_err *err);

/* The done runs of a sweep with a valid final eval loss (as the drift
 * table), for the claims (analysis/claims.h): each run's last sharpness
 * estimate as the view sharpness_converged gives it (unconverged values
 * NaN and flagged), and its drift and mechanism ratios at its last logged
 * step, means over layers. *out is new (free), in run id order. Returns the
 * count, or a negative LA_E code. */
struct la_claim_run;
long la_store_claim_runs(la_store *st, int64_t sweep_id,
                         struct la_claim_run **out, la_err *err);

/* Replaces the sweep's rows in alpha_star, fits and regret with those in
 * result (the analysis JSON, borrowed), and stores result itself with the
 * state it was computed from, in one transaction. LA_ENOTFOUND, storing
 * nothing, when the sweep was deleted while its analysis ran. */
int la_store_save_analysis(la_store *st, int64_t sweep_id, const json_t *result,
                           int64_t finished, double last_finish, la_err *err);

/* Keeps a command task's run log (store_log.c, schema/012_run_logs.sql):
 * text (what was kept, valid UTF-8) of the bytes the trainer wrote in its
 * attempt, replacing an earlier attempt's. 0 or LA_EIO. */
int la_store_put_run_log(la_store *st, int64_t run_id, int attempt,
                         uint64_t bytes, const char *text, la_err *err);

/* A sweep's search along alpha (docs/api.md, GET /v1/sweeps/{id}/search):
 * {"sweep_id", "search" (the spec's search object, or {"strategy":
 * "grid"}), "spent" ({"runs", "run_steps", "cpu_s" (the runs' wall_s,
 * one thread each), "points" (distinct rank, lr, alpha)}), "cells" (the
 * search_cells view's rows of the sweep), "decisions" (search_decisions'
 * rows, in order), and under a law search "law" (search.h,
 * la_search_law_report)}. NULL with *rc LA_ENOTFOUND (no such sweep), LA_EIO or
 * LA_ENOMEM and err filled. */
json_t *la_store_get_search(la_store *st, int64_t sweep_id, int *rc,
                            la_err *err);

/* A run's log as {"run_id", "attempt", "bytes", "log"} (a new object) and
 * its sweep's owner into owner (size bytes), or NULL with *rc LA_ENOTFOUND
 * (no such run, or one without a log: the same words) or LA_EIO. */
json_t *la_store_get_run_log(la_store *st, int64_t run_id, char *owner,
                             size_t size, int *rc, la_err *err);

/* What the done runs of a sweep measured: {"done_runs", "spectra" (runs
 * with spectra rows), "signal_drift" (with target-free figures), "target"
 * (with target-aware ones), "sharpness"} as counts of runs; a new object,
 * or NULL (LA_EIO, err filled). */
json_t *la_store_measured(la_store *st, int64_t sweep_id, la_err *err);

#endif
