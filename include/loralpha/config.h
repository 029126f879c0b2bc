/*
 * config.h: one training run's configuration, parsed and validated from the
 * worker's JSON config (every field is documented in docs/worker.md).
 *
 * la_config_parse checks types, ranges and unknown fields; checks that need
 * the data (rank against the widths of .npy weights) happen when the task is
 * built. Every error message starts with the field's path ("lr: ...",
 * "npy.w0[1]: ...").
 */
#ifndef LORALPHA_CONFIG_H
#define LORALPHA_CONFIG_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stdint.h>

typedef enum {
  LA_TASK_TEACHER,
  LA_TASK_MLP,
  LA_TASK_NPY,
  LA_TASK_GPT
} la_task_kind;

/* The linear (Conv1D) modules of a GPT-2 block, as target_modules bits. */
enum {
  LA_GPT_C_ATTN = 1u << 0,    /* attn.c_attn: (C, 3C) */
  LA_GPT_ATTN_PROJ = 1u << 1, /* attn.c_proj: (C, C) */
  LA_GPT_C_FC = 1u << 2,      /* mlp.c_fc: (C, 4C) */
  LA_GPT_MLP_PROJ = 1u << 3,  /* mlp.c_proj: (4C, C) */
  LA_GPT_N_MODULES = 4
};
#define LA_GPT_MAX_VOCAB (1 << 20)
#define LA_GPT_MAX_LAYERS 48 /* most blocks in a gpt base */
typedef enum { LA_ACT_IDENTITY, LA_ACT_RELU, LA_ACT_GELU, LA_ACT_TANH } la_act;
typedef enum { LA_LOSS_MSE, LA_LOSS_CE } la_loss;
typedef enum { LA_SCALING_PEFT, LA_SCALING_RSLORA } la_scaling;
typedef enum { LA_OPT_ADAMW, LA_OPT_SGD } la_opt_kind;
typedef enum { LA_LR_CONSTANT, LA_LR_COSINE } la_lr_schedule;

#define LA_PATH_MAX 4096

typedef struct la_config {
  /* task */
  la_task_kind task;
  int n_layers;                  /* L: from widths, or 1 for teacher */
  int widths[LA_MAX_LAYERS + 1]; /* (L+1): d_in of layer l is widths[l] */
  la_act activation;             /* between layers (none after the last) */
  la_loss loss;
  int n_train, n_eval; /* synthetic tasks: samples per split */
  double input_decay;  /* 0 = isotropic; eigenvalue i of Σ is i^-decay */
  int target_rank;     /* rank of every layer's ΔW* */
  double target_scale; /* σ_1 of ΔW* */
  double target_decay; /* σ_i = scale * i^-decay */
  double noise;        /* label noise σ (mse only) */
  /* npy task: paths (empty string = not given) */
  char npy_x[LA_PATH_MAX], npy_y[LA_PATH_MAX];
  char npy_x_eval[LA_PATH_MAX], npy_y_eval[LA_PATH_MAX];
  char npy_w0[LA_MAX_LAYERS][LA_PATH_MAX];
  char npy_a0[LA_MAX_LAYERS][LA_PATH_MAX];
  int npy_n_w0, npy_n_a0;
  double eval_fraction; /* npy without x_eval: last fraction of X held out;
                           gpt without an eval file: of the tokens */
  /* gpt task: paths (empty string = not given) */
  char gpt_base[LA_PATH_MAX]; /* safetensors, GPT-2 names */
  char gpt_text[LA_PATH_MAX], gpt_text_eval[LA_PATH_MAX];     /* bytes */
  char gpt_tokens[LA_PATH_MAX], gpt_tokens_eval[LA_PATH_MAX]; /* .npy */
  int n_head;              /* attention heads */
  int context;             /* T: tokens per window */
  int vocab_size;          /* gpt tokens: ids are < vocab_size (text: 256) */
  unsigned target_modules; /* LA_GPT_* bits */
  int pretrain;            /* gpt: train every weight, no adapters */
  /* adapter */
  int rank;
  double alpha;
  la_scaling scaling;
  /* optimizer */
  la_opt_kind optimizer;
  double lr, beta1, beta2, eps, weight_decay, momentum;
  int nesterov;
  double loraplus_ratio; /* lr of B = ratio * lr of A */
  la_lr_schedule schedule;
  int warmup_steps;
  double min_lr_ratio;
  /* loop */
  int steps, batch;
  int stop_at;   /* 0, or the last update of this stint (1..steps): the run
                    trains as one of `steps` updates, stops after this one
                    and takes its end measurements there */
  int resume_at; /* 0, or updates 1..resume_at were recorded by an earlier
                    stint: replayed exactly, no record of step <= it sent */
  uint64_t seed, data_seed;
  int threads;
  int log_every, eval_every, spectra_every;
  int sharpness;        /* bool: measure sharpness at start and end */
  int sharpness_every;  /* 0 = start and end only */
  int sharpness_iters;  /* Lanczos steps (Hessian-vector products) at most */
  double sharpness_tol; /* stop at a residual <= tol |lambda| */
  int sharpness_batch;
  double diverge_factor;
  int64_t run_id; /* echoed in the start record; -1 if absent */
} la_config;

/* Fills *cfg with defaults, then with the fields of root (borrowed). On
 * error returns LA_EINVAL with "<field>: <problem>" in err. */
int la_config_parse(const json_t *root, la_config *cfg, la_err *err);

/* The LoRA scaling s: alpha / rank (peft) or alpha / sqrt(rank) (rslora). */
double la_config_scale(const la_config *cfg);

/* A new JSON object with the effective configuration (defaults filled). */
json_t *la_config_to_json(const la_config *cfg);

/* Calls fn(value, field, ctx) for every file path that fields names:
 * fields is an object holding worker config fields (a config, or a sweep
 * spec's task section), field the path's name ("npy.x", "npy.w0[1]"),
 * value its JSON value (borrowed; usually a string, which fn may replace
 * with json_string_set). The path fields are those the config parser reads
 * as files. Returns 0, or fn's first non-zero answer (the walk stops). */
typedef int (*la_config_path_fn)(json_t *value, const char *field, void *ctx);
int la_config_each_path(json_t *fields, la_config_path_fn fn, void *ctx);

/* The name of GPT module m (0..LA_GPT_N_MODULES-1, bit 1 << m of
 * target_modules): "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj". */
const char *la_gpt_module_name(int m);

/* Names of enum values, for output. */
const char *la_act_name(la_act a);
const char *la_loss_name(la_loss l);

#endif
