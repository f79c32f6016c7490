"""Models and what they train on: the engine a ModelConfig asks for, the config of a model, the
seeded split into training and validation sentences, the class layer's word counts, and a model
rebuilt from its checkpoint to resume.

Every random choice of a run comes from its one seed through independent streams, so that e.g.
sampling sentences at an evaluation never shifts the order of the batches.
"""
from __future__ import annotations

import numpy as np

from rnncore.config import ModelConfig, TrainConfig
from rnncore.word_classes import target_counts

INIT_STREAM, SPLIT_STREAM, BATCH_STREAM, SAMPLE_STREAM = 0, 1, 2, 3
# Dropout masks: each batch's drawn from (seed, DROPOUT_STREAM, epoch, batch index), so a resumed
# run drops exactly what the uninterrupted one would have.
DROPOUT_STREAM = 4
# (Stream 5 is rnncore.evaluation.TRAIN_EVAL_STREAM, the training sample each evaluation measures.)


def build_model(model_config: ModelConfig, train_config: TrainConfig | None = None, rng=None):
    """A fresh model on the configured engine; PyTensor is imported only when it is asked for."""
    model_config.validate()
    train_config = train_config or TrainConfig()
    if rng is None:
        rng = np.random.default_rng([train_config.seed, INIT_STREAM])
    if model_config.engine == "numpy":
        from rnncore.rnn_numpy import RNNNumpy as Engine
    elif model_config.engine == "pytensor-jax":
        from rnncore.rnn_jax import RNNJax as Engine
    else:
        from rnncore.rnn_pytensor import RNNPyTensor as Engine
    return Engine(model_config.vocabulary_size, hidden_dim=model_config.hidden_dim,
                  bptt_truncate=model_config.bptt_truncate, dtype=model_config.dtype, rng=rng,
                  optimizer=train_config.optimizer, clip_norm=train_config.clip_norm,
                  cell=model_config.cell, dropout=model_config.dropout,
                  output=model_config.output)


def model_config_of(model) -> ModelConfig:
    """The ModelConfig that rebuilds ``model``."""
    engine = getattr(model, "engine", "numpy")  # the compiled engines name themselves
    return ModelConfig(vocabulary_size=model.word_dim, hidden_dim=model.hidden_dim,
                       bptt_truncate=model.bptt_truncate, engine=engine, dtype=str(model.dtype),
                       cell=getattr(model, "cell", "rnn"), dropout=getattr(model, "dropout", 0.0),
                       output=getattr(model, "output", "softmax"))


def split_corpus(sentences, train_config: TrainConfig):
    """Deterministic (train, valid, skipped): lists of sentences chosen by the seed alone."""
    limit = train_config.max_sentence_length
    usable = [s for s in sentences if len(s) >= 2 and (limit is None or len(s) <= limit)]
    skipped = len(sentences) - len(usable)
    n_valid = int(round(len(usable) * train_config.validation_fraction))
    if train_config.validation_fraction > 0 and len(usable) >= 2:
        n_valid = max(n_valid, 1)
    order = np.random.default_rng([train_config.seed, SPLIT_STREAM]).permutation(len(usable))
    valid = [usable[i] for i in np.sort(order[:n_valid])]
    train = [usable[i] for i in np.sort(order[n_valid:])]
    if not train:
        raise ValueError(f"no sentences left to train on: the corpus has {len(sentences)}, "
                         f"{skipped} longer than max_sentence_length")
    return train, valid, skipped


def count_classes(model, sentences, train_config: TrainConfig) -> None:
    """Give a fresh class-layer model the classes of its training split's word counts (Zipf's
    law stands in for them until then); a softmax model is left as it is."""
    if getattr(model, "output", "softmax") == "classes":
        train, _, _ = split_corpus(sentences, train_config)
        model.assign_classes(target_counts(train, model.word_dim))


def resume_model(checkpoint):
    """Rebuild the model of a loaded Checkpoint with its parameters, ready for ``resume_state``."""
    if checkpoint.train_config is None:
        raise ValueError("this model file holds no training settings, so it cannot be resumed")
    model = build_model(checkpoint.model_config, checkpoint.train_config)
    model.set_params(checkpoint.params)
    return model
