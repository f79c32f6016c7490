"""The playground's answers: loaded models kept per web process, and the three questions asked.

Loading a model means reading its ``.npz`` and transposing three matrices, which takes longer
than answering; so each web process keeps the last few models it used (an LRU keyed by model id)
and answers from rnncore's numpy ``LanguageModel`` in milliseconds, whatever the workers are
doing. Inputs are checked here with bounds that keep one answer well under a second.
"""
from __future__ import annotations

import bisect
import logging
import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from rnncore.checkpoint import CheckpointError
from rnncore.generate import LanguageModel
from webapp.errors import UserError

log = logging.getLogger(__name__)

MAX_PREFIX_CHARS = 2000
MAX_CANDIDATES = 20
MAX_CANDIDATE_CHARS = 2000
# Every figure of the playground is in bits (-log2 p): surprisal, a sentence's total and its
# average. Words are coloured by these bands: under 1 bit, 1-2, 2-4, 4-8, 8-12, 12 and more.
BIT_BANDS = (1, 2, 4, 8, 12)


def bit_band(bits: float) -> int:
    """The colour band (0 to len(BIT_BANDS)) of a word's surprisal in bits."""
    return bisect.bisect_right(BIT_BANDS, bits)


def bit_band_labels() -> list[str]:
    """The bands in words, for the colour legend: "under 1 bit", "1–2 bits", ..."""
    bounds = (0, *BIT_BANDS)
    return ([f"under {BIT_BANDS[0]} bit{'s' if BIT_BANDS[0] != 1 else ''}"]
            + [f"{lo}–{hi} bits" for lo, hi in zip(bounds[1:], bounds[2:])]
            + [f"{BIT_BANDS[-1]} bits or more"])


class ModelCache:
    """At most ``size`` LanguageModels, least recently used evicted first; thread-safe."""

    def __init__(self, size: int):
        self.size = size
        self._models: OrderedDict[str, LanguageModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_id: str, path: Path) -> LanguageModel:
        with self._lock:
            if model_id in self._models:
                self._models.move_to_end(model_id)
                return self._models[model_id]
        try:
            model = LanguageModel.from_checkpoint(path)
        except CheckpointError as exc:
            # The details name a server path; they go to the log, the person gets the gist.
            log.error("model %s cannot be loaded: %s", model_id, exc)
            raise UserError("The model file cannot be read: it is damaged or not a model "
                            "file. Train the model again.", status=500) from None
        with self._lock:
            self._models[model_id] = model
            self._models.move_to_end(model_id)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return model

    def evict(self, model_id: str) -> None:
        with self._lock:
            self._models.pop(model_id, None)

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._models


def _number(data: dict, name: str, kind, default, lo, hi):
    raw = data.get(name, default)
    if raw is None or raw == "":
        raw = default
    if raw is None:
        return None
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = kind(raw.strip() if isinstance(raw, str) else raw)
        if kind is int and isinstance(raw, float) and raw != int(raw):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{name} must be a number.", errors={name: "must be a number"}) from None
    if not lo <= value <= hi:
        message = f"must be between {lo:g} and {hi:g}"
        raise UserError(f"{name} {message}.", errors={name: message})
    return value


def _text(data: dict, name: str, limit: int, required: bool = False) -> str:
    value = data.get(name)
    value = "" if value is None else value
    if not isinstance(value, str):
        raise UserError(f"{name} must be text.", errors={name: "must be text"})
    if len(value) > limit:
        raise UserError(f"{name} is longer than {limit} characters.",
                        errors={name: f"at most {limit} characters"})
    if required and not value.strip():
        raise UserError(f"Type some text into {name}.", errors={name: "is required"})
    return value


def _flag(data: dict, name: str) -> bool:
    raw = data.get(name)
    if raw in (None, False, "", "0", "false", "off", "n"):
        return False
    if raw in (True, "1", "true", "on", "y"):
        return True
    raise UserError(f"{name} must be true or false.", errors={name: "must be true or false"})


def _chosen(model: LanguageModel, data: dict) -> LanguageModel:
    """The network, or the network mixed with its trigram counter when ``mix`` is asked for."""
    if not _flag(data, "mix"):
        return model
    try:
        return model.mixed()
    except ValueError as exc:
        raise UserError(f"{str(exc)[0].upper()}{str(exc)[1:]}.", errors={"mix": str(exc)}) from None


def _said(model: LanguageModel, answer: dict) -> dict:
    """The answer, saying so when the mixture gave it (``mixture``: its weight)."""
    if model.mixture is not None:
        answer["mixture"] = {"rnn_weight": model.mixture[1]}
    return answer


def generate(model: LanguageModel, data: dict) -> dict:
    """Continuations of ``prefix``: num_samples, temperature, top_k, max_length, seed, mix."""
    model = _chosen(model, data)
    prefix = _text(data, "prefix", MAX_PREFIX_CHARS)
    kwargs = {
        "num_samples": _number(data, "num_samples", int, 3, 1, 10),
        "temperature": _number(data, "temperature", float, 1.0, 0.05, 5.0),
        "top_k": _number(data, "top_k", int, None, 1, model.word_dim),
        "max_length": _number(data, "max_length", int, 20, 1, 100),
        "seed": _number(data, "seed", int, None, 0, 2**31 - 1),
    }
    return _said(model, model.continue_prefix(prefix, **kwargs))


def next_words(model: LanguageModel, data: dict) -> dict:
    """The k most probable next words after ``prefix`` (``mix``: mixed with the counter)."""
    model = _chosen(model, data)
    prefix = _text(data, "prefix", MAX_PREFIX_CHARS)
    answer = model.next_words(prefix, k=_number(data, "k", int, 10, 1, min(50, model.word_dim)))
    for candidate in answer["candidates"]:  # UNKNOWN_TOKEN as the corpus wrote it (<unk>)
        candidate["word"] = model.vocabulary.written(candidate["word"])
        candidate["bits"] = -math.log2(max(candidate["probability"], 1e-300))
    return _said(model, answer)


MAX_INSIDE_WORDS = 60  # words of a sentence whose hidden states are shown
ACTIVATION_BANDS = 10  # an activation in [-1, 1] is coloured by one of 11 bands (CSS .act-N)


def activation_band(value: float) -> int:
    """0 for -1 (blue), ACTIVATION_BANDS / 2 for 0 (white), ACTIVATION_BANDS for +1 (red)."""
    return min(ACTIVATION_BANDS, max(0, math.floor((value + 1) * ACTIVATION_BANDS / 2 + 0.5)))


def hidden_states(model: LanguageModel, data: dict) -> dict:
    """The hidden state after each word of ``text`` (SENTENCE_START first), units x words."""
    text = _text(data, "text", MAX_PREFIX_CHARS, required=True)
    answer = model.hidden_states(text)
    if len(answer["tokens"]) > MAX_INSIDE_WORDS + 1:
        message = f"at most {MAX_INSIDE_WORDS} words"
        raise UserError(f"Show the hidden states of {message}.", errors={"text": message})
    return {"tokens": [model.vocabulary.written(t) for t in answer["tokens"]],
            "unknown_words": answer["unknown_words"], "cell": model.cell,
            "hidden_dim": model.hidden_dim,
            "states": np.round(answer["states"], 4).tolist()}  # (words, hidden_dim)


def nearest_words(model: LanguageModel, data: dict) -> dict:
    """The ``k`` words whose input embeddings (columns of U) are nearest ``word``'s by cosine."""
    word = _text(data, "word", 100, required=True)
    k = _number(data, "k", int, 10, 1, min(50, model.word_dim - 1))
    try:
        answer = model.nearest_words(word, k)
    except ValueError as exc:
        raise UserError(f"{str(exc)[0].upper()}{str(exc)[1:]}.", errors={"word": str(exc)}) from None
    for n in answer["neighbours"]:
        n["word"] = model.vocabulary.written(n["word"])
    return answer


def score(model: LanguageModel, data: dict) -> dict:
    """``sentences`` (a list, or text with one sentence per line) ranked, with surprisal per word
    (``mix``: by the network mixed with the counter)."""
    model = _chosen(model, data)
    raw = data.get("sentences")
    raw = "" if raw is None else raw
    if isinstance(raw, str):
        raw = [line for line in raw.splitlines() if line.strip()]
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise UserError("sentences must be a list of texts.", errors={"sentences": "must be texts"})
    if not raw:
        raise UserError("Type at least one sentence to score.",
                        errors={"sentences": "type at least one sentence to score"})
    if len(raw) > MAX_CANDIDATES or any(len(s) > MAX_CANDIDATE_CHARS for s in raw):
        message = f"at most {MAX_CANDIDATES} sentences of {MAX_CANDIDATE_CHARS} characters"
        raise UserError(f"Score {message}.", errors={"sentences": message})
    try:
        ranked = model.rank_sentences(raw)
    except ValueError as exc:
        raise UserError(str(exc), errors={"sentences": str(exc)}) from None
    for r in ranked:  # the same ranking, in bits: total surprisal and per word (END included)
        r["bits"] = -r["log_probability"] / math.log(2)
        r["bits_per_word"] = r["bits"] / len(r["surprisal"])
    return _said(model, {"ranked": ranked})
