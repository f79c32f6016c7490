"""The preprocessing report's figures: the tutorial's numbers, vocabulary candidates, histogram.

Pure functions of the counts and arrays ``rnncore.preprocess`` builds, so the report of a corpus
re-indexed at a smaller vocabulary is computed by the same code as the first one.

- ``vocabulary_candidates``: for each candidate size, the vocabulary it really gives (a corpus
  may have fewer words), the share of the text's words it keeps (sentence markers left out) and
  the share of all tokens, markers included as in the tutorial's count, that become UNKNOWN_TOKEN
  (the corpus's own ``<unk>`` included).
- ``length_histogram``: sentence lengths in bins of one width, up to the 99th percentile; much
  longer sentences are one last bin marked ``"tail": true``, which pages say in words rather than
  draw (so no bar is wider than the others).
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

VOCABULARY_CANDIDATES = (2000, 4000, 8000, 16000)  # sizes the report compares
HISTOGRAM_MAX_BINS = 20
HISTOGRAM_WIDTHS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000)


def max_vocabulary_size(word_counts: Counter) -> int:
    """The largest vocabulary the corpus can give: every word, then UNKNOWN_TOKEN."""
    return sum(1 for w in word_counts if w != UNKNOWN_TOKEN) + 1


def vocabulary_candidates(word_counts: Counter, sentences: int,
                          sizes: tuple[int, ...] = VOCABULARY_CANDIDATES) -> list[dict]:
    """``[{"size", "vocabulary_size", "coverage", "unknown_share", "least_count", "all_words"}]``.

    ``size`` is the size asked for, ``vocabulary_size`` what it gives; sizes that give the same
    vocabulary (all the corpus's words) are listed once.
    """
    ranked = sorted((c for w, c in word_counts.items() if w != UNKNOWN_TOKEN), reverse=True)
    kept = np.cumsum([0] + ranked)  # kept[k]: tokens of the k most frequent words
    total = sum(word_counts.values())
    words_total = total - 2 * sentences  # the markers are in every sentence, so always kept
    out, seen = [], set()
    for size in sorted(sizes):
        k = min(size - 1, len(ranked))
        if k + 1 in seen:
            continue
        seen.add(k + 1)
        out.append({
            "size": size,
            "vocabulary_size": k + 1,
            "coverage": float((kept[k] - 2 * sentences) / words_total) if words_total else 1.0,
            "unknown_share": float((total - kept[k]) / total) if total else 0.0,
            "least_count": int(ranked[k - 1]) if k else 0,
            "all_words": k == len(ranked),
        })
    return out


def length_histogram(lengths: np.ndarray) -> list[dict]:
    """Sentence lengths in words (markers not counted) as ``[{"lo", "hi", "count"}]``.

    Bins are ``width`` words wide from 1 (``lo`` and ``hi`` inclusive), the width the smallest of
    HISTOGRAM_WIDTHS that covers the 99th percentile in HISTOGRAM_MAX_BINS bins. Sentences
    longer than that, by more than three bins, make one more bin, ``{"lo", "hi": longest,
    "count", "tail": True}``.
    """
    words = np.asarray(lengths) - 2  # (sentences,)
    if not len(words):
        return []
    longest = int(words.max())
    p99 = max(1, int(np.ceil(np.percentile(words, 99))))
    width = next((w for w in HISTOGRAM_WIDTHS if math.ceil(p99 / w) <= HISTOGRAM_MAX_BINS),
                 HISTOGRAM_WIDTHS[-1])
    top = min(longest, math.ceil(p99 / width) * width)  # last length drawn in a full bin
    if longest - top <= 3 * width:  # a short tail is drawn in full bins too
        top = longest
    n_bins = math.ceil(top / width)
    counts = np.bincount((np.clip(words, 1, None) - 1) // width, minlength=n_bins + 1)
    bins = [{"lo": i * width + 1, "hi": (i + 1) * width, "count": int(counts[i])}
            for i in range(n_bins)]
    longer = int((words > n_bins * width).sum())
    if longer:
        bins.append({"lo": n_bins * width + 1, "hi": longest, "count": longer, "tail": True})
    return bins


def tutorial_figures(vocabulary: Vocabulary, word_counts: Counter, final: np.ndarray,
                     example: list[str]) -> dict:
    """The figures that depend on the vocabulary: its size, rarest word, example, UNKNOWN share."""
    least = vocabulary.index_to_word[-2]
    sentence, *words = example
    example_ids, _ = vocabulary.encode([SENTENCE_START, *words, SENTENCE_END])
    return {
        "vocabulary_size": len(vocabulary),
        "least_frequent_word": least,
        "least_frequent_count": int(word_counts[least]),
        "example_sentence": f"{SENTENCE_START} {sentence} {SENTENCE_END}",
        "example_tokens": vocabulary.decode(example_ids),
        "unknown_share": float(np.count_nonzero(final == vocabulary.unknown_index) / len(final)),
    }


def corpus_figures(word_counts: Counter, lengths: np.ndarray,
                   unknown_spelling: str | None) -> dict:
    """The figures of the text itself, whatever the vocabulary."""
    tokens = int(lengths.sum())
    return {
        "sentences": int(len(lengths)),
        "unique_words": len(word_counts),
        "tokens": tokens,
        "length_histogram": length_histogram(lengths),
        "max_vocabulary_size": max_vocabulary_size(word_counts),
        "vocabulary_candidates": vocabulary_candidates(word_counts, len(lengths)),
        "unknown_spelling": unknown_spelling,
        "marked_unknown_share": float(word_counts.get(UNKNOWN_TOKEN, 0) / tokens) if tokens
        else 0.0,
    }
