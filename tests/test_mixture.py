"""The RNN mixed with the trigram counter: the fitted weight, the mixture's perplexity, and the
RNN's per-token probabilities that the mixture reads."""
import math

import numpy as np
import pytest

from rnncore.config import TrainConfig
from rnncore.generate import LanguageModel
from rnncore.mixture import fit_weight, mixed_log_probs, rnn_log_probs
from rnncore.ngram import fit_kneser_ney
from rnncore.models import split_corpus
from rnncore.train import train_with_sgd
from test_train import VOCAB, toy_corpus, toy_model


def test_two_models_wrong_in_opposite_places_mix_half_and_half():
    # P_rnn = (0.5, 0.1), P_3 = (0.1, 0.5): by symmetry a = 1/2 gives 0.3 for each token.
    rnn, ngram = np.log([0.5, 0.1]), np.log([0.1, 0.5])
    fitted = fit_weight(rnn, ngram)
    assert fitted["rnn_weight"] == pytest.approx(0.5)
    assert fitted["mixture_perplexity"] == pytest.approx(1 / 0.3)
    assert fitted["rnn_perplexity"] == pytest.approx(fitted["trigram_perplexity"]) == \
        pytest.approx(1 / math.sqrt(0.05))


def test_the_mixture_is_never_worse_than_either_model():
    rng = np.random.default_rng(0)
    rnn, ngram = np.log(rng.uniform(0.01, 1, 200)), np.log(rng.uniform(0.01, 1, 200))
    fitted = fit_weight(rnn, ngram)
    assert fitted["mixture_perplexity"] <= min(fitted["rnn_perplexity"], fitted["trigram_perplexity"])
    np.testing.assert_allclose(mixed_log_probs(rnn, ngram, 1.0), rnn)
    np.testing.assert_allclose(mixed_log_probs(rnn, ngram, 0.0), ngram)
    with pytest.raises(ValueError, match="same"):
        fit_weight(rnn, ngram[:-1])


def test_sentence_log_probs_are_the_scores_of_score_sentence():
    rng = np.random.default_rng(1)
    params = {"U": rng.normal(0, 0.3, (6, len(VOCAB))), "V": rng.normal(0, 0.3, (len(VOCAB), 6)),
              "W": rng.normal(0, 0.3, (6, 6))}
    lm = LanguageModel.from_params(params, VOCAB)
    sentence = toy_corpus(1).sentences[0]
    words = [VOCAB.index_to_word[i] for i in sentence[1:-1]]
    scored = lm.score_sentence(" ".join(words))
    np.testing.assert_allclose(lm.sentence_log_probs(sentence).sum(), scored["log_probability"])
    assert len(rnn_log_probs(lm, [sentence, sentence])) == 2 * (len(sentence) - 1)


def test_a_finished_run_reports_its_mixture_with_the_trigram():
    config = TrainConfig(learning_rate=0.05, nepoch=3, batch_size=8)
    corpus = toy_corpus()
    result = train_with_sgd(toy_model(config), corpus, config)
    mixture = result.baselines["mixture"]
    train, valid, _ = split_corpus(corpus.sentences, config)
    trigram = fit_kneser_ney(train, len(VOCAB), order=3)
    expected = fit_weight(rnn_log_probs(LanguageModel.from_params(result.params, VOCAB), valid),
                          trigram.log_probs(valid))
    assert mixture == {"rnn_weight": expected["rnn_weight"],
                       "perplexity": expected["mixture_perplexity"]}
    assert expected["rnn_perplexity"] == pytest.approx(result.valid_perplexity, rel=1e-6)
    assert mixture["perplexity"] <= min(result.valid_perplexity,
                                        result.baselines["trigram_perplexity"]) + 1e-9


@pytest.fixture
def mixable(tmp_path):
    """A finished toy run's checkpoint (it holds the trigram counter) and what went into it."""
    config = TrainConfig(learning_rate=0.05, nepoch=3, batch_size=8)
    corpus = toy_corpus()
    path = tmp_path / "model.npz"
    result = train_with_sgd(toy_model(config), corpus, config, checkpoint_path=path)
    train, valid, _ = split_corpus(corpus.sentences, config)
    return path, result, fit_kneser_ney(train, len(VOCAB), order=3), valid


def test_a_checkpoint_keeps_its_trigram_and_the_playground_mixes_with_it(mixable):
    path, result, trigram, valid = mixable
    lm = LanguageModel.from_checkpoint(path)
    weight = result.baselines["mixture"]["rnn_weight"]
    assert lm.counter_weight == weight and lm.mixture is None
    mixed = lm.mixed()
    assert mixed.mixture[1] == weight and lm.mixture is None  # a copy; the network is unchanged
    # The mixture's scores are a P_rnn + (1 - a) P_3 token by token, and over the validation
    # split they give exactly the perplexity the run reported.
    expected = mixed_log_probs(rnn_log_probs(lm, valid), trigram.log_probs(valid), weight)
    np.testing.assert_allclose(rnn_log_probs(mixed, valid), expected, rtol=1e-12)
    assert math.exp(-rnn_log_probs(mixed, valid).mean()) == pytest.approx(
        result.baselines["mixture"]["perplexity"], rel=1e-9)
    sentence = valid[0]
    words = " ".join(VOCAB.index_to_word[i] for i in sentence[1:-1])
    assert mixed.score_sentence(words)["log_probability"] == pytest.approx(
        expected[: len(sentence) - 1].sum(), rel=1e-12)


def test_mixed_next_words_and_samples_are_distributions_of_both(mixable):
    path, result, trigram, _ = mixable
    lm = LanguageModel.from_checkpoint(path)
    mixed, weight = lm.mixed(), lm.counter_weight
    prefix = "the cat"
    everything = mixed.next_words(prefix, k=len(VOCAB))["candidates"]
    # SENTENCE_START is never a next word; what is left sums to one less its share.
    ids = [VOCAB.word_to_index[w] for w in ["SENTENCE_START", "the", "cat"]]
    start = weight * math.exp(lm._log_probs(lm._states(ids[1:])[-1:])[0][ids[0]]) + \
        (1 - weight) * math.exp(trigram.next_word_log_probs(ids)[ids[0]])
    assert sum(c["probability"] for c in everything) == pytest.approx(1 - start, abs=1e-9)
    on_its_own = {c["word"]: c["probability"] for c in lm.next_words(prefix, k=len(VOCAB))["candidates"]}
    counted = np.exp(trigram.next_word_log_probs(ids))
    for c in everything:
        assert c["probability"] == pytest.approx(
            weight * on_its_own[c["word"]] + (1 - weight) * counted[VOCAB.word_to_index[c["word"]]])
    first = mixed.continue_prefix(prefix, num_samples=4, seed=5)
    assert first == mixed.continue_prefix(prefix, num_samples=4, seed=5)
    assert all(s["text"].startswith("the cat") for s in first["samples"])


def test_only_a_model_with_a_counter_can_be_mixed(mixable, tmp_path):
    path, result, _, _ = mixable
    with pytest.raises(ValueError, match="no trigram counter"):
        LanguageModel.from_params(result.params, VOCAB).mixed()
    # A run without a validation split has no weight to mix by, so nothing to offer.
    config = TrainConfig(learning_rate=0.05, nepoch=1, batch_size=8, validation_fraction=0.0)
    train_with_sgd(toy_model(config), toy_corpus(), config, checkpoint_path=tmp_path / "all.npz")
    assert LanguageModel.from_checkpoint(tmp_path / "all.npz").counter is None


def test_a_corpus_with_too_many_trigrams_keeps_none_in_its_model_file(tmp_path, monkeypatch):
    monkeypatch.setattr("rnncore.train.MAX_TRIGRAM_BYTES", 1000)
    config = TrainConfig(learning_rate=0.05, nepoch=1, batch_size=8)
    train_with_sgd(toy_model(config), toy_corpus(), config, checkpoint_path=tmp_path / "m.npz")
    assert LanguageModel.from_checkpoint(tmp_path / "m.npz").counter is None
