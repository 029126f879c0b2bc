/* slurm_spec.c: the Slurm executor's settings: daemon options, the spec's
 * "executor" and "slurm" fields, and sbatch scripts (see slurm.h). */
#include "loralpha/slurm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_slurm_fields[] = {
    "partition", "account", "time", "cpus_per_task", "sbatch_args", NULL};

void la_slurm_opts_default(la_slurm_opts *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->dir, sizeof o->dir, "loralpha-slurm");
  snprintf(o->job_name, sizeof o->job_name, "loralpha");
  o->poll_ms = 5000;
  o->batch = 1000;
  o->settings.cpus_per_task = 1;
}

const char *la_slurm_usage(void) {
  return "  --executor local|slurm    where sweeps without an executor run "
         "(local)\n"
         "  --slurm-dir DIR           scripts, configs, tokens and job logs,\n"
         "                            on a file system the nodes share "
         "(./loralpha-slurm)\n"
         "  --slurm-report-url URL    the daemon as the nodes reach it "
         "(http://LISTEN)\n"
         "  --slurm-worker PATH       loralpha-worker on the nodes (--worker)\n"
         "  --slurm-partition NAME    sbatch --partition\n"
         "  --slurm-account NAME      sbatch --account\n"
         "  --slurm-time LIMIT        sbatch --time (e.g. 1:00:00)\n"
         "  --slurm-cpus-per-task N   sbatch --cpus-per-task, worker threads "
         "(1)\n"
         "  --slurm-sbatch-arg OPT    one more sbatch option (repeatable)\n"
         "  --slurm-job-name NAME     the arrays' job name (loralpha)\n"
         "  --slurm-poll SECONDS      how often squeue is asked (5)\n"
         "  --slurm-batch N           most runs of a sweep in Slurm at once "
         "(1000)\n";
}

/* Is s printable text without quotes or backslashes that a shell or an
 * #SBATCH line would interpret (n bytes, 1..max)? */
static int plain_text(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n >= max) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x21 || c == 0x7f || c == '\'' || c == '"' || c == '\\' ||
        c == '`' || c == '$')
      return 0;
  }
  return 1;
}

/* An extra sbatch option: plain text starting with '-', not one the
 * executor sets itself. */
static int check_sbatch_arg(const char *what, const char *s, la_err *err) {
  static const char *const own[] = {"--array", "-a", "--output",   "-o",
                                    "--error", "-e", "--parsable", NULL};
  if (!plain_text(s, LA_SLURM_TEXT) || s[0] != '-')
    return la_errf(err, LA_EINVAL,
                   "%s: '%.64s' must be one option starting with '-', of "
                   "printable characters without spaces, quotes, '$' or '\\'",
                   what, s);
  for (int i = 0; own[i]; i++) {
    size_t n = strlen(own[i]);
    int short_opt = n == 2; /* "-oFILE" is -o with its value */
    if (strncmp(s, own[i], n) == 0 && (short_opt || s[n] == 0 || s[n] == '='))
      return la_errf(err, LA_EINVAL, "%s: '%.64s' is set by loralpha itself",
                     what, s);
  }
  return 0;
}

/* A setting's text into dst after checking it. */
static int set_text(char *dst, const char *what, const char *v, la_err *err) {
  if (!plain_text(v, LA_SLURM_TEXT))
    return la_errf(err, LA_EINVAL,
                   "%s: '%.64s' must be 1..%d printable characters without "
                   "spaces, quotes, '$' or '\\'",
                   what, v, LA_SLURM_TEXT - 1);
  snprintf(dst, LA_SLURM_TEXT, "%s", v);
  return 0;
}

/* A long in [lo, hi]. */
static int parse_num(const char *what, const char *v, long lo, long hi,
                     long *out, la_err *err) {
  char *end;
  errno = 0;
  *out = strtol(v, &end, 10);
  if (end == v || *end || errno || *out < lo || *out > hi)
    return la_errf(err, LA_EINVAL, "%s: '%.64s' is not an integer in %ld..%ld",
                   what, v, lo, hi);
  return 0;
}

/* The settings' flags (--slurm-partition, ...). 1: not one of them. */
static int settings_opt(la_slurm_settings *s, const char *f, const char *v,
                        la_err *err) {
  long x;
  if (strcmp(f, "--slurm-partition") == 0)
    return set_text(s->partition, f, v, err);
  if (strcmp(f, "--slurm-account") == 0) return set_text(s->account, f, v, err);
  if (strcmp(f, "--slurm-time") == 0) return set_text(s->time, f, v, err);
  if (strcmp(f, "--slurm-cpus-per-task") == 0) {
    if (parse_num(f, v, 1, 256, &x, err)) return LA_EINVAL;
    s->cpus_per_task = (int)x;
    return 0;
  }
  if (strcmp(f, "--slurm-sbatch-arg") == 0) {
    if (s->n_args == LA_SLURM_MAX_ARGS)
      return la_errf(err, LA_EINVAL, "%s: at most %d options", f,
                     LA_SLURM_MAX_ARGS);
    if (check_sbatch_arg(f, v, err)) return LA_EINVAL;
    snprintf(s->args[s->n_args++], LA_SLURM_TEXT, "%s", v);
    return 0;
  }
  return 1;
}

/* A path or URL option: printable, without quotes (it goes into a script). */
static int set_path(char *dst, size_t size, const char *f, const char *v,
                    la_err *err) {
  if (!plain_text(v, size))
    return la_errf(err, LA_EINVAL,
                   "%s: '%.64s' must be printable, without spaces, quotes, "
                   "'$' or '\\', and shorter than %zu bytes",
                   f, v, size);
  snprintf(dst, size, "%s", v);
  return 0;
}

int la_slurm_opt(la_slurm_opts *o, const char *f, const char *v, la_err *err) {
  long x;
  int rc = settings_opt(&o->settings, f, v, err);
  if (rc <= 0) return rc;
  if (strcmp(f, "--executor") == 0) {
    if (strcmp(v, "local") && strcmp(v, "slurm"))
      return la_errf(err, LA_EINVAL, "%s: '%.64s' is not local or slurm", f, v);
    o->default_slurm = strcmp(v, "slurm") == 0;
    return 0;
  }
  if (strcmp(f, "--slurm-dir") == 0)
    return set_path(o->dir, sizeof o->dir, f, v, err);
  if (strcmp(f, "--slurm-worker") == 0)
    return set_path(o->worker, sizeof o->worker, f, v, err);
  if (strcmp(f, "--slurm-job-name") == 0)
    return set_path(o->job_name, sizeof o->job_name, f, v, err);
  if (strcmp(f, "--slurm-report-url") == 0) {
    if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
      return la_errf(err, LA_EINVAL, "%s: '%.64s' is not an http:// URL", f, v);
    return set_path(o->report_url, sizeof o->report_url, f, v, err);
  }
  if (strcmp(f, "--slurm-poll") == 0) {
    if (parse_num(f, v, 1, 3600, &x, err)) return LA_EINVAL;
    o->poll_ms = (unsigned)x * 1000u;
    return 0;
  }
  if (strcmp(f, "--slurm-batch") == 0) {
    if (parse_num(f, v, 1, 10000, &x, err)) return LA_EINVAL;
    o->batch = (int)x;
    return 0;
  }
  return 1;
}

/* ---- the spec ---- */

/* slurm.<key>: a string setting. */
static int spec_text(const json_t *v, const char *key, json_t *out,
                     la_err *err) {
  char path[64], buf[LA_SLURM_TEXT];
  snprintf(path, sizeof path, "slurm.%s", key);
  if (!json_is_string(v))
    return la_errf(err, LA_EINVAL, "%s: must be a string", path);
  if (set_text(buf, path, json_string_value(v), err)) return LA_EINVAL;
  return json_object_set_new(out, key, json_string(buf)) ? LA_ENOMEM : 0;
}

/* slurm.sbatch_args: an array of options. */
static int spec_args(const json_t *v, json_t *out, la_err *err) {
  char path[64];
  size_t i;
  json_t *a;
  if (!json_is_array(v) || json_array_size(v) > LA_SLURM_MAX_ARGS)
    return la_errf(err, LA_EINVAL,
                   "slurm.sbatch_args: must be an array of at most %d strings",
                   LA_SLURM_MAX_ARGS);
  json_array_foreach(v, i, a) {
    snprintf(path, sizeof path, "slurm.sbatch_args[%zu]", i);
    if (!json_is_string(a))
      return la_errf(err, LA_EINVAL, "%s: must be a string", path);
    if (check_sbatch_arg(path, json_string_value(a), err)) return LA_EINVAL;
  }
  return json_object_set_new(out, "sbatch_args", json_deep_copy(v)) ? LA_ENOMEM
                                                                    : 0;
}

/* One field of the "slurm" object into out. */
static int spec_field(const char *key, const json_t *v, json_t *out,
                      la_err *err) {
  if (strcmp(key, "cpus_per_task") == 0) {
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > 256)
      return la_errf(err, LA_EINVAL,
                     "slurm.cpus_per_task: must be an integer in 1..256");
    return json_object_set_new(out, key, json_integer(json_integer_value(v)))
               ? LA_ENOMEM
               : 0;
  }
  if (strcmp(key, "sbatch_args") == 0) return spec_args(v, out, err);
  for (int i = 0; k_slurm_fields[i]; i++)
    if (strcmp(key, k_slurm_fields[i]) == 0) return spec_text(v, key, out, err);
  return la_errf(err, LA_EINVAL,
                 "slurm.%.64s: unknown field (expected partition, account, "
                 "time, cpus_per_task or sbatch_args)",
                 key);
}

int la_slurm_spec_parse(const json_t *spec, json_t *norm, la_err *err) {
  const json_t *ex = json_object_get(spec, "executor");
  const json_t *sl = json_object_get(spec, "slurm");
  const char *key;
  json_t *v, *out;
  int rc = 0;
  if (ex != NULL) {
    const char *s = json_string_value(ex);
    if (s == NULL || (strcmp(s, "local") && strcmp(s, "slurm")))
      return la_errf(err, LA_EINVAL,
                     "executor: must be \"local\" or \"slurm\"");
    if (json_object_set_new(norm, "executor", json_string(s)))
      return la_errf(err, LA_ENOMEM, "executor: out of memory");
  }
  if (sl == NULL) return 0;
  if (!json_is_object(sl))
    return la_errf(err, LA_EINVAL, "slurm: must be an object");
  if ((out = json_object()) == NULL)
    return la_errf(err, LA_ENOMEM, "slurm: out of memory");
  json_object_foreach((json_t *)sl, key, v) {
    if ((rc = spec_field(key, v, out, err)) != 0) break;
  }
  if (rc == LA_ENOMEM) la_errf(err, rc, "slurm: out of memory");
  if (rc == 0 && json_object_set_new(norm, "slurm", out))
    return la_errf(err, LA_ENOMEM, "slurm: out of memory");
  if (rc) json_decref(out);
  return rc;
}

int la_slurm_settings_of(const char *spec_text, const la_slurm_settings *base,
                         la_slurm_settings *out) {
  json_t *spec = json_loads(spec_text, 0, NULL);
  const json_t *sl = json_object_get(spec, "slurm"), *v;
  size_t i;
  *out = *base;
  if (!json_is_object(spec)) {
    json_decref(spec);
    return LA_EINVAL;
  }
  if ((v = json_object_get(sl, "partition")) != NULL)
    snprintf(out->partition, LA_SLURM_TEXT, "%s", json_string_value(v));
  if ((v = json_object_get(sl, "account")) != NULL)
    snprintf(out->account, LA_SLURM_TEXT, "%s", json_string_value(v));
  if ((v = json_object_get(sl, "time")) != NULL)
    snprintf(out->time, LA_SLURM_TEXT, "%s", json_string_value(v));
  if ((v = json_object_get(sl, "cpus_per_task")) != NULL)
    out->cpus_per_task = (int)json_integer_value(v);
  if ((v = json_object_get(sl, "sbatch_args")) != NULL) {
    const json_t *a;
    out->n_args = 0;
    json_array_foreach(v, i, a) {
      if (out->n_args < LA_SLURM_MAX_ARGS)
        snprintf(out->args[out->n_args++], LA_SLURM_TEXT, "%s",
                 json_string_value(a));
    }
  }
  json_decref(spec);
  return 0;
}

/* ---- scripts ---- */

/* The #SBATCH lines of the settings. */
static void write_settings(FILE *f, const la_slurm_settings *s) {
  if (s->partition[0]) fprintf(f, "#SBATCH --partition=%s\n", s->partition);
  if (s->account[0]) fprintf(f, "#SBATCH --account=%s\n", s->account);
  if (s->time[0]) fprintf(f, "#SBATCH --time=%s\n", s->time);
  fprintf(f, "#SBATCH --cpus-per-task=%d\n", s->cpus_per_task);
  for (int i = 0; i < s->n_args; i++)
    fprintf(f, "#SBATCH %s\n", s->args[i]);
}

int la_slurm_write_script(FILE *f, const char *dir, const char *job_name,
                          const la_slurm_settings *set, const char *worker,
                          const char *url, const int64_t *runs, int n,
                          int throttle) {
  fprintf(f, "#!/bin/bash\n");
  fprintf(f, "#SBATCH --job-name=%s\n", job_name);
  if (throttle > 0)
    fprintf(f, "#SBATCH --array=0-%d%%%d\n", n - 1, throttle);
  else
    fprintf(f, "#SBATCH --array=0-%d\n", n - 1);
  fprintf(f, "#SBATCH --output=%s/logs/%%A_%%a.out\n", dir);
  fprintf(f, "#SBATCH --no-requeue\n");
  write_settings(f, set);
  fprintf(f, "# loralpha: one run per array task (docs/slurm.md)\n");
  fprintf(f, "set -eu\nruns=(");
  for (int i = 0; i < n; i++)
    fprintf(f, "%s%lld", i ? " " : "", (long long)runs[i]);
  fprintf(f, ")\nrun=${runs[$SLURM_ARRAY_TASK_ID]}\n");
  fprintf(f, "export OPENBLAS_NUM_THREADS=%d\n", set->cpus_per_task);
  if (url != NULL)
    fprintf(f,
            "exec '%s' --config '%s'/runs/$run.json \\\n"
            "  --report-url '%s'/v1/ingest/$run \\\n"
            "  --report-token-file '%s'/runs/$run.token\n",
            worker, dir, url, dir);
  else
    fprintf(f,
            "mkdir -p '%s'/out\n"
            "'%s' --config '%s'/runs/$run.json >'%s'/out/$run.jsonl.part\n"
            "mv '%s'/out/$run.jsonl.part '%s'/out/$run.jsonl\n",
            dir, worker, dir, dir, dir, dir);
  return ferror(f) ? LA_EIO : 0;
}
