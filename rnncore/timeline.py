"""The learning timeline: at every evaluation the same prompts are continued from the same seeds,
so that a page can show one sentence getting better, evaluation by evaluation.

The prompts are a sentence from nothing (SENTENCE_START alone) and the first PREFIX_WORDS words
of the first validation sentences (training sentences without a validation split) that are
longer than that and hold no UNKNOWN_TOKEN, each prompt once. Sample i always draws from the
generator ``(seed, stream, i)``, whatever the epoch, so two evaluations differ only by the weights.
"""
from __future__ import annotations

import numpy as np

from rnncore.detokenize import detokenize
from rnncore.vocabulary import SENTENCE_END, UNKNOWN_TOKEN

PROMPTS = 3  # samples per evaluation: one unprompted, then prompts from the corpus
PREFIX_WORDS = 3
MAX_LENGTH = 30  # words a sample may add to its prompt


def prompts(sentences, vocabulary, n: int = PROMPTS) -> list[list[str]]:
    """The prompts as word lists ([] for the unprompted sentence), at most ``n`` of them.

    ``sentences``: id arrays starting with SENTENCE_START (a corpus's sentences, or their ``X``).
    """
    out: list[list[str]] = [[]] if n > 0 else []
    for sentence in sentences:
        if len(out) >= n:
            break
        words = vocabulary.decode(sentence[1:1 + PREFIX_WORDS])
        if (len(sentence) > PREFIX_WORDS + 1 and UNKNOWN_TOKEN not in words
                and SENTENCE_END not in words and words not in out):
            out.append(words)
    return out


def shown(prompt: list[str], vocabulary) -> str:
    """A prompt as the samples begin with it (the job page marks that part)."""
    return detokenize(prompt, vocabulary.unknown_spelling)


def samples(lm, prompt_list: list[list[str]], seed: int, stream: int) -> list[str]:
    """One continuation per prompt by ``lm`` (a ``LanguageModel``), each from its own seed."""
    out = []
    for i, prompt in enumerate(prompt_list):
        rng = np.random.default_rng([seed, stream, i])
        if not prompt:
            out.append(detokenize(lm.generate_sentence(rng, max_length=MAX_LENGTH),
                                  lm.vocabulary.unknown_spelling))
            continue
        # Space-separated tokens are read back as the same tokens, whatever the text options.
        answer = lm.continue_prefix(" ".join(prompt), num_samples=1, max_length=MAX_LENGTH,
                                    seed=int(rng.integers(2**62)))
        out.append(answer["samples"][0]["text"])
    return out


def shown_prompts(sentences, vocabulary, n: int = PROMPTS) -> list[str]:
    """What the job row keeps: each prompt as ``shown``, "" for the unprompted sentence."""
    return [shown(p, vocabulary) for p in prompts(sentences, vocabulary, n)]
