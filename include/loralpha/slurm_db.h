/*
 * slurm_db.h: the Slurm executor's rows (slurm_jobs, schema/005_slurm.sql);
 * shared by slurm.c and store_slurm.c, not an interface.
 */
#ifndef LORALPHA_SLURM_DB_H
#define LORALPHA_SLURM_DB_H

#include "loralpha/store.h"

#include <stdint.h>

#define LA_TOKEN_HEX 64 /* a run token: 256 random bits as hex */

/* A run in Slurm, as the executor follows it. */
typedef struct la_sjob {
  int64_t run_id, sweep_id;
  int64_t array_id; /* 0 until sbatch answered */
  int task;         /* index in its array */
  int attempt, max_attempts;
  char token_sha256[LA_SHA256_HEX + 1]; /* of its token (only this is kept) */
  int submitted;                        /* 1: 'submitted', 0: 'submitting' */
  char slurm_state[32];                 /* last state seen ("" : none yet) */
  char error[512]; /* the worker's error record, if it sent one */
} la_sjob;

/* A queued run to submit. */
typedef struct la_sdb_run {
  int64_t id;
  int attempts;
  char *config; /* owned (free) */
  int task;     /* its array task (la_sdb_claim; the runs of a pack share
                   one) */
} la_sdb_run;

/* An active sweep run by Slurm. */
typedef struct la_sdb_sweep {
  int64_t id;
  int max_parallel, max_attempts;
  char *spec; /* owned (free): the stored spec */
} la_sdb_sweep;

/* Up to max active sweeps run by Slurm that have queued runs, in start
 * order (priority, then id). Returns the count or a negative LA_E code. */
int la_sdb_slurm_sweeps(la_store *st, int default_slurm, la_sdb_sweep *out,
                        int max);

/* Up to max queued runs of the sweep in id order into out. Returns the
 * count or a negative LA_E code. */
int la_sdb_queued(la_store *st, int64_t sweep, la_sdb_run *out, int max);

/* In one transaction, for each run: queued -> running (attempts + 1, its
 * rows deleted) and its slurm_jobs row 'submitting' with hashes[i] (the
 * SHA-256 of its token) and its task (runs[i].task). A run that is no longer
 * queued makes it fail (nothing changes). Returns 0 or an LA_E code. */
int la_sdb_claim(la_store *st, int64_t sweep, const la_sdb_run *runs,
                 char (*hashes)[LA_SHA256_HEX + 1], int n, const char *script,
                 la_err *err);

/* The runs' rows: 'submitted' in array array_id. */
int la_sdb_submitted(la_store *st, const int64_t *runs, int n, int64_t array_id,
                     la_err *err);

/* The run's row: 'ended' with its last Slurm state, token revoked. */
int la_sdb_end(la_store *st, int64_t run_id, const char *slurm_state);

/* The run's last Slurm state. */
int la_sdb_set_state(la_store *st, int64_t run_id, const char *slurm_state);

/* Every row not 'ended' whose run is running, with its sweep's
 * max_attempts: *out new (free), *n the count. Rows whose run is not
 * running any more are ended. Returns 0 or LA_EIO. */
int la_sdb_live(la_store *st, la_sjob **out, size_t *n, la_err *err);

/* 1 when the sweep is run by Slurm (its spec's executor, or the daemon's
 * default when the spec names none), 0 when not, LA_EIO on failure. */
int la_sdb_is_slurm(la_store *st, int64_t sweep, int default_slurm);

/* The ids of the sweep's runs in expansion order into ids[n]. Returns 0,
 * or LA_EIO (also when the sweep has another number of runs). */
int la_sdb_run_ids(la_store *st, int64_t sweep, int64_t *ids, size_t n);

/* The run's state into buf ("" if there is no such run). */
void la_sdb_run_state(la_store *st, int64_t run_id, char *buf, size_t size);

#endif
