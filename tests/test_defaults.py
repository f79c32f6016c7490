"""The settings the form and the command line start from: the ones rnncore recommends, and they
train without diverging whatever the seed.

Each run asserts its own state (no roll-back, a finite loss that fell, the best evaluation
after the start), so a failure says what happened rather than timing out.
"""
import math
from pathlib import Path

import pytest

from rnncore.cli import _defaults
from rnncore.config import RECOMMENDED_MODEL, RECOMMENDED_TRAIN, recommended_configs
from rnncore.models import build_model
from rnncore.train import train_with_sgd
from test_train import toy_corpus
from webapp.hyperparameters import defaults as form_defaults

REDDIT = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "reddit-comments-2015-08-sample.csv"
SEEDS = range(5)


def test_the_form_and_the_command_line_start_from_the_recommended_settings():
    form = form_defaults()
    _, cli = _defaults()
    for name, value in {**RECOMMENDED_MODEL, **RECOMMENDED_TRAIN}.items():
        assert form[name] == cli[name] == value, name


def train_with_the_defaults(corpus, seed: int, nepoch: int):
    model_config, train_config = recommended_configs(vocabulary_size=len(corpus.vocabulary),
                                                     seed=seed, nepoch=nepoch)
    model = build_model(model_config, train_config)
    return train_with_sgd(model, corpus, train_config, num_samples=0, model_config=model_config)


def assert_trained_well(result):
    history = result.loss_history
    assert result.state["rollbacks"] == [], result.state["rollbacks"]
    assert all(math.isfinite(e["train_loss"]) and math.isfinite(e["valid_loss"]) for e in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.5
    assert result.best_epoch > 0 and result.valid_loss < history[0]["valid_loss"]


@pytest.mark.parametrize("seed", SEEDS)
def test_the_defaults_do_not_diverge_on_a_small_corpus(seed):
    assert_trained_well(train_with_the_defaults(toy_corpus(400, seed=seed), seed, nepoch=3))


@pytest.mark.slow
def test_the_defaults_do_not_diverge_on_real_text_whatever_the_seed():
    if not REDDIT.exists():
        pytest.skip(f"{REDDIT} is absent")
    from rnncore.preprocess import preprocess_csv

    corpus = preprocess_csv(REDDIT, vocabulary_size=8000)
    for seed in SEEDS:
        assert_trained_well(train_with_the_defaults(corpus, seed, nepoch=1))
