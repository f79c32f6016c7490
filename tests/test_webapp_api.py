"""The JSON API through Flask's test client: each endpoint, its answers and its refusals."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest

from conftest import TINY_TRAINING, dispose, make_test_app, upload
from rnncore.generate import LanguageModel
from webapp.hyperparameters import FIELDS
from webapp.records import Job


def test_lists_start_empty(client):
    assert client.get("/api/corpora").get_json() == {"corpora": []}
    assert client.get("/api/jobs").get_json() == {"jobs": []}
    assert client.get("/api/models").get_json() == {"models": []}


def test_hyperparameters_describe_every_field(client):
    fields = client.get("/api/hyperparameters").get_json()["fields"]
    assert [f["name"] for f in fields] == [f.name for f in FIELDS]
    defaults = {f["name"]: f["default"] for f in fields}
    assert (defaults["vocabulary_size"], defaults["hidden_dim"], defaults["bptt_truncate"],
            defaults["cell"], defaults["learning_rate"]) == (8000, 100, 4, "gru", 0.01)


def test_upload_and_preprocess(client, corpus_csv, sent_tasks):
    response = upload(client, corpus_csv, name="api corpus")
    assert response.status_code == 201
    corpus = response.get_json()
    assert (corpus["name"], corpus["state"], corpus["columns"], corpus["text_column"]) == \
        ("api corpus", "uploaded", ["id", "text"], "text")
    assert [c["id"] for c in client.get("/api/corpora").get_json()["corpora"]] == [corpus["id"]]
    response = client.post(f"/api/corpora/{corpus['id']}/preprocess",
                           json={"column": "text", "vocabulary_size": 300})
    assert response.status_code == 202
    assert (response.get_json()["state"], response.get_json()["vocabulary_size"]) == ("queued", 300)
    assert sent_tasks() == [("worker.tasks.preprocess_corpus", [corpus["id"]])]
    again = client.post(f"/api/corpora/{corpus['id']}/preprocess", json={})
    assert again.status_code == 409 and "already" in again.get_json()["error"]


def test_upload_without_file(client):
    response = client.post("/api/corpora", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"file": "no file was sent"}


def test_upload_of_html_is_refused(client):
    response = client.post("/api/corpora", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"<!doctype html><html></html>"), "a.csv")})
    assert response.status_code == 400
    assert "HTML" in response.get_json()["error"]


def test_preprocess_with_a_wrong_column(client, corpus_csv, sent_tasks):
    corpus = upload(client, corpus_csv).get_json()
    response = client.post(f"/api/corpora/{corpus['id']}/preprocess", json={"column": "body"})
    assert response.status_code == 400
    assert "'body'" in response.get_json()["errors"]["column"]
    assert sent_tasks() == []


@pytest.mark.parametrize("method, url", [
    ("get", "/api/corpora/nope"), ("post", "/api/corpora/nope/preprocess"),
    ("get", "/api/jobs/nope"), ("post", "/api/jobs/nope/cancel"),
    ("get", "/api/models/nope"), ("delete", "/api/models/nope"),
    ("post", "/api/models/nope/generate"), ("post", "/api/models/nope/next-words"),
    ("post", "/api/models/nope/score"), ("get", "/api/estimate?corpus_id=nope"),
])
def test_unknown_ids_are_404_json(client, method, url):
    response = getattr(client, method)(url, json={}) if method != "get" else client.get(url)
    assert response.status_code == 404
    assert "There is no" in response.get_json()["error"]


def test_unknown_route_is_404_json(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and "error" in response.get_json()


def test_sample_corpus_is_queued(client, sent_tasks):
    response = client.post("/api/corpora/sample", json={"vocabulary_size": 1000})
    assert response.status_code == 202
    corpus = response.get_json()
    assert (corpus["source"], corpus["state"], corpus["vocabulary_size"]) == ("sample", "queued", 1000)
    assert sent_tasks() == [("worker.tasks.preprocess_corpus", [corpus["id"]])]


def test_job_needs_a_ready_corpus(client, corpus_csv, sent_tasks):
    corpus = upload(client, corpus_csv).get_json()
    response = client.post("/api/jobs", json={"corpus_id": corpus["id"]})
    assert response.status_code == 409
    missing = client.post("/api/jobs", json={})
    assert missing.status_code == 400 and missing.get_json()["errors"] == {"corpus_id": "is required"}
    assert sent_tasks() == []


@pytest.mark.parametrize("changes, field", [
    ({"vocabulary_size": 10}, "vocabulary_size"),
    ({"hidden_dim": 4096}, "hidden_dim"),
    ({"bptt_truncate": 0}, "bptt_truncate"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"nepoch": 1000}, "nepoch"),
    ({"nepoch": 2.5}, "nepoch"),
    ({"batch_size": 0}, "batch_size"),
    ({"engine": "gpu"}, "engine"),
    ({"dtype": "float16"}, "dtype"),
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"validation_fraction": 0.9}, "validation_fraction"),
    ({"seed": -1}, "seed"),
    ({"seed": True}, "seed"),
    ({"evaluate_loss_after": 5, "nepoch": 2}, "evaluate_loss_after"),
    ({"dropout": 0.95}, "dropout"),
])
def test_out_of_range_settings_are_refused_by_field(client, ready_corpus, sent_tasks, changes,
                                                    field):
    response = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING,
                                              **changes})
    assert response.status_code == 400
    assert field in response.get_json()["errors"]
    assert sent_tasks() == []


def test_memory_hungry_settings_are_refused(client, ready_corpus):
    response = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"],
                                              "vocabulary_size": 20000, "hidden_dim": 512,
                                              "batch_size": 256, "dtype": "float64"})
    assert response.status_code == 400
    assert "GB of memory" in response.get_json()["errors"]["batch_size"]


def test_estimate_grows_with_the_model(client, ready_corpus):
    url = f"/api/estimate?corpus_id={ready_corpus['id']}&engine=numpy&nepoch=2"
    small = client.get(url + "&hidden_dim=16&vocabulary_size=500").get_json()
    large = client.get(url + "&hidden_dim=256&vocabulary_size=8000").get_json()
    assert 0 < small["epoch_seconds"] < large["epoch_seconds"]
    assert small["total_seconds"] > 2 * small["epoch_seconds"]
    bad = client.get(url + "&hidden_dim=0")
    assert bad.status_code == 400 and "hidden_dim" in bad.get_json()["errors"]


def test_job_lifecycle_through_the_api(client, ready_corpus, sent_tasks):
    first = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    second = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    assert first.status_code == second.status_code == 202
    first, second = first.get_json(), second.get_json()
    assert (first["queue_position"], second["queue_position"]) == (1, 2)
    assert first["model_config"]["hidden_dim"] == TINY_TRAINING["hidden_dim"]
    assert [t[1] for t in sent_tasks()] == [[first["id"]], [second["id"]]]
    active = client.get("/api/jobs?active=1").get_json()["jobs"]
    assert {j["id"] for j in active} == {first["id"], second["id"]}
    cancelled = client.post(f"/api/jobs/{first['id']}/cancel", json={}).get_json()
    assert (cancelled["state"], cancelled["cancel_requested"]) == ("cancelled", True)
    assert client.get(f"/api/jobs/{second['id']}").get_json()["queue_position"] == 1
    assert "history" not in client.get(f"/api/jobs/{second['id']}").get_json()
    assert client.get(f"/api/jobs/{second['id']}?since=0").get_json()["history"] == []
    assert client.get(f"/api/jobs/{second['id']}?since=x").status_code == 400


def test_cancel_of_a_running_job_sets_the_flag(client, app, ready_corpus):
    from webapp.extensions import db

    job = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    job_id = job.get_json()["id"]
    with app.app_context():
        db.session.get(Job, job_id).state = "training"
        db.session.commit()
    answer = client.post(f"/api/jobs/{job_id}/cancel", json={}).get_json()
    assert (answer["state"], answer["cancel_requested"]) == ("training", True)


def test_finished_job_has_history_and_model(client, trained_model):
    job = client.get(f"/api/jobs/{trained_model['job_id']}?since=0").get_json()
    assert job["state"] == "finished" and job["model_id"] == trained_model["id"]
    evaluations = [e for e in job["history"] if e["event"] == "evaluation"]
    assert [e["epoch"] for e in evaluations] == list(range(TINY_TRAINING["nepoch"] + 1))
    assert all(e["valid_loss"] is not None and e["samples"] for e in evaluations)
    last = job["history"][-1]["id"]
    assert client.get(f"/api/jobs/{job['id']}?since={last}").get_json()["history"] == []
    assert client.post(f"/api/jobs/{job['id']}/cancel", json={}).status_code == 409


def reference_model(data_dir, model_id) -> LanguageModel:
    return LanguageModel.from_checkpoint(data_dir / "models" / f"{model_id}.npz")


def test_generate_matches_the_reference(client, app, trained_model, data_dir):
    url = f"/api/models/{trained_model['id']}/generate"
    answer = client.post(url, json={"prefix": "The cat blorp", "num_samples": 4, "seed": 11,
                                    "temperature": 0.7, "top_k": 10, "max_length": 8}).get_json()
    expected = reference_model(data_dir, trained_model["id"]).continue_prefix(
        "The cat blorp", num_samples=4, seed=11, temperature=0.7, top_k=10, max_length=8)
    assert answer == expected
    assert answer["unknown_words"] == ["blorp"]
    assert trained_model["id"] in app.extensions["rnnlab_models"]


def test_next_words_and_score_match_the_reference(client, trained_model, data_dir):
    reference = reference_model(data_dir, trained_model["id"])
    url = f"/api/models/{trained_model['id']}"
    answer = client.post(f"{url}/next-words", json={"prefix": "the old", "k": 5}).get_json()
    expected = reference.next_words("the old", k=5)
    for c in expected["candidates"]:  # the API adds each word's surprisal in bits
        c["bits"] = pytest.approx(-math.log2(c["probability"]))
    assert answer == expected
    sentences = ["the cat sees a dog today.", "today dog a sees cat the."]
    answer = client.post(f"{url}/score", json={"sentences": sentences}).get_json()
    expected = reference.rank_sentences(sentences)
    for r in expected:  # and each sentence's total and average, in bits
        r["bits"] = pytest.approx(-r["log_probability"] / math.log(2))
        r["bits_per_word"] = pytest.approx(r["bits"].expected / len(r["surprisal"]))
    assert answer == {"ranked": expected}


@pytest.mark.parametrize("question, body, field", [
    ("generate", {"temperature": 0}, "temperature"),
    ("generate", {"num_samples": 11}, "num_samples"),
    ("generate", {"top_k": 10_000}, "top_k"),
    ("generate", {"seed": "abc"}, "seed"),
    ("generate", {"prefix": 5}, "prefix"),
    ("generate", {"prefix": "x" * 2001}, "prefix"),
    ("next-words", {"k": 0}, "k"),
    ("score", {"sentences": []}, "sentences"),
    ("score", {"sentences": ["ok"] * 21}, "sentences"),
    ("score", {"sentences": [1, 2]}, "sentences"),
    ("score", {"sentences": ["   "]}, "sentences"),
])
def test_playground_refusals(client, trained_model, question, body, field):
    response = client.post(f"/api/models/{trained_model['id']}/{question}", json=body)
    assert response.status_code == 400
    if field:
        assert field in response.get_json()["errors"]
    assert response.get_json()["error"]


def test_not_a_json_object(client, trained_model):
    response = client.post(f"/api/models/{trained_model['id']}/generate", json=[1, 2])
    assert response.status_code == 400 and "JSON object" in response.get_json()["error"]


def test_delete_a_model(client, app, trained_model, data_dir):
    model_id = trained_model["id"]
    client.post(f"/api/models/{model_id}/generate", json={})
    assert model_id in app.extensions["rnnlab_models"]
    assert client.delete(f"/api/models/{model_id}", json={}).get_json() == {"deleted": model_id}
    assert model_id not in app.extensions["rnnlab_models"]
    assert not (data_dir / "models" / f"{model_id}.npz").exists()
    assert client.get("/api/models").get_json() == {"models": []}


def test_unreachable_queue_changes_nothing_and_says_so(tmp_path, corpus_csv):
    """A real Redis client pointed at a closed port: 503 in words, the corpus as it was."""
    data_dir = tmp_path / "down"
    data_dir.mkdir()
    app = make_test_app(data_dir, BROKER_URL="redis://127.0.0.1:9/0")
    try:
        client = app.test_client()
        corpus = upload(client, corpus_csv).get_json()
        response = client.post(f"/api/corpora/{corpus['id']}/preprocess", json={})
        assert response.status_code == 503
        assert "Redis" in response.get_json()["error"]
        after = client.get(f"/api/corpora/{corpus['id']}").get_json()
        assert (after["state"], after["error"]) == ("uploaded", None)
    finally:
        dispose(app)


def test_download_is_a_checkpoint(client, trained_model):
    response = client.get(trained_model["download_url"])
    body = response.data
    response.close()
    with np.load(io.BytesIO(body), allow_pickle=False) as npz:
        # the vocabulary asked for, or every word when the corpus has fewer
        words = trained_model["model_config"]["vocabulary_size"]
        report = client.get(f"/api/corpora/{trained_model['corpus_id']}").get_json()["report"]
        assert words == min(TINY_TRAINING["vocabulary_size"], report["max_vocabulary_size"])
        assert npz["V"].shape == (words, TINY_TRAINING["hidden_dim"])
