/*
 * bench_common.h: the benchmark's shapes, their worker config and FLOP
 * count, and a warm timing loop. Shared by bench_worker.c and
 * bench_profile.c (header-only; each program includes it once).
 */
#ifndef LA_BENCH_COMMON_H
#define LA_BENCH_COMMON_H

#include "loralpha/config.h"
#include "task.h"
#include "train.h"

#include <cblas.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_REPEATS 64

/* ---- shapes -------------------------------------------------------------- */

typedef struct bench_shape {
  const char *name;
  int d, L, batch, r;
} bench_shape;

/* mlp widths [d] * (L + 1), mse, AdamW, relu, threads 1. Keep in step with
 * SHAPES in torch_step.py (run_bench.py checks that both sides agree). */
static const bench_shape BENCH_SHAPES[] = {
    {"small", 128, 3, 64, 4},
    {"mid", 256, 5, 128, 8},
    {"large", 1024, 4, 128, 16},
};
#define BENCH_N_SHAPES (int)(sizeof BENCH_SHAPES / sizeof BENCH_SHAPES[0])

static inline const bench_shape *bench_find_shape(const char *name) {
  for (int i = 0; i < BENCH_N_SHAPES; i++)
    if (strcmp(BENCH_SHAPES[i].name, name) == 0) return &BENCH_SHAPES[i];
  return NULL;
}

static inline json_t *bench_widths_json(const bench_shape *s) {
  json_t *w = json_array();
  for (int l = 0; l <= s->L; l++)
    json_array_append_new(w, json_integer(s->d));
  return w;
}

/* The run's config: the shape, plus fixed settings that do not change the
 * cost of a step (alpha = 2r, lr 1e-3, n_train 4096, n_eval 1024, no
 * sharpness). steps is large so la_trainer_step never passes the end of the
 * schedule. */
static inline json_t *bench_config(const bench_shape *s) {
  return json_pack(
      "{s:s, s:o, s:s, s:s, s:s, s:i, s:f, s:f, s:i, s:i, s:i, s:b, s:i, s:i}",
      "task", "mlp", "widths", bench_widths_json(s), "activation", "relu",
      "loss", "mse", "optimizer", "adamw", "rank", s->r, "alpha", 2.0 * s->r,
      "lr", 1e-3, "batch", s->batch, "steps", 100000000, "threads", 1,
      "sharpness", 0, "n_train", 4096, "n_eval", 1024);
}

/* FLOPs of one training step of the LoRA model: its matrix products only
 * (the activation, the loss and AdamW are O(n d) and O(params) and are not
 * counted). With n = batch rows and layer l of shape (din, dout), rank r:
 *
 *   forward    z  = h W0^T          2 n din dout
 *              u  = h A^T           2 n din r
 *              z += s u B^T         2 n r dout
 *   backward   gB = s gz^T u        2 dout r n
 *              gu = s gz B          2 n dout r
 *              gA = gu^T h          2 r din n
 *   (l > 0)    gh = gz W0           2 n dout din
 *              gh += gu A           2 n r din
 *
 *   flops = sum_l [ 2n (din dout + din r + r dout)
 *                 + 2n (dout r + dout r + r din)
 *                 + [l > 0] 2n (dout din + r din) ]
 */
static inline double bench_step_flops(const bench_shape *s) {
  double n = s->batch, r = s->r, f = 0;
  for (int l = 0; l < s->L; l++) {
    double din = s->d, dout = s->d;
    f += 2 * n * din * dout + 2 * n * din * r + 2 * n * r * dout; /* forward */
    f += 2 * dout * r * n + 2 * n * dout * r + 2 * r * din * n;   /* gB gu gA */
    if (l > 0) f += 2 * n * dout * din + 2 * n * r * din;         /* gh */
  }
  return f;
}

/* ---- the worker's run ------------------------------------------------------
 */

typedef struct bench_run {
  json_t *root;
  la_config cfg;
  la_task task;
  la_trainer *tr;
  double last_loss;
} bench_run;

static inline void bench_run_free(bench_run *R) {
  la_trainer_free(R->tr);
  la_task_free(&R->task);
  json_decref(R->root);
  memset(R, 0, sizeof *R);
}

/* Parses the shape's config, builds its task and a trainer; 0 or -1. */
static inline int bench_run_init(bench_run *R, const bench_shape *s) {
  la_err err = {{0}};
  memset(R, 0, sizeof *R);
  R->root = bench_config(s);
  if (R->root == NULL) {
    fprintf(stderr, "bench: could not build the config of %s\n", s->name);
    return -1;
  }
  if (la_config_parse(R->root, &R->cfg, &err) ||
      la_task_build(&R->cfg, &R->task, &err) ||
      la_trainer_new(&R->cfg, &R->task, &R->tr, &err)) {
    fprintf(stderr, "bench: %s: %s\n", s->name, err.msg);
    bench_run_free(R);
    return -1;
  }
  return 0;
}

/* One training step: a work unit for bench_time. */
static inline void bench_step_work(void *ctx) {
  bench_run *R = ctx;
  R->last_loss = la_trainer_step(R->tr);
}

/* ---- memory -------------------------------------------------------------- */

/* A "Vm...:  N kB" field of /proc/self/status in bytes, or -1. */
static inline long long bench_status_bytes(const char *field) {
  char line[256];
  size_t fl = strlen(field);
  long long v = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
      v = atoll(line + fl + 1) * 1024;
      break;
    }
  }
  fclose(f);
  return v;
}

/* ---- timing ----------------------------------------------------------------
 */

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The CPU seconds the process has used (all its threads). */
static inline double bench_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static inline double bench_median(const double *v, int n) {
  double t[BENCH_MAX_REPEATS];
  memcpy(t, v, (size_t)n * sizeof *t);
  qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Something to time: fn(ctx) does one unit of work. */
typedef void (*bench_work_fn)(void *ctx);

typedef struct bench_timing {
  long warmup_units;
  int repeats;
  long units[BENCH_MAX_REPEATS];    /* units done in each repeat */
  double ms[BENCH_MAX_REPEATS];     /* its ms per unit */
  double cpu_ms[BENCH_MAX_REPEATS]; /* its CPU ms per unit */
  double ms_median;
} bench_timing;

/* Runs fn for `warmup` seconds (and at least 3 times), then `repeats` times
 * for at least min_time seconds each; per repeat, the ms per unit (wall
 * and CPU). */
static inline void bench_time(bench_work_fn fn, void *ctx, double warmup,
                              double min_time, int repeats, bench_timing *t) {
  double t0 = bench_now();
  long k = 0;
  memset(t, 0, sizeof *t);
  do {
    fn(ctx);
    k++;
  } while (bench_now() - t0 < warmup || k < 3);
  t->warmup_units = k;
  t->repeats = repeats;
  for (int i = 0; i < repeats; i++) {
    long u = 0;
    double s0 = bench_now(), c0 = bench_cpu_now(), el;
    do {
      fn(ctx);
      u++;
    } while ((el = bench_now() - s0) < min_time);
    t->units[i] = u;
    t->ms[i] = 1e3 * el / (double)u;
    t->cpu_ms[i] = 1e3 * (bench_cpu_now() - c0) / (double)u;
  }
  t->ms_median = bench_median(t->ms, repeats);
}

static inline json_t *bench_timing_json(const bench_timing *t) {
  json_t *o = json_object(), *ms = json_array(), *units = json_array();
  json_t *cpu = json_array();
  for (int i = 0; i < t->repeats; i++) {
    json_array_append_new(ms, json_real(t->ms[i]));
    json_array_append_new(cpu, json_real(t->cpu_ms[i]));
    json_array_append_new(units, json_integer(t->units[i]));
  }
  json_object_set_new(o, "warmup_units", json_integer(t->warmup_units));
  json_object_set_new(o, "repeat_ms", ms);
  json_object_set_new(o, "repeat_cpu_ms", cpu);
  json_object_set_new(o, "repeat_units", units);
  return o;
}

/* ---- options ---------------------------------------------------------------
 */

typedef struct bench_opts {
  const char *shape; /* a shape's name or "all" */
  double min_time;   /* seconds per measurement */
  double warmup;     /* seconds */
  int repeats;
} bench_opts;

/* Parses --shape, --min-time, --warmup, --repeats at argv[*i]; 1 if taken
 * (and *i advanced), 0 if not one of them, -1 if its value is missing. */
static inline int bench_common_arg(int argc, char **argv, int *i,
                                   bench_opts *o) {
  const char *a = argv[*i];
  if (strcmp(a, "--shape") && strcmp(a, "--min-time") &&
      strcmp(a, "--warmup") && strcmp(a, "--repeats"))
    return 0;
  if (*i + 1 >= argc) return -1;
  const char *v = argv[++*i];
  if (strcmp(a, "--shape") == 0)
    o->shape = v;
  else if (strcmp(a, "--min-time") == 0)
    o->min_time = atof(v);
  else if (strcmp(a, "--warmup") == 0)
    o->warmup = atof(v);
  else
    o->repeats = atoi(v);
  return 1;
}

/* Checks the common options; 0 or -1 with a message on stderr. */
static inline int bench_check_opts(const char *prog, const bench_opts *o) {
  if (o->repeats < 1 || o->repeats > BENCH_MAX_REPEATS || !(o->min_time > 0) ||
      !(o->warmup >= 0)) {
    fprintf(stderr, "%s: need 1 <= repeats <= %d, min-time > 0, warmup >= 0\n",
            prog, BENCH_MAX_REPEATS);
    return -1;
  }
  if (strcmp(o->shape, "all") != 0 && bench_find_shape(o->shape) == NULL) {
    fprintf(stderr, "%s: unknown shape %s (small, mid, large, all)\n", prog,
            o->shape);
    return -1;
  }
  return 0;
}

static inline int bench_shape_selected(const bench_opts *o,
                                       const bench_shape *s) {
  return strcmp(o->shape, "all") == 0 || strcmp(o->shape, s->name) == 0;
}

/* The BLAS library's identity, for the record. */
static inline json_t *bench_blas_json(void) {
  return json_pack("{s:s, s:s}", "corename", openblas_get_corename(), "config",
                   openblas_get_config());
}

#endif
