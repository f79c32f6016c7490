"""The cpu and gpu queues through the test client and the worker's code: which queue a job goes to,
the GPU engine offered and accepted only while a GPU worker listens, Redis down said in words,
the worker that took a job on its row and page, and the queues a worker listens on.
(A real GPU worker process taking a JAX job: tests/integration/test_two_hosts.py.)
"""
from __future__ import annotations

import re
import socket

from sqlalchemy import select

from conftest import TINY_TRAINING, dispose, make_test_app
from rnncore.config import ENGINES, JAX_ENGINE
from webapp.queue import queue_for_engine
from webapp.records import Job
from webapp.settings import load_settings
from worker.training import run_training_job


def engine_options(page: str) -> list[str]:
    select_html = re.search(r'<select[^>]*name="engine".*?</select>', page, re.S).group(0)
    return re.findall(r'<option[^>]*value="([^"]+)"', select_html)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jax_jobs_go_to_the_gpu_queue_and_the_rest_to_cpu():
    assert queue_for_engine(JAX_ENGINE) == "gpu"
    assert {queue_for_engine(e) for e in ENGINES} == {"cpu"}


def test_without_a_gpu_worker_the_form_offers_cpu_engines_and_says_why(client, ready_corpus):
    page = client.get(f"/jobs/new?corpus={ready_corpus['id']}").get_data(as_text=True)
    assert engine_options(page) == list(ENGINES)
    assert "offered while a GPU worker is connected; none is now" in page
    fields = client.get("/api/hyperparameters").get_json()["fields"]
    assert next(f for f in fields if f["name"] == "engine")["choices"] == list(ENGINES)


def test_a_jax_job_without_a_gpu_worker_is_refused_and_nothing_waits(client, ready_corpus,
                                                                      sent_tasks, worker_ctx):
    response = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING,
                                              "engine": JAX_ENGINE})
    assert response.status_code == 409
    body = response.get_json()
    assert "no GPU worker is connected" in body["errors"]["engine"]
    assert sent_tasks() == []
    with worker_ctx.session() as session:
        assert session.scalars(select(Job)).all() == []
    page = client.post("/jobs/new", data={"corpus_id": ready_corpus["id"], **TINY_TRAINING,
                                          "engine": JAX_ENGINE})
    assert page.status_code == 400 and "no GPU worker is connected" in page.get_data(as_text=True)


def test_a_cpu_job_is_sent_to_cpu_and_the_job_says_which_worker_took_it(
        app, client, ready_corpus, worker_ctx):
    from conftest import drain_tasks

    job = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    assert job.status_code == 202
    job = job.get_json()
    assert job["queue"] == "cpu" and job["worker_host"] is None and job["queue_position"] == 1
    assert drain_tasks(app, queues=("gpu",)) == []
    assert drain_tasks(app, queues=("cpu",)) == [("worker.tasks.train_model", [job["id"]])]
    assert "not taken yet (cpu queue)" in client.get(job["url"]).get_data(as_text=True)
    assert run_training_job(worker_ctx, job["id"], worker_host="cpu1@rack-7") == "finished"
    done = client.get(f"/api/jobs/{job['id']}").get_json()
    assert (done["state"], done["worker_host"], done["queue"]) == ("finished", "cpu1@rack-7", "cpu")
    assert "cpu1@rack-7, cpu queue" in client.get(job["url"]).get_data(as_text=True)


def test_without_a_worker_name_the_host_name_is_stored(client, ready_corpus, worker_ctx):
    job_id = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"],
                                            **TINY_TRAINING}).get_json()["id"]
    assert run_training_job(worker_ctx, job_id) == "finished"
    assert client.get(f"/api/jobs/{job_id}").get_json()["worker_host"] == socket.gethostname()


def test_with_redis_down_the_form_says_so_and_a_jax_job_is_503(ready_corpus, data_dir):
    # A second web process on the same data folder whose Redis is not there.
    app = make_test_app(data_dir, BROKER_URL=f"redis://127.0.0.1:{closed_port()}/0")
    try:
        client = app.test_client()
        page = client.get(f"/jobs/new?corpus={ready_corpus['id']}").get_data(as_text=True)
        assert "The task queue (Redis) cannot be reached" in page
        assert engine_options(page) == list(ENGINES)
        response = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"],
                                                  **TINY_TRAINING, "engine": JAX_ENGINE})
        assert response.status_code == 503
        assert "Redis" in response.get_json()["error"]
    finally:
        dispose(app)


def test_workers_listen_on_cpu_unless_told_otherwise():
    from worker.celery_app import make_celery

    def queues(env):
        declared = make_celery(load_settings(env)).amqp.queues.values()
        # Bound by its own name only, never to another queue's exchange or key.
        assert all(q.exchange.name == q.routing_key == q.name for q in declared)
        return [q.name for q in declared]

    assert queues({}) == ["cpu", "preprocess"]
    assert queues({"RNNLAB_WORKER_QUEUES": "preprocess"}) == ["preprocess"]
    assert queues({"RNNLAB_WORKER_QUEUES": "gpu"}) == ["gpu"]
    assert queues({"RNNLAB_WORKER_QUEUES": "gpu,cpu"}) == ["gpu", "cpu"]
    assert make_celery(load_settings({})).conf.task_default_queue == "cpu"
