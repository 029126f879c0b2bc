/* test_record.c: the record protocol's parser (record.h) on a table of good
 * records of every type and bad ones, each of which must be refused with an
 * error that names its field; start records of up to 256 named layers; and
 * the run states' names. */
#include "check.h"
#include "loralpha/record.h"

#include <stdlib.h>
#include <string.h>

/* A good line and the type it parses to. */
typedef struct good {
  const char *line;
  la_rec_type type;
} good;

static const good k_good[] = {
    {"{\"type\":\"start\",\"run_id\":7,\"config\":{\"task\":\"teacher\"},"
     "\"scale\":2.5,\"blas_core\":\"Haswell\",\"params\":2048,\"n_train\":"
     "4096,\"n_eval\":1024,\"layers\":[{\"layer\":0,\"d_in\":128,\"d_out\":"
     "64,\"sigma_max_w0\":1.5,\"target_norm\":2,\"module\":"
     "\"base_model.h.0.attn.c_attn\"},{\"layer\":1,\"d_in\":64,"
     "\"d_out\":10,\"sigma_max_w0\":null}]}",
     LA_REC_START},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":1,\"d_out\":1}]}",
     LA_REC_START},
    {"{\"type\":\"train\",\"step\":1,\"loss\":0.5,\"lr\":0.001,\"lr_b\":0.004,"
     "\"grad_norm_a\":0.1,\"grad_norm_b\":0.2,\"update_norm\":0.01}",
     LA_REC_TRAIN},
    {"{\"type\":\"train\",\"step\":2,\"loss\":null,\"lr\":0}", LA_REC_TRAIN},
    {"{\"type\":\"eval\",\"step\":0,\"loss\":0}", LA_REC_EVAL},
    {"{\"type\":\"spectra\",\"step\":50,\"layer\":0,\"sigma_max\":0.5,\"fro\":"
     "0.7,\"stable_rank\":1.9,\"sv\":[0.5,0.49,null],\"signal\":0.4,\"drift\":"
     "0.1,\"drift_ratio\":0.25,\"cos_target\":-0.3,\"rel_err\":0.2,"
     "\"tf_signal\":0.3,\"tf_drift\":0.2,\"mech_ratio\":0.6,\"a_drift\":0.05}",
     LA_REC_SPECTRA},
    {"{\"type\":\"sharpness\",\"step\":0,\"lora\":-3.5,\"full\":1.5,\"ratio\":"
     "null,\"lora_iters\":20,\"full_iters\":20,\"rows\":256}",
     LA_REC_SHARPNESS},
    {"{\"type\":\"done\",\"status\":\"done\",\"steps\":300,"
     "\"final_train_loss\":0.1,\"final_eval_loss\":0.2,\"best_eval_loss\":0.15,"
     "\"best_step\":250,\"wall_s\":1.5,\"steps_per_s\":200}",
     LA_REC_DONE},
    {"{\"type\":\"done\",\"status\":\"diverged\",\"reason\":\"loss is not "
     "finite\",\"steps\":3,\"final_train_loss\":null,\"best_step\":-1}",
     LA_REC_DONE},
    {"{\"type\":\"error\",\"error\":\"npy: cannot read w0.npy\"}",
     LA_REC_ERROR},
    {"{\"type\":\"x_tokens\",\"anything\":[1,{\"a\":null}]}", LA_REC_EXTENSION},
    {"{\"type\":\"eval\",\"step\":3,\"loss\":1,\"x_note\":\"extensions are "
     "ignored\"}",
     LA_REC_EVAL},
    {"  {\"type\":\"eval\",\"step\":3,\"loss\":1e2}  ", LA_REC_EVAL},
    {"{\"type\":\"sharpness\",\"step\":4,\"lora\":3.1,\"full\":1.6,\"ratio\":"
     "1.94,\"lora_iters\":14,\"lora_residual\":0.0021,\"lora_converged\":"
     "true,\"full_iters\":50,\"full_residual\":0.0094,\"full_converged\":"
     "false,\"rows\":256}",
     LA_REC_SHARPNESS},
    {"{\"type\":\"sharpness\",\"step\":5,\"lora\":null,\"full\":null,"
     "\"lora_residual\":null,\"full_residual\":0,\"lora_converged\":false}",
     LA_REC_SHARPNESS},
    /* run_id on every type (the records of a pack's runs) */
    {"{\"type\":\"train\",\"step\":1,\"loss\":0.5,\"lr\":0.001,"
     "\"run_id\":12}",
     LA_REC_TRAIN},
    {"{\"type\":\"eval\",\"run_id\":0,\"step\":0,\"loss\":0}", LA_REC_EVAL},
    {"{\"type\":\"spectra\",\"step\":5,\"layer\":0,\"run_id\":3}",
     LA_REC_SPECTRA},
    {"{\"type\":\"sharpness\",\"step\":0,\"lora\":1,\"full\":1,"
     "\"run_id\":3}",
     LA_REC_SHARPNESS},
    {"{\"type\":\"done\",\"status\":\"done\",\"steps\":3,\"run_id\":3}",
     LA_REC_DONE},
    {"{\"type\":\"error\",\"error\":\"x\",\"run_id\":9000000000000000}",
     LA_REC_ERROR},
};

/* A bad line and a word its error must hold (the field, or the problem). */
typedef struct bad {
  const char *line;
  const char *names;
} bad;

static const bad k_bad[] = {
    /* the case: a layers entry without its layer */
    {"{\"type\":\"start\",\"layers\":[{\"d_in\":8,\"d_out\":4}]}",
     "layers[0].layer: missing"},
    {"{\"type\":\"start\",\"layers\":[{}]}", "layers[0].layer"},
    {"{\"type\":\"start\",\"layers\":[1]}", "layers[0]"},
    {"{\"type\":\"start\",\"layers\":[]}", "layers"},
    {"{\"type\":\"start\"}", "layers: missing"},
    {"{\"type\":\"start\",\"layers\":{\"layer\":0}}", "layers"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4},"
     "{\"layer\":0,\"d_in\":8,\"d_out\":4}]}",
     "layers[1].layer"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":0,\"d_out\":4}]}",
     "layers[0].d_in"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4,"
     "\"sigma_max_w0\":-1}]}",
     "sigma_max_w0: -1 is negative"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4,"
     "\"colour\":1}]}",
     "layers[0].colour: unknown field"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4}],"
     "\"config\":[]}",
     "config"},
    {"{\"type\":\"start\",\"run_id\":-2,\"layers\":[{\"layer\":0,\"d_in\":8,"
     "\"d_out\":4}]}",
     "run_id"},
    {"{\"type\":\"train\",\"step\":1,\"loss\":0.5,\"lr\":0.1,\"run_id\":-1}",
     "train: run_id: -1 is outside"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":0.5,\"run_id\":\"7\"}",
     "eval: run_id: must be an integer"},
    {"{\"type\":\"done\",\"status\":\"done\",\"steps\":3,\"run_id\":1.5}",
     "done: run_id: must be an integer"},
    {"{\"type\":\"error\",\"error\":\"x\",\"run_id\":9000000000000001}",
     "error: run_id: 9000000000000001 is outside"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":0.5,\"run_ids\":7}",
     "eval: run_ids: unknown field"},
    {"{\"type\":\"start\",\"blas_core\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"layers\":[{\"layer\":0,\"d_in\":8,"
     "\"d_out\":4}]}",
     "blas_core: longer than"},
    /* the other case: a negative or non-finite loss */
    {"{\"type\":\"train\",\"step\":1,\"loss\":-1,\"lr\":0.1}",
     "train: loss: -1 is negative"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":-0.5}", "eval: loss: -0.5"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":1e999}", "not JSON"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":NaN}", "not JSON"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":\"0.5\"}", "loss: must be"},
    {"{\"type\":\"eval\",\"step\":1}", "loss: missing"},
    {"{\"type\":\"eval\",\"loss\":1}", "step: missing"},
    {"{\"type\":\"eval\",\"step\":-1,\"loss\":1}", "step: -1"},
    {"{\"type\":\"eval\",\"step\":1.5,\"loss\":1}", "step: must be an integer"},
    {"{\"type\":\"eval\",\"step\":3000000000,\"loss\":1}", "step"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":1,\"los\":1}",
     "los: unknown field"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":1,\"step\":2}", "duplicate"},
    {"{\"type\":\"train\",\"step\":1,\"loss\":1}", "lr: missing"},
    {"{\"type\":\"train\",\"step\":1,\"loss\":1,\"lr\":0.1,\"grad_norm_a\":-2}",
     "grad_norm_a"},
    {"{\"type\":\"spectra\",\"step\":1,\"sv\":[]}", "layer: missing"},
    {"{\"type\":\"spectra\",\"step\":1,\"layer\":256}",
     "layer: 256 is outside"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4,"
     "\"module\":\"\"}]}",
     "layers[0].module: must be a string of 1..200 bytes"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4,"
     "\"module\":7}]}",
     "layers[0].module: must be a string"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4,"
     "\"module\":\"h.0 attn\"}]}",
     "layers[0].module: byte 3 is not a letter"},
    {"{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,\"d_out\":4,"
     "\"module\":\"<b>\"}]}",
     "layers[0].module: byte 0"},
    {"{\"type\":\"spectra\",\"step\":1,\"layer\":0,\"sv\":[1,-1]}", "sv[1]"},
    {"{\"type\":\"spectra\",\"step\":1,\"layer\":0,\"sv\":\"1,2\"}", "sv"},
    {"{\"type\":\"spectra\",\"step\":1,\"layer\":0,\"cos_target\":2}",
     "cos_target: 2 is outside"},
    {"{\"type\":\"sharpness\",\"step\":1,\"lora\":1}", "full: missing"},
    {"{\"type\":\"sharpness\",\"step\":1,\"lora\":1,\"full\":1,\"rows\":-3}",
     "rows"},
    {"{\"type\":\"sharpness\",\"step\":1,\"lora\":1,\"full\":1,"
     "\"lora_residual\":-0.5}",
     "lora_residual: -0.5 is negative"},
    {"{\"type\":\"sharpness\",\"step\":1,\"lora\":1,\"full\":1,"
     "\"full_residual\":\"small\"}",
     "full_residual: must be a number or null"},
    {"{\"type\":\"sharpness\",\"step\":1,\"lora\":1,\"full\":1,"
     "\"lora_converged\":1}",
     "lora_converged: must be true or false"},
    {"{\"type\":\"sharpness\",\"step\":1,\"lora\":1,\"full\":1,"
     "\"full_converged\":null}",
     "full_converged: must be true or false"},
    {"{\"type\":\"sharpness\",\"step\":1,\"lora\":1,\"full\":1,"
     "\"lora_converged\":\"true\"}",
     "lora_converged: must be true or false"},
    {"{\"type\":\"sharpness\",\"step\":1,\"lora\":1,\"full\":1,"
     "\"converged\":true}",
     "converged: unknown field"},
    {"{\"type\":\"done\",\"steps\":3}", "status: missing"},
    {"{\"type\":\"done\",\"status\":\"ok\",\"steps\":3}", "status"},
    {"{\"type\":\"done\",\"status\":\"done\"}", "steps: missing"},
    {"{\"type\":\"done\",\"status\":\"done\",\"steps\":3,\"final_eval_loss\":"
     "-1}",
     "final_eval_loss: -1 is negative"},
    {"{\"type\":\"done\",\"status\":\"done\",\"steps\":3,\"best_step\":-2}",
     "best_step"},
    {"{\"type\":\"done\",\"status\":\"done\",\"steps\":3,\"reason\":7}",
     "reason: must be a string"},
    {"{\"type\":\"error\"}", "error: missing"},
    {"{\"type\":\"error\",\"error\":null}", "error: must be a string"},
    {"{\"type\":\"shape\"}", "type: 'shape' is not a record type"},
    {"{\"type\":3}", "type: must be a string"},
    {"{\"step\":1}", "type: missing"},
    {"[1,2]", "not a JSON object"},
    {"", "not JSON"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":1} {}", "not JSON"},
    {"{\"type\":\"eval\",\"step\":1,\"loss\":1", "not JSON"},
};

static void check_good(void) {
  for (size_t i = 0; i < sizeof k_good / sizeof k_good[0]; i++) {
    la_record r;
    la_err err = {{0}};
    int rc = la_record_parse(k_good[i].line, strlen(k_good[i].line), &r, &err);
    if (rc) fprintf(stderr, "good line %zu refused: %s\n", i, err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.type, k_good[i].type);
    la_record_clear(&r);
  }
}

static void check_bad(void) {
  for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
    la_record r;
    la_err err = {{0}};
    int rc = la_record_parse(k_bad[i].line, strlen(k_bad[i].line), &r, &err);
    CHECK_EQ_INT(rc, LA_EINVAL);
    if (strstr(err.msg, k_bad[i].names) == NULL)
      fprintf(stderr,
              "bad line %zu: %s\n    expected an error with: %s\n"
              "    actual: %s\n",
              i, k_bad[i].line, k_bad[i].names, err.msg);
    CHECK(strstr(err.msg, k_bad[i].names) != NULL);
    CHECK_EQ_INT(r.type, LA_REC_EXTENSION); /* nothing to clear */
  }
}

/* The values of a parsed start and spectra record, and null as NaN. */
static void check_values(void) {
  la_record r;
  la_err err;
  const char *s = k_good[0].line;
  CHECK_EQ_INT(la_record_parse(s, strlen(s), &r, &err), 0);
  CHECK_EQ_INT(r.run_id, 7);
  CHECK_EQ_INT(r.u.start.n_layers, 2);
  CHECK_EQ_INT(r.u.start.layers[1].d_out, 10);
  CHECK_CLOSE(r.u.start.layers[0].target_norm, 2.0, 0);
  CHECK(isnan(r.u.start.layers[1].sigma_max_w0));
  CHECK(isnan(r.u.start.layers[1].target_norm));
  CHECK(strcmp(r.u.start.blas_core, "Haswell") == 0);
  CHECK(r.u.start.layers[0].module != NULL &&
        strcmp(r.u.start.layers[0].module, "base_model.h.0.attn.c_attn") == 0);
  CHECK(r.u.start.layers[1].module == NULL); /* absent */
  la_record_clear(&r);
  la_record_clear(&r); /* twice is safe */
  s = k_good[5].line;
  CHECK_EQ_INT(la_record_parse(s, strlen(s), &r, &err), 0);
  CHECK_EQ_INT(r.step, 50);
  CHECK_EQ_INT(r.u.spectra.n_sv, 3);
  CHECK_CLOSE(r.u.spectra.sv[1], 0.49, 0);
  CHECK(isnan(r.u.spectra.sv[2]));
  CHECK_CLOSE(r.u.spectra.cos_target, -0.3, 0);
  la_record_clear(&r);
  s = k_good[8].line;
  CHECK_EQ_INT(la_record_parse(s, strlen(s), &r, &err), 0);
  CHECK_EQ_INT(r.u.done.status, 1);
  CHECK_EQ_INT(r.u.done.best_step, -1);
  CHECK(isnan(r.u.done.final_train_loss) && isnan(r.u.done.wall_s));
  CHECK(strcmp(r.u.done.reason, "loss is not finite") == 0);
  CHECK_EQ_INT(r.run_id, -1); /* absent */
  la_record_clear(&r);
  s = "{\"type\":\"train\",\"step\":1,\"loss\":0.5,\"lr\":0.1,\"run_id\":12}";
  CHECK_EQ_INT(la_record_parse(s, strlen(s), &r, &err), 0);
  CHECK_EQ_INT(r.run_id, 12);
  CHECK_EQ_INT(r.step, 1);
  la_record_clear(&r);
}

/* A start record may list LA_RECORD_MAX_LAYERS (256) layers, each with
 * its module (a GPT-2 of 48 blocks adapting 4 modules has 192), not one
 * more; a failure part-way through frees the names already read. */
static void check_many_layers(void) {
  for (int n = LA_RECORD_MAX_LAYERS; n <= LA_RECORD_MAX_LAYERS + 1; n++) {
    json_t *ls = json_array(), *rec;
    for (int i = 0; i < n; i++) {
      char name[32];
      snprintf(name, sizeof name, "h.%d.mlp.c_fc", i);
      json_array_append_new(ls, json_pack("{si,si,si,ss}", "layer", i, "d_in",
                                          8, "d_out", 32, "module", name));
    }
    rec = json_pack("{ss,so}", "type", "start", "layers", ls);
    char *text = json_dumps(rec, JSON_COMPACT);
    la_record r;
    la_err err = {{0}};
    int rc = la_record_parse(text, strlen(text), &r, &err);
    if (n == LA_RECORD_MAX_LAYERS) {
      CHECK_EQ_INT(rc, 0);
      CHECK_EQ_INT(r.u.start.n_layers, n);
      CHECK(rc == 0 &&
            strcmp(r.u.start.layers[n - 1].module, "h.255.mlp.c_fc") == 0);
    } else {
      CHECK_EQ_INT(rc, LA_EINVAL);
      CHECK(strstr(err.msg, "1..256 layer objects") != NULL);
    }
    la_record_clear(&r);
    free(text);
    json_decref(rec);
  }
  /* layer 1's d_in fails after layer 0's module was read (no leak: ASan) */
  const char *line = "{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":8,"
                     "\"d_out\":4,\"module\":\"a\"},{\"layer\":1,\"d_in\":0,"
                     "\"d_out\":4,\"module\":\"b\"}]}";
  la_record r;
  la_err err = {{0}};
  CHECK_EQ_INT(la_record_parse(line, strlen(line), &r, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "layers[1].d_in") != NULL);
  la_record_clear(&r);
}

/* Sharpness records with and without the residual fields: what an old
 * worker leaves out is unknown (-1, NaN), not false. */
static void check_sharpness(void) {
  la_record r;
  la_err err;
  const char *s = k_good[6].line; /* old: no residuals, no flags */
  CHECK_EQ_INT(la_record_parse(s, strlen(s), &r, &err), 0);
  CHECK_CLOSE(r.u.sharp.lora, -3.5, 0);
  CHECK_EQ_INT(r.u.sharp.lora_iters, 20);
  CHECK(isnan(r.u.sharp.lora_residual) && isnan(r.u.sharp.full_residual));
  CHECK_EQ_INT(r.u.sharp.lora_converged, -1);
  CHECK_EQ_INT(r.u.sharp.full_converged, -1);
  la_record_clear(&r);
  s = k_good[13].line;
  CHECK_EQ_INT(la_record_parse(s, strlen(s), &r, &err), 0);
  CHECK_EQ_INT(r.step, 4);
  CHECK_EQ_INT(r.u.sharp.lora_iters, 14);
  CHECK_EQ_INT(r.u.sharp.full_iters, 50);
  CHECK_CLOSE(r.u.sharp.lora_residual, 0.0021, 0);
  CHECK_CLOSE(r.u.sharp.full_residual, 0.0094, 0);
  CHECK_EQ_INT(r.u.sharp.lora_converged, 1);
  CHECK_EQ_INT(r.u.sharp.full_converged, 0);
  la_record_clear(&r);
  s = k_good[14].line;
  CHECK_EQ_INT(la_record_parse(s, strlen(s), &r, &err), 0);
  CHECK(isnan(r.u.sharp.lora) && isnan(r.u.sharp.lora_residual));
  CHECK_CLOSE(r.u.sharp.full_residual, 0, 0);
  CHECK_EQ_INT(r.u.sharp.lora_converged, 0);
  CHECK_EQ_INT(r.u.sharp.full_converged, -1);
  CHECK_EQ_INT(r.u.sharp.lora_iters, -1);
  la_record_clear(&r);
}

/* A line over the limit is refused before it is parsed. */
static void check_limits(void) {
  size_t n = LA_RECORD_MAX_LINE + 1;
  char *big = malloc(n);
  la_record r;
  la_err err;
  CHECK(big != NULL);
  if (big == NULL) return;
  memset(big, ' ', n);
  CHECK_EQ_INT(la_record_parse(big, n, &r, &err), LA_EINVAL);
  CHECK(strstr(err.msg, "longer than") != NULL);
  free(big);
}

static void check_states(void) {
  CHECK_EQ_INT(LA_RUN_N_STATES, 8);
  CHECK_EQ_INT(la_run_state_from_name("stopped"), LA_RUN_STOPPED);
  CHECK_EQ_INT(la_run_state_from_name("waiting"), LA_RUN_WAITING);
  CHECK(strcmp(la_run_state_names[LA_RUN_DIVERGED], "diverged") == 0);
  CHECK_EQ_INT(la_run_state_from_name("cancelled"), LA_RUN_CANCELLED);
  CHECK_EQ_INT(la_run_state_from_name("queued"), LA_RUN_QUEUED);
  CHECK_EQ_INT(la_run_state_from_name("paused"), -1);
  CHECK_EQ_INT(la_run_state_from_name(NULL), -1);
  CHECK(strcmp(la_record_type_name(LA_REC_SHARPNESS), "sharpness") == 0);
}

int main(void) {
  check_good();
  check_bad();
  check_values();
  check_many_layers();
  check_sharpness();
  check_limits();
  check_states();
  return check_summary();
}
