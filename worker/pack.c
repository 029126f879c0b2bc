/* pack.c: a pack of variants trained in one pass (see pack.h). */
#include "pack.h"

#include "train.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define NT CblasNoTrans
#define TR CblasTrans
#define RM CblasRowMajor

/* ---- the packed pass ---- */

struct la_pack {
  int K;             /* runs */
  la_config *cfg;    /* (K) owned; the trainers borrow them */
  const la_task *t;  /* borrowed */
  la_trainer **tr;   /* (K); tr[0] also gathers every step's batch */
  la_net_f **net;    /* (K) each trainer's net (borrowed) */
  int *live, n_live; /* indices of the runs still training */
  double *loss;      /* (K) this step's batch loss per run */
  int n, r;          /* batch rows, rank */
  int stack;         /* 1: adapters and deeper layers stacked (see pack.h) */
  float *mem;        /* the workspace below, one allocation */
  float *ze;         /* (n_eval, d1) X_eval W0_0^T, shared, or NULL */
  float *z0;         /* (n, d1) X W0_0^T, shared; the rest is stacked only */
  float *a0, *ga0;   /* (K r, d0) the live runs' A_0 and its gradient */
  float *u0, *gu0;   /* (n, K r) X a0^T and its gradient */
  float *z[LA_MAX_LAYERS];   /* (K n, d_{l+1}) stacked pre-activations */
  float *h[LA_MAX_LAYERS];   /* (K n, d_l), l >= 1, stacked inputs */
  float *u[LA_MAX_LAYERS];   /* (K n, r), l >= 1 */
  float *cdf[LA_MAX_LAYERS]; /* (K n, d_{l+1}) gelu only */
  float *gz, *gh;            /* (K n, max d) */
  float *gu;                 /* (K n, r) */
  la_net_f view;             /* the loss of one run's slice */
};

/* Whether p's runs evaluate from one shared frozen product ze: with more
 * than one run, and when ze is no larger than the eval split (X_eval,
 * Y_eval), which the pack's memory estimate counts once per run though
 * the pack holds it once (packing.h), so ze stays within the estimate
 * (not task npy, whose estimate leaves its data out). */
static int share_eval(const la_pack *p) {
  const la_task *t = p->t;
  return p->K > 1 && p->cfg[0].task != LA_TASK_NPY &&
         t->dims[1] <= t->dims[0] + t->y_dim;
}

/* Floats of the workspace of p (with base != NULL, also lays it out
 * there). */
static size_t layout(la_pack *p, float *base) {
  const la_task *t = p->t;
  size_t K = (size_t)p->K, n = (size_t)p->n, r = (size_t)p->r, dmax = 0;
  size_t off = 0;
  int gelu = p->cfg[0].activation == LA_ACT_GELU;
#define TAKE(ptr, count)                                                       \
  do {                                                                         \
    if (base) (ptr) = base + off;                                              \
    off += (count);                                                            \
  } while (0)
  for (int l = 0; l <= t->L; l++)
    dmax = (size_t)t->dims[l] > dmax ? (size_t)t->dims[l] : dmax;
  if (share_eval(p)) TAKE(p->ze, (size_t)t->n_eval * t->dims[1]);
  TAKE(p->z0, n * t->dims[1]);
  if (!p->stack) return off; /* exact: each run works in its own net */
  TAKE(p->a0, K * r * t->dims[0]);
  TAKE(p->ga0, K * r * t->dims[0]);
  TAKE(p->u0, n * K * r);
  TAKE(p->gu0, n * K * r);
  for (int l = 0; l < t->L; l++) {
    TAKE(p->z[l], K * n * t->dims[l + 1]);
    if (l > 0) TAKE(p->h[l], K * n * t->dims[l]);
    if (l > 0) TAKE(p->u[l], K * n * r);
    if (gelu && l + 1 < t->L) TAKE(p->cdf[l], K * n * t->dims[l + 1]);
  }
  TAKE(p->gz, K * n * dmax);
  TAKE(p->gh, K * n * dmax);
  TAKE(p->gu, K * n * r);
#undef TAKE
  return off;
}

/* Makes the trainers, one per config, each tagging its records and
 * evaluating from the shared ze; exact, their nets share the first one's
 * workspace (they compute one after another, grads_exact). */
static int make_trainers(la_pack *p, la_err *err) {
  int rc;
  for (int k = 0; k < p->K; k++) {
    if ((rc = la_trainer_new(&p->cfg[k], p->t, &p->tr[k], err))) return rc;
    la_trainer_tag(p->tr[k]);
    p->net[k] = la_trainer_net(p->tr[k]);
    if (k > 0 && !p->stack) la_net_share_workspace_f(p->net[k], p->net[0]);
    if (k == 0 && p->ze) la_trainer_eval_frozen(p->tr[0], p->ze);
    if (p->ze) la_trainer_share_eval(p->tr[k], p->ze);
  }
  return 0;
}

int la_pack_new(const la_config *cfgs, int n, const la_task *task, int stack,
                la_pack **out, la_err *err) {
  la_pack *p = calloc(1, sizeof *p);
  int rc = LA_ENOMEM;
  *out = NULL;
  if (p == NULL) return la_errf(err, LA_ENOMEM, "pack: out of memory");
  p->K = n, p->t = task, p->n = cfgs[0].batch, p->r = cfgs[0].rank;
  p->stack = stack;
  p->cfg = malloc((size_t)n * sizeof *p->cfg);
  p->tr = calloc((size_t)n, sizeof *p->tr);
  p->net = calloc((size_t)n, sizeof *p->net);
  p->live = calloc((size_t)n, sizeof *p->live);
  p->loss = calloc((size_t)n, sizeof *p->loss);
  if (p->cfg && p->tr && p->net && p->live && p->loss) {
    memcpy(p->cfg, cfgs, (size_t)n * sizeof *cfgs);
    p->mem = malloc(layout(p, NULL) * sizeof(float));
  }
  if (p->mem == NULL) goto fail;
  layout(p, p->mem);
  if ((rc = make_trainers(p, err))) goto fail;
  p->view.L = task->L;
  memcpy(p->view.dims, task->dims, sizeof p->view.dims);
  p->view.loss = cfgs[0].loss;
  p->view.n_last = p->n;
  for (int k = 0; k < n; k++)
    p->live[k] = k;
  p->n_live = n;
  *out = p;
  return 0;
fail:
  la_pack_free(p);
  if (rc == LA_ENOMEM)
    la_errf(err, rc, "pack: could not allocate the buffers of %d runs", n);
  return rc;
}

void la_pack_free(la_pack *p) {
  if (p == NULL) return;
  for (int k = 0; p->tr && k < p->K; k++)
    la_trainer_free(p->tr[k]);
  free(p->cfg), free(p->tr), free(p->net), free(p->live), free(p->loss);
  free(p->mem);
  free(p);
}

/* The stacked first layer forward for every live run, after the frozen
 * product z0: the adapters' products in one GEMM, then per run z_j = X
 * W0^T + s_j u_j B_j^T. */
static void forward_first(la_pack *p, const float *X) {
  int n = p->n, r = p->r, Kr = p->n_live * r;
  int d0 = p->t->dims[0], d1 = p->t->dims[1];
  for (int j = 0; j < p->n_live; j++)
    memcpy(p->a0 + (size_t)j * r * d0, p->net[p->live[j]]->A[0],
           (size_t)r * d0 * sizeof(float));
  cblas_sgemm(RM, NT, TR, n, Kr, d0, 1, X, d0, p->a0, d0, 0, p->u0, Kr);
  for (int j = 0; j < p->n_live; j++) {
    const la_net_f *net = p->net[p->live[j]];
    float *zj = p->z[0] + (size_t)j * n * d1;
    memcpy(zj, p->z0, (size_t)n * d1 * sizeof(float));
    cblas_sgemm(RM, NT, TR, n, d1, r, net->s, p->u0 + (size_t)j * r, Kr,
                net->B[0], r, 1, zj, d1);
  }
}

/* Stacked layer l >= 1 forward: the live runs' inputs against W0_l in one
 * GEMM, then each run's adapter. */
static void forward_deep(la_pack *p, int l) {
  int n = p->n, r = p->r, Kn = p->n_live * n;
  int din = p->t->dims[l], dout = p->t->dims[l + 1];
  cblas_sgemm(RM, NT, TR, Kn, dout, din, 1, p->h[l], din, p->t->W0[l], din, 0,
              p->z[l], dout);
  for (int j = 0; j < p->n_live; j++) {
    const la_net_f *net = p->net[p->live[j]];
    float *uj = p->u[l] + (size_t)j * n * r;
    cblas_sgemm(RM, NT, TR, n, r, din, 1, p->h[l] + (size_t)j * n * din, din,
                net->A[l], din, 0, uj, r);
    cblas_sgemm(RM, NT, TR, n, dout, r, net->s, uj, r, net->B[l], r, 1,
                p->z[l] + (size_t)j * n * dout, dout);
  }
}

/* Every live run's loss on Y into p->loss, and its output gradient into
 * its slice of gz. */
static void losses(la_pack *p, const float *Y) {
  int L = p->t->L, dL = p->t->dims[L];
  for (int j = 0; j < p->n_live; j++) {
    p->view.z[L - 1] = p->z[L - 1] + (size_t)j * p->n * dL;
    p->view.gz = p->gz + (size_t)j * p->n * dL;
    p->loss[p->live[j]] = la_net_loss_f(&p->view, Y, 1);
  }
}

/* Stacked layer l >= 1 backward from gz: each run's gB, gu, gA; the input
 * gradient of all runs through W0_l in one GEMM, plus each run's adapter
 * part, into gh; then the activation's derivative. */
static void backward_deep(la_pack *p, int l) {
  int n = p->n, r = p->r, Kn = p->n_live * n;
  int din = p->t->dims[l], dout = p->t->dims[l + 1];
  for (int j = 0; j < p->n_live; j++) {
    la_net_f *net = p->net[p->live[j]];
    const float *gzj = p->gz + (size_t)j * n * dout;
    float *guj = p->gu + (size_t)j * n * r;
    cblas_sgemm(RM, TR, NT, dout, r, n, net->s, gzj, dout,
                p->u[l] + (size_t)j * n * r, r, 0, net->gB[l], r);
    cblas_sgemm(RM, NT, NT, n, r, dout, net->s, gzj, dout, net->B[l], r, 0, guj,
                r);
    cblas_sgemm(RM, TR, NT, r, din, n, 1, guj, r, p->h[l] + (size_t)j * n * din,
                din, 0, net->gA[l], din);
  }
  cblas_sgemm(RM, NT, NT, Kn, din, dout, 1, p->gz, dout, p->t->W0[l], din, 0,
              p->gh, din);
  for (int j = 0; j < p->n_live; j++) {
    cblas_sgemm(RM, NT, NT, n, din, r, 1, p->gu + (size_t)j * n * r, r,
                p->net[p->live[j]]->A[l], din, 1, p->gh + (size_t)j * n * din,
                din);
  }
  la_act_backward_f(p->cfg[0].activation, p->z[l - 1], p->h[l], p->cdf[l - 1],
                    p->gh, (size_t)Kn * din);
}

/* The stacked first layer backward from gz: each run's gB and gu, then
 * every run's gA in one GEMM. */
static void backward_first(la_pack *p, const float *X) {
  int n = p->n, r = p->r, Kr = p->n_live * r;
  int d0 = p->t->dims[0], d1 = p->t->dims[1];
  for (int j = 0; j < p->n_live; j++) {
    la_net_f *net = p->net[p->live[j]];
    const float *gzj = p->gz + (size_t)j * n * d1;
    cblas_sgemm(RM, TR, NT, d1, r, n, net->s, gzj, d1, p->u0 + (size_t)j * r,
                Kr, 0, net->gB[0], r);
    cblas_sgemm(RM, NT, NT, n, r, d1, net->s, gzj, d1, net->B[0], r, 0,
                p->gu0 + (size_t)j * r, Kr);
  }
  cblas_sgemm(RM, TR, NT, Kr, d0, n, 1, p->gu0, Kr, X, d0, 0, p->ga0, d0);
  for (int j = 0; j < p->n_live; j++)
    memcpy(p->net[p->live[j]]->gA[0], p->ga0 + (size_t)j * r * d0,
           (size_t)r * d0 * sizeof(float));
}

/* Exact: each live run's forward, loss and backward in its own net, as
 * the run alone computes them but for the shared z0; one run after
 * another, so that its backward finds its activations still in cache. */
static void grads_exact(la_pack *p, const float *X, const float *Y) {
  for (int j = 0; j < p->n_live; j++) {
    la_net_f *net = p->net[p->live[j]];
    la_net_forward_shared_f(net, X, p->z0, p->n);
    p->loss[p->live[j]] = la_net_loss_f(net, Y, 1);
    la_net_backward_f(net);
  }
}

/* Forward, losses and backward of every live run on the next batch: each
 * run's gradient in its trainer, its loss in p->loss. */
static void grads(la_pack *p) {
  const float *X, *Y;
  int L = p->t->L, Kn = p->n_live * p->n;
  int d0 = p->t->dims[0], d1 = p->t->dims[1];
  la_act act = p->cfg[0].activation;
  la_trainer_next_batch(p->tr[0], &X, &Y);
  cblas_sgemm(RM, NT, TR, p->n, d1, d0, 1, X, d0, p->t->W0[0], d0, 0, p->z0,
              d1);
  if (!p->stack) {
    grads_exact(p, X, Y);
    return;
  }
  forward_first(p, X);
  for (int l = 1; l < L; l++) {
    la_act_forward_f(act, p->z[l - 1], p->h[l], p->cdf[l - 1],
                     (size_t)Kn * p->t->dims[l]);
    forward_deep(p, l);
  }
  losses(p, Y);
  for (int l = L - 1; l >= 1; l--) {
    float *t;
    backward_deep(p, l);
    t = p->gz, p->gz = p->gh, p->gh = t; /* the input gradient is next */
  }
  backward_first(p, X);
}

/* Keeps in the live list only the runs that are still training. */
static void drop_ended(la_pack *p, const int *ended) {
  int m = 0;
  for (int j = 0; j < p->n_live; j++)
    if (!ended[p->live[j]]) p->live[m++] = p->live[j];
  p->n_live = m;
}

double la_pack_step(la_pack *p) {
  grads(p);
  for (int j = 0; j < p->n_live; j++)
    la_trainer_update(p->tr[p->live[j]]);
  return p->n_live > 0 ? p->loss[p->live[0]] : 0;
}

/* Ends run k: done, or its error record when rc says its metrics failed. */
static void end_run(la_pack *p, int k, int rc, const la_err *err, FILE *out,
                    int *ended) {
  if (rc)
    la_put_error(out, p->cfg[k].run_id, err->msg);
  else
    la_trainer_finish(p->tr[k], out);
  ended[k] = 1;
}

int la_pack_run(la_pack *p, FILE *out) {
  int ended[LA_PACK_MAX] = {0};
  la_err err = {{0}};
  p->n_live = 0;
  for (int k = 0; k < p->K; k++) {
    int rc = la_trainer_begin(p->tr[k], out, &err);
    if (rc || la_trainer_over(p->tr[k]))
      end_run(p, k, rc, &err, out, ended);
    else
      p->live[p->n_live++] = k;
  }
  while (p->n_live > 0) {
    grads(p);
    for (int j = 0; j < p->n_live; j++) {
      int k = p->live[j];
      int rc = la_trainer_advance(p->tr[k], out, p->loss[k], &err);
      if (rc || la_trainer_over(p->tr[k])) end_run(p, k, rc, &err, out, ended);
    }
    drop_ended(p, ended);
  }
  return 0;
}

/* ---- the serve request ---- */

/* Fails every run of configs[0..n) with msg. */
static void fail_all(const la_config *cfgs, int n, const char *msg, FILE *out) {
  for (int i = 0; i < n; i++)
    la_put_error(out, cfgs[i].run_id, msg);
}

/* Parses every config of the request: a config that fails gets its error
 * record (its run_id from the raw config). The configs that parsed are
 * gathered at the front of raw and cfgs; their count. */
static int parse_all(const json_t **raw, la_config *cfgs, int n, FILE *out) {
  la_err err = {{0}};
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (la_config_parse(raw[i], &cfgs[m], &err)) {
      la_put_error(out, json_integer_value(json_object_get(raw[i], "run_id")),
                   err.msg);
      continue;
    }
    raw[m++] = raw[i];
  }
  return m;
}

/* The task of every config (each filled by it as la_task_build fills it):
 * the first builds or reuses the kept one, the others reuse it. */
static int task_all(la_config *cfgs, int n, la_task_cache *tc,
                    const la_task **task, la_err *err) {
  int hit, rc = 0;
  for (int i = 0; rc == 0 && i < n; i++)
    rc = la_task_cache_get(tc, &cfgs[i], task, &hit, err);
  return rc;
}

/* The request's "stack" member: 0 or 1 into *stack, or LA_EINVAL. */
static int request_stack(const json_t *req, int *stack, la_err *err) {
  const json_t *v = json_object_get(req, "stack");
  size_t members = 2 + (v != NULL);
  *stack = json_is_true(v);
  if (v != NULL && !json_is_boolean(v))
    return la_errf(err, LA_EINVAL, "request: stack: must be true or false");
  if (json_object_size(req) != members || !json_object_get(req, "configs"))
    return la_errf(err, LA_EINVAL,
                   "request: must be {\"type\":\"pack\",\"configs\":"
                   "[{...}, ...]} with an optional \"stack\": true|false");
  return 0;
}

void la_pack_serve(const json_t *req, la_task_cache *tc, FILE *out) {
  const json_t *raw[LA_PACK_MAX], *configs = json_object_get(req, "configs");
  la_config *cfgs = NULL;
  int n = (int)json_array_size(configs), m, rc, stack;
  const la_task *task;
  la_pack *p = NULL;
  la_err err = {{0}};
  if (request_stack(req, &stack, &err)) {
    la_put_error(out, -1, err.msg);
    return;
  }
  if (!json_is_array(configs) || n < 1 || n > LA_PACK_MAX) {
    la_errf(&err, LA_EINVAL,
            "request: configs: must be an array of 1..%d config objects",
            LA_PACK_MAX);
    la_put_error(out, -1, err.msg);
    return;
  }
  for (int i = 0; i < n; i++)
    if (!json_is_object(raw[i] = json_array_get(configs, (size_t)i))) {
      la_errf(&err, LA_EINVAL, "configs[%d]: must be an object", i);
      la_put_error(out, -1, err.msg);
      return;
    }
  if (la_pack_check_run_ids(raw, n, &err) == 0 &&
      (cfgs = malloc((size_t)n * sizeof *cfgs)) == NULL)
    la_errf(&err, LA_ENOMEM, "pack: out of memory");
  if (cfgs == NULL) {
    la_put_error(out, -1, err.msg);
    return;
  }
  m = parse_all(raw, cfgs, n, out);
  rc = m == 0 ? 0 : la_pack_check(raw, cfgs, m, &err);
  if (rc == 0 && m > 0) {
    openblas_set_num_threads(cfgs[0].threads);
    rc = task_all(cfgs, m, tc, &task, &err);
  }
  if (rc == 0 && m > 0) rc = la_pack_new(cfgs, m, task, stack, &p, &err);
  if (rc)
    fail_all(cfgs, m, err.msg, out);
  else if (p != NULL)
    la_pack_run(p, out);
  fflush(out);
  la_pack_free(p);
  free(cfgs);
}
