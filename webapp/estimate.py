"""How long an epoch will take, before a job starts.

Time per word = arithmetic per word (``ModelConfig.flops_per_token``) / the engine's speed, plus a
fixed cost per word for the Python and framework overhead of each batch, which dominates small
models. The two figures per engine were fitted to measurements on the development server (2
shared cores, batch 8, float32, sentences of 20 words): numpy trained 20,500 words/s at
vocabulary 8000 / hidden 100 and 163,000 at 500 / 16; PyTensor 6,700 and 309,000. Once jobs have
finished on this server, their measured words per second correct the figures (the median ratio
of measured to predicted over the last few jobs of the same engine), so the estimate follows the
machine it runs on.
"""
from __future__ import annotations

import statistics

from rnncore.config import ModelConfig, TrainConfig

# engine: (floating-point operations per second, seconds of overhead per word at REFERENCE_BATCH)
ENGINE_SPEED = {
    "numpy": (1.16e11, 5.7e-6),
    "pytensor": (3.4e10, 1.6e-6),
    # Not yet measured on a GPU worker: PyTensor's figures until finished jobs calibrate it.
    "pytensor-jax": (3.4e10, 1.6e-6),
}
REFERENCE_BATCH = 8
CALIBRATION_JOBS = 5


def predicted_seconds_per_token(model_config: ModelConfig, batch_size: int) -> float:
    flops_per_second, overhead = ENGINE_SPEED[model_config.engine]
    # Per-batch overhead spread over the words of a batch: smaller batches pay more per word.
    return (model_config.flops_per_token() / flops_per_second
            + overhead * REFERENCE_BATCH / max(batch_size, 1))


def calibration(measured: list[tuple[ModelConfig, int, float]]) -> float:
    """Median of measured / predicted time per word over (config, batch size, words/s) triples."""
    ratios = [predicted_seconds_per_token(c, b) ** -1 / rate
              for c, b, rate in measured if rate and rate > 0]
    return statistics.median(ratios) if ratios else 1.0


def estimate(corpus_tokens: int, model_config: ModelConfig, train_config: TrainConfig,
             measured: list[tuple[ModelConfig, int, float]] | None = None) -> dict:
    """Seconds per epoch and for the whole run, and the words per second they assume."""
    per_token = predicted_seconds_per_token(model_config, train_config.batch_size)
    per_token *= calibration(measured or [])
    train_tokens = corpus_tokens * (1.0 - train_config.validation_fraction)
    # An evaluation runs the forward pass over every sentence (about a third of a training step).
    evaluations = train_config.nepoch // train_config.evaluate_loss_after + 1
    evaluation_seconds = corpus_tokens * per_token / 3.0
    epoch_seconds = train_tokens * per_token
    return {
        "tokens_per_second": 1.0 / per_token,
        "epoch_seconds": epoch_seconds,
        "total_seconds": epoch_seconds * train_config.nepoch + evaluation_seconds * evaluations,
        "calibrated": bool(measured),
    }


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
