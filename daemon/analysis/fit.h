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
  int n_boot;          /* bootstrap resamples (default 1000; 0: no intervals) */
  uint64_t seed;       /* bootstrap seed (default 0); each (rank, lr)
                          resamples from its own stream of it */
  double level;        /* interval level (default 0.95) */
  double max_ci_log2;  /* a rank whose alpha* interval is wider than this many
                          octaves (log2 units) is ill-determined (default 3) */
  double scale_power;  /* how the sweep's alpha maps to the LoRA scale s:
                          s = alpha / r^scale_power (1: peft, 0.5: rslora) */
  double flat_tol;     /* the flat set: alphas whose mean loss is within
                          max(flat_tol x |best loss|, the best grid point's
                          standard error over seeds) of the best (default
                          0.01) */
  double flat_octaves; /* a rank whose flat set spans more than this many
                          octaves is flat (default 2) */
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
  int ill_determined;  /* the overall interval [lo, hi] is wider than
                          max_ci_log2 octaves (seeds disagree, or the loss
                          is flat in alpha) */
  double weight; /* weight in the fit: 1 / var(log alpha*) (0: excluded) */
  double flat_lo, flat_hi; /* the flat set's hull: grid alphas within the
                              flat tolerance of the best loss, extended
                              linearly in log alpha to where the curve
                              crosses it (NaN when the best loss is not
                              finite) */
  double lo, hi;           /* overall interval: the hull of [ci_lo, ci_hi]
                              and [flat_lo, flat_hi] */
  int flat;                /* the flat set spans more than flat_octaves */
} la_alpha_star;

/* alpha* = c r^p at one lr; method 0: p free; 1: p fixed at 0.5. */
typedef struct la_law_fit {
  double lr;
  int method;
  double c, c_lo, c_hi;
  double p, p_lo, p_hi; /* method 1: p = 0.5 and no interval (NaN) */
  double r2;            /* of the weighted fit in log-log (method 1: about
                           the weighted mean of log alpha*; may be < 0) */
  double scatter_log2;  /* weighted RMS residual of log2 alpha* about the
                           law, in octaves */
  int n_used;           /* ranks in the fit */
  int n_excluded;       /* at the grid's edge or ill-determined */
  int insufficient;     /* fewer usable ranks than parameters + 1 (free: 3,
                           sqrt: 2): c, p, their intervals, r2 and
                           scatter_log2 are NaN, reason says why */
  int poor;             /* insufficient, r2 < 0.9, or p's interval wider
                           than 0.5: do not trust extrapolations */
  char reason[128];     /* why the fit is insufficient ("" otherwise) */
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

/* Defaults: n_boot 1000, seed 0, level 0.95, max_ci_log2 3, scale_power 1,
 * flat_tol 0.01, flat_octaves 2. */
void la_fit_opts_default(la_fit_opts *o);

/* Analyses n points (borrowed) with extra user rules (may be NULL / 0).
 * Returns 0 or an LA_E code with err filled; *out is new (la_analysis_free). */
int la_fit_analyze(const la_fit_point *pts, size_t n, const la_fit_opts *o,
                   const la_heuristic *rules, size_t n_rules, la_analysis **out,
                   la_err *err);

void la_analysis_free(la_analysis *a);

/* The percentile interval at level (type-7 quantiles) of v[0], v[stride],
 * ... (n values, NaNs skipped; NaN bounds when none is left); sorts into
 * tmp (n values). */
void la_fit_interval(const double *v, size_t stride, size_t n, double level,
                     double *tmp, double *lo, double *hi);

/* The two-sided normal quantile of level: z with P(|Z| <= z) = level (1.96
 * at 0.95), by bisection on erfc (level in (0, 1)). */
double la_fit_normal_z(double level);

/* Weighted least squares of y = a + b x; fills a, b and r2 (weights w >= 0,
 * at least two distinct x with weight). Returns 0, or LA_EINVAL for a NULL
 * pointer, a negative or non-finite weight, a non-finite x or y with weight,
 * or fewer than two distinct x with weight. Exposed for tests. */
int la_fit_wls(const double *x, const double *y, const double *w, size_t n,
               double *a, double *b, double *r2);

/* The flat set of one loss curve: the n grid points x (log alpha,
 * ascending) with mean losses m (+Inf: diverged) and the best point's
 * standard error se (0 when unknown). Every point within
 * max(tol x |best|, se) of the best mean is in it; its hull [*lo, *hi] (in
 * log alpha) is extended from the outermost such point linearly towards its
 * finite outer neighbour to where the curve crosses that level. NaN bounds
 * when no mean is finite. Exposed for tests. */
void la_fit_flat_set(const double *x, const double *m, int n, double se,
                     double tol, double *lo, double *hi);

#endif
