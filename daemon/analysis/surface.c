/*
 * surface.c: the law alpha* = c r^p across lr and budget (see surface.h
 * and docs/analysis.md, "The law across lr and budget").
 *
 * Decisions the contract leaves open:
 *  - A cell is sqrt_compatible when p_lo <= 0.5 <= p_hi to within 1e-9
 *    (rounding); unknown when the free fit is insufficient or p has no
 *    interval (one seed, or no bootstrap).
 *  - Trends are fitted against x = log10(lr * steps). The sqrt(r)
 *    coefficient's is in log10 c_sqrt, so its slope q is the exponent of
 *    c_sqrt ~ (lr steps)^q; p's is in p itself (its change per tenfold lr
 *    steps). Cells enter when their law is sufficient (c_sqrt: the sqrt(r)
 *    law, 2 usable ranks; p: the free fit, 3).
 *  - Weights: 1 / var, var = ((hi - lo) / 2z)^2 over the cell's interval
 *    (in the trend's y), z the level's normal quantile, floored at
 *    (0.05 log10 2)^2 for log10 c (a twentieth of an octave, as fit.c) and
 *    0.02^2 for p. A cell without an interval gets the median var of the
 *    others, or weight 1 when none has one.
 *  - Interval: the percentile interval of the slope refitted on every
 *    bootstrap resample, resample b of every cell together (fit.c draws
 *    each (rank, lr, checkpoint) from a stream of its own), with the same
 *    weights. None (NaN) without the bootstrap or when one cell's resample
 *    is unknown. The resamples of one lr's checkpoints are drawn
 *    independently although they come from the same runs, so the interval
 *    ignores that correlation.
 *  - Insufficient: fewer than 3 cells (the slope, the intercept, and one
 *    to judge them) or a single distinct lr * steps (to 1e-9 in log10).
 *  - The verdict lists, per lr (ascending) and in order of budget, where
 *    the sqrt(r) law holds, where p is above or below 0.5 (with the range
 *    of p), where p has no interval and where the ranks are too few; then
 *    the trend of c_sqrt. Numbers are printed with %g-style formats, so
 *    identical cells give an identical line.
 */
#include "analysis/surface.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLD_TOL 1e-9 /* an interval holds a value to within rounding */
#define X_TOL 1e-9    /* two log10(lr steps) this close are one budget */
#define MIN_CELLS 3   /* a trend's parameters + 1 */
#define C_VAR_FLOOR (0.0150514997831990598 * 0.0150514997831990598)
/* (0.05 log10 2)^2 */
#define P_VAR_FLOOR (0.02 * 0.02)

/* What a cell says about the sqrt(r) law (the verdict's categories, in the
 * order they are named when they first occur at the same step). */
enum { CAT_HOLDS, CAT_ABOVE, CAT_BELOW, CAT_NOINT, CAT_INSUF, N_CAT };

int la_surface_new(size_t n_boot, double level, la_surface **out) {
  la_surface *s;
  if (out == NULL) return LA_EINVAL;
  *out = NULL;
  if (!(level > 0 && level < 1)) return LA_EINVAL;
  if ((s = calloc(1, sizeof *s)) == NULL) return LA_ENOMEM;
  s->n_boot = n_boot, s->level = level;
  *out = s;
  return 0;
}

void la_surface_free(la_surface *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->n_cells; i++) {
    free(s->cells[i].p_boot);
    free(s->cells[i].c_sqrt_boot);
  }
  free(s->cells);
  free(s);
}

/* Room for n more cells; 0 or LA_ENOMEM. */
static int reserve(la_surface *s, size_t n) {
  la_surface_cell *c;
  size_t cap = s->cap ? s->cap : 8;
  if (s->n_cells + n <= s->cap) return 0;
  while (cap < s->n_cells + n)
    cap *= 2;
  if ((c = realloc(s->cells, cap * sizeof *c)) == NULL) return LA_ENOMEM;
  s->cells = c, s->cap = cap;
  return 0;
}

/* 1, 0 or -1 (unknown): does the free fit F's p interval hold 0.5? */
static int compatible(const la_law_fit *F) {
  if (F->insufficient || isnan(F->p_lo) || isnan(F->p_hi))
    return -1; /* a tri-state, not an error: unknown */
  return F->p_lo - HOLD_TOL <= 0.5 && 0.5 <= F->p_hi + HOLD_TOL;
}

/* Copies column v (0: c, 1: p) of fit k's resamples in a into out (n_boot
 * values; NaN where a has none). */
static void copy_boot(const la_surface *s, const la_analysis *a, size_t k,
                      int v, double *out) {
  for (size_t b = 0; b < s->n_boot; b++)
    out[b] = a->law_boot != NULL && b < a->n_boot
                 ? a->law_boot[2 * (k * a->n_boot + b) + (size_t)v]
                 : NAN;
}

/* The cell of free fit F and sqrt fit Q (fits k and k + 1 of a) at step. */
static int add_cell(la_surface *s, int step, double fraction,
                    const la_analysis *a, size_t k) {
  const la_law_fit *F = &a->fits[k], *Q = &a->fits[k + 1];
  la_surface_cell *c = &s->cells[s->n_cells];
  *c = (la_surface_cell){.lr = F->lr,
                         .step = step,
                         .fraction = fraction,
                         .lr_steps = F->lr * step,
                         .p = F->p,
                         .p_lo = F->p_lo,
                         .p_hi = F->p_hi,
                         .c = F->c,
                         .c_lo = F->c_lo,
                         .c_hi = F->c_hi,
                         .c_sqrt = Q->c,
                         .c_sqrt_lo = Q->c_lo,
                         .c_sqrt_hi = Q->c_hi,
                         .n_used = F->n_used,
                         .insufficient = F->insufficient,
                         .sqrt_insufficient = Q->insufficient,
                         .poor = F->poor,
                         .sqrt_compatible = compatible(F)};
  snprintf(c->reason, sizeof c->reason, "%s", F->reason);
  if (s->n_boot > 0) {
    c->p_boot = malloc(s->n_boot * sizeof *c->p_boot);
    c->c_sqrt_boot = malloc(s->n_boot * sizeof *c->c_sqrt_boot);
    if (c->p_boot == NULL || c->c_sqrt_boot == NULL) {
      free(c->p_boot);
      free(c->c_sqrt_boot);
      return LA_ENOMEM;
    }
    copy_boot(s, a, k, 1, c->p_boot);
    copy_boot(s, a, k + 1, 0, c->c_sqrt_boot);
  }
  s->n_cells++;
  return 0;
}

int la_surface_add(la_surface *s, int step, double fraction,
                   const la_analysis *a) {
  if (s == NULL || a == NULL || step < 1) return LA_EINVAL;
  for (size_t i = 0; i < s->n_cells; i++)
    if (s->cells[i].step == step) return LA_EINVAL;
  if (reserve(s, a->n_fits / 2)) return LA_ENOMEM;
  for (size_t k = 0; k + 1 < a->n_fits; k += 2) {
    if (a->fits[k].method != 0 || a->fits[k + 1].method != 1) continue;
    if (add_cell(s, step, fraction, a, k)) return LA_ENOMEM;
  }
  return 0;
}

/* Cuts an incomplete UTF-8 sequence off the end of s (left by a cut). */
static void utf8_trim(char *s) {
  size_t len = strlen(s), i = len;
  while (i > 0 && len - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
    i--;
  if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0) return;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (len - (i - 1) < need) s[i - 1] = 0;
}

/* ---- the trends --------------------------------------------------------- */

static int cmp_cell(const void *pa, const void *pb) {
  const la_surface_cell *a = pa, *b = pb;
  if (a->lr != b->lr) return a->lr < b->lr ? -1 : 1;
  return (a->step > b->step) - (a->step < b->step);
}

static int cmp_double(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return (a > b) - (a < b);
}

/* Cell c's y for trend kind (0: log10 c_sqrt, 1: p) and its interval in y
 * (NaN when none); 0 when c has no such value. */
static int cell_y(const la_surface_cell *c, int kind, double *y, double *lo,
                  double *hi) {
  if (kind == 0) {
    if (c->sqrt_insufficient || !(c->c_sqrt > 0) || !isfinite(c->c_sqrt))
      return 0;
    *y = log10(c->c_sqrt);
    *lo = c->c_sqrt_lo > 0 ? log10(c->c_sqrt_lo) : NAN;
    *hi = c->c_sqrt_hi > 0 ? log10(c->c_sqrt_hi) : NAN;
    return 1;
  }
  if (c->insufficient || !isfinite(c->p)) return 0;
  *y = c->p, *lo = c->p_lo, *hi = c->p_hi;
  return 1;
}

/* Resample b's y of cell c for trend kind (NaN when unknown). */
static double boot_y(const la_surface_cell *c, int kind, size_t b) {
  if (kind == 1) return c->p_boot ? c->p_boot[b] : NAN;
  return c->c_sqrt_boot && c->c_sqrt_boot[b] > 0 ? log10(c->c_sqrt_boot[b])
                                                 : NAN;
}

/* The work of one trend fit: the cells in it and their x, y and weights. */
typedef struct tfit {
  size_t n;
  size_t *idx;
  double *x, *y, *w, *tmp;
} tfit;

/* The median of the n values v (sorted in place). */
static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Weights of t from its cells' intervals (the file's opening comment). */
static void weights(const la_surface *s, tfit *t, int kind) {
  double z = la_fit_normal_z(s->level),
         floor_v = kind ? P_VAR_FLOOR : C_VAR_FLOOR;
  size_t k = 0;
  for (size_t i = 0; i < t->n; i++) {
    double y, lo = NAN, hi = NAN;
    cell_y(&s->cells[t->idx[i]], kind, &y, &lo, &hi);
    t->w[i] = NAN;
    if (isfinite(lo) && isfinite(hi)) {
      double sd = (hi - lo) / (2 * z);
      t->w[i] = fmax(sd * sd, floor_v);
      t->tmp[k++] = t->w[i];
    }
  }
  double typical = k > 0 ? median(t->tmp, k) : 1.0;
  for (size_t i = 0; i < t->n; i++)
    t->w[i] = k == 0 ? 1.0 : 1.0 / (isnan(t->w[i]) ? typical : t->w[i]);
}

/* Distinct values among the n x of t (to X_TOL). */
static int distinct_x(tfit *t) {
  int d = 0;
  memcpy(t->tmp, t->x, t->n * sizeof *t->x);
  qsort(t->tmp, t->n, sizeof *t->tmp, cmp_double);
  for (size_t i = 0; i < t->n; i++)
    d += i == 0 || t->tmp[i] - t->tmp[i - 1] > X_TOL;
  return d;
}

/* The bootstrap interval of t's slope into T (NaN when a resample of a
 * cell is unknown). */
static void trend_interval(const la_surface *s, tfit *t, int kind,
                           la_surface_trend *T) {
  double *v = malloc((s->n_boot ? s->n_boot : 1) * sizeof *v), a, r2;
  T->lo = T->hi = NAN;
  if (v == NULL || s->n_boot < 2) return free(v);
  for (size_t b = 0; b < s->n_boot; b++) {
    for (size_t i = 0; i < t->n; i++)
      t->y[i] = boot_y(&s->cells[t->idx[i]], kind, b);
    if (la_fit_wls(t->x, t->y, t->w, t->n, &a, &v[b], &r2) != 0) {
      free(v);
      return;
    }
  }
  double *tmp = malloc(s->n_boot * sizeof *tmp);
  if (tmp != NULL)
    la_fit_interval(v, 1, s->n_boot, s->level, tmp, &T->lo, &T->hi);
  free(tmp);
  free(v);
}

/* Does [lo, hi] hold v (to within rounding)? */
static int holds(double lo, double hi, double v) {
  return lo - HOLD_TOL <= v && v <= hi + HOLD_TOL;
}

/* T's text, once fitted. */
static void trend_text(la_surface_trend *T, int kind) {
  char ci[64] = " (no interval)";
  const char *say = "";
  int has = !isnan(T->lo);
  if (has) snprintf(ci, sizeof ci, " [%.2f, %.2f]", T->lo, T->hi);
  if (kind == 0) {
    if (has && holds(T->lo, T->hi, -1) && !holds(T->lo, T->hi, 0))
      say = ": c_sqrt·lr·steps is roughly constant";
    else if (has && holds(T->lo, T->hi, 0) && !holds(T->lo, T->hi, -1))
      say = ": c_sqrt hardly moves with lr·steps";
    snprintf(T->text, sizeof T->text,
             "c_sqrt ∝ (lr·steps)^%.2f%s across %d cells%s", T->slope, ci,
             T->n_cells, say);
    return;
  }
  if (has && holds(T->lo, T->hi, 0)) say = ": p hardly moves with lr·steps";
  snprintf(T->text, sizeof T->text,
           "p moves by %+.2f%s per tenfold lr·steps across %d cells%s",
           T->slope, ci, T->n_cells, say);
}

/* Marks T insufficient with the reason (printf-style), text to match. */
static void trend_refuse(la_surface_trend *T, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void trend_refuse(la_surface_trend *T, int kind, const char *fmt, ...) {
  va_list ap;
  T->insufficient = 1;
  T->slope = T->lo = T->hi = T->intercept = NAN;
  va_start(ap, fmt);
  vsnprintf(T->reason, sizeof T->reason, fmt, ap);
  va_end(ap);
  snprintf(T->text, sizeof T->text, "%s against lr·steps: %s",
           kind ? "p" : "c_sqrt", T->reason);
  utf8_trim(T->text);
}

/* Fits trend kind over the cells of s into T once t holds room for every
 * cell. */
static void trend_fit(const la_surface *s, tfit *t, int kind,
                      la_surface_trend *T) {
  double r2;
  memset(T, 0, sizeof *T);
  t->n = 0;
  for (size_t i = 0; i < s->n_cells; i++) {
    double y, lo, hi;
    if (!cell_y(&s->cells[i], kind, &y, &lo, &hi)) continue;
    t->idx[t->n] = i, t->y[t->n] = y;
    t->x[t->n++] = log10(s->cells[i].lr_steps);
  }
  T->n_cells = (int)t->n;
  if (t->n < MIN_CELLS)
    return trend_refuse(T, kind,
                        "%d usable cell%s (with a %s law); the trend needs %d "
                        "(its parameters + 1)",
                        T->n_cells, T->n_cells == 1 ? "" : "s",
                        kind ? "free" : "sqrt(r)", MIN_CELLS);
  T->n_budgets = distinct_x(t);
  if (T->n_budgets < 2)
    return trend_refuse(T, kind,
                        "every usable cell has the same lr·steps (%g): no "
                        "trend to fit",
                        s->cells[t->idx[0]].lr_steps);
  weights(s, t, kind);
  if (la_fit_wls(t->x, t->y, t->w, t->n, &T->intercept, &T->slope, &r2))
    return trend_refuse(T, kind, "the weighted fit failed");
  trend_interval(s, t, kind, T);
  trend_text(T, kind);
}

/* ---- the verdict -------------------------------------------------------- */

/* Appends to buf (size n) printf-style; output past the end is cut (at a
 * character's start). */
static void app(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void app(char *buf, size_t n, const char *fmt, ...) {
  size_t len = strlen(buf);
  va_list ap;
  if (len + 1 >= n) return;
  va_start(ap, fmt);
  vsnprintf(buf + len, n - len, fmt, ap);
  va_end(ap);
  utf8_trim(buf);
}

/* The category of cell c. */
static int category(const la_surface_cell *c) {
  if (c->insufficient || !isfinite(c->p)) return CAT_INSUF;
  if (c->sqrt_compatible < 0) return CAT_NOINT;
  if (c->sqrt_compatible) return CAT_HOLDS;
  return c->p_lo > 0.5 ? CAT_ABOVE : CAT_BELOW;
}

/* "at every budget (250–1000 steps)", "at 250 steps", "at 250 and 1000
 * steps", "at 250, 500 and 1000 steps": the cells [g0, g1) of category
 * cat. */
static void when(char *buf, size_t n, const la_surface *s, size_t g0, size_t g1,
                 int cat) {
  size_t k = 0, m = g1 - g0, seen = 0;
  for (size_t i = g0; i < g1; i++)
    k += category(&s->cells[i]) == cat;
  if (k == m && m > 1)
    return app(buf, n, "at every budget (%d–%d steps)", s->cells[g0].step,
               s->cells[g1 - 1].step);
  app(buf, n, "at ");
  for (size_t i = g0; i < g1; i++) {
    if (category(&s->cells[i]) != cat) continue;
    seen++;
    app(buf, n, "%s%d",
        seen == 1   ? ""
        : seen == k ? " and "
                    : ", ",
        s->cells[i].step);
  }
  app(buf, n, " steps");
}

/* " (p 0.12–0.38)" or " (p 0.66)": the range of p over the cells [g0, g1)
 * of category cat. */
static void p_range(char *buf, size_t n, const la_surface *s, size_t g0,
                    size_t g1, int cat) {
  double lo = INFINITY, hi = -INFINITY;
  char a[32], b[32];
  for (size_t i = g0; i < g1; i++)
    if (category(&s->cells[i]) == cat)
      lo = fmin(lo, s->cells[i].p), hi = fmax(hi, s->cells[i].p);
  snprintf(a, sizeof a, "%.2f", lo);
  snprintf(b, sizeof b, "%.2f", hi);
  if (strcmp(a, b) == 0)
    app(buf, n, " (p %s)", a);
  else
    app(buf, n, " (p %s–%s)", a, b);
}

/* The phrase of category cat over the cells [g0, g1) of one lr. */
static void phrase(char *buf, size_t n, const la_surface *s, size_t g0,
                   size_t g1, int cat) {
  static const char *const lead[N_CAT] = {
      "√r holds ", "p above 0.5 ", "p below 0.5 ", "p without an interval ",
      "too few usable ranks "};
  app(buf, n, "%s", lead[cat]);
  when(buf, n, s, g0, g1, cat);
  if (cat != CAT_HOLDS && cat != CAT_INSUF) p_range(buf, n, s, g0, g1, cat);
}

/* The segment of one lr (cells [g0, g1), by step). */
static void lr_segment(char *buf, size_t n, const la_surface *s, size_t g0,
                       size_t g1) {
  int done[N_CAT] = {0}, first = 1;
  app(buf, n, "at lr %g: ", s->cells[g0].lr);
  for (size_t i = g0; i < g1; i++) {
    int cat = category(&s->cells[i]);
    if (done[cat]) continue;
    done[cat] = 1;
    if (!first) app(buf, n, ", ");
    first = 0;
    phrase(buf, n, s, g0, g1, cat);
  }
}

/* The verdict of s (cells sorted, trends fitted). */
static void verdict(la_surface *s) {
  char *v = s->verdict;
  size_t n = sizeof s->verdict, with_law = 0;
  v[0] = 0;
  for (size_t i = 0; i < s->n_cells; i++)
    with_law +=
        !s->cells[i].sqrt_insufficient || category(&s->cells[i]) != CAT_INSUF;
  if (s->n_cells == 0)
    return app(v, n, "no (lr, budget) cell: nothing to judge the √r law by");
  if (with_law == 0)
    return app(v, n,
               "no (lr, budget) cell has enough usable ranks for a law (2 for "
               "√r, 3 for the free fit, inside the grid and well determined): "
               "nothing to judge the √r law by");
  if (s->n_decided > 0)
    app(v, n,
        "√r law (p = 0.5) compatible in %d of %d cells: ", s->n_compatible,
        s->n_decided);
  else
    app(v, n, "√r law (p = 0.5): no cell has an interval for p: ");
  for (size_t g0 = 0, g1; g0 < s->n_cells; g0 = g1) {
    for (g1 = g0 + 1; g1 < s->n_cells && s->cells[g1].lr == s->cells[g0].lr;)
      g1++;
    if (g0 > 0) app(v, n, "; ");
    lr_segment(v, n, s, g0, g1);
  }
  if (!s->c_trend.insufficient) app(v, n, "; %s", s->c_trend.text);
}

int la_surface_compute(la_surface *s) {
  tfit t = {0};
  size_t m;
  if (s == NULL) return LA_EINVAL;
  m = s->n_cells ? s->n_cells : 1;
  if (s->n_cells > 0) qsort(s->cells, s->n_cells, sizeof *s->cells, cmp_cell);
  t.idx = malloc(m * sizeof *t.idx);
  t.x = malloc(m * sizeof *t.x);
  t.y = malloc(m * sizeof *t.y);
  t.w = malloc(m * sizeof *t.w);
  t.tmp = malloc(m * sizeof *t.tmp);
  int rc = t.idx && t.x && t.y && t.w && t.tmp ? 0 : LA_ENOMEM;
  if (rc == 0) {
    trend_fit(s, &t, 0, &s->c_trend);
    trend_fit(s, &t, 1, &s->p_trend);
    s->n_compatible = s->n_decided = 0;
    for (size_t i = 0; i < s->n_cells; i++) {
      s->n_decided += s->cells[i].sqrt_compatible >= 0;
      s->n_compatible += s->cells[i].sqrt_compatible == 1;
    }
    verdict(s);
  }
  free(t.idx);
  free(t.x);
  free(t.y);
  free(t.w);
  free(t.tmp);
  return rc;
}
