/*
 * joint.c: the joint (alpha, lr) optimum per rank and the alpha-lr
 * trade-off (see joint.h and docs/analysis.md, "The joint optimum").
 *
 * Decisions the contract leaves open:
 *  - lr_at_edge is taken over the lrs the rank was tested at (a sweep in
 *    progress may lack some); with one lr it is always set, as fit.c sets
 *    at_edge for a single grid alpha.
 *  - The slope's points are the alpha* of (rank, lr) not at the alpha
 *    grid's edge (there alpha* is a bound, not an estimate, and every
 *    alpha of a fully diverged (rank, lr) is at the edge). Ill-determined
 *    ones stay in, weighted by their wide interval.
 *  - Weights: 1 / var(log alpha*), var = ((ln hi - ln lo) / 2z)^2 over
 *    alpha*'s overall interval (the hull of the bootstrap interval and the
 *    flat set), z the normal quantile of the level (the interval read as
 *    a normal one),
 *    floored at (0.05 ln 2)^2 as fit.c floors. A point without an interval
 *    gets the median var of the points with one, or weight 1 when none has
 *    one.
 *  - Pooled: log alpha*(r, lr) = a_r + b log lr, one intercept per rank
 *    and one slope, i.e. each rank's points centred on their weighted
 *    means; ranks with one point add nothing.
 *  - Interval: the percentile interval (type 7) of the slope refitted on
 *    every bootstrap resample of the alpha* it uses (fit.h's star_boot:
 *    each (rank, lr) resampled from a stream of its own, so resample b of
 *    every point together is a resample of the whole sweep), with the
 *    same weights. None (NaN) without the bootstrap, or when one of the
 *    points has no interval (a single seed: its resamples do not vary).
 *  - Verdict: from the interval (which values it holds, to within 1e-9
 *    for rounding: -1, 0, or neither); without one, from slope +- 0.25 in its
 * place, and the text says there is no interval.
 */
#include "analysis/joint.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAR_FLOOR (0.0346573590279972655 * 0.0346573590279972655)
/* (0.05 ln 2)^2, as fit.c */
#define NO_CI_HALF 0.25 /* the verdict's half-width without an interval */
#define HOLD_TOL 1e-9   /* an interval holds -1 or 0 to within rounding */

/* One alpha* in a slope fit: its index in a->stars, rank, log lr, weight. */
typedef struct jpt {
  size_t i;
  int rank;
  double x, w;
} jpt;

/* Everything one computation allocates; freed in one place. */
typedef struct jctx {
  const la_analysis *a;
  double level;
  size_t n, nb; /* points in pts; resamples */
  jpt *pts;     /* usable alpha*, by rank then lr */
  double *y;    /* per star: log alpha* (point estimate or one resample) */
  double *v;    /* nb: the slopes of the resamples */
  double *t;    /* nb: la_fit_interval's scratch */
  la_joint *j;
} jctx;

const char *la_joint_verdict_name(la_joint_verdict v) {
  static const char *const names[] = {
      "none", "alpha_lr", "alpha", "undecided", "steeper", "between", "rising"};
  return (unsigned)v < sizeof names / sizeof *names ? names[v] : "none";
}

const la_alpha_star *la_joint_best(const la_analysis *a, int rank) {
  const la_alpha_star *best = NULL;
  if (a == NULL) return NULL;
  for (size_t i = 0; i < a->n_stars; i++) {
    const la_alpha_star *s = &a->stars[i];
    if (s->rank == rank && (best == NULL || s->loss < best->loss)) best = s;
  }
  return best;
}

/* ---- statistics --------------------------------------------------------- */

/* The weighted slope of y[p.i] against p.x over the n points p (sorted by
 * rank), each rank centred on its own weighted means; NaN when no rank has
 * two points. *ranks and *points get the ranks and points that count. */
static double centred_slope(const jpt *p, size_t n, const double *y, int *ranks,
                            int *points) {
  double sxx = 0, sxy = 0;
  *ranks = *points = 0;
  for (size_t s = 0, e; s < n; s = e) {
    double sw = 0, sx = 0, sy = 0;
    for (e = s; e < n && p[e].rank == p[s].rank; e++)
      sw += p[e].w, sx += p[e].w * p[e].x, sy += p[e].w * y[p[e].i];
    if (e - s < 2 || !(sw > 0)) continue;
    (*ranks)++, *points += (int)(e - s);
    for (size_t k = s; k < e; k++) {
      double dx = p[k].x - sx / sw, dy = y[p[k].i] - sy / sw;
      sxx += p[k].w * dx * dx, sxy += p[k].w * dx * dy;
    }
  }
  return sxx > 0 && isfinite(sxx) ? sxy / sxx : NAN;
}

/* ---- the verdict -------------------------------------------------------- */

/* The verdict of slope b with interval [lo, hi] (NaN: b +- NO_CI_HALF). */
static la_joint_verdict classify(double b, double lo, double hi) {
  int known = isfinite(lo) && isfinite(hi);
  if (!isfinite(b)) return LA_JOINT_NONE;
  if (!known) lo = b - NO_CI_HALF, hi = b + NO_CI_HALF;
  int m1 = lo <= -1 + HOLD_TOL && -1 - HOLD_TOL <= hi;
  int z0 = lo <= HOLD_TOL && -HOLD_TOL <= hi;
  if (m1 && z0) return LA_JOINT_UNDECIDED;
  if (m1) return LA_JOINT_ALPHA_LR;
  if (z0) return LA_JOINT_ALPHA;
  return hi < -1  ? LA_JOINT_STEEPER
         : lo > 0 ? LA_JOINT_RISING
                  : LA_JOINT_BETWEEN;
}

/* The slope's verdict and its line; pooled: the slope across ranks. */
static void slope_text(la_joint_slope *s, int pooled) {
  char e[96];
  size_t len = 0, n = sizeof s->text;
  s->verdict = classify(s->slope, s->lo, s->hi);
  if (s->verdict == LA_JOINT_NONE) {
    la_appendf(s->text, n, &len, "%s: no α–lr trade-off to measure",
               s->n_lrs < 2 ? "one lr only"
               : pooled     ? "no rank has α* inside the grid at 2 or more lrs"
                            : "fewer than 2 lrs have α* inside the grid");
    return;
  }
  if (isfinite(s->lo) && isfinite(s->hi))
    snprintf(e, sizeof e, "lr^%.2f [%.2f, %.2f]", s->slope, s->lo, s->hi);
  else
    snprintf(e, sizeof e, "lr^%.2f (no interval)", s->slope);
  switch (s->verdict) {
  case LA_JOINT_ALPHA_LR:
    la_appendf(s->text, n, &len, "α* falls as %s: α·lr is roughly what matters",
               e);
    break;
  case LA_JOINT_ALPHA:
    la_appendf(s->text, n, &len,
               "α* hardly moves with lr (%s): α and lr can be tuned apart", e);
    break;
  case LA_JOINT_UNDECIDED:
    la_appendf(s->text, n, &len,
               "α* goes as %s: too uncertain to tell whether α·lr or α alone "
               "matters (more seeds or lrs would tell)",
               e);
    break;
  case LA_JOINT_STEEPER:
    la_appendf(s->text, n, &len,
               "α* falls faster than 1/lr (%s): a larger lr wants a more than "
               "proportionally smaller α",
               e);
    break;
  case LA_JOINT_BETWEEN:
    la_appendf(
        s->text, n, &len,
        "α* falls as %s, more slowly than 1/lr: neither α·lr nor α alone "
        "is what matters",
        e);
    break;
  default:
    la_appendf(s->text, n, &len,
               "α* rises with lr (%s): a larger lr wants a larger α", e);
    break;
  }
}

/* ---- the fits ----------------------------------------------------------- */

/* Does alpha* s take part in the slopes? */
static int usable(const la_alpha_star *s) {
  return !s->at_edge && isfinite(s->loss) && s->alpha > 0 &&
         isfinite(s->alpha) && s->lr > 0 && isfinite(s->lr);
}

/* var(log alpha*) of s from its overall interval, NaN when it has none. */
static double star_var(const la_alpha_star *s, double z) {
  if (!(s->lo > 0) || !(s->hi >= s->lo) || !isfinite(s->hi)) return NAN;
  double sd = (log(s->hi) - log(s->lo)) / (2 * z);
  return fmax(sd * sd, VAR_FLOOR);
}

/* qsort order of points: by rank, then lr. */
static int cmp_pt(const void *pa, const void *pb) {
  const jpt *p = pa, *q = pb;
  if (p->rank != q->rank) return p->rank < q->rank ? -1 : 1;
  return p->x < q->x ? -1 : p->x > q->x;
}

/* The usable points with their weights into c->pts (see the top). */
static void gather_points(jctx *c) {
  const la_analysis *a = c->a;
  double z = la_fit_normal_z(c->level), med = 1, unused;
  size_t known = 0;
  c->n = 0;
  for (size_t i = 0; i < a->n_stars; i++) {
    const la_alpha_star *s = &a->stars[i];
    if (!usable(s)) continue;
    c->pts[c->n++] =
        (jpt){.i = i, .rank = s->rank, .x = log(s->lr), .w = star_var(s, z)};
    if (!isnan(c->pts[c->n - 1].w)) c->v[known++] = c->pts[c->n - 1].w;
  }
  /* the level-0 interval is the median */
  if (known > 0) la_fit_interval(c->v, 1, known, 0.0, c->t, &med, &unused);
  for (size_t k = 0; k < c->n; k++)
    c->pts[k].w =
        known == 0 ? 1.0 : 1.0 / (isnan(c->pts[k].w) ? med : c->pts[k].w);
  qsort(c->pts, c->n, sizeof *c->pts, cmp_pt);
}

/* Do the points of p that count (ranks with two or more) all have an
 * interval? */
static int all_intervals(const la_analysis *a, const jpt *p, size_t n) {
  for (size_t k = 0; k < n; k++) {
    const la_alpha_star *st = &a->stars[p[k].i];
    int alone = (k == 0 || p[k - 1].rank != p[k].rank) &&
                (k + 1 == n || p[k + 1].rank != p[k].rank);
    if (!alone && !(isfinite(st->ci_lo) && isfinite(st->ci_hi))) return 0;
  }
  return 1;
}

/* The slope over the n points p into s: point estimate, then the
 * bootstrap interval when every point that counts has one. */
static void fit_slope(jctx *c, const jpt *p, size_t n, la_joint_slope *s) {
  const la_analysis *a = c->a;
  size_t m = 0;
  int ranks, points;
  for (size_t k = 0; k < a->n_stars; k++)
    c->y[k] = log(a->stars[k].alpha);
  s->slope = centred_slope(p, n, c->y, &s->n_ranks, &s->n_points);
  s->lo = s->hi = NAN;
  if (isnan(s->slope) || c->nb < 2 || !all_intervals(a, p, n)) return;
  for (size_t b = 0; b < c->nb; b++) {
    for (size_t k = 0; k < n; k++)
      c->y[p[k].i] = a->star_boot[b * a->n_stars + p[k].i];
    double v = centred_slope(p, n, c->y, &ranks, &points);
    if (isfinite(v)) c->v[m++] = v;
  }
  la_fit_interval(c->v, 1, m, c->level, c->t, &s->lo, &s->hi);
}

/* How many lrs rank was tested at (one alpha* per (rank, lr)), or with
 * rank 0 how many distinct lrs the analysis has (its stars are by lr). */
static int count_lrs(const la_analysis *a, int rank) {
  int n = 0;
  for (size_t i = 0; i < a->n_stars; i++)
    n += rank != 0 ? a->stars[i].rank == rank
                   : i == 0 || a->stars[i].lr != a->stars[i - 1].lr;
  return n;
}

/* Rank r's joint optimum into R. */
static void joint_rank(jctx *c, int r, la_joint_rank *R) {
  const la_analysis *a = c->a;
  const la_alpha_star *s = la_joint_best(a, r);
  double lo = INFINITY, hi = -INFINITY;
  size_t p0 = 0, np = 0;
  for (size_t i = 0; i < a->n_stars; i++)
    if (a->stars[i].rank == r)
      lo = fmin(lo, a->stars[i].lr), hi = fmax(hi, a->stars[i].lr);
  *R = (la_joint_rank){.rank = r,
                       .lr = s->lr,
                       .n_lrs = count_lrs(a, r),
                       .alpha_grid = s->alpha_grid,
                       .alpha = s->alpha,
                       .alpha_lo = s->lo,
                       .alpha_hi = s->hi,
                       .alpha_at_edge = s->at_edge,
                       .ill_determined = s->ill_determined,
                       .loss = s->loss};
  R->lr_at_edge = R->n_lrs < 2 || s->lr == lo || s->lr == hi;
  while (p0 < c->n && c->pts[p0].rank < r)
    p0++;
  while (p0 + np < c->n && c->pts[p0 + np].rank == r)
    np++;
  R->tradeoff.n_lrs = R->n_lrs;
  fit_slope(c, c->pts + p0, np, &R->tradeoff);
  slope_text(&R->tradeoff, 0);
}

/* qsort order of ints. */
static int cmp_int(const void *pa, const void *pb) {
  int x = *(const int *)pa, y = *(const int *)pb;
  return x < y ? -1 : x > y;
}

/* The distinct ranks of a, ascending, into c->j->ranks[].rank. */
static void list_ranks(jctx *c, int *tmp) {
  size_t k = 0, m = 0;
  for (size_t i = 0; i < c->a->n_stars; i++)
    tmp[k++] = c->a->stars[i].rank;
  qsort(tmp, k, sizeof *tmp, cmp_int);
  for (size_t i = 0; i < k; i++)
    if (i == 0 || tmp[i] != tmp[i - 1]) c->j->ranks[m++].rank = tmp[i];
  c->j->n_ranks = m;
}

/* Allocates the working arrays and the result; 0 or LA_ENOMEM. */
static int jctx_alloc(jctx *c, int **ranks) {
  size_t ns = c->a->n_stars ? c->a->n_stars : 1;
  size_t nv = c->nb > ns ? c->nb : ns;
  c->pts = calloc(ns, sizeof *c->pts);
  c->y = calloc(ns, sizeof *c->y);
  c->v = calloc(nv, sizeof *c->v);
  c->t = calloc(nv, sizeof *c->t);
  c->j = calloc(1, sizeof *c->j);
  *ranks = calloc(ns, sizeof **ranks);
  if (c->j) c->j->ranks = calloc(ns, sizeof *c->j->ranks);
  return c->pts && c->y && c->v && c->t && c->j && *ranks && c->j->ranks
             ? 0
             : LA_ENOMEM;
}

int la_joint_compute(const la_analysis *a, double level, la_joint **out,
                     la_err *err) {
  jctx c = {0};
  int *ranks = NULL, rc;
  if (out == NULL || a == NULL)
    return la_errf(err, LA_EINVAL, "la_joint_compute: a NULL argument");
  *out = NULL;
  if (!(level > 0 && level < 1))
    return la_errf(err, LA_EINVAL, "level %g is not in (0, 1)", level);
  c.a = a, c.level = level;
  c.nb = a->star_boot != NULL ? a->n_boot : 0;
  if ((rc = jctx_alloc(&c, &ranks)) != 0) {
    rc = la_errf(err, rc, "out of memory for the joint optimum");
    goto cleanup;
  }
  gather_points(&c);
  list_ranks(&c, ranks);
  for (size_t k = 0; k < c.j->n_ranks; k++)
    joint_rank(&c, c.j->ranks[k].rank, &c.j->ranks[k]);
  c.j->pooled.n_lrs = count_lrs(a, 0);
  fit_slope(&c, c.pts, c.n, &c.j->pooled);
  slope_text(&c.j->pooled, 1);
  *out = c.j, c.j = NULL;
cleanup:
  free(ranks);
  free(c.pts);
  free(c.y);
  free(c.v);
  free(c.t);
  la_joint_free(c.j);
  return rc;
}

void la_joint_free(la_joint *j) {
  if (j == NULL) return;
  free(j->ranks);
  free(j);
}
