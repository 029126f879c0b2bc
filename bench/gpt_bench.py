#!/usr/bin/python3
"""gpt_bench.py: the task gpt LoRA step against the same step in PyTorch,
one thread each, both on the OpenBLAS kernels the worker runs with
(OPENBLAS_CORETYPE, unless set), and the worker's peak memory against its
tensors.

    /usr/bin/python3 bench/gpt_bench.py [BUILD_DIR] [--shapes small,wide]
        [--rounds N] [--min-time S] [--repeats N]

For each shape it writes a GPT-2-initialised base (examples/gpt/make_base.py)
and a text (the GPL, repeated), times build/bench/bench_gpt on a run config
of them, and times the same step written in PyTorch float32 as PEFT and
nanoGPT write it: frozen Conv1D weights, LoRA A (r, in) and B (out, r) as
parameters on c_attn, x @ W + b + s (x A^T) B^T, masked-softmax causal
attention, F.gelu(approximate="tanh"), tied LM head, F.cross_entropy,
torch.optim.AdamW; a step is the windows' gather, zero_grad, forward,
backward and the update. Rounds alternate worker and torch; the medians are
pooled. Prints a table: ms per step of each, their ratio (torch / worker:
above 1 the worker is faster), the same in CPU time (each process's, all
its threads: what a loaded machine's waits for a core leave out), and the
worker's peak RSS above its base against la_trainer_tensor_bytes.

| shape | width C | blocks | heads | context | batch | vocabulary | rank |
| small | 128 | 4 | 4 | 128 | 8 | 256 | 8 |
| wide | 768 | 2 | 12 | 256 | 4 | 256 | 8 |
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "examples", "gpt"))
from run_bench import worker_core  # noqa: E402

# Both sides on one thread and on the OpenBLAS kernels the worker runs with
# (it replaces a fallback core OpenBLAS picked for a CPU it does not know;
# torch calls the same system OpenBLAS), set before torch loads it.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
BUILD = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build"
os.environ.setdefault("OPENBLAS_CORETYPE", worker_core(BUILD))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from make_base import gpt2_base, write_f32  # noqa: E402

# name: (C, L, NH, T, batch, V, r)
SHAPES = {"small": (128, 4, 4, 128, 8, 256, 8), "wide": (768, 2, 12, 256, 4, 256, 8)}
TEXT = "/usr/share/common-licenses/GPL-3"


class TorchStep:
    """The LoRA step in PyTorch (float32, one thread)."""

    def __init__(self, base, tokens, NH, T, B, r, alpha):
        self.W = {k: torch.tensor(v) for k, v in base.items()}
        self.C = base["wte.weight"].shape[1]
        self.L = sum(1 for k in base if k.endswith("ln_1.weight"))
        self.NH, self.T, self.B, self.s = NH, T, B, alpha / r
        self.tokens = torch.tensor(tokens, dtype=torch.long)
        self.A = [torch.nn.Parameter(torch.empty(r, self.C).uniform_(-1, 1)
                                     / math.sqrt(self.C)) for _ in range(self.L)]
        self.Bm = [torch.nn.Parameter(torch.zeros(3 * self.C, r)) for _ in range(self.L)]
        self.opt = torch.optim.AdamW(self.A + self.Bm, lr=1e-3, weight_decay=0.0)
        self.mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        self.gen = torch.Generator().manual_seed(0)

    def forward(self, tok, tgt):
        W, C, NH, T = self.W, self.C, self.NH, self.T
        nb, hs = tok.shape[0], C // NH
        x = W["wte.weight"][tok] + W["wpe.weight"][:T]
        for l in range(self.L):
            h = f"h.{l}."
            a = F.layer_norm(x, (C,), W[h + "ln_1.weight"], W[h + "ln_1.bias"])
            qkv = (a @ W[h + "attn.c_attn.weight"] + W[h + "attn.c_attn.bias"]
                   + self.s * (a @ self.A[l].T) @ self.Bm[l].T)
            q, k, v = (t.view(nb, T, NH, hs).transpose(1, 2) for t in qkv.split(C, dim=-1))
            att = torch.softmax(((q @ k.transpose(-2, -1)) / math.sqrt(hs))
                                .masked_fill(self.mask, float("-inf")), dim=-1)
            y = (att @ v).transpose(1, 2).reshape(nb, T, C)
            x = x + y @ W[h + "attn.c_proj.weight"] + W[h + "attn.c_proj.bias"]
            a = F.layer_norm(x, (C,), W[h + "ln_2.weight"], W[h + "ln_2.bias"])
            f = F.gelu(a @ W[h + "mlp.c_fc.weight"] + W[h + "mlp.c_fc.bias"],
                       approximate="tanh")
            x = x + f @ W[h + "mlp.c_proj.weight"] + W[h + "mlp.c_proj.bias"]
        x = F.layer_norm(x, (C,), W["ln_f.weight"], W["ln_f.bias"])
        logits = x @ W["wte.weight"].T
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.reshape(-1))

    def step(self):
        starts = torch.randint(0, len(self.tokens) - self.T, (self.B,), generator=self.gen)
        idx = starts[:, None] + torch.arange(self.T)
        self.opt.zero_grad()
        loss = self.forward(self.tokens[idx], self.tokens[idx + 1])
        loss.backward()
        self.opt.step()
        return loss.item()


def time_torch(ts, warmup, min_time, repeats):
    """Per repeat, the wall ms and the CPU ms (the process's) of a step."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup:
        ts.step()
    out, cpu = [], []
    for _ in range(repeats):
        n, s0, c0 = 0, time.perf_counter(), time.process_time()
        while True:
            ts.step()
            n += 1
            el = time.perf_counter() - s0
            if el >= min_time:
                break
        out.append(1e3 * el / n)
        cpu.append(1e3 * (time.process_time() - c0) / n)
    return out, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--shapes", default="small,wide")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    exe = os.path.join(a.build, "bench", "bench_gpt")
    with open(TEXT, "rb") as fh:
        text = fh.read() * 4
    rows = []
    with tempfile.TemporaryDirectory(prefix="loralpha-gpt-bench-") as tmp:
        for name in a.shapes.split(","):
            C, L, NH, T, B, V, r = SHAPES[name]
            base = gpt2_base(np.random.default_rng(0), V, T, C, L)
            bpath, tpath = os.path.join(tmp, name + ".safetensors"), os.path.join(tmp, "t.txt")
            write_f32(bpath, base)
            with open(tpath, "wb") as fh:
                fh.write(text)
            cfg = {"task": "gpt", "gpt": {"base": bpath, "text": tpath}, "n_head": NH,
                   "context": T, "batch": B, "rank": r, "alpha": 2 * r, "lr": 1e-3,
                   "steps": 100000000, "target_modules": ["c_attn"], "threads": 1}
            cpath = os.path.join(tmp, name + ".json")
            with open(cpath, "w") as fh:
                json.dump(cfg, fh)
            ts = TorchStep(base, list(text), NH, T, B, r, 2 * r)
            wms, tms, wcpu, tcpu, mem = [], [], [], [], None
            for _ in range(a.rounds):
                p = subprocess.run([exe, cpath, "--min-time", str(a.min_time), "--repeats",
                                    str(a.repeats)], capture_output=True, text=True, check=True)
                mem = json.loads(p.stdout)
                wms += mem["repeat_ms"]
                wcpu += mem["repeat_cpu_ms"]
                tw, tc = time_torch(ts, 0.5, a.min_time, a.repeats)
                tms += tw
                tcpu += tc
            w, t = statistics.median(wms), statistics.median(tms)
            wc, tc = statistics.median(wcpu), statistics.median(tcpu)
            held = mem["rss_peak"] - mem["rss_base"]
            rows.append((name, C, L, T, B, w, t, t / w, wc, tc, tc / wc,
                         held / mem["tensor_bytes"], mem["tensor_bytes"] / 2**20))
    print("OPENBLAS_CORETYPE=%s for both sides" % os.environ["OPENBLAS_CORETYPE"])
    print("| shape | C | blocks | context | batch | worker ms | torch ms | torch / worker "
          "| worker CPU ms | torch CPU ms | CPU ratio "
          "| peak RSS above base / tensor bytes | tensor MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| %s | %d | %d | %d | %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.2f | %.1f |"
              % r)


if __name__ == "__main__":
    main()
