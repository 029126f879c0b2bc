#!/usr/bin/python3
"""The search along alpha (docs/sweeps.md "search"): a sweep with
"search": {"strategy": "bracket"} run by a real daemon over HTTP, with a
real SQLite file.

    test_search.py --loralpha PATH --worker PATH [--keep] [--only NAME]

Checked: every cell (rank, lr) ends with one `done` decision, its last;
each decision equals what an independent implementation of the documented
rule (ref_next below, written from docs/sweeps.md, not from the C) decides
from the cell's points as they were then (the mean final eval loss of each
alpha's seeds, from the runs table); every added alpha has a run per seed,
with the grid's seeds (paired) and the grid's config but for alpha; the
sweep's n_runs counts them; search_cells names the best alpha. A daemon
SIGKILLed inside the transaction that writes a decision (test point
"search"), then restarted, reaches the very same decisions as one never
killed. GET /v1/sweeps/{id}/search and `loralpha search` show the cells,
the decisions and what was spent. A bad search object is refused with 422
naming the field. Under "law": POST answers the runs stored (the law
ranks') and the grid's size; GET /search's law sets each larger rank's
prediction (the law fitted here, independently) beside the alpha* found,
and `loralpha search` and the report show it; with no law (every alpha of
the law ranks diverges) the larger ranks start from the grid's alphas;
max_queued_runs is asked of the runs stored at submit. Under "halving":
the cells promoted at each rung are those of a synchronous successive
halving written here from docs/sweeps.md (on the losses stored at the
rungs); the promoted cells' runs train to the end, the others end stopped
at a rung; a promoted run's eval curve over its stints equals the run
trained in one go by the worker alone; GET /search's plan, found and
spent, and `loralpha search`; a daemon SIGKILLed inside the transaction
of the first halving decisions, then restarted, takes the same decisions.
Ends with `N passed, M failed`.
"""
import json
import math
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (R, cases_main, closed_window, Daemon, cli, cli_val,  # noqa: E402
                     kill_pid, scaled, wait_until)

GOLDEN = 0.3819660112501051
GRID = [1.0, 16.0, 256.0, 4096.0]


def spec(name, **search):
    s = {"strategy": "bracket"}
    s.update(search)
    return {"name": name,
            "task": {"task": "teacher", "d_in": 32, "d_out": 32, "n_train": 512,
                     "n_eval": 128, "target_rank": 4, "target_scale": 2.0},
            "grid": {"rank": [1, 4], "alpha": GRID, "lr": [0.001]},
            "seeds": 2, "steps": 200, "batch": 32,
            "metrics": {"log_every": 50, "eval_every": 50, "spectra_every": 0,
                        "sharpness": False},
            "search": s}


def ref_next(s, pts):
    """The bracket's next step, from docs/sweeps.md: (action, kind, alpha)."""
    p = sorted(pts)
    n = len(p)
    x = [math.log2(a) for a, _ in p]
    f = [v for _, v in p]
    b = min(range(n), key=lambda i: (f[i], i))
    if math.isinf(f[b]):
        nxt = max(p[0][0] * 2 ** -s["step"], s["alpha_min"])
        if n < s["max_points"] and math.log2(p[0][0] / nxt) > 1e-9:
            return ("add", "extend_down", nxt)
        return ("done", "diverged", None)
    if n >= s["max_points"]:
        return ("done", "max_points", None)
    if b == 0 or b == n - 1:
        down = b == 0
        nxt = p[b][0] * 2 ** (-s["step"] if down else s["step"])
        nxt = max(nxt, s["alpha_min"]) if down else min(nxt, s["alpha_max"])
        if abs(math.log2(nxt / p[b][0])) > 1e-9:
            return ("add", "extend_down" if down else "extend_up", nxt)
        if n > 1:
            xq = x[1] if down else x[n - 2]
            if abs(xq - x[b]) > s["tolerance"] * (1 + 1e-12):
                return ("add", "edge", 2 ** (x[b] + GOLDEN * (xq - x[b])))
        return ("done", "limit", None)
    xa, xb, xc = x[b - 1], x[b], x[b + 1]
    if xc - xa <= s["tolerance"] * (1 + 1e-12):
        return ("done", "converged", None)
    fa, fb, fc = f[b - 1], f[b], f[b + 1]
    den = (xb - xa) * (fb - fc) - (xb - xc) * (fb - fa)
    v = None
    if math.isfinite(fa) and math.isfinite(fc) and den != 0:
        v = xb - 0.5 * ((xb - xa) ** 2 * (fb - fc) - (xb - xc) ** 2 * (fb - fa)) / den
    if v is not None and xa < v < xc and all(abs(xi - v) >= 0.1 * (xc - xa) for xi in x):
        return ("add", "parabolic", 2 ** v)
    if v is not None and xa < v < xc:
        up = v > xb or (v == xb and xc - xb > xb - xa)
        probe = xb + (0.5 if up else -0.5) * s["tolerance"]
        if (probe < xc if up else probe > xa) and \
                all(abs(xi - probe) >= 0.05 * s["tolerance"] for xi in x):
            return ("add", "probe", 2 ** probe)
    g = xb + GOLDEN * (xc - xb) if xc - xb > xb - xa else xb - GOLDEN * (xb - xa)
    return ("add", "golden", 2 ** g)


def decisions(db, sid):
    return cli(db, f"SELECT * FROM search_decisions WHERE sweep_id = {sid} ORDER BY seq")


def cell_losses(db, sid, rank, lr):
    """alpha -> the mean final eval loss of its seeds (inf if one did not end done)."""
    out = {}
    for r in cli(db, f"SELECT alpha, state, final_eval_loss FROM runs WHERE sweep_id = {sid} "
                     f"AND rank = {rank} AND lr = {lr}"):
        out.setdefault(r["alpha"], []).append(
            r["final_eval_loss"] if r["state"] == "done" and r["final_eval_loss"] is not None
            else math.inf)
    return {a: sum(v) / len(v) for a, v in out.items()}


def check_sweep(d, sid, what):
    """The decisions against ref_next; paired runs; n_runs; search_cells."""
    stored = json.loads(cli_val(d.db, f"SELECT spec FROM sweeps WHERE id = {sid}"))
    s = stored["search"]
    rows = decisions(d.db, sid)
    cells = sorted({(x["rank"], x["lr"]) for x in rows})
    R.eq(cells, [(1, 0.001), (4, 0.001)], f"{what}: decisions for both cells")
    mismatches = []
    for rank, lr in cells:
        mine = [x for x in rows if (x["rank"], x["lr"]) == (rank, lr)]
        R.eq([x["action"] for x in mine].count("done"), 1,
             f"{what}: rank {rank}: one done decision")
        R.eq(mine[-1]["action"], "done", f"{what}: rank {rank}: the done decision is the last")
        loss = cell_losses(d.db, sid, rank, lr)
        tried = list(GRID)
        for x in mine:
            want = ref_next(s, [(a, loss[a]) for a in tried])
            got = (x["action"], x["kind"], x["alpha"])
            same = want[:2] == got[:2] and (want[2] is None) == (got[2] is None) and \
                (want[2] is None or abs(math.log2(want[2] / got[2])) < 1e-9)
            if not same:
                mismatches.append((rank, x["seq"], want, got))
            if x["action"] == "add":
                tried.append(x["alpha"])
        R.eq(sorted(tried), sorted(loss), f"{what}: rank {rank}: the cell's alphas are the "
             "grid's and the added ones")
        best = min(loss, key=lambda a: loss[a])
        cell = cli(d.db, f"SELECT best_alpha FROM search_cells WHERE sweep_id = {sid} AND "
                         f"rank = {rank}")
        R.check(cell and abs(cell[0]["best_alpha"] - best) < 1e-9 * best,
                f"{what}: rank {rank}: search_cells names the best alpha", best, cell)
    R.check(not mismatches, f"{what}: every decision is the documented rule's "
            "(an independent implementation)", "none differ", mismatches)
    # paired seeds, configs equal but for alpha
    runs = cli(d.db, f"SELECT rank, lr, alpha, seed_index, seed, config FROM runs "
                     f"WHERE sweep_id = {sid}")
    seeds = {}
    bad = []
    for r in runs:
        seeds.setdefault((r["rank"], r["lr"], r["seed_index"]), set()).add(r["seed"])
        cfg = json.loads(r["config"])
        if cfg.get("alpha") != r["alpha"]:
            bad.append((r["alpha"], cfg.get("alpha")))
    R.check(all(len(v) == 1 for v in seeds.values()),
            f"{what}: every alpha of a cell has the same seed per seed index (paired)",
            "one seed each", {str(k): sorted(v) for k, v in seeds.items() if len(v) != 1})
    R.eq(bad, [], f"{what}: every run's config carries its alpha")
    per = {}
    for r in runs:
        per.setdefault((r["rank"], r["alpha"]), []).append(r["seed_index"])
    R.check(all(sorted(v) == [0, 1] for v in per.values()),
            f"{what}: every alpha tried has a run per seed", "[0, 1] each",
            {str(k): v for k, v in per.items() if sorted(v) != [0, 1]})
    R.eq(cli_val(d.db, f"SELECT n_runs FROM sweeps WHERE id = {sid}"), len(runs),
         f"{what}: the sweep's n_runs counts the added runs")
    # per cell, in order (cells interleave as their runs end)
    return {rank: [(x["action"], x["kind"], x["alpha"]) for x in rows if x["rank"] == rank]
            for rank in sorted({x["rank"] for x in rows})}


def case_bracket(ctx):
    d = Daemon(ctx, "bracket", workers=2)
    sid = d.submit(spec("bracket"), "bracket sweep")
    d.wait_sweep(sid, 120, what="bracket sweep")
    norm = (d.get(f"/v1/sweeps/{sid}").json or {}).get("spec", {}).get("search", {})
    R.eq(sorted(norm), ["alpha_max", "alpha_min", "max_points", "step", "strategy",
                        "tolerance"], "the stored spec shows the search with every field")
    ctx.reference = check_sweep(d, sid, "bracket")
    # the API and the CLI show the same decisions and cells
    j = d.get(f"/v1/sweeps/{sid}/search").json or {}
    rows = decisions(d.db, sid)
    R.eq([(x["seq"], x["kind"], x["alpha"]) for x in j.get("decisions", [])],
         [(x["seq"], x["kind"], x["alpha"]) for x in rows],
         "GET /v1/sweeps/{id}/search: the decisions, in order")
    R.eq([(x["rank"], x["done"]) for x in j.get("cells", [])], [(1, 1), (4, 1)],
         "GET /v1/sweeps/{id}/search: both cells, done")
    steps = cli_val(d.db, f"SELECT SUM(steps_done) FROM runs WHERE sweep_id = {sid}")
    R.eq((j.get("spent") or {}).get("run_steps"), steps,
         "GET /v1/sweeps/{id}/search: run-steps spent")
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "search",
                        str(sid)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, LORALPHA_TOKEN=d.token))
    R.check(p.returncode == 0 and "bracket" in p.stdout and
            p.stdout.count("converged") + p.stdout.count("limit") >= 2,
            "loralpha search: the cells and the decisions", "exit 0, bracket ...",
            (p.returncode, p.stdout[:600], p.stderr[:200]))
    # the report (the daemon's and the CLI's): a section with a row per cell
    md = d.get(f"/v1/sweeps/{sid}/report?format=md").body.decode()
    sec = md.split("## Search along α", 1)[1] if "## Search along α" in md else ""
    R.check(sec and all(f"| {c['rank']} | " in sec for c in j.get("cells", [])) and
            f"{(j.get('spent') or {}).get('runs')} runs" in sec,
            "GET /v1/sweeps/{id}/report?format=md: a search section, a row per cell",
            "## Search along α ... | 1 | ... | 4 |", sec[:500] or md[-500:])
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "report",
                        str(sid), "--format", "md"], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, LORALPHA_TOKEN=d.token))
    R.check(p.returncode == 0 and "## Search along α" in p.stdout,
            "loralpha report --format md: the search section too", "exit 0, section",
            (p.returncode, p.stderr[:300]))
    g = d.submit(dict(spec("plain grid"), search={"strategy": "grid"}), "grid sweep")
    d.wait_sweep(g, 60, what="grid sweep")
    j = d.get(f"/v1/sweeps/{g}/search").json or {}
    R.eq(((j.get("search") or {}).get("strategy"), j.get("cells"), j.get("decisions"),
          (j.get("spent") or {}).get("runs")), ("grid", [], [], 16),
         "a grid sweep's search: no cells, no decisions, its 16 runs spent")
    R.eq(d.get("/v1/sweeps/999/search").status, 404, "no such sweep: 404")
    R.check("Search along α" not in d.get(f"/v1/sweeps/{g}/report?format=md").body.decode(),
            "a grid sweep's report has no search section", "absent", "present")
    R.eq(d.stop(), 0, "daemon exits 0")


def killed_at_search(ctx, name, body, table):
    """A daemon on NAME.db SIGKILLed while it pauses at the test point
    "search" (inside the transaction of its first decisions) on the sweep
    of body, then a daemon started again on it that resumed the sweep to its
    end: (that daemon, the sweep's id), or None when the first never got to
    the point."""
    db = ctx.path(f"{name}.db")
    # the pause is long: the kill must land inside it on a busy machine
    env = dict(os.environ, LA_TEST_PAUSE="search", LA_TEST_PAUSE_MS="20000")
    d = Daemon(ctx, name, db, workers=2, env=env)
    sid = d.submit(body, f"{name}: the sweep to kill")

    def at_point():
        try:
            with open(d.log_path) as f:
                return "testpoint search\n" in f.read()
        except OSError:
            return False
    hit = wait_until(at_point, scaled(120), 0.005)
    R.check(hit, f"{name}: the daemon reaches the search test point", True, d.log_tail(400))
    if not hit:
        return None
    kill_pid(d.proc.pid, signal.SIGKILL)
    d.proc.wait()
    d.kill()
    R.eq(cli_val(db, f"SELECT COUNT(*) FROM {table} WHERE sweep_id = {sid}"), 0,
         f"{name}: killed inside the first decisions' transaction: no decision stored")
    d2 = Daemon(ctx, f"{name}-restart", db, workers=2)
    d2.wait_sweep(sid, 120, what=f"{name}: the killed sweep, resumed")
    return d2, sid


def case_crash(ctx):
    """SIGKILL inside a decision's transaction, restart, same decisions."""
    killed = killed_at_search(ctx, "crash", spec("bracket"), "search_decisions")
    if killed is None:
        return
    d2, sid = killed
    db = d2.db
    got = check_sweep(d2, sid, "resumed")
    want = getattr(ctx, "reference", None)
    if want is None:  # case 1 did not run (--only): the reference sweep here
        ref = Daemon(ctx, "reference", ctx.path("reference.db"), workers=2)
        rid = ref.submit(spec("bracket"), "reference sweep")
        ref.wait_sweep(rid, 120, what="reference sweep")
        want = check_sweep(ref, rid, "reference")
        ref.stop()
    R.check(want is not None and got == want,
            "the resumed search reaches the same decisions, cell by cell, as the one "
            "never killed", want, got)
    dup = cli(db, "SELECT sweep_id, idx, COUNT(*) AS n FROM runs GROUP BY 1, 2 HAVING n > 1")
    R.eq(dup, [], "no run stored twice")
    R.eq(d2.stop(), 0, "daemon exits 0")


def case_refused(ctx):
    d = Daemon(ctx, "search-bad", workers=1)
    for patch, field in (({"tolerance": 0}, "search.tolerance"),
                         ({"max_points": 3}, "search.max_points"),
                         ({"alpha_max": 100}, "search.alpha_max"),
                         ({"strategy": "random"}, "search.strategy")):
        r = d.req("POST", "/v1/sweeps", spec("bad", **patch))
        msg = ((r.json or {}).get("error") or {}).get("message", "")
        R.check(r.status == 422 and msg.startswith(field + ":"),
                f"a spec with {patch} is refused naming {field}", f"422 {field}: ...",
                (r.status, msg))
    R.eq(cli_val(d.db, "SELECT COUNT(*) FROM sweeps"), 0, "nothing refused was stored")
    R.eq(d.stop(), 0, "daemon exits 0")


def law_fit(ranks, alphas):
    """Least squares of log2 alpha on log2 r: (log2 c, p, scatter)."""
    x = [math.log2(r) for r in ranks]
    y = [math.log2(a) for a in alphas]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((v - mx) ** 2 for v in x)
    p = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx
    c = my - p * mx
    res = [b - (c + p * a) for a, b in zip(x, y)]
    scatter = math.sqrt(sum(r * r for r in res) / (len(x) - 2)) if len(x) > 2 else 0.0
    return c, p, scatter


def case_law(ctx):
    """strategy law: ranks 1, 2, 4 searched first; ranks 8 and 16 start
    from the law's prediction, then search on their own."""
    d = Daemon(ctx, "law", workers=2)
    body = spec("law", law_ranks=3, widen=1)
    body["search"]["strategy"] = "law"
    body["grid"]["rank"] = [1, 2, 4, 8, 16]
    body["window"] = closed_window()  # nothing runs until the checks at submit are done
    r = d.req("POST", "/v1/sweeps", body)
    ans = r.json or {}
    sid = ans.get("id")
    first = cli(d.db, f"SELECT DISTINCT rank FROM runs WHERE sweep_id = {sid} ORDER BY rank")
    R.eq([x["rank"] for x in first if x["rank"] > 4], [],
         "at submit only the law ranks' runs are stored (ranks 8 and 16 wait for the law)")
    stored = cli_val(d.db, f"SELECT COUNT(*) FROM runs WHERE sweep_id = {sid}")
    R.eq((r.status, ans.get("runs"), ans.get("grid_runs"), stored), (201, 24, 40, 24),
         "POST /v1/sweeps under law: runs are the 24 stored (3 law ranks x 4 alphas x 2 "
         "seeds), grid_runs the grid's 40")
    R.eq((d.sweep(sid) or {}).get("n_runs"), ans.get("runs"),
         "GET /v1/sweeps/{id}'s n_runs at submit equals the POST answer's runs")
    r = d.req("PATCH", f"/v1/sweeps/{sid}", {"window": None},
              headers={"Content-Type": "application/json"})
    R.eq(r.status, 200, "the law sweep's window opened (PATCH window null)")
    d.wait_sweep(sid, 180, what="law sweep")
    stored = json.loads(cli_val(d.db, f"SELECT spec FROM sweeps WHERE id = {sid}"))
    s = stored["search"]
    rows = decisions(d.db, sid)
    best = {}
    for rank in (1, 2, 4):
        loss = cell_losses(d.db, sid, rank, 0.001)
        best[rank] = min(loss, key=lambda a: (loss[a], a))
    c, p, sc = law_fit(list(best), [best[r] for r in best])
    bad = []
    for rank in (8, 16):
        mine = [x for x in rows if x["rank"] == rank]
        law = [x for x in mine if x["kind"] == "law"]
        xh = c + p * math.log2(rank)
        h = s["widen"] + 2 * sc
        want = [min(max(v, math.log2(s["alpha_min"])), math.log2(s["alpha_max"]))
                for v in (xh - h, xh, xh + h)]
        got = [math.log2(x["alpha"]) for x in law]
        if len(got) != 3 or any(abs(a - b) > 1e-9 for a, b in zip(got, want)):
            bad.append((rank, want, got))
        # then the bracket from the law's start, with steps of the law's width
        loss = cell_losses(d.db, sid, rank, 0.001)
        tried = [x["alpha"] for x in law]
        s_cell = dict(s, step=s["widen"])
        for x in mine[3:]:
            want2 = ref_next(s_cell, [(a, loss[a]) for a in tried])
            got2 = (x["action"], x["kind"], x["alpha"])
            if want2[:2] != got2[:2] or (want2[2] is None) != (got2[2] is None) or \
                    (want2[2] is not None and abs(math.log2(want2[2] / got2[2])) > 1e-9):
                bad.append((rank, x["seq"], want2, got2))
            if x["action"] == "add":
                tried.append(x["alpha"])
        R.eq(mine[-1]["action"], "done", f"law: rank {rank}'s search ends done")
    R.check(not bad, "law: ranks 8 and 16 start at the law's prediction (fitted here, "
            "independently) and its interval, then search by the documented rule",
            "none differ", bad)
    R.eq(cli_val(d.db, f"SELECT n_runs FROM sweeps WHERE id = {sid}"),
         cli_val(d.db, f"SELECT COUNT(*) FROM runs WHERE sweep_id = {sid}"),
         "law: n_runs counts every run")
    check_law_report(ctx, d, sid, s, best, rows)
    R.eq(d.stop(), 0, "daemon exits 0")


def check_law_report(ctx, d, sid, s, best, rows):
    """GET /search's law against the law fitted here to the law ranks'
    alpha* and each larger rank's own alpha* (search_cells); the CLI and
    the report show the same rows."""
    j = d.get(f"/v1/sweeps/{sid}/search").json or {}
    law = j.get("law") or []
    R.eq([(e.get("lr"), e.get("state")) for e in law], [(0.001, "fitted")],
         "GET /search under law: one law entry, fitted")
    e = law[0] if law else {}
    c, p, sc = law_fit(list(best), [best[r] for r in best])
    R.check(e and abs(math.log2(e["c"]) - c) < 1e-9 and abs(e["p"] - p) < 1e-9 and
            abs(e["scatter"] - sc) < 1e-9,
            "law: c, p and scatter are the law through the law ranks' alpha* (fitted here)",
            (2 ** c, p, sc), (e.get("c"), e.get("p"), e.get("scatter")))
    R.eq([(x["rank"], x["alpha_star"]) for x in e.get("law_ranks", [])],
         [(r, best[r]) for r in (1, 2, 4)], "law: the law ranks with their alpha*")
    h = s["widen"] + 2 * sc
    want, bad = [], []
    for rank in (8, 16):
        x = c + p * math.log2(rank)
        found = cli_val(d.db, f"SELECT best_alpha FROM search_cells WHERE sweep_id = {sid} "
                              f"AND rank = {rank}")
        lo, hi = x - h, x + h
        fx = math.log2(found)
        miss = 0.0 if lo - 1e-9 <= fx <= hi + 1e-9 else (lo - fx if fx < lo else fx - hi)
        want.append((rank, x, lo, hi, found, fx - x, miss, miss == 0.0))
    got = [(y["rank"], math.log2(y["predicted"]), math.log2(y["lo"]), math.log2(y["hi"]),
            y["found"], y["off_octaves"], y["miss_octaves"], y["inside"])
           for y in e.get("predictions", [])]
    if len(got) != len(want):
        bad.append(("rows", len(want), len(got)))
    for w, g in zip(want, got):
        if w[0] != g[0] or w[7] != g[7] or w[4] != g[4] or \
                any(abs(a - b) > 1e-9 for a, b in zip(w[1:4] + w[5:7], g[1:4] + g[5:7])):
            bad.append((w, g))
    R.check(not bad, "law: each larger rank's prediction, interval, alpha* found, offset and "
            "miss as computed here from the law and search_cells", want, got)
    law_rows = [x for x in rows if x["kind"] == "law"]
    R.check(all(abs(x["best"] - y["predicted"]) < 1e-9 * x["best"]
                for x in law_rows for y in e.get("predictions", []) if x["rank"] == y["rank"]),
            "law: the predicted alpha is the one the law decisions stored", "equal",
            [(x["rank"], x["best"]) for x in law_rows])
    R.eq((e.get("n_started"), e.get("n_decided"), e.get("n_inside")),
         (2, 2, sum(1 for w in want if w[7])), "law: started, decided, inside counted")
    p_ = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "search",
                         str(sid)], capture_output=True, text=True, timeout=60,
                        env=dict(os.environ, LORALPHA_TOKEN=d.token))
    sec = p_.stdout.split("law: the prediction against what was found", 1)
    sec = sec[1].split("decisions, in order", 1)[0] if len(sec) == 2 else ""
    lines = [ln.split() for ln in sec.splitlines()]
    ranks = [ln[0] for ln in lines if ln and ln[0] in ("8", "16")]
    R.check(p_.returncode == 0 and e.get("text", "?") in sec and ranks == ["8", "16"] and
            all(("yes" if w[7] else "no") in ln for w in want for ln in lines
                if ln and ln[0] == str(w[0])),
            "loralpha search: the law's words and a row per larger rank, inside yes/no",
            [e.get("text"), [(w[0], w[7]) for w in want]], (p_.returncode, sec[:800]))
    md = d.get(f"/v1/sweeps/{sid}/report?format=md").body.decode()
    sub = md.split("### The law's prediction against what was found", 1)
    sub = sub[1].split("\n## ", 1)[0] if len(sub) == 2 else ""
    R.check(sub.count("| 8 | 0.001 |") == 1 and sub.count("| 16 | 0.001 |") == 1,
            "the report: the law subsection, a row per larger rank", "| 8 | ... | 16 |",
            sub[:800] or md[-800:])


def case_law_fallback(ctx):
    """strategy law with no law: at lr 10 every alpha of the law ranks
    diverges, so ranks 8 and 16 start from the grid's alphas (kind law, no
    prediction), with the grid's runs per seed; GET /search says no_law."""
    # max_queued_runs 30: the law ranks' 24 runs pass, the grid's 40 would not
    d = Daemon(ctx, "law-fallback", workers=2,
               config={"user_limits": {"default": {"max_queued_runs": 30}}})
    body = spec("law without a law", law_ranks=3, widen=1, alpha_min=1)
    body["search"]["strategy"] = "law"
    body["grid"]["rank"] = [1, 2, 4, 8, 16]
    body["grid"]["lr"] = [10.0]
    sid = d.submit(body, "law sweep that diverges (24 runs queued, under the cap of 30)")
    d.wait_sweep(sid, 180, what="law sweep without a law")
    r = d.req("POST", "/v1/sweeps", dict(body, search={"strategy": "bracket"}))
    R.check(r.status == 429 and "40 more" in ((r.json or {}).get("error") or {}).get("message", ""),
            "the same grid as a bracket search queues all its 40 runs: refused by the cap of 30",
            "429 ... 40 more ...", r)
    rows = decisions(d.db, sid)
    small = [(x["rank"], x["kind"]) for x in rows if x["rank"] <= 4]
    R.eq(sorted(small), [(1, "diverged"), (2, "diverged"), (4, "diverged")],
         "the law ranks: every alpha diverged, each done at once (alpha_min is the grid's)",
         )
    starts = {rank: [(x["action"], x["alpha"], x["best"], x["lo"], x["hi"])
                     for x in rows if x["rank"] == rank and x["kind"] == "law"]
              for rank in (8, 16)}
    want = [("add", a, None, None, None) for a in GRID]
    R.eq(starts, {8: want, 16: want},
         "no law: ranks 8 and 16 start from the grid's alphas, decisions of kind law "
         "without a prediction")
    R.check(all("no law to predict from" in x["why"] for x in rows if x["kind"] == "law"),
            "no law: each start says why", "no law to predict from ...",
            [x["why"] for x in rows if x["kind"] == "law"][:2])
    stored = json.loads(cli_val(d.db, f"SELECT spec FROM sweeps WHERE id = {sid}"))
    grid = cli(d.db, f"SELECT rank, alpha, seed_index, seed, config FROM runs WHERE "
                     f"sweep_id = {sid} AND rank >= 8 AND alpha IN (1, 16, 256, 4096)")
    R.eq(sorted((x["rank"], x["alpha"], x["seed_index"]) for x in grid),
         sorted((r, a, i) for r in (8, 16) for a in GRID for i in (0, 1)),
         "no law: a run per seed of each grid alpha at ranks 8 and 16")
    seeds = {(x["rank"], x["seed_index"]) for x in grid}
    R.eq(len({(x["rank"], x["seed_index"], x["seed"]) for x in grid}), len(seeds),
         "no law: the started runs are paired (one seed per rank and seed index)")
    R.check(all(json.loads(x["config"]).get("alpha") == x["alpha"] and
                json.loads(x["config"]).get("rank") == x["rank"] for x in grid),
            "no law: each run's config carries its rank and alpha", True, grid[:1])
    R.eq(stored["search"]["strategy"], "law", "the stored spec keeps the strategy")
    law = (d.get(f"/v1/sweeps/{sid}/search").json or {}).get("law") or [{}]
    R.eq((law[0].get("state"), law[0].get("c"), law[0].get("p"),
          [x.get("predicted") for x in law[0].get("predictions", [])],
          [x.get("alpha_star") for x in law[0].get("law_ranks", [])]),
         ("no_law", None, None, [None, None], [None, None, None]),
         "GET /search: no_law, no c and p, no prediction, no law rank's alpha*")
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "search",
                        str(sid)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, LORALPHA_TOKEN=d.token))
    sec = p.stdout.split("law: the prediction against what was found", 1)
    sec = sec[1].split("decisions, in order", 1)[0] if len(sec) == 2 else ""
    rows_ = [ln.split() for ln in sec.splitlines() if ln.split()[:1] in (["8"], ["16"])]
    R.check(p.returncode == 0 and "no law (fewer than two law ranks" in sec and
            [r[:3] for r in rows_] == [["8", "10", "-"], ["16", "10", "-"]],
            "loralpha search: no law in words, ranks 8 and 16 without a prediction",
            "no law ...; 8 10 - ...; 16 10 - ...", (p.returncode, sec[:600]))
    R.eq(d.stop(), 0, "daemon exits 0")


# ---- halving -------------------------------------------------------------------

H_ALPHAS = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0]
H_LRS = [0.001, 0.01]


def halving_spec(name):
    """12 cells a rank (6 alphas x 2 lrs), 2 seeds, 90 steps: rungs at steps
    10 and 30 (eta 3: 12 -> 4 -> 1)."""
    return {"name": name,
            "task": {"task": "teacher", "d_in": 32, "d_out": 32, "n_train": 512,
                     "n_eval": 128, "target_rank": 4, "target_scale": 2.0},
            "grid": {"rank": [1, 4], "alpha": H_ALPHAS, "lr": H_LRS},
            "seeds": 2, "steps": 90, "batch": 32,
            "metrics": {"log_every": 10, "eval_every": 20, "spectra_every": 0,
                        "sharpness": False},
            "search": {"strategy": "halving", "eta": 3}}


def halving_reference(db, sid):
    """Synchronous successive halving written from docs/sweeps.md, on the
    losses the runs left in the curve table: per rank, the cells promoted at
    each rung and the cells that go to the end. {rank: [set per rung...,
    set at the end]}."""
    out = {}
    for rank in (1, 4):
        cells = [(a, lr) for lr in H_LRS for a in H_ALPHAS]
        reach, per = len(cells), []
        alive = cells
        for step in (10, 30):
            if reach < 2:
                break
            loss = {}
            for a, lr in alive:
                rows = cli(db, f"SELECT r.state, c.loss FROM runs r LEFT JOIN curve c ON "
                               f"c.run_id = r.id AND c.kind = 'eval' AND c.step = {step} "
                               f"WHERE r.sweep_id = {sid} AND r.rank = {rank} AND "
                               f"r.alpha = {a} AND r.lr = {lr}")
                v = [x["loss"] for x in rows]
                loss[(a, lr)] = (sum(v) / len(v) if all(x is not None for x in v)
                                 else math.inf)
            keep = max(1, len(alive) // 3)
            order = sorted(alive, key=lambda c: (loss[c], c[0], c[1]))
            alive = [c for c in order[:keep] if math.isfinite(loss[c])]
            per.append(set(alive))
            reach = max(1, reach // 3)
        out[rank] = per
    return out


def halving_outcome(db, sid):
    """What the daemon decided: {rank: [promoted set per rung...]} and the
    sorted decisions (rank, rung, alpha, lr, action)."""
    rows = cli(db, f"SELECT * FROM halving_decisions WHERE sweep_id = {sid} ORDER BY seq")
    per = {}
    for x in rows:
        lst = per.setdefault(x["rank"], [set(), set()])
        if x["action"] == "promote":
            lst[x["rung"] - 1].add((x["alpha"], x["lr"]))
    dec = sorted((x["rank"], x["rung"], x["alpha"], x["lr"], x["action"]) for x in rows)
    return per, dec


def run_alone(ctx, cfg):
    """The worker's records for config cfg trained in one go: eval step ->
    loss."""
    cfg = dict(cfg, stop_at=0, resume_at=0)
    p = subprocess.run([ctx.worker], input=json.dumps(cfg), capture_output=True,
                       text=True, timeout=scaled(120))
    recs = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    return {r["step"]: r["loss"] for r in recs if r.get("type") == "eval"}


def case_halving(ctx):
    d = Daemon(ctx, "halving", workers=2)
    sid = d.submit(halving_spec("halving"), "halving sweep")
    d.wait_sweep(sid, 120, what="halving sweep")
    db = d.db
    want = halving_reference(db, sid)
    got, dec = halving_outcome(db, sid)
    R.eq({r: [sorted(x) for x in v] for r, v in got.items()},
         {r: [sorted(x) for x in v] for r, v in want.items()},
         "halving: the cells promoted at each rung are synchronous successive halving's "
         "(an independent implementation, on the stored losses)")
    ctx.halving_ref = dec
    # every cell decided once per rung it reached; the rest stopped
    R.eq(len(dec), len(set(dec)), "halving: no decision taken twice")
    end = cli(db, f"SELECT rank, alpha, lr, COUNT(*) AS n FROM runs WHERE sweep_id = {sid} "
                  f"AND state = 'done' GROUP BY 1, 2, 3")
    R.eq(sorted((x["rank"], x["alpha"], x["lr"], x["n"]) for x in end),
         sorted((r, a, lr, 2) for r, v in want.items() for a, lr in v[-1]),
         "halving: the cells promoted at the last rung train to the end (both seeds done)")
    bad = cli(db, f"SELECT id, state, steps_done, stop_at FROM runs WHERE sweep_id = {sid} "
                  f"AND NOT (state = 'done' AND steps_done = 90 OR state = 'stopped' AND "
                  f"steps_done IN (10, 30) AND steps_done = stop_at OR state = 'diverged')")
    R.eq(bad, [], "halving: every other run ended stopped at a rung (or diverged)")
    # a promoted run's stitched curve is the run trained in one go
    runs = cli(db, f"SELECT id, config FROM runs WHERE sweep_id = {sid} AND state = 'done' "
                   f"ORDER BY id LIMIT 2")
    for r in runs:
        stored = {x["step"]: x["loss"] for x in
                  cli(db, f"SELECT step, loss FROM curve WHERE run_id = {r['id']} "
                          f"AND kind = 'eval' ORDER BY step")}
        alone = run_alone(ctx, json.loads(r["config"]))
        R.check(alone and all(stored.get(k) == v for k, v in alone.items()),
                f"halving: run {r['id']}'s eval curve over its three stints equals the run "
                "trained in one go, at every eval step", alone, stored)
        R.eq(sorted(set(stored) - set(alone)), [10, 30],
             f"halving: run {r['id']} has the evals at its two stops besides")
    # what it spent; the API, the view and the CLI agree
    j = d.get(f"/v1/sweeps/{sid}/search").json or {}
    steps = cli_val(db, f"SELECT SUM(steps_done + earlier_steps) FROM runs WHERE "
                        f"sweep_id = {sid}")
    R.eq((j.get("spent") or {}).get("run_steps"), steps,
         "GET /search: run-steps spent add every stint")
    R.check(steps < 0.5 * 48 * 90, "halving: under half the grid's run-steps",
            f"< {0.5 * 48 * 90}", steps)
    h = j.get("halving") or {}
    R.eq([[(g["step"], g["reach"], g["promote"]) for g in x["rungs"]] for x in h.get("plan", [])],
         [[(10, 12, 4), (30, 4, 1)]] * 2, "GET /search: each rank's plan")
    found = {(x["rank"], x["lr"]): x for x in h.get("found", [])}
    for rank, v in want.items():
        (a, lr), = v[-1]
        f = found.get((rank, lr)) or {}
        R.eq((f.get("alpha_star"), f.get("at_end"), f.get("step")), (a, True, 90),
             f"GET /search: rank {rank} lr {lr}: found the cell that went to the end")
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "search",
                        str(sid)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, LORALPHA_TOKEN=d.token))
    R.check(p.returncode == 0 and "rank 1: 12 cells: step 10 (12 -> 4), step 30 (4 -> 1),"
            " the end at 90" in p.stdout and "outranked" in p.stdout,
            "loralpha search: the rungs, what was found, the decisions", "exit 0 ...",
            (p.returncode, p.stdout[:800], p.stderr[:200]))
    check_halving_report(ctx, d, sid, j)
    s = d.get(f"/v1/sweeps/{sid}").json or {}
    R.eq((s.get("state"), (s.get("counts") or {}).get("waiting")), ("done", 0),
         "halving: the sweep is done, no run left waiting")
    R.eq(d.stop(), 0, "daemon exits 0")


def report_num(x):
    """A number as the report writes it (base/report.c fnum)."""
    if x is None:
        return "–"
    return f"{x:.0f}" if 1000 <= abs(x) < 1e6 else f"{x:.3g}"


def check_halving_report(ctx, d, sid, j):
    """The report's "Search along α" of a halving sweep, the daemon's and
    the CLI's (Markdown): the settings and what was spent, a row per (rank,
    lr) equal to GET /search's found, and each rank's rungs."""
    h = j.get("halving") or {}
    want = [f"| {f['rank']} | {report_num(f['lr'])} | {report_num(f['alpha_star'])} | "
            f"{report_num(f['loss'])} | {f['step']} | "
            + (f"yes ({f['cells_at_end']} cell{'' if f['cells_at_end'] == 1 else 's'})"
               if f["at_end"] else "no") + " |" for f in h.get("found", [])]
    p = subprocess.run([ctx.loralpha, "--url", f"http://127.0.0.1:{d.port}", "report",
                        str(sid), "--format", "md"], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, LORALPHA_TOKEN=d.token))
    for name, md in (("GET /v1/sweeps/{id}/report?format=md",
                      d.get(f"/v1/sweeps/{sid}/report?format=md").body.decode()),
                     ("loralpha report --format md", p.stdout)):
        sec = md.split("## Search along α", 1)[1] if "## Search along α" in md else ""
        sec = sec.split("\n## ", 1)[0]
        rows = [ln for ln in sec.splitlines()
                if ln.startswith("| ") and not ln.startswith(("| rank", "| ---"))]
        R.eq(rows, want, f"{name}: the halving section's rows are GET /search's found")
        spent = j.get("spent") or {}
        head = (f"Strategy halving, eta 3, rungs at 0.111, 0.333 of the steps; spent "
                f"{spent.get('runs')} runs, {report_num(spent.get('run_steps'))} run-steps")
        plan = ("Rank 1: 12 cells; step 10: 12 → 4; step 30: 4 → 1; the end at step 90: "
                "reached by 1 cell.")
        R.check(head in sec and plan in sec and "Rank 4: 12 cells; step 10: 12 → 4" in sec,
                f"{name}: the halving section's settings, spending and rungs",
                [head, plan], sec[:1200] or md[-600:])


def case_halving_crash(ctx):
    """SIGKILL inside the transaction of the first halving decisions,
    restart: the same decisions as the sweep never killed."""
    killed = killed_at_search(ctx, "halving-crash", halving_spec("halving"),
                              "halving_decisions")
    if killed is None:
        return
    d2, sid = killed
    db = d2.db
    _, got = halving_outcome(db, sid)
    want = getattr(ctx, "halving_ref", None)
    if want is None:  # case 6 did not run (--only)
        ref = Daemon(ctx, "halving-ref", ctx.path("halving-ref.db"), workers=2)
        rid = ref.submit(halving_spec("halving"), "reference halving sweep")
        ref.wait_sweep(rid, 120, what="reference halving sweep")
        _, want = halving_outcome(ref.db, rid)
        ref.stop()
    R.check(want is not None and got == want,
            "the resumed halving sweep takes the same decisions as the one never killed",
            want, got)
    R.eq(cli(db, f"SELECT id FROM runs WHERE sweep_id = {sid} AND state IN ('queued', "
                 f"'running', 'waiting')"), [], "nothing left queued, running or waiting")
    R.eq(d2.stop(), 0, "daemon exits 0")


CASES = [("1 bracket search end to end", case_bracket),
         ("2 killed inside a decision", case_crash),
         ("3 bad search objects", case_refused),
         ("4 law: small ranks first, then the prediction", case_law),
         ("5 law without a law: the grid's start", case_law_fallback),
         ("6 halving end to end", case_halving),
         ("7 halving killed inside a decision", case_halving_crash)]

if __name__ == "__main__":
    sys.exit(cases_main(__doc__, CASES))
