/*
 * slurm_settings.h: what a Slurm job of loralpha is made of, as settings
 * (docs/slurm.md): the sbatch settings, the daemon's Slurm options (from its
 * config or export-slurm's flags), a spec's Slurm choices checked against
 * them, and the array script. Pure: no event loop, no database; the
 * executor that submits and follows jobs is daemon/slurm/slurm.h.
 *
 * In the daemon every sbatch setting comes from its config (defaults and
 * named profiles); a spec only picks a profile, an allowed partition, and a
 * time and CPUs within the config's maxima (la_slurm_resolve).
 */
#ifndef LORALPHA_SLURM_SETTINGS_H
#define LORALPHA_SLURM_SETTINGS_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#define LA_SLURM_MAX_ARGS 16     /* the admin's extra #SBATCH options */
#define LA_SLURM_MAX_ENV 16      /* the admin's job environment */
#define LA_SLURM_MAX_PARTS 32    /* partitions users may choose */
#define LA_SLURM_MAX_PROFILES 16 /* named profiles */
#define LA_SLURM_TEXT 256        /* bytes of an option or NAME=value */
#define LA_SLURM_NAME 64         /* bytes of a partition, account, ... */

/* The sbatch settings of an array. In the daemon they come only from its
 * config (the defaults, a profile over them); a spec may only pick a
 * profile, a partition from the allowed list, and a time and CPUs within
 * the maxima. Empty strings: not given. */
typedef struct la_slurm_settings {
  char partition[LA_SLURM_NAME];
  char account[LA_SLURM_NAME];
  char qos[LA_SLURM_NAME];
  char mem[LA_SLURM_NAME];  /* "4G", "500M", ... */
  char time[LA_SLURM_NAME]; /* canonical "D-HH:MM:SS" */
  int cpus_per_task;        /* also the worker's BLAS threads; >= 1 */
  char args[LA_SLURM_MAX_ARGS][LA_SLURM_TEXT]; /* extra #SBATCH options */
  int n_args;
  char env[LA_SLURM_MAX_ENV][LA_SLURM_TEXT]; /* the job's "NAME=value"s */
  int n_env;
} la_slurm_settings;

/* A named profile: the fields it gives (LA_SLURM_G_* bits) replace the
 * defaults'. */
typedef struct la_slurm_profile {
  char name[LA_SLURM_NAME];
  unsigned given;
  la_slurm_settings set;
} la_slurm_profile;

enum {
  LA_SLURM_G_PARTITION = 1u << 0,
  LA_SLURM_G_ACCOUNT = 1u << 1,
  LA_SLURM_G_QOS = 1u << 2,
  LA_SLURM_G_MEM = 1u << 3,
  LA_SLURM_G_TIME = 1u << 4,
  LA_SLURM_G_CPUS = 1u << 5,
  LA_SLURM_G_ARGS = 1u << 6,
  LA_SLURM_G_ENV = 1u << 7,
};

/* The daemon's Slurm options (loralpha serve --executor, --slurm-*, and
 * the config file's "executor" and "slurm"), or export-slurm's. */
typedef struct la_slurm_opts {
  int enabled;           /* Slurm is one of the daemon's executors */
  int default_slurm;     /* ... and the one of sweeps that name none */
  int standalone;        /* export-slurm: the user's own choices, no limits */
  char dir[3072];        /* --slurm-dir: scripts, configs, tokens, logs */
  char report_url[1024]; /* --slurm-report-url ("": from --listen) */
  char worker[4096];     /* the worker path on the nodes */
  char job_name[64];     /* --slurm-job-name */
  unsigned poll_ms;      /* --slurm-poll */
  int batch;             /* --slurm-batch: a sweep's runs in Slurm */
  la_slurm_settings settings; /* the defaults: --slurm-partition, ... */
  char partitions[LA_SLURM_MAX_PARTS][LA_SLURM_NAME]; /* users may pick */
  int n_partitions;
  long max_time_s; /* longest time a spec may ask for (0: none) */
  int max_cpus;    /* most CPUs per task a spec may ask for (0: none) */
  la_slurm_profile profiles[LA_SLURM_MAX_PROFILES];
  int n_profiles;
} la_slurm_opts;

/* Defaults: local executor only (Slurm disabled), dir "loralpha-slurm",
 * poll 5 s, batch 1000, job name "loralpha", 1 CPU per task, no choices
 * for users. */
void la_slurm_opts_default(la_slurm_opts *o);

/* One `loralpha serve` option that belongs to the executor (--executor or
 * --slurm-*) with its value. Returns 0, 1 when flag is not one of them, or
 * LA_EINVAL with err naming the flag. */
int la_slurm_opt(la_slurm_opts *o, const char *flag, const char *value,
                 la_err *err);

/* The config file's "executor" (a string) or "slurm" (an object) key with
 * its value (borrowed). Returns 0, 1 when key is neither, or LA_EINVAL with
 * err naming the key path ("slurm.profiles.big.mem: ..."). */
int la_slurm_config_key(la_slurm_opts *o, const char *key, const json_t *v,
                        la_err *err);

/* The effective "executor" and "slurm" keys as the config file would give
 * them, set into obj (borrowed). Returns 0 or LA_ENOMEM. */
int la_slurm_config_print(const la_slurm_opts *o, json_t *obj);

/* The usage lines of those options (static text). */
const char *la_slurm_usage(void);

/* Validates the spec's "executor" and "slurm" fields (spec borrowed) and
 * copies them into norm (borrowed; values are new). The "slurm" object may
 * hold only profile, partition, time and cpus_per_task. With policy (the
 * daemon's options; NULL: only the fields' forms are checked) the choices
 * must also be ones the daemon allows: an executor it has, a profile it
 * names, a partition of its list, a time and CPUs within its maxima.
 * Errors name the field ("slurm.partition: ..."). Returns 0 or LA_EINVAL /
 * LA_ENOMEM. */
int la_slurm_spec_parse(const json_t *spec, json_t *norm,
                        const la_slurm_opts *policy, la_err *err);

/* The settings of a spec's "slurm" object (borrowed; NULL: none) under o:
 * the defaults, the profile's fields over them, then the spec's partition,
 * time and CPUs, each checked against o (or, when o->standalone, taken as
 * the user's own). Returns 0 or LA_EINVAL with err naming the field. */
int la_slurm_resolve(const la_slurm_opts *o, const json_t *slurm,
                     la_slurm_settings *out, la_err *err);

/* la_slurm_resolve for a stored normalized spec (text, borrowed): the
 * daemon's config may have changed since the spec was accepted. */
int la_slurm_settings_of(const char *spec_text, const la_slurm_opts *o,
                         la_slurm_settings *out, la_err *err);

/* What an sbatch array script is made of (every pointer borrowed). */
typedef struct la_slurm_script {
  const char *dir;      /* absolute: runs/, logs/, out/ and the job's cwd */
  const char *job_name; /* the arrays' name */
  const char *worker;   /* loralpha-worker on the nodes */
  const char *url;      /* the daemon's report URL; NULL: standalone */
  const la_slurm_settings *set;
  const char *sweep_name; /* quoted into a comment (NULL: none) */
  int64_t sweep_id;       /* 0: none */
  const int64_t *runs;    /* (n) ids of DIR/runs/<id>.json and .token */
  int n;
  int throttle; /* %K (0: none) */
} la_slurm_script;

/* Writes the array script of s to f: #SBATCH lines of values that were
 * checked to be plain (no spaces, quotes, '$', '\', '%' or control
 * characters: LA_EINVAL and nothing usable written otherwise), the job
 * with --export=NONE in DIR, an environment of PATH, the admin's variables
 * and OPENBLAS_NUM_THREADS only, and every path single-quoted. A worker
 * without a report URL writes its lines to DIR/out/<id>.jsonl. Returns 0,
 * LA_EINVAL or LA_EIO. */
int la_slurm_write_script(FILE *f, const la_slurm_script *s);

#endif
