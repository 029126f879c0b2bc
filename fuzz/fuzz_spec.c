/*
 * fuzz_spec.c: libFuzzer target for the sweep spec parser.
 *
 * bytes -> json_loadb -> la_spec_parse (max_runs 2000, so huge grids are
 * rejected quickly) -> (on success) every run's config via
 * la_spec_run_config -> la_spec_free. Build with fuzz/build.sh.
 */
#include "loralpha/spec.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *root = json_loadb((const char *)data, size, 0, &jerr);
  if (root == NULL) return 0;
  la_spec_limits lim;
  la_spec_limits_default(&lim);
  lim.max_runs = 2000;
  la_spec *spec = NULL;
  la_err err;
  if (la_spec_parse(root, &lim, &spec, &err) == 0 && spec != NULL) {
    for (size_t i = 0; i < spec->n_runs; i++) {
      json_t *cfg = la_spec_run_config(spec, i);
      json_decref(cfg); /* NULL-safe */
    }
    la_spec_free(spec);
  }
  json_decref(root);
  return 0;
}
