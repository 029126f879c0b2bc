#!/usr/bin/python3
"""A stand-in for a user's trainer, for test_command.py: speaks the record
protocol on LORALPHA_RECORD_FD and behaves as --mode says.

    trainer.py --rank R --alpha A --lr=LR --seed S --steps N --run ID
               --mode MODE --out DIR

It writes DIR/run<ID>.json (its argv, the LORALPHA_ and TRAINER_
variables, its working directory, and the parameters it read on stdin,
checked equal to LORALPHA_PARAMS_FILE's) and then, by mode: ok (start,
train and eval records, done), exit3, abort, nodone, garbage (a line that
is not JSON), hang (silent, with a child), slow (records every 0.2 s for
ever), child (records for ever, with a child; both ignore SIGTERM), orphan
(records for ever, with a child),
flood_log (20 MB of log, then exit 1), flood_records (train records
without end), chatty (as ok, after 3000 numbered lines on stdout and 30 on
stderr, about 170 KB in a fixed order, and a last line on stderr). Children's pids go to DIR/pids<ID>.
"""
import json
import os
import signal
import subprocess
import sys
import time


def arg(name):
    for i, a in enumerate(sys.argv):
        if a == name:
            return sys.argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    raise SystemExit(f"trainer.py: {name} missing")


def emit(out, **rec):
    out.write(json.dumps(rec) + "\n")
    out.flush()


def spawn_child(out_dir, run, ignore_term):
    code = ("import signal, time\n"
            + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
            + "time.sleep(100000)\n")
    child = subprocess.Popen([sys.executable, "-c", code])
    with open(os.path.join(out_dir, f"pids{run}.tmp"), "w") as f:
        f.write(f"{os.getpid()} {child.pid}\n")
    os.rename(os.path.join(out_dir, f"pids{run}.tmp"), os.path.join(out_dir, f"pids{run}"))


def main():
    mode, run, out_dir = arg("--mode"), arg("--run"), arg("--out")
    steps = int(arg("--steps"))
    params = json.load(sys.stdin)
    with open(os.environ["LORALPHA_PARAMS_FILE"]) as f:
        if json.load(f) != params:
            raise SystemExit("trainer.py: stdin and LORALPHA_PARAMS_FILE differ")
    env = {k: v for k, v in os.environ.items() if k.startswith(("LORALPHA_", "TRAINER_"))}
    with open(os.path.join(out_dir, f"run{run}.json"), "w") as f:
        json.dump({"argv": sys.argv[1:], "env": env, "cwd": os.getcwd(), "params": params}, f)
    out = os.fdopen(int(os.environ["LORALPHA_RECORD_FD"]), "w")
    print(f"trainer starts: mode {mode}")
    print("a line on stderr", file=sys.stderr)
    emit(out, type="start", run_id=int(run), layers=[{"layer": 0, "d_in": 8, "d_out": 8}])
    if mode == "garbage":
        out.write("this is not a record\n")
        out.flush()
        time.sleep(30)
    elif mode == "exit3":
        print("trainer says: giving up", file=sys.stderr)
        sys.exit(3)
    elif mode == "abort":
        os.abort()
    elif mode == "nodone":
        sys.exit(0)
    elif mode == "chatty":
        for k in range(3000):
            print(f"stdout line {k:04d} " + "o" * 40, flush=True)
            if k % 100 == 0:
                print(f"stderr line {k:04d}", file=sys.stderr, flush=True)
        print("chatty ends", file=sys.stderr, flush=True)
    elif mode == "hang":
        spawn_child(out_dir, run, ignore_term=False)
        time.sleep(100000)
    elif mode in ("slow", "child", "orphan"):
        if mode == "child":
            spawn_child(out_dir, run, ignore_term=True)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if mode == "orphan":
            spawn_child(out_dir, run, ignore_term=False)
        k = 0
        while True:
            k += 1
            emit(out, type="train", step=k, loss=1.0, lr=0.01)
            time.sleep(0.2)
    elif mode == "flood_log":
        line = "x" * 1023 + "\n"
        for _ in range(20 * 1024):
            sys.stdout.write(line)
        sys.stdout.write("last line\n")
        sys.stdout.flush()
        sys.exit(1)
    elif mode == "flood_records":
        k = 0
        while True:
            k += 1
            emit(out, type="train", step=k, loss=1.0, lr=0.01)
    emit(out, type="eval", step=0, loss=1.0)
    for k in range(1, steps + 1):
        emit(out, type="train", step=k, loss=1.0 / (1 + k), lr=float(params["lr"]))
    emit(out, type="eval", step=steps, loss=1.0 / (1 + steps))
    emit(out, type="done", status="done", steps=steps, final_train_loss=1.0 / (1 + steps),
         final_eval_loss=1.0 / (1 + steps), best_eval_loss=1.0 / (1 + steps),
         best_step=steps)


if __name__ == "__main__":
    main()
