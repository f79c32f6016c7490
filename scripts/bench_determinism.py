"""What deterministic block scheduling costs the output layer: ``python -m scripts.bench_determinism``.

Loads ``rnncore/fused_output.py`` as it is at two git revisions (by default the one before fixed
block shares, where threads took blocks from a shared iterator, and the working tree) and times
their ``softmax_cross_entropy`` with gradients, interleaved round by round so that other load on
the machine hits both alike. Prints tokens/s (rows of the output layer per second) per revision
and whether repeated calls gave identical gradients.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BEFORE = "e23c889~1"  # the last revision whose threads shared one iterator of blocks


def load_revision(revision: str):
    """The module rnncore/fused_output.py at ``revision`` ("worktree": the file as it is now)."""
    if revision == "worktree":
        path = REPO / "rnncore" / "fused_output.py"
    else:
        source = subprocess.run(["git", "show", f"{revision}:rnncore/fused_output.py"], cwd=REPO,
                                check=True, capture_output=True, text=True).stdout
        path = Path(tempfile.mkdtemp()) / "fused_output.py"
        path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"fused_output_{abs(hash(revision))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="*", default=[BEFORE, "worktree"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--rows", type=int, default=800, help="rows per call (batch 32 x 25 words)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    H, C = 100, 8000
    S = rng.standard_normal((args.rows, H), dtype=np.float32)  # (N, H)
    V = rng.standard_normal((C, H), dtype=np.float32) * 0.1  # (C, H)
    target, mask = rng.integers(0, C, args.rows), np.ones(args.rows, dtype=np.float32)
    modules = {r: load_revision(r) for r in args.revisions}
    rates = {r: [] for r in modules}
    identical = {r: True for r in modules}
    first = {r: m.softmax_cross_entropy(S, V, target, mask) for r, m in modules.items()}
    for _ in range(args.rounds):
        for revision, module in modules.items():
            started = time.perf_counter()
            for _ in range(10):
                loss, dS, dV = module.softmax_cross_entropy(S, V, target, mask)
                identical[revision] &= bool(np.array_equal(dV, first[revision][2]))
            rates[revision].append(10 * args.rows / (time.perf_counter() - started))
    print(f"output layer, C={C}, H={H}, {args.rows} rows a call, threads {modules[args.revisions[-1]].num_threads()}")
    for revision in modules:
        print(f"{revision:>12}: median {statistics.median(rates[revision]):8.0f} tokens/s, best "
              f"{max(rates[revision]):8.0f}; identical gradients every call: {identical[revision]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
