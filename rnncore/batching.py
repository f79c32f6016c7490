"""Minibatches of sentences: padding to a rectangle with a mask, and length-bucketed shuffling.

Both engines take a batch as ``x``, ``y`` int32 (B, T) and ``mask`` (B, T), 1 for real words and 0
for padding after the end of each sentence. Grouping sentences of similar length keeps the padding,
which costs compute but teaches nothing, small; the order stays random and reproducible from the
``np.random.Generator`` passed in.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

# Sentences are sorted by length inside windows of this many batches: wide enough that neighbours
# have similar lengths, narrow enough that each epoch still mixes sentences differently.
BUCKET_WINDOW_BATCHES = 8


def pad_batch(sentences_x: Sequence, sentences_y: Sequence, dtype=np.float32):
    """Stack sentences into ``(x, y, mask)``: int32 (B, T), int32 (B, T), ``dtype`` (B, T).

    T is the longest sentence; shorter ones are padded at the end with index 0 and mask 0.
    """
    if len(sentences_x) != len(sentences_y):
        raise ValueError("sentences_x and sentences_y must have the same number of sentences")
    if len(sentences_x) == 0:
        raise ValueError("a batch needs at least one sentence")
    lengths = [len(sx) for sx in sentences_x]
    for sx, sy in zip(sentences_x, sentences_y):
        if len(sx) != len(sy):
            raise ValueError("each sentence's x and y must have the same length")
        if len(sx) == 0:
            raise ValueError("a batch cannot contain an empty sentence")
    B, T = len(lengths), max(lengths)
    x = np.zeros((B, T), dtype=np.int32)  # (B, T)
    y = np.zeros((B, T), dtype=np.int32)  # (B, T)
    mask = np.zeros((B, T), dtype=dtype)  # (B, T)
    for i, (sx, sy) in enumerate(zip(sentences_x, sentences_y)):
        x[i, : lengths[i]] = sx
        y[i, : lengths[i]] = sy
        mask[i, : lengths[i]] = 1
    return x, y, mask


def batch_order(lengths: Sequence[int], batch_size: int, rng: np.random.Generator,
                bucket: bool = True) -> list[np.ndarray]:
    """Split sentence indices into batches: shuffled, and grouped by length when ``bucket``.

    A random permutation is cut into windows of a few batches, each window is sorted by length
    (stable, so ties keep the random order) and cut into batches, and the batches are shuffled.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    if bucket:
        window = batch_size * BUCKET_WINDOW_BATCHES
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            order[start : start + window] = chunk[np.argsort(lengths[chunk], kind="stable")]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def iter_batches(X: Sequence, Y: Sequence, batch_size: int, rng: np.random.Generator,
                 bucket: bool = True, dtype=np.float32) -> Iterator[tuple]:
    """Yield ``(x, y, mask)`` padded batches covering every sentence of X, Y once."""
    if len(X) != len(Y):
        raise ValueError("X and Y must have the same number of sentences")
    for indices in batch_order([len(sx) for sx in X], batch_size, rng, bucket):
        yield pad_batch([X[i] for i in indices], [Y[i] for i in indices], dtype=dtype)
