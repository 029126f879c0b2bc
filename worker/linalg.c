/* linalg.c: QR, singular values and bases on LAPACK (see linalg.h). */
#include "loralpha/linalg.h"

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
  dgesdd_("N", &n, &n, M, &n, sv, &dummy, &one, &dummy, &one, &q, &lwork,
          iwork, &info);
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
  for (size_t i = 0; i < (size_t)m * k; i++) M[i] = la_rng_normal(rng);
  if ((rc = geqrf(M, m, k, tau))) goto cleanup;
  dorgqr_(&m, &k, &k, M, &m, tau, &q, &lwork, &info);
  lwork = (int)q > 1 ? (int)q : 1;
  rc = LA_ENOMEM;
  if ((work = malloc((size_t)lwork * sizeof *work)) == NULL) goto cleanup;
  dorgqr_(&m, &k, &k, M, &m, tau, work, &lwork, &info);
  rc = info == 0 ? 0 : LA_ENUMERIC;
  for (int i = 0; rc == 0 && i < m; i++) /* column-major to row-major */
    for (int j = 0; j < k; j++) Q[(size_t)i * k + j] = M[i + (size_t)j * m];
cleanup:
  free(M);
  free(tau);
  free(work);
  return rc;
}

double la_sigma_max_f(const float *W, int m, int n) {
  double *Wd = malloc((size_t)m * n * sizeof *Wd);
  double *v = malloc((size_t)n * sizeof *v), *u = malloc((size_t)m * sizeof *u);
  double sigma = 0, prev = -1;
  if (Wd == NULL || v == NULL || u == NULL) goto cleanup;
  for (size_t i = 0; i < (size_t)m * n; i++) Wd[i] = W[i];
  for (int j = 0; j < n; j++) v[j] = 1.0 + 0.01 * (j % 7); /* deterministic start */
  for (int it = 0; it < 2000; it++) {
    double nv = cblas_dnrm2(n, v, 1);
    cblas_dscal(n, 1.0 / nv, v, 1);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, m, n, 1, Wd, n, v, 1, 0, u, 1);
    sigma = cblas_dnrm2(m, u, 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, m, n, 1, Wd, n, u, 1, 0, v, 1);
    if (sigma == 0 || fabs(sigma - prev) <= 1e-10 * sigma) break;
    prev = sigma;
  }
cleanup:
  free(Wd);
  free(v);
  free(u);
  return sigma;
}

double la_norm_f(const float *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return sqrt(s);
}
