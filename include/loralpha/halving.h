/*
 * halving.h: successive halving over the (α, lr) cells of a rank
 * (docs/sweeps.md "halving", search.h's LA_SEARCH_HALVING).
 *
 * Every cell (α, lr) of a rank starts with its seeds' runs stopping at the
 * first rung (a fraction of steps). A cell reaches a rung when each of its
 * seeds' runs has ended its stint there; its loss at the rung is the mean
 * eval loss of its seeds at the rung's step (INFINITY when a seed diverged
 * or failed). The decisions are those of synchronous successive halving,
 * each taken as soon as it is certain, with no barrier (asynchronous: a
 * cell sure to be promoted trains on while its rung's other cells still
 * train, so the cores stay busy):
 *
 *   - the plan: N_0 is the rank's number of cells, and rung k promotes
 *     cap_k = max(1, floor(N_k / eta)) cells, which are all that can reach
 *     rung k + 1 (N_{k+1} = cap_k). A rung at which at most one cell can
 *     arrive compares nothing and is skipped: the rank's effective rungs
 *     are those with N_k >= 2 (la_halving_plan_of);
 *   - of the m cells that have reached rung k so far, sorted by loss (then
 *     α, then lr), one waiting at place p (0-based) is promoted at once
 *     when it stays in the top cap_k even if all N_k - m cells still to
 *     come beat it (p + N_k - m < cap_k);
 *   - it is stopped at once when its loss is not finite (a seed diverged
 *     or failed) or when p >= cap_k (that many cells are better: it can
 *     never be in the top);
 *   - when no other cell can reach rung k any more (none trains towards a
 *     rung <= k, none waits undecided at a rung < k), the rung closes: the
 *     best max(1, floor(m / eta)) finite cells are promoted, the rest
 *     stopped.
 *
 * So the outcome does not depend on the order in which runs end (a busy
 * core, a crash, Slurm's queue): the same losses give the same decisions.
 * And the decisions depend only on the cells (a pure function): a daemon
 * that decides again after a crash decides the same. Pure code: libm
 * only.
 */
#ifndef LORALPHA_HALVING_H
#define LORALPHA_HALVING_H

#include "loralpha/search.h"

#include <stddef.h>

/* A rank's plan: its effective rungs and their steps. */
typedef struct la_halving_plan {
  int cells, steps;                 /* the rank's cells, its runs' steps */
  int n;                            /* effective rungs (0: no stop) */
  int step[LA_SEARCH_MAX_RUNGS];    /* rung k stops at this step */
  int reach[LA_SEARCH_MAX_RUNGS];   /* N_k: cells that may reach rung k */
  int promote[LA_SEARCH_MAX_RUNGS]; /* cap_k: promotions at rung k in all */
} la_halving_plan;

/* The plan of a rank of n_cells cells whose runs train steps steps. Rung
 * k's step is round(rungs[k] * steps), at least 1; rungs whose steps are
 * not above the previous rung's or not below steps are dropped. */
void la_halving_plan_of(const la_search *s, int n_cells, int steps,
                        la_halving_plan *out);

/* The rung index of a stint that stops at step stop (0 or >= steps: the
 * end, plan->n), or -1 when stop is no rung of the plan. */
int la_halving_rung_of(const la_halving_plan *plan, int stop);

typedef enum {
  LA_HCELL_TRAINING, /* a seed's run is queued or running towards `rung` */
  LA_HCELL_WAITING,  /* every seed ended its stint at `rung`: undecided */
  LA_HCELL_OUT       /* stopped, or at the end (done, diverged, failed) */
} la_hcell_state;

/* A cell (α, lr) of the rank. loss[k] is its loss at rung k: for k below
 * rung the loss it was promoted or stopped with; for k == rung when
 * WAITING; NAN where it has none. rung is the rung its last stint stops at
 * (plan.n: the end). */
typedef struct la_halving_cell {
  double alpha, lr;
  la_hcell_state state;
  int rung;
  double loss[LA_SEARCH_MAX_RUNGS];
} la_halving_cell;

typedef enum { LA_HALVING_PROMOTE, LA_HALVING_STOP } la_halving_action;

/* A decision on a waiting cell. */
typedef struct la_halving_decision {
  size_t cell; /* index into the cells */
  la_halving_action action;
  int rung;      /* the rung it was decided at */
  double loss;   /* its loss there */
  int place;     /* 1-based among the cells that had reached the rung */
  int reached;   /* how many had */
  int promoted;  /* promotions at the rung before this one */
  int next_stop; /* PROMOTE: the step its next stint stops at (0: end) */
  char kind[16]; /* promote: "certain" (before its rung closed),
                    "closed"; stop: "diverged", "outranked",
                    "closed" */
  char why[256];
} la_halving_decision;

/* The decisions the cells call for now, in order (rungs rising, then
 * place), at most max; their count. A cell whose rung is above k was
 * promoted from rung k. A promoted cell's next stint stops at the next
 * effective rung, or at the end. */
size_t la_halving_decide(const la_search *s, const la_halving_plan *plan,
                         const la_halving_cell *cells, size_t n,
                         la_halving_decision *out, size_t max);

#endif
