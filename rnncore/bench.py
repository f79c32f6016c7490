"""Training-speed benchmark: ``python -m rnncore.bench [--compare]`` prints one table of tokens/s.

The tutorial's setting (vocabulary 8000, 100 hidden units, bptt_truncate 4) on a synthetic corpus of
5-45 word sentences with Zipf-distributed word ids. Rows: the numpy reference one sentence at a
time (the tutorial's float64 ``sgd_step``), the PyTensor engine one sentence at a time and in
batches of 32 and 128 (float32), optionally a PyTorch reference of the same model with the same
per-output truncation, with ``--cells`` the GRU and LSTM on the PyTensor engine in batches of 32
(whole-sentence back-propagation, so their recurrence costs more than the vanilla cell's) and
the web form's default settings (a GRU in small batches, with dropout and clipping), and
the machine's float32 matrix-multiply rate turned into the tokens/s it allows: each token costs 6*H*C flops in the output layer (2*H*C for the logits, 2*H*C for dL/ds,
2*H*C for dL/dV); the recurrence (about 6*H*H*(k+2)) is under 3% of that and left out.
``--outputs`` prints a second table instead: the full softmax against the class-factored output
layer (``output="classes"``) at vocabularies 8000 and 30000, each against the full softmax's
matmul limit at its size. Engines run in interleaved rounds so that other load on the machine
hits them alike. On a shared
machine ``--one-core`` gives steadier numbers: the process is pinned to one core with one BLAS
thread, and rates are tokens per CPU-second, which other processes barely change.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

import numpy as np

from rnncore.batching import iter_batches, pad_batch
from rnncore.fused_output import num_threads
from rnncore.rnn_numpy import RNNNumpy

VOCABULARY_SIZE, HIDDEN_DIM, BPTT_TRUNCATE = 8000, 100, 4
LEARNING_RATE = 0.005
MIN_WORDS, MAX_WORDS = 5, 45


def synthetic_corpus(rng, sentences=3000, vocabulary_size=VOCABULARY_SIZE):
    """Sentences of 5-45 words whose ids follow Zipf's law (word r has probability ~ 1/r)."""
    p = 1.0 / np.arange(1, vocabulary_size + 1)
    lengths = rng.integers(MIN_WORDS, MAX_WORDS + 1, sentences)
    words = rng.choice(vocabulary_size, size=int(lengths.sum() + sentences), p=p / p.sum())
    ends = np.cumsum(lengths + 1)
    whole = [words[end - n - 1 : end].astype(np.int32) for end, n in zip(ends, lengths)]
    return [s[:-1] for s in whole], [s[1:] for s in whole]


def flops_per_token(hidden_dim=HIDDEN_DIM, word_dim=VOCABULARY_SIZE):
    return 6 * hidden_dim * word_dim


def sgemm_rate(rows=1024, hidden_dim=HIDDEN_DIM, word_dim=VOCABULARY_SIZE, repeats=5,
               clock=time.perf_counter):
    """Best float32 GFLOP/s of numpy for the model's own product (rows, H) @ (H, C)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, hidden_dim), dtype=np.float32)
    b = rng.standard_normal((word_dim, hidden_dim), dtype=np.float32)
    out = np.empty((rows, word_dim), dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        np.matmul(a, b.T, out=out)
        best = min(best, clock() - start)
    return 2 * rows * hidden_dim * word_dim / best / 1e9


def sentence_runner(train_one, X, Y):
    """A step function training on the next sentence; returns the tokens it consumed."""
    order = itertools.cycle(range(len(X)))

    def step():
        i = next(order)
        train_one(X[i], Y[i])
        return len(Y[i])

    return step


def batch_runner(train_batch, X, Y, batch_size, rng):
    def batches():
        while True:
            yield from iter_batches(X, Y, batch_size, rng)

    stream = batches()

    def step():
        x, y, mask = next(stream)
        train_batch(x, y, mask)
        return int(mask.sum())

    return step


def build_runners(X, Y, compare, gated=False):
    """Every engine as a (name, step function), warmed up (compiled) before timing."""
    from rnncore.rnn_pytensor import RNNPyTensor

    rng = np.random.default_rng(1)
    runners = []
    reference = RNNNumpy(VOCABULARY_SIZE, HIDDEN_DIM, BPTT_TRUNCATE, dtype=np.float64, rng=rng)
    runners.append(("numpy reference, 1 sentence (float64)",
                    sentence_runner(lambda x, y: reference.sgd_step(x, y, LEARNING_RATE), X, Y)))
    single = RNNPyTensor(VOCABULARY_SIZE, HIDDEN_DIM, BPTT_TRUNCATE, rng=rng)
    runners.append(("PyTensor, 1 sentence", sentence_runner(
        lambda x, y: single.train_step(*pad_batch([x], [y]), LEARNING_RATE), X, Y)))
    for batch_size in (32, 128):
        model = RNNPyTensor(VOCABULARY_SIZE, HIDDEN_DIM, BPTT_TRUNCATE, rng=rng)
        runners.append((f"PyTensor, batch {batch_size}", batch_runner(
            lambda x, y, m, model=model: model.train_step(x, y, m, LEARNING_RATE),
            X, Y, batch_size, np.random.default_rng(2))))
    for cell in ("gru", "lstm") if gated else ():
        model = RNNPyTensor(VOCABULARY_SIZE, HIDDEN_DIM, BPTT_TRUNCATE, rng=rng, cell=cell)
        runners.append((f"PyTensor {cell.upper()}, batch 32", batch_runner(
            lambda x, y, m, model=model: model.train_step(x, y, m, LEARNING_RATE),
            X, Y, 32, np.random.default_rng(2))))
    if gated:
        runners.append(recommended_runner(X, Y, rng))
    notes = []
    if compare:
        try:
            from rnncore.bench_torch import TorchRNN
        except ImportError:
            notes.append("PyTorch reference skipped: torch is not installed "
                         "(pip install torch==2.13.0; it is not a requirement of rnnlab).")
        else:
            model = TorchRNN(reference.get_params(), BPTT_TRUNCATE, threads=num_threads())
            runners.append(("PyTorch reference, batch 32", batch_runner(
                lambda x, y, m: model.train_step(x, y, m, LEARNING_RATE),
                X, Y, 32, np.random.default_rng(2))))
            runners.extend(torch_gru_runners(X, Y) if gated else [])
    for _, step in runners:
        step()  # compile, allocate, fill caches
    return runners, notes


def recommended_runner(X, Y, rng):
    """The settings a job starts from on the web form (``rnncore.config.recommended_configs``):
    what people wait for, batch size, dropout and gradient clipping included."""
    from rnncore.config import recommended_configs
    from rnncore.rnn_pytensor import RNNPyTensor

    model_config, train_config = recommended_configs()
    model = RNNPyTensor(VOCABULARY_SIZE, HIDDEN_DIM, BPTT_TRUNCATE, rng=rng, cell=model_config.cell,
                        dropout=model_config.dropout, clip_norm=train_config.clip_norm)
    batch = itertools.count()  # a fresh dropout mask for every batch, as in training
    name = (f"PyTensor {model_config.cell.upper()}, form defaults "
            f"(b{train_config.batch_size}, drop {model_config.dropout:g})")
    return name, batch_runner(
        lambda x, y, m: model.train_step(x, y, m, train_config.learning_rate,
                                         dropout_seed=(0, next(batch))),
        X, Y, train_config.batch_size, np.random.default_rng(2))


def torch_gru_runners(X, Y):
    """PyTorch's nn.GRU beside the PyTensor GRU rows: batch 32, and the web form's settings."""
    from rnncore.bench_torch import TorchGRU
    from rnncore.config import recommended_configs

    model_config, train = recommended_configs()
    plain = TorchGRU(VOCABULARY_SIZE, HIDDEN_DIM, threads=num_threads())
    form = TorchGRU(VOCABULARY_SIZE, HIDDEN_DIM, model_config.dropout, train.clip_norm,
                    threads=num_threads())
    return [("PyTorch GRU, batch 32", batch_runner(
                lambda x, y, m: plain.train_step(x, y, m, LEARNING_RATE), X, Y, 32,
                np.random.default_rng(2))),
            (f"PyTorch GRU, form defaults (b{train.batch_size}, drop {model_config.dropout:g})",
             batch_runner(lambda x, y, m: form.train_step(x, y, m, train.learning_rate), X, Y,
                          train.batch_size, np.random.default_rng(2)))]


def measure(step, seconds, clock=time.perf_counter):
    """Tokens per ``clock`` second of ``step``, run for ``seconds`` of wall time (at least once)."""
    tokens, start, wall = 0, clock(), time.perf_counter()
    while True:
        tokens += step()
        if time.perf_counter() - wall >= seconds:
            return tokens / (clock() - start)


def pin_to_one_core():
    """Run this process on one core with one BLAS thread (the returned limiter must be kept)."""
    from threadpoolctl import threadpool_limits

    from rnncore import rnn_pytensor  # noqa: F401  loads the BLAS PyTensor links, limited below

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return threadpool_limits(limits=1)


def run(rounds=3, seconds=2.0, compare=False, sentences=3000, one_core=False, gated=False):
    """Interleaved rounds; returns (rows of (name, median, best), matmul GFLOP/s, notes)."""
    limiter = pin_to_one_core() if one_core else None
    clock = time.process_time if one_core else time.perf_counter
    X, Y = synthetic_corpus(np.random.default_rng(0), sentences)
    runners, notes = build_runners(X, Y, compare, gated)
    speeds = {name: [] for name, _ in runners}
    rates = []
    for _ in range(rounds):
        rates.append(sgemm_rate(clock=clock))
        for name, step in runners:
            speeds[name].append(measure(step, seconds, clock))
    rows = [(name, statistics.median(v), max(v)) for name, v in speeds.items()]
    if one_core:
        notes.append("One core, one BLAS thread, tokens per CPU-second (--one-core).")
        limiter.restore_original_limits()
    elif hasattr(os, "getloadavg"):
        notes.append(f"{num_threads()} cores; load average over the last minute at the end: "
                     f"{os.getloadavg()[0]:.1f} (other processes slow every row).")
    return rows, max(rates), notes


OUTPUT_SIZES = (8000, 30000)
OUTPUT_ROWS = (("softmax", 32), ("classes", 32), ("classes", 128))


def output_runners(vocabulary_size, sentences):
    """The softmax and the class layer at one vocabulary size, as (name, step), warmed up."""
    from rnncore.rnn_pytensor import RNNPyTensor

    X, Y = synthetic_corpus(np.random.default_rng(0), sentences, vocabulary_size)
    counts = np.bincount(np.concatenate(Y), minlength=vocabulary_size)  # the targets' counts
    runners = []
    for output, batch_size in OUTPUT_ROWS:
        model = RNNPyTensor(vocabulary_size, HIDDEN_DIM, BPTT_TRUNCATE, output=output,
                            rng=np.random.default_rng(1))
        if output == "classes":
            model.assign_classes(counts)
        step = batch_runner(lambda x, y, m, model=model: model.train_step(x, y, m, LEARNING_RATE),
                            X, Y, batch_size, np.random.default_rng(2))
        step()  # compile, allocate, fill caches
        runners.append((vocabulary_size, f"PyTensor {output}, batch {batch_size}", step))
    return runners


def run_outputs(rounds=3, seconds=2.0, sentences=3000, one_core=False, sizes=OUTPUT_SIZES):
    """Interleaved rounds of ``output_runners``; returns (rows of (C, name, median, best),
    {C: best sgemm GFLOP/s at that C}, notes)."""
    limiter = pin_to_one_core() if one_core else None
    clock = time.process_time if one_core else time.perf_counter
    runners = [r for size in sizes for r in output_runners(size, sentences)]
    speeds = {(size, name): [] for size, name, _ in runners}
    rates = {size: [] for size in sizes}
    for _ in range(rounds):
        for size in sizes:
            rates[size].append(sgemm_rate(word_dim=size, clock=clock))
        for size, name, step in runners:
            speeds[size, name].append(measure(step, seconds, clock))
    rows = [(size, name, statistics.median(v), max(v)) for (size, name), v in speeds.items()]
    notes = ["One core, one BLAS thread, tokens per CPU-second (--one-core)." if one_core else
             f"{num_threads()} cores; load average over the last minute at the end: "
             f"{os.getloadavg()[0]:.1f}."]
    if limiter is not None:
        limiter.restore_original_limits()
    return rows, {size: max(r) for size, r in rates.items()}, notes


def format_outputs_table(rows, gflops, notes):
    lines = [f"Output layers, hidden {HIDDEN_DIM}, bptt_truncate {BPTT_TRUNCATE}, float32; "
             f"tokens/s, median (best) of the rounds; x limit: times the full softmax's matmul "
             f"limit at that vocabulary",
             f"{'vocabulary, engine':40} {'tokens/s':>10} {'best':>10} {'x limit':>8}"]
    for size in gflops:
        limit = gflops[size] * 1e9 / flops_per_token(word_dim=size)
        for row_size, name, median, best in rows:
            if row_size == size:
                lines.append(f"{f'{size}: {name}':40} {median:10.0f} {best:10.0f} "
                             f"{median / limit:8.2f}")
        lines.append(f"{f'{size}: softmax matmul limit ({gflops[size]:.0f} GFLOP/s)':40} "
                     f"{limit:10.0f} {'':>10} {1.0:8.2f}")
    lines.extend(notes)
    return "\n".join(lines)


def format_table(rows, gflops, notes):
    limit = gflops * 1e9 / flops_per_token()
    reference = rows[0][1]
    lines = [f"Training speed, vocabulary {VOCABULARY_SIZE}, hidden {HIDDEN_DIM}, bptt_truncate "
             f"{BPTT_TRUNCATE}, float32 unless noted; tokens/s, median (best) of the rounds",
             f"{'engine':40} {'tokens/s':>10} {'best':>10} {'x numpy':>8} {'% limit':>8}"]
    for name, median, best in rows:
        lines.append(f"{name:40} {median:10.0f} {best:10.0f} {median / reference:8.1f} "
                     f"{100 * median / limit:7.1f}%")
    lines.append(f"{'matmul limit (sgemm ' + format(gflops, '.0f') + ' GFLOP/s / 6*H*C)':40} "
                 f"{limit:10.0f} {'':>10} {limit / reference:8.1f} {100.0:7.1f}%")
    lines.append(f"6*H*C = {flops_per_token() / 1e6:.1f} MFLOP/token; sgemm measured on numpy's "
                 f"float32 (1024, {HIDDEN_DIM}) @ ({HIDDEN_DIM}, {VOCABULARY_SIZE}).")
    lines.extend(notes)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="add the PyTorch reference row")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per engine per round")
    parser.add_argument("--one-core", action="store_true",
                        help="one core, one BLAS thread, tokens per CPU-second (steady when shared)")
    parser.add_argument("--cells", action="store_true",
                        help="add the GRU and LSTM cells (PyTensor, batch 32) and the web form's "
                             "default settings (with --compare, PyTorch's nn.GRU at both)")
    parser.add_argument("--outputs", action="store_true",
                        help="instead: softmax vs the class layer at vocabularies 8000 and 30000")
    args = parser.parse_args(argv)
    if args.outputs:
        print(format_outputs_table(*run_outputs(args.rounds, args.seconds,
                                                one_core=args.one_core)))
        return
    rows, gflops, notes = run(args.rounds, args.seconds, args.compare, one_core=args.one_core,
                              gated=args.cells)
    print(format_table(rows, gflops, notes))


if __name__ == "__main__":
    main()
