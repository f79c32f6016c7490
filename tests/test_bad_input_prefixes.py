"""Odd prefixes in the playground: empty, 10,000 characters, only unknown words, full of markup,
not text at all. Each gets either the model's own answer (compared with rnncore's LanguageModel
reading the downloaded model file) or a 400 in words, through the API and the page's forms.
"""
from __future__ import annotations

import math

import pytest

from conftest import TINY_TRAINING, app_with_ready_corpus, dispose
from rnncore.generate import LanguageModel

MARKUP = '<script>alert(1)</script><img src=x onerror="alert(2)"></textarea><b>bold</b>'
UNKNOWN = "zyzzyva quixotry blorft"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A tiny model trained by the worker's code; the app, its id and the reference model."""
    from worker.context import WorkerContext
    from worker.training import run_training_job

    root = tmp_path_factory.mktemp("prefixes")
    app, corpus_id, data_dir = app_with_ready_corpus(root, PLAYGROUND_RATE_LIMIT=None)
    client = app.test_client()
    ctx = WorkerContext.open(app.config["SQLALCHEMY_DATABASE_URI"], data_dir)
    job = client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING}).get_json()
    assert run_training_job(ctx, job["id"]) == "finished"
    ctx.close()
    model_id = client.get(f"/api/jobs/{job['id']}").get_json()["model_id"]
    download = client.get(f"/models/{model_id}/download")
    (root / "model.npz").write_bytes(download.data)
    download.close()
    reference = LanguageModel.from_checkpoint(root / "model.npz")
    yield app, model_id, reference
    dispose(app)


def in_bits(answer: dict) -> dict:
    """The reference's answer with the surprisal in bits the API adds (webapp.playground)."""
    for c in answer.get("candidates", []):
        c["bits"] = pytest.approx(-math.log2(c["probability"]))
    for r in answer.get("ranked", []):
        r["bits"] = pytest.approx(-r["log_probability"] / math.log(2))
        r["bits_per_word"] = pytest.approx(-r["log_probability"] / math.log(2)
                                           / len(r["surprisal"]))
    return answer


def ask(app, model_id: str, question: str, body: dict):
    return app.test_client().post(f"/api/models/{model_id}/{question}", json=body)


@pytest.mark.parametrize("prefix", ["", UNKNOWN, MARKUP, "\x00\x01\x7f", "  \n\t ", "ünïcödé ☃"],
                         ids=["empty", "unknown words", "markup", "control bytes", "blank",
                              "unicode"])
def test_prefixes_the_model_can_read_get_its_own_answer(lab, prefix):
    app, model_id, reference = lab
    generated = ask(app, model_id, "generate", {"prefix": prefix, "seed": 7, "num_samples": 2})
    assert generated.status_code == 200
    assert generated.get_json() == reference.continue_prefix(prefix, num_samples=2, seed=7)
    following = ask(app, model_id, "next-words", {"prefix": prefix, "k": 5})
    assert following.status_code == 200
    assert following.get_json() == in_bits(reference.next_words(prefix, k=5))


def test_unknown_words_are_named_as_such(lab):
    app, model_id, _ = lab
    answer = ask(app, model_id, "next-words", {"prefix": UNKNOWN}).get_json()
    assert answer["unknown_words"] == UNKNOWN.split()
    page = app.test_client().post(f"/models/{model_id}/next-words", data={"prefix": UNKNOWN})
    assert page.status_code == 200
    assert "Not in the vocabulary (read as UNKNOWN_TOKEN): zyzzyva, quixotry, blorft" in \
        page.get_data(as_text=True)


def test_an_empty_prefix_starts_a_new_sentence_on_the_page(lab):
    app, model_id, _ = lab
    page = app.test_client().post(f"/models/{model_id}/generate", data={"prefix": ""})
    assert page.status_code == 200
    assert "(empty prefix: a new sentence)" in page.get_data(as_text=True)


@pytest.mark.parametrize("question", ["generate", "next-words"])
def test_a_10000_character_prefix_is_refused_with_the_limit(lab, question):
    app, model_id, _ = lab
    response = ask(app, model_id, question, {"prefix": "word " * 2000})
    assert response.status_code == 400
    assert "longer than 2000 characters" in response.get_json()["error"]
    page = app.test_client().post(f"/models/{model_id}/{question}", data={"prefix": "w" * 10000})
    assert page.status_code == 400
    assert "2000 characters" in page.get_data(as_text=True)


@pytest.mark.parametrize("prefix", [12345, ["i", "think"], {"text": "i think"}, True])
def test_a_prefix_that_is_not_text_is_refused(lab, prefix):
    app, model_id, _ = lab
    response = ask(app, model_id, "generate", {"prefix": prefix})
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"prefix": "must be text"}


@pytest.mark.parametrize("sentences, words", [
    ("", "Type at least one sentence"),
    ("   \n  \n", "Type at least one sentence"),
    (["ok"] * 21, "at most 20 sentences"),
    (["w" * 2001], "of 2000 characters"),
    ([1, 2], "must be a list of texts"),
    ({"a": "b"}, "must be a list of texts"),
])
def test_score_refusals(lab, sentences, words):
    app, model_id, _ = lab
    response = ask(app, model_id, "score", {"sentences": sentences})
    assert response.status_code == 400 and words in response.get_json()["error"]


def test_score_of_markup_and_unknown_words_matches_the_reference(lab):
    app, model_id, reference = lab
    sentences = [MARKUP, UNKNOWN, "the cat sees the red ball today."]
    answer = ask(app, model_id, "score", {"sentences": sentences})
    assert answer.status_code == 200
    assert answer.get_json() == in_bits({"ranked": reference.rank_sentences(sentences)})
