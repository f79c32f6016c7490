"""Nothing trained is lost: cancelled and failed jobs keep a playable model (their best
checkpoint), and any ended job can be continued with more epochs, as a new job that resumes its
checkpoint bit for bit. The worker's code runs in this process (no Redis, no Celery).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from conftest import LONG_TRAINING, TINY_TRAINING, job_failure
from rnncore.checkpoint import load_checkpoint
from webapp.records import Job
from worker.training import run_training_job


def new_job(client, corpus_id, **changes) -> str:
    response = client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING, **changes})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def cancel_while_training(client, worker_ctx, job_id, after_epoch: int = 1) -> dict:
    outcome = []
    runner = threading.Thread(target=lambda: outcome.append(run_training_job(worker_ctx, job_id)))
    runner.start()
    deadline = time.monotonic() + 60
    while (job := client.get(f"/api/jobs/{job_id}").get_json())["epoch"] < after_epoch:
        assert job["state"] in ("queued", "preprocessing", "training"), job_failure(job)
        assert time.monotonic() < deadline and runner.is_alive()
        time.sleep(0.02)
    assert client.post(f"/api/jobs/{job_id}/cancel", json={}).status_code == 200
    runner.join(timeout=60)
    assert outcome == ["cancelled"]
    return client.get(f"/api/jobs/{job_id}?since=0").get_json()


def test_a_cancelled_job_keeps_its_best_checkpoint_as_a_model(client, ready_corpus, worker_ctx,
                                                              data_dir):
    job = cancel_while_training(client, worker_ctx, new_job(client, ready_corpus["id"],
                                                            **LONG_TRAINING), after_epoch=2)
    assert job["state"] == "cancelled" and job["model_id"], job_failure(job)
    assert "What it learned is kept" in job["message"]
    checkpoint = load_checkpoint(data_dir / "jobs" / job["id"] / "checkpoint.npz")
    model_file = load_checkpoint(data_dir / "models" / f"{job['model_id']}.npz")
    assert checkpoint.state["best_params"], "a validation split exists, so best/ is kept"
    for name in ("U", "V", "W"):
        np.testing.assert_array_equal(model_file.params[name],
                                      checkpoint.state["best_params"][name])
    assert not model_file.state.get("optimizer_state") and not model_file.state["best_params"]
    model = client.get(f"/api/models/{job['model_id']}").get_json()
    best = checkpoint.state["best"]
    assert model["best_epoch"] == best["epoch"] and model["job_id"] == job["id"]
    assert model["valid_perplexity"] == pytest.approx(best["valid_perplexity"])
    assert "cancelled in epoch" in model["name"]
    answer = client.post(f"/api/models/{model['id']}/generate", json={"prefix": "the cat",
                                                                       "seed": 1})
    assert answer.status_code == 200 and answer.get_json()["samples"]
    page = client.get(job["url"]).get_data(as_text=True)
    assert f"/models/{job['model_id']}" in page and 'id="continue-form"' in page


def test_without_a_validation_split_the_last_weights_are_kept(client, ready_corpus, worker_ctx,
                                                              data_dir):
    job = cancel_while_training(client, worker_ctx, new_job(
        client, ready_corpus["id"], **{**LONG_TRAINING, "validation_fraction": 0.0}))
    checkpoint = load_checkpoint(data_dir / "jobs" / job["id"] / "checkpoint.npz")
    model_file = load_checkpoint(data_dir / "models" / f"{job['model_id']}.npz")
    assert not checkpoint.state["best_params"]
    np.testing.assert_array_equal(model_file.params["U"], checkpoint.params["U"])
    assert "its last weights" in job["message"]
    assert client.get(f"/api/models/{job['model_id']}").get_json()["best_epoch"] is None


def test_a_failed_job_keeps_the_checkpoint_before_it_diverged(client, ready_corpus, worker_ctx):
    job_id = new_job(client, ready_corpus["id"], learning_rate=1.0, hidden_dim=64, clip_norm=0)
    assert run_training_job(worker_ctx, job_id) == "failed"
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert "learning rate" in job["error"] and "What it learned is kept" in job["error"]
    model = client.get(f"/api/models/{job['model_id']}").get_json()
    assert model["best_epoch"] == 0 and "failed in epoch" in model["name"]


def test_a_job_stopped_before_any_checkpoint_keeps_no_model(client, ready_corpus, worker_ctx):
    job_id = new_job(client, ready_corpus["id"])
    client.post(f"/api/jobs/{job_id}/cancel", json={})  # cancelled while queued
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert job["state"] == "cancelled" and job["model_id"] is None and not job["can_continue"]
    answer = client.post(f"/api/jobs/{job_id}/continue", json={"epochs": 2})
    assert answer.status_code == 409 and "no checkpoint" in answer.get_json()["error"]


def test_continuing_a_finished_job_equals_a_longer_run(client, ready_corpus, worker_ctx,
                                                       data_dir, sent_tasks):
    first = new_job(client, ready_corpus["id"])
    assert run_training_job(worker_ctx, first) == "finished"
    before = client.get(f"/api/jobs/{first}?since=0").get_json()
    assert before["can_continue"]
    sent_tasks()
    answer = client.post(f"/api/jobs/{first}/continue", json={"epochs": 2})
    assert answer.status_code == 202, answer.get_json()
    continued = answer.get_json()
    assert sent_tasks() == [("worker.tasks.train_model", [continued["id"]])]
    assert continued["continued_from"] == first and continued["nepoch"] == 4
    assert continued["train_config"] == {**before["train_config"], "nepoch": 4}
    assert continued["best"] == before["best"] and continued["epoch"] == 2
    # The copied history sits at the same epochs on the longer run's axis.
    assert [(e["event"], e["epoch"]) for e in continued["history"]] == [
        (e["event"], e["epoch"]) for e in before["history"]]
    for old, new in zip(before["history"], continued["history"]):
        assert new["fraction_done"] == pytest.approx(old["fraction_done"] * 2 / 4)
    assert run_training_job(worker_ctx, continued["id"]) == "finished"
    after = client.get(f"/api/jobs/{continued['id']}?since=0").get_json()
    assert "continues an earlier job from epoch 2" in after["message"]
    assert [e["epoch"] for e in after["history"] if e["event"] == "evaluation"] == [0, 1, 2, 3, 4]
    straight = new_job(client, ready_corpus["id"], nepoch=4)
    assert run_training_job(worker_ctx, straight) == "finished"
    straight = client.get(f"/api/jobs/{straight}").get_json()
    a, b = (load_checkpoint(data_dir / "models" / f"{j['model_id']}.npz") for j in (after, straight))
    for name in ("U", "V", "W"):
        np.testing.assert_array_equal(a.params[name], b.params[name])
    # The job it continued is as it was, its model included.
    assert client.get(f"/api/models/{before['model_id']}").status_code == 200
    assert client.get(f"/api/jobs/{first}").get_json()["nepoch"] == 2


def test_a_continued_early_stop_trains_on(client, ready_corpus, worker_ctx, data_dir):
    first = new_job(client, ready_corpus["id"], nepoch=6, patience=1, learning_rate=0.5)
    assert run_training_job(worker_ctx, first) == "finished"
    job = client.get(f"/api/jobs/{first}").get_json()
    continued = client.post(f"/api/jobs/{first}/continue", json={"epochs": 3}).get_json()
    assert continued["nepoch"] == job["epoch"] + 3
    assert run_training_job(worker_ctx, continued["id"]) == "finished"
    after = client.get(f"/api/jobs/{continued['id']}").get_json()
    assert after["epoch"] > job["epoch"]


@pytest.mark.parametrize("epochs", [0, -1, "many", None, 10_000, True])
def test_bad_epochs_are_refused_in_words(client, trained_model, epochs):
    answer = client.post(f"/api/jobs/{trained_model['job_id']}/continue", json={"epochs": epochs})
    assert answer.status_code == 400 and "epochs" in answer.get_json()["errors"]


def test_a_running_job_cannot_be_continued(client, ready_corpus):
    job_id = new_job(client, ready_corpus["id"])
    answer = client.post(f"/api/jobs/{job_id}/continue", json={"epochs": 2})
    assert answer.status_code == 409 and "still running" in answer.get_json()["error"]
    assert client.post("/api/jobs/no-such-job/continue", json={"epochs": 2}).status_code == 404


def test_the_continue_form_starts_a_job_and_goes_to_its_page(client, trained_model, worker_ctx,
                                                             data_dir):
    job_id = trained_model["job_id"]
    answer = client.post(f"/jobs/{job_id}/continue", data={"epochs": "3"})
    assert answer.status_code == 302
    new_id = answer.headers["Location"].rsplit("/", 1)[1]
    with worker_ctx.session() as session:
        new = session.get(Job, new_id)
        assert new.continued_from == job_id and new.train_config["nepoch"] == 5
    page = client.get(f"/jobs/{new_id}").get_data(as_text=True)
    assert "Continues <a" in page and f"/jobs/{job_id}" in page
    bad = client.post(f"/jobs/{job_id}/continue", data={"epochs": "0"})
    assert bad.status_code == 400 and "between 1 and 200" in bad.get_data(as_text=True)


def test_a_continued_job_whose_source_was_deleted_fails_in_words(client, trained_model,
                                                                 worker_ctx):
    job_id = trained_model["job_id"]
    continued = client.post(f"/api/jobs/{job_id}/continue", json={"epochs": 2}).get_json()
    assert client.delete(f"/api/jobs/{job_id}").status_code == 200
    assert run_training_job(worker_ctx, continued["id"]) == "failed"
    error = client.get(f"/api/jobs/{continued['id']}").get_json()["error"]
    assert "was deleted" in error
