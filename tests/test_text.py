"""rnncore.text: Punkt sentences without downloads, NLTK word tokens, the playground's prefix."""
import time

import nltk
import nltk.data
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.tokenize.punkt import PunktSentenceTokenizer

from rnncore import text
from rnncore.text import SentenceSplitter, tokenize_prefix, tokenize_words
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START

SENTENCES = [
    "Don't stop; it's \"fine\", she said.",
    "The U.S. economy grew 3.5% in 2015 (or so).",
    "Visit https://example.com/a?b=1 & tell me...",
]


@pytest.mark.parametrize("sentence", SENTENCES)
def test_words_are_nltk_word_tokens_of_the_lowercased_sentence(sentence):
    # word_tokenize with preserve_line=True skips its sentence splitting, so needs no punkt data
    assert tokenize_words(sentence) == nltk.word_tokenize(sentence.lower(), preserve_line=True)


def test_markers_survive_word_tokenization_unchanged():
    assert tokenize_words("x") == ["x"]
    assert SENTENCE_START not in tokenize_words("SENTENCE_START x")  # lowercased, so never equal
    assert SENTENCE_END.lower() in tokenize_words("sentence_end")


def _abbreviation_corpus() -> list[str]:
    names = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Thomas", "Roberts"] * 3
    places = ["market", "station", "library", "harbour", "museum", "bakery"]
    return [f"Yesterday I met Dr. {name} at the {places[i % 6]}. The {places[(i + 1) % 6]} was "
            f"busy and the {places[i % 6]} was quiet." for i, name in enumerate(names)]


def test_trained_splitter_learns_the_corpus_abbreviations():
    splitter = SentenceSplitter.train(_abbreviation_corpus())
    sample = "yesterday i met dr. smith at the market. it was sunny."
    assert splitter.kind == "trained"
    assert splitter.split(sample) == ["yesterday i met dr. smith at the market.", "it was sunny."]
    # an untrained Punkt breaks after "dr.", so the training is what made the difference
    assert len(PunktSentenceTokenizer().tokenize(sample)) == 3


def test_training_reads_only_a_bounded_sample():
    read = []

    def texts():
        for i in range(10_000):
            read.append(i)
            yield "Some words make a sentence here. " * 10

    SentenceSplitter.train(texts(), max_chars=5_000)
    assert len(read) <= 17


def test_tokenize_lowercases_splits_and_drops_empty_sentences():
    splitter = SentenceSplitter.train(_abbreviation_corpus())
    assert splitter.tokenize("It rained. Then It Stopped!") == [
        ["it", "rained", "."], ["then", "it", "stopped", "!"]]
    assert splitter.tokenize("   ") == []


@pytest.fixture
def installed_punkt_tab(tmp_path, monkeypatch):
    """A punkt_tab model in NLTK's own format on NLTK's data path, knowing "dr" as abbreviation."""
    model = tmp_path / "tokenizers" / "punkt_tab" / "english"
    model.mkdir(parents=True)
    (model / "abbrev_types.txt").write_text("dr\n")
    for name in ("collocations.tab", "sent_starters.txt", "ortho_context.tab"):
        (model / name).write_text("")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)] + nltk.data.path)
    text._pretrained_punkt.cache_clear()
    text._prefix_splitter.cache_clear()
    yield
    text._pretrained_punkt.cache_clear()
    text._prefix_splitter.cache_clear()


def test_installed_punkt_tab_is_used_without_reading_the_corpus(installed_punkt_tab):
    def texts():
        raise AssertionError("the corpus must not be read when punkt_tab is installed")
        yield

    splitter = SentenceSplitter.for_corpus(texts())
    assert splitter.kind == "punkt_tab"
    assert splitter.split("i met dr. smith. it was late.") == ["i met dr. smith.", "it was late."]
    assert tokenize_prefix("I met Dr. Smith") == ["i", "met", "dr.", "smith"]


def test_without_punkt_tab_the_corpus_trains_the_splitter(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    text._pretrained_punkt.cache_clear()
    try:
        assert SentenceSplitter.for_corpus(_abbreviation_corpus()).kind == "trained"
    finally:
        text._pretrained_punkt.cache_clear()


def test_prefix_is_lowercased_words_without_markers():
    tokens = tokenize_prefix("It was late. The man SAID \"hi\"")
    assert tokens == ["it", "was", "late", ".", "the", "man", "said", "``", "hi", "''"]


@pytest.mark.parametrize("junk", [
    "<div class='x'><a href=\"https://e.com/?q=1&r=2\">[link](http://x)</a></div>\n" * 150,
    "e.g. " * 2000, "." * 10_000, "\"'" * 5_000, "a" * 10_000, "<" * 10_000, "\u200b\ufeff" * 5000,
])
def test_prefix_handles_long_markup_quickly(junk):
    start = time.perf_counter()
    tokens = tokenize_prefix(junk[:10_000])
    assert time.perf_counter() - start < 2.0
    assert all(isinstance(t, str) and t and t == t.lower() for t in tokens)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_prefix_never_raises(text_in):
    tokens = tokenize_prefix(text_in)
    assert all(t.strip() for t in tokens)
