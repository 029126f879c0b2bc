/*
 * main.c: loralpha-worker, one LoRA training run.
 *
 *   loralpha-worker [--config FILE | --config -] [--check] [--summary]
 *                   [--estimate] [--memory-limit BYTES]
 *                   [--report-url URL --report-token-file FILE
 *                    [--report-retry SECONDS]] [--run-as USER]
 *   loralpha-worker --serve [--memory-limit BYTES] [--run-as USER]
 *
 * Reads the JSON config (stdin when no file is given), trains, and streams
 * JSON lines on stdout. Errors go to stderr as one JSON line
 * {"type":"error","error":"<field>: <problem>"} with exit code 2 for an
 * invalid config or usage, 1 for a failure while running. With
 * --report-url the records are POSTed to the daemon instead (remote.h);
 * exit code 3 when the daemon refused them. --run-as USER (runas.h) gives
 * up root for USER before anything else happens. --serve trains many runs
 * one after another, each from a request line on stdin, keeping the last
 * task's data and weights for the next run of the same task (task.h,
 * la_task_cache; docs/worker.md "Serving many runs").
 */
#include "blas.h"
#include "command.h"
#include "fanout.h"
#include "loralpha/command.h"
#include "loralpha/config.h"
#include "loralpha/resources.h"
#include "pack.h"
#include "remote.h"
#include "runas.h"
#include "summary.h"
#include "task.h"
#include "train.h"

#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_BAD_INPUT 2
#define EXIT_RUN_FAILED 1
#define SERVE_LINE_MAX (16ul << 20) /* a longer request line is refused */

typedef struct args {
  const char *config;     /* path, "-" or NULL (stdin) */
  int check;              /* validate config and data, then exit */
  int summary;            /* print a human-readable summary, not JSON lines */
  const char *report_url; /* POST records here (NULL: stdout) */
  const char *token_file; /* the run's token for report_url */
  double retry_s;         /* how long a batch is retried */
  const char *run_as;     /* --run-as USER, or NULL */
  int estimate;           /* print the memory estimate, then exit */
  unsigned long long mem_limit; /* --memory-limit: RLIMIT_DATA (0: none) */
  int serve;                    /* --serve: runs from request lines */
  const char *pretrain;         /* --pretrain OUT: the weights' file */
} args;

/* Writes {"type":"error","error":msg} on stderr; returns code. */
static int fail(int code, const char *msg) {
  la_put_error(stderr, -1, msg);
  return code;
}

static void usage(FILE *f) {
  fputs("usage: loralpha-worker [--config FILE|-] [--check] [--summary]\n"
        "Trains one LoRA run from a JSON config (stdin by default) and writes\n"
        "one JSON record per line on stdout. --check validates the config and\n"
        "its data files and prints the effective config; --summary prints a\n"
        "readable curve summary instead of records. --report-url URL\n"
        "--report-token-file FILE [--report-retry SECONDS] POSTs the records\n"
        "to the daemon instead (docs/slurm.md). --run-as USER (root only)\n"
        "runs as USER, with USER's groups, before reading anything.\n"
        "--estimate prints the run's memory estimate; --memory-limit\n"
        "BYTES caps the worker's data (RLIMIT_DATA). --serve trains one run\n"
        "per request line on stdin ({\"type\":\"run\",\"config\":{...}}),\n"
        "each ending with its done or error record. --pretrain OUT trains\n"
        "every weight of a task gpt config's base and writes them to OUT\n"
        "(safetensors). See docs/worker.md.\n",
        f);
}

/* The report options (--report-*): 0, LA_EINVAL (err filled), or 1 when
 * argv[*i] is not one of them. */
static int parse_report(int argc, char **argv, int *i, args *a, la_err *err) {
  const char *f = argv[*i];
  char *end;
  if (strncmp(f, "--report-", 9) != 0) return 1;
  if (*i + 1 >= argc) return la_errf(err, LA_EINVAL, "%.64s: needs a value", f);
  if (strcmp(f, "--report-url") == 0) {
    a->report_url = argv[++*i];
  } else if (strcmp(f, "--report-token-file") == 0) {
    a->token_file = argv[++*i];
  } else if (strcmp(f, "--report-retry") == 0) {
    a->retry_s = strtod(argv[++*i], &end);
    if (*end || end == argv[*i] || !(a->retry_s >= 1 && a->retry_s <= 86400))
      return la_errf(err, LA_EINVAL,
                     "--report-retry: '%.64s' is not a number of "
                     "seconds in 1..86400",
                     argv[*i]);
  } else {
    return la_errf(err, LA_EINVAL, "%.64s: unknown argument (see --help)", f);
  }
  return 0;
}

/* A byte count in 1 MiB..2^50; 0, or LA_EINVAL when s is not one. */
static int parse_bytes(const char *s, unsigned long long *out) {
  char *end;
  unsigned long long v;
  if (*s < '0' || *s > '9') return LA_EINVAL;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v < (1ull << 20) || v > (1ull << 50)) return LA_EINVAL;
  *out = v;
  return 0;
}

/* Makes every OpenBLAS thread allocate its buffer now: one product past
 * OpenBLAS's thresholds for its small-matrix kernels and for splitting over
 * threads (M N K > 2^20), yet of few flops (4 M). OpenBLAS retries a failed
 * buffer allocation for ever, so under the cap it must never be the one to
 * fail. Every worker the daemon starts pays for it, and its cost is mostly
 * the first touch of fresh pages: the square shape and one zero matrix read
 * as both factors touch few (39 page faults more than a worker without the
 * cap, against 89 for 256 x 256 x 32 with three matrices; 0.6 ms less per
 * worker here, bench/daemon_README.md). */
static int warm_blas(void) {
  enum { N = 128 };
  float *ab = calloc((size_t)N * N, sizeof *ab);
  float *c = calloc((size_t)N * N, sizeof *c);
  int rc = ab != NULL && c != NULL ? 0 : LA_ENOMEM;
  if (rc == 0)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, ab, N,
                ab, N, 0, c, N);
  free(ab);
  free(c);
  return rc;
}

/* Caps the worker's data segment and private mappings at limit bytes
 * (RLIMIT_DATA: RLIMIT_AS would also count what the libraries map and what
 * malloc's thread arenas reserve without using), after OpenBLAS has its
 * buffers. */
static int cap_memory(unsigned long long limit, la_err *err) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  /* a sanitizer's shadow memory is terabytes of data mappings: no cap */
  (void)limit, (void)err, (void)warm_blas;
  return 0;
#else
  struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
  if (warm_blas())
    return la_errf(err, LA_ENOMEM, "--memory-limit: out of memory");
  if (setrlimit(RLIMIT_DATA, &rl) != 0)
    return la_errf(err, LA_EIO, "--memory-limit: setrlimit: %s",
                   strerror(errno));
  return 0;
#endif
}

/* An allocation failure under the cap said in words: the run outgrew its
 * memory limit (the daemon's max_run_memory plus slack). */
static void explain_oom(const args *a, const la_config *cfg, int rc,
                        la_err *err) {
  la_mem_estimate est;
  char was[sizeof err->msg];
  if (rc != LA_ENOMEM || a->mem_limit == 0) return;
  la_config_memory(cfg, &est);
  snprintf(was, sizeof was, "%s", err->msg);
  la_errf(err, LA_ENOMEM,
          "memory: the run needs more than its memory limit of %llu MiB "
          "(the daemon's max_run_memory plus slack; estimate %llu MiB%s%s%s): "
          "%.300s",
          a->mem_limit >> 20, (unsigned long long)(est.bytes >> 20),
          est.known ? ", driven by " : " without the npy files' data",
          est.known ? est.field : "", "", was);
}

/* Prints the memory and rows estimate of cfg as one JSON line. */
static void print_estimate(const la_config *cfg) {
  la_mem_estimate est;
  const char *rows_field;
  uint64_t rows = la_config_rows(cfg, &rows_field);
  json_t *o;
  la_config_memory(cfg, &est);
  o = json_pack("{s:I, s:s, s:b, s:I, s:s}", "memory_bytes",
                (json_int_t)est.bytes, "memory_field", est.field, "known",
                est.known, "rows", (json_int_t)rows, "rows_field", rows_field);
  json_dumpf(o, stdout, JSON_COMPACT);
  fputc('\n', stdout);
  json_decref(o);
}

/* Parses argv; returns 0, 1 (help printed, exit 0) or LA_EINVAL (a usage
 * error, err filled). */
static int parse_args(int argc, char **argv, args *a, la_err *err) {
  int rc;
  memset(a, 0, sizeof *a);
  a->retry_s = 600;
  for (int i = 1; i < argc; i++) {
    if ((rc = parse_report(argc, argv, &i, a, err)) <= 0) {
      if (rc < 0) return rc;
    } else if (strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc)
        return la_errf(err, LA_EINVAL, "--config: needs a file path or -");
      a->config = argv[++i];
    } else if (strcmp(argv[i], "--run-as") == 0) {
      if (i + 1 >= argc || a->run_as != NULL)
        return la_errf(err, LA_EINVAL,
                       "--run-as: needs one user name, given once");
      a->run_as = argv[++i]; /* done first thing in main */
    } else if (strcmp(argv[i], "--check") == 0) {
      a->check = 1;
    } else if (strcmp(argv[i], "--summary") == 0) {
      a->summary = 1;
    } else if (strcmp(argv[i], "--estimate") == 0) {
      a->estimate = 1;
    } else if (strcmp(argv[i], "--serve") == 0) {
      a->serve = 1;
    } else if (strcmp(argv[i], "--pretrain") == 0) {
      if (i + 1 >= argc || a->pretrain != NULL)
        return la_errf(err, LA_EINVAL,
                       "--pretrain: needs one output path (.safetensors)");
      a->pretrain = argv[++i];
    } else if (strcmp(argv[i], "--memory-limit") == 0) {
      if (i + 1 >= argc || parse_bytes(argv[++i], &a->mem_limit))
        return la_errf(err, LA_EINVAL,
                       "--memory-limit: needs a number of bytes in "
                       "1048576..2^50");
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 1;
    } else if (strcmp(argv[i], "--version") == 0) {
      puts("loralpha-worker 0.1.0");
      return 1;
    } else {
      return la_errf(err, LA_EINVAL, "%.200s: unknown argument (see --help)",
                     argv[i]);
    }
  }
  if (!a->report_url != !a->token_file)
    return la_errf(err, LA_EINVAL,
                   "--report-url and --report-token-file go together");
  if (a->report_url && a->summary)
    return la_errf(err, LA_EINVAL,
                   "--summary and --report-url exclude each other");
  if (a->serve && (a->config || a->check || a->summary || a->estimate ||
                   a->report_url || a->pretrain))
    return la_errf(err, LA_EINVAL,
                   "--serve: runs come from stdin; --config, --check, "
                   "--summary, --estimate, --report-url and --pretrain do "
                   "not apply");
  return 0;
}

/* Loads the config JSON from the file or stdin. New reference or NULL. */
static json_t *load_json(const char *path, la_err *err) {
  json_error_t je;
  json_t *root;
  int from_stdin = path == NULL || strcmp(path, "-") == 0;
  if (from_stdin) {
    root = json_loadf(stdin, JSON_REJECT_DUPLICATES, &je);
  } else {
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL) {
      la_errf(err, LA_EIO, "config: cannot open %.300s: %s", path,
              strerror(errno));
      return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
      fclose(f);
      la_errf(err, LA_EIO, "config: %.300s is a directory, not a config file",
              path);
      return NULL;
    }
    root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
  }
  if (root == NULL)
    la_errf(err, LA_EINVAL, "config: invalid JSON at line %d, column %d: %s",
            je.line, je.column, je.text);
  return root;
}

/* Runs the trainer with its records POSTed to the daemon; a failure is also
 * sent, as the error record the daemon keeps for the run. */
static int train_remote(la_trainer *tr, const args *a, const la_config *cfg,
                        la_err *err) {
  la_remote *r;
  FILE *out;
  int rc;
  if (la_remote_open(a->report_url, a->token_file, a->retry_s, &r, &out, err))
    return fail(EXIT_BAD_INPUT, err->msg);
  rc = la_trainer_run(tr, out, err);
  if (rc) {
    explain_oom(a, cfg, rc, err);
    la_put_error(out, -1, err->msg);
    fail(EXIT_RUN_FAILED, err->msg);
  }
  if (la_remote_close(r, err)) return fail(EXIT_RUN_FAILED, err->msg);
  return rc ? EXIT_RUN_FAILED : 0;
}

/* Runs the trainer, writing records to stdout, or (summary) to a temporary
 * file that is then summarised on stdout. */
static int train(la_trainer *tr, const args *a, const la_config *cfg,
                 la_err *err) {
  int summary = a->summary;
  FILE *out = summary ? tmpfile() : stdout;
  int rc;
  if (out == NULL)
    return fail(EXIT_RUN_FAILED, "summary: cannot create a temporary file");
  rc = la_trainer_run(tr, out, err);
  explain_oom(a, cfg, rc, err);
  if (summary) {
    rewind(out);
    if (rc == 0) la_summary_print(out, stdout);
    fclose(out);
  }
  return rc ? fail(EXIT_RUN_FAILED, err->msg) : 0;
}

/* A config that says pretrain needs --pretrain OUT (where the weights go). */
static int check_pretrain(const args *a, const la_config *cfg, la_err *err) {
  if (cfg->pretrain && a->pretrain == NULL)
    return la_errf(err, LA_EINVAL,
                   "pretrain: needs --pretrain OUT.safetensors (where the "
                   "trained weights go)");
  return 0;
}

/* A pack request given as the config ({"type":"pack","configs":[...]},
 * docs/worker.md "Packed variants"): its runs trained in one pass, their
 * records on stdout or, with --report-url, each POSTed as its run's (the
 * URL and token file with "{run}" for the run's id: fanout.h). */
static int run_pack(const args *a, const json_t *root) {
  const json_t *configs = json_object_get(root, "configs");
  const json_t *raw[LA_PACK_MAX];
  int64_t ids[LA_PACK_MAX];
  la_task_cache tc;
  la_fanout *f = NULL;
  la_err err = {{0}};
  FILE *out = stdout;
  int n = (int)json_array_size(configs), rc = 0;
  memset(&tc, 0, sizeof tc);
  if (a->check || a->summary || a->estimate || a->pretrain)
    return fail(EXIT_BAD_INPUT,
                "config: a pack request is trained as it is: not with "
                "--check, --summary, --estimate or --pretrain");
  if (a->mem_limit && cap_memory(a->mem_limit, &err))
    return fail(EXIT_RUN_FAILED, err.msg);
  if (a->report_url) { /* its runs' ids name their reporters */
    if (n < 1 || n > LA_PACK_MAX)
      return fail(EXIT_BAD_INPUT, "configs: a pack holds 1..64 runs");
    for (int i = 0; i < n; i++)
      if (!json_is_object(raw[i] = json_array_get(configs, (size_t)i)))
        return fail(EXIT_BAD_INPUT, "configs: each run's config is an object");
    if (la_pack_check_run_ids(raw, n, &err))
      return fail(EXIT_BAD_INPUT, err.msg);
    for (int i = 0; i < n; i++)
      ids[i] = json_integer_value(json_object_get(raw[i], "run_id"));
    if (la_fanout_open(a->report_url, a->token_file, a->retry_s, ids, n, &f,
                       &out, &err))
      return fail(EXIT_BAD_INPUT, err.msg);
  }
  la_pack_serve(root, &tc, out); /* every run ends with done or error */
  fflush(out);
  if (f != NULL) rc = la_fanout_close(f, &err);
  la_task_cache_free(&tc);
  return rc ? fail(EXIT_RUN_FAILED, err.msg) : 0;
}

/* Is root a pack request? */
static int is_pack(const json_t *root) {
  const char *type = json_string_value(json_object_get(root, "type"));
  return type != NULL && strcmp(type, "pack") == 0;
}

/* a's report URL and token file for the run of root: "{run}" in them
 * replaced by its run_id (the Slurm executor names them so). 0, or
 * LA_EINVAL (err filled). */
static int report_for_run(args *a, const json_t *root, char *url,
                          size_t url_size, char *token, size_t token_size,
                          la_err *err) {
  const json_t *id = json_object_get(root, "run_id");
  int rc;
  if (a->report_url == NULL || (strstr(a->report_url, "{run}") == NULL &&
                                strstr(a->token_file, "{run}") == NULL))
    return 0;
  if (!json_is_integer(id) || json_integer_value(id) < 0)
    return la_errf(err, LA_EINVAL,
                   "run_id: needed for \"{run}\" in --report-url and "
                   "--report-token-file");
  if ((rc = la_fanout_subst(a->report_url, json_integer_value(id), url,
                            url_size, err)) ||
      (rc = la_fanout_subst(a->token_file, json_integer_value(id), token,
                            token_size, err)))
    return rc;
  a->report_url = url, a->token_file = token;
  return 0;
}

/* A command task's trainer is the user's own program: the worker cannot
 * stop it at an update or replay it, so a stint's fields are refused. 0, or
 * LA_EINVAL (err filled). */
static int check_command_stint(const json_t *root, la_err *err) {
  static const char *const keys[] = {"stop_at", "resume_at"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (json_object_get(root, keys[i]) != NULL)
      return la_errf(err, LA_EINVAL,
                     "%s: not for task 'command' (its trainer is the user's "
                     "own program: the worker cannot stop or resume it)",
                     keys[i]);
  return 0;
}

/* Validates everything a run needs, then trains or (check) prints. */
static int run(const args *given) {
  la_err err = {{0}};
  la_config cfg;
  la_task task = {0};
  la_trainer *tr = NULL;
  json_t *root = load_json(given->config, &err);
  args copy = *given, *a = &copy;
  char url[2048], token[PATH_MAX];
  int code = EXIT_BAD_INPUT, rc;
  if (root == NULL) return fail(code, err.msg);
  if (is_pack(root)) {
    code = run_pack(a, root);
    goto cleanup;
  }
  if (report_for_run(a, root, url, sizeof url, token, sizeof token, &err)) {
    code = fail(EXIT_BAD_INPUT, err.msg);
    goto cleanup;
  }
  if (la_command_is(root)) { /* a user's trainer: checked, or run instead */
    la_cmd_report rep = {a->report_url, a->token_file, a->retry_s};
    code = check_command_stint(root, &err)
               ? fail(EXIT_BAD_INPUT, err.msg)
               : la_worker_command(root, a->check, a->mem_limit,
                                   a->report_url ? &rep : NULL);
    goto cleanup;
  }
  if (a->pretrain) json_object_set_new(root, "pretrain", json_true());
  if (la_config_parse(root, &cfg, &err) || check_pretrain(a, &cfg, &err)) {
    code = fail(EXIT_BAD_INPUT, err.msg);
    goto cleanup;
  }
  if (a->estimate) {
    print_estimate(&cfg);
    code = 0;
    goto cleanup;
  }
  openblas_set_num_threads(cfg.threads);
  if (a->mem_limit && cap_memory(a->mem_limit, &err)) {
    code = fail(EXIT_RUN_FAILED, err.msg);
    goto cleanup;
  }
  if ((rc = la_task_build(&cfg, &task, &err))) {
    explain_oom(a, &cfg, rc, &err);
    code = fail(rc == LA_ENOMEM ? EXIT_RUN_FAILED : EXIT_BAD_INPUT, err.msg);
    goto cleanup;
  }
  if (a->check) {
    json_t *eff = la_config_to_json(&cfg);
    json_dumpf(eff, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(eff);
    code = 0;
  } else if ((rc = la_trainer_new(&cfg, &task, &tr, &err))) {
    explain_oom(a, &cfg, rc, &err);
    code = fail(EXIT_RUN_FAILED, err.msg);
  } else if (a->report_url) {
    code = train_remote(tr, a, &cfg, &err);
  } else {
    code = train(tr, a, &cfg, &err);
  }
  if (code == 0 && a->pretrain && !a->check &&
      la_trainer_save_gpt(tr, a->pretrain, &err))
    code = fail(EXIT_RUN_FAILED, err.msg);
cleanup:
  la_trainer_free(tr);
  la_task_free(&task);
  json_decref(root);
  return code;
}

/* The run of one request line (--serve): its records on stdout, ending
 * with done, or with an error record when the request, the config, the
 * task or the training fails. The task is kept in tc for the next run. */
static void serve_one(const args *a, la_task_cache *tc, const char *line,
                      size_t len) {
  la_err err = {{0}};
  la_config cfg;
  la_trainer *tr = NULL;
  const la_task *task;
  json_error_t je;
  json_t *req = NULL, *config;
  const char *type;
  int rc = LA_EINVAL, hit;
  if (len > SERVE_LINE_MAX) {
    la_errf(&err, LA_EINVAL, "request: longer than %lu bytes", SERVE_LINE_MAX);
    goto done;
  }
  req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (req == NULL) {
    la_errf(&err, LA_EINVAL, "request: invalid JSON at column %d: %s",
            je.column, je.text);
    goto done;
  }
  type = json_string_value(json_object_get(req, "type"));
  config = json_object_get(req, "config");
  if (json_is_object(req) && type != NULL && strcmp(type, "pack") == 0) {
    la_pack_serve(req, tc, stdout); /* its runs' records and errors */
    rc = 0;
    goto done;
  }
  if (!json_is_object(req) || type == NULL || strcmp(type, "run") != 0) {
    la_errf(&err, LA_EINVAL, "request: type: must be \"run\" or \"pack\"");
    goto done;
  }
  if (!json_is_object(config) || json_object_size(req) != 2) {
    la_errf(&err, LA_EINVAL,
            "request: must be {\"type\":\"run\",\"config\":{...}}");
    goto done;
  }
  if ((rc = la_config_parse(config, &cfg, &err)) != 0) goto done;
  if (cfg.pretrain) { /* --serve has no place for the weights */
    rc = la_errf(&err, LA_EINVAL, "pretrain: not with --serve");
    goto done;
  }
  openblas_set_num_threads(cfg.threads);
  rc = la_task_cache_get(tc, &cfg, &task, &hit, &err);
  if (rc == 0) rc = la_trainer_new(&cfg, task, &tr, &err);
  if (rc == 0) rc = la_trainer_run(tr, stdout, &err);
  if (rc) explain_oom(a, &cfg, rc, &err);
done:
  if (rc) la_put_error(stdout, -1, err.msg);
  fflush(stdout);
  la_trainer_free(tr);
  json_decref(req);
}

/* --serve: one run per request line on stdin until its end. */
static int serve(const args *a) {
  la_task_cache tc;
  la_err err = {{0}};
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  memset(&tc, 0, sizeof tc);
  if (a->mem_limit && cap_memory(a->mem_limit, &err))
    return fail(EXIT_RUN_FAILED, err.msg);
  while ((n = getline(&line, &cap, stdin)) > 0) {
    if (n == 1 && line[0] == '\n') continue;
    serve_one(a, &tc, line, (size_t)n);
  }
  free(line);
  la_task_cache_free(&tc);
  return 0;
}

/* A worker the daemon started (LORALPHA_DAEMON_PID names it) dies with it:
 * the kernel sends SIGKILL when the parent exits, and a daemon that died
 * before this call (the worker was reparented already) is caught by
 * comparing the parent's PID. 0 to go on, 1 to exit now (the daemon is
 * gone), or an LA_E* code (err filled) when the request cannot be honoured
 * (LA_EINVAL: a bad LORALPHA_DAEMON_PID; LA_EIO: prctl failed). The kernel
 * clears the parent-death signal when the credentials change: any setuid or
 * setgid must come before this call. */
static int die_with_daemon(la_err *err) {
  const char *v = getenv("LORALPHA_DAEMON_PID");
  char *end;
  long pid;
  if (v == NULL) return 0; /* started by hand or by Slurm */
  pid = strtol(v, &end, 10);
  if (end == v || *end != '\0' || pid <= 1)
    return la_errf(err, LA_EINVAL, "LORALPHA_DAEMON_PID: '%.32s' is not a PID",
                   v);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    return la_errf(err, LA_EIO, "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
  return getppid() == (pid_t)pid ? 0 : 1;
}

/* --run-as USER, before anything is opened or read (runas.h); the options
 * that take a value are skipped as parse_args does. 0, or an exit code. */
static int run_as_first(int argc, char **argv) {
  la_err err = {{0}};
  int rc;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--run-as") == 0) {
      if (i + 1 >= argc) return 0; /* parse_args reports it */
      rc = la_runas(argv[i + 1], &err);
      if (rc == 0) return 0;
      return fail(rc == LA_EINVAL ? EXIT_BAD_INPUT : EXIT_RUN_FAILED, err.msg);
    }
    if (strcmp(argv[i], "--config") == 0 ||
        strncmp(argv[i], "--report-", 9) == 0)
      i++;
  }
  return 0;
}

int main(int argc, char **argv) {
  args a;
  la_err err = {{0}};
  int rc;
  /* first: credentials change here (a parent-death signal set before it
   * would be cleared by the kernel) */
  if ((rc = run_as_first(argc, argv)) != 0) return rc;
  if ((rc = die_with_daemon(&err)) != 0)
    return fail(EXIT_RUN_FAILED, rc > 0 ? "the daemon that started this "
                                          "worker is gone: not training"
                                        : err.msg);
  la_blas_tune(argv);
  rc = parse_args(argc, argv, &a, &err);
  if (rc > 0) return 0;
  if (rc < 0) return fail(EXIT_BAD_INPUT, err.msg);
  return a.serve ? serve(&a) : run(&a);
}
