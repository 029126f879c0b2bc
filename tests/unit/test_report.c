/* test_report.c: the morning report (base/report.c). Builds a realistic
 * sweep, its runs and its analysis in code (4 ranks x 5 alphas x 2 seeds,
 * one failed run whose error holds <script> and &, diverged runs), writes
 * HTML and Markdown to memory and checks what they hold; then a missing
 * analysis, odd input of every kind and write errors. With a path as
 * argv[1], the realistic HTML is also written there to look at. */
#include "check.h"
#include "loralpha/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_RANK 4
#define N_ALPHA 5
#define N_SEED 2

static const int k_ranks[N_RANK] = {1, 2, 4, 8};
static const double k_alphas[N_ALPHA] = {2, 8, 32, 128, 512};
static const double k_lrs[2] = {0.001, 0.01};
static const double k_fractions[3] = {0.25, 0.5, 1.0};

/* The rules of docs/analysis.md: s = coef * r^power. */
static const struct {
  const char *name;
  double coef, power;
} k_rules[3] = {{"alpha=r", 1, 0}, {"alpha=2r", 2, 0}, {"rslora16", 16, -0.5}};

/* A number, or null when it is not finite (as the API writes them). */
static json_t *num(double x) {
  return isfinite(x) ? json_real(x) : json_null();
}

/* A smooth synthetic loss with its optimum near 8.2 r^0.55 (half that at
 * the larger lr), slightly different per seed. */
static double model_loss(int rank, double alpha, double lr, int seed) {
  double opt = 8.2 * pow(rank, 0.55) * (lr > 0.005 ? 0.5 : 1.0);
  double d = log2(alpha / opt);
  return (0.004 + 0.02 / rank) * (1 + 0.35 * d * d) * (1 + 0.02 * seed);
}

/* The sweep object of GET /v1/sweeps/{id}, with its spec. */
static json_t *make_sweep(int n_lr, const char *scaling, int n_runs) {
  json_t *lrs = json_array();
  for (int i = 0; i < n_lr; i++)
    json_array_append_new(lrs, json_real(k_lrs[i]));
  return json_pack(
      "{s:i, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:{s:i, s:i, s:i, "
      "s:i, s:i, s:i}, s:f, s:{s:s, s:s, s:{s:s, s:i, s:i, s:i, s:i, s:i, "
      "s:f, s:f, s:f}, s:{s:[i,i,i,i], s:{s:[i,i], s:i}, s:o}, s:i, s:i, "
      "s:i, s:i, s:{s:s, s:f}, s:s, s:s, s:f}}",
      "id", 7, "name", "nightly-sqrt-law", "state", "done", "priority", 0,
      "max_parallel", 0, "max_attempts", 2, "seed", 1, "n_runs", n_runs,
      "created_at", 1795860000.1, "finished_at", 1795864700.5, "counts",
      "queued", 0, "running", 0, "done", n_runs - 4, "failed", 1, "diverged", 3,
      "cancelled", 0, "progress", 1.0, "spec", "name", "nightly-sqrt-law",
      "description", "Does alpha* grow like sqrt(r)? A <teacher> & its rank.",
      "task", "task", "teacher", "d_in", 128, "d_out", 128, "n_train", 2048,
      "n_eval", 512, "target_rank", 8, "target_scale", 2.0, "input_decay", 0.5,
      "noise", 0.01, "grid", "rank", 1, 2, 4, 8, "alpha", "log2", 1, 9, "num",
      5, "lr", lrs, "seeds", N_SEED, "seed", 1, "steps", 300, "batch", 64,
      "optimizer", "name", "adamw", "weight_decay", 0.0, "schedule", "constant",
      "scaling", scaling, "diverge_factor", 100.0);
}

/* One run object as GET /v1/sweeps/{id}/runs returns it. */
static json_t *make_run(int id, int rank, double alpha, double lr, int seed,
                        const char *state, double loss, const char *error) {
  json_t *o = json_pack(
      "{s:i, s:i, s:i, s:f, s:f, s:i, s:i, s:s, s:i, s:f, s:f, s:i, s:f, "
      "s:i, s:f}",
      "id", id, "idx", id - 1, "rank", rank, "alpha", alpha, "lr", lr,
      "seed_index", seed, "seed", 1234 + seed, "state", state, "attempts",
      error ? 2 : 1, "started_at", 1795860100.0 + id, "finished_at",
      1795860110.0 + id, "steps_done", error ? 17 : 300, "wall_s", 0.4,
      "best_step", 300, "final_train_loss", isfinite(loss) ? loss : 12.5);
  json_object_set_new(o, "final_eval_loss", num(loss));
  json_object_set_new(o, "best_eval_loss", num(loss));
  json_object_set_new(o, "error", error ? json_string(error) : json_null());
  return o;
}

/* Every run: rank 8, alpha 512, seed 1 at the first lr failed; rank 4,
 * alpha 512, seed 0 diverged, and both seeds of rank 1 at alpha 512. */
static json_t *make_runs(int n_lr) {
  static const char err[] =
      "worker exited with status 1\nstderr tail:\nconfig: <script>alert('x')"
      "</script> & rm -rf\nline 4\nline 5\nline 6\nline 7 (not shown)\n";
  json_t *runs = json_array();
  int id = 1;
  for (int i = 0; i < N_RANK; i++)
    for (int l = 0; l < n_lr; l++)
      for (int a = 0; a < N_ALPHA; a++)
        for (int s = 0; s < N_SEED; s++, id++) {
          int first = l == 0 && a == N_ALPHA - 1;
          int failed = first && i == 3 && s == 1;
          int div = first && ((i == 2 && s == 0) || i == 0);
          double loss = model_loss(k_ranks[i], k_alphas[a], k_lrs[l], s);
          json_array_append_new(
              runs, make_run(id, k_ranks[i], k_alphas[a], k_lrs[l], s,
                             failed ? "failed"
                             : div  ? "diverged"
                                    : "done",
                             failed || div ? NAN : loss, failed ? err : NULL));
        }
  return runs;
}

/* The grid alpha nearest to alpha in log. */
static double nearest_grid(double alpha) {
  double best = k_alphas[0];
  for (int a = 1; a < N_ALPHA; a++)
    if (fabs(log(k_alphas[a] / alpha)) < fabs(log(best / alpha)))
      best = k_alphas[a];
  return best;
}

/* The alpha* entry of (rank i, lr l) at checkpoint fraction f. */
static json_t *make_star(int i, int l, double f) {
  double lr = k_lrs[l], c = 8.2137 * (0.5 + 0.5 * f) * (l ? 0.5 : 1.0);
  double p = 0.5512 + 0.2 * (1 - f), alpha = c * pow(k_ranks[i], p);
  int ill = l == 0 && i == 0, edge = l == 1 && i == 0;
  if (edge) alpha = k_alphas[0];
  return json_pack("{s:i, s:f, s:f, s:f, s:f, s:b, s:f, s:f, s:b, s:f, s:i, "
                   "s:i}",
                   "rank", k_ranks[i], "lr", lr, "alpha_grid",
                   nearest_grid(alpha), "alpha", alpha, "loss",
                   model_loss(k_ranks[i], alpha, lr, 0), "at_edge", edge,
                   "ci_lo", ill ? 1.6 : alpha / 1.4, "ci_hi",
                   ill ? 52.0 : alpha * 1.4, "ill_determined", ill, "weight",
                   ill ? 0.5 : 20.0, "n_alpha", N_ALPHA, "seeds", N_SEED);
}

/* The free and sqrt fits of lr l at fraction f (the larger lr's is poor). */
static void add_fits(json_t *fits, int l, double f) {
  double c = 8.2137 * (0.5 + 0.5 * f), p = 0.5512 + 0.2 * (1 - f);
  if (l == 1) c *= 0.5, p = 0.31;
  json_array_append_new(
      fits,
      json_pack("{s:f, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, "
                "s:i, s:b}",
                "lr", k_lrs[l], "method", "free", "c", c, "c_lo", c * 0.79,
                "c_hi", c * 1.27, "p", p, "p_lo", l ? 0.02 : p - 0.13, "p_hi",
                l ? 0.71 : p + 0.13, "r2", l ? 0.71 : 0.981, "n_used", 3,
                "n_excluded", 1, "poor", l == 1));
  json_array_append_new(
      fits, json_pack("{s:f, s:s, s:f, s:f, s:f, s:f, s:n, s:n, s:f, s:i, "
                      "s:i, s:b}",
                      "lr", k_lrs[l], "method", "sqrt", "c", c * 1.084, "c_lo",
                      c * 0.94, "c_hi", c * 1.25, "p", 0.5, "p_lo", "p_hi",
                      "r2", 0.962, "n_used", 3, "n_excluded", 1, "poor", 0));
}

/* The regret of each rule at (rank i, lr l), read off the model loss. */
static void add_regret(json_t *reg, int i, int l, double scale_power) {
  double opt = 8.2 * pow(k_ranks[i], 0.55) * (l ? 0.5 : 1.0);
  double best = model_loss(k_ranks[i], opt, k_lrs[l], 0);
  for (int k = 0; k < 3; k++) {
    double a =
        k_rules[k].coef * pow(k_ranks[i], k_rules[k].power + scale_power);
    int in = a >= k_alphas[0] && a <= k_alphas[N_ALPHA - 1];
    double loss = in ? model_loss(k_ranks[i], a, k_lrs[l], 0) : NAN;
    json_t *o = json_pack("{s:i, s:f, s:s, s:f, s:f}", "rank", k_ranks[i], "lr",
                          k_lrs[l], "rule", k_rules[k].name, "alpha", a,
                          "best_loss", best);
    json_object_set_new(o, "loss", num(loss));
    json_object_set_new(o, "regret", num(loss / best - 1));
    json_array_append_new(reg, o);
  }
}

/* One checkpoint of the analysis. */
static json_t *make_checkpoint(int n_lr, double f, double scale_power) {
  json_t *stars = json_array(), *fits = json_array(), *reg = json_array();
  for (int l = 0; l < n_lr; l++) {
    for (int i = 0; i < N_RANK; i++) {
      json_array_append_new(stars, make_star(i, l, f));
      add_regret(reg, i, l, scale_power);
    }
    add_fits(fits, l, f);
  }
  return json_pack("{s:f, s:i, s:o, s:o, s:o}", "fraction", f, "step",
                   (int)(300 * f), "alpha_star", stars, "fits", fits, "regret",
                   reg);
}

/* The drift table: per rank, lr and alpha. */
static json_t *make_drift(int n_lr) {
  json_t *d = json_array();
  for (int i = 0; i < N_RANK; i++)
    for (int l = 0; l < n_lr; l++)
      for (int a = 0; a < N_ALPHA; a++) {
        double al = k_alphas[a], g = sqrt(k_lrs[l] / 0.001);
        json_array_append_new(
            d,
            json_pack(
                "{s:i, s:f, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:f}", "rank",
                k_ranks[i], "lr", k_lrs[l], "alpha", al, "seeds", N_SEED,
                "loss", model_loss(k_ranks[i], al, k_lrs[l], 0), "drift_ratio",
                0.012 * (1 + 0.05 * log2(al)) * (1 + 0.1 * i) * g, "signal",
                6 * (1 - exp(-al / (4 * sqrt(k_ranks[i])))) * g, "mech_ratio",
                1.45 * g, "tf_signal", 4.5 * g, "a_drift", 0.02 * g));
      }
  return d;
}

/* The analysis object of GET /v1/sweeps/{id}/analysis. */
static json_t *make_analysis(int n_lr, const char *scaling) {
  double sp = strcmp(scaling, "rslora") == 0 ? 0.5 : 1.0;
  json_t *cks = json_array();
  for (int k = 0; k < 3; k++)
    json_array_append_new(cks, make_checkpoint(n_lr, k_fractions[k], sp));
  return json_pack("{s:i, s:f, s:s, s:i, s:o, s:o}", "sweep_id", 7,
                   "computed_at", 1795864750.1, "scaling", scaling, "steps",
                   300, "checkpoints", cks, "drift", make_drift(n_lr));
}

/* The report in memory (malloc'd, NUL-terminated); *rc gets the result. */
static char *render(const json_t *sweep, const json_t *an, const json_t *runs,
                    la_report_format fmt, int *rc) {
  char *buf = NULL;
  size_t len = 0;
  la_err err = {""};
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL) return NULL;
  *rc = la_report_write(sweep, an, runs, fmt, f, &err);
  if (*rc) fprintf(stderr, "la_report_write: %s\n", err.msg);
  fclose(f);
  return buf;
}

/* Occurrences of needle in s. */
static int count_str(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* Opening tags "<tag" (followed by a space, '>' or '/') in s. */
static int count_open(const char *s, const char *tag) {
  char pat[32];
  int n = 0;
  size_t len = (size_t)snprintf(pat, sizeof pat, "<%s", tag);
  for (const char *p = strstr(s, pat); p; p = strstr(p + 1, pat))
    if (p[len] == ' ' || p[len] == '>' || p[len] == '\n' || p[len] == '/') n++;
  return n;
}

/* Every container tag of the page is closed as often as it is opened. */
static void check_balanced(const char *html) {
  static const char *const tags[] = {
      "html",       "head",  "body",  "header", "nav",      "section", "table",
      "thead",      "tbody", "tr",    "td",     "th",       "svg",     "figure",
      "figcaption", "g",     "div",   "p",      "pre",      "h1",      "h2",
      "h3",         "text",  "title", "defs",   "clipPath", "footer",  "style"};
  for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
    char close[32];
    int open = count_open(html, tags[i]), shut;
    snprintf(close, sizeof close, "</%s>", tags[i]);
    shut = count_str(html, close);
    if (open != shut)
      fprintf(stderr, "tag <%s>: %d opened, %d closed\n", tags[i], open, shut);
    CHECK_EQ_INT(open, shut);
  }
  CHECK_EQ_INT(count_open(html, "html"), 1);
  CHECK_EQ_INT(count_open(html, "body"), 1);
}

/* n plots, each with at least one polyline holding points. */
static void check_svgs(const char *html, int n) {
  const char *p = html;
  int k = 0;
  CHECK_EQ_INT(count_open(html, "svg"), n);
  while ((p = strstr(p, "<svg ")) != NULL) {
    const char *end = strstr(p, "</svg>"), *line = strstr(p, "<polyline");
    CHECK(end != NULL);
    if (end == NULL) break;
    CHECK(line != NULL && line < end);
    if (line && line < end) {
      const char *pts = strstr(line, "points=\"");
      CHECK(pts != NULL && pts < end && pts[8] >= '0' && pts[8] <= '9');
    }
    p = end, k++;
  }
  CHECK_EQ_INT(k, n);
}

/* Checks common to every HTML report: structure, no script, no outside
 * resources. */
static void check_html_basics(const char *html) {
  check_balanced(html);
  CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
  CHECK(strstr(html, "<script") == NULL);
  CHECK(strstr(html, "src=") == NULL);
  CHECK(strstr(html, "http") == NULL);
  CHECK(strstr(html, "nan") == NULL && strstr(html, "inf\"") == NULL);
}

/* The realistic HTML report: content, plots, escaping. */
static void check_realistic_html(const char *h) {
  check_html_basics(h);
  check_svgs(h, 4); /* the law, loss, drift ratio and signal at one lr */
  CHECK(strstr(h, "nightly-sqrt-law") != NULL);
  CHECK(strstr(h, "A &lt;teacher&gt; &amp; its rank.") != NULL);
  CHECK(strstr(h, "α* = <b>8.21</b> · r<sup><b>0.551</b></sup>") != NULL);
  CHECK(strstr(h, "c = 8.21 [6.49, 10.4], p = 0.551 [0.421, 0.681]") != NULL);
  CHECK(strstr(h, "R² = 0.981; 3 ranks used, 1 excluded") != NULL);
  CHECK(strstr(h, "√r law: α* = 8.9 · √r; c = 8.9 [7.72, 10.3]") != NULL);
  CHECK(strstr(h, "poor fit") == NULL);
  CHECK(strstr(h, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
                  "rm -rf") != NULL);
  CHECK(strstr(h, "line 6") != NULL && strstr(h, "line 7") == NULL);
  CHECK(strstr(h, ">ill-determined</text>") != NULL);
  CHECK(strstr(h, "l10 10m0 -10l-10 10") != NULL); /* a diverged cross */
  CHECK(strstr(h, "rule rsLoRA 16: α = 16√r") != NULL);
  CHECK(strstr(h, "class=\"n worst\"") != NULL);
  CHECK(strstr(h, "Worst rule overall: α = r") != NULL);
  CHECK(strstr(h, "Diverged runs") != NULL);
  CHECK(strstr(h, "analysis is not available") == NULL);
  CHECK_EQ_INT(count_str(h, "<h3>lr = 0.001</h3>"), 1);
  CHECK_EQ_INT(count_open(h, "section"), 8);
}

/* The realistic Markdown report: the same content as tables. */
static void check_realistic_md(const char *m) {
  CHECK(strstr(m, "# loralpha report: nightly-sqrt-law\n") != NULL);
  CHECK(strstr(m, "<svg") == NULL && strstr(m, "<script") == NULL);
  CHECK(strstr(m, "&lt;script&gt;") != NULL);
  CHECK(strstr(m, "- **Free law: α\\* = 8.21 · r^0.551**; c = 8.21") != NULL);
  CHECK(strstr(m, "| rank | lr | grid α\\* | refined α\\* | interval | loss "
                  "| seeds | flags |\n| --- | --- |") != NULL);
  CHECK(strstr(m, "| 1 | 0.001 | 8 | 8.21 | [1.6, 52] | ") != NULL);
  CHECK(strstr(m, "| ill-determined |") != NULL);
  CHECK(strstr(m, "| budget | step | lr | c | c interval | p |") != NULL);
  CHECK(strstr(m, "| 25% | 75 | 0.001 | 5.13 |") != NULL);
  CHECK(strstr(m, "| rank | lr | α\\* | best loss | α = r | α = 2r | rsLoRA "
                  "α = 16 |") != NULL);
  CHECK(strstr(m, "outside grid (α 1)") != NULL);
  CHECK(strstr(m, "| α | r = 1 | r = 2 | r = 4 | r = 8 |") != NULL);
  CHECK(strstr(m, "| 512 | diverged |") != NULL);
  CHECK(strstr(m, "(1 diverged)") != NULL);
  CHECK(strstr(m, "| rank | lr | α | seeds | loss | drift ratio | signal |") !=
        NULL);
  CHECK(strstr(m, "alert('x')&lt;/script&gt; &amp; rm -rf ⏎ line 4") != NULL);
  CHECK(strstr(m, "**Warning") == NULL);
  CHECK(strstr(m, "| run | rank | α | lr | seed index | attempts | steps done "
                  "| error |") != NULL);
  CHECK(strstr(m, "| 40 | 8 | 512 | 0.001 | 1 | 2 | 17 | worker exited") !=
        NULL);
}

/* Sweep, runs and analysis of the realistic case: HTML and Markdown. */
static void test_realistic(const char *path) {
  json_t *sweep = make_sweep(1, "peft", 40), *runs = make_runs(1);
  json_t *an = make_analysis(1, "peft");
  int rc = -99;
  char *h = render(sweep, an, runs, LA_REPORT_HTML, &rc), *m;
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(json_array_size(runs), 40);
  if (h) check_realistic_html(h);
  if (h && path) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) fputs(h, f), fclose(f);
  }
  m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
  CHECK_EQ_INT(rc, 0);
  if (m) check_realistic_md(m);
  free(h), free(m);
  json_decref(sweep), json_decref(runs), json_decref(an);
}

/* Two lrs: a plot per lr, drift against lr per rank, a poor fit. */
static void test_two_lrs(const char *path) {
  json_t *sweep = make_sweep(2, "peft", 80), *runs = make_runs(2);
  json_t *an = make_analysis(2, "peft");
  int rc = -99;
  char *h = render(sweep, an, runs, LA_REPORT_HTML, &rc), *m;
  CHECK_EQ_INT(rc, 0);
  if (h) {
    check_html_basics(h);
    check_svgs(h, 2 + 2 + 2 * 2 + 4 * 2);
    CHECK(strstr(h, "<strong>Warning: poor fit.</strong> free law: R² 0.71 "
                    "below 0.9; p interval 0.69 wide (over 0.5).") != NULL);
    CHECK(strstr(h, ">at edge</text>") != NULL);
    CHECK(strstr(h, "Drift ratio against lr at rank 8") != NULL);
  }
  if (h && path) {
    FILE *f = fopen(path, "w");
    if (f) fputs(h, f), fclose(f);
  }
  m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
  CHECK_EQ_INT(rc, 0);
  if (m) CHECK(strstr(m, "- **Warning: poor fit.** free law: R² 0.71") != NULL);
  free(h), free(m);
  json_decref(sweep), json_decref(runs), json_decref(an);
}

/* rsLoRA scaling: the rules' lines in the sweep's α. */
static void test_rslora(void) {
  json_t *sweep = make_sweep(1, "rslora", 40), *runs = make_runs(1);
  json_t *an = make_analysis(1, "rslora");
  int rc = -99;
  char *h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  CHECK_EQ_INT(rc, 0);
  if (h) {
    check_html_basics(h);
    CHECK(strstr(h, "rule α = r: α = √r") != NULL);
    CHECK(strstr(h, "rule α = 2r: α = 2√r") != NULL);
    CHECK(strstr(h, "rule rsLoRA 16: α = 16<") != NULL);
    CHECK(strstr(h, "rslora scaling") != NULL);
  }
  free(h);
  json_decref(sweep), json_decref(runs), json_decref(an);
}

/* No analysis (NULL, or not an object): the report says so and still
 * shows the sweep, the loss curves and the failed runs. */
static void test_no_analysis(void) {
  json_t *sweep = make_sweep(1, "peft", 40), *runs = make_runs(1);
  json_t *odd = json_array();
  for (int k = 0; k < 2; k++) {
    int rc = -99;
    const json_t *an = k ? odd : NULL;
    char *h = render(sweep, an, runs, LA_REPORT_HTML, &rc), *m;
    CHECK_EQ_INT(rc, 0);
    if (h) {
      check_html_basics(h);
      check_svgs(h, 1);
      CHECK(strstr(h, "The analysis is not available yet") != NULL);
      CHECK(strstr(h, "nightly-sqrt-law") != NULL);
      CHECK(strstr(h, "&lt;script&gt;") != NULL);
    }
    m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
    CHECK_EQ_INT(rc, 0);
    if (m) CHECK(strstr(m, "The analysis is not available yet") != NULL);
    if (m) CHECK(strstr(m, "| α | r = 1 | r = 2 | r = 4 | r = 8 |") != NULL);
    free(h), free(m);
  }
  json_decref(sweep), json_decref(runs), json_decref(odd);
}

/* An analysis whose fields have the wrong types, nulls, "NaN" strings,
 * zeros, negatives and extreme values. */
static json_t *odd_analysis(void) {
  return json_pack(
      "{s:s, s:[i, n, {s:s, s:{}, s:[i, {s:i}, {s:s, s:s, s:n, s:s}], "
      "s:[{s:n}]}, {s:f, s:i, s:[{s:i, s:f, s:f, s:n, s:b, s:s, s:f}, "
      "{s:s, s:f, s:f}, {s:i, s:f, s:f, s:f, s:f}, {s:i, s:f, s:f, s:f, "
      "s:f}], s:[{s:f, s:s, s:f, s:f, s:s, s:b}, {s:f, s:s, s:n, s:f, s:f}], "
      "s:[{s:i, s:f, s:s, s:n, s:s}, {s:i, s:f, s:i}]}], s:[i, {s:s}, "
      "{s:i, s:f, s:f, s:f, s:f}, {s:i, s:f, s:f, s:f, s:f}]}",
      "scaling", "bogus", "checkpoints", 3, "fraction", "x", "alpha_star",
      "fits", 1, "method", 3, "method", "free", "lr", "NaN", "c", "p", "8",
      "regret", "rule", "fraction", 1.0, "step", 300, "alpha_star", "rank", 4,
      "lr", 0.001, "alpha", -3.0, "ci_lo", "ill_determined", 1, "at_edge",
      "yes", "ci_hi", 1e300, "rank", "four", "alpha", 1e-300, "lr", 0.001,
      "rank", 8, "lr", 0.001, "alpha", 1e15, "ci_lo", 0.0, "ci_hi", 1e308,
      "rank", 2, "lr", 0.001, "alpha", 3.0, "ci_lo", 3.0, "ci_hi", 3.0, "fits",
      "lr", 0.001, "method", "free", "c", 1e300, "p", 40.0, "poor", "yes",
      "poor", 1, "lr", 0.001, "method", "sqrt", "c", "c_lo", -1.0, "c_hi",
      1e-300, "regret", "rank", 4, "lr", 0.001, "rule", "alpha=r", "alpha",
      "regret", "NaN", "rank", 4, "lr", 0.001, "rule", 5, "drift", 7, "rank",
      "x", "rank", 4, "lr", 0.001, "alpha", 0.0, "drift_ratio", 0.0, "signal",
      -1.0, "rank", 4, "lr", 0.001, "alpha", 8.0, "drift_ratio", 1e-300,
      "signal", 1e300);
}

/* Runs of every odd kind: not objects, wrong types, no state, zero and
 * negative values, an error with 700 bytes of two-byte characters. */
static json_t *odd_runs(void) {
  char err[1401];
  json_t *runs;
  for (int i = 0; i < 700; i++)
    memcpy(err + 2 * i, "é", 2);
  err[1400] = '\0';
  runs = json_pack(
      "[i, n, s, [], {s:s}, {s:i, s:f, s:f, s:s, s:f}, {s:i, s:f, s:f, s:s, "
      "s:f}, {s:i, s:f, s:f, s:s, s:f}, {s:i, s:f, s:f, s:s, s:i}, {s:i, "
      "s:f, s:f, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}]",
      1, "run", "state", "done", "rank", 4, "alpha", 8.0, "lr", 0.001, "state",
      "done", "final_eval_loss", 0.0, "rank", 4, "alpha", -8.0, "lr", 0.001,
      "state", "done", "final_eval_loss", -1.0, "rank", 0, "alpha", 8.0, "lr",
      0.001, "state", "diverged", "final_eval_loss", 1e308, "rank", 4, "alpha",
      16.0, "lr", 0.001, "state", "failed", "error", 12, "rank", 4, "alpha",
      32.0, "lr", 0.001, "state", "failed", "error", err, "rank", "x", "alpha",
      "y", "lr", "z", "state", "failed", "error", "");
  return runs;
}

/* Odd input of every kind: never a crash, always a well-formed page. */
static void test_malformed(void) {
  json_t *s_odd = json_pack("{s:i, s:[], s:s, s:{s:i, s:s, s:[], s:i}}", "name",
                            5, "counts", "state", "x\x01y", "spec", "task", 3,
                            "grid", "x", "optimizer", "scaling", 4);
  json_t *str = json_string("not a sweep"), *an = odd_analysis();
  json_t *runs = odd_runs(), *wrap = json_pack("{s:O}", "runs", runs);
  json_t *real = make_sweep(1, "peft", 40), *real_runs = make_runs(1);
  const json_t *sweeps[] = {NULL, str, s_odd, real};
  const json_t *ans[] = {NULL, str, an};
  const json_t *rs[] = {NULL, str, runs, wrap, real_runs};
  CHECK(s_odd != NULL && an != NULL && runs != NULL && wrap != NULL);
  for (size_t a = 0; a < 4; a++)
    for (size_t b = 0; b < 3; b++)
      for (size_t c = 0; c < 5; c++)
        for (int fmt = 0; fmt < 2; fmt++) {
          int rc = -99;
          char *out =
              render(sweeps[a], ans[b], rs[c], (la_report_format)fmt, &rc);
          CHECK_EQ_INT(rc, 0);
          CHECK(out != NULL);
          if (out && fmt == LA_REPORT_HTML) check_html_basics(out);
          if (out && a == 2) CHECK(strstr(out, "x y") != NULL);
          free(out);
        }
  json_decref(s_odd), json_decref(str), json_decref(an), json_decref(runs);
  json_decref(wrap), json_decref(real), json_decref(real_runs);
}

/* Bad arguments and a stream that cannot be written. */
static void test_errors(void) {
  la_err err = {""};
  json_t *sweep = make_sweep(1, "peft", 40);
  FILE *ro = fopen("/dev/null", "r");
  CHECK_EQ_INT(la_report_write(sweep, NULL, NULL, LA_REPORT_HTML, NULL, &err),
               LA_EINVAL);
  CHECK(strstr(err.msg, "report") != NULL);
  CHECK_EQ_INT(
      la_report_write(sweep, NULL, NULL, (la_report_format)7, stdout, NULL),
      LA_EINVAL);
  CHECK(ro != NULL);
  if (ro) {
    CHECK_EQ_INT(
        la_report_write(sweep, NULL, NULL, LA_REPORT_MARKDOWN, ro, &err),
        LA_EIO);
    fclose(ro);
  }
  json_decref(sweep);
}

/* argv[1], argv[2]: where to write the HTML of the one-lr and two-lr
 * cases (optional). */
int main(int argc, char **argv) {
  test_realistic(argc > 1 ? argv[1] : NULL);
  test_two_lrs(argc > 2 ? argv[2] : NULL);
  test_rslora();
  test_no_analysis();
  test_malformed();
  test_errors();
  return check_summary();
}
