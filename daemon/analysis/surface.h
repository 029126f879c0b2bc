/*
 * surface.h: the law alpha* = c r^p across learning rate and budget
 * (docs/analysis.md, "The law across lr and budget"), from the analyses of
 * a sweep's checkpoints (fit.h):
 *
 *  - one cell per (lr, checkpoint step): the free fit's p and c with their
 *    intervals, the sqrt(r) law's coefficient with its interval, the usable
 *    ranks, and whether p's interval holds 0.5 (sqrt_compatible);
 *  - how the sqrt(r) coefficient moves with the learning budget lr * steps
 *    (log10 c_sqrt = a + q log10(lr steps)) and how p does (p = a + b
 *    log10(lr steps)), each by weighted least squares with a bootstrap
 *    interval refitted on fit.h's law_boot resamples;
 *  - a one-line verdict in words: where on this sweep the sqrt(r) law holds
 *    and where p lies above or below 0.5.
 *
 * Usage: la_surface_new, la_surface_add once per checkpoint's analysis (any
 * order; the analysis may be freed after), la_surface_compute, read,
 * la_surface_free. Pure computation; no I/O, no globals, thread-safe.
 */
#ifndef LORALPHA_SURFACE_H
#define LORALPHA_SURFACE_H

#include "analysis/fit.h"

/* One (lr, checkpoint) cell. */
typedef struct la_surface_cell {
  double lr;
  int step;
  double fraction;              /* of the sweep's steps */
  double lr_steps;              /* lr * step, the learning budget */
  double p, p_lo, p_hi;         /* the free fit's (NaN when unknown) */
  double c, c_lo, c_hi;         /* the free fit's */
  double c_sqrt, c_sqrt_lo;     /* the sqrt(r) law's coefficient */
  double c_sqrt_hi;             /* (NaN when that law is insufficient) */
  int n_used;                   /* usable ranks (fit.h) */
  int insufficient;             /* the free fit is (p unknown) */
  int sqrt_insufficient;        /* the sqrt(r) law is (c_sqrt unknown) */
  int poor;                     /* the free fit's poor flag */
  int sqrt_compatible;          /* 1: p's interval holds 0.5; 0: it does
                                   not; -1: unknown (insufficient, or p has
                                   no interval) */
  char reason[128];             /* the free fit's, when insufficient */
  double *p_boot, *c_sqrt_boot; /* n_boot values each (NaN: none); owned */
} la_surface_cell;

/* A trend of y against log10(lr * steps) across cells. */
typedef struct la_surface_trend {
  double slope, lo, hi; /* NaN when insufficient; lo, hi NaN without an
                           interval */
  double intercept;     /* y at lr * steps = 1 */
  int n_cells;          /* cells in the fit */
  int n_budgets;        /* distinct lr * steps among them */
  int insufficient;     /* fewer than 3 cells or one distinct lr * steps */
  char reason[160];     /* why it is insufficient ("" otherwise) */
  char text[256];       /* the trend in one line */
} la_surface_trend;

typedef struct la_surface {
  size_t n_cells, cap;
  la_surface_cell *cells; /* after la_surface_compute: by lr, then step */
  size_t n_boot;
  double level;
  la_surface_trend c_trend; /* y = log10 c_sqrt: slope q, c ~ (lr steps)^q */
  la_surface_trend p_trend; /* y = p: the change of p per tenfold lr steps */
  int n_compatible;         /* cells whose p interval holds 0.5 */
  int n_decided;            /* cells with a p interval */
  char verdict[2048];       /* the sqrt(r) law on this sweep in one line */
} la_surface;

/* A new, empty surface for analyses with n_boot resamples, intervals at
 * level (0 < level < 1). Returns 0, LA_EINVAL or LA_ENOMEM; *out is new
 * (la_surface_free). */
int la_surface_new(size_t n_boot, double level, la_surface **out);

/* Adds the cells of one checkpoint (step >= 1, fraction of the budget) of
 * analysis a (borrowed; copied). Returns 0, LA_EINVAL (NULL s or a, step
 * < 1, or that step already added) or LA_ENOMEM. */
int la_surface_add(la_surface *s, int step, double fraction,
                   const la_analysis *a);

/* Sorts the cells, fits both trends and writes the verdict; the same cells
 * give the same result to the last bit, in whatever order they were added.
 * Returns 0, LA_EINVAL (NULL s) or LA_ENOMEM. */
int la_surface_compute(la_surface *s);

void la_surface_free(la_surface *s);

#endif
