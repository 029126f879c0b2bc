/* model_f.c: the model in single precision (training). See model_impl.h. */
#include "model.h"

#include <cblas.h>

#define LA_REAL float
#define LA_SUF(x) x##_f
#define GEMM cblas_sgemm
#define ERF erff
#define EXP expf
#define TANH tanhf
#if defined(__SSE2__)
#include <emmintrin.h>
#define LA_MSE_SSE /* loss_mse's SSE2 path (model_impl.h) */
#endif
#include "model_impl.h"
