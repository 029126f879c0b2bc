/*
 * gpt.h: task "gpt", a decoder-only transformer with GPT-2's architecture,
 * fine-tuned with LoRA (or, pretraining, in all its weights).
 *
 * The model (llm.c's train_gpt2.c, with GEMMs where it has loops):
 *   x = wte[tok] + wpe[t]
 *   per block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))
 *     attn: qkv = c_attn(x); per head softmax(q k^T / sqrt(hs), causal) v;
 *           c_proj of the heads concatenated
 *     mlp:  c_proj(gelu_tanh(c_fc(x)))
 *   logits = ln_f(x) wte^T (the LM head tied to the token embedding)
 *   loss = mean next-token cross-entropy over every position
 * LayerNorm eps 1e-5; GELU's tanh form as GPT-2 (gelu_new). Linear layers
 * are GPT-2's Conv1D: y = x W + b with W (in, out).
 *
 * LoRA is PEFT's on the modules named by target_modules: a module with
 * weight W (in, out) gets A (r, in) and B (out, r) and computes
 *   y = x W + b + s (x A^T) B^T
 * (PEFT's fan_in_fan_out: the adapters keep nn.Linear's orientation, the
 * update s B A is W's transpose's), A Kaiming-uniform U(-1/sqrt(in),
 * 1/sqrt(in)), B zero.
 *
 * The model exists in float (training) and double (gradient checks) from
 * one source, gpt_impl.h, as model.h's net does.
 */
#ifndef LORALPHA_GPT_H
#define LORALPHA_GPT_H

#include "linalg.h"
#include "loralpha/common.h"
#include "loralpha/config.h"
#include "loralpha/rng.h"

#include <stddef.h>

#define LA_GPT_N_TENSORS 16 /* kinds of tensor in a la_gpt_w */
#define LA_GPT_LN_EPS 1e-5
/* Rows of a block of the causal attention's products: a block of queries
 * is multiplied with only the keys it sees (the first i0 + rows), which
 * at T = 128 leaves 5/8 of the full T x T products. */
#define LA_GPT_ATT_ROWS 32

/* The sizes of a model, from its base weights. */
typedef struct la_gpt_shape {
  int V;    /* vocabulary: wte's rows */
  int maxT; /* positions: wpe's rows */
  int C;    /* width */
  int L;    /* blocks */
  int NH;   /* heads (C % NH == 0) */
} la_gpt_shape;

/* Elements of tensor kind k (0..LA_GPT_N_TENSORS-1, all layers together),
 * and of all of them. */
size_t la_gpt_tensor_count(const la_gpt_shape *sh, int k);
size_t la_gpt_param_count(const la_gpt_shape *sh);

/* (in, out) of module m (LA_GPT_* bit 1 << m) at width C. */
void la_gpt_module_dims(int C, int m, int *in, int *out);

/* Elements of all adapters of rank r on targets: sum of r (in + out). */
size_t la_gpt_adapter_count(const la_gpt_shape *sh, int r, unsigned targets);

/* Elements of all their A matrices: sum of r in (the first part of the
 * flat adapter vector; the B matrices follow). */
size_t la_gpt_adapter_a_count(const la_gpt_shape *sh, int r, unsigned targets);

#define LA_REAL float
#define LA_SUF(x) x##_f
#include "gpt_t.h"
#undef LA_REAL
#undef LA_SUF

#define LA_REAL double
#define LA_SUF(x) x##_d
#include "gpt_t.h"
#undef LA_REAL
#undef LA_SUF

/* A gpt task's data: the base weights and the tokens of both splits. */
typedef struct la_gpt_data {
  la_gpt_shape sh;
  float *params; /* (la_gpt_param_count) owned slab */
  int *train;    /* (n_train) token ids */
  int *eval;     /* (n_eval) */
  size_t n_train, n_eval;
} la_gpt_data;

/* Loads cfg's gpt task: the base (gpt.base, GPT-2's names with or without
 * a "transformer." prefix; every tensor F32, F16 or BF16 of the shape the
 * others imply), the tokens (gpt.text as bytes, or gpt.tokens, a .npy of
 * integers) and the eval split (its own file, or the last eval_fraction of
 * the tokens). Also fills cfg->n_layers. Checks the run's fields against
 * the data (la_gpt_check). Returns 0 or an LA_E code with err naming the
 * field, the file and the tensor. */
int la_gpt_data_load(la_config *cfg, la_gpt_data *d, la_err *err);

/* The checks of cfg's per-run fields against loaded data: n_head divides
 * C, context <= the positions, rank, token ids < vocab_size <= V, and a
 * window of context+1 tokens in each split. */
int la_gpt_check(const la_config *cfg, const la_gpt_data *d, la_err *err);

void la_gpt_data_free(la_gpt_data *d);

/* The safetensors name of tensor kind k of layer l ("h.3.attn.c_attn.weight",
 * "wte.weight"; l ignored for tensors outside the blocks) into buf. */
void la_gpt_tensor_name(int k, int l, char *buf, size_t n);

/* The shape of one tensor of kind k (one block's) into shape; its number
 * of dimensions (1 or 2). */
int la_gpt_tensor_shape(const la_gpt_shape *sh, int k, size_t *shape);

/* Whether tensor kind k is one per block (1) or one in all (0). */
int la_gpt_tensor_per_layer(int k);

/* nb training windows of T tokens at starts u64 % (n_train - T) drawn in
 * order from rng: tok (nb, T) = train[s .. s+T), tgt the tokens after. */
void la_gpt_sample(const la_gpt_data *d, la_rng *rng, int T, int nb, int *tok,
                   int *tgt);

/* Windows of the eval split: the non-overlapping windows at 0, T, 2T, ...
 * that have a next token, at most max_windows. */
size_t la_gpt_eval_windows(const la_gpt_data *d, int T, int max_windows);

/* Mean loss over those windows, g->B at a time (tok, tgt: (B, T) scratch). */
double la_gpt_eval_f(la_gpt_f *g, const la_gpt_data *d, int max_windows,
                     int *tok, int *tgt);

/* What a sharpness measurement of task gpt needs (all borrowed). */
typedef struct la_gpt_sharp_in {
  const la_gpt_data *d;
  la_gpt_shape sh; /* with NH */
  int T, r;
  unsigned targets;
  double s;
  const float *theta; /* the adapters: all A, then all B ((block, module)) */
  int n_win;          /* the first n_win training windows at 0, T, 2T, ... */
} la_gpt_sharp_in;

/* The top Hessian eigenvalue of the loss on those windows w.r.t. the LoRA
 * parameters (full 0) or w.r.t. the adapted modules' full weights
 * W + s (B A)^T (full 1), as la_sharpness (metrics.h): Lanczos on central
 * differences of double-precision gradients from a unit Gaussian vector
 * of seed's sharpness stream. Returns 0 or an LA_E code. */
int la_gpt_sharpness(const la_gpt_sharp_in *in, int full, int iters, double tol,
                     uint64_t seed, la_eig_top *out);

#endif
