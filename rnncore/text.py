"""Tokenization shared by preprocessing and generation: sentences, then lowercased word tokens.

Sentences are split with NLTK's Punkt. Its pretrained English model (``punkt_tab``) is used when
NLTK can find it installed; it is never downloaded. Without it, a ``PunktSentenceTokenizer`` is
trained on a bounded sample of the corpus itself, which learns the corpus's own abbreviations.
Words come from ``NLTKWordTokenizer`` (the improved Treebank tokenizer inside
``nltk.word_tokenize``), applied to one sentence at a time: ``nltk.word_tokenize`` itself would
split sentences again and so needs ``punkt_tab``. As in the tutorial, text is lowercased before it
is split, so the model never has to learn two spellings of the same word.
"""
from __future__ import annotations

import functools
import logging
from typing import Iterable

import nltk.data
from nltk.tokenize import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTokenizer, PunktTrainer

log = logging.getLogger(__name__)

PUNKT_TRAINING_CHARS = 500_000  # corpus text Punkt learns from; 1 MB takes about 2 s to learn
PUNKT_LANGUAGE = "english"

_words = NLTKWordTokenizer()


@functools.lru_cache(maxsize=1)
def _pretrained_punkt() -> PunktSentenceTokenizer | None:
    try:
        nltk.data.find(f"tokenizers/punkt_tab/{PUNKT_LANGUAGE}/")
    except LookupError:
        return None
    return PunktTokenizer(PUNKT_LANGUAGE)


class SentenceSplitter:
    """A Punkt sentence tokenizer and where it came from: ``kind`` is "punkt_tab" or "trained"."""

    def __init__(self, tokenizer: PunktSentenceTokenizer, kind: str):
        self.tokenizer = tokenizer
        self.kind = kind

    @classmethod
    def pretrained(cls) -> "SentenceSplitter | None":
        """NLTK's pretrained English Punkt model if it is installed, else None."""
        tokenizer = _pretrained_punkt()
        return cls(tokenizer, "punkt_tab") if tokenizer is not None else None

    @classmethod
    def train(cls, texts: Iterable[str], max_chars: int = PUNKT_TRAINING_CHARS) -> "SentenceSplitter":
        """Learn Punkt's parameters (abbreviations, collocations) from the first ``max_chars``."""
        sample, size = [], 0
        for text in texts:
            if size >= max_chars:
                break
            sample.append(text[: max_chars - size].lower())
            size += len(sample[-1])
        trainer = PunktTrainer()
        trainer.train("\n\n".join(sample), finalize=True)
        return cls(PunktSentenceTokenizer(trainer.get_params()), "trained")

    @classmethod
    def for_corpus(cls, texts: Iterable[str]) -> "SentenceSplitter":
        """The pretrained model when installed, else one trained on ``texts`` (read lazily)."""
        splitter = cls.pretrained()
        if splitter is None:
            log.info("punkt_tab is not installed; training the sentence splitter on the corpus")
            splitter = cls.train(texts)
        return splitter

    def split(self, text: str) -> list[str]:
        """The sentences of ``text`` (as given: lowercase it first, as ``tokenize`` does)."""
        return self.tokenizer.tokenize(text)

    def tokenize(self, text: str) -> list[list[str]]:
        """Lowercase ``text``, split it into sentences, and each sentence into word tokens."""
        sentences = (_words.tokenize(s) for s in self.split(text.lower()))
        return [words for words in sentences if words]


def tokenize_words(sentence: str) -> list[str]:
    """The lowercased NLTK word tokens of one sentence."""
    return _words.tokenize(sentence.lower())


@functools.lru_cache(maxsize=1)
def _prefix_splitter() -> PunktSentenceTokenizer:
    # Untrained Punkt still ends sentences at . ! ? followed by space, which is all a short
    # prompt needs so that "it was late. the" gives "late" "." "the" and not "late." "the".
    return _pretrained_punkt() or PunktSentenceTokenizer()


def tokenize_prefix(text: str) -> list[str]:
    """What the playground feeds the model: lowercased word tokens, no sentence markers."""
    text = text.lower()
    return [w for sentence in _prefix_splitter().tokenize(text) for w in _words.tokenize(sentence)]
