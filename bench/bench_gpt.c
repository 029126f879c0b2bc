/*
 * bench_gpt.c: the task gpt LoRA step, timed, and its memory.
 *
 *     OPENBLAS_NUM_THREADS=1 build/bench/bench_gpt CONFIG [--min-time S]
 *         [--repeats N] [--warmup S]
 *
 * CONFIG is a task gpt run config (bench/gpt_bench.py writes one per
 * shape with its base and text). Prints one JSON line: the median ms of
 * one la_trainer_step (the next windows, forward, loss, backward, AdamW)
 * over the repeats, each of at least --min-time seconds after --warmup
 * seconds of steps, and per repeat the wall and the CPU ms of a step
 * (repeat_ms, repeat_cpu_ms); la_trainer_tensor_bytes; VmRSS before the
 * task is built (rss_base) and VmHWM after the steps (rss_peak).
 */
#include "bench_common.h"

/* The run of the config at path; 0 or -1 with the reason on stderr. */
static int init_run(bench_run *R, const char *path) {
  la_err err = {{0}};
  json_error_t je;
  memset(R, 0, sizeof *R);
  if ((R->root = json_load_file(path, 0, &je)) == NULL) {
    fprintf(stderr, "bench_gpt: %s: %s\n", path, je.text);
    return -1;
  }
  if (la_config_parse(R->root, &R->cfg, &err) ||
      la_task_build(&R->cfg, &R->task, &err) ||
      la_trainer_new(&R->cfg, &R->task, &R->tr, &err)) {
    fprintf(stderr, "bench_gpt: %s: %s\n", path, err.msg);
    bench_run_free(R);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  double min_time = 0.5, warmup = 0.3;
  int repeats = 5;
  bench_run R;
  bench_timing t;
  long long base;
  json_t *o;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--min-time") == 0) min_time = atof(argv[i + 1]);
    if (strcmp(argv[i], "--warmup") == 0) warmup = atof(argv[i + 1]);
    if (strcmp(argv[i], "--repeats") == 0) repeats = atoi(argv[i + 1]);
  }
  if (argc < 2 || repeats < 1 || repeats > BENCH_MAX_REPEATS) {
    fputs("usage: bench_gpt CONFIG [--min-time S] [--repeats N] "
          "[--warmup S]\n",
          stderr);
    return 2;
  }
  base = bench_status_bytes("VmRSS");
  if (init_run(&R, argv[1])) return 1;
  bench_time(bench_step_work, &R, warmup, min_time, repeats, &t);
  o = bench_timing_json(&t);
  json_object_set_new(o, "ms", json_real(t.ms_median));
  json_object_set_new(o, "loss", json_real(R.last_loss));
  json_object_set_new(o, "tensor_bytes",
                      json_integer((json_int_t)la_trainer_tensor_bytes(R.tr)));
  json_object_set_new(o, "rss_base", json_integer(base));
  json_object_set_new(o, "rss_peak", json_integer(bench_status_bytes("VmHWM")));
  json_dumpf(o, stdout, JSON_COMPACT);
  putchar('\n');
  json_decref(o);
  bench_run_free(&R);
  return 0;
}
