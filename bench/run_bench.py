#!/usr/bin/python3
"""run_bench.py: the worker's training step against PyTorch, as a table.

    /usr/bin/python3 bench/run_bench.py [BUILD_DIR] [--shapes small,mid,large]
        [--rounds 3] [--min-time 0.5] [--repeats 5] [--warmup 0.3]
        [--profile] [--coretype NAME] [--pin CPU] [--json FILE]

Builds nothing: BUILD_DIR (default ./build) must hold bench/bench_worker
(and bench/bench_profile for --profile), e.g. after
    cmake -S . -B build && cmake --build build -j2

Per round and shape it runs bench_worker (worker step, sgemm rate; peak RSS
in the first round only) and bench/torch_step.py (the same step in PyTorch)
back to back, alternating which goes first, all on one BLAS thread. The
repeats of all rounds are pooled and their median taken, so both sides of
each ratio are measured in the same invocation under the same load.
The columns are described in bench/README.md.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# ratio target: worker steps/s >= factor * torch steps/s
RATIO_TARGET = {"small": 3.0, "mid": 1.5, "large": 0.95}
# worker GFLOP/s >= fraction of the single-thread sgemm rate at M=batch, N=K=d
SGEMM_TARGET = {"large": 0.80}


def run_json(cmd, env, pin=None):
    """Runs cmd, returns its stdout's JSON lines (stderr passes through)."""
    pre = (lambda: os.sched_setaffinity(0, {pin})) if pin is not None else None
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, preexec_fn=pre)
    if p.returncode != 0:
        sys.exit("run_bench: %s exited with %d" % (" ".join(cmd), p.returncode))
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def quartile_spread(xs):
    """(q3 - q1) / median: the noise of a set of repeats."""
    if len(xs) < 4:
        return (max(xs) - min(xs)) / statistics.median(xs)
    q = statistics.quantiles(xs, n=4)
    return (q[2] - q[0]) / q[1]


def worker_core(build_dir):
    """The OpenBLAS core loralpha-worker runs with (it replaces a fallback
    core OpenBLAS picked for a CPU it does not know): its start record's
    blas_core, from a one-step run."""
    exe = os.path.join(build_dir, "loralpha-worker")
    cfg = ('{"task":"teacher","d_in":4,"d_out":4,"n_train":8,"n_eval":4,"rank":1,'
           '"alpha":1,"lr":0.1,"steps":1,"batch":4,"sharpness":false}')
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    p = subprocess.run([exe], input=cfg, stdout=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.exit("run_bench: %s failed; build it first" % exe)
    return json.loads(p.stdout.splitlines()[0])["blas_core"]


def mib(b):
    return "%.1f" % (b / 2**20)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def verdict(ok):
    return "PASS" if ok else "MISS"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build_dir", nargs="?", default="./build")
    ap.add_argument("--shapes", default="small,mid,large")
    ap.add_argument("--rounds", type=int, default=3,
                    help="measurement rounds per side, pooled (default 3)")
    ap.add_argument("--min-time", type=float, default=0.5,
                    help="seconds per measurement (default 0.5)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="measurements per round and side (default 5)")
    ap.add_argument("--warmup", type=float, default=0.3,
                    help="seconds of warm-up before measuring (default 0.3)")
    ap.add_argument("--profile", action="store_true",
                    help="also split the worker's step into its parts (bench_profile)")
    ap.add_argument("--coretype", default="auto",
                    help="OPENBLAS_CORETYPE for both sides: 'auto' (default) takes the "
                         "kernels loralpha-worker itself runs with (its start record's "
                         "blas_core), 'none' leaves OpenBLAS's own choice, or a name "
                         "such as SkylakeX")
    ap.add_argument("--pin", type=int, default=None, metavar="CPU",
                    help="run both sides on this one CPU (sched_setaffinity)")
    ap.add_argument("--json", default=None, help="write every raw record to this file")
    args = ap.parse_args()

    worker = os.path.join(args.build_dir, "bench", "bench_worker")
    profiler = os.path.join(args.build_dir, "bench", "bench_profile")
    if not os.access(worker, os.X_OK):
        sys.exit("run_bench: %s not found; build first: cmake -S . -B %s && "
                 "cmake --build %s -j2" % (worker, args.build_dir, args.build_dir))
    if args.profile and not os.access(profiler, os.X_OK):
        sys.exit("run_bench: %s not found" % profiler)
    shapes = [s for s in args.shapes.split(",") if s]
    for s in shapes:
        if s not in RATIO_TARGET:
            sys.exit("run_bench: unknown shape %s" % s)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    if args.coretype == "auto":
        args.coretype = worker_core(args.build_dir)
    elif args.coretype == "none":
        args.coretype = None
    if args.coretype:
        env["OPENBLAS_CORETYPE"] = args.coretype
    common = ["--min-time", str(args.min_time), "--repeats", str(args.repeats),
              "--warmup", str(args.warmup)]
    torch_cmd = ["/usr/bin/python3", os.path.join(HERE, "torch_step.py")]

    raw = []
    res = {s: {"w": [], "t": [], "g": [], "gnn": [], "mem": None, "rec": None,
               "torch": None, "rw": [], "rt": []} for s in shapes}
    t_start = time.time()
    for rnd in range(args.rounds):
        for s in shapes:
            wcmd = [worker, "--shape", s] + common + ([] if rnd == 0 else ["--no-mem"])
            tcmd = torch_cmd + ["--shape", s] + common
            order = [("w", wcmd), ("t", tcmd)]
            if rnd % 2:
                order.reverse()
            for side, cmd in order:
                print("run_bench: round %d/%d %s %s" % (rnd + 1, args.rounds, s,
                      "worker" if side == "w" else "torch"), file=sys.stderr, flush=True)
                (rec,) = run_json(cmd, env, args.pin)
                raw.append(rec)
                r = res[s]
                if side == "w":
                    r["rec"] = rec
                    r["w"] += rec["timing"]["repeat_ms"]
                    r["rw"].append(rec["ms_per_step"])
                    r["g"] += [2e-6 * rec["sgemm"]["m"] * rec["sgemm"]["n"] * rec["sgemm"]["k"]
                               / ms for ms in rec["sgemm"]["repeat_ms"]]
                    r["gnn"] += [2e-6 * rec["sgemm_nn"]["m"] * rec["sgemm_nn"]["n"]
                                 * rec["sgemm_nn"]["k"] / ms
                                 for ms in rec["sgemm_nn"]["repeat_ms"]]
                    if rec.get("mem"):
                        r["mem"] = rec["mem"]
                else:
                    r["torch"] = rec
                    r["t"] += rec["timing"]["repeat_ms"]
                    r["rt"].append(rec["ms_per_step"])
    profiles = []
    if args.profile:
        for s in shapes:
            print("run_bench: profile %s" % s, file=sys.stderr, flush=True)
            profiles += run_json([profiler, "--shape", s] + common, env, args.pin)
        raw += profiles
    elapsed = time.time() - t_start

    # the two sides must have measured the same problem
    for s in shapes:
        w, t = res[s]["rec"], res[s]["torch"]
        if (w["widths"], w["batch"], w["rank"]) != (t["widths"], t["batch"], t["rank"]):
            sys.exit("run_bench: shape %s differs between bench_worker and torch_step.py" % s)

    blas = res[shapes[0]]["rec"]["blas"]
    print()
    print("loralpha worker vs PyTorch, one training step (mse, AdamW, relu, 1 thread)")
    print("CPU: %s, %d cpus; OpenBLAS core: %s%s; torch %s" % (
        cpu_model(), os.cpu_count() or 0, blas["corename"],
        " (OPENBLAS_CORETYPE=%s)" % args.coretype if args.coretype else "",
        res[shapes[0]]["torch"]["torch"]))
    flags = cpu_flags()
    if blas["corename"].lower() in ("prescott", "core2", "nehalem", "atom") and (
            "avx2" in flags or "avx512f" in flags):
        print("NOTE: this CPU has %s but OpenBLAS runs its %s kernels (it did not "
              "recognise the CPU);\n      both sides use this OpenBLAS. Try --coretype "
              "%s to see the CPU's proper kernels." % (
                  "AVX-512" if "avx512f" in flags else "AVX2", blas["corename"],
                  "Cooperlake" if "avx512_bf16" in flags else
                  "SkylakeX" if "avx512f" in flags else "Haswell"))
    print("medians of %d rounds x %d repeats of >= %.2f s each%s; took %.0f s" % (
        args.rounds, args.repeats, args.min_time,
        ", pinned to cpu %d" % args.pin if args.pin is not None else "", elapsed))
    print()
    head = ["shape", "widths x batch, r", "worker ms", "GFLOP/s", "torch ms",
            "ratio", "target", "", "per round", "sgemm GF/s", "% sgemm", "target", "",
            "peak RSS MiB", "tensors MiB", "RSS/tens"]
    rows = []
    summary = []
    for s in shapes:
        r = res[s]
        w_ms = statistics.median(r["w"])
        t_ms = statistics.median(r["t"])
        flops = r["rec"]["flops_per_step"]
        gfl = flops / (w_ms * 1e-3) / 1e9
        sg = statistics.median(r["g"])
        ratio = t_ms / w_ms  # = worker steps/s / torch steps/s
        round_ratios = [t / w for w, t in zip(r["rw"], r["rt"])]
        pct = gfl / sg
        rt = RATIO_TARGET[s]
        st = SGEMM_TARGET.get(s)
        mem = r["mem"]
        d = r["rec"]["widths"]
        rows.append([
            s, "%dx%d, %d, r%d" % (d[0], len(d) - 1, r["rec"]["batch"], r["rec"]["rank"]),
            "%.3f ±%.0f%%" % (w_ms, 100 * quartile_spread(r["w"])),
            "%.1f" % gfl,
            "%.3f ±%.0f%%" % (t_ms, 100 * quartile_spread(r["t"])),
            "%.2fx" % ratio, ">=%.2fx" % rt, verdict(ratio >= rt),
            " ".join("%.2f" % x for x in round_ratios),
            "%.1f" % sg, "%.0f%%" % (100 * pct),
            ">=%.0f%%" % (100 * st) if st else "-", verdict(pct >= st) if st else "",
            mib(mem["peak_increase"]) if mem else "?",
            mib(mem["tensor_bytes"]) if mem else "?",
            "%.2f" % (mem["peak_increase"] / mem["tensor_bytes"]) if mem else "?",
        ])
        summary.append({"shape": s, "worker_ms": w_ms, "worker_gflops": gfl, "torch_ms": t_ms,
                        "ratio": ratio, "ratio_target": rt, "ratio_pass": ratio >= rt,
                        "round_ratios": round_ratios,
                        "sgemm_gflops": sg, "sgemm_nn_gflops": statistics.median(r["gnn"]),
                        "pct_sgemm": pct, "pct_sgemm_target": st,
                        "pct_sgemm_pass": (pct >= st) if st else None, "mem": mem})
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join("%%-%ds" % w if i < 2 else "%%%ds" % w for i, w in enumerate(widths))
    print(fmt % tuple(head))
    print(fmt % tuple("-" * w for w in widths))
    for row in rows:
        print(fmt % tuple(row))
    print()
    print("ratio = worker steps/s / torch steps/s (pooled medians); per round = the same "
          "from each round's own medians;")
    print("± = interquartile spread of the pooled repeats / median (machine noise);")
    print("sgemm = single-thread cblas_sgemm at M=batch, N=K=d (h.W0^T, NT); "
          "NN (gz.W0) for reference: %s GF/s" % ", ".join(
              "%s %.1f" % (x["shape"], x["sgemm_nn_gflops"]) for x in summary))
    print("peak RSS = VmHWM increase of a fresh process over task build, trainer, "
          "eval, 20 steps, eval")

    for p in profiles:
        print()
        print("%s: where the worker's step goes (bench_profile, %.3f ms/step with timers)" % (
            p["shape"], p["ms_per_step"]))
        for part in p["parts"]:
            extra = ""
            if "gflops" in part:
                extra = "%5.1f GF/s, %g calls" % (part["gflops"], part["calls_per_step"])
            print("  %-45s %9.4f ms %6.1f%%  %s" % (part["part"], part["ms_per_step"],
                  100 * part["ms_per_step"] / p["ms_per_step"], extra))

    if args.json:
        with open(args.json, "w") as f:
            for rec in raw:
                f.write(json.dumps(rec) + "\n")
            f.write(json.dumps({"type": "summary", "rows": summary}) + "\n")
    misses = sum(1 for x in summary if not x["ratio_pass"] or x["pct_sgemm_pass"] is False)
    print()
    print("targets: %d of %d rows meet all their targets" % (len(summary) - misses, len(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
