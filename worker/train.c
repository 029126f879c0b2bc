/* train.c: the training loop and its JSON-lines output (see train.h). */
#include "train.h"

#include "blas.h"
#include "gpt.h"
#include "linalg.h"
#include "loralpha/json_text.h"
#include "loralpha/rng.h"
#include "loralpha/safetensors.h"
#include "metrics.h"
#include "model.h"
#include "optim.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVAL_CHUNK 1024
#define ADP_MAX (LA_GPT_MAX_LAYERS * LA_GPT_N_MODULES) /* adapters at most */
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

/* Running figures of a run, for the done record. */
typedef struct run_state {
  double train0, eval0, last_train, last_eval, best_eval;
  long best_step;
  const char *status, *reason;
  double t0; /* when the run began */
  int over;  /* 1 once diverged or at its last step */
} run_state;

struct la_trainer {
  const la_config *cfg; /* borrowed */
  const la_task *task;  /* borrowed */
  la_net_f net;
  double s;        /* LoRA scaling */
  size_t n_a, n_b; /* parameters in all A, all B */
  float *theta;    /* (n_a + n_b): A_0..A_{L-1}, then B_0..B_{L-1} */
  float *grad;     /* (n_a + n_b), same layout */
  float *A0;       /* (n_a) the initial A, for target-free drift */
  int n_adp;       /* adapters: one per layer (mlp), per module (gpt) */
  float *A[ADP_MAX], *B[ADP_MAX];
  int din[ADP_MAX], dout[ADP_MAX]; /* of adapter k's layer */
  const float *W[ADP_MAX];         /* its frozen weight (for sigma_max) */
  const char *mod[ADP_MAX];        /* gpt: its module's name */
  int blk[ADP_MAX];                /* gpt: its block */
  /* task gpt */
  la_gpt_f gpt;
  int *tok, *tgt; /* (batch, context) the windows of a step or eval */
  la_optim opt;
  float *Xb, *Yb; /* (batch, d0), (batch, y_dim) */
  uint32_t *perm; /* (n_train) this epoch's order */
  size_t perm_pos;
  la_rng batch_rng;
  long step; /* updates done */
  double lr_a, lr_b, grad_norm_a, grad_norm_b, update_norm;
  size_t tensor_bytes;
  run_state st;
  int tag;         /* 1: every record carries the run's run_id (packs) */
  const float *ze; /* (n_eval, dims[1]) shared X_eval W0_0^T, or NULL */
};

/* Writes one record of tr's run and releases it; a tagged run's records
 * all carry its run_id. */
static void emit(const la_trainer *tr, FILE *out, json_t *rec) {
  if (tr->tag && json_object_get(rec, "run_id") == NULL)
    json_object_set_new(rec, "run_id", json_integer(tr->cfg->run_id));
  json_dumpf(rec, out, JSON_FLAGS);
  fputc('\n', out);
  fflush(out);
  json_decref(rec);
}

/* Kaiming-uniform(a = sqrt 5) as PEFT uses: U(-1/sqrt(d_in), 1/sqrt(d_in)). */
static void init_adapters(la_trainer *tr) {
  la_rng rng;
  const la_task *t = tr->task;
  la_rng_init(&rng, tr->cfg->seed, LA_STREAM_INIT);
  for (int l = 0; l < tr->n_adp; l++) {
    size_t na = (size_t)tr->cfg->rank * tr->din[l];
    double bound = 1.0 / sqrt((double)tr->din[l]);
    if (t->gpt == NULL && t->A0[l] != NULL) {
      memcpy(tr->A[l], t->A0[l], na * sizeof(float));
    } else {
      for (size_t i = 0; i < na; i++)
        tr->A[l][i] = (float)(bound * (2.0 * la_rng_uniform(&rng) - 1.0));
    }
    memset(tr->B[l], 0, (size_t)tr->dout[l] * tr->cfg->rank * sizeof(float));
  }
  if (!tr->cfg->pretrain) memcpy(tr->A0, tr->theta, tr->n_a * sizeof(float));
}

/* Task gpt: the model's weights are the task's base (never written: the
 * model writes weights only in full mode); its adapters, in (block,
 * module) order, are the trainer's A[k], B[k]. */
static void bind_gpt(la_trainer *tr) {
  la_gpt_f *g = &tr->gpt;
  if (tr->cfg->pretrain) { /* the weights are theta, trained in a copy */
    la_gpt_bind_f(&g->sh, tr->theta, &g->w);
    la_gpt_bind_f(&g->sh, tr->grad, &g->gw);
    g->gslab = tr->grad;
    return;
  }
  la_gpt_bind_f(&g->sh, tr->task->gpt->params, &g->w);
  la_gpt_bind_adapters_f(g, tr->theta, tr->grad);
  tr->n_adp = 0;
  for (int l = 0; l < g->sh.L; l++)
    for (int m = 0; m < LA_GPT_N_MODULES; m++) {
      float *W, *b;
      int k = tr->n_adp;
      if (!(g->targets & 1u << m)) continue;
      tr->A[k] = (float *)g->A[l][m], tr->B[k] = (float *)g->Bm[l][m];
      la_gpt_module_weight_f(g, l, m, &W, &b);
      la_gpt_module_dims(g->sh.C, m, &tr->din[k], &tr->dout[k]);
      tr->W[k] = W, tr->mod[k] = la_gpt_module_name(m), tr->blk[k] = l;
      tr->n_adp++;
    }
}

/* Points A[l], B[l] and the net's parameter/gradient pointers into the flat
 * buffers. */
static void bind_params(la_trainer *tr) {
  const la_task *t = tr->task;
  size_t oa = 0, ob = tr->n_a;
  if (t->gpt) {
    bind_gpt(tr);
    return;
  }
  tr->n_adp = t->L;
  for (int l = 0; l < t->L; l++) {
    tr->A[l] = tr->theta + oa;
    tr->B[l] = tr->theta + ob;
    tr->din[l] = t->dims[l], tr->dout[l] = t->dims[l + 1];
    tr->W[l] = t->W0[l];
    tr->net.W0[l] = t->W0[l];
    tr->net.A[l] = tr->A[l];
    tr->net.B[l] = tr->B[l];
    tr->net.gA[l] = tr->grad + oa;
    tr->net.gB[l] = tr->grad + ob;
    oa += (size_t)tr->cfg->rank * t->dims[l];
    ob += (size_t)t->dims[l + 1] * tr->cfg->rank;
  }
}

/* Task gpt's tensor bytes: base, tokens, adapters and their state, the
 * model's workspace, the windows. */
static size_t count_gpt_bytes(const la_trainer *tr) {
  const la_gpt_data *d = tr->task->gpt;
  size_t np = tr->n_a + tr->n_b,
         win = (size_t)tr->cfg->batch * tr->cfg->context;
  size_t f = la_gpt_param_count(&d->sh) + la_gpt_work_count_f(&tr->gpt) +
             np * (tr->cfg->optimizer == LA_OPT_ADAMW ? 4 : 3) +
             (tr->cfg->pretrain ? 0 : tr->n_a);
  return f * sizeof(float) + (d->n_train + d->n_eval + 2 * win) * sizeof(int);
}

/* Counts the tensor bytes: task arrays, parameters, state, workspace. */
static size_t count_bytes(const la_trainer *tr) {
  const la_task *t = tr->task;
  size_t f = 0, np = tr->n_a + tr->n_b, dmax = 0, act = 0;
  if (t->gpt) return count_gpt_bytes(tr);
  for (int l = 0; l < t->L; l++) {
    f += (size_t)t->dims[l] * t->dims[l + 1];
    act += 2 * (size_t)t->dims[l + 1] + (size_t)tr->cfg->rank;
  }
  for (int l = 0; l <= t->L; l++)
    dmax = (size_t)t->dims[l] > dmax ? (size_t)t->dims[l] : dmax;
  f += ((size_t)t->n_train + t->n_eval) * ((size_t)t->dims[0] + t->y_dim);
  f += np * (tr->cfg->optimizer == LA_OPT_ADAMW ? 4 : 3) + tr->n_a;
  f += (size_t)tr->net.n_max * (act + 2 * dmax + (size_t)tr->cfg->rank);
  f += (size_t)tr->cfg->batch * ((size_t)t->dims[0] + t->y_dim);
  return f * sizeof(float) + (size_t)t->n_train * sizeof(uint32_t);
}

/* Task gpt's buffers: adapters, optimizer, the model's workspace. */
static int alloc_gpt(la_trainer *tr) {
  const la_config *c = tr->cfg;
  la_gpt_shape sh = tr->task->gpt->sh;
  size_t np, win = (size_t)c->batch * c->context;
  sh.NH = c->n_head;
  if (c->pretrain) { /* every weight at lr, from the base's values */
    np = tr->n_a = la_gpt_param_count(&sh), tr->n_b = 0;
    if ((tr->theta = malloc(np * sizeof(float))) != NULL)
      memcpy(tr->theta, tr->task->gpt->params, np * sizeof(float));
  } else {
    np = la_gpt_adapter_count(&sh, c->rank, c->target_modules);
    tr->n_a = la_gpt_adapter_a_count(&sh, c->rank, c->target_modules);
    tr->n_b = np - tr->n_a;
    tr->theta = calloc(np, sizeof(float));
  }
  tr->grad = calloc(np, sizeof(float));
  tr->A0 = calloc(c->pretrain ? 1 : tr->n_a, sizeof(float));
  tr->tok = malloc(win * sizeof(int));
  tr->tgt = malloc(win * sizeof(int));
  if (!tr->theta || !tr->grad || !tr->A0 || !tr->tok || !tr->tgt)
    return LA_ENOMEM;
  if (la_gpt_init_f(&tr->gpt, &sh, c->batch, c->context,
                    c->pretrain ? 0 : c->rank, c->target_modules, tr->s,
                    c->pretrain))
    return LA_ENOMEM;
  return la_optim_init(&tr->opt, c, np);
}

/* Allocates every buffer of the trainer. */
static int alloc_trainer(la_trainer *tr) {
  const la_task *t = tr->task;
  const la_config *c = tr->cfg;
  size_t np;
  int n_max = c->batch > EVAL_CHUNK ? c->batch : EVAL_CHUNK;
  if (t->gpt) return alloc_gpt(tr);
  for (int l = 0; l < t->L; l++) {
    tr->n_a += (size_t)c->rank * t->dims[l];
    tr->n_b += (size_t)t->dims[l + 1] * c->rank;
  }
  np = tr->n_a + tr->n_b;
  tr->theta = calloc(np, sizeof(float));
  tr->grad = calloc(np, sizeof(float));
  tr->A0 = calloc(tr->n_a, sizeof(float));
  tr->Xb = malloc((size_t)c->batch * t->dims[0] * sizeof(float));
  tr->Yb = malloc((size_t)c->batch * t->y_dim * sizeof(float));
  tr->perm = malloc((size_t)t->n_train * sizeof(uint32_t));
  if (!tr->theta || !tr->grad || !tr->A0 || !tr->Xb || !tr->Yb || !tr->perm)
    return LA_ENOMEM;
  if (la_net_init_f(&tr->net, t->L, t->dims, c->rank, n_max, c->activation,
                    c->loss, tr->s, 0))
    return LA_ENOMEM;
  return la_optim_init(&tr->opt, c, np);
}

int la_trainer_new(const la_config *cfg, const la_task *task, la_trainer **out,
                   la_err *err) {
  la_trainer *tr = calloc(1, sizeof *tr);
  int rc;
  *out = NULL;
  if (tr == NULL) return la_errf(err, LA_ENOMEM, "trainer: out of memory");
  tr->cfg = cfg;
  tr->task = task;
  tr->s = la_config_scale(cfg);
  if ((rc = alloc_trainer(tr))) {
    la_trainer_free(tr);
    return la_errf(err, rc, "trainer: could not allocate the run's buffers: %s",
                   la_strerror(rc));
  }
  bind_params(tr);
  init_adapters(tr);
  la_rng_init(&tr->batch_rng, cfg->seed, LA_STREAM_BATCH);
  if (task->gpt == NULL)
    la_rng_permutation(&tr->batch_rng, tr->perm, (size_t)task->n_train);
  tr->tensor_bytes = count_bytes(tr);
  *out = tr;
  return 0;
}

void la_trainer_free(la_trainer *tr) {
  if (tr == NULL) return;
  la_net_free_f(&tr->net);
  la_gpt_free_f(&tr->gpt);
  free(tr->tok), free(tr->tgt);
  la_optim_free(&tr->opt);
  free(tr->theta), free(tr->grad), free(tr->A0);
  free(tr->Xb), free(tr->Yb), free(tr->perm);
  free(tr);
}

size_t la_trainer_tensor_bytes(const la_trainer *tr) {
  return tr->tensor_bytes;
}

/* Gathers the next mini-batch: rows in the order of a seeded permutation of
 * the training set, reshuffled each time it is used up. */
static void next_batch(la_trainer *tr) {
  const la_task *t = tr->task;
  size_t dx = (size_t)t->dims[0], dy = (size_t)t->y_dim;
  for (int i = 0; i < tr->cfg->batch; i++) {
    if (tr->perm_pos == (size_t)t->n_train) {
      la_rng_permutation(&tr->batch_rng, tr->perm, (size_t)t->n_train);
      tr->perm_pos = 0;
    }
    uint32_t row = tr->perm[tr->perm_pos++];
    memcpy(tr->Xb + i * dx, t->X_train + row * dx, dx * sizeof(float));
    memcpy(tr->Yb + i * dy, t->Y_train + row * dy, dy * sizeof(float));
  }
}

/* Forward and backward on the next batch, without the update. */
static double compute_grad(la_trainer *tr) {
  if (tr->task->gpt) {
    double loss;
    la_gpt_sample(tr->task->gpt, &tr->batch_rng, tr->cfg->context,
                  tr->cfg->batch, tr->tok, tr->tgt);
    loss = la_gpt_forward_f(&tr->gpt, tr->tok, tr->tgt, tr->cfg->batch);
    la_gpt_backward_f(&tr->gpt);
    return loss;
  }
  next_batch(tr);
  return la_net_loss_grad_f(&tr->net, tr->Xb, tr->Yb, tr->cfg->batch);
}

/* The update the run ends with: stop_at (a stint), else steps. Its records
 * are those of a run's last step. */
static long end_step(const la_config *c) {
  return c->stop_at > 0 ? c->stop_at : c->steps;
}

/* Does step k send its records? Not when an earlier stint sent them
 * (k <= resume_at, a replayed step). */
static int sends(const la_config *c, long k) {
  return c->resume_at == 0 || k > c->resume_at;
}

/* The optimizer update with this step's learning rates; the update norm is
 * measured only for steps that write a train record (it changes no
 * parameter: optim.c). */
static void apply_update(la_trainer *tr) {
  double f = la_lr_factor(tr->cfg, tr->step);
  long k = tr->step + 1;
  tr->opt.measure = sends(tr->cfg, k) &&
                    (k % tr->cfg->log_every == 0 || k == end_step(tr->cfg));
  tr->lr_a = tr->cfg->lr * f;
  tr->lr_b = tr->lr_a * tr->cfg->loraplus_ratio;
  tr->update_norm =
      la_optim_step(&tr->opt, tr->theta, tr->grad, tr->n_a, tr->lr_a, tr->lr_b);
  tr->step++;
}

void la_trainer_next_batch(la_trainer *tr, const float **X, const float **Y) {
  next_batch(tr);
  *X = tr->Xb;
  *Y = tr->Yb;
}

la_net_f *la_trainer_net(la_trainer *tr) {
  return &tr->net;
}

void la_trainer_tag(la_trainer *tr) {
  tr->tag = 1;
}

void la_trainer_update(la_trainer *tr) {
  apply_update(tr);
}

double la_trainer_step(la_trainer *tr) {
  double loss = compute_grad(tr);
  apply_update(tr);
  return loss;
}

double la_trainer_eval(la_trainer *tr) {
  const la_task *t = tr->task;
  double sum = 0;
  if (t->gpt)
    return la_gpt_eval_f(&tr->gpt, t->gpt, tr->cfg->n_eval, tr->tok, tr->tgt);
  for (int i0 = 0; i0 < t->n_eval; i0 += tr->net.n_max) {
    int m = t->n_eval - i0 < tr->net.n_max ? t->n_eval - i0 : tr->net.n_max;
    const float *X = t->X_eval + (size_t)i0 * t->dims[0];
    if (tr->ze)
      la_net_forward_shared_f(&tr->net, X, tr->ze + (size_t)i0 * t->dims[1], m);
    else
      la_net_forward_f(&tr->net, X, m);
    sum += la_net_loss_f(&tr->net, t->Y_eval + (size_t)i0 * t->y_dim, 0) * m;
  }
  return sum / t->n_eval;
}

void la_trainer_eval_frozen(const la_trainer *tr, float *ze) {
  const la_task *t = tr->task;
  int d0 = t->dims[0], d1 = t->dims[1];
  for (int i0 = 0; i0 < t->n_eval; i0 += tr->net.n_max) {
    int m = t->n_eval - i0 < tr->net.n_max ? t->n_eval - i0 : tr->net.n_max;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, d1, d0, 1,
                t->X_eval + (size_t)i0 * d0, d0, t->W0[0], d0, 0,
                ze + (size_t)i0 * d1, d1);
  }
}

void la_trainer_share_eval(la_trainer *tr, const float *ze) {
  tr->ze = ze;
}

/* ---- the run and its records ---- */

void la_put_error(FILE *f, int64_t run_id, const char *msg) {
  char clean[sizeof(la_err)];
  json_t *rec;
  snprintf(clean, sizeof clean, "%s", msg);
  la_utf8_sanitize(clean, strlen(clean));
  rec = json_pack("{s:s, s:s}", "type", "error", "error", clean);
  if (run_id >= 0) json_object_set_new(rec, "run_id", json_integer(run_id));
  json_dumpf(rec, f, JSON_COMPACT);
  json_decref(rec);
  fputc('\n', f);
  fflush(f);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Task gpt: the name of adapter k's module ("h.3.attn.c_attn") as field
 * key of rec ("module" of a start record's layer; "x_module", an extension
 * for the reader of the lines, in a spectra record). */
static void set_module(json_t *rec, const la_trainer *tr, int k,
                       const char *key) {
  char name[48];
  snprintf(name, sizeof name, "h.%d.%s", tr->blk[k], tr->mod[k]);
  json_object_set_new(rec, key, json_string(name));
}

/* Task gpt: the model's sizes, for the start record. */
static json_t *gpt_model_json(const la_trainer *tr) {
  const la_gpt_shape *sh = &tr->gpt.sh;
  return json_pack("{si,si,si,si,si,si,si}", "vocab", sh->V, "positions",
                   sh->maxT, "width", sh->C, "blocks", sh->L, "heads", sh->NH,
                   "context", tr->gpt.T, "base_params",
                   (int)la_gpt_param_count(sh));
}

/* The start record: effective config, shapes and sigma_max(W0) per layer
 * (per adapted module for task gpt). */
static void emit_start(la_trainer *tr, FILE *out) {
  const la_task *t = tr->task;
  json_t *rec = json_object(), *layers = json_array();
  json_object_set_new(rec, "type", json_string("start"));
  if (tr->cfg->run_id >= 0)
    json_object_set_new(rec, "run_id", json_integer(tr->cfg->run_id));
  json_object_set_new(rec, "config", la_config_to_json(tr->cfg));
  json_object_set_new(rec, "scale", la_json_num(tr->s));
  json_object_set_new(rec, "blas_core", json_string(la_blas_core()));
  json_object_set_new(rec, "params",
                      json_integer((json_int_t)(tr->n_a + tr->n_b)));
  json_object_set_new(rec, "n_train", json_integer(t->n_train));
  json_object_set_new(rec, "n_eval", json_integer(t->n_eval));
  if (t->gpt) { /* tokens, and the eval windows */
    json_object_set_new(rec, "n_train",
                        json_integer((json_int_t)t->gpt->n_train));
    json_object_set_new(rec, "n_eval",
                        json_integer((json_int_t)la_gpt_eval_windows(
                            t->gpt, tr->cfg->context, tr->cfg->n_eval)));
  }
  if (t->gpt) json_object_set_new(rec, "x_model", gpt_model_json(tr));
  for (int l = 0; l < tr->n_adp; l++) {
    json_t *ly = json_object();
    json_object_set_new(ly, "layer", json_integer(l));
    json_object_set_new(ly, "d_in", json_integer(tr->din[l]));
    json_object_set_new(ly, "d_out", json_integer(tr->dout[l]));
    json_object_set_new(/* gpt: W is (in, out), the same singular values */
                        ly, "sigma_max_w0",
                        la_json_num(t->gpt
                                        ? la_sigma_max_f(tr->W[l], tr->din[l],
                                                         tr->dout[l])
                                        : la_sigma_max_f(tr->W[l], tr->dout[l],
                                                         tr->din[l])));
    if (t->gpt) set_module(ly, tr, l, "module");
    if (t->has_target) {
      double t2 = 0;
      for (int i = 0; i < t->target_rank; i++)
        t2 += t->S[l][i] * t->S[l][i];
      json_object_set_new(ly, "target_norm", la_json_num(sqrt(t2)));
    }
    json_array_append_new(layers, ly);
  }
  json_object_set_new(rec, "layers", layers);
  emit(tr, out, rec);
}

/* A train record for update `step` (loss from before it). */
static void emit_train(la_trainer *tr, FILE *out, long step, double loss) {
  json_t *rec = json_object();
  json_object_set_new(rec, "type", json_string("train"));
  json_object_set_new(rec, "step", json_integer(step));
  json_object_set_new(rec, "loss", la_json_num(loss));
  json_object_set_new(rec, "lr", la_json_num(tr->lr_a));
  if (tr->cfg->loraplus_ratio != 1.0)
    json_object_set_new(rec, "lr_b", la_json_num(tr->lr_b));
  json_object_set_new(rec, "grad_norm_a",
                      la_json_num(la_norm_f(tr->grad, tr->n_a)));
  json_object_set_new(rec, "grad_norm_b",
                      la_json_num(la_norm_f(tr->grad + tr->n_a, tr->n_b)));
  json_object_set_new(rec, "update_norm", la_json_num(tr->update_norm));
  emit(tr, out, rec);
}

static void emit_eval(la_trainer *tr, FILE *out, double loss) {
  json_t *rec = json_object();
  json_object_set_new(rec, "type", json_string("eval"));
  json_object_set_new(rec, "step", json_integer(tr->step));
  json_object_set_new(rec, "loss", la_json_num(loss));
  emit(tr, out, rec);
}

/* One spectra record per layer. */
static int emit_spectra(la_trainer *tr, FILE *out) {
  const la_task *t = tr->task;
  int r = tr->cfg->rank, rc = 0;
  double *sv = malloc((size_t)r * sizeof *sv);
  size_t oa = 0;
  if (sv == NULL) return LA_ENOMEM;
  for (int l = 0; rc == 0 && l < tr->n_adp; l++) {
    la_spectra sp = {.sv = sv};
    int tg = t->has_target;
    rc = la_spectra_layer(tr->A[l], tr->B[l], tr->A0 + oa, tr->din[l],
                          tr->dout[l], r, tr->s, tg ? t->U[l] : NULL,
                          tg ? t->V[l] : NULL, tg ? t->S[l] : NULL,
                          t->target_rank, &sp);
    oa += (size_t)r * tr->din[l];
    if (rc) break;
    json_t *rec = json_object(), *arr = json_array();
    json_object_set_new(rec, "type", json_string("spectra"));
    json_object_set_new(rec, "step", json_integer(tr->step));
    json_object_set_new(rec, "layer", json_integer(l));
    if (t->gpt) set_module(rec, tr, l, "x_module");
    json_object_set_new(rec, "sigma_max", la_json_num(sp.sigma_max));
    json_object_set_new(rec, "fro", la_json_num(sp.fro));
    json_object_set_new(rec, "stable_rank", la_json_num(sp.stable_rank));
    for (int i = 0; i < r; i++)
      json_array_append_new(arr, la_json_num(sv[i]));
    json_object_set_new(rec, "sv", arr);
    if (sp.has_target) {
      json_object_set_new(rec, "signal", la_json_num(sp.signal));
      json_object_set_new(rec, "drift", la_json_num(sp.drift));
      json_object_set_new(rec, "drift_ratio", la_json_num(sp.drift_ratio));
      json_object_set_new(rec, "cos_target", la_json_num(sp.cos_target));
      json_object_set_new(rec, "rel_err", la_json_num(sp.rel_err));
    }
    json_object_set_new(rec, "tf_signal", la_json_num(sp.tf_signal));
    json_object_set_new(rec, "tf_drift", la_json_num(sp.tf_drift));
    json_object_set_new(rec, "mech_ratio", la_json_num(sp.mech_ratio));
    json_object_set_new(rec, "a_drift", la_json_num(sp.a_drift));
    emit(tr, out, rec);
  }
  free(sv);
  return rc;
}

/* One estimate's figures into rec as <name>, <name>_iters,
 * <name>_residual and <name>_converged. */
static void set_estimate(json_t *rec, const char *name, const la_eig_top *e) {
  char key[32];
  json_object_set_new(rec, name, la_json_num(e->lambda));
  snprintf(key, sizeof key, "%s_iters", name);
  json_object_set_new(rec, key, json_integer(e->iters));
  snprintf(key, sizeof key, "%s_residual", name);
  json_object_set_new(rec, key, la_json_num(e->residual));
  snprintf(key, sizeof key, "%s_converged", name);
  json_object_set_new(rec, key, json_boolean(e->converged));
}

/* The sharpness record of two estimates on rows rows. */
static void emit_sharp_rec(la_trainer *tr, FILE *out, const la_eig_top *el,
                           const la_eig_top *ef, int rows) {
  json_t *rec = json_object();
  json_object_set_new(rec, "type", json_string("sharpness"));
  json_object_set_new(rec, "step", json_integer(tr->step));
  set_estimate(rec, "lora", el);
  set_estimate(rec, "full", ef);
  json_object_set_new(
      rec, "ratio",
      la_json_num(ef->lambda != 0 ? el->lambda / ef->lambda : NAN));
  json_object_set_new(rec, "rows", json_integer(rows));
  emit(tr, out, rec);
}

/* Task gpt: sharpness on the first sharpness_batch training windows (rows
 * counts windows), w.r.t. the adapters and the adapted modules' full
 * weights. */
static int emit_gpt_sharpness(la_trainer *tr, FILE *out) {
  const la_config *c = tr->cfg;
  const la_gpt_data *d = tr->task->gpt;
  size_t avail = (d->n_train - 1) / (size_t)c->context;
  la_gpt_sharp_in in = {
      d,     tr->gpt.sh, c->context, c->rank, c->target_modules,
      tr->s, tr->theta,  0};
  uint64_t seed = c->seed ^ ((uint64_t)tr->step * 0x9E3779B97F4A7C15ULL);
  la_eig_top el, ef;
  int rc;
  in.n_win =
      (size_t)c->sharpness_batch < avail ? c->sharpness_batch : (int)avail;
  if ((rc = la_gpt_sharpness(&in, 0, c->sharpness_iters, c->sharpness_tol, seed,
                             &el)) ||
      (rc = la_gpt_sharpness(&in, 1, c->sharpness_iters, c->sharpness_tol, seed,
                             &ef)))
    return rc;
  emit_sharp_rec(tr, out, &el, &ef, in.n_win);
  return 0;
}

/* Sharpness w.r.t. the LoRA parameters and the full weights on the first
 * sharpness_batch training rows, and their ratio. */
static int emit_sharpness(la_trainer *tr, FILE *out) {
  const la_task *t = tr->task;
  const la_config *c = tr->cfg;
  int n = c->sharpness_batch < t->n_train ? c->sharpness_batch : t->n_train;
  la_eig_top el, ef;
  int rc;
  if (t->gpt) return emit_gpt_sharpness(tr, out);
  la_sharp_in in = {t->L,
                    t->dims,
                    c->rank,
                    c->activation,
                    c->loss,
                    tr->s,
                    (const float *const *)t->W0,
                    (const float *const *)tr->A,
                    (const float *const *)tr->B,
                    t->X_train,
                    t->Y_train,
                    n,
                    t->y_dim};
  uint64_t seed = c->seed ^ ((uint64_t)tr->step * 0x9E3779B97F4A7C15ULL);
  if ((rc = la_sharpness(&in, 0, c->sharpness_iters, c->sharpness_tol, seed,
                         &el)))
    return rc;
  if ((rc = la_sharpness(&in, 1, c->sharpness_iters, c->sharpness_tol, seed,
                         &ef)))
    return rc;
  emit_sharp_rec(tr, out, &el, &ef, n);
  return 0;
}

static void emit_done(la_trainer *tr, FILE *out, const run_state *st,
                      double wall) {
  json_t *rec = json_object();
  json_object_set_new(rec, "type", json_string("done"));
  json_object_set_new(rec, "status", json_string(st->status));
  if (st->reason) json_object_set_new(rec, "reason", json_string(st->reason));
  json_object_set_new(rec, "steps", json_integer(tr->step));
  json_object_set_new(rec, "final_train_loss", la_json_num(st->last_train));
  json_object_set_new(rec, "final_eval_loss", la_json_num(st->last_eval));
  json_object_set_new(rec, "best_eval_loss", la_json_num(st->best_eval));
  json_object_set_new(rec, "best_step", json_integer(st->best_step));
  json_object_set_new(rec, "wall_s", json_real(wall));
  json_object_set_new(rec, "steps_per_s",
                      json_real(wall > 0 ? tr->step / wall : 0));
  emit(tr, out, rec);
}

/* Is loss a divergence against its start value? Sets the reason. */
static int diverged(const la_trainer *tr, run_state *st, double loss,
                    double start) {
  if (!isfinite(loss)) {
    st->reason = "loss is not finite";
    return 1;
  }
  if (loss > tr->cfg->diverge_factor * start && start > 0) {
    st->reason = "loss grew past diverge_factor times its start";
    return 1;
  }
  return 0;
}

/* Evaluates, records the eval loss (a replayed step's is not sent) and
 * the best so far; 1 if diverged. */
static int do_eval(la_trainer *tr, FILE *out, run_state *st) {
  double e = la_trainer_eval(tr);
  if (sends(tr->cfg, tr->step)) emit_eval(tr, out, e);
  st->last_eval = e;
  if (tr->step == 0) st->eval0 = e;
  if (isfinite(e) && (e < st->best_eval || st->best_step < 0)) {
    st->best_eval = e;
    st->best_step = tr->step;
  }
  return diverged(tr, st, e, st->eval0);
}

static int every(long k, int n) {
  return n > 0 && k % n == 0;
}

/* The records after the update of a step whose loss (before the update)
 * is loss and whose gradient is in tr->grad; 1 when the run diverged. A
 * replayed step (resume_at) sends nothing; it still evaluates, for the
 * done record's best eval loss, but measures no spectra or sharpness
 * (neither changes training: sharpness draws from its own seeded stream). */
static int after_grad(la_trainer *tr, FILE *out, run_state *st, double loss,
                      int *rc) {
  const la_config *c = tr->cfg;
  int last;
  if (tr->step == 0) st->train0 = loss;
  st->last_train = loss;
  if (diverged(tr, st, loss, st->train0)) { /* reported, never applied */
    tr->lr_a = tr->lr_b = tr->update_norm = NAN;
    if (sends(c, tr->step + 1)) emit_train(tr, out, tr->step + 1, loss);
    return 1;
  }
  apply_update(tr);
  last = tr->step == end_step(c);
  if (sends(c, tr->step) && (every(tr->step, c->log_every) || last))
    emit_train(tr, out, tr->step, loss);
  if ((every(tr->step, c->eval_every) || last) && do_eval(tr, out, st))
    return 1;
  if (!sends(c, tr->step)) return 0;
  if ((every(tr->step, c->spectra_every) || last) &&
      (*rc = emit_spectra(tr, out)))
    return 0;
  if (c->sharpness && (every(tr->step, c->sharpness_every) || last))
    *rc = emit_sharpness(tr, out);
  return 0;
}

/* A failure of the metrics at tr's step, in words. */
static int metrics_failed(const la_trainer *tr, int rc, la_err *err) {
  return la_errf(err, rc, "metrics failed at step %ld: %s", tr->step,
                 la_strerror(rc));
}

int la_trainer_begin(la_trainer *tr, FILE *out, la_err *err) {
  run_state *st = &tr->st;
  int rc = 0;
  *st = (run_state){NAN, NAN, NAN, NAN, INFINITY, -1, "done", NULL, now_s(), 0};
  emit_start(tr, out);
  if (do_eval(tr, out, st)) st->status = "diverged";
  if (st->reason == NULL && tr->cfg->sharpness && sends(tr->cfg, 0))
    rc = emit_sharpness(tr, out);
  st->over = st->reason != NULL || tr->step >= end_step(tr->cfg);
  return rc ? metrics_failed(tr, rc, err) : 0;
}

int la_trainer_advance(la_trainer *tr, FILE *out, double loss, la_err *err) {
  run_state *st = &tr->st;
  int rc = 0;
  if (after_grad(tr, out, st, loss, &rc)) st->status = "diverged";
  st->over = st->reason != NULL || tr->step >= end_step(tr->cfg);
  return rc ? metrics_failed(tr, rc, err) : 0;
}

int la_trainer_over(const la_trainer *tr) {
  return tr->st.over;
}

void la_trainer_finish(la_trainer *tr, FILE *out) {
  emit_done(tr, out, &tr->st, now_s() - tr->st.t0);
}

int la_trainer_run(la_trainer *tr, FILE *out, la_err *err) {
  int rc = la_trainer_begin(tr, out, err);
  while (rc == 0 && !la_trainer_over(tr))
    rc = la_trainer_advance(tr, out, compute_grad(tr), err);
  if (rc) return rc;
  la_trainer_finish(tr, out);
  return 0;
}

int la_trainer_save_gpt(const la_trainer *tr, const char *path, la_err *err) {
  const la_gpt_shape *sh = &tr->gpt.sh;
  la_st_out *out;
  char(*names)[48];
  const float *p = tr->theta;
  json_t *meta;
  int n = 0, rc;
  if (!tr->cfg->pretrain || tr->task->gpt == NULL)
    return la_errf(err, LA_EINVAL, "pretrain: not a pretraining run");
  for (size_t i = 0; i < tr->n_a; i++)
    if (!isfinite(tr->theta[i]))
      return la_errf(err, LA_EINVAL,
                     "%s: not written: the weights are not finite (the run "
                     "diverged)",
                     path);
  out = calloc((size_t)LA_GPT_N_TENSORS * sh->L, sizeof *out);
  names = calloc((size_t)LA_GPT_N_TENSORS * sh->L, sizeof *names);
  meta = json_pack("{ss,ss,s:o}", "format", "pt", "loralpha", "pretrain",
                   "steps", json_sprintf("%ld", tr->step));
  if (out == NULL || names == NULL || meta == NULL) {
    rc = la_errf(err, LA_ENOMEM, "%s: out of memory", path);
    goto cleanup;
  }
  for (int k = 0; k < LA_GPT_N_TENSORS; k++)
    for (int l = 0; l < (la_gpt_tensor_per_layer(k) ? sh->L : 1); l++, n++) {
      la_gpt_tensor_name(k, l, names[n], sizeof names[n]);
      out[n].name = names[n];
      out[n].ndim = la_gpt_tensor_shape(sh, k, out[n].shape);
      out[n].data = p;
      p += out[n].shape[0] * (out[n].ndim == 2 ? out[n].shape[1] : 1);
    }
  rc = la_st_save(path, out, n, meta, err);
cleanup:
  json_decref(meta);
  free(out);
  free(names);
  return rc;
}
