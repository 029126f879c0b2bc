/*
 * store_search.c: a sweep's search along α, decided where its runs end
 * (search.h, docs/sweeps.md "search", schema/015_search.sql).
 *
 * When the last queued or running run of a cell (rank, lr) of a searching
 * sweep ends, the cell's points (mean final eval loss per α over its
 * seeds) go to la_search_next, and its decision is written in the same
 * transaction as that run's end: a row of search_decisions and, for an
 * added α, a queued run per seed (the cell's own configs with the new
 * alpha). So a decision is committed before it is acted on, and a daemon
 * killed at any moment finds either the run still running (its attempt is
 * retried) or the run ended with its decision and new runs: never the one
 * without the other.
 */
#include "loralpha/json_text.h"
#include "loralpha/search.h"
#include "loralpha/spec.h"
#include "store/store_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One prepared statement for this call: with ?1 sweep, ?2 rank, ?3 lr. */
static sqlite3_stmt *cell_stmt(la_store *st, const char *sql, int64_t sweep,
                               int rank, double lr) {
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) return NULL;
  sqlite3_bind_int64(q, 1, sweep);
  sqlite3_bind_int(q, 2, rank);
  sqlite3_bind_double(q, 3, lr);
  return q;
}

/* One integer of sql on the cell, or -1 (LA_EIO) when the database
 * failed. */
static int64_t cell_count(la_store *st, const char *sql, int64_t sweep,
                          int rank, double lr) {
  sqlite3_stmt *q = cell_stmt(st, sql, sweep, rank, lr);
  int64_t v = LA_EIO;
  if (q != NULL && sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return v;
}

/* The sweep's search when it is active and searches: 1, else 0 (grid,
 * not active), or LA_EIO. */
static int sweep_search(la_store *st, int64_t sweep, la_search *s) {
  sqlite3_stmt *q = NULL;
  json_t *spec = NULL;
  la_err err;
  int rc = LA_EIO;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT spec FROM sweeps WHERE id = ?1 AND state = "
                         "'active' AND instr(spec, '\"search\"') > 0",
                         -1, &q, NULL) != SQLITE_OK)
    return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep);
  switch (sqlite3_step(q)) {
  case SQLITE_DONE: rc = 0; break;
  case SQLITE_ROW:
    spec = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    rc = la_search_from_stored(json_object_get(spec, "search"), s, &err) == 0 &&
         s->kind != LA_SEARCH_GRID;
    json_decref(spec);
    break;
  default: break;
  }
  sqlite3_finalize(q);
  return rc;
}

/* The cell's points: per alpha, the mean final eval loss of its seeds, or
 * INFINITY when one diverged or failed. *n gets their count. */
static int cell_points(la_store *st, int64_t sweep, int rank, double lr,
                       la_search_point *p, size_t *n) {
  sqlite3_stmt *q = cell_stmt(
      st,
      "SELECT alpha, COUNT(*), SUM(state = 'done' AND final_eval_loss IS NOT "
      "NULL), AVG(final_eval_loss) FROM runs WHERE sweep_id = ?1 AND rank = "
      "?2 AND lr = ?3 GROUP BY alpha ORDER BY alpha",
      sweep, rank, lr);
  int rc;
  *n = 0;
  if (q == NULL) return LA_EIO;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW &&
         *n < LA_SEARCH_MAX_POINTS + 1) {
    int all = sqlite3_column_int(q, 1) == sqlite3_column_int(q, 2);
    p[*n].alpha = sqlite3_column_double(q, 0);
    p[*n].loss = all ? sqlite3_column_double(q, 3) : INFINITY;
    (*n)++;
  }
  sqlite3_finalize(q);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : LA_EIO;
}

/* The decision's row. */
static int write_decision(la_store *st, int64_t sweep, int rank, double lr,
                          int64_t run_id, size_t points,
                          const la_search_step *d) {
  sqlite3_stmt *q = NULL;
  int ok;
  if (sqlite3_prepare_v2(
          st->db,
          "INSERT INTO search_decisions (sweep_id, seq, rank, lr, run_id, "
          "action, kind, alpha, best, lo, hi, points, why, created_at) VALUES "
          "(?1, (SELECT coalesce(max(seq), 0) + 1 FROM search_decisions WHERE "
          "sweep_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
          -1, &q, NULL) != SQLITE_OK)
    return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep);
  sqlite3_bind_int(q, 2, rank);
  sqlite3_bind_double(q, 3, lr);
  sqlite3_bind_int64(q, 4, run_id);
  sqlite3_bind_text(q, 5, d->action == LA_SEARCH_ADD ? "add" : "done", -1,
                    SQLITE_STATIC);
  sqlite3_bind_text(q, 6, d->kind, -1, SQLITE_TRANSIENT);
  la_store_bind_real(q, 7, d->alpha);
  la_store_bind_real(q, 8, d->best);
  la_store_bind_real(q, 9, d->lo);
  la_store_bind_real(q, 10, d->hi);
  sqlite3_bind_int64(q, 11, (int64_t)points);
  sqlite3_bind_text(q, 12, d->why, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(q, 13, la_store_now());
  ok = sqlite3_step(q) == SQLITE_DONE;
  sqlite3_finalize(q);
  return ok ? 0 : LA_EIO;
}

/* The sweep's n_runs: every run it holds now. 0 or LA_EIO. */
static int recount(la_store *st, int64_t sweep) {
  sqlite3_stmt *q = NULL;
  int rc;
  if (sqlite3_prepare_v2(st->db,
                         "UPDATE sweeps SET n_runs = (SELECT COUNT(*) FROM "
                         "runs WHERE sweep_id = ?1) WHERE id = ?1",
                         -1, &q, NULL) != SQLITE_OK)
    return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep);
  rc = sqlite3_step(q) == SQLITE_DONE ? 0 : LA_EIO;
  sqlite3_finalize(q);
  return rc;
}

/* The worker config text of template with its alpha replaced, or NULL. */
static char *config_with_alpha(const char *template, double alpha) {
  json_t *c = json_loads(template, 0, NULL);
  char *text = NULL;
  if (c != NULL && json_object_set_new(c, "alpha", json_real(alpha)) == 0)
    text = la_json_text(c);
  json_decref(c);
  return text;
}

/* A queued run of alpha per seed of the cell: the configs of the cell's
 * first run of each seed with alpha replaced; the sweep's n_runs grows. */
static int add_runs(la_store *st, int64_t sweep, int rank, double lr,
                    double alpha) {
  sqlite3_stmt *t = cell_stmt(
      st,
      "SELECT seed_index, seed, config FROM runs WHERE id IN (SELECT min(id) "
      "FROM runs WHERE sweep_id = ?1 AND rank = ?2 AND lr = ?3 GROUP BY "
      "seed_index) ORDER BY seed_index",
      sweep, rank, lr);
  double now = la_store_now();
  int64_t idx = cell_count(st, "SELECT max(idx) FROM runs WHERE sweep_id = ?1",
                           sweep, rank, lr);
  int rc = t == NULL || idx < 0 ? LA_EIO : 0, added = 0, step = SQLITE_DONE;
  while (rc == 0 && (step = sqlite3_step(t)) == SQLITE_ROW) {
    la_spec_run r = {.rank = rank,
                     .alpha = alpha,
                     .lr = lr,
                     .seed_index = sqlite3_column_int(t, 0),
                     .seed = (uint64_t)sqlite3_column_int64(t, 1)};
    /* after the sweep's runs */
    rc = la_store_insert_run(
        st, sweep, idx + 1 + added++, &r,
        config_with_alpha((const char *)sqlite3_column_text(t, 2), alpha), now);
  }
  if (rc == 0 && step != SQLITE_DONE) rc = LA_EIO;
  sqlite3_finalize(t);
  return rc == 0 ? recount(st, sweep) : rc;
}

/* ---- law: the larger ranks start from the law of the smaller ones ---- */

/* One queued run of spec's run i (its rank, lr, seed) with alpha, at
 * position idx. */
static int add_spec_run(la_store *st, int64_t sweep, const la_spec *spec,
                        size_t i, double alpha, int64_t idx) {
  la_spec_run r = spec->runs[i];
  json_t *cfg = la_spec_run_config(spec, i);
  char *text = NULL;
  if (cfg != NULL && json_object_set_new(cfg, "alpha", json_real(alpha)) == 0)
    text = la_json_text(cfg);
  json_decref(cfg);
  r.alpha = alpha;
  return la_store_insert_run(st, sweep, idx, &r, text, la_store_now());
}

/* The cell's best alpha (lowest finite mean loss), or 0 when none. */
static double cell_best(la_store *st, int64_t sweep, int rank, double lr) {
  la_search_point p[LA_SEARCH_MAX_POINTS + 1];
  size_t n;
  double best = 0, loss = INFINITY;
  if (cell_points(st, sweep, rank, lr, p, &n)) return 0;
  for (size_t i = 0; i < n; i++)
    if (p[i].loss < loss) loss = p[i].loss, best = p[i].alpha;
  return best;
}

/* The stored spec of the sweep, parsed without the daemon's limits (it
 * was accepted under them), or NULL. */
static la_spec *stored_spec(la_store *st, int64_t sweep) {
  char *text = la_store_sweep_spec(st, sweep);
  json_t *j = text ? json_loads(text, 0, NULL) : NULL;
  la_spec_limits lim;
  la_spec *spec = NULL;
  la_err err;
  free(text);
  la_spec_limits_default(&lim);
  lim.max_runs = SIZE_MAX, lim.max_run_rows = 0, lim.max_sweep_rows = 0;
  if (j == NULL || la_spec_parse(j, &lim, &spec, &err) != 0) spec = NULL;
  json_decref(j);
  return spec;
}

/* Starts rank's cell at lr: a run per seed of each start alpha, each
 * alpha a decision of kind law. */
static int law_start_rank(la_store *st, int64_t sweep, const la_spec *spec,
                          const la_search *s, const la_search_law *L,
                          const char *from, int rank, double lr,
                          int64_t run_id) {
  double a[3], x = L->log2c + L->p * log2((double)rank);
  double h = s->widen + 2 * L->scatter;
  int n = la_search_law_start(s, L, rank, a), rc = 0;
  int64_t idx = cell_count(st, "SELECT max(idx) FROM runs WHERE sweep_id = ?1",
                           sweep, rank, lr);
  if (idx < 0) return LA_EIO;
  for (int k = 0; k < n && rc == 0; k++) {
    la_search_step d = {.action = LA_SEARCH_ADD, .alpha = a[k]};
    d.best = exp2(x), d.lo = exp2(x - h), d.hi = exp2(x + h);
    snprintf(d.kind, sizeof d.kind, "law");
    snprintf(d.why, sizeof d.why,
             "the law through ranks %s (alpha* = %.4g r^%.3g, scatter "
             "%.2g octaves) predicts %.4g at rank %d: starting at %.4g",
             from, exp2(L->log2c), L->p, L->scatter, exp2(x), rank, a[k]);
    rc = write_decision(st, sweep, rank, lr, run_id, 0, &d);
    for (size_t i = 0; rc == 0 && i < spec->n_runs; i++)
      if (spec->runs[i].rank == rank && spec->runs[i].lr == lr &&
          spec->runs[i].alpha == spec->runs[0].alpha)
        rc = add_spec_run(st, sweep, spec, i, a[k], ++idx);
  }
  return rc == 0 ? recount(st, sweep) : rc;
}

/* Starts rank's cell at lr from the grid's alphas (no law to predict
 * from): a run per seed of each, each alpha a decision of kind law. */
static int grid_start_rank(la_store *st, int64_t sweep, const la_spec *spec,
                           int rank, double lr, int64_t run_id) {
  int rc = 0;
  int64_t idx = cell_count(st, "SELECT max(idx) FROM runs WHERE sweep_id = ?1",
                           sweep, rank, lr);
  double last = NAN;
  if (idx < 0) return LA_EIO;
  for (size_t i = 0; rc == 0 && i < spec->n_runs; i++) {
    const la_spec_run *r = &spec->runs[i];
    if (r->rank != rank || r->lr != lr) continue;
    if (r->alpha != last) {
      la_search_step d = {.action = LA_SEARCH_ADD,
                          .alpha = r->alpha,
                          .best = NAN,
                          .lo = NAN,
                          .hi = NAN};
      snprintf(d.kind, sizeof d.kind, "law");
      snprintf(d.why, sizeof d.why,
               "no law to predict from (fewer than two law ranks ended with "
               "a finite loss): starting rank %d at the grid's alpha %.4g",
               rank, r->alpha);
      rc = write_decision(st, sweep, rank, lr, run_id, 0, &d);
      last = r->alpha;
    }
    if (rc == 0) rc = add_spec_run(st, sweep, spec, i, r->alpha, ++idx);
  }
  return rc == 0 ? recount(st, sweep) : rc;
}

/* Under a law search, once every law rank's cell at lr is done (and the
 * law not yet applied there): fits the law to their best alphas and starts
 * every larger rank's cell at lr from its prediction. */
static int law_phase(la_store *st, int64_t sweep, double lr, int64_t run_id,
                     const la_search *s) {
  la_spec *spec;
  int *ranks, rc = 0;
  double rr[LA_SEARCH_MAX_LAW_RANKS], aa[LA_SEARCH_MAX_LAW_RANKS];
  size_t n, nf = 0, law = (size_t)s->law_ranks;
  char from[512] = "";
  la_search_law L;
  /* ?2 (the rank) is not used: the law is applied once per lr */
  if (cell_count(st,
                 "SELECT COUNT(*) FROM search_decisions WHERE sweep_id = ?1 "
                 "AND lr = ?3 AND kind = 'law'",
                 sweep, 0, lr) != 0)
    return 0; /* applied already (or the database failed: the next end) */
  if ((spec = stored_spec(st, sweep)) == NULL) return LA_EIO;
  if ((ranks = la_spec_ranks(spec, &n)) == NULL || n <= law) {
    free(ranks);
    la_spec_free(spec);
    return ranks == NULL ? LA_ENOMEM : 0;
  }
  /* ranks[0 .. law) are the law ranks (ascending), the rest start from it */
  for (size_t k = 0; k < law && rc == 0; k++) {
    if (cell_count(st,
                   "SELECT COUNT(*) FROM search_decisions WHERE sweep_id = ?1 "
                   "AND rank = ?2 AND lr = ?3 AND action = 'done'",
                   sweep, ranks[k], lr) != 1)
      rc = 1; /* a law rank still searching */
    else if ((aa[nf] = cell_best(st, sweep, ranks[k], lr)) > 0) {
      size_t used = strlen(from);
      snprintf(from + used, sizeof from - used, "%s%d", nf ? ", " : "",
               ranks[k]);
      rr[nf++] = ranks[k];
    }
  }
  if (rc == 1)
    rc = 0; /* not yet */
  else if (la_search_law_fit(rr, aa, nf, &L) != 0) {
    /* no law (fewer than two ranks ended finite): the grid's start */
    for (size_t k = law; k < n && rc == 0; k++)
      rc = grid_start_rank(st, sweep, spec, ranks[k], lr, run_id);
  } else {
    for (size_t k = law; k < n && rc == 0; k++)
      rc = law_start_rank(st, sweep, spec, s, &L, from, ranks[k], lr, run_id);
  }
  free(ranks);
  la_spec_free(spec);
  return rc;
}

int la_store_search_after_run(la_store *st, int64_t sweep, int64_t run_id) {
  la_search s;
  la_search_point p[LA_SEARCH_MAX_POINTS + 1];
  la_search_step d;
  sqlite3_stmt *q = NULL;
  size_t n;
  int rank, rc = sweep_search(st, sweep, &s);
  double lr;
  if (rc <= 0) return rc;
  if (sqlite3_prepare_v2(st->db, "SELECT rank, lr FROM runs WHERE id = ?1", -1,
                         &q, NULL) != SQLITE_OK)
    return LA_EIO;
  sqlite3_bind_int64(q, 1, run_id);
  rc = sqlite3_step(q) == SQLITE_ROW ? 0 : LA_EIO;
  rank = sqlite3_column_int(q, 0), lr = sqlite3_column_double(q, 1);
  sqlite3_finalize(q);
  if (rc) return rc;
  if (s.kind == LA_SEARCH_HALVING)
    return la_store_halving_after_run(st, sweep, run_id, &s);
  int64_t live = cell_count(st,
                            "SELECT COUNT(*) FROM runs WHERE sweep_id = ?1 AND "
                            "rank = ?2 AND lr = ?3 AND state IN ('queued', "
                            "'running')",
                            sweep, rank, lr);
  int64_t done = cell_count(st,
                            "SELECT COUNT(*) FROM search_decisions WHERE "
                            "sweep_id = ?1 AND rank = ?2 AND lr = ?3 AND "
                            "action = 'done'",
                            sweep, rank, lr);
  if (live < 0 || done < 0) return LA_EIO;
  if (live > 0 || done > 0) return 0; /* not yet; or decided for good */
  if ((rc = cell_points(st, sweep, rank, lr, p, &n)) != 0) return rc;
  if (s.kind == LA_SEARCH_LAW &&
      cell_count(st,
                 "SELECT COUNT(*) FROM search_decisions WHERE sweep_id = ?1 "
                 "AND rank = ?2 AND lr = ?3 AND kind = 'law'",
                 sweep, rank, lr) > 0)
    s.step = s.widen; /* a cell the law started: steps of its own width */
  la_search_next(&s, p, n, &d);
  rc = write_decision(st, sweep, rank, lr, run_id, n, &d);
  if (rc == 0 && d.action == LA_SEARCH_ADD)
    rc = add_runs(st, sweep, rank, lr, d.alpha);
  if (rc == 0 && d.action == LA_SEARCH_DONE && s.kind == LA_SEARCH_LAW)
    rc = law_phase(st, sweep, lr, run_id, &s);
  if (rc == 0) la_testpoint("search");
  return rc;
}
