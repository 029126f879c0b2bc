/*
 * fuzz_config.c: libFuzzer target for the worker config parser.
 *
 * bytes -> json_loadb -> la_config_parse -> (on success) la_config_to_json.
 * Must never crash, leak or trip a sanitizer. Build with fuzz/build.sh.
 */
#include "loralpha/config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *root = json_loadb((const char *)data, size, 0, &jerr);
  if (root == NULL) return 0;
  /* la_config is large (paths); keep it off the stack. */
  la_config *cfg = malloc(sizeof *cfg);
  if (cfg == NULL) {
    json_decref(root);
    return 0;
  }
  la_err err;
  if (la_config_parse(root, cfg, &err) == 0) {
    (void)la_config_scale(cfg);
    json_t *out = la_config_to_json(cfg);
    if (out != NULL) {
      /* Exercise serialisation of the effective config too. */
      char *s = json_dumps(out, JSON_COMPACT);
      free(s);
      json_decref(out);
    }
  }
  free(cfg);
  json_decref(root);
  return 0;
}
