/*
 * slurm.h: the Slurm executor (docs/slurm.md).
 *
 * Only a daemon whose config enables Slurm (--executor naming slurm) has
 * one: elsewhere no Slurm command is ever started and specs asking for it
 * are refused. Every sbatch setting comes from that config (defaults and
 * named profiles); a spec only picks a profile, an allowed partition, and a
 * time and CPUs within the config's maxima (la_slurm_resolve).
 *
 * Runs of sweeps whose executor is "slurm" (the spec's "executor", else the
 * first of the daemon's) go out as sbatch job arrays: one array per batch of
 * queued runs of one sweep (at most --slurm-batch runs of a sweep in Slurm
 * at once), throttled with %K from the sweep's max_parallel.
 * Each run is committed as running, with a fresh random token and its row
 * in slurm_jobs, before sbatch is called. On the node the worker POSTs its
 * JSON lines to /v1/ingest/{run} with that token (worker/remote.c); the
 * daemon stores them as it stores a local worker's lines, and the done
 * record ends the run. A command task's worker first POSTs its trainer's
 * log, bounded, to /v1/ingest/{run}/log with the same token. Jobs are followed
 * with squeue, and with scontrol (then sacct, where the cluster keeps
 * accounting) once they leave the queue: a job that ends without a done record
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
#include "loralpha/slurm_settings.h"
#include "loralpha/store.h"
#include "net/http.h"
#include "sched/sched.h"

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

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

/* Packs on Slurm (docs/slurm.md "Packs"): at most pack_max runs (1: none)
 * in one array task, stacked or exact, whose estimate fits memory bytes
 * (0: no bound). Defaults: no packs. */
void la_slurm_set_packs(la_slurm *sl, int pack_max, int stack, uint64_t memory);

/* Is the sweep of this run one the Slurm executor runs? */
int la_slurm_owns(la_slurm *sl, int64_t sweep_id);

/* The sweep was cancelled (its queued runs already are): its runs in Slurm
 * are committed cancelled and their jobs scancelled. */
void la_slurm_cancel_sweep(la_slurm *sl, int64_t sweep_id);

/* Answers POST /v1/ingest/{run_id} (docs/slurm.md). */
void la_slurm_ingest(la_slurm *sl, la_http_request *req, int64_t run_id);

/* Answers POST /v1/ingest/{run_id}/log (docs/slurm.md): a command task's
 * trainer's log, bounded on the node as locally (loralpha/logbound.h),
 * kept as the run's log of its current attempt (la_store_put_run_log). */
void la_slurm_ingest_log(la_slurm *sl, la_http_request *req, int64_t run_id);

/* Stops polling and submitting; jobs keep running in Slurm. done(arg) is
 * called once every child process has exited and every handle is closed. */
void la_slurm_stop(la_slurm *sl, void (*done)(void *), void *arg);

void la_slurm_stats_get(const la_slurm *sl, la_slurm_stats *out);

/* Frees a stopped executor (after its done callback). */
void la_slurm_free(la_slurm *sl);

#endif
