#!/usr/bin/python3
"""Load on the daemon's HTTP side while a sweep runs.

    test_load.py --loralpha PATH --worker PATH [--seconds N] [--keep]

For N seconds (default 60) on loopback:
  - wrk (tests/reliability/load.lua, one connection per thread) sends a mix of good
    reads (health, sweeps, a sweep, its runs, a run with its curve, metrics)
    and bad API requests (unknown routes and ids, bad queries, malformed and
    invalid JSON, wrong methods and media types); every answer is checked
    against the status its request expects;
  - Python clients send what wrk cannot: garbage bytes, a header section
    over the limit, a body over the limit, a bad chunked body, a %00 path,
    truncated requests, and slow clients trickling one byte at a time (each
    must be answered 408 and cut off);
  - the daemon's VmRSS is sampled every second from /proc.
Asserts: no good request failed or went unanswered, every bad one got its
error, wrk saw no socket error, the daemon is alive, the sweep kept running
(runs finished during the load), and RSS is flat after the warm-up. Prints
requests per second, counts and RSS.

Extra header lines for wrk (e.g. an Authorization header) come from
LA_WRK_HEADERS, which the test passes through to tests/reliability/load.lua.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as hs
from harness import auth, log, wait_until

R = hs.R
HERE = os.path.dirname(os.path.abspath(__file__))
WRK_THREADS = 8
RSS_GROWTH_MB = 8.0


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []  # (seconds since start, kB)
        self.stop = False

    def run(self):
        t0 = time.monotonic()
        while not self.stop:
            v = rss_kb(self.pid)
            if v is not None:
                self.samples.append((time.monotonic() - t0, v))
            time.sleep(1.0)


# Protocol-level bad requests: (what, bytes, expected status or None for
# "no success answer, connection closed").
BAD_RAW = [
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)), 400),
    ("request line garbage", b"HELLO there\r\n\r\n", 400),
    ("header section over 16 KiB", b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(20)) + b"\r\n", 431),
    ("URL over 16 KiB", b"GET /" + b"u" * 17000 + b" HTTP/1.1\r\n\r\n", 431),
    ("body over the limit", b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Type: "
     b"application/json\r\nContent-Length: 99999999\r\n\r\n{", 413),
    ("bad chunk size", b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
    ("%00 in the path", b"GET /v1/health%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("Content-Length and chunked", b"POST /v1/sweeps HTTP/1.1\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n3\r\n{}x\r\n0\r\n\r\n", 400),
    ("truncated headers, then close", b"GET /v1/health HTTP/1.1\r\nHost: x\r\n", None),
]


class BadClients(threading.Thread):
    """Sends BAD_RAW in turn until stopped; counts answers as expected."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = False
        self.sent = 0
        self.ok = 0
        self.wrong = []

    def run(self):
        i = 0
        while not self.stop:
            what, data, status = BAD_RAW[i % len(BAD_RAW)]
            i += 1
            try:
                out = hs.raw_exchange(self.port, data, timeout=5, close_write=status is None)
            except OSError as e:
                out = repr(e).encode()
            resps = hs.parse_responses(out) if out.startswith(b"HTTP/") else []
            self.sent += 1
            if status is None:
                good = all(s in (400, 408) for s, _, _ in resps)
            else:
                good = len(resps) >= 1 and resps[0][0] == status
            if good:
                self.ok += 1
            elif len(self.wrong) < 5:
                self.wrong.append((what, status, out[:200]))


def slow_loris(port, n, out):
    """n clients trickling one byte every 0.2 s; each result to out."""
    socks = []
    msg = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 500 + b"\r\n\r\n"
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        socks.append([s, 0, b"", None])
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20 and any(x[3] is None for x in socks):
        for x in socks:
            s, i, got, end = x
            if end is not None:
                continue
            try:
                if i < len(msg):
                    s.send(msg[i:i + 1])
                    x[1] += 1
            except OSError:
                pass
            try:
                c = s.recv(65536)
                if c:
                    x[2] += c
                else:
                    x[3] = time.monotonic() - t0
            except BlockingIOError:
                pass
            except OSError:
                x[3] = time.monotonic() - t0
        time.sleep(0.2)
    for s, i, got, end in socks:
        resps = hs.parse_responses(got)
        out.append((resps[0][0] if resps else None, end, i))
        s.close()


def wrk_env(port, sid, run_id):
    env = dict(os.environ)
    env["LA_WRK_HEADERS"] = "".join(f"{k}: {v}\n" for k, v in auth(port).items())
    env["LA_LOAD_SWEEP"] = str(sid)
    env["LA_LOAD_RUN"] = str(run_id)
    return env


def parse_load(text):
    line = next((x for x in text.splitlines() if x.startswith("LOAD ")), None)
    if line is None:
        return None
    head, _, first = line[5:].partition(" first=")
    vals = dict(kv.split("=", 1) for kv in head.split())
    vals = {k: int(v) for k, v in vals.items()}
    vals["first"] = first
    return vals


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--no-rss", action="store_true",
                    help="do not require a flat RSS (sanitizer builds hold freed memory)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("test_load.py: wrk not found (apt-get install wrk)", file=sys.stderr)
        return 1
    ctx = hs.Ctx(args)
    t_start = time.monotonic()
    try:
        # one run per worker: the sweep must outlast the load however fast
        # packs would train it
        d = hs.Daemon(ctx, "load", ctx.path("load.db"), 2,
                      extra=["--request-timeout", "2", "--pack-max", "1"])
        first = d.submit(hs.make_spec("warm", [1], [1.0], [0.003], 3000, task=hs.WIDE_TASK,
                                      batch=64, metrics={"log_every": 1, "eval_every": 100,
                                                         "spectra_every": 1000,
                                                         "sharpness": False}), "warm sweep")
        d.wait_sweep(first, 60, what="warm sweep")
        run_id = d.get(f"/v1/sweeps/{first}/runs").json["runs"][0]["id"]
        log(f"GET /v1/runs/{run_id}: {len(d.get(f'/v1/runs/{run_id}').body)} bytes")
        # the sweep that runs during the load: 2 workers busy for longer than it
        sid = d.submit(hs.make_spec("busy", [1, 2, 4, 8], [1.0, 4.0, 16.0], [0.003], 100000,
                                    seeds=3, task=hs.WIDE_TASK, batch=64,
                                    metrics={"log_every": 20, "eval_every": 500,
                                             "spectra_every": 5000, "sharpness": False}),
                       "busy sweep")
        wait_until(lambda: (d.sweep(sid) or {}).get("counts", {}).get("running") == 2, 20)
        done0 = (d.sweep(sid) or {}).get("counts", {}).get("done", 0)
        rows0 = d.metrics()[0].get("loralpha_rows_written_total", 0)

        sampler = Sampler(d.proc.pid)
        sampler.start()
        bad = BadClients(d.port)
        bad.start()
        loris = []
        loris_threads = []

        def loris_waves():
            # a wave of 20 slow clients every 15 s
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.seconds - 15:
                th = threading.Thread(target=slow_loris, args=(d.port, 20, loris), daemon=True)
                th.start()
                loris_threads.append(th)
                time.sleep(15)
        waves = threading.Thread(target=loris_waves, daemon=True)
        waves.start()
        cmd = [wrk, "-t", str(WRK_THREADS), "-c", str(WRK_THREADS), "-d", f"{args.seconds}s",
               "--timeout", "5s", "-s", os.path.join(HERE, "load.lua"),
               f"http://127.0.0.1:{d.port}"]
        log(" ".join(cmd))
        p = subprocess.run(cmd, capture_output=True, text=True, env=wrk_env(d.port, first, run_id),
                           timeout=args.seconds + 60)
        bad.stop = True
        waves.join(30)
        for th in loris_threads:
            th.join(30)
        bad.join(30)
        sampler.stop = True
        sampler.join(5)
        print(p.stdout)
        R.eq(p.returncode, 0, "wrk exits 0")
        load = parse_load(p.stdout)
        R.check(load is not None, "wrk's script printed its counts", "LOAD ...", p.stdout + p.stderr)
        load = load or {}
        secs = load.get("duration_us", 1) / 1e6
        total = load.get("good_ok", 0) + load.get("good_bad", 0) + load.get("bad_ok", 0) + \
            load.get("bad_bad", 0)
        R.eq(load.get("good_bad"), 0, "wrk: no good request answered with another status")
        R.eq(load.get("bad_bad"), 0, "wrk: every bad request answered with its error status")
        # a floor for "the load was real" that holds on a slow (sanitizer)
        # build on a busy machine: what a 20 s window gives is not the point
        floor = 1000 / hs.TIME_SCALE
        R.check(load.get("good_ok", 0) > floor and load.get("bad_ok", 0) > floor,
                f"wrk: over {floor:.0f} good and {floor:.0f} bad requests answered",
                f"> {floor:.0f} each", load)
        R.eq([load.get(k) for k in ("connect", "read", "write", "timeout")], [0, 0, 0, 0],
             "wrk: no connect, read, write or timeout error")
        R.check(total >= load.get("requests", 0) - WRK_THREADS,
                "wrk: every request sent was answered (but the last in flight per connection)",
                load.get("requests"), total)
        R.eq(bad.wrong, [], "Python bad clients: each answered as expected")
        R.check(bad.sent > 20, "Python bad clients sent requests throughout", "> 20", bad.sent)
        R.check(loris and all(st == 408 and end is not None and end < hs.scaled(6)
                              for st, end, _ in loris),
                "slow clients: each answered 408 and cut off within ~2 s (--request-timeout 2)",
                f"408 within {hs.scaled(6):g} s", loris[:5])
        R.check(d.proc.poll() is None, "the daemon is alive after the load", "running",
                d.proc.returncode)
        R.eq(d.get("/v1/health").status, 200, "GET /v1/health after the load")
        done1 = (d.sweep(sid) or {}).get("counts", {}).get("done", 0)
        rows1 = d.metrics()[0].get("loralpha_rows_written_total", 0)
        R.check(rows1 > rows0 and (d.sweep(sid) or {}).get("counts", {}).get("running") == 2,
                "the sweep kept running under load (2 runs running, metric rows committed)",
                f"> {rows0:.0f} rows", (rows1, (d.sweep(sid) or {}).get("counts")))
        s = sampler.samples
        warm = [v for t, v in s if t >= 10]
        R.check(len(warm) >= 5, "RSS sampled after the warm-up", ">= 5 samples", s)
        if warm and not args.no_rss:
            growth = (max(warm) - warm[0]) / 1024
            R.check(growth < RSS_GROWTH_MB, f"RSS flat after the warm-up (growth < {RSS_GROWTH_MB} MB)",
                    f"< {RSS_GROWTH_MB} MB", f"{growth:.1f} MB: {s}")
        rate = total / secs if secs else 0
        print(f"load: {total} requests in {secs:.1f} s ({rate:.0f} req/s) over {WRK_THREADS} "
              f"connections: {load.get('good_ok')} good answered 200, {load.get('bad_ok')} bad "
              f"answered with their 4xx; latency p50 {load.get('p50_us', 0) / 1000:.2f} ms, "
              f"p99 {load.get('p99_us', 0) / 1000:.2f} ms, max {load.get('max_us', 0) / 1000:.1f} ms; "
              f"{bad.ok}/{bad.sent} malformed requests and {len(loris)} slow clients answered "
              f"as expected; sweep runs done {done0} -> {done1}, metric rows committed "
              f"{rows1 - rows0:.0f}; VmRSS "
              f"{s[0][1] / 1024 if s else 0:.1f} MB at start, {warm[0] / 1024 if warm else 0:.1f} "
              f"MB at 10 s, {max(warm) / 1024 if warm else 0:.1f} MB max after, "
              f"{s[-1][1] / 1024 if s else 0:.1f} MB at the end")
        R.eq(d.stop(), 0, "daemon exits 0")
    except Exception as e:
        R.check(False, "test ran to the end", "no exception", f"{e!r}\n{traceback.format_exc()}")
    finally:
        ctx.cleanup(args.keep)
    log(f"total {time.monotonic() - t_start:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
