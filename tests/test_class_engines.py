"""The class-factored output layer (output="classes") in every engine: gradient checks, the
compiled engines held equal to the numpy reference, the class assignment, checkpoints (old ones
read as the softmax), training, generation and scoring."""
import numpy as np
import pytest

from rnncore import cells
from rnncore.batching import pad_batch
from rnncore.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnncore.config import ModelConfig, TrainConfig, available_engines
from rnncore.generate import LanguageModel
from rnncore.rnn_numpy import RNNNumpy
from rnncore.models import build_model, model_config_of, split_corpus
from rnncore.train import train_with_sgd
from rnncore.vocabulary import SENTENCE_START
from rnncore.word_classes import class_count, target_counts
from test_engines import assert_close, random_sentences
from test_train import VOCAB, toy_corpus

WORD_DIM, HIDDEN_DIM = 60, 6
COMPILED = [e for e in available_engines() if e != "numpy"]


def compiled_engine(engine):
    if engine == "pytensor-jax":
        from rnncore.rnn_jax import RNNJax
        return RNNJax
    from rnncore.rnn_pytensor import RNNPyTensor
    return RNNPyTensor


def reference_model(cell, seed=0, **options):
    """A numpy class model with sharpened weights and classes from skewed counts."""
    model = RNNNumpy(WORD_DIM, HIDDEN_DIM, bptt_truncate=1000, rng=np.random.default_rng(seed),
                     cell=cell, output="classes", **options)
    model.assign_classes(np.random.default_rng(seed + 1).random(WORD_DIM) ** 4)
    params = model.get_params()
    model.set_params({k: v * 2 if k != "word_class" else v for k, v in params.items()})
    return model


@pytest.mark.parametrize("cell", cells.CELLS)
def test_gradient_check_passes(cell):
    """The tutorial's central differences on every entry of U, V, W (b) and Vc."""
    model = reference_model(cell)
    assert model.param_names[-1] == "Vc" and model.Vc.shape == (class_count(WORD_DIM), HIDDEN_DIM)
    assert model.gradient_check([0, 5, 17, 3, 44], [5, 17, 3, 44, 1])


def test_compiled_gradient_check_passes():
    from rnncore.rnn_pytensor import RNNPyTensor

    model = RNNPyTensor(30, 4, bptt_truncate=1000, dtype="float64", output="classes",
                        rng=np.random.default_rng(3))
    assert model.gradient_check([0, 1, 2, 3], [1, 2, 3, 4])


def test_probabilities_sum_to_one_and_u_v_w_are_the_softmax_models():
    model = reference_model("rnn")
    o, _ = model.forward_propagation([0, 3, 9])
    np.testing.assert_allclose(o.sum(axis=1), 1.0, rtol=1e-12)
    softmax = RNNNumpy(WORD_DIM, HIDDEN_DIM, rng=np.random.default_rng(0))
    fresh = RNNNumpy(WORD_DIM, HIDDEN_DIM, rng=np.random.default_rng(0), output="classes")
    for name in "UVW":
        np.testing.assert_array_equal(fresh.get_params()[name], softmax.get_params()[name])


@pytest.fixture(scope="module", params=[(e, c) for e in COMPILED for c in cells.CELLS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def pair(request):
    """A numpy reference and a float64 compiled engine with the same weights and classes."""
    engine, cell = request.param
    reference = reference_model(cell)
    model = compiled_engine(engine)(WORD_DIM, HIDDEN_DIM, bptt_truncate=1000, dtype="float64",
                                    rng=np.random.default_rng(9), cell=cell, output="classes")
    model.set_params(reference.get_params())
    return reference, model


def test_parameters_round_trip_through_the_stored_layout(pair):
    reference, model = pair
    for name, value in reference.get_params().items():
        np.testing.assert_array_equal(model.get_params()[name], value)
    np.testing.assert_array_equal(model.V, reference.V)


@pytest.mark.parametrize("bptt_truncate", [1, 3, 1000])
def test_losses_gradients_and_probabilities_agree(pair, bptt_truncate):
    reference, model = pair
    reference.bptt_truncate = model.bptt_truncate = bptt_truncate
    xs, ys = random_sentences(np.random.default_rng(10), WORD_DIM, [9, 1, 6, 9])
    batch = pad_batch(xs, ys, dtype=np.float64)
    loss, grads = model.batch_gradients(*batch)
    want_loss, want = reference.batch_gradients(*batch)
    assert loss == pytest.approx(want_loss, rel=1e-9)
    assert set(grads) == set(reference.param_names)
    for name in reference.param_names:
        assert_close(grads[name], want[name], rtol=1e-9)
    assert model.batch_loss(*batch) == pytest.approx(want_loss, rel=1e-9)
    for got, expected in zip(model.bptt(xs[0], ys[0]), reference.bptt(xs[0], ys[0])):
        assert_close(got, expected, rtol=1e-9)
    got, expected = model.forward_propagation(xs[0]), reference.forward_propagation(xs[0])
    for a, b in zip(got, expected):
        assert_close(a, b, rtol=1e-9)
    assert model.calculate_total_loss(xs, ys) == pytest.approx(
        reference.calculate_total_loss(xs, ys), rel=1e-9)


@pytest.mark.parametrize("engine", COMPILED)
@pytest.mark.parametrize("optimizer, clip_norm", [("sgd", None), ("adam", 0.5)])
def test_training_agrees_and_new_classes_keep_the_optimizer_state(engine, optimizer, clip_norm):
    xs, ys = random_sentences(np.random.default_rng(11), WORD_DIM, [6, 9, 4, 9])
    batch = pad_batch(xs, ys, dtype=np.float64)
    options = {"optimizer": optimizer, "clip_norm": clip_norm}
    reference = RNNNumpy(WORD_DIM, HIDDEN_DIM, rng=np.random.default_rng(12), output="classes",
                         **options)
    model = compiled_engine(engine)(WORD_DIM, HIDDEN_DIM, dtype="float64", output="classes",
                                    rng=np.random.default_rng(12), **options)
    counts = np.random.default_rng(13).integers(0, 100, WORD_DIM)
    reference.assign_classes(counts)
    model.assign_classes(counts)
    first = model.batch_loss(*batch)
    for _ in range(10):
        assert model.train_step(*batch, 0.05) == pytest.approx(
            reference.train_step(*batch, 0.05), rel=1e-9)
    for name, value in reference.get_params().items():
        assert_close(model.get_params()[name], value, rtol=1e-9)
    state, V = model.get_optimizer_state(), model.V
    for key, value in reference.get_optimizer_state().items():
        assert_close(state[key], value, rtol=1e-9)
    assert model.batch_loss(*batch) < 0.8 * first
    model.assign_classes(counts[::-1])  # V and its statistics are sorted anew, not changed
    np.testing.assert_array_equal(model.V, V)
    for key, value in model.get_optimizer_state().items():
        np.testing.assert_array_equal(value, state[key])


def test_checkpoints_keep_the_classes_and_old_ones_read_as_softmax(tmp_path):
    model = RNNNumpy(len(VOCAB), 4, rng=np.random.default_rng(14), output="classes")
    model.assign_classes(np.arange(len(VOCAB))[::-1])
    config = model_config_of(model)
    assert config.output == "classes"
    path = save_checkpoint(tmp_path / "m.npz", model.get_params(), VOCAB, config)
    checkpoint = load_checkpoint(path)
    assert checkpoint.model_config.output == "classes"
    np.testing.assert_array_equal(checkpoint.params["word_class"], model.word_class)
    softmax = ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=4)
    with pytest.raises(CheckpointError, match="classes output layer but the settings say softmax"):
        save_checkpoint(tmp_path / "w.npz", model.get_params(), VOCAB, softmax)
    without = {k: v for k, v in model.get_params().items() if k != "word_class"}
    with pytest.raises(CheckpointError, match="needs both Vc and word_class"):
        save_checkpoint(tmp_path / "w.npz", without, VOCAB, config)
    old = softmax.to_dict()
    del old["output"]  # written before the option existed
    assert ModelConfig.from_dict(old).output == "softmax"


@pytest.mark.parametrize("engine", available_engines())
def test_a_trained_class_model_scores_the_same_after_saving(tmp_path, engine):
    corpus = toy_corpus(120)
    model_config = ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=8, engine=engine,
                               dtype="float64", output="classes")
    train_config = TrainConfig(learning_rate=0.05, nepoch=3, batch_size=8)
    model = build_model(model_config, train_config)
    train, valid, _ = split_corpus(corpus.sentences, train_config)
    model.assign_classes(target_counts(train, model.word_dim))
    result = train_with_sgd(model, corpus, train_config, checkpoint_path=tmp_path / "m.npz",
                            num_samples=1)
    assert result.valid_perplexity < 0.5 * len(VOCAB) and result.samples
    checkpoint = load_checkpoint(tmp_path / "m.npz")
    np.testing.assert_array_equal(checkpoint.params["word_class"], model.get_params()["word_class"])
    lm = LanguageModel.from_checkpoint(tmp_path / "m.npz")
    model.set_params(checkpoint.model_params)
    for sentence in valid[:5]:
        assert -lm.sentence_log_probs(sentence).sum() == pytest.approx(
            model.calculate_total_loss([sentence[:-1]], [sentence[1:]]), rel=1e-9)
    text = " ".join(VOCAB.decode(valid[0][1:-1]))
    assert -lm.score_sentence(text)["log_probability"] == pytest.approx(
        model.calculate_total_loss([valid[0][:-1]], [valid[0][1:]]), rel=1e-9)
    candidates = lm.next_words("the", k=len(VOCAB) - 1)["candidates"]  # all but SENTENCE_START
    o, _ = model.forward_propagation(VOCAB.encode([SENTENCE_START, "the"])[0])
    for candidate in candidates:
        assert candidate["probability"] == pytest.approx(
            o[-1, VOCAB.word_to_index[candidate["word"]]], rel=1e-9)
    for options in ({}, {"temperature": 0.5, "top_k": 3}):
        samples = lm.continue_prefix("the", num_samples=4, seed=5, **options)["samples"]
        assert all("UNKNOWN_TOKEN" not in s["words"] for s in samples)
        assert lm.continue_prefix("the", num_samples=4, seed=5, **options)["samples"] == samples


def test_bench_compares_the_output_layers_against_the_softmax_limit():
    from rnncore import bench

    rows, gflops, notes = bench.run_outputs(rounds=1, seconds=0.01, sentences=40, sizes=(400,))
    assert [name for _, name, _, _ in rows] == [
        "PyTensor softmax, batch 32", "PyTensor classes, batch 32", "PyTensor classes, batch 128"]
    assert all(median > 0 and best >= median for _, _, median, best in rows) and gflops[400] > 0
    table = bench.format_outputs_table(rows, gflops, notes)
    assert "400: softmax matmul limit" in table and len(table.splitlines()) == 2 + 4 + len(notes)
