#!/usr/bin/python3
"""End-to-end tests of `loralpha serve`: the HTTP/JSON API, the scheduler,
the worker processes and the SQLite store (docs/daemon.md, docs/api.md,
docs/database.md).

    test_daemon.py --loralpha PATH --worker PATH [--keep]

Starts every daemon itself on 127.0.0.1 with port 0 in a temporary
directory, stops them by PID at the end (SIGKILL for leftovers), prints each
failure with what was expected and what was found, and ends with the line
`N passed, M failed`. Exits non-zero on any failure.

Standard library only. The database is checked with the sqlite3 CLI
(/usr/bin/sqlite3), the way users query it.
"""
import http.client
import glob
import json
import math
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (cases_main, Daemon, R, SQLITE3, STATES, WIDE_TASK, alive, auth, auth_raw,
                     children_of, cli, cli_val, error_shape, expected_rows, freeze, kill_pid, log,
                     long_spec, make_spec, parse_responses, prom, raw_exchange, scaled,
                     wait_until, write_npy, closed_window)


def max_overlap(intervals):
    """Most intervals [start, end) open at once (an end at the same time as a
    start closes first)."""
    ev = []
    for a, b in intervals:
        ev.append((a, 1))
        ev.append((b if b is not None else math.inf, -1))
    ev.sort(key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def run_intervals(db, where="1"):
    rows = cli(db, f"SELECT started_at, finished_at FROM runs WHERE {where} "
                   "AND started_at IS NOT NULL")
    return [(r["started_at"], r["finished_at"]) for r in rows]


# ---- case 1, 2, 10: a sweep end to end, concurrency, /metrics -------------------


class Poller(threading.Thread):
    """Polls /metrics and /v1/health until stopped."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d = d
        self.stop_flag = False
        self.busy = []
        self.health_busy = []
        self.errors = []

    def run(self):
        while not self.stop_flag:
            try:
                vals, _ = self.d.metrics()
                if "loralpha_workers_busy" in vals:
                    self.busy.append((vals["loralpha_workers_busy"],
                                      vals.get("loralpha_workers_max")))
                h = self.d.get("/v1/health").json
                self.health_busy.append((h["workers_busy"], h["max_workers"]))
            except Exception as e:  # reported at the end
                self.errors.append(repr(e))
            time.sleep(0.01)


def case_sweep(ctx):
    steps, M = 100, {"log_every": 7, "eval_every": 15, "spectra_every": 40,
                     "sharpness": True, "sharpness_every": 50}
    exp = expected_rows(steps, 7, 15, 40, True, 50)
    db = ctx.path("sweep.db")
    d = Daemon(ctx, "sweep", db, 2, extra=["--pack-max", "1"])  # a worker a run
    poll = Poller(d)
    poll.start()
    spec = make_spec("basic", [1, 2, 4], [1, 4, 16], [0.01], steps, seeds=2, metrics=M)
    r = d.req("POST", "/v1/sweeps", spec)
    R.check(r.status == 201 and r.json and r.json.get("runs") == 18
            and r.json.get("state") == "active" and r.json.get("name") == "basic",
            "POST /v1/sweeps: 201 {id, name, runs: 18, state: active}",
            "201 runs=18 active", r)
    sid = r.json["id"]
    s = d.wait_sweep(sid, 90, what="18-run sweep")
    poll.stop_flag = True
    poll.join()

    # case 2: /metrics and /v1/health during the sweep
    R.check(len(poll.busy) >= 3 and not poll.errors,
            "/metrics polled during the sweep", ">= 3 samples, no errors",
            (len(poll.busy), poll.errors[:3]))
    R.check(any(b > 0 for b, _ in poll.busy), "/metrics polls overlapped running workers",
            "some sample with workers_busy > 0", sorted(set(poll.busy)))
    R.check(all(b <= 2 and m == 2 for b, m in poll.busy),
            "loralpha_workers_busy <= loralpha_workers_max = 2 at every poll",
            "<= 2", sorted(set(poll.busy)))
    R.check(all(b <= 2 and m == 2 for b, m in poll.health_busy),
            "health workers_busy <= max_workers = 2 at every poll", "<= 2",
            sorted(set(poll.health_busy)))

    R.eq(s["counts"], {"queued": 0, "running": 0, "done": 18, "failed": 0,
                       "diverged": 0, "cancelled": 0, "waiting": 0, "stopped": 0},
         "GET /v1/sweeps/{id} counts")
    R.eq((s["n_runs"], s["progress"], s["finished_at"] is not None),
         (18, 1.0, True), "GET /v1/sweeps/{id}: n_runs, progress, finished_at")
    sp = s.get("spec") or {}
    R.check(sp.get("metrics", {}).get("log_every") == 7
            and sp.get("optimizer", {}).get("name") == "adamw"
            and sp.get("task", {}).get("d_in") == 16 and sp.get("max_attempts") == 2,
            "GET /v1/sweeps/{id}: spec with defaults filled", "metrics, optimizer adamw...",
            sp)
    lst = d.get("/v1/sweeps")
    mine = [x for x in (lst.json or {}).get("sweeps", []) if x["id"] == sid]
    R.check(lst.status == 200 and len(mine) == 1 and mine[0]["counts"]["done"] == 18
            and mine[0]["state"] == "done" and "spec" not in mine[0],
            "GET /v1/sweeps lists the sweep with its counts", "one entry, done 18", mine)

    # case 1: the database, with the sqlite3 CLI
    rows = cli(db, f"SELECT id, idx, rank, alpha, lr, seed_index, seed, state, attempts, "
                   f"final_eval_loss, steps_done FROM runs WHERE sweep_id = {sid} ORDER BY id")
    R.eq(len(rows), 18, "runs rows of the sweep")
    R.check(all(x["state"] == "done" for x in rows), "every run state done", "done",
            sorted({x["state"] for x in rows}))
    R.check(all(x["attempts"] == 1 for x in rows), "every run attempts 1", 1,
            sorted({x["attempts"] for x in rows}))
    R.check(all(x["final_eval_loss"] is not None for x in rows),
            "every run final_eval_loss not null", "not null",
            [x["id"] for x in rows if x["final_eval_loss"] is None])
    R.check(all(x["steps_done"] == steps for x in rows), "every run steps_done = steps",
            steps, sorted({x["steps_done"] for x in rows}))
    pts = sorted((x["rank"], x["alpha"], x["lr"], x["seed_index"]) for x in rows)
    want = sorted((r_, a, 0.01, si) for r_ in (1, 2, 4) for a in (1.0, 4.0, 16.0)
                  for si in (0, 1))
    R.eq(pts, want, "grid points (rank, alpha, lr, seed_index) of the runs")
    seeds = {}
    for x in rows:
        seeds.setdefault((x["rank"], x["seed_index"]), set()).add(x["seed"])
    R.check(all(len(v) == 1 for v in seeds.values()) and
            len({next(iter(v)) for v in seeds.values()}) == len(seeds),
            "one seed per (rank, seed_index), shared across alphas, distinct otherwise",
            "one per key", seeds)

    counts = cli(db, "SELECT r.id AS id, "
                     "(SELECT COUNT(*) FROM curve c WHERE c.run_id = r.id AND kind = 'train') AS train, "
                     "(SELECT COUNT(*) FROM curve c WHERE c.run_id = r.id AND kind = 'eval') AS eval, "
                     "(SELECT COUNT(*) FROM spectra s WHERE s.run_id = r.id AND layer = 0) AS spectra, "
                     "(SELECT COUNT(*) FROM spectra s WHERE s.run_id = r.id AND layer <> 0) AS spectra_other, "
                     "(SELECT COUNT(*) FROM drift x WHERE x.run_id = r.id AND layer = 0) AS drift, "
                     "(SELECT COUNT(*) FROM layers l WHERE l.run_id = r.id) AS layers, "
                     "(SELECT COUNT(*) FROM sharpness h WHERE h.run_id = r.id) AS sharpness "
                     f"FROM runs r WHERE r.sweep_id = {sid} ORDER BY r.id")
    want_row = {"train": exp["train"], "eval": exp["eval"], "spectra": exp["spectra"],
                "spectra_other": 0, "drift": exp["spectra"], "layers": 1,
                "sharpness": exp["sharpness"]}
    bad = [c for c in counts if {k: v for k, v in c.items() if k != "id"} != want_row]
    R.check(not bad and len(counts) == 18,
            "curve/spectra/drift/layers/sharpness rows per run (sqlite3 CLI)",
            want_row, bad[:3] or len(counts))
    steps_t = cli(db, f"SELECT group_concat(step) AS s FROM (SELECT step FROM curve "
                      f"WHERE run_id = {rows[0]['id']} AND kind = 'train' ORDER BY step)")
    R.eq(steps_t[0]["s"], ",".join(str(k) for k in list(range(7, 100, 7)) + [100]),
         "train steps of a run: every log_every and the last")
    steps_e = cli(db, f"SELECT group_concat(step) AS s FROM (SELECT step FROM curve "
                      f"WHERE run_id = {rows[0]['id']} AND kind = 'eval' ORDER BY step)")
    R.eq(steps_e[0]["s"], "0,15,30,45,60,75,90,100",
         "eval steps of a run: 0, every eval_every and the last")
    steps_s = cli(db, f"SELECT group_concat(step) AS s FROM (SELECT step FROM spectra "
                      f"WHERE run_id = {rows[0]['id']} ORDER BY step)")
    R.eq(steps_s[0]["s"], "40,80,100", "spectra steps of a run")
    steps_h = cli(db, f"SELECT group_concat(step) AS s FROM (SELECT step FROM sharpness "
                      f"WHERE run_id = {rows[0]['id']} ORDER BY step)")
    R.eq(steps_h[0]["s"], "0,50,100", "sharpness steps of a run")
    flags = cli(db, "SELECT COUNT(*) AS n, SUM(lora_converged IS NULL OR full_converged IS NULL "
                    "OR lora_residual < 0 OR full_residual < 0 OR lora_iters < 1) AS bad "
                    f"FROM sharpness h JOIN runs r ON r.id = h.run_id WHERE r.sweep_id = {sid}")
    R.check(flags[0]["n"] == 18 * 3 and flags[0]["bad"] == 0,
            "sharpness rows keep the worker's residuals and converged flags (not NULL)",
            {"n": 54, "bad": 0}, flags)
    by_a = cli(db, f"SELECT COUNT(*) AS n, SUM(lora_n + lora_unconverged) AS runs "
                   f"FROM sharpness_by_alpha WHERE sweep_id = {sid}")
    R.check(by_a[0]["n"] == 9 and by_a[0]["runs"] == 18,
            "sharpness_by_alpha: one row per (rank, alpha), every run's last estimate "
            "counted once (used or left out as unconverged)", {"n": 9, "runs": 18}, by_a)
    lay = cli(db, f"SELECT d_in, d_out, sigma_max_w0 > 0 AS pos, target_norm > 0 AS tpos "
                  f"FROM layers WHERE run_id = {rows[0]['id']}")
    R.eq(lay, [{"d_in": 16, "d_out": 16, "pos": 1, "tpos": 1}], "layers row of a run")
    nulls = cli_val(db, "SELECT COUNT(*) FROM curve WHERE loss IS NULL")
    R.eq(nulls, 0, "no NULL losses in curve")
    ba = cli(db, f"SELECT rank, lr, best_alpha, mean_loss, seeds FROM best_alpha "
                 f"WHERE sweep_id = {sid} ORDER BY lr, rank")
    R.check(len(ba) == 3 and [x["rank"] for x in ba] == [1, 2, 4]
            and all(x["seeds"] == 2 and x["best_alpha"] in (1.0, 4.0, 16.0) for x in ba),
            "best_alpha view: one row per (rank, lr) with 2 seeds", "3 rows", ba)
    # best_alpha agrees with the mean over seeds computed here
    allr = cli(db, f"SELECT rank, alpha, final_eval_loss FROM runs WHERE sweep_id = {sid}")
    means = {}
    for x in allr:
        means.setdefault((x["rank"], x["alpha"]), []).append(x["final_eval_loss"])
    okb = True
    for x in ba:
        cands = {a: sum(v) / len(v) for (rk, a), v in means.items() if rk == x["rank"]}
        best = min(cands, key=lambda a: (cands[a], a))
        okb &= best == x["best_alpha"]
    R.check(okb, "best_alpha picks the lowest mean final eval loss", "argmin", (ba, means))
    sp_rows = cli(db, f"SELECT done, queued, running FROM sweep_progress WHERE sweep_id = {sid}")
    R.check(len(sp_rows) == 1 and sp_rows[0]["done"] == 18, "sweep_progress view", 18, sp_rows)

    # GET /v1/runs/{id}
    bad = []
    for x in rows[:6]:
        rr = d.get(f"/v1/runs/{x['id']}")
        j = rr.json or {}
        c = j.get("curve", {})
        tr, ev = c.get("train", {}), c.get("eval", {})
        lens = ({k: len(v) for k, v in tr.items()}, {k: len(v) for k, v in ev.items()},
                len(j.get("layers", [])), len(j.get("spectra", [])), len(j.get("sharpness", [])))
        want_l = ({k: exp["train"] for k in ("step", "loss", "lr", "grad_norm_a",
                                             "grad_norm_b", "update_norm")},
                  {"step": exp["eval"], "loss": exp["eval"]}, 1, exp["spectra"],
                  exp["sharpness"])
        if rr.status != 200 or lens != want_l or j.get("state") != "done" \
                or j.get("sweep_id") != sid or (j.get("config") or {}).get("rank") != x["rank"] \
                or j.get("final_eval_loss") != x["final_eval_loss"] \
                or tr.get("step", [None])[-1] != steps or ev.get("step", [None])[0] != 0:
            bad.append((x["id"], rr.status, lens))
        sp0 = (j.get("spectra") or [{}])[-1]
        keys = {"step", "layer", "sigma_max", "fro", "stable_rank", "sv", "signal", "drift",
                "drift_ratio", "cos_target", "rel_err", "tf_signal", "tf_drift", "mech_ratio",
                "a_drift"}
        if not keys <= set(sp0) or not isinstance(sp0.get("sv"), list) \
                or len(sp0.get("sv") or []) != x["rank"]:
            bad.append((x["id"], "spectra entry", sorted(sp0)))
        sh0 = (j.get("sharpness") or [{}])[-1]
        if not all(isinstance(sh0.get(k), bool) for k in ("lora_converged", "full_converged")) \
                or not all(isinstance(sh0.get(k), (int, float)) and sh0[k] >= 0
                           for k in ("lora_residual", "full_residual")):
            bad.append((x["id"], "sharpness entry: flags true/false, residuals >= 0", sh0))
    R.check(not bad, "GET /v1/runs/{id}: curve, layers, spectra, sharpness as in the DB",
            "lengths as in the DB", bad)

    # GET /v1/sweeps/{id}/runs: filters and pagination
    def ids(q):
        r_ = d.get(f"/v1/sweeps/{sid}/runs?{q}")
        return r_.status, [x["id"] for x in (r_.json or {}).get("runs", [])], (r_.json or {})

    all_ids = [x["id"] for x in rows]
    filters = [
        ("state=done", all_ids),
        ("state=failed", []),
        ("rank=2", [x["id"] for x in rows if x["rank"] == 2]),
        ("alpha=4", [x["id"] for x in rows if x["alpha"] == 4.0]),
        ("alpha=16.0", [x["id"] for x in rows if x["alpha"] == 16.0]),
        ("lr=0.01", all_ids),
        ("lr=1e-2&rank=4&alpha=1&state=done",
         [x["id"] for x in rows if x["rank"] == 4 and x["alpha"] == 1.0]),
        ("lr=0.02", []),
    ]
    for q, want_ids in filters:
        st, got, _ = ids(q + "&limit=1000")
        R.check(st == 200 and got == want_ids, f"runs filter ?{q}", want_ids, (st, got))
    seen, after, pages = [], None, 0
    while pages < 20:
        q = "limit=5" + (f"&after={after}" if after is not None else "")
        st, got, j = ids(q)
        pages += 1
        if st != 200:
            R.check(False, "runs pagination page", 200, st)
            break
        seen += got
        if j.get("next") is None:
            break
        R.check(got and j["next"] == got[-1], "runs page next = last id of the page",
                got[-1:] if got else None, j.get("next"))
        after = j["next"]
    R.eq(seen, all_ids, "runs pagination (limit=5, after=next) covers every run once in order")
    st, got, j = ids("rank=1&limit=4")
    st2, got2, j2 = ids(f"rank=1&limit=4&after={j.get('next')}")
    R.check(got + got2 == [x["id"] for x in rows if x["rank"] == 1] and j2.get("next") is None,
            "filter + pagination (rank=1, limit=4)", [x["id"] for x in rows if x["rank"] == 1],
            (got, got2, j2.get("next")))
    run0 = (d.get(f"/v1/sweeps/{sid}/runs?limit=1").json or {}).get("runs", [{}])[0]
    fields = {"id", "idx", "rank", "alpha", "lr", "seed_index", "seed", "state", "attempts",
              "started_at", "finished_at", "steps_done", "final_train_loss", "final_eval_loss",
              "best_eval_loss", "best_step", "wall_s", "error"}
    R.check(fields <= set(run0), "runs list entries have the documented fields",
            sorted(fields), sorted(run0))

    # case 2: the concurrency limit over the whole sweep
    ov = max_overlap(run_intervals(db, f"sweep_id = {sid}"))
    R.check(1 <= ov <= 2, "max overlapping runs <= --max-workers 2 (started_at/finished_at)",
            "<= 2", ov)

    # case 2: max_parallel 1 next to an unlimited sweep
    a = d.submit(make_spec("mp1", [1, 2, 4], [1, 4], [0.01], 300, max_parallel=1,
                           metrics={"log_every": 10, "eval_every": 100, "sharpness": False}),
                 "max_parallel 1 sweep")
    b = d.submit(make_spec("free", [1, 2, 4], [1, 4], [0.01], 300,
                           metrics={"log_every": 10, "eval_every": 100, "sharpness": False}),
                 "unlimited sweep")
    d.wait_sweep(a, 60, what="max_parallel sweep")
    d.wait_sweep(b, 60, what="unlimited sweep")
    ova = max_overlap(run_intervals(db, f"sweep_id = {a}"))
    R.eq(ova, 1, "a sweep with max_parallel 1 never overlaps itself")
    ovall = max_overlap(run_intervals(db))
    R.check(ovall <= 2, "max overlapping runs over every sweep <= 2", "<= 2", ovall)
    order = [x["id"] for x in (d.get("/v1/sweeps").json or {}).get("sweeps", [])]
    R.eq(order, [b, a, sid], "GET /v1/sweeps lists the newest first")
    spec_a = d.sweep(a)
    R.eq((spec_a or {}).get("max_parallel"), 1, "GET /v1/sweeps/{id} max_parallel")

    # case 10: /metrics after the sweeps
    r = d.get("/metrics")
    R.check(r.status == 200 and r.headers.get("content-type", "").startswith("text/plain"),
            "/metrics: 200 text/plain", "200 text/plain", (r.status, r.headers.get("content-type")))
    vals, meta = prom(r.body.decode())
    names = ["loralpha_runs", "loralpha_workers_busy", "loralpha_workers_max",
             "loralpha_workers_started_total", "loralpha_attempts_failed_total",
             "loralpha_workers_killed_total", "loralpha_rows_written_total",
             "loralpha_rows_pending", "loralpha_sweeps_created_total",
             "loralpha_http_requests_total", "loralpha_http_connections",
             "loralpha_uptime_seconds"]
    missing = [n for n in names if ("HELP", n) not in meta or ("TYPE", n) not in meta]
    R.check(not missing, "/metrics: HELP and TYPE of every documented metric", names, missing)
    by_state = {s_: vals.get(f'loralpha_runs{{state="{s_}"}}') for s_ in STATES}
    total = cli_val(db, "SELECT COUNT(*) FROM runs")
    R.check(None not in by_state.values() and sum(by_state.values()) == total
            and by_state["done"] == total,
            "loralpha_runs{state} sum to the number of runs (all done)", total, by_state)
    rows_db = cli_val(db, "SELECT (SELECT COUNT(*) FROM curve) + (SELECT COUNT(*) FROM spectra) "
                          "+ (SELECT COUNT(*) FROM sharpness) + (SELECT COUNT(*) FROM layers)")
    R.check(vals.get("loralpha_rows_written_total", 0) > 0, "rows_written_total > 0", "> 0",
            vals.get("loralpha_rows_written_total"))
    R.eq(vals.get("loralpha_rows_written_total"), float(rows_db),
         "rows_written_total = rows in curve + spectra + sharpness + layers")
    R.eq(vals.get("loralpha_rows_pending"), 0.0, "rows_pending 0 when idle")
    pids = cli_val(db, "SELECT COUNT(DISTINCT worker_pid) FROM runs")
    R.eq(vals.get("loralpha_workers_started_total"), float(pids),
         "workers_started_total = the worker processes the runs name (warm: reused)")
    R.check(1 <= pids <= 2, "warm workers: the 30 runs were trained by at most max_workers 2 "
            "processes (none exited, no retries)", "1 or 2", pids)
    R.eq(vals.get("loralpha_attempts_failed_total"), 0.0, "attempts_failed_total 0")
    R.eq(vals.get("loralpha_workers_killed_total"), 0.0, "workers_killed_total 0")
    R.eq(vals.get("loralpha_sweeps_created_total"), 3.0, "sweeps_created_total 3")
    R.eq((vals.get("loralpha_workers_busy"), vals.get("loralpha_workers_max")), (0.0, 2.0),
         "workers_busy 0, workers_max 2 when idle")
    R.check(vals.get('loralpha_http_requests_total{class="2xx"}', 0) > 10
            and vals.get('loralpha_http_requests_total{class="5xx"}', 1) == 0,
            "http_requests_total: 2xx counted, no 5xx", "2xx > 10, 5xx 0",
            {k: v for k, v in vals.items() if "http_requests" in k})
    R.check(vals.get("loralpha_http_connections", 0) >= 1 and vals.get("loralpha_uptime_seconds", 0) > 0,
            "http_connections >= 1 and uptime_seconds > 0", ">= 1, > 0",
            (vals.get("loralpha_http_connections"), vals.get("loralpha_uptime_seconds")))
    h = d.get("/v1/health").json or {}
    n_migrations = len(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              "..", "..", "schema", "[0-9][0-9][0-9]_*.sql")))
    R.check(h.get("status") == "ok" and h.get("version") and h.get("max_workers") == 2
            and h.get("schema_version") == n_migrations and h.get("workers_busy") == 0,
            "GET /v1/health fields", f"ok, max_workers 2, schema {n_migrations}", h)
    R.eq(d.stop(), 0, "daemon exits 0 on SIGTERM when idle")
    R.check("stopped" in d.log_tail(), "daemon log says stopped", "stopped", d.log_tail())


# ---- case 3: priority -------------------------------------------------------------


def case_priority(ctx):
    db = ctx.path("priority.db")
    d = Daemon(ctx, "priority", db, 1)
    low = d.submit(long_spec("low", 5, 25000, log_every=100, priority=-5), "low-priority sweep")
    wait_until(lambda: (d.sweep(low) or {}).get("counts", {}).get("running", 0) >= 1, 20, 0.02)
    high = d.submit(make_spec("high", [1, 2, 4], [1], [0.01], 200, priority=5,
                              metrics={"log_every": 10, "sharpness": False}),
                    "high-priority sweep")
    d.wait_sweep(high, 60, what="high-priority sweep")
    d.wait_sweep(low, 60, what="low-priority sweep")
    created = cli_val(db, f"SELECT created_at FROM sweeps WHERE id = {high}")
    lows = cli(db, f"SELECT id, started_at FROM runs WHERE sweep_id = {low} ORDER BY started_at")
    highs = cli(db, f"SELECT id, started_at FROM runs WHERE sweep_id = {high} ORDER BY started_at")
    later = [x for x in lows if x["started_at"] > created]
    R.check(len(later) >= 2, "low-priority runs still queued when the high one arrived",
            ">= 2", len(later))
    last_high = max(x["started_at"] for x in highs)
    bad = [x for x in later if x["started_at"] < last_high]
    R.check(not bad, "every high-priority run starts before the remaining low-priority runs",
            f"low runs started after {last_high}", bad)
    R.check(max_overlap(run_intervals(db)) == 1, "--max-workers 1: runs never overlap", 1,
            max_overlap(run_intervals(db)))
    order = [x["id"] for x in cli(db, "SELECT id FROM runs ORDER BY started_at")]
    R.check(order[len(lows) - len(later):][:len(highs)] == [x["id"] for x in highs],
            "start order: the running low run, then every high run, then the low ones",
            "high runs right after the low runs already started", order)
    R.eq(d.stop(), 0, "priority daemon exits 0")


# ---- case 4: cancel ----------------------------------------------------------------


def case_cancel(ctx):
    db = ctx.path("cancel.db")
    d = Daemon(ctx, "cancel", db, 2)
    sid = d.submit(long_spec("cancel-me", 6, 5_000_000), "long sweep")
    got = wait_until(lambda: (d.sweep(sid) or {}).get("counts", {}).get("running", 0) == 2
                     and len(d.children()) == 2, 20)
    R.check(got, "two runs running with their workers before the cancel", 2,
            (d.sweep(sid) or {}).get("counts"))
    kids = d.children()
    time.sleep(0.3)
    r = d.req("POST", f"/v1/sweeps/{sid}/cancel")
    R.check(r.status == 200 and r.json == {"id": sid, "state": "cancelled"},
            "POST /v1/sweeps/{id}/cancel: 200 {id, state: cancelled}", "200", r)
    t0 = time.monotonic()

    def settled():
        n = cli_val(db, f"SELECT COUNT(*) FROM runs WHERE sweep_id = {sid} AND state IN ('queued', 'running')")
        return n == 0 and not children_of(d.proc.pid, include_zombies=True)

    ok = wait_until(settled, 10)
    R.check(ok, "soon after cancel: no run queued or running, no worker child left",
            "0 live runs, no children",
            (cli(db, f"SELECT state, COUNT(*) AS n FROM runs WHERE sweep_id = {sid} GROUP BY state"),
             children_of(d.proc.pid, True)))
    log(f"cancel settled in {time.monotonic() - t0:.2f} s")
    R.check(not any(alive(p) for p in kids), "the cancelled workers have exited", "dead",
            [p for p in kids if alive(p)])
    st = cli(db, f"SELECT state FROM sweeps WHERE id = {sid}")
    R.eq(st, [{"state": "cancelled"}], "sweeps.state cancelled (sqlite3 CLI)")
    nc = cli_val(db, f"SELECT COUNT(*) FROM runs WHERE sweep_id = {sid} AND state = 'cancelled'")
    R.eq(nc, 6, "every run of the sweep cancelled (running ones included)")
    fin = cli_val(db, f"SELECT COUNT(*) FROM runs WHERE sweep_id = {sid} AND finished_at IS NULL")
    R.eq(fin, 0, "cancelled runs have finished_at")
    s = d.sweep(sid) or {}
    R.check(s.get("state") == "cancelled" and s.get("counts", {}).get("cancelled") == 6
            and s.get("finished_at") is not None,
            "GET /v1/sweeps/{id}: cancelled, counts.cancelled 6", "cancelled", s.get("counts"))
    R.eq(s.get("progress"), 0.0,
         "a cancelled sweep's progress counts no cancelled run as finished: 0, not 1")
    r = d.req("POST", f"/v1/sweeps/{sid}/cancel")
    R.check(r.status == 409 and (error_shape(r.body) or ("",))[0] == "conflict",
            "second cancel: 409 conflict", 409, r)
    r = d.req("POST", "/v1/sweeps/987654/cancel")
    R.check(r.status == 404 and (error_shape(r.body) or ("",))[0] == "not_found",
            "cancel of an unknown sweep: 404", 404, r)
    vals, _ = d.metrics()
    R.check(vals.get("loralpha_workers_killed_total") == 2 and vals.get("loralpha_workers_busy") == 0,
            "metrics after cancel: workers_killed_total 2, workers_busy 0", (2, 0),
            (vals.get("loralpha_workers_killed_total"), vals.get("loralpha_workers_busy")))
    # The slots are free again: a new sweep runs to the end.
    sid2 = d.submit(make_spec("after-cancel", [1, 2], [1], [0.01], 50), "sweep after cancel")
    d.wait_sweep(sid2, 30, what="sweep after cancel")
    R.eq(d.stop(), 0, "cancel daemon exits 0")


# ---- case 5: crash recovery -----------------------------------------------------


def crash_spec():
    return make_spec("crash", [1, 2, 4], [1.0, 8.0], [0.003], 25000, seeds=2, task=WIDE_TASK,
                     batch=64, metrics={"log_every": 25, "eval_every": 500,
                                        "spectra_every": 5000, "sharpness": False})


def case_crash(ctx):
    ref_db, db = ctx.path("crash-ref.db"), ctx.path("crash.db")
    exp = expected_rows(25000, 25, 500, 5000, False)
    t0 = time.monotonic()
    ref = Daemon(ctx, "crash-ref", ref_db, 2, extra=["--pack-max", "1"])
    rid = ref.submit(crash_spec(), "reference sweep")
    ref.wait_sweep(rid, 120, what="reference sweep")
    R.eq(ref.stop(), 0, "reference daemon exits 0")
    log(f"reference sweep took {time.monotonic() - t0:.1f} s")

    d = Daemon(ctx, "crash", db, 2, extra=["--pack-max", "1"])
    sid = d.submit(crash_spec(), "crash sweep")
    ok = wait_until(lambda: (lambda c: c.get("done", 0) >= 3 and c.get("running", 0) == 2)(
        (d.sweep(sid) or {}).get("counts", {})) and len(d.children()) == 2, 60, 0.02)
    R.check(ok, "crash sweep: 3+ runs done and 2 running before the kill", "done >= 3, running 2",
            (d.sweep(sid) or {}).get("counts"))

    # The kill lands on a known state: the daemon is stopped (SIGSTOP, and
    # every thread seen stopped), so nothing commits between reading the
    # database and the SIGKILL; a run that finished meanwhile is waited out
    # (SIGCONT) rather than raced.
    def frozen_with_two_running():
        if not freeze(d.proc.pid):
            return False
        try:
            n = cli_val(db, f"SELECT COUNT(*) FROM runs WHERE sweep_id = {sid} "
                            "AND state = 'running'")
        except RuntimeError:  # stopped inside a write that readers wait for
            n = None
        if n == 2:
            return True
        os.kill(d.proc.pid, signal.SIGCONT)
        return False
    ok = wait_until(frozen_with_two_running, 60, 0.02)
    R.check(ok, "crash sweep: the daemon stopped while the database shows 2 runs running",
            "2 running", (d.sweep(sid) or {}).get("counts") if not ok else 2)
    kids = d.children()
    d.proc.kill()
    d.proc.wait()
    R.eq(d.proc.returncode, -signal.SIGKILL, "daemon killed with SIGKILL")

    def fstat(p):
        try:
            s = os.stat(p)
            return (s.st_size, s.st_mtime_ns)
        except OSError:
            return None

    files = [db, db + "-wal"]
    before = [fstat(p) for p in files]
    gone = wait_until(lambda: not any(alive(p) for p in kids), 3)
    log(f"orphaned workers {kids}: {'exited on their own' if gone else 'still alive, killed'}")
    for p in kids:
        if alive(p):
            kill_pid(p)
    time.sleep(0.3)
    R.eq([fstat(p) for p in files], before,
         "orphaned workers do not write to the database (file sizes and mtimes unchanged)")
    left = cli(db, f"SELECT idx, state, attempts, finished_at FROM runs WHERE sweep_id = {sid} ORDER BY idx")
    n_running = sum(1 for x in left if x["state"] == "running")
    R.eq(n_running, 2, "after the kill the database shows the 2 runs left running")
    done_before = {x["idx"]: x["finished_at"] for x in left if x["state"] == "done"}

    d2 = Daemon(ctx, "crash-restart", db, 2)
    R.check(f"{n_running} runs requeued" in d2.log_tail(),
            "restart reports the runs it requeued", f"{n_running} runs requeued", d2.log_tail())
    d2.wait_sweep(sid, 120, what="restarted crash sweep")
    R.eq(d2.stop(), 0, "restarted daemon exits 0")

    after = cli(db, f"SELECT idx, state, attempts, finished_at FROM runs WHERE sweep_id = {sid} ORDER BY idx")
    R.check(all(x["state"] == "done" for x in after) and len(after) == 12,
            "after restart: 12 runs, all done", "12 done", after)
    R.check(all(x["attempts"] >= 1 for x in after), "attempts >= 1", ">= 1", after)
    rerun = [i for i, f in done_before.items()
             if next(x for x in after if x["idx"] == i)["finished_at"] != f]
    R.check(not rerun, "runs done before the crash are not run again (finished_at kept)",
            "unchanged", rerun)
    R.eq(cli_val(db, "SELECT COUNT(*) FROM runs"), 12, "no duplicate runs rows")
    # Compare with the reference, in SQL with the reference attached.
    same = cli_val(db, "SELECT COUNT(*) FROM runs a JOIN ref.runs b ON a.idx = b.idx "
                       "WHERE a.rank = b.rank AND a.alpha = b.alpha AND a.lr = b.lr "
                       "AND a.seed_index = b.seed_index AND a.seed = b.seed AND a.config = b.config",
                   attach=ref_db)
    R.eq(same, 12, "same (rank, alpha, lr, seed_index, seed, config) as the reference")
    per = cli(db, "SELECT r.idx AS idx, "
                  "(SELECT COUNT(*) FROM curve WHERE run_id = r.id AND kind = 'train') AS t, "
                  "(SELECT COUNT(*) FROM curve WHERE run_id = r.id AND kind = 'eval') AS e, "
                  "(SELECT COUNT(*) FROM spectra WHERE run_id = r.id) AS s, "
                  "(SELECT COUNT(*) FROM drift WHERE run_id = r.id) AS dr, "
                  "(SELECT COUNT(*) FROM layers WHERE run_id = r.id) AS l, "
                  "(SELECT COUNT(*) FROM ref.curve c JOIN ref.runs x ON x.id = c.run_id "
                  "  WHERE x.idx = r.idx AND c.kind = 'train') AS rt, "
                  "(SELECT COUNT(*) FROM ref.curve c JOIN ref.runs x ON x.id = c.run_id "
                  "  WHERE x.idx = r.idx AND c.kind = 'eval') AS re "
                  "FROM runs r ORDER BY r.idx", attach=ref_db)
    bad = [x for x in per if (x["t"], x["e"], x["s"], x["dr"], x["l"]) !=
           (exp["train"], exp["eval"], exp["spectra"], exp["spectra"], 1)
           or (x["t"], x["e"]) != (x["rt"], x["re"])]
    R.check(not bad, "curve/spectra/drift/layers rows per run equal the reference's (no duplicates)",
            exp, bad)
    diff = cli(db, "SELECT a.idx, a.final_eval_loss AS got, b.final_eval_loss AS want "
                   "FROM runs a JOIN ref.runs b ON a.idx = b.idx "
                   "WHERE a.final_eval_loss IS NOT b.final_eval_loss "
                   "AND NOT abs(a.final_eval_loss - b.final_eval_loss) <= 1e-12 * abs(b.final_eval_loss)",
               attach=ref_db)
    R.eq(diff, [], "final_eval_loss per run equals the reference")
    diff = cli(db, "SELECT a.idx, a.final_train_loss AS got, b.final_train_loss AS want, "
                   "a.best_step, b.best_step FROM runs a JOIN ref.runs b ON a.idx = b.idx "
                   "WHERE a.final_train_loss IS NOT b.final_train_loss OR a.best_step IS NOT b.best_step "
                   "OR a.steps_done IS NOT b.steps_done", attach=ref_db)
    R.eq(diff, [], "final_train_loss, best_step, steps_done equal the reference")
    rows = cli_val(db, "SELECT COUNT(*) FROM curve c JOIN runs a ON a.id = c.run_id "
                       "JOIN ref.runs b ON b.idx = a.idx JOIN ref.curve rc ON rc.run_id = b.id "
                       "AND rc.kind = c.kind AND rc.step = c.step "
                       "WHERE c.loss IS rc.loss AND c.lr IS rc.lr AND c.update_norm IS rc.update_norm",
                   attach=ref_db)
    total = cli_val(db, "SELECT COUNT(*) FROM curve")
    ref_total = cli_val(ref_db, "SELECT COUNT(*) FROM curve")
    R.check(rows == total == ref_total, "curve rows equal the reference row by row",
            f"{ref_total} matching rows", f"{rows} matching of {total}")
    sp = cli_val(db, "SELECT COUNT(*) FROM spectra s JOIN runs a ON a.id = s.run_id "
                     "JOIN ref.runs b ON b.idx = a.idx JOIN ref.spectra rs ON rs.run_id = b.id "
                     "AND rs.step = s.step AND rs.layer = s.layer WHERE s.sv IS rs.sv",
                 attach=ref_db)
    R.eq(sp, cli_val(ref_db, "SELECT COUNT(*) FROM spectra"), "spectra sv equal the reference")
    ov = max_overlap(run_intervals(ref_db))
    R.check(ov <= 2, "reference sweep: overlapping runs <= 2", "<= 2", ov)


# ---- case 6: a worker killed mid-run ---------------------------------------------------


def case_worker_killed(ctx):
    db = ctx.path("killed.db")
    d = Daemon(ctx, "killed", db, 2)

    def kill_one(sid):
        got = wait_until(lambda: (d.sweep(sid) or {}).get("counts", {}).get("running") == 1
                         and len(d.children()) == 1, 20, 0.02)
        R.check(got, f"sweep {sid}: its run is running with a worker", 1,
                ((d.sweep(sid) or {}).get("counts"), d.children()))
        time.sleep(0.25)
        kids = d.children()
        for p in kids:
            kill_pid(p, signal.SIGKILL)
        return kids

    sid = d.submit(long_spec("retry", 1, 60000, log_every=100), "retry sweep")
    kill_one(sid)
    d.wait_sweep(sid, 60, what="retried sweep")
    row = cli(db, f"SELECT state, attempts, error, steps_done FROM runs WHERE sweep_id = {sid}")
    R.eq(row, [{"state": "done", "attempts": 2, "error": None, "steps_done": 60000}],
         "a worker killed with SIGKILL: the run is retried and ends done with attempts 2")
    exp = expected_rows(60000, 100, 10000, 0, False)
    cnt = cli(db, f"SELECT kind, COUNT(*) AS n FROM curve c JOIN runs r ON r.id = c.run_id "
                  f"WHERE r.sweep_id = {sid} GROUP BY kind ORDER BY kind")
    R.eq(cnt, [{"kind": "eval", "n": exp["eval"]}, {"kind": "train", "n": exp["train"]}],
         "retried run: the curve has the rows of one whole attempt")

    sid = d.submit(long_spec("no-retry", 1, 5_000_000, max_attempts=1), "max_attempts 1 sweep")
    kill_one(sid)
    d.wait_sweep(sid, 30, states=("failed",), what="max_attempts 1 sweep")
    row = cli(db, f"SELECT id, state, attempts, error FROM runs WHERE sweep_id = {sid}")
    ok = len(row) == 1 and row[0]["state"] == "failed" and row[0]["attempts"] == 1 \
        and "signal" in (row[0]["error"] or "") and "9" in (row[0]["error"] or "")
    R.check(ok, "max_attempts 1: the killed worker's run ends failed, error names the signal",
            "failed, attempts 1, error '...signal 9...'", row)
    if row:
        j = d.get(f"/v1/runs/{row[0]['id']}").json or {}
        R.check(j.get("state") == "failed" and j.get("error") == row[0]["error"],
                "GET /v1/runs/{id} shows the failure", row[0]["error"], j.get("error"))
    s = d.sweep(sid) or {}
    R.eq((s.get("state"), s.get("counts", {}).get("failed"), s.get("progress")),
         ("failed", 1, 1.0),
         "a sweep whose every run failed ends failed (not done), counts.failed 1, progress 1")
    R.check("no run finished: 1 failed, 0 cancelled" in (s.get("error") or "")
            and "signal 9" in (s.get("error") or ""),
            "its error says no run finished, and the last run's error",
            "'no run finished: 1 failed, 0 cancelled; the last error: ...signal 9...'",
            s.get("error"))
    vals, _ = d.metrics()
    R.eq((vals.get("loralpha_attempts_failed_total"), vals.get('loralpha_runs{state="failed"}')),
         (2.0, 1.0), "metrics: attempts_failed_total 2, runs{failed} 1")
    R.eq(d.stop(), 0, "killed-worker daemon exits 0")


# ---- case 7: failing workers -------------------------------------------------------------


def case_failing_worker(ctx):
    script = ctx.path("fail-worker.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ncat > /dev/null\n"
                "echo '{\"type\":\"error\",\"error\":\"rank: synthetic failure for the test\"}' >&2\n"
                "exit 1\n")
    os.chmod(script, 0o755)
    noisy = ctx.path("noisy-worker.sh")
    with open(noisy, "w") as f:
        f.write("#!/bin/sh\ncat > /dev/null\necho '{\"type\":\"start\",\"layers\":[{\"layer\":0,\"d_in\":1,\"d_out\":1}]}'\n"
                "echo 'Traceback: something broke in the noisy worker' >&2\nexit 3\n")
    os.chmod(noisy, 0o755)

    db = ctx.path("fail.db")
    # the check at submit would refuse it, and the sweep would stop after 5
    # failures: both off, to see every attempt
    # (these scripts train one run each, reading their config to its end:
    # one process per run)
    d = Daemon(ctx, "failing", db, 2, worker=script,
               extra=["--check-timeout", "0", "--max-same-failures", "0",
                      "--worker-mode", "process"])
    r = d.req("POST", "/v1/sweeps", make_spec("fails", [1, 2], [1], [0.01], 50,
                                              max_attempts=3))
    R.eq((r.status, (r.json or {}).get("check")),
         (201, {"result": "skipped", "why": "not checked at submit: check_timeout is 0"}),
         "check_timeout 0: the sweep is stored unchecked, and the answer says so")
    sid = (r.json or {}).get("id")
    d.wait_sweep(sid, 30, states=("failed",), what="failing sweep")
    rows = cli(db, f"SELECT id, state, attempts, error FROM runs WHERE sweep_id = {sid} ORDER BY id")
    R.check(len(rows) == 2 and all(x["state"] == "failed" and x["attempts"] == 3 for x in rows),
            "runs of a failing worker end failed after max_attempts 3", "failed x2, attempts 3",
            rows)
    R.check(all("synthetic failure for the test" in (x["error"] or "") and "1" in (x["error"] or "")
                for x in rows),
            "runs.error holds the worker's error message and exit status",
            "'...status 1: rank: synthetic failure...'", [x["error"] for x in rows])
    for x in rows[:1]:
        j = d.get(f"/v1/runs/{x['id']}").json or {}
        R.check(j.get("error") == x["error"] and j.get("state") == "failed",
                "GET /v1/runs/{id}: error and state failed", x["error"], j.get("error"))
    summ = cli(db, "SELECT run_id, error FROM run_summary WHERE state = 'failed'")
    R.eq(len(summ), 2, "run_summary lists the failed runs")
    vals, _ = d.metrics()
    R.eq(vals.get("loralpha_attempts_failed_total"), 6.0, "attempts_failed_total counts 3 x 2")
    R.eq(d.stop(), 0, "failing-worker daemon exits 0")

    db = ctx.path("noisy.db")
    d = Daemon(ctx, "noisy", db, 1, worker=noisy,
               extra=["--check-timeout", "0", "--worker-mode", "process"])
    sid = d.submit(make_spec("noisy", [1], [1], [0.01], 50, max_attempts=1), "noisy sweep")
    d.wait_sweep(sid, 30, states=("failed",), what="noisy sweep")
    rows = cli(db, f"SELECT state, attempts, error FROM runs WHERE sweep_id = {sid}")
    R.check(len(rows) == 1 and rows[0]["state"] == "failed"
            and "3" in (rows[0]["error"] or "")
            and "something broke in the noisy worker" in (rows[0]["error"] or ""),
            "a worker that exits 3 with plain stderr: failed, error has the status and stderr tail",
            "'...status 3 ... something broke...'", rows)
    R.eq(d.stop(), 0, "noisy-worker daemon exits 0")

    db = ctx.path("missing.db")
    d = Daemon(ctx, "missing", db, 2, worker=ctx.path("no-such-worker"),
               extra=["--max-same-failures", "0"])
    r = d.req("POST", "/v1/sweeps", make_spec("missing", [1, 2], [1], [0.01], 50))
    chk = (r.json or {}).get("check") or {}
    R.check(r.status == 201 and chk.get("result") == "skipped"
            and "no-such-worker" in (chk.get("why") or ""),
            "a check that cannot start: the sweep is stored, the answer says why",
            "201, check skipped naming the worker", (r.status, r.json))
    sid = (r.json or {}).get("id")
    d.wait_sweep(sid, 30, states=("failed",), what="missing-worker sweep")
    rows = cli(db, f"SELECT id, state, attempts, error FROM runs WHERE sweep_id = {sid}")
    R.check(len(rows) == 2 and all(x["state"] == "failed" and x["attempts"] == 2
                                   and "no-such-worker" in (x["error"] or "") for x in rows),
            "a non-existent --worker: runs failed after max_attempts 2, error names the path",
            "failed, attempts 2", rows)
    j = d.get(f"/v1/runs/{rows[0]['id']}").json if rows else {}
    R.check(bool(rows) and (j or {}).get("error") == rows[0]["error"],
            "GET /v1/runs/{id} error for a worker that cannot start", rows and rows[0]["error"],
            (j or {}).get("error"))
    R.check(d.get("/v1/health").status == 200, "daemon healthy after spawn failures", 200, "")
    R.eq(d.stop(sig=signal.SIGINT), 0, "missing-worker daemon exits 0 on SIGINT")

    # a worker silent past --heartbeat is killed, and the attempt fails
    silent = ctx.path("silent-worker.sh")
    with open(silent, "w") as f:
        f.write("#!/bin/sh\ncat > /dev/null\nexec sleep 60\n")
    os.chmod(silent, 0o755)
    db = ctx.path("heartbeat.db")
    d = Daemon(ctx, "heartbeat", db, 1, worker=silent,
               extra=["--heartbeat", "1", "--check-timeout", "1"])
    # its check never ends either: killed at check_timeout, the sweep is
    # stored unchecked, and the loop answered others meanwhile
    t0 = time.monotonic()
    answer = {}
    poster = threading.Thread(target=lambda: answer.update(r=d.req(
        "POST", "/v1/sweeps", make_spec("silent", [1], [1], [0.01], 50, max_attempts=1))))
    poster.start()
    checking = wait_until(lambda: d.children(), scaled(5), 0.02)
    h0 = time.monotonic()
    h = d.get("/v1/health")
    h_dt = time.monotonic() - h0
    R.check(checking and h.status == 200 and "r" not in answer,
            "while a check runs, the daemon answers other requests",
            "health 200 while the POST waits", (checking, h.status, f"{h_dt:.2f} s", answer))
    poster.join(scaled(10))
    r = answer.get("r")
    chk = ((r and r.json) or {}).get("check") or {}
    R.check(r is not None and r.status == 201 and chk.get("result") == "skipped"
            and "did not finish within 1 s (check_timeout)" in (chk.get("why") or ""),
            "a check past check_timeout is killed; the sweep is stored, saying so",
            "201, check skipped: did not finish within 1 s", r and (r.status, r.json))
    if r is None or r.status != 201:
        raise RuntimeError("silent sweep not accepted")
    sid = r.json["id"]
    t0 = time.monotonic()
    wait_until(lambda: d.children(), 5, 0.02)
    kids = d.children()
    d.wait_sweep(sid, 20, states=("failed",), what="silent sweep")
    dt = time.monotonic() - t0
    rows = cli(db, f"SELECT state, attempts, error FROM runs WHERE sweep_id = {sid}")
    R.check(len(rows) == 1 and rows[0]["state"] == "failed" and "heartbeat" in (rows[0]["error"] or "")
            and dt < scaled(8),
            "a worker silent past --heartbeat 1 is killed: failed, error names the heartbeat",
            "failed within a few s, '...heartbeat...'", (rows, f"{dt:.1f} s"))
    R.check(not any(alive(p) for p in kids), "the silent worker was killed", "dead",
            [p for p in kids if alive(p)])
    vals, _ = d.metrics()
    R.eq(vals.get("loralpha_workers_killed_total"), 1.0, "heartbeat kill counted in workers_killed_total")
    R.eq(d.stop(), 0, "heartbeat daemon exits 0")


# ---- case 8: SIGTERM drains ----------------------------------------------------------------


def case_drain(ctx):
    db = ctx.path("drain.db")
    steps = 100000
    exp = expected_rows(steps, 100, 10000, 0, False)
    d = Daemon(ctx, "drain", db, 2)
    sid = d.submit(long_spec("drain", 3, steps, log_every=100), "drain sweep")
    got = wait_until(lambda: (d.sweep(sid) or {}).get("counts", {}).get("running") == 2
                     and len(d.children()) == 2, 20, 0.02)
    R.check(got, "two runs running before SIGTERM", 2, (d.sweep(sid) or {}).get("counts"))
    time.sleep(0.2)
    running = [x["id"] for x in (d.get(f"/v1/sweeps/{sid}/runs?state=running").json or {}).get("runs", [])]
    kids = d.children()
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(scaled(10))
    except subprocess.TimeoutExpired:
        rc = f"still running after {scaled(10)} s"
    dt = time.monotonic() - t0
    R.check(rc == 0 and dt < scaled(5), "SIGTERM: the daemon exits 0 within a few seconds",
            f"exit 0 in < {scaled(5)} s", f"{rc} after {dt:.2f} s; log: {d.log_tail(500)}")
    d.kill()
    R.check(not any(alive(p) for p in kids), "SIGTERM: no worker left behind", "none",
            [p for p in kids if alive(p)])
    rows = cli(db, f"SELECT id, state, attempts FROM runs WHERE sweep_id = {sid} ORDER BY id")
    R.eq(sum(1 for x in rows if x["state"] == "running"), 0, "after the drain no run is running")
    was = [x for x in rows if x["id"] in running]
    R.check(len(was) == 2 and all(x["state"] == "queued" and x["attempts"] == 0 for x in was),
            "runs that were running are queued again with attempts back to 0",
            "queued, attempts 0", was)
    R.eq(cli_val(db, f"SELECT state FROM sweeps WHERE id = {sid}"), "active",
         "the drained sweep is still active")
    d2 = Daemon(ctx, "drain-restart", db, 2)
    R.check("0 runs requeued" in d2.log_tail(), "restart after a drain requeues nothing",
            "0 runs requeued", d2.log_tail())
    d2.wait_sweep(sid, 60, what="sweep after the drain")
    rows = cli(db, f"SELECT id, state, attempts, steps_done FROM runs WHERE sweep_id = {sid}")
    R.check(all(x["state"] == "done" and x["attempts"] == 1 and x["steps_done"] == steps
                for x in rows) and len(rows) == 3,
            "restart finishes the drained sweep: 3 done, attempts 1", "done, 1", rows)
    cnt = cli(db, f"SELECT r.id, (SELECT COUNT(*) FROM curve WHERE run_id = r.id AND kind = 'train') AS t, "
                  f"(SELECT COUNT(*) FROM curve WHERE run_id = r.id AND kind = 'eval') AS e "
                  f"FROM runs r WHERE sweep_id = {sid}")
    R.check(all((x["t"], x["e"]) == (exp["train"], exp["eval"]) for x in cnt),
            "drained and rerun runs have exactly one run's curve", (exp["train"], exp["eval"]), cnt)
    R.eq(d2.stop(), 0, "restarted drain daemon exits 0")


# ---- case 9: bad requests -------------------------------------------------------------------


def slow_client(port, out):
    """Sends a request one byte at a time, slower than the request timeout."""
    msg = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    t0 = time.monotonic()
    got = b""
    i = 0
    try:
        while time.monotonic() - t0 < 16:
            if i < len(msg):
                try:
                    s.send(msg[i:i + 1])
                except OSError:
                    pass
                i += 1
            time.sleep(0.25)
            try:
                chunk = s.recv(65536)
                if chunk:
                    got += chunk
                    if b"\r\n\r\n" in got:
                        # read the rest until the server closes
                        s.setblocking(True)
                        s.settimeout(3)
                        while True:
                            c = s.recv(65536)
                            if not c:
                                break
                            got += c
                        out["closed"] = True
                        break
                else:
                    out["closed"] = True
                    break
            except BlockingIOError:
                pass
            except OSError as e:
                out["error"] = repr(e)
                break
    finally:
        out["elapsed"] = time.monotonic() - t0
        out["data"] = got
        out["sent"] = i
        s.close()


def case_bad_requests(ctx):
    db = ctx.path("bad.db")
    d = Daemon(ctx, "bad", db, 1, extra=["--max-runs", "20", "--max-body", "4096",
                                         "--request-timeout", "2"])
    port = d.port
    sid = d.submit(make_spec("ok", [1, 2], [1], [0.01], 30), "valid sweep")
    big = d.submit(make_spec("big", [1], [1], [0.01], 30000,
                             metrics={"log_every": 1, "eval_every": 1000, "sharpness": False}),
                   "big-curve sweep")

    slow = {}
    th = threading.Thread(target=slow_client, args=(port, slow), daemon=True)
    th.start()

    def health_ok(what):
        try:
            r = d.get("/v1/health")
            ok = r.status == 200
        except OSError as e:
            r, ok = repr(e), False
        return R.check(ok, f"{what}: daemon still answers GET /v1/health 200 after it", 200, r)

    def expect(what, resp, status, code, msg_has=()):
        shape = error_shape(resp.body) if resp is not None else None
        ok = resp is not None and resp.status == status and shape is not None \
            and shape[0] == code and all(m in shape[1] for m in msg_has) \
            and resp.headers.get("content-type", "").startswith("application/json")
        R.check(ok, f"{what}: {status} {code}" + (f" naming {msg_has}" if msg_has else ""),
                f"{status} {{\"error\":{{\"code\":\"{code}\",\"message\":...{list(msg_has)}}}}}",
                resp)
        health_ok(what)

    good = make_spec("x", [1, 2], [1, 4], [0.01], 30)

    def spec_with(path, value, base=None):
        s = json.loads(json.dumps(base or good))
        cur = s
        for k in path[:-1]:
            cur = cur[k]
        if value is KeyError:
            del cur[path[-1]]
        else:
            cur[path[-1]] = value
        return s

    J = {"Content-Type": "application/json"}
    cases = [
        ("malformed JSON body", "POST", "/v1/sweeps", '{"name": "x", ', J, 400, "bad_json", ()),
        ("JSON array body", "POST", "/v1/sweeps", "[1, 2, 3]", J, 422, "invalid_spec", ()),
        ("empty body", "POST", "/v1/sweeps", "", J, 400, "bad_json", ()),
        ("grid.rank of the wrong type", "POST", "/v1/sweeps",
         spec_with(["grid", "rank"], "4"), J, 422, "invalid_spec", ("grid.rank",)),
        ("grid.alpha with a string value", "POST", "/v1/sweeps",
         spec_with(["grid", "alpha"], ["x"]), J, 422, "invalid_spec", ("grid.alpha[0]",)),
        ("steps as a string", "POST", "/v1/sweeps", spec_with(["steps"], "100"), J, 422,
         "invalid_spec", ("steps",)),
        ("task.d_in as a string", "POST", "/v1/sweeps", spec_with(["task", "d_in"], "16"), J,
         422, "invalid_spec", ("task.d_in",)),
        ("metrics.log_every as a float", "POST", "/v1/sweeps",
         spec_with(["metrics"], {"log_every": 1.5}), J, 422, "invalid_spec",
         ("metrics.log_every",)),
        ("priority out of range", "POST", "/v1/sweeps", spec_with(["priority"], 5000), J, 422,
         "invalid_spec", ("priority",)),
        ("unknown spec field", "POST", "/v1/sweeps", spec_with(["bogus_field"], 1), J, 422,
         "invalid_spec", ("bogus_field",)),
        ("unknown task field", "POST", "/v1/sweeps", spec_with(["task", "widthz"], 3), J, 422,
         "invalid_spec", ("task.widthz",)),
        ("rank above min(d_in, d_out)", "POST", "/v1/sweeps",
         spec_with(["grid", "rank"], [1, 2, 32]), J, 422, "invalid_spec", ("grid.rank[2]",)),
        ("empty grid list", "POST", "/v1/sweeps", spec_with(["grid", "alpha"], []), J, 422,
         "invalid_spec", ("grid.alpha",)),
        ("missing name", "POST", "/v1/sweeps", spec_with(["name"], KeyError), J, 422,
         "invalid_spec", ("name",)),
        ("grid over --max-runs 20", "POST", "/v1/sweeps",
         spec_with(["seeds"], 6), J, 422, "invalid_spec", ("20",)),
        ("non-JSON Content-Type", "POST", "/v1/sweeps", json.dumps(good),
         {"Content-Type": "text/plain"}, 415, "unsupported_media_type", ()),
        ("body over --max-body 4096", "POST", "/v1/sweeps",
         json.dumps(spec_with(["description"], "y" * 6000)), J, 413, "payload_too_large", ()),
        ("task.rank in the wrong place", "POST", "/v1/sweeps", spec_with(["task", "rank"], 2), J,
         422, "invalid_spec", ("task.rank", "grid.rank")),
        ("task.activation with the teacher task", "POST", "/v1/sweeps",
         spec_with(["task", "activation"], "relu"), J, 422, "invalid_spec", ("task.activation",)),
        ("optimizer.momentum with adamw", "POST", "/v1/sweeps",
         spec_with(["optimizer"], {"name": "adamw", "momentum": 0.9}), J, 422, "invalid_spec",
         ("optimizer.momentum",)),
        ("schedule.warmup_steps over steps", "POST", "/v1/sweeps",
         spec_with(["schedule"], {"name": "constant", "warmup_steps": 500}), J, 422,
         "invalid_spec", ("schedule.warmup_steps",)),
        ("a rank range that is not integer", "POST", "/v1/sweeps",
         spec_with(["grid", "rank"], {"log2": [0, 1], "num": 3}), J, 422, "invalid_spec",
         ("grid.rank[1]",)),
        ("repeated grid value", "POST", "/v1/sweeps", spec_with(["grid", "alpha"], [1, 4, 1]), J,
         422, "invalid_spec", ("grid.alpha[2]",)),
        ("JSON Content-Type in upper case is JSON", "POST", "/v1/sweeps", "{}",
         {"Content-Type": "Application/JSON"}, 422, "invalid_spec", ()),
        ("unknown route", "GET", "/v2/health", None, {}, 404, "not_found", ()),
        ("unknown sub-route", "GET", f"/v1/sweeps/{sid}/bogus", None, {}, 404, "not_found", ()),
        ("unknown sweep id", "GET", "/v1/sweeps/987654", None, {}, 404, "not_found", ()),
        ("unknown run id", "GET", "/v1/runs/987654", None, {}, 404, "not_found", ()),
        ("runs of an unknown sweep", "GET", "/v1/sweeps/987654/runs", None, {}, 404,
         "not_found", ()),
        ("non-numeric sweep id", "GET", "/v1/sweeps/abc", None, {}, 404, "not_found", ()),
        ("non-numeric run id", "GET", "/v1/runs/12x", None, {}, 404, "not_found", ()),
        ("sweep id 0", "GET", "/v1/sweeps/0", None, {}, 404, "not_found", ()),
        ("wrong method on a sweep", "PUT", f"/v1/sweeps/{sid}", "{}", J, 405,
         "method_not_allowed", ("GET",)),
        ("POST /v1/health", "POST", "/v1/health", "{}", J, 405, "method_not_allowed", ()),
        ("DELETE /v1/sweeps", "DELETE", "/v1/sweeps", None, {}, 405, "method_not_allowed",
         ("GET", "POST")),
        ("GET on cancel", "GET", f"/v1/sweeps/{sid}/cancel", None, {}, 405,
         "method_not_allowed", ("POST",)),
        ("POST /metrics", "POST", "/metrics", "{}", J, 405, "method_not_allowed", ()),
        ("DELETE a run", "DELETE", "/v1/runs/1", None, {}, 405, "method_not_allowed", ()),
        ("runs state=bogus", "GET", f"/v1/sweeps/{sid}/runs?state=bogus", None, {}, 400,
         "bad_query", ("state",)),
        ("runs limit=0", "GET", f"/v1/sweeps/{sid}/runs?limit=0", None, {}, 400, "bad_query",
         ("limit",)),
        ("runs limit=5000", "GET", f"/v1/sweeps/{sid}/runs?limit=5000", None, {}, 400,
         "bad_query", ("limit",)),
        ("runs rank=x", "GET", f"/v1/sweeps/{sid}/runs?rank=x", None, {}, 400, "bad_query",
         ("rank",)),
        ("runs alpha=-1", "GET", f"/v1/sweeps/{sid}/runs?alpha=-1", None, {}, 400,
         "bad_query", ("alpha",)),
        ("runs lr=abc", "GET", f"/v1/sweeps/{sid}/runs?lr=abc", None, {}, 400, "bad_query",
         ("lr",)),
        ("runs after=-5", "GET", f"/v1/sweeps/{sid}/runs?after=-5", None, {}, 400,
         "bad_query", ("after",)),
        ("cancel an unknown sweep", "POST", "/v1/sweeps/987654/cancel", None, {}, 404,
         "not_found", ()),
        ("charset in Content-Type is JSON", "POST", "/v1/sweeps", "{}",
         {"Content-Type": "application/json; charset=utf-8"}, 422, "invalid_spec", ()),
    ]
    for what, method, path, body, hdrs, status, code, has in cases:
        try:
            r = d.req(method, path, body, hdrs)
        except OSError as e:
            r = None
            R.check(False, f"{what}: an answer", status, repr(e))
        expect(what, r, status, code, has)

    # HEAD
    r = d.req("HEAD", "/v1/health")
    R.check(r.status == 200 and r.body == b"" and int(r.headers.get("content-length", "0")) > 0,
            "HEAD /v1/health: 200, Content-Length, no body", "200 no body", (r.status, r.headers, r.body))

    # raw sockets
    def raw_case(what, data, status, code, **kw):
        out = raw_exchange(port, data, **kw)
        resps = parse_responses(out)
        ok = len(resps) >= 1 and resps[0][0] == status and \
            (error_shape(resps[0][2]) or ("",))[0] == code
        R.check(ok, f"{what} (raw): {status} {code}", f"{status} {code}", out[:400])
        health_ok(what)

    raw_case("URL with %00", b"GET /v1/health%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request")
    raw_case("URL with a bad escape", b"GET /v1/sw%zzeeps HTTP/1.1\r\nHost: x\r\n\r\n", 400,
             "bad_request")
    raw_case("garbage request line", b"HELLO there, daemon\r\n\r\n", 400, "bad_request")
    raw_case("binary garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(40)),
             400, "bad_request")
    raw_case("header section over 16 KiB",
             b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" +
             b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(20)) + b"\r\n",
             431, "header_too_large")
    raw_case("Content-Length over --max-body", b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{", 413,
             "payload_too_large")
    chunked_big = b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
        b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(b"400\r\n" + b" " * 1024 + b"\r\n"
                                                         for _ in range(6)) + b"0\r\n\r\n"
    raw_case("chunked body over --max-body", chunked_big, 413, "payload_too_large")

    # truncated requests: the client goes away; nothing to answer
    out = raw_exchange(port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n", close_write=True, timeout=3)
    R.check(parse_responses(out) == [] or parse_responses(out)[0][0] in (400, 408),
            "truncated request (headers, then close): no success answer", "nothing or 4xx", out[:200])
    health_ok("truncated request")
    out = raw_exchange(port, b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 500\r\n\r\n{\"name\": \"trunc\"", close_write=True, timeout=3)
    R.check(not any(s_ == 201 for s_, _, _ in parse_responses(out)),
            "Content-Length larger than the body, then close: no sweep created", "no 201", out[:200])
    health_ok("short body")
    R.eq([x["name"] for x in (d.get("/v1/sweeps").json or {}).get("sweeps", [])], ["big", "ok"],
         "no sweep was created by the bad requests")

    # a valid chunked POST, and Expect: 100-continue
    body = json.dumps(make_spec("chunked", [1], [1], [0.01], 20)).encode()
    chunked = b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + \
        b"%x\r\n%s\r\n" % (10, body[:10]) + b"%x\r\n%s\r\n" % (len(body) - 10, body[10:]) + b"0\r\n\r\n"
    resps = parse_responses(raw_exchange(port, chunked))
    R.check(resps and resps[0][0] == 201, "a valid chunked POST /v1/sweeps: 201", 201, resps)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(auth_raw(port, b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                       b"Content-Length: 2\r\nConnection: close\r\n\r\n"))
    first = s.recv(4096)
    s.sendall(b"{}")
    rest = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            rest += c
    except OSError:
        pass
    s.close()
    resps = parse_responses(first + rest)
    R.check(first.startswith(b"HTTP/1.1 100") and resps and resps[0][0] == 422,
            "Expect: 100-continue: 100 Continue, then the answer (422 for {})", "100 then 422",
            first + rest)

    # pipelining: answered in order on one connection
    pipe = (b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /v2/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            b"GET /v1/sweeps/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % sid)
    out = raw_exchange(port, pipe, timeout=5)
    resps = parse_responses(out, heads={2})
    got = [x[0] for x in resps]
    R.check(got == [200, 404, 200, 405, 200] and resps[4][2].startswith(b'{"id":%d' % sid),
            "pipelined requests answered in order", [200, 404, 200, 405, 200], (got, out[-300:]))
    health_ok("pipelining")

    # keep-alive: several requests on one http.client connection
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    sts = []
    for path in ("/v1/health", "/v1/sweeps/abc", "/metrics", "/v1/health"):
        conn.request("GET", path, headers=auth(port))
        rr = conn.getresponse()
        rr.read()
        sts.append(rr.status)
    conn.close()
    R.eq(sts, [200, 404, 200, 200], "keep-alive: four requests on one connection")

    # the slow client is cut off while others are answered quickly
    lat = []
    for _ in range(5):
        t0 = time.monotonic()
        r = d.get("/v1/health")
        lat.append((r.status, time.monotonic() - t0))
        time.sleep(0.1)
    R.check(all(st == 200 and t < scaled(1.0) for st, t in lat),
            "a concurrent client is answered quickly while a slow client trickles",
            f"200 in < {scaled(1.0)} s", lat)
    th.join(30)
    resps = parse_responses(slow.get("data", b""))
    R.check(resps and resps[0][0] == 408 and (error_shape(resps[0][2]) or ("",))[0] ==
            "request_timeout" and slow.get("closed") and 1.5 < slow.get("elapsed", 0) < scaled(5)
            and slow.get("sent", 0) < 60,
            "slow client (1 byte / 0.25 s): 408 request_timeout after ~2 s "
            "(--request-timeout 2), then closed",
            "408 after ~2 s", {k: v for k, v in slow.items()})
    health_ok("slow client")

    vals, _ = d.metrics()
    R.check(vals.get('loralpha_http_requests_total{class="4xx"}', 0) >= 40,
            "metrics count the 4xx answers", ">= 40",
            vals.get('loralpha_http_requests_total{class="4xx"}'))

    # A client that goes away while a large response is being written must
    # not take the daemon down.
    d.wait_sweep(big, 60, what="big-curve sweep")
    big_run = (d.get(f"/v1/sweeps/{big}/runs").json or {}).get("runs", [{}])[0].get("id")
    size = len(d.get(f"/v1/runs/{big_run}").body)
    log(f"GET /v1/runs/{big_run}: {size} bytes")
    for _ in range(10):
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.sendall(auth_raw(port, b"GET /v1/runs/%d HTTP/1.1\r\nHost: x\r\n\r\n"
                               % big_run))
            time.sleep(0.05)
            s.close()
        except OSError:
            break
    time.sleep(0.3)
    alive_ = d.proc.poll() is None
    R.check(alive_, "a client closing during a large response does not kill the daemon",
            "daemon running", f"daemon exited with {d.proc.returncode} "
            f"({'SIGPIPE' if d.proc.returncode in (-13, 141) else '?'})")
    if alive_:
        health_ok("client gone mid-response")
        R.eq(d.stop(), 0, "bad-request daemon exits 0")
    else:
        d.kill()


# ---- case 11: failing fast ----------------------------------------------------------------

NPY_D, NPY_N = 8, 64


def npy_files(d, seed=1):
    """w0 (NPY_D, NPY_D), x (NPY_N, NPY_D), y (NPY_N, NPY_D) in directory d."""
    rng = random.Random(seed)
    os.makedirs(d, exist_ok=True)
    paths = {k: os.path.join(d, f"{k}.npy") for k in ("w0", "x", "y")}
    write_npy(paths["w0"], (NPY_D, NPY_D), [rng.gauss(0, 0.3) for _ in range(NPY_D * NPY_D)])
    write_npy(paths["x"], (NPY_N, NPY_D), [rng.gauss(0, 1) for _ in range(NPY_N * NPY_D)])
    write_npy(paths["y"], (NPY_N, NPY_D), [rng.gauss(0, 1) for _ in range(NPY_N * NPY_D)])
    return paths


def npy_spec(name, paths, ranks=(1, 2), alphas=(1.0, 2.0), **top):
    s = make_spec(name, list(ranks), list(alphas), [0.003], 40, batch=16,
                  metrics={"log_every": 10, "eval_every": 20, "spectra_every": 0,
                           "sharpness": False}, **top)
    s["task"] = {"task": "npy", "npy": {"w0": [paths["w0"]], "x": paths["x"], "y": paths["y"]}}
    return s


def wait_log(d, text, timeout):
    def seen():
        with open(d.log_path, errors="replace") as f:
            return text in f.read()
    return wait_until(seen, timeout, 0.05)


def case_fail_fast(ctx):
    data = npy_files(ctx.path("npy-data"))
    missing = ctx.path("npy-data/not-there.npy")
    db = ctx.path("failfast.db")
    d = Daemon(ctx, "failfast", db, 1, extra=["--max-same-failures", "3", "--pack-max", "1"])

    # checked at submit, with the owner's worker: a missing data file and a
    # rank the files cannot hold are refused, naming the field; nothing stored
    r = d.req("POST", "/v1/sweeps", npy_spec("missing x", dict(data, x=missing)))
    code, msg = error_shape(r.body) or ("", "")
    R.check(r.status == 422 and code == "check_failed"
            and f"task.npy.x: {missing}: cannot be read" in msg,
            "a spec whose data file is missing: 422 check_failed with the worker's words",
            f"422 check_failed 'task.npy.x: {missing}: cannot be read ...'", (r.status, r.body))
    r = d.req("POST", "/v1/sweeps", npy_spec("rank too big", data, ranks=(1, 16)))
    code, msg = error_shape(r.body) or ("", "")
    R.check(r.status == 422 and code == "check_failed" and "rank: 16 exceeds" in msg
            and "rank 16" in msg,
            "each rank is checked against the files: rank 16 of 8 x 8 data is refused",
            "422 'task.rank: 16 exceeds ... (the worker's --check of run N: rank 16 ...'",
            (r.status, r.body))
    R.eq(len((d.get("/v1/sweeps").json or {}).get("sweeps", [])), 0,
         "refused at submit: no sweep stored")
    r = d.req("POST", "/v1/sweeps", npy_spec("good files", data))
    R.eq((r.status, (r.json or {}).get("check")), (201, {"result": "passed", "runs": 2}),
         "a spec whose files are there: 201, one check per rank passed")
    if r.status == 201:
        d.wait_sweep(r.json["id"], 60, what="good npy sweep")

    # runs that all fail the same way (their file went after the check): the
    # sweep stops after max_same_failures 3, failed, the rest cancelled
    gone = npy_files(ctx.path("npy-gone"), seed=2)
    sid = d.submit(npy_spec("file goes", gone, ranks=(1, 2), alphas=(1.0, 2.0, 4.0, 8.0),
                            window=closed_window()), "sweep whose file goes")
    os.unlink(gone["x"])
    r = d.req("PATCH", f"/v1/sweeps/{sid}", {"window": None},
              headers={"Content-Type": "application/json"})
    R.eq(r.status, 200, "its window opened (PATCH window null)")
    s = d.wait_sweep(sid, 60, states=("failed", "done"), what="sweep whose file goes")
    err = s.get("error") or ""
    c = s.get("counts", {})
    R.check(s["state"] == "failed"
            and err.startswith("stopped: 3 attempts in a row failed with the same error")
            and f"npy.x: {gone['x']}: cannot be read" in err,
            "runs failing the same way: the sweep stops as failed after 3, its error says why",
            "failed, 'stopped: 3 attempts in a row failed with the same error (...): ...'",
            (s["state"], err))
    R.check(c.get("queued") == 0 and c.get("running") == 0 and c.get("done") == 0
            and c.get("failed", 0) >= 1 and c.get("failed", 0) + c.get("cancelled", 0) == 8,
            "its other runs are cancelled, none left queued", "failed + cancelled = 8", c)
    R.check(0 < s.get("progress", 1) < 1, "its progress counts only the failed runs: < 1",
            "0 < progress < 1", s.get("progress"))
    vals, _ = d.metrics()
    R.eq(vals.get("loralpha_attempts_failed_total"), 3.0,
         "exactly 3 attempts were made before it stopped")
    R.eq(d.stop(), 0, "fail-fast daemon exits 0")

    # the decision is committed before it is acted on: killed right after it,
    # a restarted daemon finds the sweep failed and nothing queued or running
    db = ctx.path("failfast-kill.db")
    env = dict(os.environ, LA_TEST_PAUSE="stop", LA_TEST_PAUSE_MS="60000")
    d = Daemon(ctx, "failfast-kill", db, 2, env=env,
               extra=["--max-same-failures", "3", "--check-timeout", "0"])
    sid = d.submit(npy_spec("missing, unchecked", dict(data, x=missing), ranks=(1, 2),
                            alphas=(1.0, 2.0, 4.0, 8.0)), "unchecked sweep")
    R.check(wait_log(d, "testpoint stop", scaled(60)), "the daemon decided to stop the sweep",
            "'testpoint stop' in the log", d.log_tail())
    before = cli(db, f"SELECT state, error FROM sweeps WHERE id = {sid}")
    d.kill()
    R.check(len(before) == 1 and before[0]["state"] == "failed",
            "the decision is in the database before the daemon acts on it", "failed", before)
    d = Daemon(ctx, "failfast-again", db, 2)
    s = d.sweep(sid) or {}
    c = s.get("counts", {})
    R.check(s.get("state") == "failed" and before and s.get("error") == before[0]["error"]
            and c.get("queued") == 0 and c.get("running") == 0
            and c.get("failed", 0) + c.get("cancelled", 0) == 8,
            "restarted after SIGKILL: the same state and error, nothing queued or running",
            ("failed", before and before[0]["error"]), (s.get("state"), s.get("error"), c))
    R.check(not d.children(), "the restarted daemon starts no worker for it", [], d.children())
    R.eq(d.stop(), 0, "restarted daemon exits 0")


# ---- case 14: checks take turns -------------------------------------------------------------


def case_check_turns(ctx):
    """Checks of concurrent submissions run at most max_workers at a time
    (each may need a run's memory); the others wait their turn."""
    silent = ctx.path("silent-check.sh")
    with open(silent, "w") as f:
        f.write("#!/bin/sh\ncat > /dev/null\nexec sleep 60\n")
    os.chmod(silent, 0o755)
    d = Daemon(ctx, "turns", ctx.path("turns.db"), 1, worker=silent,
               extra=["--check-timeout", "1"])
    answers, most = [], [0]
    spec = make_spec("held", [1], [1.0], [0.01], 50, window=closed_window())
    posters = [threading.Thread(target=lambda: answers.append(
        d.req("POST", "/v1/sweeps", spec, timeout=scaled(30)))) for _ in range(3)]
    t0 = time.monotonic()
    for t in posters:
        t.start()

    def all_answered():
        most[0] = max(most[0], len(d.children()))
        return len(answers) == 3
    wait_until(all_answered, scaled(30), 0.02)
    took = time.monotonic() - t0
    for t in posters:
        t.join(scaled(5))
    R.check(len(answers) == 3 and all(r.status == 201 and ((r.json or {}).get("check") or {})
                                      .get("result") == "skipped" for r in answers),
            "three submissions whose checks time out: all stored, unchecked",
            "3 x 201 skipped", [(r.status, r.json) for r in answers])
    R.check(most[0] == 1 and took >= 3.0,
            "with max_workers 1 their checks ran one at a time (1 s each, in turn)",
            "at most 1 check process, >= 3 s", (most[0], f"{took:.1f} s"))
    R.eq(d.stop(), 0, "turns daemon exits 0")


# ---- case 12: relative paths ----------------------------------------------------------------


def case_relative_paths(ctx):
    sub = ctx.path("submitter")
    data = npy_files(os.path.join(sub, "data"), seed=3)
    d = Daemon(ctx, "relative", ctx.path("relative.db"), 1)
    rel = {k: os.path.relpath(v, sub) for k, v in data.items()}
    spec_path = os.path.join(sub, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(npy_spec("relative", rel, ranks=(1,), alphas=(1.0,)), f)
    r = d.req("POST", "/v1/sweeps", npy_spec("relative over the API", rel))
    code, msg = error_shape(r.body) or ("", "")
    R.check(r.status == 422 and code == "invalid_spec"
            and "task.npy.x: must be an absolute path" in msg,
            "the API refuses a relative path, naming the field", "422 task.npy.x: ...",
            (r.status, r.body))
    # the daemon's working directory is ctx.tmp, where data/x.npy is not
    p = subprocess.run([ctx.loralpha, "submit", "--json", "spec.json"], cwd=sub,
                       env=dict(os.environ, LORALPHA_STATE_DIR=d.state),
                       capture_output=True, text=True, timeout=scaled(60))
    ans = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else {}
    R.check(p.returncode == 0 and (ans.get("check") or {}).get("result") == "passed",
            "loralpha submit from the submitter's directory: accepted, its check passed",
            "exit 0, check passed", (p.returncode, p.stdout, p.stderr))
    if ans.get("id"):
        s = d.wait_sweep(ans["id"], 60, what="relative sweep")
        npy = ((s.get("spec") or {}).get("task") or {}).get("npy") or {}
        R.eq((npy.get("x"), npy.get("y"), npy.get("w0")),
             (data["x"], data["y"], [data["w0"]]),
             "the CLI sent the paths resolved against its own working directory")
    R.eq(d.stop(), 0, "relative-path daemon exits 0")


# ---- case 13: a database of the previous schema -----------------------------------------------


def case_migration(ctx):
    schema = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schema")
    db = ctx.path("schema7.db")
    con = sqlite3.connect(db)
    con.create_function("la_sha256", 1, lambda t: t)
    for name in sorted(os.listdir(schema))[:7]:
        with open(os.path.join(schema, name)) as f:
            con.executescript(f.read())
    con.executescript("""
        PRAGMA user_version = 7;
        INSERT INTO sweeps (id, name, spec, state, seed, n_runs, created_at, finished_at, owner)
        VALUES (1, 'all failed', '{}', 'done', 1, 2, 1, 2, 'me'),
               (2, 'one done', '{}', 'done', 1, 2, 1, 2, 'me'),
               (3, 'cancelled', '{}', 'cancelled', 1, 1, 1, 2, 'me');
        INSERT INTO runs (sweep_id, idx, rank, alpha, lr, seed_index, seed, config, state,
                          created_at, finished_at, error)
        VALUES (1, 0, 1, 1, 0.1, 0, 1, '{}', 'failed', 1, 2, 'boom early'),
               (1, 1, 1, 2, 0.1, 0, 1, '{}', 'failed', 1, 3, 'boom late'),
               (2, 0, 1, 1, 0.1, 0, 1, '{}', 'failed', 1, 2, 'boom'),
               (2, 1, 1, 2, 0.1, 0, 1, '{}', 'done', 1, 2, NULL),
               (3, 0, 1, 1, 0.1, 0, 1, '{}', 'cancelled', 1, 2, NULL);
    """)
    con.commit()
    con.close()
    d = Daemon(ctx, "schema7", db, 1)
    n = len([x for x in os.listdir(schema) if x.endswith(".sql")])
    R.eq((d.get("/v1/health").json or {}).get("schema_version"), n,
         f"a schema-7 database is migrated to the last schema ({n})")
    got = [(s["id"], s["state"], s.get("error"), s.get("progress"))
           for s in sorted((d.get("/v1/sweeps").json or {}).get("sweeps", []),
                           key=lambda s: s["id"])]
    R.eq(got, [(1, "failed", "no run finished: 2 failed, 0 cancelled; the last error: boom late",
                1.0),
               (2, "done", None, 1.0), (3, "cancelled", None, 0.0)],
         "migrated: a done sweep without a finished run is failed saying why; the rest kept")
    view = cli(db, "SELECT sweep_id, state, failed, cancelled, progress, error "
                   "FROM sweep_progress ORDER BY sweep_id")
    R.check(len(view) == 3 and view[0]["state"] == "failed" and view[2]["progress"] == 0.0
            and view[1]["progress"] == 1.0,
            "the sweep_progress view reads the new table, with progress and error",
            "3 rows: failed, done (1.0), cancelled (0.0)", view)
    n = cli_val(db, "SELECT COUNT(*) FROM run_summary")
    R.eq(n, 5, "run_summary still joins runs to sweeps")
    sid = d.submit(make_spec("after migration", [1], [1.0], [0.01], 20), "new sweep")
    s = d.wait_sweep(sid, 60, what="sweep after the migration")
    R.eq((s["id"], s["state"]), (4, "done"), "new sweeps go on from the old ids")
    R.eq(d.stop(), 0, "migrated daemon exits 0")


# ---- main ---------------------------------------------------------------------------------

# ---- case 15: warm workers ---------------------------------------------------------------


def stored_results(db):
    """Everything a sweep's runs stored but the timing, keyed by the run's
    place in its sweep: each table's rows, in order."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        out = {"runs": con.execute(
            "SELECT idx, state, attempts, steps_done, final_train_loss, final_eval_loss, "
            "best_eval_loss, best_step, error FROM runs ORDER BY idx").fetchall()}
        for t in ("curve", "spectra", "drift", "sharpness", "layers"):
            cols = [c[1] for c in con.execute(f"PRAGMA table_info({t})") if c[1] != "run_id"]
            out[t] = con.execute(
                f"SELECT r.idx, {', '.join('t.' + c for c in cols)} FROM {t} t "
                f"JOIN runs r ON r.id = t.run_id ORDER BY r.idx, {', '.join('t.' + c for c in cols)}"
            ).fetchall()
        return out
    finally:
        con.close()


def runs_of(db, where):
    return cli(db, f"SELECT id, state, attempts, worker_pid, error FROM runs WHERE {where} "
                   "ORDER BY started_at, id")


def case_warm_same_numbers(ctx):
    """A sweep on warm workers, and in packs (warm or not), stores the same
    numbers as on one process per run; warm runs share the processes, and a
    pack's runs (one rank and seed) share one."""
    spec = make_spec("same", [1, 2, 4], [1.0, 8.0, 4096.0], [0.01, 0.003], 120, seeds=2,
                     metrics={"log_every": 5, "eval_every": 20, "spectra_every": 40,
                              "sharpness": True, "sharpness_every": 60})
    modes = {"process": ["--worker-mode", "process", "--pack-max", "1"],
             "warm": ["--pack-max", "1"],
             "packed": [],
             "packed-process": ["--worker-mode", "process"]}
    got = {}
    for mode, extra in modes.items():
        db = ctx.path(f"same-{mode}.db")
        d = Daemon(ctx, f"same-{mode}", db, 2, extra=extra)
        sid = d.submit(dict(spec), f"{mode} sweep")
        d.wait_sweep(sid, 60, what=f"{mode} sweep")
        vals, _ = d.metrics()
        pids = cli_val(db, "SELECT COUNT(DISTINCT worker_pid) FROM runs")
        nulls = cli_val(db, "SELECT COUNT(*) FROM runs WHERE worker_pid IS NULL")
        j = d.get(f"/v1/runs/{cli_val(db, 'SELECT MIN(id) FROM runs')}").json or {}
        R.check(isinstance(j.get("worker_pid"), int) and j["worker_pid"] > 1,
                f"{mode}: GET /v1/runs/{{id}} names its worker_pid", "a PID", j.get("worker_pid"))
        R.eq((vals.get("loralpha_workers_started_total"), nulls), (float(pids), 0),
             f"{mode}: every run names its worker process; workers_started_total counts them")
        shared = cli(db, "SELECT rank, seed, COUNT(DISTINCT worker_pid) AS pids FROM runs "
                         "GROUP BY rank, seed ORDER BY rank, seed")
        got[mode] = (stored_results(db), pids, shared)
        R.eq(d.stop(), 0, f"{mode} daemon exits 0")
    n = len(got["process"][0]["runs"])
    R.eq(got["process"][1], n, "process mode: one process per run (36 distinct PIDs)")
    R.check(1 <= got["warm"][1] <= 2, "warm mode: the 36 runs share at most max_workers 2 processes",
            "1 or 2", got["warm"][1])
    groups = got["packed-process"][2]
    R.check(got["packed-process"][1] == 6 and len(groups) == 6
            and all(g["pids"] == 1 for g in groups),
            "packed, one process per pack: each (rank, seed)'s 6 runs were trained by one "
            "process, 6 in all", "6 packs of 6", (got["packed-process"][1], groups))
    R.check(1 <= got["packed"][1] <= 2 and all(g["pids"] == 1 for g in got["packed"][2]),
            "packed on warm workers: at most 2 processes, each (rank, seed) on one",
            "1 or 2, one each", (got["packed"][1], got["packed"][2]))
    states = {r[1] for r in got["process"][0]["runs"]}
    R.check({"done", "diverged"} <= states, "the sweep has runs that diverge (alpha 4096) beside "
            "runs that end done, in the same packs", "done and diverged", states)
    for mode in ("warm", "packed", "packed-process"):
        for t in got[mode][0]:
            w, p = got[mode][0][t], got["process"][0][t]
            R.check(w == p and len(p) > 0, f"{mode} and one process per run store the same {t} "
                    "rows (every value equal)", f"{len(p)} rows as in process mode",
                    f"{len(w)} rows, first difference: "
                    f"{next(((a, b) for a, b in zip(w, p) if a != b), None)}")


def running_pid(d, run_id):
    """The PID of run_id's worker once the run is running and its worker is
    recorded (a new attempt shows no PID until then), else None."""
    j = d.get(f"/v1/runs/{run_id}").json or {}
    return j.get("worker_pid") if j.get("state") == "running" else None


def case_warm_pool(ctx):
    """Recycling after worker_max_runs, a warm worker taking the next sweep of
    its owner, cancel of a warm worker's run, kill -9 of a warm worker."""
    db = ctx.path("pool.db")
    d = Daemon(ctx, "pool", db, 1, extra=["--worker-max-runs", "3", "--worker-idle-timeout", "600"])
    a = d.submit(make_spec("recycle", [1], [1.0], [0.01], 30, seeds=7), "7-run sweep")
    d.wait_sweep(a, 60, what="7-run sweep")
    rows = runs_of(db, f"sweep_id = {a}")
    groups = []
    for x in rows:
        if groups and groups[-1][0] == x["worker_pid"]:
            groups[-1][1] += 1
        else:
            groups.append([x["worker_pid"], 1])
    R.eq([g[1] for g in groups], [3, 3, 1],
         "worker_max_runs 3: runs in start order come in groups of 3 per worker process")
    R.eq(len({g[0] for g in groups}), 3, "three distinct processes for 7 runs")
    gone = wait_until(lambda: not any(alive(g[0]) for g in groups[:2]), 10)
    R.check(gone, "the two worn-out workers exited", "not alive",
            [(g[0], alive(g[0])) for g in groups[:2]])
    last = groups[-1][0] if groups else None
    R.check(last is not None and alive(last), "the last worker waits, idle, for the next run",
            "alive", last)

    # the idle worker takes the owner's next sweep; a cancel kills it
    b = d.submit(long_spec("cancel-warm", 1, 5_000_000), "long sweep")
    run_b = cli_val(db, f"SELECT id FROM runs WHERE sweep_id = {b}")
    on = wait_until(lambda: running_pid(d, run_b), 20)
    pid_b = (d.get(f"/v1/runs/{run_b}").json or {}).get("worker_pid")
    R.check(on and pid_b == last, "the owner's next sweep runs on the idle warm worker",
            last, pid_b)
    r = d.req("POST", f"/v1/sweeps/{b}/cancel")
    R.eq(r.status, 200, "cancel during a warm worker's run: 200")
    ok = wait_until(lambda: (d.sweep(b) or {}).get("state") == "cancelled"
                    and not alive(pid_b), 10)
    R.check(ok, "the cancelled run's warm worker is killed and the sweep cancelled",
            "cancelled, worker gone", ((d.sweep(b) or {}).get("state"), alive(pid_b)))
    R.eq([x["state"] for x in runs_of(db, f"sweep_id = {b}")], ["cancelled"],
         "its run ends cancelled")

    # kill -9 of a warm worker in the middle of a run: only that run fails, and is retried
    c = d.submit(make_spec("before", [1], [1.0], [0.01], 30), "short sweep")
    d.wait_sweep(c, 30, what="short sweep")
    pid_c = runs_of(db, f"sweep_id = {c}")[0]["worker_pid"]
    e = d.submit(long_spec("kill-warm", 1, 5_000_000), "long sweep to kill")
    run_e = cli_val(db, f"SELECT id FROM runs WHERE sweep_id = {e}")
    on = wait_until(lambda: running_pid(d, run_e), 20)
    pid_e = (d.get(f"/v1/runs/{run_e}").json or {}).get("worker_pid")
    R.check(on and pid_e == pid_c, "the long run is on the short sweep's warm worker", pid_c, pid_e)
    kill_pid(pid_e, signal.SIGKILL)

    def retried():
        j = d.get(f"/v1/runs/{run_e}").json or {}
        return j if (j.get("state") == "running" and j.get("attempts") == 2
                     and j.get("worker_pid") is not None) else None
    j = wait_until(retried, 20) or {}
    R.check(j.get("worker_pid") not in (None, pid_e),
            "the killed worker's run is retried (attempt 2) on a new worker",
            f"running, attempts 2, a PID other than {pid_e}",
            (j.get("state"), j.get("attempts"), j.get("worker_pid")))
    R.eq([(x["state"], x["attempts"]) for x in runs_of(db, f"sweep_id IN ({a}, {c})")],
         [("done", 1)] * 8, "the other sweeps' runs are untouched: done at their first attempt")
    d.req("POST", f"/v1/sweeps/{e}/cancel")
    d.wait_sweep(e, 20, states=("cancelled",), what="killed sweep, cancelled")
    vals, _ = d.metrics()
    R.eq(vals.get("loralpha_attempts_failed_total"), 1.0, "one failed attempt: the killed run's")
    R.eq(d.stop(), 0, "pool daemon exits 0")

    # a worker whose memory grew past worker_max_rss_growth is retired: a
    # tiny task, then one with 16 MiB of data on the same worker
    db = ctx.path("rss.db")
    d = Daemon(ctx, "rss", db, 1, extra=["--worker-max-rss-growth", "4M",
                                         "--worker-idle-timeout", "600"])
    big = dict(WIDE_TASK, n_train=32768, n_eval=256)
    pid = []
    for name, task in (("small", None), ("big", big), ("after", None)):
        sid = d.submit(make_spec(name, [1], [1.0], [0.01], 5, task=task), f"{name} sweep")
        d.wait_sweep(sid, 30, what=f"{name} sweep")
        pid.append(runs_of(db, f"sweep_id = {sid}")[0]["worker_pid"])
    R.check(pid[0] == pid[1] and pid[2] != pid[1],
            "worker_max_rss_growth 4M: the worker that loaded 16 MiB more is retired after "
            "that run, the next sweep gets a new one", "small = big != after", pid)
    R.check(wait_until(lambda: not alive(pid[1]), 10), "the retired worker exited",
            "not alive", pid[1])
    R.eq(d.stop(), 0, "rss daemon exits 0")


def case_warm_owners(ctx):
    """Two owners never share a warm worker; idle workers exit after
    worker_idle_timeout."""
    tokens = ctx.path("warm-tokens")
    tok = {"alice": "a" * 40, "bob": "b" * 40}
    with open(tokens, "w") as f:
        f.write("".join(f"{u} {t}\n" for u, t in tok.items()))
    os.chmod(tokens, 0o600)
    db = ctx.path("owners.db")
    d = Daemon(ctx, "owners", db, 2, extra=["--tokens-file", tokens, "--worker-idle-timeout", "2"])
    sids = {}
    for u in ("alice", "bob"):
        r = d.req("POST", "/v1/sweeps", make_spec(f"of-{u}", [1, 2], [1.0, 4.0], [0.01], 40,
                                                  seeds=2),
                  headers={"Authorization": f"Bearer {tok[u]}"})
        R.eq(r.status, 201, f"{u}'s sweep accepted")
        sids[u] = (r.json or {}).get("id")
    for u, sid in sids.items():
        d.wait_sweep(sid, 60, what=f"{u}'s sweep")
    pids = {u: [x["worker_pid"] for x in runs_of(db, f"sweep_id = {sid}")]
            for u, sid in sids.items()}
    R.check(not set(pids["alice"]) & set(pids["bob"]),
            "no worker process trained runs of both owners", "disjoint PID sets", pids)
    R.check(len(set(pids["alice"])) + len(set(pids["bob"])) < 16,
            "warm workers were reused (fewer processes than the 16 runs)", "< 16",
            {u: len(set(v)) for u, v in pids.items()})
    every = set(pids["alice"]) | set(pids["bob"])
    gone = wait_until(lambda: not any(alive(p) for p in every), scaled(15))
    R.check(gone, "idle workers exit after worker_idle_timeout 2 s", "none alive",
            [p for p in every if alive(p)])
    R.eq(d.stop(), 0, "owners daemon exits 0")

# ---- case 18: packs ---------------------------------------------------------------------

def case_packs(ctx):
    """Packs (docs/daemon.md "Packs"): at most pack_max runs of one rank and
    seed in one worker, and no more than max_parallel leaves room for; a pack
    killed with SIGKILL fails each of its runs' attempt and each is retried
    alone; a cancel stops a pack's process and every run of it."""
    db = ctx.path("packs.db")
    d = Daemon(ctx, "packs", db, 1, extra=["--worker-mode", "process", "--pack-max", "3"])
    quiet = {"log_every": 500, "eval_every": 100000, "spectra_every": 0, "sharpness": False}

    def long_pack(name, **top):
        return make_spec(name, [4], [1.0, 2.0, 4.0, 8.0], [0.001], 5_000_000, task=WIDE_TASK,
                         batch=64, metrics=quiet, **top)

    def running(sid, n):
        rows = runs_of(d.db, f"sweep_id = {sid} AND state = 'running' AND worker_pid IS NOT NULL")
        return rows if len(rows) == n else None

    sid = d.submit(long_pack("killed pack"), "sweep of 4 runs")
    rows = wait_until(lambda: running(sid, 3), 30, 0.02) or []
    pids = {r["worker_pid"] for r in rows}
    R.check(len(rows) == 3 and len(pids) == 1 and d.children() == list(pids),
            "pack_max 3: 3 of the sweep's 4 runs train together in one worker process",
            "3 running runs, one PID, the daemon's only child", (rows, d.children()))
    R.eq((d.sweep(sid) or {}).get("counts", {}).get("queued"), 1, "the 4th run waits in the queue")
    packed = [r["id"] for r in rows]
    for p in pids:
        kill_pid(p, signal.SIGKILL)
    # the pack's runs end one by one: wait for the retry itself (attempt 2)
    again = wait_until(lambda: [r for r in running(sid, 1) or [] if r["attempts"] == 2],
                       30, 0.02) or []
    after = {r["id"]: r for r in runs_of(d.db, f"sweep_id = {sid}")}
    R.check(len(again) == 1 and again[0]["id"] == packed[0] and again[0]["attempts"] == 2
            and again[0]["worker_pid"] not in pids,
            "the killed pack's first run is retried alone (attempt 2, a new process)",
            f"run {packed[0]} alone, attempts 2", again)
    R.check(all(after[i]["state"] == "queued" and after[i]["attempts"] == 1
                and "killed by signal 9 (a pack of 3 runs)" in (after[i]["error"] or "")
                for i in packed[1:]),
            "its other runs wait for their own retry, the error naming the signal and the pack",
            "queued, attempts 1, 'worker killed by signal 9 (a pack of 3 runs)'",
            [after[i] for i in packed[1:]])
    d.req("POST", f"/v1/sweeps/{sid}/cancel")
    wait_until(lambda: not d.children(), 30)

    # max_parallel 2 leaves room for packs of 2 only
    sid = d.submit(make_spec("max_parallel", [2], [1.0, 2.0, 4.0, 8.0], [0.01], 200,
                             max_parallel=2), "max_parallel 2 sweep")
    d.wait_sweep(sid, 60, what="max_parallel 2 sweep")
    sizes = cli(d.db, f"SELECT worker_pid, COUNT(*) AS n, MIN(state) AS state FROM runs "
                      f"WHERE sweep_id = {sid} GROUP BY worker_pid ORDER BY MIN(id)")
    R.check([(g["n"], g["state"]) for g in sizes] == [(2, "done"), (2, "done")],
            "max_parallel 2: the 4 runs trained as 2 packs of 2, all done", "[2, 2] done", sizes)

    # a cancel stops a pack: its process ends, its runs are cancelled
    sid = d.submit(long_pack("cancelled pack"), "sweep to cancel")
    rows = wait_until(lambda: running(sid, 3), 30, 0.02) or []
    pid = rows[0]["worker_pid"] if rows else None
    r = d.req("POST", f"/v1/sweeps/{sid}/cancel")
    R.eq(r.status, 200, "cancel of a sweep whose pack is running: 200")
    ended = wait_until(lambda: pid and not alive(pid) and (d.sweep(sid) or {}).get(
        "counts", {}).get("cancelled") == 4, 30)
    R.check(ended, "the pack's process is gone and all 4 runs are cancelled",
            "4 cancelled, pid gone", ((d.sweep(sid) or {}).get("counts"), pid, pid and alive(pid)))
    vals, _ = d.metrics()
    R.eq((vals.get("loralpha_packs_total"), vals.get("loralpha_packed_runs_total")),
         (4.0, 10.0), "/metrics: 4 packs (3, 2, 2 and 3 runs) of 10 runs in all; the retried "
         "run trained alone")
    R.eq(d.stop(), 0, "packs daemon exits 0")


CASES = [
    ("1/2/10 sweep, concurrency, metrics", case_sweep),
    ("3 priority", case_priority),
    ("4 cancel", case_cancel),
    ("5 crash recovery", case_crash),
    ("6 worker killed", case_worker_killed),
    ("7 failing worker", case_failing_worker),
    ("8 SIGTERM drain", case_drain),
    ("9 bad requests", case_bad_requests),
    ("11 failing fast", case_fail_fast),
    ("12 relative paths", case_relative_paths),
    ("13 schema 7 migrated", case_migration),
    ("14 checks take turns", case_check_turns),
    ("15 warm and process mode store the same numbers", case_warm_same_numbers),
    ("16 warm worker pool: recycle, cancel, kill -9", case_warm_pool),
    ("17 warm workers per owner, idle timeout", case_warm_owners),
    ("18 packs: limits, a killed pack, cancel", case_packs),
]


def main():
    if not os.access(SQLITE3, os.X_OK):
        print(f"test_daemon.py: {SQLITE3} not found", file=sys.stderr)
        return 2
    return cases_main(__doc__, CASES)

if __name__ == "__main__":
    sys.exit(main())
