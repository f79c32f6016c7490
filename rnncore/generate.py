"""Using a trained model: sampling sentences, continuing a prefix, next-word odds and scoring.

``LanguageModel`` runs only the forward pass (``rnncore.forward``), in numpy, one step at a time
while keeping the hidden state, so the web process answers in milliseconds without loading
PyTensor. It follows the tutorial's ``generate_sentence``: start from SENTENCE_START and sample
until SENTENCE_END, never emitting UNKNOWN_TOKEN. Instead of the tutorial's "draw again while the
word is UNKNOWN_TOKEN" loop the forbidden words get probability zero and the rest are
renormalised, which is the same distribution without the loop; likewise SENTENCE_END is
forbidden until ``min_length`` words exist (the tutorial re-drew whole sentences). ``max_length``
guarantees every sentence ends.

A model read from a checkpoint that holds its run's trigram counter (``rnncore.ngram``) and the
mixing weight fitted on the validation split offers ``mixed()``: the same questions answered by
P(w) = a P_rnn(w) + (1 - a) P_3(w), as the RNNLM papers mix a network with a counting model.
"""
from __future__ import annotations

import copy
import logging
import math

import numpy as np

from rnncore.checkpoint import CheckpointError, load_checkpoint
from rnncore.detokenize import detokenize as _detokenize
from rnncore.forward import Network, check_int
from rnncore.mixture import mixed_log_probs
from rnncore.ngram import KneserNeyModel
from rnncore.novel_words import NovelWords
from rnncore.vocabulary import SENTENCE_END, Vocabulary

LN2 = math.log(2.0)
log = logging.getLogger(__name__)


def detokenize(words: list[str], unknown_spelling: str | None = None) -> str:
    """Join word tokens back into readable text ("did" "n't" -> "didn't", "that" "n't" apart, no
    space before ","); see ``rnncore.detokenize``. UNKNOWN_TOKEN is written ``unknown_spelling``."""
    return _detokenize(list(words), unknown_spelling)


class LanguageModel(Network):
    """A trained network (``rnncore.forward.Network``) for sampling and scoring.

    With a class layer, plain sampling draws a class, then a word of it; the probabilities of
    every word, which next_words and scoring read, are built class by class.
    """

    @classmethod
    def from_params(cls, params: dict, vocabulary: Vocabulary,
                    novel: NovelWords | None = None) -> "LanguageModel":
        """From U, V, W (and b for a gated cell, Vc and word_class for the class layer), as
        ``get_params`` and checkpoints hold them; ``novel``: the words its training never
        showed, smoothed in (``rnncore.novel_words``)."""
        model = cls(params["U"], params["V"], params["W"], vocabulary, params.get("b"),
                    params.get("Vc"), params.get("word_class"))
        if novel is not None:
            model.novel = novel
            model._never = np.union1d(model._never, novel.ids)  # sampled like UNKNOWN_TOKEN: never
        return model

    # The trigram counter of the model's training split and the network's weight fitted on its
    # validation split, when the checkpoint holds both; ``mixed()`` needs them.
    counter: KneserNeyModel | None = None
    counter_weight: float | None = None
    # (counter, weight) on the copy that ``mixed()`` returns: every answer mixes the two.
    mixture: tuple | None = None

    @classmethod
    def from_checkpoint(cls, path) -> "LanguageModel":
        return cls.of_checkpoint(load_checkpoint(path), path)

    @classmethod
    def of_checkpoint(cls, checkpoint, path) -> "LanguageModel":
        """From a loaded Checkpoint (``path``: where it came from, for messages)."""
        try:
            novel = NovelWords.from_json(checkpoint.state.get("novel_words"),
                                         len(checkpoint.vocabulary))
        except ValueError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        model = cls.from_params(checkpoint.model_params, checkpoint.vocabulary, novel)
        model._read_counter(checkpoint.state, path)
        return model

    def _read_counter(self, state: dict, path) -> None:
        arrays = state.get("trigram_arrays") or {}
        weight = ((state.get("baselines") or {}).get("mixture") or {}).get("rnn_weight")
        if not arrays or weight is None:
            return
        try:
            counter = KneserNeyModel.from_arrays(arrays)
        except ValueError as exc:  # the network still works; only mixing is not offered
            log.warning("%s: the trigram counter cannot be read (%s)", path, exc)
            return
        if counter.vocabulary_size == self.word_dim and 0.0 <= weight <= 1.0:
            self.counter, self.counter_weight = counter, float(weight)

    def mixed(self) -> "LanguageModel":
        """This model with its trigram counter mixed in by the weight fitted on validation."""
        if self.counter is None:
            raise ValueError("this model has no trigram counter to mix with: only runs that "
                             "finished here with a validation split keep one")
        mixed = copy.copy(self)
        mixed.mixture = (self.counter, self.counter_weight)
        return mixed

    # --- the forward pass, mixed ----------------------------------------------------------------

    def _next_log_probs(self, states: np.ndarray, histories: list[list[int]]) -> np.ndarray:
        """log P(w | history) of every word, (n, word_dim): the network's for states (n,
        state_dim), mixed with the counter's for ``histories`` (ids read, SENTENCE_START first)
        when this model is ``mixed()``."""
        logp = self._log_probs(states)
        if self.mixture is None:
            return logp
        counter, weight = self.mixture
        counted = np.stack([counter.next_word_log_probs(h) for h in histories])  # (n, word_dim)
        return mixed_log_probs(logp, counted, weight)

    # --- sampling -------------------------------------------------------------------------------

    @staticmethod
    def _draw(cdf: np.ndarray, u: float) -> int:
        """The first index whose cumulative mass exceeds u, so zero-probability words are never hit."""
        x = int(np.searchsorted(cdf, u, side="right"))
        # u can round up to the total; then take the last word that has any probability.
        return x if x < len(cdf) else int(np.searchsorted(cdf, cdf[-1], side="left"))

    def _sample(self, s, rng, history, temperature, top_k, min_length, max_length):
        """Sample continuations from states s (n, state_dim) reached by reading ``history`` (ids,
        SENTENCE_START first); return [(word ids, ended)] per row."""
        n, n_words = s.shape[0], len(history) - 1
        out = [[] for _ in range(n)]
        ended = np.zeros(n, dtype=bool)
        for step in range(max_length):
            never = list(self._never) + ([self.end_index] if n_words + step < min_length else [])
            if self._classes is not None and temperature == 1.0 and top_k is None \
                    and self.mixture is None:
                x = self._classes.draw(s[:, : self.hidden_dim], rng, never, self._draw)
                ended, s = self._append(out, ended, x, s)
                if ended.all():
                    break
                continue
            # (n, word_dim); log P(w) samples like logits: softmax(log P / T)
            if self.mixture is not None:
                logits = self._next_log_probs(s, [history + words for words in out])
            else:
                logits = self._logits(s) if self._classes is None else self._log_probs(s)
            logits = logits / temperature
            logits[:, never] = -np.inf
            if top_k is not None and top_k < self.word_dim:
                keep = np.argpartition(logits, -top_k, axis=1)[:, -top_k:]  # (n, top_k)
                kept = np.full_like(logits, -np.inf)
                np.put_along_axis(kept, keep, np.take_along_axis(logits, keep, axis=1), axis=1)
                logits = kept
            p = np.exp(logits - logits.max(axis=1, keepdims=True))  # (n, word_dim)
            cdf = np.cumsum(p, axis=1)  # (n, word_dim)
            u = rng.random(n) * cdf[:, -1]
            x = np.array([self._draw(cdf[i], u[i]) for i in range(n)])
            ended, s = self._append(out, ended, x, s)
            if ended.all():
                break
        return [(words, bool(e)) for words, e in zip(out, ended)]

    def _append(self, out, ended, x, s):
        """Add the drawn words x (n,) to the rows not yet ended; return (ended, the next states)."""
        ended = ended.copy()
        for i in np.flatnonzero(~ended):
            if x[i] == self.end_index:
                ended[i] = True
            else:
                out[i].append(int(x[i]))
        return ended, (s if ended.all() else self._step(s, x))

    def generate_sentence(self, rng: np.random.Generator, min_length: int = 5,
                          max_length: int = 50) -> list[str]:
        """One sentence from SENTENCE_START, as a list of words without the markers."""
        check_int("max_length", max_length, 1, 10_000)
        check_int("min_length", min_length, 0, max_length)
        s = self._states([])[-1:]  # (1, state_dim)
        (ids, _), = self._sample(s, rng, [self.start_index], 1.0, None, min_length, max_length)
        return self.vocabulary.decode(ids)

    def continue_prefix(self, text: str, num_samples: int = 3, temperature: float = 1.0,
                        top_k: int | None = None, max_length: int = 20, seed: int | None = None) -> dict:
        """Continue the words of ``text`` ``num_samples`` times until SENTENCE_END or max_length."""
        check_int("num_samples", num_samples, 1, 100)
        check_int("max_length", max_length, 1, 1000)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not 0 < temperature <= 10:
            raise ValueError(f"temperature must be more than 0 and at most 10, not {temperature!r}")
        if top_k is not None:
            check_int("top_k", top_k, 1, self.word_dim)
        if seed is not None:
            check_int("seed", seed, 0, 2**63 - 1)
        tokens, ids, unknown_words = self._encode(text)
        rng = np.random.default_rng(seed)
        s = np.repeat(self._states(ids)[-1:], num_samples, axis=0)  # (num_samples, state_dim)
        # An empty prefix must not end at once: a sentence has at least one word.
        samples = self._sample(s, rng, [self.start_index, *ids], float(temperature), top_k, 1,
                               max_length)
        out = []
        for word_ids, ended in samples:
            words = self.vocabulary.decode(word_ids)
            out.append({"words": words, "text": detokenize(tokens + words), "ended": ended})
        return {"prefix_tokens": tokens, "unknown_words": unknown_words, "samples": out}

    # --- probabilities --------------------------------------------------------------------------

    def next_words(self, text: str, k: int = 10) -> dict:
        """The ``k`` most probable next words after ``text``, with their probabilities."""
        check_int("k", k, 1, self.word_dim)
        tokens, ids, unknown_words = self._encode(text)
        logp = self._next_log_probs(self._states(ids)[-1:], [[self.start_index, *ids]])[0]
        logp[self.start_index] = -np.inf
        top = np.argsort(-logp, kind="stable")[:k]
        candidates = [{"word": self.vocabulary.index_to_word[i], "probability": float(np.exp(logp[i]))}
                      for i in top if np.isfinite(logp[i])]
        return {"prefix_tokens": tokens, "unknown_words": unknown_words, "candidates": candidates}

    def score_sentence(self, text: str) -> dict:
        """Log-probability (natural log) of a whole sentence, SENTENCE_END included, per-word detail."""
        tokens, ids, unknown_words = self._encode(text)
        if not tokens:
            raise ValueError("there are no words to score; type a sentence")
        targets = list(ids) + [self.end_index]  # (T,)
        histories = [[self.start_index, *ids[:t]] for t in range(len(targets))]
        logp = self._next_log_probs(self._states(ids), histories)  # (T, word_dim)
        word_logp = logp[np.arange(len(targets)), targets]  # (T,)
        total = float(word_logp.sum())
        unknown = self.vocabulary.unknown_index
        surprisal = [{"word": w, "bits": float(-lp / LN2), "unknown": i == unknown}
                     for w, i, lp in zip(tokens + [SENTENCE_END], targets, word_logp)]
        return {"text": text, "tokens": tokens, "unknown_words": unknown_words,
                "log_probability": total, "perplexity": float(math.exp(-total / len(targets))),
                "surprisal": surprisal}

    def sentence_log_probs(self, sentence) -> np.ndarray:
        """log P of each token of a corpus sentence's ``s[1:]`` (ids ``[START, ..., END]``)."""
        ids = np.asarray(sentence)
        histories = [list(ids[: t + 1]) for t in range(len(ids) - 1)]
        logp = self._next_log_probs(self._states(list(ids[1:-1])), histories)  # (T, word_dim)
        return logp[np.arange(len(ids) - 1), ids[1:]]  # (T,)

    def rank_sentences(self, texts: list[str]) -> list[dict]:
        """Score each text; most probable (highest log-probability) first."""
        if isinstance(texts, str):
            raise ValueError("give a list of sentences, not a single string")
        scores = []
        for number, text in enumerate(texts, start=1):
            try:
                scores.append(self.score_sentence(text))
            except ValueError as exc:
                raise ValueError(f"sentence {number}: {exc}") from None
        return sorted(scores, key=lambda d: -d["log_probability"])
