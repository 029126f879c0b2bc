/* resources.c: a run's memory and rows from its config (see resources.h). */
#include "loralpha/resources.h"

#define F4 4.0           /* bytes of a float */
#define F8 8.0           /* bytes of a double */
#define EVAL_CHUNK 1024  /* train.c: rows per eval forward */
#define LABEL_CHUNK 1024 /* task.c: rows per labelling forward */

/* The parts of the estimate, each with the field that drives it. */
enum { P_WEIGHTS, P_TARGET, P_DATA, P_ADAPTERS, P_WORK, P_PASS, N_PARTS };

/* Shapes the estimate needs, from the config. */
typedef struct shape {
  int L, dims[LA_MAX_LAYERS + 1], ydim, act_mul;
  double nw0, dmax, act_cols; /* sum din*dout, widest, sum act_mul*dout */
} shape;

/* Whether c's sizes come from its files (tasks npy and gpt). */
static int from_files(const la_config *c) {
  return c->task == LA_TASK_NPY || c->task == LA_TASK_GPT;
}

static void get_shape(const la_config *c, shape *s) {
  s->L = from_files(c) ? 0 : c->n_layers;
  s->act_mul = c->activation == LA_ACT_GELU ? 3 : 2;
  s->nw0 = s->dmax = s->act_cols = 0;
  for (int l = 0; l <= s->L; l++) {
    s->dims[l] = c->widths[l];
    if (s->dims[l] > s->dmax) s->dmax = s->dims[l];
  }
  for (int l = 0; l < s->L; l++) {
    s->nw0 += (double)s->dims[l] * s->dims[l + 1];
    s->act_cols += (double)s->act_mul * s->dims[l + 1];
  }
  s->ydim = c->loss == LA_LOSS_CE || s->L == 0 ? 1 : s->dims[s->L];
}

/* la_net_init's workspace for n rows (r 0: full mode), in elements. */
static double net_work(const shape *s, double n, int r) {
  return n * (s->act_cols + (double)s->L * r + 2 * s->dmax + r);
}

int la_sharpness_keeps_basis(int iters, double n) {
  double k = iters < n ? iters : n;
  return k * n * F8 <= (double)LA_SHARPNESS_BASIS_MAX;
}

/* The largest buffers that live only for a while: making the labels
 * (task.c), sharpness (metrics.c: theta, work, g1, g2, W0, v, w as doubles,
 * in full mode over every weight, and Lanczos' basis of sharpness_iters
 * such vectors while it fits LA_SHARPNESS_BASIS_MAX, else two, linalg.c; the
 * batch and a double net), one layer's spectra. *why is the part whose field
 * drives it. */
static double passing(const la_config *c, const shape *s, double np, int *why) {
  double d0 = s->L ? s->dims[0] : 0, best = 0, sh, sp, full, rows;
  double ns = c->sharpness_batch < c->n_train ? c->sharpness_batch : c->n_train;
  *why = P_WEIGHTS;
  if (!from_files(c)) best = F4 * (s->nw0 + net_work(s, LABEL_CHUNK, 0));
  if (c->sharpness) {
    double nmax = s->nw0 > np ? s->nw0 : np;
    double basis = c->sharpness_iters < nmax ? c->sharpness_iters : nmax;
    if (!la_sharpness_keeps_basis(c->sharpness_iters, nmax)) basis = 2;
    full = F8 * (7 + basis) * nmax;
    rows = F8 * (ns * (d0 + s->ydim) + net_work(s, ns, c->rank));
    if ((sh = full + rows) > best)
      best = sh, *why = rows > full ? P_PASS : P_WEIGHTS;
  }
  for (int l = 0; l < s->L; l++) {
    double din = s->dims[l], dout = s->dims[l + 1];
    double kk = c->target_rank > c->rank ? c->target_rank : c->rank;
    double na = (double)c->rank * din, nb = dout * c->rank;
    sp =
        F8 * (3 * (na + nb) + 4 * kk * kk + 2 * kk * (din > dout ? din : dout));
    if (sp > best) best = sp, *why = P_ADAPTERS;
  }
  return best;
}

/* The config field behind part i (the widths: d_in for task teacher). */
static const char *part_field(const la_config *c, int i) {
  static const char *const names[N_PARTS] = {
      "widths", "target_rank", "n_train", "rank", "batch", "sharpness_batch"};
  if (i == P_WEIGHTS && c->task == LA_TASK_TEACHER) return "d_in";
  if (i == P_WEIGHTS && c->task == LA_TASK_NPY) return "npy.w0";
  if (i == P_WEIGHTS && c->task == LA_TASK_GPT) return "gpt.base";
  return names[i];
}

void la_config_memory(const la_config *c, la_mem_estimate *out) {
  shape s;
  double part[N_PARTS] = {0}, na = 0, nb = 0, np, total = LA_MEM_BASE;
  double nmax = c->batch > EVAL_CHUNK ? c->batch : EVAL_CHUNK;
  int big = 0, npy = from_files(c), why = P_WEIGHTS;
  get_shape(c, &s);
  for (int l = 0; l < s.L; l++) {
    na += (double)c->rank * s.dims[l];
    nb += (double)s.dims[l + 1] * c->rank;
  }
  np = na + nb;
  part[P_WEIGHTS] = F4 * s.nw0;
  for (int l = 0; !npy && l < s.L; l++)
    part[P_TARGET] += F8 * (s.dims[l] + s.dims[l + 1] + 1.0) * c->target_rank;
  if (!npy)
    part[P_DATA] =
        F4 * ((double)c->n_train + c->n_eval) * (s.dims[0] + s.ydim) +
        4.0 * c->n_train;
  part[P_ADAPTERS] = F4 * (np * (c->optimizer == LA_OPT_ADAMW ? 4 : 3) + na);
  part[P_WORK] = F4 * (net_work(&s, nmax, c->rank) +
                       (double)c->batch * ((s.L ? s.dims[0] : 0) + s.ydim));
  part[P_PASS] = passing(c, &s, np, &why);
  for (int i = 0; i < N_PARTS; i++) {
    total += part[i];
    if (part[i] > part[big]) big = i;
  }
  out->bytes = total < 1.8e19 ? (uint64_t)total : UINT64_MAX;
  out->field = part_field(c, big);
  if (big == P_PASS) out->field = part_field(c, why);
  out->known = !npy;
}

uint64_t la_mem_slack(int threads) {
  return (uint64_t)(threads > 0 ? threads + 1 : 2) * LA_MEM_BLAS_BUFFER +
         LA_MEM_MARGIN;
}

/* Records of one kind every `every` steps over steps, with the first and
 * the last (0 for a kind that is off). */
static double logged(int steps, int every) {
  return every > 0 ? (double)steps / every + 2 : 0;
}

uint64_t la_config_rows(const la_config *c, const char **field) {
  int layers = c->task == LA_TASK_NPY   ? LA_MAX_LAYERS
               : c->task == LA_TASK_GPT ? LA_GPT_MAX_LAYERS * LA_GPT_N_MODULES
                                        : c->n_layers;
  double train = logged(c->steps, c->log_every);
  double eval = logged(c->steps, c->eval_every);
  double spectra = 2.0 * layers * logged(c->steps, c->spectra_every);
  double sharp = c->sharpness ? logged(c->steps, c->sharpness_every) + 2 : 0;
  double rows = train + eval + spectra + sharp;
  if (field)
    *field = spectra > train && spectra > eval ? "spectra_every"
             : eval > train                    ? "eval_every"
                                               : "log_every";
  return rows < 1.8e19 ? (uint64_t)rows : UINT64_MAX;
}
