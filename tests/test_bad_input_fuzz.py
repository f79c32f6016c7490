"""Randomised input through the Flask test client: uploads (bytes, CSV-like text, file names),
JSON bodies for jobs, preprocessing and the playground, and ids in URLs. Whatever arrives, the
answer is never a server error, and a refused upload leaves nothing behind.

rnncore's own property tests cover the CSV reader and the tokenizer; these cover the path from
the request to them and back.
"""
from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from conftest import TINY_TRAINING, app_with_ready_corpus, dispose, drain_tasks, write_corpus
from webapp.extensions import db
from webapp.hyperparameters import FIELDS
from webapp.records import Corpus

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOUNDARY = "rnnlab-fuzz-b0undary"
CSV_PIECES = st.sampled_from(["text", "id", ",", ";", '"', '""', "\n", "\r\n", "\r", "\ufeff",
                              "hello world.", "Ça va?", "\x00", "\t", "<b>", " ", "9", "é"])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                   st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                        st.integers(), max_size=2))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """An app without rate limits and with one preprocessed corpus."""
    app, corpus_id, data_dir = app_with_ready_corpus(
        tmp_path_factory.mktemp("fuzz"), UPLOAD_RATE_LIMIT=None, JOB_RATE_LIMIT=None,
        PLAYGROUND_RATE_LIMIT=None, MAX_ACTIVE_JOBS_PER_VISITOR=100_000)
    yield app, corpus_id, data_dir
    dispose(app)


def multipart(content: bytes, filename: str, name: str | None) -> bytes:
    head = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
            'Content-Type: text/csv\r\n\r\n' % (BOUNDARY, filename)).encode("utf-8", "replace")
    body = head + content + b"\r\n"
    if name is not None:
        body += ('--%s\r\nContent-Disposition: form-data; name="name"\r\n\r\n%s\r\n'
                 % (BOUNDARY, name)).encode("utf-8", "replace")
    return body + b"--%s--\r\n" % BOUNDARY.encode()


def corpus_state(app, data_dir) -> tuple[int, set[str]]:
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(Corpus))
    return rows, {p.name for p in (data_dir / "corpora").iterdir()}


def check_upload(app, data_dir, content: bytes, filename: str, name: str | None, url: str):
    rows, folders = corpus_state(app, data_dir)
    response = app.test_client().post(url, data=multipart(content, filename, name),
                                      content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code in (201, 302, 400), response.get_data(as_text=True)[:500]
    after_rows, after_folders = corpus_state(app, data_dir)
    if response.status_code == 400:
        assert (after_rows, after_folders) == (rows, folders)
    else:
        new = after_folders - folders
        assert after_rows == rows + 1 and len(new) == 1
        assert [p.name for p in (data_dir / "corpora" / new.pop()).iterdir()] == ["source.csv"]


@FUZZ
@given(content=st.binary(max_size=3000), filename=st.text(max_size=40),
       url=st.sampled_from(["/api/corpora", "/corpora/upload"]))
def test_random_bytes_and_file_names(lab, content, filename, url):
    app, _, data_dir = lab
    check_upload(app, data_dir, content, filename, None, url)


@FUZZ
@given(pieces=st.lists(CSV_PIECES, max_size=60), header=st.sampled_from(["", "text\n", "id,text\n"]),
       name=st.one_of(st.none(), st.text(max_size=200)))
def test_random_csv_like_text(lab, pieces, header, name):
    app, _, data_dir = lab
    check_upload(app, data_dir, (header + "".join(pieces)).encode("utf-8", "surrogatepass"),
                 "corpus.csv", name, "/api/corpora")


@FUZZ
@given(values=st.dictionaries(st.sampled_from([f.name for f in FIELDS] + ["corpus_id", "x"]),
                              VALUES, max_size=6))
def test_random_job_bodies(lab, values):
    app, corpus_id, _ = lab
    body = {**TINY_TRAINING, "corpus_id": corpus_id, **values}
    client = app.test_client()
    response = client.post("/api/jobs", json=body)
    assert response.status_code in (202, 400, 404, 409), response.get_json()
    if response.status_code != 202:
        assert isinstance(response.get_json()["error"], str)
    else:
        assert_within_bounds(client.get(f"/api/jobs/{response.get_json()['id']}").get_json())
    drain_tasks(app)


def assert_within_bounds(job: dict) -> None:
    """Every setting of an accepted job is one the form allows."""
    settings = {**job["model_config"], **job["train_config"]}
    for field in FIELDS:
        value = settings[field.name]
        if field.choices:
            assert value in field.choices, (field.name, value)
        elif field.name in ("clip_norm", "patience") and value is None:
            continue  # the form's 0: never clip
        else:
            assert isinstance(value, field.kind) and field.lo <= value <= field.hi, (field.name, value)


@FUZZ
@given(values=st.dictionaries(st.sampled_from(["column", "vocabulary_size"]), VALUES, max_size=2))
def test_random_preprocess_bodies(lab, own_corpus, values):
    app, _, _ = lab
    client, corpus_id = own_corpus
    response = client.post(f"/api/corpora/{corpus_id}/preprocess", json=values)
    # The owner asks, and the corpus is ready again for each example: every body is judged on
    # its values alone.
    assert response.status_code in (202, 400), response.get_json()
    drain_tasks(app)
    with app.app_context():
        corpus = db.session.get(Corpus, corpus_id)
        if response.status_code == 202:
            assert corpus.state == "queued" and corpus.text_column in corpus.columns
            assert isinstance(corpus.vocabulary_size, int) and 50 <= corpus.vocabulary_size <= 20000
        else:
            assert corpus.state == "ready" and isinstance(response.get_json()["error"], str)
        corpus.state = "ready"
        db.session.commit()


@pytest.fixture(scope="module")
def own_corpus(lab):
    """A client and a ready corpus it uploaded: preprocessing is only for the uploader."""
    app, _, data_dir = lab
    client = app.test_client()
    with open(write_corpus(data_dir / "own.csv", rows=30), "rb") as f:
        corpus = client.post("/api/corpora", data={"file": (f, "own.csv")},
                             content_type="multipart/form-data").get_json()
    with app.app_context():
        db.session.get(Corpus, corpus["id"]).state = "ready"
        db.session.commit()
    return client, corpus["id"]


@FUZZ
@given(question=st.sampled_from(["generate", "next-words", "score"]),
       values=st.dictionaries(st.sampled_from(["prefix", "num_samples", "temperature", "top_k",
                                               "max_length", "seed", "k", "sentences"]),
                              st.one_of(VALUES, st.text(max_size=300)), max_size=5))
def test_random_playground_bodies(lab, trained, question, values):
    app, _, _ = lab
    response = app.test_client().post(f"/api/models/{trained}/{question}", json=values)
    assert response.status_code in (200, 400), response.get_json()


@FUZZ
@given(identifier=st.text(min_size=1, max_size=80))
def test_random_ids_in_urls(lab, identifier):
    app, _, _ = lab
    client = app.test_client()
    quoted = quote(identifier, safe="")
    for url in (f"/api/jobs/{quoted}", f"/api/corpora/{quoted}", f"/jobs/{quoted}",
                f"/models/{quoted}", f"/api/models/{quoted}"):
        # A decoded %2F may make another route match (308 slash merge, 405 for a POST-only
        # route); whatever it is, it is not a server error.
        assert client.get(url).status_code in (200, 308, 404, 405), url


@pytest.fixture(scope="module")
def trained(lab):
    """A tiny model on the module's corpus, trained by the worker's code: its id."""
    from worker.context import WorkerContext
    from worker.training import run_training_job

    app, corpus_id, data_dir = lab
    job = app.test_client().post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING})
    ctx = WorkerContext.open(app.config["SQLALCHEMY_DATABASE_URI"], data_dir)
    assert run_training_job(ctx, job.get_json()["id"]) == "finished"
    ctx.close()
    drain_tasks(app)
    return app.test_client().get(f"/api/jobs/{job.get_json()['id']}").get_json()["model_id"]
