/* test_report.c: the morning report (base/report.c). Builds a realistic
 * sweep, its runs and its analysis in code (4 ranks x 5 alphas x 2 seeds,
 * one failed run whose error holds <script> and &, diverged runs), writes
 * HTML and Markdown to memory and checks what they hold; then a missing
 * analysis, odd input of every kind and write errors; the search
 * section's law subsection (the prediction against what was found). With a path
 * as argv[1], the realistic HTML is also written there to look at. */
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
      fits, json_pack("{s:f, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, "
                      "s:i, s:b}",
                      "lr", k_lrs[l], "method", "free", "c", c, "c_lo",
                      c * 0.79, "c_hi", c * 1.27, "p", p, "p_lo",
                      l ? 0.02 : p - 0.13, "p_hi", l ? 0.71 : p + 0.13, "r2",
                      l ? 0.71 : 0.981, "scatter_log2", l ? 0.93 : 0.214,
                      "n_used", 3, "n_excluded", 1, "poor", l == 1));
  json_array_append_new(
      fits, json_pack("{s:f, s:s, s:f, s:f, s:f, s:f, s:n, s:n, s:f, s:f, "
                      "s:i, s:i, s:b}",
                      "lr", k_lrs[l], "method", "sqrt", "c", c * 1.084, "c_lo",
                      c * 0.94, "c_hi", c * 1.25, "p", 0.5, "p_lo", "p_hi",
                      "r2", 0.962, "scatter_log2", 0.251, "n_used", 3,
                      "n_excluded", 1, "poor", 0));
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

/* needle occurs in s exactly want times; prints both counts and the
 * needle when not. */
static void check_count(const char *s, const char *needle, int want) {
  int got = s ? count_str(s, needle) : -1;
  if (got != want)
    fprintf(stderr, "expected %d of \"%s\", found %d\n", want, needle, got);
  CHECK_EQ_INT(got, want);
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
  check_svgs(h, 7); /* the law, loss per rank, drift ratio, signal */
  CHECK(strstr(h, "nightly-sqrt-law") != NULL);
  CHECK(strstr(h, "A &lt;teacher&gt; &amp; its rank.") != NULL);
  CHECK(strstr(h, "α* = <b>8.21</b> · r<sup><b>0.551</b></sup>") != NULL);
  CHECK(strstr(h, "c = 8.21 [6.49, 10.4], p = 0.551 [0.421, 0.681]") != NULL);
  CHECK(strstr(h, "scatter 0.214 octaves (R² 0.981); 3 ranks used, 1 "
                  "excluded") != NULL);
  CHECK(strstr(h, "√r law: α* = 8.9 · √r; c = 8.9 [7.72, 10.3], scatter "
                  "0.251 octaves; 3 ranks used") != NULL);
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
  check_count(m, "| α\\* (full budget) | 8.21 | 12 | 17.6 | 25.8 |\n", 1);
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
    check_svgs(h, 2 + 2 * N_RANK + 2 * 2 + 4 * 2);
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
      check_svgs(h, N_RANK); /* the loss plots of the runs */
      CHECK(strstr(h, "The analysis is not available yet") != NULL);
      CHECK(strstr(h, "nightly-sqrt-law") != NULL);
      CHECK(strstr(h, "&lt;script&gt;") != NULL);
    }
    m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
    CHECK_EQ_INT(rc, 0);
    if (m) CHECK(strstr(m, "The analysis is not available yet") != NULL);
    if (m) CHECK(strstr(m, "| α | r = 1 | r = 2 | r = 4 | r = 8 |") != NULL);
    if (m) check_count(m, "(full budget)", 0);
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
  json_t *an2 = make_analysis(1, "peft");
  const json_t *sweeps[] = {NULL, str, s_odd, real};
  const json_t *ans[] = {NULL, str, an, an2};
  const json_t *rs[] = {NULL, str, runs, wrap, real_runs};
  CHECK(s_odd != NULL && an != NULL && runs != NULL && wrap != NULL);
  /* answers of every odd kind; a headline that is not text */
  json_object_set_new(
      an, "answers",
      json_loads("[1, null, {\"rank\": \"x\", \"rules\": 7, \"source\": "
                 "\"law_free\", \"why\": \"\", \"lr\": 3}, {\"rules\": [1, "
                 "{\"name\": 5}, {\"name\": \"alpha=r\", \"loss_pct\": "
                 "\"NaN\", \"alpha\": -1.0}, {\"name\": \"alpha=2r\", "
                 "\"loss_pct\": null, \"alpha\": null}], \"rank\": 1e308, "
                 "\"alpha\": null, \"at_edge\": true, \"source\": 9}]",
                 0, NULL));
  CHECK_EQ_INT(json_array_size(json_object_get(an, "answers")), 4);
  json_object_set_new(an, "headline", json_integer(5));
  json_object_set_new(an2, "answers", json_string("none"));
  json_object_set_new(an2, "headline", json_string("rank <b>1</b> & *x*"));
  for (size_t a = 0; a < 4; a++)
    for (size_t b = 0; b < 4; b++)
      for (size_t c = 0; c < 5; c++)
        for (int fmt = 0; fmt < 2; fmt++) {
          int rc = -99;
          char *out =
              render(sweeps[a], ans[b], rs[c], (la_report_format)fmt, &rc);
          CHECK_EQ_INT(rc, 0);
          CHECK(out != NULL);
          if (out && fmt == LA_REPORT_HTML) check_html_basics(out);
          if (out && a == 2) CHECK(strstr(out, "x y") != NULL);
          if (out && b == 3 && fmt == LA_REPORT_HTML)
            check_count(out, "rank &lt;b&gt;1&lt;/b&gt; &amp; *x*", 1);
          free(out);
        }
  json_decref(s_odd), json_decref(str), json_decref(an), json_decref(runs);
  json_decref(wrap), json_decref(real), json_decref(real_runs);
  json_decref(an2);
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

/* ---- the answer, the loss plots, colours, fits, states, formats ------ */

/* The part of s from the first from to the next to after it (malloc'd,
 * "" when from is missing). */
static char *slice(const char *s, const char *from, const char *to) {
  const char *a = strstr(s, from), *b = a ? strstr(a + strlen(from), to) : NULL;
  size_t n = a ? (b ? (size_t)(b - a) : strlen(a)) : 0;
  char *out = malloc(n + 1);
  if (out == NULL) return NULL;
  memcpy(out, a ? a : "", n);
  out[n] = '\0';
  return out;
}

/* The value of attribute name (name="...") after p and before end, as a
 * number (NaN when missing). */
static double attr_num(const char *p, const char *end, const char *name) {
  char pat[40];
  const char *q;
  snprintf(pat, sizeof pat, " %s=\"", name);
  q = strstr(p, pat);
  return q && (end == NULL || q < end) ? strtod(q + strlen(pat), NULL) : NAN;
}

/* The answer per tested rank at lr 0.001 (docs/analysis.md, "answers"):
 * measured α* from the full budget; rank `doubt` (if >= 0) ill-determined;
 * loss_pct null for α = r at rank 1 (outside the grid). */
static json_t *make_answers(int doubt) {
  json_t *arr = json_array();
  for (int i = 0; i < N_RANK; i++) {
    json_t *st = make_star(i, 0, 1.0), *rules = json_array();
    double a = json_real_value(json_object_get(st, "alpha"));
    for (int k = 0; k < 3; k++) {
      double ra = k_rules[k].coef * pow(k_ranks[i], k_rules[k].power + 1);
      json_t *o = json_pack("{s:s, s:f}", "name", k_rules[k].name, "alpha", ra);
      json_object_set_new(o, "loss_pct",
                          i == 0 && k == 0 ? json_null()
                                           : json_real(1.5 + 2.6 * k + i));
      json_array_append_new(rules, o);
    }
    json_array_append_new(
        arr, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:s, s:s, s:b, s:b, "
                       "s:o, s:s}",
                       "rank", k_ranks[i], "alpha", a, "alpha_lo", a / 1.4,
                       "alpha_hi", a * 1.4, "lr", 0.001, "loss", 0.0123,
                       "source", "measured", "why",
                       "tested rank: the measured α* & its interval",
                       "ill_determined", i == doubt, "at_edge", 0, "rules",
                       rules, "text", "rank"));
    json_decref(st);
  }
  return arr;
}

static const char k_headline[] =
    "rank 8: α ≈ 25.8 [18.5, 36.2] at lr 0.001; α = 2r would lose ~4.1%";

/* The headline and the answers' table in HTML and Markdown when the
 * analysis has them, in large type only when the answer is sound, and
 * nothing of them when it has none. */
static void test_answer(void) {
  json_t *sweep = make_sweep(1, "peft", 40), *runs = make_runs(1);
  json_t *an = make_analysis(1, "peft"), *bare = make_analysis(1, "peft");
  int rc = -99;
  char *h, *m;
  json_object_set_new(an, "answers", make_answers(-1));
  json_object_set_new(an, "headline", json_string(k_headline));
  h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
  CHECK(h != NULL && m != NULL);
  if (h && m) {
    check_html_basics(h);
    check_count(h,
                "<p class=\"headline\">rank 8: α ≈ 25.8 [18.5, 36.2] at lr "
                "0.001; α = 2r would lose ~4.1%</p>",
                1);
    check_count(h, "<section id=\"answer\">", 1);
    check_count(h, "<a href=\"#answer\">Answer</a>", 1);
    check_count(h, "<th>α = 2r would lose</th>", 1);
    check_count(h, "<th>rsLoRA α = 16 would lose</th>", 1);
    check_count(h, "<td>measured α*</td>", 4);
    check_count(h, "the measured α* &amp; its interval", 4);
    check_count(h, "<td class=\"n\">~4.1% (α 2)</td>", 1);
    check_count(h, "<td class=\"n\">– (α 1)</td>", 1);
    check_count(h, "Read with care", 0);
    CHECK(strstr(h, "id=\"answer\"") < strstr(h, "id=\"sweep\""));
    check_count(m,
                "## The answer\n\n**rank 8: α ≈ 25.8 [18.5, 36.2] at lr "
                "0.001; α = 2r would lose \\~4.1%**\n",
                1);
    check_count(m,
                "| rank | α | interval | lr | loss | source | why | flags "
                "| α = r would lose | α = 2r would lose |",
                1);
    check_count(m,
                "| 8 | 25.8 | [18.5, 36.2] | 0.001 | 0.0123 | measured "
                "α\\* |",
                1);
    check_count(m, "| \\~4.1% (α 2) |", 1); /* ~ escaped: no strike */
  }
  free(h), free(m);
  /* the largest rank's α* is ill-determined: no large type, the reason */
  json_object_set_new(an, "answers", make_answers(3));
  h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
  if (h && m) {
    check_count(h, "class=\"headline\"", 0);
    check_count(h,
                "<p class=\"warn\"><strong>Read with care:</strong> rank "
                "8: α ≈ 25.8",
                1);
    check_count(h, "the loss is nearly flat in α at this rank", 1);
    check_count(m, "> **Read with care:** rank 8: α ≈ 25.8", 1);
  }
  free(h), free(m);
  /* no answer: no section, no link, no headline in either format */
  h = render(sweep, bare, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, bare, runs, LA_REPORT_MARKDOWN, &rc);
  if (h && m) {
    check_count(h, "id=\"answer\"", 0);
    check_count(h, "#answer", 0);
    check_count(h, "class=\"headline\"", 0);
    check_count(m, "The answer", 0);
    check_count(m, "would lose", 0);
  }
  free(h), free(m);
  json_decref(sweep), json_decref(runs), json_decref(an), json_decref(bare);
}

/* The joint optimum section (docs/analysis.md, "The joint optimum"): the
 * pooled trade-off in words and a row per rank with its flags, in HTML and
 * Markdown, after the answer; nothing when the full budget has no joint. */
static void test_joint(void) {
  json_t *sweep = make_sweep(1, "peft", 40), *runs = make_runs(1);
  json_t *an = make_analysis(1, "peft"), *bare = make_analysis(1, "peft");
  json_t *cks = json_object_get(an, "checkpoints");
  json_t *full = json_array_get(cks, json_array_size(cks) - 1);
  const char *pooled = "α* falls as lr^-0.92 [-1.10, -0.75]: α·lr is roughly "
                       "what matters";
  int rc = -99;
  char *h, *m;
  json_object_set_new(
      full, "joint",
      json_pack("{s:[{s:i, s:f, s:b, s:f, s:f, s:f, s:b, s:b, s:f, "
                "s:{s:f, s:f, s:f, s:s, s:s}}], s:{s:f, s:f, s:f, s:s, s:s}}",
                "ranks", "rank", 8, "lr", 0.003, "lr_at_edge", 1, "alpha", 25.8,
                "alpha_lo", 18.5, "alpha_hi", 36.2, "alpha_at_edge", 0,
                "ill_determined", 0, "loss", 0.0123, "tradeoff", "slope", -0.9,
                "slope_lo", -1.2, "slope_hi", -0.7, "verdict", "alpha_lr",
                "text", "α* falls as lr^-0.90 & so on", "tradeoff", "slope",
                -0.92, "slope_lo", -1.1, "slope_hi", -0.75, "verdict",
                "alpha_lr", "text", pooled));
  json_object_set_new(an, "answers", make_answers(-1));
  json_object_set_new(an, "headline", json_string(k_headline));
  h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
  CHECK(h != NULL && m != NULL);
  if (h && m) {
    check_html_basics(h);
    check_count(h, "<section id=\"joint\">", 1);
    check_count(h,
                "<p>All ranks: α* falls as lr^-0.92 [-1.10, -0.75]: α·lr is "
                "roughly what matters.</p>",
                1);
    check_count(h,
                "<td class=\"n\">8</td><td class=\"n\">0.003</td><td "
                "class=\"n\">25.8</td><td class=\"n\">[18.5, 36.2]</td>",
                1);
    check_count(h, "<td>α* falls as lr^-0.90 &amp; so on</td>", 1);
    check_count(h, "<td class=\"flag\">lr at edge</td>", 1);
    CHECK(strstr(h, "id=\"answer\"") < strstr(h, "id=\"joint\""));
    check_count(m, "## The joint optimum (α, lr)", 1);
    check_count(m,
                "| 8 | 0.003 | 25.8 | [18.5, 36.2] | 0.0123 | -0.9 | [-1.2, "
                "-0.7] |",
                1);
  }
  free(h), free(m);
  h = render(sweep, bare, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, bare, runs, LA_REPORT_MARKDOWN, &rc);
  if (h && m) {
    check_count(h, "id=\"joint\"", 0);
    check_count(m, "joint optimum", 0);
  }
  free(h), free(m);
  json_decref(sweep), json_decref(runs), json_decref(an), json_decref(bare);
}

/* The three claims section (docs/analysis.md, "The three claims"): each
 * claim's verdict in words, claim 1's plot along α and table at α*, claim
 * 2's plot against the loss change and table, claim 3's place; plots in
 * HTML only; nothing when the analysis has no claims. */
static void test_claims(void) {
  static const char claims[] =
      "{\"sharpness\": {\"verdict\": \"supported\", \"text\": \"at α*, LoRA's "
      "sharpness is 0.3× [0.2, 0.4] the full weights'\", \"ranks\": "
      "[{\"rank\": "
      "8, \"lr\": 0.003, \"alpha_grid\": 16.0, \"lora\": 3.0, \"full\": 10.0, "
      "\"ratio\": 0.3, \"ratio_lo\": 0.2, \"ratio_hi\": 0.4, \"n\": 2, "
      "\"missing\": null, \"along_alpha\": [{\"alpha\": 4.0, \"ratio\": 0.2}, "
      "{\"alpha\": 16.0, \"ratio\": 0.3}, {\"alpha\": 64.0, \"ratio\": "
      "0.5}]}]}, \"drift\": {\"verdict\": \"alike\", \"text\": \"raising α "
      "acts like raising lr here\", \"drift_ratio\": {\"ratio\": 0.9}, "
      "\"ranks\": [{\"rank\": 8, \"along_alpha\": [{\"loss_change\": 0.0, "
      "\"drift_ratio\": 0.2, \"down\": true}, {\"loss_change\": 0.1, "
      "\"drift_ratio\": 0.25, \"down\": true}], \"along_lr\": "
      "[{\"loss_change\": 0.0, \"drift_ratio\": 0.2, \"down\": true}, "
      "{\"loss_change\": 0.2, \"drift_ratio\": 0.3, \"down\": true}], "
      "\"drift_ratio\": {\"loss_change\": 0.1, \"ratio\": 0.9, \"ratio_lo\": "
      "0.7, \"ratio_hi\": 1.2, \"alpha_fold\": 1.25, \"lr_fold\": 1.4, "
      "\"missing\": null}, \"mech_ratio\": {\"missing\": \"no mechanism ratio "
      "recorded\"}}]}, \"law\": {\"verdict\": \"mixed\", \"n_compatible\": "
      "1, \"n_decided\": 2, \"text\": \"√r law (p = 0.5) compatible in 1 of 2 "
      "cells\"}}";
  json_t *sweep = make_sweep(1, "peft", 40), *runs = make_runs(1);
  json_t *an = make_analysis(1, "peft"), *bare = make_analysis(1, "peft");
  int rc = -99;
  char *h, *m;
  json_object_set_new(an, "claims", json_loads(claims, 0, NULL));
  CHECK(json_is_object(json_object_get(an, "claims")));
  h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
  CHECK(h != NULL && m != NULL);
  if (h && m) {
    check_html_basics(h);
    check_count(h, "<section id=\"claims\">", 1);
    check_count(h, "<h2>The three claims</h2>", 1);
    check_count(h,
                "<p>Claim 1 — supported: at α*, LoRA&#39;s sharpness is 0.3× "
                "[0.2, 0.4] the full weights&#39;.</p>",
                1);
    check_count(h,
                "<p>Claim 2 — alike: raising α acts like raising lr "
                "here.</p>",
                1);
    check_count(h, "LoRA / full sharpness against α",
                2); /* heading, svg title */
    check_count(h, "Drift ratio against the loss change at rank 8", 2);
    check_count(h,
                "<td class=\"n\">8</td><td class=\"n\">0.003</td><td "
                "class=\"n\">16</td><td class=\"n\">3</td><td "
                "class=\"n\">10</td><td class=\"n\">0.3</td><td "
                "class=\"n\">[0.2, 0.4]</td>",
                1);
    check_count(h, "<td>no mechanism ratio recorded</td>", 1);
    check_count(h, "<h3>Claim 3: the law per lr and budget</h3>", 1);
    check_count(h,
                "<p>Claim 3 — mixed: √r law (p = 0.5) compatible in 1 of 2 "
                "cells.</p>",
                1);
    check_count(h, "Its table is in the section", 1);
    check_count(
        m, "Claim 3 — mixed: √r law (p = 0.5) compatible in 1 of 2 cells.", 1);
    check_count(m, "## The three claims", 1);
    check_count(m, "### Claim 1: LoRA smooths the loss landscape", 1);
    check_count(m, "| 8 | drift ratio | 0.1 | 0.9 | [0.7, 1.2] | 1.25 | 1.4 |",
                1);
    check_count(m, "LoRA / full sharpness against α", 0);
  }
  free(h), free(m);
  h = render(sweep, bare, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, bare, runs, LA_REPORT_MARKDOWN, &rc);
  if (h && m) {
    check_count(h, "id=\"claims\"", 0);
    check_count(m, "The three claims", 0);
  }
  free(h), free(m);
  json_decref(sweep), json_decref(runs), json_decref(an), json_decref(bare);
}

/* The law across lr and budget (docs/analysis.md): the verdict, a row per
 * (lr, checkpoint) cell with p, its interval and the sqrt(r) mark, the two
 * trends, in HTML and Markdown, after the joint optimum; nothing without
 * law_surface. */
static void test_surface(void) {
  json_t *sweep = make_sweep(1, "peft", 40), *runs = make_runs(1);
  json_t *an = make_analysis(1, "peft"), *bare = make_analysis(1, "peft");
  int rc = -99;
  char *h, *m;
  json_t *cells = json_pack(
      "[{s:f, s:i, s:f, s:f, s:f, s:f, s:b, s:f, s:f, s:f, s:i, s:b},"
      " {s:f, s:i, s:f, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:i, s:b}]",
      "lr", 0.001, "step", 300, "lr_steps", 0.3, "p", 0.25, "p_lo", 0.1, "p_hi",
      0.4, "sqrt_compatible", 0, "c_sqrt", 8.9, "c_sqrt_lo", 7.0, "c_sqrt_hi",
      11.2, "n_used", 4, "insufficient", 0, "lr", 0.001, "step", 150,
      "lr_steps", 0.15, "p", "p_lo", "p_hi", "sqrt_compatible", "c_sqrt",
      "c_sqrt_lo", "c_sqrt_hi", "n_used", 2, "insufficient", 1);
  json_object_set_new(
      an, "law_surface",
      json_pack("{s:o, s:{s:s}, s:{s:s}, s:s}", "cells", cells, "c_sqrt_trend",
                "text", "c_sqrt against lr·steps: 1 usable cell", "p_trend",
                "text", "p against lr·steps: 1 usable cell", "verdict",
                "√r law (p = 0.5) compatible in 0 of 1 cells: at lr 0.001: too "
                "few usable ranks at 150 steps, p below 0.5 at 300 steps (p "
                "0.25) & more"));
  h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
  CHECK(h != NULL && m != NULL);
  if (h && m) {
    check_html_basics(h);
    check_count(h, "<section id=\"law-surface\">", 1);
    check_count(h, "<h2>The law across lr and budget</h2>", 1);
    check_count(h,
                "<p>Verdict: √r law (p = 0.5) compatible in 0 of 1 cells: at "
                "lr 0.001: too few usable ranks at 150 steps, p below 0.5 at "
                "300 steps (p 0.25) &amp; more.</p>",
                1);
    check_count(h,
                "<td class=\"n\">0.001</td><td class=\"n\">300</td><td "
                "class=\"n\">0.3</td><td class=\"n\">0.25</td><td "
                "class=\"n\">[0.1, 0.4]</td><td class=\"flag\">✗ excludes "
                "0.5</td><td class=\"n\">8.9</td><td class=\"n\">[7, "
                "11.2]</td><td class=\"n\">4</td>",
                1);
    check_count(h, "<td class=\"flag\">too few ranks</td>", 1);
    check_count(h,
                "<p>√r coefficient: c_sqrt against lr·steps: 1 usable cell. "
                "p: p against lr·steps: 1 usable cell.</p>",
                1);
    CHECK(strstr(h, "id=\"joint\"") == NULL ||
          strstr(h, "id=\"joint\"") < strstr(h, "id=\"law-surface\""));
    check_count(m, "## The law across lr and budget", 1);
    check_count(m, "Verdict: √r law (p = 0.5) compatible in 0 of 1 cells", 1);
    check_count(m,
                "| 0.001 | 300 | 0.3 | 0.25 | [0.1, 0.4] | ✗ excludes 0.5 | "
                "8.9 | [7, 11.2] | 4 |",
                1);
  }
  free(h), free(m);
  h = render(sweep, bare, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, bare, runs, LA_REPORT_MARKDOWN, &rc);
  if (h && m) {
    check_count(h, "id=\"law-surface\"", 0);
    check_count(m, "across lr and budget", 0);
  }
  free(h), free(m);
  json_decref(sweep), json_decref(runs), json_decref(an), json_decref(bare);
}

/* The smallest and largest final eval loss of the done runs of rank at
 * lr. */
static void rank_losses(const json_t *runs, int rank, double lr, double *lo,
                        double *hi) {
  *lo = INFINITY, *hi = -INFINITY;
  for (size_t i = 0; i < json_array_size(runs); i++) {
    const json_t *o = json_array_get(runs, i);
    double x = json_number_value(json_object_get(o, "final_eval_loss"));
    if (json_integer_value(json_object_get(o, "rank")) != rank ||
        fabs(json_number_value(json_object_get(o, "lr")) - lr) > 1e-12 ||
        strcmp(json_string_value(json_object_get(o, "state")), "done") != 0)
      continue;
    *lo = fmin(*lo, x), *hi = fmax(*hi, x);
  }
}

/* The y tick values of svg (texts anchored at the end: the y axis);
 * returns the count. */
static int y_ticks(const char *svg, double *t, int cap) {
  int n = 0;
  for (const char *p = strstr(svg, "text-anchor=\"end\">"); p && n < cap;
       p = strstr(p + 1, "text-anchor=\"end\">"))
    t[n++] = strtod(p + strlen("text-anchor=\"end\">"), NULL);
  return n;
}

/* The vertical extent in pixels of the polyline of colour col in svg
 * (0 when there is none). */
static double line_extent(const char *svg, const char *col) {
  char pat[64];
  const char *p, *q;
  double lo = INFINITY, hi = -INFINITY;
  snprintf(pat, sizeof pat, "<polyline fill=\"none\" stroke=\"%s\"", col);
  p = strstr(svg, pat);
  if (p == NULL || (p = strstr(p, "points=\"")) == NULL) return 0;
  p += 8;
  for (q = strchr(p, '"'); p && p < q;) {
    char *e;
    double y;
    p = strchr(p, ',');
    if (p == NULL || p > q) break;
    y = strtod(p + 1, &e);
    lo = fmin(lo, y), hi = fmax(hi, y);
    p = e;
  }
  return hi >= lo ? hi - lo : 0;
}

/* The number in the <title> of the first element of class cls in svg
 * whose title starts with prefix (NaN when there is none), and its x1. */
static double mark(const char *svg, const char *cls, const char *prefix,
                   double *x1) {
  char pat[64];
  snprintf(pat, sizeof pat, "<line class=\"%s\"", cls);
  for (const char *p = strstr(svg, pat); p; p = strstr(p + 1, pat)) {
    const char *t = strstr(p, "<title>");
    if (t && strncmp(t + 7, prefix, strlen(prefix)) == 0) {
      *x1 = attr_num(p, t, "x1");
      return strtod(t + 7 + strlen(prefix), NULL);
    }
  }
  *x1 = NAN;
  return NAN;
}

/* Reads the colours of web/js/api.js: PALETTE's strings into pal (returns
 * their count) and VIRIDIS's stops into vir[*nv][3]. */
static int read_dashboard_colours(char pal[][8], int cap, double vir[][3],
                                  int *nv) {
  FILE *f = fopen(LA_TEST_API_JS, "r");
  static char js[65536];
  size_t len;
  int n = 0;
  const char *p, *end;
  *nv = 0;
  CHECK(f != NULL);
  if (f == NULL) return 0;
  len = fread(js, 1, sizeof js - 1, f);
  fclose(f);
  js[len] = '\0';
  p = strstr(js, "PALETTE = [");
  end = p ? strchr(p, ']') : NULL;
  for (p = p ? strchr(p, '\'') : NULL; p && p < end && n < cap;
       p = strchr(p + 9, '\''))
    if (sscanf(p + 1, "%7[#0-9a-fA-F]", pal[n]) == 1) n++;
  p = strstr(js, "VIRIDIS = [");
  end = p ? strstr(p, "]];") : NULL;
  for (p = p ? strchr(p + 11, '[') : NULL; p && p < end && *nv < 16;
       p = strchr(p + 1, '[')) {
    if (sscanf(p, "[%lf, %lf, %lf]", &vir[*nv][0], &vir[*nv][1],
               &vir[*nv][2]) == 3)
      (*nv)++;
  }
  return n;
}

/* The dashboard's viridis(t) (api.js) from its stops, as "rgb(r,g,b)". */
static void js_viridis(double t, double vir[][3], int nv, char *out,
                       size_t size) {
  double x = fmin(1, fmax(0, t)) * (nv - 1), f;
  int i = (int)fmin(nv - 2, floor(x)), c[3];
  f = x - i;
  for (int k = 0; k < 3; k++)
    c[k] = (int)floor(vir[i][k] + f * (vir[i + 1][k] - vir[i][k]) + 0.5);
  snprintf(out, size, "rgb(%d,%d,%d)", c[0], c[1], c[2]);
}

/* One small plot of rank i at lr 0.001: its own y range around the
 * rank's losses, a curve using most of its height, in the dashboard's
 * colour, with α* and the three rules marked where they belong. */
static void check_rank_plot(const char *h, const json_t *runs, const json_t *an,
                            int i, const char *col) {
  char title[96], *svg;
  double t[16], lo, hi, x[4], v, pt, ph;
  int n;
  snprintf(title, sizeof title, "<title>Loss against α, r = %d, lr 0.001",
           k_ranks[i]);
  svg = slice(h, title, "</svg>");
  CHECK(svg != NULL && *svg != '\0');
  if (svg == NULL || *svg == '\0') {
    fprintf(stderr, "no plot \"%s\"\n", title);
    free(svg);
    return;
  }
  rank_losses(runs, k_ranks[i], 0.001, &lo, &hi);
  n = y_ticks(svg, t, 16);
  if (n < 2) fprintf(stderr, "r = %d: %d y ticks\n", k_ranks[i], n);
  CHECK(n >= 2);
  for (int k = 0; k < n; k++) {
    if (!(t[k] >= lo / 2 && t[k] <= hi * 2))
      fprintf(stderr,
              "r = %d: y tick %g outside [%g, %g] (its losses / 2, "
              "* 2)\n",
              k_ranks[i], t[k], lo / 2, hi * 2);
    CHECK(t[k] >= lo / 2 && t[k] <= hi * 2);
  }
  pt = attr_num(svg, NULL, "y"), ph = attr_num(svg, NULL, "height");
  v = line_extent(svg, col);
  if (!(v > 0.5 * ph))
    fprintf(stderr, "r = %d: curve of %s spans %g px of %g (from y %g)\n",
            k_ranks[i], col, v, ph, pt);
  CHECK(v > 0.5 * ph);
  {
    char pat[64];
    snprintf(pat, sizeof pat, "font-weight=\"bold\" fill=\"%s\">r = %d", col,
             k_ranks[i]);
    check_count(svg, pat, 1);
  }
  check_count(svg, "class=\"mark-star\"", 1);
  check_count(svg, "class=\"mark-rule\"", 3);
  {
    const json_t *ck = json_array_get(json_object_get(an, "checkpoints"), 2);
    const json_t *st = json_array_get(json_object_get(ck, "alpha_star"), i);
    double want = json_real_value(json_object_get(st, "alpha"));
    CHECK_CLOSE(mark(svg, "mark-star", "α* = ", &x[0]), want, 0.006 * want);
  }
  CHECK_CLOSE(mark(svg, "mark-rule", "α = r: α = ", &x[1]), k_ranks[i], 1e-9);
  CHECK_CLOSE(mark(svg, "mark-rule", "α = 2r: α = ", &x[2]), 2 * k_ranks[i],
              1e-9);
  CHECK_CLOSE(mark(svg, "mark-rule", "rsLoRA 16: α = ", &x[3]),
              16 * sqrt(k_ranks[i]), 0.006 * 16 * sqrt(k_ranks[i]));
  if (!(x[1] < x[2])) fprintf(stderr, "x of α = r %g, of 2r %g\n", x[1], x[2]);
  CHECK(x[1] < x[2]); /* placed by α on the axis */
  free(svg);
}

/* A small plot per rank, each on its own y range, in the dashboard's
 * colours (read from web/js/api.js), with the markers; the drift curves
 * per α in its viridis. */
static void test_loss_plots(void) {
  json_t *sweep = make_sweep(2, "peft", 80), *runs = make_runs(2);
  json_t *an = make_analysis(2, "peft");
  char pal[16][8], want[32], *svg;
  double vir[16][3];
  int nv, np = read_dashboard_colours(pal, 16, vir, &nv), rc = -99;
  char *h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  CHECK_EQ_INT(np, 10);
  CHECK_EQ_INT(nv, 10);
  if (h && np >= N_RANK) {
    for (int i = 0; i < N_RANK; i++)
      check_rank_plot(h, runs, an, i, pal[i]);
    check_count(h, "<title>Loss against α, r = ", 2 * N_RANK);
  }
  /* ten ranks: each its colour of the whole palette, in order */
  {
    json_t *ten = json_array();
    char *t10, pat[64];
    for (int i = 0; i < 10; i++)
      for (int a = 0; a < 2; a++)
        json_array_append_new(ten, make_run(1 + 2 * i + a, i + 1,
                                            4.0 * (1 + 3 * a), 0.001, 0, "done",
                                            0.01 * (1 + a + i), NULL));
    t10 = render(sweep, NULL, ten, LA_REPORT_HTML, &rc);
    for (int i = 0; t10 && i < np; i++) {
      snprintf(pat, sizeof pat, "font-weight=\"bold\" fill=\"%.7s\">r = %d",
               pal[i], i + 1);
      check_count(t10, pat, 1);
    }
    free(t10);
    json_decref(ten);
  }
  /* drift against lr at rank 8: a curve per α in viridis over the runs'
   * α range (2 .. 512), as the dashboard colours α */
  svg =
      h ? slice(h, "<title>Drift ratio against lr at rank 8", "</svg>") : NULL;
  for (int a = 0; svg && nv >= 2 && a < N_ALPHA; a++) {
    char pat[64];
    js_viridis(0.9 * log(k_alphas[a] / 2) / log(512.0 / 2), vir, nv, want,
               sizeof want);
    snprintf(pat, sizeof pat, "<polyline fill=\"none\" stroke=\"%s\"", want);
    check_count(svg, pat, 1);
  }
  free(svg), free(h);
  json_decref(sweep), json_decref(runs), json_decref(an);
}

/* Every plot is drawn at its own size with fonts that read at normal
 * zoom: width and height equal to the viewBox's, a font of at least 13
 * and no text under 12 units. */
static void test_readable(void) {
  json_t *sweep = make_sweep(2, "peft", 80), *runs = make_runs(2);
  json_t *an = make_analysis(2, "peft");
  int rc = -99, n = 0;
  char *h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  for (const char *p = h ? strstr(h, "<svg ") : NULL; p;
       p = strstr(p + 1, "<svg ")) {
    const char *e = strchr(p, '>');
    double vw = 0, vh = 0;
    sscanf(strstr(p, "viewBox=\"") + 9, "0 0 %lf %lf", &vw, &vh);
    CHECK_CLOSE(attr_num(p, e, "width"), vw, 1e-9);
    CHECK_CLOSE(attr_num(p, e, "height"), vh, 1e-9);
    CHECK(attr_num(p, e, "font-size") >= 13);
    n++;
  }
  CHECK(n > 10);
  for (const char *p = h ? strstr(h, " font-size=\"") : NULL; p;
       p = strstr(p + 1, " font-size=\"")) {
    double fs = strtod(p + 12, NULL);
    if (fs < 12) fprintf(stderr, "font-size %g under 12\n", fs);
    CHECK(fs >= 12);
  }
  if (h) check_count(h, "svg{width:100%", 0);
  free(h);
  json_decref(sweep), json_decref(runs), json_decref(an);
}

/* The note on the scatter, R² and intervals follows the fits (the law,
 * the budget table); a free fit the analysis found 2 ranks too few for is
 * not fitted and says why; a poor fit is never in large type. */
static void test_fit_notes(void) {
  json_t *sweep = make_sweep(2, "peft", 80), *runs = make_runs(2);
  json_t *an = make_analysis(2, "peft");
  const json_t *cks = json_object_get(an, "checkpoints");
  json_t *fit = json_array_get(json_object_get(json_array_get(cks, 2), "fits"),
                               0); /* lr 0.001 free */
  int rc = -99;
  char *h, *m, *budget, *law;
  json_object_set_new(fit, "n_used", json_integer(2));
  json_object_set_new(fit, "insufficient", json_true());
  json_object_set_new(fit, "reason",
                      json_string("2 usable ranks (inside the grid and well "
                                  "determined); the free law needs 3 (its "
                                  "parameters + 1)"));
  h = render(sweep, an, runs, LA_REPORT_HTML, &rc);
  m = render(sweep, an, runs, LA_REPORT_MARKDOWN, &rc);
  budget = h ? slice(h, "<section id=\"budget\">", "</section>") : NULL;
  law = h ? slice(h, "<section id=\"law\">", "</section>") : NULL;
  if (budget && law && m) {
    const char *t = strstr(budget, "</table>");
    const char *nt = strstr(budget, "How to read the fits.");
    CHECK(t != NULL && nt != NULL && nt > t); /* under the table */
    check_count(budget, "a line through 2 points fits them exactly", 1);
    check_count(budget, "is negative when the √r line does worse", 1);
    check_count(budget, "The scatter is the RMS distance", 1);
    check_count(budget,
                "Intervals [lo, hi] come from refitting bootstrap "
                "resamples",
                1);
    check_count(law, "How to read the fits.", 1);
    check_count(law, "Free law: not fitted: 2 usable ranks", 1);
    check_count(budget, "not fitted (2 ranks usable, needs 3)", 1);
    check_count(budget, "<th>√r scatter</th>", 1);
    check_count(m, "How to read the fits.", 2);
    /* lr 0.01's free fit is poor: plain type, marked; lr 0.001's is not
     * fitted: no formula in large type at all */
    check_count(law, "<p class=\"formula\">", 0);
    check_count(law, "<p>Free law (poor fit): α* = 4.11 · r<sup>0.31</sup>", 1);
    check_count(m, "- Free law (poor fit): α\\* = 4.11 · r^0.31;", 1);
    check_count(m, "**Free law: α\\* = 4.11", 0);
  }
  free(h), free(m), free(budget), free(law);
  json_decref(sweep), json_decref(runs), json_decref(an);
}

/* A sweep whose runs all failed says so at the top, with why; so does a
 * cancelled one, and one marked done with no run that finished with a
 * loss; a done sweep has no such banner. */
static void test_states(void) {
  static const struct {
    const char *state, *lead, *title;
    int failed, cancelled, done;
  } cases[] = {
      {"failed", "This sweep failed.", " (failed)</title>", 40, 0, 0},
      {"cancelled", "This sweep was cancelled: what follows is partial.",
       " (cancelled)</title>", 3, 25, 12},
      {"done", "No run of this sweep finished with a loss",
       " (nothing finished)</title>", 40, 0, 0},
      {"active", "This sweep is still running", "sqrt-law</title>", 0, 0, 4},
      {"done", NULL, "sqrt-law</title>", 1, 0, 39}};
  json_t *runs = json_array();
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    json_t *sweep = make_sweep(1, "peft", 40);
    json_t *counts = json_pack(
        "{s:i, s:i, s:i, s:i, s:i, s:i}", "queued",
        40 - cases[k].failed - cases[k].cancelled - cases[k].done, "running", 0,
        "done", cases[k].done, "failed", cases[k].failed, "diverged", 0,
        "cancelled", cases[k].cancelled);
    int rc = -99;
    char *h, *m, *head, want[200];
    json_object_set_new(sweep, "state", json_string(cases[k].state));
    json_object_set_new(sweep, "counts", counts);
    if (k == 0)
      json_object_set_new(sweep, "error",
                          json_string("stopped: 6 runs failed with the same "
                                      "error: data file <x.npy> not found"));
    h = render(sweep, NULL, runs, LA_REPORT_HTML, &rc);
    m = render(sweep, NULL, runs, LA_REPORT_MARKDOWN, &rc);
    head = h ? slice(h, "<head>", "</header>") : NULL;
    if (head && m && cases[k].lead) {
      snprintf(want, sizeof want, "<strong>%s", cases[k].lead);
      check_count(head, want, 1);
      snprintf(want, sizeof want, "> **%s", cases[k].lead);
      check_count(m, want, 1);
    } else if (head && m) {
      check_count(head, "class=\"state", 0);
      check_count(m, "> **", 0);
    }
    if (head) check_count(head, cases[k].title, 1);
    if (head && k == 0) {
      check_count(head,
                  "<p class=\"state\"><strong>This sweep failed."
                  "</strong> Why: stopped: 6 runs failed with the same "
                  "error: data file &lt;x.npy&gt; not found</p>",
                  1);
      check_count(head, "· failed · 40 runs: failed 40 (", 1);
    }
    if (head && k == 1) check_count(head, "done 12, failed 3, cancelled 25", 1);
    snprintf(want, sizeof want, "<tr><th>state</th><td%s>%s</td></tr>",
             cases[k].lead && k != 3 ? " class=\"flag\"" : "", cases[k].state);
    if (h) check_count(h, want, 1);
    if (head && k == 3) check_count(head, "class=\"state active\"", 1);
    free(h), free(m), free(head);
    json_decref(sweep);
  }
  json_decref(runs);
}

/* The format of a name (--format, ?format=) and of a file name's
 * extension (--output), in any case. */
static void test_formats(void) {
  static const struct {
    const char *path;
    la_report_format want;
  } paths[] = {{"x.md", LA_REPORT_MARKDOWN},
               {"X.MD", LA_REPORT_MARKDOWN},
               {"a/b.Md", LA_REPORT_MARKDOWN},
               {"n.markdown", LA_REPORT_MARKDOWN},
               {"N.MARKDOWN", LA_REPORT_MARKDOWN},
               {"x.html", LA_REPORT_HTML},
               {"x.HTM", LA_REPORT_HTML},
               {"x.md.html", LA_REPORT_HTML},
               {"notes.md/report", LA_REPORT_HTML},
               {"report", LA_REPORT_HTML},
               {"x.mdx", LA_REPORT_HTML},
               {"x.", LA_REPORT_HTML},
               {NULL, LA_REPORT_HTML}};
  static const char *const md[] = {"md", "MD", "markdown", "Markdown"};
  static const char *const bad[] = {"", "pdf", "m", "mdx", "html5", NULL};
  la_report_format f;
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
    la_report_format got = la_report_format_of_path(paths[i].path);
    if (got != paths[i].want)
      fprintf(stderr, "format of path %s\n",
              paths[i].path ? paths[i].path : "(null)");
    CHECK_EQ_INT(got, paths[i].want);
  }
  for (size_t i = 0; i < sizeof md / sizeof *md; i++) {
    f = LA_REPORT_HTML;
    CHECK_EQ_INT(la_report_format_named(md[i], &f), 0);
    CHECK_EQ_INT(f, LA_REPORT_MARKDOWN);
  }
  f = LA_REPORT_MARKDOWN;
  CHECK_EQ_INT(la_report_format_named("HTML", &f), 0);
  CHECK_EQ_INT(f, LA_REPORT_HTML);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    f = LA_REPORT_MARKDOWN;
    CHECK_EQ_INT(la_report_format_named(bad[i], &f), LA_EINVAL);
    CHECK_EQ_INT(f, LA_REPORT_MARKDOWN); /* untouched */
  }
}

/* argv[1], argv[2]: where to write the HTML of the one-lr and two-lr
 * cases (optional). */
/* A one-lr sweep whose "search_state" is the JSON text state, with its
 * runs and analysis, and its report in HTML (h, its basics checked) and
 * Markdown (m); all owned (search_fixture_free). */
typedef struct search_fixture {
  json_t *sweep, *runs, *an, *ss;
  char *h, *m;
} search_fixture;

/* The fixture's report in fmt (NULL on failure; the caller frees it). */
static char *search_render(const search_fixture *f, la_report_format fmt) {
  int rc = -99;
  return render(f->sweep, f->an, f->runs, fmt, &rc);
}

static void search_fixture_init(search_fixture *f, const char *state) {
  f->sweep = make_sweep(1, "peft", 40), f->runs = make_runs(1);
  f->an = make_analysis(1, "peft"), f->ss = json_loads(state, 0, NULL);
  CHECK(f->ss != NULL);
  json_object_set(f->sweep, "search_state", f->ss);
  f->h = search_render(f, LA_REPORT_HTML);
  f->m = search_render(f, LA_REPORT_MARKDOWN);
  CHECK(f->h != NULL && f->m != NULL);
  if (f->h) check_html_basics(f->h);
}

static void search_fixture_free(search_fixture *f) {
  free(f->h), free(f->m);
  json_decref(f->ss), json_decref(f->sweep);
  json_decref(f->runs), json_decref(f->an);
}

/* The search section of a law search (docs/analysis.md, "Searched
 * sweeps"): its subsection sets each larger rank's prediction beside the
 * alpha* found, in words per lr and a row per rank, the miss flagged; a
 * rank still searching says so; a bracket search has no such
 * subsection. */
static void test_search_law(void) {
  static const char state[] =
      "{\"search\": {\"strategy\": \"law\", \"tolerance\": 0.5, "
      "\"max_points\": 16}, \"spent\": {\"runs\": 64, \"run_steps\": 6400, "
      "\"cpu_s\": 1.5}, \"cells\": [{\"rank\": 8, \"lr\": 0.001, \"done\": "
      "1, \"last_kind\": \"converged\", \"best_alpha\": 56.6, \"lo\": 50.0, "
      "\"hi\": 64.0, \"alphas\": 6, \"run_steps\": 1200}], \"decisions\": "
      "[], \"law\": [{\"lr\": 0.001, \"state\": \"fitted\", \"c\": 19.0, "
      "\"p\": 0.5, \"scatter\": 0.01, \"text\": \"at lr 0.001: the law "
      "through ranks 1, 2, 4 predicted 3 larger ranks & so on\", "
      "\"predictions\": [{\"rank\": 8, \"predicted\": 54.0, \"lo\": 26.5, "
      "\"hi\": 110.0, \"found\": 56.6, \"done\": true, \"miss_octaves\": "
      "0.0, \"inside\": true}, {\"rank\": 16, \"predicted\": 76.4, \"lo\": "
      "37.5, \"hi\": 155.6, \"found\": 612.0, \"done\": true, "
      "\"miss_octaves\": 1.98, \"inside\": false}, {\"rank\": 32, "
      "\"predicted\": 108.0, \"lo\": 53.0, \"hi\": 220.0, \"found\": null, "
      "\"done\": false, \"miss_octaves\": null, \"inside\": null}]}]}";
  search_fixture fx;
  char *h, *m;
  search_fixture_init(&fx, state);
  h = fx.h, m = fx.m;
  if (h && m) {
    check_count(m, "### The law's prediction against what was found", 1);
    check_count(m,
                "at lr 0.001: the law through ranks 1, 2, 4 predicted 3 "
                "larger ranks &amp; so on",
                1);
    check_count(m, "| 8 | 0.001 | 54 | [26.5, 110] | 56.6 | yes | 0 |", 1);
    check_count(m, "| 16 | 0.001 | 76.4 | [37.5, 156] | 612 | no | 1.98 |", 1);
    check_count(m, "| 32 | 0.001 | 108 | [53, 220] | searching | – | – |", 1);
    check_count(h, "<h3>The law&#39;s prediction against what was found</h3>",
                1);
    check_count(h, "predicted 3 larger ranks &amp; so on", 1);
    check_count(h, "<td class=\"flag\">no</td>", 1);
    CHECK(strstr(h, "id=\"search\"") < strstr(h, "prediction against"));
  }
  json_object_del(fx.ss, "law");
  json_object_set_new(json_object_get(fx.ss, "search"), "strategy",
                      json_string("bracket"));
  m = search_render(&fx, LA_REPORT_MARKDOWN);
  CHECK(m != NULL);
  if (m) {
    check_count(m, "## Search along α", 1);
    check_count(m, "prediction against what was found", 0);
  }
  free(m);
  search_fixture_free(&fx);
}

/* The search section of a halving search (docs/cli.md, "report"): its
 * settings and what it spent against the full grid, a row per (rank, lr)
 * of what was found (at the end or not), a line per rank of its rungs; a
 * halving search with no cell at a rung yet says so. No bracket table. */
static void test_search_halving(void) {
  static const char state[] =
      "{\"search\": {\"strategy\": \"halving\", \"eta\": 3.0, \"rungs\": "
      "[0.3333333333333333]}, \"spent\": {\"runs\": 12, \"run_steps\": 540, "
      "\"cpu_s\": 0.25}, \"cells\": [], \"decisions\": [], \"halving\": "
      "{\"plan\": [{\"rank\": 1, \"cells\": 3, \"steps\": 90, \"rungs\": "
      "[{\"rung\": 1, \"step\": 30, \"reach\": 3, \"promote\": 1}]}, "
      "{\"rank\": 4, \"cells\": 3, \"steps\": 90, \"rungs\": [{\"rung\": 1, "
      "\"step\": 30, \"reach\": 3, \"promote\": 1}]}], \"cells\": ["
      "{\"rank\": 1, \"lr\": 0.001, \"alpha\": 4.0, \"seeds\": 2, \"state\": "
      "\"stopped\"}, {\"rank\": 1, \"lr\": 0.001, \"alpha\": 16.0, \"seeds\": "
      "2, \"state\": \"done\"}, {\"rank\": 1, \"lr\": 0.001, \"alpha\": 64.0, "
      "\"seeds\": 2, \"state\": \"stopped\"}, {\"rank\": 4, \"lr\": 0.001, "
      "\"alpha\": 4.0, \"seeds\": 2, \"state\": \"stopped\"}, {\"rank\": 4, "
      "\"lr\": 0.001, \"alpha\": 16.0, \"seeds\": 2, \"state\": \"stopped\"}, "
      "{\"rank\": 4, \"lr\": 0.001, \"alpha\": 64.0, \"seeds\": 2, \"state\": "
      "\"training\"}], \"decisions\": [{\"seq\": 1}, {\"seq\": 2}, {\"seq\": "
      "3}, {\"seq\": 4}, {\"seq\": 5}, {\"seq\": 6}], \"found\": [{\"rank\": "
      "1, \"lr\": 0.001, \"alpha_star\": 16.0, \"loss\": 0.0412, \"step\": "
      "90, \"at_end\": true, \"cells_at_end\": 1}, {\"rank\": 4, \"lr\": "
      "0.001, \"alpha_star\": 64.0, \"loss\": 0.12, \"step\": 30, \"at_end\": "
      "false, \"cells_at_end\": 0}]}}";
  search_fixture fx;
  char *h, *m;
  search_fixture_init(&fx, state);
  h = fx.h, m = fx.m;
  if (h && m) {
    check_count(m, "## Search along α", 1);
    check_count(m,
                "Strategy halving, eta 3, rungs at 0.333 of the steps; spent "
                "12 runs, 540 run-steps (50% of the 1080 the full grid "
                "trains), 0.25 CPU-seconds; 1 of 6 cells reached the end; 6 "
                "decisions.",
                1);
    check_count(m, "| rank | lr | α\\* | loss | at step | at the end |", 1);
    check_count(m, "| 1 | 0.001 | 16 | 0.0412 | 90 | yes (1 cell) |", 1);
    check_count(m, "| 4 | 0.001 | 64 | 0.12 | 30 | no |", 1);
    check_count(m, "### The rungs", 1);
    check_count(m,
                "Rank 1: 3 cells; step 30: 3 → 1; the end at step 90: "
                "reached by 1 cell.",
                1);
    check_count(m,
                "Rank 4: 3 cells; step 30: 3 → 1; the end at step 90: "
                "reached by 0 cells.",
                1);
    check_count(m, "α tried", 0); /* no bracket table */
    check_count(h, "<a href=\"#search\">Search along α</a>", 1);
    check_count(h, "<td class=\"flag\">no</td>", 1);
    check_count(h, "<td>yes (1 cell)</td>", 1);
    check_count(h, "<h3>The rungs</h3>", 1);
    CHECK(strstr(h, "id=\"search\"") < strstr(h, "Rank 4: 3 cells"));
  }
  json_array_clear(json_object_get(json_object_get(fx.ss, "halving"), "found"));
  m = search_render(&fx, LA_REPORT_MARKDOWN);
  CHECK(m != NULL);
  if (m) {
    check_count(m, "## Search along α", 1);
    check_count(m, "No cell has reached its first rung yet.", 1);
    check_count(m, "| at the end |", 0);
  }
  free(m);
  search_fixture_free(&fx);
}

int main(int argc, char **argv) {
  test_realistic(argc > 1 ? argv[1] : NULL);
  test_two_lrs(argc > 2 ? argv[2] : NULL);
  test_rslora();
  test_no_analysis();
  test_malformed();
  test_errors();
  test_answer();
  test_joint();
  test_claims();
  test_surface();
  test_loss_plots();
  test_readable();
  test_fit_notes();
  test_states();
  test_formats();
  test_search_law();
  test_search_halving();
  return check_summary();
}
