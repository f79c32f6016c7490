"""Word tokens back into text: the inverse of NLTK's word tokenizer, for samples and prefixes.

NLTK's ``TreebankWordDetokenizer`` reverses the tokenizer's regular expressions one after another,
which glues every clitic to whatever precedes it: a model that samples "that" "n't" printed
"thatn't", "july" "'ve" printed "july've", and "$" before any word was glued to it ("$the's"). It
also closes a single-quoted word on the wrong side ("it's' fine'").

Here each token decides only whether a space goes before it, from itself and its neighbour:
closing punctuation and clitics join the word before them, but "n't", "'ve", "'ll", "'re", "'d"
and "'m" only words that can carry them ("did" "n't" -> "didn't", "that" "n't" stays apart); "'s"
joins any word but an article; a currency sign joins the number after it; quotes open and close
in turn (NLTK writes double ones as `` and ''). The words NLTK cuts in two ("can" "not", "gon"
"na") are joined again, as Treebank's detokenizer does. Markers (``<unk>``, ``@-@``) stand apart,
as the corpus wrote them.
"""
from __future__ import annotations

from rnncore.vocabulary import UNKNOWN_TOKEN

_CLOSING = frozenset({",", ".", ";", ":", "!", "?", "%", ")", "]", "}", "...", "\u2026", "''"})
_OPENING = frozenset({"(", "[", "{", "``"})
_CURRENCY = frozenset({"$", "\u00a3", "\u20ac", "\u00a5", "US$", "C$", "A$"})
# The clitics NLTK splits off, and the words that can carry each (lowercase).
_PRONOUNS = {"i", "you", "he", "she", "it", "we", "they", "who", "what", "that", "there", "this",
             "here", "where", "how", "why", "when"}
_MODALS = {"could", "would", "should", "might", "must", "may"}
_HOSTS = {
    "n't": {"do", "does", "did", "is", "are", "was", "were", "has", "have", "had", "ca", "wo",
            "ai", "sha", "need", "dare", "ought"} | _MODALS,
    "'ve": _PRONOUNS | _MODALS,
    "'ll": _PRONOUNS,
    "'d": _PRONOUNS,
    "'re": _PRONOUNS,
    "'m": {"i"},
}
_NOT_POSSESSORS = {"a", "an", "the"}
# Words NLTK's tokenizer cuts in two (its CONTRACTIONS2 and 3), joined again.
_HALVES = {("can", "not"), ("gon", "na"), ("got", "ta"), ("wan", "na"), ("gim", "me"),
           ("lem", "me"), ("d'", "ye"), ("more", "'n"), ("'t", "is"), ("'t", "was")}
# Penn Treebank's names for brackets, as pre-tokenized corpora write them.
_BRACKETS = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}"}


def _wordlike(token: str) -> bool:
    return token[:1].isalnum()


def _joins_previous(prev: str, token: str, quotes: dict) -> bool:
    """Whether ``token`` is written with no space after ``prev``; updates the open ``quotes``."""
    low, prev_low = token.lower(), prev.lower()
    after_opening = prev in _OPENING or quotes.get(prev, False)
    if token in quotes:
        if token == "'" and not quotes["'"] and _wordlike(prev) and prev_low.endswith("s"):
            return True  # the boys' toys
        closing = quotes[token]
        quotes[token] = not closing
        return closing or after_opening
    if after_opening or token in _CLOSING or (prev_low, low) in _HALVES:
        return True
    if low in _HOSTS:
        return prev_low in _HOSTS[low]
    if low == "'s":
        return _wordlike(prev) and prev_low not in _NOT_POSSESSORS
    if prev in _CURRENCY:
        return token[:1].isdigit()
    return False


def detokenize(words: list[str], unknown_spelling: str | None = None) -> str:
    """Readable text from word tokens; UNKNOWN_TOKEN written as ``unknown_spelling`` if given."""
    out: list[str] = []
    # Whether the last quote of each kind opened (True) or closed; opening ones join the next word.
    quotes = {'"': False, "'": False}
    prev = None
    for word in words:
        token = _BRACKETS.get(word.lower(), word)
        if token == UNKNOWN_TOKEN and unknown_spelling:
            token = unknown_spelling
        if prev is None:
            if token in ('"', "'"):
                quotes[token] = True
            out.append(_written(token))
        else:
            out.append(("" if _joins_previous(prev, token, quotes) else " ") + _written(token))
        prev = token
    return "".join(out)


def _written(token: str) -> str:
    return '"' if token in ("``", "''") else token
