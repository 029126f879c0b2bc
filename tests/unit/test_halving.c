/*
 * test_halving.c: successive halving (base/halving.c, store_halving.c).
 *
 * The plan: rung steps, the cells each rung may see and promote, rungs
 * skipped where at most one cell can arrive. The decisions against an
 * independent synchronous successive halving written here (sort each
 * rung's cells, keep the best max(1, floor(m / eta))): cells arrive at
 * their rungs in 300 random orders, promoted cells arrive at the next rung
 * later, interleaved at random with the rest; whatever the order, the
 * cells that reach the end are the reference's, every cell is decided once
 * at each rung it reaches, a rung never promotes more than its plan says,
 * and nothing is left waiting. A diverged cell is stopped at once.
 *
 * A halving sweep through the real store (a SQLite file; every run started
 * and finished as the daemon does, its final eval loss a known function of
 * α, lr and the step its stint stopped at): each run's stints stop where
 * the plan says (runs.stop_at and the config's stop_at), a promoted run is
 * queued with resume_at and keeps its rows up to it when it starts again
 * while the rows past it go, the runs that train to the end are the
 * reference's, the others end 'stopped', the spent run-steps add every
 * stint (the halving_cells view), and the sweep ends done.
 */
#include "check.h"
#include "loralpha/halving.h"
#include "loralpha/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64];

static la_search halving(double eta, int n, const double *rungs) {
  la_search s;
  memset(&s, 0, sizeof s);
  s.kind = LA_SEARCH_HALVING;
  s.eta = eta;
  s.n_rungs = n;
  for (int k = 0; k < n; k++)
    s.rungs[k] = rungs[k];
  return s;
}

static void check_plan(void) {
  static const double r2[] = {1.0 / 9, 1.0 / 3}, r4[] = {0.01, 0.011, 0.5, 0.9};
  la_search s = halving(3, 2, r2);
  la_halving_plan p;
  la_halving_plan_of(&s, 15, 300, &p);
  CHECK_EQ_INT(p.n, 2);
  CHECK_EQ_INT(p.step[0], 33); /* round(300 / 9) */
  CHECK_EQ_INT(p.step[1], 100);
  CHECK_EQ_INT(p.reach[0], 15);
  CHECK_EQ_INT(p.promote[0], 5);
  CHECK_EQ_INT(p.reach[1], 5);
  CHECK_EQ_INT(p.promote[1], 1);
  CHECK_EQ_INT(la_halving_rung_of(&p, 33), 0);
  CHECK_EQ_INT(la_halving_rung_of(&p, 100), 1);
  CHECK_EQ_INT(la_halving_rung_of(&p, 0), 2); /* the end */
  CHECK_EQ_INT(la_halving_rung_of(&p, 50), -1);
  /* 4 cells: rung 0 promotes 1, so rung 1 (one cell) is skipped */
  la_halving_plan_of(&s, 4, 300, &p);
  CHECK_EQ_INT(p.n, 1);
  CHECK_EQ_INT(p.promote[0], 1);
  la_halving_plan_of(&s, 1, 300, &p); /* one cell: nothing to compare */
  CHECK_EQ_INT(p.n, 0);
  /* eta 2: 16 -> 8 -> 4 -> 2; a rung whose step equals the one before (1
   * and 1 of 100) is dropped */
  s = halving(2, 4, r4);
  la_halving_plan_of(&s, 16, 100, &p);
  CHECK_EQ_INT(p.n, 3);
  CHECK(p.step[0] == 1 && p.step[1] == 50 && p.step[2] == 90);
  CHECK(p.promote[0] == 8 && p.promote[1] == 4 && p.promote[2] == 2);
}

/* ---- decisions against synchronous successive halving ---- */

#define NC 15
#define MAXR 3

static double g_loss[NC][MAXR]; /* cell c's loss at rung k */

/* The reference: at each rung, the best max(1, floor(m / eta)) of the m
 * cells that reached it go on (ties: the lower index, which has the lower
 * alpha here); in[c] 1 when cell c reaches the end. */
static void reference(const la_search *s, const la_halving_plan *p, int *in) {
  int alive[NC], n = NC;
  for (int c = 0; c < NC; c++)
    alive[c] = c;
  for (int k = 0; k < p->n; k++) {
    int keep = (int)floor(n / s->eta), m = 0;
    for (int i = 0; i < n; i++) /* insertion sort by loss, then index */
      for (int j = i; j > 0; j--) {
        double a = g_loss[alive[j]][k], b = g_loss[alive[j - 1]][k];
        if (a < b || (a == b && alive[j] < alive[j - 1])) {
          int t = alive[j];
          alive[j] = alive[j - 1], alive[j - 1] = t;
        }
      }
    keep = keep < 1 ? 1 : keep;
    while (m < keep && m < n && isfinite(g_loss[alive[m]][k]))
      m++;
    n = m;
  }
  memset(in, 0, NC * sizeof *in);
  for (int i = 0; i < n; i++)
    in[alive[i]] = 1;
}

static unsigned g_seed;
static unsigned rnd(void) {
  g_seed = g_seed * 1103515245u + 12345u;
  return (g_seed >> 16) & 0x7fff;
}

/* One random order of arrivals, decided after each: the cells that reach
 * the end in in[]. */
static void simulate(const la_search *s, const la_halving_plan *p, int *in) {
  la_halving_cell c[NC];
  la_halving_decision d[NC];
  int decided[NC][MAXR] = {{0}}, promoted[MAXR] = {0}, left = 1;
  for (int i = 0; i < NC; i++) {
    c[i].alpha = exp2(i), c[i].lr = 1e-3;
    c[i].state = LA_HCELL_TRAINING, c[i].rung = 0;
    for (int k = 0; k < LA_SEARCH_MAX_RUNGS; k++)
      c[i].loss[k] = NAN;
  }
  while (left) {
    int training[NC], nt = 0;
    for (int i = 0; i < NC; i++)
      if (c[i].state == LA_HCELL_TRAINING) training[nt++] = i;
    if (nt == 0) break;
    int i = training[rnd() % (unsigned)nt]; /* the next stint to end */
    if (c[i].rung == p->n) {
      c[i].state = LA_HCELL_OUT, in[i] = 1;
    } else {
      c[i].state = LA_HCELL_WAITING;
      c[i].loss[c[i].rung] = g_loss[i][c[i].rung];
    }
    size_t nd = la_halving_decide(s, p, c, NC, d, NC);
    for (size_t j = 0; j < nd; j++) {
      la_halving_cell *x = &c[d[j].cell];
      CHECK_EQ_INT(x->state, LA_HCELL_WAITING);
      CHECK_EQ_INT(d[j].rung, x->rung);
      CHECK_EQ_INT(decided[d[j].cell][d[j].rung]++, 0); /* once a rung */
      if (d[j].action == LA_HALVING_PROMOTE) {
        CHECK(++promoted[d[j].rung] <= p->promote[d[j].rung]);
        CHECK_EQ_INT(d[j].next_stop,
                     x->rung + 1 < p->n ? p->step[x->rung + 1] : 0);
        x->state = LA_HCELL_TRAINING, x->rung++;
      } else {
        x->state = LA_HCELL_OUT;
        if (!isfinite(d[j].loss)) CHECK_STR(d[j].kind, "diverged");
      }
    }
    left = 0;
    for (int k = 0; k < NC; k++)
      left |= c[k].state != LA_HCELL_OUT;
    if (left && nd == 0) { /* nothing moved: someone must still train */
      int any = 0;
      for (int k = 0; k < NC; k++)
        any |= c[k].state == LA_HCELL_TRAINING;
      CHECK(any);
      if (!any) break;
    }
  }
  for (int i = 0; i < NC; i++) /* nothing waits at the end */
    CHECK(c[i].state == LA_HCELL_OUT);
}

static void check_against_reference(void) {
  static const double r[] = {1.0 / 9, 1.0 / 3};
  la_search s = halving(3, 2, r);
  la_halving_plan p;
  int ref[NC], got[NC], agree = 0, trials = 300;
  la_halving_plan_of(&s, NC, 300, &p);
  CHECK_EQ_INT(p.n, 2);
  for (int t = 0; t < trials; t++) {
    g_seed = 1000u + (unsigned)t;
    for (int i = 0; i < NC; i++)
      for (int k = 0; k < MAXR; k++) /* some ties, a few divergences */
        g_loss[i][k] =
            (rnd() % 7 == 0 && t % 2) ? INFINITY : (double)(rnd() % 40) / 8;
    reference(&s, &p, ref);
    memset(got, 0, sizeof got);
    simulate(&s, &p, got);
    agree += memcmp(ref, got, sizeof ref) == 0;
  }
  CHECK_EQ_INT(agree, trials);
}

/* All cells at rung 0 at once: the best 5 promoted, a diverged one stopped
 * at once, the rest outranked; words for each. */
static void check_sync_words(void) {
  static const double r[] = {1.0 / 9, 1.0 / 3};
  la_search s = halving(3, 2, r);
  la_halving_plan p;
  la_halving_cell c[NC];
  la_halving_decision d[NC];
  size_t nd;
  int promoted = 0;
  la_halving_plan_of(&s, NC, 300, &p);
  for (int i = 0; i < NC; i++) {
    c[i].alpha = exp2(i), c[i].lr = 1e-3;
    c[i].state = LA_HCELL_WAITING, c[i].rung = 0;
    for (int k = 0; k < LA_SEARCH_MAX_RUNGS; k++)
      c[i].loss[k] = NAN;
    c[i].loss[0] = i == 6 ? INFINITY : fabs(i - 6.2); /* best 7, 5, 8 ... */
  }
  nd = la_halving_decide(&s, &p, c, NC, d, NC);
  CHECK_EQ_INT(nd, NC);
  for (size_t j = 0; j < nd; j++) {
    int i = (int)d[j].cell;
    if (d[j].action == LA_HALVING_PROMOTE) {
      promoted++;
      CHECK(i == 7 || i == 5 || i == 8 || i == 4 || i == 9);
      CHECK_EQ_INT(d[j].next_stop, 100);
      CHECK_HAS(d[j].why, "continues to rung 2 at step 100");
    } else if (i == 6) {
      CHECK_STR(d[j].kind, "diverged");
    } else {
      CHECK_STR(d[j].kind, "outranked");
      CHECK(d[j].place > 5);
    }
    CHECK_EQ_INT(d[j].reached, NC);
  }
  CHECK_EQ_INT(promoted, 5);
}

/* ---- a halving sweep through the store ---- */

/* The final eval loss of a stint of (alpha, lr) stopped at step: best at
 * alpha 2^5 and lr 1e-3, lower with more steps. */
static double stint_loss(double alpha, double lr, int step) {
  double x = log2(alpha) - 5, y = log10(lr) + 3;
  return 1 + x * x + 2 * y * y + 30.0 / step;
}

static la_spec *halving_spec(void) {
  const char *text =
      "{\"name\": \"halving\", \"task\": {\"task\": \"teacher\", \"d_in\": "
      "16, \"d_out\": 16, \"target_rank\": 2}, \"grid\": {\"rank\": [2, 4], "
      "\"alpha\": {\"log2\": [0, 10], \"num\": 11}, \"lr\": [0.001, 0.01]}, "
      "\"seeds\": 2, \"steps\": 90, \"search\": {\"strategy\": "
      "\"halving\"}}";
  json_t *j = json_loads(text, 0, NULL);
  la_spec *spec = NULL;
  la_spec_limits lim;
  la_err err;
  la_spec_limits_default(&lim);
  if (j == NULL || la_spec_parse(j, &lim, &spec, &err) != 0) {
    fprintf(stderr, "halving spec: %s\n", j ? err.msg : "bad JSON");
    CHECK(!"the spec parses");
  }
  json_decref(j);
  return spec;
}

static long long q_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *q = NULL;
  long long v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int64(q, 0);
  else
    fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(db));
  sqlite3_finalize(q);
  return v;
}

/* An eval record of run at step with loss, into the store's buffer. */
static void eval_row(la_store *st, int64_t run, int step, double loss) {
  char line[160];
  la_record r;
  la_err err;
  snprintf(line, sizeof line,
           "{\"type\": \"eval\", \"step\": %d, \"loss\": %.17g}", step, loss);
  CHECK_EQ_INT(la_record_parse(line, strlen(line), &r, &err), 0);
  CHECK_EQ_INT(la_store_take_record(st, run, &r), 0);
}

/* Starts and ends every queued run, as the daemon would, until none is
 * left: each stint's config says where it stops and what it resumes; it
 * sends eval rows past its resume_at only (at step 10, 20, ... and its
 * stop) and ends done with the loss at its stop. Returns the stints. */
static int drive(la_store *st, sqlite3 *db, int64_t sweep) {
  la_run_ticket t[256];
  la_err err;
  int total = 0, n;
  do {
    n = 0;
    CHECK_EQ_INT(la_store_queued_runs(st, sweep, 0, 2, 256, t, &n, &err), 0);
    for (int i = 0; i < n; i++) {
      json_t *c = json_loads(t[i].config, 0, NULL);
      double alpha = json_number_value(json_object_get(c, "alpha")),
             lr = json_number_value(json_object_get(c, "lr"));
      int stop = (int)json_integer_value(json_object_get(c, "stop_at")),
          resume = (int)json_integer_value(json_object_get(c, "resume_at")),
          steps = (int)json_integer_value(json_object_get(c, "steps"));
      int end = stop > 0 ? stop : steps;
      char sql[160];
      la_run_result r;
      CHECK_EQ_INT(la_store_start_run(st, t[i].run_id, &err), 0);
      /* the rows of its earlier stints stay, up to resume_at */
      snprintf(sql, sizeof sql,
               "SELECT COUNT(*) - COUNT(CASE WHEN step <= %d THEN 1 END) FROM "
               "curve WHERE run_id = %lld",
               resume, (long long)t[i].run_id);
      CHECK_EQ_INT(q_int(db, sql), 0);
      snprintf(sql, sizeof sql,
               "SELECT COUNT(*) FROM curve WHERE run_id = %lld AND step = %d",
               (long long)t[i].run_id, resume);
      if (resume > 0) CHECK_EQ_INT(q_int(db, sql), 1);
      for (int s = 10; s < end; s += 10)
        if (s > resume) eval_row(st, t[i].run_id, s, stint_loss(alpha, lr, s));
      eval_row(st, t[i].run_id, end, stint_loss(alpha, lr, end));
      la_run_result_init(&r, "done");
      r.steps_done = end, r.final_eval_loss = stint_loss(alpha, lr, end);
      r.wall_s = 0.001 * end;
      CHECK_EQ_INT(la_store_finish_run(st, t[i].run_id, &r, &err), 0);
      json_decref(c);
      la_run_ticket_clear(&t[i]);
    }
    total += n;
  } while (n > 0);
  return total;
}

/* An integer field of o. */
static long long jint(const json_t *o, const char *key) {
  return json_integer_value(json_object_get(o, key));
}

/* GET /v1/sweeps/{id}/search's answer for the sweep: what it spent, each
 * rank's plan, and per (rank, lr) what it found: at lr 1e-3 alpha 32 at
 * the end; at lr 0.01 no cell went past step 30, where 32 was its best. */
static void check_answer(la_store *st, int64_t sweep) {
  int rc;
  la_err err;
  size_t i;
  const json_t *x;
  json_t *o = la_store_get_search(st, sweep, &rc, &err);
  const json_t *h = json_object_get(o, "halving");
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(jint(json_object_get(o, "spent"), "run_steps"),
               88 * 10 + 28 * 30 + 8 * 90);
  CHECK_EQ_INT(json_array_size(json_object_get(h, "plan")), 2);
  json_array_foreach(json_object_get(h, "plan"), i, x) {
    const json_t *r1 = json_array_get(json_object_get(x, "rungs"), 0),
                 *r2 = json_array_get(json_object_get(x, "rungs"), 1);
    CHECK_EQ_INT(jint(x, "cells"), 22);
    CHECK(jint(r1, "step") == 10 && jint(r1, "reach") == 22 &&
          jint(r1, "promote") == 7);
    CHECK(jint(r2, "step") == 30 && jint(r2, "reach") == 7 &&
          jint(r2, "promote") == 2);
  }
  CHECK_EQ_INT(json_array_size(json_object_get(h, "cells")), 44);
  CHECK_EQ_INT(json_array_size(json_object_get(h, "decisions")), 58);
  CHECK_EQ_INT(json_array_size(json_object_get(h, "found")), 4);
  json_array_foreach(json_object_get(h, "found"), i, x) {
    double lr = json_number_value(json_object_get(x, "lr"));
    CHECK_CLOSE(json_number_value(json_object_get(x, "alpha_star")), 32, 0);
    if (lr < 0.005) {
      CHECK(json_is_true(json_object_get(x, "at_end")));
      CHECK_EQ_INT(jint(x, "step"), 90);
      CHECK_EQ_INT(jint(x, "cells_at_end"), 2);
      CHECK_CLOSE(json_number_value(json_object_get(x, "loss")),
                  stint_loss(32, 1e-3, 90), 1e-12);
    } else {
      CHECK(json_is_false(json_object_get(x, "at_end")));
      CHECK_EQ_INT(jint(x, "step"), 30);
      CHECK_EQ_INT(jint(x, "cells_at_end"), 0);
      CHECK_CLOSE(json_number_value(json_object_get(x, "loss")),
                  stint_loss(32, 1e-2, 30), 1e-12);
    }
  }
  json_decref(o);
}

static void check_store(void) {
  char path[128], sql[256];
  la_spec *spec = halving_spec();
  la_store *st = NULL;
  sqlite3 *db = NULL;
  la_err err;
  int64_t sweep;
  int stints;
  if (spec == NULL) return;
  snprintf(path, sizeof path, "%s/halving.db", g_dir);
  CHECK_EQ_INT(la_store_open(path, &st, &err), 0);
  CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), 0);
  CHECK_EQ_INT(la_store_create_sweep(st, spec, "alice", &sweep, &err), 0);
  /* 22 cells a rank (11 alphas x 2 lrs): rungs at round(90/9) = 10 and
   * 30; rung 1 promotes 7 of 22, rung 2 two of 7 */
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM runs WHERE stop_at = 10 AND "
                         "json_extract(config, '$.stop_at') = 10"),
               88);
  stints = drive(st, db, sweep);
  /* 88 to rung 1, 2 x 2 x 7 = 28 to rung 2, 2 x 2 x 2 = 8 to the end */
  CHECK_EQ_INT(stints, 88 + 28 + 8);
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM runs WHERE state = 'done'"), 8);
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM runs WHERE state = 'stopped'"),
               80);
  /* the reference: the loss ranks cells the same at every step, so the
   * best two of each rank go to the end: alpha 2^5 at lr 1e-3 and, tied at
   * one octave off, 2^4 (ties: the smaller alpha) */
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM runs WHERE state = 'done' AND "
                         "lr = 0.001 AND alpha IN (16, 32) AND steps_done = "
                         "90 AND stop_at IS NULL AND resume_at = 30"),
               8);
  /* every promoted run kept its stints' eval rows: 10, 20, 30, ..., 90 */
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM curve c JOIN runs r ON r.id = "
                         "c.run_id WHERE r.state = 'done'"),
               8 * 9);
  /* the best eval is over every stint's rows */
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM runs WHERE state = 'done' AND best_step = 90 "
           "AND abs(best_eval_loss - %.17g) < 1e-12 AND alpha = 32",
           stint_loss(32, 1e-3, 90));
  CHECK_EQ_INT(q_int(db, sql), 4);
  /* decisions: per rank 22 at rung 1 (7 promoted), 7 at rung 2 (2) */
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM halving_decisions"),
               2 * (22 + 7));
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM halving_decisions WHERE action "
                         "= 'promote' AND rung = 1 AND next_stop = 30"),
               14);
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM halving_decisions WHERE action "
                         "= 'promote' AND rung = 2 AND next_stop IS NULL"),
               4);
  /* what it spent: every stint's steps, 88 x 10 + 28 x 30 + 8 x 90 */
  CHECK_EQ_INT(q_int(db, "SELECT SUM(run_steps) FROM halving_cells"),
               88 * 10 + 28 * 30 + 8 * 90);
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM halving_cells WHERE state = "
                         "'stopped'"),
               2 * 20);
  CHECK_EQ_INT(q_int(db, "SELECT COUNT(*) FROM sweeps WHERE state = 'done'"),
               1);
  check_answer(st, sweep);
  sqlite3_close(db);
  la_store_close(st);
  la_spec_free(spec);
}

/* Bad search objects name the field. */
static void check_bad(void) {
  static const char *const bad[][2] = {
      {"{\"strategy\": \"halving\", \"eta\": 1}", "search.eta"},
      {"{\"strategy\": \"halving\", \"rungs\": []}", "search.rungs"},
      {"{\"strategy\": \"halving\", \"rungs\": [0.5, 0.2]}", "search.rungs[1]"},
      {"{\"strategy\": \"halving\", \"rungs\": [1]}", "search.rungs[0]"},
      {"{\"strategy\": \"halving\", \"tolerance\": 1}", "search.tolerance"},
      {"{\"strategy\": \"bracket\", \"eta\": 3}", "search.eta"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_t *v = json_loads(bad[i][0], 0, NULL);
    double alphas[2] = {1, 2};
    la_search s;
    la_err err;
    CHECK_EQ_INT(la_search_parse(v, alphas, 2, &s, &err), LA_EINVAL);
    CHECK_HAS(err.msg, bad[i][1]);
    json_decref(v);
  }
  /* a rung that rounds to the same step as the one before, in a spec */
  const char *text =
      "{\"name\": \"h\", \"task\": {\"task\": \"teacher\", \"d_in\": 8, "
      "\"d_out\": 8}, \"grid\": {\"rank\": [2], \"alpha\": [1, 2], \"lr\": "
      "[0.001]}, \"steps\": 10, \"search\": {\"strategy\": \"halving\", "
      "\"rungs\": [0.1, 0.12]}}";
  json_t *j = json_loads(text, 0, NULL);
  la_spec *spec = NULL;
  la_spec_limits lim;
  la_err err;
  la_spec_limits_default(&lim);
  CHECK_EQ_INT(la_spec_parse(j, &lim, &spec, &err), LA_EINVAL);
  CHECK_HAS(err.msg, "search.rungs[1]: 0.12 of 10 steps is step 1");
  la_spec_free(spec);
  json_decref(j);
}

int main(void) {
  char cmd[96];
  snprintf(g_dir, sizeof g_dir, "/tmp/la-halving-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return 1;
  check_plan();
  check_sync_words();
  check_against_reference();
  check_bad();
  check_store();
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return check_summary();
}
