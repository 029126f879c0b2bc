#!/usr/bin/python3
"""The daemon's database on a small filesystem that fills up mid-sweep.

    test_disk_full.py --loralpha PATH --worker PATH [--keep]

Mounts a tmpfs (needs root; exits 77, "skipped", otherwise), runs a sweep
with its database there, and fills the filesystem with a filler file while
runs are writing rows and finishing. While it is full the daemon must:
say so once in its log, on /v1/health (status "disk_full") and on /metrics
(loralpha_db_disk_full 1); keep answering reads; refuse new sweeps with 507
disk_full; never mark a run done without all its rows; keep the ends of runs
that finish (run_ends_pending). Then the filler is deleted: the daemon must
say the database is writable again, commit what it kept, and finish the
sweep with exactly the results of a daemon that never ran out of space.
Twice: the second time the daemon is also SIGKILLed while full and restarted
after the space is back.
"""
import argparse
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as hs
from harness import log, wait_until

R = hs.R
METRICS = {"log_every": 1, "eval_every": 50, "spectra_every": 500, "sharpness": False}
STEPS = 5000
FS_MB = 48


def spec(name="full"):
    return hs.make_spec(name, [1, 2, 4], [1.0, 8.0], [0.003], STEPS, seeds=3,
                        task=hs.WIDE_TASK, batch=64, metrics=METRICS)


# One run per worker: the sweep's 18 runs end one by one, so that both
# episodes fill the disk while runs still have thousands of rows to write
# (packs would end the runs of a rank and seed together, and the sweep's
# last, smallest ranks could end before SQLite needs a page it lacks).
ONE_BY_ONE = ["--pack-max", "1"]


def mount_tmpfs(path):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_MB}m", "tmpfs", path],
                       capture_output=True, text=True)
    return p.returncode == 0, p.stderr.strip()


def fill(path):
    """Writes a filler file until the filesystem has no space left; its size."""
    n = 0
    buf = b"\0" * (1 << 16)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(buf)
            except OSError:
                break
        # the last partial blocks
        for size in (4096, 512, 1):
            while True:
                try:
                    n += f.write(b"\0" * size)
                except OSError:
                    break
    return n


def health(d):
    try:
        r = d.get("/v1/health")
        return r.json if r.status == 200 else None
    except OSError:
        return None


def full_lines(d):
    """The lines of d's log that say the disk is full."""
    return [ln for ln in d.log_tail(10 ** 7).splitlines() if "(disk full)" in ln]


def done_runs_whole(db, sid, what):
    """Every done run of sweep sid has all its rows (the 10-step sweep
    submitted at the end may be done too, with rows of its own)."""
    exp = hs.expected_rows(STEPS, METRICS["log_every"], METRICS["eval_every"],
                           METRICS["spectra_every"], False)
    bad = hs.cli(db, "SELECT r.id, "
                     "(SELECT COUNT(*) FROM curve WHERE run_id = r.id AND kind = 'train') AS t, "
                     "(SELECT COUNT(*) FROM curve WHERE run_id = r.id AND kind = 'eval') AS e "
                     "FROM runs r WHERE r.sweep_id = %d AND r.state = 'done' AND (t != %d OR e != %d)"
                 % (sid, exp["train"], exp["eval"]))
    R.eq(bad, [], f"{what}: every done run has all its rows")


def full_episode(ctx, d, db, filler, sid, kill):
    """Fills the disk while sid runs; checks the daemon's behaviour; frees
    the space (after a SIGKILL and restart when kill). Returns the daemon."""
    wait_until(lambda: hs.cli_val(db, f"SELECT COUNT(*) FROM runs WHERE sweep_id = {sid} "
                                      "AND state = 'done'") >= (1 if not kill else 5), 120)
    done_before = hs.cli_val(db, "SELECT COUNT(*) FROM runs WHERE state = 'done'")
    lines_before = full_lines(d)
    size = fill(filler)
    log(f"filler: {size / 1e6:.1f} MB; {done_before} runs done before")
    # A write fails once SQLite needs a page the filesystem has not given it:
    # with log pages it may still reuse, that can take a while on a slow
    # (sanitizer) build. Generous deadlines, here and below.
    h = wait_until(lambda: (lambda x: x if x and x.get("status") == "disk_full" else None)(
        health(d)), 120)
    R.check(h is not None and h.get("disk_full") is True,
            "disk full: /v1/health says status disk_full, disk_full true",
            "disk_full", health(d))
    vals, _ = d.metrics()
    R.eq(vals.get("loralpha_db_disk_full"), 1.0, "disk full: /metrics loralpha_db_disk_full 1")
    R.check(vals.get("loralpha_db_full_errors_total", 0) >= 1,
            "disk full: /metrics counts the failed writes", ">= 1",
            vals.get("loralpha_db_full_errors_total"))
    # The log line is written by the daemon's next flush tick after the
    # failure that /v1/health already shows: waited for, not assumed. Only
    # a line of this episode counts (the daemon of the second one logged the
    # first's too).
    line = wait_until(lambda: (lambda ls: ls[-1] if len(ls) > len(lines_before) else None)(
        full_lines(d)), 60)
    R.check(line is not None, "disk full: the log says so",
            f"a line with '(disk full)' after the {len(lines_before)} of before", d.log_tail())
    R.check(line is not None and "database: " in line and "extended code" in line,
            "disk full: the log line names SQLite's error and its code",
            "database: <what>: <SQLite's message> (<code>, extended code N...)", line)
    # reads keep working
    for path in ("/v1/sweeps", f"/v1/sweeps/{sid}", f"/v1/sweeps/{sid}/runs", "/metrics"):
        R.eq(d.get(path).status, 200, f"disk full: GET {path} answers 200")
    # 16000 runs: megabytes to insert, more than the log's pages already on
    # the disk (a small write may still fit in them)
    big = hs.make_spec("refused", [1, 2, 4, 8], [float(a) for a in range(1, 41)],
                       [0.001 * k for k in range(1, 11)], 100, seeds=10, task=hs.WIDE_TASK)
    r = d.req("POST", "/v1/sweeps", big, timeout=120)
    shape = hs.error_shape(r.body)
    R.check(r.status == 507 and shape and shape[0] == "disk_full" and "full" in shape[1],
            "disk full: a new sweep is refused with 507 disk_full", "507 disk_full", r)
    # runs end while the disk is full: their ends are kept, not committed
    h = wait_until(lambda: (lambda x: x if x and x.get("run_ends_pending", 0) >= 1 else None)(
        health(d)), 180)
    R.check(h is not None, "disk full: a run that ends is kept (run_ends_pending >= 1)",
            ">= 1", health(d))
    n1 = hs.cli_val(db, "SELECT COUNT(*) FROM runs WHERE state = 'done'")
    time.sleep(1.0)
    n2 = hs.cli_val(db, "SELECT COUNT(*) FROM runs WHERE state = 'done'")
    R.check(n1 == n2 and (health(d) or {}).get("status") == "disk_full",
            "disk full: no run becomes done while its end is kept", f"{n1} done, still full",
            (n2, health(d)))
    done_runs_whole(db, sid, "disk full")
    R.check(d.proc.poll() is None, "disk full: the daemon is still running", "running",
            d.proc.returncode)
    R.eq(len(full_lines(d)), len(lines_before) + 1, "disk full: said once, not on every retry")
    if kill:
        d.kill()
        R.eq(d.proc.returncode, -9, "killed while the disk is full")
        done_runs_whole(db, sid, "after the kill")
    os.unlink(filler)
    log("filler removed")
    if kill:
        d = hs.Daemon(ctx, "full-restarted", db, 2, extra=ONE_BY_ONE)
    else:
        h = wait_until(lambda: (lambda x: x if x and x.get("status") == "ok" else None)(
            health(d)), 60)
        R.check(h is not None and h.get("disk_full") is False,
                "space back: /v1/health status ok again", "ok", health(d))
        R.check("database writable again" in d.log_tail(100000),
                "space back: the log says the database is writable again",
                "database writable again", d.log_tail())
        vals, _ = d.metrics()
        R.eq(vals.get("loralpha_db_disk_full"), 0.0, "space back: loralpha_db_disk_full 0")
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("test_disk_full.py: needs root to mount a tmpfs; skipped")
        return 77
    ctx = hs.Ctx(args)
    mnt = ctx.path("fs")
    ok, why = mount_tmpfs(mnt)
    if not ok:
        print(f"test_disk_full.py: mount -t tmpfs failed: {why}")
        return 1
    t0 = time.monotonic()
    try:
        R.case = "reference"
        ref_db = ctx.path("ref.db")
        ref = hs.Daemon(ctx, "ref", ref_db, 2)
        rid = ref.submit(spec(), "reference")
        ref.wait_sweep(rid, 180, what="reference")
        R.eq(ref.stop(), 0, "reference daemon exits 0")
        log(f"reference: {time.monotonic() - t0:.1f} s")

        db = os.path.join(mnt, "full.db")
        filler = os.path.join(mnt, "filler")
        d = hs.Daemon(ctx, "full", db, 2, extra=ONE_BY_ONE)
        sid = d.submit(spec(), "sweep on the small filesystem")
        R.case = "full, then space back"
        d = full_episode(ctx, d, db, filler, sid, kill=False)
        R.case = "full, killed, restarted"
        d = full_episode(ctx, d, db, filler, sid, kill=True)
        R.case = "end"
        d.wait_sweep(sid, 180, what="sweep after the disk was full")
        after = d.submit(hs.make_spec("after", [1], [1], [0.01], 10), "a new sweep is accepted again")
        d.wait_sweep(after, 60, what="the new sweep")
        R.eq(d.stop(), 0, "daemon exits 0")
        done_runs_whole(db, sid, "end")
        cols = ("idx, rank, alpha, lr, seed, config, state, steps_done, final_train_loss, "
                "final_eval_loss, best_eval_loss, best_step")
        got = hs.cli(db, f"SELECT {cols} FROM runs WHERE sweep_id = {sid} ORDER BY idx")
        want = hs.cli(ref_db, f"SELECT {cols} FROM runs ORDER BY idx")
        R.eq(got, want, "runs and final losses equal a daemon that never ran out of space")
        q = ("SELECT COUNT(*) FROM (SELECT r.idx, c.kind, c.step, c.loss FROM curve c "
             "JOIN runs r ON r.id = c.run_id WHERE r.sweep_id = %d EXCEPT SELECT r.idx, c.kind, "
             "c.step, c.loss FROM ref.curve c JOIN ref.runs r ON r.id = c.run_id)" % sid)
        R.eq(hs.cli_val(db, q, attach=ref_db), 0, "no curve row differs from the reference")
        R.eq(hs.cli_val(db, f"SELECT COUNT(*) FROM curve c JOIN runs r ON r.id = c.run_id "
                            f"WHERE r.sweep_id = {sid}"),
             hs.cli_val(ref_db, "SELECT COUNT(*) FROM curve"), "as many curve rows as the reference")
    except Exception as e:
        R.check(False, "test ran to the end", "no exception", f"{e!r}\n{traceback.format_exc()}")
    finally:
        for dmn in ctx.daemons:
            if dmn.proc.poll() is None:
                dmn.kill()
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        ctx.cleanup(args.keep)
    log(f"total {time.monotonic() - t0:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
