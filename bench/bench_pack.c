/*
 * bench_pack.c: one training step of K packed variants (pack.h) against
 * one step of one run alone, measured in the same invocation.
 *
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_pack [--k 15] [--d 512]
 *       [--ranks 1,4,8,16] [--batch 64] [--rounds 3] [--repeats 5]
 *       [--min-time 0.3] [--warmup 0.2]
 *
 * The task is a teacher of d_in = d_out = d; the K variants share it, rank,
 * seed and batch and differ in alpha and lr (small enough to stay finite);
 * log_every 10, as the examples log. Per rank, each round times the run
 * alone (la_trainer_step), the exact pack and the stacked pack
 * (la_pack_step), in turn; the repeats of all rounds are pooled and their
 * medians taken. Prints one JSON line per rank, then a table with the
 * ratios pack / alone (the goal of issue 13: <= 3 for K = 15, d = 512) and
 * the ratio of the matrix products' FLOPs, which no pack can beat: the
 * frozen product 2 n d^2 is shared, the adapters' 10 n d r are not.
 */
#include "bench_common.h"
#include "blas.h"
#include "pack.h"

#define MAX_RANKS 8

typedef struct opts {
  int K, d, r, batch, rounds, repeats;
  double min_time, warmup;
  int ranks[MAX_RANKS], n_ranks;
} opts;

/* Parses "1,4,8" into o->ranks; 0, or -1 when it is not such a list. */
static int parse_ranks(const char *v, opts *o) {
  char *end;
  o->n_ranks = 0;
  do {
    long r = strtol(v, &end, 10);
    if (end == v || r < 1 || r > o->d || o->n_ranks == MAX_RANKS) return -1;
    o->ranks[o->n_ranks++] = (int)r;
    v = end + (*end == ',');
  } while (*end == ',');
  return *end ? -1 : 0;
}

/* Parses argv into o; 0, or 2 after printing a usage error. */
static int parse_opts(int argc, char **argv, opts *o) {
  const char *ranks = "1,4,8,16";
  *o = (opts){15, 512, 16, 64, 3, 5, 0.3, 0.2, {0}, 0};
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL) goto usage;
    i++;
    if (strcmp(f, "--k") == 0)
      o->K = atoi(v);
    else if (strcmp(f, "--d") == 0)
      o->d = atoi(v);
    else if (strcmp(f, "--ranks") == 0)
      ranks = v;
    else if (strcmp(f, "--batch") == 0)
      o->batch = atoi(v);
    else if (strcmp(f, "--rounds") == 0)
      o->rounds = atoi(v);
    else if (strcmp(f, "--repeats") == 0)
      o->repeats = atoi(v);
    else if (strcmp(f, "--min-time") == 0)
      o->min_time = strtod(v, NULL);
    else if (strcmp(f, "--warmup") == 0)
      o->warmup = strtod(v, NULL);
    else
      goto usage;
  }
  if (o->K >= 1 && o->K <= LA_PACK_MAX && o->d >= 1 &&
      parse_ranks(ranks, o) == 0 && o->batch >= 1 && o->rounds >= 1 &&
      o->repeats >= 1 && o->rounds * o->repeats <= BENCH_MAX_REPEATS &&
      o->min_time > 0)
    return 0;
usage:
  fprintf(stderr,
          "usage: bench_pack [--k 1..%d] [--d D] [--ranks R,R,...] "
          "[--batch N] [--rounds N] [--repeats N] [--min-time S] "
          "[--warmup S] (rounds x repeats <= %d)\n",
          LA_PACK_MAX, BENCH_MAX_REPEATS);
  return 2;
}

/* Variant k's config: the teacher, rank, batch, seed shared; alpha and lr
 * its own. */
static json_t *variant(const opts *o, int k) {
  return json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:i, s:i, s:i, s:b, s:i, "
                   "s:i, s:i, s:I}",
                   "task", "teacher", "d_in", o->d, "d_out", o->d, "rank", o->r,
                   "alpha", 1.0 + k, "lr", 1e-4 / (1 + k % 3), "batch",
                   o->batch, "steps", 100000000, "threads", 1, "sharpness", 0,
                   "n_train", 4096, "n_eval", 1024, "log_every", 10, "run_id",
                   (json_int_t)k + 1);
}

/* Everything timed: the task, the run alone and the two packs. */
typedef struct bench {
  la_config cfg[LA_PACK_MAX];
  la_task task;
  la_trainer *alone;
  la_pack *exact, *stacked;
} bench;

static int setup(bench *b, const opts *o) {
  const json_t *raw[LA_PACK_MAX];
  json_t *objs[LA_PACK_MAX];
  la_err err = {{0}};
  int rc = 0;
  for (int k = 0; k < o->K; k++) {
    raw[k] = objs[k] = variant(o, k);
    if (rc == 0) rc = la_config_parse(objs[k], &b->cfg[k], &err);
  }
  if (rc == 0) rc = la_pack_check(raw, b->cfg, o->K, &err);
  if (rc == 0) rc = la_task_build(&b->cfg[0], &b->task, &err);
  if (rc == 0) rc = la_trainer_new(&b->cfg[0], &b->task, &b->alone, &err);
  if (rc == 0) rc = la_pack_new(b->cfg, o->K, &b->task, 0, &b->exact, &err);
  if (rc == 0) rc = la_pack_new(b->cfg, o->K, &b->task, 1, &b->stacked, &err);
  for (int k = 0; k < o->K; k++)
    json_decref(objs[k]);
  if (rc) fprintf(stderr, "bench_pack: %s\n", err.msg);
  return rc;
}

static void step_alone(void *ctx) {
  la_trainer_step(((bench *)ctx)->alone);
}
static void step_exact(void *ctx) {
  la_pack_step(((bench *)ctx)->exact);
}
static void step_stacked(void *ctx) {
  la_pack_step(((bench *)ctx)->stacked);
}

/* Times the three at rank o->r: *out is a new JSON object of the medians
 * and ratios, or NULL when the setup failed (said on stderr). */
static void bench_rank(const opts *o, json_t **out) {
  static const bench_work_fn fns[3] = {step_alone, step_exact, step_stacked};
  double ms[3][BENCH_MAX_REPEATS], med[3];
  double n = o->batch, d = o->d, r = o->r;
  double flops = (2 * n * d * d + o->K * 10 * n * d * r) /
                 (2 * n * d * d + 10 * n * d * r);
  bench b;
  int k = 0;
  memset(&b, 0, sizeof b);
  *out = NULL;
  if (setup(&b, o) == 0) {
    for (int round = 0; round < o->rounds; round++, k += o->repeats)
      for (int w = 0; w < 3; w++) {
        bench_timing t;
        bench_time(fns[w], &b, o->warmup, o->min_time, o->repeats, &t);
        memcpy(ms[w] + k, t.ms, (size_t)o->repeats * sizeof(double));
      }
    for (int w = 0; w < 3; w++)
      med[w] = bench_median(ms[w], k);
    *out =
        json_pack("{s:i, s:i, s:i, s:i, s:s, s:f, s:f, s:f, s:f, s:f, s:f}",
                  "K", o->K, "d", o->d, "rank", o->r, "batch", o->batch,
                  "blas_core", la_blas_core(), "alone_ms", med[0], "exact_ms",
                  med[1], "stacked_ms", med[2], "exact_ratio", med[1] / med[0],
                  "stacked_ratio", med[2] / med[0], "flop_ratio", flops);
  }
  la_pack_free(b.exact);
  la_pack_free(b.stacked);
  la_trainer_free(b.alone);
  la_task_free(&b.task);
}

int main(int argc, char **argv) {
  json_t *lines[MAX_RANKS] = {0};
  opts o;
  int rc = parse_opts(argc, argv, &o);
  if (rc) return rc;
  openblas_set_num_threads(1);
  for (int i = 0; rc == 0 && i < o.n_ranks; i++) {
    o.r = o.ranks[i];
    bench_rank(&o, &lines[i]);
    if (lines[i] == NULL) return 1;
    json_dumpf(lines[i], stdout, JSON_COMPACT);
    fputc('\n', stdout);
  }
  printf("\nK = %d variants of a teacher d = %d, batch %d, log_every 10, "
         "core %s (medians of %d x %d); ratio = pack step / one run's step:\n"
         "  rank  alone ms  exact ms  ratio  stacked ms  ratio  FLOP ratio  "
         "goal <= 3x\n",
         o.K, o.d, o.batch, la_blas_core(), o.rounds, o.repeats);
  for (int i = 0; i < o.n_ranks && lines[i]; i++) {
    double x = json_real_value(json_object_get(lines[i], "exact_ratio"));
    printf("  %4d  %8.3f  %8.3f  %5.2f  %10.3f  %5.2f  %10.2f  %s\n",
           o.ranks[i], json_real_value(json_object_get(lines[i], "alone_ms")),
           json_real_value(json_object_get(lines[i], "exact_ms")), x,
           json_real_value(json_object_get(lines[i], "stacked_ms")),
           json_real_value(json_object_get(lines[i], "stacked_ratio")),
           json_real_value(json_object_get(lines[i], "flop_ratio")),
           x <= 3 ? "met" : "missed");
    json_decref(lines[i]);
  }
  return rc;
}
