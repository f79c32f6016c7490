"""The GRU and LSTM cells and dropout in the compiled engines, held equal to the numpy reference.

Losses, every gradient and whole training steps in float64, with and without dropout (the same
dropout_seed gives the same masks in every engine), the tutorial's gradient check, and optimizer
state with the gated cells' b. Compiling dominates the run time, so the PyTensor models are
module-scoped, one per cell; the pytensor-jax engine (JAX on the CPU here) is skipped without jax.
"""
import numpy as np
import pytest

from rnncore import cells
from rnncore.batching import pad_batch
from rnncore.rnn_numpy import RNNNumpy
from rnncore.rnn_pytensor import RNNPyTensor
from test_cells import GATED, HIDDEN_DIM, LENGTHS, WORD_DIM, numpy_model, sharpened
from test_engines import assert_close, random_sentences

# --- the PyTensor engine against the reference --------------------------------------------------

@pytest.fixture(scope="module", params=GATED)
def engines(request):
    """A float64 PyTensor model and a numpy model with the same (sharpened) weights."""
    reference = numpy_model(request.param)
    model = RNNPyTensor(WORD_DIM, HIDDEN_DIM, dtype="float64", cell=request.param)
    model.set_params(reference.get_params())
    return reference, model


def test_pytensor_gradient_check(engines):
    _, model = engines
    small = sharpened(RNNPyTensor(9, 4, dtype="float64", cell=model.cell,
                                  rng=np.random.default_rng(8)))
    assert small.gradient_check([0, 1, 2, 3, 5], [1, 2, 3, 4, 6], h=1e-5, error_threshold=1e-4)


def test_pytensor_loss_gradients_and_forward_equal_numpy(engines):
    reference, model = engines
    xs, ys = random_sentences(np.random.default_rng(9), WORD_DIM, LENGTHS)
    batch = pad_batch(xs, ys, dtype=np.float64)
    loss, grads = model.batch_gradients(*batch)
    want_loss, want = reference.batch_gradients(*batch)
    assert set(grads) == {"U", "V", "W", "b"}
    for name in model.param_names:
        assert_close(grads[name], want[name])
    assert loss == pytest.approx(want_loss, rel=1e-10)
    per_sentence = [model.bptt(x, y) for x, y in zip(xs, ys)]
    for i, name in enumerate(model.param_names):
        assert_close(grads[name], sum(g[i] for g in per_sentence))
    assert model.calculate_total_loss(xs, ys) == pytest.approx(want_loss, rel=1e-10)
    for got, want_fp in zip(model.forward_propagation(xs[2]), reference.forward_propagation(xs[2])):
        assert_close(got, want_fp, rtol=1e-12)


@pytest.fixture
def dropping(engines):
    reference, model = engines
    reference.dropout = model.dropout = 0.3
    yield reference, model
    reference.dropout = model.dropout = 0.0


def test_pytensor_dropout_gradients_equal_numpy_for_the_same_seed(dropping):
    reference, model = dropping
    xs, ys = random_sentences(np.random.default_rng(10), WORD_DIM, LENGTHS)
    batch = pad_batch(xs, ys, dtype=np.float64)
    loss, grads = model.batch_gradients(*batch, dropout_seed=(3, 4, 0, 1))
    want_loss, want = reference.batch_gradients(*batch, dropout_seed=(3, 4, 0, 1))
    assert loss == pytest.approx(want_loss, rel=1e-10)
    for name in model.param_names:
        assert_close(grads[name], want[name])
    other, _ = model.batch_gradients(*batch, dropout_seed=(3, 4, 0, 2))
    assert other != pytest.approx(loss, rel=1e-6)


@pytest.mark.parametrize("cell", cells.CELLS)
def test_training_steps_with_dropout_agree_across_engines(cell):
    xs, ys = random_sentences(np.random.default_rng(11), 30, [6, 9, 4, 9])
    batch = pad_batch(xs, ys, dtype=np.float64)
    settings = dict(optimizer="adam", clip_norm=0.5, cell=cell, dropout=0.25, bptt_truncate=3)
    reference = RNNNumpy(30, 8, rng=np.random.default_rng(12), **settings)
    model = RNNPyTensor(30, 8, dtype="float64", **settings)
    model.set_params(reference.get_params())
    for step in range(8):
        seed = (5, 4, 0, step)
        assert model.train_step(*batch, 0.01, dropout_seed=seed) == pytest.approx(
            reference.train_step(*batch, 0.01, dropout_seed=seed), rel=1e-9)
    for name, value in reference.get_params().items():
        assert_close(model.get_params()[name], value)
    for key, value in reference.get_optimizer_state().items():
        assert_close(model.get_optimizer_state()[key], value)
    # Compiled with and without the masks: each variant only when it is used.
    assert "train_dropout" in model._functions and "train" not in model._functions


def test_pytensor_optimizer_state_round_trip_gives_identical_updates(engines):
    _, model = engines
    xs, ys = random_sentences(np.random.default_rng(13), WORD_DIM, [5, 7])
    batch = pad_batch(xs, ys, dtype=np.float64)
    trained = RNNPyTensor(WORD_DIM, HIDDEN_DIM, dtype="float64", cell=model.cell,
                          optimizer="rmsprop", rng=np.random.default_rng(14))
    for _ in range(2):
        trained.train_step(*batch, 0.01)
    assert {"cache_b"} <= set(trained.get_optimizer_state())
    resumed = RNNPyTensor(WORD_DIM, HIDDEN_DIM, dtype="float64", cell=model.cell,
                          optimizer="rmsprop", rng=np.random.default_rng(1))
    resumed.set_params(trained.get_params())
    resumed.set_optimizer_state(trained.get_optimizer_state())
    assert resumed.train_step(*batch, 0.01) == trained.train_step(*batch, 0.01)
    for name, value in trained.get_params().items():
        np.testing.assert_array_equal(resumed.get_params()[name], value)


# --- the pytensor-jax engine ------------------------------------------------------------------

@pytest.fixture(scope="module")
def RNNJax():
    pytest.importorskip("jax", reason="jax is not installed (pip install -r requirements-dev.txt); "
                                      "the pytensor-jax engine cannot be tested without it")
    from rnncore.rnn_jax import RNNJax

    return RNNJax


@pytest.mark.parametrize("cell", GATED)
def test_jax_engine_equals_numpy_with_and_without_dropout(RNNJax, cell):
    reference = numpy_model(cell)
    model = RNNJax(WORD_DIM, HIDDEN_DIM, dtype="float64", cell=cell)
    model.set_params(reference.get_params())
    xs, ys = random_sentences(np.random.default_rng(15), WORD_DIM, [13, 1, 7, 11])
    batch = pad_batch(xs, ys, dtype=np.float64)
    loss, grads = model.batch_gradients(*batch)
    per_sentence = [reference.bptt(x, y) for x, y in zip(xs, ys)]
    for i, name in enumerate(model.param_names):
        assert_close(grads[name], sum(g[i] for g in per_sentence))
    assert loss == pytest.approx(reference.calculate_total_loss(xs, ys), rel=1e-10)
    assert_close(model.forward_propagation(xs[0])[0], reference.forward_propagation(xs[0])[0],
                 rtol=1e-12)
    reference.dropout = model.dropout = 0.3
    for step in range(3):  # masks drawn for the batch as given, then padded to the bucket
        assert model.train_step(*batch, 0.05, dropout_seed=(0, step)) == pytest.approx(
            reference.train_step(*batch, 0.05, dropout_seed=(0, step)), rel=1e-9)
    for name, value in reference.get_params().items():
        assert_close(model.get_params()[name], value)
    assert ("train_dropout", 4, 16, 0) in model.compiled_shapes()
