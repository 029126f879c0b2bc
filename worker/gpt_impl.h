/*
 * gpt_impl.h: the GPT model's code for one precision. Included by gpt_f.c
 * and gpt_d.c with LA_REAL, LA_SUF, GEMM, EXPNEG (e^x for x <= 0) and TANH
 * of that precision set; see gpt.h. Every op is a forward/backward pair on raw
 * pointers; backward adds into weight gradients and writes (or, where
 * the comment says so, adds into) input gradients.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NT CblasNoTrans
#define TR CblasTrans
#define RM CblasRowMajor

/* The element-wise loops (GELU, the softmaxes, LayerNorm) are built twice
 * (VEC, vec.h): GELU's tanh takes about three times longer with SSE2. The
 * two differ in rounding only (this file is built with -ffp-contract=fast:
 * FMA rounds a * b + c once). */
#include "vec.h"

typedef LA_SUF(la_gpt) gpt_t;
typedef LA_SUF(la_gpt_w) gptw_t;
typedef LA_REAL real;

/* ---- the weights' slab ---- */

void LA_SUF(la_gpt_bind)(const la_gpt_shape *sh, real *slab, gptw_t *w) {
  real **p[LA_GPT_N_TENSORS] = {
      &w->wte,      &w->wpe,      &w->ln1w, &w->ln1b, &w->qkvw, &w->qkvb,
      &w->attprojw, &w->attprojb, &w->ln2w, &w->ln2b, &w->fcw,  &w->fcb,
      &w->fcprojw,  &w->fcprojb,  &w->lnfw, &w->lnfb};
  for (int k = 0; k < LA_GPT_N_TENSORS; k++) {
    *p[k] = slab;
    slab += la_gpt_tensor_count(sh, k);
  }
}

/* Module m's weight and bias of layer l, and its (in, out). */
static void module_w(const gpt_t *g, const gptw_t *w, int l, int m, real **W,
                     real **b, int *in, int *out) {
  int C = g->sh.C;
  la_gpt_module_dims(C, m, in, out);
  switch (m) {
  case 0:
    *W = w->qkvw + (size_t)l * C * 3 * C, *b = w->qkvb + (size_t)l * 3 * C;
    break;
  case 1:
    *W = w->attprojw + (size_t)l * C * C, *b = w->attprojb + (size_t)l * C;
    break;
  case 2:
    *W = w->fcw + (size_t)l * C * 4 * C, *b = w->fcb + (size_t)l * 4 * C;
    break;
  default:
    *W = w->fcprojw + (size_t)l * 4 * C * C, *b = w->fcprojb + (size_t)l * C;
    break;
  }
}

void LA_SUF(la_gpt_module_weight)(gpt_t *g, int l, int m, real **W, real **b) {
  int in, out;
  module_w(g, &g->w, l, m, W, b, &in, &out);
}

void LA_SUF(la_gpt_bind_adapters)(gpt_t *g, real *theta, real *grad) {
  size_t oa = 0, ob = la_gpt_adapter_a_count(&g->sh, g->r, g->targets);
  int in, out;
  for (int l = 0; l < g->sh.L; l++)
    for (int m = 0; m < LA_GPT_N_MODULES; m++) {
      if (!(g->targets & 1u << m)) continue;
      la_gpt_module_dims(g->sh.C, m, &in, &out);
      g->A[l][m] = theta + oa, g->gA[l][m] = grad + oa;
      g->Bm[l][m] = theta + ob, g->gB[l][m] = grad + ob;
      oa += (size_t)g->r * in, ob += (size_t)g->r * out;
    }
}

/* ---- workspace ---- */

/* p + *at (NULL when p is), then *at += n. */
static real *take(real *p, size_t *at, size_t n) {
  real *q = p ? p + *at : NULL;
  *at += n;
  return q;
}

/* Elements of the workspace (p NULL: the pointers are left NULL) or
 * carves it from p; returns the count. */
static size_t carve(gpt_t *g, real *p) {
  size_t N = (size_t)g->B * g->T, C = (size_t)g->sh.C, at = 0, r = g->r;
  size_t V = (size_t)g->sh.V, att = (size_t)g->B * g->sh.NH * g->T * g->T;
  g->enc = take(p, &at, N * C);
  for (int l = 0; l < g->sh.L; l++) {
    LA_SUF(la_gpt_layer) *y = &g->ly[l];
    y->ln1 = take(p, &at, N * C), y->ln1_mean = take(p, &at, N),
    y->ln1_rstd = take(p, &at, N);
    y->qkv = take(p, &at, N * 3 * C), y->att = take(p, &at, att),
    y->atty = take(p, &at, N * C);
    y->res2 = take(p, &at, N * C);
    y->ln2 = take(p, &at, N * C), y->ln2_mean = take(p, &at, N),
    y->ln2_rstd = take(p, &at, N);
    y->fch = take(p, &at, N * 4 * C), y->fch_gelu = take(p, &at, N * 4 * C);
    y->res3 = take(p, &at, N * C);
    for (int m = 0; m < LA_GPT_N_MODULES; m++)
      if (r && (g->targets & 1u << m)) y->u[m] = take(p, &at, N * r);
  }
  g->lnf = take(p, &at, N * C), g->lnf_mean = take(p, &at, N),
  g->lnf_rstd = take(p, &at, N);
  g->probs = take(p, &at, N * V);
  g->dres = take(p, &at, N * C), g->dx = take(p, &at, N * C),
  g->dbig = take(p, &at, N * 4 * C);
  g->dqkv = take(p, &at, N * 3 * C), g->du = take(p, &at, N * (r ? r : 1));
  g->datt = take(p, &at, (size_t)g->T * g->T);
  return at;
}

size_t LA_SUF(la_gpt_work_count)(const gpt_t *g) {
  gpt_t copy = *g; /* carve(.., NULL) clears the pointers */
  return carve(&copy, NULL);
}

int LA_SUF(la_gpt_init)(gpt_t *g, const la_gpt_shape *sh, int B, int T, int r,
                        unsigned targets, double s, int full) {
  memset(g, 0, sizeof *g);
  g->sh = *sh;
  g->B = B, g->T = T;
  g->r = r;
  g->targets = r ? targets : 0;
  g->s = (real)s;
  g->full = full;
  g->tb = LA_GPT_ATT_ROWS;
  g->mem = malloc(carve(g, NULL) * sizeof(real));
  if (g->mem == NULL) return LA_ENOMEM;
  carve(g, g->mem);
  return 0;
}

void LA_SUF(la_gpt_free)(gpt_t *g) {
  free(g->mem);
  g->mem = NULL;
}

/* ---- ops ---- */

/* enc[b,t] = wte[tok[b,t]] + wpe[t]. */
VEC static void embed_forward(real *enc, const int *tok, const real *wte,
                              const real *wpe, int N, int T, int C) {
  for (int i = 0; i < N; i++) {
    const real *te = wte + (size_t)tok[i] * C, *pe = wpe + (size_t)(i % T) * C;
    real *o = enc + (size_t)i * C;
    for (int c = 0; c < C; c++)
      o[c] = te[c] + pe[c];
  }
}

/* dwte[tok] += d, dwpe[t] += d. */
VEC static void embed_backward(real *dwte, real *dwpe, const real *d,
                               const int *tok, int N, int T, int C) {
  for (int i = 0; i < N; i++) {
    real *te = dwte + (size_t)tok[i] * C, *pe = dwpe + (size_t)(i % T) * C;
    const real *di = d + (size_t)i * C;
    for (int c = 0; c < C; c++)
      te[c] += di[c], pe[c] += di[c];
  }
}

/* The reductions below keep LANES partial results, element c going to
 * lane c % LANES, and combine the lanes at the end: a fixed order that
 * the compiler turns into vector operations (a single running sum or
 * maximum it may not reorder, so it would stay scalar). */
#define LANES 8

/* The sum of x[0..n). */
static inline real lane_sum(const real *x, int n) {
  real acc[LANES] = {0}, s = 0;
  int c = 0;
  for (; c + LANES <= n; c += LANES)
    for (int k = 0; k < LANES; k++)
      acc[k] += x[c + k];
  for (int k = 0; k < LANES; k++)
    s += acc[k];
  for (; c < n; c++)
    s += x[c];
  return s;
}

/* The sum of x[c] y[c] over c < n. */
static inline real lane_dot(const real *x, const real *y, int n) {
  real acc[LANES] = {0}, s = 0;
  int c = 0;
  for (; c + LANES <= n; c += LANES)
    for (int k = 0; k < LANES; k++)
      acc[k] += x[c + k] * y[c + k];
  for (int k = 0; k < LANES; k++)
    s += acc[k];
  for (; c < n; c++)
    s += x[c] * y[c];
  return s;
}

/* The largest of x[0..n), n >= 1. */
static inline real lane_max(const real *x, int n) {
  real acc[LANES], mx;
  int c = 0;
  for (int k = 0; k < LANES; k++)
    acc[k] = x[0];
  for (; c + LANES <= n; c += LANES)
    for (int k = 0; k < LANES; k++)
      acc[k] = x[c + k] > acc[k] ? x[c + k] : acc[k];
  mx = acc[0];
  for (int k = 1; k < LANES; k++)
    mx = acc[k] > mx ? acc[k] : mx;
  for (; c < n; c++)
    mx = x[c] > mx ? x[c] : mx;
  return mx;
}

/* out = (x - mean) * rstd * w + b per row; keeps mean and rstd. */
VEC static void ln_forward(real *out, real *mean, real *rstd, const real *x,
                           const real *w, const real *b, int N, int C) {
  for (int i = 0; i < N; i++) {
    const real *xi = x + (size_t)i * C;
    real *o = out + (size_t)i * C, acc[LANES] = {0}, m, v = 0, rs;
    int c = 0;
    m = lane_sum(xi, C) / (real)C;
    for (; c + LANES <= C; c += LANES)
      for (int k = 0; k < LANES; k++)
        acc[k] += (xi[c + k] - m) * (xi[c + k] - m);
    for (int k = 0; k < LANES; k++)
      v += acc[k];
    for (; c < C; c++)
      v += (xi[c] - m) * (xi[c] - m);
    rs = (real)(1.0 / sqrt((double)v / C + LA_GPT_LN_EPS));
    for (c = 0; c < C; c++)
      o[c] = ((xi[c] - m) * rs) * w[c] + b[c];
    mean[i] = m, rstd[i] = rs;
  }
}

/* dx += LayerNorm's input gradient for dout; dw, db += (full only). */
VEC static void ln_backward(real *dx, real *dw, real *db, const real *dout,
                            const real *x, const real *w, const real *mean,
                            const real *rstd, int N, int C) {
  for (int i = 0; i < N; i++) {
    const real *di = dout + (size_t)i * C, *xi = x + (size_t)i * C;
    real *dxi = dx + (size_t)i * C, mi = mean[i], rs = rstd[i];
    real am[LANES] = {0}, anm[LANES] = {0}, dm = 0, dnm = 0;
    int c = 0;
    for (; c + LANES <= C; c += LANES)
      for (int k = 0; k < LANES; k++) {
        real dn = w[c + k] * di[c + k];
        am[k] += dn, anm[k] += dn * ((xi[c + k] - mi) * rs);
      }
    for (int k = 0; k < LANES; k++)
      dm += am[k], dnm += anm[k];
    for (; c < C; c++) {
      real dn = w[c] * di[c];
      dm += dn, dnm += dn * ((xi[c] - mi) * rs);
    }
    dm /= (real)C, dnm /= (real)C;
    for (c = 0; c < C; c++) {
      real nrm = (xi[c] - mi) * rs, dn = w[c] * di[c];
      dxi[c] += (dn - dm - nrm * dnm) * rs;
    }
    if (dw)
      for (c = 0; c < C; c++)
        dw[c] += (xi[c] - mi) * rs * di[c], db[c] += di[c];
  }
}

/* y = x W + b (+ s (x A^T) B^T, u = x A^T kept): x (N, in), W (in, out). */
static void linear_forward(const gpt_t *g, real *y, real *u, const real *x,
                           const real *W, const real *b, const real *A,
                           const real *B, int N, int in, int out) {
  for (int i = 0; i < N; i++)
    memcpy(y + (size_t)i * out, b, (size_t)out * sizeof *y);
  GEMM(RM, NT, NT, N, out, in, 1, x, in, W, out, 1, y, out);
  if (A == NULL) return;
  GEMM(RM, NT, TR, N, g->r, in, 1, x, in, A, in, 0, u, g->r);
  GEMM(RM, NT, TR, N, out, g->r, g->s, u, g->r, B, g->r, 1, y, out);
}

/* For dy: dx = dy W^T (+ s dy B A) unless dx is NULL; gA, gB written;
 * dW, db += (full). */
static void linear_backward(gpt_t *g, real *dx, real *dW, real *db,
                            const real *dy, const real *x, const real *u,
                            const real *W, const real *A, const real *B,
                            real *gA, real *gB, int N, int in, int out) {
  if (dx != NULL) GEMM(RM, NT, TR, N, in, out, 1, dy, out, W, out, 0, dx, in);
  if (dW != NULL) {
    GEMM(RM, TR, NT, in, out, N, 1, x, in, dy, out, 1, dW, out);
    for (int i = 0; i < N; i++)
      for (int o = 0; o < out; o++)
        db[o] += dy[(size_t)i * out + o];
  }
  if (A == NULL) return;
  GEMM(RM, TR, NT, out, g->r, N, g->s, dy, out, u, g->r, 0, gB, g->r);
  GEMM(RM, NT, NT, N, g->r, out, g->s, dy, out, B, g->r, 0, g->du, g->r);
  GEMM(RM, TR, NT, g->r, in, N, 1, g->du, g->r, x, in, 0, gA, in);
  if (dx != NULL)
    GEMM(RM, NT, NT, N, in, g->r, 1, g->du, g->r, A, in, 1, dx, in);
}

/* Causal self-attention of every (window, head): att = softmax(q k^T /
 * sqrt(hs)) with j > i masked, y = att v. qkv (N, 3C), y (N, C). The
 * products go by blocks of g->tb query rows, each against the keys it
 * sees; att's entries right of a block's keys are never read. */
VEC static void attn_forward(const gpt_t *g, real *y, real *att,
                             const real *qkv, int nb) {
  int T = g->T, C = g->sh.C, NH = g->sh.NH, hs = C / NH, C3 = 3 * C;
  int tb = g->tb;
  real scale = (real)(1.0 / sqrt((double)hs));
  for (int b = 0; b < nb; b++)
    for (int h = 0; h < NH; h++) {
      const real *q = qkv + (size_t)b * T * C3 + h * hs;
      real *P = att + ((size_t)b * NH + h) * T * T;
      real *yh = y + (size_t)b * T * C + h * hs;
      for (int i0 = 0; i0 < T; i0 += tb) {
        int m = T - i0 < tb ? T - i0 : tb;
        GEMM(RM, NT, TR, m, i0 + m, hs, scale, q + (size_t)i0 * C3, C3, q + C,
             C3, 0, P + (size_t)i0 * T, T);
      }
      for (int i = 0; i < T; i++) {
        int end = i - i % tb + tb < T ? i - i % tb + tb : T; /* block's keys */
        real *row = P + (size_t)i * T, mx = lane_max(row, i + 1), sum;
        for (int j = 0; j <= i; j++)
          row[j] = EXPNEG(row[j] - mx);
        sum = lane_sum(row, i + 1);
        for (int j = 0; j <= i; j++)
          row[j] /= sum;
        for (int j = i + 1; j < end; j++)
          row[j] = 0;
      }
      for (int i0 = 0; i0 < T; i0 += tb) {
        int m = T - i0 < tb ? T - i0 : tb;
        GEMM(RM, NT, NT, m, hs, i0 + m, 1, P + (size_t)i0 * T, T, q + 2 * C, C3,
             0, yh + (size_t)i0 * C, C);
      }
    }
}

/* dqkv from dy (N, C) through attention (dqkv written). */
VEC static void attn_backward(gpt_t *g, real *dqkv, const real *dy,
                              const real *att, const real *qkv, int nb) {
  int T = g->T, C = g->sh.C, NH = g->sh.NH, hs = C / NH, C3 = 3 * C;
  int tb = g->tb;
  real scale = (real)(1.0 / sqrt((double)hs)), *dP = g->datt;
  for (int b = 0; b < nb; b++)
    for (int h = 0; h < NH; h++) {
      const real *q = qkv + (size_t)b * T * C3 + h * hs;
      const real *P = att + ((size_t)b * NH + h) * T * T;
      const real *dyh = dy + (size_t)b * T * C + h * hs;
      real *dq = dqkv + (size_t)b * T * C3 + h * hs;
      for (int i0 = 0; i0 < T; i0 += tb) {
        int m = T - i0 < tb ? T - i0 : tb;
        GEMM(RM, NT, TR, m, i0 + m, hs, 1, dyh + (size_t)i0 * C, C, q + 2 * C,
             C3, 0, dP + (size_t)i0 * T, T);
        GEMM(RM, TR, NT, m, hs, T - i0, 1, P + (size_t)i0 * T + i0, T,
             dyh + (size_t)i0 * C, C, 0, dq + 2 * C + (size_t)i0 * C3, C3);
      }
      for (int i = 0; i < T; i++) { /* softmax backward, masked */
        int end = i - i % tb + tb < T ? i - i % tb + tb : T;
        const real *p = P + (size_t)i * T;
        real *d = dP + (size_t)i * T, dot = lane_dot(p, d, i + 1);
        for (int j = 0; j <= i; j++)
          d[j] = p[j] * (d[j] - dot);
        for (int j = i + 1; j < end; j++)
          d[j] = 0;
      }
      for (int i0 = 0; i0 < T; i0 += tb) {
        int m = T - i0 < tb ? T - i0 : tb;
        GEMM(RM, NT, NT, m, hs, i0 + m, scale, dP + (size_t)i0 * T, T, q + C,
             C3, 0, dq + (size_t)i0 * C3, C3);
        GEMM(RM, TR, NT, m, hs, T - i0, scale, dP + (size_t)i0 * T + i0, T,
             q + (size_t)i0 * C3, C3, 0, dq + C + (size_t)i0 * C3, C3);
      }
    }
}

#define GELU_K ((real)0.7978845608028654) /* sqrt(2 / pi) */

/* GPT-2's GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
VEC static void gelu_forward(real *out, const real *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    real v = x[i], cube = (real)0.044715 * v * v * v;
    out[i] = (real)0.5 * v * (1 + TANH(GELU_K * (v + cube)));
  }
}

/* d *= gelu'(x), in place. */
VEC static void gelu_backward(real *d, const real *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    real v = x[i], cube = (real)0.044715 * v * v * v;
    real th = TANH(GELU_K * (v + cube)), sech2 = 1 - th * th;
    real dl = GELU_K * (1 + 3 * (real)0.044715 * v * v);
    d[i] *= (real)0.5 * (1 + th) + (real)0.5 * v * sech2 * dl;
  }
}

/* probs = softmax(logits) in place per row; the mean of -log p[tgt]. */
VEC static double softmax_ce(real *probs, const int *tgt, int N, int V) {
  double loss = 0;
  for (int i = 0; i < N; i++) {
    real *row = probs + (size_t)i * V, mx = lane_max(row, V), sum;
    for (int v = 0; v < V; v++)
      row[v] = EXPNEG(row[v] - mx);
    sum = lane_sum(row, V);
    for (int v = 0; v < V; v++)
      row[v] /= sum;
    loss -= log((double)row[tgt[i]] > 0 ? (double)row[tgt[i]] : 1e-300);
  }
  return loss / N;
}

/* ---- the model ---- */

/* Module m of layer l forward: y from x (N rows). */
static void module_forward(gpt_t *g, int l, int m, real *y, const real *x,
                           int N) {
  real *W, *b;
  int in, out;
  module_w(g, &g->w, l, m, &W, &b, &in, &out);
  linear_forward(g, y, g->ly[l].u[m], x, W, b, g->A[l][m], g->Bm[l][m], N, in,
                 out);
}

/* Module m of layer l backward: dx from dy (dx NULL: not computed). */
static void module_backward(gpt_t *g, int l, int m, real *dx, const real *dy,
                            const real *x, int N) {
  real *W, *b, *dW = NULL, *db = NULL;
  int in, out;
  module_w(g, &g->w, l, m, &W, &b, &in, &out);
  if (g->full) module_w(g, &g->gw, l, m, &dW, &db, &in, &out);
  linear_backward(g, dx, dW, db, dy, x, g->ly[l].u[m], W, g->A[l][m],
                  g->Bm[l][m], g->gA[l][m], g->gB[l][m], N, in, out);
}

/* One block forward: x (N, C) in, ly->res3 out. */
VEC static void block_forward(gpt_t *g, int l, const real *x, int nb) {
  LA_SUF(la_gpt_layer) *y = &g->ly[l];
  int N = nb * g->T, C = g->sh.C;
  size_t NC = (size_t)N * C;
  ln_forward(y->ln1, y->ln1_mean, y->ln1_rstd, x, g->w.ln1w + (size_t)l * C,
             g->w.ln1b + (size_t)l * C, N, C);
  module_forward(g, l, 0, y->qkv, y->ln1, N);
  attn_forward(g, y->atty, y->att, y->qkv, nb);
  module_forward(g, l, 1, y->res2, y->atty, N);
  for (size_t i = 0; i < NC; i++)
    y->res2[i] += x[i];
  ln_forward(y->ln2, y->ln2_mean, y->ln2_rstd, y->res2,
             g->w.ln2w + (size_t)l * C, g->w.ln2b + (size_t)l * C, N, C);
  module_forward(g, l, 2, y->fch, y->ln2, N);
  gelu_forward(y->fch_gelu, y->fch, NC * 4);
  module_forward(g, l, 3, y->res3, y->fch_gelu, N);
  for (size_t i = 0; i < NC; i++)
    y->res3[i] += y->res2[i];
}

/* One block backward: g->dres holds d res3 on entry, d x on return. The
 * first block of a LoRA run (not full) stops at its lowest adapted
 * module: nothing below it has a gradient to take, and d x is not
 * computed. */
VEC static void block_backward(gpt_t *g, int l, const real *x, int nb) {
  LA_SUF(la_gpt_layer) *y = &g->ly[l];
  int N = nb * g->T, C = g->sh.C, f = g->full, stop = -1;
  size_t o = (size_t)l * C;
  if (l == 0 && !f) /* the lowest adapted module (4: none) */
    for (stop = 0; stop < LA_GPT_N_MODULES && !(g->targets & 1u << stop);)
      stop++;
  if (stop == LA_GPT_N_MODULES) return;
  module_backward(g, l, 3, stop < 3 ? g->dbig : NULL, g->dres, y->fch_gelu, N);
  if (stop == 3) return;
  gelu_backward(g->dbig, y->fch, (size_t)N * 4 * C);
  module_backward(g, l, 2, stop < 2 ? g->dx : NULL, g->dbig, y->ln2, N);
  if (stop == 2) return;
  ln_backward(g->dres, f ? g->gw.ln2w + o : NULL, f ? g->gw.ln2b + o : NULL,
              g->dx, y->res2, g->w.ln2w + o, y->ln2_mean, y->ln2_rstd, N, C);
  module_backward(g, l, 1, stop < 1 ? g->dx : NULL, g->dres, y->atty, N);
  if (stop == 1) return;
  attn_backward(g, g->dqkv, g->dx, y->att, y->qkv, nb);
  module_backward(g, l, 0, stop < 0 ? g->dx : NULL, g->dqkv, y->ln1, N);
  if (stop == 0) return;
  ln_backward(g->dres, f ? g->gw.ln1w + o : NULL, f ? g->gw.ln1b + o : NULL,
              g->dx, x, g->w.ln1w + o, y->ln1_mean, y->ln1_rstd, N, C);
}

double LA_SUF(la_gpt_forward)(gpt_t *g, const int *tok, const int *tgt,
                              int nb) {
  int N = nb * g->T, C = g->sh.C, V = g->sh.V;
  const real *x = g->enc;
  g->tok = tok, g->tgt = tgt, g->nb = nb;
  embed_forward(g->enc, tok, g->w.wte, g->w.wpe, N, g->T, C);
  for (int l = 0; l < g->sh.L; l++) {
    block_forward(g, l, x, nb);
    x = g->ly[l].res3;
  }
  ln_forward(g->lnf, g->lnf_mean, g->lnf_rstd, x, g->w.lnfw, g->w.lnfb, N, C);
  GEMM(RM, NT, TR, N, V, C, 1, g->lnf, C, g->w.wte, C, 0, g->probs, V);
  return softmax_ce(g->probs, tgt, N, V);
}

VEC void LA_SUF(la_gpt_backward)(gpt_t *g) {
  int nb = g->nb, N = nb * g->T, C = g->sh.C, V = g->sh.V, f = g->full;
  const real *x = g->sh.L ? g->ly[g->sh.L - 1].res3 : g->enc;
  real invN = (real)1 / N;
  if (f) memset(g->gslab, 0, la_gpt_param_count(&g->sh) * sizeof(real));
  for (int i = 0; i < N; i++) { /* dlogits = (p - onehot) / N */
    real *row = g->probs + (size_t)i * V;
    row[g->tgt[i]] -= 1;
    for (int v = 0; v < V; v++)
      row[v] *= invN;
  }
  GEMM(RM, NT, NT, N, C, V, 1, g->probs, V, g->w.wte, C, 0, g->dx, C);
  if (f) GEMM(RM, TR, NT, V, C, N, 1, g->probs, V, g->lnf, C, 1, g->gw.wte, C);
  memset(g->dres, 0, (size_t)N * C * sizeof(real));
  ln_backward(g->dres, f ? g->gw.lnfw : NULL, f ? g->gw.lnfb : NULL, g->dx, x,
              g->w.lnfw, g->lnf_mean, g->lnf_rstd, N, C);
  for (int l = g->sh.L - 1; l >= 0; l--)
    block_backward(g, l, l ? g->ly[l - 1].res3 : g->enc, nb);
  if (f) embed_backward(g->gw.wte, g->gw.wpe, g->dres, g->tok, N, g->T, C);
}

#undef LANES
#undef NT
#undef TR
#undef RM
