/*
 * spec.c: sweep specs: validation, normalization and expansion (spec.h).
 *
 * A spec is parsed in stages, each reporting the first problem it finds with
 * the field's path: the top level (name, priority, ...), the sections that
 * become worker fields (task, optimizer, schedule, metrics), the grid, the
 * seeds, the run count, then the worker's own validation (la_config_parse)
 * of every distinct rank, alpha and lr. Only then are the worker's defaults
 * filled into the normalized spec and the runs built.
 *
 * A run's config is the normalized spec flattened to worker fields, less
 * the fields whose value is the worker's default (so a spec and its
 * normalized form give identical configs, and 100,000 configs stay small),
 * plus rank, alpha, lr and seed. The configs share their leaf values (JSON
 * numbers, strings) with each other and with the normalized spec by
 * reference count: callers may add or replace keys of a run's config, but
 * must not modify its values in place.
 */
#include "loralpha/spec.h"

#include "loralpha/command.h"
#include "loralpha/config.h"
#include "loralpha/resources.h"
#include "loralpha/search.h"
#include "loralpha/slurm_settings.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUES 10000 /* values of one grid axis */
#define MAX_SEEDS 1000   /* seeds of one sweep */
#define MAX_NAME 128     /* bytes of the name */
#define MAX_DESC 4096    /* bytes of the description */
#define SEED_BITS 53     /* seeds stay exact in a JSON double */
#define RANK_INT_TOL 1e-9

enum { AX_RANK, AX_ALPHA, AX_LR, N_AX };
enum { SEC_TASK, SEC_OPT, SEC_SCHED, SEC_METRICS, N_SEC };

/* A field of an object of the spec: the kinds of its section it applies to
 * (bit k for kind k) and whether the normalized spec fills in the worker's
 * default when it is absent. */
typedef struct sfield {
  const char *name;
  unsigned kinds;
  int fill;
} sfield;

#define K_ALL 0xffu
#define K_SYN ((1u << LA_TASK_TEACHER) | (1u << LA_TASK_MLP))
#define K_LAYERS ((1u << LA_TASK_MLP) | (1u << LA_TASK_NPY))
#define K_NPY (1u << LA_TASK_NPY)
#define K_GPT (1u << LA_TASK_GPT)
#define TASK_COMMAND (LA_TASK_GPT + 1) /* the spec's own task kind */
#define K_CMD (1u << TASK_COMMAND)
#define K_BUILT (K_ALL & ~K_CMD)   /* the worker's tasks */
#define K_DENSE (K_BUILT & ~K_GPT) /* the worker's tasks of dense layers */
/* sfield.fill: 1 for every kind; FILL_NOT_GPT: not for task gpt, whose
 * default follows another field (sharpness_batch: batch) */
#define FILL_NOT_GPT 2
#define K_ADAMW (1u << LA_OPT_ADAMW)
#define K_SGD (1u << LA_OPT_SGD)
#define K_COSINE (1u << LA_LR_COSINE)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const sfield k_top_fields[] = {
    {"name", K_ALL, 0},           {"description", K_ALL, 0},
    {"task", K_ALL, 0},           {"grid", K_ALL, 0},
    {"seeds", K_ALL, 0},          {"seed", K_ALL, 0},
    {"steps", K_ALL, 0},          {"batch", K_ALL, 0},
    {"optimizer", K_ALL, 0},      {"schedule", K_ALL, 0},
    {"scaling", K_ALL, 0},        {"metrics", K_ALL, 0},
    {"diverge_factor", K_ALL, 1}, {"priority", K_ALL, 0},
    {"max_parallel", K_ALL, 0},   {"max_attempts", K_ALL, 0},
    {"window", K_ALL, 0},         {"executor", K_ALL, 0},
    {"slurm", K_ALL, 0},          {"search", K_ALL, 0},
};

static const sfield k_task_fields[] = {
    {"task", K_ALL, 0},          {"d_in", K_DENSE, 0},
    {"d_out", K_DENSE, 0},       {"widths", K_DENSE, 0},
    {"npy", K_DENSE, 0},         {"gpt", K_GPT, 0},
    {"n_head", K_GPT, 0},        {"context", K_GPT, 1},
    {"vocab_size", K_GPT, 0},    {"target_modules", K_GPT, 1},
    {"activation", K_LAYERS, 1}, {"loss", K_DENSE, 1},
    {"n_train", K_SYN, 1},       {"n_eval", K_SYN | K_GPT, 1},
    {"input_decay", K_SYN, 1},   {"target_rank", K_SYN, 1},
    {"target_scale", K_SYN, 1},  {"target_decay", K_SYN, 1},
    {"noise", K_SYN, 1},         {"eval_fraction", K_NPY | K_GPT, 1},
    {"data_seed", K_SYN, 1},     {"command", K_CMD, 0},
    {"params", K_CMD, 0},
};

static const sfield k_opt_fields[] = {
    {"name", K_ALL, 0},         {"beta1", K_ADAMW, 1},
    {"beta2", K_ADAMW, 1},      {"eps", K_ADAMW, 1},
    {"weight_decay", K_ALL, 1}, {"momentum", K_SGD, 1},
    {"nesterov", K_SGD, 1},     {"loraplus_ratio", K_ALL, 1},
};

static const sfield k_sched_fields[] = {
    {"name", K_ALL, 0},
    {"warmup_steps", K_ALL, 1},
    {"min_lr_ratio", K_COSINE, 1},
};

static const sfield k_metric_fields[] = {
    {"log_every", K_ALL, 1},
    {"eval_every", K_ALL, 1},
    {"spectra_every", K_ALL, 1},
    {"sharpness", K_ALL, 1},
    {"sharpness_every", K_ALL, 1},
    {"sharpness_iters", K_ALL, 1},
    {"sharpness_batch", K_ALL, FILL_NOT_GPT},
    {"sharpness_tol", K_ALL, 1},
};

static const sfield k_grid_fields[] = {
    {"rank", K_ALL, 0}, {"alpha", K_ALL, 0}, {"lr", K_ALL, 0}};
static const sfield k_range_fields[] = {
    {"log2", K_ALL, 0}, {"log10", K_ALL, 0}, {"num", K_ALL, 0}};

/* Top-level fields that are worker fields, copied into every config. */
static const char *const k_top_worker[] = {"scaling", "steps", "batch",
                                           "diverge_factor", NULL};
/* Worker fields the daemon sets itself. */
static const char *const k_daemon_fields[] = {"threads", "run_id", NULL};

static const char *const k_task_kinds[] = {"teacher", "mlp",     "npy",
                                           "gpt",     "command", NULL};
static const char *const k_opt_kinds[] = {"adamw", "sgd", NULL};
static const char *const k_lr_schedules[] = {"constant", "cosine", NULL};

/* A section of the spec whose fields become worker fields. */
typedef struct section {
  const char *key;     /* its key in the spec */
  const char *article; /* "a task": for "not a task field" */
  const sfield *fields;
  size_t n_fields;
  const char *const *kinds; /* kind names (worker enum order) or NULL */
  const char *kind_key;     /* the field naming the kind ("task", "name") */
  const char *flat_kind;    /* the worker field the kind becomes */
  int def_kind;             /* kind when the section is absent; -1 required */
  int short_form;           /* the section may be just its kind's name */
} section;

static const section k_sections[N_SEC] = {
    {"task", "a task", k_task_fields, COUNT(k_task_fields), k_task_kinds,
     "task", "task", -1, 0},
    {"optimizer", "an optimizer", k_opt_fields, COUNT(k_opt_fields),
     k_opt_kinds, "name", "optimizer", LA_OPT_ADAMW, 1},
    {"schedule", "a schedule", k_sched_fields, COUNT(k_sched_fields),
     k_lr_schedules, "name", "schedule", LA_LR_CONSTANT, 1},
    {"metrics", "a metrics", k_metric_fields, COUNT(k_metric_fields), NULL,
     NULL, NULL, 0, 0},
};

/* One axis of the grid: its values in grid order (ranks are integers). */
typedef struct axis {
  const char *name;
  double *v;
  size_t n;
} axis;

/* Everything la_spec_parse builds on its way. */
typedef struct builder {
  const json_t *spec; /* borrowed: the input */
  json_t *norm;       /* new: the normalized spec */
  int kind[N_SEC];
  axis ax[N_AX];
  uint64_t *seed_list; /* (n_seeds) listed seeds, or NULL for a count */
  size_t n_seeds;
  uint64_t seed;
  char name[MAX_NAME + 1];
  int priority, max_parallel, max_attempts;
  la_window window;
  uint64_t n_runs;
  json_t *base;     /* new: the flattened config without the grid and seed */
  json_t *defaults; /* new: the worker's defaults, as a config */
  la_config *cfg;   /* scratch for la_config_parse (large: on the heap) */
  const la_spec_limits *lim; /* borrowed */
  la_search search;
} builder;

/* ---- seeds ------------------------------------------------------------- */

/* The splitmix64 step: adds the golden gamma to x and mixes. */
static uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* splitmix64 chained over (sweep_seed, rank, seed_index), 53 bits (spec.h,
 * docs/sweeps.md). */
uint64_t la_spec_run_seed(uint64_t sweep_seed, int rank, int seed_index) {
  uint64_t h = splitmix64(sweep_seed);
  h = splitmix64(h ^ (uint64_t)(uint32_t)rank);
  h = splitmix64(h ^ (uint64_t)(uint32_t)seed_index);
  return h & ((UINT64_C(1) << SEED_BITS) - 1);
}

/* The default limits (spec.h). */
void la_spec_limits_default(la_spec_limits *lim) {
  lim->max_runs = 100000;
  lim->max_run_memory = 0;
  lim->max_run_rows = 1000000;
  lim->max_sweep_rows = 250000000;
  lim->slurm = NULL;
}

/* ---- field tables and unknown fields ------------------------------------ */

/* The entry of table f (n entries) named name, or NULL. */
static const sfield *find_sfield(const sfield *f, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0) return &f[i];
  return NULL;
}

/* Whether name is in the NULL-terminated list. */
static int in_list(const char *const *list, const char *name) {
  for (int i = 0; list[i] != NULL; i++)
    if (strcmp(list[i], name) == 0) return 1;
  return 0;
}

/* Where a field belongs when it was given in the wrong place: writes a hint
 * ("rank belongs in grid.rank") into buf, or returns 0 if it is unknown. */
static int where_is(const char *key, char *buf, size_t n) {
  if (find_sfield(k_grid_fields, COUNT(k_grid_fields), key))
    return snprintf(buf, n, "%s belongs in grid.%s", key, key), 1;
  if (in_list(k_daemon_fields, key))
    return snprintf(buf, n, "%s is set by the daemon", key), 1;
  for (int s = 0; s < N_SEC; s++) {
    const sfield *f =
        find_sfield(k_sections[s].fields, k_sections[s].n_fields, key);
    if (f != NULL && strcmp(key, "name") != 0 &&
        strcmp(key, k_sections[s].key) != 0)
      return snprintf(buf, n, "%s belongs in %s", key, k_sections[s].key), 1;
  }
  if (find_sfield(k_top_fields, COUNT(k_top_fields), key))
    return snprintf(buf, n, "%s is a top-level field", key), 1;
  return 0;
}

/* The error for key of the object at path (prefix "task." or "") that is
 * not in table f: with where it belongs, or the fields that are expected. */
static int unknown_field(const char *prefix, const char *article,
                         const char *key, const sfield *f, size_t n,
                         la_err *err) {
  char hint[320] = "expected ";
  if (!where_is(key, hint, sizeof hint)) {
    for (size_t i = 0; i < n; i++) {
      size_t used = strlen(hint);
      snprintf(hint + used, sizeof hint - used, "%s%s", i ? ", " : "",
               f[i].name);
    }
  }
  return la_errf(err, LA_EINVAL, "%s%.64s: not %s field (%s)", prefix, key,
                 article, hint);
}

/* Rejects a key of len bytes with a NUL byte inside (it would read as a
 * shorter, known, field name). */
static int check_key_bytes(const char *prefix, const char *key, size_t len,
                           la_err *err) {
  if (strlen(key) == len) return 0;
  return la_errf(err, LA_EINVAL, "%s%.64s: field name contains a NUL byte",
                 prefix, key);
}

/* Checks that every key of obj (borrowed) is in table f. */
static int check_keys(const json_t *obj, const char *prefix,
                      const char *article, const sfield *f, size_t n,
                      la_err *err) {
  const char *key;
  size_t len;
  json_t *val;
  json_object_keylen_foreach((json_t *)obj, key, len, val) {
    if (check_key_bytes(prefix, key, len, err)) return LA_EINVAL;
    if (find_sfield(f, n, key) == NULL)
      return unknown_field(prefix, article, key, f, n, err);
  }
  return 0;
}

/* ---- top-level fields --------------------------------------------------- */

/* Checks that text (n bytes) has no control characters: C0, DEL and the
 * UTF-8 encoded C1 range; lines allows tab, newline and carriage return. */
static int check_text(const char *path, const char *s, size_t n, int lines,
                      la_err *err) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    unsigned char next = i + 1 < n ? (unsigned char)s[i + 1] : 0;
    int ctl =
        c < 0x20 || c == 0x7f || (c == 0xc2 && next >= 0x80 && next <= 0x9f);
    if (ctl && !(lines && (c == '\t' || c == '\n' || c == '\r')))
      return la_errf(err, LA_EINVAL,
                     "%s: contains a control character (byte %zu)", path, i);
  }
  return 0;
}

/* Parses "name": a printable string of 1..128 bytes. */
static int parse_name(builder *b, la_err *err) {
  const json_t *v = json_object_get(b->spec, "name");
  if (v == NULL)
    return la_errf(err, LA_EINVAL, "name: required field is missing");
  if (!json_is_string(v))
    return la_errf(err, LA_EINVAL, "name: must be a string");
  size_t n = json_string_length(v);
  if (n == 0) return la_errf(err, LA_EINVAL, "name: must not be empty");
  if (n > MAX_NAME)
    return la_errf(err, LA_EINVAL, "name: %zu bytes is too long (at most %d)",
                   n, MAX_NAME);
  if (check_text("name", json_string_value(v), n, 0, err)) return LA_EINVAL;
  memcpy(b->name, json_string_value(v), n);
  b->name[n] = 0;
  /* new value, stolen by the normalized spec */
  if (json_object_set_new(b->norm, "name", json_stringn(b->name, n)))
    return la_errf(err, LA_ENOMEM, "name: out of memory");
  return 0;
}

/* Parses the optional "description": up to 4096 bytes of text. */
static int parse_description(builder *b, la_err *err) {
  const json_t *v = json_object_get(b->spec, "description");
  if (v == NULL) return 0;
  if (!json_is_string(v))
    return la_errf(err, LA_EINVAL, "description: must be a string");
  size_t n = json_string_length(v);
  if (n > MAX_DESC)
    return la_errf(err, LA_EINVAL,
                   "description: %zu bytes is too long (at most %d)", n,
                   MAX_DESC);
  if (check_text("description", json_string_value(v), n, 1, err))
    return LA_EINVAL;
  if (json_object_set_new(b->norm, "description", json_deep_copy(v)))
    return la_errf(err, LA_ENOMEM, "description: out of memory");
  return 0;
}

/* Parses an optional integer field in lo..hi (default def) into *out. */
static int parse_int(builder *b, const char *key, int lo, int hi, int def,
                     int *out, la_err *err) {
  const json_t *v = json_object_get(b->spec, key);
  *out = def;
  if (v != NULL) {
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi)
      return la_errf(err, LA_EINVAL, "%s: must be an integer in %d..%d", key,
                     lo, hi);
    *out = (int)json_integer_value(v);
  }
  if (json_object_set_new(b->norm, key, json_integer(*out)))
    return la_errf(err, LA_ENOMEM, "%s: out of memory", key);
  return 0;
}

/* Reads a seed: a JSON integer in 0 .. 2^53 - 1. */
static int parse_u53(const json_t *v, const char *path, uint64_t *out,
                     la_err *err) {
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) >= ((json_int_t)1 << SEED_BITS))
    return la_errf(err, LA_EINVAL,
                   "%s: must be an integer in 0 .. 2^53 - 1 "
                   "(9007199254740991)",
                   path);
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

/* Parses "seed", the sweep seed (default 0). */
static int parse_sweep_seed(builder *b, la_err *err) {
  const json_t *v = json_object_get(b->spec, "seed");
  b->seed = 0;
  if (v != NULL && parse_u53(v, "seed", &b->seed, err)) return LA_EINVAL;
  if (json_object_set_new(b->norm, "seed", json_integer((json_int_t)b->seed)))
    return la_errf(err, LA_ENOMEM, "seed: out of memory");
  return 0;
}

/* Copies the top-level worker fields (steps, batch, scaling,
 * diverge_factor) into the normalized spec with their sweep defaults; the
 * worker checks their values later. */
static int parse_top_worker(builder *b, la_err *err) {
  for (int i = 0; k_top_worker[i] != NULL; i++) {
    const char *key = k_top_worker[i];
    const json_t *v = json_object_get(b->spec, key);
    json_t *nv; /* new */
    if (v != NULL)
      nv = json_deep_copy(v);
    else if (strcmp(key, "steps") == 0)
      return la_errf(err, LA_EINVAL, "steps: required field is missing");
    else if (strcmp(key, "batch") == 0)
      nv = json_integer(64);
    else if (strcmp(key, "scaling") == 0)
      nv = json_string("peft");
    else
      continue; /* diverge_factor: the worker's default, filled later */
    if (json_object_set_new(b->norm, key, nv))
      return la_errf(err, LA_ENOMEM, "%s: out of memory", key);
  }
  return 0;
}

/* The optional start window (window.h). */
static int parse_window(builder *b, la_err *err) {
  const json_t *v = json_object_get(b->spec, "window");
  int rc = la_window_from_json(v, "window", &b->window, err);
  if (rc == 0 && b->window.enabled &&
      json_object_set_new(b->norm, "window", la_window_to_json(&b->window)))
    return la_errf(err, LA_ENOMEM, "window: out of memory");
  return rc;
}

/* Parses the fields of the top level that are not sections or the grid. */
static int parse_top(builder *b, const la_spec_limits *lim, la_err *err) {
  if (!json_is_object(b->spec))
    return la_errf(err, LA_EINVAL, "spec: must be a JSON object");
  int rc = check_keys(b->spec, "", "a sweep spec", k_top_fields,
                      COUNT(k_top_fields), err);
  if (!rc) rc = parse_name(b, err);
  if (!rc) rc = parse_description(b, err);
  if (!rc) rc = parse_int(b, "priority", -1000, 1000, 0, &b->priority, err);
  if (!rc) rc = parse_int(b, "max_parallel", 0, 1024, 0, &b->max_parallel, err);
  if (!rc) rc = parse_int(b, "max_attempts", 1, 10, 2, &b->max_attempts, err);
  if (!rc) rc = parse_window(b, err);
  if (!rc) rc = parse_sweep_seed(b, err);
  if (!rc) rc = parse_top_worker(b, err);
  if (!rc) rc = la_slurm_spec_parse(b->spec, b->norm, lim->slurm, err);
  return rc;
}

/* ---- sections: task, optimizer, schedule, metrics ----------------------- */

/* Reads the kind name v (borrowed) of section s at path into *kind and sets
 * it in out. */
static int parse_kind(const section *s, const json_t *v, const char *path,
                      json_t *out, int *kind, la_err *err) {
  char names[96] = "";
  const char *name = json_string_value(v);
  for (int i = 0; s->kinds[i] != NULL; i++) {
    if (name != NULL && strcmp(name, s->kinds[i]) == 0) {
      *kind = i;
      if (json_object_set_new(out, s->kind_key, json_string(name)))
        return la_errf(err, LA_ENOMEM, "%s: out of memory", path);
      return 0;
    }
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s'%s'", i ? ", " : "",
             s->kinds[i]);
  }
  if (name == NULL)
    return la_errf(err, LA_EINVAL, "%s: must be a string (one of %s)", path,
                   names);
  return la_errf(err, LA_EINVAL, "%s: unknown %s '%.64s' (expected one of %s)",
                 path, s->key, name, names);
}

/* Checks the keys of section object v against the section's table and its
 * kind: unknown fields, and fields that do not apply to the kind. */
static int check_section_keys(const section *s, const json_t *v, int kind,
                              la_err *err) {
  char prefix[32];
  const char *key;
  size_t len;
  json_t *val;
  snprintf(prefix, sizeof prefix, "%s.", s->key);
  json_object_keylen_foreach((json_t *)v, key, len, val) {
    const sfield *f = find_sfield(s->fields, s->n_fields, key);
    if (check_key_bytes(prefix, key, len, err)) return LA_EINVAL;
    if (f == NULL)
      return unknown_field(prefix, s->article, key, s->fields, s->n_fields,
                           err);
    if (!(f->kinds & (1u << kind)))
      return la_errf(err, LA_EINVAL, "%s.%s: does not apply to %s '%s'", s->key,
                     key, s->key, s->kinds[kind]);
  }
  return 0;
}

/* Parses section object v (borrowed) into out: its kind, then copies of its
 * fields in table order. */
static int parse_section_object(const section *s, const json_t *v, json_t *out,
                                int *kind, la_err *err) {
  char path[48];
  int rc;
  *kind = 0;
  if (s->kinds != NULL) {
    const json_t *k = json_object_get(v, s->kind_key);
    snprintf(path, sizeof path, "%s.%s", s->key, s->kind_key);
    if (k == NULL)
      return la_errf(err, LA_EINVAL, "%s: required field is missing", path);
    if ((rc = parse_kind(s, k, path, out, kind, err))) return rc;
  }
  if (check_section_keys(s, v, *kind, err)) return LA_EINVAL;
  for (size_t i = 0; i < s->n_fields; i++) {
    const json_t *fv = json_object_get(v, s->fields[i].name);
    if (fv == NULL || json_object_get(out, s->fields[i].name)) continue;
    /* new copy, stolen by out */
    if (json_object_set_new(out, s->fields[i].name, json_deep_copy(fv)))
      return la_errf(err, LA_ENOMEM, "%s: out of memory", s->key);
  }
  return 0;
}

/* Parses section si of the spec into the normalized spec (its given fields
 * only; the worker's defaults are filled in later). */
static int parse_section(builder *b, int si, la_err *err) {
  const section *s = &k_sections[si];
  const json_t *v = json_object_get(b->spec, s->key);
  json_t *out = json_object(); /* new */
  int rc;
  if (out == NULL) return la_errf(err, LA_ENOMEM, "%s: out of memory", s->key);
  b->kind[si] = s->def_kind < 0 ? 0 : s->def_kind;
  if (v == NULL && s->def_kind < 0)
    rc = la_errf(err, LA_EINVAL, "%s: required field is missing", s->key);
  else if (v == NULL && s->kinds != NULL)
    rc = json_object_set_new(out, s->kind_key,
                             json_string(s->kinds[s->def_kind]))
             ? la_errf(err, LA_ENOMEM, "%s: out of memory", s->key)
             : 0;
  else if (v == NULL)
    rc = 0;
  else if (json_is_string(v) && s->short_form)
    rc = parse_kind(s, v, s->key, out, &b->kind[si], err);
  else if (json_is_object(v))
    rc = parse_section_object(s, v, out, &b->kind[si], err);
  else
    rc = la_errf(err, LA_EINVAL, "%s: must be %s", s->key,
                 s->short_form ? "a name or an object" : "an object");
  if (rc == 0 && json_object_set(b->norm, s->key, out))
    rc = la_errf(err, LA_ENOMEM, "%s: out of memory", s->key);
  json_decref(out);
  return rc;
}

/* ---- the grid ----------------------------------------------------------- */

/* Reads value i of a listed axis into ax->v[i]: a positive integer (rank)
 * or a finite positive number (alpha, lr); upper bounds are the worker's. */
static int list_value(axis *ax, size_t i, const json_t *v, la_err *err) {
  if (strcmp(ax->name, "rank") != 0) {
    if (!json_is_number(v))
      return la_errf(err, LA_EINVAL, "grid.%s[%zu]: must be a number", ax->name,
                     i);
    double x = json_number_value(v);
    if (!isfinite(x) || !(x > 0))
      return la_errf(err, LA_EINVAL, "grid.%s[%zu]: must be > 0 (got %g)",
                     ax->name, i, x);
    ax->v[i] = x;
    return 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 1)
    return la_errf(err, LA_EINVAL, "grid.rank[%zu]: must be a positive integer",
                   i);
  if (json_integer_value(v) > LA_MAX_WIDTH)
    return la_errf(err, LA_EINVAL,
                   "grid.rank[%zu]: %lld is above the maximum %d", i,
                   (long long)json_integer_value(v), LA_MAX_WIDTH);
  ax->v[i] = (double)json_integer_value(v);
  return 0;
}

/* Parses a listed axis: a non-empty array of up to 10000 values. */
static int parse_axis_list(axis *ax, const json_t *v, la_err *err) {
  size_t n = json_array_size(v);
  if (n == 0)
    return la_errf(err, LA_EINVAL, "grid.%s: must not be empty", ax->name);
  if (n > MAX_VALUES)
    return la_errf(err, LA_EINVAL, "grid.%s: %zu values, at most %d", ax->name,
                   n, MAX_VALUES);
  ax->v = malloc(n * sizeof *ax->v);
  if (ax->v == NULL)
    return la_errf(err, LA_ENOMEM, "grid.%s: out of memory", ax->name);
  ax->n = n;
  for (size_t i = 0; i < n; i++)
    if (list_value(ax, i, json_array_get(v, i), err)) return LA_EINVAL;
  return 0;
}

/* A log-spaced range as given: base, exponents lo..hi and num values. */
typedef struct range {
  const char *key; /* "log2" or "log10" */
  double base, lo, hi;
  size_t num;
} range;

/* Reads the base and the exponent bounds [lo, hi] of range object o. */
static int range_bounds(const axis *ax, const json_t *o, range *r,
                        la_err *err) {
  const json_t *l2 = json_object_get(o, "log2"),
               *l10 = json_object_get(o, "log10");
  if ((l2 == NULL) == (l10 == NULL))
    return la_errf(err, LA_EINVAL,
                   "grid.%s: a range needs exactly one of log2 and log10 "
                   "(and num)",
                   ax->name);
  const json_t *b = l2 ? l2 : l10;
  r->key = l2 ? "log2" : "log10";
  r->base = l2 ? 2.0 : 10.0;
  if (!json_is_array(b) || json_array_size(b) != 2 ||
      !json_is_number(json_array_get(b, 0)) ||
      !json_is_number(json_array_get(b, 1)))
    return la_errf(err, LA_EINVAL, "grid.%s.%s: must be [lo, hi], two numbers",
                   ax->name, r->key);
  r->lo = json_number_value(json_array_get(b, 0));
  r->hi = json_number_value(json_array_get(b, 1));
  if (!isfinite(r->lo) || !isfinite(r->hi))
    return la_errf(err, LA_EINVAL, "grid.%s.%s: bounds must be finite",
                   ax->name, r->key);
  if (r->lo > r->hi)
    return la_errf(err, LA_EINVAL, "grid.%s.%s: lo %g is above hi %g", ax->name,
                   r->key, r->lo, r->hi);
  return 0;
}

/* Reads "num" of range object o and checks it against the bounds. */
static int range_num(const axis *ax, const json_t *o, range *r, la_err *err) {
  const json_t *n = json_object_get(o, "num");
  if (n == NULL)
    return la_errf(err, LA_EINVAL, "grid.%s.num: required field is missing",
                   ax->name);
  if (!json_is_integer(n) || json_integer_value(n) < 1 ||
      json_integer_value(n) > MAX_VALUES)
    return la_errf(err, LA_EINVAL, "grid.%s.num: must be an integer in 1..%d",
                   ax->name, MAX_VALUES);
  r->num = (size_t)json_integer_value(n);
  if (r->num == 1 && r->lo != r->hi)
    return la_errf(err, LA_EINVAL,
                   "grid.%s.num: 1 value needs lo == hi (got [%g, %g])",
                   ax->name, r->lo, r->hi);
  return 0;
}

/* Rounds value i (x = base^e) of a rank range to an integer in *out. */
static int range_rank(const range *r, size_t i, double e, double x, double *out,
                      la_err *err) {
  double k = round(x);
  if (fabs(x - k) > RANK_INT_TOL * fabs(x) || k < 1)
    return la_errf(err, LA_EINVAL,
                   "grid.rank[%zu]: %.10g (%g^%.10g) is not an integer", i, x,
                   r->base, e);
  if (k > LA_MAX_WIDTH)
    return la_errf(err, LA_EINVAL,
                   "grid.rank[%zu]: %.0f is above the maximum %d", i, k,
                   LA_MAX_WIDTH);
  *out = k;
  return 0;
}

/* base^e, exact where it can be: integer exponents give the double nearest
 * to the power (10^-3 is 0.001 as written, which pow need not give). */
static double range_pow(double base, double e) {
  if (e != floor(e)) return pow(base, e);
  if (base == 2.0 && fabs(e) < 1000) return ldexp(1.0, (int)e);
  if (base == 10.0 && fabs(e) <= 22) { /* 10^22 is the last exact power */
    double p = 1;
    for (int k = 0; k < (int)fabs(e); k++)
      p *= 10;
    return e < 0 ? 1 / p : p; /* one correctly rounded division */
  }
  return pow(base, e);
}

/* Fills the axis with the range's values base^(lo + i (hi - lo)/(num - 1)),
 * the last exactly base^hi. */
static int range_values(axis *ax, const range *r, la_err *err) {
  int is_rank = strcmp(ax->name, "rank") == 0;
  ax->v = malloc(r->num * sizeof *ax->v);
  if (ax->v == NULL)
    return la_errf(err, LA_ENOMEM, "grid.%s: out of memory", ax->name);
  ax->n = r->num;
  for (size_t i = 0; i < r->num; i++) {
    double e = i + 1 == r->num
                   ? r->hi
                   : r->lo + (double)i * (r->hi - r->lo) / (double)(r->num - 1);
    double x = range_pow(r->base, e);
    if (!isfinite(x) || !(x > 0))
      return la_errf(err, LA_EINVAL,
                     "grid.%s[%zu]: %g^%g is out of range (not a finite "
                     "positive number)",
                     ax->name, i, r->base, e);
    if (is_rank) {
      if (range_rank(r, i, e, x, &ax->v[i], err)) return LA_EINVAL;
    } else {
      ax->v[i] = x;
    }
  }
  return 0;
}

/* Parses a range object {"log2"|"log10": [lo, hi], "num": n}. */
static int parse_axis_range(axis *ax, const json_t *o, la_err *err) {
  char prefix[32];
  range r = {0};
  snprintf(prefix, sizeof prefix, "grid.%s.", ax->name);
  if (check_keys(o, prefix, "a range", k_range_fields, COUNT(k_range_fields),
                 err))
    return LA_EINVAL;
  if (range_bounds(ax, o, &r, err) || range_num(ax, o, &r, err))
    return LA_EINVAL;
  return range_values(ax, &r, err);
}

/* A value and its index, for finding duplicates. */
typedef struct ival {
  double v;
  size_t i;
} ival;

/* Orders by value, then by index. */
static int cmp_ival(const void *pa, const void *pb) {
  const ival *a = pa, *b = pb;
  if (a->v != b->v) return a->v < b->v ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

/* Rejects repeated values of v (n) at path, naming the first repeat in
 * list order and the value it repeats. */
static int check_duplicates(const double *v, size_t n, const char *path,
                            la_err *err) {
  ival *s = malloc((n ? n : 1) * sizeof *s);
  size_t first = n, of = 0;
  if (s == NULL) return la_errf(err, LA_ENOMEM, "%s: out of memory", path);
  for (size_t i = 0; i < n; i++)
    s[i] = (ival){v[i], i};
  qsort(s, n, sizeof *s, cmp_ival);
  for (size_t k = 1; k < n; k++) {
    if (s[k].v == s[k - 1].v && s[k].i < first) {
      first = s[k].i;
      of = s[k - 1].i;
    }
  }
  free(s);
  if (first == n) return 0;
  return la_errf(err, LA_EINVAL, "%s[%zu]: duplicate of %s[%zu] (%.10g)", path,
                 first, path, of, v[first]);
}

/* Parses one axis of the grid (a list or a range), then rejects repeats. */
static int parse_axis(axis *ax, const json_t *grid, la_err *err) {
  char path[32];
  const json_t *v = json_object_get(grid, ax->name);
  int rc;
  if (v == NULL)
    return la_errf(err, LA_EINVAL, "grid.%s: required field is missing",
                   ax->name);
  if (json_is_array(v))
    rc = parse_axis_list(ax, v, err);
  else if (json_is_object(v))
    rc = parse_axis_range(ax, v, err);
  else
    rc = la_errf(err, LA_EINVAL,
                 "grid.%s: must be a list of values or a range "
                 "{\"log2\": [lo, hi], \"num\": n}",
                 ax->name);
  if (rc) return rc;
  snprintf(path, sizeof path, "grid.%s", ax->name);
  return check_duplicates(ax->v, ax->n, path, err);
}

/* Parses "grid": rank, alpha and lr; kept in the normalized spec as given. */
static int parse_grid(builder *b, la_err *err) {
  const json_t *g = json_object_get(b->spec, "grid");
  if (g == NULL)
    return la_errf(err, LA_EINVAL, "grid: required field is missing");
  if (!json_is_object(g))
    return la_errf(err, LA_EINVAL,
                   "grid: must be an object with rank, alpha and lr");
  if (check_keys(g, "grid.", "a grid", k_grid_fields, COUNT(k_grid_fields),
                 err))
    return LA_EINVAL;
  for (int a = 0; a < N_AX; a++) {
    int rc = parse_axis(&b->ax[a], g, err);
    if (rc) return rc;
  }
  if (json_object_set_new(b->norm, "grid", json_deep_copy(g)))
    return la_errf(err, LA_ENOMEM, "grid: out of memory");
  return 0;
}

/* The optional search along alpha (search.h), against the grid's alphas;
 * the normalized spec gets it with every field when the spec has it. */
static int parse_search(builder *b, la_err *err) {
  const json_t *v = json_object_get(b->spec, "search");
  const axis *ax = &b->ax[AX_ALPHA];
  int rc = la_search_parse(v, ax->v, ax->n, &b->search, err);
  if (rc == 0 && b->search.kind == LA_SEARCH_LAW &&
      (size_t)b->search.law_ranks >= b->ax[AX_RANK].n)
    return la_errf(err, LA_EINVAL,
                   "search.law_ranks: %d is not fewer than the grid's %zu "
                   "ranks (the law measures that many and predicts the rest)",
                   b->search.law_ranks, b->ax[AX_RANK].n);
  if (rc == 0 && v != NULL &&
      json_object_set_new(b->norm, "search", la_search_to_json(&b->search)))
    rc = la_errf(err, LA_ENOMEM, "search: out of memory");
  return rc;
}

/* halving's rungs against the runs' steps (in the normalized spec): each
 * at a step of its own, in 1 .. steps - 1. */
static int check_rungs(builder *b, la_err *err) {
  const la_search *s = &b->search;
  json_int_t steps = json_integer_value(json_object_get(b->norm, "steps"));
  long last = 0;
  if (s->kind != LA_SEARCH_HALVING) return 0;
  for (int k = 0; k < s->n_rungs; k++) {
    long st = lround(s->rungs[k] * (double)steps);
    if (st < 1 || st >= steps || st <= last)
      return la_errf(err, LA_EINVAL,
                     "search.rungs[%d]: %g of %lld steps is step %ld, %s", k,
                     s->rungs[k], (long long)steps, st,
                     st < 1        ? "before the first step"
                     : st >= steps ? "not before the end"
                                   : "not after the rung before it");
    last = st;
  }
  return 0;
}

/* ---- seeds and the run count -------------------------------------------- */

/* Parses a list of seeds: distinct integers in 0 .. 2^53 - 1. */
static int parse_seed_list(builder *b, const json_t *v, la_err *err) {
  char path[32];
  size_t n = json_array_size(v);
  double *d = NULL;
  int rc = 0;
  if (n == 0) return la_errf(err, LA_EINVAL, "seeds: must not be empty");
  if (n > MAX_SEEDS)
    return la_errf(err, LA_EINVAL, "seeds: %zu seeds, at most %d", n,
                   MAX_SEEDS);
  b->seed_list = malloc(n * sizeof *b->seed_list);
  d = malloc(n * sizeof *d);
  if (b->seed_list == NULL || d == NULL) {
    rc = la_errf(err, LA_ENOMEM, "seeds: out of memory");
    goto cleanup;
  }
  b->n_seeds = n;
  for (size_t i = 0; i < n && rc == 0; i++) {
    snprintf(path, sizeof path, "seeds[%zu]", i);
    rc = parse_u53(json_array_get(v, i), path, &b->seed_list[i], err);
    d[i] = (double)b->seed_list[i]; /* exact below 2^53 */
  }
  if (rc == 0) rc = check_duplicates(d, n, "seeds", err);
cleanup:
  free(d);
  return rc;
}

/* Parses "seeds": a count 1..1000 (default 1) or a list of seeds. */
static int parse_seeds(builder *b, la_err *err) {
  const json_t *v = json_object_get(b->spec, "seeds");
  json_t *nv; /* new */
  b->n_seeds = 1;
  if (v != NULL && json_is_array(v)) {
    int rc = parse_seed_list(b, v, err);
    if (rc) return rc;
  } else if (v != NULL) {
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > MAX_SEEDS)
      return la_errf(err, LA_EINVAL,
                     "seeds: must be a count in 1..%d or a list of distinct "
                     "seeds",
                     MAX_SEEDS);
    b->n_seeds = (size_t)json_integer_value(v);
  }
  nv = v != NULL ? json_deep_copy(v) : json_integer(1);
  if (json_object_set_new(b->norm, "seeds", nv))
    return la_errf(err, LA_ENOMEM, "seeds: out of memory");
  return 0;
}

/* Checks the number of runs against the limit, before anything is built. */
static int check_run_count(builder *b, const la_spec_limits *lim, la_err *err) {
  const axis *ax = b->ax;
  uint64_t n = (uint64_t)ax[AX_RANK].n * ax[AX_ALPHA].n * ax[AX_LR].n;
  b->n_runs = n * b->n_seeds; /* at most 10^12 * 1000: no overflow */
  if (b->n_runs > lim->max_runs)
    return la_errf(err, LA_EINVAL,
                   "grid: %zu x %zu x %zu ranks/alphas/lrs x %zu seeds = %llu "
                   "runs exceeds the maximum of %zu",
                   ax[AX_RANK].n, ax[AX_ALPHA].n, ax[AX_LR].n, b->n_seeds,
                   (unsigned long long)b->n_runs, lim->max_runs);
  /* a search adds runs: the most it may reach counts too */
  n = (uint64_t)ax[AX_RANK].n * ax[AX_LR].n * (uint64_t)b->search.max_points *
      b->n_seeds;
  if (b->search.kind == LA_SEARCH_GRID || b->search.kind == LA_SEARCH_HALVING ||
      n <= lim->max_runs)
    return 0; /* halving adds no run */
  return la_errf(err, LA_EINVAL,
                 "search.max_points: %zu x %zu ranks/lrs x %d alphas at most "
                 "x %zu seeds = %llu runs may exceed the maximum of %zu",
                 ax[AX_RANK].n, ax[AX_LR].n, b->search.max_points, b->n_seeds,
                 (unsigned long long)n, lim->max_runs);
}

/* The worker seed of the runs of rank with seed index si. */
static uint64_t run_seed(const builder *b, int rank, size_t si) {
  if (b->seed_list != NULL) return b->seed_list[si];
  return la_spec_run_seed(b->seed, rank, (int)si);
}

/* ---- worker configs ----------------------------------------------------- */

/* Does field f have a worker default, for a sweep of task kind task? */
static int has_fill(const sfield *f, int task) {
  return f->fill == 1 || (f->fill == FILL_NOT_GPT && task != LA_TASK_GPT);
}

/* Whether field f (NULL: not a table field) with value v may be left out
 * of the configs: it has a worker default and v equals it (defs: the
 * worker's defaults; NULL keeps every field). */
static int is_default(const sfield *f, const char *name, const json_t *v,
                      const json_t *defs, int task) {
  return defs != NULL && f != NULL && has_fill(f, task) &&
         json_equal(v, json_object_get(defs, name));
}

/* Adds the fields of section object sec (borrowed) to cfg under their
 * worker names (the kind field becomes the section's worker field), but
 * none that is_default leaves out. */
static int flatten_section(json_t *cfg, const section *s, const json_t *sec,
                           const json_t *defs, int task) {
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)sec, key, val) {
    const sfield *f = find_sfield(s->fields, s->n_fields, key);
    const char *name =
        s->kind_key && strcmp(key, s->kind_key) == 0 ? s->flat_kind : key;
    if (is_default(f, name, val, defs, task)) continue;
    if (json_object_set(cfg, name, val)) return LA_ENOMEM; /* borrowed */
  }
  return 0;
}

/* Flattens the normalized spec into a worker config without rank, alpha,
 * lr and seed: a new object in b->base (leaf values shared with norm).
 * With defs, fields equal to the worker's defaults are left out, so the
 * configs are the same whether the defaults were written or not. */
static int flatten(builder *b, const json_t *defs, la_err *err) {
  json_decref(b->base);
  b->base = json_object();
  if (b->base == NULL) return la_errf(err, LA_ENOMEM, "spec: out of memory");
  for (int s = 0; s < N_SEC; s++) {
    const json_t *sec = json_object_get(b->norm, k_sections[s].key);
    if (sec != NULL &&
        flatten_section(b->base, &k_sections[s], sec, defs, b->kind[SEC_TASK]))
      return la_errf(err, LA_ENOMEM, "spec: out of memory");
  }
  for (int i = 0; k_top_worker[i] != NULL; i++) {
    const char *key = k_top_worker[i];
    const sfield *f = find_sfield(k_top_fields, COUNT(k_top_fields), key);
    json_t *v = json_object_get(b->norm, key); /* borrowed */
    if (v == NULL || is_default(f, key, v, defs, b->kind[SEC_TASK])) continue;
    if (json_object_set(b->base, key, v))
      return la_errf(err, LA_ENOMEM, "spec: out of memory");
  }
  return 0;
}

/* The section whose table holds worker field name (its kind fields are
 * named by the worker as the section), or NULL for top-level fields. */
static const char *section_of(const char *name) {
  for (int s = 0; s < N_SEC; s++) {
    const section *sec = &k_sections[s];
    const sfield *f = find_sfield(sec->fields, sec->n_fields, name);
    if (f != NULL && (sec->kind_key == NULL || strcmp(name, sec->kind_key)))
      return sec->key;
  }
  return strcmp(name, "task") == 0 ? "task" : NULL;
}

/* Rewrites the worker's error msg ("<field>: ...") with the field's spec
 * path; idx holds the grid indices of the values that were checked. */
static int map_error(const builder *b, const char *msg, const size_t idx[N_AX],
                     la_err *err) {
  char name[40];
  size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz0123456789_");
  if (n == 0 || n >= sizeof name) return la_errf(err, LA_EINVAL, "%s", msg);
  memcpy(name, msg, n);
  name[n] = 0;
  for (int a = 0; a < N_AX; a++)
    if (strcmp(name, b->ax[a].name) == 0)
      return la_errf(err, LA_EINVAL, "grid.%s[%zu]%s", name, idx[a], msg + n);
  if (strcmp(name, "seed") == 0 && b->seed_list != NULL)
    return la_errf(err, LA_EINVAL, "seeds[0]%s", msg + n);
  const char *sec = section_of(name);
  if (sec != NULL) return la_errf(err, LA_EINVAL, "%s.%s", sec, msg);
  return la_errf(err, LA_EINVAL, "%s", msg);
}

/* Checks one run's config (b->cfg) against the memory and row limits; the
 * error names the worker field that drives the figure. */
static int check_resources(const builder *b, la_err *err) {
  const la_spec_limits *lim = b->lim;
  la_mem_estimate est;
  const char *field;
  uint64_t rows = la_config_rows(b->cfg, &field);
  la_config_memory(b->cfg, &est);
  if (lim->max_run_memory && est.bytes > lim->max_run_memory)
    return la_errf(err, LA_EINVAL,
                   "%s: a run of rank %d needs about %llu MiB, more than "
                   "the daemon's max_run_memory of %llu MiB per run",
                   est.field, b->cfg->rank,
                   (unsigned long long)(est.bytes >> 20),
                   (unsigned long long)(lim->max_run_memory >> 20));
  if (lim->max_run_rows && rows > lim->max_run_rows)
    return la_errf(err, LA_EINVAL,
                   "%s: %d steps log up to %llu metric rows per run, more "
                   "than the daemon's max_run_rows of %llu",
                   field, b->cfg->steps, (unsigned long long)rows,
                   (unsigned long long)lim->max_run_rows);
  if (lim->max_sweep_rows && rows * b->n_runs > lim->max_sweep_rows)
    return la_errf(err, LA_EINVAL,
                   "%s: %llu runs x %llu metric rows = %llu rows, more than "
                   "the daemon's max_sweep_rows of %llu per sweep",
                   field, (unsigned long long)b->n_runs,
                   (unsigned long long)rows,
                   (unsigned long long)(rows * b->n_runs),
                   (unsigned long long)lim->max_sweep_rows);
  return 0;
}

/* Runs la_config_parse on the base config with grid values (ri, ai, li) and
 * the seed of their first run; its error is mapped to the spec's paths. */
static int check_combo(builder *b, json_t *scratch, size_t ri, size_t ai,
                       size_t li, la_err *err) {
  const size_t idx[N_AX] = {ri, ai, li};
  int rank = (int)b->ax[AX_RANK].v[ri];
  la_err werr;
  /* new values, stolen by scratch */
  if (json_object_set_new(scratch, "rank", json_integer(rank)) ||
      json_object_set_new(scratch, "alpha", json_real(b->ax[AX_ALPHA].v[ai])) ||
      json_object_set_new(scratch, "lr", json_real(b->ax[AX_LR].v[li])) ||
      json_object_set_new(scratch, "seed",
                          json_integer((json_int_t)run_seed(b, rank, 0))))
    return la_errf(err, LA_ENOMEM, "spec: out of memory");
  if (la_config_parse(scratch, b->cfg, &werr) == 0 &&
      check_resources(b, &werr) == 0)
    return 0;
  return map_error(b, werr.msg, idx, err);
}

/* Validates with the worker: every setting with the first grid values, then
 * each further rank, alpha and lr once (the worker checks no field against
 * alpha or lr, and rank only against the task). */
static int validate_runs(builder *b, la_err *err) {
  json_t *scratch = json_copy(b->base); /* new, shallow */
  int rc;
  if (scratch == NULL) return la_errf(err, LA_ENOMEM, "spec: out of memory");
  rc = check_combo(b, scratch, 0, 0, 0, err);
  for (size_t i = 1; i < b->ax[AX_RANK].n && rc == 0; i++)
    rc = check_combo(b, scratch, i, 0, 0, err);
  for (size_t i = 1; i < b->ax[AX_ALPHA].n && rc == 0; i++)
    rc = check_combo(b, scratch, 0, i, 0, err);
  for (size_t i = 1; i < b->ax[AX_LR].n && rc == 0; i++)
    rc = check_combo(b, scratch, 0, 0, i, err);
  json_decref(scratch);
  return rc;
}

/* ---- defaults ----------------------------------------------------------- */

/* The worker's defaults: the effective config of a minimal config, in
 * b->defaults (so they are never written down twice). */
static int worker_defaults(builder *b, la_err *err) {
  la_err werr;
  /* new; npy and gpt: the worker checks no shapes without reading the files;
   * gpt has defaults of its own (sharpness off) */
  json_t *min =
      b->kind[SEC_TASK] == LA_TASK_GPT
          ? json_pack("{s:s, s:{s:s, s:s}, s:i, s:i, s:f, s:f, s:i}", "task",
                      "gpt", "gpt", "base", "base.safetensors", "text",
                      "text.txt", "n_head", 1, "rank", 1, "alpha", 1.0, "lr",
                      1.0, "steps", 1)
          : json_pack("{s:s, s:{s:s, s:s, s:[s]}, s:i, s:f, s:f, s:i}", "task",
                      "npy", "npy", "x", "x.npy", "y", "y.npy", "w0", "w0.npy",
                      "rank", 1, "alpha", 1.0, "lr", 1.0, "steps", 1);
  int rc = min == NULL ? LA_ENOMEM : la_config_parse(min, b->cfg, &werr);
  json_decref(min);
  if (rc == 0) b->defaults = la_config_to_json(b->cfg);
  if (rc == LA_EINVAL) /* cannot happen unless the worker changes */
    return la_errf(err, LA_EINVAL, "spec: worker defaults: %s", werr.msg);
  if (rc != 0 || b->defaults == NULL)
    return la_errf(err, LA_ENOMEM, "spec: out of memory");
  return 0;
}

/* A new object: section si as given, with the worker's default of every
 * field that applies to its kind and is absent, in table order. */
static json_t *complete_section(const builder *b, int si) {
  const section *s = &k_sections[si];
  const json_t *given = json_object_get(b->norm, s->key);
  json_t *out = json_object(); /* new */
  for (size_t i = 0; out != NULL && i < s->n_fields; i++) {
    const sfield *f = &s->fields[i];
    json_t *v = json_object_get(given, f->name); /* borrowed */
    int fill = v == NULL && has_fill(f, b->kind[SEC_TASK]) &&
               b->defaults != NULL && (f->kinds & (1u << b->kind[si]));
    if (fill) v = json_object_get(b->defaults, f->name);
    /* a default missing: la_config_to_json ran out of memory */
    if ((fill && v == NULL) ||
        (v != NULL && json_object_set(out, f->name, v))) {
      json_decref(out);
      out = NULL;
    }
  }
  return out;
}

/* Rebuilds the normalized spec in the canonical field order with every
 * default filled in (the sections' and diverge_factor from the worker). */
static int fill_defaults(builder *b, la_err *err) {
  json_t *norm = json_object(); /* new */
  int rc = norm == NULL ? LA_ENOMEM : 0;
  for (size_t i = 0; i < COUNT(k_top_fields) && rc == 0; i++) {
    const char *key = k_top_fields[i].name;
    json_t *v = json_object_get(b->norm, key); /* borrowed */
    int si = -1;
    for (int s = 0; s < N_SEC; s++)
      if (strcmp(key, k_sections[s].key) == 0) si = s;
    if (si >= 0 && v == NULL && b->defaults == NULL) continue; /* command */
    if (si >= 0) {
      json_t *sec = complete_section(b, si); /* new, stolen below */
      rc = json_object_set_new(norm, key, sec) ? LA_ENOMEM : 0;
      continue;
    }
    if (v == NULL && has_fill(&k_top_fields[i], b->kind[SEC_TASK]) &&
        b->defaults != NULL) {
      v = json_object_get(b->defaults, key);
      if (v == NULL) rc = LA_ENOMEM; /* see complete_section */
    }
    if (v != NULL && json_object_set(norm, key, v)) rc = LA_ENOMEM;
  }
  if (rc) {
    json_decref(norm);
    return la_errf(err, LA_ENOMEM, "spec: out of memory");
  }
  json_decref(b->norm);
  b->norm = norm;
  return 0;
}

/* ---- expansion ---------------------------------------------------------- */

/* Fills run r: grid indices idx (rank, alpha, lr), seed index si. Its
 * config is built on demand (la_spec_run_config), so a sweep of 100,000
 * runs holds 100,000 small structs, not 100,000 JSON objects. */
static void make_run(const builder *b, la_spec_run *r, const size_t idx[N_AX],
                     size_t si) {
  r->rank = (int)b->ax[AX_RANK].v[idx[AX_RANK]];
  r->alpha = b->ax[AX_ALPHA].v[idx[AX_ALPHA]];
  r->lr = b->ax[AX_LR].v[idx[AX_LR]];
  r->seed_index = (int)si;
  r->seed = run_seed(b, r->rank, si);
  r->config = NULL;
}

/* Fills every run in expansion order: rank, lr, alpha, seed index. */
static void make_runs(const builder *b, la_spec *s) {
  size_t k = 0, idx[N_AX];
  for (idx[AX_RANK] = 0; idx[AX_RANK] < b->ax[AX_RANK].n; idx[AX_RANK]++)
    for (idx[AX_LR] = 0; idx[AX_LR] < b->ax[AX_LR].n; idx[AX_LR]++)
      for (idx[AX_ALPHA] = 0; idx[AX_ALPHA] < b->ax[AX_ALPHA].n;
           idx[AX_ALPHA]++)
        for (size_t si = 0; si < b->n_seeds; si++)
          make_run(b, &s->runs[k++], idx, si);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

int *la_spec_ranks(const la_spec *spec, size_t *n) {
  int *r = spec->n_runs ? malloc(spec->n_runs * sizeof *r) : NULL;
  size_t k = 0;
  *n = 0;
  if (r == NULL) return NULL;
  for (size_t i = 0; i < spec->n_runs; i++)
    r[i] = spec->runs[i].rank;
  qsort(r, spec->n_runs, sizeof *r, cmp_int);
  for (size_t i = 0; i < spec->n_runs; i++)
    if (k == 0 || r[i] != r[k - 1]) r[k++] = r[i];
  *n = k;
  return r;
}

json_t *la_spec_run_config(const la_spec *s, size_t i) {
  const la_spec_run *r = &s->runs[i];
  json_t *c = json_copy(s->base); /* shallow: leaves shared, read-only */
  if (c == NULL) return NULL;
  if (json_object_set_new(c, "rank", json_integer(r->rank)) ||
      json_object_set_new(c, "alpha", json_real(r->alpha)) ||
      json_object_set_new(c, "lr", json_real(r->lr)) ||
      json_object_set_new(c, "seed", json_integer((json_int_t)r->seed))) {
    json_decref(c);
    return NULL;
  }
  return c;
}

int la_spec_materialize(la_spec *s) {
  for (size_t i = 0; i < s->n_runs; i++)
    if (s->runs[i].config == NULL &&
        (s->runs[i].config = la_spec_run_config(s, i)) == NULL)
      return LA_ENOMEM;
  return 0;
}

/* Creates the spec: its settings, the normalized spec (moved from b) and
 * the runs. */
static int expand(builder *b, la_spec **out, la_err *err) {
  la_spec *s = calloc(1, sizeof *s);
  if (s == NULL ||
      (s->runs = calloc((size_t)b->n_runs, sizeof *s->runs)) == NULL) {
    free(s);
    return la_errf(err, LA_ENOMEM, "spec: out of memory expanding %llu runs",
                   (unsigned long long)b->n_runs);
  }
  memcpy(s->name, b->name, sizeof s->name);
  s->priority = b->priority;
  s->max_parallel = b->max_parallel;
  s->max_attempts = b->max_attempts;
  s->window = b->window;
  s->seed = b->seed;
  s->search = b->search;
  s->normalized = b->norm; /* moved */
  b->norm = NULL;
  s->base = b->base; /* moved */
  b->base = NULL;
  s->n_runs = (size_t)b->n_runs;
  make_runs(b, s);
  *out = s;
  return 0;
}

/* ---- field paths --------------------------------------------------------- */

const char *la_spec_section_of(const char *worker_field) {
  char name[64];
  size_t n = strcspn(worker_field, ".[: ");
  if (n == 0 || n >= sizeof name) return NULL;
  memcpy(name, worker_field, n);
  name[n] = '\0';
  for (int s = 0; s < N_SEC; s++)
    if (find_sfield(k_sections[s].fields, k_sections[s].n_fields, name))
      return k_sections[s].key;
  return NULL;
}

/* ---- entry points ------------------------------------------------------- */

/* Releases what the builder owns. */
static void builder_free(builder *b) {
  json_decref(b->norm);
  json_decref(b->base);
  json_decref(b->defaults);
  for (int a = 0; a < N_AX; a++)
    free(b->ax[a].v);
  free(b->seed_list);
  free(b->cfg);
}

/* la_spec_each_path's walk of one section: its fields named from the
 * spec's top ("task.npy.x"). */
typedef struct section_walk {
  const char *key; /* the section's key in the spec */
  la_config_path_fn fn;
  void *ctx;
} section_walk;

static int in_section(json_t *value, const char *field, void *ctx) {
  const section_walk *w = ctx;
  char path[96];
  snprintf(path, sizeof path, "%s.%s", w->key, field);
  return w->fn(value, path, w->ctx);
}

int la_spec_each_path(json_t *spec, la_config_path_fn fn, void *ctx) {
  int rc;
  for (int s = 0; s < N_SEC; s++) {
    section_walk w = {k_sections[s].key, fn, ctx};
    json_t *sec = json_object_get(spec, w.key);
    if (json_is_object(sec) && (rc = la_config_each_path(sec, in_section, &w)))
      return rc;
  }
  return 0;
}

/* la_spec_each_path's check that a path is absolute (ctx: the la_err). */
static int must_be_absolute(json_t *value, const char *field, void *ctx) {
  const char *p = json_string_value(value);
  if (p != NULL && p[0] == '/') return 0;
  return la_errf(ctx, LA_EINVAL,
                 "%.96s: must be an absolute path (starting with '/')", field);
}

/* Every path of the spec must be absolute: a worker must never resolve one
 * against a directory of the daemon's (docs/security.md). `loralpha
 * submit` makes a spec file's relative paths absolute. */
static int check_paths(const builder *b, la_err *err) {
  return la_spec_each_path(b->norm, must_be_absolute, err);
}

/* ---- the command task (command.h) ---------------------------------------- */

/* A section the command task has no use for (the trainer chooses its
 * optimizer, schedule and measurements): refused when given. */
static int no_section(builder *b, int si, la_err *err) {
  if (json_object_get(b->spec, k_sections[si].key) == NULL) return 0;
  return la_errf(err, LA_EINVAL,
                 "%s: does not apply to task 'command' (the trainer "
                 "chooses; pass its settings in task.params)",
                 k_sections[si].key);
}

/* The top-level run values a command task passes on: steps (required),
 * batch and scaling, checked as the worker would; diverge_factor is the
 * trainer's business (its done record says when a run diverged). */
static int check_command_top(const builder *b, la_err *err) {
  const json_t *steps = json_object_get(b->norm, "steps"),
               *batch = json_object_get(b->norm, "batch");
  const char *sc = json_string_value(json_object_get(b->norm, "scaling"));
  if (json_object_get(b->spec, "diverge_factor") != NULL)
    return la_errf(err, LA_EINVAL,
                   "diverge_factor: does not apply to task 'command' (the "
                   "trainer's done record says whether a run diverged)");
  if (!json_is_integer(steps) || json_integer_value(steps) < 1 ||
      json_integer_value(steps) > 100000000)
    return la_errf(err, LA_EINVAL, "steps: must be an integer in 1..100000000");
  if (!json_is_integer(batch) || json_integer_value(batch) < 1 ||
      json_integer_value(batch) > 1000000)
    return la_errf(err, LA_EINVAL, "batch: must be an integer in 1..1000000");
  if (sc == NULL || (strcmp(sc, "peft") != 0 && strcmp(sc, "rslora") != 0))
    return la_errf(err, LA_EINVAL, "scaling: must be one of 'peft', 'rslora'");
  return 0;
}

/* The rest of a command task's spec: its task (la_command_check_spec), the
 * normalized spec in canonical order, and the configs' base, which carries
 * the daemon's max_run_rows as the run's record limit. */
static int parse_command(builder *b, const la_spec_limits *lim, la_err *err) {
  json_t *task = NULL; /* new */
  int rc = check_command_top(b, err);
  if (rc == 0 && b->search.kind == LA_SEARCH_HALVING)
    rc = la_errf(err, LA_EINVAL,
                 "search.strategy: \"halving\" does not apply to task "
                 "'command' (loralpha cannot stop and replay a trainer of "
                 "its own)");
  if (rc == 0)
    rc = la_command_check_spec(json_object_get(b->norm, "task"),
                               lim->max_run_memory, &task, err);
  if (rc == 0 && json_object_set_new(b->norm, "task", task))
    rc = la_errf(err, LA_ENOMEM, "spec: out of memory");
  if (rc == 0) rc = fill_defaults(b, err); /* b->defaults NULL: order only */
  if (rc == 0) rc = flatten(b, NULL, err);
  if (rc == 0 && lim->max_run_rows &&
      json_object_set_new(b->base, "max_records",
                          json_integer((json_int_t)lim->max_run_rows)))
    rc = la_errf(err, LA_ENOMEM, "spec: out of memory");
  return rc;
}

/* Parses and validates everything, up to the worker's defaults. */
static int parse_all(builder *b, const la_spec_limits *lim, la_err *err) {
  int rc = parse_top(b, lim, err);
  for (int s = 0; s < N_SEC && rc == 0; s++)
    rc = s > SEC_TASK && b->kind[SEC_TASK] == TASK_COMMAND
             ? no_section(b, s, err)
             : parse_section(b, s, err);
  if (!rc) rc = parse_grid(b, err);
  if (!rc) rc = parse_search(b, err);
  if (!rc) rc = parse_seeds(b, err);
  if (!rc) rc = check_run_count(b, lim, err);
  if (!rc && b->kind[SEC_TASK] == TASK_COMMAND)
    return parse_command(b, lim, err);
  if (!rc) rc = flatten(b, NULL, err);
  if (!rc) rc = validate_runs(b, err);
  if (!rc) rc = check_paths(b, err);
  if (!rc) rc = worker_defaults(b, err);
  if (!rc) rc = fill_defaults(b, err);
  if (!rc) rc = check_rungs(b, err);
  if (!rc) rc = flatten(b, b->defaults, err);
  return rc;
}

/* Validates and expands spec (borrowed); lim NULL means the defaults. */
int la_spec_parse(const json_t *spec, const la_spec_limits *lim, la_spec **out,
                  la_err *err) {
  la_spec_limits def;
  builder b = {.spec = spec};
  int rc;
  *out = NULL;
  if (lim == NULL) {
    la_spec_limits_default(&def);
    lim = &def;
  }
  b.ax[AX_RANK].name = "rank";
  b.ax[AX_ALPHA].name = "alpha";
  b.ax[AX_LR].name = "lr";
  b.lim = lim;
  b.norm = json_object();
  b.cfg = malloc(sizeof *b.cfg);
  if (b.norm == NULL || b.cfg == NULL)
    rc = la_errf(err, LA_ENOMEM, "spec: out of memory");
  else
    rc = parse_all(&b, lim, err);
  if (rc == 0) rc = expand(&b, out, err);
  builder_free(&b);
  return rc;
}

/* Releases a spec of la_spec_parse (NULL is fine). */
void la_spec_free(la_spec *spec) {
  if (spec == NULL) return;
  for (size_t i = 0; spec->runs != NULL && i < spec->n_runs; i++)
    json_decref(spec->runs[i].config);
  json_decref(spec->base);
  free(spec->runs);
  json_decref(spec->normalized);
  free(spec);
}
