#!/usr/bin/python3
"""st_write.py DIR: safetensors files written the way the safetensors
library lays them out (examples/gpt/make_base.py: struct + json, as
Debian has no safetensors package), with numpy and torch doing the dtype
conversions, and beside each
the values it holds as float32 .npy files, for test_safetensors.c.

DIR/mixed.safetensors  f32 (2, 3), f16 (5,) with a subnormal, the largest
                       half and a negative zero, bf16 (2, 2) from torch, a
                       scalar, an empty (0, 3) tensor, an I64 tensor,
                       __metadata__, the header padded with spaces to 8
DIR/<name>.npy         the float32 values of each float tensor
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "examples", "gpt"))
from make_base import write_raw as write  # noqa: E402


def main():
    out = sys.argv[1]
    f32 = np.array([[1.5, -2.25, 3e-3], [1e30, -7.0, 0.0]], dtype="<f4")
    f16 = np.array([1.0, 6e-8, 65504.0, -0.0, -3.140625], dtype="<f2")
    bf = torch.tensor([[1.0, -2.5], [3.0e38, 1.0e-3]]).to(torch.bfloat16)
    scalar = np.array(42.5, dtype="<f4")
    empty = np.zeros((0, 3), dtype="<f4")
    ints = np.array([1, -2, 3], dtype="<i8")
    write(out + "/mixed.safetensors", [
        ("a.f32", "F32", f32.shape, f32.tobytes()),
        ("b.f16", "F16", f16.shape, f16.tobytes()),
        ("c.bf16", "BF16", tuple(bf.shape),
         bf.view(torch.int16).numpy().astype("<i2").tobytes()),
        ("d.scalar", "F32", (), scalar.tobytes()),
        ("e.empty", "F32", empty.shape, empty.tobytes()),
        ("f.i64", "I64", ints.shape, ints.tobytes()),
    ], {"format": "pt", "note": "written by st_write.py"})
    np.save(out + "/a.f32.npy", f32)
    np.save(out + "/b.f16.npy", f16.astype("<f4"))
    np.save(out + "/c.bf16.npy", bf.float().numpy())


if __name__ == "__main__":
    main()
