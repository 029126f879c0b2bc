"""harness.py: what the Python end-to-end tests share.

Results counts checks, prints every failure with what was expected and what
was seen, and its summary() is the closing `N passed, M failed` line.
log() prints a timestamped line; wait_until() polls, wait_port() and
wait_socket() wait for a daemon to listen. state_args() gives
a daemon a state directory of its own (its Unix socket and token), and
register_token() / auth() supply the token on TCP requests.
"""
import os
import socket
import threading
import time

# Bearer tokens of the daemons a test started, by TCP port.
TOKENS = {}


def short(v, n=800):
    """v as text, cut to n characters."""
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


class Results:
    """Thread-safe pass/fail counts; `case` prefixes failures when set."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.case = ""

    def check(self, ok, what, expected=None, actual=None):
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
                where = f"[{self.case}] " if self.case else ""
                print(f"FAIL {where}{what}\n    expected: {short(expected)}"
                      f"\n    actual:   {short(actual)}", flush=True)
        return ok

    def eq(self, actual, expected, what):
        return self.check(actual == expected, what, expected, actual)

    def summary(self):
        """Prints `N passed, M failed`; returns the exit code."""
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_until(fn, timeout, interval=0.05):
    """Polls fn until it returns a true value; returns it, or None at the
    deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_port(proc, port_file, timeout=15):
    """The port a `serve --port-file` daemon wrote (a whole line), or None
    if proc exited first or the timeout passed."""
    def ready():
        if proc.poll() is not None:
            return "exited"
        try:
            with open(port_file) as f:
                s = f.read()
        except OSError:
            return None
        return s if s.endswith("\n") else None
    got = wait_until(ready, timeout, 0.02)
    return None if got in (None, "exited") else int(got)


def wait_socket(proc, path, timeout=30):
    """True once the Unix socket at path accepts a connection; False if
    proc exited first or the timeout passed."""
    def ready():
        if proc.poll() is not None:
            return "exited"
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()
    return wait_until(ready, timeout, 0.05) is True


def state_args(tmp, tag):
    """`serve` flags giving a daemon its own state directory under tmp."""
    return ["--state-dir", os.path.join(tmp, f"state.{tag}")]


def read_token(argv, timeout=10):
    """The token the daemon started with argv wrote in its state dir."""
    state = argv[argv.index("--state-dir") + 1]
    path = os.path.join(state, "token")

    def ready():
        try:
            with open(path) as f:
                t = f.read().strip()
            return t if len(t) == 64 else None
        except OSError:
            return None
    tok = wait_until(ready, timeout, 0.02)
    if tok is None:
        raise RuntimeError(f"no token in {path}")
    return tok


def register_token(port, token):
    TOKENS[port] = token


def auth(port, headers=None):
    """headers plus the Authorization of the daemon on port (unless headers
    set one already; None as its value sends none)."""
    h = dict(headers or {})
    if "Authorization" not in h and port in TOKENS:
        h["Authorization"] = f"Bearer {TOKENS[port]}"
    return {k: v for k, v in h.items() if v is not None}


def auth_raw(port, data):
    """A raw request (bytes) with the Authorization header of the daemon on
    port added after each request's Host header."""
    if port not in TOKENS:
        return data
    return data.replace(b"\r\nHost: ", b"\r\nAuthorization: Bearer %s\r\nHost: "
                        % TOKENS[port].encode())
