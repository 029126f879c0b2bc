/*
 * fuzz_record.c: libFuzzer target for the record protocol's parser.
 *
 * bytes -> split at '\n' (as the ingest route and the local executor do)
 * -> la_record_parse per line. A record the parser accepts must keep the
 * contract of record.h and docs/protocol.md: a known type, steps and
 * indices in range, numbers finite or NaN (null), losses >= 0, layers in
 * order, strings within their limits. A violation aborts (a finding), as
 * does any crash, leak or sanitizer report. Build with fuzz/build.sh.
 */
#include "loralpha/record.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NaN (unknown) or a finite number >= 0. */
static int nonneg(double x) {
  return isnan(x) || (isfinite(x) && x >= 0);
}

static int ok_step(int64_t s) {
  return s >= 0 && s <= LA_RECORD_MAX_STEP;
}

/* A module name: absent, or 1..LA_RECORD_MAX_MODULE bytes of letters,
 * digits and ._/:- */
static int ok_module(const char *m) {
  size_t n = m ? strlen(m) : 1;
  if (n < 1 || n > LA_RECORD_MAX_MODULE) return 0;
  for (size_t i = 0; m && i < n; i++)
    if (!isalnum((unsigned char)m[i]) && strchr("._/:-", m[i]) == NULL)
      return 0;
  return 1;
}

static int ok_start(const la_record *r) {
  if (r->u.start.n_layers < 1 || r->u.start.n_layers > LA_RECORD_MAX_LAYERS)
    return 0;
  if (r->u.start.blas_core && strlen(r->u.start.blas_core) > LA_RECORD_MAX_NAME)
    return 0;
  for (size_t i = 0; i < r->u.start.n_layers; i++) {
    const la_rec_layer *l = &r->u.start.layers[i];
    if (l->layer != (int64_t)i || l->d_in < 1 || l->d_in > LA_MAX_WIDTH ||
        l->d_out < 1 || l->d_out > LA_MAX_WIDTH || !nonneg(l->sigma_max_w0) ||
        !nonneg(l->target_norm) || !ok_module(l->module))
      return 0;
  }
  return nonneg(r->u.start.scale);
}

static int ok_spectra(const la_record *r) {
  if (!ok_step(r->step) || r->u.spectra.layer < 0 ||
      r->u.spectra.layer >= LA_RECORD_MAX_LAYERS ||
      r->u.spectra.n_sv > LA_RECORD_MAX_SV)
    return 0;
  for (size_t i = 0; i < r->u.spectra.n_sv; i++)
    if (!nonneg(r->u.spectra.sv[i])) return 0;
  return nonneg(r->u.spectra.sigma_max) && nonneg(r->u.spectra.fro) &&
         nonneg(r->u.spectra.mech_ratio) &&
         (isnan(r->u.spectra.cos_target) ||
          fabs(r->u.spectra.cos_target) <= 1.000001);
}

/* Does an accepted record keep the contract? */
static int ok_record(const la_record *r) {
  switch (r->type) {
  case LA_REC_START: return ok_start(r);
  case LA_REC_TRAIN:
    return ok_step(r->step) && nonneg(r->u.train.loss) &&
           nonneg(r->u.train.lr) && nonneg(r->u.train.grad_norm_a);
  case LA_REC_EVAL: return ok_step(r->step) && nonneg(r->u.train.loss);
  case LA_REC_SPECTRA: return ok_spectra(r);
  case LA_REC_SHARPNESS:
    return ok_step(r->step) && !isinf(r->u.sharp.lora) &&
           !isinf(r->u.sharp.full);
  case LA_REC_DONE:
    return (r->u.done.status == 0 || r->u.done.status == 1) &&
           ok_step(r->u.done.steps) && r->u.done.best_step >= -1 &&
           nonneg(r->u.done.final_eval_loss) &&
           nonneg(r->u.done.final_train_loss) &&
           nonneg(r->u.done.best_eval_loss) &&
           (r->u.done.reason == NULL ||
            strlen(r->u.done.reason) <= LA_RECORD_MAX_REASON);
  case LA_REC_ERROR:
    return r->u.error.error != NULL &&
           strlen(r->u.error.error) <= LA_RECORD_MAX_ERROR;
  case LA_REC_EXTENSION: return 1;
  default: return 0;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    la_record r;
    la_err err;
    if (la_record_parse(p, n, &r, &err) == 0) {
      if (!ok_record(&r)) abort();
      la_record_clear(&r);
    } else if (err.msg[0] == 0 || r.type != LA_REC_EXTENSION) {
      abort(); /* a refusal always says why and leaves nothing to clear */
    }
    p += n + (nl != NULL);
  }
  return 0;
}
