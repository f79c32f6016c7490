"""Importing models: the tutorial's U/V/W .npz with its vocabulary file, and rnnlab's own
downloads, become playable models (owned by the importer, in no job or corpus); files that are
not models are refused in words that name the uploaded file, never a server path.
"""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from rnncore.generate import LanguageModel
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary
from webapp import model_import
from webapp.errors import UserError

WORDS = ["the", "cat", "sat", "on", "mat", ".", SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN]


def tutorial_files(hidden: int = 5, seed: int = 0, words=WORDS):
    """The tutorial's save_model_parameters_theano output and a one-word-per-line vocabulary."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(buffer, U=rng.normal(size=(hidden, len(words))),
             V=rng.normal(size=(len(words), hidden)), W=rng.normal(size=(hidden, hidden)) * 0.3)
    return buffer.getvalue(), ("\n".join(words) + "\n").encode()


def post(client, model: bytes, vocabulary: bytes | None = None, name: str | None = None,
         model_name: str = "trained-model-theano.npz"):
    data = {"model": (io.BytesIO(model), model_name)}
    if vocabulary is not None:
        data["vocabulary"] = (io.BytesIO(vocabulary), "vocabulary.txt")
    if name:
        data["name"] = name
    return client.post("/api/models", data=data, content_type="multipart/form-data")


def test_the_tutorials_model_with_its_vocabulary_plays(client, data_dir):
    model_bytes, vocabulary = tutorial_files()
    answer = post(client, model_bytes, vocabulary, name="The tutorial's model")
    assert answer.status_code == 201, answer.get_json()
    model = answer.get_json()
    assert model["name"] == "The tutorial's model" and model["job_id"] is None
    assert model["model_config"]["hidden_dim"] == 5 and model["model_config"]["cell"] == "rnn"
    with np.load(io.BytesIO(model_bytes)) as arrays:
        reference = LanguageModel(arrays["U"], arrays["V"], arrays["W"], Vocabulary(tuple(WORDS)))
    scored = client.post(f"/api/models/{model['id']}/score",
                         json={"sentences": ["the cat sat on the mat ."]}).get_json()
    expected = reference.score_sentence("the cat sat on the mat .")
    assert scored["ranked"][0]["log_probability"] == pytest.approx(expected["log_probability"])
    assert client.get(model["url"]).status_code == 200
    with client.get(model["download_url"]) as download:
        assert download.status_code == 200
    assert list((data_dir / "imports").iterdir()) == []  # nothing left of the uploads


def test_an_rnnlab_download_comes_back_as_it_was(client, trained_model):
    with client.get(trained_model["download_url"]) as response:
        download = response.data
    answer = post(client, download, model_name="rnnlab-model.npz")
    assert answer.status_code == 201, answer.get_json()
    imported = answer.get_json()
    assert imported["model_config"] == trained_model["model_config"]
    assert imported["valid_perplexity"] == pytest.approx(trained_model["valid_perplexity"])
    assert imported["name"] == "rnnlab-model.npz"
    ask = {"prefix": "the cat", "seed": 3, "max_length": 8}
    original = client.post(f"/api/models/{trained_model['id']}/generate", json=ask).get_json()
    again = client.post(f"/api/models/{imported['id']}/generate", json=ask).get_json()
    assert again == original




def wrong_shapes() -> tuple[bytes, bytes]:
    model_bytes, _ = tutorial_files()
    return model_bytes, ("\n".join(WORDS[:-2] + [UNKNOWN_TOKEN]) + "\n").encode()


def missing_w() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, U=np.zeros((3, 9)), V=np.zeros((9, 3)))
    return buffer.getvalue()


def test_a_file_that_unpacks_too_large_is_refused_before_unpacking(tmp_path, monkeypatch):
    # A member that says it unpacks to more than the limit (the limit made small for the test).
    monkeypatch.setattr(model_import, "MAX_UNPACKED_BYTES", 1000)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("U.npy", b"\0" * 5000)
    with pytest.raises(UserError, match="bomb.npz would unpack to 0.0 GB, more than"):
        model_import._check_zip(path, "bomb.npz")


@pytest.mark.parametrize("files, words", [
    ((b"text,not a model\n", None), "is not an .npz file"),
    ((b"PK\x03\x04 broken", b"x\n"), "is not an .npz file"),
    ((tutorial_files()[0], None), "upload its vocabulary file too"),
    (wrong_shapes(), "the vocabulary has 8 words but the model was trained on 9"),
    ((missing_w(), b"\n".join(w.encode() for w in WORDS)), "lacks the tutorial's U, V and W"),
    ((tutorial_files(words=["a", "b", UNKNOWN_TOKEN])[0], b"a\nb\nUNKNOWN_TOKEN\n"),
     "must contain SENTENCE_START and SENTENCE_END"),
    ((tutorial_files()[0], json.dumps({"words": 3}).encode()), "neither a word list"),
])
def test_files_that_are_not_models_are_refused_in_words(client, data_dir, files, words):
    answer = post(client, *files)
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert words in error, error
    assert str(data_dir) not in error and "/imports/" not in error
    assert client.get("/api/models").get_json() == {"models": []}
    assert not any((data_dir / "models").glob("*.npz")) if (data_dir / "models").exists() else True


def test_the_import_page_imports_and_refuses_with_the_field_marked(client):
    assert client.get("/models/import").status_code == 200
    model_bytes, vocabulary = tutorial_files()
    answer = client.post("/models/import", data={
        "model": (io.BytesIO(model_bytes), "m.npz"),
        "vocabulary": (io.BytesIO(vocabulary), "v.txt")}, content_type="multipart/form-data")
    assert answer.status_code == 302 and "/models/" in answer.headers["Location"]
    refused = client.post("/models/import", data={"model": (io.BytesIO(b"<html>"), "x.npz")},
                          content_type="multipart/form-data")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "x.npz is not an .npz file" in page
    assert 'class="field has-error"' in page
    assert 'id="import-model"' in client.get("/").get_data(as_text=True)
