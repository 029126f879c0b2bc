/* linalg.c: QR, singular values and bases on LAPACK (see linalg.h). */
#include "linalg.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK's Fortran entry points, as OpenBLAS exports them. */
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda,
                    double *tau, double *work, const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a,
                    const int *lda, const double *tau, double *work,
                    const int *lwork, int *info);
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a,
                    const int *lda, double *s, double *u, const int *ldu,
                    double *vt, const int *ldvt, double *work, const int *lwork,
                    int *iwork, int *info);

/* dgeqrf on M (m, n) column-major with workspace query; tau gets n values. */
static int geqrf(double *M, int m, int n, double *tau) {
  int info = 0, lwork = -1;
  double q = 0, *work;
  dgeqrf_(&m, &n, M, &m, tau, &q, &lwork, &info);
  if (info != 0) return LA_ENUMERIC;
  lwork = (int)q > 1 ? (int)q : 1;
  work = malloc((size_t)lwork * sizeof *work);
  if (work == NULL) return LA_ENOMEM;
  dgeqrf_(&m, &n, M, &m, tau, work, &lwork, &info);
  free(work);
  return info == 0 ? 0 : LA_ENUMERIC;
}

int la_qr_r(double *M, int m, int n, double *R) {
  double *tau = malloc((size_t)n * sizeof *tau);
  int rc;
  if (tau == NULL) return LA_ENOMEM;
  rc = geqrf(M, m, n, tau);
  free(tau);
  if (rc) return rc;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      R[i * n + j] = j >= i ? M[i + (size_t)j * m] : 0.0;
  return 0;
}

int la_svd_values(double *M, int n, double *sv) {
  int info = 0, lwork = -1, one = 1;
  double q = 0, dummy = 0, *work = NULL;
  int *iwork = malloc((size_t)8 * n * sizeof *iwork);
  if (iwork == NULL) return LA_ENOMEM;
  dgesdd_("N", &n, &n, M, &n, sv, &dummy, &one, &dummy, &one, &q, &lwork, iwork,
          &info);
  lwork = (int)q > 1 ? (int)q : 1;
  if (info == 0) work = malloc((size_t)lwork * sizeof *work);
  if (info == 0 && work != NULL)
    dgesdd_("N", &n, &n, M, &n, sv, &dummy, &one, &dummy, &one, work, &lwork,
            iwork, &info);
  free(iwork);
  free(work);
  if (work == NULL && info == 0) return LA_ENOMEM;
  return info == 0 ? 0 : LA_ENUMERIC;
}

int la_orthonormal(la_rng *rng, int m, int k, double *Q) {
  double *M = malloc((size_t)m * k * sizeof *M);
  double *tau = malloc((size_t)k * sizeof *tau), q = 0, *work = NULL;
  int rc = LA_ENOMEM, info = 0, lwork = -1;
  if (M == NULL || tau == NULL) goto cleanup;
  for (size_t i = 0; i < (size_t)m * k; i++)
    M[i] = la_rng_normal(rng);
  if ((rc = geqrf(M, m, k, tau))) goto cleanup;
  dorgqr_(&m, &k, &k, M, &m, tau, &q, &lwork, &info);
  lwork = (int)q > 1 ? (int)q : 1;
  rc = LA_ENOMEM;
  if ((work = malloc((size_t)lwork * sizeof *work)) == NULL) goto cleanup;
  dorgqr_(&m, &k, &k, M, &m, tau, work, &lwork, &info);
  rc = info == 0 ? 0 : LA_ENUMERIC;
  for (int i = 0; rc == 0 && i < m; i++) /* column-major to row-major */
    for (int j = 0; j < k; j++)
      Q[(size_t)i * k + j] = M[i + (size_t)j * m];
cleanup:
  free(M);
  free(tau);
  free(work);
  return rc;
}

/* Orthogonalises x (len n) against the rows of Q (k, n), twice for
 * stability, and returns its norm afterwards. */
static double reorth(const double *Q, int k, int n, double *x, double *c) {
  for (int pass = 0; pass < 2 && k > 0; pass++) {
    cblas_dgemv(CblasRowMajor, CblasNoTrans, k, n, 1, Q, n, x, 1, 0, c, 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, k, n, -1, Q, n, c, 1, 1, x, 1);
  }
  return cblas_dnrm2(n, x, 1);
}

/* sigma_max of the k x (k+1) upper bidiagonal [B_k, b_k e_k] (diagonal a,
 * superdiagonal b), padded with a zero row to a square (k+1) x (k+1): its
 * singular values are those of U_k^T W V_{k+1}, which also covers W of rank
 * below its width. -1 (never a singular value) when the SVD fails. */
static double bidiag_sigma_max(const double *a, const double *b, int k,
                               double *work, double *sv) {
  int K = k + 1;
  memset(work, 0, (size_t)K * K * sizeof *work);
  for (int i = 0; i < k; i++) {
    work[i * K + i] = a[i];
    work[i * K + i + 1] = b[i];
  }
  return la_svd_values(work, K, sv) == 0 ? sv[0] : -1;
}

/* Golub-Kahan-Lanczos bidiagonalisation with full reorthogonalisation: the
 * largest singular value of the small bidiagonal converges to sigma_max(W)
 * in far fewer products than power iteration. */
static double gkl_sigma_max(const double *W, int m, int n, double *mem,
                            int kmax) {
  double *U = mem, *V = U + (size_t)kmax * m, *a = V + (size_t)(kmax + 1) * n;
  double *b = a + kmax, *c = b + kmax, *work = c + (m > n ? m : n);
  double *sv = work + (size_t)(kmax + 1) * (kmax + 1), sigma = 0, prev = -1;
  la_rng rng;
  la_rng_init(&rng, 0, 0x5167);
  for (int j = 0; j < n; j++)
    V[j] = la_rng_normal(&rng);
  cblas_dscal(n, 1.0 / cblas_dnrm2(n, V, 1), V, 1);
  for (int k = 0; k < kmax; k++) {
    double *u = U + (size_t)k * m, *v = V + (size_t)k * n, *vn = v + n;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, m, n, 1, W, n, v, 1, 0, u, 1);
    if (k > 0) cblas_daxpy(m, -b[k - 1], U + (size_t)(k - 1) * m, 1, u, 1);
    a[k] = reorth(U, k, m, u, c);
    if (a[k] > 0) cblas_dscal(m, 1.0 / a[k], u, 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, m, n, 1, W, n, u, 1, 0, vn, 1);
    cblas_daxpy(n, -a[k], v, 1, vn, 1);
    b[k] = reorth(V, k + 1, n, vn, c);
    if (b[k] > 0) cblas_dscal(n, 1.0 / b[k], vn, 1);
    if ((k + 1) % 8 == 0 || k + 1 == kmax || !(b[k] > 1e-14 * a[0])) {
      sigma = bidiag_sigma_max(a, b, k + 1, work, sv);
      if (sigma < 0 || fabs(sigma - prev) <= 1e-13 * sigma ||
          !(b[k] > 1e-14 * a[0]))
        break;
      prev = sigma;
    }
  }
  return sigma;
}

double la_sigma_max_f(const float *W, int m, int n) {
  int kmax = (m < n ? m : n) < 300 ? (m < n ? m : n) : 300;
  size_t big = (size_t)(m > n ? m : n);
  size_t need = (size_t)m * n + (size_t)kmax * m + (size_t)(kmax + 1) * n +
                2 * (size_t)kmax + big + (size_t)(kmax + 1) * (kmax + 1) +
                (size_t)kmax + 1;
  double *mem = malloc(need * sizeof *mem), sigma = NAN;
  if (mem == NULL) return NAN;
  for (size_t i = 0; i < (size_t)m * n; i++)
    mem[i] = W[i];
  sigma = gkl_sigma_max(mem, m, n, mem + (size_t)m * n, kmax);
  free(mem);
  return sigma;
}

double la_norm_f(const float *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return sqrt(s);
}
