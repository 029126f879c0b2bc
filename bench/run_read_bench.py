#!/usr/bin/env python3
"""run_read_bench.py: reading a very long run from the daemon.

    python3 bench/run_read_bench.py [--build DIR] [--before DIR]
        [--train-rows 1500000] [--eval-rows 150000] [--tmp DIR]

Makes a database with one run whose curve has --train-rows train and
--eval-rows eval rows (a real daemon makes the sweep; the rows are then
inserted with sqlite3), starts `loralpha serve` from BUILD on it and
measures, for GET /v1/runs/1 (every page, following "next"), GET
/v1/runs/1?points=500 and GET /v1/sweeps/1/curves?kind=train&points=200:

  time      the read's wall time (s)
  health    the worst latency of GET /v1/health polled during the read
            (ms), and its ratio to the idle latency in the same run
  peak RSS  the daemon's VmHWM after the reads (MiB), and its ratio to
            its VmRSS before them

With --before DIR (a build of an older daemon) the same figures are taken
from it on a copy of the same database, and the last column gives
now / before. Every daemon listens on 127.0.0.1 (port 0) and is stopped by
its PID.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time


class Daemon:
    """One `loralpha serve` on db, stopped by PID."""

    def __init__(self, build, tmp, tag, db):
        self.dir = os.path.join(tmp, tag)
        os.makedirs(self.dir, exist_ok=True)
        port_file = os.path.join(self.dir, "port")
        state = os.path.join(self.dir, "state")
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(build, "loralpha"), "serve", "--listen",
             "127.0.0.1:0", "--port-file", port_file, "--db", db,
             "--max-workers", "1", "--worker",
             os.path.join(build, "loralpha-worker"), "--state-dir", state],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        self.port = self.token = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(port_file) as f:
                    txt = f.read()
                with open(os.path.join(state, "token")) as f:
                    self.token = f.read().strip()
                if txt.endswith("\n") and self.token:
                    self.port = int(txt)
                    break
            except OSError:
                pass
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            sys.exit("run_read_bench: loralpha serve did not start")

    def get(self, path, timeout=600):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", path, headers={"Authorization": "Bearer " + self.token})
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        return r.status, raw

    def post(self, path, body):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request("POST", path, body=json.dumps(body), headers={
                "Authorization": "Bearer " + self.token,
                "Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read())
        finally:
            c.close()

    def mem(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_db(build, tmp, train_rows, eval_rows):
    """A database with sweep 1 / run 1 and the long curve; its path."""
    db = os.path.join(tmp, "long.db")
    d = Daemon(build, tmp, "make", db)
    try:
        st, body = d.post("/v1/sweeps", {
            "name": "long", "task": {"task": "teacher", "d_in": 8, "d_out": 8,
                                     "n_train": 64, "n_eval": 16},
            "grid": {"rank": [1], "alpha": [1.0], "lr": [1e-3]}, "steps": 1,
            "batch": 8, "metrics": {"eval_every": 0, "spectra_every": 0,
                                    "sharpness": False}})
        if st != 201:
            sys.exit(f"run_read_bench: submit answered {st}: {body}")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            st, raw = d.get("/v1/runs/1?points=2")
            if st == 200 and json.loads(raw)["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
    finally:
        d.stop()
    con = sqlite3.connect(db)
    con.execute("DELETE FROM curve WHERE run_id = 1")
    con.executemany(
        "INSERT INTO curve (run_id, kind, step, loss, lr, grad_norm_a, "
        "grad_norm_b, update_norm) VALUES (1, 'train', ?, ?, 1e-3, 0.5, 0.25, 0.01)",
        ((i, 1.0 / (1 + i * 1e-4) + (0.5 if i % 99991 == 0 else 0))
         for i in range(1, train_rows + 1)))
    con.executemany(
        "INSERT INTO curve (run_id, kind, step, loss) VALUES (1, 'eval', ?, ?)",
        ((i * 10, 1.0 / (1 + i * 1e-3)) for i in range(eval_rows)))
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return db


def poll_health(port, token, stop, worst):
    """In its own process (no shared interpreter lock with the reader):
    polls /v1/health until stop is set; the worst latency into worst."""
    while not stop.is_set():
        t = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        c.request("GET", "/v1/health", headers={"Authorization": "Bearer " + token})
        c.getresponse().read()
        c.close()
        worst.value = max(worst.value, time.perf_counter() - t)


def during(d, fn):
    """Runs fn() while another process polls /v1/health; (fn's seconds,
    worst health ms, fn's value)."""
    stop = multiprocessing.Event()
    worst = multiprocessing.Value("d", 0.0)
    p = multiprocessing.Process(target=poll_health,
                                args=(d.port, d.token, stop, worst))
    p.start()
    t0 = time.perf_counter()
    try:
        v = fn()
    finally:
        secs = time.perf_counter() - t0
        stop.set()
        p.join()
    return secs, worst.value * 1e3, v


def all_pages(d):
    """Every page of GET /v1/runs/1; the rows read."""
    rows, after = 0, None
    while True:
        st, raw = d.get("/v1/runs/1" + (f"?after={after}" if after is not None else ""))
        if st != 200:
            sys.exit(f"run_read_bench: GET /v1/runs/1 answered {st}")
        body = json.loads(raw)
        rows += len(body["curve"]["train"]["step"]) + len(body["curve"]["eval"]["step"])
        after = body.get("next")
        if after is None:
            return rows


def one(d, path):
    st, raw = d.get(path)
    if st != 200:
        sys.exit(f"run_read_bench: GET {path} answered {st}")
    return len(raw)


def measure(build, tmp, tag, db):
    """The figures of one daemon build on a copy of db."""
    copy = os.path.join(tmp, tag + ".db")
    shutil.copy(db, copy)
    d = Daemon(build, tmp, tag, copy)
    try:
        idle = statistics.median(
            (lambda t: (d.get("/v1/health"), time.perf_counter() - t)[1])(
                time.perf_counter()) for _ in range(50)) * 1e3
        rss0 = d.mem("VmRSS")
        f = {"idle health ms": idle, "RSS before MiB": rss0 / 2**20}
        for name, fn in (("full", lambda: all_pages(d)),
                         ("points=500", lambda: one(d, "/v1/runs/1?points=500")),
                         ("curves", lambda: one(
                             d, "/v1/sweeps/1/curves?kind=train&points=200"))):
            secs, worst, _ = during(d, fn)
            f[f"{name}: time s"] = secs
            f[f"{name}: worst health ms"] = worst
            f[f"{name}: health / idle"] = worst / idle
        f["peak RSS MiB"] = d.mem("VmHWM") / 2**20
        f["peak / before RSS"] = d.mem("VmHWM") / rss0
        return f
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--before", help="a build of the daemon to compare with")
    ap.add_argument("--train-rows", type=int, default=1500000)
    ap.add_argument("--eval-rows", type=int, default=150000)
    ap.add_argument("--tmp")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="run-read-bench-", dir=a.tmp)
    try:
        t = time.perf_counter()
        db = make_db(a.build, tmp, a.train_rows, a.eval_rows)
        print(f"database: {a.train_rows} train + {a.eval_rows} eval rows in "
              f"{time.perf_counter() - t:.1f} s")
        now = measure(a.build, tmp, "now", db)
        before = measure(a.before, tmp, "before", db) if a.before else None
        print(f"{'figure':32} {'now':>10}" +
              (f" {'before':>10} {'now/before':>10}" if before else ""))
        for k, v in now.items():
            line = f"{k:32} {v:10.3f}"
            if before:
                line += f" {before[k]:10.3f} {v / before[k] if before[k] else 0:10.3f}"
            print(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
