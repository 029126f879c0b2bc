"""loralpha_reporter: a trainer's side of loralpha's record protocol.

A sweep's command task (docs/sweeps.md "The command task") runs your own
training script once per run. This module, standard library only, is what
the script needs to talk to the daemon (docs/protocol.md "Your own
trainer"):

    import loralpha_reporter as lr
    p = lr.params()                      # rank, alpha, lr, seed, steps, params
    rep = lr.Reporter()                  # records go to LORALPHA_RECORD_FD
    rep.start(layers=[(768, 768)])       # (d_in, d_out) per adapted layer
    rep.train(step, loss, lr=current_lr) # every update (or every k-th)
    rep.eval(step, eval_loss)            # at step 0 and now and then
    rep.done()                           # last: the run is done

Optional measurements light up the rest of the analysis: `spectra` (the
singular values of each layer's update dW = s B A and its signal/drift
figures, computed here by `lora_figures` with the worker's definitions)
and `sharpness`. With PyTorch, `PeftLoraTracker` finds the LoRA layers of a
PEFT model (W0, A, B, scaling) and reports their spectra; with HuggingFace
transformers, `LoralphaCallback` does all of it from a `Trainer`.
"""
import json
import math
import os
import sys
import time

__all__ = ["params", "Reporter", "lora_figures", "PeftLoraTracker",
           "LoralphaCallback", "MAX_LAYERS"]

MAX_LAYERS = 256  # adapted layers a start record may list
MAX_MODULE = 200  # bytes of a layer's module name
_MODULE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789._/:-")

_TRAIN_KEYS = ("lr_b", "grad_norm_a", "grad_norm_b", "update_norm")
_SPECTRA_KEYS = ("sigma_max", "fro", "stable_rank", "sv", "signal", "drift",
                 "drift_ratio", "cos_target", "rel_err", "tf_signal", "tf_drift",
                 "mech_ratio", "a_drift")
_SHARP_KEYS = ("ratio", "lora_iters", "full_iters", "rows", "lora_residual",
               "full_residual", "lora_converged", "full_converged")


def params():
    """The run's parameters the daemon hands the trainer: a dict with run_id,
    rank, alpha, lr, seed, steps, batch, scaling, threads and params (the
    spec's task.params). Read from LORALPHA_PARAMS_FILE (the same JSON is on
    stdin); {} when the script was not started by loralpha."""
    path = os.environ.get("LORALPHA_PARAMS_FILE")
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)


def _clean(v):
    """A value as the protocol takes it: non-finite numbers become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (bool, int, float, str)):
        return _clean(v.item())  # a 0-d tensor or a numpy scalar
    return v


def _extra(rec, given, allowed, kind):
    for k, v in given.items():
        if k not in allowed and not k.startswith("x_"):
            raise TypeError(f"{kind}: {k} is not a field of the record "
                            f"(known: {', '.join(allowed)}, or x_... extensions)")
        rec[k] = _clean(v)


class Reporter:
    """Writes records, one JSON line each, to the daemon's pipe (the file
    descriptor in LORALPHA_RECORD_FD), or to stream (default: stdout when
    the script runs by hand, so its records can be checked or imported).
    Keeps the last and best losses for done(). Not thread-safe."""

    def __init__(self, stream=None):
        if stream is None:
            fd = os.environ.get("LORALPHA_RECORD_FD")
            stream = os.fdopen(int(fd), "w", buffering=1) if fd else sys.stdout
        self._out = stream
        self._t0 = time.monotonic()
        self.steps = 0
        self.final_train_loss = None
        self.final_eval_loss = None
        self.best_eval_loss = None
        self.best_step = -1

    def _emit(self, rec):
        self._out.write(json.dumps(rec, allow_nan=False, separators=(",", ":")) + "\n")
        self._out.flush()

    def start(self, layers, run_id=None, scale=None, params=None, n_train=None,
              n_eval=None, config=None):
        """Once, first. layers: per adapted layer (at most 256), a (d_in,
        d_out) pair or a dict with d_in, d_out and optionally sigma_max_w0
        and module (its name: 1..200 letters, digits and ._/:-)."""
        if not 1 <= len(layers) <= MAX_LAYERS:
            raise ValueError(f"start: 1 to {MAX_LAYERS} layers, not {len(layers)}")
        out = []
        for i, l in enumerate(layers):
            d = dict(l) if isinstance(l, dict) else {"d_in": l[0], "d_out": l[1]}
            d = {k: _clean(v) for k, v in d.items()}
            m = d.get("module")
            if m is not None and (not isinstance(m, str) or not 1 <= len(m) <= MAX_MODULE
                                  or not set(m) <= _MODULE_CHARS):
                raise ValueError(f"start: layers[{i}].module {m!r}: 1 to {MAX_MODULE} "
                                 "letters, digits and ._/:-")
            d["layer"] = i
            out.append(d)
        rec = {"type": "start", "layers": out}
        if run_id is None:
            run_id = os.environ.get("LORALPHA_RUN_ID")
        for k, v in (("run_id", run_id), ("scale", scale), ("params", params),
                     ("n_train", n_train), ("n_eval", n_eval), ("config", config)):
            if v is not None:
                rec[k] = int(v) if k == "run_id" else _clean(v)
        self._emit(rec)

    def train(self, step, loss, lr, **extra):
        """The batch loss of update `step` (before it) at learning rate lr;
        extra: lr_b, grad_norm_a, grad_norm_b, update_norm, x_...."""
        rec = {"type": "train", "step": int(step), "loss": _clean(float(loss)),
               "lr": _clean(float(lr))}
        _extra(rec, extra, _TRAIN_KEYS, "train")
        self.steps = max(self.steps, int(step))
        self.final_train_loss = rec["loss"]
        self._emit(rec)

    def eval(self, step, loss):
        """The eval loss after `step` updates."""
        loss = _clean(float(loss))
        self._emit({"type": "eval", "step": int(step), "loss": loss})
        self.steps = max(self.steps, int(step))
        self.final_eval_loss = loss
        if loss is not None and (self.best_eval_loss is None or loss < self.best_eval_loss):
            self.best_eval_loss, self.best_step = loss, int(step)

    def spectra(self, step, layer, figures):
        """One layer's update at `step`: figures as lora_figures gives them
        (or any of sigma_max, fro, stable_rank, sv, the target-free
        tf_signal, tf_drift, mech_ratio, a_drift, the target-aware signal,
        drift, drift_ratio, cos_target, rel_err)."""
        rec = {"type": "spectra", "step": int(step), "layer": int(layer)}
        _extra(rec, figures, _SPECTRA_KEYS, "spectra")
        self._emit(rec)

    def sharpness(self, step, lora, full, **extra):
        """Top Hessian eigenvalues w.r.t. the LoRA parameters and the full
        weights; extra: ratio, *_iters, rows, *_residual, *_converged."""
        rec = {"type": "sharpness", "step": int(step), "lora": _clean(lora),
               "full": _clean(full)}
        _extra(rec, extra, _SHARP_KEYS, "sharpness")
        self._emit(rec)

    def alive(self):
        """An extension record: says the trainer is alive during a long phase
        without records (the daemon kills a trainer silent past its
        heartbeat); stores nothing."""
        self._emit({"type": "x_alive"})

    def done(self, steps=None, status="done", reason=None):
        """Last: the run ended ("done", or "diverged" with a reason). Its
        final and best losses are the last ones reported."""
        wall = time.monotonic() - self._t0
        steps = self.steps if steps is None else int(steps)
        rec = {"type": "done", "status": status, "steps": steps,
               "final_train_loss": self.final_train_loss,
               "final_eval_loss": self.final_eval_loss,
               "best_eval_loss": self.best_eval_loss, "best_step": self.best_step,
               "wall_s": wall, "steps_per_s": steps / wall if wall > 0 else None}
        if reason is not None:
            rec["reason"] = str(reason)[:512]
        self._emit(rec)

    def error(self, message):
        """The trainer failed: message becomes the run's error."""
        self._emit({"type": "error", "error": str(message)[:4096]})


# ---- the figures of dW = s B A, from r x r algebra ---------------------------


def _ratio(a, b):
    """a / b; None (the protocol's null) when b is 0: not defined yet."""
    return a / b if b > 0 else None


def _matmul(X, Y):
    Yt = list(zip(*Y))
    return [[sum(a * b for a, b in zip(row, col)) for col in Yt] for row in X]


def _gram_rows(X):
    """X X^T of a list of rows."""
    return [[sum(a * b for a, b in zip(u, v)) for v in X] for u in X]


def _jacobi(M, sweeps=100):
    """Eigenvalues and eigenvectors (columns of V) of the symmetric M by
    cyclic Jacobi rotations, in double precision."""
    n = len(M)
    A = [list(map(float, r)) for r in M]
    V = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    for _ in range(sweeps):
        off = sum(A[i][j] ** 2 for i in range(n) for j in range(n) if i != j)
        scale = sum(A[i][i] ** 2 for i in range(n))
        if off <= 1e-30 * max(scale, 1e-300):
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                if A[p][q] == 0.0:
                    continue
                theta = (A[q][q] - A[p][p]) / (2 * A[p][q])
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1))
                c = 1 / math.sqrt(t * t + 1)
                s = t * c
                for k in range(n):
                    akp, akq = A[k][p], A[k][q]
                    A[k][p], A[k][q] = c * akp - s * akq, s * akp + c * akq
                for k in range(n):
                    apk, aqk = A[p][k], A[q][k]
                    A[p][k], A[q][k] = c * apk - s * aqk, s * apk + c * aqk
                for k in range(n):
                    vkp, vkq = V[k][p], V[k][q]
                    V[k][p], V[k][q] = c * vkp - s * vkq, s * vkp + c * vkq
    return [A[i][i] for i in range(n)], V


def _sv_lists(A, B, s):
    """Singular values of s B A (largest first) from GA = A A^T and
    GB = B^T B: the square roots of the eigenvalues of GA^1/2 GB GA^1/2."""
    GA = _gram_rows(A)
    GB = _gram_rows(list(zip(*B)))
    lam, V = _jacobi(GA)
    r = len(GA)
    root = [[sum(V[i][k] * math.sqrt(max(lam[k], 0.0)) * V[j][k] for k in range(r))
             for j in range(r)] for i in range(r)]
    mu, _ = _jacobi(_matmul(_matmul(root, GB), root))
    return sorted((abs(s) * math.sqrt(max(m, 0.0)) for m in mu), reverse=True), GB


def _figures(sv, tf2_signal, tf2_drift, nd2, n02, s):
    f2 = sum(x * x for x in sv)
    tf_signal = abs(s) * math.sqrt(max(0.0, tf2_signal))
    tf_drift = abs(s) * math.sqrt(max(0.0, tf2_drift))
    return {"sigma_max": sv[0], "fro": math.sqrt(f2),
            "stable_rank": _ratio(f2, sv[0] * sv[0]), "sv": list(sv),
            "tf_signal": tf_signal, "tf_drift": tf_drift,
            "mech_ratio": _ratio(tf_drift, tf_signal),
            "a_drift": _ratio(math.sqrt(nd2), math.sqrt(n02))}


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def lora_figures(A, B, A0, scaling):
    """The figures the loralpha worker reports for one layer's update
    dW = s B A (docs/metrics.md), with its definitions: the singular values
    of dW (largest first), sigma_max, fro = ||dW||_F, stable_rank =
    fro^2 / sigma_max^2; the target-free signal s B A0 and drift
    s B (A - A0) as tf_signal, tf_drift (Frobenius norms), mech_ratio =
    tf_drift / tf_signal, and a_drift = ||A - A0||_F / ||A0||_F. A ratio
    that is 0/0 (B still zero) is None.

    A: (r, d_in), B: (d_out, r), A0: A at the start (PEFT's lora_A and
    lora_B weights); scaling: s (alpha / r, or alpha / sqrt r). Lists of
    rows (pure Python, for small layers) or torch tensors (computed in
    float64 as the worker does: QR of B and A^T, then an r x r SVD)."""
    s = float(scaling)
    if _is_torch(A):
        return _figures_torch(A, B, A0, s)
    sv, GB = _sv_lists(A, B, s)
    D = [[a - a0 for a, a0 in zip(ra, r0)] for ra, r0 in zip(A, A0)]
    G0, GD = _gram_rows(A0), _gram_rows(D)
    dot = lambda X, Y: sum(x * y for rx, ry in zip(X, Y) for x, y in zip(rx, ry))  # noqa: E731
    return _figures(sv, dot(GB, G0), dot(GB, GD), sum(x * x for r in D for x in r),
                    sum(x * x for r in A0 for x in r), s)


def _figures_torch(A, B, A0, s):
    import torch
    A, B, A0 = (t.detach().to(torch.float64) for t in (A, B, A0))
    RB = torch.linalg.qr(B, mode="r").R
    RA = torch.linalg.qr(A.T, mode="r").R
    sv = torch.linalg.svdvals(s * RB @ RA.T).tolist()
    GB = B.T @ B
    D = A - A0
    return _figures(sv, float((GB * (A0 @ A0.T)).sum()), float((GB * (D @ D.T)).sum()),
                    float((D * D).sum()), float((A0 * A0).sum()), s)


# ---- PyTorch and HuggingFace helpers (imported only when used) ---------------


class PeftLoraTracker:
    """The LoRA layers of a PEFT model (modules with lora_A, lora_B and
    scaling for the adapter, and a base layer's weight W0), in module order,
    at most 256 (name them with names=[...] to choose). Keeps each A at the
    start (A0) for the signal/drift figures. Needs torch."""

    def __init__(self, model, adapter="default", names=None):
        import torch
        self.adapter = adapter
        self.layers = []
        for name, m in model.named_modules():
            if not (hasattr(m, "lora_A") and hasattr(m, "lora_B")):
                continue
            if adapter not in getattr(m, "lora_A", {}) or (names and name not in names):
                continue
            base = getattr(m, "base_layer", m)
            with torch.no_grad():
                a0 = m.lora_A[adapter].weight.detach().to(torch.float64).clone()
            self.layers.append((name, m, base.weight, a0))
        if not 1 <= len(self.layers) <= MAX_LAYERS:
            found = [n for n, *_ in self.layers]
            raise ValueError(f"PeftLoraTracker: {len(found)} LoRA layers found "
                             f"({', '.join(found[:12])}); the protocol takes 1 to "
                             f"{MAX_LAYERS}: choose some with names=[...]")

    def start_layers(self):
        """The start record's layers: d_in, d_out, sigma_max(W0) and the
        module's name in the model. The widths are A's and B's (A is
        (r, d_in), B (d_out, r) whatever W0's orientation: nn.Linear's
        (d_out, d_in), or GPT-2's Conv1D (d_in, d_out) under PEFT's
        fan_in_fan_out)."""
        import torch
        out = []
        for name, m, w0, a0 in self.layers:
            with torch.no_grad():
                smax = float(torch.linalg.matrix_norm(w0.detach().to(torch.float64), ord=2))
            out.append({"d_in": int(a0.shape[1]),
                        "d_out": int(m.lora_B[self.adapter].weight.shape[0]),
                        "sigma_max_w0": smax, "module": name})
        return out

    def figures(self):
        """lora_figures of every layer, now."""
        out = []
        for _, m, _, a0 in self.layers:
            s = m.scaling[self.adapter]
            out.append(lora_figures(m.lora_A[self.adapter].weight,
                                    m.lora_B[self.adapter].weight, a0, s))
        return out

    def report(self, reporter, step):
        """A spectra record per layer at step."""
        for i, f in enumerate(self.figures()):
            reporter.spectra(step, i, f)


def _callback_base():
    try:
        from transformers import TrainerCallback
        return TrainerCallback
    except ImportError:
        return object


class LoralphaCallback(_callback_base()):
    """A HuggingFace TrainerCallback that reports a Trainer's run as the
    worker reports its own: start (with the PEFT model's LoRA layers) when
    training begins, a train record per log (its loss and learning_rate,
    at the Trainer's logging_steps), an eval record per evaluation
    (eval_loss), spectra of every LoRA layer every spectra_every steps and
    at the last step (0: only at the last), and done at the end. Only the
    main process of a distributed run reports (state.is_world_process_zero),
    so a run on several GPUs writes each record once."""

    def __init__(self, reporter=None, spectra_every=0, adapter="default", names=None):
        if not (isinstance(spectra_every, int) and spectra_every >= 0):
            raise ValueError(f"spectra_every: an integer >= 0, not {spectra_every!r}")
        self.reporter = reporter if reporter is not None else Reporter()
        self.spectra_every = spectra_every
        self.adapter, self.names = adapter, names
        self.tracker = None
        self._spectra_step = None  # the step of the last spectra records

    @staticmethod
    def _main(state):
        return getattr(state, "is_world_process_zero", True)

    def on_train_begin(self, args, state, control, model=None, **kw):
        if not self._main(state):
            return
        if model is None:
            raise ValueError("LoralphaCallback.on_train_begin: no model given")
        self.tracker = PeftLoraTracker(model, self.adapter, self.names)
        self._spectra_step = None
        self.reporter.start(self.tracker.start_layers())

    def on_log(self, args, state, control, logs=None, **kw):
        if self._main(state) and logs and "loss" in logs:
            self.reporter.train(state.global_step, logs["loss"],
                                logs.get("learning_rate", 0.0))

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        if self._main(state) and metrics and "eval_loss" in metrics:
            self.reporter.eval(state.global_step, metrics["eval_loss"])

    def _spectra(self, step):
        if self.tracker is not None and step != self._spectra_step:
            self.tracker.report(self.reporter, step)
            self._spectra_step = step

    def on_step_end(self, args, state, control, **kw):
        if (self._main(state) and self.spectra_every
                and state.global_step % self.spectra_every == 0):
            self._spectra(state.global_step)

    def on_train_end(self, args, state, control, **kw):
        if not self._main(state):
            return
        self._spectra(state.global_step)
        self.reporter.done(state.global_step)
