"""localusers.py: throwaway local accounts for the tests that play a second,
hostile user against a shared daemon (run as root or as another account).

    with LocalUsers() as users:
        eve = users.add("eve")                 # useradd, a home of its own
        st, hdrs, body = eve.http(sock, "GET", "/v1/whoami")
        p = eve.popen([loralpha, "serve", ...])  # a daemon run as eve

Every account is created with useradd (its own group, a home under one
private-to-root but traversable directory, no login shell) and removed with
userdel on close, after its processes are killed, even when a test fails.
Needs root; `available()` says whether the tests can run here.
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# The system interpreter: reachable by every account (a per-user one may not be).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# A request made from a process of the account: python3 -c CODE ADDR METHOD
# PATH BODY HEADERS-JSON; ADDR is a socket path or host:port. Prints
# [status, headers, body] as JSON, or ["error", what].
_HTTP = r"""
import json, socket, sys
addr, method, path, body, hdrs = sys.argv[1:6]
hdrs = json.loads(hdrs)
try:
    if addr.startswith("/"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(addr)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=30)
except OSError as e:
    print(json.dumps(["error", type(e).__name__ + ": " + str(e)]))
    sys.exit(0)
b = body.encode()
head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
head += f"Content-Length: {len(b)}\r\n" if method in ("POST", "PUT", "PATCH") else ""
head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
s.sendall(head.encode() + b"\r\n" + b)
d = b""
try:
    while True:
        c = s.recv(65536)
        if not c:
            break
        d += c
except OSError as e:
    print(json.dumps(["error", type(e).__name__ + ": " + str(e)]))
    sys.exit(0)
h, _, rest = d.partition(b"\r\n\r\n")
lines = h.decode("latin-1").split("\r\n")
if not lines or len(lines[0].split()) < 2:
    print(json.dumps(["error", "no status line: " + repr(d[:200])]))
    sys.exit(0)
headers = {}
for ln in lines[1:]:
    k, _, v = ln.partition(":")
    headers[k.strip().lower()] = v.strip()
print(json.dumps([int(lines[0].split()[1]), headers, rest.decode("utf-8", "replace")]))
"""


def available():
    """(True, "") when accounts can be made here, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root"
    for tool in ("useradd", "userdel"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return False, f"no {tool}"
    return True, ""


def _tool(name):
    return shutil.which(name) or f"/usr/sbin/{name}"


class LocalUser:
    """One account: name, uid, gid, home; runs programs as itself."""

    def __init__(self, name, home):
        pw = pwd.getpwnam(name)
        self.name = name
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        self.home = home

    def env(self, extra=None):
        """A clean environment for the account's processes."""
        e = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.home, "USER": self.name,
             "LOGNAME": self.name, "LANG": "C.UTF-8"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update(extra or {})
        return e

    def _kw(self, kw):
        kw.setdefault("cwd", self.home)
        kw["env"] = self.env(kw.pop("extra_env", None))
        return dict(user=self.uid, group=self.gid, extra_groups=[], **kw)

    def run(self, argv, timeout=60, **kw):
        """subprocess.run as the account (text output captured)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(argv, timeout=timeout, **self._kw(kw))

    def popen(self, argv, **kw):
        """subprocess.Popen as the account, in a session of its own."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("start_new_session", True)
        return subprocess.Popen(argv, **self._kw(kw))

    def write(self, relpath, data, mode=0o600):
        """A file in the account's home, owned by it, with mode."""
        path = os.path.join(self.home, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.chown(path, self.uid, self.gid)
        os.chmod(path, mode)
        return path

    def http(self, addr, method, path, body=None, headers=None, token=None, timeout=60):
        """One request from a process of the account: addr is a Unix socket
        path or "127.0.0.1:PORT". (status, headers, body) or ("error", why,
        "")."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        p = self.run([PYTHON, "-c", _HTTP, addr, method, path, body or "",
                      json.dumps(h)], timeout=timeout)
        try:
            got = json.loads(p.stdout)
        except ValueError:
            return ("error", f"rc {p.returncode}: {p.stderr[-400:]}", "")
        if got[0] == "error":
            return ("error", got[1], "")
        return tuple(got)

    def kill_all(self):
        """SIGKILL every process of the account."""
        subprocess.run([shutil.which("pkill") or "/usr/bin/pkill", "-KILL", "-u", str(self.uid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class LocalUsers:
    """Makes accounts under one directory and removes them all on close."""

    def __init__(self, prefix="lasec"):
        ok, why = available()
        if not ok:
            raise RuntimeError(f"local accounts unavailable: {why}")
        self.prefix = f"{prefix}{os.getpid() % 100000}"
        self.root = tempfile.mkdtemp(prefix="loralpha-users.")
        os.chmod(self.root, 0o711)
        self.users = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, tag):
        """A new account named PREFIX<pid>TAG (at most 32 characters)."""
        name = f"{self.prefix}{tag}"[:32]
        home = os.path.join(self.root, name)
        subprocess.run([_tool("userdel"), "-f", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run([_tool("useradd"), "--home-dir", home, "--create-home", "--shell",
                        "/usr/sbin/nologin", "--user-group", name], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.chmod(home, 0o700)
        u = LocalUser(name, home)
        self.users.append(u)
        return u

    def close(self):
        for u in self.users:
            u.kill_all()
        if self.users:
            time.sleep(0.1)
        for u in self.users:
            u.kill_all()
            subprocess.run([_tool("userdel"), "-f", u.name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            subprocess.run([_tool("groupdel"), u.name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        self.users = []
        shutil.rmtree(self.root, ignore_errors=True)


def stop(proc, timeout=20):
    """SIGTERM a daemon started with popen (its session), SIGKILL after
    timeout; its exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode
