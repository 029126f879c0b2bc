/* test_resources.c: the memory and rows estimate of a run (resources.h). */
#include "check.h"
#include "loralpha/resources.h"
#include "task.h"
#include "train.h"

#include <jansson.h>
#include <string.h>

/* A config from JSON text (asserted valid). */
static void parse(const char *text, la_config *c) {
  json_t *j = json_loads(text, 0, NULL);
  la_err err = {{0}};
  int rc = la_config_parse(j, c, &err);
  if (rc) fprintf(stderr, "config: %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  json_decref(j);
}

static uint64_t bytes_of(const char *text, const char **field) {
  la_config c;
  la_mem_estimate e;
  parse(text, &c);
  la_config_memory(&c, &e);
  if (field) *field = e.field;
  return e.bytes;
}

#define BASE                                                                   \
  "\"rank\": 4, \"alpha\": 1, \"lr\": 0.01, \"steps\": 10, \"sharpness\": "    \
  "false, "

/* Every training row adds its x and y floats and its permutation index. */
static void test_data_term(void) {
  const char *f;
  uint64_t a = bytes_of("{" BASE "\"task\": \"teacher\", \"d_in\": 32, "
                        "\"d_out\": 8, \"n_train\": 1000}",
                        NULL);
  uint64_t b = bytes_of("{" BASE "\"task\": \"teacher\", \"d_in\": 32, "
                        "\"d_out\": 8, \"n_train\": 3000000}",
                        &f);
  CHECK_EQ_INT(b - a, 2999000ull * (4 * (32 + 8) + 4));
  CHECK(strcmp(f, "n_train") == 0);
}

/* The field named is the one behind the largest part. */
static void test_fields(void) {
  const char *f;
  bytes_of("{" BASE "\"task\": \"teacher\", \"d_in\": 8192, \"d_out\": 8192, "
           "\"n_train\": 64, \"n_eval\": 16, \"batch\": 16}",
           &f);
  CHECK(strcmp(f, "d_in") == 0);
  bytes_of("{" BASE "\"task\": \"mlp\", \"widths\": [2048, 2048, 2048], "
           "\"n_train\": 64, \"n_eval\": 16, \"batch\": 16}",
           &f);
  CHECK(strcmp(f, "widths") == 0);
  bytes_of("{" BASE "\"task\": \"teacher\", \"d_in\": 256, \"d_out\": 256, "
           "\"n_train\": 200000, \"n_eval\": 16, \"batch\": 200000}",
           &f);
  CHECK(strcmp(f, "batch") == 0);
  bytes_of("{\"rank\": 4, \"alpha\": 1, \"lr\": 0.01, \"steps\": 10, "
           "\"task\": \"teacher\", \"d_in\": 256, \"d_out\": 256, \"n_train\": "
           "1000000, \"n_eval\": 16, \"sharpness_batch\": 1000000}",
           &f);
  CHECK(strcmp(f, "sharpness_batch") == 0);
}

/* Full-weight sharpness keeps Lanczos' basis: sharpness_iters vectors of
 * every weight, in double (here 1024 x 1024, the largest part), while it
 * fits LA_SHARPNESS_BASIS_MAX; beyond, two vectors whatever the cap. */
static void test_sharpness_basis(void) {
  const char *f;
#define SHARP(d)                                                               \
  "{\"rank\": 4, \"alpha\": 1, \"lr\": 0.01, \"steps\": 10, \"task\": "        \
  "\"teacher\", \"d_in\": " d ", \"d_out\": " d ", \"n_train\": 256, "         \
  "\"n_eval\": 16, \"batch\": 16, \"sharpness_batch\": 16, "
  uint64_t a = bytes_of(SHARP("1024") "\"sharpness_iters\": 2}", NULL);
  uint64_t b = bytes_of(SHARP("1024") "\"sharpness_iters\": 50}", &f);
  CHECK_EQ_INT(b - a, 48ull * 8 * 1024 * 1024);
  CHECK(strcmp(f, "d_in") == 0);
  CHECK_EQ_INT(la_sharpness_keeps_basis(50, 1024.0 * 1024), 1);
  CHECK_EQ_INT(la_sharpness_keeps_basis(50, 4096.0 * 4096), 0);
  a = bytes_of(SHARP("4096") "\"sharpness_iters\": 2}", NULL);
  b = bytes_of(SHARP("4096") "\"sharpness_iters\": 50}", NULL);
  CHECK_EQ_INT(b, a);
#undef SHARP
}

/* npy: the data come from files the estimate never sees. */
static void test_npy(void) {
  la_config c;
  la_mem_estimate e;
  parse("{" BASE "\"task\": \"npy\", \"npy\": {\"x\": \"x.npy\", \"y\": "
        "\"y.npy\", \"w0\": [\"w.npy\"]}}",
        &c);
  la_config_memory(&c, &e);
  CHECK_EQ_INT(e.known, 0);
  CHECK(e.bytes >= LA_MEM_BASE && e.bytes < LA_MEM_BASE + (16u << 20));
}

/* The estimate covers what the trainer itself counts (train.c). */
static void test_against_trainer(void) {
  static const char *const cfgs[] = {
      "{" BASE "\"task\": \"teacher\", \"d_in\": 96, \"d_out\": 48, "
      "\"n_train\": 5000, \"n_eval\": 500, \"batch\": 64}",
      "{" BASE "\"task\": \"mlp\", \"widths\": [64, 128, 10], \"loss\": "
      "\"ce\", \"activation\": \"gelu\", \"n_train\": 3000, \"batch\": 2048}",
      "{\"rank\": 8, \"alpha\": 1, \"lr\": 0.01, \"steps\": 10, \"task\": "
      "\"teacher\", \"d_in\": 128, \"d_out\": 128, \"optimizer\": \"sgd\"}",
  };
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
    la_config c;
    la_task t = {0};
    la_trainer *tr = NULL;
    la_mem_estimate e;
    la_err err = {{0}};
    parse(cfgs[i], &c);
    la_config_memory(&c, &e);
    CHECK_EQ_INT(la_task_build(&c, &t, &err), 0);
    CHECK_EQ_INT(la_trainer_new(&c, &t, &tr, &err), 0);
    if (tr != NULL) {
      uint64_t counted = la_trainer_tensor_bytes(tr) + LA_MEM_BASE;
      if (!(e.bytes >= counted && e.bytes <= counted * 2))
        fprintf(stderr, "config %zu: estimate %llu, trainer counts %llu\n", i,
                (unsigned long long)e.bytes, (unsigned long long)counted);
      CHECK(e.bytes >= counted && e.bytes <= counted * 2);
    }
    la_trainer_free(tr);
    la_task_free(&t);
  }
}

/* Rows: train, eval, spectra and drift per layer, sharpness. */
static void test_rows(void) {
  la_config c;
  const char *f;
  parse("{\"rank\": 4, \"alpha\": 1, \"lr\": 0.01, \"steps\": 1000, "
        "\"task\": \"teacher\", \"d_in\": 16, \"d_out\": 16}",
        &c);
  CHECK_EQ_INT(la_config_rows(&c, &f), 1002 + 102 + 2 * 22 + 2);
  CHECK(strcmp(f, "log_every") == 0);
  parse("{\"rank\": 4, \"alpha\": 1, \"lr\": 0.01, \"steps\": 1000, "
        "\"task\": \"mlp\", \"widths\": [8, 8, 8, 8, 8], \"log_every\": 100, "
        "\"eval_every\": 100, \"spectra_every\": 1, \"sharpness\": false}",
        &c);
  CHECK_EQ_INT(la_config_rows(&c, &f), 12 + 12 + 2 * 4 * 1002);
  CHECK(strcmp(f, "spectra_every") == 0);
}

static void test_slack(void) {
  CHECK_EQ_INT(la_mem_slack(1), 2 * LA_MEM_BLAS_BUFFER + LA_MEM_MARGIN);
  CHECK_EQ_INT(la_mem_slack(4), 5 * LA_MEM_BLAS_BUFFER + LA_MEM_MARGIN);
}

int main(void) {
  test_data_term();
  test_fields();
  test_npy();
  test_sharpness_basis();
  test_against_trainer();
  test_rows();
  test_slack();
  return check_summary();
}
