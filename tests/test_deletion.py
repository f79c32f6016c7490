"""Deleting corpora, jobs and models: by the owner or the administrator only, after a page that
says what will go; the rows and the files go together, running work is cancelled first, and no
page is left linking to something deleted.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from conftest import TINY_TRAINING, dispose, make_test_app, upload
from webapp.extensions import db
from webapp.records import Corpus, Job, JobEvent, TrainedModel, utcnow

ADMIN = "an-admin-token-of-32-characters!"


def new_job(client, corpus_id: str, **changes) -> dict:
    response = client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING, **changes})
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def count(app, record, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(record)
        for name, value in where.items():
            query = query.where(getattr(record, name) == value)
        return db.session.scalar(query)


def set_job(app, job_id: str, **values) -> None:
    with app.app_context():
        job = db.session.get(Job, job_id)
        for name, value in values.items():
            setattr(job, name, value)
        db.session.commit()


def test_a_finished_job_goes_with_its_history_and_checkpoint_and_its_model_stays(
        app, client, trained_model, data_dir):
    job_id = trained_model["job_id"]
    assert count(app, JobEvent, job_id=job_id) > 0
    (data_dir / "jobs" / job_id).mkdir(parents=True, exist_ok=True)
    (data_dir / "jobs" / job_id / "checkpoint.npz").write_bytes(b"left by a cancelled run")
    assert client.delete(f"/api/jobs/{job_id}").get_json() == {"deleted": job_id}
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert count(app, JobEvent, job_id=job_id) == 0
    assert not (data_dir / "jobs" / job_id).exists()
    model = client.get(f"/api/models/{trained_model['id']}").get_json()
    assert model["job_id"] is None
    assert (data_dir / "models" / f"{trained_model['id']}.npz").exists()
    assert client.get(f"/models/{trained_model['id']}").status_code == 200


def test_deleting_a_queued_job_cancels_it(app, client, ready_corpus, worker_ctx):
    from worker.training import run_training_job

    job = new_job(client, ready_corpus["id"])
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 200
    assert count(app, Job) == 0
    assert run_training_job(worker_ctx, job["id"]) == "skipped"  # its message, delivered later


def test_deleting_a_running_job_stops_its_worker_first(app, client, ready_corpus, worker_ctx):
    from worker.training import run_training_job

    job = new_job(client, ready_corpus["id"], nepoch=200)  # would train for minutes
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(run_training_job(worker_ctx,
                                                                             job["id"])))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while client.get(f"/api/jobs/{job['id']}").get_json()["state"] != "training":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        response = client.delete(f"/api/jobs/{job['id']}")
    finally:
        worker.join(timeout=60)
    assert response.status_code == 200, response.get_json()
    assert outcome == ["cancelled"]
    assert count(app, Job) == 0 and count(app, JobEvent) == 0


def test_a_worker_that_does_not_stop_in_time_is_said_in_words(app, client, ready_corpus):
    app.config["DELETE_WAIT_S"] = 0.3
    job = new_job(client, ready_corpus["id"])
    set_job(app, job["id"], state="training", heartbeat_at=utcnow())  # alive, but deaf
    for url in (f"/api/jobs/{job['id']}", f"/api/corpora/{ready_corpus['id']}"):
        response = client.delete(url)
        assert response.status_code == 409, url
        assert "being cancelled, but the worker has not stopped yet" in \
            response.get_json()["error"]
    assert client.get(f"/api/jobs/{job['id']}").get_json()["cancel_requested"] is True
    assert (count(app, Job), count(app, Corpus)) == (1, 1)
    # Once its heartbeat is stale no worker holds it, and it goes at once.
    set_job(app, job["id"], heartbeat_at=utcnow().replace(year=2000))
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 200


def test_a_corpus_goes_with_everything_made_from_it(app, client, trained_model, data_dir):
    corpus_id = trained_model["corpus_id"]
    stranger = app.test_client()
    other_job = new_job(stranger, corpus_id)  # someone else trains on it: theirs goes too
    folder = data_dir / "corpora" / corpus_id
    assert (folder / "source.csv").exists() and list(folder.glob("vocab-*.npz"))
    answer = client.delete(f"/api/corpora/{corpus_id}").get_json()
    assert answer["deleted"] == corpus_id
    assert set(answer["jobs"]) == {trained_model["job_id"], other_job["id"]}
    assert answer["models"] == [trained_model["id"]]
    assert not folder.exists()
    assert not (data_dir / "models" / f"{trained_model['id']}.npz").exists()
    assert trained_model["id"] not in app.extensions["rnnlab_models"]
    assert [count(app, r) for r in (Corpus, Job, JobEvent, TrainedModel)] == [0, 0, 0, 0]
    for url in (f"/api/corpora/{corpus_id}", f"/api/jobs/{other_job['id']}",
                f"/api/models/{trained_model['id']}", f"/models/{trained_model['id']}"):
        assert client.get(url).status_code == 404, url


def test_a_corpus_being_preprocessed_waits(app, client, corpus_csv):
    corpus = upload(client, corpus_csv).get_json()
    with app.app_context():
        db.session.get(Corpus, corpus["id"]).state = "preprocessing"
        db.session.commit()
    response = client.delete(f"/api/corpora/{corpus['id']}")
    assert response.status_code == 409 and "preprocessing this corpus" in \
        response.get_json()["error"]
    with app.app_context():
        db.session.get(Corpus, corpus["id"]).state = "uploaded"
        db.session.commit()
    assert client.delete(f"/api/corpora/{corpus['id']}").status_code == 200


def test_only_the_owner_or_the_administrator_may_delete(data_dir, corpus_csv):
    app = make_test_app(data_dir, ADMIN_TOKEN=ADMIN)
    try:
        owner, stranger = app.test_client(), app.test_client()
        corpus = upload(owner, corpus_csv).get_json()
        for url in (f"/api/corpora/{corpus['id']}",):
            response = stranger.delete(url)
            assert response.status_code == 403
            assert "Only the browser that created this corpus can delete it" in \
                response.get_json()["error"]
        for page in (stranger.get(f"/corpora/{corpus['id']}/delete"),
                     stranger.post(f"/corpora/{corpus['id']}/delete", data={"confirm": "yes"})):
            assert page.status_code == 403
        assert count(app, Corpus) == 1
        assert stranger.delete(f"/api/corpora/{corpus['id']}",
                               headers={"X-Admin-Token": ADMIN}).status_code == 200
        assert count(app, Corpus) == 0
    finally:
        dispose(app)


def test_the_corpus_page_asks_first_and_says_what_goes(app, client, trained_model, data_dir):
    corpus_id = trained_model["corpus_id"]
    new_job(app.test_client(), corpus_id)  # another browser's, still queued
    page = client.get(f"/corpora/{corpus_id}").get_data(as_text=True)
    assert f'href="/corpora/{corpus_id}/delete"' in page
    assert 'id="delete-corpus"' not in app.test_client().get(
        f"/corpora/{corpus_id}").get_data(as_text=True)
    ask = client.get(f"/corpora/{corpus_id}/delete").get_data(as_text=True)
    for words in ("2 training jobs", "1 trained model: " + trained_model["name"],
                  "1 job still queued or running will be cancelled first",
                  "1 of these was made by another browser", 'name="confirm" value="yes"'):
        assert words in ask, words
    # A POST without the confirmation page's button only shows that page again.
    unconfirmed = client.post(f"/corpora/{corpus_id}/delete", data={})
    assert unconfirmed.status_code == 200 and "This deletes, for good" in \
        unconfirmed.get_data(as_text=True)
    assert count(app, Corpus) == 1
    done = client.post(f"/corpora/{corpus_id}/delete", data={"confirm": "yes"})
    assert done.status_code == 302 and count(app, Corpus) == 0


def test_the_job_page_asks_first(app, client, ready_corpus):
    job = new_job(client, ready_corpus["id"])
    page = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
    assert f'href="/jobs/{job["id"]}/delete"' in page
    assert 'id="delete-job"' not in app.test_client().get(
        f"/jobs/{job['id']}").get_data(as_text=True)
    ask = client.get(f"/jobs/{job['id']}/delete").get_data(as_text=True)
    assert "It is queued: it will be cancelled first." in ask
    assert client.post(f"/jobs/{job['id']}/delete", data={}).status_code == 200
    assert count(app, Job) == 1
    assert client.post(f"/jobs/{job['id']}/delete", data={"confirm": "yes"}).status_code == 302
    assert count(app, Job) == 0


def test_a_deleted_model_leaves_no_link_to_it(app, client, trained_model, data_dir):
    model_id, job_id = trained_model["id"], trained_model["job_id"]
    job_page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f'href="/models/{model_id}"' in job_page
    ask = client.get(f"/models/{model_id}/delete").get_data(as_text=True)
    assert "Its training job stays" in ask and 'name="confirm" value="yes"' in ask
    assert client.post(f"/models/{model_id}/delete", data={}).status_code == 200
    assert (data_dir / "models" / f"{model_id}.npz").exists()
    assert client.post(f"/models/{model_id}/delete", data={"confirm": "yes"}).status_code == 302
    assert not (data_dir / "models" / f"{model_id}.npz").exists()
    assert client.get(f"/api/jobs/{job_id}").get_json()["model_id"] is None
    job_page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f'href="/models/{model_id}"' not in job_page
    assert '<p id="job-model" hidden>' in job_page


@pytest.mark.parametrize("url", ["/api/corpora/{corpus}", "/api/jobs/{job}", "/api/models/{model}"])
def test_unknown_ids_are_404(client, url):
    response = client.delete(url.format(corpus="x" * 22, job="x" * 22, model="x" * 22))
    assert response.status_code == 404 and "no" in response.get_json()["error"]
