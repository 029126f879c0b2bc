/* config.c: the worker's JSON config, parsed against a table of fields. */
#include "loralpha/config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef enum { T_INT, T_DOUBLE, T_U64, T_BOOL, T_ENUM, T_SPECIAL } ftype;

/* One scalar config field: where it lives in la_config and what it may be.
 * Bounds are inclusive unless lo_open is set (then value > lo). */
typedef struct field {
  const char *name;
  ftype type;
  size_t off;
  double lo, hi;
  int lo_open;
  const char *const *names; /* T_ENUM: value names, NULL-terminated */
} field;

static const char *const k_tasks[] = {"teacher", "mlp", "npy", "gpt", NULL};
static const char *const k_acts[] = {"identity", "relu", "gelu", "tanh", NULL};
static const char *const k_losses[] = {"mse", "ce", NULL};
static const char *const k_scalings[] = {"peft", "rslora", NULL};
static const char *const k_opts[] = {"adamw", "sgd", NULL};
static const char *const k_scheds[] = {"constant", "cosine", NULL};

#define OFF(f) offsetof(la_config, f)
#define BIG 1e15

static const field k_fields[] = {
    {"task", T_ENUM, OFF(task), 0, 0, 0, k_tasks},
    {"d_in", T_SPECIAL, 0, 0, 0, 0, NULL},
    {"d_out", T_SPECIAL, 0, 0, 0, 0, NULL},
    {"widths", T_SPECIAL, 0, 0, 0, 0, NULL},
    {"npy", T_SPECIAL, 0, 0, 0, 0, NULL},
    {"gpt", T_SPECIAL, 0, 0, 0, 0, NULL},
    {"n_head", T_INT, OFF(n_head), 1, 1024, 0, NULL},
    {"context", T_INT, OFF(context), 1, 65536, 0, NULL},
    {"vocab_size", T_INT, OFF(vocab_size), 2, LA_GPT_MAX_VOCAB, 0, NULL},
    {"target_modules", T_SPECIAL, 0, 0, 0, 0, NULL},
    {"pretrain", T_BOOL, OFF(pretrain), 0, 0, 0, NULL},
    {"activation", T_ENUM, OFF(activation), 0, 0, 0, k_acts},
    {"loss", T_ENUM, OFF(loss), 0, 0, 0, k_losses},
    {"n_train", T_INT, OFF(n_train), 1, 10000000, 0, NULL},
    {"n_eval", T_INT, OFF(n_eval), 1, 10000000, 0, NULL},
    {"input_decay", T_DOUBLE, OFF(input_decay), 0, 4, 0, NULL},
    {"target_rank", T_INT, OFF(target_rank), 1, LA_MAX_WIDTH, 0, NULL},
    {"target_scale", T_DOUBLE, OFF(target_scale), 0, 1e6, 0, NULL},
    {"target_decay", T_DOUBLE, OFF(target_decay), 0, 8, 0, NULL},
    {"noise", T_DOUBLE, OFF(noise), 0, 1e6, 0, NULL},
    {"eval_fraction", T_DOUBLE, OFF(eval_fraction), 0, 0.9, 1, NULL},
    {"rank", T_INT, OFF(rank), 1, LA_MAX_WIDTH, 0, NULL},
    {"alpha", T_DOUBLE, OFF(alpha), 0, BIG, 1, NULL},
    {"scaling", T_ENUM, OFF(scaling), 0, 0, 0, k_scalings},
    {"optimizer", T_ENUM, OFF(optimizer), 0, 0, 0, k_opts},
    {"lr", T_DOUBLE, OFF(lr), 0, 1e6, 1, NULL},
    {"beta1", T_DOUBLE, OFF(beta1), 0, 0.999999, 0, NULL},
    {"beta2", T_DOUBLE, OFF(beta2), 0, 0.99999999, 0, NULL},
    {"eps", T_DOUBLE, OFF(eps), 0, 1, 1, NULL},
    {"weight_decay", T_DOUBLE, OFF(weight_decay), 0, 1e3, 0, NULL},
    {"momentum", T_DOUBLE, OFF(momentum), 0, 0.999999, 0, NULL},
    {"nesterov", T_BOOL, OFF(nesterov), 0, 0, 0, NULL},
    {"loraplus_ratio", T_DOUBLE, OFF(loraplus_ratio), 0, 1e6, 1, NULL},
    {"schedule", T_ENUM, OFF(schedule), 0, 0, 0, k_scheds},
    {"warmup_steps", T_INT, OFF(warmup_steps), 0, 100000000, 0, NULL},
    {"min_lr_ratio", T_DOUBLE, OFF(min_lr_ratio), 0, 1, 0, NULL},
    {"steps", T_INT, OFF(steps), 1, 100000000, 0, NULL},
    {"batch", T_INT, OFF(batch), 1, 1000000, 0, NULL},
    {"stop_at", T_INT, OFF(stop_at), 0, 100000000, 0, NULL},
    {"resume_at", T_INT, OFF(resume_at), 0, 100000000, 0, NULL},
    {"seed", T_U64, OFF(seed), 0, 0, 0, NULL},
    {"data_seed", T_U64, OFF(data_seed), 0, 0, 0, NULL},
    {"threads", T_INT, OFF(threads), 1, 256, 0, NULL},
    {"log_every", T_INT, OFF(log_every), 1, 100000000, 0, NULL},
    {"eval_every", T_INT, OFF(eval_every), 0, 100000000, 0, NULL},
    {"spectra_every", T_INT, OFF(spectra_every), 0, 100000000, 0, NULL},
    {"sharpness", T_BOOL, OFF(sharpness), 0, 0, 0, NULL},
    {"sharpness_every", T_INT, OFF(sharpness_every), 0, 100000000, 0, NULL},
    {"sharpness_iters", T_INT, OFF(sharpness_iters), 1, 1000, 0, NULL},
    {"sharpness_tol", T_DOUBLE, OFF(sharpness_tol), 1e-10, 0.5, 0, NULL},
    {"sharpness_batch", T_INT, OFF(sharpness_batch), 1, 1000000, 0, NULL},
    {"diverge_factor", T_DOUBLE, OFF(diverge_factor), 1, BIG, 1, NULL},
    {"run_id", T_SPECIAL, 0, 0, 0, 0, NULL},
};
#define N_FIELDS (sizeof k_fields / sizeof k_fields[0])

/* Fields a config must give, by task (checked after parsing). */
static const char *const k_required[] = {"task", "rank",  "alpha",
                                         "lr",   "steps", NULL};

static void set_defaults(la_config *c) {
  memset(c, 0, sizeof *c);
  c->activation = LA_ACT_RELU;
  c->loss = LA_LOSS_MSE;
  c->n_train = 4096;
  c->n_eval = 1024;
  c->target_rank = 4;
  c->target_scale = 1.0;
  c->eval_fraction = 0.2;
  c->n_head = 1; /* required for gpt; 1 keeps other tasks' configs valid */
  c->context = 128;
  c->vocab_size = 256;
  c->target_modules = LA_GPT_C_ATTN;
  c->scaling = LA_SCALING_PEFT;
  c->optimizer = LA_OPT_ADAMW;
  c->beta1 = 0.9;
  c->beta2 = 0.999;
  c->eps = 1e-8;
  c->momentum = 0.0;
  c->loraplus_ratio = 1.0;
  c->schedule = LA_LR_CONSTANT;
  c->batch = 64;
  c->threads = 1;
  c->log_every = 1;
  c->eval_every = 10;
  c->spectra_every = 50;
  c->sharpness = 1;
  c->sharpness_iters = 50;
  c->sharpness_tol = 1e-3;
  c->sharpness_batch = 256;
  c->diverge_factor = 100.0;
  c->run_id = -1;
}

/* Parses an enum-valued string field into *out. */
static int parse_enum(const field *f, const json_t *v, int *out, la_err *err) {
  const char *s = json_string_value(v);
  char names[160] = "";
  if (s == NULL)
    return la_errf(err, LA_EINVAL, "%s: must be a string", f->name);
  for (int i = 0; f->names[i] != NULL; i++) {
    if (strcmp(s, f->names[i]) == 0) {
      *out = i;
      return 0;
    }
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s'%s'", i ? ", " : "",
             f->names[i]);
  }
  return la_errf(err, LA_EINVAL,
                 "%s: unknown value '%.64s' (expected one of %s)", f->name, s,
                 names);
}

/* Checks a number against the field's bounds. */
static int check_range(const field *f, double x, la_err *err) {
  if (!isfinite(x))
    return la_errf(err, LA_EINVAL, "%s: must be finite", f->name);
  if (f->lo_open ? !(x > f->lo) : !(x >= f->lo))
    return la_errf(err, LA_EINVAL, "%s: %g is below the minimum (%s %g)",
                   f->name, x, f->lo_open ? "must be >" : "must be >=", f->lo);
  if (x > f->hi)
    return la_errf(err, LA_EINVAL, "%s: %g is above the maximum %g", f->name, x,
                   f->hi);
  return 0;
}

/* Parses one scalar field of the table into the config. */
static int parse_scalar(const field *f, const json_t *v, la_config *c,
                        la_err *err) {
  char *dst = (char *)c + f->off;
  switch (f->type) {
  case T_ENUM: return parse_enum(f, v, (int *)dst, err);
  case T_BOOL:
    if (!json_is_boolean(v))
      return la_errf(err, LA_EINVAL, "%s: must be true or false", f->name);
    *(int *)dst = json_is_true(v);
    return 0;
  case T_INT:
    if (!json_is_integer(v))
      return la_errf(err, LA_EINVAL, "%s: must be an integer", f->name);
    if (check_range(f, (double)json_integer_value(v), err)) return LA_EINVAL;
    *(int *)dst = (int)json_integer_value(v);
    return 0;
  case T_U64:
    if (!json_is_integer(v) || json_integer_value(v) < 0)
      return la_errf(err, LA_EINVAL, "%s: must be a non-negative integer",
                     f->name);
    *(uint64_t *)dst = (uint64_t)json_integer_value(v);
    return 0;
  case T_DOUBLE:
    if (!json_is_number(v))
      return la_errf(err, LA_EINVAL, "%s: must be a number", f->name);
    if (check_range(f, json_number_value(v), err)) return LA_EINVAL;
    *(double *)dst = json_number_value(v);
    return 0;
  case T_SPECIAL: break;
  }
  return LA_EINVAL;
}

/* Copies a JSON string path into dst, with field name fname for errors. */
static int parse_path(const json_t *v, char *dst, const char *fname,
                      la_err *err) {
  const char *s = json_string_value(v);
  if (s == NULL)
    return la_errf(err, LA_EINVAL, "%s: must be a string (a file path)", fname);
  size_t n = strlen(s);
  if (n == 0) return la_errf(err, LA_EINVAL, "%s: must not be empty", fname);
  if (n >= LA_PATH_MAX)
    return la_errf(err, LA_EINVAL, "%s: path longer than %d bytes", fname,
                   LA_PATH_MAX - 1);
  memcpy(dst, s, n + 1);
  return 0;
}

/* Parses a list of per-layer paths (npy.w0, npy.a0). */
static int parse_path_list(const json_t *v, char (*dst)[LA_PATH_MAX], int *n,
                           const char *fname, la_err *err) {
  char sub[64];
  if (!json_is_array(v) || json_array_size(v) == 0)
    return la_errf(err, LA_EINVAL, "%s: must be a non-empty array of paths",
                   fname);
  if (json_array_size(v) > LA_MAX_LAYERS)
    return la_errf(err, LA_EINVAL, "%s: %zu layers, at most %d are supported",
                   fname, json_array_size(v), LA_MAX_LAYERS);
  *n = (int)json_array_size(v);
  for (int i = 0; i < *n; i++) {
    snprintf(sub, sizeof sub, "%s[%d]", fname, i);
    if (parse_path(json_array_get(v, (size_t)i), dst[i], sub, err))
      return LA_EINVAL;
  }
  return 0;
}

/* The file paths of a config: the fields of the "npy" and "gpt" objects,
 * each one path or (list) one per layer, at off in la_config (and their
 * count at n_off). The one list of path fields: the parser,
 * la_config_each_path (the spec's check and the CLI) and the worker read
 * it. */
typedef struct path_field {
  const char *name;
  size_t off;
  int list;
  size_t n_off;
} path_field;

static const path_field k_npy_paths[] = {
    {"x", OFF(npy_x), 0, 0},
    {"y", OFF(npy_y), 0, 0},
    {"x_eval", OFF(npy_x_eval), 0, 0},
    {"y_eval", OFF(npy_y_eval), 0, 0},
    {"w0", OFF(npy_w0), 1, OFF(npy_n_w0)},
    {"a0", OFF(npy_a0), 1, OFF(npy_n_a0)},
};
#define N_NPY_PATHS (sizeof k_npy_paths / sizeof k_npy_paths[0])

static const path_field k_gpt_paths[] = {
    {"base", OFF(gpt_base), 0, 0},
    {"text", OFF(gpt_text), 0, 0},
    {"text_eval", OFF(gpt_text_eval), 0, 0},
    {"tokens", OFF(gpt_tokens), 0, 0},
    {"tokens_eval", OFF(gpt_tokens_eval), 0, 0},
};
#define N_GPT_PATHS (sizeof k_gpt_paths / sizeof k_gpt_paths[0])

/* An object of path fields: "npy" (x, y, x_eval, y_eval, w0, a0) or "gpt"
 * (base, text, text_eval, tokens, tokens_eval). */
typedef struct path_object {
  const char *name;
  const path_field *fields;
  size_t n;
  const char *expected; /* the field names, for the message */
} path_object;

static const path_object k_path_objects[] = {
    {"npy", k_npy_paths, N_NPY_PATHS, "x, y, x_eval, y_eval, w0, a0"},
    {"gpt", k_gpt_paths, N_GPT_PATHS,
     "base, text, text_eval, tokens, tokens_eval"},
};
#define N_PATH_OBJECTS (sizeof k_path_objects / sizeof k_path_objects[0])

/* Parses one path object (po) into the config. */
static int parse_path_object(const path_object *po, const json_t *v,
                             la_config *c, la_err *err) {
  const char *key;
  json_t *val;
  char fname[48];
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL, "%s: must be an object", po->name);
  json_object_foreach((json_t *)v, key, val) {
    const path_field *f = NULL;
    char *dst;
    for (size_t i = 0; i < po->n && f == NULL; i++)
      if (strcmp(key, po->fields[i].name) == 0) f = &po->fields[i];
    if (f == NULL)
      return la_errf(err, LA_EINVAL, "%s.%.64s: unknown field (expected %s)",
                     po->name, key, po->expected);
    snprintf(fname, sizeof fname, "%s.%s", po->name, f->name);
    dst = (char *)c + f->off;
    if (f->list ? parse_path_list(val, (char(*)[LA_PATH_MAX])dst,
                                  (int *)((char *)c + f->n_off), fname, err)
                : parse_path(val, dst, fname, err))
      return LA_EINVAL;
  }
  return 0;
}

/* Calls fn for every path of one path object in fields. */
static int each_path_of(const path_object *po, json_t *fields,
                        la_config_path_fn fn, void *ctx) {
  json_t *obj = json_object_get(fields, po->name), *v;
  char name[64];
  int rc;
  for (size_t i = 0; json_is_object(obj) && i < po->n; i++) {
    const path_field *f = &po->fields[i];
    if ((v = json_object_get(obj, f->name)) == NULL) continue;
    if (!f->list || !json_is_array(v)) {
      snprintf(name, sizeof name, "%s.%s", po->name, f->name);
      if ((rc = fn(v, name, ctx)) != 0) return rc;
      continue;
    }
    for (size_t k = 0; k < json_array_size(v); k++) {
      snprintf(name, sizeof name, "%s.%s[%zu]", po->name, f->name, k);
      if ((rc = fn(json_array_get(v, k), name, ctx)) != 0) return rc;
    }
  }
  return 0;
}

int la_config_each_path(json_t *fields, la_config_path_fn fn, void *ctx) {
  int rc;
  for (size_t i = 0; i < N_PATH_OBJECTS; i++)
    if ((rc = each_path_of(&k_path_objects[i], fields, fn, ctx)) != 0)
      return rc;
  return 0;
}

/* The names target_modules accepts, as PEFT matches them against a GPT-2's
 * module names (a name matches a module whose full name ends with it):
 * "c_proj" is both attn.c_proj and mlp.c_proj. The first name of each
 * module is the one the effective config lists. */
typedef struct target_name {
  const char *name;
  unsigned bits;
} target_name;

static const target_name k_targets[] = {
    {"attn.c_attn", LA_GPT_C_ATTN},
    {"attn.c_proj", LA_GPT_ATTN_PROJ},
    {"mlp.c_fc", LA_GPT_C_FC},
    {"mlp.c_proj", LA_GPT_MLP_PROJ},
    {"c_attn", LA_GPT_C_ATTN},
    {"c_fc", LA_GPT_C_FC},
    {"c_proj", LA_GPT_ATTN_PROJ | LA_GPT_MLP_PROJ},
};
#define N_TARGETS (sizeof k_targets / sizeof k_targets[0])

/* Parses "target_modules": a non-empty array of module names. */
static int parse_targets(const json_t *v, la_config *c, la_err *err) {
  size_t n = json_array_size(v);
  if (!json_is_array(v) || n == 0 || n > 16)
    return la_errf(err, LA_EINVAL,
                   "target_modules: must be an array of 1 to 16 module names");
  c->target_modules = 0;
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(v, i));
    size_t k = 0;
    while (s != NULL && k < N_TARGETS && strcmp(s, k_targets[k].name) != 0)
      k++;
    if (s == NULL || k == N_TARGETS)
      return la_errf(err, LA_EINVAL,
                     "target_modules[%zu]: unknown module '%.64s' (expected "
                     "c_attn, c_proj, c_fc, attn.c_attn, attn.c_proj, "
                     "mlp.c_fc or mlp.c_proj)",
                     i, s ? s : "(not a string)");
    c->target_modules |= k_targets[k].bits;
  }
  return 0;
}

const char *la_gpt_module_name(int m) {
  return m >= 0 && m < LA_GPT_N_MODULES ? k_targets[m].name : "?";
}

/* Parses "widths": 2..LA_MAX_LAYERS+1 positive integers. */
static int parse_widths(const json_t *v, la_config *c, la_err *err) {
  size_t n = json_array_size(v);
  if (!json_is_array(v) || n < 2 || n > LA_MAX_LAYERS + 1)
    return la_errf(err, LA_EINVAL,
                   "widths: must be an array of 2 to %d integers (input width, "
                   "then each layer's output width)",
                   LA_MAX_LAYERS + 1);
  for (size_t i = 0; i < n; i++) {
    json_t *w = json_array_get(v, i);
    if (!json_is_integer(w) || json_integer_value(w) < 1 ||
        json_integer_value(w) > 2048)
      return la_errf(err, LA_EINVAL,
                     "widths[%zu]: must be an integer in 1..2048", i);
    c->widths[i] = (int)json_integer_value(w);
  }
  c->n_layers = (int)n - 1;
  return 0;
}

/* Parses d_in / d_out of the teacher task (stored in widths[0] / [1]). */
static int parse_dim(const char *name, const json_t *v, la_config *c,
                     la_err *err) {
  if (!json_is_integer(v) || json_integer_value(v) < 1 ||
      json_integer_value(v) > 8192)
    return la_errf(err, LA_EINVAL, "%s: must be an integer in 1..8192", name);
  c->widths[strcmp(name, "d_in") == 0 ? 0 : 1] = (int)json_integer_value(v);
  return 0;
}

/* Dispatches the fields the table cannot describe. */
static int parse_special(const char *name, const json_t *v, la_config *c,
                         la_err *err) {
  if (strcmp(name, "widths") == 0) return parse_widths(v, c, err);
  if (strcmp(name, "npy") == 0)
    return parse_path_object(&k_path_objects[0], v, c, err);
  if (strcmp(name, "gpt") == 0)
    return parse_path_object(&k_path_objects[1], v, c, err);
  if (strcmp(name, "target_modules") == 0) return parse_targets(v, c, err);
  if (strcmp(name, "run_id") == 0) {
    if (!json_is_integer(v) || json_integer_value(v) < 0)
      return la_errf(err, LA_EINVAL, "run_id: must be a non-negative integer");
    c->run_id = json_integer_value(v);
    return 0;
  }
  return parse_dim(name, v, c, err);
}

static const field *find_field(const char *name) {
  for (size_t i = 0; i < N_FIELDS; i++)
    if (strcmp(k_fields[i].name, name) == 0) return &k_fields[i];
  return NULL;
}

/* Checks that every required field was present (pretraining has no
 * adapters: no rank or alpha). */
static int check_required(const json_t *root, la_err *err) {
  int pre = json_is_true(json_object_get(root, "pretrain"));
  for (int i = 0; k_required[i] != NULL; i++)
    if (json_object_get(root, k_required[i]) == NULL &&
        !(pre && (strcmp(k_required[i], "rank") == 0 ||
                  strcmp(k_required[i], "alpha") == 0)))
      return la_errf(err, LA_EINVAL, "%s: required field is missing",
                     k_required[i]);
  return 0;
}

/* Task gpt: the model's shapes come from gpt.base; no shape fields. */
static int check_gpt_shape(const json_t *root, int has_w, int has_d,
                           la_err *err) {
  if (has_d || has_w || json_object_get(root, "npy"))
    return la_errf(err, LA_EINVAL,
                   "%s: not a field of task 'gpt' (shapes come from gpt.base)",
                   has_w   ? "widths"
                   : has_d ? (json_object_get(root, "d_in") ? "d_in" : "d_out")
                           : "npy");
  if (!json_object_get(root, "gpt"))
    return la_errf(err, LA_EINVAL, "gpt: required for task 'gpt'");
  if (!json_object_get(root, "n_head"))
    return la_errf(err, LA_EINVAL, "n_head: required for task 'gpt'");
  return 0;
}

/* Checks the task's shape fields: which are needed and which are forbidden. */
static int check_task_shape(const json_t *root, la_config *c, la_err *err) {
  int has_w = json_object_get(root, "widths") != NULL;
  int has_d = json_object_get(root, "d_in") || json_object_get(root, "d_out");
  int has_npy = json_object_get(root, "npy") != NULL;
  if (c->task == LA_TASK_GPT) return check_gpt_shape(root, has_w, has_d, err);
  if (json_object_get(root, "gpt"))
    return la_errf(err, LA_EINVAL, "gpt: not a field of task '%s'",
                   k_tasks[c->task]);
  if (c->task == LA_TASK_TEACHER) {
    if (has_w || has_npy)
      return la_errf(err, LA_EINVAL,
                     "%s: not a field of task 'teacher' (use d_in and d_out)",
                     has_w ? "widths" : "npy");
    if (!json_object_get(root, "d_in") || !json_object_get(root, "d_out"))
      return la_errf(err, LA_EINVAL, "%s: required for task 'teacher'",
                     json_object_get(root, "d_in") ? "d_out" : "d_in");
    c->n_layers = 1;
  } else if (c->task == LA_TASK_MLP) {
    if (has_d || has_npy)
      return la_errf(
          err, LA_EINVAL, "%s: not a field of task 'mlp' (use widths)",
          has_d ? (json_object_get(root, "d_in") ? "d_in" : "d_out") : "npy");
    if (!has_w)
      return la_errf(err, LA_EINVAL, "widths: required for task 'mlp'");
  } else {
    if (has_d || has_w)
      return la_errf(err, LA_EINVAL,
                     "%s: not a field of task 'npy' (shapes come from npy.w0)",
                     has_w
                         ? "widths"
                         : (json_object_get(root, "d_in") ? "d_in" : "d_out"));
    if (!has_npy)
      return la_errf(err, LA_EINVAL, "npy: required for task 'npy'");
  }
  return 0;
}

/* Checks the npy task's files: which must be given, and in what numbers. */
static int check_npy(la_config *c, la_err *err) {
  if (c->npy_x[0] == 0) return la_errf(err, LA_EINVAL, "npy.x: required");
  if (c->npy_y[0] == 0) return la_errf(err, LA_EINVAL, "npy.y: required");
  if (c->npy_n_w0 == 0)
    return la_errf(err, LA_EINVAL, "npy.w0: required (one file per layer)");
  if ((c->npy_x_eval[0] == 0) != (c->npy_y_eval[0] == 0))
    return la_errf(err, LA_EINVAL,
                   "%s: x_eval and y_eval must be given together",
                   c->npy_x_eval[0] ? "npy.y_eval" : "npy.x_eval");
  if (c->npy_n_a0 != 0 && c->npy_n_a0 != c->npy_n_w0)
    return la_errf(
        err, LA_EINVAL,
        "npy.a0: %d files for %d layers (give one per layer or none)",
        c->npy_n_a0, c->npy_n_w0);
  c->n_layers = c->npy_n_w0;
  return 0;
}

/* Checks the gpt task's files and the fields that go with them. */
static int check_gpt(const json_t *root, la_config *c, la_err *err) {
  int text = c->gpt_text[0] != 0, tokens = c->gpt_tokens[0] != 0;
  if (c->gpt_base[0] == 0)
    return la_errf(err, LA_EINVAL, "gpt.base: required (a safetensors file)");
  if (text == tokens)
    return la_errf(err, LA_EINVAL,
                   "gpt.%s: give one of gpt.text (bytes) and gpt.tokens (a "
                   ".npy of token ids)",
                   text ? "tokens" : "text");
  if (c->gpt_text_eval[0] && !text)
    return la_errf(err, LA_EINVAL,
                   "gpt.text_eval: goes with gpt.text (use gpt.tokens_eval)");
  if (c->gpt_tokens_eval[0] && !tokens)
    return la_errf(err, LA_EINVAL,
                   "gpt.tokens_eval: goes with gpt.tokens (use gpt.text_eval)");
  if (text && json_object_get(root, "vocab_size") && c->vocab_size != 256)
    return la_errf(err, LA_EINVAL,
                   "vocab_size: gpt.text is read as bytes (vocabulary 256)");
  if (tokens && !json_object_get(root, "vocab_size"))
    return la_errf(err, LA_EINVAL, "vocab_size: required with gpt.tokens");
  if (!json_object_get(root, "sharpness")) /* costly: asked for only */
    c->sharpness = 0;
  if (!json_object_get(root, "sharpness_batch")) /* windows, not rows */
    c->sharpness_batch = c->batch;
  if (c->pretrain && c->sharpness)
    return la_errf(err, LA_EINVAL,
                   "sharpness: not measured when pretraining (no adapters)");
  c->loss = LA_LOSS_CE;
  if (c->pretrain) { /* no adapters: values that pass the checks */
    if (c->rank == 0) c->rank = 1;
    if (!(c->alpha > 0)) c->alpha = 1;
  }
  return 0;
}

/* Rank checks that need only the config's widths. */
static int check_ranks(la_config *c, la_err *err) {
  for (int l = 0; l < c->n_layers; l++) {
    int m = c->widths[l] < c->widths[l + 1] ? c->widths[l] : c->widths[l + 1];
    if (c->rank > m)
      return la_errf(err, LA_EINVAL,
                     "rank: %d exceeds min(d_in, d_out) = %d of layer %d",
                     c->rank, m, l);
    if (c->target_rank > m)
      return la_errf(
          err, LA_EINVAL,
          "target_rank: %d exceeds min(d_in, d_out) = %d of layer %d",
          c->target_rank, m, l);
  }
  if (c->batch > c->n_train)
    return la_errf(err, LA_EINVAL, "batch: %d exceeds n_train = %d", c->batch,
                   c->n_train);
  if ((double)c->n_train * c->widths[0] > 2e9)
    return la_errf(
        err, LA_EINVAL,
        "n_train: %d rows of width %d are too large (more than 2e9 values)",
        c->n_train, c->widths[0]);
  if ((double)c->n_eval * c->widths[0] > 2e9)
    return la_errf(
        err, LA_EINVAL,
        "n_eval: %d rows of width %d are too large (more than 2e9 values)",
        c->n_eval, c->widths[0]);
  return 0;
}

/* A stint's bounds: stop_at within the run, resume_at before the stint's
 * stop (docs/worker.md "Stints"). */
static int check_stint(const la_config *c, la_err *err) {
  if (c->stop_at > c->steps)
    return la_errf(err, LA_EINVAL, "stop_at: must be at most steps (%d)",
                   c->steps);
  if (c->stop_at > 0 && c->resume_at >= c->stop_at)
    return la_errf(err, LA_EINVAL, "resume_at: must be below stop_at (%d)",
                   c->stop_at);
  if (c->resume_at >= c->steps)
    return la_errf(err, LA_EINVAL, "resume_at: must be below steps (%d)",
                   c->steps);
  return 0;
}

/* Checks between fields once all are known. */
static int check_cross(const json_t *root, la_config *c, la_err *err) {
  int rc = check_task_shape(root, c, err);
  if (rc) return rc;
  if (c->pretrain && c->task != LA_TASK_GPT)
    return la_errf(err, LA_EINVAL, "pretrain: only for task 'gpt'");
  if (c->task == LA_TASK_NPY) {
    if ((rc = check_npy(c, err))) return rc;
  } else if (c->task == LA_TASK_GPT) {
    if ((rc = check_gpt(root, c, err))) return rc;
  } else if ((rc = check_ranks(c, err))) {
    return rc;
  }
  if (c->warmup_steps > c->steps)
    return la_errf(err, LA_EINVAL, "warmup_steps: %d exceeds steps = %d",
                   c->warmup_steps, c->steps);
  if ((rc = check_stint(c, err))) return rc;
  if (c->loss == LA_LOSS_CE && c->task != LA_TASK_NPY &&
      c->task != LA_TASK_GPT && c->widths[c->n_layers] < 2)
    return la_errf(err, LA_EINVAL,
                   "loss: 'ce' needs at least 2 output classes");
  if (c->noise > 0 && c->loss == LA_LOSS_CE)
    return la_errf(err, LA_EINVAL,
                   "noise: label noise applies to loss 'mse' only");
  return 0;
}

int la_config_parse(const json_t *root, la_config *c, la_err *err) {
  const char *key;
  json_t *val;
  set_defaults(c);
  if (!json_is_object(root))
    return la_errf(err, LA_EINVAL, "config: must be a JSON object");
  json_object_foreach((json_t *)root, key, val) {
    const field *f = find_field(key);
    int rc;
    if (f == NULL) return la_errf(err, LA_EINVAL, "%.64s: unknown field", key);
    rc = f->type == T_SPECIAL ? parse_special(key, val, c, err)
                              : parse_scalar(f, val, c, err);
    if (rc) return rc;
  }
  if (check_required(root, err)) return LA_EINVAL;
  return check_cross(root, c, err);
}

double la_config_scale(const la_config *c) {
  return c->scaling == LA_SCALING_PEFT ? c->alpha / c->rank
                                       : c->alpha / sqrt((double)c->rank);
}

const char *la_act_name(la_act a) {
  return k_acts[a];
}
const char *la_loss_name(la_loss l) {
  return k_losses[l];
}

/* The path object po of c as JSON: its paths that are given, lists as
 * arrays. */
static json_t *paths_to_json(const path_object *po, const la_config *c) {
  json_t *obj = json_object();
  for (size_t i = 0; i < po->n; i++) {
    const path_field *f = &po->fields[i];
    const char *p = (const char *)c + f->off;
    if (!f->list) {
      if (*p) json_object_set_new(obj, f->name, json_string(p));
      continue;
    }
    int n = *(const int *)((const char *)c + f->n_off);
    if (n == 0) continue;
    json_t *a = json_array();
    for (int k = 0; k < n; k++)
      json_array_append_new(a, json_string(p + (size_t)k * LA_PATH_MAX));
    json_object_set_new(obj, f->name, a);
  }
  return obj;
}

/* Adds the task's own shape fields to the effective config object, as the
 * parser takes them back: d_in and d_out (teacher), widths (mlp), the npy
 * object's paths (npy; their shapes come from the files), the gpt object's
 * paths and the target modules (gpt; its shapes are the base's). */
static void shape_to_json(const la_config *c, json_t *o) {
  if (c->task == LA_TASK_TEACHER) {
    json_object_set_new(o, "d_in", json_integer(c->widths[0]));
    json_object_set_new(o, "d_out", json_integer(c->widths[1]));
  } else if (c->task == LA_TASK_MLP) {
    json_t *w = json_array();
    for (int i = 0; i <= c->n_layers; i++)
      json_array_append_new(w, json_integer(c->widths[i]));
    json_object_set_new(o, "widths", w);
  } else if (c->task == LA_TASK_GPT) {
    json_t *w = json_array();
    for (int m = 0; m < LA_GPT_N_MODULES; m++)
      if (c->target_modules & 1u << m)
        json_array_append_new(w, json_string(k_targets[m].name));
    json_object_set_new(o, "target_modules", w);
    json_object_set_new(o, "gpt", paths_to_json(&k_path_objects[1], c));
  } else {
    json_object_set_new(o, "npy", paths_to_json(&k_path_objects[0], c));
  }
}

json_t *la_config_to_json(const la_config *c) {
  json_t *o = json_object();
  if (o == NULL) return NULL;
  for (size_t i = 0; i < N_FIELDS; i++) {
    const field *f = &k_fields[i];
    const char *p = (const char *)c + f->off;
    switch (f->type) {
    case T_ENUM:
      json_object_set_new(o, f->name, json_string(f->names[*(const int *)p]));
      break;
    case T_BOOL:
      json_object_set_new(o, f->name, json_boolean(*(const int *)p));
      break;
    case T_INT:
      json_object_set_new(o, f->name, json_integer(*(const int *)p));
      break;
    case T_U64:
      json_object_set_new(o, f->name,
                          json_integer((json_int_t) * (const uint64_t *)p));
      break;
    case T_DOUBLE:
      json_object_set_new(o, f->name, json_real(*(const double *)p));
      break;
    case T_SPECIAL: break;
    }
  }
  shape_to_json(c, o);
  if (c->run_id >= 0) json_object_set_new(o, "run_id", json_integer(c->run_id));
  return o;
}
