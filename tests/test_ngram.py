"""rnncore.ngram: Kneser-Ney and add-one unigrams against hand arithmetic, a plain dictionary
implementation, NLTK, and a real corpus."""
import logging
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnncore.ngram import KneserNeyModel, fit_kneser_ney, unigram_perplexity

log = logging.getLogger(__name__)

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
START, END = 0, 1  # as in a real vocabulary, the sentence markers are ordinary ids

# The tiny corpus: 6 words, START=0 END=1 a=2 b=3 c=4 UNKNOWN_TOKEN=5 (never seen).
A, B, C_, UNK = 2, 3, 4, 5
TINY = [np.array(s, dtype=np.int32) for s in ([START, A, B, END], [START, A, B, C_, END],
                                              [START, B, C_, END])]


def random_corpus(rng, vocabulary_size, sentences, max_words=7):
    """Zipf-like word ids 2 .. C-1 except C-2, so some n-grams repeat and one word is never seen."""
    words = np.array([w for w in range(2, vocabulary_size) if w != vocabulary_size - 2])
    p = 1.0 / np.arange(1, len(words) + 1)
    return [np.array([START, *rng.choice(words, size=rng.integers(0, max_words + 1), p=p / p.sum()),
                      END], dtype=np.int32) for _ in range(sentences)]


# Interpolated Kneser-Ney as Chen & Goodman write it, one n-gram at a time with dictionaries. It
# shares no code with rnncore.ngram, and uses KenLM's wording of the rule for sentence starts
# ("an n-gram that begins with SENTENCE_START keeps its raw count") where rnncore.ngram counts
# occurrences at position 0.
class ReferenceKneserNey:
    def __init__(self, sentences, vocabulary_size, order, discount=None):
        self.C, self.order = vocabulary_size, order
        raw = [Counter() for _ in range(order)]  # raw[k][(h1..hk, w)]: events with k history words
        for s in sentences:
            s = [int(t) for t in s]
            for i in range(1, len(s)):
                for k in range(min(i, order - 1) + 1):
                    raw[k][tuple(s[i - k:i + 1])] += 1
        self.count = []  # adjusted counts
        for k in range(order):
            if k == order - 1:
                self.count.append(dict(raw[k]))
                continue
            adjusted = Counter({g: n for g, n in raw[k].items() if g[0] == START})
            for longer in raw[k + 1]:  # one per distinct left neighbour
                adjusted[longer[1:]] += 1
            self.count.append(dict(adjusted))
        self.total = [Counter() for _ in range(order)]  # sum over w of count(h w)
        self.types = [Counter() for _ in range(order)]  # how many w have count(h w) > 0
        for k, counts in enumerate(self.count):
            for gram, n in counts.items():
                self.total[k][gram[:-1]] += n
                self.types[k][gram[:-1]] += 1
        if discount is None:
            self.discount = []
            for counts in self.count:
                n1 = sum(1 for n in counts.values() if n == 1)
                n2 = sum(1 for n in counts.values() if n == 2)
                self.discount.append(n1 / (n1 + 2 * n2) if n1 and n2 else 0.75)
        else:
            self.discount = [discount] * order

    def prob(self, word, history):
        """P(w | h) = (max(c(h w) - D, 0) + D * types(h) * P(w | h minus its first word)) / total(h)."""
        history = tuple(history)[max(0, len(history) - (self.order - 1)):]
        lower = self.prob(word, history[1:]) if history else 1 / self.C
        k, total = len(history), self.total[len(history)][history]
        if total == 0:
            return lower
        D = self.discount[k]
        discounted = max(self.count[k].get(history + (word,), 0) - D, 0)
        return (discounted + D * self.types[k][history] * lower) / total

    def sentence_log_probs(self, s):
        return np.array([math.log(self.prob(int(s[i]), [int(t) for t in s[:i]]))
                         for i in range(1, len(s))])


def test_hand_computed_probabilities():
    model = fit_kneser_ney(TINY, 6, order=3, discount=0.5)
    # Events (each s[1:] token | history): a|S  b|S a  E|a b ;  a|S  b|S a  c|a b  E|b c ;
    # b|S  c|S b  E|b c.
    # Trigrams, raw counts: (S a b) 2, (a b E) 1, (a b c) 1, (b c E) 2, (S b c) 1.
    #   so context (a b): total 2, types 2;  (b c): total 2, types 1.
    # Bigrams: those opening a sentence keep raw counts, (S a) 2, (S b) 1; the others count distinct
    #   left neighbours: (a b) {S} 1, (b E) {a} 1, (b c) {a, S} 2, (c E) {b} 1.
    #   so context S: total 3, types 2;  b: total 3, types 2;  c: total 1, types 1.
    # Unigrams, distinct left neighbours: a {S} 1, b {a, S} 2, c {b} 1, E {b, c} 2; total 6, types 4.
    # Base: uniform 1/6. With D = 0.5 at every order:
    #   P(w) = (n(w) - 0.5) / 6 + 0.5 * 4 / 6 * 1/6 = (n(w) - 0.5) / 6 + 1/18
    #   P(a) = P(c) = 1/12 + 1/18 = 5/36,  P(b) = P(E) = 1/4 + 1/18 = 11/36,  P(S) = P(UNK) = 1/18.
    # First word, context (S,) only:
    #   P(a | S) = (2 - 0.5) / 3 + 0.5 * 2 / 3 * 5/36 = 1/2 + 5/108 = 59/108.
    assert math.exp(model.log_prob([START], A)) == pytest.approx(59 / 108, abs=1e-12)
    # P(c | b) = (2 - 0.5) / 3 + 0.5 * 2 / 3 * 5/36 = 59/108;
    # P(c | a b) = (1 - 0.5) / 2 + 0.5 * 2 / 2 * 59/108 = 1/4 + 59/216 = 113/216.
    assert math.exp(model.log_prob([START, A, B], C_)) == pytest.approx(113 / 216, abs=1e-12)
    # Unseen trigram context (S c): back off to (c,): P(E | c) = (1 - 0.5) / 1 + 0.5 * 1 * 11/36 = 47/72.
    assert math.exp(model.log_prob([START, C_], END)) == pytest.approx(47 / 72, abs=1e-12)
    # Seen context, unseen word: P(a | c) = 0.5 * 1 / 1 * 5/36 = 5/72; P(a | b c) = 0.5 * 1 / 2 * 5/72.
    assert math.exp(model.log_prob([B, C_], A)) == pytest.approx(5 / 288, abs=1e-12)
    # A word never seen at all: P(UNK | b) = 0.5 * 2 / 3 * 1/18 = 1/54; P(UNK | a b) = 0.5 * 2 / 2 / 54.
    assert math.exp(model.log_prob([A, B], UNK)) == pytest.approx(1 / 108, abs=1e-12)


def test_discounts_are_estimated_per_order_by_hand():
    # From the counts above: unigrams {1, 2, 1, 2}: n1 = 2, n2 = 2, D = 2 / (2 + 4) = 1/3;
    # bigrams {2, 1, 1, 1, 2, 1}: D = 4 / (4 + 4) = 1/2; trigrams {2, 1, 1, 2, 1}: D = 3 / (3 + 4) = 3/7.
    np.testing.assert_allclose(fit_kneser_ney(TINY, 6).discounts, [1 / 3, 1 / 2, 3 / 7], rtol=1e-15)
    # A level without doubletons (order 1 of a corpus of distinct words) falls back to 0.75.
    assert fit_kneser_ney([np.array([START, 2, 3, END])], 5, order=1).discounts[0] == 0.75


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("discount", [None, 0.75, 1.0])
def test_every_context_gives_a_distribution_over_all_words(order, discount):
    rng = np.random.default_rng([order, 7])
    model = fit_kneser_ney(random_corpus(rng, 12, 30), 12, order=order, discount=discount)
    contexts = [[], [START], [START, 2], [START, 2, 3], [START, 2, 3, 2, 4, 2],  # seen and unseen
                [10], [11, 10], [START, 10, 10], [END, END], [5, START, 1]]
    contexts += [rng.integers(0, 12, size=rng.integers(0, 5)).tolist() for _ in range(20)]
    for context in contexts:
        p = np.exp(model.next_word_log_probs(context))  # (C,)
        assert p.shape == (12,) and (p[1:] > 0).all()
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        by_word = [math.exp(model.log_prob(context, w)) for w in range(12)]
        np.testing.assert_allclose(by_word, p, rtol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_a_dictionary_implementation(order, seed):
    rng = np.random.default_rng([seed, order])
    train, held_out = random_corpus(rng, 10, 60), random_corpus(rng, 10, 20, max_words=10)
    for discount in (None, 0.6):
        model = fit_kneser_ney(train, 10, order=order, discount=discount)
        reference = ReferenceKneserNey(train, 10, order, discount)
        np.testing.assert_allclose(model.discounts, reference.discount, rtol=1e-15)
        for s in train + held_out:
            np.testing.assert_allclose(model.sentence_log_probs(s), reference.sentence_log_probs(s),
                                       rtol=0, atol=1e-9)
        both = np.concatenate([reference.sentence_log_probs(s) for s in held_out])
        assert model.perplexity(held_out) == pytest.approx(math.exp(-both.mean()), rel=1e-9)
        for context in [rng.integers(0, 10, size=rng.integers(0, 5)).tolist() for _ in range(15)]:
            expected = [math.log(reference.prob(w, context)) for w in range(10)]
            np.testing.assert_allclose(model.next_word_log_probs(context), expected, atol=1e-9)


def test_agrees_with_nltk_where_they_compute_the_same_thing():
    # NLTK 3.10's KneserNeyInterpolated differs from ours in three ways, so the two agree only
    # where all three are out of play:
    # 1. No uniform base: its unigram is continuation count / bigram types, undiscounted, so a word
    #    never seen after another word gets probability 0 (perplexity inf on real validation data).
    #    Ours with a unigram discount of 0 is the same formula, hence discount=(0, D, D) below.
    # 2. Its pipeline pads with order - 1 "<s>" and "</s>", so it scores another set of events
    #    (first word given (<s>, <s>), an extra "</s>"). Fed our unpadded sentences instead, a
    #    bigram-length context (START,) has no trigram continuations and its alpha_gamma divides
    #    by zero; so we compare events with two words of history (all but each first word).
    # 3. One discount for all orders, no estimate.
    # Its scoring scans every stored higher-order n-gram per call (_continuation_counts). Measured:
    # fitted on tiny shakespeare (230k words), 24-39 ms per event; on 1M synthetic words, 91 ms.
    # That is 2-8 hours for a 300k-token validation split, where rnncore.ngram takes 0.2 s.
    nltk_lm = pytest.importorskip("nltk.lm")
    from nltk.util import everygrams

    rng = np.random.default_rng(3)
    train, held_out = random_corpus(rng, 10, 60), random_corpus(rng, 10, 20, max_words=10)
    as_words = [[str(int(t)) for t in s] for s in train]
    nltk_model = nltk_lm.KneserNeyInterpolated(3, discount=0.75)
    nltk_model.fit([list(everygrams(s, max_len=3)) for s in as_words], [w for s in as_words for w in s])
    ours = fit_kneser_ney(train, 10, order=3, discount=(0.0, 0.75, 0.75))
    compared = 0
    for s in train + held_out:
        for i in range(2, len(s)):
            context = (str(int(s[i - 2])), str(int(s[i - 1])))
            theirs = nltk_model.unmasked_score(str(int(s[i])), context)
            assert math.exp(ours.log_prob(s[i - 2:i], int(s[i]))) == pytest.approx(theirs, abs=1e-12)
            compared += theirs > 0
    assert compared > 200


def test_unigram_perplexity_by_hand():
    # Training events (s[1:]): a b E a b c E b c E -> a 2, b 3, c 2, E 3, S 0, UNK 0; 10 events.
    # Add-one over 6 words: P(w) = (n(w) + 1) / 16.
    # Validation [S a UNK E]: events a, UNK, E: P = 3/16, 1/16, 4/16.
    expected = math.exp(-(math.log(3 / 16) + math.log(1 / 16) + math.log(4 / 16)) / 3)
    valid = [np.array([START, A, UNK, END], dtype=np.int32)]
    assert unigram_perplexity(TINY, valid, 6) == pytest.approx(expected, rel=1e-12)


def test_saved_model_loads_without_pickle_and_scores_the_same(tmp_path):
    rng = np.random.default_rng(5)
    train = random_corpus(rng, 10, 40)
    model = fit_kneser_ney(train, 10, order=3)
    model.save(tmp_path / "ngram.npz")
    with np.load(tmp_path / "ngram.npz", allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
    loaded = KneserNeyModel.load(tmp_path / "ngram.npz")
    assert loaded.order == 3 and loaded.vocabulary_size == 10
    assert loaded.perplexity(train) == model.perplexity(train)
    np.testing.assert_array_equal(loaded.next_word_log_probs([START, 2]),
                                  model.next_word_log_probs([START, 2]))


@pytest.mark.parametrize("damage", ["missing", "unsorted", "out_of_range", "zero_count", "float"])
def test_damaged_arrays_are_refused(damage):
    arrays = fit_kneser_ney(TINY, 6).to_arrays()
    codes = arrays["ngram_codes_1"]
    if damage == "missing":
        del arrays["ngram_counts_2"]
    elif damage == "unsorted":
        arrays["ngram_codes_1"] = codes[::-1].copy()
    elif damage == "out_of_range":
        arrays["ngram_codes_1"] = codes + 36
    elif damage == "zero_count":
        arrays["ngram_counts_0"] = arrays["ngram_counts_0"] * 0
    else:
        arrays["ngram_codes_1"] = codes.astype(np.float64)
    with pytest.raises(ValueError):
        KneserNeyModel.from_arrays(arrays)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="word ids"):
        fit_kneser_ney([np.array([START, 6, END])], 6)
    with pytest.raises(ValueError, match="too high"):
        fit_kneser_ney(TINY, 8000, order=5)  # 8000 ** 5 codes do not fit in int64
    with pytest.raises(ValueError, match="discounts"):
        fit_kneser_ney(TINY, 6, discount=1.5)
    with pytest.raises(ValueError, match="discounts"):
        fit_kneser_ney(TINY, 6, order=3, discount=(0.5, 0.5))
    model = fit_kneser_ney(TINY, 6)
    with pytest.raises(ValueError, match="word ids"):
        model.log_prob([START, -1], A)
    with pytest.raises(ValueError, match="at least one"):
        model.perplexity([np.array([START], dtype=np.int32)])


def test_real_corpus_trigrams_beat_bigrams_and_unigrams():
    path = CORPORA / "tinyshakespeare-speeches.csv"
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared corpora are not part of the repository)")
    from rnncore.preprocess import preprocess_csv

    corpus = preprocess_csv(path, vocabulary_size=8000, workers=1)
    C, sentences = len(corpus.vocabulary), corpus.sentences
    order = np.random.default_rng(0).permutation(len(sentences))
    cut = len(sentences) // 10
    valid = [sentences[i] for i in np.sort(order[:cut])]
    train = [sentences[i] for i in np.sort(order[cut:])]
    started = time.perf_counter()
    unigram = unigram_perplexity(train, valid, C)
    bigram = fit_kneser_ney(train, C, order=2).perplexity(valid)
    trigram = fit_kneser_ney(train, C, order=3).perplexity(valid)
    seconds = time.perf_counter() - started
    tokens = sum(len(s) - 1 for s in train), sum(len(s) - 1 for s in valid)
    log.info("tiny shakespeare, %d train / %d valid tokens: perplexity unigram %.1f, bigram %.1f, "
             "trigram %.1f; fitting and scoring took %.2f s", *tokens, unigram, bigram, trigram, seconds)
    assert trigram < bigram < unigram
    # Vectorized, this takes well under a second; a per-token Python loop would take minutes.
    assert seconds < 10
