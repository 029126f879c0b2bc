#!/usr/bin/python3
"""toy_lora.py: a trainer of your own, in plain Python, that loralpha runs
per run through the command task (examples/sweep-command.json,
docs/sweeps.md "The command task").

    toy_lora.py --rank R --alpha A --lr LR --seed S --steps N [--width D]

Fits LoRA (PEFT's convention: s = alpha / r, A uniform in +-1/sqrt(d_in), B
zero) on a frozen random D x D layer to a rank-2 shift, with Adam on a
fixed data set, and reports through loralpha_reporter: start, the train
loss of every update, the eval loss every 10 updates, the spectra and
signal/drift of dW = s B A every 10 updates, done; and a line of progress
every 10 updates on stderr (the run's log). Run by hand, it writes the
records on stdout.
"""
import argparse
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # source and install trees
import loralpha_reporter as lr  # noqa: E402


def matvec(M, x):
    return [sum(m * v for m, v in zip(row, x)) for row in M]


def make_task(d, seed, n=96):
    """A frozen W0, a rank-2 target shift, train and eval rows."""
    g = random.Random(seed)
    w0 = [[g.gauss(0, 1 / math.sqrt(d)) for _ in range(d)] for _ in range(d)]
    u = [[g.gauss(0, 1) for _ in range(d)] for _ in range(2)]
    v = [[g.gauss(0, 1) for _ in range(d)] for _ in range(2)]
    shift = [[sum(u[k][i] * v[k][j] for k in range(2)) / d for j in range(d)]
             for i in range(d)]
    x = [[g.gauss(0, 1) for _ in range(d)] for _ in range(n)]
    y = [[a + b for a, b in zip(matvec(w0, row), matvec(shift, row))] for row in x]
    return w0, x[: n * 3 // 4], y[: n * 3 // 4], x[n * 3 // 4:], y[n * 3 // 4:]


def loss_and_grads(w0, A, B, s, X, Y):
    """Mean squared error of y = W0 x + s B A x and its gradients in A, B."""
    r, d = len(A), len(w0)
    gA = [[0.0] * d for _ in range(r)]
    gB = [[0.0] * r for _ in range(d)]
    total = 0.0
    for x, y in zip(X, Y):
        ax = matvec(A, x)
        out = [p + s * q for p, q in zip(matvec(w0, x), matvec(B, ax))]
        e = [2 * (o - t) / (len(X) * d) for o, t in zip(out, y)]
        total += sum((o - t) ** 2 for o, t in zip(out, y)) / (len(X) * d)
        bte = [s * sum(B[i][k] * e[i] for i in range(d)) for k in range(r)]
        for i in range(d):
            for k in range(r):
                gB[i][k] += s * e[i] * ax[k]
        for k in range(r):
            for j in range(d):
                gA[k][j] += bte[k] * x[j]
    return total, gA, gB


class Adam:
    def __init__(self, lr_, shapes):
        self.lr, self.t = lr_, 0
        self.m = [[[0.0] * c for _ in range(r)] for r, c in shapes]
        self.v = [[[0.0] * c for _ in range(r)] for r, c in shapes]

    def step(self, params, grads):
        self.t += 1
        c1, c2 = 1 - 0.9 ** self.t, 1 - 0.999 ** self.t
        for P, G, M, V in zip(params, grads, self.m, self.v):
            for i in range(len(P)):
                for j in range(len(P[i])):
                    M[i][j] = 0.9 * M[i][j] + 0.1 * G[i][j]
                    V[i][j] = 0.999 * V[i][j] + 0.001 * G[i][j] ** 2
                    P[i][j] -= self.lr * (M[i][j] / c1) / (math.sqrt(V[i][j] / c2) + 1e-8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, kind in (("--rank", int), ("--alpha", float), ("--lr", float),
                       ("--seed", int), ("--steps", int)):
        ap.add_argument(name, type=kind, required=True)
    ap.add_argument("--width", type=int, default=8)
    a = ap.parse_args()
    rep = lr.Reporter()
    w0, X, Y, Xe, Ye = make_task(a.width, 1)
    g = random.Random(a.seed)
    bound = 1 / math.sqrt(a.width)
    A = [[g.uniform(-bound, bound) for _ in range(a.width)] for _ in range(a.rank)]
    B = [[0.0] * a.rank for _ in range(a.width)]
    A0 = [row[:] for row in A]
    s = a.alpha / a.rank
    opt = Adam(a.lr, [(a.rank, a.width), (a.width, a.rank)])
    rep.start([(a.width, a.width)], scale=s, n_train=len(X), n_eval=len(Xe))
    rep.eval(0, loss_and_grads(w0, A, B, s, Xe, Ye)[0])
    for step in range(1, a.steps + 1):
        loss, gA, gB = loss_and_grads(w0, A, B, s, X, Y)
        if not math.isfinite(loss) or loss > 1e6:
            rep.train(step, loss, a.lr)
            return rep.done(step, status="diverged", reason="loss is not finite")
        opt.step([A, B], [gA, gB])
        rep.train(step, loss, a.lr)
        if step % 10 == 0 or step == a.steps:
            ev = loss_and_grads(w0, A, B, s, Xe, Ye)[0]
            rep.eval(step, ev)
            rep.spectra(step, 0, lr.lora_figures(A, B, A0, s))
            print(f"step {step}: train loss {loss:.4g}, eval loss {ev:.4g}",
                  file=sys.stderr, flush=True)
    rep.done(a.steps)


if __name__ == "__main__":
    main()
