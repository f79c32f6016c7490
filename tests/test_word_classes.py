"""The class-factored output layer's pieces: the assignment, the reference layer held to central
differences, and the fused Op held to the reference on any number of threads."""
import math

import numpy as np
import pytest

from rnncore.fused_classes import class_cross_entropy
from rnncore.word_classes import (ClassLayout, ClassOutput, assign_classes, class_count,
                                  class_log_probs, class_output, target_counts, zipf_counts)


def test_classes_hold_equal_shares_with_the_frequent_words_alone():
    counts = zipf_counts(8000) * 1e6
    word_class = assign_classes(counts, class_count(8000))
    K = class_count(8000)
    assert K == 89 and word_class.shape == (8000,) and word_class.dtype == np.int32
    assert set(word_class) == set(range(K))  # every class holds a word
    assert np.all(np.diff(word_class) >= 0)  # ranked words fill the classes in order
    share = np.bincount(word_class, weights=counts) / counts.sum()  # (K,)
    sizes = np.bincount(word_class)
    assert sizes[0] == 1 and sizes[-1] > 100  # the most frequent word alone, rare ones together
    # A word taking more than its share is alone; past those, a class is closed by the word
    # that fills its share, so a class of a few words may hold up to twice it, one of many
    # words (where each word is a small part) hardly more than it.
    assert share[sizes > 1].max() / share[sizes > 1].min() < 2.2
    assert share[sizes >= 10].max() / share[sizes >= 10].min() < 1.1
    # The training layer's cost per word, K + E[class size], is about 2 sqrt(C).
    assert K + (share * sizes).sum() < 2.2 * math.sqrt(8000)


def test_assignment_ties_zero_counts_and_small_vocabularies():
    counts = np.array([0, 5, 5, 0, 9, 1, 0])
    word_class = assign_classes(counts, 3)
    assert list(word_class) == [2, 1, 1, 2, 0, 2, 2]  # 9 alone; the 5s; the rest
    assert list(assign_classes(np.zeros(4), 2)) == [0, 0, 0, 1]  # no mass: still K classes
    assert list(assign_classes([3, 2], 5)) == [0, 1]  # never more classes than words
    with pytest.raises(ValueError, match="non-negative"):
        assign_classes([1, -1], 2)


def test_target_counts_count_what_the_model_predicts():
    sentences = [np.array([0, 3, 3, 1]), np.array([0, 2, 1])]
    assert list(target_counts(sentences, 5)) == [0, 2, 1, 2, 0]  # START never a target


def test_layout_sorts_words_by_class():
    layout = ClassLayout.of(np.array([2, 0, 2, 1, 0]), 3)
    assert list(layout.order) == [1, 4, 3, 0, 2] and list(layout.starts) == [0, 2, 3, 5]
    assert np.array_equal(layout.order[layout.position], np.arange(5))
    with pytest.raises(ValueError, match="between 0 and 2"):
        ClassLayout.of(np.array([0, 3, 1]), 3)


def _problem(rng, C=30, K=6, N=17, H=4, scale=1.0):
    word_class = assign_classes(rng.random(C) ** 3, K)
    S, V, Vc = (rng.standard_normal(shape) * scale for shape in ((N, H), (C, H), (K, H)))
    return word_class, S, V, Vc, rng.integers(0, C, N), (rng.random(N) < 0.8).astype(np.float64)


def test_the_full_distribution_sums_to_one_and_factorises():
    rng = np.random.default_rng(1)
    word_class, S, V, Vc, _, _ = _problem(rng)
    layout = ClassLayout.of(word_class, len(Vc))
    logp = class_log_probs(V, Vc, layout, S)  # (N, C)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-12)
    pc = np.exp(S @ Vc.T) / np.exp(S @ Vc.T).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.bincount(word_class, np.exp(logp)[0]), pc[0], rtol=1e-12)
    np.testing.assert_allclose(ClassOutput(V, Vc, word_class).log_probs(S), logp, rtol=1e-12)


def test_reference_gradients_match_central_differences():
    rng = np.random.default_rng(2)
    word_class, S, V, Vc, target, m = _problem(rng)
    layout = ClassLayout.of(word_class, len(Vc))

    def loss(S, V, Vc):
        logp = class_log_probs(V, Vc, layout, S)
        return -np.sum(m * logp[np.arange(len(target)), target])

    value, dV, dVc, dS = class_output(V, Vc, word_class, S, target, m)
    assert value == pytest.approx(loss(S, V, Vc), rel=1e-12)
    h = 1e-6
    for array, grad in ((S, dS), (V, dV), (Vc, dVc)):
        for ix in np.ndindex(array.shape):
            original = array[ix]
            array[ix] = original + h
            plus = loss(S, V, Vc)
            array[ix] = original - h
            minus = loss(S, V, Vc)
            array[ix] = original
            assert grad[ix] == pytest.approx((plus - minus) / (2 * h), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("scale", [1.0, 40.0])
def test_fused_class_layer_matches_the_reference(threads, scale):
    """Any thread count; scale 40 makes logits large enough that exp would overflow unshifted."""
    rng = np.random.default_rng(3)
    word_class, S, V, Vc, target, m = _problem(rng, C=60, K=8, N=50, scale=scale)
    layout = ClassLayout.of(word_class, len(Vc))
    loss, dV, dVc, dS = class_output(V, Vc, word_class, S, target, m)
    got = class_cross_entropy(S, V[layout.order], Vc, target, m, word_class, layout.position,
                              layout.starts, threads=threads)
    assert got[0] == pytest.approx(loss, rel=1e-12)
    scale_of = lambda a: max(np.abs(a).max(), 1e-300)  # noqa: E731
    for fused, reference in ((got[1], dS), (got[2][layout.position], dV), (got[3], dVc)):
        assert np.abs(fused - reference).max() <= 1e-12 * scale_of(reference)
    assert class_cross_entropy(S, V[layout.order], Vc, target, m, word_class, layout.position,
                               layout.starts, with_grad=False, threads=threads) == \
        pytest.approx(loss, rel=1e-12)


def test_fused_class_layer_with_every_row_masked_is_zero():
    rng = np.random.default_rng(4)
    word_class, S, V, Vc, target, _ = _problem(rng)
    layout = ClassLayout.of(word_class, len(Vc))
    loss, dS, dV, dVc = class_cross_entropy(S, V[layout.order], Vc, target, np.zeros(len(S)),
                                            word_class, layout.position, layout.starts)
    assert loss == 0 and not dS.any() and not dV.any() and not dVc.any()


def test_sampling_by_class_draws_the_renormalised_distribution():
    rng = np.random.default_rng(5)
    word_class, S, V, Vc, _, _ = _problem(rng, C=20, K=4, N=1)
    classes = ClassOutput(V, Vc, word_class)
    forbidden = [0, 7, 19]
    p = np.exp(classes.log_probs(S))[0]
    p[forbidden] = 0
    p /= p.sum()

    def draw(cdf, u):
        return int(np.searchsorted(cdf, u, side="right"))

    words = classes.draw(np.repeat(S, 40_000, axis=0), np.random.default_rng(6), forbidden, draw)
    frequency = np.bincount(words, minlength=20) / len(words)
    assert frequency[forbidden].sum() == 0
    assert np.abs(frequency - p).max() < 4 * np.sqrt(p.max() / len(words))


def test_a_call_is_split_over_threads_only_when_its_work_pays_for_them():
    from rnncore.fused_classes import MIN_LOGITS_PER_THREAD, _threads_for
    from rnncore.fused_output import num_threads

    small = np.full(90, 6_000)  # batch 128 at C = 8000: about 576 k logits
    assert _threads_for(small, None) == 1
    assert _threads_for(small, 2) == 2  # asked for: kept
    large = np.full(100, 4 * MIN_LOGITS_PER_THREAD // 100)
    assert _threads_for(large, None) == min(num_threads(), 4)
    assert _threads_for(np.array([5, 0, 0]), 4) == 1  # one busy class: one thread
