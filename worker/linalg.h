/*
 * linalg.h: the small dense algebra the metrics and tasks need, in double
 * precision on LAPACK (OpenBLAS's): QR, singular values, orthonormal bases,
 * the top singular value of a large matrix, the top eigenvalue of a
 * symmetric operator known only through its products.
 */
#ifndef LORALPHA_LINALG_H
#define LORALPHA_LINALG_H

#include "loralpha/common.h"
#include "loralpha/rng.h"

/* R (n, n), row-major, upper triangular, of the thin QR of M (m, n) given
 * column-major (m >= n). M is overwritten. Returns 0 or LA_ENUMERIC /
 * LA_ENOMEM. */
int la_qr_r(double *M, int m, int n, double *R);

/* Singular values (descending) of the n x n matrix M (any layout: values are
 * the same for M and M^T). M is overwritten. Returns 0 or LA_ENUMERIC /
 * LA_ENOMEM. */
int la_svd_values(double *M, int n, double *sv);

/* Q (m, k), row-major, with orthonormal columns: a Haar-random basis from
 * Gaussian draws of rng and a QR. k <= m. Returns 0 or an LA_E code. */
int la_orthonormal(la_rng *rng, int m, int k, double *Q);

/* Largest singular value of W (m, n) row-major, float, in double precision
 * by Golub-Kahan-Lanczos bidiagonalisation with full reorthogonalisation
 * (at most min(m, n, 300) steps, until the estimate moves less than 1e-13
 * relative). NaN when out of memory. */
double la_sigma_max_f(const float *W, int m, int n);

/* A symmetric operator: out = H v, both of the operator's length. Returns
 * 0 or an LA_E code. */
typedef int (*la_symop)(void *ctx, const double *v, double *out);

/* What la_lanczos_top found. */
typedef struct la_eig_top {
  double lambda;   /* the largest Ritz value: lambda_max(H); NaN when a
                      product was not finite */
  double residual; /* ||H x - lambda x|| of its unit Ritz vector x, from
                      Lanczos' |beta_k y_k|; NaN with lambda */
  int iters;       /* products used */
  int converged;   /* 1: residual <= tol |lambda|, or the Krylov space
                      became invariant (the residual is then ~0) */
} la_eig_top;

/* The largest (algebraic) eigenvalue of the symmetric n x n operator op by
 * Lanczos from the unit vector v0 (borrowed): at most min(cap, n)
 * products, stopping as soon as the top Ritz pair's residual is <= tol
 * |lambda|. A residual r bounds the error: some eigenvalue of H lies
 * within r of lambda (Paige's theorem keeps this true without full
 * orthogonality). keep_basis 1: full reorthogonalisation against every
 * q_j (classical Gram-Schmidt, a second pass when the first cancelled most
 * of the vector), (min(cap, n) + 1) n doubles; 0: only the last two q_j
 * are kept and w is orthogonalised against them once more, 3 n doubles
 * (the top Ritz value still converges; copies of it may appear later).
 * Returns 0 (also when not converged: see out->converged) or an LA_E code
 * (op's own, LA_ENOMEM, LA_ENUMERIC, LA_EINVAL for n < 1). */
int la_lanczos_top(la_symop op, void *ctx, int n, const double *v0, int cap,
                   double tol, int keep_basis, la_eig_top *out);

/* Frobenius norm of n floats, accumulated in double. */
double la_norm_f(const float *x, size_t n);

#endif
