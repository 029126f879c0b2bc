#!/usr/bin/python3
"""sweep_bench.py: sweeps end to end through `loralpha serve`: packs on warm
workers (the default), warm workers without packs and one process per run,
against each other and against one PyTorch process.

    nice -n 10 /usr/bin/python3 bench/sweep_bench.py [--build DIR] [--only study,quick,fixed]
        [--rounds 1] [--workers 2] [--fixed-runs 360] [--torch-threads 1]
        [--tmp DIR] [--json FILE] [--keep]

Builds nothing: BUILD_DIR (default ./build) must hold loralpha and
loralpha-worker; the PyTorch side needs python3-torch (Debian). Every
daemon listens on 127.0.0.1 (port 0) with a fresh database in a temporary
directory and is stopped by its PID (bench/daemon_bench.py's Daemon). The
daemons run their workers with --nice 0, so that workers and the PyTorch
process share the machine at the niceness the script was started with.

  study  the 180-run sqrt(r) study of issue 13 (teacher d=128, target rank
         16, ranks 1..32, alpha 2^0..2^14, lr 1e-4, 2 seeds, 300 steps,
         no sharpness): POST to the sweep's end in each daemon mode (MODES:
         packed, stacked, warm, process) and the same runs in one PyTorch
         process (bench/torch_sweep.py), each round in that order; the
         ratios are of the medians
  quick  examples/sweep-quick.json (195 runs) in each daemon mode
  fixed  the fixed cost of a 1-step run of the same task: a warm worker
         fed the runs directly (loralpha-worker --serve), the one-run
         worker started per run, and the daemon with one worker slot in
         both modes (bench/README.md says exactly what each measures)
"""
import argparse
import json
import os
import platform
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_bench as dbn  # noqa: E402

TASK = {"task": "teacher", "d_in": 128, "d_out": 128, "target_rank": 16,
        "target_scale": 2.0}
STUDY = {
    "name": "bench-sqrt-study",
    "task": TASK,
    "grid": {"rank": [1, 2, 4, 8, 16, 32], "alpha": {"log2": [0, 14], "num": 15},
             "lr": [0.0001]},
    "seeds": 2, "steps": 300, "batch": 64,
    "metrics": {"log_every": 10, "eval_every": 50, "spectra_every": 100,
                "sharpness": False},
    "max_parallel": 0,
}


# The daemon's modes: packs of exact and of stacked variants on warm
# workers, warm workers without packs, and one process per run without packs
# (the path before warm workers and packs, kept as settings).
MODES = {
    "packed": [],
    "stacked": ["--pack-mode", "stacked"],
    "warm": ["--pack-max", "1"],
    "process": ["--worker-mode", "process", "--pack-max", "1"],
}
QUICK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                     "sweep-quick.json")


def fixed_spec(n):
    """n one-step runs of the study's task (n a multiple of 90)."""
    s = json.loads(json.dumps(STUDY))
    s.update(name="bench-fixed", steps=1, seeds=max(1, n // 90))
    return s


def sweep_round(args, tmp, tag, spec, mode, workers):
    """One fresh daemon in mode runs spec; its figures and its runs."""
    d = dbn.Daemon(args, tmp, tag, workers, max_runs=100000,
                   extra=MODES[mode] + ["--nice", "0"])
    try:
        with dbn.CpuWindow(lambda: [d.pid] + d.children()) as w:
            c0 = dbn.proc_stat(d.pid)
            t0 = time.time()
            sid = dbn.submit_and_wait(d, spec)
            c1 = dbn.proc_stat(d.pid)
            # warm workers still alive: their own CPU (the reaped ones' is in c1[1])
            live = sum(sum(dbn.proc_stat(k)) for k in d.children())
    finally:
        d.stop()
    db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    try:
        finished = db.execute("SELECT finished_at FROM sweeps WHERE id = ?",
                              (sid,)).fetchone()[0]
        n, done, wall_s, pids = db.execute(
            "SELECT COUNT(*), SUM(state = 'done'), SUM(wall_s), COUNT(DISTINCT worker_pid) "
            "FROM runs").fetchone()
        runs = db.execute("SELECT idx, final_eval_loss, config FROM runs ORDER BY idx").fetchall()
    finally:
        db.close()
    if done != n:
        raise RuntimeError("%s: %d of %d runs done" % (tag, done, n))
    r = dict(mode=mode, runs=n, t_s=finished - t0, sum_wall_s=wall_s, processes=pids,
             daemon_cpu_s=c1[0] - c0[0], worker_cpu_s=c1[1] - c0[1] + live, cpu=w.text(),
             other=w.other / max(w.wall, 1e-9))
    print("%-8s %s: %d runs in %.2f s (runs' own wall_s %.2f s, %d worker processes; "
          "CPU/run: daemon %.2f ms, workers %.2f ms; %s)" % (
              tag, mode, n, r["t_s"], wall_s, pids, 1e3 * r["daemon_cpu_s"] / n,
              1e3 * r["worker_cpu_s"] / n, w.text()), flush=True)
    return r, runs


def torch_round(args, tmp, configs):
    """The runs in one PyTorch process (bench/torch_sweep.py)."""
    path = os.path.join(tmp, "torch-runs.jsonl")
    with open(path, "w") as f:
        for c in configs:
            f.write(c + "\n")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_sweep.py")
    with dbn.CpuWindow(lambda: []) as w:
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, script, path, "--threads",
                              str(args.torch_threads)], capture_output=True, text=True)
        t_proc = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError("torch_sweep.py failed:\n" + out.stderr[-2000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r.update(t_s=r["wall_s"], t_process_s=t_proc, cpu=w.text(),
             other=w.other / max(w.wall, 1e-9))
    print("torch    %d runs in %.2f s in its loop (%.2f s with the process start and "
          "import; %d threads, torch %s; %s)" % (
              r["runs"], r["wall_s"], t_proc, r["threads"], r["torch"], w.text()), flush=True)
    return r


def same_losses(a, b, rel):
    """Whether two modes' runs (idx, final eval loss, config) have the same
    final losses: equal (rel 0) or within rel of each other."""
    if [x[0] for x in a] != [x[0] for x in b]:
        return False
    return all(x[1] == y[1] if rel == 0 else abs(x[1] - y[1]) <= rel * abs(y[1])
               for x, y in zip(a, b))


def mode_rows(rows, part, med, n, got, args):
    """The table's rows of one part: each mode's median time and the
    ratios that matter."""
    runs = {m: got[m][-1] for m in got}
    same = "final losses equal to process mode's" if same_losses(
        runs["packed"], runs["process"], 0) else "final losses DIFFERENT from process mode's"
    close = "within 1e-4 of" if same_losses(runs["stacked"], runs["process"], 1e-4) \
        else "NOT within 1e-4 of"
    rows.append(("%s: packs (default)" % part, med["packed"], "s",
                 "%d runs, %d worker slots, %d processes; %s" % (
                     n, args.workers, med["packed_procs"], same)))
    rows.append(("%s: stacked packs" % part, med["stacked"], "s",
                 "final losses %s process mode's (relative)" % close))
    rows.append(("%s: warm workers, no packs" % part, med["warm"], "s", ""))
    rows.append(("%s: one process per run" % part, med["process"], "s",
                 "the path before warm workers and packs"))
    rows.append(("%s: process / packs" % part, med["process"] / med["packed"], "x",
                 "wall-time ratio, same invocation%s" % (
                     " (goal of issue 13: >= 5)" if part == "quick" else "")))
    rows.append(("%s: warm / packs" % part, med["warm"] / med["packed"], "x",
                 "wall-time ratio, same invocation"))


def mode_rounds(args, tmp, part, spec, torch=False):
    """args.rounds rounds of spec in every mode (and PyTorch on the process
    mode's configs); each mode's figures, runs and median time."""
    res = {m: [] for m in list(MODES) + (["torch"] if torch else [])}
    got = {m: [] for m in MODES}
    for k in range(args.rounds):
        for m in MODES:
            r, runs = sweep_round(args, tmp, "%s%d-%s" % (part, k, m), spec, m, args.workers)
            res[m].append(r)
            got[m].append(runs)
        if torch:
            res["torch"].append(torch_round(args, tmp, [x[2] for x in got["process"][-1]]))
    med = {m: statistics.median(r["t_s"] for r in v) for m, v in res.items()}
    med["packed_procs"] = res["packed"][-1]["processes"]
    return res, got, med


def part_study(args, tmp, rows, raw):
    res, got, med = mode_rounds(args, tmp, "study", STUDY, torch=True)
    raw.append(dict(part="study", **res))
    mode_rows(rows, "study", med, res["packed"][0]["runs"], got, args)
    rows.append(("study: PyTorch, one process", med["torch"], "s",
                 "a Python loop, %d threads, data built once" % args.torch_threads))
    rows.append(("study: PyTorch / packs", med["torch"] / med["packed"], "x",
                 "wall-time ratio, same invocation (goal of issue 13: >= 10)"))
    rows.append(("study: PyTorch / stacked packs", med["torch"] / med["stacked"], "x",
                 "wall-time ratio, same invocation"))
    rows.append(("study: PyTorch / warm, no packs", med["torch"] / med["warm"], "x",
                 "wall-time ratio, same invocation"))
    rows.append(("study: PyTorch / process", med["torch"] / med["process"], "x",
                 "wall-time ratio, same invocation"))


def part_quick(args, tmp, rows, raw):
    with open(QUICK) as f:
        spec = json.load(f)
    res, got, med = mode_rounds(args, tmp, "quick", spec)
    raw.append(dict(part="quick", **res))
    mode_rows(rows, "quick", med, res["packed"][0]["runs"], got, args)


def direct_serve(args, configs):
    """The configs as requests to one loralpha-worker --serve; (wall s, CPU
    s) of the whole process."""
    req = "".join('{"type":"run","config":%s}\n' % c for c in configs).encode()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run([args.worker, "--serve"], input=req, capture_output=True, env=env)
    t = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0 or out.stdout.count(b'"type":"done"') != len(configs):
        raise RuntimeError("loralpha-worker --serve: %s" % out.stderr[-2000:])
    return t, (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)


def direct_process(args, configs):
    """Each config through its own loralpha-worker; (wall s, CPU s)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    for c in configs:
        out = subprocess.run([args.worker], input=c.encode(), capture_output=True, env=env)
        if out.returncode != 0:
            raise RuntimeError("loralpha-worker: %s" % out.stderr[-2000:])
    t = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t, (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)


def part_fixed(args, tmp, rows, raw):
    spec = fixed_spec(args.fixed_runs)
    w, runs = sweep_round(args, tmp, "fixedw", spec, "warm", 1)
    p, _ = sweep_round(args, tmp, "fixedp", spec, "process", 1)
    configs = []
    for _, _, cfg in runs:
        c = json.loads(cfg)
        c["threads"] = 1
        configs.append(json.dumps(c, separators=(",", ":")))
    n = len(configs)
    t1, c1 = direct_serve(args, configs[:1])
    tn, cn = direct_serve(args, configs)
    ts, cs = (tn - t1) / (n - 1), (cn - c1) / (n - 1)
    tp, cp = direct_process(args, configs)
    print("direct   %d one-step runs: --serve %.3f s (CPU %.3f s; 1 run: %.3f s, CPU %.3f s), "
          "one process each %.3f s (CPU %.3f s)" % (n, tn, cn, t1, c1, tp, cp), flush=True)
    raw.append(dict(part="fixed", warm=w, process=p, serve_s=tn, serve_cpu_s=cn,
                    serve1_s=t1, serve1_cpu_s=c1, process_s=tp, process_cpu_s=cp, runs=n))
    rows.append(("1-step run, warm worker, direct", 1e3 * ts, "ms",
                 "(wall of loralpha-worker --serve fed %d requests - fed 1) / %d (CPU %.2f "
                 "ms/run; target of issue 13: < 2 ms)" % (n, n - 1, 1e3 * cs)))
    rows.append(("1-step run, one process, direct", 1e3 * tp / n, "ms",
                 "wall per run of one loralpha-worker per run (CPU %.2f ms/run)" % (
                     1e3 * cp / n)))
    for r, what in ((w, "warm"), (p, "process")):
        rows.append(("1-step run, daemon, %s" % what, 1e3 * r["t_s"] / n, "ms",
                     "POST to the sweep's end / %d runs, 1 worker slot (CPU/run: daemon "
                     "%.2f ms, workers %.2f ms)" % (n, 1e3 * r["daemon_cpu_s"] / n,
                                                    1e3 * r["worker_cpu_s"] / n)))
    rows.append(("1-step run: process / warm, daemon", p["t_s"] / w["t_s"], "x",
                 "wall-time ratio, same invocation"))


def print_table(rows):
    cells = [("figure", "measured", "", "conditions")] + [
        (r[0], dbn.fmt(r[1]), r[2], r[3]) for r in rows]
    wd = [max(len(c[i]) for c in cells) for i in range(3)]
    for k, c in enumerate(cells):
        print("%-*s  %*s %-*s  %s" % (wd[0], c[0], wd[1], c[1], wd[2], c[2], c[3]))
        if k == 0:
            print("-" * wd[0] + "  " + "-" * (wd[1] + wd[2] + 1) + "  " + "-" * 10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="./build", help="build directory (./build)")
    ap.add_argument("--only", default="study,quick,fixed", help="parts (study,quick,fixed)")
    ap.add_argument("--rounds", type=int, default=1, help="study and quick rounds (1)")
    ap.add_argument("--workers", type=int, default=2, help="the study's --max-workers (2)")
    ap.add_argument("--fixed-runs", type=int, default=360, help="one-step runs (360)")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="PyTorch's threads (1: its fastest for these sizes here)")
    args = dbn.parse_common(ap)
    for exe in (args.loralpha, args.worker):
        if not os.access(exe, os.X_OK):
            sys.exit("sweep_bench: %s not found; build first" % exe)
    tmp = tempfile.mkdtemp(prefix="sweep_bench_", dir=args.tmp)
    signal.signal(signal.SIGTERM, lambda *a: (dbn.stop_all(), sys.exit(143)))
    print("sweep_bench: %s, %d CPUs (%s), Linux %s, nice %d, load %s" % (
        platform.node(), os.cpu_count() or 0, dbn.cpu_model(), platform.release(),
        os.nice(0), dbn.loadavg()), flush=True)
    t0 = time.monotonic()
    rows = dbn.run_parts(args, tmp, [x.strip() for x in args.only.split(",") if x.strip()],
                         {"study": part_study, "quick": part_quick,
                          "fixed": part_fixed})
    print()
    print("sweep_bench: %.0f s; load average now %s; all figures from this run" % (
        time.monotonic() - t0, dbn.loadavg()))
    print_table(rows)


if __name__ == "__main__":
    main()
