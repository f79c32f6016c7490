"""The training loop: schedule, progress, cancellation, divergence, exact resume, and real text."""
import math
from pathlib import Path

import numpy as np
import pytest

from rnncore.checkpoint import load_checkpoint
from rnncore.config import ModelConfig, TrainConfig
from rnncore.errors import Cancelled, TrainingDiverged
from rnncore.generate import LanguageModel
from rnncore.preprocess import PreprocessedCorpus, preprocess_csv
from rnncore.rnn_numpy import RNNNumpy
from rnncore.models import build_model, resume_model, split_corpus
from rnncore.train import train_with_sgd
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
WORDS = ("the", "a", "cat", "dog", "sat", "ran", "on", "mat", "log", ".", "big")
VOCAB = Vocabulary(WORDS + (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))


def toy_corpus(n=150, seed=0) -> PreprocessedCorpus:
    """Sentences from a small grammar, so there is something to learn."""
    rng = np.random.default_rng(seed)
    index = VOCAB.word_to_index
    sentences = []
    for _ in range(n):
        words = [rng.choice(["the", "a"]), rng.choice(["cat", "dog", "big"]), rng.choice(["sat", "ran"])]
        if rng.random() < 0.5:
            words += ["on", rng.choice(["the", "a"]), rng.choice(["mat", "log"])]
        ids = [index[SENTENCE_START]] + [index[w] for w in words + ["."]] + [index[SENTENCE_END]]
        sentences.append(np.array(ids, dtype=np.int32))
    return PreprocessedCorpus(VOCAB, sentences, {})


def toy_model(train_config, engine="numpy"):
    model_config = ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=8, engine=engine,
                               dtype="float64")
    return build_model(model_config, train_config)


@pytest.fixture(autouse=True)
def no_polls_during_evaluations(monkeypatch):
    """Tests here stop training on the n-th should_stop call; polls during a loss evaluation come
    every EVAL_STOP_CHECK_S seconds, so their number depends on the machine's speed."""
    monkeypatch.setattr("rnncore.train.EVAL_STOP_CHECK_S", float("inf"))


class StopAfter:
    """should_stop that answers True on its n-th call."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self):
        self.calls += 1
        return self.calls >= self.n


def test_split_is_deterministic_disjoint_and_complete():
    sentences = toy_corpus(101).sentences
    config = TrainConfig(validation_fraction=0.2, seed=3)
    train, valid, skipped = split_corpus(sentences, config)
    again, valid_again, _ = split_corpus(sentences, config)
    assert skipped == 0 and len(valid) == 20 and len(train) == 81
    assert [s.tolist() for s in valid] == [s.tolist() for s in valid_again]
    ids = {id(s) for s in train} | {id(s) for s in valid}
    assert ids == {id(s) for s in sentences}
    _, other, _ = split_corpus(sentences, TrainConfig(validation_fraction=0.2, seed=4))
    assert {id(s) for s in other} != {id(s) for s in valid}
    _, _, skipped = split_corpus(sentences, TrainConfig(max_sentence_length=6))
    assert skipped == sum(len(s) > 6 for s in sentences) > 0


def test_progress_fields_and_monotonic_counters():
    config = TrainConfig(learning_rate=0.01, nepoch=3, batch_size=8)
    events = []
    result = train_with_sgd(toy_model(config), toy_corpus(), config, callback=events.append,
                            progress_interval=0, num_samples=2)
    kinds = [e["event"] for e in events]
    assert kinds.count("evaluation") == 4 and kinds[-1] == "finished"
    assert kinds.count("batch") == 3 * events[0]["batches_per_epoch"]
    fields = {"epoch", "examples_seen", "tokens_seen", "train_loss", "valid_loss", "valid_perplexity",
              "learning_rate", "tokens_per_second", "eta_seconds", "fraction_done", "samples"}
    assert all(fields <= set(e) for e in events)
    for key in ("epoch", "examples_seen", "tokens_seen", "fraction_done"):
        values = [e[key] for e in events]
        assert values == sorted(values), key
    assert events[-1]["fraction_done"] == 1.0
    train, _, _ = split_corpus(toy_corpus().sentences, config)
    assert events[-1]["examples_seen"] == 3 * len(train)
    assert events[-1]["tokens_seen"] == 3 * sum(len(s) - 1 for s in train)
    evaluations = [e for e in events if e["event"] == "evaluation"]
    assert all(len(e["samples"]) == 2 for e in evaluations)
    assert evaluations[-1]["valid_perplexity"] == pytest.approx(math.exp(evaluations[-1]["valid_loss"]))
    assert evaluations[-1]["train_loss"] < evaluations[0]["train_loss"]
    assert result.loss_history[-1]["valid_loss"] == result.valid_loss


def test_batch_events_are_throttled():
    config = TrainConfig(learning_rate=0.01, nepoch=2, batch_size=4)
    events = []
    train_with_sgd(toy_model(config), toy_corpus(), config, callback=events.append,
                   progress_interval=3600)
    # The first batch reports at once; then nothing until an hour has passed.
    assert [e["event"] for e in events].count("batch") == 1
    assert [e["event"] for e in events].count("evaluation") == 3


def test_learning_rate_halves_exactly_when_the_loss_rises():
    config = TrainConfig(learning_rate=0.05, nepoch=8, batch_size=8)
    events = []
    result = train_with_sgd(toy_model(config), toy_corpus(), config, callback=events.append)
    history = result.loss_history
    rose = [after["train_loss"] > before["train_loss"] for before, after in zip(history, history[1:])]
    # Evaluation i + 1 sees whether the loss rose since evaluation i; if so, from then on the
    # rate is half, which evaluation i + 2 records.
    for i in range(1, len(history) - 1):
        factor = 0.5 if rose[i - 1] else 1.0
        assert history[i + 1]["learning_rate"] == history[i]["learning_rate"] * factor
    assert sum(rose) >= 1
    assert [e["event"] for e in events].count("lr_halved") == sum(rose)
    halved = 0.05 * 0.5 ** sum(rose)
    assert result.state["learning_rate"] == halved


def test_huge_learning_rate_is_reported_as_divergence(tmp_path):
    config = TrainConfig(learning_rate=10.0, nepoch=2, batch_size=8, clip_norm=None)
    events = []
    with pytest.raises(TrainingDiverged, match="halved the learning rate 3 times, down to 1.25"):
        train_with_sgd(toy_model(config), toy_corpus(), config, callback=events.append,
                       checkpoint_path=tmp_path / "m.npz")
    rolled = [e for e in events if e["event"] == "rolled_back"]
    assert [e["learning_rate"] for e in rolled] == [5.0, 2.5, 1.25]
    # The checkpoint from before the first update is still there and sound.
    assert np.isfinite(load_checkpoint(tmp_path / "m.npz").params["V"]).all()


def test_cancel_checkpoints_then_raises(tmp_path):
    config = TrainConfig(learning_rate=0.01, nepoch=3, batch_size=8)
    path = tmp_path / "model.npz"
    with pytest.raises(Cancelled, match="epoch 0, batch 4 of"):
        train_with_sgd(toy_model(config), toy_corpus(), config, should_stop=StopAfter(5),
                       checkpoint_path=path)
    checkpoint = load_checkpoint(path)
    assert (checkpoint.state["epoch"], checkpoint.state["batch_index"]) == (0, 4)
    assert checkpoint.state["examples_seen"] == 4 * 8
    assert checkpoint.train_config == config


@pytest.mark.parametrize("engine, optimizer, clip_norm, stop_at", [
    ("numpy", "adam", None, "mid_epoch"),
    ("numpy", "sgd", 0.5, "epoch_end"),
    ("pytensor", "rmsprop", 1.0, "mid_epoch"),
])
def test_resume_is_bit_for_bit(tmp_path, engine, optimizer, clip_norm, stop_at):
    corpus = toy_corpus()
    config = TrainConfig(learning_rate=0.02, nepoch=3, batch_size=8, optimizer=optimizer,
                         clip_norm=clip_norm, seed=9)
    whole = train_with_sgd(toy_model(config, engine), corpus, config)
    n_batches = math.ceil(len(split_corpus(corpus.sentences, config)[0]) / 8)
    # should_stop is asked before every batch and once more at the end of each epoch.
    stop = StopAfter(n_batches + 1 + 5 if stop_at == "mid_epoch" else n_batches + 1)
    path = tmp_path / "model.npz"
    with pytest.raises(Cancelled):
        train_with_sgd(toy_model(config, engine), corpus, config, should_stop=stop,
                       checkpoint_path=path)
    checkpoint = load_checkpoint(path)
    expected = (1, 4) if stop_at == "mid_epoch" else (0, n_batches)
    assert (checkpoint.state["epoch"], checkpoint.state["batch_index"]) == expected
    model = resume_model(checkpoint)
    assert type(model) is type(toy_model(config, engine))
    events = []
    resumed = train_with_sgd(model, corpus, checkpoint.train_config, checkpoint_path=path,
                             resume_state=checkpoint.state, callback=events.append,
                             progress_interval=0)
    # It carried on from the checkpoint rather than starting over.
    first_batch = next(e for e in events if e["event"] == "batch")
    assert 0 < first_batch["examples_seen"] - checkpoint.state["examples_seen"] <= 8
    for name in "UVW":
        assert np.array_equal(resumed.params[name], whole.params[name]), name
    assert resumed.loss_history == whole.loss_history
    assert resumed.state["examples_seen"] == whole.state["examples_seen"]
    assert load_checkpoint(path).state["finished"] is True


def test_resume_refuses_another_corpus(tmp_path):
    config = TrainConfig(learning_rate=0.01, nepoch=2, batch_size=8)
    path = tmp_path / "model.npz"
    with pytest.raises(Cancelled):
        train_with_sgd(toy_model(config), toy_corpus(), config, should_stop=StopAfter(3),
                       checkpoint_path=path)
    checkpoint = load_checkpoint(path)
    with pytest.raises(ValueError, match="different corpus"):
        train_with_sgd(resume_model(checkpoint), toy_corpus(90), config,
                       resume_state=checkpoint.state)
    # A model saved for use only, without optimizer and RNG state, says so.
    bare = {k: v for k, v in checkpoint.state.items() if k != "rng_state"}
    with pytest.raises(ValueError, match="cannot be resumed"):
        train_with_sgd(resume_model(checkpoint), toy_corpus(), config, resume_state=bare)


def test_build_model_picks_the_engine():
    config = ModelConfig(vocabulary_size=20, hidden_dim=4, engine="numpy", dtype="float32")
    model = build_model(config, TrainConfig(optimizer="adam", clip_norm=2.0))
    assert isinstance(model, RNNNumpy)
    assert (model.word_dim, model.hidden_dim, model.dtype) == (20, 4, np.float32)
    assert (model.optimizer, model.clip_norm) == ("adam", 2.0)
    # Same seed, same initial weights.
    again = build_model(config, TrainConfig(optimizer="adam", clip_norm=2.0))
    assert np.array_equal(again.get_params()["U"], model.get_params()["U"])


def test_vocabulary_must_fit_the_model():
    config = TrainConfig(nepoch=1)
    model = build_model(ModelConfig(vocabulary_size=20, hidden_dim=4, engine="numpy"), config)
    with pytest.raises(ValueError, match="vocabulary has 14 words but the model expects 20"):
        train_with_sgd(model, toy_corpus(), config)


def test_reddit_sample_beats_a_unigram_model():
    path = CORPORA / "reddit-comments-2015-08-sample.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    corpus = preprocess_csv(path, vocabulary_size=2000)
    config = TrainConfig(learning_rate=0.005, nepoch=2, evaluate_loss_after=2, batch_size=8,
                         clip_norm=None)  # the tutorial's plain SGD
    model_config = ModelConfig(vocabulary_size=len(corpus.vocabulary), hidden_dim=32,
                               engine="numpy", dtype="float32")
    result = train_with_sgd(build_model(model_config, config), corpus, config)
    # A unigram model of the same training sentences (add-one smoothed), on the same split.
    train, valid, _ = split_corpus(corpus.sentences, config)
    counts = np.bincount(np.concatenate([s[1:] for s in train]), minlength=len(corpus.vocabulary))
    log_p = np.log((counts + 1.0) / (counts.sum() + len(counts)))
    unigram_perplexity = math.exp(-log_p[np.concatenate([s[1:] for s in valid])].mean())
    assert result.valid_perplexity < unigram_perplexity
    lm = LanguageModel.from_params(result.params, corpus.vocabulary)
    rng = np.random.default_rng(0)
    words = [w for _ in range(20) for w in lm.generate_sentence(rng)]
    assert set(words) <= set(corpus.vocabulary.index_to_word) - {UNKNOWN_TOKEN, SENTENCE_START}
