"""LanguageModel: sampling rules, reproducibility, unknown words, and scores against RNNNumpy."""
import time

import numpy as np
import pytest

from rnncore.checkpoint import save_checkpoint
from rnncore.config import ModelConfig
from rnncore.generate import LanguageModel
from rnncore.rnn_numpy import RNNNumpy
from rnncore.text import tokenize_prefix
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

WORDS = ("the", "a", "cat", "dog", "sat", "ran", "on", "mat", "and", "it", "was", "happy", ".", ",",
         "big", "small", "house", "tree", "saw", "very")
VOCAB = Vocabulary(WORDS + (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))
START, END, UNK = (VOCAB.word_to_index[w] for w in (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))


@pytest.fixture(scope="module")
def reference():
    """An RNNNumpy with fresh random weights, sharp enough that words differ in probability."""
    rng = np.random.default_rng(11)
    model = RNNNumpy(len(VOCAB), hidden_dim=8, bptt_truncate=4, dtype=np.float64, rng=rng)
    params = {k: v * 6 for k, v in model.get_params().items()}
    model.set_params(params)
    return model, LanguageModel.from_params(params, VOCAB)


def forced_model(hidden_dim=6, favour=UNKNOWN_TOKEN, avoid=SENTENCE_END):
    """Weights that put nearly all probability on ``favour`` and almost none on ``avoid``."""
    U = np.full((hidden_dim, len(VOCAB)), 3.0)  # every word drives s towards +1
    V = np.zeros((len(VOCAB), hidden_dim))
    V[VOCAB.word_to_index[favour]] = 5.0
    V[VOCAB.word_to_index[avoid]] = -5.0
    V[VOCAB.word_to_index["cat"]] = 0.5
    return LanguageModel(U, V, np.zeros((hidden_dim, hidden_dim)), VOCAB)


def test_generation_never_emits_unknown_and_always_ends():
    lm = forced_model()
    rng = np.random.default_rng(0)
    for _ in range(20):
        words = lm.generate_sentence(rng, min_length=2, max_length=12)
        assert len(words) == 12  # END is nearly impossible here, so max_length ends it
        assert UNKNOWN_TOKEN not in words and SENTENCE_START not in words
        assert set(words) <= set(WORDS)
    result = lm.continue_prefix("the cat", num_samples=5, max_length=7, seed=1)
    assert all(len(s["words"]) == 7 and not s["ended"] for s in result["samples"])
    assert all(UNKNOWN_TOKEN not in s["words"] for s in result["samples"])


def test_min_length_is_respected_even_when_end_is_likely():
    lm = forced_model(favour=SENTENCE_END, avoid="dog")
    rng = np.random.default_rng(0)
    lengths = {len(lm.generate_sentence(rng, min_length=4, max_length=30)) for _ in range(30)}
    assert min(lengths) >= 4
    assert 4 in lengths  # and END does come as soon as it is allowed, usually
    # An empty prefix never yields an empty continuation.
    samples = lm.continue_prefix("", num_samples=10, seed=3)["samples"]
    assert all(len(s["words"]) >= 1 for s in samples)


def test_seed_reproduces_and_different_seeds_differ(reference):
    _, lm = reference
    first = lm.continue_prefix("the dog", num_samples=4, max_length=15, seed=42)
    again = lm.continue_prefix("the dog", num_samples=4, max_length=15, seed=42)
    other = lm.continue_prefix("the dog", num_samples=4, max_length=15, seed=43)
    assert first == again
    assert first["samples"] != other["samples"]
    assert all(s["text"].startswith("the dog") for s in first["samples"])


def test_first_word_frequencies_follow_the_model(reference):
    model, lm = reference
    x = [START] + [VOCAB.word_to_index[w] for w in ("the", "cat")]
    o, _ = model.forward_propagation(x)
    expected = o[-1].copy()
    expected[[UNK, START]] = 0  # never sampled; the rest renormalised
    expected /= expected.sum()
    counts = np.zeros(len(VOCAB))
    for seed in range(40):
        for sample in lm.continue_prefix("the cat", num_samples=100, max_length=1, seed=seed)["samples"]:
            index = VOCAB.word_to_index[sample["words"][0]] if sample["words"] else END
            counts[index] += 1
    observed = counts / counts.sum()
    # 4000 draws: each frequency within ~4 standard errors of its probability.
    tolerance = 4 * np.sqrt(expected * (1 - expected) / counts.sum()) + 1e-3
    assert np.all(np.abs(observed - expected) <= tolerance)


def test_top_k_one_is_greedy(reference):
    model, lm = reference
    sample = lm.continue_prefix("a small", num_samples=1, top_k=1, max_length=8, seed=0)["samples"][0]
    x = [START] + [VOCAB.word_to_index[w] for w in ("a", "small")]
    expected = []
    for _ in range(8):
        o, _ = model.forward_propagation(x)
        p = o[-1].copy()
        p[[UNK, START]] = -1
        nxt = int(np.argmax(p))
        if nxt == END:
            break
        expected.append(VOCAB.index_to_word[nxt])
        x.append(nxt)
    assert sample["words"] == expected


def test_unknown_words_are_reported_not_dropped(reference):
    _, lm = reference
    result = lm.continue_prefix("The zebra sat on a trampoline", num_samples=2, seed=0)
    assert result["prefix_tokens"] == ["the", "zebra", "sat", "on", "a", "trampoline"]
    assert result["unknown_words"] == ["zebra", "trampoline"]
    assert "zebra" in result["samples"][0]["text"]
    only_unknown = lm.next_words("zebra trampoline", k=3)
    assert only_unknown["unknown_words"] == ["zebra", "trampoline"]
    assert len(only_unknown["candidates"]) == 3


def test_score_matches_forward_propagation(reference):
    model, lm = reference
    text = "The cat sat on the zebra."
    tokens = tokenize_prefix(text)
    ids, _ = VOCAB.encode(tokens)
    o, _ = model.forward_propagation([START] + ids)
    targets = ids + [END]
    word_logp = np.log(o[np.arange(len(targets)), targets])
    score = lm.score_sentence(text)
    assert score["tokens"] == tokens and score["unknown_words"] == ["zebra"]
    assert score["log_probability"] == pytest.approx(word_logp.sum(), rel=1e-10)
    assert score["perplexity"] == pytest.approx(np.exp(-word_logp.mean()), rel=1e-10)
    assert [s["word"] for s in score["surprisal"]] == tokens + [SENTENCE_END]
    assert np.allclose([s["bits"] for s in score["surprisal"]], -word_logp / np.log(2))
    assert [s["unknown"] for s in score["surprisal"]] == [t == "zebra" for t in tokens] + [False]


def test_next_words_match_forward_propagation(reference):
    model, lm = reference
    o, _ = model.forward_propagation([START, VOCAB.word_to_index["it"]])
    p = o[-1].copy()
    p[START] = 0
    order = np.argsort(-p)[:5]
    result = lm.next_words("it", k=5)
    assert [c["word"] for c in result["candidates"]] == [VOCAB.index_to_word[i] for i in order]
    assert np.allclose([c["probability"] for c in result["candidates"]], p[order])


def test_rank_sentences_orders_by_probability(reference):
    _, lm = reference
    texts = ["the cat sat on the mat.", "mat the on sat cat the", "it was very happy", "a dog"]
    ranked = lm.rank_sentences(texts)
    assert sorted(r["text"] for r in ranked) == sorted(texts)
    expected = sorted(texts, key=lambda t: -lm.score_sentence(t)["log_probability"])
    assert [r["text"] for r in ranked] == expected


@pytest.mark.parametrize("call, words", [
    (lambda lm: lm.continue_prefix("the", temperature=0), "temperature must be more than 0"),
    (lambda lm: lm.continue_prefix("the", top_k=0), "top_k must be a whole number from 1"),
    (lambda lm: lm.continue_prefix("the", num_samples=0), "num_samples must be"),
    (lambda lm: lm.continue_prefix("the", max_length=-1), "max_length must be"),
    (lambda lm: lm.continue_prefix(None), "the text must be a string"),
    (lambda lm: lm.next_words("the", k=10_000), "k must be a whole number from 1 to 23"),
    (lambda lm: lm.score_sentence("   "), "there are no words to score"),
    (lambda lm: lm.rank_sentences(["a cat", ""]), "sentence 2: there are no words"),
    (lambda lm: lm.generate_sentence(np.random.default_rng(), min_length=9, max_length=3),
     "min_length must be a whole number from 0 to 3"),
])
def test_bad_arguments_are_explained(reference, call, words):
    with pytest.raises(ValueError, match=words):
        call(reference[1])


def test_from_checkpoint(tmp_path, reference):
    model, lm = reference
    path = save_checkpoint(tmp_path / "m.npz", model.get_params(), VOCAB,
                           ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=8, engine="numpy"))
    loaded = LanguageModel.from_checkpoint(path)
    assert loaded.score_sentence("a cat ran") == lm.score_sentence("a cat ran")


def test_twenty_word_continuation_is_fast():
    rng = np.random.default_rng(0)
    word_dim, hidden_dim = 8000, 100
    vocab = Vocabulary(tuple(f"w{i}" for i in range(word_dim - 3)) +
                       (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))
    lm = LanguageModel(rng.uniform(-0.01, 0.01, (hidden_dim, word_dim)),
                       rng.uniform(-0.1, 0.1, (word_dim, hidden_dim)),
                       rng.uniform(-0.1, 0.1, (hidden_dim, hidden_dim)), vocab)
    timings = []
    for seed in range(5):
        started = time.perf_counter()
        result = lm.continue_prefix("w1 w2 w3", num_samples=1, max_length=20, seed=seed)
        timings.append(time.perf_counter() - started)
    assert len(result["samples"][0]["words"]) >= 1
    assert min(timings) < 0.020
