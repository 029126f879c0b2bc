/* packing.c: which runs can share a pack (see packing.h). */
#include "loralpha/packing.h"

#include "loralpha/resources.h"

#include <stdlib.h>
#include <string.h>

/* Every config field and whether a pack's runs share it. A field missing
 * here is refused by la_pack_check (tests/unit/test_pack.c checks the table
 * against the config's fields). */
static const struct {
  const char *name;
  int shared;
} k_fields[] = {
    /* the task and its data: one build, one frozen product */
    {"task", 1},
    {"d_in", 1},
    {"d_out", 1},
    {"widths", 1},
    {"npy", 1},
    {"activation", 1},
    {"loss", 1},
    {"n_train", 1},
    {"n_eval", 1},
    {"input_decay", 1},
    {"target_rank", 1},
    {"target_scale", 1},
    {"target_decay", 1},
    {"noise", 1},
    {"eval_fraction", 1},
    {"data_seed", 1},
    {"gpt", 1},
    {"n_head", 1},
    {"context", 1},
    {"vocab_size", 1},
    {"target_modules", 1},
    {"pretrain", 1},
    /* the pass's shapes, A's init and the batch order */
    {"rank", 1},
    {"seed", 1},
    {"batch", 1},
    {"threads", 1},
    /* the stint: every run of a pack stops and resumes at the same step */
    {"stop_at", 1},
    {"resume_at", 1},
    /* per run */
    {"alpha", 0},
    {"scaling", 0},
    {"optimizer", 0},
    {"lr", 0},
    {"beta1", 0},
    {"beta2", 0},
    {"eps", 0},
    {"weight_decay", 0},
    {"momentum", 0},
    {"nesterov", 0},
    {"loraplus_ratio", 0},
    {"schedule", 0},
    {"warmup_steps", 0},
    {"min_lr_ratio", 0},
    {"steps", 0},
    {"log_every", 0},
    {"eval_every", 0},
    {"spectra_every", 0},
    {"sharpness", 0},
    {"sharpness_every", 0},
    {"sharpness_iters", 0},
    {"sharpness_tol", 0},
    {"sharpness_batch", 0},
    {"diverge_factor", 0},
    {"run_id", 0},
};
#define N_FIELDS (sizeof k_fields / sizeof k_fields[0])

int la_pack_field_shared(const char *name) {
  for (size_t i = 0; i < N_FIELDS; i++)
    if (strcmp(k_fields[i].name, name) == 0) return k_fields[i].shared;
  return -1; /* an index: not a config field */
}

/* ---- checking a pack ---- */

/* The run_ids of the n raw configs: each an integer >= 0, none repeated. */
int la_pack_check_run_ids(const json_t *const *raw, int n, la_err *err) {
  for (int i = 0; i < n; i++) {
    const json_t *v = json_object_get(raw[i], "run_id");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
      return la_errf(err, LA_EINVAL,
                     "configs[%d].run_id: required in a pack (a non-negative "
                     "integer naming the run of its records)",
                     i);
    for (int j = 0; j < i; j++)
      if (json_integer_value(json_object_get(raw[j], "run_id")) ==
          json_integer_value(v))
        return la_errf(err, LA_EINVAL,
                       "configs[%d].run_id: %lld is also configs[%d]'s", i,
                       (long long)json_integer_value(v), j);
  }
  return 0;
}

/* Whether field of config i equals config 0's: a, b are the values (NULL
 * when absent); LA_EINVAL naming both when they differ. */
static int check_equal(const char *field, int i, const json_t *a,
                       const json_t *b, la_err *err) {
  char *va, *vb;
  if (a == b || (a != NULL && b != NULL && json_equal(a, b))) return 0;
  va = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  vb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  la_errf(err, LA_EINVAL,
          "configs[%d].%s: %.100s differs from configs[0]'s %.100s (the "
          "runs of a pack share %s)",
          i, field, vb ? vb : "(absent)", va ? va : "(absent)", field);
  free(va), free(vb);
  return LA_EINVAL;
}

/* Compares config i's shared fields with config 0's (e0: config 0's
 * effective JSON). */
static int check_shared(const json_t *const *raw, const json_t *e0,
                        const la_config *ci, int i, la_err *err) {
  json_t *ei = la_config_to_json(ci);
  const char *key;
  json_t *v;
  int rc = ei == NULL ? la_errf(err, LA_ENOMEM, "pack: out of memory") : 0;
  json_object_foreach(ei, key, v) {
    int shared = la_pack_field_shared(key);
    if (rc) break;
    if (shared < 0)
      rc = la_errf(err, LA_EINVAL,
                   "configs[%d].%.64s: not classified as shared or per run "
                   "(packing.c)",
                   i, key);
    else if (shared)
      rc = check_equal(key, i, json_object_get(e0, key), v, err);
  }
  if (rc == 0)
    rc = check_equal("npy", i, json_object_get(raw[0], "npy"),
                     json_object_get(raw[i], "npy"), err);
  json_decref(ei);
  return rc;
}

int la_pack_check(const json_t *const *raw, const la_config *cfgs, int n,
                  la_err *err) {
  json_t *e0;
  int rc;
  if (n < 1 || n > LA_PACK_MAX)
    return la_errf(err, LA_EINVAL, "configs: %d runs (a pack holds 1..%d)", n,
                   LA_PACK_MAX);
  if ((rc = la_pack_check_run_ids(raw, n, err))) return rc;
  if (cfgs[0].task == LA_TASK_GPT)
    return la_errf(err, LA_EINVAL,
                   "configs[0].task: a pack holds runs of task teacher, mlp or "
                   "npy, not gpt (send its runs one at a time)");
  if ((e0 = la_config_to_json(&cfgs[0])) == NULL)
    return la_errf(err, LA_ENOMEM, "pack: out of memory");
  for (int i = 0; rc == 0 && i < n; i++)
    rc = check_shared(raw, e0, &cfgs[i], i, err);
  json_decref(e0);
  return rc;
}

uint64_t la_pack_run_memory(const la_config *cfg) {
  la_mem_estimate est;
  la_config_memory(cfg, &est);
  return est.bytes > LA_MEM_BASE ? est.bytes - LA_MEM_BASE : 0;
}

int la_pack_joins(const json_t *raw0, const la_config *cfg0, const json_t *raw,
                  la_config *cfg, uint64_t *memory, uint64_t limit) {
  const json_t *pair[2] = {raw0, raw};
  json_t *e0;
  la_err err;
  uint64_t more;
  int ok;
  if (la_config_parse(raw, cfg, &err) != 0 || cfg0->task == LA_TASK_GPT ||
      la_pack_check_run_ids(pair, 2, &err) != 0 ||
      (e0 = la_config_to_json(cfg0)) == NULL)
    return 0;
  ok = check_shared(pair, e0, cfg0, 0, &err) == 0 && /* as la_pack_check */
       check_shared(pair, e0, cfg, 1, &err) == 0;
  json_decref(e0);
  more = la_pack_run_memory(cfg);
  if (!ok || (limit > 0 && *memory + more > limit)) return 0;
  *memory += more;
  return 1;
}
