"""scripts/readme_corpus: the installed packages' descriptions as a corpus, a paragraph a row."""
import csv

from rnncore.preprocess import preprocess_csv
from scripts import readme_corpus


def test_a_description_is_split_into_paragraphs_on_one_line_each():
    description = ("Title\n\nA first paragraph that runs over\ntwo lines and is long enough to "
                   "keep.\n   \n```\nprint('a code listing that is also long enough to be kept')"
                   "\n```")
    assert readme_corpus.paragraphs(description) == [
        "A first paragraph that runs over two lines and is long enough to keep.",
        "``` print('a code listing that is also long enough to be kept') ```"]


def test_the_corpus_of_this_installation_preprocesses(tmp_path):
    path = tmp_path / "readmes.csv"
    rows = readme_corpus.write_corpus(path)
    with open(path, newline="", encoding="utf-8") as f:
        read = list(csv.DictReader(f))
    assert rows == len(read) > 100  # numpy, Flask, Celery, ... describe themselves at length
    assert all(len(row["text"]) >= readme_corpus.MIN_CHARACTERS for row in read)
    corpus = preprocess_csv(path, vocabulary_size=2000)
    assert len(corpus.sentences) > rows // 2 and len(corpus.vocabulary) == 2000
