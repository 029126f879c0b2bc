/* metrics.c: spectra, signal/drift and sharpness (see metrics.h). */
#include "metrics.h"

#include "linalg.h"
#include "loralpha/resources.h"
#include "loralpha/rng.h"
#include "model.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a / b, NaN when b is 0 (a ratio that is not defined yet). */
static double ratio(double a, double b) {
  return b > 0 ? a / b : NAN;
}

/* sum_ij X_ij Y_ij of two n x n matrices: tr(X Y) for symmetric X, Y. */
static double dot_sym(const double *X, const double *Y, int n) {
  double s = 0;
  for (int i = 0; i < n * n; i++)
    s += X[i] * Y[i];
  return s;
}

/* Singular values of s R_B R_A^T into out (sigma_max, fro, stable rank). */
static int spectra_sv(const double *Ad, const double *Bd, int din, int dout,
                      int r, double s, la_spectra *out, double *wk) {
  double *Bc = wk, *Ac = Bc + (size_t)dout * r, *RB = Ac + (size_t)din * r;
  double *RA = RB + r * r, *K = RA + r * r, f2 = 0;
  int rc;
  for (int i = 0; i < dout; i++) /* B row-major to column-major */
    for (int j = 0; j < r; j++)
      Bc[i + (size_t)j * dout] = Bd[(size_t)i * r + j];
  memcpy(Ac, Ad,
         (size_t)din * r * sizeof *Ac); /* A row-major is A^T col-major */
  if ((rc = la_qr_r(Bc, dout, r, RB)) || (rc = la_qr_r(Ac, din, r, RA)))
    return rc;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, r, s, RB, r, RA, r,
              0, K, r);
  if ((rc = la_svd_values(K, r, out->sv))) return rc;
  for (int i = 0; i < r; i++)
    f2 += out->sv[i] * out->sv[i];
  out->sigma_max = out->sv[0];
  out->fro = sqrt(f2);
  out->stable_rank = ratio(f2, out->sv[0] * out->sv[0]);
  return 0;
}

/* Target-aware family: M = s (U^T B)(A V), signal = ||M||_F. */
static void spectra_target(const double *Ad, const double *Bd, int din,
                           int dout, int r, double s, const double *U,
                           const double *V, const double *S, int k,
                           la_spectra *out, double *wk) {
  double *P = wk, *Q = P + (size_t)k * r, *M = Q + (size_t)r * k;
  double sig2 = 0, inner = 0, t2 = 0, f2 = out->fro * out->fro;
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, r, dout, 1, U, k, Bd,
              r, 0, P, r);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, k, din, 1, Ad, din,
              V, k, 0, Q, k);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, k, r, s, P, r, Q, k,
              0, M, k);
  for (int i = 0; i < k * k; i++)
    sig2 += M[i] * M[i];
  for (int i = 0; i < k; i++)
    inner += S[i] * M[i * k + i], t2 += S[i] * S[i];
  out->has_target = 1;
  out->signal = sqrt(sig2);
  out->drift = sqrt(f2 - sig2 > 0 ? f2 - sig2 : 0);
  out->drift_ratio = ratio(out->drift, out->signal);
  out->cos_target = ratio(inner, out->fro * sqrt(t2));
  out->rel_err = ratio(sqrt(fmax(0, f2 - 2 * inner + t2)), sqrt(t2));
}

/* Target-free family from r x r Gram matrices. */
static void spectra_free(const double *Ad, const double *Bd, const float *A0,
                         int din, int dout, int r, double s, la_spectra *out,
                         double *wk) {
  double *D = wk, *A0d = D + (size_t)r * din, *GB = A0d + (size_t)r * din;
  double *G0 = GB + r * r, *GD = G0 + r * r, nd = 0, n0 = 0;
  for (size_t i = 0; i < (size_t)r * din; i++) {
    A0d[i] = A0[i];
    D[i] = Ad[i] - A0d[i];
    nd += D[i] * D[i], n0 += A0d[i] * A0d[i];
  }
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, r, dout, 1, Bd, r, Bd,
              r, 0, GB, r);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, din, 1, A0d, din,
              A0d, din, 0, G0, r);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, din, 1, D, din, D,
              din, 0, GD, r);
  out->tf_signal = fabs(s) * sqrt(fmax(0, dot_sym(GB, G0, r)));
  out->tf_drift = fabs(s) * sqrt(fmax(0, dot_sym(GB, GD, r)));
  out->mech_ratio = ratio(out->tf_drift, out->tf_signal);
  out->a_drift = ratio(sqrt(nd), sqrt(n0));
}

int la_spectra_layer(const float *A, const float *B, const float *A0, int din,
                     int dout, int r, double s, const double *U,
                     const double *V, const double *S, int k, la_spectra *out) {
  size_t na = (size_t)r * din, nb = (size_t)dout * r,
         kk = (size_t)(k > r ? k : r);
  size_t nwk =
      2 * na + 2 * nb + 4 * kk * kk + 2 * kk * (din > dout ? din : dout);
  double *Ad = malloc((na + nb + nwk) * sizeof *Ad), *Bd, *wk;
  int rc;
  if (Ad == NULL) return LA_ENOMEM;
  Bd = Ad + na, wk = Bd + nb;
  for (size_t i = 0; i < na; i++)
    Ad[i] = A[i];
  for (size_t i = 0; i < nb; i++)
    Bd[i] = B[i];
  out->has_target = 0;
  rc = spectra_sv(Ad, Bd, din, dout, r, s, out, wk);
  if (rc == 0 && U != NULL)
    spectra_target(Ad, Bd, din, dout, r, s, U, V, S, k, out, wk);
  if (rc == 0) spectra_free(Ad, Bd, A0, din, dout, r, s, out, wk);
  free(Ad);
  return rc;
}

/* ---- sharpness ---- */

/* A double-precision copy of the problem and the buffers a Hessian-vector
 * product needs; theta/grad are flat (all A then all B, or all W). */
typedef struct hvp {
  la_net_d net;
  size_t n;        /* parameters */
  double *theta;   /* (n) the point */
  double *work;    /* (n) theta +- eps v: what the net reads */
  double *g1, *g2; /* (n) gradients */
  double *W0;      /* frozen weights, concatenated */
  double *X, *Y;
  int rows;
  double eps; /* difference step: 1e-5 max(1, |theta|) */
} hvp;

static void hvp_free(hvp *h) {
  la_net_free_d(&h->net);
  free(h->theta), free(h->work), free(h->g1), free(h->g2);
  free(h->W0), free(h->X), free(h->Y);
}

/* Points the net's parameter and gradient pointers into params and grad. */
static void hvp_bind(hvp *h, const la_sharp_in *in, double *params,
                     double *grad) {
  size_t off = 0, w0 = 0;
  for (int l = 0; l < in->L; l++) {
    size_t dd = (size_t)in->dims[l] * in->dims[l + 1];
    if (h->net.full) {
      h->net.W0[l] = params + off, h->net.gW[l] = grad + off, off += dd;
    } else {
      h->net.W0[l] = h->W0 + w0;
      h->net.A[l] = params + off, h->net.gA[l] = grad + off;
      off += (size_t)in->r * in->dims[l];
    }
    w0 += dd;
  }
  for (int l = 0; !h->net.full && l < in->L; l++) {
    h->net.B[l] = params + off, h->net.gB[l] = grad + off;
    off += (size_t)in->dims[l + 1] * in->r;
  }
}

/* theta = (A..., B...) or (W0 + s B A)... in double. */
static void hvp_fill_theta(hvp *h, const la_sharp_in *in) {
  size_t off = 0, w0 = 0;
  for (int l = 0; l < in->L; l++) {
    int din = in->dims[l], dout = in->dims[l + 1], r = in->r;
    for (size_t i = 0; i < (size_t)din * dout; i++)
      h->W0[w0 + i] = in->W0[l][i];
    if (h->net.full) {
      for (int i = 0; i < dout; i++)
        for (int j = 0; j < din; j++) {
          double acc = 0;
          for (int q = 0; q < r; q++)
            acc += (double)in->B[l][(size_t)i * r + q] *
                   in->A[l][(size_t)q * din + j];
          h->theta[off++] = h->W0[w0 + (size_t)i * din + j] + in->s * acc;
        }
    } else {
      for (size_t i = 0; i < (size_t)r * din; i++)
        h->theta[off++] = in->A[l][i];
    }
    w0 += (size_t)din * dout;
  }
  for (int l = 0; !h->net.full && l < in->L; l++)
    for (size_t i = 0; i < (size_t)in->dims[l + 1] * in->r; i++)
      h->theta[off++] = in->B[l][i];
}

static int hvp_init(hvp *h, const la_sharp_in *in, int full) {
  size_t nw0 = 0, np = 0;
  memset(h, 0, sizeof *h);
  for (int l = 0; l < in->L; l++) {
    size_t dd = (size_t)in->dims[l] * in->dims[l + 1];
    nw0 += dd;
    np += full ? dd : (size_t)in->r * (in->dims[l] + in->dims[l + 1]);
  }
  h->n = np;
  h->rows = in->n;
  h->theta = malloc(np * sizeof(double)), h->work = malloc(np * sizeof(double));
  h->g1 = malloc(np * sizeof(double)), h->g2 = malloc(np * sizeof(double));
  h->W0 = malloc(nw0 * sizeof(double));
  h->X = malloc((size_t)in->n * in->dims[0] * sizeof(double));
  h->Y = malloc((size_t)in->n * in->y_dim * sizeof(double));
  if (!h->theta || !h->work || !h->g1 || !h->g2 || !h->W0 || !h->X || !h->Y)
    return LA_ENOMEM;
  if (la_net_init_d(&h->net, in->L, in->dims, in->r, in->n, in->act, in->loss,
                    in->s, full))
    return LA_ENOMEM;
  for (size_t i = 0; i < (size_t)in->n * in->dims[0]; i++)
    h->X[i] = in->X[i];
  for (size_t i = 0; i < (size_t)in->n * in->y_dim; i++)
    h->Y[i] = in->Y[i];
  hvp_fill_theta(h, in);
  double nt = cblas_dnrm2((int)h->n, h->theta, 1);
  h->eps = 1e-5 * (nt > 1 ? nt : 1);
  return 0;
}

/* out = H v by (g(theta + eps v) - g(theta - eps v)) / (2 eps), |v| = 1. */
static void hvp_apply(hvp *h, const la_sharp_in *in, const double *v,
                      double *out) {
  double eps = h->eps;
  for (size_t i = 0; i < h->n; i++)
    h->work[i] = h->theta[i] + eps * v[i];
  hvp_bind(h, in, h->work, h->g1);
  la_net_loss_grad_d(&h->net, h->X, h->Y, h->rows);
  for (size_t i = 0; i < h->n; i++)
    h->work[i] = h->theta[i] - eps * v[i];
  hvp_bind(h, in, h->work, h->g2);
  la_net_loss_grad_d(&h->net, h->X, h->Y, h->rows);
  for (size_t i = 0; i < h->n; i++)
    out[i] = (h->g1[i] - h->g2[i]) / (2 * eps);
}

/* The operator la_lanczos_top multiplies by: the problem and its data. */
typedef struct hvp_op {
  hvp *h;
  const la_sharp_in *in;
} hvp_op;

static int hvp_product(void *ctx, const double *v, double *out) {
  hvp_op *op = ctx;
  hvp_apply(op->h, op->in, v, out);
  return 0;
}

/* A unit Gaussian vector from the sharpness stream. */
static void random_unit(la_rng *rng, double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    v[i] = la_rng_normal(rng);
  cblas_dscal((int)n, 1.0 / cblas_dnrm2((int)n, v, 1), v, 1);
}

int la_sharpness_top(la_symop op, void *ctx, size_t n, int iters, double tol,
                     uint64_t seed, la_eig_top *out) {
  la_rng rng;
  double *v = malloc((n ? n : 1) * sizeof *v);
  int rc;
  if (v == NULL) return LA_ENOMEM;
  la_rng_init(&rng, seed, LA_STREAM_SHARPNESS);
  random_unit(&rng, v, n);
  rc = la_lanczos_top(op, ctx, (int)n, v, iters, tol,
                      la_sharpness_keeps_basis(iters, (double)n), out);
  free(v);
  return rc;
}

int la_sharpness(const la_sharp_in *in, int full, int iters, double tol,
                 uint64_t seed, la_eig_top *out) {
  hvp h;
  hvp_op op = {&h, in};
  int rc = hvp_init(&h, in, full);
  if (rc == 0)
    rc = la_sharpness_top(hvp_product, &op, h.n, iters, tol, seed, out);
  hvp_free(&h);
  return rc;
}
