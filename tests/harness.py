"""harness.py: what the Python end-to-end tests share.

Results counts checks, prints every failure with what was expected and what
was seen, and its summary() is the closing `N passed, M failed` line.
log() prints a timestamped line; wait_until() polls.
"""
import threading
import time


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
