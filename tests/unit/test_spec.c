/*
 * test_spec.c: sweep specs (base/spec.c). Good specs expand in the
 * documented order into configs the worker accepts, with the documented
 * seeds and ranges; the normalized spec has every default and parses back to
 * the same runs; a table of bad specs is rejected, each error naming the
 * field path and the problem; a 100,000-run spec parses quickly and one more
 * run is refused. The command task: its run configs expand into the
 * templates filled with each run's values, and its bad specs are refused
 * naming the field. Task gpt: its fields and its own defaults reach the
 * configs, and its bad specs are refused naming the field.
 */
#include "check.h"
#include "loralpha/command.h"
#include "loralpha/config.h"
#include "loralpha/rights.h"
#include "loralpha/spec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A teacher sweep that every bad spec below patches. */
static const char *k_base =
    "{\"name\": \"bad\", \"task\": {\"task\": \"teacher\", \"d_in\": 64, "
    "\"d_out\": 32}, \"grid\": {\"rank\": [1, 2, 4], \"alpha\": [1, 2], "
    "\"lr\": [0.001]}, \"steps\": 100}";

/* Parses JSON text; a test bug (not a spec error) if it is not JSON. */
static json_t *J(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
  if (v == NULL) {
    fprintf(stderr, "test bug: bad JSON (%s): %s\n", e.text, text);
    exit(2);
  }
  return v;
}

/* RFC 7386 merge patch: objects merge recursively, null deletes a key,
 * anything else replaces. Returns a new value. */
static json_t *merge(const json_t *target, const json_t *patch) {
  const char *key;
  json_t *val;
  if (!json_is_object(patch)) return json_deep_copy(patch);
  json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
  json_object_foreach((json_t *)patch, key, val) {
    if (json_is_null(val))
      json_object_del(out, key);
    else
      json_object_set_new(out, key, merge(json_object_get(out, key), val));
  }
  return out;
}

/* Parses spec text; on failure prints the error and counts a failure. */
static la_spec *parse_ok(const char *text, const la_spec_limits *lim) {
  json_t *j = J(text);
  la_spec *s = NULL;
  la_err err = {{0}};
  int rc = la_spec_parse(j, lim, &s, &err);
  if (rc == 0) la_spec_materialize(s);
  json_decref(j);
  if (rc != 0 || s == NULL) {
    check_failures++;
    fprintf(stderr, "expected spec to parse, got rc %d: %s\n  spec: %s\n", rc,
            err.msg, text);
    return NULL;
  }
  check_passes++;
  return s;
}

/* The worker's view of run r's config (malloc'd), or NULL (counted). */
static la_config *effective(const la_spec_run *r) {
  la_config *c = malloc(sizeof *c);
  la_err err;
  if (la_config_parse(r->config, c, &err) == 0) return c;
  check_failures++;
  fprintf(stderr, "run config rejected by the worker: %s\n", err.msg);
  free(c);
  return NULL;
}

static long long cfg_int(const la_spec_run *r, const char *key) {
  return json_integer_value(json_object_get(r->config, key));
}
static double cfg_num(const la_spec_run *r, const char *key) {
  return json_number_value(json_object_get(r->config, key));
}
static const char *cfg_str(const la_spec_run *r, const char *key) {
  const char *s = json_string_value(json_object_get(r->config, key));
  return s ? s : "(none)";
}

/* splitmix64 chained over (sweep seed, rank, seed index), written out
 * independently of spec.c from the formula in docs/sweeps.md. */
static uint64_t ref_seed(uint64_t s, uint64_t rank, uint64_t idx) {
  uint64_t in[3] = {s, rank, idx}, h = 0;
  for (int i = 0; i < 3; i++) {
    uint64_t z = (h ^ in[i]) + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    h = z ^ (z >> 31);
  }
  return h & ((1ULL << 53) - 1);
}

static void check_seed_formula(void) {
  CHECK_EQ_INT(la_spec_run_seed(0, 8, 0), 1425040773104619LL);
  CHECK_EQ_INT(la_spec_run_seed(0, 8, 1), 4437421753610547LL);
  CHECK_EQ_INT(la_spec_run_seed(0, 16, 0), 3993364318887190LL);
  CHECK_EQ_INT(la_spec_run_seed(42, 4, 2), 7363387852777718LL);
  CHECK_EQ_INT(la_spec_run_seed((1ULL << 53) - 1, 65536, 999),
               5669090212907793LL);
  int bad = 0;
  for (int r = 1; r <= 64; r++)
    for (int i = 0; i < 20; i++)
      bad += la_spec_run_seed(123, r, i) != ref_seed(123, r, i) ||
             la_spec_run_seed(123, r, i) >= (1ULL << 53);
  CHECK_EQ_INT(bad, 0);
}

/* Every run's config passes the worker's validation. */
static void check_configs_parse(const la_spec *s) {
  la_config *cfg = malloc(sizeof *cfg);
  la_err err;
  int bad = 0;
  for (size_t k = 0; k < s->n_runs; k++) {
    if (la_config_parse(s->runs[k].config, cfg, &err) != 0) {
      if (bad++ == 0) fprintf(stderr, "run %zu config: %s\n", k, err.msg);
    } else {
      bad += cfg->rank != s->runs[k].rank || cfg->seed != s->runs[k].seed;
    }
  }
  CHECK_EQ_INT(bad, 0);
  free(cfg);
}

static void check_merged_config(const la_spec_run *r);
static void check_reparse(const la_spec *s);

/* A list grid: the count, the expansion order, the merged configs. */
static void check_list_expansion(void) {
  la_spec *s = parse_ok(
      "{\"name\": \"teacher list\", \"task\": {\"task\": \"teacher\", "
      "\"d_in\": 64, \"d_out\": 32, \"target_rank\": 4, \"target_scale\": 2, "
      "\"target_decay\": 0.5}, "
      "\"grid\": {\"rank\": [4, 1, 2], \"alpha\": [8, 1, 2], \"lr\": [0.01, "
      "0.001]}, \"seeds\": 2, \"seed\": 5, \"steps\": 100, \"priority\": 7, "
      "\"max_parallel\": 3, \"max_attempts\": 4}",
      NULL);
  if (s == NULL) return;
  const int ranks[] = {4, 1, 2};
  const double alphas[] = {8, 1, 2}, lrs[] = {0.01, 0.001};
  CHECK_EQ_INT(s->n_runs, 3 * 3 * 2 * 2);
  CHECK_STR(s->name, "teacher list");
  CHECK_EQ_INT(s->priority, 7);
  CHECK_EQ_INT(s->max_parallel, 3);
  CHECK_EQ_INT(s->max_attempts, 4);
  CHECK_EQ_INT(s->seed, 5);
  int order_bad = 0, cfg_bad = 0;
  for (size_t k = 0; k < s->n_runs; k++) {
    const la_spec_run *r = &s->runs[k];
    size_t si = k % 2, ai = k / 2 % 3, li = k / 6 % 2, ri = k / 12;
    order_bad += r->rank != ranks[ri] || r->alpha != alphas[ai] ||
                 r->lr != lrs[li] || r->seed_index != (int)si;
    cfg_bad += cfg_int(r, "rank") != r->rank ||
               cfg_num(r, "alpha") != r->alpha || cfg_num(r, "lr") != r->lr ||
               (uint64_t)cfg_int(r, "seed") != r->seed;
  }
  CHECK_EQ_INT(order_bad, 0);
  CHECK_EQ_INT(cfg_bad, 0);
  check_merged_config(&s->runs[0]);
  check_configs_parse(s);
  la_spec_free(s);
}

/* The config of the first run of check_list_expansion: the spec's settings
 * merged, the worker's defaults left out (but in effect), no spec fields. */
static void check_merged_config(const la_spec_run *r) {
  CHECK_STR(cfg_str(r, "task"), "teacher");
  CHECK_EQ_INT(cfg_int(r, "d_in"), 64);
  CHECK_EQ_INT(cfg_int(r, "d_out"), 32);
  CHECK_CLOSE(cfg_num(r, "target_scale"), 2.0, 0);
  CHECK_CLOSE(cfg_num(r, "target_decay"), 0.5, 0);
  CHECK_STR(cfg_str(r, "optimizer"), "adamw");
  CHECK_STR(cfg_str(r, "schedule"), "constant");
  CHECK_STR(cfg_str(r, "scaling"), "peft");
  CHECK_EQ_INT(cfg_int(r, "steps"), 100);
  CHECK_EQ_INT(cfg_int(r, "batch"), 64);
  CHECK_EQ_INT(json_object_size(r->config), 14);
  la_config *eff = effective(r);
  if (eff != NULL) { /* left out as the worker's defaults, and in effect */
    CHECK_EQ_INT(eff->target_rank, 4);
    CHECK_CLOSE(eff->beta2, 0.999, 0);
    CHECK_EQ_INT(eff->eval_every, 10);
    CHECK_CLOSE(eff->diverge_factor, 100, 0);
  }
  free(eff);
  const char *absent[] = {
      "name",        "grid",    "seeds",      "priority",       "threads",
      "run_id",      "metrics", "momentum",   "min_lr_ratio",   "eval_fraction",
      "target_rank", "beta2",   "eval_every", "diverge_factor", NULL};
  for (int i = 0; absent[i]; i++) {
    if (json_object_get(r->config, absent[i]) == NULL) {
      check_passes++;
    } else {
      check_failures++;
      fprintf(stderr, "config has \"%s\", expected it absent\n", absent[i]);
    }
  }
}

/* Seeds: deterministic, shared across alpha and lr, distinct elsewhere. */
static void check_seeds(void) {
  const char *text =
      "{\"name\": \"seeds\", \"task\": {\"task\": \"teacher\", \"d_in\": 32, "
      "\"d_out\": 32}, \"grid\": {\"rank\": [1, 2, 4, 8], \"alpha\": [1, 2, "
      "4], \"lr\": [0.1, 0.01]}, \"seeds\": 3, \"seed\": 99, \"steps\": 10}";
  la_spec *a = parse_ok(text, NULL), *b = parse_ok(text, NULL);
  if (a == NULL || b == NULL) goto cleanup;
  int same = 1, shared = 1, formula = 1, distinct = 1;
  for (size_t i = 0; i < a->n_runs; i++) {
    const la_spec_run *x = &a->runs[i];
    same &=
        x->seed == b->runs[i].seed && json_equal(x->config, b->runs[i].config);
    formula &= x->seed == ref_seed(99, (uint64_t)x->rank, x->seed_index);
    for (size_t j = 0; j < a->n_runs; j++) {
      const la_spec_run *y = &a->runs[j];
      int key_eq = x->rank == y->rank && x->seed_index == y->seed_index;
      if (key_eq) shared &= x->seed == y->seed;
      if (!key_eq) distinct &= x->seed != y->seed;
    }
  }
  CHECK(same);
  CHECK(shared);
  CHECK(formula);
  CHECK(distinct);
  check_configs_parse(a);
cleanup:
  la_spec_free(a);
  la_spec_free(b);
}

/* A seeds list is used as given, for every rank, alpha and lr. */
static void check_seed_list(void) {
  la_spec *s = parse_ok(
      "{\"name\": \"list\", \"task\": {\"task\": \"teacher\", \"d_in\": 8, "
      "\"d_out\": 8}, \"grid\": {\"rank\": [1, 2], \"alpha\": [1, 3], \"lr\": "
      "[0.1]}, \"seeds\": [7, 3, 9007199254740991], \"seed\": 4, \"steps\": "
      "10}",
      NULL);
  if (s == NULL) return;
  const uint64_t want[] = {7, 3, 9007199254740991ULL};
  int bad = 0;
  CHECK_EQ_INT(s->n_runs, 2 * 2 * 1 * 3);
  for (size_t k = 0; k < s->n_runs; k++)
    bad += s->runs[k].seed != want[k % 3] ||
           (uint64_t)cfg_int(&s->runs[k], "seed") != want[k % 3];
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(s->seed, 4);
  check_configs_parse(s);
  check_reparse(s);
  la_spec_free(s);
}

/* Ranges: log2 [0, 14] num 15 is exactly 1 .. 16384 (npy: no rank bound
 * from shapes until the files are read); log10 ranges; num 1. */
static void check_ranges(void) {
  la_spec *s = parse_ok(
      "{\"name\": \"ranges\", \"task\": {\"task\": \"npy\", \"npy\": {\"x\": "
      "\"/nonexistent/x.npy\", \"y\": \"/nonexistent/y.npy\", \"w0\": "
      "[\"/nonexistent/w0.npy\"]}}, \"grid\": {\"rank\": {\"log2\": [0, 14], "
      "\"num\": 15}, \"alpha\": {\"log10\": [-1, 2], \"num\": 4}, \"lr\": "
      "{\"log10\": [-4, -2], \"num\": 3}}, \"steps\": 10}",
      NULL);
  if (s == NULL) return;
  CHECK_EQ_INT(s->n_runs, 15 * 4 * 3);
  int bad = 0;
  for (size_t ri = 0; ri < 15; ri++)
    bad += s->runs[ri * 12].rank != 1 << ri ||
           cfg_int(&s->runs[ri * 12], "rank") != 1 << ri;
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(s->runs[s->n_runs - 1].rank, 16384);
  /* alpha varies fastest after the seed; lr before it */
  CHECK(s->runs[0].alpha == 0.1);
  CHECK(s->runs[1].alpha == 1.0);
  CHECK(s->runs[2].alpha == 10.0);
  CHECK(s->runs[3].alpha == 100.0);
  CHECK(s->runs[0].lr == 1e-4); /* exactly the doubles of 1e-4 ... */
  CHECK(s->runs[4].lr == 1e-3);
  CHECK(s->runs[8].lr == 1e-2);
  CHECK_STR(json_string_value(json_object_get(
                json_object_get(s->runs[0].config, "npy"), "x")),
            "/nonexistent/x.npy");
  CHECK(json_object_get(s->runs[0].config, "eval_fraction") == NULL);
  CHECK(json_object_get(s->runs[0].config, "n_train") == NULL);
  la_config *eff = effective(&s->runs[0]);
  if (eff) CHECK_CLOSE(eff->eval_fraction, 0.2, 0);
  free(eff);
  check_configs_parse(s);
  check_reparse(s);
  la_spec_free(s);
}

/* A one-value range (num 1), a fractional log2 step, and log10 steps of
 * one half. */
static void check_small_ranges(void) {
  la_spec *s = parse_ok(
      "{\"name\": \"one\", \"task\": {\"task\": \"teacher\", "
      "\"d_in\": 16, \"d_out\": 16}, \"grid\": {\"rank\": {\"log2\": "
      "[3, 3], \"num\": 1}, \"alpha\": {\"log2\": [0, 1], \"num\": 3}, "
      "\"lr\": [0.5]}, \"steps\": 10}",
      NULL);
  if (s == NULL) return;
  CHECK_EQ_INT(s->n_runs, 3);
  CHECK_EQ_INT(s->runs[0].rank, 8);
  CHECK(s->runs[0].alpha == 1.0);
  CHECK_CLOSE(s->runs[1].alpha, sqrt(2.0), 1e-15);
  CHECK(s->runs[2].alpha == 2.0);
  la_spec_free(s);
  s = parse_ok("{\"name\": \"lr\", \"task\": {\"task\": \"teacher\", "
               "\"d_in\": 16, \"d_out\": 16}, \"grid\": {\"rank\": [4], "
               "\"alpha\": [4], \"lr\": {\"log10\": [-5, -1], \"num\": 9}}, "
               "\"steps\": 10}",
               NULL);
  if (s == NULL) return;
  const double want[] = {1e-5, 1e-4, 1e-3, 1e-2, 1e-1};
  int bad = 0;
  for (int i = 0; i < 5; i++) /* integer exponents: the doubles as written */
    bad += s->runs[2 * i].lr != want[i];
  CHECK_EQ_INT(bad, 0);
  CHECK_CLOSE(s->runs[1].lr, sqrt(10.0) * 1e-5, 1e-15);
  la_spec_free(s);
}

/* An mlp study with explicit lists and every section in object form. */
static void check_mlp_sections(void) {
  la_spec *s = parse_ok(
      "{\"name\": \"mlp\", \"description\": \"two lines\\nof text\", "
      "\"task\": {\"task\": \"mlp\", \"widths\": [32, 64, 10], "
      "\"activation\": \"gelu\", \"loss\": \"ce\", \"n_train\": 512, "
      "\"n_eval\": 128}, \"grid\": {\"rank\": [2, 8], \"alpha\": [4, 16], "
      "\"lr\": [0.05]}, \"steps\": 50, \"batch\": 32, \"optimizer\": "
      "{\"name\": \"sgd\", \"momentum\": 0.9, \"nesterov\": true}, "
      "\"schedule\": {\"name\": \"cosine\", \"warmup_steps\": 5, "
      "\"min_lr_ratio\": 0.1}, \"scaling\": \"rslora\", \"metrics\": "
      "{\"log_every\": 5, \"sharpness\": false}, \"diverge_factor\": 10}",
      NULL);
  if (s == NULL) return;
  const la_spec_run *r = &s->runs[0];
  CHECK_EQ_INT(s->n_runs, 4);
  CHECK_EQ_INT(json_array_size(json_object_get(r->config, "widths")), 3);
  CHECK_STR(cfg_str(r, "activation"), "gelu");
  CHECK_STR(cfg_str(r, "loss"), "ce");
  CHECK_STR(cfg_str(r, "optimizer"), "sgd");
  CHECK_CLOSE(cfg_num(r, "momentum"), 0.9, 0);
  CHECK(json_is_true(json_object_get(r->config, "nesterov")));
  CHECK(json_object_get(r->config, "beta1") == NULL);
  CHECK_STR(cfg_str(r, "schedule"), "cosine");
  CHECK_EQ_INT(cfg_int(r, "warmup_steps"), 5);
  CHECK_CLOSE(cfg_num(r, "min_lr_ratio"), 0.1, 0);
  CHECK_STR(cfg_str(r, "scaling"), "rslora");
  CHECK_EQ_INT(cfg_int(r, "log_every"), 5);
  CHECK(json_is_false(json_object_get(r->config, "sharpness")));
  CHECK(json_object_get(r->config, "sharpness_iters") == NULL);
  CHECK_EQ_INT(cfg_int(r, "batch"), 32);
  CHECK_CLOSE(cfg_num(r, "diverge_factor"), 10, 0);
  CHECK(json_object_get(r->config, "description") == NULL);
  CHECK_STR(json_string_value(json_object_get(s->normalized, "description")),
            "two lines\nof text");
  check_configs_parse(s);
  check_reparse(s);
  la_spec_free(s);
}

/* k_base with every default filled in. */
static const char *k_base_normalized =
    "{\"name\": \"bad\", \"task\": {\"task\": \"teacher\", \"d_in\": 64, "
    "\"d_out\": 32, \"loss\": \"mse\", \"n_train\": 4096, \"n_eval\": 1024, "
    "\"input_decay\": 0.0, \"target_rank\": 4, \"target_scale\": 1.0, "
    "\"target_decay\": 0.0, \"noise\": 0.0, \"data_seed\": 0}, \"grid\": "
    "{\"rank\": [1, 2, 4], \"alpha\": [1, 2], \"lr\": [0.001]}, \"seeds\": "
    "1, \"seed\": 0, \"steps\": 100, \"batch\": 64, \"optimizer\": "
    "{\"name\": \"adamw\", \"beta1\": 0.9, \"beta2\": 0.999, \"eps\": 1e-8, "
    "\"weight_decay\": 0.0, \"loraplus_ratio\": 1.0}, \"schedule\": "
    "{\"name\": \"constant\", \"warmup_steps\": 0}, \"scaling\": \"peft\", "
    "\"metrics\": {\"log_every\": 1, \"eval_every\": 10, \"spectra_every\": "
    "50, \"sharpness\": true, \"sharpness_every\": 0, \"sharpness_iters\": "
    "50, \"sharpness_batch\": 256, \"sharpness_tol\": 0.001}, "
    "\"diverge_factor\": 100.0, "
    "\"priority\": 0, \"max_parallel\": 0, \"max_attempts\": 2}";

/* The normalized spec of s parses back to itself and to the same runs. */
static void check_reparse(const la_spec *s) {
  la_spec *t = NULL;
  la_err err;
  if (la_spec_parse(s->normalized, NULL, &t, &err) != 0 ||
      la_spec_materialize(t)) {
    CHECK_STR(err.msg, "(normalized parses)");
    return;
  }
  CHECK(json_equal(t->normalized, s->normalized));
  int same = t->n_runs == s->n_runs;
  for (size_t i = 0; same && i < s->n_runs; i++)
    same = json_equal(s->runs[i].config, t->runs[i].config) &&
           s->runs[i].seed == t->runs[i].seed;
  CHECK(same);
  la_spec_free(t);
}

/* The normalized spec: every default, the canonical order, the grid as
 * given, not aliasing the input, and it parses back to the same runs. */
static void check_normalized(void) {
  json_t *in = J(k_base), *want = J(k_base_normalized);
  la_spec *s = NULL;
  la_err err;
  if (la_spec_parse(in, NULL, &s, &err) != 0 || la_spec_materialize(s)) {
    CHECK_STR(err.msg, "(parsed)");
    goto cleanup;
  }
  const json_t *n = s->normalized;
  char *got = json_dumps(n, JSON_COMPACT);
  CHECK(json_equal(n, want));
  CHECK(strncmp(got, "{\"name\":\"bad\",\"task\":{\"task\":\"teacher\"", 37) ==
        0);
  CHECK(strstr(got, "\"priority\":0,\"max_parallel\":0,\"max_attempts\":2}") !=
        NULL);
  if (!json_equal(n, want)) fprintf(stderr, "normalized: %s\n", got);
  free(got);
  json_object_set_new(json_object_get(in, "grid"), "rank", json_integer(3));
  CHECK_EQ_INT(
      json_array_size(json_object_get(json_object_get(n, "grid"), "rank")), 3);
  check_reparse(s);
cleanup:
  la_spec_free(s);
  json_decref(in);
  json_decref(want);
}

/* A search object: in the normalized spec with every field (its defaults
 * from the grid's alphas, listed in any order), parsed back the same; the
 * runs are the grid's (the search adds more as runs end). */
static void check_search_spec(void) {
  json_t *in = J(k_base), *patch = J("{\"grid\": {\"alpha\": [256, 1, 16]}, "
                                     "\"search\": {\"strategy\": "
                                     "\"bracket\", \"tolerance\": 0.25}}");
  json_t *spec = merge(in, patch);
  la_spec *s = NULL;
  la_err err;
  if (la_spec_parse(spec, NULL, &s, &err) != 0 || la_spec_materialize(s)) {
    CHECK_STR(err.msg, "(parsed)");
  } else {
    const json_t *se = json_object_get(s->normalized, "search");
    CHECK_EQ_INT(s->search.kind, LA_SEARCH_BRACKET);
    CHECK_EQ_INT(json_object_size(se), 6);
    CHECK_CLOSE(json_number_value(json_object_get(se, "tolerance")), 0.25, 0);
    CHECK_CLOSE(json_number_value(json_object_get(se, "step")), 4, 1e-12);
    CHECK_CLOSE(json_number_value(json_object_get(se, "alpha_min")), 1.0 / 64,
                0);
    CHECK_EQ_INT(s->n_runs, 9);
    check_reparse(s);
  }
  la_spec_free(s);
  s = NULL;
  /* the distinct ranks, ascending, whatever the grid's order */
  json_t *ranked = J("{\"grid\": {\"rank\": [8, 1, 4, 2, 16]}, \"seeds\": 2, "
                     "\"search\": {\"strategy\": \"law\"}}");
  json_t *spec2 = merge(in, ranked);
  if (la_spec_parse(spec2, NULL, &s, &err) != 0) {
    CHECK_STR(err.msg, "(parsed)");
  } else {
    size_t n = 0;
    int *r = la_spec_ranks(s, &n);
    CHECK_EQ_INT(n, 5);
    CHECK(r != NULL && r[0] == 1 && r[1] == 2 && r[2] == 4 && r[3] == 8 &&
          r[4] == 16);
    CHECK_EQ_INT(s->search.law_ranks, 3); /* law ranks 1, 2, 4 */
    free(r);
  }
  json_decref(spec2);
  json_decref(ranked);
  la_spec_free(s);
  json_decref(spec);
  json_decref(patch);
  json_decref(in);
}

/* One rejected spec: a merge patch of k_base, the path the error must start
 * with (followed by ':') and a word it must contain. */
typedef struct bad_case {
  const char *patch, *path, *word;
} bad_case;

static const bad_case k_bad[] = {
    /* shapes and the top level */
    {"[]", "spec", "object"},
    {"{\"name\": null}", "name", "missing"},
    {"{\"name\": \"\"}", "name", "empty"},
    {"{\"name\": 5}", "name", "string"},
    {"{\"name\": \"a\\u0001b\"}", "name", "control"},
    {"{\"name\": \"a\\u0085b\"}", "name", "control"},
    {"{\"description\": 3}", "description", "string"},
    {"{\"description\": \"x\\u001b[31m\"}", "description", "control"},
    {"{\"bogus\": 1}", "bogus", "not a sweep spec field"},
    {"{\"rank\": 4}", "rank", "grid.rank"},
    {"{\"threads\": 4}", "threads", "daemon"},
    {"{\"priority\": 1001}", "priority", "-1000..1000"},
    {"{\"priority\": 1.5}", "priority", "integer"},
    {"{\"max_parallel\": -1}", "max_parallel", "0..1024"},
    {"{\"max_attempts\": 0}", "max_attempts", "1..10"},
    {"{\"steps\": null}", "steps", "missing"},
    {"{\"steps\": 0}", "steps", "minimum"},
    {"{\"steps\": \"100\"}", "steps", "integer"},
    {"{\"batch\": 5000}", "batch", "exceeds n_train"},
    {"{\"diverge_factor\": 1}", "diverge_factor", "minimum"},
    {"{\"scaling\": \"sqrt\"}", "scaling", "unknown value"},
    {"{\"search\": {\"strategy\": \"bracket\", \"tolerance\": 0}}",
     "search.tolerance", "outside"},
    {"{\"search\": \"bracket\"}", "search", "object"},
    {"{\"search\": {\"strategy\": \"law\", \"law_ranks\": 3}}",
     "search.law_ranks", "not fewer than the grid's 3 ranks"},
    {"{\"search\": {\"strategy\": \"bracket\", \"max_points\": 64}, "
     "\"seeds\": 1000}",
     "search.max_points", "may exceed the maximum of 100000"},
    /* task */
    {"{\"task\": null}", "task", "missing"},
    {"{\"task\": \"teacher\"}", "task", "object"},
    {"{\"task\": {\"task\": null}}", "task.task", "missing"},
    {"{\"task\": {\"task\": \"cnn\"}}", "task.task", "unknown task"},
    {"{\"task\": {\"rank\": 4}}", "task.rank", "belongs in grid.rank"},
    {"{\"task\": {\"seed\": 4}}", "task.seed", "top-level"},
    {"{\"task\": {\"beta1\": 0.9}}", "task.beta1", "belongs in optimizer"},
    {"{\"task\": {\"foo\": 1}}", "task.foo", "not a task field"},
    {"{\"task\": {\"d_in\": 0}}", "task.d_in", "1..8192"},
    {"{\"task\": {\"d_out\": null}}", "task.d_out", "required"},
    {"{\"task\": {\"n_train\": \"many\"}}", "task.n_train", "integer"},
    {"{\"task\": {\"target_rank\": 40}}", "task.target_rank",
     "exceeds min(d_in, d_out) = 32"},
    {"{\"task\": {\"noise\": 0.1, \"loss\": \"ce\"}}", "task.noise", "mse"},
    {"{\"task\": {\"activation\": \"relu\"}}", "task.activation",
     "does not apply"},
    {"{\"task\": {\"eval_fraction\": 0.1}}", "task.eval_fraction",
     "does not apply"},
    {"{\"task\": {\"task\": \"mlp\", \"widths\": [8, 8]}}", "task.d_in",
     "not a field"},
    {"{\"task\": {\"task\": \"mlp\", \"d_in\": null, \"d_out\": null}}",
     "task.widths", "required"},
    {"{\"task\": {\"task\": \"mlp\", \"d_in\": null, \"d_out\": null, "
     "\"widths\": [64]}}",
     "task.widths", "2 to 9"},
    {"{\"task\": {\"task\": \"mlp\", \"d_in\": null, \"d_out\": null, "
     "\"widths\": [64, 0, 8]}}",
     "task.widths[1]", "1..2048"},
    {"{\"task\": {\"task\": \"mlp\", \"d_in\": null, \"d_out\": null, "
     "\"widths\": [64, 3, 8], \"target_rank\": 2}}",
     "grid.rank[2]", "exceeds min(d_in, d_out) = 3 of layer 0"},
    {"{\"task\": {\"task\": \"npy\", \"d_in\": null, \"d_out\": null, "
     "\"npy\": {\"y\": \"y.npy\", \"w0\": [\"w.npy\"]}}}",
     "task.npy.x", "required"},
    {"{\"task\": {\"task\": \"npy\", \"d_in\": null, \"d_out\": null, "
     "\"npy\": {\"x\": \"x.npy\", \"y\": \"y.npy\", \"w0\": [\"w.npy\"], "
     "\"z\": 1}}}",
     "task.npy.z", "unknown"},
    {"{\"task\": {\"task\": \"npy\", \"d_in\": null, \"d_out\": null, "
     "\"npy\": {\"x\": \"x.npy\", \"y\": \"y.npy\", \"w0\": [\"w.npy\"]}, "
     "\"data_seed\": 1}}",
     "task.data_seed", "does not apply"},
    /* npy paths are absolute: never resolved against the daemon's cwd */
    {"{\"task\": {\"task\": \"npy\", \"d_in\": null, \"d_out\": null, "
     "\"npy\": {\"x\": \"x.npy\", \"y\": \"/d/y.npy\", \"w0\": "
     "[\"/d/w.npy\"]}}}",
     "task.npy.x", "must be an absolute path"},
    {"{\"task\": {\"task\": \"npy\", \"d_in\": null, \"d_out\": null, "
     "\"npy\": {\"x\": \"/d/x.npy\", \"y\": \"../y.npy\", \"w0\": "
     "[\"/d/w.npy\"]}}}",
     "task.npy.y", "must be an absolute path"},
    {"{\"task\": {\"task\": \"npy\", \"d_in\": null, \"d_out\": null, "
     "\"npy\": {\"x\": \"/d/x.npy\", \"y\": \"/d/y.npy\", \"w0\": "
     "[\"/d/w.npy\", \"./w1.npy\"]}}}",
     "task.npy.w0[1]", "must be an absolute path"},
    {"{\"task\": {\"task\": \"npy\", \"d_in\": null, \"d_out\": null, "
     "\"npy\": {\"x\": \"/d/x.npy\", \"y\": \"/d/y.npy\", \"w0\": "
     "[\"/d/w.npy\"], \"a0\": [\"~/a.npy\"]}}}",
     "task.npy.a0[0]", "must be an absolute path"},
    {"{\"task\": {\"task\": \"npy\", \"d_in\": null, \"d_out\": null, "
     "\"npy\": {\"x\": \"/d/x.npy\", \"y\": \"/d/y.npy\", \"w0\": "
     "[\"/d/w.npy\"], \"x_eval\": \"xe.npy\", \"y_eval\": \"/d/ye.npy\"}}}",
     "task.npy.x_eval", "must be an absolute path"},
    /* grid */
    {"{\"grid\": null}", "grid", "missing"},
    {"{\"grid\": [1]}", "grid", "object"},
    {"{\"grid\": {\"seed\": [1]}}", "grid.seed", "top-level"},
    {"{\"grid\": {\"beta\": [1]}}", "grid.beta", "not a grid field"},
    {"{\"grid\": {\"rank\": null}}", "grid.rank", "missing"},
    {"{\"grid\": {\"lr\": []}}", "grid.lr", "empty"},
    {"{\"grid\": {\"rank\": 4}}", "grid.rank", "list of values or a range"},
    {"{\"grid\": {\"rank\": [1, 2.5]}}", "grid.rank[1]", "integer"},
    {"{\"grid\": {\"rank\": [1, 0]}}", "grid.rank[1]", "positive"},
    {"{\"grid\": {\"rank\": [1, 70000]}}", "grid.rank[1]", "maximum"},
    {"{\"grid\": {\"rank\": [1, 2, 33]}}", "grid.rank[2]",
     "33 exceeds min(d_in, d_out) = 32"},
    {"{\"grid\": {\"rank\": [4, 2, 4]}}", "grid.rank[2]",
     "duplicate of grid.rank[0]"},
    {"{\"grid\": {\"alpha\": [1, -2]}}", "grid.alpha[1]", "> 0"},
    {"{\"grid\": {\"alpha\": [1, 0]}}", "grid.alpha[1]", "> 0"},
    {"{\"grid\": {\"alpha\": [1, \"x\"]}}", "grid.alpha[1]", "number"},
    {"{\"grid\": {\"alpha\": [1, 2e15]}}", "grid.alpha[1]", "maximum"},
    {"{\"grid\": {\"lr\": [0.1, 0.2, 0.1]}}", "grid.lr[2]", "duplicate"},
    {"{\"grid\": {\"lr\": [0.1, 2e6]}}", "grid.lr[1]", "maximum"},
    {"{\"grid\": {\"alpha\": {\"log2\": [0, 3], \"num\": 0}}}",
     "grid.alpha.num", "1..10000"},
    {"{\"grid\": {\"alpha\": {\"log2\": [0, 3], \"num\": 10001}}}",
     "grid.alpha.num", "1..10000"},
    {"{\"grid\": {\"alpha\": {\"log2\": [3, 0], \"num\": 4}}}",
     "grid.alpha.log2", "lo 3 is above hi 0"},
    {"{\"grid\": {\"alpha\": {\"log2\": [0, 3]}}}", "grid.alpha.num",
     "missing"},
    {"{\"grid\": {\"alpha\": {\"num\": 3}}}", "grid.alpha", "log2"},
    {"{\"grid\": {\"alpha\": {\"log2\": [0, 3], \"log10\": [0, 1], \"num\": "
     "2}}}",
     "grid.alpha", "exactly one"},
    {"{\"grid\": {\"alpha\": {\"log2\": [0], \"num\": 2}}}", "grid.alpha.log2",
     "[lo, hi]"},
    {"{\"grid\": {\"alpha\": {\"log2\": [0, \"3\"], \"num\": 2}}}",
     "grid.alpha.log2", "two numbers"},
    {"{\"grid\": {\"alpha\": {\"log2\": [0, 3], \"num\": 4, \"step\": 1}}}",
     "grid.alpha.step", "not a range field"},
    {"{\"grid\": {\"alpha\": {\"log2\": [0, 3], \"num\": 1}}}",
     "grid.alpha.num", "lo == hi"},
    {"{\"grid\": {\"rank\": {\"log2\": [0, 3], \"num\": 5}}}", "grid.rank[1]",
     "1.681792831 (2^0.75) is not an integer"},
    {"{\"grid\": {\"rank\": {\"log10\": [0, 1], \"num\": 3}}}", "grid.rank[1]",
     "not an integer"},
    {"{\"grid\": {\"rank\": {\"log2\": [0, 1e-12], \"num\": 2}}}",
     "grid.rank[1]", "duplicate of grid.rank[0] (1)"},
    {"{\"grid\": {\"rank\": {\"log2\": [0, 6], \"num\": 7}}}", "grid.rank[6]",
     "64 exceeds min(d_in, d_out) = 32"},
    {"{\"grid\": {\"lr\": {\"log10\": [-3, 400], \"num\": 2}}}", "grid.lr[1]",
     "out of range"},
    {"{\"grid\": {\"lr\": {\"log10\": [-3, 7], \"num\": 11}}}", "grid.lr[10]",
     "1e+07 is above the maximum"},
    {"{\"grid\": {\"rank\": {\"log2\": [0, 4], \"num\": 5}, \"alpha\": "
     "{\"log2\": [0, 10], \"num\": 10000}, \"lr\": {\"log10\": [-4, -1], "
     "\"num\": 10}}}",
     "grid", "500000 runs exceeds the maximum of 100000"},
    /* seeds */
    {"{\"seeds\": 0}", "seeds", "count"},
    {"{\"seeds\": 1001}", "seeds", "count"},
    {"{\"seeds\": \"3\"}", "seeds", "count"},
    {"{\"seeds\": []}", "seeds", "empty"},
    {"{\"seeds\": [1, 2, 1]}", "seeds[2]", "duplicate of seeds[0]"},
    {"{\"seeds\": [1, -2]}", "seeds[1]", "2^53"},
    {"{\"seeds\": [9007199254740992]}", "seeds[0]", "2^53"},
    {"{\"seed\": -1}", "seed", "integer"},
    {"{\"seed\": 1.5}", "seed", "integer"},
    /* optimizer, schedule, metrics */
    {"{\"optimizer\": \"adam\"}", "optimizer", "unknown optimizer 'adam'"},
    {"{\"optimizer\": 3}", "optimizer", "name or an object"},
    {"{\"optimizer\": {\"beta1\": 0.9}}", "optimizer.name", "missing"},
    {"{\"optimizer\": {\"name\": 1}}", "optimizer.name", "string"},
    {"{\"optimizer\": {\"name\": \"lion\"}}", "optimizer.name", "unknown"},
    {"{\"optimizer\": {\"name\": \"sgd\", \"beta1\": 0.9}}", "optimizer.beta1",
     "does not apply to optimizer 'sgd'"},
    {"{\"optimizer\": {\"name\": \"adamw\", \"momentum\": 0.9}}",
     "optimizer.momentum", "does not apply"},
    {"{\"optimizer\": {\"name\": \"adamw\", \"beta1\": 2}}", "optimizer.beta1",
     "maximum"},
    {"{\"optimizer\": {\"name\": \"adamw\", \"foo\": 1}}", "optimizer.foo",
     "not an optimizer field"},
    {"{\"optimizer\": {\"name\": \"sgd\", \"nesterov\": 1}}",
     "optimizer.nesterov", "true or false"},
    {"{\"optimizer\": {\"name\": \"adamw\", \"warmup_steps\": 1}}",
     "optimizer.warmup_steps", "belongs in schedule"},
    {"{\"schedule\": \"linear\"}", "schedule", "unknown schedule"},
    {"{\"schedule\": {\"name\": \"cosine\", \"warmup_steps\": 200}}",
     "schedule.warmup_steps", "200 exceeds steps = 100"},
    {"{\"schedule\": {\"name\": \"constant\", \"min_lr_ratio\": 0.1}}",
     "schedule.min_lr_ratio", "does not apply"},
    {"{\"schedule\": {\"name\": \"cosine\", \"min_lr_ratio\": 2}}",
     "schedule.min_lr_ratio", "maximum"},
    {"{\"schedule\": {\"warmup_steps\": 2}}", "schedule.name", "missing"},
    {"{\"metrics\": []}", "metrics", "object"},
    {"{\"metrics\": {\"log_every\": 0}}", "metrics.log_every", "minimum"},
    {"{\"metrics\": {\"sharpness\": \"yes\"}}", "metrics.sharpness",
     "true or false"},
    {"{\"metrics\": {\"lr\": 1}}", "metrics.lr", "belongs in grid.lr"},
    {"{\"metrics\": {\"every\": 1}}", "metrics.every", "not a metrics field"},
};

/* Parses one bad case; checks the code, the NULL result and the message. */
static void check_bad_case(int i, const bad_case *c, json_t *spec,
                           const la_spec_limits *lim) {
  la_spec *s = (la_spec *)&s; /* must be set to NULL */
  la_err err = {{0}};
  int rc = la_spec_parse(spec, lim, &s, &err);
  if (rc == 0) la_spec_materialize(s);
  size_t n = strlen(c->path);
  int ok = rc == LA_EINVAL && s == NULL && strncmp(err.msg, c->path, n) == 0 &&
           err.msg[n] == ':' && strstr(err.msg, c->word) != NULL;
  if (ok) {
    check_passes++;
    return;
  }
  check_failures++;
  fprintf(stderr,
          "bad[%d] %s\n  expected: rc %d, \"%s: ...%s...\"\n"
          "  actual:   rc %d, \"%s\"%s\n",
          i, c->patch, LA_EINVAL, c->path, c->word, rc, err.msg,
          s == NULL ? "" : " (out not NULL)");
  if (rc == 0 && s != (la_spec *)&s) la_spec_free(s);
}

/* Every case of a table: its patch of base_text is refused as it says. */
static void check_bad_patches(const char *base_text, const bad_case *cases,
                              size_t n, const char *what) {
  json_t *base = J(base_text);
  for (size_t i = 0; i < n; i++) {
    json_t *patch = J(cases[i].patch), *spec = merge(base, patch);
    check_bad_case((int)i, &cases[i], spec, NULL);
    json_decref(patch);
    json_decref(spec);
  }
  printf("%zu bad %s specs in the table\n", n, what);
  json_decref(base);
}

static void check_bad_table(void) {
  check_bad_patches(k_base, k_bad, sizeof k_bad / sizeof k_bad[0], "teacher");
}

/* Lengths: name 128 bytes is fine, 129 is not; description 4096 / 4097;
 * field names with NUL bytes. */
static void check_lengths(void) {
  char text[4200];
  json_t *spec = J(k_base);
  la_spec *s = NULL;
  la_err err;
  memset(text, 'n', sizeof text);
  json_object_set_new(spec, "name", json_stringn(text, 128));
  json_object_set_new(spec, "description", json_stringn(text, 4096));
  CHECK_EQ_INT(la_spec_parse(spec, NULL, &s, &err), 0);
  if (s) la_spec_materialize(s);
  if (s) CHECK_EQ_INT(strlen(s->name), 128);
  la_spec_free(s);
  json_object_set_new(spec, "name", json_stringn(text, 129));
  check_bad_case(-1, &(bad_case){"name of 129 bytes", "name", "too long"}, spec,
                 NULL);
  json_object_set_new(spec, "name", json_string("ok"));
  json_object_set_new(spec, "description", json_stringn(text, 4097));
  check_bad_case(-2, &(bad_case){"description of 4097", "description", "long"},
                 spec, NULL);
  /* keys with a NUL byte (only possible when built in code) */
  json_object_del(spec, "description");
  json_object_setn_new(spec, "seed\0x", 6, json_integer(1));
  check_bad_case(-3, &(bad_case){"key seed\\0x", "seed", "NUL"}, spec, NULL);
  json_object_deln(spec, "seed\0x", 6);
  json_object_setn_new(json_object_get(spec, "task"), "noise\0", 6,
                       json_real(0.5));
  check_bad_case(-4, &(bad_case){"key task.noise\\0", "task.noise", "NUL"},
                 spec, NULL);
  json_decref(spec);
}

/* The exact messages for a rank past the layer and for too many runs. */
static void check_exact_messages(void) {
  la_spec_limits lim = {.max_runs = 1000};
  la_spec *s = NULL;
  la_err err;
  json_t *a = J("{\"name\": \"x\", \"task\": {\"task\": \"teacher\", \"d_in\": "
                "256, \"d_out\": 512}, \"grid\": {\"rank\": [1, 2, 4, 8, 300], "
                "\"alpha\": [1], \"lr\": [0.1]}, \"steps\": 10}");
  CHECK_EQ_INT(la_spec_parse(a, NULL, &s, &err), LA_EINVAL);
  CHECK_STR(err.msg, "grid.rank[4]: 300 exceeds min(d_in, d_out) = 256 of "
                     "layer 0");
  json_t *b = J("{\"name\": \"x\", \"task\": {\"task\": \"teacher\", \"d_in\": "
                "256, \"d_out\": 512}, \"grid\": {\"rank\": {\"log2\": [0, "
                "14], \"num\": 15}, \"alpha\": {\"log2\": [0, 14], \"num\": "
                "15}, \"lr\": [0.1, 0.01, 0.001]}, \"seeds\": 3, \"steps\": "
                "10}");
  CHECK_EQ_INT(la_spec_parse(b, &lim, &s, &err), LA_EINVAL);
  CHECK_STR(err.msg, "grid: 15 x 15 x 3 ranks/alphas/lrs x 3 seeds = 2025 "
                     "runs exceeds the maximum of 1000");
  CHECK(s == NULL);
  json_decref(a);
  json_decref(b);
}

/* A spec of the given run counts as text (teacher, 10..seeds). */
static json_t *big_spec(int ranks, int alphas, int lrs, int seeds) {
  char text[512];
  snprintf(text, sizeof text,
           "{\"name\": \"big\", \"task\": {\"task\": \"teacher\", \"d_in\": "
           "4096, \"d_out\": 4096}, \"grid\": {\"rank\": {\"log2\": [0, %d], "
           "\"num\": %d}, \"alpha\": {\"log2\": [-4, 12], \"num\": %d}, "
           "\"lr\": {\"log10\": [-5, %d], \"num\": %d}}, \"seeds\": %d, "
           "\"steps\": 1000}",
           ranks - 1, ranks, alphas, lrs > 1 ? -1 : -5, lrs, seeds);
  return J(text);
}

/* 100,000 runs parse quickly (time printed, not asserted); 100,001 fail. */
static void check_speed_and_limit(void) {
  json_t *spec = big_spec(10, 100, 10, 10);
  la_spec *s = NULL;
  la_err err;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = la_spec_parse(spec, NULL, &s, &err);
  if (rc == 0) la_spec_materialize(s);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CHECK_EQ_INT(rc, 0);
  if (rc) fprintf(stderr, "100k spec: %s\n", err.msg);
  if (s) {
    CHECK_EQ_INT(s->n_runs, 100000);
    CHECK_EQ_INT(s->runs[99999].rank, 512);
    CHECK_EQ_INT(s->runs[99999].seed_index, 9);
  }
  printf("100000-run spec parsed in %.3f s\n",
         (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
  clock_gettime(CLOCK_MONOTONIC, &t0);
  la_spec_free(s);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("and freed in %.3f s\n",
         (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
  json_decref(spec);
  spec = big_spec(11, 9091, 1, 1); /* 100,001 runs */
  s = NULL;
  CHECK_EQ_INT(la_spec_parse(spec, NULL, &s, &err), LA_EINVAL);
  CHECK_STR(err.msg, "grid: 11 x 9091 x 1 ranks/alphas/lrs x 1 seeds = 100001 "
                     "runs exceeds the maximum of 100000");
  CHECK(s == NULL);
  json_decref(spec);
}

/* jansson's allocations fail from the n-th on (0: never). */
static long alloc_count, alloc_fail_at;
static void *failing_malloc(size_t n) {
  if (alloc_fail_at > 0 && ++alloc_count >= alloc_fail_at) return NULL;
  return malloc(n);
}

/* Out of memory at every jansson allocation in turn: each parse either
 * succeeds or returns LA_ENOMEM with *out NULL, and (under ASan) leaks
 * nothing and touches nothing it should not. */
static void check_out_of_memory(const char *text) {
  json_t *spec = J(text);
  int bad = 0, failed = 0;
  json_set_alloc_funcs(failing_malloc, free);
  for (long n = 1; n < 2000; n++) {
    la_spec *s = (la_spec *)&s;
    la_err err;
    alloc_count = 0;
    alloc_fail_at = n;
    int rc = la_spec_parse(spec, NULL, &s, &err);
    if (rc == 0) la_spec_materialize(s);
    alloc_fail_at = 0;
    if (rc == 0) {
      la_spec_free(s);
      break;
    }
    failed++;
    if (rc != LA_ENOMEM || s != NULL) {
      if (bad++ == 0)
        fprintf(stderr, "allocation %ld failing: rc %d (%s)\n", n, rc, err.msg);
    }
  }
  json_set_alloc_funcs(malloc, free);
  CHECK_EQ_INT(bad, 0);
  CHECK(failed > 50);
  printf("%d allocation failures tried\n", failed);
  json_decref(spec);
}

/* got equals want (NULL: none), or both are printed. */
static void check_text(const char *got, const char *want) {
  int same = got && want ? strcmp(got, want) == 0 : got == want;
  if (!same)
    printf("  expected: %s\n  actual:   %s\n", want ? want : "(null)",
           got ? got : "(null)");
  CHECK(same);
}

/* la_spec_each_path's walk into a string: "field=value;" per path. */
static int list_path(json_t *v, const char *field, void *ctx) {
  char *out = ctx;
  size_t n = strlen(out);
  snprintf(out + n, 512 - n, "%s=%s;", field,
           json_is_string(v) ? json_string_value(v) : "?");
  return 0;
}

/* Every path field the worker reads is walked, named as the spec names it,
 * and relative ones become absolute against the submitter's directory; the
 * worker's errors are placed in their section. */
static void check_paths_walk(void) {
  json_t *spec = json_loads(
      "{\"task\": {\"task\": \"npy\", \"npy\": {\"x\": \"d/x.npy\", "
      "\"y\": \"/abs/y.npy\", \"x_eval\": \"./xe.npy\", \"y_eval\": "
      "\"ye.npy\", \"w0\": [\"w0.npy\", \"/w1.npy\"], \"a0\": [\"a.npy\", "
      "\"b.npy\"]}}, \"grid\": {\"rank\": [1]}}",
      0, NULL);
  char seen[512] = "";
  CHECK(spec != NULL);
  CHECK_EQ_INT(la_spec_each_path(spec, list_path, seen), 0);
  check_text(seen, "task.npy.x=d/x.npy;task.npy.y=/abs/y.npy;task.npy.x_eval="
                   "./xe.npy;task.npy.y_eval=ye.npy;task.npy.w0[0]=w0.npy;"
                   "task.npy.w0[1]=/w1.npy;task.npy.a0[0]=a.npy;task.npy.a0[1]"
                   "=b.npy;");
  CHECK_EQ_INT(la_rights_absolute_paths(spec, "/home/me"), 6);
  seen[0] = '\0';
  la_spec_each_path(spec, list_path, seen);
  check_text(seen, "task.npy.x=/home/me/d/x.npy;task.npy.y=/abs/y.npy;"
                   "task.npy.x_eval=/home/me/xe.npy;task.npy.y_eval=/home/me/"
                   "ye.npy;task.npy.w0[0]=/home/me/w0.npy;task.npy.w0[1]=/"
                   "w1.npy;task.npy.a0[0]=/home/me/a.npy;task.npy.a0[1]=/home/"
                   "me/b.npy;");
  json_decref(spec);
  check_text(la_spec_section_of("npy.x: /d/x.npy: cannot be read"), "task");
  check_text(la_spec_section_of("beta1: must be ..."), "optimizer");
  check_text(la_spec_section_of("rank: 16 exceeds min(d_in, d_out)"), NULL);
  check_text(la_spec_section_of(""), NULL);
}

/* ---- the command task (base/command.c, its part of spec.c) ---- */

/* A command sweep that every bad spec below patches. */
static const char *k_cmd_base =
    "{\"name\": \"cmd\", \"task\": {\"task\": \"command\", \"command\": "
    "{\"argv\": [\"/usr/bin/python3\", \"/opt/t.py\", \"--rank={rank}\", "
    "\"{alpha}\", \"{lr}\", \"{seed}\", \"{steps}\", \"{run_id}\", "
    "\"{model}-{{x}}\"], \"cwd\": \"/tmp\", \"env\": {\"RUN\": "
    "\"r{rank}\"}, \"memory_limit\": \"64M\"}, \"params\": {\"model\": "
    "\"tiny\"}}, \"grid\": {\"rank\": [2, 8], \"alpha\": [16, 0.5], "
    "\"lr\": [0.001]}, \"steps\": 50}";

/* The good spec: 4 runs; run 1 (rank 2, alpha 0.5) expands as written. */
static void check_command_good(void) {
  json_t *spec = J(k_cmd_base), *cfg, *params;
  la_spec *s = NULL;
  la_command c;
  la_err err = {{0}};
  int rc = la_spec_parse(spec, NULL, &s, &err);
  CHECK_EQ_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "  error: %s\n", err.msg);
    json_decref(spec);
    return;
  }
  CHECK_EQ_INT(s->n_runs, 4);
  const json_t *cmd =
      json_object_get(json_object_get(s->normalized, "task"), "command");
  CHECK_EQ_INT(json_integer_value(json_object_get(cmd, "time_limit")),
               LA_CMD_TIME_LIMIT);
  CHECK_EQ_INT(json_integer_value(json_object_get(cmd, "memory_limit")),
               64 << 20);
  CHECK(json_object_get(s->normalized, "optimizer") == NULL);
  CHECK(json_object_get(s->normalized, "metrics") == NULL);
  cfg = la_spec_run_config(s, 1);
  json_object_set_new(cfg, "run_id", json_integer(77));
  json_object_set_new(cfg, "threads", json_integer(2));
  CHECK_EQ_INT(json_integer_value(json_object_get(cfg, "max_records")),
               1000000);
  rc = la_command_from_config(cfg, &c, &err);
  CHECK_EQ_INT(rc, 0);
  if (rc == 0) {
    const char *want[] = {"/usr/bin/python3",
                          "/opt/t.py",
                          "--rank=2",
                          "0.5",
                          "0.001",
                          NULL,
                          "50",
                          "77",
                          "tiny-{x}"};
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->runs[1].seed);
    want[5] = seed;
    for (int i = 0; i < 9; i++)
      check_text(c.argv[i], want[i]);
    CHECK(c.argv[9] == NULL);
    check_text(c.env[0], "RUN=r2");
    CHECK(c.env[1] == NULL);
    check_text(c.cwd, "/tmp");
    CHECK_EQ_INT(c.memory_limit, 64 << 20);
    CHECK_EQ_INT(c.time_limit, LA_CMD_TIME_LIMIT);
    la_command_clear(&c);
  } else {
    fprintf(stderr, "  error: %s\n", err.msg);
  }
  params = la_command_params(cfg);
  CHECK_EQ_INT(json_integer_value(json_object_get(params, "run_id")), 77);
  CHECK_EQ_INT(json_integer_value(json_object_get(params, "rank")), 2);
  CHECK_CLOSE(json_number_value(json_object_get(params, "alpha")), 0.5, 0);
  CHECK_EQ_INT(json_integer_value(json_object_get(params, "threads")), 2);
  check_text(json_string_value(
                 json_object_get(json_object_get(params, "params"), "model")),
             "tiny");
  CHECK(json_object_get(params, "command") == NULL);
  json_decref(params);
  json_decref(cfg);
  la_spec_free(s);
  json_decref(spec);
}

static const bad_case k_cmd_bad[] = {
    {"{\"task\": {\"command\": null}}", "task.command", "missing"},
    {"{\"task\": {\"command\": []}}", "task.command", "object"},
    {"{\"task\": {\"command\": {\"argv\": null}}}", "task.command.argv",
     "missing"},
    {"{\"task\": {\"command\": {\"argv\": []}}}", "task.command.argv",
     "non-empty"},
    {"{\"task\": {\"command\": {\"argv\": \"/bin/true\"}}}",
     "task.command.argv", "non-empty list"},
    {"{\"task\": {\"command\": {\"argv\": [\"python3\", \"t.py\"]}}}",
     "task.command.argv[0]", "absolute path"},
    {"{\"task\": {\"command\": {\"argv\": [\"/bin/{rank}\"]}}}",
     "task.command.argv[0]", "placeholders"},
    {"{\"task\": {\"command\": {\"argv\": [\"/bin/true\", \"{rnak}\"]}}}",
     "task.command.argv[1]", "unknown placeholder {rnak}"},
    {"{\"task\": {\"command\": {\"argv\": [\"/bin/true\", \"{rank\"]}}}",
     "task.command.argv[1]", "without its '}'"},
    {"{\"task\": {\"command\": {\"argv\": [\"/bin/true\", \"a}b\"]}}}",
     "task.command.argv[1]", "without its '{'"},
    {"{\"task\": {\"command\": {\"argv\": [\"/bin/true\", \"{}\"]}}}",
     "task.command.argv[1]", "not a placeholder"},
    {"{\"task\": {\"command\": {\"argv\": [\"/bin/true\", 3]}}}",
     "task.command.argv[1]", "string"},
    {"{\"task\": {\"command\": {\"argv\": [\"/bin/true\", \"a\\nb\"]}}}",
     "task.command.argv[1]", "control character"},
    {"{\"task\": {\"command\": {\"cwd\": \"exp\"}}}", "task.command.cwd",
     "absolute path"},
    {"{\"task\": {\"command\": {\"cwd\": 1}}}", "task.command.cwd", "string"},
    {"{\"task\": {\"command\": {\"env\": {\"A-B\": \"x\"}}}}",
     "task.command.env.A-B", "variable name"},
    {"{\"task\": {\"command\": {\"env\": {\"LORALPHA_RECORD_FD\": \"5\"}}}}",
     "task.command.env.LORALPHA_RECORD_FD", "set by the daemon"},
    {"{\"task\": {\"command\": {\"env\": {\"X\": \"{nope}\"}}}}",
     "task.command.env.X", "unknown placeholder"},
    {"{\"task\": {\"command\": {\"env\": {\"X\": 1}}}}", "task.command.env.X",
     "string"},
    {"{\"task\": {\"command\": {\"env\": []}}}", "task.command.env", "object"},
    {"{\"task\": {\"command\": {\"time_limit\": 0}}}",
     "task.command.time_limit", "seconds"},
    {"{\"task\": {\"command\": {\"time_limit\": 1.5}}}",
     "task.command.time_limit", "whole number"},
    {"{\"task\": {\"command\": {\"time_limit\": 2592001}}}",
     "task.command.time_limit", "1..2592000"},
    {"{\"task\": {\"command\": {\"time_limit\": \"1h\"}}}",
     "task.command.time_limit", "seconds"},
    {"{\"task\": {\"command\": {\"memory_limit\": \"8X\"}}}",
     "task.command.memory_limit", "size"},
    {"{\"task\": {\"command\": {\"memory_limit\": 1024}}}",
     "task.command.memory_limit", "outside"},
    {"{\"task\": {\"command\": {\"memory_limit\": -5}}}",
     "task.command.memory_limit", "bytes"},
    {"{\"task\": {\"command\": {\"shell\": true}}}", "task.command.shell",
     "not a command field"},
    {"{\"task\": {\"params\": {\"rank\": 3}}}", "task.params.rank",
     "run value"},
    {"{\"task\": {\"params\": {\"Model\": 3}}}", "task.params.Model",
     "parameter name"},
    {"{\"task\": {\"params\": {\"m\": [1]}}}", "task.params.m", "number"},
    {"{\"task\": {\"params\": 3}}", "task.params", "object"},
    {"{\"task\": {\"d_in\": 3}}", "task.d_in", "does not apply"},
    {"{\"task\": {\"npy\": {\"x\": \"/x.npy\"}}}", "task.npy",
     "does not apply"},
    {"{\"optimizer\": \"sgd\"}", "optimizer", "does not apply"},
    {"{\"metrics\": {\"log_every\": 2}}", "metrics", "does not apply"},
    {"{\"schedule\": \"cosine\"}", "schedule", "does not apply"},
    {"{\"diverge_factor\": 5}", "diverge_factor", "does not apply"},
    {"{\"steps\": 0}", "steps", "integer"},
    {"{\"batch\": \"x\"}", "batch", "integer"},
    {"{\"scaling\": \"x\"}", "scaling", "peft"},
};

static void check_command_bad(void) {
  check_bad_patches(k_cmd_base, k_cmd_bad,
                    sizeof k_cmd_bad / sizeof k_cmd_bad[0], "command");
}

/* A memory limit above the daemon's max_run_memory is refused, naming it. */
static void check_command_memory_cap(void) {
  json_t *spec = J(k_cmd_base);
  la_spec_limits lim;
  la_spec *s = NULL;
  la_err err = {{0}};
  la_spec_limits_default(&lim);
  lim.max_run_memory = 32ull << 20;
  CHECK_EQ_INT(la_spec_parse(spec, &lim, &s, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "task.command.memory_limit: 64 MiB") == err.msg);
  CHECK(strstr(err.msg, "max_run_memory") != NULL);
  if (strstr(err.msg, "max_run_memory") == NULL)
    fprintf(stderr, "  got: %s\n", err.msg);
  la_spec_free(s);
  json_decref(spec);
}

/* Reals take their shortest exact form; integers stay integers. */
static void check_command_number_text(void) {
  json_t *cfg = J("{\"task\": \"command\", \"command\": {\"argv\": "
                  "[\"/bin/echo\", \"{alpha}\", \"{lr}\", \"{rank}\", "
                  "\"{scaling}\", \"{flag}\"]}, \"params\": {\"flag\": "
                  "true}, \"alpha\": 0.1, \"lr\": 3e-05, \"rank\": 4, "
                  "\"scaling\": \"rslora\"}");
  la_command c;
  la_err err;
  CHECK_EQ_INT(la_command_from_config(cfg, &c, &err), 0);
  if (c.argv != NULL) {
    check_text(c.argv[1], "0.1");
    check_text(c.argv[2], "3e-05");
    check_text(c.argv[3], "4");
    check_text(c.argv[4], "rslora");
    check_text(c.argv[5], "true");
  }
  la_command_clear(&c);
  json_decref(cfg);
}

/* Whose command tasks a daemon runs (rights.h): its own user's on either
 * executor; another's never on Slurm (its jobs run as the daemon's user). */
/* A gpt sweep (the base and text need not exist: the worker reads them,
 * at submit and at run time). */
static const char *k_gpt_base =
    "{\"name\": \"gpt\", \"task\": {\"task\": \"gpt\", \"gpt\": {\"base\": "
    "\"/d/base.safetensors\", \"text\": \"/d/text.txt\"}, \"n_head\": 4, "
    "\"context\": 32}, \"grid\": {\"rank\": [1, 4], \"alpha\": [2, 8], "
    "\"lr\": [0.001]}, \"steps\": 20, \"batch\": 8}";

/* Task gpt: its fields reach every config; its defaults (sharpness off,
 * target_modules c_attn, context) are the worker's gpt defaults;
 * sharpness_batch follows batch (not filled with a number); fields of
 * other tasks are refused; the files are named for the rights check. */
static void check_gpt(void) {
  la_spec *s = parse_ok(k_gpt_base, NULL);
  if (s == NULL) return;
  const la_spec_run *r = &s->runs[3];
  const json_t *task = json_object_get(s->normalized, "task");
  const json_t *met = json_object_get(s->normalized, "metrics");
  CHECK_EQ_INT(s->n_runs, 4);
  CHECK_STR(cfg_str(r, "task"), "gpt");
  CHECK_EQ_INT(cfg_int(r, "rank"), 4);
  CHECK_EQ_INT(cfg_int(r, "n_head"), 4);
  CHECK_EQ_INT(cfg_int(r, "context"), 32);
  CHECK_STR(json_string_value(
                json_object_get(json_object_get(r->config, "gpt"), "base")),
            "/d/base.safetensors");
  CHECK(json_is_false(json_object_get(met, "sharpness")));
  CHECK(json_object_get(met, "sharpness_batch") == NULL);
  CHECK(json_object_get(r->config, "sharpness_batch") == NULL);
  CHECK(json_object_get(task, "loss") == NULL);
  CHECK(json_object_get(task, "n_train") == NULL);
  CHECK(json_object_get(task, "vocab_size") == NULL);
  CHECK_EQ_INT(json_array_size(json_object_get(task, "target_modules")), 1);
  CHECK_STR(json_string_value(
                json_array_get(json_object_get(task, "target_modules"), 0)),
            "attn.c_attn");
  CHECK_EQ_INT(json_integer_value(json_object_get(task, "n_eval")), 1024);
  CHECK_STR(la_rights_files_field(task), "gpt");
  CHECK_STR(la_rights_files_field(r->config), "gpt");
  json_t *teacher = J("{\"task\": \"teacher\", \"d_in\": 4}");
  CHECK(la_rights_files_field(teacher) == NULL);
  CHECK(la_rights_files_field(NULL) == NULL);
  json_decref(teacher);
  la_config *c = effective(r);
  if (c != NULL) {
    CHECK_EQ_INT(c->sharpness_batch, 8); /* the batch, as the worker sets */
    CHECK_EQ_INT(c->sharpness, 0);
    CHECK_EQ_INT(c->target_modules, LA_GPT_C_ATTN);
    free(c);
  }
  check_configs_parse(s);
  check_reparse(s);
  la_spec_free(s);

  /* given values reach the configs, sharpness_batch included */
  s = parse_ok(
      "{\"name\": \"gpt2\", \"task\": {\"task\": \"gpt\", \"gpt\": {\"base\": "
      "\"/d/b.safetensors\", \"tokens\": \"/d/t.npy\", \"tokens_eval\": "
      "\"/d/e.npy\"}, \"n_head\": 2, \"vocab_size\": 500, \"target_modules\": "
      "[\"c_attn\", \"c_proj\", \"c_fc\"], \"n_eval\": 7}, \"grid\": "
      "{\"rank\": [2], \"alpha\": [4], \"lr\": [0.01]}, \"steps\": 5, "
      "\"batch\": 4, \"metrics\": {\"sharpness\": true, \"sharpness_batch\": "
      "2}}",
      NULL);
  if (s != NULL) {
    r = &s->runs[0];
    CHECK_EQ_INT(cfg_int(r, "vocab_size"), 500);
    CHECK_EQ_INT(cfg_int(r, "sharpness_batch"), 2);
    CHECK_EQ_INT(cfg_int(r, "n_eval"), 7);
    CHECK_EQ_INT(json_array_size(json_object_get(r->config, "target_modules")),
                 3);
    CHECK(json_is_true(json_object_get(r->config, "sharpness")));
    check_configs_parse(s);
    check_reparse(s);
    la_spec_free(s);
  }
}

/* Bad gpt specs: patches of k_gpt_base. */
static const bad_case k_gpt_bad[] = {
    {"{\"task\": {\"n_head\": null}}", "task.n_head", "required"},
    {"{\"task\": {\"gpt\": null}}", "task.gpt", "required"},
    {"{\"task\": {\"gpt\": {\"base\": null}}}", "task.gpt.base", "required"},
    {"{\"task\": {\"gpt\": {\"base\": \"b.safetensors\"}}}", "task.gpt.base",
     "must be an absolute path"},
    {"{\"task\": {\"gpt\": {\"text_eval\": \"e.txt\"}}}", "task.gpt.text_eval",
     "must be an absolute path"},
    {"{\"task\": {\"gpt\": {\"tokens\": \"/t.npy\"}}}", "task.gpt.tokens",
     "one of"},
    {"{\"task\": {\"gpt\": {\"weights\": \"/w\"}}}", "task.gpt.weights",
     "unknown field"},
    {"{\"task\": {\"d_in\": 8}}", "task.d_in", "does not apply"},
    {"{\"task\": {\"widths\": [8, 8]}}", "task.widths", "does not apply"},
    {"{\"task\": {\"npy\": {\"x\": \"/x.npy\"}}}", "task.npy",
     "does not apply"},
    {"{\"task\": {\"loss\": \"mse\"}}", "task.loss", "does not apply"},
    {"{\"task\": {\"n_train\": 100}}", "task.n_train", "does not apply"},
    {"{\"task\": {\"pretrain\": true}}", "task.pretrain", "not a task field"},
    {"{\"task\": {\"target_modules\": [\"q_proj\"]}}", "task.target_modules[0]",
     "unknown module 'q_proj'"},
    {"{\"task\": {\"vocab_size\": 300}}", "task.vocab_size", "256"},
    {"{\"task\": {\"context\": 0}}", "task.context", "below the minimum"},
    {"{\"task\": {\"n_head\": 0}}", "task.n_head", "below the minimum"},
    {"{\"metrics\": {\"sharpness\": true, \"sharpness_batch\": 0}}",
     "metrics.sharpness_batch", "below the minimum"},
};

static void check_gpt_bad(void) {
  check_bad_patches(k_gpt_base, k_gpt_bad,
                    sizeof k_gpt_bad / sizeof k_gpt_bad[0], "gpt");
}

static void check_command_rights(void) {
  la_err err = {{0}};
  int status = -1;
  CHECK_EQ_INT(la_rights_check_command("alice", "alice", 1, &status, &err), 0);
  CHECK_EQ_INT(status, 0);
  CHECK_EQ_INT(la_rights_check_command("bob", "alice", 1, &status, &err),
               LA_EINVAL);
  CHECK_EQ_INT(status, 403);
  CHECK(strncmp(err.msg, "task.command: Slurm jobs run as alice", 37) == 0);
  if (strncmp(err.msg, "task.command: Slurm jobs run as alice", 37) != 0)
    printf("  actual: %s\n", err.msg);
}

int main(void) {
  check_command_rights();
  check_paths_walk();
  check_seed_formula();
  check_list_expansion();
  check_seeds();
  check_seed_list();
  check_ranges();
  check_small_ranges();
  check_mlp_sections();
  check_normalized();
  check_search_spec();
  check_bad_table();
  check_lengths();
  check_exact_messages();
  check_speed_and_limit();
  check_out_of_memory(k_base);
  check_out_of_memory(
      "{\"name\": \"oom\", \"description\": \"d\", \"task\": {\"task\": "
      "\"mlp\", \"widths\": [8, 8, 4], \"noise\": 0.1}, \"grid\": {\"rank\": "
      "{\"log2\": [0, 2], \"num\": 3}, \"alpha\": [1, 2], \"lr\": {\"log10\": "
      "[-3, -2], \"num\": 2}}, \"seeds\": [5, 6], \"steps\": 20, \"batch\": "
      "16, \"optimizer\": {\"name\": \"sgd\", \"momentum\": 0.5}, "
      "\"schedule\": \"cosine\", \"metrics\": {\"log_every\": 2}, "
      "\"diverge_factor\": 50}");
  check_command_good();
  check_command_bad();
  check_command_memory_cap();
  check_command_number_text();
  check_out_of_memory(k_cmd_base);
  check_gpt();
  check_gpt_bad();
  check_out_of_memory(k_gpt_base);
  return check_summary();
}
