#!/usr/bin/python3
"""End-to-end tests of the loralpha command-line client (docs/cli.md)
against a real daemon, and against fake ones (on TCP and on a Unix socket)
that answer oddly or record what the client sends.

    test_cli.py --loralpha PATH --worker PATH [--cli PATH] [--keep]

--loralpha runs `serve`; --cli (default: the --loralpha path) runs the
client commands. Starts its own daemon on 127.0.0.1 with port 0 and its
socket and token in a temporary state directory, and stops it by PID at
the end. The client always runs with LORALPHA_STATE_DIR set to a directory
of the test, so it never finds the user's own daemon. Prints each failure
with what was expected and what was found, and ends with the line
`N passed, M failed`. Exits non-zero on any failure. Standard library only.
"""
import argparse
import csv
import http.client
import http.server
import io
import json
import math
import os
import pty
import pwd
import re
import select
import shutil
import signal
import socket
import socketserver
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Results, closed_window, log, scaled, wait_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
CLI_C = os.path.join(HERE, "..", "..", "client", "cli.c")
STATES = ["queued", "running", "done", "failed", "diverged", "cancelled"]
RUN_CSV_COLS = ["sweep_id", "id", "idx", "rank", "alpha", "lr", "seed_index", "seed", "state",
                "attempts", "steps_done", "final_train_loss", "final_eval_loss", "best_eval_loss",
                "best_step", "wall_s", "started_at", "finished_at", "error"]
CSV_HEADER = ["step", "kind", "loss", "lr", "grad_norm_a", "grad_norm_b", "update_norm"]

# ---- results -------------------------------------------------------------


R = Results()


# ---- specs ---------------------------------------------------------------

# 4 ranks x 9 alphas x 2 seeds = 72 runs, a few seconds on two workers.
QUICK = {"name": "quick", "description": "the cli test's quick sweep",
         "task": {"task": "teacher", "d_in": 128, "d_out": 128, "n_train": 2048, "n_eval": 512,
                  "target_rank": 8, "target_scale": 2.0, "input_decay": 0.5, "noise": 0.01},
         "grid": {"rank": [1, 2, 4, 8], "alpha": {"log2": [0, 8], "num": 9}, "lr": [0.001]},
         "seeds": 2, "seed": 1, "steps": 300, "batch": 64,
         "metrics": {"log_every": 10, "eval_every": 50, "spectra_every": 100, "sharpness": False}}

SMALL = {"name": "small", "task": {"task": "teacher", "d_in": 32, "d_out": 32},
         "grid": {"rank": [1, 2], "alpha": [1, 4, 16], "lr": [0.001]},
         "steps": 50, "metrics": {"log_every": 5, "eval_every": 10, "sharpness": False}}

LONG = {"name": "long", "task": {"task": "teacher", "d_in": 64, "d_out": 64},
        "grid": {"rank": [1, 2], "alpha": [1, 2, 4, 8], "lr": [0.001]},
        "steps": 100000000,
        "metrics": {"log_every": 1000, "eval_every": 1000, "spectra_every": 100000,
                    "sharpness": False}}

# 1100 runs: more than one page of GET /v1/sweeps/{id}/runs.
PAGES = {"name": "pages", "task": {"task": "teacher", "d_in": 8, "d_out": 8},
         "grid": {"rank": [1], "alpha": {"log2": [0, 10], "num": 1100}, "lr": [0.001]},
         "steps": 1, "metrics": {"sharpness": False}}

# Numbers whose "%.17g" form is long: 0.0003 prints as 0.00029999999999999997.
NUMS = {"name": "nums", "task": {"task": "teacher", "d_in": 16, "d_out": 16},
        "grid": {"rank": [1], "alpha": [0.1, 0.3], "lr": [0.0003]},
        "steps": 20, "metrics": {"log_every": 5, "eval_every": 10, "sharpness": False}}

BAD_RANK = {"name": "bad", "task": {"task": "teacher", "d_in": 64, "d_out": 64},
            "grid": {"rank": [1, 2, 300], "alpha": [1], "lr": [0.001]}, "steps": 10}

# ---- processes and HTTP ----------------------------------------------------


class Ctx:
    def __init__(self, args):
        self.loralpha = os.path.abspath(args.loralpha)
        self.worker = os.path.abspath(args.worker)
        self.cli = os.path.abspath(args.cli or args.loralpha)
        self.tmp = tempfile.mkdtemp(prefix="la-cli-test.")
        self.keep = args.keep
        self.proc = None
        self.port = None
        self.url = None
        # The daemon's state directory (its socket and token); the client's
        # default one is empty until the daemon starts.
        self.state = os.path.join(self.tmp, "state")
        self.empty = os.path.join(self.tmp, "empty-state")
        os.mkdir(self.empty)
        self.client_state = self.empty
        self.token = None
        self.sock = None
        self.bob_token = self.bob_file = None


CLIENT_VARS = ("LORALPHA_URL", "LORALPHA_SOCKET", "LORALPHA_TOKEN", "LORALPHA_STATE_DIR",
               "XDG_STATE_HOME", "COLUMNS")


def clean_env(ctx, extra=None):
    """The environment for the client: none of the user's LORALPHA_* or
    proxy variables, LORALPHA_STATE_DIR the test's; extra may set or (with
    None) remove variables."""
    env = {k: v for k, v in os.environ.items()
           if k not in CLIENT_VARS and not k.lower().endswith("_proxy")}
    env["LORALPHA_STATE_DIR"] = ctx.client_state
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


class Out:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def __repr__(self):
        return f"<rc={self.rc} out={self.out[:1500]!r} err={self.err[:600]!r}>"


def run_cli(ctx, *args, url=None, stdin=None, env=None, timeout=120):
    """Runs the client with --url (the daemon's unless given; False: none)."""
    cmd = [ctx.cli]
    if url is not False:
        cmd += ["--url", url or ctx.url]
    cmd += [str(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                       env=clean_env(ctx, env), timeout=scaled(timeout), cwd=ctx.tmp)
    return Out(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def run_pty(ctx, args, timeout=60, env=None, cols=0, progress=None):
    """Runs the client with stdout on a pseudo-terminal (cols columns wide;
    0: the size a new one has, none); (rc, output, stderr). The client is
    killed after timeout seconds (scaled); with progress, a callable whose
    value changes as the awaited work advances, after timeout seconds
    without a change instead."""
    master, slave = pty.openpty()
    if cols:
        fcntl_winsize(slave, cols)
    p = subprocess.Popen([ctx.cli, "--url", ctx.url, *map(str, args)],
                         stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=subprocess.PIPE, env=clean_env(ctx, env), cwd=ctx.tmp)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + scaled(timeout)
    last, looked = progress() if progress else None, time.monotonic()
    try:
        while time.monotonic() < deadline:
            if progress and time.monotonic() - looked >= 1:
                now, looked = progress(), time.monotonic()
                if now != last:
                    last, deadline = now, looked + scaled(timeout)
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                out += data
            elif p.poll() is not None:
                break
        rc = p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, out.decode("utf-8", "replace"), p.stderr.read().decode("utf-8", "replace")


def fcntl_winsize(fd, cols, rows=24):
    """Sets a terminal's size (TIOCSWINSZ)."""
    import fcntl
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def request(ctx, method, path, body=None, token=None):
    """One request to the daemon over TCP, with ctx's token unless another
    is given; (status, JSON or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", ctx.port, timeout=30)
    try:
        hdrs = {}
        if token or ctx.token:
            hdrs["Authorization"] = "Bearer " + (token or ctx.token)
        if body is not None:
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = None
        return r.status, j
    finally:
        conn.close()


def api(ctx, path):
    """GET path on the daemon: its JSON (None unless 200)."""
    st, j = request(ctx, "GET", path)
    return j if st == 200 else None


def closed_port():
    """A port on 127.0.0.1 that nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_tokens(ctx):
    """The daemon's tokens file: a second user, bob, with a token of his own."""
    ctx.bob_token = os.urandom(32).hex()
    path = os.path.join(ctx.tmp, "tokens")
    with open(path, "w") as f:
        f.write(f"# users who talk to the daemon over TCP\nbob {ctx.bob_token}\n")
    os.chmod(path, 0o600)
    ctx.bob_file = os.path.join(ctx.tmp, "bob.token")
    with open(ctx.bob_file, "w") as f:
        f.write(ctx.bob_token + "\n")
    return path


def start_daemon(ctx, env=None):
    """Starts the daemon (env: more variables for it) on the test's
    database; a new start after a stop reuses it."""
    port_file = os.path.join(ctx.tmp, "port")
    if os.path.exists(port_file):
        os.unlink(port_file)
    logf = open(os.path.join(ctx.tmp, "daemon.log"), "w")
    cmd = [ctx.loralpha, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file,
           "--db", os.path.join(ctx.tmp, "cli.db"), "--worker", ctx.worker,
           "--max-workers", "2", "--state-dir", ctx.state, "--tokens-file", write_tokens(ctx),
           "--pack-max", "1"]  # one run per worker: the checks count "2 running"
    ctx.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, cwd=ctx.tmp,
                                env=dict(os.environ, **(env or {})))
    logf.close()

    ctx.port = wait_port(ctx.proc, port_file, 20)
    if ctx.port is None:
        raise RuntimeError("the daemon did not start: " + daemon_log(ctx))
    ctx.url = f"http://127.0.0.1:{ctx.port}"
    ctx.sock = os.path.join(ctx.state, "loralpha.sock")
    ctx.token = read_token(os.path.join(ctx.state, "token"))
    if ctx.token is None:
        raise RuntimeError("the daemon wrote no token: " + daemon_log(ctx))
    ctx.client_state = ctx.state
    log(f"daemon pid {ctx.proc.pid} on {ctx.url} and {ctx.sock}")


def read_token(path):
    """The token file's one line, once it is complete (None if it never is)."""
    def whole():
        try:
            with open(path) as f:
                t = f.read()
        except OSError:
            return None
        return t.strip() if t.endswith("\n") else None
    return wait_until(whole, 10, 0.02)


def daemon_log(ctx):
    try:
        with open(os.path.join(ctx.tmp, "daemon.log")) as f:
            return f.read()[-3000:]
    except OSError:
        return ""


def stop_daemon(ctx):
    if ctx.proc is None or ctx.proc.poll() is not None:
        return
    os.kill(ctx.proc.pid, signal.SIGTERM)
    try:
        ctx.proc.wait(timeout=scaled(30))
    except subprocess.TimeoutExpired:
        os.kill(ctx.proc.pid, signal.SIGKILL)
        ctx.proc.wait()


def submit_api(ctx, spec):
    st, j = request(ctx, "POST", "/v1/sweeps", spec)
    if st != 201:
        raise RuntimeError(f"POST /v1/sweeps: {st} {j}")
    return j["id"]


def wait_state(ctx, sid, states, timeout):
    def ended():
        s = api(ctx, f"/v1/sweeps/{sid}")
        return s if s and s["state"] in states else None
    return wait_until(ended, timeout, 0.2)


def write_spec(ctx, name, spec):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write(spec if isinstance(spec, str) else json.dumps(spec))
    return path


def parse_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def table_rows(text, first_header):
    """The rows (whitespace-split) of the table whose header starts with
    first_header, up to the first blank line."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:1] == [first_header]:
            rows = []
            for row in lines[i + 1:]:
                if not row.strip():
                    break
                rows.append(row.split())
            return line.split(), rows
    return None, []


def close(a, b, rel=1e-3):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def fmt_g(x, prec=6):
    return "%.*g" % (prec, x)


# ---- cases: no daemon needed ---------------------------------------------


def case_usage(ctx):
    R.case = "usage"
    dead = f"http://127.0.0.1:{closed_port()}"
    spec = write_spec(ctx, "small.json", SMALL)
    cases = [
        ([], "missing command"),
        (["frobnicate"], "frobnicate: unknown command"),
        (["show"], "missing sweep id"),
        (["show", "abc"], "'abc' is not a positive integer"),
        (["show", "0"], "is not a positive integer"),
        (["show", "12x"], "is not a positive integer"),
        (["show", "1", "2"], "unexpected argument"),
        (["run"], "missing run id"),
        (["list", "7"], "unexpected argument"),
        (["runs", "1", "--limit", "x"], "runs: --limit needs an integer"),
        (["runs", "1", "--limit", "0"], "--limit must be"),
        (["runs", "1", "--limit"], "--limit needs a value"),
        (["runs", "1", "--rank", "1.5"], "--rank needs an integer"),
        (["runs", "1", "--alpha", "nan"], "--alpha needs a finite number"),
        (["runs", "1", "--lr", "inf"], "--lr needs a finite number"),
        (["runs", "1", "--lr", "-1"], "--lr must be"),
        (["runs", "1", "--alpha", "2x"], "--alpha needs a number"),
        (["runs", "1", "--state", "bogus"], "--state must be one of"),
        (["recommend", "1"], "--rank is required"),
        (["recommend", "1", "--rank", "abc"], "--rank needs an integer"),
        (["list", "--limit", "5"], "--limit does not apply"),
        (["show", "3", "--csv"], "--csv does not apply"),
        (["run", "1", "--csv", "--json"], "exclude each other"),
        (["wait", "1", "--timeout", "abc"], "--timeout needs a number"),
        (["wait", "1", "--timeout", "-5"], "--timeout must be"),
        (["submit", spec, "--timeout", "5"], "--timeout needs --wait"),
        (["--bogus", "list"], "--bogus: unknown option"),
        (["--json=1", "list"], "--json takes no value"),
        (["pause"], "pause: missing sweep id"),
        (["pause", "x"], "'x' is not a positive integer"),
        (["pause", "1", "--priority", "3"], "--priority does not apply"),
        (["resume", "1", "--finish"], "--finish does not apply"),
        (["resume"], "missing sweep id"),
        (["whoami", "3"], "unexpected argument"),
        (["set", "1"], "nothing to set: give --priority, --max-parallel, --window or --no-window"),
        (["set"], "missing sweep id"),
        (["set", "1", "--priority", "x"], "set: --priority needs an integer"),
        (["set", "1", "--priority", "1001"], "--priority must be an integer in -1000..1000"),
        (["set", "1", "--max-parallel", "-1"], "--max-parallel must be an integer in 0..1024"),
        (["set", "1", "--max-parallel", "2.5"], "--max-parallel needs an integer"),
        (["set", "1", "--window", "22:00"], "--window must be HH:MM-HH:MM"),
        (["set", "1", "--window", "24:01-06:00"], "--window must be HH:MM-HH:MM"),
        (["set", "1", "--window", "22:00-06:60"], "--window must be HH:MM-HH:MM"),
        (["set", "1", "--window", "22:00-6:00"], "--window must be HH:MM-HH:MM"),
        (["set", "1", "--window", "10:00-10:00"], "the start and the end are the same time"),
        (["set", "1", "--window", "00:00-24:00"], "the start and the end are the same time"),
        (["set", "1", "--window", "22:00-06:00", "--no-window"], "exclude each other"),
        (["set", "1", "--outside", "finish"], "--outside needs --window"),
        (["set", "1", "--window", "22:00-06:00", "--outside", "later"],
         "--outside must be finish or requeue"),
        (["set", "1", "--priority"], "--priority needs a value"),
        (["show", "1", "--no-window"], "--no-window does not apply"),
        (["runs", "1", "--csv", "--json"], "exclude each other"),
        (["delete"], "delete: missing sweep id"),
        (["delete", "x"], "'x' is not a positive integer"),
        (["delete", "1", "--finish"], "--finish does not apply"),
        (["--json", "import", "/tmp"], "import: must be the first word"),
        (["--socket", "/tmp/x.sock", "list"], "--url and --socket exclude each other"),
    ]
    for args, want in cases:
        r = run_cli(ctx, *args, url=dead)
        R.eq(r.rc, 2, f"{args}: exit code 2 (usage), not contacting the daemon")
        R.check(want in r.err, f"{args}: the hint names the problem", want, r.err)
        R.check(r.err.count("\n") == 1 and r.err.startswith("loralpha: ")
                and "loralpha --help" in r.err,
                f"{args}: one line 'loralpha: ... (see loralpha --help)'", "one line", r.err)
        R.eq(r.out, "", f"{args}: nothing on stdout")
    for url in ("ftp://127.0.0.1:1", "http://", "http://a b"):
        r = run_cli(ctx, "list", url=url)
        R.eq(r.rc, 2, f"--url {url!r}: usage error")
    bad_token = write_spec(ctx, "bad.token", "alice 0123abcd\n")
    empty_token = write_spec(ctx, "empty.token", "")
    for args, env, want in (
            (["--socket", "/tmp/x.sock", "--token-file", bad_token, "list"], None,
             "--token-file is for TCP (--url), not for --socket"),
            (["--url", dead, "--token-file", os.path.join(ctx.tmp, "no.token"), "list"], None,
             "--token-file " + os.path.join(ctx.tmp, "no.token") + ": cannot read it: No such file"),
            (["--url", dead, "--token-file", bad_token, "list"], None,
             f"--token-file {bad_token} does not hold a token"),
            (["--url", dead, "--token-file", empty_token, "list"], None, "does not hold a token"),
            (["--url", dead, "list"], {"LORALPHA_TOKEN": "two words"},
             "LORALPHA_TOKEN is not a token"),
            (["--socket", "", "list"], None, "--socket: the path is empty"),
            (["--socket", "/tmp/" + "s" * 120, "list"], None,
             "is longer than a socket path may be (107 bytes)"),
            (["list"], {"LORALPHA_SOCKET": "/tmp/" + "s" * 120}, "LORALPHA_SOCKET: '/tmp/")):
        r = run_cli(ctx, *args, url=False, env=env)
        R.eq(r.rc, 2, f"{args} {env}: exit 2 (usage)")
        R.check(want in r.err and r.err.count("\n") == 1, f"{args} {env}: one line names the problem",
                want, r.err)
    r = run_cli(ctx, "submit", os.path.join(ctx.tmp, "no-such.json"), url=dead)
    R.eq(r.rc, 2, "submit of a missing file: exit 2")
    R.check("no-such.json" in r.err, "submit of a missing file: names the file", "no-such.json", r.err)
    r = run_cli(ctx, "--version", url=dead)
    R.check(r.rc == 0 and r.out == "loralpha 0.1.0\n", "--version: the client's version, offline",
            "rc 0, loralpha 0.1.0", r)
    for args in (["--help"], ["list", "--help"], ["help"], ["-h"]):
        r = run_cli(ctx, *args, url=dead)
        R.eq(r.rc, 0, f"{args}: exit 0")
        R.check(r.out.startswith("usage: loralpha") and "recommend ID --rank R" in r.out,
                f"{args}: usage on stdout", "usage: loralpha ...", r.out)


def command_table():
    """The command names of client/cli.c's command table, in its order."""
    with open(CLI_C) as f:
        text = f.read()
    block = text[text.index("static const cmd_def commands[] = {"):]
    block = block[:block.index("\n};")]
    return re.findall(r'^\s*\{"([a-z-]+)", (?:cmd_\w+|NULL),', block, re.M)


def case_help(ctx):
    """--help lists every command of the command table (the help is made
    from it), the ones main.c runs before the client too, within 79
    columns, and the exit codes."""
    R.case = "help"
    names = command_table()
    R.check({"submit", "runs", "delete", "serve", "export-slurm", "import"} <= set(names),
            "the command table holds every command", "submit ... import", names)
    with open(os.path.join(HERE, "..", "..", "client", "main.c")) as f:
        dispatched = set(re.findall(r'strcmp\(argv\[1\], "([a-z-]+)"\)', f.read()))
    with open(os.path.join(HERE, "..", "..", "client", "cli_slurm.c")) as f:
        dispatched |= set(re.findall(r'strcmp\(argv\[1\], "([a-z-]+)"\)', f.read()))
    R.check(dispatched and dispatched <= set(names),
            "the commands main.c runs before the client are in the table", dispatched, names)
    r = run_cli(ctx, "--help", url=False)
    listed = re.findall(r"^  ([a-z][a-z-]*)(?: |$)", r.out, re.M)
    R.eq([n for n in names if n not in listed], [], "--help lists every command of the table")
    R.eq([n for n in listed if n not in names], [], "--help lists nothing but the table's commands")
    R.check(max(len(x) for x in r.out.splitlines()) <= 79, "--help fits 79 columns", "<= 79",
            max(r.out.splitlines(), key=len))
    R.check(re.search(r"^  runs ID \[--state S\] .*\[--csv\]", r.out, re.M)
            and re.search(r"^  recommend ID --rank R \[--lr L\]", r.out, re.M),
            "--help: each command's options from the table (required ones without brackets)",
            "runs ID [--state S] ... [--csv]; recommend ID --rank R [--lr L]", r.out)
    R.check("5 a local file or the output could not be" in r.out, "--help: exit code 5",
            "5 a local file ...", r.out)


def case_local_write(ctx, sid):
    """A local write that fails (a directory that does not exist, a full
    device) exits 5, not 1, naming what could not be written."""
    R.case = "local-write"
    missing = os.path.join(ctx.tmp, "no-such-dir", "report.html")
    r = run_cli(ctx, "report", sid, "--output", missing)
    R.check(r.rc == 5 and f"cannot write {missing}" in r.err and r.out == "",
            "report --output into a directory that does not exist: exit 5, names the file",
            f"rc 5, cannot write {missing}", r)
    R.check(not os.path.exists(os.path.dirname(missing)), "report: no directory made", False,
            os.path.exists(os.path.dirname(missing)))
    with open("/dev/full", "w") as full:
        p = subprocess.run([ctx.cli, "--url", ctx.url, "runs", str(sid), "--csv"], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=clean_env(ctx),
                           timeout=scaled(60))
    R.check(p.returncode == 5 and "loralpha: cannot write the output: " in p.stderr,
            "runs --csv into a full device: exit 5, says so", "rc 5, cannot write the output",
            (p.returncode, p.stderr))
    deep = os.path.join(ctx.tmp, "no-such-dir", "jobs")
    r = run_cli(ctx, "export-slurm", write_spec(ctx, "small.json", SMALL), "--dir", deep,
                url=False)
    R.check(r.rc == 5 and f"cannot create {deep}" in r.err,
            "export-slurm --dir under a directory that does not exist: exit 5",
            f"rc 5, cannot create {deep}", r)
    r = run_cli(ctx, "report", 999999, "--output", missing)
    R.check(r.rc == 1 and "loralpha: not_found: " in r.err,
            "the daemon's refusal is still exit 1", "rc 1, not_found", r)
    searching = dict(SMALL, search={"strategy": "bracket"})
    out = os.path.join(ctx.tmp, "export-search")
    r = run_cli(ctx, "export-slurm", write_spec(ctx, "search.json", searching), "--dir", out,
                url=False)
    R.check(r.rc != 0 and "search: a sweep that searches along alpha needs the daemon" in r.err
            and not os.path.exists(out),
            "export-slurm of a searching sweep is refused, saying why; nothing written",
            "rc != 0, search: ... needs the daemon", r)


def case_unreachable(ctx):
    R.case = "unreachable"
    port = closed_port()
    dead = f"http://127.0.0.1:{port}"
    spec = write_spec(ctx, "small.json", SMALL)
    want = (f"loralpha: cannot reach the daemon at {dead} (is `loralpha serve` "
            f"running? set --url or LORALPHA_URL)")
    for args in (["list"], ["show", "1"], ["wait", "1"], ["submit", spec], ["runs", "1"],
                 ["run", "1", "--csv"], ["cancel", "1"], ["analysis", "1"],
                 ["recommend", "1", "--rank", "4"], ["--json", "version"]):
        r = run_cli(ctx, *args, url=dead)
        R.eq(r.rc, 3, f"{args}: exit 3 when the daemon cannot be reached")
        R.check(want in r.err, f"{args}: the message says what to do", want, r.err)
        R.check(r.elapsed < scaled(20), f"{args}: gives up quickly", "< 20 s", r.elapsed)
    r = run_cli(ctx, "list", url=False, env={"LORALPHA_URL": dead})
    R.eq(r.rc, 3, "LORALPHA_URL at a closed port: exit 3")
    R.check(dead in r.err, "LORALPHA_URL: the message names its URL", dead, r.err)
    r = run_cli(ctx, "version", url=False, env={"LORALPHA_URL": dead + "/"})
    R.eq(r.rc, 3, "version without a daemon: exit 3")
    R.check("loralpha 0.1.0" in r.out, "version without a daemon: the client's version",
            "loralpha 0.1.0", r.out)
    stale = os.path.join(ctx.tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()  # the file stays, nothing listens
    for path, env in ((os.path.join(ctx.tmp, "none.sock"), None), (stale, None),
                      (stale, {"LORALPHA_SOCKET": stale})):
        args = ["--socket", path, "list"] if env is None else ["list"]
        r = run_cli(ctx, *args, url=False, env=env)
        want = f"loralpha: cannot reach the daemon at socket {path} (is `loralpha serve` running?)"
        R.eq(r.rc, 3, f"{args} {env}: exit 3 when nothing answers on the socket")
        R.check(want in r.err, f"{args} {env}: the message names the socket", want, r.err)
    state = os.path.join(ctx.tmp, "stale-state")
    os.mkdir(state)
    os.rename(stale, os.path.join(state, "loralpha.sock"))
    r = run_cli(ctx, "list", url=False, env={"LORALPHA_STATE_DIR": state})
    R.check(r.rc == 3 and f"at socket {state}/loralpha.sock (is" in r.err,
            "a stale default socket: exit 3, the message names it", "socket .../loralpha.sock", r)
    if not port_open(7787):
        r = run_cli(ctx, "list", url=False)
        want = ("loralpha: cannot reach the daemon at http://127.0.0.1:7787 (is `loralpha serve` "
                f"running? there is no socket at {ctx.empty}/loralpha.sock either; "
                "set --socket, --url or LORALPHA_URL)")
        R.check(r.rc == 3 and want in r.err,
                "no socket, no daemon on the default port: names both", want, r)


def port_open(port):
    """Does something listen on 127.0.0.1:port?"""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


# ---- cases against the real daemon ------------------------------------------


def case_version(ctx):
    R.case = "version"
    r = run_cli(ctx, "version")
    R.eq(r.rc, 0, "version: exit 0")
    R.check("loralpha 0.1.0" in r.out and f"daemon 0.1.0 at {ctx.url}" in r.out,
            "version: client and daemon", "loralpha 0.1.0 ... daemon 0.1.0 at URL", r.out)
    r = run_cli(ctx, "--json", "version")
    j = parse_json(r.out)
    R.check(r.rc == 0 and isinstance(j, dict) and j.get("status") == "ok",
            "version --json: the health document", {"status": "ok"}, r)


def case_submit(ctx):
    """Submits the sweeps the later cases use; returns their ids."""
    R.case = "submit"
    ids = {}
    r = run_cli(ctx, "submit", write_spec(ctx, "quick.json", QUICK))
    R.check(r.rc == 0 and re.fullmatch(r"[1-9][0-9]*\n", r.out),
            "submit FILE: exit 0 and the id alone on stdout", "<id>\\n", r)
    ids["quick"] = int(r.out) if r.rc == 0 and r.out.strip().isdigit() else None
    r = run_cli(ctx, "submit", "-", stdin=json.dumps(SMALL))
    R.check(r.rc == 0 and re.fullmatch(r"[1-9][0-9]*\n", r.out),
            "submit - (stdin): exit 0 and the id", "<id>\\n", r)
    ids["small"] = int(r.out) if r.rc == 0 and r.out.strip().isdigit() else None
    if ids["quick"] and ids["small"]:
        R.eq(ids["small"], ids["quick"] + 1, "submit: consecutive ids")
        s = api(ctx, f"/v1/sweeps/{ids['small']}")
        R.eq(s and s["name"], "small", "submit -: the daemon has the sweep from stdin")
    r = run_cli(ctx, "--json", "submit", write_spec(ctx, "small2.json", SMALL))
    j = parse_json(r.out)
    R.check(r.rc == 0 and isinstance(j, dict) and j.get("name") == "small"
            and j.get("runs") == 6 and j.get("state") == "active",
            "submit --json: the daemon's answer", {"name": "small", "runs": 6}, r)
    r = run_cli(ctx, "submit", write_spec(ctx, "bad.json", BAD_RANK))
    R.eq(r.rc, 1, "invalid spec: exit 1")
    R.check("loralpha: invalid_spec: grid.rank[2]: " in r.err,
            "invalid spec: the code and the field path", "loralpha: invalid_spec: grid.rank[2]: ...", r.err)
    R.eq(r.out, "", "invalid spec: nothing on stdout")
    r = run_cli(ctx, "submit", "-", stdin='{"name": "x", ')
    R.check(r.rc == 1 and "loralpha: bad_json: " in r.err, "malformed JSON: exit 1, bad_json",
            "rc 1, loralpha: bad_json: ...", r)
    r = run_cli(ctx, "--json", "submit", write_spec(ctx, "bad.json", BAD_RANK))
    j = parse_json(r.out)
    R.check(r.rc == 1 and isinstance(j, dict) and j.get("error", {}).get("code") == "invalid_spec",
            "invalid spec with --json: the error document on stdout", {"error": {"code": "invalid_spec"}}, r)
    return ids


def case_wait(ctx, ids):
    R.case = "wait"
    t0 = time.monotonic()
    r = run_cli(ctx, "wait", ids["quick"], timeout=180)
    R.eq(r.rc, 0, "wait on a sweep that ends done: exit 0")
    R.check("\r" not in r.out, "wait not on a TTY: no \\r redraws", "no \\r", r.out)
    lines = r.out.splitlines()
    R.check(lines and lines[-1].startswith(f"sweep {ids['quick']} done: 72 runs: 72 done"),
            "wait: the last line says how it ended", f"sweep {ids['quick']} done: 72 runs: 72 done ...", r.out)
    R.check(all(l.startswith(f"sweep {ids['quick']}") for l in lines),
            "wait: plain lines", "sweep N: ...", r.out)
    log(f"quick sweep done in {time.monotonic() - t0:.1f} s")
    r = run_cli(ctx, "wait", ids["small"])
    R.eq(r.rc, 0, "wait small: exit 0")
    r = run_cli(ctx, "wait", ids["quick"])
    R.check(r.rc == 0 and len(r.out.splitlines()) == 1,
            "wait on a finished sweep: exit 0 at once, one line", "rc 0, 1 line", r)
    r = run_cli(ctx, "--json", "wait", ids["quick"])
    R.eq(parse_json(r.out), api(ctx, f"/v1/sweeps/{ids['quick']}"),
         "wait --json: the final sweep document")
    r = run_cli(ctx, "submit", "--wait", write_spec(ctx, "small.json", SMALL), timeout=120)
    lines = r.out.splitlines()
    R.eq(r.rc, 0, "submit --wait: exit 0 when the sweep ends done")
    R.check(lines and lines[0].isdigit() and "done: 6 runs: 6 done" in lines[-1],
            "submit --wait: the id, then the end", "<id> ... done: 6 runs: 6 done", r.out)
    r = run_cli(ctx, "wait", "999999")
    R.check(r.rc == 1 and "loralpha: not_found: " in r.err, "wait on no sweep: exit 1, not_found",
            "rc 1, not_found", r)


def case_wait_tty(ctx):
    R.case = "wait-tty"
    sid = submit_api(ctx, QUICK)
    t0 = time.monotonic()
    rc, out, err = run_pty(ctx, ["wait", sid], timeout=120,
                           progress=lambda: (api(ctx, f"/v1/sweeps/{sid}") or {}).get("counts"))
    elapsed = time.monotonic() - t0
    R.eq(rc, 0, "wait on a TTY: exit 0")
    redraws = out.count("\r[")
    R.check(redraws >= 2, "wait on a TTY: the bar is redrawn in place with \\r", ">= 2", out[-2000:])
    R.check(redraws <= 4 * elapsed + 4, "wait on a TTY: at most 4 redraws a second",
            f"<= {4 * elapsed + 4:.0f}", redraws)
    widths = [len(x) for x in re.split(r"[\r\n]+", out)]
    R.check(max(widths) <= 80, "wait on a TTY: the line fits 80 columns", "<= 80", max(widths))
    R.check(re.search(r"\r\[[#.]{10,}\] +\d+% \d+/72 finished, \d+ running, \d+ failed, ETA", out),
            "wait on a TTY: bar, runs done/total, running, failed, ETA", "[####....] ...", out[-2000:])
    R.check(re.search(r"ETA \d", out), "wait on a TTY: an ETA from the finish rate", "ETA <dur>", out[-3000:])
    R.check(out.rstrip().endswith("72 done, 0 diverged, 0 failed, 0 cancelled"),
            "wait on a TTY: the final line", "... 72 done ...", out[-500:])
    return sid


def case_bar_width(ctx, sid):
    """The bar is as wide as the terminal: TIOCGWINSZ, else $COLUMNS (the
    sweep has ended, so wait draws its bar once and exits)."""
    R.case = "wait-width"
    for env, cols, want in (({"COLUMNS": "40"}, 0, 40), ({"COLUMNS": "200"}, 0, 200),
                            ({"COLUMNS": "40"}, 200, 200), ({}, 120, 120)):
        what = f"COLUMNS={env.get('COLUMNS')}, a {cols or 'size-less'}-column terminal"
        rc, out, err = run_pty(ctx, ["wait", sid], env=env, cols=cols)
        bars = [x for x in re.split(r"[\r\n]+", out) if x.strip() and not x.startswith("sweep ")]
        R.check(rc == 0 and bars, f"{what}: a bar", "rc 0, a bar", (rc, out, err))
        if not bars:
            continue
        widest = max(bars, key=len)
        R.check(len(widest) <= want - 1, f"{what}: the bar's line fits {want} columns",
                f"<= {want - 1}", (len(widest), widest))
        m = re.search(r"\[([#.]+)\]", widest)
        inner = len(m.group(1)) if m else 0
        if want >= 120:
            R.check(inner > 20 and len(widest) > 80, f"{what}: the bar uses the width",
                    "> 20 marks, a line over 80", (inner, widest))
        else:
            R.check(inner == 10 and "100%" in widest, f"{what}: a narrow bar, cut to fit",
                    "10 marks, 100%", widest)


def case_wait_window(ctx):
    """Outside its start window a sweep's ETA gives way to why it waits,
    on a pipe and on a TTY; returns the (active) sweep's id."""
    R.case = "wait-window"
    spec = dict(SMALL, name="later", window=closed_window())
    sid = submit_api(ctx, spec)
    want = f"waiting for the sweep's window {spec['window']['start']}-{spec['window']['end']}"
    r = run_cli(ctx, "wait", sid, "--timeout", "1")
    R.check(r.rc == 4 and re.search(rf"^sweep {sid}: 0%, 0/6 runs finished, 0 running, 0 failed, "
                                    rf"{re.escape(want)}$", r.out, re.M) and "ETA" not in r.out,
            "wait outside the sweep's window: says why there is no ETA", want, r)
    rc, out, err = run_pty(ctx, ["wait", sid, "--timeout", "1"], cols=120)
    R.check(rc == 4 and want in out and "ETA" not in out, "wait on a TTY outside the window: "
            "says why", want, (rc, out))
    h = api(ctx, "/v1/health") or {}
    R.check(h.get("window", 0) is None and isinstance(h.get("minute"), int)
            and 0 <= h["minute"] < 1440, "/v1/health: the daemon's window and minute",
            {"window": None, "minute": "0..1439"}, h)
    return sid


def case_numbers(ctx):
    """Numbers print in their shortest exact form: 0.0003, not
    0.00029999999999999997 ("%.17g"), in show, --json and CSV. Returns the
    sweep's id (ended)."""
    R.case = "numbers"
    sid = submit_api(ctx, NUMS)
    wait_state(ctx, sid, ("done",), 60)
    r = run_cli(ctx, "show", sid)
    R.check(r.rc == 0 and re.search(r"\n  grid +rank \[1\]  alpha \[0\.1,0\.3\]  lr \[0\.0003\]\n",
                                    r.out), "show: the grid's numbers as written",
            "grid rank [1]  alpha [0.1,0.3]  lr [0.0003]", r.out)
    for args in (["--json", "show", sid], ["--json", "runs", sid], ["runs", sid, "--csv"]):
        r = run_cli(ctx, *args)
        R.check(r.rc == 0 and "0.0003" in r.out and "0.00029999999999999997" not in r.out
                and "0.10000000000000001" not in r.out and "0.29999999999999999" not in r.out,
                f"{args}: 0.0003, 0.1 and 0.3 in their shortest form", "0.0003", r.out[:3000])
    r = run_cli(ctx, "--json", "show", sid)
    R.eq(parse_json(r.out), api(ctx, f"/v1/sweeps/{sid}"), "show --json: the same document")
    return sid


def case_runs_csv(ctx, sid):
    """runs --csv: a header and one RFC 4180 row per run, which Python's
    csv module reads back into exactly the JSON runs (numbers exact, null
    empty), a text with a comma, quotes and a line end quoted."""
    R.case = "runs-csv"
    runs = (api(ctx, f"/v1/sweeps/{sid}/runs?limit=1000") or {}).get("runs", [])
    tricky = 'the worker said: "no", twice\nsecond line, too'
    con = sqlite3.connect(os.path.join(ctx.tmp, "cli.db"), timeout=10)
    with con:
        con.execute("UPDATE runs SET error = ? WHERE id = ?", (tricky, runs[0]["id"]))
    con.close()
    runs = (api(ctx, f"/v1/sweeps/{sid}/runs?limit=1000") or {}).get("runs", [])
    r = run_cli(ctx, "runs", sid, "--csv")
    rows = list(csv.reader(io.StringIO(r.out)))
    R.eq(r.rc, 0, "runs --csv: exit 0")
    R.eq(rows[:1], [RUN_CSV_COLS], "runs --csv: the header (the API's fields, sweep_id first)")
    R.eq(len(rows) - 1, len(runs), "runs --csv: one row per run")
    for row, run in zip(rows[1:], runs):
        got, want = {}, {}
        for col, cell in zip(RUN_CSV_COLS, row):
            v = sid if col == "sweep_id" else run.get(col)
            want[col] = v
            got[col] = (None if cell == "" else int(cell) if isinstance(v, int)
                        else float(cell) if isinstance(v, float) else cell)
        R.eq(got, want, f"runs --csv: run {run['id']} reads back as its JSON")
    R.check('"the worker said: ""no"", twice\nsecond line, too"' in r.out,
            "runs --csv: a text with a comma, quotes and a line end is quoted (RFC 4180)",
            "quoted, quotes doubled", r.out[:1500])
    r = run_cli(ctx, "runs", sid, "--csv", "--limit", "1")
    R.check(r.rc == 0 and len(list(csv.reader(io.StringIO(r.out)))) == 2
            and "more runs match" in r.err, "runs --csv --limit 1: the header and one row",
            "2 rows, more runs match", r)


def sweep_rows(ctx, sid, run_ids):
    """Rows of the sweep or its runs in every table of the real SQLite file
    with a sweep_id or run_id column (and the sweep's own), by table."""
    con = sqlite3.connect(f"file:{os.path.join(ctx.tmp, 'cli.db')}?mode=ro", uri=True, timeout=10)
    out = {}
    try:
        tables = [x[0] for x in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for t in tables:
            cols = [c[1] for c in con.execute(f'PRAGMA table_info("{t}")')]
            conds = [f"id = {int(sid)}"] if t == "sweeps" else []
            if "sweep_id" in cols:
                conds.append(f"sweep_id = {int(sid)}")
            if "run_id" in cols and run_ids:
                conds.append(f"run_id IN ({','.join(str(int(x)) for x in run_ids)})")
            if conds:
                out[t] = con.execute(f'SELECT COUNT(*) FROM "{t}" WHERE {" OR ".join(conds)}'
                                     ).fetchone()[0]
    finally:
        con.close()
    return out


def delete_ok(ctx, sid, args, who):
    """Deletes a sweep that has ended with `delete` (args: the client's
    identity options) and checks that no row of it is left in any table."""
    run_ids = [x["id"] for x in (api(ctx, f"/v1/sweeps/{sid}/runs?limit=1000") or {}).get("runs", [])]
    api(ctx, f"/v1/sweeps/{sid}/analysis")  # stored before the count
    before = sweep_rows(ctx, sid, run_ids)
    R.check(before.get("sweeps") == 1 and before.get("runs") == len(run_ids) > 0
            and before.get("curve", 0) > 0, f"{who}: the sweep's rows are there before",
            "sweep, runs, curve rows", before)
    r = run_cli(ctx, *args, "delete", sid)
    rows = sum(n for t, n in before.items() if t not in ("sweeps", "runs"))
    R.eq((r.rc, r.out), (0, f"sweep {sid} deleted: {len(run_ids)} runs and {rows} rows of their "
                            "data\n"), f"{who}: delete, exit 0, what went")
    after = sweep_rows(ctx, sid, run_ids)
    R.eq({t: n for t, n in after.items() if n}, {},
         f"{who}: no row of the sweep or its runs is left in any table ({len(after)} tables)")
    st, j = request(ctx, "GET", f"/v1/sweeps/{sid}")
    R.eq(st, 404, f"{who}: the deleted sweep is 404")


def case_delete(ctx, nums, later):
    """delete: refused for an active sweep (cancel first), for another
    user's (403); by the owner and by an admin it removes every row; ids
    are not given again."""
    R.case = "delete"
    r = run_cli(ctx, "delete", later)
    R.check(r.rc == 1 and "loralpha: conflict: " in r.err and f"cancel it first (loralpha cancel "
            f"{later})" in r.err, "delete of an active sweep: exit 1, cancel it first", "conflict", r)
    R.eq(run_cli(ctx, "cancel", later).rc, 0, "cancel the sweep to delete")
    R.check(wait_until(lambda: run_cli(ctx, "delete", later).rc == 0, 30),
            "delete of the cancelled sweep: exit 0", 0, run_cli(ctx, "delete", later))
    r = run_cli(ctx, "--token-file", ctx.bob_file, "delete", nums)
    R.check(r.rc == 1 and r.err.startswith("loralpha: forbidden: ") and "belongs to" in r.err,
            "bob's delete of another user's sweep: exit 1, forbidden", "loralpha: forbidden:", r)
    R.eq(sweep_rows(ctx, nums, []).get("sweeps"), 1, "the refused delete removed nothing")
    ids = []
    for name in ("bob1.json", "bob2.json"):
        r = run_cli(ctx, "--token-file", ctx.bob_file, "submit", write_spec(ctx, name, NUMS))
        ids.append(int(r.out) if r.rc == 0 and r.out.strip().isdigit() else None)
        R.check(ids[-1] and wait_state(ctx, ids[-1], ("done",), 60), "bob's sweep ends done",
                "done", r)
    if None in ids:
        return
    delete_ok(ctx, ids[0], ["--token-file", ctx.bob_file], "bob, the owner")
    delete_ok(ctx, ids[1], [], "the daemon's user, an admin, on bob's sweep")
    new = submit_api(ctx, SMALL)
    R.check(new > ids[1], "after deleting the newest sweep, a new one gets a new id",
            f"> {ids[1]}", new)
    r = run_cli(ctx, "--json", "delete", nums)
    j = parse_json(r.out) or {}
    R.check(r.rc == 0 and j.get("id") == nums and j.get("deleted", {}).get("sweeps") == 1
            and j.get("deleted", {}).get("runs") == 2, "delete --json: the daemon's answer",
            {"id": nums, "deleted": {"sweeps": 1, "runs": 2}}, r)
    r = run_cli(ctx, "delete", nums)
    R.check(r.rc == 1 and "loralpha: not_found: " in r.err, "delete again: exit 1, not_found",
            "not_found", r)
    run_cli(ctx, "cancel", new)


def case_delete_crash(ctx):
    """A daemon killed (SIGKILL) inside a delete's transaction, after every
    row went and before the commit, restarts with the sweep whole; the
    delete then works."""
    R.case = "delete-crash"
    sid = submit_api(ctx, NUMS)
    wait_state(ctx, sid, ("done",), 60)
    api(ctx, f"/v1/sweeps/{sid}/analysis")
    run_ids = [x["id"] for x in (api(ctx, f"/v1/sweeps/{sid}/runs") or {}).get("runs", [])]
    before = sweep_rows(ctx, sid, run_ids)
    stop_daemon(ctx)
    start_daemon(ctx, {"LA_TEST_PAUSE": "delete", "LA_TEST_PAUSE_MS": "5000"})
    answer = {}

    def delete():
        try:
            answer["status"] = request(ctx, "DELETE", f"/v1/sweeps/{sid}")[0]
        except OSError as e:
            answer["status"] = repr(e)
    t = threading.Thread(target=delete)
    t.start()
    held = wait_until(lambda: "testpoint delete" in daemon_log(ctx), 30)
    R.check(held, "the delete reaches its test point (rows deleted, not committed)",
            "testpoint delete", daemon_log(ctx))
    os.kill(ctx.proc.pid, signal.SIGKILL)
    ctx.proc.wait()
    t.join(30)
    R.check(not isinstance(answer.get("status"), int), "killed inside the delete: no answer",
            "no answer", answer)
    start_daemon(ctx)
    R.eq(sweep_rows(ctx, sid, run_ids), before,
         "after the crash the sweep and every row of it are still there")
    delete_ok(ctx, sid, [], "after the restart")


def case_list_show(ctx, ids):
    R.case = "list"
    want = api(ctx, "/v1/sweeps")
    r = run_cli(ctx, "list")
    R.eq(r.rc, 0, "list: exit 0")
    head, rows = table_rows(r.out, "ID")
    R.eq(head, ["ID", "NAME", "OWNER", "STATE", "PROGRESS", "RUNS", "FAILED", "AGE", "WINDOW"],
         "list: the header")
    R.eq(len(rows), len(want["sweeps"]), "list: one row per sweep")
    for s, row in zip(want["sweeps"], rows):
        exp = [str(s["id"]), s["name"], s.get("owner") or "-", s["state"],
               f"{math.floor(s['progress'] * 100)}%",
               f"{s['counts']['done']}/{s['n_runs']}", str(s["counts"]["failed"])]
        R.eq(row[:7], exp, f"list: the row of sweep {s['id']}")
        R.eq(row[8:], ["-"], f"list: sweep {s['id']} has no window")
    r = run_cli(ctx, "--json", "list")
    R.eq(parse_json(r.out), api(ctx, "/v1/sweeps"), "list --json: the GET /v1/sweeps document")

    R.case = "show"
    sid = ids["quick"]
    r = run_cli(ctx, "show", sid)
    R.eq(r.rc, 0, "show: exit 0")
    R.check(r.out.startswith(f"sweep {sid}: quick\n"), "show: the title", f"sweep {sid}: quick", r.out)
    for pat in (r"state +done, 100% \(72 of 72 runs finished\)", r"spec name +quick",
                r"grid +rank \[1,2,4,8\]", r"task +teacher, 300 steps"):
        R.check(re.search(pat, r.out), f"show: {pat}", pat, r.out)
    head, rows = table_rows(r.out, "STATE")
    R.eq(rows, [[st, "72" if st == "done" else "0"] for st in STATES] + [["total", "72"]],
         "show: runs per state")
    r = run_cli(ctx, "show", sid, "--json")
    R.eq(parse_json(r.out), api(ctx, f"/v1/sweeps/{sid}"), "show --json (after the id): GET /v1/sweeps/{id}")
    r = run_cli(ctx, "show", "999999")
    R.check(r.rc == 1 and "loralpha: not_found: sweep 999999 not found" in r.err,
            "show of no sweep: exit 1 and the daemon's message", "rc 1, not_found", r)


def check_runs_table(text, runs, what):
    head, rows = table_rows(text, "ID")
    R.eq(head, ["ID", "RANK", "ALPHA", "LR", "SEED", "STATE", "ATTEMPTS", "FINAL_EVAL",
                "BEST_EVAL", "WALL_S"], f"{what}: the header")
    if not R.eq(len(rows), len(runs), f"{what}: one row per run"):
        return
    bad = []
    for run, row in zip(runs, rows):
        ok = (row[0] == str(run["id"]) and row[1] == str(run["rank"])
              and close(float(row[2]), run["alpha"], 1e-5) and close(float(row[3]), run["lr"], 1e-5)
              and row[4] == str(run["seed"]) and row[5] == run["state"]
              and row[6] == str(run["attempts"]))
        if run["final_eval_loss"] is not None:
            ok = ok and close(float(row[7]), run["final_eval_loss"]) and close(float(row[8]), run["best_eval_loss"])
        if not ok:
            bad.append((row, run))
    R.check(not bad, f"{what}: the rows hold the runs' values", "matching rows", bad[:2])


def case_runs(ctx, ids):
    R.case = "runs"
    sid = ids["quick"]
    want = api(ctx, f"/v1/sweeps/{sid}/runs?limit=1000")["runs"]
    r = run_cli(ctx, "runs", sid)
    R.eq(r.rc, 0, "runs: exit 0")
    check_runs_table(r.out, want, "runs")
    r = run_cli(ctx, "--json", "runs", sid)
    R.eq(parse_json(r.out), {"runs": want, "next": None}, "runs --json: the runs of GET, next null")
    for args, query in ((["--rank", "2"], "rank=2"), (["--alpha", "4"], "alpha=4"),
                        (["--lr", "1e-3", "--state", "done"], "lr=0.001&state=done"),
                        (["--rank", "4", "--alpha", "16"], "rank=4&alpha=16")):
        exp = api(ctx, f"/v1/sweeps/{sid}/runs?limit=1000&{query}")["runs"]
        r = run_cli(ctx, "runs", sid, *args)
        R.check(r.rc == 0 and exp, f"runs {args}: exit 0, runs match", "rc 0", r)
        check_runs_table(r.out, exp, f"runs {args}")
    r = run_cli(ctx, "runs", sid, "--limit", "5")
    check_runs_table(r.out, want[:5], "runs --limit 5")
    R.check("more runs match" in r.err, "runs --limit: says more runs match", "more runs match", r.err)
    r = run_cli(ctx, "runs", sid, "--state", "failed")
    R.check(r.rc == 0 and r.out == "no runs\n", "runs with no match: 'no runs'", "no runs", r)
    r = run_cli(ctx, "runs", "999999")
    R.check(r.rc == 1 and "not_found" in r.err, "runs of no sweep: exit 1", "rc 1, not_found", r)


def case_pages(ctx, long_id):
    """Pagination: a 1100-run sweep queued behind the long one."""
    R.case = "runs-pages"
    pid = submit_api(ctx, PAGES)
    pages, after = [], 0
    while True:
        j = api(ctx, f"/v1/sweeps/{pid}/runs?limit=1000&after={after}")
        pages += j["runs"]
        if j["next"] is None:
            break
        after = j["next"]
    R.eq(len(pages), 1100, "GET pages: 1100 runs")
    r = run_cli(ctx, "runs", pid)
    head, rows = table_rows(r.out, "ID")
    R.eq(r.rc, 0, "runs over two pages: exit 0")
    R.eq([int(x[0]) for x in rows], [p["id"] for p in pages], "runs: follows next to the end")
    r = run_cli(ctx, "--json", "runs", pid, "--limit", "1050")
    j = parse_json(r.out) or {}
    R.eq([x["id"] for x in j.get("runs", [])], [p["id"] for p in pages[:1050]],
         "runs --limit 1050 --json: the first 1050 runs")
    R.eq(j.get("next"), pages[1049]["id"], "runs --limit 1050 --json: next is the last id")
    r = run_cli(ctx, "runs", pid, "--limit", "1001", "--state", "queued")
    head, rows = table_rows(r.out, "ID")
    R.eq(len(rows), 1001, "runs --limit 1001 --state queued: 1001 rows")
    r = run_cli(ctx, "cancel", pid)
    R.check(r.rc == 0 and r.out == f"sweep {pid} cancelled\n", "cancel the queued sweep",
            f"sweep {pid} cancelled", r)
    return pid


def case_run(ctx, ids):
    R.case = "run"
    sid = ids["quick"]
    runs = api(ctx, f"/v1/sweeps/{sid}/runs?limit=1000")["runs"]
    rid = runs[5]["id"]
    run = api(ctx, f"/v1/runs/{rid}")
    ev, tr = run["curve"]["eval"], run["curve"]["train"]
    r = run_cli(ctx, "run", rid)
    R.eq(r.rc, 0, "run: exit 0")
    R.check(r.out.startswith(f"run {rid} of sweep {sid} (index {run['idx']})\n"),
            "run: the title", f"run {rid} of sweep {sid}", r.out[:200])
    R.check(re.search(rf"grid point +rank {run['rank']}, alpha {fmt_g(run['alpha'])}, "
                      rf"lr 0.001, seed {run['seed']}", r.out),
            "run: the grid point", "rank, alpha, lr, seed", r.out[:800])
    R.check(f"best eval    {fmt_g(run['best_eval_loss'])} at step {run['best_step']}" in r.out,
            "run: best eval loss and step", fmt_g(run["best_eval_loss"]), r.out[:800])
    R.check(f"eval curve ({len(ev['step'])} points)" in r.out and
            f"train curve ({len(tr['step'])} points)" in r.out, "run: the curves' sizes", "", r.out[:2000])
    tail = r.out[r.out.index("train curve"):] if "train curve" in r.out else ""
    head, rows = table_rows(tail, "STEP")
    R.eq(head, ["STEP", "LOSS", "LR", "GRAD_NORM_A", "GRAD_NORM_B", "UPDATE_NORM"], "run: train header")
    R.eq([int(x[0]) for x in rows], tr["step"], "run: the train curve's steps")
    R.check(all(close(float(x[1]), v, 1e-5) for x, v in zip(rows, tr["loss"])),
            "run: the train curve's losses", tr["loss"][:3], rows[:3])
    head, rows = table_rows(r.out[r.out.index("eval curve"):], "STEP")
    R.eq([int(x[0]) for x in rows], ev["step"], "run: the eval curve's steps")
    r = run_cli(ctx, "run", rid, "--csv")
    R.eq(r.rc, 0, "run --csv: exit 0")
    rows = list(csv.reader(io.StringIO(r.out)))
    R.eq(rows[:1], [CSV_HEADER], "run --csv: the header")
    R.eq(len(rows) - 1, len(ev["step"]) + len(tr["step"]), "run --csv: one row per curve point")
    want = [[s, "eval", l, None, None, None, None] for s, l in zip(ev["step"], ev["loss"])]
    want += [[tr[k][i] if k != "kind" else "train" for k in
              ("step", "kind", "loss", "lr", "grad_norm_a", "grad_norm_b", "update_norm")]
             for i in range(len(tr["step"]))]
    got = [[int(x[0]), x[1]] + [float(v) if v else None for v in x[2:]] for x in rows[1:]]
    R.eq(got, want, "run --csv: the exact values of the curves")
    r = run_cli(ctx, "--json", "run", rid)
    R.eq(parse_json(r.out), run, "run --json: GET /v1/runs/{id}")
    r = run_cli(ctx, "run", "999999")
    R.check(r.rc == 1 and "loralpha: not_found: run 999999 not found" in r.err,
            "run of no run: exit 1 and the daemon's message", "rc 1", r)


def case_analysis(ctx, ids):
    """Tables once the routes exist; the error path while they answer 404."""
    R.case = "analysis"
    sid = ids["quick"]
    st, j = request(ctx, "GET", f"/v1/sweeps/{sid}/analysis")
    r = run_cli(ctx, "analysis", sid)
    if st != 200:
        msg = (j or {}).get("error", {})
        log(f"analysis answers {st} {msg}: checking the error path")
        R.eq(r.rc, 1, f"analysis answered {st}: exit 1")
        R.check(f"loralpha: {msg.get('code')}: {msg.get('message')}" in r.err,
                "analysis error: the daemon's message", msg, r.err)
    else:
        R.eq(r.rc, 0, "analysis: exit 0")
        titles = ["law fits"]
        if j.get("checkpoints"):
            titles += ["alpha*(r) at step", "regret of the heuristics",
                       "joint optimum over (alpha, lr) per rank"]
        for title in titles:
            R.check(title in r.out, f"analysis: the {title} table", title, r.out)
        jt = (j.get("checkpoints") or [{}])[-1].get("joint")
        if jt:
            line = f"alpha-lr trade-off, all ranks: {jt['tradeoff']['text']}"
            R.check(line in r.out, "analysis: the pooled trade-off in words", line, r.out)
        ls = j.get("law_surface")
        if ls:
            R.check("the law across lr and budget" in r.out and f"verdict: {ls['verdict']}" in r.out
                    and f"c_sqrt: {ls['c_sqrt_trend']['text']}" in r.out,
                    "analysis: the law surface's table, trend and verdict", ls["verdict"], r.out)
            for c in ls["cells"]:
                if c["p"] is None:
                    cell = "insufficient (n %d)" % c["n_used"]
                else:
                    cell = "%.2f %s" % (c["p"], "-" if c["p_lo"] is None else
                                        "[%.4g, %.4g]" % (c["p_lo"], c["p_hi"]))
                    cell += {True: " ✓", False: " ✗", None: ""}[c["sqrt_compatible"]]
                row = [ln for ln in r.out.splitlines() if ln.startswith("%g " % c["lr"])
                       or ln.lstrip().startswith("%g  " % c["lr"])]
                R.check(any(cell in ln for ln in row), f"analysis: the cell (lr {c['lr']}, "
                        f"step {c['step']}) in its lr's row", cell, row)
        cl = j.get("claims")
        R.check(isinstance(cl, dict), "analysis: the claims are in the analysis", "an object", cl)
        for key, what in (("sharpness", "claim 1, LoRA vs full sharpness at alpha*"),
                          ("drift", "claim 2, raising alpha vs raising lr at the same loss change"),
                          ("law", "claim 3, the law per lr and budget (table above)")):
            if isinstance(cl, dict):
                line = f"  {what}: {cl[key]['verdict']}: {cl[key]['text']}\n"
                R.check(line in r.out, f"analysis: the verdict line of {key}", line, r.out)
        fits = [f for cp in j.get("checkpoints", []) for f in cp.get("fits", [])]
        for f in fits:
            if isinstance(f.get("c"), (int, float)):
                R.check("%.4g" % f["c"] in r.out, "analysis: each fit's c is printed", "%.4g" % f["c"], r.out)
        r = run_cli(ctx, "--json", "analysis", sid)
        got = parse_json(r.out) or {}
        j2 = api(ctx, f"/v1/sweeps/{sid}/analysis")
        R.eq(got, j2, "analysis --json: GET /v1/sweeps/{id}/analysis")
    R.case = "recommend"
    st, j = request(ctx, "GET", f"/v1/sweeps/{sid}/recommend?rank=16")
    r = run_cli(ctx, "recommend", sid, "--rank", "16")
    if st != 200:
        msg = (j or {}).get("error", {})
        log(f"recommend answers {st} {msg}: checking the error path")
        R.eq(r.rc, 1, f"recommend answered {st}: exit 1")
        R.check(f"loralpha: {msg.get('code')}: {msg.get('message')}" in r.err,
                "recommend error: the daemon's message", msg, r.err)
    else:
        R.eq(r.rc, 0, "recommend: exit 0")
        R.check(r.out.startswith(j["text"] + "\n"), "recommend: the one-line answer first",
                j["text"], r.out)
        R.check("\n  alpha %.4g for rank 16" % j["alpha"] in r.out, "recommend: the alpha",
                "alpha %.4g for rank 16" % j["alpha"], r.out)
        R.check(f"\n  source: {j['source']}: {j['why']}\n" in r.out, "recommend: the source and why",
                f"source: {j['source']}: {j['why']}", r.out)
        if j.get("extrapolated"):
            R.check("extrapolated" in r.err, "recommend: rank 16 is outside the grid: warned",
                    "warning ... extrapolated", r.err)
        r = run_cli(ctx, "--json", "recommend", sid, "--rank", "16")
        R.eq(parse_json(r.out), j, "recommend --json: the daemon's document")


def case_long(ctx):
    """wait --timeout (plain lines, and the TTY bar) on a sweep that does not
    end; returns its id."""
    R.case = "wait-timeout"
    lid = submit_api(ctx, LONG)
    wait_until(lambda: (api(ctx, f"/v1/sweeps/{lid}") or {}).get("counts", {}).get("running"), 20)
    r = run_cli(ctx, "wait", lid, "--timeout", "6.5")
    R.eq(r.rc, 4, "wait --timeout on an active sweep: exit 4")
    R.check(5.5 < r.elapsed < scaled(20), "wait --timeout 6.5: returns after about 6.5 s", 6.5,
            r.elapsed)
    lines = r.out.splitlines()
    R.check(len(lines) >= 2 and all(re.match(rf"sweep {lid}: \d+%, \d+/8 runs finished, 2 running, "
                                             r"0 failed, ETA ", l) for l in lines),
            "wait not on a TTY: a plain line every few seconds", ">= 2 lines 'sweep N: ...'", r.out)
    R.check("\r" not in r.out, "wait not on a TTY: no \\r", "no \\r", r.out)
    R.check(f"sweep {lid} is still active after 6.5 s" in r.err, "wait --timeout: says so",
            "still active", r.err)
    rc, out, err = run_pty(ctx, ["wait", lid, "--timeout", "2"], timeout=30)
    R.eq(rc, 4, "wait --timeout on a TTY: exit 4")
    R.check(out.count("\r[") >= 3, "wait on a TTY: redrawn with \\r", ">= 3 redraws", out)
    R.check(out.count("\r[") <= 14, "wait on a TTY: at most 4 redraws a second", "<= 14", out.count("\r["))
    return lid


def case_cancel(ctx, lid):
    R.case = "cancel"
    r = run_cli(ctx, "cancel", lid)
    R.check(r.rc == 0 and r.out == f"sweep {lid} cancelled\n", "cancel: exit 0", f"sweep {lid} cancelled", r)
    r = run_cli(ctx, "cancel", lid)
    R.eq(r.rc, 1, "a second cancel: exit 1")
    R.check("loralpha: conflict: " in r.err, "a second cancel: the daemon's conflict",
            "loralpha: conflict: ...", r.err)
    r = run_cli(ctx, "--json", "cancel", lid)
    R.check(r.rc == 1 and (parse_json(r.out) or {}).get("error", {}).get("code") == "conflict",
            "a second cancel with --json: the error document", "conflict", r)
    r = run_cli(ctx, "wait", lid, timeout=60)
    R.eq(r.rc, 1, "wait on a cancelled sweep: exit 1")
    R.check(r.out.splitlines()[-1:] and r.out.splitlines()[-1].startswith(f"sweep {lid} cancelled: 8 runs"),
            "wait on a cancelled sweep: says so", f"sweep {lid} cancelled: 8 runs ...", r.out)
    wait_state(ctx, lid, ("cancelled",), 10)
    r = run_cli(ctx, "show", lid)
    R.check(re.search(r"state +cancelled", r.out), "show: the sweep is cancelled", "state cancelled", r.out)
    wait_until(lambda: (api(ctx, f"/v1/sweeps/{lid}") or {}).get("counts", {}).get("running") == 0, 30)


def case_env(ctx, ids):
    R.case = "env"
    r = run_cli(ctx, "--json", "list", url=False, env={"LORALPHA_URL": ctx.url})
    R.eq(r.rc, 0, "LORALPHA_URL: exit 0")
    R.eq(parse_json(r.out), api(ctx, "/v1/sweeps"), "LORALPHA_URL: the daemon it names answers")
    r = run_cli(ctx, "show", ids["quick"], url=False,
                env={"LORALPHA_URL": f"127.0.0.1:{ctx.port}/"})
    R.eq(r.rc, 0, "LORALPHA_URL without http:// and with a trailing /: works")
    dead = f"http://127.0.0.1:{closed_port()}"
    r = run_cli(ctx, "show", ids["quick"], env={"LORALPHA_URL": dead})
    R.eq(r.rc, 0, "--url wins over LORALPHA_URL")


# ---- identity, against the real daemon -----------------------------------------


def case_whoami(ctx):
    """whoami over the default socket, --socket, and TCP with each token."""
    R.case = "whoami"
    user = pwd.getpwuid(os.getuid()).pw_name
    for args, env in (([], None), (["--socket", ctx.sock], {"LORALPHA_STATE_DIR": ctx.empty})):
        r = run_cli(ctx, *args, "whoami", url=False, env=env)
        R.check(r.rc == 0 and re.fullmatch(rf"{re.escape(user)}( \(admin\))? via socket "
                                           rf"{re.escape(ctx.sock)}\n", r.out),
                f"whoami {args}: the user, over the socket", f"{user} via socket {ctx.sock}", r)
        r = run_cli(ctx, *args, "--json", "whoami", url=False, env=env)
        j = parse_json(r.out) or {}
        R.check(r.rc == 0 and j.get("user") == user and j.get("via") == "socket",
                f"whoami --json {args}: user and via", {"user": user, "via": "socket"}, r)
    r = run_cli(ctx, "whoami")
    R.check(r.rc == 0 and re.fullmatch(rf"{re.escape(user)}( \(admin\))? via token at "
                                       rf"{re.escape(ctx.url)}\n", r.out),
            "whoami over TCP with the state directory's token", f"{user} via token", r)
    r = run_cli(ctx, "whoami", env={"LORALPHA_TOKEN": ctx.token, "LORALPHA_STATE_DIR": ctx.empty})
    R.check(r.rc == 0 and " via token at " in r.out, "whoami with LORALPHA_TOKEN", "via token", r)
    r = run_cli(ctx, "--token-file", ctx.bob_file, "whoami")
    R.eq((r.rc, r.out), (0, f"bob via token at {ctx.url}\n"), "whoami with bob's --token-file")
    r = run_cli(ctx, "list", env={"LORALPHA_TOKEN": "0" * 64})
    R.check(r.rc == 1 and "loralpha: unauthorized: " in r.err
            and "refused the token from LORALPHA_TOKEN" in r.err,
            "a bad token: exit 1, unauthorized, names where the token came from", "unauthorized", r)
    r = run_cli(ctx, "show", "1", env={"LORALPHA_STATE_DIR": ctx.empty})
    R.check(r.rc == 1 and "loralpha: unauthorized: " in r.err and "none was sent" in r.err
            and "--token-file FILE or LORALPHA_TOKEN" in r.err,
            "no token over TCP: exit 1, says how to authenticate", "unauthorized ... none was sent",
            r)
    st, _ = request(ctx, "GET", "/v1/sweeps", token="f" * 64)
    R.eq(st, 401, "the daemon itself refuses a bad token")


def sweep_counts(ctx, sid):
    return (api(ctx, f"/v1/sweeps/{sid}") or {}).get("counts", {})


def case_pause_set(ctx):
    """pause (requeue, finish), resume and set round trips on a sweep of
    the daemon's user, submitted over the socket; bob may not touch it."""
    R.case = "pause-resume-set"
    user = pwd.getpwuid(os.getuid()).pw_name
    r = run_cli(ctx, "submit", write_spec(ctx, "long.json", LONG), url=False)
    R.check(r.rc == 0 and r.out.strip().isdigit(), "submit over the default socket", "<id>", r)
    if r.rc != 0 or not r.out.strip().isdigit():
        return
    sid = int(r.out)
    R.eq((api(ctx, f"/v1/sweeps/{sid}") or {}).get("owner"), user, "the sweep's owner is the user")
    wait_until(lambda: sweep_counts(ctx, sid).get("running") == 2, 20)
    r = run_cli(ctx, "pause", sid, url=False)
    R.eq((r.rc, r.out), (0, f"sweep {sid} paused: running runs go back to the queue\n"), "pause")
    R.eq((api(ctx, f"/v1/sweeps/{sid}") or {}).get("paused"), True, "pause: the sweep is paused")
    r = run_cli(ctx, "pause", sid, "--finish")
    R.eq((r.rc, r.out), (0, f"sweep {sid} was already paused: nothing changed\n"),
         "pause --finish of a paused sweep: exit 0, says nothing changed")
    r = run_cli(ctx, "pause", sid)
    R.eq((r.rc, r.out), (0, f"sweep {sid} was already paused: running runs go back to the "
                            "queue\n"), "pause of a paused sweep: exit 0, says it was paused")
    r = run_cli(ctx, "--json", "pause", sid)
    R.check(r.rc == 0 and (parse_json(r.out) or {}).get("was_paused") is True,
            "pause --json of a paused sweep: was_paused true", {"was_paused": True}, r)
    R.check(wait_until(lambda: sweep_counts(ctx, sid).get("running") == 0
                       and sweep_counts(ctx, sid).get("queued") == 8, 20),
            "pause: the running runs go back to the queue", {"running": 0, "queued": 8},
            sweep_counts(ctx, sid))
    r = run_cli(ctx, "list")
    row = [x for x in table_rows(r.out, "ID")[1] if x[0] == str(sid)]
    R.check(row and row[0][2:4] == [user, "paused"], "list: the owner and 'paused'",
            [user, "paused"], row)
    r = run_cli(ctx, "show", sid)
    R.check(re.search(rf"\n  owner +{re.escape(user)}\n  state +paused, ", r.out),
            "show: the owner and 'paused'", "owner, state paused", r.out)
    r = run_cli(ctx, "resume", sid, url=False)
    R.eq((r.rc, r.out), (0, f"sweep {sid} resumed\n"), "resume")
    R.eq((api(ctx, f"/v1/sweeps/{sid}") or {}).get("paused"), False, "resume: not paused")
    r = run_cli(ctx, "resume", sid)
    R.eq((r.rc, r.out, r.err), (0, f"sweep {sid} was not paused: nothing to resume\n", ""),
         "resume of a sweep that is not paused: exit 0, says so")
    r = run_cli(ctx, "--json", "resume", sid)
    R.check(r.rc == 0 and (parse_json(r.out) or {}).get("was_paused") is False,
            "resume --json of a sweep that is not paused: was_paused false", {"was_paused": False}, r)
    R.check(wait_until(lambda: sweep_counts(ctx, sid).get("running") == 2, 20),
            "resume: runs start again", 2, sweep_counts(ctx, sid))
    r = run_cli(ctx, "--json", "pause", sid, "--finish")
    R.check(r.rc == 0 and (parse_json(r.out) or {}).get("paused") is True,
            "pause --finish --json: the sweep, paused", {"paused": True}, r)
    time.sleep(1)
    R.eq(sweep_counts(ctx, sid).get("running"), 2, "pause --finish: running runs keep running")
    r = run_cli(ctx, "resume", sid)
    R.eq(r.rc, 0, "resume after pause --finish")
    r = run_cli(ctx, "set", sid, "--priority", "5", "--max-parallel", "1", "--window",
                "22:00-06:00", "--outside", "requeue")
    s = api(ctx, f"/v1/sweeps/{sid}") or {}
    R.eq((r.rc, r.out), (0, f"sweep {sid}: priority 5, max_parallel 1, window 22:00-06:00, "
                            "outside requeue\n"), "set: the settings now")
    R.eq([s.get("priority"), s.get("max_parallel"), s.get("window")],
         [5, 1, {"start": "22:00", "end": "06:00", "outside": "requeue"}], "set: the daemon has them")
    r = run_cli(ctx, "list")
    row = [x for x in table_rows(r.out, "ID")[1] if x[0] == str(sid)]
    R.check(row and row[0][-1] == "22:00-06:00", "list: the window", "22:00-06:00", row)
    r = run_cli(ctx, "--json", "set", sid, "--no-window", "--priority", "-3")
    s = api(ctx, f"/v1/sweeps/{sid}") or {}
    R.check(r.rc == 0 and s.get("window") is None and s.get("priority") == -3
            and (parse_json(r.out) or {}).get("window", 0) is None,
            "set --no-window --json: no window, the sweep", {"window": None, "priority": -3}, r)
    for cmd in (["cancel", sid], ["pause", sid], ["set", sid, "--priority", "9"]):
        r = run_cli(ctx, "--token-file", ctx.bob_file, *cmd)
        R.check(r.rc == 1 and r.err.startswith("loralpha: forbidden: "),
                f"bob: {cmd} of another user's sweep: exit 1, forbidden", "loralpha: forbidden:", r)
    r = run_cli(ctx, "--token-file", ctx.bob_file, "submit", write_spec(ctx, "small.json", SMALL))
    bid = int(r.out) if r.rc == 0 and r.out.strip().isdigit() else None
    R.eq((api(ctx, f"/v1/sweeps/{bid}") or {}).get("owner"), "bob", "bob's sweep is his")
    r = run_cli(ctx, "cancel", sid, url=False)
    R.eq(r.rc, 0, "cancel over the socket")
    wait_until(lambda: sweep_counts(ctx, sid).get("running") == 0, 30)


# ---- a fake daemon with odd answers -------------------------------------------

DOC_ANALYSIS = {
    "sweep_id": 1, "computed_at": 1795864750.1, "scaling": "peft", "steps": 300,
    "checkpoints": [
        {"fraction": 0.5, "step": 150, "alpha_star": [], "regret": [],
         "fits": [{"lr": 0.001, "method": "free", "c": None, "c_lo": None, "c_hi": None, "p": None,
                   "p_lo": None, "p_hi": None, "r2": None, "scatter_log2": None, "n_used": 2,
                   "n_excluded": 2, "insufficient": True,
                   "reason": "2 usable ranks (inside the grid and well determined); the free law "
                             "needs 3 (its parameters + 1)", "poor": True}]},
        {"fraction": 1.0, "step": 300,
         "alpha_star": [{"rank": 4, "lr": 0.001, "alpha_grid": 32.0, "alpha": 35.1, "loss": 0.0166,
                         "at_edge": False, "ci_lo": 24.0, "ci_hi": 47.9, "flat_lo": 26.1,
                         "flat_hi": 44.0, "lo": 24.0, "hi": 47.9, "flat": False, "ill_determined": False,
                         "weight": 21.5, "n_alpha": 9, "seeds": 2},
                        {"rank": 8, "lr": 0.001, "alpha_grid": 256.0, "alpha": 256.0, "loss": 0.012,
                         "at_edge": True, "ci_lo": 128.0, "ci_hi": 256.0, "flat_lo": 181.0,
                         "flat_hi": 256.0, "lo": 128.0, "hi": 256.0, "flat": False, "ill_determined": True,
                         "weight": 0.0, "n_alpha": 9, "seeds": 2}],
         "fits": [{"lr": 0.001, "method": "free", "c": 8.2, "c_lo": 5.1, "c_hi": 12.9,
                   "p": 0.55, "p_lo": 0.31, "p_hi": 0.8, "r2": 0.97, "scatter_log2": 0.21, "n_used": 4,
                   "n_excluded": 0, "insufficient": False, "reason": None, "poor": False},
                  {"lr": 0.001, "method": "sqrt", "c": 8.9, "c_lo": 7.0, "c_hi": 11.2,
                   "p": 0.5, "p_lo": None, "p_hi": None, "r2": 0.95, "scatter_log2": 0.25, "n_used": 4,
                   "n_excluded": 0, "insufficient": False, "reason": None, "poor": False}],
         "regret": [{"rank": 4, "lr": 0.001, "rule": "alpha=r", "alpha": 4.0, "loss": 0.0412,
                     "best_loss": 0.0166, "regret": 1.48},
                    {"rank": 4, "lr": 0.001, "rule": "alpha=2r", "alpha": 8.0, "loss": 0.03,
                     "best_loss": 0.0166, "regret": 0.807},
                    {"rank": 8, "lr": 0.001, "rule": "alpha=r", "alpha": 8.0, "loss": 0.02,
                     "best_loss": 0.012, "regret": 0.667},
                    {"rank": 8, "lr": 0.001, "rule": "alpha=2r", "alpha": None, "loss": None,
                     "best_loss": 0.012, "regret": None}]}],
    "drift": [{"rank": 4, "lr": 0.001, "alpha": 32.0, "seeds": 2, "loss": 0.0166,
               "drift_ratio": 0.016, "signal": 5.65, "mech_ratio": 1.45, "tf_signal": 4.56}],
    "answers": [
        {"rank": 4, "alpha": 35.1, "alpha_lo": 24.0, "alpha_hi": 47.9, "lr": 0.001, "loss": 0.0166,
         "source": "measured", "why": "rank 4 was tested at lr 0.001 (...)",
         "ill_determined": False, "at_edge": False,
         "rules": [{"name": "alpha=r", "alpha": 4.0, "loss_pct": 148.0, "note": None},
                   {"name": "alpha=2r", "alpha": 8.0, "loss_pct": 80.7, "note": None},
                   {"name": "rslora16", "alpha": 32.0, "loss_pct": 0.9, "note": None}],
         "text": "rank 4: α ≈ 35.1 [24, 47.9] at lr 0.001 (measured); α = r would lose ~148%, "
                 "α = 2r ~81%, rsLoRA α = 16 ~0.9%"},
        {"rank": 8, "alpha": 256.0, "alpha_lo": 128.0, "alpha_hi": 256.0, "lr": 0.001, "loss": 0.012,
         "source": "measured", "why": "rank 8 was tested at lr 0.001 (...)",
         "ill_determined": True, "at_edge": True,
         "rules": [{"name": "alpha=r", "alpha": 8.0, "loss_pct": 66.7, "note": None},
                   {"name": "alpha=2r", "alpha": 16.0, "loss_pct": None,
                    "note": "a run next to its alpha diverged"},
                   {"name": "rslora16", "alpha": 45.25, "loss_pct": 30.2, "note": None}],
         "text": "rank 8: α ≈ 256 [128, 256] at lr 0.001 (measured, at the grid's edge, "
                 "ill-determined); α = r would lose ~67%, rsLoRA α = 16 ~30%"}],
    "headline": "rank 8: α ≈ 256 [128, 256] at lr 0.001 (measured, at the grid's edge, "
                "ill-determined); α = r would lose ~67%, rsLoRA α = 16 ~30%"}

# docs/analysis.md's recommend example (with a poor fit, for the warning)
DOC_RECOMMEND = {
    "rank": 64, "alpha": 71.2, "alpha_lo": 56.0, "alpha_hi": 89.6, "lr": 0.001, "loss": None,
    "source": "law_sqrt",
    "why": "rank 64 was not tested at lr 0.001 (...), so alpha comes from the law fitted to the "
           "tested ranks' alpha*: the free fit's p = 0.55 [0.31, 0.8] holds 0.5, so the sqrt(r) law "
           "(one parameter fewer, as good a fit) is used; rank 64 is outside the tested ranks: "
           "extrapolated",
    "ill_determined": False, "at_edge": False,
    "rules": [{"name": "alpha=r", "alpha": 64.0, "loss_pct": 0.4, "note": None},
              {"name": "alpha=2r", "alpha": 128.0, "loss_pct": 9.7, "note": None},
              {"name": "rslora16", "alpha": 128.0, "loss_pct": 9.7, "note": None}],
    "text": "rank 64: α ≈ 71.2 [56, 89.6] at lr 0.001 (√r law, extrapolated, poor fit); α = r would "
            "lose ~0.4%, α = 2r ~9.7%, rsLoRA α = 16 ~9.7%",
    "scaling": "peft", "c": 8.9, "alpha_sqrt": 71.2, "alpha_free": 80.8, "p_free": 0.55,
    "extrapolated": True, "tested_ranks": [1, 2, 4, 8], "poor_fit": True, "excluded": []}

ODD = {
    "/v1/sweeps": {"sweeps": [{"id": "x", "name": 5, "state": None, "counts": [1],
                               "progress": "a", "created_at": "y"}, 3, None,
                              {"id": 7, "name": "ok\x1b[31m", "state": "done", "n_runs": "z",
                               "counts": {"done": "q", "failed": -4}, "progress": 7}]},
    "/v1/sweeps/1": {"id": 1, "name": ["x"], "state": "weird\x1b]0;", "counts": None,
                     "spec": {"task": 5, "grid": "g", "seeds": [1, 2]},
                     "created_at": -5, "finished_at": 1e300},
    "/v1/sweeps/2": {"state": 7},
    "/v1/sweeps/1/runs": {"runs": [{"id": 5, "alpha": "x", "seed": 1e300, "state": None}, 4, "s"],
                          "next": 5},
    "/v1/sweeps/2/runs": {"runs": "none", "next": "zz"},
    "/v1/runs/1": {"id": 1, "curve": {"train": {"step": [1, 2, "x", None], "loss": ["a"]},
                                      "eval": 5},
                   "layers": {"a": 1}, "sharpness": [1, 2], "spectra": 3,
                   "error": "line1\nline2\x07"},
    "/v1/runs/2": {"curve": {"eval": {"step": [0, 10], "loss": [1.5, None]}}},
    "/v1/sweeps/1/analysis": {"checkpoints": [{"fits": 3, "alpha_star": [{}, 5],
                                               "regret": [{"rule": 5}, {"rule": "a", "rank": "x"},
                                                          {"rule": "b", "rank": 1, "lr": 0.1,
                                                           "regret": None}]}, 7],
                              "drift": "x"},
    "/v1/sweeps/2/analysis": {"checkpoints": "none"},
    "/v1/sweeps/1/recommend": {"alpha": "x"},
    "/v1/sweeps/2/recommend": {"alpha": 5, "tested_ranks": "x", "extrapolated": True,
                               "rules": [{"name": "alpha=r", "alpha": 4, "loss_pct": None,
                                          "note": "its alpha is outside the grid\x1b[2J"}, 5,
                                         {"name": 7}], "why": ["x"], "text": 3},
    "/v1/health": {"version": 5},
    "POST /v1/sweeps": {"id": "nope"},
    "POST /v1/sweeps/1/cancel": [],
}

ODD_COMMANDS = [
    ["list"], ["show", "1"], ["show", "2"], ["runs", "1"], ["runs", "2"], ["run", "1"],
    ["run", "1", "--csv"], ["run", "2"], ["run", "2", "--csv"], ["analysis", "1"], ["analysis", "2"],
    ["recommend", "1", "--rank", "4"], ["recommend", "2", "--rank", "4"], ["version"],
    ["wait", "1"], ["wait", "2", "--timeout", "1"], ["cancel", "1"], ["submit", "-"],
    ["--json", "runs", "1"], ["--json", "list"],
]


class Fake:
    """Answers every request from a table of the current mode."""
    mode = "odd"


class FakeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        path = self.path.split("?")[0]
        status, ctype, body = 200, "application/json", b""
        if Fake.mode == "odd":
            key = path if method == "GET" else f"POST {path}"
            if key in ODD:
                body = json.dumps(ODD[key]).encode()
            else:
                status, body = 404, b'{"error": {"code": "not_found", "message": "no such route"}}'
        elif Fake.mode == "doc":
            body = json.dumps(DOC_ANALYSIS if path.endswith("/analysis") else DOC_RECOMMEND).encode()
        elif Fake.mode == "garbage":
            body = b"this is not json \x00\x1b[2J"
        elif Fake.mode == "empty":
            body = b""
        elif Fake.mode == "html500":
            status, ctype, body = 500, "text/html", b"<html>oops\x1b[2J</html>"
        elif Fake.mode == "error503":
            status, body = 503, b'{"error": {"code": "unavailable", "message": "the daemon is shutting down"}}'
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer("GET")

    def do_POST(self):
        self.answer("POST")


def case_fake(ctx):
    R.case = "odd-answers"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHandler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        Fake.mode = "odd"
        for args in ODD_COMMANDS:
            r = run_cli(ctx, *args, url=url, stdin="{}", timeout=30)
            R.check(r.rc in (0, 1, 4), f"odd answers, {args}: no crash (exit 0, 1 or 4)", "0/1/4", r)
            R.check("\x1b" not in r.out + r.err and "\x07" not in r.out + r.err,
                    f"odd answers, {args}: control characters are not printed", "no ESC/BEL", r)
        r = run_cli(ctx, "runs", "1", url=url, timeout=30)
        R.eq(len(table_rows(r.out, "ID")[1]), 6, "odd answers: a repeated next stops the pages")
        r = run_cli(ctx, "recommend", "1", "--rank", "4", url=url)
        R.check(r.rc == 1 and "no alpha" in r.err, "recommend without an alpha: exit 1", "rc 1", r)
        r = run_cli(ctx, "recommend", "2", "--rank", "4", url=url)
        R.check(r.rc == 0 and "\n    alpha=r    alpha 4        unknown (its alpha is outside the grid?[2J)\n"
                in r.out, "recommend: a rule without a loss says why", "unknown (its alpha ...)", r)
        r = run_cli(ctx, "run", "2", "--csv", url=url)
        R.eq(r.out, ",".join(CSV_HEADER) + "\n0,eval,1.5,,,,\n10,eval,,,,,\n",
             "odd answers: run --csv leaves missing values empty")
        for mode, what in (("garbage", "unexpected answer from the daemon"),
                           ("empty", "unexpected answer from the daemon"),
                           ("html500", "the daemon answered HTTP 500: <html>oops"),
                           ("error503", "loralpha: unavailable: the daemon is shutting down")):
            Fake.mode = mode
            for args in (["list"], ["show", "1"], ["runs", "1"], ["run", "1", "--csv"],
                         ["wait", "1"], ["analysis", "1"], ["recommend", "1", "--rank", "2"]):
                r = run_cli(ctx, *args, url=url, timeout=30)
                R.eq(r.rc, 1, f"{mode}, {args}: exit 1")
                R.check(what in r.err and "\x1b" not in r.err, f"{mode}, {args}: says what came",
                        what, r.err)
        Fake.mode = "doc"
        r = run_cli(ctx, "analysis", "1", url=url)
        R.eq(r.rc, 0, "documented analysis: exit 0")
        R.check(r.out.startswith(
            "analysis of sweep 1: peft scaling, 300 steps, computed ") and "\n\nanswer: "
            + DOC_ANALYSIS["headline"] + "\n\n" in r.out, "documented analysis: the headline first",
            DOC_ANALYSIS["headline"], r.out)
        R.check(r.out.index("answer: ") < r.out.index("law fits"), "documented analysis: answer before fits",
                "answer, then law fits", r.out)
        for pat in (r"RANK +LR +ALPHA +INTERVAL +LOSS +SOURCE +NOTE +alpha=r +alpha=2r +rslora16\n",
                    r"\n +4 +0\.001 +35\.1 +\[24, 47\.9\] +0\.0166 +measured +\+148\.0% +\+80\.7% +\+0\.9%\n",
                    r"\n +8 +0\.001 +256 +\[128, 256\] +0\.012 +measured +at grid edge, ill-determined"
                    r" +\+66\.7% +- +\+30\.2%\n",
                    r"P_INTERVAL +SCATTER +N +FIT\n",
                    r"100% +300 +0\.001 +c\*r\^p +8\.2 +\[5\.1, 12\.9\] +0\.55 +\[0\.31, 0\.8\] +0\.21 +4 +ok",
                    r"100% +300 +0\.001 +c\*sqrt\(r\) +8\.9 +\[7, 11\.2\] +0\.5 +- +0\.25 +4 +ok",
                    r"50% +150 +0\.001 +c\*r\^p +- +- +- +- +- +2 \(\+2 excl\.\) +insufficient",
                    r"alpha\*\(r\) at step 300",
                    r"\n +4 +0\.001 +35\.1 +\[24, 47\.9\] +32 +0\.0166 +2\s",
                    r"8 +0\.001 +256 +\[128, 256\] +256 +0\.012 +2 +at grid edge, ill-determined",
                    r"RANK +LR +alpha=r +alpha=2r",
                    r"\n +4 +0\.001 +\+148\.0% +\+80\.7%\n", r"\n +8 +0\.001 +\+66\.7% +-\n"):
            R.check(re.search(pat, r.out), f"documented analysis: {pat}", pat, r.out)
        r = run_cli(ctx, "recommend", "1", "--rank", "64", url=url)
        R.eq(r.rc, 0, "documented recommend: exit 0")
        R.check(r.out.startswith(DOC_RECOMMEND["text"] + "\n"
                                 "  alpha 71.2 for rank 64, interval [56, 89.6], at lr 0.001\n"
                                 "  source: law_sqrt: " + DOC_RECOMMEND["why"] + "\n"
                                 "  sqrt(r) law: alpha 71.2; free fit (c*r^p, p = 0.55): alpha 80.8\n")
                and re.search(r"\n +alpha=r +alpha 64 +\+0\.4%\n +alpha=2r +alpha 128 +\+9\.7%\n", r.out)
                and "tested ranks: 1, 2, 4, 8" in r.out,
                "documented recommend: answer, source, alpha, the laws, rules, tested ranks",
                "rank 64: α ≈ 71.2 ...", r.out)
        R.check("extrapolated" in r.err and "poor" in r.err, "documented recommend: the warnings",
                "extrapolated, poor", r.err)
    finally:
        srv.shutdown()
        srv.server_close()


# ---- a fake daemon that knows users --------------------------------------------

NIGHTLY = {"id": 4, "name": "nightly", "owner": "alice", "state": "active", "paused": True,
           "priority": 5, "max_parallel": 2, "max_attempts": 2, "seed": 1, "n_runs": 8,
           "created_at": time.time() - 70, "finished_at": None, "progress": 0.25,
           "counts": {"queued": 6, "running": 0, "done": 2, "failed": 0, "diverged": 0,
                      "cancelled": 0},
           "window": {"start": "22:00", "end": "06:00", "outside": "requeue"}}
FINISHED = {"id": 3, "name": "quick", "owner": "bob", "state": "done", "paused": False,
            "priority": 0, "max_parallel": 0, "n_runs": 2, "created_at": time.time() - 600,
            "progress": 1.0, "counts": {"queued": 0, "running": 0, "done": 2, "failed": 0,
                                        "diverged": 0, "cancelled": 0}, "window": None}
REFUSALS = {"401": (401, "unauthorized", "a valid identity is required"),
            "403": (403, "forbidden", "sweep 4 belongs to alice"),
            "429": (429, "user_limit", "bob has 100000 queued runs, the limit")}


class Ident:
    """What the fake daemon saw, (where, method, path, Authorization, body),
    and how it answers ("ok" or a key of REFUSALS)."""
    seen = []
    lock = threading.Lock()
    mode = "ok"


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class IdentHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def route(self, method, path, where, body):
        if Ident.mode in REFUSALS:
            st, code, m = REFUSALS[Ident.mode]
            return st, {"error": {"code": code, "message": m}}
        if (method, path) == ("GET", "/v1/whoami"):
            return 200, ({"user": "alice", "admin": False, "via": "socket"} if where == "socket"
                         else {"user": "bob", "admin": True, "via": "token"})
        if (method, path) == ("GET", "/v1/sweeps"):
            return 200, {"sweeps": [NIGHTLY, FINISHED]}
        if (method, path) == ("GET", "/v1/sweeps/4"):
            return 200, NIGHTLY
        if (method, path) == ("POST", "/v1/sweeps/4/pause"):
            return 200, NIGHTLY
        if (method, path) == ("POST", "/v1/sweeps/4/resume"):
            return 200, dict(NIGHTLY, paused=False)
        if (method, path) == ("PATCH", "/v1/sweeps/4"):
            return 200, dict(NIGHTLY, **json.loads(body))
        return 404, {"error": {"code": "not_found", "message": "no such route"}}

    def answer(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        where = "socket" if isinstance(self.server, UnixHTTPServer) else "tcp"
        with Ident.lock:
            Ident.seen.append((where, method, self.path, self.headers.get("Authorization"), body))
        status, doc = self.route(method, self.path, where, body)
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer("GET")

    def do_POST(self):
        self.answer("POST")

    def do_PATCH(self):
        self.answer("PATCH")


def ident_run(ctx, *args, env=None):
    """Runs the client against the fake; (its result, the requests seen)."""
    with Ident.lock:
        Ident.seen.clear()
    r = run_cli(ctx, *args, url=False, env=env, timeout=30)
    with Ident.lock:
        return r, list(Ident.seen)


def ident_dirs(ctx):
    """A state directory (as $XDG_STATE_HOME/loralpha and as
    $HOME/.local/state/loralpha) that will hold the fake's socket and a
    token; and a token file of its own."""
    xdg = os.path.join(ctx.tmp, "xdg")
    state = os.path.join(xdg, "loralpha")
    home = os.path.join(ctx.tmp, "home")
    os.makedirs(state)
    os.makedirs(os.path.join(home, ".local", "state"))
    os.symlink(state, os.path.join(home, ".local", "state", "loralpha"))
    with open(os.path.join(state, "token"), "w") as f:
        f.write("statetok\n")
    tokf = write_spec(ctx, "file.token", "filetok \r\nsecond line\n")
    return xdg, state, home, tokf


def case_ident_transport(ctx, tcp, sock, dirs):
    """Which transport and token each combination of options and variables
    picks (docs/cli.md, "Connecting")."""
    R.case = "connecting"
    xdg, state, home, tokf = dirs
    port = int(tcp.rsplit(":", 1)[1])
    listen = os.path.join(state, "listen")
    # the state dir's token goes only where its daemon says it listens
    with open(listen, "w") as f:
        f.write(f"127.0.0.1 {port} {os.getpid()}\n")
    cases = [
        (["--url", tcp], {}, "tcp", None),
        (["--url", tcp, "--token-file", tokf], {"LORALPHA_TOKEN": "envtok"}, "tcp", "Bearer filetok"),
        (["--url", tcp], {"LORALPHA_TOKEN": "envtok", "LORALPHA_STATE_DIR": state}, "tcp",
         "Bearer envtok"),
        (["--url", tcp], {"LORALPHA_STATE_DIR": state}, "tcp", "Bearer statetok"),
        ([], {"LORALPHA_URL": tcp, "LORALPHA_STATE_DIR": state}, "tcp", "Bearer statetok"),
        ([], {"LORALPHA_STATE_DIR": state}, "socket", None),
        ([], {"LORALPHA_STATE_DIR": state, "LORALPHA_TOKEN": "envtok"}, "socket", None),
        ([], {"LORALPHA_STATE_DIR": None, "XDG_STATE_HOME": xdg}, "socket", None),
        ([], {"LORALPHA_STATE_DIR": None, "HOME": home}, "socket", None),
        (["--socket", sock], {"LORALPHA_TOKEN": "envtok"}, "socket", None),
        (["--socket", sock], {"LORALPHA_URL": tcp}, "socket", None),
        ([], {"LORALPHA_SOCKET": sock}, "socket", None),
        (["--url", tcp], {"LORALPHA_SOCKET": sock}, "tcp", None),
        ([], {"LORALPHA_URL": tcp, "LORALPHA_SOCKET": sock}, "tcp", None),
    ]
    for args, env, where, auth in cases:
        r, seen = ident_run(ctx, *args, "--json", "whoami", env=env)
        R.check(r.rc == 0 and [(x[0], x[1], x[2], x[3]) for x in seen]
                == [(where, "GET", "/v1/whoami", auth)],
                f"{args} {env}: one request over {where}, Authorization {auth}",
                [(where, "GET", "/v1/whoami", auth)], (r, seen))
    dead = subprocess.Popen(["true"])
    dead.wait()
    for text, why in ((f"127.0.0.1 {port + 1} {os.getpid()}\n", "another port"),
                      (f"127.0.0.1 {port} {dead.pid}\n", "a daemon no longer running"),
                      (None, "no listen file")):
        if text is None:
            os.unlink(listen)
        else:
            with open(listen, "w") as f:
                f.write(text)
        r, seen = ident_run(ctx, "--url", tcp, "--json", "whoami",
                            env={"LORALPHA_STATE_DIR": state})
        R.check(r.rc == 0 and [x[3] for x in seen] == [None],
                f"state dir's listen file names {why}: its token is not sent", [None],
                (r, seen))
    with open(listen, "w") as f:
        f.write(f"127.0.0.1 {port} {os.getpid()}\n")
    r, seen = ident_run(ctx, "--token-file", tokf, "list", env={"LORALPHA_STATE_DIR": state})
    R.check(not seen and "at socket" not in r.err,
            "--token-file without --url: TCP to the default URL, not the default socket",
            "nothing on the socket", (r, seen))


def case_ident_commands(ctx, tcp, sock):
    """whoami, pause, resume, set, and list/show/wait of a paused sweep with
    an owner and a window."""
    R.case = "identity-commands"
    r, _ = ident_run(ctx, "--socket", sock, "whoami")
    R.eq((r.rc, r.out), (0, f"alice via socket {sock}\n"), "whoami over the socket")
    r, _ = ident_run(ctx, "--url", tcp, "whoami")
    R.eq((r.rc, r.out), (0, f"bob (admin) via token at {tcp}\n"), "whoami over TCP")
    r, _ = ident_run(ctx, "--socket", sock, "--json", "whoami")
    R.eq(parse_json(r.out), {"user": "alice", "admin": False, "via": "socket"}, "whoami --json")
    for args, body, out in (
            (["pause", "4"], {"running": "requeue"},
             "sweep 4 paused: running runs go back to the queue\n"),
            (["pause", "4", "--finish"], {"running": "finish"},
             "sweep 4 paused: running runs finish, no new run starts\n")):
        r, seen = ident_run(ctx, "--socket", sock, *args)
        R.eq((r.rc, r.out), (0, out), f"{args}: exit 0, says what happens to running runs")
        R.eq([(x[1], x[2], parse_json(x[4])) for x in seen],
             [("POST", "/v1/sweeps/4/pause", body)], f"{args}: POST /v1/sweeps/4/pause {body}")
    r, seen = ident_run(ctx, "--socket", sock, "resume", "4")
    R.eq((r.rc, r.out), (0, "sweep 4 resumed\n"), "resume: exit 0")
    R.eq([(x[1], x[2]) for x in seen], [("POST", "/v1/sweeps/4/resume")], "resume: the request")
    for args, body, out in (
            (["--priority", "-5", "--max-parallel", "2", "--window", "22:00-06:00", "--outside",
              "requeue"], {"priority": -5, "max_parallel": 2,
                           "window": {"start": "22:00", "end": "06:00", "outside": "requeue"}},
             "sweep 4: priority -5, max_parallel 2, window 22:00-06:00, outside requeue\n"),
            (["--window=01:30-05:00"],
             {"window": {"start": "01:30", "end": "05:00", "outside": "finish"}},
             "sweep 4: priority 5, max_parallel 2, window 01:30-05:00, outside finish\n"),
            (["--no-window", "--priority=7"], {"priority": 7, "window": None},
             "sweep 4: priority 7, max_parallel 2, window none\n"),
            (["--window", "18:00-24:00", "--outside=finish"],
             {"window": {"start": "18:00", "end": "24:00", "outside": "finish"}},
             "sweep 4: priority 5, max_parallel 2, window 18:00-24:00, outside finish\n"),
            (["--max-parallel", "0"], {"max_parallel": 0},
             "sweep 4: priority 5, max_parallel 0, window 22:00-06:00, outside requeue\n")):
        r, seen = ident_run(ctx, "--socket", sock, "set", "4", *args)
        R.eq((r.rc, r.out), (0, out), f"set {args}: exit 0, the settings now")
        R.eq([(x[1], x[2], parse_json(x[4])) for x in seen], [("PATCH", "/v1/sweeps/4", body)],
             f"set {args}: PATCH /v1/sweeps/4 with the fields given")
    for args, doc in ((["pause", "4"], NIGHTLY), (["resume", "4"], dict(NIGHTLY, paused=False)),
                      (["set", "4", "--priority", "1"], dict(NIGHTLY, priority=1))):
        r, _ = ident_run(ctx, "--socket", sock, "--json", *args)
        R.eq(parse_json(r.out), json.loads(json.dumps(doc)), f"--json {args}: the sweep")
    r, _ = ident_run(ctx, "--socket", sock, "list")
    head, rows = table_rows(r.out, "ID")
    R.eq(head, ["ID", "NAME", "OWNER", "STATE", "PROGRESS", "RUNS", "FAILED", "AGE", "WINDOW"],
         "list: the owner and window columns")
    R.eq([x[:7] + x[8:] for x in rows],
         [["4", "nightly", "alice", "paused", "25%", "2/8", "0", "22:00-06:00"],
          ["3", "quick", "bob", "done", "100%", "2/2", "0", "-"]],
         "list: owner, paused (an active sweep that is paused), window")
    r, _ = ident_run(ctx, "--socket", sock, "show", "4")
    for pat in (r"\n  owner +alice\n", r"\n  state +paused, 25% \(2 of 8 runs finished\)\n",
                r"\n  scheduling +priority 5, max_parallel 2,",
                r"\n  window +22:00-06:00, outside requeue\n"):
        R.check(re.search(pat, r.out), f"show: {pat}", pat, r.out)
    r, _ = ident_run(ctx, "--socket", sock, "wait", "4", "--timeout", "1")
    R.check(r.rc == 4 and re.match(r"sweep 4: 25%, 2/8 runs finished, 0 running, 0 failed, paused\n",
                                   r.out), "wait on a paused sweep: 'paused' for the ETA",
            "... 0 failed, paused", r)


def case_ident_refusals(ctx, tcp, sock, dirs):
    """401 (with how to authenticate, for each way of sending a token), 403
    and 429."""
    R.case = "identity-refusals"
    xdg, state, home, tokf = dirs
    Ident.mode = "401"
    for args, env, hint in (
            (["--url", tcp], {}, f"the daemon at {tcp} needs a token and none was sent: use "
                                 "--token-file FILE or LORALPHA_TOKEN (the daemon writes its "
                                 "user's token to the file token in its state directory, by "
                                 f"default {ctx.empty}/token, which is sent only to the "
                                 "loopback address that daemon listens on), or its Unix "
                                 "socket (--socket PATH)"),
            (["--url", tcp], {"LORALPHA_TOKEN": "envtok"},
             f"the daemon at {tcp} refused the token from LORALPHA_TOKEN: use --token-file FILE "
             "or LORALPHA_TOKEN with a valid token, or its Unix socket (--socket PATH)"),
            (["--url", tcp, "--token-file", tokf], {},
             f"refused the token from --token-file {tokf}:"),
            ([], {"LORALPHA_URL": tcp, "LORALPHA_STATE_DIR": state},
             f"refused the token from the token file {state}/token:"),
            (["--socket", sock], {}, f"the daemon at socket {sock} does not accept your user")):
        for cmd in (["whoami"], ["list"], ["pause", "4"]):
            r, _ = ident_run(ctx, *args, *cmd, env=env)
            R.eq(r.rc, 1, f"401, {args} {env} {cmd}: exit 1")
            R.check("loralpha: unauthorized: a valid identity is required\n" in r.err
                    and hint in r.err, f"401, {args} {env} {cmd}: says how to authenticate",
                    hint, r.err)
    r, _ = ident_run(ctx, "--url", tcp, "--json", "whoami")
    R.check(r.rc == 1 and (parse_json(r.out) or {}).get("error", {}).get("code") == "unauthorized",
            "401 with --json: the error document on stdout", "unauthorized", r)
    Ident.mode = "403"
    for cmd in (["cancel", "4"], ["pause", "4"], ["resume", "4"], ["set", "4", "--priority", "1"]):
        r, _ = ident_run(ctx, "--url", tcp, *cmd)
        R.check(r.rc == 1 and r.err == "loralpha: forbidden: sweep 4 belongs to alice\n",
                f"403, {cmd}: exit 1 and the daemon's message", "forbidden", r)
    Ident.mode = "429"
    r, _ = ident_run(ctx, "--url", tcp, "submit", write_spec(ctx, "small.json", SMALL))
    R.check(r.rc == 1 and "loralpha: user_limit: bob has 100000 queued runs" in r.err
            and r.out == "", "429 on submit: exit 1 and the daemon's message", "user_limit", r)
    Ident.mode = "ok"


def case_ident(ctx):
    dirs = ident_dirs(ctx)
    sock = os.path.join(dirs[1], "loralpha.sock")
    tsrv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IdentHandler)
    usrv = UnixHTTPServer(sock, IdentHandler)
    for srv in (tsrv, usrv):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    tcp = f"http://127.0.0.1:{tsrv.server_address[1]}"
    try:
        case_ident_transport(ctx, tcp, sock, dirs)
        case_ident_commands(ctx, tcp, sock)
        case_ident_refusals(ctx, tcp, sock, dirs)
    finally:
        Ident.mode = "ok"
        for srv in (tsrv, usrv):
            srv.shutdown()
            srv.server_close()


# ---- main ------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--cli", help="the client binary (default: --loralpha)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    ctx = Ctx(args)
    try:
        case_usage(ctx)
        case_help(ctx)
        case_unreachable(ctx)
        case_fake(ctx)
        case_ident(ctx)
        start_daemon(ctx)
        case_version(ctx)
        ids = case_submit(ctx)
        if ids.get("quick") and ids.get("small"):
            case_wait(ctx, ids)
            case_wait_tty(ctx)
            case_list_show(ctx, ids)
            case_runs(ctx, ids)
            case_run(ctx, ids)
            case_analysis(ctx, ids)
            case_env(ctx, ids)
            lid = case_long(ctx)
            case_pages(ctx, lid)
            case_cancel(ctx, lid)
            case_whoami(ctx)
            case_pause_set(ctx)
            case_bar_width(ctx, ids["quick"])
            later = case_wait_window(ctx)
            nums = case_numbers(ctx)
            case_runs_csv(ctx, nums)
            case_local_write(ctx, nums)
            case_delete(ctx, nums, later)
            case_delete_crash(ctx)
    except Exception:
        R.check(False, "the test ran to the end", "no exception", traceback.format_exc())
        print(daemon_log(ctx))
    finally:
        stop_daemon(ctx)
        if ctx.keep:
            log(f"kept {ctx.tmp}")
        else:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
