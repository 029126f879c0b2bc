"""harness.py: what the Python end-to-end tests share.

Results counts checks, prints every failure with what was expected and what
was seen, and its summary() is the closing `N passed, M failed` line; R is
the running test's. log() prints a timestamped line; wait_until() polls,
wait_port() and wait_socket() wait for a daemon to listen. state_args() gives
a daemon a state directory of its own (its Unix socket and token), and
register_token() / auth() supply the token on TCP requests. request() and
raw_exchange() talk HTTP to a daemon; cli() reads its database with the
sqlite3 CLI. Daemon starts `loralpha serve` for a test (Ctx holds the
binaries, the temporary directory and every daemon started, for cleanup);
make_spec() and expected_rows() build sweeps and count their rows.

Deadlines: every wait here (wait_until and what uses it, a daemon's stop)
is multiplied by LA_TEST_TIME_SCALE (default 1), for slow machines and
builds; scaled() applies it to a test's own deadlines. A wait for work that
takes time (wait_progress(), Daemon.wait_sweep()) bounds the time without
progress, not the whole wait: a machine busy with other work slows runs
down, it does not stop them.
"""
import http.client
import json
import argparse
import sys
import os
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time
import traceback

# Bearer tokens of the daemons a test started, by TCP port.
TOKENS = {}


def _time_scale():
    s = os.environ.get("LA_TEST_TIME_SCALE", "1")
    try:
        v = float(s)
    except ValueError:
        v = 0
    if not 1 <= v <= 100:
        raise SystemExit(f"LA_TEST_TIME_SCALE must be a number from 1 to 100, got {s!r}")
    return v


TIME_SCALE = _time_scale()


def scaled(seconds):
    """A deadline in seconds, times LA_TEST_TIME_SCALE."""
    return seconds * TIME_SCALE


def short(v, n=800):
    """v as text, cut to n characters."""
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


class Results:
    """Thread-safe pass/fail counts; `case` prefixes failures when set."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.case = ""

    def check(self, ok, what, expected=None, actual=None):
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
                where = f"[{self.case}] " if self.case else ""
                print(f"FAIL {where}{what}\n    expected: {short(expected)}"
                      f"\n    actual:   {short(actual)}", flush=True)
        return ok

    def eq(self, actual, expected, what):
        return self.check(actual == expected, what, expected, actual)

    def summary(self):
        """Prints `N passed, M failed`; returns the exit code."""
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_until(fn, timeout, interval=0.05):
    """Polls fn until it returns a true value; returns it, or None at the
    deadline (timeout seconds, scaled)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_progress(fn, progress, stall, interval=0.1, cap=10):
    """Polls fn until it returns a true value; returns it. Gives up (None)
    when progress() has returned the same value for stall seconds (scaled),
    or after cap times stall in all: progress() is what the awaited work
    changes as it advances (rows written, runs finished)."""
    start = time.monotonic()
    last, since, looked = progress(), start, start
    while True:
        v = fn()
        if v:
            return v
        now = time.monotonic()
        if now - looked >= 1:  # progress() may cost more than fn()
            p, looked = progress(), now
            if p != last:
                last, since = p, now
        if now - since >= scaled(stall) or now - start >= scaled(stall) * cap:
            return None
        time.sleep(interval)


def wait_port(proc, port_file, timeout=15):
    """The port a `serve --port-file` daemon wrote (a whole line), or None
    if proc exited first or the timeout passed."""
    def ready():
        if proc.poll() is not None:
            return "exited"
        try:
            with open(port_file) as f:
                s = f.read()
        except OSError:
            return None
        return s if s.endswith("\n") else None
    got = wait_until(ready, timeout, 0.02)
    return None if got in (None, "exited") else int(got)


def wait_socket(proc, path, timeout=30):
    """True once the Unix socket at path accepts a connection; False if
    proc exited first or the timeout passed."""
    def ready():
        if proc.poll() is not None:
            return "exited"
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()
    return wait_until(ready, timeout, 0.05) is True


def state_args(tmp, tag):
    """`serve` flags giving a daemon its own state directory under tmp."""
    return ["--state-dir", os.path.join(tmp, f"state.{tag}")]


def read_token(argv, timeout=10):
    """The token the daemon started with argv wrote in its state dir."""
    state = argv[argv.index("--state-dir") + 1]
    path = os.path.join(state, "token")

    def ready():
        try:
            with open(path) as f:
                t = f.read().strip()
            return t if len(t) == 64 else None
        except OSError:
            return None
    tok = wait_until(ready, timeout, 0.02)
    if tok is None:
        raise RuntimeError(f"no token in {path}")
    return tok


def register_token(port, token):
    TOKENS[port] = token


def auth(port, headers=None):
    """headers plus the Authorization of the daemon on port (unless headers
    set one already; None as its value sends none)."""
    h = dict(headers or {})
    if "Authorization" not in h and port in TOKENS:
        h["Authorization"] = f"Bearer {TOKENS[port]}"
    return {k: v for k, v in h.items() if v is not None}


def auth_raw(port, data):
    """A raw request (bytes) with the Authorization header of the daemon on
    port added after each request's Host header."""
    if port not in TOKENS:
        return data
    return data.replace(b"\r\nHost: ", b"\r\nAuthorization: Bearer %s\r\nHost: "
                        % TOKENS[port].encode())


# ---- daemons, HTTP and the database -------------------------------------------

SQLITE3 = "/usr/bin/sqlite3"
STATES = ["queued", "running", "done", "failed", "diverged", "cancelled"]

# The running test's results (Daemon's checks count here too).
R = Results()


# ---- processes ---------------------------------------------------------------


def proc_stat(pid):
    """(state, ppid) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rfind(")") + 2:].split()
    return rest[0], int(rest[1])


def children_of(ppid, include_zombies=False):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = proc_stat(d)
        if st and st[1] == ppid and (include_zombies or st[0] != "Z"):
            out.append(int(d))
    return sorted(out)


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def freeze(pid, timeout=15):
    """SIGSTOPs pid and waits until every thread of it is stopped (state T
    in /proc/PID/task/*/stat): a signal is delivered when a thread next
    leaves the kernel, so a write under way when kill() returns may still
    land. Once all are stopped the process runs no code and writes nothing.
    True when stopped; False (and SIGCONT) at the deadline."""
    os.kill(pid, signal.SIGSTOP)

    def stopped():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return False
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    s = f.read()
            except OSError:  # a thread that ended
                continue
            if s[s.rfind(")") + 2] not in "tT":
                return False
        return True
    if wait_until(stopped, timeout, 0.002):
        return True
    os.kill(pid, signal.SIGCONT)
    return False


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


# ---- HTTP --------------------------------------------------------------------


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def request(port, method, path, body=None, headers=None, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = auth(port, headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.getheaders(), data)
    finally:
        conn.close()


def raw_exchange(port, data, timeout=5.0, close_write=False):
    """Sends data on a fresh connection, returns every byte received until
    the server closes or the timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        if data:
            s.sendall(auth_raw(port, data))
        if close_write:
            s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def parse_responses(data, heads=()):
    """Splits raw bytes into responses [(status, headers, body)]; requests
    whose index is in heads were HEAD (no body despite Content-Length)."""
    out = []
    i = 0
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        head = data[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        hdrs = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = 0 if i in heads or status in (100, 204, 304) else int(hdrs.get("content-length", "0"))
        body = data[end + 4:end + 4 + n]
        data = data[end + 4 + n:]
        if status != 100:
            out.append((status, hdrs, body))
            i += 1
    return out


def error_shape(body):
    """(code, message) of an error body, or None if it is not the shape."""
    try:
        j = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(j, dict) or list(j.keys()) != ["error"]:
        return None
    e = j["error"]
    if not isinstance(e, dict) or set(e.keys()) != {"code", "message"}:
        return None
    if not isinstance(e["code"], str) or not isinstance(e["message"], str):
        return None
    return e["code"], e["message"]


def prom(text):
    """Prometheus text into {name or name{labels}: float}, and the names
    that have HELP and TYPE lines."""
    vals, meta = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            meta.add((line[2:6], line.split()[2]))
            continue
        if not line or line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        vals[k] = float(v)
    return vals, meta


# ---- the sqlite3 CLI ---------------------------------------------------------


def cli(db, sql, attach=None):
    """Runs sql with the sqlite3 CLI; rows as dicts (JSON mode)."""
    cmd = [SQLITE3, "-json", "-cmd", ".timeout 10000"]
    if attach:
        cmd += ["-cmd", f"ATTACH '{attach}' AS ref"]
    cmd += [db, sql]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(60))
    if p.returncode != 0:
        raise RuntimeError(f"sqlite3 {sql!r}: {p.stderr.strip()}")
    out = p.stdout.strip()
    return json.loads(out) if out else []


def cli_val(db, sql, attach=None):
    rows = cli(db, sql, attach)
    return next(iter(rows[0].values())) if rows else None


# ---- daemons -----------------------------------------------------------------


class Daemon:
    """`loralpha serve` started for a test on 127.0.0.1 with a free port (read
    from its --port-file), with a state directory (its token), a log file and a
    working directory under ctx.tmp; it answers /v1/health when this
    returns. Options: db (NAME.db in ctx.tmp if None), workers
    (--max-workers), worker (another loralpha-worker), extra (more serve
    flags), config (a dict written to a file given as --config), env (the
    daemon's environment), state (its state directory), expect_fail (the
    daemon is to exit: waited for, its code in proc.returncode), port (a
    given one instead of a free one)."""
    count = 0

    def __init__(self, ctx, name, db=None, workers=2, worker=None, extra=(), config=None,
                 env=None, state=None, expect_fail=False, port=0):
        Daemon.count += 1
        self.ctx = ctx
        self.name = name
        self.db = db or os.path.join(ctx.tmp, f"{name}.db")
        self.workers = workers
        self.port_file = os.path.join(ctx.tmp, f"port.{Daemon.count}")
        self.log_path = os.path.join(ctx.tmp, f"daemon.{Daemon.count}.{name}.log")
        self.state = state or os.path.join(ctx.tmp, f"state.{Daemon.count}.{name}")
        self.known_children = set()
        self.port = None
        cmd = [ctx.loralpha, "serve", "--listen", f"127.0.0.1:{port}", "--port-file",
               self.port_file, "--db", self.db, "--worker", worker or ctx.worker,
               "--max-workers", str(workers), "--state-dir", self.state]
        if config is not None:
            path = os.path.join(ctx.tmp, f"config.{Daemon.count}.{name}.json")
            with open(path, "w") as f:
                json.dump(config, f)
            cmd += ["--config", path]
        cmd += list(extra)
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, cwd=ctx.tmp, env=env)
        ctx.daemons.append(self)
        if expect_fail:
            self.wait(30)
            return
        self.port = wait_port(self.proc, self.port_file, 30)
        if self.port is None:
            raise RuntimeError(f"daemon {name} did not start: {self.log_tail()}")
        self.token = read_token(cmd)
        register_token(self.port, self.token)
        r = wait_until(lambda: self._health_ok(), 10)
        if not r:
            raise RuntimeError(f"daemon {name} does not answer /v1/health")

    def wait(self, timeout=15):
        """The exit code of a daemon that is to exit by itself; None if it
        still runs after timeout seconds (scaled)."""
        try:
            self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            return None
        self.logf.close()
        return self.proc.returncode

    def _health_ok(self):
        try:
            return request(self.port, "GET", "/v1/health", timeout=2).status == 200
        except OSError:
            return False

    def log_tail(self, n=2000):
        try:
            with open(self.log_path) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def req(self, method, path, body=None, headers=None, timeout=15):
        return request(self.port, method, path, body, headers, timeout)

    def get(self, path):
        return self.req("GET", path)

    def submit(self, spec, what="submit"):
        r = self.req("POST", "/v1/sweeps", spec)
        ok = R.check(r.status == 201 and r.json and isinstance(r.json.get("id"), int),
                     f"{what}: POST /v1/sweeps answers 201 with an id", "201 {id...}", r)
        if not ok:
            raise RuntimeError(f"{what}: sweep not accepted")
        return r.json["id"]

    def sweep(self, sid):
        r = self.get(f"/v1/sweeps/{sid}")
        return r.json if r.status == 200 else None

    def sweep_progress(self, sid):
        """What a sweep's work changes as it advances: its runs' states and
        the rows of its curves (read from the database file; None when it
        cannot be read)."""
        try:
            con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            try:
                return con.execute(
                    "SELECT (SELECT group_concat(state || ':' || attempts) FROM runs"
                    " WHERE sweep_id = ?1),"
                    " (SELECT COUNT(*) FROM curve WHERE run_id IN"
                    " (SELECT id FROM runs WHERE sweep_id = ?1))", (sid,)).fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return None

    def wait_sweep(self, sid, timeout, states=("done",), what="sweep"):
        """Waits for the sweep to reach one of states; the sweep JSON. It
        fails when the sweep has made no progress (sweep_progress) for
        timeout seconds (scaled), or after ten times that in all."""
        last = [None]

        def check():
            if self.proc.poll() is not None:
                return "dead"
            s = self.sweep(sid)
            last[0] = s
            return s if s and s["state"] in states else None

        s = wait_progress(check, lambda: self.sweep_progress(sid), timeout, 0.1)
        if s == "dead":
            R.check(False, f"{what}: daemon alive while waiting for sweep {sid}",
                    "running daemon", f"exited {self.proc.returncode}: {self.log_tail()}")
            raise RuntimeError("daemon died")
        R.check(s is not None,
                f"{what}: sweep {sid} reaches {states} (no progress for {timeout} s)",
                states, last[0] and (last[0]["state"], last[0]["counts"]))
        if s is None:
            raise RuntimeError(f"{what}: timeout")
        return s

    def children(self):
        kids = children_of(self.proc.pid)
        self.known_children.update(kids)
        return kids

    def metrics(self):
        r = self.get("/metrics")
        return prom(r.body.decode()) if r.status == 200 else ({}, set())

    def stop(self, timeout=15, sig=signal.SIGTERM):
        """SIGTERM (or sig), wait; SIGKILL after the timeout. Returns the exit
        code."""
        if self.proc.poll() is None:
            self.children()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.kill()
        self.logf.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.children()
            self.proc.kill()
            self.proc.wait()
        for pid in self.known_children:
            if alive(pid):
                kill_pid(pid)
        self.logf.close()


class Ctx:
    """A test's binaries (args.loralpha, args.worker if given), its temporary
    directory and the daemons it started; cleanup() ends them all and every
    process left with its working directory there."""

    def __init__(self, args):
        self.loralpha = os.path.abspath(args.loralpha)
        worker = getattr(args, "worker", None)
        self.worker = os.path.abspath(worker) if worker else None
        self.tmp = tempfile.mkdtemp(prefix="loralpha-daemon-test-")
        self.daemons = []

    def path(self, name):
        return os.path.join(self.tmp, name)

    def cleanup(self, keep):
        for d in self.daemons:
            try:
                if d.proc.poll() is None:
                    d.children()
                    d.proc.kill()
                    d.proc.wait()
                for pid in d.known_children:
                    if alive(pid):
                        kill_pid(pid)
            except Exception:  # keep cleaning
                pass
        # Orphaned workers of killed daemons: processes started in our dir.
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.readlink(f"/proc/{p}/cwd") == self.tmp and int(p) != os.getpid():
                        kill_pid(int(p))
                except OSError:
                    pass
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---- specs and expected row counts --------------------------------------------

TINY_TASK = {"task": "teacher", "d_in": 16, "d_out": 16, "n_train": 256, "n_eval": 64}
WIDE_TASK = {"task": "teacher", "d_in": 64, "d_out": 64, "n_train": 1024, "n_eval": 256}


def make_spec(name, ranks, alphas, lrs, steps, seeds=1, task=None, batch=32,
              metrics=None, **top):
    s = {"name": name, "task": dict(task or TINY_TASK),
         "grid": {"rank": ranks, "alpha": alphas, "lr": lrs},
         "seeds": seeds, "steps": steps, "batch": batch}
    if metrics is not None:
        s["metrics"] = metrics
    s.update(top)
    return s


def long_spec(name, n_runs, steps, log_every=200, **top):
    """Runs on the wider task: ~20 µs a step, little output."""
    return make_spec(name, [1, 2, 4, 8][:min(n_runs, 4)] if n_runs <= 4 else [4],
                     [1.0], [0.001], steps,
                     seeds=1 if n_runs <= 4 else n_runs, task=WIDE_TASK, batch=64,
                     metrics={"log_every": log_every, "eval_every": 10000,
                              "spectra_every": 0, "sharpness": False}, **top)


def expected_rows(steps, log_every=1, eval_every=10, spectra_every=50,
                  sharpness=True, sharpness_every=0):
    """Records of a run that does not diverge, as docs/worker.md defines."""
    def every(k, n):
        return n > 0 and k % n == 0
    ks = range(1, steps + 1)
    train = sum(1 for k in ks if every(k, log_every) or k == steps)
    ev = 1 + sum(1 for k in ks if every(k, eval_every) or k == steps)
    spectra = sum(1 for k in ks if every(k, spectra_every) or k == steps)
    sharp = (1 + sum(1 for k in ks if every(k, sharpness_every) or k == steps)
             if sharpness else 0)
    return {"train": train, "eval": ev, "spectra": spectra, "sharpness": sharp}


def cases_main(doc, cases):
    """The main of a test file made of cases: --loralpha, --worker, --keep
    and --only (a case runs when its name contains it); runs them with
    run_cases and returns its exit code (2 when a binary is missing)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    args = ap.parse_args()
    for p in (args.loralpha, args.worker):
        if not os.access(p, os.X_OK):
            print(f"{os.path.basename(sys.argv[0])}: {p} is not executable", file=sys.stderr)
            return 2
    return run_cases(Ctx(args), cases, args.only, args.keep)


def run_cases(ctx, cases, only="", keep=False):
    """Runs each (name, fn) of cases whose name contains only as fn(ctx): an
    exception fails that case and the next one runs; daemons a case left
    running are killed after it. Cleans ctx up (keeps its directory when
    keep). Returns the exit code of R.summary()."""
    t_start = time.monotonic()
    try:
        for name, fn in cases:
            if only and only not in name:
                continue
            R.case = name
            t0 = time.monotonic()
            log(f"case {name}")
            try:
                fn(ctx)
            except Exception as e:
                R.check(False, "case ran to the end", "no exception",
                        f"{e!r}\n{traceback.format_exc()}")
            for dmn in ctx.daemons:
                if dmn.proc.poll() is None:
                    dmn.kill()
            log(f"case {name}: {time.monotonic() - t0:.1f} s")
    finally:
        ctx.cleanup(keep)
        if keep:
            print(f"kept {ctx.tmp}")
    log(f"total {time.monotonic() - t_start:.1f} s")
    return R.summary()


# ---- sweep windows and data files -----------------------------------------------


def hhmm(minutes):
    """A minute of the day as "HH:MM"."""
    minutes %= 1440
    return "%02d:%02d" % (minutes // 60, minutes % 60)


def now_minute():
    t = time.localtime()
    return t.tm_hour * 60 + t.tm_min


def closed_window(outside="finish"):
    """A window that opens in two hours: closed now."""
    m = now_minute()
    return {"start": hhmm(m + 120), "end": hhmm(m + 180), "outside": outside}


def open_window(outside="finish"):
    """A window that opened an hour ago: open now."""
    m = now_minute()
    return {"start": hhmm(m - 60), "end": hhmm(m + 120), "outside": outside}


def write_npy(path, shape, values=None):
    """A little-endian float32 .npy file (format 1.0) of shape holding
    values (row-major), no numpy needed; without values all zeros, as a
    sparse file (no disk used)."""
    head = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(head) + 1) % 64
    head = head + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode())
        if values is not None:
            f.write(struct.pack(f"<{len(values)}f", *values))
        else:
            n = 4
            for s in shape:
                n *= s
            f.truncate(f.tell() + n)
