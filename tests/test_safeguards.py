"""What protects a run from its own settings: the best evaluation is the model, patience stops a
run that no longer improves, a diverged run rolls back with half the learning rate, and the
counting baselines are scored on the run's own split. Divergence is made on purpose (a model
whose n-th step returns NaN), never hoped for from a chaotic trajectory.
"""
import math

import numpy as np
import pytest

from rnncore import safeguards
from rnncore.checkpoint import load_checkpoint
from rnncore.config import TrainConfig
from rnncore.errors import TrainingDiverged
from rnncore.ngram import fit_kneser_ney, unigram_perplexity
from rnncore.models import split_corpus
from rnncore.train import train_with_sgd
from test_train import toy_corpus, toy_model


class DivergesAt:
    """A model whose training steps at the given call numbers blow the loss up to NaN."""

    def __init__(self, model, calls):
        self.model, self.calls, self.count = model, set(calls), 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def train_step(self, x, y, mask, learning_rate, **kwargs):
        self.count += 1
        loss = self.model.train_step(x, y, mask, learning_rate, **kwargs)
        return float("nan") if self.count in self.calls else loss


def valid_loss_of(params, corpus, config):
    model = toy_model(config)
    model.set_params(params)
    _, valid, _ = split_corpus(corpus.sentences, config)
    return model.calculate_loss([s[:-1] for s in valid], [s[1:] for s in valid])


def test_the_model_is_the_best_evaluation_not_the_last(tmp_path):
    config = TrainConfig(learning_rate=0.05, nepoch=8, batch_size=8, patience=None)
    corpus = toy_corpus()
    result = train_with_sgd(toy_model(config), corpus, config, checkpoint_path=tmp_path / "m.npz")
    best = min(result.loss_history, key=lambda e: e["valid_loss"])
    assert result.best_epoch == best["epoch"] and result.valid_loss == best["valid_loss"]
    assert valid_loss_of(result.params, corpus, config) == pytest.approx(best["valid_loss"], rel=1e-12)
    checkpoint = load_checkpoint(tmp_path / "m.npz")  # last weights to resume, best ones to play
    assert checkpoint.state["best"]["epoch"] == best["epoch"]
    for name, value in result.params.items():
        np.testing.assert_array_equal(checkpoint.model_params[name], value)


def test_patience_stops_a_run_that_no_longer_improves():
    # Steps this small cannot lower the validation loss by MIN_IMPROVEMENT.
    config = TrainConfig(learning_rate=1e-9, nepoch=50, batch_size=8, patience=2)
    result = train_with_sgd(toy_model(config), toy_corpus(), config)
    assert result.stopped_early and result.best_epoch == 0
    assert [e["epoch"] for e in result.loss_history] == [0, 1, 2]
    assert result.state["epoch"] == 2 < config.nepoch


def test_a_diverged_step_rolls_back_and_halves_the_learning_rate():
    config = TrainConfig(learning_rate=0.05, nepoch=3, batch_size=8)
    corpus = toy_corpus()
    per_epoch = math.ceil(len(split_corpus(corpus.sentences, config)[0]) / 8)
    events = []
    model = DivergesAt(toy_model(config), calls=[per_epoch + 3])  # in epoch 1, batch 2
    result = train_with_sgd(model, corpus, config, callback=events.append)
    rolled = [e for e in events if e["event"] == "rolled_back"]
    assert len(rolled) == 1 and rolled[0]["learning_rate"] == 0.025
    assert rolled[0]["rollback"]["where"] == "in epoch 1, batch 2"
    assert (rolled[0]["epoch"], rolled[0]["batch"]) == (1, 0)  # back to the evaluation before it
    assert result.state["rollbacks"] == [rolled[0]["rollback"]]
    # Epoch 1 was trained again from its start: every example counted once.
    assert result.state["examples_seen"] == config.nepoch * len(split_corpus(
        corpus.sentences, config)[0])
    assert [e["epoch"] for e in result.loss_history] == [0, 1, 2, 3]


def test_a_run_that_keeps_diverging_fails_in_words():
    config = TrainConfig(learning_rate=0.05, nepoch=2, batch_size=8)
    model = DivergesAt(toy_model(config), calls=range(1, 1000))
    with pytest.raises(TrainingDiverged) as raised:
        train_with_sgd(model, toy_corpus(), config)
    message = str(raised.value)
    assert "halved the learning rate 3 times, down to 0.00625" in message
    assert "Try a smaller learning rate" in message and "nan" in message


def test_the_baselines_are_scored_on_the_runs_own_split():
    config = TrainConfig(nepoch=1, batch_size=8, seed=4)
    corpus = toy_corpus()
    result = train_with_sgd(toy_model(config), corpus, config)
    train, valid, _ = split_corpus(corpus.sentences, config)
    words = len(corpus.vocabulary)
    assert result.baselines["trigram_perplexity"] == pytest.approx(
        fit_kneser_ney(train, words, order=3).perplexity(valid))
    assert result.baselines["unigram_perplexity"] == pytest.approx(
        unigram_perplexity(train, valid, words))
    assert result.baselines["trigram_perplexity"] < result.baselines["unigram_perplexity"]


def test_no_validation_split_means_no_baselines_and_the_last_weights():
    config = TrainConfig(nepoch=2, batch_size=8, validation_fraction=0.0)
    result = train_with_sgd(toy_model(config), toy_corpus(), config)
    assert result.baselines == {} and result.best_epoch == 2 and not result.stopped_early


def test_update_best_counts_evaluations_without_improvement():
    state = {"loss_history": [], "best": None}
    for epoch, loss in enumerate([3.0, 2.0, 2.00005, 2.5, 1.9]):
        state["loss_history"].append({"epoch": epoch, "examples_seen": epoch})
        safeguards.update_best(state, loss)
        if epoch == 3:
            assert state["evaluations_since_best"] == 2  # 2.00005 is not better by 1e-4
            assert safeguards.should_stop_early(state, 2)
    assert state["best"]["epoch"] == 4 and state["evaluations_since_best"] == 0


def test_evaluations_measure_a_fixed_sample_of_a_large_training_split(monkeypatch):
    from rnncore import evaluation

    sentences = toy_corpus(400).sentences
    assert evaluation.train_sample(sentences, seed=1) == sentences  # small: all of it
    monkeypatch.setattr(evaluation, "TRAIN_EVAL_TOKENS", 300)
    sample = evaluation.train_sample(sentences, seed=1)
    words = sum(len(s) - 1 for s in sample)
    assert 300 <= words < 300 + max(len(s) for s in sentences)
    assert [id(s) for s in sample] == [id(s) for s in evaluation.train_sample(sentences, seed=1)]
    assert {id(s) for s in sample} <= {id(s) for s in sentences}
    assert [id(s) for s in sample] != [id(s) for s in evaluation.train_sample(sentences, seed=2)]
