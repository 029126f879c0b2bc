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
extern void dstevr_(const char *jobz, const char *range, const int *n,
                    double *d, double *e, const double *vl, const double *vu,
                    const int *il, const int *iu, const double *abstol, int *m,
                    double *w, double *z, const int *ldz, int *isuppz,
                    double *work, const int *lwork, int *iwork,
                    const int *liwork, int *info);

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

/* ---- Lanczos for the top eigenvalue of a symmetric operator ---- */

/* The buffers of one Lanczos run: the basis, the tridiagonal T_k and
 * dstevr's workspace (20k and 10k), all from one allocation. */
typedef struct lanczos {
  int keep;            /* 1: Q holds every q_j; 0: the last two only */
  double *Q;           /* (cap or 2, n) row-major: the basis q_j */
  double *w, *c;       /* (n) the next vector, (cap) reorth coefficients */
  double *a, *b;       /* (cap) T's diagonal alpha_j and off-diagonal beta_j */
  double *d, *e;       /* (cap) copies of a and b that dstevr overwrites */
  double *ev, *z;      /* (cap) dstevr's eigenvalues and eigenvector */
  double *work;        /* (20 cap) */
  int *iwork, *isuppz; /* (10 cap), (2) */
} lanczos;

static int lanczos_alloc(lanczos *lz, int n, int cap, int keep) {
  size_t rows = keep ? (size_t)cap : 2;
  size_t nd = rows * n + n + 28 * (size_t)cap;
  memset(lz, 0, sizeof *lz);
  lz->keep = keep;
  lz->Q = malloc(nd * sizeof(double));
  lz->iwork = malloc((10 * (size_t)cap + 2) * sizeof(int));
  if (lz->Q == NULL || lz->iwork == NULL) return LA_ENOMEM;
  lz->w = lz->Q + rows * n, lz->c = lz->w + n;
  lz->a = lz->c + cap, lz->b = lz->a + cap, lz->d = lz->b + cap;
  lz->e = lz->d + cap, lz->ev = lz->e + cap, lz->z = lz->ev + cap;
  lz->work = lz->z + cap;
  lz->isuppz = lz->iwork + 10 * (size_t)cap;
  return 0;
}

/* The largest eigenvalue of T_k (diagonal a, off-diagonal b) and the last
 * component of its unit eigenvector, by LAPACK's dstevr for that one pair. */
static int tridiag_top(lanczos *lz, int k, double *theta, double *last) {
  int m = 0, info = 0, lwork = 20 * k, liwork = 10 * k;
  double zero = 0;
  memcpy(lz->d, lz->a, (size_t)k * sizeof(double));
  memcpy(lz->e, lz->b, (size_t)k * sizeof(double));
  dstevr_("V", "I", &k, lz->d, lz->e, &zero, &zero, &k, &k, &zero, &m, lz->ev,
          lz->z, &k, lz->isuppz, lz->work, &lwork, lz->iwork, &liwork, &info);
  if (info != 0 || m != 1) return LA_ENUMERIC;
  *theta = lz->ev[0];
  *last = lz->z[k - 1];
  return 0;
}

/* Orthogonalises x against the rows of Q (k, n) by classical Gram-Schmidt,
 * repeated only when the first pass cancelled most of x (the DGKS test:
 * ||x|| fell below ||x_before|| / sqrt 2), which is when rounding may have
 * left x short of orthogonal; returns ||x||. One pass reads the basis
 * twice, so the test halves the cost when the basis is large. */
static double reorth_dgks(const double *Q, int k, int n, double *x, double *c) {
  double before = cblas_dnrm2(n, x, 1), after = before;
  for (int pass = 0; pass < 2; pass++) {
    cblas_dgemv(CblasRowMajor, CblasNoTrans, k, n, 1, Q, n, x, 1, 0, c, 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, k, n, -1, Q, n, c, 1, 1, x, 1);
    after = cblas_dnrm2(n, x, 1);
    if (after > 0.7071067811865476 * before) break;
    before = after;
  }
  return after;
}

/* Where q_j is kept: its own row, or one of two in turn. */
static double *lanczos_row(const lanczos *lz, int n, int j) {
  return lz->Q + (size_t)(lz->keep ? j : j & 1) * n;
}

/* Step j: w = H q_j - alpha_j q_j - beta_{j-1} q_{j-1}, orthogonalised
 * against q_0..q_j (or, without the basis, against q_j and q_{j-1} once
 * more); beta_j = ||w||. */
static int lanczos_step(lanczos *lz, la_symop op, void *ctx, int n, int j) {
  double *q = lanczos_row(lz, n, j), *qp = j ? lanczos_row(lz, n, j - 1) : q;
  int rc = op(ctx, q, lz->w);
  if (rc) return rc;
  lz->a[j] = cblas_ddot(n, q, 1, lz->w, 1);
  cblas_daxpy(n, -lz->a[j], q, 1, lz->w, 1);
  if (j > 0) cblas_daxpy(n, -lz->b[j - 1], qp, 1, lz->w, 1);
  if (lz->keep) {
    lz->b[j] = reorth_dgks(lz->Q, j + 1, n, lz->w, lz->c);
    return 0;
  }
  cblas_daxpy(n, -cblas_ddot(n, q, 1, lz->w, 1), q, 1, lz->w, 1);
  if (j > 0) cblas_daxpy(n, -cblas_ddot(n, qp, 1, lz->w, 1), qp, 1, lz->w, 1);
  lz->b[j] = cblas_dnrm2(n, lz->w, 1);
  return 0;
}

int la_lanczos_top(la_symop op, void *ctx, int n, const double *v0, int cap,
                   double tol, int keep_basis, la_eig_top *out) {
  lanczos lz;
  double tnorm = 0, last = 0;
  int rc;
  out->lambda = out->residual = NAN, out->iters = 0, out->converged = 0;
  cap = cap < n ? cap : n;
  memset(&lz, 0, sizeof lz);
  rc = cap < 1 ? LA_EINVAL : lanczos_alloc(&lz, n, cap, keep_basis);
  if (rc) goto cleanup;
  memcpy(lz.Q, v0, (size_t)n * sizeof(double));
  for (int j = 0; j < cap; j++) {
    if ((rc = lanczos_step(&lz, op, ctx, n, j)) != 0) goto cleanup;
    out->iters = j + 1;
    if (!isfinite(lz.a[j]) || !isfinite(lz.b[j])) { /* a diverged point */
      out->lambda = out->residual = NAN;
      goto cleanup;
    }
    tnorm = fmax(tnorm, fabs(lz.a[j]) + lz.b[j] + (j ? lz.b[j - 1] : 0));
    if ((rc = tridiag_top(&lz, j + 1, &out->lambda, &last)) != 0) goto cleanup;
    out->residual = fabs(lz.b[j] * last);
    /* invariant Krylov space (b ~ 0): lambda is an exact eigenvalue */
    if (out->residual <= tol * fabs(out->lambda) || lz.b[j] <= 1e-14 * tnorm) {
      out->converged = 1;
      break;
    }
    if (j + 1 < cap) {
      double *next = lanczos_row(&lz, n, j + 1);
      for (int i = 0; i < n; i++)
        next[i] = lz.w[i] / lz.b[j];
    }
  }
cleanup:
  free(lz.Q);
  free(lz.iwork);
  return rc;
}

double la_norm_f(const float *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return sqrt(s);
}
