"""Did the model copy? The longest run of words a generated sample shares with the corpus.

At preprocessing every run of N words inside a sentence (no sentence markers, no UNKNOWN_TOKEN)
is hashed (a 64-bit polynomial of the word ids) and the hashes are sorted, with where each run
starts in the corpus's token stream. A sample's own runs of N words are looked up by binary
search and each hit is extended word by word against the corpus's tokens, which also rules out
hash collisions. Runs shorter than N are not reported: short phrases ("of the") are shared by
any two texts. 20 words cost well under a millisecond plus at most MAX_HITS extensions per run.

The index is one ``.npz``: the hashes, their positions, the token stream, the sentence offsets
and the vocabulary, so it answers on its own (``allow_pickle=False``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnncore.files import atomic_write, write_npz
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

N = 4  # words in the shortest run worth reporting
MAX_HITS = 64  # corpus occurrences of one run that are extended (common phrases repeat a lot)
_PRIME = np.uint64(1_000_003)


def _hashes(tokens: np.ndarray, n: int) -> np.ndarray:
    """Hash of every window of ``n`` tokens: (len(tokens) - n + 1,) uint64 (wrapping)."""
    windows = len(tokens) - n + 1
    out = np.zeros(max(windows, 0), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            out = out * _PRIME + tokens[k:k + windows].astype(np.uint64) + np.uint64(1)
    return out


@dataclass
class NgramIndex:
    """Sorted run hashes with their start positions in ``tokens`` (the corpus, sentence after
    sentence, markers included); ``offsets[i]`` is where sentence i starts."""

    hashes: np.ndarray  # (R,) uint64, sorted
    starts: np.ndarray  # (R,) int64, where each run starts in tokens
    tokens: np.ndarray  # (T,) int32
    offsets: np.ndarray  # (S + 1,) int64
    vocabulary: Vocabulary
    n: int = N

    @classmethod
    def build(cls, sentences, vocabulary: Vocabulary, n: int = N) -> "NgramIndex":
        """From a corpus's sentences (int arrays [START, ..., END], as PreprocessedCorpus holds)."""
        lengths = np.array([len(s) for s in sentences], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        tokens = (np.concatenate(sentences).astype(np.int32) if len(sentences)
                  else np.zeros(0, np.int32))
        hashes = _hashes(tokens, n)
        index = vocabulary.word_to_index
        bad = np.isin(tokens, [index[SENTENCE_START], index[SENTENCE_END], index[UNKNOWN_TOKEN]])
        # A window is kept when none of its n tokens is a marker or UNKNOWN_TOKEN (so it cannot
        # cross from one sentence into the next either).
        blocked = np.convolve(bad.astype(np.int32), np.ones(n, np.int32), "valid") > 0
        starts = np.flatnonzero(~blocked[:len(hashes)])
        order = np.argsort(hashes[starts], kind="stable")
        return cls(hashes[starts][order], starts[order].astype(np.int64), tokens, offsets,
                   vocabulary, n)

    def save(self, path) -> None:
        atomic_write(Path(path), lambda f: write_npz(
            f, {"hashes": self.hashes, "starts": self.starts, "tokens": self.tokens,
                "offsets": self.offsets, "n": np.array(self.n)},
            {"vocabulary": self.vocabulary.to_json()}))

    @classmethod
    def load(cls, path) -> "NgramIndex":
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            return cls(data["hashes"], data["starts"], data["tokens"], data["offsets"],
                       Vocabulary.from_json(str(data["vocabulary"])), int(data["n"]))

    def sentence_of(self, position: int) -> int:
        return int(np.searchsorted(self.offsets, position, side="right")) - 1

    def longest_run(self, words: list[str]) -> dict | None:
        """The longest run of ``words`` (n or more in a row) found in the corpus: dict(start
        (index into ``words``), length, sentence (its index in the corpus), sentence_words (that
        sentence without markers), at (where the run starts in them)); None when none is."""
        ids = np.array([self.vocabulary.word_to_index.get(w, -1) for w in words], dtype=np.int64)
        if len(ids) < self.n:
            return None
        best = None
        for i, h in enumerate(_hashes(np.where(ids < 0, 0, ids), self.n)):
            if (ids[i:i + self.n] < 0).any():
                continue
            lo = int(np.searchsorted(self.hashes, h, side="left"))
            hi = int(np.searchsorted(self.hashes, h, side="right"))
            for start in self.starts[lo:min(hi, lo + MAX_HITS)]:
                length = self._extend(ids, i, int(start))
                if length >= self.n and (best is None or length > best[0]):
                    best = (length, i, int(start))
        if best is None:
            return None
        length, i, start = best
        sentence = self.sentence_of(start)
        first = int(self.offsets[sentence])
        inside = self.tokens[first + 1:int(self.offsets[sentence + 1]) - 1]  # without markers
        return {"start": i, "length": length, "sentence": sentence,
                "sentence_words": self.vocabulary.decode(inside), "at": start - first - 1}

    def _extend(self, ids: np.ndarray, i: int, start: int) -> int:
        """How many words from ids[i] on equal the corpus's tokens from ``start`` on."""
        limit = min(len(ids) - i, len(self.tokens) - start)
        same = ids[i:i + limit] == self.tokens[start:start + limit]
        return int(limit if same.all() else np.argmin(same))
