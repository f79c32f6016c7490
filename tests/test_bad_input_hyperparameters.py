"""Training settings that are out of range, of the wrong type, missing, or would need more memory
than a run may have: a 400 that names the field and says what would do, through the JSON API and
the training form alike, and never a job row or a message to the workers.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from conftest import TINY_TRAINING, app_with_ready_corpus, dispose, drain_tasks
from rnncore.config import recommended_configs
from webapp.extensions import db
from webapp.hyperparameters import MAX_TRAIN_MEMORY_BYTES
from webapp.records import Job


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One app with one preprocessed corpus for the whole module (nothing here changes them)."""
    app, corpus_id, _ = app_with_ready_corpus(tmp_path_factory.mktemp("hyper"),
                                              JOB_RATE_LIMIT=None)
    drain_tasks(app)
    yield app, corpus_id
    dispose(app)


def nothing_made(app) -> bool:
    with app.app_context():
        jobs = db.session.scalar(select(func.count()).select_from(Job))
    return jobs == 0 and drain_tasks(app) == []


# changes to valid settings, the field that must be named, words of its message
BAD_SETTINGS = [
    ({"nepoch": 0}, "nepoch", "between 1 and 200"),
    ({"nepoch": -3}, "nepoch", "between 1 and 200"),
    ({"hidden_dim": 100_000}, "hidden_dim", "between 2 and 512"),
    ({"learning_rate": 5}, "learning_rate", "between"),
    ({"learning_rate": -0.1}, "learning_rate", "between"),
    ({"validation_fraction": 1.5}, "validation_fraction", "between 0 and 0.5"),
    ({"bptt_truncate": 51}, "bptt_truncate", "between 1 and 50"),
    ({"hidden_dim": "lots"}, "hidden_dim", "whole number"),
    ({"learning_rate": "fast"}, "learning_rate", "must be a number"),
    ({"nepoch": [3]}, "nepoch", "whole number"),
    ({"batch_size": {"size": 8}}, "batch_size", "whole number"),
    ({"hidden_dim": None}, "hidden_dim", "number is required"),
    ({"hidden_dim": ""}, "hidden_dim", "number is required"),
    ({"nepoch": True}, "nepoch", "number is required"),
    ({"batch_size": 8.5}, "batch_size", "whole number"),
    ({"seed": 10 ** 400}, "seed", "between"),
    ({"learning_rate": 10 ** 400}, "learning_rate", "must be a number"),
    ({"engine": ["numpy"]}, "engine", "choose one of"),
    ({"dtype": 32}, "dtype", "choose one of"),
    ({"optimizer": "sgd; drop table jobs"}, "optimizer", "choose one of"),
    ({"surprise": 1}, "surprise", "not a training setting"),
]


@pytest.mark.parametrize("changes, field, words", BAD_SETTINGS,
                         ids=[f"{f}={json.dumps(c)[:30]}" for c, f, _ in BAD_SETTINGS])
def test_bad_settings_are_refused_by_field(lab, changes, field, words):
    app, corpus_id = lab
    body = {"corpus_id": corpus_id, **TINY_TRAINING, **changes}
    response = app.test_client().post("/api/jobs", json=body)
    assert response.status_code == 400
    assert words in response.get_json()["errors"][field]
    assert field in response.get_json()["error"]
    assert nothing_made(app)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("field", ["learning_rate", "nepoch", "hidden_dim"])
def test_numbers_json_should_not_hold_are_refused(lab, field, raw):
    app, corpus_id = lab
    body = json.dumps({"corpus_id": corpus_id, **TINY_TRAINING})[:-1] + f', "{field}": {raw}}}'
    response = app.test_client().post("/api/jobs", data=body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.get_json()["errors"]
    assert nothing_made(app)


@pytest.mark.parametrize("body, content_type, words", [
    (b"", "application/json", "Give the corpus_id"),
    (b"{}", "application/json", "Give the corpus_id"),
    (b'{"corpus_id": 5}', "application/json", "Give the corpus_id"),
    (b"[1, 2]", "application/json", "must be a JSON object"),
    (b'"text"', "application/json", "must be a JSON object"),
    (b"{not json", "application/json", "not valid JSON"),
])
def test_missing_or_malformed_bodies(lab, body, content_type, words):
    app, _ = lab
    response = app.test_client().post("/api/jobs", data=body, content_type=content_type)
    assert response.status_code == 400
    assert words in response.get_json()["error"]
    assert nothing_made(app)


def test_an_unknown_corpus_is_404_in_words(lab):
    app, _ = lab
    response = app.test_client().post("/api/jobs", json={"corpus_id": "no-such-corpus"})
    assert response.status_code == 404 and "no corpus" in response.get_json()["error"]
    assert nothing_made(app)


@pytest.mark.parametrize("vocabulary_size, hidden_dim, batch_size, dtype, optimizer", [
    (20000, 512, 256, "float64", "sgd"),
    (20000, 512, 256, "float64", "adam"),
    (20000, 512, 180, "float64", "rmsprop"),
])
def test_settings_that_would_exhaust_memory_are_refused_with_the_estimate(
        lab, vocabulary_size, hidden_dim, batch_size, dtype, optimizer):
    app, corpus_id = lab
    # The job gets the form's other defaults (the recommended cell among them).
    model_config, _ = recommended_configs(vocabulary_size=vocabulary_size, hidden_dim=hidden_dim,
                                          dtype=dtype)
    need = model_config.memory_estimate_bytes(batch_size, optimizer=optimizer)
    assert need > MAX_TRAIN_MEMORY_BYTES  # the reference says these cannot fit
    response = app.test_client().post("/api/jobs", json={
        "corpus_id": corpus_id, "vocabulary_size": vocabulary_size, "hidden_dim": hidden_dim,
        "batch_size": batch_size, "dtype": dtype, "optimizer": optimizer})
    assert response.status_code == 400
    message = response.get_json()["errors"]["batch_size"]
    assert f"about {need / 1024 ** 3:.1f} GB of memory" in message
    assert "smaller batch, vocabulary or hidden size" in message
    assert nothing_made(app)


@pytest.mark.parametrize("field, value, words", [
    ("nepoch", "0", "between 1 and 200"),
    ("hidden_dim", "many", "whole number"),
    ("learning_rate", "", "number is required"),
    ("batch_size", "1e9", "whole number"),
])
def test_the_training_form_says_the_same(lab, field, value, words):
    app, corpus_id = lab
    form = {"corpus_id": corpus_id, **{k: str(v) for k, v in TINY_TRAINING.items()}, field: value}
    response = app.test_client().post("/jobs/new", data=form)
    assert response.status_code == 400
    assert words in response.get_data(as_text=True)
    assert nothing_made(app)


@pytest.mark.parametrize("query", ["hidden_dim=abc", "nepoch=0", "learning_rate=nan",
                                   "seed=1e999", "engine=cuda", "vocabulary_size="])
def test_the_estimate_refuses_the_same_without_failing(lab, query):
    app, corpus_id = lab
    response = app.test_client().get(f"/api/estimate?corpus_id={corpus_id}&{query}")
    assert response.status_code == 400
    field = query.split("=")[0]
    assert field in response.get_json()["errors"]
