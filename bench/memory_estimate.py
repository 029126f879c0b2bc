#!/usr/bin/env python3
"""The worker's memory estimate (la_config_memory) against its real peak RSS.

Runs loralpha-worker on a few configs, each twice: with --estimate (what the
daemon checks against max_run_memory at submit) and for real, and prints the
peak RSS (wait4's ru_maxrss), the estimate and their ratio. docs/daemon.md
quotes the margin this prints.

    python3 bench/memory_estimate.py [--worker build/loralpha-worker]
"""
import argparse
import json
import os
import subprocess
import sys

CONFIGS = [
    ("teacher 1024x1024, 20k rows", {
        "task": "teacher", "d_in": 1024, "d_out": 1024, "n_train": 20000,
        "n_eval": 2000, "rank": 8, "batch": 64, "sharpness": False}),
    ("teacher 4096x4096, sharpness", {
        "task": "teacher", "d_in": 4096, "d_out": 4096, "n_train": 2048,
        "n_eval": 512, "rank": 16, "batch": 64, "sharpness": True,
        "sharpness_iters": 2}),
    ("mlp 512-1024-1024-10 ce, batch 2048", {
        "task": "mlp", "widths": [512, 1024, 1024, 10], "loss": "ce",
        "n_train": 30000, "n_eval": 3000, "rank": 8, "batch": 2048,
        "sharpness": False}),
    ("mlp 2048x3 gelu, rank 512", {
        "task": "mlp", "widths": [2048, 2048, 2048, 2048],
        "activation": "gelu", "n_train": 4096, "n_eval": 1024, "rank": 512,
        "batch": 256, "sharpness": False}),
    ("teacher 64x64 (the process alone)", {
        "task": "teacher", "d_in": 64, "d_out": 64, "n_train": 256,
        "n_eval": 64, "rank": 4, "batch": 32, "sharpness": False}),
]


def run(worker, cfg, *flags):
    """Runs the worker; returns (stdout, peak RSS in bytes)."""
    p = subprocess.Popen([worker, *flags], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(json.dumps(cfg).encode())
    p.stdin.close()
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"worker failed on {cfg}: {err.decode()[-400:]}")
    return out, ru.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", default="build/loralpha-worker")
    a = ap.parse_args()
    print(f"{'config':40} {'peak RSS MiB':>12} {'estimate MiB':>12} "
          f"{'est/RSS':>8}  driven by")
    worst_lo = worst_hi = 1.0
    for name, extra in CONFIGS:
        cfg = {"alpha": 8, "lr": 1e-3, "steps": 3, "eval_every": 3,
               "spectra_every": 0, **extra}
        est = json.loads(run(a.worker, cfg, "--estimate")[0])
        _, rss = run(a.worker, cfg)
        ratio = est["memory_bytes"] / rss
        worst_lo, worst_hi = min(worst_lo, ratio), max(worst_hi, ratio)
        print(f"{name:40} {rss / 2**20:12.1f} {est['memory_bytes'] / 2**20:12.1f}"
              f" {ratio:8.2f}  {est['memory_field']}")
    print(f"estimate / peak RSS: {worst_lo:.2f} .. {worst_hi:.2f}")


if __name__ == "__main__":
    main()
