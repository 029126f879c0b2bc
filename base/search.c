/* search.c: a sweep's search along α: its settings, the bracket's next
 * step, the law's fit and starts, and the law's prediction against what
 * was found (search.h, docs/sweeps.md "search"). */
#include "loralpha/search.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN 0.3819660112501051 /* 2 - the golden ratio */
#define DEF_TOLERANCE 0.5         /* octaves */
#define DEF_MAX_POINTS 16
#define DEF_MARGIN 6.0 /* octaves past the grid's ends by default */
#define MAX_STEP 16.0  /* octaves */
#define ALPHA_CAP 1e12

static const char *const k_kinds[] = {"grid", "bracket", "law", "halving",
                                      NULL};
static const char *const k_fields[] = {
    "strategy",  "tolerance", "max_points", "alpha_min", "alpha_max", "step",
    "law_ranks", "widen",     "eta",        "rungs",     NULL};
#define DEF_LAW_RANKS 3
#define DEF_WIDEN 1.0 /* octaves */
#define DEF_ETA 3.0
#define MAX_ETA 64.0

/* A number field of the search object: absent (def kept), or finite in
 * (lo, hi]. */
static int get_num(const json_t *v, const char *key, double lo, double hi,
                   double *out, la_err *err) {
  const json_t *x = json_object_get(v, key);
  double d;
  if (x == NULL) return 0;
  d = json_number_value(x);
  if (!json_is_number(x) || !isfinite(d))
    return la_errf(err, LA_EINVAL, "search.%s: must be a number", key);
  if (!(d > lo) || d > hi)
    return la_errf(err, LA_EINVAL, "search.%s: %g is outside (%g, %g]", key, d,
                   lo, hi);
  *out = d;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The grid's α values (any order) sorted into a new array, or NULL. */
static double *sorted_copy(const double *alphas, size_t n) {
  double *s = malloc(n * sizeof *s);
  if (s == NULL) return NULL;
  memcpy(s, alphas, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_double);
  return s;
}

/* The widest gap between neighbouring α values (sorted), in octaves (2 for
 * one). */
static double widest_gap(const double *alphas, size_t n) {
  double gap = n > 1 ? 0 : 2;
  for (size_t i = 1; i < n; i++) {
    double g = log2(alphas[i] / alphas[i - 1]);
    gap = g > gap ? g : gap;
  }
  return gap < MAX_STEP ? gap : MAX_STEP;
}

/* The strategy's name into *kind. */
static int get_kind(const json_t *v, la_search_kind *kind, la_err *err) {
  const char *name = json_string_value(json_object_get(v, "strategy"));
  if (json_object_get(v, "strategy") == NULL)
    return la_errf(err, LA_EINVAL,
                   "search.strategy: required field is missing");
  for (int i = 0; name != NULL && k_kinds[i] != NULL; i++)
    if (strcmp(name, k_kinds[i]) == 0) {
      *kind = (la_search_kind)i;
      return 0;
    }
  return la_errf(err, LA_EINVAL,
                 "search.strategy: must be \"grid\", \"bracket\", \"law\" "
                 "or \"halving\"");
}

/* Whether field key applies to strategy kind. */
static int field_of(const char *key, la_search_kind kind) {
  int halving = strcmp(key, "eta") == 0 || strcmp(key, "rungs") == 0,
      law = strcmp(key, "law_ranks") == 0 || strcmp(key, "widen") == 0;
  if (strcmp(key, "strategy") == 0) return 1;
  switch (kind) {
  case LA_SEARCH_GRID: return 0;
  case LA_SEARCH_HALVING: return halving;
  case LA_SEARCH_BRACKET: return !halving && !law;
  case LA_SEARCH_LAW: return !halving;
  }
  return 0;
}

/* The strategies field key applies to, in words. */
static const char *owners_of(const char *key) {
  if (strcmp(key, "eta") == 0 || strcmp(key, "rungs") == 0)
    return "strategy \"halving\" only";
  if (strcmp(key, "law_ranks") == 0 || strcmp(key, "widen") == 0)
    return "strategy \"law\" only";
  return "strategies \"bracket\" and \"law\" only";
}

/* Unknown keys, and keys of bracket in a grid search. */
static int check_keys(const json_t *v, la_search_kind kind, la_err *err) {
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)v, key, val) {
    int known = 0;
    for (int i = 0; k_fields[i] != NULL && !known; i++)
      known = strcmp(key, k_fields[i]) == 0;
    if (!known)
      return la_errf(err, LA_EINVAL,
                     "search.%.64s: not a search field (expected strategy, "
                     "tolerance, max_points, alpha_min, alpha_max, step, "
                     "law_ranks, widen, eta or rungs)",
                     key);
    if (!field_of(key, kind))
      return la_errf(err, LA_EINVAL, "search.%s: applies to %s", key,
                     owners_of(key));
  }
  return 0;
}

/* halving's rungs: 1..LA_SEARCH_MAX_RUNGS fractions of steps in (0, 1),
 * rising (default: 1/eta^k for k = n..1, n = 2). */
static int get_rungs(const json_t *v, la_search *out, la_err *err) {
  const json_t *r = json_object_get(v, "rungs");
  size_t n = json_array_size(r);
  if (r == NULL) {
    out->n_rungs = 2;
    out->rungs[0] = 1 / (out->eta * out->eta), out->rungs[1] = 1 / out->eta;
    return 0;
  }
  if (!json_is_array(r) || n < 1 || n > LA_SEARCH_MAX_RUNGS)
    return la_errf(err, LA_EINVAL,
                   "search.rungs: must be an array of 1..%d fractions of "
                   "steps",
                   LA_SEARCH_MAX_RUNGS);
  for (size_t i = 0; i < n; i++) {
    const json_t *x = json_array_get(r, i);
    double f = json_number_value(x);
    if (!json_is_number(x) || !(f > 0) || !(f < 1))
      return la_errf(err, LA_EINVAL,
                     "search.rungs[%zu]: must be a number in (0, 1) (a "
                     "fraction of steps; the end is not a rung)",
                     i);
    if (i > 0 && !(f > out->rungs[i - 1]))
      return la_errf(err, LA_EINVAL,
                     "search.rungs[%zu]: %g is not above rungs[%zu] %g (rungs "
                     "rise)",
                     i, f, i - 1, out->rungs[i - 1]);
    out->rungs[i] = f;
  }
  out->n_rungs = (int)n;
  return 0;
}

/* la_search_parse on the grid's α values sorted. */
static int parse_sorted(const json_t *v, const double *alphas, size_t n,
                        la_search *out, la_err *err) {
  const json_t *mp;
  int rc;
  memset(out, 0, sizeof *out);
  out->kind = LA_SEARCH_GRID;
  out->tolerance = DEF_TOLERANCE;
  out->max_points = DEF_MAX_POINTS;
  out->alpha_min = alphas[0] / exp2(DEF_MARGIN);
  out->alpha_max = fmin(alphas[n - 1] * exp2(DEF_MARGIN), ALPHA_CAP);
  out->step = widest_gap(alphas, n);
  out->law_ranks = DEF_LAW_RANKS;
  out->widen = DEF_WIDEN;
  out->eta = DEF_ETA;
  if (v == NULL) return 0;
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL, "search: must be an object");
  if ((rc = get_kind(v, &out->kind, err)) ||
      (rc = check_keys(v, out->kind, err)))
    return rc;
  if ((rc = get_num(v, "tolerance", 0, 8, &out->tolerance, err)) ||
      (rc = get_num(v, "step", 0, MAX_STEP, &out->step, err)) ||
      (rc = get_num(v, "alpha_min", 0, ALPHA_CAP, &out->alpha_min, err)) ||
      (rc = get_num(v, "alpha_max", 0, ALPHA_CAP, &out->alpha_max, err)))
    return rc;
  if ((rc = get_num(v, "widen", 0, MAX_STEP, &out->widen, err))) return rc;
  if ((rc = get_num(v, "eta", 1, MAX_ETA, &out->eta, err))) return rc;
  if (out->kind == LA_SEARCH_HALVING) return get_rungs(v, out, err);
  if ((mp = json_object_get(v, "law_ranks")) != NULL) {
    json_int_t k = json_integer_value(mp);
    if (!json_is_integer(mp) || k < 2 || k > LA_SEARCH_MAX_LAW_RANKS)
      return la_errf(err, LA_EINVAL,
                     "search.law_ranks: must be an integer in 2..%d",
                     LA_SEARCH_MAX_LAW_RANKS);
    out->law_ranks = (int)k;
  }
  if ((mp = json_object_get(v, "max_points")) != NULL) {
    json_int_t m = json_integer_value(mp);
    if (!json_is_integer(mp) || m < 2 || m > LA_SEARCH_MAX_POINTS)
      return la_errf(err, LA_EINVAL,
                     "search.max_points: must be an integer in 2..%d",
                     LA_SEARCH_MAX_POINTS);
    out->max_points = (int)m;
  }
  if (out->kind == LA_SEARCH_GRID) return 0;
  if ((size_t)out->max_points < n)
    return la_errf(err, LA_EINVAL,
                   "search.max_points: %d is fewer than the grid's %zu alpha "
                   "values (the search starts from all of them)",
                   out->max_points, n);
  if (out->alpha_min > alphas[0])
    return la_errf(err, LA_EINVAL,
                   "search.alpha_min: %g is above the grid's smallest alpha "
                   "%g",
                   out->alpha_min, alphas[0]);
  if (out->alpha_max < alphas[n - 1])
    return la_errf(err, LA_EINVAL,
                   "search.alpha_max: %g is below the grid's largest alpha %g",
                   out->alpha_max, alphas[n - 1]);
  return 0;
}

int la_search_parse(const json_t *v, const double *alphas, size_t n,
                    la_search *out, la_err *err) {
  double *sorted = sorted_copy(alphas, n);
  int rc;
  if (sorted == NULL) return la_errf(err, LA_ENOMEM, "search: out of memory");
  rc = parse_sorted(v, sorted, n, out, err);
  free(sorted);
  return rc;
}

int la_search_from_stored(const json_t *v, la_search *out, la_err *err) {
  double ends[2] = {1, 1}; /* a grid search has no bounds */
  const json_t *lo = json_object_get(v, "alpha_min"),
               *hi = json_object_get(v, "alpha_max");
  if (json_is_number(lo) && json_is_number(hi))
    ends[0] = json_number_value(lo), ends[1] = json_number_value(hi);
  if (!(ends[0] > 0) || !(ends[1] >= ends[0]))
    return la_errf(err, LA_EINVAL,
                   "search: alpha_min and alpha_max are "
                   "not an interval");
  return parse_sorted(v, ends, 2, out, err);
}

/* halving's object: strategy, eta and rungs. */
static json_t *halving_json(const la_search *s) {
  json_t *r = json_array();
  for (int i = 0; r != NULL && i < s->n_rungs; i++)
    if (json_array_append_new(r, json_real(s->rungs[i]))) {
      json_decref(r);
      return NULL;
    }
  return r ? json_pack("{ss, sf, so}", "strategy", "halving", "eta", s->eta,
                       "rungs", r)
           : NULL;
}

json_t *la_search_to_json(const la_search *s) {
  json_t *o;
  if (s->kind == LA_SEARCH_GRID) return json_pack("{ss}", "strategy", "grid");
  if (s->kind == LA_SEARCH_HALVING) return halving_json(s);
  o = json_pack("{ss, sf, si, sf, sf, sf}", "strategy", k_kinds[s->kind],
                "tolerance", s->tolerance, "max_points", s->max_points,
                "alpha_min", s->alpha_min, "alpha_max", s->alpha_max, "step",
                s->step);
  if (o != NULL && s->kind == LA_SEARCH_LAW &&
      (json_object_set_new(o, "law_ranks", json_integer(s->law_ranks)) ||
       json_object_set_new(o, "widen", json_real(s->widen)))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

int la_search_law_fit(const double *rank, const double *alpha, size_t n,
                      la_search_law *out) {
  double mx = 0, my = 0, sxx = 0, sxy = 0, ss = 0;
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < n; i++) {
    if (!(rank[i] > 0) || !(alpha[i] > 0) || !isfinite(alpha[i]))
      return LA_EINVAL;
    mx += log2(rank[i]) / (double)n, my += log2(alpha[i]) / (double)n;
  }
  for (size_t i = 0; i < n; i++) {
    double dx = log2(rank[i]) - mx;
    sxx += dx * dx, sxy += dx * (log2(alpha[i]) - my);
  }
  if (n < 2 || !(sxx > 0)) return LA_EINVAL;
  out->p = sxy / sxx;
  out->log2c = my - out->p * mx;
  for (size_t i = 0; i < n; i++) {
    double r = log2(alpha[i]) - (out->log2c + out->p * log2(rank[i]));
    ss += r * r;
  }
  out->scatter = n > 2 ? sqrt(ss / (double)(n - 2)) : 0;
  out->n = n;
  return 0;
}

int la_search_law_start(const la_search *s, const la_search_law *L, int rank,
                        double out[3]) {
  double x = L->log2c + L->p * log2((double)rank);
  double h = s->widen + 2 * L->scatter, lo = log2(s->alpha_min),
         hi = log2(s->alpha_max);
  double c[3] = {x - h, x, x + h};
  int n = 0;
  for (int i = 0; i < 3; i++) {
    double v = c[i] < lo ? lo : c[i] > hi ? hi : c[i];
    if (n == 0 || fabs(v - log2(out[n - 1])) > 1e-9) out[n++] = exp2(v);
  }
  return n;
}

/* ---- the bracket's next step ---- */

/* The points sorted by α (insertion sort: a cell has at most 64). */
static void sort_points(const la_search_point *in, size_t n,
                        la_search_point *out) {
  for (size_t i = 0; i < n; i++) {
    size_t j = i;
    while (j > 0 && out[j - 1].alpha > in[i].alpha) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = in[i];
  }
}

/* Fills the step's fields; its why from fmt. */
static void say(la_search_step *o, la_search_action a, double alpha,
                const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void say(la_search_step *o, la_search_action a, double alpha,
                const char *kind, const char *fmt, ...) {
  va_list ap;
  o->action = a;
  o->alpha = a == LA_SEARCH_ADD ? alpha : NAN;
  snprintf(o->kind, sizeof o->kind, "%s", kind);
  va_start(ap, fmt);
  vsnprintf(o->why, sizeof o->why, fmt, ap);
  va_end(ap);
}

/* The parabola's vertex through (x, f) at a, b, c in log2 α, or NAN. */
static double vertex(const la_search_point *p, size_t b) {
  double xa = log2(p[b - 1].alpha), xb = log2(p[b].alpha),
         xc = log2(p[b + 1].alpha);
  double fa = p[b - 1].loss, fb = p[b].loss, fc = p[b + 1].loss;
  double num =
      (xb - xa) * (xb - xa) * (fb - fc) - (xb - xc) * (xb - xc) * (fb - fa);
  double den = (xb - xa) * (fb - fc) - (xb - xc) * (fb - fa);
  if (!isfinite(fa) || !isfinite(fc) || !(fabs(den) > 0)) return NAN;
  return xb - 0.5 * num / den;
}

/* Is x (log2 α) at least gap octaves from every point? */
static int clear_of(const la_search_point *p, size_t n, double x, double gap) {
  for (size_t i = 0; i < n; i++)
    if (fabs(log2(p[i].alpha) - x) < gap) return 0;
  return 1;
}

/* The best point at an end of the points: one step past it (no further
 * than the limit); at the limit, golden-section steps towards its one
 * neighbour until they are within the tolerance, then done. */
static void extend(const la_search *s, const la_search_point *p, size_t n,
                   size_t b, la_search_step *o) {
  int down = b == 0;
  double limit = down ? s->alpha_min : s->alpha_max;
  double next = p[b].alpha * exp2(down ? -s->step : s->step);
  if (down ? next < limit : next > limit) next = limit;
  if (fabs(log2(next / p[b].alpha)) > 1e-9) {
    say(o, LA_SEARCH_ADD, next, down ? "extend_down" : "extend_up",
        "the best alpha %g is the %s tried: trying %g, %.3g octaves %s",
        p[b].alpha, down ? "smallest" : "largest", next,
        fabs(log2(next / p[b].alpha)), down ? "below" : "above");
    return;
  }
  if (n > 1) {
    double xb = log2(p[b].alpha), xq = log2(p[down ? 1 : n - 2].alpha);
    if (fabs(xq - xb) > s->tolerance * (1 + 1e-12)) {
      say(o, LA_SEARCH_ADD, exp2(xb + GOLDEN * (xq - xb)), "edge",
          "the best alpha %g is at search.%s: golden-section step towards "
          "its neighbour %g",
          p[b].alpha, down ? "alpha_min" : "alpha_max", exp2(xq));
      return;
    }
  }
  say(o, LA_SEARCH_DONE, NAN, "limit",
      "the best alpha %g is at search.%s: alpha* is at the edge of what the "
      "spec allows",
      p[b].alpha, down ? "alpha_min" : "alpha_max");
}

void la_search_next(const la_search *s, const la_search_point *pts, size_t n,
                    la_search_step *o) {
  la_search_point p[LA_SEARCH_MAX_POINTS + 1];
  size_t b = 0;
  double xa, xb, xc, x;
  memset(o, 0, sizeof *o);
  if (n == 0) {
    say(o, LA_SEARCH_DONE, NAN, "diverged", "no alpha was tried");
    return;
  }
  if (n > LA_SEARCH_MAX_POINTS + 1) n = LA_SEARCH_MAX_POINTS + 1;
  sort_points(pts, n, p);
  for (size_t i = 1; i < n; i++)
    if (p[i].loss < p[b].loss) b = i; /* ties: the smaller alpha */
  o->best = p[b].alpha;
  o->lo = b > 0 ? p[b - 1].alpha : p[b].alpha;
  o->hi = b + 1 < n ? p[b + 1].alpha : p[b].alpha;
  if (!isfinite(p[b].loss)) { /* every alpha diverged or failed */
    double next = fmax(p[0].alpha * exp2(-s->step), s->alpha_min);
    if ((int)n < s->max_points && log2(p[0].alpha / next) > 1e-9) {
      say(o, LA_SEARCH_ADD, next, "extend_down",
          "every alpha tried diverged or failed: trying %g, below the "
          "smallest",
          next);
      return;
    }
    say(o, LA_SEARCH_DONE, NAN, "diverged",
        "every alpha tried diverged or failed, down to %g", p[0].alpha);
    return;
  }
  if ((int)n >= s->max_points) {
    say(o, LA_SEARCH_DONE, NAN, "max_points",
        "%zu alpha values tried (search.max_points): the best is %g in [%g, "
        "%g]",
        n, p[b].alpha, o->lo, o->hi);
    return;
  }
  if (b == 0 || b + 1 == n) {
    extend(s, p, n, b, o);
    return;
  }
  xa = log2(p[b - 1].alpha), xb = log2(p[b].alpha), xc = log2(p[b + 1].alpha);
  if (xc - xa <= s->tolerance * (1 + 1e-12)) {
    say(o, LA_SEARCH_DONE, NAN, "converged",
        "alpha* %g is bracketed by %g and %g, %.3g octaves apart (search."
        "tolerance %g)",
        p[b].alpha, p[b - 1].alpha, p[b + 1].alpha, xc - xa, s->tolerance);
    return;
  }
  x = vertex(p, b);
  if (isfinite(x) && x > xa && x < xc && clear_of(p, n, x, 0.1 * (xc - xa))) {
    say(o, LA_SEARCH_ADD, exp2(x), "parabolic",
        "the parabola through alpha %g, %g, %g (in log alpha) has its "
        "vertex at %g",
        p[b - 1].alpha, p[b].alpha, p[b + 1].alpha, exp2(x));
    return;
  }
  if (isfinite(x) && x > xa && x < xc) {
    /* the vertex is at the best point: close the bracket with a probe
     * half a tolerance beside it, on the vertex's side (else the wider) */
    int up = x > xb || (x == xb && xc - xb > xb - xa);
    double probe = xb + (up ? 0.5 : -0.5) * s->tolerance;
    if ((up ? probe < xc : probe > xa) &&
        clear_of(p, n, probe, 0.05 * s->tolerance)) {
      say(o, LA_SEARCH_ADD, exp2(probe), "probe",
          "the parabola's vertex is at the best alpha %g: trying %g, half "
          "a tolerance %s, to close the bracket",
          p[b].alpha, exp2(probe), up ? "above" : "below");
      return;
    }
  }
  x = xc - xb > xb - xa ? xb + GOLDEN * (xc - xb) : xb - GOLDEN * (xb - xa);
  say(o, LA_SEARCH_ADD, exp2(x), "golden",
      "golden-section step into the wider side of the bracket [%g, %g] "
      "around %g",
      p[b - 1].alpha, p[b + 1].alpha, p[b].alpha);
}

/* ---- the law's prediction against what was found ---- */

/* A number field of o, or NAN when absent or null. */
static double num_of(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A number as JSON: null when not finite. */
static json_t *num_or_null(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

/* The first decision of kind law of the cell (rank, lr), or NULL. */
static const json_t *law_decision(const json_t *decisions, double rank,
                                  double lr) {
  size_t i;
  const json_t *d;
  json_array_foreach(decisions, i, d) {
    const char *kind = json_string_value(json_object_get(d, "kind"));
    if (kind != NULL && strcmp(kind, "law") == 0 && num_of(d, "rank") == rank &&
        num_of(d, "lr") == lr)
      return d;
  }
  return NULL;
}

/* The α* a done cell found: its best α, or NAN while it searches or when
 * every α it tried diverged. */
static double cell_found(const json_t *c) {
  const char *kind = json_string_value(json_object_get(c, "last_kind"));
  const json_t *done = json_object_get(c, "done");
  if (!json_is_integer(done) || json_integer_value(done) == 0) return NAN;
  if (kind != NULL && strcmp(kind, "diverged") == 0) return NAN;
  return num_of(c, "best_alpha");
}

/* One larger rank's row: the law decision d's prediction and interval
 * beside what the cell c found; *inside counts it when it fell inside. */
static json_t *prediction_row(const json_t *c, const json_t *d, int *inside,
                              int *decided) {
  double pred = num_of(d, "best"), lo = num_of(d, "lo"), hi = num_of(d, "hi");
  double found = cell_found(c), off = NAN, miss = NAN;
  json_t *in = json_null();
  if (isfinite(found) && isfinite(pred) && lo > 0 && hi > 0) {
    off = log2(found / pred);
    miss = found < lo * (1 - 1e-9)   ? log2(lo / found)
           : found > hi * (1 + 1e-9) ? log2(found / hi)
                                     : 0;
    in = json_boolean(miss == 0);
    *inside += miss == 0;
    (*decided)++;
  }
  return json_pack("{s:O, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "rank",
                   json_object_get(c, "rank"), "predicted", num_or_null(pred),
                   "lo", num_or_null(lo), "hi", num_or_null(hi), "found",
                   num_or_null(found), "done",
                   json_boolean(json_integer_value(json_object_get(c, "done"))),
                   "off_octaves", num_or_null(off), "miss_octaves",
                   num_or_null(miss), "inside", in);
}

/* The law through the law ranks' α* (rr, aa: n of them) into L and its
 * words into from ("1, 2, 4"); 0, or LA_EINVAL when it cannot be fitted. */
static int refit(const double *rr, const double *aa, size_t n, la_search_law *L,
                 char *from, size_t size) {
  size_t used = 0;
  from[0] = '\0';
  for (size_t i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(from + used, size - used, "%s%g", i ? ", " : "",
                             rr[i]);
  return la_search_law_fit(rr, aa, n, L);
}

/* The words of an lr's entry into text. */
static void law_text(char *text, size_t size, double lr, const char *state,
                     const la_search_law *L, const char *from, int started,
                     int inside, int decided) {
  if (strcmp(state, "waiting") == 0)
    snprintf(text, size,
             "at lr %g: the law ranks are still searching; no larger rank "
             "was started yet",
             lr);
  else if (strcmp(state, "no_law") == 0)
    snprintf(text, size,
             "at lr %g: no law (fewer than two law ranks ended with a finite "
             "loss): %d larger rank%s started from the grid's alpha values",
             lr, started, started == 1 ? "" : "s");
  else
    snprintf(text, size,
             "at lr %g: the law through ranks %s (alpha* = %.4g r^%.3g, "
             "scatter %.2g octaves) predicted %d larger rank%s; the alpha* "
             "found fell inside the predicted interval at %d of the %d "
             "decided",
             lr, from, exp2(L->log2c), L->p, L->scatter, started,
             started == 1 ? "" : "s", inside, decided);
}

/* The entry of one lr: its law ranks (the cells the law did not start),
 * the law refitted to their α*, and a row per rank the law started. */
static json_t *law_entry(const json_t *cells, const json_t *decisions,
                         double lr) {
  double rr[LA_SEARCH_MAX_LAW_RANKS], aa[LA_SEARCH_MAX_LAW_RANKS];
  json_t *small = json_array(), *pred = json_array();
  size_t i, nf = 0;
  int inside = 0, decided = 0, predicted = 0, started = 0, fitted;
  la_search_law L = {0};
  char from[512], text[768];
  const char *state;
  const json_t *c;
  json_array_foreach(cells, i, c) {
    const json_t *d;
    double rank = num_of(c, "rank"), found = cell_found(c);
    if (num_of(c, "lr") != lr) continue;
    if ((d = law_decision(decisions, rank, lr)) != NULL) {
      started++;
      predicted += isfinite(num_of(d, "best"));
      json_array_append_new(pred, prediction_row(c, d, &inside, &decided));
      continue;
    }
    json_array_append_new(small, json_pack("{s:O, s:o}", "rank",
                                           json_object_get(c, "rank"),
                                           "alpha_star", num_or_null(found)));
    if (isfinite(found) && nf < LA_SEARCH_MAX_LAW_RANKS)
      rr[nf] = rank, aa[nf++] = found;
  }
  state = started == 0 ? "waiting" : predicted > 0 ? "fitted" : "no_law";
  fitted = refit(rr, aa, nf, &L, from, sizeof from) == 0 &&
           strcmp(state, "fitted") == 0;
  law_text(text, sizeof text, lr, state, &L, from, started, inside, decided);
  return json_pack("{s:f, s:s, s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:s}",
                   "lr", lr, "state", state, "law_ranks", small, "c",
                   num_or_null(fitted ? exp2(L.log2c) : NAN), "p",
                   num_or_null(fitted ? L.p : NAN), "scatter",
                   num_or_null(fitted ? L.scatter : NAN), "predictions", pred,
                   "n_started", started, "n_decided", decided, "n_inside",
                   inside, "text", text);
}

json_t *la_search_law_report(const json_t *cells, const json_t *decisions) {
  json_t *out = json_array(), *e;
  size_t i;
  const json_t *c;
  if (out == NULL) return NULL;
  json_array_foreach(cells, i, c) {
    double lr = num_of(c, "lr");
    int seen = 0;
    for (size_t k = 0; k < i && !seen; k++)
      seen = num_of(json_array_get(cells, k), "lr") == lr;
    if (seen || !isfinite(lr)) continue;
    if ((e = law_entry(cells, decisions, lr)) == NULL ||
        json_array_append_new(out, e)) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}
