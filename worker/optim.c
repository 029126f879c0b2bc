/* optim.c: AdamW, SGD with momentum, and schedules (see optim.h). */
#include "optim.h"

#include "vec.h"

#include <math.h>
#include <stdlib.h>

int la_optim_init(la_optim *o, const la_config *cfg, size_t n) {
  o->kind = cfg->optimizer;
  o->n = n;
  o->t = 0;
  o->beta1 = cfg->beta1;
  o->beta2 = cfg->beta2;
  o->eps = cfg->eps;
  o->weight_decay = cfg->weight_decay;
  o->momentum = cfg->momentum;
  o->nesterov = cfg->nesterov;
  o->measure = 1;
  o->m = calloc(n ? n : 1, sizeof(float));
  o->v = o->kind == LA_OPT_ADAMW ? calloc(n ? n : 1, sizeof(float)) : NULL;
  if (o->m == NULL || (o->kind == LA_OPT_ADAMW && o->v == NULL)) {
    la_optim_free(o);
    return LA_ENOMEM;
  }
  return 0;
}

void la_optim_free(la_optim *o) {
  free(o->m);
  free(o->v);
  o->m = o->v = NULL;
}

/* AdamW on one segment, in torch's order of operations:
 *   p *= 1 - lr wd;  m = m + (1-b1)(g - m);  v = b2 v + (1-b2) g^2;
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
 * Without `measure` the loop has no reduction and vectorises; both loops do
 * the same float operations, so the parameters do not depend on it, nor
 * on which of VEC_WIDE's builds runs (vec.h). */
VEC_WIDE static double adamw_segment(la_optim *o, float *restrict p,
                                     const float *restrict g, float *restrict m,
                                     float *restrict v, size_t n, double lr) {
  double bc1 = 1.0 - pow(o->beta1, (double)o->t);
  double bc2s = sqrt(1.0 - pow(o->beta2, (double)o->t));
  const float decay = (float)(1.0 - lr * o->weight_decay);
  const float step = (float)(lr / bc1), b1c = (float)(1.0 - o->beta1);
  const float b2 = (float)o->beta2, b2c = (float)(1.0 - o->beta2);
  const float bc2s_f = (float)bc2s, eps = (float)o->eps;
  double un = 0;
  if (!o->measure) {
    for (size_t i = 0; i < n; i++) {
      float gi = g[i], mi = m[i] + b1c * (gi - m[i]);
      float vi = b2 * v[i] + b2c * gi * gi;
      m[i] = mi, v[i] = vi;
      p[i] = p[i] * decay - step * mi / (sqrtf(vi) / bc2s_f + eps);
    }
    return NAN;
  }
  for (size_t i = 0; i < n; i++) {
    float gi = g[i], old = p[i], mi = m[i] + b1c * (gi - m[i]);
    float vi = b2 * v[i] + b2c * gi * gi;
    m[i] = mi, v[i] = vi;
    p[i] = old * decay - step * mi / (sqrtf(vi) / bc2s_f + eps);
    un += (double)(p[i] - old) * (double)(p[i] - old);
  }
  return un;
}

/* SGD on one segment (torch's rule, dampening 0): g += wd p; buf = g on the
 * first step, else mu buf + g; nesterov: g += mu buf, else g = buf. */
static double sgd_segment(la_optim *o, float *p, const float *g, float *buf,
                          size_t n, double lr) {
  float mu = (float)o->momentum, wd = (float)o->weight_decay, flr = (float)lr;
  double un = 0;
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] + wd * p[i], d = gi;
    if (mu != 0) {
      buf[i] = o->t == 1 ? gi : mu * buf[i] + gi;
      d = o->nesterov ? gi + mu * buf[i] : buf[i];
    }
    float np = p[i] - flr * d;
    un += (double)(np - p[i]) * (double)(np - p[i]);
    p[i] = np;
  }
  return un;
}

double la_optim_step(la_optim *o, float *theta, const float *g, size_t n_a,
                     double lr_a, double lr_b) {
  double un;
  size_t n_b = o->n - n_a;
  o->t++;
  if (o->kind == LA_OPT_ADAMW) {
    un = adamw_segment(o, theta, g, o->m, o->v, n_a, lr_a);
    un += adamw_segment(o, theta + n_a, g + n_a, o->m + n_a, o->v + n_a, n_b,
                        lr_b);
  } else {
    un = sgd_segment(o, theta, g, o->m, n_a, lr_a);
    un += sgd_segment(o, theta + n_a, g + n_a, o->m + n_a, n_b, lr_b);
  }
  return o->measure ? sqrt(un) : NAN;
}

double la_lr_factor(const la_config *cfg, long k) {
  long w = cfg->warmup_steps, total = cfg->steps;
  if (k < w) return (double)k / (double)(w > 1 ? w : 1);
  if (cfg->schedule == LA_LR_CONSTANT) return 1.0;
  double progress = (double)(k - w) / (double)(total - w > 1 ? total - w : 1);
  double cosine = 0.5 * (1.0 + cos(LA_PI * progress));
  if (cosine < 0) cosine = 0;
  return cfg->min_lr_ratio + (1.0 - cfg->min_lr_ratio) * cosine;
}
