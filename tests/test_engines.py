"""RNNPyTensor held equal to RNNNumpy: losses, gradients for every bptt_truncate, optimizer updates.

Compiling dominates the run time, so the models are module-scoped and tests that need another
truncation change ``bptt_truncate`` (an input of the compiled functions, not a constant).
"""
import math

import numpy as np
import pytest

from rnncore.batching import pad_batch
from rnncore.fused_output import floor_shifted, softmax_cross_entropy
from rnncore.optimizers import CLIP_WORDS_PER_SENTENCE, OPTIMIZERS
from rnncore.rnn_numpy import RNNNumpy
from rnncore.rnn_pytensor import RNNPyTensor

WORD_DIM, HIDDEN_DIM = 100, 10


def random_sentences(rng, word_dim, lengths):
    xs = [rng.integers(0, word_dim, n).astype(np.int32) for n in lengths]
    ys = [rng.integers(0, word_dim, n).astype(np.int32) for n in lengths]
    return xs, ys


def assert_close(actual, expected, rtol=1e-6):
    """Relative to the largest entry, so entries that are zero in both do not need an atol guess."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(np.abs(expected).max(), 1e-300)
    assert np.abs(actual - expected).max() <= rtol * scale


@pytest.mark.parametrize("block_rows, threads", [(1, 1), (3, 2), (7, 3), (64, 2), (4, 1)])
@pytest.mark.parametrize("scale", [1.0, 40.0])
def test_fused_output_layer_matches_plain_numpy(block_rows, threads, scale):
    """Any block size (the last block short) on any number of threads gives the unblocked result;
    scale 40 makes logits large enough that exp would overflow without the max shift."""
    rng = np.random.default_rng(99)
    S, V = rng.standard_normal((23, 4)) * scale, rng.standard_normal((30, 4)) * scale
    target, m = rng.integers(0, 30, 23), (rng.random(23) < 0.7).astype(np.float64)
    logits = S @ V.T
    logits_shifted = logits - logits.max(axis=1, keepdims=True)
    logp = logits_shifted - np.log(np.exp(logits_shifted).sum(axis=1, keepdims=True))
    delta = (np.exp(logp) - np.eye(30)[target]) * m[:, None]
    loss, dS, dV = softmax_cross_entropy(S, V, target, m, block_rows=block_rows, threads=threads)
    assert np.isfinite(loss) and np.isfinite(dS).all() and np.isfinite(dV).all()
    assert loss == pytest.approx(-(m * logp[np.arange(23), target]).sum(), rel=1e-12)
    assert_close(dS, delta @ V, rtol=1e-12)
    assert_close(dV, delta.T @ S, rtol=1e-12)
    assert softmax_cross_entropy(S, V, target, m, with_grad=False, block_rows=block_rows,
                                 threads=threads) == pytest.approx(loss, rel=1e-12)


def test_logits_far_below_the_best_never_reach_exp_as_subnormals():
    """exp of a floored shifted logit is a normal float32: Intel cores handle subnormals in
    microcode, which made whole training steps more than twice as slow."""
    logits = np.array([[0.0, -50.0, -90.0, -200.0, -1e30]], dtype=np.float32)
    floor_shifted(logits)
    assert (np.exp(logits) >= np.finfo(np.float32).tiny).all()
    assert logits[0, 0] == 0 and logits[0, 1] == -50  # only the far ones move


def test_fused_output_layer_in_float32_keeps_a_far_below_targets_true_loss():
    """Logits 100, 0 and -100; the target is the last: its loss is 200 nats, not the floor's 80."""
    S = np.array([[1.0, 0.0]], dtype=np.float32)
    V = np.array([[100.0, 0.0], [0.0, 1.0], [-100.0, 0.0]], dtype=np.float32)
    loss, dS, dV = softmax_cross_entropy(S, V, np.array([2]), np.ones(1, dtype=np.float32))
    assert loss == pytest.approx(200.0, rel=1e-6)
    assert_close(dS, np.array([[200.0, 0.0]]))  # sum_c p_c V_c - V_target, p = (1, ~0, ~0)
    assert_close(dV, np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]]))


def test_fused_output_layer_with_every_row_masked_is_zero():
    rng = np.random.default_rng(98)
    S, V = rng.standard_normal((5, 4)), rng.standard_normal((9, 4))
    loss, dS, dV = softmax_cross_entropy(S, V, rng.integers(0, 9, 5), np.zeros(5))
    assert loss == 0 and dS.shape == S.shape and dV.shape == V.shape
    assert not dS.any() and not dV.any()


@pytest.fixture(scope="module")
def engines():
    """A float64 PyTensor model and a numpy model with the same (sharpened) weights."""
    rng = np.random.default_rng(100)
    reference = RNNNumpy(WORD_DIM, HIDDEN_DIM, bptt_truncate=1000, rng=rng)
    # Larger weights make the recurrence matter, so a wrong truncation shows in the gradients.
    reference.set_params({k: v * 3 for k, v in reference.get_params().items()})
    model = RNNPyTensor(WORD_DIM, HIDDEN_DIM, bptt_truncate=1000, dtype="float64")
    model.set_params(reference.get_params())
    return reference, model


@pytest.fixture
def truncation(engines, request):
    reference, model = engines
    reference.bptt_truncate = model.bptt_truncate = request.param
    yield reference, model
    reference.bptt_truncate = model.bptt_truncate = 1000


def test_gradient_check_passes_for_full_bptt(engines):
    """The tutorial's check on the compiled engine: vocabulary 100, 10 hidden units, bptt 1000."""
    _, model = engines
    small = RNNPyTensor(WORD_DIM, HIDDEN_DIM, bptt_truncate=1000, dtype="float64",
                        rng=np.random.default_rng(101))
    assert small.gradient_check([0, 1, 2, 3], [1, 2, 3, 4])


def test_forward_propagation_and_predict_agree(engines):
    reference, model = engines
    x = np.random.default_rng(102).integers(0, WORD_DIM, 11)
    for got, want in zip(model.forward_propagation(x), reference.forward_propagation(x)):
        assert got.shape == want.shape
        assert_close(got, want, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(x), reference.predict(x))


@pytest.mark.parametrize("truncation", [1, 2, 4, 1000], indirect=True)
def test_sentence_gradients_agree(truncation):
    reference, model = truncation
    xs, ys = random_sentences(np.random.default_rng(103), WORD_DIM, [13, 1, 7])
    for x, y in zip(xs, ys):
        for got, want in zip(model.bptt(x, y), reference.bptt(x, y)):
            assert_close(got, want)
    assert model.calculate_total_loss(xs, ys) == pytest.approx(
        reference.calculate_total_loss(xs, ys), rel=1e-6)


@pytest.mark.parametrize("truncation", [1, 2, 4, 1000], indirect=True)
def test_batch_gradients_equal_sum_of_sentence_gradients(truncation):
    reference, model = truncation
    xs, ys = random_sentences(np.random.default_rng(104), WORD_DIM, [9, 2, 14, 5, 14])
    loss, grads = model.batch_gradients(*pad_batch(xs, ys, dtype=np.float64))
    sentence_grads = [reference.bptt(x, y) for x, y in zip(xs, ys)]
    for i, name in enumerate("UVW"):
        assert_close(grads[name], sum(g[i] for g in sentence_grads))
    assert loss == pytest.approx(reference.calculate_total_loss(xs, ys), rel=1e-6)


def test_sgd_step_agrees(engines):
    reference, model = engines
    saved = reference.get_params()
    x, y = np.arange(1, 9), np.arange(2, 10)
    reference.sgd_step(x, y, 0.05)
    model.sgd_step(x, y, 0.05)
    for name, value in reference.get_params().items():
        assert_close(model.get_params()[name], value, rtol=1e-12)
    reference.set_params(saved)
    model.set_params(saved)


@pytest.fixture(scope="module")
def tiny_batch():
    xs, ys = random_sentences(np.random.default_rng(105), 30, [6, 9, 4, 9])
    return pad_batch(xs, ys, dtype=np.float64)


@pytest.mark.parametrize("optimizer, clip_norm", [("sgd", None), ("rmsprop", None), ("adam", 0.5)])
def test_train_step_agrees_and_decreases_the_loss(optimizer, clip_norm, tiny_batch):
    x, y, mask = tiny_batch
    rng = np.random.default_rng(106)
    reference = RNNNumpy(30, 10, optimizer=optimizer, clip_norm=clip_norm, rng=rng)
    model = RNNPyTensor(30, 10, dtype="float64", optimizer=optimizer, clip_norm=clip_norm)
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


@pytest.mark.parametrize("engine", [RNNNumpy, RNNPyTensor])
def test_the_clipping_limit_counts_a_long_sentence_as_its_first_words_only(engine):
    """A batch of a 100-word sentence and a 5-word one (105 words) is limited to the step of
    CLIP_WORDS_PER_SENTENCE + 5 words: an unsplit paragraph cannot take a step of its length."""
    xs, ys = random_sentences(np.random.default_rng(108), 30, [100, 5])
    x, y, mask = pad_batch(xs, ys, dtype=np.float64)
    reference = RNNNumpy(30, 10, rng=np.random.default_rng(109))
    model = engine(30, 10, dtype="float64", clip_norm=1e-4)
    model.set_params(reference.get_params())
    _, grads = reference.batch_gradients(x, y, mask)
    norm = math.sqrt(sum((g**2).sum() for g in grads.values()))
    assert CLIP_WORDS_PER_SENTENCE < 100
    limit = 1e-4 * (CLIP_WORDS_PER_SENTENCE + 5)
    assert mask.sum() == 105 and norm > 1e-4 * 105  # clipped, with the cap or without
    model.train_step(x, y, mask, 1.0)
    for name, value in reference.get_params().items():
        assert_close(value - model.get_params()[name], grads[name] * limit / norm)


def test_optimizer_state_round_trip_gives_identical_updates(tiny_batch):
    x, y, mask = tiny_batch
    model = RNNPyTensor(30, 10, dtype="float64", optimizer="adam", rng=np.random.default_rng(107))
    for _ in range(3):
        model.train_step(x, y, mask, 0.01)
    resumed = RNNPyTensor(30, 10, dtype="float64", optimizer="adam", rng=np.random.default_rng(1))
    resumed.set_params(model.get_params())
    resumed.set_optimizer_state(model.get_optimizer_state())
    assert int(resumed.get_optimizer_state()["step"]) == 3
    for _ in range(2):
        assert resumed.train_step(x, y, mask, 0.01) == model.train_step(x, y, mask, 0.01)
    for name, value in model.get_params().items():
        np.testing.assert_array_equal(resumed.get_params()[name], value)


@pytest.fixture(scope="module")
def default_model():
    """The engine as the app builds it: vocabulary 8000, 100 hidden units, default dtype."""
    return RNNPyTensor(8000, rng=np.random.default_rng(108), optimizer="rmsprop")


def test_float32_is_the_default_dtype(default_model):
    assert default_model.dtype == np.float32
    assert all(v.dtype == np.float32 for v in default_model.get_params().values())
    assert all(v.dtype == np.float32 for v in default_model.get_optimizer_state().values())
    xs, ys = random_sentences(np.random.default_rng(109), 8000, [5, 8])
    _, grads = default_model.batch_gradients(*pad_batch(xs, ys))
    assert all(g.dtype == np.float32 for g in grads.values())


def test_initial_loss_is_log_vocabulary_size(default_model):
    """ln(8000) = 8.987 at initialisation, the tutorial's sanity check, in float32."""
    xs, ys = random_sentences(np.random.default_rng(110), 8000, [12] * 40)
    assert abs(default_model.calculate_loss(xs, ys) - math.log(8000)) < 0.05


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_unknown_state_keys_are_refused(optimizer):
    model = RNNPyTensor(10, 3, optimizer=optimizer, rng=np.random.default_rng(111))
    with pytest.raises(ValueError, match="keys"):
        model.set_optimizer_state({"nonsense": np.zeros(3)})


def test_bench_prints_one_row_per_engine_and_the_limit():
    from rnncore import bench

    rows, gflops, notes = bench.run(rounds=1, seconds=0.01, sentences=40)
    assert [name for name, _, _ in rows] == [
        "numpy reference, 1 sentence (float64)", "PyTensor, 1 sentence",
        "PyTensor, batch 32", "PyTensor, batch 128"]
    assert all(median > 0 and best >= median for _, median, best in rows) and gflops > 0
    table = bench.format_table(rows, gflops, notes)
    assert "matmul limit" in table and len(table.splitlines()) == len(rows) + 4 + len(notes)


def test_bench_cells_add_the_gated_cells_and_the_forms_defaults():
    from rnncore import bench

    rows, _, _ = bench.run(rounds=1, seconds=0.01, sentences=40, gated=True)
    names = [name for name, _, _ in rows]
    assert names[-3:] == ["PyTensor GRU, batch 32", "PyTensor LSTM, batch 32",
                          "PyTensor GRU, form defaults (b8, drop 0.3)"]
    assert all(median > 0 for _, median, _ in rows)
