#!/usr/bin/python3
"""End-to-end tests of the command task: a user's own trainer (a real Python
script) run per run by `loralpha serve` (docs/sweeps.md "The command task",
docs/protocol.md "Your own trainer").

    test_command.py --loralpha PATH --worker PATH [--keep] [--only NAME]

Each case starts a daemon on 127.0.0.1 and submits command sweeps whose
trainer is tests/e2e/trainer.py (one behaviour per sweep, chosen by its
task.params.mode). Checked: the trainer's argv, environment, parameters on
stdin and in LORALPHA_PARAMS_FILE, its records on fd 3 stored as any
worker's; exit codes, signals, a missing done record and garbage on fd 3
fail the attempt (retried while attempts remain) with the trainer's log
tail in the error; a silent trainer is killed at the heartbeat and a slow
one at its time limit, with its child; cancel ends the whole process group
(a trainer and child that ignore SIGTERM are killed after the grace); a flood of log
output is kept bounded and a flood of records stops at max_run_rows; bad
specs get 422 naming the field. The example PyTorch trainer
(examples/trainers/gpt_lora.py) runs a small version of
examples/sweep-command-gpt.json on a tiny GPT-2 base pretrained here on
the GPL: every run done, its modules named in the layers table with the
worker's shapes, eval losses falling, alpha* per rank, the report; its
step-0 eval loss equals loralpha-worker task gpt's (to 1e-5) on the same
base and text (the same model and eval windows), and the script run by
hand with a run's values gives that run's curve exactly. Ends with
`N passed, M failed`.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import R, cases_main, Daemon, alive, cli, scaled, wait_until  # noqa: E402

TRAINER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainer.py")
SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PYTHON = "/usr/bin/python3"


def spec(ctx, name, mode, steps=20, ranks=(4,), alphas=(8.0,), **top):
    """A command sweep running trainer.py in mode, its cwd ctx.tmp; the
    trainer's notes go to ctx.tmp/NAME."""
    os.makedirs(os.path.join(ctx.tmp, name), exist_ok=True)
    s = {"name": name,
         "task": {"task": "command",
                  "command": {"argv": [PYTHON, TRAINER, "--rank", "{rank}", "--alpha",
                                       "{alpha}", "--lr={lr}", "--seed", "{seed}",
                                       "--steps", "{steps}", "--run", "{run_id}",
                                       "--mode", "{mode}", "--out",
                                       os.path.join(ctx.tmp, name)],
                              "cwd": ctx.tmp,
                              "env": {"TRAINER_TAG": "r{rank}-{mode}"},
                              "time_limit": 600},
                  "params": {"mode": mode, "width": 8}},
         "grid": {"rank": list(ranks), "alpha": list(alphas), "lr": [0.01]},
         "steps": steps, "max_attempts": 1}
    s.update(top)
    return s


def runs_of(d, sid):
    return cli(d.db, f"SELECT * FROM runs WHERE sweep_id = {sid} ORDER BY id")


def report(ctx, name, run_id):
    """What trainer.py wrote about itself (argv, env, params), or None."""
    try:
        with open(os.path.join(ctx.tmp, name, f"run{run_id}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pids_of(ctx, name, run_id):
    """The trainer's and its child's pids, once both are written."""
    try:
        with open(os.path.join(ctx.tmp, name, f"pids{run_id}")) as f:
            p = [int(x) for x in f.read().split()]
        return p if len(p) == 2 else None
    except (OSError, ValueError):
        return None


# ---- case 1: records, argv, environment, parameters ---------------------------


def case_records(ctx):
    d = Daemon(ctx, "records", workers=2)
    sid = d.submit(spec(ctx, "ok", "ok", steps=20, ranks=(2, 4), alphas=(0.5, 8.0)))
    d.wait_sweep(sid, scaled(60))
    rows = runs_of(d, sid)
    R.eq([r["state"] for r in rows], ["done"] * 4, "every run of the trainer ends done")
    for r in rows:
        rep = report(ctx, "ok", r["id"])
        want_argv = ["--rank", str(r["rank"]), "--alpha", "%g" % r["alpha"], "--lr=0.01",
                     "--seed", str(r["seed"]), "--steps", "20", "--run", str(r["id"]),
                     "--mode", "ok", "--out", os.path.join(ctx.tmp, "ok")]
        R.eq(rep and rep["argv"], want_argv, f"run {r['id']}: argv is the template filled")
        R.eq(rep and rep["env"], {"TRAINER_TAG": f"r{r['rank']}-ok",
                                  "LORALPHA_RECORD_FD": "3", "LORALPHA_RUN_ID": str(r["id"]),
                                  "LORALPHA_PARAMS_FILE": "/dev/fd/4"},
             f"run {r['id']}: the spec's env and the protocol's variables")
        want = {"run_id": r["id"], "rank": r["rank"], "alpha": r["alpha"], "lr": 0.01,
                "seed": r["seed"], "steps": 20, "batch": 64, "scaling": "peft",
                "params": {"mode": "ok", "width": 8}}
        got = rep and {k: v for k, v in rep["params"].items() if k != "threads"}
        R.eq(got, want, f"run {r['id']}: parameters on stdin (= the params file)")
        R.eq(rep and rep["cwd"], ctx.tmp, f"run {r['id']}: working directory")
        curve = cli(d.db, f"SELECT kind, COUNT(*) AS n FROM curve WHERE run_id = {r['id']} "
                          "GROUP BY kind ORDER BY kind")
        R.eq([(c["kind"], c["n"]) for c in curve], [("eval", 2), ("train", 20)],
             f"run {r['id']}: its records are stored (curve rows)")
        R.check(r["final_eval_loss"] is not None and abs(r["final_eval_loss"] - 1.0 / (1 + 20))
                < 1e-9, f"run {r['id']}: the done record's figures",
                1.0 / 21, r["final_eval_loss"])
        lg = d.get(f"/v1/runs/{r['id']}/log")
        text = (lg.json or {}).get("log", "") if lg.status == 200 else ""
        R.check("trainer starts: mode ok\n" in text and "a line on stderr\n" in text
                and lg.json.get("attempt") == 1,
                f"run {r['id']}: GET /v1/runs/{{id}}/log has its stdout and stderr",
                "200, both lines, attempt 1", (lg.status, lg.body[:300]))
        p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "log",
                            str(r["id"])], capture_output=True, text=True, timeout=scaled(60),
                           env=dict(os.environ, LORALPHA_TOKEN=d.token))
        R.check(p.returncode == 0 and p.stdout == text + ("" if text.endswith("\n") else "\n"),
                f"run {r['id']}: loralpha log prints the same log", text[:200],
                (p.returncode, p.stdout[:200], p.stderr[-200:]))
        spectra = cli(d.db, f"SELECT COUNT(*) AS n FROM spectra WHERE run_id = {r['id']}")
        R.eq(spectra[0]["n"], 0, f"run {r['id']}: no spectra sent, none stored")
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "show", str(sid)],
                       capture_output=True, text=True, timeout=scaled(60),
                       env=dict(os.environ, LORALPHA_TOKEN=d.token))
    R.check(p.returncode == 0 and "command, 20 steps, batch 64, peft scaling" in p.stdout
            and f"{PYTHON} {TRAINER} --rank {{rank}} --alpha {{alpha}}" in p.stdout
            and "optimizer" not in p.stdout,
            "loralpha show: the command and its templates, no optimizer",
            "'command, 20 steps ...', the argv", (p.returncode, p.stdout[-600:], p.stderr))
    a = d.get(f"/v1/sweeps/{sid}/analysis")
    m = (a.json or {}).get("measured") or {}
    R.check(a.status == 200 and m.get("done_runs") == 4 and m.get("spectra") == 0
            and [x.split(":")[0] for x in m.get("lacks", [])]
            == ["spectra", "signal_drift", "sharpness"],
            "the analysis of a sweep without spectra or sharpness answers, saying what it lacks",
            "200, measured: 4 done runs, lacks spectra, signal_drift, sharpness",
            (a.status, m or a.body[:300]))
    rp = d.get(f"/v1/sweeps/{sid}/report?format=markdown")
    R.check(rp.status == 200 and b"no done run sent spectra records" in rp.body,
            "the report says the sweep has no spectra", "200, 'no done run sent spectra'",
            (rp.status, rp.body[:200]))
    want = [b"| **task** | command: /usr/bin/python3 " + TRAINER.encode() + b" --rank {rank}",
            b"the trainer's own optimizer and schedule", b"| **not measured** | spectra: "]
    R.check(rp.status == 200 and all(w in rp.body for w in want) and b"adamw" not in rp.body,
            "the report's summary: the command, no optimizer of the worker's, what was not "
            "measured", want, [w in rp.body for w in want] + [b"adamw" in rp.body])
    r = d.req("DELETE", f"/v1/sweeps/{sid}")
    R.check(r.status == 200 and (r.json or {}).get("deleted", {}).get("run_logs") == 4,
            "deleting the sweep deletes its runs' logs", "200, run_logs: 4",
            (r.status, r.body[:300]))
    r = d.get("/v1/runs/999/log")
    R.check(r.status == 404 and b"no log" in r.body, "a run without a log: 404",
            "404 'no log'", (r.status, r.body[:200]))
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "log", "999"],
                       capture_output=True, text=True, timeout=scaled(60),
                       env=dict(os.environ, LORALPHA_TOKEN=d.token))
    R.check(p.returncode == 1 and "not_found" in p.stderr and "no log" in p.stderr,
            "loralpha log of a run without a log: exit 1, the daemon's words",
            "1, 'loralpha: not_found: ... no log ...'", (p.returncode, p.stderr[-200:]))
    R.eq(d.stop(), 0, "daemon exits 0")


# ---- case 2: failures --------------------------------------------------------


def case_failures(ctx):
    d = Daemon(ctx, "failures", workers=2)
    sids = {m: d.submit(spec(ctx, m, m, max_attempts=2 if m == "exit3" else 1))
            for m in ("exit3", "abort", "nodone", "garbage")}
    for m, sid in sids.items():
        d.wait_sweep(sid, scaled(60), states=("done", "failed", "cancelled"), what=m)
    want = {"exit3": ("worker exited with status 3", 2),
            "abort": ("worker killed by signal 6", 1),
            "nodone": ("worker exited without a done record", 1),
            "garbage": ("worker output rejected: stdout line 2", 1)}
    for m, (words, attempts) in want.items():
        r = runs_of(d, sids[m])[0]
        R.check(r["state"] == "failed" and words in (r["error"] or ""),
                f"{m}: the attempt fails saying why", f"failed, '{words}'",
                (r["state"], (r["error"] or "")[:400]))
        R.eq(r["attempts"], attempts, f"{m}: attempts (retried while attempts remain)")
    err = runs_of(d, sids["exit3"])[0]["error"] or ""
    R.check("trainer says: giving up" in err, "exit3: the trainer's log tail is in the error",
            "'trainer says: giving up'", err[-300:])
    R.eq(d.stop(), 0, "daemon exits 0")


# ---- case 3: a hung trainer, a slow one, a flood ------------------------------


def case_limits(ctx):
    d = Daemon(ctx, "limits", workers=2, extra=["--heartbeat", "3"],
               config={"max_run_rows": 100})
    hang = d.submit(spec(ctx, "hang", "hang"))
    slow = spec(ctx, "slow", "slow")
    slow["task"]["command"]["time_limit"] = 3
    slow = d.submit(slow)
    many = d.submit(spec(ctx, "many", "flood_records"))
    # the log flood writes no record for as long as writing 20 MB takes on
    # this machine: it runs under the default heartbeat, not this one's 3 s
    dl = Daemon(ctx, "limits-log", workers=1)
    flood = dl.submit(spec(ctx, "flood", "flood_log"))
    for sid in (hang, slow, many):
        d.wait_sweep(sid, scaled(60), states=("done", "failed"))
    dl.wait_sweep(flood, scaled(120), states=("done", "failed"))
    r = runs_of(d, hang)[0]
    R.check(r["state"] == "failed" and "heartbeat" in (r["error"] or ""),
            "a silent trainer is killed at the heartbeat", "failed, '...heartbeat...'",
            (r["state"], (r["error"] or "")[:300]))
    pids = pids_of(ctx, "hang", r["id"])
    R.check(pids is not None and wait_until(lambda: not any(alive(p) for p in pids), scaled(10)),
            "the hung trainer's child dies with it (its process group)", "both gone",
            pids and [(p, alive(p)) for p in pids])
    r = runs_of(d, slow)[0]
    R.check(r["state"] == "failed" and "time limit of 3 s" in (r["error"] or ""),
            "a trainer past its time limit is stopped", "failed, 'time limit of 3 s'",
            (r["state"], (r["error"] or "")[:300]))
    r = runs_of(dl, flood)[0]
    R.check(r["state"] == "failed" and len(r["error"] or "") < 10000 and "last line" in r["error"],
            "a 20 MB log flood: the run's log is kept bounded (its tail)",
            "failed, error < 10000 bytes ending with 'last line'",
            (r["state"], len(r["error"] or ""), (r["error"] or "")[-100:]))
    lg = dl.get(f"/v1/runs/{r['id']}/log").json or {}
    text = lg.get("log", "")
    R.check(lg.get("bytes", 0) > 20 * 2 ** 20 and len(text) < 66 * 1024
            and text.startswith("trainer starts") and text.endswith("last line\n")
            and "bytes of the log left out" in text,
            "the flood's log: its head and tail, what was left out said, under 66 KiB",
            "bytes > 20 MiB, kept < 66 KiB, head, '... left out ...', 'last line'",
            (lg.get("bytes"), len(text), text[:40], text[-40:]))
    r = runs_of(d, many)[0]
    R.check(r["state"] == "failed" and "more than 100 records" in (r["error"] or ""),
            "a flood of records stops at max_run_rows", "failed, 'more than 100 records'",
            (r["state"], (r["error"] or "")[:300]))
    R.eq(d.stop(), 0, "daemon exits 0")
    R.eq(dl.stop(), 0, "the log flood's daemon exits 0")


# ---- case 4: cancel ends the process group -----------------------------------


def case_cancel(ctx):
    d = Daemon(ctx, "cancel", workers=1)
    sid = d.submit(spec(ctx, "child", "child"))
    run = wait_until(lambda: next((r for r in runs_of(d, sid) if r["state"] == "running"),
                                  None), scaled(30))
    pids = run and wait_until(lambda: pids_of(ctx, "child", run["id"]), scaled(30))
    R.check(bool(pids) and all(alive(p) for p in pids),
            "the trainer and its child (both ignore SIGTERM) run", "two live pids", pids)
    if not pids:
        return
    t0 = time.monotonic()
    r = d.req("POST", f"/v1/sweeps/{sid}/cancel")
    R.eq(r.status, 200, "cancel answers 200")
    gone = wait_until(lambda: not any(alive(p) for p in pids), scaled(20))
    dt = time.monotonic() - t0
    R.check(gone and dt >= 4, "cancel: SIGTERM to the group, SIGKILL after the 5 s grace "
            "(both ignore SIGTERM)", "both gone, after >= 4 s",
            ([(p, alive(p)) for p in pids], f"{dt:.1f} s"))
    d.wait_sweep(sid, scaled(30), states=("cancelled",))
    R.eq(runs_of(d, sid)[0]["state"], "cancelled", "the run ends cancelled")
    R.eq(d.stop(), 0, "daemon exits 0")


# ---- case 5: bad specs -------------------------------------------------------


def case_bad_specs(ctx):
    d = Daemon(ctx, "bad", workers=1)
    cases = [
        ({"argv": ["python3", TRAINER]}, "task.command.argv[0]", "absolute path"),
        ({"argv": []}, "task.command.argv", "non-empty"),
        ({"argv": [PYTHON, TRAINER, "{rnak}"]}, "task.command.argv[2]",
         "unknown placeholder {rnak}"),
        ({"argv": [PYTHON], "time_limit": 0}, "task.command.time_limit", "seconds"),
        ({"argv": [PYTHON], "time_limit": "1h"}, "task.command.time_limit", "seconds"),
        ({"argv": [PYTHON], "memory_limit": "lots"}, "task.command.memory_limit", "size"),
        ({"argv": [PYTHON], "cwd": "runs"}, "task.command.cwd", "absolute path"),
        ({"argv": [PYTHON], "env": {"LORALPHA_RECORD_FD": "1"}},
         "task.command.env.LORALPHA_RECORD_FD", "daemon"),
        ({"argv": [PYTHON], "shell": "bash"}, "task.command.shell", "not a command field"),
    ]
    for cmd, field, words in cases:
        s = spec(ctx, "bad", "ok")
        s["task"]["command"] = cmd
        r = d.req("POST", "/v1/sweeps", s)
        msg = (r.json or {}).get("error", {}).get("message", "") if r.json else ""
        R.check(r.status == 422 and msg.startswith(field + ":") and words in msg,
                f"bad command {json.dumps(cmd)[:80]}: 422 naming {field}",
                f"422 '{field}: ...{words}...'", (r.status, msg or r.body[:300]))
    s = spec(ctx, "bad", "ok", optimizer="sgd")
    r = d.req("POST", "/v1/sweeps", s)
    R.check(r.status == 422 and b"optimizer: does not apply" in r.body,
            "optimizer in a command sweep: 422 naming it", 422, (r.status, r.body[:300]))
    s = spec(ctx, "bad", "ok")
    s["task"]["command"]["argv"][0] = "/nonexistent/python3"
    r = d.req("POST", "/v1/sweeps", s)
    R.check(r.status == 422 and b"task.command.argv[0]: /nonexistent/python3" in r.body
            and b"check_failed" in r.body,
            "a program that does not exist: 422 check_failed at submit, naming argv[0]",
            "422 check_failed 'task.command.argv[0]: ...'", (r.status, r.body[:300]))
    s = spec(ctx, "bad", "ok")
    s["task"]["command"]["cwd"] = "/nonexistent"
    r = d.req("POST", "/v1/sweeps", s)
    R.check(r.status == 422 and b"task.command.cwd: /nonexistent" in r.body,
            "a working directory that does not exist: 422 at submit, naming cwd",
            "422 'task.command.cwd: ...'", (r.status, r.body[:300]))
    n = cli(d.db, "SELECT COUNT(*) AS n FROM sweeps")[0]["n"]
    R.eq(n, 0, "nothing of a refused spec is stored")
    R.eq(d.stop(), 0, "daemon exits 0")


# ---- case 6: the example, with the Python reporter ---------------------------


def case_example(ctx):
    """examples/sweep-command.json (its paths pointed at this tree) runs
    examples/trainers/toy_lora.py, which reports through
    python/loralpha_reporter.py: every record passes the daemon's parser,
    spectra are stored, and the analysis and the report answer."""
    with open(os.path.join(SOURCE, "examples", "sweep-command.json")) as f:
        s = json.loads(f.read().replace("/usr/local/share/loralpha", SOURCE))
    s["task"]["command"]["cwd"] = ctx.tmp
    d = Daemon(ctx, "example", workers=2)
    sid = d.submit(s)
    d.wait_sweep(sid, scaled(120))
    rows = runs_of(d, sid)
    R.eq(sorted({r["state"] for r in rows}), ["done"], "every run of the example ends done")
    n = cli(d.db, "SELECT COUNT(*) AS n FROM spectra WHERE run_id IN "
                  f"(SELECT id FROM runs WHERE sweep_id = {sid})")[0]["n"]
    R.eq(n, len(rows) * 6, "the reporter's spectra are stored (6 per run)")
    drift = cli(d.db, "SELECT COUNT(*) AS n FROM drift WHERE mech_ratio IS NOT NULL AND run_id IN "
                      f"(SELECT id FROM runs WHERE sweep_id = {sid})")[0]["n"]
    R.eq(drift, len(rows) * 6, "its signal/drift figures are stored")
    a = d.get(f"/v1/sweeps/{sid}/analysis")
    cps = (a.json or {}).get("checkpoints") or [{}] if a.status == 200 else [{}]
    stars = cps[-1].get("alpha_star")
    R.check(a.status == 200 and stars, "the analysis answers with alpha*(r)", "200, alpha_star",
            (a.status, a.body[:300]))
    m = (a.json or {}).get("measured") or {}
    R.eq((m.get("spectra"), m.get("signal_drift"), m.get("target"),
          [x.split(":")[0] for x in m.get("lacks", [])]),
         (len(rows), len(rows), 0, ["sharpness"]), "measured: spectra sent, sharpness lacking")
    r = d.get(f"/v1/sweeps/{sid}/report")
    R.check(r.status == 200 and len(r.body) > 1000, "the report answers", 200,
            (r.status, r.body[:200]))
    R.eq(d.stop(), 0, "daemon exits 0")


# ---- case 9: the PyTorch example on a small GPT-2 ---------------------------


def tiny_gpt_base(ctx):
    """A GPT-2 of width 32 and 2 blocks (examples/gpt/make_base.py),
    pretrained by loralpha-worker --pretrain for 60 steps on the GPL, as
    base.safetensors in ctx.tmp."""
    subprocess.run([PYTHON, os.path.join(SOURCE, "examples", "gpt", "make_base.py"),
                    ctx.path("init.safetensors"), "--width", "32", "--blocks", "2",
                    "--positions", "64", "--seed", "3"], check=True,
                   stdout=subprocess.DEVNULL, timeout=scaled(60))
    cfg = {"task": "gpt", "gpt": {"base": ctx.path("init.safetensors"),
                                  "text": "/usr/share/common-licenses/GPL-3"},
           "pretrain": True, "n_head": 2, "context": 16, "lr": 0.01, "steps": 60,
           "batch": 8, "eval_every": 60, "n_eval": 8, "log_every": 60}
    with open(ctx.path("pretrain.json"), "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([ctx.worker, "--pretrain", ctx.path("base.safetensors"), "--config",
                        ctx.path("pretrain.json")], capture_output=True, text=True,
                       timeout=scaled(120))
    return R.check(p.returncode == 0 and os.path.exists(ctx.path("base.safetensors")),
                   "a tiny GPT-2 base pretrained on the GPL", "exit 0, the base written",
                   (p.returncode, p.stderr[-400:]))


def worker_step0(ctx, params):
    """loralpha-worker task gpt on the base and text of params: its start
    record's layers and its step-0 eval loss."""
    cfg = {"task": "gpt", "gpt": {"base": ctx.path("base.safetensors"), "text": params["text"]},
           "n_head": params["n_head"], "context": params["context"], "n_eval": params["n_eval"],
           "target_modules": params["target_modules"].split(","),
           "rank": 4, "alpha": 8, "lr": 0.003, "steps": 1, "batch": 4, "seed": 1}
    with open(ctx.path("worker-gpt.json"), "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([ctx.worker, "--config", ctx.path("worker-gpt.json")],
                       capture_output=True, text=True, timeout=scaled(120))
    recs = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    start = next((r for r in recs if r["type"] == "start"), {})
    ev0 = next((r["loss"] for r in recs if r["type"] == "eval" and r["step"] == 0), None)
    return start.get("layers", []), ev0


def case_gpt_example(ctx):
    """examples/sweep-command-gpt.json, small (2 ranks x 2 alphas, 20 steps,
    context 16), its paths pointed at this tree and its base relative to
    cwd: examples/trainers/gpt_lora.py fine-tunes the tiny base on the MPL."""
    if not tiny_gpt_base(ctx):
        return
    with open(os.path.join(SOURCE, "examples", "sweep-command-gpt.json")) as f:
        s = json.loads(f.read().replace("/usr/local/share/loralpha", SOURCE))
    s["task"]["command"]["cwd"] = ctx.tmp
    s["task"]["command"]["memory_limit"] = "512M"  # under max_run_memory on 2 GiB of RAM
    s["task"]["params"].update({"base": "base.safetensors", "context": 16, "n_head": 2,
                                "n_eval": 8, "eval_every": 10, "spectra_every": 10})
    s["grid"] = {"rank": [1, 4], "alpha": [2.0, 16.0], "lr": [0.01]}
    s["steps"], s["batch"] = 20, 4
    params = s["task"]["params"]
    d = Daemon(ctx, "gpt-example", workers=2)
    sid = d.submit(s)
    d.wait_sweep(sid, scaled(120), states=("done", "failed"))
    rows = runs_of(d, sid)
    R.eq([(r["state"], r["error"]) for r in rows], [("done", None)] * 4,
         "every run of the PyTorch example ends done")
    modules = [f"h.{b}.{m}" for b in range(2)
               for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]
    layers = cli(d.db, "SELECT run_id, group_concat(module, ',') AS mods FROM "
                       "(SELECT * FROM layers ORDER BY run_id, layer) WHERE run_id IN "
                       f"(SELECT id FROM runs WHERE sweep_id = {sid}) GROUP BY run_id")
    R.eq([x["mods"] for x in layers], [",".join(modules)] * 4,
         "the layers table names the adapted modules (layers.module), in order")
    w_layers, w_ev0 = worker_step0(ctx, params)
    mine = cli(d.db, "SELECT module, d_in, d_out, sigma_max_w0 FROM layers WHERE run_id = "
                     f"{rows[0]['id']} ORDER BY layer")
    same = len(mine) == len(w_layers) and all(
        (a["module"], a["d_in"], a["d_out"]) == (b["module"], b["d_in"], b["d_out"])
        and abs(a["sigma_max_w0"] - b["sigma_max_w0"]) <= 1e-4 * b["sigma_max_w0"]
        for a, b in zip(mine, w_layers))
    R.check(same, "the script's modules, widths and sigma_max(W0) are the worker's",
            [(x["module"], x["d_in"], x["d_out"]) for x in w_layers],
            [(x["module"], x["d_in"], x["d_out"]) for x in mine])
    for r in rows:
        ev = cli(d.db, f"SELECT step, loss FROM curve WHERE run_id = {r['id']} "
                       "AND kind = 'eval' ORDER BY step")
        steps = [e["step"] for e in ev]
        R.check(steps == [0, 10, 20] and ev[-1]["loss"] < ev[0]["loss"],
                f"run {r['id']} (rank {r['rank']}, alpha {r['alpha']:g}): eval losses "
                "stored at 0, 10, 20, the last below step 0's", "steps [0, 10, 20], falling",
                [(e["step"], round(e["loss"], 5)) for e in ev])
        rel = abs(ev[0]["loss"] - w_ev0) / w_ev0 if ev and w_ev0 else None
        R.check(rel is not None and rel <= 1e-5,
                f"run {r['id']}: the script's step-0 eval loss (B = 0: the base's) equals "
                "loralpha-worker task gpt's on the same base and text (1e-5 relative)",
                w_ev0, (ev and ev[0]["loss"], rel))
    n = cli(d.db, "SELECT COUNT(*) AS n FROM drift WHERE mech_ratio IS NOT NULL AND run_id IN "
                  f"(SELECT id FROM runs WHERE sweep_id = {sid})")[0]["n"]
    R.eq(n, 4 * 2 * len(modules), "signal/drift of every module at steps 10 and 20")
    lg = d.get(f"/v1/runs/{rows[0]['id']}/log")
    R.check(lg.status == 200 and "step 20/20: train loss" in (lg.json or {}).get("log", ""),
            "the run's log has the script's progress lines (stderr)", "'step 20/20: ...'",
            (lg.status, lg.body[:300]))
    a = d.get(f"/v1/sweeps/{sid}/analysis")
    cps = ((a.json or {}).get("checkpoints") or [{}]) if a.status == 200 else [{}]
    ranks = sorted({x.get("rank") for x in cps[-1].get("alpha_star") or []})
    R.check(ranks == [1, 4], "the analysis gives alpha* for both ranks", [1, 4],
            (a.status, ranks, a.body[:300]))
    rp = d.get(f"/v1/sweeps/{sid}/report?format=md")
    want = [b"# loralpha report: own-trainer-gpt", b"gpt\_lora.py", b"## The answer"]
    R.check(rp.status == 200 and all(w in rp.body for w in want),
            "the report renders (Markdown)", want, (rp.status, rp.body[:300]))
    # the same run by hand, its values as flags: the stored curve, exactly
    r = rows[-1]
    argv = [PYTHON, os.path.join(SOURCE, "examples", "trainers", "gpt_lora.py"),
            "--rank", str(r["rank"]), "--alpha", repr(r["alpha"]), "--lr", "0.01",
            "--seed", str(r["seed"]), "--steps", "20", "--batch", "4"]
    for k, v in params.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    p = subprocess.run(argv, cwd=ctx.tmp, capture_output=True, text=True,
                       timeout=scaled(120))
    by_hand = [(x["step"], x["loss"]) for x in map(json.loads, p.stdout.splitlines())
               if x["type"] == "eval"] if p.returncode == 0 else p.stderr[-300:]
    stored = [(e["step"], e["loss"]) for e in
              cli(d.db, f"SELECT step, loss FROM curve WHERE run_id = {r['id']} "
                        "AND kind = 'eval' ORDER BY step")]
    R.eq(by_hand, stored, "gpt_lora.py by hand with a run's values as flags gives that "
         "run's eval curve exactly (deterministic; flags = the daemon's parameters)")
    p = subprocess.run(argv[:2] + ["--rank", "4", "--alpha", "8", "--lr", "0.01",
                                   "--steps", "2", "--base", "missing.safetensors"],
                       cwd=ctx.tmp, capture_output=True, text=True, timeout=scaled(120))
    err = [json.loads(x) for x in p.stdout.splitlines()]
    R.check(p.returncode == 2 and err and err[-1]["type"] == "error"
            and "missing.safetensors" in err[-1]["error"],
            "a missing base: an error record naming it, exit 2",
            "exit 2, error '...missing.safetensors...'", (p.returncode, p.stdout[-300:]))
    R.eq(d.stop(), 0, "daemon exits 0")


# ---- case 7: a killed daemon's trainer leaves a child; the next one ends it ----


def case_orphans(ctx):
    """A daemon killed with SIGKILL takes its trainer along (the parent-death
    signal), but not the trainer's child, left in the trainer's process
    group; the next daemon on the same database ends that group at start."""
    db = ctx.path("orphans.db")
    d = Daemon(ctx, "orphans", db=db, workers=1)
    sid = d.submit(spec(ctx, "orphan", "orphan"))
    run = wait_until(lambda: next((r for r in runs_of(d, sid) if r["state"] == "running"),
                                  None), scaled(30))
    pids = run and wait_until(lambda: pids_of(ctx, "orphan", run["id"]), scaled(30))
    if not R.check(bool(pids), "the trainer and its child run", "two pids", pids):
        return
    trainer, child = pids
    d.proc.kill()
    d.proc.wait()
    gone = wait_until(lambda: not alive(trainer), scaled(10))
    R.check(gone and alive(child), "the daemon killed: its trainer dies with it, the "
            "trainer's child is left", "trainer gone, child alive",
            (alive(trainer), alive(child)))
    d2 = Daemon(ctx, "orphans2", db=db, workers=1)
    R.check(wait_until(lambda: not alive(child), scaled(15)),
            "the next daemon ends the left trainer's process group at start",
            "child gone", alive(child))
    R.check("previous daemon left" in d2.log_tail(4000),
            "and says so in its log", "'... a previous daemon left ...'", d2.log_tail(600))
    d2.req("POST", f"/v1/sweeps/{sid}/cancel")
    R.eq(d2.stop(), 0, "daemon exits 0")


# ---- case 8: export-slurm and import run command tasks too -------------------


def case_export(ctx):
    """`loralpha export-slurm` writes array scripts whose worker runs the
    command task's trainer with its records in out/N.jsonl; run here as
    Slurm would (SLURM_ARRAY_TASK_ID) and imported, they are runs."""
    with open(os.path.join(SOURCE, "examples", "sweep-command.json")) as f:
        s = json.loads(f.read().replace("/usr/local/share/loralpha", SOURCE))
    s["task"]["command"]["cwd"] = ctx.tmp
    s["grid"]["rank"], s["grid"]["alpha"] = [2], [1.0, 4.0]
    spec_path, out = ctx.path("export.json"), ctx.path("export")
    with open(spec_path, "w") as f:
        json.dump(s, f)
    p = subprocess.run([ctx.loralpha, "export-slurm", spec_path, "--dir", out],
                       capture_output=True, text=True, timeout=scaled(60))
    if not R.check(p.returncode == 0, "export-slurm writes a command sweep's scripts", 0,
                   (p.returncode, p.stderr[-400:])):
        return
    for task in (0, 1):
        q = subprocess.run(["/bin/bash", os.path.join(out, "array-0.sbatch")],
                           capture_output=True, text=True, timeout=scaled(60),
                           env=dict(os.environ, SLURM_ARRAY_TASK_ID=str(task)))
        R.eq(q.returncode, 0, f"array task {task} runs the trainer ({q.stderr[-300:]})")
    db = ctx.path("imported.db")
    p = subprocess.run([ctx.loralpha, "import", out, "--db", db], capture_output=True,
                       text=True, timeout=scaled(60))
    rows = cli(db, "SELECT state, (SELECT COUNT(*) FROM spectra WHERE run_id = runs.id) AS n "
                   "FROM runs ORDER BY id") if p.returncode == 0 else []
    R.eq([(r["state"], r["n"]) for r in rows], [("done", 6), ("done", 6)],
         "imported: both runs done, with the reporter's spectra")


CASES = [
    ("1 records", case_records),
    ("2 failures", case_failures),
    ("3 limits", case_limits),
    ("4 cancel", case_cancel),
    ("5 bad specs", case_bad_specs),
    ("6 example", case_example),
    ("7 orphans", case_orphans),
    ("8 export-slurm", case_export),
    ("9 gpt example", case_gpt_example),
]


def main():
    return cases_main(__doc__, CASES)

if __name__ == "__main__":
    sys.exit(main())
