#!/usr/bin/python3
"""Faults the daemon must survive or refuse (docs/daemon.md, "Crashes and
shutdown", "A damaged or empty database", "A full disk").

    test_faults.py --loralpha PATH --worker PATH [--keep] [--only NAME]

Cases, each against real daemons, real signals and real SQLite files:

  workers_die      a daemon SIGKILLed while two workers train: both exit
                   (PR_SET_PDEATHSIG); a worker whose LORALPHA_DAEMON_PID is
                   not its parent does not train at all.
  leftovers        processes recorded in local_workers while the daemon is
                   down: the one whose PID and start time match is ended at
                   restart, before the runs are requeued; one whose start
                   time differs (a reused PID) is left alone.
  leftover_users   (root: throwaway accounts) a root daemon ends a recorded
                   leftover that runs as another user; a daemon run by that
                   user cannot end root's process (the refusal is logged)
                   and still ends its own.
  bad_db           a database with damaged pages, a 0-byte file and a text
                   file: serve refuses each with its message and exit code
                   3 and leaves the file as it was; a missing path is
                   created.
  disk_full_idle   (root: a small tmpfs) an idle daemon whose disk fills: a
                   new sweep is refused, the log line names SQLite's cause,
                   and once space is freed the daemon's probe write brings
                   /v1/health and /metrics back to ok with no restart and
                   no other write.

Every wait polls for a state with a generous deadline.
"""
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as hs
import localusers
from harness import log, scaled, wait_until

R = hs.R

# A run that writes its first records and then trains silently for half an
# hour: an orphan of the old daemon would not even meet a closed pipe.
SILENT = {"log_every": 100000000, "eval_every": 0, "spectra_every": 0,
          "sharpness": False}


def silent_spec(name, n_runs):
    return hs.make_spec(name, [1, 2, 4, 8][:n_runs], [1.0], [0.001], 100000000,
                        task=hs.WIDE_TASK, batch=64, metrics=SILENT)


def start_time(pid):
    """Field 22 of /proc/PID/stat (clock ticks after boot), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rfind(")") + 2:].split()[19])


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def running_workers(d, sid, n):
    """Waits until n runs of sid are running with n live worker processes
    that have written their start record (its layers are in the database):
    from then on they write nothing for half an hour. Their PIDs."""
    def ready():
        c = (d.sweep(sid) or {}).get("counts", {})
        kids = [p for p in d.children() if hs.alive(p)]
        started = hs.cli_val(d.db, "SELECT COUNT(DISTINCT l.run_id) FROM layers l JOIN runs r "
                                   f"ON r.id = l.run_id WHERE r.sweep_id = {sid} "
                                   "AND r.state = 'running'")
        return kids if c.get("running") == n and len(kids) == n and started == n else None
    return wait_until(ready, 60, 0.05)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def serve_once(ctx, tag, db, timeout=60):
    """Runs `serve` on db; (exit code or None if it kept running, log)."""
    logp = ctx.path(f"serve.{tag}.log")
    cmd = [ctx.loralpha, "serve", "--listen", "127.0.0.1:0", "--db", db,
           "--worker", ctx.worker, "--max-workers", "1",
           *hs.state_args(ctx.tmp, f"once.{tag}")]
    with open(logp, "w") as logf:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=subprocess.STDOUT, cwd=ctx.tmp)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
    with open(logp) as f:
        return rc, f.read()


# ---- workers die with the daemon ----------------------------------------------


def case_workers_die(ctx):
    db = ctx.path("die.db")
    d = hs.Daemon(ctx, "die", db, 2)
    sid = d.submit(silent_spec("die", 2), "silent sweep")
    kids = running_workers(d, sid, 2)
    R.check(kids is not None, "two workers running before the kill", "2 PIDs", d.children())
    kids = kids or []
    d.proc.kill()
    d.proc.wait()
    R.eq(d.proc.returncode, -signal.SIGKILL, "daemon killed with SIGKILL")
    gone = wait_until(lambda: not any(hs.alive(p) for p in kids), 60)
    R.check(gone, "every worker of the killed daemon exits (PR_SET_PDEATHSIG)",
            "no live PID of " + repr(kids), [p for p in kids if hs.alive(p)])
    for p in kids:
        hs.kill_pid(p)

    # The daemon died before the worker asked to die with it: the worker
    # sees a parent that is not the daemon named in its environment.
    cfg = dict(hs.WIDE_TASK, rank=1, alpha=1.0, lr=0.001, steps=20000, batch=64, **SILENT)
    other = subprocess.Popen(["sleep", "600"])
    try:
        env = dict(os.environ, LORALPHA_DAEMON_PID=str(other.pid))
        t0 = time.monotonic()
        p = subprocess.run([ctx.worker], input=json.dumps(cfg), env=env,
                           capture_output=True, text=True, timeout=scaled(120))
        took = time.monotonic() - t0
        R.check(p.returncode == 1 and p.stdout == "",
                "a worker whose LORALPHA_DAEMON_PID is not its parent exits 1 without "
                "a record", "exit 1, no stdout", (p.returncode, p.stdout[:200], f"{took:.1f} s"))
        env["LORALPHA_DAEMON_PID"] = str(os.getpid())
        cfg["steps"] = 10
        p = subprocess.run([ctx.worker], input=json.dumps(cfg), env=env,
                           capture_output=True, text=True, timeout=scaled(120))
        R.check(p.returncode == 0 and '"type":"done"' in p.stdout,
                "a worker whose LORALPHA_DAEMON_PID is its parent trains", "exit 0 with done",
                (p.returncode, p.stderr[-300:]))
        env["LORALPHA_DAEMON_PID"] = "12x"
        p = subprocess.run([ctx.worker], input=json.dumps(cfg), env=env,
                           capture_output=True, text=True, timeout=120)
        R.check(p.returncode == 1 and "LORALPHA_DAEMON_PID" in p.stderr,
                "a malformed LORALPHA_DAEMON_PID is an error naming it",
                "exit 1, LORALPHA_DAEMON_PID: ...", (p.returncode, p.stderr[-300:]))
    finally:
        other.kill()
        other.wait()


# ---- leftovers ended at restart ------------------------------------------------


def case_leftovers(ctx):
    db = ctx.path("left.db")
    d = hs.Daemon(ctx, "left", db, 2)
    sid = d.submit(silent_spec("left", 2), "silent sweep")
    kids = running_workers(d, sid, 2) or []
    rows = hs.cli(db, "SELECT run_id, pid, start_ticks, boot_id FROM local_workers "
                      "ORDER BY run_id")
    want = sorted((p, start_time(p), boot_id()) for p in kids)
    R.eq(sorted((r["pid"], r["start_ticks"], r["boot_id"]) for r in rows), want,
         "local_workers holds each running worker's PID, start time and boot id")
    d.proc.kill()
    d.proc.wait()
    wait_until(lambda: not any(hs.alive(p) for p in kids), 60)
    for p in kids:
        hs.kill_pid(p)
    # While the daemon is down, two processes take the rows: one with its
    # real start time, one whose start time is off by one tick (as a
    # process that reused a recorded PID would be).
    match = subprocess.Popen(["sleep", "600"])
    other = subprocess.Popen(["sleep", "600"])
    try:
        run_ids = [r["run_id"] for r in rows]
        R.eq(len(run_ids), 2, "two rows in local_workers before the restart")
        hs.cli(db, f"UPDATE local_workers SET pid = {match.pid}, "
                   f"start_ticks = {start_time(match.pid)} WHERE run_id = {run_ids[0]}; "
                   f"UPDATE local_workers SET pid = {other.pid}, "
                   f"start_ticks = {start_time(other.pid) + 1} WHERE run_id = {run_ids[1]}")
        d2 = hs.Daemon(ctx, "left-restarted", db, 2)
        try:
            rc = match.wait(60)
        except subprocess.TimeoutExpired:
            rc = None
        R.eq(rc, -signal.SIGTERM, "the recorded process whose PID and start time match "
                                  "is ended with SIGTERM at restart")
        R.check(other.poll() is None, "the process whose start time differs is left alone",
                "running", other.returncode)
        text = d2.log_tail(100000)
        R.check(f"run {run_ids[0]}: the worker a previous daemon left (pid {match.pid})"
                in text and "stopped 1 leftover worker of a previous daemon" in text,
                "the log names the leftover it stopped", f"pid {match.pid}", text)
        R.check(f"pid {other.pid}" not in text, "the log does not name the other process",
                "no 'pid %d'" % other.pid, text)
        R.check(0 <= text.find("stopped 1 leftover") < text.find("2 runs requeued"),
                "leftovers are ended before the runs are requeued", "stopped, then requeued",
                text)
        kids2 = running_workers(d2, sid, 2) or []
        rows2 = hs.cli(db, "SELECT pid FROM local_workers ORDER BY pid")
        R.eq([r["pid"] for r in rows2], sorted(kids2),
             "after the restart local_workers holds the new workers only")
        R.eq(d2.stop(), 0, "restarted daemon exits 0")
        R.eq(hs.cli_val(db, "SELECT COUNT(*) FROM local_workers"), 0,
             "a drained daemon leaves no rows in local_workers")
    finally:
        for p in (match, other):
            if p.poll() is None:
                p.kill()
                p.wait()


def record(run_user, db, rows):
    """Writes rows [(run_id, pid, start_ticks)] into local_workers with the
    sqlite3 CLI, as run_user (None: root), so that the -wal the write makes
    belongs to the database's owner."""
    sql = "DELETE FROM local_workers; " + " ".join(
        f"INSERT INTO local_workers VALUES ({r}, {p}, {t}, '{boot_id()}', 0);"
        for r, p, t in rows)
    argv = [hs.SQLITE3, "-cmd", ".timeout 10000", db, sql]
    p = (run_user.run(argv) if run_user else
         subprocess.run(argv, capture_output=True, text=True, timeout=60))
    if p.returncode != 0:
        raise RuntimeError(f"sqlite3: {p.stderr.strip()}")


def serve_as(user, ctx, tag, db):
    """Starts `serve` as user on db (its state in user's home); (Popen, log
    path) once it listens."""
    port_file = os.path.join(user.home, f"port.{tag}")
    logp = os.path.join(user.home, f"serve.{tag}.log")
    logf = open(logp, "w")
    os.chown(logp, user.uid, user.gid)
    p = user.popen([ctx.loralpha, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file,
                    "--db", db, "--worker", ctx.worker, "--max-workers", "1",
                    "--state-dir", os.path.join(user.home, f"state.{tag}")],
                   stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    if hs.wait_port(p, port_file, 60) is None:
        raise RuntimeError(f"serve as {user.name} did not start: {open(logp).read()}")
    return p, logp


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def case_leftover_users(ctx):
    ok, why = localusers.available()
    if not ok:
        log(f"leftover_users: {why}; skipped")
        return
    with localusers.LocalUsers("lafault") as users:
        eve = users.add("eve")
        eve_sleep = eve.popen(["sleep", "600"])
        root_sleep = subprocess.Popen(["sleep", "600"])
        try:
            # A root daemon: eve's process is a recorded leftover.
            db = ctx.path("root-users.db")
            d = hs.Daemon(ctx, "root-users", db, 1)
            R.eq(d.stop(), 0, "root daemon exits 0")
            record(None, db, [(1, eve_sleep.pid, start_time(eve_sleep.pid))])
            d = hs.Daemon(ctx, "root-users-again", db, 1)
            try:
                rc = eve_sleep.wait(60)
            except subprocess.TimeoutExpired:
                rc = None
            R.eq(rc, -signal.SIGTERM, "a root daemon ends the leftover that runs as another user")
            R.eq(d.stop(), 0, "root daemon exits 0 again")

            # A daemon run by eve: root's process is recorded too, but not hers.
            eve_sleep = eve.popen(["sleep", "600"])
            edb = os.path.join(eve.home, "eve.db")
            p, logp = serve_as(eve, ctx, "1", edb)
            R.eq(stop(p), 0, "eve's daemon exits 0")
            record(eve, edb, [(1, root_sleep.pid, start_time(root_sleep.pid)),
                              (2, eve_sleep.pid, start_time(eve_sleep.pid))])
            p, logp = serve_as(eve, ctx, "2", edb)
            try:
                rc = eve_sleep.wait(60)
            except subprocess.TimeoutExpired:
                rc = None
            R.eq(rc, -signal.SIGTERM, "eve's daemon ends her own leftover")
            R.check(root_sleep.poll() is None, "eve's daemon cannot end root's process",
                    "running", root_sleep.returncode)
            with open(logp) as f:
                text = f.read()
            R.check(f"run 1: cannot stop the worker a previous daemon left (pid {root_sleep.pid}): "
                    "Operation not permitted" in text,
                    "eve's daemon logs that it may not stop root's process",
                    "... Operation not permitted", text)
            R.eq(stop(p), 0, "eve's daemon exits 0 again")
        finally:
            for q in (eve_sleep, root_sleep):
                if q.poll() is None:
                    q.kill()
                    q.wait()


# ---- damaged and empty databases ------------------------------------------------


def case_bad_db(ctx):
    db = ctx.path("sound.db")
    d = hs.Daemon(ctx, "sound", db, 2)
    M = {"log_every": 1, "eval_every": 5, "spectra_every": 50, "sharpness": False}
    sid = d.submit(hs.make_spec("rows", [1, 2], [1.0, 2.0], [0.01], 1500, metrics=M))
    d.wait_sweep(sid, 180)
    R.eq(d.stop(), 0, "daemon exits 0")
    size = os.path.getsize(db)
    R.check(size >= 40 * 4096, "the database has pages to damage", ">= 160 KiB", size)
    d = hs.Daemon(ctx, "sound-again", db, 1)
    R.eq(d.get("/v1/health").status, 200, "the sound database is served again")
    R.eq(d.stop(), 0, "daemon exits 0")

    bad = ctx.path("damaged.db")
    with open(db, "rb") as f:
        data = bytearray(f.read())
    rng = random.Random(11)
    first = (len(data) // 4096) // 2
    for page in range(first, first + 4):
        data[page * 4096:(page + 1) * 4096] = bytes(rng.getrandbits(8) for _ in range(4096))
    with open(bad, "wb") as f:
        f.write(data)
    before = sha(bad)
    rc, text = serve_once(ctx, "damaged", bad)
    R.eq(rc, 3, "a damaged database: serve exits 3")
    R.check("is damaged (PRAGMA quick_check:" in text and bad in text,
            "a damaged database: the message names the file and quick_check's finding",
            "database ... is damaged (PRAGMA quick_check: ...)", text)
    R.eq(sha(bad), before, "a damaged database: the file is unchanged")
    R.eq([p for p in (bad + "-wal", bad + "-shm") if os.path.exists(p)], [],
         "a damaged database: no -wal or -shm left beside it")

    empty = ctx.path("empty.db")
    open(empty, "wb").close()
    rc, text = serve_once(ctx, "empty", empty)
    R.eq(rc, 3, "an empty file: serve exits 3")
    R.check("is an empty file (0 bytes), not a database" in text,
            "an empty file: the message says so", "an empty file (0 bytes)", text)
    R.eq(os.path.getsize(empty), 0, "an empty file: still 0 bytes")

    txt = ctx.path("notes.db")
    with open(txt, "w") as f:
        f.write("not a database, only some notes\n" * 200)
    before = sha(txt)
    rc, text = serve_once(ctx, "text", txt)
    R.check(rc == 3 and "not a database" in text, "a text file: serve exits 3, not a database",
            "3, not a database", (rc, text))
    R.eq(sha(txt), before, "a text file: unchanged")

    fresh = ctx.path("fresh")
    os.makedirs(fresh)
    path = os.path.join(fresh, "new.db")
    d = hs.Daemon(ctx, "fresh", path, 1)
    R.eq(d.get("/v1/health").status, 200, "a missing path: the database is created and served")
    R.eq(d.stop(), 0, "daemon on a new database exits 0")
    R.eq(sorted(os.listdir(fresh)), ["new.db"],
         "a new database leaves no temporary file beside it")


# ---- a full disk, with nothing else to write --------------------------------------


def case_disk_full_idle(ctx):
    import test_disk_full as tdf
    if os.geteuid() != 0:
        log("disk_full_idle: needs root to mount a tmpfs; skipped")
        return
    mnt = ctx.path("fs")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if not R.check(p.returncode == 0, "tmpfs mounted", 0, p.stderr):
        return
    try:
        db = os.path.join(mnt, "idle.db")
        filler = os.path.join(mnt, "filler")
        d = hs.Daemon(ctx, "idle", db, 1)
        small = hs.make_spec("small", [1], [1.0], [0.01], 50)
        size = tdf.fill(filler)
        log(f"filler: {size / 1e6:.1f} MB")
        r = d.req("POST", "/v1/sweeps", small)
        R.eq(r.status, 507, "disk full: a new sweep is refused with 507")
        h = wait_until(lambda: (lambda x: x if x and x.get("status") == "disk_full" else None)(
            tdf.health(d)), 30)
        R.check(h is not None, "disk full: /v1/health says disk_full", "disk_full", tdf.health(d))

        def full_line():
            return next((ln for ln in d.log_tail(10 ** 6).splitlines() if "(disk full)" in ln),
                        None)
        line = wait_until(full_line, 30)
        R.check(line is not None and "database: storing the sweep: database or disk is full "
                "(SQLITE_FULL, extended code 13)" in line,
                "disk full: the log line names SQLite's error and its code",
                "database: storing the sweep: database or disk is full (SQLITE_FULL, "
                "extended code 13)", line or d.log_tail())
        os.unlink(filler)
        log("filler removed")
        h = wait_until(lambda: (lambda x: x if x and x.get("status") == "ok" else None)(
            tdf.health(d)), 30)
        R.check(h is not None and h.get("disk_full") is False,
                "space back, nothing else written: /v1/health ok again", "ok", tdf.health(d))
        vals, _ = d.metrics()
        R.eq(vals.get("loralpha_db_disk_full"), 0.0, "space back: loralpha_db_disk_full 0")
        R.check(wait_until(lambda: "database writable again" in d.log_tail(10 ** 6), 30),
                "space back: the log says the database is writable again",
                "database writable again", d.log_tail())
        sid = d.submit(small, "sweep after the space is back")
        d.wait_sweep(sid, 120)
        R.eq(d.stop(), 0, "daemon exits 0")
    finally:
        for dmn in ctx.daemons:
            if dmn.proc.poll() is None:
                dmn.kill()
        subprocess.run(["umount", "-l", mnt], capture_output=True)


CASES = [("workers_die", case_workers_die), ("leftovers", case_leftovers),
         ("leftover_users", case_leftover_users), ("bad_db", case_bad_db), ("disk_full_idle", case_disk_full_idle)]


def main():
    return hs.cases_main(__doc__, CASES)

if __name__ == "__main__":
    sys.exit(main())
