"""The whole app over HTTP: a real redis-server, a real Celery worker process and gunicorn.

Upload a corpus, preprocess it, train a tiny model to the end while watching its progress, then
generate from it; also: queued work survives a Redis crash, and a job whose worker was killed is
taken over by the next worker and finishes.
"""
from __future__ import annotations

import io
import signal
import time
import urllib.request

import numpy as np
import pytest

from conftest import SHARED_CORPORA, write_corpus
from rnncore.checkpoint import load_checkpoint
from rnncore.generate import LanguageModel

pytestmark = pytest.mark.integration

STATE_ORDER = ["queued", "preprocessing", "training", "finished"]
SMALL = {"vocabulary_size": 500, "hidden_dim": 16, "nepoch": 2, "evaluate_loss_after": 1,
         "engine": "numpy", "dtype": "float32", "seed": 1, "clip_norm": 0.01,
         "cell": "rnn", "dropout": 0.0, "learning_rate": 0.005, "batch_size": 8}


def corpus_file(tmp_path):
    path = SHARED_CORPORA / "reddit-comments-2015-08-sample.csv"
    return path if path.exists() else write_corpus(tmp_path / "generated.csv", rows=600)


def preprocessed(stack, tmp_path, vocabulary_size=500) -> dict:
    corpus = stack.upload(corpus_file(tmp_path))
    stack.post(f"/api/corpora/{corpus['id']}/preprocess", {"vocabulary_size": vocabulary_size},
               expect=202)
    ready = stack.wait_for(f"/api/corpora/{corpus['id']}",
                           lambda c: c["state"] in ("ready", "failed"), timeout=120)
    assert ready["state"] == "ready", ready["error"]
    return ready


def watch(stack, job_id: str, timeout: float = 120) -> list[dict]:
    """Every state the job page would see, polled a few times a second until it ends."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stack.get(f"/api/jobs/{job_id}")
        seen.append(job)
        if job["state"] in ("finished", "failed", "cancelled"):
            return seen
        time.sleep(0.1)
    raise TimeoutError(f"job still {seen[-1]['state']}\n{stack.worker.log()[-3000:]}")


def test_upload_train_and_generate(live_stack, tmp_path):
    stack = live_stack
    corpus = preprocessed(stack, tmp_path)
    report = corpus["report"]
    # The generated fallback corpus has fewer distinct words than 500: then all of them, plus UNKNOWN.
    assert report["vocabulary_size"] == min(500, report["unique_words"] + 1)
    assert report["sentences"] > 100
    job = stack.post("/api/jobs", {"corpus_id": corpus["id"], **SMALL}, expect=202)
    started = time.monotonic()
    seen = watch(stack, job["id"])
    took = time.monotonic() - started
    final = seen[-1]
    assert final["state"] == "finished", final["error"]
    assert took < 60, f"a tiny model took {took:.0f} s"

    states = [STATE_ORDER.index(s["state"]) for s in seen]
    assert states == sorted(states) and "training" in {s["state"] for s in seen}
    training = [s for s in seen if s["state"] in ("training", "finished")]
    for field in ("fraction_done", "tokens_seen", "examples_seen", "epoch"):
        values = [s[field] for s in training]
        assert values == sorted(values), field
    assert final["fraction_done"] == 1.0 and final["epoch"] == SMALL["nepoch"]

    history = stack.get(f"/api/jobs/{job['id']}?since=0")["history"]
    evaluations = [e for e in history if e["event"] == "evaluation"]
    assert [e["epoch"] for e in evaluations] == [0, 1, 2]
    assert all(e["samples"] and e["valid_loss"] > 0 for e in evaluations)

    model_id = final["model_id"]
    answer = stack.post(f"/api/models/{model_id}/generate",
                        {"prefix": "I think", "num_samples": 3, "seed": 4, "max_length": 12},
                        expect=200)
    with urllib.request.urlopen(f"{stack.base_url}/models/{model_id}/download") as response:
        downloaded = response.read()
    path = tmp_path / "model.npz"
    path.write_bytes(downloaded)
    reference = LanguageModel.from_checkpoint(path)
    assert answer == reference.continue_prefix("I think", num_samples=3, seed=4, max_length=12)
    assert all(sample["text"].startswith("i think") for sample in answer["samples"])
    with np.load(io.BytesIO(downloaded), allow_pickle=False) as npz:
        assert npz["U"].shape == (SMALL["hidden_dim"], report["vocabulary_size"])


def test_queued_work_survives_a_redis_crash(live_stack, tmp_path):
    stack = live_stack
    corpus = preprocessed(stack, tmp_path)
    stack.worker.kill(signal.SIGTERM)  # nobody takes the job while Redis goes down
    job = stack.post("/api/jobs", {"corpus_id": corpus["id"], **SMALL, "nepoch": 1}, expect=202)
    time.sleep(1.5)  # the append-only file is flushed every second
    stack.redis.kill(signal.SIGKILL)
    stack.start("redis", "worker")
    final = watch(stack, job["id"])[-1]
    assert final["state"] == "finished", final["error"]


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_job_resumes(live_stack_factory, tmp_path):
    stack = live_stack_factory(RNNLAB_STALE_AFTER_S=10)
    corpus = preprocessed(stack, tmp_path)
    job = stack.post("/api/jobs", {"corpus_id": corpus["id"], **SMALL, "nepoch": 8}, expect=202)
    checkpoint = stack.data_dir / "jobs" / job["id"] / "checkpoint.npz"
    stack.wait_for(f"/api/jobs/{job['id']}", lambda j: j["epoch"] >= 2 and checkpoint.exists(),
                   timeout=120, interval=0.05)
    stack.worker.kill(signal.SIGKILL)
    resumed_from = load_checkpoint(checkpoint).state["examples_seen"]
    stack.start("worker")
    final = watch(stack, job["id"], timeout=180)[-1]
    assert final["state"] == "finished", final["error"]
    assert final["attempts"] == 2 and resumed_from > 0
    history = stack.get(f"/api/jobs/{job['id']}?since=0")["history"]
    assert [e["epoch"] for e in history if e["event"] == "evaluation"] == list(range(9))
