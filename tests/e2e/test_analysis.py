#!/usr/bin/python3
"""test_analysis.py: the analysis over real HTTP against a real daemon and
its SQLite file: computed by itself when a sweep finishes (no request),
stored in the fits / alpha_star / regret tables the sqlite3 CLI reads,
served by GET /v1/sweeps/{id}/analysis consistently with those tables, and
turned into recommendations by GET /v1/sweeps/{id}/recommend.

    test_analysis.py --loralpha PATH --worker PATH
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Ctx, Daemon, R, cli, wait_until
from harness import request as http_request

check = R.check


def request(port, method, path, body=None):
    """(status, JSON or the raw body) of one request."""
    r = http_request(port, method, path, body, timeout=60)
    return r.status, r.json if r.json is not None else r.body


SPEC = {
    "name": "analysis-e2e",
    "task": {"task": "teacher", "d_in": 32, "d_out": 32, "n_train": 512, "n_eval": 128,
             "target_rank": 8, "target_scale": 2.0, "noise": 0.01},
    "grid": {"rank": [2, 4, 8], "alpha": {"log2": [0, 10], "num": 11}, "lr": [0.003]},
    "seeds": 2, "steps": 120, "batch": 32,
    "metrics": {"log_every": 10, "eval_every": 10, "spectra_every": 60, "sharpness": False},
}


def close(a, b, rel=1e-9):
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def case_background_and_tables(port, db):
    st, ans = request(port, "POST", "/v1/sweeps", SPEC)
    check(st == 201, "sweep accepted", 201, (st, ans))
    sid = ans["id"]
    done = wait_until(lambda: request(port, "GET", f"/v1/sweeps/{sid}")[1].get("state") == "done", 120)
    check(done, "sweep finishes", "done", request(port, "GET", f"/v1/sweeps/{sid}")[1])
    # analysed by itself, without a request
    rows = wait_until(lambda: cli(db, f"SELECT * FROM fits WHERE sweep_id = {sid}"), 30)
    check(rows and len(rows) == 6, "fits stored after the sweep finished (3 budgets x 2 methods)",
          6, rows and len(rows))
    stars = cli(db, f"SELECT * FROM alpha_star WHERE sweep_id = {sid} AND fraction = 1 ORDER BY rank")
    check([s["rank"] for s in stars] == [2, 4, 8], "alpha_star has every rank", [2, 4, 8],
          [s["rank"] for s in stars])
    for s in stars:
        check(1 <= s["alpha_grid"] <= 1024 and s["alpha"] > 0, f"alpha* of rank {s['rank']} in the grid",
              "1..1024", s)
        if s["ci_lo"] is not None:
            check(s["ci_lo"] <= s["alpha"] * (1 + 1e-9) and s["alpha"] <= s["ci_hi"] * (1 + 1e-9),
                  f"rank {s['rank']}: refined alpha* inside its interval", "ci_lo <= alpha <= ci_hi", s)
    reg = cli(db, f"SELECT * FROM heuristic_regret WHERE sweep_id = {sid}")
    check(len(reg) == 9 and {r["rule"] for r in reg} == {"alpha=r", "alpha=2r", "rslora16"},
          "regret of three rules at three ranks", 9, len(reg))
    for r in reg:
        if r["regret"] is not None:
            check(r["regret"] >= -1e-12, f"regret never negative ({r['rank']}, {r['rule']})", ">= 0", r)
    # the best alpha of the analysis agrees with the best_alpha view
    best = {b["rank"]: b["best_alpha"] for b in cli(
        db, f"SELECT rank, best_alpha FROM best_alpha WHERE sweep_id = {sid}")}
    for s in stars:
        check(close(best.get(s["rank"]), s["alpha_grid"]),
              f"rank {s['rank']}: grid alpha* equals the best_alpha view", best.get(s["rank"]),
              s["alpha_grid"])
    return sid


def case_api_matches_tables(port, db, sid):
    st, an = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st == 200 and len(an.get("checkpoints", [])) == 3, "GET analysis: 3 budget checkpoints",
          3, (st, an if st != 200 else len(an["checkpoints"])))
    steps = [c["step"] for c in an["checkpoints"]]
    check(steps == [30, 60, 120], "checkpoint steps at 25/50/100% of 120", [30, 60, 120], steps)
    full = an["checkpoints"][-1]
    table = {(f["method"]): f for f in cli(db, f"SELECT * FROM law_fits WHERE sweep_id = {sid}")}
    for f in full["fits"]:
        t = table.get(f["method"], {})
        for k in ("c", "c_lo", "c_hi", "p", "r2"):
            if f.get(k) is not None:
                check(close(f[k], t.get(k), 1e-9), f"fit {f['method']} {k}: API equals law_fits",
                      t.get(k), f[k])
    check(an.get("drift") and all("drift_ratio" in d for d in an["drift"]),
          "drift table present", "rows with drift_ratio", an.get("drift", [])[:1])
    first = an["computed_at"]
    st2, again = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st2 == 200 and again["computed_at"] == first, "a fresh analysis is reused", first,
          again.get("computed_at"))
    time.sleep(0.05)
    st3, redo = request(port, "GET", f"/v1/sweeps/{sid}/analysis?refresh=1")
    check(st3 == 200 and redo["computed_at"] > first, "refresh=1 recomputes", f"> {first}",
          redo.get("computed_at"))
    same = all(a.keys() == b.keys() and all(
        close(a[k], b[k], 1e-11) if isinstance(a[k], float) else a[k] == b[k] for k in a)
        for a, b in zip(full["fits"], redo["checkpoints"][-1]["fits"]))
    check(same and len(full["fits"]) == len(redo["checkpoints"][-1]["fits"]),
          "recomputing gives the same fits (seeded bootstrap)", full["fits"],
          redo["checkpoints"][-1]["fits"])
    return full


def case_recommend(port, sid, full):
    sq = [f for f in full["fits"] if f["method"] == "sqrt"][0]
    st, r = request(port, "GET", f"/v1/sweeps/{sid}/recommend?rank=16")
    check(st == 200, "recommend rank 16", 200, (st, r))
    if st != 200:
        return
    check(close(r["alpha"], sq["c"] * 4.0, 1e-9), "alpha = c * sqrt(16)", sq["c"] * 4, r["alpha"])
    check(close(r["alpha_lo"], sq["c_lo"] * 4.0, 1e-9) and close(r["alpha_hi"], sq["c_hi"] * 4.0, 1e-9),
          "interval = [c_lo, c_hi] * sqrt(16)", (sq["c_lo"] * 4, sq["c_hi"] * 4),
          (r["alpha_lo"], r["alpha_hi"]))
    check(r["extrapolated"] is True and r["tested_ranks"] == [2, 4, 8], "rank 16 is extrapolated",
          True, r)
    st, r4 = request(port, "GET", f"/v1/sweeps/{sid}/recommend?rank=4&lr=0.003")
    check(st == 200 and r4["extrapolated"] is False, "rank 4 at lr 0.003 is not extrapolated", False, r4)
    for q, code in (("rank=0", 400), ("rank=x", 400), ("", 400), ("rank=4&lr=-1", 400),
                    ("rank=4&lr=0.5", 404)):
        st, e = request(port, "GET", f"/v1/sweeps/{sid}/recommend?{q}")
        check(st == code and "error" in e, f"recommend?{q} -> {code}", code, (st, e))
    st, e = request(port, "GET", "/v1/sweeps/999/recommend?rank=4")
    check(st == 404, "recommend of an unknown sweep -> 404", 404, (st, e))
    st, e = request(port, "GET", "/v1/sweeps/999/analysis")
    check(st == 404, "analysis of an unknown sweep -> 404", 404, (st, e))
    st, e = request(port, "POST", f"/v1/sweeps/{sid}/analysis")
    check(st == 405, "POST analysis -> 405", 405, (st, e))


def case_nothing_finished(ctx):
    sleeper = os.path.join(ctx.tmp, "sleeper.sh")
    with open(sleeper, "w") as f:
        f.write("#!/bin/sh\nexec sleep 60\n")
    os.chmod(sleeper, 0o755)
    d = Daemon(ctx, "idle", workers=1, worker=sleeper, extra=["--check-timeout", "0"])
    st, ans = request(d.port, "POST", "/v1/sweeps", SPEC)
    st, e = request(d.port, "GET", f"/v1/sweeps/{ans['id']}/analysis")
    check(st == 404 and "no finished runs" in e["error"]["message"],
          "analysis before any run finished -> 404 saying why", 404, (st, e))
    d.stop(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    args = ap.parse_args()
    ctx = Ctx(args)
    try:
        d = Daemon(ctx, "analysis")
        try:
            sid = case_background_and_tables(d.port, d.db)
            full = case_api_matches_tables(d.port, d.db, sid)
            case_recommend(d.port, sid, full)
        finally:
            check(d.stop(20) == 0, "daemon drains and exits 0 on SIGTERM", 0, d.proc.returncode)
        case_nothing_finished(ctx)
    finally:
        ctx.cleanup(keep=False)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
