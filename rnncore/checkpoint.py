"""Checkpoint files: a trained (or half-trained) model and everything needed to use or resume it.

A checkpoint is one ``.npz``: ``U``, ``V``, ``W`` under the names the tutorial's
``save_model_parameters_theano`` uses (so the tutorial's loader still reads them), and ``b`` for a
gated cell (``rnncore.cells``; its U and W have one block of rows per gate), ``Vc`` and
``word_class`` for the class-factored output layer (``rnncore.word_classes``), the vocabulary,
both configs and the training state as JSON strings, the batch-order RNG state as JSON, and the
optimizer's arrays under ``optimizer/``, the best evaluation's weights under ``best/`` and the
trigram counter of the training split under ``trigram/``. Writes are atomic: the file is written beside its final
name, flushed to disk, then renamed over it, so a crash or a full disk never leaves a half-written
checkpoint where a good one was. Loading never unpickles (``allow_pickle=False``).
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnncore.cells import ALL_PARAMS, GATES, cell_of
from rnncore.config import ModelConfig, TrainConfig
from rnncore.errors import RnnCoreError
from rnncore.files import atomic_write, write_npz
from rnncore.vocabulary import Vocabulary
from rnncore.word_classes import check_word_class, class_count

FORMAT = "rnncore-checkpoint-1"
OPTIMIZER_PREFIX = "optimizer/"
# The best evaluation's weights, kept beside the last ones that a resumed run continues from.
BEST_PREFIX = "best/"
# The trigram counter fitted on the run's training split (rnncore.ngram's arrays), so that the
# playground can mix it with the network as the run's final evaluation did.
TRIGRAM_PREFIX = "trigram/"
PARAM_NAMES = ("U", "V", "W")  # every cell has these; gated cells add b
CLASS_PARAMS = ("Vc", "word_class")  # the class-factored output layer's
STORED_PARAMS = ALL_PARAMS + CLASS_PARAMS


class CheckpointError(RnnCoreError, ValueError):
    """A file cannot be read as a model checkpoint; the message says why."""


@dataclass
class Checkpoint:
    """What a checkpoint holds. ``state`` carries ``optimizer_state`` and ``rng_state`` when saved."""

    params: dict[str, np.ndarray]
    vocabulary: Vocabulary
    model_config: ModelConfig
    train_config: TrainConfig | None = None
    state: dict = field(default_factory=dict)

    @property
    def model_params(self) -> dict[str, np.ndarray]:
        """The weights to play with: the best validation evaluation's, else the last ones."""
        return self.state.get("best_params") or self.params


def check_param_shapes(params: dict, vocabulary_size: int | None = None) -> tuple[int, int]:
    """Check that the parameters agree with each other (and the vocabulary); return (V, H).

    The vanilla cell: U (H, V), V (V, H), W (H, H). A gated cell with G gate blocks (GRU 3,
    LSTM 4): U (G*H, V), V (V, H), W (G*H, H), b (G*H,).
    """
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise CheckpointError(f"the parameters lack {', '.join(missing)}")
    U, V, W = (np.asarray(params[k]) for k in PARAM_NAMES)
    if U.ndim != 2 or V.ndim != 2 or W.ndim != 2:
        raise CheckpointError("U, V and W must all be matrices")
    if "b" in params:
        return _check_output_shapes(params, *_check_gated_shapes(params, vocabulary_size))
    hidden_dim, word_dim = U.shape
    if V.shape != (word_dim, hidden_dim) or W.shape != (hidden_dim, hidden_dim):
        raise CheckpointError(
            f"parameter shapes disagree: U {U.shape}, V {V.shape}, W {W.shape}; expected "
            f"U (hidden, words), V (words, hidden), W (hidden, hidden)")
    if vocabulary_size is not None and vocabulary_size != word_dim:
        raise CheckpointError(
            f"the vocabulary has {vocabulary_size} words but the model was trained on {word_dim}")
    return _check_output_shapes(params, word_dim, hidden_dim)


def _check_output_shapes(params: dict, word_dim: int, hidden_dim: int) -> tuple[int, int]:
    """The class layer's Vc (K, H) and word_class (C,), K = class_count(C): both or neither."""
    present = [k for k in CLASS_PARAMS if k in params]
    if not present:
        return word_dim, hidden_dim
    if len(present) == 1:
        raise CheckpointError(f"the class output layer needs both Vc and word_class, not only "
                              f"{present[0]}")
    K = class_count(word_dim)
    if np.shape(params["Vc"]) != (K, hidden_dim):
        raise CheckpointError(f"Vc has shape {np.shape(params['Vc'])}; expected ({K}, "
                              f"{hidden_dim}): {K} classes for {word_dim} words")
    try:
        check_word_class(params["word_class"], word_dim, K)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    return word_dim, hidden_dim


def _check_gated_shapes(params: dict, vocabulary_size: int | None) -> tuple[int, int]:
    U, V, W, b = (np.asarray(params[k]) for k in ALL_PARAMS)
    word_dim, hidden_dim = V.shape
    rows = U.shape[0]
    if rows not in (GATES["gru"] * hidden_dim, GATES["lstm"] * hidden_dim) or hidden_dim == 0 \
            or U.shape != (rows, word_dim) or W.shape != (rows, hidden_dim) or b.shape != (rows,):
        raise CheckpointError(
            f"parameter shapes disagree: U {U.shape}, V {V.shape}, W {W.shape}, b {b.shape}; "
            f"expected U (G*hidden, words), V (words, hidden), W (G*hidden, hidden), "
            f"b (G*hidden,) with G = 3 (GRU) or 4 (LSTM)")
    if vocabulary_size is not None and vocabulary_size != word_dim:
        raise CheckpointError(
            f"the vocabulary has {vocabulary_size} words but the model was trained on {word_dim}")
    return word_dim, hidden_dim


def _check_cell(params: dict, model_config: ModelConfig, path) -> None:
    """The parameters must be those of the cell and output layer the settings name."""
    cell = cell_of(params)
    if cell != model_config.cell:
        raise CheckpointError(f"{path}: the parameters are those of a {cell} cell but the "
                              f"settings say {model_config.cell}")
    output = "classes" if "Vc" in params else "softmax"
    if output != model_config.output:
        raise CheckpointError(f"{path}: the parameters are those of a {output} output layer but "
                              f"the settings say {model_config.output}")


def save_checkpoint(path, params: dict, vocabulary: Vocabulary, model_config: ModelConfig,
                    train_config: TrainConfig | None = None, state: dict | None = None) -> Path:
    """Write a checkpoint atomically to ``path`` and return it."""
    check_param_shapes(params, len(vocabulary))
    _check_cell(params, model_config, path)
    state = dict(state or {})
    optimizer_state = state.pop("optimizer_state", None) or {}
    rng_state = state.pop("rng_state", None)
    best_params = state.pop("best_params", None) or {}
    trigram_arrays = state.pop("trigram_arrays", None) or {}
    arrays = {k: np.asarray(params[k]) for k in STORED_PARAMS if k in params}
    arrays.update({OPTIMIZER_PREFIX + k: np.asarray(v) for k, v in optimizer_state.items()})
    arrays.update({BEST_PREFIX + k: np.asarray(v) for k, v in best_params.items()})
    arrays.update({TRIGRAM_PREFIX + k: np.asarray(v) for k, v in trigram_arrays.items()})
    texts = {
        "format": FORMAT,
        "vocabulary": vocabulary.to_json(),
        "model_config": json.dumps(model_config.to_dict()),
        "train_config": json.dumps(train_config.to_dict() if train_config else None),
        "state": json.dumps(state),
        "rng_state": json.dumps(rng_state),
    }
    path = Path(path)
    atomic_write(path, lambda f: write_npz(f, arrays, texts))
    return path


def _open_npz(path) -> dict:
    try:
        # Opening the file ourselves closes it even when numpy fails halfway through a bad zip.
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if not hasattr(data, "files"):
                raise CheckpointError(f"{path} holds a single array, not a model")
            with data:
                return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise CheckpointError(f"no such file: {path}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path} is not a readable .npz model file ({exc})") from None


def _json_member(data: dict, name: str, path):
    try:
        return json.loads(str(data[name]))
    except KeyError:
        raise CheckpointError(f"{path} is not an rnncore checkpoint: it has no {name}") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} has a damaged {name} ({exc})") from None


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; CheckpointError if it is not one."""
    data = _open_npz(path)
    if "format" not in data:
        raise CheckpointError(
            f"{path} is not an rnncore checkpoint (for the tutorial's U/V/W files, give the "
            f"vocabulary too)")
    if str(data["format"]) != FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {str(data['format'])!r}, not {FORMAT!r}")
    try:
        vocabulary = Vocabulary.from_json(str(data["vocabulary"]))
        model_config = ModelConfig.from_dict(_json_member(data, "model_config", path))
        train_dict = _json_member(data, "train_config", path)
        train_config = TrainConfig.from_dict(train_dict) if train_dict is not None else None
    except (ValueError, TypeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path} has damaged settings ({exc})") from None
    params = {k: data[k] for k in STORED_PARAMS if k in data}
    check_param_shapes(params, len(vocabulary))
    _check_cell(params, model_config, path)
    state = _json_member(data, "state", path)
    state["rng_state"] = _json_member(data, "rng_state", path)
    state["optimizer_state"] = {k[len(OPTIMIZER_PREFIX):]: v for k, v in data.items()
                                if k.startswith(OPTIMIZER_PREFIX)}
    state["best_params"] = {k[len(BEST_PREFIX):]: v for k, v in data.items()
                            if k.startswith(BEST_PREFIX)}
    state["trigram_arrays"] = {k[len(TRIGRAM_PREFIX):]: v for k, v in data.items()
                               if k.startswith(TRIGRAM_PREFIX)}
    return Checkpoint(params, vocabulary, model_config, train_config, state)


def read_vocabulary_file(path) -> Vocabulary:
    """A vocabulary as a JSON list, a JSON object with ``index_to_word``, or one word per line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read the vocabulary file {path} ({exc})") from None
    try:
        words = json.loads(text)
    except json.JSONDecodeError:
        words = [line.rstrip("\r") for line in text.split("\n")]
        while words and words[-1] == "":
            words.pop()
    if isinstance(words, dict):
        words = words.get("index_to_word")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise CheckpointError(f"{path} is neither a word list nor JSON with index_to_word")
    try:
        return Vocabulary(tuple(words))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def load_tutorial_model(npz_path, vocabulary_path) -> Checkpoint:
    """Read the tutorial's ``trained-model-theano.npz`` (U, V, W) with its vocabulary file."""
    data = _open_npz(npz_path)
    vocabulary = read_vocabulary_file(vocabulary_path)
    params = {k: data[k] for k in PARAM_NAMES if k in data}
    if len(params) < 3:
        raise CheckpointError(f"{npz_path} lacks the tutorial's U, V and W arrays")
    word_dim, hidden_dim = check_param_shapes(params, len(vocabulary))
    dtype = "float64" if any(p.dtype == np.float64 for p in params.values()) else "float32"
    model_config = ModelConfig(vocabulary_size=word_dim, hidden_dim=hidden_dim, engine="numpy",
                               dtype=dtype)
    return Checkpoint(params, vocabulary, model_config, None, {})
