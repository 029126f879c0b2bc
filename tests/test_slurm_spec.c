/* test_slurm_spec.c: the Slurm executor's settings: serve options, the
 * spec's "executor" and "slurm" fields (errors name the field), settings
 * over the daemon's, and the sbatch scripts. */
#include "check.h"
#include "loralpha/slurm.h"
#include "loralpha/spec.h"

#include <stdlib.h>
#include <string.h>

#define CHECK_HAS(text, part)                                                  \
  do {                                                                         \
    if (strstr((text), (part)) == NULL) {                                      \
      check_failures++;                                                        \
      fprintf(stderr, "%s:%d: '%s' not in:\n%s\n", __FILE__, __LINE__, part,   \
              text);                                                           \
    } else {                                                                   \
      check_passes++;                                                          \
    }                                                                          \
  } while (0)

static const char *k_base =
    "{\"name\":\"s\",\"task\":{\"task\":\"teacher\",\"d_in\":16,\"d_out\":16},"
    "\"grid\":{\"rank\":[1,2],\"alpha\":[1],\"lr\":[0.001]},\"steps\":10";

/* Parses the base spec plus extra top-level fields; the error into err. */
static int parse_with(const char *extra, la_spec **out, la_err *err) {
  char text[2048];
  la_spec_limits lim;
  json_t *j;
  int rc;
  snprintf(text, sizeof text, "%s%s}", k_base, extra);
  j = json_loads(text, 0, NULL);
  CHECK(j != NULL);
  la_spec_limits_default(&lim);
  rc = la_spec_parse(j, &lim, out, err);
  json_decref(j);
  return rc;
}

/* The spec is refused with an error that starts with field. */
static void refused(const char *extra, const char *field) {
  la_spec *sp = NULL;
  la_err err = {{0}};
  CHECK_EQ_INT(parse_with(extra, &sp, &err), LA_EINVAL);
  CHECK(sp == NULL);
  CHECK_HAS(err.msg, field);
}

static void test_spec_fields(void) {
  la_spec *sp = NULL;
  la_err err = {{0}};
  char *text;
  la_slurm_settings base, set;
  CHECK_EQ_INT(parse_with(",\"executor\":\"slurm\",\"slurm\":{\"partition\":"
                          "\"gpu\",\"time\":\"1:00:00\",\"cpus_per_task\":4,"
                          "\"sbatch_args\":[\"--qos=low\"]}",
                          &sp, &err),
               0);
  if (sp == NULL) return;
  text = json_dumps(sp->normalized, JSON_COMPACT);
  CHECK_HAS(text, "\"executor\":\"slurm\"");
  CHECK_HAS(text, "\"cpus_per_task\":4");
  memset(&base, 0, sizeof base);
  base.cpus_per_task = 1;
  snprintf(base.account, sizeof base.account, "lab");
  snprintf(base.partition, sizeof base.partition, "cpu");
  CHECK_EQ_INT(la_slurm_settings_of(text, &base, &set), 0);
  CHECK(strcmp(set.partition, "gpu") == 0); /* the spec's */
  CHECK(strcmp(set.account, "lab") == 0);   /* the daemon's */
  CHECK(strcmp(set.time, "1:00:00") == 0);
  CHECK_EQ_INT(set.cpus_per_task, 4);
  CHECK_EQ_INT(set.n_args, 1);
  free(text);
  la_spec_free(sp);
  refused(",\"executor\":\"cloud\"", "executor:");
  refused(",\"slurm\":[]", "slurm:");
  refused(",\"slurm\":{\"cpus_per_task\":0}", "slurm.cpus_per_task:");
  refused(",\"slurm\":{\"cpus_per_task\":2.5}", "slurm.cpus_per_task:");
  refused(",\"slurm\":{\"partition\":\"a b\"}", "slurm.partition:");
  refused(",\"slurm\":{\"time\":7}", "slurm.time:");
  refused(",\"slurm\":{\"account\":\"x';rm\"}", "slurm.account:");
  refused(",\"slurm\":{\"nodes\":2}", "slurm.nodes:");
  refused(",\"slurm\":{\"sbatch_args\":[\"--mem=1G\",\"qos\"]}",
          "slurm.sbatch_args[1]:");
  refused(",\"slurm\":{\"sbatch_args\":[\"--array=0-3\"]}",
          "slurm.sbatch_args[0]:");
  refused(",\"slurm\":{\"sbatch_args\":\"--mem=1G\"}", "slurm.sbatch_args:");
}

static void test_options(void) {
  la_slurm_opts o;
  la_err err = {{0}};
  la_slurm_opts_default(&o);
  CHECK_EQ_INT(o.default_slurm, 0);
  CHECK_EQ_INT(o.poll_ms, 5000);
  CHECK_EQ_INT(la_slurm_opt(&o, "--executor", "slurm", &err), 0);
  CHECK_EQ_INT(o.default_slurm, 1);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-poll", "2", &err), 0);
  CHECK_EQ_INT(o.poll_ms, 2000);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-sbatch-arg", "--mem=2G", &err), 0);
  CHECK_EQ_INT(o.settings.n_args, 1);
  CHECK_EQ_INT(la_slurm_opt(&o, "--listen", "x", &err), 1); /* not ours */
  CHECK_EQ_INT(la_slurm_opt(&o, "--executor", "k8s", &err), LA_EINVAL);
  CHECK_HAS(err.msg, "--executor");
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-cpus-per-task", "0", &err), LA_EINVAL);
  CHECK_HAS(err.msg, "--slurm-cpus-per-task");
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-report-url", "ftp://x", &err),
               LA_EINVAL);
  CHECK_HAS(err.msg, "--slurm-report-url");
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-dir", "/a dir", &err), LA_EINVAL);
  CHECK_HAS(err.msg, "--slurm-dir");
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-sbatch-arg", "-o/tmp/x", &err),
               LA_EINVAL);
}

/* The script of 3 runs, with the report URL or standalone. */
static void test_script(void) {
  la_slurm_settings set;
  int64_t runs[3] = {7, 9, 12};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  memset(&set, 0, sizeof set);
  set.cpus_per_task = 2;
  snprintf(set.partition, sizeof set.partition, "debug");
  snprintf(set.args[set.n_args++], sizeof set.args[0], "--qos=low");
  CHECK_EQ_INT(la_slurm_write_script(f, "/jobs", "la", &set, "/bin/w",
                                     "http://h:1", runs, 3, 2),
               0);
  fclose(f);
  CHECK_HAS(buf, "#SBATCH --array=0-2%2\n");
  CHECK_HAS(buf, "#SBATCH --partition=debug\n");
  CHECK_HAS(buf, "#SBATCH --cpus-per-task=2\n");
  CHECK_HAS(buf, "#SBATCH --qos=low\n");
  CHECK_HAS(buf, "#SBATCH --no-requeue\n");
  CHECK_HAS(buf, "runs=(7 9 12)\n");
  CHECK_HAS(buf, "export OPENBLAS_NUM_THREADS=2\n");
  CHECK_HAS(buf, "--report-url 'http://h:1'/v1/ingest/$run");
  CHECK_HAS(buf, "--report-token-file '/jobs'/runs/$run.token");
  free(buf);
  buf = NULL;
  f = open_memstream(&buf, &len);
  CHECK_EQ_INT(
      la_slurm_write_script(f, "/jobs", "la", &set, "/bin/w", NULL, runs, 3, 0),
      0);
  fclose(f);
  CHECK_HAS(buf, "#SBATCH --array=0-2\n");
  CHECK_HAS(buf, ">'/jobs'/out/$run.jsonl.part");
  CHECK(strstr(buf, "--report-url") == NULL);
  free(buf);
}

int main(void) {
  test_spec_fields();
  test_options();
  test_script();
  return check_summary();
}
