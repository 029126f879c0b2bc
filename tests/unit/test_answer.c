/*
 * test_answer.c: the answer for a rank (daemon/analysis/answer.c,
 * docs/analysis.md "The answer") on synthetic sweeps whose truth is known:
 * a law p = 1 whose free fit excludes 0.5 (the answer uses the free fit) and
 * a p = 0.5 one (the sqrt(r) law, its interval [c_lo, c_hi] sqrt(r)); three
 * lrs where the best-R^2 lr is not the best-loss one (the answer takes the
 * best loss); a tested rank whose alpha* is far from the law (the answer is
 * the measured one); the rules' loss_pct against hand-computed values at
 * tested and untested ranks, with their notes and the one-line text; an lr
 * not in the sweep; no law at all; one usable rank (no law: the sqrt(r)
 * law needs 2).
 */
#include "analysis/answer.h"
#include "check.h"
#include "fit_points.h"
#include "loralpha/rng.h"

#include <stdlib.h>
#include <string.h>

/* One rank on the grid 2^-2 .. 2^12: base (1 + 0.05 (ln alpha -
 * ln astar)^2 + sigma N(0, 1)) at 5 seeds. */
static void add_rank(plist *l, double lr, int rank, double astar, double base,
                     double sigma, la_rng *rng) {
  for (int e = -2; e <= 12; e++) {
    double a = ldexp(1.0, e), d = log(a) - log(astar);
    for (int s = 0; s < 5; s++)
      add(l, rank, lr, a, s,
          base * (1 + 0.05 * d * d + sigma * la_rng_normal(rng)));
  }
}

/* Hand-made rank: loss 1 + 0.1 (log2 alpha - log2 astar)^2 at every
 * alpha = 2^lo .. 2^hi, two identical seeds. */
static void add_exact(plist *l, double lr, int rank, double log2_astar, int lo,
                      int hi) {
  for (int e = lo; e <= hi; e++)
    for (int s = 0; s < 2; s++)
      add(l, rank, lr, ldexp(1.0, e), s,
          1 + 0.1 * (e - log2_astar) * (e - log2_astar));
}

static la_fit_opts opts(int n_boot) {
  la_fit_opts o;
  la_fit_opts_default(&o);
  o.n_boot = n_boot;
  o.seed = 7;
  return o;
}

static la_analysis *analyse(const plist *l, const la_fit_opts *o) {
  la_analysis *a = NULL;
  la_err err = {{0}};
  int rc = la_fit_analyze(l->p, l->n, o, NULL, 0, &a, &err);
  if (rc != 0) fprintf(stderr, "la_fit_analyze: %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  if (a == NULL) exit(1);
  return a;
}

/* The answer, which must exist. */
static la_answer get(const la_analysis *a, const plist *l, const la_fit_opts *o,
                     int rank, double lr) {
  la_answer ans;
  la_err err = {{0}};
  int rc = la_answer_get(a, l->p, l->n, o, rank, lr, &ans, &err);
  if (rc != 0) fprintf(stderr, "la_answer_get(%d): %s\n", rank, err.msg);
  CHECK_EQ_INT(rc, 0);
  if (rc != 0) exit(1);
  return ans;
}

/* The fit of lr with method m. */
static const la_law_fit *fit_of(const la_analysis *a, double lr, int m) {
  for (size_t i = 0; i < a->n_fits; i++)
    if (a->fits[i].lr == lr && a->fits[i].method == m) return &a->fits[i];
  return NULL;
}

/* The rule named name of an answer. */
static const la_answer_rule *rule(const la_answer *ans, const char *name) {
  for (size_t i = 0; i < ans->n_rules; i++)
    if (strcmp(ans->rules[i].name, name) == 0) return &ans->rules[i];
  fprintf(stderr, "no rule %s\n", name);
  exit(1);
}

/* A law alpha* = 2 r with 5 seeds: the free fit's p interval excludes 0.5,
 * so an untested rank gets the free fit, not sqrt(r). */
static void test_free_law(void) {
  plist l = {0};
  la_rng rng;
  la_fit_opts o = opts(400);
  la_rng_init(&rng, 11, 0);
  for (int r = 1; r <= 64; r *= 2)
    add_rank(&l, 1e-3, r, 2.0 * r, 1.0, 0.002, &rng);
  la_analysis *a = analyse(&l, &o);
  const la_law_fit *F = fit_of(a, 1e-3, 0);
  CHECK(F->p_lo > 0.5); /* the premise: the data rule sqrt(r) out */
  CHECK_CLOSE(F->p, 1.0, 0.1);
  la_answer ans = get(a, &l, &o, 256, NAN);
  CHECK_STR(la_answer_source_name(ans.source), "law_free");
  CHECK_CLOSE(ans.alpha, F->c * pow(256, F->p), 1e-12);
  CHECK_CLOSE(ans.alpha, 512, 0.15); /* the truth, 2 x 256 */
  CHECK(ans.alpha_lo < ans.alpha && ans.alpha < ans.alpha_hi);
  CHECK_EQ_INT(ans.extrapolated, 1);
  CHECK_HAS(ans.why, "excludes 0.5");
  CHECK_HAS(ans.why, "extrapolated");
  CHECK(isnan(ans.loss));
  CHECK_EQ_INT(ans.ref_rank, 64);
  CHECK_HAS(ans.text, "rank 256: α ≈ ");
  CHECK_HAS(ans.text, "(law c·r^");
  la_analysis_free(a);
  free(l.p);
}

/* A law alpha* = 8 sqrt(r): the sqrt(r) law, its interval exactly
 * [c_lo, c_hi] sqrt(r); a rank between tested ones is not extrapolated. */
static void test_sqrt_law(void) {
  plist l = {0};
  la_rng rng;
  la_fit_opts o = opts(400);
  la_rng_init(&rng, 12, 0);
  for (int r = 1; r <= 64; r *= 2)
    add_rank(&l, 1e-3, r, 8.0 * sqrt(r), 1.0, 0.002, &rng);
  la_analysis *a = analyse(&l, &o);
  const la_law_fit *F = fit_of(a, 1e-3, 0), *S = fit_of(a, 1e-3, 1);
  CHECK(F->p_lo <= 0.5 && 0.5 <= F->p_hi); /* the premise */
  la_answer ans = get(a, &l, &o, 256, NAN);
  CHECK_STR(la_answer_source_name(ans.source), "law_sqrt");
  CHECK_CLOSE(ans.alpha, S->c * 16, 1e-12);
  CHECK_CLOSE(ans.alpha_lo, S->c_lo * 16, 1e-12);
  CHECK_CLOSE(ans.alpha_hi, S->c_hi * 16, 1e-12);
  CHECK_HAS(ans.why, "holds 0.5");
  CHECK_EQ_INT(ans.extrapolated, 1);
  ans = get(a, &l, &o, 12, NAN);
  CHECK_EQ_INT(ans.extrapolated, 0);
  CHECK_EQ_INT(ans.ref_rank, 16); /* log 16/12 < log 12/8 */
  la_analysis_free(a);
  free(l.p);
}

/* Three lrs: 3e-4 follows sqrt(r) exactly (the best R^2) at loss 0.018,
 * 3e-3 scatters alpha* a factor 4 either way (a poor R^2) at loss 1e-4.
 * The answer takes 3e-3 at tested and untested ranks. */
static void test_best_loss_lr(void) {
  plist l = {0};
  la_rng rng;
  la_fit_opts o = opts(200);
  la_rng_init(&rng, 13, 0);
  for (int r = 1, i = 0; r <= 64; r *= 2, i++) {
    add_rank(&l, 3e-4, r, 8 * sqrt(r), 0.018, 0.001, &rng);
    add_rank(&l, 1e-3, r, 4 * sqrt(r) * (i % 2 ? 1.5 : 1), 0.005, 0.001, &rng);
    add_rank(&l, 3e-3, r, 2 * sqrt(r) * (i % 2 ? 4 : 0.25), 1e-4, 0.001, &rng);
  }
  la_analysis *a = analyse(&l, &o);
  const la_law_fit *good = fit_of(a, 3e-4, 1), *bad = fit_of(a, 3e-3, 1);
  CHECK(good->r2 > bad->r2 && !good->poor); /* the premise */
  fprintf(stderr, "  R2 of sqrt(r): lr 3e-4 %.3f, lr 3e-3 %.3f\n", good->r2,
          bad->r2);
  la_answer ans = get(a, &l, &o, 16, NAN);
  CHECK_CLOSE(ans.lr, 3e-3, 1e-15);
  CHECK_STR(la_answer_source_name(ans.source), "measured");
  CHECK_CLOSE(ans.alpha, 2 * 4 * 0.25, 0.5); /* rank 16 is i = 4: 2 */
  CHECK_CLOSE(ans.loss, 1e-4, 0.01);
  CHECK_HAS(ans.why, "the lr with the lowest loss there, of 3");
  ans = get(a, &l, &o, 128, NAN);
  CHECK_CLOSE(ans.lr, 3e-3, 1e-15);
  CHECK_HAS(ans.why, "the lr with the lowest loss at rank 64, the nearest");
  /* an lr asked for is kept, even a worse one */
  ans = get(a, &l, &o, 16, 3e-4);
  CHECK_CLOSE(ans.lr, 3e-4, 1e-15);
  CHECK_HAS(ans.why, "the lr asked for");
  ans = get(a, &l, &o, 16, 3.00001e-4); /* within 1e-5: that lr */
  CHECK_CLOSE(ans.lr, 3e-4, 1e-15);
  /* an lr not in the sweep says so and lists the sweep's */
  la_answer bad_ans;
  la_err err = {{0}};
  int rc = la_answer_get(a, l.p, l.n, &o, 16, 2e-3, &bad_ans, &err);
  CHECK_EQ_INT(rc, LA_EINVAL);
  CHECK_HAS(err.msg, "lr 0.002 is not in the sweep: its lrs are 0.0003, "
                     "0.001, 0.003");
  la_analysis_free(a);
  free(l.p);
}

/* Rank 8's alpha* is 400 where the law says about 11: its answer is the
 * measured 400, and the why names the law's value. */
static void test_measured_beats_law(void) {
  plist l = {0};
  la_rng rng;
  la_fit_opts o = opts(200);
  la_rng_init(&rng, 14, 0);
  for (int r = 1; r <= 64; r *= 2)
    add_rank(&l, 1e-3, r, r == 8 ? 400 : 4 * sqrt(r), 1.0, 0.001, &rng);
  for (int e = -2; e <= 12; e++) /* rank 128: flat in alpha, noise only */
    for (int s = 0; s < 5; s++)
      add(&l, 128, 1e-3, ldexp(1.0, e), s, 1 + 0.01 * la_rng_normal(&rng));
  la_analysis *a = analyse(&l, &o);
  la_answer flat = get(a, &l, &o, 128, NAN);
  CHECK_STR(la_answer_source_name(flat.source), "measured");
  CHECK_EQ_INT(flat.ill_determined, 1);
  CHECK_HAS(flat.why, "nearly flat in alpha");
  CHECK_HAS(flat.text, "ill-determined); ");
  la_answer ans = get(a, &l, &o, 8, NAN);
  CHECK_STR(la_answer_source_name(ans.source), "measured");
  CHECK_CLOSE(ans.alpha, 400, 0.2);
  CHECK(ans.alpha_lo <= ans.alpha && ans.alpha <= ans.alpha_hi);
  CHECK_HAS(ans.why, "law would say");
  la_answer *all = NULL;
  size_t n = 0;
  la_err err = {{0}};
  CHECK_EQ_INT(la_answer_tested(a, l.p, l.n, &o, &all, &n, &err), 0);
  CHECK_EQ_INT(n, 8);
  for (size_t i = 0; i < n; i++) {
    CHECK_EQ_INT(all[i].rank, 1 << i);
    CHECK_STR(la_answer_source_name(all[i].source), "measured");
  }
  CHECK_CLOSE(all[3].alpha, ans.alpha, 1e-12);
  free(all);
  la_analysis_free(a);
  free(l.p);
}

/* The rules' loss at tested ranks by hand (loss 1 + 0.1 (log2 alpha -
 * log2 alpha*)^2, alpha* = 16, peft scaling):
 *   rank 8: alpha=r 8 -> 1.1 (10%); alpha=2r 16 -> 1.0 (0%); rslora16
 *     16 sqrt 8 = 2^5.5, halfway from 32 (1.1) to 64 (1.4): 1.25 (25%);
 *   rank 4: alpha=r 4 diverged (+Inf); alpha=2r 8 -> 10%; rslora16 32 ->
 *     10%;
 *   rank 2 on 2^3 .. 2^7: alpha=r 2 and alpha=2r 4 outside the grid;
 *     rslora16 16 sqrt 2 = 2^4.5, halfway from 16 (1.0) to 32 (1.1): 5%. */
static void test_rules_tested(void) {
  plist l = {0};
  la_fit_opts o = opts(0);
  add_exact(&l, 1e-3, 8, 4, 0, 7);
  add_exact(&l, 1e-3, 4, 4, 0, 7);
  l.p[16 + 2 * 2].loss = INFINITY; /* rank 4, alpha 4, seed 0 diverged */
  CHECK_EQ_INT(l.p[16 + 2 * 2].rank, 4);
  CHECK_CLOSE(l.p[16 + 2 * 2].alpha, 4, 0);
  add_exact(&l, 1e-3, 2, 4, 3, 7);
  la_analysis *a = analyse(&l, &o);
  la_answer r8 = get(a, &l, &o, 8, NAN), r4 = get(a, &l, &o, 4, NAN),
            r2 = get(a, &l, &o, 2, NAN);
  CHECK_CLOSE(rule(&r8, "alpha=r")->loss_pct, 10, 1e-9);
  CHECK_CLOSE(rule(&r8, "alpha=2r")->loss_pct, 0, 1e-9);
  CHECK_CLOSE(rule(&r8, "rslora16")->loss_pct, 25, 1e-9);
  CHECK_CLOSE(rule(&r8, "rslora16")->alpha, 16 * sqrt(8), 1e-12);
  CHECK(rule(&r4, "alpha=r")->loss_pct == INFINITY);
  CHECK_STR(rule(&r4, "alpha=r")->note, "its runs diverged");
  CHECK_CLOSE(rule(&r4, "alpha=2r")->loss_pct, 10, 1e-9);
  CHECK_CLOSE(rule(&r4, "rslora16")->loss_pct, 10, 1e-9);
  CHECK(isnan(rule(&r2, "alpha=r")->loss_pct));
  CHECK_STR(rule(&r2, "alpha=2r")->note, "its alpha is outside the grid");
  CHECK_CLOSE(rule(&r2, "rslora16")->loss_pct, 5, 1e-9);
  CHECK(rule(&r8, "alpha=r")->note == NULL);
  CHECK_CLOSE(r4.alpha, 16, 1e-9);
  CHECK_CLOSE(r4.loss, 1.0, 1e-12);
  /* No bootstrap: the interval is the flat set's, the loss within 1% of
   * the best: 10% up one octave either side, so 1/10 of an octave each way
   * (16 x 2^-0.1 = 14.9, 16 x 2^0.1 = 17.1). */
  CHECK_CLOSE(r4.alpha_lo, 16 * pow(2, -0.1), 1e-9);
  CHECK_CLOSE(r4.alpha_hi, 16 * pow(2, 0.1), 1e-9);
  CHECK_STR(r4.text, "rank 4: α ≈ 16 [14.9, 17.1] at lr 0.001 (measured); α = "
                     "r diverges, α = 2r would lose ~10%, rsLoRA α = 16 ~10%");
  CHECK_STR(r2.text, "rank 2: α ≈ 16 [14.9, 17.1] at lr 0.001 (measured); "
                     "rsLoRA α = 16 would lose ~5.0%");
  la_analysis_free(a);
  free(l.p);
}

/* The rules' loss at an untested rank by hand. Ranks 4 (alpha* 16) and 16
 * (alpha* 32), no bootstrap: the sqrt(r) law (no p interval) has c = 8, so
 * rank 32 gets alpha = 8 sqrt 32 = 2^5.5. Rank 16's curve, shifted so that
 * its best grid alpha 32 lands there, is read at alpha_rule x 32 / 2^5.5:
 *   alpha=r 32 -> 2^4.5, halfway from 16 (1.1) to 32 (1.0): 5%;
 *   alpha=2r 64 -> 2^5.5, halfway from 32 (1.0) to 64 (1.1): 5%;
 *   rslora16 16 sqrt 32 = 2^6.5 -> 2^6 = 64: 1.1, 10%. */
static void test_rules_untested(void) {
  plist l = {0};
  la_fit_opts o = opts(0);
  add_exact(&l, 1e-3, 4, 4, 0, 7);
  add_exact(&l, 1e-3, 16, 5, 0, 7);
  la_analysis *a = analyse(&l, &o);
  la_answer ans = get(a, &l, &o, 32, NAN);
  CHECK_STR(la_answer_source_name(ans.source), "law_sqrt");
  CHECK_HAS(ans.why, "the free fit needs 3");
  CHECK_CLOSE(ans.alpha, 8 * sqrt(32), 1e-9);
  CHECK(isnan(ans.alpha_lo) && isnan(ans.alpha_hi));
  CHECK_EQ_INT(ans.ref_rank, 16);
  CHECK_CLOSE(rule(&ans, "alpha=r")->loss_pct, 5, 1e-6);
  CHECK_CLOSE(rule(&ans, "alpha=2r")->loss_pct, 5, 1e-6);
  CHECK_CLOSE(rule(&ans, "rslora16")->loss_pct, 10, 1e-6);
  CHECK_STR(ans.text, "rank 32: α ≈ 45.3 at lr 0.001 (√r law, extrapolated); "
                      "α = r would lose ~5.0%, α = 2r ~5.0%, rsLoRA α = 16 "
                      "~10%");
  /* rank 1024: alpha=r's 1024 lands at 1024 x 32 / 256 = 128, the grid's
   * last point (1 + 0.1 x 4 = 1.4); alpha=2r's beyond it. */
  ans = get(a, &l, &o, 1024, NAN);
  CHECK_CLOSE(rule(&ans, "alpha=r")->loss_pct, 40, 1e-6);
  CHECK(isnan(rule(&ans, "alpha=2r")->loss_pct));
  CHECK_HAS(rule(&ans, "alpha=2r")->note, "outside the reference rank's grid");
  la_analysis_free(a);
  free(l.p);
}

/* No law: both ranks' alpha* at the grid's edge. A tested rank still has
 * its measured answer; an untested one is LA_ENOTFOUND; rank 0 LA_EINVAL. */
static void test_no_law(void) {
  plist l = {0};
  la_fit_opts o = opts(0);
  la_answer ans;
  la_err err = {{0}};
  add_exact(&l, 1e-3, 2, 9, 0, 7);
  add_exact(&l, 1e-3, 4, 9, 0, 7);
  la_analysis *a = analyse(&l, &o);
  ans = get(a, &l, &o, 4, NAN);
  CHECK_EQ_INT(ans.at_edge, 1);
  CHECK_HAS(ans.why, "grid's edge");
  CHECK_HAS(ans.text, "(measured, at the grid's edge)");
  CHECK_EQ_INT(la_answer_get(a, l.p, l.n, &o, 8, NAN, &ans, &err),
               LA_ENOTFOUND);
  CHECK_HAS(err.msg, "no law");
  CHECK_EQ_INT(la_answer_get(a, l.p, l.n, &o, 0, NAN, &ans, &err), LA_EINVAL);
  la_analysis_free(a);
  free(l.p);
}

/* One usable rank (4; rank 2's alpha* is at the grid's edge): the sqrt(r)
 * law needs 2, so it is insufficient and an untested rank has no answer,
 * saying why; the tested ranks keep their measured answers. */
static void test_one_usable_rank(void) {
  plist l = {0};
  la_fit_opts o = opts(0);
  la_answer ans;
  la_err err = {{0}};
  add_exact(&l, 1e-3, 4, 4, 0, 7);
  add_exact(&l, 1e-3, 2, 9, 0, 7);
  la_analysis *a = analyse(&l, &o);
  CHECK_EQ_INT(a->fits[1].n_used, 1);
  CHECK(a->fits[1].insufficient && isnan(a->fits[1].c));
  CHECK_EQ_INT(la_answer_get(a, l.p, l.n, &o, 8, NAN, &ans, &err),
               LA_ENOTFOUND);
  CHECK_HAS(err.msg, "no law at any lr for untested rank 8");
  CHECK_EQ_INT(la_answer_get(a, l.p, l.n, &o, 8, 1e-3, &ans, &err),
               LA_ENOTFOUND);
  CHECK_HAS(err.msg, "no law at lr 0.001 for untested rank 8");
  CHECK_HAS(err.msg, "and 1 is");
  ans = get(a, &l, &o, 4, NAN);
  CHECK_STR(la_answer_source_name(ans.source), "measured");
  CHECK(ans.why[0] != 0 && strstr(ans.why, "law would say") == NULL);
  la_analysis_free(a);
  free(l.p);
}

int main(void) {
  test_free_law();
  test_sqrt_law();
  test_best_loss_lr();
  test_measured_beats_law();
  test_rules_tested();
  test_rules_untested();
  test_no_law();
  test_one_usable_rank();
  return check_summary();
}
