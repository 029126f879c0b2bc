/*
 * test_serve_config.c: the settings of `loralpha serve` (serve_config.h)
 * against tables of this test's own, written from docs/daemon.md, so that
 * a changed bound or default fails here. For each setting: its default;
 * both ends of its range accepted from the config file and from its flag;
 * the values just outside refused from both, the error naming the key or
 * the flag and the range; a flag over the file; wrong JSON types refused.
 * Then unknown keys and flags, the values derived from this machine
 * (la_serve_config_parse), --help, and docs/daemon.md's table of settings
 * (the defaults and ranges there must be these).
 */
#define _GNU_SOURCE /* sched_getaffinity, open_memstream */
#include "check.h"
#include "serve_config.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An integer setting: its range and default. */
typedef struct int_row {
  const char *key, *flag; /* flag NULL: the config file only */
  long long lo, hi;
  const char *def;     /* the default as printed (JSON); NULL: derived */
  const char *doc_def; /* the default in docs/daemon.md's table */
} int_row;

static const int_row k_ints[] = {
    {"cores", "--cores", 1, 4096, NULL, "the CPUs of the daemon's affinity"},
    {"max_workers", "--max-workers", 1, 1024, NULL, "cores ÷ threads"},
    {"threads_per_worker", "--threads-per-worker", 1, 256, "1", "1"},
    {"nice", "--nice", 0, 19, "10", "10"},
    {"heartbeat", "--heartbeat", 0, 604800, "600", "600"},
    {"worker_max_runs", "--worker-max-runs", 1, 1000000000, "1000", "1000"},
    {"worker_idle_timeout", "--worker-idle-timeout", 1, 86400, "30", "30"},
    {"pack_max", "--pack-max", 1, 64, "16", "16"},
    {"max_same_failures", "--max-same-failures", 0, 1000000, "5", "5"},
    {"check_timeout", "--check-timeout", 0, 3600, "60", "60"},
    {"max_runs", "--max-runs", 1, 10000000, "100000", "100000"},
    {"max_body", "--max-body", 1024, 1073741824, "1048576", "1048576"},
    {"max_run_rows", NULL, 100, 1000000000, "1000000", "1000000"},
    {"max_sweep_rows", NULL, 100, 100000000000, "250000000", "250000000"},
    {"request_timeout", "--request-timeout", 1, 3600, "10", "10"},
    {"max_connections", "--max-connections", 1, 1048576, "1024", "1024"},
    {"max_unix_connections", "--max-unix-connections", 1, 1048576, "512",
     "512"},
    {"max_connections_per_peer", "--max-connections-per-peer", 1, 1048576,
     "128", "128"},
    {"max_unauthenticated", "--max-unauthenticated", 1, 1048576, "512", "512"},
    {"unauthenticated_timeout", "--unauthenticated-timeout", 1, 3600, "5", "5"},
};

/* A setting with values of another form: what is accepted (as the file
 * gives it, and as it is printed back), what is refused from the file and
 * the flag, what only the file can get wrong (its JSON type). */
typedef struct form_row {
  const char *key, *flag;
  const char *def; /* printed (JSON); NULL: derived */
  const char *ok[5][2];
  const char *bad[6];
  const char *bad_type[4];
  const char *range; /* in every refusal */
  const char *doc_def, *doc_values;
} form_row;

static const form_row k_forms[] = {
    {"max_run_memory",
     "--max-run-memory",
     NULL,
     {{"16777216", "16777216"},
      {"\"16M\"", "16777216"},
      {"\"4G\"", "4294967296"},
      {"\"1024T\"", "1125899906842624"},
      {"1125899906842624", "1125899906842624"}},
     {"16777215", "\"15M\"", "\"16383K\"", "1125899906842625", "\"1025T\"",
      "\"4X\""},
     {"true", "4.5", "null", "[]"},
     "16M..1024T",
     "RAM ÷ (2 × max workers), at least 16M",
     "16M..1024T"},
    {"socket_mode",
     "--socket-mode",
     "\"0660\"",
     {{"\"0600\"", "\"0600\""},
      {"\"0777\"", "\"0777\""},
      {"\"0700\"", "\"0700\""},
      {"\"644\"", "\"0644\""}},
     {"\"0577\"", "\"01000\"", "\"0477\"", "\"0660x\"", "\"\""},
     {"660", "null"},
     "0600..0777",
     "`0660`",
     "`0600`..`0777`, the owner keeping read and write"},
    {"listen",
     "--listen",
     "\"127.0.0.1:7787\"",
     {{"\"127.0.0.1:0\"", "\"127.0.0.1:0\""},
      {"\"[::1]:65535\"", "\"[::1]:65535\""},
      {"\"none\"", "\"none\""},
      {"\"example.org:80\"", "\"example.org:80\""}},
     {"\"h:-1\"", "\"h:65536\"", "\"nohost\"", "\":80\"", "\"h:\""},
     {"7787", "[]"},
     "0..65535",
     "`127.0.0.1:7787`",
     "`HOST:PORT` (port 0..65535), or `none`"},
    {"worker_max_rss_growth",
     "--worker-max-rss-growth",
     "536870912",
     {{"1048576", "1048576"},
      {"\"1M\"", "1048576"},
      {"\"512M\"", "536870912"},
      {"\"1024T\"", "1125899906842624"}},
     {"1048575", "\"1023K\"", "1125899906842625", "\"1025T\"", "\"2Y\""},
     {"true", "1.5", "null"},
     "1M..1024T",
     "512M",
     "1M..1024T"},
    {"worker_mode",
     "--worker-mode",
     "\"warm\"",
     {{"\"process\"", "\"process\""}, {"\"warm\"", "\"warm\""}},
     {"\"hot\"", "\"\"", "\"WARM\""},
     {"true", "0"},
     "\"warm\" or \"process\"",
     "`\"warm\"`",
     "`\"warm\"`, `\"process\"`"},
    {"pack_mode",
     "--pack-mode",
     "\"exact\"",
     {{"\"stacked\"", "\"stacked\""}, {"\"exact\"", "\"exact\""}},
     {"\"stack\"", "\"\"", "\"EXACT\""},
     {"true", "1"},
     "\"exact\" or \"stacked\"",
     "`\"exact\"`",
     "`\"exact\"`, `\"stacked\"`"},
    {"read_access",
     NULL,
     "\"all\"",
     {{"\"owner\"", "\"owner\""}, {"\"all\"", "\"all\""}},
     {"\"some\"", "\"\"", "\"OWNER\""},
     {"true", "0"},
     "\"all\" or \"owner\"",
     "`\"all\"`",
     "`\"all\"`, `\"owner\"`"},
};

/* A text setting: the longest value it takes (size - 1 bytes). */
typedef struct path_row {
  const char *key, *flag;
  size_t size;
  const char *def; /* printed (JSON); NULL: derived, or a flag only */
  const char *doc_def, *doc_values;
} path_row;

static const path_row k_paths[] = {
    {"state_dir", "--state-dir", PATH_MAX, NULL,
     "`$LORALPHA_STATE_DIR`, else `$XDG_STATE_HOME/loralpha`, else "
     "`~/.local/state/loralpha`",
     "a path"},
    {"db", "--db", PATH_MAX, NULL, "`STATE/loralpha.db`", "a path"},
    {"socket", "--socket", PATH_MAX, NULL, "`STATE/loralpha.sock`",
     "a path of at most 107 bytes, or `none`"},
    {"tokens_file", "--tokens-file", PATH_MAX, "null", "none", "a path"},
    {"worker", "--worker", PATH_MAX, NULL,
     "`loralpha-worker` beside `loralpha`", "a path"},
    {"web", "--web", PATH_MAX, NULL,
     "`web/` beside the build directory, else `../share/loralpha/web` from "
     "`loralpha`'s directory (installed), whichever has an `index.html`",
     "a path"},
    {"socket_group", NULL, LA_USER_MAX, "null", "the daemon's group",
     "a group name"},
    {NULL, "--port-file", PATH_MAX, NULL, "none", "a path"},
    {NULL, "--config", PATH_MAX, NULL, "none", "a path"},
};

/* The numbers of a user's limits (user_limits). */
static const struct {
  const char *field;
  long long lo, hi;
} limits[] = {{"max_workers", 1, 1024}, {"max_queued_runs", 1, 100000000}};

/* Rows of docs/daemon.md's table that are none of the above. */
static const struct {
  const char *flag, *key, *doc_def, *doc_values;
} k_doc_others[] = {
    {"--check-config", NULL, "", ""},
    {NULL, "admins", "`[]`", "user names"},
    {"--executor", "executor", "`\"local\"`",
     "`local`, `slurm`, `local,slurm`, `slurm,local`"},
    {"--slurm-*", "slurm", "none",
     "[slurm.md](slurm.md#options-of-loralpha-serve)"},
    {NULL, "window", "none", "`{\"start\", \"end\", \"outside\"}`"},
};

static char g_dir[64]; /* this test's temporary directory */
static char g_file[128];

/* ---- helpers ---- */

/* Reads the layers from the flags (NULL-terminated) and then "--config
 * FILE" with text json (NULL: none), so that a flag precedes the file it
 * overrides; with derive, la_serve_config_parse. The caller frees c. */
static int layers(const char *json, const char *const *flags,
                  la_serve_config *c, la_err *err, int derive) {
  char *argv[16];
  int argc = 0, rc;
  FILE *f;
  memset(c, 0, sizeof *c); /* freeable even when nothing was read */
  for (; flags != NULL && *flags != NULL && argc < 13; flags++)
    argv[argc++] = (char *)*flags;
  if (json != NULL) { /* after the flags: they win all the same */
    f = fopen(g_file, "w");
    if (f == NULL) return perror(g_file), LA_EIO;
    fputs(json, f);
    fclose(f);
    argv[argc++] = "--config";
    argv[argc++] = g_file;
  }
  argv[argc] = NULL;
  memset(err, 0, sizeof *err);
  rc = derive ? la_serve_config_parse(argc, argv, c, err)
              : la_serve_config_read(argc, argv, c, err);
  return rc;
}

/* The effective configuration's key (a new reference; NULL: absent). */
static json_t *effective(const la_serve_config *c, const char *key) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  json_t *o, *v;
  la_serve_config_print(c, f);
  fclose(f);
  o = json_loads(buf, 0, NULL);
  free(buf);
  v = json_incref(json_object_get(o, key));
  json_decref(o);
  return v;
}

/* {"key": value} */
static void one_key(char *buf, size_t size, const char *key,
                    const char *value) {
  snprintf(buf, size, "{\"%s\": %s}", key, value);
}

/* A JSON value as a flag would give it: a string's text, else the JSON. */
static void flag_text(const char *json, char *buf, size_t size) {
  json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
  if (json_is_string(v))
    snprintf(buf, size, "%s", json_string_value(v));
  else
    snprintf(buf, size, "%s", json);
  json_decref(v);
}

/* After the file json and flags, key is printed as want (JSON text). */
static void expect_value(const char *what, const char *json,
                         const char *const *flags, const char *key,
                         const char *want) {
  la_serve_config c;
  la_err err;
  int rc = layers(json, flags, &c, &err, 0);
  json_t *got = rc == 0 ? effective(&c, key) : NULL;
  json_t *exp = json_loads(want, JSON_DECODE_ANY, NULL);
  if (rc != 0 || got == NULL || !json_equal(got, exp)) {
    char *g = got != NULL ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
    check_failures++;
    fprintf(stderr, "%s: %s is %s (rc %d: %s), expected %s\n", what, key,
            g != NULL ? g : "absent", rc, err.msg, want);
    free(g);
  } else {
    check_passes++;
  }
  json_decref(got), json_decref(exp);
  la_serve_config_free(&c);
}

/* The file json and flags are refused; the message starts with (or, for
 * the file's, has after "config FILE: ") name and ": ", and has part. */
static void expect_refused(const char *what, const char *json,
                           const char *const *flags, const char *name,
                           const char *part, int derive) {
  la_serve_config c;
  la_err err;
  char prefix[256];
  int rc = layers(json, flags, &c, &err, derive);
  if (json != NULL && (flags == NULL || flags[0] == NULL) && !derive)
    snprintf(prefix, sizeof prefix, "config %s: %s%s", g_file, name,
             name[0] ? ": " : "");
  else
    snprintf(prefix, sizeof prefix, "%s: ", name);
  if (rc != LA_EINVAL || strncmp(err.msg, prefix, strlen(prefix)) != 0 ||
      strstr(err.msg, part) == NULL) {
    check_failures++;
    fprintf(stderr,
            "%s: rc %d, message '%s'; expected %d, a message starting '%s' "
            "with '%s'\n",
            what, rc, err.msg, LA_EINVAL, prefix, part);
  } else {
    check_passes++;
  }
  la_serve_config_free(&c);
}

/* ---- the settings ---- */

/* Each integer: default, both ends, one past each end, types, flag over
 * file. */
static void check_ints(void) {
  for (size_t i = 0; i < sizeof k_ints / sizeof *k_ints; i++) {
    const int_row *r = &k_ints[i];
    char json[160], lo[32], hi[32], out[2][32], range[64];
    const char *types[] = {"\"5\"", "1.5", "true", "null", "[1]", "{}"};
    snprintf(lo, sizeof lo, "%lld", r->lo);
    snprintf(hi, sizeof hi, "%lld", r->hi);
    snprintf(out[0], sizeof out[0], "%lld", r->lo - 1);
    snprintf(out[1], sizeof out[1], "%lld", r->hi + 1);
    snprintf(range, sizeof range, "an integer in %lld..%lld", r->lo, r->hi);
    if (r->def != NULL) expect_value("default", NULL, NULL, r->key, r->def);
    one_key(json, sizeof json, r->key, lo);
    expect_value("file, lowest", json, NULL, r->key, lo);
    one_key(json, sizeof json, r->key, hi);
    expect_value("file, highest", json, NULL, r->key, hi);
    for (int k = 0; k < 2; k++) {
      one_key(json, sizeof json, r->key, out[k]);
      expect_refused(out[k], json, NULL, r->key, range, 0);
    }
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
      one_key(json, sizeof json, r->key, types[k]);
      expect_refused(types[k], json, NULL, r->key, range, 0);
    }
    if (r->flag == NULL) continue;
    expect_value("flag, lowest", NULL, (const char *[]){r->flag, lo, NULL},
                 r->key, lo);
    expect_value("flag, highest", NULL, (const char *[]){r->flag, hi, NULL},
                 r->key, hi);
    for (int k = 0; k < 2; k++)
      expect_refused(out[k], NULL, (const char *[]){r->flag, out[k], NULL},
                     r->flag, range, 0);
    expect_refused("not a number", NULL, (const char *[]){r->flag, "5x", NULL},
                   r->flag, range, 0);
    expect_refused("empty", NULL, (const char *[]){r->flag, "", NULL}, r->flag,
                   range, 0);
    one_key(json, sizeof json, r->key, lo);
    expect_value("the flag over the file", json,
                 (const char *[]){r->flag, hi, NULL}, r->key, hi);
  }
}

/* Sizes, modes, addresses, names: the accepted and refused forms. */
static void check_forms(void) {
  for (size_t i = 0; i < sizeof k_forms / sizeof *k_forms; i++) {
    const form_row *r = &k_forms[i];
    char json[200], text[64];
    if (r->def != NULL) expect_value("default", NULL, NULL, r->key, r->def);
    for (int k = 0; k < 5 && r->ok[k][0] != NULL; k++) {
      one_key(json, sizeof json, r->key, r->ok[k][0]);
      expect_value(r->ok[k][0], json, NULL, r->key, r->ok[k][1]);
      if (r->flag == NULL) continue;
      flag_text(r->ok[k][0], text, sizeof text);
      expect_value(text, NULL, (const char *[]){r->flag, text, NULL}, r->key,
                   r->ok[k][1]);
    }
    for (int k = 0; k < 6 && r->bad[k] != NULL; k++) {
      one_key(json, sizeof json, r->key, r->bad[k]);
      expect_refused(r->bad[k], json, NULL, r->key, r->range, 0);
      if (r->flag == NULL) continue;
      flag_text(r->bad[k], text, sizeof text);
      expect_refused(text, NULL, (const char *[]){r->flag, text, NULL}, r->flag,
                     r->range, 0);
    }
    for (int k = 0; k < 4 && r->bad_type[k] != NULL; k++) {
      one_key(json, sizeof json, r->key, r->bad_type[k]);
      expect_refused(r->bad_type[k], json, NULL, r->key, r->range, 0);
    }
    if (r->flag != NULL) {
      one_key(json, sizeof json, r->key, r->ok[0][0]);
      flag_text(r->ok[1][0], text, sizeof text);
      expect_value("the flag over the file", json,
                   (const char *[]){r->flag, text, NULL}, r->key, r->ok[1][1]);
    }
  }
}

/* Texts: the longest accepted, one byte more refused, the wrong types, the
 * flag over the file. */
static void check_paths(void) {
  for (size_t i = 0; i < sizeof k_paths / sizeof *k_paths; i++) {
    const path_row *r = &k_paths[i];
    size_t jn = r->size + 64;
    char *text = malloc(r->size + 2), *json = malloc(jn);
    char *quoted = malloc(r->size + 4), toolong[64];
    memset(text, 'a', r->size - 1);
    text[r->size - 1] = 0;
    snprintf(quoted, r->size + 4, "\"%s\"", text);
    snprintf(toolong, sizeof toolong, "longer than %zu bytes", r->size - 1);
    if (r->def != NULL) expect_value("default", NULL, NULL, r->key, r->def);
    if (r->key != NULL) {
      one_key(json, jn, r->key, quoted);
      expect_value("file, longest", json, NULL, r->key, quoted);
      one_key(json, jn, r->key, "1");
      expect_refused("a number", json, NULL, r->key, "a string", 0);
      one_key(json, jn, r->key, "null");
      expect_refused("null", json, NULL, r->key, "a string", 0);
      snprintf(json, jn, "{\"%s\": \"%sb\"}", r->key, text);
      expect_refused("file, too long", json, NULL, r->key, toolong, 0);
    }
    if (r->key != NULL && r->flag != NULL) {
      expect_value("flag, longest", NULL, (const char *[]){r->flag, text, NULL},
                   r->key, quoted);
      one_key(json, jn, r->key, "\"/from/file\"");
      expect_value("the flag over the file", json,
                   (const char *[]){r->flag, "/from/flag", NULL}, r->key,
                   "\"/from/flag\"");
    }
    if (r->flag != NULL) {
      text[r->size - 1] = 'b', text[r->size] = 0;
      expect_refused("flag, too long", NULL,
                     (const char *[]){r->flag, text, NULL}, r->flag, toolong,
                     0);
    }
    free(text), free(json), free(quoted);
  }
}

/* The flags that only set a field: --port-file, --check-config. */
static void check_flag_only(void) {
  la_serve_config c;
  la_err err;
  int rc =
      layers(NULL, (const char *[]){"--port-file", "/p/f", NULL}, &c, &err, 0);
  CHECK_EQ_INT(rc, 0);
  CHECK(strcmp(c.port_file, "/p/f") == 0);
  CHECK_EQ_INT(c.check_only, 0);
  la_serve_config_free(&c);
  rc = layers("{\"nice\": 3}",
              (const char *[]){"--check-config", "--nice", "4", NULL}, &c, &err,
              0);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(c.check_only, 1);
  CHECK_EQ_INT(c.nice, 4);
  CHECK(strcmp(c.config_path, g_file) == 0);
  la_serve_config_free(&c);
}

/* The sections with a structure of their own: user_limits (its numbers
 * and their ranges), admins, window, executor and slurm. */
static void check_sections(void) {
  char json[200], want[100], range[64];
  expect_value("default", NULL, NULL, "user_limits",
               "{\"default\": {}}"); /* max_queued_runs comes from derive */
  for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
    long long v[4] = {limits[i].lo, limits[i].hi, limits[i].lo - 1,
                      limits[i].hi + 1};
    char name[64];
    snprintf(range, sizeof range, "an integer in %lld..%lld", limits[i].lo,
             limits[i].hi);
    snprintf(name, sizeof name, "user_limits.bob.%s", limits[i].field);
    for (int k = 0; k < 4; k++) {
      snprintf(json, sizeof json,
               "{\"user_limits\": {\"bob\": {\"%s\": %lld}}}", limits[i].field,
               v[k]);
      snprintf(want, sizeof want, "{\"default\": {}, \"bob\": {\"%s\": %lld}}",
               limits[i].field, v[k]);
      if (k < 2)
        expect_value("user limit", json, NULL, "user_limits", want);
      else
        expect_refused("user limit", json, NULL, name, range, 0);
    }
    snprintf(json, sizeof json, "{\"user_limits\": {\"bob\": {\"%s\": \"2\"}}}",
             limits[i].field);
    expect_refused("user limit of a string", json, NULL, name, range, 0);
  }
  expect_refused("unknown user limit",
                 "{\"user_limits\": {\"bob\": {\"gpus\": 1}}}", NULL,
                 "user_limits.bob.gpus", "unknown field", 0);
  expect_refused("bad user name", "{\"user_limits\": {\"b b\": {}}}", NULL,
                 "user_limits.b b", "not a user name", 0);
  expect_refused("user limits not an object", "{\"user_limits\": []}", NULL,
                 "user_limits", "expected an object", 0);
  expect_value("default", NULL, NULL, "admins", "[]");
  expect_value("admins", "{\"admins\": [\"alice\", \"bob\"]}", NULL, "admins",
               "[\"alice\", \"bob\"]");
  expect_refused("admins not an array", "{\"admins\": \"alice\"}", NULL,
                 "admins", "an array of user names", 0);
  expect_refused("an admin not a name", "{\"admins\": [\"alice\", 5]}", NULL,
                 "admins[1]", "a user name", 0);
  expect_value("default", NULL, NULL, "window", "null");
  expect_value("window",
               "{\"window\": {\"start\": \"22:00\", \"end\": \"07:00\"}}", NULL,
               "window",
               "{\"start\": \"22:00\", \"end\": \"07:00\", \"outside\": "
               "\"finish\"}");
  expect_refused("bad window",
                 "{\"window\": {\"start\": \"25:00\", \"end\": "
                 "\"07:00\"}}",
                 NULL, "window.start", "HH:MM", 0);
  expect_value("default", NULL, NULL, "executor", "\"local\"");
  expect_value("executor", "{\"executor\": \"local,slurm\"}", NULL, "executor",
               "\"local,slurm\"");
  expect_value("--executor over the file", "{\"executor\": \"local,slurm\"}",
               (const char *[]){"--executor", "local", NULL}, "executor",
               "\"local\"");
  expect_refused("executor", "{\"executor\": \"k8s\"}", NULL, "executor", "k8s",
                 0);
  expect_refused("executor of a number", "{\"executor\": 1}", NULL, "executor",
                 "a string", 0);
  expect_refused("--executor", NULL,
                 (const char *[]){"--executor", "k8s", NULL}, "--executor",
                 "k8s", 0);
  expect_refused("slurm.poll", "{\"slurm\": {\"poll\": 0}}", NULL, "slurm.poll",
                 "", 0);
  expect_refused("--slurm-poll", NULL,
                 (const char *[]){"--slurm-poll", "0", NULL}, "--slurm-poll",
                 "", 0);
  expect_refused("--slurm-nothing", NULL,
                 (const char *[]){"--slurm-nothing", "1", NULL},
                 "--slurm-nothing", "unknown option", 0);
}

/* What the file and the command line may not be. */
static void check_refusals(void) {
  expect_refused("unknown key", "{\"nicee\": 1}", NULL, "nicee", "unknown key",
                 0);
  expect_refused("a flag's name as a key", "{\"max-workers\": 1}", NULL,
                 "max-workers", "unknown key", 0);
  expect_refused("unknown flag", NULL, (const char *[]){"--nicee", "1", NULL},
                 "--nicee", "unknown option", 0);
  expect_refused("a key as a flag", NULL,
                 (const char *[]){"max_run_rows", "100", NULL}, "max_run_rows",
                 "unknown option", 0);
  expect_refused("a flag without its value", NULL,
                 (const char *[]){"--nice", NULL}, "--nice", "needs a value",
                 0);
  expect_refused("--config twice", "{}",
                 (const char *[]){"--config", g_file, NULL}, "--config",
                 "given twice", 0);
  expect_refused("not JSON", "{\"nice\": ", (const char *[]){NULL}, "",
                 "line 1", 0);
  expect_refused("not an object", "[1]", NULL, "", "expected a JSON object", 0);
  expect_refused("a duplicate key", "{\"nice\": 1, \"nice\": 2}", NULL, "",
                 "duplicate", 0);
}

/* Cores in this process's affinity. */
static int affinity(void) {
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
}

/* What la_serve_config_parse derives from the machine and the others. */
static void check_derived(void) {
  la_serve_config c;
  la_err err;
  char path[PATH_MAX + 32], exe[PATH_MAX], msg[64];
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  unsigned long long mem;
  int n = affinity(), rc = layers(NULL, NULL, &c, &err, 1);
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(c.cores, n);
  CHECK_EQ_INT(c.max_workers, n); /* cores / 1 thread */
  mem = (unsigned long long)pages * (unsigned long long)page /
        (2ull * (unsigned)n);
  CHECK_EQ_INT(c.max_run_memory, mem < (16ull << 20) ? 16ull << 20 : mem);
  CHECK(strcmp(c.state_dir, g_dir) == 0); /* LORALPHA_STATE_DIR */
  snprintf(path, sizeof path, "%s/loralpha.sock", g_dir);
  CHECK(strcmp(c.socket, path) == 0);
  snprintf(path, sizeof path, "%s/loralpha.db", g_dir);
  CHECK(strcmp(c.db, path) == 0);
  CHECK_EQ_INT(c.user_default.max_queued_runs, 100000); /* max_runs */
  exe[len > 0 ? len : 0] = 0;
  if (strrchr(exe, '/') != NULL) strrchr(exe, '/')[1] = 0;
  snprintf(path, sizeof path, "%sloralpha-worker", exe);
  if (strcmp(c.worker, path) != 0) {
    check_failures++;
    fprintf(stderr, "worker default %s, expected %s\n", c.worker, path);
  }
  snprintf(path, sizeof path, "%s../web/index.html", exe);
  CHECK(access(path, R_OK) == 0 ? strncmp(c.web, exe, strlen(exe)) == 0
                                : c.web[0] == 0);
  la_serve_config_free(&c);
  /* what was given is not derived */
  rc = layers("{\"max_workers\": 1, \"socket\": \"/s\", \"db\": \"/d\", "
              "\"max_run_memory\": \"1G\", \"max_runs\": 7}",
              NULL, &c, &err, 1);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(c.max_workers, 1);
  CHECK(strcmp(c.socket, "/s") == 0 && strcmp(c.db, "/d") == 0);
  CHECK_EQ_INT(c.max_run_memory, 1ull << 30);
  CHECK_EQ_INT(c.user_default.max_queued_runs, 7);
  la_serve_config_free(&c);
  rc = layers(NULL, (const char *[]){"--max-workers", "1", NULL}, &c, &err, 1);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(c.max_workers, 1);
  la_serve_config_free(&c);
  /* checks across settings */
  snprintf(msg, sizeof msg, "%d", n + 1);
  expect_refused("cores over the affinity", NULL,
                 (const char *[]){"--cores", msg, NULL}, "cores", msg, 1);
  expect_refused(
      "workers x threads over the cores", NULL,
      (const char *[]){"--max-workers", "1", "--threads-per-worker", msg, NULL},
      "max_workers", "exceed", 1);
  expect_refused("nobody could reach it", NULL,
                 (const char *[]){"--listen", "none", "--socket", "none", NULL},
                 "listen and socket are both none", "nobody", 1);
  expect_refused("a user over the daemon's workers",
                 "{\"max_workers\": 1, \"user_limits\": {\"bob\": "
                 "{\"max_workers\": 2}}}",
                 NULL, "user_limits.bob.max_workers", "more than", 1);
}

/* Runs of white space in s as one space (a wrapped line as one). */
static void squeeze(char *s) {
  char *out = s;
  for (char *p = s; *p; p++)
    if (!(*p == ' ' || *p == '\n') || out == s || out[-1] != ' ')
      *out++ = *p == '\n' ? ' ' : *p;
  *out = 0;
}

/* --help lists every flag with its range and default. */
static void check_help(void) {
  char tmpl[96], *text = NULL;
  size_t n = 0;
  int fd, saved, rc;
  la_serve_config c;
  la_err err;
  FILE *f;
  snprintf(tmpl, sizeof tmpl, "%s/help.txt", g_dir);
  fflush(stdout);
  saved = dup(1);
  fd = open(tmpl, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 1);
  rc = layers(NULL, (const char *[]){"--nice", "3", "--help", NULL}, &c, &err,
              0);
  fflush(stdout);
  dup2(saved, 1);
  close(saved), close(fd);
  la_serve_config_free(&c);
  CHECK_EQ_INT(rc, 1);
  f = fopen(tmpl, "r");
  if (f != NULL) {
    text = calloc(1, 65536);
    n = fread(text, 1, 65535, f);
    fclose(f);
  }
  remove(tmpl);
  CHECK(n > 0);
  for (size_t i = 0; n > 0 && i < sizeof k_ints / sizeof *k_ints; i++) {
    char want[96], *at, *end;
    const int_row *r = &k_ints[i];
    if (r->flag == NULL) continue;
    snprintf(want, sizeof want, "  %s ", r->flag);
    at = strstr(text, want);
    end = at != NULL ? strstr(at + 1, "\n  --") : NULL;
    if (end != NULL) *end = 0;
    if (at != NULL) squeeze(at);
    snprintf(want, sizeof want, "(%lld..%lld, default %s)", r->lo, r->hi,
             r->def != NULL ? r->def : "");
    if (at == NULL || strstr(at, r->def != NULL ? want : "default") == NULL) {
      check_failures++;
      fprintf(stderr, "--help: %s without '%s':\n%s\n", r->flag, want,
              at != NULL ? at : text);
    } else {
      check_passes++;
    }
    if (end != NULL) memset(at, ' ', (size_t)(end - at)), *end = '\n';
  }
  free(text);
}

/* ---- docs/daemon.md ---- */

/* The table of settings: its rows' cells (flag, key, default, values). */
typedef struct doc_row {
  char cell[4][400];
  int seen;
} doc_row;

static doc_row g_rows[64];
static int g_n_rows;

/* Reads the table that starts with "| flag | config key |" from path. */
static int read_doc_table(const char *path) {
  char line[2048];
  int in = 0;
  FILE *f = fopen(path, "r");
  if (f == NULL) return perror(path), -1;
  while (fgets(line, sizeof line, f) != NULL && g_n_rows < 64) {
    char *p = line, *bar;
    if (!in) {
      in = strncmp(line, "| flag | config key | default | values |", 40) == 0;
      continue;
    }
    if (line[0] != '|') break;
    if (strncmp(line, "| ---", 5) == 0) continue;
    p++; /* the first '|' */
    for (int c = 0; c < 4; c++) {
      char *cell = g_rows[g_n_rows].cell[c];
      size_t len;
      p += strspn(p, " ");
      bar = strchr(p, '|');
      if (bar == NULL) bar = p + strlen(p);
      for (len = (size_t)(bar - p); len > 0 && p[len - 1] == ' '; len--)
        ;
      snprintf(cell, sizeof g_rows[0].cell[0], "%.*s", (int)len, p);
      p = *bar ? bar + 1 : bar;
    }
    g_n_rows++;
  }
  fclose(f);
  return g_n_rows > 0 ? 0 : -1;
}

/* The row of key (or, without a key, of flag). */
static doc_row *doc_find(const char *flag, const char *key) {
  char want[96];
  for (int i = 0; i < g_n_rows; i++) {
    doc_row *r = &g_rows[i];
    if (key != NULL) {
      snprintf(want, sizeof want, "`%s`", key);
      if (strcmp(r->cell[1], want) == 0) return r;
    } else if (r->cell[1][0] == 0) {
      snprintf(want, sizeof want, "`%s", flag);
      if (strncmp(r->cell[0], want, strlen(want)) == 0 &&
          (r->cell[0][strlen(want)] == ' ' || r->cell[0][strlen(want)] == '`'))
        return r;
    }
  }
  return NULL;
}

/* The row of flag/key says default doc_def and values doc_values. */
static void doc_expect(const char *flag, const char *key, const char *doc_def,
                       const char *doc_values) {
  doc_row *r = doc_find(flag, key);
  char want[96];
  snprintf(want, sizeof want, "`%s", flag != NULL ? flag : "");
  if (r == NULL || strcmp(r->cell[2], doc_def) != 0 ||
      strcmp(r->cell[3], doc_values) != 0 ||
      (flag != NULL ? strncmp(r->cell[0], want, strlen(want)) != 0
                    : r->cell[0][0] != 0)) {
    check_failures++;
    fprintf(stderr,
            "docs/daemon.md, %s %s: row | %s | %s | %s | %s |, expected | "
            "%s... | `%s` | %s | %s |\n",
            flag ? flag : "", key ? key : "", r ? r->cell[0] : "(none)",
            r ? r->cell[1] : "", r ? r->cell[2] : "", r ? r->cell[3] : "",
            flag ? want : "", key ? key : "", doc_def, doc_values);
  } else {
    check_passes++;
    r->seen = 1;
  }
}

/* Every setting is in the table with this test's default and range, every
 * key of the effective configuration has a row, and no row is unknown. */
static void check_docs(const char *path) {
  char range[160];
  la_serve_config c;
  la_err err;
  const char *key;
  json_t *o, *v;
  char *buf = NULL;
  size_t n = 0;
  FILE *f;
  CHECK_EQ_INT(read_doc_table(path), 0);
  for (size_t i = 0; i < sizeof k_ints / sizeof *k_ints; i++) {
    snprintf(range, sizeof range, "%lld..%lld", k_ints[i].lo, k_ints[i].hi);
    doc_expect(k_ints[i].flag, k_ints[i].key, k_ints[i].doc_def, range);
  }
  for (size_t i = 0; i < sizeof k_forms / sizeof *k_forms; i++)
    doc_expect(k_forms[i].flag, k_forms[i].key, k_forms[i].doc_def,
               k_forms[i].doc_values);
  for (size_t i = 0; i < sizeof k_paths / sizeof *k_paths; i++)
    doc_expect(k_paths[i].flag, k_paths[i].key, k_paths[i].doc_def,
               k_paths[i].doc_values);
  for (size_t i = 0; i < sizeof k_doc_others / sizeof *k_doc_others; i++)
    doc_expect(k_doc_others[i].flag, k_doc_others[i].key,
               k_doc_others[i].doc_def, k_doc_others[i].doc_values);
  snprintf(range, sizeof range, "per user: `%s` %lld..%lld, `%s` %lld..%lld",
           limits[0].field, limits[0].lo, limits[0].hi, limits[1].field,
           limits[1].lo, limits[1].hi);
  doc_expect(NULL, "user_limits", "none", range);
  for (int i = 0; i < g_n_rows; i++)
    if (!g_rows[i].seen) {
      check_failures++;
      fprintf(stderr, "docs/daemon.md: a row this test does not know: %s %s\n",
              g_rows[i].cell[0], g_rows[i].cell[1]);
    }
  /* every key the daemon prints is documented */
  CHECK_EQ_INT(layers(NULL, NULL, &c, &err, 0), 0);
  f = open_memstream(&buf, &n);
  la_serve_config_print(&c, f);
  fclose(f);
  la_serve_config_free(&c);
  o = json_loads(buf, 0, NULL);
  free(buf);
  CHECK(o != NULL && json_object_size(o) > 20);
  json_object_foreach(o, key, v) {
    if (doc_find(NULL, key) == NULL) {
      check_failures++;
      fprintf(stderr, "docs/daemon.md: no row for the config key %s\n", key);
    } else {
      check_passes++;
    }
  }
  json_decref(o);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/test_serve_config.XXXXXX");
  if (mkdtemp(g_dir) == NULL) return perror("mkdtemp"), 1;
  snprintf(g_file, sizeof g_file, "%s/serve.json", g_dir);
  setenv("LORALPHA_STATE_DIR", g_dir, 1);
  check_ints();
  check_forms();
  check_paths();
  check_flag_only();
  check_sections();
  check_refusals();
  check_derived();
  check_help();
  check_docs(LA_TEST_DAEMON_MD);
  remove(g_file);
  rmdir(g_dir);
  return check_summary();
}
