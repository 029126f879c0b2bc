/* test_pack.c: packed variants (pack.h) against the same runs trained
 * alone, over a table of packs covering every task, activation, loss,
 * optimizer and schedule: exact packs must give every run's records
 * bit for bit (but run_id on each record and the done record's timing),
 * stacked packs the same records with losses within a tolerance; plus the
 * table of shared fields, the pack's checks, and a request through
 * la_pack_serve. */
#include "check.h"
#include "loralpha/config.h"
#include "loralpha/npy.h"
#include "pack.h"
#include "task.h"
#include "train.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One pack: the fields its runs share, and each run's own (a JSON object
 * string each, NULL-terminated). */
typedef struct pack_case {
  const char *name, *base;
  const char *runs[6];
} pack_case;

#define SHORT "\"sharpness\":false,\"spectra_every\":10,\"eval_every\":5"

static const pack_case k_cases[] = {
    {"teacher adamw",
     "{\"task\":\"teacher\",\"d_in\":24,\"d_out\":16,\"rank\":4,\"steps\":30,"
     "\"batch\":16,\"n_train\":256,\"n_eval\":64,\"target_rank\":3," SHORT "}",
     {"{\"alpha\":1,\"lr\":0.01}", "{\"alpha\":64,\"lr\":0.003}",
      "{\"alpha\":8,\"lr\":0.01,\"weight_decay\":0.1,\"loraplus_ratio\":4}",
      "{\"alpha\":8,\"lr\":0.01,\"scaling\":\"rslora\",\"steps\":12}",
      "{\"alpha\":100000,\"lr\":100}", NULL}},
    {"teacher sgd cosine",
     "{\"task\":\"teacher\",\"d_in\":20,\"d_out\":20,\"rank\":2,\"steps\":25,"
     "\"batch\":8,\"n_train\":100,\"n_eval\":30,\"noise\":0.1,"
     "\"input_decay\":1,\"seed\":3," SHORT "}",
     {"{\"alpha\":4,\"lr\":0.5,\"optimizer\":\"sgd\"}",
      "{\"alpha\":4,\"lr\":0.5,\"optimizer\":\"sgd\",\"momentum\":0.9,"
      "\"nesterov\":true,\"schedule\":\"cosine\",\"warmup_steps\":5}",
      "{\"alpha\":2,\"lr\":0.01,\"schedule\":\"cosine\",\"min_lr_ratio\":0.1}",
      NULL}},
    {"mlp relu mse",
     "{\"task\":\"mlp\",\"widths\":[16,24,12],\"activation\":\"relu\","
     "\"rank\":3,\"steps\":20,\"batch\":12,\"n_train\":200,\"n_eval\":50,"
     "\"sharpness\":true,\"sharpness_iters\":5,\"sharpness_batch\":40,"
     "\"spectra_every\":10}",
     {"{\"alpha\":6,\"lr\":0.01}", "{\"alpha\":48,\"lr\":0.002,\"beta2\":0.99}",
      "{\"alpha\":6,\"lr\":0.01,\"log_every\":3,\"sharpness_every\":7}", NULL}},
    {"mlp gelu ce",
     "{\"task\":\"mlp\",\"widths\":[12,20,16,5],\"activation\":\"gelu\","
     "\"loss\":\"ce\",\"rank\":2,\"steps\":20,\"batch\":10,\"n_train\":150,"
     "\"n_eval\":40," SHORT "}",
     {"{\"alpha\":2,\"lr\":0.02}", "{\"alpha\":32,\"lr\":0.005}",
      "{\"alpha\":2,\"lr\":0.02,\"optimizer\":\"sgd\",\"momentum\":0.5}",
      NULL}},
    {"mlp tanh mse",
     "{\"task\":\"mlp\",\"widths\":[10,14,14,6],\"activation\":\"tanh\","
     "\"rank\":2,\"steps\":15,\"batch\":9,\"n_train\":90,\"n_eval\":20,"
     "\"data_seed\":5," SHORT "}",
     {"{\"alpha\":1,\"lr\":0.03}", "{\"alpha\":16,\"lr\":0.01,\"eps\":1e-6}",
      NULL}},
    {"mlp identity ce",
     "{\"task\":\"mlp\",\"widths\":[8,8,4],\"activation\":\"identity\","
     "\"loss\":\"ce\",\"rank\":1,\"steps\":15,\"batch\":7,\"n_train\":70,"
     "\"n_eval\":21," SHORT "}",
     {"{\"alpha\":1,\"lr\":0.05}",
      "{\"alpha\":3,\"lr\":0.05,"
      "\"diverge_factor\":1.0001}",
      NULL}},
    {"teacher wide mse", /* 24 x 64 outputs: the mse's 16-block path and
                            a ragged rest (model_f.c); 1100 eval rows: two
                            chunks of the shared eval product (train.c) */
     "{\"task\":\"teacher\",\"d_in\":40,\"d_out\":64,\"rank\":2,\"steps\":15,"
     "\"batch\":24,\"n_train\":120,\"n_eval\":1100," SHORT "}",
     {"{\"alpha\":2,\"lr\":0.01}", "{\"alpha\":16,\"lr\":0.004}", NULL}},
    {"npy",
     "{\"task\":\"npy\",\"npy\":{\"x\":\"@/x.npy\",\"y\":\"@/y.npy\","
     "\"w0\":[\"@/w0.npy\"]},\"rank\":3,\"steps\":20,\"batch\":10," SHORT "}",
     {"{\"alpha\":3,\"lr\":0.01}", "{\"alpha\":30,\"lr\":0.001}", NULL}},
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

static char g_dir[] = "/tmp/test_pack_XXXXXX";

/* Writes the npy case's files: X (60, 12), Y (60, 8), W0 (8, 12). */
static void write_npy(void) {
  float x[60 * 12], y[60 * 8], w[8 * 12];
  size_t sx[2] = {60, 12}, sy[2] = {60, 8}, sw[2] = {8, 12};
  char path[64];
  for (int i = 0; i < 60 * 12; i++)
    x[i] = (float)((i * 37 % 101) - 50) / 50;
  for (int i = 0; i < 60 * 8; i++)
    y[i] = (float)((i * 53 % 97) - 48) / 48;
  for (int i = 0; i < 8 * 12; i++)
    w[i] = (float)((i * 29 % 89) - 44) / 150;
  snprintf(path, sizeof path, "%s/x.npy", g_dir);
  CHECK_EQ_INT(la_npy_save_f32(path, x, 2, sx, NULL), 0);
  snprintf(path, sizeof path, "%s/y.npy", g_dir);
  CHECK_EQ_INT(la_npy_save_f32(path, y, 2, sy, NULL), 0);
  snprintf(path, sizeof path, "%s/w0.npy", g_dir);
  CHECK_EQ_INT(la_npy_save_f32(path, w, 2, sw, NULL), 0);
}

/* The config of run i of c: the shared fields, the run's, a run_id; "@"
 * in a path is the test's directory. New reference. */
static json_t *run_config(const pack_case *c, int i) {
  json_error_t je;
  json_t *o = json_loads(c->base, 0, &je),
         *own = json_loads(c->runs[i], 0, &je);
  json_t *npy = json_object_get(o, "npy"), *v;
  const char *key;
  json_object_update(o, own);
  json_decref(own);
  json_object_set_new(o, "run_id", json_integer(100 + i));
  json_object_foreach(npy, key, v) {
    json_t *list = json_is_array(v) ? v : NULL;
    for (size_t k = 0; k < (list ? json_array_size(list) : 1); k++) {
      json_t *s = list ? json_array_get(list, k) : v;
      char path[128];
      snprintf(path, sizeof path, "%s%s", g_dir, json_string_value(s) + 1);
      json_string_set(s, path);
    }
  }
  return o;
}

/* The records in buf (lines) of run_id, with run_id taken off every record
 * but start and the done record's timing removed: a new array. */
static json_t *records_of(const char *buf, json_int_t run_id) {
  json_t *out = json_array();
  const char *p = buf;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    json_t *r = json_loadb(p, len, 0, NULL);
    p += len + (nl != NULL);
    if (r == NULL) continue;
    json_t *id = json_object_get(r, "run_id");
    if (id == NULL || json_integer_value(id) != run_id) {
      json_decref(r);
      continue;
    }
    if (strcmp(json_string_value(json_object_get(r, "type")), "start"))
      json_object_del(r, "run_id");
    json_object_del(r, "wall_s");
    json_object_del(r, "steps_per_s");
    json_array_append_new(out, r);
  }
  return out;
}

/* Trains cfg alone on task; its records as records_of gives them. */
static json_t *alone(la_config *cfg, const la_task *task) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  la_trainer *tr = NULL;
  la_err err;
  json_t *recs;
  CHECK_EQ_INT(la_trainer_new(cfg, task, &tr, &err), 0);
  la_trainer_tag(tr); /* every record carries run_id, as in a pack */
  CHECK_EQ_INT(la_trainer_run(tr, f, &err), 0);
  fclose(f);
  recs = records_of(buf, cfg->run_id);
  la_trainer_free(tr);
  free(buf);
  return recs;
}

/* Whether the losses of a and b (records in the same order) agree within
 * rel, the rest of their fields aside; prints the first difference. */
static int losses_close(const json_t *a, const json_t *b, double rel) {
  static const char *const keys[] = {"loss", "final_train_loss",
                                     "final_eval_loss", "best_eval_loss"};
  for (size_t i = 0; i < json_array_size(a); i++)
    for (size_t k = 0; k < 4; k++) {
      json_t *x = json_object_get(json_array_get(a, i), keys[k]);
      json_t *y = json_object_get(json_array_get(b, i), keys[k]);
      double u = json_number_value(x), v = json_number_value(y);
      if (json_is_null(x) && json_is_null(y)) continue;
      if (!(fabs(u - v) <= rel * fabs(u))) {
        fprintf(stderr, "record %zu %s: alone %.10g, packed %.10g\n", i,
                keys[k], u, v);
        return 0;
      }
    }
  return 1;
}

/* Trains the pack of c (stacked or exact) and each of its runs alone, and
 * compares every run's records. */
static void check_case(const pack_case *c, int stack) {
  la_config cfgs[8];
  const json_t *raw[8];
  json_t *objs[8];
  la_task task = {0};
  la_pack *p = NULL;
  la_err err = {{0}};
  char *buf = NULL;
  size_t len = 0;
  int n = 0;
  FILE *f;
  for (; c->runs[n] != NULL; n++) {
    raw[n] = objs[n] = run_config(c, n);
    CHECK_EQ_INT(la_config_parse(objs[n], &cfgs[n], &err), 0);
  }
  CHECK_EQ_INT(la_pack_check(raw, cfgs, n, &err), 0);
  CHECK_EQ_INT(la_task_build(&cfgs[0], &task, &err), 0);
  for (int i = 1; i < n; i++) /* npy: widths and sizes from the files */
    cfgs[i].n_layers = cfgs[0].n_layers, cfgs[i].n_train = cfgs[0].n_train,
    cfgs[i].n_eval = cfgs[0].n_eval,
    memcpy(cfgs[i].widths, cfgs[0].widths, sizeof cfgs[0].widths);
  CHECK_EQ_INT(la_pack_new(cfgs, n, &task, stack, &p, &err), 0);
  f = open_memstream(&buf, &len);
  CHECK_EQ_INT(la_pack_run(p, f), 0);
  fclose(f);
  for (int i = 0; i < n; i++) {
    json_t *a = alone(&cfgs[i], &task), *b = records_of(buf, 100 + i);
    int same = json_equal(a, b), n_a = (int)json_array_size(a);
    if (!stack && !same)
      fprintf(stderr, "%s: run %d: packed records differ from alone\n", c->name,
              i);
    if (stack) {
      CHECK_EQ_INT(json_array_size(b), n_a);
      if (json_array_size(b) == (size_t)n_a) CHECK(losses_close(a, b, 1e-4));
    } else {
      CHECK(same);
    }
    CHECK(n_a > 3); /* start, evals, ..., done */
    json_decref(a), json_decref(b);
  }
  for (int i = 0; i < n; i++)
    json_decref(objs[i]);
  la_pack_free(p);
  la_task_free(&task);
  free(buf);
}

/* A stint's fields are shared: a pack's runs stop and resume at the same
 * update (raw = {o, o2}, a valid pair parsed into c). */
static void check_stint_fields(const json_t *const *raw, json_t *o, json_t *o2,
                               la_config *c) {
  la_err err = {{0}};
  CHECK_EQ_INT(la_pack_field_shared("stop_at"), 1);
  CHECK_EQ_INT(la_pack_field_shared("resume_at"), 1);
  json_object_set_new(o2, "stop_at", json_integer(2));
  CHECK_EQ_INT(la_config_parse(o2, &c[1], &err), 0);
  CHECK_EQ_INT(la_pack_check(raw, c, 2, &err), LA_EINVAL);
  if (strstr(err.msg, "configs[1].stop_at: 2 differs from configs[0]'s 0") ==
      NULL)
    fprintf(stderr, "message: %s\n", err.msg);
  CHECK(strstr(err.msg, "configs[1].stop_at: 2 differs from configs[0]'s 0") !=
        NULL);
  json_object_set_new(o, "stop_at", json_integer(2));
  json_object_set_new(o2, "resume_at", json_integer(1));
  CHECK_EQ_INT(la_config_parse(o, &c[0], &err), 0);
  CHECK_EQ_INT(la_config_parse(o2, &c[1], &err), 0);
  CHECK_EQ_INT(la_pack_check(raw, c, 2, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "configs[1].resume_at: 1 differs") != NULL);
  json_object_set_new(o, "resume_at", json_integer(1));
  CHECK_EQ_INT(la_config_parse(o, &c[0], &err), 0);
  CHECK_EQ_INT(la_pack_check(raw, c, 2, &err), 0); /* the same stint */
}

/* Every field of the config is classified, and the pack's checks name the
 * field and the run. */
static void check_fields(void) {
  json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:i}", "task",
                        "teacher", "d_in", 8, "d_out", 8, "rank", 2, "alpha",
                        1.0, "lr", 0.1, "steps", 3);
  json_t *o2 = json_deep_copy(o), *eff;
  const json_t *raw[2] = {o, o2};
  la_config c[2];
  la_err err = {{0}};
  const char *key;
  json_t *v;
  CHECK_EQ_INT(la_config_parse(o, &c[0], &err), 0);
  c[0].run_id = 1;
  eff = la_config_to_json(&c[0]);
  json_object_foreach(eff, key, v) {
    if (la_pack_field_shared(key) < 0)
      fprintf(stderr, "config field %s: not in pack.c's table\n", key);
    CHECK(la_pack_field_shared(key) >= 0);
  }
  json_decref(eff);
  CHECK_EQ_INT(la_pack_field_shared("npy"), 1);
  CHECK_EQ_INT(la_pack_field_shared("d_in"), 1);
  CHECK_EQ_INT(la_pack_field_shared("rank"), 1);
  CHECK_EQ_INT(la_pack_field_shared("alpha"), 0);
  CHECK_EQ_INT(la_pack_field_shared("colour"), -1);
  /* run_id required and distinct */
  CHECK_EQ_INT(la_pack_check(raw, c, 1, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "configs[0].run_id: required") != NULL);
  json_object_set_new(o, "run_id", json_integer(1));
  json_object_set_new(o2, "run_id", json_integer(1));
  CHECK_EQ_INT(la_config_parse(o2, &c[1], &err), 0);
  CHECK_EQ_INT(la_pack_check(raw, c, 2, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "configs[1].run_id: 1 is also configs[0]'s") != NULL);
  /* a shared field that differs, named */
  json_object_set_new(o2, "run_id", json_integer(2));
  json_object_set_new(o2, "seed", json_integer(9));
  json_object_set_new(o2, "alpha", json_real(64));
  CHECK_EQ_INT(la_config_parse(o2, &c[1], &err), 0);
  CHECK_EQ_INT(la_pack_check(raw, c, 2, &err), LA_EINVAL);
  if (strstr(err.msg, "configs[1].seed: 9 differs from configs[0]'s 0") == NULL)
    fprintf(stderr, "message: %s\n", err.msg);
  CHECK(strstr(err.msg, "configs[1].seed: 9 differs from configs[0]'s 0") !=
        NULL);
  json_object_set_new(o2, "seed", json_integer(0));
  CHECK_EQ_INT(la_config_parse(o2, &c[1], &err), 0);
  CHECK_EQ_INT(la_pack_check(raw, c, 2, &err), 0); /* alpha is per run */
  check_stint_fields(raw, o, o2, c);
  json_decref(o), json_decref(o2);
}

/* la_pack_joins, the daemon's rule for forming packs: the same verdicts as
 * la_pack_check on the pair, and the memory estimate bounded and grown by
 * the joining run's la_pack_run_memory. */
static void check_joins(void) {
  json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:i, s:i}", "task",
                        "teacher", "d_in", 8, "d_out", 8, "rank", 2, "alpha",
                        1.0, "lr", 0.1, "steps", 3, "run_id", 1);
  json_t *o2 = json_deep_copy(o);
  la_config c0, c1;
  la_err err;
  uint64_t memory, more;
  CHECK_EQ_INT(la_config_parse(o, &c0, &err), 0);
  json_object_set_new(o2, "run_id", json_integer(2));
  json_object_set_new(o2, "alpha", json_real(64));
  CHECK_EQ_INT(la_config_parse(o2, &c1, &err), 0);
  more = la_pack_run_memory(&c1);
  CHECK(more > 0);
  memory = 100;
  CHECK_EQ_INT(la_pack_joins(o, &c0, o2, &c1, &memory, 0), 1); /* no bound */
  CHECK(memory == 100 + more);
  memory = 100;
  CHECK_EQ_INT(la_pack_joins(o, &c0, o2, &c1, &memory, 100 + more), 1);
  memory = 100;
  CHECK_EQ_INT(la_pack_joins(o, &c0, o2, &c1, &memory, 99 + more), 0);
  CHECK(memory == 100);                               /* refused: unchanged */
  json_object_set_new(o2, "batch", json_integer(16)); /* a shared field */
  CHECK_EQ_INT(la_pack_joins(o, &c0, o2, &c1, &memory, 0), 0);
  json_object_del(o2, "batch");
  json_object_set_new(o2, "run_id", json_integer(1)); /* the leader's id */
  CHECK_EQ_INT(la_pack_joins(o, &c0, o2, &c1, &memory, 0), 0);
  json_object_set_new(o2, "run_id", json_integer(2));
  json_object_set_new(o2, "lr", json_string("fast")); /* does not parse */
  CHECK_EQ_INT(la_pack_joins(o, &c0, o2, &c1, &memory, 0), 0);
  CHECK(memory == 100);
  json_decref(o), json_decref(o2);
}

/* A request through la_pack_serve: a config that fails gets its own error
 * record and the others train; a shared field that differs fails every
 * run; a request without run_ids gets one error without run_id. */
static void check_serve(void) {
  static const char *const reqs[] = {
      "{\"type\":\"pack\",\"configs\":[{\"task\":\"teacher\",\"d_in\":8,"
      "\"d_out\":8,\"rank\":2,\"alpha\":1,\"lr\":0.1,\"steps\":3,\"run_id\":5},"
      "{\"task\":\"teacher\",\"d_in\":8,\"d_out\":8,\"rank\":2,\"alpha\":-1,"
      "\"lr\":0.1,\"steps\":3,\"run_id\":6}]}",
      "{\"type\":\"pack\",\"configs\":[{\"task\":\"teacher\",\"d_in\":8,"
      "\"d_out\":8,\"rank\":2,\"alpha\":1,\"lr\":0.1,\"steps\":3,\"run_id\":5},"
      "{\"task\":\"teacher\",\"d_in\":8,\"d_out\":8,\"rank\":4,\"alpha\":1,"
      "\"lr\":0.1,\"steps\":3,\"run_id\":6}]}",
      "{\"type\":\"pack\",\"configs\":[{\"task\":\"teacher\"}]}",
      "{\"type\":\"pack\",\"configs\":[],\"stack\":1}",
  };
  static const char *const want[][2] = {
      {"\"type\":\"done\"", "\"error\":\"alpha: -1 is below"},
      {"configs[1].rank: 4 differs from configs[0]'s 2", NULL},
      {"\"error\":\"configs[0].run_id: required in a pack", NULL},
      {"\"error\":\"request: stack: must be true or false\"", NULL},
  };
  la_task_cache tc;
  memset(&tc, 0, sizeof tc);
  for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_t *req = json_loads(reqs[i], 0, NULL);
    la_pack_serve(req, &tc, f);
    fclose(f);
    for (int k = 0; k < 2; k++)
      if (want[i][k] && strstr(buf, want[i][k]) == NULL) {
        fprintf(stderr, "request %zu: expected %s in:\n%s\n", i, want[i][k],
                buf);
        CHECK(0);
      }
    if (i == 1) /* both runs fail with the message */
      CHECK(strstr(buf, "\"run_id\":5") && strstr(buf, "\"run_id\":6") &&
            !strstr(buf, "\"type\":\"start\""));
    if (i >= 2) CHECK(strstr(buf, "\"run_id\":") == NULL);
    json_decref(req);
    free(buf);
  }
  la_task_cache_free(&tc);
}

int main(void) {
  char path[64];
  CHECK(mkdtemp(g_dir) != NULL);
  write_npy();
  for (size_t i = 0; i < N_CASES; i++) {
    check_case(&k_cases[i], 0);
    check_case(&k_cases[i], 1);
  }
  check_fields();
  check_joins();
  check_serve();
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", g_dir,
             (const char *[]){"x.npy", "y.npy", "w0.npy"}[i]);
    unlink(path);
  }
  rmdir(g_dir);
  return check_summary();
}
