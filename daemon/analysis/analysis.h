/*
 * analysis.h: running the analysis of a sweep (fit.h) off the event loop.
 *
 * The analyser reads the sweep's finished runs from the store on the loop
 * thread, fits on libuv's thread pool (uv_queue_work), then stores the
 * results (tables alpha_star, fits, regret, analyses) in one transaction
 * back on the loop thread and hands the JSON to the caller. An analysis is
 * reused while no run of the sweep has finished since.
 */
#ifndef LORALPHA_ANALYSIS_H
#define LORALPHA_ANALYSIS_H

#include "loralpha/store.h"

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

typedef struct la_analyzer la_analyzer;

/* result: the analysis (borrowed; valid during the call), or NULL with
 * status (404: no such sweep or nothing to analyse, 500: failure) and msg. */
typedef void (*la_analysis_cb)(json_t *result, int status, const char *msg,
                               void *arg);

/* A new analyser on loop and store (borrowed). n_boot: resamples. */
int la_analyzer_new(uv_loop_t *loop, la_store *store, int n_boot,
                    la_analyzer **out);

/* The analysis of sweep_id: stored if fresh (and !refresh), else computed.
 * cb is called exactly once, on the loop thread, possibly before this
 * returns. */
void la_analyzer_get(la_analyzer *a, int64_t sweep_id, int refresh,
                     la_analysis_cb cb, void *arg);

/* The answer for rank at lr (NaN: the lr with the lowest loss) from the
 * sweep's runs at the full budget (answer.h), with the fields of GET
 * /v1/sweeps/{id}/recommend (docs/analysis.md). The fit is made afresh on
 * the pool, with the analysis' seed and resamples, so it equals the
 * analysis' last checkpoint; nothing is stored. cb as for la_analyzer_get,
 * with status 400 for an lr that is not in the sweep (msg lists its lrs)
 * and 404 for no such sweep, no finished run, or no law to answer from. */
void la_analyzer_recommend(la_analyzer *a, int64_t sweep_id, int rank,
                           double lr, la_analysis_cb cb, void *arg);

/* Analyses being computed now. */
int la_analyzer_busy(const la_analyzer *a);

/* Frees the analyser; only when la_analyzer_busy is 0. */
void la_analyzer_free(la_analyzer *a);

#endif
