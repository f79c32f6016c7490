"""The memorisation check in the web process: for each text (a generated sample, or anything
typed), the longest run of words it shares with the model's corpus, and the corpus sentence
that run comes from (``rnncore.memorisation``).

The index was made when the corpus was preprocessed (``DataPaths.corpus_ngrams``); each web
process keeps the last few it read (an LRU keyed by file), as it keeps models. A model that was
imported, or whose corpus is gone or was preprocessed before the index existed, is not checked,
and the answer says why in words.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from rnncore.generate import detokenize
from rnncore.memorisation import N, NgramIndex
from rnncore.text import tokenize_prefix
from webapp import files
from webapp.artifacts import ArtifactMissing
from webapp.errors import UserError
from webapp.extensions import db
from webapp.records import Corpus, TrainedModel

log = logging.getLogger(__name__)

CACHE_SIZE = 2
MAX_TEXTS = 10
MAX_TEXT_CHARS = 2000
_cache: OrderedDict[str, NgramIndex] = OrderedDict()
_lock = threading.Lock()


def _index(path) -> NgramIndex:
    key = str(path)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    index = NgramIndex.load(path)
    with _lock:
        _cache[key] = index
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return index


def index_for(model: TrainedModel) -> tuple[NgramIndex | None, str | None]:
    """The index of the model's corpus, or None and why not (a sentence)."""
    corpus = db.session.get(Corpus, model.corpus_id) if model.corpus_id else None
    if corpus is None:
        return None, ("This model has no training text here (it was imported, or its corpus "
                      "was deleted), so its samples cannot be compared with it.")
    path = files.paths().corpus_ngrams(corpus.id, corpus.text_column, corpus.text_options)
    store = files.store()
    try:
        return _index(store.fetch(store.key(path))), None
    except ArtifactMissing:
        return None, ("The corpus was preprocessed before rnnlab indexed its runs of words; "
                      "preprocess it again to check the samples for copying.")
    except (OSError, ValueError, KeyError) as exc:
        log.error("the index of corpus %s cannot be read: %s", corpus.id, exc)
        return None, "The corpus's index of word runs cannot be read now; try again later."


def _texts(data: dict) -> list[str]:
    texts = data.get("texts")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise UserError("texts must be a list of texts.", errors={"texts": "must be texts"})
    if len(texts) > MAX_TEXTS or any(len(t) > MAX_TEXT_CHARS for t in texts):
        message = f"at most {MAX_TEXTS} texts of {MAX_TEXT_CHARS} characters"
        raise UserError(f"Check {message}.", errors={"texts": message})
    return texts


def _parts(text: str, shared: str) -> list[str] | None:
    """[before, shared, after] of ``text``, for the pages to mark the run; None when the run is
    not in it as written. Spaces are not compared ("again ." is "again."), nor is case."""
    kept = [i for i, ch in enumerate(text) if not ch.isspace()]  # where each non-space char is
    target = "".join(shared.split()).lower()
    at = "".join(text[i] for i in kept).lower().find(target)
    if at < 0 or not target:
        return None
    start, end = kept[at], kept[at + len(target) - 1] + 1
    return [text[:start], text[start:end], text[end:]]


def check(model: TrainedModel, lm, data: dict) -> dict:
    """``{"checked", "why_not", "min_words", "results": [{"tokens", "run"}]}``; ``run`` is None
    or {"start", "length", "sentence_number" (1 = the corpus's first), "sentence" (its text),
    "sentence_words", "at", "shared" (the run as text), "text_parts" and "sentence_parts"
    ([before, shared, after] of the text and of the sentence, or None)}."""
    texts = _texts(data)
    index, why_not = index_for(model)
    results = []
    for text in texts:
        tokens = tokenize_prefix(text, lm.vocabulary)
        run = index.longest_run(tokens) if index is not None else None
        if run is not None:
            shared = detokenize(tokens[run["start"]:run["start"] + run["length"]],
                                lm.vocabulary.unknown_spelling)
            run["sentence_number"] = run.pop("sentence") + 1
            run["sentence"] = detokenize(run["sentence_words"], lm.vocabulary.unknown_spelling)
            run["shared"] = shared
            run["text_parts"] = _parts(text, shared)
            run["sentence_parts"] = _parts(run["sentence"], shared)
        results.append({"tokens": tokens, "run": run})
    return {"checked": index is not None, "why_not": why_not, "min_words": N,
            "results": results}
