/* record.c: the record protocol's one parser, checked against a table of
 * fields per record type (see record.h and docs/protocol.md). */
#include "loralpha/record.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *const la_run_state_names[LA_RUN_N_STATES] = {
    "queued",   "running",   "done",    "failed",
    "diverged", "cancelled", "waiting", "stopped"};

int la_run_state_from_name(const char *s) {
  for (int i = 0; s != NULL && i < LA_RUN_N_STATES; i++)
    if (strcmp(s, la_run_state_names[i]) == 0) return i;
  return -1; /* an index: none */
}

/* How a field's JSON value is checked and where it goes. */
typedef enum {
  K_INT,    /* integer in [lo, hi] -> int64_t */
  K_NUM,    /* finite number in [lo, hi] -> double */
  K_NUMN,   /* the same, or null (NaN) */
  K_STR,    /* string of at most hi bytes -> char * (owned) */
  K_NAME,   /* the same, 1..hi bytes of [A-Za-z0-9._/:-] */
  K_STATUS, /* "done" or "diverged" -> int64_t 0 / 1 */
  K_BOOL,   /* true or false -> int64_t 1 / 0 */
  K_CONFIG, /* an object (informational); not kept */
  K_LAYERS, /* start.layers */
  K_SV      /* spectra.sv */
} kind;

/* One field of a record type. Absent optional fields are NaN (numbers),
 * -1 (integers, booleans) or NULL (strings). */
typedef struct field {
  const char *name;
  kind k;
  size_t off; /* into the struct being filled */
  double lo, hi;
  int required;
} field;

#define R(f) offsetof(la_record, f)
#define L(f) offsetof(la_rec_layer, f)
#define BIG 1e300
#define STEPS LA_RECORD_MAX_STEP

/* Fields of every record type. */
static const field k_common[] = {
    {"run_id", K_INT, R(run_id), 0, 9.0e15, 0},
};
#define N_COMMON (sizeof k_common / sizeof k_common[0])

static const field k_start[] = {
    {"config", K_CONFIG, 0, 0, 0, 0},
    {"scale", K_NUMN, R(u.start.scale), 0, BIG, 0},
    {"blas_core", K_STR, R(u.start.blas_core), 0, LA_RECORD_MAX_NAME, 0},
    {"params", K_INT, R(u.start.params), 0, 9.0e15, 0},
    {"n_train", K_INT, R(u.start.n_train), 0, STEPS, 0},
    {"n_eval", K_INT, R(u.start.n_eval), 0, STEPS, 0},
    {"layers", K_LAYERS, 0, 0, 0, 1},
};
static const field k_layer[] = {
    {"layer", K_INT, L(layer), 0, LA_RECORD_MAX_LAYERS - 1, 1},
    {"d_in", K_INT, L(d_in), 1, LA_MAX_WIDTH, 1},
    {"d_out", K_INT, L(d_out), 1, LA_MAX_WIDTH, 1},
    {"sigma_max_w0", K_NUMN, L(sigma_max_w0), 0, BIG, 0},
    {"target_norm", K_NUMN, L(target_norm), 0, BIG, 0},
    {"module", K_NAME, L(module), 0, LA_RECORD_MAX_MODULE, 0},
};
static const field k_train[] = {
    {"step", K_INT, R(step), 0, STEPS, 1},
    {"loss", K_NUMN, R(u.train.loss), 0, BIG, 1},
    {"lr", K_NUMN, R(u.train.lr), 0, BIG, 1},
    {"lr_b", K_NUMN, R(u.train.lr_b), 0, BIG, 0},
    {"grad_norm_a", K_NUMN, R(u.train.grad_norm_a), 0, BIG, 0},
    {"grad_norm_b", K_NUMN, R(u.train.grad_norm_b), 0, BIG, 0},
    {"update_norm", K_NUMN, R(u.train.update_norm), 0, BIG, 0},
};
static const field k_eval[] = {
    {"step", K_INT, R(step), 0, STEPS, 1},
    {"loss", K_NUMN, R(u.train.loss), 0, BIG, 1},
};
static const field k_spectra[] = {
    {"step", K_INT, R(step), 0, STEPS, 1},
    {"layer", K_INT, R(u.spectra.layer), 0, LA_RECORD_MAX_LAYERS - 1, 1},
    {"sigma_max", K_NUMN, R(u.spectra.sigma_max), 0, BIG, 0},
    {"fro", K_NUMN, R(u.spectra.fro), 0, BIG, 0},
    {"stable_rank", K_NUMN, R(u.spectra.stable_rank), 0, BIG, 0},
    {"sv", K_SV, 0, 0, 0, 0},
    {"signal", K_NUMN, R(u.spectra.signal), 0, BIG, 0},
    {"drift", K_NUMN, R(u.spectra.drift), 0, BIG, 0},
    {"drift_ratio", K_NUMN, R(u.spectra.drift_ratio), 0, BIG, 0},
    {"cos_target", K_NUMN, R(u.spectra.cos_target), -1.000001, 1.000001, 0},
    {"rel_err", K_NUMN, R(u.spectra.rel_err), 0, BIG, 0},
    {"tf_signal", K_NUMN, R(u.spectra.tf_signal), 0, BIG, 0},
    {"tf_drift", K_NUMN, R(u.spectra.tf_drift), 0, BIG, 0},
    {"mech_ratio", K_NUMN, R(u.spectra.mech_ratio), 0, BIG, 0},
    {"a_drift", K_NUMN, R(u.spectra.a_drift), 0, BIG, 0},
};
static const field k_sharp[] = {
    {"step", K_INT, R(step), 0, STEPS, 1},
    {"lora", K_NUMN, R(u.sharp.lora), -BIG, BIG, 1},
    {"full", K_NUMN, R(u.sharp.full), -BIG, BIG, 1},
    {"ratio", K_NUMN, R(u.sharp.ratio), -BIG, BIG, 0},
    {"lora_iters", K_INT, R(u.sharp.lora_iters), 0, STEPS, 0},
    {"full_iters", K_INT, R(u.sharp.full_iters), 0, STEPS, 0},
    {"lora_residual", K_NUMN, R(u.sharp.lora_residual), 0, BIG, 0},
    {"full_residual", K_NUMN, R(u.sharp.full_residual), 0, BIG, 0},
    {"lora_converged", K_BOOL, R(u.sharp.lora_converged), 0, 0, 0},
    {"full_converged", K_BOOL, R(u.sharp.full_converged), 0, 0, 0},
    {"rows", K_INT, R(u.sharp.rows), 0, STEPS, 0},
};
static const field k_done[] = {
    {"status", K_STATUS, R(u.done.status), 0, 0, 1},
    {"reason", K_STR, R(u.done.reason), 0, LA_RECORD_MAX_REASON, 0},
    {"steps", K_INT, R(u.done.steps), 0, STEPS, 1},
    {"final_train_loss", K_NUMN, R(u.done.final_train_loss), 0, BIG, 0},
    {"final_eval_loss", K_NUMN, R(u.done.final_eval_loss), 0, BIG, 0},
    {"best_eval_loss", K_NUMN, R(u.done.best_eval_loss), 0, BIG, 0},
    {"best_step", K_INT, R(u.done.best_step), -1, STEPS, 0},
    {"wall_s", K_NUMN, R(u.done.wall_s), 0, BIG, 0},
    {"steps_per_s", K_NUMN, R(u.done.steps_per_s), 0, BIG, 0},
};
static const field k_error[] = {
    {"error", K_STR, R(u.error.error), 0, LA_RECORD_MAX_ERROR, 1},
};

/* A record type: its name and fields. */
typedef struct rtype {
  const char *name;
  const field *fields;
  size_t n;
} rtype;

#define T(name, arr)                                                           \
  { name, arr, sizeof arr / sizeof arr[0] }
static const rtype k_types[LA_REC_N_TYPES] = {
    [LA_REC_START] = T("start", k_start),
    [LA_REC_TRAIN] = T("train", k_train),
    [LA_REC_EVAL] = T("eval", k_eval),
    [LA_REC_SPECTRA] = T("spectra", k_spectra),
    [LA_REC_SHARPNESS] = T("sharpness", k_sharp),
    [LA_REC_DONE] = T("done", k_done),
    [LA_REC_ERROR] = T("error", k_error),
    [LA_REC_EXTENSION] = {"x_...", NULL, 0},
};

const char *la_record_type_name(la_rec_type t) {
  return t < LA_REC_N_TYPES ? k_types[t].name : "?";
}

/* Is name an extension's ("x_...")? */
static int is_ext(const char *name) {
  return name[0] == 'x' && name[1] == '_';
}

/* An integer field. */
static int get_int(const field *f, const json_t *v, int64_t *out,
                   const char *ctx, la_err *err) {
  json_int_t x;
  if (!json_is_integer(v))
    return la_errf(err, LA_EINVAL, "%s%s: must be an integer", ctx, f->name);
  x = json_integer_value(v);
  if ((double)x < f->lo || (double)x > f->hi)
    return la_errf(err, LA_EINVAL, "%s%s: %lld is outside %.0f..%.0f", ctx,
                   f->name, (long long)x, f->lo, f->hi);
  *out = x;
  return 0;
}

/* A number field (K_NUM / K_NUMN). */
static int get_num(const field *f, const json_t *v, double *out,
                   const char *ctx, la_err *err) {
  double x;
  if (json_is_null(v) && f->k == K_NUMN) {
    *out = NAN;
    return 0;
  }
  if (!json_is_number(v))
    return la_errf(err, LA_EINVAL, "%s%s: must be a number%s", ctx, f->name,
                   f->k == K_NUMN ? " or null" : "");
  x = json_number_value(v);
  if (!isfinite(x))
    return la_errf(err, LA_EINVAL, "%s%s: must be finite", ctx, f->name);
  if (x < f->lo && f->lo == 0)
    return la_errf(err, LA_EINVAL, "%s%s: %g is negative", ctx, f->name, x);
  if (x < f->lo || x > f->hi)
    return la_errf(err, LA_EINVAL, "%s%s: %g is outside [%g, %g]", ctx, f->name,
                   x, f->lo, f->hi);
  *out = x;
  return 0;
}

/* A string field: a new copy. */
static int get_str(const field *f, const json_t *v, char **out, const char *ctx,
                   la_err *err) {
  if (!json_is_string(v))
    return la_errf(err, LA_EINVAL, "%s%s: must be a string", ctx, f->name);
  if (json_string_length(v) > (size_t)f->hi)
    return la_errf(err, LA_EINVAL, "%s%s: longer than %.0f bytes", ctx, f->name,
                   f->hi);
  if ((*out = strdup(json_string_value(v))) == NULL)
    return la_errf(err, LA_ENOMEM, "%s%s: out of memory", ctx, f->name);
  return 0;
}

/* A name (a module's): 1..hi bytes of letters, digits and ._/:- */
static int get_name(const field *f, const json_t *v, char **out,
                    const char *ctx, la_err *err) {
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (s == NULL || n == 0 || n > (size_t)f->hi)
    return la_errf(err, LA_EINVAL, "%s%s: must be a string of 1..%.0f bytes",
                   ctx, f->name, f->hi);
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) &&
        (s[i] == '\0' || strchr("._/:-", s[i]) == NULL))
      return la_errf(err, LA_EINVAL,
                     "%s%s: byte %zu is not a letter, a digit or one of "
                     "._/:-",
                     ctx, f->name, i);
  return get_str(f, v, out, ctx, err);
}

/* The echoed config: an object of at most 256 members, informational (the
 * daemon keeps the config it sent, not this copy). */
static int get_config(const json_t *v, const char *ctx, la_err *err) {
  if (!json_is_object(v) || json_object_size(v) > 256)
    return la_errf(err, LA_EINVAL,
                   "%sconfig: must be an object of at most 256 fields", ctx);
  return 0;
}

static int get_fields(const json_t *o, const field *fs, size_t n, void *base,
                      const char *ctx, size_t skip, la_err *err);

/* start.layers: 1..LA_RECORD_MAX_LAYERS objects, layer i first with
 * "layer": i. */
static int get_layers(const json_t *v, la_record *r, const char *ctx,
                      la_err *err) {
  size_t n = json_array_size(v);
  char sub[64];
  if (!json_is_array(v) || n < 1 || n > LA_RECORD_MAX_LAYERS)
    return la_errf(err, LA_EINVAL,
                   "%slayers: must be an array of 1..%d layer objects", ctx,
                   LA_RECORD_MAX_LAYERS);
  if ((r->u.start.layers = calloc(n, sizeof(la_rec_layer))) == NULL)
    return la_errf(err, LA_ENOMEM, "%slayers: out of memory", ctx);
  r->u.start.n_layers = n;
  for (size_t i = 0; i < n; i++) {
    la_rec_layer *ly = &r->u.start.layers[i];
    const json_t *o = json_array_get(v, i);
    snprintf(sub, sizeof sub, "%slayers[%zu].", ctx, i);
    if (!json_is_object(o))
      return la_errf(err, LA_EINVAL, "%slayers[%zu]: must be an object", ctx,
                     i);
    int rc = get_fields(o, k_layer, sizeof k_layer / sizeof k_layer[0], ly, sub,
                        0, err);
    if (rc) return rc;
    if (ly->layer != (int64_t)i)
      return la_errf(err, LA_EINVAL,
                     "%slayer: %lld where %zu was expected (layers in order)",
                     sub, (long long)ly->layer, i);
  }
  return 0;
}

/* spectra.sv: at most LA_RECORD_MAX_SV numbers >= 0 or null. */
static int get_sv(const json_t *v, la_record *r, const char *ctx, la_err *err) {
  size_t n = json_array_size(v);
  if (!json_is_array(v) || n > LA_RECORD_MAX_SV)
    return la_errf(err, LA_EINVAL,
                   "%ssv: must be an array of at most %d numbers", ctx,
                   LA_RECORD_MAX_SV);
  if (n > 0 && (r->u.spectra.sv = malloc(n * sizeof(double))) == NULL)
    return la_errf(err, LA_ENOMEM, "%ssv: out of memory", ctx);
  r->u.spectra.n_sv = n;
  for (size_t i = 0; i < n; i++) {
    const json_t *x = json_array_get(v, i);
    double d = json_is_null(x) ? NAN : json_number_value(x);
    if (!json_is_null(x) && (!json_is_number(x) || !isfinite(d) || d < 0))
      return la_errf(err, LA_EINVAL,
                     "%ssv[%zu]: must be a finite number >= 0 or null", ctx, i);
    r->u.spectra.sv[i] = d;
  }
  return 0;
}

/* Absent optional field f: its "unknown" value. */
static void set_absent(const field *f, void *base) {
  char *p = (char *)base + f->off;
  if (f->k == K_INT || f->k == K_BOOL)
    *(int64_t *)p = -1;
  else if (f->k == K_NUM || f->k == K_NUMN)
    *(double *)p = NAN;
}

/* One present field. */
static int get_field(const field *f, const json_t *v, void *base,
                     const char *ctx, la_err *err) {
  char *p = (char *)base + f->off;
  const char *s;
  switch (f->k) {
  case K_INT: return get_int(f, v, (int64_t *)p, ctx, err);
  case K_NUM:
  case K_NUMN: return get_num(f, v, (double *)p, ctx, err);
  case K_STR: return get_str(f, v, (char **)p, ctx, err);
  case K_NAME: return get_name(f, v, (char **)p, ctx, err);
  case K_CONFIG: return get_config(v, ctx, err);
  case K_LAYERS: return get_layers(v, base, ctx, err);
  case K_SV: return get_sv(v, base, ctx, err);
  case K_STATUS:
    s = json_string_value(v);
    if (s == NULL || (strcmp(s, "done") && strcmp(s, "diverged")))
      return la_errf(err, LA_EINVAL,
                     "%sstatus: must be \"done\" or \"diverged\"", ctx);
    *(int64_t *)p = strcmp(s, "diverged") == 0;
    return 0;
  case K_BOOL:
    if (!json_is_boolean(v))
      return la_errf(err, LA_EINVAL, "%s%s: must be true or false", ctx,
                     f->name);
    *(int64_t *)p = json_is_true(v);
    return 0;
  }
  return la_errf(err, LA_EINVAL, "%s%s: unknown kind", ctx, f->name);
}

/* Whether key is a member of every record, which the caller took ("type"
 * and the common fields): 1 or 0. */
static int is_common(const char *key) {
  for (size_t i = 0; i < N_COMMON; i++)
    if (strcmp(key, k_common[i].name) == 0) return 1;
  return strcmp(key, "type") == 0;
}

/* Names the first member of o that is neither a field of fs, nor (skip) a
 * member of every record the caller took, nor an extension. */
static int unknown_field(const json_t *o, const field *fs, size_t n,
                         const char *ctx, size_t skip, la_err *err) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)o, key, v) {
    size_t i = 0;
    while (i < n && strcmp(key, fs[i].name) != 0)
      i++;
    if (i == n && (skip == 0 || !is_common(key)) && !is_ext(key))
      return la_errf(err, LA_EINVAL,
                     "%s%.64s: unknown field (extensions are named x_...)", ctx,
                     key);
  }
  return 0;
}

/* Checks o's members against fs and fills base; skip members ("type" and
 * the common fields present) are the caller's. Extension members are
 * ignored. */
static int get_fields(const json_t *o, const field *fs, size_t n, void *base,
                      const char *ctx, size_t skip, la_err *err) {
  size_t seen = skip;
  int rc;
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_object_get(o, fs[i].name);
    if (v == NULL) {
      if (fs[i].required)
        return la_errf(err, LA_EINVAL, "%s%s: missing", ctx, fs[i].name);
      set_absent(&fs[i], base);
      continue;
    }
    seen++;
    if ((rc = get_field(&fs[i], v, base, ctx, err)) != 0) return rc;
  }
  if (json_object_size(o) != seen)
    return unknown_field(o, fs, n, ctx, skip, err);
  return 0;
}

/* The fields of every record into out; *taken counts the members of o
 * they and "type" account for. */
static int get_common(const json_t *o, la_record *out, const char *ctx,
                      size_t *taken, la_err *err) {
  int rc;
  *taken = 1; /* "type" */
  for (size_t i = 0; i < N_COMMON; i++) {
    const json_t *v = json_object_get(o, k_common[i].name);
    if (v == NULL) {
      set_absent(&k_common[i], out);
      continue;
    }
    ++*taken;
    if ((rc = get_field(&k_common[i], v, out, ctx, err)) != 0) return rc;
  }
  return 0;
}

/* The record type named s, or -1. */
static int type_of(const char *s) {
  for (int t = 0; t < LA_REC_EXTENSION; t++)
    if (strcmp(s, k_types[t].name) == 0) return t;
  return is_ext(s) ? LA_REC_EXTENSION : -1;
}

int la_record_from_json(const json_t *obj, la_record *out, la_err *err) {
  const char *ts = json_string_value(json_object_get(obj, "type"));
  char ctx[32];
  size_t taken;
  int t, rc;
  memset(out, 0, sizeof *out);
  out->type = LA_REC_EXTENSION;
  if (!json_is_object(obj)) return la_errf(err, LA_EINVAL, "not a JSON object");
  if (ts == NULL)
    return la_errf(err, LA_EINVAL,
                   "type: %s (a string: start, train, eval, spectra, "
                   "sharpness, done, error)",
                   json_object_get(obj, "type") ? "must be a string"
                                                : "missing");
  if ((t = type_of(ts)) < 0)
    return la_errf(err, LA_EINVAL,
                   "type: '%.64s' is not a record type (start, train, eval, "
                   "spectra, sharpness, done, error, or an extension x_...)",
                   ts);
  if (t == LA_REC_EXTENSION) return 0;
  out->type = (la_rec_type)t;
  out->step = -1;
  snprintf(ctx, sizeof ctx, "%s: ", k_types[t].name);
  rc = get_common(obj, out, ctx, &taken, err);
  if (rc == 0)
    rc = get_fields(obj, k_types[t].fields, k_types[t].n, out, ctx, taken, err);
  if (rc) la_record_clear(out);
  return rc;
}

int la_record_parse(const char *line, size_t len, la_record *out, la_err *err) {
  json_error_t je;
  json_t *o;
  int rc;
  memset(out, 0, sizeof *out);
  out->type = LA_REC_EXTENSION;
  if (len > LA_RECORD_MAX_LINE)
    return la_errf(err, LA_EINVAL, "longer than %u bytes", LA_RECORD_MAX_LINE);
  o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (o == NULL)
    return la_errf(err, LA_EINVAL, "not JSON: %s (column %d)", je.text,
                   je.column);
  rc = la_record_from_json(o, out, err);
  json_decref(o);
  return rc;
}

void la_record_clear(la_record *r) {
  switch (r->type) {
  case LA_REC_START:
    free(r->u.start.blas_core);
    for (size_t i = 0; r->u.start.layers != NULL && i < r->u.start.n_layers;
         i++)
      free(r->u.start.layers[i].module);
    free(r->u.start.layers);
    break;
  case LA_REC_SPECTRA: free(r->u.spectra.sv); break;
  case LA_REC_DONE: free(r->u.done.reason); break;
  case LA_REC_ERROR: free(r->u.error.error); break;
  default: break;
  }
  memset(r, 0, sizeof *r);
  r->type = LA_REC_EXTENSION;
}

void la_record_move(la_record *dst, la_record *src) {
  *dst = *src;
  memset(src, 0, sizeof *src);
  src->type = LA_REC_EXTENSION;
}
