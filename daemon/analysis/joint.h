/*
 * joint.h: the joint optimum over (alpha, lr) per rank and the alpha-lr
 * trade-off (docs/analysis.md, "The joint optimum"), from an analysis
 * (fit.h):
 *
 *  - joint optimum of a rank: the grid point (alpha, lr) with the lowest
 *    mean eval loss over seeds, i.e. the lr whose alpha* has the lowest
 *    best loss (ties: the smaller lr), with that lr's alpha* (refined as
 *    fit.c refines it, with its interval: alpha* along the best lr), and
 *    at-edge flags for alpha (fit.c's) and for lr (the best lr is the
 *    smallest or largest lr the rank was tested at: the lr grid is too
 *    narrow there).
 *  - trade-off: the slope of log alpha* against log lr, per rank across
 *    its lrs and pooled across ranks (one slope, an intercept per rank),
 *    by weighted least squares, with a bootstrap interval and a verdict in
 *    words.
 *
 * The answer (answer.h) takes its lr from la_joint_best, so both agree.
 * Pure computation; no I/O, no globals, thread-safe.
 */
#ifndef LORALPHA_JOINT_H
#define LORALPHA_JOINT_H

#include "analysis/fit.h"

/* What a slope says about alpha and lr (names: la_joint_verdict_name). */
typedef enum la_joint_verdict {
  LA_JOINT_NONE,      /* no slope: fewer than 2 lrs with alpha* usable */
  LA_JOINT_ALPHA_LR,  /* the interval holds -1 (not 0): alpha*lr matters */
  LA_JOINT_ALPHA,     /* the interval holds 0 (not -1): alpha alone */
  LA_JOINT_UNDECIDED, /* the interval holds both -1 and 0 */
  LA_JOINT_STEEPER,   /* all of it below -1: alpha* falls faster than 1/lr */
  LA_JOINT_BETWEEN,   /* all of it in (-1, 0) */
  LA_JOINT_RISING     /* all of it above 0: alpha* rises with lr */
} la_joint_verdict;

/* The slope of log alpha* against log lr. */
typedef struct la_joint_slope {
  double slope;  /* NaN when none */
  double lo, hi; /* bootstrap interval (NaN without one) */
  int n_points;  /* alpha* (rank, lr) in the fit */
  int n_ranks;   /* ranks with 2 or more lrs in the fit */
  int n_lrs;     /* distinct lrs tested (per rank: at that rank) */
  la_joint_verdict verdict;
  char text[256]; /* the verdict in one line */
} la_joint_slope;

/* The joint optimum of one rank. */
typedef struct la_joint_rank {
  int rank;
  double lr;                 /* the best lr */
  int n_lrs, lr_at_edge;     /* lrs tested at this rank; best at an end */
  double alpha_grid, alpha;  /* alpha* at the best lr (fit.c's) */
  double alpha_lo, alpha_hi; /* its interval (NaN when unknown) */
  int alpha_at_edge, ill_determined;
  double loss;             /* mean loss at (alpha_grid, lr) */
  la_joint_slope tradeoff; /* this rank's slope across its lrs */
} la_joint_rank;

typedef struct la_joint {
  size_t n_ranks;
  la_joint_rank *ranks;  /* ascending rank */
  la_joint_slope pooled; /* one slope across every rank */
} la_joint;

/* The alpha* of rank at its best lr: the lowest best loss over the lrs
 * (ties: the first in a->stars, the smaller lr); NULL when the rank was
 * not tested. Borrowed from a. */
const la_alpha_star *la_joint_best(const la_analysis *a, int rank);

/* The joint optimum of every rank of a (borrowed) and the trade-off,
 * intervals at level (0 < level < 1). Returns 0, LA_EINVAL (NULL a or out,
 * bad level) or LA_ENOMEM, with err filled; *out is new (la_joint_free). */
int la_joint_compute(const la_analysis *a, double level, la_joint **out,
                     la_err *err);

void la_joint_free(la_joint *j);

/* "none", "alpha_lr", "alpha", "undecided", "steeper", "between",
 * "rising". */
const char *la_joint_verdict_name(la_joint_verdict v);

#endif
