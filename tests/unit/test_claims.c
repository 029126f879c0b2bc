/*
 * test_claims.c: claims 1 and 2 (daemon/analysis/claims.c, docs/analysis.md
 * "The three claims") on simulated sweeps with known answers. The loss is
 *
 *   L(alpha, lr) = 1 + 0.05 (x - 6 ln 2)^2 + 0.01 (ln(lr/lr0) - ln 4)^2,
 *   x = ln(alpha lr / lr0),
 *
 * over alpha = 2^0 .. 2^8 and lr = lr0, 4 lr0, 16 lr0 (lr0 = 2^-10), three
 * seeds whose losses are L (1 - e, 1, 1 + e) (their mean is L). Every rank's
 * best lr is 4 lr0 with alpha* = 16. Claim 1: each run's LoRA sharpness is
 * rho_r (alpha / 16)^0.5 times its full one, times 1/1.1, 1 or 1.1 by seed
 * (the geometric mean is exact). Claim 2: from the base (alpha 1, lr0), the
 * drift ratio is d0 (1 + a D) on the alpha path and d0 (1 + b D) on the lr
 * path, D the noise-free loss change, times (1 - 0.05, 1, 1 + 0.05) by seed;
 * linear in D, so the comparison at the shared loss change is exact:
 * (1 + a Dc) / (1 + b Dc) with Dc the smaller path's largest change. The
 * tests check those numbers, intervals that hold them, the verdict texts,
 * the missing-data cases, no bootstrap, and that a rank's intervals do not
 * move when another rank is added.
 */
#include "analysis/claims.h"
#include "analysis/joint.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define LR0 0x1p-10
#define LN2 0.69314718055994530942

/* Checks that o[key] is a string containing needle, printing both. */
static void check_text(const json_t *o, const char *key, const char *needle) {
  const char *s = json_string_value(json_object_get(o, key));
  int ok = s != NULL && strstr(s, needle) != NULL;
  CHECK(ok);
  if (!ok)
    fprintf(stderr, "  %s = \"%s\" should contain \"%s\"\n", key,
            s ? s : "(null)", needle);
}

/* o[key] as a number (NaN when null or missing). */
static double num(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static double surface(double alpha, double lr) {
  double x = log(alpha * (lr / LR0)), q = log(lr / LR0) - log(4.0);
  return 1 + 0.05 * (x - 6 * LN2) * (x - 6 * LN2) + 0.01 * q * q;
}

/* The simulated sweep's knobs. */
typedef struct sim {
  int n_ranks;
  int ranks[4];
  double rho[4];   /* sharpness ratio at alpha* per rank */
  double a, b;     /* drift's slope in D on the alpha and the lr path */
  double ma, mb;   /* the mechanism ratio's */
  int n_lr;        /* lrs: lr0, 4 lr0, 16 lr0 (the first n_lr) */
  int sharpness;   /* 0: no estimates; 1: converged; 2: all unconverged */
  int drift, mech; /* 0: not recorded */
} sim;

typedef struct rlist {
  la_claim_run *r;
  size_t n;
} rlist;

static void add(rlist *l, la_claim_run r) {
  l->r = realloc(l->r, (l->n + 1) * sizeof *l->r);
  if (l->r == NULL) abort();
  l->r[l->n++] = r;
}

/* The runs of one rank (index i of s). */
static void add_rank(const sim *s, int i, rlist *l) {
  static const double eps[3] = {-0.002, 0, 0.002}, sh[3] = {1 / 1.1, 1, 1.1},
                      dn[3] = {-0.05, 0, 0.05};
  double L0 = surface(1, LR0);
  for (int j = 0; j < s->n_lr; j++)
    for (int e = 0; e <= 8; e++)
      for (int k = 0; k < 3; k++) {
        double lr = LR0 * (1 << (2 * j)), alpha = ldexp(1, e);
        double D = L0 - surface(alpha, lr), full = 10 + e;
        double ga = j == 0 ? s->a : s->b, gm = j == 0 ? s->ma : s->mb;
        la_claim_run r = {
            .rank = s->ranks[i],
            .lr = lr,
            .alpha = alpha,
            .seed_index = k,
            .loss = surface(alpha, lr) * (1 + eps[k]),
            .has_sharpness = s->sharpness > 0,
            .lora = s->sharpness == 1
                        ? full * s->rho[i] * sqrt(alpha / 16) * sh[k]
                        : NAN,
            .full = s->sharpness == 1 ? full : NAN,
            .lora_unconverged = s->sharpness == 2,
            .full_unconverged = 0,
            .drift_ratio = s->drift ? 0.2 * (1 + ga * D) * (1 + dn[k]) : NAN,
            .mech_ratio = s->mech ? 0.5 * (1 + gm * D) * (1 + dn[k]) : NAN};
        add(l, r);
      }
}

static la_analysis *analyse(const rlist *l) {
  la_fit_point *p = malloc(l->n * sizeof *p);
  la_analysis *a = NULL;
  la_fit_opts o;
  la_err err = {{0}};
  if (p == NULL) abort();
  for (size_t i = 0; i < l->n; i++)
    p[i] = (la_fit_point){l->r[i].rank, l->r[i].lr, l->r[i].alpha,
                          l->r[i].seed_index, l->r[i].loss};
  la_fit_opts_default(&o);
  o.n_boot = 100;
  CHECK_EQ_INT(la_fit_analyze(p, l->n, &o, NULL, 0, &a, &err), 0);
  free(p);
  if (a == NULL) exit(1);
  return a;
}

/* The claims of the runs in l with n_boot resamples. */
static json_t *claims(const rlist *l, int n_boot) {
  la_analysis *a = analyse(l);
  la_claims_opts o = {.n_boot = n_boot, .seed = 11, .level = 0.95};
  la_err err = {{0}};
  json_t *out = NULL;
  int rc = la_claims_compute(a, l->r, l->n, &o, &out, &err);
  if (rc) fprintf(stderr, "la_claims_compute: %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  la_analysis_free(a);
  if (out == NULL) exit(1);
  return out;
}

/* The first rank's object of claim key ("sharpness", "drift") in c. */
static json_t *rank0(const json_t *c, const char *key) {
  return json_array_get(json_object_get(json_object_get(c, key), "ranks"), 0);
}

static json_t *simulate(const sim *s, int n_boot) {
  rlist l = {0};
  for (int i = 0; i < s->n_ranks; i++)
    add_rank(s, i, &l);
  json_t *out = claims(&l, n_boot);
  free(l.r);
  return out;
}

/* The shared loss change Dc of the design and a path's ratio there. */
static double dc(void) {
  double L0 = surface(1, LR0);
  return fmin(L0 - surface(64, LR0), L0 - surface(1, 16 * LR0));
}

static const sim k_base = {
    3, {2, 8, 32}, {0.25, 0.5, 0.2}, 0, 2.0, 1.0, 1.0, 3, 1, 1, 1};

/* Claim 1 lower at every rank, claim 2's drift ratio lower on the alpha
 * path, the mechanism ratio alike. */
static void test_supported(void) {
  json_t *c = simulate(&k_base, 400);
  json_t *sh = json_object_get(c, "sharpness"),
         *dr = json_object_get(c, "drift");
  json_t *ranks = json_object_get(sh, "ranks");
  CHECK_EQ_INT(json_array_size(ranks), 3);
  for (int i = 0; i < 3; i++) {
    json_t *r = json_array_get(ranks, (size_t)i);
    CHECK_EQ_INT(json_integer_value(json_object_get(r, "rank")),
                 k_base.ranks[i]);
    CHECK_CLOSE(num(r, "lr"), 4 * LR0, 0);
    CHECK_CLOSE(num(r, "alpha_grid"), 16, 0);
    CHECK_CLOSE(num(r, "ratio"), k_base.rho[i], 1e-12);
    CHECK(num(r, "ratio_lo") < k_base.rho[i]);
    CHECK(num(r, "ratio_hi") > k_base.rho[i]);
    CHECK(num(r, "ratio_hi") < 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(r, "n")), 3);
    check_text(r, "side", "lower");
    CHECK(json_is_null(json_object_get(r, "missing")));
    /* along alpha: 9 points; at alpha 64 the ratio is twice alpha*'s */
    json_t *al = json_object_get(r, "along_alpha");
    CHECK_EQ_INT(json_array_size(al), 9);
    CHECK_CLOSE(num(json_array_get(al, 6), "alpha"), 64, 0);
    CHECK_CLOSE(num(json_array_get(al, 6), "ratio"), 2 * k_base.rho[i], 1e-12);
    CHECK_CLOSE(num(json_array_get(al, 6), "full"), 16, 1e-12);
  }
  double pooled = cbrt(0.25 * 0.5 * 0.2);
  CHECK_CLOSE(num(sh, "ratio"), pooled, 1e-12);
  CHECK(num(sh, "ratio_lo") < pooled && num(sh, "ratio_hi") > pooled);
  CHECK_EQ_INT(json_integer_value(json_object_get(sh, "n_lower")), 3);
  check_text(sh, "verdict", "supported");
  check_text(sh, "text", "at α*, LoRA's sharpness is 0.292× [");
  check_text(sh, "text", "lower at 3, higher at 0");
  check_text(sh, "text", "supports claim 1");
  /* claim 2: drift (1 + 0 Dc) / (1 + 2 Dc); mechanism ratio 1 */
  double D = dc(), want = 1 / (1 + 2 * D);
  json_t *r0 = json_array_get(json_object_get(dr, "ranks"), 0);
  json_t *d0 = json_object_get(r0, "drift_ratio");
  CHECK_CLOSE(num(r0, "lr"), LR0, 0);
  CHECK_CLOSE(num(r0, "alpha"), 1, 0);
  CHECK_CLOSE(num(d0, "loss_change"), D, 1e-12);
  CHECK_CLOSE(num(d0, "ratio"), want, 1e-9);
  CHECK_CLOSE(num(d0, "alpha_fold"), 1, 1e-9);
  CHECK_CLOSE(num(d0, "lr_fold"), 1 + 2 * D, 1e-9);
  CHECK(num(d0, "ratio_lo") < want && want < num(d0, "ratio_hi"));
  check_text(d0, "side", "less");
  json_t *pa = json_object_get(r0, "along_alpha");
  CHECK_EQ_INT(json_array_size(pa), 9);
  CHECK(json_is_true(json_object_get(json_array_get(pa, 6), "down")));
  CHECK(json_is_false(json_object_get(json_array_get(pa, 7), "down")));
  CHECK_EQ_INT(json_array_size(json_object_get(r0, "along_lr")), 3);
  json_t *m0 = json_object_get(r0, "mech_ratio");
  CHECK_CLOSE(num(m0, "ratio"), 1, 1e-9);
  CHECK(num(m0, "ratio_lo") < 1 && 1 < num(m0, "ratio_hi"));
  check_text(m0, "side", "same");
  check_text(dr, "verdict", "supported");
  CHECK_CLOSE(num(json_object_get(dr, "drift_ratio"), "ratio"), want, 1e-9);
  check_text(json_object_get(dr, "mech_ratio"), "verdict", "alike");
  check_text(dr, "text", "raising α gave 0.");
  check_text(dr, "text", "the drift ratio that raising lr gave");
  check_text(dr, "text", "less at 3, more at 0");
  check_text(dr, "text", "as claim 2 says; the mechanism ratio: 1× (alike)");
  check_text(json_object_get(c, "drift"), "verdict", "supported");
  CHECK(json_is_null(json_object_get(c, "law")));
  json_decref(c);
}

/* Sharper LoRA, more drift on the alpha path: both claims contradicted. */
static void test_contradicted(void) {
  sim s = k_base;
  s.rho[0] = s.rho[1] = s.rho[2] = 3, s.a = 4, s.b = 0;
  json_t *c = simulate(&s, 400);
  json_t *sh = json_object_get(c, "sharpness"),
         *dr = json_object_get(c, "drift");
  CHECK_CLOSE(num(sh, "ratio"), 3, 1e-12);
  check_text(sh, "verdict", "contradicted");
  check_text(sh, "text", "contradicts claim 1");
  check_text(sh, "text", "lower at 0, higher at 3");
  CHECK_CLOSE(num(json_object_get(dr, "drift_ratio"), "ratio"), 1 + 4 * dc(),
              1e-9);
  check_text(dr, "verdict", "contradicted");
  check_text(dr, "text", "against claim 2");
  json_decref(c);
}

/* No bootstrap: no intervals, verdicts from the point values. */
static void test_no_bootstrap(void) {
  json_t *c = simulate(&k_base, 0);
  json_t *sh = json_object_get(c, "sharpness");
  CHECK(json_is_null(json_object_get(sh, "ratio_lo")));
  check_text(sh, "verdict", "supported");
  check_text(sh, "text", "0.292× (no interval)");
  json_t *d = json_object_get(json_object_get(c, "drift"), "drift_ratio");
  CHECK(json_is_null(json_object_get(d, "ratio_hi")));
  check_text(d, "verdict", "supported");
  json_decref(c);
}

/* Sweeps without the data say what is missing. */
static void test_missing(void) {
  sim s = k_base;
  json_t *c;
  s.sharpness = 0;
  c = simulate(&s, 50);
  check_text(json_object_get(c, "sharpness"), "verdict", "missing");
  check_text(json_object_get(c, "sharpness"), "missing",
             "the sweep measured no sharpness");
  check_text(json_object_get(c, "sharpness"), "text",
             "claim 1 cannot be tested on this sweep");
  check_text(rank0(c, "sharpness"), "missing", "no sharpness estimate at α*");
  json_decref(c);

  s = k_base, s.sharpness = 2;
  c = simulate(&s, 50);
  check_text(json_object_get(c, "sharpness"), "missing", "no converged");
  check_text(rank0(c, "sharpness"), "missing",
             "3 LoRA and 0 full estimates of 3 runs left out");
  json_decref(c);

  s = k_base, s.n_lr = 1;
  c = simulate(&s, 50);
  check_text(json_object_get(c, "drift"), "verdict", "missing");
  check_text(json_object_get(c, "drift"), "missing", "one lr only");
  check_text(json_object_get(rank0(c, "drift"), "drift_ratio"), "missing",
             "α 1 was tested at one lr only");
  json_decref(c);

  /* no drift ratio (no known target): the verdict from the mechanism
   * ratio, whose alpha path costs less here */
  s = k_base, s.drift = 0, s.ma = 0, s.mb = 2;
  c = simulate(&s, 50);
  json_t *dr = json_object_get(c, "drift");
  check_text(json_object_get(dr, "drift_ratio"), "verdict", "missing");
  check_text(json_object_get(json_array_get(json_object_get(dr, "ranks"), 0),
                             "drift_ratio"),
             "missing", "no drift ratio recorded");
  check_text(dr, "verdict", "supported");
  check_text(dr, "text", "the mechanism ratio that raising lr gave");
  json_decref(c);

  s = k_base, s.drift = 0, s.mech = 0;
  c = simulate(&s, 50);
  check_text(json_object_get(c, "drift"), "verdict", "missing");
  check_text(json_object_get(c, "drift"), "text",
             "claim 2 cannot be tested on this sweep");
  json_decref(c);

  /* no runs at all, no analysis */
  la_claims_opts o = {.n_boot = 10, .seed = 1, .level = 0.95};
  la_err err = {{0}};
  CHECK_EQ_INT(la_claims_compute(NULL, NULL, 0, &o, &c, &err), 0);
  check_text(json_object_get(c, "sharpness"), "missing", "no α*");
  check_text(json_object_get(c, "drift"), "missing", "no finished runs");
  json_decref(c);
  o.level = 1;
  CHECK_EQ_INT(la_claims_compute(NULL, NULL, 0, &o, &c, &err), LA_EINVAL);
  CHECK(c == NULL);
}

/* Adding a rank moves no other rank's figures; the order of the runs does
 * not matter. */
static void test_identity(void) {
  sim one = k_base, two = k_base;
  one.n_ranks = 1;
  two.n_ranks = 2;
  rlist l = {0};
  add_rank(&two, 1, &l);
  add_rank(&two, 0, &l);
  for (size_t i = 0; i + 1 < l.n; i += 2) { /* reverse pairs */
    la_claim_run t = l.r[i];
    l.r[i] = l.r[i + 1], l.r[i + 1] = t;
  }
  json_t *a = simulate(&one, 200), *b = claims(&l, 200);
  json_t *ra = rank0(a, "sharpness"), *rb = rank0(b, "sharpness");
  CHECK_CLOSE(num(ra, "ratio_lo"), num(rb, "ratio_lo"), 0);
  CHECK_CLOSE(num(ra, "ratio_hi"), num(rb, "ratio_hi"), 0);
  json_t *da = json_object_get(rank0(a, "drift"), "drift_ratio"),
         *db = json_object_get(rank0(b, "drift"), "drift_ratio");
  CHECK_CLOSE(num(da, "ratio_lo"), num(db, "ratio_lo"), 0);
  CHECK_CLOSE(num(da, "ratio_hi"), num(db, "ratio_hi"), 0);
  json_decref(a), json_decref(b), free(l.r);
}

int main(void) {
  test_supported();
  test_contradicted();
  test_no_bootstrap();
  test_missing();
  test_identity();
  return check_summary();
}
