"""Hosts that share only the database and a file:// artifact store, in one process: the web app
on one data folder, workers on others. An upload trains elsewhere and plays here; checkpoints
reach the store as they are written; a job taken over by another host resumes from the store's
checkpoint, not from an older copy of its own. (As separate processes: tests/integration.)
"""
from __future__ import annotations

import shutil
import threading
import time

import pytest

from conftest import LONG_TRAINING, TINY_TRAINING, dispose, job_failure, make_test_app, upload
from rnncore.checkpoint import load_checkpoint
from rnncore.generate import LanguageModel
from worker.context import WorkerContext
from worker.corpora import run_preprocessing
from worker.training import run_training_job


class Hosts:
    def __init__(self, root):
        self.shared = root / "shared"
        self.url = f"file://{self.shared}"
        (root / "web").mkdir()
        self.app = make_test_app(root / "web", ARTIFACT_STORE=self.url)
        self.client = self.app.test_client()
        database = self.app.config["SQLALCHEMY_DATABASE_URI"]
        self.b = WorkerContext.open(database, root / "host-b", artifact_store=self.url)
        # Host C takes over any job at once: its idea of a stale heartbeat is zero seconds.
        self.c = WorkerContext.open(database, root / "host-c", stale_after_s=0.0,
                                    artifact_store=self.url)

    def close(self):
        self.b.close()
        self.c.close()
        dispose(self.app)

    def ready_corpus(self, csv) -> dict:
        corpus = upload(self.client, csv).get_json()
        self.client.post(f"/api/corpora/{corpus['id']}/preprocess", json={"vocabulary_size": 60})
        assert run_preprocessing(self.b, corpus["id"]) == "ready"
        return corpus

    def job(self, corpus_id, **changes) -> str:
        response = self.client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING,
                                                       **changes})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def api(self, path):
        return self.client.get(path).get_json()


@pytest.fixture
def hosts(tmp_path):
    made = Hosts(tmp_path)
    yield made
    made.close()


def test_an_upload_trains_on_another_host_and_plays_on_the_web_host(hosts, corpus_csv):
    corpus = hosts.ready_corpus(corpus_csv)
    shared_corpus = hosts.shared / "corpora" / corpus["id"]
    assert (shared_corpus / "source.csv").read_bytes() == corpus_csv.read_bytes()
    assert len(list(shared_corpus.glob("vocab-60-*.npz"))) == 1  # preprocessed on B, published
    job_id = hosts.job(corpus["id"])
    assert run_training_job(hosts.b, job_id, worker_host="b@host-b") == "finished"
    job = hosts.api(f"/api/jobs/{job_id}")
    shared_model = hosts.shared / "models" / f"{job['model_id']}.npz"
    # The checkpoint stays in the store, so the run can be continued with more epochs.
    assert (hosts.shared / "jobs" / job_id / "checkpoint.npz").exists()
    answer = hosts.client.post(f"/api/models/{job['model_id']}/generate",
                               json={"prefix": "the cat", "seed": 2, "max_length": 8})
    assert answer.status_code == 200
    reference = LanguageModel.from_checkpoint(shared_model)
    assert answer.get_json() == reference.continue_prefix("the cat", seed=2, max_length=8)
    web_copy = hosts.b.paths.root.parent / "web" / "models" / f"{job['model_id']}.npz"
    assert web_copy.read_bytes() == shared_model.read_bytes()  # fetched once into the web host
    with hosts.client.get(f"/models/{job['model_id']}/download") as download:
        assert download.status_code == 200 and download.data == shared_model.read_bytes()
    assert hosts.client.delete(f"/api/models/{job['model_id']}").status_code == 200
    assert not shared_model.exists() and not web_copy.exists()


def test_the_sample_corpus_built_on_a_worker_is_previewed_on_the_web_host(hosts):
    corpus = hosts.client.post("/api/corpora/sample", json={"vocabulary_size": 500}).get_json()
    assert run_preprocessing(hosts.b, corpus["id"]) == "ready"
    assert (hosts.shared / "corpora" / corpus["id"] / "source.csv").exists()
    page = hosts.client.get(f"/corpora/{corpus['id']}").get_data(as_text=True)
    assert "<table" in page and hosts.api(f"/api/corpora/{corpus['id']}")["size_bytes"] > 0


def checkpoint_state(path):
    try:
        return load_checkpoint(path).state
    except (FileNotFoundError, ValueError):  # not there yet
        return None


def wait_until(condition, timeout=60.0, job=None):
    """Poll ``condition`` until it gives a value; ``job()``, when given, must stay running."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if job is not None:
            state = job()
            assert state["state"] in ("queued", "preprocessing", "training"), job_failure(state)
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def test_a_job_taken_over_resumes_from_the_stores_checkpoint(hosts, corpus_csv):
    corpus = hosts.ready_corpus(corpus_csv)
    job_id = hosts.job(corpus["id"], **LONG_TRAINING)
    running = lambda: hosts.api(f"/api/jobs/{job_id}")  # noqa: E731
    shared_checkpoint = hosts.shared / "jobs" / job_id / "checkpoint.npz"
    outcomes = {}
    run_b = threading.Thread(target=lambda: outcomes.update(b=run_training_job(
        hosts.b, job_id, worker_host="b@host-b")))
    run_b.start()
    # Published as they are written: the store follows the epochs of host B's run.
    early = wait_until(lambda: (s := checkpoint_state(shared_checkpoint)) and s["epoch"] >= 1 and s,
                       job=running)
    stale = shared_checkpoint.read_bytes()
    later = wait_until(lambda: (s := checkpoint_state(shared_checkpoint)) and
                       s["epoch"] >= early["epoch"] + 2 and s, job=running)
    # Host C holds an older copy of the checkpoint (as if it had run this job before).
    c_copy = hosts.c.paths.job_checkpoint(job_id)
    c_copy.parent.mkdir(parents=True)
    c_copy.write_bytes(stale)
    run_c = threading.Thread(target=lambda: outcomes.update(c=run_training_job(
        hosts.c, job_id, worker_host="c@host-c")))
    run_c.start()
    run_b.join(timeout=60)
    resumed = wait_until(lambda: [e for e in hosts.api(f"/api/jobs/{job_id}?since=0")["history"]
                                  if e["event"] == "resumed"], job=running)
    assert hosts.client.post(f"/api/jobs/{job_id}/cancel", json={}).status_code == 200
    run_c.join(timeout=60)
    job = hosts.api(f"/api/jobs/{job_id}")
    assert outcomes == {"b": "lost", "c": "cancelled"}
    assert (job["worker_host"], job["attempts"]) == ("c@host-c", 2)
    assert resumed[0]["examples_seen"] >= later["examples_seen"] > early["examples_seen"]
    # C's cancel checkpoint went to the store; B, having lost the job, published nothing after.
    assert shared_checkpoint.read_bytes() == c_copy.read_bytes()
    assert load_checkpoint(c_copy).state["examples_seen"] >= resumed[0]["examples_seen"]


def test_a_worker_on_another_store_fails_the_job_in_words(hosts, corpus_csv, tmp_path):
    corpus = upload(hosts.client, corpus_csv).get_json()
    hosts.client.post(f"/api/corpora/{corpus['id']}/preprocess", json={"vocabulary_size": 60})
    shutil.rmtree(hosts.shared / "corpora")  # as if this worker read another store
    assert run_preprocessing(hosts.b, corpus["id"]) == "failed"
    error = hosts.api(f"/api/corpora/{corpus['id']}")["error"]
    assert "RNNLAB_ARTIFACT_STORE" in error and str(tmp_path) not in error
