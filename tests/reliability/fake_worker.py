#!/usr/bin/python3
"""fake_worker.py: a stand-in for loralpha-worker that test_records.py gives
`serve --worker`. It reads the run's config on stdin and writes the records
of docs/protocol.md at once, with an eval loss that follows a known law
(lowest at alpha = 4 sqrt(rank)), so that a sweep of it finishes in seconds
and has a usable analysis.

A run whose config has lr == 0.0777 writes one bad line instead of its
second record: a train record with a negative loss.
"""
import json
import math
import sys


def emit(rec):
    sys.stdout.write(json.dumps(rec) + "\n")


def main():
    cfg = json.loads(sys.stdin.read())
    steps, rank, alpha = cfg["steps"], cfg["rank"], cfg["alpha"]
    seed = cfg.get("seed", 0) % 7
    final = 0.1 + 0.05 * (math.log2(alpha) - math.log2(4 * math.sqrt(rank))) ** 2 + 1e-4 * seed
    emit({"type": "start", "run_id": cfg.get("run_id", -1), "config": cfg,
          "layers": [{"layer": 0, "d_in": 8, "d_out": 8, "sigma_max_w0": 1.0}]})
    if abs(cfg["lr"] - 0.0777) < 1e-12:
        emit({"type": "train", "step": 1, "loss": -1.0, "lr": cfg["lr"]})
    for s in range(0, steps + 1, 10):
        emit({"type": "eval", "step": s, "loss": final + 0.5 * (1 - s / steps)})
    emit({"type": "done", "status": "done", "steps": steps, "final_eval_loss": final,
          "best_eval_loss": final, "best_step": steps, "wall_s": 0.01})
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
