/*
 * answer.h: from an analysis (fit.h) to the answer a researcher acts on
 * (docs/analysis.md, "The answer"): for one rank, the alpha and lr to use,
 * where the alpha comes from and why, and the loss each rank-tied rule is
 * expected to leave on the table against it.
 *
 *  - lr: the one whose best mean loss is lowest at the rank (untested
 *    ranks: at the nearest tested rank, among the lrs with a law), or the
 *    one asked for, which must be in the sweep.
 *  - alpha: a rank tested at that lr gets its measured alpha* and overall
 *    interval (fit.h: the bootstrap's and the flat set's hull; source
 *    "measured"); another rank gets the law the data support: the
 *    sqrt(r) law when the free fit's p interval holds 0.5 (or p has no
 *    interval, or the free fit cannot be made), the free fit c r^p when the
 *    interval excludes 0.5.
 *  - rules: their loss_pct is 100 x (loss at the rule's alpha / the
 *    answer's loss - 1): at a tested rank read off its measured loss curve
 *    (fit.c's regret); at an untested one off the nearest tested rank's
 *    curve (alpha* inside the grid), normalised to its best grid point and
 *    shifted in log alpha so that this point lands on the answer.
 *
 * Pure computation on an la_analysis and the points it came from; no I/O,
 * no globals, thread-safe.
 */
#ifndef LORALPHA_ANSWER_H
#define LORALPHA_ANSWER_H

#include "analysis/fit.h"

#define LA_ANSWER_MAX_RULES 8

/* Where an answer's alpha comes from. */
typedef enum la_answer_source {
  LA_ANSWER_MEASURED, /* alpha* measured at this rank and lr */
  LA_ANSWER_LAW_SQRT, /* the sqrt(r) law alpha = c sqrt(r) at this lr */
  LA_ANSWER_LAW_FREE  /* the free law alpha = c r^p at this lr */
} la_answer_source;

/* What one rank-tied rule would lose against the answer. */
typedef struct la_answer_rule {
  const char *name; /* la_fit_heuristics()' name (static) */
  double alpha;     /* the alpha the rule gives at this rank (sweep's alpha) */
  double loss_pct;  /* expected extra loss, percent of the answer's loss;
                       +Inf where the rule's runs diverged, NaN when it
                       cannot be estimated (note says why) */
  const char *note; /* static text when loss_pct is not finite, else NULL */
} la_answer_rule;

typedef struct la_answer {
  int rank;
  double lr;
  double alpha, alpha_lo, alpha_hi; /* interval NaN when unknown */
  double loss; /* mean loss at the measured alpha* (grid point); NaN for
                  a law answer (that rank has no runs) */
  la_answer_source source;
  int ill_determined, at_edge; /* the measured alpha*'s flags (0 for laws) */
  int extrapolated;            /* law answers: rank outside the tested ones */
  int poor_fit;                /* law answers: the law used is poor */
  int ref_rank; /* law answers: the rank the rules' losses come from (0) */
  const la_law_fit *sqrt_fit, *free_fit; /* the lr's laws (borrowed from the
                                            analysis; NULL when none) */
  size_t n_rules;
  la_answer_rule rules[LA_ANSWER_MAX_RULES];
  char why[768];  /* the source in plain words */
  char text[512]; /* the one-line answer */
} la_answer;

/* "measured", "law_sqrt" or "law_free". */
const char *la_answer_source_name(la_answer_source s);

/* The answer for rank at lr (NaN: the lr with the lowest loss) from the
 * analysis a of the n points pts (both borrowed; a must be their analysis
 * with the options o). Returns 0; LA_EINVAL for a rank below 1 or an lr
 * that is not in the sweep (err names it and lists the sweep's lrs);
 * LA_ENOTFOUND when an untested rank has no law to answer from (err says
 * why); LA_ENOMEM. */
int la_answer_get(const la_analysis *a, const la_fit_point *pts, size_t n,
                  const la_fit_opts *o, int rank, double lr, la_answer *out,
                  la_err *err);

/* The answer of every tested rank, ascending. *out is new (free), *n_out
 * its count (0 and NULL for an empty analysis). Returns 0 or LA_ENOMEM. */
int la_answer_tested(const la_analysis *a, const la_fit_point *pts, size_t n,
                     const la_fit_opts *o, la_answer **out, size_t *n_out,
                     la_err *err);

#endif
