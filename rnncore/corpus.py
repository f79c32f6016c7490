"""Reading CSV corpora: checking the file, choosing the text column, streaming the texts.

A corpus is a CSV file with a header row, in UTF-8 (with or without a byte-order mark), one text
per row in one column. The file is read line by line through the ``csv`` module, so a large corpus
is never held in memory. Everything that can go wrong with an uploaded file (wrong format, wrong
encoding, bad quoting, the wrong separator, no recognisable text column) becomes a ``CorpusError``
whose message says what is wrong, on which line, and what to do about it. Semicolon-, tab- and
pipe-separated files are refused with a message rather than guessed at: a comma-separated file of
single texts can legitimately contain semicolons, and a wrong guess would silently train on garbage.
"""
from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Iterator

from rnncore.errors import CorpusError

log = logging.getLogger(__name__)

MAX_FIELD_CHARS = 1_048_576  # 1 MB: one field (one comment) larger than this is refused
MAX_LINE_BYTES = 4 * MAX_FIELD_CHARS  # longest physical line read (4 UTF-8 bytes a character)
SAMPLE_ROWS = 50  # data rows read to choose the text column and for the preview
SAMPLE_CHARS = 2_000_000  # ... or fewer, once the sampled rows hold this many characters
MIN_TEXT_LETTERS = 12  # average letters per row below which a column does not look like text
CUT_OFF_SHARE = 0.10  # an unclosed quote at the end swallowing less than this is a cut-off file
PREVIEW_CELL_CHARS = 300  # preview cells are shortened to this many characters
TEXT_COLUMN_NAMES = (
    "text", "body", "comment", "comments", "content", "contents", "sentence", "sentences",
    "speech", "speeches", "review", "message", "tweet", "selftext", "utterance",
)
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_NAME_WORDS = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class CsvPreview:
    """The first rows of a corpus for the upload page; ``message`` says why no text column."""

    columns: list[str]
    rows: list[list[str]]
    text_column: str | None
    message: str | None = None
    plain_text: bool = False  # read from a .txt by paragraph (rnncore.plain_text)


def _letters(cell: str) -> int:
    return sum(map(len, _LETTERS.findall(cell[:10_000])))


def detect_text_column(columns: list[str], sample_rows: list[list[str]]) -> str:
    """Choose the column that holds the text: by its name, else by the most letters per row.

    A column named like text/body/comment/content/sentence/speech wins if its rows hold any
    letters at all (so ``comment_count`` full of numbers does not); otherwise the column whose
    first rows hold the most letters, if that is enough to look like sentences.
    """
    if len(columns) == 1:
        return columns[0]
    n = max(len(sample_rows), 1)
    letters = [sum(_letters(r[i]) for r in sample_rows if i < len(r)) / n for i in range(len(columns))]
    names = [c.strip().lower() for c in columns]
    exact = [i for i, c in enumerate(names) if c in TEXT_COLUMN_NAMES]
    partial = [i for i, c in enumerate(names) if set(_NAME_WORDS.findall(c)) & set(TEXT_COLUMN_NAMES)]
    for candidates in (exact, partial):
        named = [i for i in candidates if letters[i] > 0]
        if named:
            return columns[max(named, key=lambda i: (letters[i], -i))]
    best = max(range(len(columns)), key=lambda i: (letters[i], -i))
    if letters[best] >= MIN_TEXT_LETTERS:
        return columns[best]
    raise CorpusError(
        f"Could not tell which of the {len(columns)} columns holds the text: none is named like "
        f"'text' or 'body' and none has sentences in its first rows. Choose the text column; "
        f"the columns are {join_names(columns)}.", row=1)


_MAGIC = (
    (b"\x1f\x8b", "a gzip-compressed file; decompress it first"),
    (b"PK\x03\x04", "a zip archive (or an Excel workbook); export the sheet as CSV UTF-8"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\xd0\xcf\x11\xe0", "an old Excel or Word file; export the sheet as CSV UTF-8"),
)
# bytes that are not control characters; deleting them from a chunk leaves its control bytes
_NOT_CONTROL = bytes(b for b in range(256) if b >= 32 and b != 127 or b in (9, 10, 12, 13))
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<?xml")


def join_names(names: list[str], limit: int = 5) -> str:
    """Column names for a message: the first few, quoted, and how many more."""
    shown = [repr(n) if n else f"(unnamed column {i + 1})" for i, n in enumerate(names[:limit])]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def check_head(head: bytes) -> None:
    """Refuse files that are empty, compressed, binary, UTF-16/32 or a web page, from their start."""
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if not body.strip():
        raise CorpusError("The file is empty: a corpus needs a header row and one text per row.")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise CorpusError(f"This is {what}, not a CSV or plain-text file.", row=1)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(head):
        raise CorpusError("The file is in UTF-16 (or UTF-32), not UTF-8; save it as UTF-8 "
                          "(in Excel: 'CSV UTF-8').", row=1)
    controls = len(head.translate(None, delete=_NOT_CONTROL))
    if controls > max(8, 0.05 * len(head)):  # a stray control byte or two in text is a NUL problem
        raise CorpusError("This is binary data, not a CSV or plain-text file.", row=1)
    if b"\x00" in head:
        line = head[: head.index(b"\x00")].count(b"\n") + 1
        raise CorpusError(f"Line {line} contains a NUL (zero) byte, which text files do not; the "
                          "file may be damaged or not text.", row=line)
    start = body.lstrip()[:200].lower()
    if start.startswith(_HTML_STARTS) or (start.startswith(b"<") and b"<html" in body[:4096].lower()):
        raise CorpusError("This looks like a web page (HTML), not a CSV or plain-text file; it "
                          "was perhaps saved from a browser. Download the raw file instead.",
                          row=1)


def _looks_utf16(head: bytes) -> bool:
    even, odd = head[0::2], head[1::2]
    if len(odd) < 2:
        return False
    return (odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.1 * len(even)) or (
        even.count(0) > 0.4 * len(even) and odd.count(0) < 0.1 * len(odd))


def decode_line(data: bytes, line: int) -> str:
    """One line as text; a line that is not UTF-8, or holds a NUL byte, is a CorpusError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        column = len(data[: e.start].decode("utf-8", "replace")) + 1
        raise CorpusError(
            f"Line {line} is not UTF-8: byte 0x{data[e.start]:02X} at character {column}. The "
            "file looks like Latin-1 / Windows-1252 or another encoding; save it as UTF-8 "
            "(in Excel: 'CSV UTF-8').", row=line) from None
    if "\x00" in text:
        raise CorpusError(f"Line {line} contains a NUL (zero) byte, which text files do not; the "
                          "file may be damaged or not text.", row=line)
    return text


def read_line(raw, line: int) -> bytes:
    """The bytes of physical line ``line`` of a binary file (b"" at its end), the byte-order mark
    cut from line 1; a line longer than MAX_LINE_BYTES is a CorpusError."""
    data = raw.readline(MAX_LINE_BYTES + 1)
    if len(data) > MAX_LINE_BYTES:
        raise CorpusError(
            f"Line {line} is longer than {MAX_LINE_BYTES // 1_048_576} MB without a line break; "
            f"one text may be at most {MAX_FIELD_CHARS // 1_048_576} MB.", row=line)
    return data[3:] if line == 1 and data.startswith(b"\xef\xbb\xbf") else data


@dataclass
class _Lines:
    """Decoded physical lines of the file, with the line number and byte position reached."""

    raw: object
    line: int = 0
    bytes_read: int = 0
    record: list[str] = field(default_factory=list)  # lines of the record being parsed

    def __iter__(self) -> Iterator[str]:
        while data := read_line(self.raw, self.line + 1):
            self.line += 1
            self.bytes_read += len(data)
            text = decode_line(data, self.line)
            self.record.append(text)
            yield text


class CorpusReader:
    """An open corpus: its columns, the chosen text column, and its texts as an iterator.

    ``bytes_read`` / ``size`` tell how far through the file the iteration is. Use as a context
    manager, or call ``close()``.
    """

    def __init__(self, path: str | os.PathLike, column: str | None = None, *, detect: bool = True):
        self.path = os.fspath(path)
        self.size = os.path.getsize(self.path)
        self._raw = open(self.path, "rb")
        try:
            check_head(self._raw.read(65536))
            self._raw.seek(0)
            if csv.field_size_limit() < MAX_FIELD_CHARS:
                csv.field_size_limit(MAX_FIELD_CHARS)  # the default, 128 KB, is below our limit
            self._lines = _Lines(self._raw)
            self._reader = csv.reader(self._lines, strict=True)
            self.columns = self._read_header()
            self.sample = self._read_sample()
            self.text_column = self._choose_column(column) if (column or detect) else None
        except BaseException:
            self._raw.close()
            raise

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> "CorpusReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _next_record(self) -> tuple[list[str], int] | None:
        """The next non-blank record and the line it starts on; None at the end of the file."""
        while True:
            self._lines.record.clear()
            start = self._lines.line + 1
            try:
                row = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as e:
                row = self._quoting_problem(e, start)
            if any(cell.strip() for cell in row):
                return row, start

    def _quoting_problem(self, error: csv.Error, start: int) -> list[str]:
        """Turn the csv module's complaint into words; accept a file cut off inside its last record."""
        text = str(error)
        if "field larger than field limit" in text:
            raise CorpusError(
                f"A field starting on line {start} is larger than the "
                f"{MAX_FIELD_CHARS // 1_048_576} MB limit ({MAX_FIELD_CHARS:,} characters). "
                "Usually a double quote (\") opened there is never closed.", row=start) from None
        if "unexpected end of data" in text:
            swallowed = sum(map(len, self._lines.record))
            if swallowed <= CUT_OFF_SHARE * self.size:
                log.warning("%s ends inside a quoted field that starts on line %d; the file "
                            "looks cut off, so that last text is used as it is", self.path, start)
                return next(csv.reader(["".join(self._lines.record) + '"'], strict=True))
            raise CorpusError(
                f"A double quote (\") opened on line {start} is never closed, so the rest of the "
                f"file ({self._lines.line - start + 1} lines) would become one text. Close it, or "
                "write a double quote inside a text as two (\"\").", row=start) from None
        line = self._lines.line
        if "new-line character" in text:
            raise CorpusError(
                f"Line {line} has a line break made of a lone carriage return (old Mac style); "
                "save the file with Windows or Unix line endings.", row=line) from None
        raise CorpusError(
            f"Bad quoting on line {line} ({text}): a double quote inside a quoted text must be "
            f"written as two (\"\"), and a quote opened on line {start} may not be closed.",
            row=line) from None

    def _read_header(self) -> list[str]:
        first = self._next_record()
        if first is None:
            raise CorpusError("The file is empty: a corpus needs a header row and one text per row.")
        return [name.strip() for name in first[0]]

    def _read_sample(self) -> list[tuple[list[str], int]]:
        sample, chars = [], 0
        while len(sample) < SAMPLE_ROWS and chars < SAMPLE_CHARS:
            record = self._next_record()
            if record is None:
                break
            sample.append(record)
            chars += sum(map(len, record[0]))
        if not sample:
            raise CorpusError(
                f"The file has a header row ({join_names(self.columns)}) but no rows of text "
                "below it.", row=2)
        self._check_separator(sample)
        return sample

    def _check_separator(self, sample: list[tuple[list[str], int]]) -> None:
        if len(self.columns) != 1:
            return
        for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            rows_with_sep = sum(1 for row, _ in sample if any(sep in cell for cell in row))
            if sep in self.columns[0] and rows_with_sep * 2 >= len(sample):
                raise CorpusError(
                    f"The file looks {name}-separated (its header is {self.columns[0]!r}); save it "
                    "as comma-separated CSV, with texts that contain commas in double quotes.",
                    row=1)

    def _choose_column(self, column: str | None) -> str:
        if column is None:
            return detect_text_column(self.columns, [row for row, _ in self.sample])
        if column in self.columns:
            return column
        folded = [c for c in self.columns if c.casefold() == column.strip().casefold()]
        if folded:
            return folded[0]
        raise CorpusError(
            f"There is no column named {column!r}; the columns are {join_names(self.columns, 20)}.",
            row=1)

    def _fields(self, row: list[str], line: int) -> list[str]:
        """Check the row has the header's shape; commas in an unquoted single text are kept."""
        width = len(self.columns)
        if len(row) != width:
            if width == 1:
                return [",".join(row)]
            raise CorpusError(
                f"Line {line} has {len(row)} fields but the header has {width}; a text that "
                "contains commas must be in double quotes.", row=line)
        # the csv module enforces our limit unless something else in this process raised its own
        if csv.field_size_limit() > MAX_FIELD_CHARS and max(map(len, row)) > MAX_FIELD_CHARS:
            raise CorpusError(f"A field on line {line} is larger than the "
                              f"{MAX_FIELD_CHARS // 1_048_576} MB limit.", row=line)
        return row

    def rows(self) -> Iterator[tuple[list[str], int]]:
        """Every data row (checked) with the line it starts on, the sampled rows first."""
        for row, line in self.sample:
            yield self._fields(row, line), line
        while (record := self._next_record()) is not None:
            yield self._fields(*record), record[1]

    def __iter__(self) -> Iterator[str]:
        if self.text_column is None:
            self.text_column = detect_text_column(self.columns, [row for row, _ in self.sample])
        index = self.columns.index(self.text_column)
        for row, _ in self.rows():
            if row[index].strip():
                yield row[index]


def iter_texts(path: str | os.PathLike, column: str | None = None) -> Iterator[str]:
    """Stream the non-blank texts of a corpus; raises CorpusError with the line on any problem."""
    with CorpusReader(path, column) as reader:
        yield from reader


def preview_csv(path: str | os.PathLike, rows: int = 5) -> CsvPreview:
    """The columns and first rows of a corpus, and the detected text column (None if unclear)."""
    with CorpusReader(path, detect=False) as reader:
        shown = [
            [c if len(c) <= PREVIEW_CELL_CHARS else c[: PREVIEW_CELL_CHARS - 1] + "…" for c in row]
            for row, _ in reader.sample[:rows]
        ]
        try:
            column, message = detect_text_column(reader.columns, [r for r, _ in reader.sample]), None
        except CorpusError as e:
            column, message = None, str(e)
        return CsvPreview(reader.columns, shown, column, message)
