/*
 * optim.h: AdamW (torch.optim.AdamW's update rule), SGD with momentum
 * (torch.optim.SGD's), and the learning-rate schedules.
 *
 * Parameters are one flat float array; the first n_a entries (all A
 * matrices) use lr_a, the rest (all B matrices) use lr_b, which is how
 * LoRA+ (lr_B = ratio * lr_A) is applied.
 */
#ifndef LORALPHA_OPTIM_H
#define LORALPHA_OPTIM_H

#include "loralpha/config.h"

#include <stddef.h>

typedef struct la_optim {
  la_opt_kind kind;
  size_t n; /* parameters */
  float *m; /* (n) AdamW first moment / SGD momentum buffer (owned) */
  float *v; /* (n) AdamW second moment (owned; NULL for SGD) */
  long t;   /* steps taken */
  double beta1, beta2, eps, weight_decay, momentum;
  int nesterov;
  int measure; /* 1 (default): la_optim_step returns the update norm; 0:
                  it returns NaN and skips the reduction (faster) */
} la_optim;

/* Sets up an optimizer for n parameters from cfg's optimizer fields, with
 * zeroed state. Returns 0 or LA_ENOMEM. */
int la_optim_init(la_optim *o, const la_config *cfg, size_t n);
void la_optim_free(la_optim *o);

/* One update of theta (n) with gradient g (n): entries [0, n_a) at lr_a, the
 * rest at lr_b. Returns the update's norm ||theta_new - theta_old||_2, or
 * NaN when o->measure is 0. */
double la_optim_step(la_optim *o, float *theta, const float *g, size_t n_a,
                     double lr_a, double lr_b);

/* The schedule's multiplier for the update with 0-based index k of a run of
 * `steps` updates (HuggingFace's get_cosine_schedule_with_warmup for
 * "cosine", with a floor of min_lr_ratio; 1 for "constant" after warmup). */
double la_lr_factor(const la_config *cfg, long k);

#endif
