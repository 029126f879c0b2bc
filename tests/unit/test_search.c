/*
 * test_search.c: the search along α (base/search.c). The search object:
 * defaults from the grid, every field's range, fields of the wrong
 * strategy. The bracket run to its end on losses of known shape (each
 * "trial" evaluates the loss at the α it asks for): it ends with the
 * minimum inside its bracket, within the tolerance, on a parabola after
 * one parabolic step, on an asymmetric and a flat-bottomed loss; it
 * extends past the grid when the minimum is outside it (the last step
 * clamped to alpha_min/alpha_max) and stops there, stops at max_points,
 * steps down when everything diverges, and gives the same steps for the
 * points in any order.
 */
#include "check.h"
#include "loralpha/search.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef double (*loss_fn)(double x); /* x = log2 alpha */

static double g_center = 6.0;
static double parabola(double x) {
  return 1.0 + (x - g_center) * (x - g_center);
}
static double asym(double x) { /* steep below, shallow above */
  double d = x - g_center;
  return 2.0 + (d < 0 ? 4 * d * d : 0.25 * d * d);
}
static double diverge_above(double x) { /* finite only below alpha 2^9 */
  return x > 9 ? INFINITY : parabola(x);
}
static double flat_bottom(double x) {
  double d = fabs(x - g_center) - 1.5;
  return 3.0 + (d > 0 ? d * d : 0);
}
static double all_diverge(double x) {
  return x > -3 ? INFINITY : 1.0;
}

/* Runs the bracket from the grid alphas to its end: the points and the
 * last step. Returns the number of points. */
static size_t run(const la_search *s, const double *grid, size_t ng, loss_fn f,
                  la_search_point *p, la_search_step *last) {
  size_t n = 0;
  for (size_t i = 0; i < ng; i++)
    p[n].alpha = grid[i], p[n].loss = f(log2(grid[i])), n++;
  for (int guard = 0; guard < 200; guard++) {
    la_search_next(s, p, n, last);
    if (last->action == LA_SEARCH_DONE) return n;
    for (size_t i = 0; i < n; i++)
      if (fabs(log2(p[i].alpha / last->alpha)) < 1e-9) {
        fprintf(stderr, "step %s asks for alpha %g again\n", last->kind,
                last->alpha);
        check_failures++;
        return n;
      }
    p[n].alpha = last->alpha, p[n].loss = f(log2(last->alpha)), n++;
  }
  check_failures++;
  fprintf(stderr, "the search did not end in 200 steps\n");
  return n;
}

static const double k_coarse[] = {1, 16, 256, 4096}; /* every 4 octaves */

static la_search bracket(size_t ng, const double *grid) {
  la_search s;
  la_err err;
  json_t *v = json_pack("{ss}", "strategy", "bracket");
  CHECK_EQ_INT(la_search_parse(v, grid, ng, &s, &err), 0);
  json_decref(v);
  return s;
}

static void check_defaults(void) {
  la_search s = bracket(4, k_coarse);
  la_err err;
  CHECK_EQ_INT(s.kind, LA_SEARCH_BRACKET);
  CHECK_CLOSE(s.tolerance, 0.5, 0);
  CHECK_EQ_INT(s.max_points, 16);
  CHECK_CLOSE(s.step, 4.0, 1e-12); /* the grid's widest gap */
  CHECK_CLOSE(s.alpha_min, 1.0 / 64, 0);
  CHECK_CLOSE(s.alpha_max, 4096.0 * 64, 0);
  CHECK_EQ_INT(la_search_parse(NULL, k_coarse, 4, &s, &err), 0);
  CHECK_EQ_INT(s.kind, LA_SEARCH_GRID);
  json_t *j = la_search_to_json(&s);
  CHECK_STR(json_string_value(json_object_get(j, "strategy")), "grid");
  CHECK_EQ_INT(json_object_size(j), 1);
  json_decref(j);
  double one = 8;
  s = bracket(1, &one);
  CHECK_CLOSE(s.step, 2.0, 0); /* one alpha: 2 octaves */
  /* to_json then parse gives the same settings */
  s = bracket(4, k_coarse);
  j = la_search_to_json(&s);
  la_search t;
  CHECK_EQ_INT(la_search_parse(j, k_coarse, 4, &t, &err), 0);
  CHECK(memcmp(&s, &t, sizeof s) == 0);
  json_decref(j);
}

typedef struct bad {
  const char *json, *field, *word;
} bad;

static const bad k_bad[] = {
    {"[]", "search", "object"},
    {"{}", "search.strategy", "missing"},
    {"{\"strategy\": \"random\"}", "search.strategy", "\"bracket\""},
    {"{\"strategy\": 3}", "search.strategy", "must be"},
    {"{\"strategy\": \"bracket\", \"tol\": 1}", "search.tol",
     "not a search field"},
    {"{\"strategy\": \"grid\", \"tolerance\": 1}", "search.tolerance",
     "bracket"},
    {"{\"strategy\": \"bracket\", \"tolerance\": 0}", "search.tolerance",
     "outside"},
    {"{\"strategy\": \"bracket\", \"tolerance\": 9}", "search.tolerance",
     "outside"},
    {"{\"strategy\": \"bracket\", \"tolerance\": \"1\"}", "search.tolerance",
     "number"},
    {"{\"strategy\": \"bracket\", \"max_points\": 1}", "search.max_points",
     "2..64"},
    {"{\"strategy\": \"bracket\", \"max_points\": 65}", "search.max_points",
     "2..64"},
    {"{\"strategy\": \"bracket\", \"max_points\": 3}", "search.max_points",
     "fewer than the grid's 4"},
    {"{\"strategy\": \"bracket\", \"max_points\": 4.5}", "search.max_points",
     "integer"},
    {"{\"strategy\": \"bracket\", \"alpha_min\": 2}", "search.alpha_min",
     "above the grid's smallest"},
    {"{\"strategy\": \"bracket\", \"alpha_min\": -1}", "search.alpha_min",
     "outside"},
    {"{\"strategy\": \"bracket\", \"alpha_max\": 100}", "search.alpha_max",
     "below the grid's largest"},
    {"{\"strategy\": \"bracket\", \"alpha_max\": 1e13}", "search.alpha_max",
     "outside"},
    {"{\"strategy\": \"bracket\", \"step\": 0}", "search.step", "outside"},
    {"{\"strategy\": \"bracket\", \"step\": 17}", "search.step", "outside"},
    {"{\"strategy\": \"bracket\", \"law_ranks\": 3}", "search.law_ranks",
     "\"law\" only"},
    {"{\"strategy\": \"grid\", \"widen\": 1}", "search.widen", "only"},
    {"{\"strategy\": \"law\", \"law_ranks\": 1}", "search.law_ranks", "2..64"},
    {"{\"strategy\": \"law\", \"widen\": 0}", "search.widen", "outside"},
};

static void check_bad(void) {
  for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
    json_t *v = json_loads(k_bad[i].json, JSON_DECODE_ANY, NULL);
    la_search s;
    la_err err = {{0}};
    int rc = la_search_parse(v, k_coarse, 4, &s, &err);
    size_t n = strlen(k_bad[i].field);
    int ok = rc == LA_EINVAL && strncmp(err.msg, k_bad[i].field, n) == 0 &&
             err.msg[n] == ':' && strstr(err.msg, k_bad[i].word) != NULL;
    if (!ok)
      fprintf(stderr,
              "bad[%zu] %s\n  expected: \"%s: ...%s...\"\n  actual: %s\n", i,
              k_bad[i].json, k_bad[i].field, k_bad[i].word, err.msg);
    CHECK(ok);
    json_decref(v);
  }
}

/* The search ends with the true minimum inside its final bracket, which
 * is at most tolerance wide (or at max_points). */
static void check_converges(loss_fn f, const char *name, double center) {
  la_search s = bracket(4, k_coarse);
  la_search_point p[LA_SEARCH_MAX_POINTS + 1];
  la_search_step last;
  g_center = center;
  size_t n = run(&s, k_coarse, 4, f, p, &last);
  printf("%-12s center 2^%-5g: %zu points, %s: %s\n", name, center, n,
         last.kind, last.why);
  CHECK_STR(last.kind, "converged");
  CHECK(log2(last.lo) <= center + 1e-9 && log2(last.hi) >= center - 1e-9);
  CHECK(log2(last.hi / last.lo) <= s.tolerance + 1e-9);
  CHECK((int)n <= s.max_points);
}

/* A loss flat from 2^5.5 to 2^8.5: the search ends converged on a point
 * of the flat region. */
static void check_flat(void) {
  la_search s = bracket(4, k_coarse);
  la_search_point p[LA_SEARCH_MAX_POINTS + 1];
  la_search_step last;
  g_center = 7.0;
  size_t n = run(&s, k_coarse, 4, flat_bottom, p, &last);
  printf("flat bottom: %zu points, %s: %s\n", n, last.kind, last.why);
  CHECK_STR(last.kind, "converged");
  CHECK(log2(last.best) >= 5.5 - 1e-9 && log2(last.best) <= 8.5 + 1e-9);
}

/* On a parabola the first interior step is the parabolic one and lands
 * on the vertex. */
static void check_parabolic(void) {
  la_search s = bracket(4, k_coarse);
  la_search_point p[3] = {{1, 0}, {16, 0}, {256, 0}};
  la_search_step st;
  g_center = 5.3;
  for (int i = 0; i < 3; i++)
    p[i].loss = parabola(log2(p[i].alpha));
  la_search_next(&s, p, 3, &st);
  CHECK_STR(st.kind, "parabolic");
  CHECK_CLOSE(log2(st.alpha), 5.3, 1e-9);
  /* the same points in another order: the same step */
  la_search_point q[3] = {p[2], p[0], p[1]};
  la_search_step st2;
  la_search_next(&s, q, 3, &st2);
  CHECK_CLOSE(st2.alpha, st.alpha, 0);
  CHECK_STR(st2.kind, st.kind);
}

/* A minimum past the grid's top: the search extends upwards by step
 * octaves, then converges there; past alpha_max it stops at the limit. */
static void check_extends(void) {
  la_search s = bracket(4, k_coarse);
  la_search_point p[LA_SEARCH_MAX_POINTS + 1];
  la_search_step last;
  g_center = 14.2; /* 2^14.2: above 4096 = 2^12 */
  size_t n = run(&s, k_coarse, 4, parabola, p, &last);
  CHECK_STR(last.kind, "converged");
  CHECK(log2(last.lo) <= 14.2 && log2(last.hi) >= 14.2);
  int up = 0;
  for (size_t i = 0; i < n; i++)
    up += p[i].alpha > 4096;
  CHECK(up >= 1);
  /* below the grid */
  g_center = -2.5;
  n = run(&s, k_coarse, 4, parabola, p, &last);
  CHECK_STR(last.kind, "converged");
  CHECK(log2(last.lo) <= -2.5 && log2(last.hi) >= -2.5);
  /* past the limit: done, at the edge */
  s.alpha_max = 4096 * 8; /* 2^15 */
  g_center = 20;
  n = run(&s, k_coarse, 4, parabola, p, &last);
  CHECK_STR(last.kind, "limit");
  CHECK(strstr(last.why, "alpha_max") != NULL);
  CHECK_CLOSE(last.best, 32768, 0); /* 2^16 would pass 2^15: 2^15 tried */
  (void)n;
}

/* Divergence: above 2^9 every run diverges (loss inf): the search still
 * finds the minimum below; when everything diverges it steps down until
 * alpha_min, then stops saying so. max_points caps the search. */
static void check_divergence_and_cap(void) {
  la_search s = bracket(4, k_coarse);
  la_search_point p[LA_SEARCH_MAX_POINTS + 1];
  la_search_step last;
  g_center = 8.7;
  run(&s, k_coarse, 4, diverge_above, p, &last);
  CHECK_STR(last.kind, "converged");
  CHECK(log2(last.best) <= 9);
  s.alpha_min = 1.0 / 16; /* 2^-4: below 1, one step of 4 octaves */
  size_t n = run(&s, k_coarse, 4, all_diverge, p, &last);
  CHECK_STR(last.kind, "limit"); /* 2^-4 is finite and the lowest allowed */
  CHECK_CLOSE(last.best, 1.0 / 16, 0);
  s.alpha_min = 1.0 / 4; /* 2^-2: tried (the step clamped), diverges too */
  n = run(&s, k_coarse, 4, all_diverge, p, &last);
  CHECK_STR(last.kind, "diverged");
  CHECK_EQ_INT(n, 5);
  s = bracket(4, k_coarse);
  s.max_points = 5;
  g_center = 6.1;
  n = run(&s, k_coarse, 4, parabola, p, &last);
  CHECK_EQ_INT(n, 5);
  CHECK_STR(last.kind, "max_points");
}

/* The law: a least-squares line in (log2 r, log2 alpha), its scatter, and
 * the start values around a prediction, clamped and distinct (the law
 * ranks, the smallest distinct ones: test_spec's la_spec_ranks). */
static void check_law(void) {
  la_search s = bracket(4, k_coarse);
  la_search_law L;
  double r[4] = {1, 2, 4, 8}, a[4], st[3];
  for (int i = 0; i < 4; i++) /* alpha* = 20 r^0.5 exactly */
    a[i] = 20 * sqrt(r[i]);
  CHECK_EQ_INT(la_search_law_fit(r, a, 4, &L), 0);
  CHECK_CLOSE(L.p, 0.5, 1e-12);
  CHECK_CLOSE(exp2(L.log2c), 20, 1e-9);
  CHECK_CLOSE(L.scatter, 0, 1e-12);
  a[3] *= 2; /* one octave off at rank 8 */
  CHECK_EQ_INT(la_search_law_fit(r, a, 4, &L), 0);
  /* by hand: x = 0..3, y = log2 20 + x/2 + (0,0,0,1); slope 0.5 + 0.3 */
  CHECK_CLOSE(L.p, 0.8, 1e-12);
  CHECK(L.scatter > 0.3 && L.scatter < 0.6);
  CHECK_EQ_INT(la_search_law_fit(r, a, 1, &L), LA_EINVAL);
  double same[2] = {4, 4};
  CHECK_EQ_INT(la_search_law_fit(same, a, 2, &L), LA_EINVAL);
  s.widen = 1;
  L = (la_search_law){.log2c = log2(20), .p = 0.5, .scatter = 0.25, .n = 3};
  CHECK_EQ_INT(la_search_law_start(&s, &L, 16, st), 3);
  CHECK_CLOSE(st[1], 80, 1e-9);
  CHECK_CLOSE(log2(st[2] / st[1]), 1.5, 1e-12); /* widen + 2 scatter */
  CHECK_CLOSE(log2(st[1] / st[0]), 1.5, 1e-12);
  s.alpha_max = 80; /* the top two clamp to the limit: two values */
  CHECK_EQ_INT(la_search_law_start(&s, &L, 16, st), 2);
  CHECK_CLOSE(st[1], 80, 1e-9);
}

int main(void) {
  check_defaults();
  check_bad();
  check_parabolic();
  for (double c = -1.0; c <= 13.0; c += 1.37) {
    check_converges(parabola, "parabola", c);
    check_converges(asym, "asymmetric", c);
  }
  check_flat();
  check_extends();
  check_divergence_and_cap();
  check_law();
  return check_summary();
}
