/* analysis.c: the analysis of a sweep on libuv's thread pool (see
 * analysis.h and docs/analysis.md). */
#include "analysis/analysis.h"

#include "analysis/answer.h"
#include "analysis/claims.h"
#include "analysis/fit.h"
#include "analysis/joint.h"
#include "analysis/surface.h"
#include "loralpha/json_text.h"
#include "testpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_CK 3
static const double k_fractions[N_CK] = {0.25, 0.5, 1.0};

struct la_analyzer {
  uv_loop_t *loop;
  la_store *store;
  int n_boot;
  int busy;
};

/* One analysis in flight: its input (read on the loop thread), its output
 * (computed on the pool), and whom to tell. */
typedef struct job {
  uv_work_t req;
  la_analyzer *an;
  int64_t sweep_id, finished;
  double last_finish, scale_power;
  int steps, n_ck, ck_step[N_CK];
  double ck_frac[N_CK];
  char scaling[16];
  la_fit_point *pts[N_CK];
  long n_pts[N_CK];
  json_t *drift;    /* owned until moved into result */
  json_t *measured; /* what the runs measured (measured_json): owned */
  json_t *excluded; /* runs left out: owned until moved into result */
  json_t *result;   /* owned */
  json_t *answers;  /* the last checkpoint's: owned until moved into result */
  la_claim_run *claim_runs; /* the claims' runs (owned) */
  long n_claim_runs;
  json_t *claims;      /* claims 1 and 2: owned until moved into result */
  la_surface *surface; /* the law across lr and budget: owned */
  int recommend;       /* 1: answer for rank at lr, not the whole analysis */
  int rank;            /* recommend: the rank asked for */
  double lr;           /* recommend: the lr asked for (NaN: by loss) */
  int status;
  la_err err;
  la_analysis_cb cb;
  void *arg;
} job;

int la_analyzer_new(uv_loop_t *loop, la_store *store, int n_boot,
                    la_analyzer **out) {
  la_analyzer *a = calloc(1, sizeof *a);
  *out = NULL;
  if (a == NULL) return LA_ENOMEM;
  json_object_seed(0); /* before any thread builds JSON objects */
  a->loop = loop, a->store = store, a->n_boot = n_boot;
  *out = a;
  return 0;
}

int la_analyzer_busy(const la_analyzer *a) {
  return a->busy;
}

void la_analyzer_free(la_analyzer *a) {
  free(a);
}

static void job_free(job *j) {
  for (int i = 0; i < N_CK; i++)
    free(j->pts[i]);
  json_decref(j->drift);
  json_decref(j->measured);
  json_decref(j->excluded);
  json_decref(j->answers);
  json_decref(j->claims);
  free(j->claim_runs);
  json_decref(j->result);
  la_surface_free(j->surface);
  free(j);
}

static json_t *star_json(const la_alpha_star *s) {
  json_t *o = json_object();
  json_object_set_new(o, "rank", json_integer(s->rank));
  json_object_set_new(o, "lr", la_json_num(s->lr));
  json_object_set_new(o, "alpha_grid", la_json_num(s->alpha_grid));
  json_object_set_new(o, "alpha", la_json_num(s->alpha));
  json_object_set_new(o, "loss", la_json_num(s->loss));
  json_object_set_new(o, "at_edge", json_boolean(s->at_edge));
  json_object_set_new(o, "ci_lo", la_json_num(s->ci_lo));
  json_object_set_new(o, "ci_hi", la_json_num(s->ci_hi));
  json_object_set_new(o, "flat_lo", la_json_num(s->flat_lo));
  json_object_set_new(o, "flat_hi", la_json_num(s->flat_hi));
  json_object_set_new(o, "lo", la_json_num(s->lo));
  json_object_set_new(o, "hi", la_json_num(s->hi));
  json_object_set_new(o, "flat", json_boolean(s->flat));
  json_object_set_new(o, "ill_determined", json_boolean(s->ill_determined));
  json_object_set_new(o, "weight", la_json_num(s->weight));
  json_object_set_new(o, "n_alpha", json_integer(s->n_alpha));
  json_object_set_new(o, "seeds", json_integer(s->seeds));
  return o;
}

static json_t *fit_json(const la_law_fit *f) {
  json_t *o = json_object();
  json_object_set_new(o, "lr", la_json_num(f->lr));
  json_object_set_new(o, "method",
                      json_string(f->method == 0 ? "free" : "sqrt"));
  json_object_set_new(o, "c", la_json_num(f->c));
  json_object_set_new(o, "c_lo", la_json_num(f->c_lo));
  json_object_set_new(o, "c_hi", la_json_num(f->c_hi));
  json_object_set_new(o, "p", la_json_num(f->p));
  json_object_set_new(o, "p_lo", la_json_num(f->p_lo));
  json_object_set_new(o, "p_hi", la_json_num(f->p_hi));
  json_object_set_new(o, "r2", la_json_num(f->r2));
  json_object_set_new(o, "scatter_log2", la_json_num(f->scatter_log2));
  json_object_set_new(o, "n_used", json_integer(f->n_used));
  json_object_set_new(o, "n_excluded", json_integer(f->n_excluded));
  json_object_set_new(o, "insufficient", json_boolean(f->insufficient));
  json_object_set_new(o, "reason",
                      f->insufficient ? json_string(f->reason) : json_null());
  json_object_set_new(o, "poor", json_boolean(f->poor));
  return o;
}

static json_t *regret_json(const la_regret *r, const la_heuristic *rules,
                           size_t n_rules) {
  json_t *o = json_object();
  json_object_set_new(o, "rank", json_integer(r->rank));
  json_object_set_new(o, "lr", la_json_num(r->lr));
  json_object_set_new(o, "rule",
                      json_string(r->rule >= 0 && (size_t)r->rule < n_rules
                                      ? rules[r->rule].name
                                      : "?"));
  json_object_set_new(o, "alpha", la_json_num(r->alpha));
  json_object_set_new(o, "loss", la_json_num(r->loss));
  json_object_set_new(o, "best_loss", la_json_num(r->best_loss));
  json_object_set_new(o, "regret", la_json_num(r->regret));
  return o;
}

/* A slope of log alpha* against log lr (joint.h) as JSON. */
static json_t *slope_json(const la_joint_slope *t) {
  json_t *o = json_object();
  json_object_set_new(o, "slope", la_json_num(t->slope));
  json_object_set_new(o, "slope_lo", la_json_num(t->lo));
  json_object_set_new(o, "slope_hi", la_json_num(t->hi));
  json_object_set_new(o, "n_points", json_integer(t->n_points));
  json_object_set_new(o, "n_ranks", json_integer(t->n_ranks));
  json_object_set_new(o, "n_lrs", json_integer(t->n_lrs));
  json_object_set_new(o, "verdict",
                      json_string(la_joint_verdict_name(t->verdict)));
  json_object_set_new(o, "text", json_string(t->text));
  return o;
}

/* One rank's joint optimum as JSON. */
static json_t *joint_rank_json(const la_joint_rank *r) {
  json_t *o = json_object();
  json_object_set_new(o, "rank", json_integer(r->rank));
  json_object_set_new(o, "lr", la_json_num(r->lr));
  json_object_set_new(o, "lr_at_edge", json_boolean(r->lr_at_edge));
  json_object_set_new(o, "n_lrs", json_integer(r->n_lrs));
  json_object_set_new(o, "alpha_grid", la_json_num(r->alpha_grid));
  json_object_set_new(o, "alpha", la_json_num(r->alpha));
  json_object_set_new(o, "alpha_lo", la_json_num(r->alpha_lo));
  json_object_set_new(o, "alpha_hi", la_json_num(r->alpha_hi));
  json_object_set_new(o, "alpha_at_edge", json_boolean(r->alpha_at_edge));
  json_object_set_new(o, "ill_determined", json_boolean(r->ill_determined));
  json_object_set_new(o, "loss", la_json_num(r->loss));
  json_object_set_new(o, "tradeoff", slope_json(&r->tradeoff));
  return o;
}

/* The joint (alpha, lr) optimum and the trade-off of analysis a, at the
 * analysis' level; NULL when out of memory. */
static json_t *joint_json(const la_analysis *a) {
  la_fit_opts o;
  la_joint *jt = NULL;
  la_err e;
  json_t *ranks;
  la_fit_opts_default(&o);
  if (la_joint_compute(a, o.level, &jt, &e) != 0) return NULL;
  ranks = json_array();
  for (size_t i = 0; i < jt->n_ranks; i++)
    json_array_append_new(ranks, joint_rank_json(&jt->ranks[i]));
  json_t *out = json_pack("{s:o, s:o}", "ranks", ranks, "tradeoff",
                          slope_json(&jt->pooled));
  la_joint_free(jt);
  return out;
}

/* One (lr, checkpoint) cell of the law surface as JSON. */
static json_t *surface_cell_json(const la_surface_cell *c) {
  json_t *o = json_object();
  json_object_set_new(o, "lr", la_json_num(c->lr));
  json_object_set_new(o, "step", json_integer(c->step));
  json_object_set_new(o, "fraction", la_json_num(c->fraction));
  json_object_set_new(o, "lr_steps", la_json_num(c->lr_steps));
  json_object_set_new(o, "p", la_json_num(c->p));
  json_object_set_new(o, "p_lo", la_json_num(c->p_lo));
  json_object_set_new(o, "p_hi", la_json_num(c->p_hi));
  json_object_set_new(o, "c", la_json_num(c->c));
  json_object_set_new(o, "c_lo", la_json_num(c->c_lo));
  json_object_set_new(o, "c_hi", la_json_num(c->c_hi));
  json_object_set_new(o, "c_sqrt", la_json_num(c->c_sqrt));
  json_object_set_new(o, "c_sqrt_lo", la_json_num(c->c_sqrt_lo));
  json_object_set_new(o, "c_sqrt_hi", la_json_num(c->c_sqrt_hi));
  json_object_set_new(o, "n_used", json_integer(c->n_used));
  json_object_set_new(o, "insufficient", json_boolean(c->insufficient));
  json_object_set_new(o, "reason",
                      c->insufficient ? json_string(c->reason) : json_null());
  json_object_set_new(o, "poor", json_boolean(c->poor));
  json_object_set_new(
      o, "sqrt_compatible",
      c->sqrt_compatible < 0 ? json_null() : json_boolean(c->sqrt_compatible));
  return o;
}

/* A trend of the law surface as JSON. */
static json_t *surface_trend_json(const la_surface_trend *t) {
  json_t *o = json_object();
  json_object_set_new(o, "slope", la_json_num(t->slope));
  json_object_set_new(o, "slope_lo", la_json_num(t->lo));
  json_object_set_new(o, "slope_hi", la_json_num(t->hi));
  json_object_set_new(o, "intercept", la_json_num(t->intercept));
  json_object_set_new(o, "n_cells", json_integer(t->n_cells));
  json_object_set_new(o, "n_budgets", json_integer(t->n_budgets));
  json_object_set_new(o, "insufficient", json_boolean(t->insufficient));
  json_object_set_new(o, "reason",
                      t->insufficient ? json_string(t->reason) : json_null());
  json_object_set_new(o, "text", json_string(t->text));
  return o;
}

/* The law across lr and budget (surface.h) as JSON; NULL when out of
 * memory. */
static json_t *surface_json(la_surface *s) {
  json_t *cells;
  if (s == NULL || la_surface_compute(s) != 0) return NULL;
  cells = json_array();
  for (size_t i = 0; i < s->n_cells; i++)
    json_array_append_new(cells, surface_cell_json(&s->cells[i]));
  return json_pack("{s:o, s:o, s:o, s:i, s:i, s:s}", "cells", cells,
                   "c_sqrt_trend", surface_trend_json(&s->c_trend), "p_trend",
                   surface_trend_json(&s->p_trend), "n_compatible",
                   s->n_compatible, "n_decided", s->n_decided, "verdict",
                   s->verdict);
}

/* One checkpoint's analysis as JSON. */
static json_t *checkpoint_json(const job *j, int c, const la_analysis *a) {
  size_t n_rules;
  const la_heuristic *rules = la_fit_heuristics(&n_rules);
  json_t *o = json_object(), *stars = json_array(), *fits = json_array(),
         *reg = json_array();
  json_object_set_new(o, "fraction", json_real(j->ck_frac[c]));
  json_object_set_new(o, "step", json_integer(j->ck_step[c]));
  for (size_t i = 0; i < a->n_stars; i++)
    json_array_append_new(stars, star_json(&a->stars[i]));
  for (size_t i = 0; i < a->n_fits; i++)
    json_array_append_new(fits, fit_json(&a->fits[i]));
  for (size_t i = 0; i < a->n_regrets; i++)
    json_array_append_new(reg, regret_json(&a->regrets[i], rules, n_rules));
  json_object_set_new(o, "alpha_star", stars);
  json_object_set_new(o, "fits", fits);
  json_object_set_new(o, "regret", reg);
  json_object_set_new(o, "joint", joint_json(a));
  return o;
}

/* A checkpoint whose points the fit refused: its error, no results. */
static json_t *failed_checkpoint(const job *j, int c, const char *msg) {
  return json_pack("{s:f, s:i, s:s, s:[], s:[], s:[], s:n}", "fraction",
                   j->ck_frac[c], "step", j->ck_step[c], "error", msg,
                   "alpha_star", "fits", "regret", "joint");
}

/* One rule of an answer. */
static json_t *answer_rule_json(const la_answer_rule *r) {
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(r->name));
  json_object_set_new(o, "alpha", la_json_num(r->alpha));
  json_object_set_new(o, "loss_pct", la_json_num(r->loss_pct));
  json_object_set_new(o, "note", r->note ? json_string(r->note) : json_null());
  return o;
}

/* An answer (answer.h) as the contract's object. */
static json_t *answer_json(const la_answer *a) {
  json_t *o = json_object(), *rules = json_array();
  json_object_set_new(o, "rank", json_integer(a->rank));
  json_object_set_new(o, "alpha", la_json_num(a->alpha));
  json_object_set_new(o, "alpha_lo", la_json_num(a->alpha_lo));
  json_object_set_new(o, "alpha_hi", la_json_num(a->alpha_hi));
  json_object_set_new(o, "lr", la_json_num(a->lr));
  json_object_set_new(o, "loss", la_json_num(a->loss));
  json_object_set_new(o, "source",
                      json_string(la_answer_source_name(a->source)));
  json_object_set_new(o, "why", json_string(a->why));
  json_object_set_new(o, "ill_determined", json_boolean(a->ill_determined));
  json_object_set_new(o, "at_edge", json_boolean(a->at_edge));
  for (size_t i = 0; i < a->n_rules; i++)
    json_array_append_new(rules, answer_rule_json(&a->rules[i]));
  json_object_set_new(o, "rules", rules);
  json_object_set_new(o, "text", json_string(a->text));
  return o;
}

/* The answers of every tested rank of analysis a (of the n points pts)
 * into j->answers; an error only for want of memory. */
static int tested_answers(job *j, const la_analysis *a, const la_fit_point *pts,
                          size_t n, const la_fit_opts *o) {
  la_answer *ans = NULL;
  size_t m = 0;
  int rc = la_answer_tested(a, pts, n, o, &ans, &m, &j->err);
  if (rc) return rc;
  json_decref(j->answers);
  j->answers = json_array();
  for (size_t i = 0; i < m; i++)
    json_array_append_new(j->answers, answer_json(&ans[i]));
  free(ans);
  return 0;
}

/* The analysis options of job j at checkpoint c: the bootstrap's seed is
 * the sweep's id and the checkpoint's step (fit.h: each (rank, lr) then
 * draws from a stream of its own), so a checkpoint's intervals depend on
 * nothing but its own losses. */
static void job_opts(const job *j, int c, la_fit_opts *o) {
  la_fit_opts_default(o);
  o->n_boot = j->an->n_boot;
  o->seed = (uint64_t)j->sweep_id ^ ((uint64_t)j->ck_step[c] << 32);
  o->scale_power = j->scale_power;
}

/* The whole result: checkpoints, then the answers of the last one (the
 * headline is the largest tested rank's). */
static json_t *result_json(job *j, json_t *cks) {
  size_t n = json_array_size(j->answers);
  json_t *head = json_object_get(json_array_get(j->answers, n - 1), "text");
  json_t *surface = surface_json(j->surface), *out;
  if (j->answers == NULL) j->answers = json_array();
  out = json_pack("{s:I, s:f, s:s, s:i, s:o, s:O, s:O, s:O, s:O}", "sweep_id",
                  (json_int_t)j->sweep_id, "computed_at", la_time_unix(),
                  "scaling", j->scaling, "steps", j->steps, "checkpoints", cks,
                  "drift", j->drift, "excluded", j->excluded, "answers",
                  j->answers, "headline", n > 0 && head ? head : json_null());
  if (out == NULL || surface == NULL) {
    json_decref(surface);
    json_decref(out);
    return NULL;
  }
  json_object_set_new(out, "law_surface", surface);
  return out;
}

/* Claim 3 (the law per lr and budget) into claims' "law", from the law
 * surface: "supported" when p = 0.5 fits in every cell that decides,
 * "contradicted" in none, "mixed" in some, "missing" when no cell decides;
 * its text is the surface's verdict. */
static void claim3(json_t *claims, const json_t *surface) {
  json_int_t yes = json_integer_value(json_object_get(surface, "n_compatible"));
  json_int_t n = json_integer_value(json_object_get(surface, "n_decided"));
  const char *text = json_string_value(json_object_get(surface, "verdict"));
  const char *v = n == 0     ? "missing"
                  : yes == n ? "supported"
                  : yes == 0 ? "contradicted"
                             : "mixed";
  json_t *law = json_pack("{s:s, s:I, s:I, s:s}", "verdict", v, "n_compatible",
                          yes, "n_decided", n, "text", text ? text : "");
  if (law != NULL && n == 0)
    json_object_set_new(law, "missing",
                        json_string("no (lr, checkpoint) cell has a free law "
                                    "with an interval for p"));
  if (law != NULL) json_object_set_new(claims, "law", law);
}

/* Claims 1 and 2 (claims.h) from the full budget's analysis a (NULL when
 * its points were refused) into j->claims, with the bootstrap of options
 * o; an error only for want of memory. */
static int claims_of(job *j, const la_analysis *a, const la_fit_opts *o) {
  la_claims_opts co = {.n_boot = o->n_boot, .seed = o->seed, .level = o->level};
  json_decref(j->claims), j->claims = NULL;
  return la_claims_compute(a, j->claim_runs, (size_t)j->n_claim_runs, &co,
                           &j->claims, &j->err);
}

/* On the pool: fit every checkpoint and build the result. */
static void work_analysis(job *j) {
  la_fit_opts o;
  json_t *cks = json_array();
  la_fit_opts_default(&o);
  if (la_surface_new((size_t)j->an->n_boot, o.level, &j->surface) != 0) {
    la_errf(&j->err, LA_ENOMEM, "analysis: out of memory");
    j->status = 500;
  }
  for (int c = 0; c < j->n_ck && j->status == 0; c++) {
    la_analysis *a = NULL;
    la_err e;
    int rc;
    if (j->n_pts[c] == 0) continue;
    job_opts(j, c, &o);
    rc = la_fit_analyze(j->pts[c], (size_t)j->n_pts[c], &o, NULL, 0, &a, &e);
    if (rc == LA_EINVAL) { /* this checkpoint's points: say so, go on */
      json_array_append_new(cks, failed_checkpoint(j, c, e.msg));
      if (c == j->n_ck - 1 && claims_of(j, NULL, &o)) j->status = 500;
      continue;
    }
    if (rc) {
      j->err = e, j->status = 500;
      break;
    }
    json_array_append_new(cks, checkpoint_json(j, c, a));
    if (la_surface_add(j->surface, j->ck_step[c], j->ck_frac[c], a))
      j->status = 500, la_errf(&j->err, LA_ENOMEM, "analysis: out of memory");
    if (c == j->n_ck - 1 &&
        (tested_answers(j, a, j->pts[c], (size_t)j->n_pts[c], &o) ||
         claims_of(j, a, &o)))
      j->status = 500;
    la_analysis_free(a);
  }
  if (j->status != 0) return (void)json_decref(cks);
  j->result = result_json(j, cks);
  if (j->result != NULL && j->measured != NULL)
    json_object_set(j->result, "measured", j->measured);
  if (j->result && j->claims) {
    claim3(j->claims, json_object_get(j->result, "law_surface"));
    json_object_set_new(j->result, "claims", j->claims), j->claims = NULL;
  }
}

/* The ranks tested at lr, ascending (stars are by lr, then rank). */
static json_t *tested_ranks(const la_analysis *a, double lr) {
  json_t *r = json_array();
  for (size_t i = 0; i < a->n_stars; i++)
    if (a->stars[i].lr == lr)
      json_array_append_new(r, json_integer(a->stars[i].rank));
  return r;
}

/* The recommendation: the answer, then the fields that came before it. */
static json_t *recommend_json(const job *j, const la_analysis *a,
                              const la_answer *ans) {
  json_t *o = answer_json(ans);
  const la_law_fit *sq = ans->sqrt_fit, *fr = ans->free_fit;
  double rt = sqrt((double)ans->rank);
  json_object_set_new(o, "scaling", json_string(j->scaling));
  json_object_set_new(o, "c", la_json_num(sq ? sq->c : NAN));
  json_object_set_new(o, "alpha_sqrt", la_json_num(sq ? sq->c * rt : NAN));
  json_object_set_new(o, "alpha_free",
                      la_json_num(fr ? fr->c * pow(ans->rank, fr->p) : NAN));
  json_object_set_new(o, "p_free", la_json_num(fr ? fr->p : NAN));
  json_object_set_new(o, "tested_ranks", tested_ranks(a, ans->lr));
  json_object_set_new(o, "extrapolated", json_boolean(ans->extrapolated));
  json_object_set_new(o, "poor_fit", json_boolean(ans->poor_fit));
  json_object_set(o, "excluded", j->excluded);
  return o;
}

/* On the pool: the answer for one rank at the full budget. */
static void work_recommend(job *j) {
  la_fit_opts o;
  la_analysis *a = NULL;
  la_answer ans;
  la_err e;
  int c = j->n_ck - 1, rc;
  size_t n = (size_t)j->n_pts[c];
  job_opts(j, c, &o);
  rc = la_fit_analyze(j->pts[c], n, &o, NULL, 0, &a, &e);
  if (rc == 0)
    rc = la_answer_get(a, j->pts[c], n, &o, j->rank, j->lr, &ans, &e);
  if (rc == 0)
    j->result = recommend_json(j, a, &ans);
  else
    j->err = e, j->status = rc == LA_EINVAL && a != NULL            ? 400
                            : rc == LA_EINVAL || rc == LA_ENOTFOUND ? 404
                                                                    : 500;
  la_analysis_free(a);
}

/* On the pool: the job's work. */
static void work(uv_work_t *req) {
  job *j = req->data;
  la_testpoint("analysis");
  if (j->recommend)
    work_recommend(j);
  else
    work_analysis(j);
}

/* Back on the loop thread: store, answer, free. */
static void after_work(uv_work_t *req, int status) {
  job *j = req->data;
  j->an->busy--;
  if (status == UV_ECANCELED)
    j->status = 500, la_errf(&j->err, LA_EIO, "analysis cancelled");
  if (j->status == 0 && j->result == NULL)
    j->status = 500, la_errf(&j->err, LA_ENOMEM, "analysis: out of memory");
  if (j->status == 0 && !j->recommend &&
      la_store_save_analysis(j->an->store, j->sweep_id, j->result, j->finished,
                             j->last_finish, &j->err))
    fprintf(stderr, "loralpha serve: sweep %lld: %s\n", (long long)j->sweep_id,
            j->err.msg);
  if (j->status == 0)
    j->cb(j->result, 200, NULL, j->arg);
  else
    j->cb(NULL, j->status, j->err.msg, j->arg);
  job_free(j);
}

/* One measurement no done run has: its words for "lacks". */
static int lacks(json_t *list, const char *what) {
  return json_array_append_new(list, json_string(what));
}

/* What the sweep's done runs measured (la_store_measured) with "lacks":
 * the optional measurements none of them sent, and what is missing for
 * want of them (docs/protocol.md), so that a trainer of one's own that
 * sends only losses gets an analysis that says so rather than failing. A
 * new object, or NULL (err filled). */
static json_t *measured_json(la_store *st, int64_t sweep_id, la_err *err) {
  json_t *m = la_store_measured(st, sweep_id, err), *l = json_array();
  int rc = m == NULL || l == NULL || json_object_set(m, "lacks", l);
  if (!rc && json_integer_value(json_object_get(m, "spectra")) == 0)
    rc = lacks(l, "spectra: no done run sent spectra records, so there are no "
                  "singular values of dW (docs/protocol.md)");
  if (!rc && json_integer_value(json_object_get(m, "signal_drift")) == 0)
    rc = lacks(l, "signal_drift: no done run sent target-free signal and "
                  "drift (tf_signal, tf_drift, mech_ratio, a_drift), so the "
                  "drift table and plots are empty");
  if (!rc && json_integer_value(json_object_get(m, "sharpness")) == 0)
    rc = lacks(l, "sharpness: no done run sent sharpness records, so there "
                  "is no sharpness by alpha");
  json_decref(l);
  if (rc == 0) return m;
  if (m != NULL) la_errf(err, LA_ENOMEM, "analysis: out of memory");
  json_decref(m);
  return NULL;
}

/* Reads what the analysis needs from the store; 0, or an HTTP status. A
 * recommendation reads every checkpoint too (it fits only the last), so that
 * its excluded names the same runs as the analysis'. */
static int load_input(job *j) {
  la_store *st = j->an->store;
  int last = -1;
  if ((j->excluded = json_array()) == NULL) return 500;
  if (la_store_sweep_shape(st, j->sweep_id, &j->steps, &j->scale_power,
                           j->scaling, sizeof j->scaling, &j->err))
    return 404;
  for (int c = 0; c < N_CK; c++) {
    int step = (int)floor(k_fractions[c] * j->steps + 1e-9);
    long n;
    if (step < 1 || step == last) continue;
    last = step;
    n = la_store_fit_points(st, j->sweep_id, step, k_fractions[c] == 1.0,
                            &j->pts[j->n_ck], j->excluded, &j->err);
    if (n < 0) return 500;
    j->ck_step[j->n_ck] = step;
    j->ck_frac[j->n_ck] = k_fractions[c];
    j->n_pts[j->n_ck++] = n;
  }
  if (j->n_ck == 0 || j->n_pts[j->n_ck - 1] == 0) {
    la_errf(&j->err, LA_ENOTFOUND,
            "sweep %lld has no finished runs to analyse yet",
            (long long)j->sweep_id);
    return 404;
  }
  if (j->recommend) return 0; /* the answer needs no drift table */
  j->drift = la_store_drift_table(st, j->sweep_id, &j->err);
  if (j->drift != NULL) j->measured = measured_json(st, j->sweep_id, &j->err);
  if (j->drift == NULL || j->measured == NULL) return 500;
  j->n_claim_runs =
      la_store_claim_runs(st, j->sweep_id, &j->claim_runs, &j->err);
  return j->n_claim_runs < 0 ? 500 : 0;
}

/* Does every checkpoint of the stored analysis v have "joint"? */
static int has_joint(const json_t *v) {
  size_t i;
  json_t *cp;
  json_array_foreach(json_object_get(v, "checkpoints"), i, cp) {
    if (json_object_get(cp, "joint") == NULL) return 0;
  }
  return 1;
}

/* Answers from the stored analysis; 1 if it did. One stored before
 * analyses had answers (no "answers"), the joint optimum (a checkpoint
 * without "joint"), the claims (no "claims") or the law surface (no
 * "law_surface") is not used: it is computed again. */
static int answer_cached(const char *text, la_analysis_cb cb, void *arg) {
  json_t *v = json_loads(text, 0, NULL);
  if (v == NULL) return 0;
  if (!json_is_array(json_object_get(v, "answers")) || !has_joint(v) ||
      json_object_get(v, "measured") == NULL ||
      json_object_get(v, "claims") == NULL ||
      !json_is_object(json_object_get(v, "law_surface"))) {
    json_decref(v);
    return 0;
  }
  cb(v, 200, NULL, arg);
  json_decref(v);
  return 1;
}

void la_analyzer_get(la_analyzer *a, int64_t sweep_id, int refresh,
                     la_analysis_cb cb, void *arg) {
  job *j = calloc(1, sizeof *j);
  char *cached = NULL;
  int rc;
  if (j == NULL) return cb(NULL, 500, "analysis: out of memory", arg);
  j->an = a, j->sweep_id = sweep_id, j->cb = cb, j->arg = arg;
  j->req.data = j;
  rc = la_store_analysis_state(a->store, sweep_id, &j->finished,
                               &j->last_finish, &cached, &j->err);
  if (rc == 0 && cached != NULL && !refresh && answer_cached(cached, cb, arg)) {
    free(cached);
    return job_free(j);
  }
  free(cached);
  rc = rc == LA_ENOTFOUND ? 404 : rc ? 500 : load_input(j);
  if (rc == 0 && uv_queue_work(a->loop, &j->req, work, after_work) != 0) {
    la_errf(&j->err, LA_EIO, "analysis: cannot queue work");
    rc = 500;
  }
  if (rc) {
    cb(NULL, rc, j->err.msg, arg);
    return job_free(j);
  }
  a->busy++;
}

void la_analyzer_recommend(la_analyzer *a, int64_t sweep_id, int rank,
                           double lr, la_analysis_cb cb, void *arg) {
  job *j = calloc(1, sizeof *j);
  int rc;
  if (j == NULL) return cb(NULL, 500, "recommend: out of memory", arg);
  j->an = a, j->sweep_id = sweep_id, j->cb = cb, j->arg = arg;
  j->recommend = 1, j->rank = rank, j->lr = lr;
  j->req.data = j;
  rc = load_input(j);
  if (rc == 0 && uv_queue_work(a->loop, &j->req, work, after_work) != 0) {
    la_errf(&j->err, LA_EIO, "recommend: cannot queue work");
    rc = 500;
  }
  if (rc) {
    cb(NULL, rc, j->err.msg, arg);
    return job_free(j);
  }
  a->busy++;
}
