"""Shared fixtures: a fresh web app on a temporary data folder, its client, the tasks it sent, a
small generated corpus, and that corpus preprocessed and trained by the worker's own code run in
this process (no Redis, no Celery: unit tests never need them). ``live_stack`` starts the real
thing instead (redis-server, celery worker, gunicorn; see tests/integration/stack.py).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from webapp import create_app

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO.parent / "shared" / "corpora"

# Tiny settings: a model that trains in about a second with the numpy engine. Clipping bounds
# every step (at most learning_rate * clip_norm * the batch's words, about 0.07 here), so no CPU's
# rounding can make the run diverge.
TINY_TRAINING = {"vocabulary_size": 60, "hidden_dim": 8, "bptt_truncate": 3, "nepoch": 2,
                 "evaluate_loss_after": 1, "batch_size": 16, "engine": "numpy",
                 "dtype": "float64", "learning_rate": 0.05, "validation_fraction": 0.1,
                 "seed": 3, "optimizer": "sgd", "clip_norm": 0.01, "cell": "rnn",
                 "dropout": 0.0}
# A job that keeps training for a minute or more, for tests that act while it runs: small
# clipped steps cannot diverge, so it is still training when the test looks.
LONG_TRAINING = {**TINY_TRAINING, "nepoch": 200, "learning_rate": 0.01}


def job_failure(job: dict) -> str:
    """What to say when a job a test waits on is no longer running."""
    return f"the job is {job.get('state')!r}, not training: {job.get('error') or job.get('message')}"

_SUBJECTS = ["the cat", "a dog", "my friend", "the old man", "every child", "our teacher",
             "the small bird", "a tired farmer", "her brother", "the doctor"]
_VERBS = ["sees", "likes", "finds", "watches", "follows", "remembers", "helps", "calls"]
_OBJECTS = ["the red ball", "a quiet river", "the long road", "his garden", "a green door",
            "the morning train", "an open window", "the last letter", "a warm fire"]
_ENDINGS = ["today", "again", "at night", "in the rain", "without a word", "every morning"]


def write_corpus(path: Path, rows: int = 200, seed: int = 0, column: str = "text") -> Path:
    """A CSV of simple English sentences (two or three per row) with an id column."""
    rng = np.random.default_rng(seed)
    pick = lambda words: words[int(rng.integers(len(words)))]  # noqa: E731
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", column])
        for i in range(rows):
            sentences = [f"{pick(_SUBJECTS).capitalize()} {pick(_VERBS)} {pick(_OBJECTS)} "
                         f"{pick(_ENDINGS)}." for _ in range(int(rng.integers(2, 4)))]
            writer.writerow([i, " ".join(sentences)])
    return path


@pytest.fixture
def data_dir(tmp_path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def make_test_app(data_dir: Path, **config):
    """An app on ``data_dir`` with an in-memory broker; CSRF off unless ``config`` turns it on."""
    settings = {
        "TESTING": True,
        "DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data_dir / 'rnnlab.sqlite3'}",
        "BROKER_URL": "memory://",
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": False,
    }
    settings.update(config)
    return create_app(settings)


def app_with_ready_corpus(root: Path, **config):
    """A fresh app under ``root`` and one generated corpus, preprocessed at vocabulary 60 by the
    worker's code in this process: (app, corpus id, data folder). Dispose of the app after use."""
    from worker.context import WorkerContext
    from worker.corpora import run_preprocessing

    data_dir = root / "data"
    data_dir.mkdir()
    app = make_test_app(data_dir, **config)
    client = app.test_client()
    with open(write_corpus(root / "c.csv"), "rb") as f:
        corpus = client.post("/api/corpora", data={"file": (f, "c.csv")},
                             content_type="multipart/form-data").get_json()
    client.post(f"/api/corpora/{corpus['id']}/preprocess", json={"vocabulary_size": 60})
    ctx = WorkerContext.open(app.config["SQLALCHEMY_DATABASE_URI"], data_dir)
    assert run_preprocessing(ctx, corpus["id"]) == "ready"
    ctx.close()
    return app, corpus["id"], data_dir


def dispose(app) -> None:
    from webapp.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def app(data_dir):
    app = make_test_app(data_dir)
    drain_tasks(app)
    yield app
    dispose(app)


@pytest.fixture
def client(app):
    return app.test_client()


def drain_tasks(app, queues=("preprocess", "cpu", "gpu")) -> list[tuple[str, list]]:
    """The (task name, args) messages waiting in the app's in-memory broker, oldest first
    within each queue (preprocessing's first, then the CPU queue's)."""
    celery = app.extensions["rnnlab_queue"].celery
    sent = []
    with celery.connection_for_read() as conn:
        for name in queues:
            queue = conn.SimpleQueue(name)
            try:
                while True:
                    try:
                        message = queue.get(block=False)
                    except queue.Empty:
                        break
                    payload = message.payload
                    args = payload[0] if isinstance(payload, (list, tuple)) else None
                    sent.append((message.headers["task"], list(args)))
                    message.ack()
            finally:
                queue.close()
    return sent


@pytest.fixture
def sent_tasks(app):
    """Call to get the tasks sent since the last call."""
    return lambda: drain_tasks(app)


@pytest.fixture
def corpus_csv(tmp_path) -> Path:
    return write_corpus(tmp_path / "sentences.csv")


@pytest.fixture
def worker_ctx(app):
    """The worker's context on the app's database and data folder, as a worker process opens it."""
    from worker.context import WorkerContext

    ctx = WorkerContext.open(app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATA_DIR"])
    yield ctx
    ctx.close()


def upload(client, path: Path, name: str | None = None):
    with open(path, "rb") as f:
        data = {"file": (f, path.name)}
        if name:
            data["name"] = name
        return client.post("/api/corpora", data=data, content_type="multipart/form-data")


@pytest.fixture
def ready_corpus(client, corpus_csv, worker_ctx, sent_tasks) -> dict:
    """The generated corpus uploaded, preprocessed at vocabulary 60 by the worker's code."""
    from worker.corpora import run_preprocessing

    corpus = upload(client, corpus_csv).get_json()
    client.post(f"/api/corpora/{corpus['id']}/preprocess", json={"vocabulary_size": 60})
    assert sent_tasks() == [("worker.tasks.preprocess_corpus", [corpus["id"]])]
    assert run_preprocessing(worker_ctx, corpus["id"]) == "ready"
    return client.get(f"/api/corpora/{corpus['id']}").get_json()


@pytest.fixture
def trained_model(client, ready_corpus, worker_ctx, sent_tasks) -> dict:
    """A tiny model trained on ``ready_corpus`` by the worker's code; its API record."""
    from worker.training import run_training_job

    job = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    assert job.status_code == 202, job.get_json()
    job_id = job.get_json()["id"]
    assert sent_tasks() == [("worker.tasks.train_model", [job_id])]
    assert run_training_job(worker_ctx, job_id) == "finished"
    job = client.get(f"/api/jobs/{job_id}").get_json()
    return client.get(f"/api/models/{job['model_id']}").get_json()


@pytest.fixture
def live_stack_factory(tmp_path):
    """Call with environment settings to start Redis, a worker and gunicorn on free ports."""
    from integration.stack import LiveStack

    stacks = []

    def start(**env) -> LiveStack:
        stack = LiveStack(tmp_path / f"stack{len(stacks)}", **env)
        stacks.append(stack)
        stack.start()
        return stack

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture
def live_stack(live_stack_factory):
    """The whole app running: ``base_url``, ``data_dir``, ``redis_url``, ``processes`` (redis,
    worker, web: each with ``kill()``, ``start()``), ``restart(name)`` and a small HTTP client."""
    return live_stack_factory()
