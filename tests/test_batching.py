"""pad_batch and iter_batches: shapes, masks, coverage, reproducibility, and that bucketing pads less."""
import numpy as np
import pytest

from rnncore.batching import batch_order, iter_batches, pad_batch


def corpus(rng, n=500, lo=2, hi=40):
    lengths = rng.integers(lo, hi, n)
    X = [rng.integers(0, 100, k).astype(np.int32) for k in lengths]
    Y = [rng.integers(0, 100, k).astype(np.int32) for k in lengths]
    return X, Y


def test_pad_batch_places_words_first_and_masks_the_rest():
    x, y, mask = pad_batch([[5, 6, 7], [8]], [[6, 7, 9], [3]])
    assert x.dtype == np.int32 and y.dtype == np.int32 and mask.dtype == np.float32
    np.testing.assert_array_equal(x, [[5, 6, 7], [8, 0, 0]])
    np.testing.assert_array_equal(y, [[6, 7, 9], [3, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 0]])
    assert pad_batch([[1]], [[2]], dtype=np.float64)[2].dtype == np.float64


@pytest.mark.parametrize("xs, ys, message", [
    ([], [], "at least one"),
    ([[1, 2]], [[1]], "same length"),
    ([[1], []], [[1], []], "empty"),
    ([[1]], [[1], [2]], "same number"),
])
def test_pad_batch_refuses_bad_input(xs, ys, message):
    with pytest.raises(ValueError, match=message):
        pad_batch(xs, ys)


@pytest.mark.parametrize("bucket", [True, False])
def test_iter_batches_covers_every_sentence_once(bucket):
    X, Y = corpus(np.random.default_rng(0))
    seen = []
    for x, y, mask in iter_batches(X, Y, 32, np.random.default_rng(1), bucket=bucket):
        assert x.shape[0] <= 32 and x.shape == y.shape == mask.shape
        for row, yrow, mrow in zip(x, y, mask):
            n = int(mrow.sum())
            assert mrow[:n].all() and not mrow[n:].any()
            seen.append((tuple(row[:n]), tuple(yrow[:n])))
    assert sorted(seen) == sorted((tuple(a), tuple(b)) for a, b in zip(X, Y))


def test_iter_batches_is_deterministic_given_the_generator():
    X, Y = corpus(np.random.default_rng(2))
    first = [x for x, _, _ in iter_batches(X, Y, 16, np.random.default_rng(3))]
    again = [x for x, _, _ in iter_batches(X, Y, 16, np.random.default_rng(3))]
    other = [x for x, _, _ in iter_batches(X, Y, 16, np.random.default_rng(4))]
    assert len(first) == len(again) == len(other) > 1
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(a.shape == b.shape and np.array_equal(a, b)
                   for a, b in zip(first, other, strict=True))


def test_bucketing_pads_much_less_than_random_batches():
    X, Y = corpus(np.random.default_rng(5), n=2000)

    def padding(bucket):
        batches = iter_batches(X, Y, 32, np.random.default_rng(6), bucket=bucket)
        return sum(mask.size - mask.sum() for _, _, mask in batches)

    assert padding(True) < 0.25 * padding(False)


def test_batch_order_shuffles_batches_not_only_sentences():
    lengths = np.arange(1000) % 50 + 1
    batches = batch_order(lengths, 10, np.random.default_rng(7))
    means = [lengths[b].mean() for b in batches]
    # Bucketed batches are sorted within windows, but their order must not follow length.
    assert means != sorted(means) and means != sorted(means, reverse=True)
    with pytest.raises(ValueError, match="batch_size"):
        batch_order(lengths, 0, np.random.default_rng(7))
