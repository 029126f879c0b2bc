/* slurm_settings.c: the Slurm settings (see slurm_settings.h): the daemon's
 * options and config keys, the spec's "executor" and "slurm" fields, the
 * policy that joins them, and sbatch scripts.
 *
 * Who decides what: everything that goes into a script (account, QoS,
 * memory, the job's environment, extra #SBATCH options, paths) comes from
 * whoever starts the daemon (its flags and config file). A spec may only
 * pick among what that config offers: a named profile, a partition of the
 * allowed list, a time and CPUs within the maxima. export-slurm writes
 * scripts its user runs with their own rights, so there (standalone) the
 * user's own choices are taken as they are, after the same checks of form.
 */
#include "loralpha/slurm_settings.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIME_S (365L * 86400) /* longest time anyone may give */
#define MAX_CPUS 1024

/* sbatch options the script sets itself: never an admin's extra line. */
static const char *const k_own_opts[] = {
    "--array", "-a",         "--output", "-o",       "--error",
    "-e",      "--chdir",    "-D",       "--export", "--parsable",
    "--wrap",  "--job-name", "-J",       "--open",   NULL};

/* The keys of a settings object (slurm.defaults, a profile). */
static const char *const k_setting_keys[] = {"partition",     "account", "qos",
                                             "sbatch",        "mem",     "time",
                                             "cpus_per_task", "env",     NULL};

/* Spec fields under "slurm" that only the daemon's config may set. */
static const char *const k_admin_only[] = {
    "account", "qos", "mem", "sbatch_args", "sbatch", "env", "export", NULL};

void la_slurm_opts_default(la_slurm_opts *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->dir, sizeof o->dir, "loralpha-slurm");
  snprintf(o->job_name, sizeof o->job_name, "loralpha");
  o->poll_ms = 5000;
  o->batch = 1000;
  o->settings.cpus_per_task = 1;
}

const char *la_slurm_usage(void) {
  return "  --executor LIST           executors: local, slurm, local,slurm or\n"
         "                            slurm,local; the first runs sweeps that\n"
         "                            name none (local: no Slurm at all)\n"
         "  --slurm-dir DIR           scripts, configs, tokens and job logs,\n"
         "                            on a file system the nodes share "
         "(./loralpha-slurm)\n"
         "  --slurm-report-url URL    the daemon as the nodes reach it "
         "(http://LISTEN)\n"
         "  --slurm-worker PATH       loralpha-worker on the nodes (--worker)\n"
         "  --slurm-partition NAME    sbatch --partition   (the defaults of\n"
         "  --slurm-account NAME      sbatch --account      every array; a\n"
         "  --slurm-qos NAME          sbatch --qos          spec's profile\n"
         "  --slurm-mem SIZE          sbatch --mem          replaces them)\n"
         "  --slurm-time LIMIT        sbatch --time (e.g. 1:00:00)\n"
         "  --slurm-cpus-per-task N   sbatch --cpus-per-task, worker threads "
         "(1)\n"
         "  --slurm-sbatch-arg OPT    one more #SBATCH option (repeatable)\n"
         "  --slurm-env NAME=VALUE    one variable of the jobs' environment\n"
         "                            (repeatable; jobs get no other)\n"
         "  --slurm-partitions A,B    partitions a spec may choose\n"
         "  --slurm-max-time LIMIT    longest time a spec may ask for\n"
         "  --slurm-max-cpus-per-task N  most CPUs a spec may ask for\n"
         "  --slurm-job-name NAME     the arrays' job name (loralpha)\n"
         "  --slurm-poll SECONDS      how often squeue is asked (5)\n"
         "  --slurm-batch N           most runs of a sweep in Slurm at once "
         "(1000)\n"
         "Profiles are set in the config file's \"slurm\" object "
         "(docs/slurm.md).\n";
}

/* ---- forms of values ---- */

/* Is s printable ASCII without spaces, quotes, backslashes, '`' or '$'
 * (1..max-1 bytes)? Such text means the same in an #SBATCH line and in a
 * shell word. */
static int plain_text(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n >= max) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x21 || c > 0x7e || c == '\'' || c == '"' || c == '\\' ||
        c == '`' || c == '$')
      return 0;
  }
  return 1;
}

/* A Slurm name (partition, account, QoS) or a profile's: 1..63 of
 * A-Z a-z 0-9 . _ -, not starting with '-'. */
static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= LA_SLURM_NAME || s[0] == '-') return 0;
  return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789._-") == n;
}

/* A memory size: 1..9 digits and an optional K, M, G or T. */
static int mem_ok(const char *s) {
  size_t d = strspn(s, "0123456789");
  if (d == 0 || d > 9) return 0;
  return s[d] == 0 || (strchr("KMGT", s[d]) != NULL && s[d + 1] == 0);
}

/* A decimal field of a time: 1..7 digits into *out; the rest after it. */
static const char *time_field(const char *s, long *out) {
  size_t d = strspn(s, "0123456789");
  if (d == 0 || d > 7) return NULL;
  *out = strtol(s, NULL, 10);
  return s + d;
}

/* Slurm's time formats into seconds: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S
 * (fields after the first below 60). 0, or LA_EINVAL when s is none of
 * them or longer than a year. */
static int parse_time(const char *s, long *secs) {
  long f[3], days = 0;
  int n = 0;
  const char *p = s, *dash = strchr(s, '-');
  if (dash != NULL) {
    if ((p = time_field(s, &days)) != dash) return LA_EINVAL;
    p = dash + 1;
  }
  while (n < 3) {
    if ((p = time_field(p, &f[n])) == NULL) return LA_EINVAL;
    if (n > 0 && f[n] >= 60) return LA_EINVAL;
    n++;
    if (*p == 0) break;
    if (*p++ != ':') return LA_EINVAL;
  }
  if (*p) return LA_EINVAL;
  if (dash != NULL) /* D-H, D-H:M, D-H:M:S */
    *secs = days * 86400 + f[0] * 3600 + (n > 1 ? f[1] * 60 : 0) +
            (n > 2 ? f[2] : 0);
  else if (n == 1) /* M */
    *secs = f[0] * 60;
  else if (n == 2) /* M:S */
    *secs = f[0] * 60 + f[1];
  else /* H:M:S */
    *secs = f[0] * 3600 + f[1] * 60 + f[2];
  return *secs > 0 && *secs <= MAX_TIME_S ? 0 : LA_EINVAL;
}

/* Seconds as "D-HH:MM:SS", a form every Slurm reads. */
static void format_time(long secs, char *buf, size_t size) {
  snprintf(buf, size, "%ld-%02ld:%02ld:%02ld", secs / 86400,
           secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
}

/* An admin's extra sbatch option: plain text starting with '-', not one
 * the script sets itself. */
static int check_sbatch_arg(const char *where, const char *s, la_err *err) {
  if (!plain_text(s, LA_SLURM_TEXT) || s[0] != '-')
    return la_errf(err, LA_EINVAL,
                   "%s: '%.64s' must be one option starting with '-', of "
                   "printable characters without spaces, quotes, '$' or '\\'",
                   where, s);
  for (int i = 0; k_own_opts[i]; i++) {
    size_t n = strlen(k_own_opts[i]);
    int short_opt = n == 2; /* "-oFILE" is -o with its value */
    if (strncmp(s, k_own_opts[i], n) == 0 &&
        (short_opt || s[n] == 0 || s[n] == '='))
      return la_errf(err, LA_EINVAL,
                     "%s: '%.64s' is set by loralpha itself (the jobs' "
                     "environment: env)",
                     where, s);
  }
  return 0;
}

/* "NAME=value" of the jobs' environment: a shell name, a printable value. */
static int check_env(const char *where, const char *s, la_err *err) {
  const char *eq = strchr(s, '=');
  size_t n = eq ? (size_t)(eq - s) : 0;
  int ok = eq != NULL && n > 0 && n < 64 && strlen(s) < LA_SLURM_TEXT &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
                     "0123456789") == n &&
           !(s[0] >= '0' && s[0] <= '9');
  for (const char *p = eq ? eq + 1 : s; ok && *p; p++)
    ok = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f;
  if (!ok)
    return la_errf(err, LA_EINVAL,
                   "%s: '%.64s' is not NAME=value (a shell variable name, "
                   "printable ASCII, %d bytes at most)",
                   where, s, LA_SLURM_TEXT - 1);
  return 0;
}

/* A long in [lo, hi] from decimal text. */
static int parse_num(const char *where, const char *v, long lo, long hi,
                     long *out, la_err *err) {
  char *end;
  errno = 0;
  *out = strtol(v, &end, 10);
  if (end == v || *end || errno || *out < lo || *out > hi)
    return la_errf(err, LA_EINVAL, "%s: '%.64s' is not an integer in %ld..%ld",
                   where, v, lo, hi);
  return 0;
}

/* ---- the daemon's settings (flags and config file) ---- */

/* One setting of an array (key as in the config file) from text into s;
 * given gets its bit. 1 when key is not a setting. */
static int setting_value(la_slurm_settings *s, unsigned *given, const char *key,
                         const char *where, const char *v, la_err *err) {
  static const struct {
    const char *key;
    unsigned bit;
    size_t off;
  } names[] = {
      {"partition", LA_SLURM_G_PARTITION,
       offsetof(la_slurm_settings, partition)},
      {"account", LA_SLURM_G_ACCOUNT, offsetof(la_slurm_settings, account)},
      {"qos", LA_SLURM_G_QOS, offsetof(la_slurm_settings, qos)},
  };
  long x;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(key, names[i].key)) continue;
    if (!name_ok(v))
      return la_errf(err, LA_EINVAL,
                     "%s: '%.64s' is not a name (1..63 of A-Z a-z 0-9 . _ -)",
                     where, v);
    snprintf((char *)s + names[i].off, LA_SLURM_NAME, "%s", v);
    return *given |= names[i].bit, 0;
  }
  if (strcmp(key, "mem") == 0) {
    if (!mem_ok(v))
      return la_errf(err, LA_EINVAL,
                     "%s: '%.64s' is not a size like 500M or 4G", where, v);
    snprintf(s->mem, sizeof s->mem, "%s", v);
    return *given |= LA_SLURM_G_MEM, 0;
  }
  if (strcmp(key, "time") == 0) {
    if (parse_time(v, &x))
      return la_errf(err, LA_EINVAL,
                     "%s: '%.64s' is not a Slurm time up to a year (M, M:S, "
                     "H:M:S, D-H, D-H:M or D-H:M:S)",
                     where, v);
    format_time(x, s->time, sizeof s->time);
    return *given |= LA_SLURM_G_TIME, 0;
  }
  if (strcmp(key, "cpus_per_task") == 0) {
    if (parse_num(where, v, 1, MAX_CPUS, &x, err)) return LA_EINVAL;
    s->cpus_per_task = (int)x;
    return *given |= LA_SLURM_G_CPUS, 0;
  }
  if (strcmp(key, "sbatch") == 0) {
    if (s->n_args == LA_SLURM_MAX_ARGS)
      return la_errf(err, LA_EINVAL, "%s: at most %d options", where,
                     LA_SLURM_MAX_ARGS);
    if (check_sbatch_arg(where, v, err)) return LA_EINVAL;
    snprintf(s->args[s->n_args++], LA_SLURM_TEXT, "%s", v);
    return *given |= LA_SLURM_G_ARGS, 0;
  }
  if (strcmp(key, "env") == 0) {
    if (s->n_env == LA_SLURM_MAX_ENV)
      return la_errf(err, LA_EINVAL, "%s: at most %d variables", where,
                     LA_SLURM_MAX_ENV);
    if (check_env(where, v, err)) return LA_EINVAL;
    snprintf(s->env[s->n_env++], LA_SLURM_TEXT, "%s", v);
    return *given |= LA_SLURM_G_ENV, 0;
  }
  return 1;
}

/* A path or URL that goes into scripts: plain text shorter than size. */
static int set_path(char *dst, size_t size, const char *where, const char *v,
                    la_err *err) {
  if (!plain_text(v, size) || strchr(v, '%') != NULL)
    return la_errf(err, LA_EINVAL,
                   "%s: '%.64s' must be printable, without spaces, quotes, "
                   "'$', '%%' or '\\', and shorter than %zu bytes",
                   where, v, size);
  snprintf(dst, size, "%s", v);
  return 0;
}

/* "local", "slurm", "local,slurm" or "slurm,local". */
static int set_executor(la_slurm_opts *o, const char *where, const char *v,
                        la_err *err) {
  static const char *const ok[] = {"local", "slurm", "local,slurm",
                                   "slurm,local", NULL};
  for (int i = 0; ok[i]; i++)
    if (strcmp(v, ok[i]) == 0) {
      o->enabled = strstr(v, "slurm") != NULL;
      o->default_slurm = v[0] == 's';
      return 0;
    }
  return la_errf(err, LA_EINVAL,
                 "%s: '%.64s' is not local, slurm, local,slurm or slurm,local",
                 where, v);
}

/* One partition users may choose. */
static int add_partition(la_slurm_opts *o, const char *where, const char *v,
                         la_err *err) {
  if (o->n_partitions == LA_SLURM_MAX_PARTS)
    return la_errf(err, LA_EINVAL, "%s: at most %d partitions", where,
                   LA_SLURM_MAX_PARTS);
  if (!name_ok(v))
    return la_errf(err, LA_EINVAL,
                   "%s: '%.64s' is not a partition name (1..63 of A-Z a-z "
                   "0-9 . _ -)",
                   where, v);
  snprintf(o->partitions[o->n_partitions++], LA_SLURM_NAME, "%s", v);
  return 0;
}

/* "A,B,C" as the partitions users may choose (replacing the list). */
static int set_partitions(la_slurm_opts *o, const char *where, const char *v,
                          la_err *err) {
  char buf[LA_SLURM_MAX_PARTS * LA_SLURM_NAME], *save = NULL, *p;
  o->n_partitions = 0;
  if (strlen(v) >= sizeof buf)
    return la_errf(err, LA_EINVAL, "%s: too long", where);
  snprintf(buf, sizeof buf, "%s", v);
  for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
    if (add_partition(o, where, p, err)) return LA_EINVAL;
  return 0;
}

/* One option of the executor (key as in the config file's "slurm" object)
 * from text. 1 when key is not one of them. */
static int opt_value(la_slurm_opts *o, const char *key, const char *where,
                     const char *v, la_err *err) {
  long x;
  int rc = setting_value(&o->settings, &(unsigned){0}, key, where, v, err);
  if (rc <= 0) return rc;
  if (strcmp(key, "dir") == 0)
    return set_path(o->dir, sizeof o->dir, where, v, err);
  if (strcmp(key, "worker") == 0)
    return set_path(o->worker, sizeof o->worker, where, v, err);
  if (strcmp(key, "job_name") == 0) {
    if (!name_ok(v))
      return la_errf(err, LA_EINVAL,
                     "%s: '%.64s' is not a name (1..63 of A-Z a-z 0-9 . _ -)",
                     where, v);
    return snprintf(o->job_name, sizeof o->job_name, "%s", v), 0;
  }
  if (strcmp(key, "report_url") == 0) {
    if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
      return la_errf(err, LA_EINVAL, "%s: '%.64s' is not an http:// URL", where,
                     v);
    return set_path(o->report_url, sizeof o->report_url, where, v, err);
  }
  if (strcmp(key, "poll") == 0) {
    if (parse_num(where, v, 1, 3600, &x, err)) return LA_EINVAL;
    return o->poll_ms = (unsigned)x * 1000u, 0;
  }
  if (strcmp(key, "batch") == 0) {
    if (parse_num(where, v, 1, 10000, &x, err)) return LA_EINVAL;
    return o->batch = (int)x, 0;
  }
  if (strcmp(key, "partitions") == 0) return set_partitions(o, where, v, err);
  if (strcmp(key, "max_time") == 0) {
    if (parse_time(v, &x))
      return la_errf(err, LA_EINVAL,
                     "%s: '%.64s' is not a Slurm time up to a year", where, v);
    return o->max_time_s = x, 0;
  }
  if (strcmp(key, "max_cpus_per_task") == 0) {
    if (parse_num(where, v, 1, MAX_CPUS, &x, err)) return LA_EINVAL;
    return o->max_cpus = (int)x, 0;
  }
  return 1;
}

int la_slurm_opt(la_slurm_opts *o, const char *f, const char *v, la_err *err) {
  char key[64];
  if (strcmp(f, "--executor") == 0) return set_executor(o, f, v, err);
  if (strncmp(f, "--slurm-", 8) != 0 || strlen(f) >= 8 + sizeof key) return 1;
  snprintf(key, sizeof key, "%s", f + 8);
  for (char *p = key; *p; p++)
    if (*p == '-') *p = '_';
  if (strcmp(key, "sbatch") == 0 || strcmp(key, "profiles") == 0) return 1;
  if (strcmp(key, "sbatch_arg") == 0) snprintf(key, sizeof key, "sbatch");
  return opt_value(o, key, f, v, err);
}

/* A config value as text for opt_value/setting_value: a string, or an
 * integer for the keys that take one. NULL after an error. */
static const char *json_text(const json_t *v, int integer, char *buf,
                             size_t size, const char *where, la_err *err) {
  if (integer && json_is_integer(v)) {
    snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    return buf;
  }
  if (!integer && json_is_string(v)) return json_string_value(v);
  la_errf(err, LA_EINVAL, "%s: expected %s", where,
          integer ? "an integer" : "a string");
  return NULL;
}

/* Keys whose config value is an integer. */
static int int_key(const char *k) {
  return strcmp(k, "cpus_per_task") == 0 || strcmp(k, "poll") == 0 ||
         strcmp(k, "batch") == 0 || strcmp(k, "max_cpus_per_task") == 0;
}

/* "sbatch": [options] of a settings object (replacing s's). */
static int json_sbatch(const json_t *v, const char *where, la_slurm_settings *s,
                       unsigned *given, la_err *err) {
  char w[200];
  const char *t;
  size_t i;
  json_t *y;
  if (!json_is_array(v))
    return la_errf(err, LA_EINVAL, "%s.sbatch: expected an array of options",
                   where);
  s->n_args = 0;
  *given |= LA_SLURM_G_ARGS;
  json_array_foreach(v, i, y) {
    snprintf(w, sizeof w, "%s.sbatch[%zu]", where, i);
    if ((t = json_text(y, 0, NULL, 0, w, err)) == NULL ||
        setting_value(s, given, "sbatch", w, t, err))
      return LA_EINVAL;
  }
  return 0;
}

/* "env": {"NAME": "value"} of a settings object (replacing s's). */
static int json_env(const json_t *v, const char *where, la_slurm_settings *s,
                    unsigned *given, la_err *err) {
  char w[200], pair[LA_SLURM_TEXT * 2];
  const char *name, *t;
  json_t *y;
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL, "%s.env: expected an object NAME -> value",
                   where);
  s->n_env = 0;
  *given |= LA_SLURM_G_ENV;
  json_object_foreach((json_t *)v, name, y) {
    snprintf(w, sizeof w, "%s.env.%.40s", where, name);
    if ((t = json_text(y, 0, NULL, 0, w, err)) == NULL) return LA_EINVAL;
    snprintf(pair, sizeof pair, "%s=%s", name, t);
    if (setting_value(s, given, "env", w, pair, err)) return LA_EINVAL;
  }
  return 0;
}

/* A settings object {"partition": ..., "sbatch": [...], "env": {...}} into
 * s (fields it gives replace those of s; given gets their bits). */
static int json_settings(const json_t *v, const char *where,
                         la_slurm_settings *s, unsigned *given, la_err *err) {
  const char *key, *t;
  json_t *x;
  char w[200], buf[32];
  int rc;
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL, "%s: expected an object of sbatch settings",
                   where);
  json_object_foreach((json_t *)v, key, x) {
    snprintf(w, sizeof w, "%s.%.40s", where, key);
    if (strcmp(key, "sbatch") == 0)
      rc = json_sbatch(x, where, s, given, err);
    else if (strcmp(key, "env") == 0)
      rc = json_env(x, where, s, given, err);
    else if ((t = json_text(x, int_key(key), buf, sizeof buf, w, err)) == NULL)
      rc = LA_EINVAL;
    else if ((rc = setting_value(s, given, key, w, t, err)) > 0)
      rc = la_errf(err, LA_EINVAL,
                   "%s: unknown field (expected partition, account, qos, "
                   "mem, time, cpus_per_task, sbatch or env)",
                   w);
    if (rc) return rc;
  }
  return 0;
}

/* "profiles": {"name": {settings}, ...}. */
static int json_profiles(la_slurm_opts *o, const json_t *v, la_err *err) {
  const char *name;
  json_t *x;
  char w[128];
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL,
                   "slurm.profiles: expected an object of name -> settings");
  o->n_profiles = 0;
  json_object_foreach((json_t *)v, name, x) {
    la_slurm_profile *p = &o->profiles[o->n_profiles];
    snprintf(w, sizeof w, "slurm.profiles.%.64s", name);
    if (o->n_profiles == LA_SLURM_MAX_PROFILES)
      return la_errf(err, LA_EINVAL, "slurm.profiles: at most %d profiles",
                     LA_SLURM_MAX_PROFILES);
    if (!name_ok(name))
      return la_errf(err, LA_EINVAL,
                     "%s: not a profile name (1..63 of A-Z a-z 0-9 . _ -)", w);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    if (json_settings(x, w, &p->set, &p->given, err)) return LA_EINVAL;
    o->n_profiles++;
  }
  return 0;
}

/* One key of the config file's "slurm" object. */
static int slurm_key(la_slurm_opts *o, const char *key, const json_t *v,
                     la_err *err) {
  char w[80], buf[32];
  const char *t;
  size_t i;
  json_t *x;
  snprintf(w, sizeof w, "slurm.%.40s", key);
  if (strcmp(key, "defaults") == 0)
    return json_settings(v, w, &o->settings, &(unsigned){0}, err);
  if (strcmp(key, "profiles") == 0) return json_profiles(o, v, err);
  if (strcmp(key, "partitions") == 0) {
    if (!json_is_array(v))
      return la_errf(err, LA_EINVAL, "%s: expected an array of names", w);
    o->n_partitions = 0;
    json_array_foreach(v, i, x) {
      snprintf(w, sizeof w, "slurm.partitions[%zu]", i);
      if ((t = json_text(x, 0, NULL, 0, w, err)) == NULL ||
          add_partition(o, w, t, err))
        return LA_EINVAL;
    }
    return 0;
  }
  for (int k = 0; k_setting_keys[k]; k++)
    if (strcmp(key, k_setting_keys[k]) == 0)
      return la_errf(err, LA_EINVAL,
                     "%s: an sbatch setting: put it in slurm.defaults or in "
                     "a profile",
                     w);
  if ((t = json_text(v, int_key(key), buf, sizeof buf, w, err)) == NULL)
    return LA_EINVAL;
  int rc = opt_value(o, key, w, t, err);
  if (rc > 0)
    return la_errf(err, LA_EINVAL,
                   "%s: unknown key (expected dir, report_url, worker, "
                   "job_name, poll, batch, partitions, max_time, "
                   "max_cpus_per_task, defaults or profiles)",
                   w);
  return rc;
}

int la_slurm_config_key(la_slurm_opts *o, const char *key, const json_t *v,
                        la_err *err) {
  const char *k;
  json_t *x;
  if (strcmp(key, "executor") == 0) {
    if (!json_is_string(v))
      return la_errf(err, LA_EINVAL, "executor: expected a string");
    return set_executor(o, key, json_string_value(v), err);
  }
  if (strcmp(key, "slurm") != 0) return 1;
  if (!json_is_object(v))
    return la_errf(err, LA_EINVAL, "slurm: expected an object (docs/slurm.md)");
  json_object_foreach((json_t *)v, k, x) {
    if (slurm_key(o, k, x, err)) return LA_EINVAL;
  }
  return 0;
}

/* A settings object as the config file gives it (only what is set). */
static json_t *settings_json(const la_slurm_settings *s, unsigned given) {
  json_t *o = json_object(), *a = json_array(), *e = json_object();
  if (s->partition[0] && (given & LA_SLURM_G_PARTITION))
    json_object_set_new(o, "partition", json_string(s->partition));
  if (s->account[0] && (given & LA_SLURM_G_ACCOUNT))
    json_object_set_new(o, "account", json_string(s->account));
  if (s->qos[0] && (given & LA_SLURM_G_QOS))
    json_object_set_new(o, "qos", json_string(s->qos));
  if (s->mem[0] && (given & LA_SLURM_G_MEM))
    json_object_set_new(o, "mem", json_string(s->mem));
  if (s->time[0] && (given & LA_SLURM_G_TIME))
    json_object_set_new(o, "time", json_string(s->time));
  if (given & LA_SLURM_G_CPUS)
    json_object_set_new(o, "cpus_per_task", json_integer(s->cpus_per_task));
  for (int i = 0; i < s->n_args; i++)
    json_array_append_new(a, json_string(s->args[i]));
  for (int i = 0; i < s->n_env; i++) {
    const char *eq = strchr(s->env[i], '=');
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(eq - s->env[i]), s->env[i]);
    json_object_set_new(e, name, json_string(eq + 1));
  }
  if (given & LA_SLURM_G_ARGS) json_object_set(o, "sbatch", a);
  if (given & LA_SLURM_G_ENV) json_object_set(o, "env", e);
  json_decref(a), json_decref(e);
  return o;
}

int la_slurm_config_print(const la_slurm_opts *o, json_t *obj) {
  json_t *s = json_object(), *parts = json_array(), *prof = json_object();
  char t[LA_SLURM_NAME] = "";
  int rc = 0;
  for (int i = 0; i < o->n_partitions; i++)
    json_array_append_new(parts, json_string(o->partitions[i]));
  for (int i = 0; i < o->n_profiles; i++)
    json_object_set_new(
        prof, o->profiles[i].name,
        settings_json(&o->profiles[i].set, o->profiles[i].given));
  if (o->max_time_s) format_time(o->max_time_s, t, sizeof t);
  rc |= json_object_set_new(obj, "executor",
                            json_string(!o->enabled        ? "local"
                                        : o->default_slurm ? "slurm,local"
                                                           : "local,slurm"));
  json_object_set_new(s, "dir", json_string(o->dir));
  if (o->report_url[0])
    json_object_set_new(s, "report_url", json_string(o->report_url));
  if (o->worker[0]) json_object_set_new(s, "worker", json_string(o->worker));
  json_object_set_new(s, "job_name", json_string(o->job_name));
  json_object_set_new(s, "poll", json_integer(o->poll_ms / 1000));
  json_object_set_new(s, "batch", json_integer(o->batch));
  json_object_set_new(s, "partitions", parts);
  if (t[0]) json_object_set_new(s, "max_time", json_string(t));
  if (o->max_cpus)
    json_object_set_new(s, "max_cpus_per_task", json_integer(o->max_cpus));
  json_object_set_new(s, "defaults", settings_json(&o->settings, ~0u));
  json_object_set_new(s, "profiles", prof);
  rc |= json_object_set_new(obj, "slurm", s);
  return rc ? LA_ENOMEM : 0;
}

/* ---- the spec ---- */

/* The profile called name, or NULL. */
static const la_slurm_profile *find_profile(const la_slurm_opts *o,
                                            const char *name) {
  for (int i = 0; i < o->n_profiles; i++)
    if (strcmp(o->profiles[i].name, name) == 0) return &o->profiles[i];
  return NULL;
}

/* The profile's fields over out. */
static void apply_profile(const la_slurm_profile *p, la_slurm_settings *out) {
  const la_slurm_settings *s = &p->set;
  if (p->given & LA_SLURM_G_PARTITION)
    memcpy(out->partition, s->partition, sizeof s->partition);
  if (p->given & LA_SLURM_G_ACCOUNT)
    memcpy(out->account, s->account, sizeof s->account);
  if (p->given & LA_SLURM_G_QOS) memcpy(out->qos, s->qos, sizeof s->qos);
  if (p->given & LA_SLURM_G_MEM) memcpy(out->mem, s->mem, sizeof s->mem);
  if (p->given & LA_SLURM_G_TIME) memcpy(out->time, s->time, sizeof s->time);
  if (p->given & LA_SLURM_G_CPUS) out->cpus_per_task = s->cpus_per_task;
  if (p->given & LA_SLURM_G_ARGS) {
    memcpy(out->args, s->args, sizeof s->args);
    out->n_args = s->n_args;
  }
  if (p->given & LA_SLURM_G_ENV) {
    memcpy(out->env, s->env, sizeof s->env);
    out->n_env = s->n_env;
  }
}

/* "a, b, c" of n names of stride bytes into buf ("none" for n = 0). */
static void list_names(const char *names, size_t stride, int n, char *buf,
                       size_t size) {
  size_t used = 0;
  snprintf(buf, size, "none");
  for (int i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                             names + (size_t)i * stride);
}

/* slurm.profile: one of the daemon's profiles, over out. */
static int pick_profile(const la_slurm_opts *o, const char *name,
                        la_slurm_settings *out, la_err *err) {
  const la_slurm_profile *p = find_profile(o, name);
  char names[512];
  if (p == NULL && o->standalone)
    return la_errf(err, LA_EINVAL,
                   "slurm.profile: '%s': export-slurm has no profiles (they "
                   "are the daemon's); give --partition, --time ... instead",
                   name);
  if (p == NULL) {
    list_names(o->profiles[0].name, sizeof o->profiles[0], o->n_profiles, names,
               sizeof names);
    return la_errf(err, LA_EINVAL,
                   "slurm.profile: '%s' is not one of the daemon's profiles "
                   "(%s)",
                   name, names);
  }
  apply_profile(p, out);
  return 0;
}

/* slurm.partition: one of the list the daemon allows. */
static int pick_partition(const la_slurm_opts *o, const char *name,
                          la_slurm_settings *out, la_err *err) {
  char names[LA_SLURM_MAX_PARTS * (LA_SLURM_NAME + 2)];
  int ok = o->standalone;
  for (int i = 0; !ok && i < o->n_partitions; i++)
    ok = strcmp(o->partitions[i], name) == 0;
  if (!ok) {
    list_names(o->partitions[0], sizeof o->partitions[0], o->n_partitions,
               names, sizeof names);
    return la_errf(err, LA_EINVAL,
                   "slurm.partition: '%s' is not one the daemon's config "
                   "allows (%s)",
                   name, names);
  }
  snprintf(out->partition, sizeof out->partition, "%s", name);
  return 0;
}

/* slurm.time and slurm.cpus_per_task: within the daemon's maxima. */
static int pick_time(const la_slurm_opts *o, long secs, la_slurm_settings *out,
                     la_err *err) {
  char max[LA_SLURM_NAME], want[LA_SLURM_NAME];
  format_time(secs, want, sizeof want);
  if (!o->standalone && o->max_time_s == 0)
    return la_errf(err, LA_EINVAL,
                   "slurm.time: the daemon's config lets no spec choose its "
                   "time (no max_time)");
  if (!o->standalone && secs > o->max_time_s) {
    format_time(o->max_time_s, max, sizeof max);
    return la_errf(err, LA_EINVAL,
                   "slurm.time: %s is longer than the daemon's max_time %s",
                   want, max);
  }
  memcpy(out->time, want, sizeof want);
  return 0;
}

static int pick_cpus(const la_slurm_opts *o, long n, la_slurm_settings *out,
                     la_err *err) {
  if (!o->standalone && o->max_cpus == 0)
    return la_errf(err, LA_EINVAL,
                   "slurm.cpus_per_task: the daemon's config lets no spec "
                   "choose its CPUs (no max_cpus_per_task)");
  if (!o->standalone && n > o->max_cpus)
    return la_errf(err, LA_EINVAL,
                   "slurm.cpus_per_task: %ld is more than the daemon's "
                   "max_cpus_per_task %d",
                   n, o->max_cpus);
  out->cpus_per_task = (int)n;
  return 0;
}

/* One field of a spec's "slurm" object: its form checked; its value (new,
 * canonical) into *val. */
static int spec_field(const char *key, const json_t *v, json_t **val,
                      la_err *err) {
  long secs;
  *val = NULL;
  for (int i = 0; k_admin_only[i]; i++)
    if (strcmp(key, k_admin_only[i]) == 0)
      return la_errf(err, LA_EINVAL,
                     "slurm.%s: not allowed: accounts, QoS, memory, the "
                     "jobs' environment and sbatch options come only from "
                     "the daemon's config (pick one of its profiles: "
                     "slurm.profile)",
                     key);
  if (strcmp(key, "cpus_per_task") == 0) {
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > MAX_CPUS)
      return la_errf(err, LA_EINVAL,
                     "slurm.cpus_per_task: must be an integer in 1..%d",
                     MAX_CPUS);
    *val = json_integer(json_integer_value(v));
  } else if (strcmp(key, "time") == 0) {
    char t[LA_SLURM_NAME];
    if (!json_is_string(v) || parse_time(json_string_value(v), &secs))
      return la_errf(err, LA_EINVAL,
                     "slurm.time: must be a Slurm time up to a year (M, M:S, "
                     "H:M:S, D-H, D-H:M or D-H:M:S)");
    format_time(secs, t, sizeof t);
    *val = json_string(t);
  } else if (strcmp(key, "partition") == 0 || strcmp(key, "profile") == 0) {
    if (!json_is_string(v) || !name_ok(json_string_value(v)))
      return la_errf(err, LA_EINVAL,
                     "slurm.%s: must be a name (1..63 of A-Z a-z 0-9 . _ -)",
                     key);
    *val = json_string(json_string_value(v));
  } else {
    return la_errf(err, LA_EINVAL,
                   "slurm.%.64s: unknown field (expected profile, partition, "
                   "time or cpus_per_task)",
                   key);
  }
  return *val ? 0 : la_errf(err, LA_ENOMEM, "slurm: out of memory");
}

/* The "slurm" object sl checked field by field; a canonical copy into *out
 * (new) when out is not NULL. */
static int spec_fields(const json_t *sl, json_t **out, la_err *err) {
  const char *key;
  json_t *v, *val, *o;
  if (!json_is_object(sl))
    return la_errf(err, LA_EINVAL, "slurm: must be an object");
  if ((o = json_object()) == NULL)
    return la_errf(err, LA_ENOMEM, "slurm: out of memory");
  json_object_foreach((json_t *)sl, key, v) {
    int rc = spec_field(key, v, &val, err);
    if (rc == 0 && json_object_set_new(o, key, val))
      rc = la_errf(err, LA_ENOMEM, "slurm: out of memory");
    if (rc) return json_decref(o), rc;
  }
  if (out != NULL)
    *out = o;
  else
    json_decref(o);
  return 0;
}

int la_slurm_resolve(const la_slurm_opts *o, const json_t *sl,
                     la_slurm_settings *out, la_err *err) {
  const json_t *v;
  long secs = 0;
  *out = o->settings;
  if (sl == NULL) return 0;
  if (spec_fields(sl, NULL, err)) return LA_EINVAL;
  if ((v = json_object_get(sl, "profile")) != NULL &&
      pick_profile(o, json_string_value(v), out, err))
    return LA_EINVAL;
  if ((v = json_object_get(sl, "partition")) != NULL &&
      pick_partition(o, json_string_value(v), out, err))
    return LA_EINVAL;
  if ((v = json_object_get(sl, "time")) != NULL &&
      (parse_time(json_string_value(v), &secs) || pick_time(o, secs, out, err)))
    return LA_EINVAL;
  if ((v = json_object_get(sl, "cpus_per_task")) != NULL &&
      pick_cpus(o, (long)json_integer_value(v), out, err))
    return LA_EINVAL;
  return 0;
}

/* Where the spec's runs go under policy: 1 Slurm, 0 local; LA_EINVAL when
 * it asks for what the daemon does not have. */
static int spec_executor(const json_t *spec, const la_slurm_opts *policy,
                         la_err *err) {
  const char *ex = json_string_value(json_object_get(spec, "executor"));
  const char *task =
      json_string_value(json_object_get(json_object_get(spec, "task"), "task"));
  int slurm = ex ? strcmp(ex, "slurm") == 0 : policy->default_slurm;
  if (policy->standalone) return 1;
  if (slurm && !policy->enabled)
    return la_errf(err, LA_EINVAL,
                   "executor: \"slurm\": this daemon runs no Slurm jobs (its "
                   "config enables no Slurm executor)");
  if (!policy->enabled && json_object_get(spec, "slurm") != NULL)
    return la_errf(err, LA_EINVAL,
                   "slurm: this daemon runs no Slurm jobs (its config "
                   "enables no Slurm executor)");
  if (slurm && task != NULL && strcmp(task, "npy") == 0)
    return la_errf(err, LA_EINVAL,
                   "task.task: \"npy\" cannot run on the Slurm executor: its "
                   "jobs would read the files with the daemon's rights");
  return slurm;
}

int la_slurm_spec_parse(const json_t *spec, json_t *norm,
                        const la_slurm_opts *policy, la_err *err) {
  const json_t *ex = json_object_get(spec, "executor");
  const json_t *sl = json_object_get(spec, "slurm");
  json_t *out = NULL;
  la_slurm_settings set;
  if (ex != NULL) {
    const char *s = json_string_value(ex);
    if (s == NULL || (strcmp(s, "local") && strcmp(s, "slurm")))
      return la_errf(err, LA_EINVAL,
                     "executor: must be \"local\" or \"slurm\"");
    if (json_object_set_new(norm, "executor", json_string(s)))
      return la_errf(err, LA_ENOMEM, "executor: out of memory");
  }
  if (policy != NULL && spec_executor(spec, policy, err) < 0) return LA_EINVAL;
  if (sl == NULL) return 0;
  if (spec_fields(sl, &out, err)) return LA_EINVAL;
  if (policy != NULL && la_slurm_resolve(policy, out, &set, err)) {
    json_decref(out);
    return LA_EINVAL;
  }
  if (json_object_set_new(norm, "slurm", out))
    return la_errf(err, LA_ENOMEM, "slurm: out of memory");
  return 0;
}

int la_slurm_settings_of(const char *spec_text, const la_slurm_opts *o,
                         la_slurm_settings *out, la_err *err) {
  json_t *spec = json_loads(spec_text, 0, NULL);
  int rc;
  *out = o->settings;
  if (!json_is_object(spec)) {
    json_decref(spec);
    return la_errf(err, LA_EINVAL, "the stored spec is not a JSON object");
  }
  rc = spec_executor(spec, o, err) < 0 ? LA_EINVAL : 0;
  if (rc == 0)
    rc = la_slurm_resolve(o, json_object_get(spec, "slurm"), out, err);
  json_decref(spec);
  return rc;
}

/* ---- scripts ---- */

/* s as one shell word in single quotes ('\'' for a quote). */
static void put_quoted(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'')
      fputs("'\\''", f);
    else
      fputc(*s, f);
  }
  fputc('\'', f);
}

/* A sweep's name in a comment: printable ASCII kept, anything else '?'. */
static void put_comment(FILE *f, const char *s) {
  for (size_t i = 0; s[i] && i < 200; i++) {
    unsigned char c = (unsigned char)s[i];
    fputc(c >= 0x20 && c < 0x7f ? c : '?', f);
  }
}

/* Are the settings' values plain enough for #SBATCH lines (they were
 * checked when read; this holds for settings built by hand too)? */
static int settings_plain(const la_slurm_settings *s) {
  const char *names[] = {s->partition, s->account, s->qos, s->mem, s->time};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i][0] && !plain_text(names[i], LA_SLURM_NAME)) return 0;
  for (int i = 0; i < s->n_args; i++)
    if (!plain_text(s->args[i], LA_SLURM_TEXT)) return 0;
  for (int i = 0; i < s->n_env; i++)
    if (strchr(s->env[i], '=') == NULL || strchr(s->env[i], '\n') != NULL)
      return 0;
  return s->cpus_per_task >= 1 && s->n_args <= LA_SLURM_MAX_ARGS &&
         s->n_env <= LA_SLURM_MAX_ENV;
}

/* The #SBATCH lines. */
static void write_sbatch_lines(FILE *f, const la_slurm_script *s) {
  const la_slurm_settings *set = s->set;
  fprintf(f, "#SBATCH --job-name=%s\n", s->job_name);
  if (s->throttle > 0)
    fprintf(f, "#SBATCH --array=0-%d%%%d\n", s->n - 1, s->throttle);
  else
    fprintf(f, "#SBATCH --array=0-%d\n", s->n - 1);
  fprintf(f, "#SBATCH --output=%s/logs/%%A_%%a.out\n", s->dir);
  fprintf(f, "#SBATCH --chdir=%s\n", s->dir);
  fprintf(f, "#SBATCH --export=NONE\n");
  fprintf(f, "#SBATCH --no-requeue\n");
  if (set->partition[0]) fprintf(f, "#SBATCH --partition=%s\n", set->partition);
  if (set->account[0]) fprintf(f, "#SBATCH --account=%s\n", set->account);
  if (set->qos[0]) fprintf(f, "#SBATCH --qos=%s\n", set->qos);
  if (set->mem[0]) fprintf(f, "#SBATCH --mem=%s\n", set->mem);
  if (set->time[0]) fprintf(f, "#SBATCH --time=%s\n", set->time);
  fprintf(f, "#SBATCH --cpus-per-task=%d\n", set->cpus_per_task);
  for (int i = 0; i < set->n_args; i++)
    fprintf(f, "#SBATCH %s\n", set->args[i]);
}

/* The environment: PATH, the admin's variables, the BLAS threads. */
static void write_env(FILE *f, const la_slurm_settings *set) {
  fprintf(f, "export PATH=/usr/local/bin:/usr/bin:/bin\n");
  for (int i = 0; i < set->n_env; i++) {
    const char *eq = strchr(set->env[i], '=');
    fprintf(f, "export %.*s=", (int)(eq - set->env[i]), set->env[i]);
    put_quoted(f, eq + 1);
    fputc('\n', f);
  }
  fprintf(f, "export OPENBLAS_NUM_THREADS=%d\n", set->cpus_per_task);
}

/* The worker's command. */
static void write_command(FILE *f, const la_slurm_script *s) {
  if (s->url != NULL) { /* the worker puts each run's id for {run} */
    fputs("exec ", f), put_quoted(f, s->worker);
    fputs(" --config ", f), put_quoted(f, s->dir);
    fputs("/runs/\"$run\".json \\\n  --report-url ", f), put_quoted(f, s->url);
    fputs("\"/v1/ingest/{run}\" \\\n  --report-token-file ", f);
    put_quoted(f, s->dir), fputs("\"/runs/{run}.token\"\n", f);
    return;
  }
  fputs("out=", f), put_quoted(f, s->dir), fputs("/out\n", f);
  fputs("mkdir -p \"$out\"\n", f);
  put_quoted(f, s->worker), fputs(" --config ", f), put_quoted(f, s->dir);
  fputs("/runs/\"$run\".json >\"$out/$run.jsonl.part\"\n", f);
  fputs("mv \"$out/$run.jsonl.part\" \"$out/$run.jsonl\"\n", f);
}

int la_slurm_write_script(FILE *f, const la_slurm_script *s) {
  if (!plain_text(s->dir, 4096) || strchr(s->dir, '%') || s->dir[0] != '/' ||
      !name_ok(s->job_name) || !settings_plain(s->set) || s->n < 1 ||
      s->throttle < 0 || strchr(s->worker, '\n') ||
      (s->url && strchr(s->url, '\n')))
    return LA_EINVAL;
  fprintf(f, "#!/bin/bash\n");
  write_sbatch_lines(f, s);
  fprintf(f, "# loralpha: one run, or one pack of runs, per array task "
             "(docs/slurm.md)\n");
  if (s->sweep_id > 0) fprintf(f, "# sweep %lld", (long long)s->sweep_id);
  if (s->sweep_name != NULL) {
    fputs(s->sweep_id > 0 ? ": " : "# sweep: ", f);
    put_comment(f, s->sweep_name);
  }
  if (s->sweep_id > 0 || s->sweep_name != NULL) fputc('\n', f);
  fprintf(f, "set -eu\n");
  write_env(f, s->set);
  fprintf(f, "runs=(");
  for (int i = 0; i < s->n; i++)
    fprintf(f, "%s%lld", i ? " " : "", (long long)s->runs[i]);
  fprintf(f, ")\nrun=${runs[$SLURM_ARRAY_TASK_ID]}\n");
  write_command(f, s);
  return ferror(f) ? LA_EIO : 0;
}
