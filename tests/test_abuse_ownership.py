"""Only the browser that made something may cancel, delete or change it (or the administrator,
with RNNLAB_ADMIN_TOKEN in the X-Admin-Token header); everyone may look. Ids cannot be guessed,
and one browser may keep only a few jobs queued or running at once.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from conftest import TINY_TRAINING, dispose, make_test_app, upload
from webapp.extensions import db
from webapp.records import Corpus, Job, TrainedModel

ADMIN = "an-admin-token-of-32-characters!"
ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_job(client, corpus_id: str, **changes):
    return client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING, **changes})


def job_row(app, job_id: str) -> Job:
    with app.app_context():
        return db.session.get(Job, job_id)


def test_another_browser_cannot_cancel_a_job(app, client, ready_corpus):
    job = new_job(client, ready_corpus["id"]).get_json()
    stranger = app.test_client()
    for response in (stranger.post(f"/api/jobs/{job['id']}/cancel", json={}),
                     stranger.post(f"/jobs/{job['id']}/cancel")):
        assert response.status_code == 403
        assert "Only the browser that created this job can cancel it" in \
            response.get_data(as_text=True)
    assert (job_row(app, job["id"]).state, job_row(app, job["id"]).cancel_requested) == \
        ("queued", False)
    assert stranger.get(f"/api/jobs/{job['id']}").status_code == 200  # looking is fine
    assert client.post(f"/api/jobs/{job['id']}/cancel", json={}).get_json()["state"] == \
        "cancelled"


def test_pages_offer_cancel_and_delete_only_to_the_owner(app, client, ready_corpus, trained_model):
    job = new_job(client, ready_corpus["id"]).get_json()
    stranger = app.test_client()
    pages = {"cancel-form": f"/jobs/{job['id']}", "delete-form": f"/models/{trained_model['id']}"}
    for form_id, url in pages.items():
        assert f'id="{form_id}"' in client.get(url).get_data(as_text=True)
        assert f'id="{form_id}"' not in stranger.get(url).get_data(as_text=True)


def test_another_browser_cannot_delete_a_model(app, client, trained_model, data_dir):
    model_file = data_dir / "models" / f"{trained_model['id']}.npz"
    stranger = app.test_client()
    for response in (stranger.delete(f"/api/models/{trained_model['id']}"),
                     stranger.post(f"/models/{trained_model['id']}/delete")):
        assert response.status_code == 403
        assert "can delete it" in response.get_data(as_text=True)
    assert model_file.exists()
    assert client.delete(f"/api/models/{trained_model['id']}").status_code == 200
    assert not model_file.exists()


def test_another_browser_cannot_preprocess_a_corpus_again(app, client, ready_corpus):
    stranger = app.test_client()
    response = stranger.post(f"/api/corpora/{ready_corpus['id']}/preprocess",
                             json={"vocabulary_size": 50})
    assert response.status_code == 403
    assert client.get(f"/api/corpora/{ready_corpus['id']}").get_json()["state"] == "ready"
    # Training on someone's preprocessed corpus is what a shared lab is for.
    assert new_job(stranger, ready_corpus["id"]).status_code == 202


@pytest.fixture
def admin_app(data_dir):
    app = make_test_app(data_dir, ADMIN_TOKEN=ADMIN)
    yield app
    dispose(app)


def test_the_administrator_may_act_on_anything(admin_app, corpus_csv):
    from worker.context import WorkerContext
    from worker.corpora import run_preprocessing

    owner = admin_app.test_client()
    corpus = upload(owner, corpus_csv).get_json()
    owner.post(f"/api/corpora/{corpus['id']}/preprocess", json={"vocabulary_size": 60})
    ctx = WorkerContext.open(admin_app.config["SQLALCHEMY_DATABASE_URI"],
                             admin_app.config["DATA_DIR"])
    assert run_preprocessing(ctx, corpus["id"]) == "ready"
    ctx.close()
    job = new_job(owner, corpus["id"]).get_json()
    stranger = admin_app.test_client()
    wrong = stranger.post(f"/api/jobs/{job['id']}/cancel", json={},
                          headers={"X-Admin-Token": ADMIN[:-1] + "?"})
    assert wrong.status_code == 403
    right = stranger.post(f"/api/jobs/{job['id']}/cancel", json={},
                          headers={"X-Admin-Token": ADMIN})
    assert right.status_code == 200 and right.get_json()["state"] == "cancelled"


def test_without_a_configured_token_no_header_is_admin(app, client, ready_corpus):
    job = new_job(client, ready_corpus["id"]).get_json()
    for token in ("", "None", "null", "x" * 32):
        response = app.test_client().post(f"/api/jobs/{job['id']}/cancel", json={},
                                          headers={"X-Admin-Token": token})
        assert response.status_code == 403, token


def test_rows_without_an_owner_belong_to_the_administrator_only(app, client, ready_corpus):
    job = new_job(client, ready_corpus["id"]).get_json()
    with app.app_context():
        db.session.get(Job, job["id"]).owner = None
        db.session.commit()
    assert client.post(f"/api/jobs/{job['id']}/cancel", json={}).status_code == 403


def test_rows_keep_a_hash_of_the_browser_never_its_cookie(app, client, ready_corpus):
    job = new_job(client, ready_corpus["id"]).get_json()
    with client.session_transaction() as session:
        visitor = session["visitor"]
    with app.app_context():
        owners = {db.session.get(Job, job["id"]).owner,
                  db.session.get(Corpus, ready_corpus["id"]).owner}
    assert len(owners) == 1 and visitor not in owners and len(owners.pop()) == 64


def test_ids_are_long_random_and_unrelated(app, client, ready_corpus):
    jobs = [new_job(app.test_client(), ready_corpus["id"]).get_json() for _ in range(5)]
    ids = [j["id"] for j in jobs] + [ready_corpus["id"]]
    assert all(ID.match(i) for i in ids) and len(set(ids)) == len(ids)
    # No shared prefix beyond chance: ids are not counters or timestamps.
    assert len({i[:3] for i in ids}) >= 5
    with app.app_context():
        model_ids = db.session.scalars(select(Job.model_id)).all()
    assert all(ID.match(i) for i in model_ids) and not set(model_ids) & set(ids)


def test_a_browser_may_keep_only_a_few_jobs_waiting(app, client, ready_corpus):
    limit = app.config["MAX_ACTIVE_JOBS_PER_VISITOR"]
    jobs = [new_job(client, ready_corpus["id"]) for _ in range(limit)]
    assert [j.status_code for j in jobs] == [202] * limit
    refused = new_job(client, ready_corpus["id"])
    assert refused.status_code == 429
    assert (f"You already have {limit} training jobs queued or running, and one browser may "
            f"have at most {limit} at once") in refused.get_json()["error"]
    page = client.post("/jobs/new", data={"corpus_id": ready_corpus["id"],
                                           **{k: str(v) for k, v in TINY_TRAINING.items()}})
    assert page.status_code == 429 and "at most 3 at once" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Job).count() == limit
    assert new_job(app.test_client(), ready_corpus["id"]).status_code == 202  # others may
    client.post(f"/api/jobs/{jobs[0].get_json()['id']}/cancel", json={})
    assert new_job(client, ready_corpus["id"]).status_code == 202  # a place came free


def test_the_limit_on_waiting_jobs_is_a_setting(data_dir, corpus_csv):
    app = make_test_app(data_dir, MAX_ACTIVE_JOBS_PER_VISITOR=1)
    try:
        client = app.test_client()
        with app.app_context():
            corpus = Corpus(name="c", state="ready", columns=["text"], text_column="text",
                            report={"sentences": 100, "unique_words": 100, "tokens": 1000})
            db.session.add(corpus)
            db.session.commit()
            corpus_id = corpus.id
        assert new_job(client, corpus_id).status_code == 202
        assert new_job(client, corpus_id).status_code == 429
    finally:
        dispose(app)


def test_model_rows_belong_to_the_jobs_browser(app, client, trained_model):
    with app.app_context():
        model = db.session.get(TrainedModel, trained_model["id"])
        job = db.session.get(Job, trained_model["job_id"])
        assert model.owner == job.owner is not None
