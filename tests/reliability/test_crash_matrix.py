#!/usr/bin/python3
"""Crash matrix: `loralpha serve` killed with SIGKILL over and over while two
sweeps run, restarted each time on the same database, must end with what an
uninterrupted daemon stores for the same sweeps: the same sweeps and runs,
the same final losses (bit for bit: the worker is deterministic at one
thread), every metric row of every run and no duplicate, and the same
analysis.

    test_crash_matrix.py --loralpha PATH --worker PATH [--kills N] [--keep]

Kills come in two kinds:
  - at a random instant (uniform in KILL_WINDOW seconds after the daemon
    answers): during starts, flushes, finishes, between runs, anywhere;
  - at a named point, with the daemon started with LA_TEST_PAUSE=<point>
    (daemon/testpoint.h): it writes "testpoint <point>" to its log
    and sleeps inside the point; a watcher thread kills it then. Points:
    create (inside the transaction storing a submitted sweep), flush (inside
    a metric-row transaction), finish (inside the transaction that finishes
    a run), requeue (inside the restart's requeue transaction), analysis
    (while a fit runs on the thread pool).
After every kill, before the restart, the database is checked: no finished
run without all its rows, no run or sweep twice.

Uses test_daemon.py's Daemon, HTTP and sqlite3 helpers. Exits non-zero on any
failure; prints the number of kills by kind.
"""
import argparse
import os
import random
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as hs
from harness import log, wait_until

R = hs.R
KILL_WINDOW = (0.02, 0.7)
POINTS = ["create", "flush", "finish", "requeue", "analysis"]
METRICS = {"log_every": 5, "eval_every": 100, "spectra_every": 1000,
           "sharpness": False}
STEPS = 12000
RUN_FIELDS = ("sweep_id", "idx", "rank", "alpha", "lr", "seed_index", "seed", "config",
              "state", "steps_done", "final_train_loss", "final_eval_loss",
              "best_eval_loss", "best_step")


def specs():
    """Two sweeps: A on three ranks, B (submitted later) on one."""
    a = hs.make_spec("matrix-a", [1, 2, 4], [1.0, 8.0], [0.003], STEPS, seeds=3,
                     task=hs.WIDE_TASK, batch=64, metrics=METRICS)
    b = hs.make_spec("matrix-b", [2], [2.0, 16.0], [0.003], STEPS, seeds=3,
                     task=hs.WIDE_TASK, batch=64, metrics=METRICS)
    return a, b


EXP = hs.expected_rows(STEPS, METRICS["log_every"], METRICS["eval_every"],
                       METRICS["spectra_every"], False)


def with_env(env, fn):
    """Runs fn() with extra environment variables set (daemons inherit them)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return fn()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def marker_count(path, point):
    try:
        with open(path) as f:
            return f.read().count(f"testpoint {point}\n")
    except OSError:
        return 0


class Killer(threading.Thread):
    """Waits for the n-th "testpoint <point>" line in a log, then SIGKILLs
    the process whose pid is given by get_pid()."""

    def __init__(self, log_path, point, n, get_pid, timeout=60):
        super().__init__(daemon=True)
        self.args_ = (log_path, point, n, get_pid, timeout)
        self.fired = False

    def run(self):
        log_path, point, n, get_pid, timeout = self.args_
        if wait_until(lambda: marker_count(log_path, point) >= n, timeout, 0.005):
            pid = get_pid()
            if pid:
                hs.kill_pid(pid)
                self.fired = True


def check_db(db, what):
    """Invariants that hold at any instant: every finished run has all its
    rows; no duplicate sweep or run."""
    dup = hs.cli(db, "SELECT name, COUNT(*) AS n FROM sweeps GROUP BY name HAVING n > 1")
    R.eq(dup, [], f"{what}: no sweep stored twice")
    dup = hs.cli(db, "SELECT sweep_id, idx, COUNT(*) AS n FROM runs GROUP BY sweep_id, idx "
                     "HAVING n > 1")
    R.eq(dup, [], f"{what}: no run stored twice")
    bad = hs.cli(db, "SELECT r.id, r.state, "
                     "(SELECT COUNT(*) FROM curve WHERE run_id = r.id AND kind = 'train') AS t, "
                     "(SELECT COUNT(*) FROM curve WHERE run_id = r.id AND kind = 'eval') AS e, "
                     "(SELECT COUNT(*) FROM spectra WHERE run_id = r.id) AS s "
                     "FROM runs r WHERE r.state = 'done' AND (t != %d OR e != %d OR s != %d "
                     "OR r.final_eval_loss IS NULL)"
                 % (EXP["train"], EXP["eval"], EXP["spectra"]))
    R.eq(bad, [], f"{what}: every done run has its whole curve and spectra "
                  f"({EXP['train']} train, {EXP['eval']} eval, {EXP['spectra']} spectra rows)")


def reference(ctx):
    """The uninterrupted daemon's database."""
    db = ctx.path("ref.db")
    d = hs.Daemon(ctx, "ref", db, 2)
    a, b = specs()
    ia = d.submit(a, "reference A")
    ib = d.submit(b, "reference B")
    d.wait_sweep(ia, 180, what="reference A")
    d.wait_sweep(ib, 180, what="reference B")
    for sid in (ia, ib):
        r = d.get(f"/v1/sweeps/{sid}/analysis")
        R.eq(r.status, 200, f"reference analysis of sweep {sid}")
    R.eq(d.stop(), 0, "reference daemon exits 0")
    return db


class Matrix:
    """The crashing side: one database, a daemon restarted after each kill."""

    def __init__(self, ctx, kills):
        self.ctx = ctx
        self.db = ctx.path("crash.db")
        self.kills = {"random": 0, **{p: 0 for p in POINTS}}
        self.planned = kills
        self.rng = random.Random(20260601)
        self.d = None
        self.n = 0

    def start(self, env=None):
        self.n += 1
        self.d = with_env(env or {}, lambda: hs.Daemon(self.ctx, f"crash{self.n}", self.db, 2))
        return self.d

    def kill(self, kind):
        """SIGKILLs the daemon (if still alive), counts it, checks the file."""
        d = self.d
        if d.proc.poll() is None:
            d.kill()
        else:
            d.proc.wait()
            d.kill()  # orphaned workers
        R.eq(d.proc.returncode, -9, f"kill {kind}: the daemon died of SIGKILL")
        self.kills[kind] += 1
        check_db(self.db, f"after kill {sum(self.kills.values())} ({kind})")

    def sweep_ids(self):
        rows = hs.cli(self.db, "SELECT id, name FROM sweeps ORDER BY id") \
            if os.path.exists(self.db) else []
        return {r["name"]: r["id"] for r in rows}

    def ensure_submitted(self):
        """Submits the sweeps that are not stored yet: A first; B once A has
        finished runs."""
        a, b = specs()
        ids = self.sweep_ids()
        if "matrix-a" not in ids:
            self.d.submit(a, "submit A")
        elif "matrix-b" not in ids and hs.cli_val(
                self.db, f"SELECT COUNT(*) FROM runs WHERE sweep_id = {ids['matrix-a']} "
                         "AND state = 'done'") >= 3:
            self.d.submit(b, "submit B")

    def all_done(self):
        ids = self.sweep_ids()
        if len(ids) < 2:
            return False
        return hs.cli_val(self.db, "SELECT COUNT(*) FROM sweeps WHERE state = 'done'") == 2

    def kill_create(self):
        """Killed inside the transaction that stores a new sweep: after the
        restart the sweep must not exist (it was never acknowledged)."""
        env = {"LA_TEST_PAUSE": "create", "LA_TEST_PAUSE_MS": "2000"}
        d = self.start(env)
        killer = Killer(d.log_path, "create", 1, lambda: d.proc.pid)
        killer.start()
        name = "matrix-a" if "matrix-a" not in self.sweep_ids() else "matrix-b"
        spec = specs()[0 if name == "matrix-a" else 1]
        try:
            r = d.req("POST", "/v1/sweeps", spec, timeout=10)
            got = r.status
        except OSError as e:
            got = repr(e)
        killer.join(10)
        R.check(killer.fired and not isinstance(got, int),
                "kill inside the sweep's transaction: the client gets no answer",
                "no answer", got)
        self.kill("create")
        R.check(name not in self.sweep_ids(), f"sweep {name} killed before its commit is not stored",
                "absent", self.sweep_ids())

    def kill_at(self, point):
        """Starts with a pause at point and kills inside it; returns False if
        the point was not reached (nothing left to do there)."""
        env = {"LA_TEST_PAUSE": point, "LA_TEST_PAUSE_MS": "3000"}
        holder = {}
        if point == "requeue":
            # The pause comes before the daemon listens: the constructor
            # fails when the watcher kills it.
            path = os.path.join(self.ctx.tmp, f"daemon.{hs.Daemon.count + 1}.crash{self.n + 1}.log")

            def pid_of_next():
                for p in os.listdir("/proc"):
                    if p.isdigit():
                        try:
                            with open(f"/proc/{p}/cmdline", "rb") as f:
                                if self.db.encode() in f.read() and int(p) != os.getpid():
                                    return int(p)
                        except OSError:
                            pass
                return None
            killer = Killer(path, "requeue", 1, pid_of_next, timeout=20)
            killer.start()
            try:
                self.start(env)
            except RuntimeError:
                self.d = self.ctx.daemons[-1]
            killer.join(25)
            if not killer.fired:
                # nothing was running: the pause happened without a kill
                self.kill("random")
                return False
            self.kill("requeue")
            return True
        d = self.start(env)
        self.ensure_submitted()
        if point == "analysis":
            # a fit needs finished runs (slow builds may not have any yet)
            wait_until(lambda: hs.cli_val(self.db, "SELECT COUNT(*) FROM runs WHERE "
                                                   "state = 'done'") > 0, 300, 0.2)
        n0 = marker_count(d.log_path, point)
        killer = Killer(d.log_path, point, n0 + 1, lambda: d.proc.pid, timeout=15)
        killer.start()
        if point == "analysis":
            ids = self.sweep_ids()
            sid = ids.get("matrix-a")
            holder["answer"] = None
            try:
                holder["answer"] = d.req("GET", f"/v1/sweeps/{sid}/analysis?refresh=1",
                                         timeout=10).status
            except OSError as e:
                holder["answer"] = repr(e)
        killer.join(20)
        if not killer.fired:
            self.kill("random")
            return False
        self.kill(point)
        return True

    def kill_random(self):
        d = self.start()
        self.ensure_submitted()
        time.sleep(self.rng.uniform(*KILL_WINDOW))
        if d.proc.poll() is None:
            self.kill("random")
            return True
        return False

    def run(self):
        """The planned kills, then a last daemon that finishes the sweeps."""
        self.kill_create()
        named = POINTS[1:]
        plan = [named[(i // 3) % len(named)] if i % 3 == 2 else "random"
                for i in range(self.planned)]
        t0 = time.monotonic()
        for kind in plan:
            if self.all_done():
                break
            if kind == "random":
                self.kill_random()
            elif kind == "analysis" and not self.sweep_ids().get("matrix-a"):
                self.kill_random()
            else:
                self.kill_at(kind)
        log(f"kills: {self.kills} in {time.monotonic() - t0:.1f} s")
        d = self.start()
        for _ in range(3):
            self.ensure_submitted()
            ids = self.sweep_ids()
            for name in ("matrix-a", "matrix-b"):
                if name in ids:
                    d.wait_sweep(ids[name], 180, what=f"last daemon: {name}")
        ids = self.sweep_ids()
        for sid in ids.values():
            R.eq(d.get(f"/v1/sweeps/{sid}/analysis").status, 200, f"analysis of sweep {sid}")
        R.eq(d.stop(), 0, "last daemon exits 0")


def compare(db, ref_db):
    """The crashed database against the reference."""
    check_db(db, "end")
    cols = ", ".join(RUN_FIELDS)
    R.eq(hs.cli(db, "SELECT id, name, state, n_runs FROM sweeps ORDER BY id"),
         hs.cli(ref_db, "SELECT id, name, state, n_runs FROM sweeps ORDER BY id"),
         "sweeps equal the reference (ids, names, done, run counts)")
    got = hs.cli(db, f"SELECT {cols} FROM runs ORDER BY sweep_id, idx")
    want = hs.cli(ref_db, f"SELECT {cols} FROM runs ORDER BY sweep_id, idx")
    R.eq(len(got), len(want), "as many runs as the reference")
    diff = [(g, w) for g, w in zip(got, want) if g != w]
    R.eq(diff, [], "every run equals the reference: grid point, seed, config, state, "
                   "steps, final train/eval loss and best step")
    same = hs.cli_val(db, "SELECT COUNT(*) FROM runs a JOIN ref.runs b ON a.sweep_id = "
                          "b.sweep_id AND a.idx = b.idx WHERE a.final_train_loss IS "
                          "b.final_train_loss AND a.final_eval_loss IS b.final_eval_loss AND "
                          "a.best_eval_loss IS b.best_eval_loss", attach=ref_db)
    R.eq(same, len(want), "final and best losses equal the reference's bit for bit "
                          "(compared as SQLite REALs)")
    for table, key in (("curve", "run_id, kind, step"), ("spectra", "run_id, step, layer"),
                       ("drift", "run_id, step, layer"), ("layers", "run_id, layer"),
                       ("sharpness", "run_id, step")):
        n, ref_n = hs.cli_val(db, f"SELECT COUNT(*) FROM {table}"), \
            hs.cli_val(ref_db, f"SELECT COUNT(*) FROM {table}")
        # rows joined on (sweep, idx) and the table's key, every column equal
        same = hs.cli_val(db, f"SELECT COUNT(*) FROM (SELECT r.sweep_id, r.idx, t.* FROM {table} t "
                              f"JOIN runs r ON r.id = t.run_id INTERSECT SELECT r.sweep_id, r.idx, "
                              f"t.* FROM ref.{table} t JOIN ref.runs r ON r.id = t.run_id)",
                          attach=ref_db) if table != "curve" else hs.cli_val(
            db, "SELECT COUNT(*) FROM (SELECT r.sweep_id, r.idx, t.kind, t.step, t.loss, t.lr, "
                "t.grad_norm_a, t.grad_norm_b, t.update_norm FROM curve t JOIN runs r ON "
                "r.id = t.run_id INTERSECT SELECT r.sweep_id, r.idx, t.kind, t.step, t.loss, "
                "t.lr, t.grad_norm_a, t.grad_norm_b, t.update_norm FROM ref.curve t JOIN "
                "ref.runs r ON r.id = t.run_id)", attach=ref_db)
        R.check(n == ref_n == same, f"{table}: every row equals the reference's, none missing, "
                f"none extra", f"{ref_n} rows, all equal", f"{n} rows, {same} equal")
    q = ("SELECT sweep_id, fraction, rank, lr, alpha, ci_lo, ci_hi, at_edge, ill_determined "
         "FROM alpha_star ORDER BY sweep_id, fraction, rank, lr")
    R.eq(hs.cli(db, q), hs.cli(ref_db, q), "alpha_star of both sweeps equals the reference")
    q = "SELECT sweep_id, method, c, p, r2, n FROM law_fits ORDER BY sweep_id, method, lr"
    R.eq(hs.cli(db, q), hs.cli(ref_db, q), "law fits equal the reference")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--kills", type=int, default=60, help="planned kills after the first")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    ctx = hs.Ctx(args)
    t0 = time.monotonic()
    try:
        R.case = "reference"
        ref_db = reference(ctx)
        log(f"reference: {time.monotonic() - t0:.1f} s")
        R.case = "matrix"
        m = Matrix(ctx, args.kills)
        m.run()
        R.case = "compare"
        compare(m.db, ref_db)
        total = sum(m.kills.values())
        print(f"crash matrix: {total} SIGKILLs survived ({', '.join(f'{k} {v}' for k, v in m.kills.items())}); "
              f"{m.n} daemon starts on one database")
        R.check(all(m.kills[p] >= 1 for p in POINTS),
                "every named point was hit by at least one kill", POINTS, m.kills)
    except Exception as e:
        R.check(False, "test ran to the end", "no exception", f"{e!r}\n{traceback.format_exc()}")
    finally:
        ctx.cleanup(args.keep)
        if args.keep:
            print(f"kept {ctx.tmp}")
    log(f"total {time.monotonic() - t0:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
