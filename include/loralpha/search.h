/*
 * search.h: how a sweep spends its runs along α (docs/sweeps.md "search").
 *
 * A sweep's "search" object names a strategy. "grid" (the default) runs
 * every grid value. "bracket" takes the grid's α values as the start of a
 * search in log α per cell (rank, lr): after every seed of every α tried in
 * the cell has ended, la_search_next looks at the mean final eval loss per
 * α and either adds one α (tried with every seed, paired as the grid's
 * are), or says the cell is done:
 *   - the best α at the smallest (largest) α tried: the next α is `step`
 *     octaves below (above) it, no further than alpha_min (alpha_max);
 *     at the limit, golden-section steps towards its neighbour until they
 *     are within `tolerance` octaves, then the cell is done;
 *   - else the best α has a neighbour on each side, the bracket: when it is
 *     at most `tolerance` octaves wide the cell is done, else the next α is
 *     the vertex of the parabola through the three points (in log α) when
 *     it falls inside the bracket away from the points tried; when the
 *     vertex is the best point itself, a probe half a tolerance beside it
 *     (closing the bracket); else the golden-section point of the
 *     bracket's wider side;
 *   - when every α tried diverged (or failed), the next is `step` octaves
 *     below the smallest;
 *   - never more than max_points α values in a cell.
 * "law" searches the law_ranks smallest ranks so, then fits α* = c·r^p to
 * their best α (la_search_law_fit) and starts each larger rank from the
 * prediction and widen + 2 scatter octaves around it (la_search_law_start),
 * which then searches as "bracket" with steps of widen octaves.
 * "halving" adds no α: it stops the grid's runs early (halving.h).
 * The answer depends only on the points (a pure function), so a daemon
 * that decides again after a crash decides the same; the daemon stores
 * each decision with the run's end, in one transaction (store.h).
 *
 * Pure code: jansson and libm only.
 */
#ifndef LORALPHA_SEARCH_H
#define LORALPHA_SEARCH_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stddef.h>

typedef enum {
  LA_SEARCH_GRID,
  LA_SEARCH_BRACKET,
  LA_SEARCH_LAW,
  LA_SEARCH_HALVING
} la_search_kind;

#define LA_SEARCH_MAX_RUNGS 8 /* halving: rungs at most */

typedef struct la_search {
  la_search_kind kind;
  double tolerance; /* bracket: done when at most this many octaves wide */
  int max_points;   /* bracket: α values per cell at most */
  double alpha_min; /* bracket: the smallest α it may try */
  double alpha_max; /* bracket: the largest α it may try */
  double step;      /* bracket: octaves past the edge per extension */
  int law_ranks;    /* law: how many of the smallest ranks go first */
  double widen;     /* law: octaves on each side of the prediction */
  double eta;       /* halving: a rung keeps the best 1/eta of its cells */
  int n_rungs;      /* halving: rungs before the end */
  double rungs[LA_SEARCH_MAX_RUNGS]; /* halving: fractions of steps, rising */
} la_search;

#define LA_SEARCH_MAX_POINTS 64
#define LA_SEARCH_MAX_LAW_RANKS 64 /* law_ranks at most */

/* The search of a sweep from its "search" field v (borrowed; NULL: grid)
 * and the grid's α values (n >= 1, any order): validated, defaults filled
 * in *out. 0, or LA_EINVAL with "search.<field>: <problem>" (LA_ENOMEM)
 * in err. */
int la_search_parse(const json_t *v, const double *alphas, size_t n,
                    la_search *out, la_err *err);

/* The search of a stored normalized spec's "search" object v (every field
 * given; NULL: grid), checked as la_search_parse checks it. */
int la_search_from_stored(const json_t *v, la_search *out, la_err *err);

/* s as the normalized spec's "search" object (every field); a new object,
 * or NULL when out of memory. */
json_t *la_search_to_json(const la_search *s);

/* The law α* = c·r^p through the law ranks' best α (least squares in
 * log2 r, log2 α), with the RMS of its residuals in octaves (0 for two
 * ranks). */
typedef struct la_search_law {
  double log2c, p, scatter;
  size_t n;
} la_search_law;

/* Fits the law to n >= 2 (rank, best alpha) pairs; 0, or LA_EINVAL when
 * the ranks are all equal or a value is not positive. */
int la_search_law_fit(const double *rank, const double *alpha, size_t n,
                      la_search_law *out);

/* The α values a rank's search starts from under the law: the prediction
 * and `widen` + 2 scatter octaves on each side of it, clamped to
 * [alpha_min, alpha_max], distinct; their count (1..3) in out[]. */
int la_search_law_start(const la_search *s, const la_search_law *L, int rank,
                        double out[3]);

/* The law's prediction against what was found (docs/api.md, GET
 * /v1/sweeps/{id}/search, "law"), from a law search's cells and decisions
 * (that answer's arrays, borrowed): an entry per lr of the cells, in their
 * order: {"lr", "state" ("waiting": no larger rank started yet; "fitted";
 * "no_law": the larger ranks started from the grid), "law_ranks" ([{"rank",
 * "alpha_star"}]: the cells the law did not start, alpha_star null while
 * searching or when all diverged), "c", "p", "scatter" (the law refitted
 * to them by la_search_law_fit; null unless fitted), "predictions" (per
 * rank the law started: {"rank", "predicted", "lo", "hi" (its first law
 * decision's best, lo, hi), "found" (the cell's α* once done), "done",
 * "off_octaves" (log2 found/predicted), "miss_octaves" (octaves outside
 * [lo, hi], 0 inside), "inside"}: null until found), "n_started",
 * "n_decided", "n_inside" (counts of those rows), "text"}. A new array, or
 * NULL when out of memory. */
json_t *la_search_law_report(const json_t *cells, const json_t *decisions);

/* One α tried in a cell: the mean over its seeds' final eval losses
 * (INFINITY when a seed diverged or failed). */
typedef struct la_search_point {
  double alpha, loss;
} la_search_point;

typedef enum { LA_SEARCH_ADD, LA_SEARCH_DONE } la_search_action;

/* A decision: add alpha, or the cell is done; why in words; the bracket
 * [lo, hi] around the best α (or the edge the best α is at). */
typedef struct la_search_step {
  la_search_action action;
  double alpha;  /* ADD: the α to try next */
  double best;   /* the best α so far */
  double lo, hi; /* the bracket around it: its neighbours */
  char kind[16]; /* "extend_down", "extend_up", "parabolic", "probe",
                    "golden", "converged", "limit", "max_points",
                    "diverged" */
  char why[256];
} la_search_step;

/* The next step of bracket search s for a cell's points (n >= 1, any
 * order; alphas distinct). */
void la_search_next(const la_search *s, const la_search_point *pts, size_t n,
                    la_search_step *out);

#endif
