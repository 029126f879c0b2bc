#!/usr/bin/python3
"""test_routes.py: the daemon's route table over real HTTP.

Every route of docs/api.md answers its method (and HEAD for GET), and the
documented list is exactly the daemon's; another method gets 405 naming
the methods the path allows; a path whose id is not one gets its route's
404; an unknown path gets 404 once the caller is known and 401 before;
every user route is 401 without credentials, while the ingest route of
Slurm workers answers for itself (its run token) before any user identity.
Every real in the answers is written in its shortest exact form.

    test_routes.py --loralpha PATH --worker PATH [--keep]
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import R, Ctx, Daemon, make_spec, request

HERE = os.path.dirname(os.path.abspath(__file__))
API_MD = os.path.join(HERE, "..", "..", "docs", "api.md")

# The daemon's routes: (method, path), {id} for an id.
ROUTES = [
    ("GET", "/metrics"), ("GET", "/v1/health"), ("GET", "/v1/whoami"),
    ("GET", "/v1/sweeps"), ("POST", "/v1/sweeps"),
    ("GET", "/v1/sweeps/{id}"), ("PATCH", "/v1/sweeps/{id}"), ("DELETE", "/v1/sweeps/{id}"),
    ("GET", "/v1/sweeps/{id}/runs"), ("GET", "/v1/sweeps/{id}/analysis"),
    ("GET", "/v1/sweeps/{id}/recommend"), ("GET", "/v1/sweeps/{id}/curves"),
    ("GET", "/v1/sweeps/{id}/report"), ("GET", "/v1/sweeps/{id}/search"),
    ("POST", "/v1/sweeps/{id}/cancel"),
    ("POST", "/v1/sweeps/{id}/pause"), ("POST", "/v1/sweeps/{id}/resume"),
    ("GET", "/v1/runs/{id}"), ("GET", "/v1/runs/{id}/log"), ("POST", "/v1/ingest/{id}"),
    ("POST", "/v1/ingest/{id}/log"),
]


def documented():
    """(method, path) of every route heading of docs/api.md."""
    out = set()
    with open(API_MD) as f:
        for line in f:
            if line.startswith("### "):
                for m, p in re.findall(r"`(GET|POST|PATCH|PUT|DELETE) (/[^`?\[ ]*)", line):
                    out.add((m, re.sub(r"\{[a-z_]+\}", "{id}", p)))
    return out


def noauth(d, method, path, body=None):
    """A request with no credentials at all (TCP, no bearer token)."""
    headers = {"Authorization": None}  # None: harness sends no token
    if body is not None:
        headers["Content-Type"] = "application/json"
    r = request(d.port, method, path, body, headers=headers)
    return r.status, r.body


def err_msg(r):
    """The message of an error answer, or None."""
    e = r.json.get("error") if isinstance(r.json, dict) else None
    return e.get("message") if isinstance(e, dict) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    ctx = Ctx(args)
    try:
        run(ctx)
    finally:
        ctx.cleanup(args.keep)
    return R.summary()


NUMBER = re.compile(rb'(?<=[:,\[])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?=[,\]}])')


def digits(token):
    """The significant digits of a decimal number's text."""
    mant = re.split(r"[eE]", token)[0].lstrip("-").replace(".", "")
    return len(mant.strip("0")) or 1


def check_numbers(d, path):
    """Every number outside strings in GET path's body reads back as the
    value it names with no more digits than the shortest form (Python's
    repr) needs."""
    body = d.get(path).body
    bad = []
    n = 0
    for m in NUMBER.finditer(re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', body)):
        t = m.group().decode()
        n += 1
        if ("." in t or "e" in t.lower()) and digits(t) > digits(repr(float(t))):
            bad.append((t, repr(float(t))))
    R.check(n > 0 and not bad, f"GET {path}: every real in its shortest exact form",
            "none longer than needed", bad[:5] or f"{n} numbers")


def run(ctx):
    R.eq(documented(), set(ROUTES), "docs/api.md documents exactly the daemon's routes")
    d = Daemon(ctx, "routes", workers=1)
    sid = d.submit(make_spec("routes", [1], [1.0], [0.01], 5))
    gone = d.submit(make_spec("to delete", [1], [1.0], [0.01], 5))
    d.wait_sweep(sid, 120)
    d.wait_sweep(gone, 120)
    run_id = d.get(f"/v1/sweeps/{sid}/runs").json["runs"][0]["id"]

    # numbers: 0.0003 is 0.0003 in the spec, and every real of a sweep, its
    # runs, a run and the analysis is as short as it reads back exactly
    num = d.submit(make_spec("numbers", [1, 2], [0.1, 3.0], [0.0003], 5))
    d.wait_sweep(num, 120)
    body = d.get(f"/v1/sweeps/{num}").body
    R.check(b"0.0003" in body and b"0.00029999" not in body,
            "the spec's lr 0.0003 is served as 0.0003", "0.0003", body[:300])
    num_run = d.get(f"/v1/sweeps/{num}/runs").json["runs"][0]["id"]
    for path in (f"/v1/sweeps/{num}", f"/v1/sweeps/{num}/runs", f"/v1/runs/{num_run}",
                 f"/v1/sweeps/{num}/analysis", f"/v1/sweeps/{num}/curves"):
        check_numbers(d, path)

    # every route answers its method: not 404 or 405
    bodies = {("POST", "/v1/sweeps"): make_spec("routes2", [1], [1.0], [0.01], 5),
              ("PATCH", "/v1/sweeps/{id}"): {"priority": 1},
              ("POST", "/v1/sweeps/{id}/pause"): {}}
    for method, path in ROUTES:
        real = path.replace("{id}", str(run_id if path.startswith(("/v1/runs", "/v1/ingest"))
                                        else gone if method == "DELETE" else sid))
        if path.endswith("/recommend"):
            real += "?rank=1"
        r = d.req(method, real, bodies.get((method, path)))
        want = {("POST", "/v1/ingest/{id}"): 403,  # a user's token is no run's
                ("POST", "/v1/ingest/{id}/log"): 403,
                ("POST", "/v1/sweeps"): 201,
                ("PATCH", "/v1/sweeps/{id}"): 409,  # a finished sweep
                ("POST", "/v1/sweeps/{id}/cancel"): 409,  # already finished
                ("POST", "/v1/sweeps/{id}/pause"): 409,
                ("POST", "/v1/sweeps/{id}/resume"): 409}.get((method, path), 200)
        if path.endswith("/log") and r.status == 404:
            # the route answered: a built-in worker's run keeps no trainer log
            R.check("log" in (err_msg(r) or ""), f"{method} {real}: its own 404",
                    "no log ...", err_msg(r))
            want = 404
        elif path.endswith("/recommend") and r.status == 404:
            # the route answered: this tiny sweep has no law to recommend from
            R.check("no law" in (err_msg(r) or ""), f"{method} {real}: its own 404",
                    "no law at lr ...", err_msg(r))
            want = 404
        elif path.endswith("/log") and r.status == 404:
            # the route answered: a teacher run keeps no log (command tasks' do)
            R.check("no log" in (err_msg(r) or ""), f"{method} {real}: its own 404",
                    "run N: no log ...", err_msg(r))
            want = 404
        else:
            R.check(r.status == want, f"{method} {real}: status", want, (r.status, err_msg(r)))
        if method == "GET":
            h = d.req("HEAD", real)
            R.check(h.status == want and h.body == b"", f"HEAD {real}: GET's status, no body",
                    (want, b""), (h.status, h.body[:80]))

    # another method: 405 naming what the path allows
    for method, path, allowed in [
            ("DELETE", "/v1/sweeps", "GET, POST"),
            ("PUT", f"/v1/sweeps/{sid}", "GET, PATCH, DELETE"),
            ("POST", f"/v1/sweeps/{sid}/runs", "GET"), ("GET", f"/v1/sweeps/{sid}/cancel", "POST"),
            ("DELETE", f"/v1/runs/{run_id}", "GET"), ("POST", "/v1/health", "GET"),
            ("POST", "/metrics", "GET"), ("GET", f"/v1/ingest/{run_id}", "POST"),
            ("GET", f"/v1/ingest/{run_id}/log", "POST")]:
        r = d.req(method, path, {} if method in ("POST", "PUT") else None)
        msg = err_msg(r) or ""
        R.check(r.status == 405 and msg.endswith(f"(allowed: {allowed})"),
                f"{method} {path}: 405 allowing {allowed}", (405, allowed), (r.status, msg))

    # an id that is not one: the route's 404
    for method, path, words in [
            ("GET", "/v1/sweeps/abc", "no such sweep"), ("GET", "/v1/sweeps/0", "no such sweep"),
            ("GET", "/v1/sweeps/-3/runs", "no such sweep"),
            ("POST", "/v1/sweeps/1x/cancel", "no such sweep"),
            ("GET", "/v1/sweeps/1234567890123456789", "no such sweep"),
            ("GET", "/v1/runs/x", "no such run"),
            ("POST", "/v1/ingest/x", "expected /v1/ingest/{run}")]:
        r = d.req(method, path, {} if method == "POST" else None)
        R.check(r.status == 404 and words in (err_msg(r) or ""), f"{method} {path}: 404, {words}",
                (404, words), (r.status, err_msg(r)))
    # a sweep or run that does not exist
    for path, words in [("/v1/sweeps/999999", "sweep 999999 not found"),
                        ("/v1/sweeps/999999/analysis", "sweep 999999 not found"),
                        ("/v1/runs/999999", "999999")]:
        r = d.get(path)
        R.check(r.status == 404 and words in (err_msg(r) or ""), f"GET {path}: 404",
                (404, words), (r.status, err_msg(r)))

    # unknown paths: 404 for a known caller, 401 for anyone else
    for path in ["/v1", "/v1/nope", f"/v1/sweeps/{sid}/nope", f"/v1/sweeps/{sid}/runs/x",
                 "/v1/ingest", f"/v1/ingest/{run_id}/x", "/v1/a/b/c/d/e"]:
        r = d.get(path)
        R.check(r.status == 404, f"GET {path}: 404 when authenticated", 404, (r.status, err_msg(r)))
        st, _ = noauth(d, "GET", path)
        R.eq(st, 401, f"GET {path}: 401 without credentials")

    # every user route is 401 without credentials, and counted
    before = d.metrics()[0].get("loralpha_http_unauthorized_total")
    n = 0
    for method, path in ROUTES:
        if path.startswith("/v1/ingest"):
            continue
        real = path.replace("{id}", str(sid))
        st, _ = noauth(d, method, real, "{}" if method != "GET" else None)
        R.eq(st, 401, f"{method} {real}: 401 without credentials")
        n += 1
    after = d.metrics()[0].get("loralpha_http_unauthorized_total")
    if before is not None and after is not None:
        R.eq(after - before, n, "/metrics counts every 401")
    # the ingest route answers for itself before any user identity
    st, body = noauth(d, "POST", f"/v1/ingest/{run_id}", "")
    R.check(st == 401 and b"run token" in body, "POST /v1/ingest/{run} without a token: 401, "
            "a run token is required", (401, "run token"), (st, body[:200]))
    st, body = noauth(d, "GET", f"/v1/ingest/{run_id}")
    R.eq(st, 405, "GET /v1/ingest/{run} without credentials: 405 (its route answers)")
    st, body = noauth(d, "POST", "/v1/ingest/x", "")
    R.eq(st, 404, "POST /v1/ingest/x without credentials: 404 (its route answers)")
    st, body = noauth(d, "POST", f"/v1/ingest/{run_id}/log?bytes=0", "")
    R.check(st == 401 and b"run token" in body, "POST /v1/ingest/{run}/log without a token: "
            "401, a run token is required", (401, "run token"), (st, body[:200]))
    st, body = noauth(d, "POST", "/v1/ingest/x/log", "")
    R.check(st == 404 and b"expected /v1/ingest/{run}/log" in body,
            "POST /v1/ingest/x/log without credentials: its route's 404",
            (404, "expected /v1/ingest/{run}/log"), (st, body[:200]))
    r = request(d.port, "POST", f"/v1/ingest/{run_id}", "",
                headers={"Authorization": "Bearer " + "0" * 64})
    R.check(r.status == 403, "POST /v1/ingest/{run} with a wrong token: 403", 403,
            (r.status, err_msg(r)))
    d.stop()


if __name__ == "__main__":
    sys.exit(main())
