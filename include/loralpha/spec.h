/*
 * spec.h: sweep specs: validation and expansion into runs.
 *
 * A sweep spec (docs/sweeps.md) names a task, a grid over rank, alpha and
 * lr, seeds, and the training settings every run shares. la_spec_parse
 * validates all of it (every error names the field path, "grid.rank[2]:
 * ...") and expands the grid into runs, each with the complete worker config
 * it will be given (validated with la_config_parse, so a spec that is
 * accepted never produces a config the worker rejects).
 */
#ifndef LORALPHA_SPEC_H
#define LORALPHA_SPEC_H

#include "loralpha/common.h"
#include "loralpha/config.h"
#include "loralpha/search.h"
#include "loralpha/window.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct la_slurm_opts;

typedef struct la_spec_limits {
  size_t max_runs; /* most runs one sweep may expand to (default 100000) */
  /* 0: no check. Bytes one run may need (la_config_memory), metric rows
   * one run and one sweep may store (la_config_rows). */
  uint64_t max_run_memory, max_run_rows, max_sweep_rows;
  /* borrowed: the daemon's Slurm options, which the spec's "executor" and
   * "slurm" must keep to (slurm_settings.h); NULL (the default): forms only */
  const struct la_slurm_opts *slurm;
} la_spec_limits;

/* One run of a sweep. */
typedef struct la_spec_run {
  int rank;
  double alpha, lr;
  int seed_index; /* 0 .. seeds-1 */
  uint64_t seed;  /* the worker's seed */
  json_t *config; /* owned: the complete worker config (no threads/run_id) */
} la_spec_run;

typedef struct la_spec {
  char name[129];
  int priority;       /* higher starts first */
  int max_parallel;   /* 0: no per-sweep limit */
  int max_attempts;   /* tries per run before it stays failed */
  la_window window;   /* hours its runs may start in (enabled 0: any) */
  uint64_t seed;      /* the sweep seed */
  la_search search;   /* how its runs are spent along alpha (search.h) */
  json_t *normalized; /* owned: the spec with defaults filled, as stored */
  json_t *base;       /* owned: the worker config every run shares (without
                         rank, alpha, lr and seed); read-only */
  size_t n_runs;
  la_spec_run *runs; /* (n_runs) in expansion order */
} la_spec;

/* Defaults: max_runs 100000, max_run_rows 1000000, max_sweep_rows
 * 250000000, no memory limit (the daemon sets its own). */
void la_spec_limits_default(la_spec_limits *lim);

/* Validates spec (borrowed) and expands it. On success *out is a new spec to
 * release with la_spec_free. On failure returns LA_EINVAL (or LA_ENOMEM)
 * with "<field path>: <problem>" in err and *out NULL. */
int la_spec_parse(const json_t *spec, const la_spec_limits *lim, la_spec **out,
                  la_err *err);

void la_spec_free(la_spec *spec);

/* Run i's complete worker config (no threads/run_id): base plus its rank,
 * alpha, lr and seed. A new object (its leaf values shared with base, so
 * add keys but do not change values in place), or NULL when out of memory.
 * Built on demand so that a large sweep never holds every config at once. */
json_t *la_spec_run_config(const la_spec *spec, size_t i);

/* The distinct ranks of spec's runs, ascending: a new array (free it) with
 * their count in *n, or NULL when out of memory (or there are no runs). */
int *la_spec_ranks(const la_spec *spec, size_t *n);

/* Calls fn(value, field, ctx) for every file path spec names (spec
 * borrowed; fn may replace a string value with json_string_set), field
 * its path in the spec ("task.npy.w0[0]"): the worker's path fields
 * (la_config_each_path) in each section of the spec that holds worker
 * fields. Returns 0 or fn's first non-zero answer. */
int la_spec_each_path(json_t *spec, la_config_path_fn fn, void *ctx);

/* The section of the spec ("task", "optimizer", "schedule", "metrics")
 * that holds the worker config field named at the start of worker_field
 * ("npy.x: ..." gives "task": the spec's task.npy.x), or NULL when it is a
 * top-level field of the spec or none. A borrowed constant. */
const char *la_spec_section_of(const char *worker_field);

/* Fills every run's config field (for tools and tests that want them all).
 * Returns 0 or LA_ENOMEM. */
int la_spec_materialize(la_spec *spec);

/* The seed of run (rank, seed_index) of a sweep with seed sweep_seed when
 * seeds are given as a count: splitmix64 over the three, masked to 53 bits
 * (exact in a JSON double). Shared across alpha and lr, so runs that differ
 * only in alpha or lr start from the same A and see the same batches. */
uint64_t la_spec_run_seed(uint64_t sweep_seed, int rank, int seed_index);

#endif
