/*
 * pack.h: K runs of one task trained in one pass ("a pack of variants").
 *
 * The runs of a pack share every field that shapes the pass (the task and
 * its data, rank, seed, batch, threads, and the stint's stop_at and
 * resume_at: la_pack_field_shared) and may differ
 * in the per-run scalars (alpha, scaling, lr, the optimizer's fields, LoRA+
 * ratio, schedule, steps, what is logged and when, diverge_factor, run_id).
 * Each step gathers one batch for all of them and computes what does not
 * depend on the variant once: the first layer's frozen product X W0^T (for
 * a one-layer task, the whole frozen product). The rest runs in one of two
 * ways:
 *   exact (stack = 0): every other product per variant, in the shapes of a
 *     run alone, so each variant's records are bit-identical to its run
 *     trained alone (OpenBLAS's result for an element depends on the
 *     product's shape, so stacking changes the last bits); the variants
 *     compute one after another in one workspace;
 *   stacked (stack = 1): the variants' first-layer adapters in one product
 *     X [A_1; ...; A_K]^T and their gradients in one [gu_1 ... gu_K]^T X;
 *     deeper layers stack the variants' activations (K batch, d) against
 *     each frozen matrix, forward and backward. Faster; the same numbers up
 *     to rounding, which training can amplify.
 * The evaluation split's first-layer frozen product is likewise computed
 * once, for the pack's life, where it fits the memory estimate (pack.c,
 * share_eval). Each variant is a trainer (train.h) of its own: its records
 * (every one carrying its run_id), its optimizer, its evaluation, metrics
 * and divergence. A variant that diverges, ends, or whose metrics fail
 * leaves the pack; the others go on unchanged. docs/worker.md ("Packed
 * variants") says which numbers equal a run trained alone.
 */
#ifndef LORALPHA_PACK_H
#define LORALPHA_PACK_H

#include "loralpha/config.h"
#include "loralpha/packing.h"
#include "task.h"

#include <jansson.h>
#include <stdio.h>

typedef struct la_pack la_pack;

/* A pack of the n configs (copied; checked by la_pack_check, each filled by
 * its task as la_task_build fills it) on task (borrowed: it must outlive
 * the pack), exact or stacked (stack). Returns 0 or an LA_E code with err
 * filled; *out is new, for la_pack_free. */
int la_pack_new(const la_config *cfgs, int n, const la_task *task, int stack,
                la_pack **out, la_err *err);

/* Trains every run of the pack to its end, writing each run's records on
 * out, all with its run_id: start ... done, or an error record when its
 * metrics fail. Returns 0 (every run ended with done or error). */
int la_pack_run(la_pack *p, FILE *out);

/* One packed update of every run still training, without records (the
 * benchmark's step); returns the first live run's batch loss. */
double la_pack_step(la_pack *p);

void la_pack_free(la_pack *p);

/* A pack request (borrowed JSON: {"type":"pack","configs":[...]} with an
 * optional "stack": true|false, of loralpha-worker --serve) trained on
 * out: configs that fail to parse
 * get their own error record and stay out; a shared field that differs, or
 * a task or pack that cannot be built, fails every run with one message;
 * every run ends with its done or error record. A request that cannot be
 * split into runs (other members, configs not an array of 1..LA_PACK_MAX
 * objects, a run_id missing, invalid or repeated) gets one error record without
 * run_id. The task is taken from and left in tc. */
void la_pack_serve(const json_t *req, la_task_cache *tc, FILE *out);

#endif
