#!/usr/bin/env python3
"""Writes the files of an `npy` task: one layer's frozen weight, inputs and
targets, as a real model would export them.

Here the "model" is a random linear layer and the targets come from a
low-rank update of it, so the example runs anywhere with numpy alone. To use
a real layer, save its weight (d_out, d_in) and the activations flowing into
it (n, d_in) with np.save, and the outputs you want it to produce (n, d_out).

    python3 examples/npy/make_npy.py OUTDIR
    loralpha-worker --config OUTDIR/run.json
"""
import json
import os
import sys

import numpy as np


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "npy-example"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    d_in, d_out, n, k = 96, 64, 3000, 6
    w0 = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
    u = np.linalg.qr(rng.standard_normal((d_out, k)))[0]
    v = np.linalg.qr(rng.standard_normal((d_in, k)))[0]
    shift = u @ np.diag(np.linspace(1.5, 0.5, k)) @ v.T
    x = rng.standard_normal((n, d_in))
    y = x @ (w0 + shift).T + 0.01 * rng.standard_normal((n, d_out))
    for name, arr in (("w0", w0), ("x", x), ("y", y)):
        np.save(os.path.join(out, name + ".npy"), arr.astype("<f4"))
    config = {
        "task": "npy",
        "npy": {"w0": [os.path.join(out, "w0.npy")],
                "x": os.path.join(out, "x.npy"),
                "y": os.path.join(out, "y.npy")},
        "eval_fraction": 0.2,
        "rank": 8, "alpha": 32, "lr": 0.002, "steps": 400, "batch": 64,
        "eval_every": 50, "log_every": 50, "spectra_every": 200,
    }
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(os.path.join(out, "run.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
