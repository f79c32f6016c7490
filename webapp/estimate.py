"""How long a run will take, before it starts.

The cost model: time per word = arithmetic per word (``ModelConfig.flops_per_token``) / the
engine's speed, plus a fixed cost per word for the Python and framework overhead of each batch,
which dominates small models. The two figures per engine were fitted on the development server (2
shared cores, batch 8, float32, sentences of 20 words): numpy trained 20,500 words/s at vocabulary
8000 / hidden 100 and 163,000 at 500 / 16; PyTensor 6,700 and 309,000.

Runs measured on this server correct it, but only runs of the same scale. The worker measures
each job's steady-state speed (``worker.speed``): words per second while training steps ran, with
start-up, evaluations and checkpoints left out, as if the job had had its machine to itself.
The words per second of an estimate come from, best first:

1. ``"settings"``: runs with the same engine, cell, precision, hidden size, batch size,
   truncation, dropout and the vocabulary the model really had: the median of their speeds;
2. ``"similar"``: runs of the same engine, cell and precision whose predicted time per word is
   within a factor SIMILAR_SCALE of this one's: the cost model times the median of their
   measured / predicted ratios;
3. ``"model"``: the cost model alone.

A tiny run's speed says nothing about a large one (its per-batch overhead and evaluations were
what its whole-run speed measured), so runs of another scale are never used, and no job is refused
on them. A floor from the machine's measured matrix-multiply rate (``matmul_flops``) bounds how
slow an estimate may say a run is. Jobs already training on the machine share it: each job uses
every core (BLAS threads, the fused output layer's pool), so n jobs at once get about 1/n each
(two jobs on two cores measured 1,300-2,000 words/s each against 3,000-5,800 alone). A run is
refused only when it would pass the server's time limit with the machine to itself.
"""
from __future__ import annotations

import math
import statistics
import threading
import time

import numpy as np

from rnncore.config import ModelConfig, TrainConfig
from rnncore.evaluation import TRAIN_EVAL_TOKENS

# engine: (floating-point operations per second, seconds of overhead per word at REFERENCE_BATCH)
ENGINE_SPEED = {
    "numpy": (1.16e11, 5.7e-6),
    "pytensor": (3.4e10, 1.6e-6),
    # Not yet measured on a GPU worker: PyTensor's figures until finished jobs calibrate it.
    "pytensor-jax": (3.4e10, 1.6e-6),
}
REFERENCE_BATCH = 8
CALIBRATION_JOBS = 5  # the most recent runs an estimate takes its figure from
# Runs whose predicted time per word is within this factor of the job's count as its scale.
SIMILAR_SCALE = 2.0
# The floor: no run is slower than this share of the matrix-multiply rate on its arithmetic plus
# this many times the engine's per-batch overhead. Measured on the development server under a
# load of 5 on its 2 cores (166 GFLOP/s): hidden 100 / 8000 words trained 1,235 words/s steady
# (3.7% of the matmul limit; floor 330), hidden 16 / 200 words 115,000-173,000 (floor 32,000).
FLOOR_MATMUL_SHARE = 0.01
FLOOR_OVERHEAD_FACTOR = 10.0
BASIS_NOTES = {"settings": "measured on {runs} run{s} with these settings",
               "similar": "scaled from {runs} run{s} of a similar size",
               "model": "from the model's arithmetic; no run of this size has been measured here"}


def predicted_seconds_per_token(model_config: ModelConfig, batch_size: int) -> float:
    flops_per_second, overhead = ENGINE_SPEED[model_config.engine]
    # Per-batch overhead spread over the words of a batch: smaller batches pay more per word.
    return (model_config.flops_per_token() / flops_per_second
            + overhead * REFERENCE_BATCH / max(batch_size, 1))


def floor_seconds_per_token(model_config: ModelConfig, batch_size: int,
                            matmul_flops: float | None) -> float | None:
    """The slowest a run may be said to be, from the measured float32 matmul rate."""
    if not matmul_flops:
        return None
    precision = 2.0 if model_config.dtype == "float64" else 1.0
    overhead = ENGINE_SPEED[model_config.engine][1] * REFERENCE_BATCH / max(batch_size, 1)
    return (model_config.flops_per_token() * precision / (FLOOR_MATMUL_SHARE * matmul_flops)
            + FLOOR_OVERHEAD_FACTOR * overhead)


# What makes two runs' speeds the same figure (with the batch size); "output" is read where the
# configuration has it.
SAME_SETTINGS = ("engine", "cell", "dtype", "hidden_dim", "vocabulary_size", "bptt_truncate",
                 "dropout", "output")


def _same_settings(a: ModelConfig, b: ModelConfig) -> bool:
    return all(getattr(a, k, None) == getattr(b, k, None) for k in SAME_SETTINGS)


def calibrated_seconds_per_token(model_config: ModelConfig, batch_size: int,
                                 measured: list[tuple[ModelConfig, int, float]]
                                 ) -> tuple[float, str, int]:
    """(seconds per word, basis, runs used) from (config, batch size, steady words/s) triples,
    newest first; see the module's docstring for the order."""
    predicted = predicted_seconds_per_token(model_config, batch_size)
    measured = [(c, b, rate) for c, b, rate in measured if rate and rate > 0]
    same = [rate for c, b, rate in measured
            if b == batch_size and _same_settings(c, model_config)][:CALIBRATION_JOBS]
    if same:
        return 1.0 / statistics.median(same), "settings", len(same)
    ratios = []
    for c, b, rate in measured:
        if (c.engine, c.cell, c.dtype) != (model_config.engine, model_config.cell,
                                           model_config.dtype):
            continue
        theirs = predicted_seconds_per_token(c, b)
        if 1 / SIMILAR_SCALE <= theirs / predicted <= SIMILAR_SCALE:
            ratios.append(1.0 / rate / theirs)
    ratios = ratios[:CALIBRATION_JOBS]
    if ratios:
        return predicted * statistics.median(ratios), "similar", len(ratios)
    return predicted, "model", 0


def estimate(corpus_tokens: int, model_config: ModelConfig, train_config: TrainConfig,
             measured: list[tuple[ModelConfig, int, float]] | None = None,
             jobs_sharing: int = 1, matmul_flops: float | None = None) -> dict:
    """Seconds per epoch and for the whole run, the words per second they assume and why.

    ``measured``: (config, batch size, steady words/s) of runs on this server, newest first;
    ``jobs_sharing``: the jobs that would train on the machine at once, this one included;
    ``matmul_flops``: the machine's float32 matrix-multiply rate (for the floor).
    """
    batch = train_config.batch_size
    alone, basis, runs = calibrated_seconds_per_token(model_config, batch, measured or [])
    floor = floor_seconds_per_token(model_config, batch, matmul_flops)
    floored = floor is not None and alone > floor
    if floored:
        alone = floor
    sharing = max(1, int(jobs_sharing))
    per_token = alone * sharing
    train_tokens = corpus_tokens * (1.0 - train_config.validation_fraction)
    # An evaluation runs the forward pass (about a third of a training step) over a sample of
    # at most TRAIN_EVAL_TOKENS training words and over the validation split.
    evaluations = train_config.nepoch // train_config.evaluate_loss_after + 1
    evaluation_tokens = min(train_tokens, TRAIN_EVAL_TOKENS) + corpus_tokens - train_tokens
    total = train_tokens * per_token * train_config.nepoch + \
        evaluation_tokens * per_token / 3.0 * evaluations
    note = BASIS_NOTES[basis].format(runs=runs, s="" if runs == 1 else "s")
    if floored:
        note = "the slowest this machine's measured matrix-multiply speed allows"
    if sharing > 1:
        others = sharing - 1
        note += (f"; {others} other job{' trains' if others == 1 else 's train'} on the "
                 f"machine now, so this one gets about 1/{sharing} of it")
    return {
        "tokens_per_second": 1.0 / per_token,
        "epoch_seconds": train_tokens * per_token,
        "total_seconds": total,
        "alone_total_seconds": total / sharing,
        "calibrated": basis != "model",
        "basis": basis,
        "calibration_runs": runs,
        "floored": floored,
        "jobs_sharing": sharing,
        "note": note,
    }


_matmul = {"flops": None}
_matmul_lock = threading.Lock()


def matmul_flops(rows: int = 256, hidden_dim: int = 100, word_dim: int = 8000,
                 repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply rate (FLOP/s), measured once per process on the
    tutorial's output layer, (rows, H) @ (H, C), best of ``repeats`` (about 50 ms).

    The product ``rnncore.bench.sgemm_rate`` times, measured here because rnncore.bench imports
    PyTensor, which the web process never loads.
    """
    with _matmul_lock:
        if _matmul["flops"] is None:
            rng = np.random.default_rng(0)
            a = rng.standard_normal((rows, hidden_dim), dtype=np.float32)
            b = rng.standard_normal((word_dim, hidden_dim), dtype=np.float32)
            out = np.empty((rows, word_dim), dtype=np.float32)
            best = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                np.matmul(a, b.T, out=out)
                best = min(best, time.perf_counter() - start)
            _matmul["flops"] = 2 * rows * hidden_dim * word_dim / best
        return _matmul["flops"]


def describe_seconds(seconds: float | None) -> str:
    """'about 3 minutes', 'about 2.5 hours': a duration in words for people."""
    if seconds is None:
        return "unknown"
    if seconds < 60:
        whole = max(1, round(seconds))
        return f"about {whole} second{'' if whole == 1 else 's'}"
    if seconds < 3600:
        minutes = round(seconds / 60)
        return f"about {minutes} minute{'' if minutes == 1 else 's'}"
    if seconds < 86400 * 2:
        return f"about {seconds / 3600:.1f} hours"
    return f"about {seconds / 86400:.1f} days"
