/* test_slurm_spec.c: the Slurm executor's settings: the daemon's options
 * and config keys, the spec's "executor" and "slurm" fields against the
 * daemon's policy (errors name the field), the settings they resolve to,
 * and the sbatch scripts (run by bash here, with a stand-in worker). */
#include "check.h"
#include "loralpha/slurm_settings.h"
#include "loralpha/spec.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *k_base =
    "{\"name\":\"s\",\"task\":{\"task\":\"teacher\",\"d_in\":16,\"d_out\":16},"
    "\"grid\":{\"rank\":[1,2],\"alpha\":[1],\"lr\":[0.001]},\"steps\":10";

/* An admin's config: two partitions users may pick, maxima, a profile. */
static const char *k_admin =
    "{\"partitions\":[\"debug\",\"long\"],\"max_time\":\"2:00:00\","
    "\"max_cpus_per_task\":4,\"dir\":\"/jobs\","
    "\"defaults\":{\"partition\":\"debug\",\"account\":\"ml\",\"mem\":\"2G\"},"
    "\"profiles\":{\"big\":{\"partition\":\"long\",\"account\":\"ml-big\","
    "\"qos\":\"high\",\"mem\":\"16G\",\"time\":\"12:00:00\","
    "\"cpus_per_task\":8,\"sbatch\":[\"--constraint=avx2\"],"
    "\"env\":{\"LANG\":\"C.UTF-8\",\"MSG\":\"it's $HOME\"}}}}";

/* The admin's options with executor ex ("local", "local,slurm", ...). */
static void admin_opts(la_slurm_opts *o, const char *ex) {
  la_err err = {{0}};
  json_t *v = json_loads(k_admin, 0, NULL), *e = json_string(ex);
  la_slurm_opts_default(o);
  CHECK(v != NULL);
  CHECK_EQ_INT(la_slurm_config_key(o, "slurm", v, &err), 0);
  CHECK_EQ_INT(la_slurm_config_key(o, "executor", e, &err), 0);
  if (err.msg[0]) fprintf(stderr, "admin config: %s\n", err.msg);
  json_decref(v), json_decref(e);
}

/* Parses the base spec plus extra top-level fields under policy (NULL:
 * forms only); the error into err. */
static int parse_with(const char *extra, const la_slurm_opts *policy,
                      la_spec **out, la_err *err) {
  char text[2048];
  la_spec_limits lim;
  json_t *j;
  int rc;
  snprintf(text, sizeof text, "%s%s}", k_base, extra);
  j = json_loads(text, 0, NULL);
  CHECK(j != NULL);
  la_spec_limits_default(&lim);
  lim.slurm = policy;
  rc = la_spec_parse(j, &lim, out, err);
  json_decref(j);
  return rc;
}

/* The spec is refused with an error that starts with field. */
static void refused(const char *extra, const la_slurm_opts *policy,
                    const char *field) {
  la_spec *sp = NULL;
  la_err err = {{0}};
  CHECK_EQ_INT(parse_with(extra, policy, &sp, &err), LA_EINVAL);
  CHECK(sp == NULL);
  CHECK(strncmp(err.msg, field, strlen(field)) == 0);
  if (strncmp(err.msg, field, strlen(field)) != 0)
    fprintf(stderr, "  expected an error on %s, got: %s\n", field, err.msg);
  la_spec_free(sp);
}

/* The spec is accepted; its resolved settings into set. */
static void accepted(const char *extra, const la_slurm_opts *policy,
                     la_slurm_settings *set) {
  la_spec *sp = NULL;
  la_err err = {{0}};
  char *text;
  CHECK_EQ_INT(parse_with(extra, policy, &sp, &err), 0);
  if (sp == NULL) {
    fprintf(stderr, "  refused: %s\n", err.msg);
    return;
  }
  text = json_dumps(sp->normalized, JSON_COMPACT);
  CHECK_EQ_INT(la_slurm_settings_of(text, policy, set, &err), 0);
  free(text);
  la_spec_free(sp);
}

/* The forms of the fields, without a daemon's policy (export-slurm). */
static void test_forms(void) {
  la_spec *sp = NULL;
  la_err err = {{0}};
  char *text;
  CHECK_EQ_INT(parse_with(",\"executor\":\"slurm\",\"slurm\":{\"partition\":"
                          "\"gpu\",\"time\":\"1:00:00\",\"cpus_per_task\":4,"
                          "\"profile\":\"big\"}",
                          NULL, &sp, &err),
               0);
  if (sp == NULL) return;
  text = json_dumps(sp->normalized, JSON_COMPACT);
  CHECK_HAS(text, "\"executor\":\"slurm\"");
  CHECK_HAS(text, "\"cpus_per_task\":4");
  CHECK_HAS(text, "\"time\":\"0-01:00:00\""); /* canonical */
  free(text);
  la_spec_free(sp);
  refused(",\"executor\":\"cloud\"", NULL, "executor:");
  refused(",\"slurm\":[]", NULL, "slurm:");
  refused(",\"slurm\":{\"cpus_per_task\":0}", NULL, "slurm.cpus_per_task:");
  refused(",\"slurm\":{\"cpus_per_task\":2.5}", NULL, "slurm.cpus_per_task:");
  refused(",\"slurm\":{\"partition\":\"a b\"}", NULL, "slurm.partition:");
  refused(",\"slurm\":{\"partition\":\"debug\\n#SBATCH --wrap=id\"}", NULL,
          "slurm.partition:");
  refused(",\"slurm\":{\"partition\":\"--wrap=id\"}", NULL, "slurm.partition:");
  refused(",\"slurm\":{\"time\":7}", NULL, "slurm.time:");
  refused(",\"slurm\":{\"time\":\"1:99:00\"}", NULL, "slurm.time:");
  refused(",\"slurm\":{\"time\":\"10;id\"}", NULL, "slurm.time:");
  refused(",\"slurm\":{\"profile\":\"a'b\"}", NULL, "slurm.profile:");
  refused(",\"slurm\":{\"nodes\":2}", NULL, "slurm.nodes:");
  /* what only the admin sets: refused whatever the value */
  refused(",\"slurm\":{\"account\":\"lab\"}", NULL, "slurm.account:");
  refused(",\"slurm\":{\"qos\":\"high\"}", NULL, "slurm.qos:");
  refused(",\"slurm\":{\"mem\":\"1G\"}", NULL, "slurm.mem:");
  refused(",\"slurm\":{\"env\":{\"BASH_ENV\":\"/tmp/x\"}}", NULL, "slurm.env:");
  refused(",\"slurm\":{\"sbatch_args\":[\"--export=ALL,BASH_ENV=/tmp/e.sh\"]}",
          NULL, "slurm.sbatch_args:");
  refused(",\"slurm\":{\"sbatch_args\":[]}", NULL, "slurm.sbatch_args:");
}

/* Specs against an admin's policy. */
static void test_policy(void) {
  la_slurm_opts on, off, dflt;
  la_slurm_settings set;
  admin_opts(&on, "local,slurm");
  admin_opts(&off, "local");
  admin_opts(&dflt, "slurm,local");
  CHECK_EQ_INT(on.enabled, 1);
  CHECK_EQ_INT(on.default_slurm, 0);
  CHECK_EQ_INT(dflt.default_slurm, 1);
  CHECK_EQ_INT(off.enabled, 0);
  CHECK_EQ_INT(on.n_partitions, 2);
  CHECK_EQ_INT(on.max_time_s, 7200);
  CHECK_EQ_INT(on.n_profiles, 1);

  /* nothing asked: the defaults */
  memset(&set, 0, sizeof set);
  accepted(",\"executor\":\"slurm\"", &on, &set);
  CHECK_STR(set.partition, "debug");
  CHECK_STR(set.account, "ml");
  CHECK_STR(set.mem, "2G");
  CHECK_EQ_INT(set.cpus_per_task, 1);
  CHECK_EQ_INT(set.n_args, 0);

  /* the profile over the defaults, then the spec's choices */
  memset(&set, 0, sizeof set);
  accepted(",\"executor\":\"slurm\",\"slurm\":{\"profile\":\"big\","
           "\"partition\":\"debug\",\"time\":\"90\",\"cpus_per_task\":3}",
           &on, &set);
  CHECK_STR(set.partition, "debug"); /* the spec's, from the list */
  CHECK_STR(set.account, "ml-big");  /* the profile's */
  CHECK_STR(set.qos, "high");
  CHECK_STR(set.mem, "16G");
  CHECK_STR(set.time, "0-01:30:00"); /* the spec's, under max_time */
  CHECK_EQ_INT(set.cpus_per_task, 3);
  CHECK_EQ_INT(set.n_args, 1);
  CHECK_STR(set.args[0], "--constraint=avx2");
  CHECK_EQ_INT(set.n_env, 2);

  /* the profile alone keeps its own time and CPUs, beyond the maxima */
  memset(&set, 0, sizeof set);
  accepted(",\"slurm\":{\"profile\":\"big\"}", &dflt, &set);
  CHECK_STR(set.time, "0-12:00:00");
  CHECK_EQ_INT(set.cpus_per_task, 8);
  CHECK_STR(set.partition, "long");

  refused(",\"executor\":\"slurm\",\"slurm\":{\"partition\":\"gpu\"}", &on,
          "slurm.partition:");
  refused(",\"executor\":\"slurm\",\"slurm\":{\"time\":\"2:00:01\"}", &on,
          "slurm.time:");
  refused(",\"executor\":\"slurm\",\"slurm\":{\"time\":\"1-00\"}", &on,
          "slurm.time:");
  refused(",\"executor\":\"slurm\",\"slurm\":{\"cpus_per_task\":5}", &on,
          "slurm.cpus_per_task:");
  refused(",\"executor\":\"slurm\",\"slurm\":{\"profile\":\"huge\"}", &on,
          "slurm.profile:");
  refused(",\"executor\":\"slurm\",\"slurm\":{\"account\":\"other\"}", &on,
          "slurm.account:");
  refused(",\"slurm\":{\"cpus_per_task\":9}", &dflt, "slurm.cpus_per_task:");
  /* the npy task reads files: never with the daemon's rights on a node */
  refused(",\"executor\":\"slurm\",\"task\":{\"task\":\"npy\"}", &on,
          "task.task:");

  /* a local-only daemon: no Slurm, whatever the spec asks */
  refused(",\"executor\":\"slurm\"", &off, "executor:");
  refused(",\"slurm\":{\"partition\":\"debug\"}", &off, "slurm:");
  memset(&set, 0, sizeof set);
  accepted(",\"executor\":\"local\"", &off, &set);

  /* no maxima: a spec chooses no time and no CPUs */
  on.max_time_s = 0, on.max_cpus = 0, on.n_partitions = 0;
  refused(",\"executor\":\"slurm\",\"slurm\":{\"time\":\"10\"}", &on,
          "slurm.time:");
  refused(",\"executor\":\"slurm\",\"slurm\":{\"cpus_per_task\":1}", &on,
          "slurm.cpus_per_task:");
  refused(",\"executor\":\"slurm\",\"slurm\":{\"partition\":\"debug\"}", &on,
          "slurm.partition:");
}

/* A config "slurm" object (JSON text) is refused naming where. */
static void config_refused(const char *key, const char *json,
                           const char *where) {
  la_slurm_opts o;
  la_err err = {{0}};
  json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
  la_slurm_opts_default(&o);
  CHECK(v != NULL);
  CHECK_EQ_INT(la_slurm_config_key(&o, key, v, &err), LA_EINVAL);
  CHECK(strncmp(err.msg, where, strlen(where)) == 0);
  if (strncmp(err.msg, where, strlen(where)) != 0)
    fprintf(stderr, "  expected an error on %s, got: %s\n", where, err.msg);
  json_decref(v);
}

static void test_config(void) {
  la_slurm_opts o;
  la_err err = {{0}};
  json_t *out;
  char *text;
  config_refused("executor", "\"k8s\"", "executor:");
  config_refused("slurm", "{\"partition\":\"debug\"}", "slurm.partition:");
  config_refused("slurm", "{\"nosuch\":1}", "slurm.nosuch:");
  config_refused("slurm", "{\"partitions\":[\"a b\"]}", "slurm.partitions[0]:");
  config_refused("slurm", "{\"max_time\":\"forever\"}", "slurm.max_time:");
  config_refused("slurm", "{\"defaults\":{\"mem\":\"lots\"}}",
                 "slurm.defaults.mem:");
  config_refused("slurm", "{\"defaults\":{\"sbatch\":[\"--export=ALL\"]}}",
                 "slurm.defaults.sbatch[0]:");
  config_refused("slurm", "{\"profiles\":{\"p\":{\"sbatch\":[\"--wrap=id\"]}}}",
                 "slurm.profiles.p.sbatch[0]:");
  config_refused("slurm", "{\"profiles\":{\"p\":{\"sbatch\":[\"-D/tmp\"]}}}",
                 "slurm.profiles.p.sbatch[0]:");
  config_refused("slurm", "{\"profiles\":{\"p\":{\"env\":{\"A-B\":\"1\"}}}}",
                 "slurm.profiles.p.env.A-B:");
  config_refused("slurm", "{\"profiles\":{\"p\":{\"env\":{\"A\":\"x\\ny\"}}}}",
                 "slurm.profiles.p.env.A:");
  config_refused("slurm", "{\"profiles\":{\"p q\":{}}}", "slurm.profiles.p q:");
  config_refused("slurm", "{\"profiles\":{\"p\":{\"cpus_per_task\":\"2\"}}}",
                 "slurm.profiles.p.cpus_per_task:");

  la_slurm_opts_default(&o);
  CHECK_EQ_INT(o.enabled, 0);
  CHECK_EQ_INT(o.default_slurm, 0);
  CHECK_EQ_INT(o.poll_ms, 5000);
  CHECK_EQ_INT(la_slurm_opt(&o, "--executor", "slurm", &err), 0);
  CHECK_EQ_INT(o.enabled, 1);
  CHECK_EQ_INT(o.default_slurm, 1);
  CHECK_EQ_INT(la_slurm_opt(&o, "--executor", "local", &err), 0);
  CHECK_EQ_INT(o.enabled, 0);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-poll", "2", &err), 0);
  CHECK_EQ_INT(o.poll_ms, 2000);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-sbatch-arg", "--mem-bind=local", &err),
               0);
  CHECK_EQ_INT(o.settings.n_args, 1);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-partitions", "a,b,c", &err), 0);
  CHECK_EQ_INT(o.n_partitions, 3);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-max-time", "1-00", &err), 0);
  CHECK_EQ_INT(o.max_time_s, 86400);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-max-cpus-per-task", "4", &err), 0);
  CHECK_EQ_INT(o.max_cpus, 4);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-env", "TMPDIR=/scratch", &err), 0);
  CHECK_EQ_INT(o.settings.n_env, 1);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-qos", "low", &err), 0);
  CHECK_EQ_INT(la_slurm_opt(&o, "--listen", "x", &err), 1); /* not ours */
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-profiles", "x", &err), 1);
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
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-sbatch-arg", "--chdir=/x", &err),
               LA_EINVAL);
  CHECK_EQ_INT(la_slurm_opt(&o, "--slurm-env", "BAD NAME=1", &err), LA_EINVAL);
  CHECK_HAS(err.msg, "--slurm-env");

  /* what --check-config prints reads back as the same config */
  admin_opts(&o, "slurm,local");
  out = json_object();
  CHECK_EQ_INT(la_slurm_config_print(&o, out), 0);
  text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
  CHECK_HAS(text, "\"executor\":\"slurm,local\"");
  CHECK_HAS(text, "\"max_time\":\"0-02:00:00\"");
  CHECK_HAS(text, "\"partitions\":[\"debug\",\"long\"]");
  CHECK_HAS(text, "\"qos\":\"high\"");
  {
    la_slurm_opts back;
    la_slurm_opts_default(&back);
    CHECK_EQ_INT(la_slurm_config_key(&back, "slurm",
                                     json_object_get(out, "slurm"), &err),
                 0);
    if (err.msg[0]) fprintf(stderr, "  read back: %s\n", err.msg);
    CHECK_EQ_INT(back.n_profiles, 1);
    CHECK_EQ_INT(back.max_time_s, 7200);
    CHECK_STR(back.profiles[0].set.mem, "16G");
  }
  free(text);
  json_decref(out);
}

/* The script of runs {7, 9, 12} into a new string (free), or NULL when
 * la_slurm_write_script refuses (*rc). */
static char *script_of(const la_slurm_script *s, int *rc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  *rc = la_slurm_write_script(f, s);
  fclose(f);
  if (*rc) free(buf), buf = NULL;
  return buf;
}

static void test_script(void) {
  la_slurm_opts o;
  la_slurm_settings set;
  la_err err;
  int64_t runs[3] = {7, 9, 12};
  int rc;
  char *buf;
  json_t *sl = json_loads("{\"profile\":\"big\",\"time\":\"30\"}", 0, NULL);
  admin_opts(&o, "local,slurm");
  CHECK_EQ_INT(la_slurm_resolve(&o, sl, &set, &err), 0);
  json_decref(sl);
  la_slurm_script s = {"/jobs",  "la",
                       "/bin/w", "http://h:1",
                       &set,     "x'$(id)\r\n#SBATCH --wrap=id",
                       5,        runs,
                       3,        2};
  buf = script_of(&s, &rc);
  CHECK_EQ_INT(rc, 0);
  if (buf == NULL) return;
  CHECK_HAS(buf, "#SBATCH --array=0-2%2\n");
  CHECK_HAS(buf, "#SBATCH --export=NONE\n");
  CHECK_HAS(buf, "#SBATCH --chdir=/jobs\n");
  CHECK_HAS(buf, "#SBATCH --output=/jobs/logs/%A_%a.out\n");
  CHECK_HAS(buf, "#SBATCH --partition=long\n");
  CHECK_HAS(buf, "#SBATCH --account=ml-big\n");
  CHECK_HAS(buf, "#SBATCH --qos=high\n");
  CHECK_HAS(buf, "#SBATCH --mem=16G\n");
  CHECK_HAS(buf, "#SBATCH --time=0-00:30:00\n");
  CHECK_HAS(buf, "#SBATCH --cpus-per-task=8\n");
  CHECK_HAS(buf, "#SBATCH --constraint=avx2\n");
  CHECK_HAS(buf, "#SBATCH --no-requeue\n");
  CHECK_HAS(buf, "# sweep 5: x'$(id)??#SBATCH --wrap=id\n");
  CHECK_LACKS(buf, "\n#SBATCH --wrap");
  CHECK_LACKS(buf, "ALL");
  CHECK_HAS(buf, "export PATH=/usr/local/bin:/usr/bin:/bin\n");
  CHECK_HAS(buf, "export LANG='C.UTF-8'\n");
  CHECK_HAS(buf, "export MSG='it'\\''s $HOME'\n");
  CHECK_HAS(buf, "export OPENBLAS_NUM_THREADS=8\n");
  CHECK_HAS(buf, "runs=(7 9 12)\n");
  /* the worker puts each run's id for {run} (a pack has several) */
  CHECK_HAS(buf, "--report-url 'http://h:1'\"/v1/ingest/{run}\"");
  CHECK_HAS(buf, "--report-token-file '/jobs'\"/runs/{run}.token\"");
  free(buf);

  /* what could not be quoted into an #SBATCH line is refused */
  s.dir = "/a dir";
  CHECK(script_of(&s, &rc) == NULL);
  CHECK_EQ_INT(rc, LA_EINVAL);
  s.dir = "/jobs%x";
  CHECK(script_of(&s, &rc) == NULL);
  s.dir = "/jobs";
  snprintf(set.partition, sizeof set.partition, "a\n#SBATCH --wrap=id");
  CHECK(script_of(&s, &rc) == NULL);
  CHECK_EQ_INT(rc, LA_EINVAL);
}

/* A standalone script, run by bash as Slurm would run task 1, with a
 * worker whose path has a space and a quote: the quoting holds and the
 * sweep's name runs nothing. */
static void test_script_runs(void) {
  char dir[] = "/tmp/la-slurm-spec.XXXXXX", path[512], worker[512], cmd[1200];
  char line[1024] = "";
  la_slurm_settings set;
  int64_t runs[2] = {4, 9};
  FILE *f;
  if (mkdtemp(dir) == NULL) {
    CHECK(0 && "mkdtemp");
    return;
  }
  memset(&set, 0, sizeof set);
  set.cpus_per_task = 3;
  snprintf(set.env[set.n_env++], LA_SLURM_TEXT, "GREETING=a 'b' $c");
  snprintf(worker, sizeof worker, "%s/my w'orker", dir);
  f = fopen(worker, "w");
  fprintf(f, "#!/bin/sh\necho \"$1 $2 $OPENBLAS_NUM_THREADS $GREETING\"\n");
  fclose(f);
  chmod(worker, 0755);
  char name[600];
  snprintf(name, sizeof name, "$(touch %s/pwned)`touch %s/pwned2`", dir, dir);
  la_slurm_script s = {dir, "la", worker, NULL, &set, name, 0, runs, 2, 0};
  snprintf(path, sizeof path, "%s/array.sbatch", dir);
  f = fopen(path, "w");
  CHECK_EQ_INT(la_slurm_write_script(f, &s), 0);
  fclose(f);
  snprintf(cmd, sizeof cmd, "cd %s && env -i SLURM_ARRAY_TASK_ID=1 bash %s",
           dir, path);
  CHECK_EQ_INT(system(cmd), 0);
  snprintf(path, sizeof path, "%s/out/9.jsonl", dir);
  if ((f = fopen(path, "r")) != NULL) {
    if (fgets(line, sizeof line, f) == NULL) line[0] = 0;
    fclose(f);
  }
  snprintf(cmd, sizeof cmd, "--config %s/runs/9.json 3 a 'b' $c\n", dir);
  CHECK_STR(line, cmd);
  snprintf(path, sizeof path, "%s/pwned", dir);
  CHECK(access(path, F_OK) != 0);
  snprintf(path, sizeof path, "%s/pwned2", dir);
  CHECK(access(path, F_OK) != 0);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ_INT(system(cmd), 0);
}

int main(void) {
  test_forms();
  test_policy();
  test_config();
  test_script();
  test_script_runs();
  return check_summary();
}
