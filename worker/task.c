/* task.c: synthetic tasks and .npy tasks (see task.h). */
#include "task.h"

#include "linalg.h"
#include "loralpha/npy.h"
#include "loralpha/rng.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LABEL_CHUNK 1024

static float *alloc_f(size_t n) {
  return malloc((n ? n : 1) * sizeof(float));
}

/* W0 with N(0, gain2 / d_in) entries. */
static int make_base(la_rng *rng, float *W, int dout, int din, double gain2) {
  double sd = sqrt(gain2 / din);
  for (size_t i = 0; i < (size_t)dout * din; i++)
    W[i] = (float)(sd * la_rng_normal(rng));
  return 0;
}

/* The true shift of layer l: orthonormal U, V and sigma_i. */
static int make_target(la_config *c, la_task *t, la_rng *rng, int l) {
  int k = c->target_rank, din = t->dims[l], dout = t->dims[l + 1], rc;
  t->U[l] = malloc((size_t)dout * k * sizeof(double));
  t->V[l] = malloc((size_t)din * k * sizeof(double));
  t->S[l] = malloc((size_t)k * sizeof(double));
  if (!t->U[l] || !t->V[l] || !t->S[l]) return LA_ENOMEM;
  if ((rc = la_orthonormal(rng, dout, k, t->U[l]))) return rc;
  if ((rc = la_orthonormal(rng, din, k, t->V[l]))) return rc;
  for (int i = 0; i < k; i++)
    t->S[l][i] = c->target_scale * pow(i + 1.0, -c->target_decay);
  return 0;
}

/* Inputs x_j ~ N(0, (j+1)^-decay), n rows. */
static void make_inputs(la_rng *rng, float *X, int n, int d, double decay) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++)
      X[(size_t)i * d + j] =
          (float)(la_rng_normal(rng) * sqrt(pow(j + 1.0, -decay)));
}

/* W = W0 + U diag(S) V^T as float, for the target network. */
static float *target_weight(const la_task *t, int l) {
  int din = t->dims[l], dout = t->dims[l + 1], k = t->target_rank;
  float *W = alloc_f((size_t)dout * din);
  if (W == NULL) return NULL;
  for (int i = 0; i < dout; i++)
    for (int j = 0; j < din; j++) {
      double s = 0;
      for (int q = 0; q < k; q++)
        s += t->U[l][(size_t)i * k + q] * t->S[l][q] *
             t->V[l][(size_t)j * k + q];
      W[(size_t)i * din + j] = t->W0[l][(size_t)i * din + j] + (float)s;
    }
  return W;
}

/* Labels of n rows X from the target network: outputs plus noise (mse) or
 * the argmax class (ce). */
static void label_rows(la_net_f *net, const la_config *c, la_rng *rng,
                       const float *X, float *Y, int n) {
  int dl = net->dims[net->L];
  for (int i0 = 0; i0 < n; i0 += LABEL_CHUNK) {
    int m = n - i0 < LABEL_CHUNK ? n - i0 : LABEL_CHUNK;
    const float *out = la_net_forward_f(net, X + (size_t)i0 * net->dims[0], m);
    for (int i = 0; i < m; i++) {
      const float *o = out + (size_t)i * dl;
      if (c->loss == LA_LOSS_CE) {
        int best = 0;
        for (int j = 1; j < dl; j++)
          best = o[j] > o[best] ? j : best;
        Y[i0 + i] = (float)best;
      } else {
        for (int j = 0; j < dl; j++)
          Y[(size_t)(i0 + i) * dl + j] =
              o[j] + (float)(c->noise > 0 ? c->noise * la_rng_normal(rng) : 0);
      }
    }
  }
}

/* Runs the target network over both splits to make the labels. */
static int make_labels(la_config *c, la_task *t, la_rng *rng) {
  la_net_f net;
  float *W[LA_MAX_LAYERS] = {0};
  int rc = la_net_init_f(&net, t->L, t->dims, 0, LABEL_CHUNK, c->activation,
                         c->loss, 0, 1);
  for (int l = 0; rc == 0 && l < t->L; l++) {
    if ((W[l] = target_weight(t, l)) == NULL) rc = LA_ENOMEM;
    net.W0[l] = W[l];
  }
  if (rc == 0) {
    label_rows(&net, c, rng, t->X_train, t->Y_train, t->n_train);
    label_rows(&net, c, rng, t->X_eval, t->Y_eval, t->n_eval);
  }
  for (int l = 0; l < t->L; l++)
    free(W[l]);
  la_net_free_f(&net);
  return rc;
}

/* Allocates the data arrays for the task's splits. */
static int alloc_data(la_task *t) {
  t->X_train = alloc_f((size_t)t->n_train * t->dims[0]);
  t->Y_train = alloc_f((size_t)t->n_train * t->y_dim);
  t->X_eval = alloc_f((size_t)t->n_eval * t->dims[0]);
  t->Y_eval = alloc_f((size_t)t->n_eval * t->y_dim);
  return t->X_train && t->Y_train && t->X_eval && t->Y_eval ? 0 : LA_ENOMEM;
}

/* teacher and mlp. */
static int build_synthetic(la_config *c, la_task *t, la_err *err) {
  la_rng rng;
  int rc = 0;
  double gain2 = c->task == LA_TASK_MLP && (c->activation == LA_ACT_RELU ||
                                            c->activation == LA_ACT_GELU)
                     ? 2.0
                     : 1.0;
  la_rng_init(&rng, c->data_seed, LA_STREAM_TASK);
  t->has_target = 1;
  t->target_rank = c->target_rank;
  for (int l = 0; rc == 0 && l < t->L; l++) {
    if ((t->W0[l] = alloc_f((size_t)t->dims[l + 1] * t->dims[l])) == NULL)
      rc = LA_ENOMEM;
    else
      rc = make_base(&rng, t->W0[l], t->dims[l + 1], t->dims[l], gain2);
    if (rc == 0) rc = make_target(c, t, &rng, l);
  }
  if (rc == 0) rc = alloc_data(t);
  if (rc == 0) {
    make_inputs(&rng, t->X_train, t->n_train, t->dims[0], c->input_decay);
    make_inputs(&rng, t->X_eval, t->n_eval, t->dims[0], c->input_decay);
    rc = make_labels(c, t, &rng);
  }
  if (rc)
    la_errf(err, rc, "task: could not build the synthetic task: %s",
            la_strerror(rc));
  return rc;
}

/* Loads one .npy file; errors read "<field>: <path>: <problem>". */
static int load(const char *field, const char *path, la_npy *a, la_err *err) {
  la_err e;
  int rc = la_npy_load(path, a, &e);
  return rc ? la_errf(err, rc, "%s: %s", field, e.msg) : 0;
}

/* Checks a loaded array's shape: ndim, and dims d0 / d1 unless 0. */
static int want_shape(const char *field, const char *path, const la_npy *a,
                      int ndim, size_t d0, size_t d1, la_err *err) {
  if (a->ndim == ndim && (d0 == 0 || a->shape[0] == d0) &&
      (ndim < 2 || d1 == 0 || a->shape[1] == d1))
    return 0;
  char got[96] = "(", want[96];
  for (int i = 0; i < a->ndim; i++) {
    size_t n = strlen(got);
    snprintf(got + n, sizeof got - n, "%s%zu", i ? ", " : "", a->shape[i]);
  }
  size_t used = strlen(got);
  snprintf(got + used, sizeof got - used, "%s", a->ndim == 1 ? ",)" : ")");
  if (ndim == 1)
    snprintf(want, sizeof want, "(%zu,)", d0);
  else if (d0 == 0)
    snprintf(want, sizeof want, "(any, %zu)", d1);
  else if (d1 == 0)
    snprintf(want, sizeof want, "(%zu, any)", d0);
  else
    snprintf(want, sizeof want, "(%zu, %zu)", d0, d1);
  return la_errf(err, LA_ESHAPE,
                 "%s: %s: shape %s does not match the expected %s", field, path,
                 got, want);
}

/* The frozen weights: consecutive layers must chain (d_in of l+1 = d_out of
 * l). Takes ownership of each array's data. */
static int load_w0(la_config *c, la_task *t, la_err *err) {
  char field[32];
  t->L = c->npy_n_w0;
  for (int l = 0; l < t->L; l++) {
    la_npy a;
    int rc;
    snprintf(field, sizeof field, "npy.w0[%d]", l);
    if ((rc = load(field, c->npy_w0[l], &a, err))) return rc;
    rc = want_shape(field, c->npy_w0[l], &a, 2, 0, l ? (size_t)t->dims[l] : 0,
                    err);
    if (rc == 0 && (a.shape[0] > LA_MAX_WIDTH || a.shape[1] > LA_MAX_WIDTH))
      rc = la_errf(err, LA_EINVAL, "%s: %s: widths above %d are not supported",
                   field, c->npy_w0[l], LA_MAX_WIDTH);
    if (rc) {
      la_npy_free(&a);
      return rc;
    }
    if (l == 0) t->dims[0] = (int)a.shape[1];
    t->dims[l + 1] = (int)a.shape[0];
    t->W0[l] = a.data;
  }
  return 0;
}

/* Checks class labels: integers in [0, classes). */
static int check_labels(const char *field, const char *path, const float *y,
                        size_t n, int classes, la_err *err) {
  for (size_t i = 0; i < n; i++)
    if (y[i] != floorf(y[i]) || y[i] < 0 || y[i] >= (float)classes)
      return la_errf(
          err, LA_EINVAL,
          "%s: %s: label %g at index %zu is not a class index in 0..%d", field,
          path, (double)y[i], i, classes - 1);
  return 0;
}

/* Loads an (X, Y) pair; on success *X, *Y own the data and *n is the rows. */
static int load_xy(la_config *c, la_task *t, const char *px, const char *py,
                   const char *fx, const char *fy, float **X, float **Y, int *n,
                   la_err *err) {
  la_npy x = {0}, y = {0};
  int ce = c->loss == LA_LOSS_CE, dl = t->dims[t->L];
  int rc = load(fx, px, &x, err);
  if (rc == 0) rc = want_shape(fx, px, &x, 2, 0, (size_t)t->dims[0], err);
  if (rc == 0 && x.shape[0] > 10000000)
    rc = la_errf(err, LA_EINVAL, "%s: %s: more than 10000000 rows", fx, px);
  if (rc == 0) rc = load(fy, py, &y, err);
  if (rc == 0 && ce && y.ndim == 2 && y.shape[1] == 1) y.ndim = 1;
  if (rc == 0)
    rc = want_shape(fy, py, &y, ce ? 1 : 2, x.shape[0], ce ? 0 : (size_t)dl,
                    err);
  if (rc == 0 && ce) rc = check_labels(fy, py, y.data, y.count, dl, err);
  if (rc) {
    la_npy_free(&x);
    la_npy_free(&y);
    return rc;
  }
  *X = x.data, *Y = y.data, *n = (int)x.shape[0];
  return 0;
}

/* Without an eval split given: the last eval_fraction of the rows. */
static int split_eval(la_config *c, la_task *t, la_err *err) {
  int n = t->n_train, ne = (int)floor(n * c->eval_fraction);
  size_t dx = (size_t)t->dims[0], dy = (size_t)t->y_dim;
  if (ne < 1 || n - ne < 1)
    return la_errf(err, LA_EINVAL,
                   "eval_fraction: %g of %d rows leaves an empty split (give "
                   "more rows or npy.x_eval)",
                   c->eval_fraction, n);
  t->n_train = n - ne;
  t->n_eval = ne;
  t->X_eval = alloc_f((size_t)ne * dx);
  t->Y_eval = alloc_f((size_t)ne * dy);
  if (!t->X_eval || !t->Y_eval)
    return la_errf(err, LA_ENOMEM, "task: out of memory");
  memcpy(t->X_eval, t->X_train + (size_t)t->n_train * dx,
         (size_t)ne * dx * sizeof(float));
  memcpy(t->Y_eval, t->Y_train + (size_t)t->n_train * dy,
         (size_t)ne * dy * sizeof(float));
  return 0;
}

/* The initial A of each layer, (rank, d_in). */
static int load_a0(la_config *c, la_task *t, la_err *err) {
  char field[32];
  for (int l = 0; l < c->npy_n_a0; l++) {
    la_npy a;
    int rc;
    snprintf(field, sizeof field, "npy.a0[%d]", l);
    if ((rc = load(field, c->npy_a0[l], &a, err))) return rc;
    rc = want_shape(field, c->npy_a0[l], &a, 2, (size_t)c->rank,
                    (size_t)t->dims[l], err);
    if (rc) {
      la_npy_free(&a);
      return rc;
    }
    t->A0[l] = a.data;
  }
  return 0;
}

/* Checks rank, batch and classes against the shapes the files gave, and
 * copies the shapes into the config. */
static int check_npy_config(la_config *c, la_task *t, la_err *err) {
  for (int l = 0; l < t->L; l++) {
    int m = t->dims[l] < t->dims[l + 1] ? t->dims[l] : t->dims[l + 1];
    if (c->rank > m)
      return la_errf(err, LA_EINVAL,
                     "rank: %d exceeds min(d_in, d_out) = %d of layer %d (%s)",
                     c->rank, m, l, c->npy_w0[l]);
  }
  if (c->loss == LA_LOSS_CE && t->dims[t->L] < 2)
    return la_errf(err, LA_EINVAL,
                   "loss: 'ce' needs at least 2 output classes");
  if (c->batch > t->n_train)
    return la_errf(err, LA_EINVAL, "batch: %d exceeds the %d training rows",
                   c->batch, t->n_train);
  c->n_layers = t->L;
  memcpy(c->widths, t->dims, sizeof c->widths);
  c->n_train = t->n_train;
  c->n_eval = t->n_eval;
  return 0;
}

static int build_npy(la_config *c, la_task *t, la_err *err) {
  int rc = load_w0(c, t, err);
  if (rc) return rc;
  t->y_dim = c->loss == LA_LOSS_CE ? 1 : t->dims[t->L];
  rc = load_xy(c, t, c->npy_x, c->npy_y, "npy.x", "npy.y", &t->X_train,
               &t->Y_train, &t->n_train, err);
  if (rc) return rc;
  if (c->npy_x_eval[0])
    rc = load_xy(c, t, c->npy_x_eval, c->npy_y_eval, "npy.x_eval", "npy.y_eval",
                 &t->X_eval, &t->Y_eval, &t->n_eval, err);
  else
    rc = split_eval(c, t, err);
  if (rc == 0) rc = load_a0(c, t, err);
  if (rc == 0) rc = check_npy_config(c, t, err);
  return rc;
}

/* Task gpt: its data, owned by the task. */
static int build_gpt(la_config *c, la_task *t, la_err *err) {
  if ((t->gpt = calloc(1, sizeof *t->gpt)) == NULL)
    return la_errf(err, LA_ENOMEM, "gpt: out of memory");
  return la_gpt_data_load(c, t->gpt, err);
}

int la_task_build(la_config *c, la_task *t, la_err *err) {
  memset(t, 0, sizeof *t);
  if (c->task == LA_TASK_NPY) return build_npy(c, t, err);
  if (c->task == LA_TASK_GPT) return build_gpt(c, t, err);
  t->L = c->n_layers;
  memcpy(t->dims, c->widths, sizeof t->dims);
  t->y_dim = c->loss == LA_LOSS_CE ? 1 : t->dims[t->L];
  t->n_train = c->n_train;
  t->n_eval = c->n_eval;
  return build_synthetic(c, t, err);
}

void la_task_free(la_task *t) {
  for (int l = 0; l < LA_MAX_LAYERS; l++) {
    free(t->W0[l]);
    free(t->A0[l]);
    free(t->U[l]);
    free(t->V[l]);
    free(t->S[l]);
  }
  free(t->X_train);
  free(t->Y_train);
  free(t->X_eval);
  free(t->Y_eval);
  if (t->gpt) la_gpt_data_free(t->gpt);
  free(t->gpt);
  memset(t, 0, sizeof *t);
}

/* ---- a task kept between runs ---- */

/* Task gpt: the files and the split (context, n_head, vocab_size, rank and
 * batch are checked against the data by la_gpt_check, on a hit too). */
static int gpt_same(const la_config *a, const la_config *b) {
  return strcmp(a->gpt_base, b->gpt_base) == 0 &&
         strcmp(a->gpt_text, b->gpt_text) == 0 &&
         strcmp(a->gpt_text_eval, b->gpt_text_eval) == 0 &&
         strcmp(a->gpt_tokens, b->gpt_tokens) == 0 &&
         strcmp(a->gpt_tokens_eval, b->gpt_tokens_eval) == 0 &&
         (a->gpt_text_eval[0] || a->gpt_tokens_eval[0] ||
          a->eval_fraction == b->eval_fraction);
}

int la_task_same(const la_config *a, const la_config *b) {
  if (a->task != b->task) return 0;
  if (a->task == LA_TASK_GPT) return gpt_same(a, b);
  if (a->loss != b->loss) return 0;
  if (a->task != LA_TASK_NPY) /* the generator's inputs */
    return a->n_layers == b->n_layers &&
           memcmp(a->widths, b->widths, sizeof a->widths) == 0 &&
           (a->n_layers < 2 || a->activation == b->activation) &&
           a->n_train == b->n_train && a->n_eval == b->n_eval &&
           a->input_decay == b->input_decay &&
           a->target_rank == b->target_rank &&
           a->target_scale == b->target_scale &&
           a->target_decay == b->target_decay && a->noise == b->noise &&
           a->data_seed == b->data_seed;
  if (a->eval_fraction != b->eval_fraction || a->npy_n_w0 != b->npy_n_w0 ||
      a->npy_n_a0 != b->npy_n_a0 || (a->npy_n_a0 > 0 && a->rank != b->rank))
    return 0;
  if (strcmp(a->npy_x, b->npy_x) || strcmp(a->npy_y, b->npy_y) ||
      strcmp(a->npy_x_eval, b->npy_x_eval) ||
      strcmp(a->npy_y_eval, b->npy_y_eval))
    return 0;
  for (int l = 0; l < a->npy_n_w0; l++)
    if (strcmp(a->npy_w0[l], b->npy_w0[l])) return 0;
  for (int l = 0; l < a->npy_n_a0; l++)
    if (strcmp(a->npy_a0[l], b->npy_a0[l])) return 0;
  return 1;
}

/* The paths of the files cfg's task reads into paths; their count. */
static int task_paths(const la_config *c, const char **paths) {
  int n = 0;
  if (c->task == LA_TASK_GPT) {
    const char *g[5] = {c->gpt_base, c->gpt_text, c->gpt_text_eval,
                        c->gpt_tokens, c->gpt_tokens_eval};
    for (int i = 0; i < 5; i++)
      if (g[i][0]) paths[n++] = g[i];
    return n;
  }
  if (c->task != LA_TASK_NPY) return 0;
  paths[n++] = c->npy_x, paths[n++] = c->npy_y;
  if (c->npy_x_eval[0]) paths[n++] = c->npy_x_eval;
  if (c->npy_y_eval[0]) paths[n++] = c->npy_y_eval;
  for (int l = 0; l < c->npy_n_w0; l++)
    paths[n++] = c->npy_w0[l];
  for (int l = 0; l < c->npy_n_a0; l++)
    paths[n++] = c->npy_a0[l];
  return n;
}

/* The identity of the files cfg's task reads into files; their count, or
 * -1 when one cannot be looked at (then the task is built anew, and the
 * build says what is wrong with the file). */
static int file_ids(const la_config *c, la_task_file *files) {
  const char *paths[LA_TASK_MAX_FILES];
  int n = task_paths(c, paths), k = 0;
  for (; k < n; k++) {
    struct stat st;
    if (stat(paths[k], &st) != 0) return -1; /* a count: not known */
    files[k] = (la_task_file){
        (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
        (unsigned long long)st.st_size,
        (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
            (unsigned long long)st.st_mtim.tv_nsec};
  }
  return n;
}

int la_task_cache_get(la_task_cache *tc, la_config *cfg, const la_task **out,
                      int *hit, la_err *err) {
  la_task_file now[LA_TASK_MAX_FILES];
  int n = file_ids(cfg, now), rc;
  *hit = tc->valid && n >= 0 && n == tc->n_files &&
         memcmp(now, tc->files, (size_t)n * sizeof *now) == 0 &&
         la_task_same(&tc->parsed, cfg);
  if (*hit) {
    la_config parsed = *cfg;
    if (cfg->task == LA_TASK_NPY &&
        (rc = check_npy_config(cfg, &tc->task, err)) != 0) {
      *cfg = parsed;
      return rc; /* this run's rank or batch: the task stays good */
    }
    if (cfg->task == LA_TASK_GPT) {
      if ((rc = la_gpt_check(cfg, tc->task.gpt, err)) != 0) return rc;
      cfg->n_layers = tc->task.gpt->sh.L;
    }
    *out = &tc->task;
    return 0;
  }
  la_task_cache_free(tc);
  tc->parsed = *cfg;
  if ((rc = la_task_build(cfg, &tc->task, err)) != 0) {
    la_task_cache_free(tc);
    return rc;
  }
  tc->n_files = n < 0 ? 0 : n;
  memcpy(tc->files, now, (size_t)tc->n_files * sizeof *now);
  tc->valid = n >= 0;
  *out = &tc->task;
  return 0;
}

void la_task_cache_free(la_task_cache *tc) {
  la_task_free(&tc->task);
  tc->valid = 0, tc->n_files = 0;
}
