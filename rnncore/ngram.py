"""Counting n-gram language models: the baseline an RNN has to beat, and a partner to mix with it.

This module owns interpolated Kneser-Ney of any order (Chen & Goodman 1998, with KenLM's adjusted
counts) and the add-one unigram. Both score the RNN's own events: every token of ``s[1:]`` of a
sentence ``[SENTENCE_START, w1, ..., wn, SENTENCE_END]`` given the tokens before it, so
``perplexity`` reads beside the RNN's validation perplexity. The first word is predicted from
``(SENTENCE_START,)`` alone (the start is padded once, not order - 1 times): a history shorter than
order - 1 is simply a shorter context. Below the unigrams the model interpolates with the uniform
distribution over the vocabulary, so every word has a nonzero probability.

An n-gram is stored as one int64 code, ``(w1 * C + w2) * C + w3`` for C words, so fitting and
scoring are np.unique and np.searchsorted over sorted code arrays rather than Python loops; the
arrays are what ``to_arrays`` writes, into an .npz that loads with ``allow_pickle=False``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from rnncore.files import atomic_write, write_npz

DEFAULT_ORDER = 3
FALLBACK_DISCOUNT = 0.75  # when a level's count-of-counts cannot give n1 / (n1 + 2 n2)
CODE_LIMIT = 2 ** 63  # an order-n code needs C ** n below this (C = 8000 allows order 4)


def _flatten(sentences: Sequence[np.ndarray], vocabulary_size: int) -> tuple[np.ndarray, np.ndarray]:
    """All tokens end to end, and each token's position in its sentence (its history length)."""
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)  # (sentences,)
    if not len(lengths) or not lengths.sum():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tokens = np.concatenate([np.asarray(s).ravel() for s in sentences])  # (tokens,)
    if tokens.dtype.kind not in "iu":
        raise ValueError("sentences must hold integer word ids")
    tokens = tokens.astype(np.int64)
    if tokens.min() < 0 or tokens.max() >= vocabulary_size:
        raise ValueError(f"word ids must lie in 0..{vocabulary_size - 1}")
    starts = np.cumsum(lengths) - lengths  # (sentences,)
    position = np.arange(len(tokens)) - np.repeat(starts, lengths)  # (tokens,)
    return tokens, position


def _codes(tokens: np.ndarray, length: int, C: int) -> np.ndarray:
    """Code of the ``length``-gram ending at each token; meaningful where position >= length - 1.

    Elsewhere the n-gram would reach into the previous sentence; callers mask those out.
    """
    codes = tokens.copy()  # (tokens,)
    for back in range(1, length):
        codes[back:] += tokens[:-back] * C ** back
    return codes


def _adjusted_counts(tokens, position, order: int, C: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(sorted codes, counts) per level k = 0..order-1, for n-grams of k + 1 tokens.

    The top level keeps raw counts. A lower level counts, for each n-gram, its distinct left
    neighbours (Kneser-Ney's continuation count: how many contexts it completes), plus each time it
    opens a sentence, where it has no neighbour and is itself the longest history (KenLM's rule
    for n-grams that start with <s>).
    """
    levels = []
    for k in range(order):
        codes = _codes(tokens, k + 1, C)  # (tokens,)
        if k == order - 1:  # the events whose history reaches back k tokens
            levels.append(np.unique(codes[position >= max(k, 1)], return_counts=True))
            continue
        longer = np.unique(_codes(tokens, k + 2, C)[position >= k + 1])  # distinct (k+2)-grams
        opening = codes[position == k] if k >= 1 else codes[:0]
        levels.append(np.unique(np.concatenate([longer % C ** (k + 1), opening]),
                                return_counts=True))
    return [(c.astype(np.int64), n.astype(np.int64)) for c, n in levels]


def _lookup(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each query in the sorted, nonempty ``keys`` (clipped) and whether it is there."""
    i = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)  # (queries,)
    return i, keys[i] == queries


def _estimate_discount(counts: np.ndarray) -> float:
    """Ney's D = n1 / (n1 + 2 n2) from how many n-grams were seen once and twice."""
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 and n2 else FALLBACK_DISCOUNT


class KneserNeyModel:
    """Interpolated Kneser-Ney with one absolute discount per order; build with fit_kneser_ney."""

    def __init__(self, vocabulary_size: int, levels: list[tuple[np.ndarray, np.ndarray]],
                 discounts: Sequence[float]):
        self.vocabulary_size, self.order = int(vocabulary_size), len(levels)
        self.levels, self.discounts = levels, np.asarray(discounts, dtype=np.float64)  # (order,)
        self.contexts = []  # per level: sorted context codes, first n-gram index, types, total
        for codes, counts in levels:
            context, first, types = np.unique(codes // self.vocabulary_size, return_index=True,
                                              return_counts=True)
            total = np.add.reduceat(counts, first) if len(first) else counts[:0]
            self.contexts.append((context, first, types, total))

    def _event_probs(self, tokens: np.ndarray, position: np.ndarray) -> np.ndarray:
        """P(token | its history) for every token (a sentence's first gets its unigram probability)."""
        C = self.vocabulary_size
        p = np.full(len(tokens), 1.0 / C)  # (tokens,) the uniform base, level -1
        for k, (codes, counts) in enumerate(self.levels):
            if not len(codes):
                continue  # nothing was counted: no training sentence had two tokens
            gram = _codes(tokens, k + 1, C)  # (tokens,)
            context, _, types, total = self.contexts[k]
            i, seen = _lookup(context, gram // C)
            seen &= position >= k  # the history reaches back k tokens
            j, found = _lookup(codes, gram)
            D = self.discounts[k]
            mixed = (np.where(found, counts[j] - D, 0.0) + D * types[i] * p) / total[i]  # (tokens,)
            # A context never seen at this level passes its lower-order probability up as is.
            p = np.where(seen, mixed, p)
        return p

    def _context(self, context_ids: Sequence[int]) -> list[int]:
        context = [int(w) for w in context_ids][max(len(context_ids) - (self.order - 1), 0):]
        if any(not 0 <= w < self.vocabulary_size for w in context):
            raise ValueError(f"word ids must lie in 0..{self.vocabulary_size - 1}")
        return context

    def log_prob(self, context_ids: Sequence[int], word_id: int) -> float:
        """Natural log of P(word | context); only the last order - 1 context words count."""
        context = self._context(context_ids)
        tokens, _ = _flatten([np.array([*context, word_id], dtype=np.int64)], self.vocabulary_size)
        return float(np.log(self._event_probs(tokens, np.arange(len(tokens)))[-1]))

    def log_probs(self, sentences: Sequence[np.ndarray]) -> np.ndarray:
        """Log prob of every token of every ``s[1:]``, all sentences end to end."""
        tokens, position = _flatten(sentences, self.vocabulary_size)
        return np.log(self._event_probs(tokens, position)[position >= 1])  # (events,)

    def sentence_log_probs(self, sentence: np.ndarray) -> np.ndarray:
        """Log prob of each token of ``sentence[1:]`` given the tokens before it."""
        return self.log_probs([sentence])

    def perplexity(self, sentences: Sequence[np.ndarray]) -> float:
        """exp(mean negative log prob per predicted token), as the RNN's validation perplexity."""
        log_probs = self.log_probs(sentences)
        if not len(log_probs):
            raise ValueError("perplexity needs at least one sentence of two tokens")
        return math.exp(-float(log_probs.mean()))

    def next_word_log_probs(self, context_ids: Sequence[int]) -> np.ndarray:
        """log P(w | context) for all C words at once, for sampling or mixing with the RNN."""
        C, context = self.vocabulary_size, self._context(context_ids)
        p = np.full(C, 1.0 / C)  # (C,)
        for k in range(len(context) + 1):
            code = 0
            for w in context[len(context) - k:]:
                code = code * C + w
            ctx, first, types, total = self.contexts[k]
            i = int(np.searchsorted(ctx, code))
            if i == len(ctx) or ctx[i] != code:
                continue  # unseen context: this level adds nothing
            codes, counts = self.levels[k]
            rows, D = slice(first[i], first[i] + types[i]), self.discounts[k]
            p *= D * types[i] / total[i]
            p[codes[rows] % C] += (counts[rows] - D) / total[i]
        return np.log(p)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain int64 / float64 arrays (no objects), named so they can share a checkpoint's .npz."""
        arrays = {"ngram_vocabulary_size": np.array(self.vocabulary_size, dtype=np.int64),
                  "ngram_discounts": self.discounts.copy()}
        for k, (codes, counts) in enumerate(self.levels):
            arrays[f"ngram_codes_{k}"], arrays[f"ngram_counts_{k}"] = codes, counts
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "KneserNeyModel":
        """Inverse of to_arrays; checks the arrays so that a damaged file fails here, not later."""
        try:
            C = int(arrays["ngram_vocabulary_size"])
            discounts = np.asarray(arrays["ngram_discounts"], dtype=np.float64)  # (order,)
            levels = [(np.asarray(arrays[f"ngram_codes_{k}"]), np.asarray(arrays[f"ngram_counts_{k}"]))
                      for k in range(len(discounts))]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a saved n-gram model ({exc})") from None
        _check(C, len(levels), discounts)
        for k, (codes, counts) in enumerate(levels):
            if codes.dtype != np.int64 or counts.dtype != np.int64 or codes.shape != counts.shape \
                    or codes.ndim != 1 or (np.diff(codes) <= 0).any() or (counts < 1).any() or \
                    (len(codes) and not 0 <= codes[0] <= codes[-1] < C ** (k + 1)):
                raise ValueError(f"n-gram level {k} is inconsistent")
        return cls(C, levels, discounts)

    def save(self, path) -> None:
        atomic_write(Path(path), lambda f: write_npz(f, self.to_arrays(), {}))

    @classmethod
    def load(cls, path) -> "KneserNeyModel":
        with np.load(path, allow_pickle=False) as data:
            return cls.from_arrays({name: data[name] for name in data.files})


def _check(vocabulary_size: int, order: int, discounts: np.ndarray | None = None) -> None:
    if vocabulary_size < 1 or order < 1:
        raise ValueError("vocabulary_size and order must be at least 1")
    if vocabulary_size ** order >= CODE_LIMIT:
        raise ValueError(f"order {order} is too high for {vocabulary_size} words: "
                         f"{vocabulary_size} ** {order} n-gram codes do not fit in int64")
    if discounts is not None and (discounts.shape != (order,) or
                                  not ((discounts >= 0) & (discounts <= 1)).all()):
        raise ValueError(f"discounts must be {order} numbers in [0, 1], unigrams first")


def fit_kneser_ney(sentences: Sequence[np.ndarray], vocabulary_size: int, order: int = DEFAULT_ORDER,
                   discount: float | Sequence[float] | None = None) -> KneserNeyModel:
    """Count the training sentences into an interpolated Kneser-Ney model of ``order``.

    ``discount``: None estimates D = n1 / (n1 + 2 n2) for each order from its own (adjusted)
    counts; a number uses it at every order; a sequence gives one per order, unigrams first.
    A unigram discount of 0 removes the uniform base, so words never seen after another word get
    probability 0 (that is how NLTK's KneserNeyInterpolated behaves); keep it above 0 otherwise.
    """
    _check(vocabulary_size, order)
    tokens, position = _flatten(sentences, vocabulary_size)
    levels = _adjusted_counts(tokens, position, order, vocabulary_size)
    if discount is None:
        discounts = np.array([_estimate_discount(counts) for _, counts in levels])  # (order,)
    else:
        discounts = np.asarray(discount, dtype=np.float64)
        discounts = np.full(order, float(discounts)) if discounts.ndim == 0 else discounts
    _check(vocabulary_size, order, discounts)
    return KneserNeyModel(vocabulary_size, levels, discounts)


def unigram_perplexity(train_sentences: Sequence[np.ndarray], valid_sentences: Sequence[np.ndarray],
                       vocabulary_size: int) -> float:
    """Perplexity on ``valid_sentences`` of add-one unigrams counted over the training ``s[1:]``."""
    train, train_position = _flatten(train_sentences, vocabulary_size)
    valid, valid_position = _flatten(valid_sentences, vocabulary_size)
    counts = np.bincount(train[train_position >= 1], minlength=vocabulary_size)  # (C,)
    events = valid[valid_position >= 1]  # (valid events,)
    if not len(events):
        raise ValueError("perplexity needs at least one sentence of two tokens")
    log_p = np.log(counts[events] + 1.0) - math.log(counts.sum() + vocabulary_size)
    return math.exp(-float(log_p.mean()))
