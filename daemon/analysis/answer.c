/*
 * answer.c: the answer for a rank from an analysis (see answer.h and
 * docs/analysis.md, "The answer").
 *
 * Decisions the contract leaves open:
 *  - An lr asked for matches the sweep's closest lr within 1e-5 relative,
 *    so an lr copied from a message printed with 6 digits still matches.
 *  - Ties: between lrs with the same best loss the smaller lr; between two
 *    tested ranks equally near (in log r) an untested one, the larger.
 *  - The law's interval at rank r is the percentile interval (type 7, at
 *    the analysis' level) of c_b r^p_b over the bootstrap's refits
 *    (la_analysis.law_boot), as fit.c takes c's: for the sqrt(r) law it is
 *    exactly [c_lo, c_hi] sqrt(r).
 *  - A measured answer's loss is the mean loss at the best grid alpha, the
 *    loss fit.c's regret is taken against, so its rules' loss_pct is
 *    100 x regret. An untested rank's rules read the reference curve at
 *    alpha_rule x alpha_grid0 / alpha (alpha_grid0: the reference rank's
 *    best grid alpha, alpha: the answer): linear in log alpha between grid
 *    points, NaN outside the grid, +Inf at a diverged grid point. The
 *    reference is the nearest tested rank at the lr whose alpha* is not at
 *    the grid's edge (at an edge the curve's minimum is not in the grid,
 *    so the normalisation would understate every loss) and whose best loss
 *    is finite and positive.
 */
#include "analysis/answer.h"

#include "analysis/joint.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LR_TOL 1e-5    /* an lr asked for matches within this, relative */
#define GRID_TOL 1e-12 /* as fit.c: a log alpha this close is a grid point */

/* The mean loss at every grid alpha of one (lr, rank), ascending. */
typedef struct curve {
  int n;
  double *x; /* log alpha */
  double *m; /* mean loss (+Inf when one of its runs diverged) */
} curve;

const char *la_answer_source_name(la_answer_source s) {
  return s == LA_ANSWER_MEASURED   ? "measured"
         : s == LA_ANSWER_LAW_SQRT ? "law_sqrt"
                                   : "law_free";
}

/* ---- looking things up in the analysis ---------------------------------- */

/* The alpha* of (lr, rank), or NULL. */
static const la_alpha_star *find_star(const la_analysis *a, double lr,
                                      int rank) {
  for (size_t i = 0; i < a->n_stars; i++)
    if (a->stars[i].lr == lr && a->stars[i].rank == rank) return &a->stars[i];
  return NULL;
}

/* The index in a->fits of the fit of lr with method m, or -1. */
static long find_fit(const la_analysis *a, double lr, int m) {
  for (size_t i = 0; i < a->n_fits; i++)
    if (a->fits[i].lr == lr && a->fits[i].method == m) return (long)i;
  return -1; /* an index: none */
}

/* The sweep's lr closest to lr within LR_TOL (relative), or NaN. */
static double match_lr(const la_analysis *a, double lr) {
  double best = NAN, d = INFINITY;
  for (size_t i = 0; i < a->n_fits; i++) {
    double e = fabs(a->fits[i].lr - lr);
    if (e <= LR_TOL * lr && e < d) best = a->fits[i].lr, d = e;
  }
  return best;
}

/* The error for an lr that is not in the sweep, listing the sweep's. */
static int lr_not_in_sweep(const la_analysis *a, double lr, la_err *err) {
  char list[512];
  size_t len = 0;
  list[0] = 0;
  for (size_t i = 0; i < a->n_fits && len + 40 < sizeof list; i++) {
    if (a->fits[i].method != 0) continue;
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%.6g",
                            len ? ", " : "", a->fits[i].lr);
  }
  return la_errf(err, LA_EINVAL,
                 "lr %.6g is not in the sweep: its lrs are %s (omit lr for "
                 "the one with the lowest loss)",
                 lr, len ? list : "none");
}

/* Smallest and largest rank tested at lr (0, 0 when none). */
static void rank_span(const la_analysis *a, double lr, int *lo, int *hi) {
  *lo = *hi = 0;
  for (size_t i = 0; i < a->n_stars; i++) {
    const la_alpha_star *s = &a->stars[i];
    if (s->lr != lr) continue;
    if (*lo == 0 || s->rank < *lo) *lo = s->rank;
    if (s->rank > *hi) *hi = s->rank;
  }
}

/* Is tested rank r nearer rank (in log r) than best (0: none yet)? */
static int nearer(int r, int best, int rank) {
  double d = fabs(log((double)r / rank)), db;
  if (best == 0) return 1;
  db = fabs(log((double)best / rank));
  return d < db - 1e-12 || (d <= db + 1e-12 && r > best);
}

/* The tested rank nearest rank, at lr (NaN: any lr); 0 when none. With
 * inside, only ranks whose alpha* is inside the grid and whose best loss
 * is finite and positive. */
static int nearest_rank(const la_analysis *a, double lr, int rank, int inside) {
  int best = 0;
  for (size_t i = 0; i < a->n_stars; i++) {
    const la_alpha_star *s = &a->stars[i];
    if (!isnan(lr) && s->lr != lr) continue;
    if (inside && (s->at_edge || !(s->loss > 0) || !isfinite(s->loss)))
      continue;
    if (nearer(s->rank, best, rank)) best = s->rank;
  }
  return best;
}

/* ---- the law ------------------------------------------------------------ */

/* The law of lr the data support (see answer.h): its index in a->fits and
 * source, with the reason in why; -1 when lr has no law at all. */
static long pick_law(const la_analysis *a, double lr, la_answer_source *src,
                     char *why, size_t n) {
  long kf = find_fit(a, lr, 0), ks = find_fit(a, lr, 1);
  const la_law_fit *F = kf >= 0 ? &a->fits[kf] : NULL;
  int have_sqrt = ks >= 0 && isfinite(a->fits[ks].c);
  *src = LA_ANSWER_LAW_SQRT;
  if (F != NULL && isfinite(F->c) && isfinite(F->p_lo) && isfinite(F->p_hi)) {
    int holds = F->p_lo <= 0.5 && 0.5 <= F->p_hi;
    snprintf(why, n,
             "the free fit's p = %.3g [%.3g, %.3g] %s 0.5, so %s is used", F->p,
             F->p_lo, F->p_hi, holds ? "holds" : "excludes",
             holds ? "the sqrt(r) law (one parameter fewer, as good a fit)"
                   : "the free fit c*r^p (the data rule sqrt(r) out)");
    if (!holds || !have_sqrt) *src = LA_ANSWER_LAW_FREE;
    return holds && have_sqrt ? ks : kf;
  }
  if (!have_sqrt) return -1; /* an index: none */
  if (F != NULL && isfinite(F->c))
    snprintf(why, n,
             "the free fit's p = %.3g has no interval (one seed per grid "
             "point, or no bootstrap), so nothing rules sqrt(r) out and the "
             "sqrt(r) law is used",
             F->p);
  else
    snprintf(why, n,
             "only %d ranks' alpha* are inside the grid and well "
             "determined: the free fit needs 3 (its parameters + 1), so the "
             "sqrt(r) law is assumed",
             a->fits[ks].n_used);
  return ks;
}

/* qsort order of doubles. */
static int cmp_double(const void *pa, const void *pb) {
  double x = *(const double *)pa, y = *(const double *)pb;
  return x < y ? -1 : x > y ? 1 : 0;
}

/* The percentile interval of c_b rank^p_b over law k's refits; NaN bounds
 * without any. Returns 0 or LA_ENOMEM. */
static int law_interval(const la_analysis *a, long k, int rank, double level,
                        double *lo, double *hi) {
  size_t nb = a->n_boot;
  double *v;
  *lo = *hi = NAN;
  if (nb == 0 || a->law_boot == NULL) return 0;
  if ((v = malloc(2 * nb * sizeof *v)) == NULL) return LA_ENOMEM;
  for (size_t b = 0; b < nb; b++) {
    const double *cp = a->law_boot + 2 * ((size_t)k * nb + b);
    double x = cp[0] * pow(rank, cp[1]);
    v[b] = isfinite(x) ? x : NAN; /* left out */
  }
  la_fit_interval(v, 1, nb, level, v + nb, lo, hi);
  free(v);
  return 0;
}

/* ---- loss curves -------------------------------------------------------- */

static void curve_free(curve *c) {
  free(c->x);
  free(c->m);
  c->x = c->m = NULL;
  c->n = 0;
}

/* qsort order of (alpha, loss) pairs by alpha. */
static int cmp_pair(const void *pa, const void *pb) {
  return cmp_double(pa, pb);
}

/* The curve of (lr, rank) from the points: the mean loss at each alpha.
 * Returns 0 (an empty curve when no point matches) or LA_ENOMEM. */
static int build_curve(const la_fit_point *pts, size_t n, double lr, int rank,
                       curve *c) {
  size_t k = 0;
  double *pair = malloc(2 * (n ? n : 1) * sizeof *pair);
  c->n = 0;
  c->x = malloc((n ? n : 1) * sizeof *c->x);
  c->m = malloc((n ? n : 1) * sizeof *c->m);
  if (pair == NULL || c->x == NULL || c->m == NULL) {
    free(pair);
    curve_free(c);
    return LA_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    if (pts[i].lr == lr && pts[i].rank == rank)
      pair[2 * k] = pts[i].alpha, pair[2 * k + 1] = pts[i].loss, k++;
  qsort(pair, k, 2 * sizeof *pair, cmp_pair);
  for (size_t i = 0; i < k;) {
    size_t j = i;
    double s = 0;
    for (; j < k && pair[2 * j] == pair[2 * i]; j++)
      s += pair[2 * j + 1];
    c->x[c->n] = log(pair[2 * i]), c->m[c->n++] = s / (double)(j - i);
    i = j;
  }
  free(pair);
  return 0;
}

/* The curve's mean loss at alpha, as fit.c reads it: a grid point's mean,
 * else linear in log alpha between its neighbours; NaN outside the grid or
 * next to a +Inf mean. */
static double curve_at(const curve *c, double alpha) {
  double x = log(alpha);
  for (int i = 0; i < c->n; i++)
    if (fabs(x - c->x[i]) <= GRID_TOL * fmax(1.0, fabs(c->x[i])))
      return c->m[i];
  for (int i = 0; i + 1 < c->n; i++) {
    if (!(x > c->x[i] && x < c->x[i + 1])) continue;
    if (!isfinite(c->m[i]) || !isfinite(c->m[i + 1])) return NAN;
    double t = (x - c->x[i]) / (c->x[i + 1] - c->x[i]);
    return c->m[i] + t * (c->m[i + 1] - c->m[i]);
  }
  return NAN;
}

/* Why a rule's loss read at alpha off c is not a number. */
static const char *rule_note(const curve *c, double alpha, double pct) {
  double x = log(alpha);
  if (pct == INFINITY) return "its runs diverged";
  if (c->n == 0 || x < c->x[0] - GRID_TOL || x > c->x[c->n - 1] + GRID_TOL)
    return "its alpha is outside the grid";
  return "a run next to its alpha diverged";
}

/* ---- rules -------------------------------------------------------------- */

/* fit.c's regret of rule k at (lr, rank), or NULL. */
static const la_regret *find_regret(const la_analysis *a, double lr, int rank,
                                    int k) {
  for (size_t i = 0; i < a->n_regrets; i++) {
    const la_regret *r = &a->regrets[i];
    if (r->lr == lr && r->rank == rank && r->rule == k) return r;
  }
  return NULL;
}

/* The rules of a measured answer: fit.c's regret in percent. */
static void measured_rules(const la_analysis *a, const curve *c,
                           la_answer *ans) {
  size_t nh;
  const la_heuristic *h = la_fit_heuristics(&nh);
  for (size_t k = 0; k < nh && k < LA_ANSWER_MAX_RULES; k++) {
    const la_regret *r = find_regret(a, ans->lr, ans->rank, (int)k);
    la_answer_rule *R = &ans->rules[ans->n_rules++];
    R->name = h[k].name;
    R->alpha = r ? r->alpha : NAN;
    R->loss_pct = r ? 100 * r->regret : NAN;
    R->note = NULL;
    if (!(ans->loss > 0) || !isfinite(ans->loss))
      R->note = "the answer's loss is not a finite positive number";
    else if (!isfinite(R->loss_pct))
      R->note = rule_note(c, R->alpha, R->loss_pct);
  }
}

/* Why a rule's loss read at alpha off the reference curve c is not a
 * number. */
static const char *shifted_note(const curve *c, double alpha, double pct) {
  double x = log(alpha);
  if (pct == INFINITY) return "runs diverged there on the reference curve";
  if (c->n == 0 || x < c->x[0] - GRID_TOL || x > c->x[c->n - 1] + GRID_TOL)
    return "shifted to this rank, it falls outside the reference rank's grid";
  return "a run next to it diverged on the reference curve";
}

/* The rules of a law answer, read off the reference curve c (best grid
 * alpha g0, best loss b0; c->n == 0: no reference rank). */
static void law_rules(const curve *c, double g0, double b0, double power,
                      la_answer *ans) {
  size_t nh;
  const la_heuristic *h = la_fit_heuristics(&nh);
  for (size_t k = 0; k < nh && k < LA_ANSWER_MAX_RULES; k++) {
    la_answer_rule *R = &ans->rules[ans->n_rules++];
    double at;
    R->name = h[k].name;
    R->alpha = h[k].coef * pow(ans->rank, h[k].power + power);
    R->loss_pct = NAN;
    R->note = NULL;
    if (c->n == 0 || !isfinite(ans->alpha)) {
      R->note = "no tested rank at this lr has its alpha* inside the grid "
                "to borrow a loss curve from";
      continue;
    }
    at = R->alpha * g0 / ans->alpha;
    R->loss_pct = 100 * (curve_at(c, at) / b0 - 1);
    if (!isfinite(R->loss_pct)) R->note = shifted_note(c, at, R->loss_pct);
  }
}

/* ---- the answer's words ------------------------------------------------- */

/* An alpha as people write it: 180, 35.1, 1226. */
static void fmt_alpha(char *out, size_t n, double x) {
  if (!isfinite(x))
    snprintf(out, n, "?");
  else if (fabs(x) >= 100)
    snprintf(out, n, "%.0f", x);
  else
    snprintf(out, n, "%.3g", x);
}

/* A percentage as people say it: ~0%, ~0.4%, ~4.1%, ~148%. */
static void fmt_pct(char *out, size_t n, double p) {
  if (p < 0.05)
    snprintf(out, n, "~0%%");
  else if (p < 9.95)
    snprintf(out, n, "~%.1f%%", p);
  else
    snprintf(out, n, "~%.0f%%", p);
}

/* A rule's name in words: "α = 2r". */
static const char *rule_words(const char *name) {
  if (strcmp(name, "alpha=r") == 0) return "α = r";
  if (strcmp(name, "alpha=2r") == 0) return "α = 2r";
  if (strcmp(name, "rslora16") == 0) return "rsLoRA α = 16";
  return name;
}

/* The source's tag in the one-line answer. */
static void source_tag(const la_answer *ans, char *out, size_t n) {
  size_t len = 0;
  if (ans->source == LA_ANSWER_MEASURED) {
    la_appendf(out, n, &len, "measured%s%s",
               ans->at_edge ? ", at the grid's edge" : "",
               ans->ill_determined ? ", ill-determined" : "");
    return;
  }
  if (ans->source == LA_ANSWER_LAW_SQRT)
    la_appendf(out, n, &len, "√r law");
  else
    la_appendf(out, n, &len, "law c·r^%.2f",
               ans->free_fit ? ans->free_fit->p : NAN);
  la_appendf(out, n, &len, "%s%s", ans->extrapolated ? ", extrapolated" : "",
             ans->poor_fit ? ", poor fit" : "");
}

/* The one-line answer into ans->text. */
static void answer_text(la_answer *ans) {
  char a[32], lo[32], hi[32], tag[96], pct[32];
  size_t len = 0, n = sizeof ans->text;
  int said = 0, first = 1;
  fmt_alpha(a, sizeof a, ans->alpha);
  fmt_alpha(lo, sizeof lo, ans->alpha_lo);
  fmt_alpha(hi, sizeof hi, ans->alpha_hi);
  source_tag(ans, tag, sizeof tag);
  la_appendf(ans->text, n, &len, "rank %d: α ≈ %s", ans->rank, a);
  if (isfinite(ans->alpha_lo) && isfinite(ans->alpha_hi))
    la_appendf(ans->text, n, &len, " [%s, %s]", lo, hi);
  la_appendf(ans->text, n, &len, " at lr %g (%s)", ans->lr, tag);
  for (size_t k = 0; k < ans->n_rules; k++) {
    const la_answer_rule *R = &ans->rules[k];
    if (isnan(R->loss_pct)) continue;
    la_appendf(ans->text, n, &len, "%s%s", first ? "; " : ", ",
               rule_words(R->name));
    first = 0;
    if (R->loss_pct == INFINITY) {
      la_appendf(ans->text, n, &len, " diverges");
      continue;
    }
    fmt_pct(pct, sizeof pct, R->loss_pct);
    la_appendf(ans->text, n, &len, "%s %s", said ? "" : " would lose", pct);
    said = 1;
  }
}

/* ---- the two kinds of answer -------------------------------------------- */

/* The lr with the lowest best loss at rank among those (all when
 * need_law is 0: the joint optimum's, joint.h) whose law exists; NaN when
 * none. */
static double best_lr(const la_analysis *a, int rank, int need_law) {
  const la_alpha_star *best = NULL;
  if (!need_law) {
    best = la_joint_best(a, rank);
    return best ? best->lr : NAN;
  }
  for (size_t i = 0; i < a->n_stars; i++) {
    const la_alpha_star *s = &a->stars[i];
    long k = find_fit(a, s->lr, 1);
    if (s->rank != rank) continue;
    if (need_law && (k < 0 || !isfinite(a->fits[k].c))) continue;
    if (best == NULL || s->loss < best->loss) best = s;
  }
  return best ? best->lr : NAN;
}

/* How many lrs tested rank. */
static int lrs_at(const la_analysis *a, int rank) {
  int n = 0;
  for (size_t i = 0; i < a->n_stars; i++)
    n += a->stars[i].rank == rank;
  return n;
}

/* The why of a measured answer s (asked: the lr was asked for). */
static void measured_why(const la_analysis *a, const la_alpha_star *s,
                         const la_fit_opts *o, int asked, la_answer *ans) {
  size_t len = 0, n = sizeof ans->why;
  la_appendf(ans->why, n, &len, "rank %d was tested at lr %g (%s", ans->rank,
             ans->lr,
             asked ? "the lr asked for" : "the lr with the lowest loss there");
  if (!asked && lrs_at(a, ans->rank) > 1)
    la_appendf(ans->why, n, &len, ", of %d", lrs_at(a, ans->rank));
  la_appendf(
      ans->why, n, &len,
      "), so alpha is its measured alpha* (%d grid alphas, %d seeds), not "
      "a law's value",
      s->n_alpha, s->seeds);
  if (!isfinite(s->loss))
    la_appendf(ans->why, n, &len, "; every alpha diverged at this rank and lr");
  if (s->at_edge)
    la_appendf(
        ans->why, n, &len,
        "; the best alpha is at the grid's edge, so the true alpha* may lie "
        "beyond it (widen the grid)");
  if (s->ill_determined)
    la_appendf(
        ans->why, n, &len,
        "; its interval spans more than %g octaves: the loss is nearly flat "
        "in alpha here, so alpha matters little within it",
        o->max_ci_log2);
}

/* A rank tested at ans->lr: its measured alpha*, and the law's value for
 * comparison at the end of the why. */
static int measured(const la_analysis *a, const curve *c, const la_fit_opts *o,
                    int asked, la_answer *ans) {
  const la_alpha_star *s = find_star(a, ans->lr, ans->rank);
  char law[256], v[32];
  la_answer_source src;
  long k = pick_law(a, ans->lr, &src, law, sizeof law);
  size_t len;
  ans->source = LA_ANSWER_MEASURED;
  ans->alpha = s->alpha, ans->alpha_lo = s->lo, ans->alpha_hi = s->hi;
  ans->loss = s->loss;
  ans->ill_determined = s->ill_determined, ans->at_edge = s->at_edge;
  measured_why(a, s, o, asked, ans);
  len = strlen(ans->why);
  if (k >= 0) {
    double p = src == LA_ANSWER_LAW_SQRT ? 0.5 : a->fits[k].p;
    fmt_alpha(v, sizeof v, a->fits[k].c * pow(ans->rank, p));
    la_appendf(ans->why, sizeof ans->why, &len, " (the %s law would say %s)",
               src == LA_ANSWER_LAW_SQRT ? "sqrt(r)" : "free", v);
  }
  measured_rules(a, c, ans);
  return 0;
}

/* The why of a law answer; lr_ref: the rank whose loss chose the lr (0:
 * the lr was asked for, -1: the first lr with a law). */
static void law_why(const la_answer *ans, const char *law, int lo, int hi,
                    int lr_ref, char *out, size_t n) {
  size_t len = 0;
  la_appendf(out, n, &len, "rank %d was not tested at lr %g (", ans->rank,
             ans->lr);
  if (lr_ref > 0)
    la_appendf(
        out, n, &len,
        "the lr with the lowest loss at rank %d, the nearest tested rank, "
        "among the lrs with a law; ",
        lr_ref);
  else if (lr_ref == 0)
    la_appendf(out, n, &len, "the lr asked for; ");
  la_appendf(
      out, n, &len,
      "tested there: %d to %d), so alpha comes from the law fitted to the "
      "tested ranks' alpha*: %s",
      lo, hi, law);
  if (ans->extrapolated)
    la_appendf(out, n, &len,
               "; rank %d is outside the tested ranks: extrapolated",
               ans->rank);
  if (ans->poor_fit)
    la_appendf(out, n, &len,
               "; that fit is poor (R2 below 0.9, or a wide p interval): use "
               "alpha with care");
  if (ans->ref_rank > 0)
    la_appendf(
        out, n, &len,
        "; the rules' losses are read off rank %d's loss curve, shifted so "
        "that its best alpha lands on this answer",
        ans->ref_rank);
}

/* The usable ranks behind the laws of lr (0 when it has none). */
static int usable_ranks(const la_analysis *a, double lr) {
  long k = find_fit(a, lr, 1);
  return k >= 0 ? a->fits[k].n_used : 0;
}

/* A rank not tested at ans->lr: the law. */
static int from_law(const la_analysis *a, const la_fit_point *pts, size_t n,
                    const la_fit_opts *o, int lr_ref, la_answer *ans,
                    la_err *err) {
  char law[256];
  la_answer_source src;
  long k = pick_law(a, ans->lr, &src, law, sizeof law);
  int lo, hi, rc;
  const la_alpha_star *ref;
  curve c = {0};
  if (k < 0) {
    int u = usable_ranks(a, ans->lr);
    return la_errf(err, LA_ENOTFOUND,
                   "no law at lr %g for untested rank %d: a law needs alpha* "
                   "at 2 or more ranks inside the grid and well determined "
                   "(3 for the free fit), and %d %s",
                   ans->lr, ans->rank, u, u == 1 ? "is" : "are");
  }
  rank_span(a, ans->lr, &lo, &hi);
  ans->source = src;
  ans->alpha = a->fits[k].c *
               pow(ans->rank, src == LA_ANSWER_LAW_SQRT ? 0.5 : a->fits[k].p);
  if ((rc = law_interval(a, k, ans->rank, o->level, &ans->alpha_lo,
                         &ans->alpha_hi)))
    return la_errf(err, rc, "out of memory for the law's interval");
  ans->extrapolated = ans->rank < lo || ans->rank > hi;
  ans->poor_fit = a->fits[k].poor;
  ans->ref_rank = nearest_rank(a, ans->lr, ans->rank, 1);
  ref = find_star(a, ans->lr, ans->ref_rank);
  if (ref && (rc = build_curve(pts, n, ans->lr, ans->ref_rank, &c)))
    return la_errf(err, rc, "out of memory for a loss curve");
  law_rules(&c, ref ? ref->alpha_grid : NAN, ref ? ref->loss : NAN,
            o->scale_power, ans);
  curve_free(&c);
  law_why(ans, law, lo, hi, lr_ref, ans->why, sizeof ans->why);
  return 0;
}

/* ---- entry points ------------------------------------------------------- */

/* ans->lr from the lr asked for (NaN: the best by loss); *tested whether
 * the rank was tested there, *lr_ref the rank whose loss chose the lr of an
 * untested rank (0: asked for; -1: the first lr with a law). */
static int choose_lr(const la_analysis *a, int rank, double lr, la_answer *ans,
                     int *tested, int *lr_ref, la_err *err) {
  *lr_ref = 0;
  if (!isnan(lr)) {
    if (isnan(ans->lr = match_lr(a, lr))) return lr_not_in_sweep(a, lr, err);
  } else if (isnan(ans->lr = best_lr(a, rank, 0))) {
    *lr_ref = nearest_rank(a, NAN, rank, 0);
    ans->lr = best_lr(a, *lr_ref, 1);
    for (size_t i = 0; isnan(ans->lr) && i < a->n_fits; i++)
      if (a->fits[i].method == 1 && isfinite(a->fits[i].c))
        ans->lr = a->fits[i].lr, *lr_ref = -1;
    if (isnan(ans->lr))
      return la_errf(err, LA_ENOTFOUND,
                     "no law at any lr for untested rank %d: a law needs "
                     "alpha* at 2 or more ranks inside the grid and well "
                     "determined",
                     rank);
  }
  *tested = find_star(a, ans->lr, rank) != NULL;
  return 0;
}

int la_answer_get(const la_analysis *a, const la_fit_point *pts, size_t n,
                  const la_fit_opts *o, int rank, double lr, la_answer *ans,
                  la_err *err) {
  int tested = 0, lr_ref = 0, rc;
  long ks, kf;
  curve c = {0};
  if (a == NULL || o == NULL || ans == NULL || (n > 0 && pts == NULL))
    return la_errf(err, LA_EINVAL, "la_answer_get: a NULL argument");
  if (rank < 1)
    return la_errf(err, LA_EINVAL, "rank %d is not a positive integer", rank);
  memset(ans, 0, sizeof *ans);
  ans->rank = rank;
  ans->alpha = ans->alpha_lo = ans->alpha_hi = ans->loss = NAN;
  if ((rc = choose_lr(a, rank, lr, ans, &tested, &lr_ref, err))) return rc;
  ks = find_fit(a, ans->lr, 1), kf = find_fit(a, ans->lr, 0);
  ans->sqrt_fit = ks >= 0 ? &a->fits[ks] : NULL;
  ans->free_fit = kf >= 0 ? &a->fits[kf] : NULL;
  if (!tested) {
    rc = from_law(a, pts, n, o, lr_ref, ans, err);
  } else if ((rc = build_curve(pts, n, ans->lr, rank, &c)) != 0) {
    rc = la_errf(err, rc, "out of memory for a loss curve");
  } else {
    rc = measured(a, &c, o, !isnan(lr), ans);
  }
  curve_free(&c);
  if (rc == 0) answer_text(ans);
  return rc;
}

/* qsort order of ints. */
static int cmp_int(const void *pa, const void *pb) {
  int x = *(const int *)pa, y = *(const int *)pb;
  return x < y ? -1 : x > y;
}

int la_answer_tested(const la_analysis *a, const la_fit_point *pts, size_t n,
                     const la_fit_opts *o, la_answer **out, size_t *n_out,
                     la_err *err) {
  int *ranks = NULL, rc = 0;
  size_t k = 0, m = 0;
  la_answer *ans = NULL;
  *out = NULL, *n_out = 0;
  if (a->n_stars == 0) return 0;
  ranks = malloc(a->n_stars * sizeof *ranks);
  ans = calloc(a->n_stars, sizeof *ans);
  if (ranks == NULL || ans == NULL) {
    rc = la_errf(err, LA_ENOMEM, "out of memory for the answers");
    goto cleanup;
  }
  for (size_t i = 0; i < a->n_stars; i++)
    ranks[k++] = a->stars[i].rank;
  qsort(ranks, k, sizeof *ranks, cmp_int);
  for (size_t i = 0; i < k && rc == 0; i++)
    if (i == 0 || ranks[i] != ranks[i - 1])
      rc = la_answer_get(a, pts, n, o, ranks[i], NAN, &ans[m++], err);
  if (rc == 0) *out = ans, *n_out = m, ans = NULL;
cleanup:
  free(ranks);
  free(ans);
  return rc;
}
