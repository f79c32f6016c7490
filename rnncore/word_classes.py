"""The class-factored output layer (Mikolov et al. 2011, RNNLM's ``-class``), numpy only.

Words are split into about sqrt(C) classes by unigram frequency, and the output layer predicts
a class, then a word of that class: P(w | s) = P(class(w) | s) * P(w | class(w), s), with
P(c | s) = softmax(Vc s) over the classes and P(w | c, s) = softmax(V s) over the words of c only.
Training then needs, per word, logits for the K classes and for the words of the target's class
instead of all C words: about 2 sqrt(C) of them when the classes hold equal shares of the text,
because the frequent words sit alone in small classes and the large classes are rarely the
target's. ``ModelConfig.output`` chooses it ("classes") or the full softmax ("softmax").

The assignment follows RNNLM: words ranked by count, each class filled until it holds its share of
the tokens, so a frequent word is a class of its own. Unlike RNNLM, what the frequent words take
beyond a class's share is taken from the share of the classes still to fill, so there are exactly
``class_count(C)`` classes, none empty. It is a parameter of the model (``word_class``, int32 (C,),
saved in checkpoints), fixed before training from the training text's counts
(``model.assign_classes(target_counts(sentences, C))``); until then ``zipf_counts`` stand in for
them, which fits every rnncore vocabulary, since they list words most frequent first.

Here: the assignment, the layout the engines use (words sorted by class), the full distribution
built class by class (generation, scoring, the reference engine's forward pass) and the readable
reference of the training layer, ``class_output``, that the compiled engines are held equal to.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OUTPUTS = ("softmax", "classes")


def class_count(word_dim: int) -> int:
    """Classes for a vocabulary of ``word_dim`` words: round(sqrt(C)), RNNLM's rule of thumb."""
    return max(1, int(round(math.sqrt(word_dim))))


def output_param_names(output: str) -> tuple[str, ...]:
    """The output layer's trained parameters beyond V: Vc (K, H) for the class layer."""
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
    return ("Vc",) if output == "classes" else ()


def zipf_counts(word_dim: int) -> np.ndarray:
    """Stand-in counts for a vocabulary listed most frequent first: word i counts 1 / (i + 1)."""
    return 1.0 / np.arange(1, word_dim + 1)


def target_counts(sentences, word_dim: int) -> np.ndarray:
    """How often each word is predicted in ``sentences`` (each ``[START, ..., END]``): s[1:]."""
    targets = [np.asarray(s[1:], dtype=np.int64) for s in sentences]
    if not targets:
        return np.zeros(word_dim, dtype=np.int64)
    return np.bincount(np.concatenate(targets), minlength=word_dim)


def assign_classes(counts, n_classes: int) -> np.ndarray:
    """Each word's class (int32 (C,)): classes of equal token mass, most frequent words first.

    Words are taken in order of decreasing count (ties: lower index first); a class is closed
    once it holds 1/k of the mass still unassigned (k the classes left), or when every class
    still to fill needs one of the remaining words. Class 0 holds the most frequent word.
    """
    counts = np.asarray(counts, dtype=np.float64)
    C = len(counts)
    if C < 1 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("counts must be finite, non-negative, one per word")
    K = min(int(n_classes), C)
    word_class = np.empty(C, dtype=np.int32)
    order = np.argsort(-counts, kind="stable")
    current, left, held = 0, counts.sum(), 0.0
    for rank, w in enumerate(order):
        word_class[w] = current
        held += counts[w]
        words_after = C - rank - 1
        full = held > 0 and held >= left / (K - current)
        if current < K - 1 and (full or words_after == K - 1 - current):
            current, left, held = current + 1, left - held, 0.0
    return word_class


@dataclass(frozen=True)
class ClassLayout:
    """Words sorted by class: class k's words are ``order[starts[k]:starts[k + 1]]``."""

    word_class: np.ndarray  # (C,) class of each word
    order: np.ndarray  # (C,) word ids, by class, ascending ids within a class
    starts: np.ndarray  # (K + 1,) where each class begins in ``order``
    position: np.ndarray  # (C,) where each word is in ``order``: order[position[w]] == w

    @classmethod
    def of(cls, word_class, n_classes: int) -> "ClassLayout":
        word_class = check_word_class(word_class, len(word_class), n_classes)
        order = np.argsort(word_class, kind="stable").astype(np.int32)
        starts = np.searchsorted(word_class[order], np.arange(n_classes + 1)).astype(np.int32)
        position = np.empty_like(order)
        position[order] = np.arange(len(order), dtype=np.int32)
        return cls(word_class, order, starts, position)

    @property
    def n_classes(self) -> int:
        return len(self.starts) - 1


def check_word_class(word_class, word_dim: int, n_classes: int) -> np.ndarray:
    """``word_class`` as int32 (C,) with every entry in [0, K); ValueError in words otherwise."""
    array = np.asarray(word_class)
    if array.shape != (word_dim,) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"word_class must hold one whole number per word ({word_dim}), "
                         f"not {array.dtype} {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(f"word_class must lie between 0 and {n_classes - 1}")
    return array.astype(np.int32)


def _log_softmax(a: np.ndarray) -> np.ndarray:
    shifted = a - a.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def class_log_probs(V, Vc, layout: ClassLayout, S, classes=None) -> np.ndarray:
    """log P(w | s) for every word, (N, C), built class by class from states S (N, H).

    ``classes`` (an iterable of class indices) limits the work to those classes; the other
    columns are left at -inf.
    """
    S = np.asarray(S)
    log_pc = _log_softmax(S @ Vc.T)  # (N, K)
    logp = np.full((S.shape[0], len(layout.order)), -np.inf, dtype=log_pc.dtype)  # (N, C)
    for k in range(layout.n_classes) if classes is None else classes:
        words = layout.order[layout.starts[k] : layout.starts[k + 1]]
        if len(words):
            logp[:, words] = log_pc[:, k : k + 1] + _log_softmax(S @ V[words].T)
    return logp


def class_output(V, Vc, word_class, S, target, mask):
    """The class layer's loss and gradients over rows S (N, H): the readable reference.

    Returns ``(loss, dV (C, H), dVc (K, H), dS (N, H))`` for loss = -sum_i m_i log P(target_i).
    Per row the error is softmax - onehot twice: over the classes, and over the words of the
    target's class (zero for every other word, whose logits the loss never reads).
    """
    N = S.shape[0]
    rows = np.arange(N)
    m = np.asarray(mask, dtype=S.dtype)  # (N,)
    c = word_class[target]  # (N,) the target's class
    log_pc = _log_softmax(S @ Vc.T)  # (N, K)
    logits = S @ V.T  # (N, C)
    same_class = word_class[None, :] == c[:, None]  # (N, C): the words of the target's class
    log_pw = _log_softmax(np.where(same_class, logits, -np.inf))  # log P(w | c_i), -inf elsewhere
    loss = -np.sum(m * (log_pc[rows, c] + log_pw[rows, target]))
    delta_c = np.exp(log_pc)  # (N, K)
    delta_c[rows, c] -= 1.0
    delta_c *= m[:, None]
    delta_w = np.exp(log_pw)  # (N, C), zero outside the target's class
    delta_w[rows, target] -= 1.0
    delta_w *= m[:, None]
    return float(loss), delta_w.T @ S, delta_c.T @ S, delta_w @ V + delta_c @ Vc


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (n, h) @ b (h, w) without BLAS, as ``rnncore.generate`` does: small products on a busy
    web server cost more in BLAS's thread hand-offs than in arithmetic."""
    return np.einsum("nh,hw->nw", a, b)


class ClassOutput:
    """A trained class layer for generation and scoring: float64 copies, V's rows by class."""

    def __init__(self, V, Vc, word_class):
        self.layout = ClassLayout.of(word_class, len(Vc))
        V = np.asarray(V, dtype=np.float64)
        self.V_T = np.ascontiguousarray(V[self.layout.order].T)  # (H, C), columns by class
        self.Vc_T = np.ascontiguousarray(np.asarray(Vc, dtype=np.float64).T)  # (H, K)

    def class_log_probs(self, S) -> np.ndarray:
        """log P(class | s) for states S (n, H): (n, K)."""
        return _log_softmax(_product(S, self.Vc_T))

    def word_log_probs(self, S, k: int) -> np.ndarray:
        """log P(w | class k, s), (n, |k|), for the words order[starts[k]:starts[k + 1]]."""
        c0, c1 = self.layout.starts[k], self.layout.starts[k + 1]
        return _log_softmax(_product(S, self.V_T[:, c0:c1]))

    def log_probs(self, S) -> np.ndarray:
        """log P(w | s) of every word, in word order, (n, C): class by class."""
        log_pc = self.class_log_probs(S)  # (n, K)
        by_class = np.empty((S.shape[0], self.V_T.shape[1]))  # (n, C), columns by class
        starts = self.layout.starts
        for k in range(self.layout.n_classes):
            if starts[k + 1] > starts[k]:
                by_class[:, starts[k] : starts[k + 1]] = log_pc[:, k : k + 1] + \
                    self.word_log_probs(S, k)
        return by_class[:, self.layout.position]

    def draw(self, S, rng: np.random.Generator, forbidden, draw) -> np.ndarray:
        """One word per state, a class first and then a word of it, never one of ``forbidden``:
        the same distribution as P(w | s) with the forbidden words' probability set to zero and
        the rest renormalised. ``draw(cdf, u)`` picks the index that a uniform u hits."""
        layout = self.layout
        pc = np.exp(self.class_log_probs(S))  # (n, K)
        held = {}  # class -> forbidden columns inside it
        for w in forbidden:
            k = int(layout.word_class[w])
            held.setdefault(k, []).append(layout.position[w] - layout.starts[k])
        for k, columns in held.items():  # a class keeps only its allowed words' share
            allowed = 1.0 - np.exp(self.word_log_probs(S, k))[:, columns].sum(axis=1)
            pc[:, k] *= np.maximum(allowed, 0.0)
        u = rng.random((S.shape[0], 2))
        words = np.empty(S.shape[0], dtype=np.int64)
        for i in range(S.shape[0]):
            cdf = np.cumsum(pc[i])
            k = draw(cdf, u[i, 0] * cdf[-1])
            p = np.exp(self.word_log_probs(S[i : i + 1], k)[0])  # (|k|,)
            p[held.get(k, [])] = 0.0
            cdf = np.cumsum(p)
            words[i] = layout.order[layout.starts[k] + draw(cdf, u[i, 1] * cdf[-1])]
        return words
