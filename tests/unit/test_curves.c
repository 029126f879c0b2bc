/*
 * test_curves.c: la_downsample keeps at most m points, in order, always the
 * first and the last, every spike and dip (each bucket's extremes), and all
 * points when there are few.
 */
#include "analysis/curves.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>

static void check_small(void) {
  double y[5] = {3, 1, 4, 1, 5};
  size_t keep[5];
  CHECK_EQ_INT(la_downsample(y, 5, 5, keep), 5);
  for (int i = 0; i < 5; i++)
    CHECK_EQ_INT(keep[i], i);
}

static void check_shape(size_t n, size_t m) {
  double *y = malloc(n * sizeof *y);
  size_t *keep = malloc(n * sizeof *keep), k, spike = n / 3, dip = 2 * n / 3;
  int has_spike = 0, has_dip = 0, ascending = 1;
  for (size_t i = 0; i < n; i++)
    y[i] = 1.0 / (1.0 + (double)i) + 0.001 * sin((double)i);
  y[spike] = 50, y[dip] = -50;
  k = la_downsample(y, n, m, keep);
  CHECK(k <= m);
  CHECK(k >= m - 3);
  CHECK_EQ_INT(keep[0], 0);
  CHECK_EQ_INT(keep[k - 1], n - 1);
  for (size_t i = 0; i < k; i++) {
    has_spike |= keep[i] == spike;
    has_dip |= keep[i] == dip;
    if (i && keep[i] <= keep[i - 1]) ascending = 0;
  }
  CHECK(has_spike && has_dip && ascending);
  free(y), free(keep);
}

static void check_nan(void) {
  double y[100];
  size_t keep[100], k;
  int kept_nan = 0;
  for (int i = 0; i < 100; i++)
    y[i] = i;
  y[40] = NAN; /* a diverged point is shown, not dropped */
  k = la_downsample(y, 100, 10, keep);
  for (size_t i = 0; i < k; i++)
    kept_nan |= keep[i] == 40;
  CHECK(kept_nan);
}

int main(void) {
  check_small();
  check_shape(1000, 200);
  check_shape(100000, 2000);
  check_shape(203, 200);
  check_shape(10, 4);
  check_nan();
  return check_summary();
}
