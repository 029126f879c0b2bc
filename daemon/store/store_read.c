/* store_read.c: the store's reads for the API, as JSON (see store.h). */
#include "loralpha/search.h"
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Column i of the current row as JSON; the text columns config, spec and sv
 * hold JSON and are parsed. New reference. */
static json_t *column_json(sqlite3_stmt *q, int i) {
  const char *name = sqlite3_column_name(q, i);
  switch (sqlite3_column_type(q, i)) {
  case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(q, i));
  case SQLITE_FLOAT: return json_real(sqlite3_column_double(q, i));
  case SQLITE_NULL: return json_null();
  default: break;
  }
  const char *text = (const char *)sqlite3_column_text(q, i);
  if (strcmp(name, "config") == 0 || strcmp(name, "spec") == 0 ||
      strcmp(name, "sv") == 0) {
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
  }
  return json_string(text);
}

/* The current row as an object keyed by column name. New reference. */
static json_t *row_object(sqlite3_stmt *q, int from) {
  json_t *o = json_object();
  for (int i = from; i < sqlite3_column_count(q); i++)
    json_object_set_new(o, sqlite3_column_name(q, i), column_json(q, i));
  return o;
}

/* Counts per state of one sweep, plus total and progress in [0, 1]: the
 * share of runs that finished by themselves (done, diverged, failed,
 * stopped by a halving search). */
static void add_counts(la_store *st, json_t *sweep, int64_t id) {
  sqlite3_stmt *q = la_store_stmt(st, RD_SWEEP_COUNTS);
  json_t *c = json_object();
  int64_t total = 0, finished = 0;
  for (int i = 0; i < LA_RUN_N_STATES; i++)
    json_object_set_new(c, la_run_state_names[i], json_integer(0));
  sqlite3_bind_int64(q, 1, id);
  while (sqlite3_step(q) == SQLITE_ROW) {
    const char *s = (const char *)sqlite3_column_text(q, 0);
    int64_t n = sqlite3_column_int64(q, 1);
    json_object_set_new(c, s, json_integer(n));
    total += n;
    /* runs that finished by themselves: a cancelled one did not */
    if (strcmp(s, "done") == 0 || strcmp(s, "diverged") == 0 ||
        strcmp(s, "failed") == 0 || strcmp(s, "stopped") == 0)
      finished += n;
  }
  sqlite3_reset(q);
  json_object_set_new(sweep, "counts", c);
  json_object_set_new(sweep, "progress",
                      json_real(total ? (double)finished / total : 1.0));
}

/* A sweep row as the API shows it: paused as a boolean, the window_
 * columns as one window object (or null). New reference. */
static json_t *sweep_object(sqlite3_stmt *q) {
  json_t *o = row_object(q, 0);
  la_window w = {0, 0, 0, 0};
  json_t *s = json_object_get(o, "window_start");
  if (json_is_integer(s)) {
    w.enabled = 1;
    w.start_min = (int)json_integer_value(s);
    w.end_min = (int)json_integer_value(json_object_get(o, "window_end"));
    w.requeue = json_integer_value(json_object_get(o, "window_requeue")) != 0;
  }
  json_object_del(o, "window_start");
  json_object_del(o, "window_end");
  json_object_del(o, "window_requeue");
  json_object_set_new(o, "window", la_window_to_json(&w));
  json_object_set_new(
      o, "paused",
      json_boolean(json_integer_value(json_object_get(o, "paused")) != 0));
  return o;
}

json_t *la_store_list_sweeps(la_store *st, const char *owner, la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, RD_LIST_SWEEPS);
  json_t *arr = json_array();
  int64_t ids[1024];
  size_t n = 0;
  if (owner != NULL) sqlite3_bind_text(q, 1, owner, -1, SQLITE_TRANSIENT);
  while (sqlite3_step(q) == SQLITE_ROW && n < 1024) {
    ids[n++] = sqlite3_column_int64(q, 0);
    json_array_append_new(arr, sweep_object(q));
  }
  sqlite3_reset(q); /* la_store_stmt clears the bindings before next use */
  for (size_t i = 0; i < n; i++)
    add_counts(st, json_array_get(arr, i), ids[i]);
  (void)err;
  return json_pack("{s:o}", "sweeps", arr);
}

json_t *la_store_get_sweep(la_store *st, int64_t id, int *rc, la_err *err) {
  sqlite3_stmt *q = la_store_stmt(st, RD_GET_SWEEP);
  json_t *o = NULL;
  sqlite3_bind_int64(q, 1, id);
  if (sqlite3_step(q) == SQLITE_ROW) o = sweep_object(q);
  sqlite3_reset(q);
  if (o == NULL) {
    *rc = la_errf(err, LA_ENOTFOUND, "sweep %lld not found", (long long)id);
    return NULL;
  }
  add_counts(st, o, id);
  *rc = 0;
  return o;
}

char *la_store_sweep_spec(la_store *st, int64_t id) {
  sqlite3_stmt *q = la_store_stmt(st, RD_SWEEP_SPEC);
  char *text = NULL;
  sqlite3_bind_int64(q, 1, id);
  if (sqlite3_step(q) == SQLITE_ROW)
    text = strdup((const char *)sqlite3_column_text(q, 0));
  sqlite3_reset(q);
  return text;
}

/* The runs query with only the filters f sets, so SQLite can use the
 * (sweep_id, state, id) and (sweep_id, rank, ...) indexes. Parameters keep
 * fixed numbers: 1 sweep, 2 after, 3 state, 4 rank, 5 alpha, 6 lr, 7 limit. */
static void runs_sql(const la_run_filter *f, char *sql, size_t size) {
  snprintf(
      sql, size,
      "SELECT id, idx, rank, alpha, lr, seed_index, seed, state, attempts, "
      "started_at, finished_at, steps_done, final_train_loss, "
      "final_eval_loss, best_eval_loss, best_step, wall_s, error FROM runs "
      "WHERE sweep_id = ?1 AND id > ?2%s%s%s%s ORDER BY id LIMIT ?7",
      f->state ? " AND state = ?3" : "", f->rank > 0 ? " AND rank = ?4" : "",
      isnan(f->alpha) ? "" : " AND abs(alpha - ?5) <= 1e-12 * abs(?5)",
      isnan(f->lr) ? "" : " AND abs(lr - ?6) <= 1e-12 * abs(?6)");
}

/* Binds the filters that are set. */
static void bind_runs(sqlite3_stmt *q, int64_t sweep_id,
                      const la_run_filter *f) {
  sqlite3_bind_int64(q, 1, sweep_id);
  sqlite3_bind_int64(q, 2, f->after);
  if (f->state) sqlite3_bind_text(q, 3, f->state, -1, SQLITE_TRANSIENT);
  if (f->rank > 0) sqlite3_bind_int(q, 4, f->rank);
  if (!isnan(f->alpha)) sqlite3_bind_double(q, 5, f->alpha);
  if (!isnan(f->lr)) sqlite3_bind_double(q, 6, f->lr);
  sqlite3_bind_int64(q, 7, f->limit);
}

json_t *la_store_list_runs(la_store *st, int64_t sweep_id,
                           const la_run_filter *f, int *rc, la_err *err) {
  sqlite3_stmt *q = NULL;
  json_t *runs;
  int64_t last = -1, n = 0;
  char sql[768], state[16];
  if (la_store_sweep_state(st, sweep_id, state, sizeof state)) {
    *rc =
        la_errf(err, LA_ENOTFOUND, "sweep %lld not found", (long long)sweep_id);
    return NULL;
  }
  runs_sql(f, sql, sizeof sql);
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
    *rc = la_store_fail(st, err, "listing runs");
    return NULL;
  }
  bind_runs(q, sweep_id, f);
  runs = json_array();
  while (sqlite3_step(q) == SQLITE_ROW) {
    last = sqlite3_column_int64(q, 0);
    n++;
    json_array_append_new(runs, row_object(q, 0));
  }
  sqlite3_finalize(q);
  *rc = 0;
  return json_pack("{s:o, s:o}", "runs", runs, "next",
                   n == f->limit ? json_integer(last) : json_null());
}

/* Every row of sql (?1 = id) as objects appended to arr; 0, or LA_EIO. */
static int rows_into(la_store *st, const char *sql, int64_t id, json_t *arr) {
  sqlite3_stmt *q = NULL;
  int rc;
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) return LA_EIO;
  sqlite3_bind_int64(q, 1, id);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    json_array_append_new(arr, row_object(q, 0));
  sqlite3_finalize(q);
  return rc == SQLITE_DONE ? 0 : LA_EIO;
}

/* Under a halving search, o's "halving": per rank its plan, its cells (the
 * halving_cells view), its decisions (halving_decisions) and per (rank,
 * lr) the alpha found (the best cell at the deepest step its cells
 * reached). 0, LA_EIO or LA_ENOMEM. */
static int halving_into(la_store *st, json_t *o, int64_t sweep) {
  const json_t *se = json_object_get(o, "search");
  const char *kind = json_string_value(json_object_get(se, "strategy"));
  json_t *h, *plans, *cells, *dec, *found, *ranks, *r;
  la_search s;
  la_err err;
  size_t i;
  int rc = 0;
  if (kind == NULL || strcmp(kind, "halving") != 0) return 0;
  plans = json_array(), cells = json_array(), dec = json_array();
  found = json_array(), ranks = json_array();
  if (la_search_from_stored(se, &s, &err) != 0) rc = LA_EIO;
  if (rc == 0)
    rc = rows_into(st,
                   "SELECT DISTINCT rank FROM runs WHERE sweep_id = ?1 ORDER "
                   "BY rank",
                   sweep, ranks);
  json_array_foreach(ranks, i, r) { /* each rank's plan, as decided */
    la_halving_plan p;
    json_t *rungs = json_array();
    if (rc == 0)
      rc = la_store_halving_plan(
          st, sweep, (int)json_integer_value(json_object_get(r, "rank")), &s,
          &p);
    for (int k = 0; rc == 0 && k < p.n; k++)
      json_array_append_new(rungs,
                            json_pack("{s:i, s:i, s:i, s:i}", "rung", k + 1,
                                      "step", p.step[k], "reach", p.reach[k],
                                      "promote", p.promote[k]));
    if (rc == 0) {
      json_object_set_new(r, "cells", json_integer(p.cells));
      json_object_set_new(r, "steps", json_integer(p.steps));
    }
    json_object_set_new(r, "rungs", rungs);
    json_array_append(plans, r);
  }
  if (rc == 0)
    rc = rows_into(st,
                   "SELECT rank, lr, alpha, seeds, promotions, state, "
                   "steps_done, eval_loss, run_steps, cpu_s FROM "
                   "halving_cells WHERE sweep_id = ?1 ORDER BY rank, lr, alpha",
                   sweep, cells);
  if (rc == 0)
    rc = rows_into(st,
                   "SELECT seq, rank, alpha, lr, rung, step, loss, place, "
                   "reached, promoted, quota, action, kind, next_stop, run_id, "
                   "why, created_at FROM halving_decisions WHERE sweep_id = ?1 "
                   "ORDER BY seq",
                   sweep, dec);
  /* a cell's deepest step: its end when done, else its last rung's */
  if (rc == 0)
    rc = rows_into(
        st,
        "WITH c AS (SELECT h.rank, h.lr, h.alpha, h.state = 'done' AS ended, "
        "CASE WHEN h.state = 'done' THEN h.steps_done ELSE (SELECT max(d.step) "
        "FROM halving_decisions d WHERE d.sweep_id = h.sweep_id AND d.rank = "
        "h.rank AND d.alpha = h.alpha AND d.lr = h.lr) END AS step, CASE WHEN "
        "h.state = 'done' THEN h.eval_loss ELSE (SELECT d.loss FROM "
        "halving_decisions d WHERE d.sweep_id = h.sweep_id AND d.rank = h.rank "
        "AND d.alpha = h.alpha AND d.lr = h.lr ORDER BY d.step DESC LIMIT 1) "
        "END AS loss FROM halving_cells h WHERE h.sweep_id = ?1), b AS (SELECT "
        "*, row_number() OVER (PARTITION BY rank, lr ORDER BY ended DESC, step "
        "DESC, loss IS NULL, loss, alpha) AS k, COUNT(*) FILTER (WHERE ended) "
        "OVER (PARTITION BY rank, lr) AS at_end FROM c WHERE step IS NOT NULL) "
        "SELECT rank, lr, alpha AS alpha_star, loss, step, ended AS at_end, "
        "at_end AS cells_at_end FROM b WHERE k = 1 ORDER BY rank, lr",
        sweep, found);
  h = json_pack("{s:o, s:o, s:o, s:o}", "plan", plans, "cells", cells,
                "decisions", dec, "found", found);
  json_decref(ranks);
  if (h == NULL) return LA_ENOMEM;
  if (rc == 0) {
    json_t *f;
    json_array_foreach(found, i, f) /* 0/1 as JSON booleans */
        json_object_set_new(
            f, "at_end",
            json_boolean(json_integer_value(json_object_get(f, "at_end"))));
  }
  if (rc == 0 && json_object_set_new(o, "halving", h)) return LA_ENOMEM;
  if (rc) json_decref(h);
  return rc;
}

/* Under a law search, o's "law": its prediction against what was found
 * (search.h, la_search_law_report). 0 or LA_ENOMEM. */
static int law_into(json_t *o, const json_t *cells, const json_t *dec) {
  const char *kind = json_string_value(
      json_object_get(json_object_get(o, "search"), "strategy"));
  if (kind == NULL || strcmp(kind, "law") != 0) return 0;
  return json_object_set_new(o, "law", la_search_law_report(cells, dec))
             ? LA_ENOMEM
             : 0;
}

json_t *la_store_get_search(la_store *st, int64_t sweep_id, int *rc,
                            la_err *err) {
  char *text = la_store_sweep_spec(st, sweep_id);
  json_t *spec, *se, *o, *spent = json_array(), *cells = json_array(),
                         *dec = json_array();
  if (text == NULL) {
    *rc =
        la_errf(err, LA_ENOTFOUND, "sweep %lld not found", (long long)sweep_id);
    json_decref(spent), json_decref(cells), json_decref(dec);
    return NULL;
  }
  spec = json_loads(text, 0, NULL);
  free(text);
  se = json_object_get(spec, "search");
  se = se ? json_incref(se) : json_pack("{ss}", "strategy", "grid");
  o = json_pack("{s:I, s:o}", "sweep_id", (json_int_t)sweep_id, "search", se);
  json_decref(spec);
  *rc = o == NULL ? LA_ENOMEM : 0;
  if (*rc == 0)
    *rc = rows_into(st,
                    "SELECT COUNT(*) AS runs, COALESCE(SUM(steps_done), 0) + "
                    "COALESCE(SUM(earlier_steps), 0) AS run_steps, "
                    "COALESCE(SUM(wall_s), 0) + COALESCE(SUM(earlier_wall_s), "
                    "0) AS cpu_s, "
                    "COUNT(DISTINCT rank || ' ' || lr || ' ' || alpha) AS "
                    "points FROM runs WHERE sweep_id = ?1",
                    sweep_id, spent);
  if (*rc == 0)
    *rc = rows_into(st,
                    "SELECT rank, lr, decisions, added, done, last_kind, "
                    "best_alpha, lo, hi, alphas, run_steps FROM search_cells "
                    "WHERE sweep_id = ?1 ORDER BY lr, rank",
                    sweep_id, cells);
  if (*rc == 0)
    *rc = rows_into(st,
                    "SELECT seq, rank, lr, run_id, action, kind, alpha, best, "
                    "lo, hi, points, why, created_at FROM search_decisions "
                    "WHERE sweep_id = ?1 ORDER BY seq",
                    sweep_id, dec);
  if (*rc == 0) {
    json_object_set(o, "spent", json_array_get(spent, 0));
    json_object_set(o, "cells", cells);
    json_object_set(o, "decisions", dec);
    *rc = law_into(o, cells, dec);
  }
  if (*rc == 0) *rc = halving_into(st, o, sweep_id);
  json_decref(spent), json_decref(cells), json_decref(dec);
  if (*rc == 0) return o;
  json_decref(o);
  if (*rc == LA_ENOMEM)
    la_errf(err, LA_ENOMEM, "out of memory");
  else
    la_store_fail(st, err, "reading a search");
  return NULL;
}
