#!/usr/bin/python3
"""ingest_bench.py: records per second through POST /v1/ingest/{run}, the
route of workers on Slurm nodes (docs/slurm.md).

    /usr/bin/python3 bench/ingest_bench.py [--build DIR] [--records 200000]
        [--batch 1000] [--runs 4]

Needs no cluster: it starts `loralpha serve` on 127.0.0.1 (port 0) with a
fresh database in a temporary directory, stores a sweep, then marks its
runs as handed to Slurm with known tokens, stored as their SHA-256 (as a
daemon does before sbatch) and restarts the daemon, which re-attaches to
them. squeue then fails (no SLURM_CONF), which the daemon takes as "no
news", so the runs stay live while the benchmark POSTs train records to
them in batches of --batch lines, round robin over --runs runs, from one
client connection. It prints the
records per second and the mean batch latency, then checks that every
record is in the database. Each daemon is stopped by its PID.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time


def start(loralpha, tmp, db, name):
    port_file = os.path.join(tmp, f"port.{name}")
    log = open(os.path.join(tmp, f"daemon.{name}.log"), "w")
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    p = subprocess.Popen([loralpha, "serve", "--listen", "127.0.0.1:0", "--port-file",
                          port_file, "--db", db, "--executor", "local,slurm",
                          "--slurm-dir", os.path.join(tmp, "jobs"),
                          "--max-body", str(64 << 20)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         cwd=tmp, env=env)
    for _ in range(300):
        if os.path.exists(port_file):
            with open(port_file) as f:
                s = f.read()
            if s.endswith("\n"):
                return p, int(s)
        time.sleep(0.02)
    p.kill()
    raise RuntimeError("daemon did not start")


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=4)
    a = ap.parse_args()
    loralpha = os.path.abspath(os.path.join(a.build, "loralpha"))
    tmp = tempfile.mkdtemp(prefix="loralpha-ingest-bench-")
    db = os.path.join(tmp, "bench.db")
    try:
        p, port = start(loralpha, tmp, db, "create")
        spec = {"name": "ingest", "executor": "local", "max_parallel": 1, "priority": -1000,
                "task": {"task": "teacher", "d_in": 16, "d_out": 16},
                "grid": {"rank": [1], "alpha": list(range(1, a.runs + 1)), "lr": [0.001]},
                "steps": 10}
        stop(p)  # the sweep is stored below with the daemon stopped: nothing runs
        con = sqlite3.connect(db)
        con.execute("INSERT INTO sweeps (name, spec, n_runs, seed, created_at) VALUES "
                    "('ingest', ?, ?, 1, 0)", (json.dumps(spec), a.runs))
        sid = con.execute("SELECT max(id) FROM sweeps").fetchone()[0]
        tokens = {}
        for i in range(a.runs):
            cur = con.execute("INSERT INTO runs (sweep_id, idx, rank, alpha, lr, seed_index, "
                              "seed, config, state, attempts, created_at) VALUES "
                              "(?, ?, 1, ?, 0.001, 0, 1, '{}', 'running', 1, 0)",
                              (sid, i, float(i + 1)))
            run = cur.lastrowid
            tokens[run] = f"{run:064x}"
            con.execute("INSERT INTO slurm_jobs (run_id, sweep_id, attempt, array_id, task, "
                        "token_sha256, state, script, submitted_at) VALUES "
                        "(?, ?, 1, 1, ?, ?, 'submitted', '-', 0)",
                        (run, sid, i, hashlib.sha256(tokens[run].encode()).hexdigest()))
        con.commit()
        con.close()
        p, port = start(loralpha, tmp, db, "bench")
        runs = sorted(tokens)
        bodies, step, left = [], {r: 0 for r in runs}, a.records
        while left > 0:  # made before the clock starts: the daemon is measured
            run = runs[len(bodies) % len(runs)]
            lines = []
            for _ in range(min(a.batch, left)):
                lines.append(json.dumps({"type": "train", "step": step[run], "loss": 0.5,
                                         "lr": 0.001, "grad_norm_a": 1.0,
                                         "grad_norm_b": 2.0, "update_norm": 0.01}))
                step[run] += 1
            left -= len(lines)
            bodies.append((run, ("\n".join(lines) + "\n").encode()))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        sent, batches, t0 = a.records, len(bodies), time.monotonic()
        for run, body in bodies:
            conn.request("POST", f"/v1/ingest/{run}", body=body,
                         headers={"Authorization": f"Bearer {tokens[run]}",
                                  "Content-Type": "application/x-ndjson"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"ingest answered {r.status}")
        elapsed = time.monotonic() - t0
        conn.close()
        stop(p)
        n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM curve").fetchone()[0]
        print(f"ingest: {sent} records in {batches} batches of {a.batch} over {len(runs)} runs: "
              f"{sent / elapsed:,.0f} records/s, {1000 * elapsed / batches:.2f} ms per batch")
        print(f"stored: {n} of {sent} records" + ("" if n == sent else "  MISMATCH"))
        return 0 if n == sent else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
