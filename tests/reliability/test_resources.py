#!/usr/bin/python3
"""One client must not stall the daemon or exhaust its memory.

    test_resources.py --loralpha PATH --worker PATH [--no-rss] [--keep]

  1. A run with a million curve rows (inserted with sqlite3 into the
     daemon's real database): while GET /v1/runs/{id} is held at the
     `run_read` test point (on the thread pool), /v1/health answers and the
     read is still in progress; the read then answers. The same for the
     sweep's report at the `report` test point.
  2. points=N returns at most N points per curve, with the first and the
     last; the full curve comes in pages (after/next) of at most 10000 rows;
     the curves route pages its runs; the daemon's peak RSS stays within
     100 MiB of where it started (plain build: --no-rss skips it).
  3. max_run_memory: a spec whose runs need more is 422 naming the field
     that drives the estimate; one within is 201.
  4. A worker that outgrows its memory cap (an npy task, whose data size
     the daemon cannot see at submit) fails alone with a message naming the
     limit; a run beside it finishes.
  5. Too many rows or runs: max_run_rows and max_sweep_rows are 422 naming
     the field; max_queued_runs defaults to max_runs.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as hs
from harness import log, wait_until, write_npy

R = hs.R
TRAIN_ROWS = 1000000
EVAL_ROWS = 100000
NO_RSS = False


def txt(r):
    """A response's body as text."""
    b = r.body
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def mem(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def long_run_db(ctx):
    """A database with one finished run whose curve is TRAIN_ROWS train and
    EVAL_ROWS eval rows; (path, run id)."""
    db = ctx.path("long.db")
    d = hs.Daemon(ctx, "make", db, 1)
    sid = d.submit(hs.make_spec("long", [1], [1.0], [0.001], 2,
                                metrics={"eval_every": 0, "spectra_every": 0,
                                         "sharpness": False}))
    d.wait_sweep(sid, 120)
    run_id = d.get(f"/v1/sweeps/{sid}/runs").json["runs"][0]["id"]
    R.eq(d.stop(), 0, "the first daemon exits 0")
    con = sqlite3.connect(db)
    con.execute("DELETE FROM curve WHERE run_id = ?", (run_id,))
    con.executemany(
        "INSERT INTO curve (run_id, kind, step, loss, lr, grad_norm_a, grad_norm_b, "
        "update_norm) VALUES (?, 'train', ?, ?, 0.001, 0.5, 0.25, 0.01)",
        ((run_id, i, 1.0 / (1 + i * 1e-4) + (3.0 if i == 500001 else 0.0))
         for i in range(1, TRAIN_ROWS + 1)))
    con.executemany(
        "INSERT INTO curve (run_id, kind, step, loss) VALUES (?, 'eval', ?, ?)",
        ((run_id, i * 10, 1.0 / (1 + i * 1e-3)) for i in range(EVAL_ROWS)))
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return db, run_id


def case_read_off_loop(ctx, db, run_id):
    """The read held at the test point; health answers meanwhile."""
    os.environ["LA_TEST_PAUSE"] = "run_read,report"
    os.environ["LA_TEST_PAUSE_MS"] = "20000"
    try:
        d = hs.Daemon(ctx, "paused", db, 1)
    finally:
        del os.environ["LA_TEST_PAUSE"], os.environ["LA_TEST_PAUSE_MS"]
    out = {}

    def read():
        out["r"] = d.req("GET", f"/v1/runs/{run_id}", timeout=300)

    th = threading.Thread(target=read)
    th.start()
    held = wait_until(lambda: "testpoint run_read" in d.log_tail(100000), 60)
    R.check(held, "the read reaches the run_read test point (on the pool)",
            "testpoint run_read in the log", d.log_tail())
    h = d.req("GET", "/v1/health", timeout=60)
    in_progress = th.is_alive()
    R.eq(h.status, 200, "/v1/health answers while the read is held")
    R.check(in_progress, "the read was still in progress when health answered",
            "read pending", out.get("r"))
    th.join(300)
    r = out.get("r")
    R.check(r is not None and r.status == 200 and r.json["id"] == run_id,
            "the held read then answers 200 with the run", 200, r and r.status)

    def report():
        out["report"] = d.req("GET", "/v1/sweeps/1/report?format=md", timeout=300)

    th = threading.Thread(target=report)
    th.start()
    held = wait_until(lambda: "testpoint report" in d.log_tail(100000), 60)
    R.check(held, "the report reaches the report test point (on the pool)",
            "testpoint report in the log", d.log_tail())
    h = d.req("GET", "/v1/health", timeout=60)
    in_progress = th.is_alive()
    R.eq(h.status, 200, "/v1/health answers while the report is held")
    R.check(in_progress, "the report was still in progress when health answered",
            "report pending", out.get("report"))
    th.join(300)
    r = out.get("report")
    R.check(r is not None and r.status == 200 and b"long" in r.body,
            "the held report then answers 200", 200, r and (r.status, r.body[:200]))
    R.eq(d.stop(), 0, "paused daemon exits 0")


def case_bounded(ctx, db, run_id):
    d = hs.Daemon(ctx, "reads", db, 1)
    rss0 = mem(d.proc.pid, "VmRSS")
    for n in (2, 3, 10, 500):
        r = d.req("GET", f"/v1/runs/{run_id}?points={n}", timeout=300)
        R.eq(r.status, 200, f"points={n}: 200")
        tr, ev = r.json["curve"]["train"], r.json["curve"]["eval"]
        R.check(len(tr["step"]) <= n and len(ev["step"]) <= n,
                f"points={n}: at most {n} points per curve", n,
                (len(tr["step"]), len(ev["step"])))
        R.check(all(len(tr[k]) == len(tr["step"]) for k in tr),
                f"points={n}: every train column as long as step", len(tr["step"]),
                {k: len(v) for k, v in tr.items()})
        R.eq((tr["step"][0], tr["step"][-1]), (1, TRAIN_ROWS),
             f"points={n}: train keeps the first and the last step")
        R.eq((ev["step"][0], ev["step"][-1]), (0, (EVAL_ROWS - 1) * 10),
             f"points={n}: eval keeps the first and the last step")
        R.check(tr["step"] == sorted(set(tr["step"])), f"points={n}: steps ascend",
                "ascending", tr["step"][:20])
        if n >= 10:
            R.check(500001 in tr["step"], f"points={n}: the spike is kept",
                    500001, tr["step"])
    first = d.req("GET", f"/v1/runs/{run_id}", timeout=300)
    R.eq(first.status, 200, "the full read's first page: 200")
    tr = first.json["curve"]["train"]["step"]
    R.check(0 < len(tr) <= 10000 and first.json.get("next") == tr[-1],
            "a page holds at most 10000 rows and next is its last step",
            "<= 10000, next = last", (len(tr), first.json.get("next"), tr[-1:]))
    second = d.req("GET", f"/v1/runs/{run_id}?after={first.json['next']}", timeout=300)
    R.check(second.status == 200 and
            second.json["curve"]["train"]["step"][0] == tr[-1] + 1,
            "?after=next continues with the next step", tr[-1] + 1,
            second.status == 200 and second.json["curve"]["train"]["step"][:1])
    r = d.req("GET", f"/v1/runs/{run_id}?after=x", timeout=60)
    R.eq(r.status, 400, "after=x: 400")
    r = d.req("GET", f"/v1/sweeps/1/curves?kind=train&points=200", timeout=300)
    R.check(r.status == 200 and len(r.json["runs"][0]["step"]) <= 200 and
            "next" in r.json, "curves route: at most 200 points, with next",
            "200 <= 200", r.status == 200 and len(r.json["runs"][0]["step"]))
    peak = mem(d.proc.pid, "VmHWM")
    if not NO_RSS:
        R.check(peak - rss0 < 100, "the daemon's peak RSS stays within 100 MiB of "
                "its start", f"< {rss0 + 100:.0f} MiB", f"{peak:.0f} MiB")
    log(f"RSS at start {rss0:.1f} MiB, peak {peak:.1f} MiB")
    R.eq(d.stop(), 0, "reads daemon exits 0")


def case_memory(ctx):
    d = hs.Daemon(ctx, "memory", ctx.path("mem.db"), 1,
                  extra=["--max-run-memory", "64M"])
    big = hs.make_spec("big", [4, 8], [1.0], [0.001], 2,
                       task={"task": "teacher", "d_in": 4096, "d_out": 4096,
                             "n_train": 256, "n_eval": 64})
    r = d.req("POST", "/v1/sweeps", big)
    R.check(r.status == 422 and "task.d_in" in txt(r) and "max_run_memory" in txt(r),
            "a spec over max_run_memory is 422 naming task.d_in and the limit",
            "422 task.d_in ... max_run_memory", (r.status, txt(r)))
    data = dict(hs.TINY_TASK, n_train=2000000)
    r = d.req("POST", "/v1/sweeps", hs.make_spec("data", [1], [1.0], [0.001], 2, task=data))
    R.check(r.status == 422 and "task.n_train" in txt(r),
            "a spec whose data passes max_run_memory names task.n_train",
            "422 task.n_train", (r.status, txt(r)))
    sid = d.submit(hs.make_spec("small", [1, 2], [1.0], [0.001], 5), "a spec within")
    d.wait_sweep(sid, 120)
    R.eq(d.stop(), 0, "memory daemon exits 0")




def case_worker_cap(ctx):
    """The cap is max_run_memory + 2 x 128 MiB + 64 MiB with one thread: 384
    MiB at 64M; the data needs 512 MiB."""
    x, y, w0 = ctx.path("x.npy"), ctx.path("y.npy"), ctx.path("w0.npy")
    write_npy(x, (2000000, 64))
    write_npy(y, (2000000, 4))
    write_npy(w0, (4, 64))
    task = {"task": "npy", "npy": {"x": x, "y": y, "w0": [w0]}}
    big_spec = hs.make_spec("npy-big", [1], [1.0], [0.001], 2, task=task, max_attempts=1)
    # the worker's check at submit runs under the same cap: refused there
    d = hs.Daemon(ctx, "cap-checked", ctx.path("cap-checked.db"), 2,
                  extra=["--max-run-memory", "64M", "--threads-per-worker", "1"])
    r = d.req("POST", "/v1/sweeps", big_spec)
    R.check(r.status == 422 and "check_failed" in txt(r) and "memory limit of 384 MiB" in txt(r),
            "the npy spec is refused at submit: its check hit the same memory limit",
            "422 check_failed ... memory limit of 384 MiB ...", (r.status, txt(r)))
    R.eq(d.stop(), 0, "checked cap daemon exits 0")
    # unchecked (check_timeout 0), its run meets the cap
    d = hs.Daemon(ctx, "cap", ctx.path("cap.db"), 2,
                  extra=["--max-run-memory", "64M", "--threads-per-worker", "1",
                         "--check-timeout", "0"])
    big = d.submit(big_spec, "npy spec")
    small = d.submit(hs.make_spec("beside", [1], [1.0], [0.001], 20), "small spec")
    s = d.wait_sweep(big, 300, states=("failed",))
    runs = d.get(f"/v1/sweeps/{big}/runs").json["runs"]
    R.check(runs[0]["state"] == "failed" and "memory limit" in (runs[0]["error"] or ""),
            "the npy run fails with a message naming its memory limit",
            "failed: ... memory limit ...", (runs[0]["state"], runs[0]["error"]))
    s = d.wait_sweep(small, 300)
    R.eq(s["counts"]["done"], 1, "the run beside it finishes")
    R.eq(d.get("/v1/health").status, 200, "the daemon still serves")
    R.eq(d.stop(), 0, "cap daemon exits 0")


def case_rows(ctx):
    cfg = ctx.path("rows.json")
    with open(cfg, "w") as f:
        json.dump({"max_sweep_rows": 2000}, f)
    d = hs.Daemon(ctx, "rows", ctx.path("rows.db"), 1, extra=["--config", cfg])
    spec = hs.make_spec("many", [1, 2, 4, 8], [0.5, 1.0, 2.0], [0.001], 300,
                        metrics={"log_every": 1, "eval_every": 0, "spectra_every": 0,
                                 "sharpness": False})
    r = d.req("POST", "/v1/sweeps", spec)
    R.check(r.status == 422 and "metrics.log_every" in txt(r) and
            "max_sweep_rows" in txt(r),
            "12 runs x 302 rows over max_sweep_rows 2000: 422 naming metrics.log_every",
            "422 metrics.log_every max_sweep_rows", (r.status, txt(r)))
    long = hs.make_spec("long", [1], [1.0], [0.001], 5000000,
                        metrics={"log_every": 1, "eval_every": 0, "spectra_every": 0,
                                 "sharpness": False})
    r = d.req("POST", "/v1/sweeps", long)
    R.check(r.status == 422 and "max_run_rows" in txt(r),
            "5,000,000 logged steps over max_run_rows: 422", "422 max_run_rows",
            (r.status, txt(r)))
    R.eq(d.stop(), 0, "rows daemon exits 0")
    out = subprocess.run([ctx.loralpha, "serve", "--check-config", "--max-runs", "5000",
                          *hs.state_args(ctx.tmp, "check")],
                         capture_output=True, text=True, timeout=60)
    eff = json.loads(out.stdout) if out.returncode == 0 else {}
    R.eq(eff.get("user_limits", {}).get("default", {}).get("max_queued_runs"), 5000,
         "max_queued_runs defaults to max_runs")
    R.check(eff.get("max_run_memory", 0) > 0, "max_run_memory has a default",
            "> 0", eff.get("max_run_memory"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--only", help="comma-separated case names")
    args = ap.parse_args()
    global NO_RSS
    NO_RSS = args.no_rss
    ctx = hs.Ctx(args)
    t0 = time.monotonic()
    try:
        state = {}

        def reads(fn):
            if "db" not in state:
                state["db"] = long_run_db(ctx)
            fn(ctx, *state["db"])

        cases = (("read off the loop", lambda: reads(case_read_off_loop)),
                 ("bounded reads", lambda: reads(case_bounded)),
                 ("max_run_memory", lambda: case_memory(ctx)),
                 ("worker cap", lambda: case_worker_cap(ctx)),
                 ("rows", lambda: case_rows(ctx)))
        for name, fn in cases:
            if args.only and name not in args.only.split(","):
                continue
            R.case = name
            log(f"case {name}")
            try:
                fn()
            except Exception as e:
                R.check(False, "case ran to the end", "no exception",
                        f"{e!r}\n{traceback.format_exc()}")
        R.case = ""
    finally:
        ctx.cleanup(args.keep)
    log(f"total {time.monotonic() - t0:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
