"""The memorisation check: rnncore.memorisation's index of hashed runs of words against a brute
force search (runs within sentences, never through UNKNOWN_TOKEN, none shorter than N), its speed
on the largest shared corpus (under 50 ms for 20 words), and the web app's answer: the index made
at preprocessing, each sample's longest shared run with its corpus sentence, in the API and on
the page without JavaScript, and why not when it cannot check.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import pytest

from conftest import SHARED_CORPORA
from rnncore.memorisation import N, NgramIndex
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

WORDS = [f"w{i}" for i in range(12)] + [SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN]
VOCAB = Vocabulary(tuple(WORDS))
START, END, UNK = (VOCAB.word_to_index[w] for w in (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))


def sentence(words) -> np.ndarray:
    return np.array([START, *(VOCAB.word_to_index[w] for w in words), END], dtype=np.int32)


def brute_force(sentences, words: list[str]):
    """(length, start) of the longest run of words in some sentence, markers left out."""
    best = (0, None)
    for s in sentences:
        inner = VOCAB.decode(s[1:-1])
        for i in range(len(words)):
            for j in range(len(inner)):
                k = 0
                while (i + k < len(words) and j + k < len(inner) and words[i + k] == inner[j + k]
                       and inner[j + k] != UNKNOWN_TOKEN):
                    k += 1
                if k > best[0]:
                    best = (k, i)
    return best if best[0] >= N else (0, None)


def test_the_longest_run_is_found_with_its_sentence():
    sentences = [sentence("w1 w2 w3".split()), sentence("w4 w5 w6 w7 w8 w9 w10".split()),
                 sentence(f"w1 w2 w3 {UNKNOWN_TOKEN} w5 w6".split())]
    index = NgramIndex.build(sentences, VOCAB)
    run = index.longest_run("w0 w0 w5 w6 w7 w8 w9 w0".split())
    assert run == {"start": 2, "length": 5, "sentence": 1,
                   "sentence_words": "w4 w5 w6 w7 w8 w9 w10".split(), "at": 1}
    assert index.longest_run("w1 w2 w3".split()) is None  # shorter than N
    # Neither through UNKNOWN_TOKEN nor from one sentence into the next.
    assert index.longest_run(f"w1 w2 w3 {UNKNOWN_TOKEN} w5".split()) is None
    assert index.longest_run("w8 w9 w10 w1 w2 w3".split()) is None
    assert index.longest_run("w0 zebra w5 w6 w7 w8".split())["length"] == 4


def test_the_index_agrees_with_a_brute_force_search(tmp_path):
    rng = np.random.default_rng(5)
    for trial in range(30):
        sentences = [sentence([f"w{x}" for x in rng.integers(0, 5, rng.integers(1, 12))])
                     for _ in range(20)]
        index = NgramIndex.build(sentences, VOCAB)
        if trial == 0:
            index.save(tmp_path / "index.npz")
            index = NgramIndex.load(tmp_path / "index.npz")
        for _ in range(10):
            words = [f"w{x}" for x in rng.integers(0, 5, 20)]
            length, _ = brute_force(sentences, words)
            run = index.longest_run(words)
            assert (run["length"] if run else 0) == length, (words, run, length)
            if run:
                inner = run["sentence_words"]
                assert words[run["start"]:run["start"] + length] == inner[
                    run["at"]:run["at"] + length]


@pytest.mark.skipif(not (SHARED_CORPORA / "tinyshakespeare-speeches.csv").exists(),
                    reason="the shared corpora are not here")
def test_twenty_words_are_checked_in_under_50_ms_on_the_largest_shared_corpus():
    from rnncore.preprocess import preprocess_csv

    largest = max(SHARED_CORPORA.glob("*.csv"), key=lambda p: p.stat().st_size)
    corpus = preprocess_csv(largest, vocabulary_size=20_000)
    index = NgramIndex.build(corpus.sentences, corpus.vocabulary)
    rng = np.random.default_rng(0)
    common = corpus.vocabulary.index_to_word[3:60]  # frequent words: the most hits to extend
    times = []
    for i in range(40):
        if i % 2:
            copied = corpus.sentences[int(rng.integers(len(corpus.sentences)))][1:-1]
            words = corpus.vocabulary.decode(copied[:20]) + [str(w) for w in rng.choice(
                common, max(0, 20 - len(copied)))]
        else:
            words = [str(w) for w in rng.choice(common, 20)]
        started = time.perf_counter()
        index.longest_run(words[:20])
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.050 and max(times) < 0.2, times


def test_preprocessing_makes_the_index_and_the_api_marks_copies(client, trained_model,
                                                                ready_corpus, data_dir):
    assert list((data_dir / "corpora" / ready_corpus["id"]).glob("ngrams-*.npz"))
    example = " ".join(w for w in ready_corpus["report"]["example_tokens"]
                       if w not in (SENTENCE_START, SENTENCE_END))
    url = f"/api/models/{trained_model['id']}/memorised"
    answer = client.post(url, json={"texts": [f"so {example}", "xylophone quartz"]}).get_json()
    assert answer["checked"] and answer["why_not"] is None and answer["min_words"] == N
    copied, fresh = answer["results"]
    run = copied["run"]
    assert run["length"] >= len(copied["tokens"]) - 1 and run["start"] == 1
    assert run["sentence_number"] >= 1 and run["text_parts"][0] == "so "
    assert "".join(run["text_parts"]) == f"so {example}" and run["sentence_parts"]
    assert run["text_parts"][1].split() == example.split()
    assert fresh["run"] is None
    for bad in ({"texts": []}, {"texts": "x" * 2001}, {"texts": [1]}, {"texts": ["a"] * 11}):
        refused = client.post(url, json=bad)
        assert refused.status_code == 400 and "texts" in refused.get_json()["errors"]


def test_without_an_index_the_answer_says_why(client, trained_model, ready_corpus, data_dir):
    for path in (data_dir / "corpora" / ready_corpus["id"]).glob("ngrams-*.npz"):
        path.unlink()  # as a corpus preprocessed before the index existed
    answer = client.post(f"/api/models/{trained_model['id']}/memorised",
                         json={"texts": ["the cat sees the red ball"]}).get_json()
    assert not answer["checked"] and "preprocess it again" in answer["why_not"]
    assert answer["results"][0]["run"] is None


def test_the_page_marks_copies_without_javascript(client, trained_model):
    page = client.post(f"/models/{trained_model['id']}/generate",
                       data={"prefix": "the cat", "num_samples": "5", "seed": "1"}).get_data(
        as_text=True)
    assert page.count('class="copied"') + page.count('class="hint copied"') == 5
