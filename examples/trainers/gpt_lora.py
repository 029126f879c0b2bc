#!/usr/bin/python3
"""gpt_lora.py: LoRA fine-tuning of a small pretrained GPT-2 in plain
PyTorch, a trainer of your own that loralpha runs per run through the
command task (examples/sweep-command-gpt.json, docs/sweeps.md "The command
task") and that reports through python/loralpha_reporter.py.

    gpt_lora.py --base FILE --rank R --alpha A --lr LR --steps N
                [--text FILE] [--seed S] [--batch B] [--scaling peft|rslora]
                [--context T] [--n-head H] [--target-modules c_attn,c_proj]
                [--eval-every K] [--spectra-every K] [--log-every K]
                [--n-eval N] [--eval-fraction F] [--weight-decay W]
                [--diverge-factor X] [--threads N]

Started by loralpha, it takes the run's values from the parameters the
daemon hands it (LORALPHA_PARAMS_FILE: rank, alpha, lr, seed, steps,
batch, scaling, threads, and the spec's task.params under the flags' names
with underscores: base, text, context, n_head, target_modules, ...); a
flag given on the command line wins over them. Run by hand, the flags are
the values and the records go to stdout. Relative paths are read against
the working directory (the command task's `cwd`). Defaults: text
/usr/share/common-licenses/MPL-2.0, seed 0, batch 8, scaling peft, context
64, n_head 4, target_modules c_attn, eval_every 50, spectra_every 0 (only
at the end), log_every 1, n_eval 32, eval_fraction 0.2, weight_decay 0,
diverge_factor 100, threads 1.

What it does, as loralpha-worker's task gpt does it (docs/worker.md
"Task gpt": the same model, splits and eval windows; its own draws of A
and of the batches, from torch's generators), so that the two compare:

- The base: a safetensors file in GPT-2's layout (examples/gpt/make_base.py
  writes an untrained one, `loralpha-worker --pretrain` trains it), read
  here with json and struct: wte, wpe, h.N.ln_1, h.N.attn.c_attn,
  h.N.attn.c_proj, h.N.ln_2, h.N.mlp.c_fc, h.N.mlp.c_proj, ln_f, with
  Conv1D weights of shape (in, out); the heads come from n_head.
- The model: GPT-2's pre-LayerNorm blocks, causal attention, tanh GELU,
  the LM head tied to wte; the loss is the mean next-token cross-entropy.
- LoRA as PEFT does it: each targeted Conv1D (PEFT's suffix rule: a name
  matches a module whose full name is it or ends with "." + it) becomes a
  module with base_layer, lora_A and lora_B (ModuleDicts of nn.Linear under
  "default") and scaling; y = x W + b + s (x A^T) B^T (PEFT's
  fan_in_fan_out), s = alpha / r (peft) or alpha / sqrt(r) (rslora), A
  Kaiming-uniform U(-1/sqrt(in), 1/sqrt(in)), B zero, no dropout. Only A
  and B train, with torch.optim.AdamW at a constant learning rate.
- The data: the text's bytes are the tokens (vocabulary 256). Its last
  eval_fraction is the eval split; eval takes its non-overlapping windows
  at 0, T, 2T, ... (at most n_eval); a step takes batch windows of the
  training split at random offsets. So the step-0 eval loss (B = 0: the
  base's loss) equals the worker's on the same base and text.
- The records: start (the adapted modules' names and shapes), an eval at
  step 0, every eval_every and at the end, a train record every log_every
  updates (the batch loss before the update, with the gradients' norms),
  the spectra and signal/drift of every adapter's dW = s B A every
  spectra_every updates and at the end (PeftLoraTracker), done. A loss
  that is not finite or grows past diverge_factor times its start ends the
  run as diverged (that update is not applied). A line of progress per
  eval goes to stderr, which loralpha keeps as the run's log.

The same seed and threads give the same records (but the timing fields of
done). To make it yours, replace load_base and GPT with your model and
Data with your data; keep add_lora's module shape and the reporter calls.
Needs python3-torch (no transformers, no peft).
"""
import argparse
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # source and install trees
import loralpha_reporter as lr  # noqa: E402


def blas_threads(argv):
    """The run's threads: --threads, else the daemon's parameters, else 1.
    Debian's torch calls the system's OpenBLAS, which reads its thread
    count when torch loads it and which torch.set_num_threads does not
    reach; its sums' order depends on it, so it is set before torch loads,
    for the same records from the same seed and threads."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--threads", type=int)
    try:
        n = ap.parse_known_args(argv)[0].threads or lr.params().get("threads")
    except (OSError, ValueError, SystemExit):
        n = None  # settings() says what is wrong
    return n if isinstance(n, int) and n > 0 else 1


if __name__ == "__main__":
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = \
        str(blas_threads(sys.argv[1:]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MODULES = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")

# ---- settings: the daemon's parameters, then the flags ------------------------

# name: (type, default; None: required), in the order of the docstring
SETTINGS = {
    "base": (str, None), "rank": (int, None), "alpha": (float, None),
    "lr": (float, None), "steps": (int, None),
    "text": (str, "/usr/share/common-licenses/MPL-2.0"), "seed": (int, 0),
    "batch": (int, 8), "scaling": (str, "peft"), "context": (int, 64),
    "n_head": (int, 4), "target_modules": (str, "c_attn"), "eval_every": (int, 50),
    "spectra_every": (int, 0), "log_every": (int, 1), "n_eval": (int, 32),
    "eval_fraction": (float, 0.2), "weight_decay": (float, 0.0),
    "diverge_factor": (float, 100.0), "threads": (int, 1),
}
RUN_VALUES = ("rank", "alpha", "lr", "seed", "steps", "batch", "scaling", "threads")


class Bad(Exception):
    """Bad input (a setting, the base, the text): the run's error."""


def settings(argv):
    """The run's settings: each from argv when given there, else the
    daemon's parameters (run values, then task.params), else its default."""
    ap = argparse.ArgumentParser(prog="gpt_lora.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, (kind, _) in SETTINGS.items():
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=kind)
    given = vars(ap.parse_args(argv))
    p = lr.params()
    extra = p.get("params") or {}
    unknown = sorted(set(extra) - set(SETTINGS))
    if unknown:
        raise Bad(f"task.params.{unknown[0]}: not a setting of gpt_lora.py "
                  f"(known: {', '.join(SETTINGS)})")
    out = {}
    for name, (kind, default) in SETTINGS.items():
        v = given[name]
        if v is None:
            v = p.get(name) if name in RUN_VALUES and name in p else extra.get(name, default)
        if v is None:
            raise Bad(f"{name}: required (--{name.replace('_', '-')}, or the daemon's "
                      "parameters)")
        try:
            if kind is int and isinstance(v, float) and not v.is_integer():
                raise ValueError
            out[name] = kind(v)
        except (TypeError, ValueError):
            raise Bad(f"{name}: {v!r} is not a{'n' if kind is int else ''} "
                      f"{kind.__name__}") from None
    return check(out)


def check(s):
    """The settings' ranges; s itself."""
    positive = ("rank", "alpha", "lr", "steps", "batch", "context", "n_head", "n_eval",
                "threads", "diverge_factor")
    for k in positive:
        if not (s[k] > 0 and math.isfinite(s[k])):
            raise Bad(f"{k}: must be a finite number > 0, not {s[k]}")
    for k in ("eval_every", "spectra_every", "seed", "weight_decay"):
        if s[k] < 0:
            raise Bad(f"{k}: must be >= 0, not {s[k]}")
    if s["log_every"] < 1:
        raise Bad(f"log_every: must be >= 1, not {s['log_every']}")
    if not 0 < s["eval_fraction"] <= 0.9:
        raise Bad(f"eval_fraction: must be in (0, 0.9], not {s['eval_fraction']}")
    if s["scaling"] not in ("peft", "rslora"):
        raise Bad(f"scaling: must be peft or rslora, not {s['scaling']!r}")
    s["target_modules"] = [t for t in s["target_modules"].split(",") if t]
    if not s["target_modules"]:
        raise Bad("target_modules: names no module")
    return s


# ---- the base: a safetensors file in GPT-2's layout ---------------------------

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "F64": torch.float64}


def load_safetensors(path):
    """name -> float32 tensor of every F32/F16/BF16/F64 tensor of the file
    (8-byte little-endian header length, JSON header, data); names without
    a leading "transformer."."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise Bad(f"base: {path}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise Bad(f"base: {path}: its header length {n} passes the end of the file")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise Bad(f"base: {path}: its header is not JSON ({e})") from None
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t.get("dtype") not in DTYPES:
            continue
        begin, end = t["data_offsets"]
        dt = DTYPES[t["dtype"]]
        size = math.prod(t["shape"]) * torch.tensor([], dtype=dt).element_size()
        if not 0 <= begin <= end <= len(data) or end - begin != size:
            raise Bad(f"base: {path}: {name}: its data_offsets do not fit its shape")
        x = torch.frombuffer(bytearray(data[begin:end]), dtype=dt) if size else \
            torch.zeros(0, dtype=dt)
        out[name.removeprefix("transformer.")] = x.reshape(t["shape"]).float()
    return out


def tensor(w, name, shape, path):
    """w[name], which must have the given shape."""
    if name not in w:
        raise Bad(f"base: {path}: has no tensor {name}")
    if list(w[name].shape) != list(shape):
        raise Bad(f"base: {path}: {name} has shape {list(w[name].shape)}, not {list(shape)}")
    return w[name]


# ---- the model: GPT-2 ---------------------------------------------------------


class Conv1D(nn.Module):
    """GPT-2's linear layer: y = x W + b, W of shape (in, out)."""

    def __init__(self, weight, bias):
        super().__init__()
        self.weight = nn.Parameter(weight)  # (in, out)
        self.bias = nn.Parameter(bias)      # (out)

    def forward(self, x):
        y = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight)
        return y.view(*x.shape[:-1], y.shape[-1])


def layer_norm(weight, bias):
    ln = nn.LayerNorm(weight.shape[0], eps=1e-5)
    with torch.no_grad():
        ln.weight.copy_(weight)
        ln.bias.copy_(bias)
    return ln


class Attention(nn.Module):
    """Causal multi-head self-attention: c_attn gives q, k, v."""

    def __init__(self, w, h, n_head, path):
        super().__init__()
        C = w["wte.weight"].shape[1]
        self.n_head = n_head
        self.c_attn = Conv1D(tensor(w, h + "attn.c_attn.weight", (C, 3 * C), path),
                             tensor(w, h + "attn.c_attn.bias", (3 * C,), path))
        self.c_proj = Conv1D(tensor(w, h + "attn.c_proj.weight", (C, C), path),
                             tensor(w, h + "attn.c_proj.bias", (C,), path))

    def forward(self, x):
        nb, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=-1)
        q, k, v = (t.view(nb, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)           # (nb, H, T, T)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        att = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(nb, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, w, h, path):
        super().__init__()
        C = w["wte.weight"].shape[1]
        self.c_fc = Conv1D(tensor(w, h + "mlp.c_fc.weight", (C, 4 * C), path),
                           tensor(w, h + "mlp.c_fc.bias", (4 * C,), path))
        self.c_proj = Conv1D(tensor(w, h + "mlp.c_proj.weight", (4 * C, C), path),
                             tensor(w, h + "mlp.c_proj.bias", (C,), path))

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    """x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))."""

    def __init__(self, w, h, n_head, path):
        super().__init__()
        C = w["wte.weight"].shape[1]
        self.ln_1 = layer_norm(tensor(w, h + "ln_1.weight", (C,), path),
                               tensor(w, h + "ln_1.bias", (C,), path))
        self.attn = Attention(w, h, n_head, path)
        self.ln_2 = layer_norm(tensor(w, h + "ln_2.weight", (C,), path),
                               tensor(w, h + "ln_2.bias", (C,), path))
        self.mlp = MLP(w, h, path)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """GPT-2 from its tensors: module names as GPT-2's (h.0.attn.c_attn)."""

    def __init__(self, w, n_head, path):
        super().__init__()
        if "wte.weight" not in w or w["wte.weight"].dim() != 2:
            raise Bad(f"base: {path}: has no tensor wte.weight of shape (vocab, width)")
        V, C = w["wte.weight"].shape
        if C % n_head:
            raise Bad(f"n_head: {n_head} does not divide the width {C}")
        L = sum(1 for k in w if k.startswith("h.") and k.endswith(".ln_1.weight"))
        if L == 0:
            raise Bad(f"base: {path}: has no blocks (h.0.ln_1.weight ...)")
        wpe = w.get("wpe.weight")
        if wpe is None or wpe.dim() != 2 or wpe.shape[1] != C:
            raise Bad(f"base: {path}: has no tensor wpe.weight of shape (positions, {C})")
        self.wte = nn.Embedding.from_pretrained(w["wte.weight"], freeze=False)
        self.wpe = nn.Embedding.from_pretrained(wpe, freeze=False)
        self.h = nn.ModuleList(Block(w, f"h.{i}.", n_head, path) for i in range(L))
        self.ln_f = layer_norm(tensor(w, "ln_f.weight", (C,), path),
                               tensor(w, "ln_f.bias", (C,), path))
        self.sizes = {"vocab": V, "positions": self.wpe.weight.shape[0], "width": C,
                      "blocks": L, "heads": n_head}

    def forward(self, tok, tgt):
        """The mean next-token cross-entropy of windows tok (nb, T)."""
        T = tok.shape[1]
        x = self.wte(tok) + self.wpe.weight[:T]
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T                   # (nb, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))


def load_base(path, n_head):
    return GPT(load_safetensors(path), n_head, path)


# ---- LoRA, as PEFT's LoraLayer around a Conv1D --------------------------------


class LoraConv1D(nn.Module):
    """PEFT's LoRA layer on a Conv1D (fan_in_fan_out): base_layer frozen,
    lora_A (r, in) and lora_B (out, r) as nn.Linear in ModuleDicts under the
    adapter's name, scaling[adapter] = s; y = base(x) + s B(A(x)). This is
    the shape loralpha_reporter.PeftLoraTracker reads (W0 = base_layer.weight,
    A, B, scaling), as it reads a PEFT model's."""

    def __init__(self, base_layer, r, alpha, rslora, gen, adapter="default"):
        super().__init__()
        d_in, d_out = base_layer.weight.shape
        self.base_layer = base_layer
        self.fan_in_fan_out = True
        self.adapter = adapter
        self.lora_A = nn.ModuleDict({adapter: nn.Linear(d_in, r, bias=False)})
        self.lora_B = nn.ModuleDict({adapter: nn.Linear(r, d_out, bias=False)})
        self.scaling = {adapter: alpha / (math.sqrt(r) if rslora else r)}
        with torch.no_grad():  # kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(in), 1/sqrt(in))
            bound = 1 / math.sqrt(d_in)
            self.lora_A[adapter].weight.uniform_(-bound, bound, generator=gen)
            self.lora_B[adapter].weight.zero_()

    def forward(self, x):
        a = self.adapter
        return self.base_layer(x) + self.scaling[a] * self.lora_B[a](self.lora_A[a](x))


def peft_match(name, targets):
    """PEFT's target_modules rule for a list of names: the module's full
    name is one of them or ends with "." + one of them."""
    return any(name == t or name.endswith("." + t) for t in targets)


def add_lora(model, targets, r, alpha, rslora, gen):
    """Freezes the model and wraps every Conv1D that targets names (in module
    order: block by block, attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj)
    in a LoraConv1D; their names, in order."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, m in model.named_modules()
             if isinstance(m, Conv1D) and peft_match(n, targets)]
    if not names:
        raise Bad(f"target_modules: {','.join(targets)} matches no module (the "
                  f"modules: h.N.{', h.N.'.join(MODULES)})")
    for name in names:
        parent, _, leaf = name.rpartition(".")
        base = model.get_submodule(name)
        if r > min(base.weight.shape):
            raise Bad(f"rank: {r} exceeds min(in, out) = {min(base.weight.shape)} of {name}")
        setattr(model.get_submodule(parent), leaf, LoraConv1D(base, r, alpha, rslora, gen))
    return names


# ---- the data: a text as bytes -------------------------------------------------


class Data:
    """The text's bytes split as the worker splits them: the last
    eval_fraction is eval, the rest train."""

    def __init__(self, path, eval_fraction, T, n_eval):
        with open(path, "rb") as f:
            tokens = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
        ne = int(len(tokens) * eval_fraction)
        self.train, self.eval = tokens[:len(tokens) - ne], tokens[len(tokens) - ne:]
        self.T = T
        if len(self.train) < T + 1 or len(self.eval) < T + 1:
            raise Bad(f"text: {path}: {len(tokens)} bytes are too few for windows of "
                      f"context {T} in both splits")
        n = min((len(self.eval) - 1) // T, n_eval)  # eval windows at 0, T, 2T, ...
        at = torch.arange(n)[:, None] * T + torch.arange(T)[None, :]
        self.eval_tok, self.eval_tgt = self.eval[at], self.eval[at + 1]

    def batch(self, n, gen):
        """n training windows at random offsets, and their next tokens."""
        starts = torch.randint(0, len(self.train) - self.T, (n,), generator=gen)
        at = starts[:, None] + torch.arange(self.T)[None, :]
        return self.train[at], self.train[at + 1]


def evaluate(model, data, batch):
    """The mean loss of the eval windows (a batch of windows at a time)."""
    total, n = 0.0, len(data.eval_tok)
    with torch.no_grad():
        for i in range(0, n, batch):
            tok, tgt = data.eval_tok[i:i + batch], data.eval_tgt[i:i + batch]
            total += model(tok, tgt).item() * len(tok)
    return total / n


# ---- training -------------------------------------------------------------------


def norm(tensors):
    return math.sqrt(sum(float((t.grad.double() ** 2).sum()) for t in tensors))


def build(s):
    """The base with its adapters, the data and the adapters' tracker."""
    model = load_base(s["base"], s["n_head"])
    data = Data(s["text"], s["eval_fraction"], s["context"], s["n_eval"])
    if s["context"] > model.sizes["positions"]:
        raise Bad(f"context: {s['context']} exceeds the base's "
                  f"{model.sizes['positions']} positions (wpe)")
    top = max(int(data.train.max()), int(data.eval.max()))
    if top >= model.sizes["vocab"]:
        raise Bad(f"text: a byte value {top} is past the base's vocabulary of "
                  f"{model.sizes['vocab']}")
    init = torch.Generator().manual_seed(s["seed"])  # A's initialisation
    names = add_lora(model, s["target_modules"], s["rank"], s["alpha"],
                     s["scaling"] == "rslora", init)
    return model, data, lr.PeftLoraTracker(model, names=names)


def report_start(rep, s, model, data, track, n_params):
    """The start record: the adapted modules (names, widths, sigma_max of
    W0), s, the splits' sizes and the effective settings."""
    config = {k: (",".join(v) if isinstance(v, list) else v) for k, v in s.items()}
    rep.start(track.start_layers(), scale=track.layers[0][1].scaling["default"],
              n_train=len(data.train), n_eval=len(data.eval_tok), params=n_params,
              config=dict(config, trainer="gpt_lora.py", **model.sizes))


def train(s, rep):
    """The run: records from start to done."""
    torch.set_num_threads(s["threads"])
    model, data, track = build(s)
    A = [m.lora_A["default"].weight for _, m, _, _ in track.layers]
    B = [m.lora_B["default"].weight for _, m, _, _ in track.layers]
    opt = torch.optim.AdamW(A + B, lr=s["lr"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=s["weight_decay"])
    windows = torch.Generator().manual_seed(s["seed"] + 1)  # the batches
    report_start(rep, s, model, data, track, sum(p.numel() for p in A + B))
    eval0 = evaluate(model, data, s["batch"])
    rep.eval(0, eval0)
    first = None
    for step in range(1, s["steps"] + 1):
        tok, tgt = data.batch(s["batch"], windows)
        opt.zero_grad(set_to_none=True)
        loss = model(tok, tgt)
        loss.backward()
        value = loss.item()
        first = value if first is None else first
        if not math.isfinite(value) or value > s["diverge_factor"] * first:
            rep.train(step, value, s["lr"])  # reported, never applied
            return rep.done(step - 1, status="diverged",
                            reason="loss is not finite" if not math.isfinite(value)
                            else "loss grew past diverge_factor times its start")
        last = step == s["steps"]
        if step % s["log_every"] == 0 or last:
            rep.train(step, value, s["lr"], grad_norm_a=norm(A), grad_norm_b=norm(B))
        opt.step()
        if (s["eval_every"] and step % s["eval_every"] == 0) or last:
            ev = evaluate(model, data, s["batch"])
            rep.eval(step, ev)
            print(f"step {step}/{s['steps']}: train loss {value:.4f}, eval loss {ev:.4f}",
                  file=sys.stderr, flush=True)
            if not math.isfinite(ev) or ev > s["diverge_factor"] * eval0:
                return rep.done(step, status="diverged",
                                reason="eval loss is not finite or grew past "
                                "diverge_factor times its start")
        if (s["spectra_every"] and step % s["spectra_every"] == 0) or last:
            track.report(rep, step)
    return rep.done(s["steps"])


def main(argv=None):
    rep = lr.Reporter()
    try:
        s = settings(sys.argv[1:] if argv is None else argv)
        train(s, rep)
    except (Bad, OSError) as e:
        msg = str(e) if isinstance(e, Bad) else f"{e.filename}: {e.strerror}"
        rep.error(msg)
        print(f"gpt_lora.py: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
