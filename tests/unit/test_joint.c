/*
 * test_joint.c: the joint (alpha, lr) optimum and the alpha-lr trade-off
 * (daemon/analysis/joint.c, docs/analysis.md "The joint optimum") on
 * simulated sweeps with a known loss surface
 *
 *   L(alpha, lr) = 1 + 0.05 (ln alpha + s ln lr - ln C)^2
 *                    + 0.1 (ln lr - ln lr0)^2,
 *
 * whose ridge is alpha* = C lr^-s (slope -s of log alpha* against log lr)
 * and whose best lr is lr0: the ridge alpha lr = const (s = 1) and other
 * slopes give their verdicts, exactly without noise and with an interval
 * holding the truth with it; the best lr inside the grid, at its top and at
 * its bottom (lr_at_edge); one lr only; an lr whose alpha* is at the alpha
 * grid's edge or whose runs all diverged (left out); no bootstrap (no
 * interval); the answer (answer.c) takes the same lr for every rank; and
 * the slope interval's coverage over repeated noisy sweeps.
 */
#include "analysis/answer.h"
#include "analysis/joint.h"
#include "check.h"
#include "fit_points.h"
#include "loralpha/rng.h"

#include <stdlib.h>
#include <string.h>

#define N_LR 5
/* The sweep's lrs: 2^-13 .. 2^-9 (1.2e-4 .. 2e-3), exact in binary. */
static const double k_lrs[N_LR] = {0x1p-13, 0x1p-12, 0x1p-11, 0x1p-10, 0x1p-9};

/* One rank's surface (top of the file) at the lrs lrs[0 .. n_lr) and
 * alpha = 2^-2 .. 2^14, with seeds seeds each: the loss times
 * (1 + sigma N(0, 1)) (identical seeds when sigma is 0). */
static void add_surface(plist *l, int rank, const double *lrs, int n_lr,
                        double s, double C, double lr0, int seeds, double sigma,
                        la_rng *rng) {
  for (int i = 0; i < n_lr; i++)
    for (int e = -2; e <= 14; e++) {
      double a = ldexp(1.0, e), d = log(a) + s * log(lrs[i]) - log(C);
      double q = log(lrs[i]) - log(lr0), L = 1 + 0.05 * d * d + 0.1 * q * q;
      for (int k = 0; k < seeds; k++)
        add(l, rank, lrs[i], a, k,
            L * (1 + (sigma > 0 ? sigma * la_rng_normal(rng) : 0)));
    }
}

static la_analysis *analyse(const plist *l, int n_boot) {
  la_analysis *a = NULL;
  la_fit_opts o;
  la_err err = {{0}};
  la_fit_opts_default(&o);
  o.n_boot = n_boot, o.seed = 3;
  int rc = la_fit_analyze(l->p, l->n, &o, NULL, 0, &a, &err);
  if (rc != 0) fprintf(stderr, "la_fit_analyze: %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  if (a == NULL) exit(1);
  return a;
}

static la_joint *joint(const la_analysis *a) {
  la_joint *j = NULL;
  la_err err = {{0}};
  int rc = la_joint_compute(a, 0.95, &j, &err);
  if (rc != 0) fprintf(stderr, "la_joint_compute: %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  if (j == NULL) exit(1);
  return j;
}

/* The joint optimum of rank, which must exist. */
static const la_joint_rank *of_rank(const la_joint *j, int rank) {
  for (size_t i = 0; i < j->n_ranks; i++)
    if (j->ranks[i].rank == rank) return &j->ranks[i];
  fprintf(stderr, "no joint optimum for rank %d\n", rank);
  exit(1);
}

/* The ridge alpha lr = const (s = 1) without noise: three ranks whose best
 * lr is inside the grid, at its top and at its bottom; exact alpha*, slope
 * -1 per rank and pooled, the verdict "alpha lr". */
static void test_ridge_exact(void) {
  plist l = {0};
  add_surface(&l, 2, k_lrs, N_LR, 1, 0x1p-6, k_lrs[2], 2, 0, NULL);
  add_surface(&l, 8, k_lrs, N_LR, 1, 0x1p-4, k_lrs[4], 2, 0, NULL);
  add_surface(&l, 32, k_lrs, N_LR, 1, 0x1p-3, 0x1p-14, 2, 0, NULL);
  la_analysis *a = analyse(&l, 200);
  la_joint *j = joint(a);
  CHECK_EQ_INT(j->n_ranks, 3);
  const la_joint_rank *r2 = of_rank(j, 2), *r8 = of_rank(j, 8),
                      *r32 = of_rank(j, 32);
  /* rank 2: best lr 2^-11 (inside), alpha* = 2^-6 * 2^11 = 32 */
  CHECK_CLOSE(r2->lr, 0x1p-11, 0);
  CHECK_CLOSE(r2->alpha, 32, 1e-9);
  CHECK_CLOSE(r2->alpha_grid, 32, 0);
  CHECK_CLOSE(r2->loss, 1, 1e-12);
  CHECK_EQ_INT(r2->lr_at_edge, 0);
  CHECK_EQ_INT(r2->alpha_at_edge, 0);
  CHECK_EQ_INT(r2->n_lrs, N_LR);
  /* rank 8: best lr the largest (2^-9): at the lr grid's edge */
  CHECK_CLOSE(r8->lr, 0x1p-9, 0);
  CHECK_CLOSE(r8->alpha, 32, 1e-9);
  CHECK_EQ_INT(r8->lr_at_edge, 1);
  /* rank 32: lr0 below the grid: the smallest lr, at the edge too */
  CHECK_CLOSE(r32->lr, 0x1p-13, 0);
  CHECK_CLOSE(r32->alpha, 1024, 1e-9);
  CHECK_EQ_INT(r32->lr_at_edge, 1);
  for (size_t i = 0; i < j->n_ranks; i++) {
    const la_joint_slope *t = &j->ranks[i].tradeoff;
    CHECK_CLOSE(t->slope, -1, 1e-9);
    CHECK_EQ_INT(t->n_points, N_LR);
    CHECK_EQ_INT(t->verdict, LA_JOINT_ALPHA_LR);
    CHECK_HAS(t->text, "α* falls as lr^-1.00");
    CHECK_HAS(t->text, "α·lr is roughly what matters");
  }
  CHECK_CLOSE(j->pooled.slope, -1, 1e-9);
  CHECK_EQ_INT(j->pooled.n_ranks, 3);
  CHECK_EQ_INT(j->pooled.n_points, 3 * N_LR);
  CHECK_EQ_INT(j->pooled.n_lrs, N_LR);
  CHECK_EQ_INT(j->pooled.verdict, LA_JOINT_ALPHA_LR);
  la_joint_free(j);
  la_analysis_free(a);
  free(l.p);
}

/* The verdict of an exact slope -s for s in 2 (steeper), 0.5 (between),
 * 0 (alpha alone), -0.5 (rising). */
static void test_verdicts(void) {
  static const struct {
    double s;
    la_joint_verdict v;
    const char *words;
  } cases[] = {{2, LA_JOINT_STEEPER, "falls faster than 1/lr"},
               {0.5, LA_JOINT_BETWEEN, "more slowly than 1/lr"},
               {0, LA_JOINT_ALPHA, "hardly moves with lr"},
               {-0.5, LA_JOINT_RISING, "rises with lr"}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    plist l = {0};
    /* C puts alpha* at 2^4 at the middle lr: inside the grid at every lr */
    double C = 16 * pow(k_lrs[2], cases[k].s);
    add_surface(&l, 4, k_lrs, N_LR, cases[k].s, C, k_lrs[2], 2, 0, NULL);
    la_analysis *a = analyse(&l, 100);
    la_joint *j = joint(a);
    const la_joint_rank *r = of_rank(j, 4);
    CHECK_CLOSE(r->tradeoff.slope, -cases[k].s, 1e-9);
    CHECK_EQ_INT(r->tradeoff.verdict, cases[k].v);
    CHECK_EQ_INT(j->pooled.verdict, cases[k].v);
    CHECK_HAS(r->tradeoff.text, cases[k].words);
    CHECK(strcmp(la_joint_verdict_name(r->tradeoff.verdict), "none") != 0);
    la_joint_free(j);
    la_analysis_free(a);
    free(l.p);
  }
}

/* Noisy sweeps (5 seeds, 0.3% noise) of the ridge (s = 1) and of s = 0.5:
 * the interval holds the true slope; for s = 0.5 it excludes -1 and 0. */
static void test_noisy(void) {
  static const double slopes[] = {1, 0.5};
  for (size_t k = 0; k < 2; k++) {
    plist l = {0};
    la_rng rng;
    la_rng_init(&rng, 100 + k, 0);
    for (int r = 1; r <= 16; r *= 4)
      add_surface(&l, r, k_lrs, N_LR, slopes[k],
                  4.0 * r * pow(k_lrs[2], slopes[k]), k_lrs[1], 5, 0.003, &rng);
    la_analysis *a = analyse(&l, 400);
    la_joint *j = joint(a);
    const la_joint_slope *P = &j->pooled;
    fprintf(stderr, "s = %g: pooled slope %.3f [%.3f, %.3f], %s\n", slopes[k],
            P->slope, P->lo, P->hi, P->text);
    CHECK(P->lo <= -slopes[k] && -slopes[k] <= P->hi);
    CHECK(P->hi - P->lo > 0);
    CHECK_EQ_INT(P->n_ranks, 3);
    CHECK_EQ_INT(P->verdict, k == 0 ? LA_JOINT_ALPHA_LR : LA_JOINT_BETWEEN);
    for (size_t i = 0; i < j->n_ranks; i++) {
      CHECK_CLOSE(j->ranks[i].lr, k_lrs[1], 0);
      CHECK(isfinite(j->ranks[i].tradeoff.lo));
      CHECK(isfinite(j->ranks[i].alpha_lo));
    }
    la_joint_free(j);
    la_analysis_free(a);
    free(l.p);
  }
}

/* How often the pooled slope's 95% interval holds the truth (-1) over
 * repeated noisy sweeps of the ridge (3 seeds, 1% noise): printed, and at
 * least 80% (the law's p covers about 90%, docs/analysis.md). */
static void test_coverage(void) {
  int hit = 0, n = 40;
  la_rng rng;
  la_rng_init(&rng, 2024, 0);
  for (int t = 0; t < n; t++) {
    plist l = {0};
    for (int r = 2; r <= 8; r *= 2)
      add_surface(&l, r, k_lrs, N_LR, 1, 8.0 * r * k_lrs[2], k_lrs[2], 3, 0.01,
                  &rng);
    la_analysis *a = analyse(&l, 200);
    la_joint *j = joint(a);
    hit += j->pooled.lo <= -1 && -1 <= j->pooled.hi;
    la_joint_free(j);
    la_analysis_free(a);
    free(l.p);
  }
  fprintf(stderr, "pooled slope: the 95%% interval held -1 in %d of %d\n", hit,
          n);
  CHECK(hit >= (int)(0.8 * n));
}

/* One lr only: the joint optimum is that lr, at the edge; no slope. */
static void test_one_lr(void) {
  plist l = {0};
  add_surface(&l, 4, k_lrs + 2, 1, 1, 0x1p-7, k_lrs[2], 2, 0, NULL);
  la_analysis *a = analyse(&l, 100);
  la_joint *j = joint(a);
  const la_joint_rank *r = of_rank(j, 4);
  CHECK_CLOSE(r->lr, k_lrs[2], 0);
  CHECK_CLOSE(r->alpha, 16, 1e-9);
  CHECK_EQ_INT(r->n_lrs, 1);
  CHECK_EQ_INT(r->lr_at_edge, 1);
  CHECK(isnan(r->tradeoff.slope) && isnan(r->tradeoff.lo));
  CHECK_EQ_INT(r->tradeoff.verdict, LA_JOINT_NONE);
  CHECK_HAS(r->tradeoff.text, "one lr only");
  CHECK_EQ_INT(j->pooled.verdict, LA_JOINT_NONE);
  CHECK_EQ_INT(j->pooled.n_lrs, 1);
  CHECK_HAS(j->pooled.text, "one lr only");
  la_joint_free(j);
  la_analysis_free(a);
  free(l.p);
}

/* An lr whose alpha* is at the alpha grid's edge, and one whose runs all
 * diverged, are left out of the slope; the diverged one is never best;
 * with one usable lr left the rank has no slope, while the pooled slope
 * comes from the ranks that have two. */
static void test_edge_and_diverged(void) {
  plist l = {0};
  static const double two[2] = {0x1p-13, 0x1p-12};
  /* rank 1: at 2^-13, alpha* = 2^-20 * 2^13 * ... far below the grid */
  add_surface(&l, 1, two, 2, 3, 0x1p-40, 0x1p-12, 2, 0, NULL);
  /* rank 2: the ridge at all five lrs, but lr 2^-9 diverged everywhere */
  add_surface(&l, 2, k_lrs, N_LR - 1, 1, 0x1p-7, 0x1p-9, 2, 0, NULL);
  for (int e = -2; e <= 14; e++)
    for (int k = 0; k < 2; k++)
      add(&l, 2, k_lrs[4], ldexp(1.0, e), k, INFINITY);
  la_analysis *a = analyse(&l, 100);
  la_joint *j = joint(a);
  const la_joint_rank *r1 = of_rank(j, 1), *r2 = of_rank(j, 2);
  CHECK_EQ_INT(r1->tradeoff.verdict, LA_JOINT_NONE);
  CHECK_EQ_INT(r1->tradeoff.n_points, 0);
  CHECK_HAS(r1->tradeoff.text, "fewer than 2 lrs have α* inside the grid");
  /* rank 2's best lr is 2^-10, next to the diverged one: not at the edge */
  CHECK_CLOSE(r2->lr, 0x1p-10, 0);
  CHECK_EQ_INT(r2->lr_at_edge, 0);
  CHECK_EQ_INT(r2->n_lrs, N_LR);
  CHECK_EQ_INT(r2->tradeoff.n_points, N_LR - 1);
  CHECK_CLOSE(r2->tradeoff.slope, -1, 1e-9);
  CHECK_EQ_INT(j->pooled.n_ranks, 1);
  CHECK_CLOSE(j->pooled.slope, -1, 1e-9);
  la_joint_free(j);
  la_analysis_free(a);
  free(l.p);
}

/* Without the bootstrap: a slope, no interval, and the text says so. */
static void test_no_bootstrap(void) {
  plist l = {0};
  add_surface(&l, 4, k_lrs, N_LR, 1, 0x1p-7, k_lrs[2], 2, 0, NULL);
  la_analysis *a = analyse(&l, 0);
  la_joint *j = joint(a);
  const la_joint_rank *r = of_rank(j, 4);
  CHECK_CLOSE(r->tradeoff.slope, -1, 1e-9);
  CHECK(isnan(r->tradeoff.lo) && isnan(r->tradeoff.hi));
  CHECK_EQ_INT(r->tradeoff.verdict, LA_JOINT_ALPHA_LR);
  CHECK_HAS(r->tradeoff.text, "(no interval)");
  la_joint_free(j);
  la_analysis_free(a);
  free(l.p);
}

/* The answer (answer.c) and the joint optimum take the same lr at every
 * rank, in a noisy sweep whose best lrs differ by rank. */
static void test_answer_agrees(void) {
  plist l = {0};
  la_rng rng;
  la_fit_opts o;
  la_answer *ans = NULL;
  size_t n = 0;
  la_err err = {{0}};
  la_rng_init(&rng, 9, 0);
  for (int r = 1, i = 0; r <= 64; r *= 2, i++)
    add_surface(&l, r, k_lrs, N_LR, 1, 2.0 * r * k_lrs[2], k_lrs[i % N_LR], 3,
                0.01, &rng);
  la_fit_opts_default(&o);
  o.n_boot = 100, o.seed = 3;
  la_analysis *a = analyse(&l, 100);
  la_joint *j = joint(a);
  CHECK_EQ_INT(la_answer_tested(a, l.p, l.n, &o, &ans, &n, &err), 0);
  CHECK_EQ_INT(n, j->n_ranks);
  for (size_t i = 0; i < n && i < j->n_ranks; i++) {
    CHECK_EQ_INT(ans[i].rank, j->ranks[i].rank);
    CHECK_CLOSE(ans[i].lr, j->ranks[i].lr, 0);
    CHECK_CLOSE(ans[i].alpha, j->ranks[i].alpha, 0);
  }
  la_joint_free(j);
  free(ans);
  la_analysis_free(a);
  free(l.p);
}

/* Bad arguments. */
static void test_errors(void) {
  plist l = {0};
  la_joint *j = NULL;
  la_err err = {{0}};
  add_surface(&l, 4, k_lrs, 2, 1, 0x1p-7, k_lrs[0], 2, 0, NULL);
  la_analysis *a = analyse(&l, 0);
  CHECK_EQ_INT(la_joint_compute(a, 1.5, &j, &err), LA_EINVAL);
  CHECK_HAS(err.msg, "level");
  CHECK(j == NULL);
  CHECK_EQ_INT(la_joint_compute(NULL, 0.95, &j, &err), LA_EINVAL);
  CHECK(la_joint_best(a, 5) == NULL);
  CHECK(la_joint_best(NULL, 4) == NULL);
  la_analysis_free(a);
  free(l.p);
}

int main(void) {
  test_ridge_exact();
  test_verdicts();
  test_noisy();
  test_coverage();
  test_one_lr();
  test_edge_and_diverged();
  test_no_bootstrap();
  test_answer_agrees();
  test_errors();
  return check_summary();
}
