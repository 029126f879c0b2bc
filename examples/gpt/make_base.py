#!/usr/bin/python3
"""make_base.py OUT [--width C] [--blocks L] [--positions P] [--vocab V]
[--seed S]: writes a GPT-2-shaped base for task "gpt" as a safetensors
file, with GPT-2's tensor names, Conv1D (in, out) weights and GPT-2's
initialisation (weights N(0, 0.02), the residual projections
N(0, 0.02 / sqrt(2 L)), biases 0, LayerNorms 1 and 0): an untrained base to
try the task on, or to start pretraining from.

    /usr/bin/python3 examples/gpt/make_base.py gpt-base.safetensors --width 64 --blocks 2

Needs numpy. Its writer (write_raw, write_f32) lays the file out as the
safetensors library does: an 8-byte little-endian header length, the JSON
header padded with spaces to a multiple of 8, then the tensors back to
back (Debian has no package of that library; the tests use this writer).
"""
import argparse
import json
import math
import struct

import numpy as np


def write_raw(path, tensors, metadata=None):
    """tensors: a list of (name, dtype, shape, raw bytes), in file order."""
    header, data, at = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [at, at + len(raw)]}
        data += raw
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def write_f32(path, arrays, metadata=None):
    """arrays: a dict name -> numpy array, written as F32 in its order."""
    write_raw(path, [(name, "F32", a.shape,
                      np.ascontiguousarray(a, dtype="<f4").tobytes())
                     for name, a in arrays.items()], metadata)


def gpt2_base(rng, V, P, C, L):
    """GPT-2's tensors with GPT-2's initialisation, as float32."""
    proj = 0.02 / math.sqrt(2 * L)
    t = {"wte.weight": rng.normal(0, 0.02, (V, C)),
         "wpe.weight": rng.normal(0, 0.01, (P, C))}
    for l in range(L):
        h = f"h.{l}."
        t[h + "ln_1.weight"], t[h + "ln_1.bias"] = np.ones(C), np.zeros(C)
        t[h + "attn.c_attn.weight"] = rng.normal(0, 0.02, (C, 3 * C))
        t[h + "attn.c_attn.bias"] = np.zeros(3 * C)
        t[h + "attn.c_proj.weight"] = rng.normal(0, proj, (C, C))
        t[h + "attn.c_proj.bias"] = np.zeros(C)
        t[h + "ln_2.weight"], t[h + "ln_2.bias"] = np.ones(C), np.zeros(C)
        t[h + "mlp.c_fc.weight"] = rng.normal(0, 0.02, (C, 4 * C))
        t[h + "mlp.c_fc.bias"] = np.zeros(4 * C)
        t[h + "mlp.c_proj.weight"] = rng.normal(0, proj, (4 * C, C))
        t[h + "mlp.c_proj.bias"] = np.zeros(C)
    t["ln_f.weight"], t["ln_f.bias"] = np.ones(C), np.zeros(C)
    return {k: v.astype(np.float32) for k, v in t.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--positions", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    base = gpt2_base(np.random.default_rng(a.seed), a.vocab, a.positions,
                     a.width, a.blocks)
    write_f32(a.out, base, {"format": "pt"})
    n = sum(v.size for v in base.values())
    print(f"{a.out}: {a.blocks} blocks of width {a.width}, {n} parameters")


if __name__ == "__main__":
    main()
