/* model_d.c: the model in double precision (gradient checks, Hessian-vector
 * products). See model_impl.h. */
#include "model.h"

#include <cblas.h>

#define LA_REAL double
#define LA_SUF(x) x##_d
#define GEMM cblas_dgemm
#define ERF erf
#define EXP exp
#define TANH tanh
#include "model_impl.h"
