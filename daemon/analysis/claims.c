/*
 * claims.c: claims 1 and 2 of the paper from a sweep's runs (claims.h,
 * docs/analysis.md "The three claims").
 *
 * Layout: the runs are copied and sorted by (rank, lr, alpha, seed) and
 * cut into cells, one per grid point; a rank's cells are consecutive,
 * ascending in lr and then alpha.
 *
 *  - Claim 1: a cell's sharpness ratio is the geometric mean of lora / full
 *    over its runs whose two estimates are known, converged and positive
 *    (a top eigenvalue may be negative; its ratio says nothing about
 *    flatness). Across ranks: the geometric mean of the ranks' ratios at
 *    alpha*.
 *  - Claim 2: a path's points are its cells' mean loss and mean ratio over
 *    the runs with both known. The loss change of a point is the base's
 *    mean loss minus its own; a path counts up to its lowest mean loss (the
 *    way down). The two paths are compared at the smaller of their largest
 *    loss changes, each read off linearly in the loss change between its
 *    points (the first crossing). Across ranks: the geometric mean of the
 *    ranks' alpha-path / lr-path ratios.
 *  - Intervals: percentile bootstrap over seeds, resampling every cell's
 *    runs on its own; each cell (claim 1) and each rank's pair of paths
 *    (claim 2) draws from la_rng stream CLAIMS_STREAM seeded with a mix of
 *    opts->seed and its identity (rank, lr and alpha bits, or rank and
 *    metric), so other grid points never shift it. Across ranks, resample
 *    b of the pooled figure pools resample b of every rank; a rank with
 *    one usable run has no interval, nor then has the pooled figure.
 *  - Verdicts come from where the interval lies against 1; without an
 *    interval from the point value, and the text says "(no interval)".
 */
#include "analysis/claims.h"

#include "analysis/joint.h"
#include "loralpha/json_text.h"
#include "loralpha/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CLAIMS_STREAM 6 /* la_rng stream of the bootstrap (fit.c's is 5) */

/* One grid point: runs r[i0 .. i0 + n) of the sorted copy. */
typedef struct cell {
  int rank;
  double lr, alpha;
  size_t i0, n;
} cell;

typedef struct ctx {
  la_claim_run *r; /* sorted copy of the runs (owned) */
  size_t n;
  cell *cells; /* owned */
  size_t n_cells;
  int nb;       /* resamples (0: no intervals) */
  double level; /* interval level */
  uint64_t seed;
  double *tmp; /* nb + n scratch values (owned) */
} ctx;

/* An estimate with its interval and, for pooling, its resamples (log). */
typedef struct est {
  double v, lo, hi; /* NaN when unknown */
  double *boot;     /* nb log values, NaN where unknown (owned) */
} est;

/* ---- cells -------------------------------------------------------------- */

static int cmp_run(const void *pa, const void *pb) {
  const la_claim_run *a = pa, *b = pb;
  if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
  if (a->lr != b->lr) return a->lr < b->lr ? -1 : 1;
  if (a->alpha != b->alpha) return a->alpha < b->alpha ? -1 : 1;
  return (a->seed_index > b->seed_index) - (a->seed_index < b->seed_index);
}

/* Sorts the runs with a known loss into cells; LA_ENOMEM or 0. */
static int make_cells(ctx *c, const la_claim_run *runs, size_t n) {
  c->r = malloc((n ? n : 1) * sizeof *c->r);
  c->cells = malloc((n ? n : 1) * sizeof *c->cells);
  c->tmp = malloc(((size_t)c->nb + n + 1) * sizeof *c->tmp);
  if (c->r == NULL || c->cells == NULL || c->tmp == NULL) return LA_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (isfinite(runs[i].loss)) c->r[c->n++] = runs[i];
  qsort(c->r, c->n, sizeof *c->r, cmp_run);
  for (size_t i = 0; i < c->n; i++) {
    const la_claim_run *p = &c->r[i];
    cell *last = c->n_cells ? &c->cells[c->n_cells - 1] : NULL;
    if (last && last->rank == p->rank && last->lr == p->lr &&
        last->alpha == p->alpha) {
      last->n++;
      continue;
    }
    c->cells[c->n_cells++] = (cell){p->rank, p->lr, p->alpha, i, 1};
  }
  return 0;
}

static int same(double a, double b) {
  return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

/* A step of a 64-bit mix (splitmix64's finaliser after adding v). */
static uint64_t mix(uint64_t h, uint64_t v) {
  h += v + 0x9E3779B97F4A7C15u;
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9u;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBu;
  return h ^ (h >> 31);
}

static uint64_t bits(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

/* The random stream of identity (rank, a, b). */
static void stream(const ctx *c, int rank, uint64_t a, uint64_t b,
                   la_rng *rng) {
  la_rng_init(rng, mix(mix(mix(c->seed, (uint64_t)rank), a), b), CLAIMS_STREAM);
}

/* Sets e's interval from its resamples (exp of the log percentiles). */
static void interval(const ctx *c, est *e) {
  double lo, hi;
  e->lo = e->hi = NAN;
  if (c->nb == 0) return;
  la_fit_interval(e->boot, 1, (size_t)c->nb, c->level, c->tmp, &lo, &hi);
  e->lo = exp(lo), e->hi = exp(hi);
}

/* est with nb resamples all NaN; LA_ENOMEM or 0. */
static int est_init(const ctx *c, est *e) {
  e->v = e->lo = e->hi = NAN;
  e->boot = malloc(((size_t)c->nb + 1) * sizeof *e->boot);
  if (e->boot == NULL) return LA_ENOMEM;
  for (int b = 0; b < c->nb; b++)
    e->boot[b] = NAN;
  return 0;
}

/* ---- claim 1: sharpness ------------------------------------------------- */

/* One cell's sharpness: means of the converged estimates, the ratio. */
typedef struct sharp {
  double lora, full;
  int n, seeds, has, lora_unconv, full_unconv;
  est ratio;
} sharp;

/* The log ratios of cell k's runs into v; their count. */
static int log_ratios(const ctx *c, const cell *k, double *v) {
  int m = 0;
  for (size_t i = k->i0; i < k->i0 + k->n; i++) {
    const la_claim_run *p = &c->r[i];
    if (p->lora > 0 && p->full > 0 && isfinite(p->lora) && isfinite(p->full))
      v[m++] = log(p->lora / p->full);
  }
  return m;
}

/* Cell k's sharpness into s (s->ratio.boot allocated by the caller). */
static void cell_sharp(const ctx *c, const cell *k, sharp *s) {
  double *v = c->tmp + c->nb, sum = 0, sl = 0, sf = 0;
  int nl = 0, nf = 0;
  la_rng rng;
  s->seeds = (int)k->n, s->has = s->lora_unconv = s->full_unconv = 0;
  for (size_t i = k->i0; i < k->i0 + k->n; i++) {
    const la_claim_run *p = &c->r[i];
    s->has += p->has_sharpness;
    s->lora_unconv += p->lora_unconverged,
        s->full_unconv += p->full_unconverged;
    if (isfinite(p->lora)) sl += p->lora, nl++;
    if (isfinite(p->full)) sf += p->full, nf++;
  }
  s->lora = nl ? sl / nl : NAN, s->full = nf ? sf / nf : NAN;
  s->n = log_ratios(c, k, v);
  for (int i = 0; i < s->n; i++)
    sum += v[i];
  s->ratio.v = s->n ? exp(sum / s->n) : NAN;
  if (s->n < 2 || c->nb == 0) return;
  stream(c, k->rank, bits(k->lr), bits(k->alpha), &rng);
  for (int b = 0; b < c->nb; b++) {
    double t = 0;
    for (int i = 0; i < s->n; i++)
      t += v[la_rng_u64(&rng) % (uint64_t)s->n];
    s->ratio.boot[b] = t / s->n;
  }
  interval(c, &s->ratio);
}

/* "lower", "higher" or "" for a ratio against 1 (its interval, or the
 * point value without one). */
static const char *side(const est *e) {
  int ci = isfinite(e->lo) && isfinite(e->hi);
  if (!isfinite(e->v)) return "";
  if (ci ? e->hi < 1 : e->v < 1) return "lower";
  if (ci ? e->lo > 1 : e->v > 1) return "higher";
  return "";
}

/* "0.31× [0.24, 0.4]" or "0.31× (no interval)" into buf. */
static void fmt_ratio(const est *e, char *buf, size_t n) {
  if (isfinite(e->lo) && isfinite(e->hi))
    snprintf(buf, n, "%.3g× [%.3g, %.3g]", e->v, e->lo, e->hi);
  else
    snprintf(buf, n, "%.3g× (no interval)", e->v);
}

/* Adds the ratio fields name, name_lo, name_hi of e to o. */
static void set_est(json_t *o, const char *name, const est *e) {
  char k[48];
  json_object_set_new(o, name, la_json_num(e->v));
  snprintf(k, sizeof k, "%s_lo", name);
  json_object_set_new(o, k, la_json_num(e->lo));
  snprintf(k, sizeof k, "%s_hi", name);
  json_object_set_new(o, k, la_json_num(e->hi));
}

/* A cell's sharpness as JSON. */
static json_t *sharp_json(const cell *k, const sharp *s) {
  json_t *o = json_object();
  json_object_set_new(o, "alpha", json_real(k->alpha));
  json_object_set_new(o, "lora", la_json_num(s->lora));
  json_object_set_new(o, "full", la_json_num(s->full));
  set_est(o, "ratio", &s->ratio);
  json_object_set_new(o, "n", json_integer(s->n));
  json_object_set_new(o, "seeds", json_integer(s->seeds));
  json_object_set_new(o, "lora_unconverged", json_integer(s->lora_unconv));
  json_object_set_new(o, "full_unconverged", json_integer(s->full_unconv));
  return o;
}

/* Why a cell has no ratio (NULL when it has one). */
static json_t *sharp_missing(const sharp *s) {
  if (s->n > 0) return json_null();
  if (s->has == 0)
    return json_string("no sharpness estimate at α* (the runs measured none)");
  if (s->lora_unconv + s->full_unconv > 0)
    return json_sprintf("no converged estimate at α* (%d LoRA and %d full "
                        "estimates of %d runs left out as unconverged)",
                        s->lora_unconv, s->full_unconv, s->seeds);
  return json_string("no positive LoRA and full estimates at α*");
}

/* One rank's claim 1: along alpha at its best lr, and at alpha*. at gets
 * the estimate at alpha* (its boot steals into it). */
static int rank_sharp(const ctx *c, const la_alpha_star *best, json_t *ranks,
                      est *at) {
  json_t *o = json_object(), *along = json_array();
  sharp s, s_at = {0};
  int found = 0;
  at->v = NAN;
  for (size_t i = 0; i < c->n_cells; i++) {
    const cell *k = &c->cells[i];
    if (k->rank != best->rank || !same(k->lr, best->lr)) continue;
    if (est_init(c, &s.ratio)) {
      json_decref(along), json_decref(o);
      return LA_ENOMEM;
    }
    cell_sharp(c, k, &s);
    json_array_append_new(along, sharp_json(k, &s));
    if (same(k->alpha, best->alpha_grid) && !found) {
      found = 1, s_at = s, *at = s.ratio;
      continue;
    }
    free(s.ratio.boot);
  }
  json_object_set_new(o, "rank", json_integer(best->rank));
  json_object_set_new(o, "lr", json_real(best->lr));
  json_object_set_new(o, "alpha_grid", json_real(best->alpha_grid));
  json_object_set_new(o, "alpha", la_json_num(best->alpha));
  json_object_set_new(o, "lora", la_json_num(s_at.lora));
  json_object_set_new(o, "full", la_json_num(s_at.full));
  set_est(o, "ratio", at);
  json_object_set_new(o, "n", json_integer(s_at.n));
  json_object_set_new(o, "side", json_string(side(at)));
  json_object_set_new(o, "missing",
                      found ? sharp_missing(&s_at)
                            : json_string("no runs at α*"));
  json_object_set_new(o, "along_alpha", along);
  json_array_append_new(ranks, o);
  return 0;
}

/* The pooled estimate of the m rank estimates e (finite ones only): the
 * geometric mean and its resamples; counts of lower / higher ranks. */
static void pool(const ctx *c, const est *e, size_t m, est *out, int *n_used,
                 int *n_lower, int *n_higher) {
  double s = 0;
  *n_used = *n_lower = *n_higher = 0;
  for (size_t i = 0; i < m; i++) {
    if (!isfinite(e[i].v)) continue;
    (*n_used)++, s += log(e[i].v);
    *n_lower += strcmp(side(&e[i]), "lower") == 0;
    *n_higher += strcmp(side(&e[i]), "higher") == 0;
  }
  out->v = *n_used ? exp(s / *n_used) : NAN;
  for (int b = 0; b < c->nb && *n_used; b++) {
    double t = 0;
    for (size_t i = 0; i < m; i++)
      if (isfinite(e[i].v)) t += e[i].boot[b];
    out->boot[b] = t / *n_used;
  }
  interval(c, out);
}

/* The verdict of a pooled ratio: "supported" below 1 (lower is what the
 * claim says), "contradicted" above, else undecided. */
static const char *verdict(const est *e, const char *between) {
  const char *s = side(e);
  return !isfinite(e->v)           ? "missing"
         : strcmp(s, "lower") == 0 ? "supported"
         : *s                      ? "contradicted"
                                   : between;
}

/* Claim 1's verdict and text into o. */
static void sharp_verdict(json_t *o, const est *p, int used, int lower,
                          int higher, const char *missing) {
  char r[96];
  const char *v = verdict(p, "undecided");
  json_object_set_new(o, "verdict", json_string(v));
  if (strcmp(v, "missing") == 0) {
    json_object_set_new(o, "missing", json_string(missing));
    json_object_set_new(o, "text",
                        json_sprintf("claim 1 cannot be tested on "
                                     "this sweep: %s",
                                     missing));
    return;
  }
  fmt_ratio(p, r, sizeof r);
  json_object_set_new(o, "missing", json_null());
  json_object_set_new(
      o, "text",
      json_sprintf(
          "at α*, LoRA's sharpness is %s the full weights' (geometric mean "
          "over %d rank%s; lower at %d, higher at %d): %s",
          r, used, used == 1 ? "" : "s", lower, higher,
          strcmp(v, "supported") == 0
              ? "this sweep supports claim 1 (LoRA's landscape is smoother)"
          : strcmp(v, "contradicted") == 0
              ? "this sweep contradicts claim 1 (LoRA's landscape is "
                "sharper than the full weights')"
              : "this sweep cannot tell (the interval holds 1)"));
}

/* Why no rank has a sharpness ratio at alpha*. */
static const char *sharp_why(const ctx *c, const la_analysis *a) {
  int has = 0, unconv = 0;
  if (a == NULL || a->n_stars == 0) return "no α* (no finished runs)";
  for (size_t i = 0; i < c->n; i++)
    has += c->r[i].has_sharpness,
        unconv += c->r[i].lora_unconverged + c->r[i].full_unconverged;
  if (has == 0)
    return "the sweep measured no sharpness (metrics.sharpness is off)";
  if (unconv > 0) return "no converged sharpness estimate at any rank's α*";
  return "no rank has positive LoRA and full sharpness at α*";
}

/* Claim 1 as JSON into *out. */
static int claim_sharp(const ctx *c, const la_analysis *a, json_t **out) {
  json_t *o = json_object(), *ranks = json_array();
  size_t m = 0, cap = c->n_cells + 1;
  est *at = calloc(cap, sizeof *at), p;
  int rc = at == NULL || est_init(c, &p) ? LA_ENOMEM : 0, used, lo, hi;
  for (size_t i = 0; rc == 0 && i < c->n_cells; i++) {
    const la_alpha_star *best;
    if (i > 0 && c->cells[i].rank == c->cells[i - 1].rank) continue;
    best = a ? la_joint_best(a, c->cells[i].rank) : NULL;
    if (best == NULL || !isfinite(best->loss)) continue;
    rc = rank_sharp(c, best, ranks, &at[m]);
    m += rc == 0;
  }
  if (rc == 0) {
    pool(c, at, m, &p, &used, &lo, &hi);
    json_object_set_new(o, "claim", json_integer(1));
    json_object_set_new(o, "ranks", ranks), ranks = NULL;
    set_est(o, "ratio", &p);
    json_object_set_new(o, "n_ranks", json_integer(used));
    json_object_set_new(o, "n_lower", json_integer(lo));
    json_object_set_new(o, "n_higher", json_integer(hi));
    sharp_verdict(o, &p, used, lo, hi, sharp_why(c, a));
    *out = o, o = NULL;
  }
  for (size_t i = 0; at && i < m; i++)
    free(at[i].boot);
  if (at) free(p.boot);
  free(at);
  json_decref(ranks), json_decref(o);
  return rc;
}

/* ---- claim 2: drift along alpha and along lr ---------------------------- */

enum { M_DRIFT, M_MECH, N_METRIC };
static const char *const k_metric_key[N_METRIC] = {"drift_ratio", "mech_ratio"};
static const char *const k_metric_name[N_METRIC] = {"drift ratio",
                                                    "mechanism ratio"};

static double metric(const la_claim_run *p, int m) {
  return m == M_DRIFT ? p->drift_ratio : p->mech_ratio;
}

/* A rank's two paths: cells k[0] (the base), k[1 .. na) the alpha path,
 * k[na .. na + nl - 1) the lr path. */
typedef struct paths {
  const cell **k;
  int na, nl, nk;
} paths;

/* Mean loss L and mean metric M (m; -1: loss only, M the drift ratio's
 * mean over the runs that have one) of every cell of ps, over the runs
 * with both known, resampled when rng is not NULL. NaN: no such run. */
static void path_means(const ctx *c, const paths *ps, int m, la_rng *rng,
                       double *L, double *M) {
  for (int j = 0; j < ps->nk; j++) {
    const cell *k = ps->k[j];
    size_t *idx = (size_t *)(void *)(c->tmp + c->nb), nv = 0;
    double sl = 0, sm = 0;
    int nm = 0;
    for (size_t i = k->i0; i < k->i0 + k->n; i++)
      if (m < 0 || isfinite(metric(&c->r[i], m))) idx[nv++] = i;
    for (size_t t = 0; t < nv; t++) {
      size_t i = rng ? idx[la_rng_u64(rng) % nv] : idx[t];
      double x = metric(&c->r[i], m < 0 ? M_DRIFT : m);
      sl += c->r[i].loss;
      if (isfinite(x)) sm += x, nm++;
    }
    L[j] = nv ? sl / (double)nv : NAN;
    M[j] = nm ? sm / nm : NAN;
  }
}

/* Path j (0: alpha, 1: lr) of ps as index into L / M: point t of it. */
static int pidx(const paths *ps, int j, int t) {
  return t == 0 ? 0 : j == 0 ? t : ps->na - 1 + t;
}

static int plen(const paths *ps, int j) {
  return j == 0 ? ps->na : ps->nl;
}

/* The way down of path j: its points up to its lowest mean loss (the
 * first), stopping before a point without data; its length. */
static int way_down(const paths *ps, int j, const double *L, const double *M,
                    int use_m) {
  int best = 0, t;
  for (t = 1; t < plen(ps, j); t++) {
    int i = pidx(ps, j, t);
    if (!isfinite(L[i]) || (use_m && !isfinite(M[i]))) break;
    if (L[i] < L[pidx(ps, j, best)]) best = t;
  }
  return best + 1;
}

/* Path j's metric at loss change dc (0 < dc <= its largest change). */
static double value_at(const paths *ps, int j, int len, const double *L,
                       const double *M, double dc) {
  for (int t = 1; t < len; t++) {
    int i = pidx(ps, j, t), h = pidx(ps, j, t - 1);
    double d1 = L[0] - L[i], d0 = L[0] - L[h];
    if (d1 < dc) continue;
    double w = d1 > d0 ? (dc - d0) / (d1 - d0) : 1;
    return M[h] + fmax(0, fmin(1, w)) * (M[i] - M[h]);
  }
  return NAN;
}

/* The comparison of one metric at one resample. */
typedef struct cmp {
  double dc, va, vl, vb; /* loss change; values on both paths; base */
  double ratio, fa, fl;  /* va / vl, va / vb, vl / vb */
  int down_a, down_l;    /* points on each way down */
} cmp;

static void compare(const paths *ps, const double *L, const double *M, cmp *r) {
  r->down_a = way_down(ps, 0, L, M, 1), r->down_l = way_down(ps, 1, L, M, 1);
  r->dc = r->va = r->vl = r->ratio = r->fa = r->fl = NAN, r->vb = M[0];
  if (r->down_a < 2 || r->down_l < 2 || !isfinite(L[0])) return;
  r->dc = fmin(L[0] - L[pidx(ps, 0, r->down_a - 1)],
               L[0] - L[pidx(ps, 1, r->down_l - 1)]);
  r->va = value_at(ps, 0, r->down_a, L, M, r->dc);
  r->vl = value_at(ps, 1, r->down_l, L, M, r->dc);
  if (r->vl > 0) r->ratio = r->va / r->vl;
  if (r->vb > 0) r->fa = r->va / r->vb, r->fl = r->vl / r->vb;
}

static double safe_log(double x) {
  return x > 0 && isfinite(x) ? log(x) : NAN;
}

/* Why metric m has no comparison at a rank with paths ps. */
static json_t *cmp_missing(const ctx *c, const paths *ps, int m, const cmp *r) {
  int has = 0;
  for (int j = 0; j < ps->nk; j++)
    for (size_t i = ps->k[j]->i0; i < ps->k[j]->i0 + ps->k[j]->n; i++)
      has += isfinite(metric(&c->r[i], m));
  if (!has)
    return json_sprintf("no %s recorded%s", k_metric_name[m],
                        m == M_DRIFT
                            ? " (the task has no known target, or "
                              "the runs logged no signal and drift)"
                            : " (the runs logged no signal and drift)");
  if (r->down_a < 2)
    return json_sprintf("raising α from %g at lr %g does not lower the loss",
                        ps->k[0]->alpha, ps->k[0]->lr);
  if (r->down_l < 2)
    return json_sprintf("raising lr from %g at α %g does not lower the loss",
                        ps->k[0]->lr, ps->k[0]->alpha);
  return json_sprintf("the %s at the base or on the lr path is not positive",
                      k_metric_name[m]);
}

/* "less", "more" or "same" for a rank's ratio. */
static const char *rank_side(const est *e) {
  const char *s = side(e);
  return !isfinite(e->v)           ? "missing"
         : strcmp(s, "lower") == 0 ? "less"
         : *s                      ? "more"
                                   : "same";
}

/* Metric m at the rank of ps: the comparison and its intervals as JSON;
 * e gets the ratio (its resamples stay in e->boot). */
static int rank_metric(const ctx *c, const paths *ps, int m, est *e,
                       json_t **out) {
  int K = ps->nk;
  double *L = malloc(2 * (size_t)K * sizeof *L), *M = L ? L + K : NULL;
  est fa, fl;
  cmp r, rb;
  la_rng rng;
  if (L == NULL) return LA_ENOMEM;
  if (est_init(c, &fa) || est_init(c, &fl)) {
    free(fa.boot), free(L);
    return LA_ENOMEM;
  }
  path_means(c, ps, m, NULL, L, M);
  compare(ps, L, M, &r);
  e->v = r.ratio, fa.v = r.fa, fl.v = r.fl;
  stream(c, ps->k[0]->rank, 0xC1A12u, (uint64_t)m, &rng);
  for (int b = 0; b < c->nb && isfinite(r.ratio); b++) {
    path_means(c, ps, m, &rng, L, M);
    compare(ps, L, M, &rb);
    e->boot[b] = safe_log(rb.ratio);
    fa.boot[b] = safe_log(rb.fa), fl.boot[b] = safe_log(rb.fl);
  }
  if (isfinite(r.ratio)) interval(c, e), interval(c, &fa), interval(c, &fl);
  json_t *o = json_object();
  json_object_set_new(o, "loss_change", la_json_num(r.dc));
  json_object_set_new(o, "base", la_json_num(r.vb));
  json_object_set_new(o, "alpha_value", la_json_num(r.va));
  json_object_set_new(o, "lr_value", la_json_num(r.vl));
  set_est(o, "ratio", e);
  set_est(o, "alpha_fold", &fa);
  set_est(o, "lr_fold", &fl);
  json_object_set_new(o, "side", json_string(rank_side(e)));
  json_object_set_new(o, "missing",
                      isfinite(r.ratio) ? json_null()
                                        : cmp_missing(c, ps, m, &r));
  *out = o;
  free(fa.boot), free(fl.boot), free(L);
  return 0;
}

/* The points of path j (alpha or lr) as JSON, with "down" marking the way
 * down (by the loss over every run). */
static int path_json(const ctx *c, const paths *ps, int j, json_t *arr) {
  double *L = malloc(2 * (size_t)ps->nk * sizeof *L), *M;
  if (L == NULL) return LA_ENOMEM;
  M = L + ps->nk;
  path_means(c, ps, -1, NULL, L, M);
  int down = way_down(ps, j, L, M, 0);
  for (int t = 0; t < plen(ps, j); t++) {
    const cell *k = ps->k[pidx(ps, j, t)];
    double dr, mr;
    paths one = {&k, 1, 1, 1};
    path_means(c, &one, M_DRIFT, NULL, &dr, &dr);
    path_means(c, &one, M_MECH, NULL, &mr, &mr);
    json_array_append_new(
        arr, json_pack("{s:f, s:f, s:i, s:o, s:o, s:o, s:o, s:b}", "alpha",
                       k->alpha, "lr", k->lr, "seeds", (int)k->n, "loss",
                       la_json_num(L[pidx(ps, j, t)]), "loss_change",
                       la_json_num(L[0] - L[pidx(ps, j, t)]), "drift_ratio",
                       la_json_num(dr), "mech_ratio", la_json_num(mr), "down",
                       t < down));
  }
  free(L);
  return 0;
}

/* The paths of the rank whose first cell is cells[i0]: the alpha path at
 * its smallest lr and the lr path at that lr's smallest alpha. ps->k is
 * new. */
static int find_paths(const ctx *c, size_t i0, paths *ps) {
  const cell *base = &c->cells[i0];
  size_t e = i0;
  while (e < c->n_cells && c->cells[e].rank == base->rank)
    e++;
  ps->k = malloc((e - i0 + 1) * sizeof *ps->k);
  if (ps->k == NULL) return LA_ENOMEM;
  ps->na = ps->nk = 0;
  for (size_t i = i0; i < e && c->cells[i].lr == base->lr; i++)
    ps->k[ps->nk++] = &c->cells[i], ps->na++;
  ps->nl = 1;
  for (size_t i = i0 + (size_t)ps->na; i < e; i++)
    if (same(c->cells[i].alpha, base->alpha))
      ps->k[ps->nk++] = &c->cells[i], ps->nl++;
  return 0;
}

/* One rank's claim 2 into ranks; e[m] gets metric m's ratio. */
static int rank_drift(const ctx *c, size_t i0, json_t *ranks, est *e) {
  paths ps = {0};
  json_t *o, *pa = json_array(), *pl = json_array();
  int rc = find_paths(c, i0, &ps);
  if (rc == 0) rc = path_json(c, &ps, 0, pa);
  if (rc == 0) rc = path_json(c, &ps, 1, pl);
  o = json_pack("{s:i, s:f, s:f, s:o, s:o}", "rank", ps.k ? ps.k[0]->rank : 0,
                "lr", c->cells[i0].lr, "alpha", c->cells[i0].alpha,
                "along_alpha", pa, "along_lr", pl);
  for (int m = 0; rc == 0 && m < N_METRIC; m++) {
    json_t *x = NULL;
    if (ps.na < 2 || ps.nl < 2) {
      x = json_pack("{s:s}", "side", "missing");
      json_object_set_new(
          x, "missing",
          ps.na < 2
              ? json_sprintf("one α only at lr %g", c->cells[i0].lr)
              : json_sprintf("α %g was tested at one lr only", ps.k[0]->alpha));
    } else {
      rc = rank_metric(c, &ps, m, &e[m], &x);
    }
    if (x) json_object_set_new(o, k_metric_key[m], x);
  }
  json_array_append_new(ranks, o);
  free(ps.k);
  return rc;
}

/* Metric m's pooled comparison across ranks as JSON. */
static json_t *metric_pooled(const ctx *c, const est *e, size_t m_ranks, int m,
                             const char *missing) {
  est p;
  int used, less, more;
  char r[96];
  json_t *o = json_object();
  if (est_init(c, &p)) return json_decref(o), NULL;
  pool(c, e, m_ranks, &p, &used, &less, &more);
  const char *v = verdict(&p, "alike");
  set_est(o, "ratio", &p);
  json_object_set_new(o, "n_ranks", json_integer(used));
  json_object_set_new(o, "n_less", json_integer(less));
  json_object_set_new(o, "n_more", json_integer(more));
  json_object_set_new(o, "verdict", json_string(v));
  fmt_ratio(&p, r, sizeof r);
  json_object_set_new(o, "missing", used ? json_null() : json_string(missing));
  json_object_set_new(
      o, "text",
      !used ? json_string(missing)
            : json_sprintf(
                  "for the same loss change, raising α gave %s the %s that "
                  "raising lr gave (geometric mean over %d rank%s; less at "
                  "%d, more at %d): %s",
                  r, k_metric_name[m], used, used == 1 ? "" : "s", less, more,
                  strcmp(v, "supported") == 0
                      ? "raising α acts differently from raising lr, as "
                        "claim 2 says"
                  : strcmp(v, "contradicted") == 0
                      ? "raising α costs more than raising lr, against "
                        "claim 2"
                      : "raising α acts like raising lr here (the interval "
                        "holds 1)"));
  free(p.boot);
  return o;
}

/* Why claim 2 has no comparison at all (given the sweep's shape). */
static const char *drift_why(const ctx *c, int any_paths, int m) {
  size_t n_lr = 0;
  for (size_t i = 0; i < c->n_cells; i++) {
    int dup = 0;
    for (size_t j = 0; j < i && !dup; j++)
      dup = same(c->cells[j].lr, c->cells[i].lr);
    n_lr += !dup;
  }
  if (c->n == 0) return "no finished runs";
  if (n_lr < 2)
    return "one lr only: claim 2 needs a sweep over lr as well as α";
  if (!any_paths)
    return "no rank was tested at 2 or more α at its smallest lr and at 2 "
           "or more lrs at that lr's smallest α";
  return m == M_DRIFT ? "no rank has a drift ratio on both paths at a shared "
                        "loss change (see the ranks' missing)"
                      : "no rank has a mechanism ratio on both paths at a "
                        "shared loss change (see the ranks' missing)";
}

/* Claim 2's verdict and text from its metrics' pooled objects. */
static void drift_verdict(json_t *o, json_t *mt[N_METRIC]) {
  int p = json_integer_value(json_object_get(mt[M_DRIFT], "n_ranks")) > 0
              ? M_DRIFT
              : M_MECH,
      q = 1 - p;
  const char *v = json_string_value(json_object_get(mt[p], "verdict"));
  const char *t = json_string_value(json_object_get(mt[p], "text"));
  json_object_set_new(o, "verdict", json_string(v));
  json_object_set_new(o, "missing",
                      json_deep_copy(json_object_get(mt[p], "missing")));
  if (strcmp(v, "missing") == 0)
    json_object_set_new(
        o, "text",
        json_sprintf("claim 2 cannot be tested on this sweep: %s", t));
  else if (json_integer_value(json_object_get(mt[q], "n_ranks")) > 0)
    json_object_set_new(
        o, "text",
        json_sprintf("%s; the %s: %.3g× (%s)", t, k_metric_name[q],
                     json_real_value(json_object_get(mt[q], "ratio")),
                     json_string_value(json_object_get(mt[q], "verdict"))));
  else
    json_object_set_new(o, "text", json_string(t));
}

/* Claim 2 as JSON into *out. */
static int claim_drift(const ctx *c, json_t **out) {
  json_t *o = json_object(), *ranks = json_array(), *mt[N_METRIC] = {0};
  size_t nr = 0;
  est *e = calloc((c->n_cells + 1) * N_METRIC, sizeof *e);
  int rc = e == NULL ? LA_ENOMEM : 0, any = 0;
  for (size_t i = 0; rc == 0 && i < c->n_cells; i++) {
    if (i > 0 && c->cells[i].rank == c->cells[i - 1].rank) continue;
    for (int m = 0; m < N_METRIC && rc == 0; m++)
      rc = est_init(c, &e[nr * N_METRIC + m]);
    if (rc == 0) rc = rank_drift(c, i, ranks, &e[nr * N_METRIC]);
    nr++;
    json_t *last = json_array_get(ranks, json_array_size(ranks) - 1);
    any |= json_array_size(json_object_get(last, "along_alpha")) > 1 &&
           json_array_size(json_object_get(last, "along_lr")) > 1;
  }
  for (int m = 0; rc == 0 && m < N_METRIC; m++) {
    est *em = malloc((nr + 1) * sizeof *em);
    if (em == NULL) {
      rc = LA_ENOMEM;
      break;
    }
    for (size_t i = 0; i < nr; i++)
      em[i] = e[i * N_METRIC + m];
    mt[m] = metric_pooled(c, em, nr, m, drift_why(c, any, m));
    free(em);
    if (mt[m] == NULL) rc = LA_ENOMEM;
  }
  if (rc == 0) {
    json_object_set_new(o, "claim", json_integer(2));
    json_object_set_new(o, "ranks", ranks), ranks = NULL;
    for (int m = 0; m < N_METRIC; m++)
      json_object_set(o, k_metric_key[m], mt[m]);
    drift_verdict(o, mt);
    *out = o, o = NULL;
  }
  for (size_t i = 0; e && i < (c->n_cells + 1) * N_METRIC; i++)
    free(e[i].boot);
  for (int m = 0; m < N_METRIC; m++)
    json_decref(mt[m]);
  free(e);
  json_decref(ranks), json_decref(o);
  return rc;
}

/* ---- entry -------------------------------------------------------------- */

int la_claims_compute(const la_analysis *a, const la_claim_run *runs, size_t n,
                      const la_claims_opts *o, json_t **out, la_err *err) {
  ctx c = {0};
  json_t *sh = NULL, *dr = NULL;
  int rc;
  if (out) *out = NULL;
  if ((runs == NULL && n > 0) || o == NULL || out == NULL ||
      !(o->level > 0 && o->level < 1))
    return la_errf(err, LA_EINVAL,
                   "claims: runs, options and an output are needed, and "
                   "0 < level < 1");
  c.nb = o->n_boot >= 2 ? o->n_boot : 0, c.level = o->level, c.seed = o->seed;
  rc = make_cells(&c, runs, n);
  if (rc == 0) rc = claim_sharp(&c, a, &sh);
  if (rc == 0) rc = claim_drift(&c, &dr);
  if (rc == 0) {
    *out = json_pack("{s:o, s:o, s:n}", "sharpness", sh, "drift", dr, "law");
    sh = dr = NULL;
    if (*out == NULL) rc = LA_ENOMEM;
  }
  json_decref(sh), json_decref(dr);
  free(c.r), free(c.cells), free(c.tmp);
  if (rc) return la_errf(err, rc, "claims: out of memory");
  return 0;
}
