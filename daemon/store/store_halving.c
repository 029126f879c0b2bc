/*
 * store_halving.c: a halving sweep's stints and decisions, where its runs
 * end (halving.h, docs/sweeps.md "halving", schema/017_halving.sql).
 *
 * A run of a halving sweep trains in stints: to its rank's first rung,
 * then (promoted) to the next, then to the end. When a stint ends, in the
 * same transaction as the run's end: a run done at its stop waits
 * ('waiting'); the rank's cells (α, lr) are read back from the runs and
 * the decisions so far, la_halving_decide says which waiting cells are
 * promoted or stopped, and each decision is written to halving_decisions
 * and acted on. So a decision is committed before it is acted on, and a
 * daemon killed at any moment finds the stint still running (its attempt
 * is retried) or ended with its decisions: never the one without the
 * other. A promoted run trains again from step 0 (an exact replay of its
 * earlier stints, whose rows stay: la_store_delete_rows keeps those up to
 * resume_at) and sends records only past resume_at.
 */
#include "loralpha/halving.h"
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One prepared statement, or NULL: with ?1 sweep, ?2 rank. */
static sqlite3_stmt *rank_stmt(la_store *st, const char *sql, int64_t sweep,
                               int rank) {
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) return NULL;
  sqlite3_bind_int64(q, 1, sweep);
  sqlite3_bind_int(q, 2, rank);
  return q;
}

int la_store_halving_plan(la_store *st, int64_t sweep, int rank,
                          const la_search *s, la_halving_plan *plan) {
  sqlite3_stmt *q = rank_stmt(
      st,
      "SELECT COUNT(DISTINCT printf('%!.17g %!.17g', alpha, lr)), "
      "max(json_extract(config, '$.steps')) FROM runs WHERE sweep_id = ?1 AND "
      "rank = ?2",
      sweep, rank);
  int rc = q != NULL && sqlite3_step(q) == SQLITE_ROW ? 0 : LA_EIO;
  if (rc == 0)
    la_halving_plan_of(s, sqlite3_column_int(q, 0), sqlite3_column_int(q, 1),
                       plan);
  sqlite3_finalize(q);
  return rc;
}

/* Every run of the sweep's rank stops its stint at step stop. */
static int set_stop(la_store *st, int64_t sweep, int rank, int stop) {
  sqlite3_stmt *q = rank_stmt(
      st,
      "UPDATE runs SET stop_at = ?3, config = json_set(config, '$.stop_at', "
      "?3) WHERE sweep_id = ?1 AND rank = ?2",
      sweep, rank);
  int rc;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_int(q, 3, stop);
  rc = sqlite3_step(q) == SQLITE_DONE ? 0 : LA_EIO;
  sqlite3_finalize(q);
  return rc;
}

int la_store_halving_start(la_store *st, int64_t sweep, const la_search *s) {
  sqlite3_stmt *q = rank_stmt(
      st, "SELECT DISTINCT rank FROM runs WHERE sweep_id = ?1 ORDER BY rank",
      sweep, 0);
  int rc = q == NULL ? LA_EIO : 0, step;
  while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
    la_halving_plan plan;
    int rank = sqlite3_column_int(q, 0);
    rc = la_store_halving_plan(st, sweep, rank, s, &plan);
    if (rc == 0 && plan.n > 0) rc = set_stop(st, sweep, rank, plan.step[0]);
  }
  if (rc == 0 && step != SQLITE_DONE) rc = LA_EIO;
  sqlite3_finalize(q);
  return rc;
}

/* The run's rank; a run done at a stop before its end now waits, and a
 * promoted run's best eval is over all its stints' eval rows. */
static int end_stint(la_store *st, int64_t run_id, int *rank) {
  static const char *const sql[] = {
      "UPDATE runs SET state = 'waiting' WHERE id = ?1 AND state = 'done' "
      "AND stop_at IS NOT NULL",
      "UPDATE runs SET (best_eval_loss, best_step) = (SELECT loss, step FROM "
      "curve WHERE run_id = ?1 AND kind = 'eval' AND loss IS NOT NULL ORDER "
      "BY loss, step LIMIT 1) WHERE id = ?1 AND resume_at > 0",
      "SELECT rank FROM runs WHERE id = ?1"};
  int rc = 0;
  for (size_t i = 0; i < 3 && rc == 0; i++) {
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, sql[i], -1, &q, NULL) != SQLITE_OK)
      return LA_EIO;
    sqlite3_bind_int64(q, 1, run_id);
    switch (sqlite3_step(q)) {
    case SQLITE_ROW: *rank = sqlite3_column_int(q, 0); break;
    case SQLITE_DONE: rc = i == 2 ? LA_EIO : 0; break;
    default: rc = LA_EIO;
    }
    sqlite3_finalize(q);
  }
  return rc;
}

/* The cells of the sweep's rank from its runs: state and rung, and the
 * loss of a cell whose runs all ended their stint at a rung it has no
 * decision at yet (the mean of its seeds' final eval loss, INFINITY when a
 * seed did not end done there). *n gets their count; cells is grown. */
static int read_cells(la_store *st, int64_t sweep, int rank,
                      const la_halving_plan *plan, la_halving_cell **cells,
                      size_t *n) {
  sqlite3_stmt *q = rank_stmt(
      st,
      "SELECT alpha, lr, SUM(state IN ('queued', 'running')), SUM(state = "
      "'waiting'), COUNT(*), AVG(CASE WHEN state = 'waiting' THEN "
      "final_eval_loss END), SUM(state = 'waiting' AND final_eval_loss IS "
      "NULL), coalesce(max(stop_at), 0), SUM(state IN ('stopped', "
      "'cancelled')) FROM runs WHERE sweep_id = ?1 AND rank = ?2 GROUP BY "
      "alpha, lr ORDER BY alpha, lr",
      sweep, rank);
  size_t cap = 0;
  int rc = q == NULL ? LA_EIO : 0, step;
  *n = 0;
  while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
    la_halving_cell *c;
    int live = sqlite3_column_int(q, 2), waiting = sqlite3_column_int(q, 3),
        all = sqlite3_column_int(q, 4), no_loss = sqlite3_column_int(q, 6),
        out = sqlite3_column_int(q, 8);
    if (*n == cap) {
      size_t m = cap ? 2 * cap : 64;
      la_halving_cell *g = realloc(*cells, m * sizeof *g);
      if (g == NULL) {
        rc = LA_ENOMEM;
        break;
      }
      *cells = g, cap = m;
    }
    c = &(*cells)[(*n)++];
    c->alpha = sqlite3_column_double(q, 0);
    c->lr = sqlite3_column_double(q, 1);
    c->rung = la_halving_rung_of(plan, sqlite3_column_int(q, 7));
    if (c->rung < 0) c->rung = plan->n; /* no rung of the plan: the end */
    for (int k = 0; k < LA_SEARCH_MAX_RUNGS; k++)
      c->loss[k] = NAN;
    if (live > 0)
      c->state = LA_HCELL_TRAINING;
    else if (c->rung < plan->n && out == 0) {
      c->state = LA_HCELL_WAITING; /* until a decision at its rung is read */
      c->loss[c->rung] = waiting == all && no_loss == 0
                             ? sqlite3_column_double(q, 5)
                             : INFINITY; /* a seed diverged or failed */
    } else
      c->state = LA_HCELL_OUT;
  }
  if (rc == 0 && step != SQLITE_DONE) rc = LA_EIO;
  sqlite3_finalize(q);
  return rc;
}

/* The index of the cell (alpha, lr), or n. */
static size_t find_cell(const la_halving_cell *c, size_t n, double alpha,
                        double lr) {
  size_t i = 0;
  while (i < n && !(c[i].alpha == alpha && c[i].lr == lr))
    i++;
  return i;
}

/* The rank's decisions so far: each cell's loss at the rungs it was
 * decided at. A cell that ended its stint at a rung it was decided at is
 * out: one whose seeds all diverged or failed there has no run left
 * waiting for the decision that stopped it to change. */
static int read_decisions(la_store *st, int64_t sweep, int rank,
                          la_halving_cell *c, size_t n) {
  sqlite3_stmt *q = rank_stmt(
      st,
      "SELECT alpha, lr, rung, loss FROM halving_decisions WHERE sweep_id = "
      "?1 AND rank = ?2 ORDER BY seq",
      sweep, rank);
  int rc;
  if (q == NULL) return LA_EIO;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    size_t i = find_cell(c, n, sqlite3_column_double(q, 0),
                         sqlite3_column_double(q, 1));
    int k = sqlite3_column_int(q, 2) - 1;
    if (i == n || k < 0 || k >= LA_SEARCH_MAX_RUNGS) continue;
    c[i].loss[k] = sqlite3_column_type(q, 3) == SQLITE_NULL
                       ? INFINITY
                       : sqlite3_column_double(q, 3);
    if (c[i].state == LA_HCELL_WAITING && c[i].rung == k)
      c[i].state = LA_HCELL_OUT;
  }
  sqlite3_finalize(q);
  return rc == SQLITE_DONE ? 0 : LA_EIO;
}

/* Writes decision d on cell c of the rank, taken at run_id's end. */
static int write_decision(la_store *st, int64_t sweep, int rank,
                          const la_halving_plan *plan, const la_halving_cell *c,
                          const la_halving_decision *d, int64_t run_id) {
  sqlite3_stmt *q = NULL;
  int ok;
  if (sqlite3_prepare_v2(
          st->db,
          "INSERT INTO halving_decisions (sweep_id, seq, rank, alpha, lr, "
          "rung, step, loss, place, reached, promoted, quota, action, kind, "
          "next_stop, run_id, why, created_at) VALUES (?1, (SELECT "
          "coalesce(max(seq), 0) + 1 FROM halving_decisions WHERE sweep_id = "
          "?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
          "?16, ?17)",
          -1, &q, NULL) != SQLITE_OK)
    return LA_EIO;
  sqlite3_bind_int64(q, 1, sweep);
  sqlite3_bind_int(q, 2, rank);
  sqlite3_bind_double(q, 3, c->alpha);
  sqlite3_bind_double(q, 4, c->lr);
  sqlite3_bind_int(q, 5, d->rung + 1);
  sqlite3_bind_int(q, 6, plan->step[d->rung]);
  la_store_bind_real(q, 7, d->loss);
  sqlite3_bind_int(q, 8, d->place);
  sqlite3_bind_int(q, 9, d->reached);
  sqlite3_bind_int(q, 10, d->promoted);
  sqlite3_bind_int(q, 11, plan->promote[d->rung]);
  sqlite3_bind_text(q, 12, d->action == LA_HALVING_PROMOTE ? "promote" : "stop",
                    -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 13, d->kind, -1, SQLITE_TRANSIENT);
  if (d->action == LA_HALVING_PROMOTE && d->next_stop > 0)
    sqlite3_bind_int(q, 14, d->next_stop);
  sqlite3_bind_int64(q, 15, run_id);
  sqlite3_bind_text(q, 16, d->why, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(q, 17, la_store_now());
  ok = sqlite3_step(q) == SQLITE_DONE;
  sqlite3_finalize(q);
  return ok ? 0 : LA_EIO;
}

/* Acts on decision d for cell c: its waiting runs queued to their next
 * stop (from step 0 again, keeping their rows up to this rung's step), or
 * stopped. */
static int act(la_store *st, int64_t sweep, int rank,
               const la_halving_plan *plan, const la_halving_cell *c,
               const la_halving_decision *d) {
  sqlite3_stmt *q = rank_stmt(
      st,
      d->action == LA_HALVING_PROMOTE
          ? "UPDATE runs SET state = 'queued', attempts = 0, resume_at = ?5, "
            "stop_at = nullif(?6, 0), earlier_steps = earlier_steps + "
            "coalesce(steps_done, 0), earlier_wall_s = earlier_wall_s + "
            "coalesce(wall_s, 0), config = json_set(config, '$.stop_at', ?6, "
            "'$.resume_at', ?5) WHERE sweep_id = ?1 AND rank = ?2 AND alpha = "
            "?3 AND lr = ?4 AND state = 'waiting'"
          : "UPDATE runs SET state = 'stopped' WHERE sweep_id = ?1 AND rank = "
            "?2 AND alpha = ?3 AND lr = ?4 AND state = 'waiting'",
      sweep, rank);
  int rc;
  if (q == NULL) return LA_EIO;
  sqlite3_bind_double(q, 3, c->alpha);
  sqlite3_bind_double(q, 4, c->lr);
  if (d->action == LA_HALVING_PROMOTE) {
    sqlite3_bind_int(q, 5, plan->step[d->rung]);
    sqlite3_bind_int(q, 6, d->next_stop);
  }
  rc = sqlite3_step(q) == SQLITE_DONE ? 0 : LA_EIO;
  sqlite3_finalize(q);
  return rc;
}

int la_store_halving_after_run(la_store *st, int64_t sweep, int64_t run_id,
                               const la_search *s) {
  la_halving_plan plan;
  la_halving_cell *cells = NULL;
  la_halving_decision *d = NULL;
  size_t n = 0, nd = 0;
  int rank = 0, rc = end_stint(st, run_id, &rank);
  if (rc == 0) rc = la_store_halving_plan(st, sweep, rank, s, &plan);
  if (rc == 0 && plan.n == 0) return 0; /* the rank trains to the end */
  if (rc == 0) rc = read_cells(st, sweep, rank, &plan, &cells, &n);
  if (rc == 0) rc = read_decisions(st, sweep, rank, cells, n);
  if (rc == 0 && n > 0 && (d = malloc(n * sizeof *d)) == NULL) rc = LA_ENOMEM;
  if (rc == 0) nd = la_halving_decide(s, &plan, cells, n, d, n);
  for (size_t i = 0; rc == 0 && i < nd; i++) {
    rc = write_decision(st, sweep, rank, &plan, &cells[d[i].cell], &d[i],
                        run_id);
    if (rc == 0) rc = act(st, sweep, rank, &plan, &cells[d[i].cell], &d[i]);
  }
  free(cells);
  free(d);
  if (rc == 0 && nd > 0) la_testpoint("search");
  return rc;
}
