#!/usr/bin/python3
"""test_dashboard_api.py: what the dashboard needs from the daemon, over
real HTTP: its files served from the web root and nothing outside it (no
path traversal, no hidden files, no links out), downsampled curves for a
whole sweep, and a run's curves downsampled on request.

    test_dashboard_api.py --loralpha PATH --worker PATH
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Results, auth, read_token, register_token, state_args

R = Results()
check = R.check


def get(port, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, headers=auth(port))
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.getheader("Content-Type", ""), body


def raw_get(port, target):
    """A request line sent as is (http.client would normalise the path)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else -1


def make_web(tmp):
    web = os.path.join(tmp, "web")
    os.makedirs(os.path.join(web, "sub"))
    files = {"index.html": "<!doctype html><title>t</title>", "app.js": "export const x = 1;\n",
             "sub/x.css": "body{}", ".hidden.js": "secret", "noext": "x"}
    for name, text in files.items():
        with open(os.path.join(web, name), "w") as f:
            f.write(text)
    with open(os.path.join(tmp, "secret.txt"), "w") as f:
        f.write("do not serve")
    os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(web, "link.txt"))
    return web, files


def start(args, tmp, web):
    port_file = os.path.join(tmp, "port")
    argv = [args.loralpha, "serve", "--listen", "127.0.0.1:0", "--port-file",
            port_file, "--db", os.path.join(tmp, "d.db"), "--worker",
            args.worker, "--max-workers", "2", "--web", web, *state_args(tmp, "web")]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=tmp)
    for _ in range(300):
        if os.path.exists(port_file) and open(port_file).read().endswith("\n"):
            port = int(open(port_file).read())
            register_token(port, read_token(argv))
            return p, port
        time.sleep(0.02)
    p.kill()
    raise RuntimeError("daemon did not start")


def case_files(port, files):
    st, ct, body = get(port, "/")
    check(st == 200 and ct.startswith("text/html") and body.decode() == files["index.html"],
          "GET / is index.html", (200, "text/html"), (st, ct, body[:60]))
    st, ct, body = get(port, "/app.js")
    check(st == 200 and ct.startswith("text/javascript") and body.decode() == files["app.js"],
          "GET /app.js as JavaScript", (200, "text/javascript"), (st, ct))
    st, ct, _ = get(port, "/sub/x.css")
    check(st == 200 and ct.startswith("text/css"), "GET /sub/x.css as CSS", 200, (st, ct))
    st, _, _ = get(port, "/app.js", "HEAD")
    check(st == 200, "HEAD /app.js", 200, st)
    for target in ("/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt",
                   "/sub/%2E%2E/%2E%2E/secret.txt", "/.hidden.js", "/link.txt", "/nope.html",
                   "/noext", "/sub", "//etc/passwd", "/sub/..%2f..%2fsecret.txt",
                   "/%00index.html", "/index.html%00.js"):
        st = raw_get(port, target)
        check(st in (400, 404), f"GET {target} refused", "400 or 404", st)
    st, ct, body = get(port, "/", "POST")
    check(st == 405, "POST / -> 405", 405, st)
    st, _, body = get(port, "/v1/health")
    check(st == 200, "the API still answers", 200, st)


SPEC = {"name": "curves", "task": {"task": "teacher", "d_in": 16, "d_out": 16, "n_train": 256,
                                   "n_eval": 64},
        "grid": {"rank": [1, 2], "alpha": [1, 8], "lr": [0.01]}, "seeds": 1, "steps": 100,
        "batch": 16, "metrics": {"log_every": 1, "eval_every": 2, "sharpness": False}}


def case_curves(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/sweeps", json.dumps(SPEC),
                 auth(port, {"Content-Type": "application/json"}))
    sid = json.loads(conn.getresponse().read())["id"]
    conn.close()
    for _ in range(600):
        if json.loads(get(port, f"/v1/sweeps/{sid}")[2])["state"] == "done":
            break
        time.sleep(0.05)
    st, _, body = get(port, f"/v1/sweeps/{sid}/curves?kind=eval&points=6")
    doc = json.loads(body)
    check(st == 200 and len(doc["runs"]) == 4, "curves of every run", 4, (st, len(doc.get("runs", []))))
    for r in doc["runs"]:
        check(2 <= len(r["step"]) <= 6 and len(r["step"]) == len(r["loss"]) and
              r["step"][0] == 0 and r["step"][-1] == 100 and r["step"] == sorted(r["step"]),
              f"run {r['id']}: at most 6 points, first (0) and last (100) kept, in order",
              "<= 6, 0 ... 100", r["step"])
    st, _, body = get(port, f"/v1/sweeps/{sid}/curves?kind=train")
    doc = json.loads(body)
    check(st == 200 and all(len(r["step"]) == 100 for r in doc["runs"]),
          "train curves below the default of 200 points are whole", 100,
          [len(r["step"]) for r in doc.get("runs", [])])
    st, _, body = get(port, f"/v1/sweeps/{sid}/curves?rank=2")
    check(st == 200 and {r["rank"] for r in json.loads(body)["runs"]} == {2}, "rank filter", {2},
          body[:100])
    for q, code in (("kind=bogus", 400), ("points=0", 400), ("points=5000", 400),
                    ("rank=x", 400)):
        st, _, _ = get(port, f"/v1/sweeps/{sid}/curves?{q}")
        check(st == code, f"curves?{q} -> {code}", code, st)
    st, _, _ = get(port, "/v1/sweeps/9999/curves")
    check(st == 404, "curves of an unknown sweep -> 404", 404, st)
    run_id = json.loads(get(port, f"/v1/sweeps/{sid}/runs")[2])["runs"][0]["id"]
    st, _, body = get(port, f"/v1/runs/{run_id}?points=8")
    train = json.loads(body)["curve"]["train"]
    n = len(train["step"])
    check(st == 200 and 2 <= n <= 8 and all(len(v) == n for v in train.values()),
          "run?points=8: aligned columns of at most 8 points", "<= 8", {k: len(v) for k, v in train.items()})
    st, _, body = get(port, f"/v1/runs/{run_id}")
    check(len(json.loads(body)["curve"]["train"]["step"]) == 100, "run without points: whole curve",
          100, None)
    st, _, _ = get(port, f"/v1/runs/{run_id}?points=abc")
    check(st == 400, "run?points=abc -> 400", 400, st)
    st, ct, body = get(port, f"/v1/sweeps/{sid}/report")
    text = body.decode(errors="replace")
    check(st == 200 and ct.startswith("text/html") and "curves" in text and "<svg" in text
          and text.rstrip().endswith("</html>"), "GET report: the HTML report of the sweep",
          (200, "text/html", "<svg"), (st, ct, text[:80]))
    st, ct, body = get(port, f"/v1/sweeps/{sid}/report?format=md")
    check(st == 200 and ct.startswith("text/markdown") and b"|" in body,
          "GET report?format=md: Markdown tables", (200, "text/markdown"), (st, ct))
    st, _, _ = get(port, f"/v1/sweeps/{sid}/report?format=pdf")
    check(st == 400, "report?format=pdf -> 400", 400, st)
    st, _, _ = get(port, "/v1/sweeps/9999/report")
    check(st == 404, "report of an unknown sweep -> 404", 404, st)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="la-dash-")
    web, files = make_web(tmp)
    p, port = start(args, tmp, web)
    try:
        case_files(port, files)
        case_curves(port)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
