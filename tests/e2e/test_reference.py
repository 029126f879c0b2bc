#!/usr/bin/python3
"""Independent reference check of loralpha-worker's whole training loop.

Every case is an `npy` task: the script writes the frozen weights, the data
and (mostly) the initial A as .npy files, runs the worker, and recomputes the
same run in PyTorch float64 from the documented conventions alone
(docs/worker.md): the PEFT LoRA model, torch's mse / cross-entropy losses,
xoshiro256** + splitmix64 batch order with Fisher-Yates permutations,
torch.optim.AdamW / torch.optim.SGD with LoRA+ as two parameter groups, and
HuggingFace's warmup + cosine (with a min_lr_ratio floor) or constant
schedules through torch's LambdaLR. It then compares:

  1. every `train` record (loss, lr, lr_b, grad_norm_a, grad_norm_b,
     update_norm) and every `eval` record (loss);
  2. `sharpness` records (step 0 and the last) against the eigenvalue of
     largest magnitude of the dense Hessian (torch.autograd.functional.hessian)
     w.r.t. the LoRA parameters and w.r.t. the full weights W0 + s B A;
  3. `spectra` records against dense numpy figures of ΔW = s B A;
  4. determinism: two identical runs give byte-identical output apart from
     the done record's wall_s and steps_per_s.

Usage: /usr/bin/python3 tests/e2e/test_reference.py --worker build/loralpha-worker
Prints every failure with both values and ends with "N passed, M failed";
exits 1 on any failure.
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import scaled  # noqa: E402

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
DT = torch.float64

# ---- tolerances ------------------------------------------------------------
# The worker trains in float32 (sgemm), the reference in float64. Over 30-60
# steps the float32 rounding of the parameters accumulates to ~1e-6..1e-5
# relative, well inside these bounds.
TOL_LOSS = 1e-4        # train / eval losses (the required agreement)
TOL_NORM = 1e-3        # grad norms and update norms
TOL_LR = 1e-9          # learning rates are pure double arithmetic in both
TOL_SHARP = 1e-3       # Lanczos stops at a residual <= 1e-3 |lambda|
# Spectra compare the worker's float32 trajectory with the float64 one at
# every spectra step, up to the last. Both compute the figures in double; the
# parameters they start from differ only by accumulated float32 rounding
# (observed <= ~5e-6 relative after 60 steps), so the required 1e-4 holds
# throughout. Singular values get an absolute floor of 1e-4 * sigma_max: a
# small singular value is only determined to that accuracy relative to the
# largest one.
TOL_SPEC = 1e-4


# ---- bookkeeping -----------------------------------------------------------
class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, got=None, want=None):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}: worker={got!r} reference={want!r}", flush=True)
        return cond

    def close(self, what, got, want, rtol, atol=0.0):
        """|got - want| <= rtol * max(|got|, |want|) + atol; None (JSON null)
        only matches a reference that is NaN / infinite / None."""
        if got is None or want is None or not math.isfinite(want):
            good = (got is None) == (want is None or not math.isfinite(want))
            return self.ok(good, what, got, want)
        diff = abs(got - want)
        good = diff <= rtol * max(abs(got), abs(want)) + atol
        if not good:
            rel = diff / max(abs(got), abs(want), 1e-300)
            print(f"FAIL {what}: worker={got!r} reference={want!r} "
                  f"(abs diff {diff:.3e}, rel diff {rel:.3e}, rtol {rtol:g})",
                  flush=True)
            self.failed += 1
        else:
            self.passed += 1
        return good


CK = Checker()


# ---- the RNG (docs/worker.md "Batches and seeds") ------------------------------
M64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Xoshiro256ss:
    def __init__(self, seed, stream):
        x = (seed + stream * 0xD1B54A32D192ED03) & M64
        self.s = []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def permutation(self, n):
        perm = list(range(n))
        for i in range(n, 1, -1):
            j = self.next() % i
            perm[i - 1], perm[j] = perm[j], perm[i - 1]
        return perm


STREAM_INIT, STREAM_BATCH = 2, 3


class BatchOrder:
    """Rows in the order of a permutation drawn at creation and redrawn each
    time it is used up; a batch may straddle two permutations."""

    def __init__(self, seed, n):
        self.rng = Xoshiro256ss(seed, STREAM_BATCH)
        self.n = n
        self.perm = self.rng.permutation(n)
        self.pos = 0

    def next(self, batch):
        rows = []
        for _ in range(batch):
            if self.pos == self.n:
                self.perm = self.rng.permutation(self.n)
                self.pos = 0
            rows.append(self.perm[self.pos])
            self.pos += 1
        return rows


def kaiming_a0(seed, dims, r):
    """PEFT's Kaiming-uniform(a=sqrt 5) from stream 2, A_0 first, row-major."""
    rng = Xoshiro256ss(seed, STREAM_INIT)
    out = []
    for l in range(len(dims) - 1):
        d = dims[l]
        a = np.array([(2.0 * rng.uniform() - 1.0) / math.sqrt(d)
                      for _ in range(r * d)], dtype=np.float64)
        out.append(a.astype(np.float32).reshape(r, d))
    return out


# ---- schedules (HuggingFace semantics) --------------------------------------
def hf_lambda(cfg):
    warm = cfg.get("warmup_steps", 0)
    total = cfg["steps"]
    kind = cfg.get("schedule", "constant")
    floor = cfg.get("min_lr_ratio", 0.0)

    def f(k):
        if k < warm:  # get_*_schedule_with_warmup
            return float(k) / float(max(1, warm))
        if kind == "constant":
            return 1.0
        progress = float(k - warm) / float(max(1, total - warm))
        c = max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
        return c * (1.0 - floor) + floor  # cosine_with_min_lr
    return f


# ---- the reference model ---------------------------------------------------
ACTS = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": lambda z: F.gelu(z),  # exact (erf) form
}


def scale_of(cfg):
    r, a = cfg["rank"], cfg["alpha"]
    return a / math.sqrt(r) if cfg.get("scaling", "peft") == "rslora" else a / r


def forward_lora(W0, A, B, s, act, X):
    h = X
    for l in range(len(W0)):
        z = h @ W0[l].T + s * ((h @ A[l].T) @ B[l].T)
        h = act(z) if l + 1 < len(W0) else z
    return h


def forward_full(W, act, X):
    h = X
    for l in range(len(W)):
        z = h @ W[l].T
        h = act(z) if l + 1 < len(W) else z
    return h


def loss_of(kind, out, Y):
    return F.mse_loss(out, Y) if kind == "mse" else F.cross_entropy(out, Y)


class Reference:
    """The run in float64: per-step losses, norms, lr and parameter
    snapshots, plus eval losses at every step."""

    def __init__(self, cfg, W0, X, Y, Xe, Ye, A0):
        self.cfg = cfg
        self.s = scale_of(cfg)
        self.act = ACTS[cfg.get("activation", "relu")]
        self.kind = cfg.get("loss", "mse")
        self.W0 = [torch.tensor(w, dtype=DT) for w in W0]
        self.X = torch.tensor(X, dtype=DT)
        self.Xe = torch.tensor(Xe, dtype=DT)
        if self.kind == "ce":
            self.Y = torch.tensor(Y, dtype=torch.long)
            self.Ye = torch.tensor(Ye, dtype=torch.long)
        else:
            self.Y = torch.tensor(Y, dtype=DT)
            self.Ye = torch.tensor(Ye, dtype=DT)
        self.A0 = [np.asarray(a, dtype=np.float64) for a in A0]
        self.A = [torch.tensor(a, dtype=DT, requires_grad=True) for a in A0]
        self.B = [torch.zeros(w.shape[0], cfg["rank"], dtype=DT, requires_grad=True)
                  for w in W0]

    def eval_loss(self):
        with torch.no_grad():
            return loss_of(self.kind, forward_lora(self.W0, self.A, self.B, self.s,
                                                  self.act, self.Xe), self.Ye).item()

    def snapshot(self):
        return ([a.detach().numpy().copy() for a in self.A],
                [b.detach().numpy().copy() for b in self.B])

    def run(self):
        c = self.cfg
        lr = c["lr"]
        groups = [{"params": self.A, "lr": lr},
                  {"params": self.B, "lr": lr * c.get("loraplus_ratio", 1.0)}]
        if c.get("optimizer", "adamw") == "adamw":
            opt = torch.optim.AdamW(groups, lr=lr,
                                    betas=(c.get("beta1", 0.9), c.get("beta2", 0.999)),
                                    eps=c.get("eps", 1e-8),
                                    weight_decay=c.get("weight_decay", 0.0))
        else:
            opt = torch.optim.SGD(groups, lr=lr, momentum=c.get("momentum", 0.0),
                                  nesterov=c.get("nesterov", False),
                                  weight_decay=c.get("weight_decay", 0.0))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(c))
        order = BatchOrder(c.get("seed", 0), self.X.shape[0])
        self.train = {}   # step (updates done) -> dict
        self.evals = {0: self.eval_loss()}
        self.snaps = {0: self.snapshot()}
        for k in range(c["steps"]):
            rows = order.next(c.get("batch", 64))
            opt.zero_grad()
            loss = loss_of(self.kind, forward_lora(self.W0, self.A, self.B, self.s,
                                                  self.act, self.X[rows]), self.Y[rows])
            loss.backward()
            ga = torch.cat([a.grad.reshape(-1) for a in self.A]).norm().item()
            gb = torch.cat([b.grad.reshape(-1) for b in self.B]).norm().item()
            before = torch.cat([p.detach().reshape(-1).clone() for p in self.A + self.B])
            lr_a, lr_b = opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]
            opt.step()
            sched.step()
            after = torch.cat([p.detach().reshape(-1) for p in self.A + self.B])
            self.train[k + 1] = {"loss": loss.item(), "lr": lr_a, "lr_b": lr_b,
                                 "grad_norm_a": ga, "grad_norm_b": gb,
                                 "update_norm": (after - before).norm().item()}
            self.evals[k + 1] = self.eval_loss()
            self.snaps[k + 1] = self.snapshot()
        return self

    # -- sharpness: dense Hessians, top eigenvalue --
    def sharpness(self, step):
        c = self.cfg
        n = min(c.get("sharpness_batch", 256), self.X.shape[0])
        X, Y = self.X[:n], self.Y[:n]
        A_np, B_np = self.snaps[step]
        W0, s, act, kind = self.W0, self.s, self.act, self.kind
        shapes_a = [a.shape for a in A_np]
        shapes_b = [b.shape for b in B_np]

        def split(theta, shapes):
            out, off = [], 0
            for sh in shapes:
                m = sh[0] * sh[1]
                out.append(theta[off:off + m].reshape(sh))
                off += m
            return out, off

        def f_lora(theta):
            A, off = split(theta, shapes_a)
            B, _ = split(theta[off:], shapes_b)
            return loss_of(kind, forward_lora(W0, A, B, s, act, X), Y)

        shapes_w = [w.shape for w in W0]

        def f_full(theta):
            W, _ = split(theta, shapes_w)
            return loss_of(kind, forward_full(W, act, X), Y)

        th_l = torch.tensor(np.concatenate([a.ravel() for a in A_np] +
                                           [b.ravel() for b in B_np]), dtype=DT)
        Wfull = [W0[l].numpy() + s * B_np[l] @ A_np[l] for l in range(len(W0))]
        th_f = torch.tensor(np.concatenate([w.ravel() for w in Wfull]), dtype=DT)
        res = []
        for f, th in ((f_lora, th_l), (f_full, th_f)):
            H = torch.autograd.functional.hessian(f, th, vectorize=True)
            ev = np.linalg.eigvalsh(H.numpy())  # ascending
            res.append(ev)
        return res  # [eigenvalues lora, eigenvalues full], ascending


# ---- dense spectra -----------------------------------------------------------
def dense_spectra(A, B, A0, s, r):
    dW = s * B @ A
    sv = np.linalg.svd(dW, compute_uv=False)[:r]
    fro = np.linalg.norm(dW)
    tf_signal = np.linalg.norm(s * B @ A0)
    tf_drift = np.linalg.norm(s * B @ (A - A0))
    return {"sv": sv, "sigma_max": sv[0], "fro": fro,
            "stable_rank": fro ** 2 / sv[0] ** 2 if sv[0] > 0 else float("nan"),
            "tf_signal": tf_signal, "tf_drift": tf_drift,
            "mech_ratio": tf_drift / tf_signal if tf_signal > 0 else float("nan"),
            "a_drift": np.linalg.norm(A - A0) / np.linalg.norm(A0)}


# ---- running the worker ------------------------------------------------------
def save(path, arr):
    np.save(path, arr)
    return path


def write_case(tmp, name, W0, X, Y, Xe=None, Ye=None, A0=None):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    npy = {"w0": [save(os.path.join(d, f"w0_{l}.npy"), w) for l, w in enumerate(W0)],
           "x": save(os.path.join(d, "x.npy"), X),
           "y": save(os.path.join(d, "y.npy"), Y)}
    if Xe is not None:
        npy["x_eval"] = save(os.path.join(d, "x_eval.npy"), Xe)
        npy["y_eval"] = save(os.path.join(d, "y_eval.npy"), Ye)
    if A0 is not None:
        npy["a0"] = [save(os.path.join(d, f"a0_{l}.npy"), a) for l, a in enumerate(A0)]
    return d, npy


def run_worker(worker, cfg, dirpath, tag="run"):
    path = os.path.join(dirpath, f"{tag}.json")
    with open(path, "w") as fh:
        json.dump(cfg, fh)
    try:
        p = subprocess.run([worker, "--config", path], capture_output=True, timeout=scaled(120))
    except (OSError, subprocess.SubprocessError) as e:
        CK.ok(False, f"{tag}: running the worker", repr(e), "exit code 0")
        return None, b""
    if not CK.ok(p.returncode == 0, f"{tag}: worker exit code (stderr: "
                 f"{p.stderr.decode(errors='replace').strip()})", p.returncode, 0):
        return None, p.stdout
    recs = [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]
    return recs, p.stdout


# ---- data --------------------------------------------------------------------
def make_data(rng, widths, n, act, loss, rank, n_eval=0, teacher_scale=0.5,
              input_decay=1.0):
    """Frozen base W0 (He-ish), a teacher with a low-rank shift, inputs
    x_j ~ N(0, (j+1)^-decay) (anisotropic, so the Hessians have a well
    separated top eigenvalue), targets (mse: teacher output + a little noise;
    ce: argmax labels)."""
    W0, Wt = [], []
    for l in range(len(widths) - 1):
        din, dout = widths[l], widths[l + 1]
        w = rng.standard_normal((dout, din)) * math.sqrt(1.5 / din)
        u = rng.standard_normal((dout, 2)) / math.sqrt(dout)
        v = rng.standard_normal((2, din)) / math.sqrt(din)
        W0.append(w.astype(np.float32))
        Wt.append(w + teacher_scale * 3.0 * (u @ v))
    tot = n + n_eval
    col = (np.arange(widths[0]) + 1.0) ** (-0.5 * input_decay)
    X = (rng.standard_normal((tot, widths[0])) * col).astype(np.float32)
    with torch.no_grad():
        out = forward_full([torch.tensor(w) for w in Wt], ACTS[act],
                           torch.tensor(X, dtype=DT)).numpy()
    if loss == "ce":
        Y = np.argmax(out, axis=1).astype(np.int64)
    else:
        Y = (out + 0.05 * rng.standard_normal(out.shape)).astype(np.float32)
    A0 = [(rng.uniform(-1, 1, (rank, widths[l])) / math.sqrt(widths[l])).astype(np.float32)
          for l in range(len(widths) - 1)]
    if n_eval:
        return W0, X[:n], Y[:n], X[n:], Y[n:], A0
    return W0, X, Y, None, None, A0


# ---- comparisons -------------------------------------------------------------
def expected_steps(cfg, every_key, default, with_zero):
    steps = cfg["steps"]
    k = cfg.get(every_key, default)
    out = {steps}
    if with_zero:
        out.add(0)
    if k > 0:
        out.update(range(k, steps + 1, k))
    return out


def compare_run(name, cfg, recs, ref):
    by = {}
    for rc in recs:
        by.setdefault(rc["type"], []).append(rc)
    CK.ok([r["type"] for r in recs[:1]] == ["start"], f"{name}: first record is start",
          recs[0]["type"] if recs else None, "start")
    CK.ok(by.get("done", [{}])[0].get("status") == "done", f"{name}: done status",
          by.get("done", [{}])[0].get("status"), "done")
    start = by["start"][0]
    CK.close(f"{name}: start scale", start["scale"], ref.s, 1e-9)  # 10 digits
    CK.ok(start["n_train"] == ref.X.shape[0], f"{name}: start n_train",
          start["n_train"], ref.X.shape[0])
    CK.ok(start["n_eval"] == ref.Xe.shape[0], f"{name}: start n_eval",
          start["n_eval"], ref.Xe.shape[0])

    # 1. train and eval records
    train = by.get("train", [])
    want = expected_steps(cfg, "log_every", 1, False)
    CK.ok(sorted(r["step"] for r in train) == sorted(want), f"{name}: train record steps",
          [r["step"] for r in train], sorted(want))
    lp = cfg.get("loraplus_ratio", 1.0) != 1.0
    for r in train:
        k, t = r["step"], ref.train.get(r["step"])
        if t is None:
            continue
        CK.close(f"{name}: train step {k} loss", r["loss"], t["loss"], TOL_LOSS)
        CK.close(f"{name}: train step {k} lr", r["lr"], t["lr"], TOL_LR, 1e-15)
        if lp:
            CK.close(f"{name}: train step {k} lr_b", r.get("lr_b"), t["lr_b"], TOL_LR, 1e-15)
        else:
            CK.ok("lr_b" not in r, f"{name}: train step {k} has no lr_b", r.get("lr_b"), None)
        # B = 0 at step 0 makes A's gradient exactly zero in both
        CK.close(f"{name}: train step {k} grad_norm_a", r["grad_norm_a"], t["grad_norm_a"],
                 TOL_NORM, 1e-12)
        CK.close(f"{name}: train step {k} grad_norm_b", r["grad_norm_b"], t["grad_norm_b"],
                 TOL_NORM, 1e-12)
        CK.close(f"{name}: train step {k} update_norm", r["update_norm"], t["update_norm"],
                 TOL_NORM, 1e-12)
    evals = by.get("eval", [])
    want = expected_steps(cfg, "eval_every", 10, True)
    CK.ok(sorted(r["step"] for r in evals) == sorted(want), f"{name}: eval record steps",
          [r["step"] for r in evals], sorted(want))
    for r in evals:
        CK.close(f"{name}: eval step {r['step']} loss", r["loss"],
                 ref.evals.get(r["step"], float("nan")), TOL_LOSS)
    done = by.get("done", [{}])[0]
    if train:
        CK.close(f"{name}: done final_train_loss", done.get("final_train_loss"),
                 ref.train[cfg["steps"]]["loss"], TOL_LOSS)
    CK.close(f"{name}: done final_eval_loss", done.get("final_eval_loss"),
             ref.evals[cfg["steps"]], TOL_LOSS)

    # 3. spectra vs dense
    spec = by.get("spectra", [])
    L = len(ref.W0)
    want = expected_steps(cfg, "spectra_every", 50, False)
    CK.ok(sorted({r["step"] for r in spec}) == sorted(want) and len(spec) == L * len(want),
          f"{name}: spectra record steps", sorted(r["step"] for r in spec), sorted(want))
    r_ = cfg["rank"]
    for rec in spec:
        k, l = rec["step"], rec["layer"]
        tol = TOL_SPEC
        A, B = ref.snaps[k][0][l], ref.snaps[k][1][l]
        d = dense_spectra(A, B, ref.A0[l], ref.s, r_)
        tag = f"{name}: spectra step {k} layer {l}"
        for key in ("sigma_max", "fro", "stable_rank", "tf_signal", "tf_drift",
                    "mech_ratio", "a_drift"):
            CK.close(f"{tag} {key}", rec[key], float(d[key]), tol)
        CK.ok(len(rec["sv"]) == r_, f"{tag} sv length", len(rec["sv"]), r_)
        for i, (g, w) in enumerate(zip(rec["sv"], d["sv"])):
            CK.close(f"{tag} sv[{i}]", g, float(w), tol, tol * d["sigma_max"])

    # 2. sharpness vs dense Hessian
    sh = by.get("sharpness", [])
    if cfg.get("sharpness", True):
        want = {0, cfg["steps"]}
        CK.ok(sorted(r["step"] for r in sh) == sorted(want), f"{name}: sharpness steps",
              [r["step"] for r in sh], sorted(want))
        for rec in sh:
            ev_l, ev_f = ref.sharpness(rec["step"])
            ll, lf = ev_l[-1], ev_f[-1]
            tag = f"{name}: sharpness step {rec['step']}"
            CK.close(f"{tag} lora", rec["lora"], ll, TOL_SHARP)
            CK.close(f"{tag} full", rec["full"], lf, TOL_SHARP)
            CK.close(f"{tag} ratio", rec["ratio"], ll / lf, 2 * TOL_SHARP)
            CK.ok(rec["rows"] == min(cfg.get("sharpness_batch", 256), ref.X.shape[0]),
                  f"{tag} rows", rec["rows"], cfg.get("sharpness_batch", 256))
            for key, ev in (("lora", ev_l), ("full", ev_f)):
                it, res = rec.get(f"{key}_iters"), rec.get(f"{key}_residual")
                CK.ok(rec.get(f"{key}_converged") is True
                      and 1 <= it <= cfg.get("sharpness_iters", 50)
                      and 0 <= res <= cfg.get("sharpness_tol", 1e-3) * abs(rec[key]),
                      f"{tag} {key}: converged within the cap, residual <= tol |lambda|",
                      (rec.get(f"{key}_converged"), it, res), "true, <= cap, <= tol |lambda|")
                # the residual's promise: an eigenvalue within it (plus the
                # float32 trajectory's difference from the float64 one)
                near = float(np.min(np.abs(ev - rec[key])))
                CK.ok(near <= res + 1e-5 * abs(ev[-1]),
                      f"{tag} {key}: an eigenvalue within the residual",
                      near, f"<= {res!r} + 1e-5 |lambda|")
    else:
        CK.ok(not sh, f"{name}: no sharpness records", len(sh), 0)


COMMON = {"task": "npy", "threads": 1, "log_every": 1, "eval_every": 1,
          "sharpness": False, "sharpness_iters": 1000}


def case(worker, tmp, name, cfg_extra, data, a0_in_file=True):
    W0, X, Y, Xe, Ye, A0 = data
    d, npy = write_case(tmp, name, W0, X, Y, Xe, Ye, A0 if a0_in_file else None)
    cfg = dict(COMMON)
    cfg.update(cfg_extra)
    cfg["npy"] = npy
    recs, _ = run_worker(worker, cfg, d, name)
    if recs is None:
        return None
    if Xe is None:  # the worker holds out the LAST floor(n * eval_fraction) rows
        ne = int(math.floor(X.shape[0] * cfg.get("eval_fraction", 0.2)))
        X, Y, Xe, Ye = X[:-ne], Y[:-ne], X[-ne:], Y[-ne:]
    if not a0_in_file:
        widths = [W0[0].shape[1]] + [w.shape[0] for w in W0]
        A0 = kaiming_a0(cfg.get("seed", 0), widths, cfg["rank"])
    try:
        ref = Reference(cfg, W0, X, Y, Xe, Ye, A0).run()
        compare_run(name, cfg, recs, ref)
    except Exception as e:  # e.g. a record or field the worker did not write
        traceback.print_exc()
        CK.ok(False, f"{name}: comparison raised", repr(e), "no exception")
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", required=True)
    args = ap.parse_args()
    worker = os.path.abspath(args.worker)
    tmp = tempfile.mkdtemp(prefix="loralpha-reference-")
    try:
        rng = np.random.default_rng(20240611)

        # (a) 1 layer, mse, peft, AdamW, constant; sharpness (no activation)
        data = make_data(rng, [16, 12], 96, "identity", "mse", 4, n_eval=40)
        case(worker, tmp, "a_1layer_adamw", {
            "activation": "identity", "loss": "mse", "rank": 4, "alpha": 8,
            "optimizer": "adamw", "lr": 0.01, "steps": 40, "batch": 16, "seed": 3,
            "spectra_every": 2, "sharpness": True, "sharpness_batch": 32}, data)

        # (b) 3 layers gelu, mse, rslora, AdamW wd, cosine + warmup, LoRA+
        data = make_data(rng, [24, 16, 16, 10], 120, "gelu", "mse", 4, n_eval=48)
        cfg_b = case(worker, tmp, "b_3layer_gelu_cosine_loraplus", {
            "activation": "gelu", "loss": "mse", "rank": 4, "alpha": 6,
            "scaling": "rslora", "optimizer": "adamw", "lr": 0.005,
            "weight_decay": 0.01, "schedule": "cosine", "warmup_steps": 6,
            "min_lr_ratio": 0.1, "loraplus_ratio": 4, "steps": 50, "batch": 20,
            "seed": 11, "spectra_every": 5, "sharpness": True,
            "sharpness_batch": 24}, data)

        # (c) 2 layers tanh, ce (int64 labels), SGD momentum nesterov wd
        data = make_data(rng, [10, 12, 5], 90, "tanh", "ce", 3, n_eval=36)
        case(worker, tmp, "c_2layer_tanh_ce_sgd_nesterov", {
            "activation": "tanh", "loss": "ce", "rank": 3, "alpha": 9,
            "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True,
            "weight_decay": 0.001, "steps": 45, "batch": 15, "seed": 5,
            "spectra_every": 3, "sharpness": True, "sharpness_batch": 30}, data)

        # (d) relu 2 layers, batch straddling epochs, eval split from
        #     eval_fraction (last floor(n * f) rows held out), warmup constant
        data = make_data(rng, [14, 20, 6], 100, "relu", "mse", 2)
        case(worker, tmp, "d_2layer_relu_straddle_evalfrac", {
            "activation": "relu", "loss": "mse", "rank": 2, "alpha": 4,
            "optimizer": "adamw", "lr": 0.01, "beta1": 0.8, "beta2": 0.99,
            "eps": 1e-6, "warmup_steps": 4, "eval_fraction": 0.25,
            "steps": 60, "batch": 16, "seed": 7, "eval_every": 3,
            "log_every": 1, "spectra_every": 4}, data)

        # (e) identity 2 layers, plain SGD, constant + warmup, no a0 file:
        #     also checks the Kaiming init from stream 2
        data = make_data(rng, [8, 10, 6], 70, "identity", "mse", 3, n_eval=30)
        case(worker, tmp, "e_2layer_identity_sgd_kaiming", {
            "activation": "identity", "loss": "mse", "rank": 3, "alpha": 5,
            "optimizer": "sgd", "lr": 0.05, "warmup_steps": 3, "steps": 30,
            "batch": 10, "seed": 123456789, "spectra_every": 0, "sharpness": True,
            "sharpness_batch": 40}, data, a0_in_file=False)

        # (f) gelu 2 layers, ce, SGD with momentum (no nesterov), cosine to 0
        data = make_data(rng, [12, 10, 4], 80, "gelu", "ce", 2, n_eval=32)
        case(worker, tmp, "f_2layer_gelu_ce_sgd_momentum_cosine", {
            "activation": "gelu", "loss": "ce", "rank": 2, "alpha": 2,
            "optimizer": "sgd", "lr": 0.3, "momentum": 0.5, "schedule": "cosine",
            "steps": 35, "batch": 12, "seed": 2, "spectra_every": 7,
            "loraplus_ratio": 2.5}, data)

        # 4. determinism: case (b) twice, threads = 1
        if cfg_b is not None:
            d = os.path.join(tmp, "b_3layer_gelu_cosine_loraplus")
            _, out1 = run_worker(worker, cfg_b, d, "det1")
            _, out2 = run_worker(worker, cfg_b, d, "det2")
            strip = re.compile(rb',"(wall_s|steps_per_s)":[^,}]*')
            s1, s2 = strip.sub(b"", out1), strip.sub(b"", out2)
            CK.ok(len(s1) > 0 and s1 == s2,
                  "determinism: byte-identical output without wall_s/steps_per_s",
                  f"{len(s1)} bytes", f"{len(s2)} bytes")
            CK.ok(len(s1) < len(out1), "determinism: timing fields were present",
                  len(s1), f"< {len(out1)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{CK.passed} passed, {CK.failed} failed")
    return 1 if CK.failed else 0


if __name__ == "__main__":
    sys.exit(main())
