"""The GRU and LSTM cells and dropout in the numpy reference, against references that share no code.

The references: the cells' equations written out one word at a time (as the tutorial writes its
forward_propagation), central differences of that loss (with dropout: of the loss with the same
masks applied by hand), and the sum of per-sentence gradients for a padded batch.
tests/test_cells_engines.py holds the compiled engines to this engine; tests/test_cells_models.py
checks checkpoints, resuming, generation and the command line for every cell.
"""
import math

import numpy as np
import pytest

from rnncore import cells
from rnncore.batching import pad_batch
from rnncore.config import ModelConfig
from rnncore.rnn_numpy import RNNNumpy, initial_params
from rnncore.models import build_model, model_config_of
from test_engines import assert_close, random_sentences

GATED = ("gru", "lstm")
WORD_DIM, HIDDEN_DIM = 20, 6
LENGTHS = [9, 2, 14, 1, 14]


def logistic(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference_states(params, cell, x, input_keep=None):
    """States s_1..s_T for one sentence from the equations of rnncore.cells, a word at a time.

    input_keep (T, G*H) thins each word's column U[:, x_t] as dropout does.
    """
    U, W = params["U"], params["W"]
    H = W.shape[1]
    b = params.get("b", np.zeros(U.shape[0]))
    s, c, states = np.zeros(H), np.zeros(H), []
    for t, word in enumerate(x):
        u = U[:, word] * (1.0 if input_keep is None else input_keep[t])
        if cell == "rnn":
            s = np.tanh(u + W @ s)
        elif cell == "gru":
            z = logistic(u[:H] + W[:H] @ s + b[:H])
            r = logistic(u[H : 2 * H] + W[H : 2 * H] @ s + b[H : 2 * H])
            h = np.tanh(u[2 * H :] + W[2 * H :] @ (s * r) + b[2 * H :])
            s = (1 - z) * h + z * s
        else:
            a = u + W @ s + b
            i, f, o = (logistic(a[k * H : (k + 1) * H]) for k in range(3))
            c = f * c + i * np.tanh(a[3 * H :])
            s = o * np.tanh(c)
        states.append(s)
    return np.array(states)  # (T, H)


def reference_loss(params, cell, x, y, masks=None):
    """Cross-entropy of one sentence; ``masks`` (input_keep (T, G*H), output_keep (T, H))."""
    input_keep, output_keep = masks if masks is not None else (None, None)
    S = reference_states(params, cell, x, input_keep)
    if output_keep is not None:
        S = S * output_keep
    logits = S @ params["V"].T  # (T, C)
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].sum()


def central_differences(loss, params, h=1e-6):
    """d loss / d params by central differences, every entry of every parameter."""
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for ix in np.ndindex(value.shape):
            original = value[ix]
            value[ix] = original + h
            plus = loss(params)
            value[ix] = original - h
            minus = loss(params)
            value[ix] = original
            grad[ix] = (plus - minus) / (2 * h)
        grads[name] = grad
    return grads


def sharpened(model, factor=3.0):
    """Larger weights make the recurrence and the gates matter, so mistakes show."""
    model.set_params({k: v * factor for k, v in model.get_params().items()})
    return model


def numpy_model(cell, word_dim=WORD_DIM, hidden_dim=HIDDEN_DIM, seed=0, **kwargs):
    return sharpened(RNNNumpy(word_dim, hidden_dim, bptt_truncate=1000,
                              rng=np.random.default_rng(seed), cell=cell, **kwargs))


# --- parameters and initialisation ------------------------------------------------------------

@pytest.mark.parametrize("cell", cells.CELLS)
def test_initial_params_follow_the_tutorial_and_old_seeds_give_old_models(cell):
    H, C, G = 7, 50, cells.GATES[cell]
    params = initial_params(C, H, np.random.default_rng(0), cell)
    assert {k: v.shape for k, v in params.items()} == cells.param_shapes(cell, C, H)
    assert np.abs(params["U"]).max() <= 1 / math.sqrt(C)
    assert max(np.abs(params[k]).max() for k in "VW") <= 1 / math.sqrt(H)
    # Drawn U, V, W in that order: the vanilla cell's are exactly the draws it always had.
    rng = np.random.default_rng(0)
    for name, shape in [("U", (G * H, C)), ("V", (C, H)), ("W", (G * H, H))]:
        bound = 1 / math.sqrt(C if name == "U" else H)
        assert np.array_equal(params[name], rng.uniform(-bound, bound, shape))
    if cell == "lstm":  # forget gate (the second block) starts open
        assert np.array_equal(params["b"], np.repeat([0.0, 1.0, 0.0, 0.0], H))
    elif cell == "gru":
        assert not params["b"].any()
    assert cells.cell_of(params) == cell


def test_config_counts_the_parameters_and_old_rows_default_to_the_vanilla_cell():
    for cell in cells.CELLS:
        config = ModelConfig(vocabulary_size=30, hidden_dim=5, cell=cell, engine="numpy")
        model = build_model(config)
        assert config.parameter_count == sum(v.size for v in model.get_params().values())
        assert model_config_of(model) == config
    old_row = {"vocabulary_size": 30, "hidden_dim": 5, "bptt_truncate": 4, "engine": "numpy",
               "dtype": "float64"}
    assert ModelConfig.from_dict(old_row) == ModelConfig(**old_row, cell="rnn", dropout=0.0)
    gru, rnn = ModelConfig(cell="gru"), ModelConfig()
    assert gru.flops_per_token() > rnn.flops_per_token(training=False)
    assert gru.memory_estimate_bytes() > rnn.memory_estimate_bytes()
    for bad, words in [({"cell": "transformer"}, "cell must be one of rnn, gru, lstm"),
                       ({"dropout": 0.95}, "dropout must be at least 0 and at most 0.9"),
                       ({"dropout": -0.1}, "dropout must be at least 0")]:
        with pytest.raises(ValueError, match=words):
            ModelConfig(**bad).validate()


# --- the numpy reference ----------------------------------------------------------------------

@pytest.mark.parametrize("cell", GATED)
def test_numpy_forward_follows_the_equations(cell):
    model = numpy_model(cell)
    x = np.random.default_rng(1).integers(0, WORD_DIM, 11)
    o, s = model.forward_propagation(x)
    assert o.shape == (11, WORD_DIM) and s.shape == (12, HIDDEN_DIM) and not s[-1].any()
    want = reference_states(model.get_params(), cell, x)
    assert_close(s[:-1], want, rtol=1e-12)
    logits = want @ model.V.T
    assert_close(o, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("cell", GATED)
def test_numpy_bptt_is_the_gradient_of_the_whole_sentence(cell):
    """Against central differences of the word-at-a-time loss (which shares no code with bptt),
    and the tutorial's own gradient_check."""
    model = numpy_model(cell, word_dim=9, hidden_dim=4)
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 9, 7), rng.integers(0, 9, 7)
    want = central_differences(lambda p: reference_loss(p, cell, x, y), model.get_params())
    for name, grad in zip(model.param_names, model.bptt(x, y)):
        assert_close(grad, want[name], rtol=1e-7)
    assert model.calculate_total_loss([x], [y]) == pytest.approx(
        reference_loss(model.get_params(), cell, x, y), rel=1e-12)
    assert model.gradient_check(x, y, h=1e-5, error_threshold=1e-4)


@pytest.mark.parametrize("cell", GATED)
def test_numpy_batch_gradients_equal_sum_of_sentence_gradients(cell):
    model = numpy_model(cell)
    xs, ys = random_sentences(np.random.default_rng(3), WORD_DIM, LENGTHS)
    loss, grads = model.batch_gradients(*pad_batch(xs, ys, dtype=np.float64))
    per_sentence = [model.bptt(x, y) for x, y in zip(xs, ys)]
    for i, name in enumerate(model.param_names):
        assert_close(grads[name], sum(g[i] for g in per_sentence), rtol=1e-10)
    assert loss == pytest.approx(model.calculate_total_loss(xs, ys), rel=1e-12)
    assert model.batch_loss(*pad_batch(xs, ys, dtype=np.float64)) == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("cell", cells.CELLS)
def test_numpy_dropout_gradient_is_that_of_the_thinned_network(cell):
    """The masks dropout_seed draws, applied by hand in the reference: same loss, and the
    gradient is the central difference of that loss (the vanilla cell untruncated here)."""
    model = numpy_model(cell, word_dim=9, hidden_dim=4, dropout=0.4)
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 9, 6), rng.integers(0, 9, 6)
    seed = (7, 4, 0, 3)
    input_keep, output_keep = cells.dropout_masks(seed, 0.4, 1, 6, cell, 4, np.float64)
    masks = (input_keep[:, 0], output_keep[:, 0])
    batch = pad_batch([x], [y], dtype=np.float64)
    loss, grads = model.batch_gradients(*batch, dropout_seed=seed)
    assert loss == pytest.approx(reference_loss(model.get_params(), cell, x, y, masks), rel=1e-12)
    assert loss != pytest.approx(model.batch_loss(*batch))  # something was dropped
    want = central_differences(lambda p: reference_loss(p, cell, x, y, masks), model.get_params())
    for name in model.param_names:
        assert_close(grads[name], want[name], rtol=1e-7)


def test_dropout_masks_are_inverted_and_fixed_by_the_seed():
    input_keep, output_keep = cells.dropout_masks((1, 2), 0.25, 30, 40, "lstm", 10, np.float32)
    assert input_keep.shape == (40, 30, 40) and output_keep.shape == (40, 30, 10)
    assert input_keep.dtype == np.float32
    assert set(np.unique(input_keep)) == {0.0, np.float32(1 / 0.75)}
    assert abs((input_keep == 0).mean() - 0.25) < 0.01
    assert abs((output_keep == 0).mean() - 0.25) < 0.02
    # The same draws for a float64 model: only the scale's rounding differs.
    again = cells.dropout_masks((1, 2), 0.25, 30, 40, "lstm", 10, np.float64)
    assert again[0].dtype == np.float64 and set(np.unique(again[0])) == {0.0, 1 / 0.75}
    assert np.array_equal(again[0] == 0, input_keep == 0)
    assert np.array_equal(again[1] == 0, output_keep == 0)
    other = cells.dropout_masks((1, 3), 0.25, 30, 40, "lstm", 10, np.float32)
    assert not np.array_equal(other[0], input_keep)


@pytest.mark.parametrize("cell", cells.CELLS)
def test_dropout_zero_is_no_dropout_and_evaluation_never_drops(cell):
    xs, ys = random_sentences(np.random.default_rng(5), WORD_DIM, [6, 9, 4])
    batch = pad_batch(xs, ys, dtype=np.float64)
    plain, zero = numpy_model(cell), numpy_model(cell, dropout=0.0)
    for _ in range(3):
        assert zero.train_step(*batch, 0.05, dropout_seed=(1, 2)) == plain.train_step(*batch, 0.05)
    for name, value in plain.get_params().items():
        assert np.array_equal(zero.get_params()[name], value)
    dropping = numpy_model(cell, dropout=0.5)
    dropping.set_params(plain.get_params())
    assert dropping.batch_loss(*batch) == plain.batch_loss(*batch)
    assert dropping.calculate_loss(xs, ys) == plain.calculate_loss(xs, ys)
    assert np.array_equal(dropping.forward_propagation(xs[0])[0],
                          plain.forward_propagation(xs[0])[0])
    assert all(np.array_equal(a, b) for a, b in zip(dropping.bptt(xs[0], ys[0]),
                                                    plain.bptt(xs[0], ys[0])))
    first = dropping.train_step(*batch, 0.05, dropout_seed=(1, 2))
    assert first != pytest.approx(plain.batch_loss(*batch), rel=1e-6)


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_numpy_train_step_learns(cell, optimizer):
    xs, ys = random_sentences(np.random.default_rng(6), 30, [6, 9, 4, 9])
    batch = pad_batch(xs, ys, dtype=np.float64)
    model = RNNNumpy(30, 10, rng=np.random.default_rng(7), cell=cell, optimizer=optimizer,
                     dropout=0.1)
    first = model.batch_loss(*batch)
    for step in range(40):
        model.train_step(*batch, 0.1 if optimizer == "sgd" else 0.01, dropout_seed=(0, step))
    assert model.batch_loss(*batch) < 0.8 * first
    if optimizer == "adam":
        assert set(model.get_optimizer_state()) == {f"{m}_{p}" for m in "mv" for p in "UVWb"} | {
            "step"}
