"""The RNN mixed with the trigram counter: the fitted weight, the mixture's perplexity, and the
RNN's per-token probabilities that the mixture reads."""
import math

import numpy as np
import pytest

from rnncore.config import TrainConfig
from rnncore.generate import LanguageModel
from rnncore.mixture import fit_weight, mixed_log_probs, rnn_log_probs
from rnncore.ngram import fit_kneser_ney
from rnncore.train import split_corpus, train_with_sgd
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
