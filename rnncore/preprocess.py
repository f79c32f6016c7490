"""The tutorial's preprocessing: CSV corpus in, sentences of word indices and a report out.

As in "RNN part 2": split each text into sentences, tokenize each sentence into lowercased
words, wrap it in SENTENCE_START / SENTENCE_END, count the words, keep the most frequent as the
vocabulary (the rest become UNKNOWN_TOKEN), and map every sentence to indices. A training example
is then ``x = s[:-1]``, ``y = s[1:]``. ``rnncore.text.TextOptions`` changes the first steps for a
corpus prepared elsewhere: one sentence per row, words split on spaces, case kept.

The vocabulary is one decision with numbers to choose by: the report lists, for a few candidate
sizes, the share of the text's words each keeps and the share that becomes UNKNOWN_TOKEN. The
words are kept in frequency order, so a smaller vocabulary is a re-indexing of the same file
(``PreprocessedCorpus.with_vocabulary_size``), not a second pass over the text.

The file is read once. Each word is given a provisional id the first time it is seen, so the token
stream is kept as one compact int32 array rather than as strings; counting and the final mapping to
vocabulary indices are array operations on it. Tokenization (the slow part: about 0.2 M tokens/s
per core) can run in worker processes over chunks of texts; chunks are merged in file order, so the
result is identical to the serial path.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from array import array
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from rnncore.corpus import CorpusReader
from rnncore.corpus_report import corpus_figures, tutorial_figures
from rnncore.errors import Cancelled, CorpusError
from rnncore.files import atomic_write, write_npz
from rnncore.text import SentenceSplitter, TextOptions, split_words, splitter_for
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, Vocabulary

log = logging.getLogger(__name__)

CHUNK_CHARS = 250_000  # text per unit of tokenization work (about 0.3 s of one core)
PARALLEL_MIN_BYTES = 8_000_000  # smaller files are tokenized in this process
MAX_AUTO_WORKERS = 2  # processes used when ``workers`` is None and the file is large
PROGRESS_INTERVAL = 0.25  # seconds between progress calls
EXAMPLE_WORDS = (5, 30)  # the report's example is the first sentence with this many words


@dataclass
class _Chunk:
    """Tokenized texts: local word list (first-seen order), token ids into it, sentence lengths."""

    words: list[str]
    ids: bytes  # int32 ids into ``words``, markers included, all sentences end to end
    lengths: bytes  # int32 tokens per sentence, markers included
    example: list[str] | None  # [sentence text, *its words]: the first sentence ...
    example_fits: bool  # ... with EXAMPLE_WORDS words, if there was one
    unknown_spellings: Counter  # how the texts wrote the unknown words that became UNKNOWN_TOKEN


def _tokenize_chunk(splitter: SentenceSplitter, options: TextOptions, texts: list[str]) -> _Chunk:
    index = {SENTENCE_START: 0, SENTENCE_END: 1}
    ids, lengths, example, fits = array("i"), array("i"), None, False
    spellings = Counter()
    for text in texts:
        for sentence in splitter.split(text):
            words = split_words(sentence, options, spellings)
            if not words:
                continue
            ids.append(0)
            ids.extend([index.setdefault(w, len(index)) for w in words])
            ids.append(1)
            lengths.append(len(words) + 2)
            if not fits:
                fits = EXAMPLE_WORDS[0] <= len(words) <= EXAMPLE_WORDS[1]
                shown = sentence.lower() if options.lowercase else sentence
                example = [shown, *words] if fits or example is None else example
    return _Chunk(list(index), ids.tobytes(), lengths.tobytes(), example, fits, spellings)


_worker_setup: tuple[SentenceSplitter, TextOptions] | None = None


def _init_worker(splitter: SentenceSplitter, options: TextOptions) -> None:
    global _worker_setup
    _worker_setup = (splitter, options)


def _tokenize_in_worker(texts: list[str]) -> _Chunk:
    return _tokenize_chunk(*_worker_setup, texts)


def _text_chunks(reader: CorpusReader, chunk_chars: int) -> Iterator[list[str]]:
    chunk, size = [], 0
    for text in reader:
        chunk.append(text)
        size += len(text)
        if size >= chunk_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _chunk_results(reader, splitter, options, workers, chunk_chars) -> Iterator[_Chunk]:
    """Tokenized chunks in file order, from this process or from ``workers`` processes."""
    chunks = _text_chunks(reader, chunk_chars)
    if workers <= 1:
        yield from (_tokenize_chunk(splitter, options, texts) for texts in chunks)
        return
    # forkserver: forking a process that runs threads (a web server, a Celery worker) is unsafe
    context = multiprocessing.get_context("forkserver")
    try:
        pool = context.Pool(workers, _init_worker, (splitter, options))
    except (AssertionError, OSError) as e:  # e.g. a daemonic process may not have children
        log.warning("cannot start tokenizing processes (%s); tokenizing in this process", e)
        yield from (_tokenize_chunk(splitter, options, texts) for texts in chunks)
        return
    with pool:
        pending = deque()  # bounded, so the file is never queued up in memory ahead of the workers
        for texts in chunks:
            pending.append(pool.apply_async(_tokenize_in_worker, (texts,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


class _Progress:
    """Calls ``progress`` at most every PROGRESS_INTERVAL seconds (always when ``force``)."""

    def __init__(self, progress: Callable[[float, str], None] | None):
        self.progress, self.last = progress, float("-inf")

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress is not None and (force or now - self.last >= PROGRESS_INTERVAL):
            self.last = now
            self.progress(min(max(fraction, 0.0), 1.0), message)


@dataclass
class _Tokens:
    words: list[str]  # provisional id -> word, in first-seen order
    ids: array  # int32 provisional ids of every token of every sentence
    lengths: array  # int32 tokens per sentence
    example: list[str]  # [sentence text, *its words] to show in the report
    unknown_spellings: Counter  # the corpus's own unknown-word markers, as written


def _tokenize_corpus(reader, splitter, options, workers, chunk_chars, report,
                     should_stop) -> _Tokens:
    word_index = {SENTENCE_START: 0, SENTENCE_END: 1}
    ids, lengths, example, fits = array("i"), array("i"), None, False
    spellings = Counter()
    for chunk in _chunk_results(reader, splitter, options, workers, chunk_chars):
        if should_stop is not None and should_stop():
            raise Cancelled("preprocessing was cancelled")
        to_global = np.fromiter((word_index.setdefault(w, len(word_index)) for w in chunk.words),
                                dtype=np.int32, count=len(chunk.words))  # (chunk words,)
        ids.frombytes(to_global[np.frombuffer(chunk.ids, dtype=np.int32)].tobytes())
        lengths.frombytes(chunk.lengths)
        spellings.update(chunk.unknown_spellings)
        if example is None or (chunk.example_fits and not fits):
            example, fits = chunk.example, chunk.example_fits
        report(0.9 * reader.bytes_read / max(reader.size, 1),
               f"tokenized {len(lengths):,} sentences")
    return _Tokens(list(word_index), ids, lengths, example, spellings)


def _auto_workers(size: int) -> int:
    if size < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0))))


def preprocess_csv(path, vocabulary_size: int = 8000, column: str | None = None,
                   progress: Callable[[float, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   workers: int | None = None,
                   chunk_chars: int = CHUNK_CHARS,
                   options: TextOptions | None = None) -> "PreprocessedCorpus":
    """Read, tokenize and index a CSV corpus; see the module docstring and docs/rnncore-api.md.

    ``workers``: tokenizing processes; None picks 1 for files under PARALLEL_MIN_BYTES, else up
    to MAX_AUTO_WORKERS. The result does not depend on ``workers`` or ``chunk_chars``. Worker
    processes start through multiprocessing's forkserver, so a script that calls this with more
    than one worker needs the usual ``if __name__ == "__main__":`` guard.
    """
    options = options or TextOptions()
    report = _Progress(progress)
    report(0.0, "reading the corpus", force=True)
    with CorpusReader(path, column) as sample_reader:
        splitter = splitter_for(options, sample_reader)
    with CorpusReader(path, column) as reader:
        if workers is None:
            workers = _auto_workers(reader.size)
        tokens = _tokenize_corpus(reader, splitter, options, workers, chunk_chars, report,
                                  should_stop)
        text_column = reader.text_column
    if not tokens.lengths:
        raise CorpusError(f"Column {text_column!r} holds no sentences.")
    if should_stop is not None and should_stop():
        raise Cancelled("preprocessing was cancelled")
    report(0.92, "building the vocabulary", force=True)
    corpus = _index(tokens, vocabulary_size, options)
    corpus.report.update(text_column=text_column, sentence_splitter=splitter.kind,
                         sentence_splitter_source=splitter.source, text_options=options.to_dict())
    report(1.0, f"{len(corpus.sentences):,} sentences, {corpus.report['tokens']:,} tokens",
           force=True)
    return corpus


def _index(tokens: _Tokens, vocabulary_size: int, options: TextOptions) -> "PreprocessedCorpus":
    """Count words, choose the vocabulary, and map provisional ids to vocabulary indices."""
    provisional = np.frombuffer(tokens.ids, dtype=np.int32)  # (tokens,) shares the array's memory
    counts = np.bincount(provisional, minlength=len(tokens.words))  # (unique words,)
    word_counts = Counter(dict(zip(tokens.words, counts.tolist())))
    spelling = tokens.unknown_spellings.most_common(1)[0][0] if tokens.unknown_spellings else None
    vocabulary = Vocabulary.from_counts(
        word_counts, vocabulary_size, unknown_spelling=spelling,
        text_options=options.to_dict() if options != TextOptions() else {})
    to_final = np.full(len(tokens.words), vocabulary.unknown_index, dtype=np.int32)
    for i, word in enumerate(tokens.words):
        to_final[i] = vocabulary.word_to_index.get(word, vocabulary.unknown_index)
    final = np.empty_like(provisional)  # (tokens,)
    for start in range(0, len(final), 1 << 20):  # in slices, to keep one temporary small
        final[start:start + (1 << 20)] = to_final[provisional[start:start + (1 << 20)]]
    del provisional
    tokens.ids = None  # the provisional ids are no longer needed
    lengths = np.frombuffer(tokens.lengths, dtype=np.int32)  # (sentences,)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])  # (sentences + 1,)
    sentences = np.split(final, offsets[1:-1])  # views into ``final``
    report = corpus_figures(word_counts, lengths, spelling)
    report.update(tutorial_figures(vocabulary, word_counts, final, tokens.example))
    return PreprocessedCorpus(vocabulary, sentences, report)


@dataclass
class PreprocessedCorpus:
    """A vocabulary, every sentence as int32 indices ``[START, ..., END]``, and the report."""

    vocabulary: Vocabulary
    sentences: list[np.ndarray]
    report: dict

    @property
    def X(self) -> list[np.ndarray]:
        return [s[:-1] for s in self.sentences]

    @property
    def Y(self) -> list[np.ndarray]:
        return [s[1:] for s in self.sentences]

    def can_reindex(self, vocabulary_size: int) -> bool:
        """Whether ``with_vocabulary_size`` can give this size without reading the text again."""
        return vocabulary_size <= len(self.vocabulary) or len(self.vocabulary) >= int(
            self.report.get("max_vocabulary_size", float("inf")))

    def with_vocabulary_size(self, vocabulary_size: int) -> "PreprocessedCorpus":
        """The same sentences over the ``vocabulary_size - 1`` most frequent words.

        Exact when ``can_reindex``: the words are in frequency order and every word a smaller
        vocabulary drops has an index at or above its UNKNOWN_TOKEN's, so ``min(i, new unknown)``
        re-indexes the tokens. ValueError when the size needs words this file does not keep.
        """
        if not self.can_reindex(vocabulary_size):
            raise ValueError(f"a vocabulary of {vocabulary_size} needs the text again; this "
                             f"corpus keeps {len(self.vocabulary)} words")
        if vocabulary_size >= len(self.vocabulary):
            return self
        vocabulary = self.vocabulary.truncated(vocabulary_size)
        flat = np.concatenate(self.sentences)  # (tokens,)
        counts = np.bincount(flat, minlength=len(self.vocabulary))  # (old vocabulary,)
        word_counts = Counter(dict(zip(self.vocabulary.index_to_word, counts.tolist())))
        final = np.minimum(flat, np.int32(vocabulary.unknown_index))  # (tokens,)
        lengths = np.array([len(s) for s in self.sentences], dtype=np.int64)  # (sentences,)
        report = dict(self.report)
        example = self.report["example_sentence"].split(" ", 1)[1].rsplit(" ", 1)[0]
        report.update(tutorial_figures(vocabulary, word_counts, final,
                                       [example, *self.report["example_tokens"][1:-1]]))
        return PreprocessedCorpus(vocabulary, np.split(final, np.cumsum(lengths)[:-1]), report)

    def save(self, path) -> None:
        """Write ``.npz``: flat tokens, sentence offsets, vocabulary and report as UTF-8 JSON."""
        lengths = np.array([len(s) for s in self.sentences], dtype=np.int64)  # (sentences,)
        offsets = np.concatenate([[0], np.cumsum(lengths)])  # (sentences + 1,)
        tokens = (np.concatenate(self.sentences) if self.sentences else np.zeros(0)).astype(np.int32)
        arrays = {"tokens": tokens, "offsets": offsets, "vocabulary": _utf8(self.vocabulary.to_json()),
                  "report": _utf8(json.dumps(self.report))}
        atomic_write(Path(path), lambda f: write_npz(f, arrays, {}))

    @classmethod
    def load(cls, path) -> "PreprocessedCorpus":
        with np.load(path, allow_pickle=False) as data:
            tokens, offsets = data["tokens"], data["offsets"]
            vocabulary = Vocabulary.from_json(data["vocabulary"].tobytes().decode("utf-8"))
            report = json.loads(data["report"].tobytes().decode("utf-8"))
        if tokens.dtype != np.int32 or offsets[0] != 0 or offsets[-1] != len(tokens) or (
                np.diff(offsets) < 0).any() or (len(tokens) and not 0 <= tokens.min() <= tokens.max() < len(vocabulary)):
            raise ValueError(f"{path} is not a consistent preprocessed corpus")
        return cls(vocabulary, np.split(tokens, offsets[1:-1]), report)


def _utf8(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)  # (bytes,)
