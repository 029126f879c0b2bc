/*
 * claims.h: what a sweep says about the paper's claims 1 and 2
 * (docs/analysis.md, "The three claims"), from its runs' last sharpness
 * estimates and signal/drift records and from its analysis (fit.h):
 *
 *  - claim 1, LoRA smooths the landscape: per rank, the ratio of LoRA's
 *    sharpness to the full weights' (geometric mean over seeds of each
 *    run's lora / full, converged estimates only) at the rank's alpha* (the
 *    grid alpha of alpha* at its best lr, joint.h) and along alpha at that
 *    lr, with bootstrap intervals over seeds, and across ranks.
 *  - claim 2, raising alpha is not raising lr: per rank, from the base
 *    point (the smallest lr, the smallest alpha), the path that raises
 *    alpha at that lr and the path that raises lr at that alpha, compared
 *    at the same loss change (the larger change both reach on their way
 *    down to their lowest loss): the drift ratio and the mechanism ratio
 *    on the alpha path over those on the lr path, with bootstrap intervals
 *    over seeds, and across ranks.
 *
 * Each claim gets a verdict in words; a sweep without the data says what
 * is missing instead. Claim 3 (the law per lr and budget) is not here.
 * Pure computation; no I/O, no globals, thread-safe.
 */
#ifndef LORALPHA_CLAIMS_H
#define LORALPHA_CLAIMS_H

#include "analysis/fit.h"

#include <jansson.h>

/* One finished (done) run. */
typedef struct la_claim_run {
  int rank;
  double lr, alpha;
  int seed_index;
  double loss;       /* final eval loss (NaN: unknown; the run is not used) */
  int has_sharpness; /* 1: the run has a sharpness estimate */
  double lora, full; /* its last estimate (NaN: none, or left out because its
                        flag says it did not converge) */
  int lora_unconverged, full_unconverged; /* 1: the last one was left out */
  double drift_ratio; /* at the last logged step, mean over layers (NaN:
                         none, e.g. a task without a known target) */
  double mech_ratio;  /* the same for the target-free mechanism ratio */
} la_claim_run;

typedef struct la_claims_opts {
  int n_boot;    /* bootstrap resamples (0 or 1: no intervals) */
  uint64_t seed; /* bootstrap seed; each cell draws from its own stream */
  double level;  /* interval level, 0 < level < 1 */
} la_claims_opts;

/* Claims 1 and 2 of the n runs (borrowed; any order) with the sweep's
 * full-budget analysis a (borrowed; NULL: no alpha*, claim 1 is then
 * missing) as the analysis' "claims" object (docs/analysis.md). Returns 0,
 * LA_EINVAL (NULL runs with n > 0, NULL o or out, bad level) or LA_ENOMEM,
 * with err filled; *out is a new reference. */
int la_claims_compute(const la_analysis *a, const la_claim_run *runs, size_t n,
                      const la_claims_opts *o, json_t **out, la_err *err);

#endif
