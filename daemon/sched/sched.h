/*
 * sched.h: the scheduler and the local executor.
 *
 * Queued runs start by fair share between users (the user with the fewest
 * running runs goes first, under the user's cap), then by sweep priority
 * within a user, then first in first out, up to max_workers overall and
 * each sweep's max_parallel, and only inside the daemon's and the sweep's
 * start windows (checked every 15 s; outside a window with "requeue",
 * running workers are stopped and their runs queued again). A run is marked
 * running (committed) before its worker is spawned; each worker is a child
 * process (uv_spawn) of loralpha-worker with its config on stdin,
 * OPENBLAS_NUM_THREADS set and a nice level. Its stdout JSON lines go to the
 * store as they arrive; the last few KiB of its stderr are kept for the
 * error of a failed run. When the worker has exited and both pipes are
 * closed, its exit status and done record decide the run's state, committed
 * together with its last rows: done, diverged, or failed (retried while
 * attempts < max_attempts, and then failed with its error). A worker silent
 * for heartbeat_ms is killed and counts as a failed attempt.
 *
 * With warm workers (opts.warm, pool.h) a worker is a `loralpha-worker
 * --serve` process that trains one run after another: each run is one
 * request line on its stdin, and the run ends with its done or error record
 * on stdout (the same parser, heartbeat and commit as above); the process
 * then waits in the pool for the next run of the same owner, until it is
 * worn out or idle too long (its stdin is closed and it exits). Whatever
 * stops a run early (cancel, pause, a closed window, the heartbeat, a
 * protocol error, a drain) kills its process, as it does a one-run worker:
 * the pool loses it. A process that dies during a run fails that run only.
 *
 * With packs (opts.pack_max > 1, docs/daemon.md "Packs") a run that starts
 * takes along queued runs of its sweep, rank and seed on their first
 * attempt whose configs pack with its own (loralpha/packing.h), as many as
 * pack_max, the sweep's max_parallel, the owner's cap and the memory cap
 * allow; the worker (a --serve process, warm or not) gets them as one
 * {"type":"pack"} request. Its records are routed by run_id; each run's end
 * is committed as its done or error record comes; a stop of the sweep
 * stops the pack; a process that dies fails each run still training.
 */
#ifndef LORALPHA_SCHED_H
#define LORALPHA_SCHED_H

#include "loralpha/common.h"
#include "loralpha/store.h"
#include "loralpha/window.h"

#include <stdint.h>
#include <uv.h>

typedef struct la_sched la_sched;

typedef struct la_sched_opts {
  const char *worker_path; /* the loralpha-worker executable */
  int max_workers;         /* >= 1 */
  int threads_per_worker;  /* OPENBLAS_NUM_THREADS and the config's threads */
  int nice;                /* added niceness of workers, 0..19 */
  unsigned heartbeat_ms;   /* silent this long: killed (0: never) */
  unsigned flush_ms;       /* metric rows committed at least this often */
  la_window window;        /* the daemon's start window (enabled 0: any) */
  /* most runs user may have running (< 0: no limit); NULL: no limits */
  int (*user_cap)(const char *user, void *ctx);
  void *cap_ctx;
  /* warm workers (pool.h; 0 in every field: one process per run) */
  int warm;                          /* worker_mode "warm" */
  long worker_max_runs;              /* runs a warm worker serves */
  unsigned long long max_rss_growth; /* bytes of RSS growth it may show */
  unsigned idle_ms;                  /* an idle warm worker is closed */
  /* packs (docs/daemon.md "Packs"): most runs one worker trains at once
   * (1: none), and whether their products are stacked */
  int pack_max;
  int pack_stack;
  uint64_t pack_memory; /* a pack's memory estimate at most (0: any) */
} la_sched_opts;

typedef struct la_sched_stats {
  int busy;             /* workers running now */
  uint64_t started;     /* worker processes spawned */
  uint64_t finished;    /* runs ended done or diverged */
  uint64_t failed;      /* attempts that failed (retried or not) */
  uint64_t killed;      /* workers killed (heartbeat, cancel, drain, requeue) */
  uint64_t requeued;    /* workers stopped for a pause or a closed window */
  int max_busy;         /* most workers running at once since start */
  uint64_t packs;       /* packs of 2 or more runs sent to workers */
  uint64_t packed_runs; /* the runs in them */
  int kept; /* run ends kept for the flush timer: their commit failed */
} la_sched_stats;

/* A new scheduler on loop using store (both borrowed). Starts its flush and
 * heartbeat timers. Returns 0 or an LA_E code with err filled. */
int la_sched_new(uv_loop_t *loop, la_store *store, const la_sched_opts *opts,
                 la_sched **out, la_err *err);

/* Starts every queued run there is room for. Call after anything that may
 * make a run startable (a new sweep, a finished run). */
void la_sched_kick(la_sched *s);

/* Stops the running workers of a sweep (its runs end 'cancelled'); the
 * store's queued runs must already be cancelled. */
void la_sched_cancel_sweep(la_sched *s, int64_t sweep_id);

/* Stops the running workers of a sweep; their runs go back to the queue
 * with the attempt not counted (a pause with running "requeue"). */
void la_sched_requeue_sweep(la_sched *s, int64_t sweep_id);

/* A sweep's window changed: running workers take it, and runs outside it
 * that must not go on are requeued. */
void la_sched_set_window(la_sched *s, int64_t sweep_id, const la_window *win);

/* Workers running now for user's sweeps. */
int la_sched_user_busy(const la_sched *s, const char *user);

/* Graceful stop: nothing new starts, running workers are stopped and their
 * runs return to 'queued' (the attempt not counted), rows are flushed; then
 * done(arg) is called and the scheduler may be freed. */
void la_sched_drain(la_sched *s, void (*done)(void *), void *arg);

void la_sched_stats_get(const la_sched *s, la_sched_stats *out);

/* Caps every local worker started from now on at bytes of data (its
 * --memory-limit: RLIMIT_DATA); 0, the default, sets no cap. */
void la_sched_set_memory_limit(la_sched *s, unsigned long long bytes);

/* Called on the loop thread after a run's end has been committed (any
 * state), with the run's sweep. */
typedef void (*la_sched_finish_hook)(int64_t sweep_id, void *ctx);
void la_sched_set_finish_hook(la_sched *s, la_sched_finish_hook hook,
                              void *ctx);

/* Another executor (the Slurm one): kick(ctx) is called first in every
 * la_sched_kick to start what it runs; owns(ctx, sweep) says which sweeps'
 * runs are its own (never started locally); cancel(ctx, sweep) is called by
 * la_sched_cancel_sweep. */
typedef struct la_sched_remote {
  void (*kick)(void *ctx);
  int (*owns)(void *ctx, int64_t sweep_id);
  void (*cancel)(void *ctx, int64_t sweep_id);
  void *ctx;
} la_sched_remote;
void la_sched_set_remote(la_sched *s, const la_sched_remote *remote);

/* How a worker's --check of a new sweep's run came out. */
typedef enum {
  LA_CHECK_PASSED,  /* exit 0: the config and its data files are usable */
  LA_CHECK_FAILED,  /* msg: the worker's error ("npy.x: ...: cannot be read") */
  LA_CHECK_SKIPPED, /* msg: why it did not run to the end (timed out,
                       stopped with the daemon) */
} la_check_result;
typedef void (*la_sched_check_cb)(la_check_result result, const char *msg,
                                  void *ctx);

/* Runs `loralpha-worker --check` on config (a run's JSON config, borrowed)
 * exactly as a run of owner's sweep would be started (the same program,
 * --run-as user, directory, environment, memory cap and nice level), as a
 * child process: the loop never waits for it. It is killed after
 * timeout_ms. done(result, msg, ctx) is called once, on the loop. Returns
 * 0, or an LA_E* code with err filled (the worker cannot be started, the
 * scheduler is draining, out of memory): then done is never called. At
 * most max_workers checks run at once; the others wait, oldest first (one
 * that then cannot start answers LA_CHECK_SKIPPED saying why). A drain
 * stops running checks and answers waiting ones (LA_CHECK_SKIPPED) and
 * waits for them. */
int la_sched_check(la_sched *s, const char *owner, const char *config,
                   unsigned timeout_ms, la_sched_check_cb done, void *ctx,
                   la_err *err);

/* Frees a drained scheduler once its handles are closed (call after the
 * drain's done callback; the loop must run once more to close timers). */
void la_sched_free(la_sched *s);

#endif
