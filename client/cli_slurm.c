/* cli_slurm.c: `loralpha export-slurm` and `loralpha import` (see
 * cli_slurm.h, docs/slurm.md). */
#include "cli_slurm.h"

#include "cli.h"
#include "loralpha/paths.h"
#include "loralpha/rights.h"
#include "loralpha/slurm_db.h"
#include "loralpha/slurm_settings.h"
#include "loralpha/spec.h"
#include "loralpha/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARRAY_MAX 1000 /* runs per array script (Slurm's MaxArraySize 1001) */
#define SHOWN -1       /* parse printed --help: exit 0 */

typedef struct xopts {
  const char *cmd, *arg; /* the command and its positional argument */
  const char *dir, *db;
  la_slurm_opts so;          /* settings, worker and job name */
  unsigned given;            /* LA_SLURM_G_* of the settings given as options */
  char default_db[PATH_MAX]; /* the daemon's default database */
} xopts;

static void usage(FILE *f) {
  fputs("usage: loralpha export-slurm SPEC.json|SWEEP --dir DIR [--db FILE]\n"
        "           [--worker PATH]\n"
        "           [--partition P] [--account A] [--qos Q] [--mem SIZE]\n"
        "           [--time LIMIT] [--cpus-per-task N] [--sbatch-arg OPT]...\n"
        "           [--env NAME=VALUE]... [--job-name N]\n"
        "       loralpha import DIR [--db FILE]   (default: the daemon's,\n"
        "                                          STATE/loralpha.db)\n"
        "export-slurm writes the sweep as standalone sbatch array scripts;\n"
        "import stores their results in a database. See docs/slurm.md.\n",
        f);
}

static int usage_err(const char *cmd, const char *msg) {
  fprintf(stderr, "loralpha %s: %s (see --help)\n", cmd, msg);
  return LA_CLI_USAGE;
}

int la_cli_slurm_is(int argc, char **argv) {
  return argc >= 2 && (strcmp(argv[1], "export-slurm") == 0 ||
                       strcmp(argv[1], "import") == 0);
}

/* loralpha-worker beside this executable. */
static void default_worker(char *out, size_t size) {
  char self[PATH_MAX];
  snprintf(out, size, "loralpha-worker");
  if (la_paths_exe_dir(self, sizeof self) != 0) return;
  snprintf(out, size, "%.*s/loralpha-worker", (int)(size - 20), self);
}

/* One option with its value; 0 or a usage error. */
static int parse_opt(xopts *o, const char *f, const char *v) {
  static const char *const settings[] = {
      "--partition",  "--account", "--qos",
      "--mem",        "--time",    "--cpus-per-task",
      "--sbatch-arg", "--env",     "--job-name",
      "--worker",     NULL};
  static const unsigned bits[] = {LA_SLURM_G_PARTITION,
                                  LA_SLURM_G_ACCOUNT,
                                  LA_SLURM_G_QOS,
                                  LA_SLURM_G_MEM,
                                  LA_SLURM_G_TIME,
                                  LA_SLURM_G_CPUS,
                                  LA_SLURM_G_ARGS,
                                  LA_SLURM_G_ENV,
                                  0,
                                  0};
  char flag[64];
  la_err err;
  int exp = strcmp(o->cmd, "export-slurm") == 0;
  if (exp && strcmp(f, "--dir") == 0) return o->dir = v, 0;
  if (strcmp(f, "--db") == 0) return o->db = v, 0;
  for (int i = 0; exp && settings[i]; i++)
    if (strcmp(f, settings[i]) == 0) {
      snprintf(flag, sizeof flag, "--slurm-%s", f + 2);
      o->given |= bits[i];
      if (la_slurm_opt(&o->so, flag, v, &err) == 0) return 0;
      fprintf(stderr, "loralpha %s: --%s (see --help)\n", o->cmd,
              err.msg + 8); /* the flag as given, without "slurm-" */
      return LA_CLI_USAGE;
    }
  fprintf(stderr, "loralpha %s: %.64s: unknown option (see --help)\n", o->cmd,
          f);
  return LA_CLI_USAGE;
}

/* Parses the command line; 0, SHOWN after --help, or a usage error (an
 * LA_CLI_* exit code). */
static int parse(int argc, char **argv, xopts *o) {
  char dir[PATH_MAX];
  int rc;
  memset(o, 0, sizeof *o);
  la_slurm_opts_default(&o->so);
  o->so.standalone = 1; /* the user's own scripts: the user's own choices */
  default_worker(o->so.worker, sizeof o->so.worker);
  o->cmd = argv[1], o->db = "loralpha.db";
  /* the daemon's default database, so that `loralpha serve` sees the import */
  if (la_paths_state_dir(dir, sizeof dir) == 0 &&
      la_paths_join(o->default_db, sizeof o->default_db, dir, "loralpha.db") ==
          0)
    o->db = o->default_db;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return usage(stdout), SHOWN;
    if (argv[i][0] == '-' && argv[i][1]) {
      if (i + 1 >= argc) return usage_err(o->cmd, "an option needs a value");
      if ((rc = parse_opt(o, argv[i], argv[i + 1])) != 0) return rc;
      i++;
    } else if (o->arg == NULL) {
      o->arg = argv[i];
    } else {
      return usage_err(o->cmd, "one argument only");
    }
  }
  if (o->arg == NULL)
    return usage_err(o->cmd, strcmp(o->cmd, "import") == 0
                                 ? "missing the exported directory"
                                 : "missing the spec file");
  if (strcmp(o->cmd, "export-slurm") == 0 && o->dir == NULL)
    return usage_err(o->cmd, "--dir is required");
  return 0;
}

/* ---- export ---- */

/* The export directory, opened once: every file is made relative to these
 * descriptors, so no one can swap a directory between check and write. */
typedef struct xdir {
  int top, runs;      /* DIR and DIR/runs, or -1 */
  char abs[PATH_MAX]; /* DIR's absolute path, for the scripts */
} xdir;

/* Opens name (relative to at) as a directory of ours that no one else may
 * write, not following a last symbolic link unless follow: its descriptor,
 * or -1 (no descriptor) after a message naming shown. */
static int open_own_dir(int at, const char *name, int follow,
                        const char *shown) {
  int fd = openat(
      at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    fprintf(stderr, "loralpha export-slurm: %s: not a directory: %s\n", shown,
            strerror(errno));
  } else if (st.st_uid != geteuid()) {
    fprintf(stderr,
            "loralpha export-slurm: %s: refused: it belongs to uid %ld, not "
            "to you; export into a directory of your own\n",
            shown, (long)st.st_uid);
  } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    fprintf(stderr,
            "loralpha export-slurm: %s: refused: others may write in it "
            "(mode %04o); export into a directory only you can write "
            "(chmod go-w)\n",
            shown, (unsigned)(st.st_mode & 07777));
  } else {
    return fd;
  }
  if (fd >= 0) close(fd);
  return -1; /* a descriptor: none */
}

/* Makes dir (if new) and its subdirectories, each checked as ours and
 * written by no one else; fills x. 0, or LA_EIO after a message. */
static int make_tree(const char *dir, xdir *x) {
  static const char *const sub[] = {"runs", "logs", "out"};
  char shown[PATH_MAX + 16];
  x->top = x->runs = -1;
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "loralpha export-slurm: cannot create %s: %s\n", dir,
            strerror(errno));
    return LA_EIO;
  }
  if (realpath(dir, x->abs) == NULL || strlen(x->abs) >= 3000) {
    fprintf(stderr, "loralpha export-slurm: %s: unusable directory\n", dir);
    return LA_EIO;
  }
  if ((x->top = open_own_dir(AT_FDCWD, x->abs, 1, x->abs)) < 0) return LA_EIO;
  for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
    int fd;
    snprintf(shown, sizeof shown, "%s/%s", x->abs, sub[i]);
    if (mkdirat(x->top, sub[i], 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "loralpha export-slurm: cannot create %s: %s\n", shown,
              strerror(errno));
      return LA_EIO;
    }
    if ((fd = open_own_dir(x->top, sub[i], 0, shown)) < 0) return LA_EIO;
    if (i == 0)
      x->runs = fd;
    else
      close(fd);
  }
  return 0;
}

static void close_tree(xdir *x) {
  if (x->top >= 0) close(x->top);
  if (x->runs >= 0) close(x->runs);
}

/* A new file name in directory dfd, for writing: an existing entry of that
 * name (a file of an earlier export, or a symbolic link) is removed, never
 * written through. NULL with errno set. */
static FILE *create_in(int dfd, const char *name) {
  int fd;
  FILE *f;
  if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) return NULL;
  fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0644);
  if (fd < 0) return NULL;
  if ((f = fdopen(fd, "w")) == NULL) close(fd);
  return f;
}

/* json (borrowed) into a new file name of dfd; 0, or LA_EIO with errno. */
static int dump_in(int dfd, const char *name, const json_t *json,
                   size_t flags) {
  FILE *f = create_in(dfd, name);
  int rc;
  if (f == NULL) return LA_EIO;
  rc = json_dumpf(json, f, flags);
  return fclose(f) != 0 || rc != 0 ? LA_EIO : 0;
}

/* The run configs (DIR/runs/<index>.json); 0, or an LA_E* code after a
 * message. */
static int write_configs(const la_spec *spec, const xdir *x, int threads) {
  char name[64];
  for (size_t i = 0; i < spec->n_runs; i++) {
    json_t *cfg = la_spec_run_config(spec, i);
    int rc = cfg ? 0 : LA_ENOMEM;
    snprintf(name, sizeof name, "%zu.json", i);
    if (cfg) json_object_set_new(cfg, "threads", json_integer(threads));
    if (cfg) json_object_set_new(cfg, "run_id", json_integer((json_int_t)i));
    if (rc == 0)
      rc = dump_in(x->runs, name, cfg, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(cfg);
    if (rc) {
      fprintf(stderr, "loralpha export-slurm: cannot write %s/runs/%s: %s\n",
              x->abs, name, strerror(errno));
      return rc;
    }
  }
  return 0;
}

/* The array scripts, ARRAY_MAX runs each; prints how to submit them. 0, or
 * LA_EIO with errno. */
static int write_scripts(const xopts *o, const la_spec *spec, const xdir *x,
                         const la_slurm_settings *set) {
  int64_t ids[ARRAY_MAX];
  char name[64];
  for (size_t first = 0, k = 0; first < spec->n_runs; first += ARRAY_MAX, k++) {
    int n = (int)(spec->n_runs - first < ARRAY_MAX ? spec->n_runs - first
                                                   : ARRAY_MAX);
    FILE *f;
    int rc;
    for (int i = 0; i < n; i++)
      ids[i] = (int64_t)(first + (size_t)i);
    la_slurm_script s = {
        x->abs, o->so.job_name,    o->so.worker, NULL, set, spec->name, 0, ids,
        n,      spec->max_parallel};
    snprintf(name, sizeof name, "array-%zu.sbatch", k);
    if ((f = create_in(x->top, name)) == NULL) return LA_EIO;
    rc = la_slurm_write_script(f, &s);
    if (fclose(f) != 0 || rc != 0) return LA_EIO;
    printf("sbatch %s/%s\n", x->abs, name);
  }
  return 0;
}

/* The spec file: parsed, validated and expanded. NULL after a message. */
/* The stored spec of sweep id in db (opened read-only, so a daemon that
 * writes it is not disturbed), parsed; NULL with a message. */
static json_t *stored_spec(const char *cmd, const char *db, const char *id) {
  sqlite3 *h = NULL;
  sqlite3_stmt *q = NULL;
  json_t *v = NULL;
  int rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK) sqlite3_busy_timeout(h, 10000);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(h, "SELECT spec FROM sweeps WHERE id = ?", -1, &q,
                            NULL);
  if (rc != SQLITE_OK) {
    fprintf(stderr, "loralpha %s: %s: %s\n", cmd, db,
            h ? sqlite3_errmsg(h) : "cannot open");
  } else {
    sqlite3_bind_int64(q, 1, strtoll(id, NULL, 10));
    if ((rc = sqlite3_step(q)) == SQLITE_ROW)
      v = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    if (rc == SQLITE_DONE)
      fprintf(stderr, "loralpha %s: %s: no sweep %s\n", cmd, db, id);
    else if (v == NULL)
      fprintf(stderr, "loralpha %s: %s: sweep %s: %s\n", cmd, db, id,
              rc == SQLITE_ROW ? "its stored spec is not JSON"
                               : sqlite3_errmsg(h));
  }
  sqlite3_finalize(q);
  sqlite3_close(h);
  return v;
}

/* The spec of a file, or (for a number) of that sweep in db. */
static la_spec *load_spec(const char *cmd, const char *path, const char *db,
                          json_t **raw) {
  char cwd[PATH_MAX];
  json_error_t je;
  la_spec_limits lim;
  la_spec *spec = NULL;
  la_err err;
  if (db != NULL && la_parse_id(path) > 0 && access(path, F_OK) != 0) {
    if ((*raw = stored_spec(cmd, db, path)) == NULL) return NULL;
  } else if ((*raw = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) &&
             (getcwd(cwd, sizeof cwd) == NULL ||
              la_rights_absolute_paths(*raw, cwd) < 0)) {
    fprintf(stderr, "loralpha %s: %s: cannot make its paths absolute\n", cmd,
            path);
    json_decref(*raw);
    *raw = NULL;
    return NULL;
  }
  if (*raw == NULL) {
    if (je.line > 0)
      fprintf(stderr, "loralpha %s: %s: %s (line %d)\n", cmd, path, je.text,
              je.line);
    else
      fprintf(stderr, "loralpha %s: %s\n", cmd, je.text);
    return NULL;
  }
  la_spec_limits_default(&lim);
  if (la_spec_parse(*raw, &lim, &spec, &err)) {
    fprintf(stderr, "loralpha %s: %s: %s\n", cmd, path, err.msg);
    json_decref(*raw), *raw = NULL;
  } else if (spec->search.kind != LA_SEARCH_GRID) {
    /* a search decides as runs end: only a daemon can (docs/sweeps.md) */
    fprintf(stderr,
            "loralpha %s: %s: search: a sweep that searches along alpha "
            "needs the daemon, which decides as its runs end; %s runs "
            "grids (drop \"search\", or submit it to a daemon with the "
            "Slurm executor)\n",
            cmd, path, cmd);
    la_spec_free(spec), spec = NULL;
    json_decref(*raw), *raw = NULL;
  }
  return spec;
}

/* The settings: the options, the spec's slurm object over them, and the
 * options the user gave over that. 0, or an LA_E* code after a message. */
static int export_settings(const xopts *o, const la_spec *spec,
                           la_slurm_settings *set) {
  const la_slurm_settings *opt = &o->so.settings;
  la_err err;
  int rc = la_slurm_resolve(&o->so, json_object_get(spec->normalized, "slurm"),
                            set, &err);
  if (rc) {
    fprintf(stderr, "loralpha export-slurm: %s: %s\n", o->arg, err.msg);
    return rc;
  }
  if (o->given & LA_SLURM_G_PARTITION)
    memcpy(set->partition, opt->partition, sizeof set->partition);
  if (o->given & LA_SLURM_G_TIME)
    memcpy(set->time, opt->time, sizeof set->time);
  if (o->given & LA_SLURM_G_CPUS) set->cpus_per_task = opt->cpus_per_task;
  return 0;
}

/* Can dir go into #SBATCH lines (--output, --chdir)? 0 if so, LA_EINVAL
 * after a message if not. */
static int sbatch_dir(const char *dir) {
  for (const char *p = dir; *p; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
        strchr("'\"\\`$%", *p) != NULL) {
      fprintf(stderr,
              "loralpha export-slurm: --dir: %s: a path with spaces, quotes, "
              "'$', '%%', '\\' or non-ASCII bytes cannot go into #SBATCH "
              "lines\n",
              dir);
      return LA_EINVAL;
    }
  return 0;
}

static int do_export(const xopts *o) {
  json_t *raw = NULL;
  la_spec *spec = load_spec(o->cmd, o->arg, o->db, &raw);
  xdir x = {-1, -1, ""};
  la_slurm_settings set;
  int rc = LA_CLI_FAILED;
  if (spec == NULL) return LA_CLI_FAILED;
  if (export_settings(o, spec, &set) || sbatch_dir(o->dir)) goto cleanup;
  if (make_tree(o->dir, &x)) {
    rc = LA_CLI_LOCAL;
    goto cleanup;
  }
  if (sbatch_dir(x.abs)) goto cleanup;
  if (dump_in(x.top, "spec.json", raw,
              JSON_INDENT(2) | JSON_REAL_PRECISION(17)) ||
      write_configs(spec, &x, set.cpus_per_task) ||
      write_scripts(o, spec, &x, &set)) {
    fprintf(stderr, "loralpha export-slurm: cannot write into %s: %s\n", x.abs,
            strerror(errno));
    rc = LA_CLI_LOCAL;
    goto cleanup;
  }
  fprintf(stderr,
          "loralpha export-slurm: %zu runs of '%s' in %s; submit the "
          "script(s) above, then: loralpha import %s --db FILE\n",
          spec->n_runs, spec->name, x.abs, x.abs);
  rc = LA_CLI_OK;
cleanup:
  close_tree(&x);
  json_decref(raw);
  la_spec_free(spec);
  return rc;
}

/* ---- import ---- */

/* Reads one run's output lines into the store, each checked
 * (la_record_parse); *done gets its done record if there is one, *error
 * the message of its error record. 0, or an LA_E* code (LA_EINVAL: a bad
 * line) with why naming the line. */
static int read_output(la_store *st, int64_t run, FILE *f, la_record *done,
                       char *error, size_t esize, char *why, size_t size) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long no = 0;
  int rc = 0;
  while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
    la_record rec;
    la_err err;
    no++;
    if (line[n - 1] == '\n') n--;
    if (n == 0) continue;
    if (la_record_parse(line, (size_t)n, &rec, &err) != 0) {
      snprintf(why, size, "line %ld: %s", no, err.msg);
      rc = LA_EINVAL;
    } else if (rec.type == LA_REC_DONE) {
      la_record_clear(done);
      la_record_move(done, &rec);
    } else if (rec.type == LA_REC_ERROR) {
      snprintf(error, esize, "%s", rec.u.error.error);
      la_record_clear(&rec);
    } else if (la_store_take_record(st, run, &rec)) {
      snprintf(why, size, "line %ld: out of memory", no);
      rc = LA_ENOMEM;
    }
  }
  free(line);
  return rc;
}

/* One run: its output file into the store and its end. */
static int import_run(la_store *st, const char *dir, size_t idx, int64_t run,
                      int *ok) {
  la_run_result res;
  char path[PATH_MAX + 32], why[2 * PATH_MAX + 1200] = "", error[512] = "";
  la_record done = {.type = LA_REC_EXTENSION};
  la_err err;
  FILE *f;
  int rc;
  la_run_result_init(&res, "failed");
  snprintf(path, sizeof path, "%s/out/%zu.jsonl", dir, idx);
  if ((rc = la_store_start_run(st, run, &err)) != 0) {
    fprintf(stderr, "loralpha import: %s\n", err.msg);
    return rc;
  }
  if ((f = fopen(path, "r")) == NULL) {
    snprintf(why, sizeof why, "no output: %s is missing (see %s/logs)", path,
             dir);
  } else {
    char msg[640];
    if (read_output(st, run, f, &done, error, sizeof error, msg, sizeof msg))
      snprintf(why, sizeof why, "%s: %s", path, msg);
    else if (done.type != LA_REC_DONE)
      snprintf(why, sizeof why, "%s has no done record%s%s", path,
               error[0] ? ": " : "", error);
    fclose(f);
  }
  if (why[0] == 0) la_run_result_from_done(&res, &done);
  if (why[0])
    fprintf(stderr, "loralpha import: run %lld: %s\n", (long long)run, why);
  res.error = why[0] ? why : NULL;
  *ok += why[0] == 0;
  la_record_clear(&done);
  if ((rc = la_store_finish_run(st, run, &res, &err)) != 0)
    fprintf(stderr, "loralpha import: %s\n", err.msg);
  return rc;
}

static int do_import(const xopts *o) {
  char path[PATH_MAX + 16];
  json_t *raw = NULL;
  la_spec *spec;
  la_store *st = NULL;
  int64_t sweep, *ids = NULL;
  la_err err;
  int ok = 0, rc = LA_CLI_FAILED;
  char owner[LA_USER_MAX];
  la_rights_user_of_uid((long)geteuid(), owner, sizeof owner);
  snprintf(path, sizeof path, "%s/spec.json", o->arg);
  if ((spec = load_spec(o->cmd, path, NULL, &raw)) == NULL)
    return LA_CLI_FAILED;
  if (o->db == o->default_db) { /* the daemon may not have made it yet */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", o->default_db);
    *strrchr(dir, '/') = 0;
    if (la_paths_mkdir(dir) != 0)
      fprintf(stderr, "loralpha import: %s: %s\n", dir, strerror(errno));
  }
  rc = LA_CLI_LOCAL; /* from here on, failures are the database's */
  if (la_store_open(o->db, &st, &err) ||
      la_store_create_sweep(st, spec, owner, &sweep, &err)) {
    fprintf(stderr, "loralpha import: %s\n", err.msg);
    goto cleanup;
  }
  ids = calloc(spec->n_runs, sizeof *ids);
  if (ids == NULL || la_sdb_run_ids(st, sweep, ids, spec->n_runs)) {
    fprintf(stderr, "loralpha import: cannot read the sweep's runs\n");
    goto cleanup;
  }
  for (size_t i = 0; i < spec->n_runs; i++)
    if (import_run(st, o->arg, i, ids[i], &ok)) goto cleanup;
  printf("%lld\n", (long long)sweep);
  fprintf(stderr,
          "loralpha import: sweep %lld '%s' in %s: %d of %zu runs finished\n",
          (long long)sweep, spec->name, o->db, ok, spec->n_runs);
  rc = LA_CLI_OK;
cleanup:
  free(ids);
  la_store_close(st);
  json_decref(raw);
  la_spec_free(spec);
  return rc;
}

int la_cli_slurm_main(int argc, char **argv) {
  xopts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc == SHOWN ? LA_CLI_OK : rc;
  return strcmp(o.cmd, "import") == 0 ? do_import(&o) : do_export(&o);
}
