/*
 * fit.c: alpha* per (rank, lr), the law alpha* = c r^p with bootstrap
 * intervals, and what the rank-tied heuristics lose (see fit.h and
 * docs/analysis.md).
 *
 * Layout: the points are sorted by (lr, rank, alpha, seed) and their losses
 * copied in that order into one array. A cell is one (lr, rank, alpha) grid
 * point (a run of losses), a group one (lr, rank) (a run of cells; one
 * la_alpha_star each, in the same order) and an lr run a run of groups.
 *
 * Decisions the contract leaves open:
 *  - A NaN or negative loss is invalid input (LA_EINVAL); only +Inf means a
 *    diverged run. Two points of the same (lr, rank, alpha, seed) are
 *    invalid too. User rules need a finite coef > 0 and a finite power.
 *  - The bootstrap of each (rank, lr) draws from la_rng stream FIT_STREAM
 *    (5, after the worker's streams) seeded with a mix of opts->seed, the
 *    rank and the lr's bits (group_seed), resample by resample, cell by cell
 *    in alpha order, seed index = u64 % count (the modulo bias is below
 *    2^-60 for any realistic seed count): a (rank, lr)'s intervals do not
 *    change when other ranks or lrs join the sweep. n_boot < 2 means no
 *    bootstrap: no bootstrap intervals (NaN); the flat set alone then gives
 *    the overall interval, ill_determined and the weights.
 *  - Flat optima: the flat set's level is the best mean plus the larger of
 *    flat_tol x |best mean| and the best grid point's standard error over
 *    seeds; its hull (every grid point under the level, however far) is
 *    extended linearly in log alpha to the crossings, never past the grid
 *    or a diverged neighbour, and widened to hold the refined alpha. The
 *    overall interval [lo, hi] is the hull of it and the bootstrap's, and
 *    ill_determined means [lo, hi] spans more than max_ci_log2 octaves
 *    (before flat sets it was the bootstrap's alone). var(log alpha*) is the
 *    larger of the bootstrap's variance and (flat width in log alpha / 2z)^2,
 *    z the two-sided normal quantile of the level (1.96 at 95%): the
 *    wider interval sets the weight, so a flat rank whose seeds happen to
 *    agree cannot decide p.
 *  - A law needs usable ranks >= its parameters + 1 (free 3, sqrt 2); with
 *    fewer it is insufficient: c, p, intervals, r2 and scatter_log2 NaN,
 *    law_boot NaN, poor set, reason filled. scatter_log2 is the weighted
 *    RMS residual sqrt(sum w e^2 / sum w) / ln 2 (no degrees-of-freedom
 *    correction).
 *  - Small-sample correction: in a resample, a cell's mean deviates from
 *    its point estimate by sqrt(n / (n - 1)) times the plain bootstrap's
 *    deviation (n seeds), so its bootstrap variance is the unbiased s^2 / n
 *    rather than (n - 1) / n of it (a third too small with 3 seeds).
 *  - Weight floor: 1 / max(var, floor) with floor the larger of
 *    (0.05 ln 2)^2 and the median var(log alpha*) of the lr's usable
 *    ranks; no rank outweighs the typical one, noisier ones still count
 *    less. With pure 1 / var weights from 3 to 5 seeds, ranks whose
 *    variance came out low by chance dominate: in synthetic sweeps p's 95%
 *    interval then covered the truth only 80-86% of the time, with a
 *    larger spread of p than this rule's (which covers about 90%).
 *  - Percentile intervals are type-7 quantiles (linear between order
 *    statistics); alpha*'s are taken in log alpha, then exponentiated.
 *  - A rank with one seed at every grid alpha has a zero-width bootstrap:
 *    its bootstrap interval is reported as unknown (NaN) and its
 *    var(log alpha*) is the flat set's. Only when neither is known (every
 *    mean diverged) is its weight the typical rank's (var = the floor
 *    above), or 1 when no rank of the lr has a known var. When no used
 *    rank of a fit has more than one seed, the law's intervals are NaN too
 *    (so `poor` then rests on n_used and R^2 alone).
 *  - Weighted R^2 is 1 - SS_res / SS_tot about the weighted mean of
 *    log alpha*; when SS_tot is zero (all alpha* equal) it is 1 for a
 *    perfect fit and 0 otherwise. For p fixed at 0.5 it may be negative.
 *  - A heuristic's alpha within 1e-12 (relative, in log alpha) of a grid
 *    alpha is that grid point, so rounding never pushes it off the grid.
 *    Regret is NaN when best_loss is not finite and positive; at a grid
 *    point whose mean is +Inf (a diverged rule) loss and regret are +Inf.
 */
#include "analysis/fit.h"

#include "loralpha/rng.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIT_STREAM 5 /* la_rng stream of the bootstrap */
#define VAR_FLOOR (0.0346573590279972655 * 0.0346573590279972655)
/* (0.05 ln 2)^2: no rank is weighted as if known to better than 1/20 of an
 * octave. */
#define GRID_TOL 1e-12 /* a rule's log alpha this close is on a grid point */

/* One input point and its index in the caller's array (for messages). */
typedef struct entry {
  la_fit_point p;
  size_t idx;
} entry;

/* One (lr, rank, alpha) grid point: loss[off .. off + n). */
typedef struct cell {
  double alpha, x; /* x = log alpha */
  size_t off;
  int n;
} cell;

/* One (lr, rank): cells[c0 .. c0 + n_alpha). */
typedef struct group {
  size_t c0;
  int rank, n_alpha, min_seeds, max_seeds;
  double lr;
} group;

/* One lr: groups[g0 .. g0 + n). */
typedef struct lr_run {
  size_t g0, n;
} lr_run;

/* Everything one analysis allocates; freed in one place (ctx_free). */
typedef struct fit_ctx {
  const la_fit_opts *o;
  const la_heuristic *rules; /* user rules, after the built-in ones */
  size_t n_rules, n, n_cells, n_groups, n_lrs, nb;
  entry *ent;
  double *loss;
  cell *cells;
  group *groups;
  lr_run *lrs;
  double *mean, *bmean;     /* per cell: point estimate, one resample */
  double *ystar, *w, *logr; /* per group: log alpha*, weight, log rank */
  double *boot;             /* nb x n_groups: log alpha* per resample */
  double *bc, *bp;          /* 2 x nb, nb: one lr's bootstrap c and p */
  double *tmp;              /* max(nb, n_cells): room to sort */
  la_analysis *a;
} fit_ctx;

static const la_heuristic builtin_rules[] = {
    {"alpha=r", 1.0, 0.0},
    {"alpha=2r", 2.0, 0.0},
    {"rslora16", 16.0, -0.5},
};
#define N_BUILTIN (sizeof builtin_rules / sizeof builtin_rules[0])

const la_heuristic *la_fit_heuristics(size_t *n) {
  if (n != NULL) *n = N_BUILTIN;
  return builtin_rules;
}

void la_fit_opts_default(la_fit_opts *o) {
  o->n_boot = 1000;
  o->seed = 0;
  o->level = 0.95;
  o->max_ci_log2 = 3.0;
  o->scale_power = 1.0;
  o->flat_tol = 0.01;
  o->flat_octaves = 2.0;
}

/* ---- weighted least squares --------------------------------------------- */

/* Weighted R^2 from the residual and total sums of squares; sw and ybar set
 * the scale below which SS_tot counts as zero (all y equal). */
static double r_squared(double ss_res, double ss_tot, double sw, double ybar) {
  double tiny = 16 * DBL_EPSILON * DBL_EPSILON * sw * (1 + ybar * ybar);
  if (ss_tot <= tiny) return ss_res <= tiny ? 1.0 : 0.0;
  return 1.0 - ss_res / ss_tot;
}

/* Weighted means of x and y over the points with w > 0; returns the weight
 * sum, or NaN for a negative or non-finite weight or a non-finite x or y. */
static double wmeans(const double *x, const double *y, const double *w,
                     size_t n, double *xb, double *yb) {
  double sw = 0, sx = 0, sy = 0;
  for (size_t i = 0; i < n; i++) {
    if (!(w[i] >= 0) || !isfinite(w[i])) return NAN;
    if (w[i] == 0) continue;
    if (!isfinite(x[i]) || !isfinite(y[i])) return NAN;
    sw += w[i], sx += w[i] * x[i], sy += w[i] * y[i];
  }
  if (sw > 0) *xb = sx / sw, *yb = sy / sw;
  return sw;
}

int la_fit_wls(const double *x, const double *y, const double *w, size_t n,
               double *a, double *b, double *r2) {
  double xb = 0, yb = 0, sxx = 0, sxy = 0, syy = 0, ss_res = 0;
  if (x == NULL || y == NULL || w == NULL || a == NULL || b == NULL)
    return LA_EINVAL;
  double sw = wmeans(x, y, w, n, &xb, &yb);
  if (!(sw > 0)) return LA_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (w[i] == 0) continue;
    double dx = x[i] - xb, dy = y[i] - yb;
    sxx += w[i] * dx * dx, sxy += w[i] * dx * dy, syy += w[i] * dy * dy;
  }
  if (!(sxx > 0) || !isfinite(sxx)) return LA_EINVAL; /* < 2 distinct x */
  *b = sxy / sxx;
  *a = yb - *b * xb;
  for (size_t i = 0; i < n; i++) {
    if (w[i] == 0) continue;
    double e = y[i] - (*a + *b * x[i]);
    ss_res += w[i] * e * e;
  }
  if (r2 != NULL) *r2 = r_squared(ss_res, syy, sw, yb);
  return 0;
}

/* y = a + 0.5 x by weighted least squares in a alone; r2 against the
 * weighted mean of y. Returns 0, or LA_EINVAL without weight. */
static int wls_sqrt(const double *x, const double *y, const double *w, size_t n,
                    double *a, double *r2) {
  double xb = 0, yb = 0, ss_res = 0, ss_tot = 0;
  double sw = wmeans(x, y, w, n, &xb, &yb);
  if (!(sw > 0)) return LA_EINVAL;
  *a = yb - 0.5 * xb;
  for (size_t i = 0; i < n; i++) {
    if (w[i] == 0) continue;
    double e = y[i] - (*a + 0.5 * x[i]), d = y[i] - yb;
    ss_res += w[i] * e * e, ss_tot += w[i] * d * d;
  }
  *r2 = r_squared(ss_res, ss_tot, sw, yb);
  return 0;
}

/* ---- validation and grouping -------------------------------------------- */

/* Checks the options and the user rules. */
static int validate_opts(const la_fit_opts *o, const la_heuristic *rules,
                         size_t n_rules, la_err *err) {
  if (o->n_boot < 0)
    return la_errf(err, LA_EINVAL, "n_boot %d is negative", o->n_boot);
  if (!(o->level > 0 && o->level < 1))
    return la_errf(err, LA_EINVAL, "level %g is not in (0, 1)", o->level);
  if (!(o->max_ci_log2 > 0))
    return la_errf(err, LA_EINVAL, "max_ci_log2 %g is not positive",
                   o->max_ci_log2);
  if (!isfinite(o->scale_power))
    return la_errf(err, LA_EINVAL, "scale_power %g is not finite",
                   o->scale_power);
  if (!(o->flat_tol >= 0) || !isfinite(o->flat_tol))
    return la_errf(err, LA_EINVAL, "flat_tol %g is not a finite number >= 0",
                   o->flat_tol);
  if (!(o->flat_octaves > 0) || !isfinite(o->flat_octaves))
    return la_errf(err, LA_EINVAL, "flat_octaves %g is not positive",
                   o->flat_octaves);
  if (n_rules > 0 && rules == NULL)
    return la_errf(err, LA_EINVAL, "%zu rules but no rule array", n_rules);
  for (size_t i = 0; i < n_rules; i++)
    if (!(rules[i].coef > 0) || !isfinite(rules[i].coef) ||
        !isfinite(rules[i].power))
      return la_errf(err, LA_EINVAL,
                     "rule %zu: coef %g must be positive and power %g finite",
                     i, rules[i].coef, rules[i].power);
  return 0;
}

/* Checks every point: positive rank, alpha and lr; loss >= 0 or +Inf. */
static int validate_points(const la_fit_point *pts, size_t n, la_err *err) {
  if (n == 0) return la_errf(err, LA_EINVAL, "no finished runs to analyse");
  if (pts == NULL) return la_errf(err, LA_EINVAL, "%zu points but no array", n);
  for (size_t i = 0; i < n; i++) {
    const la_fit_point *p = &pts[i];
    if (p->rank <= 0)
      return la_errf(err, LA_EINVAL, "point %zu: rank %d is not positive", i,
                     p->rank);
    if (!(p->alpha > 0) || !isfinite(p->alpha))
      return la_errf(err, LA_EINVAL, "point %zu: alpha %g is not positive", i,
                     p->alpha);
    if (!(p->lr > 0) || !isfinite(p->lr))
      return la_errf(err, LA_EINVAL, "point %zu: lr %g is not positive", i,
                     p->lr);
    if (!(p->loss >= 0))
      return la_errf(err, LA_EINVAL,
                     "point %zu: loss %g is NaN or negative (a diverged run "
                     "is +Inf)",
                     i, p->loss);
  }
  return 0;
}

/* Three-way comparison of two numbers of one type. */
#define CMP3(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

/* qsort order: lr, rank, alpha, seed, then the caller's order. */
static int cmp_entry(const void *pa, const void *pb) {
  const entry *a = pa, *b = pb;
  int c = CMP3(a->p.lr, b->p.lr);
  if (c == 0) c = CMP3(a->p.rank, b->p.rank);
  if (c == 0) c = CMP3(a->p.alpha, b->p.alpha);
  if (c == 0) c = CMP3(a->p.seed_index, b->p.seed_index);
  return c != 0 ? c : CMP3(a->idx, b->idx);
}

/* The first key two sorted points differ in: 0 lr, 1 rank, 2 alpha, 3 seed;
 * 4 when they are the same run. */
static int key_level(const la_fit_point *a, const la_fit_point *b) {
  if (a->lr != b->lr) return 0;
  if (a->rank != b->rank) return 1;
  if (a->alpha != b->alpha) return 2;
  return a->seed_index != b->seed_index ? 3 : 4;
}

/* Counts lrs, groups and cells of the sorted points; rejects duplicates. */
static int count_grid(fit_ctx *f, la_err *err) {
  for (size_t i = 0; i < f->n; i++) {
    int lvl = i == 0 ? 0 : key_level(&f->ent[i - 1].p, &f->ent[i].p);
    if (lvl == 4)
      return la_errf(err, LA_EINVAL,
                     "points %zu and %zu are the same run (lr %g, rank %d, "
                     "alpha %g, seed %d)",
                     f->ent[i - 1].idx, f->ent[i].idx, f->ent[i].p.lr,
                     f->ent[i].p.rank, f->ent[i].p.alpha,
                     f->ent[i].p.seed_index);
    f->n_lrs += lvl <= 0;
    f->n_groups += lvl <= 1;
    f->n_cells += lvl <= 2;
  }
  return 0;
}

/* Fills lrs, groups, cells and losses from the sorted points. */
static void fill_grid(fit_ctx *f) {
  size_t nl = 0, ng = 0, nc = 0;
  for (size_t i = 0; i < f->n; i++) {
    const la_fit_point *p = &f->ent[i].p;
    int lvl = i == 0 ? 0 : key_level(&f->ent[i - 1].p, p);
    f->loss[i] = p->loss;
    if (lvl <= 0) f->lrs[nl++] = (lr_run){.g0 = ng, .n = 0};
    if (lvl <= 1) {
      f->logr[ng] = log(p->rank);
      f->groups[ng++] =
          (group){.c0 = nc, .rank = p->rank, .lr = p->lr, .min_seeds = INT_MAX};
      f->lrs[nl - 1].n++;
    }
    if (lvl <= 2) {
      f->cells[nc++] = (cell){.alpha = p->alpha, .x = log(p->alpha), .off = i};
      f->groups[ng - 1].n_alpha++;
    }
    f->cells[nc - 1].n++;
  }
}

/* Fewest and most seeds at any alpha of each group. */
static void seed_counts(fit_ctx *f) {
  for (size_t g = 0; g < f->n_groups; g++) {
    group *gr = &f->groups[g];
    for (int j = 0; j < gr->n_alpha; j++) {
      int s = f->cells[gr->c0 + (size_t)j].n;
      if (s < gr->min_seeds) gr->min_seeds = s;
      if (s > gr->max_seeds) gr->max_seeds = s;
    }
  }
}

/* calloc of a x b elements of size bytes; NULL on overflow. */
static void *alloc_n(size_t a, size_t b, size_t size) {
  if (b != 0 && a > SIZE_MAX / b) return NULL;
  size_t n = a * b;
  return calloc(n ? n : 1, size);
}

/* The working arrays sized from the grid; 0 or LA_ENOMEM. */
static int alloc_work(fit_ctx *f) {
  size_t ng = f->n_groups, nc = f->n_cells, nb = f->nb;
  f->loss = alloc_n(f->n, 1, sizeof *f->loss);
  f->cells = alloc_n(nc, 1, sizeof *f->cells);
  f->groups = alloc_n(ng, 1, sizeof *f->groups);
  f->lrs = alloc_n(f->n_lrs, 1, sizeof *f->lrs);
  f->mean = alloc_n(nc, 1, sizeof *f->mean);
  f->bmean = alloc_n(nc, 1, sizeof *f->bmean);
  f->ystar = alloc_n(ng, 1, sizeof *f->ystar);
  f->w = alloc_n(ng, 1, sizeof *f->w);
  f->logr = alloc_n(ng, 1, sizeof *f->logr);
  f->boot = alloc_n(nb, ng, sizeof *f->boot);
  f->bc = alloc_n(nb, 2, sizeof *f->bc);
  f->bp = alloc_n(nb, 1, sizeof *f->bp);
  f->tmp = alloc_n(nb > nc ? nb : nc, 1, sizeof *f->tmp);
  int ok = f->loss && f->cells && f->groups && f->lrs && f->mean && f->bmean &&
           f->ystar && f->w && f->logr && f->boot && f->bc && f->bp && f->tmp;
  return ok ? 0 : LA_ENOMEM;
}

/* Sorts the points and builds the grid and every working array. */
static int prepare(fit_ctx *f, const la_fit_point *pts, la_err *err) {
  if ((f->ent = alloc_n(f->n, 1, sizeof *f->ent)) == NULL) goto nomem;
  for (size_t i = 0; i < f->n; i++)
    f->ent[i] = (entry){.p = pts[i], .idx = i};
  qsort(f->ent, f->n, sizeof *f->ent, cmp_entry);
  int rc = count_grid(f, err);
  if (rc != 0) return rc;
  if (alloc_work(f) != 0) goto nomem;
  fill_grid(f);
  seed_counts(f);
  return 0;
nomem:
  return la_errf(err, LA_ENOMEM, "out of memory analysing %zu points", f->n);
}

/* ---- alpha* ------------------------------------------------------------- */

/* Mean loss of every cell (+Inf when any of its runs diverged). */
static void cell_means(const fit_ctx *f, double *m) {
  for (size_t i = 0; i < f->n_cells; i++) {
    const cell *c = &f->cells[i];
    double s = 0;
    for (int k = 0; k < c->n; k++)
      s += f->loss[c->off + (size_t)k];
    m[i] = s / c->n;
  }
}

/* One bootstrap resample of the means of cells c0..c0+n (one group): each
 * cell's n seeds drawn with
 * replacement, the deviation from the cell's mean then scaled by
 * sqrt(n / (n - 1)) so that its variance is s^2 / n (the plain bootstrap's
 * is (n - 1) / n of that: 0.67 with 3 seeds). Cells with a diverged run are
 * not scaled (their mean is +Inf). */
static void resample_means(const fit_ctx *f, size_t c0, int n, la_rng *rng,
                           double *m) {
  for (size_t i = c0; i < c0 + (size_t)n; i++) {
    const cell *c = &f->cells[i];
    const double *l = f->loss + c->off;
    double s = 0, mu = f->mean[i];
    if (c->n == 1) {
      m[i] = l[0];
      continue;
    }
    for (int k = 0; k < c->n; k++)
      s += l[la_rng_u64(rng) % (uint64_t)c->n];
    m[i] = s / c->n;
    if (isfinite(mu)) m[i] = mu + sqrt((double)c->n / (c->n - 1)) * (m[i] - mu);
  }
}

/* Index of the lowest mean (ties: the first, i.e. the smaller alpha). */
static int argmin(const double *m, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (m[i] < m[b]) b = i;
  return b;
}

/* Vertex of the parabola through (x[i], y[i]), x[0] < x[1] < x[2], clamped
 * to [x[0], x[2]]; NaN when the parabola is not convex. */
static double vertex(const double *x, const double *y) {
  double d1 = (y[1] - y[0]) / (x[1] - x[0]);
  double d2 = (y[2] - y[1]) / (x[2] - x[1]);
  double a = (d2 - d1) / (x[2] - x[0]);
  if (!(a > 0) || !isfinite(a)) return NAN;
  double v = 0.5 * (x[0] + x[1]) - d1 / (2 * a);
  return v < x[0] ? x[0] : v > x[2] ? x[2] : v;
}

/* Refined alpha* of the n cells c with means m; *best gets the grid index,
 * *edge whether it is the first or last (always with one alpha). */
static double refine(const cell *c, const double *m, int n, int *best,
                     int *edge) {
  int b = argmin(m, n);
  *best = b;
  *edge = n < 2 || b == 0 || b == n - 1;
  if (*edge || !isfinite(m[b - 1]) || !isfinite(m[b + 1])) return c[b].alpha;
  double x[3] = {c[b - 1].x, c[b].x, c[b + 1].x};
  double v = vertex(x, m + b - 1);
  return isnan(v) || v == x[1] ? c[b].alpha : exp(v);
}

/* The point estimates of every la_alpha_star (no interval or weight yet). */
static void point_stars(fit_ctx *f) {
  cell_means(f, f->mean);
  for (size_t g = 0; g < f->n_groups; g++) {
    const group *gr = &f->groups[g];
    la_alpha_star *s = &f->a->stars[g];
    const double *m = f->mean + gr->c0;
    int b, e;
    double alpha = refine(f->cells + gr->c0, m, gr->n_alpha, &b, &e);
    *s = (la_alpha_star){.rank = gr->rank,
                         .lr = gr->lr,
                         .n_alpha = gr->n_alpha,
                         .seeds = gr->min_seeds,
                         .alpha_grid = f->cells[gr->c0 + (size_t)b].alpha,
                         .alpha = alpha,
                         .loss = m[b],
                         .at_edge = e,
                         .ci_lo = NAN,
                         .ci_hi = NAN};
    f->ystar[g] = log(alpha);
  }
}

/* ---- the flat set ------------------------------------------------------- */

/* Where the segment from (x0, m0) inside the level to (x1, m1) outside it
 * crosses it, linearly; x0 when m1 is not finite. */
static double crossing(double x0, double m0, double x1, double m1,
                       double level) {
  if (!isfinite(m1) || !(m1 > m0)) return x0;
  return x0 + (level - m0) / (m1 - m0) * (x1 - x0);
}

void la_fit_flat_set(const double *x, const double *m, int n, double se,
                     double tol, double *lo, double *hi) {
  int b = 0, first = -1, last = -1;
  *lo = *hi = NAN;
  if (n < 1) return;
  b = argmin(m, n);
  if (!isfinite(m[b])) return;
  double level = m[b] + fmax(tol * fabs(m[b]), isfinite(se) ? se : 0);
  for (int i = 0; i < n; i++)
    if (m[i] <= level) {
      if (first < 0) first = i;
      last = i;
    }
  *lo = first > 0
            ? crossing(x[first], m[first], x[first - 1], m[first - 1], level)
            : x[first];
  *hi = last < n - 1
            ? crossing(x[last], m[last], x[last + 1], m[last + 1], level)
            : x[last];
}

/* Standard error over seeds of cell i's mean (0 with one seed or a diverged
 * run). */
static double cell_se(const fit_ctx *f, size_t i) {
  const cell *c = &f->cells[i];
  if (c->n < 2 || !isfinite(f->mean[i])) return 0;
  double ss = 0;
  for (int k = 0; k < c->n; k++) {
    double d = f->loss[c->off + (size_t)k] - f->mean[i];
    ss += d * d;
  }
  return sqrt(ss / (c->n - 1) / c->n);
}

/* The flat set of every alpha* (flat_lo, flat_hi and flat), in alpha; the
 * hull also holds the refined alpha. */
static void flat_sets(fit_ctx *f) {
  double *x = f->tmp;
  for (size_t g = 0; g < f->n_groups; g++) {
    const group *gr = &f->groups[g];
    la_alpha_star *s = &f->a->stars[g];
    const double *m = f->mean + gr->c0;
    double lo, hi;
    for (int i = 0; i < gr->n_alpha; i++)
      x[i] = f->cells[gr->c0 + (size_t)i].x;
    la_fit_flat_set(x, m, gr->n_alpha,
                    cell_se(f, gr->c0 + (size_t)argmin(m, gr->n_alpha)),
                    f->o->flat_tol, &lo, &hi);
    s->flat_lo = s->flat_hi = NAN;
    if (isnan(lo)) continue;
    s->flat_lo = fmin(exp(lo), s->alpha), s->flat_hi = fmax(exp(hi), s->alpha);
    s->flat = log2(s->flat_hi / s->flat_lo) > f->o->flat_octaves;
  }
}

/* splitmix64's finaliser: a bijection of 64 bits that mixes them all. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The seed of group gr's resampling: the caller's seed, the rank and the
 * lr's bits, and nothing else (not the group's place among the others). */
static uint64_t group_seed(uint64_t seed, const group *gr) {
  uint64_t lr;
  memcpy(&lr, &gr->lr, sizeof lr);
  return mix64(mix64(seed ^ mix64((uint64_t)gr->rank)) ^ lr);
}

/* nb resamples of every group's log alpha* into f->boot, each group from a
 * stream of its own (group_seed): adding or removing a rank or an lr leaves
 * every other group's resamples as they were. */
static void run_bootstrap(fit_ctx *f) {
  for (size_t g = 0; g < f->n_groups; g++) {
    const group *gr = &f->groups[g];
    la_rng rng;
    la_rng_init(&rng, group_seed(f->o->seed, gr), FIT_STREAM);
    for (size_t b = 0; b < f->nb; b++) {
      resample_means(f, gr->c0, gr->n_alpha, &rng, f->bmean);
      int best, edge;
      f->boot[b * f->n_groups + g] = log(refine(
          f->cells + gr->c0, f->bmean + gr->c0, gr->n_alpha, &best, &edge));
    }
  }
}

/* ---- intervals and weights ---------------------------------------------- */

/* qsort order of doubles (no NaN). */
static int cmp_double(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return CMP3(a, b);
}

/* Type-7 quantile q of the n sorted values s (n >= 1). */
static double quantile(const double *s, size_t n, double q) {
  double h = q * (double)(n - 1);
  size_t i = (size_t)h;
  if (i + 1 >= n) return s[n - 1];
  return s[i] + (h - (double)i) * (s[i + 1] - s[i]);
}

void la_fit_interval(const double *v, size_t stride, size_t n, double level,
                     double *tmp, double *lo, double *hi) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!isnan(v[i * stride])) tmp[k++] = v[i * stride];
  *lo = *hi = NAN;
  if (k == 0) return;
  qsort(tmp, k, sizeof *tmp, cmp_double);
  *lo = quantile(tmp, k, 0.5 * (1 - level));
  *hi = quantile(tmp, k, 1 - 0.5 * (1 - level));
}

/* Sample variance (n - 1) of v[0], v[stride], ... (n >= 2 values). */
static double variance(const double *v, size_t stride, size_t n) {
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++)
    s += v[i * stride];
  double m = s / (double)n;
  for (size_t i = 0; i < n; i++)
    ss += (v[i * stride] - m) * (v[i * stride] - m);
  return ss / (double)(n - 1);
}

double la_fit_normal_z(double level) {
  double lo = 0, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
    double mid = 0.5 * (lo + hi);
    if (erfc(mid / sqrt(2.0)) > 1 - level)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* The hull of two intervals, either of which may be unknown (NaN). */
static void hull(double alo, double ahi, double blo, double bhi, double *lo,
                 double *hi) {
  *lo = isnan(alo) ? blo : isnan(blo) ? alo : fmin(alo, blo);
  *hi = isnan(ahi) ? bhi : isnan(bhi) ? ahi : fmax(ahi, bhi);
}

/* Bootstrap interval, overall interval and ill_determined of every alpha*;
 * f->w gets var(log alpha*): the larger of the bootstrap's and the flat
 * set's, (its width in log alpha / 2z)^2 at the level's z (NaN when both
 * are unknown). */
static void star_intervals(fit_ctx *f) {
  double z = la_fit_normal_z(f->o->level);
  for (size_t g = 0; g < f->n_groups; g++) {
    la_alpha_star *s = &f->a->stars[g];
    double lo, hi, vf = NAN;
    f->w[g] = NAN;
    if (f->nb >= 2 && f->groups[g].max_seeds >= 2) {
      la_fit_interval(f->boot + g, f->n_groups, f->nb, f->o->level, f->tmp, &lo,
                      &hi);
      s->ci_lo = exp(lo), s->ci_hi = exp(hi);
      f->w[g] = variance(f->boot + g, f->n_groups, f->nb);
    }
    hull(s->ci_lo, s->ci_hi, s->flat_lo, s->flat_hi, &s->lo, &s->hi);
    s->ill_determined = log2(s->hi / s->lo) > f->o->max_ci_log2;
    if (!isnan(s->flat_lo)) {
      vf = log(s->flat_hi / s->flat_lo) / (2 * z);
      vf *= vf;
    }
    if (isnan(f->w[g]) || vf > f->w[g]) f->w[g] = vf;
  }
}

/* Whether group g takes part in the fits. */
static int usable(const fit_ctx *f, size_t g) {
  return !f->a->stars[g].at_edge && !f->a->stars[g].ill_determined;
}

/* Weights of lr run L from the variances in f->w: 1 / max(var, floor), the
 * floor being VAR_FLOOR or the median variance of L's usable ranks,
 * whichever is larger; 0 for unusable ranks. An unknown var counts as the
 * floor (the typical rank's weight), or gives weight 1 when no rank of L
 * has a known var. */
static void lr_weights(fit_ctx *f, const lr_run *L) {
  size_t k = 0;
  double vfloor = VAR_FLOOR;
  for (size_t g = L->g0; g < L->g0 + L->n; g++)
    if (usable(f, g) && !isnan(f->w[g])) f->tmp[k++] = f->w[g];
  if (k > 0) {
    qsort(f->tmp, k, sizeof *f->tmp, cmp_double);
    vfloor = fmax(vfloor, quantile(f->tmp, k, 0.5));
  }
  for (size_t g = L->g0; g < L->g0 + L->n; g++) {
    double var = isnan(f->w[g]) ? vfloor : fmax(f->w[g], vfloor);
    f->w[g] = !usable(f, g) ? 0 : k == 0 ? 1.0 : 1.0 / var;
    f->a->stars[g].weight = f->w[g];
  }
}

/* ---- the law ------------------------------------------------------------ */

/* Usable ranks a law of method m needs: its parameters plus one. */
static size_t min_used(int m) {
  return m == 0 ? 3 : 2;
}

/* Weighted RMS of y - (a + b x) over the points with weight, in log2
 * units (octaves). */
static double scatter_log2(const double *x, const double *y, const double *w,
                           size_t n, double a, double b) {
  double sw = 0, ss = 0;
  for (size_t i = 0; i < n; i++) {
    if (w[i] == 0) continue;
    double e = y[i] - (a + b * x[i]);
    sw += w[i], ss += w[i] * e * e;
  }
  return sw > 0 ? sqrt(ss / sw) / log(2.0) : NAN;
}

/* Both laws at lr run L for log alpha* y (one per group of L): c[m], p[m],
 * r2[m] and sc[m] (scatter_log2) for method m; all NaN where a fit is
 * impossible or has fewer usable ranks than min_used (sc may be NULL). */
static void fit_laws(const fit_ctx *f, const lr_run *L, const double *y,
                     double c[2], double p[2], double r2[2], double *sc) {
  const double *x = f->logr + L->g0, *w = f->w + L->g0;
  double a, b, r, s[2] = {NAN, NAN};
  size_t used = 0;
  for (size_t i = 0; i < L->n; i++)
    used += w[i] > 0;
  c[0] = p[0] = r2[0] = NAN;
  if (used >= min_used(0) && la_fit_wls(x, y, w, L->n, &a, &b, &r) == 0) {
    c[0] = exp(a), p[0] = b, r2[0] = r;
    if (sc) s[0] = scatter_log2(x, y, w, L->n, a, b);
  }
  c[1] = p[1] = r2[1] = NAN;
  if (used >= min_used(1) && wls_sqrt(x, y, w, L->n, &a, &r) == 0) {
    c[1] = exp(a), p[1] = 0.5, r2[1] = r;
    if (sc) s[1] = scatter_log2(x, y, w, L->n, a, 0.5);
  }
  if (sc) sc[0] = s[0], sc[1] = s[1];
}

/* Bootstrap intervals of c (both methods) and p (method 0) at lr run L,
 * whose fits are F[0], F[1]; every resample's (c, p) also goes to law_boot. */
static void law_intervals(fit_ctx *f, const lr_run *L, la_law_fit *F) {
  size_t k = (size_t)(F - f->a->fits);
  for (size_t b = 0; b < f->nb; b++) {
    double c[2], p[2], r2[2];
    fit_laws(f, L, f->boot + b * f->n_groups + L->g0, c, p, r2, NULL);
    f->bc[b] = c[0], f->bc[f->nb + b] = c[1], f->bp[b] = p[0];
    for (size_t m = 0; m < 2; m++) {
      double *kb = f->a->law_boot + 2 * ((k + m) * f->nb + b);
      kb[0] = c[m], kb[1] = p[m];
    }
  }
  la_fit_interval(f->bc, 1, f->nb, f->o->level, f->tmp, &F[0].c_lo, &F[0].c_hi);
  la_fit_interval(f->bp, 1, f->nb, f->o->level, f->tmp, &F[0].p_lo, &F[0].p_hi);
  la_fit_interval(f->bc + f->nb, 1, f->nb, f->o->level, f->tmp, &F[1].c_lo,
                  &F[1].c_hi);
}

/* Marks F (method m, used usable ranks) insufficient when used is below
 * min_used(m), with the reason. */
static void insufficient(la_law_fit *F, int used) {
  int need = (int)min_used(F->method);
  if (used >= need) return;
  F->insufficient = F->poor = 1;
  snprintf(F->reason, sizeof F->reason,
           "%d usable rank%s (inside the grid and well determined); the %s "
           "law needs %d (its parameters + 1)",
           used, used == 1 ? "" : "s", F->method == 0 ? "free" : "sqrt(r)",
           need);
}

/* The two la_law_fit of lr run l (method 0 then 1) into F[0], F[1]. */
static void fit_lr(fit_ctx *f, size_t l, la_law_fit *F) {
  const lr_run *L = &f->lrs[l];
  double c[2], p[2], r2[2], sc[2];
  int used = 0, excluded = 0, varied = 0;
  for (size_t i = 0; i < L->n; i++) {
    int u = f->w[L->g0 + i] > 0;
    used += u, excluded += !u;
    varied += u && f->groups[L->g0 + i].max_seeds > 1;
  }
  fit_laws(f, L, f->ystar + L->g0, c, p, r2, sc);
  for (int m = 0; m < 2; m++)
    F[m] = (la_law_fit){.lr = f->groups[L->g0].lr,
                        .method = m,
                        .c = c[m],
                        .p = p[m],
                        .r2 = r2[m],
                        .scatter_log2 = sc[m],
                        .n_used = used,
                        .n_excluded = excluded,
                        .c_lo = NAN,
                        .c_hi = NAN,
                        .p_lo = NAN,
                        .p_hi = NAN};
  if (f->nb >= 2 && varied > 0) law_intervals(f, L, F);
  if (isnan(c[0])) F[0].c_lo = F[0].c_hi = F[0].p_lo = F[0].p_hi = NAN;
  if (isnan(c[1])) F[1].c_lo = F[1].c_hi = NAN;
  F[0].poor = !(r2[0] >= 0.9) || F[0].p_hi - F[0].p_lo > 0.5;
  F[1].poor = !(r2[1] >= 0.9);
  insufficient(&F[0], used);
  insufficient(&F[1], used);
}

/* ---- heuristics --------------------------------------------------------- */

/* Mean loss at alpha on the curve of the n cells c with means m: a grid
 * point's mean, else linear in log alpha between its neighbours; NaN
 * outside the grid or next to a +Inf mean. */
static double loss_at(const cell *c, const double *m, int n, double alpha) {
  double x = log(alpha);
  for (int i = 0; i < n; i++)
    if (fabs(x - c[i].x) <= GRID_TOL * fmax(1.0, fabs(c[i].x))) return m[i];
  for (int i = 0; i + 1 < n; i++) {
    if (!(x > c[i].x && x < c[i + 1].x)) continue;
    if (!isfinite(m[i]) || !isfinite(m[i + 1])) return NAN;
    double t = (x - c[i].x) / (c[i + 1].x - c[i].x);
    return m[i] + t * (m[i + 1] - m[i]);
  }
  return NAN;
}

/* Rule k: a built-in one, then the user's. */
static const la_heuristic *rule_at(const fit_ctx *f, size_t k) {
  return k < N_BUILTIN ? &builtin_rules[k] : &f->rules[k - N_BUILTIN];
}

/* Every (group, rule) regret, by lr, rank, rule. */
static void regrets(fit_ctx *f) {
  size_t nr = N_BUILTIN + f->n_rules;
  for (size_t g = 0; g < f->n_groups; g++) {
    const group *gr = &f->groups[g];
    const la_alpha_star *s = &f->a->stars[g];
    for (size_t k = 0; k < nr; k++) {
      const la_heuristic *h = rule_at(f, k);
      la_regret *R = &f->a->regrets[g * nr + k];
      double alpha = h->coef * pow(gr->rank, h->power + f->o->scale_power);
      double loss =
          loss_at(f->cells + gr->c0, f->mean + gr->c0, gr->n_alpha, alpha);
      int ok = s->loss > 0 && isfinite(s->loss);
      *R = (la_regret){.rank = gr->rank,
                       .lr = gr->lr,
                       .rule = (int)k,
                       .alpha = alpha,
                       .loss = loss,
                       .best_loss = s->loss,
                       .regret = ok ? loss / s->loss - 1 : NAN};
    }
  }
}

/* ---- entry points ------------------------------------------------------- */

/* The output arrays, sized from the grid. */
static int alloc_analysis(fit_ctx *f, la_err *err) {
  size_t nr = N_BUILTIN + f->n_rules;
  if ((f->a = calloc(1, sizeof *f->a)) == NULL) goto nomem;
  f->a->n_stars = f->n_groups;
  f->a->n_fits = 2 * f->n_lrs;
  f->a->stars = alloc_n(f->n_groups, 1, sizeof *f->a->stars);
  f->a->fits = alloc_n(f->n_lrs, 2, sizeof *f->a->fits);
  f->a->regrets = alloc_n(f->n_groups, nr, sizeof *f->a->regrets);
  if (!f->a->stars || !f->a->fits || !f->a->regrets) goto nomem;
  f->a->n_regrets = f->n_groups * nr;
  if (f->nb == 0) return 0;
  f->a->law_boot = alloc_n(f->a->n_fits * f->nb, 2, sizeof *f->a->law_boot);
  if (f->a->law_boot == NULL) goto nomem;
  f->a->n_boot = f->nb;
  for (size_t i = 0; i < 2 * f->a->n_fits * f->nb; i++)
    f->a->law_boot[i] = NAN;
  return 0;
nomem:
  return la_errf(err, LA_ENOMEM, "out of memory for the analysis");
}

/* Frees every working array and, unless handed over, the analysis. */
static void ctx_free(fit_ctx *f) {
  free(f->ent);
  free(f->loss);
  free(f->cells);
  free(f->groups);
  free(f->lrs);
  free(f->mean);
  free(f->bmean);
  free(f->ystar);
  free(f->w);
  free(f->logr);
  free(f->boot);
  free(f->bc);
  free(f->bp);
  free(f->tmp);
  la_analysis_free(f->a);
}

int la_fit_analyze(const la_fit_point *pts, size_t n, const la_fit_opts *o,
                   const la_heuristic *rules, size_t n_rules, la_analysis **out,
                   la_err *err) {
  la_fit_opts dflt;
  fit_ctx f = {0};
  int rc;
  if (out == NULL) return la_errf(err, LA_EINVAL, "no output pointer");
  *out = NULL;
  if (o == NULL) la_fit_opts_default(&dflt), o = &dflt;
  if ((rc = validate_opts(o, rules, n_rules, err)) != 0 ||
      (rc = validate_points(pts, n, err)) != 0)
    return rc;
  f.o = o, f.rules = rules, f.n_rules = n_rules, f.n = n;
  f.nb = o->n_boot >= 2 ? (size_t)o->n_boot : 0;
  if ((rc = prepare(&f, pts, err)) != 0 || (rc = alloc_analysis(&f, err)) != 0)
    goto done;
  point_stars(&f);
  flat_sets(&f);
  run_bootstrap(&f);
  star_intervals(&f);
  for (size_t l = 0; l < f.n_lrs; l++) {
    lr_weights(&f, &f.lrs[l]);
    fit_lr(&f, l, f.a->fits + 2 * l);
  }
  regrets(&f);
  if (f.nb > 0) f.a->star_boot = f.boot, f.boot = NULL;
  *out = f.a;
  f.a = NULL;
done:
  ctx_free(&f);
  return rc;
}

void la_analysis_free(la_analysis *a) {
  if (a == NULL) return;
  free(a->stars);
  free(a->fits);
  free(a->regrets);
  free(a->law_boot);
  free(a->star_boot);
  free(a);
}
