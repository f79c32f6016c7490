"""Hyperparameters: what shape of model to build (ModelConfig) and how to train it (TrainConfig).

Both are frozen dataclasses with a comment per field, stored as JSON on a job row and inside every
checkpoint, so a model can always be rebuilt from its file. ``validate()`` checks every field and
raises ValueError with a sentence saying which field is wrong and what range is allowed; the web
form shows that sentence as it is. ModelConfig also estimates memory and arithmetic per word so a
form can refuse a model that would exhaust memory and say roughly how long an epoch will take.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
from dataclasses import dataclass

from rnncore.cells import CELLS, GATES
from rnncore.optimizers import OPTIMIZERS
from rnncore.word_classes import OUTPUTS, class_count

# Engines every installation has; a form that offers only these needs nothing else installed.
ENGINES = ("pytensor", "numpy")
# PyTensor's graphs compiled by JAX: on an NVIDIA GPU with jax's CUDA build, else on the CPU.
# Needs jax (requirements-gpu.txt); a job may name it wherever the worker has jax installed.
JAX_ENGINE = "pytensor-jax"
ALL_ENGINES = ENGINES + (JAX_ENGINE,)
DTYPES = ("float32", "float64")

# Extra arrays of parameter size each optimizer keeps (RMSprop: mean square; Adam: two moments).
OPTIMIZER_SLOTS = {"sgd": 0, "rmsprop": 1, "adam": 2}


def available_engines() -> tuple[str, ...]:
    """The engines this installation can run: ENGINES, and the JAX engine when jax is installed.

    Looks for jax without importing it (importing would start CUDA on a GPU machine).
    """
    return ALL_ENGINES if importlib.util.find_spec("jax") is not None else ENGINES


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, not {value}")


def _check_float(name: str, value, lo: float, hi: float, lo_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if value > hi or value < lo or (lo_open and value == lo):
        low = f"more than {lo:g}" if lo_open else f"at least {lo:g}"
        raise ValueError(f"{name} must be {low} and at most {hi:g}, not {value:g}")


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


class _JsonMixin:
    """to_dict / from_dict shared by both configs; unknown keys are an error, missing ones default."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__} must be read from a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class ModelConfig(_JsonMixin):
    """The network: cell, sizes, truncation, dropout and the engine that runs it."""

    vocabulary_size: int = 8000  # words the model knows, UNKNOWN_TOKEN and the sentence markers included
    hidden_dim: int = 100  # size of the hidden state s_t; memory of what came before
    # Steps each output back-propagates through time (the tutorial's truncation). Vanilla cell
    # only: the gated cells back-propagate through whole sentences (tutorial part 4, -1).
    bptt_truncate: int = 4
    # "pytensor" (compiled for the CPU, fast), "numpy" (the readable reference) or "pytensor-jax"
    # (the same graphs compiled by JAX: the GPU engine when jax's CUDA build finds a GPU)
    engine: str = "pytensor"
    dtype: str = "float32"  # float32 halves memory and is faster; float64 for checking gradients
    # "rnn" (the tutorial's tanh cell), "gru" (tutorial part 4) or "lstm": the gated cells remember
    # further back, for about 3x (GRU) or 4x (LSTM) the recurrent work and parameters in U and W.
    cell: str = "rnn"
    # Share of the input contributions U[:, x_t] and of the states entering the output layer that
    # training drops (Zaremba et al. 2014, never the recurrent W s); 0 turns it off.
    dropout: float = 0.0
    # "softmax" (the tutorial's, over every word) or "classes" (RNNLM's -class: a class of about
    # sqrt(C) by frequency, then a word of it; far faster for large vocabularies). Checkpoints
    # without it read as "softmax".
    output: str = "softmax"

    def validate(self) -> "ModelConfig":
        _check_int("vocabulary_size", self.vocabulary_size, 4, 200_000)
        _check_int("hidden_dim", self.hidden_dim, 1, 4096)
        _check_int("bptt_truncate", self.bptt_truncate, 1, 1000)
        _check_choice("engine", self.engine, ALL_ENGINES)
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("cell", self.cell, CELLS)
        _check_float("dropout", self.dropout, 0.0, 0.9)
        _check_choice("output", self.output, OUTPUTS)
        return self

    @property
    def output_units(self) -> int:
        """Logits a word costs in training: every word, or the classes plus the words of one class
        (C/K on average when the classes hold equal shares of the text)."""
        v = self.vocabulary_size
        if self.output == "softmax":
            return v
        return class_count(v) + math.ceil(v / class_count(v))

    @property
    def parameter_count(self) -> int:
        """Numbers in U (G*H, V), V (V, H), W (G*H, H) and, for gated cells, b (G*H,), with G the
        cell's gate blocks (1 for the vanilla cell, which has no b)."""
        h, v, rows = self.hidden_dim, self.vocabulary_size, GATES[self.cell] * self.hidden_dim
        classes = class_count(v) * h if self.output == "classes" else 0  # Vc (K, H)
        return rows * v + v * h + rows * h + (rows if self.cell != "rnn" else 0) + classes

    def memory_estimate_bytes(self, batch_size: int = 32, sentence_length: int = 50,
                              optimizer: str = "sgd") -> int:
        """Rough peak memory of one training step, in bytes.

        Parameters, their gradients and the optimizer's slots, plus the activations of one batch:
        the output distribution o (batch, T, V) dominates, which is why a large vocabulary with a
        large batch is what exhausts memory (the class layer's o is ``output_units`` wide).
        """
        _check_choice("optimizer", optimizer, OPTIMIZERS)
        item = 4 if self.dtype == "float32" else 8
        params = self.parameter_count * (2 + OPTIMIZER_SLOTS[optimizer])
        # Per step and sentence, besides s: the gated cells keep their gates (and the LSTM c and
        # tanh c) for the backward pass; dropout keeps its two masks.
        gates = GATES[self.cell]
        kept = 0 if self.cell == "rnn" else gates + (2 if self.cell == "lstm" else 0)
        if self.dropout > 0:
            kept += gates + 1
        # o and its gradient (B, T, V); s and its gradient (B, T+1, H); what the cell keeps.
        per_step = self.output_units + self.hidden_dim + 1 + kept * self.hidden_dim / 2
        return int((params + 2 * batch_size * sentence_length * per_step) * item)

    def flops_per_token(self, training: bool = True) -> int:
        """Approximate floating-point operations per word (multiply and add count as two).

        Forward: W s (2 G H^2 for G gate blocks), V s (2 V H), softmax (about 5 V); the U x
        product is a column lookup. Backward: dV and the error into s (4 V H) and, per
        back-propagated step, W's gradient and the error through W (4 G H^2 each step): the vanilla
        cell takes bptt_truncate steps per output, a gated cell one step per word (whole-sentence
        back-propagation visits each step once). The gates' elementwise work is about 10 G H.
        V is ``output_units`` wide here: the class layer computes only K + C/K logits a word.
        """
        h, v, gates = self.hidden_dim, self.output_units, GATES[self.cell]
        forward = 2 * gates * h * h + 2 * v * h + 5 * v
        if self.cell != "rnn":
            forward += 10 * gates * h
        if not training:
            return forward
        if self.cell == "rnn":
            return forward + 4 * v * h + self.bptt_truncate * (4 * h * h + 2 * h)
        return forward + 4 * v * h + 4 * gates * h * h + 20 * gates * h


@dataclass(frozen=True)
class TrainConfig(_JsonMixin):
    """The optimisation: learning-rate schedule, batches, validation split and randomness."""

    learning_rate: float = 0.005  # step size; halved whenever the training loss goes up (tutorial)
    nepoch: int = 20  # passes over the training sentences
    evaluate_loss_after: int = 1  # epochs between loss evaluations (and checkpoints)
    # Sentences per update; 1 is the tutorial's plain SGD. Their gradients are summed, so the step
    # grows with the batch: at 0.005, 32 diverges on real text while 8 trains well.
    batch_size: int = 8
    validation_fraction: float = 0.1  # share of sentences held out to measure perplexity, chosen by seed
    # Rescale a batch's gradient when its norm exceeds this much per word of the batch (None:
    # never), counting at most 50 words of a sentence. Gradients are sums over the words, so a limit
    # per word means the same for any batch; steady training stays below it and one exploding
    # batch, or one unsplit paragraph of a thousand words, cannot wreck the model.
    clip_norm: float | None = 0.5
    seed: int = 0  # one number that fixes initial weights, validation split and batch order
    optimizer: str = "sgd"  # "sgd" (tutorial), "rmsprop" or "adam"
    max_sentence_length: int | None = None  # leave out longer sentences (words incl. markers); None: keep all
    # Evaluations without a lower validation loss before the run stops early (None: never). The
    # best evaluation's weights are the model either way.
    patience: int | None = 3

    def validate(self) -> "TrainConfig":
        _check_float("learning_rate", self.learning_rate, 0.0, 10.0, lo_open=True)
        _check_int("nepoch", self.nepoch, 1, 10_000)
        _check_int("evaluate_loss_after", self.evaluate_loss_after, 1, 10_000)
        _check_int("batch_size", self.batch_size, 1, 4096)
        _check_float("validation_fraction", self.validation_fraction, 0.0, 0.5)
        if self.clip_norm is not None:
            _check_float("clip_norm", self.clip_norm, 0.0, 1e6, lo_open=True)
        _check_int("seed", self.seed, 0, 2**32 - 1)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.max_sentence_length is not None:
            _check_int("max_sentence_length", self.max_sentence_length, 3, 100_000)
        if self.patience is not None:
            _check_int("patience", self.patience, 1, 10_000)
        return self


# What the web form and the command line start from, chosen by measurement (docs/benchmarks.md,
# ``python -m rnncore.bench_quality``): a GRU with dropout trained by the tutorial's SGD. Adam
# memorised small corpora (reddit sample: 568 vs SGD's 253 validation perplexity) and the tanh
# cell overfitted (340). The dataclasses' own defaults stay the tutorial's, for the library.
RECOMMENDED_MODEL = {"cell": "gru", "dropout": 0.3}
RECOMMENDED_TRAIN = {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 8, "nepoch": 30,
                     "patience": 5}


def recommended_configs(**changes) -> tuple[ModelConfig, TrainConfig]:
    """The recommended settings with ``changes`` (fields of either config) on top."""
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    model = {**RECOMMENDED_MODEL, **{k: v for k, v in changes.items() if k in model_keys}}
    train = {**RECOMMENDED_TRAIN, **{k: v for k, v in changes.items() if k not in model_keys}}
    return ModelConfig(**model).validate(), TrainConfig(**train).validate()
