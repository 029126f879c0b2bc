/* gpt_f.c: the GPT model in single precision (training). See gpt_impl.h. */
#include "gpt.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x for -87 <= x <= 18 in plain arithmetic, so the loops that call it
 * vectorise: x = n ln2 + r with n rounded by the 1.5 * 2^23 trick, e^r by
 * its Taylor polynomial to r^7 (|r| <= ln2 / 2: error below 1 ulp of
 * float), 2^n put into the exponent bits. */
static inline float gpt_exp18(float x) {
  const float shift = 12582912.0f; /* 1.5 * 2^23 */
  float t = x * 1.44269504f + shift, n = t - shift, r, p, scale;
  uint32_t bits;
  r = x - n * 0.693145752f - n * 1.42860677e-6f;
  p = 1.0f +
      r * (1.0f +
           r * (0.5f + r * (1.0f / 6 +
                            r * (1.0f / 24 +
                                 r * (1.0f / 120 +
                                      r * (1.0f / 720 + r * (1.0f / 5040)))))));
  memcpy(&bits, &t, sizeof bits);
  bits = (bits - 0x4B400000u + 127u) << 23;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* tanh(x) = sign(x) (1 - e) / (1 + e), e = e^-2|x|, |x| clamped to 9
 * (where float's tanh is +-1 already) by an integer min on its bits (a
 * float min would be a branch: the loops would not vectorise). glibc's
 * tanhf goes through expm1f and does not vectorise, and GELU takes a tanh
 * of every hidden unit twice a step. Error about 1e-7 absolute; GELU uses
 * 1 + tanh, where that is float's own rounding. */
static inline float gpt_tanhf(float x) {
  float a = fabsf(x), e;
  uint32_t bits;
  memcpy(&bits, &a, sizeof bits);
  bits = bits < 0x41100000u ? bits : 0x41100000u; /* 9.0f */
  memcpy(&a, &bits, sizeof a);
  e = gpt_exp18(-2.0f * a);
  return copysignf((1.0f - e) / (1.0f + e), x);
}

/* e^x for x <= 0 (softmax's shifted scores), x clamped to -87 (e^-87 is
 * float's smallest normal's order; below it the terms are negligible) by
 * the same integer min, so the loops vectorise. */
static inline float gpt_expneg(float x) {
  float a = fabsf(x); /* -0.0 has the sign bit: its bits are large */
  uint32_t bits;
  memcpy(&bits, &a, sizeof bits);
  bits = bits < 0x42AE0000u ? bits : 0x42AE0000u; /* 87.0f */
  memcpy(&a, &bits, sizeof a);
  return gpt_exp18(-a);
}

#define LA_REAL float
#define LA_SUF(x) x##_f
#define GEMM cblas_sgemm
#define EXPNEG gpt_expneg
#define TANH gpt_tanhf
#include "gpt_impl.h"
