#!/usr/bin/python3
"""Regenerates the hand-written seed corpora in fuzz/corpus/ (config, spec,
npy, http, record, safetensors). The corpora are committed; run this only to rebuild them:

    /usr/bin/python3 fuzz/make_corpus.py

Needs numpy for the .npy seeds. Copies of examples/*.json are taken too.
Everything is small (the corpora must stay commit-friendly).
"""
import json
import os
import shutil
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
C = os.path.join(HERE, "corpus")


def put(sub, name, text):
    path = os.path.join(C, sub, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(path, mode) as f:
        f.write(text)


def js(obj):
    return json.dumps(obj, separators=(",", ":"))


R0 = '"rank":2,"alpha":4,"lr":0.01,"steps":10'


def configs():
    for name in ("teacher-run.json", "mlp-run.json"):
        shutil.copy(os.path.join(ROOT, "examples", name),
                    os.path.join(C, "config", "example-" + name))
    valid = {
        "min-teacher": {"task": "teacher", "d_in": 8, "d_out": 8, "rank": 2,
                        "alpha": 4, "lr": 0.01, "steps": 10},
        "gpt": {"task": "gpt", "gpt": {"base": "b.safetensors", "text": "t.txt"},
                "n_head": 2, "context": 16, "target_modules": ["c_attn", "c_proj"],
                "rank": 2, "alpha": 4, "lr": 0.01, "steps": 10},
        "gpt-tokens-pretrain": {"task": "gpt", "gpt": {
            "base": "b.safetensors", "tokens": "t.npy", "tokens_eval": "e.npy"},
            "vocab_size": 500, "n_head": 4, "pretrain": True, "lr": 0.01,
            "steps": 10},
        "teacher-all": {"task": "teacher", "d_in": 16, "d_out": 12,
                        "n_train": 64, "n_eval": 32, "input_decay": 1.0,
                        "target_rank": 3, "target_scale": 1.5,
                        "target_decay": 0.5, "noise": 0.1, "rank": 4,
                        "alpha": 8, "scaling": "rslora", "lr": 0.001,
                        "optimizer": "adamw", "beta1": 0.8, "beta2": 0.99,
                        "eps": 1e-6, "weight_decay": 0.01,
                        "loraplus_ratio": 4, "schedule": "cosine",
                        "warmup_steps": 2, "min_lr_ratio": 0.1, "steps": 20,
                        "batch": 16, "seed": 5, "data_seed": 9, "threads": 1,
                        "log_every": 5, "eval_every": 10, "spectra_every": 10,
                        "sharpness": True, "sharpness_every": 10,
                        "sharpness_iters": 5, "sharpness_batch": 16,
                        "diverge_factor": 10, "run_id": 42},
        "mlp-sgd": {"task": "mlp", "widths": [8, 16, 4], "activation": "relu",
                    "loss": "mse", "rank": 2, "alpha": 2, "lr": 0.1,
                    "optimizer": "sgd", "momentum": 0.9, "nesterov": True,
                    "steps": 5, "batch": 8},
        "mlp-tanh-ce": {"task": "mlp", "widths": [4, 4, 4, 4, 4, 4, 4, 4, 3],
                        "activation": "tanh", "loss": "ce", "target_rank": 1,
                        "rank": 1,
                        "alpha": 1, "lr": 0.001, "steps": 3},
        "npy": {"task": "npy",
                "npy": {"w0": ["w0.npy"], "x": "x.npy", "y": "y.npy"},
                "eval_fraction": 0.2, "rank": 4, "alpha": 16, "lr": 0.002,
                "steps": 100},
        "npy-full": {"task": "npy",
                     "npy": {"w0": ["a.npy", "b.npy"], "a0": ["c.npy", "d.npy"],
                             "x": "x.npy", "y": "y.npy",
                             "x_eval": "xe.npy", "y_eval": "ye.npy"},
                     "activation": "identity", "rank": 2, "alpha": 2,
                     "lr": 0.01, "steps": 4},
    }
    for k, v in valid.items():
        put("config", "valid-" + k + ".json", js(v))
    invalid = {
        "unknown-field": '{"task":"teacher","d_in":8,"d_out":8,"bogus":1}',
        "bad-type": '{"task":"teacher","d_in":"8","d_out":8,%s}' % R0,
        "rank-too-big": '{"task":"teacher","d_in":4,"d_out":4,"rank":9,"alpha":1,"lr":1,"steps":1}',
        "neg-lr": '{"task":"teacher","rank":1,"alpha":1,"lr":-1,"steps":1}',
        "nan-ish": '{"task":"mlp","widths":[8,1e308,4],"alpha":1e308,"rank":1,"lr":1,"steps":1}',
        "too-many-layers": '{"task":"mlp","widths":[2,2,2,2,2,2,2,2,2,2,2]}',
        "huge-int": '{"task":"teacher","steps":9223372036854775807,'
                    '"seed":9007199254740993,"run_id":-9223372036854775808,"rank":1,"alpha":1,"lr":1}',
        "long-path": js({"task": "npy",
                         "npy": {"w0": ["p" * 5000], "x": "x", "y": "y"}}),
        "empty-path": '{"task":"npy","npy":{"w0":[""],"x":"","y":"y"}}',
        "array": '[1,2,3]',
        "empty-object": '{}',
        "nul-string": '{"task":"te\\u0000acher"}',
        # Accepted by the worker (ignored), rejected in a sweep spec.
        "momentum-adamw": '{"task":"teacher","d_in":8,"d_out":8,"optimizer":"adamw","momentum":0.9,%s}' % R0,
        "warmup-gt-steps": '{"task":"teacher","d_in":8,"d_out":8,"warmup_steps":50,%s}' % R0,
    }
    for k, v in invalid.items():
        put("config", "invalid-" + k + ".json", v)


def specs():
    ex = os.path.join(ROOT, "examples")
    for name in sorted(os.listdir(ex)):
        if "sweep" in name and name.endswith(".json"):
            shutil.copy(os.path.join(ex, name),
                        os.path.join(C, "spec", "example-" + name))
    shutil.copy(os.path.join(ex, "npy", "sweep-npy.json"),
                os.path.join(C, "spec", "example-sweep-npy.json"))
    small = {
        "smallest": {"name": "smallest",
                     "task": {"task": "teacher", "d_in": 64, "d_out": 64},
                     "grid": {"rank": [1, 2, 4, 8], "alpha": [1, 4, 16],
                              "lr": [0.001]},
                     "steps": 500},
        "seed-list": {"name": "s", "task": {"task": "teacher", "d_in": 8,
                                            "d_out": 8},
                      "grid": {"rank": [1], "alpha": [1], "lr": [0.1]},
                      "seeds": [1, 2, 9007199254740991], "steps": 1},
        "ranges": {"name": "r", "task": {"task": "mlp", "widths": [16, 16, 4],
                                         "activation": "gelu", "loss": "ce"},
                   "grid": {"rank": {"log2": [0, 2], "num": 3},
                            "alpha": {"log10": [-1, 1], "num": 3},
                            "lr": {"log10": [-4, -2], "num": 2}},
                   "seeds": 2, "seed": 3, "steps": 10, "batch": 8,
                   "optimizer": {"name": "sgd", "momentum": 0.5,
                                 "nesterov": True},
                   "schedule": {"name": "cosine", "warmup_steps": 2,
                                "min_lr_ratio": 0.1},
                   "scaling": "rslora", "diverge_factor": 50,
                   "metrics": {"log_every": 1, "eval_every": 2,
                               "spectra_every": 5, "sharpness": True,
                               "sharpness_every": 5, "sharpness_iters": 3,
                               "sharpness_batch": 8},
                   "priority": -5, "max_parallel": 2, "max_attempts": 3,
                   "description": "tab\there\nnewline"},
        "npy": {"name": "n", "task": {"task": "npy",
                                      "npy": {"w0": ["w.npy"], "x": "x.npy",
                                              "y": "y.npy"}},
                "grid": {"rank": [1, 2], "alpha": [1], "lr": [0.01]},
                "steps": 5},
        "adamw-obj": {"name": "a", "task": {"task": "teacher", "d_in": 4,
                                            "d_out": 4, "data_seed": 1},
                      "grid": {"rank": [1], "alpha": [1, 2], "lr": [0.1]},
                      "steps": 3, "optimizer": {"name": "adamw", "beta1": 0.5,
                                                "beta2": 0.9, "eps": 1e-8,
                                                "weight_decay": 0.1,
                                                "loraplus_ratio": 2}},
    }
    small["slurm"] = dict(small["smallest"], executor="slurm",
                          slurm={"profile": "big", "partition": "debug",
                                 "time": "1:30:00", "cpus_per_task": 2})
    for k, v in small.items():
        put("spec", "valid-" + k + ".json", js(v))
    invalid = {
        "too-many-runs": js({"name": "big", "task": {"task": "teacher"},
                             "grid": {"rank": {"log2": [0, 6], "num": 7},
                                      "alpha": {"log2": [0, 14], "num": 15},
                                      "lr": {"log10": [-5, -1], "num": 20}},
                             "seeds": 10, "steps": 1}),
        "rank-in-task": js({"name": "x", "task": {"task": "teacher",
                                                  "rank": 2},
                            "grid": {"rank": [1], "alpha": [1], "lr": [1]},
                            "steps": 1}),
        "control-name": '{"name":"a\\u0001b","task":{"task":"teacher"},'
                        '"grid":{"rank":[1],"alpha":[1],"lr":[1]},"steps":1}',
        "missing-grid": '{"name":"m","task":{"task":"teacher"},"steps":1}',
        "bad-range": '{"name":"m","task":{"task":"teacher"},"grid":{"rank":[1],'
                     '"alpha":{"log2":[5,0],"num":0},"lr":[1]},"steps":1}',
        "sgd-beta": '{"name":"m","task":{"task":"teacher"},"grid":{"rank":[1],'
                    '"alpha":[1],"lr":[1]},"steps":1,'
                    '"optimizer":{"name":"sgd","beta1":0.9}}',
        "threads": '{"name":"m","task":{"task":"teacher"},"grid":{"rank":[1],'
                   '"alpha":[1],"lr":[1]},"steps":1,"threads":4}',
        "slurm-args": js({"name": "x $(id)", "executor": "slurm",
                          "task": {"task": "teacher"},
                          "grid": {"rank": [1], "alpha": [1], "lr": [1]},
                          "steps": 1,
                          "slurm": {"sbatch_args": ["--export=ALL,BASH_ENV=/e"],
                                    "partition": "debug\n#SBATCH --wrap=id"}}),
    }
    for k, v in invalid.items():
        put("spec", "invalid-" + k + ".json", v)


def npy_header(descr, shape, version=1, fortran=False, extra=""):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}" % (
        descr, "True" if fortran else "False",
        "(" + "".join("%d," % s for s in shape) + ")" if len(shape) == 1
        else repr(tuple(shape)), extra)
    hlen_field = 2 if version == 1 else 4
    total = 6 + 2 + hlen_field + len(d) + 1
    pad = (64 - total % 64) % 64
    d = d + " " * pad + "\n"
    magic = b"\x93NUMPY" + bytes([version, 0])
    if version == 1:
        return magic + struct.pack("<H", len(d)) + d.encode("latin1")
    return magic + struct.pack("<I", len(d)) + d.encode("latin1")


def npys():
    d = os.path.join(C, "npy")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    for dt in ("<f4", "<f8", "<i8"):
        for shape in ((5,), (3, 4), (2, 3, 2)):
            if dt == "<i8":
                a = rng.integers(-100, 100, size=shape).astype(dt)
            else:
                a = rng.standard_normal(shape).astype(dt)
            tag = dt[1:] + "-" + "x".join(str(s) for s in shape)
            np.save(os.path.join(d, "valid-" + tag + ".npy"), a)
    np.save(os.path.join(d, "valid-i4-2x2.npy"), np.arange(4, dtype="<i4").reshape(2, 2))
    np.save(os.path.join(d, "valid-u1-4.npy"), np.arange(4, dtype="|u1"))
    np.save(os.path.join(d, "valid-i1-4.npy"), np.arange(-2, 2, dtype="|i1"))
    np.save(os.path.join(d, "valid-f4-4d.npy"), np.ones((1, 2, 1, 2), dtype="<f4"))
    ok = np.arange(6, dtype="<f4").tobytes()
    put("npy", "valid-v2-f4-2x3.npy", npy_header("<f4", (2, 3), 2) + ok)
    put("npy", "valid-v3-f4-2x3.npy", npy_header("<f4", (2, 3), 3) + ok)
    # Broken ones.
    put("npy", "bad-big-endian.npy", npy_header(">f4", (2, 3)) + ok)
    put("npy", "bad-fortran.npy", npy_header("<f4", (2, 3), fortran=True) + ok)
    put("npy", "bad-short-data.npy", npy_header("<f4", (2, 3)) + ok[:-4])
    put("npy", "bad-long-data.npy", npy_header("<f4", (2, 3)) + ok + b"\0\0\0\0")
    put("npy", "bad-zero-dim.npy", npy_header("<f4", (0, 3)))
    put("npy", "bad-scalar.npy", npy_header("<f4", ()) + ok[:4])
    put("npy", "bad-5d.npy", npy_header("<f4", (1, 1, 1, 1, 1)) + ok[:4])
    put("npy", "bad-extra-key.npy",
        npy_header("<f4", (2, 3), extra="'x': 1, ") + ok)
    put("npy", "bad-nan.npy", npy_header("<f4", (2,)) +
        struct.pack("<ff", 1.0, float("nan")))
    put("npy", "bad-f8-overflow.npy", npy_header("<f8", (2,)) +
        struct.pack("<dd", 1.0, 1e300))
    put("npy", "bad-i8-inexact.npy", npy_header("<i8", (2,)) +
        struct.pack("<qq", 1, (1 << 24) + 1))
    put("npy", "bad-huge-shape.npy",
        npy_header("<f4", (4294967296, 4294967296, 4294967296)) + ok)
    put("npy", "bad-magic.npy", b"\x93NUMPZ\x01\x00" + b"\x10\x00" + b"{" * 16)
    put("npy", "bad-truncated-header.npy", npy_header("<f4", (2, 3))[:30])
    put("npy", "bad-version.npy", b"\x93NUMPY\x04\x00\x00\x00")
    put("npy", "bad-hlen-huge.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{")
    put("npy", "bad-dtype.npy", npy_header("<c8", (2,)) + b"\0" * 16)
    put("npy", "empty.npy", b"")


def st_file(entries, data, meta=None, pad=True):
    """A safetensors file: entries maps names to (dtype, shape, [b, e])."""
    h = {} if meta is None else {"__metadata__": meta}
    for name, (dt, shape, offs) in entries.items():
        h[name] = {"dtype": dt, "shape": list(shape), "data_offsets": offs}
    text = js(h).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors():
    f4 = np.arange(6, dtype="<f4").tobytes()
    f2 = np.array([1, 6e-8, -2], dtype="<f2").tobytes()
    bf = b"\x80\x3f\x00\x40"  # bf16 1.0, 2.0
    put("safetensors", "valid-gpt-tiny.safetensors", st_file({
        "wte.weight": ("F32", (2, 2), [0, 16]),
        "ln_f.bias": ("F16", (3,), [16, 22]),
        "ln_f.weight": ("BF16", (2,), [22, 26]),
        "h.0.attn.bias": ("I64", (1,), [26, 34]),
    }, f4[:16] + f2 + bf + struct.pack("<q", 7), {"format": "pt"}))
    put("safetensors", "valid-scalar-empty.safetensors", st_file({
        "s": ("F32", (), [0, 4]), "e": ("F32", (0, 4), [4, 4])}, f4[:4]))
    put("safetensors", "valid-unpadded.safetensors",
        st_file({"w": ("F32", (6,), [0, 24])}, f4, pad=False))
    put("safetensors", "bad-gap.safetensors", st_file({
        "a": ("F32", (1,), [0, 4]), "b": ("F32", (1,), [8, 12])}, f4[:12]))
    put("safetensors", "bad-overlap.safetensors", st_file({
        "a": ("F32", (2,), [0, 8]), "b": ("F32", (1,), [4, 8])}, f4[:8]))
    put("safetensors", "bad-trailing.safetensors",
        st_file({"a": ("F32", (1,), [0, 4])}, f4))
    put("safetensors", "bad-span.safetensors",
        st_file({"a": ("F32", (2,), [0, 4])}, f4[:4]))
    put("safetensors", "bad-overflow.safetensors", st_file(
        {"a": ("F32", (1 << 62, 1 << 62), [0, 4])}, f4[:4]))
    put("safetensors", "bad-nan.safetensors", st_file(
        {"a": ("F32", (1,), [0, 4])}, struct.pack("<f", float("nan"))))
    put("safetensors", "bad-dtype.safetensors",
        st_file({"a": ("C64", (1,), [0, 8])}, f4[:8]))
    put("safetensors", "bad-meta.safetensors",
        st_file({}, b"", {"k": 1}))
    put("safetensors", "bad-hlen.safetensors", struct.pack("<Q", 1 << 60) + b"{}")
    put("safetensors", "bad-json.safetensors", struct.pack("<Q", 5) + b'{"a":')
    put("safetensors", "empty.safetensors", b"")


def http_seed(name, step, *requests):
    """An HTTP seed: the first byte is fuzz_http's write size (0: at once),
    then the requests as one byte stream."""
    put("http", name, bytes([step]) + b"".join(requests))


def https():
    get = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b'{"name":"x","grid":{"rank":[1]}}'
    post = (b"POST /v1/sweeps HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    chunked = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n1a;ext=1\r\n" + b"z" * 26 + b"\r\n0\r\nTrailer: t\r\n\r\n")
    http_seed("get", 0, get)
    http_seed("get-bytewise", 1, get)
    http_seed("post-json", 7, post)
    http_seed("chunked", 3, chunked)
    http_seed("pipelined", 0, get, b"GET /defer HTTP/1.1\r\nHost: x\r\n\r\n", post,
              b"HEAD /v1/health HTTP/1.1\r\n\r\n", chunked,
              b"GET /q?a=1%202&b+c=%41 HTTP/1.1\r\nConnection: close\r\n\r\n")
    http_seed("deferred-then-pipelined", 16, b"GET /defer HTTP/1.1\r\n\r\n" * 3, get)
    http_seed("keepalive-http10", 0,
              b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /x HTTP/1.0\r\n\r\n")
    http_seed("expect-continue", 5, b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\n"
              b"Content-Length: 3\r\n\r\nabc")
    http_seed("absolute-target", 0, b"GET http://h:1/q?a=b#f HTTP/1.1\r\n\r\n"
              b"OPTIONS * HTTP/1.1\r\n\r\n")
    http_seed("auth-ctype", 0, b"PUT /err HTTP/1.1\r\nAuthorization: Bearer abc\r\n"
              b"Content-Type: text/plain\r\nConnection: a, close\r\nContent-Length: 1\r\n\r\nx")
    http_seed("huge-header", 64, b"GET / HTTP/1.1\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n")
    http_seed("many-headers", 0, b"GET / HTTP/1.1\r\n" +
              b"".join(b"H%d: v\r\n" % i for i in range(300)) + b"\r\n")
    http_seed("long-url", 0, b"GET /" + b"a" * 2100 + b" HTTP/1.1\r\n\r\n")
    http_seed("body-too-large", 0, b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"b" * 100)
    http_seed("chunked-too-large", 200, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
              b"400\r\n" + b"c" * 1024 + b"\r\n" + b"400\r\n" + b"c" * 1024 + b"\r\n" +
              b"400\r\n" + b"c" * 1024 + b"\r\n" + b"400\r\n" + b"c" * 1024 + b"\r\n" +
              b"400\r\n" + b"c" * 1024 + b"\r\n0\r\n\r\n")
    http_seed("bad-chunk-size", 0, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"zz\r\nxx\r\n0\r\n\r\n")
    http_seed("cl-and-chunked", 0, b"POST / HTTP/1.1\r\nContent-Length: 3\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    http_seed("two-content-lengths", 0, b"POST / HTTP/1.1\r\nContent-Length: 1\r\n"
              b"Content-Length: 2\r\n\r\nab")
    http_seed("repeated-ctype", 0, b"GET / HTTP/1.1\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n")
    http_seed("bad-escape", 0, b"GET /a%zz%00 HTTP/1.1\r\n\r\n")
    http_seed("garbage", 0, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(40)))
    http_seed("upgrade", 0, b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    http_seed("truncated", 0, b"POST / HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"a\"")
    http_seed("lf-only", 2, b"GET /q?a=%2 HTTP/1.1\nHost: x\n\n")
    http_seed("space-before-colon", 0, b"POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello")
    http_seed("no-read-pipeline", 0, b"GET /defer HTTP/1.1\r\n\r\n" * 40)


LAYER = {"layer": 0, "d_in": 8, "d_out": 4, "sigma_max_w0": 1.5, "target_norm": 2.0}


def records():
    """Seeds for fuzz_record: one JSON line per record (a few files hold a
    whole run, as a worker writes it), valid ones of every type and
    invalid ones for every kind of check."""
    valid = {
        "start": {"type": "start", "run_id": 3, "config": {"task": "teacher", "rank": 2},
                  "scale": 2.0, "blas_core": "Haswell", "params": 96, "n_train": 64,
                  "n_eval": 16, "layers": [LAYER, dict(LAYER, layer=1, target_norm=None)]},
        "start-min": {"type": "start", "layers": [{"layer": 0, "d_in": 1, "d_out": 1}]},
        "train": {"type": "train", "step": 1, "loss": 0.5, "lr": 0.001, "lr_b": 0.004,
                  "grad_norm_a": 0.1, "grad_norm_b": 0.2, "update_norm": 0.01},
        "train-null": {"type": "train", "step": 7, "loss": None, "lr": 0},
        "eval": {"type": "eval", "step": 0, "loss": 1.25},
        "spectra": {"type": "spectra", "step": 50, "layer": 0, "sigma_max": 0.5, "fro": 0.7,
                    "stable_rank": 1.9, "sv": [0.5, 0.49, None], "signal": 0.4, "drift": 0.1,
                    "drift_ratio": 0.25, "cos_target": -0.3, "rel_err": 0.2,
                    "tf_signal": 0.3, "tf_drift": 0.2, "mech_ratio": 0.6, "a_drift": 0.05},
        "sharpness": {"type": "sharpness", "step": 0, "lora": -3.5, "full": 1.5,
                      "ratio": None, "lora_iters": 20, "full_iters": 20, "rows": 256},
        "done": {"type": "done", "status": "done", "steps": 300, "final_train_loss": 0.1,
                 "final_eval_loss": 0.2, "best_eval_loss": 0.15, "best_step": 250,
                 "wall_s": 1.5, "steps_per_s": 200.0},
        "done-diverged": {"type": "done", "status": "diverged", "reason": "loss is not finite",
                          "steps": 3, "final_train_loss": None, "best_step": -1},
        "error": {"type": "error", "error": "npy: cannot read w0.npy"},
        "extension": {"type": "x_tokens", "per_s": 1e6, "x_more": [1, {"a": None}]},
    }
    for name, rec in valid.items():
        put("record", "valid-" + name + ".jsonl", js(rec) + "\n")
    put("record", "valid-run.jsonl",
        "".join(js(valid[k]) + "\n" for k in
                ("start", "eval", "train", "spectra", "sharpness", "eval", "done")))
    invalid = {
        "layers-no-layer": '{"type":"start","layers":[{"d_in":8,"d_out":4}]}',
        "layers-empty-entry": '{"type":"start","layers":[{}]}',
        "layers-out-of-order": js({"type": "start", "layers": [dict(LAYER, layer=1)]}),
        "layers-too-many": js({"type": "start",
                               "layers": [dict(LAYER, layer=i) for i in range(9)]}),
        "loss-negative": '{"type":"train","step":1,"loss":-1,"lr":0.1}',
        "loss-inf": '{"type":"eval","step":1,"loss":1e400}',
        "loss-nan": '{"type":"eval","step":1,"loss":NaN}',
        "loss-string": '{"type":"eval","step":1,"loss":"0.5"}',
        "step-negative": '{"type":"eval","step":-1,"loss":1}',
        "step-real": '{"type":"eval","step":1.5,"loss":1}',
        "step-huge": '{"type":"eval","step":9223372036854775808,"loss":1}',
        "duplicate-key": '{"type":"eval","step":1,"loss":1,"loss":2}',
        "unknown-field": '{"type":"eval","step":1,"loss":1,"los":1}',
        "unknown-type": '{"type":"shape","step":1}',
        "no-type": '{"step":1,"loss":1}',
        "sv-negative": '{"type":"spectra","step":1,"layer":0,"sv":[1,-1]}',
        "cos-out": '{"type":"spectra","step":1,"layer":0,"cos_target":2}',
        "done-status": '{"type":"done","status":"ok","steps":3}',
        "error-null": '{"type":"error","error":null}',
        "nul-string": '{"type":"error","error":"a\\u0000b"}',
        "not-object": '[1,2,3]',
        "truncated": '{"type":"eval","step":1,"loss":1',
        "trailing": '{"type":"eval","step":1,"loss":1} {}',
        "deep": "[" * 3000 + "]" * 3000,
    }
    for name, line in invalid.items():
        put("record", "invalid-" + name + ".jsonl", line + "\n")


if __name__ == "__main__":
    for sub in ("config", "spec", "npy", "http", "record", "safetensors"):
        os.makedirs(os.path.join(C, sub), exist_ok=True)
    configs()
    specs()
    npys()
    https()
    records()
    safetensors()
