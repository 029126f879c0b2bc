#!/usr/bin/python3
"""End-to-end tests of loralpha-worker's command line (docs/worker.md).

Drives the real binary:
  A. bad configs, data files and arguments: exit code 2, empty stdout and
     exactly one JSON error line on stderr naming the field and the problem;
  B. good runs: --config and stdin agree, --check prints the effective
     config, every line is JSON, records come in the documented order;
  C. divergence is a normal outcome (exit 0, status "diverged", a reason);
  D. determinism with threads 1, and a different seed changes the losses;
  T. stints (stop_at, resume_at): three stints send, together, the records
     of the run trained in one go, line for line (teacher, sgd, mlp, gpt, a
     pack), and a diverging run diverges in its stint as in one go.

Usage: /usr/bin/python3 tests/e2e/test_worker_cli.py --worker build/loralpha-worker
Prints each failure (case, expected, actual); the last line is
"N passed, M failed"; exits non-zero if anything failed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

TIMEOUT = 20  # seconds per worker invocation
TIMING_FIELDS = ("wall_s", "steps_per_s")

PASSED = 0
FAILED = 0


def ok():
    global PASSED
    PASSED += 1


def fail(case, expected, actual):
    global FAILED
    FAILED += 1
    print(f"FAIL {case}\n  expected: {expected}\n  actual:   {actual}",
          flush=True)


def strict_json(text):
    """json.loads that rejects NaN / Infinity (the worker writes null)."""
    def bad_constant(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=bad_constant)


class Worker:
    def __init__(self, path, tmp):
        self.path = path
        self.tmp = tmp
        self.n_cfg = 0

    def write_config(self, config):
        """Writes config (dict -> JSON, str/bytes -> raw) to a fresh file."""
        self.n_cfg += 1
        p = os.path.join(self.tmp, f"config{self.n_cfg}.json")
        data = config_bytes(config)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def run(self, argv, stdin=b""):
        """Runs the worker; returns (returncode, stdout, stderr) or raises
        RuntimeError on a timeout."""
        try:
            p = subprocess.run([self.path] + list(argv), input=stdin,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"timed out after {TIMEOUT} s (hang?)")
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")

    def run_config(self, config, mode="file", extra=()):
        """mode: 'file' (--config PATH), 'stdin' (no flag), 'dash'
        (--config -)."""
        if mode == "file":
            return self.run(["--config", self.write_config(config)] + list(extra))
        if mode == "dash":
            return self.run(["--config", "-"] + list(extra),
                            stdin=config_bytes(config))
        return self.run(list(extra), stdin=config_bytes(config))


def config_bytes(config):
    if isinstance(config, bytes):
        return config
    if isinstance(config, str):
        return config.encode()
    return json.dumps(config).encode()


def describe_rc(rc):
    if rc < 0:
        return f"killed by signal {-rc} (CRASH)"
    return f"exit {rc}"


# ----------------------------------------------------------------- configs

TEACHER = {"task": "teacher", "d_in": 16, "d_out": 12, "rank": 4, "alpha": 8,
           "lr": 0.01, "steps": 20, "n_train": 256, "n_eval": 64,
           "batch": 32, "target_rank": 2, "seed": 1}
MLP = {"task": "mlp", "widths": [16, 8, 6], "rank": 2, "alpha": 4,
       "lr": 0.01, "steps": 10, "n_train": 128, "n_eval": 32, "batch": 16,
       "target_rank": 2}


def with_(base, **kw):
    c = dict(base)
    c.update(kw)
    return c


def without(base, *keys):
    return {k: v for k, v in base.items() if k not in keys}


class NpyFiles:
    """A small valid npy task (2 layers: 6 -> 8 -> 4, 40 rows) plus broken
    variants, all under dir."""

    def __init__(self, d):
        self.d = d
        rng = np.random.default_rng(0)
        self.w0a = self.save("w0a.npy", rng.standard_normal((8, 6)).astype("<f4"))
        self.w0b = self.save("w0b.npy", rng.standard_normal((4, 8)).astype("<f4"))
        self.x = self.save("x.npy", rng.standard_normal((40, 6)).astype("<f4"))
        self.y = self.save("y.npy", rng.standard_normal((40, 4)).astype("<f8"))
        self.y_ce = self.save("y_ce.npy", rng.integers(0, 4, 40).astype("<i8"))
        self.a0a = self.save("a0a.npy", rng.standard_normal((2, 6)).astype("<f4"))
        self.a0b = self.save("a0b.npy", rng.standard_normal((2, 8)).astype("<f4"))
        # broken variants
        self.w0b_nochain = self.save("w0b_nochain.npy",
                                     rng.standard_normal((4, 7)).astype("<f4"))
        self.x_cols = self.save("x_cols.npy",
                                rng.standard_normal((40, 5)).astype("<f4"))
        self.y_rows = self.save("y_rows.npy",
                                rng.standard_normal((39, 4)).astype("<f4"))
        yr = rng.integers(0, 4, 40).astype("<i4")
        yr[7] = 4
        self.y_ce_range = self.save("y_ce_range.npy", yr)
        yf = rng.integers(0, 4, 40).astype("<f4")
        yf[3] = 1.5
        self.y_ce_frac = self.save("y_ce_frac.npy", yf)
        self.a0a_shape = self.save("a0a_shape.npy",
                                   rng.standard_normal((3, 6)).astype("<f4"))
        self.w0a_be = self.save("w0a_be.npy",
                                rng.standard_normal((8, 6)).astype(">f4"))
        self.x_fortran = self.save(
            "x_fortran.npy",
            np.asfortranarray(rng.standard_normal((40, 6)).astype("<f4")))
        self.y_trunc = os.path.join(d, "y_trunc.npy")
        with open(self.y, "rb") as f:
            data = f.read()
        with open(self.y_trunc, "wb") as f:
            f.write(data[:-13])
        xn = rng.standard_normal((40, 6)).astype("<f4")
        xn[5, 2] = np.nan
        self.x_nan = self.save("x_nan.npy", xn)
        self.w0_narrow = self.save("w0_narrow.npy",
                                   rng.standard_normal((3, 6)).astype("<f4"))
        self.y_narrow = self.save("y_narrow.npy",
                                  rng.standard_normal((40, 3)).astype("<f4"))
        self.x_few = self.save("x_few.npy",
                               rng.standard_normal((4, 6)).astype("<f4"))
        self.y_few = self.save("y_few.npy",
                               rng.standard_normal((4, 4)).astype("<f4"))
        self.missing = os.path.join(d, "no_such_dir", "missing_x.npy")
        # sanity: the fortran file really is column-major on disk
        with open(self.x_fortran, "rb") as f:
            assert b"'fortran_order': True" in f.read(200)

    def save(self, name, arr):
        p = os.path.join(self.d, name)
        np.save(p, arr)
        return p

    def config(self, **npy_overrides):
        npy = {"x": self.x, "y": self.y, "w0": [self.w0a, self.w0b]}
        npy.update(npy_overrides)
        npy = {k: v for k, v in npy.items() if v is not None}
        return {"task": "npy", "npy": npy, "rank": 2, "alpha": 4, "lr": 0.01,
                "steps": 5, "batch": 8}


# ------------------------------------------------------------ A: bad input

def bad_cases(npy):
    """(name, input, mode, field, words): input is a config (dict / str /
    bytes) or, for mode 'argv', an argv list. The error must start with
    "field:" (or with field minus its final '*', when it ends in '*': a
    prefix of a field name quoted from the input) and contain every word
    (case-insensitive)."""
    T = TEACHER
    cases = [
        # JSON syntax and shape
        ("json truncated", '{"task": "teacher", "rank": 4', "file",
         "config", ["invalid JSON"]),
        ("json trailing comma", '{"task": "teacher", "rank": 4,}', "stdin",
         "config", ["invalid JSON"]),
        ("json array", "[1, 2, 3]", "file", "config", ["object"]),
        ("json bare string", '"teacher"', "stdin", "config", ["invalid JSON"]),
        ("json duplicate key",
         '{"task": "teacher", "rank": 4, "rank": 8, "alpha": 1}', "file",
         "config", ["duplicate"]),
        ("empty input (stdin)", b"", "stdin", "config", ["invalid JSON"]),
        ("empty input (file)", b"", "file", "config", ["invalid JSON"]),
        ("empty input (--config -)", b"  \n", "dash", "config",
         ["invalid JSON"]),
        ("unknown field", with_(T, learning_rate=0.1), "file",
         "learning_rate", ["unknown field"]),
    ]
    for k in ("task", "rank", "alpha", "lr", "steps"):
        cases.append((f"missing {k}", without(T, k), "file", k,
                      ["required", "missing"]))
    cases += [
        # wrong types
        ("lr string", with_(T, lr="0.01"), "stdin", "lr", ["number"]),
        ("steps float", with_(T, steps=20.0), "file", "steps", ["integer"]),
        ("rank bool", with_(T, rank=True), "file", "rank", ["integer"]),
        ("sharpness number", with_(T, sharpness=1), "file", "sharpness",
         ["true or false"]),
        ("seed negative", with_(T, seed=-1), "file", "seed", ["non-negative"]),
        ("run_id string", with_(T, run_id="7"), "file", "run_id", ["integer"]),
        # ranges
        ("lr 0", with_(T, lr=0), "file", "lr", ["minimum"]),
        ("lr -1", with_(T, lr=-1), "stdin", "lr", ["minimum"]),
        ("alpha 0", with_(T, alpha=0), "file", "alpha", ["minimum"]),
        ("beta1 1.0", with_(T, beta1=1.0), "file", "beta1", ["maximum"]),
        ("steps 0", with_(T, steps=0), "file", "steps", ["minimum"]),
        ("steps above 1e8", with_(T, steps=4294967297), "file", "steps",
         ["maximum"]),
        ("batch > n_train", with_(T, batch=257), "file", "batch",
         ["exceeds", "256"]),
        ("threads 0", with_(T, threads=0), "file", "threads", ["minimum"]),
        ("threads 257", with_(T, threads=257), "file", "threads",
         ["maximum"]),
        ("warmup_steps > steps", with_(T, warmup_steps=21), "file",
         "warmup_steps", ["exceeds"]),
        ("diverge_factor 1", with_(T, diverge_factor=1), "file",
         "diverge_factor", ["minimum"]),
        ("eval_fraction 0", with_(T, eval_fraction=0), "file",
         "eval_fraction", ["minimum"]),
        ("momentum 1", with_(T, momentum=1), "file", "momentum",
         ["maximum"]),
        ("d_in 0", with_(T, d_in=0), "file", "d_in", ["1..8192"]),
        ("d_out 8193", with_(T, d_out=8193), "file", "d_out", ["1..8192"]),
        ("ce with 1 class", with_(T, loss="ce", d_out=1, rank=1,
                                  target_rank=1), "file", "loss", ["2"]),
        ("ce with noise", with_(T, loss="ce", noise=0.1), "file", "noise",
         ["mse"]),
    ]
    # unknown enum values
    for k in ("task", "activation", "optimizer", "scaling", "schedule",
              "loss"):
        cases.append((f"unknown {k}", with_(T, **{k: "bogus"}), "file", k,
                      ["unknown value", "bogus"]))
    cases += [
        ("activation not a string", with_(T, activation=1), "file",
         "activation", ["string"]),
        # ranks against the shapes
        ("teacher rank > min(d_in, d_out)", with_(T, rank=13), "file",
         "rank", ["exceeds", "12", "layer 0"]),
        ("mlp rank > min of layer 1", with_(MLP, widths=[16, 8, 3], rank=4),
         "stdin", "rank", ["exceeds", "3", "layer 1"]),
        ("teacher target_rank too big", with_(T, target_rank=13), "file",
         "target_rank", ["exceeds", "12"]),
        ("mlp target_rank too big", with_(MLP, widths=[16, 8, 3],
                                          target_rank=4, rank=1),
         "file", "target_rank", ["exceeds", "layer 1"]),
        # widths
        ("widths 1 entry", with_(MLP, widths=[16]), "file", "widths",
         ["2 to 9"]),
        ("widths 10 entries", with_(MLP, widths=[8] * 10), "file", "widths",
         ["2 to 9"]),
        ("widths not an array", with_(MLP, widths=16), "file", "widths",
         ["array"]),
        ("widths with 0", with_(MLP, widths=[16, 8, 0]), "file", "widths[2]",
         ["1..2048"]),
        ("widths with 4096", with_(MLP, widths=[16, 4096, 8]), "file",
         "widths[1]", ["1..2048"]),
        ("widths with a float", with_(MLP, widths=[16, 8.0, 8]), "file",
         "widths[1]", ["integer"]),
        # task shape fields
        ("teacher given widths", with_(T, widths=[16, 12]), "file", "widths",
         ["not a field", "teacher"]),
        ("teacher without d_out", without(T, "d_out"), "file", "d_out",
         ["required"]),
        ("mlp given d_in", with_(MLP, d_in=16), "file", "d_in",
         ["not a field", "mlp"]),
        ("mlp without widths", without(MLP, "widths"), "file", "widths",
         ["required"]),
        ("npy without npy", without(npy.config(), "npy"), "file", "npy",
         ["required"]),
        ("npy given d_in", with_(npy.config(), d_in=6), "file", "d_in",
         ["not a field", "npy"]),
        # npy config fields
        ("npy missing npy.x", npy.config(x=None), "file", "npy.x",
         ["required"]),
        ("npy missing npy.w0", npy.config(w0=None), "file", "npy.w0",
         ["required"]),
        ("npy x_eval without y_eval", npy.config(x_eval=npy.x), "stdin",
         "npy.y_eval", ["together"]),
        ("npy a0 count != w0 count", npy.config(a0=[npy.a0a]), "file",
         "npy.a0", ["1 files for 2 layers"]),
        ("npy unknown subfield", npy.config(z=npy.x), "file", "npy.z",
         ["unknown field"]),
        ("npy w0 empty list", npy.config(w0=[]), "file", "npy.w0",
         ["non-empty"]),
        ("npy w0[1] not a string", npy.config(w0=[npy.w0a, 3]), "file",
         "npy.w0[1]", ["string"]),
        ("npy x empty path", npy.config(x=""), "file", "npy.x", ["empty"]),
        ("npy not an object", with_(npy.config(), npy=[npy.x]), "file",
         "npy", ["object"]),
        # .npy files reached through the worker
        ("npy missing file", npy.config(x=npy.missing), "file", "npy.x",
         [npy.missing, "cannot be read"]),
        ("npy x is a directory", npy.config(x=npy.d), "file", "npy.x",
         [npy.d, "cannot be read"]),
        ("npy w0 do not chain", npy.config(w0=[npy.w0a, npy.w0b_nochain]),
         "file", "npy.w0[1]", [npy.w0b_nochain, "shape", "(4, 7)",
                               "(any, 8)" if False else "8"]),
        ("npy x columns != d_in", npy.config(x=npy.x_cols), "file", "npy.x",
         [npy.x_cols, "shape", "(40, 5)"]),
        ("npy y rows != x rows", npy.config(y=npy.y_rows), "file", "npy.y",
         [npy.y_rows, "shape", "(39, 4)", "(40, 4)"]),
        ("npy y columns != d_out", npy.config(y=npy.y_narrow), "file",
         "npy.y", [npy.y_narrow, "shape"]),
        ("npy ce label out of range",
         with_(npy.config(y=npy.y_ce_range), loss="ce"), "file", "npy.y",
         [npy.y_ce_range, "label 4", "index 7"]),
        ("npy ce label non-integer",
         with_(npy.config(y=npy.y_ce_frac), loss="ce"), "file", "npy.y",
         [npy.y_ce_frac, "label 1.5", "index 3"]),
        ("npy a0 wrong shape",
         npy.config(a0=[npy.a0a_shape, npy.a0b]), "file", "npy.a0[0]",
         [npy.a0a_shape, "shape", "(3, 6)", "(2, 6)"]),
        ("npy big-endian w0", npy.config(w0=[npy.w0a_be, npy.w0b]), "file",
         "npy.w0[0]", [npy.w0a_be, "big-endian"]),
        ("npy fortran-order x", npy.config(x=npy.x_fortran), "file", "npy.x",
         [npy.x_fortran, "fortran"]),
        ("npy truncated y", npy.config(y=npy.y_trunc), "stdin", "npy.y",
         [npy.y_trunc, "truncated"]),
        ("npy NaN in x", npy.config(x=npy.x_nan), "file", "npy.x",
         [npy.x_nan, "NaN", "[5, 2]"]),
        ("npy rank > min dims of a layer",
         with_(npy.config(w0=[npy.w0_narrow], y=npy.y_narrow), rank=4),
         "file", "rank", ["exceeds", "3", npy.w0_narrow]),
        ("npy eval_fraction leaves an empty split",
         with_(npy.config(x=npy.x_few, y=npy.y_few), eval_fraction=0.1,
               batch=1), "file", "eval_fraction", ["empty"]),
        ("npy batch > training rows", with_(npy.config(), batch=33), "file",
         "batch", ["exceeds", "32"]),
        # argv
        ("argv unknown flag", ["--bogus"], "argv", "--bogus",
         ["unknown argument"]),
        ("argv --config without value", ["--config"], "argv", "--config",
         ["needs"]),
        ("argv --check --config without value", ["--check", "--config"],
         "argv", "--config", ["needs"]),
        ("argv config path does not exist",
         ["--config", os.path.join(npy.d, "nope", "run.json")], "argv",
         "config", ["cannot open", os.path.join(npy.d, "nope", "run.json")]),
        # Messages must stay valid JSON strings that name the field even
        # when they quote long or non-ASCII input ("é" is 2 bytes in UTF-8,
        # so cutting the quoted text at a byte count may split a character).
        ("unknown field with a long non-ASCII name", {"a" + "é" * 40: 1},
         "file", "aéééé*", ["unknown field"]),
        ("unknown task value, long non-ASCII",
         with_(T, task="a" + "é" * 40), "file", "task", ["unknown value"]),
        ("argv config path long non-ASCII",
         ["--config", os.path.join(npy.d, "x" + "é" * 200)], "argv",
         "config", ["cannot open"]),
        ("argv unknown flag long non-ASCII", ["--b" + "é" * 200], "argv",
         "--bééé*", ["unknown argument"]),
        ("argv config path not UTF-8",
         ["--config", os.fsencode(npy.d) + b"/\xff.json"], "argv",
         "config", ["cannot open"]),
        # The size guard covers n_eval too, and must name it.
        ("n_eval data too large",
         with_(T, d_in=8192, n_train=10, n_eval=10000000, batch=1),
         "file", "n_eval", ["too large"]),
        # stints (docs/worker.md "Stints")
        ("stop_at above steps", with_(T, stop_at=21), "file", "stop_at",
         ["must be at most steps (20)"]),
        ("stop_at negative", with_(T, stop_at=-1), "file", "stop_at",
         ["minimum"]),
        ("stop_at not an integer", with_(T, stop_at=5.0), "file", "stop_at",
         ["integer"]),
        ("resume_at at stop_at", with_(T, stop_at=5, resume_at=5), "file",
         "resume_at", ["must be below stop_at (5)"]),
        ("resume_at past stop_at", with_(T, stop_at=5, resume_at=9), "stdin",
         "resume_at", ["must be below stop_at (5)"]),
        ("resume_at at steps", with_(T, resume_at=20), "file", "resume_at",
         ["must be below steps (20)"]),
        ("resume_at negative", with_(T, resume_at=-2), "file", "resume_at",
         ["minimum"]),
        ("stop_at of a command task",
         {"task": "command", "command": {"argv": ["/bin/true"]},
          "rank": 4, "alpha": 8, "lr": 0.01, "steps": 20, "stop_at": 5},
         "file", "stop_at", ["not for task 'command'"]),
        ("resume_at of a command task",
         {"task": "command", "command": {"argv": ["/bin/true"]},
          "rank": 4, "alpha": 8, "lr": 0.01, "steps": 20, "resume_at": 5},
         "stdin", "resume_at", ["not for task 'command'"]),
    ]
    return cases


def check_error(case, rc, out, err, field, words):
    """Checks an invalid-input result; returns True when it passed."""
    problems = []
    if rc < 0:
        problems.append(describe_rc(rc))
    elif rc != 2:
        problems.append(f"exit {rc} (expected 2)")
    if out != "":
        problems.append(f"stdout not empty: {out[:200]!r}")
    lines = err.split("\n")
    if not err.endswith("\n") or len(lines) != 2:
        problems.append(f"stderr is not exactly one line: {err[:300]!r}")
    msg = None
    try:
        rec = strict_json(lines[0])
        if not isinstance(rec, dict) or rec.get("type") != "error" or \
                not isinstance(rec.get("error"), str):
            problems.append(f"not an error record: {lines[0][:300]!r}")
        else:
            msg = rec["error"]
            if set(rec) != {"type", "error"}:
                problems.append(f"extra keys in the error record: {sorted(rec)}")
    except ValueError as e:
        problems.append(f"stderr is not JSON ({e}): {err[:300]!r}")
    if msg is not None:
        want = field[:-1] if field.endswith("*") else field + ":"
        if not msg.startswith(want):
            problems.append(f"message does not start with {want!r}")
        for w in words:
            if w.lower() not in msg.lower():
                problems.append(f"message lacks {w!r}")
    if problems:
        fail(case, f"exit 2, empty stdout, one JSON error line starting "
             f"{field.rstrip('*') + ('' if field.endswith('*') else ':')!r} "
             f"containing {words}",
             "; ".join(problems) + (f" | message: {msg!r}" if msg else ""))
        return False
    ok()
    return True


def test_bad_inputs(w, npy):
    cases = bad_cases(npy)
    assert len(cases) >= 30
    for name, inp, mode, field, words in cases:
        case = f"A/{name}"
        try:
            if mode == "argv":
                rc, out, err = w.run(inp)
            else:
                rc, out, err = w.run_config(inp, mode)
        except RuntimeError as e:
            fail(case, "exit 2 within the timeout", str(e))
            continue
        check_error(case, rc, out, err, field, words)
    # The same bad configs must also be rejected by --check (no training).
    for name, inp, mode, field, words in cases[:12]:
        if mode == "argv":
            continue
        case = f"A/--check {name}"
        try:
            rc, out, err = w.run_config(inp, mode, extra=["--check"])
        except RuntimeError as e:
            fail(case, "exit 2 within the timeout", str(e))
            continue
        check_error(case, rc, out, err, field, words)


# ------------------------------------------------------------ good runs

def parse_records(case, out, typed=True):
    """Parses stdout into records (objects, with a "type" when typed);
    reports and returns None on a bad line."""
    if not out.endswith("\n"):
        fail(case, "stdout ends with a newline", repr(out[-100:]))
        return None
    recs = []
    for i, line in enumerate(out.split("\n")[:-1]):
        try:
            r = strict_json(line)
        except ValueError as e:
            fail(case, f"line {i + 1} is strict JSON", f"{e}: {line[:200]!r}")
            return None
        if not isinstance(r, dict) or \
                (typed and not isinstance(r.get("type"), str)):
            fail(case, f"line {i + 1} is an object with a type",
                 line[:200])
            return None
        recs.append(r)
    return recs


def run_ok(w, case, config, mode="file", extra=()):
    """Runs a config that must succeed; returns (stdout, records) or None."""
    try:
        rc, out, err = w.run_config(config, mode, extra)
    except RuntimeError as e:
        fail(case, "exit 0 within the timeout", str(e))
        return None
    if rc != 0 or err != "":
        fail(case, "exit 0 and empty stderr",
             f"{describe_rc(rc)}, stderr {err[:300]!r}")
        return None
    recs = parse_records(case, out, typed="--check" not in extra)
    if recs is None:
        return None
    return out, recs


def strip_timing(out):
    """stdout with wall_s / steps_per_s dropped from the done record."""
    lines = out.split("\n")
    res = []
    for line in lines:
        if line.startswith('{"type":"done"'):
            r = json.loads(line)
            for k in TIMING_FIELDS:
                r.pop(k, None)
            line = json.dumps(r, sort_keys=True)
        res.append(line)
    return "\n".join(res)


def check(case, cond, expected, actual):
    if cond:
        ok()
    else:
        fail(case, expected, actual)
    return cond


def check_order(case, recs, cfg):
    """Documented record order for a finished (status done) run."""
    types = [r["type"] for r in recs]
    check(case + " start first", types[:1] == ["start"], "start first",
          types[:3])
    check(case + " done last, once", types[-1:] == ["done"] and
          types.count("done") == 1 and types.count("start") == 1,
          "exactly one start and one done, done last", types[-3:])
    ev = [r for r in recs if r["type"] == "eval"]
    check(case + " eval at step 0 right after start",
          len(types) > 1 and types[1] == "eval" and ev and ev[0]["step"] == 0,
          "second record eval step 0", recs[1] if len(recs) > 1 else None)
    train_steps = [r["step"] for r in recs if r["type"] == "train"]
    check(case + " train steps strictly increasing",
          all(a < b for a, b in zip(train_steps, train_steps[1:])),
          "strictly increasing", train_steps)
    steps, le, ee = cfg["steps"], cfg.get("log_every", 1), \
        cfg.get("eval_every", 10)
    want_train = sorted({k for k in range(1, steps + 1) if k % le == 0} |
                        {steps})
    check(case + " train steps per log_every", train_steps == want_train,
          want_train, train_steps)
    want_eval = sorted({0, steps} | ({k for k in range(1, steps + 1)
                                      if k % ee == 0} if ee else set()))
    check(case + " eval steps per eval_every",
          [r["step"] for r in ev] == want_eval, want_eval,
          [r["step"] for r in ev])
    # Records never go back in time.
    seq = [r["step"] for r in recs if "step" in r and r["type"] != "done"]
    check(case + " steps never decrease",
          all(a <= b for a, b in zip(seq, seq[1:])), "non-decreasing", seq)
    sharp = [r["step"] for r in recs if r["type"] == "sharpness"]
    if cfg.get("sharpness", True):
        check(case + " sharpness at start and end",
              sharp[:1] == [0] and sharp[-1:] == [steps], [0, steps], sharp)
    spectra = [r for r in recs if r["type"] == "spectra"]
    check(case + " spectra at the end",
          bool(spectra) and spectra[-1]["step"] == steps and
          all(len(r["sv"]) == cfg["rank"] for r in spectra),
          f"last spectra at step {steps} with {cfg['rank']} sv",
          [(r["step"], len(r.get("sv", []))) for r in spectra])
    done = recs[-1]
    check(case + " done status", done.get("status") == "done" and
          done.get("steps") == steps and "reason" not in done,
          f"status done, steps {steps}, no reason", done)
    for k in ("final_train_loss", "final_eval_loss", "best_eval_loss",
              "best_step") + TIMING_FIELDS:
        if k not in done:
            fail(case + f" done has {k}", k, sorted(done))
            break
    else:
        ok()


def test_good_runs(w, npy):
    cfg = with_(TEACHER, log_every=3, eval_every=7, spectra_every=10,
                run_id=42)
    r_file = run_ok(w, "B/teacher via --config", cfg, "file")
    r_stdin = run_ok(w, "B/teacher via stdin", cfg, "stdin")
    r_dash = run_ok(w, "B/teacher via --config -", cfg, "dash")
    if r_file and r_stdin and r_dash:
        check("B/--config and stdin give the same output",
              strip_timing(r_file[0]) == strip_timing(r_stdin[0]),
              "identical stdout apart from timing", "outputs differ")
        check("B/--config and --config - give the same output",
              strip_timing(r_file[0]) == strip_timing(r_dash[0]),
              "identical stdout apart from timing", "outputs differ")
    if r_file:
        recs = r_file[1]
        check_order("B/teacher order", recs, cfg)
        start = recs[0]
        check("B/start echoes run_id and config",
              start.get("run_id") == 42 and
              start.get("config", {}).get("lr") == 0.01 and
              start.get("config", {}).get("d_in") == 16 and
              start.get("config", {}).get("d_out") == 12 and
              "widths" not in start.get("config", {}) and
              start.get("n_train") == 256 and start.get("n_eval") == 64 and
              start.get("params") == 4 * 16 + 12 * 4 and
              abs(start.get("scale", 0) - 2.0) < 1e-12,
              "run_id 42, lr 0.01, d_in 16, d_out 12, n 256/64, params 112, "
              "scale 2", {k: start.get(k) for k in
                          ("run_id", "n_train", "n_eval", "params", "scale")})

    # --check: effective config, defaults filled, no training.
    minimal = {"task": "teacher", "d_in": 16, "d_out": 12, "rank": 4,
               "alpha": 8, "lr": 0.01, "steps": 5, "n_train": 256}
    r = run_ok(w, "B/--check", minimal, "file", ["--check"])
    if r:
        out, recs = r
        check("B/--check prints one line", len(recs) == 1, "1 line",
              len(recs))
        eff = json.loads(out.split("\n")[0])
        want = {"task": "teacher", "batch": 64, "optimizer": "adamw",
                "activation": "relu", "loss": "mse", "scaling": "peft",
                "schedule": "constant", "threads": 1, "log_every": 1,
                "eval_every": 10, "spectra_every": 50, "sharpness": True,
                "sharpness_iters": 50, "sharpness_tol": 0.001,
                "diverge_factor": 100.0,
                "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "seed": 0,
                "n_train": 256, "n_eval": 1024, "target_rank": 4,
                "d_in": 16, "d_out": 12, "rank": 4, "alpha": 8.0, "lr": 0.01,
                "steps": 5}
        diff = {k: (v, eff.get(k, "<missing>")) for k, v in want.items()
                if eff.get(k, "<missing>") != v}
        check("B/--check defaults filled", not diff,
              "defaults (batch 64, optimizer adamw, ...)", diff)
        check("B/--check is the config, not a record",
              "type" not in eff and "run_id" not in eff, "no type/run_id",
              sorted(eff)[:5])
    # --check with stdin and argv order --config before --check
    r2 = run_ok(w, "B/--check via stdin", minimal, "stdin", ["--check"])
    if r and r2:
        check("B/--check stdin == file", r[0] == r2[0], r[0][:200],
              r2[0][:200])
    # The effective config is a config: fed back, it gives itself (teacher,
    # mlp and npy, whose shape fields differ).
    for name, c in (("teacher", minimal), ("mlp", MLP)):
        ra = run_ok(w, f"B/--check {name}", c, "file", ["--check"])
        rb = ra and run_ok(w, f"B/--check {name} fed back", ra[1][0], "file",
                           ["--check"])
        if ra and rb:
            check(f"B/--check {name}: effective config parses to itself",
                  ra[1][0] == rb[1][0], ra[1][0], rb[1][0])
    # --check's effective config equals the start record's config.
    r3 = run_ok(w, "B/--check full config", cfg, "file", ["--check"])
    if r3 and r_file:
        check("B/--check config == start config",
              r3[1][0] == dict(r_file[1][0]["config"]),
              r3[1][0], r_file[1][0]["config"])

    # An mlp run and an npy run complete with the documented order.
    mcfg = with_(MLP, activation="gelu", eval_every=0)
    r = run_ok(w, "B/mlp run", mcfg)
    if r:
        check_order("B/mlp order", r[1], mcfg)
    # Sharpness stopped by a cap of 2 Lanczos steps says so: converged
    # false in the records, "(not converged)" in --summary.
    scfg = with_(MLP, sharpness=True, sharpness_iters=2, eval_every=0)
    r = run_ok(w, "B/sharpness capped at 2", scfg)
    if r:
        sh = [x for x in r[1] if x["type"] == "sharpness"]
        check("B/sharpness capped at 2: records",
              len(sh) == 2 and all(
                  x.get(k + "_iters") == 2 and x.get(k + "_converged") is False
                  and x.get(k + "_residual", -1) > 0
                  for x in sh for k in ("lora", "full")),
              "2 records, each estimate 2 iterations, converged false, "
              "residual > 0", sh)
    try:
        rc, out, err = w.run_config(scfg, "file", ["--summary"])
        check("B/sharpness capped at 2: --summary",
              rc == 0 and out.count("(not converged)") == 4,
              "4 estimates marked (not converged)", out[-400:])
    except RuntimeError as e:
        fail("B/sharpness capped at 2: --summary", "exit 0", str(e))
    ncfg = with_(npy.config(a0=[npy.a0a, npy.a0b]), eval_every=2,
                 spectra_every=0)
    r = run_ok(w, "B/npy run", ncfg)
    if r:
        check_order("B/npy order", r[1], ncfg)
        s = r[1][0]
        check("B/npy start shapes",
              s.get("n_train") == 32 and s.get("n_eval") == 8 and
              [(l["d_in"], l["d_out"]) for l in s.get("layers", [])] ==
              [(6, 8), (8, 4)] and
              all("target_norm" not in l for l in s.get("layers", [])),
              "32/8 rows, layers 6->8->4 without target_norm",
              (s.get("n_train"), s.get("n_eval"), s.get("layers")))
        rn = run_ok(w, "B/--check npy start config", s.get("config", {}),
                    "file", ["--check"])
        if rn:
            check("B/npy start config is a config (npy paths, no widths)",
                  rn[1][0] == s.get("config") and
                  "widths" not in rn[1][0] and
                  rn[1][0].get("npy", {}).get("a0") == [npy.a0a, npy.a0b],
                  s.get("config"), rn[1][0])
        spec = [x for x in r[1] if x["type"] == "spectra"]
        check("B/npy spectra target-free",
              spec and all("signal" not in x and "tf_signal" in x
                           for x in spec),
              "no target-aware fields", spec[:1])
    nce = with_(npy.config(y=npy.y_ce, x_eval=npy.x, y_eval=npy.y_ce),
                loss="ce")
    r = run_ok(w, "B/npy ce run with x_eval", nce, "stdin")
    if r:
        check("B/npy ce rows", r[1][0].get("n_train") == 40 and
              r[1][0].get("n_eval") == 40, "40/40",
              (r[1][0].get("n_train"), r[1][0].get("n_eval")))
    # --help and --version exit 0.
    for flag in ("--help", "--version"):
        try:
            rc, out, err = w.run([flag])
            check(f"B/{flag}", rc == 0 and out and not err, "exit 0, text on "
                  "stdout, nothing on stderr", (describe_rc(rc), out[:80], err))
        except RuntimeError as e:
            fail(f"B/{flag}", "exit 0", str(e))


# ------------------------------------------------------------ divergence

def check_diverged(case, recs, reason_word):
    done = recs[-1]
    if not check(case + " done last", done["type"] == "done", "done last",
                 done["type"]):
        return
    check(case + " status diverged",
          done.get("status") == "diverged" and
          isinstance(done.get("reason"), str) and done["reason"] and
          reason_word in done["reason"],
          f"status diverged with a reason containing {reason_word!r}",
          {k: done.get(k) for k in ("status", "reason", "steps")})
    train = [r for r in recs if r["type"] == "train"]
    # The diverging update is reported (its loss) but never applied, so the
    # done record counts one update fewer than the last train record's step.
    check(case + " stopped early", train and done.get("steps") ==
          train[-1]["step"] - 1 and done["steps"] < 400 and
          train[-1].get("update_norm", 0) is None,
          "done.steps = last train step - 1 < steps, diverging update not applied",
          (done.get("steps"), train[-1]["step"] if train else None))


def test_divergence(w):
    huge = with_(TEACHER, lr=1e3, alpha=1e4, steps=400)
    r = run_ok(w, "C/huge lr", huge)
    if r:
        check_diverged("C/huge lr", r[1], "")
    # lr 0.1 trains fine with the default factor 100 but its first steps
    # raise the batch loss past 1.5x its start: the growth rule.
    base = with_(TEACHER, lr=0.1, steps=30)
    r = run_ok(w, "C/lr 0.1 default factor", base)
    if r:
        check("C/lr 0.1 default factor is done",
              r[1][-1].get("status") == "done", "status done", r[1][-1])
    grow = with_(base, diverge_factor=1.5, steps=400)
    r = run_ok(w, "C/diverge_factor 1.5", grow, "stdin")
    if r:
        check_diverged("C/diverge_factor 1.5", r[1], "diverge_factor")
        t = [x for x in r[1] if x["type"] == "train"]
        check("C/growth rule fired on the rule",
              t and t[0]["loss"] is not None and t[-1]["loss"] is not None and
              t[-1]["loss"] > 1.5 * t[0]["loss"],
              "last train loss > 1.5 x the first", [x["loss"] for x in t])


# ------------------------------------------------------------ --serve

def split_runs(out):
    """--serve's stdout as one list of lines per run: each ends with its
    done or error record."""
    runs, cur = [], []
    for line in out.split("\n"):
        if not line:
            continue
        cur.append(line)
        if line.startswith('{"type":"done"') or line.startswith('{"type":"error"'):
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def test_serve(w, npy):
    """One worker serves runs one after another: each run's records equal
    the same config's one-shot run (timing aside), whether its task is kept
    from the run before or built anew; a bad request, config or task fails
    that run only, with an error record on stdout."""
    good = [with_(TEACHER, run_id=1),
            with_(TEACHER, alpha=64, lr=0.003, seed=2, run_id=2),  # the task kept
            with_(TEACHER, data_seed=3, run_id=3),  # a new task
            with_(MLP, activation="gelu", run_id=4),
            npy.config(),
            with_(npy.config(), rank=1, alpha=2, lr=0.03),  # the npy task kept
            with_(TEACHER, lr=1e3, alpha=1e4, steps=400)]  # diverges, goes on
    bad = [(b"not json", "request: invalid JSON"),
           (json.dumps({"type": "stop"}).encode(), 'request: type: must be "run"'),
           (json.dumps({"type": "run", "config": TEACHER, "x": 1}).encode(),
            "request: must be"),
           (json.dumps({"type": "run", "config": with_(TEACHER, los=1)}).encode(),
            "los: unknown field"),
           (json.dumps({"type": "run", "config": with_(npy.config(), rank=7)}).encode(),
            "rank: 7 exceeds"),
           (json.dumps({"type": "run", "config": npy.config(x=npy.missing)}).encode(),
            "npy.x: ")]
    lines, want = [], []
    for i, cfg in enumerate(good):
        lines.append(json.dumps({"type": "run", "config": cfg}).encode())
        want.append(("good", cfg))
        if i < len(bad):  # a bad request between every two good ones
            lines.append(bad[i][0])
            want.append(("bad", bad[i][1]))
    rc, out, err = w.run(["--serve"], stdin=b"\n".join(lines) + b"\n\n")
    check("S/--serve exits 0 at the end of its input", rc == 0 and err == "",
          "exit 0, empty stderr", (describe_rc(rc), err[:300]))
    runs = split_runs(out)
    check("S/one record group per request", len(runs) == len(want), len(want),
          [r[-1][:80] for r in runs])
    for k, ((kind, what), got) in enumerate(zip(want, runs)):
        case = f"S/request {k + 1} ({kind})"
        if kind == "bad":
            rec = json.loads(got[-1])
            check(case, len(got) == 1 and rec.get("type") == "error" and
                  what in rec.get("error", ""),
                  f"one error record: {what}...", got)
            continue
        r = run_ok(w, case + " one-shot", what)
        if r:
            check(case + ": records equal the one-shot run's",
                  strip_timing("\n".join(got)) == strip_timing(r[0].rstrip("\n")),
                  r[0][:300], "\n".join(got)[:300])
    rc, out, err = w.run(["--serve", "--config", w.write_config(TEACHER)])
    check("S/--serve with --config is a usage error",
          rc == 2 and "--serve: runs come from stdin" in err, "exit 2, --serve: ...",
          (describe_rc(rc), err[:300]))


def records_by_run(out):
    """--serve's stdout as {run_id: [record, ...]}, run_id taken off every
    record but start and timing off done; records without run_id under
    None."""
    runs = {}
    for line in out.split("\n"):
        if not line:
            continue
        r = json.loads(line)
        rid = r.get("run_id")
        if r["type"] != "start":
            r.pop("run_id", None)
        for k in TIMING_FIELDS:
            r.pop(k, None)
        runs.setdefault(rid, []).append(r)
    return runs


def test_serve_pack(w, npy):
    """Packs through --serve: every run of an exact pack gives the records of
    its one-shot run (timing aside), every record carrying its run_id; a
    diverging run leaves the pack, the others go on; a stacked pack gives
    the same records with losses within 1e-4; a pack whose runs differ in a
    shared field fails every run naming the field; a run request after the
    packs is served as before."""
    teach = [with_(TEACHER, run_id=11), with_(TEACHER, alpha=64, lr=0.003, run_id=12),
             with_(TEACHER, lr=1e3, alpha=1e4, steps=400, run_id=13),  # diverges
             with_(TEACHER, optimizer="sgd", lr=0.3, momentum=0.9, steps=12,
                   run_id=14),
             with_(TEACHER, schedule="cosine", warmup_steps=4, loraplus_ratio=4,
                   weight_decay=0.01, run_id=15)]
    mlp = [with_(MLP, activation="gelu", loss="ce", widths=[16, 8, 8, 4],
                 run_id=21 + i, alpha=a) for i, a in enumerate((1, 16, 256))]
    npys = [with_(npy.config(), run_id=31), with_(npy.config(), alpha=64, run_id=32)]
    stacked = [with_(r, run_id=r["run_id"] + 40) for r in mlp]
    bad = [with_(TEACHER, run_id=41), with_(TEACHER, batch=16, run_id=42)]
    reqs = [{"type": "pack", "configs": teach}, {"type": "pack", "configs": mlp},
            {"type": "pack", "configs": npys},
            {"type": "pack", "configs": stacked, "stack": True},
            {"type": "pack", "configs": bad},
            {"type": "run", "config": with_(TEACHER, run_id=51)}]
    rc, out, err = w.run(["--serve"], stdin="".join(
        json.dumps(q) + "\n" for q in reqs).encode())
    check("P/--serve with packs exits 0", rc == 0 and err == "",
          "exit 0, empty stderr", (describe_rc(rc), err[:300]))
    lines = [json.loads(x) for x in out.split("\n") if x]
    last = next((i for i, x in enumerate(lines) if x.get("run_id") == 51), 0)
    untagged = [x for x in lines[:last] if "run_id" not in x]
    check("P/every record of a pack carries its run_id",
          last > 0 and not untagged, "run_id on every record before run 51's",
          untagged[:2])
    runs = records_by_run(out)
    for cfg in teach + mlp + npys + stacked + [reqs[-1]["config"]]:
        rid = cfg["run_id"]
        one = run_ok(w, f"P/run {rid} one-shot", cfg)
        if not one:
            continue
        want = [x for v in records_by_run(one[0]).values() for x in v]
        got = runs.get(rid, []) + (runs.get(None, []) if rid == 51 else [])
        if cfg in stacked:
            same = len(got) == len(want) and all(
                a["type"] == b["type"] and
                (a.get("loss") is None) == (b.get("loss") is None) and
                abs(a.get("loss", 0) or 0) * 1e-4 >=
                abs((a.get("loss", 0) or 0) - (b.get("loss", 0) or 0))
                for a, b in zip(want, got))
            check(f"P/stacked run {rid}: records, losses within 1e-4", same,
                  want[:2], got[:2])
        else:
            check(f"P/run {rid}: records equal the one-shot run's",
                  got == want, json.dumps(want)[:300], json.dumps(got)[:300])
    check("P/the diverging run ends diverged, the others done",
          runs.get(13, [{}])[-1].get("status") == "diverged" and
          all(runs.get(r, [{}])[-1].get("status") == "done" for r in (11, 12, 14, 15)),
          "13 diverged, 11/12/14/15 done",
          [runs.get(r, [{}])[-1].get("status") for r in (11, 12, 13, 14, 15)])
    for rid in (41, 42):
        got = runs.get(rid, [])
        check(f"P/run {rid} of a pack with a differing shared field fails",
              len(got) == 1 and got[0]["type"] == "error" and
              "configs[1].batch: 16 differs from configs[0]'s 32" in got[0]["error"],
              "one error naming configs[1].batch", got[:2])


# ------------------------------------------------------------ stints

STEP_TYPES = ("train", "eval", "spectra", "sharpness")


def step_lines(out):
    """The step records of stdout as {(run_id, type, step, layer): line},
    the line as the worker wrote it (its numbers as text), and a list of
    the keys seen twice."""
    got, twice = {}, []
    for line in out.split("\n"):
        if not line:
            continue
        r = json.loads(line)
        if r["type"] not in STEP_TYPES:
            continue
        key = (r.get("run_id"), r["type"], r["step"], r.get("layer"))
        if key in got:
            twice.append(key)
        got[key] = line
    return got, twice


def tiny_gpt(d):
    """Task gpt's files for a tiny GPT-2 (width 16, 2 blocks) under d: the
    config's gpt object."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "examples", "gpt"))
    from make_base import gpt2_base, write_f32
    rng = np.random.default_rng(7)
    base = os.path.join(d, "stint_base.safetensors")
    write_f32(base, gpt2_base(rng, 256, 32, 16, 2), {"format": "pt"})
    text = os.path.join(d, "stint_text.txt")
    words = [b"alpha", b"rank", b"lora", b"scale", b"loss", b"step", b"the"]
    with open(text, "wb") as f:
        f.write(b" ".join(words[i] for i in rng.integers(0, 7, 900)))
    return {"base": base, "text": text}


def stint_cases(d):
    """(name, config, S1, S2): eval_every divides neither stop; spectra and
    sharpness on in most."""
    pack = {"type": "pack", "configs": [
        with_(TEACHER, steps=24, log_every=3, eval_every=4, spectra_every=5,
              alpha=a, lr=lr, run_id=60 + i, sharpness=(i == 1),
              sharpness_iters=4)
        for i, (a, lr) in enumerate(((1, 0.03), (16, 0.01), (64, 0.002)))]}
    return [
        ("teacher adamw cosine warmup",
         with_(TEACHER, steps=30, schedule="cosine", warmup_steps=5,
               min_lr_ratio=0.1, log_every=2, eval_every=7, spectra_every=4,
               sharpness_every=9, sharpness_iters=5, loraplus_ratio=2), 10, 19),
        ("teacher sgd momentum",
         with_(TEACHER, steps=24, optimizer="sgd", momentum=0.9, nesterov=True,
               lr=0.05, log_every=1, eval_every=5, spectra_every=6,
               sharpness=False), 7, 13),
        ("mlp gelu 3 layers",
         with_(MLP, widths=[16, 8, 8, 6], activation="gelu", steps=20,
               log_every=4, eval_every=3, spectra_every=5, sharpness_every=6,
               sharpness_iters=4), 5, 11),
        ("gpt",
         {"task": "gpt", "gpt": tiny_gpt(d), "n_head": 2, "context": 8,
          "target_modules": ["c_attn", "c_fc"], "rank": 2, "alpha": 4,
          "lr": 0.01, "steps": 12, "batch": 4, "n_eval": 4, "eval_every": 5,
          "spectra_every": 3, "sharpness": True, "sharpness_iters": 3,
          "sharpness_batch": 2, "sharpness_every": 3, "schedule": "cosine",
          "warmup_steps": 2},
         4, 7),
        ("pack of 3 variants", pack, 6, 13),
    ]


def with_stint(config, **kw):
    """config with stint fields (in each run of a pack request)."""
    if config.get("type") == "pack":
        return dict(config, configs=[with_(c, **kw) for c in config["configs"]])
    return with_(config, **kw)


def check_stint_run(case, out, resume, stop, runs):
    """A stint's own shape: one start first, one done last per run, done at
    stop with status done, no step record at or before resume (but step 0
    when resume is 0), and a run's end measurements at stop (train, eval,
    spectra)."""
    recs = [json.loads(x) for x in out.split("\n") if x]
    for rid in runs:
        mine = [r for r in recs if r.get("run_id") == rid or rid is None]
        types = [r["type"] for r in mine]
        check(f"{case} run {rid}: start first, done last",
              types[:1] == ["start"] and types[-1:] == ["done"] and
              types.count("start") == 1 and types.count("done") == 1,
              "start ... done", types[:2] + types[-2:])
        done = mine[-1]
        check(f"{case} run {rid}: done at step {stop}",
              done.get("status") == "done" and done.get("steps") == stop,
              f"status done, steps {stop}",
              {k: done.get(k) for k in ("status", "steps", "reason")})
        early = [(r["type"], r["step"]) for r in mine
                 if r["type"] in STEP_TYPES and resume and r["step"] <= resume]
        check(f"{case} run {rid}: no record at a step <= {resume}", not early,
              "none", early[:5])
        at_stop = {r["type"] for r in mine if r.get("step") == stop}
        check(f"{case} run {rid}: end measurements at {stop}",
              {"train", "eval", "spectra"} <= at_stop,
              "train, eval, spectra", sorted(at_stop))


def test_stints(w):
    """Stints (docs/worker.md "Stints"): a run cut at S1 and S2 into three
    worker processes (stop_at S1; resume_at S1, stop_at S2; resume_at S2)
    sends, put together, every step record of the run trained in one go,
    each line the same text, plus only the end measurements at S1 and S2;
    the last stint's done record is the run's; stop_at = steps with
    resume_at 0 is the run itself."""
    for name, cfg, s1, s2 in stint_cases(w.tmp):
        case = f"T/{name}"
        one = run_ok(w, case + " in one go", cfg)
        parts = [run_ok(w, f"{case} stint 1", with_stint(cfg, stop_at=s1)),
                 run_ok(w, f"{case} stint 2",
                        with_stint(cfg, resume_at=s1, stop_at=s2)),
                 run_ok(w, f"{case} stint 3", with_stint(cfg, resume_at=s2))]
        if not one or not all(parts):
            continue
        runs = [c["run_id"] for c in cfg["configs"]] \
            if cfg.get("type") == "pack" else [None]
        steps = (cfg["configs"][0] if runs != [None] else cfg)["steps"]
        for (resume, stop), p in zip(((0, s1), (s1, s2), (s2, steps)), parts):
            check_stint_run(f"{case} stint {resume}..{stop}", p[0], resume,
                            stop, runs)
        want, _ = step_lines(one[0])
        union, twice = {}, []
        for p in parts:
            got, dup = step_lines(p[0])
            twice += dup + [k for k in got if k in union]
            union.update(got)
        check(case + ": no step record sent twice", not twice, "none",
              twice[:5])
        missing = [k for k in want if k not in union]
        differ = [k for k in want if k in union and union[k] != want[k]]
        extra = sorted({k for k in union if k not in want},
                       key=lambda k: (str(k[0]), k[2], k[1], k[3] or 0))
        check(case + ": every record of the run in one go is sent",
              not missing, "none missing", missing[:5])
        check(case + ": the stints' records equal the run's, as text",
              not differ, [want[k][:200] for k in differ[:2]],
              [union[k][:200] for k in differ[:2]])
        check(case + f": extra records only at the stops {s1}, {s2}",
              all(k[2] in (s1, s2) for k in extra), f"steps in {{{s1}, {s2}}}",
              [k[1:3] for k in extra if k[2] not in (s1, s2)][:5])
        check(case + ": the last stint's done records are the run's",
              done_lines(parts[2][0]) == done_lines(one[0]),
              done_lines(one[0])[:1], done_lines(parts[2][0])[:1])
        same = run_ok(w, case + " stop_at = steps",
                      with_stint(cfg, stop_at=steps, resume_at=0))
        if same:
            check(case + ": stop_at = steps, resume_at 0 is the run itself",
                  drop_stint_echo(same[0]) == drop_stint_echo(one[0]),
                  strip_timing(one[0])[:300], strip_timing(same[0])[:300])


def test_stint_diverges(w):
    """A run that diverges at update 28 (sgd, lr 1): cut at 10, its second
    stint (resume_at 10, stop_at 40) diverges as the run in one go does,
    with the same records after step 10 and the same done record."""
    cfg = with_(TEACHER, steps=60, optimizer="sgd", lr=1, momentum=0.9,
                eval_every=4, spectra_every=6, sharpness_iters=4)
    case = "T/diverging run"
    one = run_ok(w, case + " in one go", cfg)
    parts = [run_ok(w, case + " stint 1", with_(cfg, stop_at=10)),
             run_ok(w, case + " stint 2", with_(cfg, resume_at=10, stop_at=40))]
    if not one or not all(parts):
        return
    done = json.loads(done_lines(one[0])[0])
    check(case + " diverges after update 10 and before 40",
          done["status"] == "diverged" and 10 < done["steps"] < 39,
          "diverged, 10 < steps < 39", done)
    check(case + ": stint 1 is done at 10",
          json.loads(done_lines(parts[0][0])[0]).get("steps") == 10,
          "steps 10", done_lines(parts[0][0]))
    want, _ = step_lines(one[0])
    got, _ = step_lines(parts[1][0])
    want = {k: v for k, v in want.items() if k[2] > 10}
    check(case + ": stint 2's records are the run's after step 10",
          got == want, sorted(want)[-3:], sorted(got)[-3:])
    check(case + ": stint 2's done record is the run's",
          done_lines(parts[1][0]) == done_lines(one[0]), done_lines(one[0]),
          done_lines(parts[1][0]))


def done_lines(out):
    """The done records of stdout, timing aside, as text."""
    return [x for x in strip_timing(out).split("\n")
            if json.loads(x or "{}").get("type") == "done"]


def drop_stint_echo(out):
    """stdout without timing and without the start records' echo of
    stop_at and resume_at."""
    lines = []
    for line in strip_timing(out).split("\n"):
        if line.startswith('{"type":"start"'):
            r = json.loads(line)
            r["config"].pop("stop_at", None)
            r["config"].pop("resume_at", None)
            line = json.dumps(r, sort_keys=True)
        lines.append(line)
    return lines


# ------------------------------------------------------------ determinism

def losses(recs):
    return [(r["type"], r["step"], r["loss"]) for r in recs
            if r["type"] in ("train", "eval")]


def test_determinism(w):
    cfg = with_(TEACHER, threads=1, steps=25, eval_every=5,
                spectra_every=5, sharpness_every=10)
    a = run_ok(w, "D/run 1", cfg)
    b = run_ok(w, "D/run 2", cfg)
    if a and b:
        sa, sb = strip_timing(a[0]), strip_timing(b[0])
        if sa != sb:
            la, lb = sa.split("\n"), sb.split("\n")
            i = next((k for k, (x, y) in enumerate(zip(la, lb)) if x != y),
                     min(len(la), len(lb)))
            fail("D/byte-identical with threads 1", "identical stdout",
                 f"first difference at line {i + 1}: "
                 f"{la[i][:150] if i < len(la) else None!r} vs "
                 f"{lb[i][:150] if i < len(lb) else None!r}")
        else:
            ok()
    c = run_ok(w, "D/other seed", with_(cfg, seed=2))
    if a and c:
        la, lc = losses(a[1]), losses(c[1])
        check("D/different seed changes the losses",
              [x[:2] for x in la] == [x[:2] for x in lc] and la != lc,
              "same steps, different losses", (la[:3], lc[:3]))
        # data_seed fixed: the data is the same, so the step-0 eval loss
        # (B = 0 there) is the same whatever the seed.
        check("D/same data across seeds", la[0] == lc[0],
              "equal step-0 eval loss", (la[0], lc[0]))
    d = run_ok(w, "D/other data_seed", with_(cfg, data_seed=5))
    if a and d:
        check("D/different data_seed changes the data",
              losses(a[1])[0] != losses(d[1])[0],
              "different step-0 eval loss", (losses(a[1])[0],
                                             losses(d[1])[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    args = ap.parse_args()
    worker = os.path.abspath(args.worker)
    if not os.access(worker, os.X_OK):
        print(f"worker not executable: {worker}")
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="la_worker_cli_")
    try:
        w = Worker(worker, tmp)
        npy = NpyFiles(tmp)
        for test in (lambda: test_bad_inputs(w, npy),
                     lambda: test_good_runs(w, npy),
                     lambda: test_divergence(w),
                     lambda: test_determinism(w),
                     lambda: test_serve(w, npy),
                     lambda: test_serve_pack(w, npy),
                     lambda: test_stints(w),
                     lambda: test_stint_diverges(w)):
            try:
                test()
            except Exception as e:  # a bug in a check must not hide others
                fail("internal", "no exception", f"{type(e).__name__}: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
