"""Plain-text corpora (rnncore.plain_text): paragraphs become the rows of a one-column CSV."""
import csv
import textwrap
from pathlib import Path

import pytest

from rnncore.corpus import CorpusReader
from rnncore.errors import CorpusError
from rnncore.plain_text import (MAX_PARAGRAPH_LINES, as_csv, is_plain_text_name, looks_like_csv,
                                paragraphs, plain_text_to_csv, reads_as_plain_text)

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / \
    "tinyshakespeare-speeches.csv"


def write(tmp_path, data: bytes, name="corpus.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_paragraphs_are_texts_with_their_lines_joined(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfTITLE\r\n\r\n\r\nFirst line,\r\n  second line.\r\n"
                           b"\r\nLast.")
    assert list(paragraphs(path)) == ["TITLE", "First line, second line.", "Last."]


def test_a_file_without_blank_lines_is_a_text_per_line(tmp_path):
    path = write(tmp_path, b"one sentence .\nanother one , here .\n<unk> third\n")
    assert list(paragraphs(path)) == ["one sentence .", "another one , here .", "<unk> third"]


def test_a_list_longer_than_a_paragraph_is_a_text_per_line(tmp_path):
    lines = [f"headline number {i}" for i in range(MAX_PARAGRAPH_LINES + 1)]
    path = write(tmp_path, ("Headlines\n\n" + "\n".join(lines)).encode())
    assert list(paragraphs(path)) == ["Headlines"] + lines


def test_the_csv_holds_every_paragraph_once_quoted_as_needed(tmp_path):
    path = write(tmp_path, b'He said "no", twice.\n\nA, B and C.\n')
    out = tmp_path / "out.csv"
    assert plain_text_to_csv(path, out) == 2
    with CorpusReader(out) as reader:
        assert reader.columns == ["text"] and reader.text_column == "text"
        assert list(reader) == ['He said "no", twice.', "A, B and C."]


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"\n\n  \n", "empty"),
    (b"%PDF-1.7 stuff", "PDF"),
    ("ok\n\nna\u00efve\n".encode("latin-1"), "Line 3 is not UTF-8"),
    ("text".encode("utf-16"), "UTF-16"),
    (b"fine\n\nbad \x00 byte\n", "NUL"),
])
def test_what_is_not_usable_text_is_refused_in_words(tmp_path, data, words):
    with pytest.raises(CorpusError, match=words):
        plain_text_to_csv(write(tmp_path, data), tmp_path / "out.csv")


def test_only_text_names_are_converted(tmp_path):
    assert is_plain_text_name("Book.TXT") and is_plain_text_name(Path("a/b.text"))
    assert not is_plain_text_name("corpus.csv") and not is_plain_text_name(None)
    csv_file = write(tmp_path, b"text\nHello there.\n", name="c.csv")
    with as_csv(csv_file) as path:
        assert path == str(csv_file)
    with as_csv(write(tmp_path, b"Hello there.\n\nBye now.\n")) as path:
        with CorpusReader(path) as reader:
            assert list(reader) == ["Hello there.", "Bye now."]
    assert not Path(path).exists()  # the conversion was temporary


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="needs ../shared/corpora")
def test_tiny_shakespeare_as_plain_text_gives_its_speeches(tmp_path):
    """input.txt's layout (speaker on a line, wrapped verse, a blank line between speeches) reads
    back as the by-speech CSV, whose speeches are "Speaker: words" on one line (spacing aside:
    the word tokenizer reads any run of spaces as one)."""
    with open(SHAKESPEARE, newline="", encoding="utf-8") as f:
        speeches = [row[1] for row in list(csv.reader(f))[1:2001]]
    text = "".join(f"{who}:\n{textwrap.fill(words, 60, break_on_hyphens=False)}\n\n"
                   for who, _, words in (s.partition(": ") for s in speeches) if words)
    expected = [" ".join(s.split()) for s in speeches if s.partition(": ")[2]]
    got = [" ".join(p.split()) for p in paragraphs(write(tmp_path, text.encode()))]
    assert got == expected


@pytest.mark.parametrize("data, is_csv", [
    (b"id,text\n1,Hello there.\n2,\"Yes, quite.\"\n", True),  # names a text column
    (b"text\nHello there.\nBye.\n", True),
    (b"id,score,when\n1,2,x\n3,4,y\n5,6,z\n7,8,w\n", True),  # rows as wide as the header
    (b"Contents\n\nChapter one, in which\nnothing happens.\n", False),  # a heading
    (b"Roses are red, violets are blue,\nsugar is sweet, and so are you.\n", False),
    (b"First Citizen:\nBefore we proceed any further, hear me speak.\n", False),
    (b"Hello, world\nthis line, has, three commas\nand this none\nok\n", False),
])
def test_a_csv_named_txt_is_still_read_as_a_csv(tmp_path, data, is_csv):
    path = write(tmp_path, data)
    assert looks_like_csv(path) is is_csv
    assert reads_as_plain_text(path) is not is_csv
    assert not reads_as_plain_text(path, "upload.csv")  # a .csv is never read by paragraph
