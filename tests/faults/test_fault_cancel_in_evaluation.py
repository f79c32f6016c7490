"""rnncore alone: a cancel that arrives while the loss is measured over the corpus stops that
measurement between its batches (a large corpus took tens of seconds before), checkpoints the
state from before it began, and a run resumed from there equals an uninterrupted one bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

from rnncore import train as train_module
from rnncore.checkpoint import load_checkpoint
from rnncore.config import ModelConfig, TrainConfig
from rnncore.errors import Cancelled
from rnncore.preprocess import PreprocessedCorpus
from rnncore.models import build_model, resume_model, split_corpus
from rnncore.train import train_with_sgd
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

WORDS = tuple(f"w{i}" for i in range(30))
VOCAB = Vocabulary(WORDS + (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))


def corpus(n: int = 400) -> PreprocessedCorpus:
    rng = np.random.default_rng(5)
    start, end = VOCAB.word_to_index[SENTENCE_START], VOCAB.word_to_index[SENTENCE_END]
    sentences = [np.array([start, *rng.integers(0, len(WORDS), rng.integers(3, 12)), end],
                          dtype=np.int32) for _ in range(n)]
    return PreprocessedCorpus(VOCAB, sentences, {})


def model(config: TrainConfig):
    return build_model(ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=6, engine="numpy",
                                   dtype="float64"), config)


class StopAfterLossBatches:
    """Answers True once the model has measured ``after`` loss batches in all.

    It watches the real model's batch_loss (a spy, not a stand-in): batch_loss is what an
    evaluation calls, and training never does.
    """

    def __init__(self, net, after: int):
        self.calls, self.after = 0, after
        original = net.batch_loss

        def counting(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        net.batch_loss = counting

    def __call__(self) -> bool:
        return self.calls >= self.after


def batches_per_evaluation(data: PreprocessedCorpus, config: TrainConfig) -> int:
    train, valid, _ = split_corpus(data.sentences, config)
    return -(-len(train) // config.batch_size) + -(-len(valid) // config.batch_size)


def test_a_cancel_inside_an_evaluation_stops_it_and_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "EVAL_STOP_CHECK_S", 0.0)  # poll after every batch here
    config = TrainConfig(learning_rate=0.05, nepoch=3, batch_size=4, seed=2)
    data = corpus()
    whole = train_with_sgd(model(config), data, config)
    per_evaluation = batches_per_evaluation(data, config)

    # Two evaluations (epochs 0 and 1) run whole; the third stops after 3 of its batches.
    net = model(config)
    stop = StopAfterLossBatches(net, after=2 * per_evaluation + 3)
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(Cancelled, match="epoch 2, batch 0"):
        train_with_sgd(net, data, config, should_stop=stop, checkpoint_path=path)
    assert stop.calls - 2 * per_evaluation == 3 < per_evaluation
    saved = load_checkpoint(path)
    assert (saved.state["epoch"], saved.state["batch_index"]) == (2, 0)
    assert [h["epoch"] for h in saved.state["loss_history"]] == [0, 1]

    resumed = train_with_sgd(resume_model(saved), data, saved.train_config,
                             resume_state=saved.state)
    assert resumed.loss_history == whole.loss_history
    for name in "UVW":
        assert np.array_equal(resumed.params[name], whole.params[name]), name


def test_a_short_evaluation_asks_nothing_extra(monkeypatch):
    """With the default interval, an evaluation shorter than it polls should_stop no more often
    than before: once per training batch and once per epoch end."""
    config = TrainConfig(learning_rate=0.05, nepoch=2, batch_size=4, seed=2)
    data = corpus(80)
    calls = []
    train_with_sgd(model(config), data, config, should_stop=lambda: calls.append(1) and False)
    train, _, _ = split_corpus(data.sentences, config)
    assert len(calls) == config.nepoch * (-(-len(train) // config.batch_size) + 1)
