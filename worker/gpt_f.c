/* gpt_f.c: the GPT model in single precision (training). See gpt_impl.h. */
#include "gpt.h"

#include <cblas.h>

#define LA_REAL float
#define LA_SUF(x) x##_f
#define GEMM cblas_sgemm
#define EXP expf
#define TANH tanhf
#include "gpt_impl.h"
