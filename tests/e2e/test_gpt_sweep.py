#!/usr/bin/python3
"""Task gpt as a sweep: `loralpha submit` of a spec with task gpt to a real
daemon (docs/sweeps.md "Task gpt"), over real HTTP and a real SQLite file.

    test_gpt_sweep.py --loralpha PATH --worker PATH [--keep] [--only NAME]

A small GPT-2-shaped base (examples/gpt/make_base.py: 3 blocks, width 32)
is fine-tuned on a license text. Checked: the CLI makes the spec's relative
gpt paths absolute; the check at submit reads the files with the worker
(a missing base is refused with 422 naming task.gpt.base); every run ends
done with its 12 adapted modules (more than the 8 layers the protocol
allowed before) named in the layers table, GET /v1/runs/{id} and the
spectra; each stored run equals the same config trained alone by
`loralpha-worker` (every eval loss equal); the analysis gives alpha* per
rank; the gpt defaults (sharpness off, sharpness_batch = batch) hold.
Ends with `N passed, M failed`.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import R, cases_main, Daemon, cli, cli_val  # noqa: E402

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MAKE_BASE = os.path.join(SOURCE, "examples", "gpt", "make_base.py")
TEXT = "/usr/share/common-licenses/GPL-3"
PYTHON = "/usr/bin/python3"
MODULES = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]


def make_base(ctx, name="base.safetensors"):
    path = ctx.path(name)
    subprocess.run([PYTHON, MAKE_BASE, path, "--width", "32", "--blocks", "3",
                    "--positions", "64", "--seed", "3"], check=True,
                   stdout=subprocess.DEVNULL)
    return path


def gpt_spec(name, base, ranks=(1, 4), alphas=(2.0, 16.0), steps=12):
    return {"name": name,
            "task": {"task": "gpt", "gpt": {"base": base, "text": TEXT},
                     "n_head": 2, "context": 16, "n_eval": 8,
                     "target_modules": ["c_attn", "c_proj", "c_fc"]},
            "grid": {"rank": list(ranks), "alpha": list(alphas), "lr": [0.003]},
            "seeds": 2, "steps": steps, "batch": 4,
            "metrics": {"eval_every": 4, "spectra_every": 6}}


def submit_cli(ctx, d, spec_obj, fname):
    """`loralpha submit FILE` from ctx.tmp: (exit code, stdout, stderr)."""
    path = ctx.path(fname)
    with open(path, "w") as f:
        json.dump(spec_obj, f)
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "--json",
                        "submit", fname], cwd=ctx.tmp, capture_output=True, text=True,
                       env=dict(os.environ, LORALPHA_TOKEN=d.token), timeout=120)
    return p.returncode, p.stdout, p.stderr


def case_sweep(ctx):
    make_base(ctx)
    d = Daemon(ctx, "gpt", workers=2)
    # relative paths: the CLI makes them absolute against its cwd
    rc, out, err = submit_cli(ctx, d, gpt_spec("gpt-sweep", "base.safetensors"),
                              "gpt.json")
    R.check(rc == 0, "loralpha submit of a task gpt spec with a relative gpt.base", 0,
            (rc, err))
    sid = json.loads(out).get("id") if rc == 0 else None
    if sid is None:
        return
    stored = json.loads(cli_val(d.db, f"SELECT spec FROM sweeps WHERE id = {sid}"))
    R.eq(stored["task"]["gpt"]["base"], ctx.path("base.safetensors"),
         "the stored spec names the base by its absolute path")
    R.eq(stored["metrics"].get("sharpness"), False, "task gpt: sharpness off by default")
    R.check("sharpness_batch" not in stored["metrics"],
            "task gpt: sharpness_batch is not filled in (it follows batch)",
            "absent", stored["metrics"].get("sharpness_batch"))
    d.wait_sweep(sid, 600, what="gpt sweep")
    runs = cli(d.db, f"SELECT id, state, rank, alpha, config, final_eval_loss FROM runs "
                     f"WHERE sweep_id = {sid} ORDER BY id")
    R.eq([x["state"] for x in runs], ["done"] * 8, "all 8 runs of the gpt sweep end done")

    want = [f"h.{b}.{m}" for b in range(3) for m in MODULES]
    per_run = cli(d.db, f"SELECT run_id, group_concat(module, ',') AS mods, COUNT(*) AS n "
                        f"FROM (SELECT * FROM layers ORDER BY run_id, layer) "
                        f"WHERE run_id IN (SELECT id FROM runs WHERE sweep_id = {sid}) "
                        f"GROUP BY run_id")
    R.eq([(x["n"], x["mods"]) for x in per_run], [(12, ",".join(want))] * 8,
         "every run stores its 12 adapted modules by name, in order (layers.module)")
    top = cli_val(d.db, f"SELECT MAX(layer) FROM spectra WHERE run_id = {runs[0]['id']}")
    R.eq(top, 11, "spectra rows for layers past 8 (the old protocol's limit)")
    j = d.get(f"/v1/runs/{runs[0]['id']}").json or {}
    R.eq([x.get("module") for x in j.get("layers", [])], want,
         "GET /v1/runs/{id}: layers carry their module names")

    # a stored run equals the same config trained alone
    for x in (runs[0], runs[-1]):
        cfg = json.loads(x["config"])
        path = ctx.path(f"alone-{x['id']}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([ctx.worker, "--config", path], capture_output=True, text=True,
                           timeout=300)
        alone = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        ev_alone = [(r["step"], r["loss"]) for r in alone if r.get("type") == "eval"]
        ev_daemon = [(r["step"], r["loss"]) for r in
                     cli(d.db, f"SELECT step, loss FROM curve WHERE run_id = {x['id']} "
                               f"AND kind = 'eval' ORDER BY step")]
        R.check(p.returncode == 0 and ev_alone == ev_daemon and len(ev_alone) == 4,
                f"run {x['id']} (rank {x['rank']}, alpha {x['alpha']}): the daemon's eval "
                "losses equal loralpha-worker's alone", ev_alone, ev_daemon)

    a = d.get(f"/v1/sweeps/{sid}/analysis").json or {}
    full = (a.get("checkpoints") or [{}])[-1]
    ranks = sorted({p.get("rank") for p in full.get("alpha_star", [])})
    R.check(ranks == [1, 4], "the analysis gives alpha* for both ranks of the gpt sweep",
            [1, 4], json.dumps(a)[:600])
    R.eq(d.stop(), 0, "daemon exits 0")


def text(r):
    return r.body.decode(errors="replace") if r.body else ""


def case_refused(ctx):
    base = make_base(ctx, "base2.safetensors")
    d = Daemon(ctx, "gpt-bad", workers=1)
    r = d.req("POST", "/v1/sweeps", gpt_spec("missing", ctx.path("nope.safetensors")))
    R.check(r.status == 422 and "task.gpt.base" in text(r) and "nope.safetensors" in text(r),
            "a missing base is refused at submit (the worker's check), naming task.gpt.base",
            "422 task.gpt.base ... nope.safetensors", (r.status, text(r)[:400]))
    bad = gpt_spec("heads", base)
    bad["task"]["n_head"] = 5
    r = d.req("POST", "/v1/sweeps", bad)
    R.check(r.status == 422 and "n_head" in text(r),
            "n_head that does not divide the base's width is refused at submit",
            "422 n_head", (r.status, text(r)[:400]))
    bad = gpt_spec("rank", base, ranks=(1, 64))
    r = d.req("POST", "/v1/sweeps", bad)
    R.check(r.status == 422 and "rank: 64 exceeds the width 32" in text(r)
            and "rank 64" in text(r),
            "a rank above the modules' widths is refused at submit (the worker's check "
            "of that rank's first run)", "422 rank: 64 exceeds the width 32",
            (r.status, text(r)[:400]))
    rel = gpt_spec("relative", "base2.safetensors")
    r = d.req("POST", "/v1/sweeps", rel)
    R.check(r.status == 422 and "task.gpt.base" in text(r) and "absolute" in text(r),
            "over the API a relative gpt.base is refused (never read against the "
            "daemon's directory)", "422 task.gpt.base absolute", (r.status, text(r)[:400]))
    R.eq(cli_val(d.db, "SELECT COUNT(*) FROM sweeps"), 0, "nothing refused was stored")
    R.eq(d.stop(), 0, "daemon exits 0")


CASES = [("1 a gpt sweep end to end", case_sweep),
         ("2 gpt specs refused at submit", case_refused)]

if __name__ == "__main__":
    sys.exit(cases_main(__doc__, CASES))
