"""The GRU and LSTM cells and dropout in every engine, against references that share no code.

The references: the cells' equations written out one word at a time (as the tutorial writes its
forward_propagation), central differences of that loss, the numpy engine for the compiled ones, and
the sum of per-sentence gradients for a padded batch. Compiling dominates the run time, so the
PyTensor models are module-scoped, one per cell.
"""
import json
import math
import time

import numpy as np
import pytest

from rnncore import cells
from rnncore.batching import pad_batch
from rnncore.checkpoint import CheckpointError, check_param_shapes, load_checkpoint, save_checkpoint
from rnncore.config import ModelConfig, TrainConfig
from rnncore.errors import Cancelled
from rnncore.files import write_npz
from rnncore.generate import LanguageModel
from rnncore.rnn_numpy import RNNNumpy, initial_params
from rnncore.rnn_pytensor import RNNPyTensor
from rnncore.train import build_model, model_config_of, resume_model, split_corpus, train_with_sgd
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary
from test_engines import assert_close, random_sentences
from test_train import VOCAB, StopAfter, toy_corpus

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


# --- checkpoints, resuming, generation ----------------------------------------------------------

@pytest.mark.parametrize("cell", cells.CELLS)
def test_checkpoint_round_trip(tmp_path, cell):
    model = numpy_model(cell, word_dim=len(VOCAB), optimizer="adam")
    config = model_config_of(model)
    path = save_checkpoint(tmp_path / "m.npz", model.get_params(), VOCAB, config, TrainConfig(),
                           {"optimizer_state": model.get_optimizer_state()})
    checkpoint = load_checkpoint(path)
    assert checkpoint.model_config == config and checkpoint.model_config.cell == cell
    assert set(checkpoint.params) == set(model.param_names)
    for name, value in model.get_params().items():
        assert np.array_equal(checkpoint.params[name], value)
    assert set(checkpoint.state["optimizer_state"]) == set(model.get_optimizer_state())
    wrong = ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=HIDDEN_DIM,
                        cell="lstm" if cell == "gru" else "gru")
    with pytest.raises(CheckpointError, match=f"those of a {cell} cell but the settings say"):
        save_checkpoint(tmp_path / "w.npz", model.get_params(), VOCAB, wrong)


def test_gated_shapes_are_checked():
    params = initial_params(10, 4, np.random.default_rng(0), "gru")
    assert check_param_shapes(params, 10) == (10, 4)
    for name, shape in [("b", (8,)), ("W", (12, 3)), ("U", (10, 10))]:
        bad = dict(params, **{name: np.zeros(shape)})
        with pytest.raises(CheckpointError, match="shapes disagree"):
            check_param_shapes(bad)


def test_old_vanilla_checkpoint_still_loads_and_resumes(tmp_path):
    """A checkpoint written before cells existed: U, V, W and a model_config without cell or
    dropout. It loads as the vanilla cell, plays, and resumes."""
    model = numpy_model("rnn", word_dim=len(VOCAB))
    old_config = {"vocabulary_size": len(VOCAB), "hidden_dim": HIDDEN_DIM, "bptt_truncate": 4,
                  "engine": "numpy", "dtype": "float64"}
    texts = {"format": "rnncore-checkpoint-1", "vocabulary": VOCAB.to_json(),
             "model_config": json.dumps(old_config),
             "train_config": json.dumps({"learning_rate": 0.01, "nepoch": 2}),
             "state": "{}", "rng_state": "null"}
    with open(tmp_path / "old.npz", "wb") as f:
        write_npz(f, model.get_params(), texts)
    checkpoint = load_checkpoint(tmp_path / "old.npz")
    assert (checkpoint.model_config.cell, checkpoint.model_config.dropout) == ("rnn", 0.0)
    lm = LanguageModel.from_checkpoint(tmp_path / "old.npz")
    assert lm.cell == "rnn" and lm.score_sentence("the cat sat")["log_probability"] < 0
    rebuilt = resume_model(checkpoint)
    assert isinstance(rebuilt, RNNNumpy) and rebuilt.cell == "rnn"
    for name, value in model.get_params().items():
        assert np.array_equal(rebuilt.get_params()[name], value)


@pytest.mark.parametrize("engine, cell", [("numpy", "gru"), ("numpy", "lstm"),
                                          ("numpy", "rnn"), ("pytensor", "gru")])
def test_resume_with_dropout_is_bit_for_bit(tmp_path, engine, cell):
    corpus = toy_corpus()
    config = TrainConfig(learning_rate=0.02, nepoch=2, batch_size=8, optimizer="adam", seed=9)
    model_config = ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=8, engine=engine,
                               dtype="float64", cell=cell, dropout=0.3)
    whole = train_with_sgd(build_model(model_config, config), corpus, config, num_samples=0)
    n_batches = math.ceil(len(split_corpus(corpus.sentences, config)[0]) / 8)
    path = tmp_path / "model.npz"
    with pytest.raises(Cancelled):  # mid-way through the second epoch
        train_with_sgd(build_model(model_config, config), corpus, config, num_samples=0,
                       should_stop=StopAfter(n_batches + 1 + 5), checkpoint_path=path)
    checkpoint = load_checkpoint(path)
    assert checkpoint.model_config == model_config
    resumed = train_with_sgd(resume_model(checkpoint), corpus, checkpoint.train_config,
                             resume_state=checkpoint.state, num_samples=0)
    for name, value in whole.params.items():
        assert np.array_equal(resumed.params[name], value), name
    assert resumed.loss_history == whole.loss_history
    # Without dropout the run differs: the masks did something.
    plain = ModelConfig(**dict(model_config.to_dict(), dropout=0.0))
    other = train_with_sgd(build_model(plain, config), corpus, config, num_samples=0)
    assert not np.array_equal(other.params["V"], whole.params["V"])


@pytest.mark.parametrize("cell", GATED)
def test_generation_and_scoring_follow_the_engine(tmp_path, cell):
    model = numpy_model(cell, word_dim=len(VOCAB), hidden_dim=8, seed=16)
    path = save_checkpoint(tmp_path / "m.npz", model.get_params(), VOCAB, model_config_of(model))
    lm = LanguageModel.from_checkpoint(path)
    assert lm.cell == cell
    start, end = VOCAB.word_to_index[SENTENCE_START], VOCAB.word_to_index[SENTENCE_END]
    ids = [VOCAB.word_to_index[w] for w in ("the", "cat", "sat")]
    o, _ = model.forward_propagation([start] + ids)
    targets = ids + [end]
    word_logp = np.log(o[np.arange(len(targets)), targets])
    score = lm.score_sentence("the cat sat")
    assert score["log_probability"] == pytest.approx(word_logp.sum(), rel=1e-10)
    p = o[-1].copy()
    p[start] = 0
    candidates = lm.next_words("the cat sat", k=4)["candidates"]
    assert [c["word"] for c in candidates] == [VOCAB.index_to_word[i] for i in np.argsort(-p)[:4]]
    assert np.allclose([c["probability"] for c in candidates], np.sort(p)[::-1][:4])
    # Greedy continuation: each next word the engine's most probable one (LSTM carries c too).
    sample = lm.continue_prefix("the", num_samples=1, top_k=1, max_length=6, seed=0)["samples"][0]
    x, unk = [start, VOCAB.word_to_index["the"]], VOCAB.unknown_index
    for word in sample["words"]:
        p = model.forward_propagation(x)[0][-1]
        p[[unk, start]] = -1
        assert VOCAB.index_to_word[int(np.argmax(p))] == word
        x.append(VOCAB.word_to_index[word])


@pytest.mark.parametrize("cell", GATED)
def test_gated_twenty_word_continuation_is_fast(cell):
    vocab = Vocabulary(tuple(f"w{i}" for i in range(7997)) +
                       (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))
    lm = LanguageModel.from_params(initial_params(8000, 100, np.random.default_rng(0), cell),
                                   vocab)
    timings = []
    for seed in range(5):
        started = time.perf_counter()
        lm.continue_prefix("w1 w2 w3", num_samples=1, max_length=20, seed=seed)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.020


def test_command_line_trains_a_gru_with_dropout(tmp_path):
    from rnncore.cli import main

    toy_corpus(60).save(tmp_path / "corpus.npz")
    assert main(["train", str(tmp_path / "corpus.npz"), "--cell", "gru", "--dropout", "0.2",
                 "--hidden-dim", "6", "--nepoch", "1", "--engine", "numpy", "--quiet",
                 "-o", str(tmp_path / "m.npz")]) == 0
    checkpoint = load_checkpoint(tmp_path / "m.npz")
    assert (checkpoint.model_config.cell, checkpoint.model_config.dropout) == ("gru", 0.2)
    assert main(["score", str(tmp_path / "m.npz"), "the cat sat ."]) == 0
