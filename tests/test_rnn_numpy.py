"""RNNNumpy against independent references: finite differences, a per-output truncation built from
frozen states, the sum of per-sentence gradients, ln(vocabulary) at initialisation, optimizers."""
import math

import numpy as np
import pytest

from rnncore.batching import pad_batch
from rnncore.optimizers import OPTIMIZERS
from rnncore.rnn_numpy import RNNNumpy, softmax


def random_sentences(rng, word_dim, lengths):
    xs = [rng.integers(0, word_dim, n).astype(np.int32) for n in lengths]
    ys = [rng.integers(0, word_dim, n).astype(np.int32) for n in lengths]
    return xs, ys


def truncated_objective(params, x, y, frozen_s, k):
    """Sum over outputs t of -log p(y_t), where output t sees only steps max(0, t-k)..t.

    The state before that window is the frozen number ``frozen_s`` computed once at the expansion
    point, so the gradient of this function there is exactly the tutorial's per-output truncation.
    """
    U, V, W = params["U"], params["V"], params["W"]
    total = 0.0
    for t in range(len(y)):
        first = max(0, t - k)
        s = frozen_s[first - 1] if first > 0 else np.zeros(W.shape[0])
        for step in range(first, t + 1):
            s = np.tanh(U[:, x[step]] + W @ s)
        total -= math.log(softmax(V @ s)[y[t]])
    return total


def reference_truncated_gradient(model, x, y, h=1e-5):
    """Central differences of ``truncated_objective``: slow, but shares no code with ``bptt``."""
    params = model.get_params()
    _, s = model.forward_propagation(x)
    frozen_s = s.copy()
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for ix in np.ndindex(value.shape):
            original = value[ix]
            value[ix] = original + h
            plus = truncated_objective(params, x, y, frozen_s, model.bptt_truncate)
            value[ix] = original - h
            minus = truncated_objective(params, x, y, frozen_s, model.bptt_truncate)
            value[ix] = original
            grad[ix] = (plus - minus) / (2 * h)
        grads[name] = grad
    return grads


def test_initialisation_follows_the_tutorial():
    model = RNNNumpy(50, hidden_dim=7, rng=np.random.default_rng(0))
    assert model.U.shape == (7, 50) and model.V.shape == (50, 7) and model.W.shape == (7, 7)
    assert np.abs(model.U).max() <= 1 / math.sqrt(50)
    assert np.abs(model.V).max() <= 1 / math.sqrt(7) and np.abs(model.W).max() <= 1 / math.sqrt(7)
    again = RNNNumpy(50, hidden_dim=7, rng=np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_params().values(),
                                                    again.get_params().values()))


def test_forward_propagation_shapes_and_initial_state():
    rng = np.random.default_rng(1)
    model = RNNNumpy(30, hidden_dim=6, rng=rng)
    x = rng.integers(0, 30, 9)
    o, s = model.forward_propagation(x)
    assert o.shape == (9, 30) and s.shape == (10, 6)
    assert np.allclose(o.sum(axis=1), 1.0) and not s[-1].any()
    assert np.array_equal(model.predict(x), o.argmax(axis=1))


def test_gradient_check_passes_for_full_bptt():
    """The tutorial's check: vocabulary 100, 10 hidden units, bptt_truncate 1000."""
    rng = np.random.default_rng(10)
    model = RNNNumpy(100, hidden_dim=10, bptt_truncate=1000, rng=rng)
    assert model.gradient_check([0, 1, 2, 3], [1, 2, 3, 4])


def test_gradient_check_catches_a_truncated_gradient():
    """A truncated gradient is not the loss's gradient on a longer sentence, and the check says so."""
    rng = np.random.default_rng(12)
    model = RNNNumpy(100, hidden_dim=10, bptt_truncate=1, rng=rng)
    model.set_params({k: v * 4 for k, v in model.get_params().items()})  # strong recurrence
    assert not model.gradient_check(list(range(8)), list(range(1, 9)))


@pytest.mark.parametrize("bptt_truncate", [0, 1, 2, 4])
def test_bptt_matches_per_output_truncation_reference(bptt_truncate):
    rng = np.random.default_rng(20 + bptt_truncate)
    model = RNNNumpy(12, hidden_dim=5, bptt_truncate=bptt_truncate, rng=rng)
    model.set_params({k: v * 3 for k, v in model.get_params().items()})
    x, y = rng.integers(0, 12, 9), rng.integers(0, 12, 9)
    reference = reference_truncated_gradient(model, x, y)
    for name, grad in zip("UVW", model.bptt(x, y)):
        np.testing.assert_allclose(grad, reference[name], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("bptt_truncate", [0, 1, 2, 4, 1000])
def test_batch_gradients_equal_sum_of_sentence_gradients(bptt_truncate):
    rng = np.random.default_rng(30 + bptt_truncate)
    model = RNNNumpy(40, hidden_dim=8, bptt_truncate=bptt_truncate, rng=rng)
    xs, ys = random_sentences(rng, 40, [3, 11, 1, 7, 11])
    loss, grads = model.batch_gradients(*pad_batch(xs, ys))
    expected = [sum(model.bptt(x, y)[i] for x, y in zip(xs, ys)) for i in range(3)]
    for name, want in zip("UVW", expected):
        np.testing.assert_allclose(grads[name], want, rtol=1e-10, atol=1e-12)
    assert loss == pytest.approx(model.calculate_total_loss(xs, ys), rel=1e-12)
    assert model.batch_loss(*pad_batch(xs, ys)) == pytest.approx(loss, rel=1e-12)


def test_calculate_loss_is_the_mean_of_the_total():
    rng = np.random.default_rng(3)
    model = RNNNumpy(20, hidden_dim=4, rng=rng)
    xs, ys = random_sentences(rng, 20, [4, 6])
    assert model.calculate_loss(xs, ys) == pytest.approx(model.calculate_total_loss(xs, ys) / 10)


def test_initial_loss_is_log_vocabulary_size():
    """The tutorial's sanity check: random weights predict uniformly, ln(8000) = 8.987."""
    rng = np.random.default_rng(4)
    model = RNNNumpy(8000, hidden_dim=100, rng=rng)
    xs, ys = random_sentences(rng, 8000, [12] * 20)
    assert abs(model.calculate_loss(xs, ys) - math.log(8000)) < 0.05


def test_sgd_step_is_the_tutorial_update():
    rng = np.random.default_rng(5)
    model = RNNNumpy(25, hidden_dim=6, rng=rng, optimizer="adam", clip_norm=1e-3)
    x, y = rng.integers(0, 25, 7), rng.integers(0, 25, 7)
    before = model.get_params()
    grads = model.bptt(x, y)
    model.sgd_step(x, y, 0.1)
    for name, grad in zip("UVW", grads):
        np.testing.assert_allclose(getattr(model, name), before[name] - 0.1 * grad)


def tiny_corpus(rng, word_dim):
    xs, ys = random_sentences(rng, word_dim, [6, 9, 4, 9])
    return pad_batch(xs, ys, dtype=np.float64)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_train_step_decreases_the_loss(optimizer):
    rng = np.random.default_rng(6)
    model = RNNNumpy(30, hidden_dim=10, rng=rng, optimizer=optimizer)
    x, y, mask = tiny_corpus(rng, 30)
    learning_rate = 0.05 if optimizer == "sgd" else 0.01
    first = model.batch_loss(x, y, mask)
    for _ in range(30):
        model.train_step(x, y, mask, learning_rate)
    assert model.batch_loss(x, y, mask) < 0.8 * first


def test_clip_norm_limits_the_update_per_word_of_the_batch():
    rng = np.random.default_rng(7)
    model = RNNNumpy(30, hidden_dim=10, rng=rng, clip_norm=0.001)
    x, y, mask = tiny_corpus(rng, 30)
    before = model.get_params()
    _, grads = model.batch_gradients(x, y, mask)
    norm = math.sqrt(sum((g**2).sum() for g in grads.values()))
    limit = 0.001 * mask.sum()  # the batch's gradient is a sum over its words
    assert norm > limit
    model.train_step(x, y, mask, 1.0)
    for name in "UVW":
        np.testing.assert_allclose(before[name] - getattr(model, name), grads[name] * limit / norm,
                                   rtol=1e-4)


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_optimizer_state_round_trip_gives_identical_updates(optimizer):
    rng = np.random.default_rng(8)
    model = RNNNumpy(30, hidden_dim=10, rng=rng, optimizer=optimizer, clip_norm=5.0)
    x, y, mask = tiny_corpus(rng, 30)
    for _ in range(3):
        model.train_step(x, y, mask, 0.01)
    resumed = RNNNumpy(30, hidden_dim=10, rng=np.random.default_rng(99), optimizer=optimizer,
                       clip_norm=5.0)
    resumed.set_params(model.get_params())
    resumed.set_optimizer_state(model.get_optimizer_state())
    for _ in range(2):
        assert resumed.train_step(x, y, mask, 0.01) == model.train_step(x, y, mask, 0.01)
    for name in "UVW":
        np.testing.assert_array_equal(getattr(resumed, name), getattr(model, name))


def test_bad_parameters_and_state_are_refused():
    model = RNNNumpy(10, hidden_dim=3, rng=np.random.default_rng(9), optimizer="adam")
    with pytest.raises(ValueError, match="shape"):
        model.set_params({"U": np.zeros((3, 11)), "V": model.V, "W": model.W})
    with pytest.raises(ValueError, match="keys"):
        model.set_optimizer_state({})
    with pytest.raises(ValueError, match="unknown optimizer"):
        RNNNumpy(10, optimizer="momentum")
