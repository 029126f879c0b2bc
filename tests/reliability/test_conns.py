#!/usr/bin/python3
"""Connections: clients without credentials cannot lock anyone out.

    test_conns.py --loralpha PATH --worker PATH [--keep]

Against a real daemon (TCP on 127.0.0.1, a Unix socket of mode 0666):

  1. Hold: 1100 TCP connections without a token, a third each idle, with
     half a request sent, or after a request answered 401, from one address
     and then spread over 127.0.0.2..127.0.0.12, and once more while one
     thread keeps opening new ones (never fewer than 1100 open). While they
     are open, root and a second local user on the Unix socket and an
     authenticated TCP client from 127.0.0.1 are each answered 200, and
     /metrics counts the evictions.
  2. Per peer (--max-connections-per-peer 16): the 17th authenticated
     connection of one address is refused 503, another address's is served;
     with 16 unauthenticated ones open, the 17th of that address is served
     and the address's oldest is closed; on the Unix socket root's 17th is
     refused while the second user's first is served.
  3. Deadline (--unauthenticated-timeout 2): an idle connection, one with
     half a request (answered 408), one after a 401, one after a wrong
     run token on the ingest route (403), and one that keeps
     sending requests without a token are all closed about 2 s after they
     connected; an authenticated connection opened before them still
     serves after they are gone.

  4. Settings: the five keys and flags are read from a config file and
     the command line and printed by --check-config; out-of-range and
     mistyped values are refused with the key or flag named.

Every wait is for an event (an answer, the server's close) with a generous
deadline; the test raises its own open-files limit for its sockets.
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as hs
import localusers
from harness import TOKENS, log, scaled, wait_until

R = hs.R
HOLD = 1100
PEER_LIMIT = 16
DEADLINE_S = 2
HALF = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"
NO_TOKEN = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def tcp(port, src="127.0.0.1", timeout=30):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def unix(path, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def authed(port, path="/v1/health"):
    return (b"GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
            % (path.encode(), TOKENS[port].encode()))


def read_response(s):
    """One response from s: (status, headers, body), or ("error", why)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            c = s.recv(65536)
            if not c:
                return ("error", f"closed after {data[:200]!r}")
            data += c
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in
                (ln.partition(":") for ln in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        while len(body) < n:
            c = s.recv(65536)
            if not c:
                break
            body += c
        return (int(lines[0].split()[1]), hdrs, body)
    except OSError as e:
        return ("error", repr(e))


def ask(s, req):
    """Sends req on s and reads the answer: ((status, headers, body), seconds)."""
    t0 = time.monotonic()
    try:
        s.sendall(req)
    except OSError as e:
        return ("error", repr(e)), time.monotonic() - t0
    return read_response(s), time.monotonic() - t0


def wait_closed(s, timeout):
    """Reads s until the server closes it: (seconds waited, bytes read), or
    (None, bytes) if it is still open at the timeout."""
    t0 = time.monotonic()
    got = b""
    s.settimeout(0.5)
    while time.monotonic() - t0 < timeout:
        try:
            c = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0, got
        if not c:
            return time.monotonic() - t0, got
        got += c
    return None, got


def hold(port, n, sources, flood_until=None):
    """Opens n connections without a token, spread over sources, a third
    idle, a third with half a request, a third after a request without a
    token (its 401 left unread). The sockets, to close later."""
    socks = []
    for i in range(n):
        try:
            s = tcp(port, sources[i % len(sources)], timeout=10)
        except OSError as e:
            R.check(False, f"hold: connection {i} opens", "connected", repr(e))
            break
        try:
            if i % 3 == 1:
                s.sendall(HALF)
            elif i % 3 == 2:
                s.sendall(NO_TOKEN)
        except OSError:
            pass  # evicted already: fine
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def others_answered(d, sock_path, user, what):
    """Root and user on the Unix socket and a token on TCP are answered."""
    s = unix(sock_path)
    got, dt = ask(s, b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
    s.close()
    R.check(got[0] == 200 and dt < scaled(10), f"{what}: root on the Unix socket is answered",
            "200 within 10 s", (got[0], round(dt, 3), got[-1][:200]))
    t0 = time.monotonic()
    got = user.http(sock_path, "GET", "/v1/whoami")
    dt = time.monotonic() - t0
    R.check(got[0] == 200 and json.loads(got[2]).get("user") == user.name,
            f"{what}: a second local user on the Unix socket is answered",
            f"200 as {user.name}", (got[0], round(dt, 3), got[-1][:200]))
    s = tcp(d.port)
    got, dt = ask(s, authed(d.port, "/v1/whoami"))
    R.check(got[0] == 200 and dt < scaled(10),
            f"{what}: an authenticated TCP client from 127.0.0.1 is answered",
            "200 within 10 s", (got[0], round(dt, 3), got[-1][:200]))
    got2, _ = ask(s, authed(d.port))
    R.check(got2[0] == 200, f"{what}: and again on the same connection", 200, got2[0])
    s.close()
    log(f"{what}: others answered (last TCP request {dt * 1000:.1f} ms)")


def metric(d, name):
    return d.metrics()[0].get(name, 0)


def case_hold(ctx, user):
    sock_path = ctx.path("hold.sock")
    d = hs.Daemon(ctx, "hold", ctx.path("hold.db"), 1,
                  extra=["--socket", sock_path, "--socket-mode", "0666",
                         "--unauthenticated-timeout", "600", "--request-timeout", "600"])
    for what, sources in (("one address", ["127.0.0.1"]),
                          ("11 addresses", [f"127.0.0.{i}" for i in range(2, 13)])):
        ev0 = metric(d, "loralpha_http_connections_evicted_total")
        t0 = time.monotonic()
        socks = hold(d.port, HOLD, sources)
        log(f"hold ({what}): {len(socks)} connections opened in {time.monotonic() - t0:.1f} s")
        R.eq(len(socks), HOLD, f"hold ({what}): every connection is accepted by the kernel")
        others_answered(d, sock_path, user, f"hold ({what})")
        vals = d.metrics()[0]
        open_unauth = vals.get("loralpha_http_connections_unauthenticated", -1)
        evicted = vals.get("loralpha_http_connections_evicted_total", 0) - ev0
        cap = 128 if len(sources) == 1 else 512
        log(f"hold ({what}): {open_unauth:.0f} unauthenticated open, {evicted:.0f} evicted")
        R.check(0 < open_unauth <= cap, f"hold ({what}): unauthenticated connections open",
                f"1..{cap}", open_unauth)
        R.check(evicted >= HOLD - cap, f"hold ({what}): the oldest were evicted",
                f">= {HOLD - cap}", evicted)
        close_all(socks)
        R.check(wait_until(lambda: metric(d, "loralpha_http_connections") <= 1, 30),
                f"hold ({what}): all gone once closed", "<= 1 open",
                metric(d, "loralpha_http_connections"))
    # the same while a thread keeps opening connections without a token
    stop = threading.Event()
    opened = [0]

    def flood():
        socks = []
        srcs = [f"127.0.0.{i}" for i in range(2, 13)]
        while not stop.is_set():
            try:
                socks.append(tcp(d.port, srcs[opened[0] % len(srcs)], timeout=5))
                opened[0] += 1
            except OSError:
                pass
            if len(socks) >= HOLD + 100:  # never fewer than HOLD open
                close_all(socks[:100])
                del socks[:100]
        close_all(socks)

    th = threading.Thread(target=flood, daemon=True)
    th.start()
    wait_until(lambda: opened[0] >= HOLD, 60)
    try:
        for _ in range(5):
            others_answered(d, sock_path, user, "flood")
    finally:
        stop.set()
        th.join(30)
    log(f"flood: {opened[0]} connections opened meanwhile")
    R.check(opened[0] >= HOLD, "flood: the flood ran", f">= {HOLD}", opened[0])
    R.eq(d.stop(), 0, "hold: daemon exits 0")


def case_peer(ctx, user):
    sock_path = ctx.path("peer.sock")
    d = hs.Daemon(ctx, "peer", ctx.path("peer.db"), 1,
                  extra=["--socket", sock_path, "--socket-mode", "0666",
                         "--max-connections-per-peer", str(PEER_LIMIT),
                         "--unauthenticated-timeout", "600"])
    # authenticated connections: the limit refuses
    mine = []
    for i in range(PEER_LIMIT):
        s = tcp(d.port, "127.0.0.2")
        got, _ = ask(s, authed(d.port))
        R.eq(got[0], 200, f"peer: authenticated connection {i + 1} of 127.0.0.2")
        mine.append(s)
    s = tcp(d.port, "127.0.0.2")
    got, _ = ask(s, authed(d.port))
    R.check(got[0] == 503 and b"too many connections from this address" in got[-1],
            f"peer: connection {PEER_LIMIT + 1} of 127.0.0.2 is refused", "503",
            (got[0], got[-1][:200]))
    s.close()
    s = tcp(d.port, "127.0.0.3")
    got, _ = ask(s, authed(d.port))
    R.eq(got[0], 200, "peer: 127.0.0.3 is served meanwhile")
    s.close()
    refused = d.metrics()[0].get('loralpha_http_connections_refused_total{limit="peer"}')
    R.eq(refused, 1, "peer: /metrics counts the refusal")
    close_all(mine)
    # unauthenticated ones: the newcomer evicts the address's oldest
    mine = [tcp(d.port, "127.0.0.4") for _ in range(PEER_LIMIT)]
    for s in mine:
        s.sendall(NO_TOKEN)
        R.eq(read_response(s)[0], 401, "peer: a request without a token is 401")
    s = tcp(d.port, "127.0.0.4")
    got, _ = ask(s, authed(d.port))
    R.eq(got[0], 200, f"peer: connection {PEER_LIMIT + 1} of 127.0.0.4, with a token, "
         "is served")
    s.close()
    waited, _ = wait_closed(mine[0], 30)
    R.check(waited is not None, "peer: the address's oldest unauthenticated connection "
            "is closed for it", "closed", "still open after 30 s")
    got, _ = ask(mine[1], NO_TOKEN)
    R.eq(got[0], 401, "peer: the next oldest still serves")
    close_all(mine)
    # the Unix socket: per uid
    mine = []
    for i in range(PEER_LIMIT):
        s = unix(sock_path)
        got, _ = ask(s, b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        R.eq(got[0], 200, f"peer: root's Unix connection {i + 1}")
        mine.append(s)
    s = unix(sock_path)
    got, _ = ask(s, b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
    R.check(got[0] == 503 and b"too many connections from this user" in got[-1],
            f"peer: root's Unix connection {PEER_LIMIT + 1} is refused", "503",
            (got[0], got[-1][:200]))
    s.close()
    got = user.http(sock_path, "GET", "/v1/whoami")
    R.eq(got[0], 200, "peer: the second user's Unix connection is served meanwhile")
    close_all(mine)
    R.eq(d.stop(), 0, "peer: daemon exits 0")


def case_deadline(ctx):
    d = hs.Daemon(ctx, "deadline", ctx.path("deadline.db"), 1,
                  extra=["--unauthenticated-timeout", str(DEADLINE_S)])
    good = tcp(d.port)
    got, _ = ask(good, authed(d.port))
    R.eq(got[0], 200, "deadline: the authenticated connection is served")
    idle, half, after401, after403, busy = (tcp(d.port) for _ in range(5))
    t0 = time.monotonic()
    half.sendall(HALF)
    got, _ = ask(after401, NO_TOKEN)
    R.eq(got[0], 401, "deadline: a request without a token is 401")
    got, _ = ask(after403, b"POST /v1/ingest/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 + b"ab" * 32 + b"\r\nContent-Length: 2\r\n\r\n{}")
    R.eq(got[0], 403, "deadline: a run token that is not one is 403 on the ingest route")
    out = {}

    def keep_asking():
        n = 0
        while time.monotonic() - t0 < 30:
            got, _ = ask(busy, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
                         if n % 2 else NO_TOKEN)
            if got[0] == "error":
                break
            n += 1
            out["last"] = got
            time.sleep(0.2)
        out["n"], out["t"] = n, time.monotonic() - t0

    th = threading.Thread(target=keep_asking, daemon=True)
    th.start()
    for s, what in ((idle, "an idle connection"), (half, "half a request"),
                    (after401, "a connection after its 401"),
                    (after403, "a connection after a wrong run token")):
        waited, got = wait_closed(s, DEADLINE_S + 20)
        dt = time.monotonic() - t0
        R.check(waited is not None and DEADLINE_S - 0.3 <= dt <= DEADLINE_S + scaled(20),
                f"deadline: {what} is closed at the deadline",
                f"closed {DEADLINE_S} s after connecting", (waited and round(dt, 2), got[:100]))
        if s is half:
            R.check(got.startswith(b"HTTP/1.1 408"), "deadline: half a request is answered 408",
                    "408", got[:100])
    th.join(DEADLINE_S + 30)
    R.check(out.get("n", 0) >= 2 and DEADLINE_S - 0.3 <= out.get("t", 0) <= DEADLINE_S + 20,
            "deadline: a connection that keeps asking without a token is closed at the "
            "deadline too", f"closed {DEADLINE_S} s after connecting",
            (out.get("n"), out.get("t")))
    got, _ = ask(good, authed(d.port))
    R.eq(got[0], 200, "deadline: the authenticated connection still serves after it")
    good.close()
    expired = metric(d, "loralpha_http_unauthenticated_expired_total")
    R.check(expired >= 3, "deadline: /metrics counts the expired connections", ">= 3", expired)
    R.eq(d.stop(), 0, "deadline: daemon exits 0")


def nofile(soft, hard):
    """A preexec_fn giving the child that open-files limit."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def check_config(ctx, argv, config=None, limit=None):
    cmd = [ctx.loralpha, "serve", "--check-config", "--state-dir", ctx.path("cfg-state"),
           "--worker", ctx.worker]
    if config is not None:
        path = ctx.path("cfg.json")
        with open(path, "w") as f:
            json.dump(config, f)
        cmd += ["--config", path]
    p = subprocess.run(cmd + argv, capture_output=True, text=True, timeout=scaled(30),
                       preexec_fn=limit)
    return p.returncode, p.stdout, p.stderr


def case_settings(ctx):
    keys = {"max_connections": 2048, "max_unix_connections": 64,
            "max_connections_per_peer": 32, "max_unauthenticated": 100,
            "unauthenticated_timeout": 3}
    rc, out, err = check_config(ctx, ["--max-unauthenticated", "99"], keys)
    got = json.loads(out) if rc == 0 else {}
    want = dict(keys, max_unauthenticated=99)
    R.eq({k: got.get(k) for k in keys}, want,
         "settings: the config file's values, a flag overriding one, in the effective config")
    rc, out, err = check_config(ctx, [])
    got = json.loads(out) if rc == 0 else {}
    R.eq({k: got.get(k) for k in keys},
         {"max_connections": 1024, "max_unix_connections": 512,
          "max_connections_per_peer": 128, "max_unauthenticated": 512,
          "unauthenticated_timeout": 5}, "settings: the defaults")
    bad = [(["--max-connections", "0"], None, "--max-connections: '0' is not an integer"),
           (["--max-unix-connections", "x"], None, "--max-unix-connections: 'x'"),
           (["--max-connections-per-peer", "1048577"], None, "--max-connections-per-peer:"),
           (["--unauthenticated-timeout", "3601"], None, "--unauthenticated-timeout:"),
           (["--max-unauthenticated", "-1"], None, "--max-unauthenticated:"),
           ([], {"max_unauthenticated": "5"}, "max_unauthenticated: expected an integer"),
           ([], {"unauthenticated_timeout": 0}, "unauthenticated_timeout: expected an integer "
            "in 1..3600"),
           ([], {"max_connections_per_peer": 1.5}, "max_connections_per_peer: expected"),
           ([], {"max_unix_connections": None}, "max_unix_connections: expected")]
    for argv, config, msg in bad:
        rc, out, err = check_config(ctx, argv, config)
        R.check(rc == 2 and msg in err, f"settings: {argv or config} is refused",
                f"exit 2, '{msg}'", (rc, err.strip()[-300:]))
    # the open-files limit: too low a hard limit is refused, a low soft one raised
    rc, out, err = check_config(ctx, [], limit=nofile(1024, 1024))
    R.check(rc == 2 and "need 1856 open files" in err and "RLIMIT_NOFILE" in err,
            "settings: budgets over the hard open-files limit are refused", "exit 2",
            (rc, err.strip()[-300:]))
    rc, out, err = check_config(ctx, ["--max-connections", "512", "--max-unix-connections",
                                      "128"], limit=nofile(1024, 1024))
    R.eq(rc, 0, "settings: smaller budgets fit the same limit")
    p = subprocess.Popen([ctx.loralpha, "serve", "--state-dir", ctx.path("fd-state"),
                          "--listen", "none", "--worker", ctx.worker],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=nofile(1024, 4096))

    def soft_limit():
        try:
            with open(f"/proc/{p.pid}/limits") as f:
                line = [ln for ln in f if ln.startswith("Max open files")][0]
        except (OSError, IndexError):
            return None
        return int(line.split()[3]) if int(line.split()[3]) != 1024 else None
    got = wait_until(soft_limit, 20)
    R.eq(got, 1856, "settings: the daemon raises its soft open-files limit to its budgets")
    p.terminate()
    p.wait(20)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    ok, why = localusers.available()
    if not ok:
        print(f"test_conns: needs root for a second local user: {why}")
        return 1
    got = raise_nofile(3 * HOLD + 512)
    R.check(got >= 2 * HOLD + 256, "the test's open-files limit", f">= {2 * HOLD + 256}", got)
    ctx = hs.Ctx(args)
    os.chmod(ctx.tmp, 0o755)  # the second user reaches the sockets in it
    t0 = time.monotonic()
    try:
        with localusers.LocalUsers("lacon") as users:
            user = users.add("u")
            for name, fn in (("hold", lambda: case_hold(ctx, user)),
                             ("peer", lambda: case_peer(ctx, user)),
                             ("deadline", lambda: case_deadline(ctx)),
                             ("settings", lambda: case_settings(ctx))):
                R.case = name
                try:
                    fn()
                except Exception as e:
                    R.check(False, "case ran to the end", "no exception",
                            f"{e!r}\n{traceback.format_exc()}")
            R.case = ""
    except Exception as e:
        R.check(False, "test ran to the end", "no exception", f"{e!r}\n{traceback.format_exc()}")
    finally:
        ctx.cleanup(args.keep)
    log(f"total {time.monotonic() - t0:.1f} s")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
