/*
 * fit.h: from a sweep's losses to the answer a researcher wants
 * (docs/analysis.md): the best alpha per rank and learning rate, the law
 * alpha* = c r^p with bootstrap intervals, and what rank-tied heuristics
 * lose against it.
 *
 * Pure computation on a table of points; no I/O, no globals, thread-safe
 * (the daemon runs it on uv_queue_work's thread pool).
 */
#ifndef LORALPHA_FIT_H
#define LORALPHA_FIT_H

#include "loralpha/common.h"

#include <stddef.h>
#include <stdint.h>

/* One finished run at one checkpoint. */
typedef struct la_fit_point {
  int rank;
  double lr, alpha;
  int seed_index;
  double loss; /* final (or checkpoint) eval loss; +Inf for a diverged run */
} la_fit_point;

typedef struct la_fit_opts {
  int n_boot;         /* bootstrap resamples (default 1000; 0: no intervals) */
  uint64_t seed;      /* bootstrap seed (default 0); each (rank, lr)
                         resamples from its own stream of it */
  double level;       /* interval level (default 0.95) */
  double max_ci_log2; /* a rank whose alpha* interval is wider than this many
                         octaves (log2 units) is ill-determined (default 3) */
  double scale_power; /* how the sweep's alpha maps to the LoRA scale s:
                         s = alpha / r^scale_power (1: peft, 0.5: rslora) */
} la_fit_opts;

/* alpha* of one (rank, lr). */
typedef struct la_alpha_star {
  int rank;
  double lr;
  int n_alpha, seeds;  /* grid alphas; fewest seeds at any of them */
  double alpha_grid;   /* the grid alpha with the lowest mean loss */
  double alpha;        /* refined: vertex of a parabola in log alpha through
                          the best point and its neighbours (= alpha_grid at
                          an edge or when the parabola opens downwards) */
  double loss;         /* mean loss at alpha_grid */
  int at_edge;         /* 1: the best grid alpha is the smallest or largest */
  double ci_lo, ci_hi; /* bootstrap interval of alpha (NaN without it) */
  int ill_determined;  /* interval wider than max_ci_log2 octaves */
  double weight; /* weight in the fit: 1 / var(log alpha*) (0: excluded) */
} la_alpha_star;

/* alpha* = c r^p at one lr; method 0: p free; 1: p fixed at 0.5. */
typedef struct la_law_fit {
  double lr;
  int method;
  double c, c_lo, c_hi;
  double p, p_lo, p_hi; /* method 1: p = 0.5 and no interval (NaN) */
  double r2;            /* of the weighted fit in log-log */
  int n_used;           /* ranks in the fit */
  int n_excluded;       /* at the grid's edge or ill-determined */
  int poor;             /* fewer than 3 ranks, r2 < 0.9, or p's interval
                           wider than 0.5: do not trust extrapolations */
} la_law_fit;

/* Loss at a heuristic's alpha against the loss at alpha*, per (rank, lr). */
typedef struct la_regret {
  int rank;
  double lr;
  int rule;         /* index into la_fit_heuristics() or user rules */
  double alpha;     /* the alpha the rule gives, in the sweep's alpha */
  double loss;      /* mean loss there: linear in log alpha between grid
                       points; NaN outside the grid */
  double best_loss; /* at alpha_grid */
  double regret;    /* loss / best_loss - 1 (NaN outside the grid) */
} la_regret;

typedef struct la_analysis {
  size_t n_stars;
  la_alpha_star *stars; /* by lr, then rank */
  size_t n_fits;
  la_law_fit *fits; /* by lr: method 0 then 1 */
  size_t n_regrets;
  la_regret *regrets; /* by lr, rank, rule */
  size_t n_boot;      /* resamples behind law_boot (0: no bootstrap) */
  double *law_boot;   /* (c, p) of every resample's refit of every law:
                         law_boot[2 * (k * n_boot + b)] is c and [.. + 1] p
                         of fits[k] in resample b; NaN where the refit was
                         impossible or not made (NULL when n_boot is 0).
                         Lets a caller take the interval of c r^p at any r
                         (answer.h) the way fits' own intervals are taken. */
  double *star_boot;  /* log alpha* of every resample: star_boot[b * n_stars
                         + i] is stars[i]'s in resample b (NULL when n_boot
                         is 0). Lets a caller refit anything built on
                         alpha* (joint.h's alpha-lr slope) resample by
                         resample. */
} la_analysis;

/* A heuristic: the LoRA scale s it sets for rank r is coef * r^power
 * (alpha = r under peft: s = 1 -> coef 1, power 0; alpha = 2r: coef 2;
 * rsLoRA's alpha = 16 with s = alpha / sqrt r: coef 16, power -0.5). */
typedef struct la_heuristic {
  const char *name;
  double coef, power;
} la_heuristic;

/* The built-in rules: "alpha=r", "alpha=2r", "rslora16". n gets the count. */
const la_heuristic *la_fit_heuristics(size_t *n);

/* Defaults: n_boot 1000, seed 0, level 0.95, max_ci_log2 3, scale_power 1. */
void la_fit_opts_default(la_fit_opts *o);

/* Analyses n points (borrowed) with extra user rules (may be NULL / 0).
 * Returns 0 or an LA_E code with err filled; *out is new (la_analysis_free). */
int la_fit_analyze(const la_fit_point *pts, size_t n, const la_fit_opts *o,
                   const la_heuristic *rules, size_t n_rules, la_analysis **out,
                   la_err *err);

void la_analysis_free(la_analysis *a);

/* Weighted least squares of y = a + b x; fills a, b and r2 (weights w >= 0,
 * at least two distinct x with weight). Returns 0, or LA_EINVAL for a NULL
 * pointer, a negative or non-finite weight, a non-finite x or y with weight,
 * or fewer than two distinct x with weight. Exposed for tests. */
int la_fit_wls(const double *x, const double *y, const double *w, size_t n,
               double *a, double *b, double *r2);

#endif
