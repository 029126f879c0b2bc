/*
 * slurm.h: the Slurm executor (docs/slurm.md).
 *
 * Runs of sweeps whose executor is "slurm" (the spec's "executor", else the
 * daemon's --executor) go out as sbatch job arrays: one array per batch of
 * queued runs of one sweep (at most --slurm-batch runs of a sweep in Slurm
 * at once), throttled with %K from the sweep's max_parallel.
 * Each run is committed as running, with a fresh random token and its row
 * in slurm_jobs, before sbatch is called. On the node the worker POSTs its
 * JSON lines to /v1/ingest/{run} with that token (worker/remote.c); the
 * daemon stores them as it stores a local worker's lines, and the done
 * record ends the run. Jobs are followed with squeue, and with scontrol
 * (then sacct, where the cluster keeps accounting) once they leave the
 * queue: a job that ends without a done record
 * (FAILED, NODE_FAIL, PREEMPTED, TIMEOUT, CANCELLED by someone else, or
 * vanished) is a failed attempt, re-queued while attempts remain. Cancelling
 * a sweep commits its runs cancelled, revokes their tokens and scancels the
 * arrays. A restarted daemon re-attaches to the jobs still in Slurm.
 *
 * Everything runs on the loop thread; sbatch, squeue, scontrol and scancel
 * are child processes (uv_spawn), never waited for on the loop.
 */
#ifndef LORALPHA_SLURM_H
#define LORALPHA_SLURM_H

#include "loralpha/common.h"
#include "loralpha/http.h"
#include "loralpha/sched.h"
#include "loralpha/store.h"

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#define LA_SLURM_MAX_ARGS 16 /* extra sbatch options */
#define LA_SLURM_TEXT 256    /* bytes of a partition, account, ... */

/* The sbatch settings of a sweep: the daemon's, each replaced by the
 * spec's "slurm" object where it gives one. Empty strings: not given. */
typedef struct la_slurm_settings {
  char partition[LA_SLURM_TEXT];
  char account[LA_SLURM_TEXT];
  char time[LA_SLURM_TEXT]; /* Slurm's time format: "30", "1:00:00", ... */
  int cpus_per_task;        /* also the worker's BLAS threads; >= 1 */
  char args[LA_SLURM_MAX_ARGS][LA_SLURM_TEXT]; /* extra sbatch options */
  int n_args;
} la_slurm_settings;

/* The daemon's Slurm options (loralpha serve --executor, --slurm-*). */
typedef struct la_slurm_opts {
  int default_slurm;          /* --executor slurm: sweeps without one */
  char dir[3072];             /* --slurm-dir: scripts, configs, tokens, logs */
  char report_url[1024];      /* --slurm-report-url ("": from --listen) */
  char worker[4096];          /* the worker path on the nodes */
  char job_name[64];          /* --slurm-job-name */
  unsigned poll_ms;           /* --slurm-poll */
  int batch;                  /* --slurm-batch: a sweep's runs in Slurm */
  la_slurm_settings settings; /* --slurm-partition, ... */
} la_slurm_opts;

/* Defaults: local executor, dir "loralpha-slurm", poll 5 s, batch 1000,
 * job name "loralpha", 1 CPU per task. */
void la_slurm_opts_default(la_slurm_opts *o);

/* One `loralpha serve` option that belongs to the executor (--executor or
 * --slurm-*) with its value. Returns 0, 1 when flag is not one of them, or
 * LA_EINVAL with err naming the flag. */
int la_slurm_opt(la_slurm_opts *o, const char *flag, const char *value,
                 la_err *err);

/* The usage lines of those options (static text). */
const char *la_slurm_usage(void);

/* Validates the spec's "executor" and "slurm" fields (spec borrowed) and
 * copies them into norm (borrowed; values are new). Errors name the field
 * ("slurm.cpus_per_task: ..."). Returns 0 or LA_EINVAL / LA_ENOMEM. */
int la_slurm_spec_parse(const json_t *spec, json_t *norm, la_err *err);

/* The settings of a stored normalized spec (text, borrowed) over the
 * daemon's (base). Returns 0, or LA_EINVAL if the text is not a spec. */
int la_slurm_settings_of(const char *spec_text, const la_slurm_settings *base,
                         la_slurm_settings *out);

/* Writes an sbatch array script for runs[n] (ids into per-run files named
 * DIR/runs/<id>.json and .token) to f. url: the daemon's report URL, or
 * NULL for a standalone script whose workers write their lines to
 * DIR/out/<id>.jsonl. throttle: %K (0: none). Returns 0 or LA_EIO. */
int la_slurm_write_script(FILE *f, const char *dir, const char *job_name,
                          const la_slurm_settings *set, const char *worker,
                          const char *url, const int64_t *runs, int n,
                          int throttle);

typedef struct la_slurm la_slurm;

typedef struct la_slurm_stats {
  uint64_t arrays;    /* sbatch calls that succeeded */
  uint64_t submitted; /* runs submitted */
  uint64_t ingested;  /* records accepted from remote workers */
  uint64_t rejected;  /* ingest requests refused (token, run, body) */
  uint64_t requeued;  /* attempts that ended in Slurm without a done record */
  uint64_t attached;  /* jobs re-attached at start */
  int live;           /* jobs followed now */
} la_slurm_stats;

/* A new executor on loop over store (both borrowed). Re-attaches to the
 * jobs a previous daemon left in slurm_jobs: they keep running and are
 * followed; jobs whose submission had not been recorded are re-queued
 * (their tokens revoked). Returns 0 or an LA_E code with err filled. */
int la_slurm_new(uv_loop_t *loop, la_store *store, const la_slurm_opts *opts,
                 la_slurm **out, la_err *err);

/* The daemon listens on host:port: the URL the workers POST to, unless
 * --slurm-report-url gave one (the daemon knows its port only after
 * listening; for 0.0.0.0 and :: the URL has the host's name). */
void la_slurm_listening(la_slurm *sl, const char *host, int port);

/* Joins the scheduler (borrowed): its kicks submit the queued runs of Slurm
 * sweeps first and never start them locally, its cancels reach the runs in
 * Slurm, and a run re-queued here kicks it. finished(sweep, ctx) is called
 * after a run's end has been committed, like the scheduler's finish hook. */
void la_slurm_attach(la_slurm *sl, la_sched *sched,
                     la_sched_finish_hook finished, void *ctx);

/* Submits the queued runs of Slurm sweeps (one array per sweep and batch).
 * Called by the scheduler before it starts local workers. */
void la_slurm_kick(la_slurm *sl);

/* Is the sweep of this run one the Slurm executor runs? */
int la_slurm_owns(la_slurm *sl, int64_t sweep_id);

/* The sweep was cancelled (its queued runs already are): its runs in Slurm
 * are committed cancelled and their jobs scancelled. */
void la_slurm_cancel_sweep(la_slurm *sl, int64_t sweep_id);

/* Answers POST /v1/ingest/{run_id} (docs/slurm.md). */
void la_slurm_ingest(la_slurm *sl, la_http_request *req, int64_t run_id);

/* Stops polling and submitting; jobs keep running in Slurm. done(arg) is
 * called once every child process has exited and every handle is closed. */
void la_slurm_stop(la_slurm *sl, void (*done)(void *), void *arg);

void la_slurm_stats_get(const la_slurm *sl, la_slurm_stats *out);

/* Frees a stopped executor (after its done callback). */
void la_slurm_free(la_slurm *sl);

/* ---- the database side (store_slurm.c) ---- */

#endif
