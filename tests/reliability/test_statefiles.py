#!/usr/bin/python3
"""State files and tokens (docs/security.md, "State files and tokens"),
against the real daemon run as root, probed by a second local user made for
the test (localusers.py).

    test_statefiles.py --loralpha PATH --worker PATH [--keep]

Cases:
  private    a running root daemon's database, -wal, -shm, state directory,
             token, listen file and Slurm run directory: the second user's
             open() and listdir() all fail with EACCES; the modes are
             0600/0700 (0710, 0711 for a socket the group, everyone may use,
             and then the user reaches the socket but nothing else); the
             port file is written through no planted symlink
  user       the same for a daemon run by an ordinary user (eve), probed
             by another (mal)
  fix        a state left world-readable (0644 files, 0755 directories,
             a -wal and -shm of a killed daemon): the next daemon makes them
             private and says so in its log; a token file its group can read
             stops it
  migrate    a schema-5 database holding a live run's clear token: the
             daemon hashes it (SHA-256), the clear token is gone from the
             files, the job's token still ingests and the hash does not
  cli        the CLI sends the state directory's token only to the daemon
             that wrote it (its listen file): a plain loopback listener on
             another port, on another loopback address with the daemon's
             port, or on the daemon's port after it stopped receives no
             Authorization header, nor another user's listener on the port
             a listen file names with a live pid; the daemon's own URL (also
             as localhost)
             does; --token-file and LORALPHA_TOKEN are always sent
  slurm      on a one-node Slurm cluster (tests/lib/slurm/cluster.sh): a
             running job's token is stored only as its hash (no column, no
             byte of the files holds the clear token); the hash as a bearer
             token is refused; the second user cannot read the run
             directory, the job's token file or its log

Needs root (useradd, Slurm). Ends with `N passed, M failed`.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import localusers
from harness import Results, closed_window, log, wait_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "..", "lib", "slurm", "cluster.sh")
R = Results()

TASK = {"task": "teacher", "d_in": 64, "d_out": 64, "n_train": 512, "n_eval": 128,
        "target_rank": 4}
METRICS = {"log_every": 100, "eval_every": 500, "spectra_every": 0, "sharpness": False}

# Run as the second user: for each path, "ok" if it could be opened (a
# directory: listed), else the errno's name. Prints a JSON object.
PROBE = r"""
import errno, json, os, sys
out = {}
for p in sys.argv[1:]:
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            with open(p, "rb") as f:
                f.read(1)
        out[p] = "ok"
    except OSError as e:
        out[p] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out))
"""


def spec(name, steps, **extra):
    s = {"name": name, "task": TASK, "grid": {"rank": [2], "alpha": [1.0], "lr": [0.001]},
         "seeds": 1, "seed": 7, "steps": steps, "batch": 32, "metrics": METRICS}
    s.update(extra)
    return s




def mode(path):
    return oct(os.stat(path).st_mode & 0o7777)


def call(port, method, path, body=None, token=None, ctype="application/json", host="127.0.0.1"):
    """One request over TCP; (status, body bytes)."""
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        hdrs = {"Content-Type": ctype}
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def file_has(paths, needle):
    """The paths (that exist) whose bytes contain needle."""
    hits = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                if needle in f.read():
                    hits.append(p)
        except FileNotFoundError:
            pass
    return hits


def db_files(db):
    return [db, db + "-wal", db + "-shm"]


class Daemon:
    """`loralpha serve` as root with its own state directory."""

    def __init__(self, ctx, name, state=None, db=None, extra=(), env=None, expect_fail=False):
        self.ctx = ctx
        self.state = state or os.path.join(ctx.tmp, f"state-{name}")
        self.db = db or os.path.join(self.state, "loralpha.db")
        self.port_file = os.path.join(ctx.tmp, f"port-{name}")
        self.log_path = os.path.join(ctx.tmp, f"daemon-{name}.log")
        if os.path.lexists(self.port_file) and not os.path.islink(self.port_file):
            os.unlink(self.port_file)
        cmd = [ctx.loralpha, "serve", "--state-dir", self.state, "--db", self.db,
               "--listen", "127.0.0.1:0", "--port-file", self.port_file, "--worker",
               ctx.worker, "--max-workers", "1", *extra]
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, cwd=ctx.tmp,
                                     env=env or ctx.env)
        ctx.daemons.append(self)
        if expect_fail:
            self.proc.wait(30)
            return
        if os.path.islink(self.port_file):  # planted: wait for it to be replaced
            wait_until(lambda: not os.path.islink(self.port_file) or
                       self.proc.poll() is not None, 30)
        self.port = wait_port(self.proc, self.port_file, 30)
        if self.port is None:
            raise RuntimeError(f"daemon {name} did not start: {self.log()}")
        with open(os.path.join(self.state, "token")) as f:
            self.token = f.read().strip()

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def api(self, method, path, body=None):
        return call(self.port, method, path, body, self.token)

    def submit(self, s):
        st, body = self.api("POST", "/v1/sweeps", s)
        if not R.check(st == 201, f"sweep {s['name']} accepted", 201, body):
            raise RuntimeError("sweep refused")
        return json.loads(body)["id"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.logf.close()


class Ctx:
    def __init__(self, args, users):
        self.loralpha = os.path.abspath(args.loralpha)
        self.worker = os.path.abspath(args.worker)
        self.tmp = tempfile.mkdtemp(prefix="loralpha-statefiles-")
        os.chmod(self.tmp, 0o755)  # the second user may walk in: the modes inside matter
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("LORALPHA_") and not k.lower().endswith("_proxy")}
        self.daemons = []
        self.users = users
        self.eve = users.add("eve")
        self.cluster = None

    def probe(self, paths):
        """What the second user gets opening each path."""
        p = self.eve.run([localusers.PYTHON, "-c", PROBE, *paths], timeout=60)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {"error": p.stderr[-400:]}

    def all_eacces(self, paths, what):
        got = self.probe(paths)
        R.eq(got, {p: "EACCES" for p in paths}, what)

    def cleanup(self, keep):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        if self.cluster:
            p = subprocess.run(["bash", CLUSTER, "stop", self.cluster], capture_output=True,
                               text=True, timeout=180)
            R.check(p.returncode == 0, "cluster.sh stop", 0, p.stderr)
        if keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---- private: what a running daemon makes ------------------------------------------


def case_private(ctx):
    R.case = "private"
    sdir = os.path.join(ctx.tmp, "jobs-private")
    d = Daemon(ctx, "private", extra=["--executor", "slurm", "--slurm-dir", sdir])
    sid = d.submit(spec("parked", 100, window=closed_window()))
    R.check(sid > 0, "a sweep is stored (the database is written)", "> 0", sid)
    files = db_files(d.db) + [os.path.join(d.state, n) for n in ("token", "listen")]
    for p in files:
        R.check(os.path.exists(p), f"{p} exists while the daemon runs", True, False)
        R.eq(mode(p), "0o600", f"{os.path.basename(p)} is mode 0600")
    R.eq(mode(d.state), "0o710", "state dir: 0710 (the socket's group may reach the socket)")
    R.eq(os.stat(d.state).st_gid, os.getegid(), "state dir: the socket's group")
    for sub in ("", "runs", "logs", "batches", "out"):
        R.eq(mode(os.path.join(sdir, sub)), "0o700", f"Slurm run dir {sub or '.'}: 0700")
    ctx.all_eacces(files + [d.state, sdir, os.path.join(sdir, "runs")],
                   "second user: db, -wal, -shm, token, listen, state dir, run dir: EACCES")
    with open(os.path.join(d.state, "listen")) as f:
        R.eq(f.read().split(), ["127.0.0.1", str(d.port), str(d.proc.pid)],
             "listen file: host, port, pid")
    R.eq(mode(d.port_file), "0o644", "the port file (no secret) is 0644")
    R.eq(d.stop(), 0, "daemon stops")
    R.check(not os.path.exists(os.path.join(d.state, "listen")),
            "a clean stop removes the listen file", "absent", "present")

    # a socket everyone may use: the state dir is searchable, not listable
    victim = os.path.join(ctx.tmp, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    os.symlink(victim, os.path.join(ctx.tmp, "port-shared"))
    d = Daemon(ctx, "shared", extra=["--socket-mode", "0666"])
    R.eq(mode(d.state), "0o711", "socket 0666: state dir 0711 (search only)")
    got = ctx.eve.http(os.path.join(d.state, "loralpha.sock"), "GET", "/v1/whoami")
    R.check(got[0] == 200 and json.loads(got[2]).get("user") == ctx.eve.name,
            "the second user reaches the 0666 socket through the state dir", 200, got)
    ctx.all_eacces(db_files(d.db) + [os.path.join(d.state, "token"), d.state],
                   "socket 0666: db, -wal, -shm, token, state dir still EACCES")
    with open(victim) as f:
        R.eq(f.read(), "precious\n", "a symlink planted at --port-file is not followed")
    R.check(not os.path.islink(d.port_file) and os.path.isfile(d.port_file),
            "the port file replaced the symlink", "regular file", os.path.islink(d.port_file))
    R.eq(d.stop(), 0, "daemon stops")


# ---- user: the same for a daemon run by an ordinary user ----------------------------


def case_user(ctx):
    R.case = "user"
    eve = ctx.eve
    mallory = ctx.users.add("mal")
    os.chmod(eve.home, 0o755)  # a home others may walk through: the modes inside matter
    state = os.path.join(eve.home, "state")
    port_file = os.path.join(eve.home, "port")
    p = eve.popen([ctx.loralpha, "serve", "--state-dir", state, "--listen", "127.0.0.1:0",
                   "--port-file", port_file, "--worker", ctx.worker, "--max-workers", "1"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = wait_port(p, port_file, 30)
        if not R.check(port is not None, "eve's daemon starts", "a port",
                       p.stderr.read().decode() if p.poll() is not None else "no port"):
            return
        st, _ = call(port, "GET", "/v1/whoami")
        R.eq(st, 401, "eve's daemon answers")
        db = os.path.join(state, "loralpha.db")
        files = db_files(db) + [os.path.join(state, n) for n in ("token", "listen")]
        for f in files:
            R.eq((mode(f), os.stat(f).st_uid), ("0o600", eve.uid),
                 f"{os.path.basename(f)}: eve's, mode 0600")
        R.eq(mode(state), "0o710", "eve's state dir: 0710")
        got = json.loads(mallory.run([localusers.PYTHON, "-c", PROBE, *files, state],
                                     timeout=60).stdout or "{}")
        R.eq(got, {f: "EACCES" for f in files + [state]},
             "another user against eve's daemon: db, -wal, -shm, token, listen, state: EACCES")
    finally:
        localusers.stop(p)


# ---- fix: a world-readable state from before ----------------------------------------


def case_fix(ctx):
    R.case = "fix"
    dbdir = os.path.join(ctx.tmp, "dbdir")
    os.mkdir(dbdir)
    os.chmod(dbdir, 0o755)
    db = os.path.join(dbdir, "old.db")
    sdir = os.path.join(ctx.tmp, "jobs-fix")
    args = ["--executor", "slurm", "--slurm-dir", sdir]
    d = Daemon(ctx, "fix", db=db, extra=args)
    d.submit(spec("old", 100, window=closed_window()))
    d.kill()  # leaves the -wal and -shm behind
    state = d.state
    R.check(os.path.exists(db + "-wal") and os.path.exists(db + "-shm"),
            "SIGKILL leaves -wal and -shm", True, os.listdir(dbdir))
    for p in db_files(db):
        os.chmod(p, 0o644)
    for p in (state, sdir, os.path.join(sdir, "runs"), os.path.join(sdir, "logs")):
        os.chmod(p, 0o755)
    ctx_probe = ctx.probe(db_files(db) + [state, sdir])
    R.eq(ctx_probe, {p: "ok" for p in db_files(db) + [state, sdir]},
         "before: the second user reads the world-readable state")
    d = Daemon(ctx, "fix", db=db, extra=args)
    for p in db_files(db):
        R.eq(mode(p), "0o600", f"{os.path.basename(p)} made 0600")
    R.eq(mode(state), "0o710", "state dir made 0710")
    for sub in ("", "runs", "logs"):
        R.eq(mode(os.path.join(sdir, sub)), "0o700", f"run dir {sub or '.'} made 0700")
    text = d.log()
    for what in (f"database {db}: mode 0644 -> 0600", f"database {db}-wal: mode 0644 -> 0600",
                 f"state dir {state}: mode 0755 -> 0710", f"{sdir}: mode 0755 -> 0700"):
        R.check(what in text, f"the log says: {what}", what, text)
    ctx.all_eacces(db_files(db) + [state, sdir],
                   "after: db, -wal, -shm, state dir, run dir: EACCES")
    R.eq(d.stop(), 0, "daemon stops")
    # a -wal planted as a symlink: refused, and what it points to unchanged
    victim = os.path.join(ctx.tmp, "victim-wal")
    with open(victim, "w") as f:
        f.write("not a wal\n")
    os.chmod(victim, 0o644)
    os.symlink(victim, db + "-wal")
    bad = Daemon(ctx, "fix-wal", state=state, db=db, expect_fail=True)
    R.check(bad.proc.returncode != 0 and f"database {db}-wal: cannot make it private" in
            bad.log(), "a symlink at the -wal's path stops the daemon", "refused",
            bad.log()[-400:])
    R.eq(mode(victim), "0o644", "the symlink's target keeps its mode")
    os.unlink(db + "-wal")
    # a token file its group can read may have been read: refused
    tok = os.path.join(state, "token")
    os.chmod(tok, 0o640)
    bad = Daemon(ctx, "fix-token", state=state, db=db, expect_fail=True)
    R.check(bad.proc.returncode != 0 and "readable by other users" in bad.log(),
            "a group-readable token file stops the daemon", "refused", bad.log()[-400:])
    os.chmod(tok, 0o600)


# ---- migrate: clear tokens of a schema-5 database -----------------------------------


SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schema")


def make_schema5(db, run, sweep, token):
    """Makes db a schema-5 database (schema/001-005, as loralpha before 006
    made it) that holds the sweeps and runs it held, with run (of sweep)
    running in Slurm under a clear token."""
    cur = db + ".current"
    os.replace(db, cur)
    for ext in ("-wal", "-shm"):
        if os.path.exists(db + ext):
            os.replace(db + ext, cur + ext)
    con = sqlite3.connect(db)
    for name in sorted(x for x in os.listdir(SCHEMA) if x.endswith(".sql"))[:5]:
        with open(os.path.join(SCHEMA, name)) as f:
            con.executescript(f.read())
    con.execute("ATTACH DATABASE ? AS cur", (cur,))
    for table in ("sweeps", "runs"):
        old = [r[1] for r in con.execute(f"PRAGMA main.table_info({table})")]
        now = {r[1] for r in con.execute(f"PRAGMA cur.table_info({table})")}
        cols = ", ".join(c for c in old if c in now)
        con.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM cur.{table}")
    con.executescript(f"""
        UPDATE runs SET state = 'running', attempts = 1 WHERE id = {run};
        INSERT INTO slurm_jobs (run_id, sweep_id, attempt, array_id, task, token,
                                state, script, submitted_at)
            VALUES ({run}, {sweep}, 1, 999999, 0, '{token}', 'submitted', '/nonexistent', 0);
        PRAGMA user_version = 5;
    """)
    con.commit()
    con.execute("DETACH DATABASE cur")
    con.close()
    for ext in ("", "-wal", "-shm"):
        if os.path.exists(cur + ext):
            os.remove(cur + ext)


def case_migrate(ctx):
    R.case = "migrate"
    args = ["--executor", "slurm", "--slurm-dir", os.path.join(ctx.tmp, "jobs-migrate")]
    d = Daemon(ctx, "migrate", extra=args)
    sid = d.submit(spec("slurm-parked", 100, window=closed_window()))
    st, body = d.api("GET", f"/v1/sweeps/{sid}/runs")
    run = json.loads(body)["runs"][0]["id"]
    R.eq(d.stop(), 0, "daemon stops")
    token = os.urandom(32).hex()
    make_schema5(d.db, run, sid, token)
    R.eq(file_has(db_files(d.db), token.encode()), [d.db], "schema 5: the clear token is in the file")
    # no Slurm commands on its PATH: nothing decides the made-up job ended
    d = Daemon(ctx, "migrate", extra=args, env=dict(ctx.env, PATH=ctx.tmp))
    con = sqlite3.connect(d.db, timeout=10)
    cols = [r[1] for r in con.execute("PRAGMA table_info(slurm_jobs)")]
    row = con.execute("SELECT * FROM slurm_jobs WHERE run_id = ?", (run,)).fetchone()
    version = con.execute("PRAGMA user_version").fetchone()[0]
    con.close()
    R.check("token" not in cols and "token_sha256" in cols,
            "slurm_jobs has token_sha256 and no token column", "token_sha256 only", cols)
    R.check(version >= 6, "schema migrated to 6 or later", ">= 6", version)
    R.check(token not in [str(x) for x in row], "the row holds no clear token", "absent", row)
    want = hashlib.sha256(token.encode()).hexdigest()
    R.check(want in [str(x) for x in row], "the row holds the token's SHA-256", want, row)
    R.eq(file_has(db_files(d.db), token.encode()), [],
         "no byte of the db, -wal or -shm holds the clear token")
    rec = json.dumps({"type": "error", "error": "probe"}) + "\n"
    st, body = call(d.port, "POST", f"/v1/ingest/{run}", rec, want, "application/x-ndjson")
    R.eq(st, 403, "ingest with the stored hash as the token: refused (403)")
    st, body = call(d.port, "POST", f"/v1/ingest/{run}", rec, token, "application/x-ndjson")
    R.eq(st, 200, "ingest with the job's own token still works after the migration")
    R.eq(d.stop(), 0, "daemon stops")


# ---- cli: where the state directory's token goes --------------------------------------


class Listener:
    """A plain HTTP listener on a loopback address: records the request
    headers it gets and answers whoami."""

    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        self.done = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(10)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                head = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
                hdrs = {k.strip().lower(): v.strip() for k, _, v in
                        (ln.partition(":") for ln in head[1:])}
                self.seen.append(hdrs)
                body = b'{"user": "fake", "admin": false, "via": "token"}'
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))

    def close(self):
        self.done = True
        self.sock.close()


# Run as the second user: listens on 127.0.0.1 (port 0), prints the port,
# answers one request and prints its headers as JSON.
SQUAT = r'''
import json, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
s.settimeout(120)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.settimeout(30)
d = b""
while b"\r\n\r\n" not in d:
    chunk = c.recv(65536)
    if not chunk:
        break
    d += chunk
lines = d.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
print(json.dumps({k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}),
      flush=True)
c.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
c.close()
'''


def case_squat(ctx):
    """A listen file naming a port another user listens on, with a live
    pid (as after the daemon died and its pid was reused): no token."""
    R.case = "cli"
    state = os.path.join(ctx.tmp, "state-squat")
    os.mkdir(state, 0o700)
    with open(os.path.join(state, "token"), "w") as f:
        f.write("squatted-state-token\n")
    p = ctx.eve.popen([localusers.PYTHON, "-c", SQUAT], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        with open(os.path.join(state, "listen"), "w") as f:
            f.write(f"127.0.0.1 {port} {os.getpid()}\n")
        r = cli(ctx, state, "--url", f"http://127.0.0.1:{port}", "whoami")
        got = p.stdout.readline()
        R.check(got and "authorization" not in json.loads(got),
                "another user's listener on the port of a listen file with a live pid gets "
                "no token", "no Authorization", (got, r.stderr[-300:]))
    finally:
        localusers.stop(p)


def cli(ctx, state, *args, env=None):
    e = dict(ctx.env, LORALPHA_STATE_DIR=state)
    e.update(env or {})
    return subprocess.run([ctx.loralpha, *args], capture_output=True, text=True, timeout=60,
                          env=e)


def case_cli(ctx):
    R.case = "cli"
    d = Daemon(ctx, "cli")
    tokf = os.path.join(ctx.tmp, "explicit.token")
    with open(tokf, "w") as f:
        f.write("explicit-file-token\n")
    fake = Listener()
    other = Listener("127.0.0.2", d.port)  # the daemon's port on another loopback address
    try:
        for url in (f"http://127.0.0.1:{fake.port}", f"http://localhost:{fake.port}",
                    f"http://127.0.0.2:{d.port}"):
            for how, args, env in (("--url", ["--url", url], None),
                                   ("LORALPHA_URL", [], {"LORALPHA_URL": url})):
                lst = other if "127.0.0.2" in url else fake
                n = len(lst.seen)
                p = cli(ctx, d.state, *args, "whoami", env=env)
                got = lst.seen[n:]
                R.check(p.returncode == 0 and len(got) == 1 and "authorization" not in got[0],
                        f"{how} {url}: the listener gets no Authorization header",
                        "one request without it", (p.returncode, p.stderr[-300:], got))
        for url in (f"http://127.0.0.1:{d.port}", f"http://localhost:{d.port}"):
            p = cli(ctx, d.state, "--url", url, "whoami")
            R.eq((p.returncode, p.stdout), (0, f"root (admin) via token at {url}\n"),
                 f"--url {url}: the daemon's own token is sent to it")
        for how, args, env, want in (
                ("--token-file", ["--token-file", tokf], None, "Bearer explicit-file-token"),
                ("LORALPHA_TOKEN", [], {"LORALPHA_TOKEN": "explicit-env-token"},
                 "Bearer explicit-env-token")):
            n = len(fake.seen)
            p = cli(ctx, d.state, "--url", f"http://127.0.0.1:{fake.port}", *args, "whoami",
                    env=env)
            got = fake.seen[n:]
            R.check(len(got) == 1 and got[0].get("authorization") == want,
                    f"{how}: a token the user names is sent to any URL", want,
                    (p.stderr[-300:], got))
        case_squat(ctx)
        port = d.port
        R.eq(d.stop(), 0, "daemon stops")
        squatter = Listener("127.0.0.1", port)
        try:
            p = cli(ctx, d.state, "--url", f"http://127.0.0.1:{port}", "whoami")
            R.check(len(squatter.seen) == 1 and "authorization" not in squatter.seen[0],
                    "a listener on the stopped daemon's port gets no token",
                    "no Authorization", (p.stderr[-300:], squatter.seen))
        finally:
            squatter.close()
    finally:
        fake.close()
        other.close()


# ---- slurm: a live job's token ---------------------------------------------------------


def case_slurm(ctx):
    R.case = "slurm"
    if not shutil.which("slurmctld") or not shutil.which("munged"):
        R.check(False, "Slurm (slurmctld, munge) installed", "present", "absent")
        return
    ctx.cluster = os.path.join(ctx.tmp, "cluster")
    p = subprocess.run(["bash", CLUSTER, "start", ctx.cluster], capture_output=True, text=True,
                       timeout=180)
    if not R.check(p.returncode == 0, "cluster.sh start", 0, p.stderr[-600:]):
        return
    key, _, value = p.stdout.strip().partition("=")
    env = dict(ctx.env, **{key: value})
    sdir = os.path.join(ctx.tmp, "jobs-slurm")
    d = Daemon(ctx, "slurm", env=env,
               extra=["--executor", "slurm", "--slurm-dir", sdir, "--slurm-poll", "1",
                      "--slurm-partition", "debug"])
    sid = d.submit(spec("long", 5_000_000))

    def running():
        con = sqlite3.connect(d.db, timeout=10)
        try:
            rows = con.execute("SELECT j.run_id, j.array_id, j.task FROM slurm_jobs j "
                               "WHERE j.sweep_id = ? AND j.slurm_state = 'RUNNING' AND "
                               "EXISTS (SELECT 1 FROM curve c WHERE c.run_id = j.run_id)",
                               (sid,)).fetchall()
        finally:
            con.close()
        return rows[0] if rows else None
    got = wait_until(running, 120, 0.2)
    if not R.check(got is not None, "the run is running in Slurm and reporting", "running",
                   d.log()):
        return
    run, array, task = got
    tokfile = os.path.join(sdir, "runs", f"{run}.token")
    with open(tokfile) as f:
        token = f.read().strip()
    R.eq(len(token), 64, "the job's token file holds its 64-hex-digit token")
    con = sqlite3.connect(d.db, timeout=10)
    row = con.execute("SELECT * FROM slurm_jobs WHERE run_id = ?", (run,)).fetchone()
    con.close()
    R.check(token not in [str(x) for x in row], "slurm_jobs holds no clear token", "absent",
            row)
    want = hashlib.sha256(token.encode()).hexdigest()
    R.check(want in [str(x) for x in row], "slurm_jobs holds the token's SHA-256", want, row)
    R.eq(file_has(db_files(d.db), token.encode()), [],
         "no byte of the db, -wal or -shm holds the clear token")
    rec = json.dumps({"type": "train", "step": 99999999, "loss": 1.0}) + "\n"
    st, _ = call(d.port, "POST", f"/v1/ingest/{run}", rec, want, "application/x-ndjson")
    R.eq(st, 403, "a forged ingest with the stored hash as the token: refused (403)")
    con = sqlite3.connect(d.db, timeout=10)
    n = con.execute("SELECT COUNT(*) FROM curve WHERE step = 99999999").fetchone()[0]
    con.close()
    R.eq(n, 0, "the forged record is not stored")
    joblog = os.path.join(sdir, "logs", f"{array}_{task}.out")
    R.check(os.path.exists(joblog), "the job's Slurm log exists", joblog, os.listdir(
        os.path.join(sdir, "logs")))
    if os.path.exists(joblog):
        R.eq(mode(joblog), "0o600", "the job's Slurm log is 0600 (the daemon's umask)")
    R.eq(mode(tokfile), "0o600", "the job's token file is 0600")
    ctx.all_eacces([sdir, os.path.join(sdir, "runs"), tokfile, joblog, d.db],
                   "second user: run dir, job token, job log, db: EACCES")
    st, _ = d.api("POST", f"/v1/sweeps/{sid}/cancel")
    R.eq(st, 200, "cancel the sweep")
    R.eq(d.stop(), 0, "daemon stops")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", help="run one case")
    args = ap.parse_args()
    ok, why = localusers.available()
    if not ok:
        print(f"test_statefiles: needs root and useradd ({why})")
        return 1
    t0 = time.monotonic()
    with localusers.LocalUsers("lasf") as users:
        ctx = Ctx(args, users)
        try:
            for name, fn in (("private", case_private), ("user", case_user), ("fix", case_fix),
                             ("migrate", case_migrate), ("cli", case_cli),
                             ("slurm", case_slurm)):
                if args.only and args.only != name:
                    continue
                t = time.monotonic()
                try:
                    fn(ctx)
                except Exception:
                    R.check(False, f"case {name} ran without an exception", None,
                            traceback.format_exc())
                    for d in ctx.daemons:
                        if os.path.exists(d.log_path):
                            print(f"--- {d.log_path}\n{d.log()}")
                log(f"{name}: {time.monotonic() - t:.1f} s")
        finally:
            ctx.cleanup(args.keep)
    log(f"wall {time.monotonic() - t0:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
