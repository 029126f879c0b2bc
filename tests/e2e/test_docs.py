#!/usr/bin/python3
"""test_docs.py: the commands in README.md and docs/*.md run as written,
the install gives a working dashboard, and examples/sql show NULL as NULL.

    test_docs.py --loralpha PATH --worker PATH --source DIR --build DIR [--keep]

How the Markdown marks its code blocks (README.md "Docs that run"):

  ```sh                 commands this test runs, in the order of the file
  ```sh skip: REASON    commands it cannot run (packages, systemd, Slurm,
                        another machine): listed as skipped with the reason
  ```text, ```console,  output, transcripts (a `$ ` line is the command of
  ```json, indented ... a session shown with its output), synopses, data:
                        never run

A command outside a ```sh block fails the test (a line whose first word is
loralpha, loralpha-worker, curl, sqlite3, bash, cmake, ctest, cd, cp, mkdir,
systemctl, apt-get, npm, sudo ... or a VAR=value, and that is not a
synopsis with [options] or a message such as `loralpha serve: ...`; a
block with `$ ` lines is a transcript and one starting with `#!` a script's
text), so every command a reader may paste is either run here or skipped
with a reason.

The ```sh blocks run in bash (`set -eo pipefail`), a block at a time, with
what a reader has after the README's build:
  - the working directory is a scratch directory holding examples/, web/,
    scripts/ and python/ of the tree and build/ (the binaries under test);
    `loralpha` and `loralpha-worker` are on PATH;
  - HOME is a fresh directory, and one daemon (started here, on a free
    loopback port) has its state in ~/.local/state/loralpha: the Unix
    socket, the token and the database loralpha.db the docs name;
  - localhost:7787 and 127.0.0.1:7787 are that daemon's port;
  - curl fails on an HTTP error (--fail-with-body is added), so a 401 or
    415 fails its block;
  - the placeholders $SWEEP (an active sweep with finished runs at ranks 2,
    4 and 8, its rank-1 run held running by this test: the daemon starts a
    sweep's largest rank first) and $RUN (one of its
    finished runs) are set; a variable a block sets stays set for the later
    blocks of the same file (one shell session per file);
  - after each file, the sweeps its blocks left active are cancelled.
The first block that fails fails the test with its file, line and output.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness
from harness import R, Ctx, Daemon, log, scaled, wait_until

DOC_PORT = 7787
COMMANDS = ("loralpha", "loralpha-worker", "./build/loralpha", "./build/loralpha-worker",
            "curl", "sqlite3", "bash", "sh", "cmake", "ctest", "cd", "cp", "mkdir",
            "systemctl", "loginctl", "apt-get", "npm", "sudo", "xdg-open", "sbatch",
            "python3", "export", "rm", "kill")
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S")


# ---- blocks ------------------------------------------------------------------


class Block:
    """A code block: its file, first line (1-based, of the code), the fence's
    info string (None: an indented block) and its lines."""

    def __init__(self, path, line, info, lines):
        self.path, self.line, self.info, self.lines = path, line, info, lines

    @property
    def where(self):
        return f"{self.path}:{self.line}"

    def kind(self):
        """'run', 'skip' or 'show'."""
        if self.info is None:
            return "show"
        words = self.info.split(None, 1)
        if not words or words[0] != "sh":
            return "show"
        if len(words) == 1:
            return "run"
        return "skip" if words[1].startswith("skip:") and words[1][5:].strip() else "bad"

    def reason(self):
        return self.info.split(None, 1)[1][5:].strip()


def blocks_of(path, rel):
    """Every fenced and indented code block of a Markdown file."""
    with open(path) as f:
        lines = f.read().split("\n")
    out, i, prev_blank = [], 0, True
    while i < len(lines):
        m = re.match(r"^(```+)\s*(.*)$", lines[i])
        if m:
            fence, info, start, body = m.group(1), m.group(2).strip(), i + 2, []
            i += 1
            while i < len(lines) and not lines[i].startswith(fence):
                body.append(lines[i])
                i += 1
            out.append(Block(rel, start, info, body))
            i += 1
            prev_blank = False
            continue
        if lines[i].startswith("    ") and lines[i].strip() and prev_blank:
            start, body = i + 1, []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i][4:])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            out.append(Block(rel, start, None, body))
            prev_blank = True
            continue
        prev_blank = not lines[i].strip()
        i += 1
    return out


def logical_lines(lines):
    """Lines with their `\\` continuations joined, each with its offset."""
    out, cur, first = [], "", None
    for k, line in enumerate(lines):
        if first is None:
            first = k
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        out.append((first, cur + line))
        cur, first = "", None
    if cur:
        out.append((first, cur))
    return out


def looks_like_command(line):
    """A line a reader would paste into a shell (see the module's comment)."""
    s = line.strip()
    if not s or s.startswith(("$ ", "#")) or "[" in s:
        return False
    words = s.split()
    if ASSIGNMENT.match(s):
        return True
    if words[0] not in COMMANDS:
        return False
    return len(words) == 1 or not words[1].endswith(":")


# ---- the environment the blocks run in ------------------------------------------


def write_exe(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def scratch(ctx, args):
    """The scratch working directory, HOME and the PATH directory."""
    work, home, bin_dir = ctx.path("work"), ctx.path("home"), ctx.path("bin")
    for d in (work, home, bin_dir):
        os.makedirs(d)
    for name in ("examples", "web", "scripts", "python"):
        os.symlink(os.path.join(args.source, name), os.path.join(work, name))
    os.symlink(args.build, os.path.join(work, "build"))
    os.symlink(ctx.loralpha, os.path.join(bin_dir, "loralpha"))
    os.symlink(ctx.worker, os.path.join(bin_dir, "loralpha-worker"))
    write_exe(os.path.join(bin_dir, "curl"),
              "#!/bin/sh\n# an HTTP error fails the block\nexec /usr/bin/curl --fail-with-body \"$@\"\n")
    return work, home, bin_dir


HELD_SEED = 4242  # the data_seed that marks the held sweep's runs


def held_worker(ctx):
    """The daemon's worker: the real one, except that a run of rank 1 with
    data_seed HELD_SEED (only $SWEEP has it; a run, not the spec's check,
    which has no run_id) waits while the file HOLD
    exists, so that $SWEEP stays active with its other runs finished. A
    warm worker (--serve) gets its request lines through a loop that holds
    that run's line; the real worker is exec'd, so the daemon is still its
    parent."""
    hold = ctx.path("HOLD")
    path = ctx.path("held-worker")
    write_exe(path, f"""#!/bin/bash
held() {{
  grep -Eq '"rank": *1[,}}]' <<<"$1" && grep -Eq '"data_seed": *{HELD_SEED}[,}}]' <<<"$1" &&
    grep -q '"run_id"' <<<"$1"
}}
if [[ " $* " == *" --serve "* ]]; then
  exec '{ctx.worker}' "$@" < <(while IFS= read -r line; do
    if held "$line"; then while [ -e '{hold}' ]; do sleep 0.1; done; fi
    printf '%s\\n' "$line"
  done)
fi
cfg=$(cat)
if held "$cfg"; then
  while [ -e '{hold}' ]; do sleep 0.1; done
fi
exec '{ctx.worker}' "$@" <<<"$cfg"
""")
    open(hold, "w").close()
    return path, hold


def base_env(home, bin_dir):
    """The blocks' environment: a reader's, with the test's time scale and
    sanitizer options (a report of a sanitizer build fails its block)."""
    env = {"HOME": home, "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8", "TERM": "dumb", "USER": os.environ.get("USER", "root"),
           "LA_TEST_TIME_SCALE": str(harness.TIME_SCALE)}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def run_block(b, env, env_file, work, port, timeout):
    """Runs a ```sh block; (exit code, output). Variables it sets go to
    env_file for the file's next blocks."""
    text = "\n".join(b.lines)
    text = re.sub(r"\b(localhost|127\.0\.0\.1):%d\b" % DOC_PORT,
                  lambda m: f"{m.group(1)}:{port}", text)
    script = (f"set -a\nsource '{env_file}'\nset -eo pipefail\ncd '{work}'\n"
              f"{text}\nexport -p > '{env_file}'\n")
    try:
        p = subprocess.run(["/bin/bash", "-c", script], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=scaled(timeout))
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        return "timeout", out
    return p.returncode, p.stdout.decode(errors="replace")


# ---- the cases -------------------------------------------------------------------


def doc_files(source):
    docs = sorted(f for f in os.listdir(os.path.join(source, "docs")) if f.endswith(".md"))
    return ["README.md"] + [f"docs/{f}" for f in docs]


def check_markings(files, source):
    """Every command is in a ```sh block (run or skipped with a reason).
    Returns every block by file."""
    by_file, bad = {}, []
    for rel in files:
        by_file[rel] = blocks_of(os.path.join(source, rel), rel)
        for b in by_file[rel]:
            k = b.kind()
            if k == "bad":
                bad.append(f"{b.where}: fence '```{b.info}': a ```sh block is run, or "
                           "marked '```sh skip: REASON'")
            elif k == "show":
                if b.lines and b.lines[0].startswith("#!"):
                    continue  # a script's text, shown
                if any(line.startswith("$ ") for line in b.lines):
                    continue  # a transcript: its other lines are output
                for off, line in logical_lines(b.lines):
                    if looks_like_command(line):
                        bad.append(f"{b.path}:{b.line + off}: a command outside a ```sh "
                                   f"block: {line.strip()[:100]}")
            elif k == "run":
                for off, line in logical_lines(b.lines):
                    if line.startswith("$ "):
                        bad.append(f"{b.path}:{b.line + off}: a `$ ` prompt in a ```sh block")
    for line in bad:
        print(line, flush=True)
    R.check(not bad, "every command of README.md and docs/*.md is in a ```sh block "
            "(run here) or a ```sh skip: REASON block", "none unmarked",
            f"{len(bad)} (listed above)")
    return by_file


def held_sweep(dmn):
    """$SWEEP: ranks 2, 4, 8 finished, a rank-1 run held running (largest
    rank first, one at a time); and $RUN."""
    task = {"task": "teacher", "d_in": 24, "d_out": 24, "n_train": 256, "n_eval": 64,
            "target_rank": 4, "data_seed": HELD_SEED}
    spec = harness.make_spec("docs-held", [1, 2, 4, 8], [4, 8, 16, 32, 64], [0.003], 80,
                             seeds=1, task=task, max_parallel=1,
                             metrics={"log_every": 10, "eval_every": 20, "spectra_every": 40,
                                      "sharpness": False})
    sid = dmn.submit(spec, "the held sweep")

    def ready():
        s = dmn.sweep(sid)
        c = s and s["counts"]
        return s if c and c["done"] + c["diverged"] == 15 and c["running"] == 1 else None
    s = wait_until(ready, 120, 0.1)
    R.check(s is not None, "$SWEEP: 15 runs of ranks 2, 4, 8 done, the rank-1 run held "
            "running", "done 15, running 1", dmn.sweep(sid))
    if s is None:
        raise RuntimeError("the held sweep did not get ready")
    r = dmn.get(f"/v1/sweeps/{sid}/runs?state=done&limit=1")
    return sid, r.json["runs"][0]["id"]


def cancel_active(dmn, keep):
    for s in dmn.get("/v1/sweeps").json["sweeps"]:
        if s["state"] == "active" and s["id"] != keep:
            dmn.req("POST", f"/v1/sweeps/{s['id']}/cancel")


def run_files(ctx, args, files, by_file, dmn, env0, work, keep):
    """Runs the ```sh blocks of files in order; False at the first failure."""
    for rel in files:
        env_file = ctx.path(f"env.{rel.replace('/', '_')}")
        open(env_file, "w").close()
        for b in by_file[rel]:
            k = b.kind()
            if k == "skip":
                log(f"skip {b.where}: {b.reason()}")
                continue
            if k != "run":
                continue
            t0 = time.monotonic()
            code, out = run_block(b, env0, env_file, work, dmn.port, 500)
            if code != 0:
                print(f"--- {b.where}: the block ---\n" + "\n".join(b.lines)
                      + f"\n--- its output (exit {code}) ---\n{out[-6000:]}\n---", flush=True)
            if not R.check(code == 0, f"{b.where}: the ```sh block runs as written",
                           "exit 0", f"exit {code}: {out[-300:]}"):
                return False
            log(f"ok {b.where} ({time.monotonic() - t0:.1f} s)")
        cancel_active(dmn, keep)
    return True


def check_sql(args, db, sweep):
    """examples/sql/*.sql run on the daemon's database; a NULL (the sqrt(r)
    fit's p interval, a rule's regret outside the grid) shows as '-'."""
    r = harness.request(DMN.port, "GET", f"/v1/sweeps/{sweep}/analysis", timeout=60)
    R.eq(r.status, 200, f"the analysis of $SWEEP ({sweep}) is computed and stored")
    sql_dir = os.path.join(args.source, "examples", "sql")
    rows = {}
    for name in sorted(os.listdir(sql_dir)):
        p = subprocess.run([harness.SQLITE3, "-json", db], stdin=open(os.path.join(sql_dir, name)),
                           capture_output=True, text=True, timeout=scaled(60))
        R.check(p.returncode == 0, f"examples/sql/{name} runs on the daemon's database",
                "exit 0", f"exit {p.returncode}: {p.stderr}")
        text = p.stdout.strip().replace("]\n[", ",")
        rows[name] = json.loads(text) if text else []
    n_null = harness.cli_val(db, f"SELECT COUNT(*) FROM heuristic_regret WHERE sweep_id = {sweep} "
                             "AND regret IS NULL AND rule = 'alpha=r' AND rank = 2")
    R.eq(n_null, 1, "a NULL to show: alpha = r at rank 2 is outside $SWEEP's grid (4..64)")
    got = [x for x in rows.get("regret.sql", [])
           if x["sweep_id"] == sweep and x["rank"] == 2 and x["rule"] == "alpha=r"]
    R.check(len(got) == 1 and got[0]["regret"] == "-" and got[0]["loss"] == "-",
            "regret.sql shows the rule outside the grid with regret and loss '-' (not 0.0%)",
            "regret '-', loss '-'", got)
    sqrt = [x for x in rows.get("law.sql", []) if x.get("method") == "sqrt" and "c" in x
            and "n_excluded" in x]
    R.check(sqrt and all(x["p"].endswith("[-, -]") for x in sqrt),
            "law.sql shows the sqrt(r) fit's p interval (NULL) as [-, -], not [0.000, 0.000]",
            "p '0.500 [-, -]'", sqrt)
    R.check("[0.000, 0.000]" not in json.dumps(rows), "no interval of examples/sql "
            "printed as [0.000, 0.000]", "none",
            [k for k, v in rows.items() if "[0.000, 0.000]" in json.dumps(v)])


def web_files(source):
    """Every path the dashboard loads: its pages, what their src= and href=
    name on the daemon, and the modules the scripts import."""
    web = os.path.join(source, "web")
    paths = {"/"}
    for name in os.listdir(web):
        if name.endswith(".html"):
            paths.add("/" + name)
            with open(os.path.join(web, name)) as f:
                paths.update(re.findall(r'(?:src|href)="(/[^"]*)"', f.read()))
    for name in os.listdir(os.path.join(web, "js")):
        with open(os.path.join(web, "js", name)) as f:
            paths.update("/js/" + m for m in re.findall(r"from ['\"]\./([^'\"]+)['\"]", f.read()))
    return paths


def check_install(ctx, args):
    """cmake --install into a temporary prefix: the installed daemon finds
    its dashboard (pages, js/, uPlot) by itself, logs its link, and serves
    every file the pages load; a web directory without node_modules/uplot is
    named at start. The systemd unit runs the installed binary."""
    prefix = ctx.path("prefix")
    p = subprocess.run(["cmake", "--install", args.build, "--prefix", prefix],
                       capture_output=True, text=True, timeout=scaled(120))
    R.check(p.returncode == 0, "cmake --install into a temporary prefix", "exit 0",
            p.stdout[-500:] + p.stderr[-1000:])
    web = os.path.join(prefix, "share", "loralpha", "web")
    # the installed binaries, with the test's directory and list of daemons
    installed = argparse.Namespace(loralpha=os.path.join(prefix, "bin", "loralpha"),
                                   worker=os.path.join(prefix, "bin", "loralpha-worker"),
                                   tmp=ctx.tmp, daemons=ctx.daemons)
    dmn = Daemon(installed, "installed")
    log_text = dmn.log_tail(4000)
    want = f"dashboard at http://127.0.0.1:{dmn.port}/ (files in {os.path.realpath(web)})"
    R.check(want in log_text, "the installed daemon logs its dashboard's link and "
            "share/loralpha/web", want, log_text)
    R.check("warning" not in log_text, "no warning about the installed dashboard", "none",
            log_text)
    pages = web_files(args.source)
    for path in pages:
        r = harness.request(dmn.port, "GET", path)
        R.check(r.status == 200 and len(r.body) > 0,
                f"the installed daemon serves {path}", 200, (r.status, r.body[:200]))
    R.check(any("/node_modules/uplot/" in p for p in pages),
            "sweep.html loads uPlot from node_modules", "a /node_modules/uplot/ link",
            sorted(pages))
    dmn.stop()
    bare = ctx.path("web-without-uplot")
    os.makedirs(bare)
    shutil.copy(os.path.join(args.source, "web", "index.html"), bare)
    dmn = Daemon(installed, "no-uplot", extra=["--web", bare])
    text = dmn.log_tail(4000)
    R.check(f"(files in {os.path.realpath(bare)})" in text,
            "--web wins over the installed dashboard", f"files in {bare}", text)
    R.check("node_modules/uplot/dist/uPlot.iife.min.js is missing" in text
            and "npm ci" in text, "a dashboard without uPlot is named at start, with npm ci",
            "warning ... is missing (run `npm ci ...`)", text)
    dmn.stop()
    with open(os.path.join(args.source, "examples", "loralpha.service")) as f:
        unit = f.read()
    execs = re.findall(r"^ExecStart(?:Pre)?=(\S+)", unit, re.M)
    R.check(execs and all(e == "/usr/local/bin/loralpha" for e in execs),
            "the systemd unit runs the binary `cmake --install` puts in /usr/local/bin",
            "/usr/local/bin/loralpha", execs)


def check_serve_example(args):
    """docs/daemon.md shows examples/serve.json as it is."""
    with open(os.path.join(args.source, "examples", "serve.json")) as f:
        example = f.read()
    with open(os.path.join(args.source, "docs", "daemon.md")) as f:
        doc = f.read()
    R.check("```json\n" + example + "```" in doc,
            "docs/daemon.md shows examples/serve.json as it is", example, "not found")


DMN = None


def main():
    global DMN
    ap = argparse.ArgumentParser()
    ap.add_argument("--loralpha", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.source, args.build = os.path.abspath(args.source), os.path.abspath(args.build)
    ctx = Ctx(args)
    try:
        files = doc_files(args.source)
        by_file = check_markings(files, args.source)
        check_serve_example(args)
        work, home, bin_dir = scratch(ctx, args)
        worker, hold = held_worker(ctx)
        state = os.path.join(home, ".local", "state", "loralpha")
        db = os.path.join(state, "loralpha.db")
        DMN = Daemon(ctx, "docs", db=db, state=state, worker=worker)
        env = base_env(home, bin_dir)
        R.case = "README.md"
        if run_files(ctx, args, files[:1], by_file, DMN, env, work, None):
            R.case = "docs/*.md"
            sweep, run = held_sweep(DMN)
            env.update(SWEEP=str(sweep), RUN=str(run))
            log(f"$SWEEP={sweep} $RUN={run}")
            run_files(ctx, args, files[1:], by_file, DMN, env, work, sweep)
            R.case = "examples/sql"
            check_sql(args, db, sweep)
        os.unlink(hold)
        R.case = "install"
        check_install(ctx, args)
    except Exception as e:
        import traceback
        R.check(False, "the test ran to the end", "no exception",
                f"{e!r}\n{traceback.format_exc()}")
    finally:
        ctx.cleanup(args.keep)
        if args.keep:
            print(f"kept {ctx.tmp}")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
