#!/usr/bin/python3
"""test_analysis.py: the analysis over real HTTP against a real daemon and
its SQLite file: computed by itself when a sweep finishes (no request),
stored in the fits / alpha_star / regret tables the sqlite3 CLI reads,
served by GET /v1/sweeps/{id}/analysis consistently with those tables, with
an answer per tested rank and a headline, and turned into answers for any
rank by GET /v1/sweeps/{id}/recommend (the same answers for tested ranks;
an lr not in the sweep is a 400 that lists the sweep's lrs). Every
checkpoint follows the rules for flat optima (the flat set holds alpha*,
[lo, hi] is its hull with the bootstrap interval, flat and ill_determined
follow from their widths) and for too little data (a law with fewer usable
ranks than its parameters + 1 is null with a reason; otherwise its
scatter_log2 is the weighted RMS residual of the stars); the tables hold the
same; an untested rank with no law at the full budget is a 404 saying why.
The joint (alpha, lr) optimum per checkpoint with one lr and with three (the
answers take its lr). Claims 1 and 2 on a sweep with sharpness and two lrs,
recomputed from the store's rows.

    test_analysis.py --loralpha PATH --worker PATH
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Ctx, Daemon, R, cli, log, wait_until
from harness import request as http_request

check = R.check


def request(port, method, path, body=None):
    """(status, JSON or the raw body) of one request."""
    r = http_request(port, method, path, body, timeout=60)
    return r.status, r.json if r.json is not None else r.body


SPEC = {
    "name": "analysis-e2e",
    "task": {"task": "teacher", "d_in": 32, "d_out": 32, "n_train": 512, "n_eval": 128,
             "target_rank": 8, "target_scale": 2.0, "noise": 0.01},
    "grid": {"rank": [2, 4, 8], "alpha": {"log2": [0, 10], "num": 11}, "lr": [0.003]},
    "seeds": 2, "steps": 120, "batch": 32,
    "metrics": {"log_every": 10, "eval_every": 10, "spectra_every": 60, "sharpness": False},
}


def close(a, b, rel=1e-9):
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def case_background_and_tables(port, db):
    st, ans = request(port, "POST", "/v1/sweeps", SPEC)
    check(st == 201, "sweep accepted", 201, (st, ans))
    sid = ans["id"]
    done = wait_until(lambda: request(port, "GET", f"/v1/sweeps/{sid}")[1].get("state") == "done", 120)
    check(done, "sweep finishes", "done", request(port, "GET", f"/v1/sweeps/{sid}")[1])
    # analysed by itself, without a request
    rows = wait_until(lambda: cli(db, f"SELECT * FROM fits WHERE sweep_id = {sid}"), 30)
    check(rows and len(rows) == 6, "fits stored after the sweep finished (3 budgets x 2 methods)",
          6, rows and len(rows))
    stars = cli(db, f"SELECT * FROM alpha_star WHERE sweep_id = {sid} AND fraction = 1 ORDER BY rank")
    check([s["rank"] for s in stars] == [2, 4, 8], "alpha_star has every rank", [2, 4, 8],
          [s["rank"] for s in stars])
    for s in stars:
        check(1 <= s["alpha_grid"] <= 1024 and s["alpha"] > 0, f"alpha* of rank {s['rank']} in the grid",
              "1..1024", s)
        if s["ci_lo"] is not None:
            check(s["ci_lo"] <= s["alpha"] * (1 + 1e-9) and s["alpha"] <= s["ci_hi"] * (1 + 1e-9),
                  f"rank {s['rank']}: refined alpha* inside its interval", "ci_lo <= alpha <= ci_hi", s)
    reg = cli(db, f"SELECT * FROM heuristic_regret WHERE sweep_id = {sid}")
    check(len(reg) == 9 and {r["rule"] for r in reg} == {"alpha=r", "alpha=2r", "rslora16"},
          "regret of three rules at three ranks", 9, len(reg))
    for r in reg:
        if r["regret"] is not None:
            check(r["regret"] >= -1e-12, f"regret never negative ({r['rank']}, {r['rule']})", ">= 0", r)
    # the best alpha of the analysis agrees with the best_alpha view
    best = {b["rank"]: b["best_alpha"] for b in cli(
        db, f"SELECT rank, best_alpha FROM best_alpha WHERE sweep_id = {sid}")}
    for s in stars:
        check(close(best.get(s["rank"]), s["alpha_grid"]),
              f"rank {s['rank']}: grid alpha* equals the best_alpha view", best.get(s["rank"]),
              s["alpha_grid"])
    return sid


def case_api_matches_tables(port, db, sid):
    st, an = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st == 200 and len(an.get("checkpoints", [])) == 3, "GET analysis: 3 budget checkpoints",
          3, (st, an if st != 200 else len(an["checkpoints"])))
    steps = [c["step"] for c in an["checkpoints"]]
    check(steps == [30, 60, 120], "checkpoint steps at 25/50/100% of 120", [30, 60, 120], steps)
    full = an["checkpoints"][-1]
    for c in an["checkpoints"]:
        for s in c["alpha_star"]:
            log(f"step {c['step']} rank {s['rank']}: alpha* {s['alpha']:.4g} ci [{s['ci_lo']}, {s['ci_hi']}] "
                f"flat [{s['flat_lo']}, {s['flat_hi']}] flat {s['flat']} ill {s['ill_determined']} "
                f"edge {s['at_edge']} loss {s['loss']:.4g} weight {s['weight']:.4g}")
    table = {(f["method"]): f for f in cli(db, f"SELECT * FROM law_fits WHERE sweep_id = {sid}")}
    for f in full["fits"]:
        t = table.get(f["method"], {})
        for k in ("c", "c_lo", "c_hi", "p", "r2", "scatter_log2"):
            if f.get(k) is not None:
                check(close(f[k], t.get(k), 1e-9), f"fit {f['method']} {k}: API equals law_fits",
                      t.get(k), f[k])
        check(bool(t.get("insufficient")) == f["insufficient"] and t.get("reason") == f["reason"],
              f"fit {f['method']}: insufficient and reason in law_fits as in the API",
              (f["insufficient"], f["reason"]), (t.get("insufficient"), t.get("reason")))
    rows = {s["rank"]: s for s in cli(db, f"SELECT * FROM alpha_star WHERE sweep_id = {sid} AND fraction = 1")}
    for s in full["alpha_star"]:
        t = rows.get(s["rank"], {})
        for k in ("flat_lo", "flat_hi", "lo", "hi"):
            check(close(s[k], t.get(k), 1e-9), f"rank {s['rank']} {k}: API equals the alpha_star table",
                  s[k], t.get(k))
        check(bool(t.get("flat")) == s["flat"], f"rank {s['rank']}: flat stored", s["flat"], t.get("flat"))
    case_flat_and_scatter(an)
    check(an.get("drift") and all("drift_ratio" in d for d in an["drift"]),
          "drift table present", "rows with drift_ratio", an.get("drift", [])[:1])
    first = an["computed_at"]
    st2, again = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st2 == 200 and again["computed_at"] == first, "a fresh analysis is reused", first,
          again.get("computed_at"))
    time.sleep(0.05)
    st3, redo = request(port, "GET", f"/v1/sweeps/{sid}/analysis?refresh=1")
    check(st3 == 200 and redo["computed_at"] > first, "refresh=1 recomputes", f"> {first}",
          redo.get("computed_at"))
    same = all(a.keys() == b.keys() and all(
        close(a[k], b[k], 1e-11) if isinstance(a[k], float) else a[k] == b[k] for k in a)
        for a, b in zip(full["fits"], redo["checkpoints"][-1]["fits"]))
    check(same and len(full["fits"]) == len(redo["checkpoints"][-1]["fits"]),
          "recomputing gives the same fits (seeded bootstrap)", full["fits"],
          redo["checkpoints"][-1]["fits"])
    case_answers(an, full)
    # an analysis stored before answers existed is computed again, not served
    cli(db, f"UPDATE analyses SET result = json_remove(result, '$.answers', '$.headline') "
            f"WHERE sweep_id = {sid}")
    st4, old = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st4 == 200 and old.get("answers") == redo["answers"]
          and old.get("headline") == redo["headline"],
          "a stored analysis without answers is recomputed", redo["answers"],
          (st4, old.get("answers")))
    return full, an["answers"]


def case_flat_and_scatter(an):
    """docs/analysis.md's rules, checked on every checkpoint: the flat set
    holds alpha*, the overall interval is the hull of it and the bootstrap's,
    flat and ill_determined follow from the widths (2 and 3 octaves), a law
    with fewer usable ranks than its parameters + 1 is null with a reason,
    and scatter_log2 is the weighted RMS residual of the stars in octaves."""
    for c in an["checkpoints"]:
        step = c["step"]
        for s in c["alpha_star"]:
            what = f"step {step} rank {s['rank']}"
            check(s["flat_lo"] <= s["alpha"] * (1 + 1e-12) and s["alpha"] <= s["flat_hi"] * (1 + 1e-12),
                  f"{what}: the flat set holds alpha*", "flat_lo <= alpha <= flat_hi", s)
            lo = min(x for x in (s["ci_lo"], s["flat_lo"]) if x is not None)
            hi = max(x for x in (s["ci_hi"], s["flat_hi"]) if x is not None)
            check(close(s["lo"], lo, 1e-12) and close(s["hi"], hi, 1e-12),
                  f"{what}: [lo, hi] is the hull of the bootstrap and flat intervals", (lo, hi),
                  (s["lo"], s["hi"]))
            check(s["flat"] == (math.log2(s["flat_hi"] / s["flat_lo"]) > 2),
                  f"{what}: flat iff the flat set spans more than 2 octaves",
                  math.log2(s["flat_hi"] / s["flat_lo"]), s["flat"])
            check(s["ill_determined"] == (math.log2(s["hi"] / s["lo"]) > 3),
                  f"{what}: ill-determined iff [lo, hi] spans more than 3 octaves",
                  math.log2(s["hi"] / s["lo"]), s["ill_determined"])
            check((s["weight"] == 0) == (s["at_edge"] or s["ill_determined"]),
                  f"{what}: weight 0 exactly at the edge or ill-determined", s["weight"], s)
        for f in c["fits"]:
            what = f"step {step} {f['method']} fit"
            need = 3 if f["method"] == "free" else 2
            stars = [s for s in c["alpha_star"] if s["lr"] == f["lr"] and s["weight"] > 0]
            check(f["n_used"] == len(stars), f"{what}: n_used counts the weighted ranks", len(stars),
                  f["n_used"])
            check(f["insufficient"] == (f["n_used"] < need),
                  f"{what}: insufficient iff fewer than {need} usable ranks", f["n_used"] < need, f)
            if f["insufficient"]:
                nulls = {k: f[k] for k in ("c", "c_lo", "c_hi", "p", "p_lo", "p_hi", "r2", "scatter_log2")}
                check(all(v is None for v in nulls.values()) and f["poor"],
                      f"{what}: an insufficient law is null (and poor)", "all null", nulls)
                check(f"{f['n_used']} usable rank" in (f["reason"] or "") and f"needs {need}" in f["reason"],
                      f"{what}: the reason names the ranks it has and needs",
                      f"{f['n_used']} usable rank ... needs {need}", f["reason"])
                continue
            check(f["reason"] is None, f"{what}: no reason when fitted", None, f["reason"])
            sw = sum(s["weight"] for s in stars)
            ss = sum(s["weight"] * (math.log(s["alpha"]) - math.log(f["c"]) - f["p"] * math.log(s["rank"])) ** 2
                     for s in stars)
            want = math.sqrt(ss / sw) / math.log(2)
            check(close(f["scatter_log2"], want, 1e-9),
                  f"{what}: scatter_log2 = weighted RMS residual of log2 alpha* ({len(stars)} ranks)",
                  want, f["scatter_log2"])
            log(f"{what}: scatter {f['scatter_log2']:.3f} octaves, r2 {f['r2']:.3f}, {f['n_used']} ranks")


def case_answers(an, full):
    """One measured answer per tested rank, read off the last checkpoint;
    the headline is the largest rank's."""
    answers = an.get("answers") or []
    check([a["rank"] for a in answers] == [2, 4, 8], "answers: one per tested rank, ascending",
          [2, 4, 8], [a.get("rank") for a in answers])
    check(answers and an.get("headline") == answers[-1]["text"], "headline = the rank-8 answer's text",
          answers and answers[-1]["text"], an.get("headline"))
    check(str(an.get("headline")).startswith("rank 8: α ≈ "), "headline reads 'rank 8: α ≈ ...'",
          "rank 8: α ≈ ...", an.get("headline"))
    stars = {s["rank"]: s for s in full["alpha_star"]}
    regret = {(g["rank"], g["rule"]): g["regret"] for g in full["regret"]}
    for a in answers:
        s = stars[a["rank"]]
        check(a["source"] == "measured" and a["why"], f"rank {a['rank']}: measured, with a why",
              "measured", (a["source"], a["why"]))
        for k, sk in (("alpha", "alpha"), ("alpha_lo", "lo"), ("alpha_hi", "hi"),
                      ("loss", "loss"), ("lr", "lr"), ("ill_determined", "ill_determined"),
                      ("at_edge", "at_edge")):
            check(a[k] == s[sk], f"rank {a['rank']}: answer {k} = alpha_star {sk}", s[sk], a[k])
        names = [r["name"] for r in a["rules"]]
        check(names == ["alpha=r", "alpha=2r", "rslora16"], f"rank {a['rank']}: the three rules",
              ["alpha=r", "alpha=2r", "rslora16"], names)
        for r in a["rules"]:
            g = regret[(a["rank"], r["name"])]
            want = None if g is None else 100 * g
            check(want == r["loss_pct"] or (want is not None and r["loss_pct"] is not None
                                            and close(want, r["loss_pct"], 1e-12)),
                  f"rank {a['rank']} {r['name']}: loss_pct = 100 x regret", want, r["loss_pct"])
            check((r["loss_pct"] is None) == (r["note"] is not None),
                  f"rank {a['rank']} {r['name']}: a note exactly when loss_pct is null",
                  "note iff null", r)


def case_recommend(port, sid, full, answers):
    sq = [f for f in full["fits"] if f["method"] == "sqrt"][0]
    fr = [f for f in full["fits"] if f["method"] == "free"][0]
    st, r = request(port, "GET", f"/v1/sweeps/{sid}/recommend?rank=16")
    if sq["insufficient"]:
        # too few usable ranks at the full budget for any law: no answer for
        # an untested rank, and the message says why
        m = (r.get("error") or {}).get("message", "") if isinstance(r, dict) else ""
        check(st == 404 and "no law" in m and "untested rank 16" in m and "2 or more ranks" in m,
              "no law at the full budget: recommend rank 16 -> 404 saying why",
              "404 no law ... untested rank 16 ... 2 or more ranks", (st, r))
        log(f"rank 16: no law at the full budget ({sq['reason']})")
    else:
        check(st == 200, "recommend rank 16", 200, (st, r))
        case_law_answer(r, sq, fr)
    case_recommend_tested(port, sid, answers)


def case_law_answer(r, sq, fr):
    """An untested rank's answer from the law (rank 16)."""
    # the law the data support: sqrt(r) when the free fit's p interval holds 0.5
    holds = fr["p_lo"] is None or fr["p_lo"] <= 0.5 <= fr["p_hi"]
    if holds:
        check(r["source"] == "law_sqrt", "p's interval holds 0.5: the sqrt(r) law", "law_sqrt", r)
        check(close(r["alpha"], sq["c"] * 4.0, 1e-9), "alpha = c * sqrt(16)", sq["c"] * 4, r["alpha"])
        if sq["c_lo"] is not None:
            check(close(r["alpha_lo"], sq["c_lo"] * 4.0, 1e-9)
                  and close(r["alpha_hi"], sq["c_hi"] * 4.0, 1e-9),
                  "interval = [c_lo, c_hi] * sqrt(16)", (sq["c_lo"] * 4, sq["c_hi"] * 4),
                  (r["alpha_lo"], r["alpha_hi"]))
    else:
        check(r["source"] == "law_free" and "excludes 0.5" in r["why"],
              "p's interval excludes 0.5: the free fit, saying why", "law_free", r)
        want = fr["c"] * 16 ** fr["p"]
        check(close(r["alpha"], want, 1e-9), "alpha = c * 16^p", want, r["alpha"])
    log(f"rank 16: {r['text']} ({r['why']})")
    check(close(r["alpha_sqrt"], sq["c"] * 4.0, 1e-9), "alpha_sqrt = c * sqrt(16)", sq["c"] * 4,
          r["alpha_sqrt"])
    check(r["extrapolated"] is True and r["tested_ranks"] == [2, 4, 8] and "extrapolated" in r["why"],
          "rank 16 is extrapolated, and the why says so", True, r)
    check(r["loss"] is None and r["text"].startswith("rank 16: α ≈ "),
          "a law answer: no loss of its own, the one-line text", "loss null, 'rank 16: α ≈'", r)
    check([x["name"] for x in r["rules"]] == ["alpha=r", "alpha=2r", "rslora16"],
          "rank 16: the three rules", 3, r["rules"])


def case_recommend_tested(port, sid, answers):
    """Tested ranks, bad queries and unknown sweeps."""
    st, r4 = request(port, "GET", f"/v1/sweeps/{sid}/recommend?rank=4&lr=0.003")
    check(st == 200 and r4["extrapolated"] is False, "rank 4 at lr 0.003 is not extrapolated", False, r4)
    # a tested rank: the same answer as the analysis' (the same module, the same fit)
    a4 = [a for a in answers if a["rank"] == 4][0]
    st, r4 = request(port, "GET", f"/v1/sweeps/{sid}/recommend?rank=4")
    check(st == 200, "recommend rank 4", 200, (st, r4))
    for k in a4:
        check(r4.get(k) == a4[k], f"recommend rank 4 {k} = the analysis' answer", a4[k], r4.get(k))
    st, e = request(port, "GET", f"/v1/sweeps/{sid}/recommend?rank=4&lr=0.5")
    m = (e.get("error") or {}).get("message", "") if isinstance(e, dict) else ""
    check(st == 400 and e["error"]["code"] == "bad_query" and "lr 0.5 is not in the sweep" in m
          and "its lrs are 0.003" in m, "lr not in the sweep -> 400 naming it and the sweep's lrs",
          "400 lr 0.5 is not in the sweep: its lrs are 0.003", (st, e))
    for q, code in (("rank=0", 400), ("rank=x", 400), ("", 400), ("rank=4&lr=-1", 400)):
        st, e = request(port, "GET", f"/v1/sweeps/{sid}/recommend?{q}")
        check(st == code and "error" in e, f"recommend?{q} -> {code}", code, (st, e))
    st, e = request(port, "GET", "/v1/sweeps/999/recommend?rank=4")
    check(st == 404, "recommend of an unknown sweep -> 404", 404, (st, e))
    st, e = request(port, "GET", "/v1/sweeps/999/analysis")
    check(st == 404, "analysis of an unknown sweep -> 404", 404, (st, e))
    st, e = request(port, "POST", f"/v1/sweeps/{sid}/analysis")
    check(st == 405, "POST analysis -> 405", 405, (st, e))


def check_joint_rank(jr, star, where):
    """One rank's joint optimum against its alpha* at the best lr."""
    for k, sk in (("alpha", "alpha"), ("alpha_grid", "alpha_grid"), ("alpha_lo", "lo"),
                  ("alpha_hi", "hi"), ("alpha_at_edge", "at_edge"),
                  ("ill_determined", "ill_determined"), ("loss", "loss")):
        check(jr[k] == star[sk], f"{where}: joint {k} = alpha_star {sk}", star[sk], jr[k])


def case_joint_one_lr(port, db, sid, full, answers):
    """One lr: the joint optimum is that lr's alpha* at every rank, at the lr
    grid's edge, no trade-off; the answers take the same lr; a stored
    analysis without "joint" is computed again."""
    jt = full.get("joint") or {}
    ranks = jt.get("ranks") or []
    check([r["rank"] for r in ranks] == [2, 4, 8], "joint: one entry per rank, ascending",
          [2, 4, 8], [r.get("rank") for r in ranks])
    stars = {s["rank"]: s for s in full["alpha_star"]}
    by_rank = {a["rank"]: a for a in answers}
    for r in ranks:
        check(r["lr"] == 0.003 and r["lr_at_edge"] is True and r["n_lrs"] == 1,
              f"rank {r['rank']}: lr 0.003, at the lr grid's edge (one lr)", (0.003, True, 1),
              (r["lr"], r["lr_at_edge"], r["n_lrs"]))
        check_joint_rank(r, stars[r["rank"]], f"rank {r['rank']}")
        check(by_rank[r["rank"]]["lr"] == r["lr"], f"rank {r['rank']}: the answer's lr = the joint lr",
              r["lr"], by_rank[r["rank"]]["lr"])
        t = r["tradeoff"]
        check(t["slope"] is None and t["slope_lo"] is None and t["verdict"] == "none"
              and t["text"] == "one lr only: no α–lr trade-off to measure",
              f"rank {r['rank']}: no trade-off with one lr", "null, none, 'one lr only'", t)
    pooled = jt.get("tradeoff") or {}
    check(pooled.get("slope") is None and pooled.get("verdict") == "none" and pooled.get("n_lrs") == 1,
          "pooled trade-off: none with one lr", "null / none / 1", pooled)
    st, an = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st == 200 and all("joint" in c for c in an["checkpoints"]), "every checkpoint has joint",
          True, [list(c) for c in an.get("checkpoints", [])])
    cli(db, f"UPDATE analyses SET result = json_remove(result, '$.checkpoints[2].joint') "
            f"WHERE sweep_id = {sid}")
    st, again = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st == 200 and again["checkpoints"][2].get("joint") == jt
          and again["computed_at"] > an["computed_at"],
          "a stored analysis without joint is computed again (the same joint)", jt,
          (st, again.get("computed_at"), again["checkpoints"][2].get("joint")))
    check_law_surface(again, [0.003], "one lr")
    cli(db, f"UPDATE analyses SET result = json_remove(result, '$.law_surface') WHERE sweep_id = {sid}")
    st, third = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st == 200 and third.get("law_surface") == again["law_surface"]
          and third["computed_at"] > again["computed_at"],
          "a stored analysis without law_surface is computed again (the same surface)",
          again["law_surface"], (st, third.get("law_surface")))


def check_law_surface(an, lrs, where):
    """The law surface (docs/analysis.md, "The law across lr and budget"):
    one cell per (lr, checkpoint), each the fits of that checkpoint and lr,
    sqrt_compatible by the rule, cells by lr then step, a verdict naming
    every lr."""
    ls = an.get("law_surface") or {}
    cells = ls.get("cells") or []
    want = []
    for cp in an["checkpoints"]:
        fits = {(f["lr"], f["method"]): f for f in cp["fits"]}
        for lr in sorted({f["lr"] for f in cp["fits"]}):
            want.append((lr, cp["step"], fits[(lr, "free")], fits[(lr, "sqrt")]))
    want.sort(key=lambda w: (w[0], w[1]))
    check([(c["lr"], c["step"]) for c in cells] == [(w[0], w[1]) for w in want],
          f"{where}: one cell per (lr, checkpoint), by lr then step",
          [(w[0], w[1]) for w in want], [(c.get("lr"), c.get("step")) for c in cells])
    for c, (lr, step, fr, sq) in zip(cells, want):
        got = (c["p"], c["p_lo"], c["p_hi"], c["c"], c["c_sqrt"], c["c_sqrt_lo"], c["c_sqrt_hi"],
               c["n_used"], c["insufficient"])
        exp = (fr["p"], fr["p_lo"], fr["p_hi"], fr["c"], sq["c"], sq["c_lo"], sq["c_hi"],
               fr["n_used"], fr["insufficient"])
        check(got == exp, f"{where}: cell (lr {lr}, step {step}) = its fits", exp, got)
        check(abs(c["lr_steps"] - lr * step) <= 1e-12 * lr * step, f"{where}: lr_steps",
              lr * step, c["lr_steps"])
        rule = (None if fr["insufficient"] or fr["p_lo"] is None
                else fr["p_lo"] - 1e-9 <= 0.5 <= fr["p_hi"] + 1e-9)
        check(c["sqrt_compatible"] == rule, f"{where}: sqrt_compatible of (lr {lr}, step {step})",
              rule, c["sqrt_compatible"])
    decided = [c for c in cells if c["sqrt_compatible"] is not None]
    check(ls.get("n_decided") == len(decided)
          and ls.get("n_compatible") == sum(c["sqrt_compatible"] for c in decided),
          f"{where}: n_decided, n_compatible", len(decided), (ls.get("n_decided"), ls.get("n_compatible")))
    for k in ("c_sqrt_trend", "p_trend"):
        t = ls.get(k) or {}
        ok = (t.get("insufficient") is True and t.get("slope") is None and t.get("reason")) or \
             (t.get("insufficient") is False and t.get("slope") is not None and t.get("n_cells", 0) >= 3)
        check(ok and t.get("text"), f"{where}: {k} fitted, or insufficient with a reason", "a trend", t)
    v = ls.get("verdict") or ""
    check(all(f"at lr {lr:g}:" in v for lr in lrs) or v.startswith("no (lr, budget) cell"),
          f"{where}: the verdict names every lr", lrs, v)
    log(f"{where}: {v}")


JOINT_SPEC = {
    "name": "analysis-joint",
    "task": {"task": "teacher", "d_in": 16, "d_out": 16, "n_train": 256, "n_eval": 64,
             "target_rank": 4, "target_scale": 2.0, "noise": 0.01},
    "grid": {"rank": [2, 4], "alpha": {"log2": [0, 10], "num": 6}, "lr": [0.001, 0.003, 0.01]},
    "seeds": 2, "steps": 60, "batch": 32,
    "metrics": {"log_every": 10, "eval_every": 10, "spectra_every": 60, "sharpness": False},
}


def case_joint_three_lrs(port):
    """Three lrs: per rank the lr whose alpha* has the lowest loss, its
    lr_at_edge, a slope per rank and pooled fitted over the alpha* inside
    the grid, with an interval (2 seeds, bootstrap) and a verdict."""
    st, ans = request(port, "POST", "/v1/sweeps", JOINT_SPEC)
    check(st == 201, "the three-lr sweep accepted", 201, (st, ans))
    sid = ans["id"]
    done = wait_until(lambda: request(port, "GET", f"/v1/sweeps/{sid}")[1].get("state") == "done", 120)
    check(done, "the three-lr sweep finishes", "done", request(port, "GET", f"/v1/sweeps/{sid}")[1])
    st, an = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st == 200, "analysis of the three-lr sweep", 200, (st, an))
    if st != 200:
        return
    check_law_surface(an, [0.001, 0.003, 0.01], "three lrs")
    full = an["checkpoints"][-1]
    jt = full["joint"]
    verdicts = {"none", "alpha_lr", "alpha", "undecided", "steeper", "between", "rising"}
    answers = {a["rank"]: a for a in an["answers"]}
    for r in jt["ranks"]:
        mine = [s for s in full["alpha_star"] if s["rank"] == r["rank"]]
        best = min(mine, key=lambda s: (s["loss"] if s["loss"] is not None else float("inf"), s["lr"]))
        check(r["lr"] == best["lr"] and r["n_lrs"] == 3, f"rank {r['rank']}: the lr of the lowest loss",
              best["lr"], r["lr"])
        check_joint_rank(r, best, f"rank {r['rank']} (3 lrs)")
        check(r["lr_at_edge"] == (r["lr"] in (0.001, 0.01)), f"rank {r['rank']}: lr_at_edge",
              r["lr"] in (0.001, 0.01), r["lr_at_edge"])
        check(answers[r["rank"]]["lr"] == r["lr"], f"rank {r['rank']}: the answer's lr = the joint lr",
              r["lr"], answers[r["rank"]]["lr"])
        t = r["tradeoff"]
        inside = [s for s in mine if not s["at_edge"]]
        check(t["n_points"] == (len(inside) if len(inside) >= 2 else 0) and t["verdict"] in verdicts
              and t["text"], f"rank {r['rank']}: the slope uses the alpha* inside the grid",
              len(inside), t)
        if len(inside) >= 2:
            check(t["slope"] is not None and t["verdict"] != "none", f"rank {r['rank']}: a slope",
                  "a number", t)
            if t["slope_lo"] is not None:
                check(t["slope_lo"] <= t["slope_hi"], f"rank {r['rank']}: slope_lo <= slope_hi",
                      "lo <= hi", t)
        log(f"rank {r['rank']}: best lr {r['lr']}, alpha {r['alpha']}; {t['text']}")
    log(f"all ranks: {jt['tradeoff']['text']}")
    check(jt["tradeoff"]["n_lrs"] == 3 and jt["tradeoff"]["verdict"] in verdicts,
          "pooled trade-off over 3 lrs", 3, jt["tradeoff"])


CLAIMS_SPEC = {
    "name": "analysis-claims",
    "task": {"task": "teacher", "d_in": 16, "d_out": 16, "n_train": 256, "n_eval": 64,
             "target_rank": 4, "target_scale": 2.0, "noise": 0.01},
    "grid": {"rank": [2, 4], "alpha": {"log2": [0, 9], "num": 4}, "lr": [0.001, 0.01]},
    "seeds": 2, "steps": 60, "batch": 32,
    "metrics": {"log_every": 10, "eval_every": 10, "spectra_every": 60, "sharpness": True},
}


def claims_path_ratio(cells, base, path_a, path_l, key):
    """Claim 2's point comparison (docs/analysis.md) of metric key: the
    alpha path's value over the lr path's at the shared loss change."""
    def means(c):
        rows = [r for r in cells.get(c, []) if r[key] is not None]
        if not rows:
            return None, None
        return (sum(r["loss"] for r in rows) / len(rows), sum(r[key] for r in rows) / len(rows))
    pts = [means(c) for c in [base] + path_a], [means(c) for c in [base] + path_l]
    if pts[0][0][0] is None:
        return None
    L0 = pts[0][0][0]
    downs = []
    for p in pts:
        best = 0
        for t in range(1, len(p)):
            if p[t][0] is None:
                p = p[:t]
                break
            if p[t][0] < p[best][0]:
                best = t
        downs.append(p[:best + 1])
    if min(len(d) for d in downs) < 2:
        return None
    dc = min(L0 - d[-1][0] for d in downs)
    vals = []
    for d in downs:
        for t in range(1, len(d)):
            d1, d0 = L0 - d[t][0], L0 - d[t - 1][0]
            if d1 >= dc:
                w = (dc - d0) / (d1 - d0) if d1 > d0 else 1
                vals.append(d[t - 1][1] + max(0, min(1, w)) * (d[t][1] - d[t - 1][1]))
                break
    return vals[0] / vals[1] if vals[1] > 0 else None


def case_claims(port, db):
    """Claims 1 and 2 on a real sweep with sharpness on and two lrs: every
    figure recomputed here from the store's rows (the view
    sharpness_converged, the drift table), the intervals holding them, and
    verdicts and texts present."""
    st, ans = request(port, "POST", "/v1/sweeps", CLAIMS_SPEC)
    check(st == 201, "the claims sweep accepted", 201, (st, ans))
    sid = ans["id"]
    done = wait_until(lambda: request(port, "GET", f"/v1/sweeps/{sid}")[1].get("state") == "done", 180)
    check(done, "the claims sweep finishes", "done", request(port, "GET", f"/v1/sweeps/{sid}")[1])
    st, an = request(port, "GET", f"/v1/sweeps/{sid}/analysis")
    check(st == 200 and "claims" in an, "the analysis has claims", 200, (st, list(an)))
    if st != 200 or "claims" not in an:
        return
    cl = an["claims"]
    ls = an.get("law_surface") or {}
    law = cl.get("law") or {}
    nc, nd = ls.get("n_compatible"), ls.get("n_decided")
    want = ("missing" if not nd else "supported" if nc == nd else
            "contradicted" if nc == 0 else "mixed")
    check(law.get("verdict") == want and law.get("text") == ls.get("verdict") and
          law.get("n_compatible") == nc and law.get("n_decided") == nd,
          "claim 3 is the law surface's: its verdict from the cells that decide, its text the "
          "surface's verdict", (want, nc, nd, ls.get("verdict")), law)
    runs = cli(db, f"""SELECT r.rank, r.lr, r.alpha, r.final_eval_loss AS loss, c.lora, c.full,
        (SELECT AVG(drift_ratio) FROM drift d WHERE d.run_id = r.id
           AND d.step = (SELECT MAX(step) FROM drift WHERE run_id = r.id)) AS drift_ratio,
        (SELECT AVG(mech_ratio) FROM drift d WHERE d.run_id = r.id
           AND d.step = (SELECT MAX(step) FROM drift WHERE run_id = r.id)) AS mech_ratio
        FROM runs r LEFT JOIN sharpness_converged c ON c.run_id = r.id
         AND c.step = (SELECT MAX(step) FROM sharpness WHERE run_id = r.id)
        WHERE r.sweep_id = {sid} AND r.state = 'done'""")
    cells = {}
    for r in runs:
        cells.setdefault((r["rank"], r["lr"], r["alpha"]), []).append(r)
    joint = {j["rank"]: j for j in an["checkpoints"][-1]["joint"]["ranks"]}
    sh = cl["sharpness"]
    check(len(sh["ranks"]) == 2 and sh["verdict"] in ("supported", "contradicted", "undecided", "missing")
          and sh["text"], "claim 1: two ranks and a verdict", 2, sh)
    logs = []
    for r in sh["ranks"]:
        j = joint[r["rank"]]
        check(r["lr"] == j["lr"] and r["alpha_grid"] == j["alpha_grid"],
              f"claim 1 rank {r['rank']}: at the joint optimum's lr and grid alpha", (j["lr"], j["alpha_grid"]),
              (r["lr"], r["alpha_grid"]))
        logs = [math.log(x["lora"] / x["full"]) for x in cells[(r["rank"], r["lr"], r["alpha_grid"])]
                if x["lora"] is not None and x["full"] is not None and x["lora"] > 0 and x["full"] > 0]
        want = math.exp(sum(logs) / len(logs)) if logs else None
        check(close(r["ratio"], want, 1e-9) or (want is None and r["ratio"] is None),
              f"claim 1 rank {r['rank']}: the ratio from sharpness_converged", want, r["ratio"])
        if len(logs) >= 2:
            check(r["ratio_lo"] <= r["ratio"] * (1 + 1e-9) and r["ratio"] <= r["ratio_hi"] * (1 + 1e-9),
                  f"claim 1 rank {r['rank']}: the interval holds the ratio", r["ratio"],
                  (r["ratio_lo"], r["ratio_hi"]))
        check(len(r["along_alpha"]) == 4, f"claim 1 rank {r['rank']}: 4 alphas along alpha", 4,
              len(r["along_alpha"]))
    dr = cl["drift"]
    check(dr["verdict"] in ("supported", "contradicted", "alike", "missing") and dr["text"],
          "claim 2: a verdict and a text", "a verdict", dr)
    for r in dr["ranks"]:
        base = (r["rank"], 0.001, 1.0)
        pa = [(r["rank"], 0.001, a) for a in (8.0, 64.0, 512.0)]
        pl = [(r["rank"], 0.01, 1.0)]
        check((r["lr"], r["alpha"]) == (0.001, 1.0) and len(r["along_alpha"]) == 4 and len(r["along_lr"]) == 2,
              f"claim 2 rank {r['rank']}: base and paths", (0.001, 1.0, 4, 2),
              (r["lr"], r["alpha"], len(r["along_alpha"]), len(r["along_lr"])))
        for key in ("drift_ratio", "mech_ratio"):
            want = claims_path_ratio(cells, base, pa, pl, key)
            got = r[key]
            check(close(got.get("ratio"), want, 1e-9) or (want is None and got.get("ratio") is None
                                                          and got.get("missing")),
                  f"claim 2 rank {r['rank']} {key}: ratio from the drift rows", want, got)
            if got.get("ratio_lo") is not None:
                check(got["ratio_lo"] <= got["ratio"] * (1 + 1e-9) <= got["ratio_hi"] * (1 + 2e-9),
                      f"claim 2 rank {r['rank']} {key}: the interval holds the ratio", got["ratio"],
                      (got["ratio_lo"], got["ratio_hi"]))
    log(f"claim 1: {sh['text']}")
    log(f"claim 2: {dr['text']}")
    return sid


def case_nothing_finished(ctx):
    sleeper = os.path.join(ctx.tmp, "sleeper.sh")
    with open(sleeper, "w") as f:
        f.write("#!/bin/sh\nexec sleep 60\n")
    os.chmod(sleeper, 0o755)
    d = Daemon(ctx, "idle", workers=1, worker=sleeper, extra=["--check-timeout", "0"])
    st, ans = request(d.port, "POST", "/v1/sweeps", SPEC)
    st, e = request(d.port, "GET", f"/v1/sweeps/{ans['id']}/analysis")
    check(st == 404 and "no finished runs" in e["error"]["message"],
          "analysis before any run finished -> 404 saying why", 404, (st, e))
    d.stop(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    args = ap.parse_args()
    ctx = Ctx(args)
    try:
        d = Daemon(ctx, "analysis")
        try:
            sid = case_background_and_tables(d.port, d.db)
            full, answers = case_api_matches_tables(d.port, d.db, sid)
            case_recommend(d.port, sid, full, answers)
            case_joint_one_lr(d.port, d.db, sid, full, answers)
            case_joint_three_lrs(d.port)
            case_claims(d.port, d.db)
        finally:
            check(d.stop(20) == 0, "daemon drains and exits 0 on SIGTERM", 0, d.proc.returncode)
        case_nothing_finished(ctx)
    finally:
        ctx.cleanup(keep=False)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
