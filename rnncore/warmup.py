"""Compile the form's default model ahead of the first job: ``python -m rnncore.warmup``.

PyTensor compiles each graph to C the first time it is used, and keeps the result in its cache
folder (~/.pytensor) for every later process. On a fresh machine that first compilation of the
training functions takes a minute or more, which the first person to train would otherwise wait
through. The vocabulary is symbolic, so a model of 50 words compiles what a full-sized one of
the same settings needs.
"""
from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from rnncore.batching import pad_batch
from rnncore.config import ModelConfig, TrainConfig, recommended_configs

log = logging.getLogger(__name__)


def compile_functions(model_config: ModelConfig, train_config: TrainConfig) -> float:
    """Build a small model with these settings and run each function it trains with once;
    return the seconds it took."""
    from rnncore.models import build_model

    started = time.monotonic()
    # The hidden size stays: some graphs hold it as a constant. The vocabulary is the data's.
    small = ModelConfig(**{**model_config.to_dict(), "vocabulary_size": 50})
    model = build_model(small, train_config)
    rng = np.random.default_rng(0)
    sentences = [rng.integers(0, 50, n).astype(np.int32) for n in (5, 7)]
    x, y, mask = pad_batch(sentences, sentences, dtype=model.dtype)
    model.train_step(x, y, mask, train_config.learning_rate, dropout_seed=(0,))
    model.batch_loss(x, y, mask)
    return time.monotonic() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    # Only this module's line: PyTensor's own INFO logging lists every module it compiles.
    logging.basicConfig(level=logging.WARNING, format="warmup: %(message)s")
    log.setLevel(logging.INFO)
    seconds = compile_functions(*recommended_configs())
    log.info("the default model's functions are compiled (%.1f s)", seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
