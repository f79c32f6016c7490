"""A corpus of technical prose with code in it: ``python -m scripts.readme_corpus out.csv``.

The descriptions (README files) of the packages installed beside rnnlab, split into paragraphs,
one CSV row each (column ``text``), packages in name order. Its paragraphs hold code listings,
shell sessions and lists that no full stop splits, so preprocessing makes "sentences" of hundreds
of words out of some of them (the longest, 1,218). Such a sentence once let a batch take a step
several times a usual one, and the default GRU diverged on this corpus
(``rnncore.optimizers.CLIP_WORDS_PER_SENTENCE``). ``rnncore.bench_quality`` runs on the file this
writes like on any other. What it holds depends on the packages installed.
"""
from __future__ import annotations

import argparse
import csv
import importlib.metadata
import re
from pathlib import Path

# Paragraphs shorter than this many characters (headings, badges, blank lines) are left out.
MIN_CHARACTERS = 60


def paragraphs(description: str) -> list[str]:
    """The description's paragraphs (separated by blank lines), each on one line."""
    found = (" ".join(block.split()) for block in re.split(r"\n\s*\n", description))
    return [text for text in found if len(text) >= MIN_CHARACTERS]


def descriptions() -> list[str]:
    """Each installed distribution's description, in the order of the distributions' names."""
    by_name = {}
    for distribution in importlib.metadata.distributions():
        metadata = distribution.metadata  # the headers, and the description as the body
        by_name.setdefault(metadata["Name"] or "", metadata.get_payload() or "")
    return [by_name[name] for name in sorted(by_name)]


def write_corpus(path: Path) -> int:
    """Write the corpus to ``path``; return the number of rows."""
    rows = [text for description in descriptions() for text in paragraphs(description)]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text"])
        writer.writerows([text] for text in rows)
    return len(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the CSV file to write")
    args = parser.parse_args(argv)
    rows = write_corpus(args.output)
    print(f"{args.output}: {rows} paragraphs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
