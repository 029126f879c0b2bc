#!/usr/bin/env python3
"""test_rights.py: no file is read for a user with rights that user lacks.

  test_rights.py --loralpha PATH --worker PATH [--keep] [CASE...]

Runs as root and plays second local users (tests/lib/localusers.py): eve, the
submitter; mallory, another user; dave, who runs a daemon of his own.
Cases:

  worker    loralpha-worker --run-as: as root it becomes the user (reads the
            user's 0600 files, not root's); refused when not started as
            root, for root, an unknown user, without a value or twice
  root      a daemon run as root, its Unix socket open to everyone: eve's
            npy sweeps naming a root-only 0600 file, a file of mallory's, a
            missing path and a directory each fail with the same "cannot be
            read" text and no loss stored; eve's own 0600 files train, in a
            worker whose uids, gids and groups are eve's (read from /proc
            while it runs); a token user without a local account may not
            name files (422) and its workers run as nobody, never as root;
            task gpt's base and text are read the same way (a root-only
            base refused at submit, eve's own trains)
  unpriv    a daemon run as dave: eve naming any path (hers, dave's, a
            world-readable one; npy or gpt) is refused 403 saying why; eve's sweep
            without files and dave's own npy sweep run
  relative  relative npy paths: 422 naming the field over the API; `loralpha
            submit` makes them absolute against its working directory
  export    export-slurm --dir: links planted in the directory are replaced,
            their targets unchanged; a directory of another user's, or one
            others may write, is refused and nothing is written into it
  command   the command task (a program the user names): on a daemon run
            as root, eve's trainer runs with her uids, gids and groups, in
            her home, without the daemon's environment or descriptors, and
            cannot read a root-only file; a token user without an account
            gets 422; on dave's daemon eve's command sweep is 403 and dave's
            own runs as dave

Exit 77 (skipped) when local accounts cannot be made (not root).
"""
import argparse
import http.client
import json
import os
import pwd
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import localusers
from harness import Results, log, wait_port, wait_socket, wait_until, write_npy

R = Results()
D_IN, D_OUT, N = 12, 6, 160
GHOST_TOKEN = "g" * 40 + "-ghost-token"




def make_layer(d, seed=1):
    """w0 (D_OUT, D_IN), x (N, D_IN), y (N, D_OUT) in directory d; their paths."""
    rng = random.Random(seed)
    w = [rng.gauss(0, 0.3) for _ in range(D_OUT * D_IN)]
    x = [rng.gauss(0, 1) for _ in range(N * D_IN)]
    y = []
    for i in range(N):
        for o in range(D_OUT):
            y.append(sum(x[i * D_IN + k] * (w[o * D_IN + k] + 0.1) for k in range(D_IN)))
    os.makedirs(d, exist_ok=True)
    paths = {"w0": os.path.join(d, "w0.npy"), "x": os.path.join(d, "x.npy"),
             "y": os.path.join(d, "y.npy")}
    write_npy(paths["w0"], (D_OUT, D_IN), w)
    write_npy(paths["x"], (N, D_IN), x)
    write_npy(paths["y"], (N, D_OUT), y)
    return paths


def give(user, paths, mode=0o600):
    """chown paths (and their directory) to user, files at mode."""
    for p in paths:
        os.chown(p, user.uid, user.gid)
        os.chmod(p, mode)
    d = os.path.dirname(paths[0])
    os.chown(d, user.uid, user.gid)


MAKE_BASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                         "gpt", "make_base.py")


def make_gpt(d, seed=1):
    """A tiny GPT-2-shaped base and a text in directory d; their paths."""
    os.makedirs(d, exist_ok=True)
    paths = {"base": os.path.join(d, "base.safetensors"), "text": os.path.join(d, "text.txt")}
    subprocess.run(["/usr/bin/python3", MAKE_BASE, paths["base"], "--width", "16", "--blocks",
                    "1", "--positions", "32", "--seed", str(seed)], check=True,
                   stdout=subprocess.DEVNULL)
    with open(paths["text"], "w") as f:
        f.write("the quick brown fox jumps over the lazy dog. " * 40)
    return paths


def gpt_spec(name, files, base=None):
    return {"name": name, "task": {"task": "gpt", "gpt": {"base": base or files["base"],
                                                          "text": files["text"]},
                                   "n_head": 2, "context": 16, "n_eval": 4},
            "grid": {"rank": [2], "alpha": [4.0], "lr": [0.01]}, "seeds": 1,
            "steps": 20, "batch": 4, "max_attempts": 1,
            "metrics": {"eval_every": 10, "spectra_every": 0}}


def npy_spec(name, files, steps=60, x=None):
    npy = {"x": x or files["x"], "y": files["y"], "w0": [files["w0"]]}
    # a long run logs sparsely: its rows stay under serve's max_run_rows
    log_every, eval_every = (10, 20) if steps < 10000 else (1000, 100000)
    return {"name": name, "task": {"task": "npy", "npy": npy},
            "grid": {"rank": [2], "alpha": [4.0], "lr": [0.01]}, "seeds": 1,
            "steps": steps, "batch": 32, "max_attempts": 1,
            "metrics": {"log_every": log_every, "eval_every": eval_every,
                        "spectra_every": 0, "sharpness": False}}


def teacher_spec(name, steps):
    return {"name": name, "task": {"task": "teacher", "d_in": 16, "d_out": 16,
                                   "n_train": 256, "n_eval": 64},
            "grid": {"rank": [2], "alpha": [4.0], "lr": [0.001]}, "seeds": 1,
            "steps": steps, "batch": 32, "max_attempts": 1,
            "metrics": {"log_every": 1000, "eval_every": 100000, "spectra_every": 0,
                        "sharpness": False}}


class Daemon:
    """`loralpha serve` on a Unix socket of mode 0666 in a directory others
    may traverse; as root, or as user (a LocalUser) when given."""

    def __init__(self, ctx, name, user=None, tcp=False, state=None, extra=()):
        self.ctx, self.user = ctx, user
        base = user.home if user else ctx.tmp
        self.state = state or os.path.join(base, f"state-{name}")
        self.db = os.path.join(self.state, "loralpha.db")
        sockdir = os.path.join(ctx.shared, f"sock-{name}")
        os.makedirs(sockdir)
        os.chmod(sockdir, 0o711)
        if user:
            os.chown(sockdir, user.uid, user.gid)
        self.sock = os.path.join(sockdir, "d.sock")
        self.log_path = os.path.join(ctx.tmp, f"daemon-{name}.log")
        port_file = os.path.join(base, f"{name}.port")
        argv = [ctx.loralpha, "serve", "--state-dir", self.state, "--socket", self.sock,
                "--socket-mode", "0666", "--worker", ctx.worker, "--max-workers", "2"]
        if tcp:
            argv += ["--listen", "127.0.0.1:0", "--port-file", port_file,
                     "--tokens-file", ctx.tokens]
        else:
            argv += ["--listen", "none"]
        argv += list(extra)
        self.logf = open(self.log_path, "w")
        if user:
            self.proc = user.popen(argv, stdout=self.logf, stderr=subprocess.STDOUT)
        else:
            env = dict(os.environ, LA_DAEMON_ONLY_SECRET="not-for-workers")
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                         stderr=subprocess.STDOUT, cwd=ctx.tmp,
                                         start_new_session=True, env=env)
        ctx.procs.append(self.proc)
        self.port = wait_port(self.proc, port_file, 30) if tcp else None
        if not wait_socket(self.proc, self.sock, 30):
            raise RuntimeError(f"daemon {name} did not start: {self.log()}")

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-3000:]

    def post(self, who, body):
        """POST /v1/sweeps as LocalUser who over the socket: (status, json)."""
        st, _, text = who.http(self.sock, "POST", "/v1/sweeps", body)
        try:
            return st, json.loads(text)
        except ValueError:
            return st, text

    def tcp_post(self, token, body, path="/v1/sweeps"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("POST", path, json.dumps(body) if body is not None else "",
                      {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read())
        finally:
            c.close()

    def sql(self, q, args=()):
        c = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=20)
        try:
            return c.execute(q, args).fetchall()
        finally:
            c.close()

    def run_of(self, sid):
        rows = self.sql("SELECT id, state, error, final_train_loss, final_eval_loss, "
                        "best_eval_loss FROM runs WHERE sweep_id = ?", (sid,))
        return rows[0] if rows else None

    def wait_end(self, sid, timeout=180):
        ok = wait_until(lambda: (self.run_of(sid) or (0, "queued"))[1]
                        not in ("queued", "running"), timeout, 0.1)
        return self.run_of(sid) if ok else None

    def curve_rows(self, run_id):
        return self.sql("SELECT COUNT(*) FROM curve WHERE run_id = ?", (run_id,))[0][0]

    def cancel(self, who, sid):
        who.http(self.sock, "POST", f"/v1/sweeps/{sid}/cancel")

    def workers(self):
        """(pid, status fields) of the daemon's worker processes."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/status") as f:
                    st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if int(st.get("PPid", "0").strip()) == self.proc.pid and \
                    cmd and cmd[0].endswith(b"loralpha-worker"):
                out.append((int(pid), {k: v.split() for k, v in st.items()}, cmd))
        return out

    def stop(self):
        localusers.stop(self.proc)
        self.logf.close()


def ids_of(status):
    """(uids, gids, groups) from /proc status fields, as ints."""
    return ([int(v) for v in status["Uid"]], [int(v) for v in status["Gid"]],
            sorted(int(v) for v in status.get("Groups", [])))


def watch_worker(d, sid, what):
    """The ids of the worker running sweep sid, once it has stored curve rows
    (so it has read its files), or None."""
    def seen():
        run = d.run_of(sid)
        if run is None or run[1] != "running" or d.curve_rows(run[0]) == 0:
            return None
        w = d.workers()
        return w[0] if len(w) == 1 else None
    got = wait_until(seen, 120, 0.05)
    if not R.check(got is not None, f"{what}: a worker of the daemon runs and reports",
                   "one worker with curve rows", d.workers()):
        return None
    return got


# ---- root ------------------------------------------------------------------------------


def check_at_run(ctx, eve, good, unreadable, at_submit):
    """Without the check at submit (check_timeout 0), the same paths fail
    eve's runs with the same text, and nothing of them is stored."""
    d = Daemon(ctx, "root-unchecked", extra=["--check-timeout", "0"])
    try:
        texts = {}
        for tag, path in unreadable:
            st, body = d.post(eve, npy_spec(f"eve {tag}", good, x=path))
            if not R.eq(st, 201, f"unchecked: eve's spec naming a {tag} is taken"):
                R.check(False, "answer", 201, body)
                continue
            run = d.wait_end(body["id"])
            R.check(run is not None and run[1] == "failed", f"{tag}: the run fails",
                    "failed", run)
            if run is None:
                continue
            err = run[2] or ""
            R.check("cannot be read" in err and path in err,
                    f"{tag}: the error says only that the path cannot be read",
                    "... cannot be read ...", err)
            R.check("shape" not in err and "No such" not in err and "directory" not in err
                    and "denied" not in err,
                    f"{tag}: the error tells nothing of the path's shape, type or existence",
                    "no shape/errno words", err)
            R.eq((run[3], run[4], run[5], d.curve_rows(run[0])), (None, None, None, 0),
                 f"{tag}: no loss value is stored")
            # the worker's message, whichever way the daemon kept it
            line = re.search(r"npy\.x: PATH: cannot be read \([^)]*\)",
                             err.replace(path, "PATH"))
            texts[tag] = line.group(0) if line else err
        R.check(len(set(texts.values())) == 1 and len(texts) == 4
                and set(texts.values()) == set(at_submit.values()),
                "the four unreadable paths give one text when the runs fail, the same "
                "as at submit", "one text", (texts, at_submit))
    finally:
        d.stop()



def case_root(ctx):
    eve, mallory = ctx.eve, ctx.mallory
    d = Daemon(ctx, "root", tcp=True)
    try:
        good = make_layer(os.path.join(eve.home, "data"))
        give(eve, list(good.values()))
        rootdir = os.path.join(ctx.shared, "rootonly")
        root_files = make_layer(rootdir, seed=2)
        for p in root_files.values():
            os.chmod(p, 0o600)
        os.chmod(rootdir, 0o755)
        mal = make_layer(os.path.join(mallory.home, "data"), seed=3)
        give(mallory, list(mal.values()))
        missing = os.path.join(ctx.shared, "nothing-here.npy")
        directory = os.path.join(ctx.shared, "adir.npy")
        os.makedirs(directory)
        os.chmod(directory, 0o755)

        unreadable = (("root-only 0600 file", root_files["x"]),
                      ("mallory's 0600 file", mal["x"]),
                      ("missing path", missing), ("directory", directory))
        # checked at submit by a worker run as eve: refused, one text
        texts = {}
        for tag, path in unreadable:
            st, body = d.post(eve, npy_spec(f"eve {tag}", good, x=path))
            msg = ((body or {}).get("error") or {}).get("message", "") \
                if isinstance(body, dict) else str(body)
            R.check(st == 422 and "cannot be read" in msg and path in msg,
                    f"{tag}: refused at submit by eve's worker's check, saying only that "
                    "the path cannot be read", "422 ... cannot be read ...", (st, body))
            R.check("shape" not in msg and "No such" not in msg and "directory" not in msg
                    and "denied" not in msg,
                    f"{tag}: the answer tells nothing of the path's shape, type or existence",
                    "no shape/errno words", msg)
            line = re.search(r"npy\.x: PATH: cannot be read \([^)]*\)",
                             msg.replace(path, "PATH"))
            texts[tag] = line.group(0) if line else msg
        R.check(len(set(texts.values())) == 1 and len(texts) == 4,
                "the four unreadable paths give one text at submit", "one text", texts)
        R.eq(d.sql("SELECT COUNT(*) FROM sweeps")[0][0], 0, "nothing was stored")
        check_at_run(ctx, eve, good, unreadable, texts)

        # task gpt: its base and text are read by eve's worker, as npy's are
        egpt = make_gpt(os.path.join(eve.home, "gpt"))
        give(eve, list(egpt.values()))
        rgpt = make_gpt(os.path.join(ctx.shared, "rootgpt"), seed=2)
        for p in rgpt.values():
            os.chmod(p, 0o600)
        os.chmod(os.path.dirname(rgpt["base"]), 0o755)
        st, body = d.post(eve, gpt_spec("eve gpt root base", egpt, base=rgpt["base"]))
        msg = json.dumps(body)
        R.check(st == 422 and "gpt.base" in msg and "cannot be read" in msg,
                "eve's gpt sweep naming a root-only 0600 base: refused at submit by eve's "
                "worker's check (cannot be read)", "422 gpt.base ... cannot be read", (st, body))
        st, body = d.post(eve, gpt_spec("eve gpt", egpt))
        run = d.wait_end(body["id"]) if st == 201 else None
        R.check(run is not None and run[1] == "done" and run[4] is not None,
                "eve's gpt sweep on her own 0600 base and text trains to the end", "done",
                (st, body, run))

        # eve's own 0600 files: the worker runs as eve, with eve's groups only
        st, body = d.post(eve, npy_spec("eve long", good, steps=100000000))
        R.eq(st, 201, "eve's spec naming her own files")
        got = watch_worker(d, body["id"], "eve's run") if st == 201 else None
        if got:
            uids, gids, groups = ids_of(got[1])
            R.eq(uids, [eve.uid] * 4, "the worker's real, effective, saved and fs uids are eve's")
            R.eq(gids, [eve.gid] * 4, "its gids are eve's")
            R.eq(groups, sorted(os.getgrouplist(eve.name, eve.gid)),
                 "its supplementary groups are eve's, no more")
            R.check(b"--run-as" in got[2] and eve.name.encode() in got[2],
                    "the daemon started it with --run-as eve", "--run-as " + eve.name, got[2])
            # what eve can see of her worker: nothing of the daemon's
            # environment (unreadable while it is not dumpable, else hers)
            p = eve.run([localusers.PYTHON, "-c",
                         "import sys\ntry:\n  sys.stdout.write(open(sys.argv[1], 'rb')"
                         ".read().replace(b'\\0', b'\\n').decode())\n"
                         "except OSError as e:\n  print('unreadable', e.errno)",
                         f"/proc/{got[0]}/environ"])
            seen = p.stdout
            R.check("LA_DAEMON_ONLY_SECRET" not in seen and
                    (seen.startswith("unreadable") or f"HOME={eve.home}\n" in seen),
                    "eve sees none of the daemon's environment in her worker's",
                    "unreadable, or eve's HOME and no LA_DAEMON_ONLY_SECRET", seen)
            try:
                cwd = os.readlink(f"/proc/{got[0]}/cwd")
            except OSError as e:
                cwd = str(e)
            R.eq(cwd, "/", "it runs in /, not in the daemon's directory")
            fds = sorted(int(x) for x in os.listdir(f"/proc/{got[0]}/fd")) \
                if os.path.isdir(f"/proc/{got[0]}/fd") else []
            R.eq(fds[:3], [0, 1, 2], "it has its three pipes")
        if st == 201:
            d.cancel(eve, body["id"])
        st, body = d.post(eve, npy_spec("eve short", good, steps=60))
        run = d.wait_end(body["id"]) if st == 201 else None
        R.check(run is not None and run[1] == "done" and run[4] is not None,
                "eve's own 0600 files train to the end, a loss stored", "done", run)

        # Slurm jobs run as the daemon's user: not for eve's files
        s = npy_spec("eve slurm", good)
        s["executor"] = "slurm"
        st, body = d.post(eve, s)
        # this daemon runs no Slurm jobs; one that does refuses npy there
        # too (test_slurm_lock): its jobs would read with its rights
        R.check(st == 422 and "executor" in json.dumps(body),
                "eve naming files in a sweep for the Slurm executor: 422",
                "422 executor", (st, body))

        # a token user without a local account
        st, body = d.tcp_post(GHOST_TOKEN, npy_spec("ghost npy", good))
        R.check(st == 422 and "no local account" in json.dumps(body),
                "a token user without a local account may not name files (422)",
                "422 no local account", (st, body))
        st, body = d.tcp_post(GHOST_TOKEN, teacher_spec("ghost long", 100000000))
        R.eq(st, 201, "its sweep without files is taken")
        got = watch_worker(d, body["id"], "ghost's run") if st == 201 else None
        if got:
            uids, gids, _ = ids_of(got[1])
            nobody = pwd.getpwnam("nobody")
            R.eq(uids, [nobody.pw_uid] * 4, "its worker runs as nobody, never as root")
            R.eq(gids, [nobody.pw_gid] * 4, "with nobody's gid")
        if st == 201:
            d.tcp_post(GHOST_TOKEN, None, f"/v1/sweeps/{body['id']}/cancel")
    finally:
        d.stop()
    R.check("ERROR: AddressSanitizer" not in d.log(), "no sanitizer report", "", d.log())


# ---- unprivileged ------------------------------------------------------------------------


def case_unpriv(ctx):
    eve, dave = ctx.eve, ctx.dave
    d = Daemon(ctx, "dave", user=dave)
    try:
        dfiles = make_layer(os.path.join(dave.home, "data"), seed=4)
        give(dave, list(dfiles.values()))
        efiles = make_layer(os.path.join(eve.home, "data2"), seed=5)
        give(eve, list(efiles.values()))
        pub = make_layer(os.path.join(ctx.shared, "public"), seed=6)
        for p in pub.values():
            os.chmod(p, 0o644)
        os.chmod(os.path.dirname(pub["x"]), 0o755)
        for tag, files in (("her own files", efiles), ("dave's files", dfiles),
                           ("world-readable files", pub)):
            st, body = d.post(eve, npy_spec(f"eve {tag}", files))
            msg = json.dumps(body)
            R.check(st == 403 and f"runs as {dave.name}" in msg and
                    "docs/security.md" in msg,
                    f"eve naming {tag} on dave's daemon: 403 saying why and what to do",
                    f"403 ... runs as {dave.name} ...", (st, body))
        egpt = make_gpt(os.path.join(eve.home, "gpt3"), seed=7)
        give(eve, list(egpt.values()))
        st, body = d.post(eve, gpt_spec("eve gpt", egpt))
        msg = json.dumps(body)
        R.check(st == 403 and f"task.gpt: this daemon runs as {dave.name}" in msg,
                "eve's gpt sweep on dave's daemon: 403 naming task.gpt, saying why",
                f"403 task.gpt: this daemon runs as {dave.name} ...", (st, body))
        R.eq(d.sql("SELECT COUNT(*) FROM sweeps")[0][0], 0, "nothing was stored")
        st, body = d.post(eve, teacher_spec("eve teacher", 50))
        run = d.wait_end(body["id"]) if st == 201 else None
        R.check(run is not None and run[1] == "done", "eve's sweep without files runs",
                "done", run)
        st, body = d.post(dave, npy_spec("dave npy", dfiles))
        run = d.wait_end(body["id"]) if st == 201 else None
        R.check(run is not None and run[1] == "done" and run[4] is not None,
                "dave's own npy sweep trains on his daemon", "done", (st, body, run))
        # a sweep of eve's naming files, stored before the rule (made here by
        # giving eve a held sweep of dave's while the daemon is stopped): its
        # run is refused when it would start
        m = time.localtime().tm_hour * 60 + time.localtime().tm_min
        held = npy_spec("held", dfiles)
        held["window"] = {"start": "%02d:%02d" % divmod((m + 120) % 1440, 60),
                          "end": "%02d:%02d" % divmod((m + 180) % 1440, 60)}
        st, body = d.post(dave, held)
        R.eq(st, 201, "dave's held sweep")
        d.stop()
        p = dave.run([localusers.PYTHON, "-c",
                      "import sqlite3, sys\n"
                      "c = sqlite3.connect(sys.argv[1])\n"
                      "c.execute('UPDATE sweeps SET owner = ?, window_start = NULL, "
                      "window_end = NULL WHERE id = ?', (sys.argv[2], int(sys.argv[3])))\n"
                      "c.commit()\n", d.db, eve.name, str(body.get("id", 0))])
        R.eq(p.returncode, 0, f"the sweep handed to eve in the database ({p.stderr})")
        d = Daemon(ctx, "dave2", user=dave, state=d.state)
        run = d.wait_end(body.get("id", 0))
        R.check(run is not None and run[1] == "failed" and f"runs as {dave.name}" in
                (run[2] or "") and d.curve_rows(run[0]) == 0,
                "a stored sweep of eve's naming files fails at start, never read",
                f"failed: ... runs as {dave.name} ...", run)
    finally:
        d.stop()


# ---- command tasks -------------------------------------------------------------------------

SELF_REPORT = r"""
import json, os, sys
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
fds = sorted(int(k) for k, v in fds.items() if not v.startswith("/proc/"))
try:
    open(sys.argv[1]).read()
    secret = "read"
except OSError as e:
    secret = type(e).__name__
print(json.dumps({"uids": os.getresuid(), "gids": os.getresgid(),
                  "groups": sorted(os.getgroups()), "cwd": os.getcwd(), "fds": fds,
                  "env": sorted(os.environ), "home": os.environ.get("HOME"),
                  "user": os.environ.get("USER"), "secret": secret}))
out = os.fdopen(3, "w")
out.write('{"type":"start","layers":[{"layer":0,"d_in":2,"d_out":2}]}\n')
out.write('{"type":"eval","step":1,"loss":0.5}\n')
out.write('{"type":"done","status":"done","steps":1,"final_eval_loss":0.5}\n')
"""


def command_spec(name, script, secret):
    return {"name": name, "task": {"task": "command", "command": {
                "argv": [localusers.PYTHON, script, secret]}},
            "grid": {"rank": [2], "alpha": [4.0], "lr": [0.001]}, "steps": 1,
            "max_attempts": 1}


def self_report(d, run_id):
    """What the trainer said of itself (its log's first line), or {}."""
    rows = d.sql("SELECT log FROM run_logs WHERE run_id = ?", (run_id,))
    try:
        return json.loads(rows[0][0].splitlines()[0])
    except (IndexError, ValueError):
        return {}


def case_command(ctx):
    eve, dave = ctx.eve, ctx.dave
    script = os.path.join(ctx.shared, "self_report.py")
    with open(script, "w") as f:
        f.write(SELF_REPORT)
    os.chmod(script, 0o755)
    secret = os.path.join(ctx.shared, "root-secret")
    with open(secret, "w") as f:
        f.write("root only\n")
    os.chmod(secret, 0o600)
    d = Daemon(ctx, "command-root", tcp=True)
    try:
        st, body = d.post(eve, command_spec("eve command", script, secret))
        run = d.wait_end(body["id"]) if st == 201 else None
        R.check(run is not None and run[1] == "done", "eve's command sweep on a root daemon "
                "runs", "201, done", (st, body, run))
        me = self_report(d, run[0]) if run else {}
        groups = sorted(set(os.getgrouplist(eve.name, eve.gid)))
        R.eq((me.get("uids"), me.get("gids"), me.get("groups")),
             ([eve.uid] * 3, [eve.gid] * 3, groups),
             "her trainer runs with eve's uids, gids and groups (real, effective, saved)")
        R.eq((me.get("cwd"), me.get("home"), me.get("user")), (eve.home, eve.home, eve.name),
             "in her home, with her HOME and USER")
        R.check("LA_DAEMON_ONLY_SECRET" not in me.get("env", ["LA_DAEMON_ONLY_SECRET"]),
                "none of the daemon's environment reaches it", "no LA_DAEMON_ONLY_SECRET",
                me.get("env"))
        R.eq(me.get("fds"), [0, 1, 2, 3, 4], "its descriptors: stdin, log, log, records, "
             "parameters; nothing of the daemon's")
        R.eq(me.get("secret"), "PermissionError", "it cannot read a root-only 0600 file")
        st, body = d.tcp_post(GHOST_TOKEN, command_spec("ghost command", script, secret))
        msg = json.dumps(body)
        R.check(st == 422 and "task.command" in msg and "no local account" in msg,
                "a token user without a local account: 422 naming task.command",
                "422 task.command: ... no local account ...", (st, body))
    finally:
        d.stop()
    d = Daemon(ctx, "command-dave", user=dave)
    try:
        st, body = d.post(eve, command_spec("eve on dave's", script, secret))
        msg = json.dumps(body)
        R.check(st == 403 and "task.command" in msg and f"runs as {dave.name}" in msg,
                "eve's command sweep on dave's daemon: 403 naming task.command, saying why",
                f"403 task.command: ... runs as {dave.name} ...", (st, body))
        st, body = d.post(dave, command_spec("dave's own", script, secret))
        run = d.wait_end(body["id"]) if st == 201 else None
        me = self_report(d, run[0]) if run else {}
        R.check(run is not None and run[1] == "done" and me.get("uids") == [dave.uid] * 3,
                "dave's own command sweep runs, as dave", "done, dave's uid",
                (st, run, me.get("uids")))
    finally:
        d.stop()


# ---- relative paths ----------------------------------------------------------------------


def case_relative(ctx):
    eve = ctx.eve
    d = Daemon(ctx, "relative")
    try:
        proj = os.path.join(eve.home, "proj")
        files = make_layer(os.path.join(proj, "data"), seed=7)
        give(eve, list(files.values()))
        rel = {"x": "data/x.npy", "y": "data/y.npy", "w0": "data/w0.npy"}
        for field, bad in (("x", {"x": "data/x.npy"}), ("y", {"y": "./y.npy"}),
                           ("w0[0]", {"w0": ["../w0.npy"]})):
            s = npy_spec("relative", files)
            s["task"]["npy"].update(bad)
            st, body = d.post(eve, s)
            R.check(st == 422 and f"task.npy.{field}: must be an absolute path" in
                    json.dumps(body), f"relative npy.{field} over the API: 422 naming it",
                    f"422 task.npy.{field}", (st, body))
        os.makedirs(os.path.join(proj, "specs"))
        s = npy_spec("cli relative", files)
        s["task"]["npy"] = {"x": rel["x"], "y": "./" + rel["y"], "w0": [rel["w0"]]}
        path = os.path.join(proj, "specs", "s.json")
        with open(path, "w") as f:
            json.dump(s, f)
        os.chown(path, eve.uid, eve.gid)
        os.chown(os.path.dirname(path), eve.uid, eve.gid)
        p = eve.run([ctx.loralpha, "--socket", d.sock, "submit", "specs/s.json"], cwd=proj)
        R.eq(p.returncode, 0, f"loralpha submit with relative paths (stderr {p.stderr!r})")
        sid = int(p.stdout.strip() or 0)
        stored = json.loads(d.sql("SELECT spec FROM sweeps WHERE id = ?", (sid,))[0][0]) \
            if sid else {}
        got = stored.get("task", {}).get("npy")
        R.eq(got, {"x": files["x"], "y": files["y"], "w0": [files["w0"]]},
             "the CLI sent them absolute, against its working directory")
        run = d.wait_end(sid) if sid else None
        R.check(run is not None and run[1] == "done", "and the run trains", "done", run)
    finally:
        d.stop()


# ---- export-slurm -------------------------------------------------------------------------


def case_export(ctx):
    eve, mallory = ctx.eve, ctx.mallory
    spec = os.path.join(eve.home, "export.json")
    with open(spec, "w") as f:
        json.dump(teacher_spec("export", 10), f)
    os.chown(spec, eve.uid, eve.gid)

    def export(dirpath):
        return eve.run([ctx.loralpha, "export-slurm", spec, "--dir", dirpath])

    # links planted in eve's own directory are replaced, not followed
    exp = os.path.join(eve.home, "exp")
    os.makedirs(os.path.join(exp, "runs"))
    targets = {}
    for name in ("spec.json", "array-0.sbatch", "runs/0.json"):
        t = os.path.join(eve.home, "precious-" + name.replace("/", "-"))
        with open(t, "w") as f:
            f.write("keep me\n")
        os.chown(t, eve.uid, eve.gid)
        os.symlink(t, os.path.join(exp, name))
        os.lchown(os.path.join(exp, name), eve.uid, eve.gid)
        targets[name] = t
    for p in (exp, os.path.join(exp, "runs")):
        os.chown(p, eve.uid, eve.gid)
        os.chmod(p, 0o755)
    p = export(exp)
    R.eq(p.returncode, 0, f"export into eve's own directory (stderr {p.stderr!r})")
    for name, t in targets.items():
        with open(t) as f:
            R.eq(f.read(), "keep me\n", f"the target of the link {name} is unchanged")
        R.check(not os.path.islink(os.path.join(exp, name)) and
                os.path.isfile(os.path.join(exp, name)),
                f"{name} is a new regular file", "regular file",
                os.popen(f"ls -l {os.path.join(exp, name)}").read())
    with open(os.path.join(exp, "spec.json")) as f:
        R.eq(json.load(f).get("name"), "export", "spec.json holds the spec")

    # a directory of mallory's that everyone may write (as under /tmp)
    shared = os.path.join(ctx.shared, "tmp")
    os.makedirs(shared)
    os.chmod(shared, 0o1777)
    mdir = os.path.join(shared, "mallory-dir")
    os.makedirs(mdir)
    os.chown(mdir, mallory.uid, mallory.gid)
    os.chmod(mdir, 0o777)
    p = export(mdir)
    R.check(p.returncode != 0 and "belongs to uid" in p.stderr,
            "export into mallory's directory is refused", "exit != 0, belongs to uid",
            (p.returncode, p.stderr))
    R.eq(os.listdir(mdir), [], "nothing was written into it")
    # eve's own directory that others may write
    odir = os.path.join(eve.home, "open")
    os.makedirs(odir)
    os.chown(odir, eve.uid, eve.gid)
    os.chmod(odir, 0o777)
    p = export(odir)
    R.check(p.returncode != 0 and "others may write" in p.stderr,
            "export into a directory others may write is refused",
            "exit != 0, others may write", (p.returncode, p.stderr))
    R.eq(os.listdir(odir), [], "nothing was written into it")
    # a fresh directory is made
    p = export(os.path.join(eve.home, "fresh"))
    R.check(p.returncode == 0 and os.path.isfile(os.path.join(eve.home, "fresh", "spec.json")),
            "export into a new directory", "exit 0, spec.json", (p.returncode, p.stderr))


# ---- the worker's --run-as -------------------------------------------------------------


def case_worker(ctx):
    eve, dave = ctx.eve, ctx.dave
    files = make_layer(os.path.join(eve.home, "wdata"), seed=8)
    give(eve, list(files.values()))
    cfg = {"task": "npy", "npy": {"x": files["x"], "y": files["y"], "w0": [files["w0"]]},
           "rank": 2, "alpha": 4, "lr": 0.01, "steps": 5, "batch": 32}
    path = eve.write("wdata/run.json", json.dumps(cfg))

    def worker(argv, user=None, stdin=None):
        run = user.run if user else lambda a, **kw: subprocess.run(
            a, capture_output=True, text=True, timeout=60, **kw)
        if stdin is None:
            return run([ctx.worker] + argv)
        return run([ctx.worker] + argv, input=stdin, stdin=None)

    p = worker(["--run-as", eve.name, "--config", path])
    R.check(p.returncode == 0 and '"type":"done"' in p.stdout,
            "root: --run-as eve reads eve's 0600 config and files and trains",
            "exit 0, a done record", (p.returncode, p.stderr[-300:]))
    secret = make_layer(os.path.join(ctx.shared, "rootonly-w"), seed=9)
    os.chmod(secret["x"], 0o600)
    other = dict(cfg, npy=dict(cfg["npy"], x=secret["x"]))
    p = worker(["--run-as", eve.name], stdin=json.dumps(other))
    R.check(p.returncode == 2 and "cannot be read" in p.stderr,
            "root: --run-as eve cannot read a root-only file", "exit 2, cannot be read",
            (p.returncode, p.stderr))
    # a worker that re-executes itself (OPENBLAS_NUM_THREADS unset: blas.h)
    # is its user's to read: it must carry none of its starter's environment
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["LA_DAEMON_ONLY_SECRET"] = "not-for-workers"
    long_cfg = dict(cfg, steps=100000000, log_every=1000)
    w = subprocess.Popen([ctx.worker, "--run-as", eve.name], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ctx.tmp)
    ctx.procs.append(w)
    w.stdin.write(json.dumps(long_cfg).encode())
    w.stdin.close()
    first = w.stdout.readline()
    p = eve.run([localusers.PYTHON, "-c",
                 "import sys\ntry:\n  sys.stdout.write(open(sys.argv[1], 'rb')"
                 ".read().replace(b'\\0', b'\\n').decode())\n"
                 "except OSError as e:\n  print('unreadable', e.errno)",
                 f"/proc/{w.pid}/environ"])
    w.kill()
    w.wait()
    R.check(first.startswith(b'{"type":"start"') and "LORALPHA_BLAS_REEXEC=1" in p.stdout
            and f"HOME={eve.home}\n" in p.stdout and f"USER={eve.name}\n" in p.stdout
            and "LA_DAEMON_ONLY_SECRET" not in p.stdout,
            "after its re-exec the worker's environment is eve's, none of its starter's",
            "readable; LORALPHA_BLAS_REEXEC=1, eve's HOME and USER, no LA_DAEMON_ONLY_SECRET",
            (first[:80], p.stdout))
    for argv, user, want in (
            (["--run-as", dave.name, "--check"], eve, "only a worker started as root"),
            (["--run-as", eve.name, "--check"], None, None),
            (["--run-as", eve.name, "--check"], eve, None),  # as after a re-exec
            (["--run-as", "root", "--check"], None, "is root"),
            (["--run-as", "no-such-user-here", "--check"], None, "no local account"),
            (["--check", "--run-as"], None, "needs one user name"),
            (["--run-as", eve.name, "--run-as", eve.name, "--check"], None, "given once")):
        p = worker(argv, user, stdin=json.dumps(cfg))
        if want is None:
            R.eq((p.returncode, p.stderr), (0, ""),
                 f"{' '.join(argv)} as {user.name if user else 'root'}")
        else:
            R.check(p.returncode == 2 and want in p.stderr,
                    f"{' '.join(argv)} as {user.name if user else 'root'} is refused",
                    f"exit 2, {want}", (p.returncode, p.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    ok, why = localusers.available()
    if not ok:
        print(f"skipped: {why}")
        return 77
    ctx = argparse.Namespace(loralpha=os.path.abspath(args.loralpha),
                             worker=os.path.abspath(args.worker),
                             tmp=tempfile.mkdtemp(prefix="loralpha-rights-"), procs=[])
    ctx.shared = os.path.join(ctx.tmp, "shared")
    os.makedirs(ctx.shared)
    os.chmod(ctx.tmp, 0o711)
    os.chmod(ctx.shared, 0o711)
    ctx.tokens = os.path.join(ctx.tmp, "tokens")
    with open(ctx.tokens, "w") as f:
        f.write(f"lasecghost{os.getpid()} {GHOST_TOKEN}\n")
    os.chmod(ctx.tokens, 0o600)
    cases = [("worker", case_worker), ("root", case_root), ("unpriv", case_unpriv),
             ("relative", case_relative), ("export", case_export),
             ("command", case_command)]
    with localusers.LocalUsers("lart") as users:
        ctx.eve, ctx.mallory, ctx.dave = users.add("eve"), users.add("mal"), users.add("dave")
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
            for p in ctx.procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            if args.keep:
                print(f"kept {ctx.tmp}")
            else:
                shutil.rmtree(ctx.tmp, ignore_errors=True)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
