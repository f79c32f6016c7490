"""Plain-text corpora: a .txt file becomes the one-column CSV that the rest of rnncore reads.

People often have their text as a plain file (a book, a play, a transcript) rather than a CSV.
Read as a CSV, its first line would become a header and every wrapped line a text of its own,
cutting sentences at each line break. Instead its paragraphs, separated by blank lines, become
the rows of a CSV with one column, ``text``, their lines joined by single spaces: Tiny
Shakespeare's input.txt gives the speeches of ``tinyshakespeare-speeches.csv``. A paragraph of
more than ``MAX_PARAGRAPH_LINES`` lines is a list (a file of one sentence, headline or tweet a
line, perhaps under a title), so each of its lines is a row; so is each line of a file without
a blank line between two of its lines. A .txt that is a CSV after all (``looks_like_csv``: its
first line names a text column, or names columns as wide as the rows below) is read as one.

The file is checked as a CSV is (``rnncore.corpus``: binary content, UTF-16, HTML, encoding, NUL
bytes, with the line of each problem) and read line by line, so a large file is never held in
memory.
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from typing import Iterator

from rnncore.corpus import (MAX_FIELD_CHARS, MAX_LINE_BYTES, SAMPLE_ROWS, TEXT_COLUMN_NAMES,
                            check_head, decode_line, read_line)
from rnncore.errors import CorpusError

PLAIN_TEXT_SUFFIXES = (".txt", ".text")
TEXT_COLUMN = "text"
# More lines than this without a blank one are not a paragraph but a list of texts, one a line:
# the longest speech of Tiny Shakespeare has 98 lines, a book's paragraph far fewer.
MAX_PARAGRAPH_LINES = 200
# How a CSV header names a column: one or two words, no sentence punctuation.
_COLUMN_NAME = re.compile(r"[^\W\d][\w.-]*(?: [\w.-]+)?")
SAME_WIDTH_SHARE = 0.9  # rows as wide as such a header that make a .txt a CSV after all


def is_plain_text_name(filename: str | os.PathLike | None) -> bool:
    """Whether a file's name says it is plain text (``.txt``) rather than a CSV."""
    return os.fspath(filename or "").lower().endswith(PLAIN_TEXT_SUFFIXES)


def looks_like_csv(path: str | os.PathLike) -> bool:
    """Whether a file is a CSV whatever its name: its first line names columns, and either one
    of them is a text column's name ("text", "comment"...) or the rows below are as wide."""
    with open(path, "rb") as raw:
        head = raw.read(65536).decode("utf-8", "replace").lstrip("\ufeff")
    try:
        records = [r for r in csv.reader(io.StringIO(head)) if any(c.strip() for c in r)]
    except csv.Error:
        return False
    records = records[: SAMPLE_ROWS + 1]
    if len(records) < 2 or not all(_COLUMN_NAME.fullmatch(n.strip()) for n in records[0]):
        return False
    header = [name.strip().lower() for name in records[0]]
    # A lone "Contents" followed by a blank line is a heading; a CSV puts its rows right below.
    heading = len(header) == 1 and not (head.splitlines()[1:2] or [""])[0].strip()
    if any(name in TEXT_COLUMN_NAMES for name in header) and not heading:
        return True
    rows = records[1:-1] if len(records) > 2 else records[1:]  # the last may be cut off
    same = sum(len(row) == len(header) for row in rows)
    return len(header) >= 2 and len(rows) >= 3 and same >= SAME_WIDTH_SHARE * len(rows)


def reads_as_plain_text(path: str | os.PathLike, filename: str | None = None) -> bool:
    """Whether a file (uploaded as ``filename``) is read by paragraph: a .txt that is no CSV."""
    return is_plain_text_name(filename or path) and not looks_like_csv(path)


def _lines(raw) -> Iterator[tuple[int, str]]:
    """(line number, text without its line break) of every line, decoded and checked."""
    number = 0
    while data := read_line(raw, number + 1):
        number += 1
        text = decode_line(data, number).rstrip("\r\n")
        if len(text) > MAX_FIELD_CHARS:
            raise CorpusError(f"Line {number} is longer than the {MAX_FIELD_CHARS // 1_048_576} "
                              "MB that one text may hold.", row=number)
        yield number, text


def _rows_of(paragraph: list[str]) -> list[str]:
    """A paragraph as one text, or as a text per line when it is a list or too long for one."""
    joined = " ".join(line.strip() for line in paragraph)
    if len(paragraph) <= MAX_PARAGRAPH_LINES and len(joined) <= MAX_FIELD_CHARS:
        return [joined]
    return [line.strip() for line in paragraph]


def _has_paragraphs(raw) -> bool:
    """Whether a blank line stands between two lines of text anywhere in the file."""
    seen_text = blank_after_text = False
    while data := raw.readline(MAX_LINE_BYTES + 1):
        if data.strip(b" \t\r\n\xef\xbb\xbf"):
            if blank_after_text:
                return True
            seen_text = True
        elif seen_text:
            blank_after_text = True
    return False


def paragraphs(path: str | os.PathLike) -> Iterator[str]:
    """The texts of a plain-text file: its paragraphs, or its lines where it has no paragraphs."""
    with open(path, "rb") as raw:
        head = raw.read(65536)
        if not head.lstrip(b"\xef\xbb\xbf").strip():
            raise CorpusError("The file is empty: a corpus needs some text.")
        check_head(head)
        raw.seek(0)
        by_paragraph = _has_paragraphs(raw)
        raw.seek(0)
        paragraph: list[str] = []
        for _, line in _lines(raw):
            if not by_paragraph:
                if line.strip():
                    yield line.strip()
            elif line.strip():
                paragraph.append(line)
            elif paragraph:
                yield from _rows_of(paragraph)
                paragraph = []
        if paragraph:
            yield from _rows_of(paragraph)


def plain_text_to_csv(source: str | os.PathLike, destination: str | os.PathLike) -> int:
    """Write ``source``'s texts as a CSV with the one column ``text``; return how many rows."""
    rows = 0
    with open(destination, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([TEXT_COLUMN])
        for text in paragraphs(source):
            writer.writerow([text])
            rows += 1
    if rows == 0:
        raise CorpusError("The file holds only blank lines: a corpus needs some text.")
    return rows


@contextlib.contextmanager
def as_csv(path: str | os.PathLike) -> Iterator[str]:
    """The path of a CSV of ``path``'s texts: itself for a CSV, a temporary conversion for .txt."""
    if not reads_as_plain_text(path):
        yield os.fspath(path)
        return
    with tempfile.TemporaryDirectory(prefix="rnnlab-text-") as directory:
        converted = os.path.join(directory, "texts.csv")
        plain_text_to_csv(path, converted)
        yield converted
