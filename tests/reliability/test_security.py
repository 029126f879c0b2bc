#!/usr/bin/python3
"""Hostile clients against `loralpha serve`, beyond test_daemon.py's bad
requests and test_dashboard_api.py's traversal cases.

    test_security.py --loralpha PATH --worker PATH [--keep]

  1. A client that pipelines 2000 requests for a large run and never reads:
     the daemon stops parsing its requests while its answers are unsent, so
     its memory stays bounded and others are answered at once.
  2. 100 slow clients trickling headers and 20 trickling a body, at once:
     each is answered 408 and cut off at --request-timeout, while 50 other
     requests are answered quickly.
  3. Limits at their edges: a body of exactly --max-body bytes is read, one
     byte more is 413; a header section just under 16 KiB is read, over it,
     in one header, in a URL or in 3000 tiny headers, is 431.
  4. Ambiguous framing (Content-Length with chunked, two Content-Lengths,
     a space before the colon, a bad chunk): 400 and the connection closed,
     so nothing smuggled after it is run.
  5. More ways out of the dashboard's directory: backslashes, double and
     overlong encodings, absolute-form targets, a linked directory, a
     directory as a file: all refused, no byte of the secret served.
"""
import argparse
import os
import socket
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as hs
from harness import auth_raw, log, scaled, wait_until

R = hs.R
NO_RSS = False  # --no-rss: sanitizer builds keep freed memory
SECRET = b"secret-content-never-served"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed_health(d):
    t0 = time.monotonic()
    try:
        st = d.get("/v1/health").status
    except OSError as e:
        st = repr(e)
    return st, time.monotonic() - t0


def case_slow_reader(ctx, d, run_id):
    size = len(d.get(f"/v1/runs/{run_id}").body)
    before = rss_mb(d.proc.pid)
    s = socket.create_connection(("127.0.0.1", d.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    req = auth_raw(d.port, b"GET /v1/runs/%d HTTP/1.1\r\nHost: x\r\n\r\n" % run_id)
    sent, t0 = 0, time.monotonic()
    while sent < 2000 * len(req) and time.monotonic() - t0 < 10:
        try:
            sent += s.send(req * 50)
        except BlockingIOError:
            time.sleep(0.05)
    # The kernel takes the first few answers (its send buffer); then the
    # daemon must be free for others while the connection stays open.
    wait_until(lambda: timed_health(d)[0] == 200, 30)
    time.sleep(1)
    lat = [timed_health(d) for _ in range(5)]
    grown = rss_mb(d.proc.pid) - before
    log(f"slow reader: {sent // len(req)} requests of {size} bytes each sent, none read; "
        f"RSS +{grown:.1f} MB; health {lat}")
    R.check(all(st == 200 and t < scaled(1.0) for st, t in lat),
            "a client that pipelines and never reads: others answered in < 1 s",
            f"200 in < {scaled(1.0)} s", lat)
    R.check(grown < 32 or NO_RSS, "a client that pipelines and never reads: RSS grows < 32 MB "
            f"(its answers would be {sent // len(req) * size / 1e6:.0f} MB)", "< 32 MB",
            f"{grown:.1f} MB")
    s.close()
    R.check(wait_until(lambda: d.metrics()[0].get("loralpha_http_connections", 99) <= 1, 10),
            "its connection is gone once it closes", "<= 1 open", d.metrics()[0].get(
                "loralpha_http_connections"))


def trickle(port, head, body, out):
    """Sends head at once, then body one byte each 0.2 s (or head one byte
    each 0.2 s when body is None). Appends (first status, seconds, bytes)."""
    msg = head if body is not None else b""
    slow = body if body is not None else head
    t0 = time.monotonic()
    got = b""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        if msg:
            s.sendall(msg)
        s.setblocking(False)
        i = 0
        while time.monotonic() - t0 < 15:
            if i < len(slow):
                try:
                    s.send(slow[i:i + 1])
                    i += 1
                except OSError:
                    pass
            time.sleep(0.2)
            try:
                c = s.recv(65536)
                if not c:
                    break
                got += c
            except BlockingIOError:
                pass
            except OSError:
                break
        s.close()
    except OSError as e:
        got += repr(e).encode()
    resps = hs.parse_responses(got) if got.startswith(b"HTTP/") else []
    out.append((resps[0][0] if resps else None, time.monotonic() - t0, len(got)))


def case_slow_clients(d):
    out = []
    ths = []
    head = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 300 + b"\r\n\r\n"
    body_head = (b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 500\r\n\r\n")
    for _ in range(100):
        ths.append(threading.Thread(target=trickle, args=(d.port, head, None, out), daemon=True))
    for _ in range(20):
        ths.append(threading.Thread(target=trickle, args=(d.port, body_head, b"{" * 500, out),
                                    daemon=True))
    for th in ths:
        th.start()
    time.sleep(0.5)
    lat = []
    for _ in range(50):
        lat.append(timed_health(d))
        time.sleep(0.02)
    for th in ths:
        th.join(20)
    R.check(all(st == 200 and t < scaled(1.0) for st, t in lat),
            "120 slow clients at once: 50 other requests answered in < 1 s each",
            f"200 in < {scaled(1.0)} s", [x for x in lat if not (x[0] == 200 and x[1] < scaled(1.0))][:5])
    R.eq(len(out), 120, "every slow client finished")
    late = [x for x in out if not (x[0] == 408 and x[1] < scaled(5.0))]
    R.eq(late, [], "every slow client (headers or body) answered 408 and cut off within "
                   "5 s (--request-timeout 2)")
    log(f"slow clients: {len(out)} cut off after {min(x[1] for x in out):.1f} to "
        f"{max(x[1] for x in out):.1f} s")


def status_of(port, data):
    out = hs.raw_exchange(port, data, timeout=5)
    resps = hs.parse_responses(out) if out.startswith(b"HTTP/") else []
    return [r[0] for r in resps], out


def case_limits(d, max_body):
    p = d.port
    body = b" " * (max_body - 2) + b"{}"
    st, out = status_of(p, b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                        % len(body) + body)
    R.eq(st, [422], f"a body of exactly --max-body ({max_body}) bytes is read (422 for {{}})")
    body += b" "
    st, out = status_of(p, b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    R.eq(st, [413], "a body of --max-body + 1 bytes: 413")
    line = b"GET /v1/health HTTP/1.1\r\n"
    pad = 16 * 1024 - len(line) - 200
    st, _ = status_of(p, line + b"X-Pad: " + b"p" * pad +
                      b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    R.eq(st, [200], "a header section just under 16 KiB is read")
    st, _ = status_of(p, line + b"X-Pad: " + b"p" * (16 * 1024) + b"\r\n\r\n")
    R.eq(st, [431], "one header value over 16 KiB: 431")
    st, _ = status_of(p, b"GET /v1/health?" + b"q" * (16 * 1024) + b" HTTP/1.1\r\n\r\n")
    R.eq(st, [431], "a URL over 16 KiB: 431")
    st, _ = status_of(p, line + b"".join(b"H%d: v\r\n" % i for i in range(3000)) + b"\r\n")
    R.eq(st, [431], "3000 tiny headers (over 16 KiB together): 431")


def case_framing(d):
    p = d.port
    smuggled = b"GET /v2/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    cases = [
        ("Content-Length with chunked", b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Length: 4"
         b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled),
        ("two Content-Lengths", b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
         b"Content-Length: 41\r\n\r\n" + smuggled),
        ("space before the colon", b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Length : 41"
         b"\r\n\r\n" + smuggled),
        ("bad chunk size", b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
         b"\r\n\r\n-1\r\n" + smuggled),
    ]
    for what, data in cases:
        st, out = status_of(p, data)
        R.check(st == [400] and b"smuggled" not in out,
                f"{what}: 400, connection closed, the request after it never run",
                [400], (st, out[-200:]))
    R.eq(hs.error_shape(d.get("/v2/smuggled").body)[0], "not_found",
         "the smuggled route does not exist (a 404 from it would mean it ran)")


def make_web(tmp):
    web = os.path.join(tmp, "web")
    os.makedirs(os.path.join(web, "sub"))
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!doctype html><title>t</title>")
    with open(os.path.join(web, "sub", "a.js"), "w") as f:
        f.write("export const a = 1;\n")
    out = os.path.join(tmp, "outside")
    os.makedirs(out)
    with open(os.path.join(out, "secret.js"), "wb") as f:
        f.write(SECRET)
    with open(os.path.join(tmp, "secret.js"), "wb") as f:
        f.write(SECRET)
    os.symlink(out, os.path.join(web, "linkdir"))
    return web


def case_static(d):
    p = d.port
    st, out = status_of(p, b"GET /sub/a.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    R.eq(st, [200], "a dashboard file is served (the web root works)")
    targets = [b"/..\\secret.js", b"/sub\\..\\..\\secret.js", b"/%5c..%5csecret.js",
               b"/%252e%252e/secret.js", b"/%c0%ae%c0%ae/secret.js", b"/.%2e/secret.js",
               b"/sub/.%2E/.%2E/secret.js", b"/linkdir/secret.js", b"/sub/a.js/../../secret.js",
               b"http://x/../secret.js", b"http://x/%2e%2e/secret.js", b"/sub/", b"/sub",
               b"/./index.html", b"/index.html/.", b"/%2fsecret.js", b"/sub//a.js"]
    for t in targets:
        st, out = status_of(p, b"GET " + t + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        R.check(len(st) == 1 and st[0] in (400, 404) and SECRET not in out,
                f"GET {t.decode()} refused, nothing of the secret served", "400 or 404",
                (st, out[:160]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-rss", action="store_true",
                    help="do not bound the RSS (sanitizer builds hold freed memory)")
    args = ap.parse_args()
    global NO_RSS
    NO_RSS = args.no_rss
    ctx = hs.Ctx(args)
    t0 = time.monotonic()
    max_body = 8192
    try:
        web = make_web(ctx.tmp)
        d = hs.Daemon(ctx, "security", ctx.path("sec.db"), 1,
                      extra=["--request-timeout", "2", "--max-body", str(max_body),
                             "--web", web])
        sid = d.submit(hs.make_spec("w", [1], [1.0], [0.003], 3000, task=hs.WIDE_TASK,
                                    batch=64, metrics={"log_every": 1, "eval_every": 100,
                                                       "spectra_every": 1000,
                                                       "sharpness": False}), "a run to read")
        d.wait_sweep(sid, 60)
        run_id = d.get(f"/v1/sweeps/{sid}/runs").json["runs"][0]["id"]
        for name, fn in (("slow reader", lambda: case_slow_reader(ctx, d, run_id)),
                         ("slow clients", lambda: case_slow_clients(d)),
                         ("limits", lambda: case_limits(d, max_body)),
                         ("framing", lambda: case_framing(d)),
                         ("static files", lambda: case_static(d))):
            R.case = name
            try:
                fn()
            except Exception as e:
                R.check(False, "case ran to the end", "no exception",
                        f"{e!r}\n{traceback.format_exc()}")
            R.check(d.proc.poll() is None and d.get("/v1/health").status == 200,
                    "the daemon still serves after it", "200", d.proc.returncode)
        R.case = ""
        R.eq(d.stop(), 0, "daemon exits 0")
    except Exception as e:
        R.check(False, "test ran to the end", "no exception", f"{e!r}\n{traceback.format_exc()}")
    finally:
        ctx.cleanup(args.keep)
    log(f"total {time.monotonic() - t0:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
