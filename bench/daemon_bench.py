#!/usr/bin/python3
"""daemon_bench.py: how fast `loralpha serve` is, against its targets.

    /usr/bin/python3 bench/daemon_bench.py [--build DIR] [--only api,store,sched,rss]
        [--duration 10] [--connections 16] [--wrk-threads 1] [--no-idle]
        [--store-rows 1000000] [--store-batch 5000] [--store-repeats 3]
        [--sched-runs 2000] [--rss-runs 100000] [--tmp DIR] [--json FILE] [--keep]

Builds nothing. BUILD_DIR (default ./build) must hold loralpha,
loralpha-worker and bench/daemon_store (bench/daemon.cmake). Needs wrk for
the API figures (Debian: apt-get install -y wrk); everything else is the
standard library. Every daemon it starts listens on 127.0.0.1 (port 0), has
its own fresh database in a temporary directory, and is stopped by its PID
(SIGTERM, then SIGKILL after 30 s) before the next one starts.

The figures (bench/daemon_README.md says exactly what each one measures):
  api    GET /v1/health and GET /v1/sweeps/{id}: requests/s and p99 under
         wrk while two workers train (and, for comparison, idle)
  store  worker records committed per second by la_store_add_record +
         la_store_flush (bench/daemon_store, median of repeats)
  sched  scheduling overhead per run of a sweep of one-step runs, 2 workers
  rss    the daemon's VmRSS / VmHWM with 100,000 queued runs
"""
import argparse
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

TARGETS = {
    "api_rps": 20000.0,      # requests/s, at least
    "api_p99_ms": 5.0,       # p99 latency, below
    "store_rows_per_s": 300000.0,
    "sched_ms_per_run": 5.0,
    "rss_mib": 64.0,
}

CLK_TCK = os.sysconf("SC_CLK_TCK")

# wrk reports through this script: one line "DBENCH {json}" at the end.
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'DBENCH {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"p999_us":%.0f,"max_us":%.0f,' ..
    '"mean_us":%.1f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,' ..
    '"timeout":%.0f}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

# Long runs for the API load: a teacher layer 256x256, about 5,000 steps/s
# per worker here, a train record every 10 steps (~1,000 records/s for the
# two workers together), eval every 100, spectra every 1000.
LONG_SWEEP = {
    "name": "bench-long",
    "task": {"task": "teacher", "d_in": 256, "d_out": 256, "n_train": 4096, "n_eval": 1024},
    "grid": {"rank": [8], "alpha": [16], "lr": [0.001]},
    "seeds": 4, "steps": 100000000, "batch": 64,
    "metrics": {"log_every": 10, "eval_every": 100, "spectra_every": 1000, "sharpness": False},
    "max_parallel": 0, "priority": 0,
}


def tiny_sweep(name, n_runs):
    """A sweep of exactly n_runs one-step runs of a 16x16 teacher (rank x
    alpha x lr x seeds), sharpness off, spectra only at the end."""
    ranks = [1, 2, 4, 8]
    for n_alpha, n_lr in ((10, 5), (25, 10), (5, 5), (1, 1)):
        per = len(ranks) * n_alpha * n_lr
        if n_runs % per == 0 and n_runs // per <= 1000:
            break
    else:
        ranks, n_alpha, n_lr, per = [1], 1, 1, 1
        if n_runs > 1000:
            sys.exit("daemon_bench: cannot make a sweep of %d runs" % n_runs)
    return {
        "name": name,
        "task": {"task": "teacher", "d_in": 16, "d_out": 16, "n_train": 64, "n_eval": 16},
        "grid": {"rank": ranks,
                 "alpha": [0.5 * (i + 1) for i in range(n_alpha)],
                 "lr": [1e-4 * (i + 1) for i in range(n_lr)]},
        "seeds": n_runs // per, "steps": 1, "batch": 16,
        "metrics": {"log_every": 1, "eval_every": 0, "spectra_every": 0, "sharpness": False},
        "max_parallel": 0, "priority": 0,
    }


# ---- the machine ---------------------------------------------------------------

def machine_busy():
    """(busy seconds, total seconds) over all CPUs since boot, /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / CLK_TCK, sum(v[:8]) / CLK_TCK


def proc_stat(pid):
    """(utime+stime, cutime+cstime) of pid in seconds, or (0, 0)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return 0.0, 0.0
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK, (int(f[13]) + int(f[14])) / CLK_TCK


def proc_children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def proc_mem(pid):
    """VmRSS and VmHWM of pid in MiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


class CpuWindow:
    """CPU used on the whole machine during a window, and how much of it was
    ours (the pids given, their reaped children, and our own reaped
    children such as wrk); the rest is other load on the machine."""

    def __init__(self, pids_fn):
        self.pids_fn = pids_fn

    def _ours(self):
        pids = self.pids_fn()
        tot = 0.0
        for p in pids:
            a, b = proc_stat(p)
            tot += a + b
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return tot, ru.ru_utime + ru.ru_stime, dict((p, sum(proc_stat(p))) for p in pids)

    def __enter__(self):
        self.t0 = time.monotonic()
        self.m0 = machine_busy()
        self.o0, self.c0, self.p0 = self._ours()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        m1 = machine_busy()
        _, c1, p1 = self._ours()
        # pids alive at the end (new ones from 0; a pid's figure includes its
        # reaped children, so workers that ended are in the daemon's), plus
        # our own reaped children (wrk, direct workers)
        ours = sum(p1[p] - self.p0.get(p, 0.0) for p in p1) + (c1 - self.c0)
        self.busy = m1[0] - self.m0[0]
        self.ours = max(0.0, ours)
        self.other = max(0.0, self.busy - self.ours)
        return False

    def text(self):
        w = max(self.wall, 1e-9)
        return "busy %.2f of %d CPUs (ours %.2f, other %.2f)" % (
            self.busy / w, os.cpu_count() or 0, self.ours / w, self.other / w)


# ---- daemons --------------------------------------------------------------------

class Daemon:
    """One `loralpha serve` on 127.0.0.1:0 with its own database; stopped by
    PID."""
    live = []

    def __init__(self, args, tmp, tag, max_workers, worker=None, max_runs=100000, extra=()):
        self.dir = os.path.join(tmp, tag)
        os.makedirs(self.dir, exist_ok=True)
        self.db = os.path.join(self.dir, "loralpha.db")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "serve.log")
        self.state = os.path.join(self.dir, "state")
        cmd = [args.loralpha, "serve", "--listen", "127.0.0.1:0", "--port-file",
               self.port_file, "--db", self.db, "--max-workers", str(max_workers),
               "--max-runs", str(max_runs), "--worker", worker or args.worker,
               "--state-dir", self.state] + list(extra)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        Daemon.live.append(self)
        deadline = time.monotonic() + 15
        self.port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("loralpha serve exited with %d:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            try:
                with open(self.port_file) as f:
                    txt = f.read().strip()
                with open(os.path.join(self.state, "token")) as f:
                    self.token = f.read().strip()
                if txt and self.token:
                    self.port = int(txt)
                    break
            except OSError:
                pass
            time.sleep(0.02)
        if self.port is None:
            self.stop()
            raise RuntimeError("loralpha serve did not start:\n" + self.log_tail())

    def log_tail(self, n=2000):
        try:
            with open(self.log_path) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def request(self, method, path, body=None, timeout=600):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body) if body is not None else None
            hdr = {"Content-Type": "application/json"} if body is not None else {}
            hdr["Authorization"] = "Bearer " + self.token
            c.request(method, path, body=data, headers=hdr)
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw.decode("utf-8", "replace")

    def children(self):
        return proc_children(self.pid)

    def stop(self):
        """SIGTERM (the daemon drains: workers stopped, runs queued), then
        SIGKILL after 30 s; workers left behind are killed by their PIDs."""
        if self.proc.poll() is None:
            kids = self.children()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass
        self.log.close()
        if self in Daemon.live:
            Daemon.live.remove(self)


def submit_and_wait(d, spec, poll=0.05):
    """POSTs spec to daemon d and polls until the sweep is no longer active;
    the sweep's id."""
    st, sw = d.request("POST", "/v1/sweeps", spec)
    if st != 201:
        raise RuntimeError("POST /v1/sweeps: %d %s" % (st, sw))
    while d.request("GET", "/v1/sweeps/%d" % sw["id"])[1]["state"] == "active":
        time.sleep(poll)
    return sw["id"]


def stop_all(*_):
    for d in list(Daemon.live):
        d.stop()


# ---- wrk ---------------------------------------------------------------------------

def run_wrk(args, url, duration, token):
    cmd = ["wrk", "-t%d" % args.wrk_threads, "-c%d" % args.connections,
           "-d%ds" % duration, "--latency", "-H", "Authorization: Bearer " + token,
           "-s", args.lua, url]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("DBENCH "):
            r = json.loads(line[7:])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            r["errors"] = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
            return r
    raise RuntimeError("wrk gave no result:\n" + p.stdout[-2000:])


def rows_written(d):
    st, txt = d.request("GET", "/metrics")
    for line in (txt or "").splitlines() if isinstance(txt, str) else []:
        if line.startswith("loralpha_rows_written_total "):
            return int(line.split()[1])
    return 0


def wait_busy(d, want, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, h = d.request("GET", "/v1/health")
        if st == 200 and h["workers_busy"] == want:
            return True
        time.sleep(0.1)
    return False


# ---- the four parts -------------------------------------------------------------

def part_api(args, tmp, rows, raw):
    if shutil.which("wrk") is None:
        print("api: wrk not found. Install it (Debian package `wrk`):\n"
              "    apt-get install -y wrk\n"
              "then run again; skipping the API figures.")
        rows.append(("API GET /v1/health req/s", None, ">= 20000", "skipped (no wrk)", ""))
        return
    args.lua = os.path.join(tmp, "daemon_bench.lua")
    with open(args.lua, "w") as f:
        f.write(WRK_LUA)
    d = Daemon(args, tmp, "api", max_workers=2)
    try:
        st, sw = d.request("POST", "/v1/sweeps", LONG_SWEEP)
        if st != 201:
            raise RuntimeError("POST /v1/sweeps: %d %s" % (st, sw))
        sid = sw["id"]
        if not wait_busy(d, 2):
            raise RuntimeError("the two workers did not start:\n" + d.log_tail())
        time.sleep(1.0)  # workers past their start-up
        base = "http://127.0.0.1:%d" % d.port
        targets = [("health", base + "/v1/health"), ("sweep", base + "/v1/sweeps/%d" % sid)]
        run_wrk(args, targets[0][1], 2, d.token)  # warm-up, not reported
        phases = [("2 workers training", True)]
        if not args.no_idle:
            phases.append(("idle (context)", False))
        for label, training in phases:
            if not training:
                d.request("POST", "/v1/sweeps/%d/cancel" % sid)
                wait_busy(d, 0)
                time.sleep(0.5)
            for name, url in targets:
                r0 = rows_written(d)
                pids = lambda: [d.pid] + d.children()
                c0 = sum(proc_stat(d.pid))
                with CpuWindow(pids) as w:
                    la = loadavg()
                    r = run_wrk(args, url, args.duration, d.token)
                c1 = sum(proc_stat(d.pid))
                r1 = rows_written(d)
                r.update(endpoint=name, phase=label, cpu=w.text(), loadavg=la,
                         rows_per_s=(r1 - r0) / w.wall,
                         daemon_cpu_us_per_req=1e6 * (c1 - c0) / max(1, r["requests"]))
                raw.append(dict(part="api", **r))
                path = "/v1/health" if name == "health" else "/v1/sweeps/{id}"
                note = "%s; %s; %d errors; daemon CPU %.1f us/req" % (
                    label, w.text(), r["errors"], r["daemon_cpu_us_per_req"])
                if training:
                    note += "; workers wrote %.0f rows/s" % r["rows_per_s"]
                tgt = training
                rows.append(("API GET %s req/s" % path, r["rps"], ">= 20000" if tgt else "",
                             verdict(r["rps"] >= TARGETS["api_rps"]) if tgt else "context",
                             note))
                rows.append(("API GET %s p99 ms" % path, r["p99_us"] / 1000.0,
                             "< 5" if tgt else "",
                             verdict(r["p99_us"] / 1000.0 < TARGETS["api_p99_ms"]) if tgt
                             else "context",
                             "p50 %.2f, p90 %.2f, p99.9 %.2f, max %.1f ms" % (
                                 r["p50_us"] / 1e3, r["p90_us"] / 1e3, r["p999_us"] / 1e3,
                                 r["max_us"] / 1e3)))
                print("api: %-6s %-20s %8.0f req/s  p99 %6.2f ms  (%s)" % (
                    name, label, r["rps"], r["p99_us"] / 1e3, w.text()), flush=True)
    finally:
        d.stop()


def part_store(args, tmp, rows, raw):
    exe = args.store_bin or os.path.join(args.build, "bench", "daemon_store")
    if not os.access(exe, os.X_OK):
        print("store: %s not found: include bench/daemon.cmake in bench/CMakeLists.txt "
              "and build (or pass --store-bin)." % exe)
        rows.append(("store rows/s", None, ">= 300000", "skipped (not built)", ""))
        return
    res = []
    for i in range(args.store_repeats):
        db = os.path.join(tmp, "store%d.db" % i)
        with CpuWindow(lambda: []) as w:
            la = loadavg()
            p = subprocess.run([exe, "--db", db, "--rows", str(args.store_rows),
                                "--batch", str(args.store_batch)],
                               stdout=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError("daemon_store failed (%d)" % p.returncode)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r.update(cpu=w.text(), loadavg=la)
        raw.append(dict(part="store", **r))
        res.append(r)
        print("store: %8.0f rows/s  (add %.2f s, flush %.2f s, batch p99 %.1f ms; %s)" % (
            r["rows_per_s"], r["add_s"], r["flush_s"], r["batch_ms_p99"], w.text()),
            flush=True)
    rps = [r["rows_per_s"] for r in res]
    med = statistics.median(rps)
    r = res[rps.index(min(rps, key=lambda x: abs(x - med)))]
    ipr = ", %s instr/row" % r["instr_per_row"] if r.get("instr_per_row") else ""
    rows.append(("store rows/s (add_record+flush)", med, ">= 300000",
                 verdict(med >= TARGETS["store_rows_per_s"]),
                 "median of %d x %d rows (min %.0f, max %.0f), batch %d; %s%s" % (
                     len(rps), r["rows"], min(rps), max(rps), r["batch"], r["cpu"], ipr)))
    rows.append(("store batch add+flush p99 ms", r["batch_ms_p99"], "", "context",
                 "p50 %.1f, max %.1f ms per %d-row flush (the event loop is blocked "
                 "this long); json_loadb alone %.0f rows/s" % (
                     r["batch_ms_p50"], r["batch_ms_max"], r["batch"],
                     r["parse_rows_per_s"])))


# A minimal launcher: dash forks itself and execs the worker, config on
# stdin, stdout to /dev/null, one lane per worker slot.
LANE_SH = 'for f in "$2"/*.json; do "$1" < "$f" > /dev/null || exit 1; done'


def direct_runs(args, tmp, configs, parallel):
    """Runs every config through loralpha-worker directly, `parallel` lanes
    at a time, each lane a /bin/sh loop; returns the wall time of all."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    lanes = []
    for k in range(parallel):
        lane = os.path.join(tmp, "direct%d" % k)
        os.makedirs(lane, exist_ok=True)
        lanes.append(lane)
    for i, cfg in enumerate(configs):
        with open(os.path.join(lanes[i % parallel], "%07d.json" % i), "w") as f:
            f.write(cfg + "\n")
    t0 = time.monotonic()
    procs = [subprocess.Popen(["/bin/sh", "-c", LANE_SH, "sh", args.worker, lane], env=env)
             for lane in lanes]
    rcs = [p.wait() for p in procs]
    t = time.monotonic() - t0
    for lane in lanes:
        shutil.rmtree(lane, ignore_errors=True)
    if any(rcs):
        raise RuntimeError("a direct worker run failed")
    return t


def sched_daemon_round(args, tmp, tag, spec, n):
    """One daemon with --max-workers 2 runs the sweep; returns its figures
    and the configs it ran (as the daemon hands them to the worker). One
    worker process per run (--worker-mode process), as the direct runs it
    is compared with: bench/sweep_bench.py measures warm workers."""
    d = Daemon(args, tmp, tag, max_workers=2, max_runs=max(n, 100000),
               extra=["--worker-mode", "process"])
    try:
        with CpuWindow(lambda: [d.pid] + d.children()) as w:
            la = loadavg()
            c0 = proc_stat(d.pid)
            t0 = time.time()
            st, sw = d.request("POST", "/v1/sweeps", spec)
            t_post = time.time() - t0
            if st != 201 or sw["runs"] != n:
                raise RuntimeError("POST /v1/sweeps: %d %s" % (st, sw))
            sid = sw["id"]
            deadline = time.monotonic() + args.sched_timeout
            while True:
                st, s = d.request("GET", "/v1/sweeps/%d" % sid)
                if s["state"] != "active":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("sweep not done after %d s" % args.sched_timeout)
                time.sleep(0.2)
            c1 = proc_stat(d.pid)
    finally:
        d.stop()
    db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    finished = db.execute("SELECT finished_at FROM sweeps WHERE id = ?", (sid,)).fetchone()[0]
    states = dict(db.execute(
        "SELECT state, COUNT(*) FROM runs WHERE sweep_id = ? GROUP BY state", (sid,)))
    busy, wall_s, attempts = db.execute(
        "SELECT SUM(finished_at - started_at), SUM(wall_s), SUM(attempts) FROM runs "
        "WHERE sweep_id = ?", (sid,)).fetchone()
    configs = []
    for rid, cfg in db.execute("SELECT id, config FROM runs WHERE sweep_id = ? ORDER BY id",
                               (sid,)):
        c = json.loads(cfg)
        c["threads"] = 1
        c["run_id"] = rid
        configs.append(json.dumps(c, separators=(",", ":")))
    db.close()
    if states.get("done", 0) != n:
        raise RuntimeError("sweep ended with %s" % states)
    r = dict(t_post_s=t_post, t_daemon_s=finished - t0, sum_slot_s=busy, sum_wall_s=wall_s,
             attempts=attempts, daemon_cpu_s=c1[0] - c0[0], worker_cpu_s=c1[1] - c0[1],
             cpu=w.text(), other=w.other / max(w.wall, 1e-9), loadavg=la)
    print("sched: %s: %d runs POST->done %.2f s (POST %.2f s), daemon CPU %.2f ms/run (%s)" % (
        tag, n, r["t_daemon_s"], t_post, 1e3 * r["daemon_cpu_s"] / n, w.text()), flush=True)
    return r, configs


def part_sched(args, tmp, rows, raw):
    """daemon, direct, daemon: the direct run is bracketed by two daemon runs
    so that load that comes and goes on the machine hits both sides."""
    n = args.sched_runs
    spec = tiny_sweep("bench-sched", n)
    r1, configs = sched_daemon_round(args, tmp, "sched1", spec, n)
    with CpuWindow(lambda: []) as w2:
        t_direct = direct_runs(args, tmp, configs, 2)
    print("sched: direct: %d runs %.2f s (%s)" % (n, t_direct, w2.text()), flush=True)
    r2, _ = sched_daemon_round(args, tmp, "sched2", spec, n)
    rs = [r1, r2]
    t_daemon = statistics.mean(r["t_daemon_s"] for r in rs)
    per = [1e3 * (r["t_daemon_s"] - t_direct) / n for r in rs]
    per_run = 1e3 * (t_daemon - t_direct) / n
    slot_gap = statistics.mean(1e3 * (r["t_daemon_s"] - r["sum_slot_s"] / 2.0) / n for r in rs)
    slot = statistics.mean(1e3 * r["sum_slot_s"] / n for r in rs)
    dcpu = statistics.mean(1e3 * r["daemon_cpu_s"] / n for r in rs)
    wcpu = statistics.mean(1e3 * r["worker_cpu_s"] / n for r in rs)
    raw.append(dict(part="sched", runs=n, daemon=rs, t_direct_s=t_direct,
                    cpu_direct=w2.text(), overhead_ms_per_run=per_run,
                    slot_gap_ms_per_run=slot_gap, daemon_cpu_ms_per_run=dcpu))
    print("sched: overhead (mean %.2f s - direct %.2f s) / %d = %.2f ms/run" % (
        t_daemon, t_direct, n, per_run), flush=True)
    rows.append(("sched overhead ms/run", per_run, "< 5",
                 verdict(per_run < TARGETS["sched_ms_per_run"]),
                 "(POST->done %.2f s [runs: %.2f, %.2f] - direct %.2f s) / %d = [%.2f, %.2f] "
                 "per round; other load %.2f, %.2f, %.2f CPUs (daemon, direct, daemon)" % (
                     t_daemon, r1["t_daemon_s"], r2["t_daemon_s"], t_direct, n, per[0],
                     per[1], r1["other"], w2.other / max(w2.wall, 1e-9), r2["other"])))
    rows.append(("sched slot gap ms/run", slot_gap, "", "context",
                 "(POST->done - sum(finished_at-started_at)/2) / N: time a worker slot sat "
                 "empty; a run holds its slot %.2f ms in the daemon vs %.2f ms direct" % (
                     slot, 2e3 * t_direct / n)))
    rows.append(("sched daemon CPU ms/run", dcpu, "", "context",
                 "the daemon process's own CPU per run (its workers: %.2f ms/run; POST "
                 "%.0f ms)" % (wcpu, 1e3 * statistics.mean(r["t_post_s"] for r in rs))))


def part_rss(args, tmp, rows, raw):
    n = args.rss_runs
    sleeper = os.path.join(tmp, "sleeping-worker.sh")
    with open(sleeper, "w") as f:
        f.write("#!/bin/sh\n# a worker that never finishes\nexec sleep 1000000\n")
    os.chmod(sleeper, 0o755)
    d = Daemon(args, tmp, "rss", max_workers=1, worker=sleeper, max_runs=max(n, 100000))
    try:
        m0 = proc_mem(d.pid)
        t0 = time.monotonic()
        st, sw = d.request("POST", "/v1/sweeps", tiny_sweep("bench-rss", n))
        t_post = time.monotonic() - t0
        if st != 201 or sw["runs"] != n:
            raise RuntimeError("POST /v1/sweeps: %d %s" % (st, sw))
        wait_busy(d, 1, 30)
        time.sleep(0.5)
        m1 = proc_mem(d.pid)
        lat = {}
        for name, path in (("sweep", "/v1/sweeps/%d" % sw["id"]), ("metrics", "/metrics"),
                           ("runs", "/v1/sweeps/%d/runs?state=queued&limit=1000" % sw["id"])):
            ts = []
            for _ in range(5):
                t = time.monotonic()
                d.request("GET", path)
                ts.append(1e3 * (time.monotonic() - t))
            lat[name] = statistics.median(ts)
        st, s = d.request("GET", "/v1/sweeps/%d" % sw["id"])
        m2 = proc_mem(d.pid)
    finally:
        d.stop()
    r = dict(part="rss", runs=n, before=m0, after_post=m1, after_reads=m2, post_s=t_post,
             get_ms=lat, counts=s.get("counts"))
    raw.append(r)
    print("rss: %d queued: VmRSS %.1f MiB (before %.1f), VmHWM %.1f MiB; POST %.2f s" % (
        n, m1["VmRSS"], m0["VmRSS"], m1["VmHWM"], t_post), flush=True)
    rows.append(("daemon VmRSS MiB, %d queued" % n, m1["VmRSS"], "< 64",
                 verdict(m1["VmRSS"] < TARGETS["rss_mib"]),
                 "before the POST %.1f MiB; after 15 GETs %.1f MiB; queued %s, running %s" % (
                     m0["VmRSS"], m2["VmRSS"], s["counts"]["queued"], s["counts"]["running"])))
    rows.append(("daemon VmHWM MiB (peak)", m2["VmHWM"], "< 64",
                 verdict(m2["VmHWM"] < TARGETS["rss_mib"]),
                 "peak, reached while POST /v1/sweeps expanded and stored the %d runs "
                 "(took %.2f s)" % (n, t_post)))
    rows.append(("GET with %d runs, ms" % n, lat["sweep"], "", "context",
                 "/v1/sweeps/{id} %.1f ms, /metrics %.1f ms, /runs?state=queued&limit=1000 "
                 "%.1f ms (median of 5, one at a time)" % (
                     lat["sweep"], lat["metrics"], lat["runs"])))


# ---- output ---------------------------------------------------------------------

def verdict(ok):
    return "ok" if ok else "MISSED"


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.2f" % v


def print_table(rows):
    head = ("figure", "measured", "target", "verdict", "conditions")
    cells = [head] + [(r[0], fmt(r[1]), r[2], r[3], r[4]) for r in rows]
    w = [max(len(c[i]) for c in cells) for i in range(4)]
    for k, c in enumerate(cells):
        print("%-*s  %*s  %-*s  %-*s  %s" % (w[0], c[0], w[1], c[1], w[2], c[2], w[3], c[3],
                                            c[4]))
        if k == 0:
            print("  ".join("-" * x for x in w) + "  " + "-" * 10)


def parse_common(ap):
    """Adds --tmp, --json and --keep to ap, parses, and sets args.loralpha
    and args.worker from args.build. The parsed args."""
    ap.add_argument("--tmp", default=None, help="where databases go (a new temporary dir)")
    ap.add_argument("--json", default=None, help="write every raw record to FILE (JSON lines)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.loralpha = os.path.join(args.build, "loralpha")
    args.worker = os.path.join(args.build, "loralpha-worker")
    return args


def run_parts(args, tmp, parts, table):
    """Runs each part named in parts (table: name -> fn(args, tmp, rows,
    raw)); then stops every daemon, writes the raw records to --json and
    removes tmp unless --keep. Returns the table rows."""
    rows, raw = [], []
    try:
        for p in parts:
            table[p](args, tmp, rows, raw)
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        stop_all()
        if args.json:
            with open(args.json, "w") as f:
                for r in raw:
                    f.write(json.dumps(r) + "\n")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="./build", help="build directory (./build)")
    ap.add_argument("--only", default="store,api,sched,rss",
                    help="which parts, comma-separated (store,api,sched,rss)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1)")
    ap.add_argument("--no-idle", action="store_true",
                    help="skip the idle-daemon API comparison")
    ap.add_argument("--store-rows", type=int, default=1000000)
    ap.add_argument("--store-batch", type=int, default=5000)
    ap.add_argument("--store-repeats", type=int, default=3)
    ap.add_argument("--store-bin", default=None, help="daemon_store (BUILD/bench/daemon_store)")
    ap.add_argument("--sched-runs", type=int, default=2000)
    ap.add_argument("--sched-timeout", type=int, default=900)
    ap.add_argument("--rss-runs", type=int, default=100000)
    args = parse_common(ap)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    need = [args.loralpha, args.worker] if set(parts) & {"api", "sched", "rss"} else []
    for exe in need:
        if not os.access(exe, os.X_OK):
            sys.exit("daemon_bench: %s not found; build first:\n"
                     "    cmake -S . -B build && cmake --build build -j2" % exe)
    tmp = tempfile.mkdtemp(prefix="daemon_bench_", dir=args.tmp)
    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(143)))

    print("daemon_bench: %s, %d CPUs (%s), Linux %s, load %s" % (
        platform.node(), os.cpu_count() or 0, cpu_model(), platform.release(), loadavg()))
    print("  build %s, databases in %s (%s)" % (args.build, tmp, fs_type(tmp)))
    t0 = time.monotonic()
    rows = run_parts(args, tmp, parts, {"api": part_api, "store": part_store,
                                        "sched": part_sched, "rss": part_rss})
    print()
    print("daemon_bench: %.0f s, %d CPUs, load average now %s; all figures from this run" % (
        time.monotonic() - t0, os.cpu_count() or 0, loadavg()))
    print_table(rows)
    missed = [r for r in rows if r[3] == "MISSED"]
    if missed:
        print("\n%d target(s) missed (see bench/daemon_README.md for where the time goes)"
              % len(missed))


def fs_type(path):
    """The file system type holding path (from /proc/mounts)."""
    best, typ = "", "?"
    path = os.path.realpath(path)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, t = line.split()[:3]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, typ = mnt, t
    except OSError:
        pass
    return typ


if __name__ == "__main__":
    main()
