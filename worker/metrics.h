/*
 * metrics.h: what the worker measures besides the loss.
 *
 * Spectra of dW = s B A per layer from r x r algebra (never forming the
 * d_out x d_in matrix): ||BA||_F^2 = tr((B^T B)(A A^T)); singular values of
 * s R_B R_A^T from the QRs B = Q_B R_B and A^T = Q_A R_A.
 *
 * Signal and drift, two families (docs/metrics.md):
 *  target-aware (the task knows dW* = U diag(S) V^T): signal = P_U dW P_V,
 *    drift = dW - signal, drift_ratio = ||drift||_F / ||signal||_F,
 *    cos(dW, dW*), ||dW - dW*||_F / ||dW*||_F;
 *  target-free: signal = s B A0, drift = s B (A - A0),
 *    mech_ratio = ||drift||_F / ||signal||_F, a_drift = ||A - A0||_F /
 * ||A0||_F. A figure that is 0/0 (say, a ratio while B is still zero) is NaN,
 * which the output writes as null.
 *
 * Sharpness: the top Hessian eigenvalue of the loss on a fixed batch, by
 * Lanczos (linalg.h) on Hessian-vector products taken as central
 * differences of double-precision gradients, w.r.t. the LoRA parameters
 * (A, B) or w.r.t. the full weights W_l = W0_l + s B_l A_l, with the
 * residual that says whether it converged.
 */
#ifndef LORALPHA_METRICS_H
#define LORALPHA_METRICS_H

#include "linalg.h"
#include "loralpha/config.h"

#include <stdint.h>

typedef struct la_spectra {
  double sigma_max, fro, stable_rank;
  double *sv; /* (r) descending; caller's buffer */
  int has_target;
  double signal, drift, drift_ratio, cos_target, rel_err; /* target-aware */
  double tf_signal, tf_drift, mech_ratio, a_drift;        /* target-free */
} la_spectra;

/* One layer's dW = s B A. A (r, din), B (dout, r), A0 (r, din) the initial A;
 * U (dout, k), V (din, k), S (k) the true shift, or U == NULL. out->sv must
 * hold r values. Returns 0 or an LA_E code. */
int la_spectra_layer(const float *A, const float *B, const float *A0, int din,
                     int dout, int r, double s, const double *U,
                     const double *V, const double *S, int k, la_spectra *out);

/* The network and data a sharpness measurement needs (all borrowed). */
typedef struct la_sharp_in {
  int L;
  const int *dims; /* (L+1) */
  int r;
  la_act act;
  la_loss loss;
  double s;
  const float *const *W0; /* (L) (d_out, d_in) */
  const float *const *A;  /* (L) (r, d_in) */
  const float *const *B;  /* (L) (d_out, r) */
  const float *X, *Y;     /* n rows */
  int n, y_dim;
} la_sharp_in;

/* Top (largest algebraic) Hessian eigenvalue w.r.t. the LoRA parameters
 * (full = 0) or the full weights (full = 1), by la_lanczos_top from a unit
 * Gaussian vector drawn from seed: at most iters products, stopping when
 * the Ritz pair's residual is <= tol |lambda|. *out gets the estimate, its
 * residual, the products used and whether it converged (a NaN estimate
 * when the gradients were not finite). Returns 0 or an LA_E code. */
int la_sharpness(const la_sharp_in *in, int full, int iters, double tol,
                 uint64_t seed, la_eig_top *out);

/* The Lanczos part of a sharpness estimate for any Hessian-vector product
 * op of n parameters: from a unit Gaussian vector of seed's sharpness
 * stream, as la_sharpness. Returns 0 or an LA_E code. */
int la_sharpness_top(la_symop op, void *ctx, size_t n, int iters, double tol,
                     uint64_t seed, la_eig_top *out);

#endif
