"""The losses an evaluation measures during training: which sentences, in which batches, and the
mean loss per word over them (the validation split's with the novel-word share of
``rnncore.novel_words``). ``rnncore.train`` calls these at every evaluation."""
from __future__ import annotations

import numpy as np

from rnncore.batching import pad_batch

# Words of training text whose loss an evaluation measures (see train_sample).
TRAIN_EVAL_TOKENS, TRAIN_EVAL_STREAM = 50_000, 5


def train_sample(train: list, seed: int) -> list:
    """The training sentences whose loss each evaluation measures: all of them up to
    TRAIN_EVAL_TOKENS words, else a fixed random share of about that many. The loss only decides
    when the learning rate halves, and a full pass over a large corpus cost a third of an epoch."""
    if sum(len(s) - 1 for s in train) <= TRAIN_EVAL_TOKENS:
        return train
    order = np.random.default_rng([seed, TRAIN_EVAL_STREAM]).permutation(len(train))
    lengths = np.array([len(train[i]) - 1 for i in order])
    keep = int(np.searchsorted(np.cumsum(lengths), TRAIN_EVAL_TOKENS)) + 1
    return [train[i] for i in np.sort(order[:keep])]


def eval_batches(sentences, batch_size, dtype):
    """Fixed batches of similar-length sentences for measuring loss; no randomness needed."""
    ordered = sorted(sentences, key=len)
    return [pad_batch([s[:-1] for s in ordered[i:i + batch_size]],
                      [s[1:] for s in ordered[i:i + batch_size]], dtype=dtype)
            for i in range(0, len(ordered), batch_size)]


def mean_loss(model, batches, between=None) -> float | None:
    """Mean loss per word over ``batches``; ``between()`` runs after each batch (the cancel check)."""
    if not batches:
        return None
    total = 0.0
    for x, y, mask in batches:
        with np.errstate(all="ignore"):
            total += model.batch_loss(x, y, mask)
        if between is not None:
            between()
    return total / sum(float(mask.sum()) for _, _, mask in batches)


def validation_loss(model, batches, novel, between=None) -> float | None:
    """Mean validation loss per word: the network's, or with ``novel`` (rnncore.novel_words)
    the smoothed model's, its unseen words counted at their reserved share."""
    if novel is None or not batches:
        return mean_loss(model, batches, between)
    seen_loss, seen, unseen = 0.0, 0, 0
    for x, y, mask in batches:
        is_novel = novel.is_novel(y) & (mask > 0)
        with np.errstate(all="ignore"):
            seen_loss += model.batch_loss(x, y, np.where(is_novel, 0, mask).astype(mask.dtype))
        seen += int((mask > 0).sum()) - int(is_novel.sum())
        unseen += int(is_novel.sum())
        if between is not None:
            between()
    return novel.loss_bound(seen_loss, seen, unseen)
