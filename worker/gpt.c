/* gpt.c: the gpt task's shapes, tensor names, data, windows and sharpness
 * (see gpt.h). */
#include "gpt.h"

#include "loralpha/npy.h"
#include "loralpha/resources.h"
#include "loralpha/safetensors.h"
#include "metrics.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS ((size_t)1 << 31) /* longest token stream accepted */

/* Tensor kind k: its name in a block ("h.N." then this) or outside, and
 * its shape as multiples of C (0 in rows: V or maxT for the embeddings). */
typedef struct tensor_kind {
  const char *name;
  int per_layer;
  int rows, cols; /* in units of C; rows 0: a vector of cols * C */
} tensor_kind;

static const tensor_kind k_kinds[LA_GPT_N_TENSORS] = {
    {"wte.weight", 0, -1, 1},        {"wpe.weight", 0, -2, 1},
    {"ln_1.weight", 1, 0, 1},        {"ln_1.bias", 1, 0, 1},
    {"attn.c_attn.weight", 1, 1, 3}, {"attn.c_attn.bias", 1, 0, 3},
    {"attn.c_proj.weight", 1, 1, 1}, {"attn.c_proj.bias", 1, 0, 1},
    {"ln_2.weight", 1, 0, 1},        {"ln_2.bias", 1, 0, 1},
    {"mlp.c_fc.weight", 1, 1, 4},    {"mlp.c_fc.bias", 1, 0, 4},
    {"mlp.c_proj.weight", 1, 4, 1},  {"mlp.c_proj.bias", 1, 0, 1},
    {"ln_f.weight", 0, 0, 1},        {"ln_f.bias", 0, 0, 1},
};

/* The shape of one tensor of kind k (one layer's): rows (0: a vector) and
 * columns. */
static void kind_shape(const la_gpt_shape *sh, int k, size_t *rows,
                       size_t *cols) {
  const tensor_kind *t = &k_kinds[k];
  *cols = (size_t)t->cols * sh->C;
  *rows = t->rows == -1   ? (size_t)sh->V
          : t->rows == -2 ? (size_t)sh->maxT
                          : (size_t)t->rows * sh->C;
}

size_t la_gpt_tensor_count(const la_gpt_shape *sh, int k) {
  size_t rows, cols;
  kind_shape(sh, k, &rows, &cols);
  return (rows ? rows : 1) * cols * (k_kinds[k].per_layer ? sh->L : 1);
}

size_t la_gpt_param_count(const la_gpt_shape *sh) {
  size_t n = 0;
  for (int k = 0; k < LA_GPT_N_TENSORS; k++)
    n += la_gpt_tensor_count(sh, k);
  return n;
}

void la_gpt_module_dims(int C, int m, int *in, int *out) {
  static const int mul[LA_GPT_N_MODULES][2] = {{1, 3}, {1, 1}, {1, 4}, {4, 1}};
  *in = mul[m][0] * C;
  *out = mul[m][1] * C;
}

/* Sums of in and of out over the modules in targets. */
static void module_sums(int C, unsigned targets, size_t *in, size_t *out) {
  int i, o;
  *in = *out = 0;
  for (int m = 0; m < LA_GPT_N_MODULES; m++)
    if (targets & 1u << m) {
      la_gpt_module_dims(C, m, &i, &o);
      *in += (size_t)i, *out += (size_t)o;
    }
}

size_t la_gpt_adapter_count(const la_gpt_shape *sh, int r, unsigned targets) {
  size_t in, out;
  module_sums(sh->C, targets, &in, &out);
  return (size_t)r * (in + out) * (size_t)sh->L;
}

size_t la_gpt_adapter_a_count(const la_gpt_shape *sh, int r, unsigned targets) {
  size_t in, out;
  module_sums(sh->C, targets, &in, &out);
  return (size_t)r * in * (size_t)sh->L;
}

void la_gpt_tensor_name(int k, int l, char *buf, size_t n) {
  if (k_kinds[k].per_layer)
    snprintf(buf, n, "h.%d.%s", l, k_kinds[k].name);
  else
    snprintf(buf, n, "%s", k_kinds[k].name);
}

int la_gpt_tensor_shape(const la_gpt_shape *sh, int k, size_t *shape) {
  size_t rows, cols;
  kind_shape(sh, k, &rows, &cols);
  if (rows == 0) {
    shape[0] = cols;
    return 1;
  }
  shape[0] = rows, shape[1] = cols;
  return 2;
}

int la_gpt_tensor_per_layer(int k) {
  return k_kinds[k].per_layer;
}

/* ---- the base ---- */

/* The tensor called prefix + name, or NULL. */
static const la_st_tensor *find(const la_st_file *f, const char *prefix,
                                const char *name) {
  char full[160];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  return la_st_find(f, full);
}

/* The embedding `name` (2-d) or an error naming what is wrong. */
static int embedding(const la_st_file *f, const char *path, const char *prefix,
                     const char *name, const la_st_tensor **out, la_err *err) {
  const la_st_tensor *t = find(f, prefix, name);
  if (t == NULL)
    return la_errf(err, LA_EINVAL,
                   "gpt.base: %s: no tensor '%s' (GPT-2's names are "
                   "expected: wte.weight, wpe.weight, h.N.ln_1.weight, ...)",
                   path, name);
  if (t->ndim != 2 || t->shape[0] == 0 || t->shape[1] == 0)
    return la_errf(err, LA_EINVAL,
                   "gpt.base: %s: tensor '%s' must be 2-dimensional and "
                   "non-empty",
                   path, t->name);
  *out = t;
  return 0;
}

/* The model's sizes from the file: V, C from wte, maxT from wpe, L from
 * the blocks present. */
static int base_shape(const la_st_file *f, const char *path, const char *prefix,
                      la_gpt_shape *sh, la_err *err) {
  const la_st_tensor *wte, *wpe;
  char name[64];
  int rc;
  if ((rc = embedding(f, path, prefix, "wte.weight", &wte, err)) ||
      (rc = embedding(f, path, prefix, "wpe.weight", &wpe, err)))
    return rc;
  if (wte->shape[1] > LA_MAX_WIDTH || wte->shape[0] > LA_GPT_MAX_VOCAB ||
      wpe->shape[0] > 65536 || wpe->shape[1] != wte->shape[1])
    return la_errf(err, LA_EINVAL,
                   "gpt.base: %s: wte (%zu, %zu) and wpe (%zu, %zu) must "
                   "have the same width (at most %d), at most %d rows and "
                   "65536 positions",
                   path, wte->shape[0], wte->shape[1], wpe->shape[0],
                   wpe->shape[1], LA_MAX_WIDTH, LA_GPT_MAX_VOCAB);
  sh->V = (int)wte->shape[0], sh->C = (int)wte->shape[1];
  sh->maxT = (int)wpe->shape[0], sh->NH = 0;
  for (sh->L = 0; sh->L <= LA_GPT_MAX_LAYERS; sh->L++) {
    snprintf(name, sizeof name, "h.%d.ln_1.weight", sh->L);
    if (find(f, prefix, name) == NULL) break;
  }
  if (sh->L == 0 || sh->L > LA_GPT_MAX_LAYERS)
    return la_errf(err, LA_EINVAL,
                   "gpt.base: %s: %s blocks (h.0 ... h.%d are accepted)", path,
                   sh->L ? "too many" : "no", LA_GPT_MAX_LAYERS - 1);
  return 0;
}

/* Copies every tensor of the model from f into the slab, checking each
 * one's presence, dtype and shape. */
static int copy_tensors(const la_st_file *f, const char *path,
                        const char *prefix, const la_gpt_shape *sh, float *slab,
                        la_err *err) {
  char name[64];
  for (int k = 0; k < LA_GPT_N_TENSORS; k++) {
    size_t rows, cols, n;
    kind_shape(sh, k, &rows, &cols);
    n = (rows ? rows : 1) * cols;
    for (int l = 0; l < (k_kinds[k].per_layer ? sh->L : 1); l++) {
      const la_st_tensor *t;
      la_gpt_tensor_name(k, l, name, sizeof name);
      if ((t = find(f, prefix, name)) == NULL)
        return la_errf(err, LA_EINVAL, "gpt.base: %s: no tensor '%s%s'", path,
                       prefix, name);
      if (t->data == NULL)
        return la_errf(err, LA_EINVAL,
                       "gpt.base: %s: tensor '%s': dtype %s is not supported "
                       "(F32, F16 and BF16 are)",
                       path, t->name, t->dtype);
      if (t->ndim != (rows ? 2 : 1) || t->shape[0] != (rows ? rows : cols) ||
          (rows && t->shape[1] != cols))
        return la_errf(err, LA_EINVAL,
                       "gpt.base: %s: tensor '%s' must have shape (%zu%s%zu)%s",
                       path, t->name, rows ? rows : cols, rows ? ", " : "",
                       rows ? cols : 0,
                       rows ? " (Conv1D: in, out)" : " (one dimension)");
      memcpy(slab, t->data, n * sizeof(float));
      slab += n;
    }
  }
  return 0;
}

/* Loads gpt.base into d->sh and d->params. */
static int load_base(const char *path, la_gpt_data *d, la_err *err) {
  la_st_file f;
  la_err e2 = {{0}};
  const char *prefix = "";
  int rc = la_st_load(path, &f, &e2);
  if (rc) return la_errf(err, rc, "gpt.base: %s", e2.msg);
  if (la_st_find(&f, "wte.weight") == NULL &&
      la_st_find(&f, "transformer.wte.weight") != NULL)
    prefix = "transformer.";
  rc = base_shape(&f, path, prefix, &d->sh, err);
  if (rc == 0 &&
      (d->params = malloc(la_gpt_param_count(&d->sh) * sizeof(float))) == NULL)
    rc = la_errf(err, LA_ENOMEM, "gpt.base: %s: out of memory", path);
  if (rc == 0) rc = copy_tensors(&f, path, prefix, &d->sh, d->params, err);
  la_st_free(&f);
  return rc;
}

/* ---- tokens ---- */

/* The bytes of a text file as token ids 0..255 (field names it). */
static int load_text(const char *field, const char *path, int **out, size_t *n,
                     la_err *err) {
  FILE *f;
  la_err e2 = {{0}};
  size_t cap = 1 << 16, got;
  unsigned char buf[65536];
  int *tok = malloc(cap * sizeof *tok), rc = 0;
  if (tok == NULL) return la_errf(err, LA_ENOMEM, "%s: out of memory", field);
  if ((rc = la_open_regular(path, &f, &e2))) {
    free(tok);
    return la_errf(err, rc, "%s: %s", field, e2.msg);
  }
  *n = 0;
  while (rc == 0 && (got = fread(buf, 1, sizeof buf, f)) > 0) {
    if (*n + got > MAX_TOKENS) {
      rc = la_errf(err, LA_EINVAL, "%s: %s: more than 2^31 bytes", field, path);
      break;
    }
    while (*n + got > cap) {
      int *t2 = realloc(tok, 2 * cap * sizeof *tok);
      if (t2 == NULL) {
        rc = la_errf(err, LA_ENOMEM, "%s: out of memory", field);
        break;
      }
      tok = t2, cap *= 2;
    }
    for (size_t i = 0; rc == 0 && i < got; i++)
      tok[(*n)++] = buf[i];
  }
  if (rc == 0 && ferror(f))
    rc = la_errf(err, LA_EIO, "%s: %s: read error: %s", field, path,
                 strerror(errno));
  fclose(f);
  if (rc) free(tok);
  if (rc == 0) *out = tok;
  return rc;
}

/* Token ids from a 1-d .npy of integers (<i4, <u2, ...). */
static int load_tokens(const char *field, const char *path, int **out,
                       size_t *n, la_err *err) {
  la_npy a;
  la_err e2 = {{0}};
  int rc = la_npy_load(path, &a, &e2);
  if (rc) return la_errf(err, rc, "%s: %s", field, e2.msg);
  if (a.kind != 'i' || a.ndim != 1)
    rc = la_errf(err, LA_EINVAL,
                 "%s: %s: token ids must be a 1-d array of integers (int32 "
                 "or uint16), not %d-d of kind '%c'",
                 field, path, a.ndim, a.kind);
  else if ((*out = malloc(a.count * sizeof **out)) == NULL)
    rc = la_errf(err, LA_ENOMEM, "%s: out of memory", field);
  for (size_t i = 0; rc == 0 && i < a.count; i++) {
    if (a.data[i] < 0) {
      free(*out);
      rc = la_errf(err, LA_EINVAL,
                   "%s: %s: token id %g at index %zu is "
                   "negative",
                   field, path, (double)a.data[i], i);
      break;
    }
    (*out)[i] = (int)a.data[i];
  }
  *n = a.count;
  la_npy_free(&a);
  return rc;
}

/* The tokens of both splits. */
static int load_splits(const la_config *c, la_gpt_data *d, la_err *err) {
  int text = c->gpt_text[0] != 0, rc;
  const char *ev = text ? c->gpt_text_eval : c->gpt_tokens_eval;
  size_t n_eval;
  rc = text ? load_text("gpt.text", c->gpt_text, &d->train, &d->n_train, err)
            : load_tokens("gpt.tokens", c->gpt_tokens, &d->train, &d->n_train,
                          err);
  if (rc) return rc;
  if (ev[0])
    return text ? load_text("gpt.text_eval", ev, &d->eval, &d->n_eval, err)
                : load_tokens("gpt.tokens_eval", ev, &d->eval, &d->n_eval, err);
  n_eval = (size_t)((double)d->n_train * c->eval_fraction);
  if ((d->eval = malloc((n_eval ? n_eval : 1) * sizeof *d->eval)) == NULL)
    return la_errf(err, LA_ENOMEM, "gpt: out of memory");
  d->n_train -= n_eval;
  memcpy(d->eval, d->train + d->n_train, n_eval * sizeof *d->eval);
  d->n_eval = n_eval;
  return 0;
}

/* The largest token id of n. */
static int max_id(const int *t, size_t n) {
  int m = 0;
  for (size_t i = 0; i < n; i++)
    m = t[i] > m ? t[i] : m;
  return m;
}

int la_gpt_check(const la_config *c, const la_gpt_data *d, la_err *err) {
  int vocab = c->gpt_text[0] ? 256 : c->vocab_size;
  int mx = max_id(d->train, d->n_train), me = max_id(d->eval, d->n_eval);
  const char *split = c->gpt_text[0] ? "gpt.text" : "gpt.tokens";
  if (d->sh.C % c->n_head != 0)
    return la_errf(err, LA_EINVAL, "n_head: %d does not divide the width %d",
                   c->n_head, d->sh.C);
  if (c->context > d->sh.maxT)
    return la_errf(err, LA_EINVAL,
                   "context: %d exceeds the base's %d positions (wpe)",
                   c->context, d->sh.maxT);
  if (c->rank > d->sh.C)
    return la_errf(err, LA_EINVAL, "rank: %d exceeds the width %d", c->rank,
                   d->sh.C);
  if (vocab > d->sh.V)
    return la_errf(err, LA_EINVAL,
                   "%s: the vocabulary (%d) exceeds the base's %d tokens (wte)",
                   c->gpt_text[0] ? "gpt.text" : "vocab_size", vocab, d->sh.V);
  if (mx >= vocab || me >= vocab)
    return la_errf(err, LA_EINVAL,
                   "%s%s: token id %d is not below vocab_size %d", split,
                   mx >= vocab ? "" : "_eval", mx >= vocab ? mx : me, vocab);
  if (d->n_train < (size_t)c->context + 1 || d->n_eval < (size_t)c->context + 1)
    return la_errf(err, LA_EINVAL,
                   "context: the %s split has %zu tokens, fewer than context "
                   "+ 1 = %d",
                   d->n_train < (size_t)c->context + 1 ? "training" : "eval",
                   d->n_train < (size_t)c->context + 1 ? d->n_train : d->n_eval,
                   c->context + 1);
  return 0;
}

int la_gpt_data_load(la_config *c, la_gpt_data *d, la_err *err) {
  int rc;
  memset(d, 0, sizeof *d);
  rc = load_base(c->gpt_base, d, err);
  if (rc == 0) rc = load_splits(c, d, err);
  if (rc == 0) rc = la_gpt_check(c, d, err);
  if (rc) {
    la_gpt_data_free(d);
    return rc;
  }
  c->n_layers = d->sh.L;
  return 0;
}

void la_gpt_data_free(la_gpt_data *d) {
  free(d->params);
  free(d->train);
  free(d->eval);
  memset(d, 0, sizeof *d);
}

/* ---- windows ---- */

void la_gpt_sample(const la_gpt_data *d, la_rng *rng, int T, int nb, int *tok,
                   int *tgt) {
  uint64_t span = (uint64_t)(d->n_train - (size_t)T);
  for (int b = 0; b < nb; b++) {
    size_t s = (size_t)(la_rng_u64(rng) % span);
    for (int t = 0; t < T; t++) {
      tok[(size_t)b * T + t] = d->train[s + (size_t)t];
      tgt[(size_t)b * T + t] = d->train[s + (size_t)t + 1];
    }
  }
}

size_t la_gpt_eval_windows(const la_gpt_data *d, int T, int max_windows) {
  size_t n = (d->n_eval - 1) / (size_t)T;
  return n < (size_t)max_windows ? n : (size_t)max_windows;
}

double la_gpt_eval_f(la_gpt_f *g, const la_gpt_data *d, int max_windows,
                     int *tok, int *tgt) {
  size_t n = la_gpt_eval_windows(d, g->T, max_windows), T = (size_t)g->T;
  double sum = 0;
  for (size_t w0 = 0; w0 < n; w0 += (size_t)g->B) {
    int nb = n - w0 < (size_t)g->B ? (int)(n - w0) : g->B;
    for (int b = 0; b < nb; b++)
      for (size_t t = 0; t < T; t++) {
        size_t at = (w0 + (size_t)b) * T + t;
        tok[(size_t)b * T + t] = d->eval[at];
        tgt[(size_t)b * T + t] = d->eval[at + 1];
      }
    sum += la_gpt_forward_f(g, tok, tgt, nb) * nb;
  }
  return sum / (double)n;
}

/* ---- sharpness ---- */

/* A sharpness measurement's double-precision model and buffers. */
typedef struct gpt_hvp {
  const la_gpt_sharp_in *in;
  int full;
  la_gpt_d g;
  double *w, *gw;       /* (param_count) weights and their gradients */
  double *ad, *gad;     /* (adapters) LoRA mode: where g's adapters are */
  double *theta, *work; /* (n) the point, and theta +- eps v */
  double *g1, *g2;      /* (n) gradients */
  double *seg[LA_GPT_MAX_LAYERS * LA_GPT_N_MODULES]; /* full: adapted W */
  double *gseg[LA_GPT_MAX_LAYERS * LA_GPT_N_MODULES];
  size_t seg_n[LA_GPT_MAX_LAYERS * LA_GPT_N_MODULES];
  int n_seg;
  size_t n;
  int *tok, *tgt;
  double eps;
} gpt_hvp;

static void hvp_free(gpt_hvp *h) {
  la_gpt_free_d(&h->g);
  free(h->w), free(h->gw), free(h->ad), free(h->gad), free(h->theta);
  free(h->work), free(h->g1), free(h->g2), free(h->tok), free(h->tgt);
}

/* Full mode: W <- W + s (B A)^T for every adapted module, and the list of
 * those weights (the parameters of the full-weight Hessian). */
static void hvp_merge(gpt_hvp *h) {
  const la_gpt_sharp_in *in = h->in;
  size_t oa = 0, ob = la_gpt_adapter_a_count(&in->sh, in->r, in->targets);
  for (int l = 0; l < in->sh.L; l++)
    for (int m = 0; m < LA_GPT_N_MODULES; m++) {
      double *W, *b;
      int din, dout;
      if (!(in->targets & 1u << m)) continue;
      la_gpt_module_dims(in->sh.C, m, &din, &dout);
      la_gpt_module_weight_d(&h->g, l, m, &W, &b);
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasTrans, din, dout, in->r,
                  in->s, h->ad + oa, din, h->ad + ob, in->r, 1, W, dout);
      (void)b;
      h->seg[h->n_seg] = W, h->gseg[h->n_seg] = h->gw + (W - h->w);
      h->seg_n[h->n_seg++] = (size_t)din * dout;
      h->n += (size_t)din * dout;
      oa += (size_t)in->r * din, ob += (size_t)in->r * dout;
    }
}

/* The windows: the first n_win of the training split at 0, T, 2T, ... */
static void hvp_windows(gpt_hvp *h) {
  const la_gpt_sharp_in *in = h->in;
  size_t T = (size_t)in->T;
  for (size_t i = 0; i < (size_t)in->n_win * T; i++) {
    h->tok[i] = in->d->train[i];
    h->tgt[i] = in->d->train[i + 1];
  }
}

static int hvp_init(gpt_hvp *h, const la_gpt_sharp_in *in, int full) {
  size_t np = la_gpt_param_count(&in->sh), win = (size_t)in->n_win * in->T;
  size_t na = la_gpt_adapter_count(&in->sh, in->r, in->targets);
  memset(h, 0, sizeof *h);
  h->in = in, h->full = full;
  h->w = malloc(np * sizeof(double)), h->gw = malloc(np * sizeof(double));
  h->ad = malloc(na * sizeof(double)), h->gad = malloc(na * sizeof(double));
  h->tok = malloc(win * sizeof(int)), h->tgt = malloc(win * sizeof(int));
  if (!h->w || !h->gw || !h->ad || !h->gad || !h->tok || !h->tgt)
    return LA_ENOMEM;
  if (la_gpt_init_d(&h->g, &in->sh, in->n_win, in->T, full ? 0 : in->r,
                    in->targets, in->s, full))
    return LA_ENOMEM;
  for (size_t i = 0; i < np; i++)
    h->w[i] = in->d->params[i];
  for (size_t i = 0; i < na; i++)
    h->ad[i] = in->theta[i];
  la_gpt_bind_d(&in->sh, h->w, &h->g.w);
  la_gpt_bind_d(&in->sh, h->gw, &h->g.gw);
  h->g.gslab = h->gw;
  hvp_windows(h);
  if (full)
    hvp_merge(h);
  else
    h->n = na;
  h->theta = malloc(h->n * sizeof(double));
  h->work = malloc(h->n * sizeof(double));
  h->g1 = malloc(h->n * sizeof(double)), h->g2 = malloc(h->n * sizeof(double));
  if (!h->theta || !h->work || !h->g1 || !h->g2) return LA_ENOMEM;
  if (full)
    for (int k = 0, at = 0; k < h->n_seg; at += (int)h->seg_n[k], k++)
      memcpy(h->theta + at, h->seg[k], h->seg_n[k] * sizeof(double));
  else
    memcpy(h->theta, h->ad, na * sizeof(double));
  double nt = cblas_dnrm2((int)h->n, h->theta, 1);
  h->eps = 1e-5 * (nt > 1 ? nt : 1);
  return 0;
}

/* The gradient at x (n) into g. */
static void hvp_grad(gpt_hvp *h, const double *x, double *g) {
  size_t at = 0;
  if (!h->full) {
    memcpy(h->ad, x, h->n * sizeof(double));
    la_gpt_bind_adapters_d(&h->g, h->ad, g);
  } else {
    for (int k = 0; k < h->n_seg; at += h->seg_n[k], k++)
      memcpy(h->seg[k], x + at, h->seg_n[k] * sizeof(double));
  }
  la_gpt_forward_d(&h->g, h->tok, h->tgt, h->in->n_win);
  la_gpt_backward_d(&h->g);
  for (int k = 0, at2 = 0; h->full && k < h->n_seg;
       at2 += (int)h->seg_n[k], k++)
    memcpy(g + at2, h->gseg[k], h->seg_n[k] * sizeof(double));
}

/* out = H v by (g(theta + eps v) - g(theta - eps v)) / (2 eps). */
static int hvp_product(void *ctx, const double *v, double *out) {
  gpt_hvp *h = ctx;
  for (size_t i = 0; i < h->n; i++)
    h->work[i] = h->theta[i] + h->eps * v[i];
  hvp_grad(h, h->work, h->g1);
  for (size_t i = 0; i < h->n; i++)
    h->work[i] = h->theta[i] - h->eps * v[i];
  hvp_grad(h, h->work, h->g2);
  for (size_t i = 0; i < h->n; i++)
    out[i] = (h->g1[i] - h->g2[i]) / (2 * h->eps);
  return 0;
}

int la_gpt_sharpness(const la_gpt_sharp_in *in, int full, int iters, double tol,
                     uint64_t seed, la_eig_top *out) {
  gpt_hvp h;
  int rc = hvp_init(&h, in, full);
  if (rc == 0)
    rc = la_sharpness_top(hvp_product, &h, h.n, iters, tol, seed, out);
  hvp_free(&h);
  return rc;
}
