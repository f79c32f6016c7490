"""Training speed of the pytensor-jax engine: ``python -m scripts.gpu_bench [--quick] [--compare-c]``.

Prints the device JAX computes on, then one row per (hidden size, batch size): training tokens/s
in the steady state (every length bucket compiled beforehand), milliseconds per step, and the
seconds spent compiling. Defaults: vocabulary 8000, hidden 100 and 1000, batches of 32, 128, 512
and 2048 sentences of 5-45 words (rnncore.bench's synthetic Zipf corpus), bptt_truncate 4,
float32, plain SGD. ``--quick`` is a small run for a CPU (hidden 100, batches 32 and 128);
``--compare-c`` adds the C engine (RNNPyTensor, always on the CPU) on the same batches.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from rnncore.batching import iter_batches  # noqa: E402
from rnncore.bench import BPTT_TRUNCATE, LEARNING_RATE, synthetic_corpus  # noqa: E402

FULL = {"vocabulary": 8000, "hidden": (100, 1000), "batches": (32, 128, 512, 2048), "seconds": 3.0}
QUICK = {"vocabulary": 8000, "hidden": (100,), "batches": (32, 128), "seconds": 2.0}
# Full batches per configuration, so every batch has the same size and all buckets appear.
BATCHES_PER_RUN = 12


def describe_device() -> str:
    import jax

    device = jax.devices()[0]
    return (f"JAX {jax.__version__} on {device.platform}: {device.device_kind} "
            f"({jax.device_count()} device(s); 64-bit floats {'on' if jax.config.jax_enable_x64 else 'off'})")


def fixed_size_batches(vocabulary, batch_size, rng):
    """BATCHES_PER_RUN length-bucketed padded batches of exactly ``batch_size`` sentences."""
    X, Y = synthetic_corpus(rng, batch_size * BATCHES_PER_RUN, vocabulary)
    batches = list(iter_batches(X, Y, batch_size, rng))
    return [b for b in batches if b[0].shape[0] == batch_size]


def time_engine(model, batches, seconds):
    """(compile seconds, tokens/s, ms per step): one pass compiles every shape, then timed passes."""
    start = time.perf_counter()
    for x, y, mask in batches:
        model.train_step(x, y, mask, LEARNING_RATE)
    compile_seconds = time.perf_counter() - start
    tokens, steps, rates = 0, 0, []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or not rates:
        pass_start, pass_tokens = time.perf_counter(), 0
        for x, y, mask in batches:
            model.train_step(x, y, mask, LEARNING_RATE)  # returns the loss: waits for the device
            pass_tokens += int(mask.sum())
        rates.append(pass_tokens / (time.perf_counter() - pass_start))
        steps += len(batches)
        tokens += pass_tokens
    elapsed = time.perf_counter() - start
    return compile_seconds, statistics.median(rates), 1000 * elapsed / steps


def run(vocabulary, hidden_sizes, batch_sizes, seconds, compare_c=False):
    """Rows of (engine, hidden, batch, compile s, tokens/s, ms per step)."""
    from rnncore.rnn_jax import RNNJax

    engines = [("pytensor-jax", RNNJax)]
    if compare_c:
        from rnncore.rnn_pytensor import RNNPyTensor

        engines.append(("pytensor (C)", RNNPyTensor))
    rows = []
    for hidden in hidden_sizes:
        for batch_size in batch_sizes:
            batches = fixed_size_batches(vocabulary, batch_size, np.random.default_rng(batch_size))
            for name, Engine in engines:
                model = Engine(vocabulary, hidden, BPTT_TRUNCATE, rng=np.random.default_rng(1))
                rows.append((name, hidden, batch_size, *time_engine(model, batches, seconds)))
                print(format_row(rows[-1]), flush=True)
    return rows


def format_row(row):
    name, hidden, batch_size, compile_seconds, rate, ms = row
    return f"{name:14} {hidden:6} {batch_size:6} {rate:12.0f} {ms:10.1f} {compile_seconds:10.1f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="hidden 100, batches 32 and 128")
    parser.add_argument("--compare-c", action="store_true", help="add the C engine's rows")
    parser.add_argument("--hidden", type=int, nargs="+", help="hidden sizes (override)")
    parser.add_argument("--batches", type=int, nargs="+", help="batch sizes (override)")
    parser.add_argument("--seconds", type=float, help="timed seconds per row (override)")
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    plan["hidden"] = tuple(args.hidden or plan["hidden"])
    plan["batches"] = tuple(args.batches or plan["batches"])
    plan["seconds"] = args.seconds or plan["seconds"]
    from rnncore.rnn_jax import import_jax

    import_jax("float32")
    print(describe_device())
    print(f"Training tokens/s, vocabulary {plan['vocabulary']}, bptt_truncate {BPTT_TRUNCATE}, "
          f"float32, SGD; sentences of 5-45 words padded to length buckets")
    print(f"{'engine':14} {'hidden':>6} {'batch':>6} {'tokens/s':>12} {'ms/step':>10} "
          f"{'compile s':>10}", flush=True)
    run(plan["vocabulary"], plan["hidden"], plan["batches"], plan["seconds"], args.compare_c)


if __name__ == "__main__":
    main()
