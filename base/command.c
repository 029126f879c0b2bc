/*
 * command.c: the command task's fields and placeholders (command.h).
 *
 * A template is text with placeholders {name}; "{{" and "}}" stand for a
 * brace. A name is one of the run's values (rank, alpha, lr, seed, steps,
 * batch, scaling, run_id) or a key of task.params. The spec check expands
 * every template against a run of sample values, so a placeholder a run
 * could not fill is refused at submit with the same words a run would give.
 */
#include "loralpha/command.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 64 /* bytes of a params key or an environment name */

static const char *const k_run_values[] = {
    "rank", "alpha", "lr", "seed", "steps", "batch", "scaling", "run_id", NULL};
static const char *const k_cmd_fields[] = {"argv",       "cwd",          "env",
                                           "time_limit", "memory_limit", NULL};

int la_command_is(const json_t *config) {
  const char *t = json_string_value(json_object_get(config, "task"));
  return t != NULL && strcmp(t, "command") == 0;
}

static int in_list(const char *const *list, const char *s) {
  for (int i = 0; list[i] != NULL; i++)
    if (strcmp(list[i], s) == 0) return 1;
  return 0;
}

/* ---- text and values ---- */

/* A string of 0..LA_CMD_MAX_TEXT bytes without control characters (a tab
 * is allowed) at path. */
static int check_text(const json_t *v, const char *path, la_err *err) {
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (s == NULL) return la_errf(err, LA_EINVAL, "%s: must be a string", path);
  if (n > LA_CMD_MAX_TEXT)
    return la_errf(err, LA_EINVAL, "%s: %zu bytes is too long (at most %d)",
                   path, n, LA_CMD_MAX_TEXT);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return la_errf(err, LA_EINVAL,
                     "%s: contains a control character (byte %zu)", path, i);
  }
  return 0;
}

/* Writes v (a number, string or boolean) as a placeholder's text into buf:
 * integers in decimal, reals in the shortest form that reads back the
 * same. 0, or LA_EINVAL when v has another type. */
static int value_text(const json_t *v, char *buf, size_t size) {
  if (json_is_integer(v)) {
    snprintf(buf, size, "%lld", (long long)json_integer_value(v));
  } else if (json_is_real(v)) {
    double x = json_real_value(v);
    for (int p = 15; p <= 17; p++) {
      snprintf(buf, size, "%.*g", p, x);
      if (strtod(buf, NULL) == x) break;
    }
  } else if (json_is_string(v)) {
    snprintf(buf, size, "%s", json_string_value(v));
  } else if (json_is_boolean(v)) {
    snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
  } else {
    return LA_EINVAL;
  }
  return 0;
}

/* Appends n bytes of s to the growing string *out (*len, *cap). */
static int append(char **out, size_t *len, size_t *cap, const char *s,
                  size_t n) {
  if (*len + n + 1 > *cap) {
    size_t c = (*len + n + 1) * 2;
    char *p = realloc(*out, c);
    if (p == NULL) return LA_ENOMEM;
    *out = p, *cap = c;
  }
  memcpy(*out + *len, s, n);
  *len += n;
  (*out)[*len] = '\0';
  return 0;
}

/* The value of placeholder name (n bytes) among vals (an object of the
 * run's values and params; borrowed), as text in buf. */
static int lookup(const json_t *vals, const char *name, size_t n, char *buf,
                  size_t size, const char *path, la_err *err) {
  char key[MAX_NAME + 1];
  const json_t *v;
  if (n == 0 || n > MAX_NAME)
    return la_errf(err, LA_EINVAL, "%s: '{%.*s}' is not a placeholder", path,
                   (int)(n > MAX_NAME ? MAX_NAME : n), name);
  memcpy(key, name, n);
  key[n] = '\0';
  v = json_object_get(vals, key);
  if (v == NULL || value_text(v, buf, size))
    return la_errf(err, LA_EINVAL,
                   "%s: unknown placeholder {%s} (known: rank, alpha, lr, "
                   "seed, steps, batch, scaling, run_id and the keys of "
                   "task.params)",
                   path, key);
  return 0;
}

/* Expands template t (path names it in errors) with vals: a new string in
 * *out. */
static int expand(const char *t, const json_t *vals, const char *path,
                  char **out, la_err *err) {
  char val[LA_CMD_MAX_TEXT + 1];
  size_t len = 0, cap = 0;
  int rc = 0;
  *out = NULL;
  if ((rc = append(out, &len, &cap, "", 0)) != 0) goto fail;
  for (const char *p = t; *p && rc == 0;) {
    size_t lit = strcspn(p, "{}");
    rc = append(out, &len, &cap, p, lit);
    p += lit;
    if (rc || *p == '\0') break;
    if (p[0] == p[1]) { /* "{{" or "}}" */
      rc = append(out, &len, &cap, p, 1);
      p += 2;
    } else if (*p == '}') {
      rc =
          la_errf(err, LA_EINVAL,
                  "%s: a '}' without its '{' (write \"}}\" for a brace)", path);
    } else {
      const char *end = strchr(p + 1, '}');
      if (end == NULL)
        rc =
            la_errf(err, LA_EINVAL,
                    "%s: '{' without its '}' (write \"{{\" for a brace)", path);
      else if ((rc = lookup(vals, p + 1, (size_t)(end - p - 1), val, sizeof val,
                            path, err)) == 0)
        rc = append(out, &len, &cap, val, strlen(val));
      p = end ? end + 1 : p;
    }
  }
  if (rc == 0 && len > LA_CMD_MAX_TEXT * 4)
    rc = la_errf(err, LA_EINVAL, "%s: %zu bytes once expanded (at most %d)",
                 path, len, LA_CMD_MAX_TEXT * 4);
  if (rc == 0) return 0;
fail:
  if (rc == LA_ENOMEM) la_errf(err, LA_ENOMEM, "%s: out of memory", path);
  free(*out);
  *out = NULL;
  return rc;
}

/* ---- the fields ---- */

/* An environment variable's name: [A-Za-z_][A-Za-z0-9_]*, not LORALPHA_*
 * (the daemon's). */
static int check_env_name(const char *name, const char *path, la_err *err) {
  size_t n = strlen(name);
  int ok = n > 0 && n <= MAX_NAME && !isdigit((unsigned char)name[0]);
  for (size_t i = 0; i < n && ok; i++)
    ok = isalnum((unsigned char)name[i]) || name[i] == '_';
  if (!ok)
    return la_errf(err, LA_EINVAL,
                   "%s.%.64s: not a variable name ([A-Za-z_][A-Za-z0-9_]*, at "
                   "most %d bytes)",
                   path, name, MAX_NAME);
  if (strncmp(name, "LORALPHA_", 9) == 0)
    return la_errf(err, LA_EINVAL,
                   "%s.%.64s: LORALPHA_ variables are set by the daemon", path,
                   name);
  return 0;
}

/* A params key: [a-z_][a-z0-9_]*, not a run value's name. */
static int check_param_name(const char *name, const char *path, la_err *err) {
  size_t n = strlen(name);
  int ok = n > 0 && n <= MAX_NAME && !isdigit((unsigned char)name[0]);
  for (size_t i = 0; i < n && ok; i++)
    ok = islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
         name[i] == '_';
  if (!ok)
    return la_errf(err, LA_EINVAL,
                   "%s.%.64s: not a parameter name ([a-z_][a-z0-9_]*, at "
                   "most %d bytes)",
                   path, name, MAX_NAME);
  if (in_list(k_run_values, name))
    return la_errf(err, LA_EINVAL,
                   "%s.%s: is a run value (from the grid or the spec's "
                   "top level), not a parameter",
                   path, name);
  return 0;
}

/* task.params: an object of at most LA_CMD_MAX_PARAMS numbers, strings and
 * booleans. */
static int check_params(const json_t *params, const char *path, la_err *err) {
  const char *key;
  json_t *v;
  char sub[128];
  if (params == NULL) return 0;
  if (!json_is_object(params))
    return la_errf(err, LA_EINVAL, "%s: must be an object", path);
  if (json_object_size(params) > LA_CMD_MAX_PARAMS)
    return la_errf(err, LA_EINVAL, "%s: %zu keys, at most %d", path,
                   json_object_size(params), LA_CMD_MAX_PARAMS);
  json_object_foreach((json_t *)params, key, v) {
    if (check_param_name(key, path, err)) return LA_EINVAL;
    snprintf(sub, sizeof sub, "%s.%s", path, key);
    if (json_is_string(v) && check_text(v, sub, err)) return LA_EINVAL;
    if (json_is_real(v) && !isfinite(json_real_value(v)))
      return la_errf(err, LA_EINVAL, "%s: must be finite", sub);
    if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
      return la_errf(err, LA_EINVAL,
                     "%s: must be a number, a string or a boolean", sub);
  }
  return 0;
}

/* An absolute path without placeholders at path (argv[0], cwd). */
static int check_abs(const json_t *v, const char *path, const char *what,
                     la_err *err) {
  const char *s = json_string_value(v);
  if (check_text(v, path, err)) return LA_EINVAL;
  if (s[0] != '/')
    return la_errf(err, LA_EINVAL,
                   "%s: %s must be an absolute path (starting with '/'), not "
                   "'%.200s'",
                   path, what, s);
  if (strpbrk(s, "{}") != NULL)
    return la_errf(err, LA_EINVAL, "%s: %s may not hold placeholders", path,
                   what);
  return 0;
}

/* argv: 1..LA_CMD_MAX_ARGS templates, the first an absolute program. */
static int check_argv(const json_t *argv, const json_t *vals, const char *path,
                      la_err *err) {
  char sub[128], *x;
  size_t n = json_array_size(argv);
  if (argv == NULL)
    return la_errf(err, LA_EINVAL, "%s: required field is missing", path);
  if (!json_is_array(argv) || n == 0)
    return la_errf(err, LA_EINVAL,
                   "%s: must be a non-empty list: the program's absolute "
                   "path, then its arguments",
                   path);
  if (n > LA_CMD_MAX_ARGS)
    return la_errf(err, LA_EINVAL, "%s: %zu arguments, at most %d", path, n,
                   LA_CMD_MAX_ARGS);
  snprintf(sub, sizeof sub, "%s[0]", path);
  if (check_abs(json_array_get(argv, 0), sub, "the program", err))
    return LA_EINVAL;
  for (size_t i = 1; i < n; i++) {
    snprintf(sub, sizeof sub, "%s[%zu]", path, i);
    if (check_text(json_array_get(argv, i), sub, err)) return LA_EINVAL;
    int rc =
        expand(json_string_value(json_array_get(argv, i)), vals, sub, &x, err);
    if (rc) return rc;
    free(x);
  }
  return 0;
}

/* env: at most LA_CMD_MAX_ENV variables whose values are templates. */
static int check_env(const json_t *env, const json_t *vals, const char *path,
                     la_err *err) {
  const char *key;
  json_t *v;
  char sub[128], *x;
  if (env == NULL) return 0;
  if (!json_is_object(env))
    return la_errf(err, LA_EINVAL, "%s: must be an object of strings", path);
  if (json_object_size(env) > LA_CMD_MAX_ENV)
    return la_errf(err, LA_EINVAL, "%s: %zu variables, at most %d", path,
                   json_object_size(env), LA_CMD_MAX_ENV);
  json_object_foreach((json_t *)env, key, v) {
    if (check_env_name(key, path, err)) return LA_EINVAL;
    snprintf(sub, sizeof sub, "%s.%s", path, key);
    int rc = check_text(v, sub, err);
    if (rc == 0) rc = expand(json_string_value(v), vals, sub, &x, err);
    if (rc) return rc;
    free(x);
  }
  return 0;
}

/* time_limit: whole seconds in 1..LA_CMD_MAX_TIME_LIMIT. */
static int check_time(const json_t *v, const char *path, la_err *err) {
  if (v == NULL) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 1 ||
      json_integer_value(v) > LA_CMD_MAX_TIME_LIMIT)
    return la_errf(err, LA_EINVAL,
                   "%s: must be a whole number of seconds in 1..%d", path,
                   LA_CMD_MAX_TIME_LIMIT);
  return 0;
}

/* memory_limit: bytes, or a string "<n>M" / "<n>G" (binary units), at
 * least LA_CMD_MIN_MEMORY and at most max (0: 2^50). */
static int parse_memory(const json_t *v, uint64_t max, const char *path,
                        uint64_t *out, la_err *err) {
  uint64_t hi = max ? max : (1ull << 50), x = 0;
  *out = 0;
  if (v == NULL) return 0;
  if (json_is_integer(v) && json_integer_value(v) > 0) {
    x = (uint64_t)json_integer_value(v);
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    int shift = strcmp(end, "M") == 0 ? 20 : strcmp(end, "G") == 0 ? 30 : -1;
    if (end != s && isdigit((unsigned char)s[0]) && shift > 0 &&
        n < (1ull << 30))
      x = (uint64_t)n << shift;
  }
  if (x == 0)
    return la_errf(err, LA_EINVAL,
                   "%s: must be a number of bytes or a size such as \"512M\" "
                   "or \"8G\"",
                   path);
  if (x < LA_CMD_MIN_MEMORY || x > hi)
    return la_errf(err, LA_EINVAL, "%s: %llu MiB is outside %llu..%llu MiB%s",
                   path, (unsigned long long)(x >> 20), LA_CMD_MIN_MEMORY >> 20,
                   (unsigned long long)(hi >> 20),
                   max ? " (the daemon's max_run_memory)" : "");
  *out = x;
  return 0;
}

/* Sample values of a run, for checking templates: the run values and the
 * params. New object or NULL. */
static json_t *sample_values(const json_t *params) {
  json_t *v = json_pack("{s:i, s:f, s:f, s:i, s:i, s:i, s:s, s:i}", "rank", 1,
                        "alpha", 1.0, "lr", 1.0, "seed", 0, "steps", 1, "batch",
                        1, "scaling", "peft", "run_id", 1);
  if (v != NULL && params != NULL &&
      json_object_update((json_t *)v, (json_t *)params)) {
    json_decref(v);
    return NULL;
  }
  return v;
}

/* The command object's keys: only the known ones. */
static int check_cmd_keys(const json_t *cmd, la_err *err) {
  const char *key;
  json_t *v;
  if (!json_is_object(cmd))
    return la_errf(err, LA_EINVAL,
                   "task.command: must be an object with argv (and cwd, env, "
                   "time_limit, memory_limit)");
  json_object_foreach((json_t *)cmd, key, v) {
    if (!in_list(k_cmd_fields, key))
      return la_errf(err, LA_EINVAL,
                     "task.command.%.64s: not a command field (expected argv, "
                     "cwd, env, time_limit, memory_limit)",
                     key);
  }
  return 0;
}

/* Checks every field of the command object cmd with sample values vals. */
static int check_cmd(const json_t *cmd, const json_t *vals, uint64_t max_memory,
                     uint64_t *mem, la_err *err) {
  const json_t *cwd = json_object_get(cmd, "cwd");
  if (check_cmd_keys(cmd, err) ||
      check_argv(json_object_get(cmd, "argv"), vals, "task.command.argv",
                 err) ||
      (cwd != NULL &&
       check_abs(cwd, "task.command.cwd", "the working directory", err)) ||
      check_env(json_object_get(cmd, "env"), vals, "task.command.env", err) ||
      check_time(json_object_get(cmd, "time_limit"), "task.command.time_limit",
                 err))
    return LA_EINVAL;
  return parse_memory(json_object_get(cmd, "memory_limit"), max_memory,
                      "task.command.memory_limit", mem, err);
}

int la_command_check_spec(const json_t *task, uint64_t max_memory, json_t **out,
                          la_err *err) {
  const json_t *cmd = json_object_get(task, "command"),
               *params = json_object_get(task, "params");
  json_t *vals = NULL, *norm = NULL, *ncmd;
  uint64_t mem = 0;
  int rc;
  *out = NULL;
  if (cmd == NULL)
    return la_errf(err, LA_EINVAL, "task.command: required field is missing");
  if ((rc = check_params(params, "task.params", err)) != 0) return rc;
  if ((vals = sample_values(params)) == NULL)
    return la_errf(err, LA_ENOMEM, "task: out of memory");
  rc = check_cmd(cmd, vals, max_memory, &mem, err);
  json_decref(vals);
  if (rc) return rc;
  norm = json_deep_copy(task);
  ncmd = json_object_get(norm, "command");
  if (norm == NULL ||
      (json_object_get(cmd, "time_limit") == NULL &&
       json_object_set_new(ncmd, "time_limit",
                           json_integer(LA_CMD_TIME_LIMIT))) ||
      (mem && json_object_set_new(ncmd, "memory_limit",
                                  json_integer((json_int_t)mem)))) {
    json_decref(norm);
    return la_errf(err, LA_ENOMEM, "task: out of memory");
  }
  *out = norm;
  return 0;
}

/* ---- one run ---- */

void la_command_clear(la_command *c) {
  for (size_t i = 0; c->argv != NULL && c->argv[i] != NULL; i++)
    free(c->argv[i]);
  for (size_t i = 0; c->env != NULL && c->env[i] != NULL; i++)
    free(c->env[i]);
  free(c->argv);
  free(c->env);
  free(c->cwd);
  memset(c, 0, sizeof *c);
}

/* The run's values from config, with its params: a new object or NULL. */
static json_t *run_values(const json_t *config) {
  json_t *v = json_object();
  const json_t *params = json_object_get(config, "params");
  for (int i = 0; v != NULL && k_run_values[i] != NULL; i++) {
    json_t *x = json_object_get(config, k_run_values[i]);
    if (x != NULL && json_object_set(v, k_run_values[i], x)) {
      json_decref(v);
      return NULL;
    }
  }
  if (v != NULL && json_object_get(v, "run_id") == NULL && /* a check's */
      json_object_set_new(v, "run_id", json_integer(0))) {
    json_decref(v);
    return NULL;
  }
  if (v != NULL && json_is_object(params) &&
      json_object_update_missing(v, (json_t *)params)) {
    json_decref(v);
    return NULL;
  }
  return v;
}

/* Expands argv and env of cmd into c with the run's values vals. */
static int expand_all(const json_t *cmd, const json_t *vals, la_command *c,
                      la_err *err) {
  const json_t *argv = json_object_get(cmd, "argv"),
               *env = json_object_get(cmd, "env");
  const char *key;
  json_t *v;
  char path[128], *x;
  size_t n = json_array_size(argv), k = 0;
  if (n == 0 || n > LA_CMD_MAX_ARGS || json_object_size(env) > LA_CMD_MAX_ENV ||
      !json_is_string(json_array_get(argv, 0)) ||
      json_string_value(json_array_get(argv, 0))[0] != '/')
    return la_errf(err, LA_EINVAL,
                   "command.argv: must start with an "
                   "absolute program path");
  c->argv = calloc(n + 1, sizeof *c->argv);
  c->env = calloc(json_object_size(env) + 1, sizeof *c->env);
  if (c->argv == NULL || c->env == NULL)
    return la_errf(err, LA_ENOMEM, "command: out of memory");
  if ((c->argv[0] = strdup(json_string_value(json_array_get(argv, 0)))) == NULL)
    return la_errf(err, LA_ENOMEM, "command: out of memory");
  for (size_t i = 1; i < n; i++) {
    snprintf(path, sizeof path, "command.argv[%zu]", i);
    if (!json_is_string(json_array_get(argv, i)))
      return la_errf(err, LA_EINVAL, "%s: must be a string", path);
    int rc = expand(json_string_value(json_array_get(argv, i)), vals, path,
                    &c->argv[i], err);
    if (rc) return rc;
  }
  json_object_foreach((json_t *)env, key, v) {
    size_t len;
    int rc;
    snprintf(path, sizeof path, "command.env.%.64s", key);
    if ((rc = check_env_name(key, "command.env", err)) != 0 ||
        (rc = check_text(v, path, err)) != 0 ||
        (rc = expand(json_string_value(v), vals, path, &x, err)) != 0)
      return rc;
    len = strlen(key) + strlen(x) + 2;
    c->env[k] = malloc(len);
    if (c->env[k] != NULL) snprintf(c->env[k], len, "%s=%s", key, x);
    free(x);
    if (c->env[k++] == NULL)
      return la_errf(err, LA_ENOMEM, "command: out of memory");
  }
  return 0;
}

int la_command_from_config(const json_t *config, la_command *c, la_err *err) {
  const json_t *cmd = json_object_get(config, "command"), *v;
  json_t *vals = run_values(config);
  int rc;
  memset(c, 0, sizeof *c);
  err->msg[0] = '\0';
  if (vals == NULL) return la_errf(err, LA_ENOMEM, "command: out of memory");
  if (!json_is_object(cmd))
    rc = la_errf(err, LA_EINVAL, "command: must be an object");
  else
    rc = expand_all(cmd, vals, c, err);
  json_decref(vals);
  if (rc == 0 && (v = json_object_get(cmd, "cwd")) != NULL &&
      (!json_is_string(v) || json_string_value(v)[0] != '/' ||
       (c->cwd = strdup(json_string_value(v))) == NULL))
    rc = la_errf(err, LA_EINVAL, "command.cwd: must be an absolute path");
  c->time_limit = json_integer_value(json_object_get(cmd, "time_limit"));
  if (c->time_limit <= 0) c->time_limit = LA_CMD_TIME_LIMIT;
  v = json_object_get(cmd, "memory_limit");
  c->memory_limit = json_is_integer(v) && json_integer_value(v) > 0
                        ? (uint64_t)json_integer_value(v)
                        : 0;
  c->max_records = json_integer_value(json_object_get(config, "max_records"));
  if (rc) la_command_clear(c);
  return rc;
}

json_t *la_command_params(const json_t *config) {
  static const char *const keys[] = {"run_id",  "rank",   "alpha", "lr",
                                     "seed",    "steps",  "batch", "scaling",
                                     "threads", "params", NULL};
  json_t *p = json_object();
  for (int i = 0; p != NULL && keys[i] != NULL; i++) {
    json_t *v = json_object_get(config, keys[i]);
    if (v != NULL && json_object_set(p, keys[i], v)) {
      json_decref(p);
      return NULL;
    }
  }
  return p;
}
