/*
 * test_task.c: the task a worker keeps between runs (worker/task.h).
 *
 * la_task_same is checked against the build itself: every field of the
 * config is changed in turn (through the JSON a run's config comes as), the
 * task is built anew, and its bytes must equal the first task's exactly
 * when la_task_same says the task is the same. A field the build reads but
 * la_task_same left out would let a worker train on another run's data.
 * Then the cache: hits, misses, a changed .npy file, and a run whose rank
 * or batch the kept data cannot serve.
 */
#include "check.h"
#include "loralpha/config.h"
#include "loralpha/npy.h"
#include "loralpha/safetensors.h"
#include "task.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_TEXT(cond, ...)                                                  \
  do {                                                                         \
    CHECK(cond);                                                               \
    if (!(cond)) fprintf(stderr, __VA_ARGS__);                                 \
  } while (0)

static char g_dir[64];

/* Bytes of n floats or doubles; both NULL counts as equal. */
static int same_mem(const void *a, const void *b, size_t bytes) {
  if (a == NULL || b == NULL) return a == b;
  return memcmp(a, b, bytes) == 0;
}

/* Whether two gpt tasks' data are the same (both absent counts). */
static int same_gpt(const la_gpt_data *a, const la_gpt_data *b) {
  if (a == NULL || b == NULL) return a == b;
  return memcmp(&a->sh, &b->sh, sizeof a->sh) == 0 &&
         a->n_train == b->n_train && a->n_eval == b->n_eval &&
         same_mem(a->params, b->params,
                  la_gpt_param_count(&a->sh) * sizeof(float)) &&
         same_mem(a->train, b->train, a->n_train * sizeof(int)) &&
         same_mem(a->eval, b->eval, a->n_eval * sizeof(int));
}

/* Whether two built tasks hold the same shapes and bytes. */
static int same_task(const la_task *a, const la_task *b) {
  if (!same_gpt(a->gpt, b->gpt)) return 0;
  if (a->L != b->L || memcmp(a->dims, b->dims, sizeof a->dims) != 0 ||
      a->y_dim != b->y_dim || a->n_train != b->n_train ||
      a->n_eval != b->n_eval || a->has_target != b->has_target ||
      a->target_rank != b->target_rank)
    return 0;
  for (int l = 0; l < a->L; l++) {
    size_t w = (size_t)a->dims[l] * a->dims[l + 1], k = (size_t)a->target_rank;
    if (!same_mem(a->W0[l], b->W0[l], w * sizeof(float)) ||
        (a->A0[l] == NULL) != (b->A0[l] == NULL))
      return 0;
    if (a->has_target &&
        (!same_mem(a->U[l], b->U[l], a->dims[l + 1] * k * sizeof(double)) ||
         !same_mem(a->V[l], b->V[l], a->dims[l] * k * sizeof(double)) ||
         !same_mem(a->S[l], b->S[l], k * sizeof(double))))
      return 0;
  }
  return same_mem(a->X_train, b->X_train,
                  (size_t)a->n_train * a->dims[0] * sizeof(float)) &&
         same_mem(a->Y_train, b->Y_train,
                  (size_t)a->n_train * a->y_dim * sizeof(float)) &&
         same_mem(a->X_eval, b->X_eval,
                  (size_t)a->n_eval * a->dims[0] * sizeof(float)) &&
         same_mem(a->Y_eval, b->Y_eval,
                  (size_t)a->n_eval * a->y_dim * sizeof(float));
}

static int parse(const char *text, la_config *cfg) {
  json_error_t je;
  la_err err = {{0}};
  json_t *root = json_loads(text, 0, &je);
  int rc = root ? la_config_parse(root, cfg, &err) : LA_EINVAL;
  json_decref(root);
  return rc;
}

/* Enum values a string field may take; the first that parses is used. */
static const char *const k_names[] = {
    "teacher", "mlp",  "identity", "relu",  "gelu", "tanh",     "mse",
    "ce",      "peft", "rslora",   "adamw", "sgd",  "constant", "cosine"};
#define N_NAMES (sizeof k_names / sizeof k_names[0])

/* The k-th other value for field name (v, its value now): for a string the
 * k-th enum name that differs, else (k = 0 only) a number moved or a flag
 * flipped; NULL when there is none. */
static json_t *other_value(const char *name, const json_t *v, size_t k) {
  if (json_is_string(v)) {
    for (size_t i = 0; i < N_NAMES; i++)
      if (strcmp(k_names[i], json_string_value(v)) != 0 && k-- == 0)
        return json_string(k_names[i]);
    return NULL;
  }
  if (k > 0) return NULL;
  if (json_is_boolean(v)) return json_boolean(!json_is_true(v));
  if (json_is_integer(v) && strcmp(name, "widths") != 0) {
    json_int_t x = json_integer_value(v);
    return json_integer(x > 1 ? x - 1 : x + 1);
  }
  if (json_is_real(v)) {
    double x = json_real_value(v);
    return json_real(x > 0 ? x * 0.75 : 0.1);
  }
  return NULL;
}

/* Every field of base's effective config changed in turn (the first other
 * value that parses): same task by la_task_same exactly when the bytes
 * are the same. Counts the fields changed into *changed. */
static void check_fields(const char *base_text, int *changed) {
  la_config base, cfg, built;
  la_task t0, t1;
  la_err err = {{0}};
  const char *key;
  json_t *eff, *v, *nv;
  CHECK_EQ_INT(parse(base_text, &base), 0);
  built = base;
  CHECK_EQ_INT(la_task_build(&built, &t0, &err), 0);
  eff = la_config_to_json(&base);
  json_object_foreach(eff, key, v) {
    for (size_t k = 0; (nv = other_value(key, v, k)) != NULL; k++) {
      json_t *mod = json_deep_copy(eff);
      char *text;
      int built_ok = 0;
      json_object_set_new(mod, key, nv);
      text = json_dumps(mod, JSON_COMPACT);
      if (parse(text, &cfg) == 0) {
        la_config b2 = cfg;
        if (la_task_build(&b2, &t1, &err) == 0) {
          int same = la_task_same(&base, &cfg), bytes = same_task(&t0, &t1);
          CHECK_TEXT(same == bytes,
                     "  field %s: la_task_same says %d, the bytes %s\n", key,
                     same, bytes ? "equal" : "differ");
          (*changed)++;
          built_ok = 1;
        }
        la_task_free(&t1);
      }
      free(text);
      json_decref(mod);
      if (built_ok) break; /* one other value per field */
    }
  }
  json_decref(eff);
  la_task_free(&t0);
}

static void save(const char *name, const float *data, size_t rows, size_t cols,
                 char *path, size_t size) {
  size_t shape[2] = {rows, cols};
  la_err err = {{0}};
  snprintf(path, size, "%s/%s", g_dir, name);
  CHECK_EQ_INT(la_npy_save_f32(path, data, 2, shape, &err), 0);
}

/* A GPT base of 2 blocks, width 8, 256 tokens, 12 positions at path, its
 * values from seed; a text file of n bytes at tpath. */
static void save_gpt(const char *path, const char *tpath, int seed, int n) {
  la_gpt_shape sh = {256, 12, 8, 2, 0};
  la_st_out out[LA_GPT_N_TENSORS * 2];
  char names[LA_GPT_N_TENSORS * 2][48];
  float *w = malloc(la_gpt_param_count(&sh) * sizeof(float)), *p = w;
  la_err err = {{0}};
  int k2 = 0;
  FILE *f;
  for (size_t i = 0; i < la_gpt_param_count(&sh); i++)
    w[i] = (float)((int)((i * 7 + (size_t)seed) % 13) - 6) / 10;
  for (int k = 0; k < LA_GPT_N_TENSORS; k++)
    for (int l = 0; l < (la_gpt_tensor_per_layer(k) ? sh.L : 1); l++) {
      la_st_out *o = &out[k2];
      la_gpt_tensor_name(k, l, names[k2], sizeof names[k2]);
      o->name = names[k2++];
      o->ndim = la_gpt_tensor_shape(&sh, k, o->shape);
      o->data = p;
      p += o->shape[0] * (o->ndim == 2 ? o->shape[1] : 1);
    }
  CHECK_EQ_INT(la_st_save(path, out, k2, NULL, &err), 0);
  free(w);
  f = fopen(tpath, "wb");
  for (int i = 0; f && i < n; i++)
    fputc("the cat sat on a mat. "[i % 22], f);
  if (f) fclose(f);
}

/* A gpt task: a hit for another alpha, context and n_head; a context the
 * base cannot hold fails that run only; a rewritten base is read again. */
static void check_cache_gpt(void) {
  char pb[256], pt[256], text[1200];
  la_task_cache tc;
  la_config cfg;
  la_err err = {{0}};
  const la_task *t;
  int hit = -1;
  snprintf(pb, sizeof pb, "%s/base.safetensors", g_dir);
  snprintf(pt, sizeof pt, "%s/train.txt", g_dir);
  save_gpt(pb, pt, 1, 200);
  memset(&tc, 0, sizeof tc);
#define GPT_CFG(ctx, heads)                                                    \
  snprintf(text, sizeof text,                                                  \
           "{\"task\":\"gpt\",\"gpt\":{\"base\":\"%s\",\"text\":\"%s\"},"      \
           "\"n_head\":%d,\"context\":%d,\"rank\":2,\"alpha\":4,\"lr\":0.01,"  \
           "\"steps\":2,\"batch\":2}",                                         \
           pb, pt, heads, ctx)
  GPT_CFG(8, 2);
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), 0);
  if (err.msg[0]) fprintf(stderr, "  %s\n", err.msg);
  CHECK_EQ_INT(hit, 0);
  CHECK(t->gpt != NULL && t->gpt->sh.C == 8 && t->gpt->sh.L == 2);
  CHECK_EQ_INT(cfg.n_layers, 2);
  CHECK(t->gpt && t->gpt->n_train + t->gpt->n_eval == 200);
  GPT_CFG(10, 4);
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), 0);
  CHECK_EQ_INT(hit, 1);
  GPT_CFG(13, 4); /* more than the 12 positions: this run fails */
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), LA_EINVAL);
  CHECK(strncmp(err.msg, "context: 13 exceeds", 19) == 0);
  CHECK_EQ_INT(tc.valid, 1);
  GPT_CFG(8, 3); /* 3 heads do not divide 8 */
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), LA_EINVAL);
  CHECK(strncmp(err.msg, "n_head: 3 does not divide", 25) == 0);
  save_gpt(pb, pt, 2, 300); /* rewritten: read again */
  GPT_CFG(8, 2);
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), 0);
  CHECK_EQ_INT(hit, 0);
  CHECK(t->gpt && t->gpt->n_train + t->gpt->n_eval == 300);
  la_task_cache_free(&tc);
#undef GPT_CFG
}

/* An npy task: hit with another alpha, lr and seed; a checked rank the
 * data cannot hold fails that run only; a rewritten file is read again. */
static void check_cache_npy(void) {
  enum { D = 6, N = 40 };
  float w0[D * D], x[N * D], y[N * D];
  char px[256], py[256], pw[256], text[1200];
  la_task_cache tc;
  la_config cfg;
  la_err err = {{0}};
  const la_task *t;
  int hit = -1;
  for (int i = 0; i < D * D; i++)
    w0[i] = (float)((i % 7) - 3) / 10;
  for (int i = 0; i < N * D; i++)
    x[i] = (float)((i * 37 % 11) - 5) / 5, y[i] = (float)(i % 5) / 4;
  save("x.npy", x, N, D, px, sizeof px);
  save("y.npy", y, N, D, py, sizeof py);
  save("w0.npy", w0, D, D, pw, sizeof pw);
  memset(&tc, 0, sizeof tc);
#define NPY_CFG(rank, alpha, batch)                                            \
  snprintf(text, sizeof text,                                                  \
           "{\"task\":\"npy\",\"npy\":{\"x\":\"%s\",\"y\":\"%s\",\"w0\":"      \
           "[\"%s\"]},\"rank\":%d,\"alpha\":%d,\"lr\":0.01,\"steps\":2,"       \
           "\"batch\":%d}",                                                    \
           px, py, pw, rank, alpha, batch)
  NPY_CFG(2, 4, 8);
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), 0);
  CHECK_EQ_INT(hit, 0);
  CHECK_EQ_INT(cfg.n_train, t->n_train); /* filled from the files */
  CHECK_EQ_INT(t->n_train + t->n_eval, N);
  NPY_CFG(4, 64, 16);
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), 0);
  CHECK_EQ_INT(hit, 1);
  CHECK_EQ_INT(cfg.widths[0], D);
  CHECK_EQ_INT(cfg.n_train, t->n_train);
  NPY_CFG(2, 4, 1000); /* more than the rows: this run fails, the task stays */
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), LA_EINVAL);
  CHECK(strncmp(err.msg, "batch: ", 7) == 0);
  CHECK_EQ_INT(tc.valid, 1);
  /* the data file rewritten (another size): read again */
  save("x.npy", x, N - 4, D, px, sizeof px);
  save("y.npy", y, N - 4, D, py, sizeof py);
  NPY_CFG(2, 4, 8);
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), 0);
  CHECK_EQ_INT(hit, 0);
  CHECK_EQ_INT(t->n_train + t->n_eval, N - 4);
  /* a file that is gone: the build says so and nothing is kept */
  CHECK_EQ_INT(unlink(px), 0);
  CHECK_EQ_INT(parse(text, &cfg), 0);
  CHECK(la_task_cache_get(&tc, &cfg, &t, &hit, &err) != 0);
  CHECK(strstr(err.msg, "npy.x") != NULL);
  CHECK_EQ_INT(tc.valid, 0);
  la_task_cache_free(&tc);
#undef NPY_CFG
}

/* A synthetic task: the same data for other run scalars, new data for
 * another data_seed. */
static void check_cache_synthetic(void) {
  la_task_cache tc;
  la_config cfg;
  la_err err = {{0}};
  const la_task *t, *first;
  int hit = -1;
  memset(&tc, 0, sizeof tc);
  CHECK_EQ_INT(parse("{\"task\":\"teacher\",\"d_in\":8,\"d_out\":8,\"rank\":2,"
                     "\"alpha\":4,\"lr\":0.01,\"steps\":3,\"n_train\":64}",
                     &cfg),
               0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &first, &hit, &err), 0);
  CHECK_EQ_INT(hit, 0);
  CHECK_EQ_INT(parse("{\"task\":\"teacher\",\"d_in\":8,\"d_out\":8,\"rank\":4,"
                     "\"alpha\":400,\"lr\":0.1,\"steps\":9,\"seed\":3,"
                     "\"n_train\":64,\"batch\":16,\"optimizer\":\"sgd\"}",
                     &cfg),
               0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), 0);
  CHECK_EQ_INT(hit, 1);
  CHECK(t == first);
  CHECK_EQ_INT(parse("{\"task\":\"teacher\",\"d_in\":8,\"d_out\":8,\"rank\":2,"
                     "\"alpha\":4,\"lr\":0.01,\"steps\":3,\"n_train\":64,"
                     "\"data_seed\":2}",
                     &cfg),
               0);
  CHECK_EQ_INT(la_task_cache_get(&tc, &cfg, &t, &hit, &err), 0);
  CHECK_EQ_INT(hit, 0);
  la_task_cache_free(&tc);
}

int main(void) {
  int changed = 0;
  char cmd[128];
  snprintf(g_dir, sizeof g_dir, "/tmp/la-task-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return 1;
  check_fields("{\"task\":\"teacher\",\"d_in\":12,\"d_out\":10,\"rank\":3,"
               "\"alpha\":6,\"lr\":0.01,\"steps\":5,\"n_train\":50,"
               "\"n_eval\":20,\"batch\":10,\"input_decay\":0.5,"
               "\"target_rank\":3,\"target_decay\":0.5,\"noise\":0.01}",
               &changed);
  check_fields("{\"task\":\"mlp\",\"widths\":[6,8,5],\"activation\":\"gelu\","
               "\"loss\":\"ce\",\"rank\":2,\"alpha\":6,\"lr\":0.01,"
               "\"steps\":5,\"n_train\":40,\"n_eval\":12,\"batch\":8,"
               "\"target_rank\":2,\"data_seed\":4}",
               &changed);
  {
    char pb[256], pt[256], text[1024];
    snprintf(pb, sizeof pb, "%s/fields.safetensors", g_dir);
    snprintf(pt, sizeof pt, "%s/fields.txt", g_dir);
    save_gpt(pb, pt, 3, 160);
    snprintf(text, sizeof text,
             "{\"task\":\"gpt\",\"gpt\":{\"base\":\"%s\",\"text\":\"%s\"},"
             "\"n_head\":2,\"context\":8,\"rank\":2,\"alpha\":4,"
             "\"lr\":0.01,\"steps\":3,\"batch\":2,\"n_eval\":4}",
             pb, pt);
    check_fields(text, &changed);
  }
  printf("fields changed and compared: %d\n", changed);
  CHECK(changed >= 90); /* about 45 fields per config, most of them thrice */
  check_cache_synthetic();
  check_cache_npy();
  check_cache_gpt();
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return check_summary();
}
