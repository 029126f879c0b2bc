#!/usr/bin/python3
"""The Python reporter (python/loralpha_reporter.py) against the worker.

    test_reporter.py --ref PATH --source DIR

lora_figures on random float32 matrices of several shapes (r from 1 to 16,
d_in != d_out, B zero as at the start, A equal to A0, a rank-deficient A)
gives the worker's figures (la_spectra_layer, through the spectra_ref
helper) to 1e-6 (relative above 1); with torch installed, its torch path
too (else that part is skipped, saying so). The Reporter writes the
protocol's lines: non-finite numbers as null, a misspelt field refused,
at most 256 layers with valid module names, done with the last and best
losses. With torch,
PeftLoraTracker on modules shaped as PEFT's finds the layers and gives the
worker's figures. Ends with `N passed, M failed`.
"""
import argparse
import io
import json
import math
import os
import random
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import R  # noqa: E402

TOL = 1e-6


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def mat(rng, rows, cols, scale=1.0):
    return [[f32(rng.gauss(0, scale)) for _ in range(cols)] for _ in range(rows)]


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= TOL * max(1.0, abs(b))


def compare(got, want, what):
    bad = []
    for k, w in want.items():
        g = got.get(k)
        if k == "sv":
            if len(g) != len(w) or not all(close(x, y) for x, y in zip(g, w)):
                bad.append((k, g[:4], w[:4]))
        elif not close(g, w):
            bad.append((k, g, w))
    R.check(not bad, f"{what}: the reporter's figures are the worker's (to 1e-6)",
            "no differences", bad)


def cases(rng):
    """(name, A, B, A0, s) on which both must agree."""
    out = []
    for r, din, dout in ((1, 5, 7), (4, 16, 9), (8, 12, 20), (16, 24, 24)):
        a0 = mat(rng, r, din, 1 / math.sqrt(din))
        a = [[f32(x + rng.gauss(0, 0.05)) for x in row] for row in a0]
        b = mat(rng, dout, r, 0.1)
        out.append((f"r={r} d_in={din} d_out={dout}", a, b, a0, 16.0 / r))
    a0 = mat(rng, 4, 10)
    out.append(("B zero (the start)", a0, [[0.0] * 4 for _ in range(6)], a0, 2.0))
    out.append(("A = A0", a0, mat(rng, 6, 4), a0, 0.5))
    low = mat(rng, 2, 10)
    out.append(("rank-deficient A", low + low, mat(rng, 6, 4), mat(rng, 4, 10), 1.0))
    return out


def check_figures(args, lr):
    rng = random.Random(7)
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: its path of lora_figures is not checked")
    for name, a, b, a0, s in cases(rng):
        p = subprocess.run([args.ref], input=json.dumps({"A": a, "B": b, "A0": a0, "s": s}),
                           capture_output=True, text=True, timeout=60)
        if not R.check(p.returncode == 0, f"{name}: spectra_ref runs", 0,
                       (p.returncode, p.stderr)):
            continue
        want = json.loads(p.stdout)
        compare(lr.lora_figures(a, b, a0, s), want, f"{name} (pure Python)")
        if torch is not None:
            t = lambda m: torch.tensor(m, dtype=torch.float32)  # noqa: E731
            compare(lr.lora_figures(t(a), t(b), t(a0), s), want, f"{name} (torch)")


def check_reporter(lr):
    buf = io.StringIO()
    rep = lr.Reporter(buf)
    rep.start([(4, 3), {"d_in": 3, "d_out": 2, "sigma_max_w0": 1.5,
                        "module": "model.layers.0.q_proj"}], run_id=5)
    rep.eval(0, 2.0)
    rep.train(1, float("nan"), 0.01, grad_norm_a=float("inf"), x_tokens=7)
    rep.eval(1, 1.0)
    rep.eval(2, 1.5)
    rep.spectra(2, 1, lr.lora_figures([[1.0, 0.0, 0.0]], [[0.0], [0.0]],
                                      [[1.0, 0.0, 0.0]], 1.0))
    rep.done()
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    R.eq([x["type"] for x in lines], ["start", "eval", "train", "eval", "eval", "spectra",
                                      "done"], "the records, one line each")
    R.eq(lines[0]["layers"], [{"d_in": 4, "d_out": 3, "layer": 0},
                              {"d_in": 3, "d_out": 2, "sigma_max_w0": 1.5,
                               "module": "model.layers.0.q_proj", "layer": 1}],
         "start: the layers numbered in order")
    R.eq((lines[2]["loss"], lines[2]["grad_norm_a"], lines[2]["x_tokens"]), (None, None, 7),
         "train: non-finite numbers are null, extensions kept")
    R.eq((lines[5]["stable_rank"], lines[5]["mech_ratio"], lines[5]["sigma_max"]),
         (None, None, 0.0), "spectra of a zero B: the 0/0 ratios are null")
    d = lines[-1]
    R.eq((d["status"], d["steps"], d["final_eval_loss"], d["best_eval_loss"], d["best_step"]),
         ("done", 2, 1.5, 1.0, 1), "done: steps, the last and the best eval loss")
    R.check("NaN" not in buf.getvalue() and "Infinity" not in buf.getvalue(),
            "no NaN or Infinity in the output", "none", buf.getvalue()[:200])
    for what, fn, exc in (
            ("a misspelt train field", lambda: rep.train(1, 1.0, 0.1, grad_norm=1), TypeError),
            ("257 layers", lambda: rep.start([(2, 2)] * 257), ValueError),
            ("a module name with a space",
             lambda: rep.start([{"d_in": 2, "d_out": 2, "module": "a b"}]), ValueError),
            ("an empty module name",
             lambda: rep.start([{"d_in": 2, "d_out": 2, "module": ""}]), ValueError)):
        try:
            fn()
            R.check(False, f"{what} is refused", exc.__name__, "accepted")
        except exc as e:
            R.check(True, f"{what} is refused", exc.__name__, e)


def check_tracker(args, lr):
    """PeftLoraTracker on modules shaped as PEFT's LoRA layers (lora_A and
    lora_B ModuleDicts of Linear, scaling, base_layer): the layers in
    order, W0's sigma_max, A0 kept, and figures equal to the worker's."""
    try:
        import torch
    except ImportError:
        print("torch is not installed: PeftLoraTracker is not checked")
        return
    nn = torch.nn

    class Lora(nn.Module):
        def __init__(self, d_in, d_out, r, alpha):
            super().__init__()
            self.base_layer = nn.Linear(d_in, d_out)
            self.lora_A = nn.ModuleDict({"default": nn.Linear(d_in, r, bias=False)})
            self.lora_B = nn.ModuleDict({"default": nn.Linear(r, d_out, bias=False)})
            nn.init.zeros_(self.lora_B["default"].weight)
            self.scaling = {"default": alpha / r}

    torch.manual_seed(3)
    model = nn.Sequential(Lora(12, 8, 4, 16.0), nn.ReLU(), Lora(8, 5, 4, 16.0))
    tr = lr.PeftLoraTracker(model)
    layers = tr.start_layers()
    R.eq([(x["d_in"], x["d_out"], x["module"]) for x in layers], [(12, 8, "0"), (8, 5, "2")],
         "tracker: the LoRA layers in module order, with W0's shape and the module's name")
    w0 = model[0].base_layer.weight.detach().double()
    R.check(close(layers[0]["sigma_max_w0"], float(torch.linalg.svdvals(w0)[0])),
            "tracker: sigma_max of W0", float(torch.linalg.svdvals(w0)[0]),
            layers[0]["sigma_max_w0"])
    with torch.no_grad():
        for m in (model[0], model[2]):
            m.lora_A["default"].weight.add_(0.05 * torch.randn_like(m.lora_A["default"].weight))
            m.lora_B["default"].weight.normal_(0, 0.1)
    figs = tr.figures()
    for i, m in enumerate((model[0], model[2])):
        a = m.lora_A["default"].weight.tolist()
        b = m.lora_B["default"].weight.tolist()
        a0 = tr.layers[i][3].float().tolist()
        p = subprocess.run([args.ref], input=json.dumps({"A": a, "B": b, "A0": a0, "s": 4.0}),
                           capture_output=True, text=True, timeout=60)
        compare(figs[i], json.loads(p.stdout), f"tracker layer {i}")
    buf = io.StringIO()
    tr.report(lr.Reporter(buf), 7)
    R.eq([(json.loads(x)["step"], json.loads(x)["layer"]) for x in buf.getvalue().splitlines()],
         [(7, 0), (7, 1)], "tracker.report: a spectra record per layer")
    many = lr.PeftLoraTracker(nn.Sequential(*[Lora(4, 4, 2, 2.0) for _ in range(12)]))
    R.eq(len(many.start_layers()), 12, "tracker: twelve LoRA layers (past the old limit of 8)")
    try:
        lr.PeftLoraTracker(nn.Sequential(*[Lora(2, 2, 1, 2.0) for _ in range(257)]))
        R.check(False, "257 LoRA layers are refused", "ValueError", "accepted")
    except ValueError as e:
        R.check("names=" in str(e), "257 LoRA layers are refused, saying how to choose",
                "ValueError ... names=[...]", e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.source, "python"))
    import loralpha_reporter as lr
    check_figures(args, lr)
    check_reporter(lr)
    check_tracker(args, lr)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
