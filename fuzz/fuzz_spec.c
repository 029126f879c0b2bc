/*
 * fuzz_spec.c: libFuzzer target for the sweep spec parser.
 *
 * bytes -> json_loadb -> la_spec_parse (max_runs 2000, so huge grids are
 * rejected quickly) -> (on success) every run's config via
 * la_spec_run_config -> la_spec_free. Then the same spec under a daemon's
 * Slurm policy (partitions, maxima, a profile); when that accepts it, its
 * settings and the sbatch script built from them, which must hold the
 * sweep's name on one comment line only. Build with fuzz/build.sh.
 */
#include "loralpha/slurm_settings.h"
#include "loralpha/spec.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The daemon's policy, read once. */
static const la_slurm_opts *policy(void) {
  static la_slurm_opts o;
  static int ready;
  la_err err;
  if (!ready) {
    json_t *v = json_loads(
        "{\"partitions\":[\"debug\",\"long\"],\"max_time\":\"2:00:00\","
        "\"max_cpus_per_task\":4,\"defaults\":{\"account\":\"ml\"},"
        "\"profiles\":{\"big\":{\"partition\":\"long\",\"mem\":\"8G\","
        "\"sbatch\":[\"--constraint=avx2\"],\"env\":{\"A\":\"b c\"}}}}",
        0, NULL);
    json_t *ex = json_string("local,slurm");
    la_slurm_opts_default(&o);
    if (la_slurm_config_key(&o, "slurm", v, &err) ||
        la_slurm_config_key(&o, "executor", ex, &err))
      abort();
    json_decref(v), json_decref(ex);
    ready = 1;
  }
  return &o;
}

/* The script of an accepted spec: one "# sweep" line, nothing else of the
 * name outside it. */
static void check_script(const la_spec *spec, const la_slurm_opts *o) {
  la_slurm_settings set;
  la_err err;
  int64_t runs[2] = {1, 2};
  char *buf = NULL;
  size_t len = 0, n = 0;
  FILE *f;
  if (la_slurm_resolve(o, json_object_get(spec->normalized, "slurm"), &set,
                       &err))
    abort(); /* accepted specs resolve */
  la_slurm_script s = {
      "/jobs", "la", "/bin/w", "http://h:1",      &set, spec->name,
      1,       runs, 2,        spec->max_parallel};
  if ((f = open_memstream(&buf, &len)) == NULL) return;
  if (la_slurm_write_script(f, &s) != 0) abort();
  fclose(f);
  for (const char *p = buf; (p = strstr(p, "\n# sweep ")) != NULL; p++)
    n++;
  if (n != 1) abort();
  free(buf);
}

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
    spec = NULL;
    lim.slurm = policy();
    if (la_spec_parse(root, &lim, &spec, &err) == 0 && spec != NULL) {
      check_script(spec, lim.slurm);
      la_spec_free(spec);
    }
  }
  json_decref(root);
  return 0;
}
