/*
 * test_optim.c: AdamW, SGD (momentum, Nesterov, weight decay), LoRA+
 * segments and the schedules against steps computed by hand from the
 * update rules of torch.optim.AdamW / torch.optim.SGD and HuggingFace's
 * cosine schedule; the update norm bit for bit.
 */
#include "check.h"
#include "optim.h"

#include <string.h>

static la_config base_config(void) {
  la_config c;
  memset(&c, 0, sizeof c);
  c.beta1 = 0.9, c.beta2 = 0.999, c.eps = 1e-8, c.steps = 10;
  return c;
}

/* Two AdamW steps on three parameters, with decoupled weight decay. */
static void check_adamw(void) {
  la_config c = base_config();
  la_optim o;
  float th[3] = {0.5f, -1.0f, 2.0f};
  const float g1[3] = {0.1f, -0.2f, 0.0f}, g2[3] = {-0.3f, 0.05f, 0.4f};
  const double lr = 0.1, wd = 0.01;
  double e[3];
  c.optimizer = LA_OPT_ADAMW, c.weight_decay = wd;
  CHECK(la_optim_init(&o, &c, 3) == 0);
  la_optim_step(&o, th, g1, 3, lr, lr);
  la_optim_step(&o, th, g2, 3, lr, lr);
  for (int i = 0; i < 3; i++) {
    double p = (double)(i == 0 ? 0.5f : i == 1 ? -1.0f : 2.0f);
    double a = g1[i], b = g2[i];
    /* step 1: m^ = g, v^ = g^2 */
    p = p * (1 - lr * wd) - lr * (a == 0 ? 0 : a / (fabs(a) + 1e-8));
    /* step 2 */
    double m = 0.9 * 0.1 * a + 0.1 * b,
           v = 0.999 * 0.001 * a * a + 0.001 * b * b;
    double bc1 = 1 - 0.9 * 0.9, bc2 = 1 - 0.999 * 0.999;
    p = p * (1 - lr * wd) - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + 1e-8);
    e[i] = p;
  }
  for (int i = 0; i < 3; i++)
    CHECK_CLOSE(th[i], e[i], 1e-6);
  la_optim_free(&o);
}

/* SGD with momentum and L2 weight decay, plain and Nesterov. */
static void check_sgd(int nesterov) {
  la_config c = base_config();
  la_optim o;
  float th[2] = {1.0f, -2.0f};
  const float g1[2] = {0.5f, 0.25f}, g2[2] = {-1.0f, 0.75f};
  const double lr = 0.5, mu = 0.9, wd = 0.1;
  c.optimizer = LA_OPT_SGD, c.momentum = mu, c.weight_decay = wd,
  c.nesterov = nesterov;
  CHECK(la_optim_init(&o, &c, 2) == 0);
  la_optim_step(&o, th, g1, 2, lr, lr);
  double un = la_optim_step(&o, th, g2, 2, lr, lr);
  double du2 = 0;
  for (int i = 0; i < 2; i++) {
    double p = i == 0 ? 1.0 : -2.0;
    double gg = g1[i] + wd * p, buf = gg;
    p -= lr * (nesterov ? gg + mu * buf : buf);
    double p1 = p;
    gg = g2[i] + wd * p;
    buf = mu * buf + gg;
    p -= lr * (nesterov ? gg + mu * buf : buf);
    du2 += (p - p1) * (p - p1);
    CHECK_CLOSE(th[i], p, 1e-6);
  }
  CHECK_CLOSE(un, sqrt(du2), 1e-6);
  la_optim_free(&o);
}

/* LoRA+: the first n_a parameters at lr_a, the rest at lr_b; plain SGD. */
static void check_segments(void) {
  la_config c = base_config();
  la_optim o;
  float th[4] = {0, 0, 0, 0};
  const float g[4] = {1, 1, 1, 1};
  c.optimizer = LA_OPT_SGD;
  la_optim_init(&o, &c, 4);
  double un = la_optim_step(&o, th, g, 1, 0.1, 1.6);
  CHECK_CLOSE(th[0], -0.1, 1e-7);
  CHECK_CLOSE(th[1], -1.6, 1e-7);
  CHECK_CLOSE(th[3], -1.6, 1e-7);
  CHECK_CLOSE(un, sqrt(0.01 + 3 * 1.6 * 1.6), 1e-6);
  la_optim_free(&o);
}

/* An optimizer over more entries than one chunk, with a LoRA+ split inside
 * one: measuring changes no parameter, and the norm is the root of the
 * segments' sums of the squared changes, each in double in entry order,
 * bit for bit. */
static void check_measure(la_opt_kind kind, double momentum, int nesterov) {
  enum { N = 3000, N_A = 1100 };
  static float th[N], th2[N], old[N], g[N];
  la_config c = base_config();
  la_optim o, o2;
  c.optimizer = kind, c.weight_decay = 0.05;
  c.momentum = momentum, c.nesterov = nesterov;
  CHECK(la_optim_init(&o, &c, N) == 0 && la_optim_init(&o2, &c, N) == 0);
  o2.measure = 0;
  for (int i = 0; i < N; i++)
    th[i] = th2[i] = (float)sin(i * 0.37);
  for (int step = 0; step < 3; step++) {
    double un, want[2] = {0, 0}; /* the A and the B segment's sums */
    int same = 1;
    for (int i = 0; i < N; i++)
      g[i] = (float)cos(i * 0.11 + step), old[i] = th[i];
    un = la_optim_step(&o, th, g, N_A, 1e-2, 4e-2);
    CHECK(isnan(la_optim_step(&o2, th2, g, N_A, 1e-2, 4e-2)));
    for (int i = 0; i < N; i++) {
      want[i >= N_A] += (double)(th[i] - old[i]) * (double)(th[i] - old[i]);
      same = same && memcmp(&th[i], &th2[i], sizeof th[i]) == 0;
    }
    if (un != sqrt(want[0] + want[1]))
      fprintf(stderr, "%s step %d: norm %a, expected %a\n",
              kind == LA_OPT_ADAMW ? "adamw" : "sgd", step, un,
              sqrt(want[0] + want[1]));
    CHECK(un == sqrt(want[0] + want[1]));
    CHECK(same);
  }
  la_optim_free(&o);
  la_optim_free(&o2);
}

static void check_schedules(void) {
  la_config c = base_config();
  c.schedule = LA_LR_CONSTANT, c.warmup_steps = 4;
  const double warm[] = {0, 0.25, 0.5, 0.75, 1, 1, 1};
  for (int k = 0; k < 7; k++)
    CHECK_CLOSE(la_lr_factor(&c, k), warm[k], 1e-15);
  c.schedule = LA_LR_COSINE, c.warmup_steps = 2, c.steps = 10;
  CHECK_CLOSE(la_lr_factor(&c, 1), 0.5, 1e-15);
  CHECK_CLOSE(la_lr_factor(&c, 2), 1.0, 1e-15);
  CHECK_CLOSE(la_lr_factor(&c, 6), 0.5, 1e-12); /* progress 4/8 */
  CHECK_CLOSE(la_lr_factor(&c, 4), 0.5 * (1 + cos(LA_PI * 0.25)), 1e-12);
  CHECK_CLOSE(la_lr_factor(&c, 10), 0.0, 1e-12);
  c.min_lr_ratio = 0.1;
  CHECK_CLOSE(la_lr_factor(&c, 6), 0.1 + 0.9 * 0.5, 1e-12);
  c.warmup_steps = 0;
  CHECK_CLOSE(la_lr_factor(&c, 0), 1.0, 1e-15);
}

int main(void) {
  check_adamw();
  check_sgd(0);
  check_sgd(1);
  check_segments();
  check_measure(LA_OPT_ADAMW, 0, 0);
  check_measure(LA_OPT_SGD, 0.9, 0);
  check_measure(LA_OPT_SGD, 0.5, 1);
  check_schedules();
  return check_summary();
}
