"""Words of the vocabulary that training never shows: their Good-Turing share n1 / N, split
evenly, in every probability the model gives (validation, scoring, next words), never sampled,
and kept in the model file."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rnncore.config import TrainConfig
from rnncore.generate import LanguageModel
from rnncore.novel_words import NovelWords
from rnncore.preprocess import PreprocessedCorpus
from rnncore.models import split_corpus
from rnncore.train import train_with_sgd
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary
from rnncore.config import ModelConfig
from rnncore.models import build_model

WORDS = ("the", "a", "cat", "dog", "sat", "ran", ".", "owl", "emu", "yak")
VOCAB = Vocabulary(WORDS + (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))
ID = VOCAB.word_to_index


def sentence(*words):
    return np.array([ID[SENTENCE_START], *(ID[w] for w in words), ID[SENTENCE_END]], np.int32)


def test_the_share_is_the_training_tokens_of_words_seen_once():
    train = [sentence("the", "cat", "sat", "."), sentence("a", "dog", "sat", "."),
             sentence("the", "owl", "ran", ".")]
    novel = NovelWords.of_training(train, len(VOCAB), never=[ID[SENTENCE_START]])
    # 15 targets (words and SENTENCE_END); seen once: cat, a, dog, owl, ran.
    assert novel.share == pytest.approx(5 / 15)
    assert [VOCAB.index_to_word[i] for i in novel.ids] == ["emu", "yak", UNKNOWN_TOKEN]
    network = np.log(np.full((2, len(VOCAB)), 1 / len(VOCAB)))
    mixed = np.exp(novel.log_probs(network))
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0)
    assert mixed[0, ID["emu"]] == pytest.approx((1 - 5 / 15) / len(VOCAB) + (5 / 15) / 3)
    assert mixed[0, ID["cat"]] == pytest.approx((1 - 5 / 15) / len(VOCAB))
    again = NovelWords.from_json(novel.to_json(), len(VOCAB))
    assert np.array_equal(again.ids, novel.ids) and again.share == novel.share


def test_nothing_is_reserved_when_every_word_was_seen_or_none_was_seen_once():
    vocab = Vocabulary(("the", "cat", SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))
    ids = vocab.word_to_index
    rows = [np.array([ids[SENTENCE_START], ids["the"], ids["cat"], ids[SENTENCE_END]])] * 2
    assert NovelWords.of_training(rows, len(vocab), never=[ids[SENTENCE_START]]) is None
    with pytest.raises(ValueError, match="inconsistent"):
        NovelWords.from_json({"share": 1.5, "ids": [1]}, 5)


def small_corpus(seed=0, n=120):
    """The grammar's words, and in a few sentences words seen once or never in training."""
    rng = np.random.default_rng(seed)
    sentences = [sentence(rng.choice(["the", "a"]), rng.choice(["cat", "dog"]),
                          rng.choice(["sat", "ran"]), ".") for _ in range(n)]
    sentences += [sentence("the", rare, "sat", ".") for rare in ("owl", "emu", "yak")]
    return PreprocessedCorpus(VOCAB, sentences, {})


def test_validation_counts_unseen_words_at_their_share_and_the_model_file_keeps_them(tmp_path):
    corpus = small_corpus()
    for seed in range(20):  # a split whose validation holds a word that training never shows
        config = TrainConfig(learning_rate=0.05, nepoch=2, batch_size=8, seed=seed,
                             validation_fraction=0.2)
        train, valid, _ = split_corpus(corpus.sentences, config)
        novel = NovelWords.of_training(train, len(VOCAB), never=[ID[SENTENCE_START]])
        held_out = {int(w) for s in valid for w in s[1:]}
        if novel is not None and held_out & {int(i) for i in novel.ids} - {ID[UNKNOWN_TOKEN]}:
            break
    else:
        pytest.fail("no seed puts a rare word in validation alone")
    path = tmp_path / "model.npz"
    model = build_model(ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=8, engine="numpy",
                                    dtype="float64"), config)
    result = train_with_sgd(model, corpus, config, checkpoint_path=path)
    network = LanguageModel.from_params(result.params, VOCAB)
    per_token = np.concatenate([network.sentence_log_probs(s) for s in valid])
    targets = np.concatenate([np.asarray(s[1:]) for s in valid])
    unseen = novel.is_novel(targets)
    expected = novel.loss_bound(-per_token[~unseen].sum(), int((~unseen).sum()),
                                int(unseen.sum()))
    assert result.valid_loss == pytest.approx(expected, rel=1e-9)
    smoothed = LanguageModel.from_checkpoint(path)
    assert np.array_equal(smoothed.novel.ids, novel.ids) and smoothed.novel.share == novel.share
    exact = np.concatenate([smoothed.sentence_log_probs(s) for s in valid])
    # The bound leaves out the network's own share for unseen words: a little pessimistic.
    assert -exact.mean() <= result.valid_loss + 1e-12
    # Words the network never saw as targets get far more than its own e^-something.
    assert (exact[unseen] > per_token[unseen]).all()
    np.testing.assert_allclose(exact[~unseen], per_token[~unseen] + math.log1p(-novel.share))
    rare = VOCAB.index_to_word[int(novel.ids[0])]
    odds = {c["word"]: c["probability"]
            for c in smoothed.next_words("the", k=len(VOCAB) - 1)["candidates"]}
    assert odds[rare] >= novel.share / len(novel.ids)
    drawn = smoothed.continue_prefix("the", num_samples=50, seed=3, max_length=5)["samples"]
    assert not {rare} & {w for s in drawn for w in s["words"]}
