"""The worker's code run in this process against a real SQLite database: claims, idempotence,
throttled progress, cancellation, failures in words, resuming after a killed worker, the Celery
configuration and the import rules. The queue itself is exercised in tests/integration.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select, update

from conftest import LONG_TRAINING, REPO, TINY_TRAINING, job_failure
from rnncore.checkpoint import load_checkpoint
from webapp import queue
from webapp.records import Job, JobEvent, TrainedModel, utcnow
from worker.claims import Heartbeat, claim
from worker.corpora import run_preprocessing
from worker.progress import JobProgress
from worker.training import run_training_job


def new_job(client, corpus_id, **changes) -> str:
    response = client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING, **changes})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def count(ctx, record, *where) -> int:
    with ctx.session() as session:
        return session.scalar(select(func.count()).select_from(record).where(*where))


def test_celery_configuration_and_task_names():
    from worker.celery_app import app

    import worker.tasks  # noqa: F401  (registers the tasks)

    assert {queue.PREPROCESS_CORPUS, queue.TRAIN_MODEL} <= set(app.tasks)
    conf = app.conf
    assert (conf.task_serializer, conf.result_serializer, list(conf.accept_content)) == \
        ("json", "json", ["json"])
    assert conf.task_acks_late and conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit > \
        conf.task_soft_time_limit


def modules_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_worker_imports_no_flask_and_only_the_shared_records():
    loaded = modules_after("import worker.tasks")
    assert {m for m in loaded if m.split(".")[0] == "webapp"} == \
        {"webapp", "webapp.records", "webapp.settings", "webapp.artifacts"}
    assert not {m for m in loaded if m.split(".")[0] in ("flask", "flask_sqlalchemy", "flask_wtf")}


def test_web_app_never_imports_the_worker_or_pytensor(tmp_path):
    loaded = modules_after(
        f"from webapp import create_app; create_app({{'DATA_DIR': {str(tmp_path)!r}, "
        f"'SQLALCHEMY_DATABASE_URI': 'sqlite://', 'SECRET_KEY': 'k'}})")
    assert not {m for m in loaded if m.split(".")[0] in ("worker", "pytensor")}


def test_a_second_delivery_changes_nothing(client, trained_model, worker_ctx, data_dir):
    before = (data_dir / "models" / f"{trained_model['id']}.npz").read_bytes()
    assert run_training_job(worker_ctx, trained_model["job_id"]) == "skipped"
    assert run_preprocessing(worker_ctx, trained_model["corpus_id"]) == "skipped"
    assert count(worker_ctx, TrainedModel) == 1
    assert (data_dir / "models" / f"{trained_model['id']}.npz").read_bytes() == before
    assert client.get(f"/api/jobs/{trained_model['job_id']}").get_json()["state"] == "finished"


def test_model_file_matches_its_record(client, trained_model, data_dir):
    checkpoint = load_checkpoint(data_dir / "models" / f"{trained_model['id']}.npz")
    assert checkpoint.model_config.to_dict() == trained_model["model_config"]
    assert checkpoint.train_config.to_dict() == trained_model["train_config"]
    # the vocabulary asked for, or every word when the corpus has fewer
    report = client.get(f"/api/corpora/{trained_model['corpus_id']}").get_json()["report"]
    assert len(checkpoint.vocabulary) == trained_model["model_config"]["vocabulary_size"] == min(
        TINY_TRAINING["vocabulary_size"], report["max_vocabulary_size"])
    assert checkpoint.state["tokens_seen"] == trained_model["tokens_seen"] > 0


class Clock:
    """A clock the test moves by hand, so throttling is checked without sleeping."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def claimed_job(client, ctx, corpus_id) -> tuple[str, str]:
    job_id = new_job(client, corpus_id)
    token = claim(ctx.session_factory, Job, job_id, "training", ("training",))
    assert token is not None
    return job_id, token


def test_progress_reaches_the_database_about_once_a_second(client, ready_corpus, worker_ctx):
    job_id, token = claimed_job(client, worker_ctx, ready_corpus["id"])
    clock = Clock()
    progress = JobProgress(worker_ctx.session_factory, job_id, token, clock=clock)
    reports = [(0.0, "batch", 10), (0.5, "batch", 20), (1.2, "batch", 30),
               (1.3, "evaluation", 31), (1.4, "lr_halved", 31), (1.5, "batch", 40)]
    for when, event, seen in reports:
        clock.now = when
        progress({"event": event, "examples_seen": seen, "train_loss": 4.0, "epoch": 1,
                  "fraction_done": seen / 100, "samples": ["a b c"], "valid_loss": float("nan")})
    with worker_ctx.session() as session:
        events = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(
            JobEvent.id)).all()
        job = session.get(Job, job_id)
    assert [(e.event, e.examples_seen) for e in events] == \
        [("batch", 10), ("batch", 30), ("evaluation", 31), ("lr_halved", 31)]
    assert events[2].samples == ["a b c"] and events[2].valid_loss is None
    assert (job.examples_seen, job.fraction_done) == (31, 0.31)


def test_cancel_flag_is_read_at_most_once_a_second(client, ready_corpus, worker_ctx):
    job_id, token = claimed_job(client, worker_ctx, ready_corpus["id"])
    clock = Clock()
    progress = JobProgress(worker_ctx.session_factory, job_id, token, clock=clock)
    assert progress.should_stop() is False
    assert client.post(f"/api/jobs/{job_id}/cancel", json={}).get_json()["cancel_requested"]
    clock.now = 0.5
    assert progress.should_stop() is False  # not read again yet
    clock.now = 1.1
    assert progress.should_stop() is True


def test_a_lost_claim_stops_the_old_worker(client, ready_corpus, worker_ctx):
    job_id, token = claimed_job(client, worker_ctx, ready_corpus["id"])
    with worker_ctx.session() as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(
            heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert claim(worker_ctx.session_factory, Job, job_id, "training", ("training",)) not in \
        (None, token)
    progress = JobProgress(worker_ctx.session_factory, job_id, token)
    progress({"event": "evaluation", "examples_seen": 1})
    assert progress.claim_lost and progress.should_stop()
    assert count(worker_ctx, JobEvent, JobEvent.job_id == job_id) == 0


def test_heartbeat_stamps_while_the_claim_holds(client, ready_corpus, worker_ctx):
    job_id, token = claimed_job(client, worker_ctx, ready_corpus["id"])
    with worker_ctx.session() as session:
        first = session.get(Job, job_id).heartbeat_at
    with Heartbeat(worker_ctx.session_factory, Job, job_id, token, interval=0.05):
        time.sleep(0.3)
    with worker_ctx.session() as session:
        assert session.get(Job, job_id).heartbeat_at > first


def test_cancel_stops_a_running_job(client, ready_corpus, worker_ctx, data_dir):
    job_id = new_job(client, ready_corpus["id"], **LONG_TRAINING)
    outcome = []
    runner = threading.Thread(target=lambda: outcome.append(run_training_job(worker_ctx, job_id)))
    runner.start()
    deadline = time.monotonic() + 30
    while (job := client.get(f"/api/jobs/{job_id}").get_json())["examples_seen"] == 0:
        assert job["state"] in ("queued", "preprocessing", "training"), job_failure(job)
        assert time.monotonic() < deadline and runner.is_alive()
        time.sleep(0.05)
    assert job["state"] == "training", job_failure(job)
    cancel = client.post(f"/api/jobs/{job_id}/cancel", json={})
    assert cancel.status_code == 200, job_failure(client.get(f"/api/jobs/{job_id}").get_json())
    runner.join(timeout=30)
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert outcome == ["cancelled"] and job["state"] == "cancelled", job_failure(job)
    assert job["epoch"] < LONG_TRAINING["nepoch"]
    assert (data_dir / "jobs" / job_id / "checkpoint.npz").exists()
    # What it learned is kept as a model (tests/test_kept_models.py looks closer).
    assert job["model_id"] and count(worker_ctx, TrainedModel) == 1


def test_divergence_fails_with_advice(client, ready_corpus, worker_ctx):
    job_id = new_job(client, ready_corpus["id"], learning_rate=1.0, hidden_dim=64, clip_norm=0)
    assert run_training_job(worker_ctx, job_id) == "failed"
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert job["state"] == "failed" and "learning rate" in job["error"]


def test_a_corpus_gone_bad_fails_in_words(client, ready_corpus, worker_ctx, data_dir):
    folder = data_dir / "corpora" / ready_corpus["id"]
    (folder / "source.csv").write_bytes(b"\x00\x01binary")
    for preprocessed in folder.glob("vocab-*.npz"):  # so the job has to read the text again
        preprocessed.unlink()
    job_id = new_job(client, ready_corpus["id"], vocabulary_size=55)
    assert run_training_job(worker_ctx, job_id) == "failed"
    error = client.get(f"/api/jobs/{job_id}").get_json()["error"]
    assert "binary" in error.lower() or "NUL" in error


def test_preprocessing_failure_is_recorded(client, corpus_csv, worker_ctx, data_dir):
    from conftest import upload

    corpus = upload(client, corpus_csv).get_json()
    client.post(f"/api/corpora/{corpus['id']}/preprocess", json={})
    (data_dir / "corpora" / corpus["id"] / "source.csv").write_text("text\n")
    assert run_preprocessing(worker_ctx, corpus["id"]) == "failed"
    after = client.get(f"/api/corpora/{corpus['id']}").get_json()
    assert after["state"] == "failed" and after["error"]


KILLED_TRAINING = {**LONG_TRAINING, "nepoch": 150}
RUN_ONE_JOB = """
import sys
from worker.context import WorkerContext
from worker.training import run_training_job
run_training_job(WorkerContext.open(sys.argv[1], sys.argv[2]), sys.argv[3])
"""


@pytest.mark.slow
def test_a_job_whose_worker_was_killed_resumes_bit_for_bit(client, app, ready_corpus,
                                                           worker_ctx, data_dir):
    """Kill a worker process mid-run; the next delivery takes the job over from its checkpoint
    and ends with exactly the weights of an uninterrupted run."""
    killed = new_job(client, ready_corpus["id"], **KILLED_TRAINING)
    checkpoint = data_dir / "jobs" / killed / "checkpoint.npz"
    process = subprocess.Popen([sys.executable, "-c", RUN_ONE_JOB,
                                app.config["SQLALCHEMY_DATABASE_URI"], str(data_dir), killed],
                               cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 60
        while not ((job := client.get(f"/api/jobs/{killed}").get_json())["epoch"] >= 3 and
                   checkpoint.exists()):
            assert job["state"] in ("queued", "preprocessing", "training"), job_failure(job)
            assert time.monotonic() < deadline and process.poll() is None, job_failure(job)
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    # A fresh heartbeat means "still running": the job is not taken over until it goes stale.
    assert run_training_job(worker_ctx, killed) == "skipped"
    with worker_ctx.session() as session, session.begin():
        session.execute(update(Job).where(Job.id == killed).values(
            heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert run_training_job(worker_ctx, killed) == "finished"
    reference = new_job(client, ready_corpus["id"], **KILLED_TRAINING)
    assert run_training_job(worker_ctx, reference) == "finished"
    resumed, straight = (client.get(f"/api/jobs/{j}?since=0").get_json() for j in (killed, reference))
    assert (resumed["attempts"], straight["attempts"]) == (2, 1)
    evaluations = [e["epoch"] for e in resumed["history"] if e["event"] == "evaluation"]
    # The history after the checkpoint was not doubled.
    assert evaluations == list(range(KILLED_TRAINING["nepoch"] + 1))
    a, b = (load_checkpoint(data_dir / "models" / f"{j['model_id']}.npz") for j in (resumed, straight))
    for name in ("U", "V", "W"):
        np.testing.assert_array_equal(a.params[name], b.params[name])


def test_the_sample_corpus_is_built_by_the_worker(client, worker_ctx, sent_tasks, data_dir):
    corpus = client.post("/api/corpora/sample", json={"vocabulary_size": 2000}).get_json()
    assert sent_tasks() == [("worker.tasks.preprocess_corpus", [corpus["id"]])]
    assert run_preprocessing(worker_ctx, corpus["id"]) == "ready"
    ready = client.get(f"/api/corpora/{corpus['id']}").get_json()
    source = data_dir / "corpora" / corpus["id"] / "source.csv"
    assert source.read_text().splitlines()[0] == "text"
    assert ready["size_bytes"] == source.stat().st_size
    assert ready["report"]["vocabulary_size"] == 2000 and ready["report"]["sentences"] > 1000


def test_a_class_layer_job_counts_its_classes_on_the_training_split(client, ready_corpus,
                                                                     worker_ctx, data_dir):
    # Zipf's law only stands in for the counts until the job has read its corpus.
    from rnncore.models import split_corpus
    from rnncore.word_classes import assign_classes, class_count, target_counts, zipf_counts
    from webapp.records import Corpus
    from worker.corpora import ensure_preprocessed

    job_id = new_job(client, ready_corpus["id"], output="classes")
    assert run_training_job(worker_ctx, job_id) == "finished"
    job = client.get(f"/api/jobs/{job_id}").get_json()
    model = load_checkpoint(data_dir / "models" / f"{job['model_id']}.npz")
    with worker_ctx.session() as session:
        corpus = session.get(Corpus, ready_corpus["id"])
    data = ensure_preprocessed(worker_ctx.paths, corpus.id, model.model_config.vocabulary_size,
                               corpus.text_column, text_options=corpus.text_options)
    train, _, _ = split_corpus(data.sentences, model.train_config)
    C = model.model_config.vocabulary_size
    counted = assign_classes(target_counts(train, C), class_count(C))
    assert np.array_equal(model.params["word_class"], counted)
    assert not np.array_equal(counted, assign_classes(zipf_counts(C), class_count(C)))
