/*
 * main.c: loralpha-worker, one LoRA training run.
 *
 *   loralpha-worker [--config FILE | --config -] [--check] [--summary]
 *
 * Reads the JSON config (stdin when no file is given), trains, and streams
 * JSON lines on stdout. Errors go to stderr as one JSON line
 * {"type":"error","error":"<field>: <problem>"} with exit code 2 for an
 * invalid config or usage, 1 for a failure while running.
 */
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "loralpha/config.h"
#include "loralpha/summary.h"
#include "loralpha/task.h"
#include "loralpha/train.h"

#define EXIT_BAD_INPUT 2
#define EXIT_RUN_FAILED 1

typedef struct args {
  const char *config; /* path, "-" or NULL (stdin) */
  int check;          /* validate config and data, then exit */
  int summary;        /* print a human-readable summary, not JSON lines */
} args;

/* Writes {"type":"error","error":msg} on stderr; returns code. */
static int fail(int code, const char *msg) {
  json_t *rec = json_pack("{s:s, s:s}", "type", "error", "error", msg);
  if (rec != NULL) {
    json_dumpf(rec, stderr, JSON_COMPACT);
    json_decref(rec);
  } else {
    fputs("{\"type\":\"error\",\"error\":\"(message not encodable)\"}", stderr);
  }
  fputc('\n', stderr);
  return code;
}

static void usage(FILE *f) {
  fputs("usage: loralpha-worker [--config FILE|-] [--check] [--summary]\n"
        "Trains one LoRA run from a JSON config (stdin by default) and writes\n"
        "one JSON record per line on stdout. --check validates the config and\n"
        "its data files and prints the effective config; --summary prints a\n"
        "readable curve summary instead of records. See docs/worker.md.\n",
        f);
}

/* Parses argv; returns 0, 1 (help printed, exit 0) or -1 (usage error). */
static int parse_args(int argc, char **argv, args *a, la_err *err) {
  memset(a, 0, sizeof *a);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc) return la_errf(err, -1, "--config: needs a file path or -");
      a->config = argv[++i];
    } else if (strcmp(argv[i], "--check") == 0) {
      a->check = 1;
    } else if (strcmp(argv[i], "--summary") == 0) {
      a->summary = 1;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 1;
    } else if (strcmp(argv[i], "--version") == 0) {
      puts("loralpha-worker 0.1.0");
      return 1;
    } else {
      return la_errf(err, -1, "%.200s: unknown argument (see --help)", argv[i]);
    }
  }
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
    if (f == NULL) {
      la_errf(err, LA_EIO, "config: cannot open %.300s: %s", path, strerror(errno));
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

/* Runs the trainer, writing records to stdout, or (summary) to a temporary
 * file that is then summarised on stdout. */
static int train(la_trainer *tr, int summary, la_err *err) {
  FILE *out = summary ? tmpfile() : stdout;
  int rc;
  if (out == NULL) return fail(EXIT_RUN_FAILED, "summary: cannot create a temporary file");
  rc = la_trainer_run(tr, out, err);
  if (summary) {
    rewind(out);
    if (rc == 0) la_summary_print(out, stdout);
    fclose(out);
  }
  return rc ? fail(EXIT_RUN_FAILED, err->msg) : 0;
}

/* Validates everything a run needs, then trains or (check) prints. */
static int run(const args *a) {
  la_err err = {{0}};
  la_config cfg;
  la_task task = {0};
  la_trainer *tr = NULL;
  json_t *root = load_json(a->config, &err);
  int code = EXIT_BAD_INPUT;
  if (root == NULL) return fail(code, err.msg);
  if (la_config_parse(root, &cfg, &err) || la_task_build(&cfg, &task, &err)) {
    code = fail(EXIT_BAD_INPUT, err.msg);
    goto cleanup;
  }
  openblas_set_num_threads(cfg.threads);
  if (a->check) {
    json_t *eff = la_config_to_json(&cfg);
    json_dumpf(eff, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(eff);
    code = 0;
  } else if (la_trainer_new(&cfg, &task, &tr, &err)) {
    code = fail(EXIT_RUN_FAILED, err.msg);
  } else {
    code = train(tr, a->summary, &err);
  }
cleanup:
  la_trainer_free(tr);
  la_task_free(&task);
  json_decref(root);
  return code;
}

int main(int argc, char **argv) {
  args a;
  la_err err = {{0}};
  int rc = parse_args(argc, argv, &a, &err);
  if (rc > 0) return 0;
  if (rc < 0) return fail(EXIT_BAD_INPUT, err.msg);
  return run(&a);
}
