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
worker's figures (d_in and d_out from A and B, also around a Conv1D whose
W0 is (in, out)); LoralphaCallback, driven as a HuggingFace Trainer drives
it (duck-typed args, state and control: transformers is not installed),
sends start, train, eval, spectra every spectra_every steps and at the
last, and done, and nothing from a process that is not the main one.
Ends with `N passed, M failed`.
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


def peft_lora_class(torch):
    """A module shaped as PEFT's LoRA layer (lora_A and lora_B ModuleDicts
    of Linear, scaling, base_layer: an nn.Linear, or with conv1d=True a
    GPT-2 Conv1D-like layer whose weight is (in, out))."""
    nn = torch.nn

    class Lora(nn.Module):
        def __init__(self, d_in, d_out, r, alpha, conv1d=False):
            super().__init__()
            self.base_layer = nn.Linear(d_in, d_out)
            if conv1d:
                self.base_layer.weight = nn.Parameter(torch.randn(d_in, d_out))
                self.fan_in_fan_out = True
            self.lora_A = nn.ModuleDict({"default": nn.Linear(d_in, r, bias=False)})
            self.lora_B = nn.ModuleDict({"default": nn.Linear(r, d_out, bias=False)})
            nn.init.zeros_(self.lora_B["default"].weight)
            self.scaling = {"default": alpha / r}

    return Lora


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
    Lora = peft_lora_class(torch)
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
    conv = lr.PeftLoraTracker(nn.Sequential(Lora(6, 18, 2, 4.0, conv1d=True)))
    w0 = conv.layers[0][2].detach().double()
    R.eq([(x["d_in"], x["d_out"]) for x in conv.start_layers()], [(6, 18)],
         "tracker: a Conv1D base (W0 (in, out), fan_in_fan_out) gives d_in, d_out of A and B")
    R.check(close(conv.start_layers()[0]["sigma_max_w0"], float(torch.linalg.svdvals(w0)[0])),
            "tracker: sigma_max of a Conv1D's W0", float(torch.linalg.svdvals(w0)[0]),
            conv.start_layers()[0]["sigma_max_w0"])
    many = lr.PeftLoraTracker(nn.Sequential(*[Lora(4, 4, 2, 2.0) for _ in range(12)]))
    R.eq(len(many.start_layers()), 12, "tracker: twelve LoRA layers (past the old limit of 8)")
    try:
        lr.PeftLoraTracker(nn.Sequential(*[Lora(2, 2, 1, 2.0) for _ in range(257)]))
        R.check(False, "257 LoRA layers are refused", "ValueError", "accepted")
    except ValueError as e:
        R.check("names=" in str(e), "257 LoRA layers are refused, saying how to choose",
                "ValueError ... names=[...]", e)


class Obj:
    """A duck-typed stand-in for the Trainer's args, state and control."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def check_callback(lr):
    """LoralphaCallback driven as a HuggingFace Trainer drives it: a model of
    PEFT-shaped modules, logs every step, an evaluation at steps 0, 3 and
    5, spectra_every 2 over 5 steps."""
    try:
        import torch
    except ImportError:
        print("torch is not installed: LoralphaCallback is not checked")
        return
    Lora = peft_lora_class(torch)
    torch.manual_seed(5)
    model = torch.nn.Module()
    model.q = Lora(8, 8, 2, 4.0)
    model.mlp = torch.nn.Sequential(Lora(8, 16, 2, 4.0, conv1d=True))
    buf = io.StringIO()
    cb = lr.LoralphaCallback(lr.Reporter(buf), spectra_every=2)
    args, control = Obj(logging_steps=1), Obj()
    state = Obj(global_step=0, is_world_process_zero=True)
    cb.on_train_begin(args, state, control, model=model)
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 2.5, "epoch": 0})
    for step in range(1, 6):
        with torch.no_grad():
            for m in (model.q, model.mlp[0]):
                m.lora_B["default"].weight.add_(0.1)
        state.global_step = step
        cb.on_step_end(args, state, control, model=model)
        cb.on_log(args, state, control, logs={"loss": 3.0 - step / 10, "learning_rate": 1e-3,
                                              "epoch": step / 5})
        if step in (3, 5):
            cb.on_evaluate(args, state, control, metrics={"eval_loss": 2.5 - step / 10})
    cb.on_log(args, state, control, logs={"train_runtime": 1.0, "train_loss": 2.7})
    cb.on_train_end(args, state, control, model=model)
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    kinds = [(x["type"], x.get("step"), x.get("layer")) for x in lines]
    want = [("start", None, None), ("eval", 0, None)]
    for step in range(1, 6):
        want += [("spectra", step, 0), ("spectra", step, 1)] if step in (2, 4) else []
        want += [("train", step, None)] + ([("eval", step, None)] if step in (3, 5) else [])
    want += [("spectra", 5, 0), ("spectra", 5, 1), ("done", None, None)]
    R.eq(kinds, want, "callback: start, eval at 0, train per log, eval per evaluation, "
         "spectra every 2 steps and at the last, done")
    R.eq([(x["module"], x["d_in"], x["d_out"]) for x in lines[0]["layers"]],
         [("q", 8, 8), ("mlp.0", 8, 16)], "callback: start names the model's LoRA modules")
    train = [x for x in lines if x["type"] == "train"]
    R.eq([(x["loss"], x["lr"]) for x in train[:2]], [(2.9, 1e-3), (2.8, 1e-3)],
         "callback: train records carry the log's loss and learning_rate")
    sp = [x for x in lines if x["type"] == "spectra" and x["step"] == 4]
    R.check(len(sp) == 2 and all(x["sigma_max"] > 0 and x["tf_signal"] > 0 for x in sp),
            "callback: spectra of the updated adapters", "sigma_max, tf_signal > 0", sp)
    d = lines[-1]
    R.eq((d["status"], d["steps"], d["final_train_loss"], d["final_eval_loss"],
          d["best_eval_loss"], d["best_step"]), ("done", 5, 2.5, 2.0, 2.0, 5),
         "callback: done with the steps, the last train and eval losses, the best")
    quiet = io.StringIO()
    other = lr.LoralphaCallback(lr.Reporter(quiet), spectra_every=1)
    st = Obj(global_step=0, is_world_process_zero=False)
    other.on_train_begin(args, st, control, model=model)
    st.global_step = 1
    other.on_step_end(args, st, control)
    other.on_log(args, st, control, logs={"loss": 1.0, "learning_rate": 1e-3})
    other.on_evaluate(args, st, control, metrics={"eval_loss": 1.0})
    other.on_train_end(args, st, control)
    R.eq(quiet.getvalue(), "", "callback: a process that is not the main one writes nothing")
    try:
        lr.LoralphaCallback(lr.Reporter(io.StringIO()), spectra_every=-1)
        R.check(False, "callback: spectra_every -1 is refused", "ValueError", "accepted")
    except ValueError as e:
        R.check(True, "callback: spectra_every -1 is refused", "ValueError", e)


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
    check_callback(lr)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
