#!/usr/bin/python3
"""torch_step.py: the worker's training step written in PyTorch, timed.

    /usr/bin/python3 bench/torch_step.py [--shape small|mid|large|all]
        [--min-time S] [--repeats N] [--warmup S]

The model is the worker's (docs/worker.md), written as PEFT writes a LoRA
layer: a frozen weight W0 (d_out, d_in) with requires_grad False, parameters
A (r, d_in) (Kaiming-uniform) and B (d_out, r) (zeros), and

    z = F.linear(h, W0) + F.linear(F.linear(h, A), B) * s,  h' = relu(z)

(no activation after the last layer), mse_loss, torch.optim.AdamW (lr 1e-3,
weight_decay 0 as the worker's default). One step = zero_grad + forward +
backward + optimizer step on the next mini-batch of a fixed training set of
n_train = 4096 rows, drawn in the order of a random permutation (gathered
with index_select, as the worker copies its batch rows).

Runs on one thread: torch.set_num_threads(1), and OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS = 1 set before torch is imported (Debian's torch calls the
system BLAS, which torch.set_num_threads does not limit).

Prints one JSON line per shape: median ms/step over --repeats measurements of
at least --min-time seconds each, after --warmup seconds of warm-up.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# name: (d, L, batch, r); widths are [d] * (L + 1). Same as bench_worker.c.
SHAPES = {
    "small": (128, 3, 64, 4),
    "mid": (256, 5, 128, 8),
    "large": (1024, 4, 128, 16),
}
N_TRAIN = 4096


class LoraMLP(torch.nn.Module):
    def __init__(self, widths, r, alpha, gen):
        super().__init__()
        self.s = alpha / r
        self.w0 = torch.nn.ParameterList()
        self.a = torch.nn.ParameterList()
        self.b = torch.nn.ParameterList()
        for din, dout in zip(widths[:-1], widths[1:]):
            w0 = torch.randn(dout, din, generator=gen) * math.sqrt(2.0 / din)
            bound = 1.0 / math.sqrt(din)
            a = (torch.rand(r, din, generator=gen) * 2 - 1) * bound
            self.w0.append(torch.nn.Parameter(w0, requires_grad=False))
            self.a.append(torch.nn.Parameter(a))
            self.b.append(torch.nn.Parameter(torch.zeros(dout, r)))

    def forward(self, h):
        n = len(self.w0)
        for l in range(n):
            z = F.linear(h, self.w0[l]) + F.linear(F.linear(h, self.a[l]), self.b[l]) * self.s
            h = torch.relu(z) if l + 1 < n else z
        return h


def bench_shape(name, args):
    d, L, batch, r = SHAPES[name]
    widths = [d] * (L + 1)
    gen = torch.Generator().manual_seed(0)
    model = LoraMLP(widths, r, 2.0 * r, gen)
    x_train = torch.randn(N_TRAIN, d, generator=gen)
    with torch.no_grad():  # targets: the base network plus a little noise
        y_train = model(x_train) + 0.1 * torch.randn(N_TRAIN, d, generator=gen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.0)
    state = {"perm": torch.randperm(N_TRAIN, generator=gen), "pos": 0, "loss": None}

    def next_batch():
        if state["pos"] + batch > N_TRAIN:
            state["perm"] = torch.randperm(N_TRAIN, generator=gen)
            state["pos"] = 0
        idx = state["perm"][state["pos"]:state["pos"] + batch]
        state["pos"] += batch
        return x_train.index_select(0, idx), y_train.index_select(0, idx)

    def step():
        xb, yb = next_batch()
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    warm = 0
    while time.perf_counter() - t0 < args.warmup or warm < 3:
        step()
        warm += 1
    ms, units = [], []
    for _ in range(args.repeats):
        k = 0
        s0 = time.perf_counter()
        while True:
            loss = step()
            k += 1
            el = time.perf_counter() - s0
            if el >= args.min_time:
                break
        ms.append(1e3 * el / k)
        units.append(k)
    med = statistics.median(ms)
    last = float(loss.detach())
    return {
        "type": "torch", "shape": name, "widths": widths, "batch": batch, "rank": r,
        "ms_per_step": med, "steps_per_s": 1e3 / med,
        "timing": {"warmup_units": warm, "repeat_ms": ms, "repeat_units": units},
        "last_loss": last if math.isfinite(last) else None,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="all", choices=list(SHAPES) + ["all"])
    p.add_argument("--min-time", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=float, default=0.3)
    args = p.parse_args()
    if args.repeats < 1 or args.min_time <= 0 or args.warmup < 0:
        p.error("need repeats >= 1, min-time > 0, warmup >= 0")
    torch.set_num_threads(1)
    names = list(SHAPES) if args.shape == "all" else [args.shape]
    for name in names:
        print(json.dumps(bench_shape(name, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
