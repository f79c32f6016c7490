"""Corpora written for the tests, in the formats research corpora come in (made up here, word by word).

``newswire_rows``: one sentence per row, already tokenized the Treebank way (spaces before
punctuation, "'s" and "n't" split off), lowercase, numbers written N, rare words already replaced
by ``<unk>``, company names with "inc." and "co." and "no." inside the sentence, as in the common
newswire research format; ``wikitext=True`` adds WikiText's ``@-@`` and ``@,@``. ``names=n``
mentions made-up names drawn with Zipf-like frequencies from ``n`` of them, so that the corpus has
thousands of different words, most of them rare, as real text does.
"""
from __future__ import annotations

import csv
import io
import random

_SUBJECTS = ["the company", "acme inc.", "widget co.", "the board", "<unk> corp.", "the bank",
             "its parent", "the <unk> unit", "the firm 's chairman", "mr. <unk>", "analysts",
             "the no. N maker"]
_VERBS = ["said", "reported", "expects", "did n't say", "has n't decided", "agreed",
          "is n't expected", "rose", "fell", "plans"]
_OBJECTS = ["a net loss of $ N million", "N % of its shares", "the <unk> plan", "a new chief",
            "the offer , which it called <unk>", "sales of N billion yen", "its no. N rank",
            "N cents a share", "the company 's bid", "that it would n't sell"]
_ENDINGS = [".", ".", ".", ".", "?", ". ''"]


_SYLLABLES = ["ka", "lo", "mi", "ten", "ro", "sa", "vel", "du", "qui", "ner", "ba", "tor", "zi",
              "mon", "pel", "ar", "eth", "ul"]


def made_up_name(i: int) -> str:
    """The i-th made-up name: its syllables are the digits of i in base len(_SYLLABLES)."""
    out, n = [], i + len(_SYLLABLES)
    while n:
        n, digit = divmod(n, len(_SYLLABLES))
        out.append(_SYLLABLES[digit])
    return "".join(out)


def newswire_sentence(rng: random.Random, wikitext: bool = False, names: int = 0) -> str:
    words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
    if names:
        rank = int(names ** rng.random()) - 1  # log-uniform, Zipf's law: a few common, most rare
        words.insert(1, f", like {made_up_name(rank)} ,")
    if rng.random() < 0.4:
        words += [",", "according to", rng.choice(_SUBJECTS)]
    sentence = " ".join(words) + " " + rng.choice(_ENDINGS)
    if wikitext:
        sentence = sentence.replace(" N ", " 3 @,@ 000 ").replace("new chief", "well @-@ known chief")
    if sentence.endswith("''"):
        sentence = "`` " + sentence
    return sentence


def newswire_rows(n: int = 300, seed: int = 0, wikitext: bool = False,
                  names: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [newswire_sentence(rng, wikitext, names) for _ in range(n)]


def csv_text(rows: list[str], column: str = "sentence") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", column])
    writer.writerows([i, row] for i, row in enumerate(rows, start=1))
    return out.getvalue()


def write_csv(path, rows: list[str], column: str = "sentence"):
    path.write_text(csv_text(rows, column), encoding="utf-8")
    return path
