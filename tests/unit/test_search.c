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
 *
 * A law sweep driven through the real store (a SQLite file, every run
 * started and finished as the daemon does, with a final loss of known
 * minimum per rank): the law's prediction beside what was found
 * (la_search_law_report, as GET /v1/sweeps/{id}/search gives it) against
 * an independent fit, inside and outside the interval; and the law's
 * grid fallback when fewer than two law ranks end with a finite loss
 * (all of them diverged; only one finite): the larger ranks start from
 * the grid's α values with every seed, decisions of kind law without a
 * prediction, and then search on their own.
 */
#include "check.h"
#include "loralpha/search.h"
#include "loralpha/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A number of o, or NAN. */
static double jnum(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* la_search_law_report on hand-made cells and decisions: an lr whose law
 * ranks still search is waiting (a diverged cell and a searching one have
 * no alpha*); at an lr the law started, c and p are the law through the
 * law ranks' alpha*, a rank found on the interval's end is inside, and a
 * rank still searching has no finding yet. */
static void check_law_report_cases(void) {
  json_t *cells = json_loads(
      "[{\"rank\": 1, \"lr\": 0.001, \"done\": 1, \"last_kind\": "
      "\"converged\", \"best_alpha\": 10.0}, {\"rank\": 2, \"lr\": 0.001, "
      "\"done\": 1, \"last_kind\": \"diverged\", \"best_alpha\": 1.0}, "
      "{\"rank\": 4, \"lr\": 0.001, \"done\": 0, \"last_kind\": \"golden\", "
      "\"best_alpha\": 20.0}, {\"rank\": 1, \"lr\": 0.01, \"done\": 1, "
      "\"last_kind\": \"converged\", \"best_alpha\": 8.0}, {\"rank\": 2, "
      "\"lr\": 0.01, \"done\": 1, \"last_kind\": \"converged\", "
      "\"best_alpha\": 16.0}, {\"rank\": 4, \"lr\": 0.01, \"done\": 1, "
      "\"last_kind\": \"limit\", \"best_alpha\": 64.0}, {\"rank\": 8, "
      "\"lr\": 0.01, \"done\": 0, \"last_kind\": \"law\", \"best_alpha\": "
      "45.0}]",
      0, NULL);
  json_t *dec = json_loads(
      "[{\"rank\": 4, \"lr\": 0.01, \"kind\": \"law\", \"best\": 32.0, "
      "\"lo\": 16.0, \"hi\": 64.0}, {\"rank\": 4, \"lr\": 0.01, \"kind\": "
      "\"law\", \"best\": 32.0, \"lo\": 16.0, \"hi\": 64.0}, {\"rank\": 8, "
      "\"lr\": 0.01, \"kind\": \"law\", \"best\": 45.0, \"lo\": 22.5, "
      "\"hi\": 90.0}, {\"rank\": 4, \"lr\": 0.01, \"kind\": \"golden\", "
      "\"best\": 64.0, \"lo\": 32.0, \"hi\": 64.0}]",
      0, NULL);
  json_t *law = la_search_law_report(cells, dec);
  const json_t *w = json_array_get(law, 0), *f = json_array_get(law, 1), *x;
  CHECK_EQ_INT(json_array_size(law), 2);
  CHECK_CLOSE(jnum(w, "lr"), 0.001, 0);
  CHECK_STR(json_string_value(json_object_get(w, "state")), "waiting");
  CHECK_EQ_INT(json_array_size(json_object_get(w, "law_ranks")), 3);
  CHECK_CLOSE(
      jnum(json_array_get(json_object_get(w, "law_ranks"), 0), "alpha_star"),
      10, 0);
  for (size_t i = 1; i < 3; i++) /* diverged; still searching */
    CHECK(json_is_null(json_object_get(
        json_array_get(json_object_get(w, "law_ranks"), i), "alpha_star")));
  CHECK(json_is_null(json_object_get(w, "c")));
  CHECK_EQ_INT(json_array_size(json_object_get(w, "predictions")), 0);
  CHECK_STR(json_string_value(json_object_get(f, "state")), "fitted");
  CHECK_CLOSE(jnum(f, "c"), 8, 1e-12); /* through (1, 8) and (2, 16) */
  CHECK_CLOSE(jnum(f, "p"), 1, 1e-12);
  CHECK_EQ_INT(json_array_size(json_object_get(f, "law_ranks")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(f, "n_started")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(f, "n_decided")), 1);
  CHECK_EQ_INT(json_integer_value(json_object_get(f, "n_inside")), 1);
  x = json_array_get(json_object_get(f, "predictions"), 0);
  CHECK_CLOSE(jnum(x, "predicted"), 32, 0); /* the first law decision's */
  CHECK_CLOSE(jnum(x, "found"), 64, 0);
  CHECK(json_is_true(json_object_get(x, "inside"))); /* on hi: inside */
  CHECK_CLOSE(jnum(x, "miss_octaves"), 0, 0);
  CHECK_CLOSE(jnum(x, "off_octaves"), 1, 1e-12);
  x = json_array_get(json_object_get(f, "predictions"), 1);
  CHECK(json_is_false(json_object_get(x, "done")));
  CHECK(json_is_null(json_object_get(x, "found")));
  CHECK(json_is_null(json_object_get(x, "inside")));
  CHECK(strstr(json_string_value(json_object_get(f, "text")),
               "inside the predicted interval at 1 of the 1 decided") != NULL);
  json_decref(law);
  law = la_search_law_report(json_array_get(dec, 99), dec); /* no cells */
  CHECK(json_is_array(law) && json_array_size(law) == 0);
  json_decref(law), json_decref(cells), json_decref(dec);
}

/* ---- a law sweep through the store ---- */

static char g_dir[64];

/* The final eval loss of a run at (rank, alpha): a parabola in log2 alpha
 * around log2 of g_star(rank), or INFINITY (diverged). */
static double (*g_star)(int rank);
static double run_loss(int rank, double alpha) {
  double c = g_star(rank), d;
  if (!(c > 0)) return INFINITY;
  d = log2(alpha) - log2(c);
  return 1.0 + d * d / 4;
}

/* The law sweep's spec: ranks 1..16 (1, 2, 4 the law ranks), the grid's
 * alphas 1, 16, 256, 4096, two seeds; extra search fields from more. */
static la_spec *law_spec(const char *more) {
  char text[1024];
  json_t *j;
  la_spec *spec = NULL;
  la_spec_limits lim;
  la_err err;
  snprintf(text, sizeof text,
           "{\"name\": \"law\", \"task\": {\"task\": \"teacher\", "
           "\"d_in\": 32, \"d_out\": 32, \"target_rank\": 4}, \"grid\": "
           "{\"rank\": [1, 2, 4, 8, 16], \"alpha\": [1, 16, 256, 4096], "
           "\"lr\": [0.001]}, \"seeds\": 2, \"steps\": 100, \"search\": "
           "{\"strategy\": \"law\", \"law_ranks\": 3, \"widen\": 1%s}}",
           more);
  j = json_loads(text, 0, NULL);
  la_spec_limits_default(&lim);
  CHECK(j != NULL);
  if (j && la_spec_parse(j, &lim, &spec, &err) != 0)
    fprintf(stderr, "law spec: %s\n", err.msg);
  json_decref(j);
  return spec;
}

/* Runs every queued run of the sweep, as the daemon would, until none is
 * left: started, then ended done with run_loss (or diverged). Returns how
 * many ran. */
static int drive(la_store *st, int64_t sweep) {
  la_run_ticket t[64];
  la_err err;
  int total = 0, n;
  do {
    n = 0;
    CHECK_EQ_INT(la_store_queued_runs(st, sweep, 0, 1, 64, t, &n, &err), 0);
    for (int i = 0; i < n; i++) {
      json_t *c = json_loads(t[i].config, 0, NULL);
      double loss =
          run_loss((int)json_integer_value(json_object_get(c, "rank")),
                   json_number_value(json_object_get(c, "alpha")));
      la_run_result r;
      la_run_result_init(&r, isfinite(loss) ? "done" : "diverged");
      r.steps_done = 100, r.final_eval_loss = isfinite(loss) ? loss : NAN;
      CHECK_EQ_INT(la_store_start_run(st, t[i].run_id, &err), 0);
      CHECK_EQ_INT(la_store_finish_run(st, t[i].run_id, &r, &err), 0);
      json_decref(c);
      la_run_ticket_clear(&t[i]);
    }
    total += n;
  } while (n > 0 && total < 4000);
  return total;
}

/* A new store at name in g_dir with the law sweep of more stored and run
 * to its end; its GET /search answer (a new object). */
static json_t *law_sweep(const char *name, const char *more, la_store **st,
                         int64_t *sweep) {
  char path[128];
  la_spec *spec = law_spec(more);
  la_err err;
  int rc;
  json_t *o = NULL;
  snprintf(path, sizeof path, "%s/%s.db", g_dir, name);
  *st = NULL;
  if (spec == NULL || la_store_open(path, st, &err) != 0) {
    CHECK(!"the store opens and the spec parses");
    la_spec_free(spec);
    return NULL;
  }
  CHECK_EQ_INT(la_store_create_sweep(*st, spec, "alice", sweep, &err), 0);
  /* only the law ranks' runs at first: 3 ranks x 4 alphas x 2 seeds */
  CHECK_EQ_INT(la_store_submit_runs(spec), 24);
  CHECK_EQ_INT(spec->n_runs, 40);
  la_spec_free(spec);
  drive(*st, *sweep);
  o = la_store_get_search(*st, *sweep, &rc, &err);
  CHECK_EQ_INT(rc, 0);
  return o;
}

/* The cell (rank, lr 0.001) of a search answer, or NULL. */
static const json_t *cell_of(const json_t *o, int rank) {
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(o, "cells"), i,
                     c) if (json_integer_value(json_object_get(c, "rank")) ==
                            rank) return c;
  return NULL;
}

/* alpha* = 20 sqrt(r) at the law ranks and rank 8; rank 16's is 3 octaves
 * above the law's line: outside the interval. */
static double star_law(int rank) {
  return 20 * sqrt(rank) * (rank == 16 ? 8 : 1);
}

/* The law's prediction against what was found: the law refitted to the
 * law ranks' alpha* (here independently) predicts rank 8 and 16 as the
 * daemon's law decisions did; rank 8's alpha* falls inside the interval,
 * rank 16's 3 octaves above the line, outside by what the interval
 * lacks. */
static void check_law_report(void) {
  la_store *st;
  int64_t sweep;
  json_t *o = law_sweep("law", "", &st, &sweep);
  const json_t *law = json_array_get(json_object_get(o, "law"), 0), *row;
  double rr[3] = {1, 2, 4}, aa[3], h;
  la_search_law L;
  size_t i;
  CHECK_EQ_INT(json_array_size(json_object_get(o, "law")), 1);
  CHECK_STR(json_string_value(json_object_get(law, "state")), "fitted");
  for (int k = 0; k < 3; k++) /* the law ranks' alpha*, found */
    aa[k] = jnum(cell_of(o, (int)rr[k]), "best_alpha");
  CHECK_EQ_INT(la_search_law_fit(rr, aa, 3, &L), 0);
  /* found within the tolerance of the true minimum: p near 0.5 */
  CHECK(fabs(L.p - 0.5) < 0.3);
  CHECK_CLOSE(jnum(law, "c"), exp2(L.log2c), 1e-12);
  CHECK_CLOSE(jnum(law, "p"), L.p, 1e-12);
  CHECK_CLOSE(jnum(law, "scatter"), L.scatter, 1e-12);
  CHECK_EQ_INT(json_array_size(json_object_get(law, "law_ranks")), 3);
  CHECK_EQ_INT(json_array_size(json_object_get(law, "predictions")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(law, "n_started")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(law, "n_decided")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(law, "n_inside")), 1);
  h = 1 + 2 * L.scatter; /* widen + 2 scatter */
  json_array_foreach(json_object_get(law, "predictions"), i, row) {
    int rank = (int)json_integer_value(json_object_get(row, "rank"));
    double x = L.log2c + L.p * log2(rank);
    double found = jnum(cell_of(o, rank), "best_alpha");
    CHECK_CLOSE(log2(jnum(row, "predicted")), x, 1e-9);
    CHECK_CLOSE(log2(jnum(row, "lo")), x - h, 1e-9);
    CHECK_CLOSE(log2(jnum(row, "hi")), x + h, 1e-9);
    CHECK_CLOSE(jnum(row, "found"), found, 0);
    CHECK_CLOSE(jnum(row, "off_octaves"), log2(found) - x, 1e-9);
    CHECK(json_is_true(json_object_get(row, "done")));
    if (rank == 8) {
      CHECK(json_is_true(json_object_get(row, "inside")));
      CHECK_CLOSE(jnum(row, "miss_octaves"), 0, 0);
    } else {
      CHECK_EQ_INT(rank, 16);
      CHECK(json_is_false(json_object_get(row, "inside")));
      CHECK_CLOSE(jnum(row, "miss_octaves"), log2(found) - (x + h), 1e-9);
      CHECK(jnum(row, "miss_octaves") > 0.5);
      /* the search widened past the interval to the true alpha* */
      CHECK(fabs(log2(found / star_law(16))) < 0.5);
    }
  }
  CHECK(strstr(json_string_value(json_object_get(law, "text")),
               "inside the predicted interval at 1 of the 2") != NULL);
  json_decref(o);
  la_store_close(st);
}

/* How many of the law spec's runs of ranks 8 and 16 the store of name
 * holds with their alpha, seed index and seed. */
static int grid_runs_stored(const char *name) {
  la_spec *spec = law_spec("");
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  char path[128];
  int found = 0;
  snprintf(path, sizeof path, "%s/%s.db", g_dir, name);
  if (spec == NULL || sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ||
      sqlite3_prepare_v2(db,
                         "SELECT COUNT(*) FROM runs WHERE rank = ?1 AND alpha "
                         "= ?2 AND seed_index = ?3 AND seed = ?4",
                         -1, &q, NULL)) {
    CHECK(!"the store can be read");
    found = -1;
  }
  for (size_t i = 0; found >= 0 && i < spec->n_runs; i++) {
    const la_spec_run *r = &spec->runs[i];
    if (r->rank < 8) continue;
    sqlite3_bind_int(q, 1, r->rank);
    sqlite3_bind_double(q, 2, r->alpha);
    sqlite3_bind_int(q, 3, r->seed_index);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)r->seed);
    if (sqlite3_step(q) == SQLITE_ROW) found += sqlite3_column_int(q, 0);
    sqlite3_reset(q);
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  la_spec_free(spec);
  return found;
}

/* Every alpha of the law ranks diverges: no law. */
static double star_none(int rank) {
  return rank <= 4 ? 0 : 20 * sqrt(rank);
}
/* Only rank 1 ends finite: one law rank is fewer than two. */
static double star_one(int rank) {
  return rank == 2 || rank == 4 ? 0 : 20 * sqrt(rank);
}

/* The law's grid fallback: each larger rank starts from the grid's alphas
 * (a decision of kind law without a prediction per alpha, a run per seed
 * of each, paired with the grid's seeds), then searches as the bracket
 * does to its own alpha*; the report says no law. */
static void check_law_fallback(const char *name, double (*star)(int)) {
  static const double grid[4] = {1, 16, 256, 4096};
  la_store *st;
  int64_t sweep;
  json_t *o;
  const json_t *law, *d, *row;
  size_t i;
  g_star = star;
  /* alpha_min at the grid's smallest: a law rank that diverges everywhere
   * is done at once */
  o = law_sweep(name, ", \"alpha_min\": 1", &st, &sweep);
  for (int rank = 8; rank <= 16; rank *= 2) {
    int starts = 0, first = -1, seq = 0;
    json_array_foreach(json_object_get(o, "decisions"), i, d) {
      if (json_integer_value(json_object_get(d, "rank")) != rank) continue;
      seq++;
      if (strcmp(json_string_value(json_object_get(d, "kind")), "law") != 0)
        continue;
      if (first < 0) first = seq;
      CHECK_CLOSE(jnum(d, "alpha"), grid[starts < 4 ? starts : 3], 0);
      CHECK(json_is_null(json_object_get(d, "best")));
      CHECK(strstr(json_string_value(json_object_get(d, "why")),
                   "no law to predict from") != NULL);
      starts++;
    }
    CHECK_EQ_INT(starts, 4); /* the grid's four alphas, first */
    CHECK_EQ_INT(first, 1);
    const json_t *c = cell_of(o, rank);
    CHECK(c != NULL && json_integer_value(json_object_get(c, "done")) == 1);
    CHECK(fabs(log2(jnum(c, "best_alpha") / star(rank))) < 0.5);
  }
  /* every grid run of a larger rank was stored: its alpha, seed index
   * and seed (the spec's, paired with the cell's added alphas) */
  CHECK_EQ_INT(grid_runs_stored(name), 2 * 4 * 2); /* 2 ranks, 4 alphas */
  law = json_array_get(json_object_get(o, "law"), 0);
  CHECK_STR(json_string_value(json_object_get(law, "state")), "no_law");
  CHECK(json_is_null(json_object_get(law, "c")));
  CHECK(json_is_null(json_object_get(law, "p")));
  CHECK_EQ_INT(json_integer_value(json_object_get(law, "n_started")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(law, "n_decided")), 0);
  json_array_foreach(json_object_get(law, "predictions"), i, row) {
    CHECK(json_is_null(json_object_get(row, "predicted")));
    CHECK(json_is_null(json_object_get(row, "inside")));
    CHECK(jnum(row, "found") > 0);
  }
  json_decref(o);
  la_store_close(st);
}

int main(void) {
  char cmd[96];
  snprintf(g_dir, sizeof g_dir, "/tmp/la-search-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return 1;
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
  check_law_report_cases();
  g_star = star_law;
  check_law_report();
  check_law_fallback("none", star_none);
  check_law_fallback("one", star_one);
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return check_summary();
}
