/*
 * slurm_internal.h: what slurm.c and ingest.c share; not an interface.
 */
#ifndef LORALPHA_SLURM_INTERNAL_H
#define LORALPHA_SLURM_INTERNAL_H

#include "loralpha/slurm_db.h"
#include "slurm/slurm.h"

/* Runs handed to sbatch together: one array. */
typedef struct la_sbatch {
  struct la_sbatch *next;
  int64_t sweep_id;
  int n;
  int64_t *runs;  /* (n) owned */
  int ntasks;     /* array tasks: a run or a pack each */
  int64_t *first; /* (ntasks) owned: each task's first run, which names its
                     config file */
  char script[4200];
  char name[129]; /* the sweep's, for a comment in the script */
} la_sbatch;

struct la_slurm {
  uv_loop_t *loop;
  la_store *store;
  la_slurm_opts opts;
  char url[1024];
  la_sjob *jobs; /* followed now (n_jobs), in no order */
  size_t n_jobs, cap_jobs;
  la_sbatch *queue; /* arrays waiting for sbatch, oldest first */
  int submitting;   /* an sbatch is running */
  int polling;      /* a squeue / scontrol round is running */
  int children;     /* child processes not yet reaped and closed */
  uv_timer_t poll_timer;
  int timer_open, stopping;
  int dirs_ready; /* the directories exist and opts.dir is absolute */
  void (*stop_done)(void *);
  void *stop_arg;
  la_sched *sched; /* borrowed: kicked when a run is re-queued */
  la_sched_finish_hook finished;
  void *hook_ctx;
  int64_t owner_sweep[16]; /* sweeps whose executor is known (it never */
  int owner_slurm[16];     /* changes): 1 Slurm, 0 local */
  int owner_next;
  int pack_max, pack_stack; /* packs (la_slurm_set_packs) */
  uint64_t pack_memory;     /* a pack's memory estimate at most (0: any) */
  la_slurm_stats stats;
};

/* The followed job of a run, or NULL. */
la_sjob *la_slurm_job(la_slurm *sl, int64_t run_id);

/* Commits the run's end (res), ends its slurm_jobs row with slurm_state,
 * stops following it and calls the hooks. */
void la_slurm_end_run(la_slurm *sl, la_sjob *j, const la_run_result *res,
                      const char *slurm_state);

/* Ends the job's attempt as failed (re-queued while attempts remain) with
 * why, plus the worker's error and its Slurm log's tail. */
void la_slurm_fail_attempt(la_slurm *sl, la_sjob *j, const char *slurm_state,
                           const char *why);

#endif
