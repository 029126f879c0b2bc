/*
 * model_impl.h: the model's code for one precision. Included by model_f.c
 * and model_d.c with LA_REAL, LA_SUF, GEMM and the math functions ERF, EXP
 * and TANH of that precision set; see model.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NT CblasNoTrans
#define TR CblasTrans
#define RM CblasRowMajor

/* The net type of this precision. */
typedef LA_SUF(la_net) net_t;

int LA_SUF(la_net_init)(net_t *net, int L, const int *dims, int r, int n_max,
                        la_act act, la_loss loss, double s, int full) {
  size_t total = 0, dmax = 0;
  LA_REAL *p;
  memset(net, 0, sizeof *net);
  net->L = L;
  net->r = full ? 0 : r;
  net->n_max = n_max;
  net->full = full;
  net->act = act;
  net->loss = loss;
  net->s = (LA_REAL)s;
  for (int l = 0; l <= L; l++) {
    net->dims[l] = dims[l];
    if ((size_t)dims[l] > dmax) dmax = (size_t)dims[l];
  }
  for (int l = 0; l < L; l++)
    total +=
        (size_t)n_max *
        ((size_t)dims[l + 1] * (act == LA_ACT_GELU ? 3 : 2) + (size_t)net->r);
  total += (size_t)n_max * (dmax * 2 + (size_t)net->r);
  net->mem = malloc(total * sizeof(LA_REAL));
  if (net->mem == NULL) return LA_ENOMEM;
  p = net->mem;
  for (int l = 0; l < L; l++) {
    net->z[l] = p, p += (size_t)n_max * dims[l + 1];
    net->h[l + 1] = p, p += (size_t)n_max * dims[l + 1];
    net->u[l] = p, p += (size_t)n_max * net->r;
    if (act == LA_ACT_GELU) net->cdf[l] = p, p += (size_t)n_max * dims[l + 1];
  }
  net->gz = p, p += (size_t)n_max * dmax;
  net->gh = p, p += (size_t)n_max * dmax;
  net->gu = p;
  return 0;
}

void LA_SUF(la_net_free)(net_t *net) {
  free(net->mem);
  net->mem = NULL;
}

void LA_SUF(la_net_share_workspace)(net_t *net, const net_t *from) {
  free(net->mem);
  net->mem = NULL;
  memcpy(net->z, from->z, sizeof net->z);
  memcpy(net->h, from->h, sizeof net->h);
  memcpy(net->u, from->u, sizeof net->u);
  memcpy(net->cdf, from->cdf, sizeof net->cdf);
  net->gz = from->gz, net->gh = from->gh, net->gu = from->gu;
}

/* h = max(z, 0) without branches (a mispredicted branch per element costs
 * more than the rest of the loop); NaN and -0 give +0 as before. */
static void relu_forward(const LA_REAL *restrict z, LA_REAL *restrict h,
                         size_t n) {
  for (size_t i = 0; i < n; i++) {
    LA_REAL v = z[i];
    h[i] = v > 0 ? v : (LA_REAL)0;
  }
}

/* g *= [z > 0], without branches. */
static void relu_backward(const LA_REAL *restrict z, LA_REAL *restrict g,
                          size_t n) {
  for (size_t i = 0; i < n; i++) {
    LA_REAL v = g[i];
    g[i] = z[i] > 0 ? v : (LA_REAL)0;
  }
}

/* Applies the activation: h = act(z), n elements; gelu keeps Phi(z) in cdf. */
static void act_forward(la_act act, const LA_REAL *z, LA_REAL *h, LA_REAL *cdf,
                        size_t n) {
  switch (act) {
  case LA_ACT_IDENTITY: memcpy(h, z, n * sizeof *h); break;
  case LA_ACT_RELU: relu_forward(z, h, n); break;
  case LA_ACT_TANH:
    for (size_t i = 0; i < n; i++)
      h[i] = TANH(z[i]);
    break;
  case LA_ACT_GELU: /* exact form, torch's default: x * Phi(x) */
    for (size_t i = 0; i < n; i++) {
      cdf[i] = (LA_REAL)0.5 * (1 + ERF(z[i] * (LA_REAL)0.70710678118654752));
      h[i] = z[i] * cdf[i];
    }
    break;
  }
}

/* Multiplies g by act'(z) in place, n elements; h = act(z), cdf = Phi(z)
 * (gelu). */
static void act_backward(la_act act, const LA_REAL *z, const LA_REAL *h,
                         const LA_REAL *cdf, LA_REAL *g, size_t n) {
  switch (act) {
  case LA_ACT_IDENTITY: break;
  case LA_ACT_RELU: relu_backward(z, g, n); break;
  case LA_ACT_TANH:
    for (size_t i = 0; i < n; i++)
      g[i] *= 1 - h[i] * h[i];
    break;
  case LA_ACT_GELU:
    for (size_t i = 0; i < n; i++) {
      LA_REAL x = z[i];
      LA_REAL pdf = (LA_REAL)0.39894228040143268 * EXP((LA_REAL)-0.5 * x * x);
      g[i] *= cdf[i] + x * pdf;
    }
    break;
  }
}

void LA_SUF(la_act_forward)(la_act act, const LA_REAL *z, LA_REAL *h,
                            LA_REAL *cdf, size_t n) {
  act_forward(act, z, h, cdf, n);
}

void LA_SUF(la_act_backward)(la_act act, const LA_REAL *z, const LA_REAL *h,
                             const LA_REAL *cdf, LA_REAL *g, size_t n) {
  act_backward(act, z, h, cdf, g, n);
}

/* One layer forward: z = H W0^T (+ s (H A^T) B^T), H (n, din); with
 * frozen != NULL, H W0^T is frozen (n, dout), computed by the caller. */
static void layer_forward(net_t *net, int l, const LA_REAL *H, int n,
                          const LA_REAL *frozen) {
  int din = net->dims[l], dout = net->dims[l + 1], r = net->r;
  if (frozen)
    memcpy(net->z[l], frozen, (size_t)n * dout * sizeof *frozen);
  else
    GEMM(RM, NT, TR, n, dout, din, 1, H, din, net->W0[l], din, 0, net->z[l],
         dout);
  if (net->full) return;
  GEMM(RM, NT, TR, n, r, din, 1, H, din, net->A[l], din, 0, net->u[l], r);
  GEMM(RM, NT, TR, n, dout, r, net->s, net->u[l], r, net->B[l], r, 1, net->z[l],
       dout);
}

/* la_net_forward and la_net_forward_shared: z0, when not NULL, is the
 * first layer's frozen product. */
static const LA_REAL *forward(net_t *net, const LA_REAL *X, const LA_REAL *z0,
                              int n) {
  net->h[0] = (LA_REAL *)X;
  net->n_last = n;
  for (int l = 0; l < net->L; l++) {
    layer_forward(net, l, net->h[l], n, l == 0 ? z0 : NULL);
    if (l + 1 < net->L) {
      act_forward(net->act, net->z[l], net->h[l + 1], net->cdf[l],
                  (size_t)n * net->dims[l + 1]);
    }
  }
  return net->z[net->L - 1];
}

const LA_REAL *LA_SUF(la_net_forward)(net_t *net, const LA_REAL *X, int n) {
  return forward(net, X, NULL, n);
}

const LA_REAL *LA_SUF(la_net_forward_shared)(net_t *net, const LA_REAL *X,
                                             const LA_REAL *z0, int n) {
  return forward(net, X, z0, n);
}

/* Mean squared error over all elements; gradient 2 (z - y) / (n d). Sums
 * blocks of 64 squares in LA_REAL, then the blocks in double. MSE_GROUP16,
 * where the precision and the CPU have it (model_f.c), does 16 whole
 * blocks at once with the same bits. */
static double loss_mse(net_t *net, const LA_REAL *Y, int want_grad) {
  size_t m = (size_t)net->n_last * net->dims[net->L], start = 0;
  const LA_REAL *restrict z = net->z[net->L - 1];
  LA_REAL *restrict gz = net->gz;
  LA_REAL scale = (LA_REAL)(2.0 / (double)m);
  double sum = 0;
#ifdef MSE_GROUP16
  for (LA_REAL part[16]; MSE_GROUP16_OK && start + 16 * 64 <= m;
       start += 16 * 64) {
    MSE_GROUP16(z + start, Y + start, want_grad ? gz + start : NULL, scale,
                part);
    for (int b = 0; b < 16; b++)
      sum += (double)part[b];
  }
#endif
  for (size_t i0 = start; i0 < m; i0 += 64) {
    size_t end = i0 + 64 < m ? i0 + 64 : m;
    LA_REAL part = 0;
    for (size_t i = i0; i < end; i++) {
      LA_REAL d = z[i] - Y[i];
      part += d * d;
    }
    sum += (double)part;
    if (want_grad)
      for (size_t i = i0; i < end; i++)
        gz[i] = scale * (z[i] - Y[i]);
  }
  return sum / (double)m;
}

/* Cross-entropy with class-index labels, mean over rows; gradient
 * (softmax - onehot) / n. */
static double loss_ce(net_t *net, const LA_REAL *Y, int want_grad) {
  int n = net->n_last, c = net->dims[net->L];
  double sum = 0;
  for (int i = 0; i < n; i++) {
    const LA_REAL *zi = net->z[net->L - 1] + (size_t)i * c;
    int y = (int)Y[i];
    double mx = zi[0], se = 0;
    for (int j = 1; j < c; j++)
      mx = zi[j] > mx ? zi[j] : mx;
    for (int j = 0; j < c; j++)
      se += exp((double)zi[j] - mx);
    sum += mx + log(se) - (double)zi[y];
    if (!want_grad) continue;
    for (int j = 0; j < c; j++)
      net->gz[(size_t)i * c + j] =
          (LA_REAL)((exp((double)zi[j] - mx) / se - (j == y)) / n);
  }
  return sum / n;
}

double LA_SUF(la_net_loss)(net_t *net, const LA_REAL *Y, int want_grad) {
  return net->loss == LA_LOSS_MSE ? loss_mse(net, Y, want_grad)
                                  : loss_ce(net, Y, want_grad);
}

/* One layer backward from gz (n, dout): parameter gradients, then (l > 0)
 * the input gradient into gh. */
static void layer_backward(net_t *net, int l, int n) {
  int din = net->dims[l], dout = net->dims[l + 1], r = net->r;
  const LA_REAL *H = net->h[l];
  LA_REAL *gz = net->gz, *gh = net->gh;
  if (net->full) {
    GEMM(RM, TR, NT, dout, din, n, 1, gz, dout, H, din, 0, net->gW[l], din);
  } else {
    GEMM(RM, TR, NT, dout, r, n, net->s, gz, dout, net->u[l], r, 0, net->gB[l],
         r);
    GEMM(RM, NT, NT, n, r, dout, net->s, gz, dout, net->B[l], r, 0, net->gu, r);
    GEMM(RM, TR, NT, r, din, n, 1, net->gu, r, H, din, 0, net->gA[l], din);
  }
  if (l == 0) return;
  GEMM(RM, NT, NT, n, din, dout, 1, gz, dout, net->W0[l], din, 0, gh, din);
  if (!net->full)
    GEMM(RM, NT, NT, n, din, r, 1, net->gu, r, net->A[l], din, 1, gh, din);
}

void LA_SUF(la_net_backward)(net_t *net) {
  int n = net->n_last;
  for (int l = net->L - 1; l >= 0; l--) {
    layer_backward(net, l, n);
    if (l == 0) break;
    act_backward(net->act, net->z[l - 1], net->h[l], net->cdf[l - 1], net->gh,
                 (size_t)n * net->dims[l]);
    LA_REAL *t = net->gz; /* the input gradient becomes the next gz */
    net->gz = net->gh;
    net->gh = t;
  }
}

double LA_SUF(la_net_loss_grad)(net_t *net, const LA_REAL *X, const LA_REAL *Y,
                                int n) {
  double loss;
  LA_SUF(la_net_forward)(net, X, n);
  loss = LA_SUF(la_net_loss)(net, Y, 1);
  LA_SUF(la_net_backward)(net);
  return loss;
}
