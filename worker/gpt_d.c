/* gpt_d.c: the GPT model in double precision (gradient checks). See gpt_impl.h.
 */
#include "gpt.h"

#include <cblas.h>

#define LA_REAL double
#define LA_SUF(x) x##_d
#define GEMM cblas_dgemm
#define EXPNEG exp
#define TANH tanh
#include "gpt_impl.h"
