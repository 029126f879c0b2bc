/*
 * packing.h: which runs may train together in one pack of variants
 * (docs/worker.md "Packed variants").
 *
 * A pack's runs share every config field that shapes the pass (the task
 * and its data, rank, seed, batch, threads) and may differ in the per-run
 * scalars (alpha, lr, the optimizer's fields, schedule, steps, logging,
 * run_id). The worker checks a pack it is sent with la_pack_check; the
 * daemon's scheduler forms packs with the same check, so it never sends
 * one the worker would refuse. Pure code: jansson and the config only.
 */
#ifndef LORALPHA_PACKING_H
#define LORALPHA_PACKING_H

#include "loralpha/common.h"
#include "loralpha/config.h"

#include <jansson.h>

#define LA_PACK_MAX 64 /* most runs in one pack */

/* Whether the config field named name (a top-level key of a worker config)
 * must be equal across a pack's runs: 1 shared, 0 per run, -1 not a config
 * field (an index, not an error code). */
int la_pack_field_shared(const char *name);

/* Checks the run_id of each of the n raw configs (borrowed JSON objects):
 * an integer >= 0, none repeated. 0, or LA_EINVAL with
 * "configs[i].run_id: ..." in err. */
int la_pack_check_run_ids(const json_t *const *raw, int n, la_err *err);

/* Checks that the n configs, raw (borrowed JSON objects) and parsed, can
 * form a pack: a task that packs (teacher, mlp or npy), every shared field
 * equal to the first config's (the effective value, defaults filled; npy
 * compared as given), every run_id given and distinct. LA_EINVAL with
 * "configs[i].field: ..." in err. */
int la_pack_check(const json_t *const *raw, const la_config *cfgs, int n,
                  la_err *err);

/* The memory a run of cfg adds to a pack beside the process (its estimate,
 * la_config_memory, less LA_MEM_BASE): a pack of runs c_1..c_K needs at
 * most LA_MEM_BASE plus the sum of theirs (conservative: each counts the
 * task's data, which the pack holds once). */
uint64_t la_pack_run_memory(const la_config *cfg);

/* Whether the run of config raw (borrowed JSON with its run_id) may join
 * the pack led by raw0 (parsed: cfg0): raw parses (into *cfg), the pair
 * passes la_pack_check, and its la_pack_run_memory added to *memory (the
 * pack's estimate so far) stays within limit (0: any); then *memory grows
 * by it. 1 or 0. The daemon's scheduler and its Slurm executor form packs
 * with this one rule. */
int la_pack_joins(const json_t *raw0, const la_config *cfg0, const json_t *raw,
                  la_config *cfg, uint64_t *memory, uint64_t limit);

#endif
