"""A corpus that ships with Python: the prose of the language reference, for a first training run.

``pydoc_data.topics`` holds the reference manual's topics as rendered text (what ``help("assert")``
shows). What is left of the reST markup is taken out: headings and their underlines, grammar rules
(``::=``), indented code and interactive sessions, option tables, footnote rubrics, ``*emphasis*``,
``**strong**``, backquotes, literal quotes around code and ``::``. Only paragraphs that read as
prose (mostly words, ending like a sentence) are kept, one per CSV row in a ``text`` column: on
Python 3.11 about 1,100 paragraphs and 2,250 sentences, 50,000 tokens.
"""
from __future__ import annotations

import csv
import os
import re

from pydoc_data.topics import topics

_UNDERLINE = re.compile(r"^([*=\-~^#\"])\1{2,}$")
_CODE_LINE = re.compile(r"^(>>>|\.\.\.|[+|])|::=|^\S+\s*=\s|[{}]\s*$")
_INLINE = (
    (re.compile(r"\*\*(\w[^*\n]*?)\*\*"), r"\1"),  # **strong**
    (re.compile(r"(?<![\w*])\*(\w[^*\n]*?)\*(?![\w*])"), r"\1"),  # *emphasis*
    (re.compile(r"[`\"]"), ""),  # backquotes, and the straight quotes the renderer puts round code
    (re.compile(r"::"), ":"),
    (re.compile(r"\[\d+\]"), ""),  # footnote references
    (re.compile(r"^(\*|-|\d+\.)\s+"), ""),  # list bullets
    (re.compile(r"^(Note|Warning|See also|Tip|Important):\s*"), ""),
    (re.compile(r"\s+"), " "),
)
_WHOLE_SENTENCES = re.compile(r"^(.*[.!?])\s")
_WORD = re.compile(r"^[(“‘]?[A-Za-z][A-Za-z'’-]*[.,;:!?)”’]*$")
MIN_WORDS = 6  # shorter paragraphs are lead-ins ("For example:") or labels
MIN_WORD_SHARE = 0.7  # share of plain words a paragraph needs to count as prose


def _blocks(text: str) -> list[list[str]]:
    """Paragraphs: runs of non-blank lines, indentation kept."""
    blocks, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _is_markup(block: list[str]) -> bool:
    """Headings, rubrics, grammar, tables and code; prose in notes and lists passes."""
    stripped = [line.strip() for line in block]
    if any(_UNDERLINE.match(line) for line in stripped):
        return True
    if stripped[0].startswith("-[") or stripped[0].endswith(":"):
        return True
    return any(_CODE_LINE.search(line) for line in stripped)


def _clean(block: list[str]) -> str | None:
    """The paragraph as one line of plain prose, or None if it is not prose."""
    if _is_markup(block):
        return None
    text = " ".join(line.strip() for line in block)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text).strip()
    if not text.endswith((".", "!", "?")):
        # a paragraph that leads into code ("... is equivalent to:") keeps its whole sentences
        whole = _WHOLE_SENTENCES.match(text)
        text = whole.group(1) if whole else ""
    words = text.split()
    if len(words) < MIN_WORDS:
        return None
    if sum(bool(_WORD.match(w)) for w in words) < MIN_WORD_SHARE * len(words):
        return None
    return text


def sample_paragraphs() -> list[str]:
    """The prose paragraphs of every topic, in the topics' (sorted) order, without repeats."""
    seen, paragraphs = set(), []
    for name in sorted(topics):
        for block in _blocks(topics[name]):
            text = _clean(block)
            if text is not None and text not in seen:
                seen.add(text)
                paragraphs.append(text)
    return paragraphs


def write_sample_corpus(path: str | os.PathLike) -> int:
    """Write the sample corpus as CSV (UTF-8, header ``text``); return the number of rows."""
    paragraphs = sample_paragraphs()
    temporary = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text"])
        writer.writerows([p] for p in paragraphs)
    os.replace(temporary, path)
    return len(paragraphs)
