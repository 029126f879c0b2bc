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

/* The optimizers update a segment chunk by chunk: a chunk's update has no
 * reduction and vectorises (VEC, VEC_WIDE: vec.h, the same bits in every
 * build) and keeps each entry's change p_new - p_old; on steps that measure
 * the update, the changes' squares are then summed in double in entry
 * order, as one loop over the segment would. */
#define CHUNK 1024

/* un plus the squares of d's n entries, in double, in order. */
static double add_squares(double un, const float *d, size_t n) {
  for (size_t i = 0; i < n; i++)
    un += (double)d[i] * (double)d[i];
  return un;
}

/* AdamW's per-step constants (adamw_segment). */
typedef struct adamw_k {
  float decay, step, b1c, b2, b2c, bc2s, eps;
} adamw_k;

/* AdamW on n entries, in torch's order of operations:
 *   p *= 1 - lr wd;  m = m + (1-b1)(g - m);  v = b2 v + (1-b2) g^2;
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps);
 * each entry's change into d. */
VEC_WIDE static void adamw_chunk(const adamw_k *k, float *restrict p,
                                 const float *restrict g, float *restrict m,
                                 float *restrict v, float *restrict d,
                                 size_t n) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i], old = p[i], mi = m[i] + k->b1c * (gi - m[i]);
    float vi = k->b2 * v[i] + k->b2c * gi * gi;
    m[i] = mi, v[i] = vi;
    p[i] = old * k->decay - k->step * mi / (sqrtf(vi) / k->bc2s + k->eps);
    d[i] = p[i] - old;
  }
}

/* AdamW on one segment; with `measure`, the sum of the squared changes. */
static double adamw_segment(la_optim *o, float *p, const float *g, float *m,
                            float *v, size_t n, double lr) {
  double bc1 = 1.0 - pow(o->beta1, (double)o->t);
  double bc2s = sqrt(1.0 - pow(o->beta2, (double)o->t));
  adamw_k k = {(float)(1.0 - lr * o->weight_decay),
               (float)(lr / bc1),
               (float)(1.0 - o->beta1),
               (float)o->beta2,
               (float)(1.0 - o->beta2),
               (float)bc2s,
               (float)o->eps};
  float d[CHUNK];
  double un = 0;
  for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
    size_t len = n - i0 < CHUNK ? n - i0 : CHUNK;
    adamw_chunk(&k, p + i0, g + i0, m + i0, v + i0, d, len);
    if (o->measure) un = add_squares(un, d, len);
  }
  return un;
}

/* SGD's per-step constants (sgd_segment); first: the step is the first. */
typedef struct sgd_k {
  float mu, wd, lr;
  int first, nesterov;
} sgd_k;

/* SGD on n entries (torch's rule, dampening 0): g += wd p; buf = g on the
 * first step, else mu buf + g; nesterov: g += mu buf, else g = buf; p -= lr
 * g; each entry's change into d. */
VEC static void sgd_chunk(const sgd_k *k, float *restrict p,
                          const float *restrict g, float *restrict buf,
                          float *restrict d, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] + k->wd * p[i], s = gi;
    if (k->mu != 0) {
      buf[i] = k->first ? gi : k->mu * buf[i] + gi;
      s = k->nesterov ? gi + k->mu * buf[i] : buf[i];
    }
    float np = p[i] - k->lr * s;
    d[i] = np - p[i];
    p[i] = np;
  }
}

/* SGD on one segment; with `measure`, the sum of the squared changes. */
static double sgd_segment(la_optim *o, float *p, const float *g, float *buf,
                          size_t n, double lr) {
  sgd_k k = {(float)o->momentum, (float)o->weight_decay, (float)lr, o->t == 1,
             o->nesterov};
  float d[CHUNK];
  double un = 0;
  for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
    size_t len = n - i0 < CHUNK ? n - i0 : CHUNK;
    sgd_chunk(&k, p + i0, g + i0, buf + i0, d, len);
    if (o->measure) un = add_squares(un, d, len);
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
