"""rnncore.corpus: every malformed upload becomes a CorpusError that says what and where."""
import csv
import gzip
import io
import logging
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncore.corpus import (MAX_FIELD_CHARS, CorpusReader, detect_text_column, iter_texts,
                            preview_csv)
from rnncore.errors import CorpusError

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def _csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def _long_field_rows() -> bytes:
    line = "word " * 19 + "word\n"  # 100 characters
    return b'text\n"' + (line * (10 * 1_048_576 // len(line))).encode() + b'"\n'


FIFTY_COLUMNS = _csv_bytes([[f"c{i}" for i in range(50)]]
                           + [[str(r * 50 + i) for i in range(50)] for r in range(10)])

# name, file contents, words the message must contain, the row it must name
MALFORMED = [
    ("empty", b"", ["empty"], None),
    ("whitespace only", b"\xef\xbb\xbf \r\n\n", ["empty"], None),
    ("header only", b"id,text\r\n", ["header", "no rows", "'text'"], 2),
    ("binary", random.Random(0).randbytes(4096), ["binary"], 1),
    ("gzip", gzip.compress(b"text\nhello there.\n"), ["gzip", "decompress"], 1),
    ("zip / xlsx", b"PK\x03\x04" + bytes(200), ["zip", "Excel"], 1),
    ("html", b"\n  <!DOCTYPE html>\n<html><head><title>x</title></head><body>text</body></html>",
     ["HTML", "raw file"], 1),
    ("utf-16 with BOM", "text\nhello world.\n".encode("utf-16"), ["UTF-16", "UTF-8"], 1),
    ("utf-16 without BOM", "text\nhello world.\n".encode("utf-16-le"), ["UTF-16"], 1),
    ("latin-1", "text\nhello\ncafé crème\n".encode("latin-1"),
     ["not UTF-8", "0xE9", "character 4", "Latin-1", "save it as UTF-8"], 3),
    ("latin-1 far down", b"text\n" + b"fine text.\n" * 9000 + "déjà vu\n".encode("cp1252"),
     ["0xE9"], 9002),
    ("NUL byte", b"text\nhello\x00world\n", ["NUL"], 2),
    ("NUL byte far down", b"text\n" + b"fine text.\n" * 9000 + b"a\x00b\n", ["NUL"], 9002),
    ("10 MB field", _long_field_rows(), ["1 MB", "never closed"], 2),
    ("10 MB line", b"text\n" + b"a" * (10 * 1_048_576) + b"\n", ["1 MB"], 2),
    ("quote never closed", b'text\n"hello world\nsecond row\nthird row\n',
     ["never closed", "line 2", '""'], 2),
    ("stray quote", b'text\n"he said "hi" to me"\nok\n', ["quoting", '""'], 2),
    ("semicolons", b"id;text\n1;Hello there, friend.\n2;Another one.\n",
     ["semicolon", "comma-separated"], 1),
    ("tabs", b"id\ttext\n1\tHello there.\n2\tAnother one.\n", ["tab-separated"], 1),
    ("50 columns", FIFTY_COLUMNS, ["50 columns", "'c0'", "'c4'", "45 more", "Choose"], 1),
    ("ragged rows", b"id,text\n1,Hello there.\n2,Hello, there, again.\n",
     ["Line 3 has 4 fields", "header has 2", "double quotes"], 3),
    ("old Mac line ends", b"text\rhello\rworld\r", ["carriage return"], 1),
]


@pytest.mark.parametrize("name,data,words,row", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_corpus_names_problem_and_row(tmp_path, name, data, words, row):
    path = tmp_path / "corpus.csv"
    path.write_bytes(data)
    with pytest.raises(CorpusError) as error:
        list(iter_texts(path))
    for word in words:
        assert word in str(error.value)
    assert error.value.row == row
    if row is not None:
        assert f"line {row}" in str(error.value)


def test_unknown_column_lists_the_columns(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(b"id,body,score\n1,Hello there.,3\n")
    with pytest.raises(CorpusError, match=r"no column named 'txt'.*'id', 'body', 'score'"):
        list(iter_texts(path, column="txt"))


def test_crlf_with_bom_and_quoted_line_breaks(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(b'\xef\xbb\xbfid,text\r\n1,"Hello, world.\r\nSecond ""line"""\r\n2,Bye.\r\n')
    with CorpusReader(path) as reader:
        assert reader.columns == ["id", "text"]
        assert list(reader) == ['Hello, world.\r\nSecond "line"', "Bye."]
        assert reader.bytes_read == reader.size - 3  # all but the byte-order mark


def test_blank_texts_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(b"\n\ntext\n\nOne.\n\"  \"\nTwo.\n")
    assert list(iter_texts(path)) == ["One.", "Two."]


def test_unquoted_commas_in_a_single_column_are_kept(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(b"text\nHello, world, again.\n")
    assert list(iter_texts(path)) == ["Hello, world, again."]


def test_explicit_column_ignores_case_and_spaces(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(_csv_bytes([["ID", " Speech "], ["1", "Speak, speak."]]))
    with CorpusReader(path, column="speech") as reader:
        assert reader.text_column == "Speech"
        assert list(reader) == ["Speak, speak."]


def test_file_cut_off_inside_its_last_text_keeps_that_text(tmp_path, caplog):
    rows = [["text"]] + [[f"Comment number {i} says something.\nOver two lines."] for i in range(40)]
    path = tmp_path / "corpus.csv"
    path.write_bytes(_csv_bytes(rows) + b'"The last comment was cut off in the mid')
    with caplog.at_level(logging.WARNING, logger="rnncore.corpus"):
        texts = list(iter_texts(path))
    assert len(texts) == 41
    assert texts[-1] == "The last comment was cut off in the mid"
    assert "cut off" in caplog.text


LONG = "The quick brown fox jumps over the lazy dog and keeps running far away."


@pytest.mark.parametrize("columns,rows,expected", [
    (["line"], [["x"]], "line"),  # a single column is the text, however short
    (["id", "Body", "title"], [["1", "Hi there friend.", LONG]], "Body"),  # exact name first
    (["id", "comment_text", "notes"], [["1", "Short words here.", LONG]], "comment_text"),
    (["comment_count", "id", "blurb"], [["12", "3", LONG]], "blurb"),  # a number is not text
    (["a", "b", "c"], [["1", LONG, "short text"], ["2", LONG, "x"]], "b"),  # most letters
    (["hash", "words"], [["a3f9c2e1b7d4", "a few real words here"]], "words"),
])
def test_detect_text_column(columns, rows, expected):
    assert detect_text_column(columns, rows) == expected


def test_detect_text_column_refuses_columns_without_text():
    with pytest.raises(CorpusError, match="'x', 'y'"):
        detect_text_column(["x", "y"], [["1", "2"], ["3", "ab"]])


def test_preview_shows_first_rows_and_shortens_long_cells(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(_csv_bytes([["id", "text"]] + [[str(i), LONG * 10] for i in range(9)]))
    preview = preview_csv(path, rows=3)
    assert preview.columns == ["id", "text"] and preview.text_column == "text"
    assert [row[0] for row in preview.rows] == ["0", "1", "2"]
    assert len(preview.rows[0][1]) == 300 and preview.rows[0][1].endswith("…")
    assert preview.message is None


def test_preview_without_text_column_says_why(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(FIFTY_COLUMNS)
    preview = preview_csv(path)
    assert preview.text_column is None and len(preview.columns) == 50 and len(preview.rows) == 5
    assert "Choose the text column" in preview.message


def test_field_at_the_limit_is_accepted(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(b'text\n"' + b"a" * MAX_FIELD_CHARS + b'"\n')
    assert [len(t) for t in iter_texts(path)] == [MAX_FIELD_CHARS]


@pytest.mark.parametrize("name,column", [("reddit-comments-2015-08-sample.csv", "body"),
                                         ("tinyshakespeare-speeches.csv", "speech")])
def test_real_corpora_are_read_to_the_end(name, column):
    path = CORPORA / name
    if not path.exists():
        pytest.skip(f"{path} is not present")
    with path.open(encoding="utf-8", newline="") as f:  # the csv module's own reading as reference
        expected = sum(1 for row in csv.DictReader(f) if row[column].strip())
    with CorpusReader(path) as reader:
        assert reader.text_column == column
        assert sum(1 for _ in reader) == expected
        assert reader.bytes_read == reader.size


def _read_bytes(data: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(data)
        f.flush()
        try:
            for text in iter_texts(f.name):
                assert isinstance(text, str)
        except CorpusError as e:
            assert str(e)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_give_texts_or_a_corpus_error(data):
    _read_bytes(data)


CSV_ALPHABET = st.sampled_from(list('ab ,;"\t\r\n\x00é\ufeff<>|') + ["text", "body", "\r\n"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CSV_ALPHABET, max_size=80), st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
def test_random_csv_like_text_gives_texts_or_a_corpus_error(pieces, encoding):
    _read_bytes("".join(pieces).encode(encoding, errors="replace"))


def test_field_limit_holds_when_the_csv_module_limit_was_raised_elsewhere(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(b'text\n"' + b"word " * (MAX_FIELD_CHARS // 5 + 10) + b'"\n')
    previous = csv.field_size_limit(16 * MAX_FIELD_CHARS)
    try:
        with pytest.raises(CorpusError, match="1 MB limit") as error:
            list(iter_texts(path))
        assert error.value.row == 2
    finally:
        csv.field_size_limit(previous)
