#!/usr/bin/env python3
"""test_identity.py: who may do what, and fairness, on the real daemon.

  test_identity.py --loralpha PATH --worker PATH [--keep]

Every case starts `loralpha serve` with a state directory of its own under
a temporary directory and talks to it over real HTTP: TCP with bearer
tokens (a tokens file for alice, bob and carol) and the Unix socket, where
the kernel names the caller (this test runs as root; a client run as
`nobody` shows a second identity). Cases:

  config     serve --check-config: the effective configuration, and each bad
             setting refused with the key or flag named (exit 2)
  auth       401 for no, wrong and malformed tokens with one body that tells
             nothing; whoami over TCP and the socket; the token file's mode;
             SIGHUP re-reads the tokens file (a bad one keeps the old)
  socket     mode 0660 keeps other users out; 0666 lets nobody in, named by
             the kernel; a stale socket is replaced, a live one refused
  owners     owner/admin rights: bob may not cancel, pause, patch or delete
             alice's sweep (403 naming the owner), the admin carol may;
             read_access "owner" hides other users' sweeps and runs (404,
             also to delete); owners and admins delete; queued-run limits
             (429)
  fairness   one worker slot: bob's later 2-run sweep is not starved by
             alice's 6-run one; a per-user cap of 1 keeps alice's runs apart
             while bob's run beside them
  pause      pause (requeue: running runs back to the queue, attempt not
             counted; finish: the running run ends, nothing new starts),
             resume, was_paused of each; a window closed now holds a sweep,
             PATCH opens it, and closing it again with "requeue" stops its
             run at once; a daemon window closed now starts nothing, and
             /v1/health and loralpha wait say so
"""
import argparse
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness
from harness import Ctx, R, Resp, closed_window, log, open_window, scaled, wait_until

TOK = {"alice": "a" * 40 + "-alice-token", "bob": "b" * 40 + "-bob-token",
       "carol": "c" * 40 + "-carol-token"}
WIDE_TASK = {"task": "teacher", "d_in": 64, "d_out": 64, "n_train": 1024, "n_eval": 256}
NOBODY = 65534


def spec(name, n_runs, steps, **top):
    """n_runs runs (seeds) of ~20 µs a step with little output."""
    s = {"name": name, "task": dict(WIDE_TASK), "grid": {"rank": [4], "alpha": [1.0],
                                                         "lr": [0.001]},
         "seeds": n_runs, "steps": steps, "batch": 64,
         "metrics": {"log_every": 500, "eval_every": 100000, "spectra_every": 0,
                     "sharpness": False}}
    s.update(top)
    return s










class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=15):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Daemon(harness.Daemon):
    """harness.Daemon with the test's tokens file, one worker unless told,
    and a state directory and database by name (a daemon started again
    under a name finds its predecessor's socket and database)."""

    def __init__(self, ctx, name, extra=(), config=None, workers=1, expect_fail=False):
        state = os.path.join(ctx.tmp, f"state-{name}")
        self.sock = os.path.join(state, "loralpha.sock")
        super().__init__(ctx, name, os.path.join(ctx.tmp, f"{name}.db"), workers,
                         extra=["--tokens-file", ctx.tokens, *extra], config=config,
                         state=state, expect_fail=expect_fail)

    def log(self):
        return self.log_tail(3000)

    def req(self, method, path, body=None, user=None, token=None, via="tcp", headers=None):
        """A request as user (a tokens-file user, "root" for the daemon's
        own token, or None for no token), or over the socket."""
        if via == "unix":
            conn = UnixConnection(self.sock)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        hdrs = dict(headers or {})
        if token is None and via == "tcp" and user is not None:
            token = self.token if user == "root" else TOK[user]
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body) if not isinstance(body, (str, bytes)) else body
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def submit(self, s, user):
        r = self.req("POST", "/v1/sweeps", s, user=user)
        if r.status != 201:
            raise RuntimeError(f"submit {s['name']} as {user}: {r}")
        return r.json["id"]

    def sql(self, q, args=()):
        c = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return c.execute(q, args).fetchall()
        finally:
            c.close()

    def states(self, sid):
        return dict(self.sql("SELECT state, COUNT(*) FROM runs WHERE sweep_id = ? "
                             "GROUP BY state", (sid,)))


def as_nobody(sock_path, path):
    """GET path over the Unix socket from a process running as nobody:
    (status, body) or ("error", errno name)."""
    code = ("import socket,sys,json\n"
            "s=socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            "  s.connect(sys.argv[1])\n"
            "except OSError as e:\n"
            "  print(json.dumps(['error', type(e).__name__])); sys.exit(0)\n"
            "s.sendall(('GET '+sys.argv[2]+' HTTP/1.1\\r\\nHost: x\\r\\n"
            "Connection: close\\r\\n\\r\\n').encode())\n"
            "d=b''\n"
            "while True:\n"
            "  c=s.recv(65536)\n"
            "  if not c: break\n"
            "  d+=c\n"
            "head,_,body=d.partition(b'\\r\\n\\r\\n')\n"
            "print(json.dumps([int(head.split()[1]), body.decode()]))\n")
    p = subprocess.run([sys.executable, "-c", code, sock_path, path], user=NOBODY, group=NOBODY,
                       extra_groups=[], capture_output=True, text=True, timeout=scaled(20))
    return json.loads(p.stdout) if p.stdout.strip() else ["error", p.stderr[-300:]]


def nobody_post(sock_path, path):
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
            "s.sendall(('POST '+sys.argv[2]+' HTTP/1.1\\r\\nHost: x\\r\\n"
            "Content-Length: 0\\r\\nConnection: close\\r\\n\\r\\n').encode())\n"
            "d=b''\n"
            "while True:\n"
            "  c=s.recv(65536)\n"
            "  if not c: break\n"
            "  d+=c\n"
            "print(d.decode())\n")
    p = subprocess.run([sys.executable, "-c", code, sock_path, path], user=NOBODY, group=NOBODY,
                       extra_groups=[], capture_output=True, text=True, timeout=scaled(20))
    return p.stdout


# ---- config ---------------------------------------------------------------------------


def case_config(ctx):
    def check(args, config=None, env=None):
        argv = [ctx.loralpha, "serve", "--state-dir", os.path.join(ctx.tmp, "cfg-state"),
                "--worker", ctx.worker, "--check-config", *args]
        if config is not None:
            path = os.path.join(ctx.tmp, "cfg.json")
            with open(path, "w") as f:
                f.write(config if isinstance(config, str) else json.dumps(config))
            argv += ["--config", path]
        return subprocess.run(argv, capture_output=True, text=True, timeout=scaled(20))

    good = {"listen": "127.0.0.1:7999", "socket_mode": "0600", "admins": ["carol"],
            "read_access": "owner", "cores": 2, "max_workers": 2, "threads_per_worker": 1,
            "nice": 5, "window": {"start": "22:00", "end": "07:00", "outside": "requeue"},
            "user_limits": {"default": {"max_workers": 1, "max_queued_runs": 500},
                            "alice": {"max_workers": 1, "max_queued_runs": 9000}}}
    p = check(["--max-workers", "1", "--tokens-file", ctx.tokens], good)
    R.eq(p.returncode, 0, "check-config of a good config exits 0")
    eff = json.loads(p.stdout) if p.returncode == 0 else {}
    R.eq((eff.get("max_workers"), eff.get("listen"), eff.get("read_access"),
          eff.get("window"), eff.get("admins"), eff.get("socket_mode")),
         (1, "127.0.0.1:7999", "owner",
          {"start": "22:00", "end": "07:00", "outside": "requeue"}, ["carol"], "0600"),
         "effective config: the flag overrides the file's max_workers; the rest as given")
    R.eq(eff.get("user_limits", {}).get("alice"), {"max_workers": 1, "max_queued_runs": 9000},
         "effective config: per-user limits")
    R.check(not os.path.exists(os.path.join(ctx.tmp, "cfg-state")),
            "check-config creates nothing", "no state dir", os.listdir(ctx.tmp))

    loose = os.path.join(ctx.tmp, "tokens-loose")
    with open(loose, "w") as f:
        f.write(f"alice {TOK['alice']}\n")
    os.chmod(loose, 0o644)
    badline = os.path.join(ctx.tmp, "tokens-badline")
    with open(badline, "w") as f:
        f.write(f"# users\nalice {TOK['alice']}\nbob short\n")
    os.chmod(badline, 0o600)
    dup = os.path.join(ctx.tmp, "tokens-dup")
    with open(dup, "w") as f:
        f.write(f"alice {TOK['alice']}\nbob {TOK['alice']}\n")
    os.chmod(dup, 0o600)
    bad = [
        ("unknown key", [], {"listn": "x"}, "listn: unknown key"),
        ("malformed JSON", [], "{\"listen\": ", "line 1"),
        ("a user allowed more workers than the daemon", ["--max-workers", "1"],
         {"user_limits": {"bob": {"max_workers": 2}}}, "user_limits.bob.max_workers: 2"),
        ("bad window time", [], {"window": {"start": "25:00", "end": "07:00"}},
         "window.start"),
        ("window start = end", [], {"window": {"start": "07:00", "end": "07:00"}},
         "window: start and end are the same"),
        ("bad window outside", [], {"window": {"start": "01:00", "end": "07:00",
                                               "outside": "later"}}, "window.outside"),
        ("workers x threads over the cores", ["--max-workers", "2",
                                              "--threads-per-worker", "2"], None,
         "exceed the"),
        ("cores over the affinity", ["--cores", "4096"], None, "cores: 4096"),
        ("bad read_access", [], {"read_access": "some"}, "read_access"),
        ("bad admin name", [], {"admins": ["bad name!"]}, "admins[0]"),
        ("zero per-user workers", [], {"user_limits": {"bob": {"max_workers": 0}}},
         "user_limits.bob.max_workers"),
        ("unknown per-user field", [], {"user_limits": {"bob": {"gpus": 1}}},
         "user_limits.bob.gpus"),
        ("bad socket mode", ["--socket-mode", "0477"], None, "--socket-mode"),
        ("bad listen", ["--listen", "nohost"], None, "--listen"),
        ("unreachable", ["--listen", "none", "--socket", "none"], None, "nobody could reach"),
        ("worker not executable", ["--worker", os.path.join(ctx.tmp, "nope")], None,
         "worker:"),
        ("tokens file readable by others", ["--tokens-file", loose], None,
         "readable by other users"),
        ("tokens file bad line", ["--tokens-file", badline], None, "line 3: token"),
        ("tokens file duplicate token", ["--tokens-file", dup], None, "line 2: token"),
        ("unknown group", [], {"socket_group": "no-such-group-here"}, "socket_group"),
        ("flag without value", ["--db"], None, "--db: needs a value"),
        ("unknown flag", ["--frobnicate", "1"], None, "--frobnicate: unknown option"),
    ]
    for what, args, config, want in bad:
        p = check(args, config)
        R.check(p.returncode == 2 and want in p.stderr and "Traceback" not in p.stderr,
                f"check-config refuses: {what}", f"exit 2, stderr with {want!r}",
                (p.returncode, p.stderr.strip()))
    log(f"config: {len(bad)} bad settings refused")


# ---- auth --------------------------------------------------------------------------------


def case_auth(ctx):
    d = Daemon(ctx, "auth")
    tok_mode = os.stat(os.path.join(d.state, "token")).st_mode & 0o777
    R.eq(tok_mode, 0o600, "the daemon's token file is mode 0600")
    R.eq(os.stat(d.sock).st_mode & 0o777, 0o660, "the socket is mode 0660 by default")
    bodies = set()
    for what, tok, extra in [("no token", None, {}), ("wrong token", "x" * 64, {}),
                             ("a prefix of a token", TOK["alice"][:-1], {}),
                             ("token plus junk", TOK["alice"] + "x", {}),
                             ("Basic scheme", None,
                              {"Authorization": "Basic YWxpY2U6cGFzcw=="})]:
        r = d.req("GET", "/v1/sweeps", token=tok, headers=extra)
        R.eq(r.status, 401, f"401 for {what}")
        R.eq(r.headers.get("www-authenticate"), 'Bearer realm="loralpha"',
             f"WWW-Authenticate for {what}")
        bodies.add(r.body)
    R.eq(len(bodies), 1, "every 401 has the same body (nothing tells why)")
    R.eq(json.loads(bodies.pop()), {"error": {"code": "unauthorized",
                                              "message": "authentication required"}},
         "401 body")
    for path in ("/metrics", "/v1/health", "/v1/runs/1", "/v1/sweeps/1/report"):
        R.eq(d.req("GET", path).status, 401, f"401 on {path} without a token")
    R.eq(d.req("POST", "/v1/sweeps", spec("x", 1, 10)).status, 401,
         "401 on a submit without a token")
    m = d.req("GET", "/metrics", user="root").body.decode()
    R.check("loralpha_http_unauthorized_total 10\n" in m, "/metrics counts the 401s",
            "loralpha_http_unauthorized_total 10", [x for x in m.splitlines()
                                                    if "unauthorized" in x])
    R.eq(d.sql("SELECT COUNT(*) FROM sweeps")[0][0], 0, "no sweep from unauthenticated calls")
    r = d.req("GET", "/v1/whoami", user="alice")
    R.eq(r.json, {"user": "alice", "admin": False, "via": "token"}, "whoami as alice")
    r = d.req("GET", "/v1/whoami", user="carol")
    R.eq(r.json, {"user": "carol", "admin": False, "via": "token"},
         "whoami as carol (not an admin here)")
    r = d.req("GET", "/v1/whoami", user="root")
    R.eq(r.json, {"user": "root", "admin": True, "via": "token"},
         "whoami with the daemon's own token: its user, an admin")
    r = d.req("GET", "/v1/whoami", via="unix")
    R.eq(r.json, {"user": "root", "admin": True, "via": "socket"},
         "whoami over the socket: the kernel's word")
    # SIGHUP: a new user appears; a broken file keeps the old tokens
    dave = "d" * 40 + "-dave-token"
    with open(ctx.tokens, "a") as f:
        f.write(f"dave {dave}\n")
    d.proc.send_signal(signal.SIGHUP)
    ok = wait_until(lambda: d.req("GET", "/v1/whoami", token=dave).status == 200, 5)
    R.check(ok, "SIGHUP: a token added to the tokens file works", 200, None)
    with open(ctx.tokens) as f:
        saved = f.read()
    with open(ctx.tokens, "a") as f:
        f.write("broken line\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "the old tokens stay" in d.log(), 5)
    R.check("line" in d.log() and "the old tokens stay" in d.log(),
            "SIGHUP with a bad tokens file: logged, old tokens kept", "message", d.log()[-400:])
    R.eq(d.req("GET", "/v1/whoami", token=dave).status, 200, "dave still in after a bad reload")
    with open(ctx.tokens, "w") as f:
        f.write(saved)
    # the token file is made once and kept
    first = d.token
    d.stop()
    d2 = Daemon(ctx, "auth")
    R.eq(d2.token, first, "the daemon's token survives a restart")
    d2.stop()
    os.chmod(os.path.join(d2.state, "token"), 0o644)
    d3 = Daemon(ctx, "auth", expect_fail=True)
    R.check(d3.proc.returncode != 0 and "readable by other users" in d3.log(),
            "a token file others can read stops the daemon", "refused", d3.log()[-300:])
    os.chmod(os.path.join(d2.state, "token"), 0o600)


# ---- socket ------------------------------------------------------------------------------


def case_socket(ctx):
    d = Daemon(ctx, "sock")
    os.chmod(ctx.tmp, 0o755)
    os.chmod(d.state, 0o755)
    got = as_nobody(d.sock, "/v1/whoami")
    R.eq(got, ["error", "PermissionError"], "mode 0660: another user cannot connect")
    # a second daemon on the same socket is refused; after SIGKILL the stale
    # socket is replaced
    other = Daemon(ctx, "sock", expect_fail=True)
    R.check(other.proc.returncode != 0 and "another daemon is listening" in other.log(),
            "a live socket is not taken over", "refused", other.log()[-300:])
    d.proc.kill()
    d.proc.wait()
    R.check(os.path.exists(d.sock), "SIGKILL leaves the socket file", True, False)
    d2 = Daemon(ctx, "sock", extra=["--socket-mode", "0666"])
    R.eq(d2.req("GET", "/v1/whoami", via="unix").status, 200, "a stale socket is replaced")
    got = as_nobody(d2.sock, "/v1/whoami")
    R.check(got[0] == 200 and json.loads(got[1]) == {"user": "nobody", "admin": False,
                                                     "via": "socket"},
            "mode 0666: nobody connects and is named by the kernel", "nobody", got)
    sid = d2.submit(spec("root's", 1, 10, window=closed_window()), "root")
    out = nobody_post(d2.sock, f"/v1/sweeps/{sid}/cancel")
    R.check(out.startswith("HTTP/1.1 403") and "belongs to root" in out,
            "nobody may not cancel root's sweep", "403", out[:300])
    d2.stop()
    R.check(not os.path.exists(d2.sock), "a clean stop removes the socket", False, True)


# ---- owners ------------------------------------------------------------------------------


def case_owners(ctx):
    cfg = {"admins": ["carol"], "user_limits": {"bob": {"max_queued_runs": 5}}}
    d = Daemon(ctx, "owners", config=cfg)
    a = d.submit(spec("alice's", 3, 10, window=closed_window()), "alice")
    b = d.submit(spec("bob's", 4, 10, window=closed_window()), "bob")
    r = d.req("GET", f"/v1/sweeps/{a}", user="bob")
    R.eq((r.status, r.json.get("owner"), r.json.get("paused")), (200, "alice", False),
         "everyone reads (read_access all): owner and paused shown")
    R.eq(r.json.get("window", {}).get("outside"), "finish", "the sweep's window is shown")
    for what, method, path, body in [("cancel", "POST", f"/v1/sweeps/{a}/cancel", None),
                                     ("pause", "POST", f"/v1/sweeps/{a}/pause", None),
                                     ("resume", "POST", f"/v1/sweeps/{a}/resume", None),
                                     ("patch", "PATCH", f"/v1/sweeps/{a}", {"priority": 5}),
                                     ("delete", "DELETE", f"/v1/sweeps/{a}", None)]:
        r = d.req(method, path, body, user="bob")
        R.check(r.status == 403 and r.json["error"]["code"] == "forbidden" and
                "belongs to alice" in r.json["error"]["message"],
                f"bob may not {what} alice's sweep", "403 naming alice", r)
    R.eq(d.sql("SELECT state, paused, priority FROM sweeps WHERE id = ?", (a,)),
         [("active", 0, 0)], "refused changes changed nothing")
    r = d.req("DELETE", f"/v1/sweeps/{a}", user="alice")
    R.check(r.status == 409 and "cancel it first" in r.json["error"]["message"],
            "alice's delete of her active sweep: 409, cancel it first", "409 cancel it first", r)
    r = d.req("POST", f"/v1/sweeps/{a}/pause", user="carol")
    R.eq((r.status, r.json.get("paused")), (200, True), "the admin carol pauses alice's sweep")
    r = d.req("POST", f"/v1/sweeps/{a}/resume", user="alice")
    R.eq((r.status, r.json.get("paused")), (200, False), "alice resumes her sweep")
    r = d.req("PATCH", f"/v1/sweeps/{a}", {"priority": 7, "max_parallel": 2}, user="alice")
    R.eq((r.status, r.json.get("priority"), r.json.get("max_parallel")), (200, 7, 2),
         "alice patches her sweep")
    for body, want in [({}, "expected an object"), ({"priority": "high"}, "priority"),
                       ({"max_parallel": -1}, "max_parallel"),
                       ({"window": {"start": "9:00", "end": "10:00"}}, "window.start"),
                       ({"owner": "bob"}, "owner: unknown field")]:
        r = d.req("PATCH", f"/v1/sweeps/{a}", body, user="alice")
        R.check(r.status == 400 and want in r.json["error"]["message"],
                f"bad PATCH {body} refused", f"400 with {want!r}", r)
    r = d.req("POST", f"/v1/sweeps/{a}/pause", {"running": "later"}, user="alice")
    R.eq(r.status, 400, "pause with a bad 'running' refused")
    # bob's queued-run limit: 4 queued + 2 > 5
    r = d.req("POST", "/v1/sweeps", spec("too many", 2, 10), user="bob")
    R.check(r.status == 429 and r.json["error"]["code"] == "user_limit" and
            "limit of 5" in r.json["error"]["message"], "bob over his queued-run limit: 429",
            "429 user_limit", r)
    R.eq(d.req("POST", "/v1/sweeps", spec("one more", 1, 10, window=closed_window()),
               user="bob").status, 201, "one more run fits bob's limit")
    R.eq(d.req("POST", "/v1/sweeps", spec("alice big", 20, 10, window=closed_window()),
               user="alice").status, 201, "alice has no queued-run limit")
    r = d.req("POST", f"/v1/sweeps/{b}/cancel", user="bob")
    R.eq(r.status, 200, "bob cancels his own sweep")
    R.eq(d.req("POST", "/v1/sweeps", spec("after cancel", 3, 10, window=closed_window()),
               user="bob").status, 201, "cancelled runs no longer count against the limit")
    owners = dict(d.sql("SELECT name, owner FROM sweeps"))
    R.eq((owners.get("alice's"), owners.get("bob's")), ("alice", "bob"),
         "owners stored in SQLite")
    usage = {row[0]: row[1] for row in d.sql("SELECT owner, queued FROM user_usage")}
    R.eq(usage.get("alice"), 23, "user_usage view: alice's queued runs")
    d.stop()

    # read_access "owner": other users' sweeps and runs do not exist for bob
    d = Daemon(ctx, "private", config={"read_access": "owner", "admins": ["carol"]})
    a = d.submit(spec("alice's", 1, 200), "alice")
    b = d.submit(spec("bob's", 1, 200), "bob")
    wait_until(lambda: d.states(a).get("done") == 1 and d.states(b).get("done") == 1, 60)
    run_a = d.sql("SELECT id FROM runs WHERE sweep_id = ?", (a,))[0][0]
    names = lambda who: [s["name"] for s in d.req("GET", "/v1/sweeps", user=who).json["sweeps"]]
    R.eq(names("bob"), ["bob's"], "read_access owner: bob lists only his sweep")
    R.eq(sorted(names("carol")), ["alice's", "bob's"], "the admin lists every sweep")
    for path in (f"/v1/sweeps/{a}", f"/v1/sweeps/{a}/runs", f"/v1/sweeps/{a}/analysis",
                 f"/v1/sweeps/{a}/curves", f"/v1/runs/{run_a}"):
        r = d.req("GET", path, user="bob")
        R.eq(r.status, 404, f"read_access owner: bob gets 404 for {path}")
    R.eq(d.req("POST", f"/v1/sweeps/{a}/cancel", user="bob").status, 404,
         "read_access owner: bob's cancel of an unseen sweep is 404")
    R.eq(d.req("GET", f"/v1/runs/{run_a}", user="alice").status, 200, "alice reads her run")
    # deleting: an unseen sweep is 404 to bob; its owner and the admin may
    r = d.req("DELETE", f"/v1/sweeps/{a}", user="bob")
    R.eq(r.status, 404, "read_access owner: bob's delete of an unseen sweep is 404")
    R.eq(d.sql("SELECT COUNT(*) FROM runs WHERE sweep_id = ?", (a,)), [(1,)],
         "bob's refused delete removed nothing")
    r = d.req("DELETE", f"/v1/sweeps/{b}", user="carol")
    R.check(r.status == 200 and (r.json or {}).get("deleted", {}).get("runs") == 1,
            "the admin carol deletes bob's sweep", "200, 1 run deleted", r)
    r = d.req("DELETE", f"/v1/sweeps/{a}", user="alice")
    R.check(r.status == 200 and (r.json or {}).get("deleted", {}).get("sweeps") == 1,
            "alice deletes her own sweep", "200, the sweep deleted", r)
    R.eq(d.sql("SELECT COUNT(*) FROM sweeps WHERE id IN (?, ?)", (a, b)), [(0,)],
         "deleted sweeps are gone from the database")
    R.eq(d.req("GET", f"/v1/sweeps/{a}", user="alice").status, 404, "a deleted sweep is 404")
    d.stop()


# ---- fairness ----------------------------------------------------------------------------


def case_fairness(ctx):
    d = Daemon(ctx, "fair", workers=1)
    a = d.submit(spec("alice big", 6, 15000), "alice")
    wait_until(lambda: d.states(a).get("running") == 1, 10)
    b = d.submit(spec("bob small", 2, 15000), "bob")
    ok = wait_until(lambda: d.states(b).get("done") == 2, 120)
    R.check(ok, "bob's sweep finishes", "done 2", d.states(b))
    done_a = d.states(a).get("done", 0)
    R.check(done_a <= 3, "bob's 2 runs were not starved by alice's 6: alice had at most 3 "
            "done when bob's second ended", "<= 3", done_a)
    starts = d.sql("SELECT s.owner FROM runs r JOIN sweeps s ON s.id = r.sweep_id "
                   "WHERE r.started_at IS NOT NULL ORDER BY r.started_at")
    order = "".join(o[0][0] for o in starts)
    R.check(order.startswith("abab"), "one slot alternates between users", "abab...", order)
    d.req("POST", f"/v1/sweeps/{a}/cancel", user="alice")
    d.stop()

    # alice capped at one worker of two: her runs never overlap, bob's do
    d = Daemon(ctx, "cap", workers=2, config={"user_limits": {"alice": {"max_workers": 1}}})
    a = d.submit(spec("alice capped", 3, 12000), "alice")
    b = d.submit(spec("bob", 2, 12000), "bob")
    ok = wait_until(lambda: d.states(a).get("done") == 3 and d.states(b).get("done") == 2, 180)
    R.check(ok, "both capped-test sweeps finish", "done", (d.states(a), d.states(b)))

    def overlap(where, args):
        rows = d.sql(f"SELECT started_at, finished_at FROM runs WHERE {where}", args)
        return any(x[0] < y[1] and y[0] < x[1] for i, x in enumerate(rows)
                   for y in rows[i + 1:])
    R.eq(overlap("sweep_id = ?", (a,)), False, "alice's runs never overlap (cap 1)")
    R.eq(overlap("1", ()), True, "bob's runs ran beside alice's (2 workers used)")
    d.stop()


# ---- pause, resume, windows --------------------------------------------------------------


def case_pause(ctx):
    d = Daemon(ctx, "pause", workers=1)
    a = d.submit(spec("pausable", 2, 100000), "alice")
    wait_until(lambda: d.states(a).get("running") == 1, 10)
    time.sleep(0.3)
    r = d.req("POST", f"/v1/sweeps/{a}/pause", user="alice")
    R.eq((r.status, r.json.get("paused"), r.json.get("was_paused")), (200, True, False),
         "pause (requeue): was_paused false")
    ok = wait_until(lambda: d.states(a) == {"queued": 2}, 10)
    R.check(ok, "pause requeue: the running run went back to the queue", {"queued": 2},
            d.states(a))
    R.eq(d.sql("SELECT MAX(attempts) FROM runs WHERE sweep_id = ?", (a,))[0][0], 0,
         "pause requeue: the stopped attempt is not counted")
    m = d.req("GET", "/metrics", user="root").body.decode()
    R.check("loralpha_workers_requeued_total 1\n" in m, "/metrics counts the requeued worker",
            "loralpha_workers_requeued_total 1", [x for x in m.splitlines() if "requeued" in x])
    time.sleep(1.0)
    R.eq(d.states(a), {"queued": 2}, "paused: nothing starts")
    d.req("PATCH", f"/v1/sweeps/{a}", {"priority": 1}, user="alice")
    R.eq(d.states(a), {"queued": 2}, "a patch does not unpause")
    r = d.req("POST", f"/v1/sweeps/{a}/pause", user="alice")
    R.eq((r.status, r.json.get("paused"), r.json.get("was_paused")), (200, True, True),
         "a second pause: 200, was_paused true")
    r = d.req("POST", f"/v1/sweeps/{a}/resume", user="alice")
    ok = wait_until(lambda: d.states(a).get("running") == 1, 10)
    R.check(r.status == 200 and ok and r.json.get("was_paused") is True,
            "resume: a run starts again, was_paused true", "running 1", (d.states(a), r))
    r = d.req("POST", f"/v1/sweeps/{a}/resume", user="alice")
    R.eq((r.status, r.json.get("paused"), r.json.get("was_paused")), (200, False, False),
         "a resume of a sweep that is not paused: 200, was_paused false")
    time.sleep(0.3)
    r = d.req("POST", f"/v1/sweeps/{a}/pause", {"running": "finish"}, user="alice")
    R.eq(r.status, 200, "pause (finish)")
    ok = wait_until(lambda: d.states(a).get("done") == 1, 180)
    R.check(ok, "pause finish: the running run finishes", "done 1", d.states(a))
    time.sleep(1.0)
    R.eq(d.states(a), {"done": 1, "queued": 1}, "pause finish: nothing new starts")
    d.req("POST", f"/v1/sweeps/{a}/cancel", user="alice")

    # sweep windows
    w = d.submit(spec("night only", 1, 200000, window=closed_window("requeue")), "alice")
    time.sleep(1.0)
    R.eq(d.states(w), {"queued": 1}, "a sweep outside its window does not start")
    r = d.req("PATCH", f"/v1/sweeps/{w}", {"window": open_window("requeue")}, user="alice")
    ok = wait_until(lambda: d.states(w).get("running") == 1, 10)
    R.check(r.status == 200 and ok, "PATCH to a window open now: it starts", "running",
            d.states(w))
    time.sleep(0.3)
    d.req("PATCH", f"/v1/sweeps/{w}", {"window": closed_window("requeue")}, user="alice")
    ok = wait_until(lambda: d.states(w) == {"queued": 1}, 10)
    R.check(ok, "window closed with outside requeue: the run is stopped and queued",
            {"queued": 1}, d.states(w))
    r = d.req("PATCH", f"/v1/sweeps/{w}", {"window": None}, user="alice")
    R.eq(r.json.get("window"), None, "PATCH window null removes it")
    ok = wait_until(lambda: d.states(w).get("running") == 1, 10)
    R.check(ok, "without a window it starts", "running", d.states(w))
    d.req("POST", f"/v1/sweeps/{w}/cancel", user="alice")
    d.stop()

    # the daemon's own window
    win = closed_window()
    d = Daemon(ctx, "daywindow", config={"window": win})
    s = d.submit(spec("waits", 1, 100), "alice")
    time.sleep(1.5)
    R.eq(d.states(s), {"queued": 1}, "daemon window closed now: nothing starts")
    h = d.req("GET", "/v1/health", user="alice").json or {}
    R.check(h.get("window") == win and isinstance(h.get("minute"), int),
            "/v1/health: the daemon's window and its minute of the day", win, h)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORALPHA_")}
    env.update(LORALPHA_TOKEN=TOK["alice"], LORALPHA_STATE_DIR=ctx.tmp)
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "wait", str(s),
                        "--timeout", "1"], capture_output=True, text=True, env=env,
                       timeout=scaled(60))
    want = f"waiting for the daemon's window {win['start']}-{win['end']}"
    R.check(p.returncode == 4 and want in p.stdout, "loralpha wait: why the sweep waits",
            want, (p.returncode, p.stdout, p.stderr))
    d.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    ctx = Ctx(args)
    ctx.tokens = os.path.join(ctx.tmp, "tokens")
    with open(ctx.tokens, "w") as f:
        f.write("# user token\n" + "".join(f"{u} {t}\n" for u, t in TOK.items()))
    os.chmod(ctx.tokens, 0o600)
    cases = [("config", case_config), ("auth", case_auth), ("socket", case_socket),
             ("owners", case_owners), ("fairness", case_fairness), ("pause", case_pause)]
    try:
        for name, fn in cases:
            if args.cases and name not in args.cases:
                continue
            R.case = name
            t0 = time.monotonic()
            log(f"case {name}")
            fn(ctx)
            log(f"case {name}: {time.monotonic() - t0:.1f} s")
    finally:
        if args.keep:
            print(f"kept {ctx.tmp}")
        ctx.cleanup(args.keep)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
