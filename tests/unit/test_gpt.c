/*
 * test_gpt.c: the GPT model (worker/gpt_impl.h) in double precision
 * against central finite differences, op by op through the parameters
 * each op's backward feeds: the token embedding (also the LM head: cross-
 * entropy and the tied output), the position embedding, the LayerNorms,
 * causal attention and its softmax (c_attn), GELU (c_fc), the output
 * projections, and both LoRA branches (A and B) of every module, with
 * rank r adapters and all base weights differentiated at once, with the
 * attention's products in one block of rows and in blocks of 2, 2 and 1;
 * LoRA alone (backward stops in the first block at the lowest adapted
 * module) with each module as the lowest. Then the causal mask (a later
 * token changes no earlier output), the float model against the double
 * one, and the safetensors names and shapes of a base.
 */
#include "check.h"
#include "gpt.h"
#include "loralpha/rng.h"

#include <stdlib.h>
#include <string.h>

#define V 11
#define C 8
#define L 2
#define NH 2
#define T 5
#define NB 2
#define R 2

static const la_gpt_shape k_sh = {V, T + 2, C, L, NH};

/* The model under test, its weights, adapters and their gradients. */
typedef struct fixture {
  la_gpt_d g;
  double *w, *gw, *theta, *gtheta;
  size_t nw, nt;
  int tok[NB * T], tgt[NB * T];
} fixture;

/* The model with adapters on targets; full: every base weight's gradient
 * too. */
static void setup_on(fixture *f, uint64_t seed, unsigned targets, int full) {
  la_rng rng;
  la_rng_init(&rng, seed, 77);
  f->nw = la_gpt_param_count(&k_sh);
  f->nt = la_gpt_adapter_count(&k_sh, R, targets);
  f->w = malloc(f->nw * sizeof(double));
  f->gw = calloc(f->nw, sizeof(double));
  f->theta = malloc(f->nt * sizeof(double));
  f->gtheta = calloc(f->nt, sizeof(double));
  for (size_t i = 0; i < f->nw; i++)
    f->w[i] = 0.4 * la_rng_normal(&rng);
  for (size_t i = 0; i < f->nt; i++) /* B nonzero: both branches live */
    f->theta[i] = 0.3 * la_rng_normal(&rng);
  for (int i = 0; i < NB * T; i++) {
    f->tok[i] = (int)(la_rng_u64(&rng) % V);
    f->tgt[i] = (int)(la_rng_u64(&rng) % V);
  }
  CHECK_EQ_INT(la_gpt_init_d(&f->g, &k_sh, NB, T, R, targets, 1.7, full), 0);
  la_gpt_bind_d(&k_sh, f->w, &f->g.w);
  la_gpt_bind_d(&k_sh, f->gw, &f->g.gw);
  f->g.gslab = f->gw;
  la_gpt_bind_adapters_d(&f->g, f->theta, f->gtheta);
}

static void setup(fixture *f, uint64_t seed) {
  setup_on(f, seed, 0xf, 1);
}

static void teardown(fixture *f) {
  la_gpt_free_d(&f->g);
  free(f->w), free(f->gw), free(f->theta), free(f->gtheta);
}

static double loss(fixture *f) {
  return la_gpt_forward_d(&f->g, f->tok, f->tgt, NB);
}

/* Checks the analytic gradient g at x[idx] of n entries against central
 * differences, 6 entries spread over the tensor; names the op. */
static void check_entries(fixture *f, const char *op, double *x,
                          const double *g, size_t n) {
  const double h = 1e-5;
  size_t step = n > 6 ? n / 6 : 1;
  for (size_t i = (n > 6 ? 1 : 0); i < n; i += step) {
    double keep = x[i], lp, lm, num;
    x[i] = keep + h, lp = loss(f);
    x[i] = keep - h, lm = loss(f);
    x[i] = keep;
    num = (lp - lm) / (2 * h);
    if (fabs(g[i] - num) > 1e-7 * (fabs(num) > 1 ? fabs(num) : 1))
      fprintf(stderr, "  %s[%zu]: analytic %.12g, numeric %.12g\n", op, i, g[i],
              num);
    CHECK_CLOSE(g[i], num, 1e-7);
  }
}

/* Every adapter of f's model, every module's branch on its own. */
static void check_adapters(fixture *f, unsigned targets) {
  size_t na = la_gpt_adapter_a_count(&k_sh, R, targets);
  check_entries(f, "lora A (all modules)", f->theta, f->gtheta, na);
  check_entries(f, "lora B (all modules)", f->theta + na, f->gtheta + na,
                f->nt - na);
  for (int l = 0; l < L; l++)
    for (int m = 0; m < LA_GPT_N_MODULES; m++) {
      int in, out;
      char name[64];
      if (!(targets & 1u << m)) continue;
      la_gpt_module_dims(C, m, &in, &out);
      snprintf(name, sizeof name, "lora A of h.%d.%s", l,
               la_gpt_module_name(m));
      check_entries(f, name, (double *)f->g.A[l][m], f->g.gA[l][m],
                    (size_t)R * in);
      snprintf(name, sizeof name, "lora B of h.%d.%s", l,
               la_gpt_module_name(m));
      check_entries(f, name, (double *)f->g.Bm[l][m], f->g.gB[l][m],
                    (size_t)R * out);
    }
}

/* Every tensor kind of the base and every adapter, with the attention's
 * products in blocks of tb query rows (T: one block; 2: blocks of 2, 2
 * and 1 rows). */
static void check_gradients(int tb) {
  static const char *const ops[LA_GPT_N_TENSORS] = {
      "wte (embedding, tied LM head, cross-entropy)",
      "wpe (position embedding)",
      "ln_1.weight (LayerNorm)",
      "ln_1.bias (LayerNorm)",
      "c_attn.weight (causal attention, softmax)",
      "c_attn.bias (causal attention, softmax)",
      "attn.c_proj.weight",
      "attn.c_proj.bias",
      "ln_2.weight (LayerNorm)",
      "ln_2.bias (LayerNorm)",
      "c_fc.weight (GELU)",
      "c_fc.bias (GELU)",
      "mlp.c_proj.weight",
      "mlp.c_proj.bias",
      "ln_f.weight (final LayerNorm)",
      "ln_f.bias (final LayerNorm)"};
  fixture f;
  size_t off = 0;
  setup(&f, 1);
  f.g.tb = tb;
  loss(&f);
  la_gpt_backward_d(&f.g);
  for (int k = 0; k < LA_GPT_N_TENSORS; k++) {
    size_t n = la_gpt_tensor_count(&k_sh, k);
    check_entries(&f, ops[k], f.w + off, f.gw + off, n);
    off += n;
  }
  check_adapters(&f, 0xf);
  teardown(&f);
}

/* LoRA alone (no base gradients): backward stops in the first block at
 * its lowest adapted module; every adapter's gradient is still right,
 * for each module as the lowest. */
static void check_lora_only(void) {
  static const unsigned sets[] = {
      LA_GPT_C_ATTN | LA_GPT_MLP_PROJ, LA_GPT_ATTN_PROJ | LA_GPT_C_FC,
      LA_GPT_C_FC | LA_GPT_MLP_PROJ, LA_GPT_MLP_PROJ};
  for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
    fixture f;
    setup_on(&f, 5 + k, sets[k], 0);
    f.g.tb = 2;
    loss(&f);
    la_gpt_backward_d(&f.g);
    check_adapters(&f, sets[k]);
    teardown(&f);
  }
}

/* Changing the last token of a window changes none of the earlier
 * positions' outputs (the causal mask), but does change its own. */
static void check_causal(void) {
  fixture f;
  double before[T * V];
  int last = T - 1, same = 1;
  setup(&f, 2);
  loss(&f);
  memcpy(before, f.g.probs, sizeof before);
  f.tok[last] = (f.tok[last] + 1) % V;
  loss(&f);
  for (int i = 0; i < last * V; i++)
    same &= before[i] == f.g.probs[i];
  CHECK(same);
  CHECK(memcmp(before + last * V, f.g.probs + last * V, V * sizeof(double)) !=
        0);
  teardown(&f);
}

/* The float model gives the double one's loss and adapter gradients. */
static void check_float(void) {
  fixture f;
  la_gpt_f gf;
  float *w = malloc(la_gpt_param_count(&k_sh) * sizeof(float));
  float *th, *gth;
  double ld, lf;
  setup(&f, 3);
  th = malloc(f.nt * sizeof(float)), gth = calloc(f.nt, sizeof(float));
  for (size_t i = 0; i < f.nw; i++)
    w[i] = (float)f.w[i];
  for (size_t i = 0; i < f.nt; i++)
    th[i] = (float)f.theta[i];
  CHECK_EQ_INT(la_gpt_init_f(&gf, &k_sh, NB, T, R, 0xf, 1.7, 0), 0);
  la_gpt_bind_f(&k_sh, w, &gf.w);
  la_gpt_bind_adapters_f(&gf, th, gth);
  ld = loss(&f);
  la_gpt_backward_d(&f.g);
  lf = la_gpt_forward_f(&gf, f.tok, f.tgt, NB);
  la_gpt_backward_f(&gf);
  CHECK_CLOSE(lf, ld, 1e-5);
  for (size_t i = 0; i < f.nt; i += 7)
    CHECK_CLOSE(gth[i], f.gtheta[i], 1e-4);
  la_gpt_free_f(&gf);
  free(w), free(th), free(gth);
  teardown(&f);
}

/* GPT-2's tensor names and the counts the slab is laid out by. */
static void check_names(void) {
  char buf[64];
  la_gpt_tensor_name(0, 0, buf, sizeof buf);
  CHECK(strcmp(buf, "wte.weight") == 0);
  la_gpt_tensor_name(4, 3, buf, sizeof buf);
  CHECK(strcmp(buf, "h.3.attn.c_attn.weight") == 0);
  la_gpt_tensor_name(12, 1, buf, sizeof buf);
  CHECK(strcmp(buf, "h.1.mlp.c_proj.weight") == 0);
  CHECK_EQ_INT(la_gpt_tensor_count(&k_sh, 4), (size_t)L * C * 3 * C);
  CHECK_EQ_INT(la_gpt_tensor_count(&k_sh, 1), (size_t)(T + 2) * C);
  /* GPT-2 small: 124,439,808 parameters */
  la_gpt_shape small = {50257, 1024, 768, 12, 12};
  CHECK_EQ_INT(la_gpt_param_count(&small), 124439808);
  CHECK_EQ_INT(la_gpt_adapter_count(&k_sh, R, LA_GPT_C_ATTN),
               (size_t)L * R * (C + 3 * C));
}

int main(void) {
  check_gradients(T);
  check_gradients(2);
  check_lora_only();
  check_causal();
  check_float();
  check_names();
  return check_summary();
}
