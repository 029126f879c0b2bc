/*
 * test_fit.c: the analysis of a sweep (daemon/analysis/fit.c,
 * docs/analysis.md). Weighted least squares against hand-computed cases; the
 * refined alpha* on exact parabolas; synthetic sweeps with a known law alpha* =
 * c0 r^p0 (recovery, interval coverage, flat and out-of-grid ranks, the sqrt
 * law); the heuristics' regret by hand; several lrs; determinism; bad input;
 * and the time of a large sweep.
 */
#include "analysis/fit.h"
#include "check.h"
#include "fit_points.h"
#include "loralpha/rng.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LN2 0.69314718055994530942

/* The bowl used throughout: 1 + k (log alpha - log astar)^2. */
static double bowl(double alpha, double astar, double k) {
  double d = log(alpha) - log(astar);
  return 1.0 + k * d * d;
}

/* One rank on the grid 2^lo .. 2^hi (one octave apart): the bowl plus
 * N(0, sigma) noise per run, `seeds` runs per alpha. */
static void add_rank(plist *l, double lr, int rank, double astar, double k,
                     double sigma, int lo, int hi, int seeds, la_rng *rng) {
  for (int e = lo; e <= hi; e++) {
    double a = ldexp(1.0, e);
    for (int s = 0; s < seeds; s++)
      add(l, rank, lr, a, s, bowl(a, astar, k) + sigma * la_rng_normal(rng));
  }
}

/* Ranks 1, 2, 4, ..., 64 following alpha* = c0 r^p0 on the grid 2^-2 ..
 * 2^12 with 5 seeds and curvature 0.05. */
static void add_law(plist *l, double lr, double c0, double p0, double sigma,
                    la_rng *rng) {
  for (int r = 1; r <= 64; r *= 2)
    add_rank(l, lr, r, c0 * pow(r, p0), 0.05, sigma, -2, 12, 5, rng);
}

/* Runs the analysis, which must succeed. */
static la_analysis *analyse(const plist *l, const la_fit_opts *o,
                            const la_heuristic *rules, size_t n_rules) {
  la_analysis *a = NULL;
  la_err err = {{0}};
  int rc = la_fit_analyze(l->p, l->n, o, rules, n_rules, &a, &err);
  if (rc != 0) fprintf(stderr, "la_fit_analyze: %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  return a;
}

/* Options with n_boot resamples and the given seed. */
static la_fit_opts opts(int n_boot, uint64_t seed) {
  la_fit_opts o;
  la_fit_opts_default(&o);
  o.n_boot = n_boot;
  o.seed = seed;
  return o;
}

/* The star of (lr, rank), or NULL. */
static const la_alpha_star *star(const la_analysis *a, double lr, int rank) {
  for (size_t i = 0; i < a->n_stars; i++)
    if (a->stars[i].lr == lr && a->stars[i].rank == rank) return &a->stars[i];
  return NULL;
}

/* ---- weighted least squares --------------------------------------------- */

/* la_fit_wls on an exact line, a weighted case by hand, degenerate x. */
static void test_wls(void) {
  double x[] = {0, 1, 2, 3}, y[] = {2, 5, 8, 11}, w1[] = {1, 1, 1, 1};
  double a = 0, b = 0, r2 = 0;
  CHECK_EQ_INT(la_fit_wls(x, y, w1, 4, &a, &b, &r2), 0);
  CHECK_CLOSE(a, 2, 1e-14);
  CHECK_CLOSE(b, 3, 1e-14);
  CHECK_CLOSE(r2, 1, 1e-14);
  /* x {0,1,2}, y {0,2,1}, w {1,1,2}: xbar 1.25, ybar 1, Sxx 2.75, Sxy 1,
   * Syy 2: b = 4/11, a = 6/11, SSres = 2 - 4/11, R^2 = 2/11. A fourth point
   * with weight 0 changes nothing. */
  double x2[] = {0, 1, 2, 7}, y2[] = {0, 2, 1, -50}, w2[] = {1, 1, 2, 0};
  CHECK_EQ_INT(la_fit_wls(x2, y2, w2, 4, &a, &b, &r2), 0);
  CHECK_CLOSE(b, 4.0 / 11, 1e-14);
  CHECK_CLOSE(a, 6.0 / 11, 1e-14);
  CHECK_CLOSE(r2, 2.0 / 11, 1e-14);
  /* Doubling every weight changes nothing either. */
  double w3[] = {2, 2, 4, 0};
  CHECK_EQ_INT(la_fit_wls(x2, y2, w3, 4, &a, &b, &r2), 0);
  CHECK_CLOSE(b, 4.0 / 11, 1e-14);
  CHECK_CLOSE(r2, 2.0 / 11, 1e-14);
  /* Degenerate: one distinct x, one weighted point, none, bad weights. */
  double xs[] = {1, 1, 1}, ys[] = {1, 2, 3}, ws[] = {1, 1, 1};
  CHECK_EQ_INT(la_fit_wls(xs, ys, ws, 3, &a, &b, &r2), LA_EINVAL);
  double wz[] = {1, 0, 0, 0};
  CHECK_EQ_INT(la_fit_wls(x, y, wz, 4, &a, &b, &r2), LA_EINVAL);
  CHECK_EQ_INT(la_fit_wls(x, y, w1, 0, &a, &b, &r2), LA_EINVAL);
  double wn[] = {1, -1, 1, 1}, wnan[] = {1, NAN, 1, 1};
  CHECK_EQ_INT(la_fit_wls(x, y, wn, 4, &a, &b, &r2), LA_EINVAL);
  CHECK_EQ_INT(la_fit_wls(x, y, wnan, 4, &a, &b, &r2), LA_EINVAL);
  /* Constant y: a perfect horizontal line. */
  double yc[] = {0.3, 0.3, 0.3, 0.3};
  CHECK_EQ_INT(la_fit_wls(x, yc, w1, 4, &a, &b, &r2), 0);
  CHECK_CLOSE(b, 0, 1e-14);
  CHECK_CLOSE(r2, 1, 1e-14);
}

/* ---- refinement --------------------------------------------------------- */

/* One rank on the alphas g[0..n) with loss `bowl(alpha, astar, 0.3)` and
 * two seeds at +-0.01 (their mean is the bowl exactly). */
static void add_exact(plist *l, const double *g, int n, double astar) {
  for (int i = 0; i < n; i++) {
    add(l, 4, 1e-3, g[i], 0, bowl(g[i], astar, 0.3) + 0.01);
    add(l, 4, 1e-3, g[i], 1, bowl(g[i], astar, 0.3) - 0.01);
  }
}

/* The refined alpha* is the true minimum of an exact parabola in log
 * alpha, on non-uniform and uniform grids. */
static void test_refine_exact(void) {
  const double g[] = {0.5, 1, 3, 7, 10, 30, 100, 1000}; /* non-uniform */
  const double astars[] = {13.7, 2.2, 55.0, 8.0};
  for (int t = 0; t < 4; t++) {
    plist l = {0};
    add_exact(&l, g, 8, astars[t]);
    la_fit_opts o = opts(50, 1);
    la_analysis *a = analyse(&l, &o, NULL, 0);
    CHECK_EQ_INT(a->n_stars, 1);
    CHECK_CLOSE(a->stars[0].alpha / astars[t], 1, 1e-9);
    CHECK_EQ_INT(a->stars[0].at_edge, 0);
    CHECK_EQ_INT(a->stars[0].n_alpha, 8);
    CHECK_EQ_INT(a->stars[0].seeds, 2);
    la_analysis_free(a);
    free(l.p);
  }
  /* A uniform log2 grid and a single seed. */
  plist l = {0};
  for (int e = 0; e <= 8; e++)
    add(&l, 2, 1e-3, ldexp(1, e), 0, bowl(ldexp(1, e), 11.3, 0.2));
  la_fit_opts o = opts(0, 0);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  CHECK_CLOSE(a->stars[0].alpha / 11.3, 1, 1e-9);
  CHECK(a->stars[0].alpha_grid == 8);
  CHECK_CLOSE(a->stars[0].loss, bowl(8, 11.3, 0.2), 1e-15);
  CHECK(isnan(a->stars[0].ci_lo) && isnan(a->stars[0].ci_hi));
  /* no bootstrap: the weight comes from the flat set alone */
  CHECK(a->stars[0].weight > 0 && isfinite(a->stars[0].weight));
  CHECK(a->stars[0].lo == a->stars[0].flat_lo);
  CHECK(a->stars[0].hi == a->stars[0].flat_hi);
  la_analysis_free(a);
  free(l.p);
}

/* A minimum outside the grid, and a single alpha, are at the edge. */
static void test_refine_edges(void) {
  const double g[] = {0.5, 1, 3, 7, 10, 30, 100, 1000};
  const double out[] = {1e4, 0.01};
  const double edge[] = {1000, 0.5};
  for (int t = 0; t < 2; t++) {
    plist l = {0};
    add_exact(&l, g, 8, out[t]);
    la_fit_opts o = opts(0, 0);
    la_analysis *a = analyse(&l, &o, NULL, 0);
    CHECK_EQ_INT(a->stars[0].at_edge, 1);
    CHECK(a->stars[0].alpha_grid == edge[t]);
    CHECK(a->stars[0].alpha == edge[t]);
    CHECK(a->stars[0].weight == 0);
    la_analysis_free(a);
    free(l.p);
  }
  /* One grid alpha: at the edge by definition. */
  plist l = {0};
  add(&l, 8, 1e-3, 16, 0, 1.0);
  la_fit_opts o = opts(10, 0);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  CHECK_EQ_INT(a->stars[0].at_edge, 1);
  CHECK(a->stars[0].alpha == 16);
  CHECK_EQ_INT(a->fits[0].n_used, 0);
  CHECK(isnan(a->fits[0].c) && isnan(a->fits[0].p) && a->fits[0].poor);
  CHECK(isnan(a->fits[1].c) && a->fits[1].poor);
  la_analysis_free(a);
  free(l.p);
}

/* A diverged point never wins; ties go to the smaller alpha. */
static void test_refine_diverged_and_ties(void) {
  const double g[] = {0.5, 1, 3, 7, 10, 30, 100, 1000};
  plist l = {0};
  add_exact(&l, g, 8, 13.7);
  /* alpha 10, the best grid point, diverges in seed 1: alpha 7 wins (log
   * distance 0.67 against 0.78 for 30), and with a +Inf neighbour there is
   * no parabola: alpha* = 7. */
  for (size_t i = 0; i < l.n; i++)
    if (l.p[i].alpha == 10 && l.p[i].seed_index == 1) l.p[i].loss = INFINITY;
  la_fit_opts o = opts(100, 3);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  CHECK(a->stars[0].alpha_grid == 7);
  CHECK(a->stars[0].alpha == 7);
  CHECK(isfinite(a->stars[0].loss));
  la_analysis_free(a);
  /* Everything diverged but one point: that point wins. */
  for (size_t i = 0; i < l.n; i++)
    l.p[i].loss = l.p[i].alpha == 100 ? 5.0 : INFINITY;
  a = analyse(&l, &o, NULL, 0);
  CHECK(a->stars[0].alpha_grid == 100 && a->stars[0].alpha == 100);
  CHECK(a->stars[0].loss == 5.0);
  la_analysis_free(a);
  free(l.p);
  /* Ties go to the smaller alpha; the parabola through (2, 2), (4, 1),
   * (8, 1) has its vertex at 4 sqrt 2. */
  const double loss[] = {3, 2, 1, 1, 2};
  plist t = {0};
  for (int e = 0; e < 5; e++)
    add(&t, 1, 1e-3, ldexp(1, e), 0, loss[e]);
  o = opts(0, 0);
  a = analyse(&t, &o, NULL, 0);
  CHECK(a->stars[0].alpha_grid == 4);
  CHECK_CLOSE(a->stars[0].alpha, 4 * sqrt(2.0), 1e-12);
  la_analysis_free(a);
  free(t.p);
}

/* ---- synthetic sweeps with a known law ---------------------------------- */

/* Every star of a near the truth c0 r^p0, inside its interval, used, and
 * in rank order. */
static void check_stars(const la_analysis *a, double c0, double p0) {
  for (size_t i = 0; i < a->n_stars; i++) {
    const la_alpha_star *s = &a->stars[i];
    double truth = c0 * pow(s->rank, p0);
    CHECK_CLOSE(s->alpha / truth, 1, 0.05);
    CHECK(s->ci_lo <= s->alpha && s->alpha <= s->ci_hi);
    CHECK(s->lo <= s->ci_lo && s->ci_hi <= s->hi && !s->flat);
    CHECK(s->lo <= s->flat_lo && s->flat_hi <= s->hi);
    CHECK(s->weight > 0 && !s->ill_determined && !s->at_edge);
    CHECK(i == 0 || s->rank > a->stars[i - 1].rank);
  }
}

/* (a) small noise: c and p close to the truth and inside their intervals;
 * (e) the sqrt law recovers c0. */
static void test_law_recovery(void) {
  plist l = {0};
  la_rng rng;
  la_rng_init(&rng, 11, 0);
  add_law(&l, 1e-3, 6, 0.5, 0.002, &rng);
  la_fit_opts o = opts(1000, 5);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  CHECK_EQ_INT(a->n_stars, 7);
  CHECK_EQ_INT(a->n_fits, 2);
  const la_law_fit *F = &a->fits[0], *S = &a->fits[1];
  printf("free fit: c %.4f [%.4f, %.4f]  p %.4f [%.4f, %.4f]  r2 %.5f\n", F->c,
         F->c_lo, F->c_hi, F->p, F->p_lo, F->p_hi, F->r2);
  printf("sqrt fit: c %.4f [%.4f, %.4f]  r2 %.5f\n", S->c, S->c_lo, S->c_hi,
         S->r2);
  CHECK_EQ_INT(F->method, 0);
  CHECK_CLOSE(F->p, 0.5, 0.03);
  CHECK_CLOSE(F->c / 6, 1, 0.05);
  CHECK(F->p_lo <= 0.5 && 0.5 <= F->p_hi);
  CHECK(F->c_lo <= 6 && 6 <= F->c_hi);
  CHECK(F->p_lo <= F->p && F->p <= F->p_hi);
  CHECK(F->r2 > 0.99);
  CHECK_EQ_INT(F->n_used, 7);
  CHECK_EQ_INT(F->n_excluded, 0);
  CHECK_EQ_INT(F->poor, 0);
  /* (e) the sqrt law recovers c0 when p0 = 0.5. */
  CHECK_EQ_INT(S->method, 1);
  CHECK(S->p == 0.5 && isnan(S->p_lo) && isnan(S->p_hi));
  CHECK_CLOSE(S->c / 6, 1, 0.03);
  CHECK(S->c_lo <= 6 && 6 <= S->c_hi);
  CHECK(S->r2 > 0.99);
  CHECK_EQ_INT(S->poor, 0);
  check_stars(a, 6, 0.5);
  la_analysis_free(a);
  free(l.p);
}

/* (b) Over 100 independent sweeps, how often p's 95% interval holds p0. */
static void test_coverage(void) {
  int hits = 0, n = 100;
  double sum = 0, sum2 = 0, width = 0;
  for (int t = 0; t < n; t++) {
    plist l = {0};
    la_rng rng;
    la_rng_init(&rng, 1000 + (uint64_t)t, 0);
    add_law(&l, 1e-3, 6, 0.5, 0.01, &rng);
    la_fit_opts o = opts(200, (uint64_t)t);
    la_analysis *a = analyse(&l, &o, NULL, 0);
    const la_law_fit *F = &a->fits[0];
    hits += F->p_lo <= 0.5 && 0.5 <= F->p_hi;
    sum += F->p, sum2 += F->p * F->p, width += F->p_hi - F->p_lo;
    la_analysis_free(a);
    free(l.p);
  }
  double mean = sum / n, sd = sqrt((sum2 - n * mean * mean) / (n - 1));
  printf("coverage of p0 by the 95%% interval: %d/%d; mean p %.4f, sd %.4f, "
         "mean width %.4f (2 x 1.96 sd = %.4f)\n",
         hits, n, mean, sd, width / n, 2 * 1.96 * sd);
  CHECK(hits >= 85);
  CHECK_CLOSE(mean, 0.5, 0.02);
  /* The intervals are neither far too narrow nor far too wide. */
  CHECK(width / n > 0.5 * 2 * 1.96 * sd && width / n < 2.0 * 2 * 1.96 * sd);
}

/* (c) A flat rank is ill-determined, excluded, and leaves p in place. */
static void test_flat_rank(void) {
  plist l = {0};
  la_rng rng;
  la_rng_init(&rng, 21, 0);
  add_law(&l, 1e-3, 6, 0.5, 0.005, &rng);
  la_fit_opts o = opts(1000, 2);
  la_analysis *clean = analyse(&l, &o, NULL, 0);
  /* Rank 24: curvature 1e-5 against noise 0.005 and an optimum at 1e3. */
  add_rank(&l, 1e-3, 24, 1000, 1e-5, 0.005, -2, 12, 5, &rng);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  const la_alpha_star *s = star(a, 1e-3, 24);
  CHECK(s != NULL);
  if (s == NULL) return;
  printf("flat rank: alpha %.3g in [%.3g, %.3g] (%.1f octaves)\n", s->alpha,
         s->ci_lo, s->ci_hi, log2(s->ci_hi / s->ci_lo));
  CHECK_EQ_INT(s->ill_determined, 1);
  CHECK(s->weight == 0);
  CHECK_EQ_INT(a->fits[0].n_used, 7);
  CHECK_EQ_INT(a->fits[0].n_excluded, 1);
  CHECK_EQ_INT(a->fits[1].n_excluded, 1);
  const la_law_fit *F = &a->fits[0], *C = &clean->fits[0];
  CHECK(C->p_lo <= F->p && F->p <= C->p_hi);
  CHECK_CLOSE(F->p, C->p, 0.01);
  CHECK(F->p_lo <= 0.5 && 0.5 <= F->p_hi);
  la_analysis_free(a);
  la_analysis_free(clean);
  free(l.p);
}

/* (d) Ranks whose optimum lies beyond either end of the grid. */
static void test_out_of_grid_rank(void) {
  plist l = {0};
  la_rng rng;
  la_rng_init(&rng, 31, 0);
  add_law(&l, 1e-3, 6, 0.5, 0.002, &rng);
  add_rank(&l, 1e-3, 128, 16384, 0.05, 0.002, -2, 12, 5, &rng);
  add_rank(&l, 1e-3, 3, 0.05, 0.05, 0.002, -2, 12, 5, &rng);
  la_fit_opts o = opts(300, 4);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  const la_alpha_star *hi = star(a, 1e-3, 128), *lo = star(a, 1e-3, 3);
  CHECK(hi != NULL && lo != NULL);
  if (hi == NULL || lo == NULL) return;
  CHECK(hi->at_edge && hi->alpha_grid == 4096 && hi->alpha == 4096);
  CHECK(lo->at_edge && lo->alpha_grid == 0.25 && lo->alpha == 0.25);
  CHECK(hi->weight == 0 && lo->weight == 0);
  CHECK_EQ_INT(a->fits[0].n_used, 7);
  CHECK_EQ_INT(a->fits[0].n_excluded, 2);
  CHECK_CLOSE(a->fits[0].p, 0.5, 0.03);
  CHECK_CLOSE(a->fits[1].c / 6, 1, 0.03);
  la_analysis_free(a);
  free(l.p);
}

/* ---- flat optima -------------------------------------------------------- */

/* la_fit_flat_set by hand: the hull of the points within the tolerance,
 * extended to the linear crossing; the standard error when it is larger;
 * a diverged or missing neighbour stops the extension. */
static void test_flat_set(void) {
  double x[] = {0, 1, 2, 3, 4, 5}, lo, hi;
  /* best 1.0 at x 2; level 1.01: x 3 (1.005) is in, x 1 (1.02) and x 4
   * (1.03) are not; crossings at 2 - 0.01/0.02 = 1.5 and 3 + 0.005/0.025
   * = 3.2. */
  double m[] = {1.5, 1.02, 1.0, 1.005, 1.03, 1.2};
  la_fit_flat_set(x, m, 6, 0, 0.01, &lo, &hi);
  CHECK_CLOSE(lo, 1.5, 1e-12);
  CHECK_CLOSE(hi, 3.2, 1e-12);
  /* A standard error of 0.025 wins over 1%: level 1.025 takes x 1 in. */
  la_fit_flat_set(x, m, 6, 0.025, 0.01, &lo, &hi);
  CHECK_CLOSE(lo, 1 - 0.005 / 0.48, 1e-12);
  CHECK_CLOSE(hi, 3 + 0.02 / 0.025, 1e-12);
  /* A second dip within the level far away: the hull holds both. */
  double d[] = {1.001, 1.5, 1.0, 1.5, 1.5, 1.5};
  la_fit_flat_set(x, d, 6, 0, 0.01, &lo, &hi);
  CHECK(lo == 0); /* the grid's first point: no extension */
  CHECK_CLOSE(hi, 2 + 0.01 / 0.5, 1e-12);
  /* A diverged neighbour: the set stops at the last finite point. */
  double v[] = {1.5, INFINITY, 1.0, 1.5, 1.5, 1.5};
  la_fit_flat_set(x, v, 6, 0, 0.01, &lo, &hi);
  CHECK(lo == 2);
  /* Everything diverged: no set. */
  double inf[] = {INFINITY, INFINITY};
  la_fit_flat_set(x, inf, 2, 0, 0.01, &lo, &hi);
  CHECK(isnan(lo) && isnan(hi));
}

/* Loss with a flat bottom: 1 + k (|log alpha - log a0| - h)_+^2 + slope
 * (log alpha - log a0), h the bottom's half width in log alpha. */
static double flat_bowl(double alpha, double a0, double h, double k,
                        double slope) {
  double d = log(alpha) - log(a0), e = fabs(d) > h ? fabs(d) - h : 0;
  return 1.0 + k * e * e + slope * d;
}

/* One rank with a flat bottom on the grid 2^-2 .. 2^12. */
static void add_flat_rank(plist *l, int rank, double a0, double h, double k,
                          double slope, double sigma, int seeds, la_rng *rng) {
  for (int e = -2; e <= 12; e++) {
    double a = ldexp(1.0, e);
    for (int s = 0; s < seeds; s++)
      add(l, rank, 1e-3, a, s,
          flat_bowl(a, a0, h, k, slope) + sigma * la_rng_normal(rng));
  }
}

/* Coverage: 200 simulated sweeps of ranks 1 .. 64 (3 seeds, noise 0.003,
 * curvature 0.5 per (log alpha)^2), the law alpha* = 6 sqrt r for the sharp
 * ranks; ranks 4 and 32 have a flat bottom 2 octaves wide, [2^(j-1),
 * 2^(j+1)] around 2^j = 16 and 32 (edges on the grid, so the grid can
 * resolve them). How often the bootstrap interval and the overall interval
 * hold the whole bottom (flat ranks) and the true alpha* (sharp ranks);
 * flat ranks are flagged, sharp ones not; p's interval still covers 0.5. */
static void test_flat_coverage(void) {
  int n = 200, fb = 0, fo = 0, nf = 0, sb = 0, so = 0, ns = 0, flagged = 0,
      wrong_flag = 0, ill = 0, pcov = 0;
  for (int t = 0; t < n; t++) {
    plist l = {0};
    la_rng rng;
    la_rng_init(&rng, 7000 + (uint64_t)t, 0);
    for (int r = 1; r <= 64; r *= 2) {
      if (r == 4 || r == 32)
        add_flat_rank(&l, r, r == 4 ? 16 : 32, LN2, 0.5, 0, 0.003, 3, &rng);
      else
        add_flat_rank(&l, r, 6 * sqrt(r), 0, 0.5, 0, 0.003, 3, &rng);
    }
    la_fit_opts o = opts(200, (uint64_t)t);
    la_analysis *a = analyse(&l, &o, NULL, 0);
    for (size_t i = 0; i < a->n_stars; i++) {
      const la_alpha_star *s = &a->stars[i];
      ill += s->ill_determined;
      if (s->rank == 4 || s->rank == 32) {
        double lo = s->rank == 4 ? 8 : 16, hi = 4 * lo;
        nf++, flagged += s->flat;
        fb += s->ci_lo <= lo * (1 + 1e-9) && s->ci_hi >= hi * (1 - 1e-9);
        fo += s->lo <= lo * (1 + 1e-9) && s->hi >= hi * (1 - 1e-9);
      } else {
        double truth = 6 * sqrt(s->rank);
        ns++, wrong_flag += s->flat;
        sb += s->ci_lo <= truth && truth <= s->ci_hi;
        so += s->lo <= truth && truth <= s->hi;
      }
    }
    pcov += a->fits[0].p_lo <= 0.5 && 0.5 <= a->fits[0].p_hi;
    la_analysis_free(a);
    free(l.p);
  }
  printf("flat bottoms held whole: bootstrap interval %d/%d (%.0f%%), overall "
         "interval %d/%d (%.0f%%); flagged flat %d/%d\n",
         fb, nf, 100.0 * fb / nf, fo, nf, 100.0 * fo / nf, flagged, nf);
  printf("sharp ranks' alpha* held: bootstrap %d/%d (%.0f%%), overall %d/%d "
         "(%.0f%%); wrongly flat %d; ill-determined %d; p's interval holds "
         "0.5 in %d/%d\n",
         sb, ns, 100.0 * sb / ns, so, ns, 100.0 * so / ns, wrong_flag, ill,
         pcov, n);
  CHECK(fo >= 0.95 * nf);
  CHECK(fb < fo);
  CHECK(so >= sb && so >= 0.9 * ns);
  CHECK(flagged >= 0.95 * nf);
  CHECK_EQ_INT(wrong_flag, 0);
  CHECK_EQ_INT(ill, 0);
  CHECK(pcov >= 0.85 * n);
}

/* The case: a flat rank whose seeds agree (a tight bootstrap
 * interval) at the largest rank, its alpha* an octave below the law (a
 * slight tilt puts the minimum at its bottom's lower end, 16, where the
 * law says 48; the bottom [16, 64] holds both). With flat_tol 0
 * (the flat set holds only the points within one standard error: close to
 * the rule before flat sets) it weighs as much as the typical rank and
 * pulls p; with the default 1% it weighs far less and p stays put. */
static void test_flat_rank_weight(void) {
  int n = 50;
  double err_old = 0, err_new = 0, share_old = 0, share_new = 0;
  for (int t = 0; t < n; t++) {
    plist l = {0};
    la_rng rng;
    la_rng_init(&rng, 9000 + (uint64_t)t, 0);
    for (int r = 1; r <= 32; r *= 2)
      add_flat_rank(&l, r, 6 * sqrt(r), 0, 0.5, 0, 0.003, 3, &rng);
    /* rank 64: law 48; bottom [16, 64], tilted down to 16 */
    add_flat_rank(&l, 64, 32, LN2, 0.5, 0.004, 0.0003, 3, &rng);
    for (int v = 0; v < 2; v++) {
      la_fit_opts o = opts(200, (uint64_t)t);
      if (v == 0) o.flat_tol = 0;
      la_analysis *a = analyse(&l, &o, NULL, 0);
      double sw = 0;
      for (size_t i = 0; i < a->n_stars; i++)
        sw += a->stars[i].weight;
      const la_alpha_star *s = star(a, 1e-3, 64);
      double share = s->weight / sw, e = fabs(a->fits[0].p - 0.5);
      if (v == 0)
        share_old += share / n, err_old += e / n;
      else
        share_new += share / n, err_new += e / n;
      if (v == 1 && t == 0)
        printf("flat rank 64: alpha %.3g [%.3g, %.3g], bootstrap [%.3g, "
               "%.3g], flat set [%.3g, %.3g]\n",
               s->alpha, s->lo, s->hi, s->ci_lo, s->ci_hi, s->flat_lo,
               s->flat_hi);
      if (v == 1) CHECK(s->flat && s->alpha < 24);
      la_analysis_free(a);
    }
    free(l.p);
  }
  printf("flat rank 64: weight share %.3f (flat_tol 0) -> %.3f (default); "
         "mean |p - 0.5| %.4f -> %.4f\n",
         share_old, share_new, err_old, err_new);
  CHECK(share_new < share_old / 5);
  CHECK(err_new < err_old / 3);
}

/* ---- too little data ---------------------------------------------------- */

/* Two usable ranks: the free fit is insufficient (null c, p, intervals,
 * R^2, scatter, with a reason), the sqrt(r) law is not; one usable rank:
 * both are. The sqrt law's scatter is the RMS residual in octaves. */
static void test_insufficient(void) {
  plist l = {0};
  /* alpha* exactly 8 at rank 1 and 32 at rank 4: log2 residuals about
   * c sqrt r (c = 8 sqrt 2 = the weighted fit at equal weights) are
   * -0.5 and +0.5 octave. */
  for (int e = -2; e <= 12; e++) {
    add(&l, 1, 1e-3, ldexp(1, e), 0, bowl(ldexp(1, e), 8, 0.3));
    add(&l, 4, 1e-3, ldexp(1, e), 0, bowl(ldexp(1, e), 32, 0.3));
  }
  la_fit_opts o = opts(0, 0);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  const la_law_fit *F = &a->fits[0], *S = &a->fits[1];
  printf("free fit of 2 ranks: insufficient %d, reason \"%s\"\n",
         F->insufficient, F->reason);
  CHECK_EQ_INT(F->n_used, 2);
  CHECK(F->insufficient && F->poor);
  CHECK(isnan(F->c) && isnan(F->p) && isnan(F->r2) && isnan(F->scatter_log2));
  CHECK(isnan(F->p_lo) && isnan(F->c_lo));
  CHECK(strstr(F->reason, "2 usable ranks") != NULL);
  CHECK(strstr(F->reason, "needs 3") != NULL);
  CHECK(!S->insufficient && S->reason[0] == 0);
  CHECK_CLOSE(S->c, 8 * sqrt(2.0), 1e-9);
  CHECK_CLOSE(S->scatter_log2, 0.5, 1e-9);
  la_analysis_free(a);
  /* one rank: the sqrt law too */
  plist one = {0};
  for (int e = -2; e <= 12; e++)
    add(&one, 1, 1e-3, ldexp(1, e), 0, bowl(ldexp(1, e), 8, 0.3));
  a = analyse(&one, &o, NULL, 0);
  S = &a->fits[1];
  CHECK(S->insufficient && isnan(S->c) && isnan(S->p) && isnan(S->r2));
  CHECK(strstr(S->reason, "1 usable rank (") != NULL);
  CHECK(strstr(S->reason, "needs 2") != NULL);
  la_analysis_free(a);
  free(one.p);
  free(l.p);
}

/* ---- regret ------------------------------------------------------------- */

/* Loss of the regret sweep: the bowl around 10 with curvature 0.2. */
static double L(double alpha) {
  return bowl(alpha, 10, 0.2);
}

/* Ranks 1, 2, 4, 8 on the grid 2^1 .. 2^6, one seed, loss L. */
static void regret_sweep(plist *l) {
  for (int r = 1; r <= 8; r *= 2)
    for (int e = 1; e <= 6; e++)
      add(l, r, 1e-3, ldexp(1, e), 0, L(ldexp(1, e)));
}

/* The built-in rules, as documented. */
static void test_heuristics(void) {
  size_t nb;
  const la_heuristic *h = la_fit_heuristics(&nb);
  CHECK_EQ_INT(nb, 3);
  CHECK(strcmp(h[0].name, "alpha=r") == 0 && h[0].coef == 1);
  CHECK(strcmp(h[1].name, "alpha=2r") == 0 && h[1].coef == 2);
  CHECK(strcmp(h[2].name, "rslora16") == 0 && h[2].power == -0.5);
}

/* Regret at grid points, interpolated, and outside the grid (peft). */
static void test_regret(void) {
  plist l = {0};
  regret_sweep(&l);
  const la_heuristic user[] = {{"big", 100, 0}};
  la_fit_opts o = opts(0, 0);
  la_analysis *a = analyse(&l, &o, user, 1);
  CHECK_EQ_INT(a->n_regrets, 4 * 4); /* ranks 1 2 4 8 x 4 rules */
  const la_regret *R = a->regrets;
  double best = L(8); /* the grid's best: log(10/8) < log(16/10) */
  /* rank 1 (index 0): alpha=r is 1, below the grid. */
  CHECK(R[0].rank == 1 && R[0].rule == 0 && R[0].alpha == 1);
  CHECK(isnan(R[0].loss) && isnan(R[0].regret));
  CHECK_CLOSE(R[0].best_loss, best, 1e-15);
  /* rank 1, alpha=2r: 2, the grid's first point. */
  CHECK_CLOSE(R[1].loss, L(2), 1e-15);
  /* rank 4 (index 2), alpha=r: 4 exactly. */
  CHECK(R[2 * 4 + 0].rank == 4 && R[2 * 4 + 0].alpha == 4);
  CHECK_CLOSE(R[2 * 4 + 0].regret, L(4) / best - 1, 1e-14);
  /* rank 2, rslora16: 16 sqrt 2, half way (in log) between 16 and 32. */
  CHECK_CLOSE(R[1 * 4 + 2].alpha, 16 * sqrt(2.0), 1e-14);
  CHECK_CLOSE(R[1 * 4 + 2].loss, (L(16) + L(32)) / 2, 1e-13);
  CHECK_CLOSE(R[1 * 4 + 2].regret, (L(16) + L(32)) / 2 / best - 1, 1e-13);
  /* rank 8, rslora16: 16 sqrt 8 = 2^5.5; alpha=2r: 16; user rule: 800. */
  CHECK_CLOSE(R[3 * 4 + 2].loss, (L(32) + L(64)) / 2, 1e-13);
  CHECK_CLOSE(R[3 * 4 + 1].loss, L(16), 1e-15);
  CHECK(R[3 * 4 + 3].rule == 3 && R[3 * 4 + 3].alpha == 800);
  CHECK(isnan(R[3 * 4 + 3].loss) && isnan(R[3 * 4 + 3].regret));
  la_analysis_free(a);
  free(l.p);
}

/* Interpolation a quarter of the way, and rsLoRA's scaling. */
static void test_regret_quarter_and_rslora(void) {
  plist l = {0};
  regret_sweep(&l);
  la_fit_opts o = opts(0, 0);
  /* rank 4, alpha = 2^3.25 by a user rule 2^1.25 r. */
  const la_heuristic q[] = {{"quarter", pow(2, 1.25), 0}};
  la_analysis *a = analyse(&l, &o, q, 1);
  CHECK_CLOSE(a->regrets[2 * 4 + 3].loss, 0.75 * L(8) + 0.25 * L(16), 1e-13);
  la_analysis_free(a);
  /* rsLoRA scaling: rslora16 is alpha = 16 at every rank, alpha=r is
   * sqrt r. */
  o.scale_power = 0.5;
  a = analyse(&l, &o, NULL, 0);
  for (size_t g = 0; g < 4; g++) {
    CHECK(a->regrets[g * 3 + 2].alpha == 16.0);
    CHECK_CLOSE(a->regrets[g * 3 + 2].loss, L(16), 1e-15);
  }
  CHECK(a->regrets[2 * 3 + 0].alpha == 2.0); /* rank 4: sqrt 4 */
  CHECK_CLOSE(a->regrets[2 * 3 + 0].loss, L(2), 1e-15);
  la_analysis_free(a);
  free(l.p);
}

/* Regret next to and at a diverged grid point. */
static void test_regret_diverged(void) {
  plist l = {0};
  for (int e = 1; e <= 6; e++)
    add(&l, 2, 1e-3, ldexp(1, e), 0, e == 5 ? INFINITY : L(ldexp(1, e)));
  const la_heuristic user[] = {{"x16", 16, 0}};
  la_fit_opts o = opts(0, 0);
  la_analysis *a = analyse(&l, &o, user, 1);
  /* rslora16 at rank 2 is 16 sqrt 2, next to the diverged 32: NaN. */
  CHECK(isnan(a->regrets[2].loss) && isnan(a->regrets[2].regret));
  /* alpha = 16 r = 32 is the diverged point itself: +Inf. */
  CHECK(a->regrets[3].alpha == 32 && isinf(a->regrets[3].loss));
  CHECK(isinf(a->regrets[3].regret));
  /* alpha=2r = 4 is fine. */
  CHECK_CLOSE(a->regrets[1].loss, L(4), 1e-15);
  la_analysis_free(a);
  free(l.p);
}

/* ---- several lrs, determinism ------------------------------------------- */

#define SAME_D(x, y) (memcmp(&(x), &(y), sizeof(double)) == 0)

/* Whether two analyses are bit-identical, field by field. */
static int same(const la_analysis *a, const la_analysis *b) {
  if (a->n_stars != b->n_stars || a->n_fits != b->n_fits ||
      a->n_regrets != b->n_regrets)
    return 0;
  for (size_t i = 0; i < a->n_stars; i++) {
    const la_alpha_star *s = &a->stars[i], *t = &b->stars[i];
    if (s->rank != t->rank || s->n_alpha != t->n_alpha ||
        s->seeds != t->seeds || s->at_edge != t->at_edge ||
        s->ill_determined != t->ill_determined || !SAME_D(s->lr, t->lr) ||
        !SAME_D(s->alpha, t->alpha) || !SAME_D(s->alpha_grid, t->alpha_grid) ||
        !SAME_D(s->loss, t->loss) || !SAME_D(s->ci_lo, t->ci_lo) ||
        !SAME_D(s->ci_hi, t->ci_hi) || !SAME_D(s->weight, t->weight))
      return 0;
  }
  for (size_t i = 0; i < a->n_fits; i++) {
    const la_law_fit *f = &a->fits[i], *g = &b->fits[i];
    if (f->method != g->method || f->n_used != g->n_used ||
        f->n_excluded != g->n_excluded || f->poor != g->poor ||
        !SAME_D(f->lr, g->lr) || !SAME_D(f->c, g->c) ||
        !SAME_D(f->c_lo, g->c_lo) || !SAME_D(f->c_hi, g->c_hi) ||
        !SAME_D(f->p, g->p) || !SAME_D(f->p_lo, g->p_lo) ||
        !SAME_D(f->p_hi, g->p_hi) || !SAME_D(f->r2, g->r2))
      return 0;
  }
  for (size_t i = 0; i < a->n_regrets; i++) {
    const la_regret *r = &a->regrets[i], *q = &b->regrets[i];
    if (r->rank != q->rank || r->rule != q->rule || !SAME_D(r->lr, q->lr) ||
        !SAME_D(r->alpha, q->alpha) || !SAME_D(r->loss, q->loss) ||
        !SAME_D(r->best_loss, q->best_loss) || !SAME_D(r->regret, q->regret))
      return 0;
  }
  return 1;
}

/* Two lrs with different laws, the larger lr first. */
static void two_lrs(plist *l, la_rng *rng) {
  la_rng_init(rng, 41, 0);
  add_law(l, 1e-2, 2, 0.5, 0.002, rng);
  add_law(l, 1e-3, 6, 0.3, 0.002, rng);
}

/* Each lr is analysed on its own; output is ordered by lr. */
static void test_lrs(void) {
  plist l = {0};
  la_rng rng;
  two_lrs(&l, &rng);
  la_fit_opts o = opts(300, 9);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  CHECK_EQ_INT(a->n_stars, 14);
  CHECK_EQ_INT(a->n_fits, 4);
  CHECK_EQ_INT(a->n_regrets, 14 * 3);
  CHECK(a->stars[0].lr == 1e-3 && a->stars[7].lr == 1e-2);
  CHECK(a->fits[0].lr == 1e-3 && a->fits[0].method == 0);
  CHECK(a->fits[1].lr == 1e-3 && a->fits[1].method == 1);
  CHECK(a->fits[2].lr == 1e-2 && a->fits[3].method == 1);
  CHECK_CLOSE(a->fits[0].p, 0.3, 0.03);
  CHECK_CLOSE(a->fits[0].c / 6, 1, 0.05);
  CHECK_CLOSE(a->fits[2].p, 0.5, 0.03);
  CHECK_CLOSE(a->fits[2].c / 2, 1, 0.05);
  CHECK_CLOSE(a->fits[3].c / 2, 1, 0.03);
  CHECK(a->regrets[13 * 3].lr == 1e-2 && a->regrets[13 * 3].rank == 64);
  la_analysis_free(a);
  free(l.p);
}

/* Same input and seed: bit-identical, even shuffled; another seed moves
 * the intervals only. */
static void test_determinism(void) {
  plist l = {0};
  la_rng rng;
  two_lrs(&l, &rng);
  la_fit_opts o = opts(300, 9);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  la_analysis *b = analyse(&l, &o, NULL, 0);
  CHECK(same(a, b));
  la_analysis_free(b);
  uint32_t *perm = malloc(l.n * sizeof *perm);
  plist s = {0};
  if (perm == NULL) abort();
  la_rng_permutation(&rng, perm, l.n);
  for (size_t i = 0; i < l.n; i++)
    add(&s, l.p[perm[i]].rank, l.p[perm[i]].lr, l.p[perm[i]].alpha,
        l.p[perm[i]].seed_index, l.p[perm[i]].loss);
  b = analyse(&s, &o, NULL, 0);
  CHECK(same(a, b));
  la_analysis_free(b);
  /* Another seed moves the intervals but not the point estimates. */
  o.seed = 10;
  b = analyse(&l, &o, NULL, 0);
  CHECK(!same(a, b));
  CHECK(SAME_D(a->fits[0].p, b->fits[0].p));
  CHECK(!SAME_D(a->fits[0].p_lo, b->fits[0].p_lo));
  la_analysis_free(b);
  la_analysis_free(a);
  free(perm);
  free(s.p);
  free(l.p);
}

/* A (rank, lr)'s resamples are its own: adding an lr leaves everything of
 * the other lr bit-identical (stars, fits, regrets), and adding a rank
 * leaves the other ranks' intervals as they were (their weights move: they
 * are floored at the median variance over the ranks). */
static void test_unrelated_cells(void) {
  plist one = {0}, both = {0}, more = {0};
  la_rng rng;
  la_rng_init(&rng, 43, 0);
  add_law(&one, 1e-3, 6, 0.3, 0.002, &rng);
  la_rng_init(&rng, 43, 0);
  add_law(&both, 1e-3, 6, 0.3, 0.002, &rng);
  la_rng_init(&rng, 44, 0);
  add_law(&both, 1e-2, 2, 0.5, 0.002, &rng);
  la_rng_init(&rng, 43, 0);
  add_law(&more, 1e-3, 6, 0.3, 0.002, &rng);
  add_rank(&more, 1e-3, 128, 6 * pow(128, 0.3), 0.05, 0.002, -2, 12, 5, &rng);
  la_fit_opts o = opts(300, 9);
  la_analysis *a = analyse(&one, &o, NULL, 0);
  la_analysis *b = analyse(&both, &o, NULL, 0);
  la_analysis *c = analyse(&more, &o, NULL, 0);
  /* lr 1e-3 sorts first: b's first 7 stars, 2 fits and 21 regrets */
  la_analysis part = *b;
  part.n_stars = a->n_stars, part.n_fits = a->n_fits;
  part.n_regrets = a->n_regrets;
  CHECK_EQ_INT(b->n_stars, 2 * a->n_stars);
  CHECK(b->stars[0].lr == 1e-3 && b->fits[1].lr == 1e-3);
  CHECK(same(a, &part));
  CHECK_EQ_INT(c->n_stars, a->n_stars + 1);
  for (size_t i = 0; i < a->n_stars; i++) {
    CHECK(a->stars[i].rank == c->stars[i].rank);
    CHECK(SAME_D(a->stars[i].ci_lo, c->stars[i].ci_lo));
    CHECK(SAME_D(a->stars[i].ci_hi, c->stars[i].ci_hi));
  }
  la_analysis_free(a);
  la_analysis_free(b);
  la_analysis_free(c);
  free(one.p);
  free(both.p);
  free(more.p);
}

/* One seed everywhere: no rank interval, equal weights, exact law. */
static void test_single_seed(void) {
  plist l = {0};
  for (int r = 1; r <= 16; r *= 2)
    for (int e = -2; e <= 12; e++)
      add(&l, r, 1e-3, ldexp(1, e), 0, bowl(ldexp(1, e), 6 * sqrt(r), 0.05));
  la_fit_opts o = opts(100, 0);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  for (size_t i = 0; i < a->n_stars; i++) {
    CHECK(isnan(a->stars[i].ci_lo) && isnan(a->stars[i].ci_hi));
    CHECK(a->stars[i].weight > 0 && !a->stars[i].ill_determined);
    CHECK(a->stars[i].flat_lo < a->stars[i].alpha &&
          a->stars[i].alpha < a->stars[i].flat_hi);
  }
  CHECK_CLOSE(a->fits[0].p, 0.5, 1e-9);
  CHECK_CLOSE(a->fits[0].c, 6, 1e-8);
  CHECK(isnan(a->fits[0].p_lo) && isnan(a->fits[0].c_lo));
  CHECK_EQ_INT(a->fits[0].n_used, 5);
  CHECK_EQ_INT(a->fits[0].poor, 0);
  la_analysis_free(a);
  /* A second seed for ranks 1 and 2 only (a sweep in progress): every
   * rank's variance is its flat set's (wider than the bootstrap's at this
   * noise), so the single-seed ranks weigh as much as the others. */
  la_rng rng;
  la_rng_init(&rng, 61, 0);
  for (int r = 1; r <= 2; r++)
    for (int e = -2; e <= 12; e++)
      add(&l, r, 1e-3, ldexp(1, e), 1,
          bowl(ldexp(1, e), 6 * sqrt(r), 0.05) + 0.01 * la_rng_normal(&rng));
  a = analyse(&l, &o, NULL, 0);
  CHECK(!isnan(a->stars[0].ci_lo) && isnan(a->stars[4].ci_lo));
  CHECK_CLOSE(a->stars[4].weight / a->stars[0].weight, 1, 0.25);
  CHECK_CLOSE(a->stars[4].weight / a->stars[1].weight, 1, 0.25);
  CHECK(a->stars[4].weight == a->stars[2].weight);
  CHECK(!isnan(a->fits[0].p_lo) && a->fits[0].n_used == 5);
  la_analysis_free(a);
  free(l.p);
}

/* ---- bad input ---------------------------------------------------------- */

/* la_fit_analyze must fail with LA_EINVAL, a message containing want and
 * no output. */
static void expect_einval(const plist *l, const la_fit_opts *o,
                          const char *want) {
  la_analysis *a = (la_analysis *)&a; /* must be reset to NULL */
  la_err err = {{0}};
  int rc = la_fit_analyze(l->p, l->n, o, NULL, 0, &a, &err);
  CHECK_EQ_INT(rc, LA_EINVAL);
  CHECK(a == NULL);
  if (strstr(err.msg, want) == NULL)
    fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, want);
  CHECK(strstr(err.msg, want) != NULL);
}

/* Empty input, bad points, duplicates and bad options. */
static void test_bad_input(void) {
  plist l = {0};
  la_fit_opts o = opts(10, 0);
  expect_einval(&l, &o, "no finished runs to analyse");
  for (int e = 0; e < 6; e++)
    add(&l, 4, 1e-3, ldexp(1, e), 0, 1.0 + e);
  l.p[3].alpha = -2;
  expect_einval(&l, &o, "point 3");
  l.p[3].alpha = 8;
  l.p[5].loss = NAN;
  expect_einval(&l, &o, "point 5");
  l.p[5].loss = -0.5;
  expect_einval(&l, &o, "point 5");
  l.p[5].loss = 1;
  l.p[2].rank = 0;
  expect_einval(&l, &o, "point 2");
  l.p[2].rank = 4;
  l.p[1].lr = 0;
  expect_einval(&l, &o, "point 1");
  l.p[1].lr = 1e-3;
  l.p[4].alpha = l.p[0].alpha; /* the same run twice */
  expect_einval(&l, &o, "points 0 and 4");
  l.p[4].alpha = 16;
  o.level = 1.5;
  expect_einval(&l, &o, "level");
  o.level = 0.95;
  la_analysis *a = analyse(&l, &o, NULL, 0); /* repaired: fine */
  la_analysis_free(a);
  la_analysis_free(NULL);
  free(l.p);
}

/* ---- speed -------------------------------------------------------------- */

/* 20 ranks x 30 alphas x 3 lrs x 3 seeds with 1000 resamples. */
static void test_speed(void) {
  plist l = {0};
  la_rng rng;
  la_rng_init(&rng, 51, 0);
  for (int li = 0; li < 3; li++)
    for (int r = 1; r <= 20; r++)
      for (int j = 0; j < 30; j++) {
        double a = pow(2, -2 + 0.5 * j), astar = (2 + 2 * li) * sqrt(r);
        for (int s = 0; s < 3; s++)
          add(&l, r, 1e-4 * pow(10, li), a, s,
              bowl(a, astar, 0.05) + 0.003 * la_rng_normal(&rng));
      }
  la_fit_opts o = opts(1000, 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  la_analysis *a = analyse(&l, &o, NULL, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double dt = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  printf("20 ranks x 30 alphas x 3 lrs x 3 seeds, 1000 resamples: %.3f s\n",
         dt);
  CHECK(dt < 5.0);
  CHECK_EQ_INT(a->n_stars, 60);
  for (int li = 0; li < 3; li++) {
    CHECK_CLOSE(a->fits[2 * li].p, 0.5, 0.05);
    CHECK_CLOSE(a->fits[2 * li + 1].c / (2 + 2 * li), 1, 0.05);
  }
  la_analysis_free(a);
  free(l.p);
}

int main(void) {
  test_wls();
  test_refine_exact();
  test_refine_edges();
  test_refine_diverged_and_ties();
  test_law_recovery();
  test_coverage();
  test_flat_rank();
  test_out_of_grid_rank();
  test_flat_set();
  test_flat_coverage();
  test_flat_rank_weight();
  test_insufficient();
  test_heuristics();
  test_regret();
  test_regret_quarter_and_rslora();
  test_regret_diverged();
  test_lrs();
  test_determinism();
  test_unrelated_cells();
  test_single_seed();
  test_bad_input();
  test_speed();
  return check_summary();
}
