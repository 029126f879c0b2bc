/*
 * bench_worker.c: speed and memory of the worker's training step.
 *
 *   bench_worker [--shape small|mid|large|all] [--min-time S] [--repeats N]
 *                [--warmup S] [--no-sgemm] [--no-mem]
 *
 * For each shape (bench_common.h), prints one JSON line on stdout with
 *   - the worker's training step (la_trainer_step: next mini-batch, forward,
 *     backward, AdamW) timed warm: --warmup seconds of warm-up, then
 *     --repeats measurements of at least --min-time seconds each; the
 *     median ms/step and the GFLOP/s of the step's matrix products;
 *   - the single-thread cblas_sgemm rate of this machine's OpenBLAS at the
 *     layer's main shape (M = batch, N = d, K = d, row-major, B transposed,
 *     as z = h W0^T), timed the same way, and for reference the NN product
 *     of the same size (the input gradient gz W0);
 *   - the peak RSS of a run, measured in a fresh process (this program
 *     re-executed as --mem-child SHAPE), against la_trainer_tensor_bytes.
 *
 * BLAS runs on one thread: openblas_set_num_threads(1) (also set
 * OPENBLAS_NUM_THREADS=1 in the environment so OpenBLAS starts no thread
 * pool). See bench/README.md; bench/run_bench.py makes the table.
 */
#include "bench_common.h"

#include <errno.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- sgemm --------------------------------------------------------------- */

typedef struct gemm_ctx {
  int m, n, k, trans_b;
  float *a, *b, *c;
} gemm_ctx;

/* C (m, n) = A (m, k) B^T with B (n, k), or A B with B (k, n). */
static void gemm_work(void *ctx) {
  gemm_ctx *g = ctx;
  if (g->trans_b)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->m, g->n, g->k, 1.0f,
                g->a, g->k, g->b, g->k, 0.0f, g->c, g->n);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->m, g->n, g->k,
                1.0f, g->a, g->k, g->b, g->n, 0.0f, g->c, g->n);
}

/* Median GFLOP/s of sgemm at (m, n, k); NULL on allocation failure. */
static json_t *bench_sgemm(int m, int n, int k, int trans_b,
                           const bench_opts *opt) {
  gemm_ctx g = {m, n, k, trans_b, NULL, NULL, NULL};
  bench_timing t;
  json_t *o;
  g.a = malloc((size_t)m * k * sizeof(float));
  g.b = malloc((size_t)n * k * sizeof(float));
  g.c = malloc((size_t)m * n * sizeof(float));
  if (!g.a || !g.b || !g.c) {
    free(g.a), free(g.b), free(g.c);
    return NULL;
  }
  /* well-scaled values: no denormals, no overflow */
  for (size_t i = 0; i < (size_t)m * k; i++)
    g.a[i] = (float)((i * 7919 % 1000) / 1000.0 - 0.5);
  for (size_t i = 0; i < (size_t)n * k; i++)
    g.b[i] = (float)((i * 104729 % 1000) / 1000.0 - 0.5) / k;
  bench_time(gemm_work, &g, opt->warmup, opt->min_time, opt->repeats, &t);
  double flops = 2.0 * m * n * k;
  o = bench_timing_json(&t);
  json_object_set_new(o, "m", json_integer(m));
  json_object_set_new(o, "n", json_integer(n));
  json_object_set_new(o, "k", json_integer(k));
  json_object_set_new(o, "op", json_string(trans_b ? "NT" : "NN"));
  json_object_set_new(o, "ms", json_real(t.ms_median));
  json_object_set_new(o, "gflops",
                      json_real(flops / (t.ms_median * 1e-3) / 1e9));
  free(g.a), free(g.b), free(g.c);
  return o;
}

/* Training steps of the memory run (plus an eval before and after). */
#define MEM_STEPS 20

/* ---- memory -------------------------------------------------------------- */

/* The child's side: a fresh process measures one run of the shape and prints
 * one JSON object. rss_base is VmRSS before anything of the run exists (the
 * config is parsed but no task or trainer built); the run is task build,
 * trainer, one eval (as a run does at step 0; it touches the whole
 * EVAL_CHUNK-row activation workspace), `steps` training steps and a final
 * eval. rss_peak is VmHWM (= getrusage ru_maxrss) at the end. */
static int mem_child(const bench_shape *s, int steps) {
  la_err err = {{0}};
  la_config cfg;
  la_task task = {0};
  la_trainer *tr = NULL;
  json_t *root = bench_config(s), *o;
  struct rusage ru;
  long long base, after_task, peak;
  openblas_set_num_threads(1);
  if (root == NULL || la_config_parse(root, &cfg, &err)) {
    fprintf(stderr, "bench_worker: %s: %s\n", s->name, err.msg);
    return 1;
  }
  base = bench_status_bytes("VmRSS");
  if (la_task_build(&cfg, &task, &err) ||
      la_trainer_new(&cfg, &task, &tr, &err)) {
    fprintf(stderr, "bench_worker: %s: %s\n", s->name, err.msg);
    return 1;
  }
  after_task = bench_status_bytes("VmRSS");
  la_trainer_eval(tr);
  for (int i = 0; i < steps; i++)
    la_trainer_step(tr);
  la_trainer_eval(tr);
  peak = bench_status_bytes("VmHWM");
  getrusage(RUSAGE_SELF, &ru);
  o = json_object();
  json_object_set_new(o, "tensor_bytes",
                      json_integer((json_int_t)la_trainer_tensor_bytes(tr)));
  json_object_set_new(o, "rss_base", json_integer(base));
  json_object_set_new(o, "rss_after_setup", json_integer(after_task));
  json_object_set_new(o, "rss_peak", json_integer(peak));
  json_object_set_new(o, "ru_maxrss",
                      json_integer((json_int_t)ru.ru_maxrss * 1024));
  json_object_set_new(o, "peak_increase", json_integer(peak - base));
  json_object_set_new(o, "steps", json_integer(steps));
  json_dumpf(o, stdout, JSON_COMPACT);
  fputc('\n', stdout);
  json_decref(o);
  la_trainer_free(tr);
  la_task_free(&task);
  json_decref(root);
  return 0;
}

/* Runs this program again as `--mem-child SHAPE` and reads its JSON line. */
static json_t *bench_mem(const bench_shape *s) {
  char self[4096], buf[8192];
  int fd[2], status;
  ssize_t len, got = 0;
  pid_t pid;
  json_error_t je;
  len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return NULL;
  self[len] = 0;
  if (pipe(fd)) return NULL;
  fflush(stdout);
  pid = fork();
  if (pid < 0) {
    close(fd[0]), close(fd[1]);
    return NULL;
  }
  if (pid == 0) {
    char *args[] = {self, "--mem-child", (char *)s->name, NULL};
    dup2(fd[1], STDOUT_FILENO);
    close(fd[0]), close(fd[1]);
    execv(self, args);
    _exit(127);
  }
  close(fd[1]);
  while (got < (ssize_t)sizeof buf - 1 &&
         (len = read(fd[0], buf + got, sizeof buf - 1 - (size_t)got)) != 0) {
    if (len < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got += len;
  }
  buf[got] = 0;
  close(fd[0]);
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return NULL;
  return json_loads(buf, 0, &je);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f) {
  fputs(
      "usage: bench_worker [--shape small|mid|large|all] [--min-time S]\n"
      "                    [--repeats N] [--warmup S] [--no-sgemm] [--no-mem]\n"
      "Times the worker's training step and cblas_sgemm and measures the peak\n"
      "RSS of a run; one JSON line per shape. See bench/README.md.\n",
      f);
}

static int bench_shape_run(const bench_shape *s, const bench_opts *o, int sgemm,
                           int mem) {
  bench_run R;
  bench_timing t;
  json_t *out;
  double flops = bench_step_flops(s);
  if (bench_run_init(&R, s)) return 1;
  bench_time(bench_step_work, &R, o->warmup, o->min_time, o->repeats, &t);
  out = json_object();
  json_object_set_new(out, "type", json_string("worker"));
  json_object_set_new(out, "shape", json_string(s->name));
  json_object_set_new(out, "widths", bench_widths_json(s));
  json_object_set_new(out, "batch", json_integer(s->batch));
  json_object_set_new(out, "rank", json_integer(s->r));
  json_object_set_new(out, "flops_per_step", json_real(flops));
  json_object_set_new(out, "ms_per_step", json_real(t.ms_median));
  json_object_set_new(out, "steps_per_s", json_real(1e3 / t.ms_median));
  json_object_set_new(out, "gflops",
                      json_real(flops / (t.ms_median * 1e-3) / 1e9));
  json_object_set_new(out, "timing", bench_timing_json(&t));
  json_object_set_new(out, "last_loss",
                      isfinite(R.last_loss) ? json_real(R.last_loss)
                                            : json_null());
  json_object_set_new(out, "tensor_bytes",
                      json_integer((json_int_t)la_trainer_tensor_bytes(R.tr)));
  json_object_set_new(out, "blas", bench_blas_json());
  bench_run_free(&R);
  if (sgemm) {
    json_t *nt = bench_sgemm(s->batch, s->d, s->d, 1, o);
    json_t *nn = bench_sgemm(s->batch, s->d, s->d, 0, o);
    json_object_set_new(out, "sgemm", nt ? nt : json_null());
    json_object_set_new(out, "sgemm_nn", nn ? nn : json_null());
  }
  if (mem) {
    json_t *m = bench_mem(s);
    json_object_set_new(out, "mem", m ? m : json_null());
  }
  json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(8));
  fputc('\n', stdout);
  fflush(stdout);
  json_decref(out);
  return 0;
}

int main(int argc, char **argv) {
  bench_opts o = {"all", 0.5, 0.3, 5};
  int sgemm = 1, mem = 1, rc = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int c = bench_common_arg(argc, argv, &i, &o);
    if (c > 0) continue;
    if (c == 0 && strcmp(a, "--mem-child") == 0 && i + 1 < argc) {
      const bench_shape *s = bench_find_shape(argv[++i]);
      return s ? mem_child(s, MEM_STEPS) : 2;
    } else if (c == 0 && strcmp(a, "--no-sgemm") == 0) {
      sgemm = 0;
    } else if (c == 0 && strcmp(a, "--no-mem") == 0) {
      mem = 0;
    } else if (c == 0 && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (bench_check_opts("bench_worker", &o)) return 2;
  openblas_set_num_threads(1);
  for (int i = 0; i < BENCH_N_SHAPES && rc == 0; i++)
    if (bench_shape_selected(&o, &BENCH_SHAPES[i]))
      rc = bench_shape_run(&BENCH_SHAPES[i], &o, sgemm, mem);
  return rc;
}
