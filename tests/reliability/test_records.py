#!/usr/bin/python3
"""test_records.py: one bad record never stalls or poisons the daemon (issue
11), over real HTTP against a real daemon and its SQLite file.

    test_records.py --loralpha PATH [--keep]

  1. Ingest: a batch whose start record has a layers entry without its
     "layer" is refused (422 naming the line and the field), nothing of it is
     stored, and its run fails; then records of another user's run are
     stored, finish that run, and a new sweep is accepted and runs. (Before,
     the batch was taken with 200 and every later write failed until a
     restart.) A batch with a negative loss on its second line is refused
     whole (the valid first line is not stored either); one with a
     duplicate key is 400.
  2. A local worker (tests/reliability/fake_worker.py as serve's --worker) that writes a
     train record with a negative loss fails its own run, with the parser's
     words ("stdout line 2: train: loss: -1 is negative"); the other run of
     the sweep finishes done.
  3. Losses stored by hand with the sqlite3 CLI into a finished sweep (a
     negative final eval loss, the text 'NaN', an infinite one, a negative
     checkpoint eval loss): analysis, recommend and the report still answer
     200 and name the runs left out. (Before, all three answered 500.)
  4. `loralpha import` of a directory whose second run's output has a
     malformed layers entry: that run is stored failed with the file, line
     and field; the others are imported. (Before, the import stopped with a
     database error.)
"""
import argparse
import hashlib
import http.client
import json
import os
import subprocess
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Ctx, Daemon, R, auth, cli, log, wait_until

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_worker.py")


def request(port, method, path, body=None, headers=None, raw=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=body, headers=hdrs if "Authorization" in hdrs
                 else auth(port, hdrs))
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if raw:
        return r.status, data.decode("utf-8", "replace")
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data.decode("utf-8", "replace")


def daemon(ctx, db, tag):
    """A daemon whose local workers are fake_worker.py, with the Slurm
    executor on for the ingest route (no cluster: SLURM_CONF unset)."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    return Daemon(ctx, tag, db, 2, worker=FAKE, env=env,
                  extra=["--executor", "local,slurm", "--slurm-dir", os.path.join(ctx.tmp, "jobs"),
                         "--worker-mode", "process", "--pack-max", "1"])  # it trains one run


def ingest(port, run, token, lines):
    body = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    return request(port, "POST", f"/v1/ingest/{run}", body.encode(),
                   {"Authorization": f"Bearer {token}",
                    "Content-Type": "application/x-ndjson"})


def slurm_runs(db, owners):
    """One sweep per owner with one run each, marked as handed to Slurm with
    a known token (as a daemon does before sbatch). {owner: (run, token)}"""
    out = {}
    spec = json.dumps({"name": "ingest", "executor": "slurm", "steps": 10,
                       "task": {"task": "teacher", "d_in": 8, "d_out": 8},
                       "grid": {"rank": [1], "alpha": [1], "lr": [0.01]}})
    for i, owner in enumerate(owners):
        cli(db, f"INSERT INTO sweeps (name, spec, n_runs, seed, created_at, owner, "
                f"max_attempts) VALUES ('ingest-{owner}', '{spec}', 1, 1, 0, '{owner}', 1)")
        sid = cli(db, "SELECT max(id) AS id FROM sweeps")[0]["id"]
        cli(db, "INSERT INTO runs (sweep_id, idx, rank, alpha, lr, seed_index, seed, config, "
                f"state, attempts, created_at) VALUES ({sid}, 0, 1, 1, 0.01, 0, 1, '{{}}', "
                "'running', 1, 0)")
        run = cli(db, "SELECT max(id) AS id FROM runs")[0]["id"]
        token = f"{run:064x}"
        # the daemon keeps only the token's SHA-256 (docs/security.md)
        digest = hashlib.sha256(token.encode()).hexdigest()
        cli(db, "INSERT INTO slurm_jobs (run_id, sweep_id, attempt, array_id, task, "
                f"token_sha256, state, script, submitted_at) VALUES ({run}, {sid}, 1, "
                f"{100 + i}, 0, '{digest}', 'submitted', '-', 0)")
        out[owner] = (run, token)
    return out


def count(db, table, run):
    return cli(db, f"SELECT COUNT(*) AS n FROM {table} WHERE run_id = {run}")[0]["n"]


def run_row(db, run):
    return cli(db, f"SELECT state, error FROM runs WHERE id = {run}")[0]


def case_ingest(ctx, db):
    R.case = "ingest"
    d = daemon(ctx, db, "create")  # the schema
    d.stop()
    runs = slurm_runs(db, ["alice", "bob", "carol", "dave"])
    d = daemon(ctx, db, "ingest")
    try:
        (ra, ta), (rb, tb), (rc, tc) = runs["alice"], runs["bob"], runs["carol"]
        st, body = ingest(d.port, ra, ta, [
            {"type": "start", "layers": [{"d_in": 8, "d_out": 4}]},
            {"type": "train", "step": 1, "loss": 0.5, "lr": 0.01}])
        R.eq(st, 422, "a start record whose layers entry lacks 'layer': 422")
        msg = body.get("error", {}).get("message", "") if isinstance(body, dict) else body
        R.check("line 1" in msg and "layers[0].layer" in msg,
                "the refusal names the line and the field", "line 1 ... layers[0].layer", body)
        ok = wait_until(lambda: run_row(db, ra)["state"] == "failed", 30)
        R.check(ok, "the refused batch's run failed", "failed", run_row(db, ra))
        R.check("layers[0].layer" in (run_row(db, ra)["error"] or ""),
                "its error names the field", "layers[0].layer", run_row(db, ra))
        # another user's run: its rows are written and it finishes
        good = [{"type": "start", "layers": [{"layer": 0, "d_in": 8, "d_out": 8}]},
                {"type": "train", "step": 1, "loss": 0.5, "lr": 0.01},
                {"type": "eval", "step": 1, "loss": 0.6}]
        st, body = ingest(d.port, rb, tb, good)
        R.eq(st, 200, "then another user's valid batch: 200")
        ok = wait_until(lambda: count(db, "curve", rb) == 2 and count(db, "layers", rb) == 1, 30)
        R.check(ok, "its rows reach the database (later writes work)", "2 curve + 1 layers rows",
                (count(db, "curve", rb), count(db, "layers", rb), d.log_tail()))
        st, body = ingest(d.port, rb, tb, [{"type": "done", "status": "done", "steps": 1,
                                            "final_eval_loss": 0.6}])
        R.check(st == 200 and body.get("finished") is True, "its done record ends it", 200,
                (st, body))
        ok = wait_until(lambda: run_row(db, rb)["state"] == "done", 30)
        R.check(ok, "that run is done", "done", run_row(db, rb))
        # a batch is taken whole or not at all
        st, body = ingest(d.port, rc, tc, [
            {"type": "eval", "step": 0, "loss": 1.0},
            {"type": "train", "step": 1, "loss": -1, "lr": 0.01}])
        R.check(st == 422 and "line 2" in json.dumps(body) and "loss" in json.dumps(body),
                "a negative loss on line 2: 422 naming line 2 and loss", 422, (st, body))
        R.eq(count(db, "curve", rc), 0, "nothing of that batch is stored")
        rd, td = runs["dave"]
        st, body = ingest(d.port, rd, td, ['{"type":"eval","step":0,"loss":1,"loss":2}'])
        R.check(st == 400 and "line 1" in json.dumps(body), "a duplicate key: 400 naming line 1",
                400, (st, body))
        # a new sweep of the local user is stored and runs
        spec = {"name": "after", "task": {"task": "teacher", "d_in": 8, "d_out": 8},
                "grid": {"rank": [2], "alpha": [1, 2], "lr": [0.01]}, "steps": 20,
                "max_attempts": 1}
        st, body = request(d.port, "POST", "/v1/sweeps", spec)
        R.eq(st, 201, "a new sweep is accepted")
        if st == 201:
            sid = body["id"]
            ok = wait_until(lambda: request(d.port, "GET", f"/v1/sweeps/{sid}")[1]
                            .get("state") == "done", 60)
            R.check(ok, "and its runs finish", "done", request(d.port, "GET", f"/v1/sweeps/{sid}"))
    finally:
        d.stop()


def case_local_worker(ctx, db):
    R.case = "local worker"
    d = daemon(ctx, db, "local")
    try:
        spec = {"name": "bad-line", "task": {"task": "teacher", "d_in": 8, "d_out": 8},
                "grid": {"rank": [2], "alpha": [2], "lr": [0.01, 0.0777]}, "steps": 20,
                "max_attempts": 1}
        st, body = request(d.port, "POST", "/v1/sweeps", spec)
        R.eq(st, 201, "sweep accepted")
        sid = body["id"]
        ok = wait_until(lambda: request(d.port, "GET", f"/v1/sweeps/{sid}")[1]
                        .get("state") == "done", 60)
        R.check(ok, "the sweep ends", "done", request(d.port, "GET", f"/v1/sweeps/{sid}"))
        rows = {round(r["lr"], 4): r for r in cli(
            db, f"SELECT id, lr, state, error FROM runs WHERE sweep_id = {sid}")}
        bad, good = rows.get(0.0777, {}), rows.get(0.01, {})
        R.eq(bad.get("state"), "failed", "the run whose worker wrote a negative loss failed")
        R.check("stdout line 2: train: loss: -1 is negative" in (bad.get("error") or ""),
                "its error is the parser's, with the line", "stdout line 2: train: loss: -1 "
                "is negative", bad.get("error"))
        R.eq(good.get("state"), "done", "the sweep's other run is done")
        R.check(good and count(db, "curve", good["id"]) == 3, "with its rows", 3,
                good and count(db, "curve", good["id"]))
    finally:
        d.stop()


def case_analysis(ctx, db):
    R.case = "analysis"
    d = daemon(ctx, db, "analysis")
    try:
        spec = {"name": "law", "task": {"task": "teacher", "d_in": 8, "d_out": 8},
                "grid": {"rank": [2, 4, 8], "alpha": {"log2": [0, 8], "num": 9}, "lr": [0.01]},
                "seeds": 2, "steps": 40}
        st, body = request(d.port, "POST", "/v1/sweeps", spec)
        R.eq(st, 201, "sweep accepted")
        sid = body["id"]
        ok = wait_until(lambda: request(d.port, "GET", f"/v1/sweeps/{sid}")[1]
                        .get("state") == "done", 120)
        R.check(ok, "the sweep is done", "done", request(d.port, "GET", f"/v1/sweeps/{sid}"))
        st, before = request(d.port, "GET", f"/v1/sweeps/{sid}/analysis")
        R.eq(st, 200, "analysis of the clean sweep")
        ids = [r["id"] for r in cli(db, f"SELECT id FROM runs WHERE sweep_id = {sid} "
                                        "AND rank = 4 ORDER BY id")]
        bad = {ids[0]: "-1", ids[1]: "'NaN'", ids[2]: "9e999"}
        for run, v in bad.items():
            cli(db, f"UPDATE runs SET final_eval_loss = {v} WHERE id = {run}")
        cli(db, f"UPDATE curve SET loss = -0.5 WHERE run_id = {ids[3]} AND kind = 'eval' "
                "AND step = 10")
        # no stored analysis (an old database): each request computes it
        cli(db, f"DELETE FROM analyses WHERE sweep_id = {sid}")
        st, rec = request(d.port, "GET", f"/v1/sweeps/{sid}/recommend?rank=4")
        R.eq(st, 200, "recommend: 200")
        got = {e["run_id"] for e in rec.get("excluded", [])} if isinstance(rec, dict) else set()
        R.check(set(bad) | {ids[3]} <= got, "recommend names every run left out",
                sorted(set(bad) | {ids[3]}), rec)
        cli(db, f"DELETE FROM analyses WHERE sweep_id = {sid}")
        for fmt in ("md", "html"):
            st, text = request(d.port, "GET", f"/v1/sweeps/{sid}/report?format={fmt}", raw=True)
            R.eq(st, 200, f"report ({fmt}): 200")
            R.check("Left out of the analysis" in text and f"run {ids[0]} " in text,
                    f"the {fmt} report notes the runs left out", f"run {ids[0]}",
                    text[:300] if st != 200 else "(no note)")
        st, an = request(d.port, "GET", f"/v1/sweeps/{sid}/analysis?refresh=1")
        R.eq(st, 200, "analysis with bad losses in the database: 200")
        ex = an.get("excluded", []) if isinstance(an, dict) else []
        got = {e["run_id"] for e in ex}
        R.check(set(bad) | {ids[3]} <= got, "the analysis names every run it left out",
                sorted(set(bad) | {ids[3]}), ex)
        reasons = " ".join(e["reason"] for e in ex)
        R.check("negative" in reasons and "not a number" in reasons and "not finite" in reasons,
                "with the reasons", "negative / not a number / not finite", reasons)
        st, cur = request(d.port, "GET", f"/v1/sweeps/{sid}/curves?kind=eval")
        R.eq(st, 200, "curves: 200")
    finally:
        d.stop()


def case_import(ctx, db):
    R.case = "import"
    d = ctx.path("export")
    os.makedirs(os.path.join(d, "out"))
    spec = {"name": "imported", "task": {"task": "teacher", "d_in": 8, "d_out": 8},
            "grid": {"rank": [2], "alpha": [1, 2, 4], "lr": [0.01]}, "steps": 10}
    with open(os.path.join(d, "spec.json"), "w") as f:
        json.dump(spec, f)
    good = [{"type": "start", "layers": [{"layer": 0, "d_in": 8, "d_out": 8}]},
            {"type": "eval", "step": 10, "loss": 0.5},
            {"type": "done", "status": "done", "steps": 10, "final_eval_loss": 0.5}]
    outs = [good, [{"type": "start", "layers": [{"d_in": 8, "d_out": 8}]}] + good[1:], good]
    for i, recs in enumerate(outs):
        with open(os.path.join(d, "out", f"{i}.jsonl"), "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in recs))
    p = subprocess.run([ctx.loralpha, "import", d, "--db", db], capture_output=True,
                       text=True, timeout=60)
    R.eq(p.returncode, 0, "import of a sweep with one bad output file exits 0")
    rows = cli(db, "SELECT idx, state, error FROM runs ORDER BY idx") if os.path.exists(db) else []
    R.eq([r["state"] for r in rows], ["done", "failed", "done"],
         "only the run with the bad line failed")
    err = rows[1]["error"] if len(rows) > 1 else ""
    R.check("1.jsonl: line 1: start: layers[0].layer: missing" in (err or ""),
            "its error names the file, the line and the field",
            "1.jsonl: line 1: start: layers[0].layer: missing", err)
    R.check("layers[0].layer" in p.stderr, "import says so on stderr", "layers[0].layer", p.stderr)
    n = cli(db, "SELECT COUNT(*) AS n FROM curve")[0]["n"] if rows else 0
    R.eq(n, 2, "the other runs' rows are stored")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    ctx = Ctx(args)
    try:
        for case, name in ((case_ingest, "ingest"), (case_local_worker, "local"),
                           (case_analysis, "analysis"), (case_import, "import")):
            log(f"case {name}")
            try:
                case(ctx, ctx.path(f"{name}.db"))
            except Exception as e:  # a crash is a failure, the next case still runs
                traceback.print_exc()
                R.check(False, f"case {name} ran to its end", "no exception", repr(e))
    finally:
        if args.keep:
            log(f"kept {ctx.tmp}")
        ctx.cleanup(args.keep)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
