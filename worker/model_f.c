/* model_f.c: the model in single precision (training). See model_impl.h. */
#include "model.h"

#include <cblas.h>

#define LA_REAL float
#define LA_SUF(x) x##_f
#define GEMM cblas_sgemm
#define ERF erff
#define EXP expf
#define TANH tanhf

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* r[k] lane b = r[b] lane k, for 8 vectors of 8. */
__attribute__((target("avx"))) static void transpose8(__m256 *r) {
  __m256 t[8], u[8];
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
  }
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
    u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
    u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
    u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
  }
  for (int k = 0; k < 4; k++) {
    r[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
    r[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
  }
}

/* MSE_GROUP16 (loss_mse, model_impl.h): the sums of 16 whole blocks of 64
 * squares (z - y)^2 side by side, part[b] getting block b's summed in the
 * same order from 0 as the block alone, and with gz, gz = scale (z - y).
 * A block's sum is a chain of dependent adds, slow one at a time; here a
 * vector lane is a block (a transpose turns the blocks' consecutive squares
 * into steps of their lanes), so the chains run side by side with the same
 * bits. AVX, 8 blocks a vector, where the CPU has it (MSE_GROUP16_OK). */
__attribute__((target("avx"))) static void
mse_group16_avx(const float *z, const float *y, float *gz, float scale,
                float *part) {
  __m256 acc[2], vs = _mm256_set1_ps(scale);
  for (int q = 0; q < 2; q++)
    acc[q] = _mm256_setzero_ps();
  for (size_t i = 0; i < 64; i += 8)
    for (int q = 0; q < 2; q++) {
      __m256 sq[8];
      for (int b = 0; b < 8; b++) {
        size_t at = (size_t)(8 * q + b) * 64 + i;
        __m256 d =
            _mm256_sub_ps(_mm256_loadu_ps(z + at), _mm256_loadu_ps(y + at));
        if (gz) _mm256_storeu_ps(gz + at, _mm256_mul_ps(vs, d));
        sq[b] = _mm256_mul_ps(d, d);
      }
      transpose8(sq);
      for (int k = 0; k < 8; k++)
        acc[q] = _mm256_add_ps(acc[q], sq[k]);
    }
  for (int q = 0; q < 2; q++)
    _mm256_storeu_ps(part + 8 * q, acc[q]);
}

#define MSE_GROUP16 mse_group16_avx
#define MSE_GROUP16_OK __builtin_cpu_supports("avx")
#endif

#include "model_impl.h"
