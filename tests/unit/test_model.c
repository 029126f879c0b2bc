/*
 * test_model.c: the model's gradients against central finite differences in
 * double precision, for every activation, loss, scaling mode and depth, in
 * LoRA and full mode; the float model against the double one; losses against
 * hand-computed values; the float mse bit for bit as it sums.
 */
#include "check.h"
#include "loralpha/rng.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

#define MAXP 4096

/* A random problem: weights, adapters (B nonzero), data and labels. */
typedef struct problem {
  int L, dims[LA_MAX_LAYERS + 1], r, n;
  la_act act;
  la_loss loss;
  double s;
  double W0[LA_MAX_LAYERS][64], A[LA_MAX_LAYERS][64], B[LA_MAX_LAYERS][64];
  double X[64], Y[64];
} problem;

static void make_problem(problem *p, int L, const int *dims, la_act act,
                         la_loss loss, double s, uint64_t seed) {
  la_rng rng;
  la_rng_init(&rng, seed, 99);
  memset(p, 0, sizeof *p);
  p->L = L, p->r = 2, p->n = 5, p->act = act, p->loss = loss, p->s = s;
  memcpy(p->dims, dims, (size_t)(L + 1) * sizeof(int));
  for (int l = 0; l < L; l++) {
    for (int i = 0; i < dims[l] * dims[l + 1]; i++)
      p->W0[l][i] = la_rng_normal(&rng) * 0.7;
    for (int i = 0; i < p->r * dims[l]; i++)
      p->A[l][i] = la_rng_normal(&rng) * 0.5;
    for (int i = 0; i < dims[l + 1] * p->r; i++)
      p->B[l][i] = la_rng_normal(&rng) * 0.5;
  }
  for (int i = 0; i < p->n * dims[0]; i++)
    p->X[i] = la_rng_normal(&rng);
  for (int i = 0; i < p->n * dims[L]; i++)
    p->Y[i] = loss == LA_LOSS_CE
                  ? (double)(la_rng_u64(&rng) % (uint64_t)dims[L])
                  : la_rng_normal(&rng);
}

/* Binds a double net to p's arrays; gradients into gA/gB. */
static void bind_d(la_net_d *net, problem *p, double gA[][64],
                   double gB[][64]) {
  for (int l = 0; l < p->L; l++) {
    net->W0[l] = p->W0[l], net->A[l] = p->A[l], net->B[l] = p->B[l];
    net->gA[l] = gA[l], net->gB[l] = gB[l];
  }
}

static double loss_d(la_net_d *net, problem *p) {
  la_net_forward_d(net, p->X, p->n);
  return la_net_loss_d(net, p->Y, 0);
}

/* Compares one parameter array's gradient with central differences. */
static void fd_compare(la_net_d *net, problem *p, double *param,
                       const double *g, int count, const char *what) {
  double gmax = 1e-3, worst = 0;
  for (int i = 0; i < count; i++)
    gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
  for (int i = 0; i < count; i++) {
    double keep = param[i], h = 1e-6, lp, lm, fd;
    param[i] = keep + h, lp = loss_d(net, p);
    param[i] = keep - h, lm = loss_d(net, p);
    param[i] = keep;
    fd = (lp - lm) / (2 * h);
    if (fabs(fd - g[i]) / gmax > worst) worst = fabs(fd - g[i]) / gmax;
  }
  if (worst > 1e-6)
    fprintf(stderr, "  %s: act %s loss %s L %d: worst relative error %.3g\n",
            what, la_act_name(p->act), la_loss_name(p->loss), p->L, worst);
  CHECK(worst <= 1e-6);
}

/* LoRA-mode gradients of A and B of every layer against finite differences. */
static void check_lora_grads(problem *p) {
  la_net_d net;
  static double gA[LA_MAX_LAYERS][64], gB[LA_MAX_LAYERS][64];
  CHECK(la_net_init_d(&net, p->L, p->dims, p->r, p->n, p->act, p->loss, p->s,
                      0) == 0);
  bind_d(&net, p, gA, gB);
  la_net_loss_grad_d(&net, p->X, p->Y, p->n);
  double cA[LA_MAX_LAYERS][64], cB[LA_MAX_LAYERS][64];
  memcpy(cA, gA, sizeof cA), memcpy(cB, gB, sizeof cB);
  for (int l = 0; l < p->L; l++) {
    fd_compare(&net, p, p->A[l], cA[l], p->r * p->dims[l], "dL/dA");
    fd_compare(&net, p, p->B[l], cB[l], p->dims[l + 1] * p->r, "dL/dB");
  }
  la_net_free_d(&net);
}

/* Full-mode: W = W0 + s B A gives the same loss as LoRA mode, and dL/dW
 * matches finite differences. */
static void check_full_grads(problem *p) {
  la_net_d lora, full;
  static double W[LA_MAX_LAYERS][64], gW[LA_MAX_LAYERS][64];
  static double gA[LA_MAX_LAYERS][64], gB[LA_MAX_LAYERS][64];
  la_net_init_d(&lora, p->L, p->dims, p->r, p->n, p->act, p->loss, p->s, 0);
  la_net_init_d(&full, p->L, p->dims, 0, p->n, p->act, p->loss, p->s, 1);
  bind_d(&lora, p, gA, gB);
  for (int l = 0; l < p->L; l++) {
    int din = p->dims[l], dout = p->dims[l + 1];
    for (int i = 0; i < dout; i++)
      for (int j = 0; j < din; j++) {
        double acc = 0;
        for (int q = 0; q < p->r; q++)
          acc += p->B[l][i * p->r + q] * p->A[l][q * din + j];
        W[l][i * din + j] = p->W0[l][i * din + j] + p->s * acc;
      }
    full.W0[l] = W[l], full.gW[l] = gW[l];
  }
  double l1 = loss_d(&lora, p),
         l2 = la_net_loss_grad_d(&full, p->X, p->Y, p->n);
  CHECK_CLOSE(l2, l1, 1e-12);
  double cW[LA_MAX_LAYERS][64];
  memcpy(cW, gW, sizeof cW);
  for (int l = 0; l < p->L; l++)
    fd_compare(&full, p, W[l], cW[l], p->dims[l] * p->dims[l + 1], "dL/dW");
  la_net_free_d(&lora);
  la_net_free_d(&full);
}

/* The float model agrees with the double one on loss and gradients. */
static void check_float_vs_double(problem *p) {
  la_net_f nf;
  la_net_d nd;
  static double gA[LA_MAX_LAYERS][64], gB[LA_MAX_LAYERS][64];
  static float W0f[LA_MAX_LAYERS][64], Af[LA_MAX_LAYERS][64],
      Bf[LA_MAX_LAYERS][64];
  static float gAf[LA_MAX_LAYERS][64], gBf[LA_MAX_LAYERS][64];
  float Xf[64], Yf[64];
  la_net_init_f(&nf, p->L, p->dims, p->r, p->n, p->act, p->loss, p->s, 0);
  la_net_init_d(&nd, p->L, p->dims, p->r, p->n, p->act, p->loss, p->s, 0);
  bind_d(&nd, p, gA, gB);
  for (int l = 0; l < p->L; l++) {
    for (int i = 0; i < 64; i++)
      W0f[l][i] = (float)p->W0[l][i], Af[l][i] = (float)p->A[l][i],
      Bf[l][i] = (float)p->B[l][i];
    nf.W0[l] = W0f[l], nf.A[l] = Af[l], nf.B[l] = Bf[l], nf.gA[l] = gAf[l],
    nf.gB[l] = gBf[l];
  }
  for (int i = 0; i < 64; i++)
    Xf[i] = (float)p->X[i], Yf[i] = (float)p->Y[i];
  double lf = la_net_loss_grad_f(&nf, Xf, Yf, p->n);
  double ld = la_net_loss_grad_d(&nd, p->X, p->Y, p->n);
  CHECK_CLOSE(lf, ld, 1e-5);
  for (int l = 0; l < p->L; l++) {
    for (int i = 0; i < p->r * p->dims[l]; i++)
      CHECK_CLOSE(gAf[l][i], gA[l][i], 1e-4);
    for (int i = 0; i < p->dims[l + 1] * p->r; i++)
      CHECK_CLOSE(gBf[l][i], gB[l][i], 1e-4);
  }
  la_net_free_f(&nf);
  la_net_free_d(&nd);
}

/* Losses on tiny cases computed by hand. */
static void check_hand_losses(void) {
  int dims[2] = {2, 2};
  double W0[4] = {1, 0, 0, 1}, A[2] = {0, 0}, B[2] = {0, 0}, gA[2], gB[2];
  double X[2] = {1, 2}, Y[2] = {0, 0};
  la_net_d net;
  la_net_init_d(&net, 1, dims, 1, 1, LA_ACT_IDENTITY, LA_LOSS_MSE, 1.0, 0);
  net.W0[0] = W0, net.A[0] = A, net.B[0] = B, net.gA[0] = gA, net.gB[0] = gB;
  CHECK_CLOSE(la_net_loss_grad_d(&net, X, Y, 1), 2.5, 1e-15); /* (1 + 4) / 2 */
  la_net_free_d(&net);
  double X2[2] = {0, log(3.0)}, lab[1] = {0};
  la_net_init_d(&net, 1, dims, 1, 1, LA_ACT_IDENTITY, LA_LOSS_CE, 1.0, 0);
  net.W0[0] = W0, net.A[0] = A, net.B[0] = B, net.gA[0] = gA, net.gB[0] = gB;
  CHECK_CLOSE(la_net_loss_grad_d(&net, X2, lab, 1), log(4.0), 1e-15);
  la_net_free_d(&net);
}

/* The float mse as the model has always summed it: blocks of 64 squares
 * summed in order in float, the blocks' sums in double; gz = scale (z - y). */
static double mse_reference(const float *z, const float *y, float *gz,
                            size_t m) {
  float scale = (float)(2.0 / (double)m);
  double sum = 0;
  for (size_t i0 = 0; i0 < m; i0 += 64) {
    float part = 0;
    for (size_t i = i0; i < i0 + 64 && i < m; i++) {
      float d = z[i] - y[i];
      part += d * d;
      gz[i] = scale * d;
    }
    sum += (double)part;
  }
  return sum / (double)m;
}

/* la_net_loss_f's mse, bit for bit the reference above for sizes below,
 * at and above its 16-block fast path, whole and ragged, with and without
 * the gradient (which it must then leave alone). */
static void check_mse_bits(void) {
  static const int shapes[][2] = {{1, 1},   {3, 21},   {16, 64}, {17, 64},
                                  {33, 65}, {64, 512}, {100, 37}};
  la_rng rng;
  la_rng_init(&rng, 7, 1);
  for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
    int rows = shapes[c][0], cols = shapes[c][1], dims[2] = {1, cols}, bad = -1;
    size_t m = (size_t)rows * cols;
    float *z = malloc(m * sizeof *z), *y = malloc(m * sizeof *y);
    float *gz = malloc(m * sizeof *gz), *want = malloc(m * sizeof *want);
    la_net_f net;
    CHECK_EQ_INT(la_net_init_f(&net, 1, dims, 1, rows, LA_ACT_IDENTITY,
                               LA_LOSS_MSE, 1.0, 0),
                 0);
    for (size_t i = 0; i < m; i++) /* scales from 1e-3 to 1e3: real rounding */
      z[i] = (float)(la_rng_normal(&rng) * pow(10.0, (double)(i % 7) - 3)),
      y[i] = (float)la_rng_normal(&rng), gz[i] = -7;
    net.z[0] = z, net.gz = gz, net.n_last = rows;
    double ref = mse_reference(z, y, want, m);
    double got0 = la_net_loss_f(&net, y, 0);
    for (size_t i = 0; i < m && bad < 0; i++)
      if (gz[i] != -7) bad = (int)i;
    double got = la_net_loss_f(&net, y, 1);
    for (size_t i = 0; i < m && bad < 0; i++)
      if (memcmp(&gz[i], &want[i], sizeof *gz) != 0) bad = (int)i;
    if (got != ref || got0 != ref || bad >= 0)
      fprintf(stderr,
              "mse %dx%d: loss %a / %a (no grad), expected %a; first gz "
              "differing at %d: %a, expected %a\n",
              rows, cols, got, got0, ref, bad, bad >= 0 ? gz[bad] : 0.0,
              bad >= 0 ? want[bad] : 0.0);
    CHECK(got == ref && got0 == ref && bad < 0);
    la_net_free_f(&net);
    free(z), free(y), free(gz), free(want);
  }
}

/* Scaling: s = alpha / r (peft) or alpha / sqrt(r) (rslora). */
static void check_scaling(void) {
  la_config c;
  memset(&c, 0, sizeof c);
  c.alpha = 32, c.rank = 16, c.scaling = LA_SCALING_PEFT;
  CHECK_CLOSE(la_config_scale(&c), 2.0, 1e-15);
  c.scaling = LA_SCALING_RSLORA;
  CHECK_CLOSE(la_config_scale(&c), 8.0, 1e-15);
}

int main(void) {
  static const int deep[] = {5, 4, 6, 3}, shallow[] = {4, 3};
  const la_act acts[] = {LA_ACT_IDENTITY, LA_ACT_RELU, LA_ACT_GELU,
                         LA_ACT_TANH};
  const la_loss losses[] = {LA_LOSS_MSE, LA_LOSS_CE};
  const double scales[] = {2.0 / 2, 2.0 / sqrt(2.0),
                           16.0 / 2}; /* peft, rslora, large */
  problem p;
  uint64_t seed = 1;
  for (int a = 0; a < 4; a++)
    for (int lo = 0; lo < 2; lo++)
      for (int sc = 0; sc < 3; sc++)
        for (int depth = 0; depth < 2; depth++) {
          make_problem(&p, depth ? 3 : 1, depth ? deep : shallow, acts[a],
                       losses[lo], scales[sc], seed++);
          check_lora_grads(&p);
          check_full_grads(&p);
          check_float_vs_double(&p);
        }
  check_hand_losses();
  check_mse_bits();
  check_scaling();
  return check_summary();
}
