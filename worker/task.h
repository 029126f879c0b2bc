/*
 * task.h: the data and frozen weights of one run.
 *
 * teacher: one linear layer; x ~ N(0, diag(i^-input_decay)); W0 has
 *   N(0, 1/d_in) entries; y = x (W0 + dW*)^T + noise, dW* = U diag(sigma) V^T
 *   of rank target_rank with sigma_i = target_scale * i^-target_decay.
 * mlp: L layers; W0_l He-scaled (N(0, g^2/d_in), g^2 = 2 for relu and gelu,
 *   1 otherwise) is task A; the target network adds a low-rank dW*_l as above
 *   to every layer (task B). mse: y = f_B(x) + noise; ce: y = argmax f_B(x).
 * npy: W0 per layer, X, Y (and optionally A0 per layer, and an eval split)
 *   from .npy files, shapes checked against each other.
 * gpt: a GPT-2 base from safetensors and token streams (gpt.h); L, dims and
 *   the arrays above stay empty.
 */
#ifndef LORALPHA_TASK_H
#define LORALPHA_TASK_H

#include "gpt.h"
#include "loralpha/config.h"

typedef struct la_task {
  int L;
  int dims[LA_MAX_LAYERS + 1];
  int y_dim; /* dims[L] for mse, 1 for ce */
  int n_train, n_eval;
  float *W0[LA_MAX_LAYERS]; /* (d_out, d_in) owned */
  float *A0[LA_MAX_LAYERS]; /* (r, d_in) owned, or NULL: Kaiming init */
  float *X_train, *Y_train; /* (n_train, dims[0]), (n_train, y_dim) */
  float *X_eval, *Y_eval;   /* (n_eval, dims[0]), (n_eval, y_dim) */
  /* the true shift, synthetic tasks only */
  int has_target, target_rank; /* k */
  double *U[LA_MAX_LAYERS];    /* (d_out, k) orthonormal columns */
  double *V[LA_MAX_LAYERS];    /* (d_in, k) orthonormal columns */
  double *S[LA_MAX_LAYERS];    /* (k) singular values */
  la_gpt_data *gpt;            /* task gpt: owned, else NULL */
} la_task;

/* Builds the task described by cfg. For npy, also fills cfg's widths,
 * n_layers, n_train and n_eval from the files and checks rank and batch
 * against them. Returns 0 or an LA_E code with err filled (file errors name
 * the file). */
int la_task_build(la_config *cfg, la_task *t, la_err *err);

void la_task_free(la_task *t);

/* Whether configs a and b, as parsed, describe the same task: every field
 * la_task_build reads for their task is equal (synthetic: the generator's
 * shapes, sizes, target, noise and data_seed; npy: the paths, loss and
 * eval_fraction; gpt: the paths, and eval_fraction without an eval file),
 * but rank and batch (gpt: rank, n_head, context, vocab_size), which it only
 * checks against the data (rank counts when A0 files are given: their shape is
 * the rank's). Files are compared by path only (la_task_cache looks at their
 * contents' identity). */
int la_task_same(const la_config *a, const la_config *b);

/* One task kept for the next run of a worker that serves many
 * (loralpha-worker --serve): the config it was built from, as parsed, and
 * the identity of every file it read (device, inode, size, modification
 * time). */
typedef struct la_task_file {
  unsigned long long dev, ino, size, mtime_ns;
} la_task_file;

#define LA_TASK_MAX_FILES (4 + 2 * LA_MAX_LAYERS)

typedef struct la_task_cache {
  int valid;
  la_config parsed;
  la_task task;
  la_task_file files[LA_TASK_MAX_FILES];
  int n_files;
} la_task_cache;

/* The task of cfg (as parsed; filled as la_task_build fills it): the kept
 * one when cfg describes the same task (la_task_same) and its files are
 * unchanged, else one built anew, the kept one freed first. *hit says
 * which. Returns 0 or an LA_E code with err filled, as la_task_build (the
 * checks against the data run on a hit too); after an error nothing is
 * kept. *out is borrowed from the cache. */
int la_task_cache_get(la_task_cache *tc, la_config *cfg, const la_task **out,
                      int *hit, la_err *err);

void la_task_cache_free(la_task_cache *tc);

#endif
