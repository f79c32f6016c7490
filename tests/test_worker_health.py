"""Worker health in words: the training form and the job pages say when no worker is connected,
and a running job whose worker stopped answering says "Worker lost, will resume" at once. The
look at the workers is the one the GPU check uses (TaskQueue.workers); here it is set by hand.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import TINY_TRAINING
from webapp.extensions import db
from webapp.queue import WorkersLook
from webapp.records import Job, utcnow


@pytest.fixture
def look(app, monkeypatch):
    """Call with (hosts, queues) to set what the workers answered; None for Redis down."""
    queue = app.extensions["rnnlab_queue"]

    def answer(hosts, queues, asked_at=None):
        found = WorkersLook(asked_at or utcnow(), hosts, queues)
        monkeypatch.setattr(queue, "workers", lambda wait=True: found)
    return answer


def new_job(client, corpus_id: str) -> dict:
    response = client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING})
    assert response.status_code == 202
    return response.get_json()


def running(app, job_id: str, host: str, quiet_s: float) -> None:
    with app.app_context():
        job = db.session.get(Job, job_id)
        job.state, job.worker_host = "training", host
        job.heartbeat_at = utcnow() - timedelta(seconds=quiet_s)
        job.message = "Training"
        db.session.commit()


def test_without_a_worker_the_form_and_the_queued_job_say_so(app, client, ready_corpus, look):
    look(set(), set())  # Redis answers; no worker does
    page = client.get(f"/jobs/new?corpus={ready_corpus['id']}").get_data(as_text=True)
    assert "No worker is connected to the cpu queue now" in page
    note = client.get("/api/hyperparameters").get_json()["worker_note"]
    assert note.startswith("No worker is connected to the cpu queue now")
    job = new_job(client, ready_corpus["id"])
    assert job["message"].startswith("Waiting for a worker: none is connected to the cpu queue.")
    assert "none is connected to the cpu queue" in client.get(
        f"/jobs/{job['id']}").get_data(as_text=True)


@pytest.mark.parametrize("hosts, queues", [({"cpu1@host"}, {"cpu"}), (None, None)])
def test_with_a_worker_or_without_redis_nothing_more_is_said(app, client, ready_corpus, look,
                                                             hosts, queues):
    look(hosts, queues)
    page = client.get(f"/jobs/new?corpus={ready_corpus['id']}").get_data(as_text=True)
    assert "No worker is connected" not in page
    assert client.get("/api/hyperparameters").get_json()["worker_note"] is None
    message = new_job(client, ready_corpus["id"])["message"]
    assert message.startswith("Waiting for a worker") and "none is connected" not in message


def test_a_job_whose_worker_vanished_says_it_will_resume(app, client, ready_corpus, look):
    job = new_job(client, ready_corpus["id"])
    running(app, job["id"], "cpu1@host", quiet_s=30)
    look({"cpu2@host"}, {"cpu"})
    answer = client.get(f"/api/jobs/{job['id']}").get_json()
    assert answer["worker_lost"] is True
    assert answer["message"].startswith("Worker lost, will resume: cpu1@host stopped answering")
    assert "Worker lost, will resume" in client.get(f"/jobs/{job['id']}").get_data(as_text=True)


@pytest.mark.parametrize("hosts, quiet_s", [
    ({"cpu1@host"}, 30),  # it answered: busy, not lost
    ({"cpu2@host"}, 2),  # it sent a heartbeat just before the look: not lost yet
    (None, 30),  # Redis down: nothing is known about the workers
])
def test_a_busy_or_just_heard_worker_is_not_called_lost(app, client, ready_corpus, look, hosts,
                                                        quiet_s):
    job = new_job(client, ready_corpus["id"])
    running(app, job["id"], "cpu1@host", quiet_s=quiet_s)
    look(hosts, {"cpu"} if hosts is not None else None)
    answer = client.get(f"/api/jobs/{job['id']}").get_json()
    assert (answer["worker_lost"], answer["message"]) == (False, "Training")
