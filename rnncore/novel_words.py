"""Words of the vocabulary that the training split never shows, and the share of text they get.

The vocabulary is made from the whole corpus before the validation split is drawn, so on a small
corpus some of its words occur only in the held-out sentences: on the reddit sample, 13% of the
validation tokens. The network never sees them as targets, and softmax training pushes their
logits down at every step, so it gives each about e^-10. Good and Turing's estimate of how much
text is made of words not seen before is the share of training tokens whose word was seen exactly
once, n1 / N (12% on that sample). ``NovelWords`` reserves that share for the unseen words, split
evenly among them, and gives the network's distribution the rest:

    P(w | h) = (1 - g) P_rnn(w | h) + g u(w),   g = n1 / N,  u uniform over the unseen words.

This is a smoothing of the network fitted on training counts alone; it changes nothing where
every word of the vocabulary was seen (a capped vocabulary of a large corpus), and sampling still
draws only among the words the network has learned (``rnncore.generate``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rnncore.word_classes import target_counts


@dataclass(frozen=True)
class NovelWords:
    """The word ids that training never shows (sorted) and the share g of text they get."""

    ids: np.ndarray  # (n,) int64
    share: float

    @classmethod
    def of_training(cls, train: Sequence[np.ndarray], vocabulary_size: int,
                    never: Sequence[int] = ()) -> "NovelWords | None":
        """From the training sentences' targets (``s[1:]``); ``never`` are ids no model predicts
        (SENTENCE_START). None when every word was seen or no word was seen only once."""
        counts = target_counts(train, vocabulary_size)
        unseen = counts == 0
        unseen[list(never)] = False
        total, once = int(counts.sum()), int((counts == 1).sum())
        if not unseen.any() or once == 0 or total == 0:
            return None
        return cls(np.flatnonzero(unseen).astype(np.int64), once / total)

    def to_json(self) -> dict:
        return {"share": self.share, "ids": [int(i) for i in self.ids]}

    @classmethod
    def from_json(cls, data, vocabulary_size: int) -> "NovelWords | None":
        """Inverse of to_json; ValueError in words for anything that is not one."""
        if data is None:
            return None
        try:
            ids, share = np.asarray(data["ids"], dtype=np.int64), float(data["share"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a list of unseen words ({exc})") from None
        if ids.ndim != 1 or not len(ids) or (np.diff(ids) <= 0).any() or ids[0] < 0 \
                or ids[-1] >= vocabulary_size or not 0.0 < share < 1.0:
            raise ValueError("the unseen words or their share are inconsistent")
        return cls(ids, share)

    def log_probs(self, network: np.ndarray) -> np.ndarray:
        """log P(w | h) from the network's log P_rnn (..., C): the formula above."""
        novel = np.full(network.shape[-1], -np.inf)  # (C,)
        novel[self.ids] = math.log(self.share / len(self.ids))
        return np.logaddexp(math.log1p(-self.share) + network, novel)

    def loss_bound(self, seen_loss: float, seen: int, unseen: int) -> float:
        """Mean -log P over ``seen + unseen`` tokens, from the network's summed loss on the seen
        ones, counting an unseen word's g u(w) only (its (1 - g) P_rnn part is left out, so the
        figure is at worst a little higher than the exact one). Training's evaluations use it:
        the compiled engines return summed losses, not each word's probability."""
        novel = -math.log(self.share / len(self.ids))
        return (seen_loss - seen * math.log1p(-self.share) + unseen * novel) / (seen + unseen)

    def is_novel(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` (any shape) are unseen words."""
        return np.isin(ids, self.ids)
