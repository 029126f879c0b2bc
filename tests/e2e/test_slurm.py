#!/usr/bin/python3
"""End-to-end test of the Slurm executor (docs/slurm.md) on a real one-node
Slurm cluster.

    test_slurm.py --loralpha PATH --worker PATH [--keep]

Checks the job's worker's side of a command task's log against a stand-in
HTTP server, then starts the cluster with tests/lib/slurm/cluster.sh in a
temporary directory (munged, slurmctld and slurmd, on free ports), runs a
sweep through it end to end, trains packs and a halving search (its
promoted stint a replay in a later array), keeps a command task's log as the local
executor does, checks the ingest routes' tokens, cancels a sweep, kills a
job to see its run re-queued, restarts the daemon while jobs run to see it
re-attach, round-trips export-slurm and import, and stops everything by
PID at the end, also when a check fails. Needs root and Debian's
slurmctld, slurmd, slurm-client and munge (scripts/install-deps.sh --test).

Standard library only; ends with `N passed, M failed`.
"""
import argparse
import hashlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness
from harness import R, auth, cli, cli_val, log, scaled, wait_progress, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "..", "lib", "slurm", "cluster.sh")

TASK = {"task": "teacher", "d_in": 64, "d_out": 64, "n_train": 512, "n_eval": 128,
        "target_rank": 4}
METRICS = {"log_every": 100, "eval_every": 500, "spectra_every": 1000, "sharpness": False}


# The daemon's config: Slurm beside local workers; what specs may choose.
ADMIN = {
    "executor": "local,slurm",
    "slurm": {
        "partitions": ["debug"],
        "max_time": "1:00:00",
        "max_cpus_per_task": 2,
        "defaults": {"partition": "debug", "time": "30",
                     "sbatch": ["--comment=loralpha-test"],
                     "env": {"LORALPHA_SITE": "test cluster"}},
        "profiles": {"broken": {"partition": "nosuch"}},
    },
}


def spec(name, ranks, alphas, steps, **extra):
    s = {"name": name, "executor": "slurm", "task": TASK,
         "grid": {"rank": ranks, "alpha": alphas, "lr": [0.001]}, "seeds": 1,
         "seed": 7, "steps": steps, "batch": 32, "metrics": METRICS}
    s.update(extra)
    return s


# ---- HTTP ----------------------------------------------------------------------


def call(port, method, path, body=None, headers=None, timeout=15):
    """One request; (status, parsed JSON or None, raw body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body,
                     headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        try:
            js = json.loads(data) if data else None
        except ValueError:
            js = None
        return r.status, js, data
    finally:
        conn.close()


def api(port, method, path, body=None):
    """Every call of the daemon's own API goes through here (the place for
    an Authorization header)."""
    return call(port, method, path, body, auth(port))


def ingest(port, run, token, body):
    hdrs = {"Content-Type": "application/x-ndjson"}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    return call(port, "POST", f"/v1/ingest/{run}", body, hdrs)


def ingest_log(port, run, token, body, query="", ctype="text/plain"):
    """POST /v1/ingest/{run}/log (a command task's trainer's log)."""
    hdrs = {"Content-Type": ctype}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    return call(port, "POST", f"/v1/ingest/{run}/log{query}", body, hdrs)


# ---- the database and Slurm ------------------------------------------------------


def squeue(env):
    p = subprocess.run(["squeue", "-h", "-r", "-o", "%F|%K|%T"], env=env,
                       capture_output=True, text=True, timeout=scaled(30))
    return [line.split("|") for line in p.stdout.split()] if p.returncode == 0 else None


# ---- the daemon ------------------------------------------------------------------


class Daemon(harness.Daemon):
    """harness.Daemon on the test's database, config and Slurm directory
    (polled every second, arrays of up to 3), in the cluster's environment,
    with one state directory for all (a restarted daemon reads its
    predecessor's); on port when given (its jobs report to it there)."""

    def __init__(self, ctx, name, port=0, extra=()):
        super().__init__(ctx, name, ctx.db, 2, extra=[
            "--config", ctx.config, "--slurm-dir", ctx.sdir, "--slurm-poll", "1",
            "--slurm-batch", "3", *extra], env=ctx.env, state=os.path.join(ctx.tmp, "state.slurm"),
            port=port)

    def log(self):
        return self.log_tail(3000)


class Ctx:
    def __init__(self, args):
        self.loralpha = os.path.abspath(args.loralpha)
        self.worker = os.path.abspath(args.worker)
        self.tmp = tempfile.mkdtemp(prefix="loralpha-slurm-test-")
        os.chmod(self.tmp, 0o755)
        self.cluster = os.path.join(self.tmp, "cluster")
        self.sdir = os.path.join(self.tmp, "jobs")
        self.db = os.path.join(self.tmp, "slurm.db")
        self.config = os.path.join(self.tmp, "serve.json")
        with open(self.config, "w") as f:
            json.dump(ADMIN, f)
        self.daemons = []
        self.env = dict(os.environ)
        self.cluster_up = False

    def start_cluster(self):
        t0 = time.monotonic()
        p = subprocess.run(["bash", CLUSTER, "start", self.cluster], capture_output=True,
                           text=True, timeout=scaled(120))
        self.cluster_up = True  # stop even a half-started cluster
        if p.returncode != 0:
            raise RuntimeError(f"cluster.sh start failed: {p.stderr}")
        key, _, value = p.stdout.strip().partition("=")
        self.env[key] = value
        log(f"cluster up in {time.monotonic() - t0:.1f} s ({value})")

    def cleanup(self, keep):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        if self.cluster_up:
            t0 = time.monotonic()
            p = subprocess.run(["bash", CLUSTER, "stop", self.cluster], capture_output=True,
                               text=True, timeout=scaled(120))
            R.check(p.returncode == 0 and not os.path.exists(self.cluster),
                    "cluster.sh stop ends the cluster and removes its directory", 0,
                    p.stderr)
            log(f"cluster down in {time.monotonic() - t0:.1f} s")
        if keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---- cases -------------------------------------------------------------------------


def local_lines(ctx, run_id):
    """The train and eval records the worker writes for the run's config when
    run here (the same binary, without Slurm)."""
    cfg = os.path.join(ctx.sdir, "runs", f"{run_id}.json")
    p = subprocess.run([ctx.worker, "--config", cfg], capture_output=True, text=True,
                       timeout=scaled(120))
    recs = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return sum(1 for r in recs if r["type"] in ("train", "eval"))


def case_sweep(ctx, d):
    """A sweep through Slurm end to end: arrays of at most --slurm-batch 3
    runs in Slurm at once, throttled with max_parallel, all done."""
    R.case = "sweep"
    t0 = time.monotonic()
    st, js, _ = api(d.port, "POST", "/v1/sweeps", spec(
        "bad", [1], [1], 10, slurm={"sbatch_args": ["--export=ALL,BASH_ENV=/x"]}))
    R.check(st == 422 and js["error"]["message"].startswith("slurm.sbatch_args:"),
            "a spec's sbatch_args: 422 naming the field", "422 slurm.sbatch_args", (st, js))
    st, js, _ = api(d.port, "POST", "/v1/sweeps", spec(
        "bad", [1], [1], 10, slurm={"time": "2:00:00"}))
    R.check(st == 422 and js["error"]["message"].startswith("slurm.time:"),
            "a time over max_time: 422 naming the field", "422 slurm.time", (st, js))
    sid = d.submit(spec("e2e", [1, 2], [1, 8], 1000, max_parallel=2,
                        slurm={"cpus_per_task": 1, "time": "10"}))
    d.wait_sweep(sid, 90)
    log(f"4-run sweep through Slurm: {time.monotonic() - t0:.1f} s")
    runs = cli(ctx.db, f"SELECT id, state, attempts FROM runs WHERE sweep_id = {sid}")
    R.eq([(r["state"], r["attempts"]) for r in runs], [("done", 1)] * 4,
         "every run done in one attempt")
    jobs = cli(ctx.db, f"SELECT run_id, array_id, task, state, script FROM slurm_jobs "
                       f"WHERE sweep_id = {sid} ORDER BY run_id")
    R.eq(len(jobs), 4, "a slurm_jobs row per run")
    R.eq(len({j["array_id"] for j in jobs}), 2, "two arrays: 3 runs, then the fourth")
    R.eq([j["task"] for j in jobs], [0, 1, 2, 0], "array tasks in run order")
    R.eq({j["state"] for j in jobs}, {"ended"}, "rows ended")
    with open(jobs[0]["script"]) as f:
        script = f.read()
    for want in ("#SBATCH --array=0-2%2", "#SBATCH --partition=debug",
                 "#SBATCH --time=0-00:10:00", "#SBATCH --cpus-per-task=1",
                 "#SBATCH --comment=loralpha-test", "#SBATCH --no-requeue",
                 "#SBATCH --export=NONE", f"#SBATCH --chdir={ctx.sdir}",
                 "export LORALPHA_SITE='test cluster'"):
        R.check(want in script, f"script has {want}", want, script)
    counts = cli(ctx.db, f"SELECT r.id, (SELECT COUNT(*) FROM curve c WHERE c.run_id = r.id)"
                         f" AS n FROM runs r WHERE sweep_id = {sid} ORDER BY r.id")
    want = local_lines(ctx, counts[0]["id"])
    R.eq([c["n"] for c in counts], [want] * 4, "curve rows equal a local worker's records")
    R.check(cli_val(ctx.db, f"SELECT COUNT(*) FROM spectra WHERE run_id = {counts[0]['id']}") > 0,
            "spectra stored", ">0", 0)
    st, _, body = api(d.port, "GET", "/metrics")
    m = dict(x.split(" ", 1) for x in body.decode().splitlines()
             if x.startswith("loralpha_slurm"))
    R.check(st == 200 and int(m.get("loralpha_slurm_runs_submitted_total", 0)) >= 4 and
            int(m.get("loralpha_slurm_arrays_total", 0)) >= 2 and
            int(m.get("loralpha_slurm_records_ingested_total", 0)) >= 4 * want,
            "/metrics counts the arrays, runs and ingested records", ">= 4 runs, 2 arrays", m)
    tok = os.path.join(ctx.sdir, "runs", f"{counts[0]['id']}.token")
    R.eq(oct(os.stat(tok).st_mode & 0o777), "0o600", "token file readable by its owner only")
    local = spec("here", [1], [1, 2], 200)
    del local["executor"]
    lid = d.submit(local)
    d.wait_sweep(lid, 60)
    R.eq(cli_val(ctx.db, f"SELECT COUNT(*) FROM slurm_jobs WHERE sweep_id = {lid}"), 0,
         "a sweep without an executor runs locally on a --executor local daemon")
    return sid


def case_packs(ctx, d):
    """Packs through Slurm: a sweep's runs of one rank and seed train in one
    array task, whose config file is the pack's request; each run is still
    its own (its token, records and state), equal to the run trained alone."""
    R.case = "packs"
    # the 3 runs fill --slurm-batch 3: one array of one pack
    sid = d.submit(spec("packs", [1], [1, 4, 16], 300, slurm={"cpus_per_task": 1, "time": "10"}))
    d.wait_sweep(sid, 120)
    jobs = cli(ctx.db, f"SELECT run_id, array_id, task, state FROM slurm_jobs "
                       f"WHERE sweep_id = {sid} ORDER BY run_id")
    R.eq([(j["task"], j["state"]) for j in jobs], [(0, "ended")] * 3,
         "one array task trained the 3 runs of the rank and seed")
    R.eq(len({j["array_id"] for j in jobs}), 1, "one array")
    runs = cli(ctx.db, f"SELECT id, state, attempts, final_eval_loss, steps_done, config "
                       f"FROM runs WHERE sweep_id = {sid} ORDER BY id")
    R.eq([(r["state"], r["attempts"]) for r in runs], [("done", 1)] * 3,
         "every run done in one attempt")
    with open(os.path.join(ctx.sdir, "runs", f"{runs[0]['id']}.json")) as f:
        req = json.load(f)
    R.eq((req.get("type"), [c.get("run_id") for c in req.get("configs", [])]),
         ("pack", [r["id"] for r in runs[:3]]),
         "the first task's config file is the request of its pack of 3")
    # the job's environment (--export=NONE): OpenBLAS's own kernel choice
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}
    for r in runs:
        cfg = dict(json.loads(r["config"]), threads=1, run_id=r["id"])
        p = subprocess.run([ctx.worker], input=json.dumps(cfg), capture_output=True, text=True,
                           timeout=scaled(120), env=env)
        done = [json.loads(x) for x in p.stdout.splitlines() if '"type":"done"' in x]
        alone = (done[0].get("final_eval_loss"), done[0].get("steps")) if done else None
        R.check(alone is not None and alone[0] == r["final_eval_loss"]
                and alone[1] == r["steps_done"],
                f"run {r['id']}: its final eval loss equals the run trained alone (bit for bit)",
                alone, (r["final_eval_loss"], r["steps_done"]))
    counts = cli(ctx.db, f"SELECT r.id, (SELECT COUNT(*) FROM curve c WHERE c.run_id = r.id)"
                         f" AS n FROM runs r WHERE sweep_id = {sid} ORDER BY r.id")
    R.eq(len({c["n"] for c in counts}), 1, "every run of the packs stored its whole curve")


def case_halving(ctx, d):
    """A halving search through Slurm: the first stints (to the rung) run as
    array tasks, the daemon decides as their records arrive, the promoted
    run's next stint (a replay to the end) is a task of a later array; its
    final eval loss equals the run trained alone in one go."""
    R.case = "halving"
    # 4 cells, rung at round(270 / 9) = 30: one promoted, straight to the end
    sid = d.submit(spec("halving", [1], [1, 4, 16, 64], 270,
                        slurm={"cpus_per_task": 1, "time": "10"},
                        search={"strategy": "halving"}))
    d.wait_sweep(sid, 120)
    runs = cli(ctx.db, f"SELECT id, state, steps_done, earlier_steps, resume_at, "
                       f"final_eval_loss, config FROM runs WHERE sweep_id = {sid} ORDER BY id")
    R.eq(sorted((r["state"], r["steps_done"], r["earlier_steps"]) for r in runs),
         [("done", 270, 30), ("stopped", 30, 0), ("stopped", 30, 0), ("stopped", 30, 0)],
         "one run promoted and trained to the end, three stopped at step 30")
    dec = cli(ctx.db, f"SELECT action FROM halving_decisions WHERE sweep_id = {sid}")
    R.eq(sorted(x["action"] for x in dec), ["promote", "stop", "stop", "stop"],
         "a decision per cell at the rung")
    jobs = cli(ctx.db, f"SELECT run_id, array_id FROM slurm_jobs WHERE sweep_id = {sid}")
    done = [r for r in runs if r["state"] == "done"]
    R.check(done and len({j["array_id"] for j in jobs if j["run_id"] == done[0]["id"]}) >= 1
            and len({j["array_id"] for j in jobs}) >= 2,
            "the promoted stint ran in an array of its own, after the first stints'",
            ">= 2 arrays", jobs)
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}
    for r in done:
        cfg = dict(json.loads(r["config"]), threads=1, run_id=r["id"], stop_at=0, resume_at=0)
        p = subprocess.run([ctx.worker], input=json.dumps(cfg), capture_output=True, text=True,
                           timeout=scaled(120), env=env)
        end = [json.loads(x) for x in p.stdout.splitlines() if '"type":"done"' in x]
        alone = end[0].get("final_eval_loss") if end else None
        R.eq(alone, r["final_eval_loss"],
             f"run {r['id']}: after its replay its final eval loss is the run trained alone's")
        n = cli_val(ctx.db, f"SELECT COUNT(*) FROM curve WHERE run_id = {r['id']} AND "
                            f"kind = 'eval' AND step <= 30")
        R.check(n and n >= 2, f"run {r['id']}: its first stint's evals kept", ">= 2", n)


def case_command(ctx, d):
    """A command task through Slurm: examples/sweep-command.json (pointed at
    this tree) runs the example trainer in the array's jobs, whose worker
    POSTs its records (the Python reporter's, spectra included) to the
    daemon; a trainer past its time limit fails with the limit named."""
    R.case = "command"
    source = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    with open(os.path.join(source, "examples", "sweep-command.json")) as f:
        s = json.loads(f.read().replace("/usr/local/share/loralpha", source))
    s["task"]["command"]["cwd"] = ctx.tmp
    s["grid"]["rank"], s["grid"]["alpha"] = [1, 2], [1.0, 4.0]
    s.update(executor="slurm", slurm={"time": "10"})
    t0 = time.monotonic()
    sid = d.submit(s)
    d.wait_sweep(sid, 90)
    log(f"4-run command sweep through Slurm: {time.monotonic() - t0:.1f} s")
    runs = cli(ctx.db, f"SELECT id, state, (SELECT COUNT(*) FROM spectra WHERE run_id = runs.id)"
                       f" AS n FROM runs WHERE sweep_id = {sid} ORDER BY id")
    R.eq([(r["state"], r["n"]) for r in runs], [("done", 6)] * 4,
         "command runs done through Slurm, with the reporter's spectra")
    slow = dict(s, name="slow", grid={"rank": [1], "alpha": [1.0], "lr": [0.01]})
    slow["task"] = json.loads(json.dumps(s["task"]))
    slow["task"]["command"].update(argv=["/bin/sleep", "60"], time_limit=2)
    sid = d.submit(dict(slow, max_attempts=1))
    d.wait_sweep(sid, 90, states=("failed",))
    err = cli_val(ctx.db, f"SELECT error FROM runs WHERE sweep_id = {sid}") or ""
    R.check("time limit of 2 s" in err, "a trainer past its time limit on Slurm fails, "
            "naming the limit", "'time limit of 2 s'", err[:300])
    run = cli_val(ctx.db, f"SELECT id FROM runs WHERE sweep_id = {sid}")
    st, js, _ = api(d.port, "GET", f"/v1/runs/{run}/log")
    R.eq((st, js and js.get("attempt"), js and js.get("bytes"), js and js.get("log")),
         (200, 1, 0, ""), "the stopped trainer's log is sent all the same (sleep wrote nothing)")


TRAINER = os.path.join(HERE, "trainer.py")


def trainer_spec(ctx, name, mode, **top):
    """A command sweep of one run of tests/e2e/trainer.py in mode (as
    test_command.py runs it locally)."""
    out = os.path.join(ctx.tmp, name)
    os.makedirs(out, exist_ok=True)
    s = {"name": name,
         "task": {"task": "command",
                  "command": {"argv": ["/usr/bin/python3", TRAINER, "--rank", "{rank}",
                                       "--alpha", "{alpha}", "--lr={lr}", "--seed", "{seed}",
                                       "--steps", "{steps}", "--run", "{run_id}", "--mode",
                                       mode, "--out", out],
                              "cwd": ctx.tmp, "time_limit": 120,
                              # the same order of stdout and stderr under
                              # both executors (their environments differ)
                              "env": {"PYTHONUNBUFFERED": "1"}}},
         "grid": {"rank": [4], "alpha": [8.0], "lr": [0.01]}, "steps": 20,
         "max_attempts": 1, "executor": "slurm", "slurm": {"time": "10"}}
    s.update(top)
    return s


def run_log(d, sid):
    """The one run of the sweep, and GET /v1/runs/{id}/log's answer."""
    run = cli(d.db, f"SELECT id, state, error FROM runs WHERE sweep_id = {sid}")[0]
    st, js, raw = api(d.port, "GET", f"/v1/runs/{run['id']}/log")
    return run, st, js or {}


def case_command_log(ctx, d):
    """A command task's trainer's stdout and stderr on Slurm are kept as the
    run's log exactly as on the local executor: the same trainer writing
    170 KB (more than the 64 KiB kept) gives the same head, left-out line
    and tail, byte for byte, and the same byte count; the job's Slurm log
    still has all of it; a failed trainer's log is kept too, and a 20 MB
    flood's is its head and tail."""
    R.case = "command log"
    slurm = d.submit(trainer_spec(ctx, "chatty-slurm", "chatty"))
    local = trainer_spec(ctx, "chatty-local", "chatty")
    del local["executor"], local["slurm"]
    local = d.submit(local)
    failed = d.submit(trainer_spec(ctx, "exit3-slurm", "exit3"))
    flood = d.submit(trainer_spec(ctx, "flood-slurm", "flood_log"))
    d.wait_sweep(slurm, 90)
    d.wait_sweep(local, 90)
    d.wait_sweep(failed, 90, states=("failed",))
    d.wait_sweep(flood, 120, states=("failed",))
    (rs, st_s, ls), (rl, st_l, ll) = run_log(d, slurm), run_log(d, local)
    R.eq((rs["state"], st_s, ls.get("attempt")), ("done", 200, 1),
         "the Slurm run is done and has its log (attempt 1)")
    R.eq((rl["state"], st_l), ("done", 200), "the local run is done and has its log")
    R.check(ls.get("bytes") == ll.get("bytes") and ls.get("bytes", 0) > 160_000,
            "the same bytes written in all on Slurm as locally (> 160 KB)",
            ll.get("bytes"), ls.get("bytes"))
    text = ls.get("log", "")
    R.check(text == ll.get("log"), "the Slurm run's log equals the local run's, byte for byte",
            (len(ll.get("log", "")), ll.get("log", "")[:60]), (len(text), text[:60]))
    left = ls.get("bytes", 0) - 16384 - 49152
    mark = f"\n[... {left} bytes of the log left out ...]\n"
    R.check(text.startswith("trainer starts: mode chatty\na line on stderr\nstdout line 0000 ")
            and mark in text and text.endswith(f"stdout line 2999 {'o' * 40}\nchatty ends\n")
            and len(text) == 16384 + len(mark) + 49152,
            "its head (stderr and stdout interleaved), the left-out line, its tail",
            f"'trainer starts...', {mark!r}, '...chatty ends', 64 KiB + the line",
            (text[:80], len(text), text[-60:]))
    R.check("stdout line 1500 " not in text, "the middle of the log is left out",
            "no 'stdout line 1500'", text.count("stdout line 1500"))
    job = cli(ctx.db, f"SELECT array_id, task FROM slurm_jobs WHERE run_id = {rs['id']}")[0]
    with open(os.path.join(ctx.sdir, "logs", f"{job['array_id']}_{job['task']}.out"),
              errors="replace") as f:
        joblog = f.read()
    R.check("stdout line 1500 " in joblog and "chatty ends" in joblog,
            "the job's Slurm log still has the whole output (the worker echoes it)",
            "'stdout line 1500', 'chatty ends'", joblog[-200:])
    rf, st_f, lf = run_log(d, failed)
    R.check(rf["state"] == "failed" and st_f == 200 and
            "trainer says: giving up\n" in lf.get("log", "") and lf.get("attempt") == 1,
            "a failed trainer's log is kept on Slurm too",
            "failed, 200, 'trainer says: giving up'", (rf["state"], st_f, lf))
    rf, st_f, lf = run_log(d, flood)
    text = lf.get("log", "")
    R.check(st_f == 200 and lf.get("bytes", 0) > 20 * 2 ** 20 and len(text) < 66 * 1024
            and text.startswith("trainer starts: mode flood_log\na line on stderr\n")
            and text.endswith("x\nlast line\n") and "bytes of the log left out" in text,
            "a 20 MB flood on Slurm: the run's log is its head and tail, under 66 KiB",
            "bytes > 20 MiB, kept < 66 KiB, head, '... left out ...', 'last line'",
            (st_f, lf.get("bytes"), len(text), text[:60], text[-40:]))


def case_command_term(ctx, d):
    """A job told to stop (SIGTERM to its worker, as Slurm's time limit or
    scancel sends it) stops its trainer's group and still sends the log and
    the reason while the run's token is live."""
    R.case = "command term"
    sid = d.submit(trainer_spec(ctx, "term-slurm", "slow"))
    run = running_jobs(ctx, sid, 1)[0]
    job = cli(ctx.db, f"SELECT array_id, task FROM slurm_jobs WHERE run_id = {run}")[0]
    subprocess.run(["scancel", "--batch", "--signal=TERM", f"{job['array_id']}_{job['task']}"],
                   env=ctx.env, check=True, timeout=scaled(30))
    d.wait_sweep(sid, 60, states=("failed",))
    r, st, lg = run_log(d, sid)
    R.check("the job was stopped (SIGTERM" in (r["error"] or ""),
            "the run fails with the stop named", "'the job was stopped (SIGTERM ...'",
            (r["error"] or "")[:300])
    R.check(st == 200 and lg.get("log", "").startswith(
        "trainer starts: mode slow\na line on stderr\n") and lg.get("attempt") == 1,
            "the stopped trainer's log is kept", "200, 'trainer starts: mode slow...'",
            (st, lg))


def case_worker_flags(ctx):
    """The worker's report flags are checked by name; with no daemon to
    take its lines it retries, then gives up with exit 1."""
    R.case = "worker"
    cfg = os.path.join(ctx.tmp, "w.json")
    tok = os.path.join(ctx.tmp, "w.token")
    with open(cfg, "w") as f:
        json.dump(dict(TASK, rank=1, alpha=1, lr=0.001, steps=20, batch=32), f)
    with open(tok, "w") as f:
        f.write("ab" * 32 + "\n")
    for args, name in ((["--report-url", "http://127.0.0.1:9/x"], "--report-token-file"),
                       (["--report-url", "ftp://x", "--report-token-file", tok], "--report-url"),
                       (["--report-url", "http://x/", "--report-token-file", tok,
                         "--report-retry", "0"], "--report-retry"),
                       (["--report-url", "http://x/", "--report-token-file",
                         os.path.join(ctx.tmp, "none")], "--report-token-file")):
        p = subprocess.run([ctx.worker, "--config", cfg, *args], capture_output=True,
                           text=True, timeout=scaled(60))
        R.check(p.returncode == 2 and name in p.stderr, f"worker refuses {args[-1]!r}",
                f"exit 2 naming {name}", (p.returncode, p.stderr))
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.run([ctx.worker, "--config", cfg, "--report-url",
                        f"http://127.0.0.1:{port}/v1/ingest/1", "--report-token-file", tok,
                        "--report-retry", "2"], capture_output=True, text=True, timeout=scaled(60))
    took = time.monotonic() - t0
    R.check(p.returncode == 1 and "gave up" in p.stderr and 1.0 <= took < 10,
            "no daemon: retried with backoff, then exit 1", "exit 1, gave up, ~2 s",
            (p.returncode, round(took, 2), p.stderr))


class Sink(http.server.BaseHTTPRequestHandler):
    """A stand-in for the daemon's ingest routes: keeps every POST (path,
    content type, body) in server.seen and answers the log's POSTs with
    server.log_answers, in turn (then 200), the records' with 200."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv = self.server
        srv.seen.append((self.path, self.headers.get("Content-Type"), body))
        st = srv.log_answers.pop(0) if "/log" in self.path and srv.log_answers else 200
        self.send_response(st)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def bounded(log):
    """What is kept of a log (docs/sweeps.md, base/logbound.c), computed
    here from the whole of it."""
    if len(log) <= 16384 + 49152:
        return log
    return (log[:16384] + f"\n[... {len(log) - 16384 - 49152} bytes of the log left out "
            f"...]\n".encode() + log[-49152:])


def worker_log_run(ctx, log_answers, argv=None):
    """A command task's run (argv, else trainer.py in mode chatty) by the
    worker in report mode against a Sink answering the log's POSTs so:
    (exit code, stderr bytes, the POSTs, the largest resident size in KiB
    of the worker and its trainer)."""
    out = os.path.join(ctx.tmp, "worker-log")
    os.makedirs(out, exist_ok=True)
    cfg = {"task": "command", "run_id": 7, "rank": 4, "alpha": 8.0, "lr": 0.01, "seed": 1,
           "steps": 20, "batch": 64, "scaling": "peft", "params": {},
           "command": {"argv": argv or ["/usr/bin/python3", TRAINER, "--rank", "{rank}",
                                        "--alpha", "{alpha}", "--lr={lr}", "--seed", "{seed}",
                                        "--steps", "{steps}", "--run", "{run_id}", "--mode",
                                        "chatty", "--out", out],
                       "cwd": ctx.tmp, "time_limit": 60, "env": {"PYTHONUNBUFFERED": "1"}}}
    path, tok = os.path.join(out, "run.json"), os.path.join(out, "token")
    with open(path, "w") as f:
        json.dump(cfg, f)
    with open(tok, "w") as f:
        f.write("t" * 64 + "\n")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    srv.seen, srv.log_answers = [], list(log_answers)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        with tempfile.TemporaryFile() as errf:
            p = subprocess.Popen([ctx.worker, "--config", path, "--report-url",
                                  f"http://127.0.0.1:{srv.server_address[1]}/v1/ingest/7",
                                  "--report-token-file", tok, "--report-retry", "20"],
                                 stdout=subprocess.DEVNULL, stderr=errf)
            # os.wait4 (not Popen's wait) for the worker's resource usage
            ended = wait_until(lambda: (r := os.wait4(p.pid, os.WNOHANG))[0] and r, 120)
            if not ended:
                p.kill()
                ended = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(ended[1])
            usage = ended[2]
            errf.seek(0)
            err = errf.read()
    finally:
        srv.shutdown()
        srv.server_close()
    return p.returncode, err, srv.seen, usage.ru_maxrss
def case_worker_log(ctx):
    """The worker's side of a Slurm command task's log, against a stand-in
    for the daemon: the trainer's stdout and stderr are copied whole to the
    worker's stderr (the job's log) and sent once, bounded exactly as the
    rule says, as text/plain with their byte count, retried after a 503,
    before the done record (the last line of the last batch); a refused
    log is said on stderr and the run still ends with its done record; a
    40 MiB flood leaves the worker's memory as it was."""
    R.case = "worker log"
    code, err, seen, rss = worker_log_run(ctx, [503, 200])
    logs = [i for i, (path, _, _) in enumerate(seen) if "/log" in path]
    recs = [i for i, (path, _, _) in enumerate(seen) if path == "/v1/ingest/7"]
    R.eq((code, len(logs)), (0, 2), "exit 0; the log POSTed twice (a 503, then 200)")
    if len(logs) != 2 or not recs:
        return
    path, ctype, body = seen[logs[1]]
    R.eq((path, ctype), (f"/v1/ingest/7/log?bytes={len(err)}", "text/plain; charset=utf-8"),
         "the log's URL gives the bytes the trainer wrote (all of them on stderr)")
    R.check(len(err) > 160_000 and body == bounded(err) and seen[logs[0]][2] == body,
            "the log sent is the trainer's whole output bounded (head, left-out line, tail)",
            (len(bounded(err)), bounded(err)[-30:]), (len(err), len(body), body[-30:]))
    last = seen[recs[-1]][2].splitlines()
    R.check(recs[-1] > logs[1] and json.loads(last[-1])["type"] == "done" and
            not any(b'"done"' in seen[i][2] for i in recs[:-1]),
            "the done record comes after the log, last", "log, then done last",
            ([(seen[i][0], len(seen[i][2])) for i in range(len(seen))], last[-1:]))
    code, err, seen, _ = worker_log_run(ctx, [403])
    R.check(code == 0 and b"the trainer's log is not kept" in err and
            json.loads(seen[-1][2].splitlines()[-1])["type"] == "done",
            "a refused log is said and the run still ends done", "exit 0, said, done",
            (code, err[-300:], seen[-1][2][-100:]))
    # a shell trainer (small beside the worker): 40 MiB of log, then 11 bytes;
    # the resident peak wait4 gives also counts the test's own image, which
    # the child had until it ran the worker: a worker that held the flood
    # would pass it by far more than the margin
    _, _, _, small_rss = worker_log_run(ctx, [], ["/bin/sh", "-c", "echo small"])
    code, err, seen, flood_rss = worker_log_run(ctx, [], [
        "/bin/sh", "-c", "head -c 41943040 /dev/zero | tr '\\0' x; echo; echo last line"])
    n = 40 * 2 ** 20 + 11
    sent = [(path, b) for path, _, b in seen if "/log" in path]
    R.check(code == 0 and len(err) == n and sent == [(f"/v1/ingest/7/log?bytes={n}",
                                                      bounded(err))],
            "a 40 MiB flood: all of it on stderr, its head and tail sent",
            f"exit 0, {n} bytes, one log of 64 KiB and the line",
            (code, len(err), [(path, len(b)) for path, b in sent]))
    R.check(flood_rss - small_rss < 4 * 1024,
            "the flood costs the worker no memory beyond its bounds (its peak resident "
            "size within 4 MiB of a run writing 6 bytes)", f"< {small_rss + 4 * 1024} KiB",
            flood_rss)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def case_sbatch_refused(ctx, d):
    """sbatch refuses the array (the admin's profile names no real
    partition): the runs fail with sbatch's words, after their attempts."""
    R.case = "sbatch"
    r = d.req("POST", "/v1/sweeps", spec("refused", [1], [1], 100, max_attempts=2,
                                          slurm={"profile": "broken"}))
    chk = (r.json or {}).get("check") or {}
    R.check(r.status == 201 and chk.get("result") == "skipped"
            and "Slurm executor" in (chk.get("why") or ""),
            "a sweep for Slurm is not checked at submit (its files are on the nodes), "
            "and the answer says so", "201, check skipped: ... Slurm executor ...",
            (r.status, r.json))
    if r.status != 201:
        raise RuntimeError("Slurm sweep not accepted")
    sid = r.json["id"]
    s = d.wait_sweep(sid, 30, states=("failed",))
    rows = cli(ctx.db, f"SELECT state, attempts, error FROM runs WHERE sweep_id = {sid}")
    R.check(rows and rows[0]["state"] == "failed" and rows[0]["attempts"] == 2 and
            "sbatch failed" in rows[0]["error"] and "partition" in rows[0]["error"],
            "run failed after 2 attempts with sbatch's error", "failed, 2, sbatch ...", rows)
    R.check("no run finished: 1 failed" in (s.get("error") or "")
            and "sbatch failed" in (s.get("error") or ""),
            "the sweep is failed, its error says no run finished, with sbatch's words",
            "'no run finished: 1 failed, 0 cancelled; the last error: ...sbatch failed...'",
            s.get("error"))


def run_workers(ctx, run):
    """PIDs of the loralpha-worker processes training run alone (its config
    file is on their command line)."""
    tok = os.path.join(ctx.sdir, "runs", f"{run}.json").encode()
    pids = []
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError):
            continue
        if argv and argv[0].endswith(b"loralpha-worker") and tok in argv:
            pids.append(int(p))
    return pids


def running_jobs(ctx, sid, n, on_seen=None):
    """Waits for n runs of the sweep to be RUNNING in Slurm and to have sent
    rows; their run ids. on_seen(run) is called once for each such run when
    it is first seen (before the others may have started)."""
    seen = []

    def check():
        rows = cli(ctx.db, f"SELECT j.run_id FROM slurm_jobs j WHERE j.sweep_id = {sid} "
                           f"AND j.slurm_state = 'RUNNING' AND j.state = 'submitted' AND "
                           f"EXISTS (SELECT 1 FROM curve c WHERE c.run_id = j.run_id)")
        for r in rows:
            if r["run_id"] not in seen:
                seen.append(r["run_id"])
                if on_seen:
                    on_seen(r["run_id"])
        return sorted(seen) if len(seen) >= n else None

    def progress():  # the queue moving: jobs of earlier cases leaving, these starting
        return (squeue(ctx.env), cli_val(ctx.db, "SELECT COUNT(*) FROM slurm_jobs"))
    got = wait_progress(check, progress, 60, 0.2)
    R.check(got is not None, f"{n} runs of sweep {sid} running in Slurm", n,
            got or (cli(ctx.db, f"SELECT j.run_id, j.state, j.slurm_state, r.state AS run_state, "
                                f"(SELECT COUNT(*) FROM curve c WHERE c.run_id = j.run_id) "
                                f"AS rows FROM slurm_jobs j JOIN runs r ON r.id = j.run_id "
                                f"WHERE j.sweep_id = {sid}"), squeue(ctx.env)))
    if got is None:
        raise RuntimeError("jobs did not start")
    return got


def check_log_route(d, a, b, tok_a):
    """POST /v1/ingest/{run}/log takes a run's own token only, text/plain,
    with ?bytes=N, at most a kept log's size; it stores the bytes as text."""
    for args, want, what in (
            ((b, None, "x", "?bytes=1"), 401, "no token"),
            ((b, tok_a, "x", "?bytes=1"), 403, "run A's token into run B's log"),
            ((a, "0" * 64, "x", "?bytes=1"), 403, "a made-up token"),
            ((a, tok_a, "x", "?bytes=1", "application/json"), 415, "not text/plain"),
            ((a, tok_a, "x", ""), 400, "no bytes="),
            ((a, tok_a, "x", "?bytes=-1"), 400, "bytes=-1"),
            ((a, tok_a, "x" * (16384 + 96 + 49152 + 1), "?bytes=99999999"), 413,
             "a log over 64 KiB and the left-out line"),
            ((a, tok_a, "xyz", "?bytes=5"), 422, "bytes=5 with 3 bytes (a small log is whole)")):
        st, js, _ = ingest_log(d.port, *args)
        R.check(st == want, f"log route, {what}: {want}", want,
                (st, js and js.get("error")))
    st, js, _ = api(d.port, "GET", f"/v1/runs/{a}/log")
    R.eq(st, 404, "refused logs are not stored")
    body = b"line one\n\xff\x00 bytes of the job\n"
    st, js, _ = ingest_log(d.port, a, tok_a, body, f"?bytes={len(body)}")
    R.eq((st, js), (200, {"run_id": a, "attempt": 1, "bytes": len(body), "kept": len(body)}),
         "the run's own token stores its log")
    st, js, _ = api(d.port, "GET", f"/v1/runs/{a}/log")
    R.eq((st, js and js.get("log")), (200, "line one\n?? bytes of the job\n"),
         "the log is kept as text: bytes that are not UTF-8 (and NUL) as '?'")


def case_tokens_and_cancel(ctx, d):
    """The ingest route takes a run's own token only; cancel scancels."""
    R.case = "cancel"
    sid = d.submit(spec("long", [1, 2], [1], 5_000_000, max_parallel=2))
    a, b = running_jobs(ctx, sid, 2)[:2]
    with open(os.path.join(ctx.sdir, "runs", f"{a}.token")) as f:
        tok_a = f.read().strip()
    rec = json.dumps({"type": "train", "step": 99999999, "loss": 1.0}) + "\n"
    st, js, _ = ingest(d.port, b, None, rec)
    R.eq(st, 401, "ingest without a token: 401")
    st, js, _ = ingest(d.port, b, tok_a, rec)
    R.eq(st, 403, "run A's token into run B: 403")
    st, js, _ = ingest(d.port, b, "0" * 64, rec)
    R.eq(st, 403, "a made-up token: 403")
    st, js, _ = ingest(d.port, a, tok_a, "not json\n")
    R.eq(st, 400, "a line that is not a record: 400")
    check_log_route(d, a, b, tok_a)
    R.eq(cli_val(ctx.db, "SELECT COUNT(*) FROM curve WHERE step = 99999999"), 0,
         "refused records are not stored")
    arrays = {r["array_id"] for r in cli(ctx.db, f"SELECT array_id FROM slurm_jobs "
                                                 f"WHERE sweep_id = {sid}")}
    t0 = time.monotonic()
    st, js, raw = api(d.port, "POST", f"/v1/sweeps/{sid}/cancel")
    R.eq(st, 200, "cancel answers 200")
    R.eq(sorted(r["state"] for r in cli(ctx.db, f"SELECT state FROM runs WHERE sweep_id = {sid}")),
         ["cancelled", "cancelled"], "running Slurm runs cancelled")
    gone = wait_until(lambda: (q := squeue(ctx.env)) is not None and
                      not [x for x in q if int(x[0]) in arrays], 30, 0.1)
    R.check(gone, "scancel: the sweep's jobs leave the queue", "empty", squeue(ctx.env))
    log(f"cancel to empty queue: {time.monotonic() - t0:.2f} s")
    st, js, _ = ingest(d.port, a, tok_a, rec)
    R.eq(st, 403, "a cancelled run's token no longer ingests")


def case_kill(ctx, d):
    """A job killed in Slurm: its run is re-queued and goes out again in a
    new array (attempt 2); then the sweep is cancelled."""
    R.case = "kill"
    sid = d.submit(spec("killed", [2], [4], 5_000_000, max_attempts=2))
    run = running_jobs(ctx, sid, 1)[0]
    first = cli_val(ctx.db, f"SELECT array_id FROM slurm_jobs WHERE run_id = {run}")
    t0 = time.monotonic()
    subprocess.run(["scancel", "--batch", "--signal=KILL", f"{first}_0"], env=ctx.env,
                   check=True, timeout=scaled(30))
    again = wait_until(lambda: cli(ctx.db, f"SELECT j.array_id, j.attempt, r.state, "
                                           f"r.attempts FROM slurm_jobs j JOIN runs r ON "
                                           f"r.id = j.run_id WHERE j.run_id = {run} AND "
                                           f"j.attempt = 2 AND j.state = 'submitted'"), 60, 0.2)
    R.check(again and again[0]["array_id"] != first and again[0]["state"] == "running",
            "killed run re-queued and submitted again in a new array",
            f"attempt 2, array != {first}", again)
    log(f"kill to resubmitted: {time.monotonic() - t0:.1f} s")
    st, _, _ = api(d.port, "POST", f"/v1/sweeps/{sid}/cancel")
    R.eq(st, 200, "cancel the re-queued run's sweep")
    arrays = {r["array_id"] for r in cli(ctx.db, f"SELECT array_id FROM slurm_jobs "
                                                 f"WHERE sweep_id = {sid}")}
    gone = wait_until(lambda: (q := squeue(ctx.env)) is not None and
                      not [x for x in q if int(x[0]) in arrays], 30, 0.1)
    R.check(gone, "scancel: the killed sweep's jobs leave the queue (the next case needs "
            "both CPUs)", "empty", squeue(ctx.env))


def steps_for(ctx, seconds):
    """Steps of the test's rank-2 run that take about this long here (the
    worker's speed differs a lot between builds)."""
    cfg = dict(TASK, **METRICS, rank=2, alpha=2, lr=0.001, seed=1, steps=20000, batch=32)
    t0 = time.monotonic()
    subprocess.run([ctx.worker, "--config", "-"], input=json.dumps(cfg), capture_output=True,
                   text=True, timeout=300, check=True)
    rate = 20000 / max(time.monotonic() - t0, 1e-3)
    return max(20000, int(rate * seconds) // 1000 * 1000)


def case_restart(ctx, d):
    """A daemon restarted while jobs run re-attaches instead of submitting
    again; the workers' retries bridge the gap."""
    R.case = "restart"
    # Each run is stopped (SIGSTOP) as soon as it is seen sending, and goes on
    # (SIGCONT) once the restarted daemon follows it: both are still running
    # across the restart however slow the machine. A run must only outlast
    # the test's poll that sees it.
    steps = steps_for(ctx, 15)
    log(f"runs of {steps} steps to restart the daemon under")
    sid = d.submit(spec("reattach", [1, 2], [2], steps, max_parallel=2))
    frozen = []

    def freeze(run):
        pids = run_workers(ctx, run)
        R.eq(len(pids), 1, f"one worker process trains run {run}")
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        frozen.extend(pids)

    try:
        runs = running_jobs(ctx, sid, 2, freeze)
        d2, before, scripts = restart_frozen(ctx, d, sid)
    finally:
        for p in frozen:
            os.kill(p, signal.SIGCONT)
    d2.wait_sweep(sid, 120)
    check_restarted(ctx, sid, runs, before, scripts)
    return d2


def restart_frozen(ctx, d, sid):
    """Stops the daemon while the sweep's jobs run, starts it again; the new
    daemon, and the sweep's jobs and the batch scripts before the stop."""
    before = cli(ctx.db, f"SELECT run_id, array_id FROM slurm_jobs WHERE sweep_id = {sid} "
                         f"ORDER BY run_id")
    scripts = sorted(os.listdir(os.path.join(ctx.sdir, "batches")))
    R.eq(d.stop(), 0, "daemon stops cleanly with jobs in Slurm")
    R.eq(len([x for x in squeue(ctx.env) or [] if int(x[0]) in
              {b["array_id"] for b in before}]), 2, "jobs keep running while it is away")
    time.sleep(1.5)
    d2 = Daemon(ctx, "restarted", port=d.port)
    R.check("following 2 Slurm jobs" in d2.log(), "restart re-attaches to 2 jobs",
            "following 2 Slurm jobs", d2.log())
    return d2, before, scripts


def check_restarted(ctx, sid, runs, before, scripts):
    """After the restart: the same jobs, no new script, no lost records."""
    after = cli(ctx.db, f"SELECT run_id, array_id FROM slurm_jobs WHERE sweep_id = {sid} "
                        f"ORDER BY run_id")
    R.eq(after, before, "no job submitted again")
    R.eq(sorted(os.listdir(os.path.join(ctx.sdir, "batches"))), scripts, "no new script")
    R.eq([r["attempts"] for r in cli(ctx.db, f"SELECT attempts FROM runs WHERE "
                                             f"sweep_id = {sid}")], [1, 1],
         "runs done in their first attempt")
    want = local_lines(ctx, runs[0])
    R.eq(cli_val(ctx.db, f"SELECT COUNT(*) FROM curve WHERE run_id = {runs[0]}"), want,
         "no records lost across the restart")


def case_vanished(ctx, d, sid):
    """A job Slurm no longer knows (as if a previous daemon had submitted it
    and the cluster lost it): a failed attempt, the run re-queued and done
    in a real array."""
    R.case = "vanished"
    R.eq(d.stop(), 0, "daemon stops")
    run = cli_val(ctx.db, f"SELECT MIN(id) FROM runs WHERE sweep_id = {sid}")
    cli(ctx.db, f"UPDATE sweeps SET state = 'active', finished_at = NULL WHERE id = {sid}; "
                f"UPDATE runs SET state = 'running' WHERE id = {run}; "
                f"UPDATE slurm_jobs SET state = 'submitted', array_id = 999999, task = 0, "
                f"token_sha256 = '{hashlib.sha256(b'ab' * 32).hexdigest()}' "
                f"WHERE run_id = {run}")
    d2 = Daemon(ctx, "vanished", port=d.port, extra=("--executor", "slurm,local"))
    R.check("following 1 Slurm jobs" in d2.log(), "re-attaches to the lost job",
            "following 1 Slurm jobs", d2.log())
    d2.wait_sweep(sid, 60)
    row = cli(ctx.db, f"SELECT r.state, r.attempts, j.array_id FROM runs r JOIN slurm_jobs j "
                      f"ON j.run_id = r.id WHERE r.id = {run}")[0]
    R.check(row["state"] == "done" and row["attempts"] == 2 and row["array_id"] != 999999,
            "vanished job: run re-queued and done in a new array",
            "done, 2 attempts, new array", row)
    st, _, _ = ingest(d2.port, run, "ab" * 32, '{"type":"eval","step":1,"loss":1}\n')
    R.eq(st, 403, "the lost job's token is revoked")
    default = spec("default", [1], [1], 200)
    del default["executor"]
    did = d2.submit(default)
    d2.wait_sweep(did, 60)
    R.eq(cli_val(ctx.db, f"SELECT COUNT(*) FROM slurm_jobs WHERE sweep_id = {did}"), 1,
         "a sweep without an executor goes to Slurm on a --executor slurm daemon")
    return d2


def case_export(ctx):
    """export-slurm writes a standalone array; sbatch runs it without a
    daemon; import stores its results like a daemon's."""
    R.case = "export"
    out = os.path.join(ctx.tmp, "export")
    sp = os.path.join(ctx.tmp, "export-spec.json")
    with open(sp, "w") as f:
        json.dump(spec("exported", [1, 2], [1, 8], 1000, max_parallel=3), f)
    p = subprocess.run([ctx.loralpha, "export-slurm", sp, "--dir", out, "--partition",
                        "debug", "--time", "5", "--sbatch-arg", "--comment=export"],
                       capture_output=True, text=True, timeout=scaled(60))
    R.eq(p.returncode, 0, "export-slurm exits 0")
    scripts = [x.split()[1] for x in p.stdout.splitlines() if x.startswith("sbatch ")]
    R.check(len(scripts) == 1, "one array script printed", 1, p.stdout + p.stderr)
    with open(scripts[0]) as f:
        text = f.read()
    for want in ("#SBATCH --array=0-3%3", "#SBATCH --partition=debug",
                 "#SBATCH --comment=export", "--report-url"):
        R.check((want in text) == (want != "--report-url"), f"script and {want}", want, text)
    bad = subprocess.run([ctx.loralpha, "export-slurm", sp, "--dir", out, "--time", "a b"],
                         capture_output=True, text=True, timeout=scaled(60))
    R.check(bad.returncode == 2 and "--time" in bad.stderr, "a bad --time is refused by name",
            "exit 2 naming --time", bad.stderr)
    job = subprocess.run(["sbatch", "--parsable", scripts[0]], env=ctx.env,
                         capture_output=True, text=True, timeout=30).stdout.strip()
    done = wait_until(lambda: (q := squeue(ctx.env)) is not None and
                      not [x for x in q if x[0] == job], 90, 0.2)
    R.check(done, "the exported array ran", "empty queue", squeue(ctx.env))
    db = os.path.join(ctx.tmp, "imported.db")
    p = subprocess.run([ctx.loralpha, "import", out, "--db", db], capture_output=True,
                       text=True, timeout=scaled(120))
    R.eq(p.returncode, 0, "import exits 0")
    R.check("4 of 4 runs finished" in p.stderr, "import reports 4 of 4", "4 of 4", p.stderr)
    sid = int(p.stdout.strip() or 0)
    R.eq([r["state"] for r in cli(db, f"SELECT state FROM runs WHERE sweep_id = {sid}")],
         ["done"] * 4, "imported runs done")
    R.eq(cli_val(db, f"SELECT state FROM sweeps WHERE id = {sid}"), "done", "imported sweep done")
    R.eq(cli_val(db, f"SELECT owner FROM sweeps WHERE id = {sid}"), "root",
         "the imported sweep belongs to the importing user")
    # a sweep already in a database, by its id: the same scripts as its spec
    out2 = os.path.join(ctx.tmp, "export-by-id")
    p = subprocess.run([ctx.loralpha, "export-slurm", str(sid), "--db", db, "--dir", out2,
                        "--partition", "debug", "--time", "5", "--sbatch-arg",
                        "--comment=export"], capture_output=True, text=True, timeout=scaled(60))
    R.eq(p.returncode, 0, "export-slurm SWEEP (an id in --db) exits 0")
    by_id = [x.split()[1] for x in p.stdout.splitlines() if x.startswith("sbatch ")]
    with open(by_id[0] if by_id else os.devnull) as f:
        text2 = f.read()
    R.eq(text2.replace(out2, out), text, "export by sweep id writes the spec's script")
    with open(os.path.join(out, "runs", "2.json")) as f1, \
            open(os.path.join(out2, "runs", "2.json")) as f2:
        R.eq(json.load(f2), json.load(f1), "export by sweep id: the same run configs")
    p = subprocess.run([ctx.loralpha, "export-slurm", "987654", "--db", db, "--dir", out2],
                       capture_output=True, text=True, timeout=scaled(60))
    R.check(p.returncode == 1 and "no sweep 987654" in p.stderr,
            "export-slurm of an unknown sweep id fails by name", "no sweep 987654", p.stderr)
    with open(os.path.join(out, "runs", "0.json")) as f:
        cfg = f.read()
    n = subprocess.run([ctx.worker, "--config", "-"], input=cfg, capture_output=True,
                       text=True, timeout=60).stdout
    want = sum(1 for x in n.splitlines() if json.loads(x)["type"] in ("train", "eval"))
    R.eq(cli_val(db, f"SELECT COUNT(*) FROM curve c JOIN runs r ON r.id = c.run_id WHERE "
                 f"r.sweep_id = {sid} AND r.idx = 0"), want,
         "imported curve equals the worker's records")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("slurmctld") or not shutil.which("munged"):
        print("test_slurm: needs root and slurmctld, slurmd, slurm-client, munge "
              "(scripts/install-deps.sh --test)")
        return 1
    ctx = Ctx(args)
    t0 = time.monotonic()
    try:
        case_worker_flags(ctx)
        case_worker_log(ctx)
        ctx.start_cluster()
        d = Daemon(ctx, "first")
        first = case_sweep(ctx, d)
        case_packs(ctx, d)
        case_halving(ctx, d)
        case_command(ctx, d)
        case_command_log(ctx, d)
        case_command_term(ctx, d)
        case_sbatch_refused(ctx, d)
        case_tokens_and_cancel(ctx, d)
        case_kill(ctx, d)
        d = case_restart(ctx, d)
        d = case_vanished(ctx, d, first)
        R.eq(d.stop(), 0, "daemon stops cleanly")
        case_export(ctx)
    except Exception:
        R.check(False, "no exception", None, traceback.format_exc())
        for d in ctx.daemons:
            print(f"--- {d.log_path}\n{d.log()}" if os.path.exists(d.log_path) else "")
    finally:
        ctx.cleanup(args.keep)
    log(f"wall {time.monotonic() - t0:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
