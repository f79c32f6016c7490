"""Checkpoints: exact round trip, atomic replacement, clear errors, and the tutorial's files."""
import json
import os

import numpy as np
import pytest

from rnncore.checkpoint import (CheckpointError, load_checkpoint, load_tutorial_model,
                                save_checkpoint)
from rnncore.config import ModelConfig, TrainConfig
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

WORDS = ("the", "cat", "sat", SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN)


def make_params(rng, word_dim=6, hidden_dim=4, dtype=np.float32):
    return {"U": rng.standard_normal((hidden_dim, word_dim)).astype(dtype),
            "V": rng.standard_normal((word_dim, hidden_dim)).astype(dtype),
            "W": rng.standard_normal((hidden_dim, hidden_dim)).astype(dtype)}


@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(1)
    params = make_params(rng)
    batch_rng = np.random.default_rng(99)
    batch_rng.random(5)  # an advanced state, not the seed's
    state = {"epoch": 3, "batch_index": 17, "learning_rate": 0.0025,
             "loss_history": [{"epoch": 0, "examples_seen": 0, "train_loss": 1.8,
                               "valid_loss": 1.9, "learning_rate": 0.005}],
             "rng_state": batch_rng.bit_generator.state,
             "optimizer_state": {"m_U": rng.random((4, 6)), "step": np.array(12.0)}}
    model_config = ModelConfig(vocabulary_size=6, hidden_dim=4, engine="numpy")
    train_config = TrainConfig(optimizer="adam", seed=5)
    path = save_checkpoint(tmp_path / "model.npz", params, Vocabulary(WORDS), model_config,
                           train_config, state)
    return path, params, state, model_config, train_config, batch_rng


def test_round_trip_is_exact(saved):
    path, params, state, model_config, train_config, batch_rng = saved
    checkpoint = load_checkpoint(path)
    for name in "UVW":
        assert checkpoint.params[name].dtype == params[name].dtype
        assert np.array_equal(checkpoint.params[name], params[name])
    assert checkpoint.vocabulary == Vocabulary(WORDS)
    assert checkpoint.model_config == model_config
    assert checkpoint.train_config == train_config
    assert checkpoint.state["loss_history"] == state["loss_history"]
    assert checkpoint.state["batch_index"] == 17
    for key, value in state["optimizer_state"].items():
        assert np.array_equal(checkpoint.state["optimizer_state"][key], value)
    # The restored generator continues exactly where the saved one was.
    restored = np.random.default_rng()
    restored.bit_generator.state = checkpoint.state["rng_state"]
    assert np.array_equal(restored.random(10), batch_rng.random(10))


def test_tutorial_loader_reads_the_same_arrays(saved):
    path, params, *_ = saved
    with np.load(path, allow_pickle=False) as data:  # what save_model_parameters_theano's reader does
        assert all(np.array_equal(data[k], params[k]) for k in "UVW")


def test_failed_write_leaves_previous_checkpoint_intact(saved):
    path, params, state, model_config, train_config, _ = saved
    before = path.read_bytes()
    bad_state = dict(state, optimizer_state={"m_U": np.array([object()], dtype=object)})
    with pytest.raises(ValueError):
        save_checkpoint(path, make_params(np.random.default_rng(2)), Vocabulary(WORDS),
                        model_config, train_config, bad_state)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temp file left behind
    assert np.array_equal(load_checkpoint(path).params["U"], params["U"])


def test_overwrite_replaces_the_file(saved):
    path, _, state, model_config, train_config, _ = saved
    new_params = make_params(np.random.default_rng(3))
    save_checkpoint(path, new_params, Vocabulary(WORDS), model_config, train_config, state)
    assert np.array_equal(load_checkpoint(path).params["V"], new_params["V"])


def test_shapes_must_match_vocabulary(tmp_path):
    params = make_params(np.random.default_rng(0), word_dim=7)
    with pytest.raises(CheckpointError, match="vocabulary has 6 words but the model was trained on 7"):
        save_checkpoint(tmp_path / "m.npz", params, Vocabulary(WORDS), ModelConfig())


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n", b"PK\x03\x04broken zip"])
def test_garbage_is_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable .npz"):
        load_checkpoint(path)


def test_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, U=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_plain_npz_points_to_the_tutorial_loader(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, **make_params(np.random.default_rng(0)))
    with pytest.raises(CheckpointError, match="give the vocabulary"):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.npz")


@pytest.mark.parametrize("form", ["lines", "json_list", "index_to_word"])
def test_load_tutorial_model(tmp_path, form):
    params = make_params(np.random.default_rng(4), dtype=np.float64)
    np.savez(tmp_path / "trained-model-theano.npz", **params)
    vocab_path = tmp_path / "vocabulary.txt"
    text = {"lines": "\n".join(WORDS) + "\n", "json_list": json.dumps(list(WORDS)),
            "index_to_word": json.dumps({"index_to_word": list(WORDS)})}[form]
    vocab_path.write_text(text, encoding="utf-8")
    checkpoint = load_tutorial_model(tmp_path / "trained-model-theano.npz", vocab_path)
    assert checkpoint.vocabulary.index_to_word == WORDS
    assert (checkpoint.model_config.vocabulary_size, checkpoint.model_config.hidden_dim) == (6, 4)
    assert checkpoint.model_config.dtype == "float64"
    assert np.array_equal(checkpoint.params["W"], params["W"])


def test_load_tutorial_model_checks_vocabulary_size(tmp_path):
    np.savez(tmp_path / "m.npz", **make_params(np.random.default_rng(4)))
    (tmp_path / "v.txt").write_text("\n".join(WORDS[:-2] + (UNKNOWN_TOKEN,)), encoding="utf-8")
    with pytest.raises(CheckpointError, match="vocabulary has 5 words"):
        load_tutorial_model(tmp_path / "m.npz", tmp_path / "v.txt")


def test_load_tutorial_model_checks_shapes(tmp_path):
    params = make_params(np.random.default_rng(4))
    params["W"] = params["W"][:, :3]
    np.savez(tmp_path / "m.npz", **params)
    (tmp_path / "v.txt").write_text("\n".join(WORDS), encoding="utf-8")
    with pytest.raises(CheckpointError, match="shapes disagree"):
        load_tutorial_model(tmp_path / "m.npz", tmp_path / "v.txt")
