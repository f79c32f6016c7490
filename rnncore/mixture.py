"""The RNN and the trigram counter mixed, as the RNNLM papers do: P(w) = a P_rnn(w) + (1 - a) P_3(w).

The two make different mistakes (the counter remembers exact phrases, the network generalises), so
the mixture beats both. The weight ``a`` is the one that gives the validation split the highest
likelihood, found on a fine grid (the likelihood is concave in ``a``, so a grid of 1/100 steps is
within a hair of the optimum).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

GRID = np.linspace(0.0, 1.0, 101)


def rnn_log_probs(language_model, sentences: Sequence[np.ndarray]) -> np.ndarray:
    """log P_rnn of every token of every ``s[1:]``, end to end, as KneserNeyModel.log_probs."""
    parts = [language_model.sentence_log_probs(s) for s in sentences]
    return np.concatenate(parts) if parts else np.zeros(0)


def mixed_log_probs(rnn: np.ndarray, ngram: np.ndarray, weight: float) -> np.ndarray:
    """log(a e^rnn + (1 - a) e^ngram), computed without leaving log space."""
    with np.errstate(divide="ignore"):  # log 0 for a weight of exactly 0 or 1 is fine here
        return np.logaddexp(math.log(weight) + rnn if weight > 0 else -np.inf,
                            math.log1p(-weight) + ngram if weight < 1 else -np.inf)


def fit_weight(rnn: np.ndarray, ngram: np.ndarray) -> dict:
    """The RNN's weight that maximises the likelihood of these tokens, and the perplexities."""
    if len(rnn) != len(ngram) or not len(rnn):
        raise ValueError("both models must score the same, non-empty list of tokens")
    means = [float(mixed_log_probs(rnn, ngram, a).mean()) for a in GRID]
    best = int(np.argmax(means))
    return {"rnn_weight": float(GRID[best]), "mixture_perplexity": math.exp(-means[best]),
            "rnn_perplexity": math.exp(-float(rnn.mean())),
            "trigram_perplexity": math.exp(-float(ngram.mean()))}
