/*
 * spectra_ref.c: the worker's spectra of one layer (la_spectra_layer,
 * worker/metrics.c) for test_reporter.py, which checks the Python
 * reporter's figures against them on the same matrices.
 *
 *   spectra_ref < {"A": [[...]], "B": [[...]], "A0": [[...]], "s": S}
 *
 * A is (r, d_in), B (d_out, r), A0 (r, d_in), as float32 values. Prints
 * {"sigma_max", "fro", "stable_rank", "sv", "tf_signal", "tf_drift",
 * "mech_ratio", "a_drift"} (null for NaN) on stdout; exits 2 on bad input.
 */
#include "metrics.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The rows x cols matrix m (a list of rows) into a new float array. */
static float *matrix(const json_t *m, size_t *rows, size_t *cols) {
  float *out;
  *rows = json_array_size(m);
  *cols = json_array_size(json_array_get(m, 0));
  if (*rows == 0 || *cols == 0) return NULL;
  if ((out = malloc(*rows * *cols * sizeof *out)) == NULL) return NULL;
  for (size_t i = 0; i < *rows; i++)
    for (size_t j = 0; j < *cols; j++)
      out[i * *cols + j] =
          (float)json_number_value(json_array_get(json_array_get(m, i), j));
  return out;
}

static json_t *num(double x) {
  return isfinite(x) ? json_real(x) : json_null();
}

int main(void) {
  json_t *in = json_loadf(stdin, 0, NULL), *out, *sv;
  size_t r, din, dout, r2, k, d0;
  float *A = matrix(json_object_get(in, "A"), &r, &din);
  float *B = matrix(json_object_get(in, "B"), &dout, &r2);
  float *A0 = matrix(json_object_get(in, "A0"), &k, &d0);
  la_spectra sp;
  if (A == NULL || B == NULL || A0 == NULL || r2 != r || k != r || d0 != din)
    return fprintf(stderr, "spectra_ref: bad matrices\n"), 2;
  sp.sv = calloc(r, sizeof *sp.sv);
  if (sp.sv == NULL ||
      la_spectra_layer(A, B, A0, (int)din, (int)dout, (int)r,
                       json_number_value(json_object_get(in, "s")), NULL, NULL,
                       NULL, 0, &sp))
    return fprintf(stderr, "spectra_ref: la_spectra_layer failed\n"), 2;
  sv = json_array();
  for (size_t i = 0; i < r; i++)
    json_array_append_new(sv, num(sp.sv[i]));
  out = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "sigma_max",
                  num(sp.sigma_max), "fro", num(sp.fro), "stable_rank",
                  num(sp.stable_rank), "sv", sv, "tf_signal", num(sp.tf_signal),
                  "tf_drift", num(sp.tf_drift), "mech_ratio",
                  num(sp.mech_ratio), "a_drift", num(sp.a_drift));
  json_dumpf(out, stdout, JSON_REAL_PRECISION(17));
  putchar('\n');
  json_decref(out);
  json_decref(in);
  free(A), free(B), free(A0), free(sp.sv);
  return 0;
}
