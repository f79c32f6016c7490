"""The training form's fields: defaults, server bounds, one-line explanations, and their checking.

One table (``FIELDS``) drives both the HTML form and the JSON API, so a bound or an explanation is
written once. The bounds are tighter than rnncore's own (``ModelConfig.validate``) because they
keep a run feasible on this server; ``check`` also refuses a run whose memory or estimated time
would not fit (see ``webapp.estimate``).
"""
from __future__ import annotations

from dataclasses import dataclass

from rnncore.config import (ALL_ENGINES, CELLS, DTYPES, OUTPUTS, ModelConfig, TrainConfig,
                            recommended_configs)
from rnncore.optimizers import CLIP_WORDS_PER_SENTENCE, OPTIMIZERS

# Defaults are rnncore's recommended settings, so the form and the command line start alike.
_MODEL, _TRAIN = recommended_configs()
# Peak memory a single training run may use on this server.
MAX_TRAIN_MEMORY_BYTES = 3 * 1024**3


@dataclass(frozen=True)
class Field:
    name: str  # the rnncore config field, also the form / JSON key
    label: str
    config: str  # "model" or "train"
    kind: type  # int, float or str
    default: object
    help: str  # the one-line explanation shown under the field
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()


FIELDS = (
    Field("vocabulary_size", "Vocabulary size", "model", int, _MODEL.vocabulary_size,
          "Words the model knows; rarer words become UNKNOWN_TOKEN. Filled in with the corpus's "
          "own vocabulary (its report compares sizes); another size re-indexes the corpus when "
          "the job starts, and more words than the corpus has gives all of them.",
          50, 20000),
    Field("cell", "Cell", "model", str, _MODEL.cell,
          "rnn is the tutorial's tanh cell; gru (the tutorial's part 4) and lstm have gates that "
          "keep what matters for longer and usually learn a better model.", choices=CELLS),
    Field("hidden_dim", "Hidden size", "model", int, _MODEL.hidden_dim,
          "Size of the hidden state s_t, the network's memory of earlier words.", 2, 512),
    Field("bptt_truncate", "BPTT truncation", "model", int, _MODEL.bptt_truncate,
          "How many steps back each word's error flows through time (the rnn cell; the gated "
          "cells back-propagate through whole sentences).", 1, 50),
    Field("dropout", "Dropout", "model", float, _MODEL.dropout,
          "Share of the input and output connections switched off at random in each training "
          "step, so the network cannot just memorise a small corpus. 0 turns it off.", 0.0, 0.8),
    Field("output", "Output layer", "model", str, _MODEL.output,
          "softmax scores every word at each step; classes (RNNLM's) picks one of about "
          "sqrt(vocabulary) frequency classes, then a word in it: many times faster for large "
          "vocabularies, with about the same perplexity.", choices=OUTPUTS),
    Field("learning_rate", "Learning rate", "train", float, _TRAIN.learning_rate,
          "Step size of each update; halved automatically whenever the loss goes up.", 1e-5, 1.0),
    Field("nepoch", "Epochs", "train", int, _TRAIN.nepoch,
          "Passes over the training sentences.", 1, 200),
    Field("evaluate_loss_after", "Evaluate every", "train", int, _TRAIN.evaluate_loss_after,
          "Epochs between loss evaluations, checkpoints and generated samples.", 1, 200),
    Field("batch_size", "Batch size", "train", int, _TRAIN.batch_size,
          "Sentences per update; 1 is the tutorial's plain SGD, larger is faster per word.", 1, 256),
    # The JAX engine is offered only while a GPU worker is connected: see webapp.engines.
    Field("engine", "Engine", "model", str, _MODEL.engine,
          "PyTensor compiles the model and is fast; numpy is the readable reference; "
          "pytensor-jax trains on a GPU worker.", choices=ALL_ENGINES),
    Field("dtype", "Precision", "model", str, _MODEL.dtype,
          "float32 is faster and halves memory; float64 for exact comparisons.", choices=DTYPES),
    Field("optimizer", "Optimizer", "train", str, _TRAIN.optimizer,
          "SGD as in the tutorial; RMSprop and Adam adapt the step per parameter.",
          choices=OPTIMIZERS),
    Field("clip_norm", "Gradient clipping", "train", float, _TRAIN.clip_norm or 0.0,
          f"Largest gradient norm per word of a batch (at most {CLIP_WORDS_PER_SENTENCE} words "
          "counted per sentence); "
          "a larger gradient is scaled down to it, so one exploding batch or one very long "
          "sentence cannot wreck the model. 0 turns clipping off.", 0.0, 1000.0),
    Field("patience", "Patience", "train", int, _TRAIN.patience or 0,
          "Evaluations without a better validation perplexity before training stops; the best "
          "evaluation's weights are the model either way. 0 never stops early.", 0, 200),
    Field("validation_fraction", "Validation fraction", "train", float, _TRAIN.validation_fraction,
          "Share of sentences held out to measure loss and perplexity on unseen text.", 0.0, 0.5),
    Field("seed", "Seed", "train", int, _TRAIN.seed,
          "Fixes initial weights, the validation split and batch order: same seed, same run.",
          0, 2**31 - 1),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}


class InvalidInput(ValueError):
    """Bad values from a form or a JSON body; ``errors`` maps each field to a sentence."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def defaults() -> dict:
    return {f.name: f.default for f in FIELDS}


def coerce(field: Field, raw) -> object:
    """The value as the field's type, or ValueError with a sentence."""
    if field.kind is str:
        if raw not in field.choices:
            raise ValueError(f"choose one of {', '.join(field.choices)}")
        return raw
    if isinstance(raw, bool) or raw is None or raw == "":
        raise ValueError("a number is required")
    try:
        value = field.kind(raw) if not isinstance(raw, str) else field.kind(raw.strip())
    except (TypeError, ValueError, OverflowError):
        kind = "a whole number" if field.kind is int else "a number"
        raise ValueError(f"must be {kind}, not {raw!r}") from None
    if field.kind is int and isinstance(raw, float) and raw != int(raw):
        raise ValueError(f"must be a whole number, not {raw!r}")
    if not field.lo <= value <= field.hi:
        raise ValueError(f"must be between {field.lo:g} and {field.hi:g} on this server")
    return value


def parse(values: dict) -> tuple[ModelConfig, TrainConfig]:
    """Build both configs from ``values`` (missing keys take their defaults) or raise InvalidInput."""
    unknown = sorted(set(values) - set(FIELDS_BY_NAME))
    errors = {name: "is not a training setting" for name in unknown}
    parsed = {"model": {}, "train": {}}
    for field in FIELDS:
        try:
            parsed[field.config][field.name] = coerce(field, values.get(field.name, field.default))
        except ValueError as exc:
            errors[field.name] = str(exc)
    if errors:
        raise InvalidInput(errors)
    train = parsed["train"]
    # The form's 0 is TrainConfig's None: never clip, never stop early.
    train["clip_norm"] = train["clip_norm"] or None
    train["patience"] = train["patience"] or None
    if train["evaluate_loss_after"] > train["nepoch"]:
        raise InvalidInput({"evaluate_loss_after": "must not be more than the number of epochs"})
    try:
        return (ModelConfig(**parsed["model"]).validate(), TrainConfig(**train).validate())
    except ValueError as exc:
        raise InvalidInput({"settings": str(exc)}) from None


def check_memory(model_config: ModelConfig, train_config: TrainConfig) -> None:
    """Refuse a run that would need more memory than this server gives one job."""
    need = model_config.memory_estimate_bytes(train_config.batch_size,
                                              optimizer=train_config.optimizer)
    if need > MAX_TRAIN_MEMORY_BYTES:
        raise InvalidInput({"batch_size": (
            f"this model would need about {need / 1024**3:.1f} GB of memory, more than the "
            f"{MAX_TRAIN_MEMORY_BYTES / 1024**3:.0f} GB a run may use; choose a smaller batch, "
            f"vocabulary or hidden size")})
