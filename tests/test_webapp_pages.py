"""The HTML pages through Flask's test client: every route, its happy path and its bad inputs.

CSRF is off in this module (see test_webapp_csrf.py for it on); the queue is kombu's in-memory
transport, so each test can read exactly which tasks a page sent.
"""
from __future__ import annotations

import io
import re

import numpy as np
from markupsafe import escape
import pytest

from conftest import TINY_TRAINING, make_test_app, dispose, write_corpus
from rnncore.generate import LanguageModel
from rnncore.vocabulary import Vocabulary
from webapp.hyperparameters import FIELDS


def upload_page(client, path, name=None):
    with open(path, "rb") as f:
        data = {"file": (f, path.name)}
        if name is not None:
            data["name"] = name
        return client.post("/corpora/upload", data=data, content_type="multipart/form-data")


def corpus_id_from(response) -> str:
    match = re.search(r"/corpora/([A-Za-z0-9_-]+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def test_home_lists_nothing_at_first(client):
    page = client.get("/").get_data(as_text=True)
    assert "No corpus yet" in page and "No job yet" in page and "No trained model yet" in page


def test_upload_form_and_preview(client, corpus_csv, sent_tasks, data_dir):
    assert 'type="file"' in client.get("/corpora/upload").get_data(as_text=True)
    response = upload_page(client, corpus_csv, name="My sentences")
    assert response.status_code == 302
    corpus_id = corpus_id_from(response)
    page = client.get(f"/corpora/{corpus_id}").get_data(as_text=True)
    assert "Read as plain text" not in page
    first_text = corpus_csv.read_text().splitlines()[1].split(",", 1)[1].strip('"')
    assert "My sentences" in page and first_text[:40] in page
    assert '<option selected value="text">' in page  # the detected column is preselected
    assert sent_tasks() == []  # nothing runs until the column is confirmed
    assert (data_dir / "corpora" / corpus_id / "source.csv").read_bytes() == corpus_csv.read_bytes()


def test_upload_without_file_says_so(client):
    response = client.post("/corpora/upload", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a CSV or text file" in response.get_data(as_text=True)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"\x1f\x8b\x08\x00binary", "gzip"),
    (b"text\n", "header"),
])
def test_upload_of_unusable_file_is_refused_and_removed(client, data_dir, content, words):
    response = client.post("/corpora/upload", data={"file": (io.BytesIO(content), "x.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert words in response.get_data(as_text=True).lower()
    assert not any((data_dir / "corpora").iterdir())


def test_a_text_file_is_stored_as_the_csv_of_its_paragraphs(client, tmp_path, sent_tasks,
                                                           data_dir):
    book = tmp_path / "book.txt"
    book.write_text("A Tale\n\nIt was the best of times,\nit was the worst of times.\n\n"
                    "We had everything before us.\n", encoding="utf-8")
    response = upload_page(client, book)
    assert response.status_code == 302
    corpus_id = corpus_id_from(response)
    page = client.get(f"/corpora/{corpus_id}").get_data(as_text=True)
    assert "It was the best of times, it was the worst of times." in page  # lines joined
    assert "Read as plain text" in page
    assert '<option selected value="text">' in page
    stored = (data_dir / "corpora" / corpus_id / "source.csv").read_text(encoding="utf-8")
    assert stored.splitlines() == ["text", "A Tale",
                                   '"It was the best of times, it was the worst of times."',
                                   "We had everything before us."]
    assert sent_tasks() == []


def test_a_text_file_in_another_encoding_is_refused_with_its_line(client, tmp_path, data_dir):
    notes = tmp_path / "notes.txt"
    notes.write_bytes("First line.\n\nCaf\u00e9 au lait.\n".encode("latin-1"))
    response = upload_page(client, notes)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Line 3 is not UTF-8" in page and "Latin-1" in page
    assert not any((data_dir / "corpora").iterdir())


def test_uploaded_name_never_reaches_a_path_and_is_escaped(client, corpus_csv, data_dir):
    with open(corpus_csv, "rb") as f:
        response = client.post("/corpora/upload", content_type="multipart/form-data",
                               data={"file": (f, "../../escape.csv"),
                                     "name": "<script>alert(1)</script>"})
    corpus_id = corpus_id_from(response)
    assert [p.name for p in (data_dir / "corpora" / corpus_id).iterdir()] == ["source.csv"]
    assert sorted(p.name for p in data_dir.parent.iterdir()) == ["data", "sentences.csv"]
    page = client.get(f"/corpora/{corpus_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page


def test_upload_over_the_limit_is_413_in_words(tmp_path, corpus_csv):
    data_dir = tmp_path / "small"
    data_dir.mkdir()
    app = make_test_app(data_dir, MAX_CONTENT_LENGTH=1024 * 1024)
    try:
        # A hand-made multipart body: the test client would spool a dict this large to a file.
        body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
                + b"text\n" + b"word " * 300_000 + b"\r\n--b--\r\n")
        response = app.test_client().post("/corpora/upload", data=body,
                                          content_type="multipart/form-data; boundary=b")
        assert response.status_code == 413
        assert "larger than the 1 MB limit" in response.get_data(as_text=True)
    finally:
        dispose(app)


def test_preprocess_with_a_wrong_column_then_the_right_one(client, corpus_csv, sent_tasks):
    corpus_id = corpus_id_from(upload_page(client, corpus_csv))
    url = f"/corpora/{corpus_id}/preprocess"
    response = client.post(url, data={"column": "nope", "vocabulary_size": "500"})
    assert response.status_code == 400 and "no column" in response.get_data(as_text=True)
    response = client.post(url, data={"column": "text", "vocabulary_size": "5"})
    assert response.status_code == 400 and "between 50 and 20000" in response.get_data(as_text=True)
    assert sent_tasks() == []
    response = client.post(url, data={"column": "text", "vocabulary_size": "500"})
    assert response.status_code == 302
    assert sent_tasks() == [("worker.tasks.preprocess_corpus", [corpus_id])]
    page = client.get(f"/corpora/{corpus_id}").get_data(as_text=True)
    assert "queued" in page and "preprocessing the corpus" in page


def test_sample_button_queues_the_sample_corpus(client, sent_tasks):
    response = client.post("/corpora/sample", data={})
    assert response.status_code == 302
    corpus_id = corpus_id_from(response)
    assert sent_tasks() == [("worker.tasks.preprocess_corpus", [corpus_id])]
    assert "Sample corpus" in client.get(f"/corpora/{corpus_id}").get_data(as_text=True)


@pytest.mark.parametrize("url", ["/corpora/nope", "/jobs/nope", "/models/nope",
                                 "/models/nope/download"])
def test_unknown_ids_are_404_in_words(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert "There is no" in response.get_data(as_text=True)


def test_ready_corpus_shows_the_tutorial_report(client, ready_corpus):
    page = client.get(f"/corpora/{ready_corpus['id']}").get_data(as_text=True)
    report = ready_corpus["report"]
    assert f"{report['sentences']:,}" in page and f"{report['unique_words']:,}" in page
    assert report["least_frequent_word"] in page
    assert f"{100 * report['unknown_share']:.1f}%" in page
    assert "SENTENCE_START" in page and 'id="length-histogram"' in page


def test_training_form_needs_a_ready_corpus(client):
    assert "No corpus is ready yet" in client.get("/jobs/new").get_data(as_text=True)


def test_training_form_has_the_recommended_defaults_and_an_estimate(client, ready_corpus):
    page = client.get(f"/jobs/new?corpus={ready_corpus['id']}").get_data(as_text=True)
    # The vocabulary starts at the corpus's own (the tutorial's 8000 is more than it has).
    for name, value in [("vocabulary_size", str(ready_corpus["vocabulary_size"])), ("hidden_dim", "100"),
                        ("bptt_truncate", "4"), ("learning_rate", "0.01"), ("dropout", "0.3")]:
        assert re.search(rf'id="{name}"[^>]*value="{value}"', page), name
    for field in FIELDS:
        assert str(escape(field.help)) in page
    assert "words per second" in page and "per epoch" in page


@pytest.mark.parametrize("field, value, words", [
    ("hidden_dim", "100000", "between 2 and 512"),
    ("learning_rate", "-1", "between"),
    ("nepoch", "abc", "whole number"),
    ("engine", "cuda", "Not a valid choice"),
])
def test_training_form_refuses_out_of_range_values(client, ready_corpus, sent_tasks, field,
                                                   value, words):
    data = {"corpus_id": ready_corpus["id"], **TINY_TRAINING, field: value}
    response = client.post("/jobs/new", data=data)
    assert response.status_code == 400
    assert words in response.get_data(as_text=True)
    assert sent_tasks() == []


def test_training_form_refuses_a_run_over_the_time_limit(client, ready_corpus, sent_tasks):
    data = {"corpus_id": ready_corpus["id"], **TINY_TRAINING, "vocabulary_size": 20000,
            "hidden_dim": 512, "nepoch": 200, "batch_size": 1}
    client.application.config["TRAIN_TIME_LIMIT_S"] = 60
    response = client.post("/jobs/new", data=data)
    assert response.status_code == 400
    assert "more than the server" in response.get_data(as_text=True)
    assert sent_tasks() == []


def test_training_form_with_an_unknown_corpus(client, ready_corpus, sent_tasks):
    response = client.post("/jobs/new", data={"corpus_id": "nope", **TINY_TRAINING})
    assert response.status_code == 400 and "There is no corpus" in response.get_data(as_text=True)
    assert sent_tasks() == []


def test_start_see_and_cancel_a_job(client, ready_corpus, sent_tasks):
    response = client.post("/jobs/new", data={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    assert response.status_code == 302
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert sent_tasks() == [("worker.tasks.train_model", [job_id])]
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "queued" in page and "number 1 in the queue" in page
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 302
    assert "cancelled" in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    again = client.post(f"/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.get_data(as_text=True)
    assert client.post("/jobs/nope/cancel").status_code == 404


def test_home_shows_corpus_job_and_model(client, trained_model):
    page = client.get("/").get_data(as_text=True)
    assert trained_model["name"] in page
    assert f'<tr data-job-id="{trained_model["job_id"]}" data-state="finished">' in page
    assert f'/models/{trained_model["id"]}' in page


def test_playground_answers_without_javascript(client, trained_model, data_dir):
    url = f"/models/{trained_model['id']}"
    assert "Continue a sentence" in client.get(url).get_data(as_text=True)
    page = client.post(f"{url}/generate", data={"prefix": "the cat zzzq", "num_samples": "2",
                                                "seed": "5", "max_length": "6"})
    assert page.status_code == 200
    reference = LanguageModel.from_checkpoint(data_dir / "models" / f"{trained_model['id']}.npz")
    expected = reference.continue_prefix("the cat zzzq", num_samples=2, max_length=6, seed=5)
    text = page.get_data(as_text=True)
    for sample in expected["samples"]:
        assert sample["text"] in text
    assert "zzzq" in text and "Not in the vocabulary" in text
    text = client.post(f"{url}/next-words", data={"prefix": "the", "k": "3"}).get_data(as_text=True)
    for candidate in reference.next_words("the", k=3)["candidates"]:
        assert f"{candidate['probability']:.4f}" in text
    sentences = ["the cat sees a dog.", "dog dog dog"]
    text = client.post(f"{url}/score", data={"sentences": "\n".join(sentences)}
                       ).get_data(as_text=True).split('id="result-score"', 1)[1]
    first, second = (r["text"] for r in reference.rank_sentences(sentences))
    assert text.index(first) < text.index(second)


@pytest.mark.parametrize("question, data, words", [
    ("generate", {"temperature": "0"}, "must be between 0.05 and 5"),
    ("generate", {"max_length": "1000"}, "must be between 1 and 100"),
    ("next-words", {"k": "x"}, "must be a number"),
    ("score", {"sentences": ""}, "at least one sentence"),
])
def test_playground_bad_input(client, trained_model, question, data, words):
    response = client.post(f"/models/{trained_model['id']}/{question}", data=data)
    assert response.status_code == 400
    assert words in response.get_data(as_text=True)


def test_download_then_delete_a_model(client, trained_model, data_dir):
    model_id = trained_model["id"]
    response = client.get(f"/models/{model_id}/download")
    body = response.data
    response.close()  # send_file streams from an open file
    assert response.status_code == 200
    assert f"rnnlab-model-{model_id}.npz" in response.headers["Content-Disposition"]
    with np.load(io.BytesIO(body), allow_pickle=False) as npz:
        assert {"U", "V", "W", "vocabulary", "model_config", "train_config"} <= set(npz.files)
        # the vocabulary asked for, or every word of the corpus when it has fewer
        report = client.get(f"/api/corpora/{trained_model['corpus_id']}").get_json()["report"]
        words = min(TINY_TRAINING["vocabulary_size"], report["max_vocabulary_size"])
        assert npz["U"].shape == (TINY_TRAINING["hidden_dim"], words)
        assert len(Vocabulary.from_json(str(npz["vocabulary"]))) == words
        assert trained_model["model_config"]["vocabulary_size"] == words
    assert client.post(f"/models/{model_id}/delete", data={"confirm": "yes"}).status_code == 302
    assert not (data_dir / "models" / f"{model_id}.npz").exists()
    assert client.get(f"/models/{model_id}").status_code == 404


def test_other_corpus_columns_are_offered(client, tmp_path):
    path = write_corpus(tmp_path / "speeches.csv", rows=20, column="speech")
    corpus_id = corpus_id_from(upload_page(client, path))
    page = client.get(f"/corpora/{corpus_id}").get_data(as_text=True)
    assert '<option value="id">' in page and '<option selected value="speech">' in page


def test_pages_forbid_scripts_from_elsewhere(client):
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
