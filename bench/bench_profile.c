/*
 * bench_profile.c: where the worker's training step spends its time.
 *
 *   bench_profile [--shape small|mid|large|all] [--min-time S] [--repeats N]
 *                 [--warmup S]
 *
 * Linked with -Wl,--wrap=cblas_sgemm,--wrap=la_net_loss_grad_f,
 * --wrap=la_optim_step (see CMakeLists.txt): la_core's calls to those
 * functions land in the __wrap_ functions below, which time them and call
 * the real ones. la_core itself is unchanged. For each shape, runs
 * la_trainer_step warm (as bench_worker does), then prints one JSON line:
 * per step, the time in
 *   - each of the step's eight kinds of sgemm (forward h W0^T, h A^T, u B^T;
 *     backward gB, gu, gA, gz W0, gu A), with calls, FLOPs and GFLOP/s,
 *   - the rest of forward + loss + backward (activation, loss: not sgemm),
 *   - the optimizer (la_optim_step),
 *   - the rest of the step (mini-batch gather, schedule).
 * The timers add about 2 clock reads per wrapped call (~50 ns each), so the
 * step time here is a little above bench_worker's.
 */
#include "bench_common.h"
#include "model.h"
#include "optim.h"

#include <math.h>

enum {
  K_FWD_W0,
  K_FWD_A,
  K_FWD_B,
  K_BWD_GB,
  K_BWD_GU,
  K_BWD_GA,
  K_BWD_GH,
  K_BWD_GHA,
  K_OTHER,
  N_KINDS
};
static const char *KIND_NAMES[N_KINDS] = {
    "fwd z=h.W0T",    "fwd u=h.AT",    "fwd z+=s.u.BT",
    "bwd gB=s.gzT.u", "bwd gu=s.gz.B", "bwd gA=guT.h",
    "bwd gh=gz.W0",   "bwd gh+=gu.A",  "other sgemm"};

typedef struct prof {
  int on; /* collect? */
  int r;  /* the rank, to tell the kinds apart */
  long calls[N_KINDS];
  double secs[N_KINDS], flops[N_KINDS];
  double grad_secs, optim_secs;
} prof;

static prof P;

/* The kind of a row-major sgemm call of the training step (model_impl.h). */
static int gemm_kind(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m,
                     int n, int k) {
  int r = P.r;
  if (ta == CblasNoTrans && tb == CblasTrans) {
    if (n == r) return K_FWD_A;
    if (k == r) return K_FWD_B;
    return K_FWD_W0;
  }
  if (ta == CblasTrans && tb == CblasNoTrans) {
    if (n == r) return K_BWD_GB;
    if (m == r) return K_BWD_GA;
    return K_OTHER;
  }
  if (ta == CblasNoTrans && tb == CblasNoTrans) {
    if (n == r) return K_BWD_GU;
    if (k == r) return K_BWD_GHA;
    return K_BWD_GH;
  }
  return K_OTHER;
}

void __real_cblas_sgemm(const enum CBLAS_ORDER order,
                        const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint m,
                        const blasint n, const blasint k, const float alpha,
                        const float *a, const blasint lda, const float *b,
                        const blasint ldb, const float beta, float *c,
                        const blasint ldc);
void __wrap_cblas_sgemm(const enum CBLAS_ORDER order,
                        const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint m,
                        const blasint n, const blasint k, const float alpha,
                        const float *a, const blasint lda, const float *b,
                        const blasint ldb, const float beta, float *c,
                        const blasint ldc);
void __wrap_cblas_sgemm(const enum CBLAS_ORDER order,
                        const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint m,
                        const blasint n, const blasint k, const float alpha,
                        const float *a, const blasint lda, const float *b,
                        const blasint ldb, const float beta, float *c,
                        const blasint ldc) {
  if (!P.on) {
    __real_cblas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                       ldc);
    return;
  }
  double t0 = bench_now();
  __real_cblas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                     ldc);
  double t1 = bench_now();
  int kind = order == CblasRowMajor ? gemm_kind(ta, tb, m, n, k) : K_OTHER;
  P.calls[kind]++;
  P.secs[kind] += t1 - t0;
  P.flops[kind] += 2.0 * m * n * k;
}

double __real_la_net_loss_grad_f(la_net_f *net, const float *X, const float *Y,
                                 int n);
double __wrap_la_net_loss_grad_f(la_net_f *net, const float *X, const float *Y,
                                 int n);
double __wrap_la_net_loss_grad_f(la_net_f *net, const float *X, const float *Y,
                                 int n) {
  double t0 = bench_now(), loss = __real_la_net_loss_grad_f(net, X, Y, n);
  if (P.on) P.grad_secs += bench_now() - t0;
  return loss;
}

double __real_la_optim_step(la_optim *o, float *theta, const float *g,
                            size_t n_a, double lr_a, double lr_b);
double __wrap_la_optim_step(la_optim *o, float *theta, const float *g,
                            size_t n_a, double lr_a, double lr_b);
double __wrap_la_optim_step(la_optim *o, float *theta, const float *g,
                            size_t n_a, double lr_a, double lr_b) {
  double t0 = bench_now(),
         un = __real_la_optim_step(o, theta, g, n_a, lr_a, lr_b);
  if (P.on) P.optim_secs += bench_now() - t0;
  return un;
}

static json_t *part(const char *name, double secs, long steps, double flops,
                    long calls) {
  double ms = 1e3 * secs / steps;
  json_t *o = json_object();
  json_object_set_new(o, "part", json_string(name));
  json_object_set_new(o, "ms_per_step", json_real(ms));
  if (calls >= 0) {
    json_object_set_new(o, "calls_per_step", json_real((double)calls / steps));
    json_object_set_new(o, "gflops",
                        json_real(secs > 0 ? flops / secs / 1e9 : 0));
  }
  return o;
}

static int profile_shape(const bench_shape *s, const bench_opts *o) {
  bench_run R;
  bench_timing t;
  long steps = 0;
  double step_secs, gemm_secs = 0;
  json_t *out, *parts;
  if (bench_run_init(&R, s)) return 1;
  bench_time(bench_step_work, &R, o->warmup, o->min_time, 1, &t); /* warm-up */
  memset(&P, 0, sizeof P);
  P.r = s->r;
  P.on = 1;
  double t0 = bench_now();
  do {
    R.last_loss = la_trainer_step(R.tr);
    steps++;
  } while (bench_now() - t0 < o->min_time * o->repeats);
  step_secs = bench_now() - t0;
  P.on = 0;
  bench_run_free(&R);
  out = json_object();
  parts = json_array();
  json_object_set_new(out, "type", json_string("profile"));
  json_object_set_new(out, "shape", json_string(s->name));
  json_object_set_new(out, "steps", json_integer(steps));
  json_object_set_new(out, "ms_per_step", json_real(1e3 * step_secs / steps));
  json_object_set_new(out, "flops_per_step", json_real(bench_step_flops(s)));
  for (int k = 0; k < N_KINDS; k++) {
    gemm_secs += P.secs[k];
    if (P.calls[k] || k != K_OTHER)
      json_array_append_new(
          parts, part(KIND_NAMES[k], P.secs[k], steps, P.flops[k], P.calls[k]));
  }
  json_array_append_new(parts,
                        part("fwd+loss+bwd minus sgemm (activation, loss)",
                             P.grad_secs - gemm_secs, steps, 0, -1));
  json_array_append_new(
      parts, part("optimizer (la_optim_step)", P.optim_secs, steps, 0, -1));
  json_array_append_new(parts, part("rest of step (batch gather, schedule)",
                                    step_secs - P.grad_secs - P.optim_secs,
                                    steps, 0, -1));
  json_object_set_new(out, "parts", parts);
  json_object_set_new(out, "sgemm_ms_per_step",
                      json_real(1e3 * gemm_secs / steps));
  json_object_set_new(out, "blas", bench_blas_json());
  json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
  fputc('\n', stdout);
  fflush(stdout);
  json_decref(out);
  return 0;
}

int main(int argc, char **argv) {
  bench_opts o = {"all", 0.5, 0.3, 5};
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    int c = bench_common_arg(argc, argv, &i, &o);
    if (c > 0) continue;
    if (c == 0 &&
        (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
      puts(
          "usage: bench_profile [--shape small|mid|large|all] [--min-time S]\n"
          "                     [--repeats N] [--warmup S]\n"
          "Splits the worker's training step into its sgemm kinds, the rest "
          "of\n"
          "forward/backward, the optimizer and the batch gather (JSON lines).");
      return 0;
    }
    fprintf(stderr, "bench_profile: bad argument %s (see --help)\n", argv[i]);
    return 2;
  }
  if (bench_check_opts("bench_profile", &o)) return 2;
  openblas_set_num_threads(1);
  for (int i = 0; i < BENCH_N_SHAPES && rc == 0; i++)
    if (bench_shape_selected(&o, &BENCH_SHAPES[i]))
      rc = profile_shape(&BENCH_SHAPES[i], &o);
  return rc;
}
