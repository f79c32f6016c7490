"""The vocabulary: special tokens, word <-> index maps, and how a word list is chosen.

As in the tutorial, the vocabulary is the ``vocabulary_size - 1`` most frequent words followed by
UNKNOWN_TOKEN, so UNKNOWN_TOKEN is always the last index. SENTENCE_START and SENTENCE_END are
ordinary words that every sentence contains, so they are always kept.

A vocabulary also remembers how text became its words, so that the playground reads a prompt the
way the corpus was read: ``text_options`` (``rnncore.text.TextOptions.to_dict()``; empty for the
tutorial's) and ``unknown_spelling``, the way the corpus wrote an unknown word (``<unk>``), which
``encode`` reads as UNKNOWN_TOKEN and pages show instead of it. Without either, the JSON form is
the tutorial's plain word list.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

SENTENCE_START = "SENTENCE_START"
SENTENCE_END = "SENTENCE_END"
UNKNOWN_TOKEN = "UNKNOWN_TOKEN"


@dataclass(frozen=True)
class Vocabulary:
    """An ordered word list; the index of a word is its position."""

    index_to_word: tuple[str, ...]
    unknown_spelling: str | None = None  # how the corpus wrote UNKNOWN_TOKEN ("<unk>"), if it did
    text_options: dict = field(default_factory=dict)  # rnncore.text.TextOptions as a dict
    word_to_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if len(set(self.index_to_word)) != len(self.index_to_word):
            raise ValueError("vocabulary words must be unique")
        if UNKNOWN_TOKEN not in self.index_to_word:
            raise ValueError(f"vocabulary must contain {UNKNOWN_TOKEN}")
        object.__setattr__(self, "word_to_index", {w: i for i, w in enumerate(self.index_to_word)})

    @classmethod
    def from_counts(cls, counts: Counter, vocabulary_size: int, **details) -> "Vocabulary":
        """Keep the ``vocabulary_size - 1`` most common words, then UNKNOWN_TOKEN.

        Ties are broken by the word itself so the same corpus always gives the same vocabulary
        (Counter.most_common keeps insertion order on ties, which depends on the corpus order).
        """
        if vocabulary_size < 2:
            raise ValueError("vocabulary_size must be at least 2")
        ranked = sorted((w for w in counts if w != UNKNOWN_TOKEN), key=lambda w: (-counts[w], w))
        return cls(tuple(ranked[: vocabulary_size - 1]) + (UNKNOWN_TOKEN,), **details)

    def truncated(self, vocabulary_size: int) -> "Vocabulary":
        """The ``vocabulary_size - 1`` most frequent of these words, then UNKNOWN_TOKEN.

        The words are in frequency order, so this is what ``from_counts`` gives for the smaller
        size on the same counts.
        """
        if vocabulary_size < 2:
            raise ValueError("vocabulary_size must be at least 2")
        words = self.index_to_word[:-1][: vocabulary_size - 1]
        return Vocabulary(words + (UNKNOWN_TOKEN,), self.unknown_spelling, dict(self.text_options))

    def __len__(self) -> int:
        return len(self.index_to_word)

    def __contains__(self, word: str) -> bool:
        return word in self.word_to_index

    @property
    def unknown_index(self) -> int:
        return self.word_to_index[UNKNOWN_TOKEN]

    def encode(self, words: Iterable[str]) -> tuple[list[int], list[str]]:
        """Map words to indices; return the indices and the words that became UNKNOWN_TOKEN."""
        unknown = self.unknown_index
        ids, unknown_words = [], []
        for w in words:
            i = self.word_to_index.get(w, unknown)
            if i == unknown and w != UNKNOWN_TOKEN and w != self.unknown_spelling:
                unknown_words.append(w)
            ids.append(i)
        return ids, unknown_words

    def decode(self, ids: Sequence[int]) -> list[str]:
        return [self.index_to_word[int(i)] for i in ids]

    def written(self, word: str) -> str:
        """``word`` as the corpus wrote it: UNKNOWN_TOKEN as ``unknown_spelling`` when there is one."""
        return self.unknown_spelling if word == UNKNOWN_TOKEN and self.unknown_spelling else word

    def to_json(self) -> str:
        """A JSON list of words; an object ``{"index_to_word", ...}`` when there is more to say."""
        if self.unknown_spelling is None and not self.text_options:
            return json.dumps(list(self.index_to_word), ensure_ascii=False)
        return json.dumps({"index_to_word": list(self.index_to_word),
                           "unknown_spelling": self.unknown_spelling,
                           "text_options": self.text_options}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        data = json.loads(text)
        details = {}
        if isinstance(data, dict):
            details = {"unknown_spelling": data.get("unknown_spelling"),
                       "text_options": data.get("text_options") or {}}
            data = data.get("index_to_word")
        if not isinstance(data, list) or not all(isinstance(w, str) for w in data):
            raise ValueError("a vocabulary file holds a JSON list of words")
        if not isinstance(details.get("unknown_spelling") or "", str) or not isinstance(
                details.get("text_options", {}), dict):
            raise ValueError("a vocabulary's unknown_spelling is text and its text_options an object")
        return cls(tuple(data), **details)
