#!/usr/bin/python3
"""torch_sweep.py: a sweep's runs trained in one PyTorch process, in a loop.

    /usr/bin/python3 bench/torch_sweep.py RUNS.jsonl [--threads N]

RUNS.jsonl holds one worker config per line (the runs of a teacher sweep,
as the daemon stores them in runs.config). Each run is trained as the
worker trains it (docs/worker.md), written as a PyTorch user writes a LoRA
sweep: one process, a Python loop over the runs.

The task is the worker's teacher: W0 (d_out, d_in) with N(0, 1/d_in)
entries, a target shift dW* = U diag(sigma) V^T of rank target_rank
(orthonormal U, V from QR of Gaussians; sigma_i = target_scale *
i^-target_decay), inputs x ~ N(0, 1) (n_train + n_eval rows), y = x (W0 +
dW*)^T. Like the worker's --serve, the data and W0 are built once per
(task, data_seed) and kept for the next run; the numbers differ from the
worker's (another random-number generator), the work does not.

A run: A (r, d_in) Kaiming-uniform (bound 1/sqrt(d_in)), B (d_out, r) zero,
s = alpha / r, torch.optim.AdamW(lr, betas, eps, weight_decay), `steps`
updates on mini-batches of `batch` rows in the order of a random
permutation per epoch, mse_loss; as the worker logs: the batch loss every
log_every updates (loss.item()), the eval loss at 0, every eval_every and
at the end, and every spectra_every updates and at the end the singular
values of s B A (torch.linalg.svdvals on the d_out x d_in product: what a
PyTorch user computes; the worker uses r x r algebra instead).

Prints one JSON line: runs, wall seconds of the loop (data built inside it),
the seconds spent building data, and each run's final eval loss.
"""
import argparse
import json
import math
import os
import sys
import time


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", help="worker configs, one JSON object per line")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    return ap.parse_args()


args = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def build_task(c):
    """(x_train, y_train, x_eval, y_eval, w0) of a teacher config."""
    g = torch.Generator().manual_seed(int(c.get("data_seed", 0)))
    din, dout = c["d_in"], c["d_out"]
    k = min(c.get("target_rank", 4), din, dout)
    w0 = torch.randn(dout, din, generator=g) / math.sqrt(din)
    u, _ = torch.linalg.qr(torch.randn(dout, k, generator=g))
    v, _ = torch.linalg.qr(torch.randn(din, k, generator=g))
    sig = torch.tensor([c.get("target_scale", 1.0) * (i + 1) ** -c.get("target_decay", 0.0)
                        for i in range(k)])
    wstar = w0 + (u * sig) @ v.T
    n_train, n_eval = c.get("n_train", 4096), c.get("n_eval", 1024)
    x = torch.randn(n_train + n_eval, din, generator=g)
    y = x @ wstar.T
    if c.get("noise", 0.0) > 0:
        y += c["noise"] * torch.randn(y.shape, generator=g)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:], w0


def train(c, task):
    """One run; its final eval loss."""
    xt, yt, xe, ye, w0 = task
    g = torch.Generator().manual_seed(int(c.get("seed", 0)))
    r, din, dout = c["rank"], c["d_in"], c["d_out"]
    s = c["alpha"] / (math.sqrt(r) if c.get("scaling") == "rslora" else r)
    bound = 1.0 / math.sqrt(din)
    a = torch.nn.Parameter((torch.rand(r, din, generator=g) * 2 - 1) * bound)
    b = torch.nn.Parameter(torch.zeros(dout, r))
    opt = torch.optim.AdamW([a, b], lr=c["lr"], betas=(c.get("beta1", 0.9), c.get("beta2", 0.999)),
                            eps=c.get("eps", 1e-8), weight_decay=c.get("weight_decay", 0.0))
    m = c.get("metrics", c)
    log_every = m.get("log_every", 1)
    eval_every = m.get("eval_every", 10)
    spectra_every = m.get("spectra_every", 50)
    steps, batch, n = c["steps"], c.get("batch", 64), xt.shape[0]

    def forward(x):
        return F.linear(x, w0) + F.linear(F.linear(x, a), b) * s

    def evaluate():
        with torch.no_grad():
            return F.mse_loss(forward(xe), ye).item()

    def spectra():
        with torch.no_grad():
            return torch.linalg.svdvals(s * (b @ a))[:r].tolist()

    last = evaluate()
    perm, pos = torch.randperm(n, generator=g), 0
    for k in range(1, steps + 1):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + batch]
        pos += batch
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(forward(xt.index_select(0, idx)), yt.index_select(0, idx))
        loss.backward()
        opt.step()
        if k % log_every == 0 or k == steps:
            loss.item()
        if (eval_every > 0 and k % eval_every == 0) or k == steps:
            last = evaluate()
        if (spectra_every > 0 and k % spectra_every == 0) or k == steps:
            spectra()
    return last


TASK_FIELDS = ("task", "d_in", "d_out", "target_rank", "target_scale", "target_decay",
               "n_train", "n_eval", "noise", "data_seed")


def main():
    torch.set_num_threads(args.threads)
    with open(args.runs) as f:
        configs = [json.loads(line) for line in f if line.strip()]
    for c in configs:
        if c.get("task") != "teacher":
            sys.exit("torch_sweep: only teacher runs, not %r" % c.get("task"))
    cache, finals, t_data = {}, [], 0.0
    t0 = time.perf_counter()
    for c in configs:
        key = json.dumps([c.get(k) for k in TASK_FIELDS])
        if key not in cache:
            t1 = time.perf_counter()
            cache = {key: build_task(c)}  # the last task only, as the worker keeps
            t_data += time.perf_counter() - t1
        finals.append(train(c, cache[key]))
    wall = time.perf_counter() - t0
    print(json.dumps({"runs": len(configs), "wall_s": wall, "data_s": t_data,
                      "threads": args.threads, "torch": torch.__version__,
                      "final_eval_loss": finals}))


if __name__ == "__main__":
    main()
