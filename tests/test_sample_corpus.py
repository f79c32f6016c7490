"""rnncore.sample_corpus: prose from Python's own reference manual, without its markup."""
import re

import pytest
from pydoc_data.topics import topics

from rnncore.corpus import CorpusReader
from rnncore.preprocess import preprocess_csv
from rnncore.sample_corpus import sample_paragraphs, write_sample_corpus

# reST left-overs: ``::``, backquotes, **strong**, *emphasis*, indentation, prompts, rules, tables,
# rubrics. A lone * or ** stays: it is Python's own syntax ("the syntax **identifier").
MARKUP = re.compile(
    r"::|`|\*\*\w[^*]*?\*\*|(?<![\w*])\*[A-Za-z][\w ]*(?<=\w)\*(?![\w*])|^\s|\s{2}|>>>|^[-=*~^]{3,}|\+--|-\[")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "sample.csv"
    rows = write_sample_corpus(path)
    return path, rows


def test_sample_is_a_text_csv_of_clean_paragraphs(sample):
    path, rows = sample
    with CorpusReader(path) as reader:
        assert reader.columns == ["text"]
        texts = list(reader)
    assert len(texts) == rows == len(sample_paragraphs()) > 800
    assert len(set(texts)) == len(texts)
    for text in texts:
        assert not MARKUP.search(text), text
        assert text.endswith((".", "!", "?")) and "\n" not in text


def test_sample_paragraphs_come_from_the_topics():
    words_in_topics = set(re.findall(r"[A-Za-z]{4,}", " ".join(topics.values())))
    for paragraph in sample_paragraphs()[::50]:
        assert set(re.findall(r"[A-Za-z]{4,}", paragraph)) <= words_in_topics


def test_sample_trains_a_newcomer_model(sample):
    corpus = preprocess_csv(sample[0], 8000)
    assert corpus.report["sentences"] >= 1500
    assert corpus.report["tokens"] >= 30_000
