/*
 * fit_points.h: a growable list of la_fit_point for the analysis tests
 * (test_fit.c, test_answer.c, test_joint.c), which build simulated sweeps
 * point by point.
 */
#ifndef LORALPHA_TEST_FIT_POINTS_H
#define LORALPHA_TEST_FIT_POINTS_H

#include "analysis/fit.h"

#include <stdlib.h>

typedef struct plist {
  la_fit_point *p;
  size_t n, cap;
} plist;

/* Appends one point (aborts when out of memory: this is a test). */
static inline void add(plist *l, int rank, double lr, double alpha, int seed,
                       double loss) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 256;
    l->p = realloc(l->p, l->cap * sizeof *l->p);
    if (l->p == NULL) abort();
  }
  l->p[l->n++] = (la_fit_point){
      .rank = rank, .lr = lr, .alpha = alpha, .seed_index = seed, .loss = loss};
}

#endif
