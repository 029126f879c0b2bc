#!/usr/bin/env python3
"""test_slurm_lock.py: what a user's spec may make the daemon run on Slurm.

  test_slurm_lock.py --loralpha PATH --worker PATH [--keep]

A hostile second local user (eve, made with localusers.py) talks to shared
daemons over their Unix socket (mode 0666). Fake `sbatch`, `squeue`,
`scontrol`, `sacct`, `scancel`, `srun` and `salloc` come first on each
daemon's PATH and record every call. Cases:

  local     daemons run as root and as another ordinary user (alice) with
            `--executor local`: `"executor": "slurm"` and a "slurm" object
            are 422 naming the field, whatever they carry; a local sweep
            runs to the end; no Slurm command is ever called
  policy    daemons run as root and as alice whose config enables Slurm
            with partitions, maxima and profiles: each attack (BASH_ENV
            through --export,
            --wrap, --chdir, account, QoS, memory, environment, a partition
            outside the list or with a newline, time and CPUs over the
            maxima, an unknown profile, a newline in the name, the npy
            task) is 422 naming its field, creates no file and calls no
            sbatch; an allowed spec reaches the fake sbatch with exactly the
            admin's settings and the user's choices, --export=NONE, and the
            sweep's name inert in a comment; then the same database under a
            daemon without Slurm: the job left in Slurm is named in its log,
            not followed, and no Slurm command is run
  config    serve --check-config prints the Slurm policy; bad admin
            settings (an --export line, a bad profile) are refused naming
            the key (exit 2)
  export    export-slurm as eve takes eve's own --account, --env ... (her
            scripts run with her rights) but refuses the same admin-only
            fields in a spec

Needs root (to make the accounts). Ends with `N passed, M failed`.
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Results, log, wait_socket, wait_until
from localusers import LocalUsers, available, stop

R = Results()
TOOLS = ("sbatch", "squeue", "scontrol", "sacct", "scancel", "srun", "salloc")
TASK = {"task": "teacher", "d_in": 16, "d_out": 16, "n_train": 128, "n_eval": 32}
METRICS = {"log_every": 10, "eval_every": 100000, "spectra_every": 0, "sharpness": False}


def spec(name, **top):
    s = {"name": name, "task": dict(TASK), "grid": {"rank": [2], "alpha": [1.0],
                                                    "lr": [0.001]},
         "seeds": 1, "steps": 20, "batch": 16, "metrics": METRICS}
    s.update(top)
    return s


class Ctx:
    def __init__(self, args):
        self.loralpha = os.path.abspath(args.loralpha)
        self.worker = os.path.abspath(args.worker)
        self.tmp = tempfile.mkdtemp(prefix="loralpha-slurmlock.")
        os.chmod(self.tmp, 0o755)
        self.calls_dir = os.path.join(self.tmp, "calls")
        os.mkdir(self.calls_dir)
        os.chmod(self.calls_dir, 0o777)
        self.calls = os.path.join(self.calls_dir, "calls.log")
        self.fakebin = os.path.join(self.tmp, "fakebin")
        os.mkdir(self.fakebin)
        for t in TOOLS:
            self.fake(t)
        self.path = f"{self.fakebin}:/usr/local/bin:/usr/bin:/bin"

    def fake(self, tool):
        """A stand-in for tool that records its arguments; sbatch also keeps
        the script and answers a job id; scontrol and sacct know no job."""
        body = f'#!/bin/sh\necho "{tool} $*" >>{self.calls}\n'
        if tool == "sbatch":
            body += (f'for a; do last="$a"; done\n'
                     f'cp "$last" {self.calls_dir}/script.$$ 2>/dev/null\n'
                     'echo 4242\n')
        elif tool == "squeue":  # every job it is asked about runs
            body += 'echo "4242|0|RUNNING"\n'
        elif tool in ("scontrol", "sacct"):
            body += 'echo "Invalid job id specified" >&2\nexit 1\n'
        path = os.path.join(self.fakebin, tool)
        with open(path, "w") as f:
            f.write(body)
        os.chmod(path, 0o755)

    def calls_made(self):
        try:
            with open(self.calls) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def scripts(self):
        out = []
        for n in sorted(os.listdir(self.calls_dir)):
            if n.startswith("script."):
                with open(os.path.join(self.calls_dir, n)) as f:
                    out.append(f.read())
        return out


class Daemon:
    """`loralpha serve` on a Unix socket of mode 0666 (no TCP), run by root
    or by a local account (owner), with the fake Slurm tools first on its
    PATH."""

    def __init__(self, ctx, name, extra=(), config=None, owner=None):
        self.ctx, self.name = ctx, name
        base = owner.home if owner else ctx.tmp
        self.state = os.path.join(base, f"state-{name}")
        sock_dir = os.path.join(ctx.tmp, f"sock-{name}")
        os.mkdir(sock_dir)
        if owner:
            os.chown(sock_dir, owner.uid, owner.gid)
        os.chmod(sock_dir, 0o755)
        self.sock = os.path.join(sock_dir, "loralpha.sock")
        self.db = os.path.join(self.state, "loralpha.db")
        self.log_path = os.path.join(ctx.tmp, f"{name}.log")
        argv = [ctx.loralpha, "serve", "--listen", "none", "--socket", self.sock,
                "--socket-mode", "0666", "--state-dir", self.state, "--worker",
                ctx.worker, "--max-workers", "1"]
        if config is not None:
            path = os.path.join(ctx.tmp, f"{name}.json")
            with open(path, "w") as f:
                json.dump(config, f)
            os.chmod(path, 0o644)
            argv += ["--config", path]
        argv += list(extra)
        self.logf = open(self.log_path, "w")
        kw = dict(stdout=self.logf, stderr=subprocess.STDOUT)
        if owner:
            self.proc = owner.popen(argv, extra_env={"PATH": ctx.path}, **kw)
        else:
            env = dict(os.environ, PATH=ctx.path)
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env,
                                         cwd=ctx.tmp, start_new_session=True, **kw)
        if not wait_socket(self.proc, self.sock, 20):
            raise RuntimeError(f"daemon {name} did not start: {self.log()}")

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-3000:]

    def stop(self):
        """SIGTERM; checks that the daemon exits 0 (a sanitizer's report
        would not)."""
        rc = stop(self.proc)
        self.logf.close()
        R.eq(rc, 0, f"daemon {self.name} exits 0 on SIGTERM: {self.log()[-600:]}")


def post(user, d, body):
    """POST /v1/sweeps as user over the daemon's socket: (status, JSON)."""
    st, _, raw = user.http(d.sock, "POST", "/v1/sweeps", body)
    try:
        return st, json.loads(raw)
    except (ValueError, TypeError):
        return st, raw


def refused(user, d, body, field, what):
    """The spec is 422 with an error that starts with field."""
    st, js = post(user, d, body)
    msg = js.get("error", {}).get("message", "") if isinstance(js, dict) else str(js)
    R.check(st == 422 and msg.startswith(field + ":"), f"{what}: 422 naming {field}",
            f"422 '{field}: ...'", f"{st} {msg!r}")


def wait_sweep(user, d, sid, states, timeout=60):
    def state():
        st, _, raw = user.http(d.sock, "GET", f"/v1/sweeps/{sid}")
        js = json.loads(raw) if st == 200 else {}
        return js if js.get("state") in states else None
    got = wait_until(state, timeout, 0.2)
    R.check(got is not None, f"sweep {sid} reaches {states} within {timeout} s", states,
            d.log())
    return got


def case_local(ctx, eve, alice):
    """Local-only daemons, run by root and by alice: no Slurm at all."""
    marker = os.path.join(eve.home, "pwned")
    evil = eve.write("evil.sh", f"touch {marker}\n", 0o755)
    for owner in (None, alice):
        who = owner.name if owner else "root"
        R.case = f"local/{who}"
        d = Daemon(ctx, f"local-{who}", ["--executor", "local"], owner=owner)
        try:
            refused(eve, d, spec("a", executor="slurm"), "executor",
                    "executor slurm on a local-only daemon")
            refused(eve, d, spec("b", executor="slurm", slurm={
                "sbatch_args": [f"--export=ALL,BASH_ENV={evil}"]}), "executor",
                "BASH_ENV through --export on a local-only daemon")
            refused(eve, d, spec("c", slurm={"partition": "debug"}), "slurm",
                    "a slurm object on a local-only daemon")
            refused(eve, d, spec("d", executor="local", slurm={
                "sbatch_args": [f"--wrap=touch {marker}"]}), "slurm",
                "--wrap on a local-only daemon")
            st, js = post(eve, d, spec("fine", executor="local"))
            R.check(st == 201, "a local sweep is accepted", 201, (st, js))
            if st == 201:
                wait_sweep(eve, d, js["id"], ("done",))
        finally:
            d.stop()
        R.eq(ctx.calls_made(), [], f"no Slurm command called by {who}'s local daemon")
        R.check(not os.path.exists(marker), "the attack created no file", "absent",
                marker)


ADMIN = {
    "executor": "local,slurm",
    "slurm": {
        "poll": 1,
        "report_url": "http://127.0.0.1:9",
        "partitions": ["debug", "long"],
        "max_time": "1:00:00",
        "max_cpus_per_task": 2,
        "defaults": {"partition": "debug", "account": "ml", "qos": "normal",
                     "mem": "1G", "time": "20", "env": {"LANG": "C.UTF-8"}},
        "profiles": {"small": {"mem": "512M", "sbatch": ["--nice=10"]},
                     "big": {"partition": "long", "account": "ml-big", "qos": "high",
                             "mem": "16G", "time": "12:00:00", "cpus_per_task": 8}},
    },
}


def case_policy(ctx, eve, owner=None):
    """A Slurm-enabled daemon (run by root, or by owner): the attacks are
    refused, what the config allows reaches sbatch."""
    who = owner.name if owner else "root"
    R.case = f"policy/{who}"
    marker = os.path.join(eve.home, "pwned")
    evil = eve.write("evil.sh", f"touch {marker}\n", 0o755)
    cfg = json.loads(json.dumps(ADMIN))
    cfg["slurm"]["dir"] = os.path.join(owner.home if owner else ctx.tmp, "jobs")
    for name in os.listdir(ctx.calls_dir):
        os.unlink(os.path.join(ctx.calls_dir, name))
    d = Daemon(ctx, f"policy-{who}", config=cfg, owner=owner)
    s = dict(executor="slurm")
    attacks = [
        ("slurm.sbatch_args", "BASH_ENV through --export",
         {"sbatch_args": [f"--export=ALL,BASH_ENV={evil}"]}),
        ("slurm.sbatch_args", "--wrap", {"sbatch_args": [f"--wrap=touch {marker}"]}),
        ("slurm.sbatch_args", "--chdir", {"sbatch_args": [f"--chdir={eve.home}"]}),
        ("slurm.chdir", "a chdir field", {"chdir": eve.home}),
        ("slurm.account", "another account", {"account": "ml-big"}),
        ("slurm.qos", "another QoS", {"qos": "high"}),
        ("slurm.mem", "more memory", {"mem": "64G"}),
        ("slurm.env", "the jobs' environment", {"env": {"BASH_ENV": evil}}),
        ("slurm.partition", "a partition outside the list", {"partition": "gpu"}),
        ("slurm.partition", "a newline in the partition",
         {"partition": f"debug\n#SBATCH --wrap=touch {marker}"}),
        ("slurm.time", "a time over max_time", {"time": "1:00:01"}),
        ("slurm.time", "a time as a command", {"time": f"10$(touch {marker})"}),
        ("slurm.cpus_per_task", "CPUs over the maximum", {"cpus_per_task": 3}),
        ("slurm.profile", "a profile the admin never named", {"profile": "admin"}),
    ]
    try:
        for field, what, sl in attacks:
            refused(eve, d, spec("attack", slurm=sl, **s), field, what)
        refused(eve, d, spec(f"x\n#SBATCH --wrap=touch {marker}", **s), "name",
                "a newline in the name")
        npy = spec("npy", **s)
        npy["task"] = {"task": "npy", "npy": {"x": "/etc/shadow", "y": "/etc/shadow"}}
        refused(eve, d, npy, "task.task", "the npy task on Slurm")
        R.eq(ctx.calls_made(), [], "no refused spec reached a Slurm command")
        R.check(not os.path.exists(marker), "no attack created a file", "absent", marker)
        R.check(not os.path.exists(cfg["slurm"]["dir"]),
                "no attack made the daemon write a script (no Slurm directory yet)",
                "absent", cfg["slurm"]["dir"])

        name = f"ok '$(touch {marker})' `touch {marker}`"
        st, js = post(eve, d, spec(name, executor="slurm", slurm={
            "profile": "small", "partition": "long", "time": "45", "cpus_per_task": 2}))
        R.check(st == 201, "an allowed choice is accepted", 201, (st, js))
        if st != 201:
            return
        got = wait_until(lambda: [c for c in ctx.calls_made() if c.startswith("sbatch ")],
                         30, 0.1)
        R.check(got, "the allowed sweep reaches sbatch", "an sbatch call", d.log())
        R.check(bool(got) and "--export=NONE" in got[0].split(),
                "sbatch is called with --export=NONE", "--export=NONE", got)
        st, _, raw = eve.http(d.sock, "POST", f"/v1/sweeps/{js['id']}/cancel", "")
        R.check(st == 200, "eve cancels her sweep", 200, (st, raw))
        scripts = ctx.scripts()
        R.check(len(scripts) >= 1, "the script was handed to sbatch", ">= 1", len(scripts))
        text = scripts[0] if scripts else ""
        lines = [x for x in text.splitlines() if x.startswith("#SBATCH ")]
        for want in ("--export=NONE", "--partition=long", "--account=ml", "--qos=normal",
                     "--mem=512M", "--time=0-00:45:00", "--cpus-per-task=2", "--nice=10",
                     "--no-requeue", f"--chdir={cfg['slurm']['dir']}"):
            R.check(f"#SBATCH {want}" in lines, f"the script has #SBATCH {want}", want, lines)
        R.check(not any(x.startswith("#SBATCH --wrap") for x in lines) and
                "ALL" not in text and "BASH_ENV" not in text,
                "no --wrap, ALL or BASH_ENV in the script", "none", text)
        comment = [x for x in text.splitlines() if x.startswith("# sweep ")]
        R.check(len(comment) == 1 and "$(touch" in comment[0],
                "the sweep's name is only in a comment", "one '# sweep' line", comment)
        R.check("export LANG='C.UTF-8'" in text, "the admin's environment is set",
                "export LANG='C.UTF-8'", text)
        left = leave_a_job(eve, d)
    finally:
        d.stop()
    R.check(not os.path.exists(marker), "nothing created the marker", "absent", marker)
    if left:
        restart_without_slurm(ctx, eve, d, owner)


def leave_a_job(user, d):
    """A sweep of user's whose job the daemon follows in Slurm ('submitted'
    with the fake sbatch's id): True once it is so."""
    st, js = post(user, d, spec("left", executor="slurm"))
    R.check(st == 201, "a sweep with the defaults is accepted", 201, (st, js))
    if st != 201:
        return False
    q = ("SELECT COUNT(*) FROM slurm_jobs WHERE state = 'submitted' AND "
         f"array_id = 4242 AND sweep_id = {int(js['id'])}")
    got = wait_until(lambda: sql(d.db, q) == 1, 30, 0.1)
    R.check(got, "its job is submitted and followed", "1 'submitted' row", d.log())
    return bool(got)


def restart_without_slurm(ctx, user, d, owner):
    """The same database under a daemon without Slurm: the job left in
    Slurm is named in the log and not followed; no Slurm command is run."""
    for name in os.listdir(ctx.calls_dir):
        os.unlink(os.path.join(ctx.calls_dir, name))
    d2 = Daemon(ctx, f"{d.name}-local", ["--executor", "local", "--db", d.db],
                owner=owner)
    try:
        R.check("1 Slurm jobs of an earlier daemon are not followed" in d2.log(),
                "the restarted local daemon names the job it does not follow",
                "1 Slurm jobs ... not followed", d2.log())
        st, js = post(user, d2, spec("after", executor="local"))
        R.check(st == 201, "a local sweep is accepted", 201, (st, js))
        if st == 201:
            wait_sweep(user, d2, js["id"], ("done",))
    finally:
        d2.stop()
    R.eq(ctx.calls_made(), [], "no Slurm command from the restarted local daemon")


def sql(db, q):
    """One value of a read-only query."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return c.execute(q).fetchone()[0]
    finally:
        c.close()


def case_config(ctx):
    R.case = "config"
    path = os.path.join(ctx.tmp, "check.json")
    cfg = json.loads(json.dumps(ADMIN))
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([ctx.loralpha, "serve", "--check-config", "--config", path,
                        "--state-dir", os.path.join(ctx.tmp, "check-state"),
                        "--worker", ctx.worker], capture_output=True, text=True,
                       timeout=30)
    R.eq(p.returncode, 0, f"--check-config accepts the admin's config: {p.stderr}")
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = {}
    R.eq(out.get("executor"), "local,slurm", "the executors are printed")
    sl = out.get("slurm", {})
    R.eq(sl.get("partitions"), ["debug", "long"], "the partitions are printed")
    R.eq(sl.get("max_time"), "0-01:00:00", "max_time is printed")
    R.eq(sl.get("profiles", {}).get("big", {}).get("qos"), "high", "profiles are printed")
    bad = [
        ({"slurm": {"defaults": {"sbatch": ["--export=ALL"]}}},
         "slurm.defaults.sbatch[0]"),
        ({"slurm": {"profiles": {"p": {"sbatch": ["--wrap=id"]}}}},
         "slurm.profiles.p.sbatch[0]"),
        ({"slurm": {"profiles": {"p": {"partition": "a b"}}}},
         "slurm.profiles.p.partition"),
        ({"slurm": {"max_cpus_per_task": 0}}, "slurm.max_cpus_per_task"),
        ({"slurm": {"account": "x"}}, "slurm.account"),
        ({"executor": "slurm,k8s"}, "executor"),
    ]
    for c, key in bad:
        with open(path, "w") as f:
            json.dump(c, f)
        p = subprocess.run([ctx.loralpha, "serve", "--check-config", "--config", path,
                            "--state-dir", os.path.join(ctx.tmp, "check-state")],
                           capture_output=True, text=True, timeout=30)
        R.check(p.returncode == 2 and f"{key}:" in p.stderr,
                f"a bad config is refused naming {key}", f"exit 2, '{key}:'",
                (p.returncode, p.stderr))


def case_export(ctx, eve):
    """export-slurm writes eve's own scripts: her own choices, same forms."""
    R.case = "export"
    sp = eve.write("spec.json", json.dumps(spec("mine", executor="slurm",
                                                slurm={"time": "3:00:00"})))
    out = os.path.join(eve.home, "exp")
    p = eve.run([ctx.loralpha, "export-slurm", sp, "--dir", out, "--account", "eve-lab",
                 "--partition", "gpu", "--env", "SCRATCH=/scratch/eve",
                 "--worker", ctx.worker], timeout=60)
    R.eq(p.returncode, 0, f"export-slurm with eve's own settings: {p.stderr}")
    try:
        with open(os.path.join(out, "array-0.sbatch")) as f:
            text = f.read()
    except OSError as e:
        text = str(e)
    for want in ("#SBATCH --account=eve-lab", "#SBATCH --partition=gpu",
                 "#SBATCH --time=0-03:00:00", "#SBATCH --export=NONE",
                 "export SCRATCH='/scratch/eve'"):
        R.check(want in text, f"the exported script has {want}", want, text)
    bad = eve.write("bad.json", json.dumps(spec("bad", slurm={"account": "x"})))
    p = eve.run([ctx.loralpha, "export-slurm", bad, "--dir", os.path.join(eve.home, "e2")])
    R.check(p.returncode != 0 and "slurm.account:" in p.stderr,
            "a spec's slurm.account is refused by export-slurm too", "slurm.account:",
            (p.returncode, p.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    ok, why = available()
    if not ok:
        print(f"test_slurm_lock: {why}: needs root to make local accounts")
        return 1
    ctx = Ctx(args)
    t0 = time.monotonic()
    try:
        with LocalUsers("lasl") as users:
            eve, alice = users.add("eve"), users.add("alice")
            for name, fn in (("config", lambda: case_config(ctx)),
                             ("local", lambda: case_local(ctx, eve, alice)),
                             ("policy", lambda: case_policy(ctx, eve)),
                             ("policy/alice", lambda: case_policy(ctx, eve, alice)),
                             ("export", lambda: case_export(ctx, eve))):
                try:
                    fn()
                except Exception as e:  # one case's crash is its failure
                    R.check(False, f"case {name} ran to its end", "no exception", repr(e))
            R.case = ""
    finally:
        if args.keep:
            log(f"kept {ctx.tmp}")
        else:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
    log(f"test_slurm_lock: {time.monotonic() - t0:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
