"""RNNJax (PyTensor's graphs compiled by JAX) held equal to RNNNumpy, as the C engine is.

JAX runs on the CPU here, so these are the GPU engine's numbers checked without a GPU;
scripts/gpu_check.sh runs this file on one. Every compiled shape costs a second or two, so the
models are module-scoped and most sentences fall into the same length buckets.
"""
import math

import numpy as np
import pytest

pytest.importorskip("jax", reason="jax is not installed (pip install -r requirements-dev.txt); "
                                  "the pytensor-jax engine cannot be tested without it")

from rnncore.batching import pad_batch  # noqa: E402
from rnncore.config import ModelConfig, TrainConfig  # noqa: E402
from rnncore.rnn_jax import RNNJax, padded_length  # noqa: E402
from rnncore.rnn_numpy import RNNNumpy  # noqa: E402
from rnncore.models import build_model, model_config_of  # noqa: E402
from rnncore.train import train_with_sgd  # noqa: E402
from test_engines import assert_close, random_sentences  # noqa: E402
from test_train import VOCAB, toy_corpus  # noqa: E402

WORD_DIM, HIDDEN_DIM = 100, 10
# Sentences of 13, 1, 7 and 11 words: one batch padded to 16, single sentences to 8 and 16.
LENGTHS = [13, 1, 7, 11]


@pytest.fixture(scope="module")
def engines():
    """A float64 JAX model and a numpy model with the same (sharpened) weights."""
    reference = RNNNumpy(WORD_DIM, HIDDEN_DIM, bptt_truncate=1000,
                         rng=np.random.default_rng(200))
    # Larger weights make the recurrence matter, so a wrong truncation shows in the gradients.
    reference.set_params({k: v * 3 for k, v in reference.get_params().items()})
    model = RNNJax(WORD_DIM, HIDDEN_DIM, bptt_truncate=1000, dtype="float64")
    model.set_params(reference.get_params())
    return reference, model


@pytest.fixture
def truncation(engines, request):
    reference, model = engines
    reference.bptt_truncate = model.bptt_truncate = request.param
    yield reference, model
    reference.bptt_truncate = model.bptt_truncate = 1000


def test_padded_lengths_are_few_buckets_with_little_padding():
    buckets = {padded_length(T) for T in range(1, 257)}
    assert len(buckets) == 16 and all(b % 8 == 0 for b in buckets)
    for T in range(1, 257):
        assert T <= padded_length(T) and padded_length(padded_length(T)) == padded_length(T)
        assert padded_length(T) - T < max(8, T / 4)


def test_gradient_check_passes_for_full_bptt():
    """The tutorial's check on the JAX engine: vocabulary 100, 10 hidden units, bptt 1000."""
    model = RNNJax(WORD_DIM, HIDDEN_DIM, bptt_truncate=1000, dtype="float64",
                   rng=np.random.default_rng(201))
    assert model.gradient_check([0, 1, 2, 3], [1, 2, 3, 4])


def test_forward_propagation_and_predict_agree(engines):
    reference, model = engines
    x = np.random.default_rng(202).integers(0, WORD_DIM, 11)
    for got, want in zip(model.forward_propagation(x), reference.forward_propagation(x)):
        assert got.shape == want.shape
        assert_close(got, want, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(x), reference.predict(x))


@pytest.mark.parametrize("truncation", [1, 2, 4, 1000], indirect=True)
def test_batch_loss_and_gradients_equal_numpy_sentence_sums(truncation):
    """Loss and all three gradients of a padded batch equal the numpy reference's per-sentence
    bptt summed, for every truncation (bptt_truncate picks the compiled function)."""
    reference, model = truncation
    xs, ys = random_sentences(np.random.default_rng(203), WORD_DIM, LENGTHS)
    loss, grads = model.batch_gradients(*pad_batch(xs, ys, dtype=np.float64))
    sentence_grads = [reference.bptt(x, y) for x, y in zip(xs, ys)]
    for i, name in enumerate("UVW"):
        assert_close(grads[name], sum(g[i] for g in sentence_grads))
    assert loss == pytest.approx(reference.calculate_total_loss(xs, ys), rel=1e-6)
    assert model.calculate_total_loss(xs, ys) == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("truncation", [1, 2, 4, 1000], indirect=True)
def test_sentence_gradients_agree(truncation):
    reference, model = truncation
    xs, ys = random_sentences(np.random.default_rng(204), WORD_DIM, [13])
    for got, want in zip(model.bptt(xs[0], ys[0]), reference.bptt(xs[0], ys[0])):
        assert_close(got, want)


def test_compiled_functions_are_cached_by_padded_length(engines):
    """Lengths 5 and 8 share the bucket of 8 and one function; 9 and 13 share 16. Padding beyond
    the batch's own length (mask 0) changes no number."""
    reference, _ = engines
    model = RNNJax(WORD_DIM, HIDDEN_DIM, dtype="float64", rng=np.random.default_rng(205))
    model.set_params(reference.get_params())
    rng = np.random.default_rng(206)
    for lengths in ([5, 3], [8, 2], [9, 4], [13, 13]):
        xs, ys = random_sentences(rng, WORD_DIM, lengths)
        x, y, mask = pad_batch(xs, ys, dtype=np.float64)
        want = reference.calculate_total_loss(xs, ys)
        assert model.batch_loss(x, y, mask) == pytest.approx(want, rel=1e-12)
        # The same batch padded by hand to the end of its bucket: same function, same loss.
        extra = ((0, 0), (0, padded_length(x.shape[1]) - x.shape[1]))
        assert model.batch_loss(*(np.pad(a, extra) for a in (x, y, mask))) == pytest.approx(
            want, rel=1e-12)
    assert model.compiled_shapes() == [("loss", 2, 8, 0), ("loss", 2, 16, 0)]


@pytest.mark.parametrize("optimizer, clip_norm", [("sgd", None), ("adam", 0.5)])
def test_train_step_agrees_and_decreases_the_loss(optimizer, clip_norm):
    xs, ys = random_sentences(np.random.default_rng(207), 30, [6, 9, 4, 9])
    x, y, mask = pad_batch(xs, ys, dtype=np.float64)
    reference = RNNNumpy(30, 10, optimizer=optimizer, clip_norm=clip_norm,
                         rng=np.random.default_rng(208))
    model = RNNJax(30, 10, dtype="float64", optimizer=optimizer, clip_norm=clip_norm)
    model.set_params(reference.get_params())
    learning_rate = 0.05 if optimizer == "sgd" else 0.01
    first = model.batch_loss(x, y, mask)
    for _ in range(25):
        assert model.train_step(x, y, mask, learning_rate) == pytest.approx(
            reference.train_step(x, y, mask, learning_rate), rel=1e-6)
    for name, value in reference.get_params().items():
        assert_close(model.get_params()[name], value)
    for key, value in reference.get_optimizer_state().items():
        assert_close(model.get_optimizer_state()[key], value)
    assert model.batch_loss(x, y, mask) < 0.8 * first


def test_float32_model_computes_in_float32_and_starts_at_log_vocabulary_size():
    model = RNNJax(8000, 16, rng=np.random.default_rng(209))
    xs, ys = random_sentences(np.random.default_rng(210), 8000, [12] * 20)
    loss, grads = model.batch_gradients(*pad_batch(xs, ys))
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(v.dtype == np.float32 and v.flags.writeable for v in model.get_params().values())
    assert abs(loss / (12 * 20) - math.log(8000)) < 0.05
    assert model.device.split(":")[0] in ("cpu", "gpu")


def test_a_job_on_the_jax_engine_trains_as_the_numpy_engine_does():
    """build_model picks the engine from the job's ModelConfig; the whole run, evaluations and
    learning-rate halving included, gives the reference's numbers."""
    config = TrainConfig(learning_rate=0.05, nepoch=2, batch_size=8, seed=5)
    results, models = {}, {}
    for engine in ("numpy", "pytensor-jax"):
        model_config = ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=8, engine=engine,
                                   dtype="float64")
        models[engine] = build_model(model_config, config)
        results[engine] = train_with_sgd(models[engine], toy_corpus(60), config, num_samples=0)
    assert isinstance(models["pytensor-jax"], RNNJax)
    assert model_config_of(models["pytensor-jax"]).engine == "pytensor-jax"
    assert len(results["numpy"].loss_history) == len(results["pytensor-jax"].loss_history) == 3
    for want, got in zip(results["numpy"].loss_history, results["pytensor-jax"].loss_history,
                         strict=True):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-9)
        assert got["valid_loss"] == pytest.approx(want["valid_loss"], rel=1e-9)
    for name, value in results["numpy"].params.items():
        assert_close(results["pytensor-jax"].params[name], value, rtol=1e-9)
