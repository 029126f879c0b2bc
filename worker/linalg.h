/*
 * linalg.h: the small dense algebra the metrics and tasks need, in double
 * precision on LAPACK (OpenBLAS's): QR, singular values, orthonormal bases,
 * the top singular value of a large matrix.
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

/* Frobenius norm of n floats, accumulated in double. */
double la_norm_f(const float *x, size_t n);

#endif
