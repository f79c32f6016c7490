"""Training speed of the engine at two git revisions: ``python -m scripts.bench_revisions A B``.

What a change to the engine bought, measured the way the training-speed benchmark measures: each
revision's ``rnncore`` is exported (``git archive``) and trained in its own process, one setting
at a time, and the processes take turns round by round, so that other load on the machine hits
them alike. ``worktree`` stands for the files as they are now. Settings: ``defaults`` is what a
job from the web form starts with (``rnncore.config.recommended_configs``: a GRU, batches of 8,
dropout, gradient clipping), ``rnn32`` the vanilla cell in batches of 32 (``rnncore.bench``'s row),
``gru32`` and ``lstm32`` the gated cells' rows of ``rnncore.bench --cells``.
Prints the median and best tokens/s of each revision; ``--one-core`` pins each process to one
core with one BLAS thread and counts tokens per CPU-second, as ``rnncore.bench --one-core`` does.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs in the child, against that revision's rnncore; only interfaces every revision has.
CHILD = """
import json, sys, time
import numpy as np
from rnncore import bench
from rnncore.batching import iter_batches
from rnncore.rnn_pytensor import RNNPyTensor
setting, seconds, one_core = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "one-core"
limiter = bench.pin_to_one_core() if one_core else None  # kept: it holds the BLAS limit
clock = time.process_time if one_core else time.perf_counter
cell, batch_size, dropout, clip_norm, rate = {
    "defaults": ("gru", 8, 0.3, 0.5, 0.01), "rnn32": ("rnn", 32, 0.0, None, 0.005),
    "gru32": ("gru", 32, 0.0, None, 0.005), "lstm32": ("lstm", 32, 0.0, None, 0.005)}[setting]
X, Y = bench.synthetic_corpus(np.random.default_rng(0), 3000)
model = RNNPyTensor(8000, 100, 4, rng=np.random.default_rng(1), cell=cell, dropout=dropout,
                    clip_norm=clip_norm)
batches = list(iter_batches(X, Y, batch_size, np.random.default_rng(2)))
step = 0
def train(until):
    global step
    tokens = 0
    while time.perf_counter() < until:
        x, y, mask = batches[step % len(batches)]
        model.train_step(x, y, mask, rate, dropout_seed=(0, step) if dropout else None)
        tokens, step = tokens + int(mask.sum()), step + 1
    return tokens
train(time.perf_counter() + 1.0)  # compile, fill caches
print("ready", flush=True)
for line in sys.stdin:
    started, wall = clock(), time.perf_counter()
    tokens = train(wall + seconds)
    print(json.dumps(tokens / (clock() - started)), flush=True)
"""


def export(revision: str, into: Path) -> Path:
    """A folder holding ``rnncore`` as it is at ``revision`` (the work tree for "worktree")."""
    if revision == "worktree":
        return REPO
    archive = subprocess.run(["git", "archive", revision, "rnncore"], cwd=REPO, check=True,
                             capture_output=True).stdout
    folder = into / revision.replace("/", "_")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def start(folder: Path, setting: str, seconds: float, one_core: bool) -> subprocess.Popen:
    cores = "one-core" if one_core else "all-cores"
    child = subprocess.Popen([sys.executable, "-c", CHILD, setting, str(seconds), cores],
                             cwd=folder,
                             env={**os.environ, "PYTHONPATH": str(folder)}, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if child.stdout.readline().strip() != "ready":
        child.kill()
        child.communicate()  # closes the pipes
        raise RuntimeError(f"the engine at {folder} did not start")
    return child


def compare(revisions, setting, rounds, seconds, one_core=False):
    """{revision: [tokens/s of each round]}, the revisions' processes taking turns."""
    with tempfile.TemporaryDirectory() as tmp:
        children, rates = {}, {r: [] for r in revisions}
        try:
            for revision in revisions:
                children[revision] = start(export(revision, Path(tmp)), setting, seconds,
                                           one_core)
            for _ in range(rounds):
                for revision, child in children.items():
                    child.stdin.write("round\n")
                    child.stdin.flush()
                    rates[revision].append(json.loads(child.stdout.readline()))
        finally:
            for child in children.values():
                child.stdin.close()  # the child's loop ends
                child.wait()
                child.stdout.close()
    return rates


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs=2, help="git revisions, or worktree")
    parser.add_argument("--settings", default="defaults,rnn32")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=3.0, help="per revision per round")
    parser.add_argument("--one-core", action="store_true",
                        help="each process on one core with one BLAS thread, tokens per CPU-second")
    args = parser.parse_args(argv)
    print(f"{'setting':10} {'revision':24} {'tokens/s':>10} {'best':>10}")
    for setting in args.settings.split(","):
        rates = compare(args.revisions, setting, args.rounds, args.seconds, args.one_core)
        for revision, values in rates.items():
            print(f"{setting:10} {revision:24} {statistics.median(values):10.0f} "
                  f"{max(values):10.0f}")
    if args.one_core:
        print("One core, one BLAS thread, tokens per CPU-second (--one-core).")
    elif hasattr(os, "getloadavg"):
        print(f"load average over the last minute at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
