/*
 * test_surface.c: the law across lr and budget (daemon/analysis/surface.c,
 * docs/analysis.md "The law across lr and budget") on simulated sweeps with
 * a known law surface: at every checkpoint the loss is
 *
 *   L(alpha; r, lr, steps) = 1 + 0.05 (ln alpha - ln alpha*)^2,
 *   alpha* = c(lr, steps) r^p(lr, steps),  c = K (lr steps)^q (q = -1),
 *
 * times (1 + sigma N(0, 1)) per seed. Checked: p, c and the sqrt(r)
 * coefficient of every cell against the truth, exactly without noise and
 * within their intervals with it; q (the exponent of c_sqrt in lr steps)
 * and the trend of p; the verdict's words where p is above, below and at
 * 0.5, changing with the budget at one lr; one lr; one checkpoint; a single
 * lr steps; too few ranks; all-flat loss; no bootstrap; the same result in
 * whatever order the checkpoints are added; bad arguments; and how often
 * q's interval holds the truth over repeated sweeps.
 */
#include "analysis/surface.h"
#include "check.h"
#include "loralpha/rng.h"

#include <stdlib.h>
#include <string.h>

#define N_STEP 3
static const int k_steps[N_STEP] = {250, 500, 1000};
static const double k_lrs[3] = {1e-4, 3e-4, 1e-3};

/* The truth of one cell: p and the free law's c. */
typedef struct truth {
  double p, c;
} truth;

/* The truth at (lr index l, step index k). */
typedef truth (*law_fn)(int l, int k);

/* A sweep to simulate: its lrs, steps, ranks, seeds and noise. */
typedef struct sim {
  int n_lr, n_step, n_rank;
  const double *lrs;
  const int *steps;
  const int *ranks;
  int seeds, n_boot;
  double sigma, curvature; /* curvature 0: flat in alpha */
  law_fn law;
} sim;

static const int k_ranks[7] = {1, 2, 4, 8, 16, 32, 64};

/* Does text contain part? Prints both when not. */
static int has(const char *text, const char *part) {
  if (strstr(text, part) != NULL) return 1;
  fprintf(stderr, "\"%s\"\n  does not contain \"%s\"\n", text, part);
  return 0;
}

/* c = 2 / (lr steps): q = -1. */
static double c_of(double lr, int step) {
  return 2.0 / (lr * step);
}

/* p = 0.5 everywhere: the sqrt(r) law, c ~ 1 / (lr steps). */
static truth law_sqrt(int l, int k) {
  return (truth){0.5, c_of(k_lrs[l], k_steps[k])};
}

/* The study's shape: p = 1 at lr 1e-4, 0.5 at 3e-4 (but 1 at 1000 steps),
 * 0.2 at 1e-3. */
static truth law_study(int l, int k) {
  double p = l == 0 ? 1.0 : l == 2 ? 0.2 : k == 2 ? 1.0 : 0.5;
  return (truth){p, c_of(k_lrs[l], k_steps[k])};
}

/* The points of checkpoint k of sim m (alpha = 2^-2 .. 2^14). */
static la_fit_point *points(const sim *m, int k, la_rng *rng, size_t *n) {
  size_t cap = (size_t)m->n_lr * (size_t)m->n_rank * 17 * (size_t)m->seeds;
  la_fit_point *p = malloc(cap * sizeof *p);
  if (p == NULL) abort();
  *n = 0;
  for (int l = 0; l < m->n_lr; l++) {
    truth t = m->law(l, k);
    for (int r = 0; r < m->n_rank; r++) {
      double star = t.c * pow(m->ranks[r], t.p);
      for (int e = -2; e <= 14; e++) {
        double d = e * log(2.0) - log(star);
        double L = 1 + m->curvature * d * d;
        for (int s = 0; s < m->seeds; s++)
          p[(*n)++] = (la_fit_point){
              .rank = m->ranks[r],
              .lr = m->lrs[l],
              .alpha = ldexp(1.0, e),
              .seed_index = s,
              .loss =
                  L * (1 + (m->sigma > 0 ? m->sigma * la_rng_normal(rng) : 0))};
      }
    }
  }
  return p;
}

/* Analyses checkpoint k of m (its noise from stream k + 1 of seed) and adds
 * it to s. */
static void add_checkpoint(la_surface *s, const sim *m, int k, uint64_t seed) {
  size_t n;
  la_rng rng;
  la_rng_init(&rng, seed, (uint64_t)k + 1);
  la_fit_point *p = points(m, k, &rng, &n);
  la_analysis *a = NULL;
  la_fit_opts o;
  la_err err = {{0}};
  la_fit_opts_default(&o);
  o.n_boot = m->n_boot, o.seed = 7 ^ ((uint64_t)m->steps[k] << 32);
  int rc = la_fit_analyze(p, n, &o, NULL, 0, &a, &err);
  if (rc != 0) fprintf(stderr, "la_fit_analyze: %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  if (a == NULL) exit(1);
  CHECK_EQ_INT(la_surface_add(s, m->steps[k], (k + 1.0) / m->n_step, a), 0);
  la_analysis_free(a);
  free(p);
}

/* The computed surface of m, checkpoints added in order (or reversed). */
static la_surface *surface(const sim *m, int reversed, uint64_t seed) {
  la_surface *s = NULL;
  CHECK_EQ_INT(la_surface_new((size_t)m->n_boot, 0.95, &s), 0);
  if (s == NULL) exit(1);
  for (int i = 0; i < m->n_step; i++)
    add_checkpoint(s, m, reversed ? m->n_step - 1 - i : i, seed);
  CHECK_EQ_INT(la_surface_compute(s), 0);
  return s;
}

/* The cell of (lr, step), which must exist. */
static const la_surface_cell *cell(const la_surface *s, double lr, int step) {
  for (size_t i = 0; i < s->n_cells; i++)
    if (s->cells[i].lr == lr && s->cells[i].step == step) return &s->cells[i];
  fprintf(stderr, "no cell (lr %g, step %d)\n", lr, step);
  exit(1);
}

static sim base_sim(law_fn law, double sigma, int seeds, int n_boot) {
  return (sim){.n_lr = 3,
               .n_step = N_STEP,
               .n_rank = 7,
               .lrs = k_lrs,
               .steps = k_steps,
               .ranks = k_ranks,
               .seeds = seeds,
               .n_boot = n_boot,
               .sigma = sigma,
               .curvature = 0.05,
               .law = law};
}

/* Without noise: every cell's p, c and c_sqrt exactly; q = -1 exactly; p
 * does not move; every cell sqrt-compatible; the cells by lr, then step. */
static void test_exact(void) {
  sim m = base_sim(law_sqrt, 0, 2, 50);
  la_surface *s = surface(&m, 0, 1);
  CHECK_EQ_INT(s->n_cells, 9);
  for (int l = 0; l < 3; l++)
    for (int k = 0; k < N_STEP; k++) {
      const la_surface_cell *c = &s->cells[3 * l + k];
      CHECK_CLOSE(c->lr, k_lrs[l], 0);
      CHECK_EQ_INT(c->step, k_steps[k]);
      CHECK_CLOSE(c->lr_steps, k_lrs[l] * k_steps[k], 1e-15);
      CHECK_CLOSE(c->p, 0.5, 1e-9);
      CHECK_CLOSE(c->c, c_of(k_lrs[l], k_steps[k]), 1e-9);
      CHECK_CLOSE(c->c_sqrt, c_of(k_lrs[l], k_steps[k]), 1e-9);
      CHECK_EQ_INT(c->n_used, 7);
      CHECK_EQ_INT(c->insufficient, 0);
      CHECK_EQ_INT(c->sqrt_compatible, 1);
    }
  CHECK_CLOSE(s->c_trend.slope, -1, 1e-9);
  CHECK_CLOSE(s->c_trend.intercept, log10(2.0), 1e-9);
  CHECK_CLOSE(s->c_trend.lo, -1, 1e-9);
  CHECK_CLOSE(s->c_trend.hi, -1, 1e-9);
  CHECK_EQ_INT(s->c_trend.n_cells, 9);
  CHECK_EQ_INT(s->c_trend.n_budgets, 9);
  CHECK_EQ_INT(s->c_trend.insufficient, 0);
  CHECK_CLOSE(s->p_trend.slope, 0, 1e-9);
  CHECK_EQ_INT(s->n_compatible, 9);
  CHECK_EQ_INT(s->n_decided, 9);
  CHECK(has(s->verdict, "√r law (p = 0.5) compatible in 9 of 9 cells: at lr "
                        "0.0001: √r holds at every budget (250–1000 steps); "
                        "at lr 0.0003: √r holds at every budget (250–1000 "
                        "steps); at lr 0.001: √r holds at every budget "
                        "(250–1000 steps); c_sqrt ∝ (lr·steps)^-1.00 [-1.00, "
                        "-1.00] across 9 cells: c_sqrt·lr·steps is roughly "
                        "constant"));
  la_surface_free(s);
}

/* With noise (1%, 3 seeds): c_sqrt near the truth, q within its interval
 * of -1 and p's trend of 0; the verdict's count is the cells'. */
static void test_noisy_sqrt(void) {
  sim m = base_sim(law_sqrt, 0.01, 3, 400);
  la_surface *s = surface(&m, 0, 2);
  char count[64];
  int n = 0;
  for (size_t i = 0; i < s->n_cells; i++) {
    const la_surface_cell *c = &s->cells[i];
    CHECK_CLOSE(c->c_sqrt / c_of(c->lr, c->step), 1, 0.15);
    CHECK_EQ_INT(c->sqrt_compatible, c->p_lo <= 0.5 && 0.5 <= c->p_hi);
    n += c->sqrt_compatible == 1;
  }
  CHECK(n >= 7);
  CHECK_EQ_INT(s->n_compatible, n);
  snprintf(count, sizeof count, "compatible in %d of 9 cells: ", n);
  CHECK(has(s->verdict, count));
  CHECK(s->c_trend.lo <= -1 && -1 <= s->c_trend.hi);
  CHECK_CLOSE(s->c_trend.slope, -1, 0.1);
  CHECK(s->c_trend.hi - s->c_trend.lo < 0.3);
  CHECK(s->p_trend.lo <= 0 && 0 <= s->p_trend.hi);
  CHECK(has(s->c_trend.text, "c_sqrt·lr·steps is roughly constant"));
  la_surface_free(s);
}

/* The study's surface: p above 0.5 at lr 1e-4, at 0.5 at 3e-4 up to 500
 * steps and above it at 1000, below it at 1e-3; p and the free law's c
 * near the truth and (most) within their intervals; p falls with lr
 * steps. */
static void test_study_surface(void) {
  sim m = base_sim(law_study, 0.005, 3, 400);
  la_surface *s = surface(&m, 0, 3);
  int p_hold = 0, c_hold = 0;
  for (int l = 0; l < 3; l++)
    for (int k = 0; k < N_STEP; k++) {
      truth t = law_study(l, k);
      const la_surface_cell *c = cell(s, k_lrs[l], k_steps[k]);
      p_hold += c->p_lo <= t.p && t.p <= c->p_hi;
      c_hold += c->c_lo <= t.c && t.c <= c->c_hi;
      CHECK_CLOSE(c->p, t.p, 0.05);
      CHECK_CLOSE(c->c / t.c, 1, 0.1);
      CHECK_EQ_INT(c->sqrt_compatible, t.p == 0.5);
    }
  /* 95% intervals: most cells hold the truth (test_coverage counts) */
  CHECK(p_hold >= 7);
  CHECK(c_hold >= 7);
  CHECK_EQ_INT(s->n_compatible, 2);
  CHECK_EQ_INT(s->n_decided, 9);
  CHECK(s->p_trend.hi < 0);
  CHECK(has(s->verdict, "√r law (p = 0.5) compatible in 2 of 9 cells: "));
  CHECK(has(s->verdict, "at lr 0.0001: p above 0.5 at every budget "
                        "(250–1000 steps) (p "));
  CHECK(has(s->verdict, "at lr 0.0003: √r holds at 250 and 500 steps, p above "
                        "0.5 at 1000 steps (p "));
  CHECK(has(s->verdict, "at lr 0.001: p below 0.5 at every budget (250–1000 "
                        "steps) (p 0.1"));
  CHECK(has(s->verdict, "; c_sqrt ∝ (lr·steps)^"));
  printf("the study's surface: %s\n", s->verdict);
  la_surface_free(s);
}

/* One lr, one checkpoint: one cell, no trend. */
static void test_one_cell(void) {
  static const int one_step[1] = {1000};
  static const double one_lr[1] = {3e-4};
  sim m = base_sim(law_sqrt, 0.005, 3, 200);
  m.n_lr = 1, m.n_step = 1, m.lrs = one_lr, m.steps = one_step;
  m.law = law_sqrt; /* l = 0, k = 0: c = 2 / (1e-4 250); any c will do */
  la_surface *s = surface(&m, 0, 4);
  CHECK_EQ_INT(s->n_cells, 1);
  CHECK_EQ_INT(s->c_trend.insufficient, 1);
  CHECK(isnan(s->c_trend.slope));
  CHECK(has(s->c_trend.reason, "1 usable cell (with a sqrt(r) law); the trend "
                               "needs 3 (its parameters + 1)"));
  CHECK_EQ_INT(s->p_trend.insufficient, 1);
  CHECK(has(s->verdict, "√r law (p = 0.5) compatible in 1 of 1 cells: at lr "
                        "0.0003: √r holds at 1000 steps"));
  CHECK(strstr(s->verdict, "c_sqrt ∝") == NULL);
  la_surface_free(s);
}

/* One lr at three checkpoints: the trend is across budgets alone. */
static void test_one_lr(void) {
  static const double one_lr[1] = {1e-4};
  sim m = base_sim(law_sqrt, 0.005, 3, 200);
  m.n_lr = 1, m.lrs = one_lr;
  la_surface *s = surface(&m, 0, 5);
  CHECK_EQ_INT(s->n_cells, 3);
  CHECK_EQ_INT(s->c_trend.insufficient, 0);
  CHECK_EQ_INT(s->c_trend.n_budgets, 3);
  CHECK(s->c_trend.lo <= -1 && -1 <= s->c_trend.hi);
  CHECK(has(s->verdict, "at lr 0.0001: √r holds at every budget (250–1000 "
                        "steps); c_sqrt ∝ (lr·steps)^-"));
  la_surface_free(s);
}

/* Three cells with the same lr steps (4e-4 x 250, 2e-4 x 500, 1e-4 x
 * 1000): no trend. */
static void test_one_budget(void) {
  static const double lrs[3] = {4e-4, 2e-4, 1e-4};
  la_surface *s = NULL;
  CHECK_EQ_INT(la_surface_new(100, 0.95, &s), 0);
  for (int k = 0; k < N_STEP; k++) {
    sim m = base_sim(law_sqrt, 0.005, 3, 100);
    m.n_lr = 1, m.lrs = &lrs[k];
    add_checkpoint(s, &m, k, 6);
  }
  CHECK_EQ_INT(la_surface_compute(s), 0);
  CHECK_EQ_INT(s->n_cells, 3);
  CHECK_EQ_INT(s->c_trend.insufficient, 1);
  CHECK_EQ_INT(s->c_trend.n_budgets, 1);
  CHECK(
      has(s->c_trend.reason, "every usable cell has the same lr·steps (0.1)"));
  CHECK(has(s->verdict, "at lr 0.0001: √r holds at 1000 steps; at lr 0.0002: "
                        "√r holds at 500 steps; at lr 0.0004"));
  CHECK(strstr(s->verdict, "c_sqrt ∝") == NULL);
  la_surface_free(s);
}

/* Two ranks only: the free fit is insufficient everywhere (p unknown),
 * the sqrt(r) law is not, so q is still fitted. */
static void test_too_few_ranks(void) {
  static const int two_ranks[2] = {4, 16};
  sim m = base_sim(law_sqrt, 0.005, 3, 200);
  m.n_rank = 2, m.ranks = two_ranks;
  la_surface *s = surface(&m, 0, 7);
  for (size_t i = 0; i < s->n_cells; i++) {
    CHECK_EQ_INT(s->cells[i].insufficient, 1);
    CHECK_EQ_INT(s->cells[i].sqrt_insufficient, 0);
    CHECK_EQ_INT(s->cells[i].sqrt_compatible, -1);
    CHECK(isnan(s->cells[i].p));
    CHECK(has(s->cells[i].reason, "2 usable ranks"));
  }
  CHECK_EQ_INT(s->n_decided, 0);
  CHECK_EQ_INT(s->c_trend.insufficient, 0);
  CHECK(s->c_trend.lo <= -1 && -1 <= s->c_trend.hi);
  CHECK_EQ_INT(s->p_trend.insufficient, 1);
  CHECK(has(s->p_trend.reason, "0 usable cells (with a free law)"));
  CHECK(has(s->verdict, "√r law (p = 0.5): no cell has an interval for p: at "
                        "lr 0.0001: too few usable ranks at every budget "
                        "(250–1000 steps); at lr 0.0003"));
  la_surface_free(s);
}

/* The loss flat in alpha everywhere: every rank flat and ill-determined,
 * no law in any cell, no trend. */
static void test_all_flat(void) {
  sim m = base_sim(law_sqrt, 0.001, 3, 100);
  m.curvature = 0;
  la_surface *s = surface(&m, 0, 8);
  CHECK_EQ_INT(s->n_cells, 9);
  for (size_t i = 0; i < s->n_cells; i++) {
    CHECK_EQ_INT(s->cells[i].n_used, 0);
    CHECK_EQ_INT(s->cells[i].insufficient, 1);
    CHECK_EQ_INT(s->cells[i].sqrt_insufficient, 1);
    CHECK(isnan(s->cells[i].c_sqrt));
  }
  CHECK_EQ_INT(s->c_trend.insufficient, 1);
  CHECK(has(s->c_trend.reason, "0 usable cells"));
  CHECK(has(s->verdict, "no (lr, budget) cell has enough usable ranks for a "
                        "law"));
  la_surface_free(s);
}

/* No bootstrap: p without an interval, no trend interval. */
static void test_no_bootstrap(void) {
  sim m = base_sim(law_sqrt, 0.005, 3, 0);
  la_surface *s = surface(&m, 0, 9);
  CHECK_EQ_INT(s->n_decided, 0);
  CHECK_EQ_INT(s->cells[0].sqrt_compatible, -1);
  CHECK(isnan(s->c_trend.lo) && isnan(s->c_trend.hi));
  CHECK_CLOSE(s->c_trend.slope, -1, 0.1);
  CHECK(has(s->c_trend.text, "(no interval) across 9 cells"));
  CHECK(has(s->verdict, "no cell has an interval for p: at lr 0.0001: p "
                        "without an interval at every budget (250–1000 "
                        "steps) (p 0."));
  la_surface_free(s);
}

/* The checkpoints added in reverse give the same cells and verdict. */
static void test_order(void) {
  sim m = base_sim(law_study, 0.005, 3, 200);
  la_surface *a = surface(&m, 0, 10), *b = surface(&m, 1, 10);
  CHECK_EQ_INT(a->n_cells, b->n_cells);
  for (size_t i = 0; i < a->n_cells && i < b->n_cells; i++) {
    const la_surface_cell *x = &a->cells[i], *y = cell(b, x->lr, x->step);
    CHECK(memcmp(&x->p, &y->p, sizeof x->p) == 0);
    CHECK(memcmp(&x->c_sqrt_hi, &y->c_sqrt_hi, sizeof x->c_sqrt_hi) == 0);
  }
  CHECK(strcmp(a->verdict, b->verdict) == 0);
  CHECK(memcmp(&a->c_trend.lo, &b->c_trend.lo, sizeof a->c_trend.lo) == 0);
  la_surface_free(a);
  la_surface_free(b);
}

/* Bad arguments are refused. */
static void test_bad_args(void) {
  la_surface *s = NULL;
  la_analysis a = {0};
  CHECK_EQ_INT(la_surface_new(10, 1.5, &s), LA_EINVAL);
  CHECK(s == NULL);
  CHECK_EQ_INT(la_surface_new(10, 0.95, NULL), LA_EINVAL);
  CHECK_EQ_INT(la_surface_new(10, 0.95, &s), 0);
  CHECK_EQ_INT(la_surface_add(s, 0, 1, &a), LA_EINVAL);
  CHECK_EQ_INT(la_surface_add(s, 100, 1, NULL), LA_EINVAL);
  CHECK_EQ_INT(la_surface_add(NULL, 100, 1, &a), LA_EINVAL);
  CHECK_EQ_INT(la_surface_compute(NULL), LA_EINVAL);
  CHECK_EQ_INT(la_surface_compute(s), 0);
  CHECK(has(s->verdict, "no (lr, budget) cell"));
  la_surface_free(s);
}

/* Over 40 noisy sweeps with p = 0.5 and q = -1: how often q's interval
 * holds -1, and each cell's p interval 0.5 and c_sqrt interval the true
 * c. */
static void test_coverage(void) {
  int hold = 0, runs = 40, p_hold = 0, c_hold = 0, cells = 0;
  for (int i = 0; i < runs; i++) {
    sim m = base_sim(law_sqrt, 0.01, 3, 200);
    la_surface *s = surface(&m, 0, 100 + (uint64_t)i);
    hold += s->c_trend.lo <= -1 && -1 <= s->c_trend.hi;
    for (size_t k = 0; k < s->n_cells; k++, cells++) {
      const la_surface_cell *c = &s->cells[k];
      double ct = c_of(c->lr, c->step);
      p_hold += c->sqrt_compatible == 1;
      c_hold += c->c_sqrt_lo <= ct && ct <= c->c_sqrt_hi;
    }
    la_surface_free(s);
  }
  printf("95%% intervals: q held -1 in %d of %d sweeps; p held 0.5 in %d "
         "and c_sqrt the true c in %d of %d cells\n",
         hold, runs, p_hold, c_hold, cells);
  CHECK(hold >= 34);
  CHECK(p_hold >= cells * 85 / 100);
  CHECK(c_hold >= cells * 85 / 100);
}

int main(void) {
  test_exact();
  test_noisy_sqrt();
  test_study_surface();
  test_one_cell();
  test_one_lr();
  test_one_budget();
  test_too_few_ranks();
  test_all_flat();
  test_no_bootstrap();
  test_order();
  test_bad_args();
  test_coverage();
  return check_summary();
}
