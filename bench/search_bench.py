#!/usr/bin/python3
"""search_bench.py: the bracket search along alpha against the full grid,
on the same task, ranks, lrs, seeds and steps, in the same run.

    nice -n 10 /usr/bin/python3 bench/search_bench.py [--build DIR]
        [--tasks teacher,mlp,gpt] [--workers 2] [--tolerance 0.5]
        [--strategy bracket|law|halving] [--law-ranks 3] [--eta 3]
        [--rungs 0.037,0.111,0.333] [--tmp DIR] [--keep]

For each task, one daemon (127.0.0.1, port 0, fresh database; stopped by
its PID, bench/daemon_bench.py's Daemon) runs the grid sweep: alpha over
2^0 .. 2^14 in half octaves (29 values); another runs the bracket sweep:
the grid's alphas every four octaves (2^0, 2^4, 2^8, 2^12) and
"search": {"strategy": "bracket", "tolerance": T, "alpha_min": 1,
"alpha_max": 2^14} (the grid's own range, so both look at the same
alphas); with --strategy law, "law" with "law_ranks": K instead (the
smallest K ranks bracketed, the others started from the law); with
--strategy halving, the grid's own sweep (all 29 alphas) with "search":
{"strategy": "halving", "eta": E, "rungs": [...]}: successive halving over
each rank's (alpha, lr) cells, its alpha* per cell the best alpha at the
deepest step that lr's cells reached (GET /search's halving.found; the end
when a cell of that lr went to the end). Printed per task, from the two
databases and the two analyses:

  - runs, run-steps (sum of steps_done, and of every earlier stint of a
    halving run: its replays count) and CPU-seconds (sum of the runs'
    wall_s over their stints: one thread each), and the search's share of
    the grid's;
  - per cell (rank, lr): alpha* of each (the alpha with the lowest mean
    final eval loss over seeds among those it ran), and how many cells
    agree within one grid step (half an octave);
  - the law alpha* = c r^p per lr at the full budget from each analysis,
    and whether the bracket's c and p fall inside the grid's intervals.

Goal (issue 16): at most 25% of the grid's run-steps, alpha* within one grid
step on at least 90% of cells, c and p inside the grid's intervals.

Tasks: teacher (d 128, target rank 16, ranks 1..32, lr 1e-4 and 1e-3,
2 seeds, 300 steps), mlp (widths 64-128-128-32, GELU, target rank 8, ranks
1..16, lr 1e-3, 2 seeds, 400 steps), gpt (a GPT-2-initialised base of
examples/gpt/make_base.py, width 32, 2 blocks, on the MPL 2.0, ranks 1..8,
lr 3e-3, 2 seeds, 60 steps).
"""
import argparse
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import daemon_bench as dbn  # noqa: E402

METRICS = {"log_every": 25, "eval_every": 50, "spectra_every": 0, "sharpness": False}


def tasks(tmp):
    """name -> (task, ranks, lrs, steps, batch)."""
    return {
        "teacher": ({"task": "teacher", "d_in": 128, "d_out": 128, "target_rank": 16,
                     "target_scale": 2.0},
                    [1, 2, 4, 8, 16, 32], [0.0001, 0.001], 300, 64),
        "mlp": ({"task": "mlp", "widths": [64, 128, 128, 32], "activation": "gelu",
                 "n_train": 4096, "n_eval": 1024, "target_rank": 8, "target_scale": 1.0},
                [1, 2, 4, 8, 16], [0.001], 400, 64),
        "gpt": (None, [1, 2, 4, 8], [0.003], 60, 8),
    }


def gpt_task(args, tmp):
    base = os.path.join(tmp, "gpt-base.safetensors")
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "examples", "gpt",
                                                     "make_base.py"), base,
                    "--width", "32", "--blocks", "2", "--positions", "64"],
                   check=True, stdout=subprocess.DEVNULL)
    return {"task": "gpt", "gpt": {"base": base,
                                   "text": "/usr/share/common-licenses/MPL-2.0"},
            "n_head": 2, "context": 32, "n_eval": 16,
            "target_modules": ["c_attn", "c_proj"]}


def spec(name, task, ranks, lrs, steps, batch, alpha, search=None):
    s = {"name": name, "task": task, "grid": {"rank": ranks, "alpha": alpha, "lr": lrs},
         "seeds": 2, "seed": 3, "steps": steps, "batch": batch, "metrics": METRICS}
    if search:
        s["search"] = search
    return s


def run_sweep(args, tmp, tag, body):
    """Runs body to its end in a fresh daemon: (rows of runs, analysis, wall s,
    the search answer)."""
    d = dbn.Daemon(args, tmp, tag, args.workers, max_runs=100000, extra=["--nice", "0"])
    try:
        t0 = time.time()
        sid = dbn.submit_and_wait(d, body, poll=0.1)
        wall = time.time() - t0
        st, an = d.request("GET", "/v1/sweeps/%d/analysis" % sid)
        st, se = d.request("GET", "/v1/sweeps/%d/search" % sid)
    finally:
        d.stop()
    db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    try:
        rows = db.execute("SELECT rank, lr, alpha, state, final_eval_loss, "
                          "steps_done + earlier_steps, wall_s + earlier_wall_s "
                          "FROM runs").fetchall()
    finally:
        db.close()
    return rows, an, wall, se


def cell_best(rows):
    """(rank, lr) -> the alpha with the lowest mean final eval loss."""
    pts = {}
    for rank, lr, alpha, state, loss, _, _ in rows:
        v = loss if state == "done" and loss is not None else math.inf
        pts.setdefault((rank, lr), {}).setdefault(alpha, []).append(v)
    return {c: min(a, key=lambda x: (sum(a[x]) / len(a[x]), x)) for c, a in pts.items()}


def law(an):
    """lr -> (c, c_lo, c_hi, p, p_lo, p_hi) of the free law at the full budget."""
    out = {}
    full = ((an or {}).get("checkpoints") or [{}])[-1]
    for f in full.get("fits", []):
        if f.get("method") == "free":
            out[f["lr"]] = tuple(f.get(k) for k in ("c", "c_lo", "c_hi", "p", "p_lo", "p_hi"))
    return out


def law_of_found(best):
    """lr -> (c, p) of alpha* = c r^p through a search's alpha* per cell
    (least squares in log2 r, log2 alpha), for a halving search whose
    analysis has too few runs at the end to fit: None where fewer than two
    ranks."""
    out = {}
    for lr in sorted({lr for _, lr in best}):
        pts = [(math.log2(r), math.log2(a)) for (r, l), a in best.items() if l == lr and a]
        if len(pts) < 2 or len({x for x, _ in pts}) < 2:
            continue
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        p = (sum((x - mx) * (y - my) for x, y in pts) /
             sum((x - mx) ** 2 for x, _ in pts))
        out[lr] = (2.0 ** (my - p * mx), None, None, p, None, None)
    return out


def inside(v, lo, hi):
    return v is not None and lo is not None and hi is not None and lo <= v <= hi


def fmt(v, f="%.3g"):
    return "-" if v is None else f % v


def bench_task(args, tmp, name, rows_out):
    task, ranks, lrs, steps, batch = tasks(tmp)[name]
    if task is None:
        task = gpt_task(args, tmp)
    grid = spec("grid-" + name, task, ranks, lrs, steps, batch, {"log2": [0, 14], "num": 29})
    search = {"strategy": args.strategy, "tolerance": args.tolerance, "alpha_min": 1,
              "alpha_max": 2.0 ** 14}
    if args.strategy == "law":
        search["law_ranks"] = args.law_ranks
    brk = spec("bracket-" + name, task, ranks, lrs, steps, batch, {"log2": [0, 12], "num": 4},
               search)
    if args.strategy == "halving":
        search = {"strategy": "halving", "eta": args.eta}
        if args.rungs:
            search["rungs"] = [float(x) for x in args.rungs.split(",")]
        brk = spec("halving-" + name, task, ranks, lrs, steps, batch,
                   {"log2": [0, 14], "num": 29}, search)
    g_rows, g_an, g_wall, _ = run_sweep(args, tmp, "grid-" + name, grid)
    b_rows, b_an, b_wall, b_se = run_sweep(args, tmp, args.strategy + "-" + name, brk)
    g_best, b_best = cell_best(g_rows), cell_best(b_rows)
    if args.strategy == "halving":
        b_best = {(f["rank"], f["lr"]): f["alpha_star"]
                  for f in ((b_se or {}).get("halving") or {}).get("found", [])}
    agree = [c for c in g_best if c in b_best and
             abs(math.log2(b_best[c] / g_best[c])) <= 0.5 + 1e-9]
    g_steps = sum(r[5] or 0 for r in g_rows)
    b_steps = sum(r[5] or 0 for r in b_rows)
    g_cpu = sum(r[6] or 0 for r in g_rows)
    b_cpu = sum(r[6] or 0 for r in b_rows)
    print("\n== %s: %d cells (ranks %s, lrs %s), %d steps, 2 seeds" % (
        name, len(g_best), ranks, lrs, steps))
    print("| sweep | runs | run-steps | CPU s | wall s |")
    print("| --- | --- | --- | --- | --- |")
    print("| grid | %d | %d | %.1f | %.1f |" % (len(g_rows), g_steps, g_cpu, g_wall))
    print("| %s | %d | %d (%.0f%%) | %.1f (%.0f%%) | %.1f |" % (
        args.strategy, len(b_rows), b_steps, 100.0 * b_steps / g_steps, b_cpu, 100.0 * b_cpu / max(g_cpu, 1e-9),
        b_wall))
    print("\n| rank | lr | grid alpha* | %s alpha* | octaves apart | alphas run |" % args.strategy)
    print("| --- | --- | --- | --- | --- | --- |")
    for c in sorted(g_best):
        n_alpha = len({r[2] for r in b_rows if (r[0], r[1]) == c})
        print("| %d | %g | %.4g | %.4g | %+.2f | %d |" % (
            c[0], c[1], g_best[c], b_best.get(c, math.nan),
            math.log2(b_best.get(c, math.nan) / g_best[c]), n_alpha))
    print("\ncells within one grid step (0.5 octave): %d of %d (%.0f%%)" % (
        len(agree), len(g_best), 100.0 * len(agree) / max(len(g_best), 1)))
    gl, bl = law(g_an), law(b_an)
    if args.strategy == "halving":  # too few runs at the end for the analysis
        bl = law_of_found(b_best)
    print("\n| lr | grid c [interval] | %s c | inside | grid p [interval] | %s p | inside |"
          % (args.strategy, args.strategy))
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for lr in sorted(gl):
        g, b = gl[lr], bl.get(lr, (None,) * 6)
        print("| %g | %s [%s, %s] | %s | %s | %s [%s, %s] | %s | %s |" % (
            lr, fmt(g[0]), fmt(g[1]), fmt(g[2]), fmt(b[0]), "yes" if inside(b[0], g[1], g[2])
            else "no", fmt(g[3]), fmt(g[4]), fmt(g[5]), fmt(b[3]),
            "yes" if inside(b[3], g[4], g[5]) else "no"))
    rows_out.append(dict(task=name, steps_share=b_steps / g_steps, cpu_share=b_cpu / g_cpu,
                         agree=len(agree), cells=len(g_best)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--tasks", default="teacher,mlp,gpt")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.5)
    ap.add_argument("--strategy", default="bracket", choices=["bracket", "law", "halving"])
    ap.add_argument("--eta", type=float, default=3.0)
    ap.add_argument("--rungs", default="", help="halving: fractions of steps, comma separated")
    ap.add_argument("--law-ranks", type=int, default=3)
    ap.add_argument("--tmp")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.loralpha = os.path.abspath(os.path.join(args.build, "loralpha"))
    args.worker = os.path.abspath(os.path.join(args.build, "loralpha-worker"))
    tmp = args.tmp or tempfile.mkdtemp(prefix="loralpha-search-bench-")
    signal.signal(signal.SIGTERM, lambda *_: (dbn.stop_all(), sys.exit(1)))
    rows = []
    try:
        for name in args.tasks.split(","):
            bench_task(args, tmp, name, rows)
    finally:
        dbn.stop_all()
        if not args.keep and not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n| task | run-steps vs grid | CPU s vs grid | cells within one grid step |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| %s | %.0f%% | %.0f%% | %d of %d |" % (r["task"], 100 * r["steps_share"],
                                                   100 * r["cpu_share"], r["agree"], r["cells"]))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
