/* halving.c: successive halving's plan and decisions (halving.h,
 * docs/sweeps.md "halving"). */
#include "loralpha/halving.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void la_halving_plan_of(const la_search *s, int n_cells, int steps,
                        la_halving_plan *out) {
  int reach = n_cells, last = 0;
  memset(out, 0, sizeof *out);
  out->cells = n_cells, out->steps = steps;
  for (int k = 0; k < s->n_rungs && reach >= 2; k++) {
    long st = lround(s->rungs[k] * steps);
    int cap = (int)floor(reach / s->eta);
    if (st < 1) st = 1;
    if (st <= last || st >= steps) continue;
    out->step[out->n] = (int)st;
    out->reach[out->n] = reach;
    out->promote[out->n] = cap > 1 ? cap : 1;
    reach = out->promote[out->n++];
    last = (int)st;
  }
}

int la_halving_rung_of(const la_halving_plan *plan, int stop) {
  if (stop <= 0) return plan->n;
  for (int k = 0; k < plan->n; k++)
    if (plan->step[k] == stop) return k;
  return -1; /* no rung: an index, not an error */
}

/* A cell that reached rung k: its index and loss there. */
typedef struct at_rung {
  size_t cell;
  double loss, alpha, lr;
} at_rung;

static int cmp_at(const void *a, const void *b) {
  const at_rung *x = a, *y = b;
  if (x->loss != y->loss) return x->loss < y->loss ? -1 : 1;
  if (x->alpha != y->alpha) return x->alpha < y->alpha ? -1 : 1;
  return (x->lr > y->lr) - (x->lr < y->lr);
}

#define STOPPED 1  /* decided[]: stopped in this call */
#define PROMOTED 2 /* promoted in this call: trains towards rung + 1 */

/* Is rung k closed: no cell trains towards a rung <= k (or was promoted
 * towards one in this call), none waits undecided at a rung below k? */
static int closed(const la_halving_cell *c, size_t n, const char *decided,
                  int k) {
  for (size_t i = 0; i < n; i++) {
    if (c[i].state == LA_HCELL_TRAINING && c[i].rung <= k) return 0;
    if (c[i].state != LA_HCELL_WAITING) continue;
    if (decided[i] == PROMOTED ? c[i].rung + 1 <= k
                               : !decided[i] && c[i].rung < k)
      return 0;
  }
  return 1;
}

static void say(la_halving_decision *d, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(la_halving_decision *d, const char *kind, const char *fmt,
                ...) {
  va_list ap;
  snprintf(d->kind, sizeof d->kind, "%s", kind);
  va_start(ap, fmt);
  vsnprintf(d->why, sizeof d->why, fmt, ap);
  va_end(ap);
}

/* The decision on waiting cell a->cell at rung k, placed p among m that
 * reached it (promoted of them promoted), or 0 when it waits on. */
static int decide_one(const la_search *s, const la_halving_plan *plan, int k,
                      const at_rung *a, int p, int m, int promoted,
                      int is_closed, la_halving_decision *d) {
  int cap = plan->promote[k], to_come = plan->reach[k] - m;
  int quota = (int)floor(m / s->eta);
  memset(d, 0, sizeof *d);
  d->cell = a->cell, d->rung = k, d->loss = a->loss;
  d->place = p + 1, d->reached = m, d->promoted = promoted;
  if (quota < 1) quota = 1;
  if (quota > cap) quota = cap;
  if (!isfinite(a->loss)) {
    d->action = LA_HALVING_STOP;
    say(d, "diverged", "a seed diverged or failed before step %d (rung %d)",
        plan->step[k], k + 1);
    return 1;
  }
  if (promoted < cap &&
      (p + (to_come > 0 ? to_come : 0) < cap || (is_closed && p < quota))) {
    d->action = LA_HALVING_PROMOTE;
    d->next_stop = k + 1 < plan->n ? plan->step[k + 1] : 0;
    const char *kind = is_closed ? "closed" : "certain";
    if (d->next_stop)
      say(d, kind,
          "place %d of %d at step %d (rung %d promotes the best %d of %d): "
          "continues to rung %d at step %d",
          p + 1, m, plan->step[k], k + 1, is_closed ? quota : cap,
          is_closed ? m : plan->reach[k], k + 2, d->next_stop);
    else
      say(d, kind,
          "place %d of %d at step %d (rung %d promotes the best %d of %d): "
          "continues to the end",
          p + 1, m, plan->step[k], k + 1, is_closed ? quota : cap,
          is_closed ? m : plan->reach[k]);
    return 1;
  }
  d->action = LA_HALVING_STOP;
  if (p >= cap)
    say(d, "outranked",
        "place %d of %d at step %d: %d cell%s better and rung %d promotes "
        "%d",
        p + 1, m, plan->step[k], p, p == 1 ? " is" : "s are", k + 1, cap);
  else if (is_closed)
    say(d, "closed",
        "place %d of %d at step %d: rung %d closed promoting the best %d",
        p + 1, m, plan->step[k], k + 1, quota);
  else
    return 0;
  return 1;
}

size_t la_halving_decide(const la_search *s, const la_halving_plan *plan,
                         const la_halving_cell *cells, size_t n,
                         la_halving_decision *out, size_t max) {
  at_rung *a = malloc((n ? n : 1) * sizeof *a);
  char *decided = calloc(n ? n : 1, 1);
  size_t nd = 0;
  if (a == NULL || decided == NULL) {
    free(a), free(decided);
    return 0; /* out of memory: no decision now, the next end decides */
  }
  for (int k = 0; k < plan->n && nd < max; k++) {
    int m = 0, promoted = 0, is_closed = closed(cells, n, decided, k);
    for (size_t i = 0; i < n; i++) {
      const la_halving_cell *c = &cells[i];
      if (isnan(c->loss[k])) continue;
      a[m++] = (at_rung){i, c->loss[k], c->alpha, c->lr};
      promoted += c->rung > k;
    }
    qsort(a, (size_t)m, sizeof *a, cmp_at);
    for (int p = 0; p < m && nd < max; p++) {
      const la_halving_cell *c = &cells[a[p].cell];
      if (c->state != LA_HCELL_WAITING || c->rung != k || decided[a[p].cell])
        continue;
      if (decide_one(s, plan, k, &a[p], p, m, promoted, is_closed, &out[nd])) {
        int up = out[nd].action == LA_HALVING_PROMOTE;
        promoted += up;
        decided[a[p].cell] = up ? PROMOTED : STOPPED;
        nd++;
      }
    }
  }
  free(a), free(decided);
  return nd;
}
