"""Every cell beyond the engines: checkpoints, bit-for-bit resume with dropout, old vanilla
checkpoints, generation and scoring against the engine's probabilities, and the command line."""
import json
import math
import time

import numpy as np
import pytest

from rnncore import cells
from rnncore.checkpoint import CheckpointError, check_param_shapes, load_checkpoint, save_checkpoint
from rnncore.config import ModelConfig, TrainConfig
from rnncore.errors import Cancelled
from rnncore.files import write_npz
from rnncore.generate import LanguageModel
from rnncore.rnn_numpy import RNNNumpy, initial_params
from rnncore.models import build_model, model_config_of, resume_model, split_corpus
from rnncore.train import train_with_sgd
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary
from test_cells import GATED, HIDDEN_DIM, numpy_model
from test_train import VOCAB, StopAfter, toy_corpus

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
