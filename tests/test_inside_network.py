"""Inside the network: LanguageModel.hidden_states against the reference engine's forward
pass for every cell (the LSTM's output s, not its memory), and nearest_words against cosines of
U's columns computed here (a gated cell's whole column, b left out); then the playground's two
questions through the JSON API and the page without JavaScript.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from rnncore.generate import LanguageModel
from rnncore.rnn_numpy import RNNNumpy
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

WORDS = ("the", "a", "cat", "dog", "sat", "ran", "on", "mat", "and", "it", ".", "big", "tree")
VOCAB = Vocabulary(WORDS + (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))


def model_pair(cell: str, seed: int):
    rng = np.random.default_rng(seed)
    reference = RNNNumpy(len(VOCAB), hidden_dim=7, bptt_truncate=3, dtype=np.float64, rng=rng,
                         cell=cell)
    params = reference.get_params()
    if "b" in params:  # a bias that is not zero, so that leaving it out is tested
        params["b"] = rng.normal(size=params["b"].shape)
        reference.set_params(params)
    return reference, LanguageModel.from_params(params, VOCAB), params


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_hidden_states_are_the_forward_pass(cell):
    reference, lm, _ = model_pair(cell, seed=len(cell))
    answer = lm.hidden_states("the big cat sat on a mat .")
    words = "the big cat sat on a mat .".split()
    assert answer["tokens"] == [SENTENCE_START, *words] and answer["unknown_words"] == []
    x = [VOCAB.word_to_index[w] for w in answer["tokens"]]
    _, s = reference.forward_propagation(np.array(x))  # (T + 1, H), s[-1] the zero state
    assert answer["states"].shape == (len(x), 7)
    np.testing.assert_allclose(answer["states"], s[: len(x)], rtol=1e-12, atol=1e-12)


def test_hidden_states_read_unknown_words_as_unknown():
    _, lm, _ = model_pair("rnn", seed=3)
    answer = lm.hidden_states("the zebra sat")
    assert answer["tokens"] == [SENTENCE_START, "the", "zebra", "sat"]
    assert answer["unknown_words"] == ["zebra"]
    same = lm.hidden_states(f"the {UNKNOWN_TOKEN} sat")["states"]
    np.testing.assert_array_equal(answer["states"], same)
    assert lm.hidden_states("")["states"].shape == (1, 7)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_nearest_words_by_cosine_of_the_columns_of_U(cell):
    _, lm, params = model_pair(cell, seed=7 + len(cell))
    U = params["U"]  # (G*H, word_dim): no bias in it
    i = VOCAB.word_to_index["cat"]
    cosines = {w: float(U[:, j] @ U[:, i] / np.linalg.norm(U[:, j]) / np.linalg.norm(U[:, i]))
               for w, j in VOCAB.word_to_index.items() if j != i}
    expected = sorted(cosines, key=lambda w: -cosines[w])[:5]
    answer = lm.nearest_words("cat", k=5)
    assert answer["word"] == "cat"
    assert [n["word"] for n in answer["neighbours"]] == expected
    for n in answer["neighbours"]:
        assert n["cosine"] == pytest.approx(cosines[n["word"]], abs=1e-12)


def test_a_words_own_direction_is_nearest_when_copied():
    U = np.random.default_rng(1).normal(size=(5, len(VOCAB)))
    dog, cat = VOCAB.word_to_index["dog"], VOCAB.word_to_index["cat"]
    U[:, dog] = 3 * U[:, cat]  # the same direction, three times as long
    lm = LanguageModel(U, np.zeros((len(VOCAB), 5)), np.zeros((5, 5)), VOCAB)
    first = lm.nearest_words("cat", k=1)["neighbours"][0]
    assert first["word"] == "dog" and first["cosine"] == pytest.approx(1.0)


@pytest.mark.parametrize("word, k, message", [("zebra", 3, "not in the model's vocabulary"),
                                              ("the cat", 3, "give one word, not 2"),
                                              ("", 3, "give one word, not 0"),
                                              ("cat", 0, "k must be"),
                                              ("cat", len(VOCAB), "k must be")])
def test_nearest_words_refuse_in_words(word, k, message):
    _, lm, _ = model_pair("rnn", seed=5)
    with pytest.raises(ValueError, match=message):
        lm.nearest_words(word, k)


def test_the_api_answers_both_questions(client, trained_model):
    url = f"/api/models/{trained_model['id']}"
    answer = client.post(f"{url}/hidden-states", json={"text": "the cat sees <b>"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["tokens"][0] == "SENTENCE_START" and body["cell"] == "rnn"
    assert body["hidden_dim"] == 8 and len(body["states"]) == len(body["tokens"])
    assert all(len(row) == 8 and all(-1 <= v <= 1 for v in row) for row in body["states"])
    near = client.post(f"{url}/nearest-words", json={"word": "cat", "k": 4}).get_json()
    assert near["word"] == "cat" and len(near["neighbours"]) == 4
    assert [n["cosine"] for n in near["neighbours"]] == sorted(
        (n["cosine"] for n in near["neighbours"]), reverse=True)


@pytest.mark.parametrize("question, body, field", [
    ("hidden-states", {"text": ""}, "text"),
    ("hidden-states", {"text": "the " * 61}, "text"),
    ("hidden-states", {"text": 5}, "text"),
    ("nearest-words", {"word": "zebraword"}, "word"),
    ("nearest-words", {"word": "cat", "k": 0}, "k"),
    ("nearest-words", {"word": "the cat"}, "word"),
])
def test_bad_questions_are_refused_in_words(client, trained_model, question, body, field):
    answer = client.post(f"/api/models/{trained_model['id']}/{question}", json=body)
    assert answer.status_code == 400 and field in answer.get_json()["errors"]


def test_the_page_answers_without_javascript(client, trained_model):
    url = f"/models/{trained_model['id']}"
    page = client.post(f"{url}/hidden-states", data={"text": "the cat <i>sees</i>"}).get_data(
        as_text=True)
    assert 'id="heatmap-table"' in page and "<i>sees" not in page
    assert len(re.findall(r'<td class="unit act-', page)) == 8 * len(
        client.post(f"/api/models/{trained_model['id']}/hidden-states",
                    json={"text": "the cat <i>sees</i>"}).get_json()["tokens"])
    page = client.post(f"{url}/nearest-words", data={"word": "cat", "k": "3"}).get_data(
        as_text=True)
    assert 'id="nearest-table"' in page and page.count('<td class="num">') == 3
