#!/usr/bin/python3
"""Independent PyTorch reference of loralpha-worker's task "gpt".

For each case the script writes a random GPT-2-shaped base as a
safetensors file (GPT-2's names, Conv1D (in, out) weights) and a text
file, runs the worker on them for 50 LoRA steps, and rebuilds the same run
in PyTorch float64 from the documented conventions alone (docs/worker.md
"Task gpt"): the model from the same safetensors bytes (token + position
embeddings, pre-LayerNorm blocks, causal attention, GELU's tanh form,
final LayerNorm, LM head tied to wte), PEFT's LoRA on the target modules
(A Kaiming-uniform from the worker's stream 2 in (block, module) order, B
zero, s = alpha / r or alpha / sqrt(r)), windows at u64 % (n_train - T)
from stream 3, torch.optim.AdamW and the eval windows. Every train and
eval loss must agree to 1e-4 relative, for two model sizes and two
target-module sets; then a broken base must be refused naming the tensor.

Usage: /usr/bin/python3 tests/e2e/test_gpt_reference.py --worker build/loralpha-worker
Prints every failure with both values and ends with "N passed, M failed";
exits 1 on any failure.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from harness import scaled  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "gpt"))
from make_base import write_f32  # noqa: E402
import test_reference as ref  # noqa: E402  (the RNG, schedules, checker)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)
DT = torch.float64
TOL_LOSS = 1e-4
CK = ref.CK
MODULES = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]
MATCH = {"c_attn": {0}, "c_proj": {1, 3}, "c_fc": {2}, "attn.c_attn": {0},
         "attn.c_proj": {1}, "mlp.c_fc": {2}, "mlp.c_proj": {3}}


def make_base(rng, V, maxT, C, L):
    """GPT-2's tensors with random values of GPT-2-like scales."""
    t = {"wte.weight": rng.normal(0, 0.3, (V, C)),
         "wpe.weight": rng.normal(0, 0.1, (maxT, C))}
    for l in range(L):
        h = f"h.{l}."
        t[h + "ln_1.weight"] = 1 + rng.normal(0, 0.1, C)
        t[h + "ln_1.bias"] = rng.normal(0, 0.1, C)
        t[h + "attn.c_attn.weight"] = rng.normal(0, 0.2, (C, 3 * C))
        t[h + "attn.c_attn.bias"] = rng.normal(0, 0.05, 3 * C)
        t[h + "attn.c_proj.weight"] = rng.normal(0, 0.2, (C, C))
        t[h + "attn.c_proj.bias"] = rng.normal(0, 0.05, C)
        t[h + "ln_2.weight"] = 1 + rng.normal(0, 0.1, C)
        t[h + "ln_2.bias"] = rng.normal(0, 0.1, C)
        t[h + "mlp.c_fc.weight"] = rng.normal(0, 0.2, (C, 4 * C))
        t[h + "mlp.c_fc.bias"] = rng.normal(0, 0.05, 4 * C)
        t[h + "mlp.c_proj.weight"] = rng.normal(0, 0.1, (4 * C, C))
        t[h + "mlp.c_proj.bias"] = rng.normal(0, 0.05, C)
    t["ln_f.weight"] = 1 + rng.normal(0, 0.1, C)
    t["ln_f.bias"] = rng.normal(0, 0.1, C)
    return {k: v.astype(np.float32) for k, v in t.items()}


def make_text(rng, n):
    """Bytes of made-up words: a skewed distribution with structure."""
    words = [bytes(rng.choice(list(b"etaoinshrdlucmfwyp"), size=rng.integers(2, 7)))
             for _ in range(60)]
    p = 1.0 / np.arange(1, 61)
    out = bytearray()
    while len(out) < n:
        out += words[rng.choice(60, p=p / p.sum())] + (b". " if rng.random() < 0.1 else b" ")
    return bytes(out[:n])


def setup(tmp, name, rng, V, maxT, C, L, n_text):
    """A case's directory with a base and a text; (dir, base, text, the
    config's gpt object)."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    base = make_base(rng, V, maxT, C, L)
    write_f32(os.path.join(d, "base.safetensors"), base, {"format": "pt"})
    text = make_text(rng, n_text)
    with open(os.path.join(d, "train.txt"), "wb") as fh:
        fh.write(text)
    return d, base, text, {"base": os.path.join(d, "base.safetensors"),
                           "text": os.path.join(d, "train.txt")}


class Ref:
    """The run in float64."""

    def __init__(self, cfg, base, tokens):
        self.cfg = cfg
        self.W = {k: torch.tensor(v, dtype=DT) for k, v in base.items()}
        self.C = base["wte.weight"].shape[1]
        self.L = sum(1 for k in base if k.endswith("ln_1.weight"))
        self.NH = cfg["n_head"]
        self.T = cfg["context"]
        n_eval = int(len(tokens) * cfg.get("eval_fraction", 0.2))
        self.train = tokens[:len(tokens) - n_eval]
        self.eval = tokens[len(tokens) - n_eval:]
        self.s = ref.scale_of(cfg)
        mods = set()
        for name in cfg["target_modules"]:
            mods |= MATCH[name]
        self.mods = sorted(mods)
        r = cfg["rank"]
        rng = ref.Xoshiro256ss(cfg.get("seed", 0), ref.STREAM_INIT)
        self.A, self.B = {}, {}
        for l in range(self.L):
            for m in self.mods:
                din, dout = self.dims(m)
                a = np.array([(2.0 * rng.uniform() - 1.0) / math.sqrt(din)
                              for _ in range(r * din)], dtype=np.float64)
                self.A[l, m] = torch.tensor(a.astype(np.float32).reshape(r, din), dtype=DT,
                                            requires_grad=True)
                self.B[l, m] = torch.zeros(dout, r, dtype=DT, requires_grad=True)

    def dims(self, m):
        C = self.C
        return [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)][m]

    def linear(self, x, l, m):
        name = f"h.{l}.{MODULES[m]}"
        y = x @ self.W[name + ".weight"] + self.W[name + ".bias"]
        if (l, m) in self.A:
            y = y + self.s * (x @ self.A[l, m].T) @ self.B[l, m].T
        return y

    def loss(self, tok, tgt):
        nb, T, C, NH = tok.shape[0], self.T, self.C, self.NH
        hs = C // NH
        x = self.W["wte.weight"][tok] + self.W["wpe.weight"][:T]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        for l in range(self.L):
            h = f"h.{l}."
            a = F.layer_norm(x, (C,), self.W[h + "ln_1.weight"], self.W[h + "ln_1.bias"], 1e-5)
            q, k, v = self.linear(a, l, 0).split(C, dim=-1)
            q = q.view(nb, T, NH, hs).transpose(1, 2)
            k = k.view(nb, T, NH, hs).transpose(1, 2)
            v = v.view(nb, T, NH, hs).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            att = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
            y = (att @ v).transpose(1, 2).reshape(nb, T, C)
            x = x + self.linear(y, l, 1)
            a = F.layer_norm(x, (C,), self.W[h + "ln_2.weight"], self.W[h + "ln_2.bias"], 1e-5)
            x = x + self.linear(F.gelu(self.linear(a, l, 2), approximate="tanh"), l, 3)
        x = F.layer_norm(x, (C,), self.W["ln_f.weight"], self.W["ln_f.bias"], 1e-5)
        logits = x @ self.W["wte.weight"].T
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))

    def eval_loss(self):
        T = self.T
        n = min((len(self.eval) - 1) // T, self.cfg.get("n_eval", 1024))
        tok = torch.tensor([self.eval[w * T:w * T + T] for w in range(n)])
        tgt = torch.tensor([self.eval[w * T + 1:w * T + T + 1] for w in range(n)])
        with torch.no_grad():
            return self.loss(tok, tgt).item()

    def run(self):
        c = self.cfg
        params_a = [self.A[k] for k in sorted(self.A)]
        params_b = [self.B[k] for k in sorted(self.B)]
        opt = torch.optim.AdamW([{"params": params_a, "lr": c["lr"]},
                                 {"params": params_b, "lr": c["lr"]}],
                                lr=c["lr"], betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=c.get("weight_decay", 0.0))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, ref.hf_lambda(c))
        rng = ref.Xoshiro256ss(c.get("seed", 0), ref.STREAM_BATCH)
        span, T = len(self.train) - self.T, self.T
        self.losses, self.evals = {}, {0: self.eval_loss()}
        for k in range(c["steps"]):
            starts = [rng.next() % span for _ in range(c["batch"])]
            tok = torch.tensor([self.train[s:s + T] for s in starts])
            tgt = torch.tensor([self.train[s + 1:s + T + 1] for s in starts])
            opt.zero_grad()
            loss = self.loss(tok, tgt)
            loss.backward()
            opt.step()
            sched.step()
            self.losses[k + 1] = loss.item()
            if (k + 1) % c.get("eval_every", 10) == 0 or k + 1 == c["steps"]:
                self.evals[k + 1] = self.eval_loss()
        return self


def run_worker(worker, cfg, d, *flags):
    path = os.path.join(d, "run.json")
    with open(path, "w") as fh:
        json.dump(cfg, fh)
    p = subprocess.run([worker, "--config", path, *flags], capture_output=True,
                       timeout=scaled(300))
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def case(worker, tmp, name, rng, V, C, L, NH, T, targets, extra=None):
    d, base, text, files = setup(tmp, name, rng, V, T + 4, C, L, 3000)
    cfg = {"task": "gpt", "gpt": files,
           "n_head": NH, "context": T, "target_modules": targets, "rank": 4,
           "alpha": 8, "lr": 3e-3, "steps": 50, "batch": 3, "seed": 17,
           "eval_every": 10, "spectra_every": 25, "n_eval": 12, "threads": 1}
    cfg.update(extra or {})
    rc, out, err = run_worker(worker, cfg, d)
    if not CK.ok(rc == 0, f"{name}: worker exit code (stderr: {err.strip()})", rc, 0):
        return
    recs = [json.loads(x) for x in out.splitlines() if x.strip()]
    want = Ref(cfg, base, list(text)).run()
    got_train = {r["step"]: r["loss"] for r in recs if r["type"] == "train"}
    got_eval = {r["step"]: r["loss"] for r in recs if r["type"] == "eval"}
    CK.ok(sorted(got_train) == list(range(1, 51)), f"{name}: train steps",
          sorted(got_train)[:3], [1, 2, 3])
    CK.ok(sorted(got_eval) == sorted(want.evals), f"{name}: eval steps",
          sorted(got_eval), sorted(want.evals))
    worst = 0.0
    for k, v in want.losses.items():
        if k in got_train:
            CK.close(f"{name}: train loss at step {k}", got_train[k], v, TOL_LOSS)
            worst = max(worst, abs(got_train[k] - v) / abs(v))
    for k, v in want.evals.items():
        if k in got_eval:
            CK.close(f"{name}: eval loss at step {k}", got_eval[k], v, TOL_LOSS)
    CK.ok(want.losses[50] < want.losses[1], f"{name}: the loss falls",
          want.losses[50], want.losses[1])
    n_mod = len(want.mods) * L
    spectra = [r for r in recs if r["type"] == "spectra" and r["step"] == 50]
    CK.ok(len(spectra) == n_mod, f"{name}: spectra records per module", len(spectra), n_mod)
    CK.ok(spectra and spectra[0].get("x_module") == f"h.0.{MODULES[want.mods[0]]}",
          f"{name}: module name", spectra[0].get("x_module") if spectra else None,
          f"h.0.{MODULES[want.mods[0]]}")
    print(f"{name}: 50 steps, worst train-loss difference {worst:.2e} relative", flush=True)


def top_eig(H):
    return float(torch.linalg.eigvalsh(H).max())


def sharpness_ref(r, n_win):
    """The dense Hessians' top eigenvalues on the first n_win windows, w.r.t.
    the adapters (A, B) and w.r.t. the adapted weights W + s (B A)^T."""
    T = r.T
    tok = torch.tensor([r.train[w * T:w * T + T] for w in range(n_win)])
    tgt = torch.tensor([r.train[w * T + 1:w * T + T + 1] for w in range(n_win)])
    keys = sorted(r.A)
    A0 = [r.A[k].detach().clone() for k in keys]
    B0 = [r.B[k].detach().clone() for k in keys]
    sizes = [a.numel() for a in A0] + [b.numel() for b in B0]

    def f_lora(theta):
        parts = torch.split(theta, sizes)
        for i, k in enumerate(keys):
            r.A[k] = parts[i].view_as(A0[i])
            r.B[k] = parts[len(keys) + i].view_as(B0[i])
        return r.loss(tok, tgt)

    theta = torch.cat([x.reshape(-1) for x in A0 + B0])
    lam_lora = top_eig(torch.autograd.functional.hessian(f_lora, theta))
    names = [f"h.{l}.{MODULES[m]}.weight" for l, m in keys]
    W0 = {n: r.W[n].clone() for n in names}
    eff = [W0[n] + r.s * (B0[i] @ A0[i]).T for i, n in enumerate(names)]
    saved = (dict(r.A), dict(r.B))
    r.A, r.B = {}, {}

    def f_full(theta):
        for n, part in zip(names, torch.split(theta, [e.numel() for e in eff])):
            r.W[n] = part.view_as(W0[n])
        return r.loss(tok, tgt)

    lam_full = top_eig(torch.autograd.functional.hessian(
        f_full, torch.cat([e.reshape(-1) for e in eff])))
    r.W.update(W0)
    r.A, r.B = saved
    for i, k in enumerate(keys):
        r.A[k], r.B[k] = A0[i].requires_grad_(True), B0[i].requires_grad_(True)
    return lam_lora, lam_full


def sharpness(worker, tmp, rng):
    """sharpness: the worker's Lanczos estimates at the start and the end
    against the dense Hessians' top eigenvalues from torch."""
    d, base, text, files = setup(tmp, "sharpness", rng, 256, 10, 8, 1, 600)
    cfg = {"task": "gpt", "gpt": files,
           "n_head": 2, "context": 6, "target_modules": ["c_attn"], "rank": 2,
           "alpha": 4, "lr": 0.02, "steps": 8, "batch": 2, "seed": 9,
           "sharpness": True, "sharpness_batch": 3, "sharpness_iters": 300,
           "sharpness_tol": 1e-7, "threads": 1}
    rc, out, err = run_worker(worker, cfg, d)
    if not CK.ok(rc == 0, f"sharpness: worker exit code (stderr: {err.strip()})", rc, 0):
        return
    recs = {r["step"]: r for r in map(json.loads, out.splitlines()) if r["type"] == "sharpness"}
    CK.ok(sorted(recs) == [0, 8], "sharpness: records at 0 and the end", sorted(recs), [0, 8])
    ref_run = Ref(cfg, base, list(text))
    want0 = sharpness_ref(ref_run, 3)
    ref_run.run()
    want8 = sharpness_ref(ref_run, 3)
    for step, (wl, wf) in ((0, want0), (8, want8)):
        if step not in recs:
            continue
        CK.close(f"sharpness: lora at step {step}", recs[step]["lora"], wl, 1e-3)
        CK.close(f"sharpness: full at step {step}", recs[step]["full"], wf, 1e-3)
        CK.ok(recs[step]["rows"] == 3, f"sharpness: rows at step {step}", recs[step]["rows"], 3)
    print(f"sharpness: lora {recs.get(8, {}).get('lora')} vs {want8[0]:.6g}, "
          f"full {recs.get(8, {}).get('full')} vs {want8[1]:.6g}", flush=True)


class PretrainRef(Ref):
    """Pretraining: every base tensor trained with one AdamW group."""

    def __init__(self, cfg, base, tokens):
        cfg = dict(cfg, target_modules=[], rank=1, alpha=1)
        super().__init__(cfg, base, tokens)
        for v in self.W.values():
            v.requires_grad_(True)

    def run(self):
        c = self.cfg
        opt = torch.optim.AdamW(list(self.W.values()), lr=c["lr"], betas=(0.9, 0.999),
                                eps=1e-8, weight_decay=c.get("weight_decay", 0.0))
        rng = ref.Xoshiro256ss(c.get("seed", 0), ref.STREAM_BATCH)
        span, T = len(self.train) - self.T, self.T
        self.losses = {}
        for k in range(c["steps"]):
            starts = [rng.next() % span for _ in range(c["batch"])]
            opt.zero_grad()
            loss = self.loss(torch.tensor([self.train[s:s + T] for s in starts]),
                             torch.tensor([self.train[s + 1:s + T + 1] for s in starts]))
            loss.backward()
            opt.step()
            self.losses[k + 1] = loss.item()
        return self


def read_f32(path):
    """The F32 tensors of a safetensors file, by name."""
    with open(path, "rb") as fh:
        raw = fh.read()
    n = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8:8 + n])
    return {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                             dtype="<f4").reshape(v["shape"])
            for k, v in head.items() if k != "__metadata__"}, head.get("__metadata__")


def pretrain(worker, tmp, rng):
    """--pretrain: every weight trained (losses as torch's over 30 steps),
    the weights written in GPT-2's names as torch's final weights, and the
    file usable as a base."""
    d, base, text, files = setup(tmp, "pretrain", rng, 256, 20, 32, 2, 2000)
    out = os.path.join(d, "out.safetensors")
    cfg = {"task": "gpt", "gpt": files,
           "n_head": 4, "context": 16, "lr": 2e-3, "steps": 30, "batch": 3,
           "seed": 4, "weight_decay": 0.01, "threads": 1}
    rc, o, err = run_worker(worker, cfg, d, "--pretrain", out)
    if not CK.ok(rc == 0, f"pretrain: worker exit code (stderr: {err.strip()})", rc, 0):
        return
    got = {r["step"]: r["loss"] for r in map(json.loads, o.splitlines()) if r["type"] == "train"}
    want = PretrainRef(cfg, base, list(text)).run()
    for k, v in want.losses.items():
        CK.close(f"pretrain: train loss at step {k}", got.get(k), v, TOL_LOSS)
    tensors, meta = read_f32(out)
    CK.ok(sorted(tensors) == sorted(base), "pretrain: the written tensors' names",
          sorted(tensors)[:3], sorted(base)[:3])
    CK.ok(meta == {"format": "pt", "loralpha": "pretrain", "steps": "30"},
          "pretrain: metadata", meta, "format pt, loralpha pretrain, steps 30")
    # Adam's update is m / sqrt(v): an entry whose gradient is zero up to
    # rounding steps either way. The key part of c_attn's bias is one: it
    # adds q . b_k to every score of a row, which the softmax ignores. It
    # is left out; the rest is compared by each tensor's relative distance.
    worst, moved = 0.0, 0.0
    for k in base:
        if k not in tensors:
            continue
        w, g = want.W[k].detach().numpy(), tensors[k]
        if k.endswith("c_attn.bias"):
            w, g = np.delete(w, np.s_[32:64]), np.delete(g, np.s_[32:64])
        worst = max(worst, float(np.linalg.norm(g - w) / np.linalg.norm(w)))
        moved = max(moved, float(np.linalg.norm(want.W[k].detach().numpy() - base[k])
                                 / np.linalg.norm(w)))
    print(f"pretrain: 30 steps, weights within {worst:.1e} (relative), moved {moved:.1e}")
    CK.ok(worst < 1e-4 and moved > 1e-2, "pretrain: weights as torch's (relative "
          "distance) and moved from the base", (worst, moved), "< 1e-4, > 1e-2")
    cfg2 = dict(cfg, gpt=dict(cfg["gpt"], base=out), rank=2, alpha=4, steps=3)
    rc, o, err = run_worker(worker, cfg2, d)
    CK.ok(rc == 0, f"pretrain: the written file is a base (stderr: {err.strip()})", rc, 0)
    rc, o, err = run_worker(worker, dict(cfg, pretrain=True), d)
    CK.ok(rc != 0 and "needs --pretrain OUT" in err, "pretrain without an output",
          err.strip(), "pretrain: needs --pretrain OUT.safetensors ...")


def tokens(worker, tmp, rng):
    """gpt.tokens: uint16 ids from a .npy with vocab_size, an eval file of
    int32 ids; losses as torch's; an id >= vocab_size is refused naming
    the file's field."""
    d, base, _, files = setup(tmp, "tokens", rng, 300, 20, 16, 1, 10)
    ids = rng.integers(0, 290, 1500)
    np.save(os.path.join(d, "train.npy"), ids.astype("<u2"))
    np.save(os.path.join(d, "eval.npy"), ids[:200].astype("<i4"))
    cfg = {"task": "gpt", "gpt": {"base": files["base"],
                                  "tokens": os.path.join(d, "train.npy"),
                                  "tokens_eval": os.path.join(d, "eval.npy")},
           "vocab_size": 290, "n_head": 2, "context": 12, "target_modules": ["c_fc"],
           "rank": 3, "alpha": 6, "lr": 5e-3, "steps": 20, "batch": 2, "seed": 2,
           "eval_every": 5, "n_eval": 8, "threads": 1}
    rc, out, err = run_worker(worker, cfg, d)
    if not CK.ok(rc == 0, f"tokens: worker exit code (stderr: {err.strip()})", rc, 0):
        return
    recs = [json.loads(x) for x in out.splitlines()]
    ref_run = Ref(dict(cfg, eval_fraction=0.0), base, [int(x) for x in ids])
    ref_run.eval = [int(x) for x in ids[:200]]
    want = ref_run.run()
    for r in recs:
        if r["type"] == "train":
            CK.close(f"tokens: train loss at step {r['step']}", r["loss"],
                     want.losses[r["step"]], TOL_LOSS)
        if r["type"] == "eval":
            CK.close(f"tokens: eval loss at step {r['step']}", r["loss"],
                     want.evals.get(r["step"]), TOL_LOSS)
    rc, out, err = run_worker(worker, dict(cfg, vocab_size=100), d)
    want_msg = "gpt.tokens: token id"
    CK.ok(rc == 2 and want_msg in err and "vocab_size 100" in err,
          "tokens: an id past vocab_size", err.strip(), want_msg + " ... vocab_size 100")


def refused(worker, tmp):
    """A base whose c_fc weight has the nn.Linear orientation is refused,
    naming the tensor and the expected shape."""
    d = os.path.join(tmp, "refused")
    os.makedirs(d)
    rng = np.random.default_rng(5)
    base = make_base(rng, 256, 20, 16, 1)
    base["h.0.mlp.c_fc.weight"] = base["h.0.mlp.c_fc.weight"].T.copy()
    write_f32(os.path.join(d, "base.safetensors"), base)
    with open(os.path.join(d, "t.txt"), "wb") as fh:
        fh.write(make_text(rng, 500))
    cfg = {"task": "gpt", "gpt": {"base": os.path.join(d, "base.safetensors"),
                                  "text": os.path.join(d, "t.txt")},
           "n_head": 2, "context": 8, "rank": 2, "alpha": 2, "lr": 0.01, "steps": 2}
    rc, out, err = run_worker(worker, cfg, d)
    CK.ok(rc != 0, "refused: exit code", rc, "non-zero")
    want = "tensor 'h.0.mlp.c_fc.weight' must have shape (16, 64)"
    CK.ok(want in err, "refused: message", err.strip(), want)
    req = json.dumps({"type": "run", "config": dict(cfg, pretrain=True)})
    p = subprocess.run([worker, "--serve"], input=req + "\n", capture_output=True,
                       text=True, timeout=scaled(60))
    want = '"error":"pretrain: not with --serve"'
    CK.ok(want in p.stdout, "refused: pretraining under --serve", p.stdout.strip(), want)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", required=True)
    worker = os.path.abspath(ap.parse_args().worker)
    rng = np.random.default_rng(20261206)
    with tempfile.TemporaryDirectory(prefix="loralpha-gpt-reference-") as tmp:
        case(worker, tmp, "small_c_attn", rng, 256, 32, 2, 4, 16, ["c_attn"])
        case(worker, tmp, "small_all", rng, 256, 32, 2, 4, 16,
             ["c_attn", "c_proj", "c_fc"], {"scaling": "rslora"})
        case(worker, tmp, "wider_c_attn", rng, 300, 64, 3, 2, 24, ["c_attn"],
             {"schedule": "cosine", "warmup_steps": 5, "weight_decay": 0.01})
        case(worker, tmp, "wider_mlp", rng, 300, 64, 3, 2, 24,
             ["mlp.c_fc", "mlp.c_proj"])
        pretrain(worker, tmp, rng)
        sharpness(worker, tmp, rng)
        tokens(worker, tmp, rng)
        refused(worker, tmp)
    print(f"{CK.passed} passed, {CK.failed} failed")
    sys.exit(1 if CK.failed else 0)


if __name__ == "__main__":
    main()
