/*
 * fuzz_config.c: libFuzzer target for the worker config parser.
 *
 * bytes -> json_loadb -> la_config_parse -> (on success) la_config_to_json.
 * Must never crash, leak or trip a sanitizer; and the effective config must
 * parse back to itself (the worker's --check output and the start record's
 * config are valid configs). Build with fuzz/build.sh.
 */
#include "loralpha/config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The effective config out parses back to the same effective
 * config; aborts (a finding) when it does not. */
static void check_round_trip(const json_t *out) {
  la_config *again = malloc(sizeof *again);
  la_err err;
  if (again == NULL) return;
  if (la_config_parse(out, again, &err) != 0) {
    char *s = json_dumps(out, JSON_COMPACT);
    fprintf(stderr, "effective config does not parse: %s\n%s\n", err.msg,
            s ? s : "");
    abort();
  }
  json_t *out2 = la_config_to_json(again);
  if (out2 != NULL && !json_equal(out, out2)) {
    fprintf(stderr, "effective config changes when parsed back\n");
    abort();
  }
  json_decref(out2);
  free(again);
}

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
      check_round_trip(out);
      json_decref(out);
    }
  }
  free(cfg);
  json_decref(root);
  return 0;
}
