/*
 * model.h: a stack of frozen linear layers with a LoRA adapter on each.
 *
 * Conventions are PEFT's: W0 is (d_out, d_in) like nn.Linear.weight, A is
 * (r, d_in), B is (d_out, r), and a layer computes
 *     z = h W0^T + s (h A^T) B^T
 * with s the LoRA scaling. An activation sits between layers, none after
 * the last. Losses: mse (mean over all output elements, as torch's
 * mse_loss) or cross-entropy (mean over rows; labels are class indices
 * stored as numbers).
 *
 * In "full" mode the adapters are absent: layer l computes z = h W_l^T with
 * W_l the effective weight W0 + s B A, and the gradient is taken w.r.t. W_l
 * (for full-weight sharpness and for generating targets).
 *
 * The model exists in two precisions from one source: la_net_f (float,
 * cblas_sgemm, used for training) and la_net_d (double, cblas_dgemm, used
 * for gradient checks and Hessian-vector products). Parameter and gradient
 * pointers are borrowed from the caller; activations live in a workspace the
 * net owns, sized for at most n_max rows per call.
 */
#ifndef LORALPHA_MODEL_H
#define LORALPHA_MODEL_H

#include "loralpha/common.h"
#include "loralpha/config.h"

#define LA_REAL float
#define LA_SUF(x) x##_f
#include "model_t.h"
#undef LA_REAL
#undef LA_SUF

#define LA_REAL double
#define LA_SUF(x) x##_d
#include "model_t.h"
#undef LA_REAL
#undef LA_SUF

#endif
